"""The shortcuts taken for speed (bench/) compute exactly what the plain code computes.

- ``linear_backward(..., input_grad=False)`` / ``Sequential.backward(..., input_grad=False)``
  skip dx of the first layer (as torch does for an input without requires_grad);
- ``Parameter`` keeps a zero gradient as None until the first backward stores its fresh array;
- ``SGD.step`` without momentum or weight decay subtracts in place;
- ``relu_backward`` multiplies by the mask unless dout holds inf/NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnlib
from nnlib.activations import relu_backward
from nnlib.layers import linear_backward, linear_forward
from nnlib.optim import sgd


def _mlp(rng: np.random.Generator, dtype=np.float64) -> nnlib.Sequential:
    return nnlib.Sequential(
        nnlib.Linear(5, 7, rng=rng, dtype=dtype),
        nnlib.ReLU(),
        nnlib.Linear(7, 3, rng=rng, dtype=dtype),
    )


@pytest.mark.parametrize("x_shape", [(4, 5), (5,)])
def test_linear_backward_without_input_grad_gives_the_same_parameter_grads(x_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape)
    W, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    out, cache = linear_forward(x, W, b)
    dout = rng.normal(size=out.shape)
    dx, dW, db = linear_backward(dout, cache)
    none, dW2, db2 = linear_backward(dout, cache, input_grad=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dW2, dW)
    np.testing.assert_array_equal(db2, db)


def test_linear_forward_adds_the_bias_in_place_only_when_the_dtype_allows():
    x32 = np.ones((2, 3), np.float32)
    out, _ = linear_forward(x32, np.ones((3, 2), np.float32), np.full(2, 0.5))
    assert out.dtype == np.float64  # a float64 bias still promotes, as x @ W + b does
    np.testing.assert_array_equal(out, np.full((2, 2), 3.5))


def test_sequential_backward_without_input_grad_returns_none_and_the_same_grads():
    net_a, net_b = _mlp(np.random.default_rng(1)), _mlp(np.random.default_rng(1))
    X = np.random.default_rng(2).normal(size=(6, 5))
    dout = np.random.default_rng(3).normal(size=(6, 3))
    net_a(X)
    net_b(X)
    assert net_a.backward(dout).shape == X.shape
    assert net_b.backward(dout, input_grad=False) is None
    for (name, p), q in zip(net_a.named_parameters(), net_b.parameters(), strict=True):
        np.testing.assert_array_equal(q.grad, p.grad, err_msg=name)


def test_parameter_grad_reads_as_zeros_and_accumulates_after_zero_grad():
    rng = np.random.default_rng(4)
    lin = nnlib.Linear(3, 2, rng=rng, dtype=np.float32)
    assert lin.weight.grad.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.grad, np.zeros((3, 2)))
    x = rng.normal(size=(4, 3)).astype(np.float32)
    dout = rng.normal(size=(4, 2)).astype(np.float32)
    for _ in range(3):
        lin.zero_grad()
        lin(x)
        lin.backward(dout)
        once = lin.weight.grad.copy()
        lin(x)
        lin.backward(dout)
        np.testing.assert_allclose(lin.weight.grad, 2 * once, rtol=1e-6)
    # A gradient read (and so materialised as zeros) before backward is the array that grows.
    lin.zero_grad()
    held = lin.bias.grad
    lin(x)
    lin.backward(dout)
    assert lin.bias.grad is held
    np.testing.assert_allclose(held, dout.sum(axis=0), rtol=1e-6)
    # The stored gradient never aliases the caller's dout (bias grad of one example).
    lin.zero_grad()
    d1 = np.ones(2, np.float32)
    lin(np.ones(3, np.float32))
    lin.backward(d1)
    lin.bias.grad += 1
    np.testing.assert_array_equal(d1, np.ones(2))


def test_grad_assigned_by_hand_is_kept_and_accumulated_into():
    p = nnlib.Parameter(np.zeros(3))
    p.grad = np.array([1.0, 2.0, 3.0])
    p.accumulate_grad(np.ones(3))
    np.testing.assert_array_equal(p.grad, [2.0, 3.0, 4.0])
    p.zero_grad()
    np.testing.assert_array_equal(p.grad, np.zeros(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "hyper",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"weight_decay": 0.01},
        {"momentum": 0.5, "dampening": 0.1, "weight_decay": 0.1},
    ],
)
def test_sgd_step_matches_the_pure_rule_bit_for_bit(dtype, hyper):
    rng = np.random.default_rng(5)
    params = [nnlib.Parameter(rng.normal(size=s).astype(dtype)) for s in [(4, 3), (3,)]]
    opt = nnlib.SGD(params, lr=0.1, **hyper)
    ws = [p.data.copy() for p in params]
    states: list[dict] = [{} for _ in params]
    for _ in range(3):
        for p in params:
            p.grad = rng.normal(size=p.shape).astype(dtype)
        expected = []
        for i, p in enumerate(params):
            w, states[i] = sgd(ws[i], p.grad, states[i], lr=0.1, **hyper)
            expected.append(w)
        opt.step()
        ws = expected
        for p, w in zip(params, expected, strict=True):
            assert p.data.dtype == dtype
            np.testing.assert_array_equal(p.data, w)


def test_sgd_step_still_rejects_a_gradient_of_the_wrong_shape():
    p = nnlib.Parameter(np.zeros((2, 3)))
    p.grad = np.zeros((1, 3))
    with pytest.raises(ValueError, match="sgd"):
        nnlib.SGD([p], lr=0.1).step()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backward_fast_path_equals_where(dtype):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(50, 40)).astype(dtype)
    x[0, :5] = 0.0
    dout = rng.normal(size=x.shape).astype(dtype)
    dx = relu_backward(dout, x)
    expected = np.where(x > 0, dout, 0).astype(dtype)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, expected)
    assert not np.signbit(dx[x <= 0]).any(), "a closed unit gave -0.0"


def test_relu_backward_does_not_leak_inf_or_nan_through_closed_units():
    x = np.array([-1.0, 2.0, -3.0, 4.0])
    dout = np.array([np.inf, np.nan, np.nan, -np.inf])
    np.testing.assert_array_equal(relu_backward(dout, x), [0.0, np.nan, 0.0, -np.inf])


def test_fit_trains_the_same_with_the_input_gradient_skipped():
    """fit skips dX of a Sequential; the weights it reaches equal a hand-written loop's."""
    X = np.random.default_rng(7).normal(size=(20, 5))
    y = np.random.default_rng(8).integers(0, 3, size=20)
    net_a, net_b = _mlp(np.random.default_rng(9)), _mlp(np.random.default_rng(9))
    loss_fn = nnlib.CrossEntropyLoss()
    nnlib.fit(net_a, loss_fn, nnlib.SGD(net_a.parameters(), lr=0.1), X, y, epochs=2,
              batch_size=8, rng=np.random.default_rng(10), verbose=False)
    opt_b, rng_b = nnlib.SGD(net_b.parameters(), lr=0.1), np.random.default_rng(10)
    for _ in range(2):
        for Xb, yb in nnlib.minibatches(X, y, 8, rng=rng_b):
            loss_fn(net_b(Xb), yb)
            opt_b.zero_grad()
            net_b.backward(loss_fn.backward())
            opt_b.step()
    for p, q in zip(net_a.parameters(), net_b.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)
