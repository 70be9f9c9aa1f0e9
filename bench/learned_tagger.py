"""Benchmark and quality report of the learned tagger (annotators/learned.py) against the rules tagger.

    .venv/bin/python bench/learned_tagger.py                   # about a minute on 2 cores
    .venv/bin/python bench/learned_tagger.py --speed-seeds 500 # a quicker speed run

Prints, all measured in this run (learned = trained here, never on what it is scored on):
1. sample gold (`pipeline.sample.generate_records(500, seed=20260611)`, the set behind the
   rules tagger's 0.424): held-out split by seed problem (a seed problem and all its variants
   fall on one side; seed_index % 5 == 0 is held out), learned vs rules on the held-out part:
   token-level Cohen's kappa and span F1 (exact, overlap) from annotators/agreement.py; the
   same with two whole families held out; the learning curve (kappa vs number of training
   trajectories, drawn at random from the training side);
2. r1-traces silver (../shared/data/r1-traces, `chunks_labeled.json` function tags assigned by
   an LLM, mapped to our labels as in bench/rules_tagger.py): 5-fold cross-validation grouped
   by problem (both traces of a problem, correct and incorrect, on the same side), each trace
   predicted by the model of the fold that held its problem out; learned vs rules on the
   incorrect half (where the rules' 0.245 was measured) and on all 20; learning curve over the
   number of training traces per fold;
3. speed: trajectories/s of both taggers on the sample corpus, taking turns block by block
   (this machine is shared: the ratio is the figure to trust).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from annotators import TagItem  # noqa: E402
from annotators.agreement import compare  # noqa: E402
from annotators.learned import LearnedTagger, fit  # noqa: E402
from annotators.rules import RulesTagger  # noqa: E402
from rules_tagger import R1_DATA, TAG_MAP, load_r1_silver  # noqa: E402

GOLD_SEED, GOLD_SEEDS = 20260611, 500
CURVE = (5, 10, 20, 50, 100, 200, 500, 1000)


def _spans(results) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.label) for s in r.spans] for r in results]


def score(ids, texts, pred, ref, labels):
    """(kappa, exact F1, overlap F1, n) of pred against ref."""
    rep = compare(dict(zip(ids, texts)), dict(zip(ids, pred)), dict(zip(ids, ref)), labels=labels)
    return rep.overall_kappa, rep.exact.f1, rep.overlap.f1, rep.n_trajectories


def line(name: str, s) -> str:
    f = lambda x: "  -  " if x is None else f"{x:.3f}"  # noqa: E731
    return f"  {name:34s} kappa {f(s[0])}  span F1 exact {f(s[1])}  overlap {f(s[2])}  ({s[3]} trajectories)"


def sample_gold() -> None:
    from pipeline.sample import generate_records

    records = list(generate_records(GOLD_SEEDS, GOLD_SEED))
    labels = list(RulesTagger().labels)
    gold = lambda rs: [[(g["start"], g["end"], g["label"]) for g in r["gold_spans"]] for r in rs]  # noqa: E731
    rules = RulesTagger()

    def evaluate(train, test, title):
        model = fit([r["solution"] for r in train], gold(train), labels)
        ids, texts = [r["id"] for r in test], [r["solution"] for r in test]
        ours = _spans(LearnedTagger(model).tag([TagItem(i, t) for i, t in zip(ids, texts)]))
        base = _spans(rules.tag([TagItem(i, t) for i, t in zip(ids, texts)]))
        print(title)
        print(line("rules", score(ids, texts, base, gold(test), labels)))
        print(line(f"learned (trained on {len(train):,})", score(ids, texts, ours, gold(test), labels)))
        return model

    every = [r["id"] for r in records]
    print(f"== sample gold: generate_records({GOLD_SEEDS}, seed={GOLD_SEED}), {len(records):,} trajectories, all 8 labels")
    print(line("rules on all (the 0.424 figure)", score(every, [r["solution"] for r in records],
                                                         _spans(rules.tag([TagItem(r["id"], r["solution"])
                                                                           for r in records])), gold(records), labels)))
    train = [r for r in records if r["metadata"]["seed_index"] % 5]
    test = [r for r in records if not r["metadata"]["seed_index"] % 5]
    model = evaluate(train, test, f"-- held out: seed problems with seed_index % 5 == 0 (and their variants)")
    families = sorted({r["family"] for r in records})
    out = random.Random(0).sample(families, 2)
    evaluate([r for r in records if r["family"] not in out], [r for r in records if r["family"] in out],
             f"-- held out: whole families {', '.join(out)} (never seen in training)")

    print("-- learning curve (held-out seed problems; training trajectories drawn at random from the other side)")
    ids, texts = [r["id"] for r in test], [r["solution"] for r in test]
    rows = []
    for n in [n for n in CURVE if n < len(train)] + [len(train)]:
        pick = random.Random(n).sample(train, n)
        m = fit([r["solution"] for r in pick], gold(pick), labels)
        rows.append((n, score(ids, texts, _spans(LearnedTagger(m).tag([TagItem(i, t) for i, t in zip(ids, texts)])),
                              gold(test), labels)))
    base = score(ids, texts, _spans(rules.tag([TagItem(i, t) for i, t in zip(ids, texts)])), gold(test), labels)
    print(f"  {'trajectories':>12s} {'kappa':>7s} {'F1 exact':>9s} {'F1 overlap':>11s}")
    for n, s in rows:
        print(f"  {n:>12,} {s[0]:>7.3f} {s[1]:>9.3f} {s[2]:>11.3f}")
    print(f"  {'rules':>12s} {base[0]:>7.3f} {base[1]:>9.3f} {base[2]:>11.3f}")
    return model


def r1_silver() -> None:
    if not R1_DATA.is_dir():
        print(f"== r1-traces: {R1_DATA} is absent, skipped")
        return
    texts, silver, n_chunks, located = load_r1_silver(R1_DATA)
    mapped = sorted({v for v in TAG_MAP.values() if v})
    docs = sorted(texts)
    problems = sorted({d.split("/")[1] for d in docs})
    folds = [problems[k::5] for k in range(5)]
    print(f"== r1-traces silver (LLM-assigned function tags, {located}/{n_chunks} chunks located), labels "
          f"{', '.join(mapped)}; 5 folds by problem ({len(problems)} problems, both traces of a problem together)")

    def cross_validate(n_train: int | None = None, seed: int = 0) -> dict:
        pred = {}
        for held in folds:
            train = [d for d in docs if d.split("/")[1] not in held]
            if n_train is not None:
                train = random.Random(seed).sample(train, n_train)
            model = fit([texts[d] for d in train], [silver[d] for d in train], mapped)
            test = [d for d in docs if d.split("/")[1] in held]
            for d, r in zip(test, LearnedTagger(model).tag([TagItem(d, texts[d]) for d in test])):
                pred[d] = [(s.start, s.end, s.label) for s in r.spans]
        return pred

    rules = RulesTagger(merge=False)  # as bench/rules_tagger.py scores the r1 silver
    base = {d: [(s.start, s.end, s.label) for s in r.spans] for d, r in
            zip(docs, rules.tag([TagItem(d, texts[d]) for d in docs]))}
    ours = cross_validate()
    for title, subset in (("incorrect half (the 0.245 set)", [d for d in docs if d.startswith("incorrect")]),
                          ("all 20", docs)):
        args = (subset, [texts[d] for d in subset])
        print(f"-- {title}")
        print(line("rules", score(*args, [base[d] for d in subset], [silver[d] for d in subset], mapped)))
        print(line("learned (16 traces per fold)", score(*args, [ours[d] for d in subset],
                                                         [silver[d] for d in subset], mapped)))
    print("-- learning curve (all 20 traces, each from its fold's model; training traces drawn at random per fold)")
    print(f"  {'traces':>12s} {'kappa':>7s} {'F1 exact':>9s} {'F1 overlap':>11s}")
    for n in (2, 4, 8, 16):
        s = score(docs, [texts[d] for d in docs], [(cross_validate(n) if n < 16 else ours)[d] for d in docs],
                  [silver[d] for d in docs], mapped)
        print(f"  {n:>12,} {s[0]:>7.3f} {s[1]:>9.3f} {s[2]:>11.3f}")
    s = score(docs, [texts[d] for d in docs], [base[d] for d in docs], [silver[d] for d in docs], mapped)
    print(f"  {'rules':>12s} {s[0]:>7.3f} {s[1]:>9.3f} {s[2]:>11.3f}")


def speed(model, n_seeds: int, block: int = 2000, rounds: int = 2) -> None:
    from pipeline.sample import generate_records

    texts = [r["solution"] for r in generate_records(n_seeds, 1)]
    items = [TagItem(str(i), t) for i, t in enumerate(texts)]
    learned, rules = LearnedTagger(model), RulesTagger()
    t_l = t_r = 0.0
    for _ in range(rounds):
        for lo in range(0, len(items), block):
            chunk = items[lo: lo + block]
            t0 = time.perf_counter()
            learned.tag(chunk)
            t1 = time.perf_counter()
            rules.tag(chunk)
            t_l, t_r = t_l + t1 - t0, t_r + time.perf_counter() - t1
    n = len(items) * rounds
    print(f"== speed on the sample corpus (generate_records({n_seeds}, seed=1): {len(items):,} trajectories, "
          f"{rounds} rounds, interleaved blocks of {block:,})")
    print(f"  learned {n / t_l:>10,.0f} traj/s   rules {n / t_r:>10,.0f} traj/s   "
          f"learned / rules = {t_r / t_l:.2f}x   (target >= 10,000 traj/s: {'met' if n / t_l >= 10_000 else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed-seeds", type=int, default=2000, help="sample seeds for the speed run (x6 trajectories)")
    args = ap.parse_args()
    model = sample_gold()
    r1_silver()
    speed(model, args.speed_seeds)


if __name__ == "__main__":
    main()
