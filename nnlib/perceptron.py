"""The single neuron and Rosenblatt's perceptron (lesson 01).

A neuron computes the weighted sum ``z = x @ w + b`` of its inputs and passes it through an
activation: the step function (the perceptron) or, as a preview of lesson 02, the sigmoid. One
neuron is one column of a dense layer: ``w`` (D,) is ``W[:, m]`` of ``W`` (D, M), ``b`` a scalar.

Labels are in {0, 1}. The step function is 1 at ``z = 0`` (``step(z) = 1 if z >= 0``), so a
perceptron whose weights are all zero predicts class 1 for every input.

Two small data sets come with it: :func:`make_separable` (two classes split by a random line,
with a gap) and :func:`xor_data` (the four points of XOR, which no line separates).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import (
    as_array,
    check_ndim,
    check_positive,
    check_positive_int,
    check_rng,
)
from nnlib.activations import sigmoid

__all__ = [
    "weighted_sum",
    "step",
    "sigmoid_unit",
    "perceptron_predict",
    "perceptron_update",
    "perceptron_history",
    "train_perceptron",
    "make_separable",
    "xor_data",
]


def _check_bias(b: Any, fn: str) -> float:
    if np.ndim(b) != 0:
        raise ValueError(f"{fn}: b must be a single number (one neuron), got shape {np.shape(b)}")
    return float(as_array(b, fn, "b"))


def _check_inputs(x: ArrayLike, w: ArrayLike, fn: str, xname: str = "x") -> tuple[np.ndarray, ...]:
    x = as_array(x, fn, xname)
    w = as_array(w, fn, "w")
    check_ndim(w, 1, fn, "w", "(D,)")
    check_ndim(x, (1, 2), fn, xname, "(N, D) or (D,)")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"{fn}: {xname} has {x.shape[-1]} features but w has {w.shape[0]} weights "
            f"({xname} is {x.shape}, w is {w.shape})"
        )
    return x, w


def _check_binary(y: Any, fn: str, name: str = "y") -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{fn}: {name} must hold the labels 0 and 1, got dtype {arr.dtype}")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{fn}: {name} must hold the labels 0 and 1 only, got {np.unique(arr)}")
    return arr.astype(np.int64)


def weighted_sum(x: ArrayLike, w: ArrayLike, b: float) -> np.ndarray:
    """z = x @ w + b = sum_d x[d] w[d] + b.

    Shapes: x (N, D), w (D,), b scalar -> z (N,). A single example x (D,) gives a scalar z
    (a 0-d array).
    """
    fn = "weighted_sum"
    x, w = _check_inputs(x, w, fn)
    return np.asarray(x @ w + _check_bias(b, fn))


def step(z: ArrayLike) -> np.ndarray:
    """Heaviside step: 1.0 where z >= 0, 0.0 where z < 0 (so step(0) = 1).

    Shapes: z (any) -> out (same shape as z), floating point, a new array.
    """
    z = as_array(z, "step", "z")
    return np.asarray((z >= 0).astype(z.dtype))


def sigmoid_unit(x: ArrayLike, w: ArrayLike, b: float) -> np.ndarray:
    """a = sigmoid(x @ w + b) = 1 / (1 + exp(-(x @ w + b))).

    Shapes: x (N, D), w (D,), b scalar -> a (N,) in [0, 1]; x (D,) gives a scalar. Computed
    without overflow for any finite z.
    """
    return sigmoid(weighted_sum(x, w, b))


def perceptron_predict(x: ArrayLike, w: ArrayLike, b: float) -> np.ndarray:
    """y_hat = step(x @ w + b).  Shapes: x (N, D), w (D,), b scalar -> y_hat (N,) in {0., 1.}."""
    return step(weighted_sum(x, w, b))


def perceptron_update(
    w: ArrayLike, b: float, x: ArrayLike, y: int, lr: float
) -> tuple[np.ndarray, float]:
    """One step of the perceptron rule on one example.

    y_hat = step(x @ w + b);  w_new = w + lr * (y - y_hat) * x;  b_new = b + lr * (y - y_hat).

    Shapes: w (D,), b scalar, x (D,), y in {0, 1}, lr > 0 -> (w_new (D,), b_new float).
    Nothing changes when the example is classified correctly; w and b are not modified.
    """
    fn = "perceptron_update"
    x, w = _check_inputs(x, w, fn)
    check_ndim(x, 1, fn, "x", "(D,) (one example)")
    b = _check_bias(b, fn)
    if np.ndim(y) != 0:
        raise ValueError(f"{fn}: y must be one label (0 or 1), got shape {np.shape(y)}")
    label = int(_check_binary(y, fn))
    check_positive(lr, fn, "lr")
    error = label - float(step(x @ w + b))
    return w + lr * error * x, b + lr * error


def perceptron_history(
    X: ArrayLike, y: ArrayLike, *, epochs: int, lr: float = 1.0, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train a perceptron as :func:`train_perceptron` does and keep (w, b) after every epoch.

    Returns ws (epochs + 1, D) and bs (epochs + 1,), whose row 0 is the zero start, and
    errors (epochs,) int64: the number of mistakes (updates) made during each epoch.
    """
    fn = "train_perceptron"
    X = as_array(X, fn, "X")
    check_ndim(X, 2, fn, "X", "(N, D)")
    labels = _check_binary(y, fn)
    if labels.shape != (X.shape[0],):
        raise ValueError(
            f"{fn}: y must have shape (N,) = ({X.shape[0]},) to match X {X.shape}, "
            f"got {labels.shape}"
        )
    epochs = check_positive_int(epochs, fn, "epochs")
    check_positive(lr, fn, "lr")
    check_rng(rng, fn)
    N, D = X.shape
    w, b = np.zeros(D), 0.0
    ws, bs = [w.copy()], [b]
    errors = np.zeros(epochs, dtype=np.int64)
    for epoch in range(epochs):
        for i in rng.permutation(N):
            error = labels[i] - (1.0 if X[i] @ w + b >= 0 else 0.0)
            if error != 0:
                w = w + lr * error * X[i]
                b = b + lr * error
                errors[epoch] += 1
        ws.append(w.copy())
        bs.append(b)
    return np.array(ws), np.array(bs, dtype=np.float64), errors


def train_perceptron(
    X: ArrayLike, y: ArrayLike, *, epochs: int, lr: float = 1.0, rng: np.random.Generator
) -> tuple[np.ndarray, float, np.ndarray]:
    """Rosenblatt's perceptron: start from w = 0, b = 0 and apply the perceptron rule.

    Every epoch visits the examples once, in the order ``rng.permutation(N)`` (drawn afresh at
    the start of each epoch), and updates (w, b) with :func:`perceptron_update` on each.

    Shapes: X (N, D), y (N,) in {0, 1} -> (w (D,), b float, errors (epochs,) int64), where
    errors[e] is the number of mistakes (updates) made during epoch e. All ``epochs`` epochs
    run; after an epoch without mistakes the later ones change nothing.
    """
    ws, bs, errors = perceptron_history(X, y, epochs=epochs, lr=lr, rng=rng)
    return ws[-1], float(bs[-1]), errors


def make_separable(
    n_samples: int, *, margin: float = 0.1, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points drawn uniformly in the square [-1, 1]^2, labelled by a random line.

    The line has a random direction and passes within 0.3 of the origin; points closer to it
    than ``margin`` are rejected, so the two classes are linearly separable with a gap of at
    least 2 * margin. Returns X (N, 2) float64 and y (N,) int64 in {0, 1}.
    """
    fn = "make_separable"
    n_samples = check_positive_int(n_samples, fn, "n_samples")
    check_positive(margin, fn, "margin", allow_zero=True)
    if margin >= 0.5:
        raise ValueError(f"{fn}: margin must be < 0.5 to leave room in the square, got {margin}")
    check_rng(rng, fn)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    w_true = np.array([np.cos(angle), np.sin(angle)])
    b_true = rng.uniform(-0.3, 0.3)
    kept: list[np.ndarray] = []
    count = 0
    while count < n_samples:
        candidates = rng.uniform(-1.0, 1.0, size=(2 * n_samples, 2))
        candidates = candidates[np.abs(candidates @ w_true + b_true) >= margin]
        kept.append(candidates)
        count += len(candidates)
    X = np.concatenate(kept)[:n_samples]
    y = (X @ w_true + b_true >= 0).astype(np.int64)
    return X, y


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    """The truth table of XOR: X (4, 2) = the corners of the unit square, y (4,) = x1 XOR x2."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y
