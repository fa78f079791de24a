"""The checks of chapter 02's exercises: references pass, typical mistakes get specific,
different messages."""
from __future__ import annotations

import pytest
import torch

from recsys_course.exercises.ch02 import (_reference_cross_layer, _reference_fm_second_order,
                                          check_cross_layer, check_fm_second_order)
from recsys_course.exercises.core import REGISTRY, NotAttempted, load_all
from recsys_course.models.layers import CrossNetwork, FMInteraction
from check_helpers import failure


# ----------------------------------------------------------------------------------------
# FM second-order term
# ----------------------------------------------------------------------------------------
def test_fm_references_pass(capsys):
    assert check_fm_second_order(_reference_fm_second_order) is True
    assert check_fm_second_order(FMInteraction()) is True           # the package's layer
    assert "hidden cases passed" in capsys.readouterr().out


def test_fm_brute_force_also_passes():
    def loops(v):
        out = torch.zeros(v.shape[0], dtype=v.dtype)
        for i in range(v.shape[1]):
            for j in range(i + 1, v.shape[1]):
                out = out + (v[:, i] * v[:, j]).sum(-1)
        return out
    assert check_fm_second_order(loops) is True


def test_fm_shape_error_and_missing_half_get_different_messages():
    per_dim = failure(check_fm_second_order,                        # forgot the sum over D
                      lambda v: 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1)))
    doubled = failure(check_fm_second_order,
                      lambda v: (v.sum(1) ** 2 - (v ** 2).sum(1)).sum(1))
    assert "shape (2, 2) but should have shape (2,)" in per_dim
    assert "one dimension too many" in per_dim
    assert "forgetting the 1/2" in doubled and "shape" not in doubled
    assert per_dim != doubled


def test_fm_other_mistakes_are_named():
    square_only = failure(check_fm_second_order, lambda v: 0.5 * (v.sum(1) ** 2).sum(1))
    assert "square of the sum alone" in square_only
    mean_d = failure(check_fm_second_order,
                     lambda v: 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1)).mean(1))
    assert "mean over D" in mean_d


def test_fm_dtype_numpy_and_gradient_failures():
    as_float = failure(check_fm_second_order, lambda v: _reference_fm_second_order(v.float()))
    assert "float64 input" in as_float and "dtype torch.float32" in as_float
    as_numpy = failure(check_fm_second_order,
                       lambda v: _reference_fm_second_order(v).detach().numpy())
    assert "should be a torch Tensor" in as_numpy
    detached = failure(check_fm_second_order,
                       lambda v: _reference_fm_second_order(v.detach()))
    assert "gradients flow" in detached and "autograd" in detached


def test_fm_in_place_change_is_caught():
    def mutating(v):
        v.mul_(1.0).add_(0.0)
        s = v.sum(1)
        v.pow_(2)
        return 0.5 * (s ** 2 - v.sum(1)).sum(1)
    assert "in place" in failure(check_fm_second_order, mutating)


def test_fm_f1_case_is_named():
    # "pairs" counted with wrap-around: nonzero when F = 1
    msg = failure(check_fm_second_order,
                  lambda v: _reference_fm_second_order(v) + (v[:, 0] * v[:, -1]).sum(-1)
                  * (v.shape[1] == 1))
    assert "F=1" in msg


def test_not_attempted():
    def stub(v):
        raise NotImplementedError("write fm_second_order")
    with pytest.raises(NotAttempted, match="not attempted"):
        check_fm_second_order(stub)


# ----------------------------------------------------------------------------------------
# Cross layer
# ----------------------------------------------------------------------------------------
def test_cross_reference_passes_and_matches_the_package():
    assert check_cross_layer(_reference_cross_layer) is True
    torch.manual_seed(0)
    net = CrossNetwork(5, 1)
    with torch.no_grad():
        net.b.normal_()
    x0 = torch.randn(4, 5)
    torch.testing.assert_close(net(x0), _reference_cross_layer(x0, x0, net.w[0], net.b[0]))


def test_cross_shape_error_and_missing_residual_get_different_messages():
    outer = failure(check_cross_layer,                                  # (B, d, d)
                    lambda x0, xl, w, b: x0.unsqueeze(-1) * (xl * w).unsqueeze(1) + b + xl.unsqueeze(-1))
    no_residual = failure(check_cross_layer,
                          lambda x0, xl, w, b: x0 * (xl @ w).unsqueeze(-1) + b)
    assert "shape (2, 3, 3) but should have shape (2, 3)" in outer
    assert "no residual" in no_residual and "shape" not in no_residual


def test_cross_other_mistakes_are_named():
    x0_dot = failure(check_cross_layer, lambda x0, xl, w, b: x0 * (x0 @ w).unsqueeze(-1) + b + xl)
    assert "hidden case 1" in x0_dot and "(x0 . w) instead of x_l" in x0_dot
    elementwise = failure(check_cross_layer, lambda x0, xl, w, b: x0 * (xl * w) + b + xl)
    assert "elementwise product" in elementwise
    no_bias = failure(check_cross_layer, lambda x0, xl, w, b: x0 * (xl @ w).unsqueeze(-1) + xl)
    assert "no bias" in no_bias


def test_registered():
    load_all()
    assert {"ch02.fm_second_order", "ch02.cross_layer"} <= set(REGISTRY)
