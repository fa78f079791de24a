"""The checks of chapter 02's exercises: references pass, typical mistakes get specific,
different messages, and the hidden cases follow the seed."""
from __future__ import annotations

import pytest
import torch

from recsys_course.exercises.ch02 import (_reference_cross_layer_v2, _reference_fm_valued_pairs,
                                          check_cross_layer_v2, check_fm_valued_pairs)
from recsys_course.exercises.core import REGISTRY, NotAttempted, load_all
from recsys_course.models.layers import CrossNetwork, FMInteraction
from check_helpers import failure


def _passes(check, fn, **kw) -> bool:
    try:
        return check(fn, **kw)
    except AssertionError:
        return False


# ----------------------------------------------------------------------------------------
# FM pairwise term with values x_i
# ----------------------------------------------------------------------------------------
def test_fm_valued_reference_and_the_package_layer_on_scaled_vectors_pass(capsys):
    assert check_fm_valued_pairs(_reference_fm_valued_pairs) is True
    # the chapter's one-hot identity, fed the vectors x_i v_i, is the general form
    assert check_fm_valued_pairs(lambda v, x: FMInteraction()(v * x.unsqueeze(-1))) is True
    assert "6 hidden cases passed" in capsys.readouterr().out


def test_fm_valued_brute_force_also_passes():
    def loops(v, x):
        out = torch.zeros(v.shape[0], dtype=v.dtype)
        for i in range(v.shape[1]):
            for j in range(i + 1, v.shape[1]):
                out = out + (v[:, i] * v[:, j]).sum(-1) * x[:, i] * x[:, j]
        return out
    assert check_fm_valued_pairs(loops) is True


@pytest.mark.parametrize("seed", [0, 1, 99, 12345])
def test_fm_valued_reference_passes_other_seeds_and_a_wrong_answer_fails_them(seed):
    assert check_fm_valued_pairs(_reference_fm_valued_pairs, seed=seed)
    assert not _passes(check_fm_valued_pairs,
                       lambda v, x: 0.5 * ((v * x[..., None]).sum(1) ** 2
                                           - (v ** 2).sum(1)).sum(1), seed=seed)


def test_fm_valued_cases_follow_the_seed():
    from recsys_course.exercises.ch02 import _cross_cases, _fm_cases
    fm_shapes = {s: tuple(tuple(v.shape) for _, v, _ in _fm_cases(s)) for s in range(8)}
    cross_shapes = {s: tuple(tuple(c[1].shape) for c in _cross_cases(s)) for s in range(8)}
    assert len(set(fm_shapes.values())) > 1 and len(set(cross_shapes.values())) > 1
    assert fm_shapes[3] == tuple(tuple(v.shape) for _, v, _ in _fm_cases(3))   # reproducible


def test_fm_valued_mistakes_are_named():
    def ignore_x(v, x):
        return 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1)).sum(1)

    def x_not_squared(v, x):
        return 0.5 * ((v * x[..., None]).sum(1) ** 2 - (v ** 2 * x[..., None]).sum(1)).sum(1)

    def no_x_in_squares(v, x):
        return 0.5 * ((v * x[..., None]).sum(1) ** 2 - (v ** 2).sum(1)).sum(1)

    def doubled(v, x):
        return 2 * _reference_fm_valued_pairs(v, x)

    def per_dim(v, x):                                          # forgot the sum over D
        vx = v * x[..., None]
        return 0.5 * (vx.sum(1) ** 2 - (vx ** 2).sum(1))

    def wrong_axis(v, x):                                       # summed over D first
        vx = v * x[..., None]
        return 0.5 * (vx.sum(2) ** 2 - (vx ** 2).sum(2))

    msgs = {f.__name__: failure(check_fm_valued_pairs, f)
            for f in (ignore_x, x_not_squared, no_x_in_squares, doubled, per_dim, wrong_axis)}
    assert "the values x ignored" in msgs["ignore_x"]
    assert "x_i not squared" in msgs["x_not_squared"]
    assert "left out of the sum of squares" in msgs["no_x_in_squares"]
    assert "forgetting the 1/2" in msgs["doubled"] and "shape" not in msgs["doubled"]
    assert "shape (2, 2) but should have shape (2,)" in msgs["per_dim"]
    assert "one dimension too many" in msgs["per_dim"]
    assert "shape (2, 3) but should have shape (2,)" in msgs["wrong_axis"]
    assert len(set(msgs.values())) == len(msgs)


def test_fm_valued_dtype_numpy_and_gradient_failures():
    as_float = failure(check_fm_valued_pairs,
                       lambda v, x: _reference_fm_valued_pairs(v.float(), x.float()))
    assert "float64 input" in as_float and "dtype torch.float32" in as_float
    as_numpy = failure(check_fm_valued_pairs,
                       lambda v, x: _reference_fm_valued_pairs(v, x).detach().numpy())
    assert "should be a torch Tensor" in as_numpy
    detached = failure(check_fm_valued_pairs,
                       lambda v, x: _reference_fm_valued_pairs(v.detach(), x.detach()))
    assert "gradients flow" in detached and "autograd" in detached
    x_detached = failure(check_fm_valued_pairs,
                         lambda v, x: _reference_fm_valued_pairs(v, x.detach()))
    assert "no gradient reaches x" in x_detached


def test_fm_valued_in_place_change_is_caught():
    def mutating(v, x):
        v.mul_(x.unsqueeze(-1))
        return 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1)).sum(1)
    assert "in place" in failure(check_fm_valued_pairs, mutating)


def test_fm_valued_not_attempted():
    def stub(v, x):
        raise NotImplementedError("write fm_valued_pairs")
    with pytest.raises(NotAttempted, match="not attempted"):
        check_fm_valued_pairs(stub)


# ----------------------------------------------------------------------------------------
# DCN-V2 cross layer
# ----------------------------------------------------------------------------------------
def test_cross_v2_reference_passes_and_contains_the_v1_layer(capsys):
    assert check_cross_layer_v2(_reference_cross_layer_v2) is True
    assert "5 hidden cases passed" in capsys.readouterr().out
    # W with every row equal to w (W x_l = (x_l . w) 1) and b = 0: the chapter's DCN layer
    torch.manual_seed(0)
    net = CrossNetwork(5, 1)                                     # its bias starts at 0
    x0 = torch.randn(4, 5)
    w = net.w[0].detach()
    torch.testing.assert_close(net(x0).detach(),
                               _reference_cross_layer_v2(x0, x0, w.expand(5, 5), torch.zeros(5)))


@pytest.mark.parametrize("seed", [0, 3, 2024])
def test_cross_v2_reference_passes_other_seeds_and_a_transpose_fails_them(seed):
    assert check_cross_layer_v2(_reference_cross_layer_v2, seed=seed)
    msg = failure(lambda fn: check_cross_layer_v2(fn, seed=seed),
                  lambda x0, xl, W, b: x0 * (xl @ W + b) + xl)
    assert "W applied transposed" in msg


def test_cross_v2_mistakes_are_named():
    cases = {
        "transposed": (lambda x0, xl, W, b: x0 * (xl @ W + b) + xl, "W applied transposed"),
        "no_residual": (lambda x0, xl, W, b: x0 * (xl @ W.T + b), "no residual"),
        "no_bias": (lambda x0, xl, W, b: x0 * (xl @ W.T) + xl, "no bias b"),
        "bias_outside": (lambda x0, xl, W, b: x0 * (xl @ W.T) + b + xl, "the bias outside"),
        "w_on_x0": (lambda x0, xl, W, b: x0 * (x0 @ W.T + b) + xl, "W applied to x_0"),
        "diagonal": (lambda x0, xl, W, b: x0 * (xl * torch.diagonal(W) + b) + xl,
                     "only the diagonal of W"),
    }
    msgs = {}
    for name, (fn, expected) in cases.items():
        msgs[name] = failure(check_cross_layer_v2, fn)
        assert expected in msgs[name], (name, msgs[name])
        assert "shape" not in msgs[name].split("Hint")[0].split(":")[-1]
    assert len(set(msgs.values())) == len(msgs)


def test_cross_v2_shape_and_dtype_errors():
    outer = failure(check_cross_layer_v2,                          # (B, d, d)
                    lambda x0, xl, W, b: x0.unsqueeze(-1) * (xl @ W.T + b).unsqueeze(1))
    assert "shape (2, 3, 3) but should have shape (2, 3)" in outer
    as_float = failure(check_cross_layer_v2,
                       lambda x0, xl, W, b: _reference_cross_layer_v2(*(t.float() for t in (x0, xl, W, b))))
    assert "float64 input" in as_float and "dtype torch.float32" in as_float


def test_cross_v2_in_place_change_is_caught():
    def mutating(x0, xl, W, b):
        xl.add_(x0 * (xl @ W.T + b))
        return xl
    assert "in place" in failure(check_cross_layer_v2, mutating)


def test_registered_with_names_unique_across_chapters():
    load_all()
    assert {"ch02.fm_valued_pairs", "ch02.cross_layer_v2"} <= set(REGISTRY)
    names = [ex.func_name for ex in REGISTRY.values()]
    assert len(names) == len(set(names))
