"""Checks of lesson 07, optimizers.

``solutions/07_optimizers``: the update rules of ``torch.optim`` as pure functions
``rule(w, dw, state, *, lr, ...) -> (next_w, next_state)`` (SGD, momentum, Nesterov, Adagrad,
RMSprop, Adam, AdamW) and four learning-rate schedules. Each exercise has its visible checks,
``<name>(fn)``, and its hidden checks, ``<name>_hidden(fn)``, which compare ``fn`` with
``nnlib.optim`` / ``nnlib.schedules`` on generated cases. Every call of a rule goes through the
shared update-rule contract, :func:`nncourse.checks._contract.call_update_rule`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.optim
import nnlib.schedules
from nncourse.checks._contract import GradingError, call_update_rule, ensure, exercise_check
from nncourse.testing import (
    assert_close,
    batch_size_for,
    check_against_reference,
    forbid_reference,
    hidden_seed,
    scale_for,
)

SLUG = "optimizers"

__all__ = [
    "sgd", "sgd_hidden", "sgd_momentum", "sgd_momentum_hidden",
    "sgd_nesterov", "sgd_nesterov_hidden", "adagrad", "adagrad_hidden",
    "rmsprop", "rmsprop_hidden", "adam", "adam_hidden", "adamw", "adamw_hidden",
    "exponential_lr", "exponential_lr_hidden", "step_lr", "step_lr_hidden",
    "cosine_lr", "cosine_lr_hidden", "linear_warmup", "linear_warmup_hidden",
]

# The contract of each rule: its state keys (PyTorch's names), the key holding the step count,
# and how to build a new array instead of writing into one.
_RULES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "sgd": ((), None, "next_w = w - lr * g"),
    "sgd_momentum": (("momentum_buffer",), None, "b = momentum * b + ..., not b *= momentum"),
    "sgd_nesterov": (("momentum_buffer",), None, "b = momentum * b + g, not b *= momentum"),
    "adagrad": (("step", "sum"), "step", "s = s + g * g, not s += g * g"),
    "rmsprop": (("square_avg",), None, "v = alpha * v + ..., not v *= alpha"),
    "adam": (("step", "exp_avg", "exp_avg_sq"), "step", "m = beta1 * m + ..., not m *= beta1"),
    "adamw": (("step", "exp_avg", "exp_avg_sq"), "step",
              "w * (1 - lr * weight_decay), not w *= ..."),
}


def _checked(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``(w, dw, state, hyper) -> fn(w, dw, state, **hyper)`` held to the update-rule contract."""
    keys, step_key, rebuild = _RULES[name]

    def run(w: np.ndarray, dw: np.ndarray, state: dict[str, Any],
            hyper: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        __tracebackhide__ = True
        return call_update_rule(fn, w, dw, state, hyper, name=name, state_keys=keys,
                                step_key=step_key, rebuild=rebuild)

    return run


def _shape_of_w(name: str, W2: Any, S2: dict[str, Any], keys: tuple[str, ...]) -> None:
    """After two steps on a (2, 3) matrix, next_w and the state arrays are (2, 3)."""
    __tracebackhide__ = True
    for what, a in [("next_w", W2)] + [(f'next_state["{k}"]', S2[k]) for k in keys]:
        ensure(np.shape(a) == (2, 3),
               f"after two steps of {name} on a (2, 3) weight matrix W, {what} has shape "
               f"{np.shape(a)}, expected (2, 3): the state must be shaped like w "
               "(np.zeros_like(w)), not np.zeros(len(w)).")


def _rule_case(kind: str, rng: np.random.Generator) -> tuple[int, ...]:
    """The shape of w for one hidden case: (N, D) with N != D, 1-D for the batch of one."""
    shape: tuple[int, ...] = (batch_size_for(kind, rng), int(rng.integers(1, 6)))
    if shape[0] == shape[1]:           # N != D: a state of shape (N,) cannot pass
        shape = (shape[0], shape[1] + 1)
    if kind == "batch of one":         # a 1-D w, like a bias vector: a state (D, 1) cannot pass
        shape = shape[1:]
    return shape


def _hidden_rule(fn: Callable[..., Any], name: str, reference: Callable[..., Any],
                 make: Callable[..., Any], parts: list[tuple[str, Any, float]]) -> None:
    """check_against_reference of one rule for each part (label, what is compared, atol)."""
    __tracebackhide__ = True
    seed = hidden_seed(f"{SLUG}/{name}")
    for label, compare, atol in parts:
        check_against_reference(_checked(fn, name), reference, make, seed=seed,
                                name=f"{name} ({label})", compare=compare, atol=atol,
                                layout=None if label == 'next_state["step"]' else
                                "the shape of w")


def _step_of(r: Any) -> float:
    return float(r[1]["step"])


# ---------------------------------------------------------------------------------------------
# sgd
# ---------------------------------------------------------------------------------------------


@exercise_check
def sgd(fn: Callable[..., Any]) -> None:
    """Visible checks of ``sgd(w, dw, state, *, lr, weight_decay=0.0)``:

    - it is not ``nnlib.optim.sgd`` and does not call it;
    - the update-rule contract: it returns ``(next_w, next_state)`` with ``next_state`` a new
      dict, ``next_w`` shaped like ``w``, and modifies nothing it was given;
    - one step with lr = 0.1 (downhill: w - lr * g, not w + lr * g), then with
      ``weight_decay = 0.5``;
    - ``next_state`` keeps what ``state`` held (``dict(state)``, not ``{}``);
    - a (2, 3) weight matrix.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.sgd, args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}),
                     kwargs=dict(lr=0.1))
    run = _checked(fn, "sgd")
    # w = [1, 2], dw = [0.5, -1], lr = 0.1: next_w = w - 0.1 * dw
    w1, _ = run(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, dict(lr=0.1))
    ensure(not np.allclose(w1, [1.05, 1.9]),
           "sgd(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, lr=0.1)[0] came back "
           "[1.05, 1.9] = w + lr * dw: the step goes uphill. The gradient points to where the "
           "loss grows, so subtract it: next_w = w - lr * g.")
    assert_close(w1, [0.95, 2.1], layout="(2,)", reveal=True,
                 name="sgd(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, lr=0.1)[0]")
    # weight decay: g = dw + 0.5 * w = [1.0, 0.0], so next_w = w - 0.1 * g
    w2, _ = run(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, dict(lr=0.1, weight_decay=0.5))
    assert_close(w2, [0.9, 2.0], layout="(2,)", reveal=True,
                 name="sgd(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, lr=0.1, "
                      "weight_decay=0.5)[0] (g = dw + weight_decay * w = [1.0, 0.0])")
    # next_state is a copy of state: what the caller stored there (a step count) is kept
    _, s3 = run(np.array([1.0]), np.array([0.5]), {"step": 3}, dict(lr=0.1))
    ensure(s3.get("step") == 3,
           f'sgd(np.array([1.0]), np.array([0.5]), {{"step": 3}}, lr=0.1)[1] came back {s3}, '
           'expected {"step": 3}: return dict(state), a new copy of the dict you were given, '
           "not {}. Plain SGD adds nothing to the state, but it must not drop what a caller "
           "(a schedule, a combined optimizer) keeps there.")
    # any shape: a (2, 3) weight matrix
    W = np.arange(6.0).reshape(2, 3)
    assert_close(run(W, np.ones((2, 3)), {}, dict(lr=0.5))[0], W - 0.5, layout="(2, 3)",
                 reveal=True,
                 name="sgd(W, np.ones((2, 3)), {}, lr=0.5)[0] for W = np.arange(6.0).reshape(2, 3)")
    print("✔ sgd passes the visible checks")


def _make_sgd_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    shape = (batch_size_for(kind, rng), int(rng.integers(1, 6)))
    s = scale_for(kind)
    hyper = dict(lr=float(rng.uniform(1e-3, 1.0)))
    if kind != "random" or rng.random() < 0.5:
        hyper["weight_decay"] = float(rng.uniform(0.01, 0.5))
    state = {"step": int(rng.integers(1, 100))} if kind in ("random", "odd sizes") else {}
    return (rng.normal(size=shape) * s, rng.normal(size=shape) * s, state, hyper)


@exercise_check
def sgd_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``sgd``: the contract, and the same ``next_w`` as ``nnlib.optim.sgd``
    on generated weights, gradients and hyperparameters (with and without weight decay), and
    a ``next_state`` that keeps the entries of a non-empty ``state``."""
    __tracebackhide__ = True
    _hidden_rule(fn, "sgd", lambda w, dw, state, hyper: nnlib.optim.sgd(w, dw, state, **hyper),
                 _make_sgd_case,
                 [("next_w", lambda r: r[0], 1e-9),
                  ("len(next_state): next_state = dict(state) keeps the entries of state",
                   lambda r: float(len(r[1])), 0.0)])


# ---------------------------------------------------------------------------------------------
# sgd_momentum
# ---------------------------------------------------------------------------------------------


@exercise_check
def sgd_momentum(fn: Callable[..., Any]) -> None:
    """Visible checks of ``sgd_momentum(w, dw, state, *, lr, momentum=0.9, dampening=0.0,
    weight_decay=0.0)``, two steps from ``w = [1, -2]`` with gradients ``[2, 4]`` then
    ``[-1, 2]``:

    - it is not ``nnlib.optim.sgd`` and does not call it;
    - the update-rule contract, with the buffer under ``"momentum_buffer"``, shaped like ``w``
      and a copy (not ``dw`` itself);
    - the first buffer is the gradient itself, undampened, not yet updated, and not multiplied
      by lr;
    - the second buffer adds ``(1 - dampening) * g``, with the ``momentum`` given;
    - both steps, with momentum 0.9 and 0.5;
    - weight decay enters the buffer.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.sgd, args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}),
                     kwargs=dict(lr=0.1))
    run = _checked(fn, "sgd_momentum")
    w, g1, g2 = np.array([1.0, -2.0]), np.array([2.0, 4.0]), np.array([-1.0, 2.0])
    hyper = dict(lr=0.1, momentum=0.9, dampening=0.5)
    w1, s1 = run(w, g1, {}, hyper)
    b1 = np.asarray(s1["momentum_buffer"], dtype=float)
    ensure(not np.allclose(b1, 0.5 * g1),
           "after the first step of sgd_momentum(w, g1, {}, lr=0.1, momentum=0.9, dampening=0.5), "
           'state["momentum_buffer"] is (1 - dampening) * g1 = [1, 2], expected g1 = [2, 4]: the '
           "first buffer is g itself, undampened. Starting from a zero buffer gives "
           "(1 - dampening) * g instead.")
    ensure(not np.allclose(b1, (0.9 + 0.5) * g1),
           'after the first step, state["momentum_buffer"] is momentum * g1 + (1 - dampening) * '
           "g1: you started the buffer at g and then also applied the update. At the first step "
           "the buffer is g itself, with no update; the update starts at the second step.")
    ensure(not np.allclose(np.abs(b1), 0.1 * np.abs(g1)),
           'after the first step, state["momentum_buffer"] is +-lr * g1: the buffer holds '
           "gradients, not steps. Store b = g (then momentum * b + (1 - dampening) * g), and "
           "multiply by lr only in next_w = w - lr * b.")
    assert_close(b1, [2.0, 4.0], layout="(2,)", reveal=True,
                 name='sgd_momentum(w, g1, {}, lr=0.1, momentum=0.9, dampening=0.5)[1]'
                      '["momentum_buffer"] (the first buffer is g1)')
    assert_close(w1, [0.8, -2.4], layout="(2,)", reveal=True,
                 name="the first step, sgd_momentum(w, g1, {}, lr=0.1, momentum=0.9, "
                      "dampening=0.5)[0] = w - 0.1 * g1")
    w2, s2 = run(w1, g2, s1, hyper)
    ensure(not np.allclose(s2["momentum_buffer"], 0.9 * b1 + 0.1 * g2),
           "the second buffer is 0.9 * b1 + (1 - 0.9) * g2: you used (1 - momentum) * g. torch's "
           "buffer adds (1 - dampening) * g: b = momentum * b + (1 - dampening) * g.")
    assert_close(s2["momentum_buffer"], [1.3, 4.6], layout="(2,)", reveal=True,
                 name='the second step\'s state["momentum_buffer"], 0.9 * b1 + (1 - 0.5) * g2')
    assert_close(w2, [0.67, -2.86], layout="(2,)", reveal=True,
                 name="the second step, sgd_momentum(w1, g2, state1, lr=0.1, momentum=0.9, "
                      "dampening=0.5)[0] = w1 - 0.1 * b2")
    # the same two steps with momentum = 0.5: b2 = 0.5 * b1 + (1 - 0.5) * g2
    hyper5 = dict(lr=0.1, momentum=0.5, dampening=0.5)
    w4, s4 = run(w, g1, {}, hyper5)
    w5, s5 = run(w4, g2, s4, hyper5)
    ensure(not np.allclose(s5["momentum_buffer"], 0.9 * g1 + 0.5 * g2),
           'with momentum=0.5, the second step\'s state["momentum_buffer"] came back [1.3, 4.6] = '
           "0.9 * b1 + 0.5 * g2, expected 0.5 * b1 + 0.5 * g2 = [0.5, 3.0]: the buffer must use "
           "the `momentum` argument, not a fixed 0.9.")
    assert_close(s5["momentum_buffer"], [0.5, 3.0], layout="(2,)", reveal=True,
                 name='the second step\'s state["momentum_buffer"] with lr=0.1, momentum=0.5, '
                      "dampening=0.5, 0.5 * b1 + (1 - 0.5) * g2")
    assert_close(w5, [0.75, -2.7], layout="(2,)", reveal=True,
                 name="the second step with lr=0.1, momentum=0.5, dampening=0.5, w1 - 0.1 * b2")
    # weight decay enters the buffer: g = dw + 0.5 * w = [0.5, -1.0]
    w3, s3 = run(np.array([1.0, -2.0]), np.zeros(2), {},
                 dict(lr=0.1, momentum=0.9, weight_decay=0.5))
    call = ("sgd_momentum(np.array([1.0, -2.0]), np.zeros(2), {}, lr=0.1, momentum=0.9, "
            "weight_decay=0.5)")
    assert_close(s3["momentum_buffer"], [0.5, -1.0], layout="(2,)", reveal=True,
                 name=f'{call}[1]["momentum_buffer"] (g = dw + weight_decay * w)')
    assert_close(w3, [0.95, -1.9], layout="(2,)", reveal=True, name=f"{call}[0]")
    print("✔ sgd_momentum passes the visible checks")


def _make_momentum_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    shape = (batch_size_for(kind, rng), int(rng.integers(1, 6)))
    s = scale_for(kind)
    hyper = dict(lr=float(rng.uniform(1e-3, 0.5)), momentum=float(rng.uniform(0.5, 0.99)),
                 dampening=float(rng.uniform(0.1, 0.9)) if kind != "random" else 0.0,
                 weight_decay=float(rng.uniform(0.01, 0.5))
                 if kind == "batch of one" or (kind != "odd sizes" and rng.random() < 0.6)
                 else 0.0)
    w, state = rng.normal(size=shape) * s, {}     # from state {}: with and without weight decay
    for _ in range({"batch of one": 0, "odd sizes": 0}.get(kind, int(rng.integers(2, 6)))):
        w, state = nnlib.optim.sgd(w, rng.normal(size=shape) * s, state, **hyper)
    return (w, rng.normal(size=shape) * s, state, hyper)


@exercise_check
def sgd_momentum_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``sgd_momentum``: the contract, and the same buffer and ``next_w`` as
    ``nnlib.optim.sgd`` from state ``{}`` and after 2 to 5 steps, with random momentum,
    dampening and weight decay."""
    __tracebackhide__ = True
    _hidden_rule(fn, "sgd_momentum",
                 lambda w, dw, state, hyper: nnlib.optim.sgd(w, dw, state, **hyper),
                 _make_momentum_case,
                 [('next_state["momentum_buffer"]', lambda r: r[1]["momentum_buffer"], 1e-9),
                  ("next_w", lambda r: r[0], 1e-9)])


# ---------------------------------------------------------------------------------------------
# sgd_nesterov
# ---------------------------------------------------------------------------------------------


@exercise_check
def sgd_nesterov(fn: Callable[..., Any]) -> None:
    """Visible checks of ``sgd_nesterov(w, dw, state, *, lr, momentum=0.9, weight_decay=0.0)``,
    two steps from ``w = [1, -2]`` with gradients ``[2, 4]`` then ``[-1, 2]``:

    - it is not ``nnlib.optim.sgd`` and does not call it;
    - the update-rule contract, with the buffer under ``"momentum_buffer"`` (shaped like ``w``,
      a copy);
    - the buffer holds gradients, not steps (not the velocity form);
    - the step is Nesterov's, not plain momentum's; momentum does not scale the fresh gradient;
    - the second step uses the new buffer; both steps with momentum 0.9 and 0.5 (the
      ``momentum`` given is passed on);
    - weight decay enters the buffer and the step.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.sgd, args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}),
                     kwargs=dict(lr=0.1))
    run = _checked(fn, "sgd_nesterov")
    w, g1, g2 = np.array([1.0, -2.0]), np.array([2.0, 4.0]), np.array([-1.0, 2.0])
    hyper = dict(lr=0.1, momentum=0.9)
    w1, s1 = run(w, g1, {}, hyper)
    call = "sgd_nesterov(w, g1, {}, lr=0.1, momentum=0.9)"
    ensure(not np.allclose(np.abs(np.asarray(s1["momentum_buffer"], dtype=float)),
                           0.1 * np.abs(g1)),
           f'after the first step of {call}, state["momentum_buffer"] is +-lr * g1: the buffer '
           "holds gradients, not steps (the velocity form v = momentum * v - lr * g is a "
           "different convention). Store b = g1 at the first step, then momentum * b + g, and "
           "multiply by lr only in the step.")
    assert_close(s1["momentum_buffer"], [2.0, 4.0], layout="(2,)", reveal=True,
                 name=f'{call}[1]["momentum_buffer"] (the first buffer is g1)')
    ensure(not np.allclose(w1, [0.8, -2.4]),
           f"the first step of {call} is w - lr * b1 = [0.8, -2.4], the step of plain momentum "
           "(or of g + momentum * b with the OLD buffer, which is 0 before the first step). "
           "Nesterov steps with g + momentum * b, where b is the buffer just updated: "
           "w - 0.1 * (g1 + 0.9 * b1).")
    ensure(not np.allclose(w1, [0.64, -2.72]),
           f"the first step of {call} came back [0.64, -2.72] = w - lr * momentum * (g1 + b1): "
           "momentum scales both terms. Only the buffer is scaled: the step is the fresh "
           "gradient plus momentum times the new buffer.")
    assert_close(w1, [0.62, -2.76], layout="(2,)", reveal=True,
                 name=f"the first step, {call}[0] = w - 0.1 * (g1 + 0.9 * b1)")
    w2, s2 = run(w1, g2, s1, hyper)
    assert_close(s2["momentum_buffer"], [0.8, 5.6], layout="(2,)", reveal=True,
                 name='the second step\'s state["momentum_buffer"], 0.9 * b1 + g2')
    ensure(not np.allclose(w2, w1 - 0.1 * (g2 + 0.9 * s1["momentum_buffer"])),
           "the second step of sgd_nesterov used the OLD buffer b1 in g + momentum * b; update "
           "the buffer first, then step with g + momentum * (the new buffer).")
    assert_close(w2, [0.648, -3.464], layout="(2,)", reveal=True,
                 name="the second step, sgd_nesterov(w1, g2, state1, lr=0.1, momentum=0.9)[0] = "
                      "w1 - 0.1 * (g2 + 0.9 * b2)")
    # the same two steps with momentum = 0.5: b2 = 0.5 * b1 + g2
    hyper5 = dict(lr=0.1, momentum=0.5)
    w4, s4 = run(w, g1, {}, hyper5)
    assert_close(w4, [0.7, -2.6], layout="(2,)", reveal=True,
                 name="the first step with lr=0.1, momentum=0.5, w - 0.1 * (g1 + 0.5 * b1)")
    w5, s5 = run(w4, g2, s4, hyper5)
    ensure(not np.allclose(s5["momentum_buffer"], 0.9 * g1 + g2),
           'with momentum=0.5, the second step\'s state["momentum_buffer"] came back [0.8, 5.6] = '
           "0.9 * b1 + g2, expected 0.5 * b1 + g2 = [0, 4]: the buffer used momentum 0.9 "
           "whatever momentum was given. If sgd_nesterov calls sgd_momentum, pass "
           "momentum=momentum on to it.")
    assert_close(s5["momentum_buffer"], [0.0, 4.0], layout="(2,)", reveal=True,
                 name='the second step\'s state["momentum_buffer"] with lr=0.1, momentum=0.5, '
                      "0.5 * b1 + g2")
    assert_close(w5, [0.8, -3.0], layout="(2,)", reveal=True,
                 name="the second step with lr=0.1, momentum=0.5, w1 - 0.1 * (g2 + 0.5 * b2)")
    # weight decay: g = dw + 0.5 * w = [0.5, -1.0] = b1, step g + 0.9 * b1 = 1.9 * g
    w3, s3 = run(np.array([1.0, -2.0]), np.zeros(2), {},
                 dict(lr=0.1, momentum=0.9, weight_decay=0.5))
    call = ("sgd_nesterov(np.array([1.0, -2.0]), np.zeros(2), {}, lr=0.1, momentum=0.9, "
            "weight_decay=0.5)")
    ensure(not np.allclose(s3["momentum_buffer"], 0.0),
           f'{call} returned state["momentum_buffer"] = [0, 0], the bare dw: the weight decay is '
           "missing from the buffer, which starts at g = dw + weight_decay * w = [0.5, -1.0]. If "
           "sgd_nesterov calls sgd_momentum, pass weight_decay=weight_decay on to it.")
    assert_close(s3["momentum_buffer"], [0.5, -1.0], layout="(2,)", reveal=True,
                 name='the same call\'s state["momentum_buffer"] (g = dw + weight_decay * w)')
    ensure(not np.allclose(w3, [0.955, -1.91]),
           "the same call stepped with dw + momentum * b: in the step g + momentum * b, g is the "
           "gradient with the weight decay, dw + weight_decay * w, as in the buffer.")
    assert_close(w3, [0.905, -1.81], layout="(2,)", reveal=True, name=f"{call}[0]")
    print("✔ sgd_nesterov passes the visible checks")


def _make_nesterov_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    shape = (batch_size_for(kind, rng), int(rng.integers(1, 6)))
    s = scale_for(kind)
    hyper = dict(lr=float(rng.uniform(1e-3, 0.5)), momentum=float(rng.uniform(0.5, 0.99)),
                 weight_decay=float(rng.uniform(0.01, 0.5))
                 if kind == "batch of one" or (kind != "odd sizes" and rng.random() < 0.6)
                 else 0.0)
    w, state = rng.normal(size=shape) * s, {}     # from state {}: with and without weight decay
    for _ in range({"batch of one": 0, "odd sizes": 0}.get(kind, int(rng.integers(2, 6)))):
        w, state = nnlib.optim.sgd(w, rng.normal(size=shape) * s, state, nesterov=True, **hyper)
    return (w, rng.normal(size=shape) * s, state, hyper)


@exercise_check
def sgd_nesterov_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``sgd_nesterov``: the contract, and the same buffer and ``next_w`` as
    ``nnlib.optim.sgd(..., nesterov=True)`` from state ``{}`` and after 2 to 5 steps."""
    __tracebackhide__ = True
    _hidden_rule(fn, "sgd_nesterov",
                 lambda w, dw, state, hyper: nnlib.optim.sgd(w, dw, state, nesterov=True,
                                                             **hyper),
                 _make_nesterov_case,
                 [('next_state["momentum_buffer"]', lambda r: r[1]["momentum_buffer"], 1e-9),
                  ("next_w", lambda r: r[0], 1e-9)])


# ---------------------------------------------------------------------------------------------
# adagrad
# ---------------------------------------------------------------------------------------------


@exercise_check
def adagrad(fn: Callable[..., Any]) -> None:
    """Visible checks of ``adagrad(w, dw, state, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
    initial_accumulator_value=0.0, eps=1e-10)``:

    - it is not ``nnlib.optim.adagrad`` and does not call it;
    - the update-rule contract, with ``"step"`` (a whole number, 1 after the first step) and
      ``"sum"`` (shaped like ``w``, a copy);
    - two steps with lr = 0.5: the sums of squared gradients and the steps;
    - eps is added after the square root;
    - ``initial_accumulator_value`` starts the sum; ``lr_decay`` follows torch's
      ``lr / (1 + (t - 1) * lr_decay)`` over three steps, the first step using lr itself;
    - weight decay enters the gradient that is squared and divided (not added to the step
      after the division); a fractional initial value is kept (a float accumulator);
    - two steps on a (2, 3) weight matrix.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.adagrad,
                     args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}))
    run = _checked(fn, "adagrad")
    # w = [1, -2], g1 = [3, -4], lr = 0.5: s = g1**2 = [9, 16], and each weight moves by lr
    w1, s1 = run(np.array([1.0, -2.0]), np.array([3.0, -4.0]), {}, dict(lr=0.5))
    ensure(float(s1["step"]) == 1,
           f'state["step"] is {s1["step"]} after the first step of adagrad, expected 1: t counts '
           "the steps taken, starting at 1 (state is {} before the first step, so use "
           'state.get("step", 0) + 1).')
    call = "adagrad(np.array([1.0, -2.0]), np.array([3.0, -4.0]), {}, lr=0.5)"
    assert_close(s1["sum"], [9.0, 16.0], layout="(2,)", reveal=True,
                 name=f'{call}[1]["sum"] (= g1**2)')
    ensure(not (np.all(np.isfinite(w1)) and np.max(np.abs(w1)) > 1e3),
           f"{call}[0] came back {w1}, expected [0.5, -1.5]: a huge step means the denominator "
           "is (almost) 0. Did you divide by the square root of the OLD sum (0 before the first "
           "step)? Add g * g to the sum first, then divide by the square root of the new sum.")
    assert_close(w1, [0.5, -1.5], layout="(2,)", reveal=True,
                 name=f"{call}[0] (each weight moves by lr = 0.5)")
    # second step, g2 = [4, 3]: s = [25, 25], next_w = w1 - 0.5 * g2 / 5
    w2, s2 = run(w1, np.array([4.0, 3.0]), s1, dict(lr=0.5))
    ensure(float(s2["step"]) == 2,
           f'state["step"] is {s2["step"]} after the second step, expected 2')
    assert_close(s2["sum"], [25.0, 25.0], layout="(2,)", reveal=True,
                 name='the second step\'s state["sum"] (= g1**2 + g2**2)')
    assert_close(w2, [0.1, -1.8], layout="(2,)", reveal=True,
                 name="the second step, w1 - 0.5 * g2 / sqrt(s)")
    # eps goes after the square root: w = [1], g = [3], lr = 0.5, eps = 1: 1 - 0.5 * 3 / (3 + 1)
    w3, _ = run(np.array([1.0]), np.array([3.0]), {}, dict(lr=0.5, eps=1.0))
    call = "adagrad(np.array([1.0]), np.array([3.0]), {}, lr=0.5, eps=1.0)"
    ensure(not np.allclose(w3, 1 - 0.5 * 3 / np.sqrt(10.0)),
           f"{call} put eps inside the square root, sqrt(s + eps). PyTorch adds it after: "
           "g / (sqrt(s) + eps) = 3 / (3 + 1).")
    assert_close(w3, [0.625], layout="(1,)", reveal=True,
                 name=f"{call}[0] = 1 - 0.5 * 3 / (sqrt(9) + 1)")
    # initial_accumulator_value = 16: s = 16 + 9 = 25; lr_decay = 0.5, the first step uses lr
    hyper = dict(lr=0.5, lr_decay=0.5, initial_accumulator_value=16.0)
    w4, s4 = run(np.array([1.0]), np.array([3.0]), {}, hyper)
    ensure(not np.allclose(s4["sum"], [9.0]),
           "adagrad(np.array([1.0]), np.array([3.0]), {}, lr=0.5, lr_decay=0.5, "
           'initial_accumulator_value=16.0)[1]["sum"] came back 9 = g**2, expected 25: the sum '
           "started at 0. Before the first step it starts at initial_accumulator_value (a "
           "full-of-that-value array shaped like w).")
    assert_close(s4["sum"], [25.0], layout="(1,)", reveal=True,
                 name="adagrad(np.array([1.0]), np.array([3.0]), {}, lr=0.5, lr_decay=0.5, "
                      'initial_accumulator_value=16.0)[1]["sum"]')
    ensure(not np.allclose(w4, 1 - 0.5 / 1.5 * 3 / 5),
           "the first step of adagrad(..., lr=0.5, lr_decay=0.5, ...) used lr / (1 + lr_decay): "
           "lr_t = lr / (1 + (t - 1) * lr_decay), and t = 1 at the first step, so lr_t = lr "
           "there.")
    assert_close(w4, [0.7], layout="(1,)", reveal=True,
                 name="the same call's next_w, 1 - 0.5 * 3 / sqrt(25)")
    # second step, t = 2: lr_t = 0.5 / (1 + 0.5); g = 12: s = 25 + 144 = 169
    w5, s5 = run(w4, np.array([12.0]), s4, hyper)
    assert_close(w5, [0.7 - 0.5 / 1.5 * 12 / 13], layout="(1,)", reveal=True,
                 name="its second step with g = 12, 0.7 - (0.5 / 1.5) * 12 / sqrt(169) (t = 2: "
                      "lr_t = lr / (1 + 1 * lr_decay))")
    # third step, t = 3: lr_t = 0.5 / (1 + 2 * 0.5) = 0.25; g = 5: s = 169 + 25 = 194
    w7, s7 = run(w5, np.array([5.0]), s5, hyper)
    ensure(float(s7["step"]) == 3,
           f'state["step"] is {s7["step"]} after the third step, expected 3')
    ensure(not np.allclose(w7, w5 - 0.5 / 1.5 ** 2 * 5 / np.sqrt(194.0)),
           "the third step of adagrad(..., lr=0.5, lr_decay=0.5, ...) used lr_t = lr / "
           "(1 + lr_decay)**2, a geometric decay. torch's decay is 1 / (1 + (t - 1) * lr_decay): "
           "at t = 3 that is lr / (1 + 2 * 0.5) = lr / 2.")
    assert_close(w7, [0.7 - 0.5 / 1.5 * 12 / 13 - 0.25 * 5 / np.sqrt(194.0)], layout="(1,)",
                 reveal=True,
                 name="its third step with g = 5, w2 - 0.25 * 5 / sqrt(194) (t = 3: lr_t = lr / "
                      "(1 + 2 * lr_decay))")
    # weight decay: g = dw + 0.5 * w = [1], s = 1: 2 - 0.5 * 1 / 1
    w6, _ = run(np.array([2.0]), np.array([0.0]), {}, dict(lr=0.5, weight_decay=0.5))
    call = "adagrad(np.array([2.0]), np.array([0.0]), {}, lr=0.5, weight_decay=0.5)"
    ensure(not (np.all(np.isfinite(w6)) and np.max(np.abs(w6)) > 1e3),
           f"{call}[0] came back {w6}, expected [1.5]: a huge step means the sum is (almost) 0. "
           "Does the sum accumulate g**2 with the weight-decay term (g = dw + weight_decay * w), "
           "not dw**2?")
    assert_close(w6, [1.5], layout="(1,)", reveal=True,
                 name=f"{call}[0] (g = dw + weight_decay * w)")
    # weight decay with a gradient: g = dw + 0.5 * w = [1, 2], s = g**2, each weight moves by lr
    w9, _ = run(np.array([1.0, -2.0]), np.array([0.5, 3.0]), {}, dict(lr=0.1, weight_decay=0.5))
    call = "adagrad(np.array([1.0, -2.0]), np.array([0.5, 3.0]), {}, lr=0.1, weight_decay=0.5)"
    ensure(not (np.allclose(w9, [0.85, -2.0]) or np.allclose(w9, [0.9, -2.05])),
           f"{call}[0] came back {w9}: the weight decay was added to the step, after the "
           "division (lr * (dw / (sqrt(s) + eps) + weight_decay * w)). Adagrad's weight_decay is "
           "the coupled L2 term: g = dw + weight_decay * w is what is squared into the sum and "
           "what is divided by sqrt(s) + eps.")
    assert_close(w9, [0.9, -2.1], layout="(2,)", reveal=True,
                 name=f"{call}[0] (g = dw + weight_decay * w = [1, 2], s = g**2)")
    # a fractional initial_accumulator_value: with dw = 0, s stays at 0.25
    s8 = run(np.array([1.0]), np.array([0.0]), {}, dict(initial_accumulator_value=0.25))[1]["sum"]
    call = "adagrad(np.array([1.0]), np.array([0.0]), {}, initial_accumulator_value=0.25)"
    ensure(not np.allclose(s8, 0.0),
           f'{call}[1]["sum"] came back 0, expected 0.25: is the accumulator an integer array '
           "(dtype=int)? It must hold floats, like w.")
    assert_close(s8, [0.25], layout="(1,)", reveal=True, name=f'{call}[1]["sum"]')
    # any shape: a (2, 3) weight matrix W = np.arange(6.0).reshape(2, 3), two steps from {}
    W = np.arange(6.0).reshape(2, 3)
    W1, S1 = run(W, np.ones((2, 3)), {}, dict(lr=0.5))
    W2, S2 = run(W1, np.ones((2, 3)), S1, dict(lr=0.5))
    _shape_of_w("adagrad", W2, S2, ("sum",))
    assert_close(W2, W - 0.5 - 0.5 / np.sqrt(2.0), layout="(2, 3)", reveal=True,
                 name="next_w after two steps of adagrad(W, np.ones((2, 3)), state, lr=0.5) from "
                      "state {} (W - 0.5 / sqrt(1) - 0.5 / sqrt(2))")
    print("✔ adagrad passes the visible checks")


def _make_adagrad_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    shape = _rule_case(kind, rng)
    s = scale_for(kind)
    hyper = dict(lr=float(rng.uniform(0.01, 1.0)),
                 lr_decay=float(rng.uniform(0.1, 1.0))
                 if kind != "random" or rng.random() < 0.5 else 0.0,
                 weight_decay=float(rng.uniform(0.01, 0.5))
                 if kind in ("odd sizes", "extreme values") or rng.random() < 0.5 else 0.0,
                 initial_accumulator_value=float(rng.uniform(0.01, 1.0))
                 if kind != "random" else 0.0,
                 eps=float(rng.choice([1e-10, 1e-3, 0.1])) if kind != "batch of one" else 0.5)

    def mixed() -> np.ndarray:
        return rng.normal(size=shape) * 10.0 ** rng.integers(-4, 1, size=shape) * s

    w, state = rng.normal(size=shape) * s, {}
    for _ in range({"batch of one": 0, "odd sizes": 0}.get(kind, int(rng.integers(2, 6)))):
        w, state = nnlib.optim.adagrad(w, mixed(), state, **hyper)
    return (w, mixed(), state, hyper)


@exercise_check
def adagrad_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``adagrad``: the contract, and the same step count, sum and ``next_w``
    as ``nnlib.optim.adagrad`` on 1-D and 2-D weights, from state ``{}`` and after 2 to 5 steps,
    with gradients spanning four orders of magnitude and random hyperparameters."""
    __tracebackhide__ = True
    _hidden_rule(fn, "adagrad",
                 lambda w, dw, state, hyper: nnlib.optim.adagrad(w, dw, state, **hyper),
                 _make_adagrad_case,
                 [('next_state["step"]', _step_of, 1e-9),
                  ('next_state["sum"]', lambda r: r[1]["sum"], 1e-15),
                  ("next_w", lambda r: r[0], 1e-9)])


# ---------------------------------------------------------------------------------------------
# rmsprop
# ---------------------------------------------------------------------------------------------


@exercise_check
def rmsprop(fn: Callable[..., Any]) -> None:
    """Visible checks of ``rmsprop(w, dw, state, *, lr=1e-2, alpha=0.99, eps=1e-8,
    weight_decay=0.0)``:

    - it is not ``nnlib.optim.rmsprop`` and does not call it;
    - the update-rule contract, with ``"square_avg"`` (shaped like ``w``, a copy);
    - the first average with ``alpha = 0.75``: alpha weighs the old average, the ``alpha``
      given is used, and the average starts at 0;
    - eps after the square root, and no bias correction;
    - the second step; two weights whose gradients are 100 times apart move alike;
    - weight decay enters the gradient that is squared and divided (not added to the step
      after the division), with a nonzero gradient and with ``dw = 0``;
    - two steps on a (2, 3) weight matrix.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.rmsprop,
                     args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}))
    run = _checked(fn, "rmsprop")
    # w = [1], g1 = [2], lr = 0.1, alpha = 0.75, eps = 0.5: v = 0.75 * 0 + 0.25 * 4 = 1
    hyper = dict(lr=0.1, alpha=0.75, eps=0.5)
    w1, s1 = run(np.array([1.0]), np.array([2.0]), {}, hyper)
    call = "rmsprop(np.array([1.0]), np.array([2.0]), {}, lr=0.1, alpha=0.75, eps=0.5)"
    ensure(not np.allclose(s1["square_avg"], [3.0]),
           f'state["square_avg"] after {call} is 0.75 * g**2 = 3: alpha and 1 - alpha are '
           "swapped. alpha weighs the old average: v = alpha * v + (1 - alpha) * g**2 = "
           "0.25 * 4 = 1.")
    ensure(not np.allclose(s1["square_avg"], [0.04]),
           f'state["square_avg"] after {call} is 0.01 * g**2 = 0.04, what alpha = 0.99 gives; '
           "expected (1 - 0.75) * g**2 = 1. Use the `alpha` argument, not a fixed 0.99.")
    ensure(not np.allclose(s1["square_avg"], [4.0]),
           f'state["square_avg"] after {call} is g**2 = 4, expected 1: v starts at 0 (not at '
           "g**2), so after the first step v1 = alpha * 0 + (1 - alpha) * g**2 = 0.25 * 4.")
    assert_close(s1["square_avg"], [1.0], layout="(1,)", reveal=True,
                 name=f'{call}[1]["square_avg"]')
    ensure(not np.allclose(w1, 1 - 0.2 / np.sqrt(1.5)),
           "rmsprop put eps inside the square root, sqrt(v + eps). PyTorch adds it after: "
           "g / (sqrt(v) + eps).")
    ensure(not np.allclose(w1, 1 - 0.2 / 2.5),
           "rmsprop divided v by 1 - alpha**t (a bias correction, as in Adam): PyTorch's RMSprop "
           "has none, use v itself.")
    assert_close(w1, [1 - 0.2 / 1.5], layout="(1,)", reveal=True,
                 name="the same call's next_w, 1 - 0.1 * 2 / (sqrt(1) + 0.5)")
    # second step, g2 = [4]: v = 0.75 * 1 + 0.25 * 16 = 4.75
    w2, s2 = run(w1, np.array([4.0]), s1, hyper)
    assert_close(s2["square_avg"], [4.75], layout="(1,)", reveal=True,
                 name='the second step\'s state["square_avg"], 0.75 * 1 + 0.25 * 4**2')
    assert_close(w2, [1 - 0.2 / 1.5 - 0.4 / (np.sqrt(4.75) + 0.5)], layout="(1,)", reveal=True,
                 name="the second step, w1 - 0.1 * 4 / (sqrt(4.75) + 0.5)")
    # two weights whose gradients are 100 times apart move by the same 10 * lr at the first step
    assert_close(run(np.zeros(2), np.array([100.0, 1.0]), {}, dict(lr=0.01))[0], [-0.1, -0.1],
                 layout="(2,)", reveal=True,
                 name="rmsprop(np.zeros(2), np.array([100.0, 1.0]), {}, lr=0.01)[0] (defaults "
                      "alpha=0.99, eps=1e-8)")
    # weight decay with a gradient: g = dw + 0.5 * w = [1, 2], v = 0.25 * g**2 = [0.25, 1]
    w7, s7 = run(np.array([1.0, -2.0]), np.array([0.5, 3.0]), {}, dict(weight_decay=0.5, **hyper))
    call = ("rmsprop(np.array([1.0, -2.0]), np.array([0.5, 3.0]), {}, lr=0.1, alpha=0.75, "
            "eps=0.5, weight_decay=0.5)")
    ensure(not (np.allclose(w7, [0.9 - 0.1 / 6, -2.05]) or np.allclose(w7, [0.9, -2.1])),
           f"{call}[0] came back {w7}: the weight decay was added to the step, after the "
           "division (lr * (dw / (sqrt(v) + eps) + weight_decay * w)). RMSprop's weight_decay is "
           "the coupled L2 term: g = dw + weight_decay * w is what is squared into v and what "
           "is divided by sqrt(v) + eps.")
    ensure(not np.allclose(s7["square_avg"], [0.0625, 2.25]),
           f'{call}[1]["square_avg"] came back [0.0625, 2.25] = 0.25 * dw**2: v averages the '
           "square of g = dw + weight_decay * w (with the weight decay), not of dw.")
    assert_close(s7["square_avg"], [0.25, 1.0], layout="(2,)", reveal=True,
                 name=f'{call}[1]["square_avg"] (g = dw + weight_decay * w = [1, 2])')
    assert_close(w7, [0.9, -2.0 - 0.2 / 1.5], layout="(2,)", reveal=True,
                 name=f"{call}[0] = w - 0.1 * g / (sqrt(v) + 0.5)")
    # weight decay: g = dw + 0.5 * w = [1], v = 0.25: 2 - 0.1 * 1 / (0.5 + 0.5)
    assert_close(run(np.array([2.0]), np.array([0.0]), {}, dict(weight_decay=0.5, **hyper))[0],
                 [1.9], layout="(1,)", reveal=True,
                 name="rmsprop(np.array([2.0]), np.array([0.0]), {}, lr=0.1, alpha=0.75, "
                      "eps=0.5, weight_decay=0.5)[0]")
    # any shape: a (2, 3) weight matrix W = np.arange(6.0).reshape(2, 3), two steps from {}
    W = np.arange(6.0).reshape(2, 3)
    W1, S1 = run(W, np.ones((2, 3)), {}, dict(lr=0.1, alpha=0.75, eps=0.5))
    W2, S2 = run(W1, np.ones((2, 3)), S1, dict(lr=0.1, alpha=0.75, eps=0.5))
    _shape_of_w("rmsprop", W2, S2, ("square_avg",))
    assert_close(W2, W - 0.1 / (0.5 + 0.5) - 0.1 / (np.sqrt(0.4375) + 0.5), layout="(2, 3)",
                 reveal=True,
                 name="next_w after two steps of rmsprop(W, np.ones((2, 3)), state, lr=0.1, "
                      "alpha=0.75, eps=0.5) from state {} (v = 0.25, then 0.4375)")
    print("✔ rmsprop passes the visible checks")


def _make_rmsprop_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    shape = _rule_case(kind, rng)
    s = scale_for(kind)
    hyper = dict(lr=float(rng.uniform(1e-3, 0.5)), alpha=float(rng.uniform(0.5, 0.999)),
                 eps=float(rng.choice([1e-8, 1e-2, 0.1])) if kind != "batch of one" else 0.5,
                 weight_decay=float(rng.uniform(0.01, 0.5))
                 if kind in ("odd sizes", "extreme values") or rng.random() < 0.5 else 0.0)

    def mixed() -> np.ndarray:
        return rng.normal(size=shape) * 10.0 ** rng.integers(-4, 1, size=shape) * s

    w, state = rng.normal(size=shape) * s, {}
    for _ in range({"batch of one": 0, "odd sizes": 0}.get(kind, int(rng.integers(2, 6)))):
        w, state = nnlib.optim.rmsprop(w, mixed(), state, **hyper)
    return (w, mixed(), state, hyper)


@exercise_check
def rmsprop_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``rmsprop``: the contract, and the same average and ``next_w`` as
    ``nnlib.optim.rmsprop`` on 1-D and 2-D weights, from state ``{}`` and after 2 to 5 steps."""
    __tracebackhide__ = True
    _hidden_rule(fn, "rmsprop",
                 lambda w, dw, state, hyper: nnlib.optim.rmsprop(w, dw, state, **hyper),
                 _make_rmsprop_case,
                 [('next_state["square_avg"]', lambda r: r[1]["square_avg"], 1e-15),
                  ("next_w", lambda r: r[0], 1e-9)])


# ---------------------------------------------------------------------------------------------
# adam
# ---------------------------------------------------------------------------------------------


@exercise_check
def adam(fn: Callable[..., Any]) -> None:
    """Visible checks of ``adam(w, dw, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0.0)``, two steps from ``w = [1, -2, 0.5]``:

    - it is neither ``nnlib.optim.adam`` nor ``adamw`` and calls neither;
    - the update-rule contract, with ``"step"`` (a whole number, 1 after the first step),
      ``"exp_avg"`` and ``"exp_avg_sq"`` (shaped like ``w``, copies);
    - the first step is finite (t starts at 1; parentheses around the denominators);
    - beta1 goes with m and beta2 with v; the state stores the uncorrected m and v;
    - both averages are bias-corrected in the step (each weight moves by about lr at first);
    - eps after the square root; the second step (t = 2, ``beta ** t`` not ``beta * t``);
    - the ``betas`` given are used; weight decay is the coupled L2 term, in m and v;
    - two steps on a (2, 3) weight matrix.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.adam, nnlib.optim.adamw, nnlib.optim._adam_step,
                     args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}))
    run = _checked(fn, "adam")
    # The first step from {}: w = [1, -2, 0.5], g1 = [3, -1e-4, 250], lr = 0.01, default betas
    w, g1 = np.array([1.0, -2.0, 0.5]), np.array([3.0, -1e-4, 250.0])
    w1, s1 = run(w, g1, {}, dict(lr=0.01))
    call = "adam(w, g1, {}, lr=0.01)"
    ensure(np.all(np.isfinite(np.asarray(w1, dtype=float))),
           f"the first step of {call} returned inf or NaN: either t = 0 in 1 - beta**t (t is 1 "
           'at the first step: state.get("step", 0) + 1; with t = 0 you divide by '
           "1 - beta**0 = 0), or a negative number under np.sqrt / wrong parentheses: "
           "m / (1 - beta1**t), v / (1 - beta2**t), not m / 1 - beta1**t.")
    ensure(float(s1["step"]) == 1,
           f'state["step"] is {s1["step"]} after the first step of adam, expected 1: t counts '
           "the steps taken, starting at 1.")
    m_swapped = np.allclose(s1["exp_avg"], 0.001 * g1)
    v_swapped = np.allclose(s1["exp_avg_sq"], 0.1 * g1 ** 2, atol=1e-20)
    ensure(not (m_swapped or v_swapped),
           f"after the first step of {call}, "
           + ('state["exp_avg"] is (1 - 0.999) * g1' if m_swapped else "")
           + (" and " if m_swapped and v_swapped else "")
           + ('state["exp_avg_sq"] is (1 - 0.9) * g1**2' if v_swapped else "")
           + (": beta1 and beta2 are swapped" if m_swapped and v_swapped else
              ": m uses beta2 instead of beta1" if m_swapped else
              ": v uses beta1 instead of beta2")
           + ". betas = (beta1, beta2) = (0.9, 0.999): m, the average of the gradients, uses "
           "beta1 = 0.9, and v, the average of their squares, uses beta2 = 0.999.")
    ensure(not np.allclose(s1["exp_avg"], g1),
           f'state["exp_avg"] after the first step of {call} is g1, 10 times too large: it holds '
           "the corrected m_hat. Store the uncorrected m = (1 - beta1) * g1 = 0.1 * g1; the bias "
           "correction only enters the step.")
    ensure(not np.allclose(s1["exp_avg_sq"], g1 ** 2, atol=1e-20),
           f'state["exp_avg_sq"] after the first step of {call} is g1**2, 1000 times too large: '
           "it holds the corrected v_hat. Store the uncorrected v = (1 - beta2) * g1**2 = "
           "0.001 * g1**2; the bias correction only enters the step.")
    assert_close(s1["exp_avg"], 0.1 * g1, layout="(3,)", reveal=True,
                 name=f'{call}[1]["exp_avg"] = (1 - beta1) * g1 (m starts at 0, not corrected)')
    assert_close(s1["exp_avg_sq"], 0.001 * g1 ** 2, layout="(3,)", reveal=True, atol=1e-20,
                 name=f'{call}[1]["exp_avg_sq"] = (1 - beta2) * g1**2 (v starts at 0, not '
                      "corrected)")
    moved = np.abs(w - np.asarray(w1, dtype=float)) / 0.01     # how far each weight moved, in lr
    for factor, why in [(0.1 / np.sqrt(0.001), "Adam without bias correction: (1 - beta1) / "
                         "sqrt(1 - beta2). Divide m by 1 - beta1**t and v by 1 - beta2**t"),
                        (1 / np.sqrt(0.001), "only m was corrected: correct v too, v_hat = v / "
                         "(1 - beta2**t)"),
                        (0.1, "only v was corrected: correct m too, m_hat = m / "
                         "(1 - beta1**t)")]:
        ensure(not np.allclose(moved, factor, rtol=1e-2),
               f"the first step of {call} moved every weight by {factor:.3g} * lr, not about "
               f"lr: that is {why}.")
    ensure(not np.allclose(w1, w - 0.01 * g1 / np.sqrt(g1 ** 2 + 1e-8)),
           f"the first step of {call} put eps inside the square root, sqrt(v_hat + eps): it "
           "shows on the weight whose gradient is -1e-4. PyTorch adds eps after the root: "
           "m_hat / (sqrt(v_hat) + eps).")
    assert_close(w1, [0.9900000000333333, -1.99000099990001, 0.4900000000004], layout="(3,)",
                 reveal=True,
                 name=f"the first step, {call}[0] = w - lr * g1 / (|g1| + eps), about "
                      "w - lr * sign(g1)")
    # The second step: g2 = [-1, 2e-4, 100]
    g2 = np.array([-1.0, 2e-4, 100.0])
    w2, s2 = run(w1, g2, s1, dict(lr=0.01))
    ensure(float(s2["step"]) == 2,
           f'state["step"] is {s2["step"]} after the second step of adam, expected 2')
    ensure(np.all(np.isfinite(np.asarray(w2, dtype=float))),
           "the second step of adam(w1, g2, state1, lr=0.01) returned inf or NaN, although the "
           "first step was finite: did you write beta1 * t instead of beta1 ** t? At t = 2, "
           "1 - beta2 * t is negative, and np.sqrt of a negative number is NaN.")
    assert_close(s2["exp_avg"], [0.17, 1.1e-05, 32.5], layout="(3,)", reveal=True, atol=1e-15,
                 name='the second step\'s state["exp_avg"], 0.9 * m1 + 0.1 * g2')
    assert_close(s2["exp_avg_sq"], [0.009991, 4.999e-11, 72.4375], layout="(3,)", reveal=True,
                 atol=1e-20, name='the second step\'s state["exp_avg_sq"], 0.999 * v1 + 0.001 * '
                                  "g2**2")
    assert_close(w2, [0.985997814331691, -1.9936618036755474, 0.4810142479551447],
                 layout="(3,)", reveal=True,
                 name="the second step, adam(w1, g2, state1, lr=0.01)[0] (bias correction with "
                      "t = 2)")
    # The same two steps with betas = (0.5, 0.75)
    hyper_b = dict(lr=0.01, betas=(0.5, 0.75))
    w5, s5 = run(w, g1, {}, hyper_b)
    w6, s6 = run(w5, g2, s5, hyper_b)
    ensure(not np.allclose(s6["exp_avg"], [0.17, 1.1e-05, 32.5], atol=1e-15),
           'with betas=(0.5, 0.75), the second step\'s state["exp_avg"] came back [0.17, 1.1e-05, '
           "32.5], what the default betas (0.9, 0.999) give; expected 0.5 * m1 + 0.5 * g2 = "
           "[0.25, 7.5e-05, 112.5]. Take beta1 and beta2 from the `betas` argument, not fixed "
           "numbers.")
    assert_close(s6["exp_avg"], [0.25, 7.5e-05, 112.5], layout="(3,)", reveal=True, atol=1e-15,
                 name='the second step\'s state["exp_avg"] with betas=(0.5, 0.75), 0.5 * m1 + '
                      "0.5 * g2")
    assert_close(s6["exp_avg_sq"], [1.9375, 1.1875e-08, 14218.75], layout="(3,)", reveal=True,
                 atol=1e-20,
                 name='the second step\'s state["exp_avg_sq"] with betas=(0.5, 0.75), 0.75 * v1 '
                      "+ 0.25 * g2**2")
    assert_close(w6, [0.9884160301631553, -1.996070401287987, 0.4816794970574831],
                 layout="(3,)", reveal=True,
                 name="the second step with lr=0.01, betas=(0.5, 0.75) (bias correction with "
                      "1 - 0.5**2 and 1 - 0.75**2)")
    # eps goes after the square root: w = [1, 1], g = [1e-3, 1], lr = 0.1, eps = 0.1
    w3, _ = run(np.array([1.0, 1.0]), np.array([1e-3, 1.0]), {}, dict(lr=0.1, eps=0.1))
    ensure(not np.allclose(w3, 1 - 0.1 * np.array([1e-3, 1.0])
                           / np.sqrt(np.array([1e-6, 1.0]) + 0.1)),
           "adam put eps inside the square root, sqrt(v_hat + eps). PyTorch adds it after: "
           "m_hat / (sqrt(v_hat) + eps).")
    assert_close(w3, [0.999009900990099, 0.9090909090909091], layout="(2,)", reveal=True,
                 name="adam(np.array([1.0, 1.0]), np.array([1e-3, 1.0]), {}, lr=0.1, eps=0.1)[0] "
                      "= w - 0.1 * g / (|g| + 0.1)")
    # weight decay is coupled: g = dw + 0.5 * w = [2], and the first step moves by about lr
    w4, _ = run(np.array([4.0]), np.array([0.0]), {}, dict(lr=0.1, weight_decay=0.5))
    call = "adam(np.array([4.0]), np.array([0.0]), {}, lr=0.1, weight_decay=0.5)"
    ensure(not (np.all(np.isfinite(w4)) and np.max(np.abs(w4)) > 1e3),
           f"{call}[0] came back {w4}, expected [3.9]: a huge step means v is (almost) 0. Both m "
           "and v are built from g = dw + weight_decay * w (v from g * g, not dw * dw).")
    ensure(not np.allclose(w4, [3.8]),
           f"{call} decayed w directly (w * (1 - lr * weight_decay), AdamW's decoupled decay). "
           "adam's weight_decay is the coupled L2 term: g = dw + weight_decay * w goes into m "
           "and v.")
    assert_close(w4, [3.9], layout="(1,)", reveal=True,
                 name=f"{call}[0] (g = dw + weight_decay * w = 2)")
    # any shape: a (2, 3) weight matrix W = np.arange(6.0).reshape(2, 3), two steps from {}
    W = np.arange(6.0).reshape(2, 3)
    W1, S1 = run(W, np.ones((2, 3)), {}, dict(lr=0.1))
    W2, S2 = run(W1, np.ones((2, 3)), S1, dict(lr=0.1))
    _shape_of_w("adam", W2, S2, ("exp_avg", "exp_avg_sq"))
    assert_close(W2, W - 0.2, layout="(2, 3)", reveal=True,
                 name="next_w after two steps of adam(W, np.ones((2, 3)), state, lr=0.1) from "
                      "state {} (each step moves every weight by lr)")
    print("✔ adam passes the visible checks")


def _make_adam_case(rng: np.random.Generator, kind: str,
                    reference: Callable[..., Any] = nnlib.optim.adam,
                    decay_always: bool = False) -> tuple[Any, ...]:
    shape = _rule_case(kind, rng)
    s = scale_for(kind)
    hyper = dict(lr=float(rng.uniform(1e-3, 0.5)),
                 betas=(float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.9999))),
                 eps=float(rng.choice([1e-8, 1e-3, 0.1])))
    if decay_always:
        hyper["weight_decay"] = float(rng.uniform(0.01, 0.5))
    else:
        hyper["weight_decay"] = (float(rng.uniform(0.01, 0.5))
                                 if kind in ("odd sizes", "extreme values") or rng.random() < 0.5
                                 else 0.0)

    def mixed() -> np.ndarray:
        return rng.normal(size=shape) * 10.0 ** rng.integers(-5, 1, size=shape) * s

    w, state = rng.normal(size=shape) * s, {}
    for _ in range({"batch of one": 0, "odd sizes": 0}.get(kind, int(rng.integers(2, 7)))):
        w, state = reference(w, mixed(), state, **hyper)
    return (w, mixed(), state, hyper)


@exercise_check
def adam_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``adam``: the contract, and the same step count, averages and ``next_w``
    as ``nnlib.optim.adam`` on 1-D and 2-D weights, from state ``{}`` and after 2 to 6 steps,
    with gradients spanning five orders of magnitude and random betas, eps and weight decay."""
    __tracebackhide__ = True
    _hidden_rule(fn, "adam",
                 lambda w, dw, state, hyper: nnlib.optim.adam(w, dw, state, **hyper),
                 _make_adam_case,
                 [('next_state["step"]', _step_of, 1e-9),
                  ('next_state["exp_avg"]', lambda r: r[1]["exp_avg"], 1e-20),
                  ('next_state["exp_avg_sq"]', lambda r: r[1]["exp_avg_sq"], 1e-20),
                  ("next_w", lambda r: r[0], 1e-9)])


# ---------------------------------------------------------------------------------------------
# adamw
# ---------------------------------------------------------------------------------------------


@exercise_check
def adamw(fn: Callable[..., Any]) -> None:
    """Visible checks of ``adamw(w, dw, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=1e-2)``:

    - it is neither ``nnlib.optim.adamw`` nor ``nnlib.optim.adam`` and calls neither (your
      own ``adam`` is welcome);
    - the update-rule contract, with Adam's state keys;
    - with ``dw = 0`` only the decay acts: decoupled (not added to the gradient), applied once,
      scaled by lr; m stays 0;
    - the decay comes first, on the old weights;
    - two steps with gradients, with the default betas and eps, then with other ``betas`` and
      ``eps`` (passed on to the Adam step);
    - two steps on a (2, 3) weight matrix.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.optim.adamw, nnlib.optim.adam, nnlib.optim._adam_step,
                     args=(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}))
    run = _checked(fn, "adamw")
    # dw = 0: the Adam part is 0 / (0 + eps) = 0, so only the decay acts: w * (1 - lr * wd)
    w1, s1 = run(np.array([4.0, -1.0]), np.zeros(2), {}, dict(lr=0.1, weight_decay=0.5))
    call = "adamw(np.array([4.0, -1.0]), np.zeros(2), {}, lr=0.1, weight_decay=0.5)"
    ensure(not np.allclose(w1, [3.9, -0.9]),
           f"{call} added weight_decay * w to the gradient (Adam's coupled L2 term), which Adam "
           "then normalises to a step of about lr. AdamW shrinks w directly: "
           "w * (1 - lr * weight_decay).")
    ensure(not np.allclose(w1, [3.7, -0.85]),
           f"{call} came back [3.7, -0.85], expected w * (1 - 0.1 * 0.5) = [3.8, -0.95]: the "
           "decay is applied twice, once to w and once more by adam, which adds weight_decay * w "
           "to the gradient. Call adam with weight_decay=0.0.")
    ensure(not np.allclose(w1, [2.0, -0.5]),
           f"{call} came back [2, -0.5] = w * (1 - weight_decay), expected [3.8, -0.95]: the "
           "decay is scaled by the learning rate, w * (1 - lr * weight_decay).")
    assert_close(w1, [3.8, -0.95], layout="(2,)", reveal=True,
                 name=f"{call}[0] = w * (1 - 0.1 * 0.5)")
    assert_close(s1["exp_avg"], [0.0, 0.0], layout="(2,)", reveal=True,
                 name='the same call\'s state["exp_avg"]: m comes from dw alone, without '
                      "weight_decay * w")
    # the decay comes first, on the old w: w = [4], dw = [1], lr = 0.5; Adam moves by lr
    w2, _ = run(np.array([4.0]), np.array([1.0]), {}, dict(lr=0.5, weight_decay=0.5))
    call = "adamw(np.array([4.0]), np.array([1.0]), {}, lr=0.5, weight_decay=0.5)"
    ensure(not np.allclose(w2, [2.625]),
           f"{call} decayed the weights after the Adam step, (w - 0.5) * 0.75. Decay first, then "
           "step: w * 0.75 - 0.5.")
    assert_close(w2, [2.5], layout="(1,)", reveal=True, name=f"{call}[0] = 4 * (1 - 0.25) - 0.5")
    # two steps with gradients [2, -0.5] then [-1, 0.25], from w = [4, -1], lr = 0.1, wd = 0.5
    call = "adamw(np.array([4.0, -1.0]), np.array([2.0, -0.5]), {}, lr=0.1, weight_decay=0.5"
    w3, s3 = run(np.array([4.0, -1.0]), np.array([2.0, -0.5]), {}, dict(lr=0.1, weight_decay=0.5))
    assert_close(w3, [3.7000000004999998, -0.8500000019999999], layout="(2,)", reveal=True,
                 name=f"{call})[0]")
    w4, s4 = run(w3, np.array([-1.0, 0.25]), s3, dict(lr=0.1, weight_decay=0.5))
    ensure(float(s4["step"]) == 2,
           f'state["step"] is {s4["step"]} after the second step of adamw, expected 2')
    assert_close(w4, [3.488366296677431, -0.7808662986078463], layout="(2,)", reveal=True,
                 name="its second step, with the gradient [-1, 0.25]")
    # the same two steps with betas = (0.5, 0.75) and eps = 0.1
    hyper_b = dict(lr=0.1, weight_decay=0.5, betas=(0.5, 0.75), eps=0.1)
    w5, s5 = run(np.array([4.0, -1.0]), np.array([2.0, -0.5]), {}, hyper_b)
    ensure(not np.allclose(w5, [3.7, -0.85]),
           f"{call}, betas=(0.5, 0.75), eps=0.1)[0] came back [3.7, -0.85], the step with the "
           "default eps = 1e-8; expected [3.70476, -0.866667]. If adamw calls adam, pass betas "
           "and eps on to it.")
    assert_close(w5, [3.7047619047619045, -0.8666666666666666], layout="(2,)", reveal=True,
                 name=f"{call}, betas=(0.5, 0.75), eps=0.1)[0]")
    w6, _ = run(w5, np.array([-1.0, 0.25]), s5, hyper_b)
    ensure(not np.allclose(w6, [3.494474594809797, -0.8020777268970086]),
           "the second step of adamw with betas=(0.5, 0.75), eps=0.1 came back [3.49447, "
           "-0.802078], the step with the default betas (0.9, 0.999); expected [3.51952, "
           "-0.823333]. If adamw calls adam, pass betas and eps on to it.")
    assert_close(w6, [3.5195238095238093, -0.8233333333333333], layout="(2,)", reveal=True,
                 name="its second step with betas=(0.5, 0.75), eps=0.1, and the gradient "
                      "[-1, 0.25]")
    # any shape: a (2, 3) weight matrix W = np.arange(6.0).reshape(2, 3), two steps from {}
    W = np.arange(6.0).reshape(2, 3)
    W1, S1 = run(W, np.ones((2, 3)), {}, dict(lr=0.1, weight_decay=0.5))
    W2, S2 = run(W1, np.ones((2, 3)), S1, dict(lr=0.1, weight_decay=0.5))
    _shape_of_w("adamw", W2, S2, ("exp_avg", "exp_avg_sq"))
    assert_close(W2, (W * 0.95 - 0.1) * 0.95 - 0.1, layout="(2, 3)", reveal=True,
                 name="next_w after two steps of adamw(W, np.ones((2, 3)), state, lr=0.1, "
                      "weight_decay=0.5) from state {} (each step: w * 0.95 - 0.1)")
    print("✔ adamw passes the visible checks")


@exercise_check
def adamw_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``adamw``: the contract, and the same averages and ``next_w`` as
    ``nnlib.optim.adamw`` on 1-D and 2-D weights, from state ``{}`` and after 2 to 6 steps,
    always with weight decay."""
    __tracebackhide__ = True
    _hidden_rule(fn, "adamw",
                 lambda w, dw, state, hyper: nnlib.optim.adamw(w, dw, state, **hyper),
                 lambda rng, kind: _make_adam_case(rng, kind, nnlib.optim.adamw, True),
                 [('next_state["exp_avg"]', lambda r: r[1]["exp_avg"], 1e-20),
                  ('next_state["exp_avg_sq"]', lambda r: r[1]["exp_avg_sq"], 1e-20),
                  ("next_w", lambda r: r[0], 1e-9)])


# ---------------------------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------------------------


def _number(fn: Callable[..., Any], call: str, *args: Any, advice: str = "") -> Any:
    """fn(*args), which must return one number."""
    __tracebackhide__ = True
    lr = fn(*args)
    ensure(lr is not None,
           f"{call} returned None: did you forget `return`? " + (advice or (
               "(A function that only computes or prints its result returns None.)")))
    return lr


@exercise_check
def exponential_lr(fn: Callable[..., Any]) -> None:
    """Visible checks of ``exponential_lr(epoch, lr0, gamma)``:

    - it is not ``nnlib.schedules.exponential_lr`` and does not call it;
    - ``**`` is the power (``^`` is XOR); it returns one number per epoch, not None or a list;
    - the rates of epochs 0 to 4 with lr0 = 2 and gamma = 0.9, with a targeted message for each
      classic wrong curve (one epoch early, a product with the epoch, ``epoch ** gamma``,
      ``1 - gamma``, lr0 forgotten, ``exp(-gamma * epoch)``, a division, whole numbers);
    - an integer lr0, gamma = 1, epoch 0, and 300 epochs.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.schedules.exponential_lr, args=(3, 0.1, 0.5))
    name = "[exponential_lr(e, 2.0, 0.9) for e in range(5)]"
    curve = []
    for e in range(5):
        try:
            lr = _number(fn, f"exponential_lr({e}, 2.0, 0.9)", e, 2.0, 0.9)
        except TypeError as exc:
            if "^" in str(exc):
                raise GradingError(
                    f"exponential_lr({e}, 2.0, 0.9) raised TypeError: {exc}. In Python `^` is "
                    "bitwise XOR, not a power: write gamma ** epoch.") from None
            raise
        ensure(np.ndim(lr) == 0,
               f"exponential_lr({e}, 2.0, 0.9) returned a {type(lr).__name__} of shape "
               f"{np.shape(lr)}: return the rate of that one epoch, a single number (not the "
               "list of the rates of all epochs so far).")
        curve.append(lr)
    bugs = [
        ([1.8, 1.62, 1.458, 1.3122, 1.18098], "decays one epoch early: epoch 0 uses lr0 itself "
         "(gamma ** 0 = 1). Use gamma ** epoch, not gamma ** (epoch + 1)."),
        ([0.0, 1.8, 3.6, 5.4, 7.2], "grows with the epoch: lr0 * gamma * epoch multiplies by the "
         "epoch. Raise gamma to the power epoch instead: gamma ** epoch (** is Python's power, "
         "* a product)."),
        ([0.0, 2.0, 2.0 * 2**0.9, 2.0 * 3**0.9, 2.0 * 4**0.9], "raises the epoch to the power "
         "gamma: write gamma ** epoch, not epoch ** gamma."),
        ([2.0, 0.2, 0.02, 0.002, 0.0002], "decays far too fast: gamma is the fraction of the "
         "rate KEPT each epoch, so multiply by gamma ** epoch, not (1 - gamma) ** epoch."),
        ([1.0, 0.9, 0.81, 0.729, 0.6561], "is gamma ** epoch alone: multiply it by lr0 = 2.0."),
        (list(2.0 * np.exp(-0.9 * np.arange(5))), "is lr0 * exp(-gamma * epoch), a different "
         "exponential: this schedule multiplies by gamma itself each epoch, "
         "lr0 * gamma ** epoch."),
        ([2.0, 2 / 0.9, 2 / 0.81, 2 / 0.729, 2 / 0.6561], "grows: divide by gamma ** epoch and "
         "the rate rises. Multiply: lr0 * gamma ** epoch."),
    ]
    if all(isinstance(lr, (int, float, np.number)) for lr in curve):
        for wrong, why in bugs:
            ensure(not np.allclose(np.asarray(curve, dtype=float), wrong, rtol=1e-6, atol=1e-12),
                   f"{name} = {[round(float(lr), 6) for lr in curve]} {why}")
        ensure(not all(float(lr).is_integer() for lr in curve[1:]),
               f"{name} = {list(curve)}: whole numbers only. A learning rate is a float: do not "
               "round or convert with int(), and do not use // (integer division).")
    assert_close(curve, [2.0, 1.8, 1.62, 1.458, 1.3122], layout="(5,)", reveal=True,
                 what="a list of numbers", name=name)
    assert_close(fn(3, 1, 0.5), 0.125, what="a number", reveal=True,
                 name="exponential_lr(3, 1, 0.5) (lr0 given as the integer 1)")
    assert_close(fn(np.int64(10), 0.3, 1.0), 0.3, what="a number", reveal=True,
                 name="exponential_lr(np.int64(10), 0.3, 1.0) (gamma = 1 keeps lr0)")
    assert_close(fn(0, 0.05, 0.01), 0.05, what="a number", reveal=True,
                 name="exponential_lr(0, 0.05, 0.01) (epoch 0 uses lr0)")
    assert_close(fn(300, 1.0, 0.98), 0.98**300, what="a number", reveal=True,
                 name="exponential_lr(300, 1.0, 0.98) (about 0.0023)")
    print("✔ exponential_lr passes the visible checks")


def _curve(fn: Callable[..., Any], num_epochs_at: int) -> Callable[..., np.ndarray]:
    """``(*args) -> [fn(e, *args[:-1]) for e in range(args[num_epochs_at])]`` as an array; the
    number of epochs is one of the generated arguments."""
    def run(*args: Any) -> np.ndarray:
        n = args[num_epochs_at]
        rest = args[:num_epochs_at] + args[num_epochs_at + 1:]
        return np.array([fn(e, *rest) for e in range(n)], dtype=float)
    return run


def _make_exponential_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    num_epochs = {"batch of one": 1, "odd sizes": int(rng.integers(2, 20)) * 2 + 1,
                  "extreme values": int(rng.integers(200, 500))}.get(
        kind, int(rng.integers(10, 60)))
    lr0 = float(rng.uniform(1e-4, 1.0)) * (1e3 if kind == "extreme values" else 1.0)
    gamma = {"odd sizes": 1.0, "extreme values": float(rng.uniform(0.01, 0.999))}.get(
        kind, float(rng.uniform(0.5, 0.99)))
    return (lr0, gamma, num_epochs)


@exercise_check
def exponential_lr_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``exponential_lr``: the same rates as ``nnlib.schedules.exponential_lr``
    over 1 to 500 epochs (gamma = 1, tiny gamma, large lr0)."""
    __tracebackhide__ = True
    check_against_reference(_curve(fn, 2), _curve(nnlib.schedules.exponential_lr, 2),
                            _make_exponential_case, layout="(num_epochs,)",
                            name="exponential_lr over the epochs 0, 1, 2, ...",
                            seed=hidden_seed(f"{SLUG}/exponential_lr"))


@exercise_check
def step_lr(fn: Callable[..., Any]) -> None:
    """Visible checks of ``step_lr(epoch, lr0, step_size, gamma=0.1)``:

    - it is not ``nnlib.schedules.step_lr`` and does not call it;
    - it returns a number (not None);
    - epochs 0 to 7 with step_size 3 and gamma 0.5: a staircase (``//``, not ``/``), the
      first decay at epoch step_size, not one epoch early;
    - the default gamma = 0.1; step_size 1.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.schedules.step_lr, args=(5, 0.1, 2, 0.5))
    curve = [_number(fn, f"step_lr({e}, 1.0, 3, 0.5)", e, 1.0, 3, 0.5) for e in range(8)]
    ensure(not np.allclose(np.asarray(curve, dtype=float), 0.5 ** (np.arange(8) / 3)),
           "[step_lr(e, 1.0, 3, 0.5) for e in range(8)] decays a little every epoch "
           f"({[round(float(lr), 6) for lr in curve]}): epoch / step_size is a fraction. The "
           "rate is a staircase, constant for step_size epochs: count the decays with floor "
           "division, epoch // step_size.")
    ensure(not np.allclose(curve, [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]),
           "[step_lr(e, 1.0, 3, 0.5) for e in range(8)] decays one epoch early: epochs 0, 1 and "
           "2 use lr0, and the first decay comes at epoch step_size = 3 (epoch // step_size, not "
           "(epoch + 1) // step_size).")
    assert_close(curve, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25], layout="(8,)", reveal=True,
                 what="a list of numbers", name="[step_lr(e, 1.0, 3, 0.5) for e in range(8)]")
    lr25 = _number(fn, "step_lr(25, 0.2, 10)", 25, 0.2, 10)
    ensure(not (np.ndim(lr25) == 0 and isinstance(lr25, (int, float, np.number))
                and not np.isclose(float(lr25), 0.002)
                and np.isclose(float(fn(25, 0.2, 10, 0.1)), 0.002)),
           f"step_lr(25, 0.2, 10) came back {lr25}, expected 0.002, but step_lr(25, 0.2, 10, 0.1) "
           "is right: the default value of gamma in the signature is wrong (gamma = 0.1 by "
           "default, like torch's StepLR: def step_lr(epoch, lr0, step_size, gamma=0.1)).")
    assert_close(fn(25, 0.2, 10), 0.002, what="a number", reveal=True,
                 name="step_lr(25, 0.2, 10) (gamma = 0.1 by default: two decays by epoch 25)")
    assert_close([fn(e, 0.3, 1, 0.9) for e in range(3)], [0.3, 0.27, 0.243], layout="(3,)",
                 reveal=True, what="a list of numbers",
                 name="[step_lr(e, 0.3, 1, 0.9) for e in range(3)]")
    print("✔ step_lr passes the visible checks")


def _make_step_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    step_size = {"batch of one": 1, "odd sizes": int(rng.integers(1, 5)) * 2 + 1}.get(
        kind, int(rng.integers(2, 9)))
    lr0 = float(rng.uniform(1e-4, 1.0)) * (1e3 if kind == "extreme values" else 1.0)
    gamma = float(rng.uniform(0.05, 0.95))
    # the odd-sizes case leaves gamma out: the default (0.1) is part of the contract
    return (lr0, step_size, None if kind == "odd sizes" else gamma, int(rng.integers(12, 40)))


def _step_curve(fn: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """``(lr0, step_size, gamma, num_epochs) -> the rates of epochs 0 .. num_epochs - 1``;
    gamma None calls ``fn(epoch, lr0, step_size)`` with its default gamma."""
    def run(lr0: float, step_size: int, gamma: float | None, num_epochs: int) -> np.ndarray:
        extra = () if gamma is None else (gamma,)
        return np.array([fn(e, lr0, step_size, *extra) for e in range(num_epochs)], dtype=float)
    return run


@exercise_check
def step_lr_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``step_lr``: the same rates as ``nnlib.schedules.step_lr`` over 12 to
    40 epochs (step_size 1, odd step sizes with the default gamma, large lr0)."""
    __tracebackhide__ = True
    check_against_reference(_step_curve(fn), _step_curve(nnlib.schedules.step_lr),
                            _make_step_case,
                            name="step_lr over the epochs 0, 1, 2, ...", layout="(num_epochs,)",
                            seed=hidden_seed(f"{SLUG}/step_lr"))


@exercise_check
def cosine_lr(fn: Callable[..., Any]) -> None:
    """Visible checks of ``cosine_lr(epoch, lr0, T_max, eta_min=0.0)``:

    - it is neither ``nnlib.schedules.cosine_lr`` nor ``warmup_cosine_lr`` and calls neither;
    - it starts at lr0 and ends at ``eta_min`` (0 by default) at epoch ``T_max``;
    - the midpoint ``(lr0 + eta_min) / 2`` at ``T_max / 2``;
    - the five rates of a cosine over ``T_max = 4`` with ``eta_min = 0.2``.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.schedules.cosine_lr, nnlib.schedules.warmup_cosine_lr,
                     args=(3, 0.1, 10, 0.01))
    assert_close(_number(fn, "cosine_lr(0, 0.5, 10)", 0, 0.5, 10), 0.5, what="a number",
                 reveal=True, name="cosine_lr(0, 0.5, 10) (it starts at lr0)")
    assert_close(fn(10, 0.5, 10), 0.0, what="a number", reveal=True, atol=1e-12,
                 name="cosine_lr(10, 0.5, 10) (it ends at eta_min = 0 at epoch T_max)")
    assert_close(fn(5, 0.5, 10, eta_min=0.1), 0.3, what="a number", reveal=True,
                 name="cosine_lr(5, 0.5, 10, eta_min=0.1) (the midpoint (lr0 + eta_min) / 2 at "
                      "T_max / 2)")
    assert_close(fn(8, 0.5, 8, eta_min=0.1), 0.1, what="a number", reveal=True,
                 name="cosine_lr(8, 0.5, 8, eta_min=0.1) (it ends at eta_min)")
    assert_close([fn(e, 1.0, 4, 0.2) for e in range(5)],
                 [1.0, 0.2 + 0.8 * (1 + np.cos(np.pi / 4)) / 2, 0.6,
                  0.2 + 0.8 * (1 + np.cos(3 * np.pi / 4)) / 2, 0.2],
                 layout="(5,)", reveal=True, what="a list of numbers",
                 name="[cosine_lr(e, 1.0, 4, 0.2) for e in range(5)]")
    print("✔ cosine_lr passes the visible checks")


def _make_cosine_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    T_max = {"batch of one": 1, "odd sizes": int(rng.integers(1, 9)) * 2 + 1}.get(
        kind, int(rng.integers(2, 60)))
    lr0 = float(rng.uniform(1e-4, 1.0)) * (1e3 if kind == "extreme values" else 1.0)
    eta_min = float(rng.uniform(0.0, lr0)) if kind != "batch of one" else 0.0
    return (lr0, T_max, eta_min)


def _cosine_curve(fn: Callable[..., Any]) -> Callable[..., np.ndarray]:
    return lambda lr0, T_max, eta_min: np.array(
        [fn(e, lr0, T_max, eta_min) for e in range(T_max + 1)], dtype=float)


@exercise_check
def cosine_lr_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``cosine_lr``: the same rates as ``nnlib.schedules.cosine_lr`` over the
    epochs 0 to T_max (T_max = 1, odd T_max, a random eta_min, large lr0)."""
    __tracebackhide__ = True
    check_against_reference(_cosine_curve(fn), _cosine_curve(nnlib.schedules.cosine_lr),
                            _make_cosine_case, name="cosine_lr over the epochs 0, 1, ..., T_max",
                            layout="(T_max + 1,)", atol=1e-12,
                            seed=hidden_seed(f"{SLUG}/cosine_lr"))


@exercise_check
def linear_warmup(fn: Callable[..., Any]) -> None:
    """Visible checks of ``linear_warmup(epoch, lr0, warmup_epochs)``:

    - it is neither ``nnlib.schedules.linear_warmup`` nor ``warmup_cosine_lr`` and calls
      neither;
    - it returns a number on every branch;
    - epochs 0 to 6 with 4 warm-up epochs: the first epoch's rate is not 0, and the rate stays
      at lr0 after the warm-up;
    - ``warmup_epochs = 0`` (no warm-up, no division by 0) and ``warmup_epochs = 1``.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.schedules.linear_warmup, nnlib.schedules.warmup_cosine_lr,
                     args=(1, 0.1, 4))
    curve = [_number(fn, f"linear_warmup({e}, 1.0, 4)", e, 1.0, 4,
                     advice="(Every branch of an if must end with a return.)") for e in range(7)]
    ensure(not np.allclose(curve[:4], [0.0, 0.25, 0.5, 0.75]),
           "[linear_warmup(e, 1.0, 4) for e in range(7)] starts at 0: an epoch at rate 0 is "
           "wasted. Use (epoch + 1) / warmup_epochs, which gives 0.25, 0.5, 0.75, 1.0.")
    ensure(not (len(curve) == 7 and np.all(np.isfinite(np.asarray(curve, dtype=float)))
                and curve[-1] > 1.0),
           "[linear_warmup(e, 1.0, 4) for e in range(7)] keeps rising after the warm-up: from "
           "epoch warmup_epochs - 1 on the rate stays at lr0 (the min(1, ...)).")
    ensure(not (all(isinstance(lr, (int, float, np.number)) for lr in curve)
                and all(float(lr).is_integer() for lr in curve[:3])),
           f"[linear_warmup(e, 1.0, 4) for e in range(7)] = {list(curve)}: whole numbers only "
           "during the warm-up. // is integer division, it rounds down: divide with / "
           "(and do not round or convert with int()).")
    assert_close(curve, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0], layout="(7,)", reveal=True,
                 what="a list of numbers", name="[linear_warmup(e, 1.0, 4) for e in range(7)]")
    try:
        no_warmup = [fn(e, 0.3, 0) for e in range(3)]
    except ZeroDivisionError:
        raise GradingError(
            "linear_warmup(e, 0.3, 0) divided by warmup_epochs = 0. warmup_epochs = 0 means no "
            "warm-up: return lr0 before dividing (for example when epoch >= warmup_epochs)."
        ) from None
    assert_close(no_warmup, [0.3, 0.3, 0.3], layout="(3,)", reveal=True,
                 what="a list of numbers",
                 name="[linear_warmup(e, 0.3, 0) for e in range(3)] (no warm-up: lr0 throughout)")
    assert_close([fn(e, 0.3, 1) for e in range(3)], [0.3, 0.3, 0.3], layout="(3,)",
                 reveal=True, what="a list of numbers",
                 name="[linear_warmup(e, 0.3, 1) for e in range(3)]")
    print("✔ linear_warmup passes the visible checks")


def _make_warmup_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    warmup = {"batch of one": 0, "odd sizes": int(rng.integers(0, 4)) * 2 + 1}.get(
        kind, int(rng.integers(2, 12)))
    lr0 = float(rng.uniform(1e-4, 1.0)) * (1e3 if kind == "extreme values" else 1.0)
    return (lr0, warmup, warmup + int(rng.integers(3, 15)))


@exercise_check
def linear_warmup_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``linear_warmup``: the same rates as ``nnlib.schedules.linear_warmup``
    (no warm-up, odd warm-up lengths, large lr0, several epochs past the warm-up)."""
    __tracebackhide__ = True
    check_against_reference(_curve(fn, 2), _curve(nnlib.schedules.linear_warmup, 2),
                            _make_warmup_case, name="linear_warmup over the epochs 0, 1, 2, ...",
                            layout="(num_epochs,)", seed=hidden_seed(f"{SLUG}/linear_warmup"))
