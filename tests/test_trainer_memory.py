"""Rollout scoring and the full-vocabulary KL never hold a (rows x V) tensor larger than one chunk:
a tiny Llama with a 16,384-token vocabulary, every tensor any aten op returns during an SGPO batch's
scoring, loss and backward is recorded (a TorchDispatchMode), and the largest must stay at the
size of one chunk of logits (or the embedding matrix), far below B x C x V.

    .venv/bin/python -m pytest tests/test_trainer_memory.py -q
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from test_trainer_ddp import fixed_sampler
from trainer.algorithms import prepare_rl_batch, rl_loss
from trainer.config import load_config
from trainer.data import load_export
from export_fixtures import addition_rows, write_export
from trainer.model import build_tiny_tokenizer
from trainer.rewards import correctness_reward

VOCAB, HIDDEN, CHUNK = 16_384, 8, 8


class LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_scoring_and_distillation_work_in_chunks_of_rows(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(1)
    tok = build_tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True))
    examples = load_export(write_export(tmp_path / "exp", addition_rows(n_train=2, n_test=1))).split("train")
    cfg = load_config(None, ["per_device_train_batch_size=8", "num_generations=4", "num_guided_generations=2",
                             "gamma=0.0", "num_iterations=2", f"kl_chunk_size={CHUNK}"], algo="sgpo")
    with LargestTensor() as probe:
        batch = prepare_rl_batch(model, tok, examples, cfg, correctness_reward, torch.Generator().manual_seed(0),
                                 sampler=fixed_sampler(tok, examples, "cpu"))
        loss, m = rl_loss(model, batch, cfg)
        loss.backward()
    rows = batch.rollout.completion_ids.numel()          # B x C scored token rows in the GRPO term
    assert batch.targets and m["loss_sd"] > 0 and rows >= 8 * CHUNK
    bound = max(CHUNK * VOCAB, VOCAB * HIDDEN)
    print(f"largest tensor {probe.largest:,} elements; one chunk {CHUNK * VOCAB:,}; B x C x V {rows * VOCAB:,}")
    assert probe.largest <= bound < rows * VOCAB / 8
