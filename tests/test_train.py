"""The training loop (recsys_course.train)."""
import numpy as np
import pytest
import torch
from torch import nn

from recsys_course import train as T


class TinyLR(nn.Module):
    def __init__(self, n_ids=20):
        super().__init__()
        self.w = nn.Embedding(n_ids, 1)
        self.bn = nn.BatchNorm1d(1)          # BatchNorm makes one-row batches fail

    def forward(self, x):
        return self.bn(self.w(x["id"])).squeeze(-1)


def _data(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 20, (n,), generator=g)
    p = torch.sigmoid((ids.float() - 10) / 3)
    y = torch.bernoulli(p, generator=g)
    return {"id": ids}, y


def test_fit_learns_and_reports_history():
    torch.manual_seed(0)
    model = TinyLR()
    hist = T.fit(model, _data(), _data(seed=1), epochs=5, batch_size=128, lr=0.05, progress=False)
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.valid_auc[hist.best_epoch] > 0.8
    assert len(hist.as_frame()) == len(hist.train_loss)
    assert hist.samples_per_second > 0


def test_fit_is_deterministic_under_a_seed():
    outs = []
    for _ in range(2):
        T.set_seed(3)
        model = TinyLR()
        T.fit(model, _data(), epochs=2, batch_size=100, lr=0.05, seed=7, progress=False)
        outs.append(model.w.weight.detach().clone())
    assert torch.equal(outs[0], outs[1])


def test_early_stopping_restores_the_best_epoch():
    torch.manual_seed(0)
    model = TinyLR()
    train, valid = _data(), _data(seed=1)
    # A huge learning rate makes validation AUC wander; the best epoch must be restored.
    hist = T.fit(model, train, valid, epochs=8, batch_size=64, lr=5.0, patience=2, progress=False)
    final_auc = T.metrics.auc(valid[1].numpy(), T.predict(model, valid[0]))
    assert final_auc == pytest.approx(max(hist.valid_auc))
    assert len(hist.valid_auc) <= 8


def test_a_one_row_tail_batch_is_folded():
    model = TinyLR()
    x, y = _data(n=129)
    T.fit(model, (x, y), epochs=1, batch_size=128, progress=False)  # would raise in BatchNorm


def test_predict_returns_probabilities_in_eval_mode():
    model = TinyLR().train()
    p = T.predict(model, _data(n=50)[0], batch_size=16)
    assert p.shape == (50,) and ((p >= 0) & (p <= 1)).all()
    assert not model.training


def test_mismatched_rows_are_named():
    with pytest.raises(ValueError, match="same number of rows"):
        T.n_rows({"a": torch.zeros(3), "b": torch.zeros(4)})
    with pytest.raises(ValueError, match="labels"):
        T.fit(TinyLR(), ({"id": torch.zeros(5, dtype=torch.long)}, torch.zeros(4)), progress=False)


def test_a_diverging_loss_is_reported_with_its_epoch():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return self.w * x["v"]

    x = {"v": torch.tensor([1.0, float("nan"), 2.0, 3.0])}
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1"):
        T.fit(Bad(), (x, torch.tensor([0.0, 1.0, 0.0, 1.0])), epochs=1, progress=False)


def test_a_one_class_validation_set_is_named():
    with pytest.raises(ValueError, match="validation set"):
        T.fit(TinyLR(), _data(n=200), ({"id": torch.arange(10) % 20}, torch.ones(10)),
              epochs=1, progress=False)


def test_the_kept_epoch_is_marked_in_the_frame():
    torch.manual_seed(0)
    hist = T.fit(TinyLR(), _data(), _data(seed=1), epochs=4, lr=0.05, progress=False)
    frame = hist.as_frame()
    assert frame.kept.sum() == 1
    assert frame.valid_auc[frame.kept].item() == max(hist.valid_auc)


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_compiled_training_matches_eager_training():
    from torch._dynamo.utils import counters
    outs = []
    for compile in (False, True):
        T.set_seed(5)
        model = TinyLR()
        counters.clear()
        T.fit(model, _data(n=1000), epochs=2, batch_size=128, lr=0.05, seed=1,
              progress=False, compile=compile)        # 1000 rows: a shorter last batch too
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
    torch.manual_seed(0)
    ref_model = SmallNet()
    flat_model = SmallNet()
    flat_model.load_state_dict(ref_model.state_dict())
    start = [p.detach().clone() for p in ref_model.parameters()]
    ref = _train_steps(ref_model, T.make_adam(ref_model.parameters(), lr=0.01,
                                              weight_decay=weight_decay, flat=False))
    opt = T.make_adam(flat_model.parameters(), lr=0.01, weight_decay=weight_decay)
    assert isinstance(opt, T.FlatAdam)
    got = _train_steps(flat_model, opt)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=0, atol=1e-7)
    assert all(not torch.equal(a, b) for a, b in zip(ref, start))      # training moved them


def test_flat_adam_parameters_are_views_of_one_vector():
    model = SmallNet()
    before = [p.detach().clone() for p in model.parameters()]
    opt = T.FlatAdam(model.parameters())
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
    ref = _train_steps(ref_model, T.make_adam(ref_model.parameters(), lr=0.01, flat=False))

    def replace_grads(m):
        for p in m.parameters():
            p.grad = p.grad.clone()          # a new tensor, no longer the flat view

    got = _train_steps(model, T.make_adam(model.parameters(), lr=0.01), between=replace_grads)
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=0, atol=1e-7)


def test_flat_adam_treats_gradients_set_to_none_as_zero():
    model = SmallNet()
    opt = T.make_adam(model.parameters(), lr=0.01)
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
    opt = T.make_adam(model.parameters())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)                 # copies into the views: fine
    _train_steps(model, opt, steps=1)
    model.double().float()                       # new values for the same parameters
    with pytest.raises(RuntimeError, match="build a new optimizer"):
        _train_steps(model, opt, steps=1)


def test_fit_with_flat_adam_restores_the_best_epoch_into_the_views():
    torch.manual_seed(0)
    model = SmallNet()
    opt = T.make_adam(model.parameters(), lr=0.05)
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
        with T.deterministic_algorithms():
            assert torch.are_deterministic_algorithms_enabled()
            raise KeyError("boom")
    assert torch.are_deterministic_algorithms_enabled() == was


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="torch.compile needs a C++ compiler")
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
            T.fit(model, _data(n=2048), epochs=2, batch_size=512, lr=0.05, seed=2,
                  progress=False, compile=True)
            runs.append([p.detach().clone() for p in model.parameters()])
        for a, b in zip(*runs):
            assert torch.equal(a, b)
    finally:
        torch.set_num_threads(threads)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_compiled_fit_serves_any_number_of_rows_without_recompiling():
    """A warm-up on a few rows compiles once; training on the full data reuses it
    (the benchmark times the full epochs, and a recompilation there would count)."""
    torch.manual_seed(0)
    model = SmallNet()
    opt = T.make_adam(model.parameters(), lr=0.01)
    x, y = _data(n=3000)
    T.fit(model, (T.take(x, torch.arange(512)), y[:512]), epochs=1, batch_size=256,
          optimizer=opt, progress=False, compile=True)
    with torch.compiler.set_stance("fail_on_recompile"):
        hist = T.fit(model, (x, y), epochs=1, batch_size=256, optimizer=opt,
                     progress=False, compile=True)
    assert np.isfinite(hist.train_loss[0])
