"""A short training loop over pre-built tensors. Chapter 00 introduces it; every chapter uses it.

The whole data set lives in memory as a dict of tensors, so a batch is one
``index_select`` per feature: no Dataset, no DataLoader, no per-row Python. The loop is
plain PyTorch: ``torch.optim.Adam``, binary cross-entropy on logits, early stopping on
the validation AUC. (The appendix's faster variants live in ``recsys_course.perf``.)
"""
from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
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


def make_adam(params, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.Adam:
    """``torch.optim.Adam``, with its fused kernel where this torch has one for the
    parameters' device (one pass over each tensor instead of about ten; the same update
    up to float rounding), the plain implementation elsewhere."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):        # no fused kernel for this device
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def batch_loss(model: nn.Module, x: dict, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over rows ``idx``: gather the batch, score, compare."""
    return F.binary_cross_entropy_with_logits(model(take(x, idx)), y.index_select(0, idx))


def fit(model: nn.Module, train: Data, valid: Data | None = None, *, epochs: int = 10,
        batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0,
        patience: int = 2, seed: int = 0, progress: bool = True, optimizer=None,
        loss: Callable = batch_loss) -> History:
    """Train ``model`` (which returns logits (B,)) with binary cross-entropy and Adam.

    Each epoch visits the training rows in a fresh seeded order. With ``valid``, the
    validation AUC is measured after every epoch; training stops after ``patience``
    epochs without improvement and the best epoch's weights are restored (always, not
    only when stopping early). A last batch of a single row is folded into the
    previous one, since BatchNorm cannot train on one row.

    ``optimizer`` (default: :func:`make_adam` with ``lr`` and ``weight_decay``) and
    ``loss`` (``loss(model, x, y, idx)``, default :func:`batch_loss`) let the appendix's
    fast path (``recsys_course.perf.fit_fast``) run this same loop with its own pieces.
    """
    x, y = train
    n = n_rows(x)
    if len(y) != n:
        raise ValueError(f"train has {n} rows of features but {len(y)} labels")
    y = y.float()
    gen = torch.Generator().manual_seed(seed)
    opt = optimizer or make_adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist = History()
    best_auc, best_state, bad = -np.inf, None, 0
    trained, train_time = 0, 0.0
    bar = _progress(range(epochs), progress, desc=type(model).__name__)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()                                         # fold a 1-row tail batch
        ends = starts[1:] + [n]
        total = 0.0
        for i, (s, e) in enumerate(zip(starts, ends)):
            idx = order[s:e]
            step_loss = loss(model, x, y, idx)
            value = step_loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"the training loss became {value} at epoch {epoch + 1}, batch {i + 1}: "
                    "lower the learning rate (lr) or check the inputs for NaN/inf")
            opt.zero_grad(set_to_none=True)
            step_loss.backward()
            opt.step()
            total += value * len(idx)
        dt = time.perf_counter() - t0
        trained, train_time = trained + n, train_time + dt
        hist.train_loss.append(total / n)
        hist.seconds.append(dt)
        if valid is None:
            hist.best_epoch = epoch
            _postfix(bar, loss=hist.train_loss[-1])
            continue
        auc = _score_validation(model, valid, hist, epoch)
        if auc > best_auc:
            best_auc, bad, hist.best_epoch = auc, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        _postfix(bar, loss=hist.train_loss[-1], val_auc=auc)
        if bad >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.samples_per_second = trained / train_time if train_time > 0 else float("nan")
    model.eval()
    return hist


def _score_validation(model: nn.Module, valid: Data, hist: History, epoch: int) -> float:
    """Append the validation log loss and AUC to ``hist``; return the AUC."""
    p, yv = predict(model, valid[0]), valid[1].numpy()
    try:
        hist.valid_loss.append(metrics.logloss(yv, p))
        hist.valid_auc.append(metrics.auc(yv, p))
    except ValueError as err:
        raise ValueError(f"cannot score the validation set after epoch {epoch + 1}: "
                         f"{err}") from err
    return hist.valid_auc[-1]


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
