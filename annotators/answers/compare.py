"""Compare one extracted answer with a reference: True (equal), False (different) or None
(cannot decide, which the verdict reports as `unknown`).

    compare("0.75", "\\frac{3}{4}")              -> True
    compare("1,3,5", "5,3,1")                    -> True   (a bare list is a set)
    compare("(0,1]", "[0,1)")                    -> False
    compare("p = 6, \\quad y = -4", "6")         -> None   (which variable was asked is unknown)
    compare("Option C", "18", problem="... (A) 12 (B) 15 (C) 18") -> True

Order, cheapest first: exact numbers (numbers.py, the tolerance policy in tolerance.py);
multiple choice (choice.py); booleans; congruences; intervals, unions and inequalities;
equations and systems; matrices; tuples, sets and lists (forms.py), each part compared by
this same function at most MAX_TUPLE_DEPTH deep; LaTeX-normalised text; sympy through
math-verify (symbolic.py). An answer or reference over MAX_ANSWER_CHARS matches only an
identical one.
"""
from __future__ import annotations

import re
from fractions import Fraction

from annotators.answers import forms
from annotators.answers.choice import choice_letter, labelled_choice, problem_options
from annotators.answers.numbers import _canonical_text, _strip_latex, parse_number
from annotators.answers.symbolic import symbolic_equal
from annotators.answers.tolerance import numbers_equal

MAX_ANSWER_CHARS = 10_000  # a longer answer or reference matches only an identical one
MAX_TUPLE_DEPTH = 8
MAX_UNORDERED_MATCHING = 12
_NOT_MINE = object()  # a form method's answer when the pair is not of its form  # larger sets are compared as sorted canonical texts
_PLAIN_WORDS = re.compile(r"[a-zA-Z][a-zA-Z' .-]*")
_NUMBER_WORDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "twenty", "hundred", "thousand", "million", "half"}
# "15 liters of water", "Seth is 16 years old": one number among words only
_NUMBER_THEN_WORDS = re.compile(r"(?:[A-Za-z][A-Za-z']*\s+){0,6}?(?:is|are|was|were|has|have|had|makes?|gets?)?\s*"
                                r"\$?(-?\d[\d,]*(?:\.\d+)?)(?:\s+[A-Za-z][A-Za-z'-]*){1,8}")
_DEGREES_IN_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)[^$]*(?:\\circ|°)")
_MEMBER_OF = re.compile(r"^\\?[a-zA-Z]+\s*\\in\s*(?=[\[(\\{])")
_ASKED = r"(?:find|compute|determine|what\s+is|what\s+are|value\s+of|solve\s+for)\s+(?:the\s+)?(?:value\s+of\s+)?\$?"


def _all(verdicts) -> bool | None:
    """False if any is False, True if all are True, else None."""
    seen_none = False
    for verdict in verdicts:
        if verdict is False:
            return False
        seen_none |= verdict is None
    return None if seen_none else True


class _Comparer:
    def __init__(self, problem: str | None, tolerance: str | None) -> None:
        self.problem, self.tolerance = problem, tolerance
        self._options: dict[str, str] | None = None

    @property
    def options(self) -> dict[str, str]:
        if self._options is None:
            self._options = problem_options(self.problem)
        return self._options

    def __call__(self, pred: str, ref: str, depth: int = 0) -> bool | None:
        if max(len(pred), len(ref)) > MAX_ANSWER_CHARS:  # no answer is this long: only identity counts
            return pred.strip() == ref.strip()
        numbers = self._numbers(pred, ref)
        if numbers is not None:
            return numbers
        if depth >= MAX_TUPLE_DEPTH:
            return _canonical_text(pred) == _canonical_text(ref)
        for form in (self._choice, self._boolean):
            verdict = form(pred, ref, depth)
            if verdict is not _NOT_MINE:
                return verdict
        p, r = _MEMBER_OF.sub("", _strip_latex(pred)), _MEMBER_OF.sub("", _strip_latex(ref))  # "x \in [-2,7]"
        for form in (self._congruence, self._intervals, self._equations, self._matrices, self._collections):
            verdict = form(p, r, depth)
            if verdict is not _NOT_MINE:
                return verdict
        if _canonical_text(p) == _canonical_text(r):
            return True
        # sympy reads sin 80° as radians; a clock time or ratio ("4:30 p.m", "3:4") is no expression
        # of its and only costs it a timeout
        if not (_DEGREES_IN_TRIG.search(pred) or _DEGREES_IN_TRIG.search(ref) or ":" in p or ":" in r):
            symbolic = symbolic_equal(p, r, problem=self.problem, tolerance=self.tolerance)
            if symbolic is not None:
                return symbolic
        if _is_word(p) and (_is_word(r) or parse_number(r) is not None) or _is_word(r) and parse_number(p) is not None:
            return False  # two different words or names, or a word against a number
        return None

    # ------------------------------------------------------------------ one method per form
    def _numbers(self, pred: str, ref: str) -> bool | None:
        pred_num, ref_num = parse_number(pred), parse_number(ref)
        if pred_num is None and ref_num is not None:
            pred = _number_in_words(pred) or pred
            pred_num = parse_number(pred)
        elif ref_num is None and pred_num is not None:
            ref = _number_in_words(ref) or ref
            ref_num = parse_number(ref)
        if pred_num is None or ref_num is None:
            return None
        (p, p_pct), (r, r_pct) = pred_num, ref_num
        if numbers_equal(p, pred, r, ref, problem=self.problem, tolerance=self.tolerance):
            return True
        if p_pct != r_pct:  # "50%" against 0.5
            scaled, other = (p / 100, r) if p_pct else (r / 100, p)
            return numbers_equal(scaled, "exact", other, "exact", problem=self.problem, tolerance=self.tolerance)
        return False

    def _choice(self, pred: str, ref: str, depth: int) -> bool | None:
        ref_letter, pred_letter = choice_letter(ref), choice_letter(pred)
        pred_labelled, ref_labelled = labelled_choice(pred), labelled_choice(ref)
        if ref_letter is not None:
            if pred_letter is not None:
                return pred_letter == ref_letter
            if pred_labelled is not None:
                return pred_labelled[0] == ref_letter
            if ref_letter in self.options:
                return self(pred, self.options[ref_letter], depth + 1)
            return _NOT_MINE
        if pred_letter is not None and pred_letter in self.options:
            return self(self.options[pred_letter], ref, depth + 1)
        if pred_letter is not None and parse_number(ref) is not None:
            return None  # a letter against a value, and no options to read
        if pred_labelled is not None:
            if ref_labelled is not None:
                return pred_labelled[0] == ref_labelled[0] or self(pred_labelled[1], ref_labelled[1], depth + 1)
            return self(pred_labelled[1], ref, depth + 1)
        return _NOT_MINE

    def _boolean(self, pred: str, ref: str, depth: int) -> bool | None:
        r = forms.boolean(_strip_latex(ref))
        p = forms.boolean(_strip_latex(pred)) if r is not None else None
        return _NOT_MINE if p is None else p == r

    def _congruence(self, pred: str, ref: str, depth: int) -> bool | None:
        p, r = forms.congruence(pred), forms.congruence(ref)
        if p is None and r is None:
            return _NOT_MINE
        if p is not None and r is not None:
            return p[1] == r[1] and (int(p[0]) - int(r[0])) % p[1] == 0
        (residue, modulus), other = (p, ref) if p is not None else (r, pred)
        value = parse_number(other)
        if value is None or not isinstance(value[0], Fraction) or value[0].denominator != 1:
            return None
        return (int(residue) - int(value[0])) % modulus == 0

    def _intervals(self, pred: str, ref: str, depth: int) -> bool | None:
        p = [forms.interval(piece) for piece in pred.split("\\cup")]
        r = [forms.interval(piece) for piece in ref.split("\\cup")]
        p_all, r_all = all(p), all(r)
        if not (p_all or r_all):
            return _NOT_MINE
        if not (p_all and r_all):
            p = [i or _open_pair(piece) for i, piece in zip(p, pred.split("\\cup"))]
            r = [i or _open_pair(piece) for i, piece in zip(r, ref.split("\\cup"))]
            if not (all(p) and all(r)):
                return _NOT_MINE
        if len(p) != len(r):
            return False
        return _all(a.left == b.left and a.right == b.right and _all((self(a.low, b.low, depth + 1),
                                                                      self(a.high, b.high, depth + 1)))
                    for a, b in zip(p, r))

    def _equations(self, pred: str, ref: str, depth: int) -> bool | None:
        p, r = forms.assignments(pred), forms.assignments(ref)
        if p is None and r is None:
            return _NOT_MINE
        if p is not None and r is not None:
            if len(p) != len(r):
                return False
            if {name for name, _ in p} == {name for name, _ in r} and len({name for name, _ in p}) == len(p):
                values = dict(r)
                return _all(self(value, values[name], depth + 1) for name, value in p)
            return self._values([v for _, v in p], forms.Collection([v for _, v in r], ordered=True), depth)
        system, other, system_is_pred = (p, ref, True) if p is not None else (r, pred, False)
        if len(system) == 1:
            value = system[0][1]
            return self(value, other, depth + 1) if system_is_pred else self(other, value, depth + 1)
        items = forms.collection(other)
        if items is not None and len(items.items) == len(system):
            return self._values([v for _, v in system], items, depth)
        if not system_is_pred:
            return None
        asked = [value for name, value in system
                 if self.problem and re.search(_ASKED + re.escape(name) + r"(?!\w)", self.problem, re.IGNORECASE)]
        if len(asked) == 1:
            return self(asked[0], other, depth + 1)
        verdicts = [self(value, other, depth + 1) for _, value in system]
        if all(v is False for v in verdicts):
            return False
        return True if all(v is True for v in verdicts) else None

    def _values(self, values: list[str], reference: forms.Collection, depth: int) -> bool | None:
        if reference.ordered:
            return _all(self(a, b, depth + 1) for a, b in zip(values, reference.items))
        return self._unordered(values, reference.items, depth)

    def _matrices(self, pred: str, ref: str, depth: int) -> bool | None:
        p, r = forms.matrix(pred), forms.matrix(ref)
        if p is None and r is None:
            return _NOT_MINE
        if p is not None and r is not None:
            if (len(p), len(p[0])) != (len(r), len(r[0])):
                return False
            return _all(self(a, b, depth + 1) for row_p, row_r in zip(p, r) for a, b in zip(row_p, row_r))
        grid, other = (p, ref) if p is not None else (r, pred)
        if parse_number(other) is not None:
            return False  # a matrix is not a number
        items = forms.collection(other)
        if items is None or not items.ordered or not (len(grid) == 1 or len(grid[0]) == 1):
            return _NOT_MINE  # a vector may be written as a tuple; anything else sympy may still read
        cells = [cell for row in grid for cell in row]
        if len(cells) != len(items.items):
            return False
        pairs = zip(cells, items.items) if p is not None else zip(items.items, cells)
        return _all(self(a, b, depth + 1) for a, b in pairs)

    def _collections(self, pred: str, ref: str, depth: int) -> bool | None:
        p, r = forms.collection(pred), forms.collection(ref)
        if p is not None and len(p.items) == 1 and p.items[0] != pred:
            return self(p.items[0], ref, depth + 1)  # "[11]" is 11
        if r is not None and len(r.items) == 1 and r.items[0] != ref:
            return self(pred, r.items[0], depth + 1)
        if p is None and r is None:
            return _NOT_MINE
        if p is None or r is None:
            return False if _canonical_text(pred) != _canonical_text(ref) and not _has_operator(pred, ref) else _NOT_MINE
        if len(p.items) != len(r.items):
            return False
        if r.ordered and (p.ordered or not pred.lstrip().startswith("\\{")):
            return _all(self(a, b, depth + 1) for a, b in zip(p.items, r.items))
        return self._unordered(p.items, r.items, depth)

    def _unordered(self, pred: list[str], ref: list[str], depth: int) -> bool | None:
        if len(pred) != len(ref):
            return False
        if len(pred) > MAX_UNORDERED_MATCHING:
            return sorted(map(_canonical_text, pred)) == sorted(map(_canonical_text, ref))
        unused, undecided = list(range(len(ref))), False
        for a in pred:
            verdicts = [(j, self(a, ref[j], depth + 1)) for j in unused]
            match = next((j for j, v in verdicts if v is True), None)
            if match is None:
                if all(v is False for _, v in verdicts):
                    return False
                undecided = True
                continue
            unused.remove(match)
        return None if undecided else True


def _number_in_words(s: str) -> str | None:
    """The number of "15 liters of water." or "Seth is 16 years old.", else None."""
    if len(s) > 200:
        return None
    match = _NUMBER_THEN_WORDS.fullmatch(s.strip().rstrip(".").strip())
    return match.group(1) if match else None


def _is_word(s: str) -> bool:
    return _PLAIN_WORDS.fullmatch(s) is not None and s.strip().lower() not in _NUMBER_WORDS


def _open_pair(piece: str) -> forms.Interval | None:
    items = forms.collection(piece.strip())
    if items is None or not items.ordered or len(items.items) != 2 or not piece.strip().startswith("("):
        return None
    return forms.Interval("(", items.items[0], items.items[1], ")")


def _has_operator(*texts: str) -> bool:
    """Whether a collection's commas may be an expression's (a function's arguments, say)."""
    return any("\\" in t or "(" in t.strip()[1:] for t in texts)


def compare(pred: str | None, ref: str | None, *, problem: str | None = None,
            tolerance: str | None = None) -> bool | None:
    if pred is None or ref is None:
        return None
    return _Comparer(problem, tolerance)(pred, ref)


def answers_match(predicted: str | None, reference: str | None, *, problem: str | None = None,
                  tolerance: str | None = None) -> bool:
    """Whether `predicted` is known to equal `reference` (an undecidable pair is not a match)."""
    return compare(predicted, reference, problem=problem, tolerance=tolerance) is True
