"""What a folder holds, to compare before and after: `from files import tree_digest`.

SQLite's side files of a catalog in WAL mode are not lake content: `-shm` is a shared-memory
index any reader may create or touch, and an empty `-wal` (a reader leaves one) holds nothing;
a `-wal` with content holds committed transactions and counts.
"""
from __future__ import annotations

import hashlib
from pathlib import Path


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every regular file under `folder` (symlinks not followed)."""
    digest = {}
    for p in sorted(Path(folder).rglob("*")):
        if not p.is_file() or p.is_symlink() or p.name.endswith("-shm"):
            continue
        if p.name.endswith("-wal") and p.stat().st_size == 0:
            continue
        digest[p.relative_to(folder).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return digest
