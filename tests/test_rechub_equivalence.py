"""Our WideDeep, DeepFM and DCN against torch-rechub 0.9.0 (chapters 02 and 03).

For random feature configurations we build torch-rechub's model, move every weight and
BatchNorm statistic away from its initial value, build ours with ``from_rechub`` and
require ``sigmoid(ours(x)) == theirs(x)`` within 1e-6 in eval mode.
"""
from __future__ import annotations

import random

import pytest
import torch
from torch import nn

torch_rechub = pytest.importorskip("torch_rechub")
from torch_rechub.basic import features as rf  # noqa: E402
from torch_rechub.models import ranking  # noqa: E402

from recsys_course.models import DCN  # noqa: E402
from recsys_course.reference import RechubDeepFM, RechubWideDeep, from_rechub  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")

ATOL = 1e-6
B, L = 32, 6
KINDS = ["dense", "sparse", "mixed", "sequence", "shared"]
ACTIVATIONS = ["relu", "prelu", "sigmoid", "leakyrelu", "softmax", "dice", nn.Tanh]


# ----------------------------------------------------------------------------------------
# Random configurations
# ----------------------------------------------------------------------------------------
def draw_features(rng: random.Random, kind: str, dim: int, prefix: str = "") -> list:
    """torch-rechub feature objects of one kind, categorical ones of embedding size ``dim``
    (torch-rechub stacks a list's (B, 1, D) embeddings before flattening them, so the
    categorical features of one list must share D)."""
    feats = []
    if kind != "dense":
        for i in range(rng.randint(1, 3)):
            feats.append(rf.SparseFeature(f"{prefix}s{i}", vocab_size=rng.randint(3, 20),
                                          embed_dim=dim, padding_idx=rng.choice([None, 0])))
    if kind in ("sequence", "shared"):
        for i in range(rng.randint(1, 2)):
            feats.append(rf.SequenceFeature(f"{prefix}q{i}", vocab_size=rng.randint(3, 20),
                                            embed_dim=dim, pooling=rng.choice(["mean", "sum"]),
                                            padding_idx=rng.choice([None, 0])))
    if kind == "shared":  # a history sharing a sparse feature's table, and a sparse alias
        target = feats[0]
        feats.append(rf.SequenceFeature(f"{prefix}hist", vocab_size=target.vocab_size,
                                        embed_dim=dim, shared_with=target.name,
                                        pooling=rng.choice(["mean", "sum"]),
                                        padding_idx=rng.choice([None, 0])))
        feats.append(rf.SparseFeature(f"{prefix}alias", vocab_size=target.vocab_size,
                                      embed_dim=dim, shared_with=target.name))
    if kind in ("dense", "mixed", "shared") or rng.random() < 0.5:
        for i in range(rng.randint(1, 3)):
            feats.append(rf.DenseFeature(f"{prefix}d{i}"))
    rng.shuffle(feats)
    return feats


def draw_mlp(rng: random.Random, output_layer: bool = True) -> dict:
    params = dict(dims=[rng.choice([3, 8, 16]) for _ in range(rng.randint(1, 3))],
                  dropout=rng.choice([0.0, 0.2, 0.5]), activation=rng.choice(ACTIVATIONS))
    if not output_layer:
        params["dims"][-1] = 1
        params["output_layer"] = False
    return params


def subset(rng: random.Random, feats: list) -> list:
    out = rng.sample(feats, rng.randint(1, len(feats)))
    return out


def close_shared(feats_lists: list[list], all_feats: list) -> None:
    """torch-rechub needs a shared table's owner among the model's features."""
    names = {f.name for fl in feats_lists for f in fl}
    for fl in feats_lists:
        for f in list(fl):
            if getattr(f, "shared_with", None) and f.shared_with not in names:
                owner = next(g for g in all_feats if g.name == f.shared_with)
                feats_lists[-1].append(owner)
                names.add(owner.name)


def two_lists(rng: random.Random, kind: str, first: str, second: str):
    """Two feature lists of a two-part model: either overlapping subsets of one pool with
    one D, or two disjoint pools with their own D. Returns (first, second, all)."""
    if rng.random() < 0.3:
        a = draw_features(rng, kind, rng.choice([4, 8, 16]), prefix=first)
        b = draw_features(rng, kind, rng.choice([4, 8, 16]), prefix=second)
        return a, b, a + b
    feats = draw_features(rng, kind, rng.choice([4, 8, 16]))
    a, b = subset(rng, feats), subset(rng, feats)
    close_shared([a, b], feats)
    return a, b, feats


def build_widedeep(seed: int, output_layer: bool = True):
    rng = random.Random(seed)
    wide, deep, feats = two_lists(rng, KINDS[seed % len(KINDS)], "w_", "d_")
    return ranking.WideDeep(wide, deep, draw_mlp(rng, output_layer)), feats


def build_deepfm(seed: int, output_layer: bool = True):
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    # the FM part needs categorical features (a dense one would break it); the deep part
    # reads anything
    fm_kind = "sparse" if kind in ("dense", "mixed") else kind
    deep, fm, feats = two_lists(rng, fm_kind, "d_", "f_")
    fm[:] = [f for f in fm if not isinstance(f, rf.DenseFeature)]
    if kind == "dense":
        deep = [rf.DenseFeature(f"x{i}") for i in range(rng.randint(1, 3))]
        feats = feats + deep
    elif kind == "mixed" and not any(isinstance(f, rf.DenseFeature) for f in deep):
        deep.append(rf.DenseFeature("x0"))
        feats = feats + deep[-1:]
    if not fm:
        fm.append(next(f for f in feats if not isinstance(f, rf.DenseFeature)
                       and f.shared_with is None))
    close_shared([deep, fm], feats)
    return ranking.DeepFM(deep, fm, draw_mlp(rng, output_layer)), feats


def build_dcn(seed: int):
    rng = random.Random(seed)
    feats = draw_features(rng, KINDS[seed % len(KINDS)], rng.choice([4, 8, 16]))
    return ranking.DCN(feats, n_cross_layers=rng.randint(1, 4), mlp_params=draw_mlp(rng)), feats


BUILDERS = {"WideDeep": (build_widedeep, RechubWideDeep),
            "DeepFM": (build_deepfm, RechubDeepFM), "DCN": (build_dcn, DCN)}


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------
def make_batch(feats: list, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = {}
    for f in feats:
        if isinstance(f, rf.DenseFeature):
            x[f.name] = torch.randn(B, generator=g)
        elif isinstance(f, rf.SequenceFeature):
            ids = torch.randint(1, f.vocab_size, (B, L), generator=g)
            lengths = torch.randint(0, L + 1, (B,), generator=g)             # some rows empty
            ids[torch.arange(L) >= lengths.unsqueeze(1)] = 0                 # right padding
            x[f.name] = ids
        else:
            x[f.name] = torch.randint(0, f.vocab_size, (B,), generator=g)   # 0 included
    return x


@torch.no_grad()
def perturb(model: nn.Module, seed: int) -> None:
    """Move every parameter and BatchNorm statistic away from its initial value."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if "embed" in name:
            p.copy_(0.4 * torch.randn(p.shape, generator=g))   # init is N(0, 1e-4): too small
        elif isinstance(p, nn.Parameter) and p.dim() == 1 and "b." in name:
            p.add_(0.1 * torch.randn(p.shape, generator=g))    # cross biases start at 0
        else:
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(m.num_features, generator=g))


def compare(theirs: nn.Module, ours: nn.Module, x: dict) -> tuple[float, torch.Tensor]:
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        p_theirs = theirs(x)
        p_ours = torch.sigmoid(ours(x))
    assert p_ours.shape == p_theirs.shape == (B,)
    return (p_ours - p_theirs).abs().max().item(), p_theirs


# ----------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("model_name", list(BUILDERS))
def test_from_rechub_matches_reference(model_name, seed):
    build, ours_cls = BUILDERS[model_name]
    torch.manual_seed(seed)
    theirs, feats = build(seed)
    perturb(theirs, seed)
    ours = from_rechub(theirs)
    assert type(ours) is ours_cls
    x = make_batch(feats, seed)
    err, p = compare(theirs, ours, x)
    assert p.std() > 1e-3, "outputs barely vary: the comparison would prove nothing"
    assert err <= ATOL, f"max |sigmoid(ours) - theirs| = {err:.2e}"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("model_name", ["WideDeep", "DeepFM"])
def test_from_rechub_without_output_layer(model_name, seed):
    """torch-rechub accepts output_layer=False when the last hidden width is 1."""
    build, ours_cls = BUILDERS[model_name]
    torch.manual_seed(seed)
    theirs, feats = build(100 + seed, output_layer=False)
    perturb(theirs, seed)
    err, p = compare(theirs, from_rechub(theirs), make_batch(feats, seed))
    assert err <= ATOL


@pytest.mark.parametrize("model_name", list(BUILDERS))
def test_every_copied_tensor_matters(model_name):
    """Changing any one of our parameters or BatchNorm statistics breaks the match, so
    the test above would catch a tensor that from_rechub forgot to copy."""
    build, ours_cls = BUILDERS[model_name]
    seed = 4                   # KINDS[4]: sparse, sequences, shared tables and dense
    torch.manual_seed(seed)
    theirs, feats = build(seed)
    perturb(theirs, seed)
    ours = from_rechub(theirs)
    x = make_batch(feats, seed)
    assert compare(theirs, ours, x)[0] <= ATOL
    tensors = dict(ours.named_parameters())
    tensors.update({n: b for n, b in ours.named_buffers() if b.is_floating_point()})
    assert tensors
    for name, t in tensors.items():
        saved = t.detach().clone()
        with torch.no_grad():
            t.add_(0.5 + t.abs())                    # positive: keeps running_var valid
        err = compare(theirs, ours, x)[0]
        with torch.no_grad():
            t.copy_(saved)
        assert err > 10 * ATOL, f"{name} does not influence the output"


def test_reference_pooling_counts_padding_without_padding_idx():
    """torch-rechub's mean pooling divides by L unless the feature has padding_idx."""
    torch.manual_seed(0)
    feats = [rf.SequenceFeature("q", vocab_size=9, embed_dim=4, pooling="mean"),
             rf.SparseFeature("s", vocab_size=5, embed_dim=4)]
    theirs = ranking.DCN(feats, n_cross_layers=2, mlp_params=dict(dims=[8]))
    perturb(theirs, 0)
    ours = from_rechub(theirs)
    x = make_batch(feats, 0)
    assert compare(theirs, ours, x)[0] <= ATOL
    ours.embedding.padding_codes["q"] = 0          # our default: ignore code 0
    assert compare(theirs, ours, x)[0] > 1e-3


def test_paper_first_order_differs_from_reference():
    """DeepFM's first-order term: the paper gives each code a scalar weight; torch-rechub
    uses a Linear over the FM embeddings, a function of the latent vectors. With every
    embedding at zero the reference first-order term is a constant; the paper's is not."""
    torch.manual_seed(0)
    fm = [rf.SparseFeature("u", vocab_size=12, embed_dim=8),
          rf.SparseFeature("i", vocab_size=9, embed_dim=8)]
    theirs = ranking.DeepFM(fm, fm, dict(dims=[16], dropout=0.0))
    perturb(theirs, 0)
    reference = from_rechub(theirs)
    paper = RechubDeepFM([f for f in reference.features], mlp_dims=[16], dropout=0.0,
                         batch_norm=True, first_order="per_id", dense_fields=False)
    # Same embeddings and MLP; only the first-order term differs.
    missing, unexpected = paper.load_state_dict(
        {k: v for k, v in reference.state_dict().items() if not k.startswith("first_order")},
        strict=False)
    assert all(k.startswith("first_order") for k in missing) and not unexpected
    with torch.no_grad():
        for t in paper.first_order.weights.tables.values():
            t.weight.normal_(0.0, 1.0)
    # the paper's term has a parameter per code, the reference's one per embedding unit
    n_paper = sum(p.numel() for p in paper.first_order.parameters())
    n_reference = sum(p.numel() for p in reference.first_order.parameters())
    assert (n_paper, n_reference) == (12 + 9, 2 * 8 + 1)

    x = make_batch(fm, 1)
    reference.eval()
    paper.eval()
    with torch.no_grad():
        assert (torch.sigmoid(reference(x)) - theirs.eval()(x)).abs().max() <= ATOL
        assert (reference(x) - paper(x)).abs().max() > 1e-2
        for model in (reference, paper):
            for t in model.fields.embedding.tables.values():
                t.weight.zero_()
        assert reference(x).std() < 1e-6         # no code can move the reference's logit
        assert paper(x).std() > 0.1              # per-code weights still do


def test_from_rechub_refuses_what_it_cannot_reproduce():
    seq = rf.SequenceFeature("q", vocab_size=5, embed_dim=4, pooling="concat")
    with pytest.raises(NotImplementedError, match="pooling"):
        from_rechub(ranking.DCN([seq], 1, dict(dims=[4])))
    vec = rf.DenseFeature("v", embed_dim=3)
    with pytest.raises(NotImplementedError, match="vector-valued"):
        from_rechub(ranking.DCN([vec], 1, dict(dims=[4])))
    s, d = rf.SparseFeature("s", vocab_size=5, embed_dim=4), rf.DenseFeature("d")
    with pytest.raises(ValueError, match="dense fm_features"):
        from_rechub(ranking.DeepFM([s], [s, d], dict(dims=[4])))
    with pytest.raises(TypeError, match="no counterpart"):
        from_rechub(nn.Linear(2, 1))
