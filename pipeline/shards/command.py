"""`stratagem run`: a stage's N shards at once (the fan-out: pipeline/shards/fanout.py).

    stratagem --catalog postgres://me@db:5432/lake run annotate --shards 4                  # 4 local processes
    stratagem --catalog postgres://me@db:5432/lake run annotate --shards 8 --ray --address auto \\
        --annotator llm --base-url http://vllm:8000/v1 --model M                            # 8 Ray tasks
"""
from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipeline.console import RootOpt, console, fail, lake_for, out, progress
from pipeline.shards.fanout import STAGES, FanOutError, ShardResult, fan_out


def register(app: typer.Typer) -> None:
    @app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def run_command(
        ctx: typer.Context,
        stage: Annotated[str, typer.Argument(help=f"The stage: {', '.join(STAGES)}.", show_default=False)],
        shards: Annotated[int, typer.Option("--shards", min=1, help="How many shards (workers).")] = 2,
        use_ray: Annotated[bool, typer.Option("--ray", help="Run each shard as a Ray task (pip install "
                                                            "'stratagem\\[ray]'); default: local processes.")] = False,
        address: Annotated[str | None, typer.Option(
            "--address", help="With --ray: the cluster to join (e.g. auto, or HEAD_IP:6379 of `ray start --head`); "
                              "default: a local Ray started for this run.", show_default=False)] = None,
        root: RootOpt = None,
    ) -> None:
        """Run a stage's shards at once (local processes or Ray tasks), each committing to the shared catalog.

        Shard I of N is `stratagem STAGE --shard I/N` (see `stratagem annotate --help`): the
        problems whose family hashes to I, so the shards never write the same rows. Every
        option after STAGE that `run` does not know goes to the stage (--annotator, --base-url,
        --batch-size, ...). More than one shard needs a catalog several processes write at
        once: --catalog postgres://USER@HOST:PORT/DB (a sqlite or duckdb catalog takes one
        writer at a time). The lake's schema is brought up to date once before the shards
        start. With --ray each shard is a Ray task on any node of the cluster; every node needs
        stratagem installed, the same --root path (for its lock files and LLM cache), the
        catalog reachable and, for an s3:// --data-path, its own AWS_* variables (credentials
        never travel with a task). On a terminal, bars show the shards finished and the items
        all shards have committed (read from the catalog every 2 s, wherever the shards run).
        Prints each shard's counts; exit code 1 when a shard failed (rerun: each shard resumes
        where it stopped).
        """
        from warehouse import LakeError
        from warehouse.catalog import resolve_catalog
        from warehouse.lake import resolve_root

        if stage not in STAGES:
            fail(f"run: unknown stage {stage!r}; shardable stages are {', '.join(STAGES)}")
        if any(a == "--shard" or a.startswith("--shard=") for a in ctx.args):
            fail("run sets --shard itself (shard I of --shards N); leave it out")
        if address and not use_ray:
            fail("--address needs --ray")
        root = resolve_root(root)
        try:
            catalog = resolve_catalog(root)
        except LakeError as exc:
            fail(str(exc))
        if shards > 1 and not catalog.shared:
            fail(f"--shards {shards} needs a catalog several processes write at once: --catalog "
                 f"postgres://USER@HOST:PORT/DB (this lake's catalog is {catalog.kind}, one writer at a time; "
                 "`stratagem lake migrate --to postgres://...` moves it)")
        with lake_for(root, holder="run (schema check before the shards start)"):
            pass  # creates or upgrades the schema once, so the shards find it up to date
        how = "ray" if use_ray else "processes"
        states: dict[str, str] = {}
        with progress() as bar:  # a bar over the shards (on a terminal) and a line per shard that ends
            task = bar.add_task(f"run {stage}: {shards} shards as {how}", total=shards)
            items = bar.add_task(f"run {stage}: items committed", total=None)

            def show(update: dict[str, str]) -> None:
                states.update(update)
                done = sum(s != "running" for s in states.values())
                bar.update(task, completed=done)
                for shard, state in update.items():
                    if state != "running":
                        console.print(f"run {stage}: shard {shard} {state} ({done}/{shards} finished)",
                                      highlight=False)
            try:
                results = fan_out(stage, list(ctx.args), shards, root=root, use_ray=use_ray, address=address,
                                  on_update=show, on_progress=lambda n: bar.update(items, completed=n))
            except FanOutError as exc:
                fail(str(exc))
        print_results(stage, results, how)
        failed = [r for r in results if r.exit_code]
        for r in failed:
            console.print(f"shard {r.shard} failed (exit {r.exit_code}): {r.error}", highlight=False, markup=False)
        if failed:
            raise typer.Exit(1)


def print_results(stage: str, results: list[ShardResult], how: str) -> None:
    """One column per shard and one for all of them: status, seconds and every count."""
    per_shard = [r.counts() for r in results]
    names = sorted({n for counts in per_shard for n in counts}, key=lambda n: (n != "read", n))
    table = Table(title=f"{stage}: {len(results)} shards as {how}")
    table.add_column("count")
    for r in results:
        table.add_column(r.shard, justify="right")
    table.add_column("all", justify="right")
    statuses = [",".join(sorted({run["status"] for run in r.runs})) or "-" for r in results]
    table.add_row("status", *(s if r.exit_code == 0 else f"failed ({s})" for r, s in zip(results, statuses)), "")
    table.add_row("seconds", *(f"{r.seconds:,.1f}" for r in results),
                  f"{max((r.seconds for r in results), default=0):,.1f}")
    for n in names:
        values = [counts.get(n, 0) for counts in per_shard]
        table.add_row(n, *(f"{v:,}" for v in values), f"{sum(values):,}")
    out.print(table)
