"""Curation: policy validation, consensus spans, strategy choice, filters, near-duplicates,
family splits without leakage, and the counts invariant. Real DuckLake in tmp_path."""
from __future__ import annotations

from collections import defaultdict

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.curate import CurateError, curate
from pipeline.curate.logic import SpanIn, consensus_precedence, consensus_vote, near_duplicate_pairs
from pipeline.curate.policy import Policy, PolicyError, load_policy, policy_from_dict
from test_export_fixtures import fill_lake, make_family, make_tokenizer, make_world, merge, span, strategy
from warehouse import Lake


def curated(lake: Lake, run_id: str) -> list[dict]:
    return lake.query("SELECT c.*, p.perturbation FROM curated c JOIN problems p USING (problem_id) "
                      "WHERE c.run_id = ? ORDER BY c.trajectory_id", [run_id]).to_pylist()


def check_invariant(counts: dict) -> None:
    dropped = sum(v for k, v in counts.items() if k.startswith("dropped."))
    assert counts["read"] == counts["accepted"] + counts["duplicates"] + dropped, counts


# ------------------------------------------------------------------ policy
def test_default_policy_file_is_the_documented_default():
    assert load_policy() == Policy()


@pytest.mark.parametrize("data, message", [
    ({"filters": {"max_char": 10}}, "unknown key 'filters.max_char'"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"spans": {"precedence": ["human", "robot"]}}, "unknown annotator 'robot'"),
    ({"strategy": {"order": ["llm", "wizard"]}}, "unknown annotator 'wizard'"),
    ({"spans": {"method": "annotator"}}, "needs annotator"),
    ({"splits": {"train": 0.5}}, "must be 1"),
])
def test_bad_policy_is_one_clear_line(data, message):
    with pytest.raises(PolicyError) as err:
        policy_from_dict(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_printed_default_policy_loads_back(tmp_path):
    result = CliRunner().invoke(app, ["curate", "--print-default-policy"])
    assert result.exit_code == 0
    (tmp_path / "p.toml").write_text(result.stdout)
    assert load_policy(tmp_path / "p.toml") == Policy()


def test_policy_file_errors_via_cli(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[filters]\nmax_char = 3\n')
    result = CliRunner().invoke(app, ["curate", "--policy", str(bad), "--root", str(tmp_path / "lake")])
    assert result.exit_code == 2
    assert "unknown key 'filters.max_char'" in result.output
    assert not (tmp_path / "lake").exists()


def test_named_annotator_must_exist_in_the_lake(lake_root):
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(2))
        with pytest.raises(CurateError, match="unknown annotator 'nobody'.*rules"):
            curate(lake, policy_from_dict({"spans": {"method": "annotator", "annotator": "nobody"}}))
        report = curate(lake, policy_from_dict({"spans": {"method": "annotator", "annotator": "rules"}}))
        assert report.counts["accepted"] == 6


# ------------------------------------------------------------------ consensus (pure)
def test_precedence_takes_the_first_kind_present_and_its_latest_annotator():
    spans = [SpanIn(0, 5, "planning", "rule", "rules"), SpanIn(3, 9, "verification", "llm", "m1", run_id="r1"),
             SpanIn(1, 4, "recall", "llm", "m2", run_id="r2")]
    assert consensus_precedence(spans, ["human", "llm", "rule"]) == ([("recall", 1, 4)], "llm:m2")
    assert consensus_precedence(spans, ["rule"]) == ([("planning", 0, 5)], "rule:rules")
    assert consensus_precedence(spans, ["human"]) == ([], "none")


def test_vote_keeps_characters_a_strict_majority_covers():
    spans = [SpanIn(0, 10, "planning", "llm", "a"), SpanIn(5, 15, "planning", "llm", "b"),
             SpanIn(8, 20, "planning", "rule", "c"), SpanIn(30, 40, "recall", "rule", "c", confidence=0.9),
             SpanIn(30, 40, "recall", "llm", "a", confidence=0.2)]
    plan, source = consensus_vote(spans, ["llm", "rule"], min_confidence=0.5)
    assert source == "vote:3"
    assert plan == [("planning", 5, 15)]  # recall: one confident voter of three is no majority


# ------------------------------------------------------------------ stage
def test_strategy_choice_and_trajectory_choice(lake_root):
    fam = make_family(1, perturbations=())
    pid = fam["problems"][0].problem_id
    tid = fam["trajectories"][0].trajectory_id
    fam["strategies"] = [
        strategy(pid, tid, "llm", "m", rank=1, leaks=("answer",), tag="-leaky"),
        strategy(pid, tid, "llm", "m", rank=2, tag="-second"),
        strategy(pid, tid, "rule", "rules", tag="-rule"),
        strategy(pid, tid, "human", "ann", selected=True, leaks=("number",), tag="-human-leaky"),
    ]
    with Lake.open(lake_root) as lake:
        fill_lake(lake, fam)
        rows = curated(lake, curate(lake, load_policy()).run_id)
        assert [r["strategy_id"] for r in rows] == [fam["strategies"][1].strategy_id]
        lax = policy_from_dict({"strategy": {"leak_free": False}})
        rows = curated(lake, curate(lake, lax).run_id)
        assert [r["strategy_id"] for r in rows] == [fam["strategies"][3].strategy_id]
        rules_only = policy_from_dict({"strategy": {"order": ["rule"]}})
        rows = curated(lake, curate(lake, rules_only).run_id)
        assert [r["strategy_id"] for r in rows] == [fam["strategies"][2].strategy_id]


def truncated_family(index: int) -> dict:
    fam = make_family(index, perturbations=())
    fam["trajectories"] = [t.model_copy(update={"truncated": True}) for t in fam["trajectories"]]
    return fam


def test_filters_and_counts(lake_root):
    world = merge(make_world(6, perturbations=()),
                  make_family(50, perturbations=(), correct=False),
                  make_family(51, perturbations=(), with_spans=False),
                  make_family(52, perturbations=(), with_strategy=False),
                  make_family(53, perturbations=(), source="banned"),
                  truncated_family(54))
    with Lake.open(lake_root) as lake:
        fill_lake(lake, world)
        policy = policy_from_dict({"filters": {"exclude_sources": ["banned"]}})
        report = curate(lake, policy)
        c = report.counts
        check_invariant(c)
        assert (c["read"], c["accepted"]) == (11, 6)
        assert c["dropped.incorrect"] == c["dropped.too_few_spans"] == c["dropped.no_strategy"] == 1
        assert c["dropped.excluded_source"] == c["dropped.truncated"] == 1
        short = curate(lake, policy_from_dict({"filters": {"max_chars": 20}})).counts
        assert short["dropped.length_chars"] == 9 and short["dropped.truncated"] == 1 and short["accepted"] == 0
        check_invariant(short)
        run = lake.rows("SELECT stage, status FROM runs WHERE run_id = ?", [report.run_id])
        assert run == [("curate", "ok")]


def test_spans_for_another_text_or_label_are_not_used(lake_root):
    fam = make_family(2, perturbations=())
    t = fam["trajectories"][0]
    stale = span(t.trajectory_id, t.text + " more", 0, 5, "planning", "human", "ann")
    fam["spans"] = [stale]
    with Lake.open(lake_root) as lake:
        fill_lake(lake, fam)
        report = curate(lake, load_policy())
        c = report.counts
        assert c["spans.stale"] == 1 and c["dropped.too_few_spans"] == 1 and c["quarantined"] == 1
        reasons = lake.rows("SELECT locator, reason FROM quarantine WHERE run_id = ?", [report.run_id])
        assert reasons[0][0] == f"span:{stale.span_id}" and "another text" in reasons[0][1]


def test_near_duplicates_are_collapsed_and_their_families_merged(lake_root):
    a = make_family(3, perturbations=("numbers",))
    b = make_family(3, perturbations=(), source="mirror")  # same question text from another source
    with Lake.open(lake_root) as lake:
        fill_lake(lake, merge(a, b))
        report = curate(lake, load_policy())
        check_invariant(report.counts)
        assert report.counts["duplicates"] == 1
        rows = curated(lake, report.run_id)
        assert len(rows) == 2 and len({r["split_group"] for r in rows}) == 1
        assert len({r["split"] in ("train", "val") or r["split"].startswith("test_") for r in rows}) == 1


def test_near_duplicate_pairs_by_similarity():
    q = "A farmer has 12 cows and buys 7 more cows at the market on Monday. How many cows does he have now?"
    qs = {"a": q, "b": q.replace("Monday", "Tuesday"), "c": "Completely different text about trains and speed.",
          "d": q.upper()}
    pairs = near_duplicate_pairs(qs, threshold=0.7)
    assert ("a", "b") in pairs and ("a", "d") in pairs
    assert not any("c" in p for p in pairs)
    assert ("a", "b") not in near_duplicate_pairs(qs, threshold=1.0)


def test_no_seed_crosses_splits_and_variants_follow_their_seed(lake_root):
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(60, perturbations=("numbers", "distractor", "names")))
        report = curate(lake, load_policy())
        check_invariant(report.counts)
        rows = curated(lake, report.run_id)
    assert len(rows) == 240
    kind = defaultdict(set)
    for r in rows:
        kind[r["family_seed_id"]].add("test" if r["split"].startswith("test_") else r["split"])
        if r["split"].startswith("test_"):
            assert r["split"] == f"test_{r['perturbation']}"
        else:
            assert r["split"] in ("train", "val")
    assert all(len(v) == 1 for v in kind.values()), "a family crosses splits"
    seen = {next(iter(v)) for v in kind.values()}
    assert seen == {"train", "val", "test"}
    splits = {r["split"] for r in rows}
    assert {"test_original", "test_numbers", "test_distractor", "test_names"} <= splits


def test_splits_are_stable_across_runs_and_new_data(lake_root):
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(30))
        first = {r["trajectory_id"]: r["split"] for r in curated(lake, curate(lake, load_policy()).run_id)}
        fill_lake(lake, merge(*(make_family(i) for i in range(100, 120))))
        second = {r["trajectory_id"]: r["split"] for r in curated(lake, curate(lake, load_policy()).run_id)}
    assert len(second) == len(first) + 40
    assert all(second[t] == s for t, s in first.items())


def test_variants_can_be_kept_out_of_train(lake_root):
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(30))
        report = curate(lake, policy_from_dict({"splits": {"variants_in_train": False}}))
        check_invariant(report.counts)
        rows = curated(lake, report.run_id)
    assert rows and all(r["perturbation"] == "original" for r in rows if r["split"] in ("train", "val"))
    assert report.counts["dropped.variant_outside_test"] > 0


def test_curate_cli_reports_and_warns_on_empty(lake_root):
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(2, correct=False))
    result = CliRunner().invoke(app, ["curate", "--root", str(lake_root)])
    assert result.exit_code == 0, result.output
    assert "dropped.incorrect" in result.output and "curated set is empty" in result.output


def test_token_length_filter_with_a_named_tokenizer(lake_root, tmp_path):
    tok = make_tokenizer(tmp_path / "tok")
    with Lake.open(lake_root) as lake:
        fill_lake(lake, make_world(4, perturbations=()))
        ok = curate(lake, policy_from_dict({"filters": {"tokenizer": str(tok), "max_tokens": 500}})).counts
        assert ok["accepted"] == 4
        few = curate(lake, policy_from_dict({"filters": {"tokenizer": str(tok.parent), "min_tokens": 500}})).counts
        assert few["dropped.length_tokens"] == 4
        with pytest.raises(ValueError, match="tokenizer 'no/such/tokenizer'"):
            curate(lake, policy_from_dict({"filters": {"tokenizer": "no/such/tokenizer", "max_tokens": 5}}))


def test_duplicate_collapse_keeps_variants_of_one_seed():
    from pipeline.curate.stage import _collapse_duplicates

    q = "A farmer has 12 cows and buys 7 more cows at the market on Monday. How many cows does he have now?"
    chosen = {"pA": {"question": q, "family_seed_id": "f1", "perturbation": "original"},
              "pB": {"question": q.replace("Monday", "Friday"), "family_seed_id": "f1", "perturbation": "names"},
              "pC": {"question": q.replace("Monday", "Friday"), "family_seed_id": "f2", "perturbation": "original"},
              "pD": {"question": "Something else entirely, about trains.", "family_seed_id": "f3",
                     "perturbation": "original"}}
    groups, dropped = _collapse_duplicates(policy_from_dict({"dedup": {"similarity": 0.7}}), chosen)
    assert dropped == 1 and set(chosen) == {"pA", "pB", "pD"}
    assert groups.find("f1") == groups.find("f2") != groups.find("f3")


from hypothesis import given, settings, strategies as st  # noqa: E402

_span = st.tuples(st.integers(0, 60), st.integers(1, 20), st.sampled_from(["planning", "recall"]),
                  st.sampled_from(["a", "b", "c"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_span, max_size=12))
def test_vote_properties(raw):
    spans = [SpanIn(s, s + n, lab, "llm", who) for s, n, lab, who in raw]
    plan, _ = consensus_vote(spans, ["llm"], min_confidence=0.0)
    voters = {s.annotator for s in spans}
    assert plan == sorted(plan, key=lambda p: (p[1], p[2], p[0]))
    for label, start, end in plan:
        assert start < end
        for x in range(start, end):  # every covered character has a strict majority of voters
            assert 2 * len({s.annotator for s in spans if s.label == label and s.start <= x < s.end}) > len(voters)
    for label in ("planning", "recall"):  # spans of one label never overlap or touch
        own = sorted((s, e) for lab, s, e in plan if lab == label)
        assert all(e1 < s2 for (_, e1), (s2, _) in zip(own, own[1:]))
    if len(voters) == 1:  # a single voter's spans, merged
        covered = {x for s in spans for x in range(s.start, s.end) if s.label == "planning"}
        assert covered == {x for lab, s, e in plan if lab == "planning" for x in range(s, e)}


def test_near_duplicates_found_among_many_templated_problems():
    template = "Shop {i} sells {a} pens at {b} dollars each and {c} boxes of paper to {name}. How much is spent?"
    qs = {f"p{i:05d}": template.format(i=i, a=i % 97, b=i % 13, c=i % 7, name="Ann") for i in range(3000)}
    twin = template.format(i=1234, a=1234 % 97, b=1234 % 13, c=1234 % 7, name="Ann") + " Answer in dollars."
    qs["twin"] = twin
    pairs = near_duplicate_pairs(qs, threshold=0.8)
    assert ("p01234", "twin") in pairs
    assert all("twin" in p for p in pairs), pairs[:5]  # the template alone makes no duplicate
