"""Benchmark: `stratagem ingest` against the floor and a typical per-row script.

    .venv/bin/python bench/ingest.py                # 300,000 trajectories (~1.5 KB of text each)
    .venv/bin/python bench/ingest.py --rows 50000   # quicker

Generates a synthetic JSON-lines file in a temporary folder, then runs, each as its own
subprocess (time = wall clock, memory = peak RSS of that process via getrusage):
  - stratagem ingest FILE --mapping question-answer-solution (into a fresh lake),
  - the floor: polars.read_ndjson(FILE).write_parquet(...),
  - a typical script doing the same job per row: json.loads, ids and the project's pydantic
    row models (Problem, Trajectory), then a pyarrow Parquet write per table,
and prints the figures and the ratios. With `--folder N` (default 10,000; 0 skips it) it also
times a folder of N per-problem JSON files against the same N records as one JSONL file
(target: the folder within 2x of the file). Each is run `--repeat` times in turn (best time and
its peak RSS kept), so load from other processes skews all three alike. Targets: within
2.0x of the floor, at least 5x faster than the typical script, peak memory well under
the file size.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRATAGEM = [sys.executable, "-m", "pipeline.cli"]

_MEASURE = textwrap.dedent("""
    import resource, subprocess, sys, time
    t0 = time.perf_counter()
    rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
    seconds = time.perf_counter() - t0
    print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, rc)
""")

FLOOR = "import polars as pl, sys; pl.read_ndjson(sys.argv[1]).write_parquet(sys.argv[2])"

TYPICAL = textwrap.dedent("""
    # The same job done the usual way: per row json.loads, the project's pydantic row models
    # (ids from schemas.ids, text normalised once), then one pyarrow Parquet file per table.
    import json, sys
    import pyarrow.parquet as pq
    from schemas import Problem, Trajectory, content_id, normalise_text, text_sha, to_arrow

    problems, trajectories = [], []
    with open(sys.argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            question, answer = normalise_text(rec["question"]), rec["answer"]
            pid = content_id("problem", "bench", question, answer)
            problems.append(Problem(problem_id=pid, source="bench", question=question, reference_answer=answer))
            text = normalise_text(rec["solution"])
            sha = text_sha(text)
            trajectories.append(Trajectory(trajectory_id=content_id("trajectory", pid, "bench", sha), problem_id=pid,
                                           teacher="bench", text=text, text_sha=sha, n_chars=len(text),
                                           source_file=sys.argv[1], source_row=n))
    pq.write_table(to_arrow(problems, Problem), sys.argv[2] + ".problems")
    pq.write_table(to_arrow(trajectories, Trajectory), sys.argv[2])
""")


def make_file(path: Path, rows: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(5000)]
    cues = ["First, find", "Let me check", "Wait, that's wrong.", "Recall that", "Case 1:", "So the total is"]
    paragraphs = []
    for _ in range(4096):
        sentence = " ".join(rng.choices(words, k=70))
        paragraphs.append(f"{rng.choice(cues)} {sentence} = {rng.randint(1, 999)}.")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            text = "\n".join(paragraphs[(i * k + 7 * k) % 4096] for k in (1, 3, 5))
            solution = f"Step {i}. {text}\nThe answer is \\boxed{{{i % 997}}}."
            question = f"Problem {i}: " + " ".join(words[(i * j) % 5000] for j in range(1, 30)) + "?"
            f.write(json.dumps({"question": question, "answer": str(i % 997), "solution": solution}) + "\n")
    return path.stat().st_size


def measure(cmd: list[str]) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, cwd=REPO, check=True)
    seconds, rss, rc = out.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"command failed ({rc}): {' '.join(cmd)}")
    return float(seconds), int(rss)


def folder_case(tmp: Path, n: int, repeat: int) -> None:
    """N per-problem .json files vs the same records as one .jsonl: both through `stratagem ingest`."""
    lines = tmp / "records.jsonl"
    make_file(lines, n, seed=1)
    folder = tmp / "per-problem"
    folder.mkdir()
    with open(lines, encoding="utf-8") as f:
        for i, line in enumerate(f):
            (folder / f"problem-{i:06}.json").write_text(line, encoding="utf-8")
    runs = {"folder": folder, "jsonl": lines}
    best: dict[str, float] = {}
    for i in range(repeat):
        for name, path in runs.items():
            seconds, _ = measure([*STRATAGEM, "ingest", str(path), "--mapping", "question-answer-solution",
                                  "--teacher", "bench", "--root", str(tmp / f"lake-{name}{i}")])
            best[name] = min(best.get(name, seconds), seconds)
    print(f"folder of {n:,} per-problem JSON files: {best['folder']:.2f} s; same records as one JSONL: "
          f"{best['jsonl']:.2f} s")
    print(f"folder / jsonl      = {best['folder'] / best['jsonl']:.2f}x   (target <= 2.0x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000, help="trajectories in the synthetic file")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each command; the best is kept")
    parser.add_argument("--folder", type=int, default=10_000, help="per-problem files in the folder case (0: skip)")
    parser.add_argument("--only-folder", action="store_true", help="run the folder case alone")
    args = parser.parse_args()
    if args.folder:
        with tempfile.TemporaryDirectory(prefix="stratagem-bench-folder-") as tmp:
            folder_case(Path(tmp), args.folder, args.repeat)
    if args.only_folder:
        return
    with tempfile.TemporaryDirectory(prefix="stratagem-bench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "trajectories.jsonl"
        t0 = time.perf_counter()
        size = make_file(data, args.rows)
        print(f"synthetic file: {args.rows:,} trajectories, {size / 2**20:,.0f} MiB (made in {time.perf_counter() - t0:.1f} s)")
        commands = {
            "stratagem ingest": lambda i: [*STRATAGEM, "ingest", str(data), "--mapping", "question-answer-solution",
                                           "--teacher", "bench", "--root", str(tmp / f"lake{i}")],
            "floor (polars read_ndjson + write_parquet)": lambda i: [sys.executable, "-c", FLOOR, str(data),
                                                                     str(tmp / "floor.parquet")],
            "typical (json.loads + pydantic + pyarrow)": lambda i: [sys.executable, "-c", TYPICAL, str(data),
                                                                    str(tmp / "typical.parquet")],
        }
        results: dict[str, tuple[float, int]] = {}
        for i in range(args.repeat):  # interleaved, so a busy spell hits every command
            for name, cmd in commands.items():
                got = measure(cmd(i))
                results[name] = min(results.get(name, got), got)
    print(f"{'':45} {'seconds':>8} {'peak RSS MiB':>13} {'RSS / file':>11}")
    for name, (seconds, rss) in results.items():
        print(f"{name:45} {seconds:8.2f} {rss / 2**20:13.0f} {rss / size:11.2f}")
    ours, floor, typical = (results[k][0] for k in results)
    print(f"stratagem / floor   = {ours / floor:.2f}x   (target <= 2.0x)")
    print(f"typical / stratagem = {typical / ours:.2f}x   (target >= 5x)")
    print(f"stratagem peak RSS / file size = {results['stratagem ingest'][1] / size:.2f}")


if __name__ == "__main__":
    main()
