"""The live-training explorer of lesson 05: set a control, check what was drawn, and the work a
move costs (its time is measured by `make bench`)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.training as training_widgets
from nncourse.widgets.training import (
    decision_grid,
    draw_history,
    draw_training,
    plot_decision_boundary,
    plot_loss_curve,
    train_for_display,
    training_explorer,
)
from nnlib.backprop import init_two_layer, train_two_layer
from nnlib.data import make_spirals


@pytest.fixture(scope="module")
def spirals():
    return make_spirals(300, rng=np.random.default_rng(0))


def boundary_image(explorer):
    return np.asarray(explorer.figure.axes[0].images[0].get_array()).copy()


def loss_line(explorer):
    return np.asarray(explorer.figure.axes[1].lines[0].get_ydata()).copy()


def render_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_explorer_draws_the_default_run(spirals):
    X, y = spirals
    ex = training_explorer(X, y)
    assert ex.redraws == 1
    assert set(ex.controls) == {"lr", "num_hiddens", "num_epochs"}
    assert len(ex.figure.axes) == 2
    assert len(loss_line(ex)) == ex.controls["num_epochs"].value == 200
    assert "train accuracy" in ex.figure.axes[0].get_title()
    assert "H=32, lr=1, 200 epochs" in ex.figure.axes[1].get_title()
    # the sliders retrain only when released
    assert not any(c.continuous_update for c in ex.controls.values())


def test_each_control_changes_what_is_drawn(spirals):
    X, y = spirals
    ex = training_explorer(X, y)
    image0, losses0 = boundary_image(ex), loss_line(ex)

    ex.controls["num_epochs"].value = 50
    assert ex.redraws == 2
    losses1 = loss_line(ex)
    assert len(losses1) == 50
    np.testing.assert_allclose(losses1, losses0[:50])  # same start, fewer steps
    assert "50 epochs" in ex.figure.axes[1].get_title()

    ex.controls["lr"].value = 0.01
    losses2 = loss_line(ex)
    assert losses2[-1] > losses1[-1], "a 100x smaller step should learn less in 50 epochs"
    assert "lr=0.01" in ex.figure.axes[1].get_title()

    ex.controls["num_hiddens"].value = 4
    assert "H=4" in ex.figure.axes[1].get_title()
    assert not np.array_equal(boundary_image(ex), image0)
    assert ex.redraws == 4
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"


def test_the_drawn_loss_curve_is_the_training_run(spirals):
    X, y = spirals
    fig = Figure()
    run = draw_training(fig, X, y, lr=0.5, num_hiddens=8, num_epochs=30, seed=3)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), run["losses"])
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape == (100, 100) and set(np.unique(grid)) <= {0, 1, 2}


def test_each_move_trains_once_for_the_epochs_set(spirals):
    """Up to the most expensive settings the sliders allow, a move is one training run of
    exactly num_epochs full-batch epochs, one 100 x 100 decision grid, and one drawing."""
    X, y = spirals
    ex = training_explorer(X, y)
    watch = [(training_widgets, "train_for_display")]
    settings = [("num_hiddens", ex.controls["num_hiddens"].max),
                ("num_epochs", ex.controls["num_epochs"].max), ("num_hiddens", 32),
                ("lr", 0.5), ("lr", 1.0), ("lr", 2.0)]
    for control, value in settings:
        assert_one_cheap_redraw(redraw_work(ex, control, value, watch), train_for_display=1)
        curve = ex.figure.axes[1].lines[0].get_ydata()
        assert len(curve) == ex.controls["num_epochs"].value, (control, value, len(curve))
        assert boundary_image(ex).shape == (100, 100)


def test_train_for_display_is_train_two_layer(spirals):
    X, y = spirals
    p_fast, losses_fast = train_for_display(X, y, lr=0.7, num_hiddens=10, num_epochs=40, seed=5)
    p0 = init_two_layer(2, 10, 3, rng=np.random.default_rng(5))
    p_ref, losses_ref = train_two_layer(X, y, p0, lr=0.7, num_epochs=40)
    np.testing.assert_allclose(losses_fast, losses_ref, rtol=1e-10)
    for k in p_ref:
        np.testing.assert_allclose(p_fast[k], p_ref[k], rtol=1e-8, atol=1e-12)


def test_a_diverging_run_is_reported_not_raised(spirals):
    X, y = spirals
    fig = Figure()
    run = draw_training(fig, X, y, lr=1e200, num_hiddens=8, num_epochs=20)
    assert not np.isfinite(run["losses"][-1])
    assert "diverged" in fig.axes[0].get_title()
    assert "diverged at epoch" in fig.axes[1].get_title()
    render_png(fig)


def test_decision_grid_and_boundary():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 1, 1])

    def right_is_one(P):  # scores (M, 2): class 1 where x > 0
        return np.column_stack([-P[:, 0], P[:, 0]])

    labels, extent = decision_grid(right_is_one, X, resolution=20)
    assert labels.shape == (20, 20)
    assert extent[0] < -1 and extent[1] > 1
    assert np.all(labels[:, :10] == 0) and np.all(labels[:, 10:] == 1)
    labels2, _ = decision_grid(lambda P: (P[:, 0] > 0).astype(int), X, resolution=20)
    np.testing.assert_array_equal(labels, labels2)

    fig = Figure()
    ax = fig.add_subplot()
    drawn = plot_decision_boundary(ax, right_is_one, X, y, resolution=20, title="t")
    np.testing.assert_array_equal(ax.images[0].get_array(), drawn)
    assert ax.get_title() == "t"
    with pytest.raises(ValueError, match=r"X must hold 2-D points with shape \(N, 2\)"):
        plot_decision_boundary(ax, right_is_one, np.zeros((3, 3)), y)
    with pytest.raises(ValueError, match="predict must map"):
        decision_grid(lambda P: np.zeros((2, 2, 2)), X)


def test_plot_loss_curve_and_draw_history():
    import nnlib

    fig = Figure()
    ax = fig.add_subplot()
    plot_loss_curve(ax, [1.0, 0.5, 0.25], log=True)
    assert ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])

    rng = np.random.default_rng(0)
    X, y = make_spirals(60, rng=rng)
    net = nnlib.Sequential(nnlib.Linear(2, 8, rng=rng), nnlib.ReLU(), nnlib.Linear(8, 3, rng=rng))
    history = nnlib.fit(net, nnlib.CrossEntropyLoss(), nnlib.SGD(net.parameters(), lr=0.5),
                        X, y, epochs=3, rng=rng, validation_data=(X, y), verbose=False)
    fig = Figure()
    draw_history(fig, history, title="spirals")
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 2 and len(ax_acc.lines) == 2
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(ax_acc.lines[1].get_ydata(), history.history["val_accuracy"])
    with pytest.raises(ValueError, match="holds no 'loss'"):
        draw_history(Figure(), nnlib.History())
