"""DIN, the Deep Interest Network: attention over user behaviour.

Chapter 04 (notebooks/04_din.ipynb). Paper: Zhou et al., "Deep Interest Network for
Click-Through Rate Prediction", KDD 2018 (arXiv:1706.06978).

Read top to bottom: the local activation unit (section 4.3, Figure 2 right), then DIN
itself, the base model of ``base_seq.py`` with its sum pooling replaced by the unit. The
Dice activation (section 5.2) is in ``layers.py``, since any MLP can use it.

A behaviour (one position of the history) is described by several features, say its
item and its category. As in the paper's Figure 2 and the authors' released code, the
behaviour's embeddings are concatenated into one key, the candidate's into one query,
and the unit gives each behaviour **one** weight. (torch-rechub runs one unit per
history feature instead: see ``recsys_course/reference/``.)

Shape alphabet: B batch, F fields, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from ..features import Feature, SequenceFeature, SparseFeature
from .base_seq import BaseSeqModel
from .layers import MLP, Dice  # noqa: F401  (Dice: DIN's activation, re-exported here)


# ----------------------------------------------------------------------------------------
# The local activation unit
# ----------------------------------------------------------------------------------------
class AttentionUnit(nn.Module):
    """Scores each behaviour against the candidate and sums the behaviours with the scores.

    For the query q (the candidate, (B, D)) and each key k_j (behaviour j, (B, L, D)) an
    MLP reads ``[q, k_j, q - k_j, q * k_j]`` (4D values) and outputs one score w_j; the
    unit returns ``sum_j w_j k_j``, shape (B, D). (The paper's Figure 2 draws an outer
    product; the authors' code uses the element-wise product and difference.)

    * ``normalize=None`` (default, the paper): the raw scores are the weights, so the sum
      keeps the intensity of interest (many relevant behaviours give a longer vector).
      ``normalize="softmax"`` follows the authors' released code instead: padded
      positions masked, scores scaled by 1/sqrt(D), softmax over the history.
    * ``mask=True`` (default): padded positions (code 0) weigh 0 and the MLP only reads
      real positions, so the batch statistics of Dice (or BatchNorm) ignore padding too.
      ``mask=False`` scores padded positions like any other.
    * ``activation``: of the MLP's hidden layers (the paper: Dice or PReLU);
      ``batch_norm`` adds BatchNorm1d after each hidden Linear (the paper's unit has none).

    ``forward(query, keys, mask, return_weights=True)`` also returns the weights (B, L).
    """

    def __init__(self, embed_dim: int, dims: Sequence[int] = (36,),
                 activation: str | Callable[[int], nn.Module] = "dice", dropout: float = 0.0,
                 batch_norm: bool = False, normalize: str | None = None, mask: bool = True):
        super().__init__()
        if normalize not in (None, "softmax"):
            raise ValueError(f"normalize must be None or 'softmax', got {normalize!r}")
        self.embed_dim = embed_dim
        self.normalize = normalize
        self.mask = mask
        self.mlp = MLP(4 * embed_dim, dims, dropout=dropout, activation=activation,
                       batch_norm=batch_norm, output_layer=True)

    def scores(self, query: torch.Tensor, keys: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
        """(B, D), (B, L, D), (B, L) -> raw scores (B, L); 0 at padding when masking."""
        B, L, D = keys.shape
        q = query.unsqueeze(1).expand(B, L, D)                               # (B, L, D)
        a = torch.cat([q, keys, q - keys, q * keys], dim=-1)                 # (B, L, 4D)
        if not self.mask:
            return self.mlp(a.reshape(B * L, 4 * D)).reshape(B, L)
        w = keys.new_zeros(B, L)
        if mask.any():                       # the MLP reads the real positions only
            w = w.masked_scatter(mask, self.mlp(a[mask]).squeeze(-1))       # (n_real,) -> (B, L)
        return w

    def weights(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Scores (B, L) -> weights (B, L): as they are (the paper), or the authors' code's
        masked, scaled softmax."""
        if self.normalize is None:
            return scores
        scores = scores / math.sqrt(self.embed_dim)
        if not self.mask:
            return torch.softmax(scores, dim=1)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return torch.softmax(scores, dim=1).masked_fill(~mask, 0.0)     # empty rows: all 0

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                return_weights: bool = False):
        """query (B, D), keys (B, L, D), mask (B, L) True at real positions -> (B, D)."""
        w = self.weights(self.scores(query, keys, mask), mask)              # (B, L)
        pooled = (w.unsqueeze(-1) * keys).sum(dim=1)                        # (B, D)
        return (pooled, w) if return_weights else pooled


# ----------------------------------------------------------------------------------------
# DIN
# ----------------------------------------------------------------------------------------
class DIN(BaseSeqModel):
    """Deep Interest Network: the base model with the history pooled by attention.

    Chapter 04 (notebooks/04_din.ipynb); Zhou et al., KDD 2018.

    ``features``, ``history_features`` and ``target_features`` are as in
    :class:`~recsys_course.models.base_seq.BaseSeqModel`: history feature ``i`` (B, L) is
    paired with target feature ``i`` (B,), whose table it normally shares
    (``SequenceFeature("hist_item", ..., shared_with="item_id")``), with the same D.

    Behaviour j's key is its history embeddings concatenated, k_j = [e_item, e_cate]
    (B, L, sum of D); the query is the candidate's, q = [e_item, e_cate]. One
    :class:`AttentionUnit` gives each behaviour one weight w_j, and the pooled history
    ``sum_j w_j k_j`` enters the MLP, which reads

        [pooled history, target embeddings, other feature embeddings, dense values]

    ``forward`` returns logits (B,). All history features are padded at the same
    positions; the first one's code 0 marks padding.

    Options (defaults follow the paper): ``attention_dims``, ``attention_activation``
    (``"dice"``, ``"prelu"``, ...), ``attention_dropout``, ``normalize`` (None, or
    ``"softmax"`` as in the authors' code), ``mask`` (padded positions weigh 0),
    ``mlp_dims``, ``mlp_activation``, ``dropout``, ``batch_norm`` (of the final MLP).
    """

    def __init__(self, features: Sequence[Feature], history_features: Sequence[SequenceFeature],
                 target_features: Sequence[SparseFeature], attention_dims: Sequence[int] = (36,),
                 attention_activation: str = "dice", attention_dropout: float = 0.0,
                 normalize: str | None = None, mask: bool = True,
                 mlp_dims: Sequence[int] = (200, 80), mlp_activation: str = "dice",
                 dropout: float = 0.0, batch_norm: bool = True, mask_padding: bool = True,
                 init_std: float = 1e-2):
        super().__init__(features, history_features, target_features, mlp_dims=mlp_dims,
                         mlp_activation=mlp_activation, dropout=dropout, batch_norm=batch_norm,
                         mask_padding=mask_padding, init_std=init_std)
        if len(self.target_features) < len(self.history_features):
            raise ValueError("each history feature needs a target feature (paired by position)")
        for h, t in zip(self.history_features, self.target_features):
            if h.embed_dim != t.embed_dim:
                raise ValueError(f"{h.name!r} and {t.name!r} must have the same embed_dim")
        key_dim = sum(h.embed_dim for h in self.history_features)
        self.attention = AttentionUnit(key_dim, attention_dims, attention_activation,
                                       dropout=attention_dropout, normalize=normalize, mask=mask)

    def behaviours(self, x: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The candidate as a query (B, sum of D), each behaviour as a key (B, L, sum of D),
        and the mask (B, L), True at real positions."""
        keys = torch.cat([self.embedding.sequence(x, h)[0]
                          for h in self.history_features], dim=-1)          # (B, L, sum D)
        query = torch.cat([self.embedding.table(t)(x[t.name].long())
                           for t in self.target_features[:len(self.history_features)]],
                          dim=-1)                                           # (B, sum D)
        mask = x[self.history_features[0].name] != 0                        # (B, L)
        return query, keys, mask

    def pool_history(self, x: dict) -> list[torch.Tensor]:
        """The attention-pooled history, split back per history feature: (B, D) each."""
        pooled = self.attention(*self.behaviours(x))                        # (B, sum D)
        return list(pooled.split([h.embed_dim for h in self.history_features], dim=-1))

    def attention_weights(self, x: dict) -> dict[str, torch.Tensor]:
        """History feature name -> weights (B, L), 0 at padding when masking. Every history
        feature of a behaviour shares its one weight, so all entries are the same tensor."""
        _, w = self.attention(*self.behaviours(x), return_weights=True)     # (B, L)
        return {h.name: w for h in self.history_features}
