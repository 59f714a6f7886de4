"""Training pictures for lesson 05: decision boundaries, loss curves, and a live-training explorer.

``plot_*`` functions draw on one Axes, ``draw_*`` functions fill a whole figure; all take plain
values (arrays, a callable that maps points to scores, a ``History``). ``training_explorer``
trains a two-layer ReLU network on 2-D points by full-batch gradient descent every time a
control changes, and redraws its decision boundary and loss curve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from nncourse.widgets import Explorer, make_explorer
from nnlib.backprop import init_two_layer

__all__ = [
    "CLASS_COLORS",
    "decision_grid",
    "plot_decision_boundary",
    "plot_loss_curve",
    "draw_history",
    "train_for_display",
    "draw_training",
    "training_explorer",
]

#: One colour per class (the points); the regions use the same colours, lighter.
CLASS_COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)


def _check_points(X: Any, y: Any, fn: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{fn}: X must hold 2-D points with shape (N, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{fn}: y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    return X, y.astype(np.int64)


def decision_grid(
    predict: Callable[[np.ndarray], Any],
    X: Any,
    *,
    resolution: int = 150,
    margin: float = 0.15,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """labels[i, j] = class predicted at grid point (x_j, y_i) over the box around X.

    Shapes: X (N, 2), predict (M, 2) -> scores (M, K) or labels (M,) ->
    labels (resolution, resolution), extent (x_min, x_max, y_min, y_max) for ``imshow``.
    """
    fn = "decision_grid"
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{fn}: X must hold 2-D points with shape (N, 2), got {X.shape}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-12)
    lo, hi = lo - pad, hi + pad
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    out = np.asarray(predict(grid))
    if out.ndim == 2:
        labels = np.argmax(out, axis=1)
    elif out.ndim == 1 and out.shape[0] == grid.shape[0]:
        labels = out.astype(np.int64)
    else:
        raise ValueError(
            f"{fn}: predict must map (M, 2) points to scores (M, K) or labels (M,), "
            f"got shape {out.shape} for M={grid.shape[0]}"
        )
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    return labels.reshape(resolution, resolution), extent


def plot_decision_boundary(
    ax: Axes,
    predict: Callable[[np.ndarray], Any],
    X: Any,
    y: Any,
    *,
    resolution: int = 150,
    title: str | None = None,
) -> np.ndarray:
    """Colour the plane by the class ``predict`` gives each point, and scatter (X, y) over it.

    Shapes: X (N, 2), y (N,) int; predict as in ``decision_grid``. Returns the label grid.
    """
    X, y = _check_points(X, y, "plot_decision_boundary")
    labels, extent = decision_grid(predict, X, resolution=resolution)
    K = int(max(labels.max(), y.max())) + 1
    colors = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(K)]
    cmap = ListedColormap(colors)
    ax.imshow(labels, origin="lower", extent=extent, cmap=cmap, vmin=-0.5, vmax=K - 0.5,
              alpha=0.3, interpolation="nearest", aspect="auto")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=K - 0.5, s=12,
               edgecolors="k", linewidths=0.3)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return labels


def plot_loss_curve(
    ax: Axes,
    losses: Sequence[float],
    *,
    label: str | None = None,
    title: str | None = "training loss",
    log: bool = False,
) -> None:
    """Plot one loss per epoch (epochs 1, 2, ...) on ``ax`` (``log=True``: a log y-axis).

    Non-finite losses (a run that diverged) are left out and marked in the title.
    """
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    epochs = np.arange(1, values.size + 1)
    finite = np.isfinite(values)
    ax.plot(epochs[finite], values[finite], label=label)
    if log and finite.any() and np.all(values[finite] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    if title:
        if not finite.all():
            title = f"{title} (diverged at epoch {int(epochs[~finite][0])})"
        ax.set_title(title)


def draw_history(fig: Figure, history: Any, *, title: str | None = None) -> None:
    """Loss and accuracy per epoch from an ``nnlib.History`` (validation too, when recorded)."""
    logs = history.history
    if "loss" not in logs:
        raise ValueError("draw_history: the history holds no 'loss' (was fit run?)")
    epochs = np.asarray(history.epoch) + 1
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, logs["loss"], label="training")
    if "val_loss" in logs:
        ax_loss.plot(epochs, logs["val_loss"], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    if "accuracy" in logs:
        ax_acc.plot(epochs, logs["accuracy"], label="training")
        if "val_accuracy" in logs:
            ax_acc.plot(epochs, logs["val_accuracy"], label="validation")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        ax_acc.legend()
    else:
        ax_acc.set_axis_off()
    if title:
        fig.suptitle(title)


def _scores(X: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    return np.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]


def train_for_display(
    X: Any,
    y: Any,
    *,
    lr: float,
    num_hiddens: int,
    num_epochs: int,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Full-batch gradient descent on a 2-layer ReLU MLP; returns (params, losses per epoch).

    The same computation as ``nnlib.backprop.train_two_layer`` on ``init_two_layer(D,
    num_hiddens, K, rng=default_rng(seed))``, written without argument checks in the loop so
    that a widget can retrain within a fraction of a second. Stops at the first non-finite loss.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    N, D = X.shape
    K = int(y.max()) + 1
    p = init_two_layer(D, int(num_hiddens), K, rng=np.random.default_rng(seed))
    W1, b1, W2, b2 = (p[k].copy() for k in ("W1", "b1", "W2", "b2"))
    Y = np.zeros((N, K))
    Y[np.arange(N), y] = 1.0
    XT = np.ascontiguousarray(X.T)
    losses: list[float] = []
    # In-place updates on private copies: about twice as fast as new arrays at these sizes.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(int(num_epochs)):
            z1 = X @ W1
            z1 += b1
            mask = z1 > 0
            h = z1 * mask
            s = h @ W2
            s += b2
            s -= s.max(axis=1, keepdims=True)  # exp cannot overflow
            e = np.exp(s)
            Z = e.sum(axis=1, keepdims=True)
            loss = float(np.log(Z).sum() - (s * Y).sum()) / N
            losses.append(loss)
            if not np.isfinite(loss):
                break
            e /= Z
            e -= Y
            e *= lr / N  # the step lr * dscores, with dscores = (softmax - onehot) / N
            dh = e @ W2.T
            dh *= mask
            W2 -= h.T @ e
            b2 -= e.sum(axis=0)
            W1 -= XT @ dh
            b1 -= dh.sum(axis=0)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, losses


def draw_training(
    fig: Figure,
    X: Any,
    y: Any,
    *,
    lr: float,
    num_hiddens: int,
    num_epochs: int,
    seed: int = 0,
    resolution: int = 100,
) -> dict[str, Any]:
    """Train (``train_for_display``) and draw the decision boundary beside the loss curve.

    Shapes: X (N, 2), y (N,) int. Returns {"params", "losses", "accuracy"} of the run.
    """
    X, y = _check_points(X, y, "draw_training")
    params, losses = train_for_display(
        X, y, lr=lr, num_hiddens=num_hiddens, num_epochs=num_epochs, seed=seed
    )
    # A fixed layout: constrained layout would double the time a redraw takes to render.
    fig.set_layout_engine("none")
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 1.25], left=0.02, right=0.98, bottom=0.14,
                            top=0.9, wspace=0.22)
    ax_b, ax_l = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    finite = bool(losses) and bool(np.isfinite(losses[-1]))
    if finite:
        with np.errstate(over="ignore", invalid="ignore"):
            acc = float(np.mean(np.argmax(_scores(X, params), axis=1) == y))
        plot_decision_boundary(
            ax_b, lambda P: _scores(P, params), X, y, resolution=resolution,
            title=f"decision boundary (train accuracy {acc:.0%})",
        )
    else:
        acc = float("nan")
        plot_decision_boundary(
            ax_b, lambda P: np.zeros(len(P), dtype=np.int64), X, y, resolution=8,
            title="the loss diverged: no boundary",
        )
    plot_loss_curve(
        ax_l, losses, title=f"training loss: H={num_hiddens}, lr={lr:.3g}, {num_epochs} epochs"
    )
    return {"params": params, "losses": losses, "accuracy": acc}


def training_explorer(
    X: Any,
    y: Any,
    *,
    lr: float = 1.0,
    num_hiddens: int = 32,
    num_epochs: int = 200,
    seed: int = 0,
) -> Explorer:
    """Sliders for the learning rate, the hidden size and the number of epochs; each release
    of a slider retrains from the same initialisation and redraws (well under a second for a
    few hundred points)."""
    X, y = _check_points(X, y, "training_explorer")
    style = {"description_width": "initial"}
    controls = {
        "lr": widgets.FloatLogSlider(
            value=lr, base=10, min=-3, max=1.5, step=0.25, description="learning rate",
            continuous_update=False, readout_format=".3g", style=style,
        ),
        "num_hiddens": widgets.IntSlider(
            value=num_hiddens, min=2, max=64, step=1, description="hidden units H",
            continuous_update=False, style=style,
        ),
        "num_epochs": widgets.IntSlider(
            value=num_epochs, min=10, max=300, step=10, description="epochs",
            continuous_update=False, style=style,
        ),
    }
    return make_explorer(
        lambda fig, lr, num_hiddens, num_epochs: draw_training(
            fig, X, y, lr=lr, num_hiddens=num_hiddens, num_epochs=num_epochs, seed=seed
        ),
        controls,
        figsize=(9.0, 3.6),
        title="Release a slider: the network retrains from the same start and redraws",
    )
