"""Move a lake's catalog to another place (`stratagem lake migrate --to URL`), snapshot history
included: DuckLake's metadata tables (`ducklake_snapshot`, `ducklake_data_file`, ...) are copied
row for row into a fresh catalog of the target kind, in one transaction. The data files stay
where they are (the target records the same data path), so every snapshot, and time travel to
it, reads as before. `COPY FROM DATABASE` would copy only the current state.

    with Lake.open(root) as lake:                       # the writer: nothing changes meanwhile
        copied = migrate_catalog(lake, resolve_catalog(root, "postgres://me@db:5432/lakes"))

The target must be new or empty (a fresh catalog, snapshot 0 and no table): a catalog that
holds a lake is never overwritten. The source is left as it was.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from warehouse.catalog import Catalog, sql_literal
from warehouse.connect import load_extension
from warehouse.errors import LakeError, first_line

if TYPE_CHECKING:
    from warehouse.lake import Lake

_SOURCE = "__ducklake_metadata_lake"  # where DuckLake attaches the lake's own metadata database
_TARGET = "stratagem_migrate_target"


def _metadata_attach(catalog: Catalog) -> str:
    """ATTACH of the target's metadata database itself (not as a DuckLake)."""
    kind = {"sqlite": "TYPE sqlite", "postgres": "TYPE postgres", "duckdb": ""}[catalog.kind]
    return f"ATTACH {sql_literal(catalog.location)} AS {_TARGET}" + (f" ({kind})" if kind else "")


def _tables(con, database: str, schema: str) -> dict[str, list[str]]:
    rows = con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ? "
                       "AND schema_name = ? AND table_name LIKE 'ducklake%' ORDER BY table_name, column_index",
                       [database, schema]).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def migrate_catalog(lake: Lake, target: Catalog) -> dict[str, int]:
    """Copy `lake`'s catalog into `target`; returns rows copied per metadata table."""
    source = lake.catalog
    if (target.kind, target.location, target.schema) == (source.kind, source.location, source.schema):
        raise LakeError(f"the lake's catalog is already {target.shown}")
    if lake.read_only:
        raise LakeError("migrating needs the lake opened for writing (nothing may change meanwhile)")
    con = lake._con
    data_path = lake.data_path.url  # the target stores the same data path (an s3:// one included)
    try:
        for name in target.extensions:
            load_extension(con, name)
        con.execute(target.attach_sql(data_path, read_only=False, alias="stratagem_new_lake"))
        fresh = con.execute("SELECT max(snapshot_id) = 0 FROM ducklake_snapshots('stratagem_new_lake')").fetchone()[0]
        tables_there = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'stratagem_new_lake'"
                                   ).fetchone()[0]
        con.execute("DETACH stratagem_new_lake")
        if not fresh or tables_there:
            raise LakeError(f"{target.shown} already holds a lake; migrate into a new or empty catalog")
        con.execute(_metadata_attach(target))
        try:
            src_schema, dst_schema = source.metadata_schema, target.metadata_schema
            src, dst = _tables(con, _SOURCE, src_schema), _tables(con, _TARGET, dst_schema)
            if set(src) != set(dst):
                raise LakeError("the two catalogs have different metadata tables: "
                                f"{', '.join(sorted(set(src) ^ set(dst)))} (DuckLake versions differ?)")
            copied = {}
            con.execute("BEGIN TRANSACTION")
            try:
                for table, columns in sorted(dst.items()):
                    cols = ", ".join(f'"{c}"' for c in columns if c in src[table])
                    con.execute(f'DELETE FROM {_TARGET}."{dst_schema}"."{table}"')
                    con.execute(f'INSERT INTO {_TARGET}."{dst_schema}"."{table}" ({cols}) '
                                f'SELECT {cols} FROM {_SOURCE}."{src_schema}"."{table}"')
                    copied[table] = con.execute(
                        f'SELECT count(*) FROM {_TARGET}."{dst_schema}"."{table}"').fetchone()[0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.execute(f"DETACH {_TARGET}")
    except duckdb.Error as exc:
        raise LakeError(f"cannot migrate to {target.shown}: {first_line(exc)}") from exc
    return copied
