"""Ingest mappings: every shape a mapping can describe, ids as in schemas.ids, re-ingest
as a no-op, and the fast (Arrow) and slow (per-record) paths giving identical rows."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.ingest import MappingError, available_mappings, ingest, load_mapping
from pipeline.ingest.mapping import parse_path
from schemas import content_id, normalise_text, text_sha
from warehouse import Lake


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def mapping_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows(lake: Lake, sql: str) -> list[dict]:
    return lake.query(sql).to_pylist()


@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as lake:
        yield lake


def test_every_shipped_mapping_loads():
    names = available_mappings()
    for expected in ("stratagem-sample", "gsm8k", "gsm8k-model-solutions", "gsm-plus", "gsm-plus-gpt4", "math500",
                     "math-perturb", "r1-traces", "prm800k", "qwen-math-cot", "chat-messages", "sharegpt",
                     "r1-think", "list-responses", "steps"):
        assert expected in names
    for name in names:
        assert load_mapping(name).name == name


def test_parse_path():
    assert parse_path("a.b[0].c") == ("a", "b", 0, "c")
    assert parse_path("6b_finetuning.solution") == ("6b_finetuning", "solution")
    assert parse_path("x[-1]") == ("x", -1)
    with pytest.raises(ValueError):
        parse_path("[0].a")


@pytest.mark.parametrize("text, message", [
    ("[problem]\nquestion = 5\n", "problem.question"),
    ("[problem]\nquestion = 'q'\nbogus = 1\n", "bogus"),
    ("[problem]\nquestion = { field = 'q', const = 'x' }\n", "exactly one"),
    ("[problem]\nquestion = 'q'\nanswer = { field = 'a', regex = '(' }\n", "regex"),
    ("[problem]\nquestion = 'q'\n[[trajectory]]\ntext = 's'\n", "teacher"),
    ("not toml [", "not valid TOML"),
])
def test_bad_mapping_is_one_line(tmp_path, text, message):
    with pytest.raises(MappingError) as err:
        load_mapping(mapping_file(tmp_path / "m.toml", text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_mapping_name_lists_the_shipped_ones():
    with pytest.raises(MappingError, match="gsm8k"):
        load_mapping("no-such-mapping")
    with pytest.raises(MappingError, match="bad mapping name"):
        load_mapping("../no-such-dir/x")


def test_sample_record_with_gold_spans_and_family_ids(lake, tmp_path):
    solution = "First, find the cost.\r\nLet me check: 3 + 4 = 7. The answer is \\boxed{7}."
    solution_lf = normalise_text(solution)
    seed = {"id": "s-1-original-t0", "question": "Ann has 3 apples and buys 4. How many?", "answer": "7",
            "family": "shopping", "perturbation": "original", "seed_question": "Ann has 3 apples and buys 4. How many?",
            "seed_answer": "7", "solution": solution_lf, "teacher": "procedural-teacher-v1", "final_answer": "7",
            "gold_spans": [{"start": 0, "end": 21, "label": "decomposition"}, {"start": 22, "end": 46, "label": "verification"}],
            "metadata": {"seed_index": 1, "difficulty": 2}}
    variant = dict(seed, id="s-1-numbers-t0", question="Ann has 5 apples and buys 4. How many?", answer="9",
                   perturbation="numbers", gold_spans=[], solution="Add them: 5 + 4 = 9.")
    report = ingest(lake, [write_jsonl(tmp_path / "s.jsonl", [seed, variant])], load_mapping("stratagem-sample"))
    assert report.counts["read"] == 2 and report.counts["accepted"] == 2 and report.counts["written.spans"] == 2

    pid = content_id("problem", "stratagem-sample", seed["question"], "7")
    problems = {r["problem_id"]: r for r in rows(lake, "SELECT * FROM problems")}
    assert problems[pid]["family_seed_id"] == pid and problems[pid]["answer_kind"] == "numeric"
    vid = content_id("problem", "stratagem-sample", variant["question"], "9")
    assert problems[vid]["family_seed_id"] == pid and problems[vid]["perturbation"] == "numbers"
    assert json.loads(problems[pid]["metadata"]) == {"difficulty": 2, "record_id": "s-1-original-t0", "seed_index": 1}

    traj = rows(lake, f"SELECT * FROM trajectories WHERE problem_id = '{pid}'")[0]
    assert traj["text"] == solution_lf and traj["n_chars"] == len(solution_lf)
    assert traj["text_sha"] == text_sha(solution_lf)
    assert traj["trajectory_id"] == content_id("trajectory", pid, "procedural-teacher-v1", text_sha(solution_lf))
    assert traj["source_row"] == 1 and traj["source_file"].endswith("s.jsonl")
    spans = rows(lake, "SELECT * FROM spans ORDER BY start")
    assert [(s["start"], s["end"], s["label"]) for s in spans] == [(0, 21, "decomposition"), (22, 46, "verification")]
    s = spans[0]
    assert (s["annotator_kind"], s["annotator"], s["alignment"], s["text_sha"]) == ("gold", "procedural-teacher", "gold",
                                                                                     traj["text_sha"])
    assert s["span_id"] == content_id("span", traj["trajectory_id"], 0, 21, "decomposition", "gold", "procedural-teacher", "")
    assert solution_lf[s["start"]:s["end"]] == "First, find the cost."


def test_reingest_is_a_noop(lake, tmp_path):
    data = write_jsonl(tmp_path / "q.jsonl", [{"question": f"q{i}?", "answer": str(i), "solution": f"so {i}"} for i in range(5)])
    mapping = load_mapping("question-answer-solution")
    first = ingest(lake, [data], mapping, teacher="t")
    before = lake.snapshot_id()
    second = ingest(lake, [data], mapping, teacher="t")
    assert first.counts["accepted"] == 5
    assert second.counts["accepted"] == 0 and second.counts["duplicates"] == 5 and second.counts["read"] == 5
    assert lake.count("trajectories") == 5 and lake.count("problems") == 5
    assert second.counts.get("written.problems", 0) == 0
    assert lake.snapshot_id() > before  # only the runs row changed


def test_gsm8k_answer_after_hashes_and_crlf_bom(lake, tmp_path):
    path = tmp_path / "g.jsonl"
    lines = [json.dumps({"question": "\ufeffHow many?\r\nTell me.", "answer": "2 + 2 = 4\r\n#### 4"}),
             json.dumps({"question": "And 1,000 more?", "answer": "sum\n####  1,004 "})]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    report = ingest(lake, [path], load_mapping("gsm8k"))
    assert report.counts["accepted"] == 2
    got = {r["question"]: r["reference_answer"] for r in rows(lake, "SELECT * FROM problems")}
    assert got == {"How many?\nTell me.": "4", "And 1,000 more?": "1,004"}
    texts = [r["text"] for r in rows(lake, "SELECT text FROM trajectories ORDER BY source_row")]
    assert texts == ["2 + 2 = 4\n#### 4", "sum\n####  1,004 "]
    assert {r["source_row"] for r in rows(lake, "SELECT source_row FROM trajectories")} == {1, 2}


def test_chat_sharegpt_nested_and_constants(lake, tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "draft"}, {"role": "assistant", "content": "2+3=5. \\boxed{5}"}],
        "answer": 5, "model": "m1"}])
    share = write_jsonl(tmp_path / "share.jsonl", [{"conversations": [
        {"from": "human", "value": "What is 6/2?"}, {"from": "gpt", "value": "6/2 = 3"}], "answer": "3"}])
    nested = write_jsonl(tmp_path / "nested.jsonl", [{"data": {"items": [{"q": "Nested q?"}], "ref": {"a": "1/2"}},
                                                      "out": {"texts": ["nested solution"]}}])
    mapping = mapping_file(tmp_path / "nested.toml", """
description = "nested paths"
source = "nested-src"
[problem]
question = "data.items[0].q"
answer = "data.ref.a"
family = { const = "fractions" }
[[trajectory]]
text = "out.texts[-1]"
teacher = { const = "t-const" }
""")
    assert ingest(lake, [chat], load_mapping("chat-messages")).counts["accepted"] == 1
    assert ingest(lake, [share], load_mapping("sharegpt"), teacher="share-model").counts["accepted"] == 1
    assert ingest(lake, [nested], load_mapping(mapping)).counts["accepted"] == 1
    got = {r["question"]: r for r in rows(lake, "SELECT p.question, p.reference_answer, p.family, p.source, "
                                          "t.text, t.teacher FROM problems p JOIN trajectories t USING (problem_id)")}
    assert (got["What is 2+3?"]["text"], got["What is 2+3?"]["reference_answer"], got["What is 2+3?"]["teacher"]) == \
        ("2+3=5. \\boxed{5}", "5", "m1")
    assert (got["What is 6/2?"]["text"], got["What is 6/2?"]["teacher"]) == ("6/2 = 3", "share-model")
    n = got["Nested q?"]
    assert (n["reference_answer"], n["family"], n["source"], n["text"], n["teacher"]) == \
        ("1/2", "fractions", "nested-src", "nested solution", "t-const")


def test_list_responses_and_steps(lake, tmp_path):
    lists = write_jsonl(tmp_path / "l.jsonl", [{"question": "Q?", "answer": "1", "model": "m",
                                                "responses": ["r0", "r1", "r0"], "scores": [True, False, True]}])
    report = ingest(lake, [lists], load_mapping("list-responses"))
    assert (report.counts["read"], report.counts["accepted"], report.counts["duplicates"]) == (3, 2, 1)
    sampling = {r["text"]: json.loads(r["sampling"]) for r in rows(lake, "SELECT text, sampling FROM trajectories")}
    assert sampling == {"r0": {"index": 0, "score": True}, "r1": {"index": 1, "score": False}}

    steps = write_jsonl(tmp_path / "s.jsonl", [{"question": "S?", "answer": "2", "steps": ["one", "two\r\nlines", "three"]}])
    ingest(lake, [steps], load_mapping("steps"))
    t = rows(lake, "SELECT text, sampling FROM trajectories WHERE text LIKE 'one%'")[0]
    assert t["text"] == "one\ntwo\nlines\nthree"
    s = json.loads(t["sampling"])
    assert [t["text"][a:b] for a, b in zip(s["step_starts"], s["step_ends"])] == ["one", "two\nlines", "three"]


def test_folder_of_per_problem_files(lake, tmp_path):
    for kind, ok in (("correct", True), ("incorrect", False)):
        d = tmp_path / "traces" / f"{kind}_base_solution" / "problem_7"
        d.mkdir(parents=True)
        (d / "problem.json").write_text(json.dumps({"problem": "Find x.", "gt_answer": "3", "type": "Algebra",
                                                    "level": "Level 5", "nickname": "x"}))
        (d / "base_solution.json").write_text(json.dumps({"solution": f"<think>{kind}</think> x = 3", "answer": "3",
                                                          "is_correct": ok}))
    report = ingest(lake, [tmp_path / "traces"], load_mapping("r1-traces"))
    assert (report.counts["read"], report.counts["accepted"], report.counts["written.problems"]) == (2, 2, 1)
    got = rows(lake, "SELECT text, sampling, source_file FROM trajectories ORDER BY text")
    assert [json.loads(r["sampling"])["is_correct"] for r in got] == [True, False]
    assert got[0]["source_file"].endswith("correct_base_solution/problem_7")
    meta = json.loads(rows(lake, "SELECT metadata FROM problems")[0]["metadata"])
    assert meta == {"level": "Level 5", "nickname": "x", "problem_folder": "problem_7"}


def test_json_array_object_parquet_and_csv_inputs(lake, tmp_path):
    recs = [{"question": f"Q{i}?", "answer": str(i), "solution": f"S{i}"} for i in range(4)]
    tmp_path = tmp_path / "inputs"
    tmp_path.mkdir()
    (tmp_path / "arr.json").write_text(json.dumps(recs[:1], indent=2))
    (tmp_path / "obj.json").write_text(json.dumps(recs[1], indent=2))
    pq.write_table(pa.Table.from_pylist(recs[2:3]), tmp_path / "t.parquet")
    pl.DataFrame(recs[3:4]).write_csv(tmp_path / "t.csv")
    report = ingest(lake, [tmp_path], load_mapping("question-answer-solution"), teacher="t")
    assert report.counts["files"] == 4 and report.counts["accepted"] == 4
    assert sorted(r["text"] for r in rows(lake, "SELECT text FROM trajectories")) == ["S0", "S1", "S2", "S3"]


def test_fast_and_slow_paths_store_identical_rows(tmp_path):
    """The same clean records through Arrow (fast) and through the per-line fallback (a bad
    line in the block forces it) give identical problems and trajectories."""
    recs = [{"question": f"Q{i}\r\n?", "answer": i if i % 2 else f"{i}.5", "model": "m", "level": {"n": i},
             "responses": [f"r{i}", f"s{i}"], "scores": [i % 3 == 0, None]} for i in range(20)]
    mapping = mapping_file(tmp_path / "m.toml", """
[problem]
question = "question"
answer = "answer"
metadata = { level = "level.n" }
[[trajectory]]
text = { field = "responses", each = true }
teacher = "model"
sampling = { score = { field = "scores", each = true } }
""")
    clean = write_jsonl(tmp_path / "clean.jsonl", recs)
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_text(clean.read_text() + "{not json\n")
    tables = {}
    for name, path in (("fast", clean), ("slow", dirty)):
        with Lake.open(tmp_path / name) as lake:
            report = ingest(lake, [path], load_mapping(mapping))
            assert report.counts["quarantined"] == (1 if name == "slow" else 0)
            tables[name] = [lake.query(f"SELECT * EXCLUDE (run_id{extra}) FROM {t} ORDER BY 1").to_pylist()
                            for t, extra in (("problems", ""), ("trajectories", ", source_file"))]
    assert tables["fast"] == tables["slow"]
    assert len(tables["fast"][1]) == 40


def test_json_object_with_a_records_list(lake, tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"meta": {"v": 1}, "data": {"items": [
        {"question": "W1?", "answer": "1", "solution": "w1"}, {"question": "W2?", "answer": "2", "solution": "w2"}]}}))
    mapping = mapping_file(tmp_path / "wrapped.toml", """
records = "data.items"
[problem]
question = "question"
answer = "answer"
[[trajectory]]
text = "solution"
teacher = { const = "t" }
""")
    report = ingest(lake, [path], load_mapping(mapping))
    assert report.counts["accepted"] == 2
    assert lake.count("quarantine") == 0
    assert sorted(r["source_row"] for r in rows(lake, "SELECT source_row FROM trajectories")) == [0, 1]


def test_empty_or_wrong_response_lists_are_quarantined_not_dropped(lake, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [
        {"question": "A?", "answer": "1", "responses": ["a", "b"]},          # no scores at all
        {"question": "B?", "answer": "1", "responses": []},
        {"question": "C?", "answer": "1", "responses": None, "scores": [True]},
        {"question": "D?", "answer": "1", "responses": "not a list"}])
    report = ingest(lake, [path], load_mapping("list-responses"))
    c = report.counts
    assert (c["read"], c["accepted"], c["quarantined"]) == (5, 2, 3)
    reasons = dict(lake.rows("SELECT locator, reason FROM quarantine"))
    assert reasons == {f"{path}:2 response[0]": "missing solution text (field 'responses')",
                       f"{path}:3 response[0]": "missing solution text (field 'responses')",
                       f"{path}:4": "field 'responses' is text, expected a list"}
    assert {json.loads(s)["score"] for (s,) in lake.rows("SELECT sampling FROM trajectories")} == {None}
