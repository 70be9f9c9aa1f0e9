"""Shared harness for the hostile-input corpus: run the real CLI, bound its time, guard a sentinel lake.

    from harness import run_cli, last_counts, Sentinel   # tests/hostile is on sys.path (no __init__.py)

    sentinel = Sentinel.beside(root)            # a small lake in root's parent folder, files hashed
    res = run_cli(["ingest", str(path), "--mapping", "question-answer-solution"], root=root, timeout=60)
    assert res.returncode in (0, 2)             # run_cli already failed the test on a traceback or a hang
    counts = last_counts(root, "ingest")        # the newest `runs` row of that stage, read-only
    assert counts["read"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    sentinel.assert_untouched()

The CLI runs in a child process (`python -m pipeline.cli`), as a user runs it: a hang is a
test failure with the command named, a segfault shows as a negative return code, and
a Python traceback on stderr is a crash, whatever the exit code.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from files import tree_digest

REPO = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], *, root: Path | None, timeout: float = 60, env: dict | None = None,
            stdin: bytes | None = None, cwd: Path | None = None, crash_ok: bool = False) -> subprocess.CompletedProcess:
    """Run `stratagem ARGS [--root ROOT]` in a child process; fail the test on a hang, a signal or a traceback."""
    argv = [sys.executable, "-m", "pipeline.cli", *args]
    if root is not None:
        argv += ["--root", str(root)]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("STRATAGEM_ROOT")}
    child_env["PYTHONPATH"] = str(REPO) + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.setdefault("COLUMNS", "200")
    child_env.update(env or {})
    shown = " ".join(args)
    try:
        res = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, cwd=cwd or REPO, env=child_env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: `stratagem {shown}` ran past {timeout} s")
    out, err = res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")
    if not crash_ok:
        if res.returncode < 0:
            pytest.fail(f"`stratagem {shown}` died of signal {-res.returncode}\n{err[-3000:]}")
        if "Traceback (most recent call last)" in out + err:
            pytest.fail(f"`stratagem {shown}` crashed (exit {res.returncode}):\n{err[-3000:]}{out[-1000:]}")
    res.out, res.err = out, err  # decoded copies for assertions
    return res


def last_counts(root: Path, stage: str) -> dict:
    """The counts of the newest `runs` row of `stage` (read-only open: works after the writer has gone)."""
    from warehouse import Lake

    with Lake.open(root, read_only=True) as lake:
        rows = lake.query("SELECT counts FROM runs WHERE stage = ? ORDER BY started_at DESC LIMIT 1", [stage]).to_pylist()
    assert rows, f"no {stage} run recorded under {root}"
    counts = rows[0]["counts"]
    return json.loads(counts) if isinstance(counts, str) else counts


def assert_balanced(counts: dict) -> None:
    assert counts["read"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"], counts


@dataclass
class Sentinel:
    """A lake that a hostile run must not touch: its files, hashed before, equal after."""
    root: Path
    before: dict[str, str]

    @classmethod
    def beside(cls, root: Path, name: str = "sentinel") -> "Sentinel":
        """A small real lake (one ingested record) in `root`'s parent folder, named `name`."""
        root.parent.mkdir(parents=True, exist_ok=True)
        sroot = root.parent / name
        src = root.parent / f"{name}-input.jsonl"
        src.write_text(json.dumps({"question": "Sentinel?", "answer": "1", "solution": "It is 1.", "teacher": "t"}) + "\n")
        run_cli(["ingest", str(src), "--mapping", "question-answer-solution"], root=sroot)
        files = tree_digest(sroot)
        assert any(k.endswith(".parquet") for k in files), f"sentinel lake wrote no Parquet: {sorted(files)}"
        return cls(sroot, files)

    def assert_untouched(self) -> None:
        after = {k: v for k, v in tree_digest(self.root).items() if k != "writer.lock"}
        before = {k: v for k, v in self.before.items() if k != "writer.lock"}
        assert after == before, f"the sentinel lake {self.root} changed"
