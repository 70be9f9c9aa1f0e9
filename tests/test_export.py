"""Export folder: exact layout and types, names, --force, empty sets, prompt-length filters,
byte-for-byte rebuild from the recorded snapshot after new data, and --check."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.curate import curate
from pipeline.export import ExportError, check, export, rebuild
from pipeline.curate.policy import load_policy, policy_from_dict
from schemas.export import NATIVE_SCHEMA, PROMPT_SUFFIX
from test_export_fixtures import fill_lake, make_family, make_tokenizer, make_world, merge
from warehouse import Lake

COLUMNS = ["id", "split", "problem_id", "family_seed_id", "family", "perturbation", "source", "question", "answer",
           "prompt", "trajectory_id", "teacher", "teacher_completion", "strategy", "strategy_problem_type",
           "strategy_approach", "strategy_steps", "strategy_plan"]
PLAN = pa.list_(pa.struct([("label", pa.string()), ("start", pa.int64()), ("end", pa.int64())]))


@pytest.fixture
def curated_lake(lake_root):
    """30 families x (original, numbers, distractor); one problem without spans (empty plan)."""
    with Lake.open(lake_root) as lake:
        fill_lake(lake, merge(make_world(30), make_family(99, perturbations=(), with_spans=False)))
        curate(lake, policy_from_dict({"filters": {"min_strategy_spans": 0}}))
    return lake_root


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def files_of(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_export_folder_layout_and_types(curated_lake):
    with Lake.open(curated_lake, read_only=True) as lake:
        result = export(lake, "v1")
    folder = result.path
    assert folder == curated_lake / "exports" / "v1"
    manifest = json.loads((folder / "manifest.json").read_text())
    splits = list(manifest["counts"])
    assert splits[:1] == ["train"] and "test_original" in splits and "test_numbers" in splits
    adapters = ["rl.openrlhf.jsonl", "rl.trl.jsonl", "rl.verl.parquet", "sft.trl.jsonl"]
    expected = {"README.md", "data.parquet", "manifest.json"} | {f"{s}/{a}" for s in splits for a in adapters}
    assert expected <= set(files_of(folder)) and all(f.startswith("plots/") and f.endswith(".png")
                                                    for f in set(files_of(folder)) - expected)
    assert set(manifest["files"]) == set(files_of(folder)) - {"manifest.json"}
    for key in ("schema_version", "export_name", "created_at", "snapshot_id", "taxonomy", "run_ids", "policy",
                "counts", "files", "prompt_template", "max_prompt_chars"):
        assert key in manifest
    assert manifest["taxonomy"]["labels"][0] == "planning" and manifest["run_ids"]["curate"]
    assert policy_from_dict(manifest["policy"]).filters.min_strategy_spans == 0  # reusable as a policy

    data = pq.read_table(folder / "data.parquet")
    assert data.column_names == COLUMNS
    assert data.schema == NATIVE_SCHEMA
    assert data.schema.field("strategy_plan").type == PLAN
    assert data.num_rows == sum(manifest["counts"].values())
    rows = data.to_pylist()
    empty = [r for r in rows if not r["strategy_plan"]]
    assert len(empty) == 1  # the problem without spans, still typed list<struct>
    r = rows[0]
    assert r["id"] == r["trajectory_id"]
    assert r["prompt"] == [{"role": "user", "content": r["question"] + PROMPT_SUFFIX}]
    assert r["strategy"] == ("Problem type: " + r["strategy_problem_type"] + "\nApproach: " + r["strategy_approach"]
                             + "\nSteps:" + "".join(f"\n{i}. {s}" for i, s in enumerate(r["strategy_steps"], 1)))
    assert r["strategy_steps"] and r["strategy_problem_type"]
    assert r["teacher_completion"][r["strategy_plan"][0]["start"]:r["strategy_plan"][0]["end"]]

    for split in splits:
        n = manifest["counts"][split]
        sft = jsonl(folder / split / "sft.trl.jsonl")
        assert len(sft) == n and list(sft[0]) == ["prompt", "completion", "id"]
        assert sft[0]["completion"][0]["role"] == "assistant"
        rl = jsonl(folder / split / "rl.trl.jsonl")
        assert list(rl[0]) == ["prompt", "solution", "teacher_completion", "strategy", "strategy_plan", "id"]
        assert all("completion" not in row for row in rl)
        orl = jsonl(folder / split / "rl.openrlhf.jsonl")
        assert list(orl[0]) == ["input", "label"] and isinstance(orl[0]["label"], str)
        verl = pq.read_table(folder / split / "rl.verl.parquet")
        assert verl.num_rows == n and verl["extra_info"].type.field("strategy_plan").type == PLAN
    card = (folder / "README.md").read_text()
    for needle in ("Sources and licences", "Apache-2.0", "Strategy labels", "Spans per trajectory", "Agreement",
                   "| rules | consensus |", "plots/labels.png"):
        assert needle in card


def test_export_rows_are_in_split_then_id_order(curated_lake):
    with Lake.open(curated_lake, read_only=True) as lake:
        folder = export(lake, "v1").path
    data = pq.read_table(folder / "data.parquet")
    keys = list(zip(data["split"].to_pylist(), data["id"].to_pylist()))
    order = {"train": 0, "val": 1, "test_original": 2}
    assert keys == sorted(keys, key=lambda k: (order.get(k[0], 3), k[0], k[1]))


@pytest.mark.parametrize("name", ["../x", "/tmp/abs", "a/b", "..", ".hidden", "a b"])
def test_export_names_that_are_paths_are_refused(curated_lake, name):
    result = run_cli("export", name, "--root", curated_lake)
    assert result.exit_code == 2 and "plain folder name" in result.output
    assert not (curated_lake / "exports").exists() and not (curated_lake.parent / "x").exists()


def test_folders_left_by_killed_exports_are_swept(curated_lake):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    exports = curated_lake / "exports"
    left = [exports / f".v1.tmp-{dead.pid}", exports / f".v1.old-{dead.pid}", exports / ".v1.tmp-1"]  # pid 1 lives
    for folder in left:
        folder.mkdir(parents=True)
        (folder / "data.parquet").write_bytes(b"half written")
    with Lake.open(curated_lake, read_only=True) as lake:
        export(lake, "v1")
    assert sorted(p.name for p in exports.iterdir()) == [".v1.tmp-1", "v1"]


def test_existing_export_needs_force(curated_lake):
    assert run_cli("export", "v1", "--root", curated_lake).exit_code == 0
    marker = curated_lake / "exports" / "v1" / "README.md"
    marker.write_text("edited")
    result = run_cli("export", "v1", "--root", curated_lake)
    assert result.exit_code == 2 and "--force" in result.output and marker.read_text() == "edited"
    result = run_cli("export", "v1", "--root", curated_lake, "--force")
    assert result.exit_code == 0, result.output
    assert marker.read_text() != "edited"
    assert sorted(p.name for p in (curated_lake / "exports").iterdir()) == ["v1"]


def test_empty_curated_set_leaves_no_folder(lake_root):
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(3, correct=False))
    result = run_cli("export", "v1", "--root", lake_root)
    assert result.exit_code == 2 and "run `stratagem curate` first" in result.output
    with Lake.open(lake_root) as lake:
        curate(lake, load_policy())
    result = run_cli("export", "v1", "--root", lake_root)
    assert result.exit_code == 2 and "is empty" in result.output
    assert not (lake_root / "exports").exists() or not any((lake_root / "exports").iterdir())


def test_prompt_length_filters(curated_lake, tmp_path):
    tok = make_tokenizer(tmp_path / "tok")
    with Lake.open(curated_lake, read_only=True) as lake:
        full = export(lake, "all").manifest
        total = sum(full["counts"].values())
        lengths = sorted(len(r["question"]) + len(PROMPT_SUFFIX) for r in
                         pq.read_table(curated_lake / "exports" / "all" / "data.parquet").to_pylist())
        cut = lengths[len(lengths) // 2]
        some = export(lake, "chars", max_prompt_chars=cut).manifest
        assert sum(some["counts"].values()) == sum(n <= cut for n in lengths)
        assert some["filtered"]["prompt_chars"] == total - sum(some["counts"].values()) > 0
        with pytest.raises(ExportError, match="needs --tokenizer"):
            export(lake, "tok", max_prompt_tokens=10)
        with pytest.raises(ExportError, match="is empty"):
            export(lake, "tok", max_prompt_tokens=5, tokenizer=str(tok))
        ok = export(lake, "tok", max_prompt_tokens=200, tokenizer=str(tok.parent)).manifest
        assert sum(ok["counts"].values()) == total and ok["filtered"]["prompt_tokens"] == 0
    assert not (curated_lake / "exports" / "tok-x").exists()
    assert sorted(p.name for p in (curated_lake / "exports").iterdir()) == ["all", "chars", "tok"]


def test_rebuild_is_byte_for_byte_after_new_data(curated_lake, tmp_path):
    with Lake.open(curated_lake, read_only=True) as lake:
        folder = export(lake, "v1").path
    original = {f: (folder / f).read_bytes() for f in files_of(folder)}
    with Lake.open(curated_lake) as lake:  # later: new data, a new curate run
        fill_lake(lake, merge(*(make_family(i) for i in range(200, 210))))
        curate(lake, load_policy())
    (folder / "train" / "rl.trl.jsonl").write_text("tampered\n")
    (folder / "plots" / "labels.png").unlink()
    problems = check(folder / "manifest.json")
    assert problems == ["plots/labels.png: missing", "train/rl.trl.jsonl: differs"]
    result = run_cli("export", "--check", folder / "manifest.json")
    assert result.exit_code == 2 and "train/rl.trl.jsonl: differs" in result.output

    result = run_cli("export", "--rebuild", folder / "manifest.json")  # the lake it sits in
    assert result.exit_code == 0, result.output
    assert {f: (folder / f).read_bytes() for f in files_of(folder)} == original  # manifest included
    assert check(folder / "manifest.json") == []
    assert run_cli("export", "--check", folder / "manifest.json").exit_code == 0

    with Lake.open(curated_lake, read_only=True) as lake:
        copy = rebuild(lake, folder / "manifest.json", out=tmp_path / "copy")
        assert copy.mismatches == []
        newer = export(lake, "v2").manifest
    assert {f: (tmp_path / "copy" / f).read_bytes() for f in files_of(tmp_path / "copy")} == original
    assert sum(newer["counts"].values()) > sum(json.loads(original["manifest.json"])["counts"].values())


def test_rebuild_in_place_keeps_files_the_manifest_does_not_list(curated_lake, tmp_path):
    with Lake.open(curated_lake, read_only=True) as lake:
        manifest = export(lake, "v1").path / "manifest.json"
    elsewhere = tmp_path / "thesis"
    elsewhere.mkdir()
    (elsewhere / "chapter1.txt").write_text("years of work")
    (elsewhere / "manifest.json").write_bytes(manifest.read_bytes())
    result = run_cli("export", "--rebuild", elsewhere / "manifest.json", "--root", curated_lake)
    assert result.exit_code == 2 and "chapter1.txt" in result.output and "--out" in result.output
    assert (elsewhere / "chapter1.txt").read_text() == "years of work"
    result = run_cli("export", "--rebuild", elsewhere / "manifest.json", "--root", curated_lake, "--force")
    assert result.exit_code == 0, result.output
    assert not (elsewhere / "chapter1.txt").exists() and check(elsewhere / "manifest.json") == []


def test_rebuild_reports_files_that_cannot_be_reproduced(curated_lake):
    with Lake.open(curated_lake, read_only=True) as lake:
        folder = export(lake, "v1").path
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["data.parquet"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = (folder / "README.md").read_bytes()
    result = run_cli("export", "--rebuild", folder / "manifest.json", "--root", curated_lake)
    assert result.exit_code == 2 and "data.parquet: differs" in result.output
    assert (folder / "README.md").read_bytes() == before
    assert sorted(p.name for p in (curated_lake / "exports").iterdir()) == ["v1"]


def test_cli_flag_errors(curated_lake, tmp_path):
    assert run_cli("export", "--root", curated_lake).exit_code == 2
    result = run_cli("export", "--check", tmp_path / "missing.json")
    assert result.exit_code == 2 and "cannot read manifest" in result.output
    (tmp_path / "bad.json").write_text("{not json")
    assert "not valid JSON" in run_cli("export", "--check", tmp_path / "bad.json").output
    result = run_cli("export", "v1", "--root", curated_lake, "--curate-run", "no-such-run")
    assert result.exit_code == 2 and "no curate run 'no-such-run'" in result.output
    assert run_cli("export", "v1", "--root", curated_lake, "--out", tmp_path / "o").exit_code == 2
    result = run_cli("export", "v1", "--root", curated_lake, "--max-prompt-tokens", "5")
    assert result.exit_code == 2 and "needs --tokenizer" in result.output


def test_taxonomy_changed_since_curate_is_refused(lake_root, tmp_path):
    from schemas.taxonomy import DEFAULT_TAXONOMY

    tax = tmp_path / "taxonomy.toml"
    tax.write_bytes(DEFAULT_TAXONOMY.read_bytes())
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(3))
        curate(lake, policy_from_dict({"taxonomy": str(tax)}))
        assert export(lake, "ok").manifest["taxonomy"]["sha256"]
        tax.write_bytes(DEFAULT_TAXONOMY.read_bytes() + b"\n# edited\n")
        with pytest.raises(ExportError, match="changed since curate run"):
            export(lake, "later")
    assert not (lake_root / "exports" / "later").exists()
