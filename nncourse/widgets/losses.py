"""The explorers of lesson 03: regression losses against the prediction, and a loss landscape.

- :func:`draw_loss_curves` overlays MSE, MAE and Huber(delta) of one prediction against a fixed
  target, with their derivatives beside them; :func:`loss_curve_explorer` adds sliders for the
  target and for delta.
- :func:`draw_loss_landscape` draws a regression loss over the two weights (slope w, intercept
  b) of the line y_hat = w x + b fitted to data, and the best line found;
  :func:`loss_landscape_explorer` adds a choice of loss, delta, and how far a few outliers are
  pulled away from the line.

The values drawn are those of :mod:`nnlib.losses` (mse_loss, mae_loss, huber_loss), computed
per element so that whole grids redraw at once; tests/test_widgets_losses.py checks that they
agree.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from nncourse.widgets import Explorer, make_explorer

__all__ = [
    "REGRESSION_LOSSES",
    "draw_loss_curves",
    "loss_curve_explorer",
    "draw_loss_landscape",
    "loss_landscape_explorer",
]

#: The losses the explorers know, by the name shown in their menus.
REGRESSION_LOSSES: tuple[str, ...] = ("MSE", "MAE", "Huber")

_COLORS = {"MSE": "tab:blue", "MAE": "tab:orange", "Huber": "tab:green"}


def _check_loss(name: str, fn: str) -> None:
    if name not in REGRESSION_LOSSES:
        raise ValueError(
            f"{fn}: loss must be one of {', '.join(REGRESSION_LOSSES)}, got {name!r}"
        )


def _elementwise(name: str, r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Loss and derivative of each residual r = y_hat - y on its own (no mean, no 1/n).

    The mean of these values and derivative / n are exactly nnlib.losses' results (tested);
    the widgets need them unreduced, over whole grids at once, to redraw fast.
    """
    if name == "MSE":
        return r * r, 2 * r
    if name == "MAE":
        return np.abs(r), np.sign(r)
    abs_r = np.abs(r)
    values = np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))
    return values, np.clip(r, -delta, delta)


def _label(name: str, delta: float) -> str:
    return f"Huber (δ = {delta:.2g})" if name == "Huber" else name


def draw_loss_curves(
    fig: Figure, target: float = 0.0, delta: float = 1.0, *, span: float = 4.0
) -> None:
    """Left: MSE, MAE and Huber(delta) of a prediction y_hat for a fixed target; right: dL/dy_hat.

    The x axis covers [-span, span]; the band |y_hat - target| <= delta where Huber is
    quadratic is shaded.
    """
    fn = "draw_loss_curves"
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"{fn}: span must be a positive number, got {span!r}")
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"{fn}: delta must be a positive number, got {delta!r}")
    ax_loss, ax_grad = fig.subplots(1, 2)
    y_hat = np.linspace(-span, span, 161)
    for name in REGRESSION_LOSSES:
        values, derivatives = _elementwise(name, y_hat - target, delta)
        style = {"color": _COLORS[name], "label": _label(name, delta), "lw": 2}
        ax_loss.plot(y_hat, values, **style)
        ax_grad.plot(y_hat, derivatives, **style)
    for ax in (ax_loss, ax_grad):
        ax.axvspan(target - delta, target + delta, color="tab:green", alpha=0.08, lw=0)
        ax.axvline(target, color="0.4", lw=0.8, ls=":")
        ax.set_xlim(-span, span)
        ax.set_xlabel("prediction ŷ")
        ax.grid(alpha=0.3)
        ax.locator_params(nbins=5)  # fewer tick labels: text layout dominates a redraw
    ax_loss.set_ylim(-0.2, span * span / 2)
    ax_loss.set_ylabel("loss of this one prediction")
    ax_loss.set_title(f"loss against ŷ for the target y = {target:.2g}")
    ax_loss.legend(loc="upper center", fontsize="small")
    ax_grad.set_ylim(-2.2 * span / 2, 2.2 * span / 2)
    ax_grad.set_ylabel("dL / dŷ")
    ax_grad.set_title("its derivative: how hard a gradient step pushes")


def loss_curve_explorer(*, target: float = 0.0, delta: float = 1.0) -> Explorer:
    """Sliders for the target and Huber's delta, redrawing :func:`draw_loss_curves`."""
    controls = {
        "target": widgets.FloatSlider(value=target, min=-2.0, max=2.0, step=0.1,
                                      description="target y"),
        "delta": widgets.FloatSlider(value=delta, min=0.1, max=3.0, step=0.1,
                                     description="Huber δ"),
    }
    return make_explorer(
        lambda fig, target, delta: draw_loss_curves(fig, target, delta),
        controls,
        figsize=(9.0, 3.4),
        title="MSE, MAE and Huber of one prediction: move the target and δ",
    )


def _landscape(
    name: str, delta: float, x: np.ndarray, y: np.ndarray, ws: np.ndarray, bs: np.ndarray
) -> np.ndarray:
    """Mean loss of w x + b against y for every (b, w) of the grid: shape (len(bs), len(ws))."""
    residuals = ws[None, :, None] * x + bs[:, None, None] - y  # (B, W, N)
    return _elementwise(name, residuals, delta)[0].mean(axis=-1)


def _best(name: str, delta: float, x: np.ndarray, y: np.ndarray, ws: np.ndarray,
          bs: np.ndarray, L: np.ndarray) -> tuple[float, float]:
    """The grid's minimiser, refined three times on a finer grid around it."""
    i, j = np.unravel_index(np.argmin(L), L.shape)
    w, b = ws[j], bs[i]
    dw, db = ws[1] - ws[0], bs[1] - bs[0]
    for _ in range(3):
        fine_w = np.linspace(w - dw, w + dw, 9)
        fine_b = np.linspace(b - db, b + db, 9)
        F = _landscape(name, delta, x, y, fine_w, fine_b)
        k, m = np.unravel_index(np.argmin(F), F.shape)
        w, b = fine_w[m], fine_b[k]
        dw, db = dw / 4, db / 4
    return float(w), float(b)


def draw_loss_landscape(
    fig: Figure,
    x: np.ndarray,
    y: np.ndarray,
    loss: str = "MSE",
    delta: float = 1.0,
    *,
    highlight: np.ndarray | None = None,
    w_range: tuple[float, float] = (-1.0, 5.0),
    b_range: tuple[float, float] = (-3.0, 5.0),
    grid: int = 61,
) -> None:
    """Left: the mean loss of y_hat = w x + b against y over a grid of (w, b); right: the data.

    Shapes: x (N,), y (N,). The minimum of the chosen loss is a star, that of MSE a white
    circle (for comparison); the right panel shows both lines. Points where ``highlight``
    (N,) is True are drawn in red (the outliers).
    """
    fn = "draw_loss_landscape"
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(f"{fn}: x and y must be vectors of the same length N, got shapes "
                         f"{x.shape} and {y.shape}")
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"{fn}: delta must be a positive number, got {delta!r}")
    _check_loss(loss, fn)
    ws = np.linspace(*w_range, grid)
    bs = np.linspace(*b_range, grid)
    L = _landscape(loss, delta, x, y, ws, bs)
    # Least squares in closed form for the reference line.
    w_mse, b_mse = (float(v) for v in np.polyfit(x, y, 1))
    w_best, b_best = (w_mse, b_mse) if loss == "MSE" else _best(loss, delta, x, y, ws, bs, L)

    ax_land, ax_fit = fig.subplots(1, 2)
    levels = np.unique(np.quantile(L, np.linspace(0.0, 1.0, 16)))
    ax_land.contourf(ws, bs, L, levels=levels, cmap="viridis")
    ax_land.contour(ws, bs, L, levels=levels, colors="k", linewidths=0.3)
    if loss != "MSE":
        ax_land.plot(w_mse, b_mse, "o", mfc="white", mec="k", ms=8, label="minimum of MSE")
    ax_land.plot(w_best, b_best, "*", color="tab:red", mec="k", ms=15,
                 label=f"minimum of {_label(loss, delta)}")
    ax_land.set_xlim(*w_range)
    ax_land.set_ylim(*b_range)
    ax_land.set_xlabel("slope w")
    ax_land.set_ylabel("intercept b")
    ax_land.set_title(f"{_label(loss, delta)} over (w, b) (darker = lower)")
    ax_land.legend(loc="lower left", fontsize="small", framealpha=0.85)

    mask = np.zeros(x.shape, bool) if highlight is None else np.asarray(highlight, bool)
    ax_fit.scatter(x[~mask], y[~mask], s=18, color="tab:blue", label="data")
    if mask.any():
        ax_fit.scatter(x[mask], y[mask], s=30, color="tab:red", marker="D", label="outliers")
    xs = np.array([x.min(), x.max()])
    if loss != "MSE":
        ax_fit.plot(xs, w_mse * xs + b_mse, color="0.3", ls="--", lw=1.5,
                    label=f"MSE: ŷ = {w_mse:.2f} x {b_mse:+.2f}")
    ax_fit.plot(xs, w_best * xs + b_best, color="tab:red", lw=2,
                label=f"{_label(loss, delta)}: ŷ = {w_best:.2f} x {b_best:+.2f}")
    ax_fit.set_xlabel("x")
    ax_fit.set_ylabel("y")
    ax_fit.set_title("the data and the best lines")
    ax_fit.legend(loc="upper left", fontsize="small")
    ax_fit.grid(alpha=0.3)
    for ax in (ax_land, ax_fit):
        ax.locator_params(nbins=5)  # fewer tick labels: text layout dominates a redraw


def loss_landscape_explorer(
    x: np.ndarray,
    y: np.ndarray,
    *,
    outliers: np.ndarray | None = None,
    loss: str = "MSE",
    delta: float = 1.0,
    shift: float = -8.0,
) -> Explorer:
    """A menu of losses, Huber's delta and an outlier shift, redrawing :func:`draw_loss_landscape`.

    The shift is added to ``y`` at the indices ``outliers`` (default: the three largest x).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"loss_landscape_explorer: x and y must be vectors of the same length, "
                         f"got shapes {x.shape} and {y.shape}")
    mask = np.zeros(x.shape, bool)
    mask[np.argsort(x)[-3:] if outliers is None else np.asarray(outliers)] = True

    def draw(fig: Figure, loss: str, delta: float, shift: float) -> None:
        draw_loss_landscape(fig, x, y + shift * mask, loss, delta,
                            highlight=mask if shift != 0 else None)

    controls = {
        "loss": widgets.Dropdown(options=list(REGRESSION_LOSSES), value=loss,
                                 description="loss"),
        "delta": widgets.FloatSlider(value=delta, min=0.1, max=5.0, step=0.1,
                                     description="Huber δ"),
        "shift": widgets.FloatSlider(value=shift, min=-20.0, max=20.0, step=0.5,
                                     description="outlier shift"),
    }
    return make_explorer(draw, controls, figsize=(9.5, 3.8),
                         title="Pull the red outliers away and compare the losses' minima")
