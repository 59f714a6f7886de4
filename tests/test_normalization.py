"""Tests for nnlib.normalization: batch norm and layer norm, against torch (values, running
statistics over several steps, gradients), central differences, hand cases and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracles import require_torch

from nnlib.gradcheck import check_gradients
from nnlib.normalization import (
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from strategies import PROPERTY


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _bn_params(rng, D):
    return (1 + 0.5 * rng.standard_normal(D), rng.standard_normal(D),
            rng.standard_normal(D), rng.uniform(0.5, 2.0, D))


# ---------------------------------------------------------------------------------------------
# Batch norm: hand cases and properties
# ---------------------------------------------------------------------------------------------


def test_batchnorm_hand_case():
    x = np.array([[1.0, 10.0], [3.0, 10.0]])  # feature 0: mean 2, var 1; feature 1: var 0
    out, cache, rm, rv = batchnorm_forward(
        x, np.array([2.0, 1.0]), np.array([0.5, -1.0]), np.zeros(2), np.ones(2),
        training=True, momentum=0.5, eps=0.0 + 1e-12,
    )
    np.testing.assert_allclose(out[:, 0], [2 * -1 + 0.5, 2 * 1 + 0.5], rtol=1e-9)
    np.testing.assert_allclose(out[:, 1], [-1.0, -1.0])  # a constant feature becomes beta
    np.testing.assert_allclose(rm, [1.0, 5.0])  # 0.5 * 0 + 0.5 * mean
    # unbiased variance of feature 0 is 2 (divide by N - 1 = 1): 0.5 * 1 + 0.5 * 2
    np.testing.assert_allclose(rv, [1.5, 0.5])
    x_hat, gamma, inv_std, training = cache
    assert training is True
    np.testing.assert_allclose(x_hat[:, 0], [-1, 1], rtol=1e-9)
    np.testing.assert_allclose(inv_std[0], 1.0, rtol=1e-9)


def test_batchnorm_eval_uses_running_stats_and_changes_nothing(rng):
    x = rng.standard_normal((1, 3))  # a batch of one is fine in evaluation
    gamma, beta, rm, rv = _bn_params(rng, 3)
    out, cache, rm2, rv2 = batchnorm_forward(x, gamma, beta, rm, rv, training=False, eps=1e-3)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-3) + beta)
    np.testing.assert_array_equal(rm2, rm)
    np.testing.assert_array_equal(rv2, rv)
    assert cache[3] is False


def test_batchnorm_is_pure(rng):
    args = [rng.standard_normal((5, 3)), *_bn_params(rng, 3)]
    before = [a.copy() for a in args]
    for training in (True, False):
        batchnorm_forward(*args, training=training)
    for a, b in zip(args, before, strict=True):
        np.testing.assert_array_equal(a, b)
    out, cache, *_ = batchnorm_forward(*args, training=True)
    dout = rng.standard_normal(out.shape)
    dout0, cache0 = dout.copy(), [np.copy(c) for c in cache[:3]]
    batchnorm_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout0)
    for c, c0 in zip(cache[:3], cache0, strict=True):
        np.testing.assert_array_equal(c, c0)


@PROPERTY
@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(2, 9), st.integers(1, 5)),
                 elements=st.floats(-1e3, 1e3)),
    shift=st.floats(-1e4, 1e4),
)
def test_batchnorm_train_normalises_each_feature(x, shift):
    D = x.shape[1]
    x = x + shift  # a large common offset must not spoil the variance (no E[x^2] - E[x]^2)
    out, (x_hat, *_), _, _ = batchnorm_forward(
        x, np.ones(D), np.zeros(D), np.zeros(D), np.ones(D), training=True
    )
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-6)
    var = np.var(x, axis=0)
    big = var > 1e-2  # well above eps: unit variance after normalisation
    np.testing.assert_allclose(out.var(axis=0)[big], var[big] / (var[big] + 1e-5), rtol=1e-6)


def test_batchnorm_large_offset_is_accurate(rng):
    x = 1e6 + rng.standard_normal((16, 4))
    out, *_ = batchnorm_forward(x, np.ones(4), np.zeros(4), np.zeros(4), np.ones(4),
                                training=True)
    xc = x - x.mean(axis=0)
    expected = xc / np.sqrt((xc ** 2).mean(axis=0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients_match_central_differences(training, rng):
    gamma, beta, rm, rv = _bn_params(rng, 4)
    x = rng.standard_normal((5, 4)) * 3 + 1

    def forward(x, gamma, beta):
        out, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv, training=training,
                                             eps=1e-3)
        return out, cache

    errors = check_gradients(forward, batchnorm_backward, (x, gamma, beta), rng=rng, h=1e-5)
    assert max(errors) < 1e-7, errors


def test_batchnorm_backward_mean_terms_matter(rng):
    """The eval formula applied to a training cache is wrong: the batch stats depend on x."""
    x = rng.standard_normal((6, 3))
    gamma, beta, rm, rv = _bn_params(rng, 3)
    out, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv, training=True)
    dout = rng.standard_normal(out.shape)
    dx, _, _ = batchnorm_backward(dout, cache)
    naive = dout * gamma * cache[2]
    assert not np.allclose(dx, naive)
    np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-12)  # shifting x changes nothing


def test_batchnorm_bad_inputs(rng):
    x = rng.standard_normal((4, 3))
    good = _bn_params(rng, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        batchnorm_forward(x[0], *good, training=True)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\)"):
        batchnorm_forward(x, np.ones(4), *good[1:], training=True)
    with pytest.raises(ValueError, match=r"running_var must have shape \(3,\)"):
        batchnorm_forward(x, *good[:3], np.ones((3, 1)), training=True)
    with pytest.raises(ValueError, match="N >= 2"):
        batchnorm_forward(x[:1], *good, training=True)
    with pytest.raises(ValueError, match="momentum must be in"):
        batchnorm_forward(x, *good, training=True, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be"):
        batchnorm_forward(x, *good, training=True, eps=0.0)
    with pytest.raises(ValueError, match="training must be True or False"):
        batchnorm_forward(x, *good, training="yes")
    _, cache, _, _ = batchnorm_forward(x, *good, training=True)
    with pytest.raises(ValueError, match="dout has shape"):
        batchnorm_backward(np.ones((3, 3)), cache)


# ---------------------------------------------------------------------------------------------
# Batch norm against torch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.1, 0.3, 1.0])
def test_batchnorm_matches_torch_over_several_steps(momentum, rng):
    torch = require_torch()
    D = 4
    bn = torch.nn.BatchNorm1d(D, momentum=momentum, eps=1e-4).double()
    gamma, beta = 1 + rng.standard_normal(D), rng.standard_normal(D)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
    rm, rv = np.zeros(D), np.ones(D)
    for N in (2, 7, 16, 3):
        x = rng.standard_normal((N, D)) * rng.uniform(0.5, 3, D) + rng.standard_normal(D)
        dout = rng.standard_normal((N, D))
        bn.train()
        tx = torch.from_numpy(x).requires_grad_(True)
        tout = bn(tx)
        tout.backward(torch.from_numpy(dout))
        out, cache, rm, rv = batchnorm_forward(x, gamma, beta, rm, rv, training=True,
                                               momentum=momentum, eps=1e-4)
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-12)
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(dgamma, bn.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(dbeta, bn.bias.grad.numpy(), rtol=1e-10)
        bn.weight.grad = None
        bn.bias.grad = None

    bn.eval()
    for N in (1, 5):
        x = rng.standard_normal((N, D))
        dout = rng.standard_normal((N, D))
        tx = torch.from_numpy(x).requires_grad_(True)
        tout = bn(tx)
        tout.backward(torch.from_numpy(dout))
        out, cache, rm2, rv2 = batchnorm_forward(x, gamma, beta, rm, rv, training=False,
                                                 momentum=momentum, eps=1e-4)
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(rm2, rm)
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dgamma, bn.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(dbeta, bn.bias.grad.numpy(), rtol=1e-10)
        bn.weight.grad = None
        bn.bias.grad = None


# ---------------------------------------------------------------------------------------------
# Layer norm
# ---------------------------------------------------------------------------------------------


def test_layernorm_hand_case():
    x = np.array([[1.0, 3.0], [5.0, 5.0]])  # row 0: mean 2, var 1; row 1: var 0
    out, (x_hat, gamma, inv_std) = layernorm_forward(x, np.array([2.0, 1.0]),
                                                     np.array([0.5, -1.0]), eps=1e-12)
    np.testing.assert_allclose(out[0], [2 * -1 + 0.5, 1 * 1 - 1.0], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out[1], [0.5, -1.0])
    assert inv_std.shape == (2, 1)
    np.testing.assert_allclose(x_hat[0], [-1, 1], rtol=1e-9)


@PROPERTY
@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 7)),
                 elements=st.floats(-1e3, 1e3)),
    shift=st.floats(-1e4, 1e4),
)
def test_layernorm_normalises_each_example_and_ignores_the_batch(x, shift):
    D = x.shape[1]
    x = x + shift
    out, _ = layernorm_forward(x, np.ones(D), np.zeros(D))
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-6)
    # each row alone gives the same result: no dependence between examples
    for i in range(x.shape[0]):
        np.testing.assert_allclose(layernorm_forward(x[i:i + 1], np.ones(D), np.zeros(D))[0],
                                   out[i:i + 1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 4), (1, 3), (2, 3, 4)])
def test_layernorm_gradients_match_central_differences(shape, rng):
    D = shape[-1]
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = 1 + 0.5 * rng.standard_normal(D), rng.standard_normal(D)
    errors = check_gradients(lambda x, g, b: layernorm_forward(x, g, b, eps=1e-3),
                             layernorm_backward, (x, gamma, beta), rng=rng, h=1e-5)
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("shape", [(6, 5), (1, 4), (3, 2, 5)])
def test_layernorm_matches_torch(shape, rng):
    torch = require_torch()
    D = shape[-1]
    x = rng.standard_normal(shape) * 3 + 2
    gamma, beta = 1 + rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal(shape)
    ln = torch.nn.LayerNorm(D, eps=1e-4).double()
    with torch.no_grad():
        ln.weight.copy_(torch.from_numpy(gamma))
        ln.bias.copy_(torch.from_numpy(beta))
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = ln(tx)
    tout.backward(torch.from_numpy(dout))
    out, cache = layernorm_forward(x, gamma, beta, eps=1e-4)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dgamma, ln.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dbeta, ln.bias.grad.numpy(), rtol=1e-10)


def test_layernorm_is_pure_and_rejects_bad_inputs(rng):
    x, g, b = rng.standard_normal((3, 4)), np.ones(4), np.zeros(4)
    x0 = x.copy()
    out, cache = layernorm_forward(x, g, b)
    np.testing.assert_array_equal(x, x0)
    dout = np.ones_like(out)
    layernorm_backward(dout, cache)
    np.testing.assert_array_equal(dout, 1.0)
    with pytest.raises(ValueError, match=r"gamma must have shape \(4,\)"):
        layernorm_forward(x, np.ones(3), b)
    with pytest.raises(ValueError, match="scalar"):
        layernorm_forward(np.float64(1.0), np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="eps must be"):
        layernorm_forward(x, g, b, eps=-1.0)
    with pytest.raises(ValueError, match="dout has shape"):
        layernorm_backward(np.ones((4, 3)), cache)


# ---------------------------------------------------------------------------------------------
# Spatial batch norm (BatchNorm2d) for convolutional networks
# ---------------------------------------------------------------------------------------------


def test_batchnorm2d_equals_batchnorm_over_pixels(rng):
    """Spatial batch norm is batch norm with every pixel of every image as an example."""
    from nnlib.normalization import batchnorm2d_backward, batchnorm2d_forward

    x = rng.standard_normal((3, 4, 5, 2)) * 2 + 1
    gamma, beta, rm, rv = _bn_params(rng, 4)
    flat = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    for training in (True, False):
        out, cache, m2, v2 = batchnorm2d_forward(x, gamma, beta, rm, rv, training=training,
                                                 momentum=0.3)
        ref, rcache, rm2, rv2 = batchnorm_forward(flat, gamma, beta, rm, rv, training=training,
                                                  momentum=0.3)
        np.testing.assert_allclose(out.transpose(0, 2, 3, 1).reshape(-1, 4), ref, rtol=1e-12)
        np.testing.assert_allclose(m2, rm2, rtol=1e-12)
        np.testing.assert_allclose(v2, rv2, rtol=1e-12)  # unbiased with M = N H W
        dout = rng.standard_normal(x.shape)
        dx, dgamma, dbeta = batchnorm2d_backward(dout, cache)
        rdx, rdgamma, rdbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, 4),
                                                  rcache)
        np.testing.assert_allclose(dx.transpose(0, 2, 3, 1).reshape(-1, 4), rdx, rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(dgamma, rdgamma, rtol=1e-12)
        np.testing.assert_allclose(dbeta, rdbeta, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm2d_gradients_match_central_differences(training, rng):
    from nnlib.normalization import batchnorm2d_backward, batchnorm2d_forward

    gamma, beta, rm, rv = _bn_params(rng, 3)

    def fwd(x, g, b):
        out, cache, _, _ = batchnorm2d_forward(x, g, b, rm, rv, training=training)
        return out, cache

    errors = check_gradients(fwd, batchnorm2d_backward,
                             [rng.standard_normal((2, 3, 3, 2)), gamma, beta], rng=rng)
    assert max(errors) < 1e-6, errors


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (1, 2, 3, 1), (2, 1, 1, 1)])
def test_batchnorm2d_module_matches_torch_over_several_steps(shape, rng):
    torch = require_torch()
    from nnlib.normalization import BatchNorm2d

    C = shape[1]
    mine = BatchNorm2d(C, momentum=0.2, eps=1e-3)
    theirs = torch.nn.BatchNorm2d(C, momentum=0.2, eps=1e-3, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(1 + rng.standard_normal(C)))
        theirs.bias.copy_(torch.tensor(rng.standard_normal(C)))
    mine.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert list(mine.state_dict()) == list(theirs.state_dict())
    for _ in range(3):
        x = rng.standard_normal(shape) * 3 - 1
        xt = torch.tensor(x, requires_grad=True)
        out, ot = mine(x), theirs(xt)
        np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-10, atol=1e-12)
        dout = rng.standard_normal(shape)
        ot.backward(torch.tensor(dout))
        mine.zero_grad()
        np.testing.assert_allclose(mine.backward(dout), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mine.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(mine.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)
        theirs.zero_grad()
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(mine.state_dict()[name], value.numpy(), rtol=1e-12)
    mine.eval()
    theirs.eval()
    x = rng.standard_normal((1, *shape[1:]))  # a batch of one is fine in evaluation
    np.testing.assert_allclose(mine(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_batchnorm2d_bad_inputs(rng):
    from nnlib.normalization import BatchNorm2d, batchnorm2d_forward

    gamma, beta, rm, rv = _bn_params(rng, 3)
    with pytest.raises(ValueError, match=r"batchnorm2d_forward: x must have shape \(N, C, H, W\)"):
        batchnorm2d_forward(np.ones((2, 3)), gamma, beta, rm, rv, training=True)
    with pytest.raises(ValueError, match=r"batchnorm2d_forward: gamma must have shape \(4,\)"):
        batchnorm2d_forward(np.ones((2, 4, 2, 2)), gamma, beta, rm, rv, training=True)
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(1, 3, 1, 1\)"):
        batchnorm2d_forward(np.ones((1, 3, 1, 1)), gamma, beta, rm, rv, training=True)
    with pytest.raises(ValueError, match="batchnorm2d_forward: training must be True or False"):
        batchnorm2d_forward(np.ones((2, 3, 2, 2)), gamma, beta, rm, rv, training=1)
    with pytest.raises(ValueError, match="BatchNorm2d: num_features"):
        BatchNorm2d(0)
