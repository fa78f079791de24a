"""Tests for recsys_course.metrics: checked against scikit-learn, brute-force loops and
hand-worked examples."""
import math
import time

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from recsys_course import metrics as M


# ----------------------------------------------------------------------------------------
# AUC
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_auc_matches_sklearn_with_ties_and_imbalance(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))
    rate = [0.5, 0.02, 0.9, 0.3, 0.1, 0.6][seed]
    y = (rng.random(n) < rate).astype(int)
    y[0], y[1] = 0, 1                                        # both classes present
    p = rng.random(n)
    if seed % 2 == 0:
        p = np.round(p, 1)                                   # many ties
    assert M.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_auc_hand_example_and_input_types():
    y = [0, 0, 1, 1]
    p = [0.1, 0.4, 0.35, 0.8]                                # 3 of 4 pairs ordered right
    assert M.auc(y, p) == pytest.approx(0.75)
    assert M.auc(np.array(y, bool), torch.tensor(p)) == pytest.approx(0.75)
    assert M.auc(pd.Series(y), np.array(p)[:, None]) == pytest.approx(0.75)
    assert M.auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5   # all tied
    logits = np.log(np.array(p) / (1 - np.array(p)))
    assert M.auc(y, logits) == pytest.approx(0.75)           # only the order matters


def test_auc_errors():
    with pytest.raises(ValueError, match="one class"):
        M.auc([1, 1, 1], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="lengths"):
        M.auc([0, 1], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="empty"):
        M.auc([], [])
    with pytest.raises(ValueError, match="0 or 1"):
        M.auc([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        M.auc([0, 1], [0.2, np.nan])


# ----------------------------------------------------------------------------------------
# GAUC
# ----------------------------------------------------------------------------------------
def _gauc_brute(user, y, p, weight="impressions"):
    num = den = 0.0
    used = 0
    for u in np.unique(user):
        m = user == u
        if y[m].min() == y[m].max():
            continue
        w = {"impressions": m.sum(), "clicks": y[m].sum(), "uniform": 1}[weight]
        num += w * roc_auc_score(y[m], p[m])
        den += w
        used += 1
    return num / den, used


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weight", ["impressions", "clicks", "uniform"])
def test_gauc_matches_per_user_sklearn_loop(seed, weight):
    rng = np.random.default_rng(seed)
    n = 2000
    user = rng.integers(0, 80, n) * 7 + 3                    # non-contiguous ids
    y = (rng.random(n) < 0.3).astype(int)
    p = np.round(rng.random(n), 2) if seed % 2 else rng.random(n)
    value, used = M.gauc(user, y, p, weight=weight, return_users=True)
    expected, expected_used = _gauc_brute(user, y, p, weight)
    assert used == expected_used
    assert value == pytest.approx(expected, abs=1e-12)


def test_gauc_skips_one_class_users_and_takes_string_ids():
    user = np.array(["a", "a", "a", "b", "b", "c"])
    y = np.array([0, 1, 1, 1, 1, 0])                         # b and c have one class
    p = np.array([0.5, 0.6, 0.4, 0.9, 0.1, 0.3])
    value, used = M.gauc(user, y, p, return_users=True)
    assert used == 1
    assert value == pytest.approx(0.5)                       # user a: 1 of 2 pairs right
    assert M.gauc(user, y, p) == value
    # a user drawn twice (cluster bootstrap) under one id counts twice
    two = np.array(["x"] * 4 + ["z"] * 2)
    assert M.gauc(two, [0, 1, 0, 1, 0, 1], [.1, .9, .1, .9, .9, .1]) == pytest.approx(2 / 3)


def test_gauc_errors():
    with pytest.raises(ValueError, match="no user"):
        M.gauc([1, 1, 2], [1, 1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="lengths"):
        M.gauc([1, 1], [1, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="weight"):
        M.gauc([1, 1], [1, 0], [0.1, 0.2], weight="rows")


def test_gauc_is_fast_on_100k_rows():
    rng = np.random.default_rng(0)
    n = 100_000
    user, y, p = rng.integers(0, 1000, n), rng.random(n) < 0.2, rng.random(n)
    start = time.perf_counter()
    value = M.gauc(user, y, p)
    assert time.perf_counter() - start < 2.0
    assert 0.45 < value < 0.55


# ----------------------------------------------------------------------------------------
# Logloss
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_logloss_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.2).astype(int)
    p = rng.uniform(0.01, 0.99, 500)
    assert M.logloss(y, p) == pytest.approx(log_loss(y, p, labels=[0, 1]), rel=1e-10)
    assert M.logloss(y, torch.tensor(p, dtype=torch.float32)) == pytest.approx(
        log_loss(y, p, labels=[0, 1]), rel=1e-5)


def test_logloss_clips_confident_mistakes():
    assert M.logloss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(1e-7))
    assert M.logloss([1], [0.0], eps=1e-3) == pytest.approx(-math.log(1e-3))
    assert M.logloss([1, 0], [1.0, 0.0]) == pytest.approx(-math.log(1 - 1e-7))
    assert np.isfinite(M.logloss([1, 0, 1], [0.0, 1.0, 0.5]))


def test_logloss_errors():
    with pytest.raises(ValueError, match="logits"):
        M.logloss([0, 1], [-2.0, 3.0])
    with pytest.raises(ValueError, match="lengths"):
        M.logloss([0, 1], [0.5])
    with pytest.raises(ValueError, match="empty"):
        M.logloss([], [])


# ----------------------------------------------------------------------------------------
# Bootstrap, t intervals, run summaries
# ----------------------------------------------------------------------------------------
def _clicks(n, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = 0.3 * y + rng.random(n)                              # AUC around 0.75
    return y, p


def test_bootstrap_contains_estimate_and_is_reproducible():
    y, p = _clicks(400, 0)
    est, low, high = M.bootstrap_ci(M.auc, y, p, n_boot=300, seed=1)
    assert est == pytest.approx(M.auc(y, p))
    assert low < est < high
    assert high - low < 0.2
    assert M.bootstrap_ci(M.auc, y, p, n_boot=300, seed=1) == (est, low, high)
    assert M.bootstrap_ci(M.auc, y, p, n_boot=300, seed=2) != (est, low, high)
    # lists and tensors work too
    assert M.bootstrap_ci(M.auc, list(y), torch.tensor(p), n_boot=300, seed=1) == \
        pytest.approx((est, low, high))


def test_bootstrap_interval_shrinks_with_n():
    widths = []
    for n in (200, 3200):
        y, p = _clicks(n, 3)
        _, low, high = M.bootstrap_ci(M.auc, y, p, n_boot=200, seed=0)
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]                       # ~1/sqrt(16) = 0.25 expected


def test_bootstrap_alpha_widens_interval():
    y, p = _clicks(300, 4)
    _, l95, h95 = M.bootstrap_ci(M.auc, y, p, n_boot=300, alpha=0.05)
    _, l50, h50 = M.bootstrap_ci(M.auc, y, p, n_boot=300, alpha=0.5)
    assert l95 < l50 < h50 < h95


def test_cluster_bootstrap_wider_when_groups_are_correlated():
    rng = np.random.default_rng(0)
    n_groups, per_group = 40, 50
    group = np.repeat(np.arange(n_groups), per_group)
    values = rng.normal(0, 1, n_groups)[group] + rng.normal(0, 0.1, len(group))
    _, lr, hr = M.bootstrap_ci(np.mean, values, n_boot=300, seed=0)
    _, lc, hc = M.bootstrap_ci(np.mean, values, n_boot=300, seed=0, groups=group)
    assert (hc - lc) > 3 * (hr - lr)
    # with independent rows both agree roughly
    iid = rng.normal(0, 1, len(group))
    _, lr, hr = M.bootstrap_ci(np.mean, iid, n_boot=300, seed=0)
    _, lc, hc = M.bootstrap_ci(np.mean, iid, n_boot=300, seed=0, groups=group)
    assert 0.6 < (hc - lc) / (hr - lr) < 1.6


def test_cluster_bootstrap_keeps_whole_groups():
    group = np.array([5, 5, 5, 9, 9, 2])
    seen = []

    def metric(g, row):
        # every drawn group comes with all its rows
        for k in np.unique(g):
            count = (g == k).sum()
            assert count % (group == k).sum() == 0
        seen.append(len(g))
        return float(len(g))

    M.bootstrap_ci(metric, group, np.arange(6), n_boot=50, groups=group)
    assert len(set(seen)) > 1                                # total rows vary by draw


def test_bootstrap_gauc_with_user_groups():
    rng = np.random.default_rng(1)
    user = rng.integers(0, 50, 2000)
    y = (rng.random(2000) < 0.3).astype(int)
    p = 0.2 * y + rng.random(2000)
    est, low, high = M.bootstrap_ci(M.gauc, user, y, p, n_boot=100, groups=user)
    assert low < est < high


def test_bootstrap_drops_failed_resamples_with_warning():
    y = np.array([0] * 19 + [1])
    p = np.linspace(0, 1, 20)
    with pytest.warns(RuntimeWarning, match="dropped"):
        est, low, high = M.bootstrap_ci(M.auc, y, p, n_boot=100, seed=0)
    assert est == 1.0 and low == high == 1.0


def test_bootstrap_errors():
    with pytest.raises(ValueError, match="lengths"):
        M.bootstrap_ci(M.auc, [0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="empty"):
        M.bootstrap_ci(np.mean, [])
    with pytest.raises(ValueError, match="groups"):
        M.bootstrap_ci(np.mean, [1.0, 2.0], groups=[1])


def test_mean_ci_t_interval():
    v = [0.70, 0.71, 0.73]
    m, low, high = M.mean_ci(v)
    half = 4.302652729911275 * np.std(v, ddof=1) / math.sqrt(3)   # t_{0.975, 2}
    assert m == pytest.approx(np.mean(v))
    assert (low, high) == pytest.approx((m - half, m + half))
    m1, l1, h1 = M.mean_ci([0.7])
    assert m1 == 0.7 and math.isnan(l1) and math.isnan(h1)
    with pytest.raises(ValueError):
        M.mean_ci([])
    with pytest.raises(ValueError):
        M.mean_ci([0.1, np.nan])


def test_mean_ci_uses_the_t_quantile():
    # n = 4: t_{0.975, 3} = 3.182446305284263 (tables); mean 0.7075, s = 0.017078251...
    values = [0.70, 0.71, 0.73, 0.69]
    mean, low, high = M.mean_ci(values)
    s = float(np.std(values, ddof=1))
    assert mean == pytest.approx(0.7075)
    assert high - mean == pytest.approx(3.182446305284263 * s / 2, rel=1e-12)
    assert mean - low == pytest.approx(high - mean, rel=1e-12)


def test_summarize_runs():
    df = pd.DataFrame({"model": ["lr"] * 3 + ["fm"] * 2 + ["one"],
                       "seed": [0, 1, 2, 0, 1, 0],
                       "auc": [0.70, 0.71, 0.73, 0.80, 0.82, 0.5],
                       "logloss": [0.5, 0.52, 0.51, 0.45, 0.44, 0.7]})
    t = M.summarize_runs(df, "model", ["auc", "logloss"])
    assert list(t.index) == ["fm", "lr", "one"]
    assert t.loc["lr", "n_runs"] == 3
    m, low, high = M.mean_ci([0.70, 0.71, 0.73])
    assert t.loc["lr", ["auc_mean", "auc_ci_low", "auc_ci_high"]].tolist() == \
        pytest.approx([m, low, high])
    assert t.loc["fm", "logloss_std"] == pytest.approx(np.std([0.45, 0.44], ddof=1))
    assert math.isnan(t.loc["one", "auc_ci_low"])
    t2 = M.summarize_runs(df, ["model", "seed"], "auc")
    assert t2.index.nlevels == 2 and (t2["n_runs"] == 1).all()
    with pytest.raises(ValueError, match="columns"):
        M.summarize_runs(df, "model", "ndcg")


# ----------------------------------------------------------------------------------------
# Top-K list metrics
# ----------------------------------------------------------------------------------------
def _brute_lists(recs, rels, k):
    hit, rec, prec, ndcg = [], [], [], []
    for r, s in zip(recs, rels):
        s = set(s)
        if not s:
            hit.append(np.nan), rec.append(np.nan), prec.append(np.nan), ndcg.append(np.nan)
            continue
        top, seen = [], set()
        for item in r[:k]:                                   # first occurrence only
            top.append(item if item not in seen else None)
            seen.add(item)
        n_hit = sum(1 for i in top if i in s)
        hit.append(float(n_hit > 0))
        rec.append(n_hit / len(s))
        prec.append(n_hit / k)
        dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(top) if item in s)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(s), k)))
        ndcg.append(dcg / idcg)
    return [np.array(x) for x in (hit, rec, prec, ndcg)]


LIST_METRICS = [M.hit_rate_at_k, M.recall_at_k, M.precision_at_k, M.ndcg_at_k]


@pytest.mark.parametrize("seed", range(5))
def test_list_metrics_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 40
    recs = [list(rng.integers(0, n_items, rng.integers(0, 15))) for _ in range(n_users)]
    rels = [set(rng.integers(0, n_items, rng.integers(0, 8)).tolist())
            for _ in range(n_users)]
    for k in (1, 5, 10, 20):
        expected = _brute_lists(recs, rels, k)
        for f, e in zip(LIST_METRICS, expected):
            got = f(recs, rels, k)
            np.testing.assert_allclose(got, e, rtol=1e-12, equal_nan=True,
                                       err_msg=f"{f.__name__} k={k}")
            assert f(recs, rels, k, average=True) == pytest.approx(np.nanmean(e))


def test_list_metrics_hand_example():
    rec = [[10, 20, 30, 40]]
    rel = [{20, 40, 50}]
    d2, d3, d4 = 1 / math.log2(2), 1 / math.log2(3), 1 / math.log2(4)   # positions 1-3
    # k = 3: only 20 (position 2) is a hit
    assert M.hit_rate_at_k(rec, rel, 3)[0] == 1.0
    assert M.recall_at_k(rec, rel, 3)[0] == pytest.approx(1 / 3)
    assert M.precision_at_k(rec, rel, 3)[0] == pytest.approx(1 / 3)
    assert M.ndcg_at_k(rec, rel, 3)[0] == pytest.approx(d3 / (d2 + d3 + d4))
    assert M.ndcg_at_k(rec, rel, 3)[0] == pytest.approx(0.29608, abs=1e-5)
    # k = 4: 20 and 40 are hits
    assert M.recall_at_k(rec, rel, 4)[0] == pytest.approx(2 / 3)
    assert M.precision_at_k(rec, rel, 4)[0] == pytest.approx(0.5)
    assert M.ndcg_at_k(rec, rel, 4)[0] == pytest.approx((d3 + 1 / math.log2(5)) / (d2 + d3 + d4))
    assert M.ndcg_at_k(rec, rel, 4)[0] == pytest.approx(0.49819, abs=1e-5)
    # k = 1: miss; a perfect list scores 1 even with more relevant items than k
    assert M.hit_rate_at_k(rec, rel, 1)[0] == 0.0
    assert M.ndcg_at_k([[40, 20]], rel, 2)[0] == pytest.approx(1.0)
    assert M.recall_at_k([[40, 20]], rel, 2)[0] == pytest.approx(2 / 3)


def test_list_metrics_input_forms_agree():
    recs = {"ann": ["a", "b", "c"], "bob": ["c", "d", "e"], "cy": ["a", "e", "f"]}
    rels = {"ann": {"c"}, "bob": {"x"}, "cy": set(), "dan": {"a"}}
    # dict input: users of `relevant` with a relevant item; dan has no list
    np.testing.assert_allclose(M.recall_at_k(recs, rels, 3), [1.0, 0.0, 0.0])
    # aligned lists; an empty relevant set gives NaN
    got = M.ndcg_at_k([recs["ann"], recs["cy"]], [{"c"}, set()], 3)
    assert got[0] == pytest.approx(0.5) and math.isnan(got[1])
    # a 2-D array of item ids and a torch tensor, as from a top-k over scores
    top = np.array([[3, 1, 2], [0, 4, 2]])
    rel = [{1}, {2, 4}]
    expected = M.ndcg_at_k([list(r) for r in top], rel, 2)
    np.testing.assert_allclose(M.ndcg_at_k(top, rel, 2), expected)
    np.testing.assert_allclose(M.ndcg_at_k(torch.tensor(top), rel, 2), expected)
    # duplicates count once
    assert M.precision_at_k([[1, 1, 2]], [{1}], 3)[0] == pytest.approx(1 / 3)


def test_list_metrics_errors():
    with pytest.raises(ValueError, match="aligned"):
        M.recall_at_k([[1], [2]], [{1}], 1)
    with pytest.raises(ValueError, match="empty"):
        M.recall_at_k([], [], 1)
    with pytest.raises(ValueError, match="k must"):
        M.recall_at_k([[1]], [{1}], 0)
    with pytest.raises(ValueError, match="dict"):
        M.recall_at_k([[1]], {"u": {1}}, 1)
    with pytest.raises(ValueError, match="no user"):
        M.recall_at_k({"u": [1]}, {"u": set()}, 1)


def test_list_metrics_speed():
    rng = np.random.default_rng(0)
    top = rng.integers(0, 1000, (20_000, 20))
    rel = [set(r) for r in rng.integers(0, 1000, (20_000, 5)).tolist()]
    start = time.perf_counter()
    M.ndcg_at_k(top, rel, 10)
    assert time.perf_counter() - start < 3.0


# ----------------------------------------------------------------------------------------
# Coverage, diversity, novelty, personalization
# ----------------------------------------------------------------------------------------
GENRES = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]])


def test_catalogue_coverage():
    assert M.catalogue_coverage([[0, 1], [1, 2]], 10) == pytest.approx(0.3)
    assert M.catalogue_coverage({"u": [0, 1], "v": [1, 2]}, 10, k=1) == pytest.approx(0.2)
    assert M.catalogue_coverage(np.array([[0, 1], [0, 1]]), 4) == 0.5
    with pytest.raises(ValueError, match="n_items"):
        M.catalogue_coverage([[0, 1, 2]], 2)
    with pytest.raises(ValueError, match="n_items"):
        M.catalogue_coverage([[0]], 0)


def test_intra_list_diversity_hand_example():
    lists = [[0, 1, 2], [0, 1], [2]]
    cos = M.intra_list_diversity(lists, GENRES)
    assert cos[0] == pytest.approx(1 - (1 / math.sqrt(2)) / 3)     # 0.7643
    assert cos[1] == pytest.approx(1 - 1 / math.sqrt(2))
    assert math.isnan(cos[2])
    jac = M.intra_list_diversity(lists, GENRES, metric="jaccard")
    assert jac[0] == pytest.approx((0.5 + 1 + 1) / 3)
    assert jac[1] == pytest.approx(0.5)
    assert M.intra_list_diversity(lists, GENRES, average=True) == \
        pytest.approx((cos[0] + cos[1]) / 2)
    # an all-zero vector: cosine distance 1, two of them jaccard distance 0
    assert M.intra_list_diversity([[3, 0]], GENRES)[0] == pytest.approx(1.0)
    assert M.intra_list_diversity([[3, 3]], GENRES, metric="jaccard")[0] == 0.0
    # dict of features keyed by names
    feats = {"x": [1, 0], "y": [1, 1]}
    assert M.intra_list_diversity([["x", "y"]], feats, metric="jaccard")[0] == 0.5
    with pytest.raises(ValueError, match="not found"):
        M.intra_list_diversity([[0, 9]], GENRES)


def test_intra_list_diversity_matches_pairwise_loop():
    rng = np.random.default_rng(0)
    feats = (rng.random((30, 6)) < 0.4).astype(float)
    lists = [list(rng.integers(0, 30, rng.integers(0, 9))) for _ in range(40)]
    for metric in ("cosine", "jaccard"):
        got = M.intra_list_diversity(lists, feats, metric=metric)
        for lst, g in zip(lists, got):
            d = []
            for i in range(len(lst)):
                for j in range(i + 1, len(lst)):
                    a, b = feats[lst[i]], feats[lst[j]]
                    if metric == "cosine":
                        na, nb = np.linalg.norm(a), np.linalg.norm(b)
                        d.append(1 - (a @ b / (na * nb) if na and nb else 0.0))
                    else:
                        union = np.sum((a > 0) | (b > 0))
                        d.append(1 - np.sum((a > 0) & (b > 0)) / union if union else 0.0)
            if d:
                assert g == pytest.approx(np.mean(d)), (metric, lst)
            else:
                assert math.isnan(g)


def test_novelty_hand_example():
    pop = np.array([1, 1, 2, 4])                             # shares 1/8 1/8 1/4 1/2
    got = M.novelty([[0, 3], [2], [0, 1], []], pop)
    np.testing.assert_allclose(got[:3], [2.0, 2.0, 3.0])
    assert math.isnan(got[3])
    assert M.novelty([[0, 3], [2]], pop, average=True) == pytest.approx(2.0)
    series = pd.Series([1, 1, 2, 4], index=["a", "b", "c", "d"])
    assert M.novelty([["a", "d"]], series)[0] == pytest.approx(2.0)
    assert M.novelty({"u": ["c"]}, {"a": 1, "b": 1, "c": 2, "d": 4})[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="popularity 0"):
        M.novelty([[0]], np.array([0, 3]))


def test_personalization():
    assert M.personalization([[1, 2], [1, 2], [2, 1]]) == pytest.approx(0.0)
    assert M.personalization([[1, 2], [3, 4], [5]]) == pytest.approx(1.0)
    assert M.personalization([[1, 2], [2, 3]]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    lists = [list(rng.choice(20, rng.integers(1, 6), replace=False)) for _ in range(25)]
    x = np.zeros((25, 20))
    for u, lst in enumerate(lists):
        x[u, lst] = 1
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    expected = 1 - sim[np.triu_indices(25, 1)].mean()
    assert M.personalization(lists) == pytest.approx(expected)
    with pytest.raises(ValueError, match="two"):
        M.personalization([[1, 2]])


# ----------------------------------------------------------------------------------------
# Business metrics
# ----------------------------------------------------------------------------------------
def test_business_metrics_values():
    assert M.ctr(30, 1000) == pytest.approx(0.03)
    assert M.cvr(3, 30) == pytest.approx(0.1)
    assert M.gpm(450.0, 1000) == pytest.approx(450.0)
    assert M.gpm(90.0, 20_000) == pytest.approx(4.5)
    np.testing.assert_allclose(M.ctr([1, 2], [10, 10]), [0.1, 0.2])
    assert isinstance(M.ctr(1, 2), float)


@pytest.mark.parametrize("call, message", [
    (lambda: M.ctr(-1, 10), "non-negative"),
    (lambda: M.ctr(1, 0), "impressions must be positive"),
    (lambda: M.ctr(11, 10), "exceed"),
    (lambda: M.cvr(5, 0), "clicks must be positive"),
    (lambda: M.cvr(5, 4), "exceed"),
    (lambda: M.gpm(-5.0, 10), "non-negative"),
    (lambda: M.gpm(5.0, [10, 0]), "positive"),
    (lambda: M.ctr([1, 2], [3, 4, 5]), "shapes"),
    (lambda: M.ctr([], []), "empty"),
    (lambda: M.ctr(float("nan"), 3), "NaN"),
])
def test_business_metrics_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
