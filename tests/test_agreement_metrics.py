"""Agreement metrics (annotators/agreement.py) against values worked out by hand.

    .venv/bin/pytest tests/test_agreement_metrics.py
"""
from __future__ import annotations

import pytest

from annotators.agreement import (
    cohen_kappa, compare, krippendorff_alpha_nominal, span_prf, token_labels, tokens,
)


def test_cohen_kappa_textbook_table():
    # 2x2 table: yes/yes 20, yes/no 5, no/yes 10, no/no 15 (50 items).
    # po = 35/50 = 0.7; pe = .5*.6 + .5*.4 = 0.5; kappa = (0.7-0.5)/(1-0.5) = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_krippendorff_binary_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha", binary data, two observers: alpha = 0.095
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha_nominal(a, b) == pytest.approx(0.095, abs=5e-4)
    # Same data, kappa by hand: po = 6/10, pe = .2*.4 + .8*.6 = 0.56, kappa = 0.04/0.44
    assert cohen_kappa(a, b) == pytest.approx(0.04 / 0.44)


def test_krippendorff_textbook_table():
    # The 2x2 table above as coincidences: o_yy = 40, o_nn = 30, o_yn = o_ny = 15, n = 100,
    # n_y = 55, n_n = 45: alpha = 1 - 99 * 30 / (2 * 55 * 45) = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert krippendorff_alpha_nominal(a, b) == pytest.approx(0.4)


def test_krippendorff_skips_missing_and_three_categories():
    # Units (a, b): (x,x) (x,y) (y,y) (z,z) (None,x). The last is unpairable and dropped.
    # Coincidences: o_xx=2, o_yy=2, o_zz=2, o_xy=o_yx=1; n=8, n_x=3, n_y=3, n_z=2.
    # D_o = 2 ; sum_{c!=k} n_c n_k = 2*(3*3 + 3*2 + 3*2) = 42 ; alpha = 1 - 7*2/42 = 2/3
    a = ["x", "x", "y", "z", None]
    b = ["x", "y", "y", "z", "x"]
    assert krippendorff_alpha_nominal(a, b) == pytest.approx(2 / 3)


def test_degenerate_agreement_is_undefined_not_a_number():
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None  # pe = 1
    assert krippendorff_alpha_nominal(["a", "a"], ["a", "a"]) is None  # no expected disagreement
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_span_prf_exact_and_overlap():
    pred = {"t1": [(0, 10, "planning"), (12, 20, "verification"), (30, 40, "recall")]}
    ref = {"t1": [(0, 10, "planning"), (14, 25, "verification"), (50, 60, "recall")],
           "t2": [(0, 5, "planning")]}
    exact = span_prf(pred, ref, match="exact")
    # one exact hit of 3 predicted, 4 reference
    assert (exact.matched_pred, exact.n_pred, exact.matched_ref, exact.n_ref) == (1, 3, 1, 4)
    assert exact.precision == pytest.approx(1 / 3) and exact.recall == pytest.approx(1 / 4)
    assert exact.f1 == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    overlap = span_prf(pred, ref, match="overlap")
    assert overlap.precision == pytest.approx(2 / 3) and overlap.recall == pytest.approx(2 / 4)
    only = span_prf(pred, ref, match="overlap", label="recall")
    assert (only.precision, only.recall, only.f1) == (0.0, 0.0, 0.0)


def test_span_prf_overlap_needs_same_label_and_shared_characters():
    pred = {"t": [(0, 10, "planning"), (10, 20, "recall")]}
    ref = {"t": [(10, 20, "planning")]}  # touches the first at 10 but [0,10) and [10,20) share nothing
    r = span_prf(pred, ref, match="overlap")
    assert r.matched_pred == 0 and r.matched_ref == 0


def test_span_prf_empty_is_undefined():
    r = span_prf({}, {"t": [(0, 1, "planning")]})
    assert r.precision is None and r.recall == 0.0 and r.f1 == 0.0
    both = span_prf({}, {})
    assert (both.precision, both.recall, both.f1) == (None, None, None)


def test_tokens_are_whitespace_runs_with_offsets():
    text = " ab  c\nd "
    assert tokens(text) == [(1, 3), (5, 6), (7, 8)]


def test_token_labels_use_first_character_and_shortest_span():
    text = "aa bb cc dd"
    #       0  3  6  9
    spans = [(0, 8, "planning"), (3, 5, "recall"), (7, 11, "verification")]
    # aa: planning; bb: planning+recall -> recall (shorter); cc starts at 6 -> planning; dd -> verification
    assert token_labels(tokens(text), spans) == ["planning", "recall", "planning", "verification"]


def test_compare_reproduces_krippendorff_example_at_token_level():
    text = " ".join(f"w{i}" for i in range(10))  # 10 tokens, token i starts at 3*i
    def spans(bits):
        return [(3 * i, 3 * i + 2, "verification") for i, bit in enumerate(bits) if bit]
    a = {"t": spans([0, 1, 0, 0, 0, 0, 0, 0, 1, 0])}
    b = {"t": spans([1, 1, 1, 0, 0, 1, 0, 0, 0, 0])}
    rep = compare({"t": text}, a, b, labels=["verification", "planning"])
    row = rep.labels["verification"]
    assert row.alpha == pytest.approx(0.095, abs=5e-4)
    assert row.kappa == pytest.approx(0.04 / 0.44)
    assert row.exact.matched_pred == 1 and row.exact.n_pred == 2 and row.exact.n_ref == 4
    assert rep.labels["planning"].alpha is None  # nobody used it: undefined, not 1 or 0
    assert rep.n_tokens == 10 and rep.n_trajectories == 1
    # overall: two categories in use (verification / none), so the same figures
    assert rep.overall_kappa == pytest.approx(0.04 / 0.44)
    assert rep.to_dict()["labels"]["verification"]["exact"]["n_pred"] == 2
