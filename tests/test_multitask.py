"""The multi-task models of chapter 07: ESMM, MMoE, SharedBottom.

* against torch-rechub 0.9.0 on random configurations (feature counts, embedding sizes,
  expert/tower/bottom widths, activations, dropout, sequences, shared tables, dense
  inputs): build theirs, move every weight and BatchNorm statistic away from its initial
  value, convert with ``*_from_rechub`` and require equal outputs in eval mode;
* the losses (ESMM's entire-space loss against its definition), the gates, the data
  builders of ``recsys_course.multitask``.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from recsys_course.models import ESMM, MMoE, SharedBottom
from recsys_course.models.esmm import esmm_loss, log1mexp, naive_cvr_loss
from recsys_course.features import DenseFeature, SparseFeature


pytestmark = pytest.mark.usefixtures("one_thread")

ATOL = 1e-6
B, L = 32, 5
ACTIVATIONS = ["relu", "prelu", "sigmoid", "leakyrelu", "dice", nn.Tanh]


# ----------------------------------------------------------------------------------------
# Random torch-rechub configurations
# ----------------------------------------------------------------------------------------
def _rf():
    pytest.importorskip("torch_rechub")
    from torch_rechub.basic import features as rf
    return rf


def draw_features(rng: random.Random, dim: int, prefix: str = "", dense: bool = True,
                  sequences: bool = True) -> list:
    """Categorical features of one embedding size (torch-rechub stacks them), optionally
    sequences (mean/sum, padding 0 or none), a table shared by an alias, dense values."""
    rf = _rf()
    feats = [rf.SparseFeature(f"{prefix}s{i}", vocab_size=rng.randint(3, 30), embed_dim=dim)
             for i in range(rng.randint(1, 4))]
    if sequences and rng.random() < 0.5:
        feats.append(rf.SequenceFeature(f"{prefix}q", vocab_size=rng.randint(3, 30),
                                        embed_dim=dim, pooling=rng.choice(["mean", "sum"]),
                                        padding_idx=rng.choice([None, 0])))
    if rng.random() < 0.4:
        feats.append(rf.SparseFeature(f"{prefix}alias", vocab_size=feats[0].vocab_size,
                                      embed_dim=dim, shared_with=feats[0].name))
    if dense and rng.random() < 0.6:
        feats += [rf.DenseFeature(f"{prefix}d{i}") for i in range(rng.randint(1, 3))]
    rng.shuffle(feats)
    if feats[0].__class__.__name__ == "SparseFeature" and feats[0].shared_with:
        feats.append(feats.pop(0))      # keep a table's owner before its alias (cosmetic)
    return feats


def draw_mlp(rng: random.Random, hidden_at_least: int = 0) -> dict:
    return dict(dims=[rng.choice([2, 5, 8, 16]) for _ in range(rng.randint(hidden_at_least, 3))],
                dropout=rng.choice([0.0, 0.3]), activation=rng.choice(ACTIVATIONS))


def build_esmm(seed: int):
    from torch_rechub.models.multi_task import ESMM as RechubESMM
    rng = random.Random(seed)
    user = draw_features(rng, rng.choice([2, 4, 8]), "u_", dense=False)
    item = draw_features(rng, rng.choice([2, 4, 8]), "i_", dense=False)
    model = RechubESMM(user, item, cvr_params=draw_mlp(rng), ctr_params=draw_mlp(rng))
    return model, user + item, None


def build_mmoe(seed: int):
    from torch_rechub.models.multi_task import MMOE
    rng = random.Random(seed)
    feats = draw_features(rng, rng.choice([2, 4, 8]))
    n_tasks = rng.randint(1, 3)
    types = [rng.choice(["classification", "regression"]) for _ in range(n_tasks)]
    model = MMOE(feats, types, n_expert=rng.randint(1, 5), expert_params=draw_mlp(rng, 1),
                 tower_params_list=[draw_mlp(rng) for _ in range(n_tasks)])
    return model, feats, types


def build_shared_bottom(seed: int):
    from torch_rechub.models.multi_task import SharedBottom as RechubSharedBottom
    rng = random.Random(seed)
    feats = draw_features(rng, rng.choice([2, 4, 8]))
    n_tasks = rng.randint(1, 3)
    types = [rng.choice(["classification", "regression"]) for _ in range(n_tasks)]
    model = RechubSharedBottom(feats, types, bottom_params=draw_mlp(rng, 1),
                               tower_params_list=[draw_mlp(rng) for _ in range(n_tasks)])
    return model, feats, types


def make_batch(feats: list, seed: int) -> dict[str, torch.Tensor]:
    rf = _rf()
    g = torch.Generator().manual_seed(seed)
    x = {}
    for f in feats:
        if isinstance(f, rf.DenseFeature):
            x[f.name] = torch.randn(B, generator=g)
        elif isinstance(f, rf.SequenceFeature):
            ids = torch.randint(1, f.vocab_size, (B, L), generator=g)
            lengths = torch.randint(0, L + 1, (B,), generator=g)              # some rows empty
            ids[torch.arange(L) >= lengths.unsqueeze(1)] = 0
            x[f.name] = ids
        else:
            x[f.name] = torch.randint(0, f.vocab_size, (B,), generator=g)
    return x


@torch.no_grad()
def perturb(model: nn.Module, seed: int) -> None:
    """Move every parameter and BatchNorm statistic away from its initial value."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        scale = 0.5 if "embed" in name else 0.3
        p.add_(scale * torch.randn(p.shape, generator=g))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(m.num_features, generator=g))


def converted(kind: str, seed: int):
    """(theirs, ours, x, their output, our output mapped to theirs), eval mode."""
    from recsys_course.reference import multitask as ref
    build = {"esmm": build_esmm, "mmoe": build_mmoe, "shared_bottom": build_shared_bottom}[kind]
    torch.manual_seed(seed)
    theirs, feats, types = build(seed)
    perturb(theirs, seed)
    ours = getattr(ref, f"{kind}_from_rechub")(theirs)
    x = make_batch(feats, seed)
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        out_theirs = theirs(x)
        logits = ours(x)
    mapped = ref.rechub_esmm_outputs(logits) if kind == "esmm" else ref.rechub_outputs(logits, types)
    return theirs, ours, x, out_theirs, mapped


# ----------------------------------------------------------------------------------------
# Equality with torch-rechub
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["esmm", "mmoe", "shared_bottom"])
def test_from_rechub_gives_the_same_outputs_on_random_configurations(kind, seed):
    theirs, ours, x, out_theirs, mapped = converted(kind, seed)
    expected_cls = {"esmm": ESMM, "mmoe": MMoE, "shared_bottom": SharedBottom}[kind]
    assert type(ours) is expected_cls
    assert mapped.shape == out_theirs.shape
    assert out_theirs.std(dim=0).max() > 1e-4, "outputs barely vary: the check would prove nothing"
    err = (mapped - out_theirs).abs().max().item()
    assert err <= ATOL * max(1.0, out_theirs.abs().max().item()), f"max difference {err:.2e}"


def test_a_wrong_weight_breaks_the_equality_check():
    """The comparison can fail: change one copied weight and the outputs differ."""
    theirs, ours, x, out_theirs, mapped = converted("mmoe", 3)
    with torch.no_grad():
        ours.experts[0].net[0].weight.add_(0.5)
        logits = ours(x)
    from recsys_course.reference.multitask import rechub_outputs
    types = [layer.task_type for layer in theirs.predict_layers]
    assert (rechub_outputs(logits, types) - out_theirs).abs().max() > 1e-3


def test_rechub_mmoe_gate_depends_on_the_batch_in_training_mode_and_the_papers_does_not():
    from recsys_course.reference.multitask import mmoe_from_rechub
    theirs, feats, _ = build_mmoe(5)
    while len(theirs.experts) < 2:                       # a gate over one expert is constant
        theirs, feats, _ = build_mmoe(int(np.random.default_rng(len(feats)).integers(100, 999)))
    ours = mmoe_from_rechub(theirs).train()
    x = make_batch(feats, 0)
    first = {k: v[:8] for k, v in x.items()}
    with torch.no_grad():
        full = ours.gates(x)[:8]
        alone = ours.gates(first)
    assert (full - alone).abs().max() > 1e-4
    paper = MMoE(ours.embedding.features, n_tasks=2, n_experts=3).train()
    with torch.no_grad():
        assert torch.allclose(paper.gates(x)[:8], paper.gates(first), atol=1e-6)


# ----------------------------------------------------------------------------------------
# Our models
# ----------------------------------------------------------------------------------------
def toy_features():
    return [SparseFeature("u", 20, 4), SparseFeature("i", 30, 4), DenseFeature("d")]


def toy_batch(n: int = 64, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"u": torch.randint(0, 20, (n,), generator=g), "i": torch.randint(0, 30, (n,), generator=g),
            "d": torch.randn(n, generator=g)}


@pytest.mark.parametrize("make", [lambda f: ESMM(f), lambda f: MMoE(f, n_tasks=3, n_experts=4),
                                  lambda f: SharedBottom(f, n_tasks=3)])
def test_models_return_one_logit_per_task(make):
    model = make(toy_features())
    out = model(toy_batch(17))
    assert out.shape == (17, 2 if isinstance(model, ESMM) else 3)


def test_mmoe_takes_torch_rechubs_gate_as_an_option_and_refuses_unknown_gates():
    from recsys_course.reference.multitask import RechubGate
    model = MMoE(toy_features(), n_tasks=2, n_experts=3, gate=RechubGate)
    assert all(isinstance(g, RechubGate) for g in model.gate_modules)
    assert model(toy_batch(9)).shape == (9, 2)
    with pytest.raises(ValueError):
        MMoE(toy_features(), gate="rechub")


def test_mmoe_gates_are_distributions_over_the_experts():
    model = MMoE(toy_features(), n_tasks=2, n_experts=5).eval()
    g = model.gates(toy_batch())
    assert g.shape == (64, 2, 5)
    assert torch.allclose(g.sum(-1), torch.ones(64, 2), atol=1e-6) and (g >= 0).all()


def test_mmoe_with_one_expert_is_a_shared_bottom():
    torch.manual_seed(0)
    mmoe = MMoE(toy_features(), n_tasks=2, n_experts=1, expert_dims=(8,), tower_dims=(4,)).eval()
    sb = SharedBottom(toy_features(), n_tasks=2, bottom_dims=(8,), tower_dims=(4,)).eval()
    sb.embedding.load_state_dict(mmoe.embedding.state_dict())
    sb.bottom.load_state_dict(mmoe.experts[0].state_dict())
    sb.towers.load_state_dict(mmoe.towers.state_dict())
    x = toy_batch()
    assert torch.allclose(mmoe(x), sb(x), atol=1e-6)


def test_esmm_loss_is_ctr_bce_plus_ctcvr_bce_of_the_product():
    g = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(200, 2, generator=g, dtype=torch.float64)
    click = (torch.rand(200, generator=g) < 0.4).double()
    conv = click * (torch.rand(200, generator=g) < 0.5).double()
    p = torch.sigmoid(logits)
    bce = torch.nn.functional.binary_cross_entropy
    expected = bce(p[:, 0], click) + bce(p[:, 0] * p[:, 1], conv)
    got = esmm_loss(logits, torch.stack([click, conv], 1))
    assert torch.allclose(got, expected, atol=1e-10)


def test_esmm_loss_stays_finite_for_extreme_logits_and_log1mexp_is_accurate():
    logits = torch.tensor([[40.0, 40.0], [-60.0, 30.0], [30.0, -80.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    loss = esmm_loss(logits, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    a = torch.tensor([-1e-8, -0.1, -0.7, -5.0, -50.0], dtype=torch.float64)
    assert torch.allclose(log1mexp(a), torch.log(1 - torch.exp(a)), rtol=1e-6)


def test_naive_cvr_loss_ignores_the_cvr_logit_of_unclicked_rows():
    logits = torch.zeros(4, 2, requires_grad=True)
    y = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    naive_cvr_loss(logits, y).backward()
    assert (logits.grad[[1, 3], 1] == 0).all() and (logits.grad[[0, 2], 1] != 0).all()
    logits.grad = None
    esmm_loss(logits, y).backward()
    assert (logits.grad[[1, 3], 1] != 0).all()       # ESMM's CVR tower learns from every row


# ----------------------------------------------------------------------------------------
# recsys_course.multitask: data builders, training loop, paired verdicts
# ----------------------------------------------------------------------------------------
def tiny_movielens(n_users=30, n_items=60, per_user=12, seed=0):
    """A MovieLens-shaped object with random ratings (no file needed)."""
    import pandas as pd
    from types import SimpleNamespace
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_users + 1):
        for i in rng.choice(np.arange(1, n_items + 1), per_user, replace=False):
            rows.append((u, int(i), int(rng.integers(1, 6)), int(rng.integers(0, 10_000))))
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    users = pd.DataFrame({"user_id": range(1, n_users + 1), "age": rng.integers(10, 70, n_users),
                          "gender": rng.choice(["M", "F"], n_users),
                          "occupation": rng.choice(["a", "b", "c"], n_users),
                          "zip_code": rng.choice(["12345", "55555", "90210"], n_users)})
    genres = ["Action", "Comedy", "Drama"]
    items = pd.DataFrame({"item_id": range(1, n_items + 1),
                          "release_date": rng.choice(["01-Jan-1995", "01-Jan-1987", None], n_items)})
    for g in genres:
        items[g] = rng.integers(0, 2, n_items)
    return SimpleNamespace(ratings=ratings, users=users, items=items, genres=genres)


def test_movielens_impressions_adds_unwatched_rows_with_zero_labels_in_the_rating_split():
    from recsys_course import multitask as mt
    ml = tiny_movielens()
    task = mt.movielens_impressions(ml, negatives=2, embed_dim=4)
    f = task.frame
    watched = f[f["click"] == 1]
    unwatched = f[f["click"] == 0]
    assert len(watched) == len(ml.ratings)
    assert len(unwatched) == 2 * len(ml.ratings)          # exactly two per watch
    assert (unwatched["conversion"] == 0).all()
    assert ((watched["conversion"] == 1) == (watched["rating"] >= 4)).all()
    rated = set(zip(ml.ratings["user_id"], ml.ratings["item_id"]))
    assert not any(pair in rated for pair in zip(unwatched["user_id"], unwatched["item_id"]))
    assert sum(task.sizes().values()) == len(f)
    x, y = task.train
    assert y.shape == (task.sizes()["train"], 2) and set(x) == {feat.name for feat in task.features}
    xc, yc = task.clicked("train")
    assert (yc[:, 0] == 1).all() and len(yc) == int(task.train[1][:, 0].sum())


def test_sample_unwatched_keeps_each_impression_with_its_rating_time():
    from recsys_course import multitask as mt
    ml = tiny_movielens(seed=1)
    neg = mt.sample_unwatched(ml.ratings, negatives=3, seed=0)
    src = ml.ratings.iloc[neg["source_row"]]
    assert (neg["timestamp"].to_numpy() == src["timestamp"].to_numpy()).all()
    assert (neg["user_id"].to_numpy() == src["user_id"].to_numpy()).all()
    assert neg.groupby("source_row").size().max() <= 3


def test_sample_unwatched_gives_every_rating_exactly_its_distinct_unwatched_movies():
    from recsys_course import multitask as mt
    ml = tiny_movielens(seed=2)
    for power in (1.0, 0.0):
        neg = mt.sample_unwatched(ml.ratings, negatives=3, seed=4, popularity_power=power)
        sizes = neg.groupby("source_row").size()
        assert len(sizes) == len(ml.ratings) and (sizes == 3).all()
        assert not neg.duplicated(["source_row", "item_id"]).any()
        rated = set(zip(ml.ratings["user_id"], ml.ratings["item_id"]))
        assert not any(pair in rated for pair in zip(neg["user_id"], neg["item_id"]))


def test_selection_bias_lab_plants_truth_and_observes_conversions_only_after_clicks():
    from recsys_course import multitask as mt
    lab = mt.selection_bias_lab(n_users=300, n_items=100, per_user=20, rho=-0.8, seed=1)
    f = lab.frame
    assert (f["conversion"] == f["click"] * f["z"]).all()
    # with appeal and quality anti-correlated, clicked rows convert less than the average
    # impression would: the planted selection bias (6000 rows; the gap is ~0.05 with sd ~0.01)
    assert f.loc[f["click"] == 1, "p_cvr"].mean() < f["p_cvr"].mean() - 0.01
    assert set(f["split"]) == {"train", "valid", "test"}


@pytest.mark.parametrize("rho", [1.0, 0.0, -1.0])
def test_correlated_tasks_follow_the_requested_correlation(rho):
    from recsys_course import multitask as mt
    t = mt.correlated_tasks(n_rows=4000, correlation=rho, seed=0)
    y = t.train[1].numpy()
    r = np.corrcoef(y.T)[0, 1]
    if rho == 1.0:
        assert r > 0.99                      # the same task twice, up to the noise
    elif rho == -1.0:
        assert r < 0.5
    else:
        assert abs(r) < 0.6
    assert abs(y.mean(0)).max() < 1e-4 and np.allclose(y.std(0), 1, atol=1e-3)


def test_fit_multitask_lowers_the_loss_and_keeps_the_best_epoch():
    from recsys_course import multitask as mt
    t = mt.correlated_tasks(n_rows=2000, correlation=0.5, seed=0)
    torch.manual_seed(0)
    model = SharedBottom(t.features, n_tasks=2, bottom_dims=(16,), tower_dims=(8,), batch_norm=False)
    before = -mt.neg_mse(model, t.valid)
    hist = mt.fit_multitask(model, t.train, t.valid, loss_fn=mt.mse_per_task,
                            score_fn=mt.neg_mse, epochs=5, batch_size=128, lr=3e-3)
    after = -mt.neg_mse(model, t.valid)
    assert after < before
    assert after == pytest.approx(-max(hist.valid_score), rel=1e-6)


def test_paired_comparison_verdict_follows_the_numbers_either_way():
    from recsys_course import multitask as mt
    a, b = np.array([0.71, 0.72, 0.73]), np.array([0.70, 0.705, 0.71])
    _, s = mt.paired_comparison(a, b, "A", "B", "AUC")
    assert s.startswith("A beats B")
    _, s = mt.paired_comparison(b, a, "B", "A", "AUC")
    assert s.startswith("A beats B")
    _, s = mt.paired_comparison(a, b, "A", "B", "loss", higher_is_better=False)
    assert s.startswith("B beats A")
    _, s = mt.paired_comparison(np.array([0.7, 0.8, 0.6]), np.array([0.71, 0.69, 0.7]), "A", "B", "AUC")
    assert "not separated" in s
    _, s = mt.paired_comparison([0.7], [0.6], "A", "B", "AUC")
    assert "single run" in s and "no verdict" in s


@pytest.mark.parametrize("kind, cls", [("esmm", ESMM), ("mmoe", MMoE), ("shared_bottom", SharedBottom)])
def test_the_bridge_s_from_rechub_dispatches_multi_task_models(kind, cls):
    build = {"esmm": build_esmm, "mmoe": build_mmoe, "shared_bottom": build_shared_bottom}[kind]
    theirs, feats, _ = build(41)
    perturb(theirs, 41)
    from recsys_course.reference import from_rechub
    from recsys_course.reference import multitask as ref
    ours = from_rechub(theirs).eval()
    assert type(ours) is cls
    again = getattr(ref, f"{kind}_from_rechub")(theirs).eval()
    x = make_batch(feats, 41)
    with torch.no_grad():
        assert torch.equal(ours(x), again(x))


def test_selection_bias_lab_cold_tail_is_rarely_clicked_and_shifts_only_its_items():
    from recsys_course import multitask as mt
    plain = mt.selection_bias_lab(n_users=300, n_items=100, per_user=20, seed=2).frame
    tail = mt.selection_bias_lab(n_users=300, n_items=100, per_user=20, seed=2, cold_share=0.5,
                                 cold_shift=-3.0, cold_cvr_shift=-2.0).frame
    assert not plain["cold"].any() and 0 < tail["cold"].mean() < 1
    cold = tail["cold"].to_numpy()
    # the same draws, shifted on the tail only: true probabilities fall there, stay elsewhere
    assert np.allclose(tail["p_click"][~cold], plain["p_click"][~cold])
    assert (tail["p_click"][cold] < plain["p_click"][cold]).all()
    assert (tail["p_cvr"][cold] < plain["p_cvr"][cold]).all()
