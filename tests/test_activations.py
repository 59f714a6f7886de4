"""Tests for nnlib.activations: hand-computed values, gradient checks, torch parity, stability."""

from __future__ import annotations

import math
import warnings
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from oracles import require_torch

from nnlib import activations as A
from nnlib.gradcheck import check_gradients
from strategies import BOUND, PROPERTY, bounded_arrays

LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)

# Gradient checks: h = 1e-5 balances truncation against rounding error; correct code scores
# below ~2e-6 here (the CS231n elementwise-max error is harsh on tiny entries), wrong code
# scores above 1e-3.
H, GRAD_TOL = 1e-5, 1e-5

VALUES = {
    "sigmoid": A.sigmoid,
    "tanh": A.tanh,
    "relu": A.relu,
    "leaky_relu": A.leaky_relu,
    "softmax": A.softmax,
    "log_softmax": A.log_softmax,
}

PAIRS = {
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward),
    "tanh": (A.tanh_forward, A.tanh_backward),
    "relu": (A.relu_forward, A.relu_backward),
    "leaky_relu": (A.leaky_relu_forward, A.leaky_relu_backward),
    "softmax": (A.softmax_forward, A.softmax_backward),
    "log_softmax": (A.log_softmax_forward, A.log_softmax_backward),
}


@contextmanager
def strict_fp():
    """Fail on overflow, division by zero and invalid operations (underflow to 0 is fine)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            yield


def away_from_zero(x: np.ndarray, gap: float = 0.1) -> np.ndarray:
    """Move entries away from the kink at 0, where finite differences straddle two branches."""
    return x + gap * np.where(x >= 0, 1.0, -1.0)


# --------------------------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------------------------


def test_sigmoid_hand_values():
    # sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4.
    np.testing.assert_allclose(A.sigmoid([0.0, LN3, -LN3]), [0.5, 0.75, 0.25], rtol=1e-15)


def test_tanh_hand_values():
    # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5.
    np.testing.assert_allclose(A.tanh([0.0, LN2, -LN2]), [0.0, 0.6, -0.6], rtol=1e-15)


def test_relu_and_leaky_relu_hand_values():
    x = np.array([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_array_equal(A.relu(x), [0.0, 0.0, 0.0, 3.0])
    np.testing.assert_allclose(A.leaky_relu(x, 0.1), [-0.2, -0.05, 0.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(A.leaky_relu(x), [-0.02, -0.005, 0.0, 3.0], rtol=1e-15)


def test_softmax_and_log_softmax_hand_values_per_row():
    # exp([0, ln2, ln5]) = [1, 2, 5], total 8; the second row is uniform. Rows are independent,
    # so normalising over the wrong axis cannot pass.
    x = np.array([[0.0, LN2, LN5], [7.0, 7.0, 7.0]])
    expected = np.array([[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(A.softmax(x), expected, rtol=1e-14)
    np.testing.assert_allclose(A.log_softmax(x), np.log(expected), rtol=1e-14)
    # A single example (K,) works over its only axis.
    np.testing.assert_allclose(A.softmax(x[0]), expected[0], rtol=1e-14)
    np.testing.assert_allclose(A.log_softmax(x[0]), np.log(expected[0]), rtol=1e-14)


def test_softmax_over_last_axis_of_3d_input():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    out = A.softmax(x)
    np.testing.assert_allclose(out.sum(axis=-1), np.ones((2, 3)), rtol=1e-14)
    np.testing.assert_allclose(out[1, 2], A.softmax(x[1, 2]), rtol=1e-14)


def test_values_agree_with_pairs():
    x = np.random.default_rng(1).normal(size=(3, 4))
    for name, value in VALUES.items():
        forward, _ = PAIRS[name]
        np.testing.assert_array_equal(value(x), forward(x)[0], err_msg=name)


# --------------------------------------------------------------------------------------------
# Hand-computed backward passes, including the derivative convention at 0
# --------------------------------------------------------------------------------------------


def test_sigmoid_and_tanh_backward_hand_values():
    dout = np.array([2.0, 3.0])
    _, cache = A.sigmoid_forward(np.array([0.0, LN3]))
    # sigmoid' = s (1 - s): 1/4 at 0, 3/16 at ln 3.
    np.testing.assert_allclose(A.sigmoid_backward(dout, cache), [0.5, 9 / 16], rtol=1e-15)
    _, cache = A.tanh_forward(np.array([0.0, LN2]))
    # tanh' = 1 - tanh^2: 1 at 0, 16/25 at ln 2.
    np.testing.assert_allclose(A.tanh_backward(dout, cache), [2.0, 48 / 25], rtol=1e-15)


def test_relu_backward_is_zero_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    _, cache = A.relu_forward(x)
    np.testing.assert_array_equal(A.relu_backward(np.array([5.0, 5.0, 5.0]), cache), [0, 0, 5])


def test_leaky_relu_backward_is_slope_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    _, cache = A.leaky_relu_forward(x, negative_slope=0.2)
    np.testing.assert_allclose(
        A.leaky_relu_backward(np.array([5.0, 5.0, 5.0]), cache), [1.0, 1.0, 5.0], rtol=1e-15
    )


def test_relu_backward_does_not_leak_nan_through_closed_units():
    _, cache = A.relu_forward(np.array([-1.0, 1.0]))
    np.testing.assert_array_equal(A.relu_backward(np.array([np.nan, 1.0]), cache), [0.0, 1.0])


def test_softmax_backward_hand_values():
    # p = [1/2, 1/2], dout = [1, 0]: dx = p * (dout - p.dout) = [1/4, -1/4].
    _, cache = A.softmax_forward(np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(A.softmax_backward(np.array([[1.0, 0.0]]), cache), [[0.25, -0.25]])
    # p = [1, 2, 5]/8, dout = [1, 0, 0]: dx = p * ([1, 0, 0] - 1/8) = [7/64, -2/64, -5/64].
    _, cache = A.softmax_forward(np.array([0.0, LN2, LN5]))
    np.testing.assert_allclose(
        A.softmax_backward(np.array([1.0, 0.0, 0.0]), cache), [7 / 64, -2 / 64, -5 / 64],
        rtol=1e-14,
    )


def test_log_softmax_backward_hand_values():
    # dx = dout - p * sum(dout): p = [1, 2, 5]/8, dout = [1, 0, 1] -> [1 - 2/8, -4/8, 1 - 10/8].
    _, cache = A.log_softmax_forward(np.array([[0.0, LN2, LN5]]))
    np.testing.assert_allclose(
        A.log_softmax_backward(np.array([[1.0, 0.0, 1.0]]), cache), [[0.75, -0.5, -0.25]],
        rtol=1e-14,
    )


def test_softmax_backward_rows_sum_to_zero():
    # softmax outputs always sum to 1, so any gradient through it sums to 0 in each row.
    rng = np.random.default_rng(2)
    out, cache = A.softmax_forward(rng.normal(size=(5, 4)))
    dx = A.softmax_backward(rng.normal(size=out.shape), cache)
    np.testing.assert_allclose(dx.sum(axis=-1), np.zeros(5), atol=1e-15)


# --------------------------------------------------------------------------------------------
# Gradient checks (float64, central differences)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (6,), (2, 3, 4)])
def test_gradient_check(name, shape):
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}".encode()))
    x = rng.normal(size=shape)
    if name in ("relu", "leaky_relu"):
        x = away_from_zero(x)
    forward, backward = PAIRS[name]
    errors = check_gradients(forward, backward, [x], rng=rng, h=H, tol=GRAD_TOL)
    assert errors[0] < GRAD_TOL


def test_gradient_check_leaky_relu_custom_slope():
    rng = np.random.default_rng(3)
    x = away_from_zero(rng.normal(size=(4, 3)))
    check_gradients(
        lambda v: A.leaky_relu_forward(v, negative_slope=0.3), A.leaky_relu_backward, [x],
        rng=rng, h=H, tol=GRAD_TOL,
    )


# --------------------------------------------------------------------------------------------
# Parity with PyTorch (float64)
# --------------------------------------------------------------------------------------------


def _torch_ops(torch):
    F = torch.nn.functional
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
        "softmax": lambda t: torch.softmax(t, dim=-1),
        "log_softmax": lambda t: torch.log_softmax(t, dim=-1),
    }


@pytest.mark.parametrize("name", list(PAIRS))
def test_torch_parity_values_and_gradients(name):
    torch = require_torch()
    rng = np.random.default_rng(4)
    x = rng.normal(scale=5.0, size=(6, 5))
    x[0, :3] = 0.0  # the kink convention must match too
    x[1, 0], x[1, 1] = 40.0, -40.0
    dout = rng.normal(size=x.shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = _torch_ops(torch)[name](tx)
    ty.backward(torch.tensor(dout))
    forward, backward = PAIRS[name]
    out, cache = forward(x)
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(backward(dout, cache), tx.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sigmoid"])
def test_torch_parity_extreme_inputs(name):
    torch = require_torch()
    x = np.array([[BOUND, -BOUND, 0.0, 1.0], [-BOUND, -BOUND, -BOUND, -BOUND]])
    expected = _torch_ops(torch)[name](torch.tensor(x)).numpy()
    np.testing.assert_allclose(VALUES[name](x), expected, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------------
# Numerical stability: no NaN/inf and no RuntimeWarning for inputs in [-1e4, 1e4]
# --------------------------------------------------------------------------------------------


def test_extremes_exact():
    with strict_fp():
        np.testing.assert_array_equal(A.sigmoid([BOUND, -BOUND, 0.0]), [1.0, 0.0, 0.5])
        np.testing.assert_array_equal(A.softmax([BOUND, -BOUND]), [1.0, 0.0])
        np.testing.assert_array_equal(A.log_softmax([BOUND, -BOUND]), [0.0, -2 * BOUND])
        np.testing.assert_allclose(A.log_softmax([BOUND, BOUND]), [-LN2, -LN2], rtol=1e-15)


@PROPERTY
@given(x=bounded_arrays(min_dims=1, max_dims=3))
def test_sigmoid_is_stable(x):
    with strict_fp():
        out, cache = A.sigmoid_forward(x)
        dx = A.sigmoid_backward(np.ones_like(x), cache)
        value = A.sigmoid(x)
    assert out.dtype == x.dtype and dx.dtype == x.dtype and value.dtype == x.dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    assert np.all((out >= 0) & (out <= 1))
    with strict_fp():
        np.testing.assert_allclose(out + A.sigmoid(-x), 1.0, atol=np.finfo(x.dtype).eps)


@PROPERTY
@given(x=bounded_arrays(min_dims=1, max_dims=3))
def test_softmax_is_stable(x):
    with strict_fp():
        out, cache = A.softmax_forward(x)
        dx = A.softmax_backward(np.ones_like(x), cache)
        value = A.softmax(x)
    assert out.dtype == x.dtype and dx.dtype == x.dtype and value.dtype == x.dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    assert np.all((out >= 0) & (out <= 1))
    eps = np.finfo(x.dtype).eps
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=x.shape[-1] * 4 * eps)
    # The largest input always gets the largest probability, which cannot underflow to 0.
    assert np.all(out.max(axis=-1) >= 1.0 / x.shape[-1] - eps)


@PROPERTY
@given(x=bounded_arrays(min_dims=1, max_dims=3))
def test_log_softmax_is_stable(x):
    with strict_fp():
        out, cache = A.log_softmax_forward(x)
        dx = A.log_softmax_backward(np.ones_like(x), cache)
        value = A.log_softmax(x)
    assert out.dtype == x.dtype and dx.dtype == x.dtype and value.dtype == x.dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    assert np.all(out <= 0)
    # Exactly shift-invariant in exact arithmetic: log_softmax(x) - x is constant per row.
    shift = (out - x).astype(np.float64)
    spread = shift.max(axis=-1) - shift.min(axis=-1)
    scale = np.abs(x).max(axis=-1).astype(np.float64) + 1.0
    assert np.all(spread <= 8 * np.finfo(x.dtype).eps * scale)


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAIRS))
def test_float32_stays_float32(name):
    x = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)
    assert VALUES[name](x).dtype == np.float32
    forward, backward = PAIRS[name]
    out, cache = forward(x)
    assert out.dtype == np.float32
    # A float64 upstream gradient does not turn the gradient of a float32 x into float64.
    assert backward(np.ones(x.shape), cache).dtype == np.float32
    assert backward(np.ones(x.shape, dtype=np.float32), cache).dtype == np.float32


def test_numpy_float64_slope_does_not_upcast_float32():
    x = np.array([-1.0, 2.0], dtype=np.float32)
    assert A.leaky_relu(x, np.float64(0.2)).dtype == np.float32
    out, cache = A.leaky_relu_forward(x, np.float64(0.2))
    assert out.dtype == np.float32
    assert A.leaky_relu_backward(np.ones(2, dtype=np.float32), cache).dtype == np.float32


@pytest.mark.parametrize("name", list(VALUES))
def test_integer_and_list_input_gives_float64(name):
    out = VALUES[name]([[1, -2, 3]])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_elementwise_accepts_scalars(name):
    out = VALUES[name](0.5)
    assert isinstance(out, np.ndarray) and out.shape == ()


# --------------------------------------------------------------------------------------------
# Inputs are never modified
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAIRS))
def test_inputs_not_modified(name):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 4))
    dout = rng.normal(size=(3, 4))
    x0, dout0 = x.copy(), dout.copy()
    VALUES[name](x)
    forward, backward = PAIRS[name]
    out, cache = forward(x)
    out0 = out.copy()
    backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    np.testing.assert_array_equal(out, out0)
    # A second backward from the same cache gives the same answer (the cache is not consumed).
    np.testing.assert_array_equal(backward(dout, cache), backward(dout, cache))


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_rejects_scalars_and_empty_class_axis(name):
    fns = [VALUES[name], PAIRS[name][0]]
    for fn in fns:
        with pytest.raises(ValueError, match=rf"^{fn.__name__}: x must have shape .*\(\)"):
            fn(3.0)
        with pytest.raises(ValueError, match=rf"^{fn.__name__}: .*\(2, 0\)"):
            fn(np.zeros((2, 0)))


@pytest.mark.parametrize("name", list(PAIRS))
def test_backward_rejects_wrong_dout_shape(name):
    forward, backward = PAIRS[name]
    _, cache = forward(np.zeros((3, 2)))
    msg = (
        rf"^{backward.__name__}: dout has shape \(2, 3\) "
        r"but the forward output had shape \(3, 2\)"
    )
    with pytest.raises(ValueError, match=msg):
        backward(np.zeros((2, 3)), cache)
    with pytest.raises(ValueError, match=rf"^{backward.__name__}: dout has shape \(3,\)"):
        backward(np.zeros(3), cache)


@pytest.mark.parametrize("name", list(VALUES))
def test_rejects_non_numeric_input(name):
    with pytest.raises(ValueError, match=rf"^{name}: x must be numeric"):
        VALUES[name](np.array(["a", "b"]))
    with pytest.raises(ValueError, match=rf"^{name}_forward: x must be numeric"):
        PAIRS[name][0](np.array(["a", "b"]))


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), "steep", None])
def test_leaky_relu_rejects_bad_slope(slope):
    with pytest.raises(ValueError, match="^leaky_relu: negative_slope"):
        A.leaky_relu(np.ones(2), slope)
    with pytest.raises(ValueError, match="^leaky_relu_forward: negative_slope"):
        A.leaky_relu_forward(np.ones(2), slope)


# --------------------------------------------------------------------------------------------
# softmax_jacobian: the full K x K derivative of softmax (lesson 02)
# --------------------------------------------------------------------------------------------


def test_softmax_jacobian_hand_values():
    # p = [1, 2, 5]/8: J = diag(p) - p p^T, in 64ths.
    expected = np.array([[7.0, -2.0, -5.0], [-2.0, 12.0, -10.0], [-5.0, -10.0, 15.0]]) / 64
    np.testing.assert_allclose(A.softmax_jacobian([0.0, LN2, LN5]), expected, rtol=1e-14)
    np.testing.assert_allclose(A.softmax_jacobian([3.0, 3.0]), [[0.25, -0.25], [-0.25, 0.25]])


def test_softmax_jacobian_matches_finite_differences():
    from nnlib.gradcheck import numerical_gradient_array

    x = np.random.default_rng(7).normal(size=5)
    jac = A.softmax_jacobian(x)
    # Row k is the gradient of output k: d sum(softmax(x) * e_k) / dx.
    numeric = np.stack([numerical_gradient_array(A.softmax, x, row) for row in np.eye(5)])
    np.testing.assert_allclose(jac, numeric, rtol=1e-7, atol=1e-10)


def test_softmax_jacobian_is_symmetric_with_rows_summing_to_zero():
    x = np.random.default_rng(8).normal(scale=3.0, size=(4, 6))
    jac = A.softmax_jacobian(x)
    assert jac.shape == (4, 6, 6)
    np.testing.assert_array_equal(jac, np.swapaxes(jac, -1, -2))
    np.testing.assert_allclose(jac.sum(axis=-1), np.zeros((4, 6)), atol=1e-15)
    for n in range(4):  # one Jacobian per row, as for a single vector
        np.testing.assert_allclose(jac[n], A.softmax_jacobian(x[n]), rtol=1e-15)


def test_softmax_jacobian_agrees_with_softmax_backward():
    rng = np.random.default_rng(9)
    x, dout = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    _, cache = A.softmax_forward(x)
    vjp = np.einsum("nk,nkj->nj", dout, A.softmax_jacobian(x))
    np.testing.assert_allclose(vjp, A.softmax_backward(dout, cache), rtol=1e-12, atol=1e-15)


def test_softmax_jacobian_torch_parity():
    torch = require_torch()
    x = np.random.default_rng(10).normal(scale=4.0, size=6)
    expected = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(t, dim=-1), torch.tensor(x)
    ).numpy()
    np.testing.assert_allclose(A.softmax_jacobian(x), expected, rtol=1e-12, atol=1e-300)


def test_softmax_jacobian_extremes_exact():
    with strict_fp():
        np.testing.assert_array_equal(A.softmax_jacobian([BOUND, -BOUND]), np.zeros((2, 2)))
        np.testing.assert_array_equal(
            A.softmax_jacobian([-BOUND, -BOUND]), [[0.25, -0.25], [-0.25, 0.25]]
        )


@PROPERTY
@given(x=bounded_arrays(min_dims=1, max_dims=2))
def test_softmax_jacobian_is_stable(x):
    with strict_fp():
        jac = A.softmax_jacobian(x)
    assert jac.shape == x.shape + x.shape[-1:] and jac.dtype == x.dtype
    assert np.all(np.isfinite(jac))
    # Diagonal p (1 - p) lies in [0, 1/4]; off-diagonal -p_k p_j in [-1/4, 0].
    eps = np.finfo(x.dtype).eps
    diag = np.diagonal(jac, axis1=-2, axis2=-1)
    assert np.all((diag >= -eps) & (diag <= 0.25 + eps))
    off = jac - np.einsum("...k,kj->...kj", diag, np.eye(x.shape[-1], dtype=x.dtype))
    assert np.all((off <= eps) & (off >= -0.25 - eps))


def test_softmax_jacobian_dtypes_inputs_and_errors():
    x = np.random.default_rng(11).normal(size=(2, 3))
    x0 = x.copy()
    A.softmax_jacobian(x)
    np.testing.assert_array_equal(x, x0)
    assert A.softmax_jacobian(x.astype(np.float32)).dtype == np.float32
    assert A.softmax_jacobian([1, 2, 3]).dtype == np.float64
    with pytest.raises(ValueError, match=r"^softmax_jacobian: x must have shape .*\(\)"):
        A.softmax_jacobian(3.0)
    with pytest.raises(ValueError, match=r"^softmax_jacobian: .*\(2, 0\)"):
        A.softmax_jacobian(np.zeros((2, 0)))
    with pytest.raises(ValueError, match=r"^softmax_jacobian: x must be numeric"):
        A.softmax_jacobian(np.array(["a", "b"]))
