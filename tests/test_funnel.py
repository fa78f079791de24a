"""Tests for recsys_course.funnel (chapter 01): every vectorised stage against a plain
brute-force version on small random data, plus the properties the chapter relies on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_course import funnel as F
from recsys_course import metrics
from recsys_course.data import MovieLens
from recsys_course.features import Preprocessor


def random_log(seed=0, n_users=12, n_items=30, density=0.25):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_users, n_items)) < density).astype(np.float32)
    X[0] = 0.0                                   # a user without history
    X[:, -1] = 0.0                               # an item nobody saw
    return X


# ----------------------------------------------------------------------------------------
# Interactions
# ----------------------------------------------------------------------------------------
def test_interaction_matrix_and_relevant_sets():
    X = F.interaction_matrix([0, 0, 2, 2], [1, 1, 0, 3], 3, 4)
    assert X.dtype == np.float32 and X.shape == (3, 4)
    assert X.tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]]   # duplicate counts once
    assert F.relevant_sets([0, 2, 2], [1, 0, 3], 3) == [{1}, set(), {0, 3}]
    with pytest.raises(ValueError, match="out of range"):
        F.interaction_matrix([3], [0], 3, 4)
    with pytest.raises(ValueError, match="differ in length"):
        F.interaction_matrix([0, 1], [0], 3, 4)


def test_gather():
    s = np.arange(12.0).reshape(3, 4)
    items = np.array([[3, 0], [1, 1], [2, 3]])
    assert F.gather(s, items).tolist() == [[3, 0], [5, 5], [10, 11]]
    assert F.gather(np.array([5.0, 6, 7, 8]), items).tolist() == [[8, 5], [6, 6], [7, 8]]


# ----------------------------------------------------------------------------------------
# Recall channels
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_item_similarity_and_itemcf_match_brute_force(seed):
    X = random_log(seed)
    sim = F.item_similarity(X)
    n_items = X.shape[1]
    for i in range(n_items):
        for j in range(n_items):
            a, b = X[:, i], X[:, j]
            denom = np.sqrt(a.sum()) * np.sqrt(b.sum())
            expected = 0.0 if i == j or denom == 0 else float(a @ b) / denom
            assert sim[i, j] == pytest.approx(expected, abs=1e-6)
    scores = F.itemcf_scores(X, sim)
    for u in range(X.shape[0]):
        history = np.flatnonzero(X[u])
        for j in range(n_items):
            assert scores[u, j] == pytest.approx(sim[history, j].sum(), abs=1e-5)
    np.testing.assert_allclose(F.itemcf_scores(X), scores)           # sim built inside


def test_genre_scores_match_brute_force():
    rng = np.random.default_rng(4)
    X = random_log(4)
    G = (rng.random((X.shape[1], 5)) < 0.4).astype(np.float32)
    G[3] = 0.0                                                        # a movie without genre
    s = F.genre_scores(X, G)
    for u in range(X.shape[0]):
        profile = G[X[u] > 0].sum(axis=0)
        for i in range(X.shape[1]):
            n = np.linalg.norm(profile) * np.linalg.norm(G[i])
            expected = 0.0 if n == 0 else float(profile @ G[i]) / n
            assert s[u, i] == pytest.approx(expected, abs=1e-6)
    assert (s[0] == 0).all() and (s[:, 3] == 0).all()


@pytest.mark.parametrize("seed", range(4))
def test_top_k_excludes_seen_items_and_matches_brute_force(seed):
    X = random_log(seed)
    seen = X > 0
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(X.shape), 1)                        # many ties
    items, top = F.top_k(scores, seen, 8)
    assert items.shape == top.shape == (X.shape[0], 8)
    for u in range(X.shape[0]):
        unseen = [i for i in range(X.shape[1]) if not seen[u, i]]
        expected = sorted(unseen, key=lambda i: (-scores[u, i], i))[:8]
        assert items[u].tolist() == expected
        assert not seen[u, items[u]].any()
        np.testing.assert_array_equal(top[u], scores[u, items[u]])
    # a channel that ranks everybody alike (popularity) is one vector
    pop = F.popularity_scores(X)
    items_pop, _ = F.top_k(pop, seen, 5)
    assert not np.take_along_axis(seen, items_pop, axis=1).any()
    assert items_pop[0].tolist() == sorted(range(X.shape[1]), key=lambda i: (-pop[i], i))[:5]


def test_top_k_refuses_more_than_the_unseen_items():
    seen = np.zeros((2, 5), bool)
    seen[1, :3] = True
    with pytest.raises(ValueError, match="unseen"):
        F.top_k(np.ones(5), seen, 3)


# ----------------------------------------------------------------------------------------
# Merging
# ----------------------------------------------------------------------------------------
def brute_interleave(lists, k):
    out = []
    for u in range(lists[0].shape[0]):
        row, seen = [], set()
        for r in range(lists[0].shape[1]):
            for L in lists:
                if L[u, r] not in seen and len(row) < k:
                    seen.add(L[u, r])
                    row.append(L[u, r])
        out.append(row)
    return np.array(out)


def channel_lists(seed, n_users=10, n_items=40, n=15, n_channels=3):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_channels):
        items = np.stack([rng.permutation(n_items)[:n] for _ in range(n_users)])
        scores = -np.sort(-np.round(rng.random((n_users, n)), 1), axis=1)    # ties
        scores[:, -3:] = 0.0                                                # zero scores
        out.append((items, scores))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_interleave_is_a_round_robin(seed):
    lists = [c[0] for c in channel_lists(seed)]
    got = F.interleave(lists, 20)
    np.testing.assert_array_equal(got, brute_interleave(lists, 20))
    assert all(len(set(row)) == 20 for row in got.tolist())
    # each channel's first item is in (the first one verbatim, at position 0)
    assert (got[:, 0] == lists[0][:, 0]).all()


def brute_weighted_merge(channels, weights, k):
    order = sorted(range(len(channels)), key=lambda c: -weights[c])        # stable
    out = []
    for u in range(channels[0][0].shape[0]):
        fused, first_seen = {}, {}
        for c in range(len(channels)):
            items, scores = channels[c]
            top = scores[u].max()
            for item, s in zip(items[u], scores[u]):
                fused[item] = fused.get(item, 0.0) + weights[c] * (s / top if top > 0 else 0.0)
        pos = 0
        for c in order:
            for item in channels[c][0][u]:
                if item not in first_seen:
                    first_seen[item] = pos
                pos += 1
        ranked = sorted(fused, key=lambda i: (-fused[i], first_seen[i]))
        out.append(ranked[:k])
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
def test_weighted_merge_matches_brute_force(seed):
    channels = channel_lists(seed)
    weights = [[1.0, 0.3, 0.2], [0.5, 1.0, 0.0], [1.0, 1.0, 1.0], [0.2, 0.0, 0.7]][seed]
    items, fused = F.weighted_merge(channels, weights, 25)
    np.testing.assert_array_equal(items, brute_weighted_merge(channels, weights, 25))
    assert all(len(set(row)) == 25 for row in items.tolist())
    for u in range(items.shape[0]):                                   # only proposed items
        union = set().union(*(set(c[0][u].tolist()) for c in channels))
        assert set(items[u].tolist()) <= union
    assert (np.diff(fused, axis=1) <= 1e-12).all()                    # sorted by fused score


@pytest.mark.parametrize("seed", range(3))
def test_weighted_merge_with_one_channel_returns_that_channel(seed):
    channels = channel_lists(seed)
    for c in range(3):
        w = [0.0, 0.0, 0.0]
        w[c] = 1.0
        items, _ = F.weighted_merge(channels, w, 15)               # zero scores and ties too
        np.testing.assert_array_equal(items, channels[c][0])


def test_weighted_merge_chosen_on_a_grid_is_at_least_the_best_channel():
    """The merge property of the chapter: weights chosen on some data from a grid holding
    (1, 0, 0) score at least as well as channel 0 alone on that data, at equal K."""
    rng = np.random.default_rng(7)
    channels = channel_lists(11, n_users=40, n_items=60, n=30)
    relevant = [set(rng.choice(60, size=5, replace=False).tolist()) for _ in range(40)]
    k = 20
    alone = metrics.recall_at_k(channels[0][0][:, :k], relevant, k, average=True)
    best = max(metrics.recall_at_k(F.weighted_merge(channels, [1.0, a, b], k)[0], relevant, k,
                                   average=True)
               for a in (0.0, 0.2, 0.5, 1.0) for b in (0.0, 0.3, 1.0))
    assert best >= alone


def test_weighted_merge_errors():
    channels = channel_lists(0)
    with pytest.raises(ValueError, match="weight"):
        F.weighted_merge(channels, [1.0, 0.0], 5)
    with pytest.raises(ValueError, match="weight"):
        F.weighted_merge(channels, [0.0, 0.0, 0.0], 5)
    bad = [(channels[0][0], -channels[0][1] - 1)] + channels[1:]
    with pytest.raises(ValueError, match="non-negative"):
        F.weighted_merge(bad, [1.0, 1.0, 1.0], 5)
    with pytest.raises(ValueError, match="exceeds"):
        F.weighted_merge(channels[:1], [1.0], 16)


# ----------------------------------------------------------------------------------------
# Pre-ranking
# ----------------------------------------------------------------------------------------
def test_svd_two_tower_scores_are_dot_products_of_the_towers():
    rng = np.random.default_rng(0)
    low_rank = rng.random((30, 4)) @ rng.random((4, 50))
    X = (low_rank > np.quantile(low_rank, 0.7)).astype(np.float32)
    tower = F.SVDTwoTower(dim=4, seed=0).fit(X)
    V = tower.item_vectors
    assert V.shape == (50, 4)
    np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-4)        # orthonormal columns
    # the same subspace as the exact SVD's top 4 right singular vectors
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(V @ V.T, Vt[:4].T @ Vt[:4], atol=1e-3)
    items = rng.integers(0, 50, size=(30, 7))
    s = tower.score(X, items)
    for u in range(30):
        for j in range(7):
            assert s[u, j] == pytest.approx(float(X[u] @ V @ V[items[u, j]]), abs=1e-4)
    again = F.SVDTwoTower(dim=4, seed=0).fit(X)
    np.testing.assert_array_equal(again.item_vectors, V)              # seeded: repeatable


def test_preranker_learns_a_planted_signal():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 30)), rng.normal(size=(200, 30))
    y = (rng.random((200, 30)) < 1 / (1 + np.exp(-(2 * a - 3)))).astype(np.float32)
    pre = F.PreRanker(["a", "b"]).fit({"a": a, "b": 5 * b + 3}, y, epochs=30, batch_size=512)
    w = pre.weights                   # a is standardised already: its true weight is 2
    assert list(w.index) == ["a", "b", "bias"]
    assert 1.5 < w["a"] < 2.5 and abs(w["b"]) < 0.2 and -3.5 < w["bias"] < -2.5
    p = pre.predict({"a": a, "b": 5 * b + 3})
    assert p.shape == (200, 30) and ((p > 0) & (p < 1)).all()
    assert metrics.auc(y.ravel(), p.ravel()) > 0.7


# ----------------------------------------------------------------------------------------
# Ranking glue
# ----------------------------------------------------------------------------------------
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def tiny_movielens():
    users = pd.DataFrame({"user_id": [1, 2, 3], "age": [17, 30, 60], "gender": ["M", "F", "M"],
                          "occupation": ["student", "writer", "other"],
                          "zip_code": ["12345", "54321", "99999"]})
    items = pd.DataFrame({"item_id": [1, 2, 3, 4], "title": list("abcd"),
                          "release_date": pd.to_datetime(["1995-01-01", "1990-06-01", None,
                                                          "1997-03-03"]),
                          "imdb_url": [np.nan] * 4})
    for g in GENRES:
        items[g] = 0
    items.loc[0, "Comedy"] = items.loc[1, "Drama"] = items.loc[2, "Action"] = 1
    items.loc[3, ["Comedy", "Romance"]] = 1
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [1, 2, 3, 4],
                            "rating": [5, 2, 4, 1], "timestamp": [10, 11, 12, 13]})
    return MovieLens(ratings, users, items)


class PairEcho(torch.nn.Module):
    """Logit = 100 * user code + item code: reveals which pair each row holds."""

    def forward(self, x):
        return (100 * x["user_id"] + x["item_id"]).double() / 1e4


def test_pair_frame_and_score_pairs_keep_the_user_major_order():
    from recsys_course.tasks import movielens_frame

    ml = tiny_movielens()
    users = np.array([2, 0])
    items = np.array([[0, 3, 1], [2, 2, 0]])
    frame = F.pair_frame(ml, users, items)
    assert frame.user_id.tolist() == [3, 3, 3, 1, 1, 1]
    assert frame.item_id.tolist() == [1, 4, 2, 3, 3, 1]
    reference = movielens_frame(ml)
    cols = ["gender", "occupation", "age_bucket", "zip3", "genre", "year_bucket"]
    for _, row in frame.iterrows():                     # side features as in the task rows
        same_user = reference[reference.user_id == row.user_id].iloc[0]
        same_item = reference[reference.item_id == row.item_id].iloc[0]
        for c in cols[:4]:
            assert row[c] == same_user[c]
        for c in cols[4:]:
            assert row[c] == same_item[c]
    pre = Preprocessor(sparse=["user_id", "item_id"]).fit(reference)
    p = F.score_pairs(PairEcho(), pre, ml, users, items)
    assert p.shape == (2, 3)
    codes_u = pre.encoders["user_id"].transform(users + 1)
    codes_i = pre.encoders["item_id"].transform(items.ravel() + 1).reshape(items.shape)
    expected = 1 / (1 + np.exp(-(100 * codes_u[:, None] + codes_i) / 1e4))
    np.testing.assert_allclose(p, expected, rtol=1e-9)


def test_pair_inputs_appends_dense_candidate_features_in_the_user_major_order():
    from recsys_course.tasks import movielens_frame

    ml = tiny_movielens()
    users = np.array([2, 0])
    items = np.array([[0, 3, 1], [2, 2, 0]])
    pre = Preprocessor(sparse=["user_id", "item_id"]).fit(movielens_frame(ml))
    dense = {"cf score": np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])}
    x = F.pair_inputs(pre, ml, users, items, dense)
    assert set(x) == {"user_id", "item_id", "cf score"}
    assert x["cf score"].dtype == torch.float32
    np.testing.assert_allclose(x["cf score"].numpy(), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], rtol=1e-6)
    codes_i = pre.encoders["item_id"].transform(items.ravel() + 1)
    assert x["item_id"].tolist() == list(codes_i)
    with pytest.raises(ValueError, match="collides"):
        F.pair_inputs(pre, ml, users, items, {"item_id": dense["cf score"]})
    with pytest.raises(ValueError, match="shape"):
        F.pair_inputs(pre, ml, users, items, {"cf score": np.zeros((2, 2))})


def test_sort_by_is_stable_and_descending():
    items = np.array([[10, 11, 12, 13]])
    scores = np.array([[0.2, 0.5, 0.2, 0.9]])
    got, s = F.sort_by(items, scores)
    assert got.tolist() == [[13, 11, 10, 12]] and s.tolist() == [[0.9, 0.5, 0.2, 0.2]]
    assert F.sort_by(items, scores, 2)[0].tolist() == [[13, 11]]


# ----------------------------------------------------------------------------------------
# Re-ranking
# ----------------------------------------------------------------------------------------
def brute_mmr(items, relevance, vectors, k, lam, normalize=True):
    """One user at a time, straight from the definition."""
    out = []
    V = vectors / np.where(np.linalg.norm(vectors, axis=1, keepdims=True) > 0,
                           np.linalg.norm(vectors, axis=1, keepdims=True), 1.0)
    for u in range(items.shape[0]):
        order = sorted(range(items.shape[1]), key=lambda j: -relevance[u, j])  # stable
        cand = [items[u, j] for j in order]
        rel = np.array([relevance[u, j] for j in order], dtype=float)
        if normalize:
            span = rel.max() - rel.min()
            rel = (rel - rel.min()) / span if span > 0 else np.zeros_like(rel)
        picked = []
        for _ in range(k):
            best, best_score = None, -np.inf
            for j, item in enumerate(cand):
                if j in picked:
                    continue
                pen = max(float(V[item] @ V[cand[p]]) for p in picked) if picked else 0.0
                score = lam * rel[j] - (1 - lam) * pen
                if score > best_score + 1e-12:
                    best, best_score = j, score
            picked.append(best)
        out.append([cand[j] for j in picked])
    return np.array(out)


def mmr_case(seed, n_users=6, n=12, n_items=40, signed=False):
    rng = np.random.default_rng(seed)
    items = np.stack([rng.permutation(n_items)[:n] for _ in range(n_users)])
    relevance = rng.random((n_users, n))
    vectors = rng.normal(size=(n_items, 5)) if signed else \
        (rng.random((n_items, 5)) < 0.4).astype(float)
    return items, relevance, vectors


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("signed", [False, True])
def test_mmr_matches_brute_force(lam, signed):
    items, relevance, vectors = mmr_case(int(lam * 10) + 3 * signed, signed=signed)
    got = F.mmr(items, relevance, vectors, 6, lam)
    np.testing.assert_array_equal(got, brute_mmr(items, relevance, vectors, 6, lam))
    assert all(len(set(r)) == 6 for r in got.tolist())


def test_mmr_lambda_one_is_the_relevance_order():
    items, relevance, vectors = mmr_case(1)
    got = F.mmr(items, relevance, vectors, 12, 1.0)
    expected = np.take_along_axis(items, np.argsort(-relevance, axis=1, kind="stable"), axis=1)
    np.testing.assert_array_equal(got, expected)


def test_mmr_lambda_zero_maximises_diversity_greedily():
    items, relevance, vectors = mmr_case(2)
    got = F.mmr(items, relevance, vectors, 5, 0.0)
    V = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    for u in range(items.shape[0]):
        assert got[u, 0] == items[u, np.argmax(relevance[u])]          # ties: most relevant
        for t in range(1, 5):
            picked = got[u, :t]
            rest = [i for i in items[u] if i not in picked]
            max_sim = {i: max(float(V[i] @ V[p]) for p in picked) for i in rest}
            assert max_sim[got[u, t]] == pytest.approx(min(max_sim.values()))


def test_mmr_raises_on_bad_arguments():
    items, relevance, vectors = mmr_case(0)
    with pytest.raises(ValueError, match="lam"):
        F.mmr(items, relevance, vectors, 3, 1.5)
    with pytest.raises(ValueError, match="k must"):
        F.mmr(items, relevance, vectors, 13, 0.5)


def brute_genre_cap(items, G, cap, k):
    out, fills = [], []
    for row in items:
        counts = np.zeros(G.shape[1], int)
        kept, skipped = [], []
        for item in row:
            g = G[item] > 0
            if len(kept) < k and (counts[g] + 1 <= cap).all():
                kept.append(item)
                counts[g] += 1
            else:
                skipped.append(item)
        n_fill = max(k - len(kept), 0)
        out.append(kept + skipped[:n_fill])
        fills.append(n_fill)
    return np.array(out), np.array(fills)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cap", [1, 2, 3])
def test_genre_cap_matches_brute_force_and_the_rule_holds(seed, cap):
    rng = np.random.default_rng(seed)
    n_items = 30
    G = (rng.random((n_items, 4)) < 0.35).astype(np.float32)
    items = np.stack([rng.permutation(n_items)[:15] for _ in range(20)])
    got, n_filled = F.genre_cap(items, G, cap, 6)
    exp, exp_fill = brute_genre_cap(items, G, cap, 6)
    np.testing.assert_array_equal(got, exp)
    np.testing.assert_array_equal(n_filled, exp_fill)
    for row, fill in zip(got, n_filled):
        assert len(set(row.tolist())) == 6
        if fill == 0:
            assert (G[row].sum(axis=0) <= cap).all()


def test_genre_cap_fills_when_the_rule_cannot_hold():
    G = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], np.float32)
    got, n_filled = F.genre_cap(np.array([[0, 1, 2, 3]]), G, 1, 3)
    assert got.tolist() == [[0, 3, 1]] and n_filled.tolist() == [1]
    with pytest.raises(ValueError, match="k must"):
        F.genre_cap(np.array([[0, 1]]), G, 1, 3)


# ----------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------
def test_stage_timer_adds_up_and_divides_by_users():
    timer = F.StageTimer()
    for _ in range(2):
        with timer("a"):
            sum(range(1000))
    with timer("b"):
        pass
    t = timer.table(4)
    assert list(t.index) == ["a", "b"] and (t["seconds"] >= 0).all()
    np.testing.assert_allclose(t["ms per user"], 1000 * t["seconds"] / 4)


def test_evaluate_lists_agrees_with_the_metrics():
    rng = np.random.default_rng(3)
    L = np.stack([rng.permutation(30)[:10] for _ in range(8)])
    relevant = [set(rng.choice(30, 4, replace=False).tolist()) for _ in range(7)] + [set()]
    G = (rng.random((30, 5)) < 0.4).astype(float)
    pop = rng.integers(0, 50, 30)
    table = F.evaluate_lists({"a": L}, relevant, 10, G, pop, n_boot=50)
    row = table.loc["a"]
    assert row.ndcg == pytest.approx(metrics.ndcg_at_k(L[:7], relevant[:7], 10, average=True))
    assert row.hit_rate == pytest.approx(metrics.hit_rate_at_k(L[:7], relevant[:7], 10,
                                                               average=True))
    assert row.coverage == pytest.approx(metrics.catalogue_coverage(L, 30))
    assert row.novelty == pytest.approx(metrics.novelty(L, pop + 1, average=True))
    assert row.diversity == pytest.approx(metrics.intra_list_diversity(L, G, average=True))
    assert row.ndcg_lo <= row.ndcg <= row.ndcg_hi


def test_paired_difference_and_verdict():
    a = np.array([0.5, 0.6, np.nan, 0.7, 0.9])
    b = np.array([0.1, 0.2, 0.3, 0.2, 0.4])
    d = F.paired_difference(a, b, n_boot=200)
    assert d[0] == pytest.approx(np.mean([0.4, 0.4, 0.5, 0.5]))
    assert F.verdict(d, "A", "B").startswith("A beats B")
    assert F.verdict((-d[0], -d[2], -d[1]), "A", "B").startswith("B beats A")
    # the winner's difference is printed, positive, next to "beats"
    assert f"B - A = {d[0]:+.4f}" in F.verdict((-d[0], -d[2], -d[1]), "A", "B")
    assert f"[{d[1]:+.4f}, {d[2]:+.4f}]" in F.verdict((-d[0], -d[2], -d[1]), "A", "B")
    assert "not separated" in F.verdict((0.0, -0.1, 0.1), "A", "B")
    assert "A - B = -0.0100" in F.verdict((-0.01, -0.1, 0.1), "A", "B")


# ----------------------------------------------------------------------------------------
# The chapter's plots (recsys_course.plots, section "funnel")
# ----------------------------------------------------------------------------------------
def test_funnel_plots_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from recsys_course import plots

    ax = plots.funnel_plot({"catalogue": 1682, "recall": 200, "final": 10},
                           notes={"recall": "0.5 ms/user"}, title="t")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["catalogue", "recall", "final"]
    assert any("0.5 ms/user" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError):
        plots.funnel_plot({"a": 0})
    table = pd.DataFrame([[0.1, 0.3], [0.2, 0.4]], index=["a", "b"], columns=[10, 50])
    ax = plots.recall_curves(table)
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == [10, 50]
    sweep = pd.DataFrame({"lam": [0.0, 1.0], "ndcg": [0.1, 0.2], "ndcg_lo": [0.05, 0.15],
                          "ndcg_hi": [0.15, 0.25], "diversity": [0.9, 0.7]})
    ax = plots.tradeoff_plot(sweep)
    assert [t.get_text() for t in ax.texts] == ["0", "1"]
    plt.close("all")
