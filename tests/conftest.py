"""Shared pytest fixtures: a scratch lake root and the path to ../shared/data."""
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
