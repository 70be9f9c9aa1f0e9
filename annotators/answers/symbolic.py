"""Symbolic equality through math-verify (latex2sympy2_extended + sympy), for what the exact
number path cannot decide: expressions in variables, radicals and roots it does not know,
sets, unions of intervals, matrices sympy reads.

    symbolic_equal("x^{2}-2x+2", "x^2-2x+2")        -> True
    symbolic_equal("\\frac{1}{2}x", "\\frac{1}{2x}")  -> False
    symbolic_equal("\\text{Evelyn}", "x")            -> None (not both mathematics)

math_verify is imported on first use (it costs ~0.6 s and pulls in sympy): importing the
checker stays cheap and stdlib-only. Its own timeouts use signal.alarm, which fails off the
main thread and has whole-second granularity, so they are switched off and bounded here:
an answer is handed to sympy only when it passes `_safe` (at most MAX_SYMBOLIC_CHARS, no
factorials, exponents of at most two digits whose product is at most MAX_EXPONENT_PRODUCT and
never a power of a braced power, bracket depth at
most MAX_SYMBOLIC_DEPTH, no digit run over 30); on the main thread a SYMBOLIC_TIMEOUT_S
interval timer (setitimer, when no other timer is set) also interrupts it. A timeout or any
parse failure is "cannot decide" (None), never a verdict.

Numbers sympy produces are judged by the tolerance policy, not by math-verify's 6-digit
rounding (which accepts "8.062258" for \\sqrt{65}).
"""
from __future__ import annotations

import cmath
import logging
import re
import signal
import threading
from fractions import Fraction

from annotators.answers.tolerance import numbers_equal

MAX_SYMBOLIC_CHARS = 300
MAX_SYMBOLIC_DEPTH = 12
SYMBOLIC_TIMEOUT_S = 0.25
_UNSAFE = re.compile(r"!|\d{31}|\^\s*\{?\s*[-+]?\d{3}|\^\s*\{[^{}]*\^|\^\s*\(|\^\s*\w\s*\^|\\Gamma|\\binom|\\choose")
_EXPONENT = re.compile(r"\^\s*\{?\s*[-+]?(\d+)")
MAX_EXPONENT_PRODUCT = 10_000
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")  # a word is prose, not a product of variables
_MATH = re.compile(r"[\d\\^_=+\-*/()a-zA-Z]")


class _Timeout(Exception):
    pass


_modules: tuple | None = None


def _math_verify():
    global _modules
    if _modules is None:
        logging.getLogger("math_verify").setLevel(logging.ERROR)  # its "timeout disabled" warning: bounded here
        from math_verify import parse, verify
        import sympy
        _modules = (parse, verify, sympy)
    return _modules


def _safe(s: str) -> bool:
    if len(s) > MAX_SYMBOLIC_CHARS or not _MATH.search(s) or _UNSAFE.search(s) or _WORD.search(s):
        return False
    product = 1
    for exponent in _EXPONENT.findall(s):  # "((9^64)^64)^64" nests powers through brackets
        product *= max(1, int(exponent))
    if product > MAX_EXPONENT_PRODUCT:
        return False
    depth = deepest = 0
    for ch in s:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest <= MAX_SYMBOLIC_DEPTH


def _raise_timeout(signum, frame):
    raise _Timeout


def _with_timer(fn):
    """fn() under a SYMBOLIC_TIMEOUT_S timer where one can be set, else plainly (bounded by _safe)."""
    usable = (threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
              and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
              and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None))
    if not usable:
        return fn()
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, SYMBOLIC_TIMEOUT_S)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _number(value, sympy):
    """(Fraction | float | complex, written-as-decimal) for a sympy number, else None."""
    if not isinstance(value, sympy.Expr) or not value.is_number or value.free_symbols:
        return None
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q)), False
    if value.is_Float:
        return Fraction(str(value)), True
    number = complex(value.evalf(20))
    return (number.real if number.imag == 0 else number), False


def _decide(pred: str, ref: str, problem: str | None, tolerance: str | None) -> bool | None:
    parse, verify, sympy = _modules
    pred_parsed = parse(f"${pred}$", parsing_timeout=None)
    ref_parsed = parse(f"${ref}$", parsing_timeout=None)
    if not pred_parsed or not ref_parsed:
        return None
    p, r = _number(pred_parsed[0], sympy), _number(ref_parsed[0], sympy)
    if p is not None and r is not None:
        if isinstance(p[0], complex) or isinstance(r[0], complex):
            return cmath.isclose(p[0], r[0], rel_tol=1e-12, abs_tol=1e-12)
        p_text = pred if p[1] else "exact"
        r_text = ref if r[1] else "exact"
        return numbers_equal(p[0], p_text, r[0], r_text, problem=problem, tolerance=tolerance)
    return bool(verify(ref_parsed, pred_parsed, timeout_seconds=None))


def symbolic_equal(pred: str, ref: str, *, problem: str | None = None, tolerance: str | None = None) -> bool | None:
    """True / False when sympy can decide whether `pred` equals `ref`; None when it cannot."""
    if not (_safe(pred) and _safe(ref)):
        return None
    _math_verify()  # imported before the timer starts: an interrupted import would leave it half-loaded
    try:
        return _with_timer(lambda: _decide(pred, ref, problem, tolerance))
    except _Timeout:
        return None
    except Exception:  # noqa: BLE001 - any failure inside latex2sympy / sympy is "cannot decide"
        return None
