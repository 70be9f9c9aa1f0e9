"""Annotator accounts on a Label Studio server, through what the free edition offers: the
organisation's invite link (the sign-up form an invited person fills in).

    stratagem labelstudio user add ann1@example.org --password-file pw.txt
    printf '%s\n' "$PW" | stratagem labelstudio user add ann1@example.org

    password = read_password(Path("pw.txt"))      # first line of the file, or stdin
    add_user(client, "ann1@example.org", password)

The password never travels on a command line and is never printed or logged; the new account's
API token is not kept. The free edition has no roles: every account is an equal member of the
organisation (it can open every project and see every annotation in the Data Manager) and tasks
cannot be assigned to people.
"""
from __future__ import annotations

import getpass
import re
import sys
from pathlib import Path

from pipeline.labelstudio.client import LSClient

MIN_PASSWORD = 8  # Label Studio's sign-up form refuses shorter ones
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An account that cannot be created, with a one-line reason (never the password)."""


def read_password(path: Path | None) -> str:
    """The first line of `path`, else one line from stdin (unechoed when stdin is a terminal)."""
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AccountError(f"cannot read --password-file {path}: {exc.strerror}") from None
        password = lines[0] if lines else ""
    elif sys.stdin.isatty():
        password = getpass.getpass("password for the new account: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def add_user(client: LSClient, email: str, password: str) -> None:
    """Create the account `email` (refused when it exists or the e-mail is malformed)."""
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an e-mail address (Label Studio logins are e-mails)")
    if email.lower() in {e.lower() for e in client.users().values()}:
        raise AccountError(f"an account {email} already exists on {client.url}")
    client.invite_user(email, password)  # its token is not kept
