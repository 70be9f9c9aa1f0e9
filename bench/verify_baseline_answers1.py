"""FROZEN: the answers-1 checker (annotators/answers.py at commit c5e2ecf), kept unchanged as the
speed and accuracy baseline of bench/verify_accuracy.py (issue 11: "keep the trainer's reward path
within 2x of today's per call"). Do not edit or import it from project code; it is timed and
scored beside the current checker in the same run:

    .venv/bin/python bench/verify_accuracy.py

The original module docstring follows.

The shared answer checker: extract a trajectory's final answer and compare it with a
reference. Used by `stratagem verify` and by the trainer's correctness reward.

    extract_answer("... so the answer is \\boxed{\\frac{3}{4}}.")  -> Extraction("\\frac{3}{4}", "boxed")
    answers_match("0.75", "\\frac{3}{4}")                          -> True
    is_correct(text, reference)                                      -> bool

Extraction order: the last `\\boxed{...}` (nested braces), the last `#### X`, the last
"the answer is X" / "final answer: X", the last number. Comparison: exact rational
arithmetic for numbers (integers, decimals, fractions, percentages, thousands separators,
units, LaTeX `\\frac`/`\\dfrac`, `\\sqrt`, `\\pi`, simple + - * / ^ expressions), else
LaTeX-normalised string equality, element-wise for tuples and lists.

Hostile text costs at most linear time (tests/hostile/test_answers_hostile.py): every regex
is unambiguous (no two overlapping quantifiers that can trade characters), trailing units
are stripped by a right-to-left scan, and what is parsed is bounded before any work: an
answer or reference over MAX_ANSWER_CHARS matches only an identical one; a numeric answer
has at most MAX_UNIT_TEXT_CHARS before and MAX_NUMBER_CHARS after normalisation; an
expression evaluates at most MAX_EVAL_NODES nodes and no value over MAX_VALUE_BITS (a
power's size is estimated before it is computed); a `\\boxed{` closes within
MAX_BOXED_CHARS; tuples nest at most MAX_TUPLE_DEPTH deep, with at most MAX_TUPLE_PARTS parts.
"""
from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass
from fractions import Fraction

CHECKER_VERSION = "answers-1"
MAX_ANSWER_CHARS = 10_000  # a longer answer or reference matches only an identical one
MAX_NUMBER_CHARS = 200  # a longer normalised answer is not parsed as a number
MAX_UNIT_TEXT_CHARS = 10_000  # ... nor one this long before its trailing unit words are stripped
MAX_EVAL_NODES = 400  # expression nodes evaluated per answer
MAX_VALUE_BITS = 1 << 14  # numerator / denominator bits of any intermediate value (~4,900 digits)
MAX_EXPONENT = 64
MAX_BOXED_CHARS = 20_000  # a \boxed{ not closed within this many characters is unbalanced
MAX_TUPLE_DEPTH = 8
MAX_TUPLE_PARTS = 256


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    method: str  # boxed | hashes | answer_is | last_number | none


# ----------------------------------------------------------------------------- extraction
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_LAST_NUMBER = re.compile(rf"(?<![\w.])({_NUMBER})")
_HASHES = re.compile(r"####\s*([^\n]+)")
# The same language as `(?:the\s+(?:final\s+)?answer\s+is\s*:?|final\s+answer\s*(?:is)?\s*[:=]?|
# ^answer\s*:|^a\s*:)\s*(.+)`, written so that no two `\s*` are adjacent: the old form backtracked
# cubically over a long run of newlines ("final answer" + 2,000 newlines took 38 s).
_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is\s*(?::\s*)?|final\s+answer\s*(?:is\s*)?(?:[:=]\s*)?|"
    r"^answer\s*:\s*|^a\s*:\s*)(.+)",
    re.IGNORECASE | re.MULTILINE)


_BRACES = re.compile(r"[{}]")


def _boxed_contents(text: str) -> str | None:
    """Contents of the last \\boxed{...} / \\fbox{...}, braces balanced; `\\boxed 5` too."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + (6 if text.startswith("\\boxed", start) else 5)
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] != "{":
        match = re.match(r"[^\s$.,]+", text[i:])
        return match.group(0) if match else None
    depth = 0
    for brace in _BRACES.finditer(text, i, i + MAX_BOXED_CHARS):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            return text[i + 1:brace.start()]
    return None  # unbalanced (or absurdly long): no trustworthy answer


def extract_answer(text: str) -> Extraction:
    boxed = _boxed_contents(text)
    if boxed is not None and boxed.strip():
        return Extraction(boxed.strip(), "boxed")
    hashes = _HASHES.findall(text)
    if hashes and hashes[-1].strip():
        return Extraction(hashes[-1].strip(), "hashes")
    stated = _ANSWER_IS.findall(text)
    if stated:
        phrase = re.split(r"(?<!\d)\.(?!\d)|\n", stated[-1].strip())[0].strip().strip("$*").strip()
        if phrase:
            return Extraction(phrase, "answer_is")
    numbers = _LAST_NUMBER.findall(text)
    if numbers:
        return Extraction(numbers[-1], "last_number")
    return Extraction(None, "none")


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


def _strip_latex(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = _TEXT.sub(_text_contents, s)
    s = re.sub(r"\\(?:mathrm|textbf|mathbf|operatorname)\{([^{}]*)\}", r"\1", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)  # \frac12
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:|quad|qquad)", "", s)
    s = re.sub(r"\^\s*\{?\\circ\}?|°", "", s)
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
        if isinstance(node, ast.Name) and node.id == "pi":
            return math.pi
        raise ValueError(f"unsupported expression node {type(node).__name__}")


def _to_python_expr(s: str) -> str:
    s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
    s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
    s = re.sub(r"\\sqrt(\d+)", r"sqrt(\1)", s)
    s = s.replace("\\pi", "pi").replace("^", "**").replace("{", "(").replace("}", ")")
    s = re.sub(r"(\d)\s*(sqrt|pi|\()", r"\1*\2", s)  # implicit multiplication: 3\sqrt{2}, 2\pi
    s = re.sub(r"\)\s*(\d|sqrt|pi|\()", r")*\1", s)
    return s


def parse_number(text: str) -> tuple[Fraction | float, bool] | None:
    """(value, had_percent) for a numeric answer, or None when it is not a number."""
    s = _strip_latex(text)
    if len(s) > MAX_UNIT_TEXT_CHARS:  # cut before any more work: too long to be a number with units
        return None
    s = _strip_trailing_units(s).strip()
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


def _numbers_equal(a: Fraction | float, b: Fraction | float) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)


def _canonical_text(s: str) -> str:
    s = _strip_latex(s)
    s = re.sub(r"\s+", "", s).replace("\\", "").lower()
    return s.replace("{", "").replace("}", "")


def answers_match(predicted: str | None, reference: str | None, _depth: int = 0) -> bool:
    if predicted is None or reference is None:
        return False
    if max(len(predicted), len(reference)) > MAX_ANSWER_CHARS:  # no answer is this long: only identity counts
        return predicted.strip() == reference.strip()
    pred_num, ref_num = parse_number(predicted), parse_number(reference)
    if pred_num is not None and ref_num is not None:
        (p, p_pct), (r, r_pct) = pred_num, ref_num
        if _numbers_equal(p, r):
            return True
        if p_pct != r_pct:  # "50%" against 0.5
            scaled = p / 100 if p_pct else r / 100
            return _numbers_equal(scaled, r if p_pct else p)
        return False
    if _depth < MAX_TUPLE_DEPTH:
        pred_parts = _split_top_level(_strip_latex(predicted).strip("()[]"))
        ref_parts = _split_top_level(_strip_latex(reference).strip("()[]"))
        if 1 < len(pred_parts) <= MAX_TUPLE_PARTS and len(pred_parts) == len(ref_parts):
            return all(answers_match(p, r, _depth + 1) for p, r in zip(pred_parts, ref_parts))
    return _canonical_text(predicted) == _canonical_text(reference)


def is_correct(text: str, reference: str | None) -> bool:
    return answers_match(extract_answer(text).answer, reference)
