"""Hostile LLM endpoints through the real CLI: every fault mode of the loopback test server
(tests/llm_server.py, a real OpenAI-compatible HTTP server) hits `stratagem annotate
--annotator llm` and `describe --annotator llm` in a child process. For each: no crash, no
hang, exit 0 with the failure recorded in llm_calls; at the end a clean rerun leaves nothing
pending, every attempt is accounted for, and the API key is in no table, cache file or output.

    .venv/bin/python -m pytest tests/hostile/test_llm_hostile.py
"""
from __future__ import annotations

import email.utils
import time

import pytest
from harness import Sentinel, last_counts, run_cli

from llm_server import LLMTestServer
from warehouse import Lake

KEY = "sk-hostile-key-never-stored-0123456789"
# (fault, options): every mode the server knows; the 429s carry unusable or odd retry-after values
FAULTS = [("429", {"retry_after": "abc"}), ("429", {"retry_after": "-5"}), ("429", {"retry_after": "1e400"}),
          ("429", {"retry_after": email.utils.formatdate(time.time() + 1, usegmt=True)}),
          ("500", {}), ("hang", {}), ("malformed", {}), ("length", {}), ("bad_quote", {}),
          ("out_of_bounds", {}), ("bad_label", {}), ("echo", {"pad": "x" * 400}), ("drip", {"interval_s": 0.5})]


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("llm-hostile")
    root = base / "lake"
    sample = base / "sample.jsonl"
    run_cli(["sample", "--n", "4", "--seed", "3", "--out", str(sample)], root=None)
    assert run_cli(["ingest", str(sample)], root=root).returncode == 0
    return root


def flags(server, stage_limit: int) -> list[str]:
    return ["--annotator", "llm", "--base-url", server.url, "--model", "test-model", "--api-key-env",
            "STRATAGEM_HOSTILE_KEY", "--max-retries", "1", "--timeout", "3", "--limit", str(stage_limit)]


def test_every_fault_mode_is_survived_recorded_and_never_leaks_the_key(lake_root):
    sentinel = Sentinel.beside(lake_root)
    env = {"STRATAGEM_HOSTILE_KEY": KEY}
    outputs = []
    with LLMTestServer(hang_s=10) as server:
        for fault, options in FAULTS:
            for stage in ("annotate", "describe"):
                server.inject(fault, times=2, **options)
                t0 = time.monotonic()
                res = run_cli([stage, *flags(server, 2)], root=lake_root, env=env, timeout=120)
                outputs.append(res.out + res.err)
                assert res.returncode == 0, f"{stage} under {fault}: exit {res.returncode}\n{res.err[-2000:]}"
                assert time.monotonic() - t0 < 90, f"{stage} under {fault} took {time.monotonic() - t0:.0f} s"
        # a clean endpoint: what failed is pending, and now done (--retry-failed: answers that failed
        # validation are cached and would otherwise be recorded as the same failure again)
        server.clear_faults()
        for stage in ("annotate", "describe"):
            res = run_cli([stage, *flags(server, 10_000), "--retry-failed"], root=lake_root, env=env, timeout=300)
            outputs.append(res.out + res.err)
            assert res.returncode == 0, res.err[-2000:]
        again = run_cli(["annotate", *flags(server, 10_000)], root=lake_root, env=env, timeout=120)
        assert last_counts(lake_root, "annotate").get("read", 0) == 0, again.out  # nothing left pending
        served = len(server.log)
    with Lake.open(lake_root, read_only=True) as lake:
        statuses = dict(lake.rows("SELECT status, count(*) FROM llm_calls GROUP BY 1"))
        assert sum(statuses.values()) >= served - 4, (statuses, served)  # every attempt is a row (a few may
        assert statuses.get("ok", 0) > 0 and len(statuses) > 2, statuses    # be dropped hangs the client cut)
        pending = lake.scalar("""SELECT count(*) FROM trajectories t WHERE NOT EXISTS
                                 (SELECT 1 FROM tagged g WHERE g.trajectory_id = t.trajectory_id)""")
        assert pending == 0
        dump = [str(v) for table in ("llm_calls", "runs", "quarantine", "spans", "strategies")
                for row in lake.rows(f"SELECT * FROM {table}") for v in row]
    assert not any(KEY in v for v in dump)
    assert not any(KEY in o for o in outputs)
    cache = lake_root / "cache"
    assert not any(KEY in p.read_text(errors="replace") for p in cache.rglob("*") if p.is_file())
    sentinel.assert_untouched()
