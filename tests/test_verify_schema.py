"""The verdicts table after issue 11: the Verdict model's rules, a lake made with the old
verdicts table (no outcome / confidence / judge_model) opening with the columns added and
the outcome filled from is_correct, and the `current_verdicts` view.

    .venv/bin/python -m pytest tests/test_verify_schema.py -q
"""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import Run, Verdict, arrow_schema, to_arrow
from warehouse import Lake


def verdict(**kw) -> Verdict:
    row = dict(trajectory_id="t1", extracted_answer="4", extraction="boxed", outcome="correct", confidence=1.0,
               is_correct=True, checker_version="answers-2", run_id="r1")
    return Verdict(**{**row, **kw})


def test_verdict_columns_in_order():
    assert arrow_schema(Verdict).names == ["trajectory_id", "extracted_answer", "extraction", "outcome", "confidence",
                                           "is_correct", "checker_version", "run_id", "judge_model"]


@pytest.mark.parametrize("kw", [dict(outcome="maybe"), dict(outcome="correct", is_correct=False),
                                dict(outcome="unknown", is_correct=False), dict(outcome="incorrect", is_correct=None),
                                dict(outcome="no_reference", is_correct=True), dict(confidence=1.5)])
def test_verdict_rejects_contradictions(kw):
    with pytest.raises(ValidationError):
        verdict(**kw)


def test_verdict_accepts_each_outcome():
    for outcome, flag in (("correct", True), ("incorrect", False), ("unknown", None), ("no_reference", None)):
        assert verdict(outcome=outcome, is_correct=flag).outcome == outcome
    assert verdict(extraction="judge", judge_model="m").judge_model == "m"


def test_a_verdict_written_the_old_way_gets_the_backfilled_outcome():
    row = dict(trajectory_id="t", extracted_answer="4", extraction="boxed", checker_version="v", run_id="r")
    assert [Verdict(**row, is_correct=flag).outcome for flag in (True, False, None)] == [
        "correct", "incorrect", "no_reference"]


def make_old_lake(root) -> None:
    """A lake whose verdicts table has only the answers-1 columns, holding three old verdicts."""
    with Lake.open(root) as lake:
        with lake.transaction():
            for column in ("outcome", "confidence", "judge_model"):
                lake.rows(f"ALTER TABLE lake.verdicts DROP COLUMN {column}")
            lake.rows("INSERT INTO lake.verdicts VALUES ('a', '4', 'boxed', true, 'answers-1', 'old'), "
                      "('b', '5', 'hashes', false, 'answers-1', 'old'), "
                      "('c', '3', 'last_number', NULL, 'answers-1', 'old')")
            lake.rows("DELETE FROM lake.meta WHERE key = 'views_sha256'")


def test_old_lake_gains_the_columns_and_outcomes(lake_root):
    make_old_lake(lake_root)
    with Lake.open(lake_root) as lake:
        rows = lake.rows("SELECT trajectory_id, outcome, confidence, is_correct, judge_model FROM verdicts ORDER BY 1")
        assert rows == [("a", "correct", None, True, None), ("b", "incorrect", None, False, None),
                        ("c", "no_reference", None, None, None)]
        snapshot = lake.snapshot_id()
    with Lake.open(lake_root) as lake:  # migrated once: opening again changes nothing
        assert lake.snapshot_id() == snapshot


def test_new_rows_go_into_a_migrated_table(lake_root):
    make_old_lake(lake_root)
    with Lake.open(lake_root) as lake:
        lake.insert("verdicts", to_arrow([verdict(trajectory_id="a", outcome="unknown", is_correct=None,
                                                  confidence=0.3, extraction="last_number")], Verdict))
        rows = lake.rows("SELECT outcome, confidence, checker_version FROM verdicts WHERE trajectory_id = 'a' "
                         "ORDER BY checker_version")
        assert rows == [("correct", None, "answers-1"), ("unknown", 0.3, "answers-2")]


def test_current_verdicts_takes_the_newest_checker_then_judge_over_rule(lake_root):
    """An older checker re-run later (t2: answers-1 in the last run) never overrules a newer one."""
    from datetime import datetime, timezone

    def run(run_id: str, second: int) -> Run:
        return Run(run_id=run_id, stage="verify", config_hash="h", code_version="c", status="ok",
                   started_at=datetime(2026, 1, 1, 0, 0, second, tzinfo=timezone.utc))

    with Lake.open(lake_root) as lake:
        lake.insert("runs", to_arrow([run("z-first", 1), run("a-second", 2), run("m-third", 3)], Run))
        lake.insert("verdicts", to_arrow([
            verdict(trajectory_id="t1", checker_version="answers-1", run_id="z-first"),
            verdict(trajectory_id="t1", outcome="unknown", is_correct=None, run_id="a-second"),
            verdict(trajectory_id="t1", outcome="incorrect", is_correct=False, extraction="judge", judge_model="m",
                    run_id="m-third"),
            verdict(trajectory_id="t2", checker_version="answers-1", run_id="m-third"),
            verdict(trajectory_id="t2", outcome="unknown", is_correct=None, run_id="a-second"),
        ], Verdict))
        rows = lake.rows("SELECT trajectory_id, outcome, run_id FROM current_verdicts ORDER BY 1")
        assert rows == [("t1", "incorrect", "m-third"), ("t2", "unknown", "a-second")]


def test_correct_trajectories_follow_the_current_verdict(lake_root):
    """Once per trajectory, and not when a later verdict overruled an older correct one."""
    import test_verify

    with Lake.open(lake_root) as lake:
        right, wrong = test_verify.add(lake, [test_verify.Problem(problem_id="p", source="s", question="q",
                                                                   reference_answer="4")],
                                       [("p", "so \\boxed{4}"), ("p", "so \\boxed{5}")])
        lake.insert("verdicts", to_arrow([verdict(trajectory_id=right, checker_version="answers-0", run_id="r0"),
                                          verdict(trajectory_id=wrong, checker_version="answers-0", run_id="r0")],
                                         Verdict))
        test_verify.verify(lake)
        assert lake.rows("SELECT trajectory_id FROM correct_trajectories") == [(right,)]
