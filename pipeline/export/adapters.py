"""Per-split training files written from the native table (DESIGN section 6):

    sft.trl.jsonl      {"prompt": [...], "completion": [{"role": "assistant", "content": T}], "id": ...}
    rl.trl.jsonl       {"prompt": [...], "solution": A, "teacher_completion": T, "strategy": S,
                        "strategy_plan": [{"label", "start", "end"}], "id": ...}
                       (no `completion` column: TRL's GRPOTrainer drops it before reward functions)
    rl.verl.parquet    data_source, prompt, ability, reward_model{style, ground_truth},
                       extra_info{split, index, id, strategy, strategy_plan, teacher_completion}
    rl.openrlhf.jsonl  {"input": [...], "label": json.dumps({"answer", "strategy", "strategy_plan"})}

    write_split(native_split_frame, folder)   # polars DataFrame of one split -> the four files

JSONL is written by polars (vectorised, deterministic, UTF-8, no timestamps); Parquet by
pyarrow with explicit schemas so that empty plans keep their struct type.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.export.native import MESSAGE, PLAN_SPAN

ADAPTER_FILES = ("sft.trl.jsonl", "rl.trl.jsonl", "rl.verl.parquet", "rl.openrlhf.jsonl")
ABILITY = "math"

VERL_SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(MESSAGE)),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("id", pa.string()),
                              ("strategy", pa.string()), ("strategy_plan", pa.list_(PLAN_SPAN)),
                              ("teacher_completion", pa.string())])),
])


def write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic Parquet: same rows, same bytes (no timestamps, fixed row groups)."""
    pq.write_table(table, path, compression="zstd", row_group_size=64 * 1024, write_statistics=True)


def _completion() -> pl.Expr:
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col("teacher_completion"))).alias("completion")


def write_split(frame: pl.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.select("prompt", _completion(), "id").write_ndjson(folder / "sft.trl.jsonl")
    frame.select("prompt", pl.col("answer").alias("solution"), "teacher_completion", "strategy", "strategy_plan",
                 "id").write_ndjson(folder / "rl.trl.jsonl")
    label = pl.struct(pl.col("answer"), pl.col("strategy"), pl.col("strategy_plan")).struct.json_encode()
    frame.select(pl.col("prompt").alias("input"), label.alias("label")).write_ndjson(folder / "rl.openrlhf.jsonl")
    verl = frame.select(
        pl.col("source").alias("data_source"), "prompt", pl.lit(ABILITY).alias("ability"),
        pl.struct(style=pl.lit("rule"), ground_truth=pl.col("answer")).alias("reward_model"),
        pl.struct(split=pl.col("split"), index=pl.int_range(pl.len(), dtype=pl.Int64), id=pl.col("id"),
                  strategy=pl.col("strategy"), strategy_plan=pl.col("strategy_plan"),
                  teacher_completion=pl.col("teacher_completion")).alias("extra_info"))
    write_parquet(verl.to_arrow().cast(VERL_SCHEMA), folder / "rl.verl.parquet")
