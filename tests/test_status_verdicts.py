"""`stratagem status` and the verdict breakdown: current verdicts (newest checker version) by
source and teacher and by extraction method, and a sample of incorrect and unknown rows. Real
DuckLake in tmp_path; `verdict_lake` is also used by tests/test_report_verdicts.py.

    .venv/bin/python -m pytest tests/test_status_verdicts.py -q
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.report.verdicts import verdict_breakdown
from schemas import Problem, Trajectory, Verdict, content_id, text_sha, to_arrow
from warehouse import Lake

# (source, teacher, outcome, method, extracted answer); references are "7"
ROWS = [("gsm8k", "t1", "correct", "boxed", "7"), ("gsm8k", "t1", "correct", "hashes", "7"),
        ("gsm8k", "t1", "incorrect", "boxed", "8"), ("gsm8k", "t2", "unknown", "last_number", "3"),
        ("olympiad", "t1", "unknown", "none", None), ("olympiad", "t1", "incorrect", "conclusion", "[/b] <i>9</i>"),
        ("olympiad", "t2", "no_reference", "boxed", "5")]


def verdict_lake(root: Path) -> list[str]:
    """A lake with the verdicts of ROWS from checker answers-2, each also judged `correct` by
    answers-1 in a later run (superseded); returns the trajectory ids in ROWS order."""
    problems, trajectories, verdicts, tids = [], [], [], []
    for i, (source, teacher, outcome, method, answer) in enumerate(ROWS):
        pid = content_id("problem", source, i)
        text = f"solution {i}"
        tid = content_id("trajectory", pid, teacher, text)
        tids.append(tid)
        problems.append(Problem(problem_id=pid, source=source, question=f"question {i}?",
                                reference_answer=None if outcome == "no_reference" else "7"))
        trajectories.append(Trajectory(trajectory_id=tid, problem_id=pid, teacher=teacher, text=text,
                                       text_sha=text_sha(text), n_chars=len(text)))
        verdicts.append(Verdict(trajectory_id=tid, extracted_answer=answer, extraction=method, outcome=outcome,
                                confidence=0.3 if outcome == "unknown" else 1.0,
                                is_correct={"correct": True, "incorrect": False}.get(outcome),
                                checker_version="answers-2", run_id="20261203T100000-verify-aaaaaa"))
        verdicts.append(Verdict(trajectory_id=tid, extracted_answer="7", extraction="boxed", outcome="correct",
                                is_correct=True, checker_version="answers-1", run_id="20261203T110000-verify-bbbbbb"))
    with Lake.open(root) as lake:
        lake.insert("problems", to_arrow(problems, Problem))
        lake.insert("trajectories", to_arrow(trajectories, Trajectory))
        lake.insert("verdicts", to_arrow(verdicts, Verdict))
    return tids


def test_breakdown_counts_current_verdicts_by_source_teacher_and_method(lake_root):
    tids = verdict_lake(lake_root)
    with Lake.open(lake_root, read_only=True) as lake:
        b = verdict_breakdown(lake, sample=1)
    zero = dict.fromkeys(("correct", "incorrect", "unknown", "no_reference"), 0)
    assert b["by_source_teacher"] == [
        {"source": "gsm8k", "teacher": "t1", **zero, "correct": 2, "incorrect": 1, "total": 3},
        {"source": "gsm8k", "teacher": "t2", **zero, "unknown": 1, "total": 1},
        {"source": "olympiad", "teacher": "t1", **zero, "incorrect": 1, "unknown": 1, "total": 2},
        {"source": "olympiad", "teacher": "t2", **zero, "no_reference": 1, "total": 1}]
    assert [(m["method"], m["total"]) for m in b["by_method"]] == [
        ("boxed", 3), ("conclusion", 1), ("hashes", 1), ("last_number", 1), ("none", 1)]
    assert b["checker_versions"] == {"answers-2": 7}
    assert [(s["outcome"], s["trajectory_id"]) for s in b["samples"]] == [
        ("incorrect", min(tids[2], tids[5])), ("unknown", min(tids[3], tids[4]))]
    sample = {s["trajectory_id"]: s for s in b["samples"]}
    assert all(s["reference"] == "7" for s in sample.values())


def test_empty_lake_has_no_breakdown(lake_root):
    Lake.open(lake_root).close()
    with Lake.open(lake_root, read_only=True) as lake:
        assert verdict_breakdown(lake) == {}


def test_status_prints_the_breakdown_and_samples_as_plain_text(lake_root, monkeypatch):
    tids = verdict_lake(lake_root)
    monkeypatch.setenv("COLUMNS", "220")
    result = CliRunner().invoke(app, ["status", "--root", str(lake_root)])
    assert result.exit_code == 0, result.output
    out = result.output
    for title in ("verdicts by source and teacher", "verdicts by extraction method",
                  "sample of incorrect and unknown verdicts"):
        assert title in out
    assert "from checker answers-2 (7)" in out and not re.search(r"answers-1 \(\d", out)
    assert "[/b] <i>9</i>" in out  # markup in an answer is shown as written
    for tid in (tids[2], tids[3], tids[4], tids[5]):
        assert tid in out
    assert tids[0] not in out  # correct rows are not sampled
    shown = json.loads(CliRunner().invoke(app, ["status", "--root", str(lake_root), "--json"]).output)
    assert shown["trajectories"] == 7 and shown["verdicts"]["by_method"][0] == {
        "method": "boxed", "correct": 1, "incorrect": 1, "unknown": 0, "no_reference": 1, "total": 3}


def test_status_on_a_lake_without_verdicts_shows_no_verdict_tables(lake_root):
    Lake.open(lake_root).close()
    result = CliRunner().invoke(app, ["status", "--root", str(lake_root)])
    assert result.exit_code == 0 and "verdicts by" not in result.output


def test_status_with_verdicts_loads_no_pandas(lake_root):
    """DuckDB's client imports pandas (~1 s) on the first query that takes parameters: status
    must run without one, verdict tables included."""
    verdict_lake(lake_root)
    code = ("import sys; sys.argv = ['stratagem', 'status', '--root', sys.argv[1]]\nfrom pipeline import cli\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            "print('pandas loaded' if 'pandas' in sys.modules else 'no pandas')")
    res = subprocess.run([sys.executable, "-c", code, str(lake_root)], capture_output=True, text=True, timeout=120)
    assert "verdicts by source and teacher" in res.stdout, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "no pandas"
