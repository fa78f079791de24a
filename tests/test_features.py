"""Encoders, splits and the leakage-free sequence builder (recsys_course.features)."""
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_course.features import (PAD, UNSEEN, CategoryEncoder, MinMaxScaler, Preprocessor,
                                    SequenceFeature, SparseFeature, build_sequences,
                                    criteo_log_bins, history_lengths, time_split)


# --- encoders ---------------------------------------------------------------------------
def test_category_encoder_reserves_padding_and_unseen():
    enc = CategoryEncoder().fit(["b", "a", "b", None])
    codes = enc.transform(["a", "b", None, "zzz"])
    assert enc.vocab_size == 3 + 2                      # a, b, <missing> + pad + unseen
    assert codes.min() >= 1 and PAD not in codes
    assert codes[3] == UNSEEN
    assert len(set(codes[:3])) == 3 and min(codes[:3]) == 2


def test_category_encoder_ignores_row_order_and_min_count():
    a = CategoryEncoder().fit([3, 1, 2]).transform([1, 2, 3])
    b = CategoryEncoder().fit([2, 3, 1, 1]).transform([1, 2, 3])
    assert a.tolist() == b.tolist()
    rare = CategoryEncoder(min_count=2).fit(["x", "x", "y"])
    assert rare.transform(["x", "y"]).tolist() == [2, UNSEEN]


def test_encoder_must_be_fitted():
    with pytest.raises(RuntimeError, match="before fit"):
        CategoryEncoder().transform([1])


def test_min_max_scaler_uses_training_range_only():
    sc = MinMaxScaler().fit([10, 20, 30])
    assert sc.transform([10, 20, 30, 40, None]).tolist() == pytest.approx([0, .5, 1, 1.5, 0])
    assert MinMaxScaler(clip=True).fit([0, 1]).transform([2, -1]).tolist() == [1, 0]
    assert MinMaxScaler().fit([5, 5]).transform([5, 7]).tolist() == [0, 0]


def test_scaler_names_an_empty_column():
    with pytest.raises(ValueError, match="'I7'|I7 has no numeric"):
        MinMaxScaler().fit(pd.Series([None, "x"], name="I7"))


def test_criteo_log_bins_match_the_winners_rule():
    got = criteo_log_bins([0, 1, 2, 3, 10, 1000, None, -1, -2])
    expected = [-2, -1, 0, int(np.log(3) ** 2), int(np.log(10) ** 2), int(np.log(1000) ** 2)]
    assert got[:6].tolist() == expected
    assert pd.isna(got[6]) and got[7] == -3 and got[8] == -4


# The counts of the real Criteo logs: I2 goes down to -3, the others start at 0.
CRITEO_NEGATIVES = [-3, -2, -1]


def test_criteo_log_bins_never_put_a_small_and_a_large_count_in_one_bin():
    """Exhaustive on -3..10^6: a bin holds counts of one branch only (v <= 2 or v > 2),
    and every count v <= 2 has a bin of its own."""
    v = np.arange(CRITEO_NEGATIVES[0], 10 ** 6 + 1)
    bins = criteo_log_bins(v).to_numpy(dtype=np.int64)
    small = v <= 2
    shared = np.intersect1d(bins[small], bins[~small])
    assert shared.size == 0, f"bins holding counts of both branches: {shared[:10]}"
    assert len(np.unique(bins[small])) == small.sum()            # small counts stay apart
    assert bins[small].max() < bins[~small].min()                # and below every log bin
    assert (np.diff(bins[~small]) >= 0).all()                    # log bins grow with the count


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=-3, max_value=1e7) | st.just(float("nan")), min_size=1,
                max_size=40))
def test_criteo_log_bins_keep_the_branches_apart_for_any_values(values):
    """Also for fractional values (floored first) and missing ones (kept missing)."""
    got = criteo_log_bins(values)
    v = np.asarray(values, dtype=float)
    assert got.isna().to_numpy().tolist() == np.isnan(v).tolist()
    known = ~np.isnan(v)
    b = got[known].to_numpy(dtype=np.int64)
    small = np.floor(v[known]) <= 2
    assert (b[small] <= 0).all() and (b[~small] >= 1).all()


def test_criteo_log_bins_become_valid_codes():
    """Negative bins are labels: the encoder maps them to codes >= 2 (0 pad, 1 unseen)."""
    train = criteo_log_bins([-1, 0, 1, 2, 3, 4, 5, 50, None])
    enc = CategoryEncoder().fit(train)
    codes = enc.transform(criteo_log_bins([-1, 0, 1, 2, 3, 4, 5, 50, None, -3, 10 ** 6]))
    assert enc.vocab_size == len(set(train.dropna().tolist())) + 1 + 2       # + missing
    assert (codes[:9] >= 2).all() and (codes[:9] < enc.vocab_size).all()
    assert codes[9] == UNSEEN and codes[10] == UNSEEN
    assert len(set(codes[:4].tolist())) == 4                                  # -1, 0, 1, 2 apart
    assert codes[5] == codes[4]                                               # 3 and 4 share bin 1


def test_preprocessor_fits_on_train_and_maps_unseen():
    train = pd.DataFrame({"u": ["a", "b"], "age": [10.0, 20.0], "label": [1, 0]})
    test = pd.DataFrame({"u": ["a", "new"], "age": [15.0, 30.0], "label": [0, 1]})
    pre = Preprocessor(sparse=["u"], dense=["age"], embed_dim=4).fit(train)
    x, y = pre.transform(test)
    assert x["u"].tolist() == [2, UNSEEN]
    assert x["age"].dtype == torch.float32 and x["age"].tolist() == pytest.approx([.5, 2.0])
    assert y.tolist() == [0.0, 1.0]
    (f,) = [f for f in pre.features() if f.name == "u"]
    assert f == SparseFeature("u", 4, 4)


def test_preprocessor_names_missing_columns():
    pre = Preprocessor(sparse=["u"]).fit(pd.DataFrame({"u": [1]}))
    with pytest.raises(KeyError, match="'u'"):
        pre.transform(pd.DataFrame({"v": [1]}), label=None)


# --- splits -----------------------------------------------------------------------------
def _log(n_users=5, n=60, seed=0, max_time=20):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user_id": rng.integers(0, n_users, n),
                         "item_id": rng.integers(0, 15, n),
                         "timestamp": rng.integers(0, max_time, n)})


def test_global_time_split_orders_time_and_is_stable_under_shuffling():
    log = _log()
    split = time_split(log)
    t = log.timestamp
    assert t[split == "train"].max() <= t[split == "valid"].min()
    assert t[split == "valid"].max() <= t[split == "test"].min()
    shuffled = log.sample(frac=1, random_state=1)
    assert (time_split(shuffled).sort_index() == split).all()
    assert split.value_counts()["train"] == 48


def test_per_user_split_keeps_each_users_order():
    log = _log(n=200)
    split = time_split(log, by="user")
    for _, g in log.assign(split=split).groupby("user_id"):
        tr, te = g[g.split == "train"], g[g.split == "test"]
        if len(te):
            assert tr.timestamp.max() <= te.timestamp.min()
    assert split.index.equals(log.index)


@pytest.mark.parametrize("by", ["global", "user"])
def test_repeated_rows_never_straddle_a_cut(by):
    # 10 rows, the 8th and 9th identical: the 80% cut falls between them.
    log = pd.DataFrame({"user_id": [1] * 10, "item_id": [*range(7), 99, 99, 100],
                        "timestamp": [*range(7), 7, 7, 8]})
    split = time_split(log, by=by)
    assert split[7] == split[8] == "train"
    assert split.tolist().count("test") == 1


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="fractions"):
        time_split(_log(), fractions=(0.5, 0.2, 0.2))


# --- sequences --------------------------------------------------------------------------
def test_sequences_most_recent_first_and_strict_about_ties():
    log = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": [10, 11, 12, 13],
                        "timestamp": [1, 2, 2, 3]})
    seq = build_sequences(log, ["item_id"], max_len=3)
    hist = [list(h) for h in seq.hist_item_id]
    assert hist == [[None] * 3, [10, None, None], [10, None, None], [12, 11, 10]]
    assert seq.hist_len.tolist() == [0, 1, 1, 3]
    ties = build_sequences(log, ["item_id"], max_len=3, include_ties=True)
    assert list(ties.hist_item_id[2]) == [11, 10, None]


def test_history_mask_restricts_history_not_targets():
    log = pd.DataFrame({"user_id": [1] * 4, "item_id": [1, 2, 3, 4], "timestamp": [1, 2, 3, 4],
                        "label": [1, 0, 1, 0]})
    seq = build_sequences(log, ["item_id"], max_len=4, history_mask=log.label == 1)
    assert len(seq) == 4
    assert list(seq.hist_item_id[3])[:2] == [3, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 6)),
                min_size=1, max_size=40),
       st.integers(1, 6), st.booleans())
def test_no_history_entry_is_later_than_its_target(rows, max_len, include_ties):
    """Any log (ties, repeated items): histories hold only earlier rows of the same user."""
    log = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    log["row"] = np.arange(len(log))
    seq = build_sequences(log, ["row"], max_len=max_len, include_ties=include_ties)
    for i, r in seq.iterrows():
        past = [v for v in r.hist_row if v is not None]
        assert len(past) == r.hist_len <= max_len
        assert i not in past
        for j in past:
            assert log.user_id[j] == r.user_id
            assert log.timestamp[j] <= r.timestamp
            if not include_ties:
                assert log.timestamp[j] < r.timestamp
        # most recent first, and nothing earlier skipped when the history is not full
        times = [log.timestamp[j] for j in past]
        assert times == sorted(times, reverse=True)
        same = log[log.user_id == r.user_id]
        older = same.timestamp < r.timestamp
        if include_ties:   # ties: earlier by item id, then by row position
            tie = same.timestamp == r.timestamp
            older |= tie & ((same.item_id < r.item_id)
                            | ((same.item_id == r.item_id) & (same.index < i)))
        assert r.hist_len == min(max_len, int(older.sum()))
    uncapped = history_lengths(log, include_ties=include_ties)
    assert (np.minimum(uncapped, max_len) == seq.hist_len.to_numpy()).all()


def test_sequence_split_pipeline_puts_each_row_in_one_split():
    log = _log(n=300, seed=3)
    log["split"] = time_split(log, by="user")
    seq = build_sequences(log, ["item_id"], max_len=5)
    keys = seq[["user_id", "item_id", "timestamp"]].astype(str).agg("|".join, axis=1)
    owners = seq.assign(k=keys).groupby("k").split.nunique()
    # duplicates of the same (user, item, time) may exist in a random log; they must
    # still fall into one split because the split orders by time then item.
    assert (owners == 1).all()
    pre = Preprocessor(sparse=["item_id"], sequence=["hist_item_id"],
                       sequence_sources={"hist_item_id": "item_id"}, max_len=5)
    pre.fit(seq[seq.split == "train"])
    x, _ = pre.transform(seq, label=None)
    assert x["hist_item_id"].shape == (len(seq), 5)
    lens = (x["hist_item_id"] != PAD).sum(1)
    assert lens.tolist() == seq.hist_len.tolist()
    (f,) = [f for f in pre.features() if isinstance(f, SequenceFeature)]
    assert f.shared_with == "item_id"
