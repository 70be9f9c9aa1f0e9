"""Benchmark and quality report of the rules tagger (annotators/rules.py).

    .venv/bin/python bench/rules_tagger.py                 # 200k sample trajectories
    .venv/bin/python bench/rules_tagger.py --n-seeds 2000  # a quicker run

Prints, all measured in this run:
1. speed of the three backends (polars, compiled regex, Aho-Corasick) on the same slice;
2. MB/s and trajectories/s of the default backend on >= 200k sample trajectories
   (`pipeline.sample.generate_records`); then, on a slice of them, the default backend and
   the naive per-trajectory Python loop over the same patterns (`annotators.rules.naive_tag`)
   taking turns block by block, with their outputs compared, and the speed-up;
3. agreement with the sample's gold spans (a seed the cues were not tuned on);
4. agreement with the silver sentence labels of ../shared/data/r1-traces (when present),
   on the half used while tuning the cues (correct_base_solution) and the held-out half.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotators import TagItem  # noqa: E402
from annotators.agreement import compare  # noqa: E402
from annotators.rules import DEFAULT_BACKEND, RulesTagger, compile_patterns, label_patterns, naive_tag  # noqa: E402

R1_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "r1-traces"
# r1-traces function tags -> our labels; None = no counterpart in the taxonomy
TAG_MAP: dict[str, str | None] = {
    "plan_generation": "planning", "fact_retrieval": "recall", "self_checking": "verification",
    "uncertainty_management": "backtracking", "problem_setup": None, "active_computation": None,
    "result_consolidation": None, "final_answer_emission": None,
}


def sample_records(n_seeds: int, seed: int) -> list[dict]:
    try:
        from pipeline.sample import generate_records
    except ImportError:
        sys.exit("pipeline.sample is not available: cannot build the benchmark corpus")
    return list(generate_records(n_seeds, seed))


def tag_all(tagger: RulesTagger, texts: list[str], batch: int = 5000) -> list:
    out = []
    for lo in range(0, len(texts), batch):
        out += tagger.tag([TagItem(str(lo + i), t) for i, t in enumerate(texts[lo: lo + batch])])
    return out


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def speed(n_seeds: int, naive_slice: int) -> None:
    print(f"== speed (sample corpus: pipeline.sample.generate_records({n_seeds}, seed=1))")
    records, secs = timed(lambda: sample_records(n_seeds, 1))
    texts = [r["solution"] for r in records]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"corpus: {len(texts):,} trajectories, {mb:,.1f} MB (generated in {secs:.1f} s)")
    head = texts[:naive_slice]
    head_mb = sum(len(t.encode("utf-8")) for t in head) / 1e6
    print(f"backends on the first {len(head):,} trajectories ({head_mb:.1f} MB):")
    for backend in ("polars", "regex", "aho"):
        backend_tagger = RulesTagger(backend=backend)
        _, s = timed(lambda: tag_all(backend_tagger, head))
        print(f"  {backend:7s} {len(head) / s:>10,.0f} traj/s {head_mb / s:>7.2f} MB/s")
    tagger = RulesTagger(backend=DEFAULT_BACKEND)
    results, s = timed(lambda: tag_all(tagger, texts))
    print(f"default backend ({DEFAULT_BACKEND}) on all {len(texts):,}: {s:.1f} s, "
          f"{len(texts) / s:,.0f} traj/s, {mb / s:.2f} MB/s, {sum(len(r.spans) for r in results):,} spans")
    regexes = compile_patterns(label_patterns(tagger.taxonomy))
    # The naive loop and the default backend take turns on the same blocks of the slice, so
    # both see the same machine load (this box is shared); the ratio is the figure to trust.
    fast_s = naive_s = 0.0
    same = True
    for lo in range(0, len(head), 2000):
        block = head[lo: lo + 2000]
        fast, s = timed(lambda: tag_all(tagger, block))
        fast_s += s
        naive, s = timed(lambda: [naive_tag(t, regexes, tagger.labels) for t in block])
        naive_s += s
        same = same and all(a == b.spans for a, b in zip(naive, fast))
    print(f"on the first {len(head):,}, interleaved in blocks of 2,000: default backend {len(head) / fast_s:,.0f} traj/s "
          f"({head_mb / fast_s:.2f} MB/s), naive per-trajectory loop {len(head) / naive_s:,.0f} traj/s "
          f"({head_mb / naive_s:.2f} MB/s); identical spans: {same}")
    print(f"speed-up of the default backend over the naive loop: {naive_s / fast_s:.1f}x (target >= 5x)")


def _report(title: str, rep) -> None:
    print(f"{title}: overall kappa {rep.overall_kappa:.3f}, alpha {rep.overall_alpha:.3f}, "
          f"span F1 exact {rep.exact.f1:.3f}, overlap {rep.overlap.f1:.3f} "
          f"({rep.n_trajectories} trajectories, {rep.n_tokens:,} whitespace tokens)")
    print(f"  {'label':18s} {'spans a/b':>13s} {'exactF1':>8s} {'ovlP':>6s} {'ovlR':>6s} {'ovlF1':>6s} {'kappa':>7s} {'alpha':>7s}")
    f = lambda x: "    -" if x is None else f"{x:.3f}"  # noqa: E731
    for lab, r in rep.labels.items():
        print(f"  {lab:18s} {r.exact.n_pred:>6,}/{r.exact.n_ref:<6,} {f(r.exact.f1):>8s} {f(r.overlap.precision):>6s} "
              f"{f(r.overlap.recall):>6s} {f(r.overlap.f1):>6s} {f(r.kappa):>7s} {f(r.alpha):>7s}")


def gold_agreement(n_seeds: int) -> None:
    records = sample_records(n_seeds, 20260611)
    tagger = RulesTagger()
    results = tagger.tag([TagItem(r["id"], r["solution"]) for r in records])
    a = {r["id"]: [(s.start, s.end, s.label) for s in res.spans] for r, res in zip(records, results)}
    b = {r["id"]: [(g["start"], g["end"], g["label"]) for g in r["gold_spans"]] for r in records}
    _report("== rules vs sample gold spans (all 8 labels)",
            compare({r["id"]: r["solution"] for r in records}, a, b, labels=list(tagger.labels)))


def _locate(text: str, chunk: str, pos: int) -> tuple[int, int] | None:
    i = text.find(chunk, pos)
    if i >= 0:
        return i, i + len(chunk)
    words = chunk.split()
    m = re.compile(r"\s*".join(map(re.escape, words))).search(text, pos) if words else None
    return m.span() if m else None


def load_r1_silver(root: Path, subset: str | None = None) -> tuple[dict, dict, int, int]:
    """texts and silver spans per trace; chunks located by exact then whitespace-tolerant search."""
    texts, spans, n_chunks, located = {}, {}, 0, 0
    for chunks_file in sorted(root.glob("*/*/*/chunks_labeled.json")):
        if subset and chunks_file.parts[-3] != subset:
            continue
        doc = "/".join(chunks_file.parts[-3:-1])
        text = json.loads((chunks_file.parent / "base_solution.json").read_text())["solution"]
        texts[doc], spans[doc], pos = text, [], 0
        for ch in json.loads(chunks_file.read_text()):
            n_chunks += 1
            where = _locate(text, ch["chunk"], pos)
            if where is None:
                continue
            located += 1
            pos = where[1]
            labels = [TAG_MAP.get(t) for t in ch.get("function_tags", []) if TAG_MAP.get(t)]
            if labels:
                spans[doc].append((where[0], where[1], labels[0]))
    return texts, spans, n_chunks, located


def r1_agreement() -> None:
    if not R1_DATA.is_dir():
        print(f"== r1-traces: {R1_DATA} is absent, skipped")
        return
    mapped = sorted({v for v in TAG_MAP.values() if v})
    print("== rules vs r1-traces silver sentence labels; tag map: "
          + ", ".join(f"{k} -> {v or '(none)'}" for k, v in TAG_MAP.items()))
    print(f"   compared on the mapped labels only ({', '.join(mapped)}); our other labels count as unlabelled")
    tagger = RulesTagger(merge=False)
    for subset, title in (("correct_base_solution", "cue-tuning half (correct_base_solution)"),
                          ("incorrect_base_solution", "held-out half (incorrect_base_solution)"), (None, "all 20")):
        texts, silver, n_chunks, located = load_r1_silver(R1_DATA, subset)
        results = tagger.tag([TagItem(d, t) for d, t in texts.items()])
        ours = {d: [(s.start, s.end, s.label) for s in r.spans] for d, r in zip(texts, results)}
        _report(f"-- {title}, {located}/{n_chunks} chunks located", compare(texts, ours, silver, labels=mapped))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-seeds", type=int, default=34_000, help="sample seeds (x6 trajectories each; default >= 200k)")
    ap.add_argument("--naive", type=int, default=20_000, help="trajectories for the naive loop and backend comparison")
    ap.add_argument("--gold-seeds", type=int, default=500, help="sample seeds for the gold agreement")
    args = ap.parse_args()
    speed(args.n_seeds, args.naive)
    gold_agreement(args.gold_seeds)
    r1_agreement()


if __name__ == "__main__":
    main()
