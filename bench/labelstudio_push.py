"""Benchmark: `review push` of 10,000 tasks with predictions (batched imports) against the
baseline of one label-studio-sdk create call per task, measured on a sample in the same run
against the same server; then `review pull` of 1,000 annotations; then a team: `review push
--annotators-per-task 2` of 1,000 tasks, two accounts annotate every one of them, `review pull`.

    .venv/bin/python bench/labelstudio_push.py [--tasks 10000] [--sample 200] [--annotations 1000] \
        [--overlap-tasks 1000] [--overlap 2]

Starts its own managed Label Studio (scratch folder, free port; the server's virtualenv is
installed on first use) and a scratch lake; prints the figures and the speed-up ratio.
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.labelstudio import server  # noqa: E402
from pipeline.labelstudio.client import LSClient  # noqa: E402
from pipeline.labelstudio.pull import pull  # noqa: E402
from pipeline.labelstudio.push import push  # noqa: E402
from schemas import Problem, Span, Trajectory, content_id, load_taxonomy, text_sha, to_arrow  # noqa: E402
from warehouse import Lake  # noqa: E402

TEXT = ("First, let's find the cost of {n} apples 😀 at 3 each: {n} × 3 = {m}. Wait, the shop gives 中文 a discount "
        "of 1 per apple, so each costs 2. Let me check: {n} × 2 = {k}. The answer is \\boxed{{{k}}}.")


def fill_lake(lake: Lake, n: int) -> None:
    problems, trajs, spans = [], [], []
    for i in range(n):
        text = TEXT.format(n=i + 1, m=3 * (i + 1), k=2 * (i + 1))
        pid = content_id("problem", "bench", f"q{i}", str(2 * (i + 1)))
        tid = content_id("trajectory", pid, "teacher", text_sha(text))
        problems.append(Problem(problem_id=pid, source="bench", question=f"How much do {i + 1} apples cost?",
                                reference_answer=str(2 * (i + 1))))
        trajs.append(Trajectory(trajectory_id=tid, problem_id=pid, teacher="teacher", text=text,
                                text_sha=text_sha(text), n_chars=len(text)))
        for cue, label in (("First, let's find", "decomposition"), ("Wait", "backtracking"), ("Let me check", "verification")):
            s = text.index(cue)
            spans.append(Span(span_id=content_id("span", tid, s, label), trajectory_id=tid, text_sha=text_sha(text),
                              start=s, end=s + len(cue), label=label, annotator_kind="rule", annotator="rules",
                              confidence=0.6, alignment="segment", run_id="bench-rules"))
    lake.insert("problems", to_arrow(problems, Problem))
    lake.insert("trajectories", to_arrow(trajs, Trajectory))
    lake.insert("spans", to_arrow(spans, Span))


def sdk_baseline(info, project_id: int, sample: int) -> float:
    """Seconds for `sample` tasks created one SDK call each (data only: kind to the baseline)."""
    from label_studio_sdk import LabelStudio

    sdk = LabelStudio(base_url=info.url, api_key=info.token)
    t0 = time.perf_counter()
    for i in range(sample):
        sdk.tasks.create(project=project_id, data={"text": TEXT.format(n=i, m=i, k=i), "question": "q",
                                                   "candidates": "", "part_label": "part 1 of 1"})
    return time.perf_counter() - t0


def annotate_as(client: LSClient, task: dict, label: str = "backtracking") -> None:
    """One annotation of `task` by the client's account: a span over "Wait" and a 1-5 rating."""
    text = task["data"]["text"]
    s = text.index("Wait")
    client.json("POST", f"/api/tasks/{task['id']}/annotations", json={"lead_time": 12.5, "result": [
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": s, "end": s + 4, "text": "Wait", "labels": [label]}},
        {"from_name": "quality", "to_name": "text", "type": "rating", "value": {"rating": 3}}]})


def overlap_bench(client, lake, tax, info, n_tasks: int, overlap: int, annotate) -> dict:
    """Seconds to push `n_tasks` with `overlap` annotators per task, for the accounts to annotate
    every task through the API (8 threads), and to pull all n_tasks x overlap annotations."""
    t0 = time.perf_counter()
    report, pid = push(lake, client, tax, select="random", limit=n_tasks, predictions="rules",
                       project="bench overlap", annotators_per_task=overlap)
    push_s = time.perf_counter() - t0
    assert report.counts["tasks.new"] == n_tasks, report.counts
    accounts = [LSClient(info.url, client.invite_user(f"bench{i}@stratagem.test", f"bench-password-{i}-0123"))
                for i in range(overlap)]
    tasks = list(client.iter_tasks(pid, fields="task_only", page_size=1000))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: annotate(job[0], job[1], ("backtracking", "verification")[job[2] % 2]),
                      [(acc, t, i) for i, acc in enumerate(accounts) for t in tasks]))
    annotate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pulled = pull(lake, client, tax, project="bench overlap", page_size=500)
    pull_s = time.perf_counter() - t0
    n = n_tasks * overlap
    assert pulled.counts["annotations.new"] == n and pulled.counts["accepted"] == pulled.counts["recorded"] == n, \
        pulled.counts
    stored = lake.scalar("SELECT count(*) FROM annotations WHERE ls_project = ? AND superseded_by IS NULL", [pid])
    assert stored == n, stored
    return {"tasks": n_tasks, "overlap": overlap, "push_s": push_s, "annotate_s": annotate_s, "pull_s": pull_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--annotations", type=int, default=1_000)
    ap.add_argument("--overlap-tasks", type=int, default=1_000, help="tasks pushed with overlap (0: skip)")
    ap.add_argument("--overlap", type=int, default=2, help="annotators per task")
    args = ap.parse_args()
    team = {}
    tax = load_taxonomy()
    with tempfile.TemporaryDirectory(prefix="stratagem-bench-ls-") as tmp:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        info = server.start(port, Path(tmp) / "ls")
        try:
            client = LSClient(info.url, info.token)
            with Lake.open(Path(tmp) / "lake") as lake:
                fill_lake(lake, args.tasks)
                t0 = time.perf_counter()
                report, pid = push(lake, client, tax, select="random", limit=args.tasks, predictions="rules",
                                   project="bench push")
                push_s = time.perf_counter() - t0
                assert report.counts["tasks.new"] == args.tasks, report.counts
                t0 = time.perf_counter()
                again, _ = push(lake, client, tax, select="random", limit=args.tasks, predictions="rules",
                                project="bench push")
                repush_s = time.perf_counter() - t0
                assert again.counts["tasks.unchanged"] == args.tasks, again.counts

                baseline_project = client.create_project("bench sdk baseline", "<View><Text name='text' value='$text'/></View>", None)
                base_s = sdk_baseline(info, baseline_project["id"], args.sample)

                tasks = [t for _, t in zip(range(args.annotations), client.iter_tasks(pid, fields="task_only", page_size=1000))]

                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda t: annotate_as(client, t), tasks))
                t0 = time.perf_counter()
                pulled = pull(lake, client, tax, project="bench push", page_size=500)
                pull_s = time.perf_counter() - t0
                assert pulled.counts["accepted"] == args.annotations, pulled.counts
                if args.overlap_tasks:
                    team = overlap_bench(client, lake, tax, info, args.overlap_tasks, args.overlap, annotate_as)
        finally:
            server.stop(Path(tmp) / "ls")

    per_1k = push_s / args.tasks * 1000
    base_per_1k = base_s / args.sample * 1000
    print(f"label studio push benchmark (label-studio {server.LS_VERSION}, local server, this machine)")
    print(f"  push {args.tasks:,} tasks with predictions (batched import): {push_s:.1f} s = {per_1k:.2f} s per 1,000 tasks")
    print(f"  re-push, all unchanged (idempotent):                   {repush_s:.1f} s")
    print(f"  baseline: one SDK tasks.create per task, {args.sample} sampled:  {base_s:.1f} s = {base_per_1k:.2f} s per 1,000 tasks (no predictions)")
    print(f"  speed-up vs baseline: {base_per_1k / per_1k:.1f}x (target >= 10x)")
    print(f"  pull {args.annotations:,} annotations (first pull; {args.annotations:,} annotated of {args.tasks:,} tasks): {pull_s:.1f} s")
    if team:
        n = team["tasks"] * team["overlap"]
        print(f"  overlap {team['overlap']}: push {team['tasks']:,} tasks (--annotators-per-task {team['overlap']}): "
              f"{team['push_s']:.1f} s")
        print(f"  overlap {team['overlap']}: {team['overlap']} accounts post {n:,} annotations (API, 8 threads): "
              f"{team['annotate_s']:.1f} s")
        print(f"  overlap {team['overlap']}: pull {n:,} annotations ({team['overlap']} per task, spans + ratings + "
              f"annotations rows): {team['pull_s']:.1f} s")


if __name__ == "__main__":
    main()
