"""The Criteo display-ads format, from raw rows to tensors. Chapter 03 (DeepFM).

A Criteo row has a ``label``, 13 integer counts ``I1..I13`` and 26 hashed categories
``C1..C26``; both kinds have missing values. The pipeline here is the one chapter 03
walks through, each step a visible piece:

1. **missing values**: a missing category is a category of its own (``CategoryEncoder``);
   a missing count becomes the training minimum after scaling (``MinMaxScaler``'s
   ``fill``), and its missingness survives in the count's bin (step 3);
2. **min-max scaling** of the counts with the *training* minimum and maximum, so a test
   value can fall outside [0, 1];
3. **log-squared bins**: each count also becomes a categorical feature ``I<k>_bin`` via
   :func:`~recsys_course.features.criteo_log_bins` (v > 2 -> floor(ln(v)^2), which is
   1 or more; v <= 2 -> v - 2, which is 0 or less, so small counts keep bins of their
   own), the competition winners' trick that lets an embedding learn a separate vector
   per range;
4. **label encoding** fitted on training rows only: 0 padding, 1 a value never seen in
   training, real values from 2;
5. **feature descriptions** (vocabulary sizes) for the models.

    df = data.load_rechub_sample("criteo")
    task = criteo_ctr(df, seed=0)                 # random 70/10/20 split, fit on train
    model = DeepFM(task.features)

:func:`random_split` is the split of torch-rechub's Criteo example (random, 70/10/20 by
default), kept for the chapter's experiment on how noisy a 115-row test set is. Criteo
logs have no user id and the sample no usable time, so a random split is all there is.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .features import DenseFeature, Feature, Preprocessor, SparseFeature, criteo_log_bins

DENSE = [f"I{i}" for i in range(1, 14)]
SPARSE = [f"C{i}" for i in range(1, 27)]
BIN_SUFFIX = "_bin"


def bin_columns(dense: Sequence[str] = DENSE) -> list[str]:
    """Names of the categorical features derived from the counts: ``I1_bin``, ..."""
    return [c + BIN_SUFFIX for c in dense]


def add_log_bins(df: pd.DataFrame, dense: Sequence[str] = DENSE) -> pd.DataFrame:
    """A copy of ``df`` with one extra categorical column ``<count>_bin`` per count:
    :func:`~recsys_course.features.criteo_log_bins` of it (missing stays missing, so it
    becomes its own category once encoded). Chapter 03."""
    missing = [c for c in dense if c not in df.columns]
    if missing:
        raise KeyError(f"the frame lacks the count column(s) {missing}")
    out = df.copy()
    for c in dense:
        out[c + BIN_SUFFIX] = criteo_log_bins(df[c]).to_numpy()
    return out


class CriteoPreprocessor:
    """Fit on training rows, transform any split: the Criteo pipeline of chapter 03.

    ``CriteoPreprocessor().fit(train)`` adds the log-squared bins (``log_bins=True``),
    fits one ``CategoryEncoder`` per categorical column (``C1..C26`` and the bins) and one
    ``MinMaxScaler`` per count. ``transform(df)`` returns ``(x, y)``: a dict of tensors
    (int64 codes, float32 scaled counts) and float32 labels. ``features()`` lists the
    categorical features first (the hashed ones, then the bins), then the counts.

    Attributes after ``fit``: ``encoders`` (column -> CategoryEncoder), ``scalers``
    (count -> MinMaxScaler), ``sparse`` (categorical column names) and ``dense``.
    """

    def __init__(self, dense: Sequence[str] = DENSE, sparse: Sequence[str] = SPARSE,
                 log_bins: bool = True, embed_dim: int = 16, min_count: int = 1,
                 label: str = "label"):
        self.dense = list(dense)
        self.bins = bin_columns(self.dense) if log_bins else []
        self.sparse = list(sparse) + self.bins
        self.log_bins = log_bins
        self.label = label
        self._pre = Preprocessor(sparse=self.sparse, dense=self.dense, embed_dim=embed_dim,
                                 min_count=min_count)

    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        if not self.log_bins or all(c in df.columns for c in self.bins):
            return df                       # bins already added (e.g. by criteo_ctr)
        return add_log_bins(df, self.dense)

    def fit(self, train: pd.DataFrame) -> "CriteoPreprocessor":
        self._pre.fit(self._frame(train))
        return self

    @property
    def encoders(self):
        return self._pre.encoders

    @property
    def scalers(self):
        return self._pre.scalers

    def features(self) -> list[Feature]:
        return self._pre.features()

    def transform(self, df: pd.DataFrame, label: str | None = "label"):
        """DataFrame -> (x: dict of tensors, y: float32 (B,) or None with ``label=None``)."""
        return self._pre.transform(self._frame(df), label=None if label is None else self.label)


def random_split(n_rows: int, fractions=(0.7, 0.1, 0.2), seed: int = 0) -> np.ndarray:
    """Labels ``"train"``/``"valid"``/``"test"`` for ``n_rows`` rows in a random order.

    Sizes as torch-rechub's ``DataGenerator`` computes them for ``split_ratio``:
    ``int(n * f_train)`` training rows, ``int(n * f_valid)`` validation rows, the rest
    test (115 rows -> 80 / 11 / 24). The same ``seed`` gives the same split. Chapter 03.
    """
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    n_train, n_valid = int(n_rows * f[0]), int(n_rows * f[1])
    labels = np.array(["train"] * n_train + ["valid"] * n_valid
                      + ["test"] * (n_rows - n_train - n_valid), dtype=object)
    return labels[np.random.default_rng(seed).permutation(n_rows)]


def criteo_ctr(df: pd.DataFrame, seed: int = 0, fractions=(0.7, 0.1, 0.2),
               log_bins: bool = True, embed_dim: int = 16, min_count: int = 1):
    """A Criteo-format frame as a click-through task: a random split (:func:`random_split`),
    the pipeline fitted on the training rows, tensors for each split.

    Returns a :class:`~recsys_course.tasks.CTRTask` whose ``frame`` carries a ``split``
    column and whose ``preprocessor`` is the fitted :class:`CriteoPreprocessor`.
    Chapter 03.
    """
    from .tasks import CTRTask

    frame = df.reset_index(drop=True)
    frame = add_log_bins(frame) if log_bins else frame.copy()     # row-wise: once for all
    frame["split"] = random_split(len(frame), fractions, seed)
    pre = CriteoPreprocessor(log_bins=log_bins, embed_dim=embed_dim, min_count=min_count)
    pre.fit(frame[frame["split"] == "train"])
    parts = {s: pre.transform(frame[frame["split"] == s]) for s in ("train", "valid", "test")}
    return CTRTask(frame, pre.features(), pre, parts["train"], parts["valid"], parts["test"])


def feature_groups(features: Sequence[Feature]) -> dict[str, list[str]]:
    """Names by role: ``"hashed"`` (C1..C26), ``"bins"`` (I<k>_bin), ``"dense"`` (I1..I13),
    ``"sparse"`` (hashed + bins). Useful to hand each part of a model its features."""
    sparse = [f.name for f in features if isinstance(f, SparseFeature)]
    return {"hashed": [n for n in sparse if not n.endswith(BIN_SUFFIX)],
            "bins": [n for n in sparse if n.endswith(BIN_SUFFIX)],
            "dense": [f.name for f in features if isinstance(f, DenseFeature)],
            "sparse": sparse}


__all__ = ["DENSE", "SPARSE", "BIN_SUFFIX", "bin_columns", "add_log_bins",
           "CriteoPreprocessor", "random_split", "criteo_ctr", "feature_groups"]
