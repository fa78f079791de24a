"""torch-rechub's departures from the papers, as models built from the course's layers.

Each class here reproduces what torch-rechub 0.9.0's model computes (read from its source)
so that :func:`recsys_course.reference.from_rechub` can copy its weights and the tests can
check the outputs are equal. They import the teaching models' pieces; the teaching models
never import them. Nothing here needs torch-rechub installed.

Shape alphabet: B batch, F fields, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import DenseFeature, Feature, SequenceFeature, SparseFeature
from ..models.base_seq import BaseSeqModel
from ..models.din import AttentionUnit
from ..models.layers import (MLP, FeatureEmbedding, FeatureLinear, FieldEmbedding,
                             FMInteraction, with_shared_tables)


# ----------------------------------------------------------------------------------------
# DIN (chapter 04)
# ----------------------------------------------------------------------------------------
class RechubDice(nn.Module):
    """torch-rechub 0.9.0's ``Dice``: statistics over *each sample's neurons*, not over the
    batch, and no running statistics (training and evaluation behave alike):

        p(s) = sigmoid((s - mean_j s_j) / sqrt(sum_j ((s_j - mean)^2 + eps)))

    The denominator is a sum, sqrt(H (Var + eps)), not a standard deviation, so in wide
    layers p stays near 1/2. eps = 1e-3; one ``alpha`` shared by all neurons, drawn from
    N(0, 1). (The paper's Dice is :class:`recsys_course.models.layers.Dice`.)
    """

    def __init__(self, dim: int | None = None, eps: float = 1e-3):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.alpha = nn.Parameter(torch.randn(1))                           # shared

    def forward(self, s: torch.Tensor) -> torch.Tensor:                     # (N, H)
        centred = s - s.mean(dim=1, keepdim=True)                           # (N, H)
        p = torch.sigmoid(centred / torch.sqrt((centred ** 2 + self.eps).sum(dim=1, keepdim=True)))
        return p * s + (1 - p) * self.alpha * s

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


def rechub_activation(name):
    """torch-rechub's activation names: its ``"dice"`` is :class:`RechubDice`."""
    if isinstance(name, str) and name.lower() == "dice":
        return RechubDice                        # a callable width -> module, equal to itself
    return name


class RechubAttentionUnit(AttentionUnit):
    """torch-rechub's ``ActivationUnit``: the same MLP over [q, k, q - k, q * k] with
    BatchNorm1d in its hidden blocks, every position scored (no mask), and with
    ``use_softmax`` a plain softmax over all L positions (no scaling, padding included).
    Setting ``mask = True`` afterwards shows what masking changes (the softmax then runs
    over the real positions only)."""

    def __init__(self, embed_dim: int, dims: Sequence[int] = (36,), activation="dice",
                 dropout: float = 0.0, use_softmax: bool = False):
        super().__init__(embed_dim, dims, rechub_activation(activation), dropout=dropout,
                         batch_norm=True, normalize=None, mask=False)
        self.use_softmax = use_softmax

    def weights(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.use_softmax:
            return scores
        if not self.mask:
            return torch.softmax(scores, dim=1)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return torch.softmax(scores, dim=1).masked_fill(~mask, 0.0)


class RechubDIN(BaseSeqModel):
    """torch-rechub 0.9.0's DIN: one attention unit *per history feature*, each with its
    own weights, so a behaviour's item and its category get two different weights (the
    paper gives the behaviour one); no masking of padded positions; its Dice (per-sample
    statistics) in the attention units and, hard-wired, in the final MLP; BatchNorm1d in
    every MLP. MLP input in its order [attention-pooled histories, targets, others].
    Returns logits (torch-rechub's returns probabilities)."""

    def __init__(self, features: Sequence[Feature], history_features: Sequence[SequenceFeature],
                 target_features: Sequence[SparseFeature], attention_dims: Sequence[int] = (36,),
                 attention_activation="dice", use_softmax: bool = False,
                 mlp_dims: Sequence[int] = (200, 80), mlp_activation="dice",
                 dropout: float = 0.0, mask_padding: bool = True, init_std: float = 1e-2):
        super().__init__(features, history_features, target_features, mlp_dims=mlp_dims,
                         mlp_activation=rechub_activation(mlp_activation), dropout=dropout,
                         batch_norm=True, mask_padding=mask_padding, init_std=init_std)
        for h, t in zip(self.history_features, self.target_features):
            if h.embed_dim != t.embed_dim:
                raise ValueError(f"{h.name!r} and {t.name!r} must have the same embed_dim")
        self.attention = nn.ModuleList(
            RechubAttentionUnit(h.embed_dim, attention_dims, attention_activation,
                                use_softmax=use_softmax)
            for h in self.history_features)

    def _attend(self, x: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for h, t, unit in zip(self.history_features, self.target_features, self.attention):
            keys, mask = self.embedding.sequence(x, h)                      # (B, L, D), (B, L)
            query = self.embedding.table(t)(x[t.name].long())               # (B, D)
            out.append(unit(query, keys, mask, return_weights=True))        # (B, D), (B, L)
        return out

    def pool_history(self, x: dict) -> list[torch.Tensor]:
        return [pooled for pooled, _ in self._attend(x)]

    def attention_weights(self, x: dict) -> dict[str, torch.Tensor]:
        """History feature name -> its own unit's weights (B, L)."""
        return {h.name: w for h, (_, w) in zip(self.history_features, self._attend(x))}


# ----------------------------------------------------------------------------------------
# Lineage models (chapters 02 and 03)
# ----------------------------------------------------------------------------------------
class RechubDeepFM(nn.Module):
    """torch-rechub 0.9.0's DeepFM, each departure from the paper an option:

    * ``first_order="embedding"`` (torch-rechub): a Linear over the flattened FM-field
      embeddings, so the "first-order" term is a linear function of the latent vectors
      and cannot give a code a weight of its own; ``"per_id"``: the paper's weight per code;
    * ``dense_fields=False`` (torch-rechub): dense values appended raw to the MLP input,
      never in the FM part; ``True``: the paper's fields x_j v_j in both parts;
    * ``batch_norm=True``: BatchNorm1d in the MLP blocks (the paper has none);
    * ``fm_features`` / ``deep_features``: the two parts may read different features;
    * ``padding_codes``: per sequence feature, torch-rechub's ``padding_idx``.

    Each field is looked up once per batch even when both parts read it, so the
    embedding gradient is one sum, as in the teaching DeepFM.
    """

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation="relu", batch_norm: bool = True,
                 fm_features: Sequence[str] | None = None,
                 deep_features: Sequence[str] | None = None, first_order: str = "embedding",
                 dense_fields: bool = False, embed_dim: int | None = None,
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
        emb = self.fields.embedding
        self._categorical = [f.name for f in emb.select(list(dict.fromkeys(
            self.fm_names + self.deep_names))) if not isinstance(f, DenseFeature)]

    def _stack(self, x: dict, names: list[str], looked: dict, fields: bool) -> list:
        """The categorical vectors of ``names`` (from ``looked``), then their dense
        features: as fields x_j v_j (B, D) or raw (B, 1)."""
        emb = self.fields.embedding
        feats = emb.select(names)
        parts = [looked[f.name] for f in feats if not isinstance(f, DenseFeature)]
        for f in feats:
            if isinstance(f, DenseFeature):
                value = x[f.name].float().reshape(-1, 1)                    # (B, 1)
                parts.append(value * self.fields.vectors[self.fields.dense_index[f.name]]
                             if fields else value)
        return parts

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        emb = self.fields.embedding
        looked = dict(zip(self._categorical, emb.field_vectors(x, self._categorical)))
        v = torch.stack(self._stack(x, self.fm_names, looked, True), dim=1)  # (B, F, D)
        if self.first_order_mode == "per_id":
            first = self.first_order(x)                                      # (B,)
        else:
            first = self.first_order(v.flatten(1)).squeeze(-1)               # (B,)
        if self.dense_fields:
            h = torch.stack(self._stack(x, self.deep_names, looked, True), dim=1).flatten(1)
        else:
            h = torch.cat(self._stack(x, self.deep_names, looked, False), dim=1)
        return first + self.interaction(v) + self.mlp(h).squeeze(-1)        # (B,)


class RechubWideDeep(nn.Module):
    """torch-rechub 0.9.0's WideDeep: the wide part is a Linear over the wide features'
    *embeddings* (tables shared with the deep part) and dense values, not a weight per
    code, and has no cross products; BatchNorm1d in the MLP (``batch_norm=True``);
    ``padding_codes`` as its per-feature ``padding_idx``."""

    def __init__(self, features: Sequence[Feature], mlp_dims: Sequence[int] = (128, 64),
                 dropout: float = 0.2, activation="relu", batch_norm: bool = True,
                 wide_features: Sequence[str] | None = None,
                 deep_features: Sequence[str] | None = None, init_std: float = 1e-2,
                 mask_padding: bool = True, padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        self.features = list(features)
        all_names = [f.name for f in self.features]
        self.wide_names = list(wide_features) if wide_features is not None else all_names
        self.deep_names = list(deep_features) if deep_features is not None else all_names
        self.embedding = FeatureEmbedding(
            with_shared_tables(self.features, self.wide_names + self.deep_names),
            init_std=init_std, mask_padding=mask_padding, padding_codes=padding_codes)
        self.wide = nn.Linear(self.embedding.flat_dim(self.wide_names), 1)
        self.mlp = MLP(self.embedding.flat_dim(self.deep_names), mlp_dims, dropout, activation,
                       batch_norm)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        wide = self.wide(self.embedding.flat(x, self.wide_names)).squeeze(-1)   # (B,)
        deep = self.mlp(self.embedding.flat(x, self.deep_names)).squeeze(-1)    # (B,)
        return wide + deep
