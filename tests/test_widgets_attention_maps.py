"""The attention-map explorer of lesson 14: what it draws for an input and a head, how it
reports an input the model cannot read, and the work a move costs (counted, never timed)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

from nncourse.widgets.attention_maps import (
    AVERAGE,
    attention_explorer,
    draw_attention,
    run_attend,
)
from nnlib.attention import scaled_dot_product_attention_forward


class Reverse:
    """A stand-in model: two heads, one looking at the mirrored position, one at itself, with
    real attention weights (a softmax of dot products); it counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str):
        self.calls += 1
        if not text.isdigit():
            raise ValueError("type digits only")
        T = len(text)
        eye = np.eye(T) * 20.0
        q = np.stack([eye[::-1], eye])            # (2, T, T): head 0 mirrored, head 1 itself
        k = np.stack([eye, eye])
        v = np.zeros((2, T, 1))
        _, cache = scaled_dot_product_attention_forward(q, k, v)
        return list(text), list(text[::-1]), cache.weights


def test_run_attend_checks_the_shapes():
    labels_in, labels_out, w = run_attend(Reverse(), "123")
    assert labels_in == ["1", "2", "3"] and labels_out == ["3", "2", "1"]
    assert w.shape == (2, 3, 3)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0)
    with pytest.raises(ValueError, match="run_attend: weights of shape"):
        run_attend(lambda text: (["a"], ["b", "c"], np.ones((1, 1, 1))), "x")


def test_draw_attention_draws_the_chosen_head_or_the_mean():
    _, _, w = run_attend(Reverse(), "1234")
    fig = Figure()
    shown = draw_attention(fig, list("1234"), list("4321"), w, head=0, title="t")
    np.testing.assert_allclose(shown, np.eye(4)[::-1], atol=1e-6)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), shown)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("1234")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list("4321")
    fig = Figure()
    mean = draw_attention(fig, list("1234"), list("4321"), w, head=None)
    np.testing.assert_allclose(mean, (np.eye(4)[::-1] + np.eye(4)) / 2, atol=1e-6)


def test_explorer_starts_with_the_average_and_offers_every_head():
    model = Reverse()
    ex = attention_explorer(model, "3141")
    assert ex.redraws == 1
    assert list(ex.controls["head"].options) == [AVERAGE, "head 1", "head 2"]
    assert not ex.controls["text"].continuous_update
    image = np.asarray(ex.figure.axes[0].images[0].get_array())
    np.testing.assert_allclose(image, (np.eye(4)[::-1] + np.eye(4)) / 2, atol=1e-6)
    assert "'3141' -> '1413'" in ex.figure.axes[0].get_title()


def test_a_new_input_is_one_cheap_redraw_with_one_model_call():
    model = Reverse()
    ex = attention_explorer(model, "3141")
    ex.figure.canvas.draw()  # the layout is cached after the first draw
    before = model.calls
    work = redraw_work(ex, "text", "27182")
    assert_one_cheap_redraw(work)
    assert model.calls == before + 1
    assert np.asarray(ex.figure.axes[0].images[0].get_array()).shape == (5, 5)


def test_choosing_a_head_redraws_that_head():
    ex = attention_explorer(Reverse(), "1234")
    work = redraw_work(ex, "head", "head 2")
    assert work["redraws"] == 1 and work["agg_draws"] == 1 and work["png_encodes"] == 1
    np.testing.assert_allclose(ex.figure.axes[0].images[0].get_array(), np.eye(4), atol=1e-6)


def test_an_unreadable_input_is_reported_in_the_title_not_raised():
    ex = attention_explorer(Reverse(), "1234")
    ex.controls["text"].value = "12a4"
    (ax,) = ex.figure.axes
    assert "cannot read '12a4'" in ax.get_title() and "digits only" in ax.get_title()
    assert not ax.images
