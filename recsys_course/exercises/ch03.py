"""Checks for the exercises of chapter 03 (DeepFM in depth, on the Criteo format).

Learners call, in the chapter's notebook::

    from recsys_course.exercises.ch03 import (check_log_bins, check_one_hot_fields,
                                              check_deepfm_first_order)
    check_log_bins(log_bins)
    check_one_hot_fields(one_hot_fields)
    check_deepfm_first_order(deepfm_first_order)

The exercises, as the notebook states them
------------------------------------------
``log_bins(values) -> numpy array``
    The Criteo winners' discretisation of counts. ``values`` is a 1-D float numpy array
    of whole-number counts that may hold NaN (missing) and negative numbers. Return a
    float array of the same shape: ``floor(ln(v) ** 2)`` where ``v > 2`` (natural
    logarithm), ``v - 2`` elsewhere, NaN where the input is NaN. The two branches must
    never share a bin (the log bins are >= 1, the small counts' bins <= 0).

``one_hot_fields(ids, vocab_sizes) -> tensor``
    The input layer of the DeepFM figure. ``ids`` is an int64 tensor (B, F): the code
    of each of F fields, field f's codes in ``0 .. vocab_sizes[f] - 1``. Return a float
    tensor (B, sum(vocab_sizes)): each field owns a block of columns, in field order
    (field 0 first), and row b has a 1 in column ``offset_f + ids[b, f]`` of each field's
    block (``offset_f`` = sum of the vocabulary sizes of the fields before f), 0
    elsewhere. So every row has exactly F ones.

``deepfm_first_order(ids, dense, weights, dense_weights, bias) -> tensor``
    The paper's first-order term ``<w, x>`` for a batch. ``ids`` int64 (B, F);
    ``dense`` float (B, J); ``weights`` a list of F float tensors, ``weights[f]`` of shape
    (vocab_f,), one scalar per code of field f; ``dense_weights`` float (J,); ``bias`` a
    0-d float tensor. Return a float tensor (B,):
    ``bias + sum_f weights[f][ids[:, f]] + sum_j dense_weights[j] * dense[:, j]``.

The hidden cases are built here (never shown to learners); the reference solutions are
private (``_reference_*``).
"""
from __future__ import annotations

import numpy as np
import torch

from .core import CheckFailed, describe, exercise, expect_close, expect_shape, expect_type, fail


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_log_bins(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.floor(np.log(np.where(v > 2, v, 3.0)) ** 2)             # >= 1
    return np.where(np.isnan(v), np.nan, np.where(v > 2, big, v - 2))    # v - 2 <= 0


def _reference_one_hot_fields(ids: torch.Tensor, vocab_sizes) -> torch.Tensor:
    sizes = torch.as_tensor(list(vocab_sizes), dtype=torch.long)
    offsets = torch.cumsum(sizes, 0) - sizes                            # (F,)
    out = torch.zeros(ids.shape[0], int(sizes.sum()))
    out.scatter_(1, ids.long() + offsets, 1.0)                          # (B, sum V)
    return out


def _reference_deepfm_first_order(ids, dense, weights, dense_weights, bias) -> torch.Tensor:
    per_field = torch.stack([w[ids[:, f]] for f, w in enumerate(weights)], dim=1)  # (B, F)
    return bias + per_field.sum(dim=1) + dense @ dense_weights                    # (B,)


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------
def _as_float_array(got, what: str) -> np.ndarray:
    """numpy arrays, lists, tensors and pandas objects (also nullable Int64 with <NA>)."""
    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    if hasattr(got, "to_numpy"):
        try:
            return got.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            got = got.to_numpy()
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{what} should be numbers (NaN for missing), but got {describe(got)} that "
             "cannot be read as floats.",
             hint="return a float numpy array, e.g. np.floor(...) of a float array.")
        raise AssertionError  # unreachable


# ----------------------------------------------------------------------------------------
# Hidden cases
# ----------------------------------------------------------------------------------------
def _log_bins_cases(seed: int = 3, n: int = 40):
    yield ("small counts around the threshold 2",
           np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0]))
    yield ("large counts, a missing value and negative counts (I2 has -1 .. -3)",
           np.array([10.0, 100.0, 1000.0, np.nan, -1.0, -3.0, 507333.0]))
    rng = np.random.default_rng(seed)
    counts = np.floor(rng.lognormal(2.0, 2.0, n))
    negative = rng.random(n) < 0.1
    counts[negative] = -rng.integers(1, 4, int(negative.sum()))   # I2's counts -1 .. -3
    counts[rng.random(n) < 0.2] = np.nan
    yield f"{n} log-normal counts with missing values (seed {seed})", counts
    yield "a single count", np.array([55.0])


def _shared_bin(values: np.ndarray, bins: np.ndarray) -> str | None:
    """A sentence naming a bin that holds a count <= 2 and a count > 2, or None."""
    known = ~np.isnan(values) & ~np.isnan(bins)
    v, b = values[known], bins[known]
    small, large = b[v <= 2], b[v > 2]
    common = np.intersect1d(small, large)
    if common.size == 0:
        return None
    c = common[0]
    return (f"bin {c:g} holds the small count {v[(v <= 2) & (b == c)][0]:g} and the large "
            f"count {v[(v > 2) & (b == c)][0]:g}: the embedding of that bin cannot tell them "
            "apart.")


def _one_hot_cases():
    g = torch.Generator().manual_seed(5)
    yield "3 rows, 2 fields of sizes 4 and 3", torch.tensor([[0, 2], [3, 0], [1, 1]]), [4, 3]
    sizes = [5, 2, 7, 3]
    ids = torch.stack([torch.randint(0, v, (6,), generator=g) for v in sizes], dim=1)
    yield "6 rows, 4 fields of different sizes", ids, sizes
    yield "1 row, 1 field", torch.tensor([[2]]), [3]


def _first_order_cases():
    g = torch.Generator().manual_seed(11)

    def case(b, sizes, j):
        ids = torch.stack([torch.randint(0, v, (b,), generator=g) for v in sizes], dim=1)
        dense = torch.rand(b, j, generator=g)
        weights = [torch.randn(v, generator=g) for v in sizes]
        return ids, dense, weights, torch.randn(j, generator=g), torch.tensor(0.7)

    yield "4 rows, 2 fields, 1 dense feature", *case(4, [3, 5], 1)
    yield "8 rows, 3 fields, 2 dense features", *case(8, [6, 2, 4], 2)
    yield "1 row, 1 field, 3 dense features", *case(1, [4], 3)


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
@exercise("ch03", "log_bins", title="the Criteo log-squared discretisation")
def check_log_bins(fn, run, seed: int = 3, n: int = 40):
    """Check ``fn(values) -> array``: floor(ln(v)^2) for v > 2, v - 2 else, NaN kept.
    ``seed`` and ``n`` draw the random case (hidden grading may use others)."""
    for name, values in _log_bins_cases(seed, n):
        with run.case(name):
            got = run.call(fn, values, forbid_mutation=True)
            arr = _as_float_array(got, "the bins")
            expected = _reference_log_bins(values)
            expect_shape(arr, expected.shape, "the bins")
            missing = np.isnan(values)
            if missing.any() and not np.isnan(arr[missing]).all():
                shown = arr[missing][~np.isnan(arr[missing])][0]
                fail(f"a missing count (NaN) became {shown:g}; it must stay NaN so that "
                     "the encoder later gives 'missing' a category of its own.",
                     hint="np.floor and np.log keep NaN as NaN; do not fill it.")
            v = np.where(missing, 3.0, values)
            with np.errstate(divide="ignore", invalid="ignore"):
                big = v > 2
                lv = np.log(np.where(big, v, 3.0))
                small = v - 2
                mistakes = {
                    "small counts keeping their own value (floor(v) instead of v - 2): then "
                    "bin 1 holds the counts 1, 3 and 4 and bin 2 the counts 2 and 5":
                        np.where(big, np.floor(lv ** 2), np.floor(v)),
                    "v + 2 instead of v - 2 for the small counts (they land on the log bins)":
                        np.where(big, np.floor(lv ** 2), v + 2),
                    "2 - v instead of v - 2 for the small counts (0 lands on bin 2)":
                        np.where(big, np.floor(lv ** 2), 2 - v),
                    "small counts (v <= 2) all set to 0 (they lose their own bins)":
                        np.where(big, np.floor(lv ** 2), 0.0),
                    "log base 10 instead of the natural logarithm":
                        np.where(big, np.floor(np.log10(np.where(big, v, 3.0)) ** 2), small),
                    "ln(v ** 2) = 2 ln(v) instead of ln(v) ** 2":
                        np.where(big, np.floor(2 * lv), small),
                    "ln(v) ** 2 without the floor": np.where(big, lv ** 2, small),
                    "rounding ln(v) ** 2 to the nearest integer instead of taking the floor":
                        np.where(big, np.round(lv ** 2), small),
                    "log1p(v) instead of ln(v)":
                        np.where(big, np.floor(np.log1p(np.where(big, v, 0.0)) ** 2), small),
                    "floor(ln(v) ** 2) for every count, also v <= 2 (ln(0) is -inf, ln(1) "
                    "is 0, ln(-1) is NaN): small counts take v - 2":
                        np.floor(np.log(v) ** 2),
                }
            mistakes = {k: np.where(missing, np.nan, m) for k, m in mistakes.items()}
            try:
                expect_close(arr, expected, what="the bins", atol=0.0, rtol=0.0,
                             mistakes=mistakes)
            except CheckFailed as e:
                clash = _shared_bin(values, arr)
                if e.hint is None and clash is not None:
                    fail(e.detail, hint=clash + " Counts v <= 2 go to v - 2 (0 or less), "
                                                "counts v > 2 to floor(ln(v) ** 2) (1 or more).")
                raise


@exercise("ch03", "one_hot_fields", title="multi-field one-hot input of the DeepFM figure")
def check_one_hot_fields(fn, run):
    """Check ``fn(ids (B, F), vocab_sizes) -> (B, sum V)`` float one-hot blocks."""
    for name, ids, sizes in _one_hot_cases():
        with run.case(name):
            got = run.call(fn, ids, sizes, forbid_mutation=True)
            expect_type(got, torch.Tensor, "the one-hot matrix")
            b, total = ids.shape[0], sum(sizes)
            expect_shape(got, (b, total), "the one-hot matrix")
            if not got.is_floating_point():
                fail(f"the one-hot matrix has dtype {got.dtype}; it must be a float tensor, "
                     "since it is multiplied by a float weight matrix (x @ W).",
                     hint="build it with torch.zeros(...) (float by default) or call .float().")
            expected = _reference_one_hot_fields(ids, sizes)
            if len(sizes) > 1:
                flat = torch.zeros(b, total)
                flat.scatter_(1, ids.long().clamp(max=total - 1), 1.0)
                reverse = _reference_one_hot_fields(ids.flip(1), list(sizes)[::-1])
                for wrong, text in (
                        (flat, "no field offsets: every field's code counted from column 0, "
                               "so fields overwrite each other"),
                        (reverse, "the fields' blocks in reverse order")):
                    if torch.equal(got.float(), wrong) and not torch.equal(wrong, expected):
                        fail(f"the ones are in the wrong columns: this is what you get with "
                             f"{text}.",
                             hint="field f's block starts at offset_f = sum(vocab_sizes[:f]); "
                                  "put its 1 at column offset_f + ids[b, f].")
            if ((got != 0) & (got != 1)).any():
                fail("the one-hot matrix holds values other than 0 and 1.")
            ones = (got == 1).sum(dim=1)
            if (ones != len(sizes)).any():
                r = int(torch.nonzero(ones != len(sizes))[0, 0])
                fail(f"row {r} has {int(ones[r])} ones, but every row needs exactly one per "
                     f"field ({len(sizes)}).",
                     hint="each field has its own block of columns; two fields never share "
                          "a column.")
            expect_close(got, expected, what="the one-hot matrix", atol=0.0, rtol=0.0)


@exercise("ch03", "deepfm_first_order", title="the paper's first-order term of DeepFM")
def check_deepfm_first_order(fn, run):
    """Check ``fn(ids, dense, weights, dense_weights, bias) -> (B,)``."""
    for name, ids, dense, weights, dense_weights, bias in _first_order_cases():
        with run.case(name):
            got = run.call(fn, ids, dense, weights, dense_weights, bias, forbid_mutation=True)
            expect_type(got, torch.Tensor, "the first-order term")
            expected = _reference_deepfm_first_order(ids, dense, weights, dense_weights, bias)
            b = ids.shape[0]
            if got.dim() == 0 and b > 1:
                fail("the first-order term is a single number, but it needs one value per "
                     f"row ({b} rows): do not sum over the batch.",
                     hint="sum over the fields only (dim=1), keep the batch dimension.")
            expect_shape(got, (b,), "the first-order term")
            per_field = torch.stack([w[ids[:, f]] for f, w in enumerate(weights)], dim=1)
            codes = per_field.sum(dim=1)
            mistakes = {
                "no bias": expected - bias,
                "no dense part (sum_j dense_weights[j] * dense[:, j] is missing)":
                    expected - dense @ dense_weights,
                "the categorical weights only (no bias, no dense part)": codes,
                "the weights of field 0 used for every field":
                    bias + sum(weights[0][ids[:, f].clamp(max=len(weights[0]) - 1)]
                               for f in range(ids.shape[1])) + dense @ dense_weights,
                "the dense values added without their weights":
                    bias + codes + dense.sum(dim=1),
            }
            expect_close(got, expected, what="the first-order term", atol=1e-5, rtol=1e-5,
                         mistakes=mistakes)


__all__ = ["check_log_bins", "check_one_hot_fields", "check_deepfm_first_order"]
