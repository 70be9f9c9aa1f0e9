"""JSON values -> text, one rule for every parse path, and the text helpers mappings use.

    scalar_text(10000000000000000000000001)   # '10000000000000000000000001' (never '1e+25')
    scalar_text(1), scalar_text(2.5)          # '1', '2.5' (whatever the neighbouring records hold)
    scalar_text(True)                         # 'True' (Python's spelling; 'False' likewise)
    last_boxed(r"so \\boxed{\\frac{1}{2}}.")     # '\\frac{1}{2}' (balanced braces, not a regex)
    message_text({"role": "assistant", "content": [{"type": "text", "text": "hi"}]})   # 'hi'
    render_template("{context}\\n\\n{question}", record, walk)

The canonical scalar rule (ids hash this text, so it must not depend on the parse path):
text stays as it is; an integer is its decimal digits, exactly, at any size; a JSON number
with a fraction or exponent is its text as the file wrote it (`1.50`, `1E5`, `-0.0`: the
JSON parsers keep it in a `JsonFloat`), or, for a float from elsewhere (Parquet), the
shortest text that reads back to the same double (Python's `repr`); a boolean is
`True` / `False`; a list (where the mapping allows it) is its elements' texts joined with
", ". The Arrow fast path cannot see how a number was written (it parses `1` in a column
that also holds `2.5` as the double 1.0, and big integers as doubles), so extract's fast
path declines any floating-point column it would turn into text, and the per-record path
applies this rule. Run the tests: `pytest tests/test_ingest_scalars_props.py`.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Callable

BOXED_COMMANDS = ("\\boxed", "\\fbox")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}|]+)(?:\|([a-z]+))?\}")
_CODE_PARTS = ("code", "executable_code")
_OUTPUT_PARTS = ("code_execution_result", "execution_output", "tool_result", "output")
MISSING = object()


class JsonFloat(float):
    """A JSON number with a fraction or exponent that remembers how it was written:
    `json.loads(text, parse_float=JsonFloat)`; a float everywhere else."""
    __slots__ = ("text",)

    def __new__(cls, text: str) -> "JsonFloat":
        value = super().__new__(cls, text)
        value.text = text
        return value


class ValueProblem(ValueError):
    """A value that cannot become text, with a reason meant for the quarantine."""


def type_name(value: object) -> str:
    return {dict: "object", list: "list", str: "text", bool: "boolean", int: "integer", float: "number",
            JsonFloat: "number", type(None): "null"}.get(type(value), type(value).__name__)


def scalar_text(value: object, *, convert: bool = False, join: str | None = None) -> str:
    """The canonical text of a JSON scalar (see the module docstring). Booleans need
    `convert`; lists need `convert` or `join` (their separator, default ", ")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        if not convert:
            raise ValueProblem("is boolean, expected text or a number (`convert = true` makes it True/False)")
        return "True" if value else "False"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # over Python's int -> str digit limit
            raise ValueProblem("is an integer too long to write as text") from None
    if isinstance(value, float):
        return value.text if isinstance(value, JsonFloat) else repr(value)
    if isinstance(value, Decimal):  # Parquet decimals: as the file's scale writes them
        return str(value)
    if isinstance(value, list) and (convert or join is not None):
        parts = []
        for item in value:
            if isinstance(item, (list, dict)):
                raise ValueProblem(f"holds {type_name(item)}, expected a list of texts or numbers")
            if item is not None:
                parts.append(scalar_text(item, convert=True))
        return (", " if join is None else join).join(parts)
    raise ValueProblem(f"is {type_name(value)}, expected text or a number")


def last_boxed(text: str | None) -> str | None:
    r"""Content of the last balanced `\boxed{...}` (or `\fbox{...}`) in text; None when there is none.

    Braces are matched by counting (escaped `\{` and `\}` do not count), so nested
    groups such as `\boxed{\frac{1}{2}}` come out whole; an unclosed box is ignored."""
    if not text:
        return None
    best: tuple[int, str] | None = None
    for command in BOXED_COMMANDS:
        start = text.rfind(command + "{")
        while start != -1:
            inner = _balanced(text, start + len(command))
            if inner is not None:
                if best is None or start > best[0]:
                    best = (start, inner)
                break
            start = text.rfind(command + "{", 0, start)
    return best[1] if best else None


def _balanced(text: str, open_at: int) -> str | None:
    """The text inside the brace group opening at text[open_at] == '{', or None if unclosed."""
    depth, i = 0, open_at
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
        i += 1
    return None


def parts_text(parts: list, sep: str = "\n") -> str | None:
    """Content given as a list of parts: text parts' `text`, code parts' code, execution
    results' output, joined with sep; other parts (images, ...) are skipped."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if not isinstance(part, dict):
            raise ValueProblem(f"content part is {type_name(part)}, expected an object")
        kind = part.get("type")
        body = part.get(kind) if isinstance(part.get(kind), dict) else part
        text = None
        if kind in _CODE_PARTS:
            text = body.get("code", body.get("text"))
        elif kind in _OUTPUT_PARTS:
            text = body.get("output", body.get("content", body.get("text")))
        elif kind in (None, "text", "output_text", "input_text"):
            text = body.get("text")
        if isinstance(text, list):
            text = parts_text(text, sep)
        if isinstance(text, str):
            out.append(text)
    return sep.join(out) if out else None


def message_text(message: dict, content_key: str = "content", sep: str = "\n") -> str | None:
    """A chat message's text: its content (a string or a list of parts); for an assistant
    turn that only calls tools, the calls' arguments (code kept as text)."""
    content = message.get(content_key)
    if isinstance(content, list):
        return parts_text(content, sep)
    if content is None and isinstance(message.get("tool_calls"), list):
        calls = [c.get("function", c) for c in message["tool_calls"] if isinstance(c, dict)]
        args = [a if isinstance(a, str) else json.dumps(a, ensure_ascii=False)
                for a in (c.get("arguments") for c in calls if isinstance(c, dict)) if a is not None]
        return sep.join(args) if args else None
    return content


def letters(value: object) -> str:
    """Multiple-choice options as lines "A. ...": a list (lettered in order) or an object
    {"A": ...} (its own keys)."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(chr(ord("A") + i) if i < 26 else str(i + 1), v) for i, v in enumerate(value)]
    else:
        raise ValueProblem(f"options are {type_name(value)}, expected a list or an object")
    return "\n".join(f"{k}. {scalar_text(v, convert=True)}" for k, v in items)


FILTERS: dict[str, Callable[[object], str]] = {
    "letters": letters,
    "lines": lambda v: "\n".join(scalar_text(x, convert=True) for x in v) if isinstance(v, list) else scalar_text(v),
    "json": lambda v: json.dumps(v, ensure_ascii=False),
}


def template_fields(template: str | list[str]) -> list[tuple[str, str | None]]:
    """(field path, filter) of each placeholder; raises ValueError on an unknown filter."""
    found = []
    for part in [template] if isinstance(template, str) else template:
        for m in _PLACEHOLDER.finditer(part):
            if m.group(1) is None:
                continue
            if m.group(2) is not None and m.group(2) not in FILTERS:
                raise ValueError(f"unknown template filter |{m.group(2)}; use one of {', '.join(FILTERS)}")
            found.append((m.group(1).strip(), m.group(2)))
    return found


def render_template(template: str | list[str], lookup: Callable[[str], object], sep: str = "\n\n") -> str | None:
    """Fill `{path}` / `{path|filter}` placeholders from lookup(path) (MISSING or None: absent).

    A string template needs every placeholder (None when one is absent); a list template
    drops each part with an absent placeholder and joins the rest with sep."""
    def fill(part: str) -> str | None:
        out, pos = [], 0
        for m in _PLACEHOLDER.finditer(part):
            out.append(part[pos:m.start()])
            pos = m.end()
            if m.group(1) is None:
                out.append(m.group(0)[0])
                continue
            value = lookup(m.group(1).strip())
            if value is MISSING or value is None or value == "" or value == []:
                return None
            out.append(FILTERS[m.group(2)](value) if m.group(2) else scalar_text(value, convert=True))
        out.append(part[pos:])
        return "".join(out)

    if isinstance(template, str):
        return fill(template)
    filled = [t for t in (fill(p) for p in template) if t is not None]
    return sep.join(filled) if filled else None
