"""Our SFT and GRPO steps against TRL's SFTTrainer and GRPOTrainer, measured in the same run on
the same tiny model, data, batch and sequence lengths (CPU).

    .venv/bin/python bench/train_vs_trl.py            # ~2-4 minutes on 2 CPU cores
    .venv/bin/python bench/train_vs_trl.py --steps 12 --threads 2

Prints median seconds per optimiser step (first steps dropped as warm-up), the speed ratio
ours/TRL (> 1.0 means we are faster), and where our step time goes (generation / scoring /
update, from our metrics.jsonl). Both sides: fp32, no packing, pad to the longest in the batch,
beta = 0 (no reference model), loss_type dapo, temperature 1, same tokenizer and initial weights.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # export_fixtures

from trainer.config import load_config  # noqa: E402
from export_fixtures import make_row, write_export  # noqa: E402
from trainer.metrics import read_metrics  # noqa: E402
from trainer.model import build_tiny_model, build_tiny_tokenizer, save_checkpoint  # noqa: E402
from trainer.rewards import correctness_reward  # noqa: E402
from trainer.train import train  # noqa: E402


def rows(n: int) -> list[dict]:
    out = []
    for i in range(n):
        a, b, c = i + 3, 2 * i + 7, i % 5 + 2
        text = (f"First add {a} and {b}: {a}+{b}={a + b}. Then multiply by {c}: {a + b}*{c}={(a + b) * c}. "
                f"Check: {(a + b) * c}/{c}={a + b}, fine. The answer is \\boxed{{{(a + b) * c}}}.")
        out.append(make_row(f"r{i}", f"Add {a} and {b}, then multiply the sum by {c}.", str((a + b) * c), text,
                            strategy="Do the addition first, then the multiplication, then check."))
    return out


def median_after_warmup(times: list[float], skip: int) -> float:
    return statistics.median(times[skip:] if len(times) > skip else times)


class StepTimer:
    def __init__(self):
        self.times: list[float] = []
        self._t = 0.0

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class _CB(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timer._t = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                timer.times.append(time.perf_counter() - timer._t)
        return _CB()


def trl_sft(model_dir: Path, export: Path, out: Path, steps: int, batch: int, max_len: int) -> list[float]:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    ds = load_dataset("json", data_files=str(export / "train" / "sft.trl.jsonl"), split="train")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(model_dir)
    cfg = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-4,
                    max_length=max_len, packing=False, report_to=[], logging_steps=10_000, save_strategy="no",
                    use_cpu=True, bf16=False, disable_tqdm=True, dataloader_num_workers=0, seed=0,
                    lr_scheduler_type="constant", warmup_steps=0, optim="adamw_torch", gradient_checkpointing=False)
    timer = StepTimer()
    SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok, callbacks=[timer.callback()]).train()
    return timer.times


def trl_grpo(model_dir: Path, export: Path, out: Path, steps: int, batch: int, gens: int, comp_len: int) -> list[float]:
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    ds = load_dataset("json", data_files=str(export / "train" / "rl.trl.jsonl"), split="train")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    cfg = GRPOConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, num_generations=gens,
                     max_completion_length=comp_len, learning_rate=1e-4, beta=0.0, loss_type="dapo",
                     epsilon=0.2, epsilon_high=0.28, temperature=1.0, report_to=[], logging_steps=10_000,
                     save_strategy="no", use_cpu=True, bf16=False, disable_tqdm=True, seed=0,
                     lr_scheduler_type="constant", warmup_steps=0, log_completions=False,
                     gradient_checkpointing=False)
    timer = StepTimer()
    GRPOTrainer(model=model, reward_funcs=correctness_reward, args=cfg, train_dataset=ds, processing_class=tok,
                callbacks=[timer.callback()]).train()
    return timer.times


def ours(algo: str, model_dir: Path, export: Path, out: Path, overrides: list[str]) -> tuple[list[float], dict]:
    cfg = load_config(None, overrides + ["learning_rate=1e-4", "logging_steps=10000"], algo=algo)
    train(cfg, export, str(model_dir), out, show_progress=False)
    rows = read_metrics(out / "metrics.jsonl")
    split = {k: statistics.median(r[k] for r in rows[2:] or rows) for k in ("time_generation", "time_scoring",
                                                                          "time_update")}
    return [r["time_step"] for r in rows], split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import trl

    work = Path(tempfile.mkdtemp(prefix="train_vs_trl_"))
    tok = build_tiny_tokenizer()
    model_dir = save_checkpoint(build_tiny_model(tok, hidden=args.hidden, layers=args.layers), tok, work / "init")
    export = write_export(work / "export", rows(64))
    skip = 2
    sft_batch, sft_len = 8, 512
    grpo_batch, gens, comp = 16, 8, 32
    common = [f"max_steps={args.steps}", f"num_threads={args.threads}"]

    o_sft, _ = ours("sft", model_dir, export, work / "ours_sft",
                    common + [f"per_device_train_batch_size={sft_batch}", f"max_completion_length={sft_len}"])
    t_sft = trl_sft(model_dir, export, work / "trl_sft", args.steps, sft_batch, sft_len)
    o_grpo, split = ours("grpo", model_dir, export, work / "ours_grpo",
                         common + [f"per_device_train_batch_size={grpo_batch}", f"num_generations={gens}",
                                   f"max_completion_length={comp}", "loss_type=dapo", "beta=0"])
    t_grpo = trl_grpo(model_dir, export, work / "trl_grpo", args.steps, grpo_batch, gens, comp)

    res = {}
    print(f"ours vs TRL {trl.__version__} (torch {torch.__version__}, {args.threads} thread(s), tiny Llama "
          f"{args.layers}x{args.hidden}, {args.steps} steps, median s/step after {skip} warm-up steps)")
    for name, o, t, shape in (("SFT", o_sft, t_sft, f"batch {sft_batch}, max_length {sft_len}"),
                              ("GRPO", o_grpo, t_grpo, f"{grpo_batch} completions = {grpo_batch // gens} prompts x "
                                                       f"{gens}, {comp} new tokens")):
        mo, mt = median_after_warmup(o, skip), median_after_warmup(t, skip)
        res[name] = {"ours_s": mo, "trl_s": mt, "speedup": mt / mo}
        print(f"  {name:<5} ({shape}): ours {mo * 1000:8.1f} ms/step   TRL {mt * 1000:8.1f} ms/step   "
              f"ratio ours/TRL speed = {mt / mo:.2f}x")
    total = sum(split.values())
    print("  our GRPO step: " + ", ".join(f"{k[5:]} {v * 1000:.1f} ms ({v / total:.0%})" for k, v in split.items()))
    (work / "result.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
