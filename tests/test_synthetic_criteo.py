"""The Criteo-shaped synthetic generator (recsys_course.synthetic)."""
import numpy as np
import pytest

from recsys_course import metrics
from recsys_course.synthetic import (DENSE, SPARSE, bayes_logits, criteo_like, criteo_like_chunk,
                                     criteo_like_spec, criteo_like_tensors)


@pytest.fixture(scope="module")
def spec():
    return criteo_like_spec(3, vocab_sizes=tuple(range(5, 5 + 26)))


def test_shape_columns_and_click_rate(spec):
    df = criteo_like_chunk(spec, 20_000)
    assert list(df.columns) == ["label", *DENSE, *SPARSE]
    assert 0.22 < df.label.mean() < 0.28
    assert 0.05 < df[DENSE].isna().mean().mean() < 0.15
    for name, v in zip(SPARSE, spec.vocab_sizes):
        assert 0 <= df[name].min() and df[name].max() < v


def test_chunks_are_reproducible_and_distinct(spec):
    a, b = criteo_like_chunk(spec, 1000, 0), criteo_like_chunk(spec, 1000, 0)
    assert a.equals(b)
    assert not a.equals(criteo_like_chunk(spec, 1000, 1))
    whole = criteo_like(2500, seed=3, chunk_rows=1000, vocab_sizes=spec.vocab_sizes)
    assert whole.iloc[1000:2000].reset_index(drop=True).equals(criteo_like_chunk(spec, 1000, 1))


def test_planted_interactions_carry_signal(spec):
    df = criteo_like_chunk(spec, 30_000)
    full = metrics.auc(df.label, bayes_logits(df, spec))
    ids = df[SPARSE].to_numpy()
    no_pairs = spec.bias + sum(spec.first_order[f][ids[:, f]] for f in range(26))
    assert full > metrics.auc(df.label, no_pairs) + 0.02     # the pairs matter
    assert len(spec.pairs) == 4 and len({f for p in spec.pairs for f in p}) == 8


def test_tensors_reserve_padding_and_unseen(spec):
    df = criteo_like_chunk(spec, 500)
    x, y, feats = criteo_like_tensors(df, spec, embed_dim=8)
    assert len(feats) == 39 and y.shape == (500,)
    assert min(int(x[n].min()) for n in SPARSE) >= 2
    assert all(int(x[f.name].max()) < f.vocab_size for f in feats if hasattr(f, "vocab_size"))
    assert not any(np.isnan(x[n].numpy()).any() for n in DENSE)
