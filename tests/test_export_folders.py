"""Export output folders that must never be replaced (issue 15 defects 9 and 10): the lake root,
a parent of it, its data/ folder, a folder that is not an export, a symlinked exports/NAME, and
names that would leave the exports folder. Each is refused with one line before anything is
written; the lake's files stay byte for byte. Real DuckLake in tmp_path.

    .venv/bin/pytest tests/test_export_folders.py
"""
from __future__ import annotations

import pytest

from files import tree_digest
from pipeline.curate import curate
from pipeline.curate.policy import load_policy
from pipeline.export import ExportError, export, rebuild
from test_export_fixtures import fill_lake, make_world
from warehouse import Lake




@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A curated lake with one export (v1); returns (lake root, manifest path)."""
    root = tmp_path_factory.mktemp("folders") / "lake"
    with Lake.open(root) as lake:
        fill_lake(lake, make_world(4))
        curate(lake, load_policy())
        return root, export(lake, "v1").path / "manifest.json"


def _lake_files(root):
    return {k: v for k, v in tree_digest(root).items() if not k.startswith("exports/") and k != "writer.lock"}


@pytest.mark.parametrize("where, message", [
    (lambda root: root, "is a lake"),
    (lambda root: root.parent, "contains the lake"),
    (lambda root: root / "data", "inside the lake"),
    (lambda root: root / "data" / "main", "inside the lake"),
    (lambda root: root / "exports", "inside the lake"),
    (lambda root: root / "notes", "inside the lake"),
])
def test_rebuild_out_into_or_over_a_lake_is_refused(made, where, message):
    root, manifest = made
    before = _lake_files(root)
    with Lake.open(root, read_only=True) as lake, pytest.raises(ExportError, match=message) as err:
        rebuild(lake, manifest, out=where(root), force=True)
    assert "\n" not in str(err.value)
    assert _lake_files(root) == before and (manifest.parent / "data.parquet").is_file()
    assert not (root / "notes").exists()


def test_rebuild_out_over_another_lake_or_a_foreign_folder_is_refused(made, tmp_path):
    root, manifest = made
    other = tmp_path / "projects" / "other-lake"
    with Lake.open(other) as lake:
        fill_lake(lake, make_world(1))
    theirs = tree_digest(other)
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.txt").write_text("years of work")
    with Lake.open(root, read_only=True) as lake:
        for out, message in ((other, "is a lake"), (tmp_path / "projects", "not an export"),
                             (other / "data", "inside the lake"), (foreign, "not an export")):
            with pytest.raises(ExportError, match=message):
                rebuild(lake, manifest, out=out, force=True)
        box = tmp_path / "box"  # an export folder with a lake inside: an in-place rebuild would delete it
        box.mkdir()
        (box / "manifest.json").write_bytes(manifest.read_bytes())
        inner = Lake.open(box / "inner")
        inner.close()
        with pytest.raises(ExportError, match="contains a lake"):
            rebuild(lake, box / "manifest.json", force=True)
        assert (box / "inner" / "catalog.sqlite").is_file()
        copy = rebuild(lake, manifest, out=tmp_path / "copy", force=True)  # a new folder is fine
        assert copy.mismatches == [] and (tmp_path / "copy" / "manifest.json").is_file()
        again = rebuild(lake, manifest, out=tmp_path / "copy", force=True)  # ... and so is replacing an export
        assert again.mismatches == []
    assert tree_digest(other) == theirs and (foreign / "chapter1.txt").read_text() == "years of work"


def test_symlinked_export_target_is_refused_and_leaves_nothing(made, tmp_path):
    root, _ = made
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    link = root / "exports" / "linked"
    link.symlink_to(elsewhere, target_is_directory=True)
    try:
        with Lake.open(root, read_only=True) as lake:
            for force in (False, True):
                with pytest.raises(ExportError, match="symbolic link"):
                    export(lake, "linked", force=force)
        assert link.is_symlink() and (elsewhere / "keep.txt").read_text() == "mine"
        assert sorted(p.name for p in (root / "exports").iterdir()) == ["linked", "v1"]  # no .linked.old-PID
    finally:
        link.unlink()


def test_a_symlinked_exports_folder_into_the_lake_is_caught(tmp_path):
    root = tmp_path / "lake"
    with Lake.open(root) as lake:
        fill_lake(lake, make_world(2))
        curate(lake, load_policy())
    (root / "exports").symlink_to(root / "data", target_is_directory=True)
    before = _lake_files(root)
    with Lake.open(root, read_only=True) as lake, pytest.raises(ExportError, match="inside the lake"):
        export(lake, "v1", force=True)
    assert _lake_files(root) == before


@pytest.mark.parametrize("name", ["..", "../v1", "a/b", "/tmp/x", ".", ".hidden", "v1/..", "x" * 200])
def test_export_names_stay_inside_the_exports_folder(made, name):
    root, _ = made
    with Lake.open(root, read_only=True) as lake, pytest.raises(ExportError, match="plain folder name"):
        export(lake, name, force=True)
    assert sorted(p.name for p in (root / "exports").iterdir()) == ["v1"]
