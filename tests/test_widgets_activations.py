"""The explorers of lesson 02 driven from Python: set a control, check the drawing, count the
work (durations: `make bench`)."""


import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

from nncourse.widgets.activations import (
    ACTIVATIONS,
    LEAKY_SLOPE,
    SOFTMAX_SCORES,
    activation_explorer,
    draw_activation,
    draw_softmax,
    softmax_explorer,
)
from nnlib import activations as A


def line(ax, gid):
    (found,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return found


def curves(fig):
    """(x, f(x), f'(x)) as drawn: the curve of each of the two axes."""
    ax_f, ax_d = fig.axes
    x, y = (np.asarray(v) for v in line(ax_f, "curve").get_data())
    x2, dy = (np.asarray(v) for v in line(ax_d, "curve").get_data())
    np.testing.assert_array_equal(x, x2)
    return x, y, dy


def bar_heights(ax):
    return np.array([patch.get_height() for patch in ax.containers[0]])


# --------------------------------------------------------------------------------------------
# activation_explorer
# --------------------------------------------------------------------------------------------


def test_default_state_draws_sigmoid_and_its_derivative():
    ex = activation_explorer()
    assert ex.redraws == 1 and len(ex.figure.axes) == 2
    x, y, dy = curves(ex.figure)
    assert (x.min(), x.max()) == (-8.0, 8.0)
    np.testing.assert_allclose(y, A.sigmoid(x), rtol=1e-12)
    s = A.sigmoid(x)
    np.testing.assert_allclose(dy, s * (1 - s), rtol=1e-12)
    assert ex.figure.axes[0].get_title() == "sigmoid(x)"
    assert "largest value 0.25" in ex.figure.axes[1].get_title()


def test_changing_the_activation_redraws_its_curves():
    ex = activation_explorer()
    _, y_before, _ = curves(ex.figure)
    ex.controls["name"].value = "tanh"
    assert ex.redraws == 2
    x, y, dy = curves(ex.figure)
    assert not np.allclose(y, y_before)
    np.testing.assert_allclose(y, np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(dy, 1 - np.tanh(x) ** 2, rtol=1e-12, atol=1e-15)
    assert ex.figure.axes[0].get_title() == "tanh(x)"
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"

    ex.controls["name"].value = "leaky_relu"
    x, y, dy = curves(ex.figure)
    np.testing.assert_allclose(y, np.where(x > 0, x, LEAKY_SLOPE * x))
    np.testing.assert_allclose(dy, np.where(x > 0, 1.0, LEAKY_SLOPE))


def test_dragging_the_range_changes_the_inputs_and_the_saturated_share():
    ex = activation_explorer()
    # s (1 - s) < 0.01 for |x| > ln((1 + sqrt(0.96)) / (1 - sqrt(0.96))) ~ 4.59: 43% of [-8, 8].
    assert "on 43% of [-8, 8]" in ex.figure.texts[0].get_text()
    ex.controls["x_range"].value = (-40.0, 40.0)
    x, y, _ = curves(ex.figure)
    assert (x.min(), x.max()) == (-40.0, 40.0)
    assert ex.figure.axes[0].get_xlim() == (-40.0, 40.0)
    np.testing.assert_allclose(y, A.sigmoid(x), rtol=1e-12)
    assert "on 89% of [-40, 40]" in ex.figure.texts[0].get_text()


def test_the_threshold_moves_the_shading():
    ex = activation_explorer()
    ex.controls["threshold"].value = 0.1
    # s (1 - s) < 0.1 for |x| > ln((1 + sqrt(0.6)) / (1 - sqrt(0.6))) ~ 2.06: 74% of [-8, 8].
    assert "on 74% of [-8, 8]" in ex.figure.texts[0].get_text()
    threshold_line = line(ex.figure.axes[1], "threshold")
    np.testing.assert_allclose(threshold_line.get_ydata(), [0.1, 0.1])


def test_relu_is_dead_below_zero_and_leaky_relu_is_not():
    ex = activation_explorer(name="relu")
    title = ex.figure.texts[0].get_text()
    assert "on 50% of" in title and "exactly 0" in title
    ex.controls["name"].value = "leaky_relu"
    title = ex.figure.texts[0].get_text()
    assert "on 0% of" in title and "exactly 0" not in title
    ex.controls["name"].value = "identity"
    _, _, dy = curves(ex.figure)
    np.testing.assert_array_equal(dy, 1.0)


def test_a_collapsed_range_still_draws():
    ex = activation_explorer()
    ex.controls["x_range"].value = (3.0, 3.0)
    x, _, _ = curves(ex.figure)
    assert x.min() < 3.0 < x.max()


def test_every_move_is_one_cheap_redraw_of_a_fixed_number_of_points():
    """Whatever the activation or the range, a move is one draw of the same 801 points: the
    cost does not grow with the range the learner drags out."""
    ex = activation_explorer()
    settings = [("name", n) for n in ACTIVATIONS if n != ex.controls["name"].value]
    settings += [("x_range", r) for r in [(-50.0, 50.0), (-40.0, 40.0), (-30.0, 30.0)]]
    settings += [("threshold", 0.3)]
    for control, value in settings:
        assert_one_cheap_redraw(redraw_work(ex, control, value))
        x, _, _ = curves(ex.figure)
        assert len(x) == 801, (control, value, len(x))
        assert len(ex.figure.axes) == 2


def test_draw_activation_static_and_errors():
    fig = Figure()
    draw_activation(fig, "tanh", (-2.0, 2.0), 0.05)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match=r"^draw_activation: name must be one of"):
        draw_activation(Figure(), "softplus")
    with pytest.raises(ValueError, match=r"^draw_activation: x_range must be"):
        draw_activation(Figure(), "relu", (2.0, 1.0))
    with pytest.raises(ValueError, match=r"^draw_activation: threshold must be positive"):
        draw_activation(Figure(), "relu", (-1.0, 1.0), 0.0)


# --------------------------------------------------------------------------------------------
# softmax_explorer
# --------------------------------------------------------------------------------------------


def test_softmax_explorer_draws_scores_and_probabilities():
    ex = softmax_explorer()
    ax_z, ax_p = ex.figure.axes
    np.testing.assert_allclose(bar_heights(ax_z), SOFTMAX_SCORES)
    np.testing.assert_allclose(bar_heights(ax_p), A.softmax(np.array(SOFTMAX_SCORES)))


def test_temperature_sharpens_and_flattens():
    ex = softmax_explorer()
    before = bar_heights(ex.figure.axes[1])
    ex.controls["temperature"].value = 0.1
    sharp = bar_heights(ex.figure.axes[1])
    assert ex.redraws == 2 and sharp.max() > before.max()
    np.testing.assert_allclose(sharp, A.softmax(np.array(SOFTMAX_SCORES) / 0.1), rtol=1e-12)
    assert "T = 0.1" in ex.figure.axes[1].get_title()
    ex.controls["temperature"].value = 10.0
    flat = bar_heights(ex.figure.axes[1])
    assert flat.max() - flat.min() < 0.1
    assert len(ex.figure.axes) == 2


def test_a_shift_moves_the_scores_but_not_the_probabilities():
    ex = softmax_explorer()
    before = bar_heights(ex.figure.axes[1])
    ex.controls["shift"].value = 1000.0
    np.testing.assert_allclose(bar_heights(ex.figure.axes[0]), np.array(SOFTMAX_SCORES) + 1000)
    np.testing.assert_allclose(bar_heights(ex.figure.axes[1]), before, rtol=1e-12)
    assert "+1000" in ex.figure.axes[0].get_title()
    assert_one_cheap_redraw(redraw_work(ex, "shift", -1000.0))


def test_draw_softmax_errors():
    with pytest.raises(ValueError, match=r"^draw_softmax: scores must have shape \(K,\)"):
        draw_softmax(Figure(), [[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"^draw_softmax: temperature must be positive"):
        draw_softmax(Figure(), [1.0, 2.0], temperature=0.0)
    with pytest.raises(ValueError, match=r"^draw_softmax: 3 labels for 2 scores"):
        draw_softmax(Figure(), [1.0, 2.0], labels=["a", "b", "c"])
