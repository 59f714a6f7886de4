"""The explorers of lesson 02: activation functions and their derivatives, and softmax.

- :func:`draw_activation` plots an activation f and its derivative f' side by side over an
  input range and shades where the unit is *saturated* (|f'| below a threshold), the inputs for
  which almost no gradient flows back through it. :func:`activation_explorer` wires it to a
  menu, a range slider and a threshold slider.
- :func:`draw_softmax` shows class scores next to their softmax probabilities, under a
  temperature and a constant shift of every score; :func:`softmax_explorer` adds the sliders.

Everything is computed with the reference functions of :mod:`nnlib.activations`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from nncourse.widgets import Explorer, make_explorer
from nnlib import activations as A

__all__ = [
    "ACTIVATIONS",
    "draw_activation",
    "activation_explorer",
    "draw_softmax",
    "softmax_explorer",
]

#: The slope the explorer uses for leaky ReLU: 0.1 rather than 0.01, so that it shows on a plot.
LEAKY_SLOPE = 0.1


def _grad(forward: Callable, backward: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """f'(x) elementwise: the backward pass with an upstream gradient of ones."""

    def derivative(x: np.ndarray) -> np.ndarray:
        out, cache = forward(x)
        return backward(np.ones_like(out), cache)

    return derivative


def _leaky(x: np.ndarray) -> np.ndarray:
    return A.leaky_relu(x, LEAKY_SLOPE)


def _leaky_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    return A.leaky_relu_forward(x, LEAKY_SLOPE)


#: name -> (label, f, f'), for every elementwise activation of the lesson and the identity.
ACTIVATIONS: dict[str, tuple[str, Callable, Callable]] = {
    "sigmoid": ("sigmoid", A.sigmoid, _grad(A.sigmoid_forward, A.sigmoid_backward)),
    "tanh": ("tanh", A.tanh, _grad(A.tanh_forward, A.tanh_backward)),
    "relu": ("relu", A.relu, _grad(A.relu_forward, A.relu_backward)),
    "leaky_relu": (
        f"leaky_relu (slope {LEAKY_SLOPE:g})",
        _leaky,
        _grad(_leaky_forward, A.leaky_relu_backward),
    ),
    "identity": ("identity (no activation)", np.asarray, np.ones_like),
}


def draw_activation(
    fig: Figure,
    name: str = "sigmoid",
    x_range: tuple[float, float] = (-8.0, 8.0),
    threshold: float = 0.01,
    *,
    num: int = 801,
) -> None:
    """Plot activation ``name`` (left) and its derivative (right) over ``x_range``.

    Inputs where |f'(x)| < ``threshold`` are shaded on both plots: there the unit passes back
    less than ``threshold`` times the gradient it receives. The figure's title gives the
    saturated share of the range.

    The figure gets fixed margins instead of a layout engine: constrained layout measures every
    tick label on each redraw and would double the time a slider drag takes to show.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"draw_activation: name must be one of {list(ACTIVATIONS)}, got {name!r}")
    lo, hi = (float(v) for v in x_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"draw_activation: x_range must be (low, high) with low < high, got "
                         f"{tuple(x_range)}")
    if not threshold > 0:
        raise ValueError(f"draw_activation: threshold must be positive, got {threshold}")
    label, f, df = ACTIVATIONS[name]
    x = np.linspace(lo, hi, num)
    y = np.asarray(f(x), dtype=float)
    dy = np.asarray(df(x), dtype=float)
    saturated = np.abs(dy) < threshold
    share = float(saturated.mean())

    fig.set_layout_engine("none")
    ax_f, ax_d = fig.subplots(1, 2, sharex=True, gridspec_kw=dict(
        left=0.07, right=0.985, bottom=0.15, top=0.80, wspace=0.2))
    for ax in (ax_f, ax_d):
        ax.fill_between(x, 0, 1, where=saturated, transform=ax.get_xaxis_transform(),
                        color="0.88", linewidth=0, label=f"saturated: |f′| < {threshold:.2g}")
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.8)
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x")
    ax_f.plot(x, y, color="tab:blue", linewidth=2, gid="curve")
    ax_d.plot(x, dy, color="tab:orange", linewidth=2, gid="curve")
    ax_d.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, gid="threshold")
    top = max(float(dy.max()), threshold) * 1.15
    ax_d.set_ylim(min(float(dy.min()), 0.0) - 0.05 * top, top)
    ax_f.set_title(f"{label}(x)")
    ax_d.set_title(f"derivative: largest value {dy.max():.3g}")
    if saturated.any():
        ax_f.legend(loc="upper left", fontsize="small", frameon=False)
    dead = " (f′ is exactly 0 there)" if saturated.any() and not dy[saturated].any() else ""
    fig.suptitle(f"{label}: saturated (|f′| < {threshold:.2g}) on {share:.0%} of "
                 f"[{lo:g}, {hi:g}]{dead}")


def activation_explorer(
    name: str = "sigmoid",
    x_range: tuple[float, float] = (-8.0, 8.0),
    threshold: float = 0.01,
) -> Explorer:
    """A menu of activations, a range slider for the inputs and a saturation threshold."""
    controls = {
        "name": widgets.Dropdown(options=list(ACTIVATIONS), value=name,
                                 description="activation"),
        "x_range": widgets.FloatRangeSlider(value=tuple(x_range), min=-50.0, max=50.0, step=0.25,
                                            description="inputs x", continuous_update=True,
                                            readout_format=".2f"),
        "threshold": widgets.FloatLogSlider(value=threshold, base=10, min=-4, max=-0.5,
                                            step=0.1, description="threshold",
                                            continuous_update=True),
    }

    def draw(fig: Figure, name: str, x_range: tuple[float, float], threshold: float) -> None:
        lo, hi = x_range
        if hi - lo < 0.5:  # both handles dragged together: show a small window around them
            lo, hi = lo - 0.25, hi + 0.25
        draw_activation(fig, name, (lo, hi), threshold)

    return make_explorer(draw, controls, figsize=(9.0, 3.4),
                         title="Pick an activation and drag the input range: shaded inputs are "
                               "saturated (almost no gradient flows back)")


#: Default scores of the softmax explorer: one example's scores for four classes.
SOFTMAX_SCORES = (2.0, 1.0, 0.1, -1.5)
SOFTMAX_LABELS = ("cat", "dog", "ship", "frog")


def draw_softmax(
    fig: Figure,
    scores: Sequence[float] = SOFTMAX_SCORES,
    temperature: float = 1.0,
    shift: float = 0.0,
    labels: Sequence[str] | None = SOFTMAX_LABELS,
) -> None:
    """Bars of the scores z = scores + shift (left) and of softmax(z / temperature) (right)."""
    z = np.asarray(scores, dtype=float)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"draw_softmax: scores must have shape (K,), got {z.shape}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"draw_softmax: temperature must be positive, got {temperature}")
    names = [str(i) for i in range(z.size)] if labels is None else [str(s) for s in labels]
    if len(names) != z.size:
        raise ValueError(f"draw_softmax: {len(names)} labels for {z.size} scores")
    z = z + float(shift)
    p = A.softmax(z / temperature)

    ax_z, ax_p = fig.subplots(1, 2)
    colors = ["tab:blue"] * z.size
    colors[int(np.argmax(z))] = "tab:red"
    bars = ax_z.bar(names, z, color=colors)
    ax_z.bar_label(bars, fmt="%.4g", fontsize="small")
    ax_z.axhline(0, color="0.6", linewidth=0.8)
    low, high = min(float(z.min()), 0.0), max(float(z.max()), 0.0)
    extent = (high - low) or 1.0
    ax_z.set_ylim(low - 0.12 * extent * (low < 0), high + 0.15 * extent)
    ax_z.set_title(f"scores z (shift {shift:+g})")
    bars = ax_p.bar(names, p, color=colors)
    ax_p.bar_label(bars, fmt="%.3f", fontsize="small")
    ax_p.set_ylim(0, 1.1)
    ax_p.set_title(f"softmax(z / T) with T = {temperature:.3g}")


def softmax_explorer(
    scores: Sequence[float] = SOFTMAX_SCORES,
    labels: Sequence[str] | None = SOFTMAX_LABELS,
    temperature: float = 1.0,
    shift: float = 0.0,
) -> Explorer:
    """Sliders for the temperature T and for a constant added to every score."""
    controls = {
        "temperature": widgets.FloatLogSlider(value=temperature, base=10, min=-1.5, max=1.5,
                                              step=0.05, description="temperature T",
                                              continuous_update=True),
        "shift": widgets.FloatSlider(value=shift, min=-1000.0, max=1000.0, step=10.0,
                                     description="shift", continuous_update=True),
    }
    return make_explorer(
        lambda fig, temperature, shift: draw_softmax(fig, scores, temperature, shift, labels),
        controls, figsize=(9.0, 3.2),
        title="Softmax: a low temperature sharpens, a high one flattens; a shift changes nothing",
    )
