"""The MovieLens-100K click-through task every model chapter trains on.

A rating is an impression; a rating of 4 or 5 counts as a click (chapter 00 explains the
choice). Each row carries the user's and the movie's side features; with
``history=True`` also the user's earlier movies and their genres (chapter 04).

    task = movielens_ctr(split="user")
    model = DeepFM(task.features)
    fit(model, task.train, task.valid)

There is no published benchmark on this task: chapters set their own baselines.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .features import Feature, Preprocessor, build_sequences, time_split

SPARSE = ["user_id", "item_id", "gender", "occupation", "age_bucket", "zip3", "genre", "year_bucket"]
AGE_EDGES = [0, 18, 25, 35, 45, 50, 56, 200]
AGE_NAMES = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]


def movielens_frame(ml, threshold: int = 4) -> pd.DataFrame:
    """One row per rating with side features and ``label`` = rating >= threshold.

    ``ml`` is what :func:`recsys_course.data.load_movielens_100k` returns. Features:
    gender, occupation, age bucket, first three zip characters, the movie's first genre
    (in u.genre order) and its release year in 5-year buckets.
    """
    users = ml.users.copy()
    users["age_bucket"] = pd.cut(users["age"], AGE_EDGES, right=False, labels=AGE_NAMES).astype(str)
    users["zip3"] = users["zip_code"].astype(str).str[:3]
    items = ml.items.copy()
    genre_cols = list(ml.genres)
    flags = items[genre_cols].to_numpy()
    first = np.where(flags.any(1), flags.argmax(1), -1)
    items["genre"] = [genre_cols[i] if i >= 0 else "none" for i in first]
    year = pd.to_datetime(items["release_date"], errors="coerce").dt.year
    items["year_bucket"] = (year // 5 * 5).astype("Int64").astype(str)
    df = (ml.ratings.merge(users[["user_id", "gender", "occupation", "age_bucket", "zip3"]],
                           on="user_id", how="left")
          .merge(items[["item_id", "genre", "year_bucket"]], on="item_id", how="left"))
    df["label"] = (df["rating"] >= threshold).astype(np.float32)
    return df


@dataclass
class CTRTask:
    """A click-through task ready to train: tensors per split, feature descriptions, the
    fitted preprocessor and the frame the tensors came from (with a ``split`` column)."""

    frame: pd.DataFrame
    features: list[Feature]
    preprocessor: Preprocessor
    train: tuple = field(repr=False)
    valid: tuple = field(repr=False)
    test: tuple = field(repr=False)

    def rows(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]

    def users(self, split: str) -> np.ndarray:
        """User ids of a split's rows, aligned with its tensors (for GAUC)."""
        return self.rows(split)["user_id"].to_numpy()

    def subset(self, names) -> list[Feature]:
        """The feature descriptions named, in the given order."""
        by_name = {f.name: f for f in self.features}
        return [by_name[n] for n in names]

    def sizes(self) -> dict:
        return {s: len(getattr(self, s)[1]) for s in ("train", "valid", "test")}


def movielens_ctr(ml=None, split: str = "user", fractions=(0.8, 0.1, 0.1),
                  embed_dim: int = 16, history: bool = False, max_len: int = 50,
                  sparse=SPARSE, data_dir=None, max_rows: int | None = None) -> CTRTask:
    """Build the MovieLens-100K click-through task.

    * ``split="user"``: each user's ratings in time order, 80/10/10 (every test user has
      a past); ``"global"``: one clock (most test users are new: cold start).
    * Encoders are fitted on the training rows only (0 padding, 1 unseen).
    * ``history=True`` adds ``hist_item_id`` and ``hist_genre`` (up to ``max_len`` of the
      user's earlier ratings, most recent first, strictly earlier in time) sharing the
      embedding tables of ``item_id`` and ``genre``.
    * ``max_rows`` keeps the earliest rows in time (smoke runs).
    """
    if ml is None:
        from .data import load_movielens_100k
        ml = load_movielens_100k(data_dir)
    df = movielens_frame(ml)
    if max_rows is not None and max_rows < len(df):
        df = df.sort_values(["timestamp", "user_id", "item_id"], kind="mergesort").head(max_rows)
    df = df.reset_index(drop=True)
    df["split"] = time_split(df, fractions, by=split)
    sequence, sources = [], {}
    if history:
        sequence = ["hist_item_id", "hist_genre"]
        sources = {"hist_item_id": "item_id", "hist_genre": "genre"}
    pre = Preprocessor(sparse=list(sparse), sequence=sequence, sequence_sources=sources,
                       embed_dim=embed_dim, max_len=max_len, sequence_encoded=True)
    pre.fit(df[df["split"] == "train"])
    if history:
        # Encode first (encoders fitted on train), then gather codes into histories: the
        # history of a test row may hold earlier train/valid rows of that user, never later.
        codes = pd.DataFrame({"user_id": df["user_id"], "timestamp": df["timestamp"],
                              "raw_item": df["item_id"],  # ties ordered by the raw movie id
                              "item_id": pre.encode(df, "item_id"), "genre": pre.encode(df, "genre")})
        seq = build_sequences(codes, ["item_id", "genre"], max_len=max_len, pad=0,
                              tie_cols=("raw_item",))
        for c in sequence + ["hist_len"]:
            df[c] = seq[c]
    parts = {s: pre.transform(df[df["split"] == s]) for s in ("train", "valid", "test")}
    return CTRTask(df, pre.features(), pre, parts["train"], parts["valid"], parts["test"])


def popularity_scores(task: CTRTask, split: str = "test", prior: float = 10.0) -> np.ndarray:
    """The trivial baseline: each movie's smoothed click rate in training.

    (clicks + prior * global rate) / (ratings + prior): a movie never seen in training
    gets the global rate. Chapters measure it before training anything.
    """
    train = task.rows("train")
    rate = train["label"].mean()
    stats = train.groupby("item_id")["label"].agg(["sum", "count"])
    smooth = (stats["sum"] + prior * rate) / (stats["count"] + prior)
    return task.rows(split)["item_id"].map(smooth).fillna(rate).to_numpy()


__all__ = ["movielens_frame", "movielens_ctr", "CTRTask", "popularity_scores", "SPARSE"]
