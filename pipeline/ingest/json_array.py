"""Records of a `.json` file, split on its bytes and parsed one by one (no streaming parser).

    for start, end, raw, error in split_array(path, keys=("data", "items"), chunk=4 << 20):
        ...   # raw: the bytes of one element of the array at data.items (keys=(): a top-level array)

The file is read in chunks; a string-aware scan of structural bytes (`limits.structure`,
numpy) finds the commas and brackets of the array that holds the records, so each element
is cut out as bytes and handed to `limits.parse_record`, which bounds its size, depth and
numbers and finds lone surrogates: a hostile element is one quarantined record, never the
file (ijson, used before, took 28 s on one 50,000-deep element and turned `\\ud800` into `?`).
Only brackets at or above the records array reach Python; an element longer than
`MAX_RECORD_BYTES` is cut at that length, and the rest skipped.
"""
from __future__ import annotations

import bisect
import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from pipeline.ingest.limits import MAX_RECORD_BYTES, structure

RAW_KEEP = 1 << 16  # bytes kept of an element over the size limit, for its quarantine row


class _Element:
    def __init__(self, start: int):
        self.start = start
        self.pieces: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> None:
        if self.size <= MAX_RECORD_BYTES:
            self.pieces.append(data if self.size + len(data) <= MAX_RECORD_BYTES + 1
                               else data[: max(0, RAW_KEEP - self.size)])
        self.size += len(data)

    def bytes(self) -> bytes:
        return b"".join(self.pieces)


def _ends_odd_escape(chunk: bytes, odd_before: bool) -> bool:
    """Whether a chunk read inside a string ends in an escape still open: an odd run of
    backslashes, counting the one carried in when the chunk is nothing but backslashes."""
    run = len(chunk) - len(chunk.rstrip(b"\\"))
    return (run + (odd_before if run == len(chunk) else 0)) % 2 == 1


def split_array(path: Path, keys: tuple[str, ...] = (), *, chunk: int = 4 << 20,
                start_at: int = 0) -> Iterator[tuple[int, int, bytes, str | None]]:
    """(start offset, end offset, element bytes, error) for each element of the records array."""
    target = len(keys) + 1  # depth of the records array's elements
    depth, in_string, odd_escape = 0, False, False
    paths: dict[int, tuple | None] = {0: ()}  # depth -> key path of the container at that depth
    last_key: dict[int, str | None] = {}
    quotes_tail: list[int] = []  # absolute offsets of the last two real quotes (for keys across chunks)
    inside, found = False, False
    elem: _Element | None = None
    offset = start_at
    with open(path, "rb") as f:
        fd = f.fileno()
        f.seek(start_at)
        while True:
            data = f.read(chunk)
            if not data:
                break
            a = np.frombuffer(data, dtype=np.uint8)
            pos, codes, rel, quotes, in_string_end = structure(a, in_string, odd_escape)
            after = depth + rel
            before = after - np.where(codes == 91, 1, np.where(codes == 123, 1, np.where(
                (codes == 93) | (codes == 125), -1, 0)))
            keep = (np.minimum(before, after) <= target - 1) | ((codes == 44) & (before == target))
            qabs = (quotes + offset).tolist()
            cursor = 0  # bytes of `data` already given to the open element
            for p, code, b, d in zip(pos[keep].tolist(), codes[keep].tolist(), before[keep].tolist(),
                                     after[keep].tolist()):
                if code == 58:  # ":" in an object above the records: remember its key
                    last_key[b] = _key_before(fd, p + offset, qabs, quotes_tail)
                elif code in (91, 123):  # "[" / "{"
                    parent = paths.get(b)
                    here = None if parent is None else parent + ((last_key.get(b),) if b else ())
                    paths[d] = here
                    last_key.pop(d, None)
                    if code == 91 and d == target and here == keys and not found:
                        inside, found = True, True
                        elem = _Element(p + offset + 1)
                        cursor = p + 1
                elif code == 44 and inside and b == target:
                    elem.add(data[cursor:p])
                    yield elem.start, p + offset, elem.bytes(), _too_big(elem)
                    elem, cursor = _Element(p + offset + 1), p + 1
                elif code in (93, 125):
                    if inside and d == target - 1:
                        elem.add(data[cursor:p])
                        if elem.size and elem.bytes().strip():
                            yield elem.start, p + offset, elem.bytes(), _too_big(elem)
                        inside, elem = False, None
                    paths.pop(b, None)
            if inside:
                elem.add(data[cursor:])
            depth = int(after[-1]) if after.size else depth
            in_string, odd_escape = in_string_end, in_string_end and _ends_odd_escape(data, odd_escape)
            quotes_tail = (quotes_tail + qabs)[-2:]
            offset += len(data)
    if inside and elem is not None:
        yield elem.start, offset, elem.bytes(), "the file ends inside the array (truncated?)"
    elif not found:
        where = ".".join(keys) if keys else "the top level"
        yield start_at, offset, b"", f"no list of records at {where}"


def _too_big(elem: _Element) -> str | None:
    if elem.size > MAX_RECORD_BYTES:
        return f"record has {elem.size:,} bytes, over the limit of {MAX_RECORD_BYTES:,}"
    return None


def _key_before(fd: int, colon: int, quotes: list[int], tail: list[int]) -> str | None:
    """The object key just before the colon at `colon`: the two real quotes before it."""
    i = bisect.bisect_left(quotes, colon)
    before = (tail + quotes[max(0, i - 2):i])[-2:]
    if len(before) < 2 or before[1] - before[0] > 4096:
        return None
    try:
        return json.loads(os.pread(fd, before[1] - before[0] + 1, before[0]))
    except (ValueError, OSError):
        return None
