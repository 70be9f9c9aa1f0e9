"""The generate stage against the loopback server: trajectories with teacher and sampling,
truncation, llm_calls and costs, resume without paying twice (also after SIGKILL), --where,
and an endpoint that is down."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm.client import LLMClient
from llm_server import LLMTestServer, kill_once_cached
from pipeline.cli import app
from llm import public_url
from pipeline.generate import generate
from schemas import Problem, content_id, normalise_text, to_arrow
from warehouse import Lake

REPO = Path(__file__).resolve().parents[1]


def add_problems(root: Path, n: int, family: str = "shopping", start: int = 0) -> list[str]:
    rows = []
    for i in range(start, start + n):
        q = f"Ann buys {i + 2} pens at {i + 3} dollars each. How much does she pay?"
        pid = content_id("problem", "test", normalise_text(q), str((i + 2) * (i + 3)))
        rows.append(Problem(problem_id=pid, source="test", question=q, reference_answer=str((i + 2) * (i + 3)),
                            family=family, family_seed_id=pid))
    with Lake.open(root) as lake:
        lake.insert("problems", to_arrow(rows, Problem))
    return [r.problem_id for r in rows]


def client_for(server, root: Path, **kw) -> LLMClient:
    kw.setdefault("max_retries", 2)
    kw.setdefault("timeout_s", 5)
    client = LLMClient(server.url, "test-model", cache_dir=root / "cache" / "llm", **kw)

    async def no_wait(seconds: float) -> None:
        return None
    client.sleep = no_wait
    return client


@pytest.fixture
def server():
    with LLMTestServer() as s:
        yield s


def test_generate_writes_trajectories_calls_and_costs(server, lake_root):
    add_problems(lake_root, 3)
    server.inject("429", kind="generate")
    server.inject("length", kind="generate")
    with Lake.open(lake_root) as lake:
        report = generate(lake, client_for(server, lake_root), samples=2, temperature=0.7, max_tokens=64, batch_size=4)
        trajs = lake.query("SELECT * FROM trajectories ORDER BY problem_id").to_pylist()
        calls = lake.query("SELECT * FROM llm_calls").to_pylist()
        run = lake.query("SELECT * FROM runs WHERE stage = 'generate'").to_pylist()
    c = report.counts
    assert c["read"] == 6 and c["read"] == c["accepted"] + c["duplicates"] + c.get("quarantined", 0) + c.get("failed", 0)
    assert c["truncated"] == 1 and c["requests"] == 7  # 6 answers + one 429
    assert all(t["teacher"] == "test-model" for t in trajs)
    samplings = [json.loads(t["sampling"]) for t in trajs]
    assert all(s["temperature"] == 0.7 and s["max_tokens"] == 64 and s["sample"] in (0, 1) for s in samplings)
    assert sum(t["truncated"] for t in trajs) == 1
    assert all(t["text"] and t["n_chars"] == len(t["text"]) for t in trajs)
    assert len(calls) == 7 and {x["status"] for x in calls} == {"ok", "http_429", "length"}
    assert all(x["item_id"] and x["run_id"] == report.run_id for x in calls)
    assert run[0]["status"] == "ok" and run[0]["tokens_in"] == sum(x["tokens_in"] for x in calls) > 0
    assert run[0]["cost_usd"] == pytest.approx(sum(x["cost_usd"] for x in calls))
    assert "127.0.0.1" in json.loads(run[0]["config"])["base_url"]


def test_rerun_sends_no_request_and_failures_are_retried(server, lake_root):
    add_problems(lake_root, 4)
    server.inject("500", times=3, kind="generate")  # one problem fails after max_retries=2
    with Lake.open(lake_root) as lake:
        first = generate(lake, client_for(server, lake_root), samples=1, batch_size=1)
    assert first.counts["failed"] == 1 and first.counts["accepted"] == 3
    n = len(server.log)
    with Lake.open(lake_root) as lake:
        second = generate(lake, client_for(server, lake_root), samples=1, batch_size=2)
        third = generate(lake, client_for(server, lake_root), samples=1, batch_size=2)
        assert lake.scalar("SELECT count(*) FROM trajectories") == 4
    assert second.counts == {"accepted": 1, "duplicates": 0, "read": 1, "requests": 1, "written.llm_calls": 1,
                             "written.trajectories": 1}
    assert len(server.log) == n + 1
    assert third.counts.get("read", 0) == 0


def test_unknown_model_cost_is_unknown(server, lake_root):
    add_problems(lake_root, 1)
    client = LLMClient(server.url, "unpriced-model", cache_dir=lake_root / "cache" / "llm")
    with Lake.open(lake_root) as lake:
        report = generate(lake, client)
        assert lake.scalar("SELECT cost_usd FROM runs WHERE run_id = ?", [report.run_id]) is None
        assert lake.scalar("SELECT teacher FROM trajectories") == "unpriced-model"
    assert report.cost_usd is None and report.tokens_in > 0


def test_cli_where_filter_and_bad_where(server, lake_root):
    add_problems(lake_root, 2, family="shopping")
    add_problems(lake_root, 3, family="travel", start=10)
    runner = CliRunner()
    base = ["generate", "--root", str(lake_root), "--base-url", server.url, "--model", "test-model"]
    result = runner.invoke(app, base + ["--where", "family = 'travel'"])
    assert result.exit_code == 0, result.output
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.rows("SELECT DISTINCT p.family FROM trajectories JOIN problems p USING (problem_id)") == [("travel",)]
    bad = runner.invoke(app, base + ["--where", "1=1) ; DELETE FROM problems; SELECT (1"])
    # refused by the user-SQL allow-list on DuckDB's parse tree, before anything runs
    assert bad.exit_code == 2 and "one statement at a time" in bad.output, bad.output
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.count("problems") == 5
    garbled = runner.invoke(app, base + ["--where", "1=1; DELETE FROM problems"])
    assert garbled.exit_code == 2 and "--where" in garbled.output
    worse = runner.invoke(app, base + ["--where", "no_such_column = 1"])
    assert worse.exit_code == 2 and "--where" in worse.output
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM problems") == 5


def test_endpoint_down_one_message_nothing_written(lake_root):
    add_problems(lake_root, 3)
    with LLMTestServer() as s:
        url = s.url  # closed again when the block ends
    result = CliRunner().invoke(app, ["generate", "--root", str(lake_root), "--base-url", url, "--model", "m",
                                      "--max-retries", "0"])
    assert result.exit_code == 1
    assert "cannot reach the LLM endpoint" in result.output and "Traceback" not in result.output
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM trajectories") == 0
        assert lake.scalar("SELECT count(*) FROM llm_calls") == 0
        assert lake.scalar("SELECT count(*) FROM runs WHERE stage = 'generate'") == 0


def test_bad_base_url_is_a_usage_error(lake_root):
    result = CliRunner().invoke(app, ["generate", "--root", str(lake_root), "--base-url", "ftp://x", "--model", "m"])
    assert result.exit_code == 2 and "not an http(s) URL" in result.output


def test_public_url_drops_credentials():
    assert public_url("https://user:sk-secret@api.example.com:8443/v1?key=abc") == "https://api.example.com:8443/v1"


def test_sigkill_mid_run_then_rerun_pays_nothing_twice(lake_root):
    """Kill `stratagem generate` with answers received but not all committed; the rerun
    must not send any request that already succeeded."""
    add_problems(lake_root, 8)
    cache = lake_root / "cache" / "llm"
    cmd = [sys.executable, "-m", "pipeline.cli", "generate", "--root", str(lake_root), "--model", "test-model",
           "--concurrency", "2", "--batch-size", "4"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with LLMTestServer(hang_s=20) as server:
        server.hold_after(6)  # batch 1 commits (4 answers), batch 2 gets 2 more, then requests are held
        succeeded = kill_once_cached(cmd + ["--base-url", server.url], cache, 6, server, cwd=REPO, env=env)
        assert len(succeeded) == 6
        n_first = len(server.log)
        server.release()
        with Lake.open(lake_root, read_only=True) as lake:
            committed = lake.scalar("SELECT count(*) FROM trajectories")
        assert committed == 4  # batch 1 only: the batch in flight was never committed
        rerun = subprocess.run(cmd + ["--base-url", server.url], cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        resent = [r for r in server.log[n_first:] if r.status != 0 and r.body_sha in succeeded]
        assert resent == []
        assert sum(1 for r in server.log[n_first:] if r.status == 200) >= 2
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM trajectories") == 8
        assert lake.scalar("SELECT count(*) FROM llm_calls WHERE status = 'cached'") == 2


def test_a_dripping_answer_is_a_timeout_row_in_llm_calls(lake_root):
    """`--timeout` bounds each attempt by the wall clock, body included, and the cut attempt is
    recorded as a timeout in llm_calls (the retry then succeeds)."""
    import time

    add_problems(lake_root, 2)
    with LLMTestServer(hang_s=30) as server:
        server.inject("drip", kind="generate", interval_s=0.2)
        t0 = time.monotonic()
        with Lake.open(lake_root) as lake:
            report = generate(lake, client_for(server, lake_root, timeout_s=1))
            statuses = sorted(r[0] for r in lake.rows("SELECT status FROM llm_calls"))
        elapsed = time.monotonic() - t0
    assert report.counts["accepted"] == 2 and statuses == ["ok", "ok", "timeout"]
    assert elapsed < 20, elapsed  # without the deadline: the whole drip, 30 s
