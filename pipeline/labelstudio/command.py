"""CLI: `stratagem labelstudio start|stop|status` and `stratagem review push|pull`.

    stratagem labelstudio start                  # local server on 127.0.0.1:8080, prints URL, login, token
    stratagem review push --select random --limit 100 --predictions rules --annotators-per-task 2
    stratagem labelstudio user add ann1@example.org --password-file pw.txt   # or the password on stdin
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
from pipeline.labelstudio.push import DEFAULT_PROJECT, push, select_scored
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

    user = typer.Typer(help="Annotator accounts on a Label Studio server (free edition: every account is "
                            "an equal member of the one organisation; no roles).", no_args_is_help=True)
    ls.add_typer(user, name="user")

    @user.command("add")
    def user_add_command(
        email: Annotated[str, typer.Argument(help="The annotator's e-mail: their login, and their name in the lake "
                                                  "(ls:EMAIL).")],
        password_file: Annotated[Path | None, typer.Option(
            "--password-file", help="File whose first line is the password (else it is read from stdin, "
                                    "unechoed on a terminal). Never on the command line.")] = None,
        url: UrlOpt = None, token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV, folder: DirOpt = None,
    ) -> None:
        """Create an annotator account through the organisation's invite link (the free edition's sign-up).

        The free edition cannot give roles (every account can see and edit every project and
        annotation of the organisation) or assign tasks to people; the labelling stream and the
        project's overlap (`review push --annotators-per-task`) keep people apart in practice."""
        from pipeline.labelstudio.accounts import AccountError, add_user, read_password

        try:
            password = read_password(password_file)
            with connect(url, token_env, folder) as client:
                add_user(client, email, password)
        except (AccountError, ReviewError) as exc:
            fail(str(exc))
        out.print(f"account {email} created on {client.url}")
        out.print(f"log in at {client.url}/user/login/ with {email} and the password you chose; open the project "
                  f"and press 'Label All Tasks' (it shows only your own annotations). Their work is pulled as "
                  f"annotator ls:{email}.")

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
        annotators_per_task: Annotated[int, typer.Option(
            "--annotators-per-task",
            help="How many people annotate each task independently (the project's overlap). Each starts from "
                 "the predictions in the labelling stream (Label All Tasks), which shows only their own "
                 "annotation. The free edition has no roles or task assignment: anyone can open any task in "
                 "the Data Manager and see every annotation there, so ask annotators to use Label All Tasks.",
        )] = 1,
        url: UrlOpt = None, token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV, folder: DirOpt = None,
        taxonomy: TaxonomyOpt = None, root: RootOpt = None,
    ) -> None:
        """Create or update the review project and import pre-annotated tasks (idempotent).

        Each task shows why it was selected, each predicted span its confidence, the guidelines
        (from the taxonomy) in the Instructions panel; the problem, the strategy choice and the
        rating are on a trajectory's first part only."""
        tax = _taxonomy(taxonomy)
        if k < 1 or max_chars < 100 or annotators_per_task < 1:
            fail("--k must be >= 1, --max-chars >= 100 and --annotators-per-task >= 1")
        try:
            ids = None
            # user SQL runs sandboxed, before the lake is opened for writing; uncertain needs no server to fail
            if select.startswith("sql:") or select == "uncertain":
                with lake_for(root, read_only=True) as ro:
                    ids = select_scored(ro, select, limit, predictions, seed)
            with connect(url, token_env, folder) as client, lake_for(root, holder="review push") as lake, \
                    progress() as bar:
                report, pid = push(lake, client, tax, select=select, limit=limit, predictions=predictions,
                                   project=project, k=k, max_chars=max_chars, seed=seed, progress=bar, ids=ids,
                                   annotators_per_task=annotators_per_task)
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
