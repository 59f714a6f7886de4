"""The feature-map explorer of lesson 11: pick an image, a layer and a channel of a trained CNN;
the input, every channel of that layer and the chosen channel enlarged redraw.

``layer_outputs`` runs a ``Sequential`` module by module in evaluation mode and keeps every
output that is still an image batch (N, C, H, W); ``draw_feature_maps`` draws one image's maps
of one layer. ``feature_map_explorer`` computes the outputs of an image once (a forward pass
the first time an image is chosen) and reuses them, so moving the layer or channel control
only redraws.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from nncourse.widgets import Explorer, make_explorer, one_blas_thread
from nnlib.module import Sequential

__all__ = [
    "image_layers", "layer_outputs", "mosaic", "draw_feature_maps", "feature_map_explorer",
]


def _short(module: Any) -> str:
    """A short label: the class name, with the channels of a convolution or batch norm."""
    name = type(module).__name__
    if hasattr(module, "in_channels"):
        return f"{name}({module.in_channels} -> {module.out_channels})"
    if hasattr(module, "num_features"):
        return f"{name}({module.num_features})"
    if hasattr(module, "kernel_size"):
        return f"{name}({module.kernel_size[0]}x{module.kernel_size[1]})"
    return name


def image_layers(net: Sequential, image_shape: tuple[int, ...]) -> list[tuple[int, str]]:
    """(index, label) of each module of ``net`` whose output is an image batch (N, C, H, W)
    for inputs of shape ``image_shape`` (C, H, W)."""
    outputs = layer_outputs(net, np.zeros(image_shape))
    return [(i, f"{i}: {_short(net[i])}") for i in sorted(outputs)]


def layer_outputs(net: Sequential, image: np.ndarray) -> dict[int, np.ndarray]:
    """{module index: its output (C, H, W)} for one image (C, H, W), in evaluation mode, for the
    modules whose output is an image batch; ``net``'s mode is restored."""
    was_training = net.training
    net.eval()
    outputs: dict[int, np.ndarray] = {}
    try:
        x = np.asarray(image)[None]
        with one_blas_thread():
            for i, module in enumerate(net):
                x = module(x)
                if np.ndim(x) == 4:
                    outputs[i] = np.asarray(x[0])
    finally:
        net.train(was_training)
    return outputs


def mosaic(maps: np.ndarray) -> tuple[np.ndarray, int]:
    """The channels of ``maps`` (C, H, W), each scaled to [0, 1] on its own, tiled row by row in
    a grid of ``cols`` columns with one NaN pixel between tiles.  Returns (image, cols)."""
    C, H, W = maps.shape
    cols = int(np.ceil(np.sqrt(C)))
    rows = int(np.ceil(C / cols))
    out = np.full((rows * (H + 1) - 1, cols * (W + 1) - 1), np.nan)
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    scaled = (maps - lo) / np.where(span > 0, span, 1.0)
    for c in range(C):
        r, k = divmod(c, cols)
        out[r * (H + 1): r * (H + 1) + H, k * (W + 1): k * (W + 1) + W] = scaled[c]
    return out, cols


def draw_feature_maps(
    fig: Figure,
    image: np.ndarray,
    outputs: dict[int, np.ndarray],
    *,
    layer: int,
    channel: int,
    layer_label: str = "",
    caption: str = "",
) -> int:
    """Left: the input image; middle: every channel of ``outputs[layer]`` in a grid (each on its
    own colour scale, the chosen one framed); right: the chosen channel enlarged, with its value
    range. Returns the channel drawn (``channel`` clipped to the layer's channels)."""
    maps = outputs[layer]
    C, H, W = maps.shape
    channel = int(min(max(channel, 0), C - 1))
    ax_in, ax_grid, ax_big = fig.subplots(1, 3, width_ratios=[1.0, 1.5, 1.2])
    ax_in.imshow(np.asarray(image)[0], cmap="gray_r")
    ax_in.set_title(f"input{': ' + caption if caption else ''}", fontsize=9)
    tiles, cols = mosaic(maps)
    cmap = plt_cmap()
    ax_grid.imshow(tiles, cmap=cmap, vmin=0, vmax=1)
    r, k = divmod(channel, cols)
    ax_grid.add_patch(Rectangle((k * (W + 1) - 0.7, r * (H + 1) - 0.7), W + 0.4, H + 0.4,
                                fill=False, edgecolor="#2a9d8f", linewidth=2))
    ax_grid.set_title(f"all {C} channels ({H}x{W} each)", fontsize=9)
    ax_big.imshow(maps[channel], cmap=cmap)
    lo, hi = float(maps[channel].min()), float(maps[channel].max())
    ax_big.set_title(f"channel {channel}: values {lo:.2g} to {hi:.2g}", fontsize=9)
    for ax in (ax_in, ax_grid, ax_big):
        ax.set(xticks=[], yticks=[])
    fig.suptitle(f"layer {layer_label or layer}", fontsize=10)
    return channel


def plt_cmap() -> Any:
    """The maps' colours (magma), with NaN (the gaps between tiles) white."""
    return colormaps["magma"].with_extremes(bad="white")


def feature_map_explorer(
    net: Sequential,
    images: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    image: int = 0,
    layer: int | None = None,
    channel: int = 0,
) -> Explorer:
    """An image slider (over ``images`` (M, C, H, W)), a layer dropdown (the modules of ``net``
    whose outputs are image batches) and a channel slider. The outputs of an image are computed
    once and kept in ``explorer.outputs`` (``explorer.forward_passes`` counts the passes)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"feature_map_explorer: images must have shape (M, C, H, W), got {images.shape}")
    options = image_layers(net, images.shape[1:])
    if not options:
        raise ValueError("feature_map_explorer: no module of net outputs an image batch")
    labels_of = dict(options)
    layer = options[0][0] if layer is None else layer
    if layer not in labels_of:
        raise ValueError(f"feature_map_explorer: layer must be one of {sorted(labels_of)}, "
                         f"got {layer!r}")
    cache: dict[int, dict[int, np.ndarray]] = {}
    counts = {"forward_passes": 0}
    max_channels = max(o.shape[0] for o in layer_outputs(net, images[0]).values())

    def draw(fig: Figure, image: int, layer: int, channel: int) -> None:
        if image not in cache:
            cache[image] = layer_outputs(net, images[image])
            counts["forward_passes"] += 1
        caption = f"label {int(labels[image])}" if labels is not None else f"image {image}"
        draw_feature_maps(fig, images[image], cache[image], layer=layer, channel=channel,
                          layer_label=labels_of[layer], caption=caption)

    style = {"description_width": "initial"}
    controls: dict[str, widgets.ValueWidget] = {
        "image": widgets.IntSlider(value=image, min=0, max=images.shape[0] - 1,
                                   description="image", continuous_update=False, style=style),
        "layer": widgets.Dropdown(options=[(label, i) for i, label in options], value=layer,
                                  description="layer", style=style),
        "channel": widgets.IntSlider(value=channel, min=0, max=max_channels - 1,
                                     description="channel", continuous_update=False,
                                     style=style),
    }
    explorer = make_explorer(draw, controls, figsize=(9.5, 3.4),
                             title="Pick an image, a layer and a channel: the maps redraw")
    explorer.outputs = cache  # type: ignore[attr-defined]
    explorer.counts = counts  # type: ignore[attr-defined]
    return explorer
