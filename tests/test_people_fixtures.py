"""A small lake as two Label Studio annotators and the rules tagger leave it (no tests in here):
one trajectory split into two task parts, each person on one part; one single-part trajectory
both annotated differently; one pushed task nobody opened; human strategy choices, an edit, a
leak flag, ratings, a superseded annotation version and quarantined pull rows (as older and newer pulls name them).

    people_lake(root)   # -> the ids and texts below, rows in the lake at root
"""
from __future__ import annotations

from datetime import datetime, timezone

from schemas import (Problem, QuarantineRecord, Review, Span, Strategy, Trajectory, content_id, text_sha, to_arrow)

A, B = "ls:a@x.org", "ls:b@y.org"
PART0 = "First, find the total cost of the apples.\n\nThat is 3 times 4, so 12.\n\n"
PART1 = "Wait, let me check: 12 divided by 4 is 3.\n\nSo the answer is 12."
SPLIT = PART0 + PART1
SHORT = "Let me check: 5 minus 3 is 2, which matches.\nThe answer is 5."
OTHER = "Plan: add them.\nThe answer is 7."
TAG_A5 = "p1.t0.a5@2024-05-01T10:05:00Z"        # A on part 0 of SPLIT (edited once: the older tag is superseded)
TAG_A5_OLD = "p1.t0.a5@2024-05-01T10:00:00Z"
TAG_B7 = "p1.t1.a7@2024-05-01T11:00:00Z"        # B on part 1 of SPLIT
TAG_A6 = "p1.t0.a6@2024-05-02T09:00:00Z"        # A on SHORT
TAG_B8 = "p1.t0.a8@2024-05-02T09:30:00Z"        # B on SHORT
WHEN = datetime(2024, 5, 1, tzinfo=timezone.utc)


def _ids(question: str, text: str) -> tuple[str, str]:
    pid = content_id("problem", "people", question)
    return pid, content_id("trajectory", pid, "t", text_sha(text))


def _span(tid: str, text: str, start: int, end: int, label: str, kind: str, who: str, tag: str = "",
          superseded_by: str | None = None) -> Span:
    return Span(span_id=content_id("span", tid, start, end, label, kind, who, tag), trajectory_id=tid,
                text_sha=text_sha(text), start=start, end=end, label=label, annotator_kind=kind, annotator=who,
                annotator_version=tag, alignment="human" if kind == "human" else "segment", run_id=f"run-{kind}",
                superseded_by=superseded_by)


def people_lake(root) -> dict:
    from warehouse import Lake

    texts = {"split": SPLIT, "short": SHORT, "other": OTHER}
    ids = {k: _ids(f"question {k}", t) for k, t in texts.items()}
    tid = {k: v[1] for k, v in ids.items()}
    pid = {k: v[0] for k, v in ids.items()}
    cut = len(PART0)
    check = SPLIT.index("let me check")
    spans = [
        # rules on both parts of SPLIT, and on SHORT
        _span(tid["split"], SPLIT, 0, 41, "decomposition", "rule", "rules"),
        _span(tid["split"], SPLIT, check, check + 41, "verification", "rule", "rules"),
        _span(tid["short"], SHORT, 0, 44, "verification", "rule", "rules"),
        _span(tid["other"], OTHER, 0, 15, "planning", "rule", "rules"),
        # A, part 0 of SPLIT: kept the rules span (its first version had another label: superseded)
        _span(tid["split"], SPLIT, 0, 41, "planning", "human", A, TAG_A5_OLD, superseded_by=TAG_A5),
        _span(tid["split"], SPLIT, 0, 41, "decomposition", "human", A, TAG_A5),
        # B, part 1 of SPLIT: "Wait, ..." as backtracking instead of verification
        _span(tid["split"], SPLIT, cut, cut + 4, "backtracking", "human", B, TAG_B7),
        _span(tid["split"], SPLIT, check, check + 41, "verification", "human", B, TAG_B7),
        # SHORT: A agrees with rules, B calls it planning
        _span(tid["short"], SHORT, 0, 44, "verification", "human", A, TAG_A6),
        _span(tid["short"], SHORT, 0, 44, "planning", "human", B, TAG_B8),
    ]
    problems = [Problem(problem_id=pid[k], source="people", question=f"question {k}", reference_answer="12")
                for k in texts]
    trajectories = [Trajectory(trajectory_id=tid[k], problem_id=pid[k], teacher="t", text=t, text_sha=text_sha(t),
                               n_chars=len(t)) for k, t in texts.items()]
    reviews = [Review(trajectory_id=tid[k], ls_project=1, ls_task_id=task, part=part, part_offset=offset,
                      text_sha=text_sha(texts[k]), pushed_at=WHEN)
               for k, task, part, offset in (("split", 1, 0, 0), ("split", 2, 1, cut), ("short", 3, 0, 0),
                                             ("other", 4, 0, 0))]

    def strategy(k: str, kind: str, who: str, *, rank=None, tag="", steps=("Multiply.", "Check."), **kw) -> Strategy:
        return Strategy(strategy_id=content_id("strategy", k, kind, who, rank, tag), problem_id=pid[k],
                        source_trajectory_id=tid[k], problem_type="product", approach=f"approach {rank or who}",
                        steps=list(steps), rank=rank, annotator_kind=kind, annotator=who, annotator_version=tag,
                        run_id=f"run-{kind}", **kw)

    strategies = [strategy("split", "rule", "rules", rank=1), strategy("split", "rule", "rules", rank=2),
                  strategy("short", "rule", "rules", rank=1)]
    chosen = strategies[1]  # A picked candidate 2 on SPLIT: pull copies its text
    strategies += [
        chosen.model_copy(update={"strategy_id": "human-a5", "rank": None, "annotator_kind": "human", "annotator": A,
                                  "annotator_version": TAG_A5, "selected": True, "rating": 4, "run_id": "run-human"}),
        strategy("short", "human", B, tag=TAG_B8, steps=("Subtract.",), selected=True, edited=True, rating=2,
                 leakage_flags=["human:leak"]),
    ]
    quarantine = [QuarantineRecord(run_id="run-human", stage="review-pull", source="review-pull",
                                   locator="project 1 task 3 annotation 8 result 2",
                                   reason="label 'guessing' is not in the taxonomy", raw="{}"),
                  QuarantineRecord(run_id="run-human", stage="review-pull", source="review-pull",
                                   locator=f"project 1 task 2 annotation 7 by {B} result 0",
                                   reason=f"span text differs from the task text [annotator {B}]", raw="{}"),
                  QuarantineRecord(run_id="run-human", stage="review-pull", source="review-pull",
                                   locator="project 1 task 9 annotation 99", reason="task could not be read",
                                   raw='{"completed_by": 3}')]
    with Lake.open(root) as lake:
        for table, rows, model in (("problems", problems, Problem), ("trajectories", trajectories, Trajectory),
                                   ("spans", spans, Span), ("reviews", reviews, Review),
                                   ("strategies", strategies, Strategy), ("quarantine", quarantine, QuarantineRecord)):
            lake.insert(table, to_arrow(rows, model))
    return {"tid": tid, "pid": pid, "cut": cut, "check": check}
