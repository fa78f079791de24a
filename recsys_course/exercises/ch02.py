"""Checks for the exercises of chapter 02 (feature interactions, from LR to DeepFM).

Learners call, in the chapter's notebook::

    from recsys_course.exercises.ch02 import check_fm_second_order, check_cross_layer
    check_fm_second_order(fm_second_order)
    check_cross_layer(cross_layer)

The exercises, as the notebook states them
------------------------------------------
``fm_second_order(v) -> torch.Tensor``
    ``v`` holds one D-vector per field for a batch: a float tensor of shape (B, F, D).
    Return the FM pairwise term ``sum_{i<j} <v_i, v_j>`` of every row, shape (B,), in
    O(F D) per row (square of the sum minus the sum of squares), as a tensor of the
    input's dtype that gradients can flow through. Do not change ``v``.

``cross_layer(x0, xl, w, b) -> torch.Tensor``
    One layer of DCN's cross network: ``x0`` and ``xl`` are (B, d), ``w`` and ``b`` are
    (d,). Return ``x0 * (xl . w) + b + xl`` of shape (B, d), where ``xl . w`` is one
    number per row (the dot product of that row of ``xl`` with ``w``).

The hidden cases are built here from fixed seeds (never shown to learners); the
reference solutions are private (``_reference_*``).
"""
from __future__ import annotations

import torch

from .core import exercise, expect_close, expect_type, fail


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_fm_second_order(v: torch.Tensor) -> torch.Tensor:
    square_of_sum = v.sum(dim=1) ** 2                                      # (B, D)
    sum_of_squares = (v ** 2).sum(dim=1)                                   # (B, D)
    return 0.5 * (square_of_sum - sum_of_squares).sum(dim=1)               # (B,)


def _reference_cross_layer(x0, xl, w, b) -> torch.Tensor:
    return x0 * (xl @ w).unsqueeze(-1) + b + xl                            # (B, d)


def _brute_force_pairs(v: torch.Tensor) -> torch.Tensor:
    """The O(F^2 D) definition, in float64, as the ground truth."""
    v = v.double()
    out = torch.zeros(v.shape[0], dtype=torch.float64)
    for i in range(v.shape[1]):
        for j in range(i + 1, v.shape[1]):
            out += (v[:, i] * v[:, j]).sum(-1)
    return out


# ----------------------------------------------------------------------------------------
# Hidden cases
# ----------------------------------------------------------------------------------------
def _fm_cases():
    g = torch.Generator().manual_seed(2010)
    yield ("B=2, F=3, D=2 with small integers",
           torch.tensor([[[1., 2.], [3., -1.], [0., 4.]],
                         [[-2., 1.], [1., 1.], [2., -3.]]]))
    yield "B=16, F=8, D=5, normal entries", torch.randn(16, 8, 5, generator=g)
    yield "F=1: a single field has no pair, so every row's term is 0", \
        torch.randn(5, 1, 4, generator=g)
    yield "B=1, F=6, D=1", torch.randn(1, 6, 1, generator=g)
    yield "large entries (around 1000), float32", 1000.0 * torch.randn(8, 6, 4, generator=g)
    yield "float64 input (the result must stay float64)", \
        torch.randn(6, 7, 3, generator=g, dtype=torch.float64)


def _cross_cases():
    g = torch.Generator().manual_seed(2017)
    x0 = torch.tensor([[1., 2., 0.], [0., -1., 3.]])
    xl = torch.tensor([[2., 0., 1.], [1., 1., 1.]])
    yield "B=2, d=3 with small integers", x0, xl, torch.tensor([1., -1., 2.]), \
        torch.tensor([0.5, 0., -1.])
    x0 = torch.randn(32, 10, generator=g)
    yield "the first layer: x_l is x_0 (B=32, d=10)", x0, x0.clone(), \
        torch.randn(10, generator=g), torch.randn(10, generator=g)
    yield "a deeper layer: x_l differs from x_0 (B=16, d=7)", torch.randn(16, 7, generator=g), \
        torch.randn(16, 7, generator=g), torch.randn(7, generator=g), torch.randn(7, generator=g)
    yield "d=1, B=5", torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g), \
        torch.randn(1, generator=g), torch.randn(1, generator=g)
    yield "float64 input (the result must stay float64)", \
        *(torch.randn(*s, generator=g, dtype=torch.float64) for s in ((4, 6), (4, 6), (6,), (6,)))


def _expect_tensor_dtype(got, like: torch.Tensor, what: str) -> None:
    expect_type(got, torch.Tensor, what)
    if got.dtype != like.dtype:
        fail(f"{what} has dtype {got.dtype}, but the input is {like.dtype}.",
             hint="compute with the input's tensors all the way; do not create float32 "
                  "tensors (torch.zeros(...) without dtype=) or convert with .float().")


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
@exercise("ch02", "fm_second_order", title="the FM pairwise term in O(F D)")
def check_fm_second_order(fn, run):
    """Check ``fn(v) -> (B,)``, the FM term sum_{i<j} <v_i, v_j> of a (B, F, D) tensor."""
    for name, v in _fm_cases():
        with run.case(name):
            got = run.call(fn, v, forbid_mutation=True)
            _expect_tensor_dtype(got, v, "the result")
            exact = _brute_force_pairs(v)
            scale = float((v.double() ** 2).sum(dim=(1, 2)).max())
            eps = 1e-12 if v.dtype == torch.float64 else 1e-6
            sq = v.double().sum(1) ** 2
            ss = (v.double() ** 2).sum(1)
            expect_close(got.detach().double(), exact, what="the pairwise term",
                         atol=eps * max(scale, 1.0), rtol=0.0, mistakes={
                             "forgetting the 1/2 (every pair counted twice, as (i, j) and "
                             "(j, i))": 2 * exact,
                             "the square of the sum alone, without subtracting the sum of "
                             "squares (that keeps the pairs i = j)": 0.5 * sq.sum(1),
                             "pairs i <= j instead of i < j (each <v_i, v_i> added)":
                                 exact + ss.sum(1),
                             "a mean over D instead of a sum": exact / v.shape[2],
                             "a mean over the pairs instead of a sum":
                                 exact / max(1, v.shape[1] * (v.shape[1] - 1) // 2),
                         })
    with run.case("gradients flow through the result (B=3, F=4, D=2)"):
        v = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(7), requires_grad=True)
        got = run.call(fn, v, copy_args=False)
        expect_type(got, torch.Tensor, "the result")
        if not got.requires_grad:
            fail("the result does not depend on v for autograd: training could not update "
                 "the embeddings.",
                 hint="stay in torch: no .numpy(), .item(), .detach() or Python floats.")
        got.sum().backward()
        # d/dv_i sum_{i<j} <v_i, v_j> = sum_{j != i} v_j = (sum of all v) - v_i
        expected = v.detach().sum(dim=1, keepdim=True) - v.detach()
        expect_close(v.grad, expected, what="the gradient with respect to v", atol=1e-5)


@exercise("ch02", "cross_layer", title="one layer of DCN's cross network")
def check_cross_layer(fn, run):
    """Check ``fn(x0, xl, w, b) -> (B, d)``, i.e. x0 * (xl . w) + b + xl."""
    for name, x0, xl, w, b in _cross_cases():
        with run.case(name):
            got = run.call(fn, x0, xl, w, b, forbid_mutation=True)
            _expect_tensor_dtype(got, x0, "the result")
            dot = (xl @ w).unsqueeze(-1)                                   # (B, 1)
            expected = _reference_cross_layer(x0, xl, w, b)
            mistakes = {
                "no residual: x_l must be added back (x0 * (xl . w) + b + xl)":
                    x0 * dot + b,
                "no bias b": x0 * dot + xl,
                "the dot product taken with x_0 (x0 . w) instead of x_l (xl . w)":
                    x0 * (x0 @ w).unsqueeze(-1) + b + xl,
                "x_l and x_0 swapped (xl * (x0 . w) instead of x0 * (xl . w))":
                    xl * (x0 @ w).unsqueeze(-1) + b + xl,
                "an elementwise product xl * w instead of the dot product xl . w":
                    x0 * (xl * w) + b + xl,
            }
            atol = 1e-12 if x0.dtype == torch.float64 else 1e-5
            expect_close(got.detach(), expected, what="the cross layer's output", atol=atol,
                         mistakes=mistakes)


__all__ = ["check_fm_second_order", "check_cross_layer"]
