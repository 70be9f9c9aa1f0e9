"""Input discovery and streaming readers: every input becomes a sequence of `Batch`es.

    inputs = discover([Path("data/")], mapping)   # files (or record folders) to read, checked up front
    for batch in read_input(inputs[0], mapping, block_bytes=16 << 20):
        batch.frame      # Arrow-parsed polars frame for the fast path (None: use batch.slow())
        batch.slow()     # (records, errors): per-record Python objects and read errors

Nothing is held whole: JSON lines are read in byte blocks cut at line ends, Parquet by
record batches, CSV and JSON arrays record by record (ijson), folders one record at a time.
Read errors (invalid UTF-8, invalid JSON, a ragged CSV row, a record that is not an object)
travel with the batch as per-record errors, with the line or row they came from.
"""
from __future__ import annotations

import csv
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from pipeline.ingest.mapping import Mapping, MappingError

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
BOM = b"\xef\xbb\xbf"
RECORDS_PER_BATCH = 5_000
RAW_CHARS = 4096


class InputError(ValueError):
    """A path that cannot be read as input, with a one-line reason meant for the user."""


@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # jsonl | json | parquet | csv | folder
    size: int  # bytes (records for folders), for progress


@dataclass
class Batch:
    file: str
    sep: str  # ":" line numbers, "#" row indexes, "/" folder names
    numbers: list[int] | range
    nbytes: int
    frame: pl.DataFrame | None = None
    names: list[str] | None = None  # folder records: path of each record under `file`
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
        if self.names is not None:
            return f"{self.file}/{self.names[pos]}"
        return f"{self.file}{self.sep}{self.numbers[pos]}"

    def raw(self, pos: int) -> str:
        if self._raw is not None:
            return self._raw(pos)[:RAW_CHARS]
        records, _ = self.slow()
        try:
            return json.dumps(records[pos], ensure_ascii=False, default=str)[:RAW_CHARS]
        except (TypeError, ValueError):
            return repr(records[pos])[:RAW_CHARS]


# ------------------------------------------------------------------ discovery
def discover(paths: list[Path], mapping: Mapping) -> list[Input]:
    """Check every path and list what to read; raises InputError before anything is written."""
    inputs: list[Input] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory" + (" (a broken link)" if path.is_symlink() else ""))
        if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
            raise InputError(f"{path}: permission denied")
        if mapping.folder is not None:
            if not path.is_dir():
                raise InputError(f"{path}: mapping {mapping.name!r} reads folders of per-record JSON files, not a file")
            n = sum(1 for _ in _record_dirs(path, mapping))
            if n == 0:
                raise InputError(f"{path}: no folder under it holds {next(iter(mapping.folder.files.values()))}")
            inputs.append(Input(path, "folder", n))
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise InputError(f"{path}: no {', '.join(SUFFIXES)} files under this folder")
            inputs += [_file_input(p) for p in found]
        else:
            inputs.append(_file_input(path))
    return inputs


def _file_input(path: Path) -> Input:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {', '.join(SUFFIXES)}")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    return Input(path, kind, size)


def _record_dirs(root: Path, mapping: Mapping) -> Iterator[Path]:
    primary = next(iter(mapping.folder.files.values()))
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if primary in filenames:
            yield Path(dirpath)


def peek_fields(inp: Input, mapping: Mapping) -> set[str] | None:
    """Top-level field names of an input's first record (None when it cannot tell)."""
    try:
        if inp.kind == "parquet":
            return set(pq.read_schema(inp.path).names)
        if inp.kind == "csv":
            with open(inp.path, encoding="utf-8-sig", errors="replace", newline="") as f:
                return set(next(csv.reader(f), []))
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
    seen = [f for f in (peek_fields(i, mapping) for i in inputs) if f is not None]
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
    with open(path, "rb") as f:
        start = True
        while True:
            chunk = f.read(block_bytes)
            buf = rest + chunk if rest else chunk
            if start:
                buf, start = buf.removeprefix(BOM), False
            if chunk:
                end = buf.rfind(b"\n") + 1
                if end == 0:  # one line longer than a block: keep reading until it ends
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
    line is a well-typed object, else per line."""
    block = memoryview(buf)[:end]
    n_lines = newlines + (0 if buf.endswith(b"\n", 0, end) else 1)
    frame = None
    numbers: list[int] | range = range(first_line, first_line + n_lines)
    try:
        table = pajson.read_json(pa.BufferReader(pa.py_buffer(block)),
                                 read_options=pajson.ReadOptions(block_size=1 << 20))
        table.validate(full=True)  # Arrow lets invalid UTF-8 through the parse: this finds it
        if table.num_rows != n_lines:  # blank lines: find the numbers of the others
            numbers = _nonblank_lines(block, first_line)[0]
        if table.num_rows == len(numbers):
            frame = pl.from_arrow(table)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pl.exceptions.PolarsError):
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


def parse_json_line(line: bytes) -> tuple[object, str | None]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"
    try:
        return json.loads(text.lstrip("\ufeff")), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"


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
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        records, errors, numbers = [], [], []
        chars = 0  # of the rows gathered (about their bytes: progress and the batch bound)
        line = reader.line_num
        for row in reader:
            chars += sum(map(len, row)) + len(row)
            numbers.append(line + 1)
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                numbers.pop()
                continue
            error = None
            if len(row) != len(header):
                error = f"row has {len(row)} fields, the header has {len(header)}"
            elif any(_has_surrogate(cell) for cell in row):
                error = "invalid UTF-8"
            records.append(None if error else dict(zip(header, row)))
            errors.append(error)
            if len(records) >= RECORDS_PER_BATCH or chars >= block_bytes:
                yield _record_batch(str(path), ":", numbers, records, errors, chars)
                records, errors, numbers, chars = [], [], [], 0
        if records:
            yield _record_batch(str(path), ":", numbers, records, errors, chars)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _record_batch(file: str, sep: str, numbers, records, errors, nbytes: int, names=None) -> Batch:
    return Batch(file, sep, list(numbers), nbytes, names=names, _slow=lambda: (records, errors))


def read_json(path: Path, mapping: Mapping, *, block_bytes: int) -> Iterator[Batch]:
    """A JSON array (streamed element by element), one object (one record, or the list at
    `records` in the mapping), or JSON lines saved as .json."""
    import ijson

    with open(path, "rb") as f:
        head = f.read(1 << 16).removeprefix(BOM)
    first = head.lstrip()[:1]
    if first == b"{" and _looks_like_lines(path):
        yield from read_jsonl(path, block_bytes=block_bytes)
        return
    if first not in (b"[", b"{"):
        yield _record_batch(str(path), "#", [0], [None], ["not a JSON array or object"], path.stat().st_size)
        return
    if first == b"[":
        prefix = "item"
    else:
        prefix = f"{mapping.records}.item" if mapping.records else ""
    size = path.stat().st_size
    records, errors, numbers = [], [], []
    index = 0
    with open(path, "rb") as f:
        if f.read(3) != BOM:
            f.seek(0)
        done = f.tell()  # bytes handed on in batches so far
        try:
            for record in ijson.items(f, prefix, use_float=True):
                records.append(record)
                errors.append(None)
                numbers.append(index)
                index += 1
                if len(records) >= RECORDS_PER_BATCH or f.tell() - done >= block_bytes:
                    yield _record_batch(str(path), "#", numbers, records, errors, f.tell() - done)
                    records, errors, numbers, done = [], [], [], f.tell()
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
            records.append(None)
            errors.append(f"invalid JSON after element {index}: {str(exc).splitlines()[0][:200]} (rest of file unreadable)")
            numbers.append(index)
    if records:
        yield _record_batch(str(path), "#", numbers, records, errors, max(0, size - done))


def _looks_like_lines(path: Path) -> bool:
    """A .json file whose first line is a whole JSON object and is followed by more."""
    with open(path, "rb") as f:
        first = f.readline(1 << 24).removeprefix(BOM)
        more = f.read(1 << 12)
    try:
        return isinstance(json.loads(first), dict) and bool(more.strip())
    except (ValueError, UnicodeDecodeError):
        return False


def read_folder(root: Path, mapping: Mapping) -> Iterator[Batch]:
    records, errors, names = [], [], []
    for d in _record_dirs(root, mapping):
        rel = d.relative_to(root).as_posix() or "."
        record: dict = {"_dir": rel, "_name": d.name, "_parent": d.parent.name}
        error = None
        for alias, name in mapping.folder.files.items():
            p = d / name
            if not p.exists():
                continue
            try:
                record[alias] = json.loads(p.read_bytes().removeprefix(BOM).decode("utf-8"))
            except (ValueError, UnicodeDecodeError, OSError) as exc:
                error = f"{name}: invalid JSON: {str(exc).splitlines()[0][:200]}"
                break
        records.append(None if error else record)
        errors.append(error)
        names.append(rel)
        if len(records) >= 200:
            yield _record_batch(str(root), "/", range(len(names)), records, errors, len(records), names=names)
            records, errors, names = [], [], []
    if records:
        yield _record_batch(str(root), "/", range(len(names)), records, errors, len(records), names=names)
