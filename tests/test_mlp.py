"""Tests for nnlib.mlp: the MLP forward pass, its caches, init_mlp and activation statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlib import init as I
from nnlib.activations import relu, sigmoid, tanh
from nnlib.mlp import (
    ACTIVATIONS,
    activation_statistics,
    hidden_activations,
    init_mlp,
    mlp_forward,
)
from nnlib.modules import Linear, ReLU, Sequential, Sigmoid, Tanh

VALUES = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid,
          "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z)}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_params(rng, sizes):
    return [(rng.normal(size=(a, b)), rng.normal(size=b)) for a, b in
            zip(sizes[:-1], sizes[1:], strict=True)]


# --------------------------------------------------------------------------------------------
# mlp_forward
# --------------------------------------------------------------------------------------------


def test_hand_computed_two_layer_network():
    X = np.array([[1.0, -1.0]])
    W1 = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 1.0]])  # (2, 3)
    b1 = np.array([0.0, -2.0, 0.5])
    W2 = np.array([[1.0], [1.0], [1.0]])  # (3, 1)
    b2 = np.array([0.25])
    # z1 = [1, -1, -1.5], relu -> [1, 0, 0], scores = 1 + 0.25
    scores, caches = mlp_forward(X, [(W1, b1), (W2, b2)])
    np.testing.assert_array_equal(scores, [[1.25]])
    assert len(caches) == 2
    np.testing.assert_array_equal(hidden_activations(caches)[0], [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("sizes", [(4, 3), (4, 6, 3), (5, 7, 1, 6, 2)])
def test_matches_a_plain_loop(rng, activation, sizes):
    X = rng.normal(size=(9, sizes[0]))
    params = random_params(rng, sizes)
    h = X
    expected_hidden = []
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = VALUES[activation](h)
            expected_hidden.append(h)
    scores, caches = mlp_forward(X, params, activation)
    np.testing.assert_allclose(scores, h, rtol=1e-12)
    assert scores.shape == (9, sizes[-1])
    got_hidden = hidden_activations(caches)
    assert len(got_hidden) == len(sizes) - 2
    for g, e in zip(got_hidden, expected_hidden, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12)


def test_cache_structure(rng):
    X = rng.normal(size=(5, 4))
    params = random_params(rng, (4, 6, 3))
    scores, caches = mlp_forward(X, params, "tanh")
    (lin1, act1), (lin2, act2) = caches
    assert lin1[0] is X or np.array_equal(lin1[0], X)
    assert lin1[1] is params[0][0] and lin1[2] is params[0][1]
    assert lin2[1] is params[1][0]
    np.testing.assert_array_equal(act1, np.tanh(X @ params[0][0] + params[0][1]))  # tanh: out
    assert act2 is None
    # relu's cache is its input z, leaky_relu's is (z, slope): what the backward passes need
    _, caches = mlp_forward(X, params, "relu")
    np.testing.assert_array_equal(caches[0][1], X @ params[0][0] + params[0][1])
    _, caches = mlp_forward(X, params, "leaky_relu")
    assert caches[0][1][1] == 0.01


def test_single_layer_is_linear_and_batch_of_one(rng):
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    x = rng.normal(size=(1, 3))
    for act in ACTIVATIONS:
        scores, caches = mlp_forward(x, [(W, b)], act)
        np.testing.assert_allclose(scores, x @ W + b)
        assert hidden_activations(caches) == []
        assert caches[0][1] is None


def test_extreme_inputs_stay_finite(rng):
    X = rng.normal(size=(4, 5)) * 1e3
    params = random_params(rng, (5, 8, 8, 3))
    for act in ACTIVATIONS:
        scores, _ = mlp_forward(X, params, act)
        assert np.all(np.isfinite(scores))


def test_does_not_modify_inputs(rng):
    X = rng.normal(size=(4, 5))
    params = random_params(rng, (5, 6, 2))
    X0, P0 = X.copy(), [(W.copy(), b.copy()) for W, b in params]
    mlp_forward(X, params, "relu")
    np.testing.assert_array_equal(X, X0)
    for (W, b), (W0, b0) in zip(params, P0, strict=True):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("act, module", [("relu", ReLU), ("tanh", Tanh), ("sigmoid", Sigmoid)])
def test_agrees_with_sequential(rng, act, module):
    net = Sequential(Linear(4, 6, rng=rng), module(), Linear(6, 5, rng=rng), module(),
                     Linear(5, 3, rng=rng))
    linears = [m for m in net if isinstance(m, Linear)]
    params = [(m.weight.data, m.bias.data) for m in linears]
    X = rng.normal(size=(7, 4))
    scores, _ = mlp_forward(X, params, act)
    np.testing.assert_allclose(scores, net(X), rtol=1e-12)


def test_float32_stays_float32(rng):
    X = rng.normal(size=(3, 4)).astype(np.float32)
    params = [(W.astype(np.float32), b.astype(np.float32))
              for W, b in random_params(rng, (4, 5, 2))]
    scores, _ = mlp_forward(X, params)
    assert scores.dtype == np.float32


def test_bias_none_is_allowed(rng):
    X = rng.normal(size=(3, 4))
    W = rng.normal(size=(4, 2))
    scores, _ = mlp_forward(X, [(W, None)])
    np.testing.assert_allclose(scores, X @ W)


def test_errors(rng):
    X = rng.normal(size=(3, 4))
    params = random_params(rng, (4, 5, 2))
    with pytest.raises(ValueError, match=r"^mlp_forward: unknown activation 'softmax'; valid"):
        mlp_forward(X, params, "softmax")
    with pytest.raises(ValueError, match=r"^mlp_forward: params is empty"):
        mlp_forward(X, [])
    with pytest.raises(ValueError, match=r"^mlp_forward: params\[1\] must be a \(W, b\) pair"):
        mlp_forward(X, [params[0], params[1][0]])
    with pytest.raises(ValueError, match=r"^mlp_forward: X has 4 features but params\[0\]"):
        mlp_forward(X, random_params(rng, (3, 2)))
    with pytest.raises(ValueError, match=r"^mlp_forward: layer 1 outputs 5 features but params"):
        mlp_forward(X, [params[0], (rng.normal(size=(6, 2)), np.zeros(2))])
    with pytest.raises(ValueError, match=r"^mlp_forward: params must be a list"):
        mlp_forward(X, 3)


# --------------------------------------------------------------------------------------------
# init_mlp
# --------------------------------------------------------------------------------------------


def test_init_mlp_shapes_zero_biases_and_reproducible():
    params = init_mlp([6, 5, 4, 3], rng=np.random.default_rng(1))
    assert [(W.shape, b.shape) for W, b in params] == [((6, 5), (5,)), ((5, 4), (4,)),
                                                      ((4, 3), (3,))]
    assert all(np.all(b == 0) for _, b in params)
    again = init_mlp([6, 5, 4, 3], rng=np.random.default_rng(1))
    for (W, _), (W2, _) in zip(params, again, strict=True):
        np.testing.assert_array_equal(W, W2)


def test_init_mlp_draws_layer_by_layer_with_the_named_initializer():
    rng = np.random.default_rng(7)
    expected = [I.xavier_uniform((6, 5), rng=rng), I.xavier_uniform((5, 2), rng=rng)]
    params = init_mlp([6, 5, 2], rng=np.random.default_rng(7), init="xavier_uniform")
    for (W, _), E in zip(params, expected, strict=True):
        np.testing.assert_array_equal(W, E)


def test_init_mlp_accepts_a_function_and_dtype():
    def small(shape, *, rng):
        return 0.01 * rng.normal(size=shape)

    params = init_mlp([300, 200], rng=np.random.default_rng(0), init=small, dtype=np.float32)
    W, b = params[0]
    assert W.dtype == b.dtype == np.float32
    assert W.std() == pytest.approx(0.01, rel=0.02)


def test_init_mlp_errors():
    with pytest.raises(ValueError, match=r"^init_mlp: rng must be"):
        init_mlp([3, 2], rng=0)
    with pytest.raises(ValueError, match=r"^init_mlp: layer_sizes needs"):
        init_mlp([3], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^init_mlp: layer_sizes entries must be a positive"):
        init_mlp([3, 0], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^get_initializer: unknown initializer"):
        init_mlp([3, 2], rng=np.random.default_rng(0), init="glorot")


# --------------------------------------------------------------------------------------------
# The point of the lesson: activation statistics through depth
# --------------------------------------------------------------------------------------------


def stds_through_depth(init, activation, depth=12, width=256, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, width))
    params = init_mlp([width] * (depth + 1) + [10], rng=rng, init=init)
    _, caches = mlp_forward(X, params, activation)
    return activation_statistics(hidden_activations(caches))


def test_he_keeps_relu_activations_alive_and_xavier_lets_them_shrink():
    he = stds_through_depth("he_normal", "relu")["std"]
    xavier = stds_through_depth("xavier_normal", "relu")["std"]
    assert he[-1] / he[0] == pytest.approx(1, abs=0.5)
    # each ReLU layer with Xavier halves the second moment: about 2**(-11/2) after 12 layers
    assert xavier[-1] / xavier[0] < 0.1


def test_small_weights_vanish_and_large_weights_saturate_tanh():
    stats = stds_through_depth(lambda s, rng: 0.01 * rng.normal(size=s), "tanh")
    assert stats["std"][-1] < 1e-8
    stats = stds_through_depth(lambda s, rng: rng.normal(size=s), "tanh")
    assert np.all(stats["saturated_fraction"] > 0.8)
    stats = stds_through_depth("xavier_uniform", "tanh")
    assert stats["std"][-1] > 0.1


def test_zero_init_makes_every_hidden_unit_zero():
    stats = stds_through_depth("zeros", "relu", depth=3)
    np.testing.assert_array_equal(stats["zero_fraction"], [1, 1, 1])
    np.testing.assert_array_equal(stats["std"], [0, 0, 0])


def test_activation_statistics_values():
    stats = activation_statistics([np.array([0.0, 2.0, -2.0, 0.0]), np.array([[1.0, -0.995]])])
    np.testing.assert_allclose(stats["mean"], [0.0, 0.0025])
    np.testing.assert_allclose(stats["std"], [math.sqrt(2), 0.9975])
    np.testing.assert_allclose(stats["zero_fraction"], [0.5, 0.0])
    np.testing.assert_allclose(stats["saturated_fraction"], [0.5, 1.0])
    with pytest.raises(ValueError, match=r"^activation_statistics: activations\[0\] is empty"):
        activation_statistics([np.array([])])
