"""The verify stage: judge each trajectory's final answer against its problem's reference.

    report = verify(lake, batch_size=5000, tolerances={"*": "exact"})   # `stratagem verify` (command.py)
    report = verify(lake, shard=Shard(1, 4))          # one shard of the work (pipeline/shards)

Reads trajectories that have no verdict from the current checker version (so a rerun only
does what is missing, and a new checker version re-judges everything), judges each with
`annotators.answers.judge_answer` (the problem statement goes along: multiple-choice options
live there; the source's tolerance policy, when one is given) and writes `verdicts` with a
three-valued outcome (correct | incorrect | unknown), or no_reference when the problem has
none. Commits per batch, so a killed run resumes where it stopped. With `--judge llm` the
`unknown` verdicts (optionally also low-confidence ones) then go to an LLM
(pipeline/verify/judge.py), whose verdicts are added with method "judge".

Counts: read = correct + incorrect + unknown + no_reference; extraction.<method> per method.
"""
from __future__ import annotations

import pyarrow as pa

from annotators.answers import CORRECT, INCORRECT, judge_answer
from annotators.answers.tolerance import check_policy
from pipeline import pending
from pipeline.shards import Shard
from pipeline.stage import BatchedStage, BatchOut
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


class Verify(BatchedStage):
    """The rule checker over every pending trajectory, in keyset pages (each page is what is
    still pending after the trajectory id the last one ended at)."""

    name = "verify"

    def __init__(self, *, batch_size: int, tolerances: dict[str, str] | None, shard: Shard | None = None):
        self.batch_size, self.tolerances, self.shard = batch_size, dict(tolerances or {}), shard
        self.version = pending.checker_version()

    def config(self) -> dict:
        return {"checker_version": self.version, "batch_size": self.batch_size, "tolerance": self.tolerances}

    def batches(self, lake: Lake):
        def pages():
            last = ""
            while (batch := pending.verify_batch(lake, self.version, after=last, limit=self.batch_size,
                                                 shard=self.shard)).num_rows:
                last = batch.column("trajectory_id")[-1].as_py()
                yield batch
        return pending.count(lake, "verify", self.shard, checker_version=self.version), pages()

    def start(self, run) -> None:
        for outcome in OUTCOMES:
            run.count(outcome, 0)

    def handle(self, batch: pa.Table, out: BatchOut, on_done) -> None:
        verdicts = judge(batch, out.run.run_id, self.tolerances, checker_version=self.version)
        out.add_table("verdicts", verdicts)
        count_verdicts(out.run, verdicts)


def verify(lake: Lake, *, batch_size: int = 5000, tolerances: dict[str, str] | None = None,
           progress=None, shard: Shard | None = None) -> RunReport:
    """Judge every trajectory (of `shard`, when given) without a verdict of CHECKER_VERSION
    (pipeline.pending); returns the run report."""
    return Verify(batch_size=batch_size, tolerances=tolerances, shard=shard).run(lake, progress=progress)
