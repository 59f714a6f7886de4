"""The lesson-03 explorers: set controls from Python, check what is drawn, and the work a
redraw costs (its time is measured by `make bench`)."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.losses as losses_widgets
from nncourse.widgets.losses import (
    REGRESSION_LOSSES,
    _elementwise,
    draw_loss_curves,
    draw_loss_landscape,
    loss_curve_explorer,
    loss_landscape_explorer,
)
from nnlib import losses as L


@pytest.fixture(scope="module")
def line_data():
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 2, 25)
    return x, 2 * x + 1 + 0.3 * rng.normal(size=25)


def line(ax, prefix):
    """The line of ``ax`` whose legend label starts with ``prefix``."""
    found = [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix)]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


def star(explorer):
    """(w, b) of the minimum marked in the landscape panel."""
    marker = line(explorer.figure.axes[0], "minimum of " + explorer.controls["loss"].value)
    return float(marker.get_xdata()[0]), float(marker.get_ydata()[0])


# --------------------------------------------------------------------------------------------
# What is drawn is nnlib.losses
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_elementwise_values_agree_with_nnlib_losses(delta):
    rng = np.random.default_rng(1)
    y = rng.normal(size=(6, 3))
    y_hat = y + rng.normal(scale=2.0, size=y.shape)
    y_hat[0, 0] = y[0, 0]  # a zero residual (sign(0) = 0)
    refs = {
        "MSE": L.mse_loss(y_hat, y),
        "MAE": L.mae_loss(y_hat, y),
        "Huber": L.huber_loss(y_hat, y, delta=delta),
    }
    for name in REGRESSION_LOSSES:
        values, derivatives = _elementwise(name, y_hat - y, delta)
        loss, grad = refs[name]
        assert values.mean() == pytest.approx(loss, rel=1e-12)
        np.testing.assert_allclose(derivatives / y.size, grad, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------------------------
# The loss-curve explorer
# --------------------------------------------------------------------------------------------


def test_curve_explorer_draws_three_losses_and_their_derivatives():
    ex = loss_curve_explorer()
    ax_loss, ax_grad = ex.figure.axes
    for ax in (ax_loss, ax_grad):
        labels = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        assert labels == ["MSE", "MAE", "Huber (δ = 1)"]
    y_hat = line(ax_loss, "MSE").get_xdata()
    np.testing.assert_allclose(line(ax_loss, "MSE").get_ydata(), y_hat**2)
    np.testing.assert_allclose(line(ax_grad, "MAE").get_ydata(), np.sign(y_hat))
    assert "y = 0" in ax_loss.get_title()


def test_delta_slider_redraws_only_huber():
    ex = loss_curve_explorer()
    mse_before = line(ex.figure.axes[0], "MSE").get_ydata().copy()
    huber_before = line(ex.figure.axes[0], "Huber").get_ydata().copy()
    ex.controls["delta"].value = 2.0
    assert ex.redraws == 2
    ax_loss, ax_grad = ex.figure.axes
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"
    huber = line(ax_loss, "Huber")
    assert huber.get_label() == "Huber (δ = 2)"
    assert not np.allclose(huber.get_ydata(), huber_before)
    np.testing.assert_array_equal(line(ax_loss, "MSE").get_ydata(), mse_before)
    # The derivative is clipped at the new delta, and the values are nnlib's.
    assert line(ax_grad, "Huber").get_ydata().max() == pytest.approx(2.0)
    x = huber.get_xdata()
    for i in (0, 40, 80, 120, 160):
        ref = L.huber_loss(np.array([x[i]]), np.array([0.0]), delta=2.0)[0]
        assert huber.get_ydata()[i] == pytest.approx(ref, rel=1e-12)


def test_target_slider_moves_the_minimum():
    ex = loss_curve_explorer()
    ex.controls["target"].value = 1.5
    mse = line(ex.figure.axes[0], "MSE")
    assert mse.get_xdata()[np.argmin(mse.get_ydata())] == pytest.approx(1.5, abs=0.05)
    assert "y = 1.5" in ex.figure.axes[0].get_title()


def test_curve_moves_are_one_cheap_redraw_of_161_points():
    ex = loss_curve_explorer()
    for control, value in [("delta", 0.5), ("delta", 2.5), ("target", -1.0)]:
        assert_one_cheap_redraw(redraw_work(ex, control, value))
        assert len(line(ex.figure.axes[0], "MSE").get_xdata()) == 161


# --------------------------------------------------------------------------------------------
# The loss-landscape explorer
# --------------------------------------------------------------------------------------------


def test_landscape_minimum_of_mse_is_least_squares(line_data):
    x, y = line_data
    ex = loss_landscape_explorer(x, y, shift=0.0)
    w, b = star(ex)
    w_ls, b_ls = np.polyfit(x, y, 1)
    assert (w, b) == pytest.approx((w_ls, b_ls), abs=1e-12)
    assert ex.figure.axes[0].get_title().startswith("MSE over (w, b)")


def test_outliers_pull_mse_but_not_huber_or_mae(line_data):
    x, y = line_data
    ex = loss_landscape_explorer(x, y, shift=0.0)
    clean = star(ex)
    ex.controls["shift"].value = -10.0
    pulled = star(ex)
    assert pulled[0] < clean[0] - 1.0, "the outliers at the right end must flatten the MSE line"
    red = [c for c in ex.figure.axes[1].collections if c.get_label() == "outliers"]
    assert len(red) == 1 and len(red[0].get_offsets()) == 3
    for name in ("MAE", "Huber"):
        ex.controls["loss"].value = name
        w, b = star(ex)
        assert abs(w - 2.0) < 0.5 and abs(b - 1.0) < 0.5, (name, w, b)
        assert ex.figure.axes[0].get_title().startswith(name)
    # The landscape itself changed with the loss (the filled contours are redrawn).
    assert len(ex.figure.axes) == 2


def test_landscape_star_is_the_grid_minimum(line_data):
    x, y = line_data
    ex = loss_landscape_explorer(x, y, loss="MAE", shift=-6.0)
    w, b = star(ex)
    y_shifted = y.copy()
    y_shifted[np.argsort(x)[-3:]] -= 6.0
    best = L.mae_loss(w * x + b, y_shifted)[0]
    for dw, db in [(0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)]:
        assert best <= L.mae_loss((w + dw) * x + (b + db), y_shifted)[0] + 1e-9


def test_huber_delta_changes_the_landscape(line_data):
    x, y = line_data
    ex = loss_landscape_explorer(x, y, loss="Huber", delta=0.5)
    before = star(ex)
    ex.controls["delta"].value = 5.0  # so large that Huber is MSE / 2 on this data
    after = star(ex)
    assert after != before
    w_ls, b_ls = np.polyfit(x, y + ex.controls["shift"].value * (x >= np.sort(x)[-3]), 1)
    assert after == pytest.approx((w_ls, b_ls), abs=0.02)
    assert "δ = 5" in ex.figure.axes[0].get_title()


def test_landscape_moves_evaluate_a_fixed_number_of_grids(line_data):
    """One redraw evaluates the 61 x 61 grid once; MAE and Huber then refine their minimum on
    three 9 x 9 grids (MSE has it in closed form)."""
    x, y = line_data
    ex = loss_landscape_explorer(x, y)
    grids = []
    real = losses_widgets._landscape

    def landscape(name, delta, x, y, ws, bs):
        grids.append((len(bs), len(ws)))
        return real(name, delta, x, y, ws, bs)

    watch = [(losses_widgets, "_landscape")]
    for control, value, expected in [("loss", "MAE", 4), ("shift", 3.0, 4), ("loss", "Huber", 4),
                                     ("delta", 2.0, 4), ("loss", "MSE", 1), ("shift", -5.0, 1)]:
        grids.clear()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(losses_widgets, "_landscape", landscape)
            work = redraw_work(ex, control, value, watch=watch)
        assert_one_cheap_redraw(work, _landscape=expected)
        assert grids == [(61, 61)] + [(9, 9)] * (expected - 1), (control, value, grids)


# --------------------------------------------------------------------------------------------
# Static use and errors
# --------------------------------------------------------------------------------------------


def test_draw_functions_work_on_a_plain_figure(line_data):
    fig = Figure()
    draw_loss_curves(fig, 0.5, 0.7)
    assert len(fig.axes) == 2
    fig = Figure()
    draw_loss_landscape(fig, *line_data, "Huber", 1.0)
    assert len(fig.axes) == 2


def test_errors_name_the_function(line_data):
    x, y = line_data
    with pytest.raises(ValueError, match=r"^draw_loss_landscape: loss must be one of MSE, MAE"):
        draw_loss_landscape(Figure(), x, y, "hinge")
    with pytest.raises(ValueError, match=r"^draw_loss_landscape: x and y must be vectors"):
        draw_loss_landscape(Figure(), x, y[:-1])
    with pytest.raises(ValueError, match=r"^draw_loss_curves: delta must be a positive number"):
        draw_loss_curves(Figure(), 0.0, 0.0)
    with pytest.raises(ValueError, match=r"^loss_landscape_explorer: x and y must be vectors"):
        loss_landscape_explorer(x[:, None], y)
