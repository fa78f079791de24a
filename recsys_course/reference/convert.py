"""Converters of torch-rechub 0.9.0 ranking models to ours (``reference.from_rechub``
dispatches to them): our model from theirs, its behaviour
selected and its weights copied, so that ``torch.sigmoid(ours(x)) == theirs(x)``.

Chapters 02, 03 and 04 use it to show the course's models compute what the reference
library computes. What we found in torch-rechub's source and select here is listed in
the docstrings of ``reference/models.py``: a wide part and a DeepFM first-order term that
are Linear maps over embeddings, dense values appended raw after the embeddings,
BatchNorm1d in every MLP block, sequences pooled over all positions unless the feature
has a padding_idx, and DIN's per-feature attention units with its own Dice.
"""
from __future__ import annotations

import torch
from torch import nn

from ..features import Feature
from ..models.dcn import DCN
from ..models.layers import MLP
from .features import from_rechub_features, rechub_features_module
from .models import (RechubDeepFM, RechubDice, RechubDIN, RechubWideDeep,
                     rechub_activation)


# --- shared pieces ---
def _rechub_activation(module) -> str:
    """Our ``make_activation`` name for one of torch-rechub's activation modules."""
    from torch_rechub.basic.activation import Dice as TheirDice

    if isinstance(module, TheirDice):
        return "dice"
    if isinstance(module, nn.PReLU) and module.num_parameters == 1:
        return "prelu"
    if isinstance(module, nn.LeakyReLU) and module.negative_slope == 0.01:
        return "leakyrelu"
    for cls, name in ((nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh")):
        if isinstance(module, cls):
            return name
    raise NotImplementedError(f"no counterpart for torch-rechub activation {module!r}")


def _rechub_mlp_spec(seq) -> tuple[list[int], str, float]:
    """torch-rechub ``MLP.mlp`` (Linear, BatchNorm1d, activation, Dropout blocks, then
    Linear to 1) -> (hidden dims, activation name, dropout)."""
    layers = list(seq)
    if not layers or not isinstance(layers[-1], nn.Linear) or layers[-1].out_features != 1:
        raise NotImplementedError("only torch-rechub MLPs with an output layer are supported")
    dims = [m.out_features for m in layers[:-1] if isinstance(m, nn.Linear)]
    acts = {_rechub_activation(m) for m in layers
            if not isinstance(m, (nn.Linear, nn.BatchNorm1d, nn.Dropout))}
    drops = {m.p for m in layers if isinstance(m, nn.Dropout)}
    if len(acts) > 1 or len(drops) > 1:
        raise NotImplementedError("mixed activations or dropout rates in one MLP")
    return dims, (acts.pop() if acts else "relu"), (drops.pop() if drops else 0.0)


def _copy_rechub_mlp(ours, theirs_seq) -> None:
    """Copy a torch-rechub MLP's parameters and BatchNorm statistics into our ``MLP``."""
    ours_layers, theirs_layers = list(ours.net), list(theirs_seq)
    if len(ours_layers) != len(theirs_layers):
        raise ValueError("the two MLPs have different layouts")
    for a, b in zip(ours_layers, theirs_layers):
        name_a = "Dice" if isinstance(a, RechubDice) else type(a).__name__
        if name_a != type(b).__name__:
            raise ValueError(f"layer mismatch: {a!r} vs {b!r}")
        a.load_state_dict(b.state_dict())       # Linear, BatchNorm1d, PReLU, Dice's alpha
        if isinstance(a, RechubDice):
            a.eps = b.epsilon


def din_from_rechub(theirs) -> RechubDIN:
    """:class:`RechubDIN` from torch-rechub 0.9.0's ``DIN``, weights copied.

    Pooled sequences among the other features count padded positions unless their
    ``padding_idx`` is 0 (all such features must agree).
    """
    rf = rechub_features_module()
    paddings = {f.padding_idx for f in theirs.features if isinstance(f, rf.SequenceFeature)}
    if not paddings <= {None, 0} or len(paddings) > 1:
        raise NotImplementedError("pooled sequence features must all use padding_idx None or 0")
    unit = theirs.attention_layers[0]
    att_dims, att_act, _ = _rechub_mlp_spec(unit.attention.mlp)
    for other in theirs.attention_layers[1:]:
        if _rechub_mlp_spec(other.attention.mlp)[:2] != (att_dims, att_act):
            raise NotImplementedError("attention units of different shapes")
    mlp_dims, mlp_act, dropout = _rechub_mlp_spec(theirs.mlp.mlp)
    ours = RechubDIN(from_rechub_features(theirs.features),
                     from_rechub_features(theirs.history_features),
                     from_rechub_features(theirs.target_features),
                     attention_dims=att_dims, attention_activation=att_act,
                     use_softmax=bool(unit.use_softmax), mlp_dims=mlp_dims,
                     mlp_activation=mlp_act, dropout=dropout, mask_padding=paddings == {0})
    with torch.no_grad():
        for name, table in ours.embedding.tables.items():
            table.weight.copy_(theirs.embedding.embed_dict[name].weight)
    for a, b in zip(ours.attention, theirs.attention_layers):
        _copy_rechub_mlp(a.mlp, b.attention.mlp)
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


# --- lineage models: WideDeep, DeepFM and DCN (chapters 02 and 03) ---
def _lineage_features(*feature_lists) -> tuple[list[Feature], dict[str, int | None]]:
    """torch-rechub feature lists -> (ours for their union by name, first occurrence first,
    as torch-rechub's EmbeddingLayer builds its tables; each sequence's padding code)."""
    rf = rechub_features_module()
    union, seen = [], set()
    for features in feature_lists:
        for f in features:
            if f.name not in seen:
                seen.add(f.name)
                union.append(f)
    for f in union:
        if isinstance(f, rf.DenseFeature) and f.embed_dim != 1:
            raise NotImplementedError(f"{f.name}: vector-valued DenseFeature (embed_dim > 1)")
        if isinstance(f, rf.SequenceFeature) and f.pooling not in ("mean", "sum"):
            raise NotImplementedError(f"{f.name}: pooling {f.pooling!r} gives no single vector")
    codes = {f.name: f.padding_idx for f in union if isinstance(f, rf.SequenceFeature)}
    return from_rechub_features(union), codes


def _lineage_mlp_spec(seq) -> tuple[dict, bool]:
    """torch-rechub ``MLP.mlp`` -> (our MLP keyword arguments, has an output layer).

    Its hidden blocks are always [Linear, BatchNorm1d, activation, Dropout]."""
    layers = list(seq)
    output_layer = len(layers) % 4 == 1
    hidden = layers[:len(layers) - output_layer]
    acts = {"softmax" if isinstance(m, nn.Softmax) and m.dim == 1 else _rechub_activation(m)
            for m in hidden[2::4]}
    drops = {m.p for m in hidden[3::4]}
    if len(acts) > 1 or len(drops) > 1:
        raise NotImplementedError("mixed activations or dropout rates in one MLP")
    spec = dict(mlp_dims=[m.out_features for m in hidden[0::4]],
                activation=rechub_activation(acts.pop() if acts else "relu"),
                dropout=drops.pop() if drops else 0.0, batch_norm=True)
    return spec, output_layer


def _match_output_layer(ours, spec: dict, output_layer: bool) -> None:
    """torch-rechub's WideDeep/DeepFM accept ``output_layer=False``: then the last hidden
    block (width 1) is the deep part's output; rebuild our MLP the same way."""
    if output_layer:
        return
    if not spec["mlp_dims"] or spec["mlp_dims"][-1] != 1:
        raise ValueError("without an output layer the last MLP width must be 1")
    ours.mlp = MLP(ours.mlp.net[0].in_features, spec["mlp_dims"], spec["dropout"],
                   spec["activation"], True, output_layer=False)


def _copy_lineage(ours_tables, theirs, pairs) -> None:
    """Copy the embedding tables, then each (our module, their module) pair's state."""
    with torch.no_grad():
        ours_tables.load_state_dict(theirs.embedding.embed_dict.state_dict())
        for a, b in pairs:
            a.load_state_dict(b.state_dict())


def widedeep_from_rechub(theirs) -> RechubWideDeep:
    """:class:`RechubWideDeep` from torch-rechub 0.9.0's ``WideDeep``, weights copied."""
    features, codes = _lineage_features(theirs.wide_features, theirs.deep_features)
    spec, output_layer = _lineage_mlp_spec(theirs.mlp.mlp)
    ours = RechubWideDeep(features, wide_features=[f.name for f in theirs.wide_features],
                          deep_features=[f.name for f in theirs.deep_features],
                          padding_codes=codes, **spec)
    _match_output_layer(ours, spec, output_layer)
    _copy_lineage(ours.embedding.tables, theirs, [(ours.wide, theirs.linear.fc)])
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


def deepfm_from_rechub(theirs) -> RechubDeepFM:
    """:class:`RechubDeepFM` from torch-rechub 0.9.0's ``DeepFM`` (first order a Linear
    over the FM embeddings, dense values raw in the MLP only), weights copied."""
    rf = rechub_features_module()
    if any(isinstance(f, rf.DenseFeature) for f in theirs.fm_features):
        raise ValueError("torch-rechub's DeepFM fails on dense fm_features (its first-order "
                         "Linear counts them, its FM input drops them)")
    features, codes = _lineage_features(theirs.deep_features, theirs.fm_features)
    spec, output_layer = _lineage_mlp_spec(theirs.mlp.mlp)
    ours = RechubDeepFM(features, fm_features=[f.name for f in theirs.fm_features],
                        deep_features=[f.name for f in theirs.deep_features],
                        first_order="embedding", dense_fields=False, padding_codes=codes, **spec)
    _match_output_layer(ours, spec, output_layer)
    _copy_lineage(ours.fields.embedding.tables, theirs, [(ours.first_order, theirs.linear.fc)])
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


def dcn_from_rechub(theirs) -> DCN:
    """The teaching :class:`~recsys_course.models.DCN` from torch-rechub 0.9.0's ``DCN``
    (the same model: same cross formula, same stacking order, MLP with BatchNorm1d),
    with its sequences' padding codes; weights copied."""
    features, codes = _lineage_features(theirs.features)
    spec, output_layer = _lineage_mlp_spec(theirs.mlp.mlp)
    if output_layer:
        raise NotImplementedError("torch-rechub's DCN builds its MLP without an output layer")
    ours = DCN(features, n_cross_layers=theirs.cn.num_layers, **spec)
    ours.embedding.padding_codes = dict(codes)      # its per-feature padding_idx
    _copy_lineage(ours.embedding.tables, theirs, [(ours.head, theirs.linear.fc)])
    with torch.no_grad():
        for i in range(theirs.cn.num_layers):
            ours.cross.w[i].copy_(theirs.cn.w[i].weight[0])       # Linear(d, 1): (1, d)
            ours.cross.b[i].copy_(theirs.cn.b[i])
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)
