"""Which spans an annotator reference selects, loaded for comparison, and the comparison itself:
the one loader behind `stratagem agreement`, the dataset card's agreement table and the report.

    refs = resolve(lake, ["rules", "gold"])               # AnnotatorRef (ref.py), checked against the lake
    loaded = load_spans(lake, refs, snapshot=None, trajectory_ids=None)
    result = compare_pair(loaded.texts, loaded.spans[refs[0]], loaded.spans[refs[1]])
    result, meta = agreement(lake, "rules", "gold")       # what `stratagem agreement` prints

Spans are the current ones (`current_spans`), or those current at a DuckLake snapshot
(`spans AT (VERSION => snapshot) WHERE superseded_by IS NULL`, as the card reads). A ref
without a version selects its annotator's latest version (`arg_max(annotator_version, run_id)`
over its spans); `gold` selects every span of annotator_kind gold. Metric definitions:
annotators/agreement.py.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import pyarrow as pa

from annotators.agreement import Agreement, SpanT, compare
from pipeline.agreement.ref import EVERY_GOLD, GOLD, AnnotatorRef
from warehouse import Lake

Spans = dict[str, list[SpanT]]  # trajectory_id -> (start, end, label), sorted


class AgreementError(ValueError):
    """An annotator with no spans, or an unknown label: one line for the user."""


def _source(snapshot: int | None) -> str:
    if snapshot is None:
        return "current_spans"
    return f"(SELECT * FROM spans AT (VERSION => {int(snapshot)}) WHERE superseded_by IS NULL)"


def known_annotators(lake: Lake, snapshot: int | None = None) -> list[AnnotatorRef]:
    """Every (annotator, version) with spans, with its kind, by name then version."""
    return [AnnotatorRef(kind, name, version) for name, version, kind in lake.rows(
        f"SELECT annotator, annotator_version, min(annotator_kind) FROM {_source(snapshot)} GROUP BY 1, 2 ORDER BY 1, 2")]


def annotators(lake: Lake, snapshot: int | None = None) -> list[AnnotatorRef]:
    """Every annotator with non-gold spans (latest version) by name, then `gold` when any gold span exists:
    the rows and columns of the card's and the report's agreement tables."""
    rows = lake.rows(f"SELECT annotator, min(annotator_kind) FILTER (WHERE annotator_kind <> 'gold'), "
                     f"bool_or(annotator_kind = 'gold') FROM {_source(snapshot)} GROUP BY 1 ORDER BY 1")
    refs = [AnnotatorRef(kind, name) for name, kind, _ in rows if kind is not None]
    return refs + ([EVERY_GOLD] if any(has_gold for *_, has_gold in rows) else [])


def resolve(lake: Lake, texts: Sequence[str], snapshot: int | None = None) -> list[AnnotatorRef]:
    """`texts` parsed against the annotators with spans; AgreementError for a name or version with none."""
    known = known_annotators(lake, snapshot)
    names = sorted({r.name for r in known})
    refs = []
    for text in texts:
        try:
            ref = AnnotatorRef.parse(text, known)
        except ValueError as exc:
            raise AgreementError(str(exc)) from None
        if not ref.every_gold and ref.name not in names:
            raise AgreementError(f"no spans from annotator {ref.name!r} "
                                 f"(annotators with spans: {', '.join(names) or 'none'}, or gold)")
        if ref.version is not None and ref not in known:
            have = [r.version for r in known if r.name == ref.name]
            raise AgreementError(f"no spans from annotator {ref.name!r} at version {ref.version!r} "
                                 f"(its versions: {', '.join(map(repr, have))})")
        refs.append(ref)
    return refs


def _versions(lake: Lake, refs: Sequence[AnnotatorRef], snapshot: int | None) -> dict[AnnotatorRef, AnnotatorRef]:
    """Each ref -> the same ref with its version (the latest where it has none); gold stays gold."""
    names = sorted({r.name for r in refs if r.version is None and not r.every_gold})
    latest = dict(lake.rows(
        f"SELECT annotator, arg_max(annotator_version, run_id) FROM {_source(snapshot)} "
        "WHERE annotator IN (SELECT unnest(CAST(? AS VARCHAR[]))) GROUP BY 1", [names])) if names else {}
    return {r: r if r.every_gold or r.version is not None else AnnotatorRef(r.kind, r.name, latest.get(r.name))
            for r in refs}


@contextmanager
def selected_spans(lake: Lake, refs: Sequence[AnnotatorRef], *, snapshot: int | None = None,
                   trajectory_ids: Iterable[str] | None = None) -> Iterator[str]:
    """A SQL subquery, valid inside the `with` block: the spans `refs` select (see the module
    docstring), every spans column plus `who` (str of the ref as given). A span two refs select
    (`rules` and its latest version spelled out) appears once per ref."""
    with _selected(lake, _versions(lake, refs, snapshot), snapshot, trajectory_ids) as sql:
        yield sql


@contextmanager
def _selected(lake: Lake, versions: Mapping[AnnotatorRef, AnnotatorRef], snapshot: int | None,
              trajectory_ids: Iterable[str] | None) -> Iterator[str]:
    named = [(str(r), v.name, v.version) for r, v in versions.items() if not r.every_gold and v.version is not None]
    parts = [f"SELECT '{GOLD}' AS who, c.* FROM cur c WHERE c.annotator_kind = 'gold'"] if any(
        r.every_gold for r in versions) else []
    with ExitStack() as stack:
        if named:
            stack.enter_context(lake.temp_table("_agreement_refs", pa.table(
                {k: pa.array(v, pa.string()) for k, v in zip(("who", "name", "version"), zip(*named))})))
            parts.append("SELECT r.who, c.* FROM cur c JOIN _agreement_refs r "
                         "ON c.annotator = r.name AND c.annotator_version = r.version")
        where = ""
        if trajectory_ids is not None:
            stack.enter_context(lake.temp_table("_agreement_ids", pa.table(
                {"trajectory_id": pa.array(list(trajectory_ids), pa.string())})))
            where = " WHERE trajectory_id IN (SELECT trajectory_id FROM _agreement_ids)"
        if not parts:  # no ref selects anything: an empty result with the same columns
            parts.append("SELECT NULL::VARCHAR AS who, c.* FROM cur c WHERE false")
        yield f"(WITH cur AS (SELECT * FROM {_source(snapshot)}{where}) {' UNION ALL '.join(parts)})"


@dataclass(frozen=True)
class Loaded:
    refs: tuple[AnnotatorRef, ...]                # as given
    resolved: dict[AnnotatorRef, AnnotatorRef]    # each ref with the version it selected (gold: gold)
    spans: dict[AnnotatorRef, Spans]              # ref -> trajectory_id -> spans; {} for a ref with none
    texts: dict[str, str]                         # trajectory_id -> text, where a comparison needs it


def load_spans(lake: Lake, refs: Sequence[AnnotatorRef], *, snapshot: int | None = None,
               trajectory_ids: Iterable[str] | None = None, texts: bool = True) -> Loaded:
    """The spans each of `refs` selects (on `trajectory_ids` only, when given) and, with `texts`, the
    texts of the trajectories annotated by at least two of the refs (by all of them when they are
    fewer than two distinct refs: `rules` against itself)."""
    refs = tuple(refs)
    versions = _versions(lake, refs, snapshot)
    by_who: dict[str, Spans] = {}
    with _selected(lake, versions, snapshot, trajectory_ids) as sql:
        for who, tid, start, end, label in lake.rows(
                f'SELECT who, trajectory_id, start, "end", label FROM {sql} ORDER BY ALL'):
            by_who.setdefault(who, {}).setdefault(tid, []).append((int(start), int(end), label))
    spans = {r: by_who.get(str(r), {}) for r in refs}
    text_of: dict[str, str] = {}
    if texts:
        distinct = set(refs)
        need = min(2, len(distinct))
        count: dict[str, int] = {}
        for r in distinct:
            for tid in spans[r]:
                count[tid] = count.get(tid, 0) + 1
        ids = sorted(t for t, n in count.items() if n >= need)
        if ids:
            table = "trajectories" if snapshot is None else f"trajectories AT (VERSION => {int(snapshot)})"
            with lake.temp_table("_agreement_text_ids", pa.table({"trajectory_id": pa.array(ids, pa.string())})):
                text_of = dict(lake.rows(f"SELECT trajectory_id, text FROM {table} "
                                         "WHERE trajectory_id IN (SELECT trajectory_id FROM _agreement_text_ids)"))
    return Loaded(refs, versions, spans, text_of)


def shared_trajectories(lake: Lake, refs: Sequence[AnnotatorRef], limit: int, *,
                        snapshot: int | None = None) -> list[str]:
    """The first `limit` trajectory ids (by id) annotated by at least two of `refs`."""
    with selected_spans(lake, refs, snapshot=snapshot) as sql:
        return [r[0] for r in lake.rows(f"SELECT trajectory_id FROM {sql} GROUP BY trajectory_id "
                                        "HAVING count(DISTINCT who) >= 2 ORDER BY trajectory_id LIMIT ?", [limit])]


def compare_pair(texts: Mapping[str, str], a: Mapping[str, Sequence[SpanT]], b: Mapping[str, Sequence[SpanT]],
                 labels: Sequence[str] | None = None) -> Agreement:
    """Agreement of `a` (prediction) with `b` (reference) over the trajectories both annotated
    (n_trajectories 0 when none); labels as in annotators.agreement.compare."""
    both = sorted(set(a) & set(b))
    return compare({t: texts[t] for t in both}, a, b, labels=labels)


def agreement(lake: Lake, a: str, b: str, label: str | None = None) -> tuple[Agreement, dict]:
    """Agreement of annotator `a` (prediction) with `b` (reference), as spelled on the command line
    (ref.py), and what was compared."""
    ref_a, ref_b = resolve(lake, [a, b])
    loaded = load_spans(lake, [ref_a, ref_b])
    spans_a, spans_b = loaded.spans[ref_a], loaded.spans[ref_b]
    who_a, who_b = str(loaded.resolved[ref_a]), str(loaded.resolved[ref_b])
    if not spans_b:
        raise AgreementError(f"no spans from {who_b}")
    both = sorted(set(spans_a) & set(spans_b))
    labels = sorted({s[2] for d in both for s in (*spans_a[d], *spans_b[d])})
    if label is not None:
        if label not in labels:
            raise AgreementError(f"label {label!r} does not occur in these spans (labels: {', '.join(labels) or 'none'})")
        labels = [label]
    result = compare_pair(loaded.texts, spans_a, spans_b, labels=labels)
    meta = {"a": who_a, "b": who_b, "trajectories_both": len(both),
            "trajectories_only_a": len(set(spans_a) - set(spans_b)),
            "trajectories_only_b": len(set(spans_b) - set(spans_a)), "snapshot_id": lake.snapshot_id()}
    return result, meta
