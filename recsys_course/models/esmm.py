"""ESMM, the Entire Space Multi-task Model (Ma et al. 2018, SIGIR).

Chapter: notebooks/07_clicks_to_value.ipynb (conversions and the sample-selection bias).

The funnel is impression -> click -> conversion. The post-click conversion rate
pCVR = p(conversion | click, x) is what a shop needs, but conversions are only observed
on clicked impressions. A CVR model trained on clicked rows alone learns from a sample
the ranking stage does not serve (it scores *every* impression): the sample-selection
bias, with far fewer training rows (data sparsity). ESMM never fits pCVR directly. Over
all impressions it fits two observable targets,

    pCTR   = p(click | x)                          CTR tower
    pCTCVR = p(click and conversion | x) = pCTR * pCVR

so the CVR tower is trained through the product, over the entire space:

    L = sum_i BCE(click_i, pCTR_i) + sum_i BCE(click_i * conversion_i, pCTCVR_i)

Both towers share the embedding tables (the paper's transfer from the larger CTR task).
``forward`` returns the two logits (B, 2) = [CTR logit, CVR logit]; :func:`esmm_loss` is
the paper's loss computed from them in log space (no product of rounded probabilities),
:func:`naive_cvr_loss` the baseline that fits CVR on clicked rows only.

torch-rechub 0.9.0 (``torch_rechub.models.multi_task.ESMM``) builds the same network:
one embedding layer, the concatenation of the user fields then the item fields, an MLP
tower each, and returns probabilities [pCVR, pCTR, pCTCVR]; its ``MTLTrainer`` sums the
BCE of the last two, as the paper. It supports categorical features only and needs one
embedding size per list (user, item). ``recsys_course.reference.multitask
.esmm_from_rechub`` copies its weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..features import Feature
from .layers import MLP, FeatureEmbedding


class ESMM(nn.Module):
    """A CTR tower and a CVR tower over shared embeddings; logits (B, 2) = [ctr, cvr]."""

    def __init__(self, features: Sequence[Feature], ctr_dims: Sequence[int] = (64, 32),
                 cvr_dims: Sequence[int] = (64, 32), dropout: float = 0.0,
                 activation: str = "relu", batch_norm: bool = True,
                 cvr_dropout: float | None = None, cvr_activation: str | None = None,
                 init_std: float = 1e-2, padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        self.embedding = FeatureEmbedding(features, init_std=init_std, padding_codes=padding_codes)
        d = self.embedding.flat_dim()
        self.ctr_tower = MLP(d, ctr_dims, dropout, activation, batch_norm)
        self.cvr_tower = MLP(d, cvr_dims, dropout if cvr_dropout is None else cvr_dropout,
                             activation if cvr_activation is None else cvr_activation,
                             batch_norm)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        e = self.embedding.flat(x)                                  # (B, sum of D)
        return torch.cat([self.ctr_tower(e), self.cvr_tower(e)], dim=1)  # (B, 2)

    @torch.no_grad()
    def probabilities(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"ctr", "cvr", "ctcvr"}``, each (B,), in the model's current mode."""
        p = torch.sigmoid(self(x))                                  # (B, 2)
        return {"ctr": p[:, 0], "cvr": p[:, 1], "ctcvr": p[:, 0] * p[:, 1]}


def log1mexp(a: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(a)) for a <= 0, accurate near 0 and for very negative a (Maechler 2012).

    Each branch sees only arguments where it is finite, so that the branch ``torch.where``
    discards cannot send a NaN gradient back (inf * 0). ``a`` is clamped only at -1e-30, so
    log pCTCVR = -1.9e-13 (both logits 30, float32) still gives log(1 - pCTCVR) = -29.3.
    """
    a = a.clamp(max=-1e-30)
    near = a > -0.6931471805599453                                   # -log 2
    a_near = torch.where(near, a, torch.full_like(a, -1.0))
    a_far = torch.where(near, torch.full_like(a, -1.0), a)
    return torch.where(near, torch.log(-torch.expm1(a_near)), torch.log1p(-torch.exp(a_far)))


def ctcvr_bce(logits: torch.Tensor, ctcvr: torch.Tensor) -> torch.Tensor:
    """Mean BCE of pCTCVR = sigmoid(ctr) * sigmoid(cvr) against ``ctcvr`` (B,), in log space.

    log pCTCVR = logsigmoid(ctr) + logsigmoid(cvr); log(1 - pCTCVR) = log1mexp of that.
    """
    log_p = F.logsigmoid(logits[:, 0]) + F.logsigmoid(logits[:, 1])   # (B,)
    return -(ctcvr * log_p + (1 - ctcvr) * log1mexp(log_p)).mean()


def esmm_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The paper's loss over the entire space. ``logits`` (B, 2) = [ctr, cvr]; ``y`` (B, 2)
    = [click, conversion] with conversion 0 wherever click is 0.

    BCE(click, pCTR) + BCE(click * conversion, pCTR * pCVR), both averaged over all rows.
    """
    ctr = F.binary_cross_entropy_with_logits(logits[:, 0], y[:, 0])
    return ctr + ctcvr_bce(logits, y[:, 0] * y[:, 1])


def naive_cvr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The baseline ESMM replaces: BCE(click, pCTR) over all rows plus BCE(conversion, pCVR)
    over the clicked rows only (the CVR tower never sees an unclicked impression)."""
    ctr = F.binary_cross_entropy_with_logits(logits[:, 0], y[:, 0])
    clicked = y[:, 0] > 0.5
    if not bool(clicked.any()):
        return ctr
    return ctr + F.binary_cross_entropy_with_logits(logits[clicked, 1], y[clicked, 1])
