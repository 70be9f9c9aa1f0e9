"""Storage failures through the real CLI (issue 15, defect 10): a full disk and an unwritable data
folder end in one line and exit code 2 with the lake as it was; a deleted `writer.lock` never
makes the busy message name the refused process itself."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse import Lake
from warehouse.errors import storage_message

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "STRATAGEM_ROOT"} | {"COLUMNS": "200"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _records(path: Path, n: int, chars: int = 200, tag: str = "r") -> Path:
    with path.open("w") as f:
        for i in range(n):
            noise = os.urandom(chars // 2).hex()  # incompressible: the Parquet files really grow
            f.write(json.dumps({"question": f"{tag} {i}: what is {i}+1?", "answer": str(i + 1),
                                "solution": f"{noise} so the answer is {i + 1}."}) + "\n")
    return path


def _cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=_env(), timeout=300)


def _one_line_exit_2(res: subprocess.CompletedProcess, *words: str) -> None:
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-3000:]
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _counts(root: Path) -> dict:
    with Lake.open(root, read_only=True) as lake:
        return {name: lake.count(name) for name in lake.table_names()}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "data").rglob("*")) if p.is_file()}


def test_storage_errors_from_each_layer_become_one_line(tmp_path):
    """The mapping at the layer where the errors arrive: the OSError pyarrow really raises on a
    full disk (`/dev/full` answers every write with ENOSPC; written only through an open file:
    DuckDB's COPY would replace the device with a rename, pyarrow given the path deletes it), DuckDB's
    IOException as DuckDB 1.4 words it (the tmpfs test below gets it for real), and the
    errno-carrying OSErrors Python raises."""
    if not Path("/dev/full").is_char_device():
        pytest.skip("/dev/full is not the full device here")
    errors = []
    try:  # through an open file: given a path, pyarrow deletes the file it failed to write
        with pa.OSFile("/dev/full", "wb") as sink:
            pq.write_table(pa.table({"a": [1]}), sink)
    except OSError as exc:
        errors.append(exc)
    assert len(errors) == 1 and errors[0].errno == errno.ENOSPC
    errors.append(duckdb.IOException('IO Error: Could not write file "/lake/data/x.parquet": No space left on device'))
    for exc in errors:
        assert "the disk is full" in storage_message(exc)
    wrapped = RuntimeError("stage failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device", "/lake/data/x.parquet")
    assert storage_message(wrapped).startswith("stopped: the disk is full (/lake/data/x.parquet);")
    assert "permission denied" in storage_message(PermissionError(errno.EACCES, "Permission denied", "/lake"))
    assert storage_message(ValueError("bad record")) is None
    assert storage_message(OSError(errno.ENOENT, "No such file or directory")) is None
    assert storage_message(duckdb.BinderException("column x not found")) is None


def test_a_full_disk_stops_ingest_in_one_line_and_keeps_the_lake(tmp_path):
    """A real full disk: a 6 MiB tmpfs mounted in a private user+mount namespace (no root needed,
    gone when the shell exits) holding a copy of a small lake; ingest 20 MB of text into it."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("no unprivileged user+mount namespaces here (unshare -rm): cannot mount a small tmpfs")
    base = tmp_path / "base"
    assert _cli("ingest", str(_records(tmp_path / "small.jsonl", 20)), "--mapping", "question-answer-solution",
                "--root", str(base)).returncode == 0
    big = _records(tmp_path / "big.jsonl", 10_000, chars=2000, tag="big")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = ('set -e; mount -t tmpfs -o size=6m tmpfs "$1"; cp -a "$2" "$1/lake"; '
              'before=$("$3" -m pipeline.cli status --json --root "$1/lake"); set +e; '
              '"$3" -m pipeline.cli ingest "$4" --mapping question-answer-solution --root "$1/lake" 2>"$1/err"; '
              'echo "rc=$?"; cat "$1/err" >&2; echo "$before"; "$3" -m pipeline.cli status --json --root "$1/lake"')
    res = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(mnt), str(base), sys.executable, str(big)],
                         capture_output=True, text=True, cwd=REPO, env=_env(), timeout=600)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    head, _, rest = res.stdout.partition("\n")
    assert head == "rc=2", res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "disk is full" in lines[0], res.stderr
    before, after = (json.loads("{" + part) for part in rest.strip().lstrip("{").split("\n{"))
    assert before == after and before["trajectories"] == 20


def _drop_dac_override() -> tuple[str, ...]:
    """As root, chmod stops nothing; without CAP_DAC_OVERRIDE it does (the files stay root's)."""
    if os.geteuid() != 0:
        return ()
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: chmod cannot make a folder unwritable for root")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def test_an_unwritable_data_folder_is_one_line_and_changes_nothing(tmp_path):
    prefix = _drop_dac_override()
    root = tmp_path / "lake"
    assert _cli("ingest", str(_records(tmp_path / "a.jsonl", 5)), "--mapping", "question-answer-solution",
                "--root", str(root)).returncode == 0
    before, files = _counts(root), _files(root)
    folders = [root / "data", *(p for p in (root / "data").rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        res = _cli("ingest", str(_records(tmp_path / "b.jsonl", 5, tag="b")), "--mapping",
                   "question-answer-solution", "--root", str(root), prefix=prefix)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    _one_line_exit_2(res, "permission denied")
    assert _counts(root) == before and _files(root) == files


def test_a_deleted_writer_lock_never_makes_the_refused_process_name_itself(tmp_path):
    root = tmp_path / "lake"
    Lake.open(root).close()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from warehouse import Lake; "
                               "lake = Lake.open(sys.argv[1], holder='ingest'); print('ready', flush=True); "
                               "time.sleep(120)", str(root)], stdout=subprocess.PIPE, text=True, cwd=REPO, env=_env())
    try:
        assert holder.stdout.readline().strip() == "ready"
        (root / "writer.lock").unlink()
        data = _records(tmp_path / "in.jsonl", 2)
        refused = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", str(data), "--mapping",
                                    "question-answer-solution", "--root", str(root)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=REPO, env=_env())
        _out, err = refused.communicate(timeout=120)
        assert refused.returncode == 2 and "Traceback" not in err, err
        assert "busy" in err and f"pid {refused.pid}" not in err, err
        assert str(refused.pid) not in (root / "writer.lock").read_text()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 30
    while True:  # the holder gone, the lake opens for writing again
        try:
            Lake.open(root).close()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_writer_lock_that_is_a_symlink_is_refused_and_its_target_kept(tmp_path):
    root = tmp_path / "lake"
    Lake.open(root).close()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (root / "writer.lock").unlink()
    (root / "writer.lock").symlink_to(target)
    res = _cli("status", "--root", str(root))
    assert res.returncode == 0, res.stderr  # readers take no lock
    res = _cli("ingest", str(_records(tmp_path / "in.jsonl", 2)), "--mapping", "question-answer-solution",
               "--root", str(root))
    _one_line_exit_2(res, "symbolic link")
    assert target.read_text() == "keep me"
