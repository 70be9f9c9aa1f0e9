"""SGPO against trajectory imitation and GRPO on a toy task, multi-seed, with held-out tests,
perturbations, two data sizes, a learning-rate sweep on validation families, bootstrap
intervals and paired sign tests (issue 16, deliverable 4). Replaces bench/sgpo_toy.py.

    .venv/bin/python bench/sgpo_experiment.py            # --full: 4 seeds, swept rates; ~40 min, estimate printed first
    .venv/bin/python bench/sgpo_experiment.py --quick    # 2 seeds, no sweep: about 8 minutes on 2 idle cores
    .venv/bin/python bench/sgpo_experiment.py --smoke --json /tmp/x.json   # seconds; used by the test

Writes bench/sgpo_experiment.json (every run's per-problem correctness, learning-signal figures,
the sweep, the summary and the tests; no timings, so a rerun on the same machine and versions
gives the same file) and rewrites the marked section of bench/RESULTS.md (tables + wall time).
--smoke writes only where --json / --results point.

Task (bench/sgpo_task.py): `kel 7` -> the family word's hidden clock operation on the last
digit; the strategy names the operation. Per seed a tiny Llama (4x128, byte-level, from
scratch, one thread) is warmed up by SFT on warm-up families and on strategy-guided noise
words, in every question form; then each method trains on unseen target families with 1 or 4
single-digit problems per family and is tested greedy and unguided on held-out digits: the
original form, a reworded template, values outside the training range and a distractor.
Learning rates are chosen per method on 4 validation families; 12 other families are reported.
Methods, at equal optimiser steps and 4 prompts per step (sft->grpo takes both budgets):
  sft_foreign     SFT on answer-only teacher targets (a style foreign to the student)
  sft_faithful    SFT on targets in the student's own warm-up style (control)
  grpo, sft_grpo  GRPO alone; SFT-foreign then GRPO (each phase at its own method's chosen rate)
  sgpo_<mode>     SGPO at the trainer's defaults with each KL clip mode (mask | scale | none)
  sgpo_no_grpo, sgpo_no_target_sel, sgpo_reverse_kl   ablations on top of the default mode
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import multiprocessing
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # export_fixtures

from bench import sgpo_stats, sgpo_task  # noqa: E402
from trainer.config import TrainConfig, field_names, load_config  # noqa: E402

MARK_BEGIN = "<!-- sgpo_experiment:begin (rewritten by bench/sgpo_experiment.py) -->"
MARK_END = "<!-- sgpo_experiment:end -->"
SFT_RATES = (3e-4, 1e-3, 3e-3)
RL_RATES = (3e-5, 1e-4, 3e-4)
PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "pyarrow", "math-verify", "sympy")


@dataclasses.dataclass(frozen=True)
class Level:
    seeds: int
    sizes: tuple[int, ...]
    steps: int                  # optimiser steps per method phase
    warmup_steps: int
    warmup_rows: int
    hidden: int
    layers: int
    sweep: bool                 # False: no sweep, the middle rate of each grid
    methods: tuple[str, ...] | None = None   # None: every method


LEVELS = {
    "smoke": Level(1, (1,), 2, 10, 200, 64, 2, False, ("sft_foreign", "sgpo_default")),
    "quick": Level(2, (1, 4), 30, 300, 2400, 128, 4, False,
                   ("sft_foreign", "sft_faithful", "grpo", "sft_grpo", "sgpo_mask", "sgpo_scale", "sgpo_none")),
    "full": Level(4, (1, 4), 50, 500, 3200, 128, 4, True),
}
# seconds per optimiser step on one core of the development machine (4x128 model, measured while
# other work shared the two cores), and per evaluation of the four test splits
STEP_SECONDS = {"sft": 0.06, "grpo": 0.33, "sgpo": 1.0, "warmup": 0.9, "eval": 3.0}
ABLATIONS = ("sgpo_no_grpo", "sgpo_no_target_sel", "sgpo_reverse_kl")


# ---------------------------------------------------------------- methods
def default_clip_mode() -> str:
    if "kl_clip_mode" in field_names():
        return TrainConfig().kl_clip_mode
    return "mask" if TrainConfig().kl_clipping else "none"


def clip_modes() -> tuple[str, ...]:
    return ("mask", "scale", "none") if "kl_clip_mode" in field_names() else ("mask", "none")


def clip_overrides(mode: str) -> list[str]:
    if "kl_clip_mode" in field_names():
        return [f"kl_clip_mode={mode}"]
    return [f"kl_clipping={'true' if mode == 'mask' else 'false'}"]


def methods() -> dict[str, list[tuple[str, str, list[str]]]]:
    """name -> phases (algo, teacher style, overrides); the rate of each phase comes from the sweep."""
    base = clip_overrides(default_clip_mode())
    table = {"sft_foreign": [("sft", "foreign", [])], "sft_faithful": [("sft", "faithful", [])],
             "grpo": [("grpo", "faithful", [])],
             "sft_grpo": [("sft", "foreign", []), ("grpo", "faithful", [])]}
    for mode in clip_modes():
        table[f"sgpo_{mode}"] = [("sgpo", "faithful", clip_overrides(mode))]
    table["sgpo_no_grpo"] = [("sgpo", "faithful", base + ["unguided_grpo=false"])]
    table["sgpo_no_target_sel"] = [("sgpo", "faithful", base + ["target_selection=false"])]
    table["sgpo_reverse_kl"] = [("sgpo", "faithful", base + ["distill_divergence=reverse"])]
    return table


def headline() -> str:
    return f"sgpo_{default_clip_mode()}"


def rate_source(name: str) -> list[str]:
    """The swept method whose chosen rate each phase uses: sft_grpo borrows both of its parts',
    an ablation the rate of the method it ablates (so that it changes one thing only)."""
    if name == "sft_grpo":
        return ["sft_foreign", "grpo"]
    return [headline()] if name in ABLATIONS else [name]


def grid(name: str) -> tuple[float, ...]:
    return SFT_RATES if name.startswith("sft_") else RL_RATES


# ---------------------------------------------------------------- jobs (run in worker processes)
def _init_worker() -> None:
    import torch
    import transformers

    torch.set_num_threads(1)
    transformers.utils.logging.disable_progress_bar()
    sys.path.insert(0, str(ROOT))


def _warmup(job: dict) -> dict:
    from export_fixtures import write_export
    from trainer.model import build_tiny_model, build_tiny_tokenizer, save_checkpoint
    from trainer.train import train

    lv, seed, work = Level(**job["level"]), job["seed"], Path(job["work"])
    folder = work / f"warmup-{seed}"
    tok = build_tiny_tokenizer()
    init = save_checkpoint(build_tiny_model(tok, hidden=lv.hidden, layers=lv.layers, heads=4, seed=seed), tok,
                           folder / "init")
    export = write_export(folder / "export", sgpo_task.warmup_rows(seed, lv.warmup_rows))
    cfg = load_config(None, [f"max_steps={lv.warmup_steps}", "per_device_train_batch_size=32", "learning_rate=2e-3",
                             "warmup_steps=20", f"seed={seed}", "num_threads=1", "max_completion_length=24",
                             f"logging_steps={lv.warmup_steps}"], algo="sft")
    return {"path": str(train(cfg, export, str(init), folder / "run", show_progress=False).final)}


def _evaluate(model_dir: str, export: Path, guided: bool = False) -> dict[str, str]:
    """Greedy unguided (or guided) correctness per test split, as a '0'/'1' string in row order."""
    from trainer.data import guided_messages, load_export
    from trainer.eval import generate_greedy
    from trainer.model import load_model
    from trainer.rewards import correctness_reward

    model, tok = load_model(model_dir, device="cpu")
    model.eval()
    exp = load_export(export)
    out = {}
    for split in sgpo_task.TEST_SPLITS:
        rows = exp.split(split)
        if guided:
            rows = [dataclasses.replace(e, prompt=guided_messages(e.prompt, e.strategy)) for e in rows]
        texts = generate_greedy(model, tok, rows, max_new_tokens=24, batch_size=96)
        rewards = correctness_reward([""] * len(rows), texts, solution=[e.answer for e in rows])
        out[split] = "".join("1" if r > 0.5 else "0" for r in rewards)
    return out


def _signal(metrics_path: Path, result) -> dict:
    """Learning-signal figures of one training phase, from its metrics.jsonl (timings left out)."""
    from trainer.metrics import read_metrics

    rows = read_metrics(metrics_path)
    mean = lambda key: round(float(np.mean([r.get(key, 0.0) for r in rows])), 6)  # noqa: E731
    sig = {"steps": len(rows), "grad_nonzero_share": round(float(np.mean([r["grad_norm"] > 0 for r in rows])), 6)}
    if "pass_rate_unguided" in rows[0]:
        sig.update({"reward_var_step_share": round(float(np.mean([r["reward_std"] > 0 for r in rows])), 6),
                    "pass_rate_unguided": mean("pass_rate_unguided")})
    if "pass_rate_guided" in rows[0]:
        sig.update({"pass_rate_guided": mean("pass_rate_guided"), "alpha_nonzero_share": mean("alpha_nonzero_frac"),
                    "targets_per_step": mean("num_targets"), "sd_per_target": mean("sd_per_target"),
                    "kl_clipped_share": mean("kl_clipped_frac")})
    extra = getattr(result, "signal", None)  # the trainer's own learning-signal dict, where it has one
    if isinstance(extra, dict):
        sig["trainer"] = {k: round(v, 6) if isinstance(v, float) else v for k, v in sorted(extra.items())
                          if not k.startswith("time")}
    return sig


def _train(job: dict) -> dict:
    from export_fixtures import write_export
    from trainer.train import train

    lv, seed, work = Level(**job["level"]), job["seed"], Path(job["work"])
    families = sgpo_task.VALIDATION_FAMILIES if job["families"] == "validation" else sgpo_task.REPORT_FAMILIES
    folder = work / "jobs" / job["id"]
    model, signals, export = job["warm"], [], None
    for i, ((algo, style, extra), lr) in enumerate(zip(methods()[job["method"]], job["rates"])):
        export = write_export(folder / f"export-{style}",
                              sgpo_task.target_rows(families, seed, job["size"], style))
        common = [f"max_steps={lv.steps}", f"learning_rate={lr}", f"seed={seed}", "num_threads=1",
                  "max_completion_length=24", "max_grad_norm=1.0", f"logging_steps={lv.steps}"]
        size = ["per_device_train_batch_size=4"] if algo == "sft" else [
            "per_device_train_batch_size=32", "num_generations=8", "num_guided_generations=4"]
        cfg = load_config(None, common + size + extra, algo=algo)
        result = train(cfg, export, model, folder / f"phase{i}", show_progress=False)
        model = str(result.final)
        signals.append({"algo": algo, "lr": lr, **_signal(result.metrics_path, result)})
    correct = _evaluate(model, export)
    if not job.get("keep"):
        shutil.rmtree(folder, ignore_errors=True)
    return {"correct": correct, "signal": signals}


def _baseline(job: dict) -> dict:
    from export_fixtures import write_export

    folder = Path(job["work"]) / "jobs" / job["id"]
    export = write_export(folder / "export",
                          sgpo_task.target_rows(sgpo_task.REPORT_FAMILIES, job["seed"], 1, "faithful"))
    return {"correct": _evaluate(job["warm"], export, guided=job["guided"])}


def run_job(job: dict) -> tuple[str, dict]:
    start = time.perf_counter()
    out = {"warmup": _warmup, "train": _train, "baseline": _baseline}[job["kind"]](job)
    return job["id"], {**out, "seconds": time.perf_counter() - start}


def job_cost(job: dict, lv: Level) -> float:
    if job["kind"] == "warmup":
        return lv.warmup_steps * STEP_SECONDS["warmup"]
    if job["kind"] == "baseline":
        return STEP_SECONDS["eval"]
    scale = (lv.hidden * lv.layers) / (128 * 4)
    return sum(lv.steps * STEP_SECONDS[algo] * scale for algo, _, _ in methods()[job["method"]]) + STEP_SECONDS["eval"]


def run_all(jobs: list[dict], workers: int, lv: Level, log) -> dict[str, dict]:
    jobs = sorted(jobs, key=lambda j: -job_cost(j, lv))  # longest first balances the two workers
    done: dict[str, dict] = {}
    if workers <= 1:
        _init_worker()
        results = map(run_job, jobs)
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker)
        results = pool.imap_unordered(run_job, jobs)
    for i, (key, out) in enumerate(results, 1):
        done[key] = out
        log(f"  [{i}/{len(jobs)}] {key}: {out['seconds']:.1f}s")
    if workers > 1:
        pool.close()
        pool.join()
    return done


# ---------------------------------------------------------------- plan
def plan(lv: Level, names: list[str], work: Path, keep: bool) -> tuple[list[dict], list[dict], list[dict]]:
    level = dataclasses.asdict(lv)
    warm = [{"kind": "warmup", "id": f"warmup-{s}", "seed": s, "level": level, "work": str(work)}
            for s in range(lv.seeds)]
    swept = sorted({src for n in names for src in rate_source(n)})
    sweep = []
    if lv.sweep:
        sweep = [{"kind": "train", "id": f"sweep-{n}-{lr:g}", "method": n, "rates": [lr], "seed": 0,
                  "size": max(lv.sizes), "families": "validation", "level": level, "work": str(work), "keep": keep}
                 for n in swept for lr in grid(n)]
    report = [{"kind": "train", "id": f"run-{n}-size{size}-seed{s}", "method": n, "seed": s, "size": size,
               "families": "report", "level": level, "work": str(work), "keep": keep}
              for n in names for size in lv.sizes for s in range(lv.seeds)]
    report += [{"kind": "baseline", "id": f"warmup-{s}-{'guided' if g else 'unguided'}", "seed": s, "guided": g,
                "work": str(work)} for s in range(lv.seeds) for g in (False, True)]
    return warm, sweep, report


def estimate(lv: Level, names: list[str], workers: int) -> float:
    warm, sweep, report = plan(lv, names, Path("."), False)
    for j in report:
        j.setdefault("rates", [0.0])
    return sum(job_cost(j, lv) for j in warm + sweep + report) / max(1, workers) + 15  # + start-up


def choose_rates(sweep_out: dict[str, dict], names: list[str], lv: Level) -> tuple[dict, dict]:
    """Best mean validation accuracy over the four test splits; ties go to the smaller rate."""
    scores: dict[str, dict[str, float]] = {}
    chosen: dict[str, float] = {}
    for n in sorted({src for m in names for src in rate_source(m)}):
        if not lv.sweep:
            chosen[n] = grid(n)[1]
            continue
        scores[n] = {}
        for lr in grid(n):
            correct = sweep_out[f"sweep-{n}-{lr:g}"]["correct"]
            scores[n][f"{lr:g}"] = round(float(np.mean([c == "1" for s in correct.values() for c in s])), 4)
        chosen[n] = max(grid(n), key=lambda lr: (scores[n][f"{lr:g}"], -lr))
    return scores, chosen


# ---------------------------------------------------------------- analysis
def cells(runs: list[dict], split: str, seeds: int) -> np.ndarray:
    """(seeds, families, held-out digits) of 0/1 for one method and size."""
    by_seed = sorted(runs, key=lambda r: r["seed"])
    assert [r["seed"] for r in by_seed] == list(range(seeds))
    fam = len(sgpo_task.REPORT_FAMILIES)
    return np.array([[int(c) for c in r["correct"][split]] for r in by_seed]).reshape(seeds, fam, sgpo_task.HELD_OUT)


def summary(runs: list[dict], baselines: list[dict], lv: Level) -> dict:
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(f"{r['method']}|{r['size']}", []).append(r)
    for b in baselines:
        groups.setdefault(f"warmup_{'guided' if b['guided'] else 'unguided'}|0", []).append(b)
    out: dict = {}
    for key, rs in sorted(groups.items()):
        orig = cells(rs, "test_original", lv.seeds)
        entry = {"test_original": {"acc": sgpo_stats.accuracy(orig)}}
        for split in sgpo_task.TEST_SPLITS[1:]:
            entry[split] = sgpo_stats.summarise(orig, cells(rs, split, lv.seeds))
        out[key] = entry
    return out


def run_accuracy(r: dict, split: str | None) -> float:
    text = "".join(r["correct"].values()) if split is None else r["correct"][split]
    return sum(c == "1" for c in text) / len(text)


def sign_tests(runs: list[dict], names: list[str]) -> dict:
    """The headline SGPO vs every other method over paired (seed, size) units, per split and all splits."""
    index = {(r["method"], r["size"], r["seed"]): r for r in runs}
    units = sorted((size, seed) for m, size, seed in index if m == headline())
    out = {}
    for other in names:
        if other == headline():
            continue
        out[other] = {}
        for split in list(sgpo_task.TEST_SPLITS) + [None]:
            a = [run_accuracy(index[(headline(), size, seed)], split) for size, seed in units]
            b = [run_accuracy(index[(other, size, seed)], split) for size, seed in units]
            out[other][split or "all"] = sgpo_stats.sign_test(a, b)
    return out


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


# ---------------------------------------------------------------- report
def _ci(v: list[float]) -> str:
    if v[0] != v[0]:  # nan: no original was correct, retention undefined
        return "n/a"
    if v[1] != v[1]:
        return f"{v[0]:.2f} [n/a]"
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def markdown(res: dict, wall: float | None, workers: int) -> str:
    lv = Level(**{**res["settings"]["level"], "sizes": tuple(res["settings"]["level"]["sizes"])})
    lines = [f"Level `{res['settings']['level_name']}`: {lv.seeds} seeds, sizes {list(lv.sizes)} problems per "
             f"family, {lv.steps} steps per method phase, warm-up {lv.warmup_steps} steps, model "
             f"{lv.layers}x{lv.hidden}; {len(sgpo_task.REPORT_FAMILIES)} reported families x "
             f"{sgpo_task.HELD_OUT} held-out digits = {len(sgpo_task.REPORT_FAMILIES) * sgpo_task.HELD_OUT} "
             f"problems per split and seed. Headline SGPO = `{res['headline']}` (the trainer's default "
             f"clip mode). Wall time {'%.0f s' % wall if wall is not None else 'not recorded'} with "
             f"{workers} workers.",
             "", "Versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()), "",
             "Learning rates (chosen on the validation families" + ("" if lv.sweep else "; no sweep at this level: "
                                                                  "the middle of each grid") + "): "
             + ", ".join(f"{k} {v:g}" for k, v in res["lr_chosen"].items())]
    if res["sweep"]:
        lines.append("Sweep (mean validation accuracy over the four splits): " + "; ".join(
            f"{k} " + " ".join(f"{lr}={s:.2f}" for lr, s in v.items()) for k, v in res["sweep"].items()))
    lines += ["", "Greedy unguided accuracy on held-out problems (warm-up rows: the warm-up model before phase 2, "
              "unguided and with the strategy in the prompt), mean over seeds [bootstrap 95% interval over seeds "
              "and families]:", "", "```"]
    lines.append(f"{'method':<22}{'size':>5}  " + "".join(f"{s[5:]:<20}" for s in sgpo_task.TEST_SPLITS))
    for key, e in res["summary"].items():
        name, size = key.split("|")
        accs = [e["test_original"]["acc"]] + [e[s]["acc"] for s in sgpo_task.TEST_SPLITS[1:]]
        lines.append((f"{name:<22}{size if size != '0' else '-':>5}  " + "".join(f"{_ci(a):<20}" for a in accs)).rstrip())
    lines += ["```", "", "Original-minus-perturbed gap and paired retention P(perturbed correct | original correct), "
              "[bootstrap 95% interval]:", "", "```"]
    lines.append(f"{'method':<22}{'size':>5}  " + "".join(
        f"{'gap ' + s[5:]:<20}{'retention ' + s[5:]:<22}" for s in sgpo_task.TEST_SPLITS[1:]))
    for key, e in res["summary"].items():
        name, size = key.split("|")
        lines.append((f"{name:<22}{size if size != '0' else '-':>5}  " + "".join(
            f"{_ci(e[s]['gap']):<20}{_ci(e[s]['retention']):<22}" for s in sgpo_task.TEST_SPLITS[1:])).rstrip())
    lines += ["```", "", f"Sign tests, `{res['headline']}` vs each method over paired (seed, size) units: "
              "wins-losses-ties, two-sided exact p, mean accuracy difference:", "", "```"]
    cols = [s[5:] for s in sgpo_task.TEST_SPLITS] + ["all"]
    lines.append(f"{'vs':<22}" + "".join(f"{c:<22}" for c in cols))
    for other, t in res["sign_tests"].items():
        lines.append((f"{other:<22}" + "".join(
            f"{t[k]['wins']}-{t[k]['losses']}-{t[k]['ties']} p={t[k]['p']:.3f} {t[k]['mean_diff']:+.2f}".ljust(22)
            for k in [f"test_{c}" if c != "all" else "all" for c in cols])).rstrip())
    lines += ["```", "", "Learning signal of the last phase, mean over runs (share of steps with grad norm > 0; "
              "with reward variance (share of groups where the trainer reports it, else of steps); SGPO: problems with alpha > 0, targets per step, distillation loss per "
              "target, clipped-token share):", "", "```"]
    lines.append(f"{'method':<22}{'grad>0':>8}{'r var':>8}{'alpha>0':>9}{'tgt/step':>10}{'sd/tgt':>9}{'clip':>7}")
    by_method: dict[str, list[dict]] = {}
    for r in res["runs"]:
        by_method.setdefault(r["method"], []).append(r["signal"][-1])
    for name, sigs in by_method.items():
        m = lambda k: float(np.mean([s.get(k, np.nan) for s in sigs]))  # noqa: E731
        groups = [s.get("trainer", {}).get("reward_variance_group_share") for s in sigs]
        var = float(np.mean(groups)) if all(g is not None for g in groups) else m("reward_var_step_share")
        vals = [m("grad_nonzero_share"), var, m("alpha_nonzero_share"),
                m("targets_per_step"), m("sd_per_target"), m("kl_clipped_share")]
        lines.append(f"{name:<22}" + "".join(("-" if v != v else f"{v:.3f}").rjust(w)
                                             for v, w in zip(vals, (8, 8, 9, 10, 9, 7))))
    lines.append("```")
    return "\n".join(lines)


def write_results_md(path: Path, body: str) -> None:
    text = path.read_text() if path.is_file() else ""
    block = f"{MARK_BEGIN}\n{body}\n{MARK_END}"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## bench/sgpo_experiment.py — SGPO vs imitation and GRPO\n\n" + block + "\n"
    path.write_text(text)


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lvl = ap.add_mutually_exclusive_group()
    lvl.add_argument("--full", action="store_const", dest="level", const="full", help="the default")
    lvl.add_argument("--quick", action="store_const", dest="level", const="quick")
    lvl.add_argument("--smoke", action="store_const", dest="level", const="smoke")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (one thread each)")
    ap.add_argument("--json", type=Path, default=None, help="default bench/sgpo_experiment.json (not for --smoke)")
    ap.add_argument("--results", type=Path, default=None, help="default bench/RESULTS.md (not for --smoke)")
    ap.add_argument("--workdir", type=Path, default=None, help="kept after the run (default: a temporary folder)")
    ap.add_argument("--estimate", action="store_true", help="print the plan and its wall-time estimate, run nothing")
    args = ap.parse_args(argv)
    name = args.level or "full"
    lv = LEVELS[name]
    if name != "smoke":
        args.json = args.json or ROOT / "bench" / "sgpo_experiment.json"
        args.results = args.results or ROOT / "bench" / "RESULTS.md"
    names = [m for m in methods() if lv.methods is None or m in lv.methods or
             (m == headline() and "sgpo_default" in lv.methods)]
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    log("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    for level_name, other in LEVELS.items():
        others = [m for m in methods() if other.methods is None or m in other.methods or
                  (m == headline() and "sgpo_default" in other.methods)]
        log(f"estimated wall time of --{level_name} on {args.workers} idle cores: "
            f"{estimate(other, others, args.workers) / 60:.1f} min")
    log(f"level {name}: {lv.seeds} seeds x sizes {list(lv.sizes)} x {len(names)} methods ({', '.join(names)})")
    if args.estimate:
        return {}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sgpo_experiment_"))
    t0 = time.perf_counter()
    warm_jobs, sweep_jobs, report_jobs = plan(lv, names, work, keep=args.workdir is not None)
    log(f"warm-up: {len(warm_jobs)} models")
    warm = {k: v["path"] for k, v in run_all(warm_jobs, args.workers, lv, log).items()}
    for j in sweep_jobs + report_jobs:
        j["warm"] = warm[f"warmup-{j['seed']}"]
    log(f"sweep: {len(sweep_jobs)} runs on the validation families")
    sweep_out = run_all(sweep_jobs, args.workers, lv, log) if sweep_jobs else {}
    scores, chosen = choose_rates(sweep_out, names, lv)
    for j in report_jobs:
        if j["kind"] == "train":
            j["rates"] = [chosen[src] for src in rate_source(j["method"])]
    log(f"reported runs: {len(report_jobs)} (rates {chosen})")
    out = run_all(report_jobs, args.workers, lv, log)
    wall = time.perf_counter() - t0
    runs = sorted(({"method": j["method"], "size": j["size"], "seed": j["seed"], "rates": j["rates"],
                    "correct": out[j["id"]]["correct"], "signal": out[j["id"]]["signal"]}
                   for j in report_jobs if j["kind"] == "train"), key=lambda r: (r["method"], r["size"], r["seed"]))
    baselines = sorted(({"seed": j["seed"], "guided": j["guided"], "correct": out[j["id"]]["correct"]}
                        for j in report_jobs if j["kind"] == "baseline"), key=lambda b: (b["guided"], b["seed"]))
    res = {"experiment": "bench/sgpo_experiment.py",
           "settings": {"level_name": name, "level": dataclasses.asdict(lv),
                        "sft_rates": SFT_RATES, "rl_rates": RL_RATES, "bootstrap_draws": sgpo_stats.DRAWS},
           "versions": versions(), "headline": headline(), "methods": names, "sweep": scores,
           "lr_chosen": chosen, "summary": summary(runs, baselines, lv), "sign_tests": sign_tests(runs, names),
           "runs": runs, "baselines": baselines}
    body = markdown(res, wall, args.workers)
    log("\n" + body)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        log(f"wrote {args.json}")
    if args.results:
        write_results_md(args.results, body)
        log(f"rewrote the marked section of {args.results}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    log(f"wall time {wall:.0f} s")
    return res


if __name__ == "__main__":
    main()
