"""The fast path of training (appendix, notebooks/06_benchmark.ipynb).

:func:`fit_fast` runs the teaching loop, :func:`recsys_course.train.fit`, with three
ingredients the appendix measures one by one:

* :class:`FlatAdam`: Adam over one flat vector holding every parameter (one update call
  per step instead of one per tensor);
* :class:`CompiledLoss`: gathering the batch, the model and the loss compiled together
  by ``torch.compile`` (full-size batches only; the shorter last batch runs eagerly);
* :func:`deterministic_algorithms`: PyTorch's deterministic kernels while training.

Each gives the same weights as the teaching loop up to float rounding
(tests/test_perf.py). They come with costs a learner should not meet on the teaching
path: FlatAdam rewires every parameter's ``.data`` into its vector (so ``model.double()``
afterwards needs a new optimizer, and freezing a layer too); compiling needs a C++
compiler and uses a private dynamo call (``mark_dynamic``).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..train import Data, History, batch_loss, fit, make_adam, n_rows


class FlatAdam:
    """Adam over one flat vector that holds every parameter: the same update, in one call.

    Adam works element by element, so updating twenty tensors or one vector holding
    their values side by side gives the same numbers. What differs is the cost: for a
    small model the optimizer's Python bookkeeping per tensor can take longer than its
    arithmetic (the appendix, notebooks/06_benchmark.ipynb, measures what the flat
    vector changes on a DeepFM and a DIN step). So the constructor copies the parameters
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
        self.inner = make_adam([self.flat], lr=lr, weight_decay=weight_decay)

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

    :func:`fit_fast` trains a compiled model inside it. An embedding table's gradient is a sum
    of rows: ``grad[code] += g_i`` for every row ``i`` of the batch with that code. The
    compiler's default kernel splits the batch between threads and adds with atomic
    operations, so the order of the additions, and the float rounding, depends on thread
    timing; and when both threads add into the same few rows (a gender table has four)
    they take turns on the same cache lines. In deterministic mode the compiler calls
    PyTorch's serial kernel instead: the same sum in a fixed order (whether it is also
    faster depends on the machine: the appendix, notebooks/06_benchmark.ipynb, measures
    it). ``warn_only=True``: an operation without a deterministic version warns instead
    of failing.
    """
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


class CompiledLoss:
    """``loss(model, x, y, idx)`` for :func:`~recsys_course.train.fit`: the teaching
    :func:`~recsys_course.train.batch_loss` compiled by ``torch.compile`` for batches of
    ``batch_size`` rows (gather, model and loss in one graph: the gathers fuse with the
    embedding lookups); other batches (the shorter last one) run eagerly, so they do not
    trigger a second compilation. Dynamo keeps a few compiled versions per function (its
    ``recompile_limit``): a process that compiles many different models falls back to
    eager for the later ones."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.compiled = torch.compile(batch_loss)

    def __call__(self, model: nn.Module, x: dict, y: torch.Tensor,
                 idx: torch.Tensor) -> torch.Tensor:
        if len(idx) != self.batch_size:
            return batch_loss(model, x, y, idx)
        return self.compiled(model, x, y, idx)


def mark_rows_dynamic(x: dict, y: torch.Tensor) -> None:
    """Tell the compiler the data's row count varies, so the same compiled code serves
    any data set of these features (no recompilation between a warm-up on a few rows and
    the full data). Uses dynamo's ``mark_dynamic``, a private API."""
    for t in [*x.values(), y]:
        torch._dynamo.mark_dynamic(t, 0)


def fit_fast(model: nn.Module, train: Data, valid: Data | None = None, *,
             compile: bool = True, flat: bool = True, deterministic: bool | None = None,
             optimizer=None, lr: float = 1e-3, weight_decay: float = 0.0,
             batch_size: int = 1024, **kwargs) -> History:
    """:func:`recsys_course.train.fit` with the fast path's ingredients; the other
    keywords (``epochs``, ``patience``, ``seed``, ``progress``) are ``fit``'s.

    ``flat``: :class:`FlatAdam` instead of ``torch.optim.Adam`` (ignored when an
    ``optimizer`` is given: pass one to keep its state across calls). ``compile``:
    :class:`CompiledLoss`. ``deterministic``: train under :func:`deterministic_algorithms`
    (None, the default, means "when compiling on CPU": on a GPU it costs speed).
    """
    x, y = train[0], train[1].float()
    if optimizer is None:
        optimizer = (FlatAdam(model.parameters(), lr=lr, weight_decay=weight_decay) if flat
                     else make_adam(model.parameters(), lr=lr, weight_decay=weight_decay))
    if deterministic is None:
        deterministic = compile and y.device.type == "cpu"
    loss = batch_loss
    if compile:
        if n_rows(x) > 1:
            mark_rows_dynamic(x, y)
        loss = CompiledLoss(batch_size)
    with deterministic_algorithms() if deterministic else contextlib.nullcontext():
        return fit(model, (x, y), valid, optimizer=optimizer, loss=loss, lr=lr,
                   weight_decay=weight_decay, batch_size=batch_size, **kwargs)
