"""Chapter 04's exercise checks: references pass, typical mistakes get specific messages."""
import numpy as np
import pytest
import torch

from recsys_course.exercises.ch04 import (_reference_history_builder,
                                          _reference_masked_attention_pooling,
                                          _reference_masked_dice_train, check_history_builder,
                                          check_masked_attention_pooling, check_masked_dice_train)
from recsys_course.exercises.core import NotAttempted
from check_helpers import failure


def test_references_pass(capsys, monkeypatch):
    monkeypatch.delenv("RECSYS_GRADING", raising=False)
    assert check_history_builder(_reference_history_builder) is True
    assert check_masked_attention_pooling(_reference_masked_attention_pooling) is True
    assert check_masked_dice_train(_reference_masked_dice_train) is True
    out = capsys.readouterr().out
    assert "✓ check_history_builder: 4 hidden cases passed" in out
    assert "✓ check_masked_attention_pooling: 4 hidden cases passed" in out
    assert "✓ check_masked_dice_train: 3 hidden cases passed" in out


def test_the_notebooks_solutions_pass():
    """The reference solutions shown in the notebook, written independently of ours."""
    def history_builder(log, max_len):
        users, items, times = (log[c].to_numpy() for c in ("user_id", "item_id", "timestamp"))
        out = []
        for u, t in zip(users, times):
            earlier = np.flatnonzero((users == u) & (times < t))
            newest_first = earlier[np.argsort(-times[earlier], kind="stable")]
            out.append([int(i) for i in items[newest_first[:max_len]]])
        return out

    def pooling(scores, keys, mask, softmax):
        w = torch.nan_to_num(torch.softmax(scores.masked_fill(~mask, float("-inf")), 1)) \
            if softmax else scores
        return (w.masked_fill(~mask, 0.0).unsqueeze(-1) * keys).sum(1)

    assert check_history_builder(history_builder)
    assert check_masked_attention_pooling(pooling)
    def masked_dice_train(s, mask, alpha, eps):
        real = s[mask]                                        # (n_real, H)
        mean, var = real.mean(0), real.var(0, unbiased=False)
        p = torch.sigmoid((s - mean) / torch.sqrt(var + eps))
        out = p * s + (1 - p) * alpha * s
        return torch.where(mask.unsqueeze(-1), out, torch.zeros_like(out))

    assert check_masked_dice_train(masked_dice_train)


# --- history builder --------------------------------------------------------------------
def test_history_one_list_per_user_and_ties_get_different_messages():
    per_user = failure(check_history_builder,
                       lambda log, m: _reference_history_builder(log, m)[:log.user_id.nunique()])
    ties = failure(check_history_builder,
                   lambda log, m: _reference_history_builder(log, m, strict=False))
    assert "returned 1 histories for a log of 5 rows" in per_user
    assert "one list per user?" in per_user
    assert "hidden case 3" in ties and "`<=` instead of `<`" in ties
    assert per_user != ties


def test_history_order_truncation_and_self():
    oldest_first = failure(check_history_builder,
                           lambda log, m: _reference_history_builder(log, m, newest_first=False))
    assert "not most recent first" in oldest_first
    oldest_kept = failure(check_history_builder,
                          lambda log, m: _reference_history_builder(log, m, keep_recent=False))
    assert "OLDEST max_len" in oldest_kept
    itself = failure(check_history_builder,
                     lambda log, m: _reference_history_builder(log, m, include_self=True))
    assert "the target itself" in itself
    uncut = failure(check_history_builder, lambda log, m: _reference_history_builder(log, 99))
    assert "no max_len cut" in uncut


def test_history_future_items_are_called_leakage():
    def everything_of_the_user(log, max_len):
        users, items = log.user_id.to_numpy(), log.item_id.to_numpy()
        return [[int(i) for i in items[(users == u)][:max_len]] for u in users]
    msg = failure(check_history_builder, everything_of_the_user)
    assert "holds the target itself" in msg

    def all_others_newest_first(log, max_len):
        ordered = log.sort_values("timestamp", ascending=False)
        return [[int(j) for j in ordered.item_id[(ordered.user_id == u) & (ordered.item_id != i)]][:max_len]
                for u, i in zip(log.user_id, log.item_id)]
    msg = failure(check_history_builder, all_others_newest_first)
    assert "AFTER the target: that is leakage" in msg


def test_history_not_attempted_and_wrong_type():
    def stub(log, max_len):
        raise NotImplementedError
    with pytest.raises(NotAttempted):
        check_history_builder(stub)
    assert "one list per row" in failure(check_history_builder, lambda log, m: 3)


# --- masked attention pooling ------------------------------------------------------------
def test_pooling_shape_error_and_padding_error_get_different_messages():
    shape = failure(check_masked_attention_pooling,
                    lambda s, k, m, sm: _reference_masked_attention_pooling(s, k, m, sm).unsqueeze(1))
    unmasked = failure(check_masked_attention_pooling,
                       lambda s, k, m, sm: _reference_masked_attention_pooling(
                           s, k, torch.ones_like(m), sm))
    assert "has shape (4, 1, 3) but should have shape (4, 3)" in shape
    assert "no mask: the padded positions were pooled too" in unmasked
    assert "values differ from the reference" in unmasked and "shape" not in unmasked.split("\n")[0][-40:]


def test_pooling_softmax_mistakes():
    def softmax_everywhere(s, k, m, sm):
        w = torch.softmax(s, 1) if sm else s
        return ((w * m).unsqueeze(-1) * k).sum(1)
    msg = failure(check_masked_attention_pooling, softmax_everywhere)
    assert "hidden case 3" in msg and "softmax over ALL positions" in msg

    def nan_rows(s, k, m, sm):
        w = torch.softmax(s.masked_fill(~m, float("-inf")), 1) if sm else s * m
        return (w.unsqueeze(-1) * k).sum(1)
    msg = failure(check_masked_attention_pooling, nan_rows)
    assert "hidden case 4" in msg and "came out as NaN" in msg

    msg = failure(check_masked_attention_pooling,
                  lambda s, k, m, sm: _reference_masked_attention_pooling(s, k, m, True))
    assert "hidden case 1" in msg and "a softmax although softmax=False" in msg


# --- Dice in training mode ---------------------------------------------------------------
def _dice(**mistake):
    return lambda s, m, a, e: _reference_masked_dice_train(s, m, a, e, **mistake)


def test_dice_shape_error_and_padding_statistics_get_different_messages():
    shape = failure(check_masked_dice_train,
                    lambda s, m, a, e: _reference_masked_dice_train(s, m, a, e).sum(-1))
    padding = failure(check_masked_dice_train, _dice(stats="all"))
    not_zeroed = failure(check_masked_dice_train, _dice(zero_padding=False))
    assert "has shape (4, 5) but should have shape (4, 5, 3)" in shape
    assert "hidden case 1" in padding and "padding included" in padding
    assert "must be 0" in not_zeroed
    assert len({shape, padding, not_zeroed}) == 3


def test_dice_statistics_over_the_wrong_axis_are_named():
    per_position = failure(check_masked_dice_train, _dice(stats="position"))
    per_sample = failure(check_masked_dice_train, _dice(stats="sample"))
    assert "per position over the rows" in per_position
    assert "torch-rechub's Dice" in per_sample


def test_dice_variance_eps_and_gate_mistakes_are_named():
    unbiased = failure(check_masked_dice_train, _dice(unbiased=True))
    eps_out = failure(check_masked_dice_train, _dice(eps_outside=True))
    swapped = failure(check_masked_dice_train, _dice(swap=True))
    assert "unbiased variance" in unbiased
    assert "hidden case 2" in eps_out and "eps added after the square root" in eps_out
    assert "p and 1 - p swapped" in swapped


def test_dice_rows_without_history_come_out_as_zeros():
    def nan_for_empty_rows(s, m, a, e):
        out = _reference_masked_dice_train(s, m, a, e)
        return torch.where(m.any(1)[:, None, None], out, torch.full_like(out, float("nan")))
    msg = failure(check_masked_dice_train, nan_for_empty_rows)
    assert "hidden case 2" in msg and "NaN" in msg
