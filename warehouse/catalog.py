"""Where a lake's DuckLake catalog lives: `--catalog` / `$STRATAGEM_CATALOG`, else the lake root's.

    catalog = resolve_catalog(root, None)            # the root's: catalog.sqlite (or an older catalog.ducklake)
    catalog = resolve_catalog(root, "sqlite:/data/lake.sqlite")
    catalog = resolve_catalog(root, "postgres://stratagem@db.example:5432/lakes?schema=team_a")
    catalog.attach_sql(data_path, read_only=True)    # the ATTACH statement; catalog.shown is safe to print

Kinds:
- sqlite (the embedded default, `<root>/catalog.sqlite`): a SQLite file in WAL mode. Readers
  (`status`, `sql`, `report`) attach it read-only and run while a stage writes; one writer at
  a time (two SQLite writers whose transactions overlap fail to commit: DuckLake does not retry
  that), which `writer.lock` enforces.
- duckdb (`<root>/catalog.ducklake`, the default before SQLite; a lake that has only this file
  keeps it): one process at a time, readers included (DuckDB locks the file).
- postgres (`postgres://USER@HOST:PORT/DB[?schema=NAME]`): several processes read and write at
  once; DuckLake retries conflicting commits. The password comes from the environment
  (`PGPASSWORD`, or a password in the URL, which is never printed or stored).

Every kind needs its scanner extension loaded before the ATTACH (`extensions`); the wheels
`duckdb-ext-sqlite` and `duckdb-ext-postgres` ship them (warehouse/connect.py loads them).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from warehouse.errors import LakeError

SQLITE_FILE = "catalog.sqlite"
DUCKDB_FILE = "catalog.ducklake"
CATALOG_FILES = (SQLITE_FILE, DUCKDB_FILE)  # a folder holding one of these is a lake root
CATALOG_ENV = "STRATAGEM_CATALOG"
KINDS = ("sqlite", "duckdb", "postgres")


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal (ATTACH and SET take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Catalog:
    """A resolved catalog: `kind` (sqlite | duckdb | postgres), `location` (a file path, or the
    libpq connection string, password included), `shown` (what may be printed and stored),
    `schema` (postgres: the schema holding this lake's metadata tables)."""

    kind: str
    location: str
    shown: str
    schema: str | None = None

    @property
    def path(self) -> Path | None:
        """The catalog file (sqlite, duckdb), None for a server."""
        return Path(self.location) if self.kind in ("sqlite", "duckdb") else None

    @property
    def extensions(self) -> tuple[str, ...]:
        return {"sqlite": ("sqlite_scanner",), "postgres": ("postgres_scanner",)}.get(self.kind, ())

    @property
    def shared(self) -> bool:
        """Several processes may write at once (DuckLake retries conflicting commits)."""
        return self.kind == "postgres"

    def exists(self) -> bool:
        """Whether the catalog is there (a server catalog is assumed to be: ATTACH says otherwise)."""
        return self.path.is_file() if self.path is not None else True

    @property
    def metadata_schema(self) -> str:
        """The schema of the metadata database holding this lake's ducklake_* tables."""
        return self.schema or ("public" if self.kind == "postgres" else "main")

    def attach_sql(self, data_path: str, *, read_only: bool, alias: str = "lake") -> str:
        target = {"sqlite": "sqlite:", "duckdb": "", "postgres": "postgres:"}[self.kind] + self.location
        opts = [f"DATA_PATH {sql_literal(data_path)}", "OVERRIDE_DATA_PATH true"]
        if self.kind == "sqlite" and not read_only:
            opts.append("META_JOURNAL_MODE 'wal'")  # readers never wait for the writer (and it for them)
        if self.schema:
            opts.append(f"METADATA_SCHEMA {sql_literal(self.schema)}")
        if read_only:
            opts.append("READ_ONLY")
        return f"ATTACH {sql_literal('ducklake:' + target)} AS {alias} ({', '.join(opts)})"


def resolve_catalog(root: Path, spec: str | None = None) -> Catalog:
    """The catalog `spec` names (module docstring), else `$STRATAGEM_CATALOG`, else the root's:
    `catalog.sqlite`, or `catalog.ducklake` where a lake has only that."""
    spec = (spec if spec is not None else os.environ.get(CATALOG_ENV, "")).strip()
    if spec in ("", "sqlite", "duckdb"):
        kind = spec or ("duckdb" if (root / DUCKDB_FILE).is_file() and not (root / SQLITE_FILE).exists()
                        else "sqlite")
        path = root / (SQLITE_FILE if kind == "sqlite" else DUCKDB_FILE)
        return Catalog(kind, str(path), str(path))
    if spec.startswith("sqlite:"):
        path = Path(spec[len("sqlite:"):]).expanduser().resolve()
        return Catalog("sqlite", str(path), str(path))
    if spec.startswith(("postgres://", "postgresql://")):
        return _postgres(spec)
    raise LakeError(f"catalog {spec!r}: expected sqlite, duckdb, sqlite:/PATH or postgres://USER@HOST:PORT/DB")


def _postgres(url: str) -> Catalog:
    parts = urlsplit(url)
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not dbname:
        raise LakeError("a postgres catalog is postgres://USER@HOST:PORT/DB[?schema=NAME]")
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - {"schema"}
    if unknown:
        raise LakeError(f"postgres catalog: unknown option {', '.join(sorted(unknown))} (known: schema)")
    fields = {"dbname": dbname, "host": parts.hostname, "port": str(parts.port or 5432),
              "user": unquote(parts.username or "")}
    if parts.password:
        fields["password"] = unquote(parts.password)
    conninfo = " ".join(f"{k}={_conninfo_value(v)}" for k, v in fields.items() if v)
    user = f"{fields['user']}@" if fields["user"] else ""
    shown = f"postgres://{user}{parts.hostname}:{fields['port']}/{dbname}" + (
        f"?schema={query['schema']}" if "schema" in query else "")
    return Catalog("postgres", conninfo, shown, query.get("schema"))


def _conninfo_value(value: str) -> str:
    """A libpq key=value value, quoted when it holds spaces, quotes or backslashes."""
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
