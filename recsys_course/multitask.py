"""Data and training for the multi-task chapter (chapter 07, notebooks/07_clicks_to_value.ipynb).

* :func:`movielens_impressions`: an impression log built from MovieLens-100K. MovieLens
  records what people rated, never what they were shown, so impressions are *simulated*:
  each rating (a watch, our click) comes with ``negatives`` movies the user never rated,
  drawn by popularity as a recall stage would propose them, shown at the same time and
  not clicked. A conversion is a like (rating >= 4), observed on watched rows only.
* :func:`selection_bias_lab`: SYNTHETIC impressions with a planted sample-selection bias
  and known truth: every impression has a true click probability and a true post-click
  conversion probability, and a conversion drawn even where nobody clicked (which no
  real log can hold), so a CVR model can be scored on the entire space.
* :func:`correlated_tasks`: SYNTHETIC pairs of regression tasks whose correlation is set
  (the construction of Ma et al. 2018, KDD, section 3.2), to see sharing help and hurt.
* :func:`fit_multitask`: the course's training loop (as ``train.fit``) for models with
  T outputs and a loss over the (B, T) logits, e.g. ``models.esmm.esmm_loss``.
* :func:`paired_comparison`: per-seed paired differences, a t interval and a verdict
  sentence produced from the numbers.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from . import metrics
from .experiments import difference_verdict
from .features import DenseFeature, Feature, Preprocessor, time_split
from .tasks import SPARSE, movielens_frame
from .train import make_adam, n_rows, take

Data = tuple[dict, torch.Tensor]          # (x: name -> (B,) tensors, Y: float (B, T))


@dataclass
class MultiTask:
    """Tensors per split with T label columns (``label_names``), feature descriptions, the
    preprocessor and the frame the tensors came from (``split`` column)."""

    frame: pd.DataFrame
    features: list[Feature]
    label_names: list[str]
    preprocessor: Preprocessor | None = None
    train: Data = field(default=None, repr=False)
    valid: Data = field(default=None, repr=False)
    test: Data = field(default=None, repr=False)

    def rows(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]

    def users(self, split: str) -> np.ndarray:
        return self.rows(split)["user_id"].to_numpy()

    def labels(self, split: str) -> pd.DataFrame:
        return pd.DataFrame(getattr(self, split)[1].numpy(), columns=self.label_names)

    def clicked(self, split: str) -> Data:
        """The rows of ``split`` with click = 1 (column 0): what a naive CVR model sees."""
        x, y = getattr(self, split)
        idx = torch.nonzero(y[:, 0] > 0.5).reshape(-1)
        return take(x, idx), y.index_select(0, idx)

    def sizes(self) -> dict:
        return {s: len(getattr(self, s)[1]) for s in ("train", "valid", "test")}


def _tensors(df: pd.DataFrame, pre: Preprocessor, labels: list[str]) -> dict:
    out = {}
    for s in ("train", "valid", "test"):
        part = df[df["split"] == s]
        x, _ = pre.transform(part, label=None)
        out[s] = (x, torch.as_tensor(part[labels].to_numpy(dtype=np.float32)))
    return out


def sample_unwatched(ratings: pd.DataFrame, negatives: int, seed: int = 0,
                     popularity_power: float = 1.0, n_items: int | None = None,
                     max_rounds: int = 100) -> pd.DataFrame:
    """For each row of ``ratings``, exactly ``negatives`` distinct movies the same user never
    rated (in the whole of ``ratings``), drawn with probability proportional to
    (ratings count + 1) ** popularity_power. Draws are repeated until every row has its
    ``negatives`` movies; they are distinct within one row, and a movie may be shown to the
    same user again with a later rating (as a real feed shows an item more than once).
    Returns ``user_id, item_id, timestamp, source_row`` (the rating row they were shown
    with), ``negatives`` rows per rating.

    Two simplifications of a real log remain (the chapter states them): a movie the user
    rates at any time is never one of their negatives, and popularity is counted over the
    whole period.
    """
    rng = np.random.default_rng(seed)
    items_max = int(n_items or ratings["item_id"].max())
    counts = np.bincount(ratings["item_id"].to_numpy(), minlength=items_max + 1)[1:] + 1.0
    prob = counts ** popularity_power
    prob /= prob.sum()
    users = ratings["user_id"].to_numpy().astype(np.int64)
    big = np.int64(items_max + 1)
    watched = np.unique(users * big + ratings["item_id"].to_numpy())
    n_watched = np.bincount(users)[users]
    if negatives > 0 and np.any(n_watched + negatives > items_max):
        raise ValueError("a user has rated too many movies to show them that many unwatched ones")
    kept = pd.DataFrame({"source_row": np.zeros(0, np.int64), "item_id": np.zeros(0, np.int64)})
    todo = np.arange(len(ratings)) if negatives > 0 else np.zeros(0, np.int64)
    for _ in range(max_rounds):
        if len(todo) == 0:
            break
        draws = 2 * negatives + 2                   # spare draws: some hit watched movies
        cand = rng.choice(np.arange(1, items_max + 1), size=(len(todo), draws), p=prob)
        row = np.repeat(todo, draws)
        item = cand.reshape(-1).astype(np.int64)
        ok = ~np.isin(users[row] * big + item, watched)
        kept = pd.concat([kept, pd.DataFrame({"source_row": row[ok], "item_id": item[ok]})],
                         ignore_index=True)
        kept = kept.drop_duplicates(["source_row", "item_id"])  # distinct within one row
        kept = kept[kept.groupby("source_row").cumcount() < negatives]
        have = np.bincount(kept["source_row"].to_numpy(), minlength=len(ratings))
        todo = np.flatnonzero(have < negatives)
    if len(todo):
        raise RuntimeError(f"{len(todo)} rows did not get {negatives} unwatched movies in "
                           f"{max_rounds} rounds of draws")
    kept = kept.sort_values("source_row", kind="mergesort")
    rows = kept["source_row"].to_numpy()
    neg = pd.DataFrame({"user_id": ratings["user_id"].to_numpy()[rows],
                        "item_id": kept["item_id"].to_numpy(), "source_row": rows,
                        "timestamp": ratings["timestamp"].to_numpy()[rows]})
    return neg.reset_index(drop=True)


def movielens_impressions(ml=None, negatives: int = 4, split: str = "user",
                          fractions=(0.8, 0.1, 0.1), embed_dim: int = 16, seed: int = 0,
                          popularity_power: float = 1.0, max_rows: int | None = None,
                          sparse=SPARSE, data_dir=None) -> MultiTask:
    """The impression -> click (watch) -> conversion (like) task on MovieLens-100K.

    Labels: ``click`` (1 for a rated movie, 0 for a sampled unwatched one) and
    ``conversion`` (rating >= 4, and 0 wherever click is 0). Rated rows are split by
    time (``split="user"``: each user's first 80% train, ...); each sampled impression
    takes the split and time of the rating it was drawn for. Encoders are fitted on the
    training rows. ``max_rows`` keeps the earliest ratings (smoke runs).

    The log is simulated (see the module docstring): no real impression was recorded.
    """
    if ml is None:
        from .data import load_movielens_100k
        ml = load_movielens_100k(data_dir)
    ratings = ml.ratings
    if max_rows is not None and max_rows < len(ratings):
        ratings = ratings.sort_values(["timestamp", "user_id", "item_id"], kind="mergesort").head(max_rows)
    ratings = ratings.reset_index(drop=True)
    ratings_split = time_split(ratings, fractions, by=split).to_numpy()
    neg = sample_unwatched(ratings, negatives, seed, popularity_power,
                           n_items=int(ml.items["item_id"].max()))
    watched = ratings.assign(split=ratings_split, click=1.0)
    unwatched = neg.assign(rating=0, split=ratings_split[neg["source_row"].to_numpy()], click=0.0)
    imp = pd.concat([watched, unwatched.drop(columns="source_row")], ignore_index=True)
    df = movielens_frame(SimpleNamespace(ratings=imp, users=ml.users, items=ml.items,
                                         genres=ml.genres))
    df["conversion"] = df["label"] * df["click"]
    df = df.sort_values(["timestamp", "user_id", "item_id"], kind="mergesort").reset_index(drop=True)
    pre = Preprocessor(sparse=list(sparse), embed_dim=embed_dim).fit(df[df["split"] == "train"])
    labels = ["click", "conversion"]
    parts = _tensors(df, pre, labels)
    return MultiTask(df, pre.features(), labels, pre, parts["train"], parts["valid"], parts["test"])


# ----------------------------------------------------------------------------------------
# SYNTHETIC labs
# ----------------------------------------------------------------------------------------
def selection_bias_lab(n_users: int = 2000, n_items: int = 400, per_user: int = 40,
                       rho: float = -0.6, k: int = 4, click_bias: float = -1.5,
                       cvr_bias: float = -0.5, strength: float = 1.5, n_groups: int = 8,
                       seed: int = 0, embed_dim: int = 8, cold_share: float = 0.0,
                       cold_shift: float = 0.0, cold_cvr_shift: float = 0.0) -> MultiTask:
    """SYNTHETIC impressions with a planted sample-selection bias and known truth.

    Users and items have latent vectors; item i has a click appeal c_i and a conversion
    quality v_i with correlation ``rho`` (negative: the most clicked items convert least,
    "click-bait"). With u the user's vector and b_i, d_i the item's,

        logit p_click = click_bias + c_i + strength * <u, b_i> / sqrt(k)
        logit p_cvr   = cvr_bias   + v_i + strength * <u, d_i> / sqrt(k)

    ``z`` (a conversion drawn for *every* impression, from p_cvr) is the counterfactual
    no log holds; the observed ``conversion`` is click * z. Features: user_id, item_id,
    user_group and item_group (coarse buckets of the user's first latent coordinate and of
    c_i). Rows are split at random 80/10/10 (seeded). Label columns: click, conversion;
    the frame also holds z, p_click, p_cvr (truth, for scoring only).

    A cold tail: with ``cold_share`` > 0 that share of the items (drawn at random) has
    ``cold_shift`` (e.g. -3) added to its click logit, so it is rarely clicked and a model
    trained on clicked rows sees few of its conversions; ``cold_cvr_shift`` is added to the
    same items' conversion logit (negative: items nobody clicks also convert badly). Column
    ``cold`` marks their rows.
    """
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n_users, k))
    b = rng.standard_normal((n_items, k))
    d = rng.standard_normal((n_items, k))
    c = rng.standard_normal(n_items)
    v = rho * c + math.sqrt(1 - rho ** 2) * rng.standard_normal(n_items)
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, n_items, len(users))
    cold_item = rng.random(n_items) < cold_share if cold_share > 0 else np.zeros(n_items, bool)
    logit_click = (click_bias + c[items] + cold_shift * cold_item[items]
                   + strength * (u[users] * b[items]).sum(1) / math.sqrt(k))
    logit_cvr = (cvr_bias + v[items] + cold_cvr_shift * cold_item[items]
                 + strength * (u[users] * d[items]).sum(1) / math.sqrt(k))
    p_click, p_cvr = 1 / (1 + np.exp(-logit_click)), 1 / (1 + np.exp(-logit_cvr))
    click = (rng.random(len(users)) < p_click).astype(np.float32)
    z = (rng.random(len(users)) < p_cvr).astype(np.float32)
    bucket = lambda a: np.searchsorted(np.quantile(a, np.linspace(0, 1, n_groups + 1)[1:-1]), a)
    df = pd.DataFrame({"user_id": users, "item_id": items,
                       "user_group": bucket(u[:, 0])[users], "item_group": bucket(c)[items],
                       "click": click, "z": z, "conversion": click * z,
                       "p_click": p_click, "p_cvr": p_cvr, "cold": cold_item[items]})
    r = rng.random(len(df))
    df["split"] = np.where(r < 0.8, "train", np.where(r < 0.9, "valid", "test"))
    pre = Preprocessor(sparse=["user_id", "item_id", "user_group", "item_group"],
                       embed_dim=embed_dim).fit(df[df["split"] == "train"])
    labels = ["click", "conversion"]
    parts = _tensors(df, pre, labels)
    return MultiTask(df, pre.features(), labels, pre, parts["train"], parts["valid"], parts["test"])


def correlated_tasks(n_rows: int = 20_000, correlation: float = 0.5, n_features: int = 16,
                     n_sines: int = 10, noise: float = 0.1, seed: int = 0) -> MultiTask:
    """SYNTHETIC two regression tasks whose relation is set by ``correlation`` (Ma et al.
    2018, KDD, section 3.2): unit vectors u1 ⟂ u2, w1 = u1, w2 = correlation * u1 +
    sqrt(1 - correlation^2) * u2, x ~ N(0, I) and

        y_t = w_t . x + sum_j sin(alpha_j w_t . x + beta_j) + noise

    with alpha_j, beta_j ~ N(0, 1) shared by both tasks. The label correlation grows
    with ``correlation`` (the non-linear terms make it not equal to it). Features are the
    dense x_1..x_n; rows split at random 80/10/10. Labels are standardised on train."""
    if not -1 <= correlation <= 1:
        raise ValueError("correlation must be in [-1, 1]")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n_features, 2)))
    u1, u2 = q[:, 0], q[:, 1]
    w = [u1, correlation * u1 + math.sqrt(1 - correlation ** 2) * u2]
    alpha, beta = rng.standard_normal(n_sines), rng.standard_normal(n_sines)
    x = rng.standard_normal((n_rows, n_features))
    ys = []
    for wt in w:
        s = x @ wt
        ys.append(s + np.sin(np.outer(s, alpha) + beta).sum(1) + noise * rng.standard_normal(n_rows))
    r = rng.random(n_rows)
    split = np.where(r < 0.8, "train", np.where(r < 0.9, "valid", "test"))
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(n_features)])
    for t, y in enumerate(ys):
        mu, sd = y[split == "train"].mean(), y[split == "train"].std()
        df[f"y{t + 1}"] = (y - mu) / sd
    df["split"] = split
    feats: list[Feature] = [DenseFeature(f"x{i}") for i in range(n_features)]
    parts = {}
    for s in ("train", "valid", "test"):
        part = df[df["split"] == s]
        xs = {f.name: torch.as_tensor(part[f.name].to_numpy(dtype=np.float32)) for f in feats}
        parts[s] = (xs, torch.as_tensor(part[["y1", "y2"]].to_numpy(dtype=np.float32)))
    return MultiTask(df, feats, ["y1", "y2"], None, parts["train"], parts["valid"], parts["test"])


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
def bce_per_task(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over tasks of the mean BCE of each column: the multi-task loss of MMoE and
    shared-bottom models on classification tasks (equal weights)."""
    return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(0).sum()


def mse_per_task(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over tasks of the mean squared error of each column (regression tasks)."""
    return ((out - y) ** 2).mean(0).sum()


@torch.no_grad()
def predict_outputs(model: nn.Module, x: dict, batch_size: int = 8192) -> np.ndarray:
    """The model's raw outputs (logits) in eval mode, numpy (B, T)."""
    model.eval()
    n = n_rows(x)
    out = [model(take(x, torch.arange(s, min(s + batch_size, n)))).double()
           for s in range(0, n, batch_size)]
    return torch.cat(out).numpy()


def mean_auc(model: nn.Module, data: Data) -> float:
    """Mean over the output columns of the AUC against the matching label column."""
    out = predict_outputs(model, data[0])
    y = data[1].numpy()
    return float(np.mean([metrics.auc(y[:, t], out[:, t]) for t in range(out.shape[1])]))


def ctcvr_auc(model: nn.Module, data: Data) -> float:
    """For two-output models [ctr, cvr] (ESMM and its naive baseline): the AUC of
    pCTCVR = pCTR * pCVR against click * conversion over all rows (the entire space)."""
    p = 1 / (1 + np.exp(-predict_outputs(model, data[0])))
    y = data[1].numpy()
    return metrics.auc(y[:, 0] * y[:, 1], p[:, 0] * p[:, 1])


def neg_mse(model: nn.Module, data: Data) -> float:
    """Minus the mean squared error over all outputs (a score: higher is better)."""
    return -float(((predict_outputs(model, data[0]) - data[1].numpy()) ** 2).mean())


@dataclass
class MultiHistory:
    train_loss: list = field(default_factory=list)
    valid_score: list = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0


def fit_multitask(model: nn.Module, train: Data, valid: Data | None = None, *,
                  loss_fn: Callable = bce_per_task, score_fn: Callable = mean_auc,
                  epochs: int = 10, batch_size: int = 1024, lr: float = 1e-3,
                  weight_decay: float = 0.0, patience: int = 2, seed: int = 0) -> MultiHistory:
    """Train a model with T outputs on ``loss_fn(outputs (B, T), Y (B, T))``.

    The loop of :func:`recsys_course.train.fit`: a fresh seeded order each epoch, Adam
    (``train.make_adam``), a one-row tail batch folded into the previous one (BatchNorm);
    with ``valid``, ``score_fn(model, valid)`` (higher is better) after every epoch,
    stopping after ``patience`` epochs without improvement and restoring the best weights.
    """
    x, y = train
    n = n_rows(x)
    gen = torch.Generator().manual_seed(seed)
    opt = make_adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist = MultiHistory()
    best, best_state, bad = -np.inf, None, 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        total = 0.0
        for i, s in enumerate(starts):
            idx = order[s:starts[i + 1] if i + 1 < len(starts) else n]
            loss = loss_fn(model(take(x, idx)), y.index_select(0, idx))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the training loss became {loss.item()} at epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        hist.train_loss.append(total / n)
        if valid is None:
            hist.best_epoch = epoch
            continue
        score = score_fn(model, valid)
        hist.valid_score.append(score)
        if score > best:
            best, bad, hist.best_epoch = score, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return hist


# ----------------------------------------------------------------------------------------
# Paired comparisons over seeds
# ----------------------------------------------------------------------------------------
def paired_comparison(a, b, name_a: str, name_b: str, what: str,
                      higher_is_better: bool | None = True, alpha: float = 0.05) -> tuple[dict, str]:
    """Per-seed values of two methods trained on the same seeds -> (row, verdict).

    The row holds both means and the mean of the paired differences ``a - b`` with its
    Student t interval (``metrics.mean_ci``). The verdict names a winner only when the
    interval excludes 0 (winner first, ``winner - loser``), says "not separated"
    otherwise, and gives no verdict for a single seed: the sentence is
    :func:`recsys_course.experiments.difference_verdict`'s, so it matches its numbers
    whichever way a rerun falls.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("a and b need one value per seed, the same seeds")
    m, lo, hi = metrics.mean_ci(a - b, alpha)
    row = {"what": what, name_a: a.mean(), name_b: b.mean(), "diff": m, "low": lo, "high": hi,
           "seeds": len(a)}
    how = f"{100 * (1 - alpha):.0f}% t interval over {len(a)} paired seeds"
    return row, difference_verdict(name_a, name_b, (m, lo, hi), what, higher_is_better, how)


__all__ = ["MultiTask", "movielens_impressions", "sample_unwatched", "selection_bias_lab",
           "correlated_tasks", "bce_per_task", "mse_per_task", "predict_outputs", "mean_auc",
           "fit_multitask", "MultiHistory", "paired_comparison", "ctcvr_auc", "neg_mse"]
