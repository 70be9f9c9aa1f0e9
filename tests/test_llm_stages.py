"""The LLM tagger and describer through the `annotate` / `describe` commands, against the loopback
server: spans with offsets from code, llm_calls rows, token and cost totals on the run, and a
rerun that sends nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_server import LLMTestServer, kill_once_cached
from pipeline.cli import app
from warehouse import Lake

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def lake_with_sample(tmp_path, lake_root):
    runner = CliRunner()
    sample = tmp_path / "s.jsonl"
    for args in (["sample", "--n", "3", "--variants", "", "--trajectories", "1", "--out", str(sample)],
                 ["ingest", str(sample), "-m", "stratagem-sample", "--root", str(lake_root)],
                 ["verify", "--root", str(lake_root)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return lake_root


def test_annotate_and_describe_with_the_llm_annotators(lake_with_sample):
    root = lake_with_sample
    runner = CliRunner()
    with LLMTestServer() as server:
        llm = ["--root", str(root), "--base-url", server.url, "--model", "test-model"]
        server.inject("bad_quote", kind="tag")
        result = runner.invoke(app, ["annotate", "--annotator", "llm", *llm])
        assert result.exit_code == 0, result.output
        n = len(server.log)
        again = runner.invoke(app, ["annotate", "--annotator", "llm", *llm])
        assert again.exit_code == 0 and len(server.log) == n  # nothing pending, nothing sent
        result = runner.invoke(app, ["describe", "--annotator", "llm", "-k", "2", *llm])
        assert result.exit_code == 0, result.output
    with Lake.open(root, read_only=True) as lake:
        spans = lake.rows("SELECT s.start, s.\"end\", s.label, s.alignment, t.text FROM spans s "
                          "JOIN trajectories t USING (trajectory_id) WHERE s.annotator = 'llm:test-model'")
        assert spans
        for start, end, label, alignment, text in spans:
            assert 0 <= start < end <= len(text) and alignment in ("exact", "segment")
            if alignment == "exact":  # the server quotes the first four words of a segment
                assert 1 <= len(text[start:end].split()) <= 4
        runs = {stage: (run_id, tin, cost) for stage, run_id, tin, cost in lake.rows(
            "SELECT stage, run_id, tokens_in, cost_usd FROM runs WHERE stage IN ('annotate', 'describe') "
            "AND counts LIKE '%written.llm_calls%'")}
        run_id, tokens_in, cost = runs["annotate"]
        calls = lake.rows("SELECT status, tokens_in, cost_usd FROM llm_calls WHERE run_id = ?", [run_id])
        assert sorted(s for s, _, _ in calls).count("invalid") == 1  # the re-asked attempt is recorded and billed
        assert tokens_in == sum(t for _, t, _ in calls) and cost == pytest.approx(sum(c for _, _, c in calls))
        strategies = lake.rows("SELECT steps, leakage_flags FROM strategies WHERE annotator = 'llm:test-model'")
        assert strategies and all(steps for steps, _ in strategies)
        assert json.loads(lake.scalar("SELECT counts FROM runs WHERE run_id = ?", [runs["describe"][0]]))["described"] >= 1


def test_sigkill_mid_annotate_then_rerun_pays_nothing_twice(tmp_path, lake_root):
    runner = CliRunner()
    sample = tmp_path / "s.jsonl"
    for args in (["sample", "--n", "4", "--variants", "", "--trajectories", "2", "--out", str(sample)],
                 ["ingest", str(sample), "-m", "stratagem-sample", "--root", str(lake_root)]):
        assert runner.invoke(app, args).exit_code == 0
    cmd = [sys.executable, "-m", "pipeline.cli", "annotate", "--annotator", "llm", "--root", str(lake_root),
           "--model", "test-model", "--concurrency", "2", "--batch-size", "4", "--max-retries", "0"]
    cache = lake_root / "cache" / "llm"
    with LLMTestServer(hang_s=20) as server:
        server.hold_after(6)  # batch 1 commits (4 answers), batch 2 gets 2 more, then requests are held
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        succeeded = kill_once_cached(cmd + ["--base-url", server.url], cache, 6, server, cwd=REPO, env=env)
        assert len(succeeded) == 6
        n_first = len(server.log)
        server.release()
        with Lake.open(lake_root, read_only=True) as lake:
            assert lake.scalar("SELECT count(*) FROM tagged") == 4  # batch 1 only
        rerun = subprocess.run(cmd + ["--base-url", server.url], cwd=REPO, capture_output=True, text=True,
                               timeout=120, env=env)
        assert rerun.returncode == 0, rerun.stderr
        assert [r for r in server.log[n_first:] if r.status != 0 and r.body_sha in succeeded] == []
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM tagged") == 8
        assert lake.scalar("SELECT count(*) FROM llm_calls WHERE status = 'cached'") == 2


def test_the_api_key_reaches_no_table_no_cache_and_no_output(lake_with_sample, monkeypatch):
    key = "sk-live-DO-NOT-STORE-4242"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    root = lake_with_sample
    with LLMTestServer() as server:
        server.inject("echo", times=2, kind="tag")  # the server repeats the Authorization header in its errors
        result = CliRunner().invoke(app, ["annotate", "--annotator", "llm", "--root", str(root), "--base-url",
                                          server.url, "--model", "test-model", "--max-retries", "0"])
        assert result.exit_code == 0 and key not in result.output
    with Lake.open(root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM llm_calls WHERE status = 'http_400'") == 2
        for table in ("problems", "trajectories", "spans", "tagged", "runs", "quarantine", "llm_calls"):
            dump = str(lake.query(f"SELECT * FROM {table}").to_pylist())
            assert key not in dump and key[:12] not in dump, table
    for path in (root / "cache").rglob("*"):
        assert not path.is_file() or key.encode() not in path.read_bytes(), path
