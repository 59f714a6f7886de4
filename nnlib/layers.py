"""Layers as ``*_forward`` / ``*_backward`` pairs.

The dense layer stores ``W`` as ``(D_in, D_out)`` so that ``out = x @ W + b`` (CS231n, Keras);
``torch.nn.Linear`` stores the transpose. Each gradient has the dtype of the array it is the
gradient of, so a float32 model keeps float32 gradients.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array, check_ndim

__all__ = ["linear_forward", "linear_backward"]

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
