"""The recommender funnel, from the whole catalogue to ten movies. Chapter 01
(notebooks/01_recsys_funnel.ipynb).

    catalogue --recall channels--> merge --pre-ranking--> ranking --re-ranking--> list
      1,682          (U, N) each    (U, K)     (U, M)       (U, M)      MMR + rule (U, k)

Sections, in funnel order:

* interactions: a log of (user, item) pairs as a dense 0/1 matrix (MovieLens-100K is
  small enough: 943 x 1,682 floats);
* recall channels: popularity, item-based collaborative filtering (Sarwar et al. 2001),
  a genre (content-based) channel, and :func:`top_k`, which keeps the best unseen items;
* merging: :func:`interleave` (round robin) and :func:`weighted_merge` (a weighted sum
  of per-user normalised channel scores over the union of the channels' lists);
* pre-ranking: a dot-product two-tower from a truncated SVD (:class:`SVDTwoTower`) and
  :class:`PreRanker`, logistic regression (``models.LR``) over cheap candidate features;
* ranking glue: :func:`pair_inputs` builds model inputs for (user, candidate) pairs like
  the rows of ``tasks.movielens_frame`` (plus dense candidate features), and
  :func:`score_pairs` runs any click model of ``recsys_course.models`` on them;
* re-ranking: maximal marginal relevance (:func:`mmr`, Carbonell & Goldstein 1998) and a
  business rule (:func:`genre_cap`);
* measuring: :class:`StageTimer` and :func:`evaluate_lists`.

Conventions: users and items are 0-based row numbers (MovieLens id - 1). Shapes: U users,
I items, N candidates per user, k list length, g genres, d embedding size. Every
function is vectorised over users; the only Python loops run over list positions.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from . import metrics
from .features import DenseFeature
from .experiments import difference_verdict

__all__ = [
    "interaction_matrix", "relevant_sets", "gather",
    "popularity_scores", "item_similarity", "itemcf_scores", "genre_scores", "top_k",
    "interleave", "weighted_merge",
    "SVDTwoTower", "PreRanker",
    "pair_frame", "pair_inputs", "score_pairs", "sort_by",
    "mmr", "genre_cap",
    "StageTimer", "evaluate_lists", "paired_difference", "verdict",
]


# ----------------------------------------------------------------------------------------
# Interactions
# ----------------------------------------------------------------------------------------
def interaction_matrix(users, items, n_users: int, n_items: int) -> np.ndarray:
    """The 0/1 matrix X (U, I) with X[u, i] = 1 when the log holds the pair (u, i).

    ``users`` and ``items`` are 0-based indices of equal length; a pair logged twice
    counts once. This is implicit feedback: which rows go in (every rating, or only
    ratings >= 4) is the modelling choice chapter 01 discusses.
    """
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    if u.shape != i.shape:
        raise ValueError(f"users and items differ in length: {u.shape} vs {i.shape}")
    if u.size and (u.min() < 0 or u.max() >= n_users or i.min() < 0 or i.max() >= n_items):
        raise ValueError("user or item index out of range (indices are 0-based)")
    X = np.zeros((n_users, n_items), dtype=np.float32)
    X[u, i] = 1.0
    return X


def relevant_sets(users, items, n_users: int) -> list[set]:
    """One set of relevant items per user (empty for users without any), from pairs."""
    out: list[set] = [set() for _ in range(n_users)]
    for u, i in zip(np.asarray(users, dtype=np.int64).tolist(),
                    np.asarray(items, dtype=np.int64).tolist()):
        out[u].add(i)
    return out


def gather(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Scores of the candidates: ``scores`` (U, I) or (I,) at ``items`` (U, N) -> (U, N)."""
    scores = np.asarray(scores)
    if scores.ndim == 1:
        return scores[items]
    return np.take_along_axis(scores, items, axis=1)


# ----------------------------------------------------------------------------------------
# Recall channels: each gives a score to every (user, item); top_k keeps unseen items
# ----------------------------------------------------------------------------------------
def popularity_scores(X: np.ndarray) -> np.ndarray:
    """Interactions per item (I,): the same ranking for every user."""
    return np.asarray(X, dtype=np.float64).sum(axis=0)


def item_similarity(X: np.ndarray) -> np.ndarray:
    """Cosine similarity between the item columns of X (I, I), diagonal set to 0.

    ``sim[i, j] = |users of i & users of j| / sqrt(|users of i| |users of j|)`` for a 0/1
    matrix; an item nobody interacted with has similarity 0 to everything. One matrix
    product, ``X^T X``, then a division by the outer product of the column norms.
    """
    X = np.asarray(X, dtype=np.float32)
    co = X.T @ X                                              # (I, I) co-occurrence
    norms = np.sqrt(np.diag(co)).copy()
    norms[norms == 0] = 1.0
    sim = co / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    return sim


def itemcf_scores(X: np.ndarray, sim: np.ndarray | None = None) -> np.ndarray:
    """Item-based collaborative filtering (Sarwar et al. 2001): ``score(u, j) = sum over
    the items i in u's history of sim(i, j)``, i.e. ``X @ sim`` (U, I)."""
    if sim is None:
        sim = item_similarity(X)
    return np.asarray(X, dtype=np.float32) @ sim


def genre_scores(X: np.ndarray, item_genres: np.ndarray) -> np.ndarray:
    """Content-based channel: cosine between each user's genre profile and each item's
    genre vector (U, I).

    The profile is the sum of the genre vectors (I, g) of the items in the user's row of
    ``X`` (e.g. the movies they rated >= 4). A user with an empty profile and an item
    without genres score 0.
    """
    G = np.asarray(item_genres, dtype=np.float32)
    profile = np.asarray(X, dtype=np.float32) @ G                            # (U, g)
    pn = np.linalg.norm(profile, axis=1, keepdims=True)
    gn = np.linalg.norm(G, axis=1, keepdims=True)
    profile = np.divide(profile, pn, out=np.zeros_like(profile), where=pn > 0)
    G = np.divide(G, gn, out=np.zeros_like(G), where=gn > 0)
    return profile @ G.T


def top_k(scores: np.ndarray, seen: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best unseen items of every user: ``(items (U, k), scores (U, k))``.

    ``scores`` is (U, I), or (I,) for a channel that ranks everybody alike; ``seen``
    (U, I) is True where the user already interacted (those items are never returned).
    Ties go to the lower item index. Raises if a user has fewer than ``k`` unseen items.
    """
    seen = np.asarray(seen, dtype=bool)
    scores = np.broadcast_to(np.asarray(scores, dtype=np.float64), seen.shape)
    n_unseen = (~seen).sum(axis=1)
    if k < 1 or (n_unseen < k).any():
        raise ValueError(f"k={k} but some user has only {int(n_unseen.min())} unseen items")
    masked = np.where(seen, -np.inf, scores)
    items = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    return items, np.take_along_axis(masked, items, axis=1)


# ----------------------------------------------------------------------------------------
# Merging the channels into one candidate set
# ----------------------------------------------------------------------------------------
def _keep_first(rows: np.ndarray) -> np.ndarray:
    """(U, M) item ids -> mask of the first occurrence of each item in every row."""
    order = np.argsort(rows, axis=1, kind="stable")
    srt = np.take_along_axis(rows, order, axis=1)
    dup_sorted = np.zeros_like(srt, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]           # later copies, in sorted order
    keep = np.empty_like(dup_sorted)
    np.put_along_axis(keep, order, ~dup_sorted, axis=1)
    return keep


def _compact(rows: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` kept entries of every row, in order."""
    n_kept = keep.sum(axis=1)
    if (n_kept < k).any():
        raise ValueError(f"k={k} but some user has only {int(n_kept.min())} distinct "
                         "candidates in the channels' lists: make the lists longer")
    pos = np.argsort(~keep, axis=1, kind="stable")[:, :k]    # kept positions first, in order
    return np.take_along_axis(rows, pos, axis=1)


def interleave(lists: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Round-robin merge: the first item of each channel (in the given order), then the
    second of each, ..., skipping items already taken, until ``k`` items (U, k).

    Every channel gets about ``k / C`` of the slots whatever its quality, which is why
    a round robin can do worse than its best channel at equal ``k``.
    """
    lists = [np.asarray(L) for L in lists]
    if len({L.shape[0] for L in lists}) != 1:
        raise ValueError("every channel needs one row per user")
    n = min(L.shape[1] for L in lists)
    woven = np.stack([L[:, :n] for L in lists], axis=2).reshape(lists[0].shape[0], -1)
    return _compact(woven, _keep_first(woven), k)


def weighted_merge(channels: Sequence[tuple[np.ndarray, np.ndarray]], weights: Sequence[float],
                   k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge channels by a weighted sum of their normalised scores: (items, fused) (U, k).

    ``channels`` holds ``(items (U, N_c), scores (U, N_c))`` per channel, e.g. from
    :func:`top_k`; scores must be non-negative. Each channel's scores are divided by the
    user's best score in that channel (so every channel's top item scores 1). An item of
    the union of the lists gets ``fused = sum_c w_c * normalised score_c``, where a
    channel that did not return the item contributes 0. The ``k`` items with the highest
    fused score are kept; ties go to the item met first when reading the channels in
    order of decreasing weight. So ``weights = (1, 0, 0)`` returns the first channel's
    own top ``k``: a grid of weights that includes it can only match or beat that channel
    on the data the weights were chosen on.
    """
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(channels) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("one non-negative weight per channel, not all zero")
    n_users = channels[0][0].shape[0]
    n_items = 1 + max(int(np.asarray(it).max()) for it, _ in channels)
    fused = np.zeros((n_users, n_items))
    rows = np.arange(n_users)[:, None]
    for (items, scores), wc in zip(channels, w):
        s = np.asarray(scores, dtype=np.float64)
        if (s < 0).any():
            raise ValueError("weighted_merge needs non-negative channel scores")
        top = s.max(axis=1, keepdims=True)
        s = np.divide(s, top, out=np.zeros_like(s), where=top > 0)
        fused[rows, np.asarray(items)] += wc * s             # items are distinct per row
    priority = np.argsort(-w, kind="stable")                  # read channels by weight
    union = np.concatenate([np.asarray(channels[c][0]) for c in priority], axis=1)
    keep = _keep_first(union)
    score = np.where(keep, fused[rows, union], -np.inf)
    if (keep.sum(axis=1) < k).any():
        raise ValueError(f"k={k} exceeds the number of distinct candidates of some user")
    pos = np.argsort(-score, axis=1, kind="stable")[:, :k]
    items = np.take_along_axis(union, pos, axis=1)
    return items, np.take_along_axis(score, pos, axis=1)


# ----------------------------------------------------------------------------------------
# Pre-ranking
# ----------------------------------------------------------------------------------------
class SVDTwoTower:
    """A dot-product two-tower model whose towers come from a truncated SVD of X.

    Item tower: ``v_i`` = row i of V (I, d), the top ``d`` right singular vectors of the
    interaction matrix. User tower: ``e_u = x_u V``, the user's history projected on
    them, so a user's vector is computed from their history at serving time (no user
    embedding is stored). Score: ``<e_u, v_i> = x_u V V^T e_i``, the user's history
    reconstructed by the ``d`` strongest patterns of co-consumption. Serving needs one
    dot product per candidate, the reason pre-rankers like this shape.
    """

    def __init__(self, dim: int = 32, seed: int = 0):
        self.dim, self.seed = dim, seed
        self.item_vectors: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "SVDTwoTower":
        """Randomised truncated SVD (``torch.svd_lowrank``, seeded, the global random
        state untouched): much faster than a full SVD for a few dozen vectors."""
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            _, _, V = torch.svd_lowrank(X, q=min(self.dim + 10, *X.shape), niter=4)
        self.item_vectors = V[:, : self.dim].numpy().astype(np.float32)     # (I, d)
        return self

    def user_vectors(self, X: np.ndarray) -> np.ndarray:
        if self.item_vectors is None:
            raise RuntimeError("SVDTwoTower.user_vectors called before fit")
        return np.asarray(X, dtype=np.float32) @ self.item_vectors           # (U, d)

    def score(self, X: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Dot products for the candidates ``items`` (U, N) of the users in X: (U, N)."""
        e = self.user_vectors(X)                                             # (U, d)
        return np.einsum("ud,und->un", e, self.item_vectors[items])


class PreRanker:
    """Logistic regression (``models.LR``) over a few dense candidate features.

    ``fit(features, labels)`` takes a dict ``name -> (U, N)`` array (one value per user
    and candidate, e.g. channel scores and a two-tower score) and 0/1 labels (U, N);
    each feature is standardised with its training mean and standard deviation.
    ``predict`` gives probabilities (U, N). Cheap by design: one weight per feature.
    """

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.mean: dict[str, float] = {}
        self.std: dict[str, float] = {}
        self.model = None

    def _tensors(self, features: Mapping[str, np.ndarray]) -> dict:
        return {n: torch.as_tensor(((np.asarray(features[n], dtype=np.float64) - self.mean[n])
                                    / self.std[n]).ravel(), dtype=torch.float32)
                for n in self.names}

    def fit(self, features: Mapping[str, np.ndarray], labels: np.ndarray, *, epochs: int = 3,
            batch_size: int = 4096, lr: float = 0.05, seed: int = 0) -> "PreRanker":
        from .models import LR
        from .train import fit, set_seed

        for n in self.names:
            v = np.asarray(features[n], dtype=np.float64)
            self.mean[n], self.std[n] = float(v.mean()), float(v.std()) or 1.0
        set_seed(seed)
        self.model = LR([DenseFeature(n) for n in self.names])
        y = torch.as_tensor(np.asarray(labels, dtype=np.float32).ravel())
        fit(self.model, (self._tensors(features), y), None, epochs=epochs,
            batch_size=batch_size, lr=lr, seed=seed, progress=False)
        return self

    @property
    def weights(self) -> pd.Series:
        """The learned weight of each standardised feature (and the bias)."""
        lin = self.model.linear
        w = lin.dense_weight.detach().numpy()
        return pd.Series(list(w) + [float(lin.bias.detach())], index=self.names + ["bias"])

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        from .train import predict

        if self.model is None:
            raise RuntimeError("PreRanker.predict called before fit")
        shape = np.asarray(features[self.names[0]]).shape
        return predict(self.model, self._tensors(features)).reshape(shape)


# ----------------------------------------------------------------------------------------
# Ranking glue: click models from recsys_course.models on (user, candidate) pairs
# ----------------------------------------------------------------------------------------
def pair_frame(ml, users: np.ndarray, items: np.ndarray) -> pd.DataFrame:
    """Rows like ``tasks.movielens_frame`` for the pairs (users[u], items[u, j]).

    ``ml`` is the MovieLens tuple; ``users`` (U,) and ``items`` (U, N) are 0-based. The
    rows are user-major (user 0's N candidates first); rating, timestamp and label are 0
    (unknown: these movies have not been rated).
    """
    from .tasks import movielens_frame

    items = np.asarray(items)
    pairs = pd.DataFrame({"user_id": np.repeat(np.asarray(users), items.shape[1]) + 1,
                          "item_id": items.ravel() + 1, "rating": 0, "timestamp": 0})
    return movielens_frame(ml._replace(ratings=pairs))


def pair_inputs(preprocessor, ml, users: np.ndarray, items: np.ndarray,
                dense: Mapping[str, np.ndarray] | None = None) -> dict:
    """Model inputs for the pairs (users[u], items[u, j]), user-major (U N rows).

    The categorical features of :func:`pair_frame`, encoded with ``preprocessor`` (fitted
    on the training rows: ``task.preprocessor``), plus one float32 column per entry of
    ``dense``: ``name -> (U, N)`` values per user and candidate (e.g. the pre-ranker's
    standardised candidate features), flattened in the same order. A dense name must not
    be one of the categorical features.
    """
    items = np.asarray(items)
    x, _ = preprocessor.transform(pair_frame(ml, users, items), label=None)
    for name, v in (dense or {}).items():
        if name in x:
            raise ValueError(f"dense feature {name!r} collides with a categorical feature")
        v = np.asarray(v, dtype=np.float32)
        if v.shape != items.shape:
            raise ValueError(f"dense feature {name!r} has shape {v.shape}, items {items.shape}")
        x[name] = torch.as_tensor(v.ravel())
    return x


def score_pairs(model: torch.nn.Module, preprocessor, ml, users: np.ndarray,
                items: np.ndarray, dense: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Click probabilities (U, N) of a trained model for each user's candidates, inputs
    from :func:`pair_inputs` (categorical features, plus ``dense`` ones if given)."""
    from .train import predict

    x = pair_inputs(preprocessor, ml, users, items, dense)
    return predict(model, x).reshape(np.asarray(items).shape)


def sort_by(items: np.ndarray, scores: np.ndarray, k: int | None = None):
    """Each row's items by decreasing score (ties keep their order), the first ``k``."""
    order = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
    return np.take_along_axis(items, order, axis=1), np.take_along_axis(scores, order, axis=1)


# ----------------------------------------------------------------------------------------
# Re-ranking
# ----------------------------------------------------------------------------------------
def _unit_rows(V: np.ndarray) -> np.ndarray:
    V = np.asarray(V, dtype=np.float64)
    n = np.linalg.norm(V, axis=-1, keepdims=True)
    return np.divide(V, n, out=np.zeros_like(V), where=n > 0)


def mmr(items: np.ndarray, relevance: np.ndarray, item_vectors: np.ndarray, k: int,
        lam: float, normalize: bool = True) -> np.ndarray:
    """Maximal marginal relevance (Carbonell & Goldstein 1998), greedily, per user.

    Step t picks, among the candidates not yet picked, the one maximising

        lam * rel(i) - (1 - lam) * max_{j picked} sim(i, j)

    (the max is 0 while nothing is picked). ``items`` and ``relevance`` are (U, N);
    ``sim`` is the cosine between ``item_vectors`` rows (an all-zero vector has
    similarity 0 to everything). With ``normalize`` the relevance is min-max scaled to
    [0, 1] per user, so that ``lam`` trades quantities on the same scale as the cosine.
    Ties go to the more relevant candidate, then to the earlier one. ``lam = 1`` returns
    the relevance order; ``lam = 0`` picks the most relevant item, then each time the
    item least similar to everything picked so far. Returns items (U, k).
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    items = np.asarray(items)
    U, N = items.shape
    if not 1 <= k <= N:
        raise ValueError(f"k must be between 1 and N={N}, got {k}")
    order = np.argsort(-np.asarray(relevance, dtype=np.float64), axis=1, kind="stable")
    items = np.take_along_axis(items, order, axis=1)                    # most relevant first
    rel = np.take_along_axis(np.asarray(relevance, dtype=np.float64), order, axis=1)
    if normalize:
        lo, hi = rel.min(axis=1, keepdims=True), rel.max(axis=1, keepdims=True)
        rel = np.divide(rel - lo, hi - lo, out=np.zeros_like(rel), where=hi > lo)
    V = _unit_rows(item_vectors)[items]                                 # (U, N, g)
    sim = np.einsum("und,umd->unm", V, V)                               # (U, N, N)
    rows = np.arange(U)
    max_sim = np.full((U, N), -np.inf)          # max similarity to the picked items
    picked = np.zeros((U, N), dtype=bool)
    out = np.empty((U, k), dtype=items.dtype)
    for t in range(k):
        penalty = max_sim if t > 0 else np.zeros((U, N))   # nothing picked yet: 0
        score = lam * rel - (1.0 - lam) * penalty
        score[picked] = -np.inf
        j = score.argmax(axis=1)                                        # first of ties
        out[:, t] = items[rows, j]
        picked[rows, j] = True
        max_sim = np.maximum(max_sim, sim[rows, j])
    return out


def genre_cap(items: np.ndarray, item_genres: np.ndarray, cap: int, k: int):
    """A business rule: at most ``cap`` items of any one genre in the first ``k``.

    Walks down each user's ranked ``items`` (U, N) and keeps an item unless one of its
    genres (a movie may have several) already has ``cap`` items kept. If fewer than ``k``
    items pass, the list is filled with the best skipped items, breaking the rule; the
    second result counts those fills per user (0 when the rule holds).
    Returns ``(items (U, k), n_filled (U,))``.
    """
    items = np.asarray(items)
    G = (np.asarray(item_genres) > 0).astype(np.int64)
    U, N = items.shape
    if not 1 <= k <= N:
        raise ValueError(f"k must be between 1 and N={N}, got {k}")
    counts = np.zeros((U, G.shape[1]), dtype=np.int64)
    kept = np.zeros((U, N), dtype=bool)
    n_kept = np.zeros(U, dtype=np.int64)
    for j in range(N):
        g = G[items[:, j]]                                                  # (U, g)
        ok = (n_kept < k) & ((counts + g) <= cap).all(axis=1)
        kept[:, j] = ok
        counts += ok[:, None] * g
        n_kept += ok
    n_filled = np.maximum(k - n_kept, 0)
    fill = ~kept & (np.cumsum(~kept, axis=1) <= n_filled[:, None])
    # the kept items in order, then the fills in order
    key = np.where(kept, 0, np.where(fill, 1, 2)) * N + np.arange(N)[None, :]
    pos = np.argsort(key, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(items, pos, axis=1), n_filled


# ----------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------
class StageTimer:
    """Wall-clock seconds per funnel stage (``time.perf_counter``).

        timer = StageTimer()
        with timer("recall"):
            ...
        timer.table(n_users)   # seconds and milliseconds per user, one row per stage

    Entering a stage twice adds up its time.
    """

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def table(self, n_users: int) -> pd.DataFrame:
        s = pd.Series(self.seconds, name="seconds")
        return pd.DataFrame({"seconds": s, "ms per user": 1000.0 * s / n_users})


def paired_difference(a, b, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over users and its bootstrap interval (users resampled)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[~np.isnan(d)]
    return metrics.bootstrap_ci(np.mean, d, n_boot=n_boot, seed=seed)


def evaluate_lists(lists: Mapping[str, np.ndarray], relevant: Sequence[set], k: int,
                   item_genres: np.ndarray, popularity: np.ndarray, n_boot: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """Offline metrics of several recommenders' lists (U, >= k), one row per recommender.

    Accuracy against ``relevant`` (one set per user; users with an empty set are left
    out): hit rate@k, NDCG@k. Beyond accuracy, over all users: catalogue coverage,
    intra-list diversity (1 - genre cosine) and novelty (``-log2`` of the item's share
    of ``popularity``, smoothed with +1). Per-user metrics come with a 95% bootstrap
    interval over users (``_lo``, ``_hi``).
    """
    has_rel = np.array([len(s) > 0 for s in relevant])
    rel = [s for s in relevant if s]
    pop = np.asarray(popularity, dtype=np.float64) + 1.0
    out = {}
    for name, L in lists.items():
        L = np.asarray(L)[:, :k]
        per_user = {
            "hit_rate": metrics.hit_rate_at_k(L[has_rel], rel, k),
            "ndcg": metrics.ndcg_at_k(L[has_rel], rel, k),
            "diversity": metrics.intra_list_diversity(L, item_genres),
            "novelty": metrics.novelty(L, pop),
        }
        row = {}
        for m, v in per_user.items():
            est, lo, hi = metrics.bootstrap_ci(np.mean, v[~np.isnan(v)], n_boot=n_boot, seed=seed)
            row.update({m: est, f"{m}_lo": lo, f"{m}_hi": hi})
        row["coverage"] = metrics.catalogue_coverage(L, n_items=len(pop))
        out[name] = row
    cols = ["hit_rate", "hit_rate_lo", "hit_rate_hi", "ndcg", "ndcg_lo", "ndcg_hi",
            "coverage", "diversity", "diversity_lo", "diversity_hi",
            "novelty", "novelty_lo", "novelty_hi"]
    return pd.DataFrame(out).T[cols]


def verdict(diff: tuple[float, float, float], a: str, b: str, what: str = "NDCG@10") -> str:
    """One sentence on ``diff = (mean, low, high)`` of ``a - b`` (e.g. from
    :func:`paired_difference`, users resampled): which is better, or that the interval
    contains 0. The sentence (winner first, ``winner - loser``) comes from
    :func:`recsys_course.experiments.difference_verdict`."""
    return difference_verdict(a, b, diff, what, how="95% bootstrap interval over users")
