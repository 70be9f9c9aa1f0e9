"""Statistics for bench/sgpo_experiment.py: accuracy, original-minus-perturbed gap and paired
retention P(perturbed correct | original correct) with cluster-bootstrap 95% intervals, and an
exact two-sided sign test over paired units (seed x data size).

    cells = np.array(...)    # (seeds, families, items) of 0/1, one array per split, rows paired across splits
    summarise(orig, pert)    # {"acc": [mean, lo, hi], "gap": [...], "retention": [...]}
    sign_test([0.3, 0.1], [0.2, 0.2])   # {"wins": 1, "losses": 1, "ties": 0, "p": 1.0}

The bootstrap resamples seeds and families with replacement (both are the units that vary:
problems of one family share a rule, runs of one seed share a model), 2000 draws from a fixed
generator, so the same inputs always give the same interval.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DRAWS = 2000


def _indices(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seeds, families = shape[0], shape[1]
    return rng.integers(seeds, size=(DRAWS, seeds)), rng.integers(families, size=(DRAWS, families))


def _resample(a: np.ndarray, si: np.ndarray, fi: np.ndarray) -> np.ndarray:
    """(DRAWS, seeds, families, items) from one index draw per bootstrap sample."""
    return a[si[:, :, None], fi[:, None, :]]


def _interval(point: float, samples: np.ndarray) -> list[float]:
    samples = samples[~np.isnan(samples)]
    if not samples.size or math.isnan(point):
        return [point, math.nan, math.nan]
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [round(float(point), 4), round(float(lo), 4), round(float(hi), 4)]


def _retention(orig: np.ndarray, pert: np.ndarray, axes) -> np.ndarray | float:
    kept = (orig * pert).sum(axis=axes)
    base = orig.sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base > 0, kept / np.maximum(base, 1), np.nan)


def accuracy(a: np.ndarray) -> list[float]:
    si, fi = _indices(a.shape, 0)
    return _interval(float(a.mean()), _resample(a, si, fi).mean(axis=(1, 2, 3)))


def summarise(orig: np.ndarray, pert: np.ndarray) -> dict[str, list[float]]:
    """Accuracy of `pert`, gap mean(orig) - mean(pert) and retention, paired resampling."""
    si, fi = _indices(orig.shape, 0)
    o, p = _resample(orig, si, fi), _resample(pert, si, fi)
    return {"acc": _interval(float(pert.mean()), p.mean(axis=(1, 2, 3))),
            "gap": _interval(float(orig.mean() - pert.mean()), o.mean(axis=(1, 2, 3)) - p.mean(axis=(1, 2, 3))),
            "retention": _interval(float(_retention(orig, pert, None)), _retention(o, p, (1, 2, 3)))}


def sign_test(a: Sequence[float], b: Sequence[float]) -> dict:
    """Exact two-sided sign test of a vs b over paired units; ties are dropped."""
    wins = sum(x > y for x, y in zip(a, b))
    losses = sum(x < y for x, y in zip(a, b))
    n = wins + losses
    k = min(wins, losses)
    p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)
    return {"wins": wins, "losses": losses, "ties": len(a) - n, "p": round(p, 4),
            "mean_diff": round(float(np.mean(np.subtract(a, b))), 4) if len(a) else math.nan}


__all__ = ["DRAWS", "accuracy", "sign_test", "summarise"]
