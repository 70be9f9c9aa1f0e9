"""The leakage filter (annotators/leakage.py) and the rules describer (annotators/describe_rules.py).

    .venv/bin/pytest tests/test_describe_rules.py
"""
from __future__ import annotations

from fractions import Fraction

import pytest

from annotators import DescribeItem, SpanOut, TagItem, get_describer, get_tagger
from annotators.leakage import leakage_flags, numbers_in, strip_numbers

Q = "Tom buys 3 apples at $2 each and 3/4 pound of cheese. What is 25% of the total?"


@pytest.mark.parametrize("text, values", [
    ("1,200.50 and 12", {Fraction("1200.5"), 12}),
    ("3/4 of it", {Fraction(3, 4), 3, 4}),
    (r"\frac{1}{2} and \dfrac{10}{4}", {Fraction(1, 2), 1, 2, Fraction(5, 2), 10, 4}),
    ("25% off", {25, Fraction(1, 4)}),
    ("twelve eggs, a dozen, one box", {12}),
    ("x = -5 and .5", {5, Fraction(1, 2)}),
])
def test_numeric_normalisation(text, values):
    assert numbers_in(text) == {Fraction(v) for v in values}


def test_leakage_flags_answer_and_numbers_not_in_the_question():
    assert leakage_flags(["Add the prices", "Take a quarter of the total"], Q, "6") == []
    assert leakage_flags(["Multiply by 12"], Q, "42") == ["number:12"]
    assert leakage_flags(["The total is 42"], Q, "42") == ["answer:42", "number:42"]
    assert leakage_flags(["the answer is six"], Q, "6") == ["answer:6", "number:6"]
    # normalised forms of question numbers are not leaks: 0.25 = 25%, 4 is the denominator of 3/4
    assert leakage_flags(["divide by 4, then take 0.25"], Q, "6") == []
    # the answer leaks even when it is also in the question
    assert leakage_flags(["buy 3 apples"], Q, "3") == ["answer:3"]
    assert leakage_flags(["about 1,200 in total"], "q", "1200") == ["answer:1200", "number:1200"]
    assert leakage_flags(["take 0.5"], "q", r"\frac{1}{2}") == ["answer:1/2", "number:1/2"]
    assert leakage_flags(["subtract 5"], "q", "-5") == ["answer:5", "number:5"]
    assert leakage_flags(["nothing"], "q", r"\boxed{7}") == []
    # non-numeric answers leak as whole words only
    assert leakage_flags(["It is Tuesday"], "Which day?", "Tuesday") == ["answer:Tuesday"]
    assert leakage_flags(["Tuesdays are busy"], "Which day?", "Tuesday") == []
    assert leakage_flags(["Multiply by 12"], "q", None, allowed=[12]) == []


def test_strip_numbers():
    assert strip_numbers("First, 3 x 4 = 12 apples, twelve total") == "First, x = apples, total"


TRAJ = ("To solve this, I need to find the total cost first. The apples cost 3 x 2 = 6 dollars.\n"
        "Recall that a pound of cheese costs 8 dollars, so 3/4 pound is 6 dollars.\n"
        "Wait, that's wrong. Let me check: 6 + 6 = 12, which matches. 25% of 12 is 3.\n"
        "The answer is \\boxed{3}.")


def _item(trajectory=TRAJ, spans=None, family="shopping", question=Q, answer="3"):
    if spans is None:
        spans = get_tagger("rules").tag([TagItem("t", trajectory)])[0].spans
    return DescribeItem("p", question, answer, "t", trajectory, tuple(spans), family)


def test_rules_describer_candidates_are_leak_free_ranked_and_grounded():
    [result] = get_describer("rules", k=5).describe([_item()])
    assert result.error is None and 2 <= len(result.candidates) <= 5
    assert [c.rank for c in result.candidates] == list(range(1, len(result.candidates) + 1))
    assert [c.score for c in result.candidates] == sorted((c.score for c in result.candidates), reverse=True)
    for c in result.candidates:
        assert c.leakage_flags == []
        assert leakage_flags([c.problem_type, c.approach, *c.steps], Q, "3") == []
        assert c.problem_type == "shopping word problem" and c.steps
    best = result.candidates[0]
    assert best.steps[0] == "To solve this, I need to find the total cost first."  # grounded in the trajectory
    assert any("check" in s.lower() for s in best.steps)


def test_rules_describer_without_spans_family_or_trajectory():
    describer = get_describer("rules", k=3)
    [r] = describer.describe([_item(trajectory=None, spans=(), family=None,
                                    question="What percent of 40 is 10?", answer="25")])
    assert len(r.candidates) == 1 and r.candidates[0].problem_type == "percentage problem"
    [r] = describer.describe([_item(question="   ")])
    assert r.error == "empty question" and r.candidates == []
    [r] = get_describer("rules", k=1).describe([_item()])
    assert len(r.candidates) == 1
    with pytest.raises(ValueError):
        get_describer("rules", k=0)


def test_grounded_steps_never_copy_numbers_from_the_trajectory():
    text = "First, we find 17 boxes of 23 pens each. Then check the total of 391 pens."
    spans = [SpanOut(0, 40, "decomposition"), SpanOut(41, len(text), "verification")]
    [r] = get_describer("rules").describe([_item(trajectory=text, spans=spans, question="How many pens?", answer="391")])
    for c in r.candidates:
        assert not any(ch.isdigit() for s in c.steps for ch in s)
        assert c.leakage_flags == []
