"""`stratagem mapping suggest`: write a mapping for a file or folder nobody has mapped yet.

    stratagem mapping suggest data/olympiad.jsonl                  # print the suggested TOML
    stratagem mapping suggest data/olympiad.jsonl --out olympiad.toml
    stratagem ingest data/olympiad.jsonl --mapping olympiad.toml
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import console, fail, out


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Ingest mappings: suggest one for a new dataset.", no_args_is_help=True,
                        rich_markup_mode="rich")

    @group.command("suggest")
    def suggest_command(
        path: Annotated[Path, typer.Argument(
            help="A data file (.jsonl, .json, .parquet, .csv), a folder of them, or a folder of per-problem "
                 "folders of JSON files.", show_default=False, readable=False)],
        dest: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Write the mapping to this .toml file (default: print it on standard output).")] = None,
        sample: Annotated[int, typer.Option(min=1, max=100_000, help="Records to look at.")] = 200,
        force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    ) -> None:
        """Guess a mapping from a sample of records: which fields hold the question, the answer and the solution(s).

        Recognises question/answer/solution records under the usual field names, chat `messages`, ShareGPT `conversations`, list-valued responses (one trajectory each), step lists (joined), nested solution objects, R1 `<think>` traces, verl / TRL / OpenRLHF export rows and folders of per-problem JSON files.

        Prints what it guessed and what it could not find (on standard error) and writes a commented TOML mapping that `stratagem ingest PATH --mapping FILE.toml` reads unchanged. Exit code 2 when the path cannot be read.
        """  # noqa: E501
        from pipeline.ingest.mapping import MappingError, load_mapping
        from pipeline.ingest.readers import InputError
        from pipeline.ingest.suggest import suggest

        if not path.exists():
            fail(f"{path}: no such file or directory")
        if dest is not None and dest.exists() and not force:
            fail(f"{dest} exists (pass --force to overwrite it)")
        try:
            s = suggest(path, sample=sample)
        except (InputError, MappingError, OSError) as exc:
            fail(str(exc))
        console.print(f"shape: {s.shape}", highlight=False, markup=False)
        for line in s.guessed:
            console.print(f"  guessed: {line}", highlight=False, markup=False, soft_wrap=True)
        for line in s.missing:
            console.print(f"  not found: {line}", highlight=False, markup=False, soft_wrap=True)
        if dest is None:
            out.print(s.toml, end="", highlight=False, markup=False, soft_wrap=True)
            return
        dest.write_text(s.toml, encoding="utf-8")
        try:
            load_mapping(dest)
        except MappingError as exc:  # a suggestion that does not load is a bug here: say so, keep the file
            fail(f"the suggested mapping does not load ({exc}); edit {dest}")
        console.print(f"wrote {dest}: stratagem ingest {path} --mapping {dest}", highlight=False, markup=False,
                      soft_wrap=True)

    app.add_typer(group, name="mapping")
