"""num_iterations > 1: several optimiser passes over one batch of rollouts with the old log-probs
fixed, so the ratio moves away from 1 and `proximal_clipping=false` changes the result; at
num_iterations=1 the ratio is 1 and the flag changes nothing (bit-identical weights).

    .venv/bin/python -m pytest tests/test_trainer_iterations.py -q
"""
from __future__ import annotations

import pytest

from test_trainer_algos import one_thread  # noqa: F401  (autouse: one intra-op thread)
from trainer.config import load_config
from export_fixtures import addition_rows, parity_reward, write_export
from trainer.metrics import read_metrics
from trainer.train import train

RL = ["max_steps=2", "per_device_train_batch_size=8", "num_generations=4", "max_completion_length=8",
      "learning_rate=3e-2", "max_grad_norm=0"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("iters") / "exp", addition_rows(n_train=4, n_test=1))


def run(export, out, *flags):
    cfg = load_config(None, RL + list(flags), algo="grpo")
    result = train(cfg, export, "tiny", out, reward_fn=parity_reward, show_progress=False)
    return result.param_digest, read_metrics(result.metrics_path)


def test_proximal_clipping_matters_only_with_several_passes(export, tmp_path):
    one = [run(export, tmp_path / f"one-{p}", "num_iterations=1", f"proximal_clipping={p}")[0]
           for p in ("true", "false")]
    assert one[0] == one[1]                              # ratio 1: clipping never binds
    clipped_digest, clipped_rows = run(export, tmp_path / "three-clip", "num_iterations=3")
    plain_digest, plain_rows = run(export, tmp_path / "three-plain", "num_iterations=3", "proximal_clipping=false")
    assert clipped_digest != plain_digest
    # the last pass's ratio is off 1 by more than epsilon for some tokens: the clip binds, or would have
    assert max(r["clip_ratio_low"] + r["clip_ratio_high"] for r in clipped_rows) > 0
    assert clipped_digest != one[0]
    assert all(r["grad_norm"] > 0 for r in clipped_rows)  # measured even with max_grad_norm=0 (no clipping)
