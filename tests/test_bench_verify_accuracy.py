"""bench/verify_accuracy.py on a small slice of ../shared/data (--limit 40): every source is
scored, accuracies lie in [0, 1], precision / recall / accuracy agree with the confusion counts
the JSON stores, two runs give the same figures (timings apart), and the answers-1 baseline
and the current checker differ on at least one source (the checker changed).

    .venv/bin/python -m pytest tests/test_bench_verify_accuracy.py -q    # about 25 s on 2 cores
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
JUDGES = ("ours", "answers-1", "math-verify")
SOURCES = ("gsm8k", "gsm8k-nomarker", "math500", "gsm-plus", "r1-gt", "gsm8k-gpt3", "gsm-plus-gpt4",
           "qwen-math-cot", "r1-traces")


def _run(tmp: Path, name: str) -> dict:
    out = tmp / f"{name}.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "verify_accuracy.py"), "--limit", "40", "--timing-cases", "50",
                    "--sample-seeds", "10",
                    "--json", str(out)], check=True, cwd=tmp, capture_output=True, text=True, timeout=240)
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict, dict]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (a fresh clone without ../shared): real-data benchmark test skipped")
    tmp = tmp_path_factory.mktemp("verify_accuracy")
    return _run(tmp, "a"), _run(tmp, "b")


def _check_counts(f: dict) -> None:
    for judge in JUDGES:
        c = f[judge]
        tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
        assert tp + fp + fn + tn == f["n"] and tp + fn == f["positives"]
        assert 0.0 <= c["accuracy"] <= 1.0
        assert c["accuracy"] == pytest.approx((tp + tn) / f["n"], abs=1e-4)
        assert c["precision"] == (pytest.approx(tp / (tp + fp), abs=1e-4) if tp + fp else None)
        assert c["recall"] == (pytest.approx(tp / (tp + fn), abs=1e-4) if tp + fn else None)
    assert 0.0 <= f["ours_unknown_share"] <= 1.0


def test_every_source_is_scored_consistently(runs):
    res = runs[0]["figures"]
    assert set(res["sources"]) == set(SOURCES)
    for name in SOURCES:
        f = res["sources"][name]
        assert 0 < f["n"] <= 40
        _check_counts(f)
    _check_counts(res["overall"])
    assert res["overall"]["n"] == sum(f["n"] for f in res["sources"].values())
    assert {t["source"] for t in res["targets"]} == set(SOURCES)


def test_figures_are_deterministic_and_timings_apart(runs):
    first, second = runs
    assert first["figures"] == second["figures"]
    mix, sample = first["timings"]["public_mix"], first["timings"]["sample"]
    assert mix["cases"] == 50 and sample["cases"] == 60  # 10 seeds x 6 solutions
    for timing in (mix, sample):
        assert all(timing[k] > 0 for k in ("ours_is_correct_us", "answers1_is_correct_us", "math_verify_us"))
    assert sample["pass"] == (sample["ours_over_answers1"] <= 2.0) and "pass" not in mix


def test_the_checker_changed(runs):
    # within the first 40: gsm8k-nomarker (answers-1 takes the last number, ours needs a stated
    # conclusion) and gsm-plus-gpt4 (answers after "####" with units)
    sources = runs[0]["figures"]["sources"].values()
    assert any(f["ours"] != f["answers-1"] for f in sources)
