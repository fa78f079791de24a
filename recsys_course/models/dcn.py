"""Deep & Cross Network: Wang, Fu, Fu and Wang, "Deep & Cross Network for Ad Click
Predictions", ADKDD 2017.

Chapter: notebooks/02_feature_interactions.ipynb.

The embedded fields and the dense values are stacked into one vector x_0 (B, d). Two
networks read it in parallel:

* the cross network, x_{l+1} = x_0 (x_l . w_l) + b_l + x_l, whose layer l holds every
  feature cross up to degree l + 1 for 2 d parameters
  (:class:`~recsys_course.models.layers.CrossNetwork`);
* an MLP (the paper applies batch normalisation in it);

and a logistic layer reads both outputs side by side.

torch-rechub's DCN is the same model (see ``recsys_course/reference/``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, CrossNetwork, FeatureEmbedding


class DCN(nn.Module):
    """DCN (Wang et al. 2017), logits (B,).

    Args:
        features: our feature descriptions.
        n_cross_layers: depth of the cross network.
        mlp_dims (at least one), dropout, activation, batch_norm: the deep network.
        init_std, mask_padding: see ``FeatureEmbedding``.
    """

    def __init__(self, features: Sequence[Feature], n_cross_layers: int = 3,
                 mlp_dims: Sequence[int] = (128, 64), dropout: float = 0.2,
                 activation: str = "relu", batch_norm: bool = True, init_std: float = 1e-2,
                 mask_padding: bool = True):
        super().__init__()
        if not mlp_dims:
            raise ValueError("DCN needs at least one hidden layer")
        self.features = list(features)
        self.embedding = FeatureEmbedding(self.features, init_std=init_std,
                                          mask_padding=mask_padding)
        d = self.embedding.flat_dim()
        self.cross = CrossNetwork(d, n_cross_layers)
        self.mlp = MLP(d, mlp_dims, dropout, activation, batch_norm, output_layer=False)
        self.head = nn.Linear(d + self.mlp.output_dim, 1)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        x0 = self.embedding.flat(x)                                          # (B, d)
        both = torch.cat([self.cross(x0), self.mlp(x0)], dim=1)             # (B, d + H)
        return self.head(both).squeeze(-1)                                   # (B,)
