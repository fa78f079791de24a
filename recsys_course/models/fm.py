"""Factorization Machine (Rendle, "Factorization Machines", ICDM 2010).

Chapter: notebooks/02_feature_interactions.ipynb.

    logit = b + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j

Every field i (a categorical code, a pooled sequence, or a dense value times a vector)
has a latent vector v_i; a pair interacts through the inner product of its vectors, so a
pair never seen together in training still gets a weight. The pairwise sum costs O(F D)
with the square-of-sum identity (:class:`~recsys_course.models.layers.FMInteraction`);
:func:`pairwise_interactions` is the O(F^2 D) loop it replaces, kept for checks.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import FeatureLinear, FieldEmbedding, FMInteraction


def pairwise_interactions(fields: torch.Tensor) -> torch.Tensor:
    """sum_{i<j} <v_i, v_j> by brute force: (B, F, D) -> (B,). For checks only."""
    out = fields.new_zeros(fields.shape[0])                                  # (B,)
    n_fields = fields.shape[1]
    for i in range(n_fields):
        for j in range(i + 1, n_fields):
            out = out + (fields[:, i] * fields[:, j]).sum(dim=-1)
    return out


class FM(nn.Module):
    """Factorization Machine of degree 2 (Rendle 2010), returning logits (B,).

    ``features``: our feature descriptions; categorical features must share one
    ``embed_dim`` D (``embed_dim`` sets D if all features are dense). ``init_std``: the
    std of the initial latent vectors. Parts: ``first_order`` (w), ``fields`` (v),
    ``interaction``.
    """

    def __init__(self, features: Sequence[Feature], embed_dim: int | None = None,
                 init_std: float = 1e-2, mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.mask_padding = mask_padding
        self.first_order = FeatureLinear(self.features, mask_padding=mask_padding)
        self.fields = FieldEmbedding(self.features, embed_dim=embed_dim, init_std=init_std,
                                     mask_padding=mask_padding)
        self.interaction = FMInteraction()

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        v = self.fields(x)                                                   # (B, F, D)
        return self.first_order(x) + self.interaction(v)                    # (B,)
