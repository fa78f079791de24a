"""DeepFM: Guo et al., "DeepFM: A Factorization-Machine based Neural Network for CTR
Prediction", IJCAI 2017.

Chapters: notebooks/02_feature_interactions.ipynb (the model),
notebooks/03_deepfm.ipynb (training it on Criteo).

    logit = <w, x>  +  sum_{i<j} <v_i, v_j>  +  MLP([v_1, ..., v_F])
            first order   FM second order          deep part

The FM part and the deep part read the *same* field vectors v_i, so, unlike Wide & Deep,
no feature engineering is needed and the embeddings learn from both parts. A continuous
field is its value times a learned vector (paper section 2.1).

Paper vs torch-rechub 0.9.0 (each difference has an option; :meth:`DeepFM.from_rechub`
selects torch-rechub's and copies the weights):

* first order: the paper has one scalar weight per code (``first_order="per_id"``);
  torch-rechub a Linear over the flattened FM-field embeddings
  (``first_order="embedding"``), so its "first-order" term is a linear function of the
  latent vectors and cannot give a code a weight of its own;
* dense features: the paper makes them fields x_j v_j that join the FM and the MLP
  (``dense_fields=True``); torch-rechub appends the raw values to the MLP input only and
  cannot put them in the FM part (``dense_fields=False``);
* MLP blocks: torch-rechub adds BatchNorm1d (``batch_norm=True``); the paper has none;
* torch-rechub lets the FM part and the deep part read different feature lists
  (``fm_features``, ``deep_features``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import DenseFeature, Feature
from .layers import MLP, FeatureLinear, FieldEmbedding, FMInteraction, with_shared_tables


class DeepFM(nn.Module):
    """DeepFM (Guo et al. 2017), logits (B,).

    Args:
        features: our feature descriptions (the union of both parts).
        mlp_dims, dropout, activation, batch_norm: the deep MLP (paper: ReLU, no BN).
        fm_features / deep_features: names each part reads (default: all; with
            ``dense_fields=False`` the FM part defaults to the categorical features).
        first_order: ``"per_id"`` (paper) or ``"embedding"`` (torch-rechub).
        dense_fields: dense values as fields x_j v_j (paper) or raw MLP inputs
            (torch-rechub).
        embed_dim: D of the dense fields when there are no categorical features.
        init_std, mask_padding, padding_codes: see ``FeatureEmbedding``.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation: str = "relu", batch_norm: bool = False,
                 fm_features: Sequence[str] | None = None,
                 deep_features: Sequence[str] | None = None, first_order: str = "per_id",
                 dense_fields: bool = True, embed_dim: int | None = None,
                 init_std: float = 1e-2, mask_padding: bool = True,
                 padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        self.features = list(features)
        default_fm = [f.name for f in self.features
                      if dense_fields or not isinstance(f, DenseFeature)]
        self.fm_names = list(fm_features) if fm_features is not None else default_fm
        self.deep_names = (list(deep_features) if deep_features is not None
                           else [f.name for f in self.features])
        self.first_order_mode = first_order
        self.dense_fields = dense_fields
        kw = dict(mask_padding=mask_padding, padding_codes=padding_codes)
        self.fields = FieldEmbedding(
            with_shared_tables(self.features, self.fm_names + self.deep_names),
            embed_dim=embed_dim, init_std=init_std, dense_fields=dense_fields, **kw)
        fm_feats = self.fields.embedding.select(self.fm_names)
        if not dense_fields and any(isinstance(f, DenseFeature) for f in fm_feats):
            raise ValueError("with dense_fields=False the FM part takes no dense feature")
        if first_order == "per_id":
            self.first_order = FeatureLinear(with_shared_tables(self.features, self.fm_names),
                                             names=self.fm_names, bias=False, **kw)
        elif first_order == "embedding":
            self.first_order = nn.Linear(self.fields.width(self.fm_names), 1)
        else:
            raise ValueError(f"first_order must be 'per_id' or 'embedding', got {first_order!r}")
        self.interaction = FMInteraction()
        deep_width = (self.fields.width(self.deep_names) if dense_fields
                      else self.fields.embedding.flat_dim(self.deep_names))
        self.mlp = MLP(deep_width, mlp_dims, dropout, activation, batch_norm)

    @classmethod
    def from_rechub(cls, model: nn.Module) -> "DeepFM":
        """Ours, with torch-rechub's behaviour selected and its weights copied."""
        from .rechub import deepfm_from_rechub
        return deepfm_from_rechub(model)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        memo = {}                      # both parts read the same fields: look each up once
        v = self.fields(x, self.fm_names, memo)                              # (B, F, D)
        if self.first_order_mode == "per_id":
            first = self.first_order(x)                                      # (B,)
        else:
            first = self.first_order(v.flatten(1)).squeeze(-1)               # (B,)
        if self.dense_fields:
            h = self.fields(x, self.deep_names, memo).flatten(1)             # (B, F D)
        else:
            h = self.fields.embedding.flat(x, self.deep_names, memo)  # (B, sum of D + n_dense)
        return first + self.interaction(v) + self.mlp(h).squeeze(-1)        # (B,)
