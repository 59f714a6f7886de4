"""Layers as ``*_forward`` / ``*_backward`` pairs, and their modules (``Linear``, and
``Flatten``, the reshape between a convolutional base and a dense head).

The dense layer stores ``W`` as ``(D_in, D_out)`` so that ``out = x @ W + b`` (CS231n, Keras);
``torch.nn.Linear`` stores the transpose. Each gradient has the dtype of the array it is the
gradient of, so a float32 model keeps float32 gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_ndim, check_positive_int, check_rng
from nnlib.init import get_initializer
from nnlib.module import Module, Parameter, _require_cache

__all__ = ["linear_forward", "linear_backward", "Linear", "Flatten"]

LinearCache = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def linear_forward(
    x: ArrayLike, W: ArrayLike, b: ArrayLike | None
) -> tuple[np.ndarray, LinearCache]:
    """out = x @ W + b.  Shapes: x (N, D), W (D, M), b (M,) -> out (N, M).

    A single example x of shape (D,) gives out of shape (M,). ``b=None`` means no bias (then
    ``linear_backward`` returns ``db=None``). cache is (x, W, b).
    """
    fn = "linear_forward"
    x = as_array(x, fn, "x")
    W = as_array(W, fn, "W")
    check_ndim(W, 2, fn, "W", "(D, M)")
    check_ndim(x, (1, 2), fn, "x", "(N, D) or (D,)")
    D, M = W.shape
    if x.shape[-1] != D:
        raise ValueError(
            f"{fn}: x has {x.shape[-1]} features but W expects {D} (W is {W.shape})"
        )
    out = x @ W
    if b is not None:
        b = as_array(b, fn, "b")
        if b.shape != (M,):
            raise ValueError(f"{fn}: b must have shape ({M},) to match W {W.shape}, got {b.shape}")
        if np.result_type(out, b) == out.dtype:
            out += b  # in place: out is a fresh product, and this saves one (N, M) array
        else:
            out = out + b
    return out, (x, W, b)


def linear_backward(
    dout: ArrayLike, cache: LinearCache, *, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """dx = dout @ W.T, dW = x.T @ dout, db = sum_n dout.

    Shapes: dout (N, M), cache (x (N, D), W (D, M), b (M,)) -> dx (N, D), dW (D, M), db (M,).
    For a single example x (D,) and dout (M,): dx (D,), dW = outer(x, dout) (D, M), db (M,).
    ``input_grad=False`` skips dx (returned as None): the gradient of a network's input batch
    is never used, and for a first layer it costs as much as dW (torch skips it likewise for
    an input that does not require grad).
    """
    fn = "linear_backward"
    x, W, b = cache
    dout = as_array(dout, fn, "dout")
    out_shape = x.shape[:-1] + (W.shape[1],)
    if dout.shape != out_shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {out_shape}"
        )
    if x.ndim == 1:
        dx = W @ dout if input_grad else None
        dW = np.outer(x, dout)
        db = dout
    else:
        dx = dout @ W.T if input_grad else None
        dW = x.T @ dout
        db = np.sum(dout, axis=0)
    dx = None if dx is None else np.asarray(dx, dtype=x.dtype)
    dW = np.asarray(dW, dtype=W.dtype)
    # A copy, so that accumulating into db (p.grad += db) can never write through to dout.
    db = None if b is None else np.array(db, dtype=b.dtype, copy=True)
    return dx, dW, db


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class Linear(Module):
    """out = x @ W + b.  Shapes: x (N, D) or (D,), weight (D, M), bias (M,) -> out (N, M) or (M,).

    ``weight`` is initialised by ``nnlib.init`` (``init`` names the scheme, default
    "xavier_uniform") with the injected ``rng``; ``bias`` starts at zero; both have ``dtype``
    (float32 trains faster, float64 is for gradient checks). The weight layout is the
    transpose of ``torch.nn.Linear.weight``.
    """

    accepts_input_grad = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        init: str = "xavier_uniform",
        bias: bool = True,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.in_features = check_positive_int(in_features, "Linear", "in_features")
        self.out_features = check_positive_int(out_features, "Linear", "out_features")
        check_rng(rng, "Linear")
        initializer = get_initializer(init)
        W = initializer((self.in_features, self.out_features), rng=rng, dtype=dtype)
        self.weight = Parameter(W)
        self.bias = (
            Parameter(np.zeros(self.out_features, dtype=self.weight.dtype)) if bias else None
        )
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        b = self.bias.data if self.bias is not None else None
        out, self._cache = linear_forward(x, self.weight.data, b)
        return out

    def backward(self, dout: ArrayLike, *, input_grad: bool = True) -> np.ndarray | None:
        """dx = dout @ W.T; adds dW = x.T @ dout and db = dout summed over N into the grads.

        ``input_grad=False`` skips dx and returns None (for a first layer, whose input is data).
        """
        dx, dW, db = linear_backward(
            dout, _require_cache(self, self._cache), input_grad=input_grad
        )
        # linear_backward returns fresh arrays, so the first backward after zero_grad can keep them.
        self.weight.accumulate_grad(dW)
        if self.bias is not None and db is not None:
            self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Flatten(Module):
    """out = x.reshape(N, -1) (axes start_dim..end_dim merged).  Shapes: x (N, C, H, W) ->
    out (N, C H W) with the defaults; backward reshapes dout back to x's shape.

    torch.nn.Flatten's arguments: ``start_dim=1`` keeps the batch axis, ``end_dim=-1``.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"Flatten: {name} must be an integer, got {value!r}")
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        x = as_array(x, "Flatten", "x")
        nd = max(x.ndim, 1)
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < nd:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} do not select "
                f"a range of the axes of x (shape {x.shape})"
            )
        self._shape = x.shape
        if x.ndim == 0:
            return x.reshape(1)
        merged = int(np.prod(x.shape[start : end + 1]))
        return x.reshape(*x.shape[:start], merged, *x.shape[end + 1 :])

    def backward(self, dout: ArrayLike) -> np.ndarray:
        shape = _require_cache(self, self._shape)
        dout = as_array(dout, "Flatten.backward", "dout")
        if dout.size != int(np.prod(shape)):
            raise ValueError(
                f"Flatten.backward: dout has shape {dout.shape} but the forward input had "
                f"shape {shape} ({int(np.prod(shape))} entries)"
            )
        return dout.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
