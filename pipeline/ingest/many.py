"""Many small files read as a few batches: their records merged, each keeping its locator.

    for batch in read_many(inputs, mapping, block_bytes=4 << 20):   # a folder of per-problem files
        batch.locator(i), batch.source(i)                           # per record: "dir/p7.json#0", "dir/p7.json"

A batch per file would cost a polars pass per file (10,000 files: ~50x one JSONL file); a
small .json / .jsonl file is read whole, in one open, through `limits.parse_record`.
"""
from __future__ import annotations

from typing import Iterator

from pipeline.ingest.discovery import Input, open_regular
from pipeline.ingest.limits import MAX_RECORD_BYTES, parse_record
from pipeline.ingest.mapping import Mapping
from pipeline.ingest.readers import BOM, RECORDS_PER_BATCH, Batch, _nonblank_lines, _record_batch, read_input, read_json


def read_many(inputs: list[Input], mapping: Mapping, *, block_bytes: int) -> Iterator[Batch]:
    """The records of many small inputs, merged into batches of up to RECORDS_PER_BATCH records
    or `block_bytes` (a batch per file would cost a polars pass per file). A file that cannot
    be read is one record with the reason."""
    parts: list[tuple[Batch, int]] = []
    nbytes = 0
    for inp in inputs:
        try:
            batches = [_small_json(inp)] if inp.kind in ("json", "jsonl") and not mapping.records else \
                list(read_input(inp, mapping, block_bytes=block_bytes))
            for b in batches:
                b.slow()
        except Exception as exc:  # noqa: BLE001 - one unreadable file is that file's quarantine row
            reason = f"file unreadable: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}"
            batches = [Batch(str(inp.path), ":", [0], inp.size, locators=[str(inp.path)],
                             _slow=lambda reason=reason: ([None], [reason]), _raw=lambda pos: "")]
        for b in batches:
            parts += [(b, pos) for pos in range(len(b))]
            nbytes += b.nbytes
        if len(parts) >= RECORDS_PER_BATCH or nbytes >= block_bytes:
            yield merge(parts, nbytes)
            parts, nbytes = [], 0
    if parts:
        yield merge(parts, nbytes)


def _small_json(inp: Input) -> Batch:
    """A small .json / .jsonl file read whole, in one open: one object, an array, or lines."""
    with open_regular(inp.path) as f:
        data = f.read(MAX_RECORD_BYTES + 1)
    body = data.removeprefix(BOM)
    sep, numbers, records, errors, raws = "#", [0], [], [], [body]
    if inp.kind == "json" and body.lstrip()[:1] == b"[":
        return next(read_json(inp.path, _NO_RECORDS, block_bytes=MAX_RECORD_BYTES), None) or \
            _record_batch(str(inp.path), "#", [], [], [], 0)
    record, error = parse_record(body) if inp.kind == "json" else (None, "lines")
    if error and (inp.kind == "jsonl" or error.startswith("invalid JSON: Extra data")):
        numbers, lines = _nonblank_lines(body, 1)
        sep, raws = ":", lines
        for line in lines:
            record, error = parse_record(line)
            records.append(record)
            errors.append(error)
    else:
        records, errors = [record], [error]
    return _record_batch(str(inp.path), sep, numbers, records, errors, len(data), raws=raws)


class _NoRecords:
    records = None


_NO_RECORDS = _NoRecords()


def merge(parts: list[tuple[Batch, int]], nbytes: int) -> Batch:
    """One batch of the records (batch, position) of other batches, each keeping its locator."""
    records, errors, locators, sources, rows = [], [], [], [], []
    for b, pos in parts:
        one = b.one(pos)
        (record,), (error,) = one.slow()
        records.append(record)
        errors.append(error)
        locators += one.locators
        sources += one.sources
        rows += one.rows
    return Batch("(many files)", ":", range(len(parts)), nbytes, locators=locators, sources=sources, rows=rows,
                 _slow=lambda: (records, errors), _raw=lambda i: parts[i][0].raw(parts[i][1]))
