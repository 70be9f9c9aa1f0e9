"""The verify stage on a real lake: three-valued verdicts with method and confidence, counts per
outcome and per method, the problem statement and tolerance policy handed to the checker,
idempotent reruns, a killed run resumed with nothing lost or doubled, the CLI options.

    .venv/bin/python -m pytest tests/test_verify.py -q
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotators.answers import CHECKER_VERSION
from pipeline.cli import app
from pipeline.verify import parse_tolerances, verify
from schemas import Problem, Trajectory, content_id, text_sha, to_arrow
from warehouse import Lake

REPO = Path(__file__).resolve().parents[1]


def add(lake: Lake, problems: list[Problem], texts: list[tuple[str, str]]) -> list[str]:
    trajs = [Trajectory(trajectory_id=content_id("trajectory", p, "t", text_sha(t)), problem_id=p, teacher="t",
                        text=t, text_sha=text_sha(t), n_chars=len(t)) for p, t in texts]
    lake.insert("problems", to_arrow(problems, Problem))
    lake.insert("trajectories", to_arrow(trajs, Trajectory))
    return [t.trajectory_id for t in trajs]


def seed(lake: Lake) -> None:
    add(lake, [Problem(problem_id="p1", source="t", question="2+2?", reference_answer="4"),
               Problem(problem_id="p2", source="t", question="open question", reference_answer=None)],
        [("p1", "2 plus 2 is \\boxed{4}."), ("p1", "I think it is 5.\n#### 5"), ("p1", "hmm, 4 or 7"),
         ("p2", "anything 3")])


def test_verify_writes_outcomes_methods_and_confidence(lake_root):
    with Lake.open(lake_root) as lake:
        seed(lake)
        report = verify(lake, batch_size=2)
        c = report.counts
        assert c["read"] == 4
        assert (c["correct"], c["incorrect"], c["unknown"], c["no_reference"]) == (1, 1, 1, 1)
        assert (c["extraction.boxed"], c["extraction.hashes"], c["extraction.last_number"]) == (1, 1, 2)
        rows = lake.rows("SELECT extracted_answer, extraction, outcome, is_correct, checker_version, judge_model, "
                         "confidence BETWEEN 0 AND 1 FROM verdicts ORDER BY extraction, outcome")
        assert rows == [("4", "boxed", "correct", True, CHECKER_VERSION, None, True),
                        ("5", "hashes", "incorrect", False, CHECKER_VERSION, None, True),
                        ("3", "last_number", "no_reference", None, CHECKER_VERSION, None, True),
                        ("7", "last_number", "unknown", None, CHECKER_VERSION, None, True)]


def test_rerun_judges_nothing_and_new_trajectories_only(lake_root):
    with Lake.open(lake_root) as lake:
        seed(lake)
        verify(lake)
        again = verify(lake)
        assert again.counts.get("read", 0) == 0 and lake.count("verdicts") == 4
        assert (again.counts["correct"], again.counts["unknown"]) == (0, 0)  # all four outcomes always shown
        add(lake, [], [("p1", "so \\boxed{4}, surely")])
        third = verify(lake)
        assert third.counts["read"] == 1 and third.counts["correct"] == 1 and lake.count("verdicts") == 5


def test_a_new_checker_version_judges_again_beside_the_old_verdicts(lake_root):
    with Lake.open(lake_root) as lake:
        seed(lake)
        with lake.transaction():  # verdicts of an older checker version
            lake.rows("INSERT INTO lake.verdicts (trajectory_id, extracted_answer, extraction, outcome, "
                      "is_correct, checker_version, run_id) SELECT trajectory_id, '5', 'last_number', "
                      "'incorrect', false, 'answers-0', 'old' FROM lake.trajectories")
        report = verify(lake)
        assert report.counts["read"] == 4 and lake.count("verdicts") == 8
        current = lake.rows("SELECT count(*), count(*) FILTER (checker_version = ?) FROM current_verdicts",
                            [CHECKER_VERSION])
        assert current == [(4, 4)]


def test_the_problem_statement_and_the_source_policy_reach_the_checker(lake_root):
    """The options of a multiple-choice question are read from the problem; a source's policy
    (1e-4 for "approx") decides for its own problems only."""
    area = "The area is 7068.58"
    with Lake.open(lake_root) as lake:
        ids = add(lake, [Problem(problem_id="m", source="aqua", question="Which is 18? (A) 17 (B) 18 (C) 19",
                                 reference_answer="18"),
                         Problem(problem_id="a", source="approx", question="Find the area.", reference_answer="2250\\pi"),
                         Problem(problem_id="s", source="strict", question="Find the area.", reference_answer="2250\\pi")],
                  [("m", "Answer: B"), ("a", area), ("s", area)])
        report = verify(lake, tolerances={"approx": "1e-4"})
        assert (report.counts["correct"], report.counts["unknown"]) == (2, 1)
        outcome = dict(lake.rows("SELECT trajectory_id, outcome || ' ' || extraction FROM verdicts"))
        assert [outcome[i] for i in ids] == ["correct choice", "correct conclusion", "unknown last_number"]
        config = lake.scalar("SELECT config FROM runs WHERE stage = 'verify'")
        assert '"approx": "1e-4"' in config


def test_parse_tolerances():
    assert parse_tolerances([]) == {}
    assert parse_tolerances(["exact", "olympiad=1e-6", "aqua=decimal_ok"]) == {
        "*": "exact", "olympiad": "1e-6", "aqua": "decimal_ok"}
    for bad in (["=exact"], ["src="], ["exact", "1e-4"], ["s=exact", "s=1e-4"], ["s=roughly"], ["-1"]):
        with pytest.raises(ValueError):
            parse_tolerances(bad)


def test_cli_reports_outcomes_and_refuses_bad_options(lake_root):
    runner = CliRunner()
    with Lake.open(lake_root) as lake:
        seed(lake)
    result = runner.invoke(app, ["verify", "--root", str(lake_root), "--tolerance", "t=exact"])
    assert result.exit_code == 0, result.output
    for word in ("correct", "incorrect", "unknown", "no_reference", "extraction.boxed"):
        assert word in result.output
    for args, message in ((["--tolerance", "=x"], "SOURCE=POLICY"), (["--tolerance", "roughly"], "decimal_ok"), (["--judge", "oracle"], "unknown judge"),
                          (["--judge-low-confidence"], "needs --judge llm"), (["--judge", "llm"], "--base-url")):
        bad = runner.invoke(app, ["verify", "--root", str(lake_root), *args])
        assert bad.exit_code != 0 and message in bad.output, (args, bad.output)
    helped = runner.invoke(app, ["verify", "--help"], terminal_width=200)
    for word in ("unknown", "no_reference", "--judge", "--judge-low-confidence", "--tolerance", "current_verdicts"):
        assert word in helped.output, word


N_KILL = 3000


def test_killed_run_then_rerun_loses_and_doubles_nothing(tmp_path):
    """SIGKILL the real CLI once its first batch is committed, rerun: every trajectory has
    exactly one verdict and they equal an uninterrupted run's."""
    def make(root: Path) -> None:
        with Lake.open(root) as lake:
            add(lake, [Problem(problem_id="p", source="t", question="q", reference_answer="7")],
                [("p", f"step {i}: so the answer is \\boxed{{{i % 10}}}") for i in range(N_KILL)])

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    make(clean), make(killed)
    with Lake.open(clean) as lake:
        verify(lake, batch_size=200)
    exe = Path(sys.executable).with_name("stratagem")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "pipeline.cli"]),
           "verify", "--root", str(killed), "--batch-size", "200"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        written = killed / "data" / "main" / "verdicts"
        while proc.poll() is None:  # a second batch's data file means the first batch is committed
            if written.is_dir() and len(list(written.glob("*.parquet"))) >= 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with Lake.open(killed, read_only=True) as lake:
        partial = lake.count("verdicts")
    assert 0 < partial < N_KILL, "the run was not killed part way (make N_KILL larger)"
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    query = "SELECT trajectory_id, extracted_answer, extraction, outcome, confidence FROM verdicts ORDER BY 1"
    with Lake.open(killed, read_only=True) as a, Lake.open(clean, read_only=True) as b:
        assert a.scalar("SELECT count(*) - count(DISTINCT trajectory_id) FROM verdicts") == 0
        assert a.rows(query) == b.rows(query)
