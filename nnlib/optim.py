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

__all__ = ["sgd", "Optimizer", "SGD"]

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
        """p.data <- rule(p.data, p.grad, state[p]) for every parameter, in place."""
        for p in self.params:
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
