"""The shapes `mapping suggest` recognises: each `*_plan(records)` returns a Plan (mapping
parts plus what it guessed and what it could not), or None when the shape does not fit.

    plan = chat_plan(records) or rl_plan(records) or flat_plan(records)
    plan = folder_plan({"problem.json": {...}, "base_solution.json": {...}})

Field names are matched case-insensitively against the usual names below, first name
first; values in the sample decide between one trajectory, one per list element (`each`)
and a step list (`join`). Tests: `pytest tests/test_mapping_suggest.py`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

QUESTION = ("question", "problem", "query", "prompt", "instruction", "input", "task", "statement")
ANSWER = ("answer", "final_answer", "gt_answer", "ground_truth_answer", "ground_truth", "gt", "gold", "gold_answer",
          "reference_answer", "expected_answer", "target", "label", "solution_answer", "short_answer")
OUTPUT = ("responses", "response", "generations", "generation", "model_output_step_format", "model_output",
          "model_prediction", "prediction", "outputs", "output", "completions", "completion", "teacher_completion",
          "model_solution", "steps")
SOLUTION = ("solution", "solutions", "reasoning", "rationale", "explanation", "cot", "gt_solution", "full_cot")
TEACHER = ("model", "generator", "teacher", "model_name", "model_id")
SAMPLING = ("pred", "preds", "score", "scores", "is_correct", "correct", "result", "reward", "rewards", "rating",
            "ratings", "extracted_answer", "answer", "verdict")
NULLISH = ("None", "null", "N/A", "")
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class Plan:
    shape: str
    problem: dict[str, object] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    trajectories: list[dict] = field(default_factory=list)
    guessed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    source: str | None = None
    folder_files: dict[str, str] | None = None


def spec_toml(value: object) -> str:
    """A TOML value (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(spec_toml(v) for v in value) + "]"
    items = [f"{k if _KEY.match(k) else json.dumps(k)} = {spec_toml(v)}" for k, v in value.items()]
    return "{ " + ", ".join(items) + " }"


# ------------------------------------------------------------------ looking at values
def values(records: list[dict], key: str) -> list:
    return [r[key] for r in records if isinstance(r, dict) and r.get(key) is not None]


def kind(vals: list) -> str:
    """str | list_str | list_list | chat | dict | bool | num | list | mixed | none."""
    if not vals:
        return "none"
    if all(isinstance(v, str) for v in vals):
        return "str"
    if all(isinstance(v, bool) for v in vals):
        return "bool"
    if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in vals):
        return "num"
    if all(isinstance(v, dict) for v in vals):
        return "dict"
    if all(isinstance(v, list) for v in vals):
        items = [x for v in vals for x in v]
        if all(isinstance(x, str) for x in items):
            return "list_str"
        if all(isinstance(x, list) and all(isinstance(y, str) for y in x) for x in items):
            return "list_list"
        if all(isinstance(x, dict) for x in items) and any(("role" in x or "from" in x) for x in items):
            return "chat"
        return "list"
    return "mixed"


def find(records: list[dict], names: tuple[str, ...], kinds: tuple[str, ...], skip: set[str] = frozenset()) -> str | None:
    keys = list(dict.fromkeys(k for r in records for k in r))
    lower = {k.lower(): k for k in keys}
    for name in names:
        key = lower.get(name)
        if key is not None and key not in skip and kind(values(records, key)) in kinds:
            return key
    return None


def answer_spec(records: list[dict], key: str, prefix: str = "") -> tuple[object, str]:
    """(spec, what was guessed) for an answer field."""
    vals, path = values(records, key), prefix + key
    k = kind(vals)
    if k in ("list_str", "list"):
        return {"field": path, "join": ", "}, f"answer <- list field {path!r}, elements joined with ', '"
    if k == "bool":
        return {"field": path, "convert": True}, f"answer <- boolean field {path!r} (True / False)"
    texts = [v for v in vals if isinstance(v, str)]
    spec: dict = {"field": path}
    what = f"answer <- field {path!r}"
    if texts and sum("####" in v for v in texts) >= len(texts) / 2:
        spec["after"], what = "####", what + ", the text after ####"
    elif texts and sum(bool(re.search(r"(?m)^A:\s*\S+\s*$", v)) for v in texts) >= len(texts) / 2:
        spec["after"], what = "A:", what + ", the text after the last 'A:'"
    elif texts and sum("\\boxed" in v and "\n" in v for v in texts) >= len(texts) / 2:
        spec["boxed"], what = True, what + ", inside its last \\boxed{}"
    nullish = sorted({v for v in texts if v.strip() in NULLISH})
    if nullish:
        spec["null_if"] = nullish
        what += f" ({', '.join(map(repr, nullish))} meaning no answer)"
    return (spec if len(spec) > 1 else path), what


def teacher_spec(records: list[dict], plan: Plan, prefix: str = "", default: str = "unknown") -> object:
    key = find(records, TEACHER, ("str",))
    if key:
        plan.guessed.append(f"teacher <- field {prefix + key!r}")
        return {"field": prefix + key, "default": default}
    plan.missing.append(f"no model / teacher field: teacher is {default!r} (pass --teacher NAME to ingest)")
    return {"const": default}


def sampling_for(records: list[dict], skip: set[str], *, per_element: int | None, prefix: str = "") -> dict:
    """Per-trajectory fields (pred, score, ...): lists as long as the responses get `each`."""
    out = {}
    for key in list(dict.fromkeys(k for r in records for k in r)):
        if key.lower() not in SAMPLING or key in skip:
            continue
        vals = values(records, key)
        if per_element is not None:
            if vals and all(isinstance(v, list) for v in vals):
                out[key] = {"field": prefix + key, "each": True}
        elif kind(vals) in ("bool", "num", "str", "list_str", "list"):
            out[key if key.lower() != "rating" else "step_ratings"] = prefix + key
    return out


def metadata_for(records: list[dict], used: set[str], prefix: str = "") -> dict:
    out = {}
    for key in list(dict.fromkeys(k for r in records for k in r)):
        vals = values(records, key)
        if key in used or key.lower() in SAMPLING or not vals or len(out) >= 8:
            continue
        if kind(vals) in ("num", "bool") or (kind(vals) == "str" and max(map(len, vals)) <= 120):
            out[key] = prefix + key
    return out


def _think(texts: list, plan: Plan) -> None:
    flat = [t for v in texts for t in (v if isinstance(v, list) else [v]) if isinstance(t, str)]
    if flat and sum("<think>" in t or "</think>" in t for t in flat) >= len(flat) / 2:
        plan.guessed.append("R1 <think> traces: the think section stays in the trajectory text")
