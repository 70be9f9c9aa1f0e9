"""The native export table: one row per (problem, selected teacher trajectory), read from a
curate run at one DuckLake snapshot, in a fixed column order and a deterministic row order.

    table, filtered = read_native(lake, snapshot_id, curate_run_id, max_prompt_chars=4096)

The columns, their types and the strategy text are the export contract (schemas/export.py,
DESIGN section 6): NATIVE_SCHEMA, and `strategy` = render_strategy(problem type, approach,
steps), rendered after the query (render_strategies: the same text, vectorised), "" when the
problem has no selected strategy. An RL-only row (a problem curated without a trajectory) has
id = problem_id, trajectory_id, teacher and teacher_completion null and an empty strategy_plan.
The user prompt is the question plus the policy's [prompt] suffix.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from schemas.export import NATIVE_SCHEMA, PROMPT_SUFFIX, render_strategies


def split_order(split: str) -> tuple:
    """train, val, test_original, then the other test sets by name."""
    return ({"train": 0, "val": 1, "test_original": 2}.get(split, 3), split)


_QUERY = """
    SELECT coalesce(c.trajectory_id, c.problem_id) AS id, c.split, c.problem_id, c.family_seed_id,
           coalesce(p.family, '') AS family,
           p.perturbation, p.source, p.question, coalesce(p.reference_answer, '') AS answer,
           [{'role': 'user', 'content': p.question || $suffix}] AS prompt,
           c.trajectory_id, t.teacher, t.text AS teacher_completion,
           s.strategy_id IS NOT NULL AS strategy,  -- rendered by _render_strategies
           coalesce(s.problem_type, '') AS strategy_problem_type, coalesce(s.approach, '') AS strategy_approach,
           coalesce(s.steps, []) AS strategy_steps, c.plan AS strategy_plan,
           length(p.question) + length($suffix) AS prompt_chars
    FROM curated c AT (VERSION => $s)
    JOIN problems p AT (VERSION => $s) ON p.problem_id = c.problem_id
    LEFT JOIN trajectories t AT (VERSION => $s) ON t.trajectory_id = c.trajectory_id
    LEFT JOIN strategies s AT (VERSION => $s) ON s.strategy_id = c.strategy_id
    WHERE c.run_id = $run
    ORDER BY CASE c.split WHEN 'train' THEN 0 WHEN 'val' THEN 1 WHEN 'test_original' THEN 2 ELSE 3 END,
             c.split, id
"""


def read_native(lake, snapshot_id: int, curate_run_id: str, *, max_prompt_chars: int | None = None,
                max_prompt_tokens: int | None = None, token_counter=None,
                suffix: str = PROMPT_SUFFIX) -> tuple[pa.Table, dict[str, int]]:
    """The native table and how many rows each prompt-length filter removed."""
    raw = lake.query(_QUERY, {"s": snapshot_id, "run": curate_run_id, "suffix": suffix})
    n = raw.num_rows
    lengths = raw["prompt_chars"]
    table = raw.drop_columns(["prompt_chars"])

    filtered: dict[str, int] = {}
    keep = None
    if max_prompt_chars is not None:
        keep = pc.less_equal(lengths, max_prompt_chars)
        filtered["prompt_chars"] = n - pc.sum(keep).as_py() if n else 0
    if max_prompt_tokens is not None and token_counter is not None and n:
        contents = [q + suffix for q in table["question"].to_pylist()]
        ok = pa.array([c <= max_prompt_tokens for c in token_counter(contents)])
        filtered["prompt_tokens"] = pc.sum(pc.and_(keep, pc.invert(ok)) if keep is not None else pc.invert(ok)).as_py()
        keep = ok if keep is None else pc.and_(keep, ok)
    if keep is not None and n:
        table = table.filter(keep)
    return _render_strategies(table).cast(NATIVE_SCHEMA).combine_chunks(), filtered


def _render_strategies(raw: pa.Table) -> pa.Table:
    """The query's `strategy` column (whether the row has a strategy) replaced by its text."""
    text = render_strategies(raw["strategy_problem_type"], raw["strategy_approach"], raw["strategy_steps"])
    strategy = pc.if_else(raw["strategy"], text, pa.scalar("", pa.string()))
    return raw.set_column(raw.schema.get_field_index("strategy"), "strategy", strategy)
