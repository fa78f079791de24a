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
  ``recsys_course.reference.to_rechub_features``).
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


# ----------------------------------------------------------------------------------------
# Encoders, fitted on training rows only
# ----------------------------------------------------------------------------------------
_MISSING = "<missing>"


def _as_keys(values) -> pd.Series:
    """Values as hashable keys; NaN/None become one explicit "<missing>" category."""
    s = pd.Series(values).reset_index(drop=True)
    if s.dtype == object or isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
        s = s.astype(object)           # string, category, nullable Int64 (criteo_log_bins)
    return s.where(s.notna(), _MISSING)


class CategoryEncoder:
    """Label encoding fitted on training data: 0 padding, 1 unseen, 2.. known values.

    Missing values (NaN, None) are a category of their own, learned like any other.
    Known values are numbered in sorted order of their string form, so the codes do not
    depend on row order. Chapter 00 introduces it, chapter 03 uses it on Criteo.
    """

    def __init__(self, min_count: int = 1):
        self.min_count = min_count
        self.classes_: pd.Index | None = None

    def fit(self, values) -> "CategoryEncoder":
        keys = _as_keys(values)
        counts = keys.value_counts()
        kept = counts[counts >= self.min_count].index
        order = np.argsort(np.asarray([str(k) for k in kept]), kind="stable")
        self.classes_ = pd.Index(np.asarray(kept, dtype=object)[order])
        return self

    def transform(self, values) -> np.ndarray:
        if self.classes_ is None:
            raise RuntimeError("CategoryEncoder.transform called before fit")
        keys = _as_keys(values)
        codes = self.classes_.get_indexer(keys)                  # -1 where unseen
        return np.where(codes < 0, UNSEEN, codes + 2).astype(np.int64)

    def fit_transform(self, values) -> np.ndarray:
        return self.fit(values).transform(values)

    @property
    def vocab_size(self) -> int:
        """Rows of the embedding table: known values + padding + unseen."""
        if self.classes_ is None:
            raise RuntimeError("CategoryEncoder not fitted")
        return len(self.classes_) + 2


class MinMaxScaler:
    """Scales a dense column to [0, 1] with the training minimum and maximum.

    Values outside the training range map outside [0, 1] unless ``clip=True``. A constant
    training column maps to 0. Missing values become ``fill`` after scaling.
    """

    def __init__(self, clip: bool = False, fill: float = 0.0):
        self.clip, self.fill = clip, fill
        self.min_: float | None = None
        self.max_: float | None = None

    def fit(self, values) -> "MinMaxScaler":
        v = pd.to_numeric(pd.Series(values), errors="coerce")
        if v.notna().sum() == 0:
            name = getattr(values, "name", None) or "the column"
            raise ValueError(f"MinMaxScaler.fit: {name!s} has no numeric values in the "
                             "training rows; drop it from the dense features or fill it")
        self.min_, self.max_ = float(v.min()), float(v.max())
        return self

    def transform(self, values) -> np.ndarray:
        if self.min_ is None:
            raise RuntimeError("MinMaxScaler.transform called before fit")
        v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        span = self.max_ - self.min_
        out = (v - self.min_) / span if span > 0 else np.zeros_like(v)
        if self.clip:
            out = np.clip(out, 0.0, 1.0)
        return np.where(np.isnan(out), self.fill, out).astype(np.float32)

    def fit_transform(self, values) -> np.ndarray:
        return self.fit(values).transform(values)


def criteo_log_bins(values) -> pd.Series:
    """The Criteo competition winners' discretisation of a dense count.

    v > 2 becomes floor(ln(v) ** 2); smaller values keep their integer part; missing
    stays missing (a category of its own once encoded). Large counts share wide bins,
    small counts stay apart. Chapter 03.
    """
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.floor(np.log(np.where(v > 2, v, 1.0)) ** 2)
    out = np.where(v > 2, big, np.floor(v))
    return pd.Series(out).astype("Int64")  # nullable: NaN stays missing


# ----------------------------------------------------------------------------------------
# A small preprocessing pipeline: fit on train, transform every split to tensors
# ----------------------------------------------------------------------------------------
class Preprocessor:
    """Fits one encoder per sparse column and one scaler per dense column on training
    rows, then turns any DataFrame into the dict of tensors the models read.

    ``Preprocessor(sparse=["user_id", "item_id"], dense=["age"]).fit(train)`` followed by
    ``.features()`` gives the feature descriptions (with vocabulary sizes) and
    ``.transform(df)`` the tensors. Sequence columns (built by :func:`build_sequences`)
    are passed through ``sequence=`` and reuse the encoder of the column named in
    ``sequence_sources`` (e.g. ``{"hist_item_id": "item_id"}``) and its embedding table.
    """

    def __init__(self, sparse: Sequence[str] = (), dense: Sequence[str] = (),
                 sequence: Sequence[str] = (), sequence_sources: dict | None = None,
                 embed_dim: int = 16, max_len: int = 50, pooling: str = "mean",
                 min_count: int = 1, sequence_encoded: bool = False):
        self.sparse, self.dense, self.sequence = list(sparse), list(dense), list(sequence)
        self.sequence_sources = dict(sequence_sources or {})
        for s in self.sequence:
            if self.sequence_sources.get(s) not in self.sparse:
                raise ValueError(f"sequence column {s!r} needs sequence_sources[{s!r}] naming "
                                 f"one of the sparse columns {self.sparse}")
        self.embed_dim, self.max_len, self.pooling = embed_dim, max_len, pooling
        self.min_count = min_count
        self.sequence_encoded = sequence_encoded
        self.encoders: dict[str, CategoryEncoder] = {}
        self.scalers: dict[str, MinMaxScaler] = {}

    def fit(self, train: pd.DataFrame) -> "Preprocessor":
        _require_columns(train, self.sparse + self.dense, "training data")
        self.encoders = {c: CategoryEncoder(self.min_count).fit(train[c]) for c in self.sparse}
        self.scalers = {c: MinMaxScaler().fit(train[c]) for c in self.dense}
        return self

    def features(self) -> list[Feature]:
        if not self.encoders and self.sparse:
            raise RuntimeError("Preprocessor.features called before fit")
        out: list[Feature] = [SparseFeature(c, self.encoders[c].vocab_size, self.embed_dim)
                              for c in self.sparse]
        out += [SequenceFeature(s, self.encoders[self.sequence_sources[s]].vocab_size,
                                self.embed_dim, self.max_len, self.pooling,
                                shared_with=self.sequence_sources[s]) for s in self.sequence]
        out += [DenseFeature(c) for c in self.dense]
        return out

    def transform(self, df: pd.DataFrame, label: str | None = "label"):
        """DataFrame -> (x, y): x a dict of tensors, y float32 (B,) or None.

        Sequence columns hold arrays of length ``max_len`` (see :func:`build_sequences`):
        raw values padded with None/NaN, encoded here with the source column's encoder
        (padding becomes 0); or, with ``sequence_encoded=True``, int codes of that encoder
        already padded with 0, which are only checked.
        """
        _require_columns(df, self.sparse + self.dense + self.sequence, "data to transform")
        x: dict[str, torch.Tensor] = {}
        for c in self.sparse:
            x[c] = torch.from_numpy(self.encoders[c].transform(df[c]))
        for s in self.sequence:
            x[s] = torch.from_numpy(self._encode_sequence(df[s], self.encoders[self.sequence_sources[s]]))
        for c in self.dense:
            x[c] = torch.from_numpy(self.scalers[c].transform(df[c]))
        y = None
        if label is not None:
            _require_columns(df, [label], "data to transform")
            y = torch.as_tensor(df[label].to_numpy(dtype=np.float32))
        return x, y

    def encode(self, df: pd.DataFrame, column: str) -> np.ndarray:
        """Codes of one sparse column, by its fitted encoder."""
        return self.encoders[column].transform(df[column])

    def _encode_sequence(self, column: pd.Series, encoder: CategoryEncoder) -> np.ndarray:
        dtype = np.int64 if self.sequence_encoded else object
        raw = np.stack([np.asarray(v, dtype=dtype) for v in column]) if len(column) else \
            np.zeros((0, self.max_len), dtype=dtype)
        if raw.shape[1] != self.max_len:
            raise ValueError(f"sequence column {column.name!r} has length {raw.shape[1]}, "
                             f"expected max_len={self.max_len}")
        if self.sequence_encoded:
            if raw.size and (raw.min() < 0 or raw.max() >= encoder.vocab_size):
                raise ValueError(f"sequence column {column.name!r} holds codes outside "
                                 f"[0, {encoder.vocab_size}): encode it with the source "
                                 "column's encoder first (Preprocessor.encode)")
            return raw
        pad = pd.isna(raw)
        codes = encoder.transform(raw.ravel()).reshape(raw.shape)
        return np.where(pad, PAD, codes).astype(np.int64)


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


# ----------------------------------------------------------------------------------------
# Time-ordered splits and leakage-free behaviour sequences
# ----------------------------------------------------------------------------------------
def _time_order(df: pd.DataFrame, time_col: str, user_col: str | None, tie_cols: Sequence[str]):
    """Row order by (user,) time, then ``tie_cols``, then original position: a total,
    reproducible order that does not depend on how the file happened to be sorted."""
    keys = ([user_col] if user_col else []) + [time_col]
    keys += [c for c in tie_cols if c in df.columns and c not in keys]
    tmp = df[keys].reset_index(drop=True)
    tmp["_pos"] = np.arange(len(df))
    return tmp.sort_values(keys + ["_pos"], kind="mergesort").index.to_numpy()  # positions


def time_split(df: pd.DataFrame, fractions=(0.8, 0.1, 0.1), by: str = "global",
               time_col: str = "timestamp", user_col: str = "user_id",
               tie_cols: Sequence[str] = ("user_id", "item_id")) -> pd.Series:
    """Label each row ``"train"``, ``"valid"`` or ``"test"`` by time.

    * ``by="global"``: one clock for everybody; the first 80% of all interactions train,
      the next 10% validate, the last 10% test. Users who arrive late appear only in
      test: this split measures cold start as much as ranking.
    * ``by="user"``: each user's own interactions in time order; their first 80% train,
      and so on. A test row has the same user's earlier rows in training unless the
      user has very few rows (a user with one row has it in test).

    Ties in time are ordered by ``tie_cols`` then original position, so the labels are the
    same however the input was sorted. Returns a Series aligned with ``df.index``.
    Chapter 00.
    """
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    _require_columns(df, [time_col] + ([user_col] if by == "user" else []), "time_split input")
    n = len(df)
    labels = np.empty(n, dtype=object)
    if by == "global":
        order = _time_order(df, time_col, None, tie_cols)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        share = (rank + 1) / max(n, 1)                            # position in (0, 1]
    elif by == "user":
        pos = _time_order(df, time_col, user_col, tie_cols)
        sorted_users = df[user_col].to_numpy()[pos]
        first = np.r_[0, np.flatnonzero(sorted_users[1:] != sorted_users[:-1]) + 1]
        sizes = np.diff(np.r_[first, n])
        start = np.repeat(first, sizes)
        within = np.arange(n) - start                            # rank inside the user
        share = np.empty(n)
        share[pos] = (within + 1) / np.repeat(sizes, sizes)
    else:
        raise ValueError(f"by must be 'global' or 'user', got {by!r}")
    eps = 1e-12                            # 8 of 10 rows is exactly 80%: train
    labels[:] = "test"
    labels[share <= f[0] + f[1] + eps] = "valid"
    labels[share <= f[0] + eps] = "train"
    # Repeated identical rows (same user, item and time) stay together: the first one's
    # split wins, so no (user, item, time) lands in two splits.
    keys = [c for c in dict.fromkeys([user_col, time_col, *tie_cols]) if c in df.columns]
    labels = pd.Series(labels).groupby([df[c].to_numpy() for c in keys], sort=False,
                                       dropna=False).transform("first").to_numpy()
    return pd.Series(labels, index=df.index, name="split")


def _history_positions(log, user_col, time_col, tie_cols, include_ties, history_mask):
    """Sort order and, per sorted row, how many allowed earlier rows its history may use."""
    n = len(log)
    order = _time_order(log, time_col, user_col, tie_cols)
    users = log[user_col].to_numpy()[order]
    times = log[time_col].to_numpy()[order]
    allowed = np.ones(n, bool) if history_mask is None else np.asarray(history_mask, bool)[order]
    new_user = np.r_[True, users[1:] != users[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, np.arange(n), 0))
    if include_ties:
        cut = np.arange(n)                                       # everything before me
    else:
        new_time = new_user | np.r_[True, times[1:] != times[:-1]]
        cut = np.maximum.accumulate(np.where(new_time, np.arange(n), 0))
    allowed_idx = np.flatnonzero(allowed)                        # sorted positions usable as history
    n_before = np.searchsorted(allowed_idx, cut)                 # allowed rows before the cut
    avail = n_before - np.searchsorted(allowed_idx, user_start)  # ... that belong to this user
    return order, allowed_idx, n_before, avail


def history_lengths(log: pd.DataFrame, user_col: str = "user_id", time_col: str = "timestamp",
                    tie_cols: Sequence[str] = ("item_id",), include_ties: bool = False,
                    history_mask=None) -> np.ndarray:
    """Uncapped history length of every row, by the same rule as :func:`build_sequences`
    (aligned with ``log``'s rows). Chapter 00 plots it."""
    _require_columns(log, [user_col, time_col], "history_lengths input")
    order, _, _, avail = _history_positions(log, user_col, time_col, tie_cols, include_ties,
                                            history_mask)
    out = np.empty(len(log), dtype=np.int64)
    out[order] = avail
    return out


def build_sequences(log: pd.DataFrame, columns: Sequence[str], max_len: int = 50,
                    user_col: str = "user_id", time_col: str = "timestamp",
                    tie_cols: Sequence[str] = ("item_id",), include_ties: bool = False,
                    history_mask=None, prefix: str = "hist_", pad=None) -> pd.DataFrame:
    """For every interaction (the *target*), the user's history before it.

    Returns ``log`` with, for each name in ``columns``, a column ``prefix + name``
    holding an array of length ``max_len``: the values of that column over the user's
    earlier interactions, **most recent first**, padded on the right, plus ``hist_len``.
    With ``pad=None`` the arrays hold raw values padded with ``None``; with an integer
    ``pad`` (0 for columns already encoded, see :class:`Preprocessor`) they are int64
    arrays padded with it, which is much faster.

    What "earlier" means (the leakage rule):
      * interactions are ordered by time, ties by ``tie_cols`` then original row position;
      * by default (``include_ties=False``) the history holds only interactions with a
        timestamp *strictly* smaller than the target's: a movie rated in the same second
        as the target is not treated as known before it. ``include_ties=True`` admits
        same-second interactions that come earlier in the tie order.
      * ``history_mask`` (boolean, aligned with ``log``) restricts which interactions
        may enter histories, e.g. only clicks; every row is still a target.
    No history can hold the target itself or anything later. Chapter 04.
    """
    _require_columns(log, [user_col, time_col] + list(columns), "build_sequences input")
    n = len(log)
    order, allowed_idx, n_before, avail = _history_positions(
        log, user_col, time_col, tie_cols, include_ties, history_mask)
    j = np.arange(max_len)
    valid = j[None, :] < avail[:, None]                          # (N, L) real positions
    k = np.where(valid, n_before[:, None] - 1 - j[None, :], 0)   # most recent first
    src = allowed_idx[k] if len(allowed_idx) else np.zeros_like(k)
    out = log.copy()
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    dtype = object if pad is None else np.int64
    for c in columns:
        vals = log[c].to_numpy(dtype=dtype)[order]
        hist = np.full((n, max_len), pad, dtype=dtype)
        hist[valid] = vals[src[valid]]
        hist = hist[inverse]
        out[prefix + c] = list(hist)
    out["hist_len"] = np.minimum(avail, max_len)[inverse]
    return out


# ----------------------------------------------------------------------------------------
# How NOT to build sequences: two leaky builders, and a report that counts the leaks
# (chapter 04 measures them; never train on their output)
# ----------------------------------------------------------------------------------------
def naive_sequences(log: pd.DataFrame, columns: Sequence[str], max_len: int = 50,
                    how: str = "full_history", user_col: str = "user_id",
                    time_col: str = "timestamp", fractions=(0.8, 0.1, 0.1), seed: int = 0,
                    min_len: int = 3, prefix: str = "hist_") -> pd.DataFrame:
    """Two common ways to build behaviour sequences that LEAK. Chapter 04 measures them.

    Both return rows like :func:`build_sequences` (``prefix + c`` arrays of length
    ``max_len``, most recent first, padded with None; ``hist_len``) plus a ``split``
    column, so :func:`leakage_report` can count what went wrong.

    * ``how="full_history"``: each user's history is built **once**, from all of their
      interactions (the ``max_len`` most recent), attached to every one of their rows,
      and the rows are then split at random (``fractions``, seeded). A row's history
      holds the target itself and interactions made after it.
    * ``how="sliding_window"``: each user's interactions sorted by time (ties keep the
      log's order, so same-time interactions count as "before" one another) and
      truncated to the user's *first* ``max_len``; users with fewer than ``min_len`` are
      dropped; every interaction but the first is a target whose history is all the
      ones before it in that order. The last target of a user goes to test, the one
      before it to valid, and **every target except the validation one to train**, so
      each test row is also a training row. This is the behaviour we read in
      torch-rechub 0.9.0's ``create_seq_features`` (its random negatives left out).
    """
    _require_columns(log, [user_col, time_col] + list(columns), "naive_sequences input")
    if how not in ("full_history", "sliding_window"):
        raise ValueError(f"how must be 'full_history' or 'sliding_window', got {how!r}")
    pos = _time_order(log, time_col, user_col, ())               # user, time, log order
    df = log.iloc[pos].reset_index(drop=True)
    users = df[user_col].to_numpy()
    first = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1] if len(df) else np.zeros(0, int)
    sizes = np.diff(np.r_[first, len(df)])
    within = np.arange(len(df)) - np.repeat(first, sizes)        # rank inside the user
    size = np.repeat(sizes, sizes)
    j = np.arange(max_len)
    if how == "full_history":
        last = np.repeat(first + sizes, sizes)                   # one past the user's last row
        avail = np.minimum(size, max_len)
        src = last[:, None] - 1 - j[None, :]                     # the same for all their rows
        rng = np.random.default_rng(seed)
        f = np.cumsum(np.asarray(fractions, float))
        u = rng.random(len(df))
        split = np.where(u < f[0], "train", np.where(u < f[1], "valid", "test")).astype(object)
    else:
        kept = within < max_len                                  # the user's FIRST max_len
        n_kept = np.minimum(size, max_len)
        keep = kept & (within >= 1) & (size >= min_len)
        avail = within                                           # everything before, ties too
        src = np.arange(len(df))[:, None] - 1 - j[None, :]
        split = np.full(len(df), "train", dtype=object)
        split[within == n_kept - 2] = "valid"
    valid = j[None, :] < avail[:, None]
    out = df.copy()
    for c in columns:
        vals = df[c].to_numpy(dtype=object)
        hist = np.full((len(df), max_len), None, dtype=object)
        hist[valid] = vals[src[valid]]
        out[prefix + c] = list(hist)
    out["hist_len"] = np.minimum(avail, max_len)
    out["split"] = split
    if how == "full_history":
        return out
    # every kept target once (train or valid), plus each user's last one again as test
    test = out[keep & (within == n_kept - 1)].assign(split="test")
    return pd.concat([out[keep], test], ignore_index=True)


def leakage_report(rows: pd.DataFrame, user_col: str = "user_id", item_col: str = "item_id",
                   time_col: str = "timestamp", prefix: str = "hist_",
                   split_col: str = "split") -> pd.Series:
    """Count the ways a table of (target, history) rows leaks the future. Chapter 04.

    ``rows`` needs the target's ``user_col``, ``item_col``, ``time_col``, the history
    arrays ``prefix + item_col`` and ``prefix + time_col`` (padded with None/NaN) and a
    ``split_col``. Returns:

    * ``rows``, ``history_entries``: how much there is;
    * ``entries_later_than_target``: history entries with a time after the target's;
    * ``entries_same_time_as_target``: history entries at exactly the target's time (not
      known before it unless the log says in which order they happened);
    * ``histories_holding_target``: rows whose history contains the target interaction
      itself (same item, same time);
    * ``test_rows_also_in_train``: test rows whose (user, item, time) is also a
      training row.

    A leakage-free table (:func:`build_sequences` with :func:`time_split`) has zeros in
    every count but the first two.
    """
    _require_columns(rows, [user_col, item_col, time_col, prefix + item_col, prefix + time_col,
                            split_col], "leakage_report input")

    def block(col):
        a = np.stack([np.asarray(v, dtype=object) for v in rows[col]]) if len(rows) else \
            np.zeros((0, 1), dtype=object)
        real = ~pd.isna(a)
        return np.where(real, a, 0).astype(np.float64), real

    h_time, real = block(prefix + time_col)
    h_item, _ = block(prefix + item_col)
    t_time = rows[time_col].to_numpy(np.float64)[:, None]
    t_item = rows[item_col].to_numpy(np.float64)[:, None]
    later = real & (h_time > t_time)
    same = real & (h_time == t_time)
    itself = (same & (h_item == t_item)).any(axis=1)
    key = [user_col, item_col, time_col]
    split = rows[split_col]
    train_keys = pd.MultiIndex.from_frame(rows.loc[split == "train", key])
    test_keys = pd.MultiIndex.from_frame(rows.loc[split == "test", key])
    return pd.Series({
        "rows": len(rows), "history_entries": int(real.sum()),
        "entries_later_than_target": int(later.sum()),
        "entries_same_time_as_target": int(same.sum()),
        "histories_holding_target": int(itself.sum()),
        "test_rows_also_in_train": int(test_keys.isin(train_keys).sum()),
    }, name="leakage")
