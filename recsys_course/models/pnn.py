"""PNN with inner products (IPNN): Qu et al., "Product-based Neural Networks for User
Response Prediction", ICDM 2016.

Chapter: notebooks/02_feature_interactions.ipynb.

Between the embeddings and the MLP sits a product layer: next to the field vectors
themselves (the "linear signals" z) it outputs the inner product <v_i, v_j> of every
pair of fields (p), so the first hidden layer sees pairwise interactions explicitly
instead of having to build them from sums. The paper's first layer is
relu(W_z z + W_p p + b), i.e. a Linear over [z, p]; this file computes all F (F - 1) / 2
products exactly (the paper also describes a low-rank approximation of W_p, not used).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, FieldEmbedding, InnerProduct


class PNN(nn.Module):
    """logit = MLP([v_1, ..., v_F, <v_i, v_j> for i < j]) (Qu et al. 2016), logits (B,).

    ``features``: categorical features share one ``embed_dim`` D (dense features are
    fields x_j v_j). ``mlp_dims``, ``dropout``, ``activation``, ``batch_norm`` configure
    the MLP.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "relu", batch_norm: bool = False,
                 embed_dim: int | None = None, init_std: float = 1e-2, mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.fields = FieldEmbedding(self.features, embed_dim=embed_dim, init_std=init_std,
                                     mask_padding=mask_padding)
        n_fields = self.fields.n_fields
        self.product = InnerProduct(n_fields)
        n_pairs = n_fields * (n_fields - 1) // 2
        self.mlp = MLP(n_fields * self.fields.dim + n_pairs, mlp_dims, dropout, activation,
                       batch_norm)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        v = self.fields(x)                                                   # (B, F, D)
        z = v.flatten(1)                                                     # (B, F D)
        p = self.product(v)                                                  # (B, F (F-1) / 2)
        return self.mlp(torch.cat([z, p], dim=1)).squeeze(-1)                # (B,)
