"""Input checks shared by the library: bad input gets a ValueError naming the function and shapes.

Every public function validates its arguments with these helpers, so that a learner who passes
the wrong thing reads ``linear_forward: x has 5 features but W expects 4 (W is (4, 3))``
instead of a broadcasting traceback from deep inside NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "as_array",
    "check_ndim",
    "check_same_shape",
    "check_labels",
    "check_positive",
    "check_probability",
    "check_rng",
    "check_positive_int",
]


def as_array(x: Any, fn: str, name: str) -> np.ndarray:
    """Return ``x`` as a floating-point ndarray, or raise ValueError naming ``fn`` and ``name``.

    Integer and boolean inputs are converted to float64; float32 stays float32.
    """
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{fn}: {name} could not be turned into an array ({exc})") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{fn}: {name} must be numeric, got an array of dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{fn}: {name} must be real, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def check_ndim(x: np.ndarray, ndim: int | Sequence[int], fn: str, name: str, layout: str) -> None:
    """Raise unless ``x.ndim`` is ``ndim`` (or one of them); ``layout`` reads like ``"(N, D)"``."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        raise ValueError(
            f"{fn}: {name} must have shape {layout} ({' or '.join(map(str, allowed))}-D), "
            f"got shape {x.shape}"
        )


def check_same_shape(a: np.ndarray, b: np.ndarray, fn: str, names: tuple[str, str]) -> None:
    """Raise unless ``a`` and ``b`` have the same shape (no silent broadcasting)."""
    if a.shape != b.shape:
        hint = ""
        if a.size == b.size:
            hint = " (same number of entries: reshape one of them, e.g. with .reshape(-1))"
        raise ValueError(
            f"{fn}: {names[0]} and {names[1]} must have the same shape, "
            f"got {a.shape} and {b.shape}{hint}"
        )


def check_labels(y: Any, n: int, num_classes: int | None, fn: str, name: str = "y") -> np.ndarray:
    """Return ``y`` as an int64 vector of class indices of length ``n`` in ``[0, num_classes)``."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(
            f"{fn}: {name} must be a vector of integer class indices with shape (N,), "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise ValueError(f"{fn}: {name} has {arr.shape[0]} labels but the batch has N={n} rows")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif arr.size:
            raise ValueError(
                f"{fn}: {name} must hold integer class indices, got dtype {arr.dtype}"
            )
        else:
            arr = arr.astype(np.int64)
    if num_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"{fn}: {name} must be class indices in [0, {num_classes}), "
            f"got values from {arr.min()} to {arr.max()}"
        )
    return arr.astype(np.int64, copy=False)


def check_positive(value: float, fn: str, name: str, allow_zero: bool = False) -> None:
    """Raise unless ``value`` is a positive (or non-negative) finite number."""
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{fn}: {name} must be {bound}, got {value!r}")


def check_probability(value: float, fn: str, name: str) -> None:
    """Raise unless ``0 <= value < 1``."""
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{fn}: {name} must be in [0, 1), got {value!r}")


def check_rng(rng: Any, fn: str) -> np.random.Generator:
    """Return ``rng`` unless it is not a ``np.random.Generator`` (then raise ValueError)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"{fn}: rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_positive_int(value: Any, fn: str, name: str) -> int:
    """Return ``value`` as an int, or raise ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {value!r}")
    return int(value)
