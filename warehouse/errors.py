"""The warehouse's errors (LakeError; LakeBusy and LakeQueryError are kinds of it), and the
one-line message for a storage failure (disk full, no permission, read-only file system, an
object store that cannot be reached or refused a request) wherever it surfaced: an `OSError` from Python or pyarrow, or a DuckDB `IOException` /
`PermissionException` whose text carries the system's reason (found through the cause chain,
so also behind the LakeQueryError that wraps it).

    from warehouse.errors import storage_message
    try: ...
    except Exception as exc:
        if (line := storage_message(exc)) is None: raise
        fail(line)

The transaction that was open when the write failed has rolled back by the time the message is
shown (the error leaves the `with` blocks first), so the lake keeps what it had.
"""
from __future__ import annotations

import errno

# errno -> what to tell the user, in the order DuckDB's messages are searched for them
_REASONS = {
    errno.ENOSPC: ("No space left on device", "the disk is full"),
    errno.EDQUOT: ("Disk quota exceeded", "the disk quota is used up"),
    errno.EFBIG: ("File too large", "a file grew past the size limit"),
    errno.EROFS: ("Read-only file system", "the file system is read-only"),
    errno.EACCES: ("Permission denied", "permission denied"),
    errno.EPERM: ("Operation not permitted", "operation not permitted"),
}


class LakeError(RuntimeError):
    """A lake that cannot be used, with a one-line reason meant for the user."""


class LakeBusy(LakeError):
    """Another process holds the lake for writing."""


class LakeQueryError(LakeError):
    """A statement DuckDB refused or failed (a parse error, a missing table, an expired snapshot,
    a full disk): the first line of DuckDB's message, with DuckDB's error as `__cause__`."""


# credentials that may reach DuckDB (warehouse.datapath, warehouse.catalog) and must never be shown
_CREDENTIAL_ENVS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


def redact(text: str) -> str:
    """`text` with the values of the credential variables in the environment blanked out (a
    server's error body may echo a request's signed headers, a session token among them)."""
    import os

    for name in _CREDENTIAL_ENVS:
        value = os.environ.get(name, "")
        if len(value) >= 8:
            text = text.replace(value, f"<{name}>")
    return text


def first_line(exc: BaseException) -> str:
    """The first non-empty line of `exc`'s message (its type's name when it has none), with any
    credential from the environment blanked out."""
    return redact((str(exc).strip().splitlines() or [type(exc).__name__])[0])


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def storage_message(exc: BaseException) -> str | None:
    """One line naming the storage failure behind `exc` (or anything in its cause chain), or
    None when it is not one."""
    for err in _chain(exc):
        reason = where = None
        if isinstance(err, OSError) and err.errno in _REASONS:
            reason = _REASONS[err.errno][1]
            where = err.filename
        elif type(err).__module__.startswith(("duckdb", "_duckdb")):
            text = str(err)
            reason = next((said for marker, said in _REASONS.values() if marker in text), None)
            if reason and '"' in text:
                where = text.split('"')[1]
        if reason:
            place = f" ({where})" if where else ""
            return (f"stopped: {reason}{place}; the open transaction was rolled back and the lake is intact "
                    "(free some space or fix the permissions, then rerun: committed work is kept)")
        if type(err).__module__.startswith(("duckdb", "_duckdb")) and "HTTP" in str(err):
            return (f"stopped: object storage failed ({first_line(err)}); the open transaction was rolled back "
                    "and the lake is intact (check the endpoint, the network and the AWS_* credentials, then "
                    "rerun: committed work is kept)")
    return None
