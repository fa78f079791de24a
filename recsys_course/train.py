"""A short training loop over pre-built tensors. Chapter 00 introduces it; every chapter uses it.

The whole data set lives in memory as a dict of tensors, so a batch is one
``index_select`` per feature: no Dataset, no DataLoader, no per-row Python. That is
most of why this loop is several times faster than a generic trainer on small models.
"""
from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from dataclasses import dataclass, field

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


def make_adam(params, lr: float = 1e-3, weight_decay: float = 0.0,
              flat: bool = True) -> torch.optim.Optimizer | FlatAdam:
    """Adam, with torch's fused kernel where this torch has one for the parameters' device.

    The fused kernel updates each tensor in one pass instead of about ten, which matters
    for embedding tables (Adam touches every row at every step); the update is the same
    up to float rounding. Older torch builds without it get the plain implementation.
    ``flat=True`` (default) wraps it in :class:`FlatAdam`: all parameters in one vector,
    one update per step instead of one per tensor. (FlatAdam is not a
    ``torch.optim.Optimizer``: learning-rate schedulers need ``flat=False``.)
    """
    params = list(params)
    if flat:
        return FlatAdam(params, lr=lr, weight_decay=weight_decay)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


class FlatAdam:
    """Adam over one flat vector that holds every parameter: the same update, in one call.

    Adam works element by element, so updating twenty tensors or one vector holding
    their values side by side gives the same numbers. What differs is the cost: for a
    small model the optimizer's Python bookkeeping per tensor takes longer than its
    arithmetic (the appendix, notebooks/06_benchmark.ipynb, measures what the flat
    vector saves on a DeepFM and a DIN step). So the constructor copies the parameters
    into one vector and makes each parameter a *view* of its slice, with its gradient a
    view of the same slice of one gradient vector. Backpropagation then adds into the
    flat gradient, and :meth:`step` runs one fused Adam update over the whole vector.

    Differences from ``torch.optim.Adam``, none of which the course's models meet:

    * ``zero_grad`` always zeroes (there is no ``set_to_none``), so a parameter that gets
      no gradient in a step is updated with a zero gradient: its momentum carries on, as
      it does for the rows of an embedding table that the batch did not use. The same
      holds for a parameter frozen (``requires_grad_(False)``) after the optimizer was
      built: build a new optimizer after freezing.
    * if something replaces a parameter's gradient tensor (``model.zero_grad()`` sets it
      to None), :meth:`step` copies it back into the flat vector; if something gives a
      parameter new values (``module.to(dtype)``, ``module.double()``), :meth:`step`
      raises: build a new optimizer. (``load_state_dict`` copies into the views and is
      fine.)
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.0):
        seen, self.params = set(), []
        for p in params:
            if p.requires_grad and id(p) not in seen:          # tied weights count once
                seen.add(id(p))
                self.params.append(p)
        if not self.params:
            raise ValueError("FlatAdam got no parameter that requires a gradient")
        devices_dtypes = {(p.device, p.dtype) for p in self.params}
        if len(devices_dtypes) > 1:
            raise ValueError(f"FlatAdam needs one device and dtype, got {sorted(map(str, devices_dtypes))}")
        with torch.no_grad():
            values = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.flat = nn.Parameter(values)                                    # (total,)
        self.flat.grad = torch.zeros_like(values)
        self.grads = []
        start = 0
        for p in self.params:
            n = p.numel()
            p.data = self.flat.data[start:start + n].view_as(p)            # a view, no copy
            old_grad = p.grad
            p.grad = self.flat.grad[start:start + n].view_as(p)
            if old_grad is not None:
                p.grad.copy_(old_grad)
            self.grads.append(p.grad)
            start += n
        self._pointers = [p.data_ptr() for p in self.params]
        self.inner = make_adam([self.flat], lr=lr, weight_decay=weight_decay, flat=False)

    @property
    def param_groups(self):
        return self.inner.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient (``set_to_none`` is accepted and ignored)."""
        self.flat.grad.zero_()
        for p, g in zip(self.params, self.grads):
            if p.grad is not g:
                p.grad = g

    @torch.no_grad()
    def step(self) -> None:
        for p, g, ptr in zip(self.params, self.grads, self._pointers):
            if p.data_ptr() != ptr:
                raise RuntimeError(
                    "a parameter's values were replaced after FlatAdam was built (by "
                    "module.to(...) or module.double()?): build a new optimizer for the model")
            if p.grad is not g:                   # replaced or set to None by someone else
                if p.grad is None:
                    g.zero_()
                else:
                    g.copy_(p.grad)
                p.grad = g
        self.inner.step()

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


@contextlib.contextmanager
def deterministic_algorithms():
    """Run a block with ``torch.use_deterministic_algorithms(True)``; restore the setting after.

    :func:`fit` trains a compiled model inside it. An embedding table's gradient is a sum
    of rows: ``grad[code] += g_i`` for every row ``i`` of the batch with that code. The
    compiler's default kernel splits the batch between threads and adds with atomic
    operations, so the order of the additions, and the float rounding, depends on thread
    timing; and when both threads add into the same few rows (a gender table has four)
    they take turns on the same cache lines. In deterministic mode the compiler calls
    PyTorch's serial kernel instead: the same sum in a fixed order, and on two CPU cores
    several times faster (appendix: notebooks/06_benchmark.ipynb). ``warn_only=True``: an
    operation without a deterministic version warns instead of failing.
    """
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def fit(model: nn.Module, train: Data, valid: Data | None = None, *, epochs: int = 10,
        batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0,
        patience: int = 2, seed: int = 0, progress: bool = True,
        optimizer: torch.optim.Optimizer | FlatAdam | None = None,
        compile: bool = False, deterministic: bool | None = None) -> History:
    """Train ``model`` (which returns logits (B,)) with binary cross-entropy.

    Each epoch visits the training rows in a fresh seeded order. With ``valid``, the
    validation AUC is measured after every epoch; training stops after ``patience``
    epochs without improvement and the best epoch's weights are restored (always, not
    only when stopping early). A last batch of a single row is folded into the
    previous one, since BatchNorm cannot train on one row.

    ``compile=True`` runs the full-size batches (gather, model and loss together) through
    ``torch.compile`` (it needs a C++ compiler; results agree up to float rounding, and
    the first batches pay for the compilation); the shorter last batch runs eagerly, so
    it does not trigger a second compilation. Training then runs under
    :func:`deterministic_algorithms`, which also makes the compiled embedding gradients
    several times faster on CPU (``deterministic``: None, the default, means "when
    compiling on CPU"; True or False forces it). Dynamo keeps a few compiled versions per
    function (its ``recompile_limit``): a process that compiles many different models
    through ``fit`` falls back to eager for the later ones. The appendix (notebooks/06_benchmark.ipynb)
    measures what each of these buys.
    """
    x, y = train
    n = n_rows(x)
    if len(y) != n:
        raise ValueError(f"train has {n} rows of features but {len(y)} labels")
    y = y.float()
    gen = torch.Generator().manual_seed(seed)
    opt = optimizer or make_adam(model.parameters(), lr=lr, weight_decay=weight_decay)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy over rows ``idx``: gather the batch, score, compare."""
        return F.binary_cross_entropy_with_logits(model(take(x, idx)), y.index_select(0, idx))

    # Compiled: gathering the batch, the model and its loss in one graph (the gathers fuse
    # with the embedding lookups), for full-size batches only. The number of rows of the
    # data is marked dynamic, so the same compiled code serves any data set of these
    # features (no recompilation between a warm-up on a few rows and the full data).
    if compile and n > 1:
        for t in [*x.values(), y]:
            torch._dynamo.mark_dynamic(t, 0)
    fast_loss = torch.compile(batch_loss) if compile else batch_loss
    hist = History()
    best_auc, best_state, bad = -np.inf, None, 0
    bar = _progress(range(epochs), progress, desc=type(model).__name__)
    trained, train_time = 0, 0.0
    if deterministic is None:                # on CPU only: on a GPU it costs speed
        deterministic = compile and y.device.type == "cpu"
    # compiled training runs with deterministic kernels (see deterministic_algorithms)
    with deterministic_algorithms() if deterministic else contextlib.nullcontext():
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
                step_loss = fast_loss if len(idx) == batch_size else batch_loss
                loss = step_loss(idx)
                value = loss.item()
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"the training loss became {value} at epoch {epoch + 1}, batch {i + 1}: "
                        "lower the learning rate (lr) or check the inputs for NaN/inf")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += value * len(idx)
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
