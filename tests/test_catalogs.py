"""Where the catalog lives (warehouse/catalog.py): the SQLite default lets readers run while a
stage writes, a DuckDB-file catalog of an older lake keeps working, `stratagem lake migrate`
moves a catalog (DuckDB file -> SQLite -> PostgreSQL) with every table and every snapshot, and
a PostgreSQL password is never shown. Real DuckLake catalogs; a real PostgreSQL server on
loopback (tests/pg.py; skipped where PostgreSQL is not installed).

    .venv/bin/python -m pytest tests/test_catalogs.py -q
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from schemas import Problem, to_arrow
from warehouse import Lake, LakeError
from warehouse.catalog import resolve_catalog

runner = CliRunner()


def _problems(lake: Lake, first: int, n: int) -> None:
    rows = [Problem(problem_id=f"p{i:04d}", source="s", question=f"q {i}", reference_answer=str(i))
            for i in range(first, first + n)]
    with lake.transaction():
        lake.insert("problems", to_arrow(rows, Problem))


def _history(root, catalog: str | None = None) -> dict:
    """Every table's rows now, and the problems at every snapshot."""
    with Lake.open(root, read_only=True, catalog=catalog) as lake:
        tables = {t: sorted(map(repr, lake.rows(f'SELECT * FROM "{t}"'))) for t in lake.table_names()}
        snapshots = [s for (s,) in lake.rows("SELECT snapshot_id FROM ducklake_snapshots('lake') ORDER BY 1")]
        at = {s: sorted(lake.rows(f"SELECT problem_id FROM problems AT (VERSION => {s})")) for s in snapshots[1:]}
        return {"tables": tables, "snapshots": snapshots, "at": at}


def test_the_default_catalog_is_sqlite_and_readers_run_while_a_stage_writes(lake_root):
    with Lake.open(lake_root, holder="annotate") as writer:
        assert writer.catalog.kind == "sqlite" and (lake_root / "catalog.sqlite").is_file()
        _problems(writer, 0, 10)
        reader = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "status", "--root", str(lake_root)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for batch in range(1, 6):  # the writer keeps committing while the reader runs
            _problems(writer, batch * 10, 10)
            time.sleep(0.05)
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0 and "busy" not in err, err
        assert "problems" in out
        with Lake.open(lake_root, read_only=True) as lake:  # and it sees what is committed
            assert lake.count("problems") == 60


def test_a_lake_with_a_duckdb_file_catalog_keeps_it(lake_root):
    with Lake.open(lake_root, catalog="duckdb") as lake:
        _problems(lake, 0, 3)
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.catalog.kind == "duckdb" and lake.count("problems") == 3
    assert not (lake_root / "catalog.sqlite").exists()


def test_migrate_duckdb_to_sqlite_to_postgres_keeps_every_table_and_snapshot(lake_root, postgres):
    with Lake.open(lake_root, catalog="duckdb") as lake:
        for batch in range(3):
            _problems(lake, batch * 5, 5)
        with lake.transaction():
            lake.rows("DELETE FROM problems WHERE problem_id = 'p0001'")  # a delete file in the history
    before = _history(lake_root)
    assert len(before["snapshots"]) >= 5

    r = runner.invoke(app, ["lake", "migrate", "--to", "sqlite", "--root", str(lake_root)])
    assert r.exit_code == 0, r.output
    assert resolve_catalog(lake_root).kind == "sqlite"  # the root's new catalog is found without --catalog
    assert _history(lake_root) == before

    url = postgres.database("migrated") + "?schema=team_a"
    r = runner.invoke(app, ["lake", "migrate", "--to", url, "--root", str(lake_root)])
    assert r.exit_code == 0 and "--catalog" in r.output, r.output
    assert _history(lake_root, catalog=url) == before
    with Lake.open(lake_root, catalog=url) as lake:  # and it goes on from there
        _problems(lake, 100, 1)
        assert lake.snapshot_id() == before["snapshots"][-1] + 1

    r = runner.invoke(app, ["lake", "migrate", "--to", url, "--root", str(lake_root)])  # never over a lake
    assert r.exit_code == 2 and "already holds a lake" in r.output, r.output


def test_two_lakes_share_one_postgres_database_in_their_own_schemas(tmp_path, postgres):
    url = postgres.database("shared")
    for name, n in (("a", 2), ("b", 3)):
        with Lake.open(tmp_path / name, catalog=f"{url}?schema=lake_{name}") as lake:
            _problems(lake, 0, n)
    for name, n in (("a", 2), ("b", 3)):
        with Lake.open(tmp_path / name, read_only=True, catalog=f"{url}?schema=lake_{name}") as lake:
            assert lake.count("problems") == n


def test_catalog_specs_and_a_password_never_shown(tmp_path, monkeypatch):
    monkeypatch.delenv("STRATAGEM_CATALOG", raising=False)
    pg = resolve_catalog(tmp_path, "postgres://me:s3cr%40t@db.example:6543/lakes?schema=team")
    assert pg.kind == "postgres" and pg.schema == "team" and "password=s3cr@t" in pg.location
    assert pg.shown == "postgres://me@db.example:6543/lakes?schema=team" and "s3cr" not in pg.shown
    assert resolve_catalog(tmp_path, f"sqlite:{tmp_path}/x.sqlite").path == tmp_path / "x.sqlite"
    monkeypatch.setenv("STRATAGEM_CATALOG", "duckdb")
    assert resolve_catalog(tmp_path).kind == "duckdb"
    for bad in ("mysql://x/y", "postgres://db.example", "postgres://h/db?sslmode=off"):
        with pytest.raises(LakeError):
            resolve_catalog(tmp_path, bad)
    r = runner.invoke(app, ["--catalog", "mysql://x/y", "status", "--root", str(tmp_path / "none")])
    assert r.exit_code == 2 and "expected sqlite" in r.output


def test_asking_for_another_catalog_than_the_lake_has_says_which_it_has(lake_root):
    Lake.open(lake_root).close()  # the SQLite default
    r = runner.invoke(app, ["--catalog", "duckdb", "status", "--root", str(lake_root)])
    assert r.exit_code == 2 and "has catalog.sqlite" in r.output, r.output
