"""Where a lake's Parquet data files live: `--data-path` / `$STRATAGEM_DATA_PATH`, else `<root>/data/`.

    data = resolve_data_path(root, None)                       # local: <root>/data/
    data = resolve_data_path(root, "s3://bucket/team/lake")    # object storage: s3://bucket/team/lake/
    data.secret_sql(os.environ)                                # CREATE TEMPORARY SECRET ... (s3 only)

An s3:// data path is read and written by DuckDB's `httpfs` extension (the wheel
`duckdb-ext-httpfs` ships it). Credentials come from the environment only, the variables the
AWS CLI and boto3 read:

    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   required
    AWS_SESSION_TOKEN                          temporary credentials
    AWS_REGION, else AWS_DEFAULT_REGION        the bucket's region (DuckDB's default: us-east-1)
    AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL an S3-compatible store (MinIO, Ceph, R2, ...):
                                               http(s)://HOST[:PORT]; the scheme sets TLS, and
                                               requests use path-style URLs. Without it: AWS
                                               itself, virtual-host style (AWS's default).

They become a temporary DuckDB secret (in memory, scoped to this data path), so they are never
in the catalog (which stores only the data path), the runs table, logs, error messages or
exports. A moved or copied root keeps a local data folder (DuckLake stores file paths relative
to it); an s3:// path is stored in the catalog: later opens that name no data path use it, and
one that names another is refused (warehouse.connect).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from warehouse.catalog import sql_literal
from warehouse.errors import LakeError

DATA_PATH_ENV = "STRATAGEM_DATA_PATH"
SECRET_NAME = "stratagem_s3"
_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
_PATTERN_CHARS = set("*?[]{}")  # DuckDB reads these in a file path as a glob


@dataclass(frozen=True)
class DataPath:
    """A resolved data path: `url` (ends with "/"; a local folder's absolute path, or
    s3://BUCKET/PREFIX/), safe to print and store. `implicit`: nobody named it (the default
    <root>/data/), so the path the catalog stored is used instead (warehouse.connect)."""

    url: str
    implicit: bool = field(default=False, compare=False)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @property
    def local(self) -> Path | None:
        """The local data folder, None on object storage."""
        return None if self.is_s3 else Path(self.url)

    @property
    def extensions(self) -> tuple[str, ...]:
        return ("httpfs",) if self.is_s3 else ()

    def secret_sql(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The CREATE SECRET statement that lets DuckDB reach this data path with the credentials
        in `environ` (default os.environ); None for a local path. LakeError (one line, naming the
        variable, never a value) when a credential is missing or the endpoint is malformed."""
        if not self.is_s3:
            return None
        env = os.environ if environ is None else environ
        missing = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(k)]
        if missing:
            raise LakeError(f"data path {self.url} needs S3 credentials in the environment: {' and '.join(missing)} "
                            "not set (also AWS_SESSION_TOKEN for temporary credentials, AWS_REGION, and "
                            "AWS_ENDPOINT_URL for an S3-compatible store)")
        opts = {"KEY_ID": env["AWS_ACCESS_KEY_ID"], "SECRET": env["AWS_SECRET_ACCESS_KEY"]}
        if env.get("AWS_SESSION_TOKEN"):
            opts["SESSION_TOKEN"] = env["AWS_SESSION_TOKEN"]
        region = next((env[k] for k in _REGION_ENVS if env.get(k)), None)
        if region:
            opts["REGION"] = region
        name, endpoint = next(((k, env[k]) for k in _ENDPOINT_ENVS if env.get(k)), (None, None))
        sql_opts = [f"{k} {sql_literal(v)}" for k, v in opts.items()]
        if endpoint:
            host, use_ssl = _endpoint(name, endpoint)
            sql_opts += [f"ENDPOINT {sql_literal(host)}", f"USE_SSL {'true' if use_ssl else 'false'}",
                         "URL_STYLE 'path'"]
        sql_opts.append(f"SCOPE {sql_literal(self.url)}")
        return f"CREATE OR REPLACE TEMPORARY SECRET {SECRET_NAME} (TYPE s3, {', '.join(sql_opts)})"


def _endpoint(name: str, url: str) -> tuple[str, bool]:
    """HOST[:PORT] and whether TLS is on, from an endpoint URL like boto3 takes one."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.path not in ("", "/") \
            or parts.query or parts.username:
        raise LakeError(f"{name} must be http://HOST[:PORT] or https://HOST[:PORT] (an S3-compatible "
                        "endpoint, as boto3 takes it)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return (f"{host}:{port}" if port else host), parts.scheme == "https"


def resolve_data_path(root: Path, spec: str | None = None) -> DataPath:
    """The data path `spec` names, else `$STRATAGEM_DATA_PATH`, else `<root>/data/`."""
    spec = (spec if spec is not None else os.environ.get(DATA_PATH_ENV, "")).strip()
    if not spec:
        return DataPath(str(root / "data") + "/", implicit=True)
    if not spec.startswith("s3://"):
        raise LakeError(f"data path {spec!r}: expected s3://BUCKET/PREFIX (the default, <root>/data, needs no flag)")
    bucket, _, prefix = spec[len("s3://"):].partition("/")
    segments = [s for s in prefix.rstrip("/").split("/")] if prefix.rstrip("/") else []
    if not bucket or any(s in ("", ".", "..") for s in segments) or _PATTERN_CHARS & set(spec) \
            or any(c.isspace() or ord(c) < 32 for c in spec):
        raise LakeError(f"data path {spec!r}: expected s3://BUCKET/PREFIX, with no empty, '.' or '..' "
                        "segment, spaces or pattern characters (* ? [ ] { })")
    return DataPath("s3://" + "/".join([bucket, *segments]) + "/")
