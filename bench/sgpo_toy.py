"""Toy experiment: does strategy-guided distillation (SGPO) beat trajectory imitation (SFT) and
plain GRPO at small scale, on original and perturbed problems, with little and more data?

    .venv/bin/python bench/sgpo_toy.py                     # ~5-10 minutes on 2 busy CPU cores
    .venv/bin/python bench/sgpo_toy.py --steps 30 --sizes 2   # quicker look

The task (byte-level tiny Llama 4x128, built from a config, trained from scratch on one thread):
  question  "kel 7"            -> clock arithmetic: the family word's hidden operation applied to x
  operations +1, +2, +3, -1 (mod 10); 12 family words, each bound to one operation
  strategy  "Apply +3 on a 10-hour clock."   (names the operation, never the answer)
  teacher   "7+3=0. \\boxed{0}"
Phase 1 (warm-up SFT, like the paper's SFT warm-up): unguided problems of 6 *warm-up* families,
plus strategy-guided problems whose family word is random noise, so the model learns to read a
strategy. Phase 2 trains on the 6 *target* families (never seen in phase 1) with N values of x
per family: unguided the model does not know the words, guided it follows the strategy, which is
exactly where a strategy in context genuinely helps (the table prints both for the warm-up model).
Methods, at equal optimiser steps and prompts per step (4): SFT on teacher trajectories, GRPO
(8 unguided rollouts per prompt), SGPO (GRPO + 4 guided rollouts and strategy distillation).
SFT is much cheaper per step; the table prints training seconds. Evaluation: greedy, unguided,
on all 10 values of x for every target family (test_original; for N = 10 that is the training
set) and the same with a distractor number in the question (test_distractor: "kel 7 (not 4)").
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotators.answers import is_correct  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.data import guided_messages, load_export  # noqa: E402
from trainer.eval import generate_greedy  # noqa: E402
from trainer.fixtures import make_row, write_export  # noqa: E402
from trainer.model import build_tiny_model, build_tiny_tokenizer, load_model, save_checkpoint  # noqa: E402
from trainer.train import train  # noqa: E402

OPS = {"+1": lambda x: (x + 1) % 10, "+2": lambda x: (x + 2) % 10, "+3": lambda x: (x + 3) % 10,
       "-1": lambda x: (x - 1) % 10}
WARM_WORDS = {"bax": "+1", "dem": "+2", "fip": "+3", "gol": "-1", "hun": "+2", "jor": "+1"}
TARGET_WORDS = {"kel": "+3", "lum": "-1", "mip": "+1", "nok": "+2", "pav": "-1", "qir": "+3"}


def strategy(op: str) -> str:
    return f"Apply {op} on a 10-hour clock."


def problem(word: str, op: str, x: int, split: str, guided_in_prompt=False, perturbation: str = "original",
            noise: int = 0) -> dict:
    question = f"{word} {x}" + (f" (not {noise})" if perturbation == "distractor" else "")
    ans = OPS[op](x)
    row = make_row(f"{split}-{word}-{x}-{noise}", question, str(ans), f"{x}{op}={ans}. \\boxed{{{ans}}}",
                   split=split, strategy=strategy(op), family=word, perturbation=perturbation, prompt_suffix="")
    if guided_in_prompt:
        row["prompt"] = guided_messages(row["prompt"], strategy(op))
    return row


def warmup_rows(rng: random.Random, n: int) -> list[dict]:
    """Unguided problems of the warm-up families + strategy-guided problems with a noise word."""
    rows = []
    for i in range(n):
        word = rng.choice(list(WARM_WORDS))
        rows.append(problem(word, WARM_WORDS[word], rng.randint(0, 9), "train", noise=i))
        noise_word = "".join(rng.choice("ghijklmnoprstuvwyz") for _ in range(3))
        pert = rng.choice(["original", "distractor"])
        rows.append(problem(noise_word, rng.choice(list(OPS)), rng.randint(0, 9), "train", guided_in_prompt=True,
                            perturbation=pert, noise=rng.randint(0, 9) if pert == "distractor" else n + i))
    return rows


def target_rows(rng: random.Random, per_family: int) -> list[dict]:
    """Train: `per_family` values of x per target family; tests: every x, plain and with a distractor."""
    rows = []
    for word, op in TARGET_WORDS.items():
        rows += [problem(word, op, x, "train") for x in rng.sample(range(10), per_family)]
        rows += [problem(word, op, x, "test_original") for x in range(10)]
        rows += [problem(word, op, x, "test_distractor", perturbation="distractor", noise=rng.randint(0, 9))
                 for x in range(10)]
    return rows


def accuracy(model_dir: Path, export: Path, guided: bool = False) -> dict[str, float]:
    model, tok = load_model(str(model_dir))
    model.eval()
    exp = load_export(export)
    out = {}
    for split in exp.test_splits():
        rows = exp.split(split)
        if guided:
            rows = [dataclasses.replace(e, prompt=guided_messages(e.prompt, e.strategy)) for e in rows]
        texts = generate_greedy(model, tok, rows, max_new_tokens=24, batch_size=64)
        out[split] = sum(is_correct(t, e.answer) for t, e in zip(texts, rows)) / len(rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="phase-2 optimiser steps per method")
    ap.add_argument("--warmup-steps", type=int, default=300)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2, 8], help="training problems per target family (<= 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rl-lr", type=float, default=1e-4, help="learning rate of grpo and sgpo")
    ap.add_argument("--methods", nargs="+", default=["sft", "grpo", "sgpo", "sgpo, no KL clipping"],
                    help="any of: sft, grpo, sgpo, 'sgpo, no KL clipping', 'sgpo, SFT on target'")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sgpo_toy_"))
    rng = random.Random(args.seed)

    tok = build_tiny_tokenizer()
    warm = work / "warmup" / "final"
    if (warm / "model.safetensors").is_file():
        print(f"reusing the warm-up model in {warm}", flush=True)
    else:
        init = save_checkpoint(build_tiny_model(tok, hidden=128, layers=4, heads=4, seed=args.seed), tok, work / "init")
        warm_export = write_export(work / "warm_export", warmup_rows(rng, 3000))
        t0 = time.perf_counter()
        warm_cfg = load_config(None, [f"max_steps={args.warmup_steps}", "per_device_train_batch_size=32",
                                      "learning_rate=2e-3", "warmup_steps=20", f"seed={args.seed}",
                                      f"num_threads={args.threads}", "logging_steps=100"], algo="sft")
        warm = train(warm_cfg, warm_export, str(init), work / "warmup").final
        print(f"warm-up SFT: {args.warmup_steps} steps in {time.perf_counter() - t0:.0f}s", flush=True)

    common = [f"max_steps={args.steps}", "per_device_train_batch_size=32", "num_generations=8",
              "num_guided_generations=4", "max_completion_length=24", f"learning_rate={args.rl_lr}",
              f"seed={args.seed}", f"num_threads={args.threads}", "logging_steps=20", "max_grad_norm=1.0"]
    variants = {"sft": (["per_device_train_batch_size=4", "learning_rate=1e-3"], "sft"),
                "grpo": ([], "grpo"), "sgpo": ([], "sgpo"),
                "sgpo, no KL clipping": (["kl_clipping=false"], "sgpo"),
                "sgpo, SFT on target": (["distill_mode=sft"], "sgpo")}
    methods = {k: v for k, v in variants.items() if k in args.methods}
    results = []
    for size in args.sizes:
        export = write_export(work / f"target_{size}", target_rows(random.Random(args.seed + size), size))
        base_u = accuracy(warm, export)
        base_g = accuracy(warm, export, guided=True)
        results.append((size, "warm-up (unguided)", base_u, 0.0))
        results.append((size, "warm-up, strategy in context", base_g, 0.0))
        for name, (extra, algo) in methods.items():
            cfg = load_config(None, common + extra, algo=algo)
            t = time.perf_counter()
            folder = work / f"{name.replace(', ', '_').replace(' ', '_')}_{size}"
            final = train(cfg, export, str(warm), folder).final
            secs = time.perf_counter() - t
            results.append((size, name, accuracy(final, export), secs))
            print(f"size {size} {name}: {results[-1][2]} in {secs:.0f}s", flush=True)

    print(f"\nSGPO toy (tiny Llama 4x128 from scratch, {args.steps} phase-2 steps of 4 prompts each; "
          f"greedy unguided accuracy on the 60 target-family problems per split; seed {args.seed})")
    print(f"{'problems/family':>15}  {'method':<30} {'original':>9} {'distractor':>11} {'gap':>7} {'train s':>8}")
    for size, name, acc, secs in results:
        o, d = acc["test_original"], acc["test_distractor"]
        print(f"{size:>15}  {name:<30} {o:>9.3f} {d:>11.3f} {o - d:>+7.3f} {secs:>8.0f}")
    print(f"(work folder: {work})")


if __name__ == "__main__":
    main()
