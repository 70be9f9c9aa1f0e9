"""The training loop for sft / grpo / sgpo, single process or torchrun DDP (gloo on CPU, nccl on GPU).

    python -m trainer --algo sgpo --data EXPORT_DIR --model tiny --out runs/sgpo --set max_steps=50
    torchrun --nproc_per_node 2 -m trainer --algo grpo --data EXPORT_DIR --model smollm2-135m --out runs/g
    from trainer.train import train; result = train(cfg, "EXPORT_DIR", "tiny", "runs/x")
    SFT -> GRPO: train sft, then `--algo grpo --model runs/sft/final` (any checkpoint folder is a model)

Writes into OUT: `config.json` (the resolved config + model and data), `metrics.jsonl` (one line
per step: loss parts, rewards, unguided/guided pass rates, alpha distribution, KL-clipped
fraction, entropy, tokens/s, seconds in generation / scoring / update), `checkpoint-N/` every
`save_steps`, `final/` (safetensors + tokenizer) and `signal.json` (the learning-signal guard,
trainer/learning_signal.py: printed at the end, with a one-line warning when nothing could be
learned). A prompt cut from the left or a completion cut before EOS is warned about once per
run. Every rank holds whole groups; gradients are averaged with all_reduce, so replicas stay
identical (checked at the end: `ranks_in_sync`).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from schemas.export import ExportError
from trainer.algorithms import prepare_rl_batch, rl_loss, sft_loss
from trainer.config import ConfigError, TrainConfig
from trainer.data import Example, load_export
from trainer.learning_signal import format_signal, summarize, truncation_warning
from trainer.metrics import MetricsWriter, progress_line
from trainer.model import load_model, resolve_model, save_checkpoint
from trainer.rewards import correctness_reward, make_reward, strategy_alignment_reward
from trainer.rollout import VLLMGenerator, rollout_from_ids


@dataclass
class TrainResult:
    out: Path
    final: Path
    metrics_path: Path
    steps: int
    last_metrics: dict
    param_digest: str = ""         # sha256 of this rank's final parameters
    signal: dict = field(default_factory=dict)  # the learning-signal figures (also OUT/signal.json)


def _dist_init() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sync_grads(model, world: int) -> None:
    """Average every trainable gradient over the ranks (zeros where a rank has none)."""
    if world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in model.parameters() if p.requires_grad]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in model.parameters():
        if p.requires_grad:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n


def param_digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


class Batches:
    """Seeded epochs over the training examples; each rank takes its own slice of whole prompts."""

    def __init__(self, examples: list[Example], per_rank: int, rank: int, world: int, seed: int):
        self.examples, self.per_rank, self.rank, self.world = examples, per_rank, rank, world
        self.gen = torch.Generator().manual_seed(seed)
        self.order: list[int] = []

    def next(self) -> list[Example]:
        need = self.per_rank * self.world
        while len(self.order) < need:
            self.order += torch.randperm(len(self.examples), generator=self.gen).tolist()
        chosen, self.order = self.order[:need], self.order[need:]
        mine = chosen[self.rank * self.per_rank:(self.rank + 1) * self.per_rank]
        return [self.examples[i] for i in mine]


def default_reward(cfg: TrainConfig) -> Callable:
    if cfg.strategy_reward_weight > 0:
        return make_reward([correctness_reward, strategy_alignment_reward], [1.0, cfg.strategy_reward_weight])
    return correctness_reward


def train(cfg: TrainConfig, data: str | Path, model: str, out: str | Path, reward_fn: Callable | None = None,
          show_progress: bool | None = None) -> TrainResult:
    cfg.validate()
    export = load_export(data)            # bad export: one line, before any model loads
    spec = resolve_model(model)           # bad model path: likewise
    examples = export.split(cfg.train_split)
    if cfg.algo == "sft":  # RL-only rows (a problem with no teacher trajectory) have nothing to imitate
        examples = [e for e in examples if e.teacher_completion]
        if not examples:
            raise ExportError(f"split {cfg.train_split!r} has no teacher trajectories (an RL-only export): "
                              "sft needs them; train it with --algo grpo or sgpo")
    if cfg.algo == "sgpo" and not any(e.strategy for e in examples):
        raise ExportError(f"split {cfg.train_split!r} has no strategy descriptions: sgpo needs them")
    if cfg.use_vllm and cfg.algo != "sft" and not VLLMGenerator.available():
        raise ConfigError("use_vllm=true needs the vllm package and a CUDA GPU; set use_vllm=false")
    rank, world = _dist_init()
    out = Path(out)
    torch.manual_seed(cfg.seed)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    policy, tokenizer = load_model(spec, cfg.device, cfg.dtype, cfg.gradient_checkpointing, seed=cfg.seed)
    if world > 1:
        for p in policy.parameters():
            dist.broadcast(p.data, 0)
    ref = None
    if cfg.algo != "sft" and cfg.beta > 0:
        ref = copy.deepcopy(policy).eval().requires_grad_(False)
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2),
                            weight_decay=cfg.weight_decay, foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
    reward_fn = reward_fn or default_reward(cfg)
    batches = Batches(examples, cfg.prompts_per_step, rank, world, cfg.seed)
    device = next(policy.parameters()).device
    sample_gen = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + rank)
    sampler = _vllm_sampler(policy, tokenizer, cfg, out, rank) if cfg.use_vllm and cfg.algo != "sft" else None

    writer = None
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        snapshot = {**cfg.to_dict(), "model": model, "data": str(data), "world_size": world,
                    "export_name": export.manifest.get("export_name")}
        (out / "config.json").write_text(json.dumps(snapshot, indent=2) + "\n")
        writer = MetricsWriter(out / "metrics.jsonl")
    show = (rank == 0) if show_progress is None else (show_progress and rank == 0)
    metrics: dict = {}
    rows: list[dict] = []
    warned = False
    for step in range(1, cfg.max_steps + 1):
        t_start = time.perf_counter()
        chunk = batches.next()
        if cfg.algo == "sft":
            t_upd = time.perf_counter()
            loss, metrics = sft_loss(policy, tokenizer, chunk, cfg)
            loss.backward()
            metrics.update({"loss": float(loss.detach()), "time_generation": 0.0, "time_scoring": 0.0})
            tokens = metrics.pop("tokens")
            grad_norm = _apply(policy, params, opt, sched, cfg, world)
        else:
            batch = prepare_rl_batch(policy, tokenizer, chunk, cfg, reward_fn, sample_gen, ref, sampler)
            t_upd = time.perf_counter()
            norms = []
            for _ in range(cfg.num_iterations):  # the same rollouts, old log-probs fixed in the batch
                loss, m = rl_loss(policy, batch, cfg)
                loss.backward()
                norms.append(_apply(policy, params, opt, sched, cfg, world))
            grad_norm = max(norms)
            metrics = {**batch.metrics, **m}
            tokens = metrics.pop("gen_tokens")
        t_end = time.perf_counter()
        metrics.update({"step": step, "lr": sched.get_last_lr()[0], "grad_norm": grad_norm,
                        "time_update": t_end - t_upd, "time_step": t_end - t_start,
                        "tokens_per_s": tokens * world / max(t_end - t_start, 1e-9)})
        if writer is not None:
            writer.write(metrics)
            rows.append({k: v for k, v in metrics.items() if k != "alphas"})
            cut = None if warned else truncation_warning(metrics, cfg)
            if cut:
                warned = True
                print(f"{cut} (step {step}; warned once per run)", file=sys.stderr, flush=True)
            if show and (step % cfg.logging_steps == 0 or step == cfg.max_steps):
                print(progress_line(cfg.algo, step, cfg.max_steps, metrics), file=sys.stderr, flush=True)
            if cfg.save_steps and step % cfg.save_steps == 0 and step != cfg.max_steps:
                save_checkpoint(policy, tokenizer, out / f"checkpoint-{step}")
    in_sync = True
    if world > 1:
        digests = [None] * world
        dist.all_gather_object(digests, param_digest(policy))
        in_sync = len(set(digests)) == 1
    final = out / "final"
    signal: dict = {}
    if rank == 0:
        save_checkpoint(policy, tokenizer, final)
        state = {"steps": cfg.max_steps, "algo": cfg.algo, "world_size": world, "ranks_in_sync": in_sync,
                 "param_digest": param_digest(policy)}
        (final / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")
        writer.close()
        signal = summarize(cfg.algo, rows, cfg)
        (out / "signal.json").write_text(json.dumps(signal, indent=2) + "\n")
        if show:
            print(format_signal(signal), file=sys.stderr, flush=True)
    if world > 1:
        dist.barrier()
    return TrainResult(out, final, out / "metrics.jsonl", cfg.max_steps, metrics, param_digest(policy), signal)


def _vllm_sampler(policy, tokenizer, cfg: TrainConfig, out: Path, rank: int) -> Callable:
    """vLLM on the same GPU (colocated); the policy's weights are pushed before each generation."""
    init = save_checkpoint(policy, tokenizer, out / f"vllm-init-rank{rank}")
    engine = VLLMGenerator(str(init), seed=cfg.seed + rank)
    device = next(policy.parameters()).device
    calls = [0]

    def sample(prompt_ids, n):
        engine.load_weights(policy)
        calls[0] += 1
        completions = engine.sample(prompt_ids, n, cfg.max_completion_length, cfg.temperature, cfg.top_p,
                                    seed=(cfg.seed * 1_000 + rank) * 100_003 + calls[0])  # own stream per rank
        return rollout_from_ids(tokenizer, prompt_ids, n, completions, device)
    return sample


def _apply(model, params, opt, sched, cfg: TrainConfig, world: int) -> float:
    sync_grads(model, world)
    # max_grad_norm=0 means no clipping; the norm is still measured (the signal guard reads it)
    norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(norm)


__all__ = ["Batches", "TrainResult", "default_reward", "param_digest", "sync_grads", "train"]
