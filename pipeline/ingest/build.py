"""Lake rows from finished frames: validation reasons, content-hash ids, Arrow tables.

    built = build_rows(batch, problems, trajectory_frames, mapping, labels, run_id)
    built.problems / built.seeds / built.trajectories / built.spans   # pa.Tables for lake.insert
    built.rejects    # [(record position, locator suffix, reason)] for the quarantine
    built.items, built.valid                                          # for read = accepted + quarantined + duplicates

An item is one trajectory candidate (one problem for mappings without trajectories); a
record whose problem part is unusable is one item. Ids follow `schemas.ids` exactly
(`content_ids` below is `content_id` over whole columns).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from pipeline.ingest.mapping import Mapping

SEP = "\x1f"  # schemas.ids joins parts with the unit separator
_NUMERIC = r"^[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?\s*%?$"
_FRACTION = r"^[-+]?\d+\s*/\s*\d+$"


@dataclass
class Built:
    problems: pa.Table | None = None
    seeds: pa.Table | None = None
    trajectories: pa.Table | None = None
    spans: pa.Table | None = None
    rejects: list[tuple] = field(default_factory=list)
    items: int = 0
    valid: int = 0
    files: int = 0
    records: int = 0  # input records read (not items: a record may hold several trajectories)


def _values(series: pl.Series) -> tuple[memoryview, list[int], list[int]]:
    """(data, starts, ends) of each UTF-8 string, straight from the Arrow buffers (no str objects)."""
    arr = series.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    if arr.null_count:
        raise ValueError("cannot hash a null value")
    _, offsets, data = arr.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    view = memoryview(data) if data is not None else memoryview(b"")
    return view, bounds[:-1].tolist(), bounds[1:].tolist()


def content_ids(frame: pl.DataFrame, prefix: str, parts: list[pl.Expr]) -> pl.Series:
    """`schemas.ids.content_id(prefix, *parts)` for every row (None hashes as "")."""
    joined = frame.select(pl.concat_str([pl.lit(prefix), *[p.cast(pl.String).fill_null("") for p in parts]],
                                        separator=SEP)).to_series()
    view, starts, ends = _values(joined)
    digest = xxhash.xxh3_128_hexdigest
    return pl.Series([digest(view[a:b]) for a, b in zip(starts, ends)], dtype=pl.String)


def text_shas(texts: pl.Series) -> pl.Series:
    """`schemas.ids.text_sha` for every text."""
    view, starts, ends = _values(texts)
    sha256 = hashlib.sha256
    return pl.Series([sha256(view[a:b]).hexdigest() for a, b in zip(starts, ends)], dtype=pl.String)


def answer_kind(col: str = "answer") -> pl.Expr:
    a = pl.col(col)
    return (pl.when(a.is_null()).then(pl.lit("none"))
            .when(a.str.contains(_NUMERIC) & a.str.contains(r"\d")).then(pl.lit("numeric"))
            .when(a.str.contains(_FRACTION)).then(pl.lit("numeric"))
            .when(a.str.contains(r"[\\$^{}_]")).then(pl.lit("latex"))
            .otherwise(pl.lit("text")))


def _missing(spec, what: str) -> str:
    return f"missing {what}" + (f" (field {spec.field!r})" if spec is not None and spec.field else "")


def _too_long(col: str, what: str, limit: int) -> tuple[pl.Expr, pl.Expr]:
    n = pl.col(col).str.len_chars()
    return n > limit, pl.format(f"{what} has {{}} characters, over the limit of {limit:,}", n)


def _first_reason(cases: list[tuple[pl.Expr, pl.Expr | str]]) -> pl.Expr:
    expr = None
    for cond, reason in cases:
        reason = pl.lit(reason) if isinstance(reason, str) else reason
        expr = pl.when(cond).then(reason) if expr is None else expr.when(cond).then(reason)
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def _problem_rows(batch_frame: pl.DataFrame, mapping: Mapping, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    p, limit = mapping.problem, mapping.max_chars
    long_cond, long_reason = _too_long("question", "question", limit)
    frame = batch_frame.with_columns(
        _reason=_first_reason([
            (pl.col("_error").is_not_null(), pl.col("_error")),
            (pl.col("question").is_null(), _missing(p.question, "question")),
            (pl.col("question").str.strip_chars() == "", "empty question"),
            (long_cond, long_reason)]),
        perturbation=pl.col("perturbation").fill_null("original"))
    valid = frame.filter(pl.col("_reason").is_null())
    source = mapping.source_name
    problem_id = content_ids(valid, "problem", [pl.lit(source), pl.col("question"), pl.col("answer")])
    seed_id = content_ids(valid, "problem", [pl.lit(source), pl.col("seed_question"), pl.col("seed_answer")])
    valid = valid.with_columns(problem_id=problem_id, _seed_id=seed_id).with_columns(
        family_seed_id=pl.when(pl.col("seed_question").is_not_null()).then(pl.col("_seed_id"))
        .when(pl.col("perturbation") == "original").then(pl.col("problem_id")).otherwise(None))
    return frame, valid.with_columns(source=pl.lit(source), run_id=pl.lit(run_id), answer_kind=answer_kind())


def _problem_table(frame: pl.DataFrame) -> pa.Table:
    return frame.select("problem_id", "source", "question", pl.col("answer").alias("reference_answer"), "answer_kind",
                        "family", "family_seed_id", "perturbation", "metadata", "run_id").to_arrow()


def _seed_table(valid: pl.DataFrame) -> pa.Table:
    seeds = valid.filter(pl.col("seed_question").is_not_null() & (pl.col("seed_question").str.strip_chars() != ""))
    seeds = seeds.select(pl.col("_seed_id").alias("problem_id"), "source", pl.col("seed_question").alias("question"),
                         pl.col("seed_answer").alias("answer"), "family", pl.col("_seed_id").alias("family_seed_id"),
                         pl.lit("original").alias("perturbation"), pl.lit("{}").alias("metadata"), "run_id")
    return _problem_table(seeds.with_columns(answer_kind=answer_kind()))


def _span_reasons(frame: pl.DataFrame, labels: set[str]) -> pl.DataFrame:
    """Per row (`_row`) the first problem with its gold spans, if any."""
    # only rows that have spans: polars 1 and 2 explode empty and null lists differently
    spans = (frame.select("_row", "n_chars", "spans").filter(pl.col("spans").list.len() > 0)
             .with_columns(_k=pl.int_ranges(0, pl.col("spans").list.len()))
             .explode(["spans", "_k"]).filter(pl.col("spans").is_not_null()).unnest("spans"))
    bad = spans.with_columns(_span_reason=_first_reason([
        (pl.col("start").is_null() | pl.col("end").is_null() | pl.col("label").is_null(), "has a null field"),
        (pl.col("start") < 0, "starts before 0"),
        (pl.col("end") <= pl.col("start"), "is empty or reversed"),
        (pl.col("end") > pl.col("n_chars"), pl.format("ends beyond the text ({} characters)", pl.col("n_chars"))),
        (~pl.col("label").is_in(sorted(labels)), "has a label outside the taxonomy")]))
    bad = bad.filter(pl.col("_span_reason").is_not_null())
    return bad.group_by("_row").agg(pl.format("gold span {} [{}, {}) {}: {}", pl.col("_k"), pl.col("start"), pl.col("end"),
                                              pl.col("label"), pl.col("_span_reason")).first().alias("_span_reason"))


def _trajectory_rows(tf: pl.DataFrame, valid_problems: pl.DataFrame, mapping: Mapping, i: int,
                     labels: set[str], run_id: str, source_files, source_rows) -> tuple[pl.DataFrame, pl.DataFrame]:
    spec, limit = mapping.trajectory[i], mapping.max_chars
    frame = tf.join(valid_problems.select("_pos", "problem_id"), on="_pos", how="inner", maintain_order="left")
    frame = frame.with_row_index("_row").with_columns(n_chars=pl.col("text").str.len_chars().cast(pl.Int64))
    cases = [(pl.col("text").is_null(), _missing(spec.text, "solution text")),
             (pl.col("text").str.strip_chars() == "", "empty solution text"),
             _too_long("text", "solution text", limit),
             (pl.col("teacher").is_null() | (pl.col("teacher") == ""), _missing(spec.teacher, "teacher"))]
    if spec.spans is not None:
        frame = frame.join(_span_reasons(frame, labels), on="_row", how="left", maintain_order="left")
        cases += [(pl.col("_span_reason").is_not_null(), pl.col("_span_reason")),
                  (pl.col("renormalised") & (pl.col("spans").list.len() > 0),
                   "text has CRLF or a BOM, so its gold span offsets do not fit the normalised text")]
    frame = frame.with_columns(_reason=_first_reason(cases))
    valid = frame.filter(pl.col("_reason").is_null())
    valid = valid.with_columns(text_sha=text_shas(valid.get_column("text")))
    valid = valid.with_columns(
        trajectory_id=content_ids(valid, "trajectory", [pl.col("problem_id"), pl.col("teacher"), pl.col("text_sha")]),
        source_file=source_files(valid.get_column("_pos")), source_row=source_rows(valid.get_column("_pos")),
        run_id=pl.lit(run_id), truncated=pl.lit(False))
    return frame, valid


def _trajectory_table(valid: pl.DataFrame) -> pa.Table:
    return valid.select("trajectory_id", "problem_id", "teacher", "text", "text_sha", "n_chars", "truncated",
                        "sampling", "source_file", "source_row", "run_id").to_arrow()


def _span_table(valid: pl.DataFrame, mapping: Mapping, i: int, run_id: str) -> pa.Table:
    s = mapping.trajectory[i].spans
    spans = (valid.select("trajectory_id", "text_sha", "spans").filter(pl.col("spans").list.len() > 0)
             .explode("spans").filter(pl.col("spans").is_not_null()).unnest("spans"))
    kind, version = str(getattr(s.annotator_kind, "value", s.annotator_kind)), s.annotator_version
    spans = spans.with_columns(annotator_kind=pl.lit(kind), annotator=pl.lit(s.annotator),
                               annotator_version=pl.lit(version))
    spans = spans.with_columns(span_id=content_ids(spans, "span", [
        pl.col("trajectory_id"), pl.col("start"), pl.col("end"), pl.col("label"), pl.col("annotator_kind"),
        pl.col("annotator"), pl.col("annotator_version")]))
    return spans.select("span_id", "trajectory_id", "text_sha", "start", "end", "label", "annotator_kind", "annotator",
                        "annotator_version", pl.lit(None, dtype=pl.Float64).alias("confidence"),
                        pl.lit(str(getattr(s.alignment, "value", s.alignment))).alias("alignment"),
                        pl.lit(run_id).alias("run_id"), pl.lit(None, dtype=pl.String).alias("superseded_by")).to_arrow()


def build_rows(batch, problems: pl.DataFrame, trajectory_frames: list[pl.DataFrame], mapping: Mapping,
               labels: set[str], run_id: str) -> Built:
    built = Built()
    frame, valid_p = _problem_rows(problems, mapping, run_id)
    bad_p = frame.filter(pl.col("_reason").is_not_null()).select("_pos", "_reason")
    built.rejects += [(pos, "", reason) for pos, reason in bad_p.iter_rows()]
    built.items += bad_p.height
    built.problems = _problem_table(valid_p)
    if mapping.problem.seed_problems:
        built.seeds = _seed_table(valid_p)
    if not mapping.trajectory:
        built.items += valid_p.height
        built.valid += valid_p.height
        return built

    if batch.sources is not None:  # records merged from many files (readers.read_many)
        files, rows = batch.sources, batch.rows
        source_files = lambda pos: pl.Series([files[p] for p in pos.to_list()], dtype=pl.String)  # noqa: E731
        source_rows = lambda pos: pl.Series([rows[p] for p in pos.to_list()], dtype=pl.Int64)  # noqa: E731
    elif batch.names is not None:
        files = [f"{batch.file}/{n}" for n in batch.names]
        source_files = lambda pos: pl.Series([files[p] for p in pos.to_list()], dtype=pl.String)  # noqa: E731
        source_rows = lambda pos: pl.Series([None] * len(pos), dtype=pl.Int64)  # noqa: E731
    else:
        numbers = pl.Series(list(batch.numbers) if not isinstance(batch.numbers, range) else batch.numbers,
                            dtype=pl.Int64)
        source_files = lambda pos: pl.Series([batch.file] * len(pos), dtype=pl.String)  # noqa: E731
        source_rows = lambda pos: numbers.gather(pos)  # noqa: E731
    tables, span_tables = [], []
    for i, tf in enumerate(trajectory_frames):
        frame, valid = _trajectory_rows(tf, valid_p, mapping, i, labels, run_id, source_files, source_rows)
        built.items += frame.height
        built.valid += valid.height
        label = f" trajectory[{i}]" if len(trajectory_frames) > 1 else ""
        for pos, elem, reason in frame.filter(pl.col("_reason").is_not_null()).select("_pos", "_elem", "_reason").iter_rows():
            built.rejects.append((pos, label + (f" response[{elem}]" if elem is not None else ""), reason))
        tables.append(_trajectory_table(valid))
        if mapping.trajectory[i].spans is not None:
            span_tables.append(_span_table(valid, mapping, i, run_id))
    built.trajectories = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    if span_tables:
        built.spans = pa.concat_tables(span_tables)
    return built
