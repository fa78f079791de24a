"""DIN, the Deep Interest Network: attention over user behaviour.

Chapter 04 (notebooks/04_din.ipynb). Paper: Zhou et al., "Deep Interest Network for
Click-Through Rate Prediction", KDD 2018 (arXiv:1706.06978).

Read top to bottom: the Dice activation (section 5.2 of the paper), the local activation
unit (section 4.3, Figure 2 right), and DIN itself, which is the base model of
``base_seq.py`` with its sum pooling replaced by the activation unit.

Shape alphabet: B batch, F fields, L history length, D embedding size, H hidden size.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature, SequenceFeature, SparseFeature
from .base_seq import BaseSeqModel
from .layers import MLP


# ----------------------------------------------------------------------------------------
# Dice
# ----------------------------------------------------------------------------------------
class Dice(nn.Module):
    """Data-adaptive activation (the paper's Eq. 9-10), a PReLU with a soft rectifier point.

        f(s) = p(s) * s + (1 - p(s)) * alpha * s,
        p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps))

    ``variant="paper"`` (default), as the paper describes: E[s] and Var[s] are taken per
    neuron over the mini-batch in training and are moving averages over the data at test
    time, i.e. ``p`` is the sigmoid of a BatchNorm without affine parameters (biased
    batch variance in training, running mean and unbiased running variance updated with
    ``momentum`` as ``nn.BatchNorm1d`` does); eps = 1e-8 as in the paper; one ``alpha``
    per neuron, initialised to 0 as in the authors' released code.

    ``variant="rechub"`` reproduces torch-rechub 0.9.0's ``Dice``: the statistics are
    taken over *each sample's neurons* instead of over the batch, with no running
    statistics (training and eval behave alike), and the denominator is
    ``sqrt(sum_j ((s_j - mean)^2 + eps))`` = ``sqrt(H * (Var + eps))``, a sum rather than a
    mean, so the sigmoid's argument is ``sqrt(H)`` times smaller than a standardised
    value and ``p`` stays near 1/2 in wide layers; eps = 1e-3; a single ``alpha`` shared
    by all neurons, drawn from N(0, 1).

    Input (N, H) (or (..., H), flattened to rows); output of the same shape.
    """

    def __init__(self, dim: int, variant: str = "paper", eps: float | None = None,
                 momentum: float = 0.1):
        super().__init__()
        if variant not in ("paper", "rechub"):
            raise ValueError(f"variant must be 'paper' or 'rechub', got {variant!r}")
        self.dim, self.variant, self.momentum = dim, variant, momentum
        if variant == "paper":
            self.eps = 1e-8 if eps is None else eps
            self.alpha = nn.Parameter(torch.zeros(dim))                      # (H,)
            self.register_buffer("running_mean", torch.zeros(dim))
            self.register_buffer("running_var", torch.ones(dim))
        else:
            self.eps = 1e-3 if eps is None else eps
            self.alpha = nn.Parameter(torch.randn(1))                        # shared

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        shape = s.shape
        s = s.reshape(-1, self.dim)                                         # (N, H)
        if self.variant == "paper":
            if self.training:
                mean = s.mean(dim=0)                                        # (H,)
                var = s.var(dim=0, unbiased=False)                          # (H,)
                with torch.no_grad():
                    n = s.shape[0]
                    unbiased = var * n / max(n - 1, 1)
                    self.running_mean.lerp_(mean, self.momentum)
                    self.running_var.lerp_(unbiased, self.momentum)
            else:
                mean, var = self.running_mean, self.running_var
            z = (s - mean) / torch.sqrt(var + self.eps)                     # (N, H)
        else:
            centred = s - s.mean(dim=1, keepdim=True)                       # (N, H)
            # sum_j (c_j^2 + eps) = sum_j c_j^2 + H eps; rsqrt on (N, 1) then one product
            # over (N, H): fewer passes over the big tensor than a division
            scale = torch.rsqrt((centred * centred).sum(dim=1, keepdim=True) + self.dim * self.eps)
            z = centred * scale                                             # (N, H)
        p = torch.sigmoid(z)
        # p s + (1 - p) alpha s, written with one product over (N, H) fewer
        return (s * (self.alpha + (1 - self.alpha) * p)).reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.dim}, variant={self.variant!r}, eps={self.eps}"


# ----------------------------------------------------------------------------------------
# The local activation unit
# ----------------------------------------------------------------------------------------
class AttentionUnit(nn.Module):
    """Scores each history item against the candidate and sums the history with the scores.

    For query q (the candidate's embedding) and each history vector k_j it feeds
    ``[q, k_j, q - k_j, q * k_j]`` (4D values) through an MLP to one score w_j and returns
    ``sum_j w_j k_j``, shape (B, D). (The paper's Figure 2 draws an outer product; the
    authors' code and torch-rechub use the element-wise product and difference.)

    * ``mask=True``: padded positions (code 0) get weight 0, and the MLP only sees real
      positions, so its batch statistics (BatchNorm, the paper's Dice) ignore padding too.
      ``mask=False`` scores padded positions like any other (torch-rechub's behaviour).
    * ``softmax=False`` (default, as in the paper): raw scores, so the sum keeps the
      intensity of interest (many relevant items give a larger vector). ``softmax=True``
      normalises the scores over the real positions (masking is applied first). The
      authors' released code uses a masked softmax, scaled by 1/sqrt(D).
    * ``batch_norm`` puts BatchNorm1d after each hidden Linear (torch-rechub does; the
      paper's unit has none).

    ``forward(query, keys, mask, return_weights=True)`` also returns the weights (B, L).
    """

    def __init__(self, embed_dim: int, dims: Sequence[int] = (36,), activation: str = "dice",
                 dropout: float = 0.0, batch_norm: bool = False, softmax: bool = False,
                 mask: bool = True):
        super().__init__()
        self.embed_dim = embed_dim
        self.softmax = softmax
        self.mask = mask
        self.mlp = MLP(4 * embed_dim, dims, dropout=dropout, activation=activation,
                       batch_norm=batch_norm, output_layer=True)

    def first_layer(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """The MLP's first Linear on [q, k_j, q - k_j, q * k_j]: (B, D), (B, L, D) -> (B, L, H).

        Computed without building the (B, L, 4D) input. With the weight split into four
        (H, D) blocks, W = [W1 W2 W3 W4],

            W [q, k, q - k, q * k] = (W1 + W3) q + (W2 - W3) k + W4 (q * k),

        so the query's term is computed once per row instead of L times. Same values as
        ``mlp.net[0](torch.cat([q, k, q - k, q * k], -1))`` up to float rounding.
        """
        lin, D = self.mlp.net[0], self.embed_dim
        w_q, w_k, w_diff, w_prod = lin.weight.split(D, dim=1)               # (H, D) each
        per_query = torch.addmm(lin.bias, query, (w_q + w_diff).t())         # (B, H)
        pairs = torch.cat([keys, query.unsqueeze(1) * keys], dim=-1)         # (B, L, 2D)
        per_key = pairs @ torch.cat([w_k - w_diff, w_prod], dim=1).t()       # (B, L, H)
        return per_key + per_query.unsqueeze(1)                              # (B, L, H)

    def scores(self, query: torch.Tensor, keys: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
        """(B, D), (B, L, D), (B, L) -> raw scores (B, L); 0 at padding when masking.

        The MLP reads [q, k_j, q - k_j, q * k_j] for every position j; its first layer
        is :meth:`first_layer`, the rest ``mlp.net[1:]``.
        """
        B, L, D = keys.shape
        h = self.first_layer(query, keys)                                   # (B, L, H)
        rest = self.mlp.net[1:]
        if not self.mask:
            return rest(h.reshape(B * L, -1)).reshape(B, L)
        w = keys.new_zeros(B, L)
        if not mask.any():                  # every history empty: nothing to score
            return w
        hr = h[mask]                                                        # (n_real, H)
        if self.training and len(hr) == 1:
            # BatchNorm cannot train on one row: score it as a batch of two equal rows.
            real = rest(hr.expand(2, -1))[:1].squeeze(-1)
        else:
            real = rest(hr).squeeze(-1)                                     # (n_real,)
        return w.masked_scatter(mask, real)                                 # (B, L)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                return_weights: bool = False):
        """query (B, D), keys (B, L, D), mask (B, L) True at real positions -> (B, D)."""
        w = self.scores(query, keys, mask)                                  # (B, L)
        if self.softmax:
            if self.mask:
                w = w.masked_fill(~mask, torch.finfo(w.dtype).min)
                w = torch.softmax(w, dim=1).masked_fill(~mask, 0.0)
            else:
                w = torch.softmax(w, dim=1)
        pooled = (w.unsqueeze(-1) * keys).sum(dim=1)                        # (B, D)
        return (pooled, w) if return_weights else pooled


# ----------------------------------------------------------------------------------------
# DIN
# ----------------------------------------------------------------------------------------
class DIN(BaseSeqModel):
    """Deep Interest Network: the base model with attention pooling of each history.

    Chapter 04 (notebooks/04_din.ipynb); Zhou et al., KDD 2018.

    ``features``, ``history_features`` and ``target_features`` are as in
    :class:`~recsys_course.models.base_seq.BaseSeqModel`: history feature ``i`` (B, L) is
    attended with target feature ``i`` (B,), whose table it normally shares
    (``SequenceFeature("hist_item", ..., shared_with="item_id")``); the two must have the
    same D. The MLP reads

        [attention-pooled history per history feature, target embeddings,
         other feature embeddings, dense values]

    and ``forward`` returns logits (B,). ``attention_weights(x)`` gives the weights (B, L)
    per history feature, for plots.

    Options that select behaviour (defaults follow the paper):
    ``mask`` (padded positions weigh 0), ``softmax`` (normalise weights),
    ``attention_activation`` / ``mlp_activation`` (``"dice"`` = the paper's Dice,
    ``"dice_rechub"`` = torch-rechub's, or ``"prelu"``, ``"relu"``, ``"sigmoid"``, ...),
    ``attention_batch_norm``. :meth:`from_rechub` sets them to torch-rechub's choices.
    """

    def __init__(self, features: Sequence[Feature], history_features: Sequence[SequenceFeature],
                 target_features: Sequence[SparseFeature], attention_dims: Sequence[int] = (36,),
                 attention_activation: str = "dice", attention_batch_norm: bool = False,
                 attention_dropout: float = 0.0, softmax: bool = False, mask: bool = True,
                 mlp_dims: Sequence[int] = (200, 80), mlp_activation: str = "dice",
                 dropout: float = 0.0, batch_norm: bool = True, mask_padding: bool = True,
                 init_std: float = 1e-2):
        super().__init__(features, history_features, target_features, mlp_dims=mlp_dims,
                         mlp_activation=mlp_activation, dropout=dropout, batch_norm=batch_norm,
                         mask_padding=mask_padding, init_std=init_std)
        if len(self.target_features) < len(self.history_features):
            raise ValueError("each history feature needs a target feature (paired by position)")
        for h, t in zip(self.history_features, self.target_features):
            if h.embed_dim != t.embed_dim:
                raise ValueError(f"{h.name!r} and {t.name!r} must have the same embed_dim")
        self.attention = nn.ModuleList(
            AttentionUnit(h.embed_dim, attention_dims, attention_activation,
                          dropout=attention_dropout, batch_norm=attention_batch_norm,
                          softmax=softmax, mask=mask)
            for h in self.history_features)

    def _attend(self, x: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for h, t, unit in zip(self.history_features, self.target_features, self.attention):
            keys, mask = self.embedding.sequence(x, h)                      # (B, L, D), (B, L)
            query = self.embedding.table(t)(x[t.name].long())               # (B, D)
            out.append(unit(query, keys, mask, return_weights=True))        # (B, D), (B, L)
        return out

    def pool_history(self, x: dict) -> list[torch.Tensor]:
        return [pooled for pooled, _ in self._attend(x)]

    def attention_weights(self, x: dict) -> dict[str, torch.Tensor]:
        """History feature name -> attention weights (B, L) (0 at padding when masking)."""
        return {h.name: w for h, (_, w) in zip(self.history_features, self._attend(x))}

    @classmethod
    def from_rechub(cls, model) -> "DIN":
        """Ours, with torch-rechub's behaviour selected and its weights copied.

        ``torch.sigmoid(ours(x))`` equals ``model(x)`` (see ``rechub.din_from_rechub``).
        """
        from .rechub import din_from_rechub
        return din_from_rechub(model)
