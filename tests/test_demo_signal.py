"""The demo's evidence helpers (pipeline/demo.py): Wilson 95% intervals, the weight change
between two checkpoints, the guess baseline and the guided warm-up copy of an export.

    .venv/bin/python -m pytest tests/test_demo_signal.py -q
"""
from __future__ import annotations

import math

import pytest
import torch

from pipeline.demo import weight_change, wilson


@pytest.mark.parametrize("k, n", [(0, 40), (12, 40), (40, 40), (1, 3), (250, 1000)])
def test_wilson_bounds_solve_the_score_equation(k, n):
    low, high = wilson(k, n)
    p_hat, z = k / n, 1.96
    assert 0.0 <= low <= p_hat <= high <= 1.0
    for bound in (low, high):  # the Wilson bounds are the p with |p_hat - p| = z * sqrt(p (1 - p) / n)
        if 0.0 < bound < 1.0:
            assert (p_hat - bound) ** 2 == pytest.approx(z * z * bound * (1 - bound) / n, rel=1e-9, abs=1e-12)
    assert wilson(0, 40)[0] == 0.0 and wilson(0, 40)[1] == pytest.approx(0.0876, abs=1e-4)


def test_weight_change_is_zero_for_the_same_weights_and_relative_otherwise(tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    w = {"x": torch.tensor([3.0, 4.0]), "y": torch.zeros(2)}
    save_file(w, str(tmp_path / "a" / "model.safetensors"))
    save_file({"x": torch.tensor([3.0, 4.0]), "y": torch.tensor([0.0, 0.5])}, str(tmp_path / "b" / "model.safetensors"))
    assert weight_change(tmp_path / "a", tmp_path / "a") == 0.0
    assert math.isclose(weight_change(tmp_path / "a", tmp_path / "b"), 0.5 / 5.0)


def test_guided_warmup_export_guides_every_other_train_row_and_loads(tmp_path):
    from pipeline.demo import export_lengths, guided_warmup_export
    from trainer.data import STRATEGY_HEADER, load_export
    from export_fixtures import make_row, write_export

    rows = [make_row(f"q{i}", f"Ava has {i} pears. How many pears does Ava have?", str(i),
                     f"Ava has {i} pears. \\boxed{{{i}}}", split="train", strategy="Find Ava's pears.")
            for i in range(2, 8)]
    rows += [make_row("t1", "Ben has 3 plums. How many plums does Ben have?", "3", "Ben has 3 plums. \\boxed{3}",
                      split="test_original", strategy="Find Ben's plums.")]
    source = write_export(tmp_path / "exp", rows)
    warm = load_export(guided_warmup_export(source, tmp_path / "warm"))
    original = load_export(source)
    guided = [STRATEGY_HEADER in e.prompt[-1]["content"] for e in warm.split("train")]
    assert guided == [False, True] * 3
    assert [e.prompt for e in warm.split("test_original")] == [e.prompt for e in original.split("test_original")]
    assert [e.teacher_completion for e in warm.examples] == [e.teacher_completion for e in original.examples]
    lengths = export_lengths(source)  # byte-level tokens: every completion + EOS and guided prompt fits
    longest = max(len(e.teacher_completion.encode()) for e in original.examples if e.split == "train")
    assert longest + 1 <= lengths.completion < longest + 1 + 8


def test_guess_baseline_scores_the_most_common_train_answer_on_the_rows_eval_reads(tmp_path):
    from pipeline.demo import guess_baseline
    from export_fixtures import make_row, write_export

    rows = [make_row(f"q{i}", f"Ava has {a} pears. How many?", a, f"\\boxed{{{a}}}", split="train", strategy="s")
            for i, a in enumerate(["3", "3", "5"])]
    rows += [make_row(f"t{i}", f"Ben has {a} plums. How many?", a, f"\\boxed{{{a}}}", split="test_original",
                      strategy="s") for i, a in enumerate(["3", "4", "3", "3"])]
    source = write_export(tmp_path / "exp", rows)
    assert guess_baseline(source, None)["test_original"]["correct"] == 3
    first_two = guess_baseline(source, 2)["test_original"]
    assert (first_two["correct"], first_two["n"]) == (1, 2) and first_two["low"] < 0.5 < first_two["high"]
