"""The overfitting lab of lesson 08: training-set size, L2 strength and dropout rate against the
training and validation curves and the decision boundary of a small MLP on two moons.

``train_regularized_mlp`` trains a 2-hidden-layer ReLU network full-batch with Adam, an L2
penalty ``lam / 2 * sum(W**2)`` on the weight matrices (not the biases) and inverted dropout
after each hidden layer; it is written without argument checks in the loop so that a redraw,
training included, stays well under half a second. ``draw_overfitting`` trains on the first
``n_train`` points of a training pool and draws the boundary beside the loss curves.
``overfitting_explorer`` keeps every run it has trained (keyed by the slider values), so going
back to a setting redraws without retraining.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from nncourse.widgets import Explorer, make_explorer, one_blas_thread
from nncourse.widgets.training import _check_points
from nnlib.data import make_moons

__all__ = [
    "L2_STRENGTHS",
    "train_regularized_mlp",
    "regularized_mlp_scores",
    "probability_grid",
    "draw_overfitting",
    "overfitting_explorer",
]

#: The L2 strengths the explorer's slider offers (0 = no penalty).
L2_STRENGTHS: tuple[float, ...] = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)



def regularized_mlp_scores(P: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """Class scores (M, K) of the trained network for points P (M, 2), dropout off."""
    h = np.maximum(P @ params["W1"] + params["b1"], 0)
    h = np.maximum(h @ params["W2"] + params["b2"], 0)
    return h @ params["W3"] + params["b3"]


#: The top of the loss axis: higher validation losses leave the frame.
LOSS_AXIS_TOP = 1.6

#: Colours of P(class 1): blue (sure of class 0) through white (unsure) to red (sure of 1).
PROBABILITY_CMAP = LinearSegmentedColormap.from_list(
    "probability", ["#6b9fd4", "#ffffff", "#e2746e"]
)


def probability_grid(
    params: dict[str, np.ndarray], X: np.ndarray, *, resolution: int = 80, margin: float = 0.1
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """prob[i, j] = P(class 1) at grid point (x_j, y_i) over the box around X (M, 2).

    Returns prob (resolution, resolution) and extent (x_min, x_max, y_min, y_max).
    """
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-12)
    lo, hi = lo - pad, hi + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    s = regularized_mlp_scores(np.column_stack([gx.ravel(), gy.ravel()]), params)
    # softmax of two scores: P(1) = sigmoid(s1 - s0), written so that exp cannot overflow
    d = np.clip(s[:, 1] - s[:, 0], -500, 500)
    prob = 1.0 / (1.0 + np.exp(-d))
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    return prob.reshape(resolution, resolution), extent


def _cross_entropy(scores: np.ndarray, y: np.ndarray) -> float:
    s = scores - scores.max(axis=1, keepdims=True)  # exp cannot overflow
    return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))


def train_regularized_mlp(
    X: Any,
    y: Any,
    X_val: Any,
    y_val: Any,
    *,
    lam: float = 0.0,
    p: float = 0.0,
    num_hiddens: int = 32,
    num_epochs: int = 200,
    lr: float = 0.01,
    record_every: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Full-batch Adam on a 2-hidden-layer ReLU MLP; returns {"params", "epochs", "loss",
    "val_loss", "accuracy", "val_accuracy"}: the losses after epochs ``record_every``,
    2 * ``record_every``, ... (listed in "epochs"), and the final accuracies.

    Shapes: X (N, 2), y (N,) int, X_val (M, 2), y_val (M,). The loss minimised is the mean
    cross-entropy plus ``lam / 2`` times the sum of the squared weights (not the biases);
    ``p`` is the dropout (drop) probability after each hidden layer, a new mask every epoch.
    The recorded losses are the cross-entropies alone, measured with dropout off after each
    step, so the training and validation curves compare like with like. He-normal weights,
    zero biases and the dropout masks come from ``default_rng(seed)``.
    """
    X, y = _check_points(X, y, "train_regularized_mlp")
    X_val, y_val = _check_points(X_val, y_val, "train_regularized_mlp")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"train_regularized_mlp: p must be in [0, 1), got {p!r}")
    if lam < 0:
        raise ValueError(f"train_regularized_mlp: lam must be >= 0, got {lam!r}")
    rng = np.random.default_rng(seed)
    H, K, N = int(num_hiddens), int(max(y.max(), y_val.max())) + 1, X.shape[0]
    shapes = {"W1": (2, H), "b1": (H,), "W2": (H, H), "b2": (H,), "W3": (H, K), "b3": (K,)}
    # Every parameter (and its gradient) is a view into one flat vector, so that one Adam
    # update of a few vector operations serves them all: the loop is dominated by call
    # overhead, not arithmetic, at these sizes.
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    theta, grad = np.zeros(sum(sizes)), np.zeros(sum(sizes))
    is_weight = np.zeros(sum(sizes), dtype=bool)
    params: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    start = 0
    for (name, shape), size in zip(shapes.items(), sizes, strict=True):
        params[name] = theta[start:start + size].reshape(shape)
        grads[name] = grad[start:start + size].reshape(shape)
        is_weight[start:start + size] = name.startswith("W")
        start += size
    params["W1"][...] = rng.standard_normal((2, H)) * np.sqrt(2 / 2)
    params["W2"][...] = rng.standard_normal((H, H)) * np.sqrt(2 / H)
    params["W3"][...] = rng.standard_normal((H, K)) * np.sqrt(1 / H)
    decay = lam * is_weight  # the L2 penalty's gradient is decay * theta: weights only
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    Y = np.zeros((N, K))
    Y[np.arange(N), y] = 1.0
    keep = 1.0 - p
    epochs: list[int] = []
    losses: list[float] = []
    val_losses: list[float] = []
    W1, b1, W2, b2, W3, b3 = (params[k] for k in shapes)
    gW1, gb1, gW2, gb2, gW3, gb3 = (grads[k] for k in shapes)
    with one_blas_thread():
        for t in range(1, int(num_epochs) + 1):
            z1 = X @ W1 + b1
            h1 = np.maximum(z1, 0)
            if p > 0:
                mask1 = (rng.random(h1.shape) >= p) / keep
                h1 *= mask1
            z2 = h1 @ W2 + b2
            h2 = np.maximum(z2, 0)
            if p > 0:
                mask2 = (rng.random(h2.shape) >= p) / keep
                h2 *= mask2
            s = h2 @ W3 + b3
            s -= s.max(axis=1, keepdims=True)
            e = np.exp(s)
            ds = (e / e.sum(axis=1, keepdims=True) - Y) / N
            np.matmul(h2.T, ds, out=gW3)
            np.sum(ds, axis=0, out=gb3)
            dh2 = ds @ W3.T
            dh2 *= z2 > 0
            if p > 0:
                dh2 *= mask2
            np.matmul(h1.T, dh2, out=gW2)
            np.sum(dh2, axis=0, out=gb2)
            dh1 = dh2 @ W2.T
            dh1 *= z1 > 0
            if p > 0:
                dh1 *= mask1
            np.matmul(X.T, dh1, out=gW1)
            np.sum(dh1, axis=0, out=gb1)
            if lam:
                grad += decay * theta
            # Adam on the flat vector (the views W1 ... b3 see the update)
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            theta -= (lr / (1 - beta1**t)) * m / (np.sqrt(v / (1 - beta2**t)) + eps)
            if t % record_every == 0:
                epochs.append(t)
                losses.append(_cross_entropy(regularized_mlp_scores(X, params), y))
                val_losses.append(_cross_entropy(regularized_mlp_scores(X_val, params), y_val))
        acc = float(np.mean(regularized_mlp_scores(X, params).argmax(axis=1) == y))
        val_acc = float(np.mean(regularized_mlp_scores(X_val, params).argmax(axis=1) == y_val))
    return {"params": params, "epochs": epochs, "loss": losses, "val_loss": val_losses,
            "accuracy": acc, "val_accuracy": val_acc}


def draw_overfitting(
    fig: Figure,
    X_pool: Any,
    y_pool: Any,
    X_val: Any,
    y_val: Any,
    *,
    n_train: int,
    lam: float,
    p: float,
    run: dict[str, Any] | None = None,
    resolution: int = 80,
    **train_kwargs: Any,
) -> dict[str, Any]:
    """Train on the first ``n_train`` points of the pool (or reuse ``run``) and draw the
    network's P(class 1) over the plane (training points large, validation points small)
    beside the training and validation loss curves. Returns the run (as
    ``train_regularized_mlp``).
    """
    X_pool, y_pool = _check_points(X_pool, y_pool, "draw_overfitting")
    X_val, y_val = _check_points(X_val, y_val, "draw_overfitting")
    if not 1 <= n_train <= X_pool.shape[0]:
        raise ValueError(
            f"draw_overfitting: n_train must be in [1, {X_pool.shape[0]}], got {n_train}"
        )
    X, y = X_pool[:n_train], y_pool[:n_train]
    if run is None:
        run = train_regularized_mlp(X, y, X_val, y_val, lam=lam, p=p, **train_kwargs)
    params = run["params"]
    # A fixed layout: constrained layout would double the time a redraw takes to render.
    fig.set_layout_engine("none")
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 1.3], left=0.02, right=0.98, bottom=0.14,
                            top=0.88, wspace=0.2)
    ax_b, ax_l = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    with one_blas_thread():
        # The frame is the validation points' box, so it stays put when N changes.
        prob, extent = probability_grid(params, X_val, resolution=resolution)
    ax_b.imshow(prob, origin="lower", extent=extent, cmap=PROBABILITY_CMAP, vmin=0, vmax=1,
                interpolation="bilinear", aspect="auto")
    ax_b.scatter(X_val[:, 0], X_val[:, 1], c=np.where(y_val == 1, "#b2182b", "#2166ac"), s=2,
                 alpha=0.7, linewidths=0)
    ax_b.scatter(X[:, 0], X[:, 1], c=np.where(y == 1, "#b2182b", "#2166ac"), s=30,
                 edgecolors="k", linewidths=0.8)
    ax_b.set(xlim=extent[:2], ylim=extent[2:], xticks=[], yticks=[],
             title=f"train {run['accuracy']:.0%}, validation {run['val_accuracy']:.0%} correct")
    epochs = run["epochs"]
    ax_l.plot(epochs, run["loss"], label="training", color="tab:blue")
    ax_l.plot(epochs, run["val_loss"], label="validation", color="tab:red")
    # A linear axis (a log axis's minor ticks cost a third of the redraw), with fixed limits
    # so that curves can be compared from one setting to the next.
    ax_l.set_ylim(0, LOSS_AXIS_TOP)
    ax_l.set_xlim(0, epochs[-1] if epochs else 1)
    ax_l.set(xlabel="epoch", ylabel="cross-entropy loss",
             title=f"N = {n_train}, L2 λ = {lam:g}, dropout p = {p:g}")
    ax_l.legend(loc="upper left")
    return run


def overfitting_explorer(
    *,
    n_train: int = 30,
    lam: float = 0.0,
    p: float = 0.0,
    noise: float = 0.3,
    pool_size: int = 200,
    num_val: int = 400,
    seed: int = 0,
    **train_kwargs: Any,
) -> Explorer:
    """Sliders for the training-set size, the L2 strength and the dropout rate over two noisy
    moons; each release retrains (a few tenths of a second at most) and redraws. Runs are kept
    by slider values, so returning to a setting does not retrain.
    """
    if lam not in L2_STRENGTHS:
        raise ValueError(f"overfitting_explorer: lam must be one of {L2_STRENGTHS}, got {lam!r}")
    rng = np.random.default_rng(seed)
    X_pool, y_pool = make_moons(pool_size, noise=noise, rng=rng)
    X_val, y_val = make_moons(num_val, noise=noise, rng=rng)
    runs: dict[tuple[int, float, float], dict[str, Any]] = {}

    def draw(fig: Figure, n_train: int, lam: float, p: float) -> None:
        key = (int(n_train), float(lam), round(float(p), 6))
        run = draw_overfitting(fig, X_pool, y_pool, X_val, y_val, n_train=key[0], lam=key[1],
                               p=key[2], run=runs.get(key), **train_kwargs)
        runs[key] = run

    style = {"description_width": "initial"}
    controls: dict[str, widgets.ValueWidget] = {
        "n_train": widgets.IntSlider(
            value=n_train, min=10, max=pool_size, step=10, description="training points N",
            continuous_update=False, style=style,
        ),
        "lam": widgets.SelectionSlider(
            value=lam, options=[(f"{v:g}", v) for v in L2_STRENGTHS],
            description="L2 strength λ", continuous_update=False, style=style,
        ),
        "p": widgets.FloatSlider(
            value=p, min=0.0, max=0.8, step=0.1, description="dropout p",
            continuous_update=False, readout_format=".1f", style=style,
        ),
    }
    explorer = make_explorer(
        draw, controls, figsize=(9.0, 3.6),
        title="Release a slider: the network retrains on the first N points and redraws",
    )
    explorer.runs = runs  # type: ignore[attr-defined]
    return explorer

