"""Loss pieces as pure tensor functions (no model, no config): GRPO's clipped surrogate, k3 KL,
full-vocabulary forward / reverse KL with a chunked log-softmax, per-token KL clipping (mask / scale / none),
SGPO's adaptive weight alpha(q) and target selection.

Shapes: B sequences x T completion tokens; `mask` is 1.0 on real completion tokens.

    adv = group_advantages(rewards, group_size=8)
    loss, stats = clipped_surrogate(logp, old_logp, adv, mask, 0.2, 0.28, "dapo", max_len)
    kl = full_kl(student_logits, teacher_logits, "forward")    # per token, teacher is detached
    loss_sd, clipped_frac = clipped_token_mean(kl, mask, delta=1.0, mode="scale")
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def group_advantages(rewards: torch.Tensor, group_size: int, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """(r - group mean) / (group std + eps) per group of consecutive rows; `scale=False` is Dr. GRPO."""
    grouped = rewards.view(-1, group_size)
    adv = grouped - grouped.mean(dim=1, keepdim=True)
    if scale:
        adv = adv / (grouped.std(dim=1, keepdim=True) + eps)
    return adv.reshape(-1)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: str, max_completion_length: int,
              num_tokens: torch.Tensor | float | None = None) -> torch.Tensor:
    """dapo: sum over all tokens / `num_tokens` (default: this batch's tokens; under DDP pass the
    token count of all ranks / world size, as TRL does, so every token weighs the same);
    grpo: mean per sequence, then over sequences; dr_grpo: sum over tokens / (B * max_completion_length)."""
    if loss_type == "dapo":
        denom = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=per_token.dtype)
        return (per_token * mask).sum() / denom.clamp(min=1.0)
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (per_token.size(0) * max_completion_length)
    raise ValueError(f"unknown loss_type {loss_type!r}")


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                      epsilon: float = 0.2, epsilon_high: float | None = 0.28, loss_type: str = "dapo",
                      max_completion_length: int = 1, *, ref_logp: torch.Tensor | None = None, beta: float = 0.0,
                      num_tokens: torch.Tensor | float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Token-level PPO surrogate with clip-higher: -min(r A, clip(r, 1-eps, 1+eps_high) A), plus
    beta * k3 KL to `ref_logp` per token (TRL's form), aggregated by `loss_type`."""
    epsilon_high = epsilon if epsilon_high is None else epsilon_high
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(-1)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon_high) * adv
    per_token = -torch.min(unclipped, clipped)
    kl = k3_kl(logp, ref_logp) if ref_logp is not None and beta > 0 else None
    if kl is not None:
        per_token = per_token + beta * kl
    loss = aggregate(per_token, mask, loss_type, max_completion_length, num_tokens)
    with torch.no_grad():
        n = mask.sum().clamp(min=1.0)
        low = ((ratio < 1 - epsilon) & (adv < 0)).float()
        high = ((ratio > 1 + epsilon_high) & (adv > 0)).float()
        stats = {"clip_ratio_low": float((low * mask).sum() / n), "clip_ratio_high": float((high * mask).sum() / n)}
        if kl is not None:
            stats["loss_kl_ref"] = float((kl * mask).sum() / n)
    return loss, stats


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1 (>= 0)."""
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1


def _kl_rows(student: torch.Tensor, teacher: torch.Tensor, direction: str) -> torch.Tensor:
    log_s = F.log_softmax(student.float(), dim=-1)
    log_t = F.log_softmax(teacher.float(), dim=-1)
    if direction == "forward":   # KL(teacher || student)
        return (log_t.exp() * (log_t - log_s)).sum(-1)
    return (log_s.exp() * (log_s - log_t)).sum(-1)   # reverse: KL(student || teacher)


def _kl_hidden_rows(student_h: torch.Tensor, teacher_h: torch.Tensor, direction: str, head) -> torch.Tensor:
    with torch.no_grad():
        teacher = head(teacher_h)
    return _kl_rows(head(student_h), teacher, direction)


def full_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, direction: str = "forward",
            chunk_size: int = 1024, head=None) -> torch.Tensor:
    """Per-token KL over the full vocabulary; the teacher (guided) side is detached.

    Rows are processed in chunks; with gradients on, each chunk is recomputed in backward
    (activation checkpointing) so only one chunk of vocab-sized softmax lives at a time. With
    `head` (the output layer) the two inputs are hidden states and the logits are made per chunk
    too, so no (rows, V) tensor larger than a chunk ever exists."""
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be forward or reverse, got {direction!r}")
    shape = student_logits.shape[:-1]
    s = student_logits.reshape(-1, student_logits.size(-1))
    t = teacher_logits.detach().reshape(-1, teacher_logits.size(-1))
    parts = []
    for i in range(0, s.size(0), chunk_size):
        sc, tc = s[i:i + chunk_size], t[i:i + chunk_size]
        fn, extra = (_kl_rows, ()) if head is None else (_kl_hidden_rows, (head,))
        if torch.is_grad_enabled() and (sc.requires_grad or head is not None):
            parts.append(checkpoint(fn, sc, tc, direction, *extra, use_reentrant=False))
        else:
            parts.append(fn(sc, tc, direction, *extra))
    out = torch.cat(parts) if parts else s.new_zeros(0)
    return out.reshape(shape)


def kl_clip_mask(kl: torch.Tensor, mask: torch.Tensor, delta: float) -> torch.Tensor:
    """1.0 where the token is kept (real token with KL <= delta), 0.0 where clipped or padding."""
    return mask * (kl.detach() <= delta).to(mask.dtype)


def clipped_token_mean(kl: torch.Tensor, mask: torch.Tensor, delta: float | None,
                       mode: str = "mask") -> tuple[torch.Tensor, float]:
    """Per-token KL reduced to one number, and the fraction of real tokens clipped (KL above delta).

    mask: mean over the tokens with KL <= delta (the others contribute nothing);
    scale: every token's contribution is clamped to delta by the detached factor min(1, delta / KL),
    so a token above delta still pulls in its own gradient direction, with weight delta / KL;
    none (or delta None): the plain token mean."""
    if mode not in ("mask", "scale", "none"):
        raise ValueError(f"mode must be mask, scale or none, got {mode!r}")
    clipping = delta is not None and mode != "none"
    over = mask * (kl.detach() > delta).to(mask.dtype) if clipping else torch.zeros_like(mask)
    clipped = float((over.sum() / mask.sum().clamp(min=1.0)).item())
    if not clipping:
        return (kl * mask).sum() / mask.sum().clamp(min=1.0), clipped
    if mode == "mask":
        keep = mask - over
        return (kl * keep).sum() / keep.sum().clamp(min=1.0), clipped
    factor = torch.where(over > 0, delta / kl.detach().clamp(min=1e-12), torch.ones_like(kl))
    return (kl * factor * mask).sum() / mask.sum().clamp(min=1.0), clipped


def adaptive_alpha(p_unguided: float, p_guided: float, alpha0: float = 0.5, alpha_max: float = 0.8,
                   gamma: float = 0.1, adaptive: bool = True) -> float:
    """alpha(q): 0 when no guided rollout is correct, when p_a = 1, or when p_g - p_a < gamma;
    else min(alpha_max, alpha0 * (1 - p_a) + (p_g - p_a)). `adaptive=False`: alpha0 whenever
    some guided rollout is correct."""
    if p_guided <= 0.0:
        return 0.0
    if not adaptive:
        return alpha0
    if p_unguided >= 1.0 or p_guided - p_unguided < gamma - 1e-9:  # pass rates are k/G: compare with a tolerance
        return 0.0
    return min(alpha_max, alpha0 * (1.0 - p_unguided) + (p_guided - p_unguided))


def mean_logprob(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (logp * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def select_target(unguided_mean_logp: Sequence[float], correct: Sequence[bool], by_likelihood: bool = True,
                  generator: torch.Generator | None = None) -> int | None:
    """Index of the correct guided rollout with the highest mean log-likelihood under the unguided
    policy (ties: first); `by_likelihood=False` draws a correct one at random; None if none is correct."""
    candidates = [i for i, ok in enumerate(correct) if ok]
    if not candidates:
        return None
    if not by_likelihood:
        device = generator.device if generator is not None else "cpu"
        pick = int(torch.randint(len(candidates), (1,), generator=generator, device=device).item())
        return candidates[pick]
    best = max(candidates, key=lambda i: (unguided_mean_logp[i], -i))
    return best


def token_entropy(logits: torch.Tensor, mask: torch.Tensor, chunk_size: int = 1024) -> float:
    """Mean entropy of the predicted distributions over real tokens (rows in chunks: vocab-sized temporaries)."""
    with torch.no_grad():
        flat = logits.reshape(-1, logits.size(-1))
        parts = []
        for i in range(0, flat.size(0), chunk_size):
            logp = F.log_softmax(flat[i:i + chunk_size].float(), dim=-1)
            parts.append(-(logp.exp() * logp).sum(-1))
        ent = torch.cat(parts).reshape(mask.shape)
        return float((ent * mask).sum() / mask.sum().clamp(min=1.0))


__all__ = ["adaptive_alpha", "aggregate", "clipped_surrogate", "clipped_token_mean", "full_kl", "group_advantages",
           "k3_kl", "kl_clip_mask", "mean_logprob", "select_target", "token_entropy"]
