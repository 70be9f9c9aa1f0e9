"""CLI: `stratagem labelstudio start|stop|status` and `stratagem review push|pull`.

    stratagem labelstudio start                  # local server on 127.0.0.1:8080, prints URL, login, token
    stratagem review push --select random --limit 100 --predictions rules
    stratagem review push --select sql:"SELECT trajectory_id FROM trajectories WHERE n_chars > 5000"
    stratagem review pull
    stratagem review pull --url http://ls.example:8080   # token from $LABEL_STUDIO_API_KEY
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import RootOpt, console, fail, lake_for, out, print_report, progress
from pipeline.labelstudio import server
from pipeline.labelstudio.client import DEFAULT_TOKEN_ENV, ReviewError, connect
from pipeline.labelstudio.push import DEFAULT_PROJECT, push, select_trajectories
from pipeline.labelstudio.pull import pull

DirOpt = Annotated[Path | None, typer.Option(
    "--dir", help="Folder of the managed server (default $STRATAGEM_CACHE/labelstudio/server or "
                  "~/.cache/stratagem/labelstudio/server).", show_default=False)]
UrlOpt = Annotated[str | None, typer.Option(
    "--url", help="An existing Label Studio server instead of the managed one (token from --token-env).")]
TokenEnvOpt = Annotated[str, typer.Option(
    "--token-env", help="Environment variable holding the API token for --url.")]
ProjectOpt = Annotated[str, typer.Option("--project", help="Label Studio project title.")]
TaxonomyOpt = Annotated[Path | None, typer.Option(
    "--taxonomy", help="Taxonomy TOML (default: the packaged one).", show_default=False)]


def _taxonomy(path: Path | None):
    from schemas import TaxonomyError, load_taxonomy

    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    ls = typer.Typer(help="Run a local Label Studio server (its own virtualenv, loopback only, telemetry off).",
                     no_args_is_help=True)
    review = typer.Typer(help="Human review in Label Studio: push pre-annotated tasks, pull annotations back.",
                         no_args_is_help=True)
    app.add_typer(ls, name="labelstudio")
    app.add_typer(review, name="review")

    @ls.command("start")
    def start_command(port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = server.DEFAULT_PORT,
                      folder: DirOpt = None) -> None:
        """Start the managed server (installs label-studio into its own venv on first use, ~80 s)."""
        try:
            info = server.start(port, folder, log=lambda msg: console.print(f"[dim]{msg}[/]"))
        except server.ServerError as exc:
            fail(str(exc))
        out.print(f"Label Studio {server.LS_VERSION} at {info.url} (pid {info.pid})")
        out.print(f"login     {info.username} / {info.password}")
        out.print(f"API token {info.token}")
        out.print(f"(stored mode 0600 in {Path(info.folder) / 'credentials.json'})")

    @ls.command("stop")
    def stop_command(folder: DirOpt = None) -> None:
        """Stop the managed server (only the process this tool started)."""
        out.print("stopped" if server.stop(folder) else "no managed Label Studio was running")

    @ls.command("status")
    def status_command(folder: DirOpt = None,
                       as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
        """Show whether the managed server runs, and where (no secrets printed)."""
        info = server.status(folder)
        if as_json:
            out.print_json(json.dumps(info.public() if info else None))
        elif info is None:
            out.print("not running")
        else:
            out.print(f"running at {info.url} (pid {info.pid}, folder {info.folder}, login {info.username})")

    @review.command("push")
    def push_command(
        select: Annotated[str, typer.Option(
            "--select", help="random | disagreement (annotators differ) | low-confidence | uncertain (most "
                             "uncertain first under the learned tagger: `stratagem tagger train`) | "
                             "sql:\"SELECT trajectory_id FROM ...\".")] = "random",
        limit: Annotated[int, typer.Option("--limit", help="Number of trajectories to push.")] = 100,
        predictions: Annotated[str | None, typer.Option(
            "--predictions", help="Annotator whose current spans are shown pre-filled (e.g. rules).")] = None,
        project: ProjectOpt = DEFAULT_PROJECT,
        k: Annotated[int, typer.Option("--k", help="Candidate strategy descriptions shown per task.")] = 5,
        max_chars: Annotated[int, typer.Option(
            "--max-chars", help="Longer texts are split into linked tasks of at most this many characters.")] = 8000,
        seed: Annotated[int, typer.Option("--seed", help="Seed of --select random.")] = 0,
        url: UrlOpt = None, token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV, folder: DirOpt = None,
        taxonomy: TaxonomyOpt = None, root: RootOpt = None,
    ) -> None:
        """Create or update the review project and import pre-annotated tasks (idempotent)."""
        tax = _taxonomy(taxonomy)
        if k < 1 or max_chars < 100:
            fail("--k must be >= 1 and --max-chars >= 100")
        try:
            ids = None
            # user SQL runs sandboxed, before the lake is opened for writing; uncertain needs no server to fail
            if select.startswith("sql:") or select == "uncertain":
                with lake_for(root, read_only=True) as ro:
                    ids = select_trajectories(ro, select, limit, predictions, seed)
            with connect(url, token_env, folder) as client, lake_for(root, holder="review push") as lake, \
                    progress() as bar:
                report, pid = push(lake, client, tax, select=select, limit=limit, predictions=predictions,
                                   project=project, k=k, max_chars=max_chars, seed=seed, progress=bar, ids=ids)
        except ReviewError as exc:
            fail(str(exc))
        print_report(report)
        out.print(f"project {project!r}: {client.url}/projects/{pid}")

    @review.command("pull")
    def pull_command(
        project: ProjectOpt = DEFAULT_PROJECT,
        full: Annotated[bool, typer.Option("--full", help="Re-read every task, not only those changed.")] = False,
        url: UrlOpt = None, token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV, folder: DirOpt = None,
        taxonomy: TaxonomyOpt = None, root: RootOpt = None,
    ) -> None:
        """Bring new, edited and deleted annotations into the lake (one transaction)."""
        tax = _taxonomy(taxonomy)
        try:
            with connect(url, token_env, folder) as client, lake_for(root, holder="review pull") as lake:
                report = pull(lake, client, tax, project=project, full=full)
        except ReviewError as exc:
            fail(str(exc))
        print_report(report)
