"""Kill-anywhere tests for the paid LLM stages, `generate` and `describe --annotator llm`: SIGKILL
the real CLI mid-run (at several points: inside a batch, at a batch boundary), rerun it, and
check against an uninterrupted run on an identical lake:

- the final tables are equal (trajectories; strategies);
- no request that succeeded is sent again (the request cache): both runs together get as many
  answers as the uninterrupted run, and (generate, where every request body differs) none of
  the bodies answered before the kill is sent again;
- llm_calls spend (tokens and cost summed over rows) equals what the loopback server served,
  so a kill neither loses spend (answers received but not yet committed) nor counts it twice;
- no spend journal is left behind.

    .venv/bin/python -m pytest tests/test_llm_kill.py -q
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm.prices import load_prices
from llm_server import LLMTestServer, kill_when_settled
from pipeline.cli import app
from test_generate import add_problems
from warehouse import Lake

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
MODEL = "test-model"


def _spend(root: Path) -> tuple[int, int, float]:
    with Lake.open(root, read_only=True) as lake:
        tin, tout, cost = lake.rows("SELECT sum(tokens_in), sum(tokens_out), sum(cost_usd) FROM llm_calls")[0]
    return int(tin or 0), int(tout or 0), float(cost or 0.0)


def _served_cost(tokens: tuple[int, int]) -> float:
    return load_prices().cost(MODEL, *tokens)


def _kill_then_rerun(cmd: list[str], root: Path, n: int) -> tuple[set[str], LLMTestServer, list]:
    """Run `cmd` against a fresh server, SIGKILL after n answers, rerun to the end; returns the
    shas that had succeeded before the kill, the (stopped) server and its log after the kill."""
    with LLMTestServer(hang_s=30) as server:
        server.hold_after(n)
        succeeded = kill_when_settled(cmd + ["--base-url", server.url], root / "cache" / "llm", n, server,
                                      cwd=REPO, env=ENV)
        assert server.successes >= n and succeeded
        n_first = len(server.log)
        server.release()
        rerun = subprocess.run(cmd + ["--base-url", server.url], cwd=REPO, env=ENV, capture_output=True, text=True,
                               timeout=180)
        assert rerun.returncode == 0, rerun.stderr
    return succeeded, server, server.log[n_first:]


def _uninterrupted(args: list[str]) -> LLMTestServer:
    with LLMTestServer() as server:
        result = CliRunner().invoke(app, args + ["--base-url", server.url])
        assert result.exit_code == 0, result.output
    return server


def _answers(server: LLMTestServer) -> int:
    return sum(1 for r in server.log if r.status == 200)


def _check_spend_and_journal(root: Path, server: LLMTestServer, reference: LLMTestServer) -> None:
    assert _answers(server) == _answers(reference)  # each request answered once over both runs
    assert server.tokens_served == reference.tokens_served
    tokens_in, tokens_out, cost = _spend(root)
    assert (tokens_in, tokens_out) == server.tokens_served and tokens_in > 0
    assert cost == pytest.approx(_served_cost(server.tokens_served))
    with Lake.open(root, read_only=True) as lake:
        paid = lake.scalar("SELECT count(*) FROM llm_calls WHERE status = 'ok'")
    assert paid == _answers(server)  # each answer received: one row, once
    assert list((root / "cache" / "llm" / "spend").glob("*.jsonl")) == []


# ----------------------------------------------------------------------------- generate
_TRAJECTORY = "SELECT trajectory_id, problem_id, teacher, text, sampling, truncated FROM trajectories ORDER BY 1"


@pytest.mark.parametrize("n", [3, 4, 6])  # inside batch 1, at the batch boundary, inside batch 2
def test_generate_killed_anywhere_then_rerun_equals_an_uninterrupted_run(tmp_path, n):
    root, reference = tmp_path / "lake", tmp_path / "reference"
    add_problems(root, 8)
    add_problems(reference, 8)
    flags = ["--model", MODEL, "--concurrency", "2", "--batch-size", "4", "--samples", "1"]
    uninterrupted = _uninterrupted(["generate", "--root", str(reference), *flags])

    cmd = [sys.executable, "-m", "pipeline.cli", "generate", "--root", str(root), *flags]
    succeeded, server, after_kill = _kill_then_rerun(cmd, root, n)
    assert [r for r in after_kill if r.status != 0 and r.body_sha in succeeded] == []
    with Lake.open(root, read_only=True) as lake, Lake.open(reference, read_only=True) as ref:
        assert lake.rows(_TRAJECTORY) == ref.rows(_TRAJECTORY) and len(lake.rows(_TRAJECTORY)) == 8
    _check_spend_and_journal(root, server, uninterrupted)


# ----------------------------------------------------------------------------- describe
_STRATEGY = ("SELECT strategy_id, problem_id, source_trajectory_id, problem_type, approach, steps, leakage_flags, "
             "score, rank, selected FROM strategies ORDER BY 1")


@pytest.fixture(scope="module")
def solved_lake(tmp_path_factory) -> Path:
    """A lake with 4 problems and one correct trajectory each (sample, ingest, verify)."""
    root = tmp_path_factory.mktemp("solved") / "lake"
    sample = root.parent / "s.jsonl"
    runner = CliRunner()
    for args in (["sample", "--n", "4", "--variants", "", "--trajectories", "1", "--out", str(sample)],
                 ["ingest", str(sample), "-m", "stratagem-sample", "--root", str(root)],
                 ["verify", "--root", str(root)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    with Lake.open(root, read_only=True) as lake:
        assert lake.scalar("SELECT count(DISTINCT problem_id) FROM correct_trajectories") >= 3
    return root


@pytest.mark.parametrize("n", [3, 4])  # inside batch 1 (2 problems x k=2), at the batch boundary
def test_describe_llm_killed_anywhere_then_rerun_equals_an_uninterrupted_run(solved_lake, tmp_path, n):
    root, reference = tmp_path / "lake", tmp_path / "reference"
    shutil.copytree(solved_lake, root)
    shutil.copytree(solved_lake, reference)
    flags = ["--annotator", "llm", "--model", MODEL, "-k", "2", "--batch-size", "2", "--concurrency", "2",
             "--max-retries", "0"]
    uninterrupted = _uninterrupted(["describe", "--root", str(reference), *flags])

    cmd = [sys.executable, "-m", "pipeline.cli", "describe", "--root", str(root), *flags]
    _, server, _ = _kill_then_rerun(cmd, root, n)  # the K requests of a problem share one body
    with Lake.open(root, read_only=True) as lake, Lake.open(reference, read_only=True) as ref:
        assert lake.rows(_STRATEGY) == ref.rows(_STRATEGY) and lake.rows(_STRATEGY)
    _check_spend_and_journal(root, server, uninterrupted)
