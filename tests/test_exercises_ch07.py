"""The checks of chapter 07's exercises: references pass, typical mistakes get specific,
different messages, unfinished stubs are reported as not attempted."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_course import calibration
from recsys_course.exercises.ch07 import (_reference_correct_downsampled, _reference_esmm_loss,
                                          check_downsampling_correction, check_esmm_loss)
from recsys_course.exercises.core import REGISTRY, NotAttempted, load_all
from recsys_course.models.esmm import esmm_loss
from check_helpers import failure


# ----------------------------------------------------------------------------------------
# Task 1: the downsampling correction
# ----------------------------------------------------------------------------------------
def test_correction_references_pass(capsys):
    assert check_downsampling_correction(_reference_correct_downsampled) is True
    assert check_downsampling_correction(calibration.correct_downsampled) is True
    assert "hidden cases passed" in capsys.readouterr().out


def test_the_logit_shift_form_also_passes():
    def via_logits(p, w):
        p = np.asarray(p, dtype=float)
        with np.errstate(divide="ignore"):
            z = np.log(p) - np.log1p(-p) + np.log(w)
        return 1 / (1 + np.exp(-z))
    assert check_downsampling_correction(via_logits) is True


@pytest.mark.parametrize("wrong, phrase", [
    (lambda p, w: p / (p + w * (1 - p)), "the downsampling map itself"),
    (lambda p, w: p * w, "scaling the probability, not the odds"),
    (lambda p, w: p / (p + (1 - p) * w), "(1 - p) * w in the denominator"),
    (lambda p, w: np.asarray(p) / w, "scaling the probability up"),
])
def test_correction_mistakes_are_named(wrong, phrase):
    msg = failure(check_downsampling_correction, wrong)
    assert phrase in msg


def test_correction_that_works_only_at_one_rate_fails_at_the_others():
    msg = failure(check_downsampling_correction, lambda p, w: p / (p + (1 - p) / 0.1))
    assert "w=1" in msg


def test_correction_nan_at_the_ends_and_wrong_shape_are_reported():
    def odds_form(p, w):          # divides by 1 - p: NaN/inf at p = 1
        p = np.asarray(p, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            o = w * p / (1 - p)
            return o / (1 + o)
    assert "NaN" in failure(check_downsampling_correction, odds_form)
    assert "shape" in failure(check_downsampling_correction, lambda p, w: np.ravel(p)[:1])


def test_correction_stub_is_not_attempted():
    def stub(p, w):
        raise NotImplementedError
    with pytest.raises(NotAttempted):
        check_downsampling_correction(stub)


# ----------------------------------------------------------------------------------------
# Task 2: ESMM's loss over the entire space
# ----------------------------------------------------------------------------------------
def test_esmm_references_pass():
    assert check_esmm_loss(_reference_esmm_loss) is True
    package = lambda a, b, c, d: esmm_loss(torch.stack([a, b], 1), torch.stack([c, d], 1))
    assert check_esmm_loss(package) is True


def test_esmm_naive_loss_is_named_as_the_selection_bias():
    bce = torch.nn.functional.binary_cross_entropy

    def naive(ctr, cvr, click, conv):
        p_ctr, p_cvr = torch.sigmoid(ctr), torch.sigmoid(cvr)
        m = click > 0.5
        loss = bce(p_ctr, click)
        return loss + bce(p_cvr[m], conv[m]) if m.any() else loss
    msg = failure(check_esmm_loss, naive)
    assert "naive CVR loss" in msg or "clicked rows only" in msg


@pytest.mark.parametrize("wrong, phrase", [
    (lambda a, b, c, d: torch.nn.functional.binary_cross_entropy(torch.sigmoid(a), c)
     + torch.nn.functional.binary_cross_entropy(torch.sigmoid(b), d), "wrong target"),
    (lambda a, b, c, d: torch.nn.functional.binary_cross_entropy(
        torch.sigmoid(a) * torch.sigmoid(b), c * d), "CTR loss is missing"),
    (lambda a, b, c, d: len(c) * _reference_esmm_loss(a, b, c, d), "sums over the rows"),
])
def test_esmm_mistakes_are_named(wrong, phrase):
    assert phrase in failure(check_esmm_loss, wrong)


def test_esmm_detached_or_per_row_results_fail_with_their_own_message():
    detached = failure(check_esmm_loss, lambda a, b, c, d: _reference_esmm_loss(a, b, c, d).detach())
    assert "autograd" in detached
    per_row = failure(check_esmm_loss, lambda a, b, c, d: torch.nn.functional.binary_cross_entropy(
        torch.sigmoid(a), c, reduction="none"))
    assert "0-d tensor" in per_row


def test_ch07_checks_are_registered_with_unique_names():
    load_all()
    assert {"ch07.downsampling_correction", "ch07.esmm_loss"} <= set(REGISTRY)
    names = [ex.func_name for ex in REGISTRY.values()]
    assert len(names) == len(set(names))
