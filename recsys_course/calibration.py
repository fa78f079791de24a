"""Calibrated probabilities: measuring, breaking and repairing them (chapter 07).

A ranking model is *calibrated* when, among the impressions it scores p, a share p is
clicked. AUC ignores calibration (it reads only the order); a system that multiplies or
adds probabilities (pCTR * pCVR * price, an auction's bid * pCTR) needs it.

* :func:`reliability_bins`, :func:`ece`: the reliability diagram's table and the
  expected calibration error, sum_b (n_b / N) |observed rate_b - mean p_b|.
* :func:`normalized_entropy`: He et al. (2014): the log loss divided by the log loss of
  always predicting the background rate (the training CTR), so 1 = no better than the
  base rate, lower is better; unlike log loss, comparable across data of different CTR.
* :func:`downsample_negatives`: keep every positive and each negative with probability
  ``w`` (Criteo-, Facebook-style training-set reduction). A model fitted to such data
  learns the odds multiplied by 1/w: p_w = p / (p + w (1 - p)) (:func:`downsampled_probability`).
* :func:`correct_downsampled`: the inverse, q = p / (p + (1 - p) / w) (He et al. 2014).
* :class:`PlattCalibrator`, :class:`IsotonicCalibrator`: post-hoc maps fitted on
  validation predictions only (Platt 1999; Zadrozny & Elkan 2002), with scikit-learn.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics

EPS = 1e-7


def _yp(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"y and p have different lengths: {len(y)} vs {len(p)}")
    if len(y) == 0:
        raise ValueError("empty input")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("p must hold probabilities in [0, 1]")
    return y, p


def reliability_bins(y, p, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """One row per non-empty bin of predicted probability: ``lo``, ``hi``, ``count``,
    ``mean_p`` (mean prediction), ``rate`` (observed share of positives), ``gap`` =
    rate - mean_p. ``strategy="uniform"``: bins of equal width on [0, 1];
    ``"quantile"``: bins holding about the same number of rows (ties stay together)."""
    y, p = _yp(y, p)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        edges[0], edges[-1] = 0.0, 1.0
    else:
        raise ValueError("strategy must be 'uniform' or 'quantile'")
    # bin b holds lo <= p < hi; the last bin also holds p == 1
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    count = np.bincount(b, minlength=len(edges) - 1)
    sum_p = np.bincount(b, weights=p, minlength=len(edges) - 1)
    sum_y = np.bincount(b, weights=y, minlength=len(edges) - 1)
    keep = count > 0
    out = pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": count,
                        "mean_p": sum_p / np.maximum(count, 1), "rate": sum_y / np.maximum(count, 1)})
    out = out[keep].reset_index(drop=True)
    out["gap"] = out["rate"] - out["mean_p"]
    return out


def ece(y, p, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error: the count-weighted mean |rate - mean_p| over the bins
    of :func:`reliability_bins`. 0 for a calibrated model (up to sampling noise, which
    grows with the number of bins and shrinks with the number of rows)."""
    t = reliability_bins(y, p, n_bins, strategy)
    return float((t["count"] * t["gap"].abs()).sum() / t["count"].sum())


def binary_entropy(rate: float) -> float:
    """-(r log r + (1 - r) log(1 - r)), natural log: the log loss of predicting ``rate``
    for every row of data whose positive share is ``rate``."""
    r = float(np.clip(rate, EPS, 1 - EPS))
    return float(-(r * np.log(r) + (1 - r) * np.log(1 - r)))


def normalized_entropy(y, p, base_rate: float | None = None) -> float:
    """Normalised entropy (He et al. 2014): log loss / H(base rate). ``base_rate`` is
    the background CTR; He et al. take the training set's (pass it); default: mean(y)."""
    y, p = _yp(y, p)
    rate = float(y.mean()) if base_rate is None else float(base_rate)
    return metrics.logloss(y, p) / binary_entropy(rate)


def calibration_ratio(y, p) -> float:
    """Mean prediction / observed rate: 1 when the model predicts as many clicks as occur."""
    y, p = _yp(y, p)
    if y.sum() == 0:
        raise ValueError("no positive row: the ratio is undefined")
    return float(p.mean() / y.mean())


def calibration_report(y, p, base_rate: float | None = None, n_bins: int = 10) -> dict:
    """AUC, log loss, NE, ECE and the calibration ratio of one set of predictions."""
    return {"auc": metrics.auc(y, p), "logloss": metrics.logloss(y, p),
            "ne": normalized_entropy(y, p, base_rate), "ece": ece(y, p, n_bins),
            "ratio": calibration_ratio(y, p)}


# ----------------------------------------------------------------------------------------
# Negative downsampling
# ----------------------------------------------------------------------------------------
def _check_rate(w) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if not (np.all(w > 0) and np.all(w <= 1)):
        raise ValueError("the sampling rate w must be in (0, 1]")
    return w


def downsample_negatives(y, w: float, seed: int = 0) -> np.ndarray:
    """Indices of the rows kept: every positive, each negative with probability ``w``
    (an independent draw per row, seeded). Sorted, so the kept rows keep their order."""
    _check_rate(w)
    y = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(seed)
    keep = (y == 1) | (rng.random(len(y)) < w)
    return np.flatnonzero(keep)


def correct_downsampled(p, w):
    """q = p / (p + (1 - p) / w): the probability on the original data of a model trained
    with negatives kept at rate ``w`` (He et al. 2014). Equivalently, the logit shifts by
    log w. ``p`` and ``w`` broadcast; p = 0 stays 0 and p = 1 stays 1."""
    p = np.asarray(p, dtype=np.float64)
    w = _check_rate(w)
    return p / (p + (1.0 - p) / w)


def downsampled_probability(p, w):
    """The inverse map: what a calibrated model would predict after training on data
    whose negatives were kept at rate ``w``: p / (p + w (1 - p)) (odds divided by w)."""
    p = np.asarray(p, dtype=np.float64)
    w = _check_rate(w)
    return p / (p + w * (1.0 - p))


# ----------------------------------------------------------------------------------------
# Post-hoc calibration (fit on validation, apply to test)
# ----------------------------------------------------------------------------------------
def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


class PlattCalibrator:
    """Platt scaling (Platt 1999): q = sigmoid(a * logit(p) + b), a and b fitted by
    logistic regression (scikit-learn, almost no regularisation) on held-out predictions.
    Two parameters: it can shift and stretch the logits, not bend them."""

    def fit(self, p, y) -> "PlattCalibrator":
        from sklearn.linear_model import LogisticRegression
        y, p = _yp(y, p)
        self.model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y)
        self.a = float(self.model.coef_[0, 0])
        self.b = float(self.model.intercept_[0])
        return self

    def predict(self, p) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))


class IsotonicCalibrator:
    """Isotonic regression (Zadrozny & Elkan 2002): the non-decreasing step function of
    p closest to the held-out labels (scikit-learn's IsotonicRegression, clipped outside
    the fitted range). Any monotone distortion; ties steps together, so it can merge
    scores that the model ordered (AUC may drop a little)."""

    def fit(self, p, y) -> "IsotonicCalibrator":
        from sklearn.isotonic import IsotonicRegression
        y, p = _yp(y, p)
        self.model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return self

    def predict(self, p) -> np.ndarray:
        return self.model.predict(np.asarray(p, dtype=np.float64))


def reliability_plot(curves: dict, ax=None, title: str | None = None, n_bins: int = 10,
                     strategy: str = "quantile"):
    """Reliability diagram: for each ``name -> (y, p)``, observed rate against mean
    prediction per bin, with the diagonal of perfect calibration. Returns the axes."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    top = 0.0
    for name, (y, p) in curves.items():
        t = reliability_bins(y, p, n_bins, strategy)
        ax.plot(t["mean_p"], t["rate"], marker="o", ms=3, label=name)
        top = max(top, t["mean_p"].max(), t["rate"].max())
    top = min(1.0, 1.05 * top)
    ax.plot([0, top], [0, top], color="grey", ls="--", lw=1, label="calibrated")
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed rate (bin)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


__all__ = ["reliability_bins", "ece", "binary_entropy", "normalized_entropy",
           "calibration_ratio", "calibration_report", "downsample_negatives",
           "correct_downsampled", "downsampled_probability", "PlattCalibrator",
           "IsotonicCalibrator", "reliability_plot"]
