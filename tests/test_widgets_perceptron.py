"""The perceptron explorers: moving a control really moves the drawn boundary, and costs one
drawing, no training (the redraw time is measured by `make bench`)."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.perceptron as perceptron_widgets
from nncourse.widgets.perceptron import (
    boundary_segment,
    decision_boundary_explorer,
    draw_decision_boundary,
    draw_training,
    perceptron_training_explorer,
)
from nnlib.perceptron import make_separable, perceptron_history, xor_data


@pytest.fixture(scope="module")
def datasets():
    return {"separable": make_separable(100, margin=0.1, rng=np.random.default_rng(0)),
            "XOR": xor_data()}


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def boundary_xy(ax):
    (line,) = by_gid(ax, "boundary")
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def circled(ax):
    (points,) = by_gid(ax, "misclassified")
    return np.asarray(points.get_offsets())


def test_sliders_move_the_line_and_update_the_error_count(datasets):
    X, y = datasets["separable"]
    ex = decision_boundary_explorer(datasets, w1=1.0, w2=0.5, b=0.0)
    assert ex.redraws == 1
    ax = ex.figure.axes[0]
    x1, x2 = boundary_xy(ax)
    np.testing.assert_allclose(1.0 * x1 + 0.5 * x2 + 0.0, 0.0, atol=1e-9)
    wrong = int(np.sum((X @ [1.0, 0.5] >= 0) != y))
    assert ax.get_title() == f"separable: {wrong} of 100 misclassified"
    assert len(circled(ax)) == wrong

    ex.controls["b"].value = 0.8
    assert ex.redraws == 2
    ax = ex.figure.axes[0]
    x1, x2 = boundary_xy(ax)
    np.testing.assert_allclose(1.0 * x1 + 0.5 * x2 + 0.8, 0.0, atol=1e-9)
    wrong = int(np.sum((X @ [1.0, 0.5] + 0.8 >= 0) != y))
    assert ax.get_title() == f"separable: {wrong} of 100 misclassified"
    assert len(ex.figure.axes) == 1, "a redraw must replace the axes, not stack new ones"


def test_flipping_every_sign_flips_every_prediction(datasets):
    X, y = datasets["separable"]
    ex = decision_boundary_explorer(datasets, w1=1.0, w2=0.5, b=0.2)
    before = len(circled(ex.figure.axes[0]))
    region_before = ex.figure.axes[0].images[0].get_array().copy()
    for name in ("w1", "w2", "b"):
        ex.controls[name].value = -ex.controls[name].value
    after = len(circled(ex.figure.axes[0]))
    assert after == len(y) - before
    region_after = ex.figure.axes[0].images[0].get_array()
    assert not np.array_equal(region_before, region_after)


def test_dataset_menu_switches_to_xor(datasets):
    ex = decision_boundary_explorer(datasets, w1=1.0, w2=1.0, b=-0.5)
    ex.controls["dataset"].value = "XOR"
    ax = ex.figure.axes[0]
    assert ax.get_title() == "XOR: 1 of 4 misclassified"
    np.testing.assert_allclose(circled(ax), [[1.0, 1.0]])


def test_a_single_dataset_has_no_menu(datasets):
    ex = decision_boundary_explorer(datasets["XOR"])
    assert set(ex.controls) == {"w1", "w2", "b"}
    assert ex.figure.axes[0].get_title().endswith("of 4 misclassified")


def test_zero_weights_draw_no_line_and_predict_step_of_b(datasets):
    X, y = datasets["separable"]
    ex = decision_boundary_explorer(datasets, w1=0.0, w2=0.0, b=0.0)
    ax = ex.figure.axes[0]
    assert by_gid(ax, "boundary") == []
    assert len(circled(ax)) == int(np.sum(y == 0))  # step(0) = 1 everywhere
    ex.controls["b"].value = -1.0
    assert len(circled(ex.figure.axes[0])) == int(np.sum(y == 1))


def test_training_explorer_follows_the_perceptron(datasets):
    X, y = datasets["separable"]
    ex = perceptron_training_explorer(datasets, epochs=8, lr=1.0, seed=0)
    ws, bs, errors = perceptron_history(X, y, epochs=8, lr=1.0, rng=np.random.default_rng(0))
    ax_line, ax_err = ex.figure.axes
    assert by_gid(ax_line, "boundary") == []  # epoch 0: w = 0
    assert ax_line.get_title().startswith("separable: start")
    (curve,) = by_gid(ax_err, "errors")
    np.testing.assert_array_equal(curve.get_ydata(), errors)
    ex.controls["epoch"].value = 2
    ax_line, ax_err = ex.figure.axes
    x1, x2 = boundary_xy(ax_line)
    np.testing.assert_allclose(ws[2] @ np.vstack([x1, x2]) + bs[2], 0.0, atol=1e-9)
    (marker,) = by_gid(ax_err, "current")
    assert list(marker.get_ydata()) == [errors[1]]
    assert ax_line.get_title().startswith("separable: after epoch 2")

    ex.controls["dataset"].value = "XOR"
    Xx, yx = xor_data()
    _, _, xor_errors = perceptron_history(Xx, yx, epochs=8, lr=1.0, rng=np.random.default_rng(0))
    (curve,) = by_gid(ex.figure.axes[1], "errors")
    np.testing.assert_array_equal(curve.get_ydata(), xor_errors)
    assert np.all(xor_errors > 0)


def test_moves_draw_once_and_never_train(datasets):
    """The boundary sliders only draw; the epoch slider replays a history trained once per data
    set when the explorer is built."""
    watch = [(perceptron_widgets, "perceptron_history")]
    ex = decision_boundary_explorer(datasets)
    for value in [0.3, -1.0, 2.0, 0.5, -0.2]:
        assert_one_cheap_redraw(redraw_work(ex, "w1", value, watch), perceptron_history=0)
    assert_one_cheap_redraw(redraw_work(ex, "dataset", "XOR", watch), perceptron_history=0)
    with pytest.MonkeyPatch.context() as mp:
        calls = []
        real = perceptron_widgets.perceptron_history
        mp.setattr(perceptron_widgets, "perceptron_history",
                   lambda *a, **k: calls.append(1) or real(*a, **k))
        ex = perceptron_training_explorer(datasets, epochs=10)
    assert len(calls) == len(datasets)
    for epoch in [1, 2, 3, 4, 5, 6, 10]:
        assert_one_cheap_redraw(redraw_work(ex, "epoch", epoch, watch), perceptron_history=0)
    assert_one_cheap_redraw(redraw_work(ex, "dataset", "XOR", watch), perceptron_history=0)


@pytest.mark.parametrize(
    "w, b, expect",
    [
        ((1.0, 0.0), 0.0, {(0.0, -1.0), (0.0, 1.0)}),   # vertical line x1 = 0
        ((0.0, 1.0), -0.5, {(-1.0, 0.5), (1.0, 0.5)}),  # horizontal line x2 = 0.5
        ((1.0, 1.0), 0.0, {(-1.0, 1.0), (1.0, -1.0)}),  # the diagonal through two corners
    ],
)
def test_boundary_segment_clips_to_the_box(w, b, expect):
    x1, x2 = boundary_segment(w, b, (-1.0, 1.0, -1.0, 1.0))
    assert {(round(a, 9) + 0.0, round(c, 9) + 0.0) for a, c in zip(x1, x2, strict=True)} == expect


def test_boundary_segment_none_when_the_line_misses_or_w_is_zero():
    assert boundary_segment((0.0, 0.0), 1.0, (-1, 1, -1, 1)) is None
    assert boundary_segment((1.0, 0.0), -5.0, (-1, 1, -1, 1)) is None
    assert boundary_segment((1.0, 1.0), 2.0, (-1, 1, -1, 1)) is None  # touches a corner only


def test_static_drawing_and_errors(datasets):
    X, y = datasets["separable"]
    fig = Figure()
    assert draw_decision_boundary(fig, X, y, (1.0, 0.5), 0.0) == int(
        np.sum((X @ [1.0, 0.5] >= 0) != y))
    assert len(fig.axes) == 1
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("x₁", "x₂")
    fig = Figure()
    draw_decision_boundary(fig, X, y, (1.0, 0.5), 0.0, names=("h_or", "h_nand"))
    assert fig.axes[0].get_xlabel() == "h_or"
    assert "1.00 h_or + 0.50 h_nand + 0.00 = 0" in by_gid(fig.axes[0], "boundary")[0].get_label()
    with pytest.raises(ValueError, match=r"draw_decision_boundary: X must have shape \(N, 2\)"):
        draw_decision_boundary(Figure(), np.ones((3, 3)), np.zeros(3), (1, 1), 0)
    with pytest.raises(ValueError, match=r"draw_decision_boundary: w must have shape \(2,\)"):
        draw_decision_boundary(Figure(), X, y, (1, 1, 1), 0)
    ws, bs, errors = perceptron_history(X, y, epochs=3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"draw_training: epoch must be in \[0, 3\]"):
        draw_training(Figure(), X, y, ws, bs, errors, 4)
