"""The threshold explorer of lesson 06: set the slider, check what was drawn, and the work it
costs (the time is measured by `make bench`)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.evaluation as evaluation
from nncourse.widgets.evaluation import (
    draw_threshold,
    plot_confusion_matrix,
    threshold_explorer,
    threshold_metrics,
)
from nnlib.metrics import confusion_matrix, precision_recall_curve


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.15).astype(np.int64)
    scores = np.where(y == 1, rng.beta(5, 2, 600), rng.beta(2, 5, 600))
    return y, scores


def drawn_confusion(explorer):
    return np.asarray(explorer.figure.axes[1].images[0].get_array()).copy()


def drawn_point(explorer):
    point = explorer.figure.axes[2].lines[1]
    return float(point.get_xdata()[0]), float(point.get_ydata()[0])


def render_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_explorer_draws_the_default_threshold(scored):
    y, s = scored
    ex = threshold_explorer(y, s, positive_name="9", negative_name="not 9")
    assert ex.redraws == 1 and set(ex.controls) == {"threshold"}
    assert len(ex.figure.axes) == 3
    m = threshold_metrics(y, s, 0.5)
    np.testing.assert_array_equal(drawn_confusion(ex), m["confusion"])
    assert drawn_point(ex) == pytest.approx((m["recall"], m["precision"]))
    assert f"F1 {m['f1']:.2f}" in ex.figure.axes[2].get_title()
    assert [t.get_text() for t in ex.figure.axes[1].get_xticklabels()] == ["not 9", "9"]
    texts = sorted(t.get_text() for t in ex.figure.axes[1].texts)
    assert texts == sorted(str(int(c)) for c in m["confusion"].ravel())


def test_moving_the_threshold_changes_what_is_drawn(scored):
    y, s = scored
    ex = threshold_explorer(y, s)
    cm0, point0 = drawn_confusion(ex), drawn_point(ex)
    title0 = ex.figure.axes[2].get_title()

    ex.controls["threshold"].value = 0.8
    assert ex.redraws == 2
    cm1, point1 = drawn_confusion(ex), drawn_point(ex)
    assert not np.array_equal(cm0, cm1)
    # a higher threshold predicts fewer positives: recall can only fall, the row sums stay
    assert cm1[:, 1].sum() < cm0[:, 1].sum()
    np.testing.assert_array_equal(cm1.sum(axis=1), cm0.sum(axis=1))
    assert point1[0] < point0[0]
    assert ex.figure.axes[2].get_title() != title0
    threshold_line = ex.figure.axes[0].lines[0]
    assert np.allclose(threshold_line.get_xdata(), 0.8)
    np.testing.assert_array_equal(
        cm1, confusion_matrix(y, (s >= 0.8).astype(int), 2)
    )
    assert len(ex.figure.axes) == 3, "a redraw must replace the axes, not stack new ones"


def test_the_current_point_lies_on_the_drawn_curve(scored):
    y, s = scored
    fig = Figure()
    for t in (0.2, 0.5, 0.77):
        fig.clear()
        m = draw_threshold(fig, y, s, t)
        curve = fig.axes[2].lines[0]
        precision, recall, _ = precision_recall_curve(y, s)
        np.testing.assert_allclose(curve.get_xdata(), recall)
        np.testing.assert_allclose(curve.get_ydata(), precision)
        hits = np.isclose(recall, m["recall"]) & np.isclose(precision, m["precision"])
        assert hits.any(), t


def test_extreme_thresholds(scored):
    y, s = scored
    everything = threshold_metrics(y, s, float(s.min()))
    assert everything["recall"] == 1.0 and everything["precision"] == pytest.approx(y.mean())
    nothing = threshold_metrics(y, s, float(s.max()) + 1)
    assert nothing["confusion"][:, 1].sum() == 0
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (0.0, 0.0, 0.0)
    fig = Figure()
    draw_threshold(fig, y, s, float(s.max()) + 1)
    render_png(fig)


def test_each_move_is_one_cheap_redraw(scored):
    """A move recounts the confusion matrix once and draws once (one PNG, layout reused)."""
    y, s = scored
    ex = threshold_explorer(y, s)
    for t in (0.3, 0.45, 0.6, 0.75):
        work = redraw_work(ex, "threshold", t, watch=[(evaluation, "threshold_metrics")])
        assert_one_cheap_redraw(work, threshold_metrics=1)


def test_plot_confusion_matrix_counts_and_normalized():
    C = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    fig = Figure()
    ax = fig.add_subplot()
    image = plot_confusion_matrix(ax, C, title="t")
    np.testing.assert_array_equal(image.get_array(), C)
    assert ax.get_title() == "t" and ax.get_ylabel() == "true class"
    ax2 = fig.add_subplot(2, 1, 2)
    image = plot_confusion_matrix(ax2, C, normalize=True)
    np.testing.assert_allclose(image.get_array(), [[5 / 6, 1 / 6, 0], [0.5, 0.5, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"square \(K, K\)"):
        plot_confusion_matrix(ax, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 class names for K=3"):
        plot_confusion_matrix(ax, C, class_names=["a", "b"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="y_true must hold 0 .* and 1 .* only"):
        threshold_explorer(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="no positive example"):
        draw_threshold(Figure(), np.array([0, 0]), np.array([0.1, 0.2]), 0.5)
    with pytest.raises(ValueError, match="must have the shape of scores"):
        threshold_metrics(np.array([0, 1, 1]), np.array([0.1, 0.2]), 0.5)
