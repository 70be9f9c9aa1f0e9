"""The Lake: one DuckDB connection with the DuckLake catalog attached as `lake`, kept private
(`Lake._con`, touched only inside `warehouse/`; tests/test_warehouse_boundary.py checks).

Layout under the root (`--root`, `$STRATAGEM_ROOT`, default `./stratagem-data`):

    catalog.sqlite      the DuckLake catalog (snapshots, tables, file lists), a SQLite file in WAL
                        mode: readers run while a stage writes (catalog.ducklake, a DuckDB file,
                        in lakes made before; --catalog puts it elsewhere, warehouse/catalog.py)
    data/               Parquet data files written by DuckLake (or an s3:// prefix: --data-path,
                        warehouse/datapath.py)
    writer.lock         held (fcntl) by the one process allowed to write; names its holder
    writer-<stage>-<I>of<N>.lock   a shard worker's own lock on a postgres catalog (`--shard I/N`;
                        it holds writer.lock shared, beside the other shard workers)
    cache/              content-addressed caches (LLM responses), owned by the stages

Tables are created from `schemas` (never inferred from data) and gain new columns when the
models grow. A writer holds `writer.lock` for its whole life, so a second writer fails at
open with a one-line message naming the holder instead of touching the lake. On a catalog that
takes several writers (postgres) shard workers of any stages write at once (`lock_name`).

What stages use:

    query(sql, params) / rows(...) / scalar(...)   any statement, values as parameters
    select(user_sql)                  one user SELECT through the allow-list (read-only lake)
    temp_table(name, arrow)           an Arrow table readable in SQL as `name` inside a `with`
    transaction() / commit_and_continue()          one snapshot; batched stages commit as they go
    insert(table, arrow) / append_file(table, arrow)   new rows (skipping stored keys) / as they are
    replace(table, arrow)             rows in place of the stored rows with the same key
    supersede(table, marks)           `superseded_by` set on the stored rows each mark names
    update(table, values, where)      columns set on the rows equal to `where`
    run(stage, config)                a stage run: outputs + `runs` row in one transaction

Every DuckDB error leaves these methods as a one-line `LakeQueryError` (a `LakeError`) with
DuckDB's error as its `__cause__`; table and column names are checked against `schemas`, and
every value goes to DuckDB as a parameter or an Arrow table, never as SQL text.

Beside this file: connect.py (the DuckDB connection, its read-only sandbox, the writer lock),
orphans.py (a writer's cleanup of unreferenced data files, by exact path), usersql.py (the
allow-list user SQL passes), errors.py (LakeError, and one-line messages for storage failures).
"""
from __future__ import annotations

import hashlib
import os
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from warehouse.catalog import CATALOG_FILES, Catalog, resolve_catalog
from warehouse.connect import (
    acquire_shard_lock, acquire_writer_lock, busy_message, connect, lock_catalog_file, release_writer_lock,
)
from warehouse.datapath import DataPath, resolve_data_path
from warehouse.errors import LakeBusy, LakeError, LakeQueryError, first_line

if TYPE_CHECKING:  # pyarrow and schemas load on first write: `stratagem status` needs neither
    import pyarrow as pa

DEFAULT_ROOT = "stratagem-data"
_SQL_DIR = Path(__file__).with_name("sql")
__all__ = ["DEFAULT_ROOT", "Lake", "LakeBusy", "LakeError", "LakeQueryError", "resolve_root"]


def resolve_root(root: str | Path | None) -> Path:
    return Path(root or os.environ.get("STRATAGEM_ROOT") or DEFAULT_ROOT).expanduser().resolve()


def _duck_type(dtype: pa.DataType) -> str:
    import pyarrow as pa

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
    from schemas import TABLES

    if name not in TABLES:
        raise LakeError(f"unknown table {name!r}; tables are {', '.join(TABLES)}")


def _table_schema(table: str, columns: list[str] | None = None) -> pa.Schema:
    """The Arrow schema of `table` (from its model), or of just `columns` of it; LakeError for an
    unknown table or column."""
    import pyarrow as pa

    from schemas import TABLES, arrow_schema

    _check_table(table)
    schema = arrow_schema(TABLES[table])
    if columns is None:
        return schema
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise LakeError(f"table {table!r} has no column {', '.join(map(repr, unknown))}")
    return pa.schema([schema.field(c) for c in columns])


@contextmanager
def _engine_errors() -> Iterator[None]:
    """DuckDB errors raised inside the block leave it as LakeQueryError (one line; DuckDB's error
    as the cause, where `storage_message` still finds a full disk)."""
    try:
        yield
    except duckdb.Error as exc:
        raise LakeQueryError(first_line(exc)) from exc


class Lake:
    """A DuckLake warehouse at `root`. Use `Lake.open(root)` as a context manager."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, read_only: bool, lock_fd: int | None,
                 catalog: Catalog | None = None):
        self.root = root
        self.catalog = catalog or resolve_catalog(root)
        self.data_path = resolve_data_path(root, "")  # where the data files are; Lake.open sets it
        self._con = con
        self.read_only = read_only
        self._lock_fd = lock_fd
        self._catalog_fd: int | None = None  # the writer's flock on a SQLite catalog file
        self._shared_fd: int | None = None  # a shard worker's shared hold on writer.lock
        self._in_transaction = False
        self.orphans_removed = 0  # data files of killed writers removed when this writer opened
        self._tables: list[str] | None = None

    # ---------------------------------------------------------------- open / close
    @classmethod
    def open(cls, root: str | Path | None = None, *, read_only: bool = False, holder: str = "",
             catalog: str | None = None, data_path: str | None = None, lock_name: str | None = None) -> "Lake":
        """The lake at `root` (resolve_root), its catalog where `catalog` (else $STRATAGEM_CATALOG,
        else the root) says: warehouse/catalog.py; its data files where `data_path` (else
        $STRATAGEM_DATA_PATH, else <root>/data/) says: warehouse/datapath.py.

        `lock_name` is a shard worker's own lock file (e.g. writer-annotate-0of2.lock), used where
        the catalog takes several writers (postgres): the worker holds it exclusively and
        writer.lock shared, so workers of other shards and stages write at once while a
        whole-lake writer waits; on other catalogs every writer holds writer.lock exclusively."""
        root = resolve_root(root)
        if "?" in str(root):  # DuckDB reads what follows a `?` in a database path as options
            raise LakeError(f"a lake root cannot contain '?' (DuckDB cannot open such a path): {root}")
        where = resolve_catalog(root, catalog)
        data = resolve_data_path(root, data_path)
        if read_only and not where.exists():
            other = [name for name in CATALOG_FILES if (root / name).is_file()]
            if other:  # a lake is there, with another catalog than the one asked for
                raise LakeError(f"no {where.kind} catalog at {where.shown}: the lake at {root} has {other[0]} "
                                "(leave out --catalog / STRATAGEM_CATALOG, or migrate: stratagem lake migrate)")
            raise LakeError(f"no lake at {root} (run `stratagem sample` + `stratagem ingest`, or pass --root)")
        lock_fd = shared_fd = None
        if not read_only:
            root.mkdir(parents=True, exist_ok=True)
            if lock_name and where.shared:
                shared_fd, lock_fd = acquire_shard_lock(root, holder, lock_name)
            else:
                lock_fd, lock_name = acquire_writer_lock(root, holder), None

        def release(forget: bool = False) -> None:  # a lake we did not get must not name us as its writer
            if lock_fd is not None:
                release_writer_lock(lock_fd, forget=forget)
            if shared_fd is not None:
                os.close(shared_fd)
        try:
            con, data = _connect(root, read_only, where, data)
        except duckdb.Error as exc:
            busy = "lock" in str(exc).lower() or "already attached" in str(exc)
            release(forget=busy)
            if busy:
                raise LakeBusy(busy_message(root, lock_name or "writer.lock")) from exc
            raise LakeError(f"cannot open lake at {root} (catalog {where.shown}): {first_line(exc)}") from exc
        except BaseException:
            release()
            raise
        catalog_fd = None
        if not read_only and where.kind == "sqlite":
            catalog_fd = lock_catalog_file(where.path)
            if catalog_fd is None:  # writer.lock was deleted under a running writer
                con.close()
                release_writer_lock(lock_fd, forget=True)
                raise LakeBusy(busy_message(root))
        lake = cls(root, con, read_only, lock_fd, where)
        lake._catalog_fd, lake._shared_fd = catalog_fd, shared_fd
        lake.data_path = data
        if not read_only:
            try:
                lake._ensure_tables()
                if not where.shared:  # with several writers, another one's files may be in flight
                    lake.orphans_removed = lake._delete_orphaned_files()
            except BaseException:
                lake.close()
                raise
        return lake

    def close(self) -> None:
        try:
            self._con.close()
        finally:
            for fd in (self._catalog_fd, self._lock_fd, self._shared_fd):
                if fd is not None:
                    os.close(fd)
            self._catalog_fd = self._lock_fd = self._shared_fd = None

    def __enter__(self) -> "Lake":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- schema
    def _ensure_tables(self) -> None:
        """Create missing tables and columns (the models gained a field; a column named in the
        model's `backfill` is filled for the rows already stored) and the views; an up-to-date
        lake is left as it is, so opening a writer adds no snapshot.

        On a catalog several processes write (postgres), workers that open a new or older lake
        at once may all find the same change missing; DuckLake does not retry a conflicting
        schema change (two CREATE TABLEs of one name), so the losers' commits fail. Each then
        looks again, after a short random wait, and finds nothing left to do (or makes what is
        still missing): up to SCHEMA_TRIES looks. `stratagem run` also opens the lake once
        before it starts its shards, so they normally find the schema up to date."""
        for attempt in range(SCHEMA_TRIES if self.catalog.shared else 1):
            try:
                return self._make_missing_tables()
            except LakeQueryError:
                if attempt == SCHEMA_TRIES - 1 or not self.catalog.shared:
                    raise
                self._rollback_failed_commit()
                time.sleep(0.1 * (attempt + 1) + random.random() * 0.2)

    def _rollback_failed_commit(self) -> None:
        try:
            self._con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # no transaction left open: the failed COMMIT ended it

    def _make_missing_tables(self) -> None:
        from schemas import SCHEMA_VERSION, TABLES, arrow_schema

        columns: dict[str, set[str]] = {}
        for table, column in self.rows("SELECT table_name, column_name FROM information_schema.columns "
                                       "WHERE table_catalog = 'lake'"):
            columns.setdefault(table, set()).add(column)
        changes: list[str] = []
        for name, model in TABLES.items():
            schema = arrow_schema(model)
            if name not in columns:
                changes.append(f"CREATE TABLE lake.{name} (" + ", ".join(f'"{f.name}" {_duck_type(f.type)}'
                                                                         for f in schema) + ")")
            else:
                added = [f for f in schema if f.name not in columns[name]]
                changes += [f'ALTER TABLE lake.{name} ADD COLUMN "{f.name}" {_duck_type(f.type)}' for f in added]
                backfill = getattr(model, "backfill", {})
                changes += [f'UPDATE lake.{name} SET "{f.name}" = {backfill[f.name]}'
                            for f in added if f.name in backfill]
        views = "\n".join(f.read_text() for f in sorted(_SQL_DIR.glob("*.sql")))
        views_sha = hashlib.sha256(views.encode()).hexdigest()
        stored = self.scalar("SELECT value FROM lake.meta WHERE key = 'views_sha256'") if "meta" in columns else None
        if not changes and stored == views_sha:
            return
        with self.transaction():
            for sql in changes:
                self._execute(sql)
            if "meta" not in columns:
                self._execute("CREATE TABLE lake.meta (key VARCHAR, value VARCHAR)")
                self._execute("INSERT INTO lake.meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            self._execute(views)
            self._execute("DELETE FROM lake.meta WHERE key IN ('views_sha256', 'table_order')")
            self._execute("INSERT INTO lake.meta VALUES ('views_sha256', ?), ('table_order', ?)",
                          [views_sha, " ".join(TABLES)])

    def _delete_orphaned_files(self) -> int:
        """Remove data files no snapshot references: what a writer killed between writing a
        Parquet file and committing it leaves behind. Exact paths under <root>/data, never a
        pattern (warehouse.orphans). Safe here: this process holds the writer lock, so no other
        writer has files in flight. Not on an s3:// data path (0): warehouse.orphans says why."""
        from warehouse.orphans import delete_orphaned_files

        local = self.data_path.local
        return delete_orphaned_files(self, local) if local is not None else 0

    # ---------------------------------------------------------------- transactions
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckLake snapshot: everything inside commits together or not at all."""
        if self._in_transaction:
            yield
            return
        self._execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._execute("ROLLBACK")
            raise
        self._in_transaction = False
        self._execute("COMMIT")

    def commit_and_continue(self) -> None:
        """Inside a transaction: commit what is there and open a new one (batched stages)."""
        if self._in_transaction:
            self._execute("COMMIT")
            self._execute("BEGIN TRANSACTION")

    def _execute(self, sql: str, params: list | dict | None = None) -> None:
        """Run one statement whose result is not needed."""
        with _engine_errors():
            self._con.execute(sql, params or [])

    # ---------------------------------------------------------------- reads
    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        """The result of `sql` (values in `params`: `?` with a list, `$name` with a dict) as Arrow."""
        with _engine_errors():
            return self._con.execute(sql, params or []).fetch_arrow_table()

    def rows(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        """The result of `sql` as tuples; any statement runs (a DELETE gives its row count)."""
        with _engine_errors():
            return self._con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | dict | None = None):
        """The first column of the first row of `sql`'s result (None when there is no row)."""
        with _engine_errors():
            row = self._con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def select(self, sql: str) -> pa.Table:
        """Run user-supplied SQL, one SELECT over the lake's tables and views (the allow-list in
        warehouse.usersql), on a lake opened read-only (sandboxed: no files outside the lake)."""
        from warehouse.usersql import check_select

        if not self.read_only:
            raise LakeError("user SQL runs only on a lake opened read-only (Lake.open(root, read_only=True))")
        names = {name for (name,) in self.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake'")}
        return self.query(check_select(self._con, sql, names))

    @contextmanager
    def temp_table(self, name: str, data: pa.Table) -> Iterator[str]:
        """`data` readable in SQL as `name` inside the `with` block (an Arrow scan, nothing
        written to the lake): `with lake.temp_table("_ids", ids): lake.rows("... JOIN _ids ...")`."""
        if not name.isidentifier():
            raise LakeError(f"a temporary table name is a plain identifier, not {name!r}")
        with _engine_errors():
            self._con.register(name, data)
        try:
            yield name
        finally:
            self._con.unregister(name)

    def table_names(self) -> list[str]:
        """The lake's tables (`meta` aside) in the models' order, read from `meta` (written with
        the tables, so listing them needs no schemas import); lakes made before it was recorded
        take the order from `schemas`."""
        if self._tables is None:
            names = {name for (name,) in self.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake' "
                "AND table_type = 'BASE TABLE'")}
            order = self.scalar("SELECT value FROM lake.meta WHERE key = 'table_order'") if "meta" in names else None
            names.discard("meta")
            if order is None:
                from schemas import TABLES

                order = " ".join(TABLES)
            rank = {name: i for i, name in enumerate(order.split())}
            self._tables = sorted(names, key=lambda n: (rank.get(n, len(rank)), n))
        return self._tables

    def snapshot_id(self) -> int:
        return int(self.scalar("SELECT id FROM lake.current_snapshot()"))

    def count(self, table: str) -> int:
        if table not in self.table_names():
            raise LakeError(f"unknown table {table!r}; tables are {', '.join(self.table_names())}")
        return int(self.scalar(f'SELECT count(*) FROM lake."{table}"'))

    # ---------------------------------------------------------------- writes
    def _conform(self, table: str, data: pa.Table) -> pa.Table:
        """`data` with exactly the table's columns and Arrow types (the schema from the model)."""
        schema = _table_schema(table)
        if self.read_only:
            raise LakeError("lake opened read-only")
        return data.select(schema.names).cast(schema)

    def insert(self, table: str, data: pa.Table, *, skip_existing: bool = True) -> int:
        """Append rows conforming to the table's Arrow schema; returns how many were new.

        With `skip_existing`, rows whose key is already stored (or repeated earlier in
        `data`) are skipped: this is what makes every stage idempotent.
        """
        data = self._conform(table, data)
        if data.num_rows == 0:
            return 0
        cols = ", ".join(f'"{n}"' for n in data.column_names)
        if skip_existing:
            key = _key(table)
            keys = ", ".join(f'"{k}"' for k in key)
            incoming = "_incoming" if _unique_key(data, key) else \
                f"(SELECT * FROM _incoming QUALIFY row_number() OVER (PARTITION BY {keys}) = 1)"
            sql = (f"INSERT INTO lake.{table} ({cols}) "
                   f"SELECT {cols} FROM {incoming} i "
                   f"WHERE NOT EXISTS (SELECT 1 FROM lake.{table} t WHERE {_same(key, 't', 'i')})")
        else:
            sql = f"INSERT INTO lake.{table} ({cols}) SELECT {cols} FROM _incoming"
        with self.temp_table("_incoming", data), self.transaction():
            return int(self.scalar(sql))

    def append_file(self, table: str, data: pa.Table) -> int:
        """Append rows as they are (no key check): one Parquet file written by pyarrow into the
        table's folder under `data/` and added to the catalog (`ducklake_add_data_files`), in
        the current transaction. Same result as `insert(..., skip_existing=False)`, several
        times faster for large batches of text (DuckDB's Parquet writer is the slow part).
        On an s3:// data path it is that insert: DuckLake writes the file through httpfs, with
        the one set of credentials and endpoint rules (warehouse.datapath)."""
        import uuid

        import pyarrow.parquet as pq

        local = self.data_path.local
        if local is None:
            return self.insert(table, data, skip_existing=False)
        data = self._conform(table, data)
        if data.num_rows == 0:
            return 0
        folder = local / "main" / table
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ducklake-{uuid.uuid4()}.parquet"
        try:
            pq.write_table(data, path, compression="snappy", use_dictionary=_repetitive_columns(data))
            with self.transaction():
                self._execute("CALL ducklake_add_data_files('lake', ?, ?)", [table, str(path)])
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return data.num_rows

    def replace(self, table: str, data: pa.Table) -> int:
        """Store the rows of `data` in place of the stored rows with the same key (the table's key
        in `schemas`): those are deleted and these inserted together, in the current transaction
        (one of their own outside one); returns how many rows were inserted."""
        data = self._conform(table, data)
        if data.num_rows == 0:
            return 0
        key = _key(table)
        with self.temp_table("_replacing", data.select(list(key))), self.transaction():
            self._execute(f"DELETE FROM lake.{table} t WHERE EXISTS (SELECT 1 FROM _replacing r "
                          f"WHERE {_same(key, 't', 'r')})")
            return self.insert(table, data, skip_existing=False)

    def supersede(self, table: str, marks: pa.Table) -> int:
        """Set `superseded_by` on stored rows not superseded yet: each row of `marks` holds the value
        (its `superseded_by` column) and names the rows it goes to by its other columns (equal on
        all of them). In the current transaction; returns how many rows were marked."""
        if "superseded_by" not in marks.column_names or marks.num_columns < 2:
            raise LakeError("supersede marks hold `superseded_by` and at least one column to match on")
        if self.read_only:
            raise LakeError("lake opened read-only")
        marks = marks.cast(_table_schema(table, marks.column_names))
        match = [c for c in marks.column_names if c != "superseded_by"]
        with self.temp_table("_marks", marks), self.transaction():
            return int(self.scalar(f"UPDATE lake.{table} AS t SET superseded_by = m.superseded_by FROM _marks m "
                                   f"WHERE {_same(match, 't', 'm')} AND t.superseded_by IS NULL"))

    def update(self, table: str, values: dict, where: dict) -> int:
        """Set the columns in `values` on the rows equal to `where` on every column it names (None
        matches NULL), in the current transaction; returns how many rows changed."""
        if not values or not where:
            raise LakeError("update needs at least one column to set and one to match on")
        if self.read_only:
            raise LakeError("lake opened read-only")
        _table_schema(table, [*values, *where])
        sets = ", ".join(f'"{c}" = ?' for c in values)
        on = " AND ".join(f'"{c}" IS NOT DISTINCT FROM ?' for c in where)
        with self.transaction():
            return int(self.scalar(f"UPDATE lake.{table} SET {sets} WHERE {on}", [*values.values(), *where.values()]))

    def run(self, stage: str, config: dict | None = None):
        """Context manager for one stage run: outputs + `runs` row in one transaction."""
        from warehouse.runs import RunContext

        return RunContext.start(self, stage, config or {})


SCHEMA_TRIES = 6  # looks at the schema a writer opening a shared catalog takes (Lake._ensure_tables)


def _connect(root: Path, read_only: bool, where: Catalog, data: DataPath
             ) -> tuple[duckdb.DuckDBPyConnection, DataPath]:
    """`connect`, tried again where a shared catalog is new and another process is creating
    DuckLake's own metadata tables in it at the same moment (PostgreSQL: "duplicate key" or
    "already exists", as the two CREATE TABLEs meet)."""
    for attempt in range(SCHEMA_TRIES):
        try:
            return connect(root, read_only, where, data)
        except duckdb.Error as exc:
            racing = any(m in str(exc) for m in ("duplicate key", "already exists"))
            if not where.shared or not racing or attempt == SCHEMA_TRIES - 1:
                raise
            time.sleep(0.1 * (attempt + 1) + random.random() * 0.2)


def _key(table: str) -> tuple[str, ...]:
    from schemas import TABLES

    return TABLES[table].key


def _same(columns, left: str, right: str) -> str:
    """SQL saying rows `left` and `right` are equal on `columns` (NULL equal to NULL)."""
    return " AND ".join(f'{left}."{c}" IS NOT DISTINCT FROM {right}."{c}"' for c in columns)


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
