"""Checks for the exercises of chapter 01 (the recommender funnel).

Learners call, in the chapter's notebook::

    from recsys_course.exercises.ch01 import check_recall_at_k, check_mmr
    check_recall_at_k(recall_at_k)
    check_mmr(mmr_one_user)

The exercises, as the notebook states them
------------------------------------------
``recall_at_k(recommended, relevant, k) -> np.ndarray``
    ``recommended`` is an int array (U, N): row u holds user u's ranked items, best
    first, all distinct. ``relevant`` is a list of U non-empty sets of items. Return a
    float array of shape (U,): for each user, the number of relevant items among the
    first ``k`` of the row, divided by the number of relevant items. ``1 <= k <= N``.

``mmr_one_user(relevance, similarity, k, lam) -> list[int]``
    Maximal marginal relevance for one user. ``relevance`` (N,) and ``similarity``
    (N, N) (symmetric, non-negative, like cosines of genre vectors) are numpy arrays.
    Pick ``k`` candidate positions greedily: at each step, among the positions not
    picked yet, take the one maximising
    ``lam * relevance[i] - (1 - lam) * max(similarity[i, j] for j already picked)``,
    where the max is 0 while nothing is picked. Ties go to the lowest position (what
    ``np.argmax`` does). Return the ``k`` positions in the order they were picked.

The hidden cases are small arrays built here from fixed seeds (never shown to learners);
the reference solutions are private (``_reference_*``).
"""
from __future__ import annotations

import numpy as np

from .core import describe, exercise, expect_close, expect_equal, expect_shape, fail


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_recall_at_k(recommended, relevant, k) -> np.ndarray:
    rec = np.asarray(recommended)[:, :k]
    return np.array([len(set(row.tolist()) & rel) / len(rel) for row, rel in zip(rec, relevant)],
                    dtype=np.float64)


def _greedy(relevance, similarity, k, lam, combine=np.max, sign=-1.0, exclude=True,
            swap=False):
    """MMR and its usual mistakes, one user (loops: the definition, written plainly)."""
    rel = np.asarray(relevance, dtype=np.float64)
    sim = np.asarray(similarity, dtype=np.float64)
    picked: list[int] = []
    for _ in range(k):
        best, best_score = -1, -np.inf
        for i in range(len(rel)):
            if exclude and i in picked:
                continue
            penalty = combine(sim[i, picked]) if picked else 0.0
            a, b = (1.0 - lam, lam) if swap else (lam, 1.0 - lam)
            score = a * rel[i] + sign * b * penalty
            if score > best_score:
                best, best_score = i, score
        picked.append(best)
    return picked


def _reference_mmr(relevance, similarity, k, lam) -> list[int]:
    return _greedy(relevance, similarity, k, lam)


# ----------------------------------------------------------------------------------------
# Hidden cases
# ----------------------------------------------------------------------------------------
def _recall_cases():
    yield ("3 users, 5 candidates, k=3",
           np.array([[4, 1, 7, 2, 9], [3, 8, 0, 5, 6], [2, 4, 6, 8, 10]]),
           [{1, 2}, {0, 5, 9, 11}, {6}], 3)
    rng = np.random.default_rng(101)
    rec = np.stack([rng.permutation(60)[:20] for _ in range(8)])
    rel = [set(rng.choice(60, size=int(rng.integers(1, 15)), replace=False).tolist())
           for _ in range(8)]
    yield "8 users, 20 candidates out of 60 items, k=10", rec, rel, 10
    yield ("more relevant items than k (recall cannot reach 1)",
           np.array([[0, 1, 2, 3], [5, 6, 7, 8]]), [{0, 1, 2, 3}, {5, 6, 7}], 2)
    yield "k equal to the list length", np.array([[3, 2, 1], [1, 2, 3]]), [{1}, {9}], 3
    yield "k=1", np.array([[7, 1], [2, 7], [7, 3]]), [{7}, {7, 2}, {3, 4, 5}], 1


def _sim_from_vectors(V):
    V = np.asarray(V, dtype=np.float64)
    n = np.linalg.norm(V, axis=1, keepdims=True)
    U = V / np.where(n > 0, n, 1.0)
    return U @ U.T


def _mmr_cases():
    rel = np.array([0.9, 0.85, 0.5, 0.4, 0.1])
    sim = _sim_from_vectors([[1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0, 0, 1], [0.7, 0.7, 0]])
    yield "5 candidates, two near-duplicates at the top, lam=0.5, k=3", rel, sim, 3, 0.5
    rng = np.random.default_rng(1998)
    V = (rng.random((12, 6)) < 0.3).astype(float)
    yield ("12 candidates with 0/1 genre vectors, lam=0.7, k=5",
           np.sort(rng.random(12))[::-1].copy(), _sim_from_vectors(V), 5, 0.7)
    yield "lam=1: the relevance order", rng.random(8), _sim_from_vectors(rng.random((8, 4))), 4, 1.0
    V = (rng.random((10, 5)) < 0.4).astype(float)
    yield ("lam=0: after the first pick, diversity alone (relevance sorted, so the first "
           "pick is position 0)", np.linspace(1.0, 0.1, 10), _sim_from_vectors(V), 4, 0.0)
    V = rng.random((15, 8)) ** 3
    yield ("15 candidates, continuous item vectors, lam=0.3, k=6", rng.random(15),
           _sim_from_vectors(V), 6, 0.3)


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
@exercise("ch01", "recall_at_k", title="recall@k of ranked lists")
def check_recall_at_k(fn, run):
    """Check ``fn(recommended (U, N), relevant [U sets], k) -> (U,)`` recall@k per user."""
    for name, rec, rel, k in _recall_cases():
        with run.case(name):
            got = run.call(fn, rec, rel, k, forbid_mutation=True)
            if np.ndim(got) == 0:
                fail(f"the result should be one recall per user, an array of shape "
                     f"({len(rel)},), but got a single number ({describe(got)}).",
                     hint="do not average over users: the chapter averages (and bootstraps) "
                          "the per-user values itself.")
            arr = np.asarray(got, dtype=np.float64)
            expect_shape(arr, (len(rel),), "the result")
            expected = _reference_recall_at_k(rec, rel, k)
            hits = expected * np.array([len(s) for s in rel])
            expect_close(arr, expected, what="the recall", atol=1e-9, rtol=0.0, mistakes={
                "dividing by k (that is precision@k, not recall@k)": hits / k,
                "dividing by min(k, number of relevant items) (a capped recall some papers "
                "use; here the denominator is the number of relevant items)":
                    hits / np.minimum(k, [len(s) for s in rel]),
                "the whole list instead of its first k items":
                    _reference_recall_at_k(rec, rel, rec.shape[1]),
                "the first k - 1 items (an off-by-one in the slice)":
                    (_reference_recall_at_k(rec, rel, k - 1) if k > 1
                     else -np.ones(len(rel))),
                "the number of hits instead of their share": hits,
            })


@exercise("ch01", "mmr", title="maximal marginal relevance for one user")
def check_mmr(fn, run):
    """Check ``fn(relevance (N,), similarity (N, N), k, lam) -> k positions``."""
    for name, rel, sim, k, lam in _mmr_cases():
        with run.case(name):
            got = run.call(fn, rel, sim, k, lam, forbid_mutation=True)
            if np.ndim(got) != 1:
                fail(f"the result should be a list of {k} positions, but got {describe(got)}.",
                     hint="return the picked positions, e.g. a list of ints.")
            picks = np.asarray(got)
            if len(picks) != k:
                fail(f"the result has {len(picks)} positions but should have k={k} "
                     f"(out of N={len(rel)} candidates).",
                     hint="stop after k picks." if len(picks) > k else
                          "pick k times, one position per step.")
            if not np.issubdtype(picks.dtype, np.integer):
                if not np.all(np.equal(np.mod(picks, 1), 0)):
                    fail(f"positions must be whole numbers, got {picks.tolist()}.",
                         hint="return positions (np.argmax gives one), not scores.")
                picks = picks.astype(np.int64)
            if picks.min() < 0 or picks.max() >= len(rel):
                fail(f"positions must lie in 0..{len(rel) - 1}, got {picks.tolist()}.")
            if len(set(picks.tolist())) < k:
                seen, dup = set(), None
                for p in picks.tolist():
                    if p in seen:
                        dup = p
                        break
                    seen.add(p)
                fail(f"position {dup} is picked twice: {picks.tolist()}.",
                     hint="an item already picked cannot be picked again; its similarity "
                          "to itself is 1, but it must be excluded outright (e.g. set its "
                          "score to -inf).")
            expected = _reference_mmr(rel, sim, k, lam)
            expect_equal(picks.tolist(), expected, what="the picked positions", mistakes={
                "the SUM of similarities to the picked items instead of their max":
                    _greedy(rel, sim, k, lam, combine=np.sum),
                "the MEAN similarity to the picked items instead of the max":
                    _greedy(rel, sim, k, lam, combine=np.mean),
                "similarity ADDED instead of subtracted (that rewards redundancy)":
                    _greedy(rel, sim, k, lam, sign=+1.0),
                "lam and 1 - lam swapped (lam weighs relevance)":
                    _greedy(rel, sim, k, lam, swap=True),
                "the relevance order alone (the similarity term is ignored)":
                    np.argsort(-rel, kind="stable")[:k].tolist(),
            })


__all__ = ["check_recall_at_k", "check_mmr"]
