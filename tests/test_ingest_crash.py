"""Crash safety: `stratagem ingest` killed with SIGKILL at several points of a multi-file
run, then rerun, leaves exactly the tables of an uninterrupted run: no duplicates, nothing
missing, and nothing half-written visible after any kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipeline.ingest import ingest, load_mapping
from warehouse import Lake

N_FILES, PER_FILE = 6, 1000
TABLES = {"problems": "problem_id", "trajectories": "trajectory_id", "spans": "span_id"}


def make_files(folder: Path) -> list[Path]:
    folder.mkdir()
    files = []
    for f in range(N_FILES):
        path = folder / f"part-{f}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for i in range(PER_FILE):
                q = f"File {f} problem {i}: Ann buys {i} apples at {f + 2} dollars. How much?"
                solution = f"First, find the total cost.\nIt is {i} x {f + 2} = {i * (f + 2)}.\nThe answer is \\boxed{{{i * (f + 2)}}}."
                out.write(json.dumps({"id": f"{f}-{i}", "question": q, "answer": str(i * (f + 2)), "family": "shopping",
                                      "perturbation": "original", "seed_question": q, "seed_answer": str(i * (f + 2)),
                                      "solution": solution, "teacher": "procedural-teacher-v1",
                                      "gold_spans": [{"start": 0, "end": 27, "label": "decomposition"}]}) + "\n")
        files.append(path)
    return files


def snapshot(root: Path) -> dict[str, list]:
    with Lake.open(root, read_only=True) as lake:
        out = {}
        for table, key in TABLES.items():
            assert lake.scalar(f"SELECT count(*) - count(DISTINCT {key}) FROM {table}") == 0, f"duplicate keys in {table}"
            out[table] = lake.query(f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY {key}").to_pylist()
        return out


def check_consistent(root: Path) -> None:
    """What a killed run left must be whole: every trajectory has its problem and its spans."""
    with Lake.open(root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM trajectories t LEFT JOIN problems p USING (problem_id) "
                           "WHERE p.problem_id IS NULL") == 0
        assert lake.scalar("SELECT count(*) FROM trajectories t WHERE NOT EXISTS "
                           "(SELECT 1 FROM spans s WHERE s.trajectory_id = t.trajectory_id)") == 0
        assert lake.scalar("SELECT count(*) FROM spans s LEFT JOIN trajectories t USING (trajectory_id) "
                           "WHERE t.trajectory_id IS NULL") == 0
        assert lake.scalar("SELECT count(*) FROM runs WHERE stage = 'ingest' AND status = 'ok'") == 0


def command(files: list[Path], root: Path) -> list[str]:
    exe = Path(sys.executable).with_name("stratagem")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeline.cli"]
    return [*base, "ingest", *map(str, files), "--mapping", "stratagem-sample", "--block-mb", "1", "--root", str(root)]


def run_and_kill(files: list[Path], root: Path, after_files: int) -> None:
    """Start the CLI; SIGKILL it right after it reports `after_files` inputs committed
    (it is then already working on the next one)."""
    proc = subprocess.Popen(command(files, root), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=os.environ | {"COLUMNS": "400"})
    seen = 0
    try:
        for line in proc.stderr:
            seen += line.startswith("ingested ")
            if seen == after_files:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()


def test_killed_runs_then_rerun_equal_an_uninterrupted_run(tmp_path):
    files = make_files(tmp_path / "in")
    with Lake.open(tmp_path / "clean") as lake:
        clean_report = ingest(lake, files, load_mapping("stratagem-sample"))
    assert clean_report.counts["accepted"] == N_FILES * PER_FILE
    expected = snapshot(tmp_path / "clean")

    crashed = tmp_path / "crashed"
    for after in (1, 2, 2):  # each rerun skips what is stored and is killed again further on
        run_and_kill(files, crashed, after)
        check_consistent(crashed)
    partial = snapshot(crashed)
    assert 0 < len(partial["trajectories"]) < N_FILES * PER_FILE

    done = subprocess.run(command(files, crashed), capture_output=True, text=True, env=os.environ | {"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert snapshot(crashed) == expected
    last = done.stdout.strip().splitlines()[-1]
    read, accepted, duplicates = (int(last.split(word)[1].split()[0].replace(",", ""))
                                  for word in ("read ", "accepted ", "duplicates "))
    assert read == N_FILES * PER_FILE and duplicates == len(partial["trajectories"]) and accepted == read - duplicates
    with Lake.open(crashed, read_only=True) as lake:  # files of killed batches were removed, none of the stored
        listed = {Path(r[0]).name for r in lake.rows("SELECT data_file FROM ducklake_list_files('lake', ?)", ["trajectories"])}
    assert listed and {p.name for p in (crashed / "data" / "main" / "trajectories").glob("*.parquet")} == listed


def test_a_writer_removes_data_files_no_snapshot_references(tmp_path):
    files = make_files(tmp_path / "in")[:1]
    with Lake.open(tmp_path / "lake") as lake:
        ingest(lake, files, load_mapping("stratagem-sample"))
    folder = tmp_path / "lake" / "data" / "main" / "trajectories"
    [stored] = folder.glob("*.parquet")
    (folder / "ducklake-left-by-a-killed-writer.parquet").write_bytes(stored.read_bytes())
    with Lake.open(tmp_path / "lake", read_only=True) as lake:  # a reader touches nothing
        assert lake.orphans_removed == 0
    assert len(list(folder.glob("*.parquet"))) == 2
    with Lake.open(tmp_path / "lake") as lake:
        assert lake.orphans_removed == 1 and lake.count("trajectories") == PER_FILE
    assert list(folder.glob("*.parquet")) == [stored]
