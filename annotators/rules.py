"""The rules tagger: cue patterns per taxonomy label over sentence segments, vectorised.

    tagger = RulesTagger()                       # default taxonomy, fastest backend
    tagger = get_tagger("rules", taxonomy=tax)   # the same through the registry
    [result] = tagger.tag([TagItem("t1", "First, find the total. Let me check: ...")])

How it labels: each text is cut into segments (`annotators.segments`); per label, the
label's cues (taxonomy file, case-insensitive regular expressions) are joined into one
alternation and its non-overlapping matches counted in every segment of the batch at
once. A segment takes the label with the most matches (ties: the label listed first in
the taxonomy); its confidence grows with that count and drops with a tie. Neighbouring
segments with the same label merge into one span (alignment "segment").

Cues match case-insensitively with ASCII meanings of \\b \\w \\d \\s (Python `re.ASCII`):
Unicode word boundaries would push Rust regex off its DFA, ten times slower.

Backends (same counts, measured in bench/rules_tagger.py):
- "polars": `str.count_matches` on a Series of all segments of the batch (Rust regex);
  a cue Rust cannot compile (look-around, back-references) sends its label to "regex".
- "regex": Python `re`, one pass per label over the batch's segments joined by newlines,
  matches mapped back to segments by binary search; segments touched by a match that
  crosses a join are recounted one by one, so counts equal the per-segment ones.
- "aho": Aho-Corasick over a literal anchor of each cue finds candidate segments, the
  label's regex confirms and counts them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from annotators.base import SpanOut, Tagger, TagItem, TagResult
from annotators.segments import MAX_CHARS, bounds, cut_long, segment
from schemas.taxonomy import Taxonomy, load_taxonomy

RULES_VERSION = "1"
Backend = Literal["polars", "regex", "aho"]
DEFAULT_BACKEND: Backend = "polars"  # the fastest in bench/rules_tagger.py


@dataclass(frozen=True)
class Segments:
    """All segments of a batch of texts, flat: segment i is texts[doc[i]][start[i]:end[i]]."""

    doc: np.ndarray
    start: np.ndarray
    end: np.ndarray
    texts: list[str]  # segment texts

    @classmethod
    def build(cls, texts: Sequence[str], mode: str = "sentence", max_chars: int = MAX_CHARS) -> "Segments":
        # Segments never cross a line break (sentence mode) or a blank line (paragraph mode), so
        # segmenting the texts joined by one gives each text's own segments, in one call.
        sep = "\n" if mode == "sentence" else "\n\n"
        joined = sep.join(texts)
        if mode == "sentence":
            starts, ends = (np.array(b, dtype=np.int64) for b in bounds(joined))
            keep = starts < ends
            starts, ends = starts[keep], ends[keep]
            if (ends - starts > max_chars).any():  # rare: cut over-long segments exactly as `segment` does
                segs: list[tuple[int, int]] = []
                for a, b in zip(starts.tolist(), ends.tolist()):
                    if b - a > max_chars:
                        cut_long(joined, a, b, max_chars, segs)
                    else:
                        segs.append((a, b))
                starts, ends = np.array(segs, dtype=np.int64).reshape(-1, 2).T
        else:
            segs = np.array(segment(joined, mode=mode, max_chars=max_chars), dtype=np.int64).reshape(-1, 2)
            starts, ends = segs[:, 0], segs[:, 1]
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        offsets = np.concatenate(([0], np.cumsum(lengths + len(sep))[:-1])) if len(texts) else lengths
        doc = np.searchsorted(offsets, starts, side="right") - 1
        seg_texts = [joined[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
        return cls(doc, starts - offsets[doc], ends - offsets[doc], seg_texts)


def label_patterns(taxonomy: Taxonomy) -> list[str]:
    """One alternation of a label's cues per label, in taxonomy order ("" = no cues)."""
    return ["|".join(f"(?:{c})" for c in label.cues) for label in taxonomy.labels]


# ------------------------------------------------------------------ backends: counts (n_segments, n_labels)
FLAGS = re.IGNORECASE | re.MULTILINE | re.ASCII  # how every backend matches cues


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern | None]:
    return [re.compile(p, FLAGS) if p else None for p in patterns]


_ESCAPE_IN_CLASS = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\r\\f\\v"}


def rust_pattern(pattern: str) -> str | None:
    """`pattern` for Rust regex with Python's re.ASCII meaning of \\b \\w \\d \\s (ASCII word
    boundaries also keep Rust on its fast DFA); None when it cannot be translated."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in "bBwWdDsS":
                if not in_class:
                    out.append(f"(?-u:\\{nxt})")
                elif nxt in _ESCAPE_IN_CLASS:
                    out.append(_ESCAPE_IN_CLASS[nxt])
                else:
                    return None  # a negated class escape inside [...]: no simple ASCII spelling
            else:
                out.append(pattern[i: i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1: i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1: i + 2] == "]":
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class RegexScorer:
    def __init__(self, patterns: Sequence[str]):
        self.regexes = compile_patterns(patterns)

    def count_one(self, j: int, seg: str) -> int:
        rx = self.regexes[j]
        return 0 if rx is None else sum(1 for _ in rx.finditer(seg))

    def counts(self, segs: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(segs), len(self.regexes)), dtype=np.int64)
        if not segs:
            return out
        joined = "\n".join(segs)
        lengths = np.fromiter((len(s) for s in segs), dtype=np.int64, count=len(segs))
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
        ends = starts + lengths
        for j, rx in enumerate(self.regexes):
            if rx is None:
                continue
            spans = np.array([m.span() for m in rx.finditer(joined)], dtype=np.int64).reshape(-1, 2)
            if not len(spans):
                continue
            first = np.searchsorted(starts, spans[:, 0], side="right") - 1
            last = np.searchsorted(starts, np.maximum(spans[:, 1] - 1, spans[:, 0]), side="right") - 1
            clean = (first == last) & (spans[:, 1] <= ends[first])
            np.add.at(out[:, j], first[clean], 1)
            dirty: set[int] = set()
            for a, b in zip(first[~clean], last[~clean]):
                dirty.update(range(int(a), int(b) + 1))
            for i in dirty:  # a match crossed a join: count these segments on their own
                out[i, j] = self.count_one(j, segs[i])
        return out


class PolarsScorer:
    def __init__(self, patterns: Sequence[str]):
        import polars as pl

        self.pl = pl
        self.patterns = patterns
        self.fallback = RegexScorer(patterns)
        self.rust: list[str | None] = []
        for p in patterns:
            rp = rust_pattern(p) if p else None
            if rp is not None:
                try:
                    pl.Series([""]).str.count_matches(f"(?im){rp}")
                except Exception:  # polars raises ComputeError for syntax Rust regex lacks
                    rp = None
            self.rust.append(rp)

    def counts(self, segs: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(segs), len(self.patterns)), dtype=np.int64)
        if not segs:
            return out
        series = self.pl.Series(segs, dtype=self.pl.String)
        for j, p in enumerate(self.patterns):
            if self.rust[j] is not None:
                out[:, j] = series.str.count_matches(f"(?im){self.rust[j]}").to_numpy()
            elif p:
                out[:, j] = [self.fallback.count_one(j, s) for s in segs]
        return out


def literal_anchor(pattern: str, min_len: int = 3) -> str | None:
    """The longest run of plain characters every match of `pattern` must contain (lowercased),
    or None when there is none of at least `min_len` characters."""
    from re import _parser  # the stdlib parser; only its public-ish opcodes are used

    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except re.error:
        return None
    best, run = "", ""
    for op, arg in parsed:
        if op is _parser.LITERAL:
            run += chr(arg)
            best = max(best, run, key=len)
        else:
            run = ""
    best = best.lower()
    return best if len(best.strip()) >= min_len else None


class AhoScorer:
    def __init__(self, cues_per_label: Sequence[Sequence[str]], patterns: Sequence[str]):
        import ahocorasick

        self.regex = RegexScorer(patterns)
        self.always: set[int] = set()  # labels with a cue that has no anchor: check every segment
        self.automaton = ahocorasick.Automaton()
        anchors: dict[str, set[int]] = {}
        for j, cues in enumerate(cues_per_label):
            for cue in cues:
                anchor = literal_anchor(cue)
                if anchor is None:
                    self.always.add(j)
                else:
                    anchors.setdefault(anchor, set()).add(j)
        for anchor, labs in anchors.items():
            self.automaton.add_word(anchor, tuple(sorted(labs)))
        self.has_words = bool(anchors)
        if self.has_words:
            self.automaton.make_automaton()

    def counts(self, segs: Sequence[str]) -> np.ndarray:
        n_labels = len(self.regex.regexes)
        out = np.zeros((len(segs), n_labels), dtype=np.int64)
        candidates: list[set[int]] = [set() for _ in range(n_labels)]
        if self.has_words:
            for i, seg in enumerate(segs):
                for _, labs in self.automaton.iter(seg.lower()):
                    for j in labs:
                        candidates[j].add(i)
        for j in range(n_labels):
            rows = range(len(segs)) if j in self.always else sorted(candidates[j])
            for i in rows:
                out[i, j] = self.regex.count_one(j, segs[i])
        return out


# ------------------------------------------------------------------ the tagger
def decide(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: the winning label index (-1 for none) and its confidence."""
    if counts.shape[1] == 0:
        return np.full(len(counts), -1), np.zeros(len(counts))
    best = counts.argmax(axis=1)  # first maximum = the label listed first wins a tie
    top = counts[np.arange(len(counts)), best]
    second = np.sort(counts, axis=1)[:, -2] if counts.shape[1] > 1 else np.zeros(len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = (1 - 0.5 ** (top + 1)) * np.where(top > 0, top / (top + second), 0)
    return np.where(top > 0, best, -1), np.round(conf, 4)


def rules_version(taxonomy: Taxonomy) -> str:
    """The rules tagger's version with this taxonomy (what `annotate` and `status` key pending work on)."""
    return f"{RULES_VERSION}+{taxonomy.name}@{taxonomy.version}-{taxonomy.sha256[:8]}"


class RulesTagger(Tagger):
    kind = "rule"
    name = "rules"

    def __init__(self, taxonomy: Taxonomy | None = None, *, backend: Backend = DEFAULT_BACKEND,
                 mode: str = "sentence", merge: bool = True, max_chars: int = MAX_CHARS, **_ignored):
        self.taxonomy = taxonomy or load_taxonomy()
        self.version = rules_version(self.taxonomy)
        self.labels = self.taxonomy.names
        self.mode, self.merge, self.max_chars = mode, merge, max_chars
        patterns = label_patterns(self.taxonomy)
        if backend == "polars":
            self.scorer = PolarsScorer(patterns)
        elif backend == "regex":
            self.scorer = RegexScorer(patterns)
        elif backend == "aho":
            self.scorer = AhoScorer([lab.cues for lab in self.taxonomy.labels], patterns)
        else:
            raise ValueError(f"unknown rules backend {backend!r} (polars | regex | aho)")
        self.backend = backend

    def tag(self, items: Sequence[TagItem]) -> list[TagResult]:
        texts = [it.text if isinstance(it.text, str) else "" for it in items]
        batch = Segments.build(texts, self.mode, self.max_chars)
        label_idx, conf = decide(self.scorer.counts(batch.texts))
        spans: list[list[SpanOut]] = [[] for _ in items]
        for d, s, e, j, c in self._runs(batch, label_idx, conf):
            spans[d].append(SpanOut(start=s, end=e, label=self.labels[j], confidence=c, alignment="segment"))
        results = []
        for i, it in enumerate(items):
            if not texts[i].strip():
                results.append(TagResult(item_id=it.item_id, error="text is empty or whitespace only"))
            else:
                results.append(TagResult(item_id=it.item_id, spans=spans[i]))
        return results

    def _runs(self, batch: Segments, label_idx: np.ndarray, conf: np.ndarray):
        """(doc, start, end, label, confidence) per span; runs of equal labels merge."""
        keep = np.flatnonzero(label_idx >= 0)
        if not len(keep):
            return []
        doc, lab = batch.doc[keep], label_idx[keep]
        if self.merge:
            new = np.ones(len(keep), dtype=bool)
            new[1:] = (np.diff(keep) != 1) | (np.diff(doc) != 0) | (np.diff(lab) != 0)
        else:
            new = np.ones(len(keep), dtype=bool)
        first = np.flatnonzero(new)
        last = np.append(first[1:], len(keep)) - 1
        run_conf = np.maximum.reduceat(conf[keep], first)
        return zip(doc[first].tolist(), batch.start[keep[first]].tolist(), batch.end[keep[last]].tolist(),
                   lab[first].tolist(), run_conf.tolist())


def naive_tag(text: str, regexes: Sequence[re.Pattern | None], labels: Sequence[str]) -> list[SpanOut]:
    """The per-text Python loop the benchmark measures against (same patterns, same output)."""
    out: list[SpanOut] = []
    prev = None  # (label index, segment number) of the last labelled segment
    for k, (s, e) in enumerate(segment(text)):
        seg = text[s:e]
        counts = [0 if rx is None else len(list(rx.finditer(seg))) for rx in regexes]
        top = max(counts) if counts else 0
        if top == 0:
            continue
        j = counts.index(top)
        second = sorted(counts)[-2] if len(counts) > 1 else 0
        c = round((1 - 0.5 ** (top + 1)) * top / (top + second), 4)
        if prev is not None and prev == (j, k - 1):
            last = out[-1]
            out[-1] = SpanOut(last.start, e, last.label, max(last.confidence, c), "segment")
        else:
            out.append(SpanOut(s, e, labels[j], c, "segment"))
        prev = (j, k)
    return out
