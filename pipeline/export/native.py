"""The native export table: one row per (problem, selected teacher trajectory), read from a
curate run at one DuckLake snapshot, in a fixed column order and a deterministic row order.

    table, filtered = read_native(lake, snapshot_id, curate_run_id, max_prompt_chars=4096)

Columns (shared formats, "Export folder"): id, split, problem_id, family_seed_id, family,
perturbation, source, question, answer, prompt, trajectory_id, teacher, teacher_completion,
strategy, strategy_problem_type, strategy_approach, strategy_steps, strategy_plan.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

PROMPT_SUFFIX = "\n\nSolve the problem step by step. Put the final answer in \\boxed{}."
PROMPT_TEMPLATE = "{question}" + PROMPT_SUFFIX

MESSAGE = pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])
PLAN_SPAN = pa.struct([pa.field("label", pa.string()), pa.field("start", pa.int64()), pa.field("end", pa.int64())])
NATIVE_SCHEMA = pa.schema([
    ("id", pa.string()), ("split", pa.string()), ("problem_id", pa.string()), ("family_seed_id", pa.string()),
    ("family", pa.string()), ("perturbation", pa.string()), ("source", pa.string()), ("question", pa.string()),
    ("answer", pa.string()), ("prompt", pa.list_(MESSAGE)), ("trajectory_id", pa.string()), ("teacher", pa.string()),
    ("teacher_completion", pa.string()), ("strategy", pa.string()), ("strategy_problem_type", pa.string()),
    ("strategy_approach", pa.string()), ("strategy_steps", pa.list_(pa.string())),
    ("strategy_plan", pa.list_(PLAN_SPAN)),
])


def split_order(split: str) -> tuple:
    """train, val, test_original, then the other test sets by name."""
    return ({"train": 0, "val": 1, "test_original": 2}.get(split, 3), split)


def render_strategy(problem_type: str | None, approach: str | None, steps: list[str] | None) -> str:
    if problem_type is None and approach is None and not steps:
        return ""
    lines = [f"Problem type: {problem_type or ''}", f"Approach: {approach or ''}", "Steps:"]
    lines += [f"{i}. {step}" for i, step in enumerate(steps or [], 1)]
    return "\n".join(lines)


_QUERY = """
    SELECT c.trajectory_id AS id, c.split, c.problem_id, c.family_seed_id, coalesce(p.family, '') AS family,
           p.perturbation, p.source, p.question, coalesce(p.reference_answer, '') AS answer,
           c.trajectory_id, t.teacher, t.text AS teacher_completion,
           s.problem_type, s.approach, s.steps, c.plan
    FROM curated c AT (VERSION => $s)
    JOIN problems p AT (VERSION => $s) ON p.problem_id = c.problem_id
    JOIN trajectories t AT (VERSION => $s) ON t.trajectory_id = c.trajectory_id
    LEFT JOIN strategies s AT (VERSION => $s) ON s.strategy_id = c.strategy_id
    WHERE c.run_id = $run
    ORDER BY CASE c.split WHEN 'train' THEN 0 WHEN 'val' THEN 1 WHEN 'test_original' THEN 2 ELSE 3 END,
             c.split, c.trajectory_id
"""


def read_native(lake, snapshot_id: int, curate_run_id: str, *, max_prompt_chars: int | None = None,
                max_prompt_tokens: int | None = None, token_counter=None) -> tuple[pa.Table, dict[str, int]]:
    """The native table and how many rows each prompt-length filter removed."""
    raw = lake.query(_QUERY, {"s": snapshot_id, "run": curate_run_id})
    n = raw.num_rows
    content = pc.binary_join_element_wise(raw["question"], pa.scalar(PROMPT_SUFFIX), "")
    role = pa.array(["user"] * n, pa.string())
    prompt = pa.ListArray.from_arrays(pa.array(range(n + 1), pa.int32()),
                                      pa.StructArray.from_arrays([role, content.combine_chunks()], fields=list(MESSAGE)))
    types, approaches, steps = (raw[c].to_pylist() for c in ("problem_type", "approach", "steps"))
    strategy = [render_strategy(a, b, c) for a, b, c in zip(types, approaches, steps)]
    cols = {name: raw[name] for name in ("id", "split", "problem_id", "family_seed_id", "family", "perturbation",
                                         "source", "question", "answer")}
    cols |= {"prompt": prompt, "trajectory_id": raw["trajectory_id"], "teacher": raw["teacher"],
             "teacher_completion": raw["teacher_completion"], "strategy": pa.array(strategy, pa.string()),
             "strategy_problem_type": pc.fill_null(raw["problem_type"], ""),
             "strategy_approach": pc.fill_null(raw["approach"], ""),
             "strategy_steps": pc.fill_null(raw["steps"], pa.scalar([], pa.list_(pa.string()))),
             "strategy_plan": raw["plan"]}
    table = pa.table([pa.chunked_array(cols[f.name]).cast(f.type) if not isinstance(cols[f.name], pa.Array)
                      else cols[f.name].cast(f.type) for f in NATIVE_SCHEMA], schema=NATIVE_SCHEMA)

    filtered: dict[str, int] = {}
    keep = None
    lengths = pc.utf8_length(content)
    if max_prompt_chars is not None:
        keep = pc.less_equal(lengths, max_prompt_chars)
        filtered["prompt_chars"] = n - pc.sum(keep).as_py() if n else 0
    if max_prompt_tokens is not None and token_counter is not None and n:
        ok = pa.array([c <= max_prompt_tokens for c in token_counter(content.to_pylist())])
        filtered["prompt_tokens"] = pc.sum(pc.and_(keep, pc.invert(ok)) if keep is not None else pc.invert(ok)).as_py()
        keep = ok if keep is None else pc.and_(keep, ok)
    if keep is not None and n:
        table = table.filter(keep)
    return table, filtered
