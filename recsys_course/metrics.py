"""Metrics: how the course scores a ranking model, offline and in business terms.

Three families, each introduced in one chapter:

* click-through metrics on scored impressions -- :func:`auc`, :func:`logloss` and the
  uncertainty helpers :func:`bootstrap_ci`, :func:`mean_ci`, :func:`summarize_runs`
  (chapter 00, data tour), and the per-user :func:`gauc` of the DIN paper (chapter 04);
* top-K list metrics on per-user recommendation lists -- :func:`recall_at_k`,
  :func:`hit_rate_at_k`, :func:`precision_at_k`, :func:`ndcg_at_k`, and the
  beyond-accuracy :func:`catalogue_coverage`, :func:`intra_list_diversity`,
  :func:`novelty`, :func:`personalization` (chapter 01, the recommender funnel);
* business ratios -- :func:`ctr`, :func:`cvr`, :func:`gpm` (chapter 01).

Everything is NumPy: inputs may be NumPy arrays, Python lists, pandas Series or torch
tensors (moved to the CPU and detached). Work is vectorised by sorting and grouping;
no function loops in Python over rows or users, except where lists of lists must be
read into arrays.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from itertools import chain
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

__all__ = [
    "auc", "gauc", "logloss", "bootstrap_ci", "mean_ci", "summarize_runs",
    "recall_at_k", "hit_rate_at_k", "precision_at_k", "ndcg_at_k",
    "catalogue_coverage", "intra_list_diversity", "novelty", "personalization",
    "ctr", "cvr", "gpm",
]


# ----------------------------------------------------------------------------------------
# Input helpers
# ----------------------------------------------------------------------------------------
def _to_numpy(x) -> np.ndarray:
    """Any array-like (list, Series, torch tensor) as a NumPy array, no copy if possible."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):          # torch.Tensor, no torch import
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _as_1d(x, name: str) -> np.ndarray:
    a = _to_numpy(x)
    if a.ndim == 2 and 1 in a.shape:                         # (B, 1) model outputs
        a = a.reshape(-1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def _labels_and_scores(y, p, name_p: str = "p") -> tuple[np.ndarray, np.ndarray]:
    """Checks shared by auc, gauc and logloss: same length, non-empty, 0/1 labels,
    finite scores. Returns labels as bool and scores as float64."""
    y, p = _as_1d(y, "y"), _as_1d(p, name_p)
    if len(y) != len(p):
        raise ValueError(f"y and {name_p} have different lengths: {len(y)} vs {len(p)}")
    if len(y) == 0:
        raise ValueError("empty input: y and p have no rows")
    if y.dtype != bool:
        yf = y.astype(np.float64)
        if not np.isin(yf, (0.0, 1.0)).all():
            bad = np.unique(yf[~np.isin(yf, (0.0, 1.0))])[:5]
            raise ValueError(f"labels must be 0 or 1 (or bool); found {bad.tolist()}")
        y = yf == 1.0
    p = p.astype(np.float64)
    if not np.isfinite(p).all():
        raise ValueError(f"{name_p} contains NaN or infinite values")
    return y, p


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``; tied values share the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)                                  # rank of each group's last
    return (last - (counts - 1) / 2.0)[inverse.reshape(-1)]


# ----------------------------------------------------------------------------------------
# Click-through metrics (chapter 00; GAUC chapter 04)
# ----------------------------------------------------------------------------------------
def auc(y, p) -> float:
    """Area under the ROC curve: the probability that a random positive row scores
    higher than a random negative one, ties counting one half. Chapter 00.

    Computed with the rank (Mann-Whitney) formula: rank all scores together, giving tied
    scores the average of their ranks; then
    ``AUC = (sum of positive ranks - n1 (n1 + 1) / 2) / (n1 * n0)``.
    ``p`` may be probabilities or logits (only the order matters). O(n log n).

    Raises ``ValueError`` if only one class is present (AUC is then undefined), if the
    lengths differ, if the input is empty or if labels are not 0/1.
    """
    y, p = _labels_and_scores(y, p)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(f"AUC is undefined with one class only ({n1} positive, "
                         f"{n0} negative rows)")
    ranks = _average_ranks(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def gauc(user, y, p, weight: str = "impressions", return_users: bool = False):
    """Group AUC: the per-user AUC averaged with user weights, as in the DIN paper
    (Zhou et al. 2018, eq. 9: "user weighted AUC"; BARS calls it gAUC). Chapter 04.

    ``GAUC = sum_u w_u AUC_u / sum_u w_u`` with ``w_u`` the user's number of impressions
    (rows) by default; ``weight="clicks"`` uses positives and ``weight="uniform"`` gives
    every user the same weight.

    Users whose rows hold only one class have no AUC and are **skipped** (they count
    neither in the numerator nor in the weights); torch-rechub 0.9.0's ``gauc_score``
    returns NaN instead. With ``return_users=True`` the result is ``(gauc, n_users)``,
    ``n_users`` being the number of users actually used.

    Vectorised: one sort by (user, score), tied scores within a user get the average
    rank, then per-user sums with ``np.bincount``. ``user`` may hold any sortable ids.
    Raises ``ValueError`` if no user has both classes.
    """
    y, p = _labels_and_scores(y, p)
    user = _as_1d(user, "user")
    if len(user) != len(y):
        raise ValueError(f"user and y have different lengths: {len(user)} vs {len(y)}")
    if weight not in ("impressions", "clicks", "uniform"):
        raise ValueError("weight must be 'impressions', 'clicks' or 'uniform'")
    _, u = np.unique(user, return_inverse=True)              # users as codes 0..U-1
    u = u.reshape(-1)
    n_users = int(u.max()) + 1
    order = np.lexsort((p, u))                               # by user, then by score
    u_s, p_s, y_s = u[order], p[order], y[order]
    n = len(u_s)
    # a new tie group starts where the user or the score changes
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    new_group[1:] = (u_s[1:] != u_s[:-1]) | (p_s[1:] != p_s[:-1])
    group = np.cumsum(new_group) - 1
    pos = np.arange(n, dtype=np.float64)
    mean_pos = (np.bincount(group, weights=pos) / np.bincount(group))[group]
    n_rows = np.bincount(u_s, minlength=n_users)
    user_start = np.concatenate(([0], np.cumsum(n_rows)[:-1]))
    rank = mean_pos - user_start[u_s] + 1.0                  # 1-based rank within user
    n1 = np.bincount(u_s, weights=y_s, minlength=n_users)
    n0 = n_rows - n1
    rank_sum = np.bincount(u_s, weights=np.where(y_s, rank, 0.0), minlength=n_users)
    ok = (n1 > 0) & (n0 > 0)
    if not ok.any():
        raise ValueError("GAUC is undefined: no user has both a positive and a negative row")
    auc_u = (rank_sum[ok] - n1[ok] * (n1[ok] + 1) / 2.0) / (n1[ok] * n0[ok])
    w = {"impressions": n_rows[ok].astype(np.float64), "clicks": n1[ok],
         "uniform": np.ones(int(ok.sum()))}[weight]
    value = float((w * auc_u).sum() / w.sum())
    return (value, int(ok.sum())) if return_users else value


def logloss(y, p, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy ``-[y log p + (1 - y) log(1 - p)]``. Chapter 00.

    ``p`` are probabilities (after the sigmoid), clipped to ``[eps, 1 - eps]`` so one
    confident mistake costs at most ``-log(eps)`` (about 16.1 for the default) instead
    of infinity. torch-rechub 0.9.0's ``basic.metric.log_loss`` does **not** clip: a
    prediction of exactly 0 or 1 on the wrong row gives it ``inf``/``nan``. scikit-learn
    clips at the float precision, so results agree unless predictions come within
    ``eps`` of 0 or 1.

    Raises ``ValueError`` for probabilities outside [0, 1] (did you pass logits?),
    length mismatch, empty input or labels other than 0/1.
    """
    y, p = _labels_and_scores(y, p)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("p must be probabilities in [0, 1]; got values outside "
                         f"[{p.min():.3g}, {p.max():.3g}] -- apply a sigmoid to logits first")
    if not 0 < eps < 0.5:
        raise ValueError("eps must be in (0, 0.5)")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


# ----------------------------------------------------------------------------------------
# Uncertainty: bootstrap over rows or groups, t intervals over seeds (chapter 00)
# ----------------------------------------------------------------------------------------
def bootstrap_ci(metric: Callable, *arrays, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0, groups=None) -> tuple[float, float, float]:
    """Percentile bootstrap interval of ``metric(*arrays)``. Chapter 00.

    Returns ``(estimate, low, high)``: the metric on the full data and the
    ``alpha/2`` and ``1 - alpha/2`` quantiles of the metric over ``n_boot`` resamples.
    All arrays are resampled with the same row indices (``bootstrap_ci(auc, y, p)``).

    Without ``groups`` rows are drawn with replacement, which assumes rows are
    independent. Impressions of one user are not: with ``groups=user_ids`` whole users
    are drawn with replacement and all their rows come along (cluster bootstrap), which
    gives honest, usually wider, intervals. A user drawn twice keeps its id, so metrics
    that group by user (e.g. ``gauc(user, y, p)``) see its rows twice under one id; for
    the impression-weighted GAUC this is the same as counting the user twice.

    Resamples where ``metric`` raises ``ValueError`` (e.g. AUC on a draw with one
    class only) or returns NaN are dropped with a warning. ``seed`` makes the result
    reproducible. The loop is over resamples, each one vectorised.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    arrs = [_to_numpy(a) for a in arrays]
    n = len(arrs[0])
    if any(len(a) != n for a in arrs):
        raise ValueError(f"arrays have different lengths: {[len(a) for a in arrs]}")
    if n == 0:
        raise ValueError("empty input: nothing to resample")
    estimate = float(metric(*arrs))
    rng = np.random.default_rng(seed)

    if groups is None:
        def draw() -> np.ndarray:
            return rng.integers(0, n, size=n)
    else:
        g = _as_1d(groups, "groups")
        if len(g) != n:
            raise ValueError(f"groups has length {len(g)}, the arrays {n}")
        _, codes = np.unique(g, return_inverse=True)
        codes = codes.reshape(-1)
        rows_by_group = np.argsort(codes, kind="stable")     # rows of group 0, 1, ...
        sizes = np.bincount(codes)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        n_groups = len(sizes)

        def draw() -> np.ndarray:
            picked = rng.integers(0, n_groups, size=n_groups)
            lens = sizes[picked]
            # positions starts[picked[j]] .. + lens[j] - 1, concatenated without a loop
            offsets = np.repeat(starts[picked] - np.cumsum(lens) + lens, lens)
            return rows_by_group[offsets + np.arange(lens.sum())]

    stats = np.empty(n_boot)
    failed = 0
    for b in range(n_boot):
        idx = draw()
        try:
            stats[b] = metric(*(a[idx] for a in arrs))
        except ValueError:
            stats[b] = np.nan
        if np.isnan(stats[b]):
            failed += 1
    if failed == n_boot:
        raise ValueError("the metric failed on every bootstrap resample")
    if failed:
        warnings.warn(f"bootstrap_ci: {failed} of {n_boot} resamples gave no value "
                      "(e.g. one class only) and were dropped", RuntimeWarning,
                      stacklevel=2)
    low, high = np.nanquantile(stats, [alpha / 2.0, 1.0 - alpha / 2.0])
    return estimate, float(low), float(high)


def _t_quantile(q: float, df: int) -> float:
    """Quantile ``q`` of Student's t with ``df`` degrees of freedom (SciPy)."""
    return float(student_t.ppf(q, df))


def mean_ci(values, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean of a few runs (e.g. one AUC per seed) with a Student t interval. Chapter 00.

    Returns ``(mean, low, high)`` with ``mean -/+ t_{1-alpha/2, n-1} * s / sqrt(n)``,
    ``s`` the sample standard deviation. With a single value the bounds are NaN.
    Uses SciPy's t quantile when SciPy is installed and a built-in one otherwise.
    """
    v = _as_1d(values, "values").astype(np.float64)
    if len(v) == 0:
        raise ValueError("mean_ci needs at least one value")
    if not np.isfinite(v).all():
        raise ValueError("values contain NaN or infinite entries")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    m = float(v.mean())
    if len(v) == 1:
        return m, float("nan"), float("nan")
    half = _t_quantile(1.0 - alpha / 2.0, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return m, m - half, m + half


def summarize_runs(df: pd.DataFrame, by, metrics, alpha: float = 0.05) -> pd.DataFrame:
    """One row per configuration, summarising several runs (seeds). Chapter 00.

    ``df`` has one row per run; ``by`` names the column(s) identifying a configuration
    (e.g. ``"model"`` or ``["model", "split"]``) and ``metrics`` the metric column(s).
    The result is indexed by ``by`` with the column ``n_runs`` and, for each metric
    ``m``, ``m_mean``, ``m_std`` (ddof=1), ``m_ci_low``, ``m_ci_high`` (t interval, see
    :func:`mean_ci`).
    """
    by = [by] if isinstance(by, str) else list(by)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [c for c in by + metrics if c not in df.columns]
    if missing:
        raise ValueError(f"columns not in the DataFrame: {missing}")
    if len(df) == 0:
        raise ValueError("empty DataFrame: no runs to summarise")
    grouped = df.groupby(by, sort=True)
    out = pd.DataFrame({"n_runs": grouped.size()})
    for m in metrics:
        mean = grouped[m].mean()
        std = grouped[m].std(ddof=1)
        n = out["n_runs"]
        q = np.array([_t_quantile(1 - alpha / 2, k - 1) if k > 1 else np.nan for k in n])
        half = q * std / np.sqrt(n)
        out[f"{m}_mean"] = mean
        out[f"{m}_std"] = std
        out[f"{m}_ci_low"] = mean - half
        out[f"{m}_ci_high"] = mean + half
    return out


# ----------------------------------------------------------------------------------------
# Top-K list metrics (chapter 01)
# ----------------------------------------------------------------------------------------
def _lists(lists) -> list:
    """Recommendation lists from a dict user -> list, a list of lists or a 2-D array."""
    if isinstance(lists, Mapping):
        return list(lists.values())
    a = lists
    if hasattr(a, "detach") or isinstance(a, np.ndarray):
        a = _to_numpy(a)
        if a.ndim != 2:
            raise ValueError(f"an array of lists must be 2-D (users, k), got {a.shape}")
        return list(a)
    return list(a)


def _flatten(lists: list, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated items (truncated to the first k of each list) and list lengths."""
    if k is not None:
        lists = [r[:k] for r in lists]
    lens = np.fromiter((len(r) for r in lists), dtype=np.int64, count=len(lists))
    flat = np.asarray(list(chain.from_iterable(lists)))
    if flat.size == 0:
        flat = flat.astype(np.int64)
    return flat, lens


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _align(recommended, relevant) -> tuple[list, list]:
    """Pairs each user's recommendation list with the set of items relevant to them."""
    if isinstance(relevant, Mapping):
        if not isinstance(recommended, Mapping):
            raise ValueError("relevant is a dict user -> items, so recommended must be "
                             "a dict user -> list too")
        users = [u for u, items in relevant.items() if len(items) > 0]
        if not users:
            raise ValueError("no user has a relevant item")
        return [list(recommended.get(u, ())) for u in users], [relevant[u] for u in users]
    if isinstance(recommended, Mapping):
        raise ValueError("recommended is a dict, so relevant must be a dict too")
    rec, rel = _lists(recommended), list(relevant)
    if len(rec) != len(rel):
        raise ValueError(f"recommended has {len(rec)} lists but relevant has {len(rel)} "
                         "sets; they must be aligned user by user")
    if len(rec) == 0:
        raise ValueError("empty input: no users")
    return rec, rel


def _hits(recommended, relevant, k: int):
    """Per-user hit matrix pieces: for every recommended item within the top k, its user
    index, position (0-based) and whether it is relevant; plus per-user counts."""
    k = _check_k(k)
    rec, rel = _align(recommended, relevant)
    n_users = len(rec)
    rec_flat, rec_len = _flatten(rec, k)
    rel_flat, rel_len = _flatten([list(s) for s in rel])
    rec_user = np.repeat(np.arange(n_users), rec_len)
    rel_user = np.repeat(np.arange(n_users), rel_len)
    # encode items as integers shared by both sides, then (user, item) pairs as one key
    if rec_flat.size and rel_flat.size:
        items, codes = np.unique(np.concatenate([rec_flat, rel_flat]), return_inverse=True)
        codes = codes.reshape(-1)
    else:
        items = np.unique(np.concatenate([rec_flat, rel_flat]))
        codes = np.zeros(rec_flat.size + rel_flat.size, dtype=np.int64)
    n_items = max(len(items), 1)
    rec_key = rec_user * n_items + codes[: rec_flat.size]
    rel_key = np.unique(rel_user * n_items + codes[rec_flat.size:])
    n_rel = np.bincount(rel_key // n_items, minlength=n_users)   # distinct relevant items
    hit = np.isin(rec_key, rel_key)
    # a relevant item recommended twice counts once: keep its first position only
    _, first = np.unique(rec_key, return_index=True)
    is_first = np.zeros(rec_key.size, dtype=bool)
    is_first[first] = True
    hit &= is_first
    pos = np.arange(rec_flat.size) - np.repeat(np.cumsum(rec_len) - rec_len, rec_len)
    return k, n_users, rec_user, pos, hit, n_rel


def _finish(values: np.ndarray, n_rel: np.ndarray, average: bool):
    values = np.where(n_rel > 0, values, np.nan)
    if average:
        if np.isnan(values).all():
            raise ValueError("no user has a relevant item")
        return float(np.nanmean(values))
    return values


_LIST_DOC = """
    ``recommended`` and ``relevant`` come either as two dicts (user -> ranked list,
    user -> set of relevant items) or as a list of ranked lists (or a 2-D array of item
    ids, one row per user) aligned with a list of sets. With dicts, users are those of
    ``relevant`` with at least one relevant item, in that order; a user missing from
    ``recommended`` gets an empty list. With aligned lists, a user whose relevant set
    is empty gets NaN. Only the first ``k`` items of each list count; an item repeated
    in a list counts once. Returns the per-user values as an array (to average or
    bootstrap over users), or their mean (ignoring NaN) with ``average=True``.
"""


def hit_rate_at_k(recommended, relevant, k: int, average: bool = False):
    """1 if any of the top ``k`` items is relevant, else 0, per user. Chapter 01.
    """
    k, n_users, user, pos, hit, n_rel = _hits(recommended, relevant, k)
    n_hit = np.bincount(user, weights=hit, minlength=n_users)
    return _finish((n_hit > 0).astype(np.float64), n_rel, average)


def recall_at_k(recommended, relevant, k: int, average: bool = False):
    """Share of a user's relevant items found in the top ``k``:
    ``|top-k & relevant| / |relevant|``. Chapter 01.

    The denominator is the full number of relevant items, so with more than ``k``
    relevant items recall cannot reach 1 (some papers divide by ``min(|relevant|, k)``).
    """
    k, n_users, user, pos, hit, n_rel = _hits(recommended, relevant, k)
    n_hit = np.bincount(user, weights=hit, minlength=n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _finish(n_hit / n_rel, n_rel, average)


def precision_at_k(recommended, relevant, k: int, average: bool = False):
    """Share of the top ``k`` slots holding a relevant item: ``|top-k & relevant| / k``.
    Chapter 01. A list shorter than ``k`` is penalised for its empty slots.
    """
    k, n_users, user, pos, hit, n_rel = _hits(recommended, relevant, k)
    n_hit = np.bincount(user, weights=hit, minlength=n_users)
    return _finish(n_hit / k, n_rel, average)


def ndcg_at_k(recommended, relevant, k: int, average: bool = False):
    """Normalised discounted cumulative gain with binary relevance. Chapter 01.

    ``DCG = sum over relevant items at 0-based position i < k of 1 / log2(i + 2)``;
    the ideal DCG puts ``min(|relevant|, k)`` relevant items at the top, so a perfect
    list scores 1 even when there are more than ``k`` relevant items.
    """
    k, n_users, user, pos, hit, n_rel = _hits(recommended, relevant, k)
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = np.bincount(user, weights=np.where(hit, discount[pos], 0.0), minlength=n_users)
    ideal = np.concatenate(([0.0], np.cumsum(discount)))[np.minimum(n_rel, k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _finish(dcg / ideal, n_rel, average)


for _f in (hit_rate_at_k, recall_at_k, precision_at_k, ndcg_at_k):
    _f.__doc__ = (_f.__doc__ or "").rstrip() + "\n" + _LIST_DOC


def catalogue_coverage(lists, n_items: int, k: int | None = None) -> float:
    """Share of the catalogue that appears in at least one list. Chapter 01.

    ``lists`` is a dict user -> list, a list of lists or a 2-D array; ``n_items`` the
    catalogue size; ``k`` optionally keeps only the top ``k`` of each list.
    A popularity recommender shows everyone the same few items: coverage near 0.
    """
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    flat, _ = _flatten(_lists(lists), None if k is None else _check_k(k))
    distinct = len(np.unique(flat))
    if distinct > n_items:
        raise ValueError(f"the lists hold {distinct} distinct items, more than "
                         f"n_items={n_items}")
    return distinct / int(n_items)


def _lookup(items: np.ndarray, table, name: str) -> np.ndarray:
    """Rows of ``table`` for ``items``: a NumPy array (or tensor) indexed by integer item
    id, a pandas Series/DataFrame indexed by item, or a dict item -> value."""
    if isinstance(table, (pd.Series, pd.DataFrame)):
        idx = table.index.get_indexer(items)
        values = table.to_numpy()
    elif isinstance(table, Mapping):
        keys = pd.Index(list(table.keys()))
        idx = keys.get_indexer(items)
        values = np.asarray(list(table.values()))
    else:
        values = _to_numpy(table)
        if items.size and not np.issubdtype(items.dtype, np.integer):
            raise ValueError(f"{name} is an array, so items must be integer ids (row "
                             "numbers); pass a dict or pandas object for other ids")
        idx = items.astype(np.int64)
        idx = np.where((idx >= 0) & (idx < len(values)), idx, -1)
    if (idx < 0).any():
        raise ValueError(f"items not found in {name}: {np.unique(items[idx < 0])[:5].tolist()}")
    return values[idx]


def _per_list_mean(values: np.ndarray, lens: np.ndarray) -> np.ndarray:
    n_lists = len(lens)
    sums = np.bincount(np.repeat(np.arange(n_lists), lens), weights=values,
                       minlength=n_lists)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lens > 0, sums / lens, np.nan)


def intra_list_diversity(lists, item_features, metric: str = "cosine",
                         average: bool = False):
    """Mean pairwise distance between the items of each list. Chapter 01.

    ``item_features`` gives one vector per item (e.g. a 0/1 genre vector): a 2-D array
    indexed by integer item id, a DataFrame indexed by item, or a dict item -> vector.
    ``metric="cosine"`` uses ``1 - cosine similarity`` (an item with an all-zero vector
    has similarity 0, distance 1, to every item); ``metric="jaccard"`` uses
    ``1 - |a & b| / |a | b|`` on the non-zero entries (two all-zero vectors are at
    distance 0). Lists with fewer than two items get NaN. Returns one value per list,
    or the mean over lists (ignoring NaN) with ``average=True``.

    Cosine is computed without forming pairs: the sum of pairwise similarities of unit
    vectors ``v_i`` equals ``(|sum v_i|^2 - sum |v_i|^2) / 2``. Jaccard forms the
    pairs on padded lists, a chunk of users at a time.
    """
    if metric not in ("cosine", "jaccard"):
        raise ValueError("metric must be 'cosine' or 'jaccard'")
    flat, lens = _flatten(_lists(lists))
    if len(lens) == 0:
        raise ValueError("empty input: no lists")
    feats = _lookup(flat, item_features, "item_features").astype(np.float64)
    if feats.ndim == 1:
        feats = feats[:, None]
    n_lists = len(lens)
    n_pairs = lens * (lens - 1) / 2.0
    out = np.full(n_lists, np.nan)
    ok = lens >= 2
    if metric == "cosine":
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        unit = np.divide(feats, norms, out=np.zeros_like(feats), where=norms > 0)
        starts = np.cumsum(lens) - lens
        nonempty = lens > 0
        summed = np.zeros((n_lists, feats.shape[1]))
        if nonempty.any():
            summed[nonempty] = np.add.reduceat(unit, starts[nonempty], axis=0)
        self_sim = np.bincount(np.repeat(np.arange(n_lists), lens),
                               weights=(norms[:, 0] > 0).astype(np.float64),
                               minlength=n_lists)              # sum of |v_i|^2 per list
        pair_sim = ((summed ** 2).sum(axis=1) - self_sim) / 2.0
        out[ok] = 1.0 - pair_sim[ok] / n_pairs[ok]
    else:
        binary = feats != 0
        L = int(lens.max())
        starts = np.cumsum(lens) - lens
        chunk = max(1, int(2e7 // max(1, L * L * binary.shape[1])))
        rows = np.flatnonzero(ok)
        for c in range(0, len(rows), chunk):                  # chunks of users, not rows
            r = rows[c:c + chunk]
            slot = np.arange(L)
            valid = slot[None, :] < lens[r, None]               # (C, L)
            index = np.where(valid, starts[r, None] + slot[None, :], 0)
            b = binary[index] & valid[:, :, None]               # (C, L, d)
            bf = b.astype(np.float32)
            inter = np.einsum("cld,cmd->clm", bf, bf)
            size = bf.sum(axis=2)
            union = size[:, :, None] + size[:, None, :] - inter
            with np.errstate(invalid="ignore", divide="ignore"):
                dist = np.where(union > 0, 1.0 - inter / union, 0.0)
            pair = valid[:, :, None] & valid[:, None, :] & np.triu(np.ones((L, L), bool), 1)
            out[r] = (dist * pair).sum(axis=(1, 2)) / n_pairs[r]
    if average:
        if not ok.any():
            raise ValueError("no list has two items or more")
        return float(np.nanmean(out))
    return out


def novelty(lists, item_popularity, average: bool = False):
    """Mean self-information ``-log2(share)`` of the items in each list. Chapter 01.

    ``share = popularity / sum of all popularities``, with ``item_popularity`` the
    number of interactions per item (e.g. in training): an array indexed by integer
    item id, a pandas Series indexed by item or a dict. An item seen by 1 in 1000
    interactions adds about 10 bits, a blockbuster few. An item with popularity 0 has
    infinite novelty and raises ``ValueError``: smooth first (e.g. ``counts + 1``).
    Empty lists get NaN. Returns one value per list, or their mean with
    ``average=True``.
    """
    flat, lens = _flatten(_lists(lists))
    if len(lens) == 0:
        raise ValueError("empty input: no lists")
    if isinstance(item_popularity, Mapping):
        total = float(np.sum(list(item_popularity.values())))
    else:
        total = float(np.sum(_to_numpy(item_popularity)))
    pop = _lookup(flat, item_popularity, "item_popularity").astype(np.float64)
    if pop.ndim != 1:
        raise ValueError("item_popularity must give one number per item")
    if (pop < 0).any() or total <= 0:
        raise ValueError("item_popularity must be non-negative counts with a positive sum")
    if (pop == 0).any():
        raise ValueError("some recommended items have popularity 0 (infinite novelty); "
                         "smooth the counts first, e.g. item_popularity + 1")
    out = _per_list_mean(-np.log2(pop / total), lens)
    if average:
        if np.isnan(out).all():
            raise ValueError("all lists are empty")
        return float(np.nanmean(out))
    return out


def personalization(lists, k: int | None = None) -> float:
    """How different users' lists are: ``1 -`` the mean cosine similarity between the
    item sets of all pairs of users. Chapter 01.

    0 when everyone gets the same list, 1 when no two lists share an item. Computed
    without forming the U x U similarity matrix: with ``x_u`` the 0/1 item vector of
    user u scaled to unit length, the sum over pairs is ``(|sum_u x_u|^2 - U) / 2``.
    Repeated items count once; empty lists are ignored.
    """
    items_per_list = _lists(lists)
    flat, lens = _flatten(items_per_list, None if k is None else _check_k(k))
    user = np.repeat(np.arange(len(lens)), lens)
    if flat.size == 0:
        raise ValueError("empty input: no items in the lists")
    _, codes = np.unique(flat, return_inverse=True)
    codes = codes.reshape(-1)
    n_codes = int(codes.max()) + 1
    key = np.unique(user * n_codes + codes)                  # distinct (user, item)
    u, item = key // n_codes, key % n_codes
    size = np.bincount(u, minlength=len(lens))
    n_users = int((size > 0).sum())
    if n_users < 2:
        raise ValueError("personalization needs at least two non-empty lists")
    column = np.bincount(item, weights=1.0 / np.sqrt(size[u]), minlength=n_codes)
    mean_sim = ((column ** 2).sum() - n_users) / (n_users * (n_users - 1))
    return float(1.0 - mean_sim)


# ----------------------------------------------------------------------------------------
# Business metrics (chapter 01)
# ----------------------------------------------------------------------------------------
def _ratio(num, den, num_name: str, den_name: str, at_most_den: bool, scale: float = 1.0):
    n = _to_numpy(num).astype(np.float64)
    d = _to_numpy(den).astype(np.float64)
    try:
        n_b, d_b = np.broadcast_arrays(n, d)
    except ValueError:
        raise ValueError(f"{num_name} and {den_name} have incompatible shapes "
                         f"{n.shape} and {d.shape}") from None
    if n_b.size == 0:
        raise ValueError("empty input")
    for arr, name in ((n_b, num_name), (d_b, den_name)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if (arr < 0).any():
            raise ValueError(f"{name} must be non-negative, got {arr[arr < 0][:3].tolist()}")
    if (d_b == 0).any():
        raise ValueError(f"{den_name} must be positive: the ratio is undefined with "
                         f"0 {den_name}")
    if at_most_den and (n_b > d_b).any():
        raise ValueError(f"{num_name} cannot exceed {den_name}")
    out = scale * n_b / d_b
    return float(out) if out.ndim == 0 else out


def ctr(clicks, impressions):
    """Click-through rate ``clicks / impressions``. Chapter 01.

    Scalars give a float, arrays (e.g. per day or per arm) an array. Raises
    ``ValueError`` on negative counts, zero impressions or more clicks than impressions.
    """
    return _ratio(clicks, impressions, "clicks", "impressions", at_most_den=True)


def cvr(conversions, clicks):
    """Post-click conversion rate ``conversions / clicks`` (as in ESMM: a click
    converts at most once). Chapter 01. Raises ``ValueError`` on negative counts, zero
    clicks or more conversions than clicks.
    """
    return _ratio(conversions, clicks, "conversions", "clicks", at_most_den=True)


def gpm(gmv, impressions):
    """GMV per mille: gross merchandise value per thousand impressions,
    ``1000 * gmv / impressions``. Chapter 01. Raises ``ValueError`` on negative values
    or zero impressions.
    """
    return _ratio(gmv, impressions, "gmv", "impressions", at_most_den=False, scale=1000.0)
