"""Features: from DataFrames to the dict of tensors every model in the course reads.

Chapters: 00 (data tour) introduces the pieces, 03 (DeepFM) the Criteo steps,
04 (DIN) the behaviour sequences.

Conventions used across the package
-----------------------------------
* Categorical codes: ``0`` is reserved for padding, ``1`` for values not seen when the
  encoder was fitted (on training data only); real values start at ``2``.
* A batch is a ``dict`` mapping feature names to tensors:
  dense ``float32`` of shape (B,), sparse ``int64`` of shape (B,),
  sequence ``int64`` of shape (B, L) padded with 0 on the right.
* The three feature descriptions below map one to one onto torch-rechub's
  ``DenseFeature``, ``SparseFeature`` and ``SequenceFeature`` (see
  ``recsys_course.models.rechub.to_rechub_features``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

PAD = 0
UNSEEN = 1


# ----------------------------------------------------------------------------------------
# Feature descriptions
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseFeature:
    """A real-valued input, fed to models as a float tensor of shape (B,)."""

    name: str


@dataclass(frozen=True)
class SparseFeature:
    """A categorical input with ``vocab_size`` codes (0 padding, 1 unseen), shape (B,).

    ``shared_with`` names another feature whose embedding table this one reuses
    (for example a history of items shares the table of the target item).
    """

    name: str
    vocab_size: int
    embed_dim: int = 16
    shared_with: str | None = None


@dataclass(frozen=True)
class SequenceFeature:
    """A variable-length list of categorical codes, padded with 0 to shape (B, L).

    ``pooling`` says how models without attention reduce it: ``"mean"`` (over the
    real, non-padded positions) or ``"sum"``. ``max_len`` is L.
    """

    name: str
    vocab_size: int
    embed_dim: int = 16
    max_len: int = 50
    pooling: str = "mean"
    shared_with: str | None = None


Feature = DenseFeature | SparseFeature | SequenceFeature


def dense_features(features: Iterable[Feature]) -> list[DenseFeature]:
    return [f for f in features if isinstance(f, DenseFeature)]


def sparse_features(features: Iterable[Feature]) -> list[SparseFeature]:
    return [f for f in features if isinstance(f, SparseFeature)]


def sequence_features(features: Iterable[Feature]) -> list[SequenceFeature]:
    return [f for f in features if isinstance(f, SequenceFeature)]
