"""The teaching training loop (recsys_course.train)."""
import numpy as np
import pytest
import torch
from torch import nn

from recsys_course import train as T


from tiny_lr import TinyLR, _data  # noqa: E402  (tests/ is on the path: conftest.py)


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


def test_fit_trains_with_torch_adam(monkeypatch):
    steps = []
    original = torch.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        steps.append(type(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    T.fit(TinyLR(), _data(n=300), epochs=1, batch_size=100, progress=False)
    assert steps == [torch.optim.Adam] * 3
    assert isinstance(T.make_adam(TinyLR().parameters()), torch.optim.Adam)


def test_a_model_trained_by_fit_can_change_dtype_and_train_again():
    torch.manual_seed(0)
    model = TinyLR()
    T.fit(model, _data(n=300), epochs=1, batch_size=100, progress=False)
    model.double()                                  # the optimizer did not rewire .data
    assert model.w.weight.dtype == torch.float64
    x, y = _data(n=300)
    out = model(x)
    assert out.dtype == torch.float64
    hist = T.fit(model, (x, y.double()), epochs=1, batch_size=100, progress=False)
    assert np.isfinite(hist.train_loss[0])


def test_fit_accepts_its_own_optimizer_and_loss():
    calls = []

    def loss(model, x, y, idx):
        calls.append(len(idx))
        return T.batch_loss(model, x, y, idx)

    model = TinyLR()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    T.fit(model, _data(n=250), epochs=1, batch_size=100, optimizer=opt, loss=loss,
          progress=False)
    assert calls == [100, 100, 50]
