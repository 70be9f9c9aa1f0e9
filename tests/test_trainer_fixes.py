"""Regression tests for issue 16's trainer fixes that need no training loop: guided prompts that
never lose question text, and the three KL clip modes.

    .venv/bin/python -m pytest tests/test_trainer_fixes.py -q
"""
from __future__ import annotations

import pytest
import torch

from trainer.data import STRATEGY_HEADER, encode_prompts, fit_guided_prompt, guided_prompt, render_prompt
from trainer.losses import clipped_token_mean
from trainer.model import build_tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def _length(tok, text: str) -> int:
    return len(tok(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("room", [0, 3, len(STRATEGY_HEADER)])
def test_a_guided_prompt_with_no_room_for_the_strategy_keeps_the_whole_question(tok, room):
    prompt = [{"role": "user", "content": "Ann has 17 apples and buys 25 more. How many now?"}]
    plain = render_prompt(tok, prompt)
    limit = _length(tok, plain) + room          # the header alone does not fit beside the question
    text = guided_prompt(tok, prompt, "Add the two amounts. " * 5, limit)
    kept = tok.decode(encode_prompts(tok, [text], limit)[0])
    assert kept == plain and STRATEGY_HEADER not in kept
    assert fit_guided_prompt(tok, prompt, "Add the two amounts.", limit) == (plain, False)


def test_a_guided_prompt_that_fits_says_so(tok):
    prompt = [{"role": "user", "content": "What is 2+3?"}]
    text, has = fit_guided_prompt(tok, prompt, "Add the numbers.", 10_000)
    assert has and STRATEGY_HEADER in text and text.endswith("<|im_start|>assistant\n")
    limit = _length(tok, render_prompt(tok, prompt)) + len(STRATEGY_HEADER) + 12
    text, has = fit_guided_prompt(tok, prompt, "Add the numbers. " * 10, limit)
    assert has and _length(tok, text) <= limit and text.startswith("<|im_start|>user\nWhat is 2+3?")
    assert fit_guided_prompt(tok, prompt, "", 10_000) == (render_prompt(tok, prompt), False)


def test_kl_clip_modes_mask_scale_none():
    kl = torch.tensor([[0.5, 3.0, 2.0, 9.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])            # the last token is padding
    masked, frac = clipped_token_mean(kl, mask, 1.0, "mask")
    assert masked.item() == pytest.approx(0.5) and frac == pytest.approx(2 / 3)
    scaled, frac_s = clipped_token_mean(kl, mask, 1.0, "scale")
    assert scaled.item() == pytest.approx((0.5 + 1.0 + 1.0) / 3) and frac_s == pytest.approx(2 / 3)
    (grad,) = torch.autograd.grad(scaled, kl)
    # every real token keeps a gradient of its own sign; above delta its weight is delta / KL
    assert torch.allclose(grad, torch.tensor([[1 / 3, 1 / 9, 1 / 6, 0.0]]))
    plain, frac_n = clipped_token_mean(kl, mask, 1.0, "none")
    assert plain.item() == pytest.approx(5.5 / 3) and frac_n == 0.0
    with pytest.raises(ValueError):
        clipped_token_mean(kl, mask, 1.0, "clip")
