"""`stratagem agreement`: how two annotators (or one and gold) agree, per label.

    stratagem agreement --a rules --b gold
    stratagem agreement --a llm --b rules --label verification --json

`--a` / `--b` name annotators as stored in `spans.annotator` (`NAME@VERSION` picks a
version; by default the version of the annotator's latest run), or `gold` for every span
with annotator_kind gold. Reads `current_spans`; compares the trajectories that both sides
annotated (at least one span each). `--a` is scored as the prediction and `--b` as the
reference. Metric definitions: annotators/agreement.py (tokens are whitespace tokens).
"""
from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from annotators.agreement import Agreement, compare
from pipeline.console import RootOpt, fail, lake_for, out
from warehouse import Lake


class AgreementError(ValueError):
    """An annotator with no spans, or an unknown label: one line for the user."""


def _selector(lake: Lake, who: str) -> tuple[str, list, str]:
    """(SQL condition on current_spans, params, what it resolved to)."""
    if who == "gold":
        return "annotator_kind = 'gold'", [], "gold"
    name, _, version = who.partition("@")
    if not version:
        version = lake.scalar("SELECT arg_max(annotator_version, run_id) FROM current_spans WHERE annotator = ?", [name])
        if version is None:
            known = [r[0] for r in lake.rows("SELECT DISTINCT annotator FROM current_spans ORDER BY 1")]
            raise AgreementError(f"no spans from annotator {name!r} (annotators with spans: {', '.join(known) or 'none'}, or gold)")
    return "annotator = ? AND annotator_version = ?", [name, version], f"{name}@{version}"


def _spans(lake: Lake, cond: str, params: list) -> dict[str, list[tuple[int, int, str]]]:
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for tid, s, e, lab in lake.rows(f'SELECT trajectory_id, start, "end", label FROM current_spans WHERE {cond}', params):
        spans.setdefault(tid, []).append((s, e, lab))
    return spans


def agreement(lake: Lake, a: str, b: str, label: str | None = None) -> tuple[Agreement, dict]:
    """Agreement of annotator `a` (prediction) with `b` (reference) and what was compared."""
    cond_a, params_a, who_a = _selector(lake, a)
    cond_b, params_b, who_b = _selector(lake, b)
    spans_a, spans_b = _spans(lake, cond_a, params_a), _spans(lake, cond_b, params_b)
    if not spans_b:
        raise AgreementError(f"no spans from {who_b}")
    both = sorted(set(spans_a) & set(spans_b))
    texts = dict(lake.rows("SELECT trajectory_id, text FROM trajectories "
                           "WHERE trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [both]))
    labels = sorted({s[2] for d in both for s in (*spans_a[d], *spans_b[d])})
    if label is not None:
        if label not in labels:
            raise AgreementError(f"label {label!r} does not occur in these spans (labels: {', '.join(labels) or 'none'})")
        labels = [label]
    result = compare(texts, spans_a, spans_b, labels=labels)
    meta = {"a": who_a, "b": who_b, "trajectories_both": len(both),
            "trajectories_only_a": len(set(spans_a) - set(spans_b)),
            "trajectories_only_b": len(set(spans_b) - set(spans_a)), "snapshot_id": lake.snapshot_id()}
    return result, meta


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def agreement_table(result: Agreement, meta: dict) -> Table:
    table = Table(title=f"agreement of {meta['a']} (a) with {meta['b']} (b)", title_justify="left")
    table.add_column("label", no_wrap=True)
    for col in ("spans a/b", "exact F1", "overlap P", "overlap R", "overlap F1", "kappa", "alpha"):
        table.add_column(col, justify="right")
    rows = [(name, r.exact, r.overlap, r.kappa, r.alpha) for name, r in result.labels.items()]
    rows.append(("all", result.exact, result.overlap, result.overall_kappa, result.overall_alpha))
    for name, ex, ov, kappa, alpha in rows:
        table.add_row(name, f"{ex.n_pred:,}/{ex.n_ref:,}", _f(ex.f1), _f(ov.precision), _f(ov.recall), _f(ov.f1),
                      _f(kappa), _f(alpha))
    table.caption = (f"{meta['trajectories_both']:,} trajectories annotated by both "
                     f"({meta['trajectories_only_a']:,} only by a, {meta['trajectories_only_b']:,} only by b), "
                     f"{result.n_tokens:,} whitespace tokens; kappa/alpha: per label binary (label vs not), "
                     "'all' one label per token; exact P/R in --json")
    return table


def register(app: typer.Typer) -> None:
    @app.command("agreement")
    def agreement_command(
        a: Annotated[str, typer.Option("--a", help="Annotator scored as the prediction (spans.annotator, NAME@VERSION, or gold).")],
        b: Annotated[str, typer.Option("--b", help="Annotator used as the reference (spans.annotator, NAME@VERSION, or gold).")],
        root: RootOpt = None,
        label: Annotated[str | None, typer.Option("--label", help="Only this label.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """Span P/R/F1 (exact and overlap), token-level Cohen's kappa and Krippendorff's alpha, per label."""
        with lake_for(root, read_only=True) as lake:
            try:
                result, meta = agreement(lake, a, b, label)
            except AgreementError as exc:
                fail(str(exc))
        if as_json:
            out.print_json(json.dumps(meta | result.to_dict()))
        else:
            out.print(agreement_table(result, meta))
