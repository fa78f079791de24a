"""DeepFM: Guo et al., "DeepFM: A Factorization-Machine based Neural Network for CTR
Prediction", IJCAI 2017.

Chapters: notebooks/02_feature_interactions.ipynb (the model),
notebooks/03_deepfm.ipynb (training it on Criteo).

    logit = <w, x>  +  sum_{i<j} <v_i, v_j>  +  MLP([v_1, ..., v_F])
            first order   FM second order          deep part

The FM part and the deep part read the *same* field vectors v_i, so, unlike Wide & Deep,
no feature engineering is needed and the embeddings learn from both parts. A continuous
field is its value times a learned vector, x_j v_j (paper section 2.1).

torch-rechub's DeepFM departs from the paper: see ``recsys_course/reference/``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, FeatureLinear, FieldEmbedding, FMInteraction


class DeepFM(nn.Module):
    """DeepFM (Guo et al. 2017), logits (B,).

    Args:
        features: our feature descriptions; categorical features share one ``embed_dim``
            D, dense features become fields x_j v_j.
        mlp_dims, dropout, activation, batch_norm: the deep MLP (paper: ReLU, no BN).
        embed_dim: D of the dense fields when there are no categorical features.
        init_std, mask_padding: see ``FeatureEmbedding``.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "relu", batch_norm: bool = False,
                 embed_dim: int | None = None, init_std: float = 1e-2, mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.fields = FieldEmbedding(self.features, embed_dim=embed_dim, init_std=init_std,
                                     mask_padding=mask_padding)
        self.first_order = FeatureLinear(self.features, bias=False, mask_padding=mask_padding)
        self.interaction = FMInteraction()
        self.mlp = MLP(self.fields.width(), mlp_dims, dropout, activation, batch_norm)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        v = self.fields(x)                                                   # (B, F, D)
        first = self.first_order(x)                                          # <w, x>  (B,)
        second = self.interaction(v)                                         # FM      (B,)
        deep = self.mlp(v.flatten(1)).squeeze(-1)                            # MLP     (B,)
        return first + second + deep
