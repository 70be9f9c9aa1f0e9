"""Regression: plain question/answer/solution JSONL lines, no gold spans, through the default
mapping (`stratagem ingest file.jsonl`). Under polars 2 this crashed in build._span_reasons
(explode of an empty span list next to its index list); the rest of the suite carried spans."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from pipeline.cli import app
from warehouse import Lake

LINES = [{"question": "What is 2+2?", "answer": "4", "solution": "2+2=4. The answer is 4."},
         {"question": "What is 3+3?", "answer": "6", "solution": "3+3 = 6, so \\boxed{6}."},
         {"question": "Name a prime.", "answer": "7", "solution": "Seven is prime.", "spans": []}]


def test_plain_lines_through_the_default_mapping(tmp_path):
    src = tmp_path / "plain.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in LINES), encoding="utf-8")
    res = CliRunner().invoke(app, ["ingest", str(src), "--root", str(tmp_path / "lake")])
    assert res.exit_code == 0, res.output
    assert "read 3 = accepted 3 + quarantined 0 + duplicates 0" in res.output
    with Lake.open(tmp_path / "lake", read_only=True) as lake:
        problems = lake.query("SELECT question, reference_answer FROM problems ORDER BY question").to_pylist()
        assert [(p["question"], p["reference_answer"]) for p in problems] == [
            ("Name a prime.", "7"), ("What is 2+2?", "4"), ("What is 3+3?", "6")]
        assert lake.query("SELECT count(*) AS n FROM trajectories").to_pylist()[0]["n"] == 3
        assert lake.query("SELECT count(*) AS n FROM spans").to_pylist()[0]["n"] == 0
