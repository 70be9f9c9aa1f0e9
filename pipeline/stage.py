"""The batched-stage kit: the loop annotate, describe, generate and verify (and its LLM judge)
share, written once.

A stage says what is pending, how to read a batch, how to process it and what to keep of each
result. The kit owns the rest: one run (each batch's outputs and the `runs` row commit
together, `run.checkpoint()`, so a kill loses at most one batch), the counts (`read`,
`failed`, `requests` / `cached`, `written.<table>`), the quarantine of failed items, the
`llm_calls` rows and the run's token and cost totals, the replay of a killed run's spend
journal, and the progress bar.

    class Shout(BatchedStage):
        name = "shout"                                       # the runs.stage value
        def pending(self, lake): return ids                  # keys in order
        def load(self, lake, keys): return items             # one batch (default: the keys)
        def process(self, items, on_done): return results    # each with .error and .calls
        def item_id(self, item): return item.id
        def accept(self, item, result, out):                 # a result without error
            out.add("spans", rows, duplicates="spans.duplicates")
            out.count("tagged")
    report = Shout().run(lake, progress=bar)

A stage that works on whole batches (verify: Arrow in, Arrow out) overrides `handle` instead
of `process` / `accept`; one whose pages depend on what it wrote overrides `batches`.

Sharded (`--shard I/N`, pipeline/shards): a stage's `shard` (None: all the work) goes to its
pending query (pipeline/pending.py); the kit records it in the run's config ("shard": "I/N")
and in the progress bar's title. Each shard's run commits on its own, like any run.
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from pydantic import ValidationError

from schemas import TABLES, LLMCall, to_arrow

if TYPE_CHECKING:
    from rich.progress import Progress

    from pipeline.shards import Shard

    from warehouse import Lake, RunContext, RunReport


class BatchOut:
    """What one batch keeps: rows per table (written by the kit after the batch), counts,
    quarantined items and the `llm_calls` rows of the results."""

    def __init__(self, run: RunContext, source: str):
        self.run = run
        self.source = source
        self.rows: dict[str, list] = defaultdict(list)
        self.tables: list = []  # (table, Arrow table) written as they are
        self.names: dict[str, tuple[str | None, str | None]] = {}

    def add(self, table: str, rows: Sequence, *, new: str | None = None, duplicates: str | None = None) -> None:
        """Rows (models of `table`) to insert; `new` / `duplicates` name counts for how many were
        new and how many the lake already held."""
        self.rows[table].extend(rows)
        if new or duplicates:
            self.names[table] = (new, duplicates)

    def add_table(self, table: str, data) -> None:
        """An Arrow table to insert as it is."""
        self.tables.append((table, data))

    def count(self, name: str, n: int = 1) -> None:
        self.run.count(name, n)

    def quarantine(self, locator: str, reason: str, raw: str | None = None) -> None:
        self.run.quarantine(self.source, locator, reason, raw)

    def calls(self, calls, item_id: str | None) -> None:
        """`llm_calls` rows for one item's `LLMUsage` list, each counted as `cached` or `requests`
        and added to the run's token and cost totals."""
        run = self.run
        for call in calls:
            run.count("cached" if call.status == "cached" else "requests")
            run.add_usage(call.tokens_in, call.tokens_out, call.cost_usd)
            self.rows["llm_calls"].append(LLMCall(
                cache_key=call.cache_key, run_id=run.run_id, item_id=item_id, model=call.model,
                attempt=call.attempt, status=call.status, tokens_in=call.tokens_in, tokens_out=call.tokens_out,
                cost_usd=call.cost_usd, latency_ms=call.latency_ms, error=call.error))

    def write(self) -> None:
        for table, data in self.tables:
            self.run.insert(table, data)
        for table, rows in self.rows.items():
            if not rows:
                continue
            written = self.run.insert(table, to_arrow(rows, TABLES[table]))
            new, duplicates = self.names.get(table, (None, None))
            if new:
                self.run.count(new, written)
            if duplicates:
                self.run.count(duplicates, len(rows) - written)


class BatchedStage:
    """One batched stage (module docstring). Attributes: `name` (the runs.stage value and the
    quarantine source), `batch_size`, `client` (an llm.LLMClient when the stage sends requests:
    its spend journal is replayed and closed by the kit)."""

    name: str = ""
    batch_size: int = 500
    client: Any = None
    shard: Shard | None = None

    # ---------------------------------------------------------------- what a stage fills in
    def config(self) -> dict:
        """What the `runs` row records of this run's settings."""
        return {}

    def label(self) -> str:
        """The progress bar's title."""
        return self.name

    def pending(self, lake: Lake) -> Sequence:
        """The keys of the work still to do, in order."""
        raise NotImplementedError

    def load(self, lake: Lake, keys: Sequence) -> list:
        """The items of one batch of keys."""
        return list(keys)

    def process(self, items: list, on_done: Callable[[Any], None]) -> list:
        """One result per item, in order, each with `.error` (None when it worked) and `.calls`
        (`LLMUsage` list); may call `on_done(result)` as each finishes (finer progress)."""
        raise NotImplementedError

    def item_id(self, item) -> str:
        raise NotImplementedError

    def accept(self, item, result, out: BatchOut) -> None:
        """Keep what a result without error produced."""
        raise NotImplementedError

    def failure(self, item, result) -> str | None:
        """Why `result` failed (it is then counted `failed`, quarantined with this reason and
        written nowhere), or None when it did not."""
        return None if result.error is None else f"{self.label()} failed: {result.error}"

    def quarantined_raw(self, item, result) -> str | None:
        """What the quarantine keeps of a failed item (None: keep nothing, e.g. a retryable
        request failure the next run asks again)."""
        return None

    def start(self, run: RunContext) -> None:
        """Before the first batch (e.g. counts that must show even at 0)."""

    # ---------------------------------------------------------------- the kit
    def batches(self, lake: Lake) -> tuple[int, Iterator[list]]:
        """(how many items in all, the batches): `pending` in slices of `batch_size`, `load`ed."""
        keys = self.pending(lake)
        return len(keys), (self.load(lake, keys[lo:lo + self.batch_size])
                           for lo in range(0, len(keys), self.batch_size))

    def handle(self, items: list, out: BatchOut, on_done: Callable[[Any], None]) -> None:
        """Process one batch and keep its results: calls recorded, failures quarantined."""
        results = self.process(items, on_done)
        if len(results) != len(items):
            raise RuntimeError(f"{self.label()} returned {len(results)} results for {len(items)} items")
        for item, result in zip(items, results):
            item_id = self.item_id(item)
            out.calls(result.calls, item_id)
            reason = self.failure(item, result)
            if reason is not None:
                out.count("failed")
                raw = self.quarantined_raw(item, result)
                if raw is not None:
                    out.quarantine(item_id, reason, raw)
                continue
            self.accept(item, result, out)

    def run(self, lake: Lake, *, progress: Progress | None = None) -> RunReport:
        """Run every pending batch; returns the run report."""
        total, batches = self.batches(lake)
        label, config = self.label(), self.config()
        if self.shard is not None:
            label, config = f"{label} [shard {self.shard}]", config | {"shard": str(self.shard)}
        task = progress.add_task(label, total=total) if progress is not None else None
        done_in_batch = [0]

        def on_done(_result) -> None:
            done_in_batch[0] += 1
            if task is not None:
                progress.advance(task)

        with llm_spend(self.client) as start_spend, lake.run(self.name, config) as run:
            start_spend(run)
            self.start(run)
            for items in batches:
                done_in_batch[0] = 0
                run.count("read", len(items))
                out = BatchOut(run, self.name)
                self.handle(items, out, on_done)
                out.write()
                run.checkpoint()
                if task is not None:
                    progress.advance(task, len(items) - done_in_batch[0])
        return run.report


@contextmanager
def llm_spend(client):
    """Around a stage's `lake.run`: yields `start(run)`, which replays the spend journals of killed
    runs into `llm_calls` (rows already committed are skipped by their key, so nothing counts
    twice; counted as recovered.llm_calls) and journals this run's paid attempts. The run's own
    journal is deleted once the run has committed, kept for the next run if it did not.
    `client` None (a rules annotator) or without a cache: nothing to do."""
    journal = getattr(client, "journal", None)

    def start(run) -> None:
        if journal is None:
            return
        with _replay_guard(journal.folder):  # shard workers starting at once replay each journal once
            rows, files = [], []
            for path, attempts in journal.orphans():
                files.append(path)
                for a in attempts:
                    try:
                        rows.append(LLMCall(**a))
                    except (ValidationError, TypeError):
                        run.count("recovered.unreadable")  # a hand-edited or foreign line: never a crash
            if rows:
                run.count("recovered.llm_calls", run.insert("llm_calls", to_arrow(rows, LLMCall)))
                run.checkpoint()
            for path in files:
                journal.discard(path)
        client.run_id = run.run_id

    try:
        yield start
    except BaseException:
        if journal is not None:
            journal.close(delete=False)
        raise
    finally:
        if client is not None:
            client.run_id = None
    if journal is not None:
        journal.close(delete=True)


@contextmanager
def _replay_guard(folder):
    """An exclusive flock on <journal folder>/replay.lock: two runs starting at once (shard
    workers) would otherwise both read a killed run's journal, both insert its rows in
    transactions that do not see each other, and store them twice."""
    import fcntl
    import os

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "replay.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
