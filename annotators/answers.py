"""The shared answer checker: extract a trajectory's final answer and compare it with a
reference. Used by `stratagem verify` and by the trainer's correctness reward.

    extract_answer("... so the answer is \\boxed{\\frac{3}{4}}.")  -> Extraction("\\frac{3}{4}", "boxed")
    answers_match("0.75", "\\frac{3}{4}")                          -> True
    is_correct(text, reference)                                      -> bool

Extraction order: the last `\\boxed{...}` (nested braces), the last `#### X`, the last
"the answer is X" / "final answer: X", the last number. Comparison: exact rational
arithmetic for numbers (integers, decimals, fractions, percentages, thousands separators,
units, LaTeX `\\frac`/`\\dfrac`, `\\sqrt`, `\\pi`, simple + - * / ^ expressions), else
LaTeX-normalised string equality, element-wise for tuples and lists.
"""
from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass
from fractions import Fraction

CHECKER_VERSION = "answers-1"


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    method: str  # boxed | hashes | answer_is | last_number | none


# ----------------------------------------------------------------------------- extraction
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_LAST_NUMBER = re.compile(rf"(?<![\w.])({_NUMBER})")
_HASHES = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is\s*:?|final\s+answer\s*(?:is)?\s*[:=]?|^answer\s*:|^a\s*:)\s*(.+)",
    re.IGNORECASE | re.MULTILINE)


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
    depth, j = 0, i
    while j < len(text):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
        j += 1
    return None  # unbalanced: no trustworthy answer


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
_TRAILING_UNITS = re.compile(rf"(?:\s*(?:{_UNIT_WORDS})\b\.?)+\s*$", re.IGNORECASE)
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _strip_latex(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
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


def _eval(node: ast.AST) -> Fraction | float:
    """Evaluate a whitelisted arithmetic AST exactly (Fraction) where it can."""
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return Fraction(str(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exp = _eval(node.left), _eval(node.right)
        if abs(exp) > 64:
            raise ValueError("exponent too large")
        if isinstance(exp, Fraction) and exp.denominator == 1:
            return base ** int(exp)
        return float(base) ** float(exp)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sqrt" and len(node.args) == 1:
        value = _eval(node.args[0])
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
    s = _TRAILING_UNITS.sub("", s).strip()
    s = re.sub(r"^[a-zA-Z]\s*=\s*", "", s)  # "x = 5"
    percent = s.endswith("%")
    s = s.rstrip("%").strip()
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    if not s or len(s) > 200 or re.search(r"[a-zA-Z_]", re.sub(r"\\?(?:sqrt|frac|pi)", "", s)):
        return None
    try:
        value = _eval(ast.parse(_to_python_expr(s), mode="eval"))
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


def answers_match(predicted: str | None, reference: str | None) -> bool:
    if predicted is None or reference is None:
        return False
    pred_num, ref_num = parse_number(predicted), parse_number(reference)
    if pred_num is not None and ref_num is not None:
        (p, p_pct), (r, r_pct) = pred_num, ref_num
        if _numbers_equal(p, r):
            return True
        if p_pct != r_pct:  # "50%" against 0.5
            scaled = p / 100 if p_pct else r / 100
            return _numbers_equal(scaled, r if p_pct else p)
        return False
    pred_parts = _split_top_level(_strip_latex(predicted).strip("()[]"))
    ref_parts = _split_top_level(_strip_latex(reference).strip("()[]"))
    if len(pred_parts) > 1 and len(pred_parts) == len(ref_parts):
        return all(answers_match(p, r) for p, r in zip(pred_parts, ref_parts))
    return _canonical_text(predicted) == _canonical_text(reference)


def is_correct(text: str, reference: str | None) -> bool:
    return answers_match(extract_answer(text).answer, reference)
