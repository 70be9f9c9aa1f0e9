"""Label Studio conversion, pure (no HTTP, no storage): the labelling config generated from
the taxonomy, task parts for long texts, spans <-> Label Studio results, and validation of
pulled results.

    xml = labelling_config(load_taxonomy(), k=5)
    parts = split_text(text, max_chars=8000)          # [(offset, part_text), ...]
    results = spans_to_results(spans, offset, part_text)
    spans, problems = results_to_spans(results, part_text, offset, taxonomy.names)
    choice = read_strategy_choice(results, k=5)
    edit = parse_edit(free_form_text, fallback_type="rate problem")   # never fails on layout
    html = guidelines_html(taxonomy)                  # the Instructions panel
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


def leak_value(i: int) -> str:
    """The leak-flag Choice value naming candidate number `i` (1-based)."""
    return f"Candidate {i} leaks the answer"


CHOICE_OPTIONS = "strategy_options"  # task data: [{"value": "Candidate 1", "hint": ...}, ..., {"value": NO_CHOICE}]
LEAK_OPTIONS = "leak_options"        # task data: [{"value": "Candidate 1 leaks the answer"}, ...]


def candidate_options(descriptions: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """The dynamic choices of one task (its first part): one per existing candidate plus "None is
    usable", and one leak flag per candidate; both empty without candidates (and on later parts)."""
    if not descriptions:  # "None is usable" still opens the edit box and the rating
        return [{"value": NO_CHOICE}], []
    choices = [{"value": candidate_value(i), "hint": d[:500]} for i, d in enumerate(descriptions, 1)]
    return choices + [{"value": NO_CHOICE}], [{"value": leak_value(i)} for i in range(1, len(descriptions) + 1)]


def label_hint(label) -> str:
    """The per-label hover hint: definition, span boundaries and what not to tag."""
    parts = [label.definition or label.description]
    if label.span:
        parts.append(f"Span: {label.span}")
    if label.not_this:
        parts.append(f"Not this: {label.not_this}")
    return " ".join(parts)


def labelling_config(taxonomy, k: int = DEFAULT_K) -> str:
    """The project's labelling config: why the task was picked, the problem (on a trajectory's first
    part only), the trajectory with span labels (hints from the taxonomy's guidelines), and, on the
    first part only, the existing candidates (dynamic choices from the task data, so a task with 3
    candidates offers 3), an edit box (pre-filled through the task's prediction), a per-candidate
    leak flag and a 1-5 rating, shown once a choice is made. `k` is kept for callers; the choices
    come from each task's data."""
    labels = "\n".join(
        f"    <Label value={quoteattr(lab.name)} background={quoteattr(lab.color)} hotkey={quoteattr(lab.hotkey)}"
        f" hint={quoteattr(label_hint(lab))}/>" for lab in taxonomy.labels)
    return f"""<View>
  <Header value="$why" size="6"/>
  <Header value="$problem_header"/>
  <Text name="question" value="$question"/>
  <Header value="Teacher trajectory ($part_label): mark the strategies (the Instructions button shows the guidelines)"/>
  <Labels name="{SPAN_FROM}" toName="{TEXT_TO}">
{labels}
  </Labels>
  <Text name="{TEXT_TO}" value="$text" granularity="symbol"/>
  <Header value="$candidates_header"/>
  <Text name="candidates" value="$candidates"/>
  <Choices name="{CHOICE_FROM}" toName="{TEXT_TO}" choice="single" showInline="true" value="${CHOICE_OPTIONS}"/>
  <View visibleWhen="choice-selected" whenTagName="{CHOICE_FROM}">
    <Header value="Edit the description if needed (pre-filled; free form is kept, the Problem type / Approach / Steps layout parses best)"/>
    <TextArea name="{EDIT_FROM}" toName="{TEXT_TO}" rows="8" maxSubmissions="1" editable="true"/>
    <Choices name="{LEAK_FROM}" toName="{TEXT_TO}" choice="multiple" showInline="true" value="${LEAK_OPTIONS}"/>
    <Header value="Trajectory quality (1-5)"/>
    <Rating name="{RATING_FROM}" toName="{TEXT_TO}" maxRating="5"/>
  </View>
</View>
"""


def guidelines_html(taxonomy) -> str:
    """The project's instructions (Label Studio's Instructions panel), generated from the taxonomy:
    the general rules, then per label its definition, where a span starts and ends, examples and
    what not to tag."""
    from html import escape

    out = [f"<h2>Strategy spans: {escape(taxonomy.name)} v{escape(taxonomy.version)}</h2>"]
    if taxonomy.guidelines:
        out.append("".join(f"<p>{escape(p.strip())}</p>" for p in taxonomy.guidelines.split("\n\n") if p.strip()))
    for lab in taxonomy.labels:
        out.append(f"<h3>{escape(lab.name)} (key {escape(lab.hotkey)})</h3>")
        out.append(f"<p><b>Definition.</b> {escape(lab.definition or lab.description)}</p>")
        if lab.span:
            out.append(f"<p><b>Span.</b> {escape(lab.span)}</p>")
        if lab.examples:
            out.append("<p><b>Examples.</b></p><ul>" + "".join(f"<li>{escape(e)}</li>" for e in lab.examples) + "</ul>")
        if lab.not_this:
            out.append(f"<p><b>Do not tag.</b> {escape(lab.not_this)}</p>")
    out.append("<h3>Strategy descriptions</h3><p>Pick the best candidate (or None is usable), fix it in the box "
               "(it starts from the candidate; free form is kept as typed), flag each candidate that gives away the "
               "answer or intermediate numbers, rate the trajectory. These are asked on a trajectory's first part "
               "only.</p>")
    return "\n".join(out)


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
        item = {
            "id": f"p{s}-{e}-{sp.label}"[:40],
            "from_name": SPAN_FROM, "to_name": TEXT_TO, "type": "labels",
            "value": {"start": s, "end": e, "text": part[s:e], "labels": [sp.label]},
        }
        confidence = getattr(sp, "confidence", None)
        if confidence is not None:  # shown per region (its score, and its meta text in the region panel)
            item["score"] = round(float(confidence), 3)
            item["meta"] = {"text": [f"confidence {confidence:.2f}"]}
        out.append(item)
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
    created_at: StrictStr | None = None
    lead_time: Any = None  # seconds; read leniently (`seconds`), never a reason to reject the annotation
    was_cancelled: StrictBool | None = False
    result: list[Any] = Field(default_factory=list)  # items are checked one by one (check_result)

    @property
    def seconds(self) -> float | None:
        t = self.lead_time
        ok = isinstance(t, (int, float)) and not isinstance(t, bool) and t == t and 0 <= t < 1e9
        return float(t) if ok else None

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


_LABELLED = re.compile(r"^\s*(problem type|type|approach|idea|method|steps|plan)\s*[:\-]\s*(.*)$", re.I)
_SENTENCE = re.compile(r"(?<=[.;!?])\s+(?=\S)")


@dataclass(frozen=True)
class ParsedEdit:
    """An edited description: what could be read from it, and how (`layout`: the Problem type /
    Approach / Steps layout; `lenient`: free form)."""

    problem_type: str
    approach: str
    steps: list[str]
    how: str


def parse_edit(text: str, fallback_type: str = "") -> ParsedEdit:
    """Read an edited description leniently, never failing on layout: the strict layout first;
    else labelled lines where present ("Approach:", "Plan:", ...), numbered or bulleted lines as
    steps, the first loose paragraph as the approach and the rest (or its sentences) as steps.
    A missing problem type is `fallback_type` (the chosen candidate's). The caller keeps the
    original text beside it."""
    try:
        ptype, approach, steps = parse_strategy(text)
        return ParsedEdit(ptype, approach, steps, "layout")
    except ValueError:
        pass
    ptype = approach = None
    steps: list[str] = []
    loose: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        if m := _LABELLED.match(line):
            key, rest = m.group(1).lower(), m.group(2).strip()
            if key in ("problem type", "type") and rest:
                ptype = rest
            elif key in ("approach", "idea", "method") and rest:
                approach = rest
            elif rest:  # "Steps: do this" on one line
                steps.append(rest)
            continue
        m = _STEP.match(line)
        if m and re.match(r"^\s*(?:\d+[.)]|[-*])\s", line):
            steps.append(m.group(1).strip())
        else:
            loose.append(line.strip())
    if approach is None and loose:
        approach = loose.pop(0)
    if not steps:
        for chunk in loose:
            steps += [s.strip() for s in _SENTENCE.split(chunk) if s.strip()]
        if not steps and approach:
            parts = [s.strip() for s in _SENTENCE.split(approach) if s.strip()]
            approach, steps = (parts[0], parts[1:]) if len(parts) > 1 else (approach, parts)
    elif loose:
        steps += loose
    return ParsedEdit(ptype or fallback_type, approach or (steps[0] if steps else text.strip()[:500]), steps, "lenient")


def same_description(a: str, b: str) -> bool:
    """Equal but for whitespace (an edit box left as it was pre-filled)."""
    return " ".join(a.split()) == " ".join(b.split())


@dataclass
class StrategyChoice:
    """What an annotator said about the candidate descriptions of one task."""

    candidate: int | None = None         # 1-based index of the chosen candidate
    none_usable: bool = False
    edited_text: str | None = None
    leak: bool = False                   # the legacy flag: applies to whatever is stored
    leak_candidates: list[int] = field(default_factory=list)  # candidates flagged by number
    rating: int | None = None
    problems: list[ResultProblem] = field(default_factory=list)
    items: list[tuple[str, dict]] = field(default_factory=list)  # (from_name, item) of every item read

    @property
    def empty(self) -> bool:
        return (self.candidate is None and self.edited_text is None and not self.leak and self.rating is None
                and not self.none_usable and not self.leak_candidates)


_LEAK = re.compile(r"Candidate (\d+) leaks the answer")


def read_strategy_choice(results: Sequence[dict], k: int) -> StrategyChoice:
    """Read the choice, edit, leak flags and rating results of one annotation (items that fail
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
                out.items.append((name, item))
                continue
            m = re.fullmatch(r"Candidate (\d+)", picked[0]) if len(picked) == 1 and isinstance(picked[0], str) else None
            if not m or not 1 <= int(m.group(1)) <= k:
                out.problems.append(ResultProblem(f"unknown strategy choice {picked!r}", item))
            else:
                out.candidate = int(m.group(1))
                out.items.append((name, item))
        elif name == EDIT_FROM:
            texts = [t for t in value.get("text") or [] if isinstance(t, str) and t.strip()]
            if texts:
                out.edited_text = texts[-1]
                out.items.append((name, item))
        elif name == LEAK_FROM:
            picked = value.get("choices") or []
            unknown = [c for c in picked if c != LEAK_VALUE and not ((m := _LEAK.fullmatch(c)) and 1 <= int(m.group(1)) <= k)]
            if unknown:
                out.problems.append(ResultProblem(f"unknown leak flag {unknown!r}", item))
                continue
            out.leak = LEAK_VALUE in picked
            out.leak_candidates = sorted({int(_LEAK.fullmatch(c).group(1)) for c in picked if c != LEAK_VALUE})
            out.items.append((name, item))
        elif name == RATING_FROM:
            rating = value.get("rating")
            if isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5:
                out.rating = rating
                out.items.append((name, item))
            else:
                out.problems.append(ResultProblem(f"rating {rating!r} is not an integer from 1 to 5", item))
    return out
