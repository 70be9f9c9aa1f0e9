"""The tolerance policy: when a decimal approximation counts as the exact answer.

    numbers_equal(Fraction("7068.58"), "7068.58", 2250 * math.pi, "2250\\pi")             -> False
    numbers_equal(..., problem="Round your answer to the nearest hundredth.")             -> True

Policies (`tolerance`):
- None (the default, "auto"): values equal exactly (rationals as Fractions; irrational
  expressions such as 2\\pi, \\sqrt{65} agree to 12 significant digits). A decimal prediction
  of a different value is an approximation, accepted only when the problem asks for one
  ("round", "nearest", "decimal", "approximate", "to N places") and it equals the reference
  rounded to the prediction's own decimal places. A reference written as a decimal declares
  that a decimal was asked: an exact prediction that rounds to it is accepted.
- "exact": no approximation is ever accepted.
- "decimal_ok": approximations are accepted as if the problem asked for a decimal.
- a number ("1e-4"): relative tolerance, |p - r| <= tol * |r|, whatever the forms.
An integer prediction counts as an approximation only when the problem asks for the nearest
whole number / integer.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

EXACT, DECIMAL_OK = "exact", "decimal_ok"
_SAME_IRRATIONAL = 1e-12
_DECIMAL_LITERAL = re.compile(r"\s*\$?\s*[-+]?(\d[\d,]*)?\.(\d+)\s*\$?\s*")
_INTEGER_LITERAL = re.compile(r"\s*\$?\s*[-+]?\d[\d,]*\s*\$?\s*")
_ASKS_DECIMAL = re.compile(
    r"\bround|\bnearest\b|\bdecimal|\bapproximat|\bestimate|\bto\s+(?:\w+\s+){0,2}(?:places?|digits?|significant)\b"
    r"|\b(?:tenth|hundredth|thousandth)s?\b", re.IGNORECASE)
_ASKS_INTEGER = re.compile(r"\bnearest\s+(?:whole\s+number|integer|dollar|cent|unit|percent)", re.IGNORECASE)


def check_policy(tolerance: str | None) -> float | str | None:
    """The policy named by `tolerance`, or a ValueError naming the allowed ones."""
    if tolerance in (None, EXACT, DECIMAL_OK):
        return tolerance
    try:
        relative = float(tolerance)
    except (TypeError, ValueError):
        raise ValueError(f"unknown tolerance policy {tolerance!r}: use exact, decimal_ok or a relative "
                         f"tolerance such as 1e-4") from None
    if not 0 <= relative < 1:
        raise ValueError(f"relative tolerance {tolerance!r} must be in [0, 1)")
    return relative


def decimal_places(text: str, problem: str | None) -> int | None:
    """Decimal places of an approximation written in `text`, or None when it is not one."""
    if len(text) > 100:
        return None
    match = _DECIMAL_LITERAL.fullmatch(text)
    if match:
        return len(match.group(2))
    if problem and _INTEGER_LITERAL.fullmatch(text) and _ASKS_INTEGER.search(problem):
        return 0
    return None


def asks_for_decimal(problem: str | None) -> bool:
    return bool(problem) and _ASKS_DECIMAL.search(problem) is not None


def _rounds_to(exact: Fraction | float, places: int, approximation: Fraction | float) -> bool:
    half_unit = 0.5 * 10.0 ** -places
    return abs(float(exact) - float(approximation)) <= half_unit * (1 + 1e-9) + 1e-15


def numbers_equal(p: Fraction | float, p_text: str, r: Fraction | float, r_text: str, *,
                  problem: str | None = None, tolerance: str | None = None) -> bool:
    """Whether predicted value `p` (written `p_text`) counts as reference `r` (`r_text`)."""
    policy = check_policy(tolerance)
    if isinstance(policy, float):
        return abs(float(p) - float(r)) <= policy * abs(float(r)) + (0.0 if r else 1e-12)
    both_rational = isinstance(p, Fraction) and isinstance(r, Fraction)
    if both_rational and p == r:
        return True
    p_places, r_places = decimal_places(p_text, problem), decimal_places(r_text, problem)
    if not both_rational and p_places is None and r_places is None:  # two exact forms, at least one irrational
        if math.isclose(p, r, rel_tol=_SAME_IRRATIONAL, abs_tol=_SAME_IRRATIONAL):
            return True
    if policy == EXACT:
        return False
    if p_places is not None and (policy == DECIMAL_OK or asks_for_decimal(problem)):
        if _rounds_to(r, p_places, p):
            return True
    if r_places is not None and p_places is None:  # the reference is the asked-for decimal
        return _rounds_to(p, r_places, r)
    return False
