"""The learning-signal guard: did a run have anything to learn from, and if not, why.

    sig = summarize("sgpo", rows, cfg)          # rows = per-step metrics (metrics.jsonl)
    print(format_signal(sig))                   # the figures, then the warning when there is one
    line = truncation_warning(step_metrics, cfg)  # once per run: lengths to set, or None

`OUT/signal.json` holds `summarize`'s dict: steps, nonzero_grad_share, reward_variance_group_share
(grpo/sgpo), alpha_positive_share, targets_per_step, kl_per_target, clipped_token_share,
pass_rate_unguided, pass_rate_guided, guided_prompts_without_strategy (sgpo), truncated_completion_share,
left_cut_prompt_share, warning.
The figures are rank 0's under DDP. A run with no learning signal ends with one warning line that
names the cause and the flag to change.
"""
from __future__ import annotations

from typing import Sequence

from trainer.config import TrainConfig


def _share(rows: Sequence[dict], part: str, whole: str) -> float | None:
    total = sum(r.get(whole, 0) for r in rows)
    return sum(r.get(part, 0) for r in rows) / total if total else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(algo: str, rows: Sequence[dict], cfg: TrainConfig) -> dict:
    sig: dict = {"algo": algo, "steps": len(rows),
                 "nonzero_grad_share": _mean([float((r.get("grad_norm") or 0.0) > 0.0) for r in rows])}
    if algo in ("grpo", "sgpo"):
        sig["reward_variance_group_share"] = _share(rows, "reward_variance_groups", "groups")
    if algo == "sgpo":
        with_targets = [r for r in rows if r.get("num_targets")]
        sig.update({"alpha_positive_share": _mean([r.get("alpha_nonzero_frac", 0.0) for r in rows]),
                    "targets_per_step": _mean([r.get("num_targets", 0) for r in rows]),
                    "kl_per_target": _mean([r["sd_per_target"] for r in with_targets if "sd_per_target" in r]),
                    "clipped_token_share": _mean([r.get("kl_clipped_frac", 0.0) for r in with_targets]),
                    "pass_rate_unguided": _mean([r.get("pass_rate_unguided", 0.0) for r in rows]),
                    "pass_rate_guided": _mean([r.get("pass_rate_guided", 0.0) for r in rows]),
                    "guided_prompts_without_strategy": sum(r.get("guided_prompts_without_strategy", 0) for r in rows)})
    sig["truncated_completion_share"] = _share(rows, "truncated_completions", "completions")
    sig["left_cut_prompt_share"] = _share(rows, "left_cut_prompts", "prompts")
    sig["warning"] = no_signal_warning(sig, rows, cfg)
    return sig


def no_signal_warning(sig: dict, rows: Sequence[dict], cfg: TrainConfig) -> str | None:
    """One line naming why no step could learn (or, for sgpo, why distillation never ran), else None."""
    algo = sig["algo"]
    all_cut = sig["truncated_completion_share"] == 1.0
    needed = max((r.get("completion_len_needed", 0) for r in rows), default=0)
    if algo == "sft":
        if all_cut:
            return (f"no learning signal: every SFT target is cut before its end (answer and EOS never seen); "
                    f"set max_completion_length >= {needed}")
        return None if sig["nonzero_grad_share"] else "no learning signal: the gradient was zero on every step"
    variance = sig.get("reward_variance_group_share") or 0.0
    learns_grpo = variance > 0 and (algo == "grpo" or cfg.unguided_grpo)
    learns_sd = algo == "sgpo" and bool(sig.get("targets_per_step"))
    if learns_grpo if algo == "grpo" else learns_sd:
        return None
    prefix = "no distillation signal" if learns_grpo else "no learning signal"
    if all_cut:
        return (f"{prefix}: every rollout hit max_completion_length={cfg.max_completion_length} before EOS; "
                f"raise max_completion_length")
    if algo == "sgpo":
        return (f"{prefix}: no correct guided rollout with alpha > 0 on any problem (SGPO never distilled); "
                f"raise num_guided_generations or max_completion_length, lower gamma, or warm up with --algo sft")
    return (f"{prefix}: no reward variance in any group (every rollout of a problem scored the same); "
            f"raise num_generations or temperature, or warm up with --algo sft")


def truncation_warning(m: dict, cfg: TrainConfig) -> str | None:
    """The lengths to set when this step cut a prompt from the left or a completion before its end."""
    parts = []
    if m.get("left_cut_prompts"):
        parts.append(f"{m['left_cut_prompts']} of {m['prompts']} prompts cut from the left "
                     f"(set max_prompt_length >= {m['prompt_len_needed']})")
    if m.get("truncated_completions"):
        need = m.get("completion_len_needed", 0)
        # SFT knows each target's length; a rollout cut at the limit only says it needed more
        hint = (f"set max_completion_length >= {need}" if need > cfg.max_completion_length + 1
                else f"raise max_completion_length above {cfg.max_completion_length}")
        parts.append(f"{m['truncated_completions']} of {m['completions']} completions cut before EOS ({hint})")
    return "warning: " + "; ".join(parts) if parts else None


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_signal(sig: dict) -> str:
    keys = [k for k in sig if k not in ("algo", "warning")]
    lines = [f"learning signal ({sig['algo']}): " + ", ".join(f"{k} {_fmt(sig[k])}" for k in keys)]
    if sig.get("warning"):
        lines.append(f"warning: {sig['warning']}")
    return "\n".join(lines)


__all__ = ["format_signal", "no_signal_warning", "summarize", "truncation_warning"]
