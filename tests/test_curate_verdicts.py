"""Curation and three-valued verdicts: `unknown` is its own drop reason unless the policy
includes it, `no_reference` is not verified, and the newest checker version's verdict decides
(not the latest run). Real DuckLake in tmp_path.

    .venv/bin/python -m pytest tests/test_curate_verdicts.py -q
"""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.curate import curate
from pipeline.curate.policy import PolicyError, load_policy, policy_from_dict
from schemas import Verdict, to_arrow
from test_curate import check_invariant, curated
from test_export_fixtures import fill_lake, make_world
from warehouse import Lake


def verdict(tid: str, outcome: str, version: str, run_id: str, method: str = "boxed") -> Verdict:
    return Verdict(trajectory_id=tid, extracted_answer=None if outcome == "unknown" else "6", extraction=method,
                   outcome=outcome, confidence=0.2 if outcome == "unknown" else 1.0,
                   is_correct={"correct": True, "incorrect": False}.get(outcome), checker_version=version,
                   run_id=run_id)


def _lake_with(lake_root, outcomes: list[str], version: str = "answers-2", run_id: str = "20261203T100000-verify-a"):
    """Four one-problem families whose `v1` verdicts say correct, re-judged by `version` as `outcomes`."""
    world = make_world(len(outcomes), perturbations=())
    lake = Lake.open(lake_root)
    fill_lake(lake, world)
    tids = sorted(t.trajectory_id for t in world["trajectories"])
    lake.insert("verdicts", to_arrow([verdict(t, o, version, run_id) for t, o in zip(tids, outcomes)], Verdict))
    return lake, tids


def test_unknown_is_its_own_reason_and_no_reference_is_not_verified(lake_root):
    lake, tids = _lake_with(lake_root, ["correct", "unknown", "no_reference", "incorrect"])
    with lake:
        report = curate(lake, load_policy())
        c = report.counts
        check_invariant(c)
        assert c["accepted"] == 1
        assert c["dropped.unknown"] == c["dropped.not_verified"] == c["dropped.incorrect"] == 1
        assert {k: v for k, v in c.items() if k.startswith("verdicts.")} == {
            "verdicts.correct": 1, "verdicts.unknown": 1, "verdicts.no_reference": 1, "verdicts.incorrect": 1}
        assert [r["trajectory_id"] for r in curated(lake, report.run_id)] == [tids[0]]


def test_policy_can_include_unknown(lake_root):
    lake, tids = _lake_with(lake_root, ["correct", "unknown", "no_reference", "incorrect"])
    with lake:
        report = curate(lake, policy_from_dict({"filters": {"unknown": "include"}}))
        c = report.counts
        check_invariant(c)
        assert c["accepted"] == 2 and c["unknown_accepted"] == 1 and "dropped.unknown" not in c
        assert [r["trajectory_id"] for r in curated(lake, report.run_id)] == tids[:2]
        # correct_only = false keeps every verdict, incorrect included
        assert curate(lake, policy_from_dict({"filters": {"correct_only": False}})).counts["accepted"] == 4


def test_newest_checker_version_decides_not_the_latest_run(lake_root):
    # answers-2 re-judged t0 and t1 earlier than a later rerun of an older checker (v1 in the fixture,
    # answers-1 here), which still says correct; answers-10 is newer than answers-9.
    lake, tids = _lake_with(lake_root, ["incorrect", "unknown", "correct"], run_id="20260101T000000-verify-a")
    with lake:
        lake.insert("verdicts", to_arrow(
            [verdict(t, "correct", "answers-1", "20261231T000000-verify-b") for t in tids]
            + [verdict(tids[2], "incorrect", "answers-10", "20260101T000000-verify-c"),
               verdict(tids[2], "correct", "answers-9", "20261231T000000-verify-d")], Verdict))
        c = curate(lake, load_policy()).counts
        assert (c["accepted"], c["dropped.incorrect"], c["dropped.unknown"]) == (0, 2, 1), c


def test_unknown_policy_value_is_checked():
    with pytest.raises(PolicyError, match="filters.unknown"):
        policy_from_dict({"filters": {"unknown": "keep"}})
    assert load_policy().filters.unknown == "exclude"


def test_curate_cli_says_why_unknown_trajectories_are_left_out(lake_root, tmp_path, monkeypatch):
    lake, _ = _lake_with(lake_root, ["correct", "unknown"])
    lake.close()
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["curate", "--root", str(lake_root)])
    assert result.exit_code == 0, result.output
    assert "dropped.unknown" in result.output
    assert "note: 1 trajectory left out because the verdict is unknown" in result.output
    assert 'policy [filters] unknown = "include" keeps them' in result.output
    (tmp_path / "p.toml").write_text('[filters]\nunknown = "include"\n')
    result = CliRunner().invoke(app, ["curate", "--root", str(lake_root), "--policy", str(tmp_path / "p.toml")])
    assert result.exit_code == 0 and "unknown_accepted" in result.output and "note:" not in result.output
