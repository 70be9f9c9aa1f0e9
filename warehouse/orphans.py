"""Data files no snapshot references (what a writer killed between writing a Parquet file and
committing it leaves behind), found and removed by exact path.

DuckLake's own `ducklake_delete_orphaned_files` globs the data path, so a root named
`g/lake[12]` or `g/v*` matched, and emptied, sibling lakes. Here nothing is a pattern: the
files are listed by walking `<root>/data` (symlinks neither followed nor removed), and a file
is an orphan only when its name appears in no path the catalog records (data files, delete
files, files scheduled for deletion; DuckLake names every file `ducklake-<uuid>.parquet`, so
matching on names keeps every file any snapshot can reach, whatever its path form).

    removed = delete_orphaned_files(lake, root / "data")   # only while holding writer.lock

Only a local data folder is cleaned: on an s3:// data path (warehouse.datapath) the writer skips
this. Listing a prefix is exact (no pattern), but a prefix is not owned by one lake the way
<root>/data is: two lakes (two SQLite catalogs, or a catalog and its migrated copy) may be given
the same s3:// path, and each would delete the other's files as orphans. What a killed writer
leaves on S3 costs storage, never correctness (no snapshot references it).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warehouse.lake import Lake

_META = "__ducklake_metadata_lake"
_RECORDED = (f"SELECT path FROM {_META}.ducklake_data_file UNION ALL "
             f"SELECT path FROM {_META}.ducklake_delete_file UNION ALL "
             f"SELECT path FROM {_META}.ducklake_files_scheduled_for_deletion")


def _is_ours(name: str) -> bool:
    return name.startswith("ducklake-") and name.endswith(".parquet")


def data_files(data: Path) -> list[Path]:
    """Regular `ducklake-*.parquet` files under `data` (a symlinked `data` or subfolder is not
    entered: what lies behind it belongs to someone else)."""
    if data.is_symlink() or not data.is_dir():
        return []
    found = []
    for folder, _dirs, files in os.walk(data, followlinks=False):
        for name in files:
            path = Path(folder, name)
            if _is_ours(name) and stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
    return found


def orphaned_files(lake: Lake, data: Path) -> list[Path]:
    """Files under `data` whose names no path in `lake`'s catalog records."""
    recorded = {str(p).replace("\\", "/").rsplit("/", 1)[-1] for (p,) in lake.rows(_RECORDED)}
    return [p for p in data_files(data) if p.name not in recorded]


def delete_orphaned_files(lake: Lake, data: Path) -> int:
    """Remove the orphans under `data`; returns how many. Safe only for the writer-lock holder:
    no other writer has files in flight then."""
    removed = 0
    for path in orphaned_files(lake, data):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
