"""The answer checker on hand cases and on the real answers in ../shared/data."""
from __future__ import annotations

import json

import pytest

from annotators.answers import answers_match, extract_answer, is_correct


@pytest.mark.parametrize("text, answer, method", [
    ("so we get \\boxed{42}.", "42", "boxed"),
    ("\\boxed{\\frac{a}{b+\\sqrt{2}}} done", "\\frac{a}{b+\\sqrt{2}}", "boxed"),
    ("first \\boxed{1} then \\boxed{2}", "2", "boxed"),
    ("He pays 3 * 4 = 12\n#### 12", "12", "hashes"),
    ("#### 1,000", "1,000", "hashes"),
    ("Thus the answer is 7.5 apples.", "7.5 apples", "answer_is"),
    ("The final answer is: $18$.", "18", "answer_is"),
    ("She makes 9 * 2 = $18\nA: 18", "18", "answer_is"),
    ("we had 3 then 4 then 5", "5", "last_number"),
    ("no digits here", None, "none"),
    ("unbalanced \\boxed{3 and 7", "7", "last_number"),
])
def test_extract(text, answer, method):
    got = extract_answer(text)
    assert (got.answer, got.method) == (answer, method)


@pytest.mark.parametrize("pred, ref", [
    ("42", "42"), ("42.0", "42"), ("1,000", "1000"), ("$1,250.50", "1250.5"), ("0.75", "\\frac{3}{4}"),
    ("\\dfrac{3}{4}", "3/4"), ("\\frac34", "0.75"), ("50%", "50"), ("50\\%", "0.5"), ("18 dollars", "18"),
    ("5 cm", "5"), ("x = 5", "5"), ("90^\\circ", "90"), ("3\\sqrt{13}", "3\\sqrt{13}"), ("\\sqrt{4}", "2"),
    ("2\\pi", "6.283185307"), ("(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\text{Evelyn}", "Evelyn"), ("6 - 5i", "6-5i"), ("1, -2", "1,-2"), ("2^{10}", "1024"), ("-\\frac{1}{2}", "-0.5"),
])
def test_match(pred, ref):
    assert answers_match(pred, ref)


@pytest.mark.parametrize("pred, ref", [
    ("41", "42"), ("0.7", "\\frac{3}{4}"), ("1000", "100"), (None, "3"), ("3", None), ("(3, 4)", "(4, 3)"),
    ("p + q", "p - q"), ("12", "1,2"), ("5%", "50"),
])
def test_mismatch(pred, ref):
    assert not answers_match(pred, ref)


def test_math500_reference_solutions_check_out(shared_data):
    rows = [json.loads(line) for line in (shared_data / "math500" / "test.jsonl").open()]
    wrong = [r["unique_id"] for r in rows if not is_correct(r["solution"], r["answer"])]
    assert len(wrong) <= 5, wrong  # the solution's boxed answer is the reference, modulo formatting


def test_gsm8k_answers_check_out(shared_data):
    rows = [json.loads(line) for line in (shared_data / "gsm8k" / "test.jsonl").open()]
    for r in rows:
        reference = r["answer"].split("####")[-1].strip()
        assert is_correct(r["answer"], reference), r["answer"]
        assert not is_correct(r["answer"].replace(f"#### {reference}", "#### 123456789"), reference)


def test_gsm8k_model_solutions_agree_with_labels(shared_data):
    """GPT-3 solutions carry is_correct labels; our checker should agree on almost all."""
    agree = total = 0
    for line in (shared_data / "gsm8k" / "example_model_solutions.jsonl").open():
        row = json.loads(line)
        reference = row["ground_truth"].split("A:")[-1].strip()
        for key in ("6b_finetuning", "175b_finetuning"):
            total += 1
            agree += is_correct(row[key]["solution"], reference) == row[key]["is_correct"]
    assert agree / total >= 0.98, agree / total
