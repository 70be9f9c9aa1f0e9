"""`stratagem mapping suggest` (issue 10 item 3): on every dataset in ../shared/data the
suggested mapping, unedited, ingests with the shipped mapping's counts; on a fixture of each
common shape it guesses the right fields; the CLI writes a mapping `ingest` reads.

    .venv/bin/python -m pytest tests/test_mapping_suggest.py -q
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest import ingest, load_mapping
from pipeline.ingest.suggest import suggest
from warehouse import Lake

from tests.test_ingest_shared_data import DATASETS

# datasets whose suggestion cannot match the shipped mapping's counts: {path: why}; none today
EXPECTED_EXCEPTIONS: dict[str, str] = {}
COUNTS = ("read", "accepted", "quarantined", "duplicates")


def suggested(tmp: Path, data: Path):
    s = suggest(data)
    path = tmp / "suggested.toml"
    path.write_text(s.toml, encoding="utf-8")
    return s, load_mapping(path)


def counts(root: Path, data: Path, mapping) -> tuple:
    with Lake.open(root) as lake:
        report = ingest(lake, [data], mapping)
    return tuple(report.counts.get(k, 0) for k in COUNTS)


def test_suggestions_ingest_every_shared_dataset_like_the_shipped_mapping(shared_data, tmp_path):
    seen = set()
    for i, (name, rel, rows, per_row) in enumerate(DATASETS):
        if rel in seen:
            continue
        seen.add(rel)
        _, mapping = suggested(tmp_path, shared_data / rel)
        got = counts(tmp_path / f"s{i}", shared_data / rel, mapping)
        want = counts(tmp_path / f"m{i}", shared_data / rel, load_mapping(name))
        if rel in EXPECTED_EXCEPTIONS:
            assert got != want, f"{rel} now matches: drop it from EXPECTED_EXCEPTIONS"
            continue
        assert got == want, (rel, got, want)
        assert got[0] == rows * max(per_row, 1) and got[2] == 0, rel


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def ingested(tmp: Path, data: Path, **expect) -> tuple[object, Lake]:
    s, mapping = suggested(tmp, data)
    lake = Lake.open(tmp / "lake")
    report = ingest(lake, [data], mapping)
    for key, value in expect.items():
        assert report.counts[key] == value, (key, report.counts, s.toml)
    return s, lake


def answers(lake: Lake) -> dict:
    return dict(lake.rows("SELECT question, reference_answer FROM problems"))


BOX = "so the answer is \\boxed{\\frac{1}{2}}."


@pytest.mark.parametrize("shape, records, expect", [
    ("chat messages", [{"messages": [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A " + BOX}]}],
     {"Q1?": "\\frac{1}{2}"}),
    ("ShareGPT conversations", [{"conversations": [{"from": "human", "value": "Q2?"}, {"from": "gpt", "value": BOX}],
                                 "answer": "1/2"}], {"Q2?": "1/2"}),
    ("flat records", [{"problem": "Q3?", "answer": "3", "responses": ["r1 " + BOX, "r2"], "scores": [True, False]}],
     {"Q3?": "3"}),
    ("flat records", [{"question": "Q4?", "final_answer": ["$3$", "$5$"], "steps": ["one", "two"]}],
     {"Q4?": "$3$, $5$"}),
    ("flat records", [{"problem": "Q5?", "answer": "7", "generation": "<think>hmm</think> 7", "model": "r1"}],
     {"Q5?": "7"}),
    ("flat records", [{"question": "Q6?", "solution": BOX}], {"Q6?": "\\frac{1}{2}"}),
    ("TRL rows", [{"prompt": [{"role": "user", "content": "Q7?"}], "solution": "7", "teacher_completion": "T7"}],
     {"Q7?": "7"}),
    ("TRL rows", [{"prompt": [{"role": "user", "content": "Q8?"}],
                   "completion": [{"role": "assistant", "content": BOX}]}], {"Q8?": "\\frac{1}{2}"}),
    ("OpenRLHF rows", [{"input": [{"role": "user", "content": "Q9?"}],
                        "label": json.dumps({"answer": "9", "strategy": "s", "strategy_plan": []})}], {"Q9?": "9"}),
    ("flat records", [{"context": "Ctx.", "question": "Q10?", "choices": ["x", "y"], "answer": "B", "solution": "B."}],
     {"Ctx.\n\nQ10?\n\nA. x\nB. y": "B"}),
])
def test_each_shape(tmp_path, shape, records, expect):
    data = write_jsonl(tmp_path / "d.jsonl", records)
    s, lake = ingested(tmp_path, data, quarantined=0)
    with lake:
        assert s.shape == shape, s.toml
        assert answers(lake) == expect, s.toml
        n_traj = lake.count("trajectories")
    assert n_traj == sum(len(r.get("responses", [None])) for r in records if "input" not in r), s.toml


def test_missing_answer_is_said_and_boxed(tmp_path):
    s = suggest(write_jsonl(tmp_path / "d.jsonl", [{"question": "Q?", "solution": BOX}]))
    assert "no answer field: answers will be extracted from \\boxed{} in the solution" in s.missing
    assert "# not found: no answer field" in s.toml


def test_verl_parquet(tmp_path):
    path = tmp_path / "rl.verl.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"data_source": "aime", "prompt": [{"role": "user", "content": f"V{i}?"}], "ability": "math",
         "reward_model": {"style": "rule", "ground_truth": str(i)}, "extra_info": {"split": "train", "index": i}}
        for i in range(3)]), path)
    s, lake = ingested(tmp_path, path, read=3, accepted=3)
    with lake:
        assert s.shape == "verl rows" and answers(lake) == {"V0?": "0", "V1?": "1", "V2?": "2"}
        assert lake.scalar("SELECT DISTINCT source FROM problems") == "aime"


def test_per_problem_folders(tmp_path):
    for i in range(3):
        d = tmp_path / "traces" / f"problem_{i}"
        d.mkdir(parents=True)
        (d / "problem.json").write_text(json.dumps({"problem": f"F{i}?", "gt_answer": str(i), "level": "5"}))
        (d / "trace.json").write_text(json.dumps({"prompt": "p", "response": f"<think>t{i}</think> {i}",
                                                  "is_correct": True}))
    s, lake = ingested(tmp_path, tmp_path / "traces", read=3, accepted=3)
    with lake:
        assert s.shape == "per-problem folders" and answers(lake) == {"F0?": "0", "F1?": "1", "F2?": "2"}
        assert lake.scalar("SELECT count(*) FROM trajectories WHERE text LIKE '<think>%'") == 3


def test_cli_writes_a_mapping_that_ingest_reads(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": f"C{i}?", "solution": f"x \\boxed{{{i}}}"} for i in range(4)])
    out = tmp_path / "m.toml"
    runner = CliRunner()
    result = runner.invoke(app, ["mapping", "suggest", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "guessed: question <- field 'question'" in result.output
    assert "no answer field: answers will be extracted from \\boxed{} in the solution" in result.output
    again = runner.invoke(app, ["mapping", "suggest", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    result = runner.invoke(app, ["ingest", str(data), "--mapping", str(out), "--root", str(tmp_path / "lake")])
    assert result.exit_code == 0, result.output
    with Lake.open(tmp_path / "lake", read_only=True) as lake:
        assert answers(lake) == {f"C{i}?": str(i) for i in range(4)}
    printed = runner.invoke(app, ["mapping", "suggest", str(data)])
    assert printed.exit_code == 0 and "[[trajectory]]" in printed.output
    missing = runner.invoke(app, ["mapping", "suggest", str(tmp_path / "absent.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output
