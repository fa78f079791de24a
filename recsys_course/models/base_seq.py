"""The base model of the DIN paper: Embedding & MLP with pooled user behaviour.

Chapter 04 (notebooks/04_din.ipynb) starts from this model and then replaces its
pooling by attention (``din.py``). Paper: Zhou et al., "Deep Interest Network for
Click-Through Rate Prediction", KDD 2018, section 4.2 and Figure 2 (left).

Shape alphabet: B batch, F fields, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import DenseFeature, Feature, SequenceFeature, SparseFeature
from .layers import MLP, FeatureEmbedding


class BaseSeqModel(nn.Module):
    """Embedding & MLP over user behaviour, history pooled without attention.

    Inputs (all described by ``recsys_course.features``):

    * ``history_features``: ``SequenceFeature`` s, the user's behaviour (for example
      ``hist_item`` with ``shared_with="item_id"``), each a (B, L) tensor padded with 0;
    * ``target_features``: ``SparseFeature`` s, the candidate (for example ``item_id``);
      history feature ``i`` is paired with target feature ``i`` (DIN attends with it);
    * ``features``: every other input (user profile, context): sparse, pooled sequence or
      dense.

    Each history is pooled to one vector per row, ``"sum"`` (the paper's base model) or
    ``"mean"``, over the real positions only (``mask_padding=True``; ``False`` counts
    padded positions too). The MLP reads

        [pooled history per history feature, target embeddings, other embeddings, dense]

    and ``forward`` returns logits of shape (B,) (apply ``torch.sigmoid`` for
    probabilities). The paper's MLP is 200-80 with PReLU or Dice.
    """

    def __init__(self, features: Sequence[Feature], history_features: Sequence[SequenceFeature],
                 target_features: Sequence[SparseFeature], mlp_dims: Sequence[int] = (200, 80),
                 mlp_activation: str = "prelu", dropout: float = 0.0, batch_norm: bool = True,
                 pooling: str = "sum", mask_padding: bool = True, init_std: float = 1e-2):
        super().__init__()
        self.features = list(features)
        self.history_features = list(history_features)
        self.target_features = list(target_features)
        if not all(isinstance(f, SequenceFeature) for f in self.history_features):
            raise TypeError("history_features must be SequenceFeatures")
        if not all(isinstance(f, SparseFeature) for f in self.target_features):
            raise TypeError("target_features must be SparseFeatures")
        if pooling not in ("sum", "mean"):
            raise ValueError(f"pooling must be 'sum' or 'mean', got {pooling!r}")
        self.pooling = pooling
        # One set of tables for all inputs, so a history can share its target's table.
        self.embedding = FeatureEmbedding(self.target_features + self.history_features
                                          + self.features, init_std=init_std,
                                          mask_padding=mask_padding)
        input_dim = (sum(f.embed_dim for f in self.history_features)
                     + sum(f.embed_dim for f in self.target_features)
                     + sum(1 if isinstance(f, DenseFeature) else f.embed_dim
                           for f in self.features))
        self.mlp = MLP(input_dim, mlp_dims, dropout=dropout, activation=mlp_activation,
                       batch_norm=batch_norm)

    # -- the three blocks of the MLP input ------------------------------------------------
    def pool_history(self, x: dict) -> list[torch.Tensor]:
        """One (B, D) vector per history feature. DIN overrides this with attention."""
        pooled = []
        for f in self.history_features:
            emb, mask = self.embedding.sequence(x, f)            # (B, L, D), (B, L)
            pooled.append(self.embedding.pool(emb, mask, self.pooling))  # (B, D)
        return pooled

    def target_vectors(self, x: dict) -> list[torch.Tensor]:
        """One (B, D) vector per target feature (the candidate)."""
        return [self.embedding.table(f)(x[f.name].long()) for f in self.target_features]

    def other_vectors(self, x: dict) -> list[torch.Tensor]:
        """The other features in their order, then the dense values: (B, D) ... (B, n_dense)."""
        vecs, dense = [], []
        for f in self.features:
            if isinstance(f, DenseFeature):
                dense.append(x[f.name].float().reshape(-1, 1))   # (B, 1)
            elif isinstance(f, SequenceFeature):
                emb, mask = self.embedding.sequence(x, f)        # (B, L, D), (B, L)
                vecs.append(self.embedding.pool(emb, mask, f.pooling))
            else:
                vecs.append(self.embedding.table(f)(x[f.name].long()))  # (B, D)
        if dense:
            vecs.append(torch.cat(dense, dim=1))                 # (B, n_dense)
        return vecs

    def mlp_input(self, x: dict) -> torch.Tensor:
        parts = self.pool_history(x) + self.target_vectors(x) + self.other_vectors(x)
        return torch.cat(parts, dim=1)                           # (B, sum of D + n_dense)

    def forward(self, x: dict) -> torch.Tensor:
        return self.mlp(self.mlp_input(x)).squeeze(-1)           # (B,) logits
