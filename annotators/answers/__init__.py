"""The shared answer checker: find a solution's final answer, compare it with a reference,
and give a three-valued verdict. Used by `stratagem verify` and by the trainer's reward.

    judge_answer("... the answer is \\boxed{\\frac{3}{4}}.", "0.75")
        -> Judgement(outcome="correct", answer="\\frac{3}{4}", method="boxed", confidence=1.0)
    is_correct(text, reference)  -> bool   (the reward: True only for "correct")
    answers_match("1,3,5", "5,3,1")  -> True

Verdicts. `correct` | `incorrect` | `unknown`, with the extraction `method` and its
`confidence`: boxed 1.0, hashes 1.0, answer_is 0.9, choice 0.9 (a marked answer: the
comparison decides, and an undecidable comparison is `unknown`); conclusion 0.7 (no marker,
but a conclusion sentence states the reference: conclusion.py); last_number 0.3 and none 0.0
are always `unknown`. The last number alone never gives `incorrect` (a human solution that
ends "=x^{2}-2x+2" does not end in its answer's last digit), and, precision first, never
`correct` either: where it is the answer, it is the value a conclusion sentence states, and
the conclusion rule finds it; where it is not, a coincidence would reward a wrong solution.

Formats (compare.py, forms.py, choice.py): exact numbers (integers, decimals, fractions,
percentages, thousands separators, scientific notation, units in text or `\\text` /
`\\mbox`), multiple choice (letters with or without options, "(c)", "Option C", an option's
text or value when `problem` lists the options), booleans and yes/no, `x = ...` and systems
(by variable, or by value), tuples (ordered), sets and bare lists (unordered), intervals
(open / closed ends), unions and inequalities, matrices and vectors, congruences, complex
numbers and expressions (sympy through math-verify, imported on first use), text.

Tolerance (`tolerance=`, tolerance.py): None (default) accepts a decimal approximation of a
different exact value only when the problem asks for a decimal or rounding and the decimal is
the reference rounded to its own places ("7068.58" for 2250\\pi, "8.062258" for \\sqrt{65} and
"1.732" for \\sqrt{3} are all `incorrect` unless the problem asks, all `correct` when it
does); a reference written as a decimal accepts an exact answer that rounds to it.
"exact": never an approximation; "decimal_ok": as if every problem asked; "1e-4": a
relative tolerance.

Hostile text stays bounded (tests/hostile/test_answers_hostile.py): every pattern is linear,
numbers are bounded before evaluation (numbers.py), and sympy sees only short, tame
answers under a timer (symbolic.py), off the main thread too.
"""
from __future__ import annotations

from dataclasses import dataclass

from annotators.answers.compare import MAX_ANSWER_CHARS, MAX_TUPLE_DEPTH, answers_match, compare
from annotators.answers.conclusion import stated_conclusion
from annotators.answers.extract import _ANSWER_IS, MAX_BOXED_CHARS, Extraction, extract_answer
from annotators.answers.numbers import (_TEXT, _UNIT_WORDS, _strip_trailing_units, _text_contents,
                                        parse_number)
from annotators.answers.tolerance import check_policy

__all__ = ["CHECKER_VERSION", "CORRECT", "INCORRECT", "UNKNOWN", "Extraction", "Judgement", "answers_match",
           "compare", "extract_answer", "is_correct", "judge_answer", "parse_number", "MAX_ANSWER_CHARS",
           "MAX_BOXED_CHARS", "MAX_TUPLE_DEPTH", "_ANSWER_IS", "_TEXT", "_UNIT_WORDS", "_strip_trailing_units",
           "_text_contents"]

# answers-3: conclusions in GSM8K style ($ amounts, <<calc>> notes, the leading number after the last
# "=", a concluding sentence's one number), °F/°C and per-period units, clock times kept from sympy
CHECKER_VERSION = "answers-3"
CORRECT, INCORRECT, UNKNOWN = "correct", "incorrect", "unknown"
CONFIDENCE = {"boxed": 1.0, "hashes": 1.0, "answer_is": 0.9, "choice": 0.9, "conclusion": 0.7,
              "last_number": 0.3, "none": 0.0}
MARKED = ("boxed", "hashes", "answer_is", "choice")


@dataclass(frozen=True)
class Judgement:
    """One three-valued verdict. `outcome` is correct | incorrect | unknown (no final answer
    found with enough confidence to judge, or no reference); `method` is how the answer was
    found (boxed | hashes | answer_is | conclusion | choice | last_number | none | judge);
    `confidence` in [0, 1] is the extraction's."""
    outcome: str
    answer: str | None
    method: str
    confidence: float


def judge_answer(text: str, reference: str | None, *, problem: str | None = None,
                 tolerance: str | None = None) -> Judgement:
    """Judge `text` (a whole solution) against `reference`. `problem` (its statement, optional)
    lets multiple-choice options and "give a decimal" requests be read; `tolerance` names a
    tolerance policy for decimal approximations (None: the default policy; see above)."""
    check_policy(tolerance)
    extraction = extract_answer(text)
    confidence = CONFIDENCE[extraction.method]
    if reference is None or not reference.strip():
        return Judgement(UNKNOWN, extraction.answer, extraction.method, confidence)
    if extraction.method in MARKED:
        verdict = compare(extraction.answer, reference, problem=problem, tolerance=tolerance)
        outcome = UNKNOWN if verdict is None else CORRECT if verdict else INCORRECT
        return Judgement(outcome, extraction.answer, extraction.method, confidence)
    numeric_reference = parse_number(reference) is not None

    def same(value: str, ref: str) -> bool | None:
        if numeric_reference and parse_number(value) is None:  # no sympy per sentence for a number
            return None
        return compare(value, ref, problem=problem, tolerance=tolerance)

    stated = stated_conclusion(text, reference, same)
    if stated is not None:
        return Judgement(CORRECT, stated, "conclusion", CONFIDENCE["conclusion"])
    return Judgement(UNKNOWN, extraction.answer, extraction.method, confidence)


def is_correct(text: str, reference: str | None) -> bool:
    """The trainer's reward: True only for an outcome of `correct`."""
    return judge_answer(text, reference).outcome == CORRECT
