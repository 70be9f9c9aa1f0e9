"""bench/verify_accuracy.py: the answer checker (annotators/answers, "answers-3") against the
frozen answers-1 checker (bench/verify_baseline_answers1.py) and Hugging Face math-verify, on
labelled cases built from the public data in ../shared/data (issue 11, "a benchmark against
math-verify"): accuracy per source, precision / recall of "correct", our unknown share, and
microseconds per call of the reward path.

    nice -n 10 .venv/bin/python bench/verify_accuracy.py                      # about 50 s on 2 cores
    .venv/bin/python bench/verify_accuracy.py --limit 20 --json /tmp/v.json   # a quick run
    .venv/bin/python bench/verify_accuracy.py --sources math500 --show-errors 10

Sources (a case is: problem, candidate text, reference, label = the candidate's final answer is
correct). Human solutions are positives; each is also paired with ANOTHER problem's reference
whose value differs (seeded, deterministic; "differs" by a light normaliser below, not by any
judge under test) as a negative, so every human source has both labels:
  gsm8k            GSM8K test `answer` (with its "#### X" line) vs X
  gsm8k-nomarker   the same with the "#### X" line removed (the last sentence states the answer)
  math500          MATH-500 `solution` vs `answer`
  gsm-plus         GSM-Plus testmini `solution` vs `answer` (answer "None" skipped)
  r1-gt            r1-traces problem.json `gt_solution` vs `gt_answer` (10 problems)
Labelled model outputs; their labels come from the DATASETS' OWN GRADERS, which can be wrong:
  gsm8k-gpt3       example_model_solutions.jsonl, 4 GPT-3 solutions per problem, `is_correct`
                   (reference: the "A: X" of `ground_truth`)
  gsm-plus-gpt4    gpt4_gsm8k_solutions.json `model_prediction`, label `result`, reference `gold`
  qwen-math-cot    8 `response`s per problem, label the matching `score`, reference `gt`
  r1-traces        base_solution.json `solution` (the model's text, without the prompt that
                   `full_cot` carries), label `is_correct`, reference problem.json `gt_answer`
prm800k-subset is left out: its step `rating`s are all 0 or 1 (it is the "redundant errors"
subset), the "# Answer" step is rated 1 even where its answer differs from the ground truth
(e.g. 9 vs 10, 576 vs 144), and 182 of 300 solutions stop before any answer, so no
trustworthy label for the final answer exists there.

Judges: ours = judge_answer(candidate, reference, problem=question) ("unknown" counts as not
correct, and is reported as its own share); answers-1 = is_correct(candidate, reference) of the
frozen copy; math-verify 0.9.0 = verify(parse(f"${reference}$"), parse(candidate)) with
math-verify's default extraction configs on both sides (LatexExtractionConfig +
ExprExtractionConfig; the gold wrapped in $...$ so LaTeX answers such as "10{,}000" or
"\\text{(C)}" parse, as math-verify's README advises) and its own signal-based timeouts (5 s
parse, 5 s verify); an exception counts as not correct.

Timing: us/call of ours `is_correct` (the trainer's reward path, no problem text), answers-1
`is_correct` and math-verify, after a warm-up pass, in this process (ours and answers-1
interleaved, best of 3), on two case sets: the
built-in sample (1,080 teacher solutions from `stratagem sample`, 180 seeds: the issue's
criterion, "within 2x of today's per call on the sample"; target ours / answers-1 <= 2.0) and
the public-data mix (the first --timing-cases, taken round-robin over sources; reported, no
target: its negatives reach sympy, which answers-1 never calls). A diagnostic line adds how many timed calls reach the sympy step and ours us/call with that
step switched off (answers-1 has no such step: it says False where sympy decides).

--json writes every figure; timings sit under "timings", apart from the deterministic rest.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import verify_baseline_answers1 as answers1  # noqa: E402

from annotators.answers import CORRECT, UNKNOWN, is_correct, judge_answer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SEED = 11
PRECISION_TARGET, RECALL_TARGET, SPEED_TARGET = 0.98, 0.85, 2.0


@dataclass(frozen=True)
class Case:
    source: str
    problem: str
    candidate: str
    reference: str
    label: bool


# ----------------------------------------------------------------------------- loaders
def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _hash_answer(solution: str) -> str:
    return solution.rsplit("####", 1)[1].strip()


def _without_hash_line(solution: str) -> str:
    return solution.rsplit("####", 1)[0].rstrip()


def gsm8k_human(data: Path, source: str = "gsm8k") -> list[tuple[str, str, str]]:
    rows = _jsonl(data / "gsm8k" / "test.jsonl")
    if source == "gsm8k":
        return [(r["question"], r["answer"], _hash_answer(r["answer"])) for r in rows]
    return [(r["question"], _without_hash_line(r["answer"]), _hash_answer(r["answer"])) for r in rows]


def math500_human(data: Path) -> list[tuple[str, str, str]]:
    return [(r["problem"], r["solution"], r["answer"]) for r in _jsonl(data / "math500" / "test.jsonl")]


def gsm_plus_human(data: Path) -> list[tuple[str, str, str]]:
    rows = _jsonl(data / "gsm-plus" / "gsmplus_testmini.jsonl")
    return [(r["question"], r["solution"], r["answer"]) for r in rows if str(r["answer"]).strip() != "None"]


def _r1_dirs(data: Path) -> list[Path]:
    return sorted((data / "r1-traces").glob("*/*/problem_*"))


def r1_human(data: Path) -> list[tuple[str, str, str]]:
    seen: dict[str, tuple[str, str, str]] = {}
    for d in _r1_dirs(data):
        p = json.loads((d / "problem.json").read_text(encoding="utf-8"))
        seen.setdefault(d.name, (p["problem"], p["gt_solution"], p["gt_answer"]))
    return [seen[k] for k in sorted(seen)]


def gsm8k_gpt3(data: Path) -> Iterator[Case]:
    keys = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
    for r in _jsonl(data / "gsm8k" / "example_model_solutions.jsonl"):
        reference = r["ground_truth"].rsplit("\nA:", 1)[1].strip()
        for k in keys:
            yield Case("gsm8k-gpt3", r["question"], r[k]["solution"], reference, bool(r[k]["is_correct"]))


def gsm_plus_gpt4(data: Path) -> Iterator[Case]:
    rows = json.loads((data / "gsm-plus" / "gpt4_gsm8k_solutions.json").read_text(encoding="utf-8"))
    for r in rows:
        yield Case("gsm-plus-gpt4", r["question"], r["model_prediction"], str(r["gold"]), bool(r["result"]))


def qwen_math_cot(data: Path) -> Iterator[Case]:
    for r in _jsonl(data / "qwen-math-cot" / "math_cot_100.jsonl"):
        for response, score in zip(r["response"], r["score"], strict=True):
            yield Case("qwen-math-cot", r["question"], response, str(r["gt"]), bool(score))


def r1_traces(data: Path) -> Iterator[Case]:
    for d in _r1_dirs(data):
        p = json.loads((d / "problem.json").read_text(encoding="utf-8"))
        b = json.loads((d / "base_solution.json").read_text(encoding="utf-8"))
        yield Case("r1-traces", p["problem"], b["solution"], p["gt_answer"], bool(b["is_correct"]))


# ----------------------------------------------------------------------------- negatives
_NOISE = re.compile(r"\s+|\$|\\[,!;: ]|\{,\}|\\left|\\right|\\displaystyle|\^\\circ|\^\{\\circ\}")
_FRAC = re.compile(r"^(-?)\\[dt]?frac\{?(\d+)\}?\{?(\d+)\}?$")


def _value_key(reference: str) -> str | Fraction:
    """A light normal form, only to keep a negative's reference from equalling the positive's:
    spaces, $, thin spaces, \\left/\\right, degree marks, \\text{} wrappers and thousands
    commas go; plain numbers and integer fractions become exact values."""
    s = re.sub(r"\\(?:text|mbox|mathrm|textbf)\{([^{}]*)\}", r"\1", reference)
    s = _NOISE.sub("", s).replace("dfrac", "frac").replace("tfrac", "frac").lower()
    plain = s.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s) else s
    try:
        return Fraction(plain)
    except (ValueError, ZeroDivisionError):
        pass
    m = _FRAC.match(s)
    if m and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return s


def with_negatives(source: str, rows: list[tuple[str, str, str]]) -> list[Case]:
    """Each (problem, solution, reference) as a positive, followed by the same solution against
    another row's reference whose value differs (label False); deterministic per source."""
    rng = random.Random(zlib.crc32(source.encode()) + SEED)
    keys = [_value_key(ref) for _, _, ref in rows]
    cases: list[Case] = []
    for i, (problem, solution, reference) in enumerate(rows):
        cases.append(Case(source, problem, solution, reference, True))
        for _ in range(50):
            j = rng.randrange(len(rows))
            if j != i and keys[j] != keys[i]:
                cases.append(Case(source, problem, solution, rows[j][2], False))
                break
    return cases


HUMAN: dict[str, tuple[str, Callable[[Path], list[tuple[str, str, str]]]]] = {
    "gsm8k": ("gsm8k/test.jsonl", lambda d: gsm8k_human(d, "gsm8k")),
    "gsm8k-nomarker": ("gsm8k/test.jsonl", lambda d: gsm8k_human(d, "gsm8k-nomarker")),
    "math500": ("math500/test.jsonl", math500_human),
    "gsm-plus": ("gsm-plus/gsmplus_testmini.jsonl", gsm_plus_human),
    "r1-gt": ("r1-traces", r1_human),
}
MODEL: dict[str, tuple[str, Callable[[Path], Iterable[Case]]]] = {
    "gsm8k-gpt3": ("gsm8k/example_model_solutions.jsonl", gsm8k_gpt3),
    "gsm-plus-gpt4": ("gsm-plus/gpt4_gsm8k_solutions.json", gsm_plus_gpt4),
    "qwen-math-cot": ("qwen-math-cot/math_cot_100.jsonl", qwen_math_cot),
    "r1-traces": ("r1-traces", r1_traces),
}
SOURCES = list(HUMAN) + list(MODEL)
GRADER_LABELS = {"gsm8k-gpt3": "OpenAI grade-school-math `is_correct`", "gsm-plus-gpt4": "GSM-Plus `result`",
                 "qwen-math-cot": "Qwen2.5-Math evaluation `score`", "r1-traces": "thought-anchors `is_correct`"}


def load_source(name: str, data: Path, limit: int | None) -> list[Case] | None:
    """The source's cases (the first `limit`), or None with a printed reason when its file is absent."""
    rel, loader = HUMAN[name] if name in HUMAN else MODEL[name]
    if not (data / rel).exists():
        print(f"skip {name}: {data / rel} is absent")
        return None
    cases = with_negatives(name, loader(data)) if name in HUMAN else list(loader(data))
    return cases[:limit] if limit else cases


# ----------------------------------------------------------------------------- judges
def _math_verify():
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    from math_verify import parse, verify
    return parse, verify


def math_verify_judge(candidate: str, reference: str) -> bool:
    parse, verify = _math_verify()
    try:
        gold = parse(f"${reference.strip().strip('$')}$")
        return bool(verify(gold, parse(candidate)))
    except Exception:  # noqa: BLE001 - any failure of the judge counts as not correct
        return False


def judge_all(cases: list[Case]) -> dict[str, list]:
    """Per case: our Judgement, answers-1's and math-verify's booleans."""
    ours = [judge_answer(c.candidate, c.reference, problem=c.problem) for c in cases]
    return {"ours": ours,
            "answers-1": [answers1.is_correct(c.candidate, c.reference) for c in cases],
            "math-verify": [math_verify_judge(c.candidate, c.reference) for c in cases]}


# ----------------------------------------------------------------------------- figures
def confusion(labels: list[bool], predicted: list[bool]) -> dict[str, float | int | None]:
    tp = sum(l and p for l, p in zip(labels, predicted))
    fp = sum(p and not l for l, p in zip(labels, predicted))
    fn = sum(l and not p for l, p in zip(labels, predicted))
    tn = len(labels) - tp - fp - fn
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "accuracy": round((tp + tn) / len(labels), 4),
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None}


def figures(cases: list[Case], verdicts: dict[str, list]) -> dict:
    labels = [c.label for c in cases]
    out = {"n": len(cases), "positives": sum(labels), "ours_unknown_share":
           round(sum(j.outcome == UNKNOWN for j in verdicts["ours"]) / len(cases), 4)}
    out["ours"] = confusion(labels, [j.outcome == CORRECT for j in verdicts["ours"]])
    for name in ("answers-1", "math-verify"):
        out[name] = confusion(labels, verdicts[name])
    return out


def targets(per_source: dict[str, dict]) -> list[dict]:
    rows = []
    for name, f in per_source.items():
        p, r = f["ours"]["precision"], f["ours"]["recall"]
        rows.append({"source": name, "target": f"ours precision >= {PRECISION_TARGET}", "value": p,
                     "pass": p is None or p >= PRECISION_TARGET})
        rows.append({"source": name, "target": f"ours recall >= {RECALL_TARGET}", "value": r,
                     "pass": r is None or r >= RECALL_TARGET})
        rows.append({"source": name, "target": "ours accuracy >= math-verify", "value":
                     [f["ours"]["accuracy"], f["math-verify"]["accuracy"]],
                     "pass": f["ours"]["accuracy"] >= f["math-verify"]["accuracy"]})
    return rows


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_table(per_source: dict[str, dict]) -> None:
    head = f"{'source':<15} {'n':>6} {'pos':>6} | {'ours':>6} {'ans-1':>6} {'m-v':>6} | {'ours P':>6} {'ours R':>6} {'unk':>6} | {'m-v P':>6} {'m-v R':>6}"
    print(head)
    print("-" * len(head))
    for name, f in per_source.items():
        o, a, m = f["ours"], f["answers-1"], f["math-verify"]
        print(f"{name:<15} {f['n']:>6} {f['positives']:>6} | {_fmt(o['accuracy']):>6} {_fmt(a['accuracy']):>6} "
              f"{_fmt(m['accuracy']):>6} | {_fmt(o['precision']):>6} {_fmt(o['recall']):>6} "
              f"{_fmt(f['ours_unknown_share']):>6} | {_fmt(m['precision']):>6} {_fmt(m['recall']):>6}")


def show_errors(cases: list[Case], ours: list, k: int) -> None:
    wrong = [(c, j) for c, j in zip(cases, ours) if (j.outcome == CORRECT) != c.label][:k]
    for c, j in wrong:
        tail = c.candidate[-240:].replace("\n", " | ")
        print(f"  [{c.source}] label={c.label} ours={j.outcome} method={j.method} answer={j.answer!r} "
              f"reference={c.reference!r}\n    ...{tail}")


# ----------------------------------------------------------------------------- timing
def round_robin(by_source: dict[str, list[Case]], n: int) -> list[Case]:
    out: list[Case] = []
    lists = [iter(v) for v in by_source.values()]
    while lists and len(out) < n:
        for it in list(lists):
            case = next(it, None)
            if case is None:
                lists.remove(it)
            elif len(out) < n:
                out.append(case)
    return out


def us_per_call(fn: Callable[[str, str], object], cases: list[Case]) -> float:
    for c in cases:  # warm-up: imports, caches, regex compilation
        fn(c.candidate, c.reference)
    start = time.perf_counter()
    for c in cases:
        fn(c.candidate, c.reference)
    return round((time.perf_counter() - start) / len(cases) * 1e6, 1)


def without_sympy(cases: list[Case]) -> tuple[float, int]:
    """Diagnostic: ours us/call with the sympy step (compare -> symbolic_equal) answering
    "cannot decide", and how many of the timed calls reach that step at all."""
    compare_module = sys.modules["annotators.answers.compare"]
    original, reached = compare_module.symbolic_equal, []

    def counted(*args, **kwargs):
        reached.append(1)
        return original(*args, **kwargs)

    compare_module.symbolic_equal = counted
    try:
        for c in cases:
            is_correct(c.candidate, c.reference)
        calls = len(reached)
        compare_module.symbolic_equal = lambda *args, **kwargs: None
        return us_per_call(is_correct, cases), calls
    finally:
        compare_module.symbolic_equal = original


def sample_cases(seeds: int = 180) -> list[Case]:
    """The built-in sample's teacher solutions against their references (about 10% wrong)."""
    from pipeline.sample.generate import generate_records

    return [Case("sample", r["question"], r["solution"], r["answer"], r["final_answer"] == r["answer"])
            for r in generate_records(seeds, seed=0)]


def timings(cases: list[Case], *, with_target: bool) -> dict:
    rounds = [(us_per_call(is_correct, cases), us_per_call(answers1.is_correct, cases)) for _ in range(3)]
    ours, base = min(r[0] for r in rounds), min(r[1] for r in rounds)  # interleaved, best of 3: load noise
    mv = us_per_call(math_verify_judge, cases)
    no_sympy, sympy_calls = without_sympy(cases)
    ratio = round(ours / base, 2)
    out = {"cases": len(cases), "ours_is_correct_us": ours, "answers1_is_correct_us": base,
           "math_verify_us": mv, "ours_over_answers1": ratio, "calls_reaching_sympy": sympy_calls,
           "ours_without_sympy_us": no_sympy, "ours_without_sympy_over_answers1": round(no_sympy / base, 2)}
    if with_target:
        out |= {"target": f"ours / answers-1 <= {SPEED_TARGET}", "pass": ratio <= SPEED_TARGET}
    return out


def print_timing(name: str, timing: dict) -> None:
    print(f"us/call on {timing['cases']} {name} cases: ours is_correct {timing['ours_is_correct_us']}, answers-1 "
          f"is_correct {timing['answers1_is_correct_us']}, math-verify {timing['math_verify_us']}; ours / answers-1 = "
          f"{timing['ours_over_answers1']}")
    if "pass" in timing:
        print(f"{'PASS' if timing['pass'] else 'FAIL'}  {name}: ours / answers-1 <= {SPEED_TARGET}  "
              f"({timing['ours_over_answers1']})")
    print(f"diagnostic: {timing['calls_reaching_sympy']} of {timing['cases']} {name} calls reach sympy; with that "
          f"step answering 'cannot decide', ours is_correct {timing['ours_without_sympy_us']} us/call, "
          f"{timing['ours_without_sympy_over_answers1']}x answers-1")


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="cases per source (default: all)")
    ap.add_argument("--show-errors", type=int, default=0, metavar="K", help="print K of our misjudged cases per source")
    ap.add_argument("--json", type=Path, default=None, metavar="PATH", help="write every figure here")
    ap.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated, of: {','.join(SOURCES)}")
    ap.add_argument("--timing-cases", type=int, default=1000, help="cases timed per judge (round-robin over sources)")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--sample-seeds", type=int, default=180, help="built-in sample seeds timed (6 solutions each)")
    args = ap.parse_args(argv)
    names = [s for s in args.sources.split(",") if s]
    unknown = [s for s in names if s not in SOURCES]
    if unknown:
        ap.error(f"unknown sources {unknown}; choose from {SOURCES}")
    print("skip prm800k-subset: no trustworthy final-answer label (see the module docstring)")
    by_source: dict[str, list[Case]] = {}
    for name in names:
        cases = load_source(name, args.data, args.limit)
        if cases:
            by_source[name] = cases
    if not by_source:
        print("no source could be loaded")
        return 1
    per_source, all_cases, all_verdicts = {}, [], {"ours": [], "answers-1": [], "math-verify": []}
    for name, cases in by_source.items():
        verdicts = judge_all(cases)
        per_source[name] = figures(cases, verdicts)
        all_cases += cases
        for k in all_verdicts:
            all_verdicts[k] += verdicts[k]
        if args.show_errors:
            print(f"-- {name}: our misjudged cases (labels of model outputs are the dataset's own grader's)")
            show_errors(cases, verdicts["ours"], args.show_errors)
    overall = figures(all_cases, all_verdicts)
    print()
    print_table({**per_source, "overall": overall})
    checks = targets(per_source)
    print()
    for t in checks:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['source']:<15} {t['target']}  ({t['value']})")
    timing = {"sample": timings(sample_cases(args.sample_seeds), with_target=True),
              "public_mix": timings(round_robin(by_source, args.timing_cases), with_target=False)}
    print()
    print_timing("built-in sample", timing["sample"])
    print_timing("public-data mix", timing["public_mix"])
    if args.json:
        result = {"figures": {"config": {"limit": args.limit, "seed": SEED, "sources": list(per_source),
                                         "math_verify": "verify(parse('$'+reference+'$'), parse(candidate)), defaults",
                                         "grader_labels": {k: v for k, v in GRADER_LABELS.items() if k in per_source}},
                              "sources": per_source, "overall": overall, "targets": checks},
                  "timings": timing}
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
