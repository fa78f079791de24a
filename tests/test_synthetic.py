"""The planted-interest generator of chapter 04's lab (recsys_course.synthetic)."""
import numpy as np
import pytest
import torch

from recsys_course import metrics
from recsys_course.features import SequenceFeature, SparseFeature
from recsys_course.models import DIN
from recsys_course.synthetic import planted_interests


@pytest.fixture(scope="module")
def lab():
    return planted_interests(n_users=600, n_items=120, n_categories=6, max_len=7, min_len=2,
                             candidates_per_user=6, seed=1)


def test_shapes_codes_and_features(lab):
    task = lab.task
    assert task.sizes() == {"train": 480 * 6, "valid": 60 * 6, "test": 60 * 6}
    x, y = task.train
    assert set(x) == {"item_id", "category", "hist_item_id", "hist_category"}
    assert x["hist_item_id"].shape == (480 * 6, 7) and x["item_id"].dtype == torch.int64
    assert y.dtype == torch.float32 and set(y.unique().tolist()) <= {0.0, 1.0}
    # codes: 0 padding only in histories, real ids from 2
    assert x["item_id"].min() >= 2 and x["item_id"].max() < 122
    assert x["category"].min() >= 2 and x["category"].max() < 8
    hist = x["hist_item_id"]
    assert ((hist == 0) | (hist >= 2)).all() and (hist != 1).all()
    # padding on the right, lengths in [min_len, max_len]
    real = hist != 0
    lens = real.sum(1)
    assert (real == (torch.arange(7)[None, :] < lens[:, None])).all()
    assert lens.min() >= 2 and lens.max() <= 7
    assert ((x["hist_category"] != 0) == real).all()
    names = [f.name for f in lab.target_features + lab.history_features]
    assert names == ["item_id", "category", "hist_item_id", "hist_category"]
    assert all(isinstance(f, SequenceFeature) for f in lab.history_features)
    assert all(isinstance(f, SparseFeature) for f in lab.target_features)
    assert lab.history_features[0].shared_with == "item_id"


def test_categories_are_consistent_and_users_split(lab):
    task = lab.task
    for split in ("train", "test"):
        x, _ = task.__getattribute__(split)
        item, cat = x["item_id"] - 2, x["category"] - 2
        assert (torch.from_numpy(lab.item_category)[item] == cat).all()
        hi, hc = x["hist_item_id"], x["hist_category"]
        real = hi != 0
        assert (torch.from_numpy(lab.item_category)[(hi - 2)[real]] == (hc - 2)[real]).all()
    frame = task.frame
    assert frame.groupby("user_id").split.nunique().max() == 1          # users in one split
    assert (np.bincount(lab.item_category) == 20).all()                 # 120 items / 6


def test_planted_truth_drives_the_clicks(lab):
    frame = lab.task.frame
    interests = lab.interests[frame.user_id.to_numpy()]
    again = (frame.category.to_numpy()[:, None] == interests).any(1)
    assert (again == frame.in_interest.to_numpy()).all()
    k = (lab.interests >= 0).sum(1)
    assert set(np.unique(k)) <= {2, 3}
    rate_in = frame.label[frame.in_interest].mean()
    rate_out = frame.label[~frame.in_interest].mean()
    assert abs(rate_in - 0.7) < 0.05 and abs(rate_out - 0.15) < 0.05
    # history items come mostly from the user's interests (noise 0.3 + chance hits)
    x, _ = lab.task.train
    users = frame.user_id[frame.split == "train"].to_numpy()
    hc = x["hist_category"].numpy() - 2
    real = x["hist_item_id"].numpy() != 0
    own = (hc[:, :, None] == lab.interests[users][:, None, :]).any(-1)
    share = own[real].mean()
    assert 0.7 < share < 0.85
    # the truth is a good score: the ceiling beats chance clearly
    y = lab.task.test[1].numpy()
    assert metrics.auc(y, lab.task.rows("test").p_click) > 0.7


def test_reproducible_and_seed_dependent():
    a = planted_interests(n_users=50, n_items=40, n_categories=4, seed=3)
    b = planted_interests(n_users=50, n_items=40, n_categories=4, seed=3)
    c = planted_interests(n_users=50, n_items=40, n_categories=4, seed=4)
    assert a.task.frame.equals(b.task.frame)
    assert torch.equal(a.task.train[0]["hist_item_id"], b.task.train[0]["hist_item_id"])
    assert not a.task.frame.equals(c.task.frame)


def test_din_reads_the_lab(lab):
    torch.manual_seed(0)
    model = DIN([], lab.history_features, lab.target_features, attention_dims=(4,),
                mlp_dims=(8,)).eval()
    x, _ = lab.task.test
    assert model(x).shape == (len(lab.task.test[1]),)


@pytest.mark.parametrize("kw", [dict(n_items=101, n_categories=10), dict(interests=(0, 2)),
                                dict(min_len=0), dict(noise=1.5),
                                dict(fractions=(0.5, 0.2, 0.2))])
def test_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        planted_interests(n_users=20, **kw)
