"""`stratagem mapping suggest`: guess an ingest mapping from a sample of a file or folder.

    s = suggest(Path("data/olympiad.jsonl"))
    s.toml        # a commented mapping (loads with load_mapping, ingests with no hand edit)
    s.guessed     # ["question <- field 'question'", ...]
    s.missing     # ["no answer field: answers will be extracted from \\boxed{} in the solution", ...]

Shapes recognised (first match wins): per-problem folders of JSON files; chat `messages`
(roles, content parts, tool turns); ShareGPT `conversations`; verl rows (`prompt` chat +
`reward_model.ground_truth`); TRL rows (`prompt` + `completion` / `teacher_completion`,
`solution` as the answer); OpenRLHF rows (`input` + `label`, JSON label text walked into);
and flat records with the usual field names: question / answer / solution, model outputs
(`response`, `generation`, `model_prediction`, ...), list-valued responses (one trajectory
each, per-sample `pred` / `score` kept), step lists (joined, offsets kept), nested solution
objects (one trajectory per object), R1 `<think>` text. Answers: after `####`, after a last
`A:` line, `\\boxed{}` in a long answer, `null_if` for "None"; no answer field: `\\boxed{}`
from the solution. Tests: `pytest tests/test_mapping_suggest.py`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.suggest_plans import chat_plan, flat_plan, folder_plan, rl_plan
from pipeline.ingest.suggest_shapes import Plan, spec_toml

SAMPLE = 200


@dataclass
class Suggestion:
    toml: str
    shape: str
    guessed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _reader_mapping(records: str | None = None):
    from pipeline.ingest.mapping import FieldSpec, Mapping, ProblemSpec

    return Mapping(name="suggest", records=records, problem=ProblemSpec(question=FieldSpec(field="_")))


def sample_records(path: Path, n: int = SAMPLE) -> tuple[list[dict], str | None]:
    """Up to n records (objects) from the first data file under path, and the `records` path
    when the file is one JSON object wrapping its list of records."""
    from pipeline.ingest.readers import discover

    inp = discover([path], _reader_mapping())[0]
    found, records_path = _read(inp, n, None)
    if inp.kind == "json" and len(found) == 1:
        lists = [k for k, v in found[0].items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            records_path = lists[0]
            found, _ = _read(inp, n, records_path)
    return found, records_path


def _read(inp, n: int, records_path: str | None) -> tuple[list[dict], str | None]:
    from pipeline.ingest.readers import read_input

    found: list[dict] = []
    for batch in read_input(inp, _reader_mapping(records_path), block_bytes=1 << 20):
        if batch.frame is not None:
            found += batch.frame.head(n - len(found)).to_dicts()
        else:
            found += [r for r in batch.slow()[0] if isinstance(r, dict)][: n - len(found)]
        if len(found) >= n:
            break
    return found, records_path


def _record_folders(root: Path) -> list[Path]:
    """Leaf folders holding JSON files, when the folder is per-problem folders (two or more
    sharing file names and no data files beside them), else []."""
    leaves: dict[Path, frozenset[str]] = {}
    for p in sorted(root.rglob("*.json")):
        if not any(part.startswith(".") for part in p.relative_to(root).parts):
            leaves.setdefault(p.parent, frozenset())
            leaves[p.parent] |= {p.name}
    others = [p for p in root.rglob("*") if p.suffix.lower() in (".jsonl", ".ndjson", ".parquet", ".csv")]
    if others or len(leaves) < 2 or root in leaves:
        return []
    common = frozenset.intersection(*leaves.values())
    return sorted(leaves) if common else []


_SPLITS = {"test", "train", "validation", "val", "dev", "data", "all", "eval"}


def _name(path: Path) -> str:
    """A source name: the file's stem, or its folder's name for split files (gsm8k/test.jsonl -> gsm8k)."""
    name = path.stem if path.is_file() else path.name
    if name.lower() in _SPLITS and path.resolve().parent.name:
        name = path.resolve().parent.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "suggested"


def suggest(path: Path, *, sample: int = SAMPLE) -> Suggestion:
    """A mapping for path (a file, a folder of files, or a folder of per-problem folders)."""
    path = Path(path)
    folders = _record_folders(path) if path.is_dir() else []
    records_path = None
    if folders:
        files = {}
        for leaf in folders[:sample]:
            for p in sorted(leaf.glob("*.json")):
                try:
                    files.setdefault(p.name, json.loads(p.read_text(encoding="utf-8-sig")))
                except (OSError, ValueError):
                    continue
        common = set.intersection(*({p.name for p in leaf.glob("*.json")} for leaf in folders))
        plan = folder_plan({k: v for k, v in files.items() if k in common})
    else:
        records, records_path = sample_records(path, sample)
        if not records:
            plan = Plan("empty")
            plan.missing.append("no records found in the sample: nothing to guess from")
        else:
            plan = chat_plan(records) or rl_plan(records) or flat_plan(records)
    return Suggestion(_render(plan, _name(path), path, records_path, len(folders)), plan.shape,
                      plan.guessed, plan.missing)


def _render(plan: Plan, name: str, path: Path, records_path: str | None, n_folders: int) -> str:
    lines = [f"# Suggested by `stratagem mapping suggest {path}` (shape: {plan.shape}).",
             "# Check the guesses below, then: stratagem ingest PATH --mapping THIS.toml"]
    lines += [f"# guessed: {g}" for g in plan.guessed] + [f"# not found: {m}" for m in plan.missing]
    lines += [f"description = {json.dumps(f'suggested mapping for {path.name} ({plan.shape})')}",
              f"source = {json.dumps(plan.source or name)}",
              "# license = \"...\"        # the data's license, carried into the dataset card",
              "# source_url = \"https://...\""]
    if records_path:
        lines.append(f"records = {json.dumps(records_path)}  # the list of records inside the JSON object")
    if plan.folder_files:
        lines += ["", f"[folder]  # {n_folders} per-problem folders found",
                  "files = " + spec_toml(plan.folder_files)]
    lines += ["", "[problem]"]
    for key, spec in plan.problem.items():
        lines.append(f"{key} = {spec_toml(spec)}")
    if plan.metadata:
        lines.append("metadata = " + spec_toml(plan.metadata))
    for t in plan.trajectories:
        lines += ["", "[[trajectory]]" + (f"  # {t['comment']}" if t.get("comment") else "")]
        for key in ("text", "teacher", "sampling"):
            if t.get(key):
                lines.append(f"{key} = {spec_toml(t[key])}")
    if not plan.trajectories:
        lines += ["", "# no solution field: problems only (no [[trajectory]])"]
    return "\n".join(lines) + "\n"
