"""The fast path computes what the teaching path computes (recsys_course.perf)."""
from __future__ import annotations

import copy
import random

import pytest
import torch

from recsys_course.features import SequenceFeature, SparseFeature
from recsys_course.models import DIN, AttentionUnit, Dice
from recsys_course.perf.fast_layers import (FastAttentionUnit, FastDice,
                                            FastRechubAttentionUnit, FastRechubDice, speed_up)
from recsys_course.reference import RechubDice, RechubDIN

# The fast formulations reorder float32 sums (the first Linear split in four blocks, a
# product regrouped in Dice, rsqrt for 1/sqrt): each output is a sum of a few hundred
# terms of size ~1, so rounding differs by a few ulp of 1 (1e-7) per sum and stays below
# 1e-5 after three layers. A forgotten term would differ by ~1e-1.
ATOL = 1e-5


def din_config(seed: int):
    g = random.Random(seed)
    D, L, B = g.choice([2, 4, 8]), g.choice([1, 5, 9]), g.choice([3, 17])
    history = [SequenceFeature("hist_item", 40, D, max_len=L, shared_with="item"),
               SequenceFeature("hist_cate", 9, D, max_len=L, shared_with="cate")][:g.choice([1, 2])]
    targets = [SparseFeature("item", 40, D), SparseFeature("cate", 9, D)]
    others = [SparseFeature("user", 13, g.choice([3, 8]))]
    gen = torch.Generator().manual_seed(seed)
    lens = torch.randint(0, L + 1, (B,), generator=gen)
    real = torch.arange(L) < lens[:, None]
    x = {"user": torch.randint(0, 13, (B,), generator=gen),
         "item": torch.randint(1, 40, (B,), generator=gen),
         "cate": torch.randint(1, 9, (B,), generator=gen),
         "hist_item": torch.where(real, torch.randint(1, 40, (B, L), generator=gen), 0),
         "hist_cate": torch.where(real, torch.randint(1, 9, (B, L), generator=gen), 0)}
    dims = [g.choice([4, 12]) for _ in range(g.randint(1, 2))]
    return (others, history, targets), dims, x


def perturb(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["paper", "rechub"])
def test_fast_din_equals_the_formula_version_in_train_and_eval(kind, seed):
    torch.manual_seed(seed)
    feats, dims, x = din_config(seed)
    if kind == "paper":
        model = DIN(*feats, attention_dims=dims, mlp_dims=(8,),
                    normalize=random.Random(seed).choice([None, "softmax"]))
    else:
        model = RechubDIN(*feats, attention_dims=dims, mlp_dims=(8,),
                          use_softmax=seed % 2 == 0)
    perturb(model)
    fast = speed_up(copy.deepcopy(model))
    swapped = {type(m) for m in fast.modules()}
    assert swapped & {FastAttentionUnit, FastRechubAttentionUnit}
    assert swapped & {FastDice, FastRechubDice}
    assert fast.state_dict().keys() == model.state_dict().keys()
    for train in (True, False):                  # batch statistics, then running ones
        model.train(train), fast.train(train)
        torch.testing.assert_close(fast(x), model(x), atol=ATOL, rtol=0)
    for a, b in zip(model.buffers(), fast.buffers()):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_fast_pieces_equal_the_formulas_alone():
    torch.manual_seed(0)
    s = 3 * torch.randn(50, 7)
    for slow in (Dice(7), RechubDice(7)):
        with torch.no_grad():
            slow.alpha.normal_()
        fast = speed_up(copy.deepcopy(slow))
        assert type(fast) is not type(slow)
        torch.testing.assert_close(fast(s), slow(s), atol=ATOL, rtol=0)
    unit = perturb(AttentionUnit(6, dims=(5,), activation="prelu"))
    fast = speed_up(copy.deepcopy(unit))
    q, k = torch.randn(4, 6), torch.randn(4, 3, 6)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    lin = unit.mlp.net[0]
    a = torch.cat([q.unsqueeze(1).expand_as(k), k, q.unsqueeze(1) - k, q.unsqueeze(1) * k], -1)
    torch.testing.assert_close(fast.first_layer(q, k), lin(a), atol=ATOL, rtol=0)
    torch.testing.assert_close(fast(q, k, mask), unit(q, k, mask), atol=ATOL, rtol=0)


# ----------------------------------------------------------------------------------------
# Training: fit_fast, FlatAdam, compiled loss, deterministic kernels
# ----------------------------------------------------------------------------------------
import numpy as np  # noqa: E402
from torch import nn  # noqa: E402

from recsys_course import train as T  # noqa: E402
from recsys_course.perf import train as P  # noqa: E402

HAS_CXX = __import__("shutil").which("g++") is not None


from tiny_lr import TinyLR, _data  # noqa: E402  (tests/ is on the path: conftest.py)


class NoBiasBeforeNorm(nn.Module):
    """Two tables, two Linear layers, no BatchNorm: every parameter has a real gradient.

    (A bias right before a BatchNorm has a gradient that is zero up to rounding; Adam
    divides it by its own root mean square, so rounding noise of 1e-9 becomes a step of
    size lr, and two float-equal implementations can drift apart there: that parameter
    says nothing about whether the updates agree.)"""

    def __init__(self):
        super().__init__()
        self.a = nn.Embedding(20, 4)
        self.b = nn.Embedding(5, 4)
        self.lin = nn.Linear(8, 6)
        self.out = nn.Linear(6, 1)

    def forward(self, x):
        h = torch.cat([self.a(x["id"]), self.b(x["id"] % 5)], dim=1)
        return self.out(torch.tanh(self.lin(h))).squeeze(-1)


# fit_fast against fit: the same updates computed with float32 arithmetic in another order
# (one flat update vs one per tensor, compiled vs eager kernels) differ by a few ulp per
# step; Adam's step lr * m / sqrt(v) has a relative condition number of order 1 where the
# gradient is not ~0, so after 16 steps of lr 0.05 the weights (of size ~1) agree to
# ~1e-6. 1e-4 leaves room for that; a missing, doubled or wrong step would move a weight by
# about lr = 5e-2.
FAST_ATOL = 1e-4


@pytest.mark.parametrize("compile", [False, pytest.param(True, marks=pytest.mark.skipif(
    not HAS_CXX, reason="torch.compile needs a C++ compiler"))])
def test_fit_fast_gives_the_weights_of_the_teaching_fit(compile):
    weights = []
    for fast in (False, True):
        T.set_seed(4)
        model = NoBiasBeforeNorm()
        kw = dict(epochs=2, batch_size=256, lr=0.05, seed=1, progress=False)
        if fast:
            P.fit_fast(model, _data(n=2000), compile=compile, **kw)
        else:
            T.fit(model, _data(n=2000), **kw)
        weights.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, atol=FAST_ATOL, rtol=0)
    assert not torch.are_deterministic_algorithms_enabled()


def test_fit_fast_without_ingredients_is_the_teaching_fit_bit_for_bit():
    weights = []
    for fast in (False, True):
        T.set_seed(4)
        model = SmallNet()
        kw = dict(epochs=1, batch_size=256, lr=0.05, seed=1, progress=False)
        if fast:
            P.fit_fast(model, _data(n=1000), compile=False, flat=False, deterministic=False, **kw)
        else:
            T.fit(model, _data(n=1000), **kw)
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


@pytest.mark.skipif(not HAS_CXX, reason="torch.compile needs a C++ compiler")
def test_compiled_training_matches_eager_training():
    from torch._dynamo.utils import counters
    outs = []
    for compile in (False, True):
        T.set_seed(5)
        model = TinyLR()
        counters.clear()
        P.fit_fast(model, _data(n=1000), epochs=2, batch_size=128, lr=0.05, seed=1,
                   progress=False, compile=compile)   # 1000 rows: a shorter last batch too
        assert (counters["stats"]["unique_graphs"] > 0) == compile   # really compiled
        outs.append(T.predict(model, _data(n=200, seed=3)[0]))
    assert np.allclose(outs[0], outs[1], atol=1e-5)


# ----------------------------------------------------------------------------------------
# FlatAdam: the same update as torch's Adam, over one vector
# ----------------------------------------------------------------------------------------
class SmallNet(nn.Module):
    """Two tables, a Linear and a BatchNorm: parameters of several shapes."""

    def __init__(self):
        super().__init__()
        self.a = nn.Embedding(20, 4)
        self.b = nn.Embedding(5, 4)
        self.lin = nn.Linear(8, 6)
        self.bn = nn.BatchNorm1d(6)
        self.out = nn.Linear(6, 1)

    def forward(self, x):
        h = torch.cat([self.a(x["id"]), self.b(x["id"] % 5)], dim=1)
        return self.out(torch.relu(self.bn(self.lin(h)))).squeeze(-1)


def _train_steps(model, opt, steps=6, between=None):
    x, y = _data(n=256, seed=3)
    loss_fn = nn.BCEWithLogitsLoss()
    for s in range(steps):
        idx = torch.arange(s * 32, s * 32 + 64) % 256
        loss = loss_fn(model(T.take(x, idx)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if between is not None:
            between(model)
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_flat_adam_gives_the_same_weights_as_torch_adam(weight_decay):
    # NoBiasBeforeNorm: see its docstring (SmallNet's bias before BatchNorm turns rounding
    # noise into lr-sized steps, which made this test depend on the thread count).
    # Element for element the two run the same Adam arithmetic; only the kernels' blocking
    # over one vector vs several tensors differs, a few ulp after 6 steps of lr 0.01.
    torch.manual_seed(0)
    ref_model = NoBiasBeforeNorm()
    flat_model = NoBiasBeforeNorm()
    flat_model.load_state_dict(ref_model.state_dict())
    start = [p.detach().clone() for p in ref_model.parameters()]
    ref = _train_steps(ref_model, T.make_adam(ref_model.parameters(), lr=0.01,
                                              weight_decay=weight_decay))
    opt = P.FlatAdam(flat_model.parameters(), lr=0.01, weight_decay=weight_decay)
    got = _train_steps(flat_model, opt)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)
    assert all(not torch.equal(a, b) for a, b in zip(ref, start))      # training moved them


def test_flat_adam_parameters_are_views_of_one_vector():
    model = SmallNet()
    before = [p.detach().clone() for p in model.parameters()]
    opt = P.FlatAdam(model.parameters())
    base = opt.flat.data_ptr()
    size = opt.flat.numel() * opt.flat.element_size()
    gbase = opt.flat.grad.data_ptr()
    for p, old in zip(model.parameters(), before):
        assert torch.equal(p, old)                               # values kept
        assert base <= p.data_ptr() < base + size               # ... inside the vector
        assert gbase <= p.grad.data_ptr() < gbase + size        # gradients too
    assert opt.flat.numel() == sum(p.numel() for p in model.parameters())


def test_flat_adam_survives_replaced_gradients():
    """Gradients replaced between backward and step are copied back into the vector."""
    torch.manual_seed(0)
    ref_model, model = SmallNet(), SmallNet()
    model.load_state_dict(ref_model.state_dict())
    ref = _train_steps(ref_model, T.make_adam(ref_model.parameters(), lr=0.01))

    def replace_grads(m):
        for p in m.parameters():
            p.grad = p.grad.clone()          # a new tensor, no longer the flat view

    got = _train_steps(model, P.FlatAdam(model.parameters(), lr=0.01), between=replace_grads)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=0, atol=1e-7)


def test_flat_adam_treats_gradients_set_to_none_as_zero():
    model = SmallNet()
    opt = P.FlatAdam(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)            # drops the views: grad is None
    assert all(p.grad is None for p in model.parameters())
    opt.step()                                   # first step with zero gradients: no move
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p, b)
        assert p.grad is not None and not p.grad.any()
    _train_steps(model, opt, steps=1)            # and the views are back in use
    assert opt.flat.grad.abs().sum() > 0


def test_flat_adam_refuses_replaced_parameters():
    model = SmallNet()
    opt = P.FlatAdam(model.parameters())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)                 # copies into the views: fine
    _train_steps(model, opt, steps=1)
    model.double().float()                       # new values for the same parameters
    with pytest.raises(RuntimeError, match="build a new optimizer"):
        _train_steps(model, opt, steps=1)


def test_fit_with_flat_adam_restores_the_best_epoch_into_the_views():
    torch.manual_seed(0)
    model = SmallNet()
    opt = P.FlatAdam(model.parameters(), lr=0.05)
    hist = T.fit(model, _data(), _data(seed=1), epochs=4, batch_size=128, optimizer=opt,
                 progress=False)
    p = T.predict(model, _data(seed=1)[0])
    from recsys_course import metrics
    assert metrics.auc(_data(seed=1)[1].numpy(), p) == pytest.approx(
        hist.valid_auc[hist.best_epoch], abs=1e-9)
    # the kept weights are still the optimizer's: one more step moves the model
    before = [q.detach().clone() for q in model.parameters()]
    _train_steps(model, opt, steps=1)
    assert any(not torch.equal(a, q) for a, q in zip(before, model.parameters()))


def test_deterministic_algorithms_is_restored_even_after_an_error():
    was = torch.are_deterministic_algorithms_enabled()
    with pytest.raises(KeyError):
        with P.deterministic_algorithms():
            assert torch.are_deterministic_algorithms_enabled()
            raise KeyError("boom")
    assert torch.are_deterministic_algorithms_enabled() == was


@pytest.mark.skipif(not HAS_CXX, reason="torch.compile needs a C++ compiler")
def test_compiled_training_repeats_bit_for_bit_on_two_threads():
    """Both threads add gradient rows into a 5-row table: without deterministic
    kernels the order of the additions, hence the rounding, could change run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = []
        for _ in range(2):
            T.set_seed(1)
            model = SmallNet()
            P.fit_fast(model, _data(n=2048), epochs=2, batch_size=512, lr=0.05, seed=2,
                       progress=False, compile=True)
            runs.append([p.detach().clone() for p in model.parameters()])
        for a, b in zip(*runs):
            assert torch.equal(a, b)
    finally:
        torch.set_num_threads(threads)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.skipif(not HAS_CXX, reason="torch.compile needs a C++ compiler")
def test_compiled_fit_serves_any_number_of_rows_without_recompiling():
    """A warm-up on a few rows compiles once; training on the full data reuses it
    (the benchmark times the full epochs, and a recompilation there would count)."""
    torch.manual_seed(0)
    model = SmallNet()
    opt = P.FlatAdam(model.parameters(), lr=0.01)
    x, y = _data(n=3000)
    P.fit_fast(model, (T.take(x, torch.arange(512)), y[:512]), epochs=1, batch_size=256,
               optimizer=opt, progress=False, compile=True)
    with torch.compiler.set_stance("fail_on_recompile"):
        hist = P.fit_fast(model, (x, y), epochs=1, batch_size=256, optimizer=opt,
                          progress=False, compile=True)
    assert np.isfinite(hist.train_loss[0])
