"""The leaky sequence builders and the leakage report of chapter 04 (recsys_course.features)."""
import numpy as np
import pandas as pd
import pytest

from recsys_course.features import build_sequences, leakage_report, naive_sequences, time_split


def _log():
    # user 1: five events, two of them in the same second; user 2: three events
    return pd.DataFrame({"user_id": [1, 2, 1, 1, 2, 1, 1, 2],
                         "item_id": [10, 20, 11, 12, 21, 13, 14, 22],
                         "timestamp": [1, 5, 2, 2, 6, 3, 4, 7]})


def _hist(frame, col="hist_item_id"):
    return [[v for v in h if v is not None] for h in frame[col]]


def test_full_history_attaches_the_same_recent_history_to_every_row():
    out = naive_sequences(_log(), ["item_id", "timestamp"], max_len=3, how="full_history")
    assert len(out) == 8 and set(out.split) <= {"train", "valid", "test"}
    for _, r in out.iterrows():
        expected = {1: [14, 13, 12], 2: [22, 21, 20]}[r.user_id]
        assert [v for v in r.hist_item_id if v is not None] == expected
    rep = leakage_report(out)
    # user 1's row at time 1 sees 3 later events, etc.: count them by hand
    later = sum(sum(t > r.timestamp for t in r.hist_timestamp if t is not None)
                for _, r in out.iterrows())
    assert rep.entries_later_than_target == later > 0
    assert rep.histories_holding_target == 6          # the rows of 14, 13, 12 and 22, 21, 20
    assert rep.history_entries == 8 * 3


def test_sliding_window_counts_ties_as_before_and_puts_test_rows_in_train():
    out = naive_sequences(_log(), ["item_id", "timestamp"], max_len=10, how="sliding_window")
    test = out[out.split == "test"]
    assert sorted(test.item_id) == [14, 22]
    train_items = set(zip(out.user_id[out.split == "train"], out.item_id[out.split == "train"]))
    assert (1, 14) in train_items and (2, 22) in train_items        # the slip
    valid = out[out.split == "valid"]
    assert sorted(valid.item_id) == [13, 21]
    row12 = out[(out.item_id == 12) & (out.split == "train")].iloc[0]
    assert [v for v in row12.hist_item_id if v is not None] == [11, 10]   # 11: same second
    rep = leakage_report(out)
    assert rep.entries_later_than_target == 0
    assert rep.entries_same_time_as_target == 1
    assert rep.test_rows_also_in_train == 2
    # the first event of a user is never a target; short users are dropped
    assert 10 not in set(out.item_id) and 20 not in set(out.item_id)
    short = naive_sequences(_log(), ["item_id", "timestamp"], max_len=10, how="sliding_window",
                            min_len=4)
    assert set(short.user_id) == {1}


def test_sliding_window_keeps_the_users_first_max_len_events():
    out = naive_sequences(_log(), ["item_id", "timestamp"], max_len=3, how="sliding_window")
    user1 = out[out.user_id == 1]
    assert set(user1.item_id) == {11, 12}                 # events 4 and 5 are cut off
    assert user1[user1.split == "test"].item_id.tolist() == [12]


def test_the_leakage_free_pipeline_reports_zero_leaks():
    rng = np.random.default_rng(0)
    log = pd.DataFrame({"user_id": rng.integers(0, 20, 600), "item_id": rng.integers(0, 50, 600),
                        "timestamp": rng.integers(0, 40, 600)})
    rows = build_sequences(log, ["item_id", "timestamp"], max_len=8)
    rows["split"] = time_split(log, by="user")
    rep = leakage_report(rows)
    assert rep.rows == 600 and rep.history_entries > 0
    assert (rep.drop(["rows", "history_entries"]) == 0).all()
    leaky = leakage_report(naive_sequences(log, ["item_id", "timestamp"], max_len=8))
    assert leaky.entries_later_than_target > 0 and leaky.histories_holding_target > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="how"):
        naive_sequences(_log(), ["item_id"], how="random")
    with pytest.raises(KeyError):
        leakage_report(build_sequences(_log(), ["item_id"], max_len=2))   # no split, no times
