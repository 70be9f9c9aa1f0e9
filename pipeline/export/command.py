"""`stratagem export`: write, rebuild or verify an export folder.

    stratagem export gsm-v1                                  # -> <root>/exports/gsm-v1/
    stratagem export gsm-v1 --max-prompt-tokens 512 --tokenizer path/to/tokenizer.json --force
    stratagem export --rebuild <root>/exports/gsm-v1/manifest.json   # the lake: --root, else the one it sits in
    stratagem export --check <root>/exports/gsm-v1/manifest.json
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import RootOpt, console, fail, lake_for, out, progress
from pipeline.export.stage import DEFAULT_MAX_PROMPT_CHARS, check, export, rebuild
from pipeline.export.tokens import TokenizerError
from schemas import TaxonomyError
from schemas.export import ExportError
from warehouse.catalog import CATALOG_FILES


def _root_of(manifest: Path) -> Path | None:
    """The lake an export folder sits in (<root>/exports/NAME/manifest.json), if it is one."""
    candidate = manifest.resolve().parent.parent.parent
    return candidate if any((candidate / name).is_file() for name in CATALOG_FILES) else None


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        name: Annotated[str | None, typer.Argument(
            help="Export name: a plain folder name under <root>/exports/ (no '/', no '..').", show_default=False)] = None,
        root: RootOpt = None,
        curate_run: Annotated[str | None, typer.Option(
            "--curate-run", help="Curate run id to export (default: the latest successful one).")] = None,
        max_prompt_chars: Annotated[int, typer.Option(
            "--max-prompt-chars", min=1, help="Drop rows whose user prompt is longer (characters).")] = DEFAULT_MAX_PROMPT_CHARS,
        max_prompt_tokens: Annotated[int | None, typer.Option(
            "--max-prompt-tokens", min=1, help="Drop rows whose prompt has more tokens (needs --tokenizer).")] = None,
        tokenizer: Annotated[str | None, typer.Option(
            "--tokenizer", help="tokenizer.json, a folder holding one, or a model name in the local HF cache.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing export, an existing --out folder, or (with --rebuild in place) a folder holding files its manifest does not list.")] = False,
        rebuild_manifest: Annotated[Path | None, typer.Option(
            "--rebuild", help="Rebuild the export of this manifest.json from its recorded snapshot, byte for byte.")] = None,
        check_manifest: Annotated[Path | None, typer.Option(
            "--check", help="Verify the files of this manifest.json against their sha256; exit 2 if any differs.")] = None,
        out_dir: Annotated[Path | None, typer.Option(
            "--out", help="With --rebuild: write the rebuilt export here instead of in place.")] = None,
    ) -> None:
        """Export the curated set as a versioned folder: manifest.json, README.md dataset card with plots,
        data.parquet (all splits) and per split sft.trl.jsonl, rl.trl.jsonl, rl.verl.parquet, rl.openrlhf.jsonl.

        [bold]stratagem export v1[/] writes <root>/exports/v1/ from the latest curate run at the lake's current
        snapshot; [bold]--rebuild exports/v1/manifest.json[/] rewrites it byte for byte from the snapshot the
        manifest records; [bold]--check exports/v1/manifest.json[/] lists every file that differs."""
        modes = sum(x is not None for x in (name, rebuild_manifest, check_manifest))
        if modes != 1:
            fail("give exactly one of: an export NAME, --rebuild MANIFEST, --check MANIFEST")
        if out_dir is not None and rebuild_manifest is None:
            fail("--out only goes with --rebuild")
        try:
            if check_manifest is not None:
                problems = check(check_manifest)
                for line in problems:
                    out.print(line, highlight=False)
                if problems:
                    fail(f"{len(problems)} file(s) of {check_manifest.parent} differ from the manifest")
                out.print(f"all files of {check_manifest.parent} match {check_manifest.name}")
                return
            if root is None and rebuild_manifest is not None:
                root = _root_of(rebuild_manifest)
            with lake_for(root, read_only=True) as lake, progress() as bar:
                if rebuild_manifest is not None:
                    result = rebuild(lake, rebuild_manifest, out=out_dir, force=force, progress=bar)
                else:
                    result = export(lake, name, curate_run=curate_run, max_prompt_chars=max_prompt_chars,
                                    max_prompt_tokens=max_prompt_tokens, tokenizer=tokenizer, force=force,
                                    progress=bar)
        except (ExportError, TokenizerError, TaxonomyError) as exc:
            fail(str(exc))
        if result.mismatches:
            for line in result.mismatches:
                out.print(line, highlight=False)
            fail(f"rebuild of {rebuild_manifest} is not identical ({len(result.mismatches)} file(s)); nothing written")
        m = result.manifest
        verb = "rebuilt" if rebuild_manifest is not None else "exported"
        out.print(f"{verb} {sum(m['counts'].values()):,} rows to {result.path} (snapshot {m['snapshot_id']}, "
                  f"curate run {m['run_ids']['curate']})", highlight=False)
        out.print("  " + ", ".join(f"{k}: {v:,}" for k, v in m["counts"].items()), highlight=False)
        if m.get("rl_only"):
            out.print(f"  RL-only rows (no teacher trajectory): {sum(m['rl_only'].values()):,}", highlight=False)
        if m.get("skipped"):
            out.print(f"  skipped {', '.join(m['skipped'])}: no teacher trajectory, RL files only", highlight=False,
                      soft_wrap=True)
        if any(m["filtered"].values()):
            console.print("  filtered: " + ", ".join(f"{k}: {v:,}" for k, v in m["filtered"].items()), highlight=False)
