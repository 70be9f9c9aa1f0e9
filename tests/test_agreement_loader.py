"""The one agreement loader (pipeline/agreement/stage.py): `stratagem agreement`, the dataset card
and the report give the same figures for the same pair on one small lake, Label Studio names
with "@" included; snapshots and latest versions; one-line errors.

    .venv/bin/pytest tests/test_agreement_loader.py
"""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipeline.agreement import AgreementError, AnnotatorRef, agreement, annotators, load_spans, resolve
from pipeline.cli import app
from pipeline.export.card import _agreement as card_agreement
from pipeline.report.gather import ReportData, gather_lake
from schemas import load_taxonomy
from test_export_fixtures import fill_lake, make_world, span
from warehouse import Lake

LS = "ls:admin@stratagem.local"
LS_TAG = "p1.t0.a5@2024-05-01T10:00:00"
PAIRS = [("rules", "gold"), ("llm-m", "rules"), ("llm-m", "gold"), (LS, "gold"), (LS, "rules"), ("llm-m", LS)]


def _extra_spans(trajectories) -> list:
    """Gold on every trajectory, an LLM on every other one, a Label Studio user on every third."""
    out = []
    for i, t in enumerate(trajectories):
        text, tid = t.text, t.trajectory_id
        first, check = text.index("\n"), text.index("Let me check")
        out += [span(tid, text, 0, first, "decomposition", "gold", "teacher"),
                span(tid, text, check, len(text) - 5, "verification", "gold", "teacher")]
        if i % 2:
            out.append(span(tid, text, 0, first + 3, "planning" if i % 4 == 1 else "decomposition", "llm", "llm-m"))
        if i % 3 == 0:
            human = span(tid, text, check, check + 12, "verification", "human", LS)
            out.append(human.model_copy(update={"annotator_version": LS_TAG, "span_id": human.span_id + "h"}))
    return out


@pytest.fixture
def small_lake(lake_root):
    rows = make_world(4)
    rows["spans"] += _extra_spans(rows["trajectories"])
    with Lake.open(lake_root) as lake:
        fill_lake(lake, rows)
    return lake_root


def _card_table(lake) -> pa.Table:
    """What card_stats hands _agreement: exported rows (id = trajectory id) with their consensus plans
    (here: the gold spans)."""
    rows = lake.rows('SELECT t.trajectory_id, t.text, list({label: s.label, start: s.start, "end": s."end"} '
                     'ORDER BY s.start) FILTER (WHERE s.annotator_kind = \'gold\') '
                     "FROM trajectories t LEFT JOIN spans s USING (trajectory_id) GROUP BY ALL ORDER BY 1")
    return pa.table({"id": [r[0] for r in rows], "teacher_completion": [r[1] for r in rows],
                     "strategy_plan": [r[2] or [] for r in rows]})


def test_cli_card_and_report_agree(small_lake):
    root = ["--root", str(small_lake)]
    cli = {}
    for a, b in PAIRS:
        r = CliRunner().invoke(app, ["agreement", "--a", a, "--b", b, "--json", *root])
        assert r.exit_code == 0, r.output
        cli[a, b] = json.loads(r.stdout)
    assert cli[LS, "gold"]["a"] == LS and cli[LS, "gold"]["b"] == "gold"  # a person: every current version
    assert cli[LS, "gold"]["trajectories_both"] == 4 and cli["rules", "gold"]["trajectories_both"] == 12
    with Lake.open(small_lake, read_only=True) as lake:
        card = {(r["a"], r["b"]): r for r in card_agreement(_card_table(lake), lake, lake.snapshot_id())}
        data = ReportData(taxonomy=load_taxonomy())
        gather_lake(lake, data)
    report = data.agreement
    assert report["names"] == ["llm-m", LS, "rules", "gold"]  # the same spelling as the card's
    assert {a for a, _ in card} == set(report["names"]) and (LS, "consensus") in card
    for a, b in PAIRS:
        want = cli[a, b]
        i, j = report["names"].index(a), report["names"].index(b)
        got_card = card[a, b]
        assert (got_card["trajectories"], got_card["overlap_f1"], got_card["exact_f1"], got_card["kappa"]) == (
            want["trajectories_both"], want["overlap"]["f1"], want["exact"]["f1"], want["overall_kappa"]), (a, b)
        assert (report["docs"][i][j], report["overlap_f1"][i][j], report["kappa"][i][j]) == (
            want["trajectories_both"], want["overlap"]["f1"], want["overall_kappa"]), (a, b)
        if b == "gold":
            assert report["vs_gold"][a]["exact_f1"] == want["exact"]["f1"]
    assert set(data.labels) == set(report["names"]) and data.labels[LS] == {"verification": 4}


def test_latest_version_and_snapshots(small_lake):
    with Lake.open(small_lake) as lake:
        before = lake.snapshot_id()
        old_result, _ = agreement(lake, "rules", "gold")
        tid, text = lake.rows("SELECT trajectory_id, text FROM trajectories ORDER BY 1 LIMIT 1")[0]
        newer = span(tid, text, 0, 4, "recall", "rule", "rules", run_id="annotate-2")
        fill_lake(lake, {"spans": [newer.model_copy(update={"annotator_version": "r2", "span_id": "newer"})]})
        result, meta = agreement(lake, "rules", "gold")  # the latest version: one trajectory
        assert meta["a"] == "rules@r2" and meta["trajectories_both"] == 1
        first, _ = agreement(lake, "rules@", "gold")  # the first version spelled out
        assert first == old_result
        refs = annotators(lake, before)
        at_snapshot = load_spans(lake, refs, snapshot=before)  # as the card reads: the newer run is not there
        now = load_spans(lake, refs)
        rules = AnnotatorRef(None, "rules")
        assert len(at_snapshot.spans[rules]) == 12 and now.spans[rules] == {tid: [(0, 4, "recall")]}
        assert at_snapshot.resolved[rules].version == "" and now.resolved[rules].version == "r2"


def test_unknown_annotators_are_one_line_errors(small_lake):
    with Lake.open(small_lake, read_only=True) as lake:
        with pytest.raises(AgreementError, match=r"no spans from annotator 'nobody@example\.org' \(annotators with spans: "
                                                 r"llm-m, ls:admin@stratagem\.local, rules, teacher, or gold\)"):
            resolve(lake, ["nobody@example.org"])
        with pytest.raises(AgreementError, match=f"no spans from annotator '{LS}' at version 'x'"):
            resolve(lake, [f"{LS}@x"])
    r = CliRunner().invoke(app, ["agreement", "--a", f"{LS}@x", "--b", "gold", "--root", str(small_lake)])
    assert r.exit_code == 2 and "at version 'x'" in r.output
