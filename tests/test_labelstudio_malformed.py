"""Malformed Label Studio annotations are quarantined, never a failed pull (issue 15 defect 8).

The server validates nothing and stores whatever a client sends, so a pull meets values that
are strings or lists, `choices` that are integers, textarea `text` that is an integer,
annotations without `id`, `completed_by` as a list, result items that are not objects. Each
becomes a quarantine row naming the task (and annotation), the rest of the task and of the
pull is stored, and the next pull still reads later good annotations. The JSON is fed to the
validation layer and to the pull's per-task reader over a real DuckLake; one case through a
real server is in tests/test_labelstudio_server.py.

    .venv/bin/pytest tests/test_labelstudio_malformed.py
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from annotators.labelstudio import (
    CHOICE_FROM, EDIT_FROM, LEAK_FROM, RATING_FROM, check_annotation, check_result, read_strategy_choice,
    results_to_spans,
)
from pipeline.labelstudio.pull import _Pull, quarantine_annotator
from schemas import Review, load_taxonomy, to_arrow
from test_labelstudio_server import add_trajectory
from warehouse import Lake

TAX = load_taxonomy()
TEXT = "First, find the total. Let me check: 6 / 3 = 2. The answer is \\boxed{6}."
PID = 7


def span(start: int, end: int, label: str = "decomposition") -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": TEXT[start:end], "labels": [label]}}


MALFORMED_RESULTS = {
    "value is a string": {"from_name": "label", "type": "labels", "value": "0-5 planning"},
    "value is a list": {"from_name": "label", "type": "labels", "value": [0, 5, "planning"]},
    "choices is an integer": {"from_name": CHOICE_FROM, "type": "choices", "value": {"choices": 2}},
    "leak choices is an integer": {"from_name": LEAK_FROM, "type": "choices", "value": {"choices": 1}},
    "textarea text is an integer": {"from_name": EDIT_FROM, "type": "textarea", "value": {"text": 5}},
    "textarea text holds a lone surrogate": {"from_name": EDIT_FROM, "type": "textarea",
                                             "value": {"text": ["Problem type: a\ud800"]}},
    "rating is a string": {"from_name": RATING_FROM, "type": "rating", "value": {"rating": "five"}},
    "from_name is a list": {"from_name": ["label"], "type": "labels", "value": {"start": 0, "end": 5}},
    "item is a string": "junk",
    "item is a number": 5,
    "item is null": None,
}


@pytest.mark.parametrize("case", list(MALFORMED_RESULTS))
def test_each_malformed_result_item_gets_a_reason_not_an_exception(case):
    assert check_result(MALFORMED_RESULTS[case])
    assert check_result(span(0, 5)) is None


def test_conversion_functions_survive_malformed_values():
    spans, problems = results_to_spans([MALFORMED_RESULTS["value is a string"], span(0, 5)], TEXT, 0, TAX.names)
    assert [(s.start, s.end) for s in spans] == [(0, 5)] and "not an object" in problems[0].reason
    choice = read_strategy_choice([MALFORMED_RESULTS[k] for k in (
        "choices is an integer", "leak choices is an integer", "textarea text is an integer", "rating is a string")], k=3)
    assert choice.candidate is None and choice.edited_text is None and not choice.leak and choice.rating is None
    assert len(choice.problems) == 4 and all("malformed result" in p.reason for p in choice.problems)


@pytest.mark.parametrize("raw, where", [
    ({"result": []}, "id"),
    ({"id": "12", "result": []}, "id"),
    ({"id": 3, "completed_by": [1, 2], "result": []}, "completed_by"),
    ({"id": 3, "completed_by": {"email": "x"}, "result": []}, "completed_by"),
    ({"id": 3, "result": "not a list"}, "result"),
    ({"id": 3, "updated_at": 17, "result": []}, "updated_at"),
    (42, "not an object"),
])
def test_malformed_annotations_get_a_reason(raw, where):
    ann, reason = check_annotation(raw)
    assert ann is None and where in reason


def test_completed_by_as_object_or_id_is_read():
    assert check_annotation({"id": 1, "completed_by": {"id": 4, "email": "a@b"}})[0].user_id == 4
    assert check_annotation({"id": 1, "completed_by": 4, "result": None})[0].user_id == 4


# ---------------------------------------------------------------- through the pull's task reader
@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as lake:
        tid, _ = add_trajectory(lake, "malformed", TEXT)
        lake.insert("reviews", to_arrow([Review(trajectory_id=tid, ls_project=PID, ls_task_id=1, part=0,
                                                part_offset=0, text_sha=lake.scalar(
                                                    "SELECT text_sha FROM trajectories"), pushed_at=datetime.now(
                                                    timezone.utc))], Review), skip_existing=False)
        yield lake


def task_of(lake, annotations) -> dict:
    tid, sha, problem = lake.rows("SELECT trajectory_id, text_sha, problem_id FROM trajectories")[0]
    return {"id": 1, "data": {"trajectory_id": tid, "part": 0, "part_offset": 0, "text": TEXT, "text_sha": sha,
                              "problem_id": problem, "strategy_ids": []}, "annotations": annotations}


def pull_tasks(lake, tasks):
    with lake.run("review-pull", {"test": True}) as run:
        state = _Pull(lake, run, PID, TAX, {i: f"ann{i}@x" for i in range(100)})
        for task in tasks:
            state.task(task)
        state.write()
        for name in ("read", "accepted", "recorded", "quarantined", "duplicates"):
            run.count(name, 0)
    return run.report.counts


def ann(i, results, **kw):
    """Annotation `i` by user `i` (one person's newer annotation of a task part supersedes their older one)."""
    return {"id": i, "completed_by": i, "updated_at": "2025-01-01T00:00:00Z", "result": results} | kw


def test_malformed_annotations_are_quarantined_and_the_rest_is_stored(lake):
    annotations = [ann(1, [span(0, 5)])]
    annotations += [ann(10 + i, [item]) for i, item in enumerate(MALFORMED_RESULTS.values())]
    annotations += [{"completed_by": 1, "result": [span(7, 11)]},                       # no id
                    ann(30, [span(7, 11)], completed_by=[1, 2]),                       # completed_by a list
                    ann(31, "not a list"), 42,
                    ann(32, ["junk", 7, span(23, 32, "verification"), None])]          # non-objects beside a good one
    counts = pull_tasks(lake, [task_of(lake, annotations), "not a task", {"id": 9, "data": {"part": [0]}}])
    assert counts["read"] == counts["accepted"] + counts["recorded"] + counts["quarantined"] + counts["duplicates"], counts
    assert counts["accepted"] == 2
    stored = lake.rows("SELECT start, \"end\", label, annotator FROM spans WHERE annotator_kind = 'human' ORDER BY 1")
    assert stored == [(0, 5, "decomposition", "ls:ann1@x"), (23, 32, "verification", "ls:ann32@x")]
    rows = lake.rows("SELECT locator, reason FROM quarantine WHERE stage = 'review-pull' ORDER BY locator")
    assert len(rows) == counts["quarantined"] == len(MALFORMED_RESULTS) + 4 + 3 + 1  # items, 4 bad annotations, 3 non-objects, 1 task
    assert all(loc.startswith(f"project {PID} task ") for loc, _ in rows)
    reasons = " | ".join(r for _, r in rows)
    for needle in ("not an object (a str)", "not an object (a int)", "choices", "text", "completed_by",
                   "annotation: id", "lone surrogate", "task is not an object"):
        assert needle in reasons, needle
    assert any(loc == f"project {PID} task 1 annotation 32 by ls:ann32@x result 0" for loc, _ in rows)
    # every row whose annotator is known names them, in the locator and (parseably) in the reason
    named = [(loc, r) for loc, r in rows if "annotation 1" in loc or "annotation 32" in loc]
    assert named and all(quarantine_annotator(r) == loc.split(" by ")[1].split()[0] for loc, r in named)
    assert quarantine_annotator(next(r for loc, r in rows if "completed_by" in r)) is None  # unreadable: unknown


def test_a_later_pull_still_reads_later_good_annotations(lake):
    bad = [ann(1, [MALFORMED_RESULTS["value is a list"]]), ann(2, [span(0, 5)], completed_by=["x"])]
    first = pull_tasks(lake, [task_of(lake, bad)])
    assert first["accepted"] == 0 and first["quarantined"] == 2
    later = pull_tasks(lake, [task_of(lake, bad + [ann(3, [span(7, 11, "planning")])])])
    assert later["accepted"] == 1
    assert lake.rows("SELECT start, label FROM current_spans WHERE annotator_kind = 'human'") == [(7, "planning")]
    assert lake.scalar("SELECT count(*) FROM runs WHERE stage = 'review-pull' AND status = 'ok'") == 2
    # annotation 1 was read (its annotations row holds it): unchanged, not read again; the unreadable
    # annotation 2 is met again: counted, not stored again (status stays honest)
    assert later["annotations.unchanged"] == 1
    assert later["quarantined"] == later["quarantined.known"] == 1
    assert lake.scalar("SELECT count(*) FROM quarantine WHERE stage = 'review-pull'") == 2


def test_an_unexpected_error_in_one_task_is_undone_and_quarantined(lake, monkeypatch):
    """A task whose reading fails part way leaves none of its rows, only a quarantine row."""
    good = task_of(lake, [ann(1, [span(0, 5)])])
    broken = task_of(lake, [ann(2, [span(7, 11)]), ann(3, [span(0, 5)])])
    broken["id"] = 2
    real = _Pull._annotation

    def fail_on_the_second(self, a, *args):
        real(self, a, *args)
        if a.id == 3:
            raise RuntimeError("boom")
    monkeypatch.setattr(_Pull, "_annotation", fail_on_the_second)  # a fault injected, not a mock of anything
    counts = pull_tasks(lake, [good, broken])
    assert counts["read"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"], counts
    assert (counts["accepted"], counts["quarantined"]) == (1, 1)
    assert lake.rows("SELECT start, annotator_version FROM spans WHERE annotator_kind = 'human'") == [
        (0, f"p{PID}.t0.a1@2025-01-01T00:00:00Z")]
    assert "RuntimeError: boom" in lake.scalar("SELECT reason FROM quarantine WHERE locator = ?", [f"project {PID} task 2"])
