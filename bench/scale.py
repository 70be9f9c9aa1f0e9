"""Benchmark: sharded annotate on a PostgreSQL catalog with 1, 2 and 4 workers vs one process on
the embedded (SQLite) catalog, and `status` while two writers run.

    .venv/bin/python bench/scale.py [--seeds 200] [--workers 1 2 4] [--latency 0.1] [--quick]   # ~2.5 min

Starts its own throwaway PostgreSQL (tests/pg.py: initdb + pg_ctl in a temporary folder, loopback
only) and the loopback LLM server (tests/llm_server.py, `--latency` seconds per answer) in their
own processes, writes the built-in sample (`--seeds` seeds with their perturbed variants, six
trajectories each) and ingests it into one lake per setting. Then, per setting, the rules
tagger and then the LLM tagger (`--annotator llm`, concurrency 8 per worker, batches of 50) run
as real `stratagem annotate` processes started at once, worker i with `--shard i/N`.

Baseline: one `stratagem annotate` process (no --shard) on the embedded catalog, in the same run.
Throughput is trajectories per second of wall clock (process start included, as a user sees
it) and per second of stage time (from the first run's start to the last run's end in `runs`:
the work itself). Commit-conflict retries: DuckLake retries a conflicting commit itself and logs
nothing countable, but every failed attempt is an error in the PostgreSQL server log ("could
not serialize access due to concurrent update" or "duplicate key value"), so they are counted
there, per setting, against the snapshots (commits) the setting made. `status` latency: median
of `stratagem status` runs (each its own process) while two LLM workers write, against the same
command on the same lake at rest.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from pg import PostgresServer, binaries  # noqa: E402

from pipeline.ingest.mapping import load_mapping  # noqa: E402
from pipeline.ingest.stage import ingest  # noqa: E402
from pipeline.sample.generate import write_sample  # noqa: E402
from warehouse import Lake  # noqa: E402

CONFLICTS = ("could not serialize access", "duplicate key value")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def stratagem(*args: str, catalog: str | None = None) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *(["--catalog", catalog] if catalog else []), *args]


def make_lake(root: Path, sample: Path, catalog: str | None) -> None:
    with Lake.open(root, catalog=catalog) as lake:
        ingest(lake, [sample], load_mapping("stratagem-sample"))


def snapshots(root: Path, catalog: str | None) -> int:
    with Lake.open(root, read_only=True, catalog=catalog) as lake:
        return lake.snapshot_id()


def stage_span(root: Path, catalog: str | None, annotator: str) -> tuple[float, int]:
    """(seconds from the first annotate run's start to the last one's end, trajectories tagged)
    for `annotator`'s runs."""
    with Lake.open(root, read_only=True, catalog=catalog) as lake:
        rows = lake.rows("SELECT started_at, finished_at, counts FROM runs WHERE stage = 'annotate' "
                         "AND json_extract_string(config, '$.annotator') LIKE ?", [annotator + "%"])
    start, end = min(r[0] for r in rows), max(r[1] for r in rows)
    return (end - start).total_seconds(), sum(json.loads(r[2]).get("tagged", 0) for r in rows)


def conflict_count(log: Path, offset: int) -> tuple[int, int]:
    """(errors in the server log after `offset` that are DuckLake commit retries, the log's new size)."""
    text = log.read_text(errors="replace")
    return sum(text[offset:].count(c) for c in CONFLICTS), len(text)


def run_workers(root: Path, catalog: str | None, workers: int, extra: list[str]) -> float:
    """`workers` annotate processes at once (each its shard; one process: no --shard); wall seconds."""
    t0 = time.perf_counter()
    procs = []
    for i in range(workers):
        shard = ["--shard", f"{i}/{workers}"] if catalog else []
        procs.append(subprocess.Popen(stratagem("annotate", "--root", str(root), *shard, *extra, catalog=catalog),
                                      cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True))
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode:
            raise SystemExit(f"annotate worker failed (exit {p.returncode}): {err[-1500:]}")
    return time.perf_counter() - t0


def status_seconds(root: Path, catalog: str, stop: threading.Event | None, at_least: int) -> list[float]:
    """Times of `stratagem status` runs, one after another: until `stop` is set (at least
    `at_least` of them), or `at_least` of them."""
    times = []
    while len(times) < at_least or (stop is not None and not stop.is_set()):
        t0 = time.perf_counter()
        done = subprocess.run(stratagem("status", "--root", str(root), catalog=catalog), cwd=REPO, env=ENV,
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise SystemExit(f"status failed while writers ran: {done.stderr[-800:]}")
        times.append(time.perf_counter() - t0)
        if stop is None and len(times) >= at_least:
            break
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="sample seeds (6 trajectories each)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency", type=float, default=0.1, help="LLM server latency per answer, seconds")
    parser.add_argument("--quick", action="store_true", help="a small run for tests: 20 seeds, 1 and 2 workers")
    args = parser.parse_args()
    seeds = 20 if args.quick else args.seeds
    if args.quick:
        args.workers = [1, 2]
    if binaries() is None:
        raise SystemExit("PostgreSQL is not installed (Debian: apt-get install postgresql)")

    tmp = Path(tempfile.mkdtemp(prefix="stratagem-scale-"))
    pg_folder = Path(tempfile.mkdtemp(prefix="stratagem-scale-pg-"))  # its own: as root, the server runs as postgres
    pg = PostgresServer(pg_folder).start()
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "llm_server.py"), "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        sample = tmp / "sample.jsonl"
        write_sample(sample, seeds, seed=0)
        kinds = {"rules": ["--batch-size", "200"],
                 "llm": ["--annotator", "llm", "--base-url", url, "--model", "test-model", "--concurrency", "8",
                         "--batch-size", "50", "--max-retries", "0"]}
        settings = [("embedded (sqlite), 1 process", None, 1)] + [
            (f"postgres, {w} worker{'s' * (w > 1)}", w, w) for w in args.workers]
        log = pg.folder / "server.log"
        results = []
        status_busy: list[float] = []
        status_idle: list[float] = []
        for name, shards, workers in settings:
            root = tmp / f"lake-{shards or 'embedded'}"
            catalog = pg.database(f"scale_{shards}") if shards else None
            make_lake(root, sample, catalog)
            for kind, extra in kinds.items():
                snap0 = snapshots(root, catalog)
                _, offset = conflict_count(log, 0)
                stop = threading.Event()
                probe: list[float] = []
                watcher = None
                if catalog and workers == 2 and kind == "llm":  # status while two writers run
                    watcher = threading.Thread(target=lambda: probe.extend(status_seconds(root, catalog, stop, 1)))
                    watcher.start()
                wall = run_workers(root, catalog, workers, extra)
                stop.set()
                if watcher is not None:
                    watcher.join()
                    status_busy = probe
                    status_idle = status_seconds(root, catalog, None, max(3, len(probe)))
                span, tagged = stage_span(root, catalog, kind)
                retries, _ = conflict_count(log, offset) if catalog else (0, 0)
                results.append({"setting": name, "kind": kind, "workers": workers, "tagged": tagged, "wall": wall,
                                "span": span, "commits": snapshots(root, catalog) - snap0, "retries": retries})
        report(results, status_busy, status_idle, seeds, args.latency)
    finally:
        server.terminate()
        server.wait(timeout=10)
        pg.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_folder, ignore_errors=True)


def report(results: list[dict], busy: list[float], idle: list[float], seeds: int, latency: float) -> None:
    print(f"load avg {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; sample: {seeds} seeds, "
          f"{results[0]['tagged']} trajectories; LLM server latency {latency * 1000:.0f} ms, concurrency 8 per worker")
    print("baseline: one process on the embedded (sqlite) catalog, per tagger; ratio = throughput / baseline's")
    head = (f"{'tagger':7} {'setting':31} {'traj':>5} {'wall s':>7} {'traj/s':>7} {'ratio':>6} "
            f"{'stage s':>7} {'traj/s':>7} {'ratio':>6} {'commits':>7} {'retries':>7}")
    print(head)
    print("-" * len(head))
    base = {r["kind"]: r for r in results if r["workers"] == 1 and r["setting"].startswith("embedded")}
    for r in sorted(results, key=lambda r: (r["kind"] != "rules", r["setting"] != base[r["kind"]]["setting"],
                                            r["workers"])):
        b = base[r["kind"]]
        wall_tp, span_tp = r["tagged"] / r["wall"], r["tagged"] / max(r["span"], 1e-9)
        ratio_wall = wall_tp / (b["tagged"] / b["wall"])
        ratio_span = span_tp / (b["tagged"] / max(b["span"], 1e-9))
        print(f"{r['kind']:7} {r['setting']:31} {r['tagged']:5d} {r['wall']:7.2f} {wall_tp:7.1f} {ratio_wall:6.2f} "
              f"{r['span']:7.2f} {span_tp:7.1f} {ratio_span:6.2f} {r['commits']:7d} {r['retries']:7d}")
    if busy and idle:
        med_busy, med_idle = statistics.median(busy), statistics.median(idle)
        print(f"status while 2 postgres writers run (llm): median {med_busy:.2f} s over {len(busy)} runs; "
              f"at rest: {med_idle:.2f} s over {len(idle)}; ratio busy / rest = {med_busy / med_idle:.2f}")


if __name__ == "__main__":
    main()
