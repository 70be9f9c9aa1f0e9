"""`stratagem tagger train | list`: the learned strategy tagger (the stage: pipeline/tagger/stage.py).

    stratagem tagger train                       # on human + gold spans; prints the learning curve and the model version
    stratagem tagger train --silver              # LLM spans too, weighted --silver-weight
    stratagem tagger train --no-curve            # skip the held-out learning curve (only the final fit)
    stratagem tagger list                        # saved models, newest first
    stratagem annotate --annotator learned [--model VERSION]
    stratagem review push --select uncertain --predictions learned
"""
from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipeline.console import RootOpt, fail, lake_for, out, print_report
from pipeline.flags import TaxonomyOpt, taxonomy_or_fail

HELP = "The learned strategy tagger: train it on human and gold spans, list saved models."


def register(app: typer.Typer) -> None:
    group = typer.Typer(help=HELP, no_args_is_help=True)
    app.add_typer(group, name="tagger")

    @group.command("train")
    def train_command(
        root: RootOpt = None,
        silver: Annotated[bool, typer.Option("--silver", help="Also train on LLM spans (silver) of trajectories "
                                                              "with no human or gold spans.")] = False,
        silver_weight: Annotated[float, typer.Option("--silver-weight", min=0.0, max=1.0,
                                                     help="Weight of a silver trajectory's segments.")] = 0.5,
        c: Annotated[float, typer.Option("--c", min=1e-6, help="Inverse L2 regularisation strength.")] = 1.0,
        threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0,
                                                 help="Probability from which a segment carries a label.")] = 0.5,
        no_balance: Annotated[bool, typer.Option("--no-balance", help="Plain counts instead of balanced class "
                                                                        "weights (by default each label's positives "
                                                                        "and negatives weigh alike, so a rare label "
                                                                        "still reaches the threshold).")] = False,
        no_curve: Annotated[bool, typer.Option("--no-curve", help="Skip the learning curve on held-out families "
                                                                    "(only the final fit).")] = False,
        taxonomy_path: TaxonomyOpt = None,
    ) -> None:
        """Fit the learned tagger (a sentence-segment classifier: one logistic regression per label
        over word n-grams, neighbour segments and position) on the lake's human and gold spans.

        Saves it under <root>/models/tagger/<version>/ (model.json + weights.npz, version = content
        hash) and records a `tagger-train` run (config: version, labels, settings, learning curve;
        counts: trajectories per source, segments per label; the DuckLake snapshot it read). Per
        trajectory it trains on the human spans if any, else the gold ones, else (--silver) the
        latest LLM annotator's.

        First it measures a learning curve (unless --no-curve): about 20% of the problem families
        (a seed problem with its perturbed variants; md5 of the family key mod 5 == 0) are held
        out, the tagger is fitted on the first 5, 10, 20, 50, ... (up to 80% of them) and on all
        of the other trajectories (in a stable shuffled order), and each fit and the rules tagger
        are scored on the held-out human and gold spans (token Cohen's kappa, overlap span F1). The curve is skipped, with the reason
        recorded, under 10 trajectories or with no held-out family. The saved model is always
        fitted on every trajectory. `stratagem report` shows the latest curve.
        """
        from pipeline.tagger.stage import TaggerError, run_config, train

        taxonomy = taxonomy_or_fail(taxonomy_path)
        with lake_for(root, holder="tagger train") as lake:
            try:
                report, model = train(lake, taxonomy=taxonomy, silver=silver, silver_weight=silver_weight, C=c,
                                      threshold=threshold, class_weight=None if no_balance else "balanced",
                                      curve=not no_curve)
            except TaggerError as exc:
                fail(str(exc))
            config = run_config(lake, report.run_id)
        print_report(report)
        _print_curve(config)
        out.print(f"model {model.version}: {lake.root / 'models' / 'tagger' / model.version}", highlight=False)

    def _print_curve(config: dict) -> None:
        curve, rules = config.get("learning_curve"), config.get("rules_on_holdout")
        if not curve:
            out.print(f"learning curve skipped: {config.get('learning_curve_skipped', 'not measured')}",
                      highlight=False)
            return
        f = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
        table = Table("training trajectories", "kappa", "span F1 (overlap)",
                      title=f"learning curve on {rules['n_holdout']:,} held-out trajectories", title_justify="left")
        for row in curve:
            table.add_row(f"{row['n']:,}", f(row["kappa"]), f(row["f1"]))
        table.add_row("rules tagger", f(rules["kappa"]), f(rules["f1"]))
        out.print(table)

    @group.command("list")
    def list_command(root: RootOpt = None) -> None:
        """Saved learned-tagger models, newest first, with their training counts."""
        from pipeline.tagger.stage import model_folder, versions

        with lake_for(root, read_only=True) as lake:
            rows = versions(lake)
            table = Table("version", "run", "trajectories", "segments", "on disk")
            for version, run_id, counts in rows:
                table.add_row(version, run_id, f"{counts.get('trajectories', 0):,}", f"{counts.get('segments', 0):,}",
                              "yes" if (model_folder(lake.root, version) / "model.json").is_file() else "missing")
        if not rows:
            out.print("no learned tagger models (train one with `stratagem tagger train`)")
        else:
            out.print(table)
