"""The perceptron explorers of lesson 01.

- :func:`decision_boundary_explorer`: sliders for w1, w2 and b move the line
  ``w1 x1 + w2 x2 + b = 0`` over a 2-D data set, with a live count of misclassified points.
- :func:`perceptron_training_explorer`: a slider over the epochs of the perceptron rule shows
  the line after each epoch beside the number of mistakes per epoch.

Both draw with :func:`draw_decision_boundary`, which also makes the lesson's static figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nncourse.widgets import Explorer, make_explorer
from nnlib.perceptron import perceptron_history

__all__ = [
    "boundary_segment",
    "draw_decision_boundary",
    "draw_training",
    "decision_boundary_explorer",
    "perceptron_training_explorer",
]

Dataset = tuple[np.ndarray, np.ndarray]

CLASS_COLORS = ("tab:blue", "tab:orange")
CLASS_MARKERS = ("o", "^")
#: The predicted-1 half-plane is shaded orange, the predicted-0 one blue (same as the points).
_REGION_CMAP = ListedColormap(["#dbe9f6", "#fde3c8"])
_GRID = 120


def _limits(X: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1.0)
    return lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1]


def boundary_segment(
    w: Sequence[float], b: float, limits: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of the line w1 x1 + w2 x2 + b = 0 inside the box ``(x1min, x1max, x2min, x2max)``.

    Returns the x1 and x2 coordinates of its two ends, or None when w = 0 (no line) or the line
    misses the box.
    """
    w1, w2 = float(w[0]), float(w[1])
    x1min, x1max, x2min, x2max = limits
    points = []
    if w2 != 0.0:  # crossings of the left and right edges
        points += [(x1, -(w1 * x1 + b) / w2) for x1 in (x1min, x1max)]
    if w1 != 0.0:  # crossings of the bottom and top edges
        points += [(-(w2 * x2 + b) / w1, x2) for x2 in (x2min, x2max)]
    tol = 1e-9 * max(x1max - x1min, x2max - x2min)
    inside = np.array([p for p in points if x1min - tol <= p[0] <= x1max + tol
                       and x2min - tol <= p[1] <= x2max + tol]).reshape(-1, 2)
    if len(inside) < 2:
        return None
    gaps = np.linalg.norm(inside[:, None, :] - inside[None, :, :], axis=-1)
    i, j = np.unravel_index(np.argmax(gaps), gaps.shape)
    if gaps[i, j] <= tol:
        return None  # the line only touches a corner
    return inside[[i, j], 0], inside[[i, j], 1]


def _equation(w1: float, w2: float, b: float, names: tuple[str, str]) -> str:
    def signed(v: float) -> str:
        return f"{'-' if v < 0 else '+'} {abs(v):.2f}"

    return f"{w1:.2f} {names[0]} {signed(w2)} {names[1]} {signed(b)}"


def _draw_boundary_on(
    ax: Axes,
    X: np.ndarray,
    y: np.ndarray,
    w: Sequence[float],
    b: float,
    title: str | None,
    names: tuple[str, str] = ("x₁", "x₂"),
) -> int:
    w1, w2 = float(w[0]), float(w[1])
    limits = _limits(X)
    x1min, x1max, x2min, x2max = limits
    g1 = np.linspace(x1min, x1max, _GRID)
    g2 = np.linspace(x2min, x2max, _GRID)
    region = (w1 * g1[None, :] + w2 * g2[:, None] + b >= 0).astype(float)
    ax.imshow(region, origin="lower", extent=limits, cmap=_REGION_CMAP, vmin=0, vmax=1,
              aspect="auto", interpolation="nearest", zorder=0)

    y_hat = (X @ np.array([w1, w2]) + b >= 0).astype(np.int64)
    wrong = y_hat != y
    for k in (0, 1):
        pts = X[y == k]
        ax.scatter(pts[:, 0], pts[:, 1], c=CLASS_COLORS[k], marker=CLASS_MARKERS[k], s=36,
                   edgecolors="black", linewidths=0.5, label=f"class {k}", zorder=3)
    ax.scatter(X[wrong, 0], X[wrong, 1], s=150, facecolors="none", edgecolors="red",
               linewidths=1.6, label="misclassified", zorder=4, gid="misclassified")

    segment = boundary_segment((w1, w2), b, limits)
    if segment is not None:
        ax.plot(*segment, color="black", linewidth=2, zorder=2, gid="boundary",
                label=f"boundary {_equation(w1, w2, b, names)} = 0")
        # the arrow w, drawn from the boundary point nearest the centre of the view
        centre = np.array([(x1min + x1max) / 2, (x2min + x2max) / 2])
        wv = np.array([w1, w2])
        foot = centre - (wv @ centre + b) / (wv @ wv) * wv
        length = 0.18 * min(x1max - x1min, x2max - x2min)
        d = length * wv / np.linalg.norm(wv)
        ax.annotate("", xy=foot + d, xytext=foot, zorder=5,
                    arrowprops=dict(arrowstyle="-|>", color="black", linewidth=1.5))
        ax.annotate("w", xy=foot + 1.2 * d, ha="center", va="center", zorder=5,
                    fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    ax.set_xlim(x1min, x1max)
    ax.set_ylim(x2min, x2max)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.locator_params(nbins=5)
    errors = int(wrong.sum())
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}{errors} of {len(y)} misclassified")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize="small",
              frameon=False)
    return errors


def draw_decision_boundary(
    fig: Figure,
    X: np.ndarray,
    y: np.ndarray,
    w: Sequence[float],
    b: float,
    *,
    title: str | None = None,
    names: tuple[str, str] = ("x₁", "x₂"),
) -> int:
    """Draw 2-D points ``X`` (N, 2) with labels ``y`` (N,) in {0, 1}, the half-planes where
    step(w1 x1 + w2 x2 + b) is 0 and 1, the line between them and the normal vector w; circle
    the misclassified points. Returns how many there are (also shown in the title).
    ``names`` are the two input features, for the axes and the line's equation (plain text:
    mathtext would be parsed again on every redraw)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"draw_decision_boundary: X must have shape (N, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"draw_decision_boundary: y must have shape (N,) = ({X.shape[0]},), got {y.shape}"
        )
    if np.shape(w) != (2,):
        raise ValueError(f"draw_decision_boundary: w must have shape (2,), got {np.shape(w)}")
    ax = fig.subplots()
    return _draw_boundary_on(ax, X, y, w, float(b), title, names)


def draw_training(
    fig: Figure,
    X: np.ndarray,
    y: np.ndarray,
    ws: np.ndarray,
    bs: np.ndarray,
    errors: np.ndarray,
    epoch: int,
    *,
    title: str | None = None,
) -> None:
    """Left: the boundary after ``epoch`` epochs (``ws`` (E + 1, 2), ``bs`` (E + 1,), row 0 the
    start). Right: the mistakes made in each epoch (``errors`` (E,)), the current one marked.
    ``title`` (the data set's name) starts the left panel's title."""
    if not 0 <= epoch < len(ws):
        raise ValueError(f"draw_training: epoch must be in [0, {len(ws) - 1}], got {epoch}")
    ax_line, ax_err = fig.subplots(1, 2, width_ratios=[1.2, 1])
    w = ws[epoch]
    label = (f"{title}: " if title else "") + ("start" if epoch == 0 else f"after epoch {epoch}")
    if np.all(w == 0):  # no line to draw: every point gets step(b)
        label += " (w = 0, no line)"
    _draw_boundary_on(ax_line, X, y, w, float(bs[epoch]), label)
    epochs = np.arange(1, len(errors) + 1)
    ax_err.plot(epochs, errors, marker="o", markersize=3, color="tab:gray", gid="errors")
    if epoch >= 1:
        ax_err.plot([epoch], [errors[epoch - 1]], marker="o", markersize=9, color="red",
                    gid="current")
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("mistakes during the epoch")
    ax_err.set_ylim(bottom=0)
    ax_err.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_err.set_xlim(0.5, len(errors) + 0.5)
    ax_err.set_title("perceptron mistakes per epoch")


def _as_datasets(datasets: Mapping[str, Dataset] | Dataset) -> dict[str, Dataset]:
    if isinstance(datasets, Mapping):
        out = dict(datasets)
    else:
        out = {"data": tuple(datasets)}  # type: ignore[dict-item]
    if not out:
        raise ValueError("perceptron explorers: give at least one data set")
    return {k: (np.asarray(X, dtype=np.float64), np.asarray(y)) for k, (X, y) in out.items()}


def decision_boundary_explorer(
    datasets: Mapping[str, Dataset] | Dataset,
    *,
    w1: float = 1.0,
    w2: float = 0.5,
    b: float = 0.0,
) -> Explorer:
    """Sliders for w1, w2, b (and a menu of data sets when there are several): the line
    w1 x1 + w2 x2 + b = 0 moves over the data, and the title counts the misclassified points."""
    data = _as_datasets(datasets)
    slider = dict(min=-3.0, max=3.0, step=0.05, continuous_update=True, readout_format=".2f",
                  layout=widgets.Layout(width="220px"),
                  style={"description_width": "25px"})
    controls: dict[str, widgets.ValueWidget] = {}
    if len(data) > 1:
        controls["dataset"] = widgets.Dropdown(options=list(data), description="data",
                                               layout=widgets.Layout(width="180px"),
                                               style={"description_width": "35px"})
    controls["w1"] = widgets.FloatSlider(value=w1, description="w1", **slider)
    controls["w2"] = widgets.FloatSlider(value=w2, description="w2", **slider)
    controls["b"] = widgets.FloatSlider(value=b, description="b", **slider)
    first = next(iter(data))

    def draw(fig: Figure, w1: float, w2: float, b: float, dataset: str = first) -> None:
        X, y = data[dataset]
        draw_decision_boundary(fig, X, y, (w1, w2), b, title=dataset if len(data) > 1 else None)

    return make_explorer(draw, controls, figsize=(5.6, 4.4),
                         title="Move w1, w2 and b: can you reach 0 misclassified points?")


def perceptron_training_explorer(
    datasets: Mapping[str, Dataset] | Dataset,
    *,
    epochs: int = 15,
    lr: float = 1.0,
    seed: int = 0,
) -> Explorer:
    """A slider over the epochs of the perceptron rule (started from w = 0, b = 0) and a menu
    of data sets. Training runs once per data set when the explorer is built."""
    data = _as_datasets(datasets)
    runs = {
        name: perceptron_history(X, y, epochs=epochs, lr=lr, rng=np.random.default_rng(seed))
        for name, (X, y) in data.items()
    }
    controls: dict[str, widgets.ValueWidget] = {}
    if len(data) > 1:
        controls["dataset"] = widgets.Dropdown(options=list(data), description="data",
                                               layout=widgets.Layout(width="180px"),
                                               style={"description_width": "35px"})
    controls["epoch"] = widgets.IntSlider(value=0, min=0, max=epochs, step=1,
                                          description="epoch", continuous_update=True)
    first = next(iter(data))

    def draw(fig: Figure, epoch: int, dataset: str = first) -> None:
        X, y = data[dataset]
        ws, bs, errors = runs[dataset]
        draw_training(fig, X, y, ws, bs, errors, epoch, title=dataset if len(data) > 1 else None)

    return make_explorer(draw, controls, figsize=(9.0, 3.8),
                         title="Slide through the epochs of the perceptron rule")
