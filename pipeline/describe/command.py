"""`stratagem describe`: the describe stage's command (the stage: pipeline/describe/stage.py).

    stratagem describe                      # rules describer, k = 5
    stratagem describe --annotator llm --base-url URL --model M -k 5 [--retry-failed]
    stratagem --catalog postgres://... describe --shard 0/2          # one of 2 workers
"""
from __future__ import annotations

from typing import Annotated

import typer

from annotators import describer_names, get_describer
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from pipeline.describe.stage import describe
from pipeline.flags import (
    UNREACHABLE, BaseUrlOpt, ConcurrencyOpt, KeyEnvOpt, ModelOpt, RetriesOpt, RetryFailedOpt, TaxonomyOpt, TimeoutOpt,
    llm_options, llm_run_config, taxonomy_or_fail, unreachable_errors,
)
from pipeline.shards import ShardOpt, shard_lock


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
        retry_failed: RetryFailedOpt = False, shard: ShardOpt = None,
    ) -> None:
        """Write K strategy descriptions (problem type, approach, steps) per solved problem.

        Descriptions say how to reason, never what to answer: candidates holding the
        reference answer or a number that is not in the question are flagged and never
        ranked. Only problems with a correct trajectory and no description from this
        describer version are done, so a rerun resumes. With --annotator llm, failed answers
        are cached as --retry-failed says (see `stratagem annotate --help`).
        """
        taxonomy = taxonomy_or_fail(taxonomy_path)
        options: dict = {}
        if annotator == "llm":
            options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env, retry_failed)
            import llm  # noqa: F401  (registers the "llm" describer)
        if annotator not in describer_names():
            fail(f"describer {annotator!r} is not available (registered: {', '.join(describer_names()) or 'none'})")
        try:
            describer = get_describer(annotator, k=k, taxonomy=taxonomy, **options)
        except (ValueError, TypeError, OSError) as exc:
            fail(f"cannot start describer {annotator!r}: {exc}")
        config = {"k": k} | llm_run_config(options)
        with lake_for(root, **shard_lock("describe", shard)) as lake, progress() as bar:
            try:
                report = describe(lake, describer, source=source, limit=limit, batch_size=batch_size,
                                  config=config, progress=bar, shard=shard)
            except unreachable_errors(annotator == "llm") as exc:
                fail(f"{exc} {UNREACHABLE}", code=1)
        print_report(report)
