"""The bridge to torch-rechub 0.9.0's multi-task models (chapter 07).

``esmm_from_rechub``, ``mmoe_from_rechub`` and ``shared_bottom_from_rechub`` build the
course's model with torch-rechub's behaviour selected and copy every weight and
BatchNorm statistic, so that in eval mode

    ESMM:          torch.sigmoid(ours(x))[:, [1, 0]] and their product == theirs(x)
    MMoE, SharedBottom: ours(x) == theirs(x) after :func:`rechub_outputs` (sigmoid on
                   the classification tasks, raw values on the regression ones)

:func:`rechub_esmm_outputs` turns our ESMM logits into torch-rechub's [pCVR, pCTR,
pCTCVR] columns. What torch-rechub does differently from the papers, read from its source:

* MMoE's gate is an MLP block: Linear (with bias), BatchNorm1d, softmax, Dropout(0). The
  paper's gate is softmax(W x). :class:`RechubGate` is torch-rechub's, for
  ``MMoE(..., gate=RechubGate)``; the chapter shows that in training mode it makes a
  row's mixture depend on its batch.
* ESMM: same network and loss as the paper (its MTLTrainer sums the CTR and CTCVR losses);
  it computes the CTCVR loss on the rounded product of probabilities (BCELoss), ours in
  log space. Only categorical features, one embedding size per list.
* All three return probabilities, ours logits.

Only this package (and tests) import torch-rechub.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.esmm import ESMM
from ..models.mmoe import MMoE
from .convert import _copy_rechub_mlp, _lineage_features, _lineage_mlp_spec
from ..models.shared_bottom import SharedBottom


class RechubGate(nn.Module):
    """torch-rechub 0.9.0's MMoE gate: softmax(BatchNorm1d(W x + b)), (B, d) -> (B, E).

    Its Dropout(0) is left out (it does nothing). In training mode BatchNorm uses the
    batch's mean and variance of each gate logit, so a row's weights over the experts
    depend on the other rows of its batch; in eval mode, on the running statistics.
    """

    def __init__(self, input_dim: int, n_experts: int):
        super().__init__()
        self.linear = nn.Linear(input_dim, n_experts)
        self.norm = nn.BatchNorm1d(n_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.norm(self.linear(x)), dim=1)     # (B, E)


def _mlp_spec(seq, output_layer: bool) -> dict:
    """torch-rechub ``MLP.mlp`` -> our MLP's (dims, dropout, activation); checks the
    output layer is there (towers) or not (bottoms, experts)."""
    spec, has_output = _lineage_mlp_spec(seq)
    if has_output != output_layer:
        raise NotImplementedError("unexpected torch-rechub MLP layout "
                                  f"(output layer {'missing' if output_layer else 'present'})")
    return {"dims": spec["mlp_dims"], "dropout": spec["dropout"], "activation": spec["activation"]}


def _copy_tables(ours: nn.Module, theirs: nn.Module) -> None:
    with torch.no_grad():
        ours.embedding.tables.load_state_dict(theirs.embedding.embed_dict.state_dict())


def _tower_kwargs(towers) -> dict:
    specs = [_mlp_spec(t.mlp, output_layer=True) for t in towers]
    return {"tower_dims": [s["dims"] for s in specs],
            "tower_dropout": [s["dropout"] for s in specs],
            "tower_activation": [s["activation"] for s in specs]}


def _task_types(theirs) -> list[str]:
    return [layer.task_type for layer in theirs.predict_layers]


def shared_bottom_from_rechub(theirs) -> SharedBottom:
    """Our SharedBottom from torch-rechub's ``SharedBottom``, weights copied."""
    features, codes = _lineage_features(theirs.features)
    bottom = _mlp_spec(theirs.bottom_mlp.mlp, output_layer=False)
    if not bottom["dims"]:
        raise NotImplementedError("a shared bottom without hidden layers")
    ours = SharedBottom(features, n_tasks=len(theirs.towers), bottom_dims=bottom["dims"],
                        dropout=bottom["dropout"], activation=bottom["activation"],
                        batch_norm=True, padding_codes=codes, **_tower_kwargs(theirs.towers))
    _copy_tables(ours, theirs)
    _copy_rechub_mlp(ours.bottom, theirs.bottom_mlp.mlp)
    for a, b in zip(ours.towers, theirs.towers):
        _copy_rechub_mlp(a, b.mlp)
    ours.task_types = _task_types(theirs)
    return ours.train(theirs.training)


def mmoe_from_rechub(theirs) -> MMoE:
    """Our MMoE from torch-rechub's ``MMOE`` with its gate (:class:`RechubGate`), weights copied."""
    features, codes = _lineage_features(theirs.features)
    specs = [_mlp_spec(e.mlp, output_layer=False) for e in theirs.experts]
    if any(s != specs[0] for s in specs):
        raise NotImplementedError("experts of different shapes")
    expert = specs[0]
    ours = MMoE(features, n_tasks=len(theirs.gates), n_experts=len(theirs.experts),
                expert_dims=expert["dims"], dropout=expert["dropout"],
                activation=expert["activation"], batch_norm=True, gate=RechubGate,
                padding_codes=codes, **_tower_kwargs(theirs.towers))
    _copy_tables(ours, theirs)
    for a, b in zip(ours.experts, theirs.experts):
        _copy_rechub_mlp(a, b.mlp)
    for gate, b in zip(ours.gate_modules, theirs.gates):
        linear, norm, softmax, dropout = list(b.mlp)          # torch-rechub's gate block
        if not isinstance(softmax, nn.Softmax) or dropout.p != 0:
            raise NotImplementedError("unexpected torch-rechub gate layout")
        gate.linear.load_state_dict(linear.state_dict())
        gate.norm.load_state_dict(norm.state_dict())
    for a, b in zip(ours.towers, theirs.towers):
        _copy_rechub_mlp(a, b.mlp)
    ours.task_types = _task_types(theirs)
    return ours.train(theirs.training)


def esmm_from_rechub(theirs) -> ESMM:
    """Our ESMM from torch-rechub's ``ESMM`` (input: user fields, then item fields), weights
    copied. Compare with :func:`rechub_esmm_outputs`."""
    features, codes = _lineage_features(theirs.user_features + theirs.item_features)
    if len(features) != len(theirs.user_features) + len(theirs.item_features):
        raise NotImplementedError("a feature in both the user and the item list")
    ctr = _mlp_spec(theirs.tower_ctr.mlp, output_layer=True)
    cvr = _mlp_spec(theirs.tower_cvr.mlp, output_layer=True)
    ours = ESMM(features, ctr_dims=ctr["dims"], cvr_dims=cvr["dims"], dropout=ctr["dropout"],
                activation=ctr["activation"], cvr_dropout=cvr["dropout"],
                cvr_activation=cvr["activation"], batch_norm=True, padding_codes=codes)
    _copy_tables(ours, theirs)
    _copy_rechub_mlp(ours.ctr_tower, theirs.tower_ctr.mlp)
    _copy_rechub_mlp(ours.cvr_tower, theirs.tower_cvr.mlp)
    return ours.train(theirs.training)


def rechub_outputs(logits: torch.Tensor, task_types) -> torch.Tensor:
    """Our (B, T) outputs as torch-rechub's MMOE/SharedBottom return them: sigmoid for
    ``"classification"`` tasks, unchanged for ``"regression"``."""
    cols = [torch.sigmoid(logits[:, t]) if kind == "classification" else logits[:, t]
            for t, kind in enumerate(task_types)]
    return torch.stack(cols, dim=1)


def rechub_esmm_outputs(logits: torch.Tensor) -> torch.Tensor:
    """Our ESMM logits (B, 2) = [ctr, cvr] -> torch-rechub's columns [pCVR, pCTR, pCTCVR]."""
    p = torch.sigmoid(logits)
    return torch.stack([p[:, 1], p[:, 0], p[:, 0] * p[:, 1]], dim=1)


__all__ = ["RechubGate", "esmm_from_rechub", "mmoe_from_rechub", "shared_bottom_from_rechub",
           "rechub_outputs", "rechub_esmm_outputs"]
