"""The spend journal: every paid HTTP attempt of a stage run, appended to a file the moment its
response has been read (before it is parsed, used or cached), so a kill never loses spend.

A stage sets `client.run_id`; the client then writes one JSON line per attempt that carried
tokens (the `llm_calls` columns, error text already scrubbed of secrets) to its own file
under <cache_dir>/spend/, locked (flock) while the process lives. A validation failure found
after the answer was read appends the same attempt again with status "invalid" (the last
line of an attempt wins). When the run has committed, the stage deletes the file
(`close(delete=True)`). A file left by a killed run is an orphan: the next stage run
replays it into `llm_calls` (rows keyed by cache_key, run_id, item_id and attempt, so rows
the killed run had committed are skipped and none is counted twice) and then discards it.

    journal = SpendJournal(cache_dir / "spend")
    journal.record({"run_id": ..., "cache_key": ..., "item_id": ..., "attempt": 1, ...})
    for path, rows in journal.orphans():      # files no live process holds
        ...                                   # insert rows, commit
        journal.discard(path)
    journal.close(delete=True)
"""
from __future__ import annotations

import fcntl
import json
import os
import uuid
from pathlib import Path
from typing import Iterator

FIELDS = ("run_id", "cache_key", "item_id", "model", "attempt", "status", "tokens_in", "tokens_out",
          "cost_usd", "latency_ms", "error")


class SpendJournal:
    """Append-only JSON lines of paid attempts (see module docstring)."""

    def __init__(self, folder: str | Path, *, fsync: bool = False):
        self.folder = Path(folder)
        self.fsync = fsync
        self.path: Path | None = None
        self._fd: int | None = None

    def record(self, row: dict) -> None:
        """Append one attempt (a dict with FIELDS); durable against SIGKILL once this returns."""
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        line = json.dumps({k: row.get(k) for k in FIELDS}, ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode("utf-8"))  # one write: a kill leaves whole lines or a torn last one
        if self.fsync:
            os.fsync(self._fd)

    def close(self, *, delete: bool) -> None:
        """Stop journalling; `delete` once everything recorded is committed to llm_calls."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if delete and self.path is not None:
            self.path.unlink(missing_ok=True)
        self.path = None

    def orphans(self) -> Iterator[tuple[Path, list[dict]]]:
        """(file, attempts) for each journal no live process holds, the last line of each attempt."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.jsonl")):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live run's journal
                with os.fdopen(os.dup(fd), "rb") as fh:
                    data = fh.read()
            finally:
                os.close(fd)
            yield path, _last_per_attempt(data)

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)


def _last_per_attempt(data: bytes) -> list[dict]:
    latest: dict[tuple, dict] = {}
    for line in data.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line torn by the kill carried no complete attempt
        if isinstance(row, dict) and row.get("run_id") and row.get("cache_key"):
            latest[(row["run_id"], row["cache_key"], row.get("item_id"), row.get("attempt"))] = row
    return list(latest.values())
