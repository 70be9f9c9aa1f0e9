"""The describe stage: K strategy descriptions per problem, leakage-checked and ranked.

    report = describe(lake, get_describer("rules", k=5))       # `stratagem describe` (command.py)
    report = describe(lake, get_describer("rules", k=5), shard=Shard(0, 2))   # one shard (pipeline/shards)

For each problem with a correct trajectory (a verdict with is_correct) and no strategy yet
from this describer name and version, one correct trajectory is chosen (the one with
spans, then the shortest), with its current spans (human, then gold, then llm, then rule
spans: one annotator's set), and handed to the describer. Every candidate goes through the
leakage filter (`annotators.leakage`: the reference answer, or numbers not in the
question); all candidates are written to `strategies` with their flags, and the leak-free
ones are ranked 1..n by the describer's score (rank 1 = the best), leaking ones get no
rank. `selected` stays False: curation chooses.

Counts: read = described + failed; candidates = leak_free + leaking.
"""
from __future__ import annotations

from annotators import DescribeItem, Describer, SpanOut
from annotators.leakage import leakage_flags
from pipeline import pending
from pipeline.shards import Shard
from pipeline.stage import BatchedStage, BatchOut
from schemas import Strategy, content_id
from warehouse import Lake, RunReport

_ITEMS = """
    SELECT p.problem_id, p.question, p.reference_answer, p.family, t.trajectory_id, t.text
    FROM problems p JOIN trajectories t ON t.problem_id = p.problem_id
    WHERE t.trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[])))
    ORDER BY p.problem_id
"""
_SPANS = """
    WITH s AS (
        SELECT trajectory_id, start, "end", label, confidence, alignment, annotator_kind, annotator,
               CASE annotator_kind WHEN 'human' THEN 0 WHEN 'gold' THEN 1 WHEN 'llm' THEN 2 ELSE 3 END AS pri
        FROM current_spans WHERE trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[])))
    ),
    best AS (
        SELECT trajectory_id, arg_min(annotator, (pri, annotator)) AS annotator FROM s GROUP BY trajectory_id
    )
    SELECT s.trajectory_id, s.start, s."end", s.label, s.confidence, s.alignment
    FROM s JOIN best USING (trajectory_id, annotator) ORDER BY s.trajectory_id, s.start
"""


def _items(lake: Lake, pairs: list[tuple[str, str]]) -> list[DescribeItem]:
    ids = [t for _, t in pairs]
    spans: dict[str, list[SpanOut]] = {}
    for tid, start, end, label, conf, alignment in lake.rows(_SPANS, [ids]):
        spans.setdefault(tid, []).append(SpanOut(start, end, label, conf, alignment))
    return [DescribeItem(problem_id=pid, question=q, reference_answer=ans, trajectory_id=tid, trajectory=text,
                         spans=tuple(spans.get(tid, ())), family=family)
            for pid, q, ans, family, tid, text in lake.rows(_ITEMS, [ids])]


def strategy_rows(item: DescribeItem, result, describer: Describer, run_id: str) -> tuple[list[Strategy], int]:
    """All candidates as rows, leaks flagged (the stage's own check, whatever the describer
    said), leak-free ones ranked by score; returns (rows, number leak-free)."""
    checked = []
    for i, cand in enumerate(result.candidates):
        flags = sorted(set(cand.leakage_flags) | set(leakage_flags(
            [cand.problem_type, cand.approach, *cand.steps], item.question, item.reference_answer)))
        checked.append((i, cand, flags))
    clean = sorted((c for c in checked if not c[2]),
                   key=lambda c: (-(c[1].score if c[1].score is not None else float("-inf")), c[1].rank or 0, c[0]))
    rank = {c[0]: r + 1 for r, c in enumerate(clean)}
    rows = []
    for i, cand, flags in checked:
        rows.append(Strategy(
            strategy_id=content_id("strategy", item.problem_id, describer.name, describer.version, i,
                                   cand.problem_type, cand.approach, "\x1e".join(cand.steps)),
            problem_id=item.problem_id, source_trajectory_id=result.trajectory_id or item.trajectory_id,
            problem_type=cand.problem_type, approach=cand.approach, steps=list(cand.steps), leakage_flags=flags,
            score=cand.score, rank=rank.get(i), selected=False, annotator_kind=describer.kind,
            annotator=describer.name, annotator_version=describer.version, run_id=run_id))
    return rows, len(clean)


class Describe(BatchedStage):
    name = "describe"

    def __init__(self, describer: Describer, *, source: str | None, limit: int | None, batch_size: int,
                 config: dict | None, shard: Shard | None = None):
        self.describer, self.source, self.limit, self.shard = describer, source, limit, shard
        self.batch_size, self.extra = batch_size, config or {}
        self.client = getattr(describer, "client", None)

    def config(self) -> dict:
        d = self.describer
        return {"annotator": d.name, "annotator_version": d.version, "source": self.source, "limit": self.limit,
                "batch_size": self.batch_size} | self.extra

    def label(self) -> str:
        return f"describe ({self.describer.name})"

    def pending(self, lake: Lake) -> list[tuple[str, str]]:
        pairs = pending.describe_pairs(lake, self.describer.name, self.describer.version, self.source,
                                       shard=self.shard)
        return pairs[:self.limit] if self.limit is not None else pairs

    def load(self, lake: Lake, keys) -> list[DescribeItem]:
        return _items(lake, list(keys))

    def process(self, items, on_done) -> list:
        return self.describer.describe(items)

    def item_id(self, item: DescribeItem) -> str:
        return item.problem_id

    def failure(self, item, result) -> str | None:
        if result.error is None and result.candidates:
            return None
        return f"{self.describer.name} failed: {result.error or 'no candidates'}"

    def quarantined_raw(self, item: DescribeItem, result) -> str:
        return item.question[:200]

    def accept(self, item: DescribeItem, result, out: BatchOut) -> None:
        rows, n_clean = strategy_rows(item, result, self.describer, out.run.run_id)
        out.add("strategies", rows)
        out.count("described")
        out.count("candidates", len(rows))
        out.count("leak_free", n_clean)
        out.count("leaking", len(rows) - n_clean)
        if n_clean == 0:
            out.count("no_leak_free_candidate")


def describe(lake: Lake, describer: Describer, *, source: str | None = None, limit: int | None = None,
             batch_size: int = 500, config: dict | None = None, progress=None,
             shard: Shard | None = None) -> RunReport:
    """Describe pending problems (of `shard`, when given) with `describer` and write `strategies`;
    returns the run report."""
    return Describe(describer, source=source, limit=limit, batch_size=batch_size, config=config,
                    shard=shard).run(lake, progress=progress)
