"""The LLM strategy tagger: numbered segments in, labelled segment ranges out, offsets by code.

LLMs are poor at character offsets, so the trace is split into sentence segments
(annotators/segments.py) shown as `[S17] ...` lines, and the model answers with labels over
segment ranges, optionally with a short verbatim quote. The pydantic answer model (its
labels an enum of the taxonomy's, `answer_model`) checks labels, ranges and quotes (validation errors go back to the model through instructor
re-asks); code then turns each range into offsets:

- with a quote: the quote's position, found by exact search first, then a whitespace-
  and case-insensitive match or fuzzy alignment (`alignment` = exact | fuzzy);
- without one: the whole segment range (`alignment` = segment).

Long traces go in overlapping windows of segments; spans from different windows are merged
per label. Any window that finally fails makes the item an error result (never a partial
or guessed set of spans).

    import llm   # registers "llm"
    tagger = get_tagger("llm", base_url="http://127.0.0.1:8000/v1", model="gpt-4o-mini",
                        cache_dir=root / "cache" / "llm")
    results = tagger.tag([TagItem(trajectory_id, text, problem)])
"""
from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, create_model, model_validator

from annotators.base import LLMUsage, SpanOut, Tagger, TagItem, TagResult
from annotators.llm.annotator import LLMAnnotator
from annotators.segments import number_segments, segment
from schemas import Taxonomy

PROMPT_VERSION = "tag-v2"  # v2: the response schema names the labels as an enum
FUZZY_MIN_RATIO = 0.8


class TaggedSpan(BaseModel):
    label: str = Field(description="One of the strategy labels listed in the instructions.")
    first_segment: int = Field(description="Number of the first segment of the span, e.g. 3 for [S3].")
    last_segment: int = Field(description="Number of the last segment of the span (equal to first_segment for one segment).")
    quote: str | None = Field(default=None, description="Optional: a few words copied verbatim from those segments.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "TaggedSpan":
        ctx = info.context or {}
        labels = ctx.get("labels")
        if labels is not None and self.label not in labels:
            raise ValueError(f"label {self.label!r} is not one of: {', '.join(labels)}")
        lo, hi = ctx.get("first", self.first_segment), ctx.get("last", self.last_segment)
        if not lo <= self.first_segment <= self.last_segment <= hi:
            raise ValueError(f"segment range S{self.first_segment}-S{self.last_segment} is not within S{lo}-S{hi} "
                             "(first_segment must not exceed last_segment)")
        if self.quote is not None and not self.quote.strip():
            self.quote = None
        if self.quote is not None and "text" in ctx:
            start, end = _range_offsets(ctx["segments"], ctx["number_base"], self.first_segment, self.last_segment)
            if locate_quote(ctx["text"], self.quote, start, end) is None:
                raise ValueError(f"quote {self.quote[:80]!r} does not appear in segments "
                                 f"S{self.first_segment}-S{self.last_segment}; copy it verbatim or leave quote out")
        return self


class TagAnswer(BaseModel):
    spans: list[TaggedSpan] = Field(default_factory=list, max_length=500,
                                    description="Strategy spans found; an empty list when there are none.")


@functools.cache
def answer_model(labels: tuple[str, ...]) -> type[TagAnswer]:
    """`TagAnswer` whose span label is an enum of the taxonomy's labels in the JSON schema, so
    OpenAI structured outputs and guided decoding (vLLM) cannot emit a label outside it; the
    validators stay those of `TaggedSpan`."""
    span = create_model("TaggedSpan", __base__=TaggedSpan, label=(
        Literal[labels], Field(description="One of the strategy labels listed in the instructions.")))
    return create_model("TagAnswer", __base__=TagAnswer, spans=(list[span], Field(
        default_factory=list, max_length=500, description="Strategy spans found; an empty list when there are none.")))


def _range_offsets(segments: list[tuple[int, int]], base: int, first: int, last: int) -> tuple[int, int]:
    return segments[first - base][0], segments[last - base][1]


def locate_quote(text: str, quote: str, start: int, end: int) -> tuple[int, int, str] | None:
    """Find `quote` inside text[start:end]: (start, end, "exact" | "fuzzy") or None."""
    quote = quote.strip()
    if not quote:
        return None
    at = text.find(quote, start, end)
    if at >= 0:
        return at, at + len(quote), "exact"
    words = quote.split()
    loose = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    m = loose.search(text, start, end)
    if m:
        return m.start(), m.end(), "fuzzy"
    return _fuzzy(text, quote, start, end)


def _fuzzy(text: str, quote: str, start: int, end: int) -> tuple[int, int, str] | None:
    """Best window of len(quote) anchored on a matching block, if similar enough."""
    region = text[start:end]
    if not region or len(quote) > 4 * len(region) + 20:
        return None
    needle = quote.lower()
    matcher = difflib.SequenceMatcher(None, region.lower(), needle, autojunk=False)
    best: tuple[float, int, int] | None = None
    for i, j, n in matcher.get_matching_blocks():
        if n < 3:
            continue
        s = max(0, i - j)
        e = min(len(region), s + len(quote))
        ratio = difflib.SequenceMatcher(None, region[s:e].lower(), needle, autojunk=False).ratio()
        if best is None or ratio > best[0]:
            best = (ratio, s, e)
    if best is None or best[0] < FUZZY_MIN_RATIO:
        return None
    s, e = best[1], best[2]
    while s < e and region[s].isspace():
        s += 1
    while e > s and region[e - 1].isspace():
        e -= 1
    return (start + s, start + e, "fuzzy") if s < e else None


def windows(lengths: list[int], size: int, overlap: int, max_chars: int | None = None) -> list[tuple[int, int]]:
    """Half-open index ranges over segments of the given lengths: at most `size` segments and
    (beyond the first segment) `max_chars` characters each, consecutive ranges sharing up to
    `overlap` segments. Every segment is in at least one range."""
    n = len(lengths)
    out: list[tuple[int, int]] = []
    lo = 0
    while lo < n:
        hi, chars = lo + 1, lengths[lo]
        while hi < n and hi - lo < size and (max_chars is None or chars + lengths[hi] <= max_chars):
            chars += lengths[hi]
            hi += 1
        out.append((lo, hi))
        if hi == n:
            break
        lo = max(lo + 1, hi - overlap)
    return out


def merge_spans(spans: list[SpanOut]) -> list[SpanOut]:
    """Union overlapping spans of the same label (windows overlap), in text order."""
    merged: list[SpanOut] = []
    for s in sorted(spans, key=lambda s: (s.label, s.start, s.end)):
        prev = merged[-1] if merged else None
        if prev is not None and prev.label == s.label and s.start < prev.end:
            alignment = prev.alignment if prev.alignment == s.alignment else "fuzzy"
            merged[-1] = SpanOut(prev.start, max(prev.end, s.end), s.label, None, alignment)
        else:
            merged.append(s)
    return sorted(merged, key=lambda s: (s.start, s.end, s.label))


def system_prompt(taxonomy: Taxonomy) -> str:
    labels = "\n".join(f"- {label.name}: {label.description}" for label in taxonomy.labels)
    return (
        "You are a strategy tagger for step-by-step math reasoning traces. The trace is split into "
        "numbered segments [S1], [S2], ... Find the segments where the writer uses one of these "
        f"reasoning strategies:\n{labels}\n\n"
        "Answer with JSON only, in this shape: "
        '{"spans": [{"label": "verification", "first_segment": 4, "last_segment": 5, '
        '"quote": "a few words copied verbatim from those segments"}]}. '
        "Use only the labels above and only segment numbers shown. The quote is optional; leave it out "
        "rather than paraphrase. Tag only clear cases; an empty list is a valid answer.")


class LLMTagger(LLMAnnotator, Tagger):
    """Tags strategies with any OpenAI-compatible chat model (see module docstring).

    Args:
        client: the chat client (annotators/llm/annotator.py; `llm.make_tagger` builds one)
        taxonomy: a Taxonomy or path (default: the packaged one)
        window_segments / window_overlap / window_chars: segments and characters per request,
            segments shared by consecutive windows
        max_text_chars: longer texts become an error result instead of hundreds of calls
        temperature / max_tokens: sampling for the tagging requests
    """

    def __init__(self, client, *, taxonomy: Taxonomy | str | Path | None = None, window_segments: int = 40,
                 window_overlap: int = 8, window_chars: int = 12_000, max_text_chars: int = 200_000,
                 temperature: float = 0.0, max_tokens: int = 1024):
        self.setup(client, taxonomy, PROMPT_VERSION, temperature, max_tokens)
        if window_segments < 1 or not 0 <= window_overlap < window_segments:
            raise ValueError("need window_segments >= 1 and 0 <= window_overlap < window_segments")
        self.window_segments, self.window_overlap, self.window_chars = window_segments, window_overlap, window_chars
        self.max_text_chars = max_text_chars
        self._system = system_prompt(self.taxonomy)

    def tag(self, items, on_done=None) -> list[TagResult]:
        items = list(items)
        return self.client.run(self._tag_one, items, on_done, item_ids=[it.item_id for it in items])

    async def _tag_one(self, session, item: TagItem) -> TagResult:
        text = item.text or ""
        if not text.strip():
            return TagResult(item.item_id, error="empty or whitespace-only text")
        if len(text) > self.max_text_chars:
            return TagResult(item.item_id, error=f"text of {len(text):,} characters exceeds max_text_chars="
                                                 f"{self.max_text_chars:,} for the LLM tagger")
        segments = segment(text)
        spans: list[SpanOut] = []
        calls: list[LLMUsage] = []
        error = None
        lengths = [e - s for s, e in segments]
        for lo, hi in windows(lengths, self.window_segments, self.window_overlap, self.window_chars):
            outcome = await session.chat(
                self._messages(item, text, segments, lo, hi), sampling=self.sampling, prompt_version=self.version,
                response_model=answer_model(tuple(self.taxonomy.names)),
                context={"labels": self.taxonomy.names, "first": lo + 1, "last": hi, "text": text,
                         "segments": segments, "number_base": 1})
            calls.extend(outcome.calls)
            if outcome.error is not None:
                error = error or f"segments S{lo + 1}-S{hi}: {outcome.error}"
                continue
            spans.extend(self._offsets(outcome.value, text, segments))
        if error is not None:
            return TagResult(item.item_id, error=error, calls=calls)
        return TagResult(item.item_id, spans=merge_spans(spans), calls=calls)

    def _messages(self, item: TagItem, text: str, segments, lo: int, hi: int) -> list[dict]:
        problem = f"Problem:\n{item.problem.strip()}\n\n" if item.problem else ""
        shown = number_segments(text, segments[lo:hi], first=lo + 1)
        return [{"role": "system", "content": self._system},
                {"role": "user", "content": f"{problem}Trace segments S{lo + 1}-S{hi}:\n{shown}"}]

    @staticmethod
    def _offsets(answer: TagAnswer, text: str, segments) -> list[SpanOut]:
        out = []
        for s in answer.spans:
            start, end = _range_offsets(segments, 1, s.first_segment, s.last_segment)
            alignment = "segment"
            if s.quote is not None:
                found = locate_quote(text, s.quote, start, end)
                if found is not None:  # validated already; the check keeps a stale cache entry honest
                    start, end, alignment = found
            out.append(SpanOut(start, end, s.label, None, alignment))
        return out
