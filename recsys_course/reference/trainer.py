"""Training and scoring torch-rechub models with torch-rechub's own ``CTRTrainer``
(chapter 03), next to the course's ``fit``. torch-rechub is imported when a function runs.
"""
from __future__ import annotations

from typing import Sequence

from ..features import DenseFeature, Feature
from ..train import History, n_rows, take
from .features import to_rechub_features


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

    model.eval()
    n = n_rows(x)
    out = []
    with torch.no_grad():
        for s in range(0, n, batch_size):
            out.append(model(take(x, torch.arange(s, min(s + batch_size, n)))).double())
    return torch.cat(out).numpy() if out else np.zeros(0)
