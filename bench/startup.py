"""Benchmark: start-up time of `stratagem --help` and `stratagem status` (on a small lake),
against the bare interpreter start (`python -c pass`) measured in the same run.

    .venv/bin/python bench/startup.py            # 7 runs of each, interleaved
    .venv/bin/python bench/startup.py --runs 15

Each command runs in a fresh process, as a user types it (`python -m pipeline.cli ...`, the
same code the `stratagem` script runs). Prints the median and best wall time of each, and its
ratio to the baseline's median; the target is under 0.5 s for both on an idle machine. The
load average is printed with the figures, since a busy machine moves them most.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.5


def _small_lake(folder: Path) -> Path:
    root = folder / "lake"
    records = folder / "in.jsonl"
    records.write_text("".join(json.dumps({"question": f"What is {i}+1?", "answer": str(i + 1),
                                           "solution": f"{i}+1 = {i + 1}. The answer is {i + 1}."}) + "\n"
                               for i in range(100)))
    subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", str(records), "--mapping",
                    "question-answer-solution", "--root", str(root)], check=True, capture_output=True, cwd=REPO)
    return root


def _time(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                   env=os.environ | {"COLUMNS": "120"})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stratagem-startup-") as tmp:
        root = _small_lake(Path(tmp))
        commands = {
            "baseline: python -c pass": [sys.executable, "-c", "pass"],
            "stratagem --help": [sys.executable, "-m", "pipeline.cli", "--help"],
            "stratagem status": [sys.executable, "-m", "pipeline.cli", "status", "--root", str(root)],
        }
        for argv in commands.values():  # warm the page cache once
            _time(argv)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so a load spike hits every command alike
            for name, argv in commands.items():
                times[name].append(_time(argv))
    base = statistics.median(times["baseline: python -c pass"])
    print(f"{args.runs} runs each, interleaved; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'':28s} {'median s':>9s} {'best s':>8s} {'/ baseline':>11s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28s} {median:9.3f} {min(values):8.3f} {median / base:10.1f}x")
    for name in ("stratagem --help", "stratagem status"):
        median = statistics.median(times[name])
        verdict = "ok" if median < TARGET_S else "over"
        print(f"{name}: {median:.3f} s median, target < {TARGET_S} s: {verdict}")


if __name__ == "__main__":
    main()
