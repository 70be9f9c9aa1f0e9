"""Trainer behaviour on the tiny preset (CPU, no downloads): padding, rollouts, SFT / GRPO / SGPO
steps, ablations, determinism, metrics, checkpoints, rewards and eval.

    .venv/bin/pytest tests/test_trainer_algos.py -q
"""
from __future__ import annotations

import json

import pytest
import torch

from trainer.algorithms import prepare_rl_batch, rl_loss, sft_loss
from trainer.config import load_config
from trainer.data import load_export, render_prompt
from trainer.eval import evaluate, format_report
from export_fixtures import addition_rows, parity_reward, write_export
from trainer.metrics import read_metrics
from trainer.model import load_model
from trainer.rewards import correctness_reward, make_reward, strategy_alignment_reward
from trainer.rollout import completion_logits, pad_left, sample_groups, token_logprobs
from trainer.train import train

RL = ["max_steps=3", "per_device_train_batch_size=8", "num_generations=4", "num_guided_generations=2",
      "max_completion_length=12", "learning_rate=1e-2", "gamma=0.0"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: intra-op threads only add contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("trainer") / "exp", addition_rows())


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


def test_logprobs_under_left_padding_match_unpadded(tiny):
    model, tok = tiny
    model.eval()
    prompts = [tok("What is 12+30?", add_special_tokens=False).input_ids, tok("Hi", add_special_tokens=False).input_ids]
    completion = tok(" 42 is it", add_special_tokens=False).input_ids
    p_ids, p_mask = pad_left(prompts, tok.pad_token_id, "cpu")
    c_ids = torch.tensor([completion, completion])
    c_mask = torch.ones_like(c_ids, dtype=torch.float32)
    batched = token_logprobs(completion_logits(model, p_ids, p_mask, c_ids, c_mask), c_ids)
    for i, p in enumerate(prompts):
        alone = token_logprobs(completion_logits(model, torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long),
                                                 c_ids[:1], c_mask[:1]), c_ids[:1])
        assert (alone[0] - batched[i]).abs().max().item() < 1e-5
    assert p_mask[1].sum() < p_mask[0].sum()   # the second prompt really was padded
    model.train()


def test_shared_prefill_sampling_matches_hf_generate(tiny):
    model, tok = tiny
    prompts = [tok("abc", add_special_tokens=False).input_ids, tok("a longer prompt", add_special_tokens=False).input_ids]
    ours = sample_groups(model, tok, prompts, n=2, max_new_tokens=8, temperature=0.0)
    assert ours.completion_ids.shape == (4, 8) and torch.equal(ours.completion_ids[0], ours.completion_ids[1])
    ids, mask = pad_left(prompts, tok.pad_token_id, "cpu")
    model.eval()
    ref = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)[:, ids.size(1):]
    model.train()
    for i in range(2):
        n = int(ours.completion_mask[2 * i].sum())
        assert ours.completion_ids[2 * i, :n].tolist() == ref[i, :n].tolist()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = sample_groups(model, tok, prompts, n=3, max_new_tokens=6, generator=g1)
    b = sample_groups(model, tok, prompts, n=3, max_new_tokens=6, generator=g2)
    assert torch.equal(a.completion_ids, b.completion_ids)


def test_sft_loss_is_the_completion_tokens_nll_with_the_prompt_masked(export, tiny):
    model, tok = tiny
    cfg = load_config(None, [], algo="sft")
    [ex] = load_export(export).split("train")[:1]
    prompt = tok(render_prompt(tok, ex.prompt), add_special_tokens=False)["input_ids"]
    completion = tok(ex.teacher_completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1]
        expected = torch.nn.functional.cross_entropy(logits[len(prompt) - 1:], ids[0, len(prompt):])
        loss, _ = sft_loss(model, tok, [ex], cfg)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_sft_overfits_one_batch(export):
    model, tok = load_model("tiny", seed=1)
    cfg = load_config(None, ["max_completion_length=64"], algo="sft")
    batch = load_export(export).split("train")[:2]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(120):
        loss, _ = sft_loss(model, tok, batch, cfg)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 4.0 and loss.item() < 0.15   # from ~ln(259) to near-memorised


@pytest.mark.parametrize("algo, extra", [("sft", []), ("grpo", ["beta=0.05", "gradient_checkpointing=true"]), ("sgpo", [])])
def test_every_parameter_changes(export, tmp_path, algo, extra):
    before = {k: v.clone() for k, v in load_model("tiny")[0].state_dict().items()}
    cfg = load_config(None, RL + extra + (["per_device_train_batch_size=4"] if algo == "sft" else []), algo=algo)
    result = train(cfg, export, "tiny", tmp_path / algo, reward_fn=None if algo == "sft" else parity_reward,
                   show_progress=False)
    after = load_model(str(result.final))[0].state_dict()
    unchanged = [k for k, v in after.items() if torch.equal(v, before[k])]
    assert not unchanged, unchanged
    rows = read_metrics(result.metrics_path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    if algo == "sgpo":
        assert any(r["num_targets"] > 0 for r in rows) and any(r["loss_sd"] > 0 for r in rows)
    if algo == "grpo":
        assert "loss_kl_ref" in rows[-1]


def test_metrics_cover_issue_item_8_and_config_snapshot(export, tmp_path):
    cfg = load_config(None, RL + ["max_steps=2", "kl_clip_delta=0.0001"], algo="sgpo")
    result = train(cfg, export, "tiny", tmp_path / "m", reward_fn=parity_reward, show_progress=False)
    row = read_metrics(result.metrics_path)[-1]
    for key in ("loss", "loss_grpo", "loss_sd", "reward_mean", "reward_std", "pass_rate_unguided", "pass_rate_guided",
                "alpha_mean", "alpha_min", "alpha_max", "alpha_nonzero_frac", "alphas", "kl_clipped_frac", "entropy",
                "tokens_per_s", "time_generation", "time_scoring", "time_update", "grad_norm", "lr"):
        assert key in row, key
    rows = read_metrics(result.metrics_path)
    assert max(r["kl_clipped_frac"] for r in rows) > 0.5     # a tiny delta clips most tokens
    snap = json.loads((tmp_path / "m" / "config.json").read_text())
    assert snap["algo"] == "sgpo" and snap["kl_clip_delta"] == 0.0001 and snap["model"] == "tiny"
    assert (result.final / "model.safetensors").is_file()
    assert json.loads((result.final / "trainer_state.json").read_text())["ranks_in_sync"] is True


def test_two_seeded_runs_are_bitwise_equal(export, tmp_path):
    digests = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = load_config(None, RL + ["max_steps=2", f"seed={seed}"], algo="sgpo")
        train(cfg, export, "tiny", tmp_path / name, reward_fn=parity_reward, show_progress=False)
        digests.append(json.loads((tmp_path / name / "final" / "trainer_state.json").read_text())["param_digest"])
    metrics = [(tmp_path / n / "metrics.jsonl").read_text() for n in "ab"]
    assert digests[0] == digests[1] and digests[0] != digests[2]
    strip = lambda text: [{k: v for k, v in json.loads(l).items() if not k.startswith("time") and k != "tokens_per_s"}
                          for l in text.splitlines()]
    assert strip(metrics[0]) == strip(metrics[1])


def test_ratio_and_old_logprobs_are_scored_at_the_sampling_temperature(export, tiny):
    model, tok = tiny
    cfg = load_config(None, RL + ["num_iterations=2", "temperature=0.5"], algo="grpo")
    examples = load_export(export).split("train")[:2]
    batch = prepare_rl_batch(model, tok, examples, cfg, parity_reward, torch.Generator().manual_seed(0))
    ro = batch.rollout
    with torch.no_grad():
        logits = completion_logits(model, ro.prompt_ids, ro.prompt_mask, ro.completion_ids, ro.completion_mask)
    expected = token_logprobs(logits / 0.5, ro.completion_ids)
    assert torch.allclose(batch.old_logp, expected, atol=1e-5)
    _, m = rl_loss(model, batch, cfg)  # first pass: new == old, so no token is clipped
    assert m["clip_ratio_low"] == m["clip_ratio_high"] == 0.0


def test_distillation_is_summed_over_prompts_unless_mean(export, tiny):
    model, tok = tiny
    examples = load_export(export).split("train")[:2]
    losses = {}
    for reduction in ("sum", "mean"):
        cfg = load_config(None, RL + ["unguided_grpo=false", f"distill_reduction={reduction}"], algo="sgpo")
        batch = prepare_rl_batch(model, tok, examples, cfg, parity_reward, torch.Generator().manual_seed(0))
        losses[reduction] = rl_loss(model, batch, cfg)[1]["loss_sd"]
    assert losses["sum"] == pytest.approx(2 * losses["mean"], rel=1e-5)  # Q = 2 prompts


def test_sgpo_ablation_flags_change_what_they_name(export, tiny):
    model, tok = tiny
    examples = load_export(export).split("train")[:2]

    def run(*flags):
        cfg = load_config(None, RL + list(flags), algo="sgpo")
        batch = prepare_rl_batch(model, tok, examples, cfg, parity_reward, torch.Generator().manual_seed(0))
        return cfg, batch, rl_loss(model, batch, cfg)[1]

    cfg, base, m = run()
    assert base.targets and m["loss_sd"] > 0
    _, flat, _ = run("adaptive_alpha=false")
    assert set(flat.alphas) <= {0.0, cfg.alpha0} and flat.alphas != base.alphas
    for flag in ("distill_divergence=reverse", "distill_mode=sft"):  # reverse ~ forward for close distributions
        assert run(flag)[2]["loss_sd"] != pytest.approx(m["loss_sd"], rel=1e-5), flag
    clipped = run("kl_clip_delta=1e-9", "kl_clip_mode=mask")[2]  # every token's KL is above delta: all masked
    assert clipped["kl_clipped_frac"] == 1.0 and clipped["loss_sd"] == 0.0
    scaled = run("kl_clip_delta=1e-9")[2]  # the default, scale: every token clamped to delta
    assert scaled["kl_clipped_frac"] == 1.0 and 0.0 < scaled["loss_sd"] <= 1e-9 * len(base.targets) * 1.001
    assert run("kl_clip_delta=1e-9", "kl_clipping=false")[2]["loss_sd"] == pytest.approx(m["loss_sd"])
    assert "loss_grpo" not in run("unguided_grpo=false")[2]


@pytest.mark.parametrize("flag", ["target_selection=false", "kl_clipping=false", "adaptive_alpha=false",
                                  "distill_divergence=reverse", "distill_mode=sft", "unguided_grpo=false",
                                  "proximal_clipping=false", "distill_reduction=mean",
                                  "loss_type=grpo", "loss_type=dr_grpo", "num_iterations=2"])
def test_sgpo_ablations_run(export, tiny, flag):
    model, tok = tiny
    cfg = load_config(None, RL + [flag], algo="sgpo")
    examples = load_export(export).split("train")[:2]
    batch = prepare_rl_batch(model, tok, examples, cfg, parity_reward, torch.Generator().manual_seed(0))
    assert batch.targets, "the fixture should give SGPO a distillation target"
    loss, m = rl_loss(model, batch, cfg)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    assert torch.isfinite(loss) and all(g is not None for g in grads)
    assert ("loss_grpo" in m) == (flag != "unguided_grpo=false")
    assert m["loss_sd"] > 0
    if flag == "kl_clipping=false":
        assert m["kl_clipped_frac"] == 0.0
    if flag == "num_iterations=2":
        assert batch.old_logp is not None


def test_rewards_keep_trl_signature():
    completions = [[{"role": "assistant", "content": "so \\boxed{5}"}], [{"role": "assistant", "content": "4"}], "#### 5"]
    assert correctness_reward(["p"] * 3, completions, solution=["5", "5", "5"]) == [1.0, 0.0, 1.0]
    both = make_reward([correctness_reward, lambda prompts, completions, **kw: [0.5] * len(completions)], [1.0, 2.0])
    assert both(["p"] * 3, completions, solution=["5"] * 3) == [2.0, 1.0, 2.0]
    gated = strategy_alignment_reward(["p"] * 2, ["Let me check: 2+3=5. \\boxed{5}", "Let me check: \\boxed{4}"],
                                      solution=["5", "5"], strategy_plan=[[{"label": "verification"}]] * 2)
    assert gated == [1.0, 0.0]  # the planned label found in the correct completion; the wrong one gets nothing
    with pytest.raises(ValueError):
        correctness_reward(["p"], ["x"])


def test_strategy_reward_without_the_rules_tagger_fails_loudly(monkeypatch):
    import builtins

    from trainer import rewards

    real_import = builtins.__import__

    def no_rules(name, *args, **kwargs):
        if name == "annotators.rules":
            raise ImportError("No module named 'polars'")
        return real_import(name, *args, **kwargs)

    rewards.rules_tagger.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_rules)
    with pytest.raises(RuntimeError, match="strategy_reward_weight=0"):
        strategy_alignment_reward(["p"], ["\\boxed{5}"], solution=["5"], strategy_plan=[[{"label": "verification"}]])
    monkeypatch.undo()
    rewards.rules_tagger.cache_clear()
    assert rewards.rules_tagger() is rewards.rules_tagger()  # built once, not on every reward call


def test_eval_side_by_side(export, tmp_path):
    cfg = load_config(None, ["max_steps=2", "per_device_train_batch_size=4"], algo="sft")
    ckpt = train(cfg, export, "tiny", tmp_path / "sft", show_progress=False).final
    report = evaluate(["tiny", str(ckpt)], export, max_new_tokens=6)
    assert report.splits == ["test_original", "test_numbers"]
    assert [r.n["test_original"] for r in report.results] == [2, 2]
    assert set(report.results[0].gap) == {"test_numbers"}
    text = format_report(report)
    assert "test_original (n=2)" in text and "sft/final" in text and "gap original-perturbed" in text
