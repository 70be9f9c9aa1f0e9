"""The DuckLake warehouse: tables from the schemas, idempotent inserts, one transaction per
run, the writer lock, read-only SQL and the `sql` / `status` commands."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from schemas import TABLES, Problem, arrow_schema, content_id, to_arrow
from warehouse import Lake, LakeError
from warehouse.lake import resolve_root


def problems(n: int, source: str = "t") -> pa.Table:
    rows = [Problem(problem_id=content_id("problem", source, f"q{i}", str(i)), source=source, question=f"q{i}",
                    reference_answer=str(i), metadata={"i": i}) for i in range(n)]
    return to_arrow(rows, Problem)


def test_tables_follow_the_models(lake_root):
    with Lake.open(lake_root) as lake:
        for name, model in TABLES.items():
            cols = [r[0] for r in lake.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog='lake' AND table_name=? "
                "ORDER BY ordinal_position", [name])]
            assert cols == arrow_schema(model).names


def test_insert_is_idempotent_and_dedups_within_a_batch(lake_root):
    with Lake.open(lake_root) as lake:
        batch = problems(5)
        assert lake.insert("problems", pa.concat_tables([batch, batch])) == 5
        assert lake.insert("problems", batch) == 0
        assert lake.count("problems") == 5
        assert json.loads(lake.scalar("SELECT metadata FROM problems WHERE question = 'q3'")) == {"i": 3}


def test_run_commits_outputs_and_runs_row_together(lake_root):
    with Lake.open(lake_root) as lake:
        before = lake.snapshot_id()
        with pytest.raises(RuntimeError):
            with lake.run("test", {"x": 1}) as run:
                run.insert("problems", problems(3))
                run.quarantine("f.jsonl", "f.jsonl:2", "bad", "raw")
                raise RuntimeError("crash inside the stage")
        assert lake.count("problems") == 0 and lake.count("runs") == 0 and lake.count("quarantine") == 0
        assert lake.snapshot_id() == before
        with lake.run("test", {"x": 1}) as run:
            run.insert("problems", problems(3))
            run.quarantine("f.jsonl", "f.jsonl:2", "bad", b"\xff\xfe raw")
        status, counts = lake.rows("SELECT status, counts FROM runs")[0]
        assert status == "ok" and json.loads(counts) == {"quarantined": 1, "written.problems": 3}
        assert run.report.counts["written.problems"] == 3
        assert lake.rows("SELECT locator, reason FROM quarantine") == [("f.jsonl:2", "bad")]


def test_second_writer_gets_one_line_naming_the_holder(lake_root):
    with Lake.open(lake_root, holder="ingest"):
        code = f"from warehouse import Lake\nLake.open({str(lake_root)!r}, holder='verify')"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode != 0
        last = proc.stderr.strip().splitlines()[-1]
        assert "LakeBusy" in last and "ingest" in last and "busy" in last
        # a reader never waits for the writer on the default (SQLite) catalog ...
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", "--root", str(lake_root)],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and "busy" not in proc.stderr, proc.stderr


def test_on_a_duckdb_file_catalog_a_reader_is_told_the_lake_is_busy(lake_root):
    """... while a DuckDB-file catalog (lakes made before SQLite became the default) admits one
    process at a time, readers included: they get one line naming the state, no traceback."""
    with Lake.open(lake_root, holder="ingest", catalog="duckdb"):
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", "--root", str(lake_root)],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "busy" in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2


def test_a_second_ingest_is_refused_in_one_line_and_changes_nothing(lake_root, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"question": "What is 1+1?", "answer": "2", "solution": "1+1 = 2. The answer is 2."}\n')
    with Lake.open(lake_root, holder="verify") as lake:
        lake.insert("problems", problems(2))
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(data), "--mapping",
                               "question-answer-solution", "--root", str(lake_root)], capture_output=True, text=True)
        assert proc.returncode == 2
        assert [line for line in proc.stderr.splitlines() if line.strip()] == [proc.stderr.strip()]
        assert "busy" in proc.stderr and "verify" in proc.stderr
    with Lake.open(lake_root, read_only=True) as lake:
        assert (lake.count("problems"), lake.count("trajectories"), lake.count("runs")) == (2, 0, 0)


def test_root_comes_from_the_option_then_the_environment_then_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATAGEM_ROOT", raising=False)
    assert resolve_root(None) == tmp_path / "stratagem-data"
    monkeypatch.setenv("STRATAGEM_ROOT", str(tmp_path / "env"))
    assert resolve_root(None) == tmp_path / "env"
    assert resolve_root(tmp_path / "opt") == tmp_path / "opt"


def test_sql_writes_json(lake_root, tmp_path):
    with Lake.open(lake_root) as lake:
        lake.insert("problems", problems(3))
    dest = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["sql", "SELECT question FROM problems ORDER BY question", "--root",
                                      str(lake_root), "--format", "json", "--out", str(dest)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in dest.read_text().splitlines()]  # JSON lines
    assert [r["question"] for r in rows] == ["q0", "q1", "q2"]


def test_read_only_lake_refuses_writes_and_file_access(lake_root):
    with Lake.open(lake_root) as lake:
        lake.insert("problems", problems(2))
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.select("SELECT count(*) AS n FROM problems").column("n").to_pylist() == [2]
        for bad in ["DELETE FROM problems", "SELEC oops FROM", "", "COPY problems TO '/tmp/x.csv'", "ATTACH '/tmp/other.db'",
                    "SELECT 1; DROP TABLE problems"]:
            with pytest.raises(LakeError):
                lake.select(bad)
        with pytest.raises(Exception):
            lake.rows("SELECT * FROM read_csv('/etc/passwd')")  # past the allow-list: the sandbox


def test_missing_lake_is_a_clear_error(tmp_path):
    with pytest.raises(LakeError, match="no lake"):
        Lake.open(tmp_path / "nowhere", read_only=True)


def test_time_travel_reads_an_old_snapshot(lake_root):
    with Lake.open(lake_root) as lake:
        lake.insert("problems", problems(2))
        snap = lake.snapshot_id()
        lake.insert("problems", problems(5))
        assert lake.scalar(f"SELECT count(*) FROM problems AT (VERSION => {snap})") == 2
        assert lake.count("problems") == 5


def test_sql_and_status_commands(lake_root, tmp_path):
    with Lake.open(lake_root) as lake:
        with lake.run("test") as run:
            run.insert("problems", problems(4))
    runner = CliRunner()
    result = runner.invoke(app, ["sql", "SELECT question FROM problems ORDER BY question", "--root", str(lake_root)])
    assert result.exit_code == 0 and "q3" in result.output
    dest = tmp_path / "out.parquet"
    result = runner.invoke(app, ["sql", "SELECT * FROM problems", "--root", str(lake_root),
                                 "--format", "parquet", "--out", str(dest)])
    assert result.exit_code == 0 and pq.read_table(dest).num_rows == 4
    dest = tmp_path / "out.csv"
    assert runner.invoke(app, ["sql", "SELECT problem_id FROM problems", "--root", str(lake_root),
                               "--format", "csv", "--out", str(dest)]).exit_code == 0
    assert len(dest.read_text().splitlines()) == 5
    result = runner.invoke(app, ["sql", "DROP TABLE problems", "--root", str(lake_root)])
    assert result.exit_code == 2 and "only SELECT" in result.output
    result = runner.invoke(app, ["status", "--root", str(lake_root), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["problems"] == 4
    result = runner.invoke(app, ["status", "--root", str(lake_root)])
    assert result.exit_code == 0 and "pending" in result.output and "interrupted" not in result.output


def test_status_calls_a_run_that_stopped_part_way_interrupted(lake_root):
    code = ("import os, sys; from warehouse import Lake; lake = Lake.open(sys.argv[1]); "
            "run = lake.run('verify').__enter__(); run.checkpoint(); os._exit(9)")  # dies after a commit
    assert subprocess.run([sys.executable, "-c", code, str(lake_root)]).returncode == 9
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.rows("SELECT stage, status FROM runs") == [("verify", "partial")]
    result = CliRunner().invoke(app, ["status", "--root", str(lake_root)])
    assert result.exit_code == 0 and "interrupted" in result.output and "partial" not in result.output


def test_opening_an_up_to_date_lake_for_writing_adds_no_snapshot(lake_root):
    with Lake.open(lake_root) as lake:
        first = lake.snapshot_id()
        assert lake.scalar("SELECT count(*) FROM current_spans") == 0  # the views exist
    for _ in range(2):
        with Lake.open(lake_root) as lake:
            assert lake.snapshot_id() == first


def test_a_moved_lake_still_opens(tmp_path):
    with Lake.open(tmp_path / "a") as lake:
        lake.insert("problems", problems(3))
    (tmp_path / "a").rename(tmp_path / "b")
    with Lake.open(tmp_path / "b", read_only=True) as lake:
        assert lake.count("problems") == 3
    with Lake.open(tmp_path / "b") as lake:
        lake.insert("problems", problems(4))
        assert lake.count("problems") == 4
