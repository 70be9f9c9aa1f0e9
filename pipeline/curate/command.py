"""`stratagem curate`: the curate stage's command (the stage: pipeline/curate/stage.py).

    stratagem curate                          # the default policy (pipeline/curate/policies/default.toml)
    stratagem curate --policy my-policy.toml
    stratagem curate --print-default-policy > my-policy.toml   # the documented default, to edit
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import RootOpt, console, fail, lake_for, print_report, progress
from pipeline.curate.policy import DEFAULT_POLICY, PolicyError, load_policy
from pipeline.curate.stage import CurateError, curate
from schemas import TaxonomyError


def register(app: typer.Typer) -> None:
    @app.command("curate")
    def curate_command(
        policy_file: Annotated[Path | None, typer.Option(
            "--policy", help="Curation policy TOML (default: pipeline/curate/policies/default.toml, documented there).",
            show_default=False)] = None,
        root: RootOpt = None,
        print_default: Annotated[bool, typer.Option(
            "--print-default-policy", help="Print the documented default policy (to copy and edit), then exit.")] = False,
    ) -> None:
        """Resolve consensus spans, pick a strategy and a trajectory per problem, apply the filters,
        collapse near-duplicates and assign leak-free family splits; record the curated set with its run."""
        if print_default:
            typer.echo(DEFAULT_POLICY.read_text(encoding="utf-8"), nl=False)
            return
        try:
            policy = load_policy(policy_file)
        except PolicyError as exc:
            fail(str(exc))
        with lake_for(root, holder="curate") as lake, progress(transient=True) as bar:
            try:
                report = curate(lake, policy, progress=bar)
            except (CurateError, TaxonomyError, ValueError) as exc:
                fail(str(exc).splitlines()[0])
        print_report(report)
        if unknown := report.counts.get("dropped.unknown"):
            console.print(f"note: {unknown:,} {'trajectory' if unknown == 1 else 'trajectories'} left out because "
                          "the verdict is unknown (no final answer found with enough confidence); "
                          '`stratagem status` samples them, policy [filters] unknown = "include" keeps them',
                          markup=False, highlight=False)
        if not report.counts.get("accepted"):
            console.print("[yellow]warning:[/] the curated set is empty: nothing passed the policy "
                          "(see the dropped.* counts); `stratagem export` will refuse it")

