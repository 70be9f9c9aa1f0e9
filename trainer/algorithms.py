"""SFT, GRPO and SGPO as batch preparation + loss functions (the loop lives in train.py).

    loss, m = sft_loss(model, tok, examples, cfg)
    batch = prepare_rl_batch(model, tok, examples, cfg, reward_fn, generator)   # rollouts, rewards, targets
    loss, m = rl_loss(model, batch, cfg)                                         # grpo, or sgpo when batch.guided

SGPO (DESIGN section 7; trainer/README.md says what the code settles), per problem q with
strategy s, all from the same weights: unguided group G1 ~ pi(.|q) and guided group
G2 ~ pi(.|q,s); GRPO on G1 only; target = the correct guided rollout with the highest mean
log-likelihood under pi(.|q); distillation = per-token full-vocabulary
KL(stopgrad pi(.|q,s,y<t) || pi(.|q,y<t)) on that target, tokens with KL > delta clipped by
kl_clip_mode; loss = L_GRPO + (1/Q) sum_q alpha(q) L_SD(q), Q the step's prompts over all ranks
(`distill_reduction=sum` drops the 1/Q), the same for any world size. Rollouts sampled at
temperature T are scored at T for the GRPO ratio; the distillation KL and target selection use
the model's own distribution (T = 1). Ablation flags (config): target_selection, kl_clip_mode,
adaptive_alpha, distill_divergence=reverse, distill_mode=sft, unguided_grpo, proximal_clipping
(with num_iterations > 1). The step's metrics also count truncation (learning_signal.py).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.distributed as dist

from trainer.config import TrainConfig
from trainer.data import Example, encode_completion, encode_prompts_counted, fit_guided_prompt, render_prompt
from trainer.losses import (adaptive_alpha, clipped_surrogate, clipped_token_mean, full_kl, group_advantages,
                            mean_logprob, select_target)
from trainer.rollout import (Rollout, chunked_entropy, chunked_logprobs, completion_hidden, pad_left, pad_right,
                             sample_groups)


def _device(model) -> torch.device:
    return next(model.parameters()).device


# ---------------------------------------------------------------- SFT
def sft_tensors(tokenizer, examples: Sequence[Example], cfg: TrainConfig, device, counts: dict | None = None):
    """Padded prompt and target tensors; `counts` (when given) receives the truncation figures."""
    texts = [render_prompt(tokenizer, e.prompt) for e in examples]
    prompts, left_cut = encode_prompts_counted(tokenizer, texts, cfg.max_prompt_length)
    full = [encode_completion(tokenizer, e.teacher_completion, 1 << 30) for e in examples]
    targets = [t[:cfg.max_completion_length] for t in full]
    if counts is not None:
        counts.update(_length_counts(tokenizer, texts, left_cut))
        counts.update({"completions": len(full), "truncated_completions": sum(len(t) > cfg.max_completion_length
                                                                              for t in full),
                       "completion_len_needed": max(len(t) for t in full)})
    p_ids, p_mask = pad_left(prompts, tokenizer.pad_token_id, device)
    c_ids, c_mask = pad_right(targets, tokenizer.pad_token_id, device)
    return p_ids, p_mask, c_ids, c_mask


def _length_counts(tokenizer, texts: Sequence[str], left_cut: int) -> dict:
    lengths = [len(x) for x in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    return {"prompts": len(texts), "left_cut_prompts": left_cut, "prompt_len_needed": max(lengths)}


def _truncated(ro: Rollout, eos_id: int) -> int:
    """Rollouts that ended at max_completion_length without producing EOS."""
    has_eos = (ro.completion_ids == eos_id).logical_and(ro.completion_mask > 0).any(-1)
    return int((~has_eos).sum())


def sft_loss(model, tokenizer, examples: Sequence[Example], cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    """Trajectory imitation: token-mean NLL of the teacher completion, prompt masked."""
    counts: dict = {}
    p_ids, p_mask, c_ids, c_mask = sft_tensors(tokenizer, examples, cfg, _device(model), counts)
    hidden = completion_hidden(model, p_ids, p_mask, c_ids, c_mask)
    nll = -chunked_logprobs(model, hidden, c_ids, chunk_rows=cfg.kl_chunk_size)
    loss = (nll * c_mask).sum() / c_mask.sum().clamp(min=1.0)
    return loss, {"loss_sft": float(loss.detach()),
                  "entropy": chunked_entropy(model, hidden.detach(), c_mask, chunk_rows=cfg.kl_chunk_size),
                  "tokens": int(c_mask.sum() + p_mask.sum()), **counts}


# ---------------------------------------------------------------- RL batch
@dataclass
class RLBatch:
    rollout: Rollout                      # unguided, Q * G1 rows
    rewards: torch.Tensor                 # (Q * G1,)
    advantages: torch.Tensor
    old_logp: torch.Tensor | None = None  # needed when num_iterations > 1
    ref_logp: torch.Tensor | None = None  # needed when beta > 0
    guided: Rollout | None = None         # Q * G2 rows (sgpo)
    guided_rewards: torch.Tensor | None = None
    targets: list[tuple[int, int]] = field(default_factory=list)  # (q, guided row) with alpha(q) > 0
    alphas: list[float] = field(default_factory=list)              # alpha(q) for every q
    metrics: dict = field(default_factory=dict)


def _score(reward_fn: Callable, prompts: list[str], rollout: Rollout, examples: Sequence[Example], n: int,
           device) -> torch.Tensor:
    rows = [e for e in examples for _ in range(n)]
    values = reward_fn([p for p in prompts for _ in range(n)], rollout.texts, solution=[e.answer for e in rows],
                       strategy_plan=[[s.__dict__ for s in e.strategy_plan] for e in rows])
    return torch.tensor(values, dtype=torch.float32, device=device)


def scoring_temperature(cfg: TrainConfig) -> float:
    """Rollouts are sampled from softmax(logits / T): the ratio, old and reference log-probs are
    scored at the same T (as TRL does); greedy sampling (T = 0) scores at 1."""
    return cfg.temperature if cfg.temperature > 0 else 1.0


@torch.no_grad()
def _logp(model, r: Rollout, chunk_rows: int, prompt_ids=None, prompt_mask=None,
          temperature: float = 1.0) -> torch.Tensor:
    hidden = completion_hidden(model, r.prompt_ids if prompt_ids is None else prompt_ids,
                               r.prompt_mask if prompt_mask is None else prompt_mask, r.completion_ids,
                               r.completion_mask)
    return chunked_logprobs(model, hidden, r.completion_ids, temperature, chunk_rows)


def prepare_rl_batch(model, tokenizer, examples: Sequence[Example], cfg: TrainConfig, reward_fn: Callable,
                     generator: torch.Generator | None = None, ref_model=None,
                     sampler: Callable[[list[list[int]], int], Rollout] | None = None) -> RLBatch:
    """Rollouts (our sampler, or `sampler(prompt_ids, n)` e.g. vLLM), rewards, advantages, SGPO targets."""
    device = _device(model)
    g1, g2 = cfg.num_generations, cfg.num_guided_generations
    t0 = time.perf_counter()
    texts = [render_prompt(tokenizer, e.prompt) for e in examples]
    prompts, left_cut = encode_prompts_counted(tokenizer, texts, cfg.max_prompt_length)
    if sampler is None:
        def sampler(prompt_ids, n):
            return sample_groups(model, tokenizer, prompt_ids, n, cfg.max_completion_length, cfg.temperature,
                                 cfg.top_p, generator)
    ro = sampler(prompts, g1)
    guided = guided_texts = None
    if cfg.algo == "sgpo":
        fitted = [fit_guided_prompt(tokenizer, e.prompt, e.strategy, cfg.max_prompt_length) for e in examples]
        guided_texts = [text for text, _ in fitted]
        without_strategy = sum(bool(e.strategy) and not has for e, (_, has) in zip(examples, fitted))
        guided = sampler(encode_prompts_counted(tokenizer, guided_texts, cfg.max_prompt_length)[0], g2)
    t1 = time.perf_counter()

    rewards = _score(reward_fn, texts, ro, examples, g1, device)
    adv = group_advantages(rewards, g1, scale=cfg.scale_rewards)
    batch = RLBatch(ro, rewards, adv)
    if cfg.num_iterations > 1:
        batch.old_logp = _logp(model, ro, cfg.kl_chunk_size, temperature=scoring_temperature(cfg))
    if cfg.beta > 0 and ref_model is not None:
        batch.ref_logp = _logp(ref_model, ro, cfg.kl_chunk_size, temperature=scoring_temperature(cfg))
    pass_u = rewards.view(-1, g1).gt(0.5).float().mean(1)
    m = {"reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()) if rewards.numel() > 1 else 0.0,
         "pass_rate_unguided": float(pass_u.mean()),
         "completion_len_mean": float(ro.completion_mask.sum(-1).mean()), "gen_tokens": ro.num_tokens,
         "groups": len(examples), "reward_variance_groups": int(rewards.view(-1, g1).std(1).gt(0).sum()),
         "completions": ro.completion_ids.size(0), "truncated_completions": _truncated(ro, tokenizer.eos_token_id),
         "completion_len_needed": cfg.max_completion_length + 1, **_length_counts(tokenizer, texts, left_cut)}
    if guided is not None:
        g_rewards = _score(reward_fn, guided_texts, guided, examples, g2, device)
        correct = g_rewards.view(-1, g2).gt(0.5)
        pass_g = correct.float().mean(1)
        # likelihood of each guided rollout under the *unguided* prompt (target selection)
        unguided_prompt_ids = ro.prompt_ids[::g1].repeat_interleave(g2, 0)
        unguided_prompt_mask = ro.prompt_mask[::g1].repeat_interleave(g2, 0)
        need = bool(correct.any()) and cfg.target_selection
        mean_lp = (mean_logprob(_logp(model, guided, cfg.kl_chunk_size, unguided_prompt_ids, unguided_prompt_mask),
                                guided.completion_mask)
                   .view(-1, g2) if need else torch.zeros_like(pass_g).unsqueeze(1).expand(-1, g2))
        for q, ex in enumerate(examples):
            alpha = adaptive_alpha(float(pass_u[q]), float(pass_g[q]), cfg.alpha0, cfg.alpha_max, cfg.gamma,
                                   cfg.adaptive_alpha) if ex.strategy else 0.0
            batch.alphas.append(alpha)
            if alpha > 0:
                pick = select_target(mean_lp[q].tolist(), correct[q].tolist(), cfg.target_selection, generator)
                if pick is not None:
                    batch.targets.append((q, q * g2 + pick))
        batch.guided, batch.guided_rewards = guided, g_rewards
        alphas = torch.tensor(batch.alphas)
        m.update({"pass_rate_guided": float(pass_g.mean()), "alpha_mean": float(alphas.mean()),
                  "alpha_min": float(alphas.min()), "alpha_max": float(alphas.max()),
                  "alpha_nonzero_frac": float((alphas > 0).float().mean()),
                  "alphas": [round(a, 4) for a in batch.alphas],
                  "num_targets": len(batch.targets), "gen_tokens": ro.num_tokens + guided.num_tokens,
                  "guided_prompts_without_strategy": without_strategy,
                  "completions": m["completions"] + guided.completion_ids.size(0),
                  "truncated_completions": m["truncated_completions"] + _truncated(guided, tokenizer.eos_token_id)})
    t2 = time.perf_counter()
    m.update({"time_generation": t1 - t0, "time_scoring": t2 - t1})
    batch.metrics = m
    return batch


# ---------------------------------------------------------------- losses on a batch
def grpo_term(model, batch: RLBatch, cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    ro = batch.rollout
    hidden = completion_hidden(model, ro.prompt_ids, ro.prompt_mask, ro.completion_ids, ro.completion_mask)
    temperature = scoring_temperature(cfg)
    logp = chunked_logprobs(model, hidden, ro.completion_ids, temperature, cfg.kl_chunk_size)
    old = batch.old_logp if batch.old_logp is not None else logp.detach()
    eps_low, eps_high = (cfg.epsilon, cfg.epsilon_high) if cfg.proximal_clipping else (math.inf, math.inf)
    loss, stats = clipped_surrogate(logp, old, batch.advantages, ro.completion_mask, eps_low, eps_high,
                                    cfg.loss_type, cfg.max_completion_length, ref_logp=batch.ref_logp, beta=cfg.beta,
                                    num_tokens=_dapo_tokens_per_rank(ro.completion_mask, cfg))
    entropy = chunked_entropy(model, hidden.detach(), ro.completion_mask, temperature, cfg.kl_chunk_size)
    m = {"loss_grpo": float(loss.detach()), "entropy": entropy, **stats}
    return loss, m


def _dapo_tokens_per_rank(mask: torch.Tensor, cfg: TrainConfig) -> torch.Tensor | None:
    """Under DDP, dapo divides by all ranks' completion tokens / world size, so that after the
    gradient average every token weighs the same (TRL's dapo); None on one process."""
    if cfg.loss_type != "dapo" or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    total = mask.sum().detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def distill_term(model, batch: RLBatch, cfg: TrainConfig, num_prompts: int) -> tuple[torch.Tensor, dict]:
    """(1/Q) sum_q alpha(q) L_SD(q) over the selected targets, Q = prompts per step over all ranks
    (distill_reduction=sum: the plain sum over all ranks' prompts); independent of the world size."""
    ro, gd = batch.rollout, batch.guided
    q_idx = [q for q, _ in batch.targets]
    rows = [r for _, r in batch.targets]
    g1 = cfg.num_generations
    c_ids, c_mask = gd.completion_ids[rows], gd.completion_mask[rows]
    # trim to the longest selected target
    width = max(1, int(c_mask.sum(-1).max()))
    c_ids, c_mask = c_ids[:, :width], c_mask[:, :width]
    u_ids = ro.prompt_ids[[q * g1 for q in q_idx]]
    u_mask = ro.prompt_mask[[q * g1 for q in q_idx]]
    student = completion_hidden(model, u_ids, u_mask, c_ids, c_mask)
    alphas = torch.tensor([batch.alphas[q] for q in q_idx], device=student.device)
    clipped = []
    if cfg.distill_mode == "sft":
        nll = -chunked_logprobs(model, student, c_ids, chunk_rows=cfg.kl_chunk_size)
        per_q = (nll * c_mask).sum(-1) / c_mask.sum(-1).clamp(min=1.0)
    else:
        with torch.no_grad():
            teacher = completion_hidden(model, gd.prompt_ids[rows], gd.prompt_mask[rows], c_ids, c_mask)
        kl = full_kl(student, teacher, cfg.distill_divergence, cfg.kl_chunk_size, head=model.get_output_embeddings())
        per_q_list = []
        for i in range(kl.size(0)):
            lq, frac = clipped_token_mean(kl[i:i + 1], c_mask[i:i + 1], cfg.kl_clip_delta, cfg.kl_clip_mode)
            per_q_list.append(lq)
            clipped.append(frac)
        per_q = torch.stack(per_q_list)
    # mean: over this rank's prompts; every rank holds the same number, so after the gradient average
    # it is the mean over the global batch. sum: times the world size, so the average is the global sum.
    scale = 1.0 / num_prompts if cfg.distill_reduction == "mean" else float(_world_size())
    loss = (alphas * per_q).sum() * scale
    m = {"loss_sd": float(loss.detach()), "sd_per_target": float(per_q.detach().mean()),
         "kl_clipped_frac": sum(clipped) / len(clipped) if clipped else 0.0}
    return loss, m


def rl_loss(model, batch: RLBatch, cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    num_prompts = batch.rollout.prompt_ids.size(0) // cfg.num_generations
    metrics: dict = {}
    loss = None
    if cfg.algo == "grpo" or cfg.unguided_grpo:
        loss, m = grpo_term(model, batch, cfg)
        metrics.update(m)
    if cfg.algo == "sgpo":
        metrics.setdefault("loss_sd", 0.0)
        metrics.setdefault("kl_clipped_frac", 0.0)
        if batch.targets:
            sd, m = distill_term(model, batch, cfg, num_prompts)
            metrics.update(m)
            loss = sd if loss is None else loss + sd
    if loss is None:  # sgpo without the GRPO term and no target this step: a zero loss that still has a graph
        loss = sum(p.sum() * 0.0 for p in model.parameters() if p.requires_grad)
    metrics["loss"] = float(loss.detach())
    return loss, metrics


__all__ = ["RLBatch", "distill_term", "grpo_term", "prepare_rl_batch", "rl_loss", "sft_loss", "sft_tensors"]
