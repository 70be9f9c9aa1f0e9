"""Multiple choice: the letter an answer names, and the options a problem lists.

    choice_letter("\\text{(C)}")  -> "C"        choice_letter("Option C")  -> "C"
    labelled_choice("(c) 18")     -> ("C", "18")
    problem_options("... Options: A)21 B)21.5 C)22")  -> {"A": "21", "B": "21.5", "C": "22"}
"""
from __future__ import annotations

import re

from annotators.answers.numbers import _strip_latex

MAX_PROBLEM_CHARS = 50_000  # options are looked for in the last this many characters of a problem
_LETTER = re.compile(r"(?:(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)\s*:?\s*)?(?:\(([A-Ea-e])\)|([A-E]))\s*[.:)]?",
                     re.IGNORECASE)
_LABELLED = re.compile(r"(?:\(([A-Ea-e])\)|([A-E])[):.])\s*(\S.*)", re.DOTALL)
# An option label: "(A)" or "A)" or "A." / "A:" at a line start or after white space, then its text.
_OPTION_LABEL = re.compile(r"(?<!\S)(?:\(([A-E])\)|([A-E])\)|(?<![^\n])([A-E])[.:])")


def choice_letter(answer: str) -> str | None:
    """The option letter `answer` names on its own ("C", "(c)", "Option C", "\\text{(C)}"), else None."""
    s = _strip_latex(answer)
    if len(s) > 20:
        return None
    match = _LETTER.fullmatch(s)
    if not match:
        return None
    letter = match.group(1) or match.group(2)
    if match.group(2) and not letter.isupper():  # a bare lower-case letter is a variable
        return None
    return letter.upper()


def labelled_choice(answer: str) -> tuple[str, str] | None:
    """("C", "18") for an option given with its label, "(c) 18" or "C) 18", else None."""
    s = _strip_latex(answer)
    match = _LABELLED.fullmatch(s)
    if not match:
        return None
    return (match.group(1) or match.group(2)).upper(), match.group(3).strip()


def problem_options(problem: str | None) -> dict[str, str]:
    """The options A, B, C, ... a problem lists (the last run of labels from A on), else {}."""
    if not problem:
        return {}
    text = problem[-MAX_PROBLEM_CHARS:]
    labels = [(m.start(), m.end(), m.group(1) or m.group(2) or m.group(3)) for m in _OPTION_LABEL.finditer(text)]
    best: list[tuple[int, int, str]] = []
    run: list[tuple[int, int, str]] = []
    for label in labels:
        if label[2] == "A":
            run = [label]
        elif run and ord(label[2]) == ord(run[-1][2]) + 1:
            run.append(label)
        else:
            continue
        if len(run) >= 2:
            best = list(run)
    options = {}
    for i, (_, end, letter) in enumerate(best):
        stop = best[i + 1][0] if i + 1 < len(best) else len(text)
        value = text[end:stop].strip()
        if i + 1 == len(best):  # the last option ends at its line
            value = value.split("\n")[0].strip()
        options[letter] = value.rstrip(",;").strip()
    return options
