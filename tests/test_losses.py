"""Tests for nnlib.losses: hand-computed cases, gradient checks, torch parity, stability."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from oracles import require_torch

from nnlib import losses as L
from nnlib.gradcheck import numerical_gradient, rel_error
from strategies import BOUND, PROPERTY, logits_and_labels, logits_and_targets

LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)

# Numerical gradients: see tests/test_activations.py for the choice of h and tolerance.
H, GRAD_TOL = 1e-5, 1e-5


@contextmanager
def strict_fp():
    """Fail on overflow, division by zero and invalid operations (underflow to 0 is fine)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            yield


def regression_pair(rng, shape, *, avoid=()):
    """(y_hat, y) whose residuals keep a distance of 0.05 from each kink in ``avoid``."""
    y = rng.normal(size=shape)
    r = rng.normal(scale=2.0, size=shape)
    for k in avoid:
        for sign in (1.0, -1.0):
            near = np.abs(r - sign * k) < 0.05
            r[near] += 0.1
    return y + r, y


def scores_and_labels(rng, N, K, margin=1.0):
    """Scores whose hinge margins s_j - s_y + margin stay at least 0.05 away from 0."""
    s = rng.normal(scale=2.0, size=(N, K))
    y = rng.integers(0, K, size=N)
    for _ in range(10):
        m = s - s[np.arange(N), y][:, None] + margin
        m[np.arange(N), y] = 1.0
        near = np.abs(m) < 0.05
        if not near.any():
            break
        s[near] += 0.1
    return s, y


def grad_error(loss_fn, y_hat, *args, **kwargs):
    """rel_error between the loss's analytic gradient and central differences (float64)."""
    _, analytic = loss_fn(y_hat, *args, **kwargs)
    numeric = numerical_gradient(lambda v: loss_fn(v, *args, **kwargs)[0], y_hat.copy(), h=H)
    return rel_error(analytic, numeric)


# --------------------------------------------------------------------------------------------
# Hand-computed values (the gradients include the 1/N of the mean)
# --------------------------------------------------------------------------------------------


def test_mse_hand_values():
    loss, grad = L.mse_loss(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0]))
    assert loss == pytest.approx(13 / 3, rel=1e-15)
    np.testing.assert_allclose(grad, [0.0, 4 / 3, 2.0], rtol=1e-15)


def test_mse_mean_over_all_elements():
    # (2, 2) residuals 1, 1, 1, 3: mean over 4 elements, not over the 2 rows.
    loss, grad = L.mse_loss(np.array([[1.0, 1.0], [1.0, 3.0]]), np.zeros((2, 2)))
    assert loss == pytest.approx(12 / 4)
    np.testing.assert_allclose(grad, [[0.5, 0.5], [0.5, 1.5]])


def test_mae_hand_values_sign_zero_is_zero():
    loss, grad = L.mae_loss(np.array([1.0, 2.0, -3.0]), np.array([1.0, 0.0, 0.0]))
    assert loss == pytest.approx(5 / 3, rel=1e-15)
    np.testing.assert_array_equal(grad, np.array([0.0, 1.0, -1.0]) / 3)


@pytest.mark.parametrize(
    "delta, loss, grad",
    [
        # r = [0.5, -2, 3]; delta 1: 0.125, 1 * (2 - 0.5), 1 * (3 - 0.5).
        (1.0, (0.125 + 1.5 + 2.5) / 3, [0.5 / 3, -1 / 3, 1 / 3]),
        # delta 2: |r| = 2 is on the quadratic side (<=), 0.5 * 4 = 2; 2 * (3 - 1) = 4.
        (2.0, (0.125 + 2.0 + 4.0) / 3, [0.5 / 3, -2 / 3, 2 / 3]),
        # delta 0.25: all linear: 0.25 * (0.5 - 0.125), 0.25 * (2 - 0.125), 0.25 * (3 - 0.125).
        (0.25, 0.25 * (0.375 + 1.875 + 2.875) / 3, [0.25 / 3, -0.25 / 3, 0.25 / 3]),
    ],
)
def test_huber_hand_values(delta, loss, grad):
    y = np.array([1.0, 2.0, -1.0])
    got_loss, got_grad = L.huber_loss(y + np.array([0.5, -2.0, 3.0]), y, delta=delta)
    assert got_loss == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(got_grad, grad, rtol=1e-14)


def test_bce_with_logits_hand_values():
    # sigmoid(ln 3) = 3/4. Losses: -ln(3/4), -ln(1/4), ln 2 (z = 0), and for a soft target
    # y = 1/2 at z = ln 3: -(ln(3/4) + ln(1/4)) / 2.
    z = np.array([LN3, LN3, 0.0, LN3])
    y = np.array([1.0, 0.0, 1.0, 0.5])
    expected = [-math.log(0.75), -math.log(0.25), LN2, -(math.log(0.75) + math.log(0.25)) / 2]
    loss, grad = L.bce_with_logits_loss(z, y)
    assert loss == pytest.approx(np.mean(expected), rel=1e-14)
    np.testing.assert_allclose(grad, np.array([-0.25, 0.75, -0.5, 0.25]) / 4, rtol=1e-14)


def test_softmax_cross_entropy_hand_values():
    # Row 0: p = [1, 2, 5]/8, y = 2 -> -ln(5/8). Row 1: uniform over 3, y = 0 -> ln 3.
    z = np.array([[0.0, LN2, LN5], [4.0, 4.0, 4.0]])
    y = np.array([2, 0])
    loss, grad = L.softmax_cross_entropy_loss(z, y)
    assert loss == pytest.approx((-math.log(5 / 8) + LN3) / 2, rel=1e-14)
    expected = np.array([[1 / 8, 2 / 8, 5 / 8 - 1], [1 / 3 - 1, 1 / 3, 1 / 3]]) / 2
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-16)


def test_hinge_hand_values_cs231n_example():
    # The CS231n lecture example: per-example losses 2.9, 0 and 12.9, mean 5.27.
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    loss, grad = L.hinge_loss(s, y)
    assert loss == pytest.approx((2.9 + 0.0 + 12.9) / 3, rel=1e-14)
    expected = np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -2.0]]) / 3
    np.testing.assert_array_equal(grad, expected)


def test_hinge_margin_and_kink_convention():
    # s_1 - s_0 + margin is exactly 0 in the first row: no loss and subgradient 0 there.
    s = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    loss, grad = L.hinge_loss(s, y, margin=1.0)
    # Row 0: j=1: 0, j=2: 0.5. Row 1: j=0: 1, j=1: 1.
    assert loss == pytest.approx((0.5 + 2.0) / 2)
    np.testing.assert_array_equal(grad, np.array([[-1.0, 0.0, 1.0], [1.0, 1.0, -2.0]]) / 2)
    loss0, grad0 = L.hinge_loss(s, y, margin=0.0)
    assert loss0 == 0.0 and not grad0.any()


def test_cross_entropy_ignores_logit_shift_and_scale_of_batch():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 5))
    y = rng.integers(0, 5, size=4)
    loss, grad = L.softmax_cross_entropy_loss(z, y)
    loss_shift, grad_shift = L.softmax_cross_entropy_loss(z + 100.0, y)
    assert loss_shift == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_shift, grad, rtol=1e-10, atol=1e-16)
    # Duplicating the batch keeps the mean and halves each gradient entry (the 1/N).
    loss2, grad2 = L.softmax_cross_entropy_loss(np.vstack([z, z]), np.concatenate([y, y]))
    assert loss2 == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(grad2[:4], grad / 2, rtol=1e-14)


@pytest.mark.parametrize("loss_fn", [L.mse_loss, L.mae_loss, L.huber_loss, L.bce_with_logits_loss])
def test_elementwise_losses_are_means(loss_fn):
    rng = np.random.default_rng(1)
    y_hat, y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    loss, grad = loss_fn(y_hat, y)
    loss2, grad2 = loss_fn(np.vstack([y_hat, y_hat]), np.vstack([y, y]))
    assert loss2 == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(grad2[:3], grad / 2, rtol=1e-14)


def test_losses_return_python_floats():
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(3, 4)), rng.integers(0, 4, size=3)
    for loss, _ in (
        L.mse_loss(z, z + 1), L.mae_loss(z, z + 1), L.huber_loss(z, z + 1),
        L.bce_with_logits_loss(z, np.ones_like(z)), L.softmax_cross_entropy_loss(z, y),
        L.hinge_loss(z, y),
    ):
        assert type(loss) is float


# --------------------------------------------------------------------------------------------
# Gradient checks (float64, central differences)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 3), (1,), (7,), (2, 3, 2)])
def test_regression_losses_gradient_check(shape):
    rng = np.random.default_rng(sum(shape) * 7 + len(shape))
    y_hat, y = regression_pair(rng, shape)
    assert grad_error(L.mse_loss, y_hat, y) < GRAD_TOL
    y_hat, y = regression_pair(rng, shape, avoid=(0.0,))
    assert grad_error(L.mae_loss, y_hat, y) < GRAD_TOL
    for delta in (0.5, 1.0, 3.0):
        y_hat, y = regression_pair(rng, shape, avoid=(delta,))
        assert grad_error(L.huber_loss, y_hat, y, delta=delta) < GRAD_TOL


@pytest.mark.parametrize("shape", [(5, 3), (1,), (8, 1)])
def test_bce_with_logits_gradient_check(shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    z = rng.normal(scale=3.0, size=shape)
    for y in (rng.integers(0, 2, size=shape).astype(float), rng.uniform(size=shape)):
        assert grad_error(L.bce_with_logits_loss, z, y) < GRAD_TOL


@pytest.mark.parametrize("N, K", [(5, 3), (1, 4), (6, 2), (3, 10)])
def test_classification_losses_gradient_check(N, K):
    rng = np.random.default_rng(N * 100 + K)
    z = rng.normal(scale=2.0, size=(N, K))
    y = rng.integers(0, K, size=N)
    assert grad_error(L.softmax_cross_entropy_loss, z, y) < GRAD_TOL
    for margin in (1.0, 0.3):
        s, y = scores_and_labels(rng, N, K, margin)
        assert grad_error(L.hinge_loss, s, y, margin=margin) < GRAD_TOL


# --------------------------------------------------------------------------------------------
# Parity with torch.nn losses (float64)
# --------------------------------------------------------------------------------------------


def _torch_value_and_grad(torch, criterion, y_hat, y):
    t = torch.tensor(y_hat, requires_grad=True)
    loss = criterion(t, torch.tensor(y))
    loss.backward()
    return loss.item(), t.grad.numpy()


def _assert_parity(ours, theirs, scale=1.0):
    np.testing.assert_allclose(ours[0], theirs[0] * scale, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours[1], theirs[1] * scale, rtol=1e-10, atol=1e-15)


def test_torch_parity_regression_losses():
    torch = require_torch()
    rng = np.random.default_rng(3)
    y = rng.normal(size=(6, 4))
    y_hat = y + rng.normal(scale=2.0, size=y.shape)
    y_hat[0, :2] = y[0, :2]  # residual exactly 0: sign(0) = 0 for L1
    y_hat[1, 0] = y[1, 0] + 1.0  # residual exactly delta for Huber
    y_hat[1, 1] = y[1, 1] - 0.5
    nn = torch.nn
    _assert_parity(L.mse_loss(y_hat, y), _torch_value_and_grad(torch, nn.MSELoss(), y_hat, y))
    _assert_parity(L.mae_loss(y_hat, y), _torch_value_and_grad(torch, nn.L1Loss(), y_hat, y))
    for delta in (0.5, 1.0, 2.5):
        _assert_parity(
            L.huber_loss(y_hat, y, delta=delta),
            _torch_value_and_grad(torch, nn.HuberLoss(delta=delta), y_hat, y),
        )


def test_torch_parity_bce_with_logits():
    torch = require_torch()
    rng = np.random.default_rng(4)
    z = rng.normal(scale=5.0, size=(8, 3))
    z[0] = [BOUND, -BOUND, 0.0]
    z[1] = [-50.0, 50.0, 30.0]
    for y in (rng.integers(0, 2, size=z.shape).astype(float), rng.uniform(size=z.shape)):
        _assert_parity(
            L.bce_with_logits_loss(z, y),
            _torch_value_and_grad(torch, torch.nn.BCEWithLogitsLoss(), z, y),
        )


def test_torch_parity_cross_entropy():
    torch = require_torch()
    rng = np.random.default_rng(5)
    z = rng.normal(scale=3.0, size=(7, 5))
    z[0] = [BOUND, -BOUND, 0.0, 1.0, 2.0]
    y = rng.integers(0, 5, size=7)
    y[0] = 1  # the -2e4 logit is the target: loss 2e4, still exact
    _assert_parity(
        L.softmax_cross_entropy_loss(z, y),
        _torch_value_and_grad(torch, torch.nn.CrossEntropyLoss(), z, y),
    )


@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
def test_torch_parity_hinge_times_K(margin):
    torch = require_torch()
    rng = np.random.default_rng(6)
    N, K = 6, 4
    s = rng.normal(scale=2.0, size=(N, K))
    y = rng.integers(0, K, size=N)
    # An exact kink (s_j - s_y + margin == 0): both use the subgradient 0 there.
    j = (y[0] + 1) % K
    s[0, j] = s[0, y[0]] - margin
    ours = L.hinge_loss(s, y, margin=margin)
    theirs = _torch_value_and_grad(torch, torch.nn.MultiMarginLoss(margin=margin), s, y)
    # MultiMarginLoss divides each example's sum by K; ours (CS231n) does not.
    _assert_parity(ours, theirs, scale=K)


# --------------------------------------------------------------------------------------------
# Numerical stability
# --------------------------------------------------------------------------------------------


def test_bce_with_logits_extremes_exact():
    with strict_fp():
        loss, grad = L.bce_with_logits_loss(np.array([BOUND, -BOUND]), np.array([0.0, 1.0]))
        assert loss == BOUND
        np.testing.assert_array_equal(grad, [0.5, -0.5])
        loss, grad = L.bce_with_logits_loss(np.array([BOUND, -BOUND]), np.array([1.0, 0.0]))
        assert loss == 0.0
        np.testing.assert_array_equal(grad, [0.0, 0.0])


def test_cross_entropy_extremes_exact():
    with strict_fp():
        loss, grad = L.softmax_cross_entropy_loss(np.array([[BOUND, -BOUND]]), np.array([1]))
        assert loss == 2 * BOUND
        np.testing.assert_array_equal(grad, [[1.0, -1.0]])


@PROPERTY
@given(data=logits_and_targets())
def test_bce_with_logits_is_stable(data):
    z, y = data
    with strict_fp():
        loss, grad = L.bce_with_logits_loss(z, y)
    assert math.isfinite(loss) and loss >= 0
    assert grad.dtype == z.dtype and grad.shape == z.shape
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) <= 1.0 / z.size + 1e-7)


@PROPERTY
@given(data=logits_and_labels())
def test_cross_entropy_is_stable(data):
    z, y = data
    with strict_fp():
        loss, grad = L.softmax_cross_entropy_loss(z, y)
    assert math.isfinite(loss) and loss >= 0
    assert grad.dtype == z.dtype and grad.shape == z.shape
    assert np.all(np.isfinite(grad))
    # Each row of (softmax - onehot) sums to 0.
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------


CASES = {
    "mse_loss": lambda z: L.mse_loss(z, np.ones(z.shape)),
    "mae_loss": lambda z: L.mae_loss(z, np.ones(z.shape)),
    "huber_loss": lambda z: L.huber_loss(z, np.ones(z.shape), delta=np.float64(0.5)),
    "bce_with_logits_loss": lambda z: L.bce_with_logits_loss(z, np.ones(z.shape)),
    "softmax_cross_entropy_loss": lambda z: L.softmax_cross_entropy_loss(z, [0, 1, 2]),
    "hinge_loss": lambda z: L.hinge_loss(z, [0, 1, 2], margin=np.float64(1.0)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_float32_gradient_stays_float32(name):
    # float64 targets (and NumPy float64 hyperparameters) must not upcast a float32 model.
    z = np.random.default_rng(7).normal(size=(3, 4)).astype(np.float32)
    _, grad = CASES[name](z)
    assert grad.dtype == np.float32


@pytest.mark.parametrize("name", list(CASES))
def test_inputs_not_modified(name):
    z = np.random.default_rng(8).normal(size=(3, 4))
    z0 = z.copy()
    CASES[name](z)
    np.testing.assert_array_equal(z, z0)


def test_targets_not_modified():
    rng = np.random.default_rng(9)
    z, t, y = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4)), np.array([0, 3, 1])
    t0, y0 = t.copy(), y.copy()
    for fn in (L.mse_loss, L.mae_loss, L.huber_loss, L.bce_with_logits_loss):
        fn(z, t)
    L.softmax_cross_entropy_loss(z, y)
    L.hinge_loss(z, y)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(y, y0)


def test_integer_and_boolean_targets():
    z = np.array([0.5, -0.5, 2.0])
    assert L.bce_with_logits_loss(z, np.array([1, 0, 1]))[0] == pytest.approx(
        L.bce_with_logits_loss(z, np.array([True, False, True]))[0]
    )
    assert L.mse_loss([1, 2], [1, 1])[0] == 0.5


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, names",
    [
        (L.mse_loss, "y_hat and y"),
        (L.mae_loss, "y_hat and y"),
        (L.huber_loss, "y_hat and y"),
        (L.bce_with_logits_loss, "logits and y"),
    ],
)
def test_elementwise_losses_refuse_to_broadcast(fn, names):
    msg = rf"^{fn.__name__}: {names} must have the same shape, got \(4, 1\) and \(4,\)"
    with pytest.raises(ValueError, match=msg):
        fn(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: .*got \(3,\) and \(2,\)"):
        fn(np.zeros(3), np.zeros(2))


@pytest.mark.parametrize("fn", [L.mse_loss, L.mae_loss, L.huber_loss, L.bce_with_logits_loss])
def test_elementwise_losses_reject_empty(fn):
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: .* is empty"):
        fn(np.zeros((0, 2)), np.zeros((0, 2)))


@pytest.mark.parametrize("y", [[2.0, 0.5], [-0.1, 1.0], [0.0, np.nan]])
def test_bce_rejects_targets_outside_unit_interval(y):
    with pytest.raises(ValueError, match=r"^bce_with_logits_loss: y must hold targets in \[0, 1\]"):
        L.bce_with_logits_loss(np.zeros(2), np.array(y))


@pytest.mark.parametrize("fn", [L.softmax_cross_entropy_loss, L.hinge_loss])
def test_classification_losses_messages(fn):
    name = fn.__name__
    arg = "logits" if fn is L.softmax_cross_entropy_loss else "scores"
    with pytest.raises(ValueError, match=rf"^{name}: {arg} must have shape \(N, K\).*\(3,\)"):
        fn(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match=rf"^{name}: y has 2 labels but the batch has N=3 rows"):
        fn(np.zeros((3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"^{name}: y must be class indices in \[0, 4\)"):
        fn(np.zeros((3, 4)), np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=rf"^{name}: y must hold integer class indices"):
        fn(np.zeros((3, 4)), np.array([0.0, 1.5, 1.0]))
    with pytest.raises(ValueError, match=rf"^{name}: y must be a vector"):
        fn(np.zeros((3, 4)), np.zeros((3, 4), dtype=int))  # one-hot labels
    with pytest.raises(ValueError, match=rf"^{name}: {arg} has an empty batch"):
        fn(np.zeros((0, 4)), np.zeros(0, dtype=int))


@pytest.mark.parametrize("delta", [0.0, -1.0, float("nan"), float("inf"), "big"])
def test_huber_rejects_bad_delta(delta):
    with pytest.raises(ValueError, match="^huber_loss: delta must be"):
        L.huber_loss(np.zeros(2), np.zeros(2), delta=delta)


@pytest.mark.parametrize("margin", [-1.0, float("nan"), None])
def test_hinge_rejects_bad_margin(margin):
    with pytest.raises(ValueError, match="^hinge_loss: margin must be"):
        L.hinge_loss(np.zeros((2, 3)), np.array([0, 1]), margin=margin)
