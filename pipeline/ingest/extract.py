"""Pull the mapping's fields out of a batch of records into typed columns.

Two ways in, one shape out (a polars DataFrame, one row per record, columns named by
`columns_for(mapping)` plus `_pos` and `_error`):

    fast_extract(frame, cols)      vectorised polars expressions over an Arrow-parsed batch;
                                   returns None when a type does not fit (then use the slow way)
    slow_extract(records, errors, cols)
                                   per-record Python walk that names exactly what is wrong
                                   with each bad record (`_error`)

`finish(raw, mapping)` then does everything else once, for both: string transforms
(after / before / regex / map / ...), one row per element for `each`, step lists joined
with their offsets, sampling and metadata encoded as JSON.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from pipeline.ingest.mapping import FieldSpec, Mapping, SpansSpec, parse_path

SPAN_DTYPE = pl.List(pl.Struct({"start": pl.Int64, "end": pl.Int64, "label": pl.String}))
_ROLE_DTYPE = {"text": pl.String, "scalar": pl.String, "list": pl.List(pl.String), "steps": pl.List(pl.String),
               "spans": SPAN_DTYPE}
_MISSING = object()


@dataclass(frozen=True)
class Column:
    name: str
    spec: FieldSpec | SpansSpec
    role: str  # text | scalar | list | steps | spans | any | any_list


def columns_for(mapping: Mapping) -> list[Column]:
    p = mapping.problem
    cols = [Column("question", p.question, "text")]
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


# ------------------------------------------------------------------ fast: polars expressions
def _path_expr(frame: pl.DataFrame, path: tuple) -> pl.Expr | None:
    """Expression for a path, walked against the frame's schema; lit(None) where a field is
    absent; None where the schema does not fit the path (a type mismatch: go slow)."""
    root = path[0]
    if root not in frame.schema:
        return pl.lit(None)
    expr, dtype = pl.col(root), frame.schema[root]
    for token in path[1:]:
        if dtype == pl.Null:
            return pl.lit(None)
        if isinstance(token, int):
            if not isinstance(dtype, pl.List):
                return None
            expr, dtype = expr.list.get(token, null_on_oob=True), dtype.inner
        else:
            if not isinstance(dtype, pl.Struct):
                return None
            fields = {f.name: f.dtype for f in dtype.fields}
            if token not in fields:
                return pl.lit(None)
            expr, dtype = expr.struct.field(token), fields[token]
    return expr


def _spec_expr(frame: pl.DataFrame, spec: FieldSpec | SpansSpec) -> pl.Expr | None:
    if isinstance(spec, FieldSpec) and spec.const is not None:
        return pl.lit(spec.const)
    expr = _path_expr(frame, parse_path(spec.field))
    if expr is None or not isinstance(spec, FieldSpec) or spec.role is None:
        return expr
    chosen = pl.element().filter(pl.element().struct.field(spec.role_key) == spec.role).struct.field(spec.content_key)
    picked = expr.list.eval(chosen)
    return picked.list.first() if spec.pick == "first" else picked.list.last()


def _fit(series: pl.Series, col: Column) -> pl.Series | None:
    """Cast an extracted column to its role's type, or None when it does not fit."""
    dtype = series.dtype
    if dtype == pl.Null:
        return series.cast(_ROLE_DTYPE.get(col.role, pl.Null))
    if col.role == "text":
        return series if dtype == pl.String else None
    if col.role == "scalar":
        return series.cast(pl.String) if dtype == pl.String or dtype.is_numeric() else None
    if col.role in ("list", "steps"):
        if not isinstance(dtype, pl.List):
            return None
        inner = dtype.inner
        if inner in (pl.String, pl.Null):
            return series.cast(pl.List(pl.String))
        if col.role == "steps" and isinstance(inner, pl.List) and inner.inner in (pl.String, pl.Null):
            return series.list.eval(pl.element().list.join(col.spec.join)).cast(pl.List(pl.String))
        return None
    if col.role == "spans":
        if not isinstance(dtype, pl.List) or not isinstance(dtype.inner, pl.Struct):
            return None
        fields = {f.name: f.dtype for f in dtype.inner.fields}
        s = col.spec
        if not (fields.get(s.start, pl.String).is_integer() and fields.get(s.end, pl.String).is_integer()
                and fields.get(s.label) == pl.String):
            return None
        return series.list.eval(pl.struct(
            pl.element().struct.field(s.start).cast(pl.Int64).alias("start"),
            pl.element().struct.field(s.end).cast(pl.Int64).alias("end"),
            pl.element().struct.field(s.label).alias("label"))).cast(SPAN_DTYPE)
    if col.role == "any_list" and not isinstance(dtype, pl.List):
        return None
    return series


def fast_extract(frame: pl.DataFrame, cols: list[Column]) -> pl.DataFrame | None:
    exprs = []
    for col in cols:
        expr = _spec_expr(frame, col.spec)
        if expr is None:
            return None
        exprs.append(expr.alias(col.name))
    try:  # with_columns: constants and absent fields get one value per row
        out = frame.with_columns(exprs).select([c.name for c in cols])
    except pl.exceptions.PolarsError:
        return None
    fitted = []
    for col in cols:
        series = _fit(out.get_column(col.name), col)
        if series is None:
            return None
        fitted.append(series)
    n = frame.height
    return pl.DataFrame([pl.Series("_pos", range(n), dtype=pl.Int64), pl.Series("_error", [None] * n, dtype=pl.String),
                         *fitted])


# ------------------------------------------------------------------ slow: Python per record
def _type_name(value: object) -> str:
    return {dict: "object", list: "list", str: "text", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


class _Bad(Exception):
    pass


def _walk(record: object, path: tuple) -> object:
    value = record
    for token in path:
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


def _slow_value(record: object, col: Column) -> object:
    spec = col.spec
    if isinstance(spec, FieldSpec) and spec.const is not None:
        return spec.const if col.role.startswith("any") else str(spec.const)
    label = f"field {spec.field!r}"
    try:
        value = _walk(record, parse_path(spec.field))
    except _Bad as exc:
        raise _Bad(f"{label}: {exc}") from None
    if value is _MISSING or value is None:
        return None
    if isinstance(spec, FieldSpec) and spec.role is not None:
        if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
            raise _Bad(f"{label} is {_type_name(value)}, expected a list of chat messages")
        contents = [m.get(spec.content_key) for m in value if m.get(spec.role_key) == spec.role]
        value = (contents[0] if spec.pick == "first" else contents[-1]) if contents else None
        if value is None:
            return None
    role = col.role
    if role == "text":
        if not isinstance(value, str):
            raise _Bad(f"{label} is {_type_name(value)}, expected text")
        return value
    if role == "scalar":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Bad(f"{label} is {_type_name(value)}, expected text or a number")
        return value if isinstance(value, str) else str(value)
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


def slow_extract(records: list[object], errors: list[str | None], cols: list[Column]) -> pl.DataFrame:
    values: dict[str, list] = {c.name: [] for c in cols}
    reasons: list[str | None] = []
    for record, error in zip(records, errors):
        row: dict[str, object] = {}
        if error is None and not isinstance(record, dict):
            error = f"record is {_type_name(record)}, expected a JSON object"
        if error is None:
            try:
                for col in cols:
                    row[col.name] = _slow_value(record, col)
            except _Bad as exc:
                error, row = str(exc), {}
        reasons.append(error)
        for col in cols:
            values[col.name].append(row.get(col.name))
    series = [pl.Series("_pos", range(len(records)), dtype=pl.Int64), pl.Series("_error", reasons, dtype=pl.String)]
    for col in cols:
        if col.role in _ROLE_DTYPE:
            series.append(pl.Series(col.name, values[col.name], dtype=_ROLE_DTYPE[col.role]))
        else:
            series.append(_any_series(col.name, values[col.name]))
    return pl.DataFrame(series)


# ------------------------------------------------------------------ shared finishing
def normalise_expr(expr: pl.Expr) -> pl.Expr:
    """`schemas.ids.normalise_text`, vectorised: drop one leading BOM, CRLF / CR -> LF."""
    return (expr.str.strip_prefix("\ufeff").str.replace_all("\r\n", "\n", literal=True)
            .str.replace_all("\r", "\n", literal=True))


def _needs_normalising(series: pl.Series) -> bool:
    return bool(series.str.contains("\r", literal=True).any() or series.str.starts_with("\ufeff").any())


def normalise_columns(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """normalise_expr on the named columns, skipped (no copy) where there is nothing to do."""
    todo = [n for n in names if _needs_normalising(frame.get_column(n))]
    return frame.with_columns([normalise_expr(pl.col(n)) for n in todo]) if todo else frame


def transform_expr(expr: pl.Expr, spec: FieldSpec, *, strip: bool) -> pl.Expr:
    if spec.after is not None:
        expr = pl.when(expr.str.contains(spec.after, literal=True)).then(
            expr.str.split(spec.after).list.last()).otherwise(None)
    if spec.before is not None:
        expr = expr.str.split(spec.before).list.first()
    if spec.regex is not None:
        expr = expr.str.extract(spec.regex, 1)
    if strip or spec.strip or spec.after is not None or spec.before is not None or spec.regex is not None:
        expr = expr.str.strip_chars()
    if spec.map:
        expr = expr.replace(spec.map)
    if spec.null_if:
        expr = pl.when(expr.is_in(spec.null_if)).then(None).otherwise(expr)
    if spec.default is not None:
        expr = expr.fill_null(pl.lit(spec.default))
    return expr


def _json_struct(frame: pl.DataFrame, names: dict[str, str], extra: dict[str, pl.Expr] | None = None) -> pl.Expr:
    """One JSON object per row from columns {key: column}, keys sorted; "{}" when empty."""
    fields = {k: pl.col(c) for k, c in names.items()} | (extra or {})
    if not fields:
        return pl.lit("{}")
    return pl.struct(*[fields[k].alias(k) for k in sorted(fields)]).struct.json_encode()


def finish_problems(raw: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """Columns: _pos, _error, question, answer, family, perturbation, seed_question, seed_answer, metadata."""
    p = mapping.problem
    exprs = [pl.col("_pos"), pl.col("_error")]
    for name in ("question", "answer", "family", "perturbation", "seed_question", "seed_answer"):
        spec = getattr(p, name)
        if spec is None:
            exprs.append(pl.lit(None, dtype=pl.String).alias(name))
            continue
        expr = transform_expr(pl.col(name), spec, strip=name not in ("question", "seed_question"))
        exprs.append(expr.alias(name))
    exprs.append(_json_struct(raw, {k: f"m.{k}" for k in p.metadata}).alias("metadata"))
    return normalise_columns(raw.select(exprs), ["question", "seed_question"])


def finish_trajectories(raw: pl.DataFrame, mapping: Mapping, i: int) -> pl.DataFrame:
    """Columns: _pos, _elem, text, teacher, sampling, spans (one row per trajectory candidate)."""
    t = mapping.trajectory[i]
    pre = f"t{i}."
    frame = raw.filter(pl.col("_error").is_null()).select(
        "_pos", *[pl.col(c).alias(c[len(pre):]) for c in raw.columns if c.startswith(pre)])
    extra: dict[str, pl.Expr] = {}
    if t.text.each:
        # an empty or missing list is one candidate with no text (quarantined, never dropped)
        n = pl.col("text").list.len().fill_null(0)
        frame = frame.with_columns(text=pl.when(n > 0).then(pl.col("text")).otherwise(pl.lit([None], dtype=pl.List(pl.String))),
                                   _elem=pl.int_ranges(0, pl.max_horizontal(n, 1))).explode(["text", "_elem"])
        each = [f"s.{k}" for k, s in t.sampling.items() if s.each]
        if each:  # a per-element field absent from the whole batch has no list type: all null
            frame = frame.with_columns([pl.col(c).list.get(pl.col("_elem"), null_on_oob=True)
                                        if isinstance(frame.schema[c], pl.List) else pl.lit(None).alias(c)
                                        for c in each])
        extra["index"] = pl.col("_elem")
    else:
        frame = frame.with_columns(_elem=pl.lit(None, dtype=pl.Int64))
    if t.text.join is not None:
        sep = t.text.join
        steps = pl.col("text").list.eval(normalise_expr(pl.element().fill_null("")))
        lens = steps.list.eval(pl.element().str.len_chars().cast(pl.Int64))
        starts = lens.list.eval(pl.element().cum_sum() - pl.element() + pl.int_range(pl.len()) * len(sep))
        ends = lens.list.eval(pl.element().cum_sum() + pl.int_range(pl.len()) * len(sep))
        frame = frame.with_columns(text=pl.when(pl.col("text").list.len() > 0).then(steps.list.join(sep)),
                                   _starts=starts, _ends=ends)
        extra["step_starts"], extra["step_ends"] = pl.col("_starts"), pl.col("_ends")
    given = transform_expr(pl.col("text"), t.text, strip=False)
    teacher = transform_expr(pl.col("teacher"), t.teacher, strip=True)
    sampling = _json_struct(frame, {k: f"s.{k}" for k in t.sampling}, extra)
    spans = pl.col("spans") if t.spans is not None else pl.lit(None, dtype=SPAN_DTYPE)
    out = frame.select(pl.col("_pos"), pl.col("_elem").cast(pl.Int64), given.alias("text"),
                       pl.lit(False).alias("renormalised"), teacher.alias("teacher"), sampling.alias("sampling"),
                       spans.alias("spans"))
    if _needs_normalising(out.get_column("text")):
        out = out.with_columns(text=normalise_expr(pl.col("text"))).with_columns(
            renormalised=(pl.col("text") != out.get_column("text")).fill_null(False))
    return out
