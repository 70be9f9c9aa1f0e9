"""The lake's DuckDB connection is private to `warehouse/` (issue 12): no stage, trainer,
annotator, schema, benchmark, notebook or test reaches for `lake.con` / `lake._con`; they use
the Lake's methods (query, rows, scalar, temp_table, replace, supersede, update, ...), tested
here too, and catch LakeError (DuckDB's errors arrive as LakeQueryError), never duckdb.Error.

    .venv/bin/python -m pytest tests/test_warehouse_boundary.py -q
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from schemas import Review, Span, to_arrow
from warehouse import Lake, LakeError, LakeQueryError, storage_message

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = ("pipeline", "trainer", "annotators", "schemas", "bench", "notebooks", "tests")
CONNECTION = re.compile(r"\.(con|_con)\b")


def connection_uses(root: Path = REPO, folders=OUTSIDE) -> list[str]:
    """`path:line: text` for every line under `root`'s `folders` (Python files and notebooks;
    this file aside) that names a `.con` or `._con` attribute."""
    hits = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".py", ".ipynb") or path.resolve() == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if CONNECTION.search(line):
                    hits.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return hits


def test_nothing_outside_the_warehouse_touches_the_connection():
    hits = connection_uses()
    assert not hits, "the lake's connection is used outside warehouse/ (use Lake methods):\n" + "\n".join(hits)


def test_the_check_finds_a_use(tmp_path):
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "stage.py").write_text("con = 1\nlake.con.execute('DELETE FROM spans')\n"
                                                    "lake._con.close()\nlake.connect()\n")
    assert connection_uses(tmp_path, ("pipeline",)) == [
        "pipeline/stage.py:2: lake.con.execute('DELETE FROM spans')", "pipeline/stage.py:3: lake._con.close()"]


RAW_WRITE = re.compile(r"\.(rows|query|scalar)\(\s*f?[\"']{1,3}\s*(UPDATE|DELETE|INSERT|ALTER|CREATE|DROP)\b",
                       re.IGNORECASE)


def test_no_stage_writes_through_raw_sql():
    """Stages write through insert / replace / supersede / update (keys and columns checked
    against schemas); raw write SQL in lake.rows() would bypass that (tests may use it to build
    old lakes)."""
    hits = []
    for folder in ("pipeline", "trainer", "annotators", "llm"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if RAW_WRITE.search(line):
                    hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)
    assert RAW_WRITE.search('lake.rows("DELETE FROM lake.spans")') and not RAW_WRITE.search('lake.rows("SELECT 1")')


# ---------------------------------------------------------------- the methods stages use instead
def _reviews(*rows: tuple[str, int, int, str]) -> pa.Table:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return to_arrow([Review(trajectory_id=t, ls_project=p, ls_task_id=task, text_sha=sha, pushed_at=now)
                     for t, p, task, sha in rows], Review)


def _span(span_id: str, version: str, kind: str = "human") -> Span:
    return Span(span_id=span_id, trajectory_id="t", text_sha="x", start=0, end=1, label="planning",
                annotator_kind=kind, annotator="ls:1", annotator_version=version, alignment="human", run_id="r")


def test_replace_swaps_the_rows_with_the_same_key_in_one_snapshot(lake_root):
    with Lake.open(lake_root) as lake:
        lake.insert("reviews", _reviews(("a", 1, 1, "old"), ("b", 1, 2, "old")))
        before = lake.snapshot_id()
        with lake.run("review-push", {}) as run:
            assert run.replace("reviews", _reviews(("a", 1, 9, "new"), ("a", 2, 3, "new"))) == 2
        assert run.report.counts["written.reviews"] == 2 and lake.snapshot_id() == before + 1
        assert lake.rows("SELECT trajectory_id, ls_project, ls_task_id, text_sha FROM reviews ORDER BY ALL") == [
            ("a", 1, 9, "new"), ("a", 2, 3, "new"), ("b", 1, 2, "old")]
        assert lake.rows("SELECT count(*) FROM runs WHERE run_id = ?", [run.run_id]) == [(1,)]


def test_supersede_marks_only_the_matching_rows_not_superseded_yet(lake_root):
    with Lake.open(lake_root) as lake:
        lake.insert("spans", to_arrow([_span("s0", "v1"), _span("s1", "v2"), _span("s2", "v1", kind="rule")], Span))

        def mark(new: str) -> int:
            return lake.supersede("spans", pa.table({"trajectory_id": ["t"], "annotator_version": ["v1"],
                                                     "annotator_kind": ["human"], "superseded_by": [new]}))

        assert mark("v3") == 1 and mark("retracted") == 0
        assert lake.rows("SELECT span_id, superseded_by FROM spans ORDER BY 1") == [
            ("s0", "v3"), ("s1", None), ("s2", None)]
        with pytest.raises(LakeError, match="no column 'nope'"):
            lake.supersede("spans", pa.table({"nope": ["t"], "superseded_by": ["x"]}))


def test_update_takes_values_as_parameters_and_checks_names(lake_root):
    with Lake.open(lake_root) as lake:
        lake.insert("reviews", _reviews(("a", 1, 1, "s"), ("b", 2, 2, "s")))
        assert lake.update("reviews", {"text_sha": "it's'; DROP TABLE reviews; --"}, {"ls_project": 1}) == 1
        assert lake.rows("SELECT trajectory_id, text_sha FROM reviews ORDER BY 1") == [
            ("a", "it's'; DROP TABLE reviews; --"), ("b", "s")]
        for table, values in (("nope", {"text_sha": "x"}), ("reviews", {"text_sha = 'x' --": "x"})):
            with pytest.raises(LakeError, match="unknown table|no column"):
                lake.update(table, values, {"ls_project": 1})


def test_duckdb_errors_leave_as_one_line_lake_errors_and_roll_back(lake_root):
    with Lake.open(lake_root) as lake:
        with pytest.raises(LakeQueryError, match="syntax error") as caught:
            lake.rows("SELEC 1")
        assert "\n" not in str(caught.value) and isinstance(caught.value.__cause__, duckdb.ParserException)
        with pytest.raises(LakeQueryError):  # what an export of a snapshot the lake no longer has meets
            lake.query("SELECT * FROM problems AT (VERSION => ?)", [lake.snapshot_id() + 5])
        with pytest.raises(LakeQueryError, match="missing_table"):
            with lake.transaction():
                lake.insert("reviews", _reviews(("a", 1, 1, "s")))
                lake.scalar("SELECT * FROM missing_table")
        assert lake.count("reviews") == 0
    full = LakeQueryError("IO Error: no space")
    full.__cause__ = duckdb.IOException('IO Error: Could not write file "/lake/data/x.parquet": '
                                        "No space left on device")
    assert storage_message(full).startswith("stopped: the disk is full (/lake/data/x.parquet);")
