"""The multilayer perceptron as functions: its forward pass, its parameters, its activations.

A network is a list ``params`` of ``(W, b)`` pairs, one per layer, with ``W`` of shape
``(D_in, D_out)`` (see ``nnlib.layers``). Every layer but the last applies an activation after
its dense layer; the last layer is linear and returns the class scores (the logits: the softmax
belongs to the loss). ``mlp_forward`` returns one cache per layer, ``(linear_cache,
activation_cache)``, in the ``*_forward -> (out, cache)`` style, with ``activation_cache = None``
for the last layer. The modules (``nnlib.Sequential`` of ``Linear`` and ``ReLU``) compute the
same thing; this functional form is what lesson 04 builds and what the activation statistics of
its widget are measured on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_positive_int, check_rng
from nnlib.activations import leaky_relu_forward, relu_forward, sigmoid_forward, tanh_forward
from nnlib.init import get_initializer
from nnlib.layers import LinearCache, linear_forward

__all__ = [
    "ACTIVATIONS",
    "mlp_forward",
    "hidden_activations",
    "init_mlp",
    "activation_statistics",
]

#: The hidden-layer activations ``mlp_forward`` accepts, by name: each maps x to (out, cache).
ACTIVATIONS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, Any]]] = {
    "relu": relu_forward,
    "tanh": tanh_forward,
    "sigmoid": sigmoid_forward,
    "leaky_relu": leaky_relu_forward,
}

Params = Sequence[tuple[ArrayLike, ArrayLike | None]]
MLPCache = tuple[LinearCache, Any]


def _check_activation(activation: Any, fn: str) -> Callable[[np.ndarray], tuple[np.ndarray, Any]]:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        valid = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"{fn}: unknown activation {activation!r}; valid names: {valid}")
    return ACTIVATIONS[activation]


def _check_params(params: Any, fn: str) -> list[tuple[Any, Any]]:
    try:
        layers = list(params)
    except TypeError:
        raise ValueError(f"{fn}: params must be a list of (W, b) pairs, got {params!r}") from None
    if not layers:
        raise ValueError(f"{fn}: params is empty; a network needs at least one (W, b) layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, tuple | list) or len(layer) != 2:
            raise ValueError(f"{fn}: params[{i}] must be a (W, b) pair, got {type(layer).__name__}")
    return [tuple(layer) for layer in layers]


def mlp_forward(
    X: ArrayLike, params: Params, activation: str = "relu"
) -> tuple[np.ndarray, list[MLPCache]]:
    """h_0 = X; h_l = act(h_{l-1} @ W_l + b_l) for l < L; scores = h_{L-1} @ W_L + b_L.

    Shapes: X (N, D), params [(W_1 (D, M_1), b_1 (M_1,)), ..., (W_L (M_{L-1}, K), b_L (K,))]
    -> scores (N, K), caches (a list of L entries). ``activation`` is a key of ``ACTIVATIONS``.
    caches[l] is (linear_cache, activation_cache) of layer l + 1: linear_cache = (h_l, W, b)
    as returned by ``linear_forward`` and activation_cache as returned by the activation's
    forward; the last layer is linear, so its activation_cache is None. One layer (L = 1) is a
    linear model.
    """
    fn = "mlp_forward"
    act = _check_activation(activation, fn)
    layers = _check_params(params, fn)
    h = as_array(X, fn, "X")
    caches: list[MLPCache] = []
    for i, (W, b) in enumerate(layers):
        W = as_array(W, fn, f"params[{i}][0] (W)")
        if W.ndim == 2 and h.shape[-1] != W.shape[0]:
            what = "X has" if i == 0 else f"layer {i} outputs"
            raise ValueError(
                f"{fn}: {what} {h.shape[-1]} features but params[{i}][0] (W) expects "
                f"{W.shape[0]} (W is {W.shape})"
            )
        z, linear_cache = linear_forward(h, W, b)
        if i < len(layers) - 1:
            h, act_cache = act(z)
        else:
            h, act_cache = z, None
        caches.append((linear_cache, act_cache))
    return h, caches


def hidden_activations(caches: Sequence[MLPCache]) -> list[np.ndarray]:
    """[h_1, ..., h_{L-1}]: the output of every hidden layer, read from ``mlp_forward``'s caches.

    Shapes: caches of an L-layer network -> L - 1 arrays, h_l (N, M_l). Each hidden layer's
    output is the input of the next dense layer, so it is the first entry of that layer's
    linear cache.
    """
    return [linear_cache[0] for linear_cache, _ in caches[1:]]


def init_mlp(
    layer_sizes: Sequence[int],
    *,
    rng: np.random.Generator,
    init: str | Callable[..., np.ndarray] = "he_normal",
    dtype: DTypeLike = np.float64,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """params = [(W_l, b_l)] for layer sizes [D, M_1, ..., K]: W_l from ``init``, b_l = 0.

    Shapes: layer_sizes of length L + 1 -> L pairs, W_l (sizes[l-1], sizes[l]), b_l (sizes[l],).
    ``init`` is a name for ``nnlib.init.get_initializer`` or a function called as
    ``init(shape, rng=rng)``. The weights are drawn layer by layer, first to last, from ``rng``.
    """
    fn = "init_mlp"
    check_rng(rng, fn)
    sizes = [check_positive_int(s, fn, "layer_sizes entries") for s in layer_sizes]
    if len(sizes) < 2:
        raise ValueError(f"{fn}: layer_sizes needs an input and an output size, got {sizes}")
    initializer = get_initializer(init) if isinstance(init, str) else init
    if not callable(initializer):
        raise ValueError(f"{fn}: init must be an initializer name or a function, got {init!r}")
    params = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = np.asarray(initializer((d_in, d_out), rng=rng), dtype=dtype)
        params.append((W, np.zeros(d_out, dtype=dtype)))
    return params


def activation_statistics(
    activations: Sequence[ArrayLike], *, saturation: float = 0.99
) -> dict[str, np.ndarray]:
    """Per layer: mean, std, fraction of exact zeros, fraction with |h| >= saturation.

    Shapes: activations, a list of L arrays (any shape) -> a dict of (L,) arrays under "mean",
    "std", "zero_fraction" and "saturated_fraction". A dead ReLU layer has zero_fraction near 1;
    a tanh layer stuck at +-1 has saturated_fraction near 1.
    """
    fn = "activation_statistics"
    arrays = [as_array(a, fn, f"activations[{i}]") for i, a in enumerate(activations)]
    for i, a in enumerate(arrays):
        if a.size == 0:
            raise ValueError(f"{fn}: activations[{i}] is empty")
    return {
        "mean": np.array([a.mean() for a in arrays]),
        "std": np.array([a.std() for a in arrays]),
        "zero_fraction": np.array([np.mean(a == 0) for a in arrays]),
        "saturated_fraction": np.array([np.mean(np.abs(a) >= saturation) for a in arrays]),
    }
