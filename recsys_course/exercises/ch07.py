"""Checks for the exercises of chapter 07 (from clicks to value).

Learners call, in the chapter's notebook::

    from recsys_course.exercises import ch07
    ch07.check_downsampling_correction(correct_downsampled)
    ch07.check_esmm_loss(esmm_entire_space_loss)

The exercises, as the notebook states them
------------------------------------------
``correct_downsampled(p, w) -> np.ndarray``
    ``p``: probabilities predicted by a model trained with every positive and each
    negative kept with probability ``w`` (0 < w <= 1). Return q = p / (p + (1 - p) / w),
    same shape; p = 0 stays 0, p = 1 stays 1.

``esmm_entire_space_loss(ctr_logit, cvr_logit, click, conversion) -> 0-d tensor``
    Mean BCE(click, sigmoid(ctr_logit)) + mean BCE(click * conversion,
    sigmoid(ctr_logit) * sigmoid(cvr_logit)), both over all rows; gradients reach both
    logits.

The hidden cases are built here from fixed seeds; the reference solutions are private.
"""
from __future__ import annotations

import numpy as np
import torch

from .core import expect_close, expect_scalar, expect_type, exercise, fail


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_correct_downsampled(p, w):
    p = np.asarray(p, dtype=float)
    return p / (p + (1.0 - p) / w)


def _reference_esmm_loss(ctr_logit, cvr_logit, click, conversion):
    bce = torch.nn.functional.binary_cross_entropy
    p_ctr = torch.sigmoid(ctr_logit)
    return bce(p_ctr, click) + bce(p_ctr * torch.sigmoid(cvr_logit), click * conversion)


# ----------------------------------------------------------------------------------------
# Task 1: the downsampling correction
# ----------------------------------------------------------------------------------------
def _correction_cases():
    rng = np.random.default_rng(2014)
    grid = np.array([0.0, 1e-6, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])
    yield "w=0.1 on a grid from 0 to 1 (both ends included)", grid, 0.1
    yield "w=1 (nothing was sampled: q equals p)", grid, 1.0
    yield "w=0.5 on 1000 random probabilities", rng.random(1000), 0.5
    yield "w=0.025 (a rate that is not a round number)", rng.random(50), 0.025
    yield "w=0.0001 (an extreme rate)", rng.random(20), 1e-4
    yield "w=0.3 on a 2-D array (3, 4)", rng.random((3, 4)), 0.3
    yield "w=0.2 on a single probability in an array of shape (1,)", np.array([0.6]), 0.2


@exercise("ch07", "downsampling_correction", title="correcting for negative downsampling")
def check_downsampling_correction(fn, run):
    """Check ``fn(p, w) -> q``, q = p / (p + (1 - p) / w), at several rates and shapes."""
    for name, p, w in _correction_cases():
        with run.case(name):
            got = run.call(fn, p.copy(), w, forbid_mutation=True)
            arr = np.asarray(got, dtype=float) if not isinstance(got, (str, bytes)) else None
            if arr is None or arr.shape != np.shape(p):
                fail(f"the result should have the shape of p, {np.shape(p)}, but it has "
                     f"{None if arr is None else arr.shape}.",
                     hint="work element by element with numpy; no loop that drops the shape.")
            expected = _reference_correct_downsampled(p, w)
            with np.errstate(divide="ignore", invalid="ignore"):
                mistakes = {
                    "the downsampling map itself, p / (p + w (1 - p)) (that is (1 - p) * w in "
                    "the denominator instead of (1 - p) / w), instead of its inverse":
                        p / (p + w * (1 - p)),
                    "q = p * w (scaling the probability, not the odds)": p * w,
                    "q = p / w (scaling the probability up instead of the odds down)": p / w,
                    "the odds multiplied by w but returned as odds, p w / (1 - p), not as a "
                    "probability": p * w / (1 - p),
                }
            if np.isnan(arr).any():
                fail("the result contains NaN.",
                     hint="p = 0 gives 0 / (0 + 1/w) = 0 and p = 1 gives 1 / 1: no division by "
                          "zero arises from the formula q = p / (p + (1 - p) / w).")
            expect_close(arr, expected, what="the corrected probabilities", atol=1e-12,
                         rtol=1e-9, mistakes=mistakes)
    with run.case("the correction inverts downsampling: a calibrated p, sampled at w=0.05, "
                  "then corrected, is p again"):
        p = np.linspace(0.0, 1.0, 41)
        sampled = p / (p + 0.05 * (1 - p))
        got = np.asarray(run.call(fn, sampled, 0.05), dtype=float)
        expect_close(got, p, what="correct(downsampled(p))", atol=1e-9)
    with run.case("the order of the scores is kept (an increasing map), w=0.2"):
        p = np.sort(np.random.default_rng(7).random(200))
        got = np.asarray(run.call(fn, p, 0.2), dtype=float)
        if not np.all(np.diff(got) >= -1e-15):
            fail("the corrected scores are not in the order of the inputs: the correction must "
                 "be increasing in p (it changes calibration, never the ranking).")


# ----------------------------------------------------------------------------------------
# Task 2: ESMM's loss over the entire space
# ----------------------------------------------------------------------------------------
def _esmm_cases():
    g = torch.Generator().manual_seed(2018)
    yield ("B=4 by hand",
           torch.tensor([0.0, 1.0, -1.0, 2.0]), torch.tensor([0.5, -0.5, 1.0, 0.0]),
           torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    for n, rate in [(64, 0.3), (500, 0.05)]:
        click = (torch.rand(n, generator=g) < rate).float()
        conv = click * (torch.rand(n, generator=g) < 0.4).float()
        yield (f"B={n}, click rate about {rate}", 2 * torch.randn(n, generator=g),
               2 * torch.randn(n, generator=g), click, conv)
    click = torch.zeros(16)
    yield ("B=16, no click at all (the CVR tower still gets a loss through the product)",
           torch.randn(16, generator=g), torch.randn(16, generator=g), click, torch.zeros(16))
    click = torch.ones(8)
    yield ("B=8, every row clicked", torch.randn(8, generator=g), torch.randn(8, generator=g),
           click, (torch.rand(8, generator=g) < 0.5).float())


def _esmm_mistakes(ctr, cvr, click, conv) -> dict:
    bce = torch.nn.functional.binary_cross_entropy
    p_ctr, p_cvr = torch.sigmoid(ctr), torch.sigmoid(cvr)
    out = {
        "the CVR term BCE(conversion, pCVR) over all rows instead of BCE(click * conversion, "
        "pCTR * pCVR): that fits pCVR to the wrong target": bce(p_ctr, click) + bce(p_cvr, conv),
        "the CTCVR term alone (the CTR loss is missing)": bce(p_ctr * p_cvr, click * conv),
        "the CTR term alone (the CTCVR loss is missing)": bce(p_ctr, click),
        "sums over the rows instead of means": len(click) * _reference_esmm_loss(ctr, cvr, click, conv),
        "the product of the logits (ctr_logit * cvr_logit) instead of the probabilities":
            bce(p_ctr, click) + bce(torch.sigmoid(ctr * cvr), click * conv),
    }
    clicked = click > 0.5
    if clicked.any():
        out["the naive CVR loss: BCE(conversion, pCVR) on the clicked rows only, the sample "
            "selection ESMM avoids"] = bce(p_ctr, click) + bce(p_cvr[clicked], conv[clicked])
    return out


@exercise("ch07", "esmm_loss", title="ESMM's loss over the entire space")
def check_esmm_loss(fn, run):
    """Check ``fn(ctr_logit, cvr_logit, click, conversion) -> 0-d tensor``."""
    for name, ctr, cvr, click, conv in _esmm_cases():
        with run.case(name):
            got = run.call(fn, ctr, cvr, click, conv, forbid_mutation=True)
            expect_type(got, torch.Tensor, "the loss")
            if got.dim() != 0:
                fail(f"the loss should be a 0-d tensor (one number), but it has shape "
                     f"{tuple(got.shape)}.", hint="average over the rows with .mean().")
            expect_scalar(float(got), "the loss")
            expected = _reference_esmm_loss(ctr, cvr, click, conv)
            expect_close(float(got), float(expected), what="the loss", atol=1e-5, rtol=1e-5,
                         mistakes={k: float(v) for k, v in _esmm_mistakes(ctr, cvr, click, conv).items()})
    with run.case("gradients reach both logits, also on unclicked rows (B=6)"):
        g = torch.Generator().manual_seed(3)
        ctr = torch.randn(6, generator=g, requires_grad=True)
        cvr = torch.randn(6, generator=g, requires_grad=True)
        click = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
        conv = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
        got = run.call(fn, ctr, cvr, click, conv, copy_args=False)
        expect_type(got, torch.Tensor, "the loss")
        if not got.requires_grad:
            fail("the loss does not depend on the logits for autograd.",
                 hint="stay in torch: no .item(), .numpy() or .detach().")
        got.backward()
        if cvr.grad is None or bool((cvr.grad[click == 0] == 0).all()):
            fail("the CVR logit gets no gradient from the unclicked rows: the CVR tower is "
                 "trained on clicked rows only, the sample-selection bias ESMM removes.",
                 hint="the CTCVR term pCTR * pCVR covers every row, clicked or not.")
        ctr_ref = ctr.detach().clone().requires_grad_(True)
        cvr_ref = cvr.detach().clone().requires_grad_(True)
        _reference_esmm_loss(ctr_ref, cvr_ref, click, conv).backward()
        expect_close(cvr.grad, cvr_ref.grad, what="the gradient with respect to cvr_logit", atol=1e-5)
        expect_close(ctr.grad, ctr_ref.grad, what="the gradient with respect to ctr_logit", atol=1e-5)


__all__ = ["check_downsampling_correction", "check_esmm_loss"]
