"""Gradients through depth (lesson 09): which activation and initialiser let a gradient survive.

A deep MLP of equal-width hidden layers backpropagates one fixed batch. The left panel shows,
per Linear layer on a log scale, the norm of the gradient reaching the layer's input (the
backward signal) and the norm of its weight gradient; the right panel shows the standard
deviation of every hidden layer's activations (the forward signal). The title gives the
diagnosis of the backward signal and its growth factor per layer.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure, SubFigure

from nncourse.widgets import Explorer, make_explorer, one_blas_thread
from nnlib.diagnostics import (
    HIDDEN_ACTIVATIONS,
    deep_mlp,
    diagnose_gradients,
    gradient_growth,
)
from nnlib.modules import CrossEntropyLoss, Linear

__all__ = [
    "INITIALIZERS",
    "gradient_profile",
    "draw_gradient_profile",
    "draw_gradients_through_depth",
    "pathologies_explorer",
]

#: The initialisers the explorer offers, by menu label: what ``deep_mlp`` accepts as ``init``.
INITIALIZERS: dict[str, str | float] = {
    "normal, std 0.01": 0.01,
    "Xavier normal": "xavier_normal",
    "He normal": "he_normal",
    "normal, std 1": 1.0,
}

MIN_DEPTH, MAX_DEPTH = 2, 20
WIDTH = 64
#: Norms below this are drawn at this value (a log axis cannot show 0).
FLOOR = 1e-30
COLORS = {"signal": "tab:blue", "weight": "tab:orange", "std": "tab:green"}



def gradient_profile(
    X: np.ndarray,
    y: np.ndarray,
    *,
    depth: int,
    activation: str,
    init: str | float,
    width: int = WIDTH,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """One forward and backward pass of ``deep_mlp`` on (X, y) with the cross-entropy loss.

    Shapes: X (N, D), y (N,) int in [0, K) with K = max(y) + 1 (at least 2) -> {"signal": (L,),
    "weight": (L,), "activation_std": (depth,)} with L = depth + 1 Linear layers: the norm of
    the gradient reaching each Linear layer's input, the norm of its weight gradient (first
    layer first), and the std of each hidden layer's output. ``init`` is a label of
    ``INITIALIZERS`` or anything ``deep_mlp`` accepts. The same seed gives the same network.
    """
    fn = "gradient_profile"
    init_value = INITIALIZERS.get(init, init) if isinstance(init, str) else init
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"{fn}: unknown activation {activation!r}; valid: {list(HIDDEN_ACTIVATIONS)}"
        )
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"{fn}: X must be (N, D) and y (N,), got {X.shape} and {y.shape}")
    K = max(int(y.max()) + 1, 2)
    model = deep_mlp(X.shape[1], width, depth, K, activation=activation, init=init_value,
                     rng=np.random.default_rng(seed))
    loss_fn = CrossEntropyLoss()
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
        stds = []
        h = X
        for module in model:
            h = module(h)
            if not isinstance(module, Linear):
                stds.append(float(np.std(h)))
        loss_fn(h, y)
        dout = loss_fn.backward()
        signal = []
        for module in reversed(list(model)):
            dout = module.backward(dout)
            if isinstance(module, Linear):
                signal.append(float(np.linalg.norm(dout)))
    layers = [m for m in model if isinstance(m, Linear)]
    return {
        "signal": np.array(signal[::-1]),
        "weight": np.array([float(np.linalg.norm(m.weight.grad)) for m in layers]),
        "activation_std": np.array(stds),
    }


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.maximum(np.nan_to_num(values, nan=np.inf), FLOOR))


def _log_ticks(ax, low: float, high: float) -> None:
    low, high = np.floor(low), np.ceil(high)
    if high - low < 2:
        low, high = low - 1, high + 1
    step = max(1, int(np.ceil((high - low) / 7)))
    powers = np.arange(low, high + 1, step)
    ax.set_yticks(powers, [f"1e{int(p)}" for p in powers])
    ax.set_ylim(low - 0.3, high + 0.3)


def draw_gradient_profile(
    fig: Figure | SubFigure,
    signal: np.ndarray,
    weight: np.ndarray,
    activation_std: np.ndarray | None = None,
    *,
    title: str | None = None,
) -> None:
    """Draw the per-layer gradient norms (log scale) and, when given, the activation stds.

    Shapes: signal (L,) and weight (L,), first Linear layer first; activation_std (L - 1,).
    The left axes hold two lines, signal then weight (log10 of the norms, floored at 1e-30);
    their title is ``title`` or the diagnosis of ``signal`` with its growth factor per layer.
    """
    signal = np.asarray(signal, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if signal.ndim != 1 or signal.shape != weight.shape or signal.shape[0] < 2:
        raise ValueError(
            "draw_gradient_profile: signal and weight must have the same shape (L,), L >= 2, "
            f"got {signal.shape} and {weight.shape}"
        )
    if isinstance(fig, Figure) and fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")  # fixed margins: constrained layout costs a redraw
    grid = dict(left=0.09, right=0.98, bottom=0.14, top=0.86, wspace=0.3)
    if activation_std is None:
        ax = fig.subplots(1, 1, gridspec_kw=grid)
        ax_std = None
    else:
        ax, ax_std = fig.subplots(1, 2, width_ratios=[1.4, 1], gridspec_kw=grid)
    L = signal.shape[0]
    layers = np.arange(1, L + 1)
    log_signal, log_weight = _log10(signal), _log10(weight)
    ax.plot(layers, log_signal, "o-", color=COLORS["signal"], markersize=3,
            label="‖dL/dh‖ reaching layer l")
    ax.plot(layers, log_weight, "s--", color=COLORS["weight"], markersize=3,
            label="‖dL/dW‖ of layer l")
    both = np.concatenate([log_signal, log_weight])
    _log_ticks(ax, both.min(), both.max())
    ax.set_xlim(0.5, L + 0.5)
    ax.set_xlabel("Linear layer l (1 = next to the input)")
    ax.set_ylabel("gradient norm (log scale)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best", fontsize=7, frameon=False)
    if title is None:
        label = diagnose_gradients(signal)
        growth = gradient_growth(signal) if np.all(np.isfinite(signal)) else np.inf
        title = f"{label}: ×{growth:.2g} per layer, going back"
    ax.set_title(title, fontsize=10)
    if ax_std is not None:
        std = np.asarray(activation_std, dtype=np.float64)
        log_std = _log10(std)
        hidden = np.arange(1, std.shape[0] + 1)
        ax_std.plot(hidden, log_std, "o-", color=COLORS["std"], markersize=3)
        if log_std.size:
            _log_ticks(ax_std, log_std.min(), log_std.max())
        ax_std.set_xlim(0.5, max(std.shape[0], 1) + 0.5)
        ax_std.set_xlabel("hidden layer")
        ax_std.set_title("std of the activations (forward)", fontsize=10)
        ax_std.xaxis.get_major_locator().set_params(integer=True)


def draw_gradients_through_depth(
    fig: Figure,
    X: np.ndarray,
    y: np.ndarray,
    *,
    depth: int,
    activation: str,
    init: str,
    seed: int = 0,
) -> None:
    """The explorer's figure: ``gradient_profile`` drawn by ``draw_gradient_profile``, with a
    title naming the network.  Shapes: X (N, D), y (N,) int labels."""
    profile = gradient_profile(X, y, depth=depth, activation=activation, init=init, seed=seed)
    draw_gradient_profile(fig, profile["signal"], profile["weight"], profile["activation_std"])
    fig.suptitle(f"{depth} hidden layers of {WIDTH} {activation} units, {init}", fontsize=10,
                 y=0.99)


def pathologies_explorer(
    X: np.ndarray,
    y: np.ndarray,
    *,
    depth: int = 10,
    activation: str = "sigmoid",
    init: str = "Xavier normal",
    seed: int = 0,
) -> Explorer:
    """Depth, activation and initialiser -> the gradient norms per layer on the batch (X, y).

    Shapes: X (N, D), y (N,) int labels. The network has ``WIDTH`` units per hidden layer.
    """
    fn = "pathologies_explorer"
    if init not in INITIALIZERS:
        raise ValueError(f"{fn}: unknown init {init!r}; valid: {list(INITIALIZERS)}")
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"{fn}: unknown activation {activation!r}; valid: {list(HIDDEN_ACTIVATIONS)}"
        )
    if not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise ValueError(f"{fn}: depth must be in [{MIN_DEPTH}, {MAX_DEPTH}], got {depth!r}")
    X = np.array(X, dtype=np.float64)
    y = np.array(y)
    controls = {
        "depth": widgets.IntSlider(value=depth, min=MIN_DEPTH, max=MAX_DEPTH, step=1,
                                   description="depth", continuous_update=False),
        "activation": widgets.Dropdown(value=activation, options=list(HIDDEN_ACTIVATIONS),
                                       description="activation"),
        "init": widgets.Dropdown(value=init, options=list(INITIALIZERS), description="init"),
    }

    def draw(fig: Figure, depth: int, activation: str, init: str) -> None:
        draw_gradients_through_depth(fig, X, y, depth=depth, activation=activation, init=init,
                                     seed=seed)

    return make_explorer(draw, controls, figsize=(9.0, 3.6),
                         title="Does the gradient survive the trip back to the first layer?")
