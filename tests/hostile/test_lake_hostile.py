"""Hostile input for the warehouse through the real CLI (issue 15, defects 1 and 7): SQL that
tries to write, run DuckLake maintenance, read files or change settings is refused in one line
with exit code 2 and leaves the lake and a sentinel lake beside it byte for byte as they were;
values holding Rich markup print as text; roots named like globs touch no sibling lake."""
from __future__ import annotations

import json

import pytest
from harness import Sentinel, run_cli, tree_digest

MAINTENANCE = [
    "CALL ducklake_delete_orphaned_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_delete_orphaned_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_merge_adjacent_files('lake')",
    "CALL ducklake_merge_adjacent_files('lake')",
    "SELECT * FROM ducklake_expire_snapshots('lake', older_than => now())",
    "SELECT * FROM ducklake_cleanup_old_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_rewrite_data_files('lake')",
    "SELECT * FROM ducklake_flush_inlined_data('lake')",
    "SELECT * FROM ducklake_set_option('lake', 'parquet_compression', 'zstd')",
    "SELECT * FROM ducklake_add_data_files('lake', 'problems', '/etc/passwd')",
    "SELECT * FROM checkpoint()", "SELECT * FROM force_checkpoint()", "CALL checkpoint()",
    "CHECKPOINT", "FORCE CHECKPOINT", "VACUUM",
]
FILES = [
    "SELECT * FROM read_text('.tmp/x.txt')", "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')", "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'", "SELECT * FROM glob('/*')",
    "SELECT * FROM parquet_metadata('SENTINEL')", "SELECT * FROM read_parquet('SENTINEL')",
    "SELECT (SELECT count(*) FROM read_text('/etc/passwd'))",
    "WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x",
    "SELECT * FROM query('SELECT 1')", "SELECT * FROM query_table('problems')",
    "SELECT * FROM __ducklake_metadata_lake.ducklake_data_file",
]
STATEMENTS = [
    "SELECT 1; SELECT 2", "SELECT 1; CALL checkpoint()", "ATTACH '/tmp/other.db' AS other", "DETACH lake",
    "COPY problems TO '/tmp/out.csv'", "COPY (SELECT 1) TO 'out.parquet'", "COPY problems FROM '/etc/passwd'",
    "EXPORT DATABASE '/tmp/dump'", "INSTALL httpfs", "LOAD httpfs", "LOAD '/tmp/evil.duckdb_extension'",
    "PRAGMA version", "PRAGMA enable_profiling", "SET enable_external_access = true", "RESET allowed_directories",
    "SET lock_configuration = false", "CALL pragma_version()", "SELECT * FROM pragma_table_info('problems')",
    "SELECT * FROM pragma_database_size()", "SELECT * FROM duckdb_settings()", "CREATE TABLE t AS SELECT 1",
    "INSERT INTO problems SELECT * FROM problems", "DELETE FROM problems", "DROP TABLE problems",
    "UPDATE problems SET question = 'x'", "BEGIN TRANSACTION", "USE memory", "SELECT nextval('seq')",
    "SELECT current_setting('home_directory')", "SELECT getenv('OPENAI_API_KEY')",
    "EXPLAIN ANALYZE SELECT * FROM problems", "SELECT * FROM (PIVOT problems ON source USING count(*))", "",
]
MARKUP = ["[/hide]", "[/]", ":x:", "[bold red]loud[/]", "[link=https://example.org]x[/link]"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-lake")
    root = base / "lake"
    records = base / "in.jsonl"
    records.write_text("".join(json.dumps({"question": f"Q {text}?", "answer": "1", "solution": f"{text} so 1."}) + "\n"
                               for text in MARKUP))
    assert run_cli(["ingest", str(records), "--mapping", "question-answer-solution"], root=root).returncode == 0
    sentinel = Sentinel.beside(root)
    work = base / "cwd"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "x.txt").write_text("a file in the working folder")
    return root, sentinel, work


@pytest.mark.parametrize("query", MAINTENANCE + FILES + STATEMENTS)
def test_hostile_sql_is_refused_in_one_line_and_touches_nothing(lake, query):
    root, sentinel, work = lake
    parquet = next(p for p in sentinel.root.rglob("*.parquet"))
    query = query.replace("SENTINEL", str(parquet))
    before = tree_digest(root)
    res = run_cli(["sql", query], root=root, cwd=work, timeout=60)
    assert res.returncode == 2, (query, res.returncode, res.out[-500:], res.err[-500:])
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err
    assert res.out == "" and "a file in the working folder" not in res.err
    assert tree_digest(root) == before, f"{query!r} changed the lake"
    sentinel.assert_untouched()
    assert not (work / "out.parquet").exists()


def test_markup_in_values_prints_as_text(lake):
    root, sentinel, work = lake
    for fmt in ("table", "csv", "json"):
        res = run_cli(["sql", "SELECT question AS \"[/]\" FROM problems ORDER BY 1", "--format", fmt], root=root,
                      cwd=work)
        assert res.returncode == 0, res.err
        for text in MARKUP:
            assert text in res.out, (fmt, text)
        assert "\u274c" not in res.out  # :x: never becomes an emoji
    sentinel.assert_untouched()


@pytest.mark.parametrize("siblings, pattern", [(["lake1", "lake2"], "lake[12]"), (["victim"], "v*"),
                                              (["x1", "xy"], "x[!z]*")])
def test_glob_named_roots_leave_sibling_lakes_alone(tmp_path, siblings, pattern):
    root = tmp_path / "g" / pattern
    sentinels = [Sentinel.beside(root, name) for name in siblings]
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"question": "Glob?", "answer": "2", "solution": "It is 2."}) + "\n")
    for _ in range(2):  # the second writer open runs the orphan cleanup on a lake that has files
        assert run_cli(["ingest", str(records), "--mapping", "question-answer-solution"], root=root).returncode == 0
    res = run_cli(["status", "--json"], root=root)
    assert res.returncode == 0 and json.loads(res.out)["problems"] == 1
    for sentinel in sentinels:
        sentinel.assert_untouched()


def test_a_question_mark_root_is_refused_in_one_line(tmp_path):
    root = tmp_path / "g" / "l?ke"
    sentinel = Sentinel.beside(root, "lake")
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"question": "Q?", "answer": "2", "solution": "It is 2."}) + "\n")
    for args in (["ingest", str(records), "--mapping", "question-answer-solution"], ["status"]):
        res = run_cli(args, root=root)
        assert res.returncode == 2 and len(res.err.strip().splitlines()) == 1 and "'?'" in res.err, res.err
    assert not root.exists()
    sentinel.assert_untouched()
