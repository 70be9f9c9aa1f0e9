"""CSV input: encoding from the byte-order mark, strict quoting, and refusals with a hint.

    text_encoding(head)        # ("utf-16", 2) from a BOM, ("utf-8-sig", 0) without one
    encoding_problem(path)     # a one-line refusal for a JSON / JSONL file that is not UTF-8, or None
    header_problem(path)       # a one-line refusal for a CSV whose header repeats a column, or None
    read_csv(path, block_bytes=4 << 20, batch=make_batch)   # (numbers, records, errors, raws, chars) batches

Rows are read with `csv.reader(strict=True)`: a quoting error in one row quarantines that
row; an unclosed quote (or a field over `MAX_RECORD_BYTES`, which is what an unclosed quote
in a large file becomes) stops the row split, and every remaining line of the file is
quarantined with that reason: never merged into one field, never silently dropped. UTF-16
and UTF-32 files are decoded when they start with a byte-order mark; without one (NUL bytes
in the first kilobytes) they are refused with a hint naming the encoding. Duplicate header
columns are refused before the run starts: every row of such a file is ambiguous, so one
clear line that names the column beats quarantining the whole file row by row.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from pipeline.ingest.limits import MAX_RECORD_BYTES

RECORDS_PER_BATCH = 5_000
RAW_CHARS = 4096
_BOMS = [(b"\x00\x00\xfe\xff", "utf-32", "UTF-32 BE"), (b"\xff\xfe\x00\x00", "utf-32", "UTF-32 LE"),
         (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8"), (b"\xfe\xff", "utf-16", "UTF-16 BE"), (b"\xff\xfe", "utf-16", "UTF-16 LE")]


def text_encoding(head: bytes) -> tuple[str, str]:
    """(Python codec, name for people) of a text file from its first bytes."""
    for bom, codec, name in _BOMS:
        if head.startswith(bom):
            return codec, name
    return "utf-8-sig", "UTF-8"


def _no_bom_guess(head: bytes) -> str | None:
    """'UTF-16 LE' etc. for text with NUL bytes in every other (or 3 of 4) position, else None."""
    sample = head[:4096]
    if len(sample) < 4 or sample.count(0) < len(sample) // 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if sample[0::4].count(0) + sample[1::4].count(0) + sample[2::4].count(0) > len(sample) * 0.7:
        return "UTF-32 BE"
    if sample[1::4].count(0) + sample[2::4].count(0) + sample[3::4].count(0) > len(sample) * 0.7:
        return "UTF-32 LE"
    return "UTF-16 BE" if even > odd else "UTF-16 LE"


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(4096)


def encoding_problem(path: Path, kind: str, head: bytes | None = None) -> str | None:
    """Why a text input cannot be read as it is (JSON must be UTF-8; CSV may carry a BOM)."""
    head = _head(path) if head is None else head
    codec, name = text_encoding(head)
    hint = f"convert it to UTF-8 first, e.g. `iconv -f {{}} -t UTF-8 {path.name} > {path.stem}.utf8{path.suffix}`"
    if codec != "utf-8-sig" and kind != "csv":
        return f"{path}: {name} text (from its byte-order mark); JSON input must be UTF-8: " + hint.format(name.split()[0])
    if codec == "utf-8-sig":
        guess = _no_bom_guess(head)
        if guess:
            return f"{path}: looks like {guess} text without a byte-order mark; " + hint.format(guess.replace(" ", ""))
    return None


def _open(path: Path):
    codec, _ = text_encoding(_head(path))
    errors = "surrogateescape" if codec == "utf-8-sig" else "surrogatepass"
    return open(path, encoding=codec, errors=errors, newline="")


def csv_header(path: Path) -> list[str]:
    csv.field_size_limit(MAX_RECORD_BYTES)
    with _open(path) as f:
        return next(csv.reader(f, strict=True), [])


def header_problem(path: Path) -> str | None:
    try:
        header = csv_header(path)
    except (csv.Error, UnicodeDecodeError) as exc:
        return f"{path}: the CSV header cannot be read ({exc}); fix the first line"
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if name in seen:
            return (f"{path}: the CSV header repeats column {name!r} (columns {seen[name]} and {i}); rename one, "
                    "so that every field has one meaning")
        seen[name] = i
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _bounded_lines(f) -> Iterator[str]:
    """The file's remaining lines, each cut to RAW_CHARS (a longer line is read and dropped in pieces)."""
    while True:
        line = f.readline(RAW_CHARS)
        if not line:
            return
        tail = line
        while not tail.endswith(("\n", "\r")):
            tail = f.readline(1 << 20)
            if not tail:
                break
        yield line


def read_csv(path: Path, *, block_bytes: int, batch) -> Iterator:
    """Batches `batch(numbers, records, errors, raws, chars)` of the rows after the header."""
    csv.field_size_limit(MAX_RECORD_BYTES)
    with _open(path) as f:
        reader = csv.reader(f, strict=True)
        records, errors, numbers, raws = [], [], [], []
        chars = 0
        stop: tuple[int, str] | None = None  # (first line not split into rows, why)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            header, stop = None, (1, f"the CSV header cannot be read: {exc}")
        dup = header_problem(path) if header and len(set(header)) < len(header) else None
        while header is not None and stop is None:
            first = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                msg = str(exc)
                if "end of data" in msg or "field larger" in msg:
                    what = "an unclosed quote" if "end of data" in msg else \
                        f"a field over {MAX_RECORD_BYTES >> 20} MiB (an unclosed quote?)"
                    stop = (first, f"{what} in the row starting at line {first}: the rest of the file "
                                   "cannot be split into rows, so no line from there on is read")
                    break
                row, error = None, f"CSV quoting error: {msg}"
            except UnicodeDecodeError as exc:
                stop = (first, f"text not decodable at line {first} ({exc.reason}): the rest of the file is not read")
                break
            else:
                if not any(cell.strip() for cell in row):
                    continue
                error = None
                if dup:
                    error = dup.split(": ", 1)[1]
                elif len(row) != len(header):
                    error = f"row has {len(row)} fields, the header has {len(header)}"
                elif any(_has_surrogate(cell) for cell in row):
                    error = "invalid UTF-8" if f.encoding == "utf-8-sig" else f"invalid {f.encoding.upper()} text"
            chars += sum(map(len, row)) + len(row) if row else 100
            numbers.append(first)
            records.append(None if error else dict(zip(header, row)))
            errors.append(error)
            raws.append(None if row is None else ",".join(row)[:RAW_CHARS])
            if len(records) >= RECORDS_PER_BATCH or chars >= block_bytes:
                yield batch(numbers, records, errors, raws, chars)
                records, errors, numbers, raws, chars = [], [], [], [], 0
    if stop is not None:
        with _open(path) as f:
            lines = _bounded_lines(f)
            for _ in range(stop[0] - 1):
                next(lines, None)
            for n, line in enumerate(lines, stop[0]):
                if line.strip():
                    numbers.append(n)
                    records.append(None)
                    errors.append(stop[1])
                    raws.append(line)
                    chars += len(line)
                if len(records) >= RECORDS_PER_BATCH:
                    yield batch(numbers, records, errors, raws, chars)
                    records, errors, numbers, raws, chars = [], [], [], [], 0
    if records:
        yield batch(numbers, records, errors, raws, chars)
