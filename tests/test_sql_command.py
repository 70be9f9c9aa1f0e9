"""`stratagem sql` as people use it: csv / json on stdout (`--out -` too), nested values in CSV,
one statement only, values shown as plain text, and the read-only sandbox under the allow-list
(issue 10 item 7, issue 15 defect 7)."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from schemas import Problem, content_id, to_arrow
from warehouse import Lake, LakeError

REPO = Path(__file__).resolve().parents[1]
MARKUP = ["[/hide]", "[/]", ":x:", "[bold]b[/bold]", "[link=file:///etc/passwd]l[/link]"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sql") / "lake"
    rows = [Problem(problem_id=content_id("problem", "m", text), source="m", question=text, reference_answer="1",
                    metadata={"tags": ["a", "b"], "n": i}) for i, text in enumerate(MARKUP)]
    with Lake.open(root) as lk:
        lk.insert("problems", to_arrow(rows, Problem))
    return root


def sql(lake: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STRATAGEM_ROOT"} | {"COLUMNS": "200"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "sql", *args, "--root", str(lake)],
                         capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=120)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def test_csv_and_json_go_to_stdout_without_out_and_with_out_dash(lake, tmp_path):
    query = "SELECT question, [1, 2] AS l, {'a': 1, 'b': [true, null]} AS s FROM problems ORDER BY question"
    res = sql(lake, query, "--format", "csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["question"] for r in rows] == sorted(MARKUP)
    assert json.loads(rows[0]["l"]) == [1, 2] and json.loads(rows[0]["s"]) == {"a": 1, "b": [True, None]}
    res = sql(lake, query, "--format", "json", "--out", "-", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert lines[0] == {"question": sorted(MARKUP)[0], "l": [1, 2], "s": {"a": 1, "b": [True, None]}}
    assert not (tmp_path / "-").exists(), "--out - wrote a file named '-'"


def test_out_file_takes_its_format_from_the_suffix(lake, tmp_path):
    for name, check in [("r.csv", lambda p: p.read_text().splitlines()[0] == "question,metadata"),
                        ("r.jsonl", lambda p: json.loads(p.read_text().splitlines()[0])["question"]),
                        ("r.parquet", lambda p: pq.read_table(p).num_rows == len(MARKUP))]:
        res = sql(lake, "SELECT question, metadata FROM problems", "--out", str(tmp_path / name))
        assert res.returncode == 0 and check(tmp_path / name), (name, res.stderr)


@pytest.mark.parametrize("query", ["SELECT 1; SELECT 2", "SELECT count(*) FROM problems; DROP TABLE problems"])
def test_several_statements_are_refused_in_one_line(lake, query):
    res = sql(lake, query)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == ["error: one statement at a time: got 2 (run them one by one)"]


def test_values_and_names_print_as_plain_text_never_markup_or_emoji(lake):
    res = sql(lake, "SELECT question AS \"[/]\" FROM problems ORDER BY question")
    assert res.returncode == 0, res.stderr
    for text in MARKUP + ["[/]"]:
        assert text in res.stdout, text
    assert "\u274c" not in res.stdout  # :x: as an emoji
    res = sql(lake, "SELECT \"[/hide] :x:\" FROM problems")  # the error line quotes the name
    assert res.returncode == 2 and "[/hide] :x:" in res.stderr and "\u274c" not in res.stderr


def test_status_shows_quarantine_reasons_with_markup_as_text(lake, tmp_path):
    root = tmp_path / "q"
    with Lake.open(root) as lk:
        with lk.run("ingest") as run:
            run.quarantine("f[/].jsonl", "f:1", "bad value [/hide] :x:", "raw")
    env = {k: v for k, v in os.environ.items() if k != "STRATAGEM_ROOT"} | {"COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", "--root", str(root)], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=120)
    assert res.returncode == 0 and "bad value [/hide] :x:" in res.stdout, res.stderr


def test_the_sandbox_reads_nothing_from_the_working_folder(lake, tmp_path, monkeypatch):
    """Under the allow-list, the connection itself: DuckDB allows its temp folder (`.tmp/`)
    by default, so `read_text('.tmp/x.txt')` read the working folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "x.txt").write_text("secret")
    with Lake.open(lake, read_only=True) as lk:
        with pytest.raises(LakeError, match="read_text"):
            lk.select("SELECT content FROM read_text('.tmp/x.txt')")
        with pytest.raises(Exception, match="(?i)permission|disabled"):
            lk.rows("SELECT content FROM read_text('.tmp/x.txt')")
        assert lk.select("SELECT count(*) AS n FROM problems").column("n").to_pylist() == [len(MARKUP)]


def test_a_symlink_inside_data_leads_nowhere(lake, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    link = lake / "data" / "outside"
    os.symlink(tmp_path, link)
    try:
        with Lake.open(lake, read_only=True) as lk:
            for query in [f"SELECT * FROM read_text('{link}/secret.txt')", f"SELECT * FROM '{link}/secret.txt'",
                          f"SELECT * FROM read_csv('{link}/secret.txt')"]:
                with pytest.raises(LakeError, match="not"):
                    lk.select(query)
    finally:
        link.unlink()


@pytest.mark.parametrize("query", [
    "SELECT count(*) FROM problems", "FROM problems LIMIT 1", "SELECT p.question FROM lake.problems p",
    "SELECT count(*) FROM \"LAKE\".\"Problems\"", "SELECT count(*) FROM main.problems", "DESCRIBE problems", "SUMMARIZE problems",
    "WITH c AS (SELECT * FROM problems) SELECT count(*) FROM c", "SELECT * FROM lake.main.current_spans",
    "SELECT * FROM problems AT (VERSION => 1)", "SELECT * FROM ducklake_snapshots('lake')",
    "SELECT table_name FROM information_schema.tables", "SELECT unnest(range(3))",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "SELECT row_number() OVER (ORDER BY question) FROM problems", "SHOW TABLES",
])
def test_ordinary_selects_still_run(lake, query):
    with Lake.open(lake, read_only=True) as lk:
        assert lk.select(query).num_columns >= 1


@pytest.mark.parametrize("query, says", [
    ("WITH x AS (SELECT 1) SELECT * FROM (SELECT * FROM x), (WITH y AS (SELECT 2) SELECT 1) z, y", "'y'"),
    ("SELECT * FROM (WITH \"/etc/passwd\" AS (SELECT 1) SELECT 1), '/etc/passwd'", "/etc/passwd"),
    ("SELECT * FROM __ducklake_metadata_lake.ducklake_data_file", "not one of the lake's"),
    ("SELECT * FROM system.main.duckdb_settings()", "duckdb_settings"),
    ("SELECT (SELECT count(*) FROM glob('/*'))", "glob"),
    ("SELECT nextval('s')", "nextval"),
    ("EXPLAIN ANALYZE SELECT 1", "only SELECT"),
])
def test_the_allow_list_follows_scopes_and_nesting(lake, query, says):
    with Lake.open(lake, read_only=True) as lk:
        with pytest.raises(LakeError, match=says.replace("(", r"\(")):
            lk.select(query)
