"""One JSON-scalar-to-text rule whichever parse path runs (issue 15, defect 4): a record's
problem_id and trajectory_id are the same alone in a block (Arrow fast path), next to a bad
line (per-line path) and next to floats (Arrow would widen the column to double).

    .venv/bin/python -m pytest tests/test_ingest_scalars_props.py -q
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.ingest import ingest, load_mapping
from pipeline.ingest.extract import columns_for
from pipeline.ingest.readers import read_jsonl
from pipeline.ingest.stage import build_batch
from pipeline.ingest.values import scalar_text
from schemas import content_id, load_taxonomy
from warehouse import Lake

MAPPING = """
source = "props"
[problem]
question = "question"
answer = { field = "answer", convert = true }
[[trajectory]]
text = "solution"
teacher = { field = "teacher", convert = true }
"""
BAD_LINE = "{not json"
FLOATS = {"question": "a neighbour?", "answer": 2.5, "solution": "x", "teacher": 0.5}
INTS = {"question": "another neighbour?", "answer": 1, "solution": "y", "teacher": 3}
LABELS = set(load_taxonomy().names)


def mapping(tmp: Path):
    path = tmp / "m.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return load_mapping(path)


def normalised(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def strip_as_ingest(text: str) -> str:
    """Strip as ingest does (polars' strip_chars: Unicode White_Space). Python's str.strip also
    strips U+001C-U+001F, which ingest keeps: hypothesis found answer '0\\x1f'."""
    return pl.Series([text], dtype=pl.String).str.strip_chars()[0]


def ids_of(tmp: Path, lines: list[str], question: str) -> tuple[set, set]:
    """(problem ids, trajectory ids) of the record with `question`, from the real reader and
    the real per-batch build (one block: the neighbours share its parse path)."""
    m = mapping(tmp)
    question = normalised(question)
    path = tmp / "in.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    problems, trajectories = set(), set()
    for batch in read_jsonl(path, block_bytes=1 << 20):
        built = build_batch(batch, m, columns_for(m), LABELS, "run")
        p = built.problems.to_pylist()
        mine = {r["problem_id"] for r in p if r["question"] == question}
        problems |= mine
        trajectories |= {r["trajectory_id"] for r in built.trajectories.to_pylist() if r["problem_id"] in mine}
    return problems, trajectories


scalars = st.one_of(
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(min_size=1, max_size=12).filter(lambda t: t.strip() != ""),
    st.lists(st.one_of(st.integers(-100, 100), st.text(alphabet="abc$\\{}", min_size=1, max_size=4)), min_size=1,
             max_size=3),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=scalars, teacher=st.one_of(st.integers(-(10 ** 20), 10 ** 20), st.floats(-1e6, 1e6), st.booleans(),
                                         st.just("m")),
       question=st.text(min_size=1, max_size=20).filter(lambda t: t.strip() != ""))
@example(answer="0\x1f", teacher="m", question="0")  # Python's strip and ingest's differ here
def test_ids_do_not_depend_on_neighbours_or_parse_path(tmp_path, answer, teacher, question):
    record = json.dumps({"question": question, "answer": answer, "solution": "s", "teacher": teacher})
    alone = ids_of(tmp_path, [record], question)
    slow = ids_of(tmp_path, [record, BAD_LINE], question)
    floats = ids_of(tmp_path, [json.dumps(FLOATS), record], question)
    ints = ids_of(tmp_path, [json.dumps(INTS), record, json.dumps(FLOATS)], question)
    assert len(alone[0]) == 1 and len(alone[1]) == 1
    assert alone == slow == floats == ints
    # and the id is the canonical rule's, stripped as answers are
    expected = strip_as_ingest(scalar_text(json.loads(record)["answer"], convert=True))
    assert alone[0] == {content_id("problem", "props", normalised(question), expected or None)}


def test_the_issue_examples_through_a_real_lake(tmp_path):
    """`10000000000000000000000001` stays exact and `1` stays `1` beside `2.5`, on both paths."""
    m = mapping(tmp_path)
    big = '{"question": "Big?", "answer": 10000000000000000000000001, "solution": "s", "teacher": "t"}'
    one = '{"question": "One?", "answer": 1, "solution": "s", "teacher": "t"}'
    half = '{"question": "Half?", "answer": 2.5, "solution": "s", "teacher": "t"}'
    yes = '{"question": "Yes?", "answer": true, "solution": "s", "teacher": "t"}'
    fast = tmp_path / "fast.jsonl"
    fast.write_text("\n".join([big, one, half, yes]) + "\n")
    slow = tmp_path / "slow.jsonl"
    slow.write_text("\n".join([big, one, half, yes, BAD_LINE]) + "\n")
    with Lake.open(tmp_path / "lake") as lake:
        first = ingest(lake, [fast], m)
        second = ingest(lake, [slow], m)
        answers = dict(lake.rows("SELECT question, reference_answer FROM problems"))
        meta = json.loads(lake.scalar("SELECT metadata FROM problems WHERE question = 'One?'"))
    assert answers == {"Big?": "10000000000000000000000001", "One?": "1", "Half?": "2.5", "Yes?": "True"}
    assert first.counts["accepted"] == 4
    assert (second.counts["duplicates"], second.counts["accepted"], second.counts["quarantined"]) == (4, 0, 1)
    assert meta == {"answer_type": "integer"}


def test_booleans_need_convert_and_floats_keep_their_shortest_text():
    assert scalar_text(True, convert=True) == "True" and scalar_text(False, convert=True) == "False"
    assert scalar_text(1.0) == "1.0" and scalar_text(0.1) == "0.1" and scalar_text(1e25) == "1e+25"
    assert scalar_text(10 ** 25 + 1) == "10000000000000000000000001"
    assert scalar_text([2, 3], convert=True) == "2, 3" and scalar_text(["$3$"], join=" | ") == "$3$"


def test_decimals_keep_their_text_as_written_in_json_lines_and_json_arrays(tmp_path):
    """`1.50`, `1E5`, `-0.0`, `2.50e-3` are the answers' texts, in .jsonl and in .json, with the same ids."""
    m = mapping(tmp_path)
    written = ["1.50", "1E5", "-0.0", "2.50e-3"]
    lines = [f'{{"question": "Q{i}?", "answer": {w}, "solution": "s", "teacher": "t"}}' for i, w in enumerate(written)]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.json").write_text("[" + ",\n".join(lines) + "]")
    with Lake.open(tmp_path / "lake") as lake:
        first = ingest(lake, [tmp_path / "a.jsonl"], m)
        second = ingest(lake, [tmp_path / "b.json"], m)
        answers = dict(lake.rows("SELECT question, reference_answer FROM problems"))
    assert answers == {f"Q{i}?": w for i, w in enumerate(written)}
    assert first.counts["accepted"] == 4 and second.counts["duplicates"] == 4
