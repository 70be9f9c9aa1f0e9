"""The annotate stage: strategy spans for trajectories from a tagger in the registry.

    stratagem annotate                                   # rules tagger, every pending trajectory
    stratagem annotate --annotator rules --source gsm8k --limit 1000 --batch-size 5000
    stratagem annotate --annotator llm --base-url http://127.0.0.1:8000/v1 --model M

Pending = trajectories with no span from this annotator name and version (a tagger that
found nothing in a text leaves no rows, so such texts are looked at again by the next run).
Every span is validated against the schema (`Span`), the taxonomy and the text before it is
written; rejected spans and tagger errors go to `quarantine` with the trajectory id. Each
batch commits on its own (`run.checkpoint()`), so a killed run resumes where it stopped.
LLM taggers also return their calls: they become `llm_calls` rows and the run's token and
cost totals (cost unknown when any model has no price). Paid attempts are journalled as they
happen (annotators/llm/spend.py) and a journal left by a killed run is replayed into
`llm_calls` when the next LLM stage starts (`llm_spend`), so a kill never loses spend.

Counts: read = tagged + failed; spans.proposed = written.spans + spans.rejected + spans.duplicates.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from annotators import TagItem, Tagger, get_tagger, tagger_names
from pipeline import pending
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from schemas import LLMCall, Span, Tagged, content_id, to_arrow
from schemas.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from warehouse import Lake, RunReport

_BATCH = """
    SELECT t.trajectory_id, t.text, t.text_sha, p.question
    FROM trajectories t JOIN problems p USING (problem_id)
    WHERE t.trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[])))
    ORDER BY t.trajectory_id
"""


def pending_trajectories(lake: Lake, tagger: Tagger, source: str | None = None, limit: int | None = None) -> list[str]:
    """Trajectory ids `tagger` (its name and version) has not tagged yet (pipeline.pending), in id order."""
    ids = pending.annotate_ids(lake, tagger.name, tagger.version, source)
    return ids[:limit] if limit is not None else ids


def _span_rows(result, text: str, sha: str, tagger: Tagger, taxonomy: Taxonomy, run) -> list[Span]:
    rows = []
    for out in result.spans:
        locator = f"{result.item_id}[{out.start}:{out.end}]"
        try:
            span = Span(
                span_id=content_id("span", result.item_id, out.start, out.end, out.label, tagger.kind,
                                   tagger.name, tagger.version),
                trajectory_id=result.item_id, text_sha=sha, start=out.start, end=out.end, label=out.label,
                annotator_kind=tagger.kind, annotator=tagger.name, annotator_version=tagger.version,
                confidence=out.confidence, alignment=out.alignment, run_id=run.run_id)
            taxonomy.validate_span(span, text)
        except (ValidationError, ValueError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            run.quarantine("annotate", locator, f"invalid span from {tagger.name}: {reason}",
                           f"{out.label} [{out.start}, {out.end})")
            run.count("spans.rejected")
            continue
        rows.append(span)
    return rows


def llm_call_rows(calls, item_id: str, run) -> list[LLMCall]:
    """`llm_calls` rows for an annotator's `LLMUsage` list, added to the run's usage totals."""
    rows = []
    for call in calls:
        rows.append(LLMCall(cache_key=call.cache_key, run_id=run.run_id, item_id=item_id, model=call.model,
                            attempt=call.attempt, status=call.status, tokens_in=call.tokens_in,
                            tokens_out=call.tokens_out, cost_usd=call.cost_usd, latency_ms=call.latency_ms,
                            error=call.error))
        run.add_usage(call.tokens_in, call.tokens_out, call.cost_usd)
    return rows


def counted_call_rows(calls, item_id: str, run) -> list[LLMCall]:
    """`llm_call_rows`, and each call counted as `cached` or `requests` (stages that call the
    client directly: generate, verify --judge)."""
    for call in calls:
        run.count("cached" if call.status == "cached" else "requests")
    return llm_call_rows(calls, item_id, run)


@contextmanager
def llm_spend(client):
    """Around a stage's `lake.run`: yields `start(run)`, which replays the spend journals of killed
    runs into `llm_calls` (rows already committed are skipped by their key, so nothing counts
    twice; counted as recovered.llm_calls) and journals this run's paid attempts. The run's own
    journal is deleted once the run has committed, kept for the next run if it did not.
    `client` None (a rules annotator) or without a cache: nothing to do."""
    journal = getattr(client, "journal", None)

    def start(run) -> None:
        if journal is None:
            return
        rows, files = [], []
        for path, attempts in journal.orphans():
            files.append(path)
            for a in attempts:
                try:
                    rows.append(LLMCall(**a))
                except (ValidationError, TypeError):
                    run.count("recovered.unreadable")  # a hand-edited or foreign line: never a crash
        if rows:
            run.count("recovered.llm_calls", run.insert("llm_calls", to_arrow(rows, LLMCall)))
            run.checkpoint()
        for path in files:
            journal.discard(path)
        client.run_id = run.run_id

    try:
        yield start
    except BaseException:
        if journal is not None:
            journal.close(delete=False)
        raise
    finally:
        if client is not None:
            client.run_id = None
    if journal is not None:
        journal.close(delete=True)


def annotate(lake: Lake, tagger: Tagger, *, taxonomy: Taxonomy | None = None, source: str | None = None,
             limit: int | None = None, batch_size: int = 2000, config: dict | None = None,
             progress_bar=None) -> RunReport:
    """Tag pending trajectories with `tagger` and write validated spans; returns the run report."""
    taxonomy = taxonomy or load_taxonomy()
    ids = pending_trajectories(lake, tagger, source, limit)
    task = progress_bar.add_task(f"annotate ({tagger.name})", total=len(ids)) if progress_bar else None
    run_config = {"annotator": tagger.name, "annotator_version": tagger.version, "annotator_kind": tagger.kind,
                  "taxonomy": f"{taxonomy.name}@{taxonomy.version}", "taxonomy_sha256": taxonomy.sha256,
                  "source": source, "limit": limit, "batch_size": batch_size} | (config or {})
    with llm_spend(getattr(tagger, "client", None)) as start_spend, lake.run("annotate", run_config) as run:
        start_spend(run)
        for lo in range(0, len(ids), batch_size):
            batch = lake.rows(_BATCH, [ids[lo: lo + batch_size]])
            run.count("read", len(batch))
            results = tagger.tag([TagItem(item_id=tid, text=text, problem=question)
                                  for tid, text, _, question in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"tagger {tagger.name} returned {len(results)} results for {len(batch)} items")
            spans: list[Span] = []
            done: list[Tagged] = []
            calls: list[LLMCall] = []
            for (tid, text, sha, _), result in zip(batch, results):
                calls += llm_call_rows(result.calls, tid, run)
                if result.error is not None or result.item_id != tid:
                    reason = result.error if result.item_id == tid else f"result for {result.item_id!r}, expected {tid!r}"
                    run.quarantine("annotate", tid, f"{tagger.name} failed: {reason}", text[:200])
                    run.count("failed")
                    continue
                run.count("tagged")
                run.count("spans.proposed", len(result.spans))
                if not result.spans:
                    run.count("no_spans")
                valid = _span_rows(result, text, sha, tagger, taxonomy, run)
                spans += valid
                done.append(Tagged(trajectory_id=tid, text_sha=sha, annotator_kind=tagger.kind, annotator=tagger.name,
                                   annotator_version=tagger.version, n_spans=len(valid), run_id=run.run_id))
            if spans:
                written = run.insert("spans", to_arrow(spans, Span))
                run.count("spans.duplicates", len(spans) - written)
            if done:
                run.insert("tagged", to_arrow(done, Tagged))
            if calls:
                run.insert("llm_calls", to_arrow(calls, LLMCall))
            run.checkpoint()
            if task is not None:
                progress_bar.advance(task, len(batch))
    return run.report


def build_tagger(annotator: str, taxonomy: Taxonomy, **options) -> Tagger:
    """The named tagger from the registry, or a one-line failure (exit 2)."""
    if annotator not in tagger_names():
        known = ", ".join(tagger_names()) or "none"
        fail(f"annotator {annotator!r} is not available (registered taggers: {known})")
    try:
        return get_tagger(annotator, taxonomy=taxonomy, **options)
    except (ValueError, TypeError, OSError) as exc:
        fail(f"cannot start annotator {annotator!r}: {exc}")


def llm_run_config(options: dict) -> dict:
    """What the `runs` row records of the LLM options: credentials stripped from the URL."""
    from annotators.llm import public_url

    return {k: public_url(v) if k == "base_url" else str(v) for k, v in options.items()}


def unreachable_errors(annotator: str) -> tuple[type[Exception], ...]:
    """The exception an LLM annotator raises when its endpoint cannot be reached at all
    (imported only for llm, so the rules path never loads the openai client)."""
    if annotator != "llm":
        return ()
    from annotators.llm.client import EndpointUnreachable

    return (EndpointUnreachable,)


def taxonomy_or_fail(path: Path | None) -> Taxonomy:
    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        fail(str(exc))


def llm_options(root: Path | None, base_url, model, concurrency, max_retries, timeout, api_key_env) -> dict:
    """Factory kwargs for an LLM annotator; the API key stays in its environment variable."""
    from warehouse.lake import resolve_root

    if not base_url or not model:
        fail("--annotator llm needs --base-url and --model")
    return {"base_url": base_url, "model": model, "concurrency": concurrency, "max_retries": max_retries,
            "timeout_s": timeout, "api_key_env": api_key_env, "cache_dir": resolve_root(root) / "cache" / "llm"}


BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="LLM only: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="LLM only: model name sent to the endpoint.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="LLM only: requests in flight at once.")]
RetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, help="LLM only: retries per request (validation errors and transient failures).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="LLM only: wall-clock limit per HTTP attempt in seconds (the whole answer, body included).")]
KeyEnvOpt = Annotated[str, typer.Option("--api-key-env", help="LLM only: NAME of the environment variable holding the API key (the key is never stored).")]
TaxonomyOpt = Annotated[Path | None, typer.Option("--taxonomy", help="Taxonomy TOML file (default: the packaged one).")]


def register(app: typer.Typer) -> None:
    @app.command("annotate")
    def annotate_command(
        root: RootOpt = None,
        annotator: Annotated[str, typer.Option("--annotator", help="Tagger name: rules (offline, default) or llm.")] = "rules",
        source: Annotated[str | None, typer.Option("--source", help="Only trajectories of problems from this source.")] = None,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many trajectories.")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Trajectories per committed batch.")] = 2000,
        taxonomy_path: TaxonomyOpt = None,
        base_url: BaseUrlOpt = None, model: ModelOpt = None, concurrency: ConcurrencyOpt = 8,
        max_retries: RetriesOpt = 2, timeout: TimeoutOpt = 60.0, api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
    ) -> None:
        """Tag strategy spans (planning, decomposition, verification, ...) in trajectories.

        Only trajectories this annotator and version has not yet tagged are tagged (one with
        no spans found counts as done, one that failed does not), so a rerun resumes. Invalid
        spans (unknown label, offsets outside the text) and tagger errors are quarantined,
        never written.
        """
        taxonomy = taxonomy_or_fail(taxonomy_path)
        options: dict = {}
        config: dict = {}
        if annotator == "llm":
            options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env)
            config = llm_run_config(options)
        tagger = build_tagger(annotator, taxonomy, **options)
        with lake_for(root, holder="annotate") as lake, progress() as bar:
            try:
                report = annotate(lake, tagger, taxonomy=taxonomy, source=source, limit=limit,
                                  batch_size=batch_size, config=config, progress_bar=bar)
            except unreachable_errors(annotator) as exc:
                fail(f"{exc} (batches committed before stay; nothing from the unfinished batch was written)", code=1)
        print_report(report)
