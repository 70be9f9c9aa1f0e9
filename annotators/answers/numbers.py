"""Numbers, exactly: LaTeX and unit normalisation of one answer and its exact value (a
Fraction where it is rational, a float where it is not: pi, a non-square root, a fractional
power). The checker's fast path: plain numbers never reach sympy.

    parse_number("\\frac{3}{4}")  -> (Fraction(3, 4), False)
    parse_number("50\\%")         -> (Fraction(50, 1), True)

Hostile text costs at most linear time (tests/hostile/test_answers_hostile.py): every regex
is unambiguous, trailing units are stripped by a right-to-left scan, a numeric answer has at
most MAX_UNIT_TEXT_CHARS before and MAX_NUMBER_CHARS after normalisation, and an expression
evaluates at most MAX_EVAL_NODES nodes and no value over MAX_VALUE_BITS (a power's size is
estimated before it is computed).
"""
from __future__ import annotations

import ast
import math
import operator
import re
from fractions import Fraction

MAX_NUMBER_CHARS = 200  # a longer normalised answer is not parsed as a number
MAX_UNIT_TEXT_CHARS = 10_000  # ... nor one this long before its trailing unit words are stripped
MAX_EVAL_NODES = 400  # expression nodes evaluated per answer
MAX_VALUE_BITS = 1 << 14  # numerator / denominator bits of any intermediate value (~4,900 digits)
MAX_EXPONENT = 64
MAX_FACTORIAL = 100  # 5! is 120; 100! has 158 digits
_FACTORIAL = re.compile(r"(?<![\d.!])(\d{1,3})!(?!!)")

# ----------------------------------------------------------------------------- normalisation
_UNIT_WORDS = (
    r"dollars?|cents?|euros?|pounds?|percent|units?|cm|mm|km|m|meters?|metres?|inches|inch|feet|foot|ft|"
    r"miles?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|kg|g|grams?|kilograms?|"
    r"lbs?|ounces?|oz|liters?|litres?|ml|gallons?|cups?|degrees?|sq|square|cubic|per|each|apples?|people|"
    r"students?|books?|eggs?|pages?|points?|times?|items?|boxes?|bags?|cookies?|marbles?|mph|km/h"
)
# One unit word (optionally with a dot) at the end of the searched range; the longest is 10 characters.
_ONE_UNIT_AT_END = re.compile(rf"(?:{_UNIT_WORDS})\.?$", re.IGNORECASE)
_UNIT_SPAN = 16
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


_TEXT = re.compile(r"\\text\{([^{}]*)\}")  # was `\\text\{\s*([^{}]*)\}`: quadratic over spaces


def _text_contents(match: re.Match) -> str:
    return match.group(1).lstrip()


def _strip_trailing_units(s: str) -> str:
    """`s` without its trailing run of unit words ("5 square meters" -> "5"), as the pattern
    `(?:\\s*(?:UNITS)\\b\\.?)+\\s*$` would remove it, but scanned from the right in linear time
    (that pattern is quadratic: `#### 5 m m m ... x`, 3,003 characters, took 9.7 s)."""
    end = stripped = len(s)
    first = True
    while True:
        gap = end
        while end and s[end - 1].isspace():
            end -= 1
        unit = _ONE_UNIT_AT_END.search(s, max(0, end - _UNIT_SPAN), end)
        # a unit word ends at a word boundary: before the one stripped last, space or a dot
        if unit is None or not (first or gap > end or unit.group().endswith(".")):
            return s[:stripped]
        end = stripped = unit.start()
        first = False


_TEXT_LIKE = re.compile(r"\\(?:mbox|textrm|textnormal|textit)\s*\{([^{}]*)\}")


def _strip_latex(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = _TEXT.sub(_text_contents, s)
    s = _TEXT_LIKE.sub(_text_contents, s)
    s = re.sub(r"\\(?:mathrm|textbf|mathbf|operatorname)\{([^{}]*)\}", r"\1", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)  # \frac12
    s = re.sub(r"\\frac\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)  # \frac{270}7
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:|quad|qquad)", "", s)
    s = re.sub(r"(?:\^\s*\{?\\circ\}?|°)(?:\s?[CF](?![a-zA-Z]))?", "", s)  # 30°, -10°F, 25^\circ C
    s = s.replace("\\%", "%").replace("\\$", "").replace("$", "")
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\div", "/")
    return s.strip().rstrip(".").strip()


def _split_top_level(s: str) -> list[str]:
    """Split on commas that are not inside brackets (tuples, intervals, lists)."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _bits(value: Fraction | float) -> int:
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return 0


class _Evaluator:
    """Evaluates a whitelisted arithmetic AST exactly (Fraction) where it can, within a budget
    for the whole expression: MAX_EVAL_NODES nodes, no value over MAX_VALUE_BITS (a power's
    size is estimated from its operands before it is computed), exponents up to MAX_EXPONENT."""

    def __init__(self) -> None:
        self.nodes = 0

    def __call__(self, node: ast.AST) -> Fraction | float:
        self.nodes += 1
        if self.nodes > MAX_EVAL_NODES:
            raise ValueError("expression too large")
        value = self._node(node)
        if isinstance(value, complex) or _bits(value) > MAX_VALUE_BITS:
            raise ValueError("value out of range")
        return value

    def _node(self, node: ast.AST) -> Fraction | float:
        if isinstance(node, ast.Expression):
            return self(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return Fraction(str(node.value)) if isinstance(node.value, float) else Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self(node.left), self(node.right)
            if isinstance(node.op, (ast.Mult, ast.Div)) and _bits(left) + _bits(right) > MAX_VALUE_BITS:
                raise ValueError("value out of range")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base, exp = self(node.left), self(node.right)
            if abs(exp) > MAX_EXPONENT:
                raise ValueError("exponent too large")
            if isinstance(exp, Fraction) and exp.denominator == 1:
                if _bits(base) * abs(int(exp)) > MAX_VALUE_BITS:  # checked before computing
                    raise ValueError("value out of range")
                return base ** int(exp)
            return float(base) ** float(exp)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt" and len(node.args) == 1:
            value = self(node.args[0])
            root = math.isqrt(value.numerator) if isinstance(value, Fraction) and value >= 0 else None
            if root is not None and value.denominator == 1 and root * root == value.numerator:
                return Fraction(root)
            return math.sqrt(float(value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "factorial" \
                and len(node.args) == 1:
            value = self(node.args[0])
            if not (isinstance(value, Fraction) and value.denominator == 1 and 0 <= value <= MAX_FACTORIAL):
                raise ValueError("factorial out of range")
            return Fraction(math.factorial(int(value)))
        if isinstance(node, ast.Name) and node.id == "pi":
            return math.pi
        raise ValueError(f"unsupported expression node {type(node).__name__}")


def _to_python_expr(s: str) -> str:
    s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
    s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\sqrt(\d+)", r"sqrt(\1)", s)
    s = _FACTORIAL.sub(r"factorial(\1)", s)
    s = s.replace("\\pi", "pi").replace("^", "**").replace("{", "(").replace("}", ")")
    s = re.sub(r"(\d)\s*(sqrt|pi|\()", r"\1*\2", s)  # implicit multiplication: 3\sqrt{2}, 2\pi
    s = re.sub(r"\)\s*(\d|sqrt|pi|\()", r")*\1", s)
    return s


# A trailing `\\text{ m}^3`, `\\mbox{ apples}` on a number is a unit label (letters only).
_TEXT_UNIT_AT_END = re.compile(r"\\(?:text|mbox|textrm|mathrm)\s*\{[a-zA-Z/ ]{1,24}\}(?:\^\{?\d\}?)?\.?$")
_UNIT = rf"(?:{_UNIT_WORDS}|s)"
# A compound unit after a space: "5 m/s", "144 m^3", "9.8 m/s^2".
_COMPOUND_UNIT_AT_END = re.compile(rf"(?<=\s){_UNIT}(?:\^\{{?\d\}}?(?:/{_UNIT}(?:\^\{{?\d\}}?)?)?|/{_UNIT}(?:\^\{{?\d\}}?)?)\.?$",
                                   re.IGNORECASE)
# A per-period amount straight after the number: "$25,000/year", "1500/month".
_PER_PERIOD_AT_END = re.compile(r"(?<=\d)/(?:year|yr|month|week|day|hour|hr|person|item|unit)s?\.?$", re.IGNORECASE)
_UNIT_WINDOW = 40
_SPACED_DIGITS = re.compile(r"\d(?: \d)+|\d{1,3}(?: \d{3})+")  # bold digits "1 1 1", "12 000"
_SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d{1,3})(?![\w.])")


def _cut_at_end(pattern: re.Pattern, s: str) -> str:
    match = pattern.search(s, max(0, len(s) - _UNIT_WINDOW))
    return s[:match.start()].rstrip() if match else s


def parse_number(text: str) -> tuple[Fraction | float, bool] | None:
    """(value, had_percent) for a numeric answer, or None when it is not a number."""
    s = text.strip().strip("$").strip()
    if len(s) > MAX_UNIT_TEXT_CHARS:  # cut before any more work: too long to be a number with units
        return None
    s = _strip_latex(_cut_at_end(_TEXT_UNIT_AT_END, s))
    s = _strip_trailing_units(_cut_at_end(_COMPOUND_UNIT_AT_END, _cut_at_end(_PER_PERIOD_AT_END, s))).strip()
    if _SPACED_DIGITS.fullmatch(s):
        s = s.replace(" ", "")
    s = _SCIENTIFIC.sub(r"(\1*10^(\2))", s)
    s = re.sub(r"^[a-zA-Z]\s*=\s*", "", s)  # "x = 5"
    percent = s.endswith("%")
    s = s.rstrip("%").strip()
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    if not s or len(s) > MAX_NUMBER_CHARS or re.search(r"[a-zA-Z_]", re.sub(r"\\?(?:sqrt|frac|pi)", "", s)):
        return None
    try:
        value = _Evaluator()(ast.parse(_to_python_expr(s), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError, RecursionError):
        return None
    return value, percent


def _canonical_text(s: str) -> str:
    s = _strip_latex(s)
    s = re.sub(r"\s+", "", s).replace("\\", "").lower()
    # braces around one character carry nothing (x^{2} = x^2); others do (\frac{1}{2x} is not \frac{1}{2}x)
    return _ONE_CHAR_GROUP.sub(r"\1", s)


_ONE_CHAR_GROUP = re.compile(r"\{([^{}])\}")


