"""Weight initialisers (Xavier/Glorot, He/Kaiming, zeros) and their fan computation.

Dense weights are ``(D_in, D_out)``: fan_in = D_in, fan_out = D_out. Note that this is the
transpose of torch.nn.Linear's ``(out, in)`` weight, so the roles of the two dimensions are
swapped relative to ``torch.nn.init._calculate_fan_in_and_fan_out`` on a 2-D tensor.
Convolution weights are ``(F, C, *kernel)``, e.g. ``(F, C, HH, WW)``:
fan_in = C * HH * WW, fan_out = F * HH * WW (the same as PyTorch).

Every random initialiser takes ``rng`` (a ``np.random.Generator``) by keyword, and all of them,
including ``zeros``, accept ``shape`` and ``rng=`` so they can be called interchangeably through
``get_initializer(name)(shape, rng=rng)``. Results are float64 unless ``dtype`` says otherwise;
the random draws do not depend on ``dtype``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from nnlib._validate import check_positive, check_rng

__all__ = [
    "calculate_fan_in_and_fan_out",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "zeros",
    "get_initializer",
]

Shape = int | Sequence[int]


def _shape(shape: Any, fn: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{fn}: shape must be a tuple of ints, got {shape!r}") from None
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise ValueError(f"{fn}: shape must be a tuple of ints, got {shape!r}")
        if d < 0:
            raise ValueError(f"{fn}: shape entries must be >= 0, got {dims}")
    return tuple(int(d) for d in dims)


def _dtype(dtype: DTypeLike, fn: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{fn}: dtype must be a floating-point dtype, got {dtype!r}") from None
    if not np.issubdtype(dt, np.floating):
        raise ValueError(f"{fn}: dtype must be a floating-point dtype, got {dt}")
    return dt



def _fans(shape: Any, fn: str) -> tuple[tuple[int, ...], int, int]:
    dims = _shape(shape, fn)
    if len(dims) < 2:
        raise ValueError(
            f"{fn}: fan_in and fan_out need a weight shape with at least 2 dimensions, "
            f"(D_in, D_out) or (F, C, HH, WW), got {dims}"
        )
    if len(dims) == 2:
        fan_in, fan_out = dims
    else:
        receptive = math.prod(dims[2:])
        fan_in, fan_out = dims[1] * receptive, dims[0] * receptive
    if fan_in == 0 or fan_out == 0:
        raise ValueError(f"{fn}: fan_in and fan_out must be positive, got shape {dims}")
    return dims, fan_in, fan_out


def calculate_fan_in_and_fan_out(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) = (D_in, D_out) for (D_in, D_out); (C*HH*WW, F*HH*WW) for (F, C, HH, WW).

    Shapes: shape (D_in, D_out), or (F, C, *kernel) for 1-D, 2-D and 3-D convolutions, where the
    kernel size is the product of the trailing entries.
    """
    _, fan_in, fan_out = _fans(shape, "calculate_fan_in_and_fan_out")
    return fan_in, fan_out


def xavier_uniform(
    shape: Shape, *, rng: np.random.Generator, gain: float = 1.0, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """W ~ U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).  Shapes: shape -> W (shape).

    Glorot & Bengio (2010); torch.nn.init.xavier_uniform_ (with our (D_in, D_out) layout).
    """
    fn = "xavier_uniform"
    dims, fan_in, fan_out = _fans(shape, fn)
    rng = check_rng(rng, fn)
    check_positive(gain, fn, "gain")
    dt = _dtype(dtype, fn)
    a = float(gain) * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=dims).astype(dt, copy=False)


def xavier_normal(
    shape: Shape, *, rng: np.random.Generator, gain: float = 1.0, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """W ~ N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)).  Shapes: shape -> W (shape).

    Glorot & Bengio (2010); torch.nn.init.xavier_normal_ (with our (D_in, D_out) layout).
    """
    fn = "xavier_normal"
    dims, fan_in, fan_out = _fans(shape, fn)
    rng = check_rng(rng, fn)
    check_positive(gain, fn, "gain")
    dt = _dtype(dtype, fn)
    std = float(gain) * math.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, size=dims).astype(dt, copy=False)


def he_uniform(
    shape: Shape, *, rng: np.random.Generator, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / fan_in).  Shapes: shape -> W (shape).

    He et al. (2015), for ReLU networks; torch.nn.init.kaiming_uniform_(nonlinearity="relu",
    mode="fan_in") with our (D_in, D_out) layout.
    """
    fn = "he_uniform"
    dims, fan_in, _ = _fans(shape, fn)
    rng = check_rng(rng, fn)
    dt = _dtype(dtype, fn)
    a = math.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=dims).astype(dt, copy=False)


def he_normal(
    shape: Shape, *, rng: np.random.Generator, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """W ~ N(0, std**2), std = sqrt(2 / fan_in).  Shapes: shape -> W (shape).

    He et al. (2015), for ReLU networks; torch.nn.init.kaiming_normal_(nonlinearity="relu",
    mode="fan_in") with our (D_in, D_out) layout.
    """
    fn = "he_normal"
    dims, fan_in, _ = _fans(shape, fn)
    rng = check_rng(rng, fn)
    dt = _dtype(dtype, fn)
    std = math.sqrt(2.0 / fan_in)
    return rng.normal(0.0, std, size=dims).astype(dt, copy=False)


def zeros(
    shape: Shape, *, rng: np.random.Generator | None = None, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """W = 0.  Shapes: shape (any, e.g. (M,) for a bias) -> W (shape).

    ``rng`` is accepted and ignored, so that every initialiser has the same call signature.
    """
    fn = "zeros"
    dims = _shape(shape, fn)
    if rng is not None:
        check_rng(rng, fn)
    return np.zeros(dims, dtype=_dtype(dtype, fn))


_INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "zeros": zeros,
}


def get_initializer(name: str) -> Callable[..., np.ndarray]:
    """Return the initialiser called ``name``: one of "xavier_uniform", "xavier_normal",
    "he_uniform", "he_normal", "zeros".  Call the result as ``init(shape, rng=rng)``.
    """
    if not isinstance(name, str) or name not in _INITIALIZERS:
        valid = ", ".join(repr(k) for k in _INITIALIZERS)
        raise ValueError(f"get_initializer: unknown initializer {name!r}; valid names: {valid}")
    return _INITIALIZERS[name]
