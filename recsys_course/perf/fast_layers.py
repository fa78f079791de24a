"""Faster formulations of the same math, for the benchmark's fast path.

:func:`speed_up` swaps, in place, each DIN attention unit and each Dice of a model for a
subclass that computes the same function with fewer passes over memory:

* the attention unit's first Linear on ``[q, k, q - k, q * k]`` without building the
  (B, L, 4D) input: with the weight split into four (H, D) blocks, W = [W1 W2 W3 W4],

      W [q, k, q - k, q * k] = (W1 + W3) q + (W2 - W3) k + W4 (q * k),

  so the query's term is computed once per row instead of L times;
* Dice as ``s * (alpha + (1 - alpha) p)`` (one product fewer over (N, H)), and
  torch-rechub's per-sample Dice with one ``rsqrt`` on (N, 1) instead of a division
  over (N, H).

The parameters, buffers and state-dict keys stay the same; the outputs agree with the
teaching formulas up to float rounding (tests/test_perf.py).

Shape alphabet: B batch, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.din import AttentionUnit
from ..models.layers import Dice
from ..reference.models import RechubAttentionUnit, RechubDice


class SplitFirstLayer:
    """Mixin for :class:`AttentionUnit`: ``scores`` with the first Linear split in four."""

    def first_layer(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(B, D), (B, L, D) -> (B, L, H), equal to ``mlp.net[0]`` on [q, k, q-k, q*k]."""
        lin, D = self.mlp.net[0], keys.shape[-1]
        w_q, w_k, w_diff, w_prod = lin.weight.split(D, dim=1)               # (H, D) each
        per_query = torch.addmm(lin.bias, query, (w_q + w_diff).t())         # (B, H)
        pairs = torch.cat([keys, query.unsqueeze(1) * keys], dim=-1)         # (B, L, 2D)
        per_key = pairs @ torch.cat([w_k - w_diff, w_prod], dim=1).t()       # (B, L, H)
        return per_key + per_query.unsqueeze(1)                              # (B, L, H)

    def scores(self, query: torch.Tensor, keys: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
        B, L, _ = keys.shape
        h = self.first_layer(query, keys)                                    # (B, L, H)
        rest = self.mlp.net[1:]
        if not self.mask:
            return rest(h.reshape(B * L, -1)).reshape(B, L)
        w = keys.new_zeros(B, L)
        if mask.any():
            w = w.masked_scatter(mask, rest(h[mask]).squeeze(-1))
        return w


class FastAttentionUnit(SplitFirstLayer, AttentionUnit):
    pass


class FastRechubAttentionUnit(SplitFirstLayer, RechubAttentionUnit):
    pass


class FastDice(Dice):
    def forward(self, s: torch.Tensor) -> torch.Tensor:
        shape = s.shape
        s = s.reshape(-1, self.dim)                                          # (N, H)
        mean, var = self.statistics(s)                                       # (H,) each
        p = torch.sigmoid((s - mean) * torch.rsqrt(var + self.eps))
        return (s * (self.alpha + (1 - self.alpha) * p)).reshape(shape)


class FastRechubDice(RechubDice):
    def forward(self, s: torch.Tensor) -> torch.Tensor:                      # (N, H)
        centred = s - s.mean(dim=1, keepdim=True)                            # (N, H)
        # sum_j (c_j^2 + eps) = sum_j c_j^2 + H eps: rsqrt on (N, 1), one product on (N, H)
        scale = torch.rsqrt((centred * centred).sum(dim=1, keepdim=True)
                            + s.shape[1] * self.eps)
        p = torch.sigmoid(centred * scale)
        return s * (self.alpha + (1 - self.alpha) * p)


FAST = {AttentionUnit: FastAttentionUnit, RechubAttentionUnit: FastRechubAttentionUnit,
        Dice: FastDice, RechubDice: FastRechubDice}


def speed_up(model: nn.Module) -> nn.Module:
    """Swap each module of a class in :data:`FAST` for its fast subclass, in place (same
    parameters and buffers). Returns ``model``."""
    for m in model.modules():
        fast = FAST.get(type(m))
        if fast is not None:
            m.__class__ = fast
    return model
