"""`stratagem run STAGE --shards N` (pipeline/shards, issue 14 item 4): with --ray each shard is a
Ray task on a local Ray (2 CPUs, started in this process as a driver would), without it a local
process; either way the lake ends as one process leaves it, and the driver prints every shard's
counts. Real Ray, real PostgreSQL (tests/pg.py; skipped where either is missing).

    .venv/bin/python -m pytest tests/test_shards_ray.py -q
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from test_shards import pg_lake, reference, sample, tables  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs, its temporary files in a fresh folder (short: Ray's socket paths
    have a length limit), shut down after the module."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'stratagem[ray]')")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    mp.setenv("PYTHONPATH", str(REPO))  # the workers import the stages from this checkout
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=folder, logging_level="warning")
    yield ray
    ray.shutdown()
    mp.undo()
    shutil.rmtree(folder, ignore_errors=True)


def _counts_row(output: str, name: str) -> list[str]:
    row = next(line for line in output.splitlines() if line.strip("│ ").startswith(name + " "))
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


def test_run_annotate_as_ray_tasks_equals_one_process(local_ray, postgres, sample, reference, tmp_path,  # noqa: F811
                                                      monkeypatch):
    root = tmp_path / "lake"
    url = pg_lake(postgres, sample, root, "ray_run")
    monkeypatch.setenv("STRATAGEM_CATALOG", url)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["run", "annotate", "--shards", "2", "--ray", "--root", str(root),
                                      "--batch-size", "25"])
    assert result.exit_code == 0, result.output
    assert "2 shards as ray" in result.output
    name, first, second, total = _counts_row(result.output, "written.tagged")
    assert int(first) > 0 and int(second) > 0 and int(total) == int(first) + int(second) == 240
    assert tables(root, url)["spans"] == reference["spans"]
    assert tables(root, url)["tagged"] == reference["tagged"]

    # the same command without --ray: local processes; verify's shards, then everything as one process
    result = CliRunner().invoke(app, ["run", "verify", "--shards", "2", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "2 shards as processes" in result.output and _counts_row(result.output, "written.verdicts")[-1] == "240"
    assert tables(root, url) == reference
    again = CliRunner().invoke(app, ["run", "annotate", "--shards", "2", "--ray", "--root", str(root)])
    assert again.exit_code == 0 and _counts_row(again.output, "status")[1:3] == ["ok", "ok"], again.output
    assert "written.tagged" not in again.output  # nothing was left to do
