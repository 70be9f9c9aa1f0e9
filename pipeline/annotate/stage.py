"""The annotate stage: strategy spans for trajectories from a tagger in the registry.

    report = annotate(lake, get_tagger("rules"), source="gsm8k", limit=1000, batch_size=5000)
    report = annotate(lake, get_tagger("rules"), shard=Shard(0, 2))     # one shard (pipeline/shards)

Pending = trajectories with no `tagged` row from this annotator name and version
(pipeline.pending). Every span is validated against the schema (`Span`), the taxonomy and
the text before it is written; rejected spans and tagger errors go to `quarantine` with the
trajectory id. Each batch commits on its own, so a killed run resumes where it stopped; LLM
taggers' calls become `llm_calls` rows and the run's token and cost totals (the stage kit,
pipeline/stage.py).

Counts: read = tagged + failed; spans.proposed = written.spans + spans.rejected + spans.duplicates.
"""
from __future__ import annotations

from pydantic import ValidationError

from annotators import TagItem, Tagger
from pipeline import pending
from pipeline.shards import Shard
from pipeline.stage import BatchedStage, BatchOut
from schemas import Span, Tagged, content_id
from schemas.taxonomy import Taxonomy, load_taxonomy
from warehouse import Lake, RunReport

_BATCH = """
    SELECT t.trajectory_id, t.text, t.text_sha, p.question
    FROM trajectories t JOIN problems p USING (problem_id)
    WHERE t.trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[])))
    ORDER BY t.trajectory_id
"""


def pending_trajectories(lake: Lake, tagger: Tagger, source: str | None = None, limit: int | None = None,
                         shard: Shard | None = None) -> list[str]:
    """Trajectory ids `tagger` (its name and version) has not tagged yet (pipeline.pending), in id
    order; of one shard of the work when `shard` is given."""
    ids = pending.annotate_ids(lake, tagger.name, tagger.version, source, shard=shard)
    return ids[:limit] if limit is not None else ids


class Annotate(BatchedStage):
    name = "annotate"

    def __init__(self, tagger: Tagger, taxonomy: Taxonomy, *, source: str | None, limit: int | None,
                 batch_size: int, config: dict | None, shard: Shard | None = None):
        self.tagger, self.taxonomy, self.source, self.limit, self.shard = tagger, taxonomy, source, limit, shard
        self.batch_size, self.extra = batch_size, config or {}
        self.client = getattr(tagger, "client", None)

    def config(self) -> dict:
        t = self.tagger
        return {"annotator": t.name, "annotator_version": t.version, "annotator_kind": t.kind,
                "taxonomy": f"{self.taxonomy.name}@{self.taxonomy.version}", "taxonomy_sha256": self.taxonomy.sha256,
                "source": self.source, "limit": self.limit, "batch_size": self.batch_size} | self.extra

    def label(self) -> str:
        return f"annotate ({self.tagger.name})"

    def pending(self, lake: Lake) -> list[str]:
        return pending_trajectories(lake, self.tagger, self.source, self.limit, self.shard)

    def load(self, lake: Lake, keys) -> list[tuple]:
        return lake.rows(_BATCH, [list(keys)])

    def process(self, items, on_done) -> list:
        return self.tagger.tag([TagItem(item_id=tid, text=text, problem=question) for tid, text, _, question in items])

    def item_id(self, item) -> str:
        return item[0]

    def failure(self, item, result) -> str | None:
        if result.item_id != item[0]:
            return f"{self.tagger.name} failed: result for {result.item_id!r}, expected {item[0]!r}"
        return None if result.error is None else f"{self.tagger.name} failed: {result.error}"

    def quarantined_raw(self, item, result) -> str:
        return item[1][:200]

    def accept(self, item, result, out: BatchOut) -> None:
        tid, text, sha, _ = item
        out.count("tagged")
        out.count("spans.proposed", len(result.spans))
        if not result.spans:
            out.count("no_spans")
        valid = self._spans(result, text, sha, out)
        out.add("spans", valid, duplicates="spans.duplicates")
        t = self.tagger
        out.add("tagged", [Tagged(trajectory_id=tid, text_sha=sha, annotator_kind=t.kind, annotator=t.name,
                                  annotator_version=t.version, n_spans=len(valid), run_id=out.run.run_id)])

    def _spans(self, result, text: str, sha: str, out: BatchOut) -> list[Span]:
        t, rows = self.tagger, []
        for s in result.spans:
            try:
                span = Span(
                    span_id=content_id("span", result.item_id, s.start, s.end, s.label, t.kind, t.name, t.version),
                    trajectory_id=result.item_id, text_sha=sha, start=s.start, end=s.end, label=s.label,
                    annotator_kind=t.kind, annotator=t.name, annotator_version=t.version,
                    confidence=s.confidence, alignment=s.alignment, run_id=out.run.run_id)
                self.taxonomy.validate_span(span, text)
            except (ValidationError, ValueError) as exc:
                reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                out.quarantine(f"{result.item_id}[{s.start}:{s.end}]", f"invalid span from {t.name}: {reason}",
                               f"{s.label} [{s.start}, {s.end})")
                out.count("spans.rejected")
                continue
            rows.append(span)
        return rows


def annotate(lake: Lake, tagger: Tagger, *, taxonomy: Taxonomy | None = None, source: str | None = None,
             limit: int | None = None, batch_size: int = 2000, config: dict | None = None,
             progress=None, shard: Shard | None = None) -> RunReport:
    """Tag pending trajectories (of `shard`, when given) with `tagger` and write validated spans;
    returns the run report."""
    stage = Annotate(tagger, taxonomy or load_taxonomy(), source=source, limit=limit, batch_size=batch_size,
                     config=config, shard=shard)
    return stage.run(lake, progress=progress)
