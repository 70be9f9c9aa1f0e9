"""`stratagem ingest`: load teacher trajectories from files into the lake.

    stratagem ingest sample.jsonl                                # the default mapping, stratagem-sample
    stratagem ingest ../shared/data/gsm8k/test.jsonl --mapping gsm8k
    stratagem ingest traces/ --mapping my_mapping.toml --source my-run --teacher my-model
    stratagem ingest --list-mappings
    stratagem ingest traces/ --max-quarantined 10      # warn when more than 10% is quarantined

Exit codes: 0 done; 2 refused before anything was written (bad mapping, unreadable path, a
FIFO / device / link out of the folder, a CSV header that repeats a column, a non-UTF-8
JSON file), or done but every record of some input (or group of small files) was
quarantined: the top reasons are printed, and what was good is stored.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import RootOpt, console, fail, lake_for, out, print_report, progress
from pipeline.ingest.limits import LIMITS_HELP
from pipeline.ingest.mapping import DEFAULT_MAPPING, MappingError, available_mappings, load_mapping
from pipeline.ingest.readers import InputError
from pipeline.ingest.stage import BLOCK_BYTES, balance, ingest, plan

HELP = """Ingest teacher trajectories: each record is stored, counted as a duplicate (already in the lake: re-ingest is a no-op) or quarantined with its file, line and reason.

A mapping (TOML) says which fields hold the question, answer and solution(s): nested paths (a.b[0].c), chat messages, list-valued responses, step lists, folders of per-problem JSON files, constants and gold spans. See pipeline/mappings/*.toml for examples.

"read" counts trajectory candidates (problems, for a mapping without trajectories); one input record may hold several. Folders of many small files are read in groups, one line per group.

{limits} Only regular files are read: FIFOs, devices and links out of the input folder are refused.

Bad mappings and unreadable paths stop the command before anything is written (exit code 2); so does an ingest in which every record of an input was quarantined (after storing the rest).
""".format(limits=LIMITS_HELP)  # noqa: E501


def register(app: typer.Typer) -> None:
    @app.command("ingest", help=HELP)
    def ingest_command(
        paths: Annotated[list[Path] | None, typer.Argument(
            help="Files (.jsonl, .json, .parquet, .csv) or folders of them; for folder mappings "
                 "(e.g. r1-traces) the folder holding the per-record folders.", show_default=False,
            readable=False)] = None,  # checked by the stage, which says so in one line
        mapping: Annotated[str, typer.Option(
            "--mapping", "-m", help="A shipped mapping's name (see --list-mappings) or a .toml mapping file.")]
            = DEFAULT_MAPPING,
        source: Annotated[str | None, typer.Option(help="Source name for the problems (replaces the mapping's).")] = None,
        teacher: Annotated[str | None, typer.Option(help="Teacher name for every trajectory (replaces the mapping's).")]
            = None,
        block_mb: Annotated[int, typer.Option("--block-mb", min=1, max=1024,
                                              help="Bytes of input parsed per batch, in MiB.")] = max(1, BLOCK_BYTES >> 20),
        max_quarantined: Annotated[float, typer.Option(
            "--max-quarantined", min=0, max=100,
            help="Warn when more than this percentage of what was read is quarantined.")] = 50.0,
        list_mappings: Annotated[bool, typer.Option("--list-mappings", help="List the shipped mappings and exit.")]
            = False,
        root: RootOpt = None,
    ) -> None:
        if list_mappings:
            for name in available_mappings():
                out.print(f"{name:28} {load_mapping(name).description}", highlight=False)
            return
        if not paths:
            fail("give at least one file or folder to ingest (or --list-mappings)")
        try:
            spec = load_mapping(mapping).with_overrides(source=source, teacher=teacher)
            planned = plan(paths, spec)
        except (MappingError, InputError) as exc:
            fail(str(exc))

        what = "trajectories" if spec.trajectory else "problems"
        all_bad: list[tuple[str, list[tuple[str, int]]]] = []
        reasons: Counter = Counter()

        def on_file(name: str, counts: dict, top: list[tuple[str, int]]) -> None:
            console.print(f"ingested {name}: {balance(counts, what)}", highlight=False, soft_wrap=True, markup=False)
            reasons.update(dict(top))
            if counts.get("read", 0) and counts.get("quarantined", 0) == counts["read"]:
                all_bad.append((name, top))

        with lake_for(root, holder="stratagem ingest") as lake, progress() as bar:
            try:
                report = ingest(lake, paths, spec, progress=bar, block_bytes=block_mb << 20, on_file=on_file,
                                planned=planned)
            except (MappingError, InputError) as exc:
                fail(str(exc))
        print_report(report)
        counts = report.counts
        out.print(balance(counts, what), highlight=False, markup=False, soft_wrap=True)
        read, bad = counts.get("read", 0), counts.get("quarantined", 0)
        if read and bad * 100 > max_quarantined * read:
            console.print(f"warning: {bad:,} of {read:,} ({bad * 100 / read:.0f}%) quarantined, over "
                          f"--max-quarantined {max_quarantined:g}%; top reasons: {_top(reasons)}",
                          highlight=False, soft_wrap=True, markup=False)
        for name, top in all_bad:
            console.print(f"error: every record of {name} was quarantined; top reasons: {_top(Counter(dict(top)))}",
                          highlight=False, soft_wrap=True, markup=False)
        if all_bad:
            raise typer.Exit(2)


def _top(reasons: Counter) -> str:
    return "; ".join(f"{reason[:160]} ({n:,})" for reason, n in reasons.most_common(3)) or "none recorded"
