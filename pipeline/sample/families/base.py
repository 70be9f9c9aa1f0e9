"""What every problem family shares: the structured problem and solution the teacher
writes from, exact number formatting, and the `Family` interface.

A family turns a dict of values `v` (its numbers merged with its names) into a `Problem`
for each question form (original, reversed, extra step). Numbers are `Fraction`s, so
every reference answer is exact:

    fam = FAMILIES["shopping"]
    v = fam.numbers(rng, difficulty=2) | fam.names(rng)
    problem = fam.original(v)          # .question, .solution.answer (a Fraction)
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from fractions import Fraction

F = Fraction
PERTURBATIONS = ("numbers", "names", "distractor", "reversed", "extra_step")


def _as_fraction(x: Fraction | int) -> Fraction:
    return x if type(x) is Fraction else F(x)


def num(x: Fraction | int) -> str:
    """Exact text of a number: `42`, `12.5`, `3/4` (terminating decimals as decimals)."""
    if type(x) is int:
        return str(x)
    x = _as_fraction(x)
    n, d = x.numerator, x.denominator
    if d == 1:
        return str(n)
    rest = d
    twos = fives = 0
    while rest % 2 == 0:
        rest //= 2
        twos += 1
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    if rest != 1:
        return f"{n}/{d}"
    places = max(twos, fives)
    scaled = abs(n) * 10 ** places // d
    whole, frac_digits = divmod(scaled, 10 ** places)
    return f"{'-' if n < 0 else ''}{whole}.{str(frac_digits).rjust(places, '0').rstrip('0')}"


def frac(x: Fraction | int) -> str:
    """A number as `a/b` (or a whole number): for rates, where 1/3 reads better than a decimal."""
    if type(x) is int:
        return str(x)
    x = _as_fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def paren(x: Fraction | int) -> str:
    """`frac(x)`, bracketed when it is a fraction, for use inside an expression."""
    text = frac(x)
    return f"({text})" if "/" in text else text


def money(x: Fraction | int) -> str:
    """`$7.50` for whole cents, the exact value otherwise."""
    if type(x) is int:
        return f"${x}"
    x = _as_fraction(x)
    n, d = x.numerator, x.denominator
    if 100 % d == 0:
        sign, cents = ("-" if n < 0 else ""), abs(n) * (100 // d)
        return f"{sign}${cents // 100}" if cents % 100 == 0 else f"{sign}${cents // 100}.{cents % 100:02d}"
    return f"${num(x)}"


def listing(items: list[str]) -> str:
    """`a`, `a and b`, `a, b, and c`."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Calc:
    """One computation: `goal` is a noun phrase ("the cost of the pens"), `expr` what is
    computed ("4 × $1.50"), `value` its exact result; `case` names the case it handles."""
    goal: str
    expr: str
    value: Fraction
    is_money: bool = False
    unit: str = ""
    as_fraction: bool = False
    fact: int | None = None
    case: str | None = None

    def show(self, value: Fraction | None = None) -> str:
        return self.fmt(self.value if value is None else value)

    def fmt(self, value: Fraction) -> str:
        if self.is_money:
            return money(value)
        return (frac(value) if self.as_fraction else num(value)) + self.unit


@dataclass(frozen=True)
class Guess:
    """A trial value and what it gives (`ok`: it satisfies the problem)."""
    guess: str
    outcome: str
    ok: bool


@dataclass(frozen=True)
class Solution:
    plan: tuple[str, str]                 # (what to do first, what to do then), no numbers
    calcs: tuple[Calc, ...]               # in order; the last one is the answer
    facts: tuple[str, ...] = ()           # things to recall, lower-case sentences without a full stop
    guesses: tuple[Guess, ...] = ()       # for exploration (guess and check, small cases)
    need: tuple[str, str] | None = None   # for backward chaining: (goal, what it needs)
    check: str = ""                       # an independent computation that confirms the answer
    case_split: str = ""                  # what the cases split on, when calcs have cases

    @property
    def answer(self) -> Fraction:
        return self.calcs[-1].value


@dataclass(frozen=True)
class Problem:
    family: str
    facts: tuple[str, ...]                # the question's statement sentences
    ask: str                              # the question sentence
    solution: Solution
    distractor: str | None = None

    @property
    def question(self) -> str:
        return " ".join(self.facts + (self.ask,))

    def with_distractor(self, sentence: str, at: int) -> "Problem":
        facts = list(self.facts)
        facts.insert(max(1, min(at, len(facts))), sentence)
        return replace(self, facts=tuple(facts), distractor=sentence)


@dataclass
class Family:
    """A kind of word problem. Subclasses fill in the numbers, names and three forms.

    `weights` is how likely the teacher is to use each optional strategy on this family
    (case analysis is used whenever a solution has cases): strategy use depends on the
    family, so a strategy description genuinely helps. `perturbations` are the variants the
    family can make; a `short_form` family's solutions are written by the short teacher.
    """
    name: str = ""
    weights: dict[str, float] = field(default_factory=dict)
    perturbations = PERTURBATIONS
    short_form = False

    def numbers(self, rng: random.Random, difficulty: int) -> dict: raise NotImplementedError
    def names(self, rng: random.Random) -> dict: raise NotImplementedError
    def original(self, v: dict) -> Problem: raise NotImplementedError
    def reversed(self, v: dict) -> Problem: raise NotImplementedError
    def extra_step(self, v: dict) -> Problem: raise NotImplementedError
    def distractor(self, v: dict, rng: random.Random) -> str: raise NotImplementedError


PEOPLE = (
    "Ava", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Imani", "Jonas", "Keiko", "Liam",
    "Maya", "Nikhil", "Olga", "Pedro", "Quinn", "Rosa", "Sanjay", "Tara", "Umar", "Vera", "Wen", "Ximena",
    "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Dmitri", "Esi", "Felix", "Gita", "Hugo", "Ines", "Jamal",
)


def two_people(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(PEOPLE, 2)
    return a, b
