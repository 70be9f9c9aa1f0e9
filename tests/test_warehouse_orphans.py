"""Orphan-file cleanup when a writer opens: exact paths under the lake's own data folder, never
a pattern. Roots whose names are globs (`lake[12]`, `v*`, `l?ke`) once emptied the sibling
lakes they matched (issue 15, defect 1); symlinks under data/ are neither followed nor removed."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from schemas import Problem, content_id, to_arrow
from warehouse import Lake, LakeError
from warehouse.orphans import data_files


def _problems(n: int, source: str):
    rows = [Problem(problem_id=content_id("problem", source, f"q{i}"), source=source, question=f"q{i}",
                    reference_answer=str(i)) for i in range(n)]
    return to_arrow(rows, Problem)


def _parquet(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def _lake_with_rows(root: Path, n: int = 3) -> dict[str, bytes]:
    with Lake.open(root) as lake:
        lake.insert("problems", _problems(n, root.name))
    files = _parquet(root)
    assert any("/problems/" in name for name in files)
    return files


@pytest.mark.parametrize("siblings, root", [
    (["lake1", "lake2"], "lake[12]"),
    (["victim", "vault"], "v*"),
    (["a{b,c}", "ab"], "a{b,c}*"),
])
def test_a_writer_on_a_glob_named_root_leaves_sibling_lakes_alone(tmp_path, siblings, root):
    before = {name: _lake_with_rows(tmp_path / name) for name in siblings}
    with Lake.open(tmp_path / root) as lake:
        assert lake.orphans_removed == 0
        lake.insert("problems", _problems(2, "glob"))
    with Lake.open(tmp_path / root) as lake:  # a second open runs the cleanup on a lake with files
        assert lake.orphans_removed == 0 and lake.count("problems") == 2
    for name in siblings:
        assert _parquet(tmp_path / name) == before[name], f"sibling lake {name} changed"
        with Lake.open(tmp_path / name, read_only=True) as lake:
            assert lake.count("problems") == 3


def test_a_root_with_a_question_mark_is_refused_before_anything_is_touched(tmp_path):
    before = {name: _lake_with_rows(tmp_path / name) for name in ("lake", "like")}
    for read_only in (False, True):
        with pytest.raises(LakeError, match="cannot contain '\\?'"):
            Lake.open(tmp_path / "l?ke", read_only=read_only)
    assert not (tmp_path / "l?ke").exists()
    assert {name: _parquet(tmp_path / name) for name in before} == before


def test_orphan_cleanup_removes_only_unreferenced_files_and_never_follows_symlinks(tmp_path):
    root = tmp_path / "lake"
    kept = _lake_with_rows(root)
    folder = root / "data" / "main" / "problems"
    orphan = folder / "ducklake-00000000-0000-0000-0000-000000000000.parquet"
    orphan.write_bytes(b"left by a killed writer")
    foreign = folder / "notes.txt"  # not a DuckLake file name: not ours to delete
    foreign.write_text("keep me")
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "ducklake-11111111-1111-1111-1111-111111111111.parquet"
    victim.write_bytes(b"someone else's")
    os.symlink(outside, root / "data" / "main" / "linked")  # a folder link into another place
    os.symlink(victim, folder / "ducklake-22222222-2222-2222-2222-222222222222.parquet")  # a file link
    assert orphan in data_files(root / "data") and victim not in data_files(root / "data")
    with Lake.open(root) as lake:
        assert lake.orphans_removed == 1 and lake.count("problems") == 3
    assert not orphan.exists() and foreign.exists() and victim.read_bytes() == b"someone else's"
    assert (folder / "ducklake-22222222-2222-2222-2222-222222222222.parquet").is_symlink()
    assert {k: v for k, v in _parquet(root).items() if "linked" not in k and "2222" not in k} == kept


def test_files_of_older_snapshots_survive_the_cleanup(tmp_path):
    root = tmp_path / "lake"
    with Lake.open(root) as lake:
        lake.insert("problems", _problems(3, "old"))
        snap = lake.snapshot_id()
        lake.rows("DELETE FROM lake.problems WHERE question = 'q1'")  # a delete file
    with Lake.open(root) as lake:
        assert lake.orphans_removed == 0
        assert lake.scalar(f"SELECT count(*) FROM lake.problems AT (VERSION => {snap})") == 3
        assert lake.count("problems") == 2
