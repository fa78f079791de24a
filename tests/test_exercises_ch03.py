"""Chapter-03 checks: the references pass; typical mistakes fail with specific messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_course.exercises.ch03 import (_reference_deepfm_first_order, _reference_log_bins,
                                          _reference_one_hot_fields, check_deepfm_first_order,
                                          check_log_bins, check_one_hot_fields)
from recsys_course.exercises.core import NotAttempted
from recsys_course.features import criteo_log_bins
from check_helpers import failure


def test_references_pass(capsys, monkeypatch):
    monkeypatch.delenv("RECSYS_GRADING", raising=False)
    assert check_log_bins(_reference_log_bins)
    assert check_one_hot_fields(_reference_one_hot_fields)
    assert check_deepfm_first_order(_reference_deepfm_first_order)
    out = capsys.readouterr().out
    assert "✓ check_log_bins: 4 hidden cases passed" in out
    assert "✓ check_one_hot_fields: 3 hidden cases passed" in out
    assert "✓ check_deepfm_first_order: 3 hidden cases passed" in out


def test_log_bins_agrees_with_the_package_and_accepts_a_nullable_series():
    values = np.array([0.0, 1.0, 2.0, 3.0, 1000.0, np.nan, -1.0])
    pkg = criteo_log_bins(values).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(_reference_log_bins(values), pkg)
    assert check_log_bins(lambda v: criteo_log_bins(v))          # Int64 with <NA> is fine


def test_log_bins_mistakes_get_specific_messages():
    def log10(v):
        return np.where(v > 2, np.floor(np.log10(np.where(v > 2, v, 3)) ** 2), v - 2)

    def no_floor(v):
        return np.where(v > 2, np.log(np.where(v > 2, v, 3)) ** 2, v - 2)

    def old_rule(v):                                             # small counts keep floor(v)
        return np.where(v > 2, np.floor(np.log(np.where(v > 2, v, 3)) ** 2), np.floor(v))

    def plus_two(v):
        return np.where(v > 2, np.floor(np.log(np.where(v > 2, v, 3)) ** 2), v + 2)

    def nan_to_zero(v):
        return np.nan_to_num(_reference_log_bins(v), nan=0.0)

    def column(v):                                               # shape error
        return _reference_log_bins(v)[:, None]

    msgs = {f.__name__: failure(check_log_bins, f)
            for f in (log10, no_floor, old_rule, plus_two, nan_to_zero, column)}
    assert "log base 10" in msgs["log10"]
    assert "without the floor" in msgs["no_floor"]
    assert "floor(v) instead of v - 2" in msgs["old_rule"] and "hidden case 1" in msgs["old_rule"]
    assert "bin 1 holds the counts 1, 3 and 4" in msgs["old_rule"]
    assert "v + 2 instead of v - 2" in msgs["plus_two"]
    assert "must stay NaN" in msgs["nan_to_zero"]
    assert "shape (8, 1)" in msgs["column"] and "size 1" in msgs["column"]
    assert len(set(msgs.values())) == len(msgs)


def test_log_bins_names_a_shared_bin_for_an_unlisted_mistake():
    def one_minus(v):                   # small counts to 1 - v: 0 -> 1 shares bin 1 with 3
        return np.where(v > 2, np.floor(np.log(np.where(v > 2, v, 3)) ** 2), 1 - v)

    msg = failure(check_log_bins, one_minus)
    assert "bin 1 holds the small count 0 and the large count 3" in msg


def test_log_bins_check_draws_its_random_case_from_the_seed(capsys):
    assert check_log_bins(_reference_log_bins, seed=123, n=500)
    assert "4 hidden cases passed" in capsys.readouterr().out

    def wrong_on_minus_two(v):          # only a -2 in the data exposes it
        out = _reference_log_bins(v)
        return np.where(v == -2, -3.0, out)
    seeds = [s for s in range(30)
             if not _passes(check_log_bins, wrong_on_minus_two, seed=s, n=400)]
    assert seeds, "no seed drew a -2; the random case never varies"


def _passes(check, fn, **kw) -> bool:
    try:
        return check(fn, **kw)
    except AssertionError:
        return False


def test_one_hot_fields_mistakes_get_specific_messages():
    def no_offsets(ids, sizes):
        out = torch.zeros(ids.shape[0], sum(sizes))
        for f in range(ids.shape[1]):
            out[torch.arange(ids.shape[0]), ids[:, f]] = 1.0
        return out

    def stacked(ids, sizes):                                     # (B, F, V) instead of blocks
        return torch.nn.functional.one_hot(ids, max(sizes)).float()

    def as_long(ids, sizes):
        return _reference_one_hot_fields(ids, sizes).long()

    def off_by_one(ids, sizes):                       # offset_f from the wrong sizes
        sizes_t = torch.tensor(sizes)
        offsets = torch.cumsum(sizes_t, 0) - sizes_t[0]        # own size, not the previous
        out = torch.zeros(ids.shape[0], sum(sizes))
        out.scatter_(1, (ids + offsets).clamp(max=sum(sizes) - 1), 1.0)
        return out

    m_offsets = failure(check_one_hot_fields, no_offsets)
    m_shape = failure(check_one_hot_fields, stacked)
    m_dtype = failure(check_one_hot_fields, as_long)
    m_shift = failure(check_one_hot_fields, off_by_one)
    assert "no field offsets" in m_offsets
    assert "has shape (3, 2, 4) but should have shape (3, 7)" in m_shape
    assert "must be a float tensor" in m_dtype
    assert "row 1 has 1 ones" in m_shift
    assert len({m_offsets, m_shape, m_dtype, m_shift}) == 4


def test_deepfm_first_order_mistakes_get_specific_messages():
    def no_bias(ids, dense, weights, dense_weights, bias):
        return _reference_deepfm_first_order(ids, dense, weights, dense_weights, bias) - bias

    def batch_sum(ids, dense, weights, dense_weights, bias):
        return _reference_deepfm_first_order(ids, dense, weights, dense_weights, bias).sum()

    def per_field(ids, dense, weights, dense_weights, bias):     # (B, F) not summed
        return torch.stack([w[ids[:, f]] for f, w in enumerate(weights)], dim=1)

    def column(ids, dense, weights, dense_weights, bias):
        return _reference_deepfm_first_order(ids, dense, weights, dense_weights, bias)[:, None]

    def unweighted_dense(ids, dense, weights, dense_weights, bias):
        codes = sum(w[ids[:, f]] for f, w in enumerate(weights))
        return bias + codes + dense.sum(dim=1)

    msgs = [failure(check_deepfm_first_order, f)
            for f in (no_bias, batch_sum, per_field, column, unweighted_dense)]
    assert "no bias" in msgs[0] and "should be" not in msgs[0].split("Hint")[1]
    assert "do not sum over the batch" in msgs[1]
    assert "has shape (4, 2) but should have shape (4,)" in msgs[2]
    assert "has shape (4, 1)" in msgs[3] and ".squeeze(-1)" in msgs[3]
    assert "without their weights" in msgs[4]
    assert len(set(msgs)) == len(msgs)


def test_stubs_are_not_attempted():
    def stub(*args):
        raise NotImplementedError

    for check in (check_log_bins, check_one_hot_fields, check_deepfm_first_order):
        with pytest.raises(NotAttempted):
            check(stub)
