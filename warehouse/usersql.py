"""The allow-list user SQL (`stratagem sql`) must pass before it runs, checked on DuckDB's own
parse tree (`extract_statements`, then `json_serialize_sql`), never on the SQL text:

- exactly one statement, and it is a SELECT (`WITH ... SELECT`, `FROM t`, DESCRIBE and
  SUMMARIZE included); CALL, PRAGMA, SET, ATTACH, COPY, INSTALL/LOAD, EXPLAIN, DML and DDL are not;
- every table it names is one of the lake's tables or views (`t`, `main.t`, `lake.t`,
  `lake.main.t`), `information_schema.*`, or a CTE in scope: no files by name, no other catalog
  (the DuckLake metadata included);
- table functions only from `TABLE_FUNCTIONS` (no read_*, glob, query, checkpoint,
  pragma_*, ducklake maintenance); scalar functions with side effects refused (`DENIED`).

The connection it then runs on is sandboxed as well (warehouse.connect.sandbox): this list
is the first wall, not the only one.

    statement = check_select(con, sql, lake_names)   # raises LakeError with one line

DuckDB's own errors (a parse error) come out as LakeQueryError, the kind `Lake`'s methods raise.
"""
from __future__ import annotations

import json

import duckdb

from warehouse.catalog import sql_literal
from warehouse.errors import LakeError, LakeQueryError, first_line

# read-only table functions over generated values or the lake's own snapshots
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "ducklake_snapshots", "ducklake_table_info",
                             "ducklake_table_changes", "ducklake_table_insertions", "ducklake_table_deletions",
                             "ducklake_current_snapshot", "ducklake_last_committed_snapshot"})
# side effects, or settings and environment that may hold credentials (s3_secret_access_key, ...)
DENIED = frozenset({"nextval", "currval", "setseed", "write_log", "current_setting", "getenv"})


def check_select(con: duckdb.DuckDBPyConnection, sql: str, lake_names: set[str]) -> str:
    """The one SELECT statement in `sql`, after the checks above; LakeError otherwise."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise LakeQueryError(first_line(exc)) from exc
    if not statements:
        raise LakeError("empty query")
    if len(statements) > 1:
        raise LakeError(f"one statement at a time: got {len(statements)} (run them one by one)")
    [statement] = statements
    if statement.type != duckdb.StatementType.SELECT:
        raise LakeError(f"only SELECT queries are allowed here, got {statement.type.name}")
    try:
        tree = json.loads(con.execute(f"SELECT json_serialize_sql({sql_literal(statement.query)})").fetchone()[0])
    except duckdb.Error as exc:
        raise LakeQueryError(first_line(exc)) from exc
    if tree.get("error"):  # a SELECT the serializer cannot express (PIVOT ...): unchecked, so refused
        raise LakeError(f"this query cannot be checked as a plain SELECT: {tree.get('error_message', '')}")
    _Checker({n.lower() for n in lake_names}).walk(tree["statements"], frozenset())
    return statement.query


class _Checker:
    def __init__(self, lake_names: set[str]):
        self.lake_names = lake_names

    def walk(self, node, scope: frozenset[str]) -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item, scope)
            return
        if not isinstance(node, dict):
            return
        ctes = (node.get("cte_map") or {}).get("map") or []
        names = [str(c["key"]).lower() for c in ctes]
        for i, cte in enumerate(ctes):  # a CTE sees itself (recursive) and the ones before it
            self.walk(cte["value"], scope | frozenset(names[: i + 1]))
        scope = scope | frozenset(names)
        kind = node.get("type")
        if kind == "BASE_TABLE":
            self._table(node, scope)
        elif kind == "TABLE_FUNCTION":
            name = str((node.get("function") or {}).get("function_name", "")).lower()
            if name not in TABLE_FUNCTIONS:
                raise LakeError(f"table function {name}() is not allowed here: only the lake's tables and views, "
                                f"and {', '.join(sorted(TABLE_FUNCTIONS))}")
            self.walk((node.get("function") or {}).get("children"), scope)  # its arguments
        if node.get("class") in ("FUNCTION", "WINDOW"):
            name = str(node.get("function_name", "")).lower()
            if name in DENIED or name.startswith("ducklake_"):
                raise LakeError(f"function {name}() is not allowed here")
        skip = ("cte_map", "function") if kind == "TABLE_FUNCTION" else ("cte_map",)
        for key, value in node.items():
            if key not in skip and isinstance(value, (dict, list)):
                self.walk(value, scope)

    def _table(self, node: dict, scope: frozenset[str]) -> None:
        catalog, schema = node.get("catalog_name", "").lower(), node.get("schema_name", "").lower()
        name = node.get("table_name", "").lower()
        if not catalog and not schema and name in scope:
            return
        if catalog in ("", "lake") and schema == "information_schema":
            return
        in_lake = (catalog, schema) in (("", ""), ("", "main"), ("", "lake"), ("lake", ""), ("lake", "main"))
        if in_lake and name in self.lake_names:  # `lake.t` names the catalog, `main.t` its schema
            return
        shown = ".".join(p for p in (node.get("catalog_name"), node.get("schema_name"), node.get("table_name")) if p)
        raise LakeError(f"{shown!r} is not one of the lake's tables or views (files and other catalogs "
                        "cannot be read here); see `stratagem sql --help`")
