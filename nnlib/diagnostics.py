"""Diagnosing deep networks: gradient norms per layer, their vanishing or exploding, and
gradient clipping.

Backpropagation multiplies the gradient by one Jacobian per layer, so its norm changes by
roughly the same factor at every layer: it shrinks geometrically (vanishes) or grows
geometrically (explodes) with depth unless activation and initialisation keep that factor
near 1. The functions here measure it on a model (``grad_norms``, ``layer_grad_norms``,
``activation_grad_norms``), read the profile (``gradient_growth``, ``diagnose_gradients``)
and clip gradients, on Parameters with the semantics of ``torch.nn.utils``
(``clip_grad_value_``, ``clip_grad_norm_``) or on plain arrays (``clip_by_value``,
``clip_by_norm``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_positive, check_positive_int, check_rng
from nnlib.init import get_initializer
from nnlib.modules import Linear, Module, Parameter, ReLU, Sequential, Sigmoid, Tanh

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "deep_mlp",
    "grad_norms",
    "layer_grad_norms",
    "activation_grad_norms",
    "gradient_growth",
    "diagnose_gradients",
    "clip_by_value",
    "clip_by_norm",
    "clip_grad_value_",
    "clip_grad_norm_",
]

#: The activation modules ``deep_mlp`` can put after each hidden layer, by name.
HIDDEN_ACTIVATIONS: dict[str, type[Module]] = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}

#: clip_grad_norm_ and clip_by_norm divide by (total norm + this), as torch.nn.utils does.
CLIP_EPS = 1e-6


# ---------------------------------------------------------------------------------------------
# A deep MLP to diagnose
# ---------------------------------------------------------------------------------------------


def _initializer(init: Any, fn: str) -> Callable[..., np.ndarray]:
    if isinstance(init, str):
        return get_initializer(init)
    if isinstance(init, int | float) and not isinstance(init, bool):
        check_positive(init, fn, "init (a standard deviation)", allow_zero=True)
        std = float(init)

        def normal(shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
            return rng.normal(0.0, std, size=shape)

        return normal
    if callable(init):
        return init
    raise ValueError(
        f"{fn}: init must be an initializer name, a standard deviation or a function "
        f"init(shape, rng=rng), got {init!r}"
    )


def deep_mlp(
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    *,
    activation: str = "relu",
    init: str | float | Callable[..., np.ndarray] = "he_normal",
    rng: np.random.Generator,
    dtype: DTypeLike = np.float64,
) -> Sequential:
    """Linear(D, width), act, ..., Linear(width, width), act, Linear(width, K): ``depth`` hidden
    layers of ``width`` units and a linear output layer (depth + 1 Linear layers in all).

    Shapes: input (N, D = in_features) -> scores (N, K = out_features). ``init`` is an
    initializer name of ``nnlib.init`` ("he_normal", "xavier_uniform", ...), a standard deviation
    (weights ~ N(0, init**2)) or a function ``init(shape, rng=rng)``; weights are drawn layer by
    layer, first to last, and biases start at zero. ``activation`` is a key of
    ``HIDDEN_ACTIVATIONS``. ``depth=0`` gives a linear model.
    """
    fn = "deep_mlp"
    in_features = check_positive_int(in_features, fn, "in_features")
    width = check_positive_int(width, fn, "width")
    out_features = check_positive_int(out_features, fn, "out_features")
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer) or depth < 0:
        raise ValueError(f"{fn}: depth must be a non-negative integer, got {depth!r}")
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"{fn}: unknown activation {activation!r}; valid: {list(HIDDEN_ACTIVATIONS)}"
        )
    check_rng(rng, fn)
    initializer = _initializer(init, fn)
    sizes = [in_features] + [width] * int(depth) + [out_features]
    modules: list[Module] = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer = Linear(d_in, d_out, rng=rng, init="zeros", dtype=dtype)
        layer.weight.data[...] = initializer((d_in, d_out), rng=rng)
        modules.append(layer)
        if i < depth:
            modules.append(HIDDEN_ACTIVATIONS[activation]())
    return Sequential(*modules)


# ---------------------------------------------------------------------------------------------
# Measuring gradients
# ---------------------------------------------------------------------------------------------


def grad_norms(model: Module) -> dict[str, float]:
    """{parameter name: ||grad||_2} for every parameter of ``model``, as it is now.

    The norm is that of the gradient flattened into one vector (the Frobenius norm of a
    matrix). Nothing is computed: call it after ``backward``.
    """
    if not isinstance(model, Module):
        raise ValueError(f"grad_norms: model must be an nnlib Module, got {type(model).__name__}")
    return {name: float(np.linalg.norm(p.grad)) for name, p in model.named_parameters()}


def _linear_layers(model: Module, fn: str) -> list[Linear]:
    if not isinstance(model, Module):
        raise ValueError(f"{fn}: model must be an nnlib Module, got {type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, Linear)]
    if not layers:
        raise ValueError(f"{fn}: the model has no Linear layer")
    return layers


def _loss_grad(model: Module, X: ArrayLike, y: ArrayLike, loss_fn: Any, fn: str) -> np.ndarray:
    """Forward one batch and return d loss / d scores (the model's gradients are zeroed)."""
    model.zero_grad()
    loss = float(loss_fn(model(X), y))
    if not math.isfinite(loss):
        raise FloatingPointError(f"{fn}: the loss is {loss}; the network's outputs overflowed")
    return loss_fn.backward()


def layer_grad_norms(model: Module, X: ArrayLike, y: ArrayLike, loss_fn: Any) -> np.ndarray:
    """||dL/dW_l||_2 for every Linear layer l of ``model``, first layer first, on one batch.

    Shapes: X (N, D), y (N,) -> norms (L,), L the number of Linear layers. Zeroes the
    gradients, runs forward, ``loss_fn`` and backward, and reads each weight's ``.grad`` (the
    biases are left out). The gradients stay in the model afterwards.
    """
    fn = "layer_grad_norms"
    layers = _linear_layers(model, fn)
    model.backward(_loss_grad(model, X, y, loss_fn, fn))
    return np.array([np.linalg.norm(layer.weight.grad) for layer in layers])


def activation_grad_norms(
    model: Sequential, X: ArrayLike, y: ArrayLike, loss_fn: Any
) -> np.ndarray:
    """||dL/dh_{l-1}||_2, the gradient reaching the input of every Linear layer l, first first.

    Shapes: X (N, D), y (N,) -> norms (L,). This is the signal backpropagation carries from
    layer to layer: unlike the weight gradients dW_l = h_{l-1}^T dz_l, it is not rescaled by the
    forward activations, so it shows a vanishing or exploding backward pass even when the
    weight gradients of a ReLU network look balanced. ``model`` must be a flat Sequential.
    """
    fn = "activation_grad_norms"
    if not isinstance(model, Sequential):
        raise ValueError(f"{fn}: model must be a Sequential, got {type(model).__name__}")
    _linear_layers(model, fn)
    dout = _loss_grad(model, X, y, loss_fn, fn)
    norms: list[float] = []
    for module in reversed(list(model)):
        dout = module.backward(dout)
        if isinstance(module, Linear):
            norms.append(float(np.linalg.norm(dout)))
    return np.array(norms[::-1])


def _profile(norms: ArrayLike, fn: str) -> np.ndarray:
    arr = np.asarray(norms, dtype=np.float64) if not isinstance(norms, np.ndarray) else norms
    arr = as_array(arr, fn, "norms")
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ValueError(f"{fn}: norms must have shape (L,) with L >= 2, got shape {arr.shape}")
    if np.any(arr < 0):
        raise ValueError(f"{fn}: norms cannot be negative")
    return arr


def gradient_growth(norms: ArrayLike) -> float:
    """(norms[0] / norms[-1]) ** (1 / (L - 1)): the factor by which the gradient norm is
    multiplied per layer on its way back from the last layer to the first (geometric mean).

    Shapes: norms (L,), L >= 2, first layer first -> a float; below 1 it shrinks, above 1 it
    grows. 0.0 when norms[0] is 0, inf when only norms[-1] is 0, NaN when both are.
    """
    arr = _profile(norms, "gradient_growth")
    first, last = float(arr[0]), float(arr[-1])
    if first == 0.0 and last == 0.0:
        return math.nan
    if last == 0.0:
        return math.inf
    return (first / last) ** (1.0 / (arr.shape[0] - 1))


def diagnose_gradients(norms: ArrayLike, threshold: float = 100.0) -> str:
    """"vanishing", "exploding" or "healthy", from the per-layer gradient norms (first first).

    Shapes: norms (L,), L >= 2. In order: any NaN or inf -> "exploding" (it overflowed); a zero
    first norm -> "vanishing" (nothing reaches the first layer); then with
    ratio = norms[0] / norms[-1]: ratio < 1 / threshold -> "vanishing", ratio > threshold ->
    "exploding", else "healthy" (the boundaries themselves are healthy).
    """
    fn = "diagnose_gradients"
    arr = np.asarray(norms, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ValueError(f"{fn}: norms must have shape (L,) with L >= 2, got shape {arr.shape}")
    check_positive(threshold, fn, "threshold")
    if threshold < 1:
        raise ValueError(f"{fn}: threshold must be >= 1, got {threshold!r}")
    if not np.all(np.isfinite(arr)):
        return "exploding"
    if np.any(arr < 0):
        raise ValueError(f"{fn}: norms cannot be negative")
    first, last = float(arr[0]), float(arr[-1])
    if first == 0.0:
        return "vanishing"
    if first * threshold < last:  # ratio < 1 / threshold, without dividing by last
        return "vanishing"
    if first > threshold * last:
        return "exploding"
    return "healthy"


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------


def _grad_list(grads: Any, fn: str) -> list[np.ndarray]:
    if isinstance(grads, np.ndarray):
        raise ValueError(f"{fn}: grads must be a list of arrays, got a single array")
    try:
        items = list(grads)
    except TypeError:
        raise ValueError(f"{fn}: grads must be a list of arrays, got {grads!r}") from None
    return [as_array(g, fn, f"grads[{i}]") for i, g in enumerate(items)]


def clip_by_value(grads: Sequence[ArrayLike], clip_value: float) -> list[np.ndarray]:
    """[clip(g, -clip_value, clip_value) for g in grads]: each entry clipped on its own.

    Shapes: a list of arrays of any shapes -> new arrays of the same shapes (the inputs are not
    modified). The array form of ``torch.nn.utils.clip_grad_value_``.
    """
    fn = "clip_by_value"
    arrays = _grad_list(grads, fn)
    check_positive(clip_value, fn, "clip_value", allow_zero=True)
    c = float(clip_value)
    return [np.clip(g, -c, c) for g in arrays]


def _total_norm(arrays: Sequence[np.ndarray], norm_type: float) -> float:
    if not arrays:
        return 0.0
    if norm_type == math.inf:
        return max(float(np.max(np.abs(g))) if g.size else 0.0 for g in arrays)
    per_array = [float(np.linalg.norm(g.ravel(), ord=norm_type)) for g in arrays]
    return float(np.linalg.norm(np.array(per_array), ord=norm_type))


def clip_by_norm(
    grads: Sequence[ArrayLike], max_norm: float
) -> tuple[list[np.ndarray], float]:
    """Rescale all gradients together so that their global L2 norm is at most ``max_norm``.

    total = sqrt(sum over every entry of every array of g**2); when
    scale = max_norm / (total + 1e-6) is below 1 every array is multiplied by it, otherwise they
    are returned unchanged (as copies). Returns (the new arrays, total), total measured before
    clipping. Shapes: a list of arrays of any shapes -> (a list of the same shapes, a float).
    The array form of ``torch.nn.utils.clip_grad_norm_``; the inputs are not modified.
    """
    fn = "clip_by_norm"
    arrays = _grad_list(grads, fn)
    check_positive(max_norm, fn, "max_norm", allow_zero=True)
    total = _total_norm(arrays, 2.0)
    scale = float(max_norm) / (total + CLIP_EPS)
    if scale < 1.0:
        return [g * scale for g in arrays], total
    return [g.copy() for g in arrays], total


def _parameters(parameters: Any, fn: str) -> list[Parameter]:
    if isinstance(parameters, Parameter):
        return [parameters]
    if isinstance(parameters, Module):
        raise ValueError(f"{fn}: pass model.parameters(), not the model itself")
    try:
        params = list(parameters)
    except TypeError:
        raise ValueError(f"{fn}: parameters must be a Parameter or a list of them") from None
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise ValueError(f"{fn}: parameters[{i}] is a {type(p).__name__}, not a Parameter")
    return params


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float) -> None:
    """p.grad <- clip(p.grad, -clip_value, clip_value) for every parameter, in place.

    As ``torch.nn.utils.clip_grad_value_``: each entry is clipped on its own, so the direction
    of the gradient can change.
    """
    fn = "clip_grad_value_"
    params = _parameters(parameters, fn)
    check_positive(clip_value, fn, "clip_value", allow_zero=True)
    c = float(clip_value)
    for p in params:
        np.clip(p.grad, -c, c, out=p.grad)


def clip_grad_norm_(
    parameters: Parameter | Iterable[Parameter],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale every p.grad by max_norm / (total + 1e-6) when that is below 1; return total.

    total is the ``norm_type``-norm of all gradients together, as if concatenated into one
    vector (``math.inf`` gives the largest absolute entry), measured before clipping. The
    direction of the overall gradient is kept. As ``torch.nn.utils.clip_grad_norm_``: a
    non-finite total makes every gradient NaN, or raises RuntimeError with
    ``error_if_nonfinite=True``.
    """
    fn = "clip_grad_norm_"
    params = _parameters(parameters, fn)
    check_positive(max_norm, fn, "max_norm", allow_zero=True)
    norm_type = float(norm_type)
    if not (norm_type == math.inf or (math.isfinite(norm_type) and norm_type > 0)):
        raise ValueError(f"{fn}: norm_type must be > 0 or math.inf, got {norm_type!r}")
    total = _total_norm([p.grad for p in params], norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"{fn}: the total norm of order {norm_type} of the gradients is {total}, so it "
            "cannot be clipped; set error_if_nonfinite=False to clip anyway"
        )
    scale = float(max_norm) / (total + CLIP_EPS)  # 0 for an infinite total, NaN for a NaN one
    if scale >= 1.0:
        return total
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in torch
        for p in params:
            p.grad *= scale
    return total
