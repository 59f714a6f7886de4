"""Backpropagation by hand through a two-layer MLP, on a plain dict of parameters.

The network is ``scores = relu(X @ W1 + b1) @ W2 + b2`` with the softmax cross-entropy loss
averaged over the batch; ``params`` and ``grads`` are dicts with the keys "W1", "b1", "W2",
"b2". Built from the functional pairs of ``nnlib.layers``, ``nnlib.activations`` and
``nnlib.losses``, so it agrees with ``Sequential(Linear, ReLU, Linear)`` and
``CrossEntropyLoss`` holding the same weights. Update rules are pure: ``sgd_step`` returns new
arrays and never writes into ``params``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array, check_labels, check_ndim, check_positive, check_rng
from nnlib.activations import relu_backward, relu_forward
from nnlib.init import he_normal, xavier_normal
from nnlib.layers import linear_backward, linear_forward
from nnlib.losses import softmax_cross_entropy_loss

__all__ = [
    "PARAM_NAMES",
    "init_two_layer",
    "two_layer_scores",
    "two_layer_loss_and_grads",
    "sgd_step",
    "train_two_layer",
]

#: The keys of a two-layer parameter dict, in the order of the forward pass.
PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")

Params = dict[str, np.ndarray]


def _check_params(params: Mapping[str, ArrayLike], fn: str) -> Params:
    if not isinstance(params, Mapping):
        raise ValueError(
            f"{fn}: params must be a dict with keys {list(PARAM_NAMES)}, "
            f"got {type(params).__name__}"
        )
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"{fn}: params is missing the keys {missing}")
    p = {k: as_array(params[k], fn, f'params["{k}"]') for k in PARAM_NAMES}
    check_ndim(p["W1"], 2, fn, 'params["W1"]', "(D, H)")
    check_ndim(p["W2"], 2, fn, 'params["W2"]', "(H, K)")
    D, H = p["W1"].shape
    if p["W2"].shape[0] != H:
        raise ValueError(
            f'{fn}: params["W2"] has {p["W2"].shape[0]} rows but W1 has H={H} hidden units '
            f'(W1 is {p["W1"].shape}, W2 is {p["W2"].shape})'
        )
    K = p["W2"].shape[1]
    for key, want in (("b1", (H,)), ("b2", (K,))):
        if p[key].shape != want:
            raise ValueError(f'{fn}: params["{key}"] must have shape {want}, got {p[key].shape}')
    return p


def init_two_layer(
    D: int, H: int, K: int, *, rng: np.random.Generator, dtype: type = np.float64
) -> Params:
    """W1 ~ He normal (D, H), b1 = 0 (H,), W2 ~ Xavier normal (H, K), b2 = 0 (K,).

    He for the layer that feeds a ReLU, Xavier for the output layer; both from ``rng``.
    """
    fn = "init_two_layer"
    check_rng(rng, fn)
    return {
        "W1": he_normal((D, H), rng=rng, dtype=dtype),
        "b1": np.zeros(H, dtype=dtype),
        "W2": xavier_normal((H, K), rng=rng, dtype=dtype),
        "b2": np.zeros(K, dtype=dtype),
    }


def two_layer_scores(X: ArrayLike, params: Mapping[str, ArrayLike]) -> np.ndarray:
    """scores = relu(X @ W1 + b1) @ W2 + b2.  Shapes: X (N, D) -> scores (N, K)."""
    fn = "two_layer_scores"
    p = _check_params(params, fn)
    X = as_array(X, fn, "X")
    check_ndim(X, 2, fn, "X", "(N, D)")
    z1, _ = linear_forward(X, p["W1"], p["b1"])
    h, _ = relu_forward(z1)
    scores, _ = linear_forward(h, p["W2"], p["b2"])
    return scores


def two_layer_loss_and_grads(
    X: ArrayLike, y: ArrayLike, params: Mapping[str, ArrayLike]
) -> tuple[float, Params]:
    """loss = mean_i CE(softmax(relu(X W1 + b1) W2 + b2)_i, y_i) and its gradients.

    Shapes: X (N, D), y (N,) int in [0, K), params {"W1": (D, H), "b1": (H,), "W2": (H, K),
    "b2": (K,)} -> loss (a float), grads {"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}.
    Backward: dscores = (softmax - onehot) / N; dW2 = h.T @ dscores, db2 = sum_n dscores;
    dh = dscores @ W2.T; dz1 = dh * [z1 > 0]; dW1 = X.T @ dz1, db1 = sum_n dz1.
    """
    fn = "two_layer_loss_and_grads"
    p = _check_params(params, fn)
    X = as_array(X, fn, "X")
    check_ndim(X, 2, fn, "X", "(N, D)")
    if X.shape[1] != p["W1"].shape[0]:
        raise ValueError(
            f'{fn}: X has {X.shape[1]} features but W1 expects {p["W1"].shape[0]} '
            f'(W1 is {p["W1"].shape})'
        )
    y = check_labels(y, X.shape[0], p["W2"].shape[1], fn)

    z1, cache1 = linear_forward(X, p["W1"], p["b1"])
    h, cache_relu = relu_forward(z1)
    scores, cache2 = linear_forward(h, p["W2"], p["b2"])
    loss, dscores = softmax_cross_entropy_loss(scores, y)

    dh, dW2, db2 = linear_backward(dscores, cache2)
    dz1 = relu_backward(dh, cache_relu)
    _, dW1, db1 = linear_backward(dz1, cache1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def sgd_step(
    params: Mapping[str, ArrayLike], grads: Mapping[str, ArrayLike], lr: float
) -> Params:
    """new[k] = params[k] - lr * grads[k] for every key k of params.

    Shapes: each grads[k] has the shape of params[k]; the result has the keys of params.
    Pure: returns a new dict of new arrays; params and grads are left untouched.
    """
    fn = "sgd_step"
    check_positive(lr, fn, "lr", allow_zero=True)
    if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
        raise ValueError(f"{fn}: params and grads must be dicts of arrays")
    missing = [k for k in params if k not in grads]
    if missing:
        raise ValueError(f"{fn}: grads has no entry for the parameters {missing}")
    new: Params = {}
    for key in params:
        w = as_array(params[key], fn, f'params["{key}"]')
        dw = as_array(grads[key], fn, f'grads["{key}"]')
        if w.shape != dw.shape:
            raise ValueError(
                f'{fn}: grads["{key}"] has shape {dw.shape} but params["{key}"] has {w.shape}'
            )
        # A Python float keeps float32 parameters float32.
        new[key] = w - float(lr) * dw
    return new


def train_two_layer(
    X: ArrayLike,
    y: ArrayLike,
    params: Mapping[str, ArrayLike],
    *,
    lr: float,
    num_epochs: int,
) -> tuple[Params, list[float]]:
    """Full-batch gradient descent: num_epochs times params <- sgd_step(params, grads, lr).

    Shapes: X (N, D), y (N,) -> (the final params, the num_epochs losses measured before each
    step). Stops early, keeping the losses so far, if the loss stops being finite.
    """
    fn = "train_two_layer"
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int | np.integer):
        raise ValueError(f"{fn}: num_epochs must be a non-negative integer, got {num_epochs!r}")
    if num_epochs < 0:
        raise ValueError(f"{fn}: num_epochs must be a non-negative integer, got {num_epochs!r}")
    current = _check_params(params, fn)
    losses: list[float] = []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported, not raised
        for _ in range(int(num_epochs)):
            loss, grads = two_layer_loss_and_grads(X, y, current)
            losses.append(loss)
            if not np.isfinite(loss):
                break
            current = sgd_step(current, grads, lr)
    return current, losses
