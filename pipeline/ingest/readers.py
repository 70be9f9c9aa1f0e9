"""Streaming readers: every input becomes a sequence of `Batch`es.

    inputs = discover([Path("data/")], mapping)   # (discovery.py) what to read, checked up front
    for batch in read_input(inputs[0], mapping, block_bytes=16 << 20):
        batch.frame      # Arrow-parsed polars frame for the fast path (None: use batch.slow())
        batch.slow()     # (records, errors): per-record Python objects and read errors
    for batch in read_many(small_inputs, mapping, block_bytes=4 << 20, on_error=...):
        ...              # many small files, their records merged into few batches

Nothing is held whole: JSON lines are read in byte blocks cut at line ends, Parquet by
record batches, CSV row by row (`csv_reader`), JSON arrays element by element
(`json_array`), folders one record at a time. Each record's bytes pass `limits` (size,
nesting depth, number length, lone surrogates) before a parser sees them, and any read
error travels with the batch as that record's error, with the line or row it came from.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from pipeline.ingest import csv_reader
from pipeline.ingest.discovery import SUFFIXES, Input, InputError, discover, open_regular, record_dirs
from pipeline.ingest.json_array import split_array
from pipeline.ingest.limits import MAX_RECORD_BYTES, arrow_safe, parse_record
from pipeline.ingest.mapping import Mapping, MappingError

__all__ = ["SUFFIXES", "Batch", "Input", "InputError", "check_fields", "discover", "peek_fields", "read_input"]

BOM = b"\xef\xbb\xbf"
RECORDS_PER_BATCH = 5_000
RAW_CHARS = 4096
PEEK_INPUTS = 50  # inputs whose first record's fields `check_fields` looks at (a folder may hold 100,000)


@dataclass
class Batch:
    file: str
    sep: str  # ":" line numbers, "#" row indexes, "/" folder names
    numbers: list[int] | range
    nbytes: int
    frame: pl.DataFrame | None = None
    names: list[str] | None = None  # folder records: path of each record under `file`
    locators: list[str] | None = None  # merged batches (`read_many`): each record's locator,
    sources: list[str] | None = None  # its source file
    rows: list[int | None] | None = None  # and its line / row there (None for folder records)
    _slow: Callable[[], tuple[list, list]] | None = None
    _raw: Callable[[int], str] | None = None
    _cache: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.numbers)

    def slow(self) -> tuple[list, list]:
        if "slow" not in self._cache:
            self._cache["slow"] = self._slow()
        return self._cache["slow"]

    def locator(self, pos: int) -> str:
        if self.locators is not None:
            return self.locators[pos]
        if self.names is not None:
            return f"{self.file}/{self.names[pos]}"
        return f"{self.file}{self.sep}{self.numbers[pos]}"

    def source(self, pos: int) -> str:
        if self.sources is not None:
            return self.sources[pos]
        return f"{self.file}/{self.names[pos]}" if self.names is not None else self.file

    def one(self, pos: int) -> "Batch":
        """The record at `pos` alone, on the per-record path (to find which record fails a batch)."""
        records, errors = self.slow()
        rows = self.rows[pos] if self.rows is not None else None if self.names is not None else self.numbers[pos]
        return Batch(self.file, self.sep, [0], 0, locators=[self.locator(pos)], sources=[self.source(pos)],
                     rows=[rows], _slow=lambda: ([records[pos]], [errors[pos]]), _raw=lambda _: self.raw(pos))

    def raw(self, pos: int) -> str:
        if self._raw is not None:
            return self._raw(pos)[:RAW_CHARS]
        records, _ = self.slow()
        try:
            return json.dumps(records[pos], ensure_ascii=False, default=str)[:RAW_CHARS]
        except Exception:  # noqa: BLE001 - raw is a courtesy: never fail a record for it
            return "(not shown)"


def peek_fields(inp: Input, mapping: Mapping) -> set[str] | None:
    """Top-level field names of an input's first record (None when it cannot tell)."""
    try:
        if inp.kind == "parquet":
            return set(pq.read_schema(inp.path).names)
        if inp.kind == "csv":
            return set(csv_reader.csv_header(inp.path))
        if inp.kind == "folder":
            return set(mapping.folder.files) | {"_dir", "_name", "_parent"}
        for batch in read_input(inp, mapping, block_bytes=1 << 20):
            if batch.frame is not None:
                return set(batch.frame.columns)
            records, _ = batch.slow()
            return set(records[0]) if records and isinstance(records[0], dict) else None
    except Exception:  # noqa: BLE001 - a peek that fails decides nothing; reading reports it per record
        return None
    return None


def check_fields(inputs: list[Input], mapping: Mapping) -> None:
    """Fail fast when the mapping names a required field that no input has."""
    seen = [f for f in (peek_fields(i, mapping) for i in inputs[:PEEK_INPUTS]) if f is not None]
    if not seen:
        return
    for what, root in mapping.required_roots().items():
        if not any(root in fields for fields in seen):
            have = ", ".join(sorted(seen[0])[:12]) or "no fields"
            raise MappingError(f"mapping {mapping.name!r} takes {what} from field {root!r}, which the input does not "
                               f"have (it has: {have}); pick another --mapping or write one")


# ------------------------------------------------------------------ readers
def read_input(inp: Input, mapping: Mapping, *, block_bytes: int) -> Iterator[Batch]:
    if inp.kind == "jsonl":
        return read_jsonl(inp.path, block_bytes=block_bytes)
    if inp.kind == "json":
        return read_json(inp.path, mapping, block_bytes=block_bytes)
    if inp.kind == "parquet":
        return read_parquet(inp.path, block_bytes=block_bytes)
    if inp.kind == "csv":
        return read_csv(inp.path, block_bytes=block_bytes)
    return read_folder(inp.path, mapping)


def read_jsonl(path: Path, *, block_bytes: int, first_line: int = 1) -> Iterator[Batch]:
    line_no = first_line
    rest = b""
    skipping = False  # inside a line over MAX_RECORD_BYTES: dropped up to its end
    with open_regular(path) as f:
        start = True
        while True:
            chunk = f.read(block_bytes)
            buf = rest + chunk if rest else chunk
            if start:
                buf, start = buf.removeprefix(BOM), False
            if skipping:
                cut = buf.find(b"\n")
                if cut < 0 and chunk:
                    rest = b""
                    continue
                buf, skipping = buf[cut + 1:] if cut >= 0 else b"", False
                line_no += 1
            if chunk:
                end = buf.rfind(b"\n") + 1
                if end == 0:  # one line longer than a block: keep reading until it ends
                    if len(buf) > MAX_RECORD_BYTES:
                        yield _long_line(str(path), line_no, buf)
                        rest, skipping = b"", True
                        continue
                    rest = buf
                    continue
            else:
                end = len(buf)
            newlines = buf.count(b"\n", 0, end)
            if _NONSPACE.search(buf, 0, end):
                yield _jsonl_batch(str(path), buf, end, line_no, newlines)
            line_no += newlines
            rest = buf[end:]
            if not chunk:
                return


def _long_line(file: str, line_no: int, buf: bytes) -> Batch:
    reason = f"line of more than {MAX_RECORD_BYTES:,} bytes, over the limit; not parsed"
    raw = buf[:RAW_CHARS * 4].decode("utf-8", errors="replace")
    return Batch(file, ":", [line_no], len(buf), _slow=lambda: ([None], [reason]), _raw=lambda pos: raw)


_NONSPACE = re.compile(rb"\S")


def _nonblank_lines(block: bytes | memoryview, first_line: int) -> tuple[list[int], list[bytes]]:
    numbers, lines = [], []
    for i, line in enumerate(bytes(block).split(b"\n")):
        if line.strip():
            numbers.append(first_line + i)
            lines.append(line)
    return numbers, lines


def _jsonl_batch(file: str, buf: bytes, end: int, first_line: int, newlines: int) -> Batch:
    """Lines of buf[:end] (`newlines` of them end in a newline): parsed by Arrow when every
    line is a well-typed object within the limits, else per line."""
    block = memoryview(buf)[:end]
    n_lines = newlines + (0 if buf.endswith(b"\n", 0, end) else 1)
    frame = None
    numbers: list[int] | range = range(first_line, first_line + n_lines)
    try:
        if arrow_safe(block):  # Arrow's parser must never see a line over the limits
            table = pajson.read_json(pa.BufferReader(pa.py_buffer(block)),
                                     read_options=pajson.ReadOptions(block_size=1 << 20))
            table.validate(full=True)  # Arrow lets invalid UTF-8 through the parse: this finds it
            if table.num_rows != n_lines:  # blank lines: find the numbers of the others
                numbers = _nonblank_lines(block, first_line)[0]
            if table.num_rows == len(numbers):
                frame = pl.from_arrow(table)
    except Exception:  # noqa: BLE001 - any Arrow / polars failure: the per-line path names the bad line
        frame = None
    cache: dict = {}

    def lines() -> tuple[list[int], list[bytes]]:
        if "lines" not in cache:
            cache["lines"] = _nonblank_lines(block, first_line)
        return cache["lines"]

    if frame is None:
        numbers = lines()[0]

    def slow() -> tuple[list, list]:
        records, errors = [], []
        for line in lines()[1]:
            record, error = parse_json_line(line)
            records.append(record)
            errors.append(error)
        return records, errors

    def raw(pos: int) -> str:
        return lines()[1][pos][: RAW_CHARS * 4].decode("utf-8", errors="replace")

    return Batch(file, ":", numbers, end, frame=frame, _slow=slow, _raw=raw)


parse_json_line = parse_record  # one JSON line: (value, None) or (None, reason)


def read_parquet(path: Path, *, block_bytes: int) -> Iterator[Batch]:
    pf = pq.ParquetFile(path)
    per_row = max(1, path.stat().st_size // max(pf.metadata.num_rows, 1))  # compressed bytes, for progress
    probe = next(pf.iter_batches(batch_size=256), None)  # Arrow bytes per row, once decoded
    in_memory = probe.nbytes // max(probe.num_rows, 1) if probe is not None else 1
    rows = max(1, block_bytes // max(1, in_memory))  # a batch holds about a block in memory
    row0 = 0
    for rb in pf.iter_batches(batch_size=rows):
        frame = pl.from_arrow(pa.Table.from_batches([rb]))
        n = frame.height
        yield Batch(str(path), "#", range(row0, row0 + n), n * per_row, frame=frame,
                    _slow=lambda frame=frame: (frame.to_dicts(), [None] * frame.height))
        row0 += n


def read_csv(path: Path, *, block_bytes: int) -> Iterator[Batch]:
    def batch(numbers, records, errors, raws, chars) -> Batch:
        return Batch(str(path), ":", list(numbers), chars, _slow=lambda: (records, errors),
                     _raw=lambda pos: raws[pos] if raws[pos] is not None else "")

    return csv_reader.read_csv(path, block_bytes=block_bytes, batch=batch)


def _record_batch(file: str, sep: str, numbers, records, errors, nbytes: int, names=None, raws=None) -> Batch:
    raw = None if raws is None else (lambda pos: raws[pos][: RAW_CHARS * 4].decode("utf-8", errors="replace"))
    return Batch(file, sep, list(numbers), nbytes, names=names, _slow=lambda: (records, errors), _raw=raw)


def read_json(path: Path, mapping: Mapping, *, block_bytes: int) -> Iterator[Batch]:
    """A JSON array (split element by element on its bytes), one object (one record, or the
    list at `records` in the mapping), or JSON lines saved as .json."""
    with open_regular(path) as f:
        head = f.read(1 << 16)
    bom = len(BOM) if head.startswith(BOM) else 0
    first = head[bom:].lstrip()[:1]
    size = path.stat().st_size
    if first == b"{" and _looks_like_lines(path):
        yield from read_jsonl(path, block_bytes=block_bytes)
        return
    if first not in (b"[", b"{"):
        yield _record_batch(str(path), "#", [0], [None], ["not a JSON array or object"], size)
        return
    if first == b"{" and not mapping.records:  # the whole file is one record
        with open_regular(path) as f:
            data = f.read(MAX_RECORD_BYTES + 1)
        record, error = parse_record(data[bom:]) if len(data) <= MAX_RECORD_BYTES else \
            (None, f"record of more than {MAX_RECORD_BYTES:,} bytes, over the limit; not parsed")
        yield _record_batch(str(path), "#", [0], [record], [error], size, raws=[data[:RAW_CHARS * 4]])
        return
    keys = tuple(mapping.records.split(".")) if first == b"{" else ()
    records, errors, numbers, raws = [], [], [], []
    done = bom  # bytes handed on in batches so far
    index = 0
    for start, end, raw, error in split_array(path, keys, chunk=min(block_bytes, 4 << 20), start_at=bom):
        if error and not raw.strip() and start == bom:  # no list of records at all
            record = None
        elif error and error.startswith("the file ends"):
            record, error = None, f"invalid JSON after element {index}: {error} (rest of file unreadable)"
        elif error:
            record = None
        else:
            record, error = parse_record(raw)
        records.append(record)
        errors.append(error)
        numbers.append(index)
        raws.append(raw[:RAW_CHARS * 4])
        index += 1
        if len(records) >= RECORDS_PER_BATCH or end - done >= block_bytes:
            yield _record_batch(str(path), "#", numbers, records, errors, end - done, raws=raws)
            records, errors, numbers, raws, done = [], [], [], [], end
    if records:
        yield _record_batch(str(path), "#", numbers, records, errors, max(0, size - done), raws=raws)


def _looks_like_lines(path: Path) -> bool:
    """A .json file whose first line is a whole JSON object and is followed by more."""
    with open_regular(path) as f:
        first = f.readline(1 << 24).removeprefix(BOM)
        more = f.read(1 << 12)
    record, error = parse_record(first)
    return error is None and isinstance(record, dict) and bool(more.strip())


def read_folder(root: Path, mapping: Mapping) -> Iterator[Batch]:
    records, errors, names = [], [], []
    for d in record_dirs(root, mapping):
        rel = d.relative_to(root).as_posix() or "."
        record: dict = {"_dir": rel, "_name": d.name, "_parent": d.parent.name}
        error = None
        for alias, name in mapping.folder.files.items():
            p = d / name
            if not p.exists():
                continue
            try:
                with open_regular(p) as f:
                    data = f.read(MAX_RECORD_BYTES + 1)
            except OSError as exc:
                error = f"{name}: unreadable: {exc.strerror or exc}"
                break
            value, why = parse_record(data.removeprefix(BOM)) if len(data) <= MAX_RECORD_BYTES else \
                (None, f"more than {MAX_RECORD_BYTES:,} bytes, over the limit")
            if why:
                error = f"{name}: {why}"
                break
            record[alias] = value
        records.append(None if error else record)
        errors.append(error)
        names.append(rel)
        if len(records) >= 200:
            yield _record_batch(str(root), "/", range(len(names)), records, errors, len(records), names=names)
            records, errors, names = [], [], []
    if records:
        yield _record_batch(str(root), "/", range(len(names)), records, errors, len(records), names=names)
