"""The fast path computes what the teaching path computes (recsys_course.perf)."""
from __future__ import annotations

import copy
import random

import pytest
import torch

from recsys_course.features import SequenceFeature, SparseFeature
from recsys_course.models import DIN, AttentionUnit, Dice
from recsys_course.perf.fast_layers import (FastAttentionUnit, FastDice,
                                            FastRechubAttentionUnit, FastRechubDice, speed_up)
from recsys_course.reference import RechubDice, RechubDIN

# The fast formulations reorder float32 sums (the first Linear split in four blocks, a
# product regrouped in Dice, rsqrt for 1/sqrt): each output is a sum of a few hundred
# terms of size ~1, so rounding differs by a few ulp of 1 (1e-7) per sum and stays below
# 1e-5 after three layers. A forgotten term would differ by ~1e-1.
ATOL = 1e-5


def din_config(seed: int):
    g = random.Random(seed)
    D, L, B = g.choice([2, 4, 8]), g.choice([1, 5, 9]), g.choice([3, 17])
    history = [SequenceFeature("hist_item", 40, D, max_len=L, shared_with="item"),
               SequenceFeature("hist_cate", 9, D, max_len=L, shared_with="cate")][:g.choice([1, 2])]
    targets = [SparseFeature("item", 40, D), SparseFeature("cate", 9, D)]
    others = [SparseFeature("user", 13, g.choice([3, 8]))]
    gen = torch.Generator().manual_seed(seed)
    lens = torch.randint(0, L + 1, (B,), generator=gen)
    real = torch.arange(L) < lens[:, None]
    x = {"user": torch.randint(0, 13, (B,), generator=gen),
         "item": torch.randint(1, 40, (B,), generator=gen),
         "cate": torch.randint(1, 9, (B,), generator=gen),
         "hist_item": torch.where(real, torch.randint(1, 40, (B, L), generator=gen), 0),
         "hist_cate": torch.where(real, torch.randint(1, 9, (B, L), generator=gen), 0)}
    dims = [g.choice([4, 12]) for _ in range(g.randint(1, 2))]
    return (others, history, targets), dims, x


def perturb(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["paper", "rechub"])
def test_fast_din_equals_the_formula_version_in_train_and_eval(kind, seed):
    torch.manual_seed(seed)
    feats, dims, x = din_config(seed)
    if kind == "paper":
        model = DIN(*feats, attention_dims=dims, mlp_dims=(8,),
                    normalize=random.Random(seed).choice([None, "softmax"]))
    else:
        model = RechubDIN(*feats, attention_dims=dims, mlp_dims=(8,),
                          use_softmax=seed % 2 == 0)
    perturb(model)
    fast = speed_up(copy.deepcopy(model))
    swapped = {type(m) for m in fast.modules()}
    assert swapped & {FastAttentionUnit, FastRechubAttentionUnit}
    assert swapped & {FastDice, FastRechubDice}
    assert fast.state_dict().keys() == model.state_dict().keys()
    for train in (True, False):                  # batch statistics, then running ones
        model.train(train), fast.train(train)
        torch.testing.assert_close(fast(x), model(x), atol=ATOL, rtol=0)
    for a, b in zip(model.buffers(), fast.buffers()):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_fast_pieces_equal_the_formulas_alone():
    torch.manual_seed(0)
    s = 3 * torch.randn(50, 7)
    for slow in (Dice(7), RechubDice(7)):
        with torch.no_grad():
            slow.alpha.normal_()
        fast = speed_up(copy.deepcopy(slow))
        assert type(fast) is not type(slow)
        torch.testing.assert_close(fast(s), slow(s), atol=ATOL, rtol=0)
    unit = perturb(AttentionUnit(6, dims=(5,), activation="prelu"))
    fast = speed_up(copy.deepcopy(unit))
    q, k = torch.randn(4, 6), torch.randn(4, 3, 6)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    lin = unit.mlp.net[0]
    a = torch.cat([q.unsqueeze(1).expand_as(k), k, q.unsqueeze(1) - k, q.unsqueeze(1) * k], -1)
    torch.testing.assert_close(fast.first_layer(q, k), lin(a), atol=ATOL, rtol=0)
    torch.testing.assert_close(fast(q, k, mask), unit(q, k, mask), atol=ATOL, rtol=0)
