"""`stratagem ingest`: load teacher trajectories from files into the lake.

    stratagem ingest sample.jsonl                                # the default mapping, stratagem-sample
    stratagem ingest ../shared/data/gsm8k/test.jsonl --mapping gsm8k
    stratagem ingest traces/ --mapping my_mapping.toml --source my-run --teacher my-model
    stratagem ingest --list-mappings
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import RootOpt, console, fail, lake_for, out, print_report, progress
from pipeline.ingest.mapping import DEFAULT_MAPPING, MappingError, available_mappings, load_mapping
from pipeline.ingest.readers import InputError
from pipeline.ingest.stage import BLOCK_BYTES, balance, ingest, plan


def register(app: typer.Typer) -> None:
    @app.command("ingest")
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
        list_mappings: Annotated[bool, typer.Option("--list-mappings", help="List the shipped mappings and exit.")]
            = False,
        root: RootOpt = None,
    ) -> None:
        """Ingest teacher trajectories: each record is stored, counted as a duplicate (already in the lake: re-ingest is a no-op) or quarantined with its file, line and reason.

        A mapping (TOML) says which fields hold the question, answer and solution(s): nested paths (a.b[0].c), chat messages, list-valued responses, step lists, folders of per-problem JSON files, constants and gold spans. See pipeline/mappings/*.toml for examples.

        Bad mappings and unreadable paths stop the command before anything is written (exit code 2).
        """  # noqa: E501
        if list_mappings:
            for name in available_mappings():
                out.print(f"{name:28} {load_mapping(name).description}", highlight=False)
            return
        if not paths:
            fail("give at least one file or folder to ingest (or --list-mappings)")
        try:
            spec = load_mapping(mapping).with_overrides(source=source, teacher=teacher)
            plan(paths, spec)
        except (MappingError, InputError) as exc:
            fail(str(exc))

        def on_file(inp, counts) -> None:
            console.print(f"ingested {inp.path}: {balance(counts)}", highlight=False, soft_wrap=True)

        with lake_for(root, holder="stratagem ingest") as lake, progress() as bar:
            try:
                report = ingest(lake, paths, spec, progress=bar, block_bytes=block_mb << 20, on_file=on_file)
            except (MappingError, InputError) as exc:
                fail(str(exc))
        print_report(report)
        out.print(balance(report.counts), highlight=False)
