"""The ingest stage: files -> problems, trajectories, gold spans and quarantine, in one run.

    from pipeline.ingest import ingest, load_mapping
    with Lake.open(root) as lake:
        report = ingest(lake, [Path("gsm8k/test.jsonl")], load_mapping("gsm8k"))
    report.counts   # read, accepted, quarantined, duplicates, records, files, written.problems, ...

Every record is either stored, counted as a duplicate (its content id is already in the
lake, so re-ingest is a no-op), or quarantined with its file, line / row and reason:
read = accepted + quarantined + duplicates ("read" counts trajectory candidates, or problems
for a mapping without trajectories; "records" counts input records). A quarantine row
already stored for the same source, locator and reason is not stored again, so reruns do
not inflate the quarantine. A record that makes building its batch fail is found by
building that batch record by record, and quarantined with the error: no one record ends
the run. The run commits after every input (small files: every group of them, read as a
few merged batches) and every `checkpoint_bytes` of input, so a killed run keeps what it
committed and a rerun skips it. Three threads overlap: a reader reads and parses the next
block, the main thread builds rows from this one, a writer stores the previous rows (Arrow,
polars and DuckDB release the GIL). The writer drops rows whose key is already stored (keys
read once per run) and appends the rest as Parquet files added to the lake
(`Lake.append_file`).
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

from pipeline.ingest.build import Built, build_rows
from pipeline.ingest.extract import columns_for, fast_extract, finish_problems, finish_trajectories, slow_extract
from pipeline.ingest.mapping import Mapping
from pipeline.ingest.many import read_many
from pipeline.ingest.readers import Batch, Input, check_fields, discover, read_input
from schemas import TABLES, load_taxonomy
from warehouse import Lake, RunReport

BLOCK_BYTES = 4 << 20  # parsed at a time: 8 MiB is ~5% faster but peaks ~70 MB higher (300k-row bench)
INSERT_BYTES = 16 << 20  # written to the lake at a time: larger means fewer, bigger files but more memory
CHECKPOINT_BYTES = 128 << 20
COUNTS = ("read", "accepted", "quarantined", "duplicates")
SMALL_FILE_BYTES = 64 << 10  # files under this are read in groups, as merged batches
GROUP_MIN = 20  # fewer small files in a row are read (and reported) one by one
GROUP_FILES = 5_000  # at most this many small files (and INSERT_BYTES of them) per commit


def plan(paths: list[Path], mapping: Mapping) -> list[Input]:
    """What a run would read; raises InputError / MappingError (one line) before any write."""
    inputs = discover(paths, mapping)
    check_fields(inputs, mapping)
    return inputs


def ingest(lake: Lake, paths: list[Path], mapping: Mapping, *, source: str | None = None, teacher: str | None = None,
           progress=None, block_bytes: int = BLOCK_BYTES, insert_bytes: int = INSERT_BYTES,
           checkpoint_bytes: int = CHECKPOINT_BYTES,
           on_file: Callable[[str, dict, list[tuple[str, int]]], None] | None = None,
           planned: list[Input] | None = None) -> RunReport:
    """Ingest `paths` (files or folders) through `mapping`; returns the run's report.

    source / teacher: constants replacing the mapping's (`--source`, `--teacher`).
    block_bytes: input parsed per batch; insert_bytes: rows gathered per lake insert;
    checkpoint_bytes: input between commits inside a file (each input ends with a commit).
    progress: a Rich Progress advanced by bytes read; on_file: called after each input (or
    group of small files) is committed, with its name, its own counts and its most common
    quarantine reasons [(reason, n)]; planned: what `plan(paths, mapping)` returned for these
    paths (a caller that checked them first), so a folder is not walked twice.
    """
    mapping = mapping.with_overrides(source=source, teacher=teacher)
    inputs = planned if planned is not None else plan(paths, mapping)
    labels = set(load_taxonomy().names)
    cols = columns_for(mapping)
    config = {"mapping": mapping.describe(), "paths": [str(Path(p).resolve()) for p in paths],
              "source": mapping.source_name, "teacher": teacher}
    task = progress.add_task("ingest", total=sum(i.size for i in inputs)) if progress else None
    with lake.run("ingest", config) as run, _Writer(run) as writer, \
            ThreadPoolExecutor(1, thread_name_prefix="ingest-reader") as reader:
        for name in COUNTS:
            run.count(name, 0)
        since = 0
        for unit in _units(inputs, insert_bytes):
            before = writer.counts()
            done = 0
            if len(unit) == 1 and (unit[0].kind == "folder" or unit[0].size >= SMALL_FILE_BYTES):
                batches = _batches(unit[0], mapping, block_bytes, writer, reader)
            else:
                batches = _read_ahead(read_many(unit, mapping, block_bytes=block_bytes), reader)
            for batch in batches:
                for built in _build_safely(batch, mapping, cols, labels, run.run_id):
                    writer.add(built, 0)
                writer.add(Built(records=len(batch)), batch.nbytes)
                done += batch.nbytes
                since += batch.nbytes
                if progress:
                    progress.update(task, advance=batch.nbytes)
                if writer.nbytes >= insert_bytes:
                    writer.flush()
                if since >= checkpoint_bytes:
                    writer.checkpoint()
                    since = 0
            writer.add(Built(files=len(unit)), 0)
            writer.flush()
            if progress:
                progress.update(task, advance=max(sum(i.size for i in unit) - done, 0))
            writer.checkpoint()
            since = 0
            after = writer.counts()
            if on_file:
                name = str(unit[0].path) if len(unit) == 1 else \
                    f"{len(unit):,} small files ({unit[0].path} ... {unit[-1].path})"
                on_file(name, {k: after.get(k, 0) - before.get(k, 0) for k in after}, writer.reasons.most_common(3))
            writer.reasons.clear()
    return run.report


def _units(inputs: list[Input], insert_bytes: int) -> Iterator[list[Input]]:
    """Inputs in reading order, in units committed (and reported) together: each input alone,
    except runs of at least GROUP_MIN small files, read in groups of up to GROUP_FILES files
    and `insert_bytes` (a folder of per-problem files: one line and one commit per group)."""
    run: list[Input] = []
    for inp in [*inputs, None]:
        if inp is not None and inp.kind != "folder" and inp.size < SMALL_FILE_BYTES:
            run.append(inp)
            continue
        if len(run) < GROUP_MIN:
            yield from ([i] for i in run)
        else:
            group: list[Input] = []
            size = 0
            for small in run:
                group.append(small)
                size += small.size
                if len(group) >= GROUP_FILES or size >= insert_bytes:
                    yield group
                    group, size = [], 0
            if group:
                yield group
        run = []
        if inp is not None:
            yield [inp]


def _batches(inp: Input, mapping: Mapping, block_bytes: int, writer: "_Writer",
             reader: ThreadPoolExecutor | None = None) -> Iterator[Batch]:
    """The input's batches (read one ahead on `reader`, if given); a file that stops being
    readable part way is one quarantined item."""
    batches = read_input(inp, mapping, block_bytes=block_bytes)
    if reader is not None:
        batches = _read_ahead(batches, reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - whatever stops a reader costs one row, not the run
            reason = f"file unreadable: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}"
            writer.add(Built(rejects=[(str(inp.path), str(inp.path), reason, None)], items=1), 0)
            return
        yield batch


def _read_ahead(items: Iterator[Batch], pool: ThreadPoolExecutor) -> Iterator[Batch]:
    """`items`, the next one read and parsed on `pool` while the caller builds rows from this
    one (Arrow's JSON parser and polars release the GIL). A reader error is raised here."""
    end = object()
    future = pool.submit(next, items, end)
    try:
        while True:
            item = future.result()
            if item is end:
                return
            future = pool.submit(next, items, end)
            yield item
    finally:  # stopped early: let the pending read finish before the generator is dropped
        if not future.done():
            future.exception()


def build_batch(batch: Batch, mapping: Mapping, cols, labels: set[str], run_id: str) -> Built:
    """Rows and rejects (source, locator, reason, raw) for one batch."""
    raw = fast_extract(batch.frame, cols) if batch.frame is not None else None
    if raw is None:
        raw = slow_extract(*batch.slow(), cols)
    problems = finish_problems(raw, mapping)
    trajectories = [finish_trajectories(raw, mapping, i) for i in range(len(mapping.trajectory))]
    built = build_rows(batch, problems, trajectories, mapping, labels, run_id)
    built.rejects = [(batch.source(pos), batch.locator(pos) + suffix, reason, batch.raw(pos))
                     for pos, suffix, reason in built.rejects]
    return built


def _build_safely(batch: Batch, mapping: Mapping, cols, labels: set[str], run_id: str) -> list[Built]:
    """build_batch, or, when it fails, the batch record by record: a record that fails alone
    is quarantined with the error (one record never ends the run)."""
    try:
        return [build_batch(batch, mapping, cols, labels, run_id)]
    except Exception as exc:  # noqa: BLE001 - narrowed to the record below
        if len(batch) == 1:
            why = str(exc).splitlines()[0][:300] if str(exc) else ""
            reason = f"record could not be ingested ({type(exc).__name__}: {why})"
            return [Built(rejects=[(batch.source(0), batch.locator(0), reason, batch.raw(0))], items=1)]
    out: list[Built] = []
    for pos in range(len(batch)):
        out += _build_safely(batch.one(pos), mapping, cols, labels, run_id)
    return out


class _Writer:
    """Writes gathered rows on one background thread while the next batches are parsed.

    Only this thread touches the lake between `flush` and `wait`; `checkpoint` and
    `counts` wait for it first, so the lake and the run's counts are never shared."""

    def __init__(self, run):
        self.run = run
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="ingest-writer")
        self.future = None
        self.built: list[Built] = []
        self.nbytes = 0
        self.seen: dict[str, set] = {}  # table -> keys stored or written by this run
        self.reasons: Counter = Counter()  # quarantine reasons since the caller last cleared them

    def __enter__(self) -> "_Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
            self.wait()
        finally:
            self.pool.shutdown(wait=True)

    def add(self, built: Built, nbytes: int) -> None:
        self.built.append(built)
        self.nbytes += nbytes

    def flush(self) -> None:
        if self.built:
            self.wait()
            self.future = self.pool.submit(self._write, self.built)
            self.built, self.nbytes = [], 0

    def wait(self) -> None:
        future, self.future = self.future, None
        if future is not None:
            future.result()

    def checkpoint(self) -> None:
        self.flush()
        self.wait()
        self.run.checkpoint()

    def counts(self) -> dict:
        self.wait()
        return dict(self.run.counts)

    def _insert(self, table: str, parts: list[pa.Table | None]) -> int | None:
        parts = [p for p in parts if p is not None and p.num_rows]
        if not parts:
            return None
        data = pa.concat_tables(parts, promote_options="permissive")
        key = TABLES[table].key
        if len(key) != 1:
            return self.run.insert(table, data)
        n = self.run.lake.append_file(table, self._new_rows(table, key[0], data))
        self.run.count(f"written.{table}", n)
        return n

    def _new_rows(self, table: str, key: str, data: pa.Table) -> pa.Table:
        """Rows whose key is neither stored nor earlier in this run (or in `data`).

        Same result as `Lake.insert(skip_existing=True)`, without scanning the stored table
        per batch: its keys are read once per run, then kept up to date here (only this
        thread writes these tables while the run lasts, and a failed insert ends the run)."""
        seen = self.seen.get(table)
        if seen is None:
            stored = self.run.lake.query(f'SELECT "{key}" FROM lake.{table}').column(0)
            seen = self.seen[table] = set(stored.to_pylist())
        keep = []
        for k in data.column(key).to_pylist():
            new = k not in seen
            keep.append(new)
            if new:
                seen.add(k)
        return data if all(keep) else data.filter(pa.array(keep, pa.bool_()))

    def _write(self, built: list[Built]) -> None:
        run = self.run
        for b in built:
            for source, locator, reason, raw in b.rejects:
                self._quarantine(source, locator, reason, raw)
        new = self._insert("problems", [b.problems for b in built]) or 0
        self._insert("problems", [b.seeds for b in built])
        if any(b.trajectories is not None for b in built):
            new = self._insert("trajectories", [b.trajectories for b in built]) or 0
        self._insert("spans", [b.spans for b in built])
        run.count("read", sum(b.items for b in built))
        run.count("accepted", new)
        run.count("duplicates", sum(b.valid for b in built) - new)
        run.count("files", sum(b.files for b in built))
        run.count("records", sum(b.records for b in built))

    def _quarantine(self, source: str, locator: str, reason: str, raw) -> None:
        self.reasons[reason] += 1
        self.run.quarantine(source, locator, reason, raw)  # stored once, counted every time


def balance(counts: dict, what: str | None = None) -> str:
    """The bookkeeping line the CLI prints, e.g. "read 10 = accepted 7 + quarantined 2 + duplicates 1",
    with `what` (e.g. "trajectories") and the number of input records after it."""
    line = " ".join([f"read {counts.get('read', 0):,} =",
                     f"accepted {counts.get('accepted', 0):,} +",
                     f"quarantined {counts.get('quarantined', 0):,} +",
                     f"duplicates {counts.get('duplicates', 0):,}"])
    if what:
        n = counts.get("records", 0)
        line += f" ({what}, from {n:,} input record{'s' if n != 1 else ''})"
    return line

