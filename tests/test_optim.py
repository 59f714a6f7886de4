"""Tests for nnlib.optim: the pure rules (sgd, adagrad, rmsprop, adam, adamw), the
``Optimizer`` base and its subclasses, checked against torch.optim where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import require_torch

from nnlib.modules import Linear, Parameter, Sequential, Tanh
from nnlib.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    adagrad,
    adam,
    adamw,
    rmsprop,
    sgd,
)

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
    torch = require_torch()
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


# (rule, Optimizer class, torch.optim class name, hyperparameters): the branches of each step.
# The large eps and weight_decay settings make eps placement and decay coupling visible at 1e-10.
ADAPTIVE = {
    "adagrad_default": (adagrad, Adagrad, "Adagrad", dict(lr=0.1)),
    "adagrad_all": (adagrad, Adagrad, "Adagrad", dict(lr=0.1, lr_decay=0.3, weight_decay=0.2,
                                                       initial_accumulator_value=0.5, eps=0.1)),
    "rmsprop_default": (rmsprop, RMSprop, "RMSprop", dict(lr=0.01)),
    "rmsprop_eps_wd": (rmsprop, RMSprop, "RMSprop", dict(lr=0.01, alpha=0.9, eps=0.1,
                                                         weight_decay=0.3)),
    "rmsprop_momentum": (rmsprop, RMSprop, "RMSprop", dict(lr=0.01, alpha=0.8, momentum=0.9)),
    "rmsprop_centered_all": (rmsprop, RMSprop, "RMSprop", dict(lr=0.01, alpha=0.7, eps=0.05,
                                                               weight_decay=0.1, momentum=0.5,
                                                               centered=True)),
    "adam_default": (adam, Adam, "Adam", dict(lr=1e-3)),
    "adam_eps_betas": (adam, Adam, "Adam", dict(lr=0.1, betas=(0.8, 0.9), eps=0.3)),
    "adam_wd": (adam, Adam, "Adam", dict(lr=0.1, weight_decay=0.5)),
    "adam_amsgrad_wd": (adam, Adam, "Adam", dict(lr=0.1, betas=(0.5, 0.6), eps=0.01,
                                                 weight_decay=0.2, amsgrad=True)),
    "adamw_default": (adamw, AdamW, "AdamW", dict(lr=1e-3)),
    "adamw_wd": (adamw, AdamW, "AdamW", dict(lr=0.1, eps=0.3, weight_decay=0.5)),
    "adamw_amsgrad": (adamw, AdamW, "AdamW", dict(lr=0.1, betas=(0.5, 0.6), weight_decay=0.2,
                                                  amsgrad=True)),
}


def _torch_trajectory(name, w0, grads, hyper):
    torch = require_torch()
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = getattr(torch.optim, name)([p], **hyper)
    out = []
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


def _trajectory(seed):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((4, 3))
    # gradients of mixed scale, some of them tiny, so that eps and sqrt matter
    grads = [rng.standard_normal((4, 3)) * rng.choice([1e-3, 0.1, 2.0], size=(4, 3))
             for _ in range(5)]
    return w0, grads


@pytest.mark.parametrize("config", list(ADAPTIVE), ids=list(ADAPTIVE))
def test_adaptive_rules_match_torch_over_five_steps(config):
    rule, cls, torch_name, hyper = ADAPTIVE[config]
    w0, grads = _trajectory(list(ADAPTIVE).index(config))
    expected = _torch_trajectory(torch_name, w0, grads, hyper)

    w, state = w0, {}
    for k, g in enumerate(grads):
        w, state = rule(w, g, state, **hyper)
        np.testing.assert_allclose(
            w, expected[k], rtol=0, atol=1e-10,
            err_msg=f"{rule.__name__} ({config}) differs from torch.optim.{torch_name} "
                    f"at step {k + 1}")

    p = Parameter(w0)
    opt = cls([p], **hyper)
    for k, g in enumerate(grads):
        p.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(
            p.data, expected[k], rtol=0, atol=1e-10,
            err_msg=f"{cls.__name__} ({config}) differs from torch.optim.{torch_name} "
                    f"at step {k + 1}")


@pytest.mark.parametrize("config", list(ADAPTIVE), ids=list(ADAPTIVE))
def test_adaptive_rules_are_pure(config):
    rule, _, _, hyper = ADAPTIVE[config]
    w, grads = _trajectory(0)
    state: dict = {}
    for g in grads[:3]:
        w_copy, g_copy = w.copy(), g.copy()
        state_copy = {k: np.copy(v) for k, v in state.items()}
        next_w, next_state = rule(w, g, state, **hyper)
        name = rule.__name__
        np.testing.assert_array_equal(w, w_copy, err_msg=f"{name} modified w in place")
        np.testing.assert_array_equal(g, g_copy, err_msg=f"{name} modified dw in place")
        assert next_state is not state, f"{name} must return a new state dict"
        assert set(state) == set(state_copy), f"{name} added keys to the caller's state"
        for k, v in state.items():
            np.testing.assert_array_equal(v, state_copy[k], err_msg=f"{name} modified {k!r}")
        for k, v in next_state.items():
            if isinstance(v, np.ndarray):
                assert not np.shares_memory(v, w) and not np.shares_memory(v, g), (
                    f"{name}: state[{k!r}] shares memory with w or dw")
        assert not np.shares_memory(next_w, w), f"{name} must return a new weight array"
        w, state = next_w, next_state


def test_adam_first_step_by_hand():
    # m = 0.1 g, v = 0.001 g**2; bias correction gives m_hat = g, v_hat = g**2,
    # so the step is lr * g / (|g| + eps), about lr * sign(g) whatever the size of g
    w = np.array([1.0, -2.0, 0.5])
    g = np.array([3.0, -1e-4, 250.0])
    next_w, state = adam(w, g, {}, lr=0.01)
    assert state["step"] == 1
    np.testing.assert_allclose(state["exp_avg"], 0.1 * g, rtol=1e-12)
    np.testing.assert_allclose(state["exp_avg_sq"], 0.001 * g * g, rtol=1e-12)
    np.testing.assert_allclose(next_w, w - 0.01 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)
    np.testing.assert_allclose(next_w - w, -0.01 * np.sign(g), rtol=1e-3,
                               err_msg="the first Adam step should move each weight by lr")


def test_adamw_decay_is_decoupled_by_hand():
    # with g = 0 the Adam part is 0 / (0 + eps) = 0: only the decay w * (1 - lr * wd) is left,
    # while Adam's coupled L2 term goes through the normalisation and moves w by about lr
    w, g = np.array([2.0]), np.array([0.0])
    np.testing.assert_allclose(adamw(w, g, {}, lr=0.1, weight_decay=0.5)[0], [2.0 * 0.95])
    np.testing.assert_allclose(adam(w, g, {}, lr=0.1, weight_decay=0.5)[0], [1.9], rtol=1e-6)


def test_adagrad_and_rmsprop_first_step_by_hand():
    w, g = np.array([1.0]), np.array([2.0])
    # sum = 0 + 4; w = 1 - 0.1 * 2 / (2 + eps)
    np.testing.assert_allclose(adagrad(w, g, {}, lr=0.1, eps=0.0)[0], [0.9])
    # square_avg = 0.5 * 4 = 2; w = 1 - 0.1 * 2 / (sqrt(2) + 0.5)
    np.testing.assert_allclose(rmsprop(w, g, {}, lr=0.1, alpha=0.5, eps=0.5)[0],
                               [1 - 0.2 / (np.sqrt(2) + 0.5)])


@pytest.mark.parametrize("cls, hyper", [(Adagrad, dict(lr=0.5)), (RMSprop, dict(lr=0.05)),
                                         (Adam, dict(lr=0.05)),
                                         (AdamW, dict(lr=0.05, weight_decay=0.0))],
                         ids=["Adagrad", "RMSprop", "Adam", "AdamW"])
def test_adaptive_optimizers_minimise_a_quadratic(cls, hyper):
    target = np.array([3.0, -2.0])
    p = Parameter(np.zeros(2))
    opt = cls([p], **hyper)
    for _ in range(2000):
        opt.zero_grad()
        p.grad += 2 * (p.data - target)
        opt.step()
    np.testing.assert_allclose(p.data, target, atol=1e-2,
                               err_msg=f"{cls.__name__} did not reach the minimum")


def test_adaptive_float32_stays_float32():
    w = np.ones(3, dtype=np.float32)
    for rule, hyper in [(adagrad, {}), (rmsprop, dict(momentum=0.9, centered=True)),
                        (adam, dict(amsgrad=True, weight_decay=0.1)), (adamw, {})]:
        next_w, state = rule(w, w, {}, lr=np.float64(0.1), eps=np.float64(1e-8), **hyper)
        assert next_w.dtype == np.float32, f"{rule.__name__} upcast w to {next_w.dtype}"
        for k, v in state.items():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32, f"{rule.__name__}: state[{k!r}] is {v.dtype}"


def test_optimizer_defaults_are_torchs():
    p = [Parameter(np.ones(2))]
    assert Adagrad(p).defaults == dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                                       initial_accumulator_value=0.0, eps=1e-10)
    assert RMSprop(p).defaults == dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                                       momentum=0.0, centered=False)
    assert Adam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                    amsgrad=False)
    assert AdamW(p).defaults["weight_decay"] == 1e-2


BAD_HYPER = [
    (adagrad, dict(lr=-0.1), "adagrad: lr"),
    (adagrad, dict(lr_decay=-1.0), "adagrad: lr_decay"),
    (adagrad, dict(weight_decay=-1.0), "adagrad: weight_decay"),
    (adagrad, dict(initial_accumulator_value=-1.0), "adagrad: initial_accumulator_value"),
    (adagrad, dict(eps=-1e-10), "adagrad: eps"),
    (rmsprop, dict(lr=np.nan), "rmsprop: lr"),
    (rmsprop, dict(alpha=-0.1), "rmsprop: alpha"),
    (rmsprop, dict(eps=-1.0), "rmsprop: eps"),
    (rmsprop, dict(weight_decay=-1.0), "rmsprop: weight_decay"),
    (rmsprop, dict(momentum=-0.5), "rmsprop: momentum"),
    (adam, dict(lr=-1e-3), "adam: lr"),
    (adam, dict(betas=(1.0, 0.999)), r"adam: betas\[0\] must be in \[0, 1\)"),
    (adam, dict(betas=(0.9, -0.1)), r"adam: betas\[1\]"),
    (adam, dict(betas=0.9), "adam: betas must be a pair"),
    (adam, dict(eps=-1e-8), "adam: eps"),
    (adam, dict(weight_decay=-0.1), "adam: weight_decay"),
    (adamw, dict(lr=-1e-3), "adamw: lr"),
    (adamw, dict(betas=(0.9, 1.5)), r"adamw: betas\[1\]"),
    (adamw, dict(weight_decay=-0.1), "adamw: weight_decay"),
]


@pytest.mark.parametrize("rule, hyper, message", BAD_HYPER,
                         ids=[m.split(":")[0] + "-" + next(iter(h)) for _, h, m in BAD_HYPER])
def test_adaptive_bad_hyperparameters(rule, hyper, message):
    w = np.ones(2)
    with pytest.raises(ValueError, match=message):
        rule(w, w, {}, **hyper)


def test_adaptive_bad_inputs_and_classes():
    w = np.ones(2)
    for rule in (adagrad, rmsprop, adam, adamw):
        name = rule.__name__
        with pytest.raises(ValueError, match=f"{name}: w and dw must have the same shape"):
            rule(w, np.ones(3), {})
    with pytest.raises(ValueError, match=r'adam: w and state\["exp_avg"\] must have the same'):
        adam(w, w, {"step": 1, "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)})
    with pytest.raises(ValueError, match="Adagrad: lr_decay"):
        Adagrad([Parameter(w)], lr_decay=-1.0)
    with pytest.raises(ValueError, match="RMSprop: alpha"):
        RMSprop([Parameter(w)], alpha=-1.0)
    with pytest.raises(ValueError, match=r"Adam: betas\[0\]"):
        Adam([Parameter(w)], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="AdamW: weight_decay"):
        AdamW([Parameter(w)], weight_decay=-1.0)


# A schedule changes lr between steps: torch keeps the momentum buffer free of lr (so a
# "velocity" v = momentum * v - lr * g, equal to it at a constant lr, would differ here) and
# applies each rule with the lr of the current step.
CHANGING_LR = {
    "sgd_momentum_dampening_wd": (sgd, "SGD", dict(momentum=0.9, dampening=0.3,
                                                   weight_decay=0.1)),
    "sgd_nesterov": (sgd, "SGD", dict(momentum=0.8, nesterov=True)),
    "adagrad_lr_decay": (adagrad, "Adagrad", dict(lr_decay=0.1, initial_accumulator_value=0.2)),
    "rmsprop_momentum": (rmsprop, "RMSprop", dict(alpha=0.9, momentum=0.5)),
    "adam_wd": (adam, "Adam", dict(betas=(0.8, 0.95), weight_decay=0.1)),
    "adamw": (adamw, "AdamW", dict(betas=(0.8, 0.95), weight_decay=0.3)),
}


@pytest.mark.parametrize("config", list(CHANGING_LR), ids=list(CHANGING_LR))
def test_rules_follow_a_changing_lr_like_torch(config):
    torch = require_torch()
    rule, torch_name, hyper = CHANGING_LR[config]
    w0, grads = _trajectory(100 + list(CHANGING_LR).index(config))
    grads = grads + [g[::-1] for g in grads]  # 10 steps
    lrs = [0.1 * 0.7**k for k in range(len(grads))]
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = getattr(torch.optim, torch_name)([p], lr=lrs[0], **hyper)
    w, state = w0, {}
    for k, (g, lr) in enumerate(zip(grads, lrs, strict=True)):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        w, state = rule(w, g, state, lr=lr, **hyper)
        np.testing.assert_allclose(w, p.detach().numpy(), rtol=0, atol=1e-10,
                                   err_msg=f"{config} differs from torch at step {k + 1}")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=30),
       st.floats(1e-4, 1.0))
def test_adagrad_and_adam_steps_are_bounded_by_lr(gs, lr):
    # Adagrad: |g_t| / sqrt(sum of g**2) <= 1, so no coordinate moves by more than lr.
    # Adam (betas (0.9, 0.999)): |m_hat| / sqrt(v_hat) <= (1 - b1) / sqrt(1 - b2) (Kingma & Ba).
    w, s_ada, s_adam = np.zeros(1), {}, {}
    bound_adam = lr * 0.1 / np.sqrt(0.001) * (1 + 1e-9)
    for g in gs:
        dw = np.array([g])
        w1, s_ada = adagrad(w, dw, s_ada, lr=lr)
        w2, s_adam = adam(w, dw, s_adam, lr=lr)
        assert abs(w1 - w)[0] <= lr * (1 + 1e-12)
        assert abs(w2 - w)[0] <= bound_adam
