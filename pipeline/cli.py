"""The `stratagem` command line: a thin Typer layer over the stage functions.

    stratagem --help
    stratagem <command> --help

Each stage module exposes `register(app)`, which adds its commands; this file only
assembles them. `stratagem <command>` imports only the module that defines that command,
so a command starts without loading every stage (torch, httpx, matplotlib, ...). `--help`
loads none of them: it lists `SHORT_HELP`, a static copy of each command's one-line help
(tests/test_cli.py keeps it equal to what the modules register). `from pipeline.cli import
app` gives the full app.

A disk-full or permission error from any command ends in one line and exit code 2
(warehouse.errors.storage_message), not a traceback; the lake's open transaction has rolled
back by then.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

HELP = ("Strategy-guided distillation workbench: ingest teacher trajectories into a DuckLake "
        "warehouse, annotate strategies, curate, export, train and evaluate.")

# Command name -> the module that registers it, in the order `--help` lists them.
COMMANDS = {
    "demo": "pipeline.demo",
    "sql": "pipeline.lake_commands",
    "status": "pipeline.lake_commands",
    "lake": "pipeline.lake_commands",
    "sample": "pipeline.sample.command",
    "ingest": "pipeline.ingest.command",
    "mapping": "pipeline.ingest.mapping_command",
    "verify": "pipeline.verify.command",
    "annotate": "pipeline.annotate.command",
    "tagger": "pipeline.tagger.command",
    "describe": "pipeline.describe.command",
    "agreement": "pipeline.agreement.command",
    "train": "pipeline.train_commands",
    "eval": "pipeline.train_commands",
    "generate": "pipeline.generate.command",
    "run": "pipeline.shards.command",
    "curate": "pipeline.curate.command",
    "export": "pipeline.export.command",
    "labelstudio": "pipeline.labelstudio.command",
    "review": "pipeline.labelstudio.command",
    "report": "pipeline.report.command",
}

# Command name -> the first paragraph of its help, as `stratagem --help` shows it. A command
# missing here makes `--help` import every module (slow, still right).
SHORT_HELP = {
    "demo": "Run every stage on the built-in sample and write an HTML report.",
    "sql": "Run one read-only SQL query (SELECT only) against the lake.",
    "status": "Show row counts per table, runs per stage, pending work and quarantine reasons.",
    "lake": "The lake itself: move its catalog.",
    "sample": "Generate the built-in sample: math word problems in 10 families (shopping, work_rates, ages, "
              "percentages, unit_conversion, combinatorics, geometry, averages, number_puzzle, tickets), "
              "GSM-Plus-style variants (numbers, names, distractor, reversed, extra_step) with exact answers, "
              "and a procedural teacher's step-by-step solutions with gold strategy spans (about 10% end with "
              "a wrong answer). Short-form families (lookup: one-line solutions a tiny model can learn, as "
              "`stratagem demo` trains on) are chosen with --families.",
    "ingest": "Ingest teacher trajectories: each record is stored, counted as a duplicate (already in the lake: "
              "re-ingest is a no-op) or quarantined with its file, line and reason.",
    "mapping": "Ingest mappings: suggest one for a new dataset.",
    "verify": "Extract each trajectory's final answer and judge it against the reference (writes verdicts).",
    "annotate": "Tag strategy spans (planning, decomposition, verification, ...) in trajectories.",
    "tagger": "The learned strategy tagger: train it on human and gold spans, list saved models.",
    "describe": "Write K strategy descriptions (problem type, approach, steps) per solved problem.",
    "agreement": "Span P/R/F1 (exact and overlap), token-level Cohen's kappa and Krippendorff's alpha, per label.",
    "train": "Train a model on an export with SFT, GRPO or SGPO; prints a progress line per step.",
    "eval": "Greedy accuracy on test_original and each test_<perturbation> split, with the gap per model.",
    "generate": "Sample teacher trajectories for problems from an OpenAI-compatible endpoint (writes trajectories).",
    "run": "Run a stage's shards at once (local processes or Ray tasks), each committing to the shared catalog.",
    "curate": "Resolve consensus spans, pick a strategy and a trajectory per problem, apply the filters,\n"
              "collapse near-duplicates and assign leak-free family splits; record the curated set with its run.",
    "export": "Export the curated set as a versioned folder: manifest.json, README.md dataset card with plots,\n"
              "data.parquet (all splits) and per split sft.trl.jsonl, rl.trl.jsonl, rl.verl.parquet, "
              "rl.openrlhf.jsonl.",
    "labelstudio": "Run a local Label Studio server (its own virtualenv, loopback only, telemetry off).",
    "review": "Human review in Label Studio: push pre-annotated tasks, pull annotations back.",
    "report": "Write one static HTML file (plots embedded, no server, no network) showing counts per stage and\n"
              "quarantine reasons, strategy labels, spans per trajectory, agreement between annotators and gold,\n"
              "trajectories with coloured spans, strategy descriptions with their leakage checks, training curves\n"
              "and accuracy on original versus perturbed problems.",
}


# Commands that are groups of subcommands (`stratagem review push`): `--help` lists them last.
GROUPS = {"mapping", "labelstudio", "review", "lake", "tagger"}


def _restore_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _new_app() -> typer.Typer:
    app = typer.Typer(name="stratagem", help=HELP, no_args_is_help=True, rich_markup_mode="rich",
                      pretty_exceptions_enable=False, add_completion=False)

    @app.callback()
    def _group(ctx: typer.Context, catalog: Annotated[str | None, typer.Option(
            "--catalog", envvar="STRATAGEM_CATALOG", show_default=False,
            help="Where the lake's catalog lives: sqlite (default: <root>/catalog.sqlite; readers run while a "
                 "stage writes), duckdb (<root>/catalog.ducklake, one process at a time), sqlite:/PATH, or "
                 "postgres://USER@HOST:PORT/DB[?schema=NAME] (several writers; password from PGPASSWORD). "
                 "Give it before the command: stratagem --catalog URL status.")] = None,
               data_path: Annotated[str | None, typer.Option(
            "--data-path", envvar="STRATAGEM_DATA_PATH", show_default=False,
            help="Where the lake's Parquet data files live: <root>/data (default) or s3://BUCKET/PREFIX "
                 "(credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION; "
                 "AWS_ENDPOINT_URL for an S3-compatible store). Stored in the catalog when the lake is made: "
                 "later commands use it without this option and refuse a different one. "
                 "Give it before the command: stratagem --data-path s3://bucket/lake ingest F.")] = None) -> None:
        # a group even when one command is loaded; catalog and data path reach Lake.open (and child
        # processes) through the environment for this invocation, restored when it ends (an app run
        # in-process, as tests do, leaves the next invocation as it found it)
        chosen = {"STRATAGEM_CATALOG": catalog, "STRATAGEM_DATA_PATH": data_path}
        before = {name: os.environ.get(name) for name, value in chosen.items() if value}
        os.environ.update({name: chosen[name] for name in before})
        ctx.call_on_close(lambda: _restore_environment(before))

    return app


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI with every command, or with only the module that defines `command`."""
    app = _new_app()
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(app)
    return app


def help_app() -> typer.Typer:
    """The CLI as `stratagem --help` lists it, from `SHORT_HELP`: no stage module imported.
    Its commands only stand in for the real ones (main() never runs them)."""
    if set(SHORT_HELP) != set(COMMANDS):
        return build_app()
    app = _new_app()
    for name in COMMANDS:
        if name in GROUPS:
            group = typer.Typer(help=SHORT_HELP[name])
            group.command("stub")(lambda: None)
            app.add_typer(group, name=name)
        else:
            app.command(name, help=SHORT_HELP[name])(lambda: None)
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The root options (the `_group` callback's) that take a value: `stratagem --catalog URL status`.
_ROOT_VALUE_OPTIONS = ("--catalog", "--data-path")


def _command(args: list[str]) -> str | None:
    """The command named on the command line: its first word that is neither an option nor a root
    option's value."""
    words = iter(args)
    for arg in words:
        if arg in _ROOT_VALUE_OPTIONS:
            next(words, None)
        elif not arg.startswith("-"):
            return arg
    return None


def main() -> None:
    command = _command(sys.argv[1:])
    app = build_app(command) if command in COMMANDS else help_app()
    try:
        app()
    except Exception as exc:
        from warehouse.errors import storage_message

        line = storage_message(exc)
        if line is None:
            raise
        from pipeline.console import fail

        try:
            fail(line)
        except typer.Exit as done:
            sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
