"""The checks of chapter 01's exercises: references pass, typical mistakes get specific,
different messages."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_course import funnel as F
from recsys_course import metrics
from recsys_course.exercises.ch01 import (_reference_mmr, _reference_recall_at_k, check_mmr,
                                          check_recall_at_k)
from recsys_course.exercises.core import REGISTRY, NotAttempted, load_all
from check_helpers import failure


# ----------------------------------------------------------------------------------------
# recall@k
# ----------------------------------------------------------------------------------------
def test_recall_references_pass(capsys):
    assert check_recall_at_k(_reference_recall_at_k) is True
    # the package's metric passes too
    assert check_recall_at_k(lambda rec, rel, k: metrics.recall_at_k(rec, rel, k)) is True
    assert "hidden cases passed" in capsys.readouterr().out


def test_recall_shape_error_and_numerical_error_get_different_messages():
    hits_matrix = failure(check_recall_at_k,                      # (U, k) hits, not reduced
                          lambda rec, rel, k: np.array([[i in s for i in r[:k]]
                                                        for r, s in zip(rec, rel)], float))
    precision = failure(check_recall_at_k,                        # divides by k
                        lambda rec, rel, k: np.array([len(set(r[:k]) & s) / k
                                                      for r, s in zip(rec, rel)]))
    assert "shape (3, 3) but should have shape (3,)" in hits_matrix
    assert "precision@k" in precision and "shape" not in precision
    assert hits_matrix != precision


def test_recall_other_mistakes_are_named():
    capped = failure(check_recall_at_k,
                     lambda rec, rel, k: np.array([len(set(r[:k]) & s) / min(k, len(s))
                                                   for r, s in zip(rec, rel)]))
    assert "min(k, number of relevant items)" in capped
    whole = failure(check_recall_at_k,
                    lambda rec, rel, k: np.array([len(set(r) & s) / len(s)
                                                  for r, s in zip(rec, rel)]))
    assert "whole list" in whole
    off_by_one = failure(check_recall_at_k,
                         lambda rec, rel, k: np.array([len(set(r[:k - 1]) & s) / len(s)
                                                       for r, s in zip(rec, rel)]))
    assert "off-by-one" in off_by_one
    mean = failure(check_recall_at_k,
                   lambda rec, rel, k: float(np.mean(_reference_recall_at_k(rec, rel, k))))
    assert "single number" in mean and "do not average" in mean


def test_recall_not_attempted():
    def stub(rec, rel, k):
        raise NotImplementedError
    with pytest.raises(NotAttempted, match="not attempted"):
        check_recall_at_k(stub)


# ----------------------------------------------------------------------------------------
# MMR
# ----------------------------------------------------------------------------------------
def vectorised_mmr(relevance, similarity, k, lam):
    max_sim = np.zeros(len(relevance))
    picked = []
    for _ in range(k):
        score = lam * np.asarray(relevance) - (1 - lam) * max_sim
        score[picked] = -np.inf
        j = int(np.argmax(score))
        picked.append(j)
        max_sim = np.maximum(max_sim, similarity[j])
    return picked


def test_mmr_references_pass():
    assert check_mmr(_reference_mmr) is True
    assert check_mmr(vectorised_mmr) is True


def test_mmr_agrees_with_the_package():
    rng = np.random.default_rng(0)
    rel = np.sort(rng.random(12))[::-1]                       # sorted: same tie rule
    V = (rng.random((12, 5)) < 0.4).astype(float)
    n = np.linalg.norm(V, axis=1, keepdims=True)
    sim = (V / np.where(n > 0, n, 1)) @ (V / np.where(n > 0, n, 1)).T
    for lam in (0.0, 0.4, 1.0):
        got = F.mmr(np.arange(12)[None, :], rel[None, :], V, 6, lam, normalize=False)[0]
        assert got.tolist() == _reference_mmr(rel, sim, 6, lam)


def test_mmr_shape_error_and_numerical_error_get_different_messages():
    full = failure(check_mmr, lambda r, s, k, lam: vectorised_mmr(r, s, len(r), lam))
    summed = failure(check_mmr, _sum_instead_of_max)
    assert "positions but should have k=3" in full and "stop after k picks" in full
    assert "SUM of similarities" in summed and "positions but should" not in summed
    assert full != summed


def _sum_instead_of_max(relevance, similarity, k, lam):
    total = np.zeros(len(relevance))
    picked = []
    for _ in range(k):
        score = lam * relevance - (1 - lam) * total
        score[picked] = -np.inf
        j = int(np.argmax(score))
        picked.append(j)
        total = total + similarity[j]
    return picked


def test_mmr_other_mistakes_are_named():
    def no_exclusion(relevance, similarity, k, lam):
        max_sim, picked = np.zeros(len(relevance)), []
        for _ in range(k):
            j = int(np.argmax(lam * relevance - (1 - lam) * max_sim))
            picked.append(j)
            max_sim = np.maximum(max_sim, similarity[j])
        return picked
    assert "picked twice" in failure(check_mmr, no_exclusion)

    def plus(relevance, similarity, k, lam):
        max_sim, picked = np.zeros(len(relevance)), []
        for _ in range(k):
            score = lam * relevance + (1 - lam) * max_sim
            score[picked] = -np.inf
            j = int(np.argmax(score))
            picked.append(j)
            max_sim = np.maximum(max_sim, similarity[j])
        return picked
    assert "ADDED instead of subtracted" in failure(check_mmr, plus)

    def swapped(relevance, similarity, k, lam):
        return vectorised_mmr(relevance, similarity, k, 1 - lam) if lam not in (0, 1) else \
            _reference_mmr(relevance, similarity, k, lam)
    assert "swapped" in failure(check_mmr, swapped)
    relevance_only = failure(check_mmr,
                             lambda r, s, k, lam: list(np.argsort(-r, kind="stable")[:k]))
    assert "relevance order alone" in relevance_only
    scores = failure(check_mmr, lambda r, s, k, lam: [0.5] * k)
    assert "whole numbers" in scores


def test_registered():
    load_all()
    assert {"ch01.recall_at_k", "ch01.mmr"} <= set(REGISTRY)
