"""recsys_course.calibration (chapter 07): bins, ECE, NE, downsampling and its correction,
post-hoc calibrators."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_course import calibration as cal
from recsys_course import metrics


def draws(n=200_000, seed=0, a=-1.5, s=1.2):
    """Labels drawn from known probabilities: a calibrated predictor is p itself."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(a + s * rng.standard_normal(n))))
    return (rng.random(n) < p).astype(float), p


def test_reliability_bins_count_every_row_once_and_average_within_bins():
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1.0])
    p = np.array([0.05, 0.05, 0.15, 0.55, 0.55, 0.95, 0.95, 1.0])
    t = cal.reliability_bins(y, p, n_bins=10)
    assert t["count"].sum() == len(y)
    assert list(t["count"]) == [2, 1, 2, 3]                # p == 1 falls in the last bin
    row = t[t["lo"] == 0.0].iloc[0]
    assert row["mean_p"] == pytest.approx(0.05) and row["rate"] == pytest.approx(0.5)
    q = cal.reliability_bins(y, p, n_bins=4, strategy="quantile")
    assert q["count"].sum() == len(y)


def test_ece_is_zero_for_exact_bin_rates_and_matches_a_hand_computation():
    y = np.array([0, 1, 1, 1.0])
    p = np.array([0.5, 0.5, 1.0, 1.0])
    assert cal.ece(y, p, n_bins=2) == pytest.approx(0.0)
    p2 = np.array([0.2, 0.2, 0.9, 0.9])                  # bins: (0.2 vs 0.5), (0.9 vs 1.0)
    assert cal.ece(y, p2, n_bins=2) == pytest.approx(0.5 * 0.3 + 0.5 * 0.1)


def test_a_calibrated_predictor_has_a_small_ece_and_a_shifted_one_does_not():
    y, p = draws()
    # 200k rows, 10 bins: the sampling error of a bin rate is below 0.005
    assert cal.ece(y, p) < 0.01
    assert cal.ece(y, np.clip(p + 0.1, 0, 1)) > 0.08


def test_normalized_entropy_is_one_for_the_base_rate_and_below_for_information():
    y, p = draws(seed=1)
    base = np.full_like(p, y.mean())
    assert cal.normalized_entropy(y, base) == pytest.approx(1.0, abs=1e-9)
    assert cal.normalized_entropy(y, p) < 0.95
    assert cal.normalized_entropy(y, p, base_rate=0.3) == pytest.approx(
        metrics.logloss(y, p) / cal.binary_entropy(0.3))


@pytest.mark.parametrize("w", [1.0, 0.5, 0.1, 0.013, 1e-4])
def test_correction_inverts_the_downsampling_map_at_any_rate(w):
    p = np.array([0.0, 1e-9, 1e-3, 0.1, 0.5, 0.9, 1 - 1e-9, 1.0])
    q = cal.correct_downsampled(cal.downsampled_probability(p, w), w)
    np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-15)
    # the logit shifts by log w
    mid = p[2:6]
    logit = lambda z: np.log(z) - np.log1p(-z)
    np.testing.assert_allclose(logit(cal.correct_downsampled(mid, w)), logit(mid) + np.log(w),
                               rtol=1e-9, atol=1e-9)


def test_correction_at_rate_one_changes_nothing_and_bad_rates_raise():
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(cal.correct_downsampled(p, 1.0), p)
    for w in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            cal.correct_downsampled(p, w)


def test_downsampling_keeps_positives_and_the_expected_share_of_negatives():
    y, _ = draws(n=100_000, seed=2)
    idx = cal.downsample_negatives(y, 0.2, seed=3)
    assert (y[idx] == 1).sum() == (y == 1).sum()
    kept_neg = (y[idx] == 0).sum() / (y == 0).sum()
    assert abs(kept_neg - 0.2) < 0.01          # binomial sd ~0.0015 at 80k negatives
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, cal.downsample_negatives(y, 0.2, seed=3))


def test_empirical_rate_after_downsampling_follows_the_map_and_the_correction_restores_it():
    y, p = draws(n=400_000, seed=4)
    w = 0.1
    idx = cal.downsample_negatives(y, w, seed=5)
    # on the kept rows the calibrated probability is downsampled_probability(p, w)
    p_w = cal.downsampled_probability(p[idx], w)
    assert cal.ece(y[idx], p_w) < 0.01
    assert cal.ece(y[idx], p[idx]) > 0.1
    p_all = cal.downsampled_probability(p, w)
    assert abs(cal.calibration_ratio(y, cal.correct_downsampled(p_all, w)) - 1) < 0.02
    assert abs(cal.calibration_ratio(y, p_all) - 1) > 0.5
    assert metrics.auc(y, p_all) == pytest.approx(metrics.auc(y, p))   # monotone: same order


def test_platt_and_isotonic_repair_a_distorted_predictor_fitted_on_other_rows():
    y, p = draws(n=60_000, seed=6)
    distorted = cal.downsampled_probability(p, 0.05) ** 1.3        # shifted and bent
    fit, test = slice(0, 30_000), slice(30_000, None)
    before = cal.ece(y[test], distorted[test])
    for c in (cal.PlattCalibrator(), cal.IsotonicCalibrator()):
        q = c.fit(distorted[fit], y[fit]).predict(distorted[test])
        assert q.shape == distorted[test].shape and ((q >= 0) & (q <= 1)).all()
        assert cal.ece(y[test], q) < min(0.02, before / 3)
    platt = cal.PlattCalibrator().fit(distorted[fit], y[fit])
    assert platt.a > 0


def test_inputs_are_validated():
    with pytest.raises(ValueError):
        cal.ece([0, 1], [0.5])
    with pytest.raises(ValueError):
        cal.ece([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError):
        cal.ece([0, 1], [0.5, 1.5])
