"""Property tests for the ingest readers: any table of strings that `csv.writer` writes reads
back exactly (every encoding with a byte-order mark, and plain UTF-8), and any JSON array
of flat records splits into exactly its elements."""
from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.ingest.json_array import split_array
from pipeline.ingest.readers import read_csv

# any Unicode text but NUL (csv refuses it) and lone surrogates (not encodable)
cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@st.composite
def tables(draw):
    width = draw(st.integers(1, 5))
    header = draw(st.lists(cell, min_size=width, max_size=width, unique=True))
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width)
                         .filter(lambda row: any(c.strip() for c in row)), max_size=12))
    return header, rows


def read_back(path: Path) -> list[dict]:
    records = []
    for batch in read_csv(path, block_bytes=1 << 10):
        recs, errors = batch.slow()
        assert errors == [None] * len(recs), errors
        records += recs
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_csv_writer_tables_round_trip(table, encoding):
    header, rows = table
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(buf.getvalue().encode(encoding))
        assert read_back(path) == [dict(zip(header, row)) for row in rows]


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), cell,
                        st.floats(allow_nan=False, allow_infinity=False))
record = st.dictionaries(cell, st.one_of(json_scalar, st.lists(json_scalar, max_size=3)), max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(record, max_size=10), st.integers(1, 64), st.booleans())
@example([{"\\": None}], 1, False)  # a chunk of only an escaped backslash: its escape is closed
def test_json_arrays_split_into_their_elements(records, chunk, pretty):
    text = json.dumps(records, indent=2 if pretty else None, ensure_ascii=pretty)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.json"
        path.write_text(text, encoding="utf-8")
        got = [(raw, error) for _, _, raw, error in split_array(path, chunk=chunk)]
    assert [e for _, e in got] == [None] * len(records)
    assert [json.loads(raw) for raw, _ in got] == records


@settings(max_examples=200, deadline=None)
@given(offset=st.integers(0, 3000), extra=st.integers(0, 40), lines_before=st.integers(0, 5))
def test_a_number_over_the_digit_limit_is_never_missed_by_the_block_check(offset, extra, lines_before):
    """The block check samples bytes every (limit + 1) / 4: a run of limit + 1 digits anywhere, at
    any alignment, still sends the block to the per-line path; limit digits does not."""
    from pipeline.ingest.limits import MAX_NUMBER_DIGITS, arrow_safe

    def block(digits: int) -> bytes:
        line = b'{"a": "' + b"x" * offset + b'", "n": ' + b"7" * digits + b"}\n"
        return b'{"q": 1}\n' * lines_before + line + b'{"q": 2}\n'

    assert not arrow_safe(block(MAX_NUMBER_DIGITS + 1 + extra))
    assert arrow_safe(block(MAX_NUMBER_DIGITS))
