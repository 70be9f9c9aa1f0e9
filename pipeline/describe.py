"""The describe stage: K strategy descriptions per problem, leakage-checked and ranked.

    stratagem describe                      # rules describer, k = 5
    stratagem describe --annotator llm --base-url URL --model M -k 5

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

from typing import Annotated

import typer

from annotators import DescribeItem, Describer, SpanOut, describer_names, get_describer
from annotators.leakage import leakage_flags
from pipeline import pending
from pipeline.annotate import (
    BaseUrlOpt, ConcurrencyOpt, KeyEnvOpt, ModelOpt, RetriesOpt, TaxonomyOpt, TimeoutOpt, llm_call_rows, llm_options,
    llm_run_config, llm_spend, taxonomy_or_fail, unreachable_errors,
)
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from schemas import LLMCall, Strategy, content_id, to_arrow
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


def describe(lake: Lake, describer: Describer, *, source: str | None = None, limit: int | None = None,
             batch_size: int = 500, config: dict | None = None, progress_bar=None) -> RunReport:
    """Describe pending problems with `describer` and write `strategies`; returns the run report."""
    pairs = pending.describe_pairs(lake, describer.name, describer.version, source)
    pairs = pairs[:limit] if limit is not None else pairs
    task = progress_bar.add_task(f"describe ({describer.name})", total=len(pairs)) if progress_bar else None
    run_config = {"annotator": describer.name, "annotator_version": describer.version, "source": source,
                  "limit": limit, "batch_size": batch_size} | (config or {})
    with llm_spend(getattr(describer, "client", None)) as start_spend, lake.run("describe", run_config) as run:
        start_spend(run)
        for lo in range(0, len(pairs), batch_size):
            items = _items(lake, pairs[lo: lo + batch_size])
            run.count("read", len(items))
            results = describer.describe(items)
            if len(results) != len(items):
                raise RuntimeError(f"describer {describer.name} returned {len(results)} results for {len(items)} items")
            rows: list[Strategy] = []
            calls: list[LLMCall] = []
            for item, result in zip(items, results):
                calls += llm_call_rows(result.calls, item.problem_id, run)
                if result.error is not None or not result.candidates:
                    run.quarantine("describe", item.problem_id,
                                   f"{describer.name} failed: {result.error or 'no candidates'}", item.question[:200])
                    run.count("failed")
                    continue
                new, n_clean = strategy_rows(item, result, describer, run.run_id)
                rows += new
                run.count("described")
                run.count("candidates", len(new))
                run.count("leak_free", n_clean)
                run.count("leaking", len(new) - n_clean)
                if n_clean == 0:
                    run.count("no_leak_free_candidate")
            if rows:
                run.insert("strategies", to_arrow(rows, Strategy))
            if calls:
                run.insert("llm_calls", to_arrow(calls, LLMCall))
            run.checkpoint()
            if task is not None:
                progress_bar.advance(task, len(items))
    return run.report


def register(app: typer.Typer) -> None:
    @app.command("describe")
    def describe_command(
        root: RootOpt = None,
        annotator: Annotated[str, typer.Option("--annotator", help="Describer name: rules (offline, default) or llm.")] = "rules",
        k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="Candidate descriptions per problem.")] = 5,
        source: Annotated[str | None, typer.Option("--source", help="Only problems from this source.")] = None,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many problems.")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Problems per committed batch.")] = 500,
        taxonomy_path: TaxonomyOpt = None,
        base_url: BaseUrlOpt = None, model: ModelOpt = None, concurrency: ConcurrencyOpt = 8,
        max_retries: RetriesOpt = 2, timeout: TimeoutOpt = 60.0, api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    ) -> None:
        """Write K strategy descriptions (problem type, approach, steps) per solved problem.

        Descriptions say how to reason, never what to answer: candidates holding the
        reference answer or a number that is not in the question are flagged and never
        ranked. Only problems with a correct trajectory and no description from this
        describer version are done, so a rerun resumes.
        """
        taxonomy = taxonomy_or_fail(taxonomy_path)
        options: dict = {}
        if annotator == "llm":
            options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env)
        if annotator not in describer_names():
            fail(f"describer {annotator!r} is not available (registered: {', '.join(describer_names()) or 'none'})")
        try:
            describer = get_describer(annotator, k=k, taxonomy=taxonomy, **options)
        except (ValueError, TypeError, OSError) as exc:
            fail(f"cannot start describer {annotator!r}: {exc}")
        config = {"k": k} | llm_run_config(options)
        with lake_for(root, holder="describe") as lake, progress() as bar:
            try:
                report = describe(lake, describer, source=source, limit=limit, batch_size=batch_size,
                                  config=config, progress_bar=bar)
            except unreachable_errors(annotator) as exc:
                fail(f"{exc} (batches committed before stay; nothing from the unfinished batch was written)", code=1)
        print_report(report)
