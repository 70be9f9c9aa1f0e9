"""Structured answer forms, parsed from normalised LaTeX (numbers._strip_latex) without sympy:
booleans, congruences, inequalities and intervals, equations and systems, matrices, and
collections (ordered tuples, unordered sets and bare lists).

    boolean("Yes") -> True         congruence("n \\equiv 5 \\pmod{17}") -> ("5", 17)
    interval("-1 \\leq k \\leq -\\frac12") -> Interval("[", "-1", "-\\frac12", "]")
    assignments("(f, k) = (3, -5)") -> [("f", "3"), ("k", "-5")]
    collection("\\{1,3,5\\}") -> Collection(["1", "3", "5"], ordered=False)

Each parser returns None when the answer is not of its form. Parts are strings, compared by
the caller (compare.py), so every form nests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TUPLE_PARTS = 256

_TRUE, _FALSE = {"true", "yes", "t", "correct"}, {"false", "no", "f", "incorrect"}
_CONGRUENCE = re.compile(
    r"(?:[a-zA-Z]\s*)?(?:\\equiv|≡)\s*(-?\d{1,30})\s*"
    r"(?:\\pmod\s*\{?\s*(\d{1,30})\s*\}?|\(\s*(?:\\bmod|\\mod|mod)\s*\{?\s*(\d{1,30})\s*\}?\s*\)|"
    r"\\(?:bmod|mod)\s*\{?\s*(\d{1,30})\s*\}?)")
_RELATIONS = {"\\leq": "<=", "\\le": "<=", "\\leqslant": "<=", "≤": "<=", "\\geq": ">=", "\\ge": ">=",
              "\\geqslant": ">=", "≥": ">=", "\\lt": "<", "\\gt": ">", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_RELATION = re.compile(r"\\leqslant|\\geqslant|\\leq|\\geq|\\le|\\ge|\\lt|\\gt|<=|>=|≤|≥|<|>")
_VARIABLE = r"(?:\\?[a-zA-Z]+(?:_\{?\w+\}?)?(?:\(\w\))?)"
_VARIABLE_ONLY = re.compile(_VARIABLE)
_VARIABLE_TUPLE = re.compile(rf"\(\s*{_VARIABLE}(?:\s*,\s*{_VARIABLE})+\s*\)")
_SYSTEM_SEPARATOR = re.compile(r";|\band\b")  # parts are stripped after: a \s* either side is quadratic
_MATRIX = re.compile(r"\\begin\{([pbBvV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}", re.DOTALL)
_INFINITY = ("\\infty", "infty", "∞", "+\\infty")


def boolean(s: str) -> bool | None:
    word = s.strip().strip(".").lower()
    return True if word in _TRUE else False if word in _FALSE else None


def congruence(s: str) -> tuple[str, int] | None:
    """(residue, modulus) of "n \\equiv 5 \\pmod{17}", else None."""
    match = _CONGRUENCE.fullmatch(s.strip())
    if not match:
        return None
    modulus = int(next(g for g in match.groups()[1:] if g))
    return (match.group(1), modulus) if modulus else None


@dataclass(frozen=True)
class Interval:
    left: str  # "(" or "["
    low: str
    high: str
    right: str  # ")" or "]"


def _split_top_level(s: str, separator: str = ",") -> list[str]:
    """Split on `separator` where it is not inside brackets (tuples, intervals, lists)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def _inequality(s: str) -> Interval | None:
    pieces = _RELATION.split(s)
    relations = [_RELATIONS[r] for r in _RELATION.findall(s)]
    if not 1 <= len(relations) <= 2 or any(not p.strip() for p in pieces):
        return None
    pieces = [p.strip() for p in pieces]
    if len(relations) == 2:
        low, var, high = pieces
        if not _VARIABLE_ONLY.fullmatch(var) or relations[0][0] != relations[1][0]:
            return None
        if relations[0][0] == ">":
            low, high = high, low
        closed = [r.endswith("=") for r in relations]
        if relations[0][0] == ">":
            closed.reverse()
        return Interval("[" if closed[0] else "(", low, high, "]" if closed[1] else ")")
    left, right = pieces
    relation = relations[0]
    if _VARIABLE_ONLY.fullmatch(right) and not _VARIABLE_ONLY.fullmatch(left):  # "3 < x" is "x > 3"
        left, right = right, left
        relation = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[relation]
    if not _VARIABLE_ONLY.fullmatch(left):
        return None
    if relation.startswith("<"):
        return Interval("(", "-\\infty", right, "]" if relation.endswith("=") else ")")
    return Interval("[" if relation.endswith("=") else "(", right, "\\infty", ")")


def interval(s: str) -> Interval | None:
    """An interval written with brackets ("(0,1]") or as an inequality ("-1 \\leq k \\leq 0")."""
    s = s.strip()
    if len(s) > 2 and s[0] in "([" and s[-1] in ")]":
        parts = _split_top_level(s[1:-1])
        if len(parts) == 2 and _closes_at_end(s):
            if s[0] == "(" and s[-1] == ")" and not any(p in _INFINITY or p.lstrip("-+") in _INFINITY for p in parts):
                return None  # "(a, b)": an ordered pair as much as an open interval; compared as a tuple
            return Interval(s[0], parts[0], parts[1], s[-1])
        return None
    return _inequality(s) if _RELATION.search(s) else None


def assignments(s: str) -> list[tuple[str, str]] | None:
    """[(variable, value), ...] for "x = 5", "p = 6, y = -4", "(f, k) = (3, -5)", "b(t) = 0"."""
    parts = [p.strip() for part in _split_top_level(s) for p in _SYSTEM_SEPARATOR.split(part) if p.strip()]
    if not parts or len(parts) > MAX_TUPLE_PARTS:
        return None
    pairs = []
    for part in parts:
        sides = part.split("=")
        if len(sides) != 2 or not sides[1].strip():
            return None
        lhs, rhs = sides[0].strip(), sides[1].strip()
        if _VARIABLE_ONLY.fullmatch(lhs):
            pairs.append((lhs, rhs))
        elif _VARIABLE_TUPLE.fullmatch(lhs):
            names = _split_top_level(lhs[1:-1])
            values = collection(rhs)
            if values is None or not values.ordered or len(values.items) != len(names):
                return None
            pairs.extend(zip(names, values.items))
        else:
            return None
    return pairs


def matrix(s: str) -> list[list[str]] | None:
    """Rows of cells of a pmatrix / bmatrix / array, else None."""
    match = _MATRIX.fullmatch(s.strip())
    if not match:
        return None
    rows = [row for row in match.group(2).split("\\\\") if row.strip() and row.strip() != "\\hline"]
    cells = [[cell.strip() for cell in row.split("&")] for row in rows]
    if not cells or sum(len(r) for r in cells) > MAX_TUPLE_PARTS or len({len(r) for r in cells}) != 1:
        return None
    return cells


@dataclass(frozen=True)
class Collection:
    items: list[str]
    ordered: bool


def collection(s: str) -> Collection | None:
    """A tuple "(1, 2)" / "[1, 2]" (ordered), a set "\\{1, 2\\}" or a bare list "1, 2" (unordered);
    one element in brackets is that element ("[11]"). None for anything else."""
    s = s.strip()
    if s.startswith("\\{") and s.endswith("\\}"):
        items, ordered = _split_top_level(s[2:-2]), False
    elif len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _closes_at_end(s):
        items, ordered = _split_top_level(s[1:-1]), True
    else:
        items, ordered = _split_top_level(s), False
        if len(items) < 2:
            return None
    if not 1 <= len(items) <= MAX_TUPLE_PARTS or any(not item for item in items):
        return None
    return Collection(items, ordered)


def _closes_at_end(s: str) -> bool:
    """Whether the bracket that opens `s` closes at its last character ("(1)+(2)" does not)."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False
