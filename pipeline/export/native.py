"""The native export table: one row per (problem, selected teacher trajectory), read from a
curate run at one DuckLake snapshot, in a fixed column order and a deterministic row order.

    table, filtered = read_native(lake, snapshot_id, curate_run_id, max_prompt_chars=4096)

The strategy text is rendered in the query: "Problem type: ...\nApproach: ...\nSteps:\n1. ...\n2. ..."
("" when the problem has no selected strategy). An RL-only row (a problem curated without a
trajectory) has id = problem_id, trajectory_id, teacher and teacher_completion null and an
empty strategy_plan. The user prompt is the question plus the policy's [prompt] suffix.

Columns (shared formats, "Export folder"): id, split, problem_id, family_seed_id, family,
perturbation, source, question, answer, prompt, trajectory_id, teacher, teacher_completion,
strategy, strategy_problem_type, strategy_approach, strategy_steps, strategy_plan.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.policy import DEFAULT_PROMPT_SUFFIX

PROMPT_SUFFIX = DEFAULT_PROMPT_SUFFIX
PROMPT_TEMPLATE = "{question}" + PROMPT_SUFFIX


def suffix_of(template: str) -> str:
    """The suffix of a manifest's prompt_template ("{question}" + suffix)."""
    if not template.startswith("{question}"):
        raise ValueError(f"prompt_template {template!r} does not start with {{question}}")
    return template[len("{question}"):]

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


_QUERY = """
    SELECT coalesce(c.trajectory_id, c.problem_id) AS id, c.split, c.problem_id, c.family_seed_id,
           coalesce(p.family, '') AS family,
           p.perturbation, p.source, p.question, coalesce(p.reference_answer, '') AS answer,
           [{'role': 'user', 'content': p.question || $suffix}] AS prompt,
           c.trajectory_id, t.teacher, t.text AS teacher_completion,
           CASE WHEN s.strategy_id IS NULL THEN '' ELSE
               'Problem type: ' || coalesce(s.problem_type, '') || chr(10) || 'Approach: ' || coalesce(s.approach, '')
               || chr(10) || 'Steps:'
               || array_to_string(list_transform(coalesce(s.steps, []), (x, i) -> chr(10) || i || '. ' || x), '')
           END AS strategy,
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
    table = raw.drop_columns(["prompt_chars"]).cast(NATIVE_SCHEMA)

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
    return table.combine_chunks(), filtered
