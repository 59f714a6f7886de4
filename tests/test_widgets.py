"""Widgets are driven from Python: set a control, assert the figure was redrawn, and cheaply.

No test times a redraw (a busy machine would make it flaky): they count the work a control
move causes (tests/redraw_work.py); `make bench` measures the 0.5 s budget itself.
"""

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import ONE_REDRAW, assert_one_cheap_redraw, redraw_work

from nncourse.widgets import digit_explorer, draw_digit, make_explorer
from nnlib.data import load_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def image_of(explorer):
    return explorer.figure.axes[0].images[0].get_array().copy()


def test_digit_explorer_redraws_when_the_slider_moves(digits):
    X, y = digits
    ex = digit_explorer(X, y)
    assert ex.redraws == 1
    before = image_of(ex)
    assert "label" in ex.figure.axes[0].get_title()
    ex.controls["index"].value = 5
    assert ex.redraws == 2
    after = image_of(ex)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, X[5].reshape(8, 8))
    assert ex.figure.axes[0].get_title() == f"example 5: label {y[5]}"
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"


def test_each_move_is_one_draw_rendered_once_with_the_layout_reused(digits):
    """What keeps a redraw cheap: one Agg draw (savefig would draw twice), one PNG, and the
    constrained layout computed once when the explorer is built, never again."""
    X, y = digits
    ex = digit_explorer(X, y)
    for i in range(1, 6):
        assert_one_cheap_redraw(redraw_work(ex, "index", i))
    assert redraw_work(ex, "index", 5) == dict(ONE_REDRAW, redraws=0, agg_draws=0,
                                               png_encodes=0), "an unchanged value redraws"


def test_work_counting_sees_a_second_draw_and_a_layout_pass(digits):
    """The counter has teeth: a redraw that also saved the figure, or lost its cached layout,
    would be counted."""
    import io

    X, y = digits
    ex = digit_explorer(X, y)
    original = ex._redraw

    def wasteful():
        original()
        ex.figure.set_layout_engine("constrained")
        ex.figure.savefig(io.BytesIO(), format="png")

    ex.controls["index"].unobserve_all()
    ex.controls["index"].observe(lambda change: wasteful(), names="value")
    work = redraw_work(ex, "index", 3)
    assert work["agg_draws"] >= 2 and work["png_encodes"] == 2 and work["layouts"] >= 1, work


def test_slider_range_matches_the_data(digits):
    X, y = digits
    slider = digit_explorer(X, y).controls["index"]
    assert (slider.min, slider.max) == (0, len(X) - 1)


def test_make_explorer_passes_every_control_value():
    import ipywidgets as widgets

    seen = []
    ex = make_explorer(lambda fig, a, b: seen.append((a, b)),
                       {"a": widgets.IntSlider(value=1), "b": widgets.Dropdown(options=["x", "y"])})
    ex.controls["b"].value = "y"
    ex.controls["a"].value = 3
    assert seen == [(1, "x"), (1, "y"), (3, "y")]


def test_draw_digit_static_and_errors(digits):
    X, y = digits
    fig = Figure()
    draw_digit(fig, X, y, 3)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match=r"draw_digit: index must be in \[0, 1797\)"):
        draw_digit(Figure(), X, y, 5000)
    with pytest.raises(ValueError, match=r"draw_digit: X must have shape \(N, 64\)"):
        draw_digit(Figure(), X[:, :10], y, 0)


def test_each_redraw_renders_a_new_png_into_the_image_widget(digits):
    X, y = digits
    ex = digit_explorer(X, y)
    first = ex.image.value
    ex.controls["index"].value = 7
    assert first[:4] == b"\x89PNG" and ex.image.value[:4] == b"\x89PNG"
    assert ex.image.value != first
