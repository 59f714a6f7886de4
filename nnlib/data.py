"""Data sets that work offline: scikit-learn's digits and toy generators, the CS231n spiral,
MNIST-1D generated locally, and a train/validation/test split.

Nothing here touches the network. Randomness comes from the injected ``rng``; the scikit-learn
generators get a ``random_state`` drawn from it.
"""

from __future__ import annotations

import copy
import functools
import math
import random
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import (
    check_labels,
    check_positive,
    check_positive_int,
    check_probability,
    check_rng,
)

__all__ = [
    "load_digits",
    "make_moons",
    "make_circles",
    "make_spirals",
    "load_mnist1d",
    "train_val_test_split",
]




def _sklearn_seed(rng: np.random.Generator) -> int:
    # Any value numpy.random.RandomState accepts: [0, 2**32 - 1].
    return int(rng.integers(0, 2**32))


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits.  Returns X (1797, 64) float64 in [0, 1]
    (pixel / 16, rows are the 8x8 images flattened row by row) and y (1797,) int64 in 0..9."""
    from sklearn.datasets import load_digits as _sk_load_digits

    X, y = _sk_load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float64), y.astype(np.int64)


def make_moons(
    n_samples: int, *, noise: float = 0.1, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's make_moons, shuffled).
    Returns X (N, 2) float64 and y (N,) int64 in {0, 1}; Gaussian noise of std ``noise``."""
    fn = "make_moons"
    n_samples = check_positive_int(n_samples, fn, "n_samples")
    check_positive(noise, fn, "noise", allow_zero=True)
    check_rng(rng, fn)
    from sklearn.datasets import make_moons as _sk_make_moons

    X, y = _sk_make_moons(n_samples, noise=noise, random_state=_sklearn_seed(rng))
    return X.astype(np.float64), y.astype(np.int64)


def make_circles(
    n_samples: int, *, noise: float = 0.05, factor: float = 0.5, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A circle inside another (scikit-learn's make_circles, shuffled); the inner radius is
    ``factor`` times the outer one.  Returns X (N, 2) float64 and y (N,) int64 (1 = inner)."""
    fn = "make_circles"
    n_samples = check_positive_int(n_samples, fn, "n_samples")
    check_positive(noise, fn, "noise", allow_zero=True)
    check_probability(factor, fn, "factor")
    check_rng(rng, fn)
    from sklearn.datasets import make_circles as _sk_make_circles

    X, y = _sk_make_circles(
        n_samples, noise=noise, factor=factor, random_state=_sklearn_seed(rng)
    )
    return X.astype(np.float64), y.astype(np.int64)


def make_spirals(
    n_samples: int, *, n_classes: int = 3, noise: float = 0.2, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The CS231n spiral: class k has points r (sin t, cos t) with r = linspace(0, 1) and
    t = linspace(4k, 4k + 4) + noise * N(0, 1).  Returns X (N, 2) float64 with |x| <= 1
    and y (N,) int64 in 0..K-1, shuffled; K = n_classes and N = n_samples split as evenly as
    possible (the first N mod K classes get one point more)."""
    fn = "make_spirals"
    n_samples = check_positive_int(n_samples, fn, "n_samples")
    n_classes = check_positive_int(n_classes, fn, "n_classes")
    if n_samples < n_classes:
        raise ValueError(
            f"{fn}: n_samples={n_samples} is less than n_classes={n_classes}; "
            "every class needs at least one point"
        )
    check_positive(noise, fn, "noise", allow_zero=True)
    check_rng(rng, fn)
    Xs, ys = [], []
    for k in range(n_classes):
        m = n_samples // n_classes + (k < n_samples % n_classes)
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), m) + noise * rng.standard_normal(m)
        Xs.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        ys.append(np.full(m, k, dtype=np.int64))
    order = rng.permutation(n_samples)
    return np.concatenate(Xs)[order], np.concatenate(ys)[order]


@functools.lru_cache(maxsize=8)
def _mnist1d(num_samples: int, train_split: float, seed: int) -> dict[str, Any]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    # make_dataset reseeds and draws from the global `random` and `np.random` generators;
    # put them back so that loading data never changes anybody else's random stream.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return {
        "x": np.asarray(data["x"], dtype=np.float64),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float64),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
        "t": np.asarray(data["t"], dtype=np.float64),
        "templates": data["templates"],
    }


def load_mnist1d(
    *, num_samples: int = 5000, train_split: float = 0.8, seed: int = 42
) -> dict[str, Any]:
    """MNIST-1D generated locally by the ``mnist1d`` package (never downloaded).

    Returns {"x": (N_train, 40) float64, "y": (N_train,) int64, "x_test": (N_test, 40),
    "y_test": (N_test,), "t": (40,) the sample positions, "templates": {"x": (10, 12),
    "t": (12,), "y": (10,)}}, with N_train = int(num_samples * train_split). The defaults give
    the published data set (4000 train / 1000 test). Generation takes a few seconds, so results
    are cached in-process; each call returns fresh copies.
    """
    fn = "load_mnist1d"
    num_samples = check_positive_int(num_samples, fn, "num_samples")
    if num_samples % 10:
        raise ValueError(
            f"{fn}: num_samples must be a multiple of 10 (an equal share per digit), "
            f"got {num_samples}"
        )
    if not 0.0 < train_split < 1.0:
        raise ValueError(f"{fn}: train_split must be in (0, 1), got {train_split!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"{fn}: seed must be an integer in [0, 2**32), got {seed!r}")
    return copy.deepcopy(_mnist1d(num_samples, float(train_split), int(seed)))



def _split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    # Round half up (Python's round() rounds half to even).
    return math.floor(val_fraction * n + 0.5), math.floor(test_fraction * n + 0.5)


def train_val_test_split(
    X: ArrayLike,
    y: ArrayLike,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    rng: np.random.Generator,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the rows with ``rng`` and cut them into train, validation and test sets.

    Shapes: X (N, ...), y (N, ...) -> (X_train, y_train, X_val, y_val, X_test, y_test); the
    three sets are disjoint and together hold every row once. The validation and test sets get
    round(val_fraction * N) and round(test_fraction * N) rows. With ``stratify=True`` (y holds
    class labels) the rounding is done per class, so each set keeps the class proportions.
    """
    fn = "train_val_test_split"
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{fn}: X and y must have the same number of rows N, got X {X.shape} and y {y.shape}"
        )
    check_probability(val_fraction, fn, "val_fraction")
    check_probability(test_fraction, fn, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"{fn}: val_fraction + test_fraction must be < 1 to leave training data, "
            f"got {val_fraction} + {test_fraction}"
        )
    check_rng(rng, fn)
    N = X.shape[0]
    if stratify:
        labels = check_labels(y, N, None, fn)
        parts: list[list[np.ndarray]] = [[], [], []]
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            n_val, n_test = _split_counts(idx.size, val_fraction, test_fraction)
            parts[0].append(idx[n_val + n_test :])
            parts[1].append(idx[:n_val])
            parts[2].append(idx[n_val : n_val + n_test])
        # Shuffle again so that the classes are mixed within each set.
        train, val, test = (rng.permutation(np.concatenate(p)) for p in parts)
    else:
        n_val, n_test = _split_counts(N, val_fraction, test_fraction)
        order = rng.permutation(N)
        val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
    if train.size == 0:
        raise ValueError(f"{fn}: no rows are left for training (N={N})")
    return X[train], y[train], X[val], y[val], X[test], y[test]
