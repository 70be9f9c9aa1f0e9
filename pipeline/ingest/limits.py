"""Bounds on one input record, checked on its bytes before any parser sees it.

    obj, error = parse_record(b'{"question": "Q?"}')   # (dict, None), or (None, reason)
    arrow_safe(block)                                   # False: a line of this block needs the per-line path

A hostile record must cost one quarantine row, never the run: Arrow's JSON reader fails or
segfaults on deep nesting, Python's `json` raises RecursionError, ijson goes quadratic,
Python refuses integers of more than 4,300 digits and Arrow turns them into `inf`. So the
nesting depth and the longest number are read from the bytes first, by a string-aware
bracket scan (numpy, no recursion, linear time), and a record over a limit is rejected with
a reason that names the limit. Every exception from decoding one record becomes a reason.
"""
from __future__ import annotations

import json
import re

import numpy as np

from pipeline.ingest.values import JsonFloat

MAX_DEPTH = 100  # nesting of arrays / objects in one record (real datasets use under 10)
MAX_NUMBER_DIGITS = 1_000  # digits in one JSON number outside strings (Python's own limit is 4,300)
MAX_RECORD_BYTES = 64 << 20  # one JSON line, JSON array element, per-record file or CSV field

LIMITS_HELP = (f"Limits per record: nesting depth {MAX_DEPTH}, numbers of {MAX_NUMBER_DIGITS:,} digits, "
               f"{MAX_RECORD_BYTES >> 20} MiB per line / record / CSV field; a record over one is quarantined "
               "with the limit named.")

_STRUCT = np.zeros(256, dtype=bool)
_STRUCT[list(b"[]{},:")] = True
_DELTA = np.zeros(256, dtype=np.int64)
_DELTA[list(b"[{")] = 1
_DELTA[list(b"]}")] = -1
_LONG_NUMBER = re.compile(rb"(?<![0-9])[0-9]{%d}" % (MAX_NUMBER_DIGITS + 1))
# bytes.translate tables for the block pre-checks (C speed, ~5 ms per 4 MiB): digits -> "0", the
# rest -> "a"; and only the openers ("[" for both) and newlines kept
_DIGITS = bytes(48 if 48 <= i <= 57 else 97 for i in range(256))
_OPENERS = bytes(91 if i == 123 else i for i in range(256))
_NOT_OPENERS = bytes(i for i in range(256) if i not in (10, 91, 123))
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def real_quotes(a: np.ndarray, odd_escape: bool = False) -> np.ndarray:
    """Positions of the `"` bytes in `a` that are not escaped by an odd run of backslashes
    (`odd_escape`: the bytes before `a` ended in such a run)."""
    quotes = np.flatnonzero(a == 34)
    if not quotes.size:
        return quotes
    run = np.zeros(quotes.size, dtype=np.int64)  # backslashes just before each quote
    backslashes = np.flatnonzero(a == 92)
    if backslashes.size:
        starts = np.ones(backslashes.size, dtype=bool)
        starts[1:] = backslashes[1:] != backslashes[:-1] + 1
        run_start = np.maximum.accumulate(np.where(starts, backslashes, 0))
        prev = quotes - 1
        k = np.minimum(np.searchsorted(backslashes, prev), backslashes.size - 1)
        has = backslashes[k] == prev
        run[has] = prev[has] - run_start[k[has]] + 1
        if odd_escape:
            run[has & (run_start[k] == 0) & (backslashes[0] == 0)] += 1
    if odd_escape:
        run[quotes == 0] += (quotes[0] == 0)
    return quotes[run % 2 == 0]


def structure(a: np.ndarray, in_string: bool = False, odd_escape: bool = False):
    """(positions, byte codes, depth after each) of the `[]{},:` bytes of `a` outside strings,
    the real quotes, and whether `a` ends inside a string."""
    quotes = real_quotes(a, odd_escape)
    pos = np.flatnonzero(_STRUCT[a])
    if quotes.size:
        pos = pos[(np.searchsorted(quotes, pos) + in_string) % 2 == 0]
    elif in_string:
        pos = pos[:0]
    codes = a[pos]
    return pos, codes, np.cumsum(_DELTA[codes]), quotes, bool((quotes.size + in_string) % 2)


def structure_problem(raw: bytes) -> str | None:
    """Why `raw` (one JSON text) must not be parsed, or None. Cheap unless it could be over a limit."""
    if len(raw) > MAX_RECORD_BYTES:
        return f"record has {len(raw):,} bytes, over the limit of {MAX_RECORD_BYTES:,}"
    suspicious_depth = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
    long_number = b"0" * (MAX_NUMBER_DIGITS + 1) in raw.translate(_DIGITS)
    if not (suspicious_depth or long_number):
        return None
    a = np.frombuffer(raw, dtype=np.uint8)
    _, _, depth, quotes, _ = structure(a)
    if depth.size and int(depth.max()) > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep (the limit); not parsed"
    if long_number:
        for m in _LONG_NUMBER.finditer(raw):
            if np.searchsorted(quotes, m.start()) % 2 == 0:
                n = len(re.match(rb"[0-9]*", raw[m.start():]).group())
                return f"a number with {n:,} digits, over the limit of {MAX_NUMBER_DIGITS:,}; not parsed"
    return None


def lone_surrogate(value: object) -> str | None:
    """The first lone UTF-16 surrogate in any string (or key) of a parsed JSON value, as `\\udXXX`."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"\\u{ord(v[exc.start]):04x}"
        elif isinstance(v, dict):
            stack += v.keys()
            stack += v.values()
        elif isinstance(v, list):
            stack += v
    return None


def parse_record(raw: bytes) -> tuple[object, str | None]:
    """One JSON text -> (value, None), or (None, reason): over a limit, invalid UTF-8, invalid
    JSON, a lone surrogate, or any other failure of this one record."""
    try:
        problem = structure_problem(raw)
        if problem:
            return None, problem
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"invalid UTF-8 at byte {exc.start}"
        try:
            value = json.loads(text.lstrip("\ufeff"), parse_float=JsonFloat)  # decimals as written
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
        except RecursionError:
            return None, "invalid JSON: nested too deeply"
        if _SURROGATE_ESCAPE.search(raw):
            bad = lone_surrogate(value)
            if bad:
                return None, f"a string holds the lone surrogate {bad}, which is not valid Unicode"
        return value, None
    except Exception as exc:  # noqa: BLE001 - one record's failure is that record's reason
        return None, f"unreadable record: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


_STRIDE = (MAX_NUMBER_DIGITS + 1) // 4  # a run of MAX_NUMBER_DIGITS + 1 digits covers 4 consecutive samples


def _may_hold_a_digit_run(data: bytes) -> bool:
    """False only if `data` has no run of MAX_NUMBER_DIGITS + 1 digits: such a run is longer than
    4 strides, so it covers 4 consecutive bytes sampled every `_STRIDE` (a cheap necessary test
    that spares the full translate on almost every block)."""
    digit = (np.frombuffer(data, dtype=np.uint8)[::_STRIDE] - 48) < 10  # uint8 wraps below "0"
    return bool((digit[:-3] & digit[1:-2] & digit[2:-1] & digit[3:]).any())


def arrow_safe(block: bytes | memoryview) -> bool:
    """True when no line of a JSON-lines block is over the depth or number limit (then Arrow may
    parse the block whole; else each line goes through `parse_record`)."""
    data = block if isinstance(block, bytes) else bytes(block)
    deep = b"[" * (MAX_DEPTH + 1) in data.translate(_OPENERS, _NOT_OPENERS)  # a line with that many openers
    long_number = _may_hold_a_digit_run(data) and b"0" * (MAX_NUMBER_DIGITS + 1) in data.translate(_DIGITS)
    if not (deep or long_number):
        return True
    return not any(structure_problem(line) for line in data.split(b"\n")
                   if (deep and line.count(b"[") + line.count(b"{") > MAX_DEPTH)
                   or (long_number and _LONG_NUMBER.search(line)))
