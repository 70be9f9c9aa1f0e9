"""Opening the DuckLake catalog: the DuckDB connection (with the read-only sandbox user SQL
runs in), the writer lock and the message a refused writer or reader gets.

    con, data = connect(root, read_only=True, catalog=resolve_catalog(root))  # attached as `lake`, sandboxed
    con, data = connect(root, False, catalog, resolve_data_path(root, "s3://bucket/lake"))  # data on S3
    fd = acquire_writer_lock(root, "ingest")  # raises LakeBusy naming the holder
    shared_fd, fd = acquire_shard_lock(root, "annotate 0/2", "writer-annotate-0of2.lock")  # shared catalogs

Nothing here passes a user-derived path to DuckDB as a pattern: paths go in SQL string
literals (escaped), never into globbing functions.
"""
from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import re
import time
from pathlib import Path

import duckdb

from warehouse.catalog import Catalog, sql_literal
from warehouse.datapath import DataPath, resolve_data_path
from warehouse.errors import LakeBusy, LakeError


def extension_path(name: str) -> str | None:
    """Path of extension `name` (ducklake, sqlite_scanner, postgres_scanner, httpfs) shipped by a
    `duckdb-ext-*` wheel, if installed."""
    try:
        import duckdb_ext  # type: ignore[import-not-found]
    except ImportError:
        return None
    file = f"{name}.duckdb_extension"
    for root in duckdb_ext.__path__:
        folder = Path(root) / "extensions" / f"v{duckdb.__version__}"
        try:
            platforms = sorted(p for p in folder.iterdir() if (p / file).is_file())
        except OSError:
            continue
        if platforms:
            return str(platforms[0] / file)
    return None


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD `name` from its wheel, or (no wheel) the normal path, which needs the extension
    repository once."""
    path = extension_path(name)
    if path:
        con.execute(f"LOAD {sql_literal(path)}")
    else:
        con.execute(f"INSTALL {name}")
        con.execute(f"LOAD {name}")


def connect(root: Path, read_only: bool, catalog: Catalog, data: DataPath | None = None
            ) -> tuple[duckdb.DuckDBPyConnection, DataPath]:
    """A connection with `catalog` attached as `lake`, sandboxed when read-only, and where its data
    files are: `data` (default <root>/data/; an s3:// path reads its credentials from the
    environment, warehouse.datapath), or, when `data` is implicit, the s3:// path the catalog
    stored. LakeError when `data` was named and is not where the lake keeps its data."""
    data = data or resolve_data_path(root, "")
    secret = data.secret_sql()  # a missing credential fails here, before anything is opened
    # Extension files come from installed wheels (as trusted as this package's own code); DuckDB's
    # signature check hashes all 50 MB of each on every start (~0.25 s of `stratagem status`).
    # No other extension can be loaded later: user SQL never reaches LOAD (warehouse.usersql)
    # and the read-only sandbox turns external access off.
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
              "allow_unsigned_extensions": extension_path("ducklake") is not None}
    con = duckdb.connect(config=config)
    try:
        for name in ("ducklake", *catalog.extensions, *data.extensions):
            load_extension(con, name)
        if secret:
            try:
                con.execute(secret)
            except duckdb.Error:  # never DuckDB's message: it may quote the statement, credentials included
                raise LakeError(f"cannot set up S3 access to {data.url} from the environment's AWS_* "
                                "variables (DuckDB refused the secret)") from None
        # A local data folder is always <root>/data (OVERRIDE_DATA_PATH): a moved or copied root
        # keeps working, DuckLake storing data file paths relative to it. An s3:// path must be
        # the one the catalog stored (checked below).
        con.execute(catalog.attach_sql(data.url, read_only=read_only))
        con.execute("USE lake")
        stored = _stored_data_path(con, catalog) or data.url
        if data.implicit and stored.startswith("s3://"):  # nobody named one: use the lake's own
            con.close()
            return connect(root, read_only, catalog, resolve_data_path(root, stored))
        _check_data_path(stored, data)
        if read_only:
            sandbox(con, data.url)
    except BaseException:
        con.close()
        raise
    return con, data


def _stored_data_path(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> str | None:
    table = f'__ducklake_metadata_lake."{catalog.metadata_schema}".ducklake_metadata'
    row = con.execute(f"SELECT value FROM {table} WHERE key = 'data_path'").fetchone()
    return row[0] if row else None


def _check_data_path(stored: str, data: DataPath) -> None:
    """LakeError unless `data` is where the catalog says the lake keeps its data files (`stored`;
    two local folders always match: a moved root keeps its data)."""
    if (stored.startswith("s3://") or data.is_s3) and stored.rstrip("/") != data.url.rstrip("/"):
        where = stored if stored.startswith("s3://") else "its root's data/ folder"
        fix = (f"pass --data-path {stored} (or set STRATAGEM_DATA_PATH)" if stored.startswith("s3://")
               else "leave --data-path and STRATAGEM_DATA_PATH unset")
        raise LakeError(f"this lake keeps its data files in {where}, not {data.url}: {fix}")


def sandbox(con: duckdb.DuckDBPyConnection, data_path: str) -> None:
    """No file access outside the lake's data folder (or s3:// prefix), no Python objects by name,
    no way back out. The temp directory is switched off first: DuckDB adds it (`.tmp/` under the
    working folder) to the allowed directories. httpfs, for an s3:// data path, is loaded before
    (nothing can be loaded once the configuration is locked)."""
    con.execute("SET temp_directory = ''")
    con.execute(f"SET allowed_directories = [{sql_literal(data_path)}]")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


WRITER_LOCK = "writer.lock"


def _open_lock(root: Path, name: str) -> int:
    try:  # never through a link: the holder's line is written into the file it opens
        return os.open(root / name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise LakeError(f"{root / name} is a symbolic link; remove it (a lake's lock is a plain file)") from None


def _flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _name_holder(fd: int, holder: str) -> None:
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "holder": holder, "since": time.time()}).encode())


def acquire_writer_lock(root: Path, holder: str) -> int:
    """`writer.lock`, exclusively: the one writer of a lake (raises LakeBusy naming the holder)."""
    fd = _open_lock(root, WRITER_LOCK)
    if not _flock(fd, fcntl.LOCK_EX):
        os.close(fd)
        raise LakeBusy(busy_message(root)) from None
    _name_holder(fd, holder)
    return fd


def acquire_shard_lock(root: Path, holder: str, name: str) -> tuple[int, int]:
    """A shard worker's locks where the catalog takes several writers: `writer.lock` shared (so a
    whole-lake writer, which holds it exclusively, and shard workers exclude each other) and its
    own lock file `name` (e.g. writer-annotate-0of2.lock) exclusively, naming the holder.
    Shards of one stage with different counts overlap (0/2 and 0/3 share problems, and two
    transactions inserting the same key both succeed), so a shard lock named
    writer-STAGE-IofN.lock is refused while a STAGE shard of another N holds its lock (checked
    and taken under writer-STAGE.guard, so two workers starting at once cannot both pass).
    Returns (writer.lock's fd, name's fd); raises LakeBusy naming whoever is in the way."""
    shared = _open_lock(root, WRITER_LOCK)
    if not _flock(shared, fcntl.LOCK_SH):
        os.close(shared)
        raise LakeBusy(busy_message(root))
    fd = guard = None
    try:
        shard = _SHARD_LOCK.fullmatch(name)
        if shard:
            guard = _open_lock(root, f"writer-{shard['stage']}.guard")
            fcntl.flock(guard, fcntl.LOCK_EX)  # held only around the check and the taking
            other = [path for path in sorted(root.glob(f"writer-{glob.escape(shard['stage'])}-*of*.lock"))
                     if (m := _SHARD_LOCK.fullmatch(path.name)) and m["stage"] == shard["stage"]
                     and m["count"] != shard["count"] and _held(path)]
            if other:
                raise LakeBusy(f"lake {root} is busy: {shard['stage']} shards of another count are writing "
                               f"({'; '.join(_holder(path) for path in other)}); shards I/N and J/M overlap, so "
                               "run one N per stage at a time")
        fd = _open_lock(root, name)
        if not _flock(fd, fcntl.LOCK_EX):
            raise LakeBusy(busy_message(root, name))
    except BaseException:
        for f in (fd, shared):
            if f is not None:
                os.close(f)
        raise
    finally:
        if guard is not None:
            os.close(guard)
    _name_holder(fd, holder)
    return shared, fd


_SHARD_LOCK = re.compile(r"writer-(?P<stage>[\w.]+)-(?P<index>\d+)of(?P<count>\d+)\.lock")


def lock_catalog_file(path: Path) -> int | None:
    """An exclusive flock on the catalog file itself (a SQLite catalog: SQLite's own locks are
    fcntl locks, which flock does not touch, so readers are not blocked), held by the writer
    beside writer.lock: a deleted writer.lock then still lets only one writer in. None when
    another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release_writer_lock(fd: int, *, forget: bool = False) -> None:
    """Close the lock; with `forget`, first blank what this process wrote into it (it never got
    the lake, so the file must not name it)."""
    try:
        if forget:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def busy_message(root: Path, name: str = WRITER_LOCK) -> str:
    """Who holds the lake (or its lock file `name`), from the lock file; never this process (when
    the file was deleted under a running writer, it now holds what the refused process wrote
    itself). A `writer.lock` held shared names the shard workers holding theirs."""
    if name == WRITER_LOCK:
        workers = [_holder(path) for path in sorted(root.glob("writer-*.lock")) if _held(path)]
        if workers:
            return (f"lake {root} is busy: shard workers ({'; '.join(workers)}) are writing; a whole-lake "
                    "writer waits until they finish")
    who = _holder(root / name)
    what = "" if name == WRITER_LOCK else f" ({name})"
    return f"lake {root} is busy: another stratagem process ({who}) is writing{what}; retry when it finishes"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or info.get("pid") in (None, os.getpid()):
        return f"a process that {path.name} no longer names (was the file deleted?)"
    return f"pid {info['pid']}" + (f", {info['holder']}" if info.get("holder") else "")


def _held(path: Path) -> bool:
    """Whether some process holds a lock on `path` (a shared probe, released at once)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return not _flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)
