"""A short training loop over pre-built tensors. Chapter 00 introduces it; every chapter uses it.

The whole data set lives in memory as a dict of tensors, so a batch is one
``index_select`` per feature: no Dataset, no DataLoader, no per-row Python. That is
most of why this loop is several times faster than a generic trainer on small models.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import metrics

Data = tuple[dict, torch.Tensor]  # (x: name -> tensor with B rows, y: float (B,))


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def n_rows(x: dict) -> int:
    sizes = {len(v) for v in x.values()}
    if len(sizes) != 1:
        raise ValueError(f"all tensors in a batch need the same number of rows, got {sorted(sizes)}")
    return sizes.pop()


def take(x: dict, idx: torch.Tensor) -> dict:
    """Rows ``idx`` of every tensor in ``x``."""
    return {k: v.index_select(0, idx) for k, v in x.items()}


@dataclass
class History:
    """What :func:`fit` saw, one entry per epoch, plus the epoch whose weights were kept
    (``best_epoch`` counts from 0; :meth:`as_frame` numbers epochs from 1 and marks it
    in its ``kept`` column)."""

    train_loss: list = field(default_factory=list)
    valid_loss: list = field(default_factory=list)
    valid_auc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    best_epoch: int = -1
    samples_per_second: float = float("nan")

    def as_frame(self):
        import pandas as pd
        n = len(self.train_loss)
        return pd.DataFrame({"epoch": range(1, n + 1), "train_loss": self.train_loss,
                             "valid_loss": self.valid_loss + [np.nan] * (n - len(self.valid_loss)),
                             "valid_auc": self.valid_auc + [np.nan] * (n - len(self.valid_auc)),
                             "seconds": self.seconds,
                             "kept": [i == self.best_epoch for i in range(n)]})


def make_adam(params, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam, with torch's fused kernel where this torch has one for the parameters' device.

    The fused kernel updates each tensor in one pass instead of about ten, which matters
    for embedding tables (Adam touches every row at every step); the update is the same
    up to float rounding. Older torch builds without it get the plain implementation.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def fit(model: nn.Module, train: Data, valid: Data | None = None, *, epochs: int = 10,
        batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0,
        patience: int = 2, seed: int = 0, progress: bool = True,
        optimizer: torch.optim.Optimizer | None = None, compile: bool = False) -> History:
    """Train ``model`` (which returns logits (B,)) with binary cross-entropy.

    Each epoch visits the training rows in a fresh seeded order. With ``valid``, the
    validation AUC is measured after every epoch; training stops after ``patience``
    epochs without improvement and the best epoch's weights are restored (always, not
    only when stopping early). A last batch of a single row is folded into the
    previous one, since BatchNorm cannot train on one row.

    ``compile=True`` runs the full-size batches through ``torch.compile(model)`` (it needs
    a C++ compiler; results agree up to float rounding, and the first batches pay for the
    compilation); the shorter last batch runs eagerly, so it does not trigger a second
    compilation. The appendix measures what it buys.
    """
    x, y = train
    n = n_rows(x)
    if len(y) != n:
        raise ValueError(f"train has {n} rows of features but {len(y)} labels")
    y = y.float()
    fast = torch.compile(model, dynamic=False) if compile else model
    gen = torch.Generator().manual_seed(seed)
    opt = optimizer or make_adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    hist = History()
    best_auc, best_state, bad = -np.inf, None, 0
    bar = _progress(range(epochs), progress, desc=type(model).__name__)
    trained, train_time = 0, 0.0
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()                                     # fold a 1-row tail batch
        total = 0.0
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else n
            idx = order[s:end]
            step_model = fast if len(idx) == batch_size else model
            logits = step_model(take(x, idx))                # (B,)
            loss = loss_fn(logits, y.index_select(0, idx))
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss became {loss.item()} at epoch {epoch + 1}, batch {i + 1}: "
                    "lower the learning rate (lr) or check the inputs for NaN/inf")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        dt = time.perf_counter() - t0
        trained, train_time = trained + n, train_time + dt
        hist.train_loss.append(total / n)
        hist.seconds.append(dt)
        if valid is not None:
            p = predict(model, valid[0])
            yv = valid[1].numpy()
            try:
                hist.valid_loss.append(metrics.logloss(yv, p))
                auc = metrics.auc(yv, p)
            except ValueError as err:
                raise ValueError(f"cannot score the validation set after epoch {epoch + 1}: "
                                 f"{err}") from err
            hist.valid_auc.append(auc)
            if auc > best_auc:
                best_auc, bad, hist.best_epoch = auc, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            _postfix(bar, loss=hist.train_loss[-1], val_auc=auc)
            if bad >= patience:
                break
        else:
            hist.best_epoch = epoch
            _postfix(bar, loss=hist.train_loss[-1])
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.samples_per_second = trained / train_time if train_time > 0 else float("nan")
    model.eval()
    return hist


@torch.no_grad()
def predict(model: nn.Module, x: dict, batch_size: int = 8192) -> np.ndarray:
    """Click probabilities (numpy, shape (B,)) in eval mode."""
    model.eval()
    n = n_rows(x)
    out = []
    for s in range(0, n, batch_size):
        idx = torch.arange(s, min(s + batch_size, n))
        out.append(torch.sigmoid(model(take(x, idx))).double())
    return torch.cat(out).numpy() if out else np.zeros(0)


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, desc=desc, leave=False)


def _postfix(bar, **values) -> None:
    if hasattr(bar, "set_postfix"):
        bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
