"""Checks for the exercises of chapter 02 (feature interactions, from LR to DeepFM).

Learners call, in the chapter's notebook::

    from recsys_course.exercises.ch02 import check_fm_valued_pairs, check_cross_layer_v2
    check_fm_valued_pairs(fm_valued_pairs)
    check_cross_layer_v2(cross_layer_v2)

Both exercises generalise code the chapter shows (the one-hot FM identity, DCN's cross
layer with a vector ``w``); neither is printed in the chapter.

The exercises, as the notebook states them
------------------------------------------
``fm_valued_pairs(v, x) -> torch.Tensor``
    The FM pairwise term of rows with real values, Rendle's general form. ``v`` (B, n, D)
    holds the vectors of the n features present in each row, ``x`` (B, n) their values
    (a multi-hot field spreads weights over several features; 0 marks padding). Return
    ``sum_{i<j} <v_i, v_j> x_i x_j`` of every row, shape (B,), in O(n D) per row (no
    loop over pairs), as a tensor of the input's dtype that gradients can flow through.
    Do not change ``v`` or ``x``.

``cross_layer_v2(x0, xl, W, b) -> torch.Tensor``
    One layer of DCN-V2's cross network (Wang et al. 2021): ``x0`` and ``xl`` are (B, d),
    ``W`` is (d, d), ``b`` is (d,). Return ``x0 * (W x_l + b) + x_l`` of shape (B, d):
    ``W x_l`` is the matrix-vector product for each row, ``*`` the elementwise product.

The hidden cases are drawn from a seed (``check_...(fn, seed=...)``; the defaults are
the cases learners see fail or pass), so hidden grading can call the checks with other
seeds, and with them other shapes. The reference solutions are private (``_reference_*``).
"""
from __future__ import annotations

import torch

from .core import exercise, expect_close, expect_type, fail


# ----------------------------------------------------------------------------------------
# Reference solutions (private)
# ----------------------------------------------------------------------------------------
def _reference_fm_valued_pairs(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    vx = v * x.unsqueeze(-1)                                               # (B, n, D)
    return 0.5 * (vx.sum(dim=1) ** 2 - (vx ** 2).sum(dim=1)).sum(dim=1)    # (B,)


def _reference_cross_layer_v2(x0, xl, W, b) -> torch.Tensor:
    return x0 * (xl @ W.T + b) + xl                                        # (B, d)


def _brute_force_valued_pairs(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The O(n^2 D) definition, in float64, as the ground truth."""
    v, x = v.double(), x.double()
    out = torch.zeros(v.shape[0], dtype=torch.float64)
    for i in range(v.shape[1]):
        for j in range(i + 1, v.shape[1]):
            out += (v[:, i] * v[:, j]).sum(-1) * x[:, i] * x[:, j]
    return out


# ----------------------------------------------------------------------------------------
# Hidden cases, drawn from a seed
# ----------------------------------------------------------------------------------------
def _draw(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


def _multi_hot_values(g: torch.Generator, b: int, n: int, dtype=torch.float32) -> torch.Tensor:
    """Values of a multi-hot row: k of the n positions share weight 1/k, the rest are
    padding (0); a few rows carry arbitrary real values instead."""
    x = torch.zeros(b, n, dtype=dtype)
    for r in range(b):
        k = _draw(g, 1, n)
        pos = torch.randperm(n, generator=g)[:k]
        x[r, pos] = 1.0 / k
    real = torch.rand(b, generator=g) < 0.3
    x[real] = torch.randn(int(real.sum()), n, generator=g, dtype=dtype)
    return x


def _fm_cases(seed: int):
    g = torch.Generator().manual_seed(seed)
    yield ("B=2, n=3, D=2 with small integers and a padding position (x = 0)",
           torch.tensor([[[1., 2.], [3., -1.], [0., 4.]],
                         [[-2., 1.], [1., 1.], [50., -30.]]]),
           torch.tensor([[1., 2., 0.5], [1., 3., 0.]]))
    b, n, d = _draw(g, 2, 16), _draw(g, 3, 10), _draw(g, 1, 8)
    yield (f"multi-hot rows, B={b}, n={n}, D={d} (seed {seed})",
           torch.randn(b, n, d, generator=g), _multi_hot_values(g, b, n))
    b, n, d = _draw(g, 2, 16), _draw(g, 2, 10), _draw(g, 1, 8)
    yield (f"one-hot rows, all values 1: the chapter's identity, B={b}, n={n}, D={d}",
           torch.randn(b, n, d, generator=g), torch.ones(b, n))
    yield ("n=1: a single feature has no pair, so every row's term is 0",
           torch.randn(4, 1, 3, generator=g), torch.randn(4, 1, generator=g))
    b, n, d = _draw(g, 1, 8), _draw(g, 2, 8), _draw(g, 1, 6)
    yield (f"float64 input, B={b}, n={n}, D={d} (the result must stay float64)",
           torch.randn(b, n, d, generator=g, dtype=torch.float64),
           _multi_hot_values(g, b, n, torch.float64))


def _cross_cases(seed: int):
    g = torch.Generator().manual_seed(seed)
    yield ("B=2, d=3 with small integers",
           torch.tensor([[1., 2., 0.], [0., -1., 3.]]), torch.tensor([[2., 0., 1.], [1., 1., 1.]]),
           torch.tensor([[1., 0., 2.], [0., -1., 0.], [3., 1., 0.]]), torch.tensor([0.5, 0., -1.]))
    b, d = _draw(g, 2, 32), _draw(g, 2, 12)
    x0 = torch.randn(b, d, generator=g)
    yield (f"the first layer: x_l is x_0 (B={b}, d={d}, seed {seed})", x0, x0.clone(),
           torch.randn(d, d, generator=g), torch.randn(d, generator=g))
    b, d = _draw(g, 2, 32), _draw(g, 2, 12)
    yield (f"a deeper layer: x_l differs from x_0 (B={b}, d={d})", torch.randn(b, d, generator=g),
           torch.randn(b, d, generator=g), torch.randn(d, d, generator=g),
           torch.randn(d, generator=g))
    yield ("d=1, B=5", torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g),
           torch.randn(1, 1, generator=g), torch.randn(1, generator=g))
    b, d = _draw(g, 1, 8), _draw(g, 2, 8)
    yield (f"float64 input, B={b}, d={d} (the result must stay float64)",
           *(torch.randn(*s, generator=g, dtype=torch.float64) for s in ((b, d), (b, d), (d, d), (d,))))


def _expect_tensor_dtype(got, like: torch.Tensor, what: str) -> None:
    expect_type(got, torch.Tensor, what)
    if got.dtype != like.dtype:
        fail(f"{what} has dtype {got.dtype}, but the input is {like.dtype}.",
             hint="compute with the input's tensors all the way; do not create float32 "
                  "tensors (torch.zeros(...) without dtype=) or convert with .float().")


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------
@exercise("ch02", "fm_valued_pairs", title="the FM pairwise term of rows with real values")
def check_fm_valued_pairs(fn, run, seed: int = 2010):
    """Check ``fn(v (B, n, D), x (B, n)) -> (B,)``: sum_{i<j} <v_i, v_j> x_i x_j."""
    for name, v, x in _fm_cases(seed):
        with run.case(name):
            got = run.call(fn, v, x, forbid_mutation=True)
            _expect_tensor_dtype(got, v, "the result")
            exact = _brute_force_valued_pairs(v, x)
            vd, xd = v.double(), x.double().unsqueeze(-1)
            vx = vd * xd
            scale = float((vx ** 2).sum(dim=(1, 2)).max())
            eps = 1e-12 if v.dtype == torch.float64 else 1e-6
            half = lambda a, b: 0.5 * (a - b).sum(1)
            mistakes = {
                "the values x ignored (the one-hot formula on v alone, padding included)":
                    half(vd.sum(1) ** 2, (vd ** 2).sum(1)),
                "x_i not squared in the sum of squares (sum_i x_i v_i^2 instead of "
                "sum_i (x_i v_i)^2)": half(vx.sum(1) ** 2, (vd ** 2 * xd).sum(1)),
                "the values left out of the sum of squares (sum_i v_i^2 instead of "
                "sum_i (x_i v_i)^2)": half(vx.sum(1) ** 2, (vd ** 2).sum(1)),
                "forgetting the 1/2 (every pair counted twice, as (i, j) and (j, i))":
                    2 * exact,
                "pairs i <= j instead of i < j (each x_i^2 <v_i, v_i> added)":
                    exact + (vx ** 2).sum(dim=(1, 2)),
                "the square of the sum alone, without subtracting the sum of squares":
                    0.5 * (vx.sum(1) ** 2).sum(1),
                "a mean over D instead of a sum": exact / v.shape[2],
            }
            expect_close(got.detach().double(), exact, what="the pairwise term",
                         atol=eps * max(scale, 1.0), rtol=0.0, mistakes=mistakes)
    with run.case("gradients flow to v and to x (B=3, n=4, D=2)"):
        g = torch.Generator().manual_seed(seed + 7)
        v = torch.randn(3, 4, 2, generator=g, requires_grad=True)
        x = torch.rand(3, 4, generator=g, requires_grad=True)
        got = run.call(fn, v, x, copy_args=False)
        expect_type(got, torch.Tensor, "the result")
        if not got.requires_grad:
            fail("the result does not depend on v and x for autograd: training could not "
                 "update the embeddings.",
                 hint="stay in torch: no .numpy(), .item(), .detach() or Python floats.")
        got.sum().backward()
        s = (v * x.unsqueeze(-1)).detach().sum(dim=1, keepdim=True)           # (B, 1, D)
        # d/dv_i = x_i (s - x_i v_i);  d/dx_i = <v_i, s - x_i v_i>
        rest = s - (v * x.unsqueeze(-1)).detach()
        expect_close(v.grad, x.detach().unsqueeze(-1) * rest,
                     what="the gradient with respect to v", atol=1e-5)
        if x.grad is None:
            fail("no gradient reaches x: the values must enter the computation as tensors.",
                 hint="multiply v by x.unsqueeze(-1); do not convert x to numbers first.")
        expect_close(x.grad, (v.detach() * rest).sum(-1), what="the gradient with respect to x",
                     atol=1e-5)


@exercise("ch02", "cross_layer_v2", title="one layer of DCN-V2's cross network (full matrix W)")
def check_cross_layer_v2(fn, run, seed: int = 2021):
    """Check ``fn(x0, xl, W, b) -> (B, d)``, i.e. x0 * (W xl + b) + xl for each row."""
    for name, x0, xl, W, b in _cross_cases(seed):
        with run.case(name):
            got = run.call(fn, x0, xl, W, b, forbid_mutation=True)
            _expect_tensor_dtype(got, x0, "the result")
            expected = _reference_cross_layer_v2(x0, xl, W, b)
            mistakes = {
                "W applied transposed (xl @ W computes W^T x_l; W x_l for a batch of rows "
                "is xl @ W.T)": x0 * (xl @ W + b) + xl,
                "no residual: x_l must be added back": x0 * (xl @ W.T + b),
                "no bias b": x0 * (xl @ W.T) + xl,
                "the bias outside the product (x0 * (W x_l) + b + x_l, DCN-V1's place for "
                "it); in DCN-V2 it sits inside: x0 * (W x_l + b)": x0 * (xl @ W.T) + b + xl,
                "W applied to x_0 instead of x_l": x0 * (x0 @ W.T + b) + xl,
                "x_0 and x_l swapped (x_l * (W x_0 + b))": xl * (x0 @ W.T + b) + xl,
                "only the diagonal of W used (an elementwise w * x_l)":
                    x0 * (xl * torch.diagonal(W) + b) + xl,
            }
            atol = 1e-12 if x0.dtype == torch.float64 else 1e-5
            expect_close(got.detach(), expected, what="the cross layer's output", atol=atol,
                         rtol=1e-6, mistakes=mistakes)


__all__ = ["check_fm_valued_pairs", "check_cross_layer_v2"]
