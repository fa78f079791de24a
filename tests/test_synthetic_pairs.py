"""The planted-pairs generator of chapter 02 (recsys_course.synthetic)."""
import itertools
import time

import numpy as np
import pytest
import torch

from recsys_course import metrics
from recsys_course.models import FM, LR
from recsys_course.synthetic import (pair_recovery, planted_pairs_data, planted_pairs_features,
                                     planted_pairs_logits, planted_pairs_spec)
from recsys_course.train import fit, predict, set_seed


@pytest.fixture(scope="module")
def spec():
    return planted_pairs_spec(seed=1)


def test_shapes_codes_and_reproducibility(spec):
    x, y, logit = planted_pairs_data(spec, 500, part=0)
    assert list(x) == ["f0", "f1", "f2", "f3", "f4", "f5"]
    for v in x.values():
        assert v.dtype == torch.int64 and v.shape == (500,)
        assert v.min() >= 2 and v.max() < spec.vocab_size + 2          # 0, 1 stay free
    assert y.dtype == torch.float32 and set(y.unique().tolist()) <= {0.0, 1.0}
    x2, y2, _ = planted_pairs_data(spec, 500, part=0)
    assert all(torch.equal(x[k], x2[k]) for k in x) and torch.equal(y, y2)
    x3, _, _ = planted_pairs_data(spec, 500, part=1)
    assert not torch.equal(x["f0"], x3["f0"])
    ids = np.stack([x[n].numpy() - 2 for n in spec.names], 1)
    np.testing.assert_allclose(planted_pairs_logits(spec, ids), logit)
    feats = planted_pairs_features(spec, embed_dim=4)
    assert [(f.name, f.vocab_size, f.embed_dim) for f in feats] == \
        [(n, spec.vocab_size + 2, 4) for n in spec.names]


def test_planted_tables_have_the_rank_and_only_planted_pairs_interact(spec):
    for a, b in itertools.combinations(range(spec.n_fields), 2):
        w = spec.pair_weights(a, b)
        assert w.shape == (spec.vocab_size, spec.vocab_size)
        if (a, b) in spec.pairs:
            assert np.linalg.matrix_rank(w) == spec.rank
        else:
            assert not w.any()


def test_every_single_value_is_clicked_half_the_time(spec):
    """Exactly, not only on average: enumerate every combination of the planted fields
    (the others do not enter the logit) and average the click probability per value."""
    V = spec.vocab_size
    grid = np.array(list(itertools.product(range(V), repeat=4)))          # f0..f3
    ids = np.concatenate([grid, np.zeros((len(grid), spec.n_fields - 4), int)], 1)
    p = 1.0 / (1.0 + np.exp(-planted_pairs_logits(spec, ids)))
    for f in range(4):
        per_value = np.bincount(grid[:, f], weights=p, minlength=V) / (len(grid) / V)
        np.testing.assert_allclose(per_value, 0.5, atol=1e-12)
    assert np.abs(p - 0.5).mean() > 0.1                    # yet the pairs carry signal


def test_pairs_sharing_a_field_keep_every_value_at_one_half():
    """A path f1 - f0 - f2 (bipartite): still no signal in any single value."""
    spec = planted_pairs_spec(seed=2, n_fields=4, vocab_size=10, pairs=((0, 1), (0, 2)))
    V = spec.vocab_size
    grid = np.array(list(itertools.product(range(V), repeat=3)))
    ids = np.concatenate([grid, np.zeros((len(grid), 1), int)], 1)
    p = 1.0 / (1.0 + np.exp(-planted_pairs_logits(spec, ids)))
    for f in range(3):
        per_value = np.bincount(grid[:, f], weights=p, minlength=V) / (len(grid) / V)
        np.testing.assert_allclose(per_value, 0.5, atol=1e-12)
    assert not spec.pair_weights(1, 2).any() and spec.pair_weights(2, 0).any()


def test_spec_validation():
    with pytest.raises(ValueError, match="odd cycle"):
        planted_pairs_spec(pairs=((0, 1), (1, 2), (0, 2)))
    with pytest.raises(ValueError, match="distinct"):
        planted_pairs_spec(pairs=((0, 1), (1, 0)))
    with pytest.raises(ValueError, match="different fields"):
        planted_pairs_spec(pairs=((2, 2),))
    with pytest.raises(ValueError, match="outside"):
        planted_pairs_spec(n_fields=3, pairs=((0, 5),))
    with pytest.raises(ValueError, match="even"):
        planted_pairs_spec(vocab_size=7)


def test_pair_recovery_reads_inner_products(spec):
    g = np.random.default_rng(0)
    tables = {n: g.normal(size=(spec.vocab_size + 2, 3)) for n in spec.names}
    rec = pair_recovery(spec, tables)
    n_pairs = spec.n_fields * (spec.n_fields - 1) // 2
    assert len(rec) == n_pairs * spec.vocab_size ** 2
    assert rec.planted.sum() == len(spec.pairs) * spec.vocab_size ** 2
    row = rec[(rec.a == 0) & (rec.b == 3) & (rec.i == 4) & (rec.j == 7)].iloc[0]
    assert row.learned == pytest.approx(tables["f0"][6] @ tables["f3"][9])
    assert row.true == 0.0 and not row.planted


def test_lr_stays_at_chance_and_fm_recovers_the_planted_weights(spec):
    t0 = time.process_time()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    feats = planted_pairs_features(spec, embed_dim=4)
    x, y, _ = planted_pairs_data(spec, 12_000, part=0)
    xt, yt, _ = planted_pairs_data(spec, 4_000, part=2)
    out = {}
    for cls in (LR, FM):
        set_seed(0)
        model = LR(feats) if cls is LR else FM(feats, init_std=0.1)
        fit(model, (x, y), epochs=6, batch_size=512, lr=3e-2, progress=False)
        out[cls.__name__] = metrics.auc(yt.numpy(), predict(model, xt))
    assert out["LR"] < 0.55 and out["FM"] > 0.75, out
    rec = pair_recovery(spec, {n: t.weight for n, t in model.fields.embedding.tables.items()})
    planted = rec[rec.planted]
    assert np.corrcoef(planted.true, planted.learned)[0, 1] > 0.9
    # A ceiling, not a measurement: about 3 s of CPU on the 2-core machines we test on,
    # so 30 s flags a run that stopped being small, not a slow CPU.
    assert time.process_time() - t0 < 30
    torch.set_num_threads(threads)
