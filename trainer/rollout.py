"""Rollouts and teacher-forced scoring on padded batches.

    ro = sample_groups(model, tok, prompt_ids, n=8, max_new_tokens=256, temperature=1.0, generator=g)
    ro.texts, ro.completion_ids, ro.completion_mask          # B = len(prompts) * n rows, group-major
    logits = completion_logits(model, ro.prompt_ids, ro.prompt_mask, ro.completion_ids, ro.completion_mask)
    logp = token_logprobs(logits, ro.completion_ids)
    h = completion_hidden(model, ...); logp = chunked_logprobs(model, h, ro.completion_ids, chunk_rows=1024)

Generation is our own batched loop over a Hugging Face causal LM: each distinct prompt is
prefilled once, its KV cache is repeated for the n members of its group, then all rows decode
together (left-padded prompts, position ids from the attention mask). `temperature=0` is greedy.
`VLLMGenerator` is an optional drop-in used only when vLLM is importable and CUDA is present.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


@dataclass
class Rollout:
    prompt_ids: torch.Tensor       # (B, P) left-padded
    prompt_mask: torch.Tensor      # (B, P)
    completion_ids: torch.Tensor   # (B, C) right-padded, eos included when produced
    completion_mask: torch.Tensor  # (B, C) float
    texts: list[str]

    @property
    def num_tokens(self) -> int:
        return int(self.completion_mask.sum().item())


def pad_left(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def pad_right(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.float32)
    for i, s in enumerate(seqs):
        if s:
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, :len(s)] = 1.0
    return ids.to(device), mask.to(device)


def positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _cache_kwarg(model) -> str:
    """transformers >= 5.24 names the argument `cache`; older versions `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _next_token(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def sample_groups(model, tokenizer, prompt_ids: Sequence[Sequence[int]], n: int, max_new_tokens: int,
                  temperature: float = 1.0, top_p: float = 1.0, generator: torch.Generator | None = None) -> Rollout:
    """n completions per prompt (rows group-major: prompt 0's n rows first), shared prefill."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    ids, mask = pad_left(prompt_ids, pad, device)
    pos = positions(mask)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    cache = _cache_of(out)
    cache_kw = _cache_kwarg(model)
    if n > 1:
        cache.batch_repeat_interleave(n)
    logits = out.logits[:, -1].repeat_interleave(n, 0)
    attn = mask.repeat_interleave(n, 0)
    last = pos[:, -1].repeat_interleave(n, 0)
    rows = attn.size(0)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    steps = []
    for t in range(max_new_tokens):
        token = _next_token(logits, temperature, top_p, generator)
        token = torch.where(finished, torch.full_like(token, pad), token)
        steps.append(token)
        finished |= token == eos
        if bool(finished.all()) or t == max_new_tokens - 1:
            break
        attn = torch.cat([attn, attn.new_ones(rows, 1)], dim=1)
        last = last + 1
        out = model(input_ids=token[:, None], attention_mask=attn, position_ids=last[:, None],
                    use_cache=True, **{cache_kw: cache})
        cache = _cache_of(out)
        logits = out.logits[:, -1]
    if was_training:
        model.train()
    completion = torch.stack(steps, dim=1)
    # real tokens: everything up to and including the first eos
    is_eos = (completion == eos).long()
    after_eos = (is_eos.cumsum(-1) - is_eos) > 0
    cmask = (~after_eos).float()
    texts = [tokenizer.decode(row[m.bool()].tolist(), skip_special_tokens=True) for row, m in zip(completion, cmask)]
    return Rollout(ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), completion, cmask, texts)


def completion_logits(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor,
                      completion_mask: torch.Tensor) -> torch.Tensor:
    """Logits predicting each completion token (B, C, V), teacher-forced after left-padded prompts."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask.long(), completion_mask.long()], dim=1)
    # padding after eos stays attendable-free: those keys come after every real token
    c = completion_ids.size(1)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False,
                logits_to_keep=c + 1)
    return out.logits[:, :-1].float()


def completion_hidden(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor,
                      completion_mask: torch.Tensor) -> torch.Tensor:
    """The final hidden states that predict each completion token (B, C, H): `completion_logits`
    before the output head, so callers can apply the head a chunk of rows at a time."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask.long(), completion_mask.long()], dim=1)
    c = completion_ids.size(1)
    out = model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False)
    return out.last_hidden_state[:, -(c + 1):-1]


def _head_logits(head, hidden: torch.Tensor, temperature: float) -> torch.Tensor:
    return head(hidden).float() / temperature


def _chunk_logprobs(head, hidden: torch.Tensor, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    return token_logprobs(_head_logits(head, hidden, temperature), ids)


def chunked_logprobs(model, hidden: torch.Tensor, ids: torch.Tensor, temperature: float = 1.0,
                     chunk_rows: int = 1024) -> torch.Tensor:
    """log p(ids) (B, C) from hidden states, `chunk_rows` token rows of vocabulary-sized logits at a
    time; with gradients on, each chunk's logits are recomputed in backward instead of kept."""
    head = model.get_output_embeddings()
    flat_h, flat_ids = hidden.reshape(-1, hidden.size(-1)), ids.reshape(-1)
    parts = []
    for i in range(0, flat_h.size(0), chunk_rows):
        h, t = flat_h[i:i + chunk_rows], flat_ids[i:i + chunk_rows]
        if torch.is_grad_enabled() and (h.requires_grad or head.weight.requires_grad):
            parts.append(checkpoint(_chunk_logprobs, head, h, t, temperature, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(head, h, t, temperature))
    return (torch.cat(parts) if parts else flat_h.new_zeros(0)).reshape(ids.shape)


@torch.no_grad()
def chunked_entropy(model, hidden: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0,
                    chunk_rows: int = 1024) -> float:
    """Mean entropy of the predicted distributions over real tokens, chunk by chunk."""
    head = model.get_output_embeddings()
    flat = hidden.reshape(-1, hidden.size(-1))
    parts = []
    for i in range(0, flat.size(0), chunk_rows):
        logp = torch.log_softmax(_head_logits(head, flat[i:i + chunk_rows], temperature), dim=-1)
        parts.append(-(logp.exp() * logp).sum(-1))
    ent = torch.cat(parts).reshape(mask.shape)
    return float((ent * mask).sum() / mask.sum().clamp(min=1.0))


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids) from logits (B, T, V) without materialising the full log-softmax."""
    picked = logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


class VLLMGenerator:
    """Optional vLLM sampler on GPU (weights pushed from the training model before each use)."""

    @staticmethod
    def available() -> bool:
        try:
            import vllm  # noqa: F401
        except ImportError:
            return False
        return torch.cuda.is_available()

    def __init__(self, model_path: str, gpu_memory_utilization: float = 0.3, seed: int = 0):
        from vllm import LLM

        self.llm = LLM(model=model_path, gpu_memory_utilization=gpu_memory_utilization, seed=seed,
                       enable_prefix_caching=True)

    def load_weights(self, model) -> None:
        state = model.state_dict()
        self.llm.collective_rpc(lambda worker: worker.model_runner.model.load_weights(state.items()))

    def sample(self, prompt_ids: Sequence[Sequence[int]], n: int, max_new_tokens: int, temperature: float,
               top_p: float, seed: int) -> list[list[int]]:
        from vllm import SamplingParams, TokensPrompt

        params = SamplingParams(n=n, max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids], params, use_tqdm=False)
        return [list(c.token_ids) for o in outs for c in o.outputs]


def rollout_from_ids(tokenizer, prompt_ids: Sequence[Sequence[int]], n: int, completions: Sequence[Sequence[int]],
                     device) -> Rollout:
    """Wrap externally generated completions (e.g. vLLM) into a Rollout."""
    ids, mask = pad_left(prompt_ids, tokenizer.pad_token_id, device)
    cids, cmask = pad_right(completions, tokenizer.pad_token_id, device)
    texts = [tokenizer.decode(c, skip_special_tokens=True) for c in completions]
    return Rollout(ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), cids, cmask, texts)


__all__ = ["Rollout", "VLLMGenerator", "chunked_entropy", "chunked_logprobs", "completion_hidden", "completion_logits",
           "pad_left", "pad_right", "positions", "rollout_from_ids", "sample_groups", "token_logprobs"]
