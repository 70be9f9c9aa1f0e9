"""`stratagem annotate`: the annotate stage's command (the stage: pipeline/annotate/stage.py).

    stratagem annotate                                   # rules tagger, every pending trajectory
    stratagem annotate --annotator rules --source gsm8k --limit 1000 --batch-size 5000
    stratagem annotate --annotator llm --base-url http://127.0.0.1:8000/v1 --model M [--retry-failed]
    stratagem annotate --annotator learned [--model VERSION]     # `stratagem tagger train` first
    stratagem --catalog postgres://... annotate --shard 0/4            # one of 4 workers
"""
from __future__ import annotations

from typing import Annotated

import typer

from annotators import Tagger, get_tagger, tagger_names
from pipeline.annotate.stage import annotate
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from pipeline.flags import (
    UNREACHABLE, BaseUrlOpt, ConcurrencyOpt, KeyEnvOpt, RetriesOpt, RetryFailedOpt, TaxonomyOpt, TimeoutOpt,
    llm_options, llm_run_config, taxonomy_or_fail, unreachable_errors,
)
from pipeline.shards import ShardOpt, shard_lock
from schemas.taxonomy import Taxonomy


def build_tagger(annotator: str, taxonomy: Taxonomy, **options) -> Tagger:
    """The named tagger from the registry, or a one-line failure (exit 2)."""
    if annotator == "llm":
        import llm  # noqa: F401  (registers the "llm" tagger)
    if annotator not in tagger_names():
        known = ", ".join(tagger_names()) or "none"
        fail(f"annotator {annotator!r} is not available (registered taggers: {known})")
    try:
        return get_tagger(annotator, taxonomy=taxonomy, **options)
    except (ValueError, TypeError, OSError) as exc:
        fail(f"cannot start annotator {annotator!r}: {exc}")


LearnedModelOpt = Annotated[str | None, typer.Option(
    "--model", help="LLM: model name sent to the endpoint. learned: the model version (default: the latest "
                    "`stratagem tagger train`).")]


def learned_options(root, version: str | None) -> tuple[dict, dict]:
    """The learned tagger's options (its model folder) and run config: `version`, else the latest."""
    from pipeline.tagger.stage import TaggerError, latest_version, load_tagger, model_folder

    with lake_for(root, read_only=True) as lake:
        try:
            version = version or latest_version(lake)
            load_tagger(lake.root, version)  # a missing or damaged model fails here, in one line
        except TaggerError as exc:
            fail(str(exc))
        return {"model_path": model_folder(lake.root, version)}, {"model_version": version}


def register(app: typer.Typer) -> None:
    @app.command("annotate")
    def annotate_command(
        root: RootOpt = None,
        annotator: Annotated[str, typer.Option("--annotator", help="Tagger name: rules (offline, default), learned (`stratagem tagger train`) or llm.")] = "rules",
        source: Annotated[str | None, typer.Option("--source", help="Only trajectories of problems from this source.")] = None,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many trajectories.")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Trajectories per committed batch.")] = 2000,
        taxonomy_path: TaxonomyOpt = None,
        base_url: BaseUrlOpt = None, model: LearnedModelOpt = None, concurrency: ConcurrencyOpt = 8,
        max_retries: RetriesOpt = 2, timeout: TimeoutOpt = 60.0, api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
        retry_failed: RetryFailedOpt = False, shard: ShardOpt = None,
    ) -> None:
        """Tag strategy spans (planning, decomposition, verification, ...) in trajectories.

        Only trajectories this annotator and version has not yet tagged are tagged (one with
        no spans found counts as done, one that failed does not), so a rerun resumes. Invalid
        spans (unknown label, offsets outside the text) and tagger errors are quarantined,
        never written. With --annotator llm, a rerun sends again only the requests that got no
        usable answer (timeouts, HTTP 429 / 5xx, dropped connections); an answer that failed
        validation is read back from the cache and recorded as the same error, unless
        --retry-failed.
        """
        taxonomy = taxonomy_or_fail(taxonomy_path)
        options: dict = {}
        config: dict = {}
        if annotator == "llm":
            options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env, retry_failed)
            config = llm_run_config(options)
        elif annotator == "learned":
            options, config = learned_options(root, model)
        tagger = build_tagger(annotator, taxonomy, **options)
        with lake_for(root, **shard_lock("annotate", shard)) as lake, progress() as bar:
            try:
                report = annotate(lake, tagger, taxonomy=taxonomy, source=source, limit=limit,
                                  batch_size=batch_size, config=config, progress=bar, shard=shard)
            except unreachable_errors(annotator == "llm") as exc:
                fail(f"{exc} {UNREACHABLE}", code=1)
        print_report(report)
