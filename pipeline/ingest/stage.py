"""The ingest stage: files -> problems, trajectories, gold spans and quarantine, in one run.

    from pipeline.ingest import ingest, load_mapping
    with Lake.open(root) as lake:
        report = ingest(lake, [Path("gsm8k/test.jsonl")], load_mapping("gsm8k"))
    report.counts   # read, accepted, quarantined, duplicates, files, written.problems, ...

Every record is either stored, counted as a duplicate (its content id is already in the
lake, so re-ingest is a no-op), or quarantined with its file, line / row and reason:
read = accepted + quarantined + duplicates. The run commits after every file and every
`checkpoint_bytes` of input, so a killed run keeps what it committed and a rerun skips it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import polars as pl
import pyarrow as pa

from pipeline.ingest.build import build_rows
from pipeline.ingest.extract import columns_for, fast_extract, finish_problems, finish_trajectories, slow_extract
from pipeline.ingest.mapping import Mapping
from pipeline.ingest.readers import Batch, Input, check_fields, discover, read_input
from schemas import load_taxonomy
from warehouse import Lake, RunReport

BLOCK_BYTES = 16 << 20
CHECKPOINT_BYTES = 128 << 20
COUNTS = ("read", "accepted", "quarantined", "duplicates")


def plan(paths: list[Path], mapping: Mapping) -> list[Input]:
    """What a run would read; raises InputError / MappingError (one line) before any write."""
    inputs = discover(paths, mapping)
    check_fields(inputs, mapping)
    return inputs


def ingest(lake: Lake, paths: list[Path], mapping: Mapping, *, source: str | None = None, teacher: str | None = None,
           progress=None, block_bytes: int = BLOCK_BYTES, checkpoint_bytes: int = CHECKPOINT_BYTES,
           on_file: Callable[[Input, dict], None] | None = None) -> RunReport:
    """Ingest `paths` (files or folders) through `mapping`; returns the run's report.

    source / teacher: constants replacing the mapping's (`--source`, `--teacher`).
    progress: a Rich Progress to advance by bytes read; on_file: called after each input
    is committed with its counts so far.
    """
    mapping = mapping.with_overrides(source=source, teacher=teacher)
    inputs = plan(paths, mapping)
    labels = set(load_taxonomy().names)
    cols = columns_for(mapping)
    config = {"mapping": mapping.describe(), "paths": [str(Path(p).resolve()) for p in paths],
              "source": mapping.source_name, "teacher": teacher}
    task = progress.add_task("ingest", total=sum(i.size for i in inputs)) if progress else None
    with lake.run("ingest", config) as run:
        for name in COUNTS:
            run.count(name, 0)
        for inp in inputs:
            done = since = 0
            try:
                for batch in read_input(inp, mapping, block_bytes=block_bytes):
                    ingest_batch(run, batch, mapping, cols, labels)
                    done += batch.nbytes
                    since += batch.nbytes
                    if progress:
                        progress.update(task, advance=batch.nbytes)
                    if since >= checkpoint_bytes:
                        run.checkpoint()
                        since = 0
            except (OSError, ValueError, pa.ArrowException, pl.exceptions.PolarsError) as exc:
                # the file stopped being readable part way (changed, truncated, unreadable)
                run.count("read")
                run.quarantine(str(inp.path), str(inp.path), f"file unreadable: {str(exc).splitlines()[0][:300]}")
            if progress:
                progress.update(task, advance=max(inp.size - done, 0))
            run.count("files")
            run.checkpoint()
            if on_file:
                on_file(inp, dict(run.counts))
    return run.report


def ingest_batch(run, batch: Batch, mapping: Mapping, cols, labels: set[str]) -> None:
    raw = fast_extract(batch.frame, cols) if batch.frame is not None else None
    if raw is None:
        raw = slow_extract(*batch.slow(), cols)
    problems = finish_problems(raw, mapping)
    trajectories = [finish_trajectories(raw, mapping, i) for i in range(len(mapping.trajectory))]
    built = build_rows(batch, problems, trajectories, mapping, labels, run.run_id)
    for pos, suffix, reason in built.rejects:
        run.quarantine(batch.file, batch.locator(pos) + suffix, reason, batch.raw(pos))
    new = run.insert("problems", built.problems)
    if built.seeds is not None:
        run.insert("problems", built.seeds)
    if built.trajectories is not None:
        new = run.insert("trajectories", built.trajectories)
    if built.spans is not None:
        run.insert("spans", built.spans)
    run.count("read", built.items)
    run.count("accepted", new)
    run.count("duplicates", built.valid - new)


def balance(counts: dict) -> str:
    """The bookkeeping line the CLI prints, e.g. "read 10 = accepted 7 + quarantined 2 + duplicates 1"."""
    return " ".join([f"read {counts.get('read', 0):,} =",
                     f"accepted {counts.get('accepted', 0):,} +",
                     f"quarantined {counts.get('quarantined', 0):,} +",
                     f"duplicates {counts.get('duplicates', 0):,}"])


def counts_json(counts: dict) -> str:
    return json.dumps({k: counts.get(k, 0) for k in COUNTS}, sort_keys=True)
