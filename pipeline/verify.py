"""The verify stage: judge each trajectory's final answer against its problem's reference.

    stratagem verify [--batch-size 5000] [--tolerance POLICY | --tolerance SOURCE=POLICY ...]
    stratagem verify --judge llm --base-url URL --model M [--judge-low-confidence]

Reads trajectories that have no verdict from the current checker version (so a rerun only
does what is missing, and a new checker version re-judges everything), judges each with
`annotators.answers.judge_answer` (the problem statement goes along: multiple-choice options
live there; the source's tolerance policy, when one is given) and writes `verdicts` with a
three-valued outcome (correct | incorrect | unknown), or no_reference when the problem has
none. Commits per batch, so a killed run resumes where it stopped. With `--judge llm` the
`unknown` verdicts (optionally also low-confidence ones) then go to an LLM
(pipeline/verify_judge.py), whose verdicts are added with method "judge".

Counts: read = correct + incorrect + unknown + no_reference; extraction.<method> per method.
"""
from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer

from annotators.answers import CORRECT, INCORRECT, judge_answer
from annotators.answers.tolerance import check_policy
from pipeline import pending
from pipeline.annotate import BaseUrlOpt, ConcurrencyOpt, KeyEnvOpt, ModelOpt, RetriesOpt, TimeoutOpt, llm_options
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from schemas import Verdict, arrow_schema
from warehouse import Lake, RunReport

NO_REFERENCE = "no_reference"
OUTCOMES = (CORRECT, INCORRECT, "unknown", NO_REFERENCE)
ANY_SOURCE = "*"  # key of the tolerance policy for sources without their own
LOW_CONFIDENCE = 0.8  # --judge-low-confidence re-judges decided verdicts below this extraction confidence


def parse_tolerances(specs: list[str]) -> dict[str, str]:
    """`--tolerance` values ("POLICY" for every source, "SOURCE=POLICY" for one) as a mapping
    from source (ANY_SOURCE for the rest) to policy; raises ValueError on a bad or repeated one.
    Policies (annotators/answers/tolerance.py): exact, decimal_ok, or a relative tolerance ("1e-4")."""
    policies: dict[str, str] = {}
    for spec in specs:
        source, sep, policy = spec.rpartition("=") if "=" in spec else (ANY_SOURCE, "", spec)
        source, policy = source.strip(), policy.strip()
        if not policy or (sep and not source):
            raise ValueError(f"--tolerance {spec!r}: expected POLICY or SOURCE=POLICY")
        check_policy(policy)  # ValueError naming the known policies
        if source in policies:
            raise ValueError(f"--tolerance given twice for {'every source' if source == ANY_SOURCE else source!r}")
        policies[source] = policy
    return policies


def judge(batch: pa.Table, run_id: str, tolerances: dict[str, str] | None = None, *,
          checker_version: str | None = None) -> pa.Table:
    """Verdict rows (as an Arrow table) for a batch of (trajectory_id, text, reference_answer,
    question, source) rows, recorded as from `checker_version` (default: today's CHECKER_VERSION)."""
    tolerances = tolerances or {}
    checker_version = checker_version or pending.checker_version()
    columns: dict[str, list] = {name: [] for name in arrow_schema(Verdict).names}
    for trajectory_id, text, reference, question, source in zip(*(batch.column(c).to_pylist() for c in (
            "trajectory_id", "text", "reference_answer", "question", "source"))):
        j = judge_answer(text, reference, problem=question,
                         tolerance=tolerances.get(source, tolerances.get(ANY_SOURCE)))
        outcome = NO_REFERENCE if reference is None else j.outcome
        columns["trajectory_id"].append(trajectory_id)
        columns["extracted_answer"].append(j.answer)
        columns["extraction"].append(j.method)
        columns["outcome"].append(outcome)
        columns["confidence"].append(float(j.confidence))
        columns["is_correct"].append({CORRECT: True, INCORRECT: False}.get(outcome))
        columns["checker_version"].append(checker_version)
        columns["run_id"].append(run_id)
        columns["judge_model"].append(None)
    return pa.table(columns, schema=arrow_schema(Verdict))


def count_verdicts(run, verdicts: pa.Table) -> None:
    """Counts per outcome (all four always present) and per extraction method."""
    for outcome in OUTCOMES:
        run.count(outcome, 0)
    for outcome in verdicts.column("outcome").to_pylist():
        run.count(outcome)
    for method in verdicts.column("extraction").to_pylist():
        run.count(f"extraction.{method}")


def verify(lake: Lake, *, batch_size: int = 5000, tolerances: dict[str, str] | None = None,
           progress_bar=None) -> RunReport:
    """Judge every trajectory without a verdict of CHECKER_VERSION (pipeline.pending); returns the run report."""
    version = pending.checker_version()
    total = pending.count(lake, "verify", checker_version=version)
    task = progress_bar.add_task("verify", total=total) if progress_bar else None
    config = {"checker_version": version, "batch_size": batch_size, "tolerance": dict(tolerances or {})}
    with lake.run("verify", config) as run:
        for outcome in OUTCOMES:
            run.count(outcome, 0)
        last = ""
        while True:
            batch = pending.verify_batch(lake, version, after=last, limit=batch_size)
            if batch.num_rows == 0:
                break
            verdicts = judge(batch, run.run_id, tolerances, checker_version=version)
            run.insert("verdicts", verdicts)
            run.count("read", batch.num_rows)
            count_verdicts(run, verdicts)
            last = batch.column("trajectory_id")[-1].as_py()
            run.checkpoint()
            if task is not None:
                progress_bar.advance(task, batch.num_rows)
    return run.report


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
        verdict (view current_verdicts). Each is asked once per model: a failed or
        malformed answer is counted and retried by the next run, cached answers are not
        paid for again, every call is recorded in llm_calls. The API key is read from
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
            from pipeline.verify_judge import LLMJudge

            options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env)
            try:
                judge_stage = LLMJudge(**options)
            except ValueError as exc:
                fail(f"cannot start the llm judge: {exc}")
        elif judge_low_confidence:
            fail("--judge-low-confidence needs --judge llm")
        with lake_for(root, holder="verify") as lake, progress() as bar:
            report = verify(lake, batch_size=batch_size, tolerances=tolerances, progress_bar=bar)
            judged = None
            if judge_stage is not None:
                from annotators.llm.client import EndpointUnreachable
                from pipeline.verify_judge import judge_verdicts

                try:
                    judged = judge_verdicts(lake, judge_stage, low_confidence=judge_low_confidence,
                                            batch_size=judge_batch_size, progress_bar=bar)
                except EndpointUnreachable as exc:
                    print_report(report)
                    fail(f"{exc} (rule verdicts and judge batches committed before stay)", code=1)
        print_report(report)
        if judged is not None:
            print_report(judged)
