"""The notebooks in notebooks/: stored without outputs, each runs top to bottom (nbclient, a python3
kernel on this interpreter) against demo outputs in a scratch folder, and each stops in its first
cell with a clear message when the demo outputs are absent.

    .venv/bin/pytest tests/test_notebooks.py
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from test_report_fixtures import demo_root

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return demo_root(tmp_path_factory)


def _run(path: Path, root: Path, cwd: Path) -> nbformat.NotebookNode:
    """Execute the notebook with STRATAGEM_ROOT=root. The python3 kernel runs on this interpreter
    (jupyter_client swaps a kernelspec's `python` for sys.executable; ipykernel's native spec uses it)."""
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "STRATAGEM_ROOT": str(root), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    client = NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env, cwd=str(cwd))
    return nb


def test_notebooks_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_explore_warehouse.ipynb", "02_compare_annotators.ipynb",
                                           "03_training_and_eval.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.outputs == [] and c.execution_count is None for c in code), path.name
        assert "STRATAGEM_ROOT" in code[0].source and "stratagem demo" in code[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, demo: Path, tmp_path: Path):
    nb = _run(path, demo, tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert f"demo root: {demo}" in "".join(o.get("text", "") for o in code[0].outputs)
    shown = [o for c in code for o in c.outputs if o.output_type in ("execute_result", "display_data")]
    assert len(shown) >= 3
    if path.stem != "01_explore_warehouse":  # 02 and 03 draw plots
        assert any("image/png" in o.get("data", {}) for o in shown)


def test_notebook_without_demo_outputs_stops_in_first_cell(tmp_path: Path):
    for path in NOTEBOOKS:
        with pytest.raises(CellExecutionError) as info:
            _run(path, tmp_path / "nowhere", tmp_path)
        message = str(info.value)
        assert "FileNotFoundError" in message and f"No demo outputs at {tmp_path / 'nowhere'}" in message
        assert "Run `stratagem demo" in message
        nb = nbformat.read(path, as_version=4)
        assert "No demo outputs" in nb.cells[1].source  # the check is the first code cell, after the title
