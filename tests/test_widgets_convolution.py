"""The filter explorer of lesson 10: set a control, check what was drawn, and the work a move
costs (its time is measured by `make bench`)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.convolution as lab
import nnlib
from nncourse.widgets.convolution import (
    FILTERS,
    draw_feature_map,
    feature_map,
    filter_explorer,
    photographs,
    receptive_field,
    sample_images,
)


def shown_map(explorer):
    return np.asarray(explorer.figure.axes[1].images[0].get_array()).copy()


def field_box(explorer):
    rect = explorer.figure.axes[0].patches[-1]
    return rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()


def test_the_data_is_the_two_photographs_and_two_digits():
    photos = photographs()
    assert sorted(photos) == ["china", "flower"]
    for image in photos.values():
        assert image.shape == (427, 640, 3) and image.dtype == np.float64
        assert 0 <= image.min() and image.max() <= 1
    photos["china"][...] = 0            # fresh copies: the cache is untouched
    assert photographs()["china"].max() > 0
    images = sample_images()
    assert images["china (photo)"].shape == (106, 160)
    assert images["digit 0 (8 x 8)"].shape == (8, 8)
    gray = photographs()["china"] @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(images["china (photo)"][0, 0], gray[:4, :4].mean())


def test_feature_map_is_the_convolution_applied_layer_after_layer():
    rng = np.random.default_rng(0)
    image = rng.random((9, 11))
    kernel = rng.normal(size=(3, 3))
    fmap, shapes = feature_map(image, kernel, stride=2, padding=1, layers=2)
    once = nnlib.conv2d_forward(image[None, None], kernel[None, None], None, 2, 1)[0]
    twice = nnlib.conv2d_forward(once, kernel[None, None], None, 2, 1)[0]
    np.testing.assert_allclose(fmap, twice[0, 0])
    assert shapes == [(9, 11), (5, 6), (3, 3)]
    # a map that becomes smaller than the kernel stops the stack
    fmap, shapes = feature_map(np.ones((8, 8)), kernel, stride=4, padding=0, layers=3)
    assert fmap is None and shapes == [(8, 8), (2, 2)]


@pytest.mark.parametrize("stride,padding,layers", [(1, 0, 1), (1, 1, 3), (2, 1, 3), (3, 0, 2),
                                                   (2, 2, 2)])
def test_receptive_field_is_where_one_output_pixel_has_a_gradient(stride, padding, layers):
    """The rows and columns receptive_field names are exactly the input pixels whose gradient,
    back-propagated from that one output pixel through the stack, is not zero."""
    size = 40
    x = np.ones((1, 1, size, size))
    caches, shapes = [], []
    for _ in range(layers):
        x, cache = nnlib.conv2d_forward(x, np.ones((1, 1, 3, 3)), None, stride, padding)
        caches.append(cache)
        shapes.append(x.shape)
    pixel = (x.shape[2] // 2, x.shape[3] // 3)
    d = np.zeros(x.shape)
    d[0, 0][pixel] = 1.0
    for cache in reversed(caches):
        d = nnlib.conv2d_backward(d, cache)[0]
    rows, cols = np.nonzero(d[0, 0])
    (r0, r1), (c0, c1) = receptive_field(pixel, stride=stride, padding=padding, layers=layers)
    assert (rows.min(), rows.max()) == (max(r0, 0), min(r1, size - 1))
    assert (cols.min(), cols.max()) == (max(c0, 0), min(c1, size - 1))


def test_explorer_draws_the_default_setting():
    ex = filter_explorer()
    assert ex.redraws == 1
    assert {"image", "filter", "stride", "padding", "layers"} <= set(ex.controls)
    assert {f"k{i}{j}" for i in range(3) for j in range(3)} <= set(ex.controls)
    sliders = [ex.controls[k] for k in ("stride", "padding", "layers")]
    assert not any(s.continuous_update for s in sliders)
    kernel = np.array([[ex.controls[f"k{i}{j}"].value for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(kernel, FILTERS["vertical edges (Sobel x)"])
    image = sample_images()["china (photo)"]
    want = feature_map(image, FILTERS["vertical edges (Sobel x)"], stride=1, padding=1)[0]
    np.testing.assert_allclose(shown_map(ex), want)
    assert "(Ho, Wo) = (106, 160)" in ex.figure.axes[1].get_title()
    assert ex.drawn["field"] == ((52, 54), (79, 81))          # 3 x 3 around pixel (53, 80)
    assert field_box(ex) == (78.5, 51.5, 3, 3)


def test_each_control_changes_what_is_drawn():
    ex = filter_explorer()
    before = shown_map(ex)

    ex.controls["filter"].value = "blur (box)"
    assert ex.redraws == 2
    assert not np.allclose(shown_map(ex), before)
    assert ex.controls["k11"].value == pytest.approx(1 / 9), "the boxes show the picked filter"

    ex.controls["stride"].value = 2
    assert shown_map(ex).shape == (53, 80)
    assert "(Ho, Wo) = (53, 80)" in ex.figure.axes[1].get_title()

    ex.controls["padding"].value = 0
    assert shown_map(ex).shape == (52, 79)

    ex.controls["layers"].value = 3
    assert ex.drawn["shapes"] == [(106, 160), (52, 79), (25, 39), (12, 19)]
    (r0, r1), (c0, c1) = ex.drawn["field"]
    assert (r1 - r0 + 1, c1 - c0 + 1) == (15, 15)
    assert field_box(ex)[2:] == (15, 15)

    ex.controls["image"].value = "digit 3 (8 x 8)"
    assert ex.drawn["map"] is None, "8 -> 3 -> 1: the third layer has no room for the kernel"
    assert "smaller than the kernel" in ex.figure.axes[1].get_title()
    ex.controls["layers"].value = 1
    assert shown_map(ex).shape == (3, 3)
    assert ex.redraws == 7


def test_typing_a_kernel_switches_to_custom_and_redraws_once():
    ex = filter_explorer(filter="identity")
    np.testing.assert_allclose(shown_map(ex), sample_images()["china (photo)"])
    work = redraw_work(ex, "k12", 1.0, watch=[(lab, "conv2d_forward")])
    assert_one_cheap_redraw(work, conv2d_forward=1)
    assert ex.controls["filter"].value == "custom"
    shifted = feature_map(sample_images()["china (photo)"],
                          np.array([[0, 0, 0], [0, 1, 1], [0, 0, 0]]), padding=1)[0]
    np.testing.assert_allclose(shown_map(ex), shifted)
    # a second edit, now that the filter is custom, is one redraw too
    work = redraw_work(ex, "k11", 0.0, watch=[(lab, "conv2d_forward")])
    assert_one_cheap_redraw(work, conv2d_forward=1)


def test_picking_a_filter_fills_the_boxes_without_extra_redraws():
    ex = filter_explorer()
    work = redraw_work(ex, "filter", "outline (Laplacian)", watch=[(lab, "conv2d_forward")])
    assert_one_cheap_redraw(work, conv2d_forward=1)
    kernel = np.array([[ex.controls[f"k{i}{j}"].value for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(kernel, FILTERS["outline (Laplacian)"])


@pytest.mark.parametrize("control,value,convs", [("layers", 3, 3), ("stride", 3, 1),
                                                 ("image", "flower (photo)", 1)])
def test_a_move_is_one_cheap_redraw(control, value, convs):
    ex = filter_explorer()
    work = redraw_work(ex, control, value, watch=[(lab, "conv2d_forward")])
    assert_one_cheap_redraw(work, conv2d_forward=convs)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="image must be one of"):
        filter_explorer(image="cat")
    with pytest.raises(ValueError, match="filter must be one of"):
        filter_explorer(filter="emboss")


def test_static_figure_is_drawn_by_the_same_function():
    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    info = draw_feature_map(fig, sample_images()["china (photo)"], FILTERS["blur (box)"],
                            stride=2, padding=1, layers=3, title="china (photo)")
    assert info["shapes"][-1] == (14, 20)
    (r0, r1), (c0, c1) = info["field"]
    assert (r1 - r0 + 1, c1 - c0 + 1) == (15, 15)
