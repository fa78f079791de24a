"""Wide & Deep: Cheng et al., "Wide & Deep Learning for Recommender Systems", DLRS 2016.

Chapter: notebooks/02_feature_interactions.ipynb.

    logit = wide(x) + deep(x)

* wide: a linear model on the raw codes and on cross-product transformations of them
  (paper section 3.1) -- one weight per code and per crossed pair of codes, so it
  *memorises* co-occurrences seen in training;
* deep: an MLP over the embedded features and the dense values (section 3.2), which
  *generalises* to combinations never seen together.

torch-rechub's WideDeep departs from the paper: see ``recsys_course/reference/``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature, SparseFeature
from .layers import MLP, FeatureEmbedding, FeatureLinear, with_shared_tables


def cross_ids(codes: Sequence[torch.Tensor], buckets: int) -> torch.Tensor:
    """Hash a tuple of codes, each (B,), to one code in [0, buckets): the paper's
    cross-product transformation with a hashed vocabulary."""
    h = torch.zeros_like(codes[0], dtype=torch.long)                         # (B,)
    for c in codes:
        h = (h * 1_000_003 + c.long()) % buckets
    return h


class WideDeep(nn.Module):
    """Wide & Deep (Cheng et al. 2016), logits (B,).

    Args:
        features: our feature descriptions (the union of both parts).
        mlp_dims, dropout, activation, batch_norm: the deep MLP (paper: ReLU, no BN).
        wide_features / deep_features: names of the features each part reads
            (default: all features for both).
        crosses: tuples of ``SparseFeature`` names whose combination gets its own wide
            weight, hashed into ``cross_buckets`` codes.
        init_std, mask_padding: see ``FeatureEmbedding``.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "relu", batch_norm: bool = False,
                 wide_features: Sequence[str] | None = None,
                 deep_features: Sequence[str] | None = None,
                 crosses: Sequence[Sequence[str]] = (), cross_buckets: int = 10_007,
                 init_std: float = 1e-2, mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        all_names = [f.name for f in self.features]
        self.wide_names = list(wide_features) if wide_features is not None else all_names
        self.deep_names = list(deep_features) if deep_features is not None else all_names
        self.crosses = [tuple(c) for c in crosses]
        self.cross_buckets = cross_buckets
        # wide: one weight per code of the wide features and per hashed cross
        cross_features = [SparseFeature("_x_".join(c), cross_buckets, embed_dim=1)
                          for c in self.crosses]
        self.wide = FeatureLinear(
            with_shared_tables(self.features, self.wide_names) + cross_features,
            names=self.wide_names + [f.name for f in cross_features], mask_padding=mask_padding)
        # deep: an MLP over the deep features' embeddings and dense values
        self.embedding = FeatureEmbedding(with_shared_tables(self.features, self.deep_names),
                                          init_std=init_std, mask_padding=mask_padding)
        self.mlp = MLP(self.embedding.flat_dim(self.deep_names), mlp_dims, dropout, activation,
                       batch_norm)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        crossed = {"_x_".join(c): cross_ids([x[n] for n in c], self.cross_buckets)
                   for c in self.crosses}
        wide = self.wide({**x, **crossed})                                   # (B,)
        deep = self.mlp(self.embedding.flat(x, self.deep_names)).squeeze(-1)  # (B,)
        return wide + deep
