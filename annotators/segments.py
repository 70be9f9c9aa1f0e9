"""Sentence / paragraph segmentation with exact code point offsets.

A segment is a half-open `(start, end)` pair into the text with no leading or trailing
whitespace, so `text[start:end]` is the segment verbatim. Segments never overlap, appear
in text order, and no segment is longer than `max_chars` (longer runs are cut at the
last whitespace before the limit, or hard at the limit).

    segment(text)                        # sentences (the default): lines, then sentence ends
    segment(text, mode="paragraph")      # blocks separated by blank lines
    number_segments(text, segs)          # "[S1] ...\\n[S2] ..." for an LLM prompt
    merge_ranges([(5, 9), (0, 3), (8, 12)])   # [(0, 3), (5, 12)]: overlapping or touching ranges joined

Sentence rules: every line break ends a segment; inside a line a segment ends after
`.`, `!` or `?` (plus closing quotes/brackets) followed by blanks and a character that
can start a sentence (anything but a lowercase ASCII letter), unless the stop is a dot
right after a known abbreviation ("Dr.", "etc.") or a single letter ("e.g.", "x.").
One compiled regular expression finds every break (`bounds`), a single C-level pass.
"""
from __future__ import annotations

import re
from typing import Literal

Segments = list[tuple[int, int]]

MAX_CHARS = 1000

_PARAGRAPH = re.compile(r"\S(?:.|\n(?![ \t]*\n))*")
_ABBREVIATIONS = "dr mr mrs ms prof sr jr st vs etc eg ie cf approx fig eq no vol ca al resp".split()
# Where a segment ends and the next begins, as one alternation:
#   (1) whitespace holding a line break (the break and the blanks around it), or
#   (2) a run of sentence stops (+ closing quotes/brackets), then blanks (3), then a character
#       other than a lowercase ASCII letter; when the run starts with a dot, the letters right
#       before it must be neither a single letter nor a known abbreviation.
_NOT_ABBREVIATION = "(?<!(?<![A-Za-z])[A-Za-z])" + "".join(
    f"(?<!(?<![A-Za-z])(?i:{a}))" for a in _ABBREVIATIONS)
_BREAK = re.compile(r"([^\S\n]*\n\s*)|(?=[.!?])(?<![.!?])(?:(?=[!?])|" + _NOT_ABBREVIATION
                    + r")([.!?]+[\"'\u201d\u2019)\]]*)([^\S\n]+)(?=[^\sa-z])")


def bounds(text: str) -> tuple[list[int], list[int]]:
    """Start and end offsets of the sentence segments of `text` before any max_chars cut
    (empty ones, where start >= end, included)."""
    starts = [len(text) - len(text.lstrip())]
    ends = []
    for m in _BREAK.finditer(text):
        if m.start(1) >= 0:
            ends.append(m.start(1))
            starts.append(m.end(1))
        else:
            ends.append(m.end(2))
            starts.append(m.end(3))
    ends.append(len(text.rstrip()))
    return starts, ends


def cut_long(text: str, start: int, end: int, max_chars: int, out: Segments) -> None:
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


def segment(text: str, *, mode: Literal["sentence", "paragraph"] = "sentence",
            max_chars: int = MAX_CHARS) -> Segments:
    """Split `text` into segments; see the module docstring for the rules."""
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    out: Segments = []
    if mode == "paragraph":
        for m in _PARAGRAPH.finditer(text):
            cut_long(text, m.start(), m.end(), max_chars, out)
        return out
    if mode != "sentence":
        raise ValueError(f"unknown segmentation mode {mode!r} (sentence | paragraph)")
    for start, end in zip(*bounds(text)):
        if end - start > max_chars:
            cut_long(text, start, end, max_chars, out)
        elif start < end:
            out.append((start, end))
    return out


def number_segments(text: str, segments: Segments, first: int = 1) -> str:
    """The prompt form of segments: one `[S<n>] <segment text>` line each (newlines inside a
    segment become spaces so the numbering stays one per line)."""
    return "\n".join(f"[S{first + i}] {text[s:e].replace(chr(10), ' ')}" for i, (s, e) in enumerate(segments))


def merge_ranges(ranges) -> list[tuple[int, int]]:
    """Half-open `(start, end)` ranges joined where they overlap or touch, in order."""
    out: list[list[int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]
