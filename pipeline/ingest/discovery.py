"""Input discovery: what a run will read, checked before anything is written.

    inputs = discover([Path("data/")], mapping)   # [Input(path, kind, size)], or InputError (one line)
    with open_regular(path) as f: ...             # refuses (OSError) anything but a regular file

Only regular files are read: a FIFO, a device or a socket is refused (reading one could
hang or never end), and so is a symbolic link inside a folder that points out of it (a
`notes.jsonl -> /etc/passwd` must never reach the quarantine's `raw`). Text inputs must be
UTF-8, except CSV with a UTF-16 / UTF-32 byte-order mark; a CSV header that repeats a
column is refused (see `csv_reader`).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipeline.ingest.csv_reader import encoding_problem, header_problem
from pipeline.ingest.mapping import Mapping

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
QUICK_FILES = 100  # a folder of more files than this: its small JSON files are not opened up front
QUICK_BYTES = 64 << 10


class InputError(ValueError):
    """A path that cannot be read as input, with a one-line reason meant for the user."""


@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # jsonl | json | parquet | csv | folder
    size: int  # bytes (records for folders), for progress


# ------------------------------------------------------------------ discovery
def discover(paths: list[Path], mapping: Mapping) -> list[Input]:
    """Check every path and list what to read; raises InputError before anything is written.

    Only regular files are read: a FIFO, a device or a socket is refused (reading one could
    hang or never end), and so is a symbolic link inside a folder that points out of it."""
    inputs: list[Input] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such file or directory" + (" (a broken link)" if path.is_symlink() else ""))
        if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
            raise InputError(f"{path}: permission denied")
        if mapping.folder is not None:
            if not path.is_dir():
                raise InputError(f"{path}: mapping {mapping.name!r} reads folders of per-record JSON files, not a file")
            n = 0
            for d in record_dirs(path, mapping):
                n += 1
                for name in mapping.folder.files.values():
                    if os.path.lexists(d / name):
                        _check_file(d / name, path)
            if n == 0:
                raise InputError(f"{path}: no folder under it holds {next(iter(mapping.folder.files.values()))}")
            inputs.append(Input(path, "folder", n))
        elif path.is_dir():
            found = list(_walk_files(path))
            if not found:
                raise InputError(f"{path}: no {', '.join(SUFFIXES)} files under this folder")
            inputs += [_file_input(p, size, quick=len(found) > QUICK_FILES) for p, size in found]
        else:
            inputs.append(_file_input(path, _check_file(path, None)))
    return inputs


def _walk_files(root: Path) -> Iterator[tuple[Path, int]]:
    """(path, size) of the input files under `root`, sorted, hidden names skipped, links checked."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            if os.path.islink(os.path.join(dirpath, d)):
                _inside(Path(dirpath) / d, root)  # followed nowhere (os.walk does not), refused if it leaves
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                p = Path(dirpath) / name
                out.append((p, _check_file(p, root)))
    return iter(sorted(out))


def _inside(path: Path, root: Path) -> Path:
    target = path.resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise InputError(f"{path}: a symbolic link to {target}, outside {root}; ingest does not follow links "
                         "out of the folder it reads")
    return target


_NOT_REGULAR = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
                stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def _check_file(path: Path, root: Path | None) -> int:
    """The size of a regular file to read; InputError for anything else (never opened)."""
    if root is not None and path.is_symlink():
        _inside(path, root)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        what = _NOT_REGULAR.get(stat.S_IFMT(st.st_mode), "not a regular file")
        link = f" (a link to {path.resolve()})" if path.is_symlink() else ""
        raise InputError(f"{path}: {what}{link}, not a regular file; ingest reads regular files only")
    return st.st_size


def open_regular(path: Path):
    """Open a file for binary reading, refusing (OSError) anything but a regular file, without blocking."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _file_input(path: Path, size: int, *, quick: bool = False) -> Input:
    """An Input, after checking that it opens and (text) is UTF-8 or a CSV with a BOM.
    quick: a small JSON file found in a folder: only its permission is checked here (its
    encoding, when read: a bad one quarantines that file's record), so a folder of 100,000
    per-problem files is not opened twice."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use {', '.join(SUFFIXES)}")
    if quick and kind in ("json", "jsonl") and size < QUICK_BYTES:
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")
        return Input(path, kind, size)
    try:
        with open_regular(path) as f:
            head = f.read(4096)
        problem = encoding_problem(path, kind, head) if kind != "parquet" else None
        if problem is None and kind == "csv":
            problem = header_problem(path)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc
    if problem:
        raise InputError(problem)
    return Input(path, kind, size)


def record_dirs(root: Path, mapping: Mapping) -> Iterator[Path]:
    primary = next(iter(mapping.folder.files.values()))
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if primary in filenames:
            yield Path(dirpath)
