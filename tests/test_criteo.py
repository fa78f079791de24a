"""The Criteo pipeline (recsys_course.criteo), the torch-rechub training helpers and the
chapter-03 plots."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_course.criteo import (DENSE, SPARSE, CriteoPreprocessor, add_log_bins, bin_columns,
                                  criteo_ctr, feature_groups, random_split)
from recsys_course.features import PAD, UNSEEN, CategoryEncoder, DenseFeature, SparseFeature, \
    criteo_log_bins


def criteo_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A small frame in the Criteo layout: counts with NaN and -1, hashed strings with NaN."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"label": (rng.random(n) < 0.3).astype(int)})
    for c in DENSE:
        v = np.floor(rng.lognormal(1.5, 1.5, n))
        v[rng.random(n) < 0.2] = np.nan
        df[c] = v
    df.loc[0, "I2"] = -1.0
    for c in SPARSE:
        vals = np.array([f"{h:08x}" for h in rng.integers(0, 12, n)], dtype=object)
        vals[rng.random(n) < 0.15] = np.nan
        df[c] = vals
    return df


def test_encoder_accepts_the_nullable_bins():
    """criteo_log_bins returns nullable Int64; the encoder gives <NA> its own category."""
    bins = criteo_log_bins([0, 1, 13, np.nan, 5000])
    enc = CategoryEncoder().fit(bins)
    codes = enc.transform(criteo_log_bins([13, np.nan, 7, 1]))
    assert enc.vocab_size == 5 + 2
    assert codes[2] == UNSEEN and codes[1] >= 2 and len(set(codes.tolist())) == 4


def test_add_log_bins_adds_one_categorical_column_per_count():
    df = criteo_frame()
    out = add_log_bins(df)
    assert list(out.columns) == list(df.columns) + bin_columns()
    assert df.shape[1] == 40                                     # the input is untouched
    i5 = df["I5"].to_numpy()
    expected = np.where(i5 > 2, np.floor(np.log(np.where(i5 > 2, i5, 1)) ** 2), np.floor(i5))
    got = out["I5_bin"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(got, expected)
    assert out["I5_bin"].isna().sum() == df["I5"].isna().sum()
    with pytest.raises(KeyError, match="I1"):
        add_log_bins(df.drop(columns=["I1"]))


def test_preprocessor_fits_on_train_only():
    df = criteo_frame(80)
    train, test = df.iloc[:50], df.iloc[50:].copy()
    test.loc[test.index[0], "C1"] = "never-seen"
    test.loc[test.index[1], "I3"] = 1e9                          # beyond the training max
    pre = CriteoPreprocessor().fit(train)
    feats = pre.features()
    groups = feature_groups(feats)
    assert groups["hashed"] == SPARSE and groups["bins"] == bin_columns() and groups["dense"] == DENSE
    assert [f.name for f in feats] == SPARSE + bin_columns() + DENSE
    assert all(isinstance(f, SparseFeature) for f in feats[:39])
    assert all(isinstance(f, DenseFeature) for f in feats[39:])
    x, y = pre.transform(test)
    assert set(x) == set(SPARSE + bin_columns() + DENSE) and y.dtype == torch.float32
    for f in feats[:39]:
        assert x[f.name].dtype == torch.int64
        assert int(x[f.name].min()) >= 1 and int(x[f.name].max()) < f.vocab_size   # no padding
        assert f.name.endswith("_bin") or f.vocab_size == train[f.name].nunique(dropna=False) + 2
    assert int(x["C1"][0]) == UNSEEN
    assert float(x["I3"][1]) > 1.0                               # training range, not clipped
    xt, _ = pre.transform(train)
    for c in DENSE:
        v = xt[c].numpy()
        assert v.min() >= 0.0 and v.max() <= 1.0 and v.dtype == np.float32
        missing = train[c].isna().to_numpy()
        assert (v[missing] == 0.0).all()                         # missing -> training minimum
    assert PAD not in {int(t.min()) for n, t in xt.items() if n not in DENSE}
    x2, y2 = pre.transform(test.drop(columns=["label"]), label=None)
    assert y2 is None and torch.equal(x2["C3"], x["C3"])


def test_preprocessor_without_bins():
    pre = CriteoPreprocessor(log_bins=False).fit(criteo_frame())
    assert [f.name for f in pre.features()] == SPARSE + DENSE


def test_random_split_sizes_and_reproducibility():
    labels = random_split(115, seed=3)
    counts = pd.Series(labels).value_counts().to_dict()
    assert counts == {"train": 80, "valid": 11, "test": 24}     # torch-rechub's sizes
    assert (random_split(115, seed=3) == labels).all()
    assert not (random_split(115, seed=4) == labels).all()
    with pytest.raises(ValueError):
        random_split(10, (0.5, 0.5, 0.5))


def test_criteo_ctr_builds_a_task():
    df = criteo_frame(100)
    task = criteo_ctr(df, seed=1, embed_dim=8)
    assert task.sizes() == {"train": 70, "valid": 10, "test": 20}
    assert (task.frame["split"].to_numpy() == random_split(100, seed=1)).all()
    train_rows = task.rows("train")
    assert task.features[0].vocab_size == train_rows["C1"].nunique(dropna=False) + 2
    assert task.features[0].embed_dim == 8
    np.testing.assert_array_equal(task.test[1].numpy(), task.rows("test")["label"].to_numpy())


# ----------------------------------------------------------------------------------------
# torch-rechub training helpers
# ----------------------------------------------------------------------------------------
needs_rechub = pytest.mark.skipif(importlib.util.find_spec("torch_rechub") is None,
                                  reason="torch-rechub is not installed")


@pytest.fixture(scope="module")
def task():
    return criteo_ctr(criteo_frame(101, seed=2), seed=0, embed_dim=4)


@needs_rechub
def test_rechub_models_and_parts(task):
    from recsys_course.reference import rechub_ranking_model

    g = feature_groups(task.features)
    fm = rechub_ranking_model("DeepFM", task.features,
                              {"deep_features": g["dense"], "fm_features": g["sparse"]})
    assert [f.name for f in fm.deep_features] == DENSE
    assert [f.name for f in fm.fm_features] == g["sparse"]
    default = rechub_ranking_model("DeepFM", task.features, mlp_dims=(8,))
    assert [f.name for f in default.fm_features] == g["sparse"]
    assert len(default.deep_features) == len(task.features)
    wd = rechub_ranking_model("WideDeep", task.features, mlp_dims=(8,))
    assert len(wd.wide_features) == len(task.features)
    dcn = rechub_ranking_model("DCN", task.features, mlp_dims=(8,), n_cross_layers=2)
    assert dcn.cn.num_layers == 2
    with pytest.raises(ValueError, match="name"):
        rechub_ranking_model("FM", task.features)
    with pytest.raises(KeyError, match="nope"):
        rechub_ranking_model("DeepFM", task.features, {"deep_features": ["nope"]})


@needs_rechub
def test_train_rechub_ctr_fixed_epochs_is_quiet_and_reproducible(task, tmp_path, monkeypatch,
                                                                  capsys):
    from recsys_course.reference import (from_rechub, predict_rechub, rechub_ranking_model,
                                         train_rechub_ctr)

    monkeypatch.chdir(tmp_path)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = rechub_ranking_model("DeepFM", task.features, mlp_dims=(8,))
        # 70 training rows in batches of 23: the last batch has 1 row (BatchNorm would fail)
        model, hist = train_rechub_ctr(model, task.train, None, epochs=3, batch_size=23,
                                       lr=1e-2, seed=5)
        outs.append(predict_rechub(model, task.test[0]))
        assert len(hist.train_loss) == 3 and hist.valid_auc == [] and hist.best_epoch == 2
        assert hist.samples_per_second > 0 and len(hist.seconds) == 3
    np.testing.assert_array_equal(outs[0], outs[1])
    assert capsys.readouterr().out == ""                        # CTRTrainer's prints silenced
    assert list(tmp_path.iterdir()) == []                       # no model.pth left behind
    assert not model.training
    ours = from_rechub(model)
    with torch.no_grad():
        p = torch.sigmoid(ours.eval()(task.test[0])).double().numpy()
    np.testing.assert_allclose(p, outs[1], atol=1e-6)
    assert 0 < outs[1].min() and outs[1].max() < 1


@needs_rechub
def test_train_rechub_ctr_early_stopping_records_the_kept_epoch(task):
    from recsys_course.reference import rechub_ranking_model, train_rechub_ctr

    torch.manual_seed(0)
    model = rechub_ranking_model("DCN", task.features, mlp_dims=(8,))
    model, hist = train_rechub_ctr(model, task.train, task.valid, epochs=30, batch_size=32,
                                   lr=5e-2, patience=2, seed=0)
    n = len(hist.train_loss)
    assert len(hist.valid_auc) == n
    if n < 30:                                                  # stopped: best weights back
        assert hist.best_epoch == int(np.argmax(hist.valid_auc)) and hist.best_epoch == n - 3
    else:
        assert hist.best_epoch == n - 1


# ----------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------
def test_deepfm_plots_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recsys_course.plots import auc_spread, training_curves
    from recsys_course.train import History

    h = History(train_loss=[0.6, 0.5, 0.45, 0.4], valid_loss=[0.62, 0.55, 0.56, 0.6],
                valid_auc=[0.7, 0.75, 0.74, 0.73], best_epoch=1)
    ax = training_curves({"DeepFM": h, "other": History(train_loss=[0.7, 0.6])})
    assert len(ax.lines) >= 4
    ax = training_curves({"DeepFM": h}, what="auc")
    assert ax.get_ylabel() == "validation AUC"
    with pytest.raises(ValueError):
        training_curves({})
    runs = pd.DataFrame({"model": ["a"] * 5 + ["b"] * 5, "auc": np.linspace(0.2, 0.8, 10)})
    ax = auc_spread(runs, reported={"b": (0.1, 0.9)})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_legend() is not None
    plt.close("all")
