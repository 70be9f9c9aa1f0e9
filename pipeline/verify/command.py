"""`stratagem verify`: the verify stage's command (the stage: pipeline/verify/stage.py; the LLM
judge: pipeline/verify/judge.py).

    stratagem verify [--batch-size 5000] [--tolerance POLICY | --tolerance SOURCE=POLICY ...]
    stratagem verify --judge llm --base-url URL --model M [--judge-low-confidence] [--retry-failed]
    stratagem --catalog postgres://... verify --shard 1/4            # one of 4 workers (rules and judge)
"""
from __future__ import annotations

from typing import Annotated

import typer

from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from pipeline.flags import (
    BaseUrlOpt, ConcurrencyOpt, KeyEnvOpt, ModelOpt, RetriesOpt, RetryFailedOpt, TimeoutOpt, llm_options,
)
from pipeline.shards import ShardOpt, shard_lock
from pipeline.verify.stage import LOW_CONFIDENCE, parse_tolerances, verify


def register(app: typer.Typer) -> None:
    @app.command("verify")
    def verify_command(
        root: RootOpt = None,
        batch_size: Annotated[int, typer.Option(min=1, help="Trajectories judged per committed batch.")] = 5000,
        tolerance: Annotated[list[str] | None, typer.Option(
            "--tolerance", metavar="[SOURCE=]POLICY",
            help="When a decimal approximation of an exact answer counts, for every source (POLICY) or one "
                 "(SOURCE=POLICY), repeatable: exact (never), decimal_ok (always, as if a decimal was asked) or "
                 "a relative tolerance such as 1e-4. Default: only when the problem asks for a decimal "
                 "(round, nearest, ... places).")] = None,
        judge_name: Annotated[str | None, typer.Option(
            "--judge", help="Also send unknown verdicts to a judge: llm (needs --base-url and --model).")] = None,
        judge_low_confidence: Annotated[bool, typer.Option(
            "--judge-low-confidence", help="With --judge: also re-judge correct / incorrect verdicts whose "
                                           f"extraction confidence is below {LOW_CONFIDENCE} (answers read "
                                           "from an unmarked conclusion, for instance).")] = False,
        judge_batch_size: Annotated[int, typer.Option(
            "--judge-batch-size", min=1, help="With --judge: verdicts judged per committed batch.")] = 64,
        base_url: BaseUrlOpt = None, model: ModelOpt = None, concurrency: ConcurrencyOpt = 8,
        max_retries: RetriesOpt = 2, timeout: TimeoutOpt = 60.0, api_key_env: KeyEnvOpt = "OPENAI_API_KEY",
        retry_failed: RetryFailedOpt = False, shard: ShardOpt = None,
    ) -> None:
        """Extract each trajectory's final answer and judge it against the reference (writes verdicts).

        Each verdict has an outcome: correct, incorrect, unknown (no final answer found with
        enough confidence to judge: curation keeps these out of correct-only sets) or
        no_reference (the problem has no reference answer); the extraction method (boxed,
        hashes, answer_is, conclusion, choice, last_number, none, judge) and its confidence.
        The problem statement is read for multiple-choice options and for requests of a
        decimal answer. Only trajectories without a verdict from this checker version are
        judged, so a rerun resumes; a tolerance policy applies to the trajectories judged by
        that run (recorded in the run's config).

        --judge llm then sends the unknown verdicts (with --judge-low-confidence also the
        low-confidence ones) of this checker version to an OpenAI-compatible model; its
        verdicts are added with method "judge" and the model's name and supersede the rule
        verdict (view current_verdicts). Each is asked once per model: a request that got
        no usable answer (timeout, HTTP 429 / 5xx) is counted as failed and asked again by
        the next run; an answer that failed validation is cached and recorded as the same
        failure by a rerun, without a request, unless --retry-failed; cached answers are
        not paid for again; every call is recorded in llm_calls. The API key is read from
        --api-key-env and never stored.
        """
        try:
            tolerances = parse_tolerances(tolerance or [])
        except ValueError as exc:
            fail(str(exc))
        judge_stage = None
        if judge_name is not None:
            if judge_name != "llm":
                fail(f"unknown judge {judge_name!r}; known: llm")
            from pipeline.verify.judge import LLMJudge

            options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env, retry_failed)
            try:
                judge_stage = LLMJudge(**options)
            except ValueError as exc:
                fail(f"cannot start the llm judge: {exc}")
        elif judge_low_confidence:
            fail("--judge-low-confidence needs --judge llm")
        with lake_for(root, **shard_lock("verify", shard)) as lake, progress() as bar:
            report = verify(lake, batch_size=batch_size, tolerances=tolerances, progress=bar, shard=shard)
            judged = None
            if judge_stage is not None:
                from llm.client import EndpointUnreachable
                from pipeline.verify.judge import judge_verdicts

                try:
                    judged = judge_verdicts(lake, judge_stage, low_confidence=judge_low_confidence,
                                            batch_size=judge_batch_size, progress=bar, shard=shard)
                except EndpointUnreachable as exc:
                    print_report(report)
                    fail(f"{exc} (rule verdicts and judge batches committed before stay)", code=1)
        print_report(report)
        if judged is not None:
            print_report(judged)
