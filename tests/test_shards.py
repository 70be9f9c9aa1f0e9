"""Several writers on one lake (pipeline/shards, issue 14 item 3): `--shard I/N` workers of annotate
and verify run at once as real processes on a PostgreSQL catalog and leave exactly the tables one
process leaves (no duplicate keys, no lost rows), also after one is SIGKILLed mid-run and its
shard rerun; the shard locks let shards of different stages write together and keep a whole-lake
writer out; workers opening a new catalog at once all get it; `stratagem run --shards 2` is
refused on a catalog that takes one writer. Real DuckLake, a real PostgreSQL server on loopback
(tests/pg.py; skipped where PostgreSQL is not installed), real processes.

    .venv/bin/python -m pytest tests/test_shards.py -q
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotators import get_tagger
from pipeline.annotate import annotate
from pipeline.cli import app
from pipeline.ingest.mapping import load_mapping
from pipeline.ingest.stage import ingest
from pipeline.pending import annotate_ids
from pipeline.sample.generate import write_sample
from pipeline.shards import Shard, shard_of
from pipeline.verify import verify
from schemas import TABLES
from warehouse import Lake, LakeBusy

REPO = Path(__file__).resolve().parents[1]
COMPARED = ("spans", "tagged", "verdicts")
NOT_CONTENT = {"run_id", "created_at", "started_at", "finished_at"}  # differ between any two runs


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "sample.jsonl"
    write_sample(path, 40, seed=0)  # 40 seeds with their perturbed variants: 240 trajectories
    return path


@pytest.fixture(scope="module")
def reference(sample, tmp_path_factory) -> dict:
    """The compared tables after one process ran annotate (rules) and verify, on the embedded catalog."""
    root = tmp_path_factory.mktemp("reference") / "lake"
    with Lake.open(root) as lake:
        ingest(lake, [sample], load_mapping("stratagem-sample"))
        annotate(lake, get_tagger("rules"))
        verify(lake)
    return tables(root, None)


def tables(root: Path, catalog: str | None) -> dict[str, list[tuple]]:
    """Each compared table's rows on their content columns (no run ids or times), sorted; asserts
    that no key is stored twice."""
    found = {}
    with Lake.open(root, read_only=True, catalog=catalog) as lake:
        for table in COMPARED:
            keys = ", ".join(f'"{k}"' for k in TABLES[table].key)
            dup = lake.rows(f"SELECT {keys}, count(*) FROM {table} GROUP BY ALL HAVING count(*) > 1 LIMIT 3")
            assert not dup, f"{table}: keys stored twice {dup}"
            cols = ", ".join(f'"{c}"' for c in TABLES[table].model_fields if c not in NOT_CONTENT)
            found[table] = sorted(lake.rows(f"SELECT {cols} FROM {table}"), key=repr)
    return found


def pg_lake(postgres, sample, root: Path, name: str) -> str:
    url = postgres.database(name)
    with Lake.open(root, catalog=url) as lake:
        ingest(lake, [sample], load_mapping("stratagem-sample"))
    return url


def worker(url: str, root: Path, stage: str, shard: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.cli", "--catalog", url, stage, "--root", str(root), "--shard", shard, *extra]
    return subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{err[-2000:]}"


def test_shards_split_by_family_and_sql_agrees_with_python(sample, lake_root):
    with Lake.open(lake_root) as lake:
        ingest(lake, [sample], load_mapping("stratagem-sample"))
        tagger = get_tagger("rules")
        parts = [set(annotate_ids(lake, tagger.name, tagger.version, shard=Shard(i, 3))) for i in range(3)]
        everything = set(annotate_ids(lake, tagger.name, tagger.version))
        family = dict(lake.rows("SELECT t.trajectory_id, coalesce(p.family_seed_id, p.problem_id) "
                                "FROM trajectories t JOIN problems p USING (problem_id)"))
    assert set().union(*parts) == everything and sum(map(len, parts)) == len(everything)  # disjoint, complete
    assert all(parts)  # 40 families spread over 3 shards
    for i, part in enumerate(parts):
        assert {shard_of(family[t], 3) for t in part} == {i}
    with pytest.raises(ValueError):
        Shard.parse("2/2")


def test_concurrent_workers_equal_one_process_then_a_sigkilled_shard_reruns(postgres, sample, reference, tmp_path):
    root = tmp_path / "lake"
    url = pg_lake(postgres, sample, root, "shards")
    # 2 annotate and 2 verify workers at once, small batches so their commits interleave
    procs = [worker(url, root, stage, f"{i}/2", "--batch-size", "10") for stage in ("annotate", "verify")
             for i in range(2)]
    for proc in procs:
        finish(proc)
    assert tables(root, url) == reference
    with Lake.open(root, read_only=True, catalog=url) as lake:
        shards = sorted(lake.rows("SELECT stage, json_extract_string(config, '$.shard'), status FROM runs "
                                  "WHERE stage IN ('annotate', 'verify')"))
    assert shards == [(s, f"{i}/2", "ok") for s in ("annotate", "verify") for i in range(2)]

    # again on a fresh lake, with annotate shard 0 SIGKILLed after it has committed some batches
    root, url = tmp_path / "killed", pg_lake(postgres, sample, tmp_path / "killed", "killed")
    victim = worker(url, root, "annotate", "0/2", "--batch-size", "2")
    others = [worker(url, root, "annotate", "1/2", "--batch-size", "10"),
              *(worker(url, root, "verify", f"{i}/2") for i in range(2))]
    committed = 0
    deadline = time.monotonic() + 60
    while committed < 10 and time.monotonic() < deadline and victim.poll() is None:
        with Lake.open(root, read_only=True, catalog=url) as lake:
            committed = lake.scalar("SELECT count(*) FROM tagged t JOIN runs r USING (run_id) "
                                    "WHERE json_extract_string(r.config, '$.shard') = '0/2'")
    assert victim.poll() is None, "shard 0/2 finished before it could be killed mid-run"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for proc in others:
        finish(proc)
    with Lake.open(root, read_only=True, catalog=url) as lake:
        (status, done), = lake.rows("SELECT r.status, count(t.trajectory_id) FROM runs r LEFT JOIN tagged t "
                                    "USING (run_id) WHERE r.stage = 'annotate' "
                                    "AND json_extract_string(r.config, '$.shard') = '0/2' GROUP BY ALL")
        families = [k for (k,) in lake.rows("SELECT coalesce(p.family_seed_id, p.problem_id) "
                                            "FROM trajectories t JOIN problems p USING (problem_id)")]
    in_shard = sum(shard_of(k, 2) == 0 for k in families)
    assert status == "partial" and 10 <= done < in_shard  # killed part way, its batches committed
    assert tables(root, url) != reference
    finish(worker(url, root, "annotate", "0/2", "--batch-size", "10"))  # the rerun resumes the shard
    assert tables(root, url) == reference


HOLD = """import sys
from warehouse import Lake
from pipeline.shards import Shard
lakes = []
for spec in sys.argv[3:]:
    stage, shard = spec.split()
    lock = Shard.parse(shard).lock_name(stage) if shard != "-" else None
    lakes.append(Lake.open(sys.argv[1], catalog=sys.argv[2], holder=spec, lock_name=lock))
print("ready", flush=True)
sys.stdin.read()
"""


def holding(root: Path, url: str | None, *writers: str) -> subprocess.Popen:
    """Another process holding the lake as `writers` ("STAGE I/N" for a shard worker, "STAGE -"
    for a whole-lake writer) until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), url or "", *writers], cwd=REPO, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_shard_locks_let_stages_write_together_and_keep_a_whole_lake_writer_out(postgres, tmp_path):
    root, url = tmp_path / "lake", postgres.database("locks")
    shard = Shard(0, 2)
    holder = holding(root, url, "annotate 0/2", "verify 0/2")  # two stages' shards write at once
    try:
        with pytest.raises(LakeBusy, match=rf"pid {holder.pid}, annotate 0/2.*writer-annotate-0of2\.lock"):
            Lake.open(root, catalog=url, holder="annotate 0/2", lock_name=shard.lock_name("annotate"))
        with pytest.raises(LakeBusy, match="shard workers") as whole:
            Lake.open(root, catalog=url, holder="ingest")
        assert "annotate 0/2" in str(whole.value) and "verify 0/2" in str(whole.value)
        with Lake.open(root, catalog=url, holder="annotate 1/2", lock_name=Shard(1, 2).lock_name("annotate")):
            pass  # another shard of the same stage gets in
        with pytest.raises(LakeBusy, match=rf"annotate shards of another count .*pid {holder.pid}, annotate 0/2"):
            Lake.open(root, catalog=url, holder="annotate 1/3", lock_name=Shard(1, 3).lock_name("annotate"))
        with Lake.open(root, catalog=url, holder="describe 1/3", lock_name=Shard(1, 3).lock_name("describe")):
            pass  # another count is fine for another stage
    finally:
        holder.communicate("")
    holder = holding(root, url, "ingest -")  # a whole-lake writer keeps shard workers out
    try:
        with pytest.raises(LakeBusy, match=rf"pid {holder.pid}, ingest -"):
            Lake.open(root, catalog=url, holder="annotate 1/2", lock_name=Shard(1, 2).lock_name("annotate"))
    finally:
        holder.communicate("")
    local = tmp_path / "local"  # on the embedded catalog a shard is one writer like any other
    holder = holding(local, None, "annotate 0/2")
    try:
        with pytest.raises(LakeBusy, match=rf"pid {holder.pid}, annotate 0/2"):
            Lake.open(local, holder="annotate 1/2", lock_name=Shard(1, 2).lock_name("annotate"))
    finally:
        holder.communicate("")


def test_workers_opening_a_new_postgres_catalog_at_once_all_get_it(postgres, tmp_path):
    url = postgres.database("fresh")
    code = ("import sys; from warehouse import Lake; from pipeline.shards import Shard\n"
            "lock = Shard(int(sys.argv[3]), 4).lock_name('x')\n"
            "with Lake.open(sys.argv[1], catalog=sys.argv[2], lock_name=lock) as l:\n"
            "    print(len(l.table_names()))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "lake"), url, str(i)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-500:] for _, err in outs]
    assert {out.strip() for out, _ in outs} == {str(len(TABLES))}
    with Lake.open(tmp_path / "lake", read_only=True, catalog=url) as lake:
        assert lake.table_names() == list(TABLES)
        assert lake.scalar("SELECT count(*) FROM meta WHERE key = 'views_sha256'") == 1


def test_run_refuses_several_shards_on_a_catalog_that_takes_one_writer(lake_root, monkeypatch):
    monkeypatch.delenv("STRATAGEM_CATALOG", raising=False)
    with Lake.open(lake_root):
        pass
    result = CliRunner().invoke(app, ["run", "annotate", "--shards", "2", "--root", str(lake_root)])
    assert result.exit_code == 2 and "--catalog postgres://" in result.output, result.output
    result = CliRunner().invoke(app, ["run", "annotate", "--shards", "2", "--shard", "0/2", "--root", str(lake_root)])
    assert result.exit_code == 2, result.output


def test_shard_workers_starting_together_replay_a_killed_runs_spend_journal_once(postgres, sample, tmp_path):
    """A killed LLM run's spend journal is replayed into llm_calls by the next run; two shard
    workers starting at once must not both replay it (their inserts would not see each other).
    To make them overlap for sure, a PostgreSQL session locks DuckLake's snapshot table until
    both workers have started: every commit waits, so without the replay guard both would read
    the journal and insert its rows before either commits."""
    from llm_server import LLMTestServer

    root = tmp_path / "lake"
    url = pg_lake(postgres, sample, root, "journal")
    spend = root / "cache" / "llm" / "spend"
    spend.mkdir(parents=True)
    rows = [{"run_id": "killed-run", "cache_key": f"k{i}", "item_id": f"t{i}", "model": "test-model", "attempt": 1,
             "status": "ok", "tokens_in": 10, "tokens_out": 5, "cost_usd": None, "latency_ms": 1.0, "error": None}
            for i in range(200)]
    (spend / "1-killed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    psql = [str(postgres.bin / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-d", "journal",
            "-v", "ON_ERROR_STOP=1", "-q"]
    lock = subprocess.Popen(psql + ["-At"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lock.stdin.write("BEGIN; LOCK TABLE ducklake_snapshot IN EXCLUSIVE MODE; SELECT 'locked';\n")
    lock.stdin.flush()
    assert lock.stdout.readline().strip() == "locked"
    with LLMTestServer() as server:
        llm = ["--annotator", "llm", "--base-url", server.url, "--model", "test-model", "--batch-size", "120"]
        procs = [worker(url, root, "annotate", f"{i}/2", *llm) for i in range(2)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both at a commit, or one at a commit and one at the guard
            waiting = subprocess.run(psql + ["-At", "-c", "SELECT count(*) FROM pg_locks WHERE NOT granted"],
                                     capture_output=True, text=True).stdout.strip()
            if waiting == "2" or (waiting == "1" and _at_guard(procs)):
                break
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.2)
        lock.communicate("COMMIT;\n", timeout=30)
        for proc in procs:
            finish(proc)
    with Lake.open(root, read_only=True, catalog=url) as lake:
        assert lake.scalar("SELECT count(*) FROM llm_calls WHERE run_id = 'killed-run'") == 200
        assert lake.scalar("SELECT count(*) FROM (SELECT DISTINCT cache_key, run_id, item_id, attempt "
                           "FROM llm_calls)") == lake.scalar("SELECT count(*) FROM llm_calls")
        recovered = [json.loads(c).get("recovered.llm_calls", 0) for (c,) in lake.rows(
            "SELECT counts FROM runs WHERE stage = 'annotate'")]
    assert sorted(recovered) == [0, 200]
    assert not list(spend.glob("*.jsonl"))


def _at_guard(procs) -> bool:
    """Whether one of the worker processes is blocked in flock (the replay guard)."""
    for p in procs:
        try:
            if Path(f"/proc/{p.pid}/wchan").read_text().strip() in ("flock_lock_inode_wait", "locks_lock_inode_wait",
                                                                    "__flock_lock_inode_wait"):
                return True
        except OSError:
            pass
    return False


def test_the_driver_sees_the_items_all_shards_committed(postgres, sample, tmp_path, monkeypatch):
    """`run`'s progress comes from the shared catalog (each shard rewrites its runs row at every
    batch commit): what it reports last is what the shards read, and it never goes down."""
    from pipeline.shards.fanout import fan_out

    root = tmp_path / "lake"
    monkeypatch.setenv("STRATAGEM_CATALOG", pg_lake(postgres, sample, root, "progress"))
    seen: list[int] = []
    results = fan_out("verify", ["--batch-size", "20"], 2, root=root, on_progress=seen.append, progress_s=0)
    assert [r.exit_code for r in results] == [0, 0]
    read = sum(r.counts().get("read", 0) for r in results)
    assert read == 240 and seen and seen[-1] == read and seen == sorted(seen)
