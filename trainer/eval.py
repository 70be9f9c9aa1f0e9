"""Greedy accuracy on the original test problems and on each perturbation type, side by side for
several checkpoints, with the original-minus-perturbed gap per model.

    python -m trainer eval --model runs/sft/final runs/sgpo/final --data EXPORT_DIR [--limit 200]
    report = evaluate(["runs/sft/final", "tiny"], "EXPORT_DIR", max_new_tokens=256)
    print(format_report(report))

`count_strategies=True` also runs the rules tagger on the outputs and counts
strategy labels per model: strategy use before and after training.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from annotators.answers import is_correct
from schemas.export import ExportError
from trainer.data import Example, encode_prompts, load_export, render_prompt
from trainer.model import load_model, resolve_model
from trainer.rollout import sample_groups


@dataclass
class ModelResult:
    model: str
    accuracy: dict[str, float]          # split -> accuracy
    n: dict[str, int]
    gap: dict[str, float]               # perturbation split -> acc(test_original) - acc(split)
    mean_gap: float | None
    strategy_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class EvalReport:
    splits: list[str]
    results: list[ModelResult]

    def to_dict(self) -> dict:
        return {"splits": self.splits, "results": [r.__dict__ for r in self.results]}


@torch.no_grad()
def generate_greedy(model, tokenizer, examples: Sequence[Example], max_new_tokens: int, batch_size: int,
                    max_prompt_length: int = 2048) -> list[str]:
    texts = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        prompts = encode_prompts(tokenizer, [render_prompt(tokenizer, e.prompt) for e in chunk], max_prompt_length)
        texts += sample_groups(model, tokenizer, prompts, 1, max_new_tokens, temperature=0.0).texts
    return texts


def _strategy_counts(texts: Sequence[str]) -> dict[str, int]:
    from annotators import TagItem
    from trainer.rewards import rules_tagger

    counts: Counter = Counter()
    for result in rules_tagger().tag([TagItem(str(i), t) for i, t in enumerate(texts)]):
        counts.update(s.label for s in result.spans)
    return dict(sorted(counts.items()))


def evaluate(models: Sequence[str], data: str | Path, splits: Sequence[str] | None = None, max_new_tokens: int = 256,
             batch_size: int = 32, limit: int | None = None, device: str = "auto",
             count_strategies: bool = False) -> EvalReport:
    export = load_export(data)
    for m in models:
        resolve_model(m)                 # every bad path fails before the first model loads
    splits = list(splits or export.test_splits())
    if not splits:
        raise ExportError(f"export {export.root} has no test_* splits")
    per_split = {s: export.split(s)[:limit] if limit else export.split(s) for s in splits}
    results = []
    for name in models:
        model, tokenizer = load_model(name, device=device)
        model.eval()
        acc, n, outputs = {}, {}, []
        for split, rows in per_split.items():
            texts = generate_greedy(model, tokenizer, rows, max_new_tokens, batch_size)
            outputs += texts
            acc[split] = sum(is_correct(t, e.answer) for t, e in zip(texts, rows)) / len(rows)
            n[split] = len(rows)
        gap = {s: acc["test_original"] - acc[s] for s in splits if s != "test_original" and "test_original" in acc}
        mean_gap = sum(gap.values()) / len(gap) if gap else None
        results.append(ModelResult(name, acc, n, gap, mean_gap,
                                   _strategy_counts(outputs) if count_strategies else {}))
        del model
    return EvalReport(splits, results)


def model_label(name: str) -> str:
    """Short column label: `runs/sgpo/final` -> `sgpo/final`; presets stay as they are."""
    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else name


def format_report(report: EvalReport) -> str:
    """A plain-text table: one row per split, one column per model, then the gaps."""
    names = [model_label(r.model) for r in report.results]
    width = max([12] + [len(n) for n in names])
    first = max([len("gap original-perturbed")] + [len(s) for s in report.splits]) + 2
    head = "split".ljust(first) + "".join(n.rjust(width + 2) for n in names)
    lines = [head, "-" * len(head)]
    for split in report.splits:
        n = report.results[0].n[split] if report.results else 0
        cells = "".join(f"{r.accuracy[split]:.3f}".rjust(width + 2) for r in report.results)
        lines.append(f"{split} (n={n})".ljust(first) + cells)
    if any(r.gap for r in report.results):
        for split in report.splits:
            if split == "test_original":
                continue
            cells = "".join(f"{r.gap.get(split, float('nan')):+.3f}".rjust(width + 2) for r in report.results)
            lines.append(f"gap vs {split[5:]}".ljust(first) + cells)
        cells = "".join(("n/a" if r.mean_gap is None else f"{r.mean_gap:+.3f}").rjust(width + 2) for r in report.results)
        lines.append("gap original-perturbed".ljust(first) + cells)
    for r in report.results:
        if r.strategy_counts:
            lines.append(f"strategies in {r.model}: " + ", ".join(f"{k} {v}" for k, v in r.strategy_counts.items()))
    return "\n".join(lines)


__all__ = ["EvalReport", "ModelResult", "evaluate", "format_report", "generate_greedy"]
