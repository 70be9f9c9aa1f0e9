"""Per-split training files written from the native table (DESIGN section 6):

    sft.trl.jsonl      {"prompt": [...], "completion": [{"role": "assistant", "content": T}], "id": ...}
    rl.trl.jsonl       {"prompt": [...], "solution": A, "teacher_completion": T, "strategy": S,
                        "strategy_plan": [{"label", "start", "end"}], "id": ...}
                       (no `completion` column: TRL's GRPOTrainer drops it before reward functions)
    rl.verl.parquet    data_source, prompt, ability, reward_model{style, ground_truth},
                       extra_info{split, index, id, strategy, strategy_plan, teacher_completion}
    rl.openrlhf.jsonl  {"input": [...], "label": json.dumps({"answer", "strategy", "strategy_plan"})}

    write_split(native_split_table, folder)   # Arrow table of one split -> the four files
    split_jobs(native_split_table, folder)    # the same as four callables, for a thread pool

RL-only rows (no teacher trajectory: teacher_completion null) go to the three RL files and
never to sft.trl.jsonl; a split without any trajectory gets no SFT file (`has_sft` is False).

JSONL is written by polars (vectorised, deterministic, UTF-8, no timestamps); Parquet by
pyarrow with explicit schemas so that empty plans keep their struct type.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.export import MESSAGE, PLAN_STRUCT

ADAPTER_FILES = ("sft.trl.jsonl", "rl.trl.jsonl", "rl.verl.parquet", "rl.openrlhf.jsonl")
ABILITY = "math"

VERL_SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(MESSAGE)),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
    ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("id", pa.string()),
                              ("strategy", pa.string()), ("strategy_plan", pa.list_(PLAN_STRUCT)),
                              ("teacher_completion", pa.string())])),
])


# Columns with few distinct values: dictionary-encoded. Long unique texts are not (the
# dictionary would only be built to be thrown away).
DICTIONARY_COLUMNS = ["split", "family", "perturbation", "source", "teacher", "strategy_problem_type",
                      "strategy_approach", "data_source", "ability", "reward_model.style", "extra_info.split"]


def write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic Parquet: same rows, same bytes (no timestamps, fixed row groups)."""
    present = [c for c in DICTIONARY_COLUMNS if c.split(".")[0] in table.column_names]
    pq.write_table(table, path, compression="zstd", row_group_size=64 * 1024, use_dictionary=present,
                   write_statistics=True)


def _completion() -> pl.Expr:
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col("teacher_completion"))).alias("completion")


def verl_table(table: pa.Table) -> pa.Table:
    """The verl rows of one split, built from the native Arrow columns without copying the text."""
    n = table.num_rows
    col = lambda name: table[name].combine_chunks()
    reward = pa.StructArray.from_arrays([pa.array(["rule"] * n, pa.string()), col("answer")],
                                        fields=list(VERL_SCHEMA.field("reward_model").type))
    extra = pa.StructArray.from_arrays(
        [col("split"), pa.array(range(n), pa.int64()), col("id"), col("strategy"), col("strategy_plan"),
         col("teacher_completion")], fields=list(VERL_SCHEMA.field("extra_info").type))
    return pa.table([col("source"), col("prompt"), pa.array([ABILITY] * n, pa.string()), reward, extra],
                    schema=VERL_SCHEMA)


def rl_only_rows(table: pa.Table) -> int:
    """Rows without a teacher trajectory (RL-only)."""
    return table["teacher_completion"].null_count


def has_sft(table: pa.Table) -> bool:
    return rl_only_rows(table) < table.num_rows


def split_jobs(table: pa.Table, folder: Path) -> list:
    """Zero-argument callables that write the files of one split (run them in any order, or threads):
    the three RL files, and sft.trl.jsonl when some row has a teacher trajectory."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pl.from_arrow(table)
    label = pl.struct(pl.col("answer"), pl.col("strategy"), pl.col("strategy_plan")).struct.json_encode()
    sft = [lambda: frame.filter(pl.col("teacher_completion").is_not_null()).select(
        "prompt", _completion(), "id").write_ndjson(folder / "sft.trl.jsonl")] if has_sft(table) else []
    return sft + [
        lambda: frame.select("prompt", pl.col("answer").alias("solution"), "teacher_completion", "strategy",
                             "strategy_plan", "id").write_ndjson(folder / "rl.trl.jsonl"),
        lambda: frame.select(pl.col("prompt").alias("input"), label.alias("label")).write_ndjson(
            folder / "rl.openrlhf.jsonl"),
        lambda: write_parquet(verl_table(table), folder / "rl.verl.parquet"),
    ]


def write_split(table: pa.Table, folder: Path) -> None:
    for job in split_jobs(table, folder):
        job()
