"""The verify stage: judge each trajectory's final answer against its problem's reference.

    stratagem verify [--batch-size 5000]

Reads trajectories that have no verdict from the current checker version (so a rerun only
does what is missing, and a new checker version re-judges everything), extracts the final
answer (`annotators.answers`) and writes `verdicts`. Problems without a reference answer
get `is_correct = NULL`. Commits per batch, so a killed run resumes where it stopped.
"""
from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer

from annotators.answers import CHECKER_VERSION, answers_match, extract_answer
from pipeline.console import RootOpt, lake_for, print_report, progress
from schemas import Verdict, arrow_schema
from warehouse import Lake, RunReport

_PENDING = """
    SELECT t.trajectory_id, t.text, p.reference_answer
    FROM trajectories t JOIN problems p USING (problem_id)
    WHERE t.trajectory_id > ?
      AND NOT EXISTS (SELECT 1 FROM verdicts v
                      WHERE v.trajectory_id = t.trajectory_id AND v.checker_version = ?)
    ORDER BY t.trajectory_id
    LIMIT ?
"""


def judge(batch: pa.Table, run_id: str) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in arrow_schema(Verdict).names}
    for trajectory_id, text, reference in zip(*(batch.column(c).to_pylist() for c in
                                                 ("trajectory_id", "text", "reference_answer"))):
        extraction = extract_answer(text)
        columns["trajectory_id"].append(trajectory_id)
        columns["extracted_answer"].append(extraction.answer)
        columns["extraction"].append(extraction.method)
        columns["is_correct"].append(None if reference is None else answers_match(extraction.answer, reference))
        columns["checker_version"].append(CHECKER_VERSION)
        columns["run_id"].append(run_id)
    return pa.table(columns, schema=arrow_schema(Verdict))


def verify(lake: Lake, *, batch_size: int = 5000, progress_bar=None) -> RunReport:
    total = lake.scalar("SELECT count(*) FROM trajectories t WHERE NOT EXISTS (SELECT 1 FROM verdicts v "
                        "WHERE v.trajectory_id = t.trajectory_id AND v.checker_version = ?)", [CHECKER_VERSION])
    task = progress_bar.add_task("verify", total=total) if progress_bar else None
    with lake.run("verify", {"checker_version": CHECKER_VERSION, "batch_size": batch_size}) as run:
        last = ""
        while True:
            batch = lake.query(_PENDING, [last, CHECKER_VERSION, batch_size])
            if batch.num_rows == 0:
                break
            verdicts = judge(batch, run.run_id)
            run.insert("verdicts", verdicts)
            run.count("read", batch.num_rows)
            correct = verdicts.column("is_correct").to_pylist()
            run.count("correct", sum(1 for c in correct if c is True))
            run.count("incorrect", sum(1 for c in correct if c is False))
            run.count("no_reference", sum(1 for c in correct if c is None))
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
    ) -> None:
        """Extract each trajectory's final answer and judge it against the reference (writes verdicts).

        Answers are found in `\\boxed{}`, `#### X`, "the answer is X", or the last number, and
        compared as numbers (fractions, decimals, percentages, units, LaTeX) or normalised text.
        Only trajectories without a verdict from this checker version are judged.
        """
        with lake_for(root, holder="verify") as lake, progress() as bar:
            report = verify(lake, batch_size=batch_size, progress_bar=bar)
        print_report(report)
