"""The learning-signal guard on real tiny-model runs: one that cannot learn (every completion cut
at two tokens, correctness rewards all zero) ends with a warning naming the cause and the flag;
one that can (varied rewards) has none. Also the once-per-run truncation warning.

    .venv/bin/python -m pytest tests/test_trainer_signal.py -q
"""
from __future__ import annotations

import json

import pytest

from trainer.config import load_config
from test_trainer_algos import one_thread  # noqa: F401  (autouse: one intra-op thread)
from export_fixtures import addition_rows, parity_reward, write_export
from trainer.learning_signal import no_signal_warning, truncation_warning
from trainer.train import train

BASE = ["max_steps=2", "per_device_train_batch_size=4", "num_generations=2", "num_guided_generations=2",
        "learning_rate=1e-2", "gamma=0.0"]
KEYS = {"algo", "steps", "nonzero_grad_share", "reward_variance_group_share", "alpha_positive_share",
        "targets_per_step", "kl_per_target", "clipped_token_share", "truncated_completion_share",
        "left_cut_prompt_share", "guided_prompts_without_strategy", "pass_rate_unguided", "pass_rate_guided", "warning"}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("signal") / "exp", addition_rows(n_train=4, n_test=1))


def test_a_run_that_cannot_learn_says_why_and_which_flag(export, tmp_path, capsys):
    cfg = load_config(None, BASE + ["max_completion_length=2"], algo="sgpo")
    result = train(cfg, export, "tiny", tmp_path / "cut")
    sig = json.loads((tmp_path / "cut" / "signal.json").read_text())
    assert sig == result.signal and set(sig) == KEYS
    assert sig["steps"] == 2 and sig["truncated_completion_share"] == 1.0
    assert sig["reward_variance_group_share"] == 0.0 and sig["targets_per_step"] == 0.0
    assert sig["kl_per_target"] is None and sig["nonzero_grad_share"] == 0.0
    assert "no learning signal" in sig["warning"] and "max_completion_length" in sig["warning"]
    err = capsys.readouterr().err
    assert err.count("completions cut before EOS") == 1            # warned once, not every step
    assert "learning signal (sgpo)" in err and f"warning: {sig['warning']}" in err


def test_a_run_that_can_learn_has_no_warning(export, tmp_path):
    cfg = load_config(None, BASE + ["max_completion_length=8"], algo="sgpo")
    sig = train(cfg, export, "tiny", tmp_path / "ok", reward_fn=parity_reward, show_progress=False).signal
    assert sig["warning"] is None and sig["nonzero_grad_share"] > 0
    assert sig["reward_variance_group_share"] > 0 and sig["targets_per_step"] > 0 and sig["kl_per_target"] > 0
    assert 0.0 <= sig["clipped_token_share"] <= 1.0 and sig["guided_prompts_without_strategy"] == 0
    assert 0.0 <= sig["pass_rate_unguided"] <= 1.0 and 0.0 < sig["pass_rate_guided"] <= 1.0


def test_sft_with_every_target_cut_names_the_length_to_set(export, tmp_path):
    cfg = load_config(None, ["max_steps=1", "per_device_train_batch_size=2", "max_completion_length=3"], algo="sft")
    sig = train(cfg, export, "tiny", tmp_path / "sft", show_progress=False).signal
    assert sig["truncated_completion_share"] == 1.0 and "set max_completion_length >=" in sig["warning"]
    assert set(sig) == {"algo", "steps", "nonzero_grad_share", "truncated_completion_share", "left_cut_prompt_share",
                        "warning"}


def test_the_cause_named_follows_the_figures():
    grpo = load_config(None, BASE, algo="grpo")
    flat = {"algo": "grpo", "nonzero_grad_share": 0.0, "reward_variance_group_share": 0.0,
            "truncated_completion_share": 0.5}
    line = no_signal_warning(flat, [], grpo)
    assert "no reward variance" in line and "num_generations" in line
    assert no_signal_warning({**flat, "reward_variance_group_share": 0.2}, [], grpo) is None
    sgpo = load_config(None, BASE, algo="sgpo")
    some = {**flat, "algo": "sgpo", "reward_variance_group_share": 0.2, "targets_per_step": 0.0}
    assert no_signal_warning(some, [], sgpo).startswith("no distillation signal: no correct guided rollout")
    assert no_signal_warning({**some, "targets_per_step": 0.5}, [], sgpo) is None
    cut = no_signal_warning({**some, "truncated_completion_share": 1.0}, [], sgpo)
    assert "max_completion_length=" in cut


def test_truncation_warning_names_the_lengths():
    cfg = load_config(None, ["max_prompt_length=10", "max_completion_length=5"], algo="sft")
    line = truncation_warning({"prompts": 4, "left_cut_prompts": 1, "prompt_len_needed": 37, "completions": 4,
                               "truncated_completions": 2, "completion_len_needed": 90}, cfg)
    assert line == ("warning: 1 of 4 prompts cut from the left (set max_prompt_length >= 37); "
                    "2 of 4 completions cut before EOS (set max_completion_length >= 90)")
    assert truncation_warning({"prompts": 4, "left_cut_prompts": 0, "completions": 4, "truncated_completions": 0},
                              cfg) is None
