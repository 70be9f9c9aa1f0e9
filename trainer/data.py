"""Reads an export folder (`stratagem export NAME`): manifest check, `data.parquet` per split,
chat-template rendering, and character spans to token spans through the offset mapping.

    export = load_export("stratagem-data/exports/v1")    # ExportError (one line) if missing/mismatched
    train = export.split("train")                         # list[Example]
    export.test_splits()                                  # ["test_original", "test_numbers", ...]
    text = render_prompt(tokenizer, ex.prompt)            # chat template + generation prompt
    text, has_strategy = fit_guided_prompt(tokenizer, ex.prompt, ex.strategy, max_prompt_length)
    spans = char_to_token_spans(offsets, ex.strategy_plan)

The export format is the contract in schemas/export.py (DESIGN section 6): its columns,
REQUIRED_COLUMNS, MANIFEST_KEYS, ExportError, PlanSpan (one strategy_plan item) and sha256_file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq

from schemas.export import DATA_FILE, MANIFEST, MANIFEST_KEYS, REQUIRED_COLUMNS, ExportError, PlanSpan, sha256_file

STRATEGY_HEADER = "A strategy for this problem (how to reason, not the answer):"


@dataclass(frozen=True)
class Example:
    id: str
    split: str
    question: str
    answer: str
    prompt: list[dict]
    teacher_completion: str
    strategy: str
    strategy_plan: tuple[PlanSpan, ...] = ()
    family: str = ""
    perturbation: str = ""
    problem_id: str = ""


@dataclass
class Export:
    root: Path
    manifest: dict
    examples: list[Example] = field(default_factory=list)

    def splits(self) -> list[str]:
        return sorted({e.split for e in self.examples})

    def split(self, name: str) -> list[Example]:
        rows = [e for e in self.examples if e.split == name]
        if not rows:
            raise ExportError(f"export {self.root} has no rows in split {name!r}; splits: {', '.join(self.splits())}")
        return rows

    def test_splits(self) -> list[str]:
        names = [s for s in self.splits() if s.startswith("test_")]
        return sorted(names, key=lambda s: (s != "test_original", s))


def read_manifest(root: str | Path) -> tuple[Path, dict]:
    """Check the folder and its manifest (keys, data.parquet present with the listed sha256)."""
    root = Path(root)
    if not root.is_dir():
        raise ExportError(f"export folder not found: {root}")
    path = root / MANIFEST
    if not path.is_file():
        raise ExportError(f"{root} has no manifest.json: not an export folder (run `stratagem export NAME`)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or any(k not in manifest for k in MANIFEST_KEYS):
        raise ExportError(f"{path} lacks required keys {', '.join(MANIFEST_KEYS)}")
    data = root / DATA_FILE
    if not data.is_file():
        raise ExportError(f"{root} has no data.parquet")
    listed = manifest["files"].get(DATA_FILE)
    if listed is None:
        raise ExportError(f"{path} does not list data.parquet in files")
    if sha256_file(data) != listed:
        raise ExportError(f"data.parquet in {root} does not match the sha256 in manifest.json (modified or truncated)")
    return root, manifest


def _spans(raw) -> tuple[PlanSpan, ...]:
    return tuple(PlanSpan(str(s["label"]), int(s["start"]), int(s["end"])) for s in (raw or []))


def load_export(root: str | Path) -> Export:
    root, manifest = read_manifest(root)
    table = pq.read_table(root / DATA_FILE)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ExportError(f"{root}/data.parquet lacks columns {', '.join(missing)}")
    examples = []
    for row in table.to_pylist():
        examples.append(Example(
            id=row["id"], split=row["split"], question=row["question"], answer=str(row["answer"]),
            prompt=[{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
            teacher_completion=row["teacher_completion"] or "", strategy=row["strategy"] or "",
            strategy_plan=_spans(row["strategy_plan"]), family=row.get("family") or "",
            perturbation=row.get("perturbation") or "", problem_id=row.get("problem_id") or ""))
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.split] = counts.get(e.split, 0) + 1
    expected = {k: int(v) for k, v in manifest["counts"].items() if int(v)}
    if counts != expected:
        raise ExportError(f"manifest counts {expected} do not match data.parquet {counts}")
    return Export(root, manifest, examples)


def guided_messages(prompt: Sequence[dict], strategy: str) -> list[dict]:
    """The same chat prompt with the strategy description appended to the last user turn."""
    messages = [dict(m) for m in prompt]
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[last]["content"] = f"{messages[last]['content']}\n\n{STRATEGY_HEADER}\n{strategy}"
    return messages


def fit_guided_prompt(tokenizer, prompt: Sequence[dict], strategy: str, max_length: int) -> tuple[str, bool]:
    """The rendered strategy-guided prompt within `max_length` tokens, and whether it holds any
    strategy. An over-long prompt loses the strategy from its end; when not even the header and one
    strategy token fit beside the question, the header goes too and the plain prompt is returned
    (False), so the guided prompt never loses question text that the unguided one keeps."""
    plain = render_prompt(tokenizer, prompt)

    def length(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    if not strategy:
        return plain, False
    text = render_prompt(tokenizer, guided_messages(prompt, strategy))
    over = length(text) - max_length
    if over <= 0:
        return text, True
    strategy_ids = tokenizer(strategy, add_special_tokens=False)["input_ids"]
    keep = len(strategy_ids)
    for _ in range(4):  # re-tokenising a cut text can shift a boundary by a token or two
        keep = max(0, keep - over)
        if keep == 0:
            break
        text = render_prompt(tokenizer, guided_messages(prompt, tokenizer.decode(strategy_ids[:keep])))
        over = length(text) - max_length
        if over <= 0:
            return text, True
    return plain, False


def guided_prompt(tokenizer, prompt: Sequence[dict], strategy: str, max_length: int) -> str:
    """`fit_guided_prompt` without the flag."""
    return fit_guided_prompt(tokenizer, prompt, strategy, max_length)[0]


def render_prompt(tokenizer, messages: Sequence[dict]) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def encode_prompts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per prompt text; over-long prompts keep their end (the question and generation prompt)."""
    return encode_prompts_counted(tokenizer, texts, max_length)[0]


def encode_prompts_counted(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], int]:
    """`encode_prompts` and how many prompts lost tokens from the left."""
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [x[-max_length:] for x in ids], sum(len(x) > max_length for x in ids)


def encode_completion(tokenizer, text: str, max_length: int, add_eos: bool = True) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if add_eos:
        ids = ids + [tokenizer.eos_token_id]
    return ids[:max_length]


def char_to_token_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[PlanSpan]) -> list[tuple[str, int, int]]:
    """Map half-open character spans to half-open token spans: a token belongs to a span when
    their character ranges overlap. Spans that cover no token are dropped."""
    out = []
    for span in spans:
        inside = [i for i, (a, b) in enumerate(offsets) if a < span.end and b > span.start and b > a]
        if inside:
            out.append((span.label, inside[0], inside[-1] + 1))
    return out


def token_spans(tokenizer, text: str, spans: Sequence[PlanSpan]) -> list[tuple[str, int, int]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return char_to_token_spans(enc["offset_mapping"], spans)


__all__ = ["Example", "Export", "STRATEGY_HEADER", "char_to_token_spans", "encode_completion", "encode_prompts",
           "encode_prompts_counted", "fit_guided_prompt", "guided_messages", "guided_prompt", "load_export",
           "read_manifest", "render_prompt", "token_spans"]
