"""`review push` selection policies and task building over a real lake (no server needed).

    .venv/bin/pytest tests/test_labelstudio_select.py
"""
from __future__ import annotations

import pytest

from pipeline.labelstudio.client import ReviewError
from pipeline.labelstudio.push import build_tasks, select_trajectories
from schemas import Problem, Span, Strategy, Trajectory, content_id, text_sha, to_arrow
from warehouse import Lake


def _span(tid, text, start, end, label, annotator, conf, kind="rule"):
    return Span(span_id=content_id("span", tid, start, end, label, annotator), trajectory_id=tid,
                text_sha=text_sha(text), start=start, end=end, label=label, annotator_kind=kind,
                annotator=annotator, confidence=conf, alignment="segment", run_id=f"run-{annotator}")


@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as lake:
        texts = {f"t{i}": f"Trajectory {i}: first find x. Let me check 😀 it. " * 3 for i in range(4)}
        lake.insert("problems", to_arrow([Problem(problem_id="p", source="s", question="Q?")], Problem))
        lake.insert("trajectories", to_arrow([Trajectory(trajectory_id=t, problem_id="p", teacher="x", text=x,
                                                         text_sha=text_sha(x), n_chars=len(x))
                                              for t, x in texts.items()], Trajectory))
        spans = []
        for i, (t, x) in enumerate(texts.items()):
            spans.append(_span(t, x, 0, 10, "planning", "rules", 0.2 * (i + 1)))
            # the LLM agrees with the rules on t0 only; on t3 it disagrees on every span
            spans.append(_span(t, x, 0, 10, "planning" if i == 0 else "recall", "llm", 0.9))
            if i == 3:
                spans.append(_span(t, x, 20, 30, "verification", "llm", 0.9))
        spans.append(_span("t1", texts["t1"], 5, 9, "exploration", "ls:a@b", None, kind="human"))
        lake.insert("spans", to_arrow(spans, Span))
        lake.insert("strategies", to_arrow([Strategy(
            strategy_id=f"s{r}", problem_id="p", source_trajectory_id="t0", problem_type=f"type {r}",
            approach="a", steps=["s"], rank=r, annotator_kind="llm", annotator="d") for r in (2, 1, 3)], Strategy))
        yield lake


def test_policies(lake):
    assert sorted(select_trajectories(lake, "random", 10, None)) == ["t0", "t1", "t2", "t3"]
    assert select_trajectories(lake, "random", 2, None, seed=1) == select_trajectories(lake, "random", 2, None, seed=1)
    assert select_trajectories(lake, "low-confidence", 2, "rules") == ["t0", "t1"]
    assert select_trajectories(lake, "disagreement", 4, None)[-1] == "t0"  # full agreement comes last
    assert select_trajectories(lake, "disagreement", 1, None) != ["t0"]
    with pytest.raises(ReviewError, match="unknown --select"):
        select_trajectories(lake, "everything", 5, None)


def test_sql_selection_runs_sandboxed_on_a_read_only_lake(lake, tmp_path):
    query = "sql:SELECT trajectory_id FROM trajectories WHERE trajectory_id > 't1' ORDER BY 1 DESC"
    with pytest.raises(ReviewError, match="read-only"):  # never user SQL on the writable lake
        select_trajectories(lake, query, 5, None)
    lake.close()
    secret = tmp_path / "outside.txt"
    secret.write_text("t9\n")
    with Lake.open(tmp_path / "lake", read_only=True) as ro:
        assert select_trajectories(ro, query, 5, None) == ["t3", "t2"]
        with pytest.raises(ReviewError, match="trajectory_id column"):
            select_trajectories(ro, "sql:SELECT 1 AS x", 5, None)
        with pytest.raises(ReviewError, match="only SELECT"):
            select_trajectories(ro, "sql:DELETE FROM trajectories", 5, None)
        with pytest.raises(ReviewError):  # files outside the lake stay out of reach
            select_trajectories(ro, f"sql:SELECT content AS trajectory_id FROM read_text('{secret}')", 5, None)
        with pytest.raises(ReviewError):
            select_trajectories(ro, "sql:SELECT NULL AS trajectory_id FROM ducklake_expire_snapshots('lake', "
                                    "older_than => now())", 5, None)
        assert ro.count("trajectories") == 4


def test_build_tasks_parts_predictions_and_candidates(lake):
    specs, missing = build_tasks(lake, ["t1", "nope"], annotator="rules", k=2, max_chars=60)
    assert missing == ["nope"]
    text = lake.scalar("SELECT text FROM trajectories WHERE trajectory_id = 't1'")
    assert "".join(s.data["text"] for s in specs) == text and len(specs) > 1
    assert [s.key for s in specs] == [f"t1#{i}" for i in range(len(specs))]
    first = specs[0]
    assert first.data["strategy_ids"] == ["s1", "s2"]  # ranked, K=2
    assert first.data["candidates"].startswith("Candidate 1\nProblem type: type 1")
    # the problem, candidates and strategy controls are on the first part only; only existing candidates
    assert first.data["question"] and [o["value"] for o in first.data["strategy_options"]] == [
        "Candidate 1", "Candidate 2", "None is usable"]
    assert [o["value"] for o in first.data["leak_options"]] == ["Candidate 1 leaks the answer",
                                                                "Candidate 2 leaks the answer"]
    for later in specs[1:]:
        assert later.data["candidates"] == later.data["question"] == "" and later.data["strategy_options"] == []
        assert "part 1" in later.data["problem_header"] and "part 1" in later.data["candidates_header"]
    assert first.data["why"].startswith("Why this task: --select sql query (1 of 2)")
    # predictions: only the chosen annotator's spans (not the human one) with their confidence, and the
    # edit box pre-filled with the first candidate; the model_version is stamped by push
    spans = [r for r in first.predictions[0]["result"] if r["type"] == "labels"]
    assert [(r["value"]["start"], r["value"]["end"]) for r in spans] == [(0, 10)]
    assert spans[0]["score"] is not None and spans[0]["meta"]["text"][0].startswith("confidence ")
    prefill = [r for r in first.predictions[0]["result"] if r["type"] == "textarea"]
    assert prefill[0]["value"]["text"][0].startswith("Problem type: type 1")
    assert all(not s.predictions for s in specs[1:]) and first.prediction_run_id == "run-rules"
    no_pred, _ = build_tasks(lake, ["t1"], annotator=None, max_chars=60)
    assert [r["type"] for r in no_pred[0].predictions[0]["result"]] == ["textarea"]  # only the pre-fill
    assert all(s.predictions == [] for s in no_pred[1:])
