"""A lake whose data files live on object storage: `--data-path s3://BUCKET/PREFIX`, credentials
from the environment only (warehouse/datapath.py).

moto's standalone server (`moto[server]`, a real HTTP S3 API on 127.0.0.1) stands in for S3 here:
there is no MinIO or AWS account on this machine. It is reached the way any S3-compatible store
is, through AWS_ENDPOINT_URL (path-style requests, no TLS for http://); nothing in the code is
specific to moto. The catalog is the SQLite default under the root; every command runs in its own
process, as a user would run them, with the credentials only in its environment.

    .venv/bin/python -m pytest tests/test_s3.py -q
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from net import free_port
from warehouse import Lake, LakeError
from warehouse.datapath import resolve_data_path
from warehouse.errors import first_line

pytest.importorskip("moto.server", reason="moto[server] (a dev dependency) is not installed: the S3 tests need its server")
boto3 = pytest.importorskip("boto3", reason="boto3 (with moto[server]) is not installed")

BUCKET = "stratagem-lakes"
PREFIX = "team/lake-a"
DATA_PATH = f"s3://{BUCKET}/{PREFIX}"
SECRET = "sEcReT-" + secrets.token_hex(12)   # what must never be stored or printed
TOKEN = "ToKeN-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free loopback port for the session; its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _client(url).list_buckets()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _client(url: str):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id="AKIDTEST", aws_secret_access_key=SECRET,
                        region_name="us-east-1")


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATAGEM_"))}
    env.update(AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY=SECRET, AWS_SESSION_TOKEN=TOKEN,
               AWS_REGION="us-east-1", AWS_ENDPOINT_URL=url, **extra)
    return env


def _keys(url: str, bucket: str = BUCKET) -> list[str]:
    pages = _client(url).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _stratagem(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"stratagem {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _no_secret_under(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and TOKEN.encode() not in data, path


def test_the_pipeline_runs_with_its_data_on_s3(s3_endpoint, tmp_path, monkeypatch):
    _client(s3_endpoint).create_bucket(Bucket=BUCKET)
    _client(s3_endpoint).put_object(Bucket=BUCKET, Key="team/lake-b/keep.txt", Body=b"another lake's")
    root = tmp_path / "lake"
    env = _env(s3_endpoint, STRATAGEM_ROOT=str(root))
    sample = tmp_path / "sample.jsonl"
    outputs = []
    for args in (["sample", "--n", "20", "--seed", "0", "--out", str(sample)],
                 ["ingest", str(sample), "--mapping", "stratagem-sample"],
                 ["verify"], ["annotate"], ["describe"], ["curate"], ["export", "v1"],
                 ["status"], ["sql", "SELECT count(*) AS n FROM trajectories"]):
        outputs.append(_stratagem("--data-path", DATA_PATH, *args, env=env))
    records = len(sample.read_text().splitlines())  # one trajectory each
    assert str(records) in outputs[-1].stdout  # read back by a fresh read-only process

    # the data files are on S3, under the prefix only; nothing went to a local data folder
    keys = _keys(s3_endpoint)
    ours = [k for k in keys if k.startswith(PREFIX + "/")]
    assert {k.split("/")[-2] for k in ours} >= {"problems", "trajectories", "verdicts", "spans", "curated", "runs"}
    assert all(k.rsplit("/", 1)[-1].startswith("ducklake-") and k.endswith(".parquet") for k in ours)
    assert sorted(set(keys) - set(ours)) == ["team/lake-b/keep.txt"]
    assert not (root / "data").exists()
    assert (root / "exports" / "v1" / "manifest.json").is_file()

    # another process (this one) reads it read-only, sandboxed to the prefix
    monkeypatch.delenv("STRATAGEM_DATA_PATH", raising=False)
    for k, v in _env(s3_endpoint).items():
        monkeypatch.setenv(k, v)
    with Lake.open(root, read_only=True, data_path=DATA_PATH) as lake:
        assert lake.count("trajectories") == records and lake.count("curated") > 0
        assert lake.data_path.url == DATA_PATH + "/"
        one = next(k for k in ours if "/problems/" in k)
        assert lake.scalar(f"SELECT count(*) FROM read_parquet('s3://{BUCKET}/{one}')") > 0  # past the allow-list:
        with pytest.raises(LakeError, match="(?i)permission|not allowed|disabled"):       # the sandbox
            lake.rows(f"SELECT * FROM read_text('s3://{BUCKET}/team/lake-b/keep.txt')")
        stored = {t: lake.rows(f'SELECT * FROM "{t}"') for t in lake.table_names()}
        assert stored["runs"] and SECRET not in repr(stored) and TOKEN not in repr(stored)
        assert lake.rows("SELECT value FROM __ducklake_metadata_lake.ducklake_metadata WHERE key = 'data_path'") \
            == [(DATA_PATH + "/",)]

    # the secret is nowhere: not in what was printed, the root (catalog, exports), or the bucket
    printed = "".join(p.stdout + p.stderr for p in outputs)
    assert SECRET not in printed and TOKEN not in printed
    _no_secret_under(root)
    for key in keys:
        body = _client(s3_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert SECRET.encode() not in body and TOKEN.encode() not in body, key
    manifest = json.loads((root / "exports" / "v1" / "manifest.json").read_text())
    assert SECRET not in json.dumps(manifest)

    # without --data-path a command uses the one the catalog stored; a rerun is a no-op and leaves
    # a stray object under the prefix alone (no orphan sweep on S3)
    _client(s3_endpoint).put_object(Bucket=BUCKET, Key=f"{PREFIX}/main/problems/ducklake-stray.parquet", Body=b"x")
    rerun = _stratagem("ingest", str(sample), "--mapping", "stratagem-sample", env=env)
    after = _keys(s3_endpoint)
    assert "duplicates" in rerun.stdout and f"{PREFIX}/main/problems/ducklake-stray.parquet" in after
    assert not (root / "data").exists()
    assert DATA_PATH in _stratagem("status", env=env).stdout
    with Lake.open(root, read_only=True) as lake:
        assert lake.data_path.url == DATA_PATH + "/" and lake.count("trajectories") == records

    # wrong or missing settings: one line each, the secret never in it
    wrong = _stratagem("--data-path", f"s3://{BUCKET}/team/other", "status", env=env, check=False)
    nocred = _stratagem("--data-path", DATA_PATH, "status", check=False,
                        env={k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"})
    down = _stratagem("--data-path", DATA_PATH, "status", check=False,
                      env={**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    for proc, needle in ((wrong, f"pass --data-path {DATA_PATH}/"),
                         (nocred, "AWS_SECRET_ACCESS_KEY not set"), (down, "object storage failed")):
        assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, \
            proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
    assert _keys(s3_endpoint) == after  # and they wrote nothing


def test_a_local_lake_refuses_an_s3_data_path(lake_root, s3_endpoint, monkeypatch):
    monkeypatch.delenv("STRATAGEM_DATA_PATH", raising=False)
    for k, v in _env(s3_endpoint).items():
        monkeypatch.setenv(k, v)
    with Lake.open(lake_root) as lake:
        assert lake.data_path.local == lake_root / "data"
    with pytest.raises(LakeError, match="its root's data/ folder.*leave --data-path"):
        Lake.open(lake_root, read_only=True, data_path=DATA_PATH)


def test_the_secret_from_the_environment(tmp_path, monkeypatch):
    s3 = resolve_data_path(tmp_path, "s3://bucket/a/b/")
    assert s3.url == "s3://bucket/a/b/" and resolve_data_path(tmp_path, "s3://bucket").url == "s3://bucket/"
    assert resolve_data_path(tmp_path, "").url == f"{tmp_path}/data/"
    aws = s3.secret_sql({"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_DEFAULT_REGION": "eu-west-1"})
    # AWS itself: its default (virtual-host) style and TLS, no endpoint of ours
    assert "REGION 'eu-west-1'" in aws and "ENDPOINT" not in aws and "URL_STYLE" not in aws and "USE_SSL" not in aws
    assert "TEMPORARY" in aws and "SCOPE 's3://bucket/a/b/'" in aws
    compat = s3.secret_sql({"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "it's", "AWS_REGION": "auto",
                            "AWS_ENDPOINT_URL": "http://ignored:1", "AWS_ENDPOINT_URL_S3": "https://s3.example.com:9443/"})
    assert "ENDPOINT 's3.example.com:9443'" in compat and "USE_SSL true" in compat and "URL_STYLE 'path'" in compat
    assert "SECRET 'it''s'" in compat
    plain = s3.secret_sql({"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_ENDPOINT_URL": "http://h:9000"})
    assert "ENDPOINT 'h:9000'" in plain and "USE_SSL false" in plain
    with pytest.raises(LakeError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set"):
        s3.secret_sql({})
    with pytest.raises(LakeError, match="AWS_ENDPOINT_URL must be") as bad:
        s3.secret_sql({"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_ENDPOINT_URL": "h:9000"})
    assert "SK" not in str(bad.value)
    for spec in ("gs://b/x", "s3://", "s3:///x", "s3://b/../x", "s3://b/x//y", "s3://b/x*", "s3://b/a b"):
        with pytest.raises(LakeError):
            resolve_data_path(tmp_path, spec)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)  # a server's error body may echo signed headers
    assert first_line(RuntimeError(f"403 <CanonicalRequest>x-amz-security-token:{TOKEN}")) == \
        "403 <CanonicalRequest>x-amz-security-token:<AWS_SESSION_TOKEN>"
