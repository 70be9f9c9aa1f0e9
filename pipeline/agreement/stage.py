"""Which spans an annotator reference selects, loaded for comparison, and the comparison itself:
the one loader behind `stratagem agreement`, the dataset card's agreement table and the report.

    refs = resolve(lake, ["rules", "gold"])               # AnnotatorRef (ref.py), checked against the lake
    loaded = load_spans(lake, refs, snapshot=None, trajectory_ids=None)
    result = compare_pair(loaded.texts, loaded.spans[refs[0]], loaded.spans[refs[1]])
    result, meta = agreement(lake, "rules", "gold")       # what `stratagem agreement` prints

Spans are the current ones (`current_spans`), or those current at a DuckLake snapshot
(`spans AT (VERSION => snapshot) WHERE superseded_by IS NULL`, as the card reads). A ref
without a version selects:
- a person (every span of the annotator has annotator_kind human): all their current spans,
  whatever the version. Label Studio gives every annotation its own version tag, so "the
  latest version" would be one task; an edit already supersedes the older version of the
  same annotation, a deleted annotation is retracted;
- any other annotator: its latest version (`arg_max(annotator_version, run_id)` over its spans);
- `gold`: every span of annotator_kind gold.
A person's spans come with the character ranges of the task parts they submitted
(reviewed.py), and `compare_pair` compares two annotators only where both reviewed. Metric
definitions: annotators/agreement.py.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import pyarrow as pa

from annotators.agreement import Agreement, SpanT, compare
from pipeline.agreement.ref import EVERY_GOLD, GOLD, AnnotatorRef
from pipeline.agreement.reviewed import Annotation, Restricted, restrict, reviewed_ranges
from warehouse import Lake

Spans = Annotation  # trajectory_id -> (start, end, label), sorted; .reviewed: the ranges of partly reviewed ones
HUMAN = "human"


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
    """Each ref -> the same ref with the version it selects: its latest where it has none, except a
    person's (kind human, version None: every current version); gold stays gold."""
    names = sorted({r.name for r in refs if r.version is None and not r.every_gold})
    latest = {name: (version, human) for name, version, human in lake.rows(
        f"SELECT annotator, arg_max(annotator_version, run_id), bool_and(annotator_kind = '{HUMAN}') "
        f"FROM {_source(snapshot)} WHERE annotator IN (SELECT unnest(CAST(? AS VARCHAR[]))) GROUP BY 1",
        [names])} if names else {}

    def one(r: AnnotatorRef) -> AnnotatorRef:
        if r.every_gold or r.version is not None:
            return r
        version, human = latest.get(r.name, (None, r.kind == HUMAN))
        return AnnotatorRef(HUMAN, r.name) if human else AnnotatorRef(r.kind, r.name, version)
    return {r: one(r) for r in refs}


def _every_version(ref: AnnotatorRef) -> bool:
    return ref.kind == HUMAN and ref.version is None and not ref.every_gold


@contextmanager
def selected_spans(lake: Lake, refs: Sequence[AnnotatorRef], *, snapshot: int | None = None,
                   trajectory_ids: Iterable[str] | None = None) -> Iterator[str]:
    """A SQL subquery, valid inside the `with` block: the spans `refs` select (see the module
    docstring), every spans column plus `who` (str of the ref as given). A span two refs select
    (`rules` and its latest version spelled out) appears once per ref."""
    with _selected(lake, _versions(lake, refs, snapshot), snapshot, trajectory_ids) as (sql, _):
        yield sql


def _strategy_source(snapshot: int | None) -> str:
    if snapshot is None:
        return "current_strategies"
    return f"(SELECT * FROM strategies AT (VERSION => {int(snapshot)}) WHERE superseded_by IS NULL)"


_ANNOTATION_COLUMNS = {"annotator", "annotator_version", "trajectory_id", "skipped", "superseded_by"}


def _annotation_source(lake: Lake, snapshot: int | None) -> str | None:
    """The current, not skipped rows of `annotations` (one per Label Studio annotation version, written by
    `review pull`), when the lake has that table and `snapshot` is None or the current snapshot (an
    older snapshot may predate the table); None otherwise."""
    if snapshot is not None and snapshot != lake.snapshot_id():
        return None
    have = {r[0] for r in lake.rows("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_catalog = 'lake' AND table_name = 'annotations'")}
    return "(SELECT * FROM annotations WHERE superseded_by IS NULL AND NOT skipped)" if _ANNOTATION_COLUMNS <= have \
        else None


@contextmanager
def _selected(lake: Lake, versions: Mapping[AnnotatorRef, AnnotatorRef], snapshot: int | None,
              trajectory_ids: Iterable[str] | None) -> Iterator[tuple[str, str | None]]:
    """(the spans subquery of selected_spans, a subquery of `who, trajectory_id, annotator_version` of
    the human strategy rows and the submitted Label Studio annotations (`annotations`, where the lake
    has it) the same refs select, None when no ref names an annotator)."""
    named = [(str(r), v.name, v.version, _every_version(v)) for r, v in versions.items()
             if not r.every_gold and (v.version is not None or _every_version(v))]
    parts = [f"SELECT '{GOLD}' AS who, c.* FROM cur c WHERE c.annotator_kind = 'gold'"] if any(
        r.every_gold for r in versions) else []
    join = ("JOIN _agreement_refs r ON c.annotator = r.name "
            f"AND ((r.every AND c.annotator_kind = '{HUMAN}') OR c.annotator_version = r.version)")
    tags = None
    with ExitStack() as stack:
        where = ""

        def only(column: str) -> str:  # the trajectory_ids filter on another table's column
            return f" AND {column} IN (SELECT trajectory_id FROM _agreement_ids)" if where else ""
        if trajectory_ids is not None:
            stack.enter_context(lake.temp_table("_agreement_ids", pa.table(
                {"trajectory_id": pa.array(list(trajectory_ids), pa.string())})))
            where = " WHERE trajectory_id IN (SELECT trajectory_id FROM _agreement_ids)"
        if named:
            columns = list(zip(*named))
            stack.enter_context(lake.temp_table("_agreement_refs", pa.table(
                {"who": pa.array(columns[0], pa.string()), "name": pa.array(columns[1], pa.string()),
                 "version": pa.array(columns[2], pa.string()), "every": pa.array(columns[3], pa.bool_())})))
            parts.append(f"SELECT r.who, c.* FROM cur c {join}")
            tags = (f"SELECT r.who, c.source_trajectory_id AS trajectory_id, c.annotator_version "
                    f"FROM {_strategy_source(snapshot)} c {join} WHERE c.annotator_kind = '{HUMAN}' "
                    f"AND c.source_trajectory_id IS NOT NULL{only('c.source_trajectory_id')}")
            annotations = _annotation_source(lake, snapshot)
            if annotations is not None:
                tags += (f" UNION SELECT r.who, c.trajectory_id, c.annotator_version FROM {annotations} c "
                         "JOIN _agreement_refs r ON c.annotator = r.name "
                         f"AND (r.every OR c.annotator_version = r.version) WHERE true{only('c.trajectory_id')}")
            tags = f"({tags})"
        if not parts:  # no ref selects anything: an empty result with the same columns
            parts.append("SELECT NULL::VARCHAR AS who, c.* FROM cur c WHERE false")
        yield f"(WITH cur AS (SELECT * FROM {_source(snapshot)}{where}) {' UNION ALL '.join(parts)})", tags


@dataclass(frozen=True)
class Loaded:
    refs: tuple[AnnotatorRef, ...]                # as given
    resolved: dict[AnnotatorRef, AnnotatorRef]    # each ref with the version it selected (gold: gold; a person: none)
    spans: dict[AnnotatorRef, Spans]              # ref -> trajectory_id -> spans; empty for a ref with none
    texts: dict[str, str]                         # trajectory_id -> text, where a comparison needs it


def load_spans(lake: Lake, refs: Sequence[AnnotatorRef], *, snapshot: int | None = None,
               trajectory_ids: Iterable[str] | None = None, texts: bool = True) -> Loaded:
    """The spans each of `refs` selects (on `trajectory_ids` only, when given) and, with `texts`, the
    texts of the trajectories annotated by at least two of the refs (by all of them when they are
    fewer than two distinct refs: `rules` against itself).

    A person's spans (annotator_kind human) are de-duplicated and carry the ranges they reviewed
    (reviewed.py): the parts named by the version tags of their spans, their strategy rows and their
    submitted (current, not skipped) `annotations` rows; a trajectory a person reviewed leaving no
    span is there with []."""
    refs = tuple(refs)
    versions = _versions(lake, refs, snapshot)
    by_who: dict[str, dict[str, list[SpanT]]] = {}
    tags: dict[str, dict[str, set[str]]] = {}  # who -> trajectory_id -> human annotation tags
    with _selected(lake, versions, snapshot, trajectory_ids) as (sql, reviewed_tags):
        for who, tid, start, end, label, kind, tag in lake.rows(
                f'SELECT who, trajectory_id, start, "end", label, annotator_kind, annotator_version FROM {sql} '
                "ORDER BY ALL"):
            by_who.setdefault(who, {}).setdefault(tid, []).append((int(start), int(end), label))
            if kind == HUMAN:
                tags.setdefault(who, {}).setdefault(tid, set()).add(tag)
        for who, tid, tag in lake.rows(f"SELECT * FROM {reviewed_tags}") if reviewed_tags else ():
            by_who.setdefault(who, {}).setdefault(tid, [])
            tags.setdefault(who, {}).setdefault(tid, set()).add(tag)
    spans: dict[AnnotatorRef, Spans] = {}
    for r in refs:
        got = by_who.get(str(r), {})
        human = tags.get(str(r), {})
        spans[r] = Annotation({tid: sorted(set(sp)) if tid in human else sp for tid, sp in got.items()},
                              reviewed_ranges(lake, human, snapshot) if human else None)
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
    """Agreement of `a` (prediction) with `b` (reference) over the trajectories both annotated, on the
    characters both reviewed (reviewed.restrict: a person's Annotation carries its reviewed parts;
    a plain mapping covers whole texts); n_trajectories 0 when none; labels as in
    annotators.agreement.compare."""
    return compare_restricted(texts, a, b, labels)[0]


def compare_restricted(texts: Mapping[str, str], a: Mapping[str, Sequence[SpanT]], b: Mapping[str, Sequence[SpanT]],
                       labels: Sequence[str] | None = None) -> tuple[Agreement, Restricted]:
    """compare_pair, and how many trajectories were compared in full, in part, or left out."""
    view_texts, view_a, view_b, info = restrict(texts, a, b)
    return compare(view_texts, view_a, view_b, labels=labels), info


def agreement(lake: Lake, a: str, b: str, label: str | None = None) -> tuple[Agreement, dict]:
    """Agreement of annotator `a` (prediction) with `b` (reference), as spelled on the command line
    (ref.py), and what was compared."""
    ref_a, ref_b = resolve(lake, [a, b])
    loaded = load_spans(lake, [ref_a, ref_b])
    spans_a, spans_b = loaded.spans[ref_a], loaded.spans[ref_b]
    who_a, who_b = str(loaded.resolved[ref_a]), str(loaded.resolved[ref_b])
    if not spans_b:
        raise AgreementError(f"no spans from {who_b}")
    view_texts, view_a, view_b, info = restrict(loaded.texts, spans_a, spans_b)
    labels = sorted({s[2] for d in view_a for s in (*view_a[d], *view_b[d])})
    if label is not None:
        if label not in labels:
            raise AgreementError(f"label {label!r} does not occur in these spans (labels: {', '.join(labels) or 'none'})")
        labels = [label]
    result = compare(view_texts, view_a, view_b, labels=labels)
    meta = {"a": who_a, "b": who_b, "trajectories_both": info.compared, "trajectories_in_part": info.partial,
            "trajectories_not_shared": info.disjoint,
            "trajectories_only_a": len(set(spans_a) - set(spans_b)),
            "trajectories_only_b": len(set(spans_b) - set(spans_a)), "snapshot_id": lake.snapshot_id()}
    return result, meta
