"""Trainer config, export reading, token spans and bad input (one-line errors before any model loads).

    .venv/bin/pytest tests/test_trainer_inputs.py -q
"""
from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings, strategies as st

from trainer.__main__ import main
from trainer.config import ConfigError, TrainConfig, field_names, load_config
from schemas.export import ExportError, PlanSpan
from trainer.data import (char_to_token_spans, encode_prompts, guided_messages, guided_prompt, load_export,
                          render_prompt)
from export_fixtures import addition_rows, write_export
from trainer.model import ModelError, build_tiny_tokenizer, device_and_dtype, resolve_model


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


@pytest.fixture
def export(tmp_path):
    return write_export(tmp_path / "exp", addition_rows())


@pytest.fixture
def no_model_load(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the input was checked")
    import trainer.eval
    import trainer.train
    for module in (trainer.model, trainer.train, trainer.eval):
        monkeypatch.setattr(module, "load_model", refuse)


def test_config_toml_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlearning_rate = 3e-4\nnum_generations = 4\nper_device_train_batch_size = 8\n"
                    "loss_type = 'grpo'\nkl_clipping = false\n")
    cfg = load_config(path, ["learning_rate=1e-3", "max_steps=7", "epsilon_high=0.3"], algo="grpo")
    assert (cfg.learning_rate, cfg.num_generations, cfg.max_steps, cfg.loss_type) == (1e-3, 4, 7, "grpo")
    assert cfg.kl_clip_mode == "none" and cfg.epsilon_high == 0.3 and cfg.algo == "grpo"
    assert cfg.prompts_per_step == 2
    for name in ("num_generations", "epsilon", "epsilon_high", "beta", "loss_type", "max_completion_length",
                 "num_guided_generations", "kl_clip_delta", "alpha0", "alpha_max", "gamma"):
        assert name in field_names()


def test_config_unknown_key_lists_valid_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["num_generation=4"])
    assert "num_generation" in str(err.value) and "num_generations" in str(err.value) and "kl_clip_delta" in str(err.value)
    (tmp_path / "bad.toml").write_text("lr = 1\n")
    with pytest.raises(ConfigError, match="unknown config key 'lr'"):
        load_config(tmp_path / "bad.toml")


def test_config_bad_values():
    with pytest.raises(ConfigError, match="not divisible"):
        load_config(None, ["per_device_train_batch_size=12", "num_generations=8"], algo="sgpo")
    assert load_config(None, ["per_device_train_batch_size=12"], algo="sft").prompts_per_step == 12
    with pytest.raises(ConfigError, match="not a valid float"):
        load_config(None, ["beta=lots"])
    with pytest.raises(ConfigError, match="loss_type"):
        load_config(None, ["loss_type=ppo"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["beta"])


def test_load_export_reads_splits(export):
    exp = load_export(export)
    assert exp.splits() == ["test_numbers", "test_original", "train"]
    assert exp.test_splits() == ["test_original", "test_numbers"]
    train = exp.split("train")
    assert len(train) == 8 and train[0].strategy and train[0].strategy_plan[0].label == "planning"
    assert train[0].prompt[0]["content"].endswith("Put the final answer in \\boxed{}.")


def test_export_errors(tmp_path, export):
    with pytest.raises(ExportError, match="not found"):
        load_export(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="no manifest.json"):
        load_export(tmp_path / "empty")
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["files"]["data.parquet"] = "0" * 64
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="does not match the sha256"):
        load_export(export)


def test_export_counts_mismatch(tmp_path):
    root = write_export(tmp_path / "e", addition_rows())
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["counts"]["train"] = 99
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="counts"):
        load_export(root)
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        load_export(root)


def test_resolve_model(tmp_path):
    assert resolve_model("tiny").kind == "preset"
    with pytest.raises(ModelError, match="neither a preset"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path / "folder"))
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="not a .gguf"):
        resolve_model(str(tmp_path / "w.bin"))
    (tmp_path / "folder" / "config.json").write_text("{}")
    (tmp_path / "folder" / "pytorch_model.bin").write_bytes(b"pickle")  # a pickle checkpoint is never loaded
    with pytest.raises(ModelError, match="no .safetensors"):
        resolve_model(str(tmp_path / "folder"))


def test_bf16_on_gpu_fp32_on_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_and_dtype() == (torch.device("cuda"), torch.bfloat16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_and_dtype() == (torch.device("cpu"), torch.float32)
    assert device_and_dtype("cpu", "bfloat16") == (torch.device("cpu"), torch.bfloat16)


@pytest.mark.parametrize("args, message", [
    (["--data", "{missing}", "--model", "tiny"], "export folder not found"),
    (["--data", "{export}", "--model", "{missing}"], "neither a preset"),
    (["--data", "{export}", "--model", "tiny", "--set", "nope=1"], "valid keys: algo, seed"),
    (["--data", "{export}", "--model", "tiny", "--set", "per_device_train_batch_size=6"], "not divisible"),
    (["--data", "{export}", "--model", "tiny", "--set", "use_vllm=true"], "needs the vllm package"),
])
def test_cli_bad_input_one_line_before_model_load(tmp_path, export, capsys, no_model_load, args, message):
    from trainer.rollout import VLLMGenerator
    if "use_vllm=true" in args and VLLMGenerator.available():
        pytest.skip("vLLM and a GPU are present: use_vllm=true is valid here")
    args = [a.format(missing=tmp_path / "missing", export=export) for a in args]
    code = main(["--algo", "sgpo", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith("error: ") and err.count("\n") == 1


def test_cli_eval_bad_model(tmp_path, export, capsys, no_model_load):
    assert main(["eval", "--model", "tiny", str(tmp_path / "nope"), "--data", str(export)]) == 2
    assert "neither a preset" in capsys.readouterr().err


def test_stratagem_train_command_bad_input(tmp_path, export, no_model_load):
    from typer.testing import CliRunner
    from pipeline.cli import app

    res = CliRunner().invoke(app, ["train", "--algo", "sgpo", "--data", str(export), "--model", "tiny", "--out",
                                   str(tmp_path / "o"), "--set", "bogus=1"])
    assert res.exit_code == 2 and "unknown config key 'bogus'" in res.output


def test_guided_prompt_and_chat_template(tok):
    prompt = [{"role": "user", "content": "What is 2+3?"}]
    guided = guided_messages(prompt, "Add the numbers.")
    assert prompt[0]["content"] == "What is 2+3?"          # not mutated
    assert guided[0]["content"].startswith("What is 2+3?") and guided[0]["content"].endswith("Add the numbers.")
    text = render_prompt(tok, prompt)
    assert text == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"


def test_a_long_strategy_is_shortened_never_the_question(tok):
    prompt = [{"role": "user", "content": "Ann has 17 apples and buys 25 more. How many now?"}]
    strategy = "Add the two amounts. " * 20
    full = render_prompt(tok, guided_messages(prompt, strategy))
    limit = len(tok(full, add_special_tokens=False)["input_ids"]) - 100
    text = guided_prompt(tok, prompt, strategy, limit)
    ids = encode_prompts(tok, [text], limit)[0]
    kept = tok.decode(ids)
    assert len(ids) <= limit and kept.startswith("<|im_start|>user\nAnn has 17 apples")
    assert kept.endswith("<|im_start|>assistant\n") and "Add the two amounts." in kept
    assert guided_prompt(tok, prompt, "Add.", 10_000) == render_prompt(tok, guided_messages(prompt, "Add."))


def test_char_to_token_spans_by_hand():
    offsets = [(0, 2), (2, 3), (3, 7), (7, 8)]
    spans = [PlanSpan("a", 0, 3), PlanSpan("b", 3, 5), PlanSpan("c", 8, 9), PlanSpan("d", 1, 8)]
    assert char_to_token_spans(offsets, spans) == [("a", 0, 2), ("b", 2, 3), ("d", 0, 4)]


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab é3+\n€"), min_size=1, max_size=30), data=st.data())
def test_token_spans_cover_the_characters(tok, text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    [(label, a, b)] = char_to_token_spans(enc["offset_mapping"], [PlanSpan("x", start, end)])
    covered = (enc["offset_mapping"][a][0], enc["offset_mapping"][b - 1][1])
    assert covered[0] <= start and covered[1] >= end     # the token span covers the character span
    # and is minimal: dropping an end token would lose characters of the span
    assert enc["offset_mapping"][a][1] > start and enc["offset_mapping"][b - 1][0] < end


def test_default_config_is_valid():
    assert TrainConfig().validate().algo == "sgpo"


def test_ranks_take_disjoint_whole_prompts_every_step():
    from trainer.train import Batches

    ranks = [Batches(list(range(12)), 3, rank, 2, seed=1) for rank in (0, 1)]
    seen = []
    for _ in range(2):  # one epoch: 12 prompts, 6 per step; each rank samples its groups from its own prompts
        mine = [b.next() for b in ranks]
        assert [len(m) for m in mine] == [3, 3] and not set(mine[0]) & set(mine[1])
        seen += mine[0] + mine[1]
    assert sorted(seen) == list(range(12))  # same seeded order on every rank: the slices tile the epoch
