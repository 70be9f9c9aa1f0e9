"""A small Label Studio REST client (httpx) with the calls push and pull need, and one-line
errors for the things users get wrong.

    client = connect()                                   # the managed server (token from its 0600 file)
    client = connect(url="http://host:8080")             # an existing server, token from $LABEL_STUDIO_API_KEY
    client = connect(url=..., token_env="MY_LS_TOKEN")   # ... or from another variable

Tokens come only from the environment or the managed server's own folder; they are sent
as `Authorization: Token ...` and never logged or stored anywhere else.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterator

import httpx

from llm import public_url
from pipeline.labelstudio import server

DEFAULT_TOKEN_ENV = "LABEL_STUDIO_API_KEY"


class ReviewError(RuntimeError):
    """A Label Studio problem the user can act on, as one line."""


class LSClient:
    def __init__(self, url: str, token: str, *, timeout: float = 120.0):
        self.endpoint = url.rstrip("/")
        self.url = public_url(self.endpoint)  # without credentials: what is printed and stored in run configs
        self.http = httpx.Client(base_url=self.endpoint, headers={"Authorization": f"Token {token}"}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "LSClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ transport
    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kw) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise ReviewError(f"cannot reach Label Studio at {self.url} ({exc.__class__.__name__}): is it running? "
                              f"start one with `stratagem labelstudio start` or check --url") from exc
        except httpx.TimeoutException as exc:
            raise ReviewError(f"Label Studio at {self.url} did not answer in time ({method} {path})") from exc
        except httpx.TransportError as exc:
            raise ReviewError(f"connection to Label Studio at {self.url} failed: {exc}") from exc
        if resp.status_code == 401:
            raise ReviewError(f"Label Studio at {self.url} rejected the API token (401): use the legacy token "
                              f"from Account & Settings in ${DEFAULT_TOKEN_ENV} (or --token-env), and enable legacy "
                              f"tokens on the server (LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true)")
        if resp.status_code not in ok:
            raise ReviewError(f"Label Studio {method} {path} answered {resp.status_code}: {_detail(resp)}")
        return resp

    def json(self, method: str, path: str, **kw):
        resp = self.request(method, path, **kw)
        return resp.json() if resp.content else None

    # ------------------------------------------------------------ projects
    def whoami(self) -> dict:
        return self.json("GET", "/api/current-user/whoami")

    def project_by_title(self, title: str) -> dict | None:
        page = 1
        while True:
            resp = self.request("GET", "/api/projects", params={"title": title, "page": page, "page_size": 100},
                                ok=(200, 404))
            if resp.status_code == 404:
                return None
            body = resp.json()
            for project in body.get("results", []):
                if project.get("title") == title:
                    return project
            if not body.get("next"):
                return None
            page += 1

    def create_project(self, title: str, label_config: str, model_version: str | None) -> dict:
        payload = {"title": title, "label_config": label_config,
                   "description": "Created by `stratagem review push`; tasks are keyed on trajectory_id."}
        if model_version:
            payload["model_version"] = model_version
        return self.json("POST", "/api/projects", json=payload)

    def update_project(self, project_id: int, **fields) -> dict:
        return self.json("PATCH", f"/api/projects/{project_id}", json=fields)

    # ------------------------------------------------------------ tasks
    def iter_tasks(self, project_id: int, *, fields: str = "all", updated_since: str | None = None,
                   annotated: bool | None = None, page_size: int = 100,
                   on_page: Callable[[int], None] | None = None) -> Iterator[dict]:
        """Every task of a project, optionally only those updated after an ISO date (it must
        end in Z) and/or with (annotated=True) or without (False) annotations. The page past
        the end answers 404, which ends the iteration."""
        params: dict = {"project": project_id, "fields": fields, "page_size": page_size}
        items = []
        if updated_since:
            items.append({"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
                          "value": updated_since})
        if annotated is not None:
            items.append({"filter": "filter:tasks:total_annotations", "operator": "greater" if annotated else "equal",
                          "type": "Number", "value": 0})
        if items:
            params["query"] = json.dumps({"filters": {"conjunction": "and", "items": items}})
        page, seen = 1, 0
        while True:
            resp = self.request("GET", "/api/tasks", params=params | {"page": page}, ok=(200, 404))
            if resp.status_code == 404:
                return
            body = resp.json()
            tasks = body.get("tasks", [])
            yield from tasks
            seen += len(tasks)
            if on_page:
                on_page(page)
            if not tasks or seen >= body.get("total", 0):
                return
            page += 1

    def task(self, task_id: int) -> dict:
        """One task with its annotations (skipped ones included) and predictions."""
        return self.json("GET", f"/api/tasks/{task_id}")

    def import_tasks(self, project_id: int, tasks: list[dict]) -> int:
        body = self.json("POST", f"/api/projects/{project_id}/import", json=tasks)
        return int(body.get("task_count", 0))

    def update_task(self, task_id: int, data: dict) -> None:
        self.request("PATCH", f"/api/tasks/{task_id}", json={"data": data})

    def predictions(self, task_id: int) -> list[dict]:
        return self.json("GET", "/api/predictions", params={"task": task_id}) or []

    def delete_prediction(self, prediction_id: int) -> None:
        self.request("DELETE", f"/api/predictions/{prediction_id}", ok=(204, 404))

    def import_predictions(self, project_id: int, predictions: list[dict]) -> int:
        body = self.json("POST", f"/api/projects/{project_id}/import/predictions", json=predictions)
        return int(body.get("created", 0))

    # ------------------------------------------------------------ users
    def users(self) -> dict[int, str]:
        """user id -> email."""
        return {u["id"]: u.get("email") or u.get("username") or str(u["id"]) for u in self.json("GET", "/api/users")}

    def invite_user(self, email: str, password: str) -> str:
        """Sign a new annotator up through the organisation's invite link; returns their API token."""
        invite = self.json("GET", "/api/invite")["invite_url"]
        with httpx.Client(base_url=self.endpoint, timeout=60, follow_redirects=True) as session:
            form = session.get(invite)
            resp = session.post(str(form.url), headers={"Referer": str(form.url)}, data={
                "email": email, "password": password, "csrfmiddlewaretoken": session.cookies.get("csrftoken", ""),
                "how_find_us": "", "allow_newsletters": "false"})
            token = session.get("/api/current-user/token")
            if resp.status_code != 200 or token.status_code != 200:
                raise ReviewError(f"signing up {email} failed ({resp.status_code}/{token.status_code})")
            return token.json()["token"]


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip() or resp.reason_phrase
    if isinstance(body, dict):
        return str(body.get("validation_errors") or body.get("detail") or body)[:300]
    return str(body)[:300]


def connect(url: str | None = None, token_env: str = DEFAULT_TOKEN_ENV, folder: Path | None = None) -> LSClient:
    """A client for `url` with the token from `$token_env`, or for the managed server."""
    if url:
        token = os.environ.get(token_env)
        if not token:
            raise ReviewError(f"no API token: set ${token_env} (Label Studio > Account & Settings > legacy token)")
        return LSClient(url, token)
    info = server.status(folder)
    if info is None:
        raise ReviewError("no managed Label Studio is running: run `stratagem labelstudio start`, "
                          "or pass --url with a token in $" + token_env)
    return LSClient(info.url, info.token)
