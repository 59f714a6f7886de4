"""Numerical gradients by central differences, and checks of analytic gradients against them.

Work in float64: with float32 the rounding error of f (about 1e-7 relative) divided by h swamps
the derivative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array, check_positive, check_rng

__all__ = [
    "numerical_gradient",
    "numerical_gradient_array",
    "rel_error",
    "check_gradients",
    "assert_gradients_close",
]


def _perturbable(x: Any, fn: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        kind = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(
            f"{fn}: x must be a floating-point ndarray (it is perturbed in place), got {kind}"
        )
    if not x.flags.writeable:
        raise ValueError(f"{fn}: x must be writeable (it is perturbed in place and restored)")
    return x


def _scalar(value: Any, fn: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"{fn}: f must return a scalar, got an array of shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def numerical_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """grad_i = (f(x + h e_i) - f(x - h e_i)) / (2 h).  Shapes: x (any) -> grad (same as x).

    ``f(x)`` returns a scalar. Each entry of ``x`` is perturbed in place and then restored to its
    exact original value (also if ``f`` raises). The result is float64.
    """
    fn = "numerical_gradient"
    x = _perturbable(x, fn)
    check_positive(h, fn, "h")
    h = float(h)
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        old = x[ix].copy()
        try:
            x[ix] = old + h
            f_plus = _scalar(f(x), fn)
            x[ix] = old - h
            f_minus = _scalar(f(x), fn)
        finally:
            x[ix] = old
        grad[ix] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], ArrayLike], x: np.ndarray, dout: ArrayLike, h: float = 1e-5
) -> np.ndarray:
    """grad_i = sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2 h), i.e. d sum(f(x) * dout) / dx.

    Shapes: x (any), dout (shape of f(x)) -> grad (same as x). ``f(x)`` returns an array; ``x``
    is perturbed in place and restored exactly. The result is float64.
    """
    fn = "numerical_gradient_array"
    x = _perturbable(x, fn)
    check_positive(h, fn, "h")
    h = float(h)
    dout = np.asarray(as_array(dout, fn, "dout"), dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        old = x[ix].copy()
        try:
            x[ix] = old + h
            # Copies, because f may return a buffer it reuses or a view of x.
            f_plus = np.array(f(x), dtype=np.float64, copy=True)
            x[ix] = old - h
            f_minus = np.array(f(x), dtype=np.float64, copy=True)
        finally:
            x[ix] = old
        if f_plus.shape != dout.shape:
            raise ValueError(
                f"{fn}: f(x) has shape {f_plus.shape} but dout has shape {dout.shape}"
            )
        grad[ix] = np.sum((f_plus - f_minus) * dout) / (2 * h)
    return grad


def rel_error(a: ArrayLike, b: ArrayLike, eps: float = 1e-8) -> float:
    """max_i |a_i - b_i| / max(|a_i| + |b_i|, eps).  Shapes: a (any), b (same) -> float.

    The CS231n relative error: 0.0 when a and b are both all zeros (or empty), NaN when either
    holds a NaN. The eps floor makes entries far below eps count as absolute differences.
    """
    fn = "rel_error"
    a = np.asarray(as_array(a, fn, "a"), dtype=np.float64)
    b = np.asarray(as_array(b, fn, "b"), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{fn}: a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):  # inf - inf: the NaN it gives is the honest answer
        err = np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)
    if np.isnan(err).any():
        return float("nan")
    return float(np.max(err))


def _name(names: Sequence[str] | None, i: int) -> str:
    return f"input {i} ({names[i]})" if names is not None else f"input {i}"


def check_gradients(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[np.ndarray, Any], Any],
    inputs: Sequence[ArrayLike] | np.ndarray,
    *,
    rng: np.random.Generator,
    h: float = 1e-6,
    tol: float | None = None,
    names: Sequence[str] | None = None,
) -> list[float]:
    """errors_i = rel_error(analytic d sum(out * dout) / d x_i, numerical one), dout ~ N(0, 1).

    Shapes: inputs (x_0, x_1, ...) -> list of one float per input.
    ``forward(*inputs) -> (out, cache)`` and ``backward(dout, cache) -> dx`` (one input) or a
    tuple of gradients in the order of the inputs. The inputs are copied to float64 first, so
    the caller's arrays are never touched. With ``tol``, raises AssertionError naming the input,
    its error and the entry where analytic and numerical gradients differ most, when any error
    exceeds ``tol`` (or is NaN).

    Correct float64 code typically scores 1e-10 to 1e-6 (the elementwise max is harsh on
    gradient entries near 0, and h = 1e-5 is often a little more accurate than 1e-6); a wrong
    formula typically scores above 1e-2.
    """
    fn = "check_gradients"
    check_rng(rng, fn)
    if isinstance(inputs, np.ndarray):
        inputs = (inputs,)
    xs = [
        np.array(as_array(v, fn, f"inputs[{i}]"), dtype=np.float64, copy=True)
        for i, v in enumerate(inputs)
    ]
    if not xs:
        raise ValueError(f"{fn}: inputs must hold at least one array")
    if names is not None and len(names) != len(xs):
        raise ValueError(f"{fn}: got {len(names)} names for {len(xs)} inputs")
    if tol is not None:
        check_positive(tol, fn, "tol")

    out, cache = forward(*xs)
    out = np.asarray(out, dtype=np.float64)
    dout = np.asarray(rng.standard_normal(out.shape), dtype=np.float64)
    grads = backward(dout.copy(), cache)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(xs):
        raise ValueError(f"{fn}: backward returned {len(grads)} gradients for {len(xs)} inputs")
    analytic = []
    for i, (g, x) in enumerate(zip(grads, xs, strict=True)):
        if g is None:
            raise ValueError(f"{fn}: backward returned None as the gradient of {_name(names, i)}")
        # Copies, before the numerical pass perturbs arrays the cache may share.
        g = np.array(g, dtype=np.float64, copy=True)
        if g.shape != x.shape:
            raise ValueError(
                f"{fn}: the gradient of {_name(names, i)} has shape {g.shape} "
                f"but the input has shape {x.shape}"
            )
        analytic.append(g)

    def objective(_: np.ndarray) -> float:
        out = np.asarray(forward(*xs)[0], dtype=np.float64)
        # Exact summation: the terms a perturbation leaves unchanged then cancel exactly in
        # f(x + h) - f(x - h), so the rounding error does not grow with the output size.
        return math.fsum((out * dout).ravel().tolist())

    errors: list[float] = []
    failures: list[str] = []
    for i, x in enumerate(xs):
        numeric = numerical_gradient(objective, x, h)
        err = rel_error(analytic[i], numeric)
        errors.append(err)
        if tol is not None and not err <= tol:
            with np.errstate(invalid="ignore"):
                diff = np.abs(analytic[i] - numeric)
            # NaN entries rank first: they are the most useful to report.
            worst = int(np.argmax(np.where(np.isnan(diff), np.inf, diff)))
            where = np.unravel_index(worst, diff.shape)
            failures.append(
                f"{_name(names, i)} of shape {x.shape}: rel error {err:.3g} > tol {tol:g}; "
                f"largest difference at index {tuple(int(k) for k in where)}: "
                f"analytic {analytic[i][where]:.6g} vs numerical {numeric[where]:.6g}"
            )
    if failures:
        raise AssertionError("gradient check failed for " + "; ".join(failures))
    return errors


def assert_gradients_close(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[np.ndarray, Any], Any],
    inputs: Sequence[ArrayLike] | np.ndarray,
    *,
    rng: np.random.Generator,
    h: float = 1e-6,
    tol: float = 1e-6,
    names: Sequence[str] | None = None,
) -> list[float]:
    """``check_gradients`` with a tolerance: raises AssertionError when any rel error > tol.

    Shapes: as ``check_gradients``. Returns the list of relative errors when all pass.
    """
    return check_gradients(forward, backward, inputs, rng=rng, h=h, tol=tol, names=names)
