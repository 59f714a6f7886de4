"""Tests for nnlib.backprop: hand-written backprop through a two-layer MLP, and the SGD step.

The gradients are checked twice: against central differences (float64), and against an nnlib
Sequential(Linear, ReLU, Linear) with CrossEntropyLoss holding the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlib.backprop import (
    PARAM_NAMES,
    init_two_layer,
    sgd_step,
    train_two_layer,
    two_layer_loss_and_grads,
    two_layer_scores,
)
from nnlib.data import make_spirals
from nnlib.gradcheck import numerical_gradient, rel_error
from nnlib.modules import CrossEntropyLoss, Linear, ReLU, Sequential

GRAD_TOL = 1e-6


def random_problem(rng, N=7, D=4, H=5, K=3, dtype=np.float64):
    X = rng.normal(size=(N, D)).astype(dtype)
    y = rng.integers(0, K, size=N)
    params = {
        "W1": rng.normal(size=(D, H)).astype(dtype),
        "b1": rng.normal(size=H).astype(dtype) * 0.1,
        "W2": rng.normal(size=(H, K)).astype(dtype),
        "b2": rng.normal(size=K).astype(dtype) * 0.1,
    }
    return X, y, params


def sequential_with(params):
    D, H = params["W1"].shape
    K = params["W2"].shape[1]
    rng = np.random.default_rng(0)
    net = Sequential(Linear(D, H, rng=rng), ReLU(), Linear(H, K, rng=rng))
    net.load_state_dict({"0.weight": params["W1"], "0.bias": params["b1"],
                         "2.weight": params["W2"], "2.bias": params["b2"]})
    return net


# --------------------------------------------------------------------------------------------
# two_layer_loss_and_grads
# --------------------------------------------------------------------------------------------


def test_grads_have_the_keys_shapes_and_dtype_of_the_params():
    X, y, params = random_problem(np.random.default_rng(0))
    loss, grads = two_layer_loss_and_grads(X, y, params)
    assert isinstance(loss, float)
    assert list(grads) == list(PARAM_NAMES)
    for k in PARAM_NAMES:
        assert grads[k].shape == params[k].shape, k
        assert grads[k].dtype == params[k].dtype, k


@pytest.mark.parametrize("N", [1, 2, 9])
def test_gradients_match_central_differences(N):
    X, y, params = random_problem(np.random.default_rng(N), N=N)
    _, grads = two_layer_loss_and_grads(X, y, params)
    for k in PARAM_NAMES:
        p = {key: v.copy() for key, v in params.items()}

        def f(v, k=k, p=p):
            p[k] = v
            return two_layer_loss_and_grads(X, y, p)[0]

        numeric = numerical_gradient(f, p[k].copy(), h=1e-6)
        assert rel_error(grads[k], numeric) < GRAD_TOL, k


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_an_nnlib_sequential_of_the_same_weights(seed):
    rng = np.random.default_rng(100 + seed)
    X, y, params = random_problem(rng, N=int(rng.integers(1, 12)), D=int(rng.integers(1, 6)),
                                  H=int(rng.integers(1, 9)), K=int(rng.integers(2, 6)))
    loss, grads = two_layer_loss_and_grads(X, y, params)
    net = sequential_with(params)
    criterion = CrossEntropyLoss()
    scores = net(X)
    np.testing.assert_allclose(two_layer_scores(X, params), scores, rtol=1e-13)
    assert loss == pytest.approx(criterion(scores, y), rel=1e-13)
    net.zero_grad()
    net.backward(criterion.backward())
    np.testing.assert_allclose(grads["W1"], net[0].weight.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["b1"], net[0].bias.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["W2"], net[2].weight.grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["b2"], net[2].bias.grad, rtol=1e-12, atol=1e-15)


def test_hand_computed_case():
    # One example, one hidden unit, two classes: everything by hand.
    X = np.array([[2.0]])
    y = np.array([0])
    params = {"W1": np.array([[1.0]]), "b1": np.array([-0.5]),
              "W2": np.array([[1.0, -1.0]]), "b2": np.array([0.0, 0.0])}
    loss, grads = two_layer_loss_and_grads(X, y, params)
    # z1 = 1.5, h = 1.5, scores = (1.5, -1.5); p0 = sigmoid(3)
    p0 = 1 / (1 + np.exp(-3.0))
    assert loss == pytest.approx(-np.log(p0))
    ds = np.array([p0 - 1, 1 - p0])
    np.testing.assert_allclose(grads["b2"], ds)
    np.testing.assert_allclose(grads["W2"], 1.5 * ds[None, :])
    dh = ds @ np.array([1.0, -1.0])
    np.testing.assert_allclose(grads["b1"], [dh])
    np.testing.assert_allclose(grads["W1"], [[2.0 * dh]])


def test_dead_hidden_units_get_zero_gradient():
    X, y, params = random_problem(np.random.default_rng(3))
    params["b1"][0] = -1e6  # unit 0 never fires
    _, grads = two_layer_loss_and_grads(X, y, params)
    assert np.all(grads["W1"][:, 0] == 0) and grads["b1"][0] == 0
    assert np.all(grads["W2"][0] == 0)


def test_stable_for_extreme_scores():
    X, y, params = random_problem(np.random.default_rng(4))
    params["W2"] *= 1e4
    loss, grads = two_layer_loss_and_grads(X, y, params)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_does_not_modify_its_inputs():
    X, y, params = random_problem(np.random.default_rng(5))
    before = {k: v.copy() for k, v in params.items()}
    X0, y0 = X.copy(), y.copy()
    two_layer_loss_and_grads(X, y, params)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(params[k], before[k])
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_float32_gives_float32_gradients():
    X, y, params = random_problem(np.random.default_rng(6), dtype=np.float32)
    _, grads = two_layer_loss_and_grads(X, y, params)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_errors_speak_the_users_language():
    X, y, params = random_problem(np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"missing the keys \['b2'\]"):
        two_layer_loss_and_grads(X, y, {k: v for k, v in params.items() if k != "b2"})
    with pytest.raises(ValueError, match="X has 3 features but W1 expects 4"):
        two_layer_loss_and_grads(X[:, :3], y, params)
    bad = dict(params, W2=params["W2"][:4])
    with pytest.raises(ValueError, match="W2.*has 4 rows but W1 has H=5 hidden units"):
        two_layer_loss_and_grads(X, y, bad)
    with pytest.raises(ValueError, match=r'params\["b1"\] must have shape \(5,\)'):
        two_layer_loss_and_grads(X, y, dict(params, b1=np.zeros(4)))
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        two_layer_loss_and_grads(X, np.full(len(X), 3), params)
    with pytest.raises(ValueError, match="params must be a dict"):
        two_layer_loss_and_grads(X, y, [params["W1"]])


# --------------------------------------------------------------------------------------------
# sgd_step
# --------------------------------------------------------------------------------------------


def test_sgd_step_values_and_purity():
    params = {"W": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    grads = {"W": np.array([[0.5, -1.0]]), "b": np.array([2.0])}
    p0 = {k: v.copy() for k, v in params.items()}
    g0 = {k: v.copy() for k, v in grads.items()}
    new = sgd_step(params, grads, lr=0.1)
    np.testing.assert_allclose(new["W"], [[0.95, 2.1]])
    np.testing.assert_allclose(new["b"], [0.3])
    assert new is not params and list(new) == ["W", "b"]
    for k in params:
        np.testing.assert_array_equal(params[k], p0[k])
        np.testing.assert_array_equal(grads[k], g0[k])
        assert not np.shares_memory(new[k], params[k])


def test_sgd_step_lr_zero_is_identity_and_float32_stays_float32():
    params = {"W": np.ones((2, 2), dtype=np.float32)}
    grads = {"W": np.ones((2, 2), dtype=np.float32)}
    same = sgd_step(params, grads, 0.0)
    np.testing.assert_array_equal(same["W"], params["W"])
    assert sgd_step(params, grads, 0.1)["W"].dtype == np.float32


def test_sgd_step_matches_the_nnlib_sgd_rule():
    from nnlib.optim import sgd

    rng = np.random.default_rng(8)
    w, dw = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_array_equal(sgd_step({"w": w}, {"w": dw}, 0.3)["w"],
                                  sgd(w, dw, None, lr=0.3)[0])


def test_sgd_step_errors():
    params = {"W": np.ones((2, 2))}
    with pytest.raises(ValueError, match=r"grads has no entry for the parameters \['W'\]"):
        sgd_step(params, {}, 0.1)
    with pytest.raises(ValueError, match=r'grads\["W"\] has shape \(2,\)'):
        sgd_step(params, {"W": np.ones(2)}, 0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        sgd_step(params, {"W": np.ones((2, 2))}, -1.0)


# --------------------------------------------------------------------------------------------
# init_two_layer and train_two_layer
# --------------------------------------------------------------------------------------------


def test_init_two_layer_shapes_and_determinism():
    p = init_two_layer(2, 16, 3, rng=np.random.default_rng(0))
    assert {k: v.shape for k, v in p.items()} == {"W1": (2, 16), "b1": (16,), "W2": (16, 3),
                                                  "b2": (3,)}
    q = init_two_layer(2, 16, 3, rng=np.random.default_rng(0))
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(p[k], q[k])
    assert np.all(p["b1"] == 0) and np.all(p["b2"] == 0)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        init_two_layer(2, 3, 4, rng=0)


def test_gradient_descent_learns_the_spirals():
    rng = np.random.default_rng(0)
    X, y = make_spirals(300, rng=rng)
    p0 = init_two_layer(2, 32, 3, rng=rng)
    start = {k: v.copy() for k, v in p0.items()}
    p, losses = train_two_layer(X, y, p0, lr=1.0, num_epochs=300)
    assert len(losses) == 300
    assert losses[-1] < 0.5 * losses[0]
    assert np.mean(np.argmax(two_layer_scores(X, p), axis=1) == y) > 0.9
    for k in PARAM_NAMES:  # the starting parameters are untouched
        np.testing.assert_array_equal(p0[k], start[k])


def test_one_step_of_train_two_layer_is_one_sgd_step():
    X, y, params = random_problem(np.random.default_rng(9))
    p1, losses = train_two_layer(X, y, params, lr=0.5, num_epochs=1)
    loss, grads = two_layer_loss_and_grads(X, y, params)
    assert losses == [loss]
    expected = sgd_step(params, grads, 0.5)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(p1[k], expected[k])


def test_train_two_layer_stops_when_the_loss_diverges():
    X, y, params = random_problem(np.random.default_rng(10))
    _, losses = train_two_layer(X, y, params, lr=1e200, num_epochs=50)
    assert len(losses) < 50 and not np.isfinite(losses[-1])
    with pytest.raises(ValueError, match="num_epochs must be a non-negative integer"):
        train_two_layer(X, y, params, lr=0.1, num_epochs=2.5)
