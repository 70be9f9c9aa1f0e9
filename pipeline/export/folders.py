"""Where an export may be written: never onto a lake, into one or over one, never through a symlink.

    real = safe_target(target, lake_root=lake.root, replace_any=False)   # raises ExportError, one line

An export folder is replaced as a whole (`--force`, `--rebuild`), so a wrong folder is
deleted. Refused, before anything is written:
- a target that is a symbolic link (replacing it would rename the link and leave the
  folder it points to behind, or follow it out of the exports folder);
- a target that is a lake (a folder holding `catalog.sqlite` or `catalog.ducklake`), contains one, or lies
  inside one anywhere but under its `exports/` folder (its `data/` above all);
- with `replace_any=False` (`--rebuild --out DIR`): an existing DIR that is not empty and
  holds no export `manifest.json`: it is someone's folder, not an export.
Parent folders may be symlinks (an `exports/` on another disk); the checks use the
resolved path, so a link into a lake is caught as well.
"""
from __future__ import annotations

import os
from pathlib import Path

from warehouse.catalog import CATALOG_FILES as LAKE_MARKERS


class FolderError(ValueError):
    """An output folder that must not be written, with a one-line reason."""


def _is_lake(folder: Path) -> bool:
    return any(os.path.lexists(folder / marker) for marker in LAKE_MARKERS)


def _contained_lake(folder: Path) -> Path | None:
    """A lake somewhere under `folder` (symlinks not followed), or None."""
    for dirpath, dirnames, filenames in os.walk(folder):
        if any(marker in filenames or marker in dirnames for marker in LAKE_MARKERS):
            return Path(dirpath)
    return None


def safe_target(target: Path, *, lake_root: Path | None = None, replace_any: bool = True) -> Path:
    """The resolved folder to write `target` to, or FolderError naming why it must not be."""
    target = Path(target)
    if target.name in ("", ".", ".."):
        raise FolderError(f"{target} does not name a folder of its own; give the export folder itself")
    if target.is_symlink():
        raise FolderError(f"{target} is a symbolic link: an export is never written through one "
                          "(remove the link, or choose another name or --out folder)")
    real = target.parent.resolve() / target.name
    for ancestor in (real, *real.parents):
        if _is_lake(ancestor):
            if ancestor == real:
                raise FolderError(f"{target} is a lake (it holds its catalog); an export never replaces a lake")
            if ancestor / "exports" not in real.parents:
                raise FolderError(f"{target} is inside the lake at {ancestor}; write exports under "
                                  f"{ancestor / 'exports'}/ or outside the lake")
            break
    if lake_root is not None:
        root = Path(lake_root).resolve()
        if root == real or real in root.parents:
            raise FolderError(f"{target} contains the lake at {root}; an export never replaces a lake")
    if os.path.lexists(real):
        if not real.is_dir():
            raise FolderError(f"{target} exists and is not a folder")
        if not replace_any and any(real.iterdir()) and not (real / "manifest.json").is_file():
            raise FolderError(f"{target} exists and is not an export (no manifest.json); refusing to replace it: "
                              "choose an empty or new --out folder")
        inner = _contained_lake(real)
        if inner is not None:
            raise FolderError(f"{target} contains a lake ({inner}); an export never replaces a lake")
    return real
