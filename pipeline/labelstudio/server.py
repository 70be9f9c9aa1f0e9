"""The managed local Label Studio server: start, stop and status, in its own virtualenv.

    info = start(port=8080)          # installs on first use (~80 s), later starts take seconds
    status()                         # ServerInfo of the running server, or None
    stop()                           # stops only the process this module started (by PID)

Layout under the cache folder (`$STRATAGEM_CACHE/labelstudio`, default
`~/.cache/stratagem/labelstudio`):

    venv-1.23.2/          label-studio's own virtualenv (it pins openai<2, pyarrow<25: never ours)
    template-1.23.2/      a migrated, user-less data folder, copied for fast later starts
    server/               the default server folder (`--dir` picks another):
        data/             the server's data folder (SQLite database, media)
        home/             HOME of the server process (it writes ~/.config/label-studio)
        credentials.json  login, password and API token, mode 0600
        server.json       pid, port and URL of the running process
        server.log        its output

The server binds to 127.0.0.1 only, gets a minimal environment (no secrets of ours leak into
it) and has telemetry, Sentry and version checks off.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import httpx

from pipeline.processes import pid_alive

LS_VERSION = "1.23.2"
LS_LOCK = Path(__file__).with_name("labelstudio.lock.txt")  # every package of its venv, hash-pinned
DEFAULT_PORT = 8080
DEFAULT_USER = "admin@stratagem.local"


class ServerError(RuntimeError):
    """The managed server cannot be started/stopped, with a one-line reason for the user."""


@dataclass(frozen=True)
class ServerInfo:
    url: str
    port: int
    pid: int
    folder: str
    username: str
    password: str
    token: str

    def public(self) -> dict:
        """Everything but the secrets (for logs and `status --json`)."""
        return {k: v for k, v in asdict(self).items() if k not in ("password", "token")}


def cache_root() -> Path:
    base = os.environ.get("STRATAGEM_CACHE") or "~/.cache/stratagem"
    return Path(base).expanduser().resolve() / "labelstudio"


def default_folder() -> Path:
    return cache_root() / "server"


def _venv() -> Path:
    return cache_root() / f"venv-{LS_VERSION}"


@contextmanager
def _cache_lock() -> Iterator[None]:
    """Serialise installs and template builds between processes."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _base_env(home: Path) -> dict[str, str]:
    """A minimal environment: PATH/locale only, telemetry off, HOME in the server folder."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
    env.update({
        "HOME": str(home), "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def ensure_installed(log: Callable[[str], None] = print) -> Path:
    """The label-studio executable, installing its virtualenv on first use."""
    venv = _venv()
    exe = venv / "bin" / "label-studio"
    marker = venv / ".installed"
    # the lock's hash in the marker: a venv from an older lock (or an unpinned one) is rebuilt
    stamp = f"{LS_VERSION} {hashlib.sha256(LS_LOCK.read_bytes()).hexdigest()}\n"

    def installed() -> bool:
        return exe.exists() and marker.exists() and marker.read_text() == stamp

    if installed():
        return exe
    with _cache_lock():
        if installed():
            return exe
        log(f"installing label-studio=={LS_VERSION} into {venv} from its lock (first use only, ~80 s, ~1 GB)")
        base_python = getattr(sys, "_base_executable", None) or sys.executable
        shutil.rmtree(venv, ignore_errors=True)
        steps = [[base_python, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  "--no-deps", "--require-hashes", "-r", str(LS_LOCK)]]
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ServerError(f"installing label-studio failed ({' '.join(cmd[:3])}...): {tail[0]}")
        marker.write_text(stamp)
    return exe


def ensure_template(exe: Path, log: Callable[[str], None] = print) -> Path:
    """A migrated data folder without users, built once (the slow 30-45 s migration)."""
    template = cache_root() / f"template-{LS_VERSION}"
    if (template / ".ready").exists():
        return template
    with _cache_lock():
        if (template / ".ready").exists():
            return template
        log("migrating a fresh Label Studio database (first use only, ~40 s)")
        work = cache_root() / f"template-{LS_VERSION}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        (work / "home").mkdir(parents=True)
        # `version` runs the migrations and exits without creating a user or serving anything
        proc = subprocess.run([str(exe), "version", "--data-dir", str(work / "data")], env=_base_env(work / "home"),
                              capture_output=True, text=True, cwd=work)
        if proc.returncode != 0 or not (work / "data" / "label_studio.sqlite3").exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ServerError(f"migrating the Label Studio database failed: {tail[0]}")
        shutil.rmtree(template, ignore_errors=True)
        (work / "data").rename(template)
        shutil.rmtree(work, ignore_errors=True)
        (template / ".ready").write_text(LS_VERSION + "\n")
    return template


def port_busy(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _write_private(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(path, 0o600)


def credentials(folder: Path) -> dict:
    """Login, password and token of the server in `folder`, created (mode 0600) on first use."""
    path = folder / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    creds = {"username": DEFAULT_USER, "password": secrets.token_urlsafe(12), "token": secrets.token_hex(20)}
    _write_private(path, creds)
    return creds


def _is_our_process(pid: int, folder: Path) -> bool:
    """True when `pid` is alive and is the label-studio started for `folder` (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid) and not Path("/proc").exists()
    args = [a.decode(errors="replace") for a in cmdline]
    return any("label-studio" in a for a in args) and str(folder / "data") in args


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def status(folder: Path | None = None) -> ServerInfo | None:
    """The running managed server in `folder`, or None (stale state is cleaned up)."""
    folder = Path(folder or default_folder()).resolve()
    state = folder / "server.json"
    if not state.exists():
        return None
    info = json.loads(state.read_text())
    if not _is_our_process(info["pid"], folder):
        state.unlink(missing_ok=True)
        return None
    creds = credentials(folder)
    return ServerInfo(url=info["url"], port=info["port"], pid=info["pid"], folder=str(folder), **creds)


def start(port: int = DEFAULT_PORT, folder: Path | None = None, *, timeout: float = 240.0,
          log: Callable[[str], None] = print) -> ServerInfo:
    """Start the managed server on 127.0.0.1:`port` (or return the one already running)."""
    folder = Path(folder or default_folder()).resolve()
    running = status(folder)
    if running:
        return running
    if port_busy(port):
        raise ServerError(f"port {port} on 127.0.0.1 is already in use by another program; "
                          f"choose another with --port (Label Studio would silently move to the next port)")
    exe = ensure_installed(log)
    data = folder / "data"
    if not (data / "label_studio.sqlite3").exists():
        if data.is_dir() and any(data.iterdir()):
            raise ServerError(f"{data} exists but holds no Label Studio database; it is left as it is: "
                              "move it away or choose another --dir")
        template = ensure_template(exe, log)
        for stale in folder.glob(".data-copy-*"):  # our own copies, cut short by an earlier start
            shutil.rmtree(stale, ignore_errors=True)
        staging = folder / f".data-copy-{os.getpid()}"
        shutil.copytree(template, staging, ignore=shutil.ignore_patterns(".ready", ".env"))  # own SECRET_KEY per server
        if data.is_dir():
            data.rmdir()  # empty
        staging.rename(data)
    (folder / "home").mkdir(parents=True, exist_ok=True)
    creds = credentials(folder)
    env = _base_env(folder / "home") | {
        "LABEL_STUDIO_USERNAME": creds["username"], "LABEL_STUDIO_PASSWORD": creds["password"],
        "LABEL_STUDIO_USER_TOKEN": creds["token"], "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    }
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data)]
    with open(folder / "server.log", "ab") as logfile:
        proc = subprocess.Popen(cmd, env=env, cwd=folder, stdout=logfile, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _write_private(folder / "server.json", {"pid": proc.pid, "port": port, "url": url, "started_at": time.time()})
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None:
            (folder / "server.json").unlink(missing_ok=True)
            raise ServerError(f"Label Studio exited with code {proc.returncode} during start: "
                              f"{_log_tail(folder)} (full log: {folder / 'server.log'})")
        if time.monotonic() > deadline:
            stop(folder)
            raise ServerError(f"Label Studio did not answer on {url} within {timeout:.0f} s "
                              f"(log: {folder / 'server.log'})")
        time.sleep(0.5)
    return ServerInfo(url=url, port=port, pid=proc.pid, folder=str(folder), **creds)


def _log_tail(folder: Path) -> str:
    try:
        lines = [ln for ln in (folder / "server.log").read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def stop(folder: Path | None = None, timeout: float = 30.0) -> bool:
    """Stop the managed server in `folder` (only that PID); False when none was running."""
    folder = Path(folder or default_folder()).resolve()
    info = status(folder)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(info.pid) and time.monotonic() < deadline:
        _reap(info.pid)
        time.sleep(0.2)
    if pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
        _reap(info.pid)
    (folder / "server.json").unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect our own child so it does not linger as a zombie (no-op for other processes)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
