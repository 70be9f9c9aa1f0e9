"""Reference-aware conclusions for solutions with no answer marker (human reference solutions,
textbook style): is the reference stated as the solution's conclusion?

    stated_conclusion("... so $f(x)=x^{2}-2x+2$.", "x^2-2x+2")  -> "x^{2}-2x+2"
    stated_conclusion("We get 3+4=7, so 7 is odd.", "4")          -> None

A conclusion sentence is the final sentence, a sentence opening with therefore / thus / hence /
so / consequently / in conclusion, or the first sentence (which often answers the question; there, only a value stated for
a name counts: "the least $n$ is $n=12$", never "$3+4=7$").
A sentence that is a bare value ("5 square meters") is that value. Otherwise
only the value it states last counts: the right-hand side of its last `=` (or of
its last formula), or the value after its last "is" / "are" / "equals" / "be" (its leading number
when words follow: "= 15 liters of water out of the 24 liters" states 15), or, in a sentence
with none of these, its one number ("Jojo scored 54 points"; two numbers: no value); values inside a
computation ("3+4=7": 3 and 4) never count. GSM8K's calculator annotations ("<<9*2=18>>") are
dropped first, and a sentence whose every `$` opens a number ("$400 + $60 = $460") is read as
plain text with dollar amounts, not as formulas. A match gives `correct`; no match is not a
verdict (the caller reports `unknown`): precision first, since a wrong `correct` poisons
training more than an `unknown`.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from annotators.answers.numbers import parse_number

MAX_SENTENCE_CHARS = 2_000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z$\\(])|\n+")
_OPENER = re.compile(r"(?:therefore|thus|hence|so|consequently|in\s+conclusion|finally)\b", re.IGNORECASE)
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_STATED = re.compile(r"\b(?:is|are|equals|be|was|were|gives|get)\s+(.+)$", re.IGNORECASE)
_NUMBER_THEN_WORDS = re.compile(r"(-?\d[\d,]*(?:\.\d+)?%?)(?:\s+[a-zA-Z][^\s\d=]*)+")  # "60% of the class"
_LEADING_NUMBER = re.compile(r"(-?\d[\d,]*(?:\.\d+)?%?)(?=\s+[a-zA-Z])")  # "15 liters of water out of the 24 liters"
_CALCULATOR = re.compile(r"<<[^<>\n]{0,200}>>")  # GSM8K: "$<<9*2=18>>18"
_DOLLAR = re.compile(r"\\?\$(?=\d)")  # "$18", "\\$18": a dollar amount, where no other `$` is left
_RELATION = re.compile(r"=|\\equiv|\\approx")
_LONE_NUMBER = re.compile(r"(?<![\w.,])-?\d+(?:,\d{3})*(?:\.\d+)?%?(?![\w.,]?\d|\w)")
_NAME = re.compile(r"(?:[^=]*\s)?\\?[a-zA-Z]+(?:_\{?\w+\}?)?(?:\([^()]*\))?")  # "n", "f(x)", "the answer x_1"


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _final_value(sentence: str, stated_only: bool) -> list[str]:
    """What a sentence states last: candidates, most specific first. `stated_only`: not the
    result of a computation ("3+4=7"), only a value or a variable's ("$n=12$", "is 12")."""
    sentence = sentence.strip().rstrip(".!?").strip()
    dollars = _DOLLAR.sub("", sentence) if "$" in sentence else sentence
    if "$" not in dollars:
        sentence = dollars
    formulas = [next(g for g in m.groups() if g is not None) for m in _MATH.finditer(sentence)]
    tail = _MATH.sub(" ", sentence).strip()
    candidates = []
    if formulas and not re.search(r"\d", tail.split()[-1] if tail.split() else ""):
        last = formulas[-1].strip().rstrip(".,").strip()
        pieces = _RELATION.split(last)
        if not stated_only or len(pieces) == 1 or _NAME.fullmatch(pieces[-2].strip()):
            candidates.append(pieces[-1].strip())
        if len(pieces) == 1:
            candidates.append(last)
    plain = sentence if not formulas else ""
    if plain:
        pieces = _RELATION.split(plain)
        rhs = pieces[-1].strip()
        stated = _STATED.search(rhs) if len(pieces) == 1 else None
        value = stated.group(1).strip() if stated else rhs if len(pieces) > 1 else None
        if value and stated_only and len(pieces) > 1 and not _NAME.fullmatch(pieces[-2].strip()):
            value = None
        if value:
            number = _NUMBER_THEN_WORDS.fullmatch(value) or _LEADING_NUMBER.match(value)
            candidates.append(number.group(1) if number else value)
        elif not stated_only and len(pieces) == 1:
            numbers = _LONE_NUMBER.findall(plain)
            if len(numbers) == 1:  # "So, Sophia bought a total of 4 onions.": the one value it states
                candidates.append(numbers[0])
    return [c for c in candidates if c]


def stated_conclusion(text: str, reference: str, same: Callable[[str, str], bool | None]) -> str | None:
    """The value a conclusion sentence of `text` states that `same` finds equal to `reference`."""
    sentences = _sentences(_CALCULATOR.sub("", text) if "<<" in text else text)
    if not sentences:
        return None
    first = sentences[0]
    chosen = [sentences[-1]] + [s for s in sentences[1:-1] if _OPENER.match(s)] + [first]
    seen = set()
    for sentence in chosen:
        if sentence in seen:
            continue
        seen.add(sentence)
        if parse_number(sentence) is not None:  # the sentence is a bare value: "5 square meters"
            if same(sentence, reference) is True:
                return sentence
            continue
        if len(sentence) > MAX_SENTENCE_CHARS:
            continue
        for value in _final_value(sentence, stated_only=sentence is first and sentence is not sentences[-1]):
            if same(value, reference) is True:
                return value
    return None
