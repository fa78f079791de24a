"""Embedding + MLP: the deep baseline of chapter 02 (notebooks/02_feature_interactions.ipynb).

Every categorical field is embedded (sequences pooled), the vectors and the dense values
are concatenated, and an MLP maps them to a logit. Feature interactions are left for the
MLP to discover, which the rest of the chapter shows it does poorly for products; the
"base model" of the DIN paper (Zhou et al. 2018) and the deep part of Wide & Deep
(Cheng et al. 2016) are this model.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, FeatureEmbedding


class EmbeddingMLP(nn.Module):
    """logit = MLP([e_1, ..., e_F, dense]) (chapter 02), logits (B,).

    ``mlp_dims``: hidden sizes H; ``dropout``, ``activation`` and ``batch_norm`` configure
    each hidden block (Linear -> [BatchNorm1d] -> activation -> Dropout).
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "relu", batch_norm: bool = False,
                 init_std: float = 1e-2, mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.embedding = FeatureEmbedding(self.features, init_std=init_std,
                                          mask_padding=mask_padding)
        input_dim = sum(self.embedding.table(f).embedding_dim for f in self.embedding.sparse)
        self.mlp = MLP(input_dim + self.embedding.n_dense, mlp_dims, dropout, activation,
                       batch_norm)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.embedding.flat(x)                                  # (B, sum of D + n_dense)
        return self.mlp(h).squeeze(-1)                                       # (B,)
