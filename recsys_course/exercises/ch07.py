"""Checks for the exercises of chapter 07 (from clicks to value).

Learners call, in the chapter's notebook::

    from recsys_course.exercises import ch07
    ch07.check_sampling_correction_logits(correct_sampled_logits)
    ch07.check_esmm_stable_loss(esmm_stable_loss)

Both exercises go one step beyond what the chapter prints: the chapter corrects
probabilities for negatives kept at one rate w; Task 1 corrects *logits* when positives are
kept at a rate too (and rates may differ from row to row). The chapter prints ESMM's loss
as a formula and calls the package's loss; Task 2 asks for it computed in log space from
the two logits, so that it stays finite and exact where the product of probabilities
rounds to 0 or 1.

The exercises, as the notebook states them
------------------------------------------
``correct_sampled_logits(logits, w_pos, w_neg) -> np.ndarray``
    ``logits``: float array of a model's logits, trained on rows where each positive was
    kept with probability ``w_pos`` and each negative with probability ``w_neg`` (floats in
    (0, 1], or arrays of the shape of ``logits``: one rate per row). Return the logits
    calibrated on the unsampled data, same shape: the training odds are the true odds
    times ``w_pos / w_neg``, so logit q = logit p + log w_neg - log w_pos. Must stay finite
    and exact at logits of +-40, where sigmoid rounds to 0 or 1 in float64.

``esmm_stable_loss(ctr_logit, cvr_logit, click, conversion) -> 0-d tensor``
    Mean BCE(click, sigmoid(ctr_logit)) + mean BCE(click * conversion, pCTCVR) with
    pCTCVR = sigmoid(ctr_logit) * sigmoid(cvr_logit), both over all rows, computed from
    the logits in log space: finite, exact and with exact gradients at logits of +-30 in
    float32, where the product of the probabilities rounds to 1 or underflows to 0.

The hidden cases are drawn from a ``seed`` argument (``check_...(fn, seed=...)``; the
defaults are the cases learners see); every generator is seeded explicitly from it. The
reference solutions are private (``_reference_*``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .core import expect_close, expect_scalar, expect_type, exercise, fail


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_correct_sampled_logits(logits, w_pos, w_neg):
    z = np.asarray(logits, dtype=float)
    return z + np.log(np.asarray(w_neg, dtype=float)) - np.log(np.asarray(w_pos, dtype=float))


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, accurate on both sides of -log 2 (Maechler 2012); each
    branch sees only arguments where it is finite (no NaN gradient from the unused one)."""
    near = x > -0.6931471805599453
    x_near = torch.where(near, x, torch.full_like(x, -1.0))
    x_far = torch.where(near, torch.full_like(x, -1.0), x)
    return torch.where(near, torch.log(-torch.expm1(x_near)), torch.log1p(-torch.exp(x_far)))


def _reference_esmm_stable_loss(ctr_logit, cvr_logit, click, conversion):
    ctr = F.binary_cross_entropy_with_logits(ctr_logit, click)
    log_p = F.logsigmoid(ctr_logit) + F.logsigmoid(cvr_logit)             # log pCTCVR (B,)
    y = click * conversion
    return ctr - (y * log_p + (1 - y) * _log1mexp(log_p)).mean()


# ----------------------------------------------------------------------------------------
# Task 1: correcting logits for sampled positives and negatives
# ----------------------------------------------------------------------------------------
def _logit_cases(seed: int):
    rng = np.random.default_rng(seed)
    grid = np.array([-40.0, -12.0, -3.0, -0.5, 0.0, 0.5, 3.0, 12.0, 40.0])
    w = float(rng.uniform(0.02, 0.3))
    yield f"negatives kept at w_neg={w:.4f}, every positive kept (w_pos=1)", grid, 1.0, w
    yield "nothing sampled (w_pos = w_neg = 1): the logits are unchanged", grid, 1.0, 1.0
    wp, wn = float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.01, 0.2))
    yield (f"positives kept at w_pos={wp:.4f}, negatives at w_neg={wn:.4f}, 500 random logits",
           rng.normal(0.0, 4.0, 500), wp, wn)
    wp = float(rng.uniform(0.05, 0.5))
    yield (f"only positives sampled (w_pos={wp:.4f}, w_neg=1): the odds go up, not down",
           rng.normal(0.0, 3.0, 50), wp, 1.0)
    n = 60
    yield ("one rate per row (rows from two traffic sources with different rates), shape (60,)",
           rng.normal(0.0, 3.0, n), np.where(rng.random(n) < 0.5, 1.0, 0.5),
           np.where(rng.random(n) < 0.5, 0.05, 0.2))
    wp, wn = float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.01, 0.3))
    yield (f"a 2-D array (3, 4) with logits of +-40 (w_pos={wp:.4f}, w_neg={wn:.4f})",
           rng.choice([-40.0, -1.0, 1.0, 40.0], size=(3, 4)), wp, wn)


def _logit_mistakes(z, wp, wn) -> dict:
    wp, wn = np.asarray(wp, dtype=float), np.asarray(wn, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = 1 / (1 + np.exp(-z))
        return {
            "the shift with the wrong sign, logit p + log w_pos - log w_neg (that is the "
            "downsampling map, not its inverse)": z + np.log(wp) - np.log(wn),
            "log w_neg added but the positives' rate ignored": z + np.log(wn) + 0 * wp,
            "log w_pos subtracted but the negatives' rate ignored": z - np.log(wp) + 0 * wn,
            "the logits scaled by w_neg / w_pos instead of shifted by its log": z * wn / wp,
            "the ratio w_neg / w_pos added to the logits instead of its log": z + wn / wp,
            "the corrected probability returned instead of the corrected logit":
                1 / (1 + np.exp(-(z + np.log(wn) - np.log(wp)))),
            "the probability corrected with w = w_neg only and returned as a probability":
                p / (p + (1 - p) / wn),
        }


@exercise("ch07", "sampling_correction_logits",
          title="correcting logits for sampled positives and negatives")
def check_sampling_correction_logits(fn, run, seed: int = 2014):
    """Check ``fn(logits, w_pos, w_neg) -> logits`` on rates and shapes drawn from ``seed``."""
    for name, z, wp, wn in _logit_cases(seed):
        with run.case(name):
            args = [z.copy(), wp.copy() if isinstance(wp, np.ndarray) else wp,
                    wn.copy() if isinstance(wn, np.ndarray) else wn]
            got = run.call(fn, *args, forbid_mutation=True)
            arr = None if isinstance(got, (str, bytes)) else np.asarray(got, dtype=float)
            if arr is None or arr.shape != z.shape:
                fail(f"the result should have the shape of the logits, {z.shape}, but it has "
                     f"{None if arr is None else arr.shape}.",
                     hint="work element by element with numpy; np.log broadcasts a float or "
                          "an array of rates alike.")
            expected = _reference_correct_sampled_logits(z, wp, wn)
            if not np.isfinite(arr).all():
                i = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
                fail(f"the result is not finite at index {i} (logit {z[i]:g}): {arr[i]}.",
                     hint="do not go through the probability: sigmoid(40) is exactly 1.0 in "
                          "float64, so its logit is infinite. The correction is a shift of the "
                          "logit by log(w_neg / w_pos); apply it to the logits directly.")
            expect_close(arr, expected, what="the corrected logits", atol=1e-9, rtol=1e-9,
                         mistakes=_logit_mistakes(z, wp, wn))
    with run.case("the correction inverts sampling: true logits, sampled, corrected, are the "
                  "true logits again"):
        rng = np.random.default_rng(seed + 1)
        z = rng.normal(0.0, 2.0, 40)
        wp, wn = float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.01, 0.3))
        sampled = z + np.log(wp) - np.log(wn)
        got = np.asarray(run.call(fn, sampled, wp, wn), dtype=float)
        expect_close(got, z, what="correct(sampled(z))", atol=1e-9)


# ----------------------------------------------------------------------------------------
# Task 2: ESMM's loss in log space
# ----------------------------------------------------------------------------------------
def _esmm_cases(seed: int):
    g = torch.Generator().manual_seed(seed)
    yield ("B=4 by hand, moderate logits",
           torch.tensor([0.0, 1.0, -1.0, 2.0]), torch.tensor([0.5, -0.5, 1.0, 0.0]),
           torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    n = 64
    click = (torch.rand(n, generator=g) < 0.3).float()
    yield (f"B={n}, random logits with standard deviation 2 (seed {seed})",
           2 * torch.randn(n, generator=g), 2 * torch.randn(n, generator=g),
           click, click * (torch.rand(n, generator=g) < 0.4).float())
    yield ("B=4, both logits +30 and unconverted rows: the product pCTR x pCVR rounds to 1 "
           "in float32, yet log(1 - pCTCVR) is about -29.3",
           torch.full((4,), 30.0), torch.full((4,), 30.0),
           torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.zeros(4))
    yield ("B=4, both logits -60 and a converted row: pCTR x pCVR underflows to 0 in float32, "
           "yet log pCTCVR is about -120",
           torch.full((4,), -60.0), torch.full((4,), -60.0),
           torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    n = 32
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    click = (torch.rand(n, generator=g) < 0.5).float()
    yield (f"B={n}, logits of +-30 mixed with random ones (seed {seed})",
           sign * 30.0, torch.where(torch.rand(n, generator=g) < 0.5,
                                    30.0 * sign, torch.randn(n, generator=g)),
           click, click * (torch.rand(n, generator=g) < 0.5).float())


def _esmm_mistakes(ctr, cvr, click, conv) -> dict:
    bce = F.binary_cross_entropy
    p_ctr, p_cvr = torch.sigmoid(ctr), torch.sigmoid(cvr)
    y = click * conv
    log_p = F.logsigmoid(ctr) + F.logsigmoid(cvr)
    ctr_term = F.binary_cross_entropy_with_logits(ctr, click)
    ref = _reference_esmm_stable_loss(ctr, cvr, click, conv)
    out = {
        "BCE on the float product of the probabilities, BCE(y, sigmoid(a) * sigmoid(b)): "
        "where the product rounds to 1 or 0, PyTorch clamps the log at -100":
            bce(p_ctr, click) + bce(p_ctr * p_cvr, y),
        "the CVR term BCE(conversion, pCVR) over all rows instead of the CTCVR term: that fits "
        "pCVR to the wrong target": ctr_term + F.binary_cross_entropy_with_logits(cvr, conv),
        "the CTCVR term alone (the CTR loss is missing)": ref - ctr_term,
        "the CTR term alone (the CTCVR loss is missing)": ctr_term,
        "sums over the rows instead of means": len(click) * ref,
        "the sum of the logits (ctr_logit + cvr_logit) as the CTCVR logit instead of the sum "
        "of their log-sigmoids": ctr_term + F.binary_cross_entropy_with_logits(ctr + cvr, y),
    }
    with torch.no_grad():
        naive_log1m = torch.log1p(-torch.exp(log_p))
        out["log(1 - pCTCVR) as log1p(-exp(log pCTCVR)), which loses everything when pCTCVR "
            "is near 1"] = ctr_term - (y * log_p + (1 - y) * naive_log1m).mean()
    return out


@exercise("ch07", "esmm_stable_loss", title="ESMM's loss in log space")
def check_esmm_stable_loss(fn, run, seed: int = 2018):
    """Check ``fn(ctr_logit, cvr_logit, click, conversion) -> 0-d tensor`` in float32."""
    for name, ctr, cvr, click, conv in _esmm_cases(seed):
        with run.case(name):
            got = run.call(fn, ctr, cvr, click, conv, forbid_mutation=True)
            expect_type(got, torch.Tensor, "the loss")
            if got.dim() != 0:
                fail(f"the loss should be a 0-d tensor (one number), but it has shape "
                     f"{tuple(got.shape)}.", hint="average over the rows with .mean().")
            value = float(got)
            if not np.isfinite(value):
                fail(f"the loss is {value}: a log of 0 somewhere.",
                     hint="never form pCTCVR itself: log pCTCVR = logsigmoid(a) + "
                          "logsigmoid(b), and log(1 - pCTCVR) from it with torch.expm1 or "
                          "torch.log1p depending on its size.")
            expect_scalar(value, "the loss")
            # float64 ground truth: the float32 answer of a stable formula is within 1e-4.
            expected = _reference_esmm_stable_loss(ctr.double(), cvr.double(), click.double(),
                                                   conv.double())
            expect_close(value, float(expected), what="the loss", atol=1e-4, rtol=1e-4,
                         mistakes={k: float(v) for k, v in
                                   _esmm_mistakes(ctr, cvr, click, conv).items()})
    with run.case("gradients: exact at logits of +-30, and the CVR logit gets them from "
                  "unclicked rows too (B=6)"):
        g = torch.Generator().manual_seed(seed + 3)
        ctr = torch.tensor([30.0, -30.0, 1.0, 0.5, 30.0, -2.0]) + 0.1 * torch.randn(6, generator=g)
        cvr = torch.tensor([30.0, 1.0, -30.0, 0.2, 30.0, 0.7]) + 0.1 * torch.randn(6, generator=g)
        click = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
        conv = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
        a, b = ctr.clone().requires_grad_(True), cvr.clone().requires_grad_(True)
        got = run.call(fn, a, b, click, conv, copy_args=False)
        expect_type(got, torch.Tensor, "the loss")
        if not got.requires_grad:
            fail("the loss does not depend on the logits for autograd.",
                 hint="stay in torch: no .item(), .numpy() or .detach().")
        got.backward()
        if b.grad is None or bool((b.grad[click == 0] == 0).all()):
            fail("the CVR logit gets no gradient from the unclicked rows: the CVR tower is "
                 "trained on clicked rows only, the sample-selection bias ESMM removes.",
                 hint="the CTCVR term covers every row, clicked or not.")
        if not (torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()):
            fail("the loss is finite but its gradient has NaN or inf values.",
                 hint="torch.where(cond, f(x), g(x)) back-propagates through both branches: "
                      "if g(x) is infinite where cond picks f, the gradient is inf * 0 = NaN. "
                      "Give each branch only arguments where it is finite, e.g. "
                      "g(torch.where(cond, -1.0, x)).")
        a64 = ctr.double().requires_grad_(True)
        b64 = cvr.double().requires_grad_(True)
        _reference_esmm_stable_loss(a64, b64, click.double(), conv.double()).backward()
        expect_close(b.grad.double(), b64.grad, what="the gradient with respect to cvr_logit",
                     atol=1e-5)
        expect_close(a.grad.double(), a64.grad, what="the gradient with respect to ctr_logit",
                     atol=1e-5)


__all__ = ["check_sampling_correction_logits", "check_esmm_stable_loss"]
