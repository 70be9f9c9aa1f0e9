"""Problems-only datasets for RL (issue 10 item 6): problems with a reference answer and no
trajectory are ingested, curated as RL-only rows and exported to the RL formats (TRL rl, verl,
OpenRLHF) with no teacher completion, an empty strategy and a typed empty plan; SFT files are
skipped with a one-line note in the CLI output and the manifest. The prompt suffix is a policy
setting. Real ingest, DuckLake and CLI; the RL files are read back with `datasets` and pyarrow.

    .venv/bin/pytest tests/test_export_rl_only.py
"""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.curate import curate
from pipeline.export import export, rebuild
from pipeline.ingest.mapping import MAPPINGS_DIR, load_mapping
from pipeline.ingest.stage import ingest
from pipeline.curate.policy import load_policy, policy_from_dict
from schemas.export import PROMPT_SUFFIX
from test_export_fixtures import fill_lake, make_world
from warehouse import Lake

PLAN = pa.list_(pa.struct([("label", pa.string()), ("start", pa.int64()), ("end", pa.int64())]))
N = 24


def problems_file(path, n=N):
    """MATH-Perturb's shape (problem, answer, type, ...): problems with answers and no solutions."""
    rows = [{"problem_id": f"p{i}", "problem": f"Find the value of $x$ if $x + {i} = {2 * i + 3}$ in puzzle {i}.",
             "answer": str(i + 3), "type": ["Algebra", "Number Theory"][i % 2], "level": 5, "original_split": "test"}
            for i in range(n)]
    rows.append({"problem_id": "blank", "problem": "A question whose answer is missing.", "answer": "",
                 "type": "Algebra", "level": 5, "original_split": "test"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def rl_lake(tmp_path):
    root = tmp_path / "lake"
    with Lake.open(root) as lake:
        report = ingest(lake, [problems_file(tmp_path / "problems.jsonl")], load_mapping("math-perturb"))
        assert report.counts["accepted"] == N + 1 and lake.count("trajectories") == 0
    return root


def test_problems_only_curate_and_export_to_the_rl_formats(rl_lake):
    with Lake.open(rl_lake) as lake:
        c = curate(lake, load_policy()).counts
        assert (c["read"], c["accepted"], c["rl_only"], c["dropped.no_reference_answer"]) == (N + 1, N, N, 1)
        assert lake.scalar("SELECT count(*) FROM curated WHERE trajectory_id IS NULL") == N
    result = CliRunner().invoke(app, ["export", "rl-v1", "--root", str(rl_lake)])
    assert result.exit_code == 0, result.output
    note = [line for line in result.output.splitlines() if "skipped" in line]
    assert len(note) == 1 and "sft.trl.jsonl" in note[0] and "no teacher trajectory" in note[0]
    folder = rl_lake / "exports" / "rl-v1"
    manifest = json.loads((folder / "manifest.json").read_text())
    splits = list(manifest["counts"])
    assert manifest["rl_only"] == manifest["counts"] and sum(manifest["counts"].values()) == N
    assert sorted(manifest["skipped"]) == sorted(f"{s}/sft.trl.jsonl" for s in splits)
    assert not list(folder.rglob("sft.trl.jsonl")) and "not written" in (folder / "README.md").read_text()
    native = {r["id"]: r for r in pq.read_table(folder / "data.parquet").to_pylist()}
    for split in splits:
        for row in jsonl(folder / split / "rl.trl.jsonl"):
            want = native[row["id"]]
            assert row["id"] == want["problem_id"] and row["solution"] == want["answer"] != ""
            assert row["prompt"] == [{"role": "user", "content": want["question"] + PROMPT_SUFFIX}]
            assert (row["teacher_completion"], row["strategy"], row["strategy_plan"]) == (None, "", [])
            assert "completion" not in row
        verl = pq.read_table(folder / split / "rl.verl.parquet")
        assert verl.schema.field("extra_info").type.field("strategy_plan").type == PLAN
        for row in verl.to_pylist():
            assert row["reward_model"] == {"style": "rule", "ground_truth": native[row["extra_info"]["id"]]["answer"]}
            assert row["extra_info"]["teacher_completion"] is None and row["extra_info"]["strategy_plan"] == []
        for row in jsonl(folder / split / "rl.openrlhf.jsonl"):
            label = json.loads(row["label"])
            assert label["strategy"] == "" and label["strategy_plan"] == [] and label["answer"]
    assert pq.read_table(folder / "data.parquet").schema.field("strategy_plan").type == PLAN


def test_rl_files_load_in_datasets_and_rebuild_byte_for_byte(rl_lake, tmp_path):
    from datasets import load_dataset

    with Lake.open(rl_lake) as lake:
        curate(lake, load_policy())
        folder = export(lake, "v1").path
        copy = rebuild(lake, folder / "manifest.json", out=tmp_path / "copy")
    assert copy.mismatches == []
    splits = list(json.loads((folder / "manifest.json").read_text())["counts"])
    verl = load_dataset("parquet", data_files={s: str(folder / s / "rl.verl.parquet") for s in splits})
    assert set(verl) == set(splits) and all(verl[s].num_rows for s in splits)
    assert "ground_truth" in verl[splits[0]].features["reward_model"]
    trl = load_dataset("json", data_files=str(folder / splits[0] / "rl.trl.jsonl"), split="train")
    assert {"prompt", "solution", "strategy", "strategy_plan"} <= set(trl.column_names)
    assert "completion" not in trl.column_names and all(trl["solution"])


def test_mixed_lake_sft_keeps_only_trajectory_rows_and_the_suffix_is_a_policy_setting(tmp_path):
    root = tmp_path / "lake"
    suffix = "\n\nGive only the final number."
    with Lake.open(root) as lake:
        fill_lake(lake, make_world(6, perturbations=()))
        ingest(lake, [problems_file(tmp_path / "problems.jsonl", n=6)], load_mapping("math-perturb"))
        c = curate(lake, policy_from_dict({"prompt": {"suffix": suffix}})).counts
        assert c["rl_only"] == 6 and c["accepted"] == 12
        assert c["read"] == c["accepted"] + c["duplicates"] + sum(v for k, v in c.items() if k.startswith("dropped."))
        folder = export(lake, "mixed").path
        off = curate(lake, policy_from_dict({"problems_only": {"include": False}})).counts
        assert "rl_only" not in off and off["accepted"] == 6
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["prompt_template"] == "{question}" + suffix
    native = pq.read_table(folder / "data.parquet").to_pylist()
    assert all(r["prompt"][0]["content"].endswith(suffix) for r in native)
    with_traj = {r["id"] for r in native if r["teacher_completion"] is not None}
    sft = [r["id"] for s in manifest["counts"] if (folder / s / "sft.trl.jsonl").exists()
           for r in jsonl(folder / s / "sft.trl.jsonl")]
    assert sorted(sft) == sorted(with_traj) and len(with_traj) == 6
    assert all((folder / s / "sft.trl.jsonl").exists() == (f"{s}/sft.trl.jsonl" not in manifest.get("skipped", {}))
               for s in manifest["counts"])
    rl = [r["id"] for s in manifest["counts"] for r in jsonl(folder / s / "rl.trl.jsonl")]
    assert len(rl) == 12


def test_default_policy_documents_the_new_settings():
    from pipeline.curate.policy import DEFAULT_POLICY

    text = DEFAULT_POLICY.read_text()
    assert "[problems_only]" in text and "[prompt]" in text
    assert load_policy().prompt.suffix == PROMPT_SUFFIX and load_policy().problems_only.include


def test_sft_on_an_rl_only_export_is_refused_before_the_model_loads(rl_lake, tmp_path):
    """RL-only rows have no teacher completion: SFT skips them, and with none left says so in one line."""
    with Lake.open(rl_lake) as lake:
        curate(lake, load_policy())
        folder = export(lake, "rl-only").path
    res = CliRunner().invoke(app, ["train", "--algo", "sft", "--data", str(folder), "--model", "tiny",
                                   "--out", str(tmp_path / "sft")])
    assert res.exit_code == 2 and "no teacher trajectories" in res.output, res.output
    assert not (tmp_path / "sft").exists()


def test_the_card_carries_each_mapping_licence_and_source_url(tmp_path):
    """A mapping's `license` and `source_url` reach the dataset card's sources table."""
    mapping = tmp_path / "my-set.toml"
    shipped = MAPPINGS_DIR / "math-perturb.toml"
    mapping.write_text((shipped.read_text()
                        .replace('source = "math-perturb"', 'source = "my-set"')
                        .replace('license = "Apache-2.0"', 'license = "CC-BY-4.0 (test)"')
                        .replace("https://github.com/Kaffaljidhmah2/MATH-Perturb", "https://example.org/my-set")))
    root = tmp_path / "lake"
    with Lake.open(root) as lake:
        ingest(lake, [problems_file(tmp_path / "problems.jsonl", n=6)], load_mapping(str(mapping)))
        curate(lake, load_policy())
        card = (export(lake, "card").path / "README.md").read_text()
    assert "| my-set | 6 | CC-BY-4.0 (test) | https://example.org/my-set |" in card
