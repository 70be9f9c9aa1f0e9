"""`stratagem sql` (read-only queries) and `stratagem status` (where things stand).

    stratagem sql "SELECT label, count(*) FROM current_spans GROUP BY 1"
    stratagem sql "SELECT * FROM trajectories" --format parquet --out t.parquet
    stratagem status
"""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.table import Table

from pipeline.console import RootOpt, fail, lake_for, out
from warehouse import Lake, LakeError
from schemas import TABLES


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def write_result(result: pa.Table, fmt: Format, dest: Path) -> None:
    import polars as pl

    frame = pl.from_arrow(result)
    if fmt is Format.csv:
        frame.write_csv(dest)
    elif fmt is Format.json:
        frame.write_ndjson(dest)
    else:
        frame.write_parquet(dest)


def render_table(result: pa.Table, max_rows: int = 50, max_width: int = 60) -> Table:
    table = Table(show_header=True, header_style="bold")
    for name in result.column_names:
        table.add_column(name, overflow="fold")
    for row in result.slice(0, max_rows).to_pylist():
        cells = []
        for value in row.values():
            text = "NULL" if value is None else str(value)
            cells.append(text if len(text) <= max_width else text[: max_width - 1] + "…")
        table.add_row(*cells)
    if result.num_rows > max_rows:
        table.caption = f"{max_rows} of {result.num_rows:,} rows shown; use --format/--out for all"
    return table


def status_tables(lake: Lake) -> list[Table]:
    """Counts per table, runs per stage, pending work and quarantine reasons."""
    counts = Table(title="tables", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name in TABLES:
        counts.add_row(name, f"{lake.count(name):,}")
    counts.caption = f"DuckLake snapshot {lake.snapshot_id()} at {lake.root}"

    runs = Table(title="stages", title_justify="left")
    for col in ("stage", "runs", "last run", "status", "finished (UTC)"):
        runs.add_column(col)
    for stage, n, run_id, status, finished in lake.rows(
            "SELECT stage, count(*), arg_max(run_id, started_at), arg_max(status, started_at), "
            "strftime(max(finished_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM runs GROUP BY stage ORDER BY min(started_at)"):
        if status == "partial" and lake.read_only:  # a reader opens only while no stage writes
            status = "interrupted (rerun it)"
        runs.add_row(stage, str(n), run_id, status, finished or "")

    pending = Table(title="pending", title_justify="left")
    pending.add_column("what")
    pending.add_column("count", justify="right")
    for what, sql in [
        ("trajectories without a verdict (verify)",
         "SELECT count(*) FROM trajectories t WHERE NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.trajectory_id = t.trajectory_id)"),
        ("trajectories not yet tagged by the rules tagger (annotate)",
         "SELECT count(*) FROM trajectories t WHERE NOT EXISTS (SELECT 1 FROM tagged g WHERE g.trajectory_id = t.trajectory_id AND g.annotator_kind = 'rule') AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.trajectory_id = t.trajectory_id AND s.annotator_kind = 'rule')"),
        ("problems with a correct trajectory but no strategy (describe)",
         "SELECT count(DISTINCT problem_id) FROM correct_trajectories c WHERE NOT EXISTS (SELECT 1 FROM strategies s WHERE s.problem_id = c.problem_id)"),
    ]:
        pending.add_row(what, f"{lake.scalar(sql):,}")

    reasons = Table(title="quarantine reasons", title_justify="left")
    reasons.add_column("stage")
    reasons.add_column("reason")
    reasons.add_column("rows", justify="right")
    for stage, reason, n in lake.rows(
            "SELECT stage, regexp_replace(reason, '''[^'']*''', '''…''', 'g') r, count(*) FROM quarantine "
            "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 15"):
        reasons.add_row(stage, reason, f"{n:,}")
    return [counts, runs, pending, reasons]


def register(app: typer.Typer) -> None:
    @app.command("sql")
    def sql_command(
        query: Annotated[str, typer.Argument(help="SELECT statement over the lake's tables and views.")],
        root: RootOpt = None,
        fmt: Annotated[Format, typer.Option("--format", help="table prints to the terminal; csv, json (one object per line) and parquet need --out.")] = Format.table,
        dest: Annotated[Path | None, typer.Option("--out", help="File to write the result to.")] = None,
    ) -> None:
        """Run a read-only SQL query (SELECT only) against the lake.

        Tables: problems, trajectories, verdicts, spans, tagged, strategies, runs, quarantine,
        llm_calls, reviews, curated; views: current_spans, current_strategies, correct_trajectories.
        """
        if fmt is not Format.table and dest is None:
            fail(f"--format {fmt.value} needs --out FILE")
        with lake_for(root, read_only=True) as lake:
            try:
                result = lake.select(query)
            except LakeError as exc:
                fail(str(exc))
        if dest is None:
            out.print(render_table(result))
        else:
            write_result(result, Format.parquet if fmt is Format.table else fmt, dest)
            out.print(f"wrote {result.num_rows:,} rows to {dest}")

    @app.command("status")
    def status_command(root: RootOpt = None,
                       as_json: Annotated[bool, typer.Option("--json", help="Counts as JSON.")] = False) -> None:
        """Show row counts per table, runs per stage, pending work and quarantine reasons."""
        with lake_for(root, read_only=True) as lake:
            if as_json:
                out.print_json(json.dumps({name: lake.count(name) for name in TABLES} | {"snapshot_id": lake.snapshot_id()}))
                return
            for table in status_tables(lake):
                out.print(table)
