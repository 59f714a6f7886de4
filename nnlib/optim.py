"""Optimizers: pure update rules under a thin stateful ``Optimizer``.

An update rule is ``rule(w, dw, state, **hyper) -> (next_w, next_state)``. It never modifies
``w``, ``dw`` or ``state``; the returned state is a new dict. Only ``Optimizer.step`` writes
into parameters (``p.data[...] = next_w``), so the arrays a model holds stay the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

from nnlib._validate import as_array, check_positive, check_same_shape
from nnlib.modules import Module, Parameter

__all__ = [
    "sgd",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
]

State = dict[str, Any]


def _check_sgd_hyper(
    fn: str, lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool
) -> None:
    check_positive(lr, fn, "lr", allow_zero=True)
    check_positive(momentum, fn, "momentum", allow_zero=True)
    check_positive(weight_decay, fn, "weight_decay", allow_zero=True)
    if not np.isfinite(dampening):
        raise ValueError(f"{fn}: dampening must be finite, got {dampening!r}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"{fn}: nesterov=True needs momentum > 0 and dampening = 0, "
            f"got momentum={momentum!r}, dampening={dampening!r}"
        )


def sgd(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> tuple[np.ndarray, State]:
    """next_w = w - lr * g, the formulas of torch.optim.SGD.  Shapes: w, dw (any, same).

    g = dw + weight_decay * w; with momentum, the buffer is b = g on the first step and
    b = momentum * b + (1 - dampening) * g afterwards, and g becomes b, or g + momentum * b
    with nesterov. ``state`` holds "momentum_buffer" (absent before the first momentum step).
    """
    fn = "sgd"
    w = as_array(w, fn, "w")
    dw = as_array(dw, fn, "dw")
    check_same_shape(w, dw, fn, ("w", "dw"))
    _check_sgd_hyper(fn, lr, momentum, dampening, weight_decay, nesterov)
    # Python floats keep float32 arrays float32 (NumPy float64 scalars would upcast them).
    lr, momentum, dampening, weight_decay = map(float, (lr, momentum, dampening, weight_decay))
    next_state: State = dict(state) if state else {}

    g = dw + weight_decay * w if weight_decay != 0 else dw
    if momentum != 0:
        buf = next_state.get("momentum_buffer")
        if buf is None:
            buf = np.array(g, copy=True)
        else:
            check_same_shape(w, buf, fn, ("w", 'state["momentum_buffer"]'))
            buf = momentum * buf + (1 - dampening) * g
        next_state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return w - lr * g, next_state


def _prepare(fn: str, w: Any, dw: Any, state: State | None) -> tuple[np.ndarray, np.ndarray, State]:
    """Checked arrays and a fresh copy of ``state`` (so the caller's dict is never modified)."""
    w = as_array(w, fn, "w")
    dw = as_array(dw, fn, "dw")
    check_same_shape(w, dw, fn, ("w", "dw"))
    return w, dw, dict(state) if state else {}


def _buffer(state: State, key: str, w: np.ndarray, fn: str, fill: float = 0.0) -> np.ndarray:
    """``state[key]`` (checked against ``w``'s shape), or a new buffer full of ``fill``."""
    buf = state.get(key)
    if buf is None:
        return np.full_like(w, fill)
    check_same_shape(w, buf, fn, ("w", f'state["{key}"]'))
    return buf


def _check_adagrad_hyper(
    fn: str,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    initial_accumulator_value: float,
    eps: float,
) -> None:
    check_positive(lr, fn, "lr", allow_zero=True)
    check_positive(lr_decay, fn, "lr_decay", allow_zero=True)
    check_positive(weight_decay, fn, "weight_decay", allow_zero=True)
    check_positive(initial_accumulator_value, fn, "initial_accumulator_value", allow_zero=True)
    check_positive(eps, fn, "eps", allow_zero=True)


def adagrad(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> tuple[np.ndarray, State]:
    """next_w = w - lr_t * g / (sqrt(sum) + eps), torch.optim.Adagrad's formulas.
    Shapes: w, dw (any, same).

    g = dw + weight_decay * w; sum = sum + g**2 (sum starts at initial_accumulator_value);
    lr_t = lr / (1 + (t - 1) * lr_decay) at step t = 1, 2, ... ``state`` holds "step" and "sum".
    """
    fn = "adagrad"
    w, dw, next_state = _prepare(fn, w, dw, state)
    _check_adagrad_hyper(fn, lr, lr_decay, weight_decay, initial_accumulator_value, eps)
    lr, lr_decay, weight_decay, initial_accumulator_value, eps = map(
        float, (lr, lr_decay, weight_decay, initial_accumulator_value, eps)
    )
    t = int(next_state.get("step", 0)) + 1
    g = dw + weight_decay * w if weight_decay != 0 else dw
    acc = _buffer(next_state, "sum", w, fn, initial_accumulator_value) + g * g
    lr_t = lr / (1 + (t - 1) * lr_decay)
    next_state.update(step=t, sum=acc)
    return w - lr_t * g / (np.sqrt(acc) + eps), next_state


def _check_rmsprop_hyper(
    fn: str, lr: float, alpha: float, eps: float, weight_decay: float, momentum: float
) -> None:
    check_positive(lr, fn, "lr", allow_zero=True)
    check_positive(alpha, fn, "alpha", allow_zero=True)
    check_positive(eps, fn, "eps", allow_zero=True)
    check_positive(weight_decay, fn, "weight_decay", allow_zero=True)
    check_positive(momentum, fn, "momentum", allow_zero=True)


def rmsprop(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> tuple[np.ndarray, State]:
    """next_w = w - lr * g / (sqrt(square_avg) + eps), torch.optim.RMSprop's formulas.
    Shapes: w, dw (any, same).

    g = dw + weight_decay * w; square_avg = alpha * square_avg + (1 - alpha) * g**2 (from 0).
    centered subtracts the squared running mean grad_avg = alpha * grad_avg + (1 - alpha) * g
    under the sqrt. With momentum, buf = momentum * buf + g / denom and next_w = w - lr * buf.
    eps is added after the sqrt, as torch does. ``state`` holds "step", "square_avg" and, when
    used, "grad_avg" and "momentum_buffer".
    """
    fn = "rmsprop"
    w, dw, next_state = _prepare(fn, w, dw, state)
    _check_rmsprop_hyper(fn, lr, alpha, eps, weight_decay, momentum)
    lr, alpha, eps, weight_decay, momentum = map(float, (lr, alpha, eps, weight_decay, momentum))
    g = dw + weight_decay * w if weight_decay != 0 else dw
    square_avg = alpha * _buffer(next_state, "square_avg", w, fn) + (1 - alpha) * g * g
    next_state.update(step=int(next_state.get("step", 0)) + 1, square_avg=square_avg)
    if centered:
        grad_avg = alpha * _buffer(next_state, "grad_avg", w, fn) + (1 - alpha) * g
        next_state["grad_avg"] = grad_avg
        denom = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        denom = np.sqrt(square_avg) + eps
    if momentum > 0:
        buf = momentum * _buffer(next_state, "momentum_buffer", w, fn) + g / denom
        next_state["momentum_buffer"] = buf
        return w - lr * buf, next_state
    return w - lr * g / denom, next_state


def _check_adam_hyper(
    fn: str, lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    check_positive(lr, fn, "lr", allow_zero=True)
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    for i, beta in enumerate((beta1, beta2)):
        if not (np.isfinite(beta) and 0.0 <= beta < 1.0):
            raise ValueError(f"{fn}: betas[{i}] must be in [0, 1), got {beta!r}")
    check_positive(eps, fn, "eps", allow_zero=True)
    check_positive(weight_decay, fn, "weight_decay", allow_zero=True)


def _adam_step(
    fn: str,
    w: Any,
    dw: Any,
    state: State | None,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    decoupled: bool,
) -> tuple[np.ndarray, State]:
    w, dw, next_state = _prepare(fn, w, dw, state)
    _check_adam_hyper(fn, lr, betas, eps, weight_decay)
    lr, beta1, beta2, eps, weight_decay = map(float, (lr, *betas, eps, weight_decay))
    t = int(next_state.get("step", 0)) + 1
    if decoupled:
        g = dw
        # AdamW shrinks the weights directly, so the decay is not rescaled by 1 / sqrt(v_hat)
        w = w * (1 - lr * weight_decay) if weight_decay != 0 else w
    else:
        g = dw + weight_decay * w if weight_decay != 0 else dw
    m = beta1 * _buffer(next_state, "exp_avg", w, fn) + (1 - beta1) * g
    v = beta2 * _buffer(next_state, "exp_avg_sq", w, fn) + (1 - beta2) * g * g
    next_state.update(step=t, exp_avg=m, exp_avg_sq=v)
    if amsgrad:
        v = np.maximum(_buffer(next_state, "max_exp_avg_sq", w, fn), v)
        next_state["max_exp_avg_sq"] = v
    # m and v start at 0, so early averages are too small by the factors 1 - beta**t
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), next_state


def adam(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> tuple[np.ndarray, State]:
    """next_w = w - lr * m_hat / (sqrt(v_hat) + eps), torch.optim.Adam's formulas.
    Shapes: w, dw (any, same).

    g = dw + weight_decay * w (L2 penalty, "coupled"); m = beta1 * m + (1 - beta1) * g and
    v = beta2 * v + (1 - beta2) * g**2, both from 0; at step t = 1, 2, ...
    m_hat = m / (1 - beta1**t) and v_hat = v / (1 - beta2**t) (bias correction), so the first
    step moves each weight by about lr * sign(g). amsgrad uses the running maximum of v instead
    of v. eps is added after the sqrt, as torch does. ``state`` holds "step", "exp_avg",
    "exp_avg_sq" and, with amsgrad, "max_exp_avg_sq".
    """
    return _adam_step("adam", w, dw, state, lr, betas, eps, weight_decay, amsgrad, False)


def adamw(
    w: np.ndarray,
    dw: np.ndarray,
    state: State | None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
) -> tuple[np.ndarray, State]:
    """Adam with decoupled weight decay, torch.optim.AdamW's formulas.  Shapes: w, dw (any, same).

    First w = w * (1 - lr * weight_decay), then the ``adam`` step with g = dw (no L2 term in the
    gradient). ``state`` is as in ``adam``.
    """
    return _adam_step("adamw", w, dw, state, lr, betas, eps, weight_decay, amsgrad, True)


class Optimizer:
    """Applies a pure update rule to each parameter: ``step()`` then ``zero_grad()``.

    ``defaults`` are the rule's hyperparameters; ``lr`` reads and writes ``defaults["lr"]`` (for
    schedules). ``state[p]`` is the rule's state for Parameter ``p``. Subclasses set ``rule``.
    """

    rule: ClassVar[Callable[..., tuple[np.ndarray, State]] | None] = None

    def __init__(self, params: Iterable[Parameter], **defaults: Any) -> None:
        name = type(self).__name__
        if isinstance(params, Module):
            raise TypeError(f"{name}: pass model.parameters(), not the model itself")
        if isinstance(params, Parameter):
            raise TypeError(f"{name}: params must be a list of Parameters, got a single Parameter")
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{name}: params[{i}] must be a Parameter, got {type(p).__name__}")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: some parameters appear more than once")
        self.defaults: dict[str, Any] = dict(defaults)
        self.state: dict[Parameter, State] = {}

    @property
    def lr(self) -> float:
        return self.defaults["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        check_positive(value, f"{type(self).__name__}.lr", "lr", allow_zero=True)
        self.defaults["lr"] = value

    def update(self, w: np.ndarray, dw: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One pure step of the rule for one parameter."""
        rule = type(self).rule
        if rule is None:
            raise NotImplementedError(f"{type(self).__name__} must set a rule")
        return rule(w, dw, state, **self.defaults)

    def step(self) -> None:
        """p.data <- rule(p.data, p.grad, state[p]) for every parameter, in place; frozen
        parameters (``requires_grad`` False) are skipped, as torch skips a grad of None."""
        for p in self.params:
            if not p.requires_grad:
                continue
            next_w, self.state[p] = self.update(p.data, p.grad, self.state.get(p, {}))
            p.data[...] = next_w

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero."""
        for p in self.params:
            p.zero_grad()

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and weight decay; the
    update of ``sgd`` (torch.optim.SGD's formulas)."""

    rule = staticmethod(sgd)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        _check_sgd_hyper("SGD", lr, momentum, dampening, weight_decay, nesterov)
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )

    def step(self) -> None:
        """p.data <- sgd(p.data, p.grad, ...) for every parameter, in place.

        Plain SGD (no momentum, no weight decay) subtracts lr * grad in place: the same
        arithmetic as the rule, without its fresh ``w - lr * g`` array and the copy back.
        """
        d = self.defaults
        if d["momentum"] != 0 or d["weight_decay"] != 0:
            super().step()
            return
        lr = float(d["lr"])
        for p in self.params:
            if not p.requires_grad:
                continue
            g = p.grad
            if g.shape != p.data.shape:
                super().step()  # the rule raises a ValueError naming the shapes
                return
            p.data -= lr * g


class Adagrad(Optimizer):
    """Adaptive per-weight step sizes from the sum of squared gradients; the update of
    ``adagrad`` (torch.optim.Adagrad's formulas)."""

    rule = staticmethod(adagrad)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        _check_adagrad_hyper("Adagrad", lr, lr_decay, weight_decay, initial_accumulator_value, eps)
        super().__init__(
            params,
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )


class RMSprop(Optimizer):
    """Steps scaled by a running average of squared gradients; the update of ``rmsprop``
    (torch.optim.RMSprop's formulas)."""

    rule = staticmethod(rmsprop)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        _check_rmsprop_hyper("RMSprop", lr, alpha, eps, weight_decay, momentum)
        super().__init__(
            params,
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )


class Adam(Optimizer):
    """Momentum plus RMSprop scaling with bias correction; the update of ``adam``
    (torch.optim.Adam's formulas)."""

    rule = staticmethod(adam)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        _check_adam_hyper("Adam", lr, betas, eps, weight_decay)
        super().__init__(
            params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )


class AdamW(Optimizer):
    """Adam with decoupled weight decay; the update of ``adamw`` (torch.optim.AdamW's
    formulas)."""

    rule = staticmethod(adamw)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        _check_adam_hyper("AdamW", lr, betas, eps, weight_decay)
        super().__init__(
            params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
