"""The mapping language for real files (issue 10 item 2), each feature through a real lake:
value conversions, chat transcripts (several turns, content parts, code and tool turns),
question templates, a join with a second file, balanced \\boxed{} answers, license and
source URL in the runs row, list-valued answers and several solutions per problem.

    .venv/bin/python -m pytest tests/test_ingest_mapping_language.py -q
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.ingest import MappingError, ingest, load_mapping
from pipeline.ingest.values import last_boxed
from test_ingest_mappings import mapping_file, write_jsonl  # tests/ is on sys.path (rootdir conftest)
from warehouse import Lake


def toml(path: Path, text: str):
    return load_mapping(mapping_file(path, text))


@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as lake:
        yield lake


def problems(lake: Lake) -> dict[str, dict]:
    return {r["question"]: r for r in lake.query("SELECT * FROM problems").to_pylist()}


def test_value_conversions_to_answer_text_with_the_answer_type(lake, tmp_path):
    data = write_jsonl(tmp_path / "v.jsonl", [
        {"q": "Bool?", "a": True}, {"q": "Int?", "a": 7}, {"q": "Float?", "a": 0.25}, {"q": "List?", "a": [2, 3]},
        {"q": "Text?", "a": "x"}])
    m = toml(tmp_path / "m.toml", '[problem]\nquestion = "q"\nanswer = { field = "a", convert = true }\n')
    assert ingest(lake, [data], m).counts["accepted"] == 5
    got = {q: (r["reference_answer"], r["answer_kind"], json.loads(r["metadata"]).get("answer_type"))
           for q, r in problems(lake).items()}
    assert got == {"Bool?": ("True", "text", "boolean"), "Int?": ("7", "numeric", "integer"),
                   "Float?": ("0.25", "numeric", "number"), "List?": ("2, 3", "text", "list"),
                   "Text?": ("x", "text", None)}


def test_without_convert_a_boolean_answer_is_quarantined(lake, tmp_path):
    data = write_jsonl(tmp_path / "v.jsonl", [{"q": "Bool?", "a": False}])
    m = toml(tmp_path / "m.toml", '[problem]\nquestion = "q"\nanswer = "a"\n')
    assert ingest(lake, [data], m).counts["quarantined"] == 1
    assert "convert = true" in lake.scalar("SELECT reason FROM quarantine")


def test_chat_turns_joined_content_parts_and_code_turns(lake, tmp_path):
    messages = [
        {"role": "system", "content": "be careful"},
        {"role": "user", "content": [{"type": "text", "text": "Compute 2**10."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me run it."},
                                          {"type": "executable_code", "executable_code": {"code": "print(2**10)"}}]},
        {"role": "tool", "content": [{"type": "code_execution_result", "code_execution_result": {"output": "1024"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "python", "arguments": "2**10"}}]},
        {"role": "assistant", "content": "So \\boxed{1024}."}]
    data = write_jsonl(tmp_path / "c.jsonl", [{"messages": messages}])
    m = toml(tmp_path / "m.toml", """
[problem]
question = { field = "messages", role = "user", pick = "first" }
answer = { field = "messages", role = "assistant", pick = "last", boxed = true }
[[trajectory]]
text = { field = "messages", role = ["assistant", "tool"], pick = "all", join = "\\n\\n" }
teacher = { const = "chat-model" }
""")
    assert ingest(lake, [data], m).counts["accepted"] == 1
    (q, p), = problems(lake).items()
    assert (q, p["reference_answer"]) == ("Compute 2**10.", "1024")
    text, sampling = lake.rows("SELECT text, sampling FROM trajectories")[0]
    assert text == "Let me run it.\nprint(2**10)\n\n1024\n\n2**10\n\nSo \\boxed{1024}."
    s = json.loads(sampling)  # each turn's offsets, like a step list
    assert [text[a:b] for a, b in zip(s["step_starts"], s["step_ends"])][1:] == ["1024", "2**10", "So \\boxed{1024}."]


def test_question_template_with_context_and_options(lake, tmp_path):
    data = write_jsonl(tmp_path / "mc.jsonl", [
        {"context": "A train leaves at 3pm.", "question": "When does it leave?", "options": ["2pm", "3pm"], "label": 1},
        {"question": "Pick the prime.", "options": {"A": 4, "B": 7}, "label": "B"}])
    m = toml(tmp_path / "m.toml", """
[problem]
question = { template = ["{context}", "{question}\\n\\n{options|letters}"] }
answer = { field = "label", map = { "0" = "A", "1" = "B" } }
""")
    assert ingest(lake, [data], m).counts["accepted"] == 2
    assert {q: p["reference_answer"] for q, p in problems(lake).items()} == {
        "A train leaves at 3pm.\n\nWhen does it leave?\n\nA. 2pm\nB. 3pm": "B",
        "Pick the prime.\n\nA. 4\nB. 7": "B"}


def test_answer_joined_from_a_second_file_by_key(lake, tmp_path):
    (tmp_path / "keys").mkdir()
    write_jsonl(tmp_path / "keys" / "answers.jsonl", [{"id": 1, "answer": "12"}, {"id": "2", "answer": "5"}])
    data = write_jsonl(tmp_path / "q.jsonl", [{"pid": "1", "problem": "P1?", "solution": "s1"},
                                              {"pid": 2, "problem": "P2?", "solution": "s2"},
                                              {"pid": 3, "problem": "P3?", "solution": "s3"}])
    m = toml(tmp_path / "m.toml", """
[joins.key]
file = "keys/answers.jsonl"
key = "id"
on = "pid"
[problem]
question = "problem"
answer = "key.answer"
[[trajectory]]
text = "solution"
teacher = { const = "t" }
""")
    assert ingest(lake, [data], m).counts["accepted"] == 3
    assert {q: p["reference_answer"] for q, p in problems(lake).items()} == {"P1?": "12", "P2?": "5", "P3?": None}
    bad = tmp_path / "bad.toml"
    bad.write_text('[joins.key]\nfile = "nope.jsonl"\nkey = "id"\non = "pid"\n[problem]\nquestion = "problem"\n')
    with pytest.raises(MappingError, match="join file"):
        ingest(lake, [data], load_mapping(bad))


def test_balanced_boxed_answer_from_the_solution(lake, tmp_path):
    assert last_boxed(r"x \boxed{1} then \boxed{\frac{1}{2}} end") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{\{a\}} and \boxed{open") == r"\{a\}"
    assert last_boxed("no box") is None and last_boxed(r"\fbox{3}") == "3"
    data = write_jsonl(tmp_path / "b.jsonl", [{"problem": "Half?", "solution": r"It is $\boxed{\dfrac{1}{2}}$."},
                                              {"problem": "None?", "solution": "no box here"}])
    m = toml(tmp_path / "m.toml", """
[problem]
question = "problem"
answer = { field = "solution", boxed = true }
[[trajectory]]
text = "solution"
teacher = { const = "t" }
""")
    assert ingest(lake, [data], m).counts["accepted"] == 2
    assert {q: p["reference_answer"] for q, p in problems(lake).items()} == {"Half?": r"\dfrac{1}{2}", "None?": None}


def test_license_and_source_url_reach_the_runs_row(lake, tmp_path):
    data = write_jsonl(tmp_path / "l.jsonl", [{"question": "Q?", "answer": "1", "solution": "s"}])
    m = toml(tmp_path / "m.toml", """
license = "CC BY-SA 4.0"
source_url = "https://github.com/qtli/GSM-Plus"
[problem]
question = "question"
answer = "answer"
""")
    ingest(lake, [data], m)
    config = json.loads(lake.scalar("SELECT r.config FROM runs r JOIN problems p USING (run_id)"))
    assert (config["mapping"]["license"], config["mapping"]["source_url"]) == ("CC BY-SA 4.0",
                                                                               "https://github.com/qtli/GSM-Plus")


def test_olympiad_list_answers_and_several_solutions(lake, tmp_path):
    data = write_jsonl(tmp_path / "o.jsonl", [
        {"id": 1, "question": "Find all n.", "final_answer": ["$3$", "$5$"], "solution": ["Try n=3.", "Or n=5."]},
        {"id": 2, "question": "Find m.", "final_answer": ["$7$"], "solution": ["Seven."]}])
    m = toml(tmp_path / "m.toml", """
[problem]
question = "question"
answer = { field = "final_answer", join = ", " }
[[trajectory]]
text = { field = "solution", each = true }
teacher = { const = "olympiad-reference" }
""")
    report = ingest(lake, [data], m)
    assert (report.counts["read"], report.counts["accepted"]) == (3, 3)
    assert {q: p["reference_answer"] for q, p in problems(lake).items()} == {"Find all n.": "$3$, $5$",
                                                                              "Find m.": "$7$"}


def test_fields_holding_json_text_are_walked_into(lake, tmp_path):
    """OpenRLHF rows keep the label as JSON text: `label.answer` reads inside it."""
    data = write_jsonl(tmp_path / "r.jsonl", [{"input": "Q?", "label": json.dumps({"answer": "4", "strategy": "s"})}])
    m = toml(tmp_path / "m.toml", '[problem]\nquestion = "input"\nanswer = "label.answer"\n')
    assert ingest(lake, [data], m).counts["accepted"] == 1
    assert problems(lake)["Q?"]["reference_answer"] == "4"


@pytest.mark.parametrize("text, message", [
    ('[problem]\nquestion = { field = "m", role = "user", pick = "all" }\n', "pick"),
    ('[problem]\nquestion = { template = "{a|nope}" }\n', "unknown template filter"),
    ('[problem]\nquestion = { template = "{a}", field = "a" }\n', "exactly one"),
])
def test_bad_new_features_are_one_line(tmp_path, text, message):
    with pytest.raises(MappingError) as err:
        toml(tmp_path / "m.toml", text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_shipped_mapping_names_its_license_and_source():
    from pipeline.ingest import available_mappings

    for name in available_mappings():
        m = load_mapping(name)
        if not name.startswith(("chat-", "sharegpt", "list-", "steps", "r1-think", "question-", "stratagem-")):
            assert m.license and m.source_url, name
