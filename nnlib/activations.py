"""Activation functions: plain values, ``*_forward`` / ``*_backward`` pairs and the modules
(``ReLU``, ``Sigmoid``, ``Tanh``, ``LeakyReLU``, ``Softmax``, ``LogSoftmax``).

Elementwise activations accept any shape; ``softmax`` and ``log_softmax`` work over the last axis
(``x`` is usually ``(N, K)`` or ``(K,)``). float32 inputs give float32 outputs, and each gradient
has the dtype of the array it is the gradient of. Derivatives at the kink follow PyTorch:
relu'(0) = 0 and leaky_relu'(0) = negative_slope.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array
from nnlib.module import Module, _require_cache

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softmax",
    "log_softmax",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "softmax_forward",
    "softmax_backward",
    "log_softmax_forward",
    "log_softmax_backward",
    "softmax_jacobian",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "LeakyReLU",
    "Softmax",
    "LogSoftmax",
]


# ---------------------------------------------------------------------------------------------
# Shared checks and unchecked kernels (losses reuse the kernels on already-validated input)
# ---------------------------------------------------------------------------------------------


def _check_slope(negative_slope: Any, fn: str) -> float:
    try:
        slope = float(negative_slope)
    except (TypeError, ValueError):
        raise ValueError(
            f"{fn}: negative_slope must be a real number, got {negative_slope!r}"
        ) from None
    if not math.isfinite(slope):
        raise ValueError(f"{fn}: negative_slope must be finite, got {negative_slope!r}")
    # A Python float keeps float32 arrays float32 (a NumPy float64 scalar would upcast them).
    return slope


def _check_last_axis(x: np.ndarray, fn: str) -> None:
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have shape (N, K) or (K,), got a scalar (shape ())")
    if x.shape[-1] == 0:
        raise ValueError(f"{fn}: x needs at least one class on the last axis, got shape {x.shape}")


def _backward_dout(dout: ArrayLike, shape: tuple[int, ...], fn: str) -> np.ndarray:
    dout = as_array(dout, fn, "dout")
    if dout.shape != shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {shape}"
        )
    return dout


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) <= 1, so neither branch can overflow for any finite x.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    # After the shift the largest entry is 0: exp cannot overflow and the sum is >= 1.
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def sigmoid(x: ArrayLike) -> np.ndarray:
    """out = 1 / (1 + exp(-x)).  Shapes: x (any) -> out (same shape as x).

    Computed as 1 / (1 + exp(-|x|)) for x >= 0 and exp(-|x|) / (1 + exp(-|x|)) otherwise, so no
    exp overflows: sigmoid(1e4) == 1.0 and sigmoid(-1e4) == 0.0 with no RuntimeWarning.
    """
    x = as_array(x, "sigmoid", "x")
    return np.asarray(_sigmoid(x))


def tanh(x: ArrayLike) -> np.ndarray:
    """out = (exp(x) - exp(-x)) / (exp(x) + exp(-x)).  Shapes: x (any) -> out (same shape as x)."""
    x = as_array(x, "tanh", "x")
    return np.asarray(np.tanh(x))


def relu(x: ArrayLike) -> np.ndarray:
    """out = max(x, 0).  Shapes: x (any) -> out (same shape as x).  NaN stays NaN."""
    x = as_array(x, "relu", "x")
    return np.asarray(np.maximum(x, 0))


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> np.ndarray:
    """out = x if x > 0 else negative_slope * x.  Shapes: x (any) -> out (same shape as x)."""
    x = as_array(x, "leaky_relu", "x")
    slope = _check_slope(negative_slope, "leaky_relu")
    return np.asarray(np.where(x > 0, x, slope * x))


def softmax(x: ArrayLike) -> np.ndarray:
    """out_k = exp(x_k) / sum_j exp(x_j).  Shapes: x (N, K) or (K,) -> out (same).

    Over the last axis; every row of the result sums to 1. Rows are shifted by their maximum
    first (softmax is shift-invariant), so exp never overflows. Inputs with more leading axes,
    such as (N, T, K), also work.
    """
    x = as_array(x, "softmax", "x")
    _check_last_axis(x, "softmax")
    return _softmax(x)


def log_softmax(x: ArrayLike) -> np.ndarray:
    """out_k = x_k - log(sum_j exp(x_j)).  Shapes: x (N, K) or (K,) -> out (same).

    Over the last axis, with the shifted log-sum-exp, so it stays finite wherever x is finite
    (log(softmax(x)) gives -inf once a probability underflows to 0). Inputs with more leading
    axes also work.
    """
    x = as_array(x, "log_softmax", "x")
    _check_last_axis(x, "log_softmax")
    return _log_softmax(x)


# ---------------------------------------------------------------------------------------------
# Forward / backward pairs
# ---------------------------------------------------------------------------------------------


def sigmoid_forward(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """out = 1 / (1 + exp(-x)).  Shapes: x (any) -> out (same shape as x); cache is out."""
    x = as_array(x, "sigmoid_forward", "x")
    out = np.asarray(_sigmoid(x))
    return out, out


def sigmoid_backward(dout: ArrayLike, cache: np.ndarray) -> np.ndarray:
    """dx = dout * out * (1 - out).  Shapes: dout (same as x), cache out -> dx (same as x)."""
    out = cache
    dout = _backward_dout(dout, out.shape, "sigmoid_backward")
    return np.asarray(dout * out * (1 - out), dtype=out.dtype)


def tanh_forward(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """out = tanh(x).  Shapes: x (any) -> out (same shape as x); cache is out."""
    x = as_array(x, "tanh_forward", "x")
    out = np.asarray(np.tanh(x))
    return out, out


def tanh_backward(dout: ArrayLike, cache: np.ndarray) -> np.ndarray:
    """dx = dout * (1 - out**2).  Shapes: dout (same as x), cache out -> dx (same as x)."""
    out = cache
    dout = _backward_dout(dout, out.shape, "tanh_backward")
    return np.asarray(dout * (1 - out * out), dtype=out.dtype)


def relu_forward(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """out = max(x, 0).  Shapes: x (any) -> out (same shape as x); cache is x."""
    x = as_array(x, "relu_forward", "x")
    return np.asarray(np.maximum(x, 0)), x


def relu_backward(dout: ArrayLike, cache: np.ndarray) -> np.ndarray:
    """dx = dout * [x > 0] (relu'(0) = 0).  Shapes: dout (same as x), cache x -> dx (same as x)."""
    x = cache
    dout = _backward_dout(dout, x.shape, "relu_backward")
    mask = x > 0
    # dout * mask is ~10x faster than np.where (whose branch on random signs mispredicts), but
    # 0 * inf = NaN would leak an inf/NaN of dout through a closed unit: then use where.
    if np.isfinite(dout).all():
        dx = np.asarray(np.multiply(dout, mask, dtype=x.dtype))
        dx += 0.0  # -0.0 (a negative dout times a closed unit) becomes 0.0, as with where
        return dx
    return np.asarray(np.where(mask, dout, 0), dtype=x.dtype)


def leaky_relu_forward(
    x: ArrayLike, negative_slope: float = 0.01
) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    """out = x if x > 0 else negative_slope * x.  Shapes: x (any) -> out (same shape as x).

    cache is (x, negative_slope).
    """
    x = as_array(x, "leaky_relu_forward", "x")
    slope = _check_slope(negative_slope, "leaky_relu_forward")
    return np.asarray(np.where(x > 0, x, slope * x)), (x, slope)


def leaky_relu_backward(dout: ArrayLike, cache: tuple[np.ndarray, float]) -> np.ndarray:
    """dx = dout if x > 0 else negative_slope * dout (at x = 0: negative_slope).

    Shapes: dout (same as x), cache (x, negative_slope) -> dx (same as x).
    """
    x, slope = cache
    dout = _backward_dout(dout, x.shape, "leaky_relu_backward")
    return np.asarray(np.where(x > 0, dout, slope * dout), dtype=x.dtype)


def softmax_forward(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """out = softmax(x) over the last axis.  Shapes: x (N, K) or (K,) -> out (same).

    cache is out.
    """
    x = as_array(x, "softmax_forward", "x")
    _check_last_axis(x, "softmax_forward")
    out = _softmax(x)
    return out, out


def softmax_backward(dout: ArrayLike, cache: np.ndarray) -> np.ndarray:
    """dx = out * (dout - sum_k(dout_k * out_k)) over the last axis (the full Jacobian product).

    Shapes: dout (N, K) or (K,), cache out (same) -> dx (same).
    """
    out = cache
    dout = _backward_dout(dout, out.shape, "softmax_backward")
    dot = np.sum(dout * out, axis=-1, keepdims=True)
    return np.asarray(out * (dout - dot), dtype=out.dtype)


def log_softmax_forward(x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """out = x - logsumexp(x) over the last axis.  Shapes: x (N, K) or (K,) -> out (same).

    cache is out.
    """
    x = as_array(x, "log_softmax_forward", "x")
    _check_last_axis(x, "log_softmax_forward")
    out = _log_softmax(x)
    return out, out


def log_softmax_backward(dout: ArrayLike, cache: np.ndarray) -> np.ndarray:
    """dx = dout - exp(out) * sum_k(dout_k) over the last axis (exp(out) is softmax(x)).

    Shapes: dout (N, K) or (K,), cache out (same) -> dx (same).
    """
    out = cache
    dout = _backward_dout(dout, out.shape, "log_softmax_backward")
    # out <= 0, so exp(out) cannot overflow.
    return np.asarray(dout - np.exp(out) * np.sum(dout, axis=-1, keepdims=True), dtype=out.dtype)


# ---------------------------------------------------------------------------------------------
# Full Jacobians (for teaching and checking; backward passes never build them)
# ---------------------------------------------------------------------------------------------


def softmax_jacobian(x: ArrayLike) -> np.ndarray:
    """J[k, j] = d softmax(x)_k / d x_j = p_k * (delta_kj - p_j), with p = softmax(x).

    Shapes: x (K,) -> J (K, K); leading axes carry over, so x (N, K) -> J (N, K, K), one
    Jacobian per row. Row k holds the derivatives of output k (numerator layout); J is
    symmetric, and each of its rows sums to 0 because the outputs always sum to 1. Stable for
    any finite x, like :func:`softmax`. ``dout @ J`` equals ``softmax_backward(dout, p)``.
    """
    x = as_array(x, "softmax_jacobian", "x")
    _check_last_axis(x, "softmax_jacobian")
    p = _softmax(x)
    # diag(p) - p p^T, batched over the leading axes.
    jac = -p[..., :, None] * p[..., None, :]
    k = np.arange(x.shape[-1])
    jac[..., k, k] += p
    return jac


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class _Activation(Module):
    """A parameter-free module over a ``*_forward`` / ``*_backward`` pair."""

    def __init__(self) -> None:
        self._cache: Any = None

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        return self._backward(dout, _require_cache(self, self._cache))


class ReLU(_Activation):
    """out = max(x, 0), relu'(0) = 0.  Shapes: x (any) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return relu_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return relu_backward(dout, cache)


class Sigmoid(_Activation):
    """out = 1 / (1 + exp(-x)).  Shapes: x (any) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return sigmoid_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return sigmoid_backward(dout, cache)


class Tanh(_Activation):
    """out = tanh(x).  Shapes: x (any) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return tanh_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return tanh_backward(dout, cache)


class LeakyReLU(_Activation):
    """out = x if x > 0 else negative_slope * x.  Shapes: x (any) -> out (same)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return leaky_relu_forward(x, self.negative_slope)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return leaky_relu_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(_Activation):
    """out = exp(x) / sum(exp(x)) over the last axis.  Shapes: x (N, K) or (K,) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return softmax_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return softmax_backward(dout, cache)


class LogSoftmax(_Activation):
    """out = x - logsumexp(x) over the last axis.  Shapes: x (N, K) or (K,) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return log_softmax_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return log_softmax_backward(dout, cache)
