"""The answer checker on hostile text: a generated corpus of adversarial answers and references
(long unit runs, nested powers, factorials, deep parentheses and tuples, long digit strings,
many `\\frac`, repeated `\\boxed{`, long whitespace runs after "final answer") must each be
checked in bounded time, and the rewritten patterns must give the old verdicts on ordinary text.

    .venv/bin/python -m pytest tests/hostile/test_answers_hostile.py -q -s   # prints the worst case

The bound (0.5 s per call) is far above the linear cost (milliseconds) and far below the
super-linear blowups it guards against (9.7 s for 3,003 characters of units, 38 s for
"final answer" and 2,000 newlines, 65 s for `(((9^64)^64)^64)^64`, a RecursionError for
tuples nested 400 deep).
"""
from __future__ import annotations

import random
import re
import time

import pytest

from annotators import answers
from annotators.answers import answers_match, extract_answer, is_correct

BOUND_S = 0.5


def corpus() -> list[tuple[str, str, str]]:
    """(kind, text or answer, reference) cases."""
    cases: list[tuple[str, str, str]] = []

    def add(kind: str, text: str, ref: str = "5") -> None:
        cases.append((kind, text, ref))

    for n in (1_500, 5_000, 50_000):
        add("unit_run", "#### 5" + " m" * n + " x")
        add("unit_run", "5" + " meters" * n, "5" + " cm" * n + "!")
        add("unit_run", "\\boxed{5" + "m." * n + "}")
    for ref in ("(((9^64)^64)^64)^64", "9^64^64^64^64", "2^{2^{2^{2^{2^{2}}}}}", "(-8)^{0.5}", "((10^64)^64)^64",
                "9^64*9^64*9^64*9^64*9^64*9^64*9^64*9^64*9^64", "\\frac{1}{(7^64)^64}", "\\sqrt{(9^64)^64}",
                "(9^64)^(64)/(9^64)^(64)", "1.5^64^64"):
        add("power", f"\\boxed{{{ref}}}", ref)
        add("power", "The answer is 5.", ref)
    for ref in ("100000!", "(10^64)!", "99999999999!!!!", "\\Gamma(10^9)"):
        add("factorial", f"\\boxed{{{ref}}}", ref)
    for n in (150, 1_000, 50_000):
        add("parentheses", "\\boxed{" + "(" * n + "1" + ")" * n + "}", "(" * n + "1" + ")" * n)
        add("tuple", "\\boxed{" + "(1," * n + "1" + ")" * n + "}", "(1," * n + "1" + ")" * n)
        add("parentheses", "\\boxed{" + "{" * n + "1" + "}" * n + "}", "[" * n + "1" + "]" * n)
    for n in (200, 5_000, 50_000):
        add("digits", "#### " + "9" * n, "9" * n)
        add("digits", "#### " + "1," * n + "1", "1," * n + "1")
        add("digits", "the answer is 0." + "3" * n, "\\frac{1}{3}")
        add("digits", "x " + "1.1." * n, "1.1")
    for n in (100, 2_000, 20_000):
        add("frac", "\\boxed{" + "\\frac{1}{2}+" * n + "1}", "\\frac{1}{2}" * n)
        add("frac", "\\boxed{" + "\\frac{" * n + "1" + "}{2}" * n + "}", "\\dfrac12")
        add("frac", "\\boxed{" + "\\sqrt{" * n + "4" + "}" * n + "}", "2")
    for n in (1_000, 30_000):
        add("boxed", "\\boxed{" * n + "5")
        add("boxed", "\\boxed{" + "x" * (n * 10))
        add("boxed", "\\boxed{" * n + "}" * n)
        add("whitespace", "final answer" + "\n" * n)
        add("whitespace", "The answer is" + " \n" * n, "5")
        add("whitespace", "Final answer:" + "\t\n" * n + "=")
        add("whitespace", "\\boxed{\\text{" + " " * n + "5}", "\\text{" + " " * n + "5")
        add("whitespace", "A:" + " " * n + "\n" * n)
        add("latex", "\\boxed{" + "\\left(" * n + "5" + "\\right)" * n + "}", "5^\\circ" * n)
        add("latex", "#### " + "^ " * n + "5", "5" + "^{\\circ}" * n)
        add("latex", "#### " + "1 " * n + "sqrt(2)", "3\\sqrt{2}" * n)
        add("hashes", "####" + " " * n + "\n" * n)
        add("hashes", "#" * (n * 4))
    rng = random.Random(15)
    alphabet = ["m", " ", "\n", "{", "}", "(", ")", ",", "^", "9", "64", "\\frac", "\\boxed{", "final answer",
                "the answer is", ":", ".", "#### ", "\\sqrt", "\\text{", "-", "/", "%", "cm", "!"]
    for _ in range(40):
        text = "".join(rng.choice(alphabet) for _ in range(rng.choice([50, 500, 5_000])))
        add("random", text, "".join(rng.choice(alphabet) for _ in range(rng.choice([5, 50, 500]))))
    return cases


CASES = corpus()


def _timed(fn, *args) -> float:
    """Seconds `fn(*args)` takes: the best of up to 3 tries where one is over the bound (a
    garbage-collection pass or a preempted core on a shared machine is not the check's cost)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
        if best <= BOUND_S:
            break
    return best


def test_every_hostile_check_is_bounded(capsys):
    answers_match("x + 1", "1 + x")  # imports math-verify and sympy once (~0.6 s): not a per-call cost
    worst: dict[str, tuple[float, int]] = {}
    slow = []
    for i, (kind, text, ref) in enumerate(CASES):
        answer = extract_answer(text).answer
        for seconds in (_timed(is_correct, text, ref), _timed(answers_match, answer, ref),
                        _timed(answers_match, ref, text), _timed(extract_answer, ref)):
            if seconds > worst.get(kind, (0.0, 0))[0]:
                worst[kind] = (seconds, len(text) + len(ref))
            if seconds > BOUND_S:
                slow.append((kind, i, round(seconds, 3), text[:60]))
    top = max(worst.items(), key=lambda kv: kv[1][0])
    with capsys.disabled():
        print(f"\nhostile answers: {len(CASES)} cases, worst verify time per answer {top[1][0] * 1000:.1f} ms "
              f"({top[0]}, {top[1][1]:,} chars); by kind: "
              + ", ".join(f"{k} {s * 1000:.1f} ms" for k, (s, _) in sorted(worst.items())))
    assert not slow, slow


@pytest.mark.parametrize("text, ref, expected", [
    ("#### 5" + " m" * 1_500, "5", True),  # units stripped as before, however many
    ("5" + " square meters" * 400, "5.0", True),
    ("\\boxed{" + "(1," * 400 + "1" + ")" * 400 + "}", "(1," * 400 + "1" + ")" * 400, True),  # was RecursionError
    ("\\boxed{" + "(1," * 400 + "1" + ")" * 400 + "}", "(1," * 400 + "2" + ")" * 400, False),
    ("\\boxed{((9^64)^64)^64}", "((9^64)^64)^64", True),  # too big to compute: compared as text
    ("\\boxed{(9^{64})^{64}}", "9^{4096}", False),  # 9^4096 has an exponent over 64: not a number
    ("\\boxed{(-8)^{0.5}}", "2", False),  # a complex power is not a number (was a TypeError)
    ("\\boxed{2^{64}}", "18446744073709551616", True),
    ("final answer" + "\n" * 3_000 + "7", "7", True),
    ("The final answer is" + "\n" * 3_000, "3", False),
])
def test_verdicts_on_hostile_text(text, ref, expected):
    assert is_correct(text, ref) is expected


# The patterns as they were before the rewrite (fast on short text), to check equal results.
_OLD_UNITS = re.compile(rf"(?:\s*(?:{answers._UNIT_WORDS})\b\.?)+\s*$", re.IGNORECASE)
_OLD_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is\s*:?|final\s+answer\s*(?:is)?\s*[:=]?|^answer\s*:|^a\s*:)\s*(.+)",
    re.IGNORECASE | re.MULTILINE)
_OLD_TEXT = re.compile(r"\\text\{\s*([^{}]*)\}")


def test_rewritten_patterns_match_the_old_ones_on_short_text():
    rng = random.Random(5)
    unit_words = ["m", "cm", "kg", "g", "meters", "sq", "km/h", "x", "5", ".", " ", "\n", "mm", "s", "M", "Dollars",
                  "h", "1/2", "\t"]
    phrase_words = ["the", "The", " ", "\n", "final", "answer", "is", ":", "=", "a", "A", "5", ".", "x", "\t", "isn't",
                    "\\text{", "}", "{"]
    for _ in range(50_000):
        s = "".join(rng.choice(unit_words) for _ in range(rng.randint(0, 8)))
        assert answers._strip_trailing_units(s).strip() == _OLD_UNITS.sub("", s).strip(), repr(s)
        s = "".join(rng.choice(phrase_words) for _ in range(rng.randint(0, 10)))
        assert [x.strip() for x in answers._ANSWER_IS.findall(s)] == [x.strip() for x in _OLD_ANSWER_IS.findall(s)], repr(s)
        assert answers._TEXT.sub(answers._text_contents, s) == _OLD_TEXT.sub(r"\1", s), repr(s)
