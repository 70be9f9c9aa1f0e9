"""Write a small export folder in the shared format, from plain rows: for tests and benchmarks
that must not depend on the real export stage.

    from export_fixtures import make_row, write_export
    rows = [make_row("q1", "What is 2+3?", "5", "2+3=5. The answer is \\boxed{5}.", split="train",
                     strategy="Add the two numbers.")]
    write_export(tmp_path / "exp", rows)      # manifest.json + data.parquet + per-split TRL jsonl

Columns, types, prompt suffix and manifest follow the export contract (schemas/export.py,
DESIGN section 6); the manifest lists the sha256 of every file it writes and the row count per
split. Used by tests and by bench/ (gpu_check, train_vs_trl, sgpo_task, sgpo_experiment).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.export import (DATA_FILE, EXPORT_SCHEMA_VERSION, MANIFEST, NATIVE_SCHEMA, PROMPT_SUFFIX, PROMPT_TEMPLATE,
                            sha256_file)


def make_row(id: str, question: str, answer: str, completion: str, *, split: str = "train", strategy: str = "",
             family: str = "toy", perturbation: str = "original", plan: Sequence[dict] = (),
             prompt_suffix: str = PROMPT_SUFFIX) -> dict:
    return {
        "id": id, "split": split, "problem_id": f"p-{id}", "family_seed_id": f"p-{id}", "family": family,
        "perturbation": perturbation, "source": "fixture", "question": question, "answer": answer,
        "prompt": [{"role": "user", "content": question + prompt_suffix}], "trajectory_id": id,
        "teacher": "fixture-teacher", "teacher_completion": completion,
        "strategy": strategy, "strategy_problem_type": family, "strategy_approach": strategy,
        "strategy_steps": [strategy] if strategy else [], "strategy_plan": list(plan),
    }


def write_export(root: str | Path, rows: Sequence[dict], name: str | None = None) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(rows), schema=NATIVE_SCHEMA)
    pq.write_table(table, root / DATA_FILE)
    files = [DATA_FILE]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["split"]] = counts.get(row["split"], 0) + 1
    for split in counts:
        folder = root / split
        folder.mkdir(exist_ok=True)
        chosen = [r for r in rows if r["split"] == split]
        with (folder / "sft.trl.jsonl").open("w") as fh:
            for r in chosen:
                fh.write(json.dumps({"prompt": r["prompt"], "completion": [
                    {"role": "assistant", "content": r["teacher_completion"]}], "id": r["id"]}) + "\n")
        with (folder / "rl.trl.jsonl").open("w") as fh:
            for r in chosen:
                fh.write(json.dumps({"prompt": r["prompt"], "solution": r["answer"],
                                     "teacher_completion": r["teacher_completion"], "strategy": r["strategy"],
                                     "strategy_plan": r["strategy_plan"], "id": r["id"]}) + "\n")
        files += [f"{split}/sft.trl.jsonl", f"{split}/rl.trl.jsonl"]
    manifest = {
        "schema_version": EXPORT_SCHEMA_VERSION, "export_name": name or root.name,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "snapshot_id": 0,
        "taxonomy": {"name": "fixture", "version": "0", "sha256": "", "labels": []}, "run_ids": {},
        "policy": {}, "counts": counts, "files": {f: sha256_file(root / f) for f in files},
        "prompt_template": PROMPT_TEMPLATE, "max_prompt_chars": 4000,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return root



def addition_rows(n_train: int = 8, n_test: int = 2) -> list[dict]:
    """A handful of addition problems: `train` rows with strategies, `test_original` and
    `test_numbers` rows (the numbers perturbation), for tests of the trainer."""
    rows = []
    for i in range(n_train):
        a, b = i + 1, 2 * i + 3
        rows.append(make_row(f"tr{i}", f"What is {a}+{b}?", str(a + b), f"{a}+{b}={a + b}. The answer is \\boxed{{{a + b}}}.",
                             split="train", strategy="Add the two numbers, then box the sum.",
                             plan=[{"label": "planning", "start": 0, "end": len(f"{a}+{b}={a + b}.")}]))
    for i in range(n_test):
        a, b = i + 2, i + 5
        rows.append(make_row(f"to{i}", f"What is {a}+{b}?", str(a + b), f"\\boxed{{{a + b}}}", split="test_original",
                             strategy="Add."))
        rows.append(make_row(f"tn{i}", f"What is {a + 10}+{b}?", str(a + 10 + b), f"\\boxed{{{a + b + 10}}}",
                             split="test_numbers", perturbation="numbers", strategy="Add."))
    return rows


def parity_reward(prompts, completions, **kwargs) -> list[float]:
    """Deterministic, varied rewards for an untrained model (correctness would be all zeros)."""
    return [float(sum(map(ord, c)) % 2) for c in completions]


__all__ = ["addition_rows", "make_row", "parity_reward", "write_export"]
