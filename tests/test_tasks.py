"""The MovieLens click-through task (recsys_course.tasks) on the offline copy."""
import numpy as np
import pytest
import torch

from recsys_course import data
from recsys_course.features import PAD, Preprocessor, build_sequences
from recsys_course.tasks import movielens_ctr, popularity_scores


@pytest.fixture(scope="module")
def ml():
    return data.load_movielens_100k()


@pytest.fixture(scope="module")
def task(ml):
    return movielens_ctr(ml, split="user", history=True, max_len=8, max_rows=20_000)


def test_tensors_align_with_the_frame(task):
    for split in ("train", "valid", "test"):
        rows = task.rows(split)
        x, y = getattr(task, split)
        assert len(rows) == len(y) == len(task.users(split))
        assert np.array_equal(y.numpy(), rows.label.to_numpy(np.float32))
        codes = task.preprocessor.encode(rows, "user_id")
        assert np.array_equal(x["user_id"].numpy(), codes)
    assert sum(task.sizes().values()) == 20_000


def test_labels_are_ratings_of_four_or_more(task):
    f = task.frame
    assert ((f.rating >= 4) == (f.label == 1)).all()


def test_histories_share_tables_and_hold_only_the_past(task):
    names = {f.name: f for f in task.features}
    assert names["hist_item_id"].shared_with == "item_id"
    assert names["hist_genre"].shared_with == "genre"
    f = task.frame
    # Decode the first row of each test user's history and check it is strictly earlier.
    x, _ = task.test
    inverse = np.asarray(task.preprocessor.encoders["item_id"].classes_, dtype=object)
    rows = task.rows("test")
    for i in range(0, len(rows), 97):
        r = rows.iloc[i]
        past = f[(f.user_id == r.user_id) & (f.timestamp < r.timestamp)]
        hist = [c for c in x["hist_item_id"][i].tolist() if c != PAD]
        assert len(hist) == min(8, len(past))
        for code in hist:
            if code >= 2:                       # 1 = a movie unseen in training
                assert inverse[code - 2] in set(past.item_id)


def test_fast_history_path_equals_the_raw_path(ml):
    task = movielens_ctr(ml, split="user", history=True, max_len=6, max_rows=5_000)
    df = build_sequences(task.frame.drop(columns=["hist_item_id", "hist_genre", "hist_len"]),
                         ["item_id", "genre"], max_len=6)
    pre = Preprocessor(sparse=["item_id", "genre"], sequence=["hist_item_id", "hist_genre"],
                       sequence_sources={"hist_item_id": "item_id", "hist_genre": "genre"},
                       max_len=6).fit(df[df.split == "train"])
    x, _ = pre.transform(df[df.split == "test"], label=None)
    assert torch.equal(x["hist_item_id"], task.test[0]["hist_item_id"])
    assert torch.equal(x["hist_genre"], task.test[0]["hist_genre"])


def test_popularity_is_a_smoothed_training_click_rate(task):
    train = task.rows("train")
    item = train.item_id.value_counts().index[0]
    rate = train.label.mean()
    clicks, n = train.label[train.item_id == item].sum(), (train.item_id == item).sum()
    scores = popularity_scores(task, "train", prior=10)
    got = scores[(train.item_id == item).to_numpy()][0]
    assert got == pytest.approx((clicks + 10 * rate) / (n + 10))
    unseen = popularity_scores(task, "test")[~task.rows("test").item_id.isin(train.item_id).to_numpy()]
    assert np.allclose(unseen, rate)
