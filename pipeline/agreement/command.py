"""`stratagem agreement`: how two annotators (or one and gold) agree, per label.

    stratagem agreement --a rules --b gold
    stratagem agreement --a llm --b rules --label verification --json
    stratagem agreement --a ls:admin@stratagem.local --b gold

`--a` / `--b` name annotators as stored in `spans.annotator` (`NAME@VERSION` picks a
version; by default the version of the annotator's latest run, and for a person (Label
Studio: `ls:<e-mail>`) every current annotation), or `gold` for every span with
annotator_kind gold; names and versions may hold "@" (pipeline/agreement/ref.py says how
they are told apart). Reads `current_spans`; compares the trajectories that both sides
annotated, and of a trajectory pushed to Label Studio in parts only the parts both sides
reviewed (a person's: the task parts they submitted; pipeline/agreement/reviewed.py).
`--a` is scored as the prediction and `--b` as the reference. The loading and comparing:
pipeline/agreement/stage.py; metric definitions: annotators/agreement.py (tokens are
whitespace tokens).
"""
from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from annotators.agreement import Agreement
from pipeline.agreement.stage import AgreementError, agreement
from pipeline.console import RootOpt, fail, lake_for, out

HELP = """Span P/R/F1 (exact and overlap), token-level Cohen's kappa and Krippendorff's alpha, per label.

Annotators are spelled NAME (spans.annotator, at the version of its latest run; a person, annotator_kind human: every current annotation), NAME@VERSION (spans.annotator_version) or gold (every span of annotator_kind gold). Names and versions may hold "@" (Label Studio annotators are ls:<e-mail>, their versions p<project>.t<part>.a<id>@<time>): the whole text is a name when some current spans have that annotator, otherwise it is split at the "@" that leaves an annotator and one of its versions.

Only what both sides reviewed is compared: a person's spans cover the Label Studio task parts they submitted (a long trace is split into parts), so spans of the other side outside those parts are left out, and a trajectory whose reviewed parts do not meet is not compared.
"""  # noqa: E501


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
    left_out = (f"; {meta['trajectories_not_shared']:,} left out: both annotated them, on task parts that do not "
                "meet" if meta["trajectories_not_shared"] else "")
    in_part = (f"{meta['trajectories_in_part']:,} of them on the task parts both reviewed only; "
               if meta["trajectories_in_part"] else "")
    table.caption = (f"{meta['trajectories_both']:,} trajectories annotated by both ({in_part}"
                     f"{meta['trajectories_only_a']:,} only by a, {meta['trajectories_only_b']:,} only by b"
                     f"{left_out}), "
                     f"{result.n_tokens:,} whitespace tokens; kappa/alpha: per label binary (label vs not), "
                     "'all' one label per token; exact P/R in --json")
    return table


def register(app: typer.Typer) -> None:
    @app.command("agreement", help=HELP)
    def agreement_command(
        a: Annotated[str, typer.Option("--a", help="Annotator scored as the prediction: NAME (spans.annotator, its latest "
                                                    "version; a person: every current annotation), NAME@VERSION, "
                                                    "or gold (every gold span).")],
        b: Annotated[str, typer.Option("--b", help="Annotator used as the reference, spelled as --a.")],
        root: RootOpt = None,
        label: Annotated[str | None, typer.Option("--label", help="Only this label.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        with lake_for(root, read_only=True) as lake:
            try:
                result, meta = agreement(lake, a, b, label)
            except AgreementError as exc:
                fail(str(exc))
        if as_json:
            out.print_json(json.dumps(meta | result.to_dict()))
        else:
            out.print(agreement_table(result, meta))
