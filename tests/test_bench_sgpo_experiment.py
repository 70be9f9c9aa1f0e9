"""bench/sgpo_experiment.py: its smallest configuration (--smoke) run twice, once with two worker
processes and once with one, writes the same JSON byte for byte; the task keeps every training
input out of the test splits; the sign test and bootstrap give known values.

    .venv/bin/python -m pytest tests/test_bench_sgpo_experiment.py -q    # about a minute on 2 cores
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import sgpo_stats, sgpo_task  # noqa: E402


def _smoke(tmp: Path, name: str, workers: int) -> bytes:
    out = tmp / f"{name}.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "sgpo_experiment.py"), "--smoke", "--workers", str(workers),
                    "--json", str(out)], check=True, cwd=tmp, capture_output=True, text=True, timeout=300)
    return out.read_bytes()


def test_smoke_run_is_reproducible_across_reruns_and_worker_counts(tmp_path):
    first = _smoke(tmp_path, "a", workers=2)
    second = _smoke(tmp_path, "b", workers=1)
    assert first == second
    res = json.loads(first)
    assert res["methods"] == ["sft_foreign", res["headline"]]
    assert {(r["method"], r["size"], r["seed"]) for r in res["runs"]} == {("sft_foreign", 1, 0), (res["headline"], 1, 0)}
    per_split = len(sgpo_task.REPORT_FAMILIES) * sgpo_task.HELD_OUT
    for r in res["runs"] + res["baselines"]:
        assert sorted(r["correct"]) == sorted(sgpo_task.TEST_SPLITS)
        assert all(len(c) == per_split and set(c) <= {"0", "1"} for c in r["correct"].values())
    sgpo_signal = next(r for r in res["runs"] if r["method"] == res["headline"])["signal"][-1]
    assert sgpo_signal["algo"] == "sgpo" and "alpha_nonzero_share" in sgpo_signal
    assert set(res["sign_tests"]) == {"sft_foreign"}
    assert not (tmp_path / "RESULTS.md").exists()


def test_no_training_input_in_any_test_split():
    for size in (1, 4):
        rows = sgpo_task.target_rows(sgpo_task.REPORT_FAMILIES, seed=3, size=size, style="faithful")
        train = [r for r in rows if r["split"] == "train"]
        assert len(train) == size * len(sgpo_task.REPORT_FAMILIES)
        train_digits = {(r["family"], int(r["question"].split()[1])) for r in train}
        train_questions = {r["question"] for r in train}
        for r in rows:
            if r["split"].startswith("test_"):
                assert r["question"] not in train_questions
                digits = [int(t) for t in r["question"].replace("(", " ").replace(")", " ").split() if t.isdigit()]
                assert (r["family"], digits[0] % 10) not in train_digits, r["question"]
    warm = sgpo_task.warmup_rows(seed=0, n=400)
    families = set(sgpo_task.REPORT_FAMILIES) | set(sgpo_task.VALIDATION_FAMILIES)
    assert not any(r["family"] in families for r in warm)


def test_sign_test_and_bootstrap_values():
    wins_7_of_8 = sgpo_stats.sign_test([1, 1, 1, 1, 1, 1, 1, 0, 0.5], [0, 0, 0, 0, 0, 0, 0, 1, 0.5])
    assert (wins_7_of_8["wins"], wins_7_of_8["losses"], wins_7_of_8["ties"]) == (7, 1, 1)
    assert wins_7_of_8["p"] == round(2 * 9 / 256, 4)
    assert sgpo_stats.sign_test([0.2], [0.2])["p"] == 1.0
    orig = np.ones((2, 3, 4), dtype=int)
    pert = orig.copy()
    pert[:, :, :2] = 0
    s = sgpo_stats.summarise(orig, pert)
    assert s["acc"] == [0.5, 0.5, 0.5] and s["gap"] == [0.5, 0.5, 0.5] and s["retention"] == [0.5, 0.5, 0.5]
    none_right = sgpo_stats.summarise(np.zeros((2, 3, 4), dtype=int), pert)
    assert np.isnan(none_right["retention"][0])
