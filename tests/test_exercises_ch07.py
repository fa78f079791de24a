"""The checks of chapter 07's exercises: references pass, typical mistakes get specific,
different messages, unfinished stubs are reported as not attempted, other seeds draw other
cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys_course.exercises.ch07 import (_reference_correct_sampled_logits,
                                          _reference_esmm_stable_loss,
                                          check_esmm_stable_loss,
                                          check_sampling_correction_logits)
from recsys_course.exercises.core import REGISTRY, NotAttempted, load_all
from recsys_course.models.esmm import esmm_loss
from check_helpers import failure


# ----------------------------------------------------------------------------------------
# Task 1: correcting logits for sampled positives and negatives
# ----------------------------------------------------------------------------------------
def test_logit_correction_reference_passes_at_several_seeds(capsys):
    for seed in (2014, 0, 1, 99):
        assert check_sampling_correction_logits(_reference_correct_sampled_logits,
                                                seed=seed) is True
    assert "hidden cases passed" in capsys.readouterr().out


def test_logit_correction_written_as_log_of_the_ratio_also_passes():
    assert check_sampling_correction_logits(
        lambda z, wp, wn: np.asarray(z) + np.log(np.divide(wn, wp))) is True


def test_logit_correction_seed_changes_the_cases():
    from recsys_course.exercises.ch07 import _logit_cases
    a = [c[1] for c in _logit_cases(1)]
    b = [c[1] for c in _logit_cases(2)]
    assert any(x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("wrong, phrase", [
    (lambda z, wp, wn: np.asarray(z) + np.log(wp) - np.log(wn), "wrong sign"),
    (lambda z, wp, wn: np.asarray(z) + np.log(wn) + 0 * np.asarray(wp), "positives' rate ignored"),
    (lambda z, wp, wn: np.asarray(z) * np.divide(wn, wp), "scaled by w_neg / w_pos"),
    (lambda z, wp, wn: 1 / (1 + np.exp(-(np.asarray(z) + np.log(np.divide(wn, wp))))),
     "probability returned instead"),
])
def test_logit_correction_mistakes_are_named(wrong, phrase):
    with np.errstate(over="ignore"):
        assert phrase in failure(check_sampling_correction_logits, wrong)


def test_logit_correction_through_probabilities_is_told_to_stay_in_logit_space():
    def via_probability(z, wp, wn):
        p = 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
        o = p / (1 - p) * np.divide(wn, wp)
        return np.log(o)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        msg = failure(check_sampling_correction_logits, via_probability)
    assert "not finite" in msg and "logits directly" in msg


def test_logit_correction_wrong_shape_and_stub_are_reported():
    assert "shape" in failure(check_sampling_correction_logits,
                              lambda z, wp, wn: np.ravel(z)[:1])

    def stub(z, wp, wn):
        raise NotImplementedError
    with pytest.raises(NotAttempted):
        check_sampling_correction_logits(stub)


# ----------------------------------------------------------------------------------------
# Task 2: ESMM's loss in log space
# ----------------------------------------------------------------------------------------
def test_esmm_stable_references_pass_at_several_seeds():
    for seed in (2018, 0, 5):
        assert check_esmm_stable_loss(_reference_esmm_stable_loss, seed=seed) is True
    package = lambda a, b, c, d: esmm_loss(torch.stack([a, b], 1), torch.stack([c, d], 1))
    assert check_esmm_stable_loss(package) is True


def test_esmm_logsumexp_identity_also_passes():
    def via_logsumexp(a, b, click, conv):
        y = click * conv
        log_p = F.logsigmoid(a) + F.logsigmoid(b)
        # 1 - s(a)s(b) = (e^-a + e^-b + e^-a-b) / ((1 + e^-a)(1 + e^-b))
        log_1m = torch.logsumexp(torch.stack([-a, -b, -a - b]), 0) - F.softplus(-a) - F.softplus(-b)
        return (F.binary_cross_entropy_with_logits(a, click)
                - (y * log_p + (1 - y) * log_1m).mean())
    assert check_esmm_stable_loss(via_logsumexp) is True


def test_esmm_product_of_probabilities_is_named_with_the_clamp():
    def product(a, b, c, d):
        bce = F.binary_cross_entropy
        pa = torch.sigmoid(a)
        return bce(pa, c) + bce(pa * torch.sigmoid(b), c * d)
    assert "clamps the log at -100" in failure(check_esmm_stable_loss, product)


def test_esmm_naive_log1m_is_told_about_expm1():
    def naive(a, b, c, d):
        y = c * d
        log_p = F.logsigmoid(a) + F.logsigmoid(b)
        return (F.binary_cross_entropy_with_logits(a, c)
                - (y * log_p + (1 - y) * torch.log1p(-torch.exp(log_p))).mean())
    msg = failure(check_esmm_stable_loss, naive)
    assert "log of 0" in msg or "loses everything" in msg


@pytest.mark.parametrize("wrong, phrase", [
    (lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, c)
     + F.binary_cross_entropy_with_logits(b, d), "wrong target"),
    (lambda a, b, c, d: _reference_esmm_stable_loss(a, b, c, d)
     - F.binary_cross_entropy_with_logits(a, c), "CTR loss is missing"),
    (lambda a, b, c, d: len(c) * _reference_esmm_stable_loss(a, b, c, d), "sums over the rows"),
    (lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, c)
     + F.binary_cross_entropy_with_logits(a + b, c * d), "sum of the logits"),
])
def test_esmm_stable_mistakes_are_named(wrong, phrase):
    assert phrase in failure(check_esmm_stable_loss, wrong)


def test_esmm_stable_detached_or_per_row_results_fail_with_their_own_message():
    detached = failure(check_esmm_stable_loss,
                       lambda a, b, c, d: _reference_esmm_stable_loss(a, b, c, d).detach())
    assert "autograd" in detached
    per_row = failure(check_esmm_stable_loss,
                      lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, c, reduction="none"))
    assert "0-d tensor" in per_row


def test_esmm_clicked_only_cvr_gradient_is_named_as_the_selection_bias():
    def naive(a, b, c, d):
        ctr = F.binary_cross_entropy_with_logits(a, c)
        m = c > 0.5
        # CTCVR term, but with the CVR logit detached on unclicked rows
        b2 = torch.where(m, b, b.detach())
        return ctr + (_reference_esmm_stable_loss(a, b2, c, d) - ctr)
    msg = failure(check_esmm_stable_loss, naive)
    assert "unclicked rows" in msg


def test_ch07_checks_are_registered_with_unique_names():
    load_all()
    assert {"ch07.sampling_correction_logits", "ch07.esmm_stable_loss"} <= set(REGISTRY)
    assert "ch07.downsampling_correction" not in REGISTRY
    names = [ex.func_name for ex in REGISTRY.values()]
    assert len(names) == len(set(names))


def test_esmm_where_with_an_infinite_unused_branch_is_told_about_nan_gradients():
    def where_trap(a, b, c, d):
        y = c * d
        log_p = F.logsigmoid(a) + F.logsigmoid(b)
        log_1m = torch.where(log_p > -0.693, torch.log(-torch.expm1(log_p)),
                             torch.log1p(-torch.exp(log_p)))
        return F.binary_cross_entropy_with_logits(a, c) - (y * log_p + (1 - y) * log_1m).mean()
    assert "inf * 0 = NaN" in failure(check_esmm_stable_loss, where_trap)
