"""`stratagem sample`: write the built-in sample (procedural problems, variants and teacher
trajectories with gold strategy spans) as a Sample JSONL file.

    stratagem sample --n 100 --seed 0 --out sample.jsonl
    stratagem sample --n 20 --variants numbers,reversed --trajectories 2 --out small.jsonl
    stratagem sample --n 400 --families lookup --out short.jsonl     # the demo's short-form family
    stratagem ingest sample.jsonl --mapping stratagem-sample
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import fail, out, progress
from pipeline.sample.generate import check_families, check_variants, records_per_seed, write_sample
from pipeline.sample.families import FAMILIES, SHORT_FAMILIES
from pipeline.sample.perturb import PERTURBATIONS

HELP = (f"Generate the built-in sample: math word problems in {len(FAMILIES)} families ({', '.join(FAMILIES)}), "
        f"GSM-Plus-style variants ({', '.join(PERTURBATIONS)}) with exact answers, and a procedural teacher's "
        "step-by-step solutions with gold strategy spans (about 10% end with a wrong answer). "
        f"Short-form families ({', '.join(SHORT_FAMILIES)}: one-line solutions a tiny model can learn, "
        "as `stratagem demo` trains on) are chosen with --families.\n\n"
        "Writes the \"Sample JSONL\" format that `stratagem ingest --mapping stratagem-sample` reads.")


def _variants(text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    if text.strip().lower() == "all":
        return PERTURBATIONS
    try:
        return check_variants(part.strip() for part in text.split(",") if part.strip())
    except ValueError as exc:
        fail(f"--variants: {exc}")


def _check_out(dest: Path) -> None:
    parent = dest.parent if str(dest.parent) else Path(".")
    if dest.is_dir():
        fail(f"--out {dest} is a directory; give a file name such as {dest / 'sample.jsonl'}")
    if not parent.is_dir():
        fail(f"--out {dest}: {parent} is not an existing folder")
    if not os.access(parent, os.W_OK) or (dest.exists() and not os.access(dest, os.W_OK)):
        fail(f"--out {dest}: not writable")


def register(app: typer.Typer) -> None:
    @app.command("sample", help=HELP)
    def sample_command(
        dest: Annotated[Path, typer.Option("--out", help="JSONL file to write (replaced atomically).",
                                           show_default=False)],
        n: Annotated[int, typer.Option("--n", help="Number of SEED problems; each adds its variants, so the file "
                                                   "holds n x (1 + #variants) x trajectories records.")] = 100,
        seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives byte-identical output.")] = 0,
        variants: Annotated[str, typer.Option(
            "--variants", help=f"Comma-separated perturbations besides the original: {', '.join(PERTURBATIONS)}; "
                               "'all' (default) or 'none'.")] = "all",
        trajectories: Annotated[int, typer.Option("--trajectories", help="Teacher trajectories per problem.")] = 1,
        families: Annotated[str, typer.Option(
            "--families", help="Comma-separated family names; default: every long-form family. A family makes "
                               "only the variants it has (lookup: numbers, names, distractor).")] = "",
    ) -> None:
        """Generate the built-in sample (see HELP)."""
        if n <= 0:
            fail(f"--n must be a positive number of seed problems, got {n}")
        if trajectories <= 0:
            fail(f"--trajectories must be at least 1, got {trajectories}")
        chosen = _variants(variants)
        names = [part.strip() for part in families.split(",") if part.strip()] or None
        try:
            check_families(names)
        except ValueError as exc:
            fail(f"--families: {exc}")
        _check_out(dest)
        try:
            with progress(transient=True) as bar:
                task = bar.add_task("sample", total=n)
                count = write_sample(dest, n, seed, chosen, trajectories, on_seed=lambda _i: bar.advance(task),
                                     families=names)
        except OSError as exc:
            fail(f"cannot write {dest}: {exc.strerror or exc}")
        per = records_per_seed(chosen, trajectories, names)
        out.print(f"wrote {count:,} records ({n:,} seed problems x up to {per} each) to {dest}" if count != n * per
                  else f"wrote {count:,} records ({n:,} seed problems x {per} each) to {dest}", highlight=False)
