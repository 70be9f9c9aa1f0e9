"""Label Studio conversion, pure (no HTTP, no storage): the labelling config generated from
the taxonomy, task parts for long texts, spans <-> Label Studio results, and validation of
pulled results.

    xml = labelling_config(load_taxonomy(), k=5)
    parts = split_text(text, max_chars=8000)          # [(offset, part_text), ...]
    results = spans_to_results(spans, offset, part_text)
    spans, problems = results_to_spans(results, part_text, offset, taxonomy.names)
    choice = read_strategy_choice(results, k=5)
    ann, reason = check_annotation(raw_annotation)   # (PulledAnnotation, None) or (None, "id: ...")
    reason = check_result(raw_item)                  # None when the item may be read

Offsets are Python str code points, half-open, which is exactly what Label Studio stores
for a `Text` tag at symbol granularity (DESIGN section 8). The server validates nothing,
so everything read back is validated before it may be stored: the annotation and each result
item against the pydantic models below (the contract: a wrong type is a reason, never an
exception), then spans through `results_to_spans`.
"""
from __future__ import annotations

import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import quoteattr

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from annotators.base import SpanOut

SPAN_FROM = "label"        # Labels tag over the trajectory text
TEXT_TO = "text"           # Text tag holding the trajectory (part)
CHOICE_FROM = "best_strategy"
EDIT_FROM = "strategy_edit"
LEAK_FROM = "leak"
RATING_FROM = "quality"
NO_CHOICE = "None is usable"
LEAK_VALUE = "Leaks the answer"
DEFAULT_K = 5
DEFAULT_MAX_CHARS = 8000   # longer texts become linked parts: the editor slows down past this


def candidate_value(i: int) -> str:
    """The Choice value of candidate number `i` (1-based)."""
    return f"Candidate {i}"


def labelling_config(taxonomy, k: int = DEFAULT_K) -> str:
    """The project's labelling config: problem, trajectory with span labels, K candidates,
    a choice of the best one, an edit box, a leak flag and a 1-5 rating."""
    labels = "\n".join(
        f"    <Label value={quoteattr(lab.name)} background={quoteattr(lab.color)} hotkey={quoteattr(lab.hotkey)}"
        f" hint={quoteattr(lab.description)}/>" for lab in taxonomy.labels)
    choices = "\n".join(f"    <Choice value={quoteattr(candidate_value(i))}/>" for i in range(1, k + 1))
    return f"""<View>
  <Header value="Problem"/>
  <Text name="question" value="$question"/>
  <Header value="Teacher trajectory ($part_label): mark the strategies"/>
  <Labels name="{SPAN_FROM}" toName="{TEXT_TO}">
{labels}
  </Labels>
  <Text name="{TEXT_TO}" value="$text" granularity="symbol"/>
  <Header value="Candidate strategy descriptions (how to reason, never the answer)"/>
  <Text name="candidates" value="$candidates"/>
  <Choices name="{CHOICE_FROM}" toName="{TEXT_TO}" choice="single" showInline="true">
{choices}
    <Choice value={quoteattr(NO_CHOICE)}/>
  </Choices>
  <Header value="Edit the best description (optional; keep the Problem type / Approach / Steps layout)"/>
  <TextArea name="{EDIT_FROM}" toName="{TEXT_TO}" rows="6" maxSubmissions="1" editable="true"/>
  <Choices name="{LEAK_FROM}" toName="{TEXT_TO}" choice="multiple">
    <Choice value={quoteattr(LEAK_VALUE)}/>
  </Choices>
  <Header value="Trajectory quality"/>
  <Rating name="{RATING_FROM}" toName="{TEXT_TO}" maxRating="5"/>
</View>
"""


def config_labels(xml: str) -> list[str]:
    """The span label values a (possibly hand-edited) labelling config offers."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"labelling config is not valid XML: {exc}") from exc
    for tag in root.iter():
        if tag.tag in ("Labels", "HyperTextLabels") and tag.get("name") == SPAN_FROM:
            return [lab.get("value", "") for lab in tag if lab.tag == "Label"]
    raise ValueError(f"labelling config has no <Labels name=\"{SPAN_FROM}\"> tag")


def label_mismatch(xml: str, names: Sequence[str]) -> str | None:
    """None when the config's span labels are exactly `names`, else a message naming the difference."""
    have = config_labels(xml)
    missing = [n for n in names if n not in have]
    extra = [n for n in have if n not in names]
    if not missing and not extra:
        return None
    parts = []
    if extra:
        parts.append(f"labels not in the taxonomy: {', '.join(extra)}")
    if missing:
        parts.append(f"taxonomy labels missing from the project: {', '.join(missing)}")
    return "; ".join(parts)


# ---------------------------------------------------------------- long texts
_JOINERS = {"\u200d", "\ufe0f", "\ufe0e"}


def _safe_cut(text: str, cut: int) -> int:
    """Move a cut left so it never separates a base character from a combining mark, a ZWJ
    sequence, a variation selector or a CRLF pair."""
    while 0 < cut < len(text) and (unicodedata.combining(text[cut]) or text[cut] in _JOINERS
                                   or text[cut - 1] in _JOINERS or 0x1F3FB <= ord(text[cut]) <= 0x1F3FF):
        cut -= 1
    return cut


def split_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[tuple[int, str]]:
    """Split `text` into consecutive parts of at most `max_chars` code points, cutting after a
    paragraph break, else a line break, else a space, else at a safe character boundary
    (only a single character cluster longer than `max_chars` is cut inside).
    Returns [(offset, part)], and the parts concatenate back to `text`."""
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    parts, pos = [], 0
    while len(text) - pos > max_chars:
        window = text[pos: pos + max_chars]
        cut = 0
        for sep in ("\n\n", "\n", " "):
            i = window.rfind(sep, max_chars // 2)
            while i >= 0 and _safe_cut(text, pos + i + len(sep)) != pos + i + len(sep):
                i = window.rfind(sep, max_chars // 2, i)
            if i >= 0:
                cut = i + len(sep)
                break
        if not cut:
            cut = _safe_cut(text, pos + max_chars) - pos
            if cut <= 0:
                cut = max_chars
        parts.append((pos, text[pos: pos + cut]))
        pos += cut
    parts.append((pos, text[pos:]))
    return parts


# ---------------------------------------------------------------- spans -> results
def spans_to_results(spans: Iterable, offset: int, part: str) -> list[dict]:
    """Label Studio result items for the spans overlapping a part (clipped to it).

    `spans` are objects with start/end/label (full-text offsets)."""
    out = []
    for sp in spans:
        start, end = max(sp.start, offset), min(sp.end, offset + len(part))
        if start >= end:
            continue
        s, e = start - offset, end - offset
        out.append({
            "id": f"p{s}-{e}-{sp.label}"[:40],
            "from_name": SPAN_FROM, "to_name": TEXT_TO, "type": "labels",
            "value": {"start": s, "end": e, "text": part[s:e], "labels": [sp.label]},
        })
    return out


# ---------------------------------------------------------------- pulled annotations: the contract
class _Pulled(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UserRef(_Pulled):
    id: StrictInt


class PulledAnnotation(_Pulled):
    """An annotation as read from Label Studio: what must hold before any of its results is read."""

    id: StrictInt
    completed_by: StrictInt | UserRef | None = None
    updated_at: StrictStr | None = None
    was_cancelled: StrictBool | None = False
    result: list[Any] = Field(default_factory=list)  # items are checked one by one (check_result)

    @field_validator("result", mode="before")
    @classmethod
    def _none_is_empty(cls, v):
        return [] if v is None else v

    @property
    def user_id(self) -> int | None:
        return self.completed_by.id if isinstance(self.completed_by, UserRef) else self.completed_by


class PulledResult(_Pulled):
    """One result item of an annotation."""

    from_name: StrictStr
    type: StrictStr | None = None
    value: dict[str, Any]


class ChoicesValue(_Pulled):
    choices: list[StrictStr]


class TextAreaValue(_Pulled):
    text: list[StrictStr]


class RatingValue(_Pulled):
    rating: StrictInt


_VALUES = {CHOICE_FROM: ChoicesValue, LEAK_FROM: ChoicesValue, EDIT_FROM: TextAreaValue, RATING_FROM: RatingValue}


def _why(exc: ValidationError, what: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or what
    return f"malformed {what}: {where}: {err['msg']} (got {str(err.get('input'))[:60]!r})"


def check_annotation(raw: object) -> tuple[PulledAnnotation | None, str | None]:
    """The annotation, or None and the reason it cannot be read."""
    if not isinstance(raw, dict):
        return None, f"annotation is not an object (a {type(raw).__name__})"
    try:
        return PulledAnnotation.model_validate(raw), None
    except ValidationError as exc:
        return None, _why(exc, "annotation")


def check_result(raw: object) -> str | None:
    """None when a result item has the shape its control needs, else the reason (spans are
    checked further by `results_to_spans`)."""
    if not isinstance(raw, dict):
        return f"result item is not an object (a {type(raw).__name__})"
    try:
        item = PulledResult.model_validate(raw)
        model = _VALUES.get(item.from_name)
        if model is not None:
            model.model_validate(item.value)
    except ValidationError as exc:
        return _why(exc, "result")
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "result holds text that is not valid Unicode (a lone surrogate)"
    return None


# ---------------------------------------------------------------- results -> spans
@dataclass
class ResultProblem:
    """A pulled result that must not be stored, with the reason and the raw item."""

    reason: str
    raw: dict


def results_to_spans(results: Sequence[dict], part: str, offset: int,
                     labels: Sequence[str]) -> tuple[list[SpanOut], list[ResultProblem]]:
    """Validate the span results of one annotation against the part they were drawn on and
    map them to full-text offsets. Invalid items come back as problems, never as spans."""
    spans: list[SpanOut] = []
    problems: list[ResultProblem] = []
    for item in results:
        if item.get("type") != "labels" and item.get("from_name") != SPAN_FROM:
            continue
        value = item.get("value")
        if not isinstance(value, dict):
            problems.append(ResultProblem(f"span result value is not an object: {value!r:.60}", item))
            continue
        start, end, got = value.get("start"), value.get("end"), value.get("labels")
        if item.get("from_name") != SPAN_FROM:
            problems.append(ResultProblem(f"span result from unknown control {item.get('from_name')!r}", item))
            continue
        if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or isinstance(end, bool):
            problems.append(ResultProblem(f"offsets are not integers: start={start!r} end={end!r}", item))
            continue
        if not 0 <= start < end <= len(part):
            problems.append(ResultProblem(f"offsets [{start}, {end}) out of range for a text of {len(part)} code points", item))
            continue
        if not isinstance(got, list) or len(got) != 1:
            problems.append(ResultProblem(f"expected exactly one label, got {got!r}", item))
            continue
        if got[0] not in labels:
            problems.append(ResultProblem(f"label {got[0]!r} is not in the taxonomy", item))
            continue
        if "text" in value and value["text"] != part[start:end]:
            problems.append(ResultProblem(
                f"text at [{start}, {end}) is {part[start:end][:40]!r}, result says {str(value['text'])[:40]!r}", item))
            continue
        spans.append(SpanOut(start + offset, end + offset, got[0], None, "human"))
    return spans, problems


# ---------------------------------------------------------------- strategy descriptions
_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*])\s*(.*)$")


def parse_strategy(text: str) -> tuple[str, str, list[str]]:
    """Parse an edited description (the text `render_strategy` makes, schemas/export.py) back into
    (problem_type, approach, steps); raise ValueError when the Problem type / Approach / Steps
    layout is missing."""
    ptype = approach = None
    steps: list[str] = []
    in_steps = False
    for line in text.replace("\r\n", "\n").split("\n"):
        low = line.strip().lower()
        if low.startswith("problem type:"):
            ptype, in_steps = line.split(":", 1)[1].strip(), False
        elif low.startswith("approach:"):
            approach, in_steps = line.split(":", 1)[1].strip(), False
        elif low.startswith("steps:"):
            in_steps = True
        elif in_steps and line.strip():
            m = _STEP.match(line)
            steps.append((m.group(1) if m else line).strip())
    if not ptype or not approach or not steps:
        raise ValueError("edited description needs 'Problem type:', 'Approach:' and 'Steps:' with at least one step")
    return ptype, approach, steps


@dataclass
class StrategyChoice:
    """What an annotator said about the candidate descriptions of one task."""

    candidate: int | None = None         # 1-based index of the chosen candidate
    none_usable: bool = False
    edited_text: str | None = None
    leak: bool = False
    rating: int | None = None
    problems: list[ResultProblem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.candidate is None and self.edited_text is None and not self.leak and self.rating is None


def read_strategy_choice(results: Sequence[dict], k: int) -> StrategyChoice:
    """Read the choice, edit, leak flag and rating results of one annotation (items that fail
    `check_result` come back as problems)."""
    out = StrategyChoice()
    for item in results:
        name, value = item.get("from_name"), item.get("value") or {}
        if name in _VALUES and (reason := check_result(item)):
            out.problems.append(ResultProblem(reason, item))
            continue
        if name == CHOICE_FROM:
            picked = value.get("choices") or []
            if picked == [NO_CHOICE]:
                out.none_usable = True
                continue
            m = re.fullmatch(r"Candidate (\d+)", picked[0]) if len(picked) == 1 and isinstance(picked[0], str) else None
            if not m or not 1 <= int(m.group(1)) <= k:
                out.problems.append(ResultProblem(f"unknown strategy choice {picked!r}", item))
            else:
                out.candidate = int(m.group(1))
        elif name == EDIT_FROM:
            texts = [t for t in value.get("text") or [] if isinstance(t, str) and t.strip()]
            if texts:
                out.edited_text = texts[-1]
        elif name == LEAK_FROM:
            out.leak = LEAK_VALUE in (value.get("choices") or [])
        elif name == RATING_FROM:
            rating = value.get("rating")
            if isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5:
                out.rating = rating
            else:
                out.problems.append(ResultProblem(f"rating {rating!r} is not an integer from 1 to 5", item))
    return out
