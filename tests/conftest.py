"""Shared pytest fixtures: a scratch lake root, the path to ../shared/data and a throwaway
PostgreSQL server (session-wide)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (a fresh clone without ../shared): real-data test skipped")
    return SHARED_DATA


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the session (tests/pg.py); `postgres.database(name)`
    gives a fresh database's URL. Skipped where PostgreSQL is not installed. Its folder is a
    fresh one under /tmp (pytest's own are private to this user, and as root the server runs
    as `postgres`)."""
    import shutil
    import tempfile

    from pg import PostgresServer, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)")
    folder = Path(tempfile.mkdtemp(prefix="stratagem-pg-"))
    server = PostgresServer(folder).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)
