"""The runs ledger: one `runs` row per stage run, written in the same transaction as the
stage's outputs, plus the quarantine every stage writes rejected inputs to.

    with lake.run("verify", {"checker": "v1"}) as run:
        run.insert("verdicts", table)          # counted under "written.verdicts"
        run.replace("reviews", rows)           # in place of the stored rows with their keys, counted too
        run.quarantine(src, "file:12", "missing field 'question'", raw)
        run.count("read", 100)
    report = run.report                        # RunReport, also stored in `runs`

Batched stages call `run.checkpoint()` to commit what they have (the runs row is written
with status "partial" and rewritten at the end), so a crash loses at most one batch.

Several runs at once (shard workers on a postgres catalog, pipeline/shards): each rewrite of a
runs row deletes only that run's previous row, which its own earlier insert wrote as a data file
of its own, and DuckLake only refuses concurrent commits that delete from the same data file (or
change the schema); other commits that overlap are retried by DuckLake itself. So concurrent
runs never conflict over `runs` (tests/test_shards.py runs four at once, batch by batch), as long
as nothing merges the runs table's small files while runs are writing
(ducklake_merge_adjacent_files, which stratagem never calls).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from schemas import QuarantineRecord, Run, content_id, to_arrow

if TYPE_CHECKING:
    from warehouse.lake import Lake

RAW_LIMIT = 4096  # characters of a rejected record kept in quarantine


@dataclass(frozen=True)
class RunReport:
    """What the CLI prints and the `runs` row stores."""

    run_id: str
    stage: str
    counts: dict[str, int]
    seconds: float
    status: str = "ok"
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None


@cache
def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("stratagem")
    except PackageNotFoundError:
        v = "0+unknown"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v}+g{sha}" if sha else v


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class RunContext:
    lake: Lake
    run_id: str
    stage: str
    config: dict
    started_at: datetime
    snapshot_id: int
    counts: Counter = field(default_factory=Counter)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0
    report: RunReport | None = None
    _quarantined: list[QuarantineRecord] = field(default_factory=list)
    _known: set[tuple[str, str, str]] | None = None  # (source, locator, reason) this stage has stored
    _t0: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, lake: Lake, stage: str, config: dict) -> "RunContext":
        now = datetime.now(timezone.utc)
        run_id = f"{now:%Y%m%dT%H%M%S}-{stage}-{content_id(now.isoformat(), os.getpid(), stage)[:6]}"
        return cls(lake=lake, run_id=run_id, stage=stage, config=config, started_at=now,
                   snapshot_id=lake.snapshot_id())

    # ------------------------------------------------------------ used by stages
    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def insert(self, table: str, data: pa.Table, *, skip_existing: bool = True) -> int:
        n = self.lake.insert(table, data, skip_existing=skip_existing)
        self.counts[f"written.{table}"] += n
        return n

    def replace(self, table: str, data: pa.Table) -> int:
        """`Lake.replace` (rows in place of the stored rows with the same key), counted like `insert`."""
        n = self.lake.replace(table, data)
        self.counts[f"written.{table}"] += n
        return n

    def quarantine(self, source: str, locator: str, reason: str, raw: str | bytes | None = None) -> None:
        """Keep a rejected input with its reason. Counted every time; stored once: a row this stage
        already holds (same source, locator and reason, from this run or an earlier one) is only
        counted again, as `quarantined.known`, so reruns do not inflate the quarantine."""
        if self._known is None:
            self._known = set(self.lake.rows("SELECT source, locator, reason FROM quarantine WHERE stage = ?",
                                             [self.stage]))
        self.counts["quarantined"] += 1
        key = (source, locator, reason)
        if key in self._known:
            self.counts["quarantined.known"] += 1
            return
        self._known.add(key)
        if isinstance(raw, bytes):
            raw = raw[: RAW_LIMIT * 4].decode("utf-8", errors="replace")
        self._quarantined.append(QuarantineRecord(
            run_id=self.run_id, stage=self.stage, source=source, locator=locator,
            reason=reason, raw=None if raw is None else raw[:RAW_LIMIT]))
        if len(self._quarantined) >= 10_000:
            self._flush_quarantine()

    def add_usage(self, tokens_in: int, tokens_out: int, cost_usd: float | None) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        if cost_usd is None or self.cost_usd is None:
            self.cost_usd = None  # one unpriced call makes the total unknown
        else:
            self.cost_usd += cost_usd

    def checkpoint(self) -> None:
        """Commit everything so far (status "partial") and continue in a new transaction."""
        self._flush_quarantine()
        self._write_run_row("partial")
        self.lake.commit_and_continue()

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> "RunContext":
        self._tx = self.lake.transaction()
        self._tx.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._tx.__exit__(exc_type, exc, tb)  # rolls back
            return False
        try:
            self._flush_quarantine()
            self._write_run_row("ok")
        except BaseException as inner:
            self._tx.__exit__(type(inner), inner, inner.__traceback__)
            raise
        self._tx.__exit__(None, None, None)
        return False

    def _flush_quarantine(self) -> None:
        if self._quarantined:
            self.lake.insert("quarantine", to_arrow(self._quarantined, QuarantineRecord), skip_existing=False)
            self._quarantined.clear()

    def _write_run_row(self, status: str) -> None:
        seconds = time.perf_counter() - self._t0
        counts = dict(sorted(self.counts.items()))
        row = Run(run_id=self.run_id, stage=self.stage, config=self.config, config_hash=config_hash(self.config),
                  code_version=code_version(), started_at=self.started_at,
                  finished_at=datetime.now(timezone.utc), status=status, counts=counts,
                  tokens_in=self.tokens_in, tokens_out=self.tokens_out, cost_usd=self.cost_usd,
                  snapshot_id=self.snapshot_id)
        self.lake.replace("runs", to_arrow([row], Run))
        self.report = RunReport(run_id=self.run_id, stage=self.stage, counts=counts, seconds=round(seconds, 3),
                                status=status, tokens_in=self.tokens_in, tokens_out=self.tokens_out,
                                cost_usd=self.cost_usd)
