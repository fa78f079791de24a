"""Wide & Deep: Cheng et al., "Wide & Deep Learning for Recommender Systems", DLRS 2016.

Chapter: notebooks/02_feature_interactions.ipynb.

    logit = wide(x) + deep(x)

* wide: a linear model on the raw codes and on cross-product transformations of them
  (paper section 3.1) -- one weight per code and per crossed pair of codes, so it
  *memorises* co-occurrences seen in training;
* deep: an MLP over the embedded features and the dense values (section 3.2), which
  *generalises* to combinations never seen together.

Paper vs torch-rechub 0.9.0 (``wide="embedding"`` selects the reference): torch-rechub's
wide part is a Linear over the concatenated *embeddings* of the wide features (tables
shared with the deep part) plus their dense values, not a weight per code, and it has no
cross products; its MLP blocks carry BatchNorm1d (``batch_norm=True``).
:meth:`WideDeep.from_rechub` builds that configuration and copies the weights.
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
            weight, hashed into ``cross_buckets`` codes (``wide="per_id"`` only).
        wide: ``"per_id"`` (paper: one weight per code) or ``"embedding"``
            (torch-rechub: a Linear over the wide features' embeddings).
        init_std, mask_padding, padding_codes: see ``FeatureEmbedding``.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "relu", batch_norm: bool = False,
                 wide_features: Sequence[str] | None = None,
                 deep_features: Sequence[str] | None = None,
                 crosses: Sequence[Sequence[str]] = (), cross_buckets: int = 10_007,
                 wide: str = "per_id", init_std: float = 1e-2, mask_padding: bool = True,
                 padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        self.features = list(features)
        all_names = [f.name for f in self.features]
        self.wide_names = list(wide_features) if wide_features is not None else all_names
        self.deep_names = list(deep_features) if deep_features is not None else all_names
        self.crosses = [tuple(c) for c in crosses]
        self.cross_buckets = cross_buckets
        self.wide_mode = wide
        kw = dict(mask_padding=mask_padding, padding_codes=padding_codes)
        if wide == "per_id":
            cross_features = [SparseFeature("_x_".join(c), cross_buckets, embed_dim=1)
                              for c in self.crosses]
            cross_names = [f.name for f in cross_features]
            self.wide = FeatureLinear(
                with_shared_tables(self.features, self.wide_names) + cross_features,
                names=self.wide_names + cross_names, **kw)
            embedded = self.deep_names
        elif wide == "embedding":
            if self.crosses:
                raise ValueError("crosses need wide='per_id'")
            embedded = self.wide_names + self.deep_names
        else:
            raise ValueError(f"wide must be 'per_id' or 'embedding', got {wide!r}")
        self.embedding = FeatureEmbedding(with_shared_tables(self.features, embedded),
                                          init_std=init_std, **kw)
        if wide == "embedding":
            self.wide = nn.Linear(self.embedding.flat_dim(self.wide_names), 1)
        self.mlp = MLP(self.embedding.flat_dim(self.deep_names), mlp_dims, dropout, activation,
                       batch_norm)

    @classmethod
    def from_rechub(cls, model: nn.Module) -> "WideDeep":
        """Ours, with torch-rechub's behaviour selected and its weights copied."""
        from .rechub import widedeep_from_rechub
        return widedeep_from_rechub(model)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.wide_mode == "per_id":
            crossed = {"_x_".join(c): cross_ids([x[n] for n in c], self.cross_buckets)
                       for c in self.crosses}
            wide = self.wide({**x, **crossed})                               # (B,)
        else:
            wide = self.wide(self.embedding.flat(x, self.wide_names)).squeeze(-1)  # (B,)
        deep = self.mlp(self.embedding.flat(x, self.deep_names)).squeeze(-1)     # (B,)
        return wide + deep
