"""Trainer loss pieces against hand-computed values (pure tensor functions, no model).

    .venv/bin/pytest tests/test_trainer_losses.py -q
"""
from __future__ import annotations

import math

import pytest
import torch

from trainer.losses import (adaptive_alpha, aggregate, clipped_surrogate, clipped_token_mean, full_kl,
                            group_advantages, k3_kl, kl_clip_mask, select_target, token_entropy)


def test_group_advantages_by_hand():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    adv = group_advantages(r, 3, scale=False)
    assert torch.allclose(adv, torch.tensor([2 / 3, -1 / 3, -1 / 3, -2 / 3, 1 / 3, 1 / 3]))
    scaled = group_advantages(r, 3, scale=True, eps=0.0)
    std = math.sqrt(((2 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2)  # unbiased std of (1, 0, 0)
    assert scaled[0].item() == pytest.approx((2 / 3) / std, rel=1e-6)
    assert torch.all(group_advantages(torch.ones(4), 2) == 0)


def test_clipped_surrogate_by_hand():
    # row 0 (A=+1): ratios 1.5 (clipped at 1 + 0.28) and 1.1 (inside); row 1 (A=-1): ratio 0.5 (clipped at 0.8), padding
    logp = torch.log(torch.tensor([[1.5, 1.1], [0.5, 1.0]]))
    old = torch.zeros(2, 2)
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    row0 = [-min(1.5, 1.28), -min(1.1, 1.1)]          # [-1.28, -1.1]
    row1 = [-min(0.5 * -1, 0.8 * -1)]                  # [0.8]
    dapo, stats = clipped_surrogate(logp, old, adv, mask, 0.2, 0.28, "dapo", 4)
    assert dapo.item() == pytest.approx((sum(row0) + sum(row1)) / 3, rel=1e-6)
    grpo, _ = clipped_surrogate(logp, old, adv, mask, 0.2, 0.28, "grpo", 4)
    assert grpo.item() == pytest.approx((sum(row0) / 2 + sum(row1) / 1) / 2, rel=1e-6)
    dr, _ = clipped_surrogate(logp, old, adv, mask, 0.2, 0.28, "dr_grpo", 4)
    assert dr.item() == pytest.approx((sum(row0) + sum(row1)) / (2 * 4), rel=1e-6)
    assert stats["clip_ratio_high"] == pytest.approx(1 / 3)
    assert stats["clip_ratio_low"] == pytest.approx(1 / 3)


def test_reference_kl_is_added_per_token_before_aggregation_and_dapo_takes_a_global_count():
    logp = torch.log(torch.tensor([[1.5, 1.1], [0.5, 1.0]]))
    old, adv = torch.zeros(2, 2), torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    ref = torch.log(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    surrogate = torch.tensor([[-1.28, -1.1], [0.8, 0.0]])
    k3 = torch.exp(ref - logp) - (ref - logp) - 1
    per_token = surrogate + 0.1 * k3
    dr, stats = clipped_surrogate(logp, old, adv, mask, 0.2, 0.28, "dr_grpo", 4, ref_logp=ref, beta=0.1)
    assert dr.item() == pytest.approx(float((per_token * mask).sum() / (2 * 4)), rel=1e-6)  # TRL: KL inside
    assert stats["loss_kl_ref"] == pytest.approx(float((k3 * mask).sum() / 3), rel=1e-6)
    # DDP: rank tokens 3, all ranks 3 + 9 over 2 ranks -> divide by 6, not by this rank's 3
    dapo, _ = clipped_surrogate(logp, old, adv, mask, 0.2, 0.28, "dapo", 4, num_tokens=torch.tensor(6.0))
    assert dapo.item() == pytest.approx(float((surrogate * mask).sum() / 6), rel=1e-6)


def test_no_proximal_clipping_is_the_plain_ratio_surrogate():
    logp = torch.log(torch.tensor([[1.5, 1.1], [0.5, 1.0]]))
    adv, mask = torch.tensor([1.0, -1.0]), torch.ones(2, 2)
    loss, stats = clipped_surrogate(logp, torch.zeros(2, 2), adv, mask, math.inf, math.inf, "dapo", 2)
    assert loss.item() == pytest.approx((-1.5 - 1.1 + 0.5 + 1.0) / 4, rel=1e-6)
    assert stats["clip_ratio_low"] == stats["clip_ratio_high"] == 0.0


def test_clip_higher_is_asymmetric():
    adv = torch.tensor([1.0])
    mask = torch.ones(1, 1)
    at = lambda r: clipped_surrogate(torch.log(torch.tensor([[r]])), torch.zeros(1, 1), adv, mask, 0.2, 0.28)[0].item()
    assert at(1.25) == pytest.approx(-1.25)   # inside (1 - 0.2, 1 + 0.28): not clipped
    assert at(1.40) == pytest.approx(-1.28)   # clipped at 1 + epsilon_high, not 1 + epsilon


def test_surrogate_at_ratio_one_has_reinforce_gradient():
    torch.manual_seed(0)
    logp = (torch.randn(3, 5) - 2).requires_grad_()
    adv = torch.tensor([0.7, -1.2, 0.5])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    loss, _ = clipped_surrogate(logp, logp.detach(), adv, mask, 0.2, 0.28, "dapo")
    loss.backward()
    expected = -(adv[:, None] * mask) / mask.sum()   # grad of -(1/N) sum A_i log pi(o_it)
    assert torch.allclose(logp.grad, expected, atol=1e-7)


def test_k3_by_hand():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -2.0])
    expected = [math.exp(-0.5) + 0.5 - 1, 0.0]
    assert torch.allclose(k3_kl(logp, ref), torch.tensor(expected), atol=1e-7)


def _direct_kl(p_logits, q_logits):
    """KL(P || Q) row by row with explicit sums over the vocabulary."""
    out = []
    for pl, ql in zip(p_logits.reshape(-1, p_logits.size(-1)), q_logits.reshape(-1, q_logits.size(-1))):
        p = [math.exp(x) for x in pl.tolist()]
        p = [x / sum(p) for x in p]
        q = [math.exp(x) for x in ql.tolist()]
        q = [x / sum(q) for x in q]
        out.append(sum(a * math.log(a / b) for a, b in zip(p, q)))
    return torch.tensor(out, dtype=torch.float64).reshape(p_logits.shape[:-1])


def test_forward_kl_zero_for_equal_and_matches_direct():
    torch.manual_seed(1)
    student = torch.randn(2, 3, 11, dtype=torch.float64)
    teacher = torch.randn(2, 3, 11, dtype=torch.float64)
    assert torch.allclose(full_kl(student, student.clone()), torch.zeros(2, 3, dtype=torch.float32), atol=1e-6)
    fwd = full_kl(student, teacher, "forward", chunk_size=2)   # chunked over token rows
    assert torch.allclose(fwd.double(), _direct_kl(teacher, student), atol=1e-5)   # KL(teacher || student)
    rev = full_kl(student, teacher, "reverse", chunk_size=4)
    assert torch.allclose(rev.double(), _direct_kl(student, teacher), atol=1e-5)
    assert not torch.allclose(fwd, rev)


def test_chunked_kl_gradient_matches_unchunked_and_teacher_gets_none():
    torch.manual_seed(2)
    s1 = torch.randn(4, 5, 7, requires_grad=True)
    s2 = s1.detach().clone().requires_grad_()
    teacher = torch.randn(4, 5, 7, requires_grad=True)
    full_kl(s1, teacher, chunk_size=3).sum().backward()
    full_kl(s2, teacher, chunk_size=1000).sum().backward()
    assert torch.allclose(s1.grad, s2.grad, atol=1e-6)
    assert teacher.grad is None   # stop-gradient on the guided distribution


def test_kl_clipping_masks_exactly_tokens_above_delta():
    kl = torch.tensor([[0.5, 1.0, 1.5, 3.0], [0.1, 2.0, 0.2, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    keep = kl_clip_mask(kl, mask, 1.0)
    assert keep.tolist() == [[1, 1, 0, 0], [1, 0, 1, 0]]
    loss, frac = clipped_token_mean(kl, mask, 1.0)
    assert loss.item() == pytest.approx((0.5 + 1.0 + 0.1 + 0.2) / 4)
    assert frac == pytest.approx(3 / 7)
    loss_all, frac_all = clipped_token_mean(kl, mask, None)
    assert frac_all == 0.0 and loss_all.item() == pytest.approx((0.5 + 1 + 1.5 + 3 + 0.1 + 2 + 0.2) / 7)


def test_adaptive_alpha_boundaries():
    a = dict(alpha0=0.5, alpha_max=0.8, gamma=0.1)
    assert adaptive_alpha(0.0, 0.0, **a) == 0.0                    # no guided rollout correct
    assert adaptive_alpha(1.0, 1.0, **a) == 0.0                    # unguided already solves it
    assert adaptive_alpha(0.5, 0.55, **a) == 0.0                   # gain below gamma
    assert adaptive_alpha(0.5, 0.6, **a) == pytest.approx(0.5 * 0.5 + 0.1)   # gain exactly gamma counts
    assert adaptive_alpha(0.25, 0.75, **a) == pytest.approx(0.8)   # 0.875 capped at alpha_max
    assert adaptive_alpha(0.0, 0.25, **a) == pytest.approx(0.75)   # 0.5 + 0.25, below the cap
    assert adaptive_alpha(0.5, 0.25, adaptive=False, **a) == 0.5   # ablation: constant alpha0
    assert adaptive_alpha(0.5, 0.0, adaptive=False, **a) == 0.0


def test_target_selection_picks_highest_unguided_likelihood_among_correct():
    lp = [-0.5, -2.0, -1.0, -0.1]
    assert select_target(lp, [False, True, True, False]) == 2      # -0.1 and -0.5 are wrong answers
    assert select_target(lp, [True, True, True, True]) == 3
    assert select_target(lp, [False] * 4) is None
    g = torch.Generator().manual_seed(0)
    picks = {select_target(lp, [False, True, True, False], by_likelihood=False, generator=g) for _ in range(30)}
    assert picks == {1, 2}


def test_aggregate_rejects_unknown_loss_type():
    with pytest.raises(ValueError):
        aggregate(torch.zeros(1, 1), torch.ones(1, 1), "ppo", 1)


def test_token_entropy_uniform_and_chunked():
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert token_entropy(torch.zeros(1, 3, 7), mask) == pytest.approx(math.log(7), rel=1e-6)
    logits = torch.randn(2, 5, 9)
    m = torch.ones(2, 5)
    assert token_entropy(logits, m, chunk_size=3) == pytest.approx(token_entropy(logits, m, chunk_size=100), rel=1e-6)
