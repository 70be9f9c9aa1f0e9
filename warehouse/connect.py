"""Opening the DuckLake catalog: the DuckDB connection (with the read-only sandbox user SQL
runs in), the writer lock and the message a refused writer or reader gets.

    con = connect(root, read_only=True)      # catalog attached as `lake`, sandboxed
    fd = acquire_writer_lock(root, "ingest")  # raises LakeBusy naming the holder

Nothing here passes a user-derived path to DuckDB as a pattern: paths go in SQL string
literals (escaped), never into globbing functions.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

import duckdb

from warehouse.errors import LakeBusy, LakeError


def ducklake_extension() -> str | None:
    """Path of the extension shipped by the `duckdb-ext-ducklake` wheel, if installed."""
    try:
        import duckdb_ext  # type: ignore[import-not-found]
    except ImportError:
        return None
    folder = Path(next(iter(duckdb_ext.__path__))) / "extensions" / f"v{duckdb.__version__}"
    try:
        platforms = sorted(p for p in folder.iterdir() if (p / "ducklake.duckdb_extension").is_file())
    except OSError:
        return None
    return str(platforms[0] / "ducklake.duckdb_extension") if platforms else None


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal (ATTACH and SET take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def connect(root: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    ext = ducklake_extension()
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if ext:
        # The file comes from an installed wheel (as trusted as this package's own code); DuckDB's
        # signature check hashes all 50 MB of it on every start (~0.25 s of `stratagem status`).
        # No other extension can be loaded later: user SQL never reaches LOAD (warehouse.usersql)
        # and the read-only sandbox turns external access off.
        config["allow_unsigned_extensions"] = True
    con = duckdb.connect(config=config)
    if ext:
        con.execute(f"LOAD {sql_literal(ext)}")
    else:  # no wheel: the normal path, needs the extension repository once
        con.execute("INSTALL ducklake")
        con.execute("LOAD ducklake")
    data_path = str(root / "data") + "/"
    # The data folder is always <root>/data: a moved or copied root keeps working
    # (DuckLake stores data file paths relative to it).
    opts = f"DATA_PATH {sql_literal(data_path)}, OVERRIDE_DATA_PATH true" + (", READ_ONLY" if read_only else "")
    con.execute(f"ATTACH {sql_literal('ducklake:' + str(root / 'catalog.ducklake'))} AS lake ({opts})")
    con.execute("USE lake")
    if read_only:
        sandbox(con, data_path)
    return con


def sandbox(con: duckdb.DuckDBPyConnection, data_path: str) -> None:
    """No file access outside the lake's data folder, no Python objects by name, no way back out.
    The temp directory is switched off first: DuckDB adds it (`.tmp/` under the working folder)
    to the allowed directories."""
    con.execute("SET temp_directory = ''")
    con.execute(f"SET allowed_directories = [{sql_literal(data_path)}]")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def acquire_writer_lock(root: Path, holder: str) -> int:
    try:  # never through a link: the holder's line is written into the file it opens
        fd = os.open(root / "writer.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise LakeError(f"{root / 'writer.lock'} is a symbolic link; remove it (a lake's lock is a plain file)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LakeBusy(busy_message(root)) from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "holder": holder, "since": time.time()}).encode())
    return fd


def release_writer_lock(fd: int, *, forget: bool = False) -> None:
    """Close the lock; with `forget`, first blank what this process wrote into it (it never got
    the lake, so the file must not name it)."""
    try:
        if forget:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def busy_message(root: Path) -> str:
    """Who holds the lake, from `writer.lock`; never this process (when `writer.lock` was deleted
    under a running writer, the file now holds what the refused process wrote itself)."""
    try:
        info = json.loads((root / "writer.lock").read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or info.get("pid") in (None, os.getpid()):
        who = "a process that writer.lock no longer names (was the file deleted?)"
    else:
        who = f"pid {info['pid']}" + (f", {info['holder']}" if info.get("holder") else "")
    return f"lake {root} is busy: another stratagem process ({who}) is writing; retry when it finishes"
