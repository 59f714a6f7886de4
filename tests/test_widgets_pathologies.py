"""The gradient-pathologies explorer of lesson 09: controls redraw the real data, with one
forward and backward pass per move (the redraw time is measured by `make bench`)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.pathologies as pathologies_widgets
from nncourse.widgets.pathologies import (
    INITIALIZERS,
    draw_gradient_profile,
    draw_gradients_through_depth,
    gradient_profile,
    pathologies_explorer,
)
from nnlib.data import load_digits
from nnlib.diagnostics import activation_grad_norms, deep_mlp, layer_grad_norms
from nnlib.modules import CrossEntropyLoss


@pytest.fixture(scope="module")
def batch():
    X, y = load_digits()
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)
    return X[:128], y[:128]


def signal_line(fig):
    return fig.axes[0].lines[0]


def weight_line(fig):
    return fig.axes[0].lines[1]


def std_line(fig):
    return fig.axes[1].lines[0]


def test_default_state_shows_a_vanishing_sigmoid_network(batch):
    ex = pathologies_explorer(*batch)
    assert ex.redraws == 1
    assert set(ex.controls) == {"depth", "activation", "init"}
    log_signal = signal_line(ex.figure).get_ydata()
    assert len(log_signal) == 11  # 10 hidden layers + the output layer
    assert log_signal[0] < log_signal[-1] - 5, "the gradient should vanish towards the input"
    assert ex.figure.axes[0].get_title().startswith("vanishing")
    assert "10 hidden layers of 64 sigmoid units, Xavier normal" in ex.figure.get_suptitle()
    assert len(ex.figure.axes) == 2


def test_each_control_redraws_the_drawn_data(batch):
    X, y = batch
    ex = pathologies_explorer(X, y)
    before = signal_line(ex.figure).get_ydata().copy()

    ex.controls["activation"].value = "relu"
    after = signal_line(ex.figure).get_ydata()
    assert not np.allclose(before, after)
    assert ex.figure.axes[0].get_title().startswith("healthy")

    ex.controls["init"].value = "normal, std 1"
    assert ex.figure.axes[0].get_title().startswith("exploding")
    log_signal = signal_line(ex.figure).get_ydata()
    assert log_signal[0] > log_signal[-1] + 5
    # ReLU with large weights: the weight gradients stay balanced although the signal explodes
    log_weight = weight_line(ex.figure).get_ydata()
    assert abs(log_weight[0] - log_weight[-1]) < 1.5

    ex.controls["depth"].value = 15
    assert len(signal_line(ex.figure).get_xdata()) == 16
    assert len(std_line(ex.figure).get_xdata()) == 15
    # the plotted norms are those nnlib.diagnostics measures on the same network
    net = deep_mlp(64, 64, 15, 10, activation="relu", init=1.0, rng=np.random.default_rng(0))
    np.testing.assert_allclose(signal_line(ex.figure).get_ydata(),
                               np.log10(activation_grad_norms(net, X, y, CrossEntropyLoss())))
    np.testing.assert_allclose(weight_line(ex.figure).get_ydata(),
                               np.log10(layer_grad_norms(net, X, y, CrossEntropyLoss())))
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"
    assert ex.redraws == 4


def test_he_keeps_relu_flat_where_xavier_vanishes_at_depth_20(batch):
    ex = pathologies_explorer(*batch, depth=20, activation="relu", init="He normal")
    assert ex.figure.axes[0].get_title().startswith("healthy")
    ex.controls["init"].value = "Xavier normal"
    assert ex.figure.axes[0].get_title().startswith("vanishing")


def test_profile_shapes_and_reproducibility(batch):
    X, y = batch
    a = gradient_profile(X, y, depth=3, activation="tanh", init="He normal", seed=4)
    b = gradient_profile(X, y, depth=3, activation="tanh", init="he_normal", seed=4)
    assert a["signal"].shape == a["weight"].shape == (4,)
    assert a["activation_std"].shape == (3,)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    c = gradient_profile(X, y, depth=3, activation="tanh", init="He normal", seed=5)
    assert not np.allclose(a["signal"], c["signal"])


def test_draw_floors_zeros_and_accepts_a_title():
    fig = Figure()
    draw_gradient_profile(fig, np.array([0.0, 1e-3, 1.0]), np.array([1.0, 1.0, 1.0]),
                          title="given")
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "given"
    assert signal_line(fig).get_ydata()[0] == pytest.approx(-30)
    fig = Figure()
    draw_gradient_profile(fig, np.array([np.inf, 1.0]), np.array([1.0, 1.0]))
    assert fig.axes[0].get_title().startswith("exploding")


def test_each_move_is_one_pass_through_a_network_of_the_chosen_depth(batch):
    """A move runs gradient_profile once (one forward and backward pass of the batch), through
    depth + 1 Linear layers, and draws once; the depth slider stops at MAX_DEPTH."""
    ex = pathologies_explorer(*batch)
    assert ex.controls["depth"].max == pathologies_widgets.MAX_DEPTH == 20
    settings = [("depth", 20), ("activation", "relu"), ("init", "normal, std 1"),
                ("activation", "tanh"), ("init", "normal, std 0.01"), ("activation", "sigmoid"),
                ("depth", 2)]
    for name, value in settings:
        work = redraw_work(ex, name, value, watch=[(pathologies_widgets, "gradient_profile")])
        assert_one_cheap_redraw(work, gradient_profile=1)
        depth = ex.controls["depth"].value
        assert len(signal_line(ex.figure).get_ydata()) == depth + 1, (name, value)


def test_the_static_figure_is_drawn_by_the_same_function(batch):
    fig = Figure(figsize=(9.0, 3.6))
    draw_gradients_through_depth(fig, *batch, depth=10, activation="sigmoid",
                                 init="Xavier normal")
    ex = pathologies_explorer(*batch)
    np.testing.assert_array_equal(signal_line(fig).get_ydata(),
                                  signal_line(ex.figure).get_ydata())


def test_menus_list_every_option_and_errors(batch):
    ex = pathologies_explorer(*batch)
    assert list(ex.controls["init"].options) == list(INITIALIZERS)
    assert list(ex.controls["activation"].options) == ["sigmoid", "tanh", "relu"]
    with pytest.raises(ValueError, match="^pathologies_explorer: unknown init 'glorot'"):
        pathologies_explorer(*batch, init="glorot")
    with pytest.raises(ValueError, match="^pathologies_explorer: unknown activation"):
        pathologies_explorer(*batch, activation="gelu")
    with pytest.raises(ValueError, match="^pathologies_explorer: depth must be"):
        pathologies_explorer(*batch, depth=40)
    with pytest.raises(ValueError, match="^gradient_profile: unknown activation"):
        gradient_profile(*batch, depth=2, activation="softmax", init="He normal")
    with pytest.raises(ValueError, match="^gradient_profile: X must be"):
        gradient_profile(batch[0][0], batch[1], depth=2, activation="relu", init="He normal")
    with pytest.raises(ValueError, match="^draw_gradient_profile: signal and weight"):
        draw_gradient_profile(Figure(), np.ones(3), np.ones(4))
