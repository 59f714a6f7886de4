"""The feature-map explorer of lesson 11: set a control, check what was drawn, and the work a
move costs (its time is measured by `make bench`)."""

from __future__ import annotations

import numpy as np
import pytest
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.feature_maps as fm
import nnlib
from nncourse.pretrained import digits_cnn, read_weights
from nncourse.widgets.feature_maps import (
    draw_feature_maps,
    feature_map_explorer,
    image_layers,
    layer_outputs,
    mosaic,
)
from nnlib.data import load_digits


@pytest.fixture(scope="module")
def net():
    net = digits_cnn(5, rng=np.random.default_rng(0))
    net.load_state_dict(read_weights())
    return net


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:6].reshape(-1, 1, 8, 8).astype(np.float32), y[:6]


def shown(explorer, axis):
    return np.asarray(explorer.figure.axes[axis].images[0].get_array()).copy()


def test_layer_outputs_are_the_modules_outputs_in_eval_mode(net, digits):
    X, _ = digits
    net.train()
    outs = layer_outputs(net, X[0])
    assert net.training  # mode restored
    assert sorted(outs) == list(range(8))  # Flatten and Linear give no image
    net.eval()
    np.testing.assert_allclose(outs[7], net[:8](X[:1])[0], rtol=1e-6)
    assert outs[0].shape == (16, 8, 8) and outs[3].shape == (16, 4, 4)
    assert [i for i, _ in image_layers(net, (1, 8, 8))] == list(range(8))


def test_mosaic_tiles_each_channel_on_its_own_scale():
    maps = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    tiles, cols = mosaic(maps)
    assert cols == 3 and tiles.shape == (2 * 3 - 1, 3 * 4 - 1)
    np.testing.assert_allclose(tiles[0:2, 4:7], (maps[1] - maps[1].min()) / 5)
    assert np.isnan(tiles[2]).all() and np.isnan(tiles[3:, 8:]).all()  # gap and empty tile


def test_the_chosen_channel_is_drawn_enlarged_and_clipped(net, digits):
    from matplotlib.figure import Figure

    X, _ = digits
    outs = layer_outputs(net, X[1])
    fig = Figure()
    assert draw_feature_maps(fig, X[1], outs, layer=0, channel=40) == 15
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), outs[0][15])


def test_controls_redraw_once_and_forward_each_image_once(net, digits):
    X, y = digits
    explorer = feature_map_explorer(net, X, labels=y, layer=2, channel=3)
    assert explorer.counts["forward_passes"] == 1
    first = shown(explorer, 2)
    outs = explorer.outputs[0]
    np.testing.assert_allclose(first, outs[2][3])

    work = redraw_work(explorer, "channel", 7, watch=[(fm, "layer_outputs")])
    assert_one_cheap_redraw(work, layer_outputs=0)
    np.testing.assert_allclose(shown(explorer, 2), outs[2][7])

    work = redraw_work(explorer, "layer", 6, watch=[(fm, "layer_outputs")])
    assert_one_cheap_redraw(work, layer_outputs=0)
    np.testing.assert_allclose(shown(explorer, 2), outs[6][7])
    assert shown(explorer, 1).shape == mosaic(outs[6])[0].shape  # 32 tiles now

    work = redraw_work(explorer, "image", 4, watch=[(fm, "layer_outputs")])
    assert work["redraws"] == 1 and work["layer_outputs"] == 1
    np.testing.assert_allclose(shown(explorer, 0), X[4][0])
    explorer.controls["image"].value = 0  # seen before: no new forward pass
    assert explorer.counts["forward_passes"] == 2
    assert "label" in explorer.figure.axes[0].get_title()


def test_bad_arguments(net, digits):
    X, _ = digits
    with pytest.raises(ValueError, match="images"):
        feature_map_explorer(net, X[0])
    with pytest.raises(ValueError, match="layer"):
        feature_map_explorer(net, X, layer=9)
    with pytest.raises(ValueError, match="no module"):
        feature_map_explorer(nnlib.Sequential(nnlib.Flatten()), X)
