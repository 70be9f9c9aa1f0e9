"""The `stratagem` command line: a thin Typer layer over the stage functions.

    stratagem --help
    stratagem <command> --help

Each stage module exposes `register(app)`, which adds its commands; this file only
assembles them. `stratagem <command>` imports only the module that defines that command,
so a command starts without loading every stage (torch, httpx, matplotlib, ...);
`--help` and unknown names load them all. `from pipeline.cli import app` gives the full app.
"""
from __future__ import annotations

import importlib
import sys

import typer

HELP = ("Strategy-guided distillation workbench: ingest teacher trajectories into a DuckLake "
        "warehouse, annotate strategies, curate, export, train and evaluate.")

# Command name -> the module that registers it, in the order `--help` lists them.
COMMANDS = {
    "demo": "pipeline.demo",
    "sql": "pipeline.lake_commands",
    "status": "pipeline.lake_commands",
    "sample": "pipeline.sample.command",
    "ingest": "pipeline.ingest.command",
    "verify": "pipeline.verify",
    "annotate": "pipeline.annotate",
    "describe": "pipeline.describe",
    "agreement": "pipeline.agreement",
    "train": "pipeline.train_commands",
    "eval": "pipeline.train_commands",
    "generate": "pipeline.generate",
    "curate": "pipeline.curate",
    "export": "pipeline.export.command",
    "labelstudio": "pipeline.labelstudio.command",
    "review": "pipeline.labelstudio.command",
    "report": "pipeline.report.command",
}


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI with every command, or with only the module that defines `command`."""
    app = typer.Typer(name="stratagem", help=HELP, no_args_is_help=True, rich_markup_mode="rich",
                      pretty_exceptions_enable=False, add_completion=False)

    @app.callback()
    def _group() -> None:  # keeps `stratagem <command>` a group even when one command is loaded
        pass

    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(app)
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    build_app(command)()


if __name__ == "__main__":
    main()
