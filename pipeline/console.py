"""What every command shares: the lake root option, one-line errors with exit code 2, the
Rich console, progress bars and the printed run report.

    from pipeline.console import RootOpt, lake_for, fail, print_report, progress
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from warehouse import LakeError

if TYPE_CHECKING:  # the lake (DuckDB) and progress bars load when a command uses them, not with this module
    from rich.progress import Progress

    from warehouse import Lake, RunReport

console = Console(stderr=True)
out = Console()

RootOpt = Annotated[Path | None, typer.Option(
    "--root", envvar="STRATAGEM_ROOT", help="Lake folder (default ./stratagem-data).", show_default=False)]


class UsageError(Exception):
    """Bad flags, paths, mappings or files: one line, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: MESSAGE` as plain text (a message quoting user input may hold `[/]` or
    `:x:`: neither markup nor emoji) and exit with `code`."""
    console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def lake_for(root: Path | None, *, read_only: bool = False, holder: str = "",
             lock_name: str | None = None) -> Iterator[Lake]:
    """Open the lake for a command (`lock_name`: a shard worker's lock, Lake.open), turning lake
    errors into one-line failures."""
    from warehouse import Lake

    try:
        lake = Lake.open(root, read_only=read_only, holder=holder, lock_name=lock_name)
    except LakeError as exc:
        fail(str(exc))
    with lake:
        yield lake


def progress(transient: bool = False) -> Progress:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=transient,
                    disable=not sys.stderr.isatty())


def print_report(report: RunReport) -> None:
    out.print(f"[bold]{report.stage}[/] run {report.run_id} ({report.status})", highlight=False)
    table = Table(show_header=True)
    table.add_column("count")
    table.add_column("value", justify="right")
    for name, value in report.counts.items():
        table.add_row(name, f"{value:,}")
    table.add_row("seconds", f"{report.seconds:,.2f}")
    if report.tokens_in or report.tokens_out:
        table.add_row("tokens in / out", f"{report.tokens_in:,} / {report.tokens_out:,}")
        table.add_row("cost (USD)", "unknown" if report.cost_usd is None else f"{report.cost_usd:.4f}")
    out.print(table)
