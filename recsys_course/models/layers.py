"""Shared building blocks of the course's models.

Chapter 02 (feature interactions) explains field embeddings and the MLP block; the
pieces specific to one family (FM interaction, cross layer, product layer) live next to
them here, the DIN pieces (Dice, attention unit) in ``din.py``.

Shape alphabet: B batch, F fields, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import DenseFeature, Feature, SequenceFeature, SparseFeature


class FeatureEmbedding(nn.Module):
    """One embedding table per categorical feature; looks a batch up field by field.

    * A ``SparseFeature`` gives one vector per row.
    * A ``SequenceFeature`` gives ``L`` vectors per row, pooled to one (``"mean"`` over
      the real positions, or ``"sum"``) by :meth:`forward`; :meth:`sequence` returns the
      unpooled (B, L, D) vectors and the (B, L) mask for attention models.
    * ``shared_with`` reuses the table of another feature (history items share the
      target item's table).
    * Dense features are passed through as a (B, n_dense) block.

    ``mask_padding=True`` (the default) ignores code 0 when pooling. With ``False``, mean
    pooling divides by ``L`` and counts padded positions, as torch-rechub does for a
    ``SequenceFeature`` without ``padding_idx``.
    """

    def __init__(self, features: Sequence[Feature], init_std: float = 1e-2,
                 mask_padding: bool = True):
        super().__init__()
        self.features = list(features)
        self.mask_padding = mask_padding
        self.tables = nn.ModuleDict()
        for f in self.features:
            if isinstance(f, (SparseFeature, SequenceFeature)) and f.shared_with is None:
                table = nn.Embedding(f.vocab_size, f.embed_dim)
                nn.init.normal_(table.weight, 0.0, init_std)
                self.tables[f.name] = table
        self.sparse = [f for f in self.features if isinstance(f, (SparseFeature, SequenceFeature))]
        self.dense = [f for f in self.features if isinstance(f, DenseFeature)]
        for f in self.sparse:
            if f.shared_with is not None and f.shared_with not in self.tables:
                raise ValueError(f"feature {f.name!r} shares the table of {f.shared_with!r}, "
                                 "which is not among the features")

    @property
    def n_fields(self) -> int:
        """F: the number of categorical fields (sparse and pooled sequence)."""
        return len(self.sparse)

    @property
    def n_dense(self) -> int:
        return len(self.dense)

    def table(self, f: SparseFeature | SequenceFeature) -> nn.Embedding:
        return self.tables[f.shared_with or f.name]

    def sequence(self, x: dict, f: SequenceFeature) -> tuple[torch.Tensor, torch.Tensor]:
        """Unpooled history: vectors (B, L, D) and mask (B, L), True at real positions."""
        ids = x[f.name].long()                                   # (B, L)
        return self.table(f)(ids), ids != 0

    def pool(self, emb: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
        """(B, L, D), (B, L) -> (B, D)."""
        if not self.mask_padding:
            mask = torch.ones_like(mask)
        m = mask.unsqueeze(-1).to(emb.dtype)                     # (B, L, 1)
        total = (emb * m).sum(dim=1)                             # (B, D)
        if how == "sum":
            return total
        if how == "mean":
            return total / m.sum(dim=1).clamp_min(1.0)
        raise ValueError(f"pooling must be 'mean' or 'sum', got {how!r}")

    def forward(self, x: dict) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Returns (field vectors (B, F, D) or None, dense values (B, n_dense) or None).

        All categorical fields must share one D to be stacked; models that need mixed
        sizes call :meth:`flat` instead.
        """
        vecs = self._field_vectors(x)
        emb = torch.stack(vecs, dim=1) if vecs else None         # (B, F, D)
        dense = self._dense(x)
        return emb, dense

    def flat(self, x: dict) -> torch.Tensor:
        """Every field vector and dense value side by side: (B, sum of D + n_dense)."""
        parts = self._field_vectors(x)
        dense = self._dense(x)
        if dense is not None:
            parts.append(dense)
        if not parts:
            raise ValueError("the model has no input features")
        return torch.cat(parts, dim=1)

    def _field_vectors(self, x: dict) -> list[torch.Tensor]:
        vecs = []
        for f in self.sparse:
            if isinstance(f, SequenceFeature):
                emb, mask = self.sequence(x, f)                  # (B, L, D), (B, L)
                vecs.append(self.pool(emb, mask, f.pooling))     # (B, D)
            else:
                vecs.append(self.table(f)(x[f.name].long()))     # (B, D)
        return vecs

    def _dense(self, x: dict) -> torch.Tensor | None:
        if not self.dense:
            return None
        cols = [x[f.name].float().reshape(-1, 1) for f in self.dense]
        return torch.cat(cols, dim=1)                            # (B, n_dense)


class MLP(nn.Module):
    """Hidden blocks of Linear -> [BatchNorm1d] -> activation -> Dropout, then an
    optional Linear to one output. ``batch_norm=True`` matches torch-rechub's block."""

    def __init__(self, input_dim: int, hidden: Sequence[int] = (), dropout: float = 0.0,
                 activation: str = "relu", batch_norm: bool = True, output_layer: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers.append(nn.Linear(input_dim, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(make_activation(activation, h))
            layers.append(nn.Dropout(dropout))
            input_dim = h
        if output_layer:
            layers.append(nn.Linear(input_dim, 1))
            input_dim = 1
        self.net = nn.Sequential(*layers)
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)                                       # (B, H) or (B, 1)


def make_activation(name: str, dim: int | None = None) -> nn.Module:
    """'relu', 'sigmoid', 'tanh', 'prelu' (and 'dice', defined with DIN)."""
    name = name.lower()
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "prelu":
        return nn.PReLU()
    if name == "dice":
        from .din import Dice  # defined with the model that introduced it
        if dim is None:
            raise ValueError("Dice needs the layer width")
        return Dice(dim)
    raise ValueError(f"unknown activation {name!r}")
