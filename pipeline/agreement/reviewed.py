"""What a person actually reviewed, and a comparison restricted to what both sides reviewed.

    ranges = reviewed_ranges(lake, {tid: {"p3.t1.a17@2024-05-01T10:00:00Z"}})   # tid -> [(start, end)]
    texts, a, b, info = restrict(texts, spans_a, spans_b)   # only the characters both sides reviewed

A long trajectory is pushed to Label Studio as several tasks (parts), and a person's spans only
cover the parts they submitted; rules, LLM and gold spans cover the whole text. Comparing the
two over the whole text would count every model span in an unreviewed part as a disagreement.

Where a part is recorded: each human span (and strategy row) carries the tag pull gives its
annotation version, `p<project>.t<part>.a<annotation id>@<updated_at>` (spans.annotator_version);
the `reviews` row (trajectory_id, ls_project = project, part) holds the part's `part_offset`,
and the part ends where the next part of the same trajectory and project starts (or at the end
of the text, trajectories.n_chars). A tag that does not parse, or names a part with no reviews
row, means "cannot tell": that trajectory is taken as reviewed in full.

An `Annotation` is the loader's per-annotator result: trajectory_id -> spans, plus `reviewed`
(trajectory_id -> merged character ranges, for the trajectories reviewed only in part; absent:
the whole text). `restrict` keeps, per trajectory both sides annotated, the intersection of
their ranges: spans are clipped to it (a span crossing a part boundary was clipped the same
way when the part was pushed), text outside it is blanked to spaces so no whitespace token
there is counted; a trajectory whose reviewed ranges do not meet is left out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import pyarrow as pa

from annotators.agreement import SpanT
from annotators.segments import merge_ranges

Range = tuple[int, int]
TAG = re.compile(r"^p(\d+)\.t(\d+)\.a\d+@")


class Annotation(dict):
    """trajectory_id -> sorted (start, end, label) spans of one annotator; `.reviewed`: trajectory_id ->
    the character ranges it reviewed, for trajectories it reviewed only in part (absent: all of it)."""

    def __init__(self, spans: Mapping[str, list[SpanT]] | None = None,
                 reviewed: Mapping[str, list[Range]] | None = None):
        super().__init__(spans or {})
        self.reviewed: dict[str, list[Range]] = dict(reviewed or {})


def parse_tag(tag: str | None) -> tuple[int, int] | None:
    """(ls_project, part) of a Label Studio annotation version tag, None for any other version."""
    m = TAG.match(tag or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def intersect(a: list[Range] | None, b: list[Range] | None) -> list[Range] | None:
    """Ranges in both (None: the whole text, so the other side's ranges)."""
    if a is None:
        return b
    if b is None:
        return a
    out = [(max(s, t), min(e, u)) for s, e in a for t, u in b if max(s, t) < min(e, u)]
    return merge_ranges(out)


def part_ranges(lake, trajectory_ids: Iterable[str], snapshot: int | None = None) -> dict[tuple[str, int, int], Range]:
    """(trajectory_id, ls_project, part) -> (start, end) of every pushed part of these trajectories."""
    ids = sorted(set(trajectory_ids))
    if not ids:
        return {}
    def table(name: str) -> str:
        return name if snapshot is None else f"(SELECT * FROM {name} AT (VERSION => {int(snapshot)}))"
    with lake.temp_table("_reviewed_ids", pa.table({"trajectory_id": pa.array(ids, pa.string())})):
        rows = lake.rows(f"""
            SELECT r.trajectory_id, r.ls_project, r.part, r.part_offset,
                   coalesce(lead(r.part_offset) OVER (PARTITION BY r.trajectory_id, r.ls_project ORDER BY r.part),
                            t.n_chars)
            FROM {table('reviews')} r JOIN {table('trajectories')} t USING (trajectory_id)
            WHERE r.trajectory_id IN (SELECT trajectory_id FROM _reviewed_ids)""")
    return {(tid, int(p), int(part)): (int(s), int(e)) for tid, p, part, s, e in rows}


def reviewed_ranges(lake, tags: Mapping[str, Iterable[str]], snapshot: int | None = None) -> dict[str, list[Range]]:
    """trajectory_id -> merged ranges of the parts its annotation tags name, for the trajectories
    reviewed only in part (those reviewed in full, or that cannot be told, are absent)."""
    parts = part_ranges(lake, tags, snapshot)
    ends: dict[str, int] = {}
    for (tid, _, _), (_, end) in parts.items():
        ends[tid] = max(ends.get(tid, 0), end)
    out: dict[str, list[Range]] = {}
    for tid, tid_tags in tags.items():
        ranges = []
        for tag in tid_tags:
            key = parse_tag(tag)
            where = parts.get((tid, *key)) if key else None
            if where is None:  # cannot tell which part: the whole text
                ranges = None
                break
            ranges.append(where)
        if ranges is None:
            continue
        merged = merge_ranges(ranges)
        if merged != [(0, ends.get(tid, 0))]:
            out[tid] = merged
    return out


def blank_outside(text: str, ranges: Sequence[Range]) -> str:
    """`text` with every character outside `ranges` replaced by a space (offsets unchanged)."""
    pieces, pos = [], 0
    for s, e in ranges:
        pieces += [" " * (s - pos), text[s:e]]
        pos = e
    pieces.append(" " * (len(text) - pos))
    return "".join(pieces)


def clip(spans: Iterable[SpanT], ranges: Sequence[Range]) -> list[SpanT]:
    """Spans cut to `ranges` (a span outside them all is dropped), sorted, without duplicates."""
    out = {(max(s, rs), min(e, re_), lab) for s, e, lab in spans for rs, re_ in ranges if max(s, rs) < min(e, re_)}
    return sorted(out)


@dataclass(frozen=True)
class Restricted:
    compared: int      # trajectories compared
    partial: int       # of those, compared on the reviewed parts only
    disjoint: int      # annotated by both, but their reviewed parts do not meet: left out


def restrict(texts: Mapping[str, str], a: Mapping[str, Sequence[SpanT]], b: Mapping[str, Sequence[SpanT]]
             ) -> tuple[dict[str, str], dict[str, list[SpanT]], dict[str, list[SpanT]], Restricted]:
    """Texts and spans of the trajectories both annotated, cut to what both reviewed (module docstring)."""
    ra, rb = getattr(a, "reviewed", {}), getattr(b, "reviewed", {})
    out_t: dict[str, str] = {}
    out_a: dict[str, list[SpanT]] = {}
    out_b: dict[str, list[SpanT]] = {}
    partial = disjoint = 0
    for tid in sorted(set(a) & set(b)):
        ranges = intersect(ra.get(tid), rb.get(tid))
        if ranges is None:
            out_t[tid], out_a[tid], out_b[tid] = texts[tid], list(a[tid]), list(b[tid])
        elif not ranges:
            disjoint += 1
        else:
            partial += 1
            out_t[tid] = blank_outside(texts[tid], ranges)
            out_a[tid], out_b[tid] = clip(a[tid], ranges), clip(b[tid], ranges)
    return out_t, out_a, out_b, Restricted(len(out_t), partial, disjoint)
