"""Multi-gate Mixture-of-Experts, MMoE (Ma et al. 2018, KDD).

Chapter: notebooks/07_clicks_to_value.ipynb (multi-task ranking).

E expert networks read the input; each task t has its own gate, a softmax over the
experts computed from the input, and its own tower over the gated mixture:

    f_e = expert_e(x)                                 (B, H)  e = 1..E
    g^t(x) = softmax(W_t x)                           (B, E)  (paper, eq. 5)
    logit_t = tower_t( sum_e g^t_e(x) f_e )           (B,)

With one expert it is a shared-bottom model; with gates that put all their weight on
disjoint experts it is T separate models. The gates learn where in between the tasks
should sit. ``forward`` returns the T logits, (B, T); :meth:`MMoE.gates` returns the
gate weights (B, T, E) the chapter plots.

Paper vs torch-rechub 0.9.0 (``torch_rechub.models.multi_task.MMOE``):

* the paper's gate is a softmax of a linear map of the input, :class:`Gate` (the
  default). torch-rechub's gate is its MLP block with dims ``[E]``: Linear (with bias),
  **BatchNorm1d**, softmax, Dropout(0). In training mode its gate logits are normalised
  with the batch's statistics, so a row's gate depends on the other rows of its batch.
  It lives in the reference bridge, ``recsys_course.reference.multitask.RechubGate``,
  and is passed as ``MMoE(..., gate=RechubGate)``;
* torch-rechub returns probabilities (sigmoid of our logits for classification tasks).

Experts and towers are the course's MLP blocks (``batch_norm=True`` is torch-rechub's
Linear, BatchNorm1d, activation, Dropout). ``recsys_course.reference.multitask
.mmoe_from_rechub`` builds ours with torch-rechub's gate and copies the weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, FeatureEmbedding
from .shared_bottom import per_task


class Gate(nn.Module):
    """One task's gate (paper, eq. 5): input (B, d) -> softmax(W x), weights over the E
    experts (B, E), each row summing to 1."""

    def __init__(self, input_dim: int, n_experts: int):
        super().__init__()
        self.linear = nn.Linear(input_dim, n_experts, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x), dim=1)                 # (B, E)


class MMoE(nn.Module):
    """E experts, T gates, T towers; logits (B, T).

    ``gate``: ``"paper"`` (:class:`Gate`) or a class called as ``gate(input_dim,
    n_experts)`` that returns a module mapping (B, d) to gate weights (B, E), such as
    torch-rechub's (see the module docstring). Tower settings: one for all towers or one
    per task, as in :class:`~recsys_course.models.SharedBottom`.
    """

    def __init__(self, features: Sequence[Feature], n_tasks: int = 2, n_experts: int = 4,
                 expert_dims: Sequence[int] = (32,), tower_dims: Sequence[int] = (16,),
                 dropout: float = 0.0, activation: str = "relu", batch_norm: bool = True,
                 gate="paper", tower_dropout=None, tower_activation=None,
                 init_std: float = 1e-2, padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        if not expert_dims:
            raise ValueError("an expert needs at least one hidden layer")
        self.embedding = FeatureEmbedding(features, init_std=init_std, padding_codes=padding_codes)
        d = self.embedding.flat_dim()
        self.experts = nn.ModuleList(
            MLP(d, expert_dims, dropout, activation, batch_norm, output_layer=False)
            for _ in range(n_experts))
        if gate == "paper":
            gate = Gate
        elif isinstance(gate, str) or not callable(gate):
            raise ValueError(f"gate must be 'paper' or a gate class, got {gate!r}")
        self.gate_modules = nn.ModuleList(gate(d, n_experts) for _ in range(n_tasks))
        self.towers = nn.ModuleList(
            MLP(expert_dims[-1], dims, drop, act, batch_norm) for dims, drop, act in zip(
                per_task(tower_dims, n_tasks, "tower_dims", nested=True),
                per_task(dropout if tower_dropout is None else tower_dropout, n_tasks, "tower_dropout"),
                per_task(activation if tower_activation is None else tower_activation, n_tasks,
                         "tower_activation")))

    def _parts(self, x: dict) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.embedding.flat(x)                                  # (B, d)
        experts = torch.stack([f(e) for f in self.experts], dim=1)  # (B, E, H)
        gates = torch.stack([g(e) for g in self.gate_modules], dim=1)  # (B, T, E)
        return experts, gates

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        experts, gates = self._parts(x)
        mixed = gates @ experts                                     # (B, T, H)
        return torch.cat([tower(mixed[:, t]) for t, tower in enumerate(self.towers)],
                         dim=1)                                     # (B, T)

    @torch.no_grad()
    def gates(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each task's weights over the experts, (B, T, E), in the model's current mode."""
        return self._parts(x)[1]
