"""SGPO's loss does not depend on how the global batch is split: one process with two prompts and
two gloo processes with one prompt each (torch.distributed on CPU, spawned here) give the same
averaged gradient to 1e-5, for the default loss and for distill_reduction=sum / loss_type=grpo.

Rollouts come from a fixed sampler (the `sampler` hook vLLM uses) so both layouts see the same
completions; everything else (rewards through the answer checker, advantages, alpha, target
selection, the GRPO and distillation terms, the gradient all_reduce) is the trainer's own code.

    .venv/bin/python -m pytest tests/test_trainer_ddp.py -q
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainer.algorithms import prepare_rl_batch, rl_loss
from trainer.config import load_config
from trainer.data import load_export
from export_fixtures import addition_rows, write_export
from trainer.model import load_model
from trainer.rewards import correctness_reward
from trainer.rollout import rollout_from_ids
from trainer.train import sync_grads

CONFIGS = {"default": [], "sum": ["distill_reduction=sum"], "grpo_loss": ["loss_type=grpo"]}
COMMON = ["per_device_train_batch_size=4", "num_generations=4", "num_guided_generations=2", "gamma=0.0"]


def fixed_sampler(tok, examples, device):
    """Per prompt: unguided rollouts half correct, guided ones all correct (so alpha(q) > 0)."""
    def sample(prompt_ids, n):
        completions = []
        for ids in prompt_ids:
            text = tok.decode(ids)
            ex = next(e for e in examples if e.question in text)
            guided = "strategy" in text
            outs = ([f"so \\boxed{{{ex.answer}}}", f"{ex.answer} it is: \\boxed{{{ex.answer}}}"] if guided else
                    [f"\\boxed{{{ex.answer}}}", "\\boxed{0}", "no idea", f"sum {ex.answer}, \\boxed{{{ex.answer}}}"])
            completions += [tok(o, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for o in outs[:n]]
        return rollout_from_ids(tok, prompt_ids, n, completions, device)
    return sample


def gradients(examples, world: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model, tok = load_model("tiny", device="cpu")
    out = {}
    for name, extra in CONFIGS.items():
        per_device = 4 * len(examples)
        cfg = load_config(None, COMMON + extra + [f"per_device_train_batch_size={per_device}"], algo="sgpo")
        batch = prepare_rl_batch(model, tok, examples, cfg, correctness_reward, torch.Generator().manual_seed(0),
                                 sampler=fixed_sampler(tok, examples, "cpu"))
        assert len(batch.targets) == len(examples), "every prompt should be distilled"
        loss, _ = rl_loss(model, batch, cfg)
        loss.backward()
        sync_grads(model, world)
        out[name] = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone()
        model.zero_grad(set_to_none=True)
    return out


def _worker(rank: int, world: int, init_file: str, export_dir: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        examples = load_export(export_dir).split("train")[:2]
        grads = gradients(examples[rank:rank + 1], world)
        torch.save(grads, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("ddp") / "exp", addition_rows(n_train=2, n_test=1))


def test_one_process_and_two_gloo_processes_give_the_same_gradient(export, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = gradients(load_export(export).split("train")[:2], world=1)
    finally:
        torch.set_num_threads(before)
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(export), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name in CONFIGS:
        assert torch.equal(ranks[0][name], ranks[1][name]), f"{name}: ranks disagree after all_reduce"
        diff = float((ranks[0][name] - single[name]).abs().max())
        scale = float(single[name].abs().max())
        print(f"{name}: max |grad(1 process) - grad(2 processes)| = {diff:.2e} (max |grad| {scale:.2e})")
        assert scale > 0 and diff < 1e-5, f"{name}: gradients differ by {diff:.2e}"
