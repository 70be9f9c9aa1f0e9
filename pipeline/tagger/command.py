"""`stratagem tagger train | list`: the learned strategy tagger (the stage: pipeline/tagger/stage.py).

    stratagem tagger train                       # on human + gold spans; prints the model version
    stratagem tagger train --silver              # LLM spans too, weighted --silver-weight
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
        taxonomy_path: TaxonomyOpt = None,
    ) -> None:
        """Fit the learned tagger (a sentence-segment classifier: one logistic regression per label
        over word n-grams, neighbour segments and position) on the lake's human and gold spans.

        Saves it under <root>/models/tagger/<version>/ (model.json + weights.npz, version = content
        hash) and records a `tagger-train` run (config: version, labels, settings; counts:
        trajectories per source, segments per label; the DuckLake snapshot it read). Per
        trajectory it trains on the human spans if any, else the gold ones, else (--silver) the
        latest LLM annotator's.
        """
        from pipeline.tagger.stage import TaggerError, train

        taxonomy = taxonomy_or_fail(taxonomy_path)
        with lake_for(root, holder="tagger train") as lake:
            try:
                report, model = train(lake, taxonomy=taxonomy, silver=silver, silver_weight=silver_weight, C=c,
                                      threshold=threshold)
            except TaggerError as exc:
                fail(str(exc))
        print_report(report)
        out.print(f"model {model.version}: {lake.root / 'models' / 'tagger' / model.version}", highlight=False)

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
