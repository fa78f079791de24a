"""DIN, the base model, Dice and the attention unit (chapter 04), and the equivalence of
torch-rechub 0.9.0's DIN with its counterpart in ``recsys_course.reference``."""
import random

import pytest
import torch

from recsys_course.features import DenseFeature, SequenceFeature, SparseFeature
from recsys_course.models import DIN, AttentionUnit, BaseSeqModel, Dice
from recsys_course.reference import RechubDice, RechubDIN, from_rechub

B, L = 6, 5


def make_batch(seed=0, B=B, L=L, n_items=30, n_cates=7, with_empty=True):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(1, L + 1, (B,), generator=g)
    if with_empty:
        lens[0] = 0                                        # one user with no history
    lens[-1] = L                                           # one full history
    real = torch.arange(L) < lens[:, None]                 # (B, L)
    return {
        "user": torch.randint(1, 11, (B,), generator=g),
        "item": torch.randint(1, n_items, (B,), generator=g),
        "cate": torch.randint(1, n_cates, (B,), generator=g),
        "hist_item": torch.where(real, torch.randint(1, n_items, (B, L), generator=g), 0),
        "hist_cate": torch.where(real, torch.randint(1, n_cates, (B, L), generator=g), 0),
        "age": torch.rand(B, generator=g),
    }


def our_features(D=8, dense=False):
    features = [SparseFeature("user", 11, D)] + ([DenseFeature("age")] if dense else [])
    history = [SequenceFeature("hist_item", 30, D, max_len=L, shared_with="item"),
               SequenceFeature("hist_cate", 7, D, max_len=L, shared_with="cate")]
    targets = [SparseFeature("item", 30, D), SparseFeature("cate", 7, D)]
    return features, history, targets


def randomise(model, scale=0.5):
    """Move every parameter and running statistic away from its default."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, Dice)):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return model


# ----------------------------------------------------------------------------------------
# Dice
# ----------------------------------------------------------------------------------------
S = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0], [-1.0, 4.0, 2.0], [0.0, 1.0, -3.0]])


def test_dice_paper_train_mode_uses_batch_statistics_and_updates_running_ones():
    dice = Dice(3, momentum=0.1)
    with torch.no_grad():
        dice.alpha.copy_(torch.tensor([0.1, -0.2, 0.3]))
    dice.train()
    out = dice(S)
    expected = torch.empty_like(S)
    for j in range(3):                                     # per neuron, over the batch
        col = [S[i, j].item() for i in range(4)]
        mean = sum(col) / 4
        var = sum((c - mean) ** 2 for c in col) / 4        # biased, as in BatchNorm
        for i in range(4):
            p = 1 / (1 + torch.exp(torch.tensor(-(col[i] - mean) / (var + 1e-8) ** 0.5)))
            expected[i, j] = p * col[i] + (1 - p) * dice.alpha[j].item() * col[i]
        assert dice.running_mean[j].item() == pytest.approx(0.1 * mean, abs=1e-6)
        assert dice.running_var[j].item() == pytest.approx(0.9 + 0.1 * var * 4 / 3, abs=1e-6)
    assert torch.allclose(out, expected, atol=1e-6)


def test_dice_paper_eval_mode_uses_running_statistics():
    dice = Dice(3)
    with torch.no_grad():
        dice.alpha.fill_(0.25)
        dice.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        dice.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    dice.eval()
    s = torch.tensor([[1.5, -1.0, 1.0]])                   # a single row works in eval
    # by hand: z = (1.5-.5)/2 = .5, (-1+1)/1 = 0, (1-2)/.5 = -2
    p = torch.sigmoid(torch.tensor([0.5, 0.0, -2.0]))
    expected = p * s + (1 - p) * 0.25 * s
    assert torch.allclose(dice(s), expected, atol=1e-6)
    # and the output of one row does not depend on the other rows of the batch
    assert torch.allclose(dice(torch.cat([s, S]))[:1], expected, atol=1e-6)


def test_rechub_dice_normalises_each_row_over_its_neurons():
    from torch_rechub.basic.activation import Dice as TheirDice
    dice = RechubDice(3)
    with torch.no_grad():
        dice.alpha.fill_(-0.7)
    row = S[0].tolist()                                    # [1, -2, .5]: mean -1/6
    mean = sum(row) / 3
    denom = sum((r - mean) ** 2 + 1e-3 for r in row) ** 0.5   # a sum, not a mean
    p = torch.sigmoid(torch.tensor([(r - mean) / denom for r in row]))
    expected = p * S[0] + (1 - p) * -0.7 * S[0]
    for mode in (dice.train, dice.eval):                   # no batch statistics at all
        mode()
        assert torch.allclose(dice(S)[0], expected, atol=1e-6)
        assert torch.allclose(dice(S[:1])[0], expected, atol=1e-6)
    theirs = TheirDice()
    with torch.no_grad():
        theirs.alpha.fill_(-0.7)
    assert torch.allclose(dice(S), theirs(S), atol=1e-7)
    assert not torch.allclose(Dice(3).train()(S), dice(S), atol=1e-3)   # the variants differ


# ----------------------------------------------------------------------------------------
# Attention unit
# ----------------------------------------------------------------------------------------
def attention_inputs(seed=0, D=4):
    g = torch.Generator().manual_seed(seed)
    x = make_batch(seed)
    mask = x["hist_item"] != 0
    return torch.randn(B, D, generator=g), torch.randn(B, L, D, generator=g), mask


def test_attention_weights_have_shape_b_l_and_are_zero_at_padding():
    torch.manual_seed(0)
    unit = randomise(AttentionUnit(4, dims=(8,), activation="dice", batch_norm=True)).eval()
    q, k, mask = attention_inputs()
    pooled, w = unit(q, k, mask, return_weights=True)
    assert pooled.shape == (B, 4) and w.shape == (B, L)
    assert (w[~mask] == 0).all() and (w[mask] != 0).all()
    assert torch.allclose(pooled, (w.unsqueeze(-1) * k).sum(1))
    assert torch.allclose(pooled[0], torch.zeros(4))       # empty history


def test_attention_softmax_sums_to_one_over_real_positions():
    torch.manual_seed(1)
    unit = randomise(AttentionUnit(4, dims=(8,), normalize="softmax")).eval()
    q, k, mask = attention_inputs(1)
    _, w = unit(q, k, mask, return_weights=True)
    # the authors' code: mask, scale by 1/sqrt(D), softmax over the real positions
    raw = unit.scores(q, k, mask) / 4 ** 0.5
    for b in range(B):
        if mask[b].any():
            expected = torch.softmax(raw[b][mask[b]], dim=0)
            torch.testing.assert_close(w[b][mask[b]], expected)
    has_history = mask.any(1)
    assert torch.allclose(w.sum(1)[has_history], torch.ones(int(has_history.sum())))
    assert (w[~mask] == 0).all() and (w[~has_history] == 0).all()
    # without masking, the padded positions take part of the mass
    unit.mask = False
    _, w_all = unit(q, k, mask, return_weights=True)
    assert torch.allclose(w_all.sum(1), torch.ones(B))
    assert (w_all[~mask] > 0).all()


def test_attention_without_softmax_keeps_intensity():
    """Raw weights: repeating a history item adds its weight again (softmax would not)."""
    torch.manual_seed(2)
    unit = randomise(AttentionUnit(4, dims=(8,), activation="prelu")).eval()
    q, k = torch.randn(1, 4), torch.randn(1, 1, 4)
    one = unit(q, k, torch.ones(1, 1, dtype=torch.bool))
    two = unit(q, k.repeat(1, 2, 1), torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(two, 2 * one, atol=1e-6)


# ----------------------------------------------------------------------------------------
# DIN and the base model
# ----------------------------------------------------------------------------------------
def test_din_returns_logits_of_shape_b_and_trains():
    torch.manual_seed(0)
    model = DIN(*our_features(dense=True), attention_dims=(8,), mlp_dims=(16, 8),
                normalize="softmax")
    x = make_batch()
    out = model(x)
    assert out.shape == (B,) and out.dtype == torch.float32
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out, torch.ones(B))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    weights = model.eval().attention_weights(x)
    assert set(weights) == {"hist_item", "hist_cate"}
    assert all(w.shape == (B, L) for w in weights.values())


@pytest.mark.parametrize("train", [False, True])
def test_din_masking_makes_padding_rows_irrelevant(train):
    torch.manual_seed(0)
    model = randomise(DIN(*our_features(), attention_dims=(8,), attention_activation="dice",
                          mlp_dims=(16,)))
    model.train(train)
    x = make_batch()

    def output_after_changing_row_0():
        with torch.no_grad():
            for name in ("item", "cate"):
                model.embedding.tables[name].weight[0].normal_(0, 3)
            return model(x)

    before = output_after_changing_row_0()
    # in training too: the attention MLP's batch statistics only see real positions
    assert torch.allclose(before, output_after_changing_row_0(), atol=1e-6)
    model.attention.mask = False
    off_1 = output_after_changing_row_0()
    off_2 = output_after_changing_row_0()
    assert not torch.allclose(off_1, off_2, atol=1e-3)


def test_din_gives_each_behaviour_one_weight_shared_by_item_and_category():
    """The paper's unit: a behaviour's item and category embeddings form one key, the
    candidate's one query, and the behaviour gets one weight that scales both."""
    torch.manual_seed(0)
    model = randomise(DIN(*our_features(D=8), attention_dims=(8,), mlp_dims=(16,))).eval()
    assert isinstance(model.attention, AttentionUnit) and model.attention.embed_dim == 16
    x = make_batch()
    weights = model.attention_weights(x)
    w = weights["hist_item"]                                             # (B, L)
    assert torch.equal(weights["hist_cate"], w)
    item = model.embedding.tables["item"].weight[x["hist_item"]]          # (B, L, D)
    cate = model.embedding.tables["cate"].weight[x["hist_cate"]]          # (B, L, D)
    pooled_item, pooled_cate = model.pool_history(x)
    torch.testing.assert_close(pooled_item, (w.unsqueeze(-1) * item).sum(1))
    torch.testing.assert_close(pooled_cate, (w.unsqueeze(-1) * cate).sum(1))
    # the weight of a behaviour depends on its category too: change one category
    x2 = dict(x, hist_cate=x["hist_cate"].clone())
    b, j = B - 1, 0                                                      # a full history
    x2["hist_cate"][b, j] = x["hist_cate"][b, j] % 6 + 1
    w2 = model.attention_weights(x2)["hist_item"]
    assert w2[b, j] != w[b, j]
    # torch-rechub's variant has one unit per history feature: two different weights
    rechub = randomise(RechubDIN(*our_features(D=8), attention_dims=(8,),
                                 mlp_dims=(16,))).eval()
    w_rechub = rechub.attention_weights(x)
    assert len(rechub.attention) == 2
    assert not torch.allclose(w_rechub["hist_item"], w_rechub["hist_cate"])


def test_din_without_normalisation_sums_raw_scores():
    torch.manual_seed(0)
    model = randomise(DIN(*our_features(), attention_dims=(8,), mlp_dims=(16,))).eval()
    x = make_batch()
    q, k, mask = model.behaviours(x)
    _, w = model.attention(q, k, mask, return_weights=True)
    torch.testing.assert_close(w, model.attention.scores(q, k, mask))
    with pytest.raises(ValueError):
        AttentionUnit(4, normalize="sparsemax")


def test_din_attention_weights_zero_at_padding():
    torch.manual_seed(0)
    model = randomise(DIN(*our_features(), attention_dims=(8,), mlp_dims=(16,))).eval()
    x = make_batch()
    for name, w in model.attention_weights(x).items():
        assert w.shape == (B, L)
        assert (w[x[name] == 0] == 0).all() and (w[x[name] != 0] != 0).all()


def test_base_model_mean_pooling_ignores_padding():
    torch.manual_seed(0)
    model = randomise(BaseSeqModel(*our_features(), mlp_dims=(16,), pooling="mean")).eval()
    x = make_batch()
    table = model.embedding.tables["item"].weight
    pooled = model.pool_history(x)[0]                       # (B, D)
    for b in range(B):
        ids = [i for i in x["hist_item"][b].tolist() if i != 0]
        expected = table[ids].mean(0) if ids else torch.zeros(8)
        assert torch.allclose(pooled[b], expected, atol=1e-6)
    before = model(x)
    with torch.no_grad():
        table[0].normal_(0, 3)
    assert torch.allclose(model(x), before, atol=1e-6)
    model.embedding.mask_padding = False                    # count padding: now it matters
    assert not torch.allclose(model(x), before, atol=1e-3)


def test_base_model_sum_pooling_and_shape():
    torch.manual_seed(0)
    model = BaseSeqModel(*our_features(dense=True), mlp_dims=(16,), pooling="sum").eval()
    x = make_batch()
    assert model(x).shape == (B,)
    table = model.embedding.tables["cate"].weight
    expected = table[x["hist_cate"]].masked_fill((x["hist_cate"] == 0)[..., None], 0).sum(1)
    assert torch.allclose(model.pool_history(x)[1], expected, atol=1e-6)


# ----------------------------------------------------------------------------------------
# torch-rechub equivalence
# ----------------------------------------------------------------------------------------
def rechub_din(seed):
    """A random torch-rechub DIN configuration and a batch for it: embedding sizes,
    vocabularies, history length, one or two history features, other features (with or
    without a pooled sequence), MLP widths and depths, activations, softmax or not."""
    from torch_rechub.basic.features import SequenceFeature as RSeq
    from torch_rechub.basic.features import SparseFeature as RSparse
    from torch_rechub.models.ranking import DIN as TheirDIN
    g = random.Random(seed)
    D, Df = g.choice([2, 4, 8, 16]), g.choice([3, 8])
    Lr, n_hist = g.choice([1, 3, 7, 12]), g.choice([1, 2])
    n_items, n_cates = g.randint(5, 40), g.randint(3, 10)
    features = [RSparse("user", 11, Df), RSparse("ctx", 5, Df)][:g.choice([1, 2])]
    if g.random() < 0.5:                                    # a pooled sequence among them
        features.append(RSeq("tags", 6, Df, pooling=g.choice(["mean", "sum"]),
                             padding_idx=g.choice([None, 0])))
    targets = [RSparse("item", n_items, D), RSparse("cate", n_cates, D)][:n_hist]
    history = [RSeq("hist_item", n_items, D, pooling="concat", shared_with="item"),
               RSeq("hist_cate", n_cates, D, pooling="concat", shared_with="cate")][:n_hist]
    activation = g.choice(["dice", "prelu", "relu", "sigmoid", "leakyrelu"])
    width = lambda: g.choice([3, 6, 8, 16])                 # noqa: E731
    model = TheirDIN(features, history, targets,
                     mlp_params={"dims": [width() for _ in range(g.randint(1, 3))]},
                     attention_mlp_params={"dims": [width() for _ in range(g.randint(1, 2))],
                                           "activation": activation,
                                           "use_softmax": g.random() < 0.5})
    x = make_batch(seed, B=9, L=Lr, n_items=n_items, n_cates=n_cates)
    x["ctx"] = torch.randint(0, 5, (9,))
    x["tags"] = torch.randint(0, 6, (9, 4))
    return model, x


@pytest.mark.parametrize("seed", range(24))
def test_from_rechub_matches_in_eval_and_train(seed):
    torch.manual_seed(seed)
    theirs, x = rechub_din(seed)
    randomise(theirs)                                      # incl. row 0 and Dice's alpha
    ours = from_rechub(theirs.eval()).eval()
    assert isinstance(ours, RechubDIN)
    assert torch.allclose(torch.sigmoid(ours(x)), theirs(x), atol=1e-6, rtol=0)
    # training mode too (dropout 0): BatchNorm batch statistics over all B*L rows
    assert torch.allclose(torch.sigmoid(ours.train()(x)), theirs.train()(x), atol=1e-6, rtol=0)
    # the comparison is sensitive: masking (not torch-rechub's behaviour) changes it
    ours.eval(), theirs.eval()
    for unit in ours.attention:
        unit.mask = True
    assert not torch.allclose(torch.sigmoid(ours(x)), theirs(x), atol=1e-4)


def test_from_rechub_selects_its_behaviour():
    torch.manual_seed(0)
    theirs, _ = rechub_din(1)
    ours = from_rechub(theirs)
    assert len(ours.attention) == len(theirs.attention_layers)
    assert all(not unit.mask for unit in ours.attention)
    dices = [m for m in ours.mlp.modules() if isinstance(m, RechubDice)]
    assert dices and all(d.eps == 1e-3 for d in dices)
    assert not any(isinstance(m, Dice) for m in ours.modules())
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in ours.attention[0].modules())


def test_masked_attention_scores_an_all_empty_batch_as_zero():
    unit = AttentionUnit(4, dims=(6,)).train()
    q, k = torch.randn(3, 4), torch.randn(3, 5, 4)
    pooled = unit(q, k, torch.zeros(3, 5, dtype=torch.bool))
    assert torch.equal(pooled, torch.zeros(3, 4))
    assert torch.isfinite(unit.mlp.net[1].running_mean).all()     # Dice saw no empty batch
