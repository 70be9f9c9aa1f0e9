"""Content-addressed request cache on disk: one JSON file per request key.

The key is a hash of everything that determines an answer (DESIGN section 5): the sha of
the request text, the prompt version, the response-schema hash, the model and the
sampling parameters. Files are written to a temporary name and renamed into place, so a
process killed at any moment leaves either no entry or a complete one (a SIGKILL never
loses a response that was already written; pass `fsync=True` to survive power loss too).
Nothing secret is stored: only the key parts and the answer.

    cache = RequestCache(root / "cache" / "llm")
    key = request_key(text_sha=..., prompt_version="tag-v1", schema_hash=..., model=m, sampling={...})
    cache.get(key)          # dict or None
    cache.put(key, {...})
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def request_key(*, text_sha: str, prompt_version: str, schema_hash: str, model: str, sampling: dict) -> str:
    parts = {"text_sha": text_sha, "prompt_version": prompt_version, "schema": schema_hash,
             "model": model, "sampling": sampling}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def json_sha(obj) -> str:
    """sha256 of a JSON-able object (messages, a JSON schema), key order independent."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class RequestCache:
    """Answers keyed by `request_key`; `root=None` gives a cache that stores nothing."""

    def __init__(self, root: str | Path | None, *, fsync: bool = False):
        self.root = Path(root) if root is not None else None
        self.fsync = fsync
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.root is None:
            return None
        path = self._path(key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):  # a missing or unreadable entry is a miss
            return None

    def put(self, key: str, value: dict) -> None:
        if self.root is None:
            return
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(value, fh, ensure_ascii=False)
                if self.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return 0 if self.root is None else sum(1 for _ in self.root.glob("*/*.json"))
