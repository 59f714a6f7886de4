"""Activations through depth (lesson 04): how the initialiser decides what reaches deep layers.

A deep MLP of equal-width hidden layers runs on standard-normal inputs; the figure shows a
histogram of every hidden layer's activations (a "ridge" per layer, the first at the top) and
their standard deviation per layer on a log scale. Weights too small make the signal vanish,
too large make tanh saturate and ReLU explode; Xavier (for tanh) and He (for ReLU) keep it
steady.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure, SubFigure

from nncourse.widgets import Explorer, make_explorer, one_blas_thread
from nnlib.init import he_normal, he_uniform, xavier_normal, xavier_uniform, zeros
from nnlib.mlp import ACTIVATIONS, activation_statistics, hidden_activations, init_mlp, mlp_forward

__all__ = [
    "INITIALIZERS",
    "VALUE_RANGES",
    "activations_through_depth",
    "draw_activation_histograms",
    "initialization_explorer",
]


def _normal(std: float) -> Callable[..., np.ndarray]:
    def init(shape: tuple[int, ...], *, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, std, size=shape)

    init.__name__ = f"normal_std_{std:g}"
    return init


#: The initialisers the explorer offers, by the label shown in its menu.
INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "zeros": zeros,
    "normal, std 0.01": _normal(0.01),
    "normal, std 1": _normal(1.0),
    "Xavier uniform": xavier_uniform,
    "Xavier normal": xavier_normal,
    "He uniform": he_uniform,
    "He normal": he_normal,
}

#: The histogram range per activation; values outside it are counted in the edge bins.
VALUE_RANGES: dict[str, tuple[float, float]] = {
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "relu": (0.0, 4.0),
    "leaky_relu": (-0.5, 4.0),
}

WIDTHS = (16, 32, 64, 128, 256)
MAX_DEPTH = 20
BINS = 40
#: A standard deviation below this is drawn as "vanished" (a log axis cannot show 0).
STD_FLOOR = 1e-12


def activations_through_depth(
    depth: int,
    width: int,
    init: str | Callable[..., np.ndarray],
    activation: str,
    *,
    num_examples: int = 128,
    seed: int = 0,
) -> list[np.ndarray]:
    """The ``depth`` hidden activations of a fresh MLP on standard-normal inputs.

    Shapes: X (num_examples, width) -> a list of ``depth`` arrays (num_examples, width). The
    network has ``depth`` hidden layers of ``width`` units and a 10-unit linear output layer;
    ``init`` is a label of ``INITIALIZERS``, a name for ``nnlib.init.get_initializer``, or a
    function ``init(shape, rng=rng)``. The same seed gives the same network and inputs. The
    arrays are read-only: they are cached, so that moving the depth slider costs nothing.
    """
    fn = "activations_through_depth"
    if activation not in ACTIVATIONS:
        raise ValueError(f"{fn}: unknown activation {activation!r}; valid: {list(ACTIVATIONS)}")
    if not (isinstance(depth, int | np.integer) and depth >= 1):
        raise ValueError(f"{fn}: depth must be a positive integer, got {depth!r}")
    if depth > MAX_DEPTH:
        return _activations(int(depth), width, init, activation, num_examples, seed)
    return _cached_activations(width, init, activation, num_examples, seed)[: int(depth)]


Init = str | Callable[..., np.ndarray]


def _activations(
    depth: int, width: int, init: Init, activation: str, num_examples: int, seed: int
) -> list[np.ndarray]:
    initializer = INITIALIZERS.get(init, init) if isinstance(init, str) else init
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((num_examples, width))
    # Hidden layers are drawn first and the output layer last, so the first d hidden layers
    # of a deeper network are exactly those of a network of depth d.
    params = init_mlp([width] * (depth + 1) + [10], rng=rng, init=initializer)
    # These matrices are small: one BLAS thread is faster, and far faster on a busy machine.
    with one_blas_thread():
        _, caches = mlp_forward(X, params, activation)
    hidden = hidden_activations(caches)
    for h in hidden:
        h.flags.writeable = False
    return hidden


@functools.lru_cache(maxsize=6)
def _cached_activations(
    width: int, init: Init, activation: str, num_examples: int, seed: int
) -> list[np.ndarray]:
    return _activations(MAX_DEPTH, width, init, activation, num_examples, seed)



def _ridge_heights(counts: np.ndarray, zero_bin: int | None) -> np.ndarray:
    """Counts scaled to a peak of 1, by the tallest bar away from 0 (the bar at 0 may clip)."""
    away = counts.copy()
    if zero_bin is not None:
        away[zero_bin] = 0
    peak = away.max() if away.max() > 0 else counts.max()
    return np.minimum(counts / max(peak, 1), 1.0)


def draw_activation_histograms(
    fig: Figure | SubFigure,
    activations: Sequence[np.ndarray],
    *,
    activation: str,
    title: str | None = None,
) -> None:
    """Draw one histogram per hidden layer (layer 1 at the top) and the std per layer.

    ``activations`` is the list of hidden activations, first layer first (any shapes);
    ``activation`` names the nonlinearity, which fixes the histogram range (``VALUE_RANGES``).
    Each histogram is scaled to its tallest bar away from 0, so a ReLU layer's spike of exact
    zeros does not flatten the rest; values outside the range pile up in the edge bins.
    """
    if activation not in VALUE_RANGES:
        raise ValueError(
            f"draw_activation_histograms: unknown activation {activation!r}; "
            f"valid: {list(VALUE_RANGES)}"
        )
    if len(activations) == 0:
        raise ValueError("draw_activation_histograms: activations is empty (no hidden layer)")
    lo, hi = VALUE_RANGES[activation]
    edges = np.linspace(lo, hi, BINS + 1)
    zero_bin = int(np.searchsorted(edges, 0.0, side="right") - 1) if lo <= 0 <= hi else None
    zero_bin = None if zero_bin is None else min(zero_bin, BINS - 1)
    stats = activation_statistics(activations)
    depth = len(activations)

    # Fixed margins instead of a layout engine: constrained layout measures every tick label
    # and would take most of a redraw.
    if isinstance(fig, Figure) and fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    ax_hist, ax_std = fig.subplots(1, 2, width_ratios=[1.5, 1], gridspec_kw=dict(
        left=0.09, right=0.98, bottom=0.11, top=0.92, wspace=0.42))
    # One collection for all ridges: 20 separate patches take several times longer to draw.
    outlines = []
    for layer, h in enumerate(activations):
        counts, _ = np.histogram(np.clip(np.ravel(h), lo, hi), bins=edges)
        base = -layer
        top = base + _ridge_heights(counts, zero_bin) * 0.9
        x = np.repeat(edges, 2)
        y = np.concatenate([[base], np.repeat(top, 2), [base]])
        outlines.append(np.column_stack([x, y]))
        if activation == "relu":
            note = f"  {stats['zero_fraction'][layer]:.0%} zero"
        elif activation == "tanh":
            note = f"  {stats['saturated_fraction'][layer]:.0%} sat."
        elif activation == "sigmoid":  # saturated near 0 or near 1
            note = f"  {np.mean(np.abs(2 * np.asarray(h) - 1) >= 0.98):.0%} sat."
        else:
            note = ""
        ax_hist.text(1.01, base + 0.3, f"std {stats['std'][layer]:.2g}{note}",
                     transform=ax_hist.get_yaxis_transform(), fontsize=7, va="center")
    ax_hist.add_collection(PolyCollection(outlines, facecolors="tab:blue", edgecolors="navy",
                                          linewidths=0.6, alpha=0.75), autolim=False)
    step = max(1, (depth + 9) // 10)
    ticks = list(range(0, depth, step))
    ax_hist.set_yticks([-t + 0.3 for t in ticks], [f"layer {t + 1}" for t in ticks])
    ax_hist.set_ylim(-depth + 0.8, 1.0)
    ax_hist.set_xlim(lo, hi)
    ax_hist.set_xlabel(f"{activation} activation value")
    ax_hist.set_title(title or "activations per hidden layer", fontsize=10)

    layers = np.arange(1, depth + 1)
    std = stats["std"]
    alive = std > STD_FLOOR
    # log10 on a linear axis with plain tick labels: a log-scale axis renders several times slower
    log_std = np.log10(std[alive])
    ax_std.plot(layers[alive], log_std, "o-", color="tab:blue", markersize=3)
    low = min(-3.0, np.floor(log_std.min())) if alive.any() else -3.0
    high = max(1.0, np.ceil(log_std.max())) if alive.any() else 1.0
    step = max(1, int(np.ceil((high - low) / 8)))
    powers = np.arange(high, low - 1, -step)[::-1]
    ax_std.set_yticks(powers, [f"1e{int(p)}" for p in powers])
    ax_std.set_ylim(low - 0.3, high + 0.3)
    ax_std.set_xlim(0.5, depth + 0.5)
    ax_std.axhline(0.0, color="gray", linestyle=":", linewidth=1)
    ax_std.text(depth + 0.4, 0.05, "input std", color="gray", fontsize=7, ha="right", va="bottom")
    if not alive.all():
        ax_std.text(0.5, 0.5, "std = 0: every unit of a\nlayer outputs the same value",
                    transform=ax_std.transAxes, ha="center", va="center", color="tab:red",
                    fontsize=9)
    ax_std.set_xlabel("hidden layer")
    ax_std.set_title("std of the activations (log scale)", fontsize=10)
    ax_std.xaxis.get_major_locator().set_params(integer=True)


def initialization_explorer(
    *,
    depth: int = 10,
    width: int = 256,
    init: str = "normal, std 0.01",
    activation: str = "tanh",
    seed: int = 0,
) -> Explorer:
    """Depth, width, initialiser and activation -> the histograms of the activations per layer."""
    if init not in INITIALIZERS:
        raise ValueError(f"initialization_explorer: unknown init {init!r}; "
                         f"valid: {list(INITIALIZERS)}")
    controls = {
        "depth": widgets.IntSlider(value=depth, min=1, max=MAX_DEPTH, step=1,
                                   description="depth", continuous_update=False),
        "width": widgets.SelectionSlider(value=width, options=list(WIDTHS),
                                         description="width", continuous_update=False),
        "init": widgets.Dropdown(value=init, options=list(INITIALIZERS),
                                 description="init"),
        "activation": widgets.Dropdown(value=activation, options=list(VALUE_RANGES),
                                       description="activation"),
    }

    def draw(fig: Figure, depth: int, width: int, init: str, activation: str) -> None:
        hidden = activations_through_depth(depth, width, init, activation, seed=seed)
        draw_activation_histograms(fig, hidden, activation=activation,
                                   title=f"{init}, {activation}, width {width}")

    return make_explorer(draw, controls, figsize=(9.0, 4.6),
                         title="Pick an initialiser: do the activations survive the depth?")
