"""bench/scale.py --quick runs end to end (its own PostgreSQL, the loopback LLM server, real
annotate processes with 1 and 2 workers) and prints its table: every setting with numeric
throughput ratios against the embedded-catalog baseline, and the status line. Skipped where
PostgreSQL is not installed.

    .venv/bin/python -m pytest tests/test_bench_scale.py -q
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pg import binaries

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(binaries() is None, reason="PostgreSQL is not installed (Debian: apt-get install postgresql)")
def test_scale_bench_quick_prints_the_table_with_ratios():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("rules ", "llm "))]
    assert len(rows) == 6, done.stdout  # 2 taggers x (embedded + postgres with 1 and 2 workers)
    for row in rows:
        numbers = row[-9:]  # traj, wall s, traj/s, ratio, stage s, traj/s, ratio, commits, retries
        assert all(re.fullmatch(r"\d+(\.\d+)?", n) for n in numbers), row
        assert float(numbers[3]) > 0 and float(numbers[6]) > 0 and int(numbers[0]) == 120
    baselines = [row for row in rows if "embedded" in row]
    assert [float(row[-6]) for row in baselines] == [1.0, 1.0]  # each tagger's baseline is its own ratio 1
    assert re.search(r"status while 2 postgres writers run .* ratio busy / rest = \d+\.\d+", done.stdout), done.stdout
