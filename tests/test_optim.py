"""Tests for nnlib.optim: the pure ``sgd`` rule, the ``Optimizer`` base and ``SGD``."""

from __future__ import annotations

import numpy as np
import pytest

from nnlib.modules import Linear, Parameter, Sequential, Tanh
from nnlib.optim import SGD, Optimizer, sgd

# (momentum, dampening, weight_decay, nesterov): every branch of torch.optim.SGD.step
CONFIGS = {
    "plain": (0.0, 0.0, 0.0, False),
    "weight_decay": (0.0, 0.0, 0.1, False),
    "momentum": (0.9, 0.0, 0.0, False),
    "momentum_dampening": (0.9, 0.3, 0.0, False),
    "momentum_dampening_wd": (0.8, 0.5, 0.05, False),
    "nesterov": (0.9, 0.0, 0.0, True),
    "nesterov_wd": (0.7, 0.0, 0.1, True),
}


def test_sgd_plain_hand_case():
    w, dw = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    next_w, state = sgd(w, dw, {}, lr=0.1)
    np.testing.assert_allclose(next_w, [0.95, 2.1])
    assert state == {}


def test_sgd_momentum_hand_case():
    w = np.array([1.0])
    # step 1: buffer = g = 2 (no dampening on the first step), w = 1 - 0.1 * 2
    w1, s1 = sgd(w, np.array([2.0]), None, lr=0.1, momentum=0.5, dampening=0.5)
    np.testing.assert_allclose(s1["momentum_buffer"], [2.0])
    np.testing.assert_allclose(w1, [0.8])
    # step 2: buffer = 0.5 * 2 + (1 - 0.5) * 4 = 3, w = 0.8 - 0.1 * 3
    w2, s2 = sgd(w1, np.array([4.0]), s1, lr=0.1, momentum=0.5, dampening=0.5)
    np.testing.assert_allclose(s2["momentum_buffer"], [3.0])
    np.testing.assert_allclose(w2, [0.5])


def test_sgd_nesterov_and_weight_decay_hand_case():
    # g = dw + wd * w = 1 + 0.5 * 2 = 2; buffer = 2; nesterov step uses g + m * buffer = 3
    w1, s1 = sgd(np.array([2.0]), np.array([1.0]), {}, lr=0.1, momentum=0.5, weight_decay=0.5,
                 nesterov=True)
    np.testing.assert_allclose(s1["momentum_buffer"], [2.0])
    np.testing.assert_allclose(w1, [2.0 - 0.1 * 3.0])


def test_sgd_is_pure():
    rng = np.random.default_rng(0)
    w, dw = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    w0, dw0 = w.copy(), dw.copy()
    state: dict = {}
    for _ in range(3):
        buf_before = state.get("momentum_buffer")
        buf_copy = None if buf_before is None else buf_before.copy()
        next_w, next_state = sgd(w, dw, state, lr=0.1, momentum=0.9, weight_decay=0.1,
                                 nesterov=True)
        np.testing.assert_array_equal(w, w0, err_msg="sgd modified w in place")
        np.testing.assert_array_equal(dw, dw0, err_msg="sgd modified dw in place")
        assert next_state is not state, "sgd must return a new state dict"
        if buf_before is not None:
            np.testing.assert_array_equal(buf_before, buf_copy, err_msg="sgd modified the buffer")
        assert next_state["momentum_buffer"] is not dw
        state = next_state
    first_buf = sgd(w, dw, {}, lr=0.1, momentum=0.9)[1]["momentum_buffer"]
    assert not np.shares_memory(first_buf, dw), "the first buffer must be a copy of the gradient"


def _torch_sgd_trajectory(w0, grads, lr, momentum, dampening, weight_decay, nesterov):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening,
                          weight_decay=weight_decay, nesterov=nesterov)
    out = []
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_sgd_matches_torch_over_five_steps(config):
    momentum, dampening, weight_decay, nesterov = CONFIGS[config]
    hyper = dict(lr=0.05, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                 nesterov=nesterov)
    rng = np.random.default_rng(list(CONFIGS).index(config))
    w0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    expected = _torch_sgd_trajectory(w0, grads, **hyper)

    # the pure rule, threaded by hand
    w, state = w0, {}
    for k, g in enumerate(grads):
        w, state = sgd(w, g, state, **hyper)
        np.testing.assert_allclose(w, expected[k], rtol=0, atol=1e-10,
                                   err_msg=f"sgd ({config}) differs from torch at step {k + 1}")

    # the stateful optimizer on a Parameter
    p = Parameter(w0)
    opt = SGD([p], **hyper)
    for k, g in enumerate(grads):
        p.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(p.data, expected[k], rtol=0, atol=1e-10,
                                   err_msg=f"SGD ({config}) differs from torch at step {k + 1}")


def test_step_writes_in_place_and_keeps_state_per_parameter():
    rng = np.random.default_rng(0)
    net = Sequential(Linear(3, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng))
    params = net.parameters()
    arrays = [p.data for p in params]
    opt = SGD(params, lr=0.1, momentum=0.9)
    net(rng.standard_normal((5, 3)))
    net.backward(np.ones((5, 2)))
    before = [a.copy() for a in arrays]
    opt.step()
    for p, a, b in zip(params, arrays, before, strict=True):
        assert p.data is a, "step must write into p.data, not rebind it"
        np.testing.assert_allclose(a, b - 0.1 * p.grad)
    assert set(opt.state) == set(params)
    for p in params:
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], p.grad)
    opt.zero_grad()
    assert all(not p.grad.any() for p in params)


def test_lr_is_settable_and_used_by_the_next_step():
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1)
    p.grad[...] = 1.0
    opt.step()
    opt.lr = 0.5
    assert opt.lr == 0.5 and opt.defaults["lr"] == 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 - 0.5])
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0


def test_float32_stays_float32():
    w = np.ones(3, dtype=np.float32)
    next_w, state = sgd(w, np.ones(3, dtype=np.float32), {}, lr=np.float64(0.1), momentum=0.9,
                        weight_decay=np.float64(0.01))
    assert next_w.dtype == np.float32 and state["momentum_buffer"].dtype == np.float32


def test_sgd_minimises_a_quadratic():
    target = np.array([3.0, -2.0])
    p = Parameter(np.zeros(2))
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(200):
        opt.zero_grad()
        p.grad += 2 * (p.data - target)
        opt.step()
    np.testing.assert_allclose(p.data, target, atol=1e-6)


def test_bad_hyperparameters_and_inputs():
    w = np.ones(2)
    with pytest.raises(ValueError, match="sgd: lr"):
        sgd(w, w, {}, lr=-0.1)
    with pytest.raises(ValueError, match="sgd: momentum"):
        sgd(w, w, {}, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="sgd: weight_decay"):
        sgd(w, w, {}, lr=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="sgd: nesterov=True needs momentum > 0"):
        sgd(w, w, {}, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"sgd: w and dw must have the same shape"):
        sgd(w, np.ones(3), {}, lr=0.1)
    with pytest.raises(ValueError, match="SGD: nesterov=True needs"):
        SGD([Parameter(w)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="SGD: lr"):
        SGD([Parameter(w)], lr=-1.0)


def test_bad_parameter_lists():
    rng = np.random.default_rng(0)
    lin = Linear(2, 2, rng=rng)
    with pytest.raises(TypeError, match=r"pass model.parameters\(\)"):
        SGD(lin, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] must be a Parameter"):
        SGD([lin.weight, np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        SGD([lin.weight, lin.weight], lr=0.1)
    with pytest.raises(NotImplementedError):
        Optimizer([lin.weight], lr=0.1).step()
