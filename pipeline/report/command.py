"""`stratagem report`: write the static HTML report of a lake, an export, trainer runs and an eval.

    stratagem report                                   # everything found under the root -> <root>/report.html
    stratagem report --export demo --runs runs/sft --runs runs/sgpo --eval runs/eval.json --out report.html

Without flags the report picks up, under the root: the newest export in exports/, every
folder in runs/ holding a metrics.jsonl (and its signal.json when the trainer wrote one),
runs/eval.json, and demo.json's one-sentence claim in a demo root. Flags given explicitly
must point at something that exists.
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import RootOpt, console, fail, lake_for, out
from pipeline.report.gather import ReportError
from pipeline.report.render import build_report
from warehouse import resolve_root
from warehouse.catalog import resolve_catalog


def _export_dir(root: Path, name: str | None) -> Path | None:
    exports = root / "exports"
    if name is None:
        found = [p.parent for p in exports.glob("*/manifest.json")]
        if not found:
            return None

        def created(folder: Path) -> str:
            try:
                return str(json.loads((folder / "manifest.json").read_text()).get("created_at") or "")
            except (OSError, json.JSONDecodeError):
                return ""
        return max(found, key=lambda p: (created(p), p.name))
    from pipeline.export.stage import check_name
    from schemas.export import ExportError

    try:
        check_name(name)
    except ExportError as exc:
        fail(str(exc))
    folder = exports / name
    if not (folder / "manifest.json").is_file():
        known = sorted(p.parent.name for p in exports.glob("*/manifest.json"))
        fail(f"no export {name!r} under {exports} (exports there: {', '.join(known) or 'none'})")
    return folder


def _run_dirs(root: Path, given: list[Path] | None) -> list[Path]:
    if not given:
        return sorted(p.parent for p in (root / "runs").glob("*/metrics.jsonl"))
    for folder in given:
        if not (folder / "metrics.jsonl").is_file():
            fail(f"--runs {folder}: not a trainer run folder (no metrics.jsonl there)")
    return list(given)


def _eval_json(root: Path, given: Path | None) -> Path | None:
    if given is None:
        default = root / "runs" / "eval.json"
        return default if default.is_file() else None
    if not given.is_file():
        fail(f"--eval {given}: no such file (write one with `stratagem eval --json FILE`)")
    return given


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_command(
        root: RootOpt = None,
        export: Annotated[str | None, typer.Option(
            "--export", metavar="NAME", help="Export name under <root>/exports (default: the newest one there, if any).",
            show_default=False)] = None,
        runs: Annotated[list[Path] | None, typer.Option(
            "--runs", metavar="DIR", help="Trainer output folder holding metrics.jsonl (repeatable; default: every one under "
                           "<root>/runs).", show_default=False)] = None,
        eval_file: Annotated[Path | None, typer.Option(
            "--eval", metavar="FILE", help="JSON written by `stratagem eval --json` (default: <root>/runs/eval.json if present).",
            show_default=False)] = None,
        out_file: Annotated[Path | None, typer.Option(
            "--out", metavar="FILE.html", help="HTML file to write (default: <root>/report.html).", show_default=False)] = None,
    ) -> None:
        """Write one static HTML file (plots embedded, no server, no network) showing counts per stage and
        quarantine reasons, strategy labels, spans per trajectory, agreement between annotators and gold,
        trajectories with coloured spans, strategy descriptions with their leakage checks, training curves
        and accuracy on original versus perturbed problems.

        Also: the current verdicts (newest checker version) by source and teacher and by extraction
        method with a sample of incorrect and unknown rows; each trainer run's learning-signal
        figures and warning from its signal.json; in a demo root, what the demo shows (demo.json);
        the annotation team's lead's page; the learned tagger (the latest `tagger train` run's model,
        training counts and held-out learning curve against the rules tagger)."""
        lake_root = resolve_root(root)
        export_dir = _export_dir(lake_root, export)
        run_dirs = _run_dirs(lake_root, runs)
        eval_json = _eval_json(lake_root, eval_file)
        target = out_file or lake_root / "report.html"
        has_lake = resolve_catalog(lake_root).exists()
        if not has_lake and export_dir is None and not run_dirs and eval_json is None:
            fail(f"nothing to report: no lake, export, trainer run or eval report at {lake_root} "
                 "(run `stratagem demo`, or pass --root)")
        with (lake_for(root, read_only=True) if has_lake else nullcontext()) as lake:
            with console.status("building the report"):
                try:
                    path = build_report(lake, export_dir=export_dir, run_dirs=run_dirs, eval_json=eval_json,
                                        out=target)
                except ReportError as exc:
                    fail(str(exc))
                except OSError as exc:
                    fail(f"cannot write {target}: {exc.strerror or exc}")
        out.print(f"report written to {path.resolve()}", highlight=False, soft_wrap=True)
