"""Sentence / paragraph segmentation with exact code point offsets.

A segment is a half-open `(start, end)` pair into the text with no leading or trailing
whitespace, so `text[start:end]` is the segment verbatim. Segments never overlap, appear
in text order, and no segment is longer than `max_chars` (longer runs are cut at the
last whitespace before the limit, or hard at the limit).

    segment(text)                        # sentences (the default): lines, then sentence ends
    segment(text, mode="paragraph")      # blocks separated by blank lines
    number_segments(text, segs)          # "[S1] ...\\n[S2] ..." for an LLM prompt

Sentence rules: every line break ends a segment; inside a line a segment ends after
`.`, `!` or `?` (plus closing quotes/brackets) followed by whitespace and a character
that can start a sentence (not a lowercase letter), unless the word before the stop is
a known abbreviation ("Dr.", "e.g.") or a single letter.
"""
from __future__ import annotations

import re
from typing import Literal

Segments = list[tuple[int, int]]

MAX_CHARS = 1000

_PARAGRAPH = re.compile(r"\S(?:.|\n(?![ \t]*\n))*")
# a line break, or a sentence stop (+ closing quotes/brackets) followed by blanks and a visible character
_BOUNDARY = re.compile(r"\n|[.!?]+[\"'\u201d\u2019)\]]*(?=[^\S\n]+([^\s]))")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?$")
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof sr jr st vs etc eg ie cf approx fig eq no vol ca al resp".split())


def _cap(text: str, start: int, end: int, max_chars: int, out: Segments) -> None:
    """Append [start, end) without its outer whitespace to out, cut into pieces of at most max_chars."""
    piece = text[start:end]
    stripped = piece.strip()
    if len(stripped) == len(piece) and end - start <= max_chars:  # the common case
        if piece:
            out.append((start, end))
        return
    start += len(piece) - len(piece.lstrip())
    end = start + len(stripped)
    while end - start > max_chars:
        limit = start + max_chars
        cut = text.rfind(" ", start + 1, limit + 1)
        if cut <= start:
            cut = limit
        head = text[start:cut].rstrip()
        if head:
            out.append((start, start + len(head)))
        rest = text[cut:end]
        start = cut + len(rest) - len(rest.lstrip())
    if start < end:
        out.append((start, end))


def _is_abbreviation(text: str, line_start: int, stop: int) -> bool:
    m = _WORD_BEFORE.search(text, max(line_start, stop - 12), stop + 1)
    if not m:
        return False
    word = m.group(1)
    return len(word) == 1 or word.lower() in _ABBREVIATIONS


def segment(text: str, *, mode: Literal["sentence", "paragraph"] = "sentence",
            max_chars: int = MAX_CHARS) -> Segments:
    """Split `text` into segments; see the module docstring for the rules."""
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    out: Segments = []
    if mode == "paragraph":
        for m in _PARAGRAPH.finditer(text):
            _cap(text, m.start(), m.end(), max_chars, out)
        return out
    if mode != "sentence":
        raise ValueError(f"unknown segmentation mode {mode!r} (sentence | paragraph)")
    seg_start = line_start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1) is None:  # a line break
            _cap(text, seg_start, m.start(), max_chars, out)
            seg_start = line_start = m.end()
        elif not text[m.start(1)].islower() and not _is_abbreviation(text, line_start, m.start()):
            _cap(text, seg_start, m.end(), max_chars, out)
            seg_start = m.end()
    _cap(text, seg_start, len(text), max_chars, out)
    return out


def number_segments(text: str, segments: Segments, first: int = 1) -> str:
    """The prompt form of segments: one `[S<n>] <segment text>` line each (newlines inside a
    segment become spaces so the numbering stays one per line)."""
    return "\n".join(f"[S{first + i}] {text[s:e].replace(chr(10), ' ')}" for i, (s, e) in enumerate(segments))
