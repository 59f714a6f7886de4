"""NumPy building blocks used everywhere else: one-hot labels and feature standardisation."""

from __future__ import annotations

import numpy as np

from nnlib._validate import as_array, check_labels, check_ndim

__all__ = ["one_hot", "standardize"]


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Y[i, y[i]] = 1, every other entry 0.  Shapes: y (N,) int in [0, K) -> Y (N, K) float64."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise ValueError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be >= 1, got {num_classes}")
    arr = np.asarray(y)
    labels = check_labels(arr, arr.shape[0] if arr.ndim == 1 else -1, int(num_classes), "one_hot")
    out = np.zeros((labels.shape[0], int(num_classes)))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def standardize(
    X: np.ndarray,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    eps: float = 1e-8,
) -> np.ndarray:
    """X_std = (X - mean) / (std + eps), per feature (column).

    Shapes: X (N, D), mean (D,), std (D,) -> X_std (N, D). When ``mean`` and ``std`` are not
    given they are computed from ``X`` itself (population std, ``ddof=0``); pass the training
    set's statistics to standardise validation and test data the same way. ``eps`` keeps
    constant features (std 0) finite.
    """
    X = as_array(X, "standardize", "X")
    check_ndim(X, 2, "standardize", "X", "(N, D)")
    mu = X.mean(axis=0) if mean is None else as_array(mean, "standardize", "mean")
    sigma = X.std(axis=0) if std is None else as_array(std, "standardize", "std")
    for label, stat in (("mean", mu), ("std", sigma)):
        if stat.shape != (X.shape[1],):
            raise ValueError(
                f"standardize: {label} must have shape (D,) = ({X.shape[1]},) to match X "
                f"{X.shape}, got {stat.shape}"
            )
    return (X - mu) / (sigma + eps)
