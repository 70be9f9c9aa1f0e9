"""Per-step metrics: a JSONL writer and the one-line progress summary.

    w = MetricsWriter(out / "metrics.jsonl"); w.write({"step": 1, "loss": 0.3}); w.close()
    print(progress_line("sgpo", 3, 100, metrics))
    rows = read_metrics(out / "metrics.jsonl")
"""
from __future__ import annotations

import json
import math
from pathlib import Path


class MetricsWriter:
    def __init__(self, path: Path):
        self.fh = Path(path).open("w")

    def write(self, metrics: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
        self.fh.write(json.dumps(clean) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def progress_line(algo: str, step: int, total: int, m: dict) -> str:
    parts = [f"{algo} {step}/{total}", f"loss {m.get('loss', 0.0):.4f}"]
    for key, label in (("loss_grpo", "grpo"), ("loss_sd", "sd"), ("loss_kl_ref", "kl"), ("loss_sft", "sft")):
        if key in m:
            parts.append(f"{label} {m[key]:.4f}")
    if "pass_rate_unguided" in m:
        parts.append(f"pass {m['pass_rate_unguided']:.2f}")
    if "pass_rate_guided" in m:
        parts.append(f"guided {m['pass_rate_guided']:.2f} alpha {m.get('alpha_mean', 0.0):.2f} "
                     f"clip {m.get('kl_clipped_frac', 0.0):.2f}")
    parts.append(f"ent {m.get('entropy', 0.0):.2f}")
    parts.append(f"{m.get('tokens_per_s', 0.0):,.0f} tok/s")
    if m.get("time_generation"):
        parts.append(f"gen/score/upd {m['time_generation']:.2f}/{m['time_scoring']:.2f}/{m['time_update']:.2f}s")
    return " | ".join(parts)


__all__ = ["MetricsWriter", "progress_line", "read_metrics"]
