"""The Lake: one DuckDB connection with the DuckLake catalog attached as `lake`.

Layout under the root (`--root`, `$STRATAGEM_ROOT`, default `./stratagem-data`):

    catalog.ducklake    DuckDB file holding the DuckLake catalog (snapshots, file lists)
    data/               Parquet data files written by DuckLake
    writer.lock         held (fcntl) by the one process allowed to write; names its holder
    cache/              content-addressed caches (LLM responses), owned by the stages

Tables are created from `schemas` (never inferred from data) and gain new columns when the
models grow. A writer holds `writer.lock` for its whole life, so a second writer fails at
open with a one-line message naming the holder instead of touching the lake.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa

from schemas import SCHEMA_VERSION, TABLES, arrow_schema

DEFAULT_ROOT = "stratagem-data"
_SQL_DIR = Path(__file__).with_name("sql")


class LakeError(RuntimeError):
    """A lake that cannot be used, with a one-line reason meant for the user."""


class LakeBusy(LakeError):
    """Another process holds the lake for writing."""


def resolve_root(root: str | Path | None) -> Path:
    return Path(root or os.environ.get("STRATAGEM_ROOT") or DEFAULT_ROOT).expanduser().resolve()


def _ducklake_extension() -> str | None:
    """Path of the extension shipped by the `duckdb-ext-ducklake` wheel, if installed."""
    try:
        import duckdb_ext  # type: ignore[import-not-found]
    except ImportError:
        return None
    base = Path(next(iter(duckdb_ext.__path__)))
    hits = glob.glob(str(base / "extensions" / f"v{duckdb.__version__}" / "*" / "ducklake.duckdb_extension"))
    return hits[0] if hits else None


def _duck_type(dtype: pa.DataType) -> str:
    if pa.types.is_string(dtype):
        return "VARCHAR"
    if pa.types.is_int64(dtype):
        return "BIGINT"
    if pa.types.is_float64(dtype):
        return "DOUBLE"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ"
    if pa.types.is_list(dtype):
        return _duck_type(dtype.value_type) + "[]"
    if pa.types.is_struct(dtype):
        return "STRUCT(" + ", ".join(f'"{f.name}" {_duck_type(f.type)}' for f in dtype) + ")"
    raise TypeError(f"no DuckDB type for {dtype}")


def _check_table(name: str) -> None:
    if name not in TABLES:
        raise LakeError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")


class Lake:
    """A DuckLake warehouse at `root`. Use `Lake.open(root)` as a context manager."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, read_only: bool, lock_fd: int | None):
        self.root = root
        self.con = con
        self.read_only = read_only
        self._lock_fd = lock_fd
        self._in_transaction = False
        self.orphans_removed = 0  # data files of killed writers removed when this writer opened

    # ---------------------------------------------------------------- open / close
    @classmethod
    def open(cls, root: str | Path | None = None, *, read_only: bool = False, holder: str = "") -> "Lake":
        root = resolve_root(root)
        catalog = root / "catalog.ducklake"
        if read_only and not catalog.exists():
            raise LakeError(f"no lake at {root} (run `stratagem sample` + `stratagem ingest`, or pass --root)")
        lock_fd = None
        if not read_only:
            root.mkdir(parents=True, exist_ok=True)
            lock_fd = _acquire_writer_lock(root, holder)
        try:
            con = _connect(root, read_only)
        except duckdb.Error as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            if "lock" in str(exc).lower() or "already attached" in str(exc):
                raise LakeBusy(_busy_message(root)) from exc
            raise LakeError(f"cannot open lake at {root}: {str(exc).splitlines()[0]}") from exc
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        lake = cls(root, con, read_only, lock_fd)
        if not read_only:
            lake._ensure_tables()
            lake.orphans_removed = lake._delete_orphaned_files()
        return lake

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> "Lake":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- schema
    def _ensure_tables(self) -> None:
        """Create missing tables and columns (the models gained a field) and the views; an
        up-to-date lake is left as it is, so opening a writer adds no snapshot."""
        columns: dict[str, set[str]] = {}
        for table, column in self.con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                              "WHERE table_catalog = 'lake'").fetchall():
            columns.setdefault(table, set()).add(column)
        changes: list[str] = []
        for name, model in TABLES.items():
            schema = arrow_schema(model)
            if name not in columns:
                changes.append(f"CREATE TABLE lake.{name} (" + ", ".join(f'"{f.name}" {_duck_type(f.type)}'
                                                                         for f in schema) + ")")
            else:
                changes += [f'ALTER TABLE lake.{name} ADD COLUMN "{f.name}" {_duck_type(f.type)}'
                            for f in schema if f.name not in columns[name]]
        views = "\n".join(f.read_text() for f in sorted(_SQL_DIR.glob("*.sql")))
        views_sha = hashlib.sha256(views.encode()).hexdigest()
        stored = self.scalar("SELECT value FROM lake.meta WHERE key = 'views_sha256'") if "meta" in columns else None
        if not changes and stored == views_sha:
            return
        with self.transaction():
            for sql in changes:
                self.con.execute(sql)
            if "meta" not in columns:
                self.con.execute("CREATE TABLE lake.meta (key VARCHAR, value VARCHAR)")
                self.con.execute("INSERT INTO lake.meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            self.con.execute(views)
            self.con.execute("DELETE FROM lake.meta WHERE key = 'views_sha256'")
            self.con.execute("INSERT INTO lake.meta VALUES ('views_sha256', ?)", [views_sha])

    def _delete_orphaned_files(self) -> int:
        """Remove data files no snapshot references: what a writer killed between writing a
        Parquet file and committing it leaves behind. Safe here: this process holds the writer
        lock, so no other writer has files in flight."""
        return len(self.con.execute("CALL ducklake_delete_orphaned_files('lake', cleanup_all => true)").fetchall())

    # ---------------------------------------------------------------- transactions
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckLake snapshot: everything inside commits together or not at all."""
        if self._in_transaction:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self.con.execute("ROLLBACK")
            raise
        self._in_transaction = False
        self.con.execute("COMMIT")

    def commit_and_continue(self) -> None:
        """Inside a transaction: commit what is there and open a new one (batched stages)."""
        if self._in_transaction:
            self.con.execute("COMMIT")
            self.con.execute("BEGIN TRANSACTION")

    # ---------------------------------------------------------------- reads
    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        return self.con.execute(sql, params or []).fetch_arrow_table()

    def rows(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | dict | None = None):
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def select(self, sql: str) -> pa.Table:
        """Run user-supplied SQL that must consist of SELECT statements only, on a lake opened
        read-only (sandboxed: no files outside the lake, no writes through table functions)."""
        if not self.read_only:
            raise LakeError("user SQL runs only on a lake opened read-only (Lake.open(root, read_only=True))")
        try:
            statements = self.con.extract_statements(sql)
        except duckdb.Error as exc:
            raise LakeError(str(exc).splitlines()[0]) from exc
        if not statements:
            raise LakeError("empty query")
        for st in statements:
            if st.type != duckdb.StatementType.SELECT:
                raise LakeError(f"only SELECT queries are allowed here, got {st.type.name}")
        try:
            return self.con.execute(sql).fetch_arrow_table()
        except duckdb.Error as exc:
            raise LakeError(str(exc).splitlines()[0]) from exc

    def snapshot_id(self) -> int:
        return int(self.scalar("SELECT id FROM lake.current_snapshot()"))

    def count(self, table: str) -> int:
        _check_table(table)
        return int(self.scalar(f"SELECT count(*) FROM lake.{table}"))

    # ---------------------------------------------------------------- writes
    def _conform(self, table: str, data: pa.Table) -> pa.Table:
        """`data` with exactly the table's columns and Arrow types (the schema from the model)."""
        _check_table(table)
        if self.read_only:
            raise LakeError("lake opened read-only")
        schema = arrow_schema(TABLES[table])
        return data.select(schema.names).cast(schema)

    def insert(self, table: str, data: pa.Table, *, skip_existing: bool = True) -> int:
        """Append rows conforming to the table's Arrow schema; returns how many were new.

        With `skip_existing`, rows whose key is already stored (or repeated earlier in
        `data`) are skipped: this is what makes every stage idempotent.
        """
        data = self._conform(table, data)
        if data.num_rows == 0:
            return 0
        self.con.register("_incoming", data)
        try:
            cols = ", ".join(f'"{n}"' for n in data.column_names)
            if skip_existing:
                key = TABLES[table].key
                on = " AND ".join(f't."{k}" IS NOT DISTINCT FROM i."{k}"' for k in key)
                keys = ", ".join(f'"{k}"' for k in key)
                incoming = "_incoming" if _unique_key(data, key) else \
                    f"(SELECT * FROM _incoming QUALIFY row_number() OVER (PARTITION BY {keys}) = 1)"
                sql = (f"INSERT INTO lake.{table} ({cols}) "
                       f"SELECT {cols} FROM {incoming} i "
                       f"WHERE NOT EXISTS (SELECT 1 FROM lake.{table} t WHERE {on})")
            else:
                sql = f"INSERT INTO lake.{table} ({cols}) SELECT {cols} FROM _incoming"
            with self.transaction():
                return int(self.con.execute(sql).fetchone()[0])
        finally:
            self.con.unregister("_incoming")

    def append_file(self, table: str, data: pa.Table) -> int:
        """Append rows as they are (no key check): one Parquet file written by pyarrow into the
        table's folder under `data/` and added to the catalog (`ducklake_add_data_files`), in
        the current transaction. Same result as `insert(..., skip_existing=False)`, several
        times faster for large batches of text (DuckDB's Parquet writer is the slow part)."""
        import uuid

        import pyarrow.parquet as pq

        data = self._conform(table, data)
        if data.num_rows == 0:
            return 0
        folder = self.root / "data" / "main" / table
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ducklake-{uuid.uuid4()}.parquet"
        try:
            pq.write_table(data, path, compression="snappy", use_dictionary=_repetitive_columns(data))
            with self.transaction():
                self.con.execute("CALL ducklake_add_data_files('lake', ?, ?)", [table, str(path)])
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return data.num_rows

    def run(self, stage: str, config: dict | None = None):
        """Context manager for one stage run: outputs + `runs` row in one transaction."""
        from warehouse.runs import RunContext

        return RunContext.start(self, stage, config or {})


def _unique_key(data: pa.Table, key: tuple[str, ...]) -> bool:
    """True when a one-column key has no repeats in `data` (then no dedup window is needed)."""
    if len(key) != 1:
        return False
    import pyarrow.compute as pc

    return pc.count_distinct(data.column(key[0]), mode="all").as_py() == data.num_rows


def _repetitive_columns(data: pa.Table, sample: int = 1000) -> list[str]:
    """Columns worth dictionary-encoding: few distinct values in the first rows (ids and texts
    are not, and trying costs a hash of every value)."""
    import pyarrow.compute as pc

    head = data.slice(0, sample)
    return [name for name in data.column_names
            if pc.count_distinct(head.column(name), mode="all").as_py() * 10 <= head.num_rows]


def _connect(root: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    ext = _ducklake_extension()
    if ext:
        con.execute(f"LOAD '{ext}'")
    else:  # no wheel: the normal path, needs the extension repository once
        con.execute("INSTALL ducklake")
        con.execute("LOAD ducklake")
    data_path = str(root / "data") + "/"
    # The data folder is always <root>/data: a moved or copied root keeps working
    # (DuckLake stores data file paths relative to it).
    opts = f"DATA_PATH '{_sql_literal(data_path)}', OVERRIDE_DATA_PATH true" + (", READ_ONLY" if read_only else "")
    con.execute(f"ATTACH 'ducklake:{_sql_literal(str(root / 'catalog.ducklake'))}' AS lake ({opts})")
    con.execute("USE lake")
    if read_only:  # sandbox: no file access outside the lake's data, no way back out
        con.execute("SET allowed_directories=[?]", [data_path])
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
    return con


def _sql_literal(text: str) -> str:
    """Escape a path for a SQL string literal (ATTACH takes no parameters)."""
    return text.replace("'", "''")


def _acquire_writer_lock(root: Path, holder: str) -> int:
    fd = os.open(root / "writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LakeBusy(_busy_message(root)) from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "holder": holder, "since": time.time()}).encode())
    return fd


def _busy_message(root: Path) -> str:
    try:
        info = json.loads((root / "writer.lock").read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    who = f"pid {info.get('pid', '?')}" + (f", {info['holder']}" if info.get("holder") else "")
    return f"lake {root} is busy: another stratagem process ({who}) is writing; retry when it finishes"

