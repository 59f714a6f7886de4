"""Tests for nnlib.layers: the dense layer out = x @ W + b with W of shape (D_in, D_out)."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import require_torch

from nnlib.gradcheck import check_gradients
from nnlib.layers import linear_backward, linear_forward

# Gradient checks: see tests/test_activations.py for the choice of h and tolerance.
H, GRAD_TOL = 1e-5, 1e-5


def random_layer(rng, N, D, M, dtype=np.float64):
    x = rng.normal(size=(N, D)).astype(dtype)
    W = rng.normal(size=(D, M)).astype(dtype)
    b = rng.normal(size=M).astype(dtype)
    return x, W, b


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------


def test_forward_hand_values():
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])  # (D=2, M=3)
    b = np.array([0.5, -1.0, 2.0])
    out, _ = linear_forward(x, W, b)
    np.testing.assert_array_equal(out, [[5.5, 1.0, 1.0], [-1.5, -2.0, 2.0]])


def test_backward_hand_values():
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    b = np.array([0.5, -1.0, 2.0])
    _, cache = linear_forward(x, W, b)
    dout = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 3.0]])
    dx, dW, db = linear_backward(dout, cache)
    # dx = dout @ W.T, dW = x.T @ dout, db = column sums of dout.
    np.testing.assert_array_equal(dx, [[1.0, 2.0], [-3.0, 2.0]])
    np.testing.assert_array_equal(dW, [[1.0, 0.0, 0.0], [2.0, -2.0, -3.0]])
    np.testing.assert_array_equal(db, [1.0, 2.0, 3.0])


def test_single_example_matches_batch_of_one():
    rng = np.random.default_rng(0)
    x, W, b = random_layer(rng, 1, 4, 3)
    out_batch, cache_batch = linear_forward(x, W, b)
    out_single, cache_single = linear_forward(x[0], W, b)
    assert out_single.shape == (3,)
    np.testing.assert_allclose(out_single, out_batch[0], rtol=1e-15)
    dout = rng.normal(size=3)
    dx_b, dW_b, db_b = linear_backward(dout[None, :], cache_batch)
    dx_s, dW_s, db_s = linear_backward(dout, cache_single)
    assert dx_s.shape == (4,) and dW_s.shape == (4, 3) and db_s.shape == (3,)
    np.testing.assert_allclose(dx_s, dx_b[0], rtol=1e-15)
    np.testing.assert_allclose(dW_s, dW_b, rtol=1e-15)
    np.testing.assert_allclose(db_s, db_b, rtol=1e-15)


def test_gradient_shapes_mirror_inputs():
    x, W, b = random_layer(np.random.default_rng(1), 5, 4, 3)
    out, cache = linear_forward(x, W, b)
    dx, dW, db = linear_backward(np.ones_like(out), cache)
    assert (dx.shape, dW.shape, db.shape) == (x.shape, W.shape, b.shape)


def test_no_bias():
    x, W, _ = random_layer(np.random.default_rng(2), 3, 4, 2)
    out, cache = linear_forward(x, W, None)
    np.testing.assert_allclose(out, x @ W, rtol=1e-15)
    dx, dW, db = linear_backward(np.ones_like(out), cache)
    assert db is None and dx.shape == x.shape and dW.shape == W.shape


# --------------------------------------------------------------------------------------------
# Gradient checks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N, D, M", [(4, 5, 3), (1, 1, 1), (7, 2, 6), (3, 6, 1), (5, 4, 4)])
def test_gradient_check(N, D, M):
    rng = np.random.default_rng(N * 100 + D * 10 + M)
    x, W, b = random_layer(rng, N, D, M)
    errors = check_gradients(
        linear_forward, linear_backward, [x, W, b], rng=rng, h=H, tol=GRAD_TOL,
        names=("x", "W", "b"),
    )
    assert max(errors) < GRAD_TOL


def test_gradient_check_single_example():
    rng = np.random.default_rng(3)
    x, W, b = rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=3)
    check_gradients(linear_forward, linear_backward, [x, W, b], rng=rng, h=H, tol=GRAD_TOL)


# --------------------------------------------------------------------------------------------
# Parity with torch.nn.functional.linear (torch stores the weight as (D_out, D_in))
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 4, 3), (1, 3, 7), (3, 4, 4)])
def test_torch_parity(shape):
    torch = require_torch()
    N, D, M = shape
    rng = np.random.default_rng(4)
    x, W, b = random_layer(rng, N, D, M)
    dout = rng.normal(size=(N, M))
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(W.T.copy(), requires_grad=True)  # torch layout (M, D)
    tb = torch.tensor(b, requires_grad=True)
    tout = torch.nn.functional.linear(tx, tW, tb)
    tout.backward(torch.tensor(dout))
    out, cache = linear_forward(x, W, b)
    dx, dW, db = linear_backward(dout, cache)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dW, tW.grad.numpy().T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# dtypes and aliasing
# --------------------------------------------------------------------------------------------


def test_float32_stays_float32():
    x, W, b = random_layer(np.random.default_rng(5), 3, 4, 2, dtype=np.float32)
    out, cache = linear_forward(x, W, b)
    assert out.dtype == np.float32
    for dout in (np.ones(out.shape, dtype=np.float32), np.ones(out.shape)):
        grads = linear_backward(dout, cache)
        assert [g.dtype for g in grads] == [np.float32] * 3


def test_integer_inputs_become_float64():
    out, cache = linear_forward([[1, 2]], [[1, 0], [0, 1]], [0, 0])
    assert out.dtype == np.float64
    assert all(g.dtype == np.float64 for g in linear_backward([[1, 1]], cache))


@pytest.mark.parametrize("single", [False, True])
def test_inputs_not_modified_and_grads_do_not_alias(single):
    rng = np.random.default_rng(6)
    x, W, b = random_layer(rng, 3, 4, 2)
    if single:
        x = x[0]
    dout = rng.normal(size=(2,) if single else (3, 2))
    saved = [a.copy() for a in (x, W, b, dout)]
    _, cache = linear_forward(x, W, b)
    dx, dW, db = linear_backward(dout, cache)
    for before, after in zip(saved, (x, W, b, dout), strict=True):
        np.testing.assert_array_equal(before, after)
    # Accumulating into a gradient (p.grad += db) must not write through to anything else.
    for g in (dx, dW, db):
        g += 1.0
    for before, after in zip(saved, (x, W, b, dout), strict=True):
        np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------


def test_feature_mismatch_message():
    msg = r"^linear_forward: x has 5 features but W expects 4 \(W is \(4, 3\)\)$"
    with pytest.raises(ValueError, match=msg):
        linear_forward(np.zeros((2, 5)), np.zeros((4, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=msg):
        linear_forward(np.zeros(5), np.zeros((4, 3)), np.zeros(3))


def test_transposed_weight_message():
    # The classic mistake: a torch-layout (M, D) weight.
    with pytest.raises(ValueError, match=r"^linear_forward: x has 4 features but W expects 3"):
        linear_forward(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros(3))


@pytest.mark.parametrize("b_shape", [(1, 3), (4,), (3, 1), ()])
def test_bias_shape_message(b_shape):
    with pytest.raises(ValueError) as info:
        linear_forward(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(b_shape))
    assert str(info.value) == (
        f"linear_forward: b must have shape (3,) to match W (4, 3), got {b_shape}"
    )


@pytest.mark.parametrize(
    "x_shape, W_shape, name",
    [((2, 3, 4), (4, 3), "x"), ((), (4, 3), "x"), ((2, 4), (4,), "W"), ((2, 4), (4, 3, 1), "W")],
)
def test_ndim_messages(x_shape, W_shape, name):
    with pytest.raises(ValueError, match=rf"^linear_forward: {name} must have shape .*got shape"):
        linear_forward(np.zeros(x_shape), np.zeros(W_shape), np.zeros(3))


def test_backward_dout_shape_message():
    _, cache = linear_forward(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(3))
    msg = r"^linear_backward: dout has shape \(3, 2\) but the forward output had shape \(2, 3\)"
    with pytest.raises(ValueError, match=msg):
        linear_backward(np.zeros((3, 2)), cache)
    with pytest.raises(ValueError, match=r"^linear_backward: dout has shape \(3,\)"):
        linear_backward(np.zeros(3), cache)


def test_non_numeric_message():
    with pytest.raises(ValueError, match="^linear_forward: W must be numeric"):
        linear_forward(np.zeros((2, 4)), np.full((4, 3), "w"), np.zeros(3))
