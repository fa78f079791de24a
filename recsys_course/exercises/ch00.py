"""Checks for the exercises of chapter 00 (a tour of the data).

Learners call, in the chapter's notebook::

    from recsys_course.exercises.ch00 import check_click_rate, check_time_split
    check_click_rate(click_rate)
    check_time_split(time_split)

The exercises, as the notebook states them
------------------------------------------
``click_rate(ratings, threshold) -> float``
    The share (between 0 and 1) of the rows of ``ratings`` whose ``rating`` is at least
    ``threshold``: a rating equal to the threshold counts as a click.

``time_split(df, frac) -> (train, test)``
    A global temporal split of a ratings DataFrame with a ``timestamp`` column. Sort the
    timestamps; the cut time is the timestamp at position ``int(frac * len(df))``
    (0-based) in that order. ``train`` holds the ratings strictly before the cut time,
    ``test`` all the others. So every train timestamp is earlier than every test
    timestamp, ratings made at the same moment never straddle the split (when the cut
    falls inside a group of equal timestamps the whole group goes to test), and train has
    ``int(frac * len(df))`` rows when there are no such ties. Both keep all the input's
    columns; every rating is in exactly one of them.

The hidden cases are small synthetic DataFrames built here (never shown to learners);
the reference solutions are private (``_reference_*``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .core import (describe, exercise, expect_close, expect_equal, expect_scalar, expect_type,
                   fail)

RATING = "rating"
TIME = "timestamp"


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_click_rate(ratings: pd.DataFrame, threshold: float) -> float:
    return float((ratings[RATING] >= threshold).mean())


def _reference_time_split(df: pd.DataFrame, frac: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    times = np.sort(df[TIME].to_numpy())
    k = int(frac * len(df))
    if k >= len(df):
        return df.copy(), df.iloc[:0].copy()
    cut = times[k]
    return df[df[TIME] < cut].copy(), df[df[TIME] >= cut].copy()


# ----------------------------------------------------------------------------------------
# Hidden cases
# ----------------------------------------------------------------------------------------
def _ratings(ratings, timestamps=None, index=None) -> pd.DataFrame:
    n = len(ratings)
    rng = np.random.default_rng(n)
    if timestamps is None:
        timestamps = 1_000_000 + np.arange(n) * 60
    return pd.DataFrame(
        {"user_id": rng.integers(2, 50, n), "item_id": np.arange(100, 100 + n),
         RATING: ratings, TIME: np.asarray(timestamps, dtype=np.int64)},
        index=index if index is not None else rng.permutation(np.arange(7, 7 + 3 * n, 3)))


def _click_rate_cases():
    yield "six integer ratings, threshold 4", _ratings([5, 4, 4, 3, 1, 4]), 4
    yield ("half-star ratings, threshold 3.5",
           _ratings([3.5, 4.0, 2.5, 3.0, 5.0, 0.5, 3.5, 4.5]), 3.5)
    yield "a threshold that is not one of the ratings", _ratings([1, 2, 2, 5, 5, 4, 1]), 3
    yield "a single rating, below the threshold", _ratings([2]), 4
    yield "every rating at or above the threshold", _ratings([3, 4, 5, 3]), 3


def _shuffled(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=seed)


def _time_split_cases():
    t0 = 1_600_000_000
    yield ("10 ratings with distinct timestamps, not in time order, frac 0.8",
           _shuffled(_ratings([4] * 10, t0 + np.arange(10) * 17), 1), 0.8)
    yield ("3 ratings share the timestamp where the cut falls, frac 0.6",
           _shuffled(_ratings([3, 5, 4, 2, 5, 4, 4, 1, 3, 5],
                              t0 + np.array([0, 1, 2, 3, 4, 5, 5, 5, 6, 7]) * 60), 2), 0.6)
    yield ("12 ratings, frac 0.7 (frac * n is not a whole number)",
           _shuffled(_ratings([5, 3] * 6, t0 + np.arange(12) * 3600), 3), 0.7)
    yield ("a group of 4 ratings at the same moment around the cut, frac 0.5",
           _shuffled(_ratings([1, 2, 3, 4, 5, 4, 3, 2],
                              t0 + np.array([0, 0, 9, 9, 9, 9, 20, 20])), 4), 0.5)


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
@exercise("ch00", "click_rate", title="share of ratings at or above a threshold")
def check_click_rate(fn, run):
    """Check ``fn(ratings, threshold) -> float``, the share of ratings >= threshold."""
    for name, df, threshold in _click_rate_cases():
        with run.case(name):
            got = run.call(fn, df, threshold)
            value = expect_scalar(got, "the click rate")
            share = _reference_click_rate(df, threshold)
            above = float((df[RATING] > threshold).mean())
            expect_close(value, share, what="the click rate", atol=1e-9, rtol=0.0, mistakes={
                "ratings strictly above the threshold (> instead of >=): a rating equal "
                "to the threshold counts as a click": above,
                "the share of ratings BELOW the threshold": 1.0 - share,
                "only the ratings EQUAL to the threshold (== instead of >=)":
                    float((df[RATING] == threshold).mean()),
                "the number of clicks rather than their share (divide by the number of "
                "ratings)": share * len(df),
                "a percentage: return a share between 0 and 1": 100.0 * share,
            })


def _keys(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(frame["user_id"].tolist(), frame["item_id"].tolist()))


@exercise("ch00", "time_split", title="global temporal train/test split")
def check_time_split(fn, run):
    """Check ``fn(df, frac) -> (train, test)``, a global time split that keeps ties together."""
    for name, df, frac in _time_split_cases():
        with run.case(name):
            got = run.call(fn, df, frac)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                fail(f"your function should return two DataFrames (train, test), but "
                     f"returned {describe(got)}.",
                     hint="end with `return train, test`.")
            train, test = got
            expect_type(train, pd.DataFrame, "train (the first value returned)")
            expect_type(test, pd.DataFrame, "test (the second value returned)")
            for part, frame in (("train", train), ("test", test)):
                missing = [c for c in df.columns if c not in frame.columns]
                if missing:
                    fail(f"{part} lost the column(s) {missing}; keep all the input's columns "
                         f"{list(df.columns)}.")

            # every rating in exactly one part
            given = set(_keys(df))
            train_keys, test_keys = _keys(train), _keys(test)
            both = set(train_keys) & set(test_keys)
            if both:
                fail(f"{len(both)} rating(s) appear in both train and test; every rating "
                     f"must be in exactly one of them.")
            for part, keys in (("train", train_keys), ("test", test_keys)):
                if len(keys) != len(set(keys)):
                    fail(f"{part} contains {len(keys) - len(set(keys))} duplicated rating(s).")
                if set(keys) - given:
                    fail(f"{part} contains rating(s) that are not in the input.")
            lost = given - set(train_keys) - set(test_keys)
            if lost:
                fail(f"{len(lost)} of the {len(df)} ratings are in neither train nor test.")

            if len(train) and len(test):
                last_train, first_test = train[TIME].max(), test[TIME].min()
                if last_train > first_test:
                    n_late = int((train[TIME] > first_test).sum())
                    fail(f"not split by time: {n_late} train rating(s) are later than the "
                         f"earliest test rating (train goes up to timestamp {last_train}, test "
                         f"starts at {first_test}).",
                         hint="sort by the timestamp first: the rows do not arrive in time "
                              "order.")
                if last_train == first_test:
                    in_train = int((train[TIME] == last_train).sum())
                    in_test = int((test[TIME] == last_train).sum())
                    fail(f"ratings made at the same moment are split up: timestamp "
                         f"{last_train} has {in_train} rating(s) in train and {in_test} in "
                         f"test.",
                         hint="the cut time is the timestamp at position int(frac * len(df)) "
                              "in time order; train keeps only ratings strictly before it, so "
                              "the whole group of ties goes to test.")

            ref_train, _ = _reference_time_split(df, frac)
            n = len(df)
            times = np.sort(df[TIME].to_numpy())
            k = int(frac * n)
            cut_in_ties = 0 < k < n and times[k - 1] == times[k]
            mistakes = {}
            if cut_in_ties:
                mistakes["the group of tied ratings at the cut put in train (it belongs in "
                         "test: train is strictly before the cut time)"] = \
                    int((df[TIME] <= times[k]).sum())
            mistakes[f"rounding frac * n up (use int(frac * n) = {k})"] = math.ceil(frac * n)
            expect_equal(len(train), len(ref_train),
                         what=f"the number of rows in train (input: {n} ratings, frac {frac})",
                         mistakes=mistakes)
