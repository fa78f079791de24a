"""Checks for the exercises of chapter 04 (DIN: attention over user behaviour).

Learners call, in the chapter's notebook::

    from recsys_course.exercises import ch04
    ch04.check_history_builder(history_builder)
    ch04.check_masked_attention_pooling(masked_attention_pooling)
    ch04.check_masked_dice_train(masked_dice_train)

The exercises, as the notebook states them
------------------------------------------
``history_builder(log, max_len) -> list of lists``
    ``log`` is a DataFrame with columns ``user_id``, ``item_id``, ``timestamp`` in no
    particular order. Return one list per row of ``log``, in the same row order: the
    ``item_id`` s of the same user's interactions with a timestamp **strictly smaller**
    than the row's, most recent first, at most ``max_len`` of them (the most recent
    ones). An interaction made at the same timestamp as the target is not in its
    history; neither is the target itself. A row with no earlier interaction gets ``[]``.

``masked_attention_pooling(scores, keys, mask, softmax) -> (B, D) tensor``
    ``scores`` (B, L) are the attention unit's raw scores, ``keys`` (B, L, D) the history
    embeddings, ``mask`` (B, L) bool, True at real positions. Padded positions may hold
    any values: they must not contribute. With ``softmax=False`` (the paper's default)
    return ``sum_j mask_j * score_j * key_j``; with ``softmax=True`` normalise the
    scores with a softmax over the real positions only, then sum. A row without any real
    position returns the zero vector (not NaN).

``masked_dice_train(s, mask, alpha, eps) -> (B, L, H) tensor``
    The paper's Dice in training mode, inside the activation unit: ``s`` (B, L, H) holds
    the hidden layer's pre-activations at every history position, ``mask`` (B, L) is
    True at real positions; padded positions may hold any values. Per neuron (the last
    axis), ``E[s]`` and ``Var[s]`` are the mean and the *biased* variance over the real
    positions only (all rows, all real positions together); then
    ``p = sigmoid((s - E[s]) / sqrt(Var[s] + eps))`` and the output is
    ``p * s + (1 - p) * alpha * s`` at real positions and 0 at padded ones. ``alpha``
    is (H,).

The hidden cases are small synthetic inputs built here; the reference solutions are
private (``_reference_*``). Chapter 04.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .core import describe, exercise, expect_close, expect_shape, fail

USER, ITEM, TIME = "user_id", "item_id", "timestamp"


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_history_builder(log: pd.DataFrame, max_len: int, strict: bool = True,
                               newest_first: bool = True, keep_recent: bool = True,
                               include_self: bool = False) -> list[list]:
    """The reference, and (through its switches) the usual mistakes."""
    users, items, times = log[USER].to_numpy(), log[ITEM].to_numpy(), log[TIME].to_numpy()
    out = []
    for i in range(len(log)):
        same = users == users[i]
        earlier = times < times[i] if strict else times <= times[i]
        sel = same & earlier
        sel[i] = include_self                                   # never, unless the mistake
        idx = np.flatnonzero(sel)
        idx = idx[np.lexsort((items[idx], -times[idx]))]        # newest first, ties by item
        idx = idx[:max_len] if keep_recent else idx[::-1][:max_len][::-1]
        if not newest_first:
            idx = idx[::-1]
        out.append([int(v) for v in items[idx]])
    return out


def _reference_masked_attention_pooling(scores, keys, mask, softmax: bool = False):
    mask = mask.bool()
    if softmax:
        w = scores.masked_fill(~mask, float("-inf"))
        w = torch.softmax(w, dim=1)
        w = torch.nan_to_num(w, nan=0.0).masked_fill(~mask, 0.0)   # empty rows -> 0
    else:
        w = scores * mask
    return (w.unsqueeze(-1) * keys).sum(dim=1)                      # (B, D)


def _reference_masked_dice_train(s, mask, alpha, eps, stats: str = "real",
                                 unbiased: bool = False, eps_outside: bool = False,
                                 swap: bool = False, zero_padding: bool = True):
    """The reference, and (through its switches) the usual mistakes. ``stats``: over the
    real positions (``"real"``), over every position, padding included (``"all"``), per
    sample over its neurons (``"sample"``, torch-rechub's Dice) or per position over the
    rows (``"position"``, the (N, H) code applied to (B, L, H) unchanged)."""
    mask = mask.bool()
    H = s.shape[-1]
    if stats == "real":
        rows = s[mask]                                                  # (n_real, H)
        mean, var = rows.mean(0), rows.var(0, unbiased=unbiased)        # (H,)
    elif stats == "all":
        rows = s.reshape(-1, H)
        mean, var = rows.mean(0), rows.var(0, unbiased=unbiased)
    elif stats == "sample":
        mean = s.mean(-1, keepdim=True)                                 # (B, L, 1)
        var = s.var(-1, unbiased=unbiased, keepdim=True)
    else:
        mean, var = s.mean(0), s.var(0, unbiased=unbiased)              # (L, H)
    z = (s - mean) / (var.sqrt() + eps if eps_outside else torch.sqrt(var + eps))
    p = torch.sigmoid(z)
    if swap:
        p = 1 - p
    out = p * s + (1 - p) * alpha * s                                   # (B, L, H)
    return out * mask[..., None] if zero_padding else out


# ----------------------------------------------------------------------------------------
# Hidden cases
# ----------------------------------------------------------------------------------------
def _log(rows, seed) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[USER, ITEM, TIME])
    rng = np.random.default_rng(seed)
    df = df.iloc[rng.permutation(len(df))]                     # not in time order
    df.index = rng.permutation(np.arange(100, 100 + 7 * len(df), 7))   # a non-trivial index
    return df


def _history_cases():
    yield ("one user, distinct times", _log(
        [(1, 10, 100), (1, 11, 200), (1, 12, 300), (1, 13, 400), (1, 14, 500)], 1), 3)
    yield ("two users interleaved in time", _log(
        [(1, 10, 100), (2, 20, 150), (1, 11, 200), (2, 21, 250), (2, 22, 260),
         (1, 12, 300), (2, 23, 270)], 2), 4)
    yield ("interactions at the same timestamp as the target", _log(
        [(5, 30, 10), (5, 31, 20), (5, 32, 20), (5, 33, 30), (7, 40, 20), (7, 41, 20),
         (7, 42, 25)], 3), 5)
    yield ("a long history cut to max_len", _log(
        [(3, 50 + k, 1000 + 10 * k) for k in range(9)] + [(4, 60, 1005)], 4), 4)


def _canonical(hist, times_of: dict) -> list:
    """Order ties (equal timestamps) by item so any tie order compares equal."""
    return sorted(hist, key=lambda item: (-times_of.get(item, 0), item))


def _scores_case(seed, B, L, D, lens):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(L)[None, :] < torch.as_tensor(lens)[:, None]        # (B, L)
    scores = torch.randn(B, L, generator=g) * 2
    keys = torch.randn(B, L, D, generator=g)
    # padded positions hold garbage: they must not matter
    scores = torch.where(mask, scores, torch.full_like(scores, 3.0))
    keys = torch.where(mask[..., None], keys, torch.full_like(keys, 5.0))
    return scores, keys, mask


def _pooling_cases():
    for softmax in (False, True):
        kind = "softmax" if softmax else "raw weights"
        yield f"{kind}, 4 rows of different lengths", _scores_case(1, 4, 5, 3, [5, 2, 3, 1]), softmax
        yield (f"{kind}, one row without history", _scores_case(2, 3, 4, 2, [0, 4, 2]), softmax)


def _dice_cases():
    g = torch.Generator().manual_seed(4)

    def block(B, L, H, lens, scale=2.0):
        mask = torch.arange(L)[None, :] < torch.as_tensor(lens)[:, None]    # (B, L)
        s = torch.randn(B, L, H, generator=g) * scale + 0.5
        s = torch.where(mask[..., None], s, torch.full_like(s, 7.0))        # padding: garbage
        return s, mask

    s, mask = block(4, 5, 3, [5, 2, 3, 1])
    yield ("4 rows of different lengths, 3 neurons", s, mask, torch.tensor([0.25, -0.5, 0.1]), 1e-8)
    s, mask = block(3, 4, 4, [4, 0, 2], scale=0.3)
    yield ("a large eps and a row without history", s, mask,
           torch.tensor([0.2, 0.2, -0.3, 0.0]), 0.5)
    s, mask = block(3, 3, 2, [3, 3, 3])
    yield ("no padding at all", s, mask, torch.tensor([0.1, -0.2]), 1e-8)


def _to_tensor(x, what):
    if isinstance(x, torch.Tensor):
        return x.detach().double()
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError):
        fail(f"{what} should be a tensor of numbers, but got {describe(x)}.")


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
@exercise("ch04", "history_builder", title="leakage-free behaviour histories")
def check_history_builder(fn, run):
    """Check ``fn(log, max_len)``: per row, the user's strictly earlier items, newest first."""
    for name, log, max_len in _history_cases():
        with run.case(name):
            got = run.call(fn, log, max_len, forbid_mutation=True)
            if isinstance(got, pd.Series):
                got = got.tolist()
            if not isinstance(got, (list, tuple)) and not (isinstance(got, np.ndarray) and got.ndim >= 1):
                fail(f"your function should return one list per row of the log, but returned "
                     f"{describe(got)}.")
            got = [list(h) if h is not None else [] for h in got]
            if len(got) != len(log):
                n_users = log[USER].nunique()
                hint = ("one list per user? Each ROW (each interaction) needs its own history."
                        if len(got) == n_users else None)
                fail(f"your function returned {len(got)} histories for a log of {len(log)} "
                     f"rows; it needs exactly one per row, in the log's row order.", hint=hint)
            ref = _reference_history_builder(log, max_len)
            times = log[TIME].to_numpy()
            users = log[USER].to_numpy()
            for i, (g, r) in enumerate(zip(got, ref)):
                try:
                    g = [int(v) for v in g]
                except (TypeError, ValueError):
                    fail(f"the history of row {i} should hold item ids (ints), but got {g!r}.")
                times_of = dict(zip(log[ITEM][users == users[i]].tolist(),
                                    times[users == users[i]].tolist()))
                if _canonical(g, times_of) == _canonical(r, times_of) and g != r and \
                        sorted(g) == sorted(r):
                    t = [times_of.get(v, 0) for v in g]
                    if t != sorted(t, reverse=True):
                        fail(f"row {i} (user {users[i]}, time {times[i]}): the history is not "
                             f"most recent first: got {g}, expected {r}.",
                             hint="sort the earlier interactions by timestamp, descending.")
                    continue                                   # same items, ties reordered
                if g == r:
                    continue
                variants = {
                    "`<=` instead of `<` on the timestamp: an interaction made at the same "
                    "time as the target is not known before it":
                        _reference_history_builder(log, max_len, strict=False)[i],
                    "the target itself in its own history":
                        _reference_history_builder(log, max_len, include_self=True)[i],
                    "the OLDEST max_len interactions kept instead of the most recent":
                        _reference_history_builder(log, max_len, keep_recent=False)[i],
                    "oldest first: the most recent interaction must come first":
                        _reference_history_builder(log, max_len, newest_first=False)[i],
                    "no max_len cut":
                        _reference_history_builder(log, 10 ** 6)[i],
                }
                hint = next((f"your history is exactly what you get with {d}." for d, v in
                             variants.items() if v != r and _canonical(v, times_of) ==
                             _canonical(g, times_of)), None)
                later = [v for v in g if times_of.get(v, -np.inf) > times[i]]
                if hint is None and int(log[ITEM].iloc[i]) in g:
                    hint = "it holds the target itself: a history is what came BEFORE the target."
                elif hint is None and later:
                    hint = f"it holds item(s) {later} rated AFTER the target: that is leakage."
                if hint is None and set(g) - set(times_of):
                    hint = "it holds items of another user: filter the log by the row's user."
                fail(f"row {i} (user {users[i]}, item {log[ITEM].iloc[i]}, time {times[i]}, "
                     f"max_len {max_len}): expected the history {r}, got {g}.", hint=hint)


@exercise("ch04", "masked_attention_pooling", title="attention pooling with a padding mask")
def check_masked_attention_pooling(fn, run):
    """Check ``fn(scores, keys, mask, softmax) -> (B, D)``: padding never contributes."""
    for name, (scores, keys, mask), softmax in _pooling_cases():
        with run.case(name):
            got = run.call(fn, scores, keys, mask, softmax)
            got = _to_tensor(got, "the pooled history")
            B, L, D = keys.shape
            ref = _reference_masked_attention_pooling(scores.double(), keys.double(), mask, softmax)
            all_mask = torch.ones_like(mask)
            mistakes = {
                "no mask: the padded positions were pooled too":
                    _reference_masked_attention_pooling(scores.double(), keys.double(), all_mask, softmax),
                "a mean over the real positions instead of a weighted sum":
                    ref / mask.sum(1, keepdim=True).clamp_min(1),
            }
            if softmax:
                mistakes["a softmax over ALL positions (padding included), then the mask"] = \
                    (torch.softmax(scores.double(), 1).masked_fill(~mask, 0).unsqueeze(-1)
                     * keys.double()).sum(1)
                mistakes["no softmax: softmax=True must normalise the scores"] = \
                    _reference_masked_attention_pooling(scores.double(), keys.double(), mask, False)
            else:
                mistakes["a softmax although softmax=False (the paper keeps raw weights)"] = \
                    _reference_masked_attention_pooling(scores.double(), keys.double(), mask, True)
            expect_shape(got, (B, D), what=f"the pooled history ({B} rows, D={D})")
            empty = (~mask).all(1)
            if empty.any() and torch.isnan(got[empty]).any():
                fail(f"the rows without any real position came out as NaN (row(s) "
                     f"{torch.nonzero(empty).flatten().tolist()}); they must be zero vectors.",
                     hint="a softmax over nothing but -inf is NaN: replace NaN by 0, or "
                          "fill padded weights with 0 after the softmax.")
            expect_close(got, ref, what=f"the pooled history ({B} rows, D={D})", atol=1e-5,
                         rtol=1e-5, mistakes=mistakes)


@exercise("ch04", "masked_dice_train", title="Dice in training mode over real positions")
def check_masked_dice_train(fn, run):
    """Check ``fn(s, mask, alpha, eps) -> (B, L, H)``: statistics of the real positions."""
    for name, s, mask, alpha, eps in _dice_cases():
        with run.case(name):
            got = run.call(fn, s, mask, alpha, eps)
            got = _to_tensor(got, "Dice's output")
            sd, ad = s.double(), alpha.double()
            ref = _reference_masked_dice_train(sd, mask, ad, eps)
            mistakes = {
                "the statistics taken over every position, padding included":
                    _reference_masked_dice_train(sd, mask, ad, eps, stats="all"),
                "the statistics taken per position over the rows (the (N, H) formula "
                "applied to (B, L, H) unchanged): Dice's statistics are per neuron, over "
                "all real positions of all rows":
                    _reference_masked_dice_train(sd, mask, ad, eps, stats="position"),
                "the statistics of each sample over its neurons (torch-rechub's Dice), "
                "not of each neuron over the real positions":
                    _reference_masked_dice_train(sd, mask, ad, eps, stats="sample"),
                "the unbiased variance (divided by n - 1): the batch variance is biased":
                    _reference_masked_dice_train(sd, mask, ad, eps, unbiased=True),
                "eps added after the square root instead of inside it":
                    _reference_masked_dice_train(sd, mask, ad, eps, eps_outside=True),
                "p and 1 - p swapped (p multiplies s, 1 - p multiplies alpha * s)":
                    _reference_masked_dice_train(sd, mask, ad, eps, swap=True),
                "the padded positions left with a value: they must be 0":
                    _reference_masked_dice_train(sd, mask, ad, eps, zero_padding=False),
            }
            expect_shape(got, tuple(s.shape), what=f"Dice's output {tuple(s.shape)}")
            expect_close(got, ref, what=f"Dice's output {tuple(s.shape)}", atol=1e-6,
                         rtol=1e-5, mistakes=mistakes)
