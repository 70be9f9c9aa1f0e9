"""The install locks: requirements/lock.txt agrees with pyproject (and the checker can say when
it does not), Label Studio's venv lock pins the version the server code expects, every pin is
hashed. `.ci/check_lock.py` is what CI runs; these tests prove it fails on each disagreement."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_lock", REPO / ".ci" / "check_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_lock = _checker()

PYPROJECT = """[project]
name = "x"
dependencies = ["polars>=1.30,<3", "pytz"]
[project.optional-dependencies]
dev = ["pytest>=8"]
"""
LOCK = """polars==2.1.0 \\
    --hash=sha256:aaaa
    # via x
pytest==9.0.0 \\
    --hash=sha256:bbbb \\
    --hash=sha256:cccc
pytz==2025.1 \\
    --hash=sha256:dddd
torch==2.13.0+cpu \\
    --hash=sha256:eeee
"""


def _problems(tmp_path: Path, pyproject: str = PYPROJECT, lock: str = LOCK, constraints: str = "torch==2.13.0\n"):
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "lock.txt").write_text(lock)
    (tmp_path / "constraints.txt").write_text(constraints)
    return check_lock.problems(tmp_path / "pyproject.toml", tmp_path / "lock.txt", tmp_path / "constraints.txt")


def test_the_repository_lock_agrees_with_pyproject():
    assert check_lock.main([]) == 0


def test_an_agreeing_lock_passes(tmp_path):
    assert _problems(tmp_path) == []


@pytest.mark.parametrize("edit, expected", [
    (lambda p, l: (p.replace('"pytz"', '"pytz", "rich>=13"'), l), "rich>=13 (dependencies): not in lock.txt"),
    (lambda p, l: (p.replace("polars>=1.30,<3", "polars>=2.2"), l), "polars>=2.2 (dependencies): lock.txt pins 2.1.0"),
    (lambda p, l: (p.replace("pytest>=8", "pytest<9"), l), "pytest<9 (dev): lock.txt pins 9.0.0"),
    (lambda p, l: (p, l.replace("    --hash=sha256:dddd\n", "")), "pytz==2025.1: no --hash"),
])
def test_each_disagreement_is_named(tmp_path, edit, expected):
    pyproject, lock = edit(PYPROJECT, LOCK)
    found = _problems(tmp_path, pyproject, lock)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_the_constraints_file_binds_the_lock_too(tmp_path):
    found = _problems(tmp_path, constraints="torch==2.14.1\n")
    assert found and found[0].startswith("torch==2.14.1 (constraints)")


def test_label_studio_lock_pins_the_server_version_with_hashes():
    from pipeline.labelstudio.server import LS_LOCK, LS_VERSION

    pins = check_lock.read_lock(LS_LOCK.read_text(encoding="utf-8"))
    assert str(pins["label-studio"][0]) == LS_VERSION
    assert all(n > 0 for _, n in pins.values())
    # its own ranges, never the project's: the server pins openai<2 and pyarrow<25
    assert pins["openai"][0].major < 2 and pins["pyarrow"][0].major < 25


def test_every_lock_pins_exact_versions_with_hashes():
    for lock in [REPO / "requirements" / "lock.txt", REPO / "requirements" / "lowest.txt",
                 REPO / "requirements" / "model.txt"]:
        text = lock.read_text(encoding="utf-8")
        names = re.findall(r"^([A-Za-z0-9][\w.-]*)\s*(==|>=|<=|~=|@)", text, flags=re.M)
        assert names and all(op == "==" for _, op in names), lock
        assert all(n > 0 for _, n in check_lock.read_lock(text).values()), lock
