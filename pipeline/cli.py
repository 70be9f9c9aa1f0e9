"""The `stratagem` command line: a thin Typer layer over the stage functions.

    stratagem --help
    stratagem <command> --help

Each stage module exposes `register(app)`, which adds its commands; this file only
assembles them and turns expected errors into one-line messages with exit code 2.
"""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="stratagem",
    help="Strategy-guided distillation workbench: ingest teacher trajectories into a DuckLake "
         "warehouse, annotate strategies, curate, export, train and evaluate.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Modules that add commands, in the order `--help` lists them.
COMMAND_MODULES = [
    "pipeline.demo",
    "pipeline.lake_commands",
    "pipeline.sample.command",
    "pipeline.ingest.command",
    "pipeline.verify",
    "pipeline.annotate",
    "pipeline.describe",
    "pipeline.agreement",
    "pipeline.train_commands",
    "pipeline.generate",
    "pipeline.curate",
    "pipeline.export.command",
    "pipeline.labelstudio.command",
    "pipeline.report.command",
]

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
