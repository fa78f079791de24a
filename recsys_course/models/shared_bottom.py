"""Shared-bottom multi-task model (Caruana 1997), the baseline of MMoE.

Chapter: notebooks/07_clicks_to_value.ipynb (multi-task ranking).

Every task reads the same bottom network; each has its own small tower on top:

    h = bottom([e_1; ...; e_F; dense])          (B, H)
    logit_t = tower_t(h)                         (B,) for t = 1..T

``forward`` returns the T logits side by side, (B, T). Sharing the bottom helps when
the tasks want the same representation and hurts when they pull it in different
directions (negative transfer): the chapter measures both.

torch-rechub 0.9.0 (``torch_rechub.models.multi_task.SharedBottom``) computes the same
function and returns probabilities (sigmoid of ours for classification tasks); its MLP
blocks are Linear, BatchNorm1d, activation, Dropout (ours with ``batch_norm=True``).
``recsys_course.reference.multitask.shared_bottom_from_rechub`` copies its weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..features import Feature
from .layers import MLP, FeatureEmbedding


def per_task(value, n_tasks: int, what: str, nested: bool = False) -> list:
    """One value for every task, or a list with one per task (towers may differ, as
    torch-rechub's ``tower_params_list`` allows). ``nested``: the value is itself a
    sequence (a tower's hidden sizes)."""
    if nested:
        value = list(value)
        is_list = bool(value) and all(isinstance(v, (list, tuple)) for v in value)
    else:
        is_list = isinstance(value, (list, tuple))
    if not is_list:
        return [value] * n_tasks
    if len(value) != n_tasks:
        raise ValueError(f"{what}: got {len(value)} values for {n_tasks} tasks")
    return list(value)


class SharedBottom(nn.Module):
    """T towers over one shared bottom MLP; logits (B, T).

    ``tower_dims``, ``tower_dropout``, ``tower_activation``: one setting for all towers or
    a list with one per task (dropout and activation default to the bottom's).
    ``padding_codes``: as in :class:`~recsys_course.models.layers.FeatureEmbedding`.
    """

    def __init__(self, features: Sequence[Feature], n_tasks: int = 2,
                 bottom_dims: Sequence[int] = (64,), tower_dims: Sequence[int] = (32,),
                 dropout: float = 0.0, activation: str = "relu", batch_norm: bool = True,
                 tower_dropout=None, tower_activation=None, init_std: float = 1e-2,
                 padding_codes: dict[str, int | None] | None = None):
        super().__init__()
        if not bottom_dims:
            raise ValueError("the shared bottom needs at least one hidden layer")
        self.embedding = FeatureEmbedding(features, init_std=init_std, padding_codes=padding_codes)
        self.bottom = MLP(self.embedding.flat_dim(), bottom_dims, dropout, activation,
                          batch_norm, output_layer=False)
        self.towers = nn.ModuleList(
            MLP(self.bottom.output_dim, dims, drop, act, batch_norm) for dims, drop, act in zip(
                per_task(tower_dims, n_tasks, "tower_dims", nested=True),
                per_task(dropout if tower_dropout is None else tower_dropout, n_tasks, "tower_dropout"),
                per_task(activation if tower_activation is None else tower_activation, n_tasks,
                         "tower_activation")))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.bottom(self.embedding.flat(x))                     # (B, H)
        return torch.cat([tower(h) for tower in self.towers], dim=1)  # (B, T)
