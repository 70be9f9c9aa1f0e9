"""The export contract (schemas/export.py): one strategy text whether rendered per row or
vectorised, the native schema, and a module the trainer can import without pydantic or pyarrow."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from schemas.export import (COLUMNS, NATIVE_SCHEMA, PLAN_STRUCT, PROMPT_SUFFIX, PROMPT_TEMPLATE, render_strategies,
                            render_strategy, suffix_of)

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


def test_render_strategy_layout():
    assert render_strategy("rate problem", "relate totals to parts", ["find the unit rate", "scale it"]) == (
        "Problem type: rate problem\nApproach: relate totals to parts\nSteps:\n1. find the unit rate\n2. scale it")
    assert render_strategy("", "", []) == "Problem type: \nApproach: \nSteps:"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(text, text, st.lists(text, max_size=12)), max_size=15), st.integers(0, 5))
def test_vectorised_rendering_equals_render_strategy(rows, cut):
    types = pa.array([r[0] for r in rows], pa.string())
    approaches = pa.array([r[1] for r in rows], pa.string())
    steps = pa.array([r[2] for r in rows], pa.list_(pa.string()))
    want = [render_strategy(*r) for r in rows]
    assert render_strategies(types, approaches, steps).to_pylist() == want
    # a slice (offsets not starting at 0) and a chunked column, as a filtered query result gives
    chunked = pa.chunked_array([steps.slice(0, cut), steps.slice(cut)], pa.list_(pa.string()))
    assert render_strategies(types, approaches, chunked).to_pylist() == want
    assert render_strategies(types[cut:], approaches[cut:], steps.slice(cut)).to_pylist() == want[cut:]


def test_native_schema_and_template():
    assert tuple(NATIVE_SCHEMA.names) == COLUMNS
    assert NATIVE_SCHEMA.field("strategy_plan").type == pa.list_(PLAN_STRUCT)
    assert suffix_of(PROMPT_TEMPLATE) == PROMPT_SUFFIX


def test_contract_and_trainer_import_without_pydantic_or_pyarrow():
    """The GPU machine has no pydantic (bench/gpu_check.py): `schemas` loads its modules lazily,
    and schemas.export loads pyarrow only for the Arrow types."""
    code = ("import sys\n"
            "import schemas, schemas.export as e\n"
            "e.render_strategy('t', 'a', ['s']); e.PlanSpan('planning', 0, 1)\n"
            "print(sorted(m for m in ('pydantic', 'pyarrow') if m in sys.modules))\n"
            "import trainer.data, export_fixtures\n"
            "print(sorted(m for m in ('pydantic', 'duckdb', 'polars') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent).stdout.split("\n")  # tests/ holds export_fixtures
    assert out[:2] == ["[]", "[]"]
