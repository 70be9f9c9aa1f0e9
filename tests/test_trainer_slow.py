"""Slow trainer checks (CI runs them): the smollm2-135m preset runs one SGPO step, and torchrun DDP
with gloo and 2 processes keeps the replicas identical.

    .venv/bin/pytest tests/test_trainer_slow.py -q -m slow
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from export_fixtures import addition_rows, write_export

REPO = Path(__file__).resolve().parents[1]


def always_right(prompts, completions, **kwargs):
    return [1.0] * len(completions)


@pytest.mark.slow
def test_smollm2_preset_runs_one_sgpo_step(tmp_path):
    pytest.importorskip("gguf")
    from trainer.config import load_config
    from trainer.model import resolve_model
    from trainer.train import train

    try:
        resolve_model("smollm2-135m")
    except ValueError as exc:
        pytest.skip(str(exc))
    export = write_export(tmp_path / "exp", addition_rows(n_train=2, n_test=1))
    # every rollout "correct" + constant alpha: the distillation term is sure to run on a target
    cfg = load_config(None, ["max_steps=1", "per_device_train_batch_size=2", "num_generations=2",
                             "num_guided_generations=2", "max_completion_length=6", "adaptive_alpha=false",
                             "learning_rate=1e-5", "num_threads=1"], algo="sgpo")
    before = torch.get_num_threads()
    try:
        result = train(cfg, export, "smollm2-135m", tmp_path / "out", reward_fn=always_right, show_progress=False)
    finally:
        torch.set_num_threads(before)
    m = result.last_metrics
    assert m["num_targets"] == 1 and m["loss_sd"] >= 0 and torch.isfinite(torch.tensor(m["loss"]))
    assert m["pass_rate_guided"] == 1.0 and m["alphas"] == [0.5]
    assert (result.final / "model.safetensors").is_file()


DDP_SCRIPT = """
import json, os, sys
from trainer.config import load_config
from trainer.train import param_digest, train
from trainer.model import load_model
import torch.distributed as dist

def parity(prompts, completions, **kw):
    return [float(sum(map(ord, c)) % 2) for c in completions]

export, out = sys.argv[1], sys.argv[2]
cfg = load_config(None, ["max_steps=2", "per_device_train_batch_size=4", "num_generations=2",
                         "num_guided_generations=2", "max_completion_length=8", "learning_rate=1e-2",
                         "gamma=0", "num_threads=1"], algo="sgpo")
result = train(cfg, export, "tiny", out, reward_fn=parity, show_progress=False)
rank = dist.get_rank()
model = load_model("tiny")[0]
Path = __import__("pathlib").Path
Path(out, f"rank{rank}.json").write_text(json.dumps({"initial": param_digest(model), "final": result.param_digest,
                                                     "pass_rate": result.last_metrics["pass_rate_unguided"]}))
"""


@pytest.mark.slow
def test_ddp_gloo_two_processes_keep_parameters_identical(tmp_path):
    export = write_export(tmp_path / "exp", addition_rows())
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(export), str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "final" / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["ranks_in_sync"] is True
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["final"] == ranks[1]["final"] == state["param_digest"]
    assert state["param_digest"] != ranks[0]["initial"]     # the replicas trained, and stayed identical
    snapshot = json.loads((out / "config.json").read_text())
    assert snapshot["world_size"] == 2
