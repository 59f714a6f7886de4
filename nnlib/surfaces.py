"""Two-dimensional test functions for optimizers, with analytic gradients, and a helper that runs
a pure update rule on one of them.

Every function takes points ``p`` of shape (..., 2) (one point (2,), or a whole grid (H, W, 2))
and returns the values, shape (...); every ``*_grad`` returns the gradient, shaped like ``p``.
``SURFACES`` bundles each function with its gradient, a start point, a global minimum and a box
to draw. ``trajectory`` runs an update rule ``rule(w, dw, state, **hyper) -> (next_w,
next_state)`` (the contract of ``nnlib.optim``) and returns every point it visits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlib._validate import as_array, check_positive

__all__ = [
    "rosenbrock",
    "rosenbrock_grad",
    "beale",
    "beale_grad",
    "saddle",
    "saddle_grad",
    "bowl",
    "bowl_grad",
    "Surface",
    "SURFACES",
    "trajectory",
]


def _xy(p: Any, fn: str) -> tuple[np.ndarray, np.ndarray]:
    p = as_array(p, fn, "p")
    if p.ndim == 0 or p.shape[-1] != 2:
        raise ValueError(f"{fn}: p must hold 2-D points with shape (..., 2), got shape {p.shape}")
    return p[..., 0], p[..., 1]


def rosenbrock(p: Any, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """f = (a - x)**2 + b * (y - x**2)**2; minimum 0 at (a, a**2), at the end of a long, curved,
    flat-bottomed valley.  Shapes: p (..., 2) -> (...)."""
    x, y = _xy(p, "rosenbrock")
    return (a - x) ** 2 + b * (y - x * x) ** 2


def rosenbrock_grad(p: Any, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """Gradient of ``rosenbrock``: (-2 (a - x) - 4 b x (y - x**2), 2 b (y - x**2)).
    Shapes: p (..., 2) -> (..., 2)."""
    x, y = _xy(p, "rosenbrock_grad")
    r = y - x * x
    return np.stack([-2 * (a - x) - 4 * b * x * r, 2 * b * r], axis=-1)


_BEALE_C = (1.5, 2.25, 2.625)


def beale(p: Any) -> np.ndarray:
    """f = sum_k (c_k - x + x * y**k)**2 for k = 1, 2, 3 and c = (1.5, 2.25, 2.625); minimum 0 at
    (3, 0.5), with flat plateaus and steep walls.  Shapes: p (..., 2) -> (...)."""
    x, y = _xy(p, "beale")
    return sum((c - x + x * y**k) ** 2 for k, c in enumerate(_BEALE_C, start=1))


def beale_grad(p: Any) -> np.ndarray:
    """Gradient of ``beale``: sum_k 2 t_k (y**k - 1, k x y**(k - 1)), t_k = c_k - x + x y**k.
    Shapes: p (..., 2) -> (..., 2)."""
    x, y = _xy(p, "beale_grad")
    dx = np.zeros(np.broadcast(x, y).shape, dtype=np.result_type(x, y))
    dy = np.zeros_like(dx)
    for k, c in enumerate(_BEALE_C, start=1):
        t = c - x + x * y**k
        dx = dx + 2 * t * (y**k - 1)
        dy = dy + 2 * t * k * x * y ** (k - 1)
    return np.stack([dx, dy], axis=-1)


def saddle(p: Any) -> np.ndarray:
    """f = x**2 / 2 + y**4 / 4 - y**2 / 2: a saddle point at (0, 0) (a minimum along x, a maximum
    along y) between two minima -1/4 at (0, +1) and (0, -1).  Shapes: p (..., 2) -> (...)."""
    x, y = _xy(p, "saddle")
    return x * x / 2 + y**4 / 4 - y * y / 2


def saddle_grad(p: Any) -> np.ndarray:
    """Gradient of ``saddle``: (x, y**3 - y).  Shapes: p (..., 2) -> (..., 2)."""
    x, y = _xy(p, "saddle_grad")
    return np.stack([x, y**3 - y], axis=-1)


def bowl(p: Any, condition: float = 100.0) -> np.ndarray:
    """f = (x**2 + condition * y**2) / 2: an ill-conditioned quadratic bowl, ``condition`` times
    more curved along y than along x; minimum 0 at (0, 0).  Shapes: p (..., 2) -> (...)."""
    check_positive(condition, "bowl", "condition")
    x, y = _xy(p, "bowl")
    return (x * x + condition * y * y) / 2


def bowl_grad(p: Any, condition: float = 100.0) -> np.ndarray:
    """Gradient of ``bowl``: (x, condition * y).  Shapes: p (..., 2) -> (..., 2)."""
    check_positive(condition, "bowl_grad", "condition")
    x, y = _xy(p, "bowl_grad")
    return np.stack([x, condition * y], axis=-1)


@dataclass(frozen=True)
class Surface:
    """A test function with its gradient, where to start, a global minimum and a box to draw."""

    name: str
    f: Callable[[Any], np.ndarray]
    grad: Callable[[Any], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float]
    f_min: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]


#: The surfaces of the optimizer race, by the name shown in its menu.
SURFACES: dict[str, Surface] = {
    "Rosenbrock": Surface("Rosenbrock", rosenbrock, rosenbrock_grad, start=(-1.2, 1.0),
                          minimum=(1.0, 1.0), f_min=0.0, xlim=(-2.0, 2.0), ylim=(-1.0, 3.0)),
    "Beale": Surface("Beale", beale, beale_grad, start=(1.0, 1.4), minimum=(3.0, 0.5),
                     f_min=0.0, xlim=(-4.5, 4.5), ylim=(-4.5, 4.5)),
    "saddle": Surface("saddle", saddle, saddle_grad, start=(2.0, 1e-3), minimum=(0.0, 1.0),
                      f_min=-0.25, xlim=(-2.5, 2.5), ylim=(-2.0, 2.0)),
    "ill-conditioned bowl": Surface("ill-conditioned bowl", bowl, bowl_grad, start=(-4.0, 0.5),
                                    minimum=(0.0, 0.0), f_min=0.0, xlim=(-5.0, 5.0),
                                    ylim=(-1.0, 1.0)),
}


def trajectory(
    rule: Callable[..., tuple[np.ndarray, Any]],
    grad: Callable[[np.ndarray], np.ndarray],
    start: Any,
    num_steps: int,
    *,
    bound: float = 1e6,
    **hyper: Any,
) -> np.ndarray:
    """points[k] = w after k steps of w, state = rule(w, grad(w), state, **hyper), from w = start
    and state = {}.  Shapes: start (...) -> points (num_steps + 1, ...), points[0] = start.

    A run that diverges stops early: once a point is not finite or leaves the box |w| <= bound
    it is left out, so fewer than num_steps + 1 points come back. ``start`` is not modified.
    """
    fn = "trajectory"
    if not callable(rule) or not callable(grad):
        raise TypeError(f"{fn}: rule and grad must be functions")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer) or num_steps < 0:
        raise ValueError(f"{fn}: num_steps must be an integer >= 0, got {num_steps!r}")
    check_positive(bound, fn, "bound")
    w = np.array(as_array(start, fn, "start"), dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{fn}: start must be finite, got {w!r}")
    points = [w]
    state: Any = {}
    # a diverging run overflows on its way out of the box: that is reported by the early stop
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(int(num_steps)):
            # copies: a rule that writes into its input cannot change the points already kept
            w, state = rule(w.copy(), grad(w.copy()), state, **hyper)
            w = np.array(w, dtype=np.float64)
            if w.shape != points[0].shape:
                raise ValueError(
                    f"{fn}: the rule returned a point of shape {w.shape}; expected "
                    f"{points[0].shape}, the shape of start"
                )
            if not (np.all(np.isfinite(w)) and np.max(np.abs(w), initial=0.0) <= bound):
                break
            points.append(w)
    return np.stack(points)
