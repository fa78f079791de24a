"""The FM/DNN lineage of chapter 02: LR, FM, Embedding+MLP, FNN, PNN, Wide&Deep, DeepFM, DCN."""
from __future__ import annotations

import time

import pytest
import torch

from recsys_course.features import DenseFeature, SequenceFeature, SparseFeature
from recsys_course.models import (DCN, FM, FNN, LR, PNN, DeepFM, EmbeddingMLP, WideDeep,
                                  pairwise_interactions)
from recsys_course.models.layers import CrossNetwork, FMInteraction, InnerProduct
from recsys_course.models.wide_deep import cross_ids


pytestmark = pytest.mark.usefixtures("one_thread")

B = 8
FEATURES = [
    SparseFeature("user", vocab_size=7, embed_dim=4),
    SparseFeature("item", vocab_size=9, embed_dim=4),
    SequenceFeature("hist", vocab_size=9, embed_dim=4, max_len=5, shared_with="item"),
    SequenceFeature("tags", vocab_size=6, embed_dim=4, max_len=5, pooling="sum"),
    DenseFeature("price"),
    DenseFeature("age"),
]
MODELS = {
    "LR": lambda f: LR(f),
    "FM": lambda f: FM(f),
    "EmbeddingMLP": lambda f: EmbeddingMLP(f, mlp_dims=[16, 8]),
    "FNN": lambda f: FNN(f, mlp_dims=[16, 8]),
    "PNN": lambda f: PNN(f, mlp_dims=[16]),
    "WideDeep": lambda f: WideDeep(f, mlp_dims=[16], crosses=[("user", "item")]),
    "DeepFM": lambda f: DeepFM(f, mlp_dims=[16, 8]),
    "DCN": lambda f: DCN(f, n_cross_layers=2, mlp_dims=[16]),
}


def make_batch(seed: int = 0, n: int = B) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hist = torch.randint(1, 9, (n, 5), generator=g)
    hist[:, 3:] = 0                                                  # padded positions
    return {"user": torch.randint(0, 7, (n,), generator=g),
            "item": torch.randint(0, 9, (n,), generator=g),
            "hist": hist,
            "tags": torch.randint(0, 6, (n, 5), generator=g),
            "price": torch.randn(n, generator=g),
            "age": torch.randn(n, generator=g)}


@pytest.mark.parametrize("name", list(MODELS))
def test_logits_have_shape_batch(name):
    torch.manual_seed(0)
    model = MODELS[name](FEATURES).eval()
    out = model(make_batch())
    assert out.shape == (B,) and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = MODELS[name](FEATURES).train()
    x = make_batch(n=32)
    y = torch.randint(0, 2, (32,)).float()
    torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} gets no gradient"
        assert p.grad.abs().sum() > 0, f"{pname} has a zero gradient"


@pytest.mark.parametrize("name", list(MODELS))
def test_same_seed_same_model(name):
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        outs.append(MODELS[name](FEATURES).eval()(make_batch()))
    torch.manual_seed(124)
    other = MODELS[name](FEATURES).eval()(make_batch())
    assert torch.equal(outs[0], outs[1])
    if name not in ("LR",):                                   # LR starts from zero weights
        assert not torch.equal(outs[0], other)


def test_fm_identity_equals_brute_force():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(5, 7, 3, dtype=torch.float64, generator=g)      # (B, F, D)
    fast, slow = FMInteraction()(v), pairwise_interactions(v)
    assert fast.shape == (5,)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    # and the brute force is what it says: F = 2 gives the one inner product
    torch.testing.assert_close(pairwise_interactions(v[:, :2]), (v[:, 0] * v[:, 1]).sum(-1))


def test_fm_model_is_first_order_plus_pairwise_sum():
    torch.manual_seed(0)
    fm = FM(FEATURES).double()
    with torch.no_grad():
        for p in fm.parameters():
            p.normal_()
    x = make_batch()
    x = {k: (v.double() if v.is_floating_point() else v) for k, v in x.items()}
    fields = fm.fields(x)                                            # (B, F + n_dense, D)
    assert fields.shape == (B, 6, 4)
    expected = fm.first_order(x) + pairwise_interactions(fields)
    torch.testing.assert_close(fm(x), expected, rtol=1e-12, atol=1e-12)
    # a dense field is its value times its vector
    torch.testing.assert_close(fields[:, 4], x["price"].unsqueeze(1) * fm.fields.vectors[0])


def test_lr_parameter_count_and_value():
    model = LR(FEATURES)
    # one weight per code of every table (hist shares item's), one per dense, one bias
    assert sum(p.numel() for p in model.parameters()) == 7 + 9 + 6 + 2 + 1
    with torch.no_grad():
        model.linear.weights.tables["user"].weight.copy_(torch.arange(7.0).unsqueeze(1))
        model.linear.weights.tables["item"].weight.fill_(0.0)
        model.linear.weights.tables["tags"].weight.fill_(0.0)
        model.linear.dense_weight.copy_(torch.tensor([2.0, -1.0]))
        model.linear.bias.fill_(0.5)
    x = make_batch()
    expected = 0.5 + x["user"].float() + 2 * x["price"] - x["age"]
    torch.testing.assert_close(model(x), expected)


def test_fnn_from_fm_copies_the_fm_vectors():
    torch.manual_seed(0)
    fm = FM(FEATURES)
    with torch.no_grad():
        for p in fm.parameters():
            p.normal_()
    fnn = FNN.from_fm(fm, mlp_dims=[16], dropout=0.0)
    for name, table in fm.fields.embedding.tables.items():
        assert torch.equal(fnn.fields.embedding.tables[name].weight, table.weight)
    for name, table in fm.first_order.weights.tables.items():
        assert torch.equal(fnn.first_order.weights.tables[name].weight, table.weight)
    assert torch.equal(fnn.fields.vectors, fm.fields.vectors)
    assert torch.equal(fnn.first_order.dense_weight, fm.first_order.dense_weight)
    # copies, not aliases: training the FNN leaves the FM alone
    with torch.no_grad():
        fnn.fields.embedding.tables["user"].weight.add_(1.0)
    assert not torch.equal(fnn.fields.embedding.tables["user"].weight,
                           fm.fields.embedding.tables["user"].weight)
    # the MLP reads z_i = (w_i, v_i) for every field
    x = make_batch()
    seen = {}
    fnn.mlp.register_forward_hook(lambda m, inp, out: seen.setdefault("z", inp[0]))
    fnn(x)
    z = seen["z"].view(B, 6, 5)
    torch.testing.assert_close(z[:, 1, 0], fm.first_order.weights.tables["item"].weight[x["item"], 0])
    torch.testing.assert_close(z[:, 1, 1:], fm.fields.embedding.tables["item"].weight[x["item"]])


def test_pnn_inner_products_match_a_hand_loop():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(3, 5, 4, generator=g)
    p = InnerProduct(5)(v)
    hand = [[float(v[b, i] @ v[b, j]) for i in range(5) for j in range(i + 1, 5)]
            for b in range(3)]
    assert p.shape == (3, 10)
    torch.testing.assert_close(p, torch.tensor(hand))
    pnn = PNN(FEATURES, mlp_dims=[8])
    assert pnn.mlp.net[0].in_features == 6 * 4 + 15                  # z and 15 pairs


def test_cross_network_formula():
    torch.manual_seed(0)
    cross = CrossNetwork(5, 2)
    with torch.no_grad():
        cross.b.normal_()
    x0 = torch.randn(4, 5)
    x1 = x0 * (x0 @ cross.w[0]).unsqueeze(1) + cross.b[0] + x0
    x2 = x0 * (x1 @ cross.w[1]).unsqueeze(1) + cross.b[1] + x1
    torch.testing.assert_close(cross(x0), x2)


def test_wide_deep_options():
    paper = WideDeep(FEATURES, mlp_dims=[8], wide_features=["user", "item", "price"],
                     deep_features=["item", "hist", "age"], crosses=[("user", "item")],
                     cross_buckets=31)
    # paper: a weight per code (user, item, crossed pair) and per dense value
    assert sum(p.numel() for p in paper.wide.parameters()) == 7 + 9 + 31 + 1 + 1
    from recsys_course.reference import RechubWideDeep
    ref = RechubWideDeep(FEATURES, mlp_dims=[8], wide_features=["user", "item", "price"],
                         deep_features=["item", "hist", "age"])
    assert ref.wide.in_features == 4 + 4 + 1                 # a Linear over embeddings
    ids = cross_ids([torch.tensor([2, 2, 3]), torch.tensor([5, 5, 5])], 31)
    assert ids[0] == ids[1] != ids[2] and ((0 <= ids) & (ids < 31)).all()


def test_deepfm_paper_terms_add_up():
    torch.manual_seed(0)
    model = DeepFM(FEATURES, mlp_dims=[8], dropout=0.0).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    x = make_batch()
    v = model.fields(x)                                      # every feature is an FM field
    assert v.shape == (B, 6, 4)
    expected = (model.first_order(x) + pairwise_interactions(v)
                + model.mlp(v.flatten(1)).squeeze(-1))
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Probability that a random positive outscores a random negative."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return ((pos[:, None] > neg[None, :]).float().mean()
            + 0.5 * (pos[:, None] == neg[None, :]).float().mean()).item()


def test_fm_learns_a_planted_interaction_lr_cannot():
    """Click iff the parities of user and item agree (90% / 10%): no code is better than
    another on its own, so LR stays at chance; FM's inner products express it."""
    t0 = time.process_time()
    g = torch.Generator().manual_seed(0)
    feats = [SparseFeature("u", vocab_size=12, embed_dim=4),
             SparseFeature("i", vocab_size=12, embed_dim=4)]

    def data(n):
        u, i = torch.randint(2, 12, (n,), generator=g), torch.randint(2, 12, (n,), generator=g)
        p = torch.where(u % 2 == i % 2, 0.9, 0.1)
        return {"u": u, "i": i}, torch.bernoulli(p, generator=g)

    (x_train, y_train), (x_test, y_test) = data(3000), data(2000)
    results = {}
    for model_cls in (LR, FM):
        torch.manual_seed(0)
        model = model_cls(feats) if model_cls is LR else model_cls(feats, init_std=0.1)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(150):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x_train), y_train)
            loss.backward()
            opt.step()
        with torch.no_grad():
            results[model_cls.__name__] = auc(model(x_test), y_test)
    assert results["LR"] < 0.58, results
    assert results["FM"] > 0.8, results
    assert time.process_time() - t0 < 5          # CPU seconds, robust to a busy machine


def test_a_shared_table_must_match_its_owner():
    from recsys_course.features import SequenceFeature, SparseFeature
    from recsys_course.models.layers import FeatureEmbedding
    owner = SparseFeature("item", 10, 8)
    with pytest.raises(ValueError, match="'hist'.*'item'.*embed_dim=4"):
        FeatureEmbedding([owner, SequenceFeature("hist", 10, 4, shared_with="item")])
    FeatureEmbedding([owner, SequenceFeature("hist", 10, 8, shared_with="item")])
