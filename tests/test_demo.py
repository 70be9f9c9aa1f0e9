"""`stratagem demo`: every stage end to end into a scratch root, training that moves (SGPO
weights differ from the SFT checkpoint, gradients on most steps, alpha > 0 for some
problems, accuracy with 95% intervals per split, one above zero), lengths taken from the
export, and the refusal to write into a root that holds other data."""
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


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """One quick demo run shared by the tests that read what it left."""
    root = tmp_path_factory.mktemp("quick") / "demo"
    return root, run_demo(root, quick=True, show=False)


@pytest.mark.slow
def test_quick_demo_runs_every_stage(quick_demo):
    root, result = quick_demo
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


@pytest.mark.slow
def test_quick_demo_trains_something_real(quick_demo):
    from trainer.data import guided_prompt, load_export
    from trainer.model import build_tiny_tokenizer

    root, result = quick_demo
    marker = json.loads((root / "demo.json").read_text())
    sft, sgpo = marker["signal"]["sft"], marker["signal"]["sgpo"]
    sft_digest = json.loads((root / "runs" / "sft" / "final" / "trainer_state.json").read_text())["param_digest"]
    sgpo_digest = json.loads((root / "runs" / "sgpo" / "final" / "trainer_state.json").read_text())["param_digest"]
    assert sgpo_digest != sft_digest and sgpo["weight_change"] > 0
    assert sft["nonzero_grad_share"] > 0.5 and sgpo["nonzero_grad_share"] > 0.5
    assert sgpo["alpha_positive_share"] > 0
    splits = json.loads((root / "runs" / "eval.json").read_text())["splits"]
    assert "test_original" in splits and len(splits) >= 2
    above_zero = 0
    for model in ("sft", "sgpo"):
        for split in splits:
            cell = marker["accuracy"][model][split]
            assert 0 <= cell["low"] <= cell["accuracy"] <= cell["high"] <= 1 and cell["n"] > 0
            above_zero += cell["accuracy"] > 0
    assert above_zero > 0, marker["accuracy"]
    assert "bench/sgpo_experiment.py" in marker["what_it_shows"] and result.accuracy == marker["accuracy"]
    assert set(marker["guess_baseline"]) == set(splits)
    # the lengths come from the export: no train target, and no guided prompt, is cut
    tok = build_tiny_tokenizer()
    train = load_export(root / "exports" / "demo").split("train")
    lengths = marker["lengths"]
    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    assert max(count(e.teacher_completion) + 1 for e in train) <= lengths["completion"]
    assert max(count(guided_prompt(tok, e.prompt, e.strategy, 1 << 30)) for e in train) <= lengths["prompt"]


@pytest.mark.slow
def test_demo_with_an_llm_endpoint_compares_it_with_rules_and_gold(tmp_path, monkeypatch):
    from llm_server import LLMTestServer
    from warehouse import Lake

    root = tmp_path / "demo"
    with LLMTestServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("STRATAGEM_LLM_MODEL", "test-model")
        result = run_demo(root, quick=True, show=False)
        assert len(server.log) > 0
    stages = [name for name, _, _ in result.rows]
    assert stages[stages.index("describe (rules)") + 1: stages.index("curate")] == ["annotate (llm)", "describe (llm)"]
    with Lake.open(root, read_only=True) as lake:
        llm = lake.rows("SELECT DISTINCT annotator FROM spans WHERE annotator_kind = 'llm'")
        assert llm and lake.scalar("SELECT count(*) FROM strategies WHERE annotator_kind = 'llm'") > 0
    html = result.report.read_text(encoding="utf-8")
    assert all(f"<th>{name}</th>" in html for name in ("gold", "rules", llm[0][0]))  # in the agreement matrix


@pytest.mark.slow
def test_demo_command_with_force_prints_the_summary_and_the_model(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--root", str(tmp_path), "--quick", "--force"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "train sgpo (tiny)" in out and "model: tiny" in out and "report.html" in out
    assert (tmp_path / "notes.txt").read_text() == "mine"
    evaluation = json.loads((tmp_path / "runs" / "eval.json").read_text())
    for result_of_model in evaluation["results"]:  # original and perturbed test sets, per model
        splits = set(result_of_model["accuracy"])
        assert "test_original" in splits and any(s.startswith("test_") and s != "test_original" for s in splits)
