"""The `stratagem sample` command: a real run of the console script, and bad flags failing
with exit code 2 and one line.

    .venv/bin/pytest tests/test_sample_cli.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline.sample import write_sample
from pipeline.sample.command import register

# The command on its own app (importing pipeline.cli would load every stage's module).
app = typer.Typer()
app.callback()(lambda: None)
register(app)

SCRIPT = Path(sys.executable).with_name("stratagem")


def test_console_script_writes_the_same_bytes_as_the_api(tmp_path):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pipeline.cli"]
    env = os.environ | {"PYTHONHASHSEED": "123"}      # output must not depend on hash randomisation
    done = subprocess.run(cmd + ["sample", "--n", "5", "--seed", "1", "--out", "x.jsonl"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 30 records" in done.stdout
    lines = (tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30 and all(json.loads(line)["id"].startswith("s-") for line in lines)
    write_sample(tmp_path / "api.jsonl", 5, seed=1)
    assert (tmp_path / "api.jsonl").read_bytes() == (tmp_path / "x.jsonl").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be a positive"),
    (["--n", "-4"], "--n must be a positive"),
    (["--trajectories", "0"], "--trajectories must be at least 1"),
    (["--variants", "numbers,shuffled"], "unknown variant 'shuffled'"),
    (["--out", "missing/x.jsonl"], "is not an existing folder"),
    (["--out", "afile/x.jsonl"], "is not an existing folder"),
    (["--out", "."], "is a directory"),
    (["--families", "lookup,nope"], "unknown family 'nope'"),
])
def test_bad_flags_fail_with_one_line_and_exit_code_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    full = ["sample", "--n", "2", "--out", "ok.jsonl"] + args
    result = CliRunner().invoke(app, full)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "ok.jsonl").exists()


def test_unwritable_file_fails_cleanly(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root can write to read-only files and folders")
    monkeypatch.chdir(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = CliRunner().invoke(app, ["sample", "--n", "2", "--out", "locked/x.jsonl"])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2 and "not writable" in result.output


def test_families_flag_writes_the_short_form_family_with_its_variants(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["sample", "--n", "6", "--families", "lookup", "--out", "short.jsonl"])
    assert result.exit_code == 0, result.output
    assert "wrote 24 records (6 seed problems x 4 each)" in " ".join(result.output.split())
    rows = [json.loads(line) for line in (tmp_path / "short.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["family"] for r in rows} == {"lookup"}
    assert {r["perturbation"] for r in rows} == {"original", "numbers", "names", "distractor"}
