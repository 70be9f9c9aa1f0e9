"""Which columns a mapping extracts, and the per-record (slow) extraction path.

    cols = columns_for(mapping)                    # loads the mapping's join files once
    raw = slow_extract(records, errors, cols)      # one row per record, `_error` naming what is wrong

The slow path walks each parsed record in Python: field paths (into JSON held as text
too), chat roles and content parts, templates, joins, and `values.scalar_text` for every
scalar. It is the reference the fast path (extract.fast_extract) must agree with.
Tests: `pytest tests/test_ingest_mapping_language.py tests/test_ingest_scalars_props.py`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import polars as pl

from pipeline.ingest.joins import load_join
from pipeline.ingest.mapping import FieldSpec, JoinSpec, Mapping, SpansSpec, parse_path
from pipeline.ingest.values import MISSING, ValueProblem, message_text, render_template, scalar_text
from pipeline.ingest.values import type_name as _type_name

SPAN_DTYPE = pl.List(pl.Struct({"start": pl.Int64, "end": pl.Int64, "label": pl.String}))
_ROLE_DTYPE = {"text": pl.String, "scalar": pl.String, "list": pl.List(pl.String), "steps": pl.List(pl.String),
               "spans": SPAN_DTYPE}
_MISSING = MISSING


@dataclass(frozen=True)
class Column:
    name: str
    spec: FieldSpec | SpansSpec | JoinSpec
    role: str  # text | scalar | list | steps | spans | any | any_list | join
    table: dict | None = field(default=None, compare=False)  # join: key text -> record


def columns_for(mapping: Mapping) -> list[Column]:
    """The columns to extract; loads the mapping's join files (MappingError if one is bad)."""
    p = mapping.problem
    cols = [Column(f"_join.{alias}", spec, "join", load_join(spec)) for alias, spec in mapping.joins.items()]
    cols.append(Column("question", p.question, "text"))
    for name, role in (("answer", "scalar"), ("family", "scalar"), ("perturbation", "scalar"),
                       ("seed_question", "text"), ("seed_answer", "scalar")):
        spec = getattr(p, name)
        if spec is not None:
            cols.append(Column(name, spec, role))
    cols += [Column(f"m.{k}", s, "any") for k, s in sorted(p.metadata.items())]
    for i, t in enumerate(mapping.trajectory):
        role = "list" if t.text.each else "steps" if t.text.join is not None else "text"
        cols.append(Column(f"t{i}.text", t.text, role))
        cols.append(Column(f"t{i}.teacher", t.teacher, "scalar"))
        cols += [Column(f"t{i}.s.{k}", s, "any_list" if s.each else "any") for k, s in sorted(t.sampling.items())]
        if t.spans is not None:
            cols.append(Column(f"t{i}.spans", t.spans, "spans"))
    return cols


# ------------------------------------------------------------------ slow: Python per record
class _Bad(Exception):
    pass


def _walk(record: object, path: tuple) -> object:
    value = record
    for token in path:
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):  # a field holding JSON text
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                _raise(f"text at {token!r} is not valid JSON")
        if isinstance(token, int):
            if not isinstance(value, list):
                return _MISSING if value is None else _raise(f"expected a list at [{token}], found {_type_name(value)}")
            if not -len(value) <= token < len(value):
                return _MISSING
            value = value[token]
        else:
            if not isinstance(value, dict):
                return _MISSING if value is None else _raise(f"expected an object at {token!r}, found {_type_name(value)}")
            if token not in value:
                return _MISSING
            value = value[token]
    return value


def _raise(reason: str):
    raise _Bad(reason)


def _label(spec) -> str:
    return f"field {spec.field!r}" if getattr(spec, "field", None) is not None else f"template {spec.template!r}"


def _lookup(record: object, path: str) -> object:
    try:
        return _walk(record, parse_path(path))
    except _Bad as exc:
        raise _Bad(f"field {path!r}: {exc}") from None


def _raw_value(record: object, col: Column) -> object:
    """The value a column's spec points at (a chat role's content picked), before conversion."""
    spec = col.spec
    if isinstance(spec, FieldSpec) and spec.const is not None:
        return spec.const
    if isinstance(spec, FieldSpec) and spec.template is not None:
        try:
            return render_template(spec.template, lambda path: _lookup(record, path),
                                   "\n\n" if spec.join is None else spec.join)
        except ValueProblem as exc:
            raise _Bad(f"{_label(spec)}: {exc}") from None
    value = _lookup(record, spec.field)
    if value is _MISSING or value is None:
        return None
    if isinstance(spec, FieldSpec) and spec.role is not None:
        label = _label(spec)
        if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
            raise _Bad(f"{label} is {_type_name(value)}, expected a list of chat messages")
        try:
            contents = [message_text(m, spec.content_key, spec.part_join) for m in value
                        if m.get(spec.role_key) in spec.roles]
        except ValueProblem as exc:
            raise _Bad(f"{label}: {exc}") from None
        if spec.pick == "all":
            return [c for c in contents if c is not None] or None
        value = (contents[0] if spec.pick == "first" else contents[-1]) if contents else None
    return value


def _slow_value(record: object, col: Column) -> object:
    spec = col.spec
    value = _raw_value(record, col)
    if isinstance(spec, FieldSpec) and spec.const is not None:
        return value if col.role.startswith("any") else scalar_text(value, convert=True)
    if value is None:
        return None
    label = _label(spec)
    role = col.role
    if role == "text":
        if isinstance(value, list) and spec.join is not None and all(isinstance(v, str) for v in value):
            return spec.join.join(value)
        if not isinstance(value, str):
            raise _Bad(f"{label} is {_type_name(value)}, expected text")
        return value
    if role == "scalar":
        try:
            return scalar_text(value, convert=spec.convert, join=spec.join)
        except ValueProblem as exc:
            raise _Bad(f"{label} {exc}") from None
    if role in ("list", "steps"):
        if not isinstance(value, list):
            raise _Bad(f"{label} is {_type_name(value)}, expected a list")
        out = []
        for item in value:
            if role == "steps" and isinstance(item, list) and all(isinstance(x, str) for x in item):
                item = spec.join.join(item)
            if item is not None and not isinstance(item, str):
                raise _Bad(f"{label} holds {_type_name(item)}, expected text")
            out.append(item)
        return out
    if role == "spans":
        if not isinstance(value, list):
            raise _Bad(f"{label} is {_type_name(value)}, expected a list of spans")
        out = []
        for k, span in enumerate(value):
            start, end, lab = (span.get(spec.start), span.get(spec.end), span.get(spec.label)) if isinstance(span, dict) else (None,) * 3
            if not (type(start) is int and type(end) is int and isinstance(lab, str)):
                raise _Bad(f"{label}[{k}] is not an object with integer {spec.start!r}, {spec.end!r} and text {spec.label!r}")
            out.append({"start": start, "end": end, "label": lab})
        return out
    if role == "any_list" and not isinstance(value, list):
        raise _Bad(f"{label} is {_type_name(value)}, expected a list (each = true)")
    return value


def _any_series(name: str, values: list) -> pl.Series:
    try:
        return pl.Series(name, values, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        return pl.Series(name, [None if v is None else json.dumps(v, ensure_ascii=False) for v in values], dtype=pl.String)


def _joined(record: dict, joins: list[Column]) -> dict:
    """The record with each join's matching record under its alias (absent when none matches)."""
    extra = {}
    for col in joins:
        on = _lookup(record, col.spec.on)
        if on is _MISSING or on is None:
            continue
        try:
            key = scalar_text(on, convert=True)
        except ValueProblem as exc:
            raise _Bad(f"field {col.spec.on!r} {exc}") from None
        if key in col.table:
            extra[col.name.removeprefix("_join.")] = col.table[key]
    return {**record, **extra} if extra else record


def slow_extract(records: list[object], errors: list[str | None], cols: list[Column]) -> pl.DataFrame:
    joins = [c for c in cols if c.role == "join"]
    cols = [c for c in cols if c.role != "join"]
    values: dict[str, list] = {c.name: [] for c in cols}
    answer_types: list[str | None] = []
    reasons: list[str | None] = []
    for record, error in zip(records, errors):
        row: dict[str, object] = {}
        if error is None and not isinstance(record, dict):
            error = f"record is {_type_name(record)}, expected a JSON object"
        if error is None:
            try:
                record = _joined(record, joins) if joins else record
                for col in cols:
                    row[col.name] = _slow_value(record, col)
                    if col.name == "answer" and row[col.name] is not None:
                        raw = _raw_value(record, col)
                        row["_answer_type"] = None if isinstance(raw, str) else _type_name(raw)
            except _Bad as exc:
                error, row = str(exc), {}
        reasons.append(error)
        answer_types.append(row.get("_answer_type"))
        for col in cols:
            values[col.name].append(row.get(col.name))
    series = [pl.Series("_pos", range(len(records)), dtype=pl.Int64), pl.Series("_error", reasons, dtype=pl.String),
              pl.Series("_answer_type", answer_types, dtype=pl.String)]
    for col in cols:
        if col.role in _ROLE_DTYPE:
            series.append(pl.Series(col.name, values[col.name], dtype=_ROLE_DTYPE[col.role]))
        else:
            series.append(_any_series(col.name, values[col.name]))
    return pl.DataFrame(series)
