"""Agreement for people (issue 13 item 2): a person counts every current annotation version, and two
annotators are compared only on the task parts both reviewed (pipeline/agreement/reviewed.py).

    .venv/bin/pytest tests/test_agreement_people.py
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.agreement import Annotation, AnnotatorRef, agreement, load_spans, restrict
from annotators.segments import merge_ranges
from pipeline.agreement.reviewed import clip, intersect, parse_tag
from pipeline.cli import app
from schemas import Strategy, to_arrow
from test_people_fixtures import A, B, TAG_A6, people_lake
from warehouse import Lake


@pytest.fixture
def lake_ids(lake_root):
    return lake_root, people_lake(lake_root)


def test_ranges_and_restriction_are_plain_functions():
    assert parse_tag("p3.t12.a7@2024-05-01T10:00:00Z") == (3, 12) and parse_tag("rules-3") is None
    assert merge_ranges([(5, 9), (0, 3), (3, 4), (8, 12)]) == [(0, 4), (5, 12)]
    assert intersect(None, [(0, 4)]) == [(0, 4)] and intersect([(0, 4)], [(4, 9)]) == []
    assert intersect([(0, 10)], [(2, 4), (8, 20)]) == [(2, 4), (8, 10)] and intersect(None, None) is None
    assert clip([(0, 6, "x"), (6, 9, "y"), (2, 3, "x")], [(2, 5)]) == [(2, 3, "x"), (2, 5, "x")]
    person = Annotation({"t": [(0, 5, "planning")]}, {"t": [(0, 6)]})
    model = {"t": [(0, 5, "planning"), (7, 11, "recall")], "u": [(0, 1, "x")]}
    texts, a, b, info = restrict({"t": "alpha beta gamma", "u": "x"}, person, model)
    assert texts == {"t": "alpha " + " " * 10} and a == b == {"t": [(0, 5, "planning")]}
    assert (info.compared, info.partial, info.disjoint) == (1, 1, 0)


def test_only_the_reviewed_part_counts(lake_ids):
    root, ids = lake_ids
    with Lake.open(root, read_only=True) as lake:
        result, meta = agreement(lake, A, "rules")
        loaded = load_spans(lake, [AnnotatorRef(None, A), AnnotatorRef(None, "rules")])
    # A reviewed part 1 of the split trajectory and all of the short one; the rules span in part 2 is not a miss
    assert (meta["a"], meta["trajectories_both"], meta["trajectories_in_part"]) == (A, 2, 1)
    assert result.exact.precision == result.exact.recall == 1.0 and result.overall_kappa == 1.0
    assert loaded.spans[AnnotatorRef(None, A)].reviewed == {ids["tid"]["split"]: [(0, ids["cut"])]}
    assert loaded.spans[AnnotatorRef(None, "rules")].reviewed == {}  # a model covers every text
    with Lake.open(root, read_only=True) as lake:  # B reviewed part 2 only: "Wait," as backtracking is B's own
        result, meta = agreement(lake, B, "rules")
    assert meta["trajectories_both"] == 2 and result.labels["verification"].exact.precision == 1.0
    assert result.labels["backtracking"].exact.n_pred == 1 and "decomposition" not in result.labels  # part 1 only


def test_people_on_different_parts_are_not_compared_there(lake_ids):
    root, ids = lake_ids
    with Lake.open(root, read_only=True) as lake:
        result, meta = agreement(lake, A, B)
    assert (meta["trajectories_both"], meta["trajectories_not_shared"], meta["trajectories_in_part"]) == (1, 1, 0)
    assert result.n_trajectories == 1 and result.exact.f1 == 0.0  # the short one: verification vs planning


def test_a_person_counts_every_current_annotation_version(lake_ids):
    root, ids = lake_ids
    with Lake.open(root, read_only=True) as lake:
        loaded = load_spans(lake, [AnnotatorRef(None, A)], texts=False)
        one, meta = agreement(lake, f"{A}@{TAG_A6}", "rules")  # one annotation, spelled out
    spans = loaded.spans[AnnotatorRef(None, A)]
    assert spans == {ids["tid"]["split"]: [(0, 41, "decomposition")], ids["tid"]["short"]: [(0, 44, "verification")]}
    assert loaded.resolved[AnnotatorRef(None, A)] == AnnotatorRef("human", A)  # no single "latest" version
    assert meta["a"] == f"{A}@{TAG_A6}" and meta["trajectories_both"] == 1  # the edit's older version is gone


def test_a_part_reviewed_with_no_span_left_counts(lake_ids):
    root, ids = lake_ids
    other = ids["tid"]["other"]
    with Lake.open(root) as lake:  # A removed the rules span on OTHER, kept only a strategy choice
        lake.insert("strategies", to_arrow([Strategy(
            strategy_id="a-other", problem_id=ids["pid"]["other"], source_trajectory_id=other, problem_type="sum",
            approach="Add.", steps=["Add."], selected=True, annotator_kind="human", annotator=A,
            annotator_version="p1.t0.a11@2024-05-03T00:00:00Z")], Strategy))
        result, meta = agreement(lake, A, "rules")
        assert load_spans(lake, [AnnotatorRef(None, A)], texts=False).spans[AnnotatorRef(None, A)][other] == []
    assert meta["trajectories_both"] == 3 and result.labels["planning"].exact.n_ref == 1
    assert result.labels["planning"].exact.recall == 0.0


def test_cli_between_two_people_prints_a_table(lake_ids):
    root, _ = lake_ids
    r = CliRunner().invoke(app, ["agreement", "--a", A, "--b", B, "--root", str(root)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert f"agreement of {A} (a) with {B} (b)" in r.output
    assert "1 trajectories annotated by both" in r.output and "1 left out" in r.output
    for label in ("verification", "planning", "all"):
        assert label in r.output
    r = CliRunner().invoke(app, ["agreement", "--a", A, "--b", "rules", "--json", "--root", str(root)])
    got = json.loads(r.stdout)
    assert got["a"] == A and got["trajectories_in_part"] == 1 and got["exact"]["f1"] == 1.0


def test_a_submitted_annotation_with_nothing_in_it_counts_and_a_skip_does_not(lake_ids):
    root, ids = lake_ids
    from schemas.models import TABLES

    model = TABLES["annotations"]
    other = ids["tid"]["other"]

    def row(who: str, annotation: int, skipped: bool):
        return model(annotator_version=f"p1.t0.a{annotation}@2024-05-04T00:00:00Z", trajectory_id=other,
                     ls_project=1, ls_task_id=4, ls_annotation_id=annotation, part=0, annotator=who,
                     skipped=skipped, run_id="run-human")
    with Lake.open(root) as lake:  # A submitted OTHER with every predicted span removed; B skipped it
        lake.insert("annotations", to_arrow([row(A, 13, False), row(B, 14, True)], model))
        _, meta_a = agreement(lake, A, "rules")
        _, meta_b = agreement(lake, B, "rules")
    assert meta_a["trajectories_both"] == 3 and meta_b["trajectories_both"] == 2
