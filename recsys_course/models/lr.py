"""Logistic regression on one-hot codes: the baseline every ranking model must beat.

Chapter: notebooks/02_feature_interactions.ipynb. One scalar weight per categorical code,
one per dense feature, and a bias; no interaction between features.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import FeatureLinear


class LR(nn.Module):
    """logit = b + sum_f w_f[code_f] + sum_j w_j x_j   (chapter 02).

    ``features``: our feature descriptions. The model has exactly
    ``sum(vocab_size of features with their own table) + n_dense + 1`` parameters.
    ``forward(x)`` returns logits (B,).
    """

    def __init__(self, features: Sequence[Feature], mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.linear = FeatureLinear(self.features, mask_padding=mask_padding)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(x)                                                # (B,)
