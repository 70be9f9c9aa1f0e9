"""Hostile export folders through the real CLI (issue 15 defects 9 and 10): `--out` onto the lake
root, its parent (which holds a sentinel lake too), its data/ and exports/ folders, an in-place
rebuild of a manifest planted in the lake root, a symlinked exports/NAME, and names that climb
out of the exports folder. Each is refused with one line and exit 2; the lake (its export
included) and the sentinel lake keep every file byte for byte, and no `.NAME.*-PID` folder is
left behind.

    .venv/bin/pytest tests/hostile/test_export_hostile.py
"""
from __future__ import annotations

import json
import shutil

import pytest

from harness import Sentinel, run_cli, tree_digest


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A lake with one export made by the CLI from a problems-only file, and a sentinel beside it."""
    base = tmp_path_factory.mktemp("export-hostile")
    root = base / "lake"
    src = base / "problems.jsonl"
    src.write_text("".join(json.dumps({"problem_id": f"p{i}", "problem": f"What is {i} + {i} in round {i}?",
                                       "answer": str(2 * i), "type": "Arithmetic", "level": 1,
                                       "original_split": "test"}) + "\n" for i in range(12)))
    for args in (["ingest", str(src), "--mapping", "math-perturb"], ["curate"], ["export", "v1"]):
        res = run_cli(args, root=root, timeout=120)
        assert res.returncode == 0, res.err + res.out
    sentinel = Sentinel.beside(root)
    return root, sentinel


def lake_files(root):
    return {k: v for k, v in tree_digest(root).items() if k != "writer.lock"}


def refused(args, root, sentinel, before, message):
    res = run_cli(args, root=root, timeout=120)
    lines = [line for line in (res.out + res.err).splitlines() if line.strip()]
    assert res.returncode == 2, res.out + res.err
    assert len(lines) == 1 and message in lines[0], lines
    assert lake_files(root) == before
    sentinel.assert_untouched()
    assert not [p.name for p in (root / "exports").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("out, message", [
    (lambda root: root, "is a lake"),
    (lambda root: root.parent, "contains"),
    (lambda root: root / "data", "inside the lake"),
    (lambda root: root / "exports", "inside the lake"),
    (lambda root: root.parent / "sentinel", "is a lake"),
])
def test_rebuild_out_onto_a_lake_is_refused(world, out, message):
    root, sentinel = world
    before = lake_files(root)
    refused(["export", "--rebuild", str(root / "exports" / "v1" / "manifest.json"), "--out", str(out(root)), "--force"],
            root, sentinel, before, message)


def test_in_place_rebuild_of_a_manifest_planted_in_the_lake_root_is_refused(world):
    root, sentinel = world
    planted = root / "manifest.json"
    shutil.copy(root / "exports" / "v1" / "manifest.json", planted)
    try:
        before = lake_files(root)
        refused(["export", "--rebuild", str(planted), "--force"], root, sentinel, before, "is a lake")
    finally:
        planted.unlink()


def test_a_symlinked_export_name_is_refused_and_leaves_nothing(world):
    root, sentinel = world
    elsewhere = root.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "keep.txt").write_text("mine")
    link = root / "exports" / "linked"
    link.symlink_to(elsewhere, target_is_directory=True)
    try:
        before = lake_files(root)
        for force in ([], ["--force"]):
            refused(["export", "linked", *force], root, sentinel, before, "symbolic link")
        assert link.is_symlink() and (elsewhere / "keep.txt").read_text() == "mine"
    finally:
        link.unlink()


@pytest.mark.parametrize("name", ["..", "../escaped", "../../escaped", "/tmp/stratagem-absolute", "a/b", "v1/.."])
def test_export_names_never_leave_the_exports_folder(world, name):
    root, sentinel = world
    before = lake_files(root)
    refused(["export", name, "--force"], root, sentinel, before, "plain folder name")
    assert not (root.parent / "escaped").exists() and not (root / "escaped").exists()
