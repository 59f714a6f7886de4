"""Tests for nnlib.gradcheck: the numerical gradients and the checks built on them."""

from __future__ import annotations

import numpy as np
import pytest

from nnlib.gradcheck import (
    assert_gradients_close,
    check_gradients,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
)

# --------------------------------------------------------------------------------------------
# numerical_gradient
# --------------------------------------------------------------------------------------------


def test_numerical_gradient_of_known_functions():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), x), 2 * x, atol=1e-9)
    # f = x0 * x1^3: df/dx0 = x1^3, df/dx1 = 3 x0 x1^2.
    y = np.array([2.0, -1.5])
    np.testing.assert_allclose(
        numerical_gradient(lambda v: v[0] * v[1] ** 3, y), [-3.375, 13.5], rtol=1e-9
    )


def test_numerical_gradient_is_central_difference():
    # For f = exp, (e^{x+h} - e^{x-h}) / 2h = e^x sinh(h)/h: the one-sided form would differ by
    # about h/2 relative, which this tolerance rejects.
    x, h = np.array([0.3]), 1e-3
    expected = np.exp(0.3) * np.sinh(h) / h
    np.testing.assert_allclose(numerical_gradient(lambda v: np.exp(v[0]), x, h=h), [expected],
                               rtol=1e-10)


def test_numerical_gradient_shapes_and_dtype():
    for shape in [(), (1,), (2, 3, 4)]:
        x = np.ones(shape)
        g = numerical_gradient(lambda v: np.sum(3 * v), x)
        assert g.shape == shape and g.dtype == np.float64
        np.testing.assert_allclose(g, np.full(shape, 3.0), rtol=1e-9)


def test_numerical_gradient_restores_x_exactly():
    # 0.1 + 1e-5 - 1e-5 != 0.1 in floating point: restoring must not undo the step by arithmetic.
    x = np.array([0.1, 1 / 3, -7.77, 1e-300, -0.0])
    x0 = x.copy()
    numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    assert x.tobytes() == x0.tobytes()
    # Also when f raises in the middle of a perturbation.
    calls = []

    def flaky(v):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(flaky, x)
    assert x.tobytes() == x0.tobytes()


def test_numerical_gradient_perturbs_in_place_through_views():
    # f closes over the same array (how check_gradients and CS231n use it).
    base = np.arange(6.0).reshape(2, 3)
    view = base[:, 1]
    g = numerical_gradient(lambda _: float(base.sum() ** 2), view)
    np.testing.assert_allclose(g, np.full(2, 2 * 15.0), rtol=1e-8)


def test_numerical_gradient_messages():
    with pytest.raises(ValueError, match="^numerical_gradient: f must return a scalar"):
        numerical_gradient(lambda v: v * 2, np.ones(3))
    with pytest.raises(ValueError, match="^numerical_gradient: x must be a floating-point ndarray"):
        numerical_gradient(lambda v: v.sum(), np.ones(3, dtype=int))
    with pytest.raises(ValueError, match="^numerical_gradient: x must be a floating-point ndarray"):
        numerical_gradient(lambda v: sum(v), [1.0, 2.0])
    with pytest.raises(ValueError, match="^numerical_gradient: h must be > 0"):
        numerical_gradient(lambda v: v.sum(), np.ones(3), h=0.0)
    read_only = np.ones(3)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="^numerical_gradient: x must be writeable"):
        numerical_gradient(lambda v: v.sum(), read_only)


# --------------------------------------------------------------------------------------------
# numerical_gradient_array
# --------------------------------------------------------------------------------------------


def test_numerical_gradient_array_of_matrix_product():
    rng = np.random.default_rng(0)
    x, W = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    dout = rng.normal(size=(3, 2))
    np.testing.assert_allclose(numerical_gradient_array(lambda v: v @ W, x, dout), dout @ W.T,
                               rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient_array(lambda v: x @ v, W, dout), x.T @ dout,
                               rtol=1e-8)


def test_numerical_gradient_array_when_f_returns_x_itself():
    # f may return a view of x; the two evaluations must not alias each other.
    rng = np.random.default_rng(1)
    x, dout = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    np.testing.assert_allclose(numerical_gradient_array(lambda v: v, x, dout), dout, rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient_array(lambda v: v[::-1], x, dout), dout[::-1],
                               rtol=1e-8)


def test_numerical_gradient_array_restores_and_checks_shapes():
    x = np.array([0.1, 1 / 3])
    x0 = x.copy()
    numerical_gradient_array(np.tanh, x, np.ones(2))
    assert x.tobytes() == x0.tobytes()
    msg = r"^numerical_gradient_array: f\(x\) has shape \(2,\) but dout has shape \(3,\)"
    with pytest.raises(ValueError, match=msg):
        numerical_gradient_array(np.tanh, x, np.ones(3))


# --------------------------------------------------------------------------------------------
# rel_error
# --------------------------------------------------------------------------------------------


def test_rel_error_hand_values():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    # Elementwise, then the max: the small entry's 1e-3 / 3e-3 = 1/3 wins, although the
    # global form max|a-b| / max(|a|+|b|) = 0.5 / 200.5 would call these arrays close.
    assert rel_error([1e-3, 100.0], [2e-3, 100.5]) == pytest.approx(1 / 3)
    assert rel_error(np.array([[4.0]]), np.array([[-4.0]])) == 1.0
    assert rel_error(2.0, 1.0) == pytest.approx(1 / 3)


def test_rel_error_zeros_floor_and_nan():
    assert rel_error(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
    # Entries far below the 1e-8 floor count as absolute differences.
    assert rel_error([1e-14], [0.0]) == pytest.approx(1e-6)
    assert rel_error([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert np.isnan(rel_error([1.0, np.nan], [1.0, 1.0]))
    assert np.isnan(rel_error([np.inf], [np.inf]))


def test_rel_error_is_symmetric_and_returns_float():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=5), rng.normal(size=5)
    assert rel_error(a, b) == rel_error(b, a)
    assert type(rel_error(a, b)) is float


def test_rel_error_shape_mismatch():
    with pytest.raises(ValueError, match=r"^rel_error: a and b must have the same shape, got "
                                         r"\(3,\) and \(3, 1\)"):
        rel_error(np.zeros(3), np.zeros((3, 1)))


# --------------------------------------------------------------------------------------------
# check_gradients / assert_gradients_close
# --------------------------------------------------------------------------------------------


def affine_forward(x, W):
    return x @ W, (x, W)


def affine_backward(dout, cache):
    x, W = cache
    return dout @ W.T, x.T @ dout


def square_forward(x):
    return x**2, x


def square_backward(dout, x):
    return 2 * x * dout


def test_check_gradients_passes_correct_pairs():
    rng = np.random.default_rng(3)
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    errors = check_gradients(affine_forward, affine_backward, [x, W], rng=rng)
    assert len(errors) == 2 and max(errors) < 1e-6
    assert all(type(e) is float for e in errors)
    # A single array (not in a list) and a backward returning one gradient.
    [err] = check_gradients(square_forward, square_backward, rng.normal(size=(2, 3)), rng=rng)
    assert err < 1e-6


def test_check_gradients_catches_wrong_backward():
    rng = np.random.default_rng(4)
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))

    def wrong_dW(dout, cache):  # forgot nothing for dx, transposed product for dW
        dx, dW = affine_backward(dout, cache)
        return dx, -dW

    errors = check_gradients(affine_forward, wrong_dW, [x, W], rng=rng)
    assert errors[0] < 1e-6 and errors[1] > 0.5


def test_check_gradients_uses_random_dout():
    # A backward that ignores dout is right only for dout = 1: a random dout must expose it.
    rng = np.random.default_rng(5)
    [err] = check_gradients(square_forward, lambda dout, x: 2 * x, rng.normal(size=4), rng=rng)
    assert err > 1e-2


def test_check_gradients_is_deterministic_given_rng():
    x = np.random.default_rng(6).normal(size=(3, 2))
    a = check_gradients(square_forward, square_backward, x, rng=np.random.default_rng(7))
    b = check_gradients(square_forward, square_backward, x, rng=np.random.default_rng(7))
    assert a == b


def test_check_gradients_leaves_inputs_alone_and_works_in_float64():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    W = rng.normal(size=(4, 2)).astype(np.float32)
    x0, W0 = x.copy(), W.copy()
    seen = []

    def forward(x_, W_):
        seen.append((x_.dtype, W_.dtype))
        return affine_forward(x_, W_)

    errors = check_gradients(forward, affine_backward, [x, W], rng=rng)
    assert max(errors) < 1e-6  # float64 inside, so float32 inputs still check tightly
    assert set(seen) == {(np.dtype(np.float64), np.dtype(np.float64))}
    assert x.tobytes() == x0.tobytes() and W.tobytes() == W0.tobytes()


def test_check_gradients_accepts_lists_of_numbers():
    [err] = check_gradients(square_forward, square_backward, [[1.0, -2.0, 3.0]],
                            rng=np.random.default_rng(9))
    assert err < 1e-6


def test_tol_raises_readable_assertion():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, 3))

    def off_by_half(dout, x_):
        g = square_backward(dout, x_)
        g[1, 2] *= 0.5
        return g

    with pytest.raises(AssertionError) as info:
        check_gradients(square_forward, off_by_half, [x], rng=rng, tol=1e-6, names=["x"])
    msg = str(info.value)
    assert "input 0 (x)" in msg and "(2, 3)" in msg and "index (1, 2)" in msg and "1e-06" in msg
    with pytest.raises(AssertionError, match=r"input 0 of shape \(2, 3\): rel error"):
        assert_gradients_close(square_forward, off_by_half, [x], rng=rng)
    assert assert_gradients_close(square_forward, square_backward, [x], rng=rng)[0] < 1e-6


def test_nan_gradient_fails_the_tolerance():
    with pytest.raises(AssertionError, match="rel error nan"):
        assert_gradients_close(square_forward, lambda dout, x: np.full(x.shape, np.nan),
                               [np.ones(3)], rng=np.random.default_rng(11))


def test_check_gradients_messages():
    rng = np.random.default_rng(12)
    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    with pytest.raises(ValueError, match="^check_gradients: backward returned 1 gradients for 2"):
        check_gradients(affine_forward, lambda d, c: affine_backward(d, c)[0], [x, W], rng=rng)
    with pytest.raises(ValueError, match=r"^check_gradients: the gradient of input 1 \(W\) has "
                                         r"shape \(5, 3\) but the input has shape \(3, 5\)"):
        check_gradients(affine_forward,
                        lambda d, c: (affine_backward(d, c)[0], affine_backward(d, c)[1].T),
                        [x, W], rng=rng, names=["x", "W"])
    with pytest.raises(ValueError, match="^check_gradients: backward returned None"):
        check_gradients(affine_forward, lambda d, c: (affine_backward(d, c)[0], None), [x, W],
                        rng=rng)
    with pytest.raises(ValueError, match="^check_gradients: rng must be a numpy.random.Generator"):
        check_gradients(square_forward, square_backward, [x], rng=0)
    with pytest.raises(ValueError, match="^check_gradients: inputs must hold at least one"):
        check_gradients(square_forward, square_backward, [], rng=rng)
    with pytest.raises(ValueError, match="^check_gradients: got 1 names for 2 inputs"):
        check_gradients(affine_forward, affine_backward, [x, W], rng=rng, names=["x"])
