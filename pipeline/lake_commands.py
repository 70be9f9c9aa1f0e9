"""`stratagem sql` (read-only queries) and `stratagem status` (where things stand).

    stratagem sql "SELECT label, count(*) FROM current_spans GROUP BY 1"
    stratagem sql "SELECT * FROM spans" --format csv > spans.csv      # csv / json go to stdout
    stratagem sql "SELECT * FROM trajectories" --out t.parquet        # format from the suffix
    stratagem status

Values are printed as plain text (no Rich markup, no emoji codes); list and struct values are
JSON text in CSV. Only one SELECT over the lake's tables and views runs (warehouse.usersql).
"""
from __future__ import annotations

import base64
import csv
import json
import math
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Iterator
from uuid import UUID

import typer
from rich.table import Table
from rich.text import Text

from pipeline.console import RootOpt, fail, lake_for, out
from pipeline.pending import pending_counts
from warehouse import LakeError

if TYPE_CHECKING:
    import pyarrow as pa

    from warehouse import Lake


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


_SUFFIXES = {".csv": Format.csv, ".json": Format.json, ".jsonl": Format.json, ".ndjson": Format.json}


def plain(value):
    """A result value as JSON-ready Python: nested lists and structs kept, everything else that
    JSON lacks (timestamps, decimals, bytes, NaN) turned into strings, numbers or null."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (timedelta, UUID)):
        return str(value)
    return value


def cell_text(value) -> str:
    """One value as the text CSV and the terminal table show: JSON for lists and structs."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _rows(result: pa.Table) -> Iterator[dict]:
    for batch in result.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


def write_result(result: pa.Table, fmt: Format, stream: IO[bytes]) -> None:
    """`result` as CSV (header line), JSON lines or Parquet on a binary stream."""
    if fmt is Format.parquet:
        import pyarrow.parquet as pq

        pq.write_table(result, stream)
        return
    import io

    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    try:
        if fmt is Format.csv:
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(result.column_names)
            for row in _rows(result):
                writer.writerow([cell_text(v) for v in row.values()])
        else:
            for row in _rows(result):
                text.write(json.dumps(plain(row), ensure_ascii=False) + "\n")
        text.flush()
    finally:
        text.detach()


def render_table(result: pa.Table, max_rows: int = 50, max_width: int = 60) -> Table:
    """A terminal table of the first rows, every name and value as plain Text (never markup)."""
    table = Table(show_header=True, header_style="bold")
    for name in result.column_names:
        table.add_column(Text(name), overflow="fold")
    for row in _rows(result.slice(0, max_rows)):
        cells = []
        for value in row.values():
            text = "NULL" if value is None else cell_text(value)
            cells.append(Text(text if len(text) <= max_width else text[: max_width - 1] + "…"))
        table.add_row(*cells)
    if result.num_rows > max_rows:
        table.caption = f"{max_rows} of {result.num_rows:,} rows shown; use --format csv|json|parquet for all"
    return table


def status_counts(lake: Lake) -> dict[str, int]:
    return {name: lake.count(name) for name in lake.table_names()}


def status_tables(lake: Lake) -> list[Table]:
    """Counts per table, runs per stage, pending work, quarantine reasons and the verdict breakdown."""
    counts = Table(title="tables", title_justify="left")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, n in status_counts(lake).items():
        counts.add_row(Text(name), f"{n:,}")
    counts.caption = Text(f"DuckLake snapshot {lake.snapshot_id()} at {lake.root}")

    runs = Table(title="stages", title_justify="left")
    for col in ("stage", "runs", "last run", "status", "finished (UTC)"):
        runs.add_column(col)
    for stage, n, run_id, status, finished in lake.rows(
            "SELECT stage, count(*), arg_max(run_id, started_at), arg_max(status, started_at), "
            "strftime(max(finished_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM runs GROUP BY stage ORDER BY min(started_at)"):
        if status == "partial" and lake.read_only:  # a reader opens only while no stage writes
            status = "interrupted (rerun it)"
        runs.add_row(Text(stage), str(n), Text(run_id), Text(status), finished or "")

    pending = Table(title="pending (what each stage run now with its defaults would process)",
                    title_justify="left")
    for col in ("stage", "counted against", "what"):
        pending.add_column(col)
    pending.add_column("pending", justify="right")
    for stage, key, n, what in pending_counts(lake):  # the stages' own queries (pipeline/pending.py)
        pending.add_row(Text(stage), Text(key), what, f"{n:,}")

    reasons = Table(title="quarantine reasons", title_justify="left")
    reasons.add_column("stage")
    reasons.add_column("reason")
    reasons.add_column("rows", justify="right")
    for stage, reason, n in lake.rows(
            "SELECT stage, regexp_replace(reason, '''[^'']*''', '''…''', 'g') r, count(*) FROM quarantine "
            "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 15"):
        reasons.add_row(Text(stage), Text(reason), f"{n:,}")
    return [counts, runs, pending, reasons, *verdict_tables(lake)]


def _clip(value, width: int = 40) -> Text:
    text = "NULL" if value is None else " ".join(str(value).split())
    return Text(text if len(text) <= width else text[: width - 1] + "…")


def _outcome_table(title: str, keys: list[str], rows: list[dict], outcomes: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for key in keys:
        table.add_column(key)
    for outcome in outcomes:
        table.add_column(outcome, justify="right")
    for row in rows:
        table.add_row(*(_clip(row[k]) for k in keys), *(f"{row[o]:,}" for o in outcomes))
    return table


def verdict_tables(lake: Lake) -> list[Table]:
    """Current verdicts (newest checker version) by source and teacher, by extraction method,
    and a few incorrect and unknown rows; nothing when the lake has no verdicts."""
    from pipeline.report.verdicts import verdict_breakdown

    b = verdict_breakdown(lake)
    if not b:
        return []
    by_source = _outcome_table("verdicts by source and teacher", ["source", "teacher"], b["by_source_teacher"],
                               b["outcomes"])
    by_source.caption = Text("current verdict per trajectory, from checker "
                             + ", ".join(f"{v} ({n:,})" for v, n in b["checker_versions"].items()))
    by_method = _outcome_table("verdicts by extraction method", ["method"], b["by_method"], b["outcomes"])
    tables = [by_source, by_method]
    if b["samples"]:
        sample = Table(title=f"sample of incorrect and unknown verdicts (first {b['sample_rows']} of each by id)",
                       title_justify="left")
        for col in ("outcome", "trajectory", "extracted", "reference", "method"):
            sample.add_column(col)
        for r in b["samples"]:
            sample.add_row(Text(r["outcome"]), Text(r["trajectory_id"]), _clip(r["extracted_answer"]),
                           _clip(r["reference"]), Text(r["method"]))
        tables.append(sample)
    return tables


def _format_for(fmt: Format | None, dest: str | None) -> Format:
    if fmt is not None:
        return fmt
    if dest is None or dest == "-":
        return Format.table
    return _SUFFIXES.get(Path(dest).suffix.lower(), Format.parquet)


def register(app: typer.Typer) -> None:
    @app.command("sql")
    def sql_command(
        query: Annotated[str, typer.Argument(help="One SELECT statement over the lake's tables and views.")],
        root: RootOpt = None,
        fmt: Annotated[Format | None, typer.Option(
            "--format", help="table (the terminal, first 50 rows), csv (list/struct values as JSON text), json "
                             "(one object per line) or parquet. Default: table, or from the --out suffix "
                             "(.csv, .json/.jsonl, else parquet).", show_default=False)] = None,
        dest: Annotated[str | None, typer.Option(
            "--out", help="File to write the result to; '-' or absent: standard output.")] = None,
    ) -> None:
        """Run one read-only SQL query (SELECT only) against the lake.

        Tables: problems, trajectories, verdicts, spans, tagged, strategies, runs, quarantine,
        llm_calls, reviews, curated; views: current_spans, current_strategies, correct_trajectories.
        Also: information_schema, DESCRIBE / SUMMARIZE, time travel (`FROM t AT (VERSION => n)`),
        range(), unnest() and DuckLake's snapshot listings (ducklake_snapshots('lake'), ...).
        Not: files, other databases, several statements, CALL / PRAGMA / SET / COPY / ATTACH,
        DuckLake maintenance functions.
        """
        fmt = _format_for(fmt, dest)
        to_stdout = dest is None or dest == "-"
        if fmt is Format.parquet and to_stdout and sys.stdout.isatty():
            fail("--format parquet writes binary: pass --out FILE (or pipe `--out -` into a file)")
        if fmt is Format.table and not to_stdout:
            fail("--format table prints to the terminal: use --format csv|json|parquet with --out")
        with lake_for(root, read_only=True) as lake:
            try:
                result = lake.select(query)
            except LakeError as exc:
                fail(str(exc))
        if fmt is Format.table:
            out.print(render_table(result))
        elif to_stdout:
            sys.stdout.flush()
            write_result(result, fmt, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(dest, "wb") as stream:
                    write_result(result, fmt, stream)
            except OSError as exc:
                fail(f"cannot write {dest}: {exc.strerror or exc}")
            out.print(Text(f"wrote {result.num_rows:,} rows to {dest}"))

    @app.command("status")
    def status_command(root: RootOpt = None,
                       as_json: Annotated[bool, typer.Option(
                           "--json", help="Counts and the verdict breakdown as JSON.")] = False) -> None:
        """Show row counts per table, runs per stage, pending work and quarantine reasons.

        Then the current verdicts (newest checker version) counted as correct / incorrect /
        unknown / no_reference by source and teacher and by extraction method, with the first
        incorrect and unknown rows (trajectory, extracted answer, reference, method). --json
        adds them under "verdicts".
        """
        with lake_for(root, read_only=True) as lake:
            where = {"catalog": lake.catalog.shown, "catalog_kind": lake.catalog.kind, "data_path": lake.data_path.url}
            if as_json:
                from pipeline.report.verdicts import verdict_breakdown

                print(json.dumps(status_counts(lake) | where | {"snapshot_id": lake.snapshot_id(),
                                                                "verdicts": plain(verdict_breakdown(lake))}, indent=2))
                return
            out.print(f"catalog: {where['catalog']} ({where['catalog_kind']}); data: {where['data_path']}",
                      highlight=False, markup=False)
            for table in status_tables(lake):
                out.print(table)

    lake_app = typer.Typer(help="The lake itself: move its catalog.", no_args_is_help=True)
    app.add_typer(lake_app, name="lake")

    @lake_app.command("migrate")
    def migrate_command(
        to: Annotated[str, typer.Option("--to", help="The new catalog: sqlite (<root>/catalog.sqlite), "
                                        "sqlite:/PATH or postgres://USER@HOST:PORT/DB[?schema=NAME] "
                                        "(password from PGPASSWORD).", show_default=False)],
        root: RootOpt = None,
    ) -> None:
        """Copy the lake's catalog to another place, every snapshot included (time travel keeps working).

        The data files stay where they are. The target must be new or empty; the old catalog is
        left as it was. Afterwards pass the new catalog (--catalog before the command, or
        $STRATAGEM_CATALOG); the lake root's own catalog.sqlite is found without it.
        """
        from warehouse.catalog import resolve_catalog
        from warehouse.migrate import migrate_catalog

        with lake_for(root, holder="lake migrate") as lake:
            try:
                target = resolve_catalog(lake.root, to)
                copied = migrate_catalog(lake, target)
            except LakeError as exc:
                fail(str(exc))
            source = lake.catalog.shown
        out.print(f"copied the catalog {source} -> {target.shown}: {copied.get('ducklake_snapshot', 0):,} snapshots, "
                  f"{copied.get('ducklake_data_file', 0):,} data files", highlight=False)
        if target.kind == "postgres" or (target.path is not None and target.path.parent != lake.root):
            out.print(f"use it with: stratagem --catalog '{target.shown}' ...  (or STRATAGEM_CATALOG)", highlight=False)
