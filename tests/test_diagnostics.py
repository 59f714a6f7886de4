"""Tests for nnlib.diagnostics: gradient norms per layer, their diagnosis, gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import require_torch

from nnlib.data import load_digits
from nnlib.diagnostics import (
    activation_grad_norms,
    clip_by_norm,
    clip_by_value,
    clip_grad_norm_,
    clip_grad_value_,
    deep_mlp,
    diagnose_gradients,
    grad_norms,
    gradient_growth,
    layer_grad_norms,
)
from nnlib.modules import CrossEntropyLoss, Linear, Parameter, ReLU, Sequential, Sigmoid, Tanh
from strategies import PROPERTY, bounded_arrays


@pytest.fixture(scope="module")
def batch():
    X, y = load_digits()
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)
    return X[:64], y[:64]


# ---------------------------------------------------------------------------------------------
# deep_mlp
# ---------------------------------------------------------------------------------------------


def test_deep_mlp_structure_and_init():
    net = deep_mlp(5, 7, 3, 4, activation="tanh", init="he_normal", rng=np.random.default_rng(0))
    kinds = [type(m) for m in net]
    assert kinds == [Linear, Tanh, Linear, Tanh, Linear, Tanh, Linear]
    assert [m.weight.shape for m in net if isinstance(m, Linear)] == [(5, 7), (7, 7), (7, 7),
                                                                       (7, 4)]
    # the same draws as Linear(init="he_normal") layer by layer
    rng = np.random.default_rng(0)
    ref = [Linear(5, 7, rng=rng, init="he_normal"), Linear(7, 7, rng=rng, init="he_normal")]
    np.testing.assert_array_equal(net[0].weight.data, ref[0].weight.data)
    np.testing.assert_array_equal(net[2].weight.data, ref[1].weight.data)
    assert all(np.all(m.bias.data == 0) for m in net if isinstance(m, Linear))
    big = deep_mlp(50, 400, 1, 2, init=2.0, rng=np.random.default_rng(1))
    assert big[0].weight.data.std() == pytest.approx(2.0, rel=0.02)
    linear = deep_mlp(3, 4, 0, 2, activation="sigmoid", rng=np.random.default_rng(0))
    assert len(linear) == 1 and linear[0].weight.shape == (3, 2)
    assert isinstance(deep_mlp(2, 2, 1, 2, activation="sigmoid", rng=np.random.default_rng(0))[1],
                      Sigmoid)
    f32 = deep_mlp(2, 3, 1, 2, init=0.1, rng=np.random.default_rng(0), dtype=np.float32)
    assert f32[0].weight.dtype == np.float32


def test_deep_mlp_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^deep_mlp: depth must be"):
        deep_mlp(2, 3, -1, 2, rng=rng)
    with pytest.raises(ValueError, match="^deep_mlp: unknown activation 'gelu'"):
        deep_mlp(2, 3, 1, 2, activation="gelu", rng=rng)
    with pytest.raises(ValueError, match="^deep_mlp: init must be"):
        deep_mlp(2, 3, 1, 2, init=[1], rng=rng)
    with pytest.raises(ValueError, match="^deep_mlp: init"):
        deep_mlp(2, 3, 1, 2, init=-1.0, rng=rng)
    with pytest.raises(ValueError, match="^get_initializer: unknown initializer"):
        deep_mlp(2, 3, 1, 2, init="glorot", rng=rng)
    with pytest.raises(ValueError, match="^deep_mlp: rng must be"):
        deep_mlp(2, 3, 1, 2, rng=0)
    with pytest.raises(ValueError, match="^deep_mlp: width must be"):
        deep_mlp(2, 0, 1, 2, rng=rng)


# ---------------------------------------------------------------------------------------------
# Gradient norms
# ---------------------------------------------------------------------------------------------


def _torch_copy(torch, net):
    layers = []
    for m in net:
        if isinstance(m, Linear):
            lin = torch.nn.Linear(*m.weight.shape, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(m.weight.data.T.copy()))
                lin.bias.copy_(torch.from_numpy(m.bias.data.copy()))
            layers.append(lin)
        else:
            layers.append({ReLU: torch.nn.ReLU, Tanh: torch.nn.Tanh,
                           Sigmoid: torch.nn.Sigmoid}[type(m)]())
    return layers


@pytest.mark.parametrize("activation,init", [("tanh", "xavier_normal"), ("relu", 1.0),
                                             ("sigmoid", "he_normal"), ("relu", 0.05)])
def test_norms_match_torch_autograd(batch, activation, init):
    torch = require_torch()
    X, y = batch
    net = deep_mlp(64, 16, 6, 10, activation=activation, init=init, rng=np.random.default_rng(3))
    layers = _torch_copy(torch, net)
    h = torch.from_numpy(X)
    inputs = []
    for layer in layers:
        if isinstance(layer, torch.nn.Linear):
            h.requires_grad_(True) if h.is_leaf else h.retain_grad()
            inputs.append(h)
        h = layer(h)
    torch.nn.functional.cross_entropy(h, torch.from_numpy(y)).backward()
    want_w = [float(layer.weight.grad.norm()) for layer in layers
              if isinstance(layer, torch.nn.Linear)]
    want_h = [float(t.grad.norm()) for t in inputs]
    np.testing.assert_allclose(layer_grad_norms(net, X, y, CrossEntropyLoss()), want_w,
                               rtol=1e-9)
    np.testing.assert_allclose(activation_grad_norms(net, X, y, CrossEntropyLoss()), want_h,
                               rtol=1e-9)


def test_layer_grad_norms_zeroes_stale_gradients_first(batch):
    X, y = batch
    net = deep_mlp(64, 8, 2, 10, rng=np.random.default_rng(0))
    first = layer_grad_norms(net, X, y, CrossEntropyLoss())
    np.testing.assert_array_equal(layer_grad_norms(net, X, y, CrossEntropyLoss()), first)
    names = grad_norms(net)
    assert list(names) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    np.testing.assert_allclose([names["0.weight"], names["2.weight"], names["4.weight"]], first)


def test_norm_errors(batch):
    X, y = batch
    with pytest.raises(ValueError, match="^layer_grad_norms: the model has no Linear layer"):
        layer_grad_norms(Sequential(ReLU()), X, y, CrossEntropyLoss())
    with pytest.raises(ValueError, match="^grad_norms: model must be"):
        grad_norms([Parameter(np.ones(2))])
    with pytest.raises(ValueError, match="^activation_grad_norms: model must be a Sequential"):
        activation_grad_norms(Linear(64, 10, rng=np.random.default_rng(0)), X, y,
                              CrossEntropyLoss())


# ---------------------------------------------------------------------------------------------
# Diagnosis
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norms,threshold,label", [
    ([1e-6, 1e-3, 1.0], 100.0, "vanishing"),
    ([1e4, 1e2, 1.0], 100.0, "exploding"),
    ([0.5, 2.0, 1.0], 100.0, "healthy"),
    ([1.0, 1e-9, 1.0], 100.0, "healthy"),      # first versus last, not min versus max
    ([100.0, 1.0], 100.0, "healthy"),          # boundaries are healthy
    ([0.01, 1.0], 100.0, "healthy"),
    ([0.05, 1.0], 10.0, "vanishing"),
    ([20.0, 1.0], 10.0, "exploding"),
    ([np.nan, 1.0], 100.0, "exploding"),
    ([1.0, np.inf, 1.0], 100.0, "exploding"),
    ([0.0, 0.0], 100.0, "vanishing"),
    ([0.0, 1.0], 100.0, "vanishing"),
    ([1.0, 0.0], 100.0, "exploding"),
    ([1e300, 1e299], 100.0, "healthy"),        # no overflow in threshold * last
    ([1e-300, 1e-299], 100.0, "healthy"),
])
def test_diagnose_gradients(norms, threshold, label):
    assert diagnose_gradients(np.array(norms), threshold) == label


def test_diagnosis_of_real_networks(batch):
    X, y = batch
    cases = {("sigmoid", "xavier_normal"): "vanishing", ("relu", "he_normal"): "healthy",
             ("relu", 1.0): "exploding", ("tanh", 0.01): "vanishing"}
    for (activation, init), label in cases.items():
        net = deep_mlp(64, 64, 10, 10, activation=activation, init=init,
                       rng=np.random.default_rng(0))
        signal = activation_grad_norms(net, X, y, CrossEntropyLoss())
        assert diagnose_gradients(signal) == label, (activation, init)
    # the weight gradients of a ReLU network hide the explosion
    net = deep_mlp(64, 64, 10, 10, activation="relu", init=1.0, rng=np.random.default_rng(0))
    assert diagnose_gradients(layer_grad_norms(net, X, y, CrossEntropyLoss())) == "healthy"


def test_gradient_growth():
    assert gradient_growth(np.array([1e-4, 1e-2, 1.0])) == pytest.approx(0.01)
    assert gradient_growth([8.0, 1.0, 1.0, 1.0]) == pytest.approx(2.0)
    assert gradient_growth([0.0, 1.0]) == 0.0
    assert gradient_growth([1.0, 0.0]) == math.inf
    assert math.isnan(gradient_growth([0.0, 0.0]))
    with pytest.raises(ValueError, match="^gradient_growth: norms must have shape"):
        gradient_growth([1.0])


def test_diagnose_errors():
    with pytest.raises(ValueError, match="^diagnose_gradients: norms must have shape"):
        diagnose_gradients(np.ones((2, 2)))
    with pytest.raises(ValueError, match="^diagnose_gradients: threshold must be >= 1"):
        diagnose_gradients(np.ones(3), 0.5)
    with pytest.raises(ValueError, match="^diagnose_gradients: threshold must be > 0"):
        diagnose_gradients(np.ones(3), -1.0)
    with pytest.raises(ValueError, match="^diagnose_gradients: norms cannot be negative"):
        diagnose_gradients(np.array([1.0, -1.0]))


# ---------------------------------------------------------------------------------------------
# Clipping
# ---------------------------------------------------------------------------------------------


def _grads(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) * scale for s in [(3, 4), (4,), (4, 2), (2,)]]


def _torch_params(torch, grads):
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64))
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = require_torch()
    grads = _grads(0, scale=2.0)
    tparams = _torch_params(torch, grads)
    want_total = float(torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type))
    params = [Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(want_total, rel=1e-12)
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=0)


def test_clip_grad_norm_nonfinite_like_torch():
    torch = require_torch()
    grads = _grads(1)
    grads[1][0] = np.inf
    tparams = _torch_params(torch, grads)
    torch.nn.utils.clip_grad_norm_(tparams, 1.0)
    params = [Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    assert clip_grad_norm_(params, 1.0) == math.inf
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    with pytest.raises(RuntimeError, match="^clip_grad_norm_: the total norm"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch = require_torch()
    grads = _grads(2)
    tparams = _torch_params(torch, grads)
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    params = [Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    assert clip_grad_value_(params, clip_value) is None
    for p, tp in zip(params, tparams, strict=True):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())


def test_array_versions_match_torch_and_leave_inputs_alone():
    torch = require_torch()
    for seed, max_norm in [(3, 0.5), (4, 1e3), (5, 1e-7)]:
        grads = _grads(seed, scale=1e-7 if max_norm < 1e-3 else 1.0)
        before = [g.copy() for g in grads]
        tparams = _torch_params(torch, grads)
        want_total = float(torch.nn.utils.clip_grad_norm_(tparams, max_norm))
        clipped, total = clip_by_norm(grads, max_norm)
        assert total == pytest.approx(want_total, rel=1e-12)
        for g, tp in zip(clipped, tparams, strict=True):
            np.testing.assert_allclose(g, tp.grad.numpy(), rtol=1e-12, atol=0)
        for g, b in zip(grads, before, strict=True):
            np.testing.assert_array_equal(g, b)
        assert all(c is not g for c, g in zip(clipped, grads, strict=True))
        tparams = _torch_params(torch, grads)
        torch.nn.utils.clip_grad_value_(tparams, 0.5)
        for g, tp in zip(clip_by_value(grads, 0.5), tparams, strict=True):
            np.testing.assert_array_equal(g, tp.grad.numpy())


def test_clip_float32_stays_float32():
    grads = [np.ones(3, dtype=np.float32) * 10]
    clipped, _ = clip_by_norm(grads, 1.0)
    assert clipped[0].dtype == np.float32
    p = Parameter(np.zeros(3, dtype=np.float32))
    p.grad = grads[0].copy()
    clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == np.float32
    assert np.linalg.norm(p.grad) == pytest.approx(1.0, rel=1e-5)


@PROPERTY
@given(st.lists(bounded_arrays(max_dims=2), min_size=1, max_size=4),
       st.floats(1e-3, 1e3))
def test_clip_by_norm_properties(grads, max_norm):
    grads = [g.astype(np.float64) for g in grads]
    clipped, total = clip_by_norm(grads, max_norm)
    flat = np.concatenate([g.ravel() for g in grads])
    assert total == pytest.approx(float(np.linalg.norm(flat)), rel=1e-9, abs=1e-300)
    new_norm = np.linalg.norm(np.concatenate([c.ravel() for c in clipped]))
    assert new_norm <= max_norm * (1 + 1e-9) or new_norm == pytest.approx(total)
    if max_norm / (total + 1e-6) < 1:   # clipped: same direction, shorter
        s = max_norm / (total + 1e-6)
        for c, g in zip(clipped, grads, strict=True):
            np.testing.assert_allclose(c, g * s, rtol=1e-12, atol=1e-300)
    else:                          # untouched
        for c, g in zip(clipped, grads, strict=True):
            np.testing.assert_array_equal(c, g)


@PROPERTY
@given(st.lists(bounded_arrays(max_dims=2), min_size=1, max_size=4), st.floats(1e-3, 1e3))
def test_clip_by_value_properties(grads, clip_value):
    clipped = clip_by_value(grads, clip_value)
    for c, g in zip(clipped, grads, strict=True):
        assert c.shape == g.shape and np.all(np.abs(c) <= clip_value)
        inside = np.abs(g) <= clip_value
        np.testing.assert_array_equal(c[inside], g[inside])
        np.testing.assert_array_equal(np.sign(c[~inside]), np.sign(g[~inside]))


def test_clip_errors():
    with pytest.raises(ValueError, match="^clip_by_norm: max_norm must be >= 0"):
        clip_by_norm([np.ones(2)], -1.0)
    with pytest.raises(ValueError, match="^clip_by_value: clip_value must be >= 0"):
        clip_by_value([np.ones(2)], -1.0)
    with pytest.raises(ValueError, match="^clip_by_norm: grads must be a list of arrays"):
        clip_by_norm(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="^clip_by_value: grads\\[1\\] must be numeric"):
        clip_by_value([np.ones(2), "a"], 1.0)
    with pytest.raises(ValueError, match="^clip_grad_norm_: pass model.parameters()"):
        clip_grad_norm_(Sequential(ReLU()), 1.0)
    with pytest.raises(ValueError, match="^clip_grad_norm_: parameters\\[0\\] is a ndarray"):
        clip_grad_norm_([np.ones(2)], 1.0)
    with pytest.raises(ValueError, match="^clip_grad_norm_: norm_type must be"):
        clip_grad_norm_([Parameter(np.ones(2))], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="^clip_grad_value_: clip_value must be >= 0"):
        clip_grad_value_(Parameter(np.ones(2)), -0.1)
    assert clip_by_norm([], 1.0) == ([], 0.0)
