"""Find a solution's final answer and say how it was found.

    extract_answer("... so the answer is \\boxed{\\frac{3}{4}}.")  -> Extraction("\\frac{3}{4}", "boxed")
    extract_answer("... Correct Option: A")                        -> Extraction("A", "choice")

Order: the last `\\boxed{...}` / `\\fbox{...}` (nested braces), the last `#### X`, the last
stated answer ("the answer is X", "final answer: X", "Answer is X", a line "Answer: X", a
"# Answer" heading and the line after it, and the
choice markers "Answer B", "Correct Option: A"), the last number. Every pattern is linear on
hostile text: no two quantifiers that can trade characters are adjacent, and a `\\boxed{`
closes within MAX_BOXED_CHARS.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BOXED_CHARS = 20_000  # a \boxed{ not closed within this many characters is unbalanced


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    method: str  # boxed | hashes | answer_is | choice | last_number | none


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
# "Answer is False", "the correct answer is (B)", "Correct Option: A" (not after "the": _ANSWER_IS has those).
_MORE_ANSWER_IS = re.compile(
    r"(?<!the )\b(?:answer\s+is|correct\s+(?:option|choice|answer)(?:\s+is)?)\s*(?::\s*)?(.+)", re.IGNORECASE)
# "Answer B", "Answer: (C)": an upper-case letter alone after "answer" (a lower-case one is a word: "answer a").
_ANSWER_LETTER = re.compile(r"\b(?i:answer)\s*(?::\s*)?(?:\(([A-Ea-e])\)|([A-E]))(?=[ \t]*(?:[.,;:)!*$]|$))",
                            re.MULTILINE)

# PRM800K's "# Answer" heading, the answer on the next non-empty line.
_ANSWER_HEADING = re.compile(r"^#{1,6}[ \t]*(?:final[ \t]+)?answer[ \t]*:?[ \t]*\n(?:[ \t]*\n)*[ \t]*(\S[^\n]*)",
                             re.IGNORECASE | re.MULTILINE)

_BRACES = re.compile(r"[{}]")
_PHRASE_END = re.compile(r"(?<!\d)\.(?!\d)|\n")


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


def _phrase(stated: str) -> str:
    return _PHRASE_END.split(stated.strip())[0].strip().strip("$*").strip()


def _last_stated(text: str) -> Extraction | None:
    """The last stated answer of any marker, by position in the text."""
    best: tuple[int, str, str] | None = None
    patterns = [(_ANSWER_IS, "answer_is")]
    lowered = text.lower()
    if "answer" in lowered or "correct" in lowered:  # the other markers say one of these: cheap scans first
        patterns += [(_MORE_ANSWER_IS, "answer_is"), (_ANSWER_HEADING, "answer_is"), (_ANSWER_LETTER, "choice")]
    for pattern, method in patterns:
        match = None
        for match in pattern.finditer(text):
            pass
        if match is None:
            continue
        if method == "choice":
            answer = (match.group(1) or match.group(2)).upper()
        else:
            answer = _phrase(match.group(1))
            if pattern is _MORE_ANSWER_IS and answer.lower().startswith(("option", "choice")):
                method = "choice"
            elif pattern is _MORE_ANSWER_IS and match.group(0).lower().startswith("correct"):
                method = "choice"
        if answer and (best is None or match.start() >= best[0]):
            best = (match.start(), answer, method)
    return Extraction(best[1], best[2]) if best else None


def extract_answer(text: str) -> Extraction:
    boxed = _boxed_contents(text)
    if boxed is not None and boxed.strip():
        return Extraction(boxed.strip(), "boxed")
    hashes = _HASHES.findall(text)
    if hashes and hashes[-1].strip():
        return Extraction(hashes[-1].strip(), "hashes")
    stated = _last_stated(text)
    if stated is not None:
        return stated
    numbers = _LAST_NUMBER.findall(text)
    if numbers:
        return Extraction(numbers[-1], "last_number")
    return Extraction(None, "none")
