"""`stratagem demo`: every stage end to end into a scratch root, and the refusal to write
into a root that holds other data."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.demo import DemoRefused, check_root, run_demo


def test_demo_refuses_a_root_with_other_data(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(DemoRefused, match="--force"):
        check_root(tmp_path, force=False)
    check_root(tmp_path, force=True)
    result = CliRunner().invoke(app, ["demo", "--root", str(tmp_path), "--quick"])
    assert result.exit_code == 2 and "--force" in result.output
    assert (tmp_path / "mine.txt").read_text() == "precious"


@pytest.mark.slow
def test_quick_demo_runs_every_stage(tmp_path):
    root = tmp_path / "demo"
    result = run_demo(root, quick=True, show=False)
    stages = [name for name, _, _ in result.rows]
    assert stages == ["sample", "ingest", "verify", "annotate (rules)", "describe (rules)", "curate", "export",
                      "train sft (tiny)", "train sgpo (tiny)", "eval", "report"]
    assert result.report == root / "report.html" and result.report.stat().st_size > 10_000
    manifest = json.loads((root / "exports" / "demo" / "manifest.json").read_text())
    assert manifest["counts"]["train"] > 0 and any(k.startswith("test_") and k != "test_original"
                                                     for k in manifest["counts"])
    evaluation = json.loads((root / "runs" / "eval.json").read_text())
    assert len(evaluation["results"]) == 2
    for algo in ("sft", "sgpo"):
        assert (root / "runs" / algo / "final").is_dir()
        assert (root / "runs" / algo / "metrics.jsonl").read_text().count("\n") >= 2
    check_root(root, force=False)  # a demo root may be reused by the next demo
