"""The hard leakage filter for strategy descriptions: the gold answer, or numbers not in the
question, after numeric normalisation.

    numbers_in("It costs $1,200.50 for 3/4 of twelve")   # {Fraction(240101, 200), 3/4, 3, 4, 12, ...}
    leakage_flags(["Add the prices", "Multiply by 12"], question, answer)
        -> ["number:12"]          # 12 is not in the question
        -> ["answer:42", ...]     # the reference answer appears

Normalisation: digits with thousands separators, decimals, fractions `a/b`, LaTeX
`\\frac{a}{b}` / `\\dfrac`, percentages and number words (two .. ninety, hundred, thousand,
dozen; "one" and "zero" are left out as they are mostly pronouns/idioms) all become exact
`Fraction`s, by absolute value. A fraction also contributes its numerator and denominator,
so "divide by 4" is allowed when the question says "3/4". A percentage `p%` also contributes
p/100. A non-numeric answer (e.g. LaTeX or a word) leaks when it appears verbatim as a whole word.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Iterable

_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 1_000_000, "dozen": 12,
}
_NUMBER = re.compile(
    r"\\d?frac\{\s*(\d+(?:\.\d+)?)\s*\}\{\s*(\d+(?:\.\d+)?)\s*\}"           # \frac{a}{b}
    r"|(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"                  # 1,200.5 | 12 | .5
    r"(?:\s*/\s*(\d+(?:\.\d+)?))?"                                           # /b
    r"(\s*(?:%|\\%|percent\b))?"
    r"|\b(" + "|".join(_WORDS) + r")\b",
    re.IGNORECASE)


def _value(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def number_matches(text: str) -> list[tuple[int, int, Fraction, set[Fraction]]]:
    """Each number in `text` as (start, end, the value it stands for, all values it contributes)."""
    out = []
    for m in _NUMBER.finditer(text):
        frac_a, frac_b, num, den, pct, word = m.groups()
        if frac_a is not None or den is not None:
            a, b = (_value(frac_a), _value(frac_b)) if frac_a is not None else (_value(num), _value(den))
            primary = a / b if b else a
            values = {a, b, primary}
        elif word is not None:
            primary = Fraction(_WORDS[word.lower()])
            values = {primary}
        else:
            primary = _value(num)
            values = {primary} | ({primary / 100} if pct else set())
        out.append((m.start(), m.end(), primary, values))
    return out


def numbers_in(text: str) -> set[Fraction]:
    """All normalised numeric values in `text`."""
    values: set[Fraction] = set()
    for _, _, _, v in number_matches(text or ""):
        values |= v
    return values


def _answer_values(answer: str) -> set[Fraction]:
    """The value(s) a reference answer stands for; empty if it is not one plain number."""
    a = re.sub(r"^\\boxed\{(.*)\}$", r"\1", answer.strip()).strip(" $.")
    matches = number_matches(a)
    if len(matches) != 1:
        return set()
    start, end, primary, values = matches[0]
    if a[:start].strip(" -+") or a[end:].strip():
        return set()
    return values if "%" in a[start:end] or "percent" in a[start:end].lower() else {primary}


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def leakage_flags(texts: Iterable[str], question: str, answer: str | None, *,
                  allowed: Iterable[Fraction] = ()) -> list[str]:
    """Flags for a description made of `texts`: "answer:<value>" when the reference answer
    appears, "number:<value>" for each number that is not in the question. Empty = leak-free."""
    texts = [t for t in texts if t]
    in_question = numbers_in(question) | {Fraction(v) for v in allowed}
    found: set[Fraction] = set()
    for t in texts:
        found |= numbers_in(t)
    flags: list[str] = []
    if answer and answer.strip():
        values = _answer_values(answer)
        if values:
            flags += [f"answer:{_fmt(v)}" for v in sorted(values & {abs(f) for f in found})]
        else:
            word = answer.strip()
            pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)")
            if len(word) >= 2 and any(pattern.search(t) for t in texts):
                flags.append(f"answer:{word}")
    flags += [f"number:{_fmt(v)}" for v in sorted(found - in_question)]
    return flags


def strip_numbers(text: str) -> str:
    """`text` with every number (digits, fractions, number words) removed and spaces tidied."""
    parts, last = [], 0
    for s, e, _, _ in number_matches(text):
        parts.append(text[last:s])
        last = e
    parts.append(text[last:])
    return re.sub(r"\s{2,}", " ", "".join(parts)).strip()
