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

_LINE = re.compile(r"[^\n]+")
_PARAGRAPH = re.compile(r"\S(?:.|\n(?![ \t]*\n))*")
_SENT_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[^\s])")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?$")
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof sr jr st vs etc eg ie cf approx fig eq no vol ca al resp".split())


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cap(text: str, start: int, end: int, max_chars: int, out: Segments) -> None:
    """Append [start, end) to out, cut into pieces of at most max_chars."""
    while end - start > max_chars:
        limit = start + max_chars
        cut = text.rfind(" ", start + 1, limit + 1)
        if cut <= start:
            cut = limit
        s, e = _trim(text, start, cut)
        if s < e:
            out.append((s, e))
        start, _ = _trim(text, cut, end)
    s, e = _trim(text, start, end)
    if s < e:
        out.append((s, e))


def _is_abbreviation(text: str, line_start: int, stop: int) -> bool:
    m = _WORD_BEFORE.search(text, max(line_start, stop - 12), stop + 1)
    if not m:
        return False
    word = m.group(1)
    return len(word) == 1 or word.lower() in _ABBREVIATIONS


def _sentences(text: str, start: int, end: int) -> Segments:
    out: Segments = []
    seg_start = start
    for m in _SENT_END.finditer(text, start, end):
        nxt = text[m.end():end].lstrip()
        if not nxt or nxt[0].islower() or _is_abbreviation(text, start, m.start()):
            continue
        out.append((seg_start, m.end()))
        seg_start = m.end()
    out.append((seg_start, end))
    return out


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
    for line in _LINE.finditer(text):
        for s, e in _sentences(text, line.start(), line.end()):
            _cap(text, s, e, max_chars, out)
    return out


def number_segments(text: str, segments: Segments, first: int = 1) -> str:
    """The prompt form of segments: one `[S<n>] <segment text>` line each (newlines inside a
    segment become spaces so the numbering stays one per line)."""
    return "\n".join(f"[S{first + i}] {text[s:e].replace(chr(10), ' ')}" for i, (s, e) in enumerate(segments))
