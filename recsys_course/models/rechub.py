"""Everything that knows torch-rechub's names, in one place.

The course checks each from-scratch model against torch-rechub 0.9.0, the reference
library: ``Model.from_rechub(theirs)`` builds our model with the reference's behaviour
selected and copies its weights (see chapters 02, 03 and 04). torch-rechub is imported
lazily so the rest of the package works without it.
"""
from __future__ import annotations

from typing import Sequence

from ..features import DenseFeature, Feature, SequenceFeature, SparseFeature


def _rechub_features():
    try:
        from torch_rechub.basic import features as rf
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("torch-rechub is needed for this comparison: "
                          "pip install torch-rechub==0.9.0") from err
    return rf


def to_rechub_features(features: Sequence[Feature], padding_idx: int | None = 0) -> list:
    """Our feature descriptions -> torch-rechub's DenseFeature/SparseFeature/SequenceFeature.

    ``padding_idx=0`` makes torch-rechub ignore code 0 when it pools a sequence, as ours
    does; ``None`` reproduces torch-rechub's default, which counts padded positions.
    """
    rf = _rechub_features()
    out = []
    for f in features:
        if isinstance(f, DenseFeature):
            out.append(rf.DenseFeature(f.name))
        elif isinstance(f, SparseFeature):
            out.append(rf.SparseFeature(f.name, vocab_size=f.vocab_size, embed_dim=f.embed_dim,
                                        shared_with=f.shared_with))
        elif isinstance(f, SequenceFeature):
            out.append(rf.SequenceFeature(f.name, vocab_size=f.vocab_size, embed_dim=f.embed_dim,
                                          pooling=f.pooling, shared_with=f.shared_with,
                                          padding_idx=padding_idx))
        else:
            raise TypeError(f"not a feature description: {f!r}")
    return out


def from_rechub_features(rechub_features: Sequence, max_len: int = 50) -> list[Feature]:
    """torch-rechub feature objects -> ours (the inverse of :func:`to_rechub_features`)."""
    rf = _rechub_features()
    out: list[Feature] = []
    for f in rechub_features:
        if isinstance(f, rf.SequenceFeature):
            out.append(SequenceFeature(f.name, f.vocab_size, f.embed_dim, max_len=max_len,
                                       pooling=f.pooling, shared_with=f.shared_with))
        elif isinstance(f, rf.SparseFeature):
            out.append(SparseFeature(f.name, f.vocab_size, f.embed_dim, shared_with=f.shared_with))
        elif isinstance(f, rf.DenseFeature):
            out.append(DenseFeature(f.name))
        else:
            raise TypeError(f"not a torch-rechub feature: {f!r}")
    return out


# --- DIN ---
def _rechub_activation(module) -> str:
    """Our ``make_activation`` name for one of torch-rechub's activation modules."""
    from torch import nn
    from torch_rechub.basic.activation import Dice as RechubDice

    if isinstance(module, RechubDice):
        return "dice_rechub"
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
    from torch import nn

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
        if type(a).__name__ != type(b).__name__:
            raise ValueError(f"layer mismatch: {a!r} vs {b!r}")
        a.load_state_dict(b.state_dict())       # Linear, BatchNorm1d, PReLU, Dice's alpha
        if type(a).__name__ == "Dice":
            a.eps = b.epsilon


def din_from_rechub(theirs):
    """Our DIN from torch-rechub 0.9.0's ``DIN``, its behaviour selected, weights copied.

    Behaviour read from torch-rechub's source and selected here: no masking of padded
    history positions (``mask=False``); its Dice (``"dice_rechub"``: per-sample statistics
    over the neurons); BatchNorm1d in the attention MLP; Dice in the final MLP (hard-wired
    there); softmax as its ``use_softmax``; MLP input in its order [attention-pooled
    histories, targets, other features]; pooled sequences among the other features count
    padded positions unless their ``padding_idx`` is 0. Ours returns logits, theirs
    probabilities: ``torch.sigmoid(ours(x)) == theirs(x)``.
    """
    import torch

    from .din import DIN

    rf = _rechub_features()
    paddings = {f.padding_idx for f in theirs.features if isinstance(f, rf.SequenceFeature)}
    if not paddings <= {None, 0} or len(paddings) > 1:
        raise NotImplementedError("pooled sequence features must all use padding_idx None or 0")
    unit = theirs.attention_layers[0]
    att_dims, att_act, _ = _rechub_mlp_spec(unit.attention.mlp)
    for other in theirs.attention_layers[1:]:
        if _rechub_mlp_spec(other.attention.mlp)[:2] != (att_dims, att_act):
            raise NotImplementedError("attention units of different shapes")
    mlp_dims, mlp_act, dropout = _rechub_mlp_spec(theirs.mlp.mlp)
    ours = DIN(from_rechub_features(theirs.features),
               from_rechub_features(theirs.history_features),
               from_rechub_features(theirs.target_features),
               attention_dims=att_dims, attention_activation=att_act,
               attention_batch_norm=True, softmax=bool(unit.use_softmax), mask=False,
               mlp_dims=mlp_dims, mlp_activation=mlp_act, dropout=dropout, batch_norm=True,
               mask_padding=paddings == {0})
    with torch.no_grad():
        for name, table in ours.embedding.tables.items():
            table.weight.copy_(theirs.embedding.embed_dict[name].weight)
    for a, b in zip(ours.attention, theirs.attention_layers):
        _copy_rechub_mlp(a.mlp, b.attention.mlp)
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


# --- lineage models ---
# WideDeep, DeepFM and DCN (chapters 02 and 03). What we found in torch-rechub 0.9.0's
# source and select here is listed in each model's docstring; in short: a wide part and
# a DeepFM first-order term that are Linear maps over embeddings, dense values appended
# raw after the embeddings, BatchNorm1d in every MLP block, sequences pooled over all
# positions unless the feature has a padding_idx.
def _lineage_features(*feature_lists) -> tuple[list[Feature], dict[str, int | None]]:
    """torch-rechub feature lists -> (ours for their union by name, first occurrence first,
    as torch-rechub's EmbeddingLayer builds its tables; each sequence's padding code)."""
    rf = _rechub_features()
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
    from torch import nn

    layers = list(seq)
    output_layer = len(layers) % 4 == 1
    hidden = layers[:len(layers) - output_layer]
    acts = {"softmax" if isinstance(m, nn.Softmax) and m.dim == 1 else _rechub_activation(m)
            for m in hidden[2::4]}
    drops = {m.p for m in hidden[3::4]}
    if len(acts) > 1 or len(drops) > 1:
        raise NotImplementedError("mixed activations or dropout rates in one MLP")
    spec = dict(mlp_dims=[m.out_features for m in hidden[0::4]],
                activation=acts.pop() if acts else "relu",
                dropout=drops.pop() if drops else 0.0, batch_norm=True)
    return spec, output_layer


def _match_output_layer(ours, spec: dict, output_layer: bool) -> None:
    """torch-rechub's WideDeep/DeepFM accept ``output_layer=False``: then the last hidden
    block (width 1) is the deep part's output; rebuild our MLP the same way."""
    from .layers import MLP

    if output_layer:
        return
    if not spec["mlp_dims"] or spec["mlp_dims"][-1] != 1:
        raise ValueError("without an output layer the last MLP width must be 1")
    ours.mlp = MLP(ours.mlp.net[0].in_features, spec["mlp_dims"], spec["dropout"],
                   spec["activation"], True, output_layer=False)


def _copy_lineage(ours_tables, theirs, pairs) -> None:
    """Copy the embedding tables, then each (our module, their module) pair's state."""
    import torch

    with torch.no_grad():
        ours_tables.load_state_dict(theirs.embedding.embed_dict.state_dict())
        for a, b in pairs:
            a.load_state_dict(b.state_dict())


def widedeep_from_rechub(theirs):
    """Our WideDeep from torch-rechub 0.9.0's ``WideDeep``: wide part a Linear over the
    wide features' embeddings and dense values (``wide="embedding"``), BatchNorm1d in the
    MLP, tables shared by both parts; weights copied. ``sigmoid(ours(x)) == theirs(x)``."""
    from .wide_deep import WideDeep

    features, codes = _lineage_features(theirs.wide_features, theirs.deep_features)
    spec, output_layer = _lineage_mlp_spec(theirs.mlp.mlp)
    ours = WideDeep(features, wide_features=[f.name for f in theirs.wide_features],
                    deep_features=[f.name for f in theirs.deep_features], wide="embedding",
                    padding_codes=codes, **spec)
    _match_output_layer(ours, spec, output_layer)
    _copy_lineage(ours.embedding.tables, theirs, [(ours.wide, theirs.linear.fc)])
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


def deepfm_from_rechub(theirs):
    """Our DeepFM from torch-rechub 0.9.0's ``DeepFM``: first order a Linear over the
    flattened FM embeddings (``first_order="embedding"``), dense values raw in the MLP
    only (``dense_fields=False``), BatchNorm1d in the MLP; weights copied."""
    from .deepfm import DeepFM

    rf = _rechub_features()
    if any(isinstance(f, rf.DenseFeature) for f in theirs.fm_features):
        raise ValueError("torch-rechub's DeepFM fails on dense fm_features (its first-order "
                         "Linear counts them, its FM input drops them)")
    features, codes = _lineage_features(theirs.deep_features, theirs.fm_features)
    spec, output_layer = _lineage_mlp_spec(theirs.mlp.mlp)
    ours = DeepFM(features, fm_features=[f.name for f in theirs.fm_features],
                  deep_features=[f.name for f in theirs.deep_features],
                  first_order="embedding", dense_fields=False, padding_codes=codes, **spec)
    _match_output_layer(ours, spec, output_layer)
    _copy_lineage(ours.fields.embedding.tables, theirs, [(ours.first_order, theirs.linear.fc)])
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


def dcn_from_rechub(theirs):
    """Our DCN from torch-rechub 0.9.0's ``DCN`` (the same model: cross weights, MLP with
    BatchNorm1d, logistic layer); weights copied."""
    import torch

    from .dcn import DCN

    features, codes = _lineage_features(theirs.features)
    spec, output_layer = _lineage_mlp_spec(theirs.mlp.mlp)
    assert not output_layer, "torch-rechub's DCN builds its MLP without an output layer"
    ours = DCN(features, n_cross_layers=theirs.cn.num_layers, padding_codes=codes, **spec)
    _copy_lineage(ours.embedding.tables, theirs, [(ours.head, theirs.linear.fc)])
    with torch.no_grad():
        for i in range(theirs.cn.num_layers):
            ours.cross.w[i].copy_(theirs.cn.w[i].weight[0])       # Linear(d, 1): (1, d)
            ours.cross.b[i].copy_(theirs.cn.b[i])
    _copy_rechub_mlp(ours.mlp, theirs.mlp.mlp)
    return ours.train(theirs.training)


# --- training torch-rechub models (chapter 03) ---
def rechub_ranking_model(name: str, features: Sequence[Feature], parts: dict | None = None,
                         mlp_dims: Sequence[int] = (256, 128), dropout: float = 0.2,
                         n_cross_layers: int = 3):
    """One of torch-rechub 0.9.0's ``"DeepFM"``, ``"WideDeep"`` or ``"DCN"`` over our
    feature descriptions (chapter 03).

    ``parts`` names the features each part reads, by their torch-rechub argument:
    ``{"deep_features": [...], "fm_features": [...]}`` for DeepFM,
    ``{"wide_features": [...], "deep_features": [...]}`` for WideDeep; DCN reads all
    ``features``. Without ``parts``: DeepFM's FM part reads the categorical features and
    its deep part all of them; WideDeep's two parts read all of them. torch-rechub's
    Criteo example gives DeepFM's deep part and WideDeep's wide part the counts only,
    the other part the categories: pass ``parts`` to reproduce it.
    """
    from torch_rechub.models import ranking

    theirs = dict(zip([f.name for f in features], to_rechub_features(features)))
    mlp = {"dims": list(mlp_dims), "dropout": dropout, "activation": "relu"}

    def pick(key: str, default: Sequence[str]) -> list:
        names = (parts or {}).get(key, default)
        unknown = [n for n in names if n not in theirs]
        if unknown:
            raise KeyError(f"{key} names unknown feature(s) {unknown}")
        return [theirs[n] for n in names]

    every = [f.name for f in features]
    categorical = [f.name for f in features if not isinstance(f, DenseFeature)]
    if name == "DeepFM":
        return ranking.DeepFM(deep_features=pick("deep_features", every),
                              fm_features=pick("fm_features", categorical), mlp_params=mlp)
    if name == "WideDeep":
        return ranking.WideDeep(wide_features=pick("wide_features", every),
                                deep_features=pick("deep_features", every), mlp_params=mlp)
    if name == "DCN":
        return ranking.DCN(features=pick("features", every), n_cross_layers=n_cross_layers,
                           mlp_params={"dims": list(mlp_dims)})
    raise ValueError(f"name must be 'DeepFM', 'WideDeep' or 'DCN', got {name!r}")


def train_rechub_ctr(model, train, valid=None, *, epochs: int = 5, batch_size: int = 1024,
                     lr: float = 1e-3, weight_decay: float = 0.0, patience: int = 10,
                     seed: int = 0, quiet: bool = True):
    """Train a torch-rechub ranking model with its own ``CTRTrainer`` (chapter 03).

    ``train`` and ``valid`` are our ``(x, y)`` pairs of tensors; the batches come from
    torch-rechub's ``TorchDataset`` through a shuffled ``DataLoader``: the batches its
    ``DataGenerator`` would make, read one batch at a time rather than row by row.
    Returns ``(model, history)``, ``history`` a :class:`recsys_course.train.History` with the training loss per epoch (the mean
    of the batch losses, as ``CTRTrainer`` computes it), the validation AUC per epoch
    when ``valid`` is given, the seconds per epoch and ``samples_per_second``.

    CTRTrainer 0.9.0's habits, handled here:

    * it always writes ``model.pth`` into ``model_path``: a temporary folder is used and
      removed;
    * it restores the best weights only when early stopping fires (``patience`` epochs
      without a better validation AUC); otherwise the last epoch's weights stay, and
      without ``valid`` it trains exactly ``epochs`` epochs. ``history.best_epoch`` is
      the epoch whose weights the model holds at the end;
    * BatchNorm cannot train on a batch of one row: when the training set leaves one
      row in the last batch, the last batch of every epoch is dropped (``drop_last``);
    * it prints every epoch and draws progress bars: ``quiet=True`` silences both.

    ``seed`` seeds torch before training, so the shuffles and dropout masks repeat.
    """
    import contextlib
    import io
    import tempfile
    import time

    import numpy as np
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler
    from torch_rechub.trainers import CTRTrainer
    from torch_rechub.utils.data import TorchDataset

    from ..train import History, n_rows

    x, y = train
    n = n_rows(x)
    torch.manual_seed(seed)
    # The batches of DataLoader(TorchDataset(x, y), batch_size, shuffle=True), the same
    # RandomSampler order, but each batch is read with one index per tensor instead of
    # one dict per row (TorchDataset indexes its tensors with the list of rows as is).
    data = TorchDataset(x, y.float())
    loader = DataLoader(data, batch_size=None, sampler=BatchSampler(
        RandomSampler(data), batch_size, drop_last=n % batch_size == 1))
    valid_loader = None
    if valid is not None:
        vdata = TorchDataset(valid[0], valid[1].float())
        valid_loader = DataLoader(vdata, batch_size=None, sampler=BatchSampler(
            SequentialSampler(vdata), max(batch_size, 4096), drop_last=False))
    hist = History()
    with tempfile.TemporaryDirectory() as folder:
        trainer = CTRTrainer(model, optimizer_params={"lr": lr, "weight_decay": weight_decay},
                             n_epoch=epochs, earlystop_patience=patience, device="cpu",
                             model_path=folder)
        one_epoch, evaluate = trainer.train_one_epoch, trainer.evaluate

        def train_one_epoch(data_loader, log_interval=10):
            start = time.perf_counter()
            loss = one_epoch(data_loader, log_interval)
            hist.seconds.append(time.perf_counter() - start)
            hist.train_loss.append(float(loss))
            return loss

        def evaluate_and_record(m, data_loader):
            auc = evaluate(m, data_loader)
            hist.valid_auc.append(float(auc))
            return auc

        stop_training, stopped = trainer.early_stopper.stop_training, [False]

        def stop_and_record(auc, weights):
            stopped[0] = stop_training(auc, weights)
            return stopped[0]

        trainer.train_one_epoch = train_one_epoch
        trainer.evaluate = evaluate_and_record
        trainer.early_stopper.stop_training = stop_and_record
        with contextlib.ExitStack() as stack:
            if quiet:
                sink = io.StringIO()
                stack.enter_context(contextlib.redirect_stdout(sink))
                stack.enter_context(contextlib.redirect_stderr(sink))
            trainer.fit(loader, valid_loader)                 # writes folder/model.pth
    ran = len(hist.train_loss)
    # early stopping restored the first epoch with the best validation AUC
    hist.best_epoch = int(np.argmax(hist.valid_auc)) if stopped[0] else ran - 1
    rows = (n - 1 if n % batch_size == 1 else n) * ran       # drop_last drops one row
    hist.samples_per_second = rows / sum(hist.seconds) if hist.seconds else float("nan")
    model.eval()
    return model, hist


def predict_rechub(model, x: dict, batch_size: int = 8192):
    """Click probabilities (numpy, (B,)) of a torch-rechub model, in eval mode (its
    models end with a sigmoid, ours return logits). Chapter 03."""
    import numpy as np
    import torch

    from ..train import n_rows, take

    model.eval()
    n = n_rows(x)
    out = []
    with torch.no_grad():
        for s in range(0, n, batch_size):
            out.append(model(take(x, torch.arange(s, min(s + batch_size, n)))).double())
    return torch.cat(out).numpy() if out else np.zeros(0)
