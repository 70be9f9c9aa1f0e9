"""Running the N shards of a stage at once, as local processes or as Ray tasks (`stratagem run`,
command.py).

    results = fan_out("annotate", ["--annotator", "rules"], 4, root=root, catalog=url)            # processes
    results = fan_out("annotate", [], 4, root=root, catalog=url, use_ray=True, address="auto")   # Ray tasks

Each shard runs the stage's own command with `--shard I/N` appended (so flags, the lake's
locks and the stage function are exactly those of `stratagem STAGE --shard I/N`) and commits
its own batches to the shared catalog. Locally each shard is `python -m pipeline.cli ...` in its
own process; with Ray each is a task (one CPU, never retried: a rerun of the shard resumes) that
runs the command inside its Ray worker process. The driver learns what each shard did from the
`runs` rows the shard recorded (config "shard": "I/N", started after the shard began): a shard
killed part way shows the batches it committed (status "partial"). The same rows give the
progress while the shards run: each shard rewrites its runs row at every batch commit, so the
sum of their "read" counts, read from the shared catalog every `progress_s`, is how many items
all shards have finished, whichever machines they run on.

Ray is imported only here and only for `use_ray` (`pip install stratagem[ray]`). A task gets the
catalog and data path through `STRATAGEM_CATALOG` / `STRATAGEM_DATA_PATH`; credentials
(PGPASSWORD, AWS_*) are never sent with a task: each machine's Ray workers read their own
environment.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pipeline.shards import Shard

STAGES = ("annotate", "verify", "describe", "generate")
FORWARDED_ENV = ("STRATAGEM_CATALOG", "STRATAGEM_DATA_PATH")  # where the lake is; never credentials
RAY_MISSING = "--ray needs the ray package: pip install 'stratagem[ray]'"


class FanOutError(Exception):
    """The fan-out cannot start (Ray missing or unreachable): one line for the CLI."""


@dataclass
class ShardResult:
    shard: str
    exit_code: int
    seconds: float
    runs: list[dict] = field(default_factory=list)  # {run_id, stage, status, counts} per run it recorded
    error: str = ""  # the end of its error output when it failed

    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for run in self.runs:
            for name, n in run["counts"].items():
                total[name] = total.get(name, 0) + n
        return total


def shard_runs(root: Path, shards: list[str], since: datetime) -> list[dict]:
    """The runs these shards recorded since `since` (their start on the same machine's clock)."""
    from warehouse import Lake

    with Lake.open(root, read_only=True) as lake:
        rows = lake.rows("SELECT run_id, stage, status, counts FROM runs "
                         "WHERE list_contains(?, json_extract_string(config, '$.shard')) AND started_at >= ? "
                         "ORDER BY started_at, run_id", [shards, since])
    return [{"run_id": r, "stage": s, "status": st, "counts": json.loads(c or "{}")} for r, s, st, c in rows]


def items_read(root: Path, shards: list[str], since: datetime) -> int | None:
    """How many items the shards' runs since `since` have committed (their "read" counts, summed);
    None when the catalog cannot be read right now (one that takes no reader during a write)."""
    from warehouse import LakeError

    try:
        return sum(run["counts"].get("read", 0) for run in shard_runs(root, shards, since))
    except LakeError:
        return None


class _ProgressPoll:
    """Calls `report(items_read(...))` at most every `every_s` seconds, and once more at the end."""

    def __init__(self, root: Path, shards: list[str], report: Callable[[int], None] | None, every_s: float):
        self.root, self.shards, self.report, self.every_s = root, shards, report, every_s
        self.since, self.last = datetime.now(timezone.utc), time.monotonic()

    def __call__(self, final: bool = False) -> None:
        if self.report is None or not (final or time.monotonic() - self.last >= self.every_s):
            return
        self.last = time.monotonic()
        n = items_read(self.root, self.shards, self.since)
        if n is not None:
            self.report(n)


def shard_env() -> dict[str, str]:
    return {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}


def run_shard_here(stage: str, args: list[str], shard: str, env: dict[str, str], root: str) -> dict:
    """One shard in this process (a Ray task's body): the stage's command with `--shard`, its
    printed output captured; returns ShardResult's fields."""
    import click

    from pipeline.cli import build_app

    os.environ.update(env)
    since, t0 = datetime.now(timezone.utc), time.perf_counter()
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            code = build_app(stage)(args=[stage, *args, "--shard", shard], prog_name="stratagem",
                                    standalone_mode=False) or 0
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except Exception as exc:  # noqa: BLE001 -- reported as this shard's failure, not the driver's
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
    runs = shard_runs(Path(root), [shard], since)
    return {"shard": shard, "exit_code": int(code), "seconds": round(time.perf_counter() - t0, 3), "runs": runs,
            "error": _tail(err.getvalue()) if code else ""}


def fan_out(stage: str, args: list[str], count: int, *, root: Path, use_ray: bool = False,
            address: str | None = None, on_update: Callable[[dict[str, str]], None] | None = None,
            on_progress: Callable[[int], None] | None = None, progress_s: float = 2.0,
            poll_s: float = 0.5) -> list[ShardResult]:
    """Run shards 0..count-1 of `stage` at once; one ShardResult per shard, in shard order.
    `on_update` gets {shard: state} whenever a shard's state changes; `on_progress` gets the
    items all shards have committed so far, every `progress_s` seconds and once at the end."""
    shards = [str(Shard(i, count)) for i in range(count)]
    args = [*args, "--root", str(root)]
    run = _ray_shards if use_ray else _local_shards
    poll = _ProgressPoll(root, shards, on_progress, progress_s)
    results = run(stage, args, shards, root=root, address=address, on_update=on_update or (lambda states: None),
                  poll_s=poll_s, poll=poll)
    poll(final=True)
    return results


def _local_shards(stage, args, shards, *, root, address, on_update, poll_s, poll) -> list[ShardResult]:
    env = {**os.environ, **shard_env()}
    results: dict[str, ShardResult] = {}
    with tempfile.TemporaryDirectory(prefix="stratagem-run-") as tmp:
        started = {}
        for shard in shards:
            err = open(Path(tmp) / f"{shard.replace('/', 'of')}.err", "w+")
            proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", stage, *args, "--shard", shard], env=env,
                                    stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
            started[shard] = (proc, err, datetime.now(timezone.utc), time.perf_counter())
        on_update({s: "running" for s in shards})
        try:
            while len(results) < len(shards):
                for shard, (proc, err, since, t0) in started.items():
                    if shard in results or proc.poll() is None:
                        continue
                    err.seek(0)
                    results[shard] = ShardResult(shard, proc.returncode, round(time.perf_counter() - t0, 3),
                                                 shard_runs(root, [shard], since),
                                                 _tail(err.read()) if proc.returncode else "")
                    err.close()
                    on_update({shard: _state(results[shard])})
                poll()
                time.sleep(poll_s)
        finally:  # the driver interrupted: its shards stop too (each keeps what it committed)
            for proc, err, _, _ in started.values():
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait()
                err.close()
    return [results[s] for s in shards]


def _ray_shards(stage, args, shards, *, root, address, on_update, poll_s, poll) -> list[ShardResult]:
    try:
        import ray
    except ImportError:
        raise FanOutError(RAY_MISSING) from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, logging_level="warning")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a new local cluster"
            raise FanOutError(f"cannot reach Ray at {where}: {str(exc).splitlines()[0]}") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_shard_here)
        refs = {task.remote(stage, args, shard, shard_env(), str(root)): shard for shard in shards}
        on_update({s: "running" for s in shards})
        results: dict[str, ShardResult] = {}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=poll_s)
            for ref in done:
                shard = refs[ref]
                try:
                    results[shard] = ShardResult(**ray.get(ref))
                except Exception as exc:  # noqa: BLE001 -- a worker that died: this shard failed
                    results[shard] = ShardResult(shard, 1, 0.0, [], _tail(f"ray task failed: {exc}"))
                on_update({shard: _state(results[shard])})
            poll()
        return [results[s] for s in shards]
    finally:
        if started_here:
            ray.shutdown()


def _state(result: ShardResult) -> str:
    return "done" if result.exit_code == 0 else f"failed (exit {result.exit_code})"


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
