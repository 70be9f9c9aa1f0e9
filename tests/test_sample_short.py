"""Tests of the short-form sample family (`lookup`) and the short teacher that the demo
trains on: the variants it has, exact answers recomputed from the question text, whole
solutions within the demo's token budget, the gold span the strategy is made from, a
leak-free strategy, and that the default sample is unchanged by the family's existence.

    .venv/bin/python -m pytest tests/test_sample_short.py -q
"""
from __future__ import annotations

import re
from collections import Counter

import pytest

from annotators import DescribeItem, SpanOut, get_describer
from annotators.answers import is_correct
from annotators.leakage import leakage_flags
from pipeline.sample import generate_records
from pipeline.sample.generate import check_families, records_per_seed
from pipeline.sample.short import SHORT_TEACHER

N_SEEDS = 200


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(generate_records(N_SEEDS, seed=5, families=["lookup"]))


def recomputed_answer(question: str) -> str:
    """The count of the asked-for thing in the asked-for container, read from the statement."""
    thing, which = re.search(r"How many (\w+) are in (.+)\?$", question).groups()
    counts = {label: int(c) for label, c in re.findall(rf"\b\w+ ([A-Z]) has (\d+) {thing}\.", question)}
    if which.endswith("with the most"):
        return str(max(counts.values()))
    if which.endswith("with the fewest"):
        return str(min(counts.values()))
    return str(counts[which.split()[-1]])


def test_lookup_has_the_numbers_names_and_distractor_variants_only(records):
    assert Counter(r["perturbation"] for r in records) == {p: N_SEEDS for p in ("original", "numbers", "names", "distractor")}
    assert {r["family"] for r in records} == {"lookup"} and {r["teacher"] for r in records} == {SHORT_TEACHER}
    assert records_per_seed(families=["lookup"]) == 4 and records_per_seed() == 6


def test_answers_are_the_asked_count_and_distractors_add_a_count_to_the_same_container(records):
    for r in records:
        assert r["answer"] == recomputed_answer(r["question"])
        if r["perturbation"] == "distractor":
            label = re.search(r"in \w+ ([A-Z])\. ", r["solution"]).group(1)
            assert len(re.findall(rf"\b{label} has \d+ ", r["question"])) == 2
    asks = Counter(re.search(r"are in (the \w+ with the \w+|\w+ [A-Z])\?", r["question"]).group(1).split()[-1]
                   for r in records)
    assert asks["most"] > 50 and asks["fewest"] > 50 and len(asks) > 2   # comparisons and labels both asked


def test_solutions_are_short_and_end_with_the_boxed_answer(records):
    assert max(len(r["solution"].encode()) for r in records) <= 100   # the demo's byte-level budget
    for r in records:
        assert r["solution"].endswith(f"\\boxed{{{r['final_answer']}}}")
        assert is_correct(r["solution"], r["answer"]) == (not r["metadata"]["teacher_wrong"])
    wrong = sum(r["metadata"]["teacher_wrong"] for r in records) / len(records)
    assert 0.05 < wrong < 0.2


def test_the_gold_span_is_the_goal_sentence_and_the_strategy_made_from_it_does_not_leak(records):
    describer = get_describer("rules", k=5)
    for r in records[:80]:
        [span] = r["gold_spans"]
        goal = r["solution"][span["start"]:span["end"]]
        assert span["start"] == 0 and span["label"] == "backward_chaining" and re.search(r" in \w+ [A-Z]\.$", goal)
        item = DescribeItem(r["id"], r["question"], r["answer"], r["id"], r["solution"],
                            (SpanOut(span["start"], span["end"], span["label"]),), r["family"])
        best = describer.describe([item])[0].candidates[0]
        assert goal in best.steps   # the strategy names the container to read, in the solution's words
        assert not leakage_flags([best.approach, *best.steps], r["question"], r["answer"])


def test_the_default_sample_has_no_short_family_and_unknown_families_are_refused():
    assert "lookup" not in {r["family"] for r in generate_records(20, seed=0)}
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        check_families(["nope"])
