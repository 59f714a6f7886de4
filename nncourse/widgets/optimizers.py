"""An optimizer race for lesson 07: several update rules descend the same 2-D surface.

``race_paths`` runs SGD, SGD with momentum, Nesterov, Adagrad, RMSprop and Adam from the
surface's start point and returns the points each visits; ``draw_paths`` overlays any paths on
the surface's contour plot beside the loss f - f_min per step, and ``draw_race`` does it for
the race; ``optimizer_explorer`` wires a
surface menu, a learning-rate slider, a momentum slider, a step count and a choice of
optimizers to it.

The learning-rate slider multiplies a per-surface, per-optimizer learning rate (``TUNED_LR``):
one absolute lr cannot suit SGD, whose step is lr times the gradient, and Adam, whose step is
about lr whatever the gradient, on surfaces whose gradients at the start points range from 2
(saddle) to about 230 (Rosenbrock) and fall towards 0 near each minimum.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nncourse.widgets import Explorer, make_explorer
from nnlib.surfaces import SURFACES

__all__ = [
    "OPTIMIZERS",
    "COLORS",
    "TUNED_LR",
    "race_paths",
    "draw_paths",
    "draw_race",
    "optimizer_explorer",
]

#: The optimizers of the race, in the order of the legend.
OPTIMIZERS: tuple[str, ...] = ("SGD", "momentum", "Nesterov", "Adagrad", "RMSprop", "Adam")

COLORS: dict[str, str] = {
    "SGD": "#1f77b4", "momentum": "#ff7f0e", "Nesterov": "#2ca02c",
    "Adagrad": "#9467bd", "RMSprop": "#8c564b", "Adam": "#d62728",
}

#: The learning rate of each optimizer on each surface at "lr scale" 1: roughly the largest
#: that still behaves, so that the slider shows both slow (x 0.1) and unstable (x 3) runs.
TUNED_LR: dict[str, dict[str, float]] = {
    "Rosenbrock": {"SGD": 2e-3, "momentum": 1.5e-3, "Nesterov": 1e-3, "Adagrad": 1.0,
                   "RMSprop": 0.05, "Adam": 0.3},
    "Beale": {"SGD": 0.02, "momentum": 5e-3, "Nesterov": 5e-3, "Adagrad": 1.0,
              "RMSprop": 0.05, "Adam": 0.3},
    "saddle": {"SGD": 0.05, "momentum": 0.05, "Nesterov": 0.05, "Adagrad": 0.3,
               "RMSprop": 0.03, "Adam": 0.05},
    "ill-conditioned bowl": {"SGD": 0.015, "momentum": 0.01, "Nesterov": 5e-3, "Adagrad": 0.5,
                             "RMSprop": 0.05, "Adam": 0.3},
}

# torch.optim's defaults for the hyperparameters the race does not expose
_ALPHA, _BETA1, _BETA2 = 0.99, 0.9, 0.999
_EPS = {"Adagrad": 1e-10, "RMSprop": 1e-8, "Adam": 1e-8}
#: A run stops once a coordinate leaves |w| <= _BOUND (as nnlib.surfaces.trajectory does).
_BOUND = 1e6
#: f - f_min below this is drawn at it (a log axis cannot show 0).
_LOSS_FLOOR = 1e-12


def _rosenbrock_xy(x: float, y: float) -> tuple[float, float]:
    r = y - x * x
    return -2 * (1 - x) - 400 * x * r, 200 * r


def _beale_xy(x: float, y: float) -> tuple[float, float]:
    y2, y3 = y * y, y * y * y
    t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y2, 2.625 - x + x * y3
    return (2 * t1 * (y - 1) + 2 * t2 * (y2 - 1) + 2 * t3 * (y3 - 1),
            2 * t1 * x + 4 * t2 * x * y + 6 * t3 * x * y2)


def _saddle_xy(x: float, y: float) -> tuple[float, float]:
    return x, y * y * y - y


def _bowl_xy(x: float, y: float) -> tuple[float, float]:
    return x, 100.0 * y


# The gradients of nnlib.surfaces in plain floats: a NumPy call per 2-vector costs more than
# the arithmetic, and a redraw runs thousands of steps.
_SCALAR_GRADS: dict[str, Callable[[float, float], tuple[float, float]]] = {
    "Rosenbrock": _rosenbrock_xy,
    "Beale": _beale_xy,
    "saddle": _saddle_xy,
    "ill-conditioned bowl": _bowl_xy,
}


def _path(
    name: str, grad: Callable[[float, float], tuple[float, float]], start: tuple[float, float],
    lr: float, momentum: float, num_steps: int,
) -> np.ndarray:
    """The formulas of nnlib.optim's sgd / adagrad / rmsprop / adam, one coordinate at a time."""
    w = [float(start[0]), float(start[1])]
    buf, acc, m = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    points = [tuple(w)]
    nesterov = name == "Nesterov"
    for t in range(1, num_steps + 1):
        g = grad(w[0], w[1])
        for i in (0, 1):
            gi = g[i]
            if name == "SGD":
                w[i] -= lr * gi
            elif name in ("momentum", "Nesterov"):
                buf[i] = gi if t == 1 else momentum * buf[i] + gi
                w[i] -= lr * (gi + momentum * buf[i] if nesterov else buf[i])
            elif name == "Adagrad":
                acc[i] += gi * gi
                w[i] -= lr * gi / (math.sqrt(acc[i]) + _EPS["Adagrad"])
            elif name == "RMSprop":
                acc[i] = _ALPHA * acc[i] + (1 - _ALPHA) * gi * gi
                w[i] -= lr * gi / (math.sqrt(acc[i]) + _EPS["RMSprop"])
            else:  # Adam
                m[i] = _BETA1 * m[i] + (1 - _BETA1) * gi
                acc[i] = _BETA2 * acc[i] + (1 - _BETA2) * gi * gi
                m_hat = m[i] / (1 - _BETA1**t)
                v_hat = acc[i] / (1 - _BETA2**t)
                w[i] -= lr * m_hat / (math.sqrt(v_hat) + _EPS["Adam"])
        # `not <=` is also true for NaN
        if not (abs(w[0]) <= _BOUND and abs(w[1]) <= _BOUND):
            break
        points.append((w[0], w[1]))
    return np.array(points)


def _check_race(
    surface: str, lr_scale: float, momentum: float, num_steps: int, optimizers: Sequence[str],
    fn: str,
) -> None:
    if surface not in SURFACES:
        raise ValueError(f"{fn}: unknown surface {surface!r}; valid: {list(SURFACES)}")
    if not (np.isfinite(lr_scale) and lr_scale > 0):
        raise ValueError(f"{fn}: lr_scale must be a positive number, got {lr_scale!r}")
    if not (0.0 <= momentum < 1.0):
        raise ValueError(f"{fn}: momentum must be in [0, 1), got {momentum!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer) or num_steps < 1:
        raise ValueError(f"{fn}: num_steps must be a positive integer, got {num_steps!r}")
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        raise ValueError(f"{fn}: unknown optimizers {unknown}; valid: {list(OPTIMIZERS)}")


def race_paths(
    surface: str,
    *,
    lr_scale: float = 1.0,
    momentum: float = 0.9,
    num_steps: int = 300,
    optimizers: Sequence[str] = OPTIMIZERS,
) -> dict[str, np.ndarray]:
    """{optimizer: points (k + 1, 2)}: each optimizer's path from the surface's start point.

    Each optimizer uses lr = lr_scale * TUNED_LR[surface][optimizer]; ``momentum`` is the
    momentum of "momentum" and "Nesterov" (torch.optim.SGD's formulas); the others use
    torch.optim's defaults (RMSprop alpha 0.99, Adam betas (0.9, 0.999)). The same points as
    ``nnlib.surfaces.trajectory`` with nnlib.optim's rules; k < num_steps when a run diverges.
    """
    _check_race(surface, lr_scale, momentum, num_steps, optimizers, "race_paths")
    return {
        name: _cached_path(surface, name, float(lr_scale), float(momentum), int(num_steps))
        for name in OPTIMIZERS if name in optimizers
    }


@functools.lru_cache(maxsize=256)
def _cached_path(surface: str, name: str, lr_scale: float, momentum: float,
                 num_steps: int) -> np.ndarray:
    s = SURFACES[surface]
    momentum = momentum if name in ("momentum", "Nesterov") else 0.0
    path = _path(name, _SCALAR_GRADS[surface], s.start, lr_scale * TUNED_LR[surface][name],
                 momentum, num_steps)
    path.flags.writeable = False  # cached: shared between calls
    return path


@functools.lru_cache(maxsize=len(SURFACES))
def _contour_grid(surface: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    s = SURFACES[surface]
    xs = np.linspace(*s.xlim, 160)
    ys = np.linspace(*s.ylim, 160)
    gx, gy = np.meshgrid(xs, ys)
    z = s.f(np.stack([gx, gy], axis=-1)) - s.f_min
    top = float(np.quantile(z, 0.95))
    low = max(float(z.min()), top * 1e-5, 1e-3)
    levels = np.geomspace(low, top, 14)
    return gx, gy, np.maximum(z, 0.0), levels


def _nice_ticks(lo: float, hi: float) -> np.ndarray:
    ticks = MaxNLocator(nbins=4, steps=[1, 2, 5, 10]).tick_values(lo, hi)
    return ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]


def draw_paths(
    fig: Figure,
    surface: str,
    paths: dict[str, Any],
    *,
    labels: dict[str, str] | None = None,
    num_steps: int | None = None,
    title: str | None = None,
) -> None:
    """Draw ``paths`` ({name: points (k + 1, 2)}) on the contour plot of ``SURFACES[surface]``
    (left) and log10(f - f_min) per step (right).

    Each name's two lines have the name as ``gid`` and its colour in ``COLORS`` (other names
    take matplotlib's colour cycle). A path shorter than num_steps + 1 points (default: the
    longest path) is marked as diverged. ``labels`` replaces names in the legend.
    """
    fn = "draw_paths"
    if surface not in SURFACES:
        raise ValueError(f"{fn}: unknown surface {surface!r}; valid: {list(SURFACES)}")
    s = SURFACES[surface]
    arrays = {}
    for name, path in paths.items():
        path = np.asarray(path, dtype=np.float64)
        if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
            raise ValueError(f"{fn}: paths[{name!r}] must have shape (k + 1, 2), got {path.shape}")
        arrays[name] = path
    longest = max((len(p) - 1 for p in arrays.values()), default=1)
    num_steps = max(1, longest if num_steps is None else int(num_steps))
    labels = labels or {}

    # Fixed margins instead of a layout engine: constrained layout would double a redraw.
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    ax_map, ax_loss = fig.subplots(1, 2, width_ratios=[1.1, 1], gridspec_kw=dict(
        left=0.06, right=0.98, bottom=0.13, top=0.9, wspace=0.2))
    gx, gy, z, levels = _contour_grid(surface)
    ax_map.contour(gx, gy, z, levels=levels, cmap="Greys_r", linewidths=0.6, alpha=0.6)
    ax_map.plot(*s.minimum, marker="*", color="gold", markeredgecolor="k", markersize=13,
                zorder=5)
    starts = {tuple(p[0]) for p in arrays.values()} or {s.start}
    for start in starts:
        ax_map.plot(*start, marker="o", color="k", markersize=5, zorder=5)
    # log10 on a linear axis with plain tick labels: a log-scale axis renders several times slower
    lowest, highest = 0.0, 2.0
    for k, (name, path) in enumerate(arrays.items()):
        color = COLORS.get(name, f"C{k % 10}")
        steps = len(path) - 1
        label = labels.get(name, name)
        if steps < num_steps:
            label += f": diverged at step {steps + 1}"
        ax_map.plot(path[:, 0], path[:, 1], "-", color=color, linewidth=1.4, marker=".",
                    markersize=3, gid=name)
        if steps < num_steps:
            ax_map.plot(path[-1, 0], path[-1, 1], "x", color=color, markersize=8, mew=2)
        with np.errstate(over="ignore", invalid="ignore"):
            log_gap = np.log10(np.maximum(s.f(path) - s.f_min, _LOSS_FLOOR))
        ax_loss.plot(np.arange(len(path)), log_gap, color=color, linewidth=1.4, label=label,
                     gid=name)
        lowest = min(lowest, float(log_gap.min()))
        highest = max(highest, float(log_gap[0]) + 1)
    ax_map.set_xlim(*s.xlim)
    ax_map.set_ylim(*s.ylim)
    # few explicit ticks: creating and drawing tick labels is most of a redraw
    for axis, (lo, hi) in ((ax_map.xaxis, s.xlim), (ax_map.yaxis, s.ylim)):
        axis.set_ticks(_nice_ticks(lo, hi))
    ax_map.set_title(f"{s.name}: paths from the black dot to the star", fontsize=10)
    ax_loss.set_xlim(0, num_steps)
    ax_loss.set_xticks(_nice_ticks(0, num_steps))
    low, high = math.floor(lowest), math.ceil(highest)
    step = max(1, math.ceil((high - low) / 7))
    ticks = np.arange(high, low - 1, -step)[::-1]
    ax_loss.set_yticks(ticks, [f"1e{int(t)}" for t in ticks])
    ax_loss.set_ylim(low - 0.3, high + 0.3)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("f(w) - f_min (log scale)")
    ax_loss.set_title(title or "loss per step", fontsize=10)
    if arrays:
        ax_map.legend(handles=ax_loss.lines, fontsize=7, loc="lower right", framealpha=0.85)


def draw_race(
    fig: Figure,
    surface: str = "Rosenbrock",
    *,
    lr_scale: float = 1.0,
    momentum: float = 0.9,
    num_steps: int = 300,
    optimizers: Sequence[str] = OPTIMIZERS,
) -> dict[str, np.ndarray]:
    """Draw the paths of ``race_paths`` with ``draw_paths``; the legend gives each
    optimizer's lr. Returns the paths."""
    _check_race(surface, lr_scale, momentum, num_steps, optimizers, "draw_race")
    paths = race_paths(surface, lr_scale=lr_scale, momentum=momentum, num_steps=num_steps,
                       optimizers=optimizers)
    labels = {name: f"{name} (lr {lr_scale * TUNED_LR[surface][name]:.2g})" for name in paths}
    draw_paths(fig, surface, paths, labels=labels, num_steps=num_steps,
               title=f"loss per step: lr x {lr_scale:.3g}, momentum {momentum:.2f}")
    return paths


def optimizer_explorer(
    *,
    surface: str = "Rosenbrock",
    lr_scale: float = 1.0,
    momentum: float = 0.9,
    num_steps: int = 300,
    optimizers: Sequence[str] = OPTIMIZERS,
) -> Explorer:
    """A surface menu, sliders for the learning-rate multiplier (log scale), the momentum and
    the number of steps, and a choice of optimizers; each change reruns the race and redraws."""
    _check_race(surface, lr_scale, momentum, num_steps, optimizers, "optimizer_explorer")
    style = {"description_width": "initial"}
    narrow = widgets.Layout(width="230px")
    controls: dict[str, widgets.ValueWidget] = {
        "surface": widgets.Dropdown(options=list(SURFACES), value=surface, description="surface",
                                    style=style, layout=widgets.Layout(width="220px")),
        "lr_scale": widgets.FloatLogSlider(
            value=lr_scale, base=10, min=-1.5, max=1.0, step=0.1, description="lr x",
            continuous_update=False, readout_format=".2g", style=style, layout=narrow,
        ),
        "momentum": widgets.FloatSlider(
            value=momentum, min=0.0, max=0.99, step=0.01, description="momentum",
            continuous_update=False, style=style, layout=narrow,
        ),
        "num_steps": widgets.IntSlider(
            value=num_steps, min=10, max=1000, step=10, description="steps",
            continuous_update=False, style=style, layout=narrow,
        ),
        "optimizers": widgets.SelectMultiple(
            options=list(OPTIMIZERS), value=tuple(o for o in OPTIMIZERS if o in optimizers),
            rows=len(OPTIMIZERS), description="", layout=widgets.Layout(width="110px"),
        ),
    }
    return make_explorer(
        lambda fig, surface, lr_scale, momentum, num_steps, optimizers: draw_race(
            fig, surface, lr_scale=lr_scale, momentum=momentum, num_steps=num_steps,
            optimizers=optimizers,
        ),
        controls,
        figsize=(9.5, 4.0),
        title="Optimizer race: pick a surface, scale the learning rates, set the momentum "
              "(ctrl-click to choose optimizers)",
    )
