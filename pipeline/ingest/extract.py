"""Pull the mapping's fields out of a batch of records into typed columns.

Two ways in, one shape out (a polars DataFrame, one row per record, columns named by
`columns_for(mapping)` plus `_pos` and `_error`):

    fast_extract(frame, cols)      vectorised polars expressions over an Arrow-parsed batch;
                                   returns None when a type does not fit (then use the slow way)
    slow_extract(records, errors, cols)
                                   per-record Python walk that names exactly what is wrong
                                   with each bad record (`_error`)

`finish(raw, mapping)` then does everything else once, for both: string transforms
(boxed / after / before / regex / map / ...), one row per element for `each`, step lists
joined with their offsets, sampling and metadata encoded as JSON.

Both paths turn scalars into text by one rule (`values.scalar_text`): the fast path
declines what Arrow cannot give exactly (floating-point columns, big integers parsed as
doubles), templates, joins, several roles and `pick = "all"`, so ids never depend on which
path ran or on the neighbouring records.
"""
from __future__ import annotations

import polars as pl

from pipeline.ingest.mapping import FieldSpec, Mapping, parse_path
from pipeline.ingest.records import _ROLE_DTYPE, SPAN_DTYPE, Column, columns_for, slow_extract
from pipeline.ingest.values import last_boxed, scalar_text

__all__ = ["Column", "columns_for", "fast_extract", "slow_extract", "finish_problems", "finish_trajectories",
           "normalise_expr", "normalise_columns", "transform_expr", "SPAN_DTYPE"]


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


def _spec_expr(frame: pl.DataFrame, col: Column) -> pl.Expr | None:
    spec = col.spec
    if isinstance(spec, FieldSpec) and spec.const is not None:
        return pl.lit(spec.const if col.role.startswith("any") else scalar_text(spec.const, convert=True))
    if isinstance(spec, FieldSpec) and (spec.template is not None or spec.pick == "all" or not isinstance(
            spec.role, (str, type(None)))):
        return None  # the per-record path renders these
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
    if col.role == "scalar":  # values.scalar_text, where Arrow's value is exact
        if dtype == pl.String or dtype.is_integer():
            return series.cast(pl.String)
        if dtype == pl.Boolean and col.spec.convert:
            return series.to_frame("v").select(pl.when(pl.col("v")).then(pl.lit("True"))
                                               .when(~pl.col("v")).then(pl.lit("False"))).to_series().alias(series.name)
        return None  # floats (1 and 1e25 parsed as doubles), booleans without `convert`, lists: per record
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
    if any(col.role == "join" for col in cols):
        return None
    exprs = []
    for col in cols:
        expr = _spec_expr(frame, col)
        if expr is None:
            return None
        exprs.append(expr.alias(col.name))
    try:  # with_columns: constants and absent fields get one value per row
        out = frame.with_columns(exprs).select([c.name for c in cols])
    except pl.exceptions.PolarsError:
        return None
    fitted = []
    answer_type = pl.Series("_answer_type", [None] * frame.height, dtype=pl.String)
    for col in cols:
        series = _fit(out.get_column(col.name), col)
        if series is None:
            return None
        fitted.append(series)
        dtype = out.schema[col.name]
        if col.name == "answer" and (dtype.is_integer() or dtype == pl.Boolean):
            kind = "integer" if dtype.is_integer() else "boolean"
            answer_type = series.to_frame("v").select(pl.when(pl.col("v").is_not_null()).then(pl.lit(kind))
                                                      .alias("_answer_type")).to_series()
    n = frame.height
    return pl.DataFrame([pl.Series("_pos", range(n), dtype=pl.Int64), pl.Series("_error", [None] * n, dtype=pl.String),
                         *fitted, answer_type])


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
    if spec.boxed:
        expr = expr.map_elements(last_boxed, return_dtype=pl.String, skip_nulls=True)
    if spec.after is not None:
        expr = pl.when(expr.str.contains(spec.after, literal=True)).then(
            expr.str.split(spec.after).list.last()).otherwise(None)
    if spec.before is not None:
        expr = expr.str.split(spec.before).list.first()
    if spec.regex is not None:
        expr = expr.str.extract(spec.regex, 1)
    if strip or spec.strip or spec.boxed or spec.after is not None or spec.before is not None or spec.regex is not None:
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
    meta = {k: f"m.{k}" for k in p.metadata}
    metadata = _json_struct(raw, meta)
    if "answer_type" not in meta:  # an answer that was not JSON text: its JSON type (integer, boolean, list, ...)
        typed = _json_struct(raw, meta, {"answer_type": pl.col("_answer_type")})
        metadata = pl.when(pl.col("_answer_type").is_null()).then(metadata).otherwise(typed)
    exprs.append(metadata.alias("metadata"))
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
