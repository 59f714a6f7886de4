"""The initialisation explorer of lesson 04: controls redraw the real data, with the networks
cached (the redraw time itself is measured by `make bench`)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.initialization as initialization
from nncourse.widgets.initialization import (
    INITIALIZERS,
    VALUE_RANGES,
    _cached_activations,
    activations_through_depth,
    draw_activation_histograms,
    initialization_explorer,
)
from nnlib.mlp import activation_statistics


def ridges(fig):
    """The per-layer histograms of the left axes, top layer first: (edges, heights, baseline)."""
    (collection,) = fig.axes[0].collections
    out = []
    for path in collection.get_paths():
        v = path.vertices[: 2 * (len(path.vertices) // 2)]  # drop the closing vertex
        x, y = v[:, 0], v[:, 1]
        out.append((x[::2], y[1:-1:2] - y[0], y[0]))
    return out


def std_line(fig):
    return fig.axes[1].lines[0]


def test_default_state_shows_vanishing_tanh_activations():
    ex = initialization_explorer()
    assert ex.redraws == 1
    assert set(ex.controls) == {"depth", "width", "init", "activation"}
    assert len(ridges(ex.figure)) == 10
    assert ex.figure.axes[0].get_title() == "normal, std 0.01, tanh, width 256"
    log_std = std_line(ex.figure).get_ydata()
    assert log_std[-1] < log_std[0] - 5, "std 0.01 weights should make tanh activations vanish"
    assert len(ex.figure.axes) == 2


def test_each_control_redraws_the_drawn_data():
    ex = initialization_explorer()
    before = std_line(ex.figure).get_ydata().copy()

    ex.controls["init"].value = "Xavier uniform"
    assert ex.redraws == 2
    after = std_line(ex.figure).get_ydata()
    assert not np.allclose(before, after)
    assert abs(after[-1] - after[0]) < 1.0, "Xavier keeps tanh activations within a factor 10"
    assert "Xavier uniform" in ex.figure.axes[0].get_title()

    ex.controls["depth"].value = 15
    assert len(ridges(ex.figure)) == 15
    assert len(std_line(ex.figure).get_xdata()) == 15

    ex.controls["activation"].value = "relu"
    assert ex.figure.axes[0].get_xlim() == VALUE_RANGES["relu"]
    assert "relu" in ex.figure.axes[0].get_xlabel()

    ex.controls["width"].value = 32
    assert ex.figure.axes[0].get_title() == "Xavier uniform, relu, width 32"
    # the plotted stds are those of the network the controls describe
    hidden = activations_through_depth(15, 32, "Xavier uniform", "relu")
    np.testing.assert_allclose(std_line(ex.figure).get_ydata(),
                               np.log10(activation_statistics(hidden)["std"]))
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"
    assert ex.redraws == 5


def test_he_keeps_relu_alive_where_xavier_shrinks():
    ex = initialization_explorer(depth=20, activation="relu", init="He normal")
    he = std_line(ex.figure).get_ydata().copy()
    ex.controls["init"].value = "Xavier normal"
    xavier = std_line(ex.figure).get_ydata()
    assert abs(he[-1] - he[0]) < 0.3
    assert xavier[-1] < xavier[0] - 2  # halving the variance per layer: about 2**-10 in std


def test_zero_init_is_flagged_and_ridges_are_spikes_at_zero():
    ex = initialization_explorer(init="zeros", activation="tanh", depth=3)
    assert len(std_line(ex.figure).get_xdata()) == 0  # log(0) cannot be plotted
    texts = [t.get_text() for t in ex.figure.axes[1].texts]
    assert any("std = 0" in t for t in texts)
    for edges, heights, _ in ridges(ex.figure):
        assert np.count_nonzero(heights) == 1
        assert edges[np.argmax(heights)] <= 0 < edges[np.argmax(heights) + 1]


def test_ridge_heights_follow_the_histogram():
    rng = np.random.default_rng(0)
    acts = [np.tanh(rng.normal(size=(50, 40)) * s) for s in (0.3, 3.0)]
    fig = Figure()
    draw_activation_histograms(fig, acts, activation="tanh", title="two layers")
    (edges, heights, baseline), (_, b_heights, b_baseline) = ridges(fig)
    assert baseline == 0 and b_baseline == -1
    np.testing.assert_allclose(edges, np.linspace(-1, 1, len(heights) + 1))
    counts, _ = np.histogram(acts[0], bins=edges)
    assert np.argmax(heights) == np.argmax(counts)
    assert heights.max() == pytest.approx(0.9)
    # saturated tanh: the bottom layer's mass sits in the edge bins
    assert b_heights[0] > 0.5 and b_heights[-1] > 0.5
    assert fig.axes[0].get_title() == "two layers"


def test_a_network_runs_once_per_setting_and_the_depth_slider_costs_none():
    """A new (width, init, activation) runs one network of the deepest depth; the depth slider
    and a revisited setting come from the cache."""
    _cached_activations.cache_clear()
    ex = initialization_explorer(width=64)
    # (control, value, networks run): each move is also one cheap redraw
    settings = [("init", "He normal", 1), ("activation", "relu", 1), ("depth", 20, 0),
                ("depth", 3, 0), ("width", 256, 1), ("activation", "tanh", 1),
                ("init", "normal, std 1", 1), ("init", "He normal", 0),
                ("activation", "relu", 0)]
    for control, value, networks in settings:
        work = redraw_work(ex, control, value, watch=[(initialization, "_activations")])
        assert_one_cheap_redraw(work, _activations=networks)
    ridges_drawn = len(ex.figure.axes[0].collections[0].get_paths())
    assert ridges_drawn == 3  # the last depth set: one histogram per layer


def test_menus_list_every_option_and_the_data_is_reproducible():
    ex = initialization_explorer()
    assert list(ex.controls["init"].options) == list(INITIALIZERS)
    assert list(ex.controls["activation"].options) == list(VALUE_RANGES)
    a = activations_through_depth(3, 16, "He uniform", "sigmoid", seed=4)
    b = activations_through_depth(3, 16, "He uniform", "sigmoid", seed=4)
    assert len(a) == 3 and a[0].shape == (128, 16)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = activations_through_depth(3, 16, "he_uniform", "sigmoid", seed=4)  # nnlib names work too
    np.testing.assert_array_equal(a[-1], c[-1])


def test_errors():
    with pytest.raises(ValueError, match="^initialization_explorer: unknown init 'glorot'"):
        initialization_explorer(init="glorot")
    with pytest.raises(ValueError, match="^draw_activation_histograms: unknown activation"):
        draw_activation_histograms(Figure(), [np.zeros(3)], activation="softmax")
    with pytest.raises(ValueError, match="^draw_activation_histograms: activations is empty"):
        draw_activation_histograms(Figure(), [], activation="relu")
    with pytest.raises(ValueError, match="^activations_through_depth: depth must be"):
        activations_through_depth(0, 16, "He normal", "relu")
    with pytest.raises(ValueError, match="^activations_through_depth: unknown activation"):
        activations_through_depth(2, 16, "He normal", "gelu")
