"""The filter explorer of lesson 10: a 3x3 kernel (picked from a list or typed in), a stride, a
padding and a number of stacked layers, against the feature map they make of a photograph or a
digit, its shape, and the receptive field of one output pixel.

``photographs`` loads scikit-learn's two sample photographs (shipped with it, offline) as RGB
arrays in [0, 1]. The notebook reads them through it: the grading policy does not let a
notebook import ``sklearn.datasets``, whose other loaders download and write files.
``sample_images`` makes them grayscale, shrunk by block averaging, beside two 8x8 digits.
``feature_map`` applies the kernel ``layers`` times with ``nnlib.conv2d_forward``;
``receptive_field`` maps one output pixel back to the input rows and columns it depends on;
``draw_feature_map`` draws the input with that receptive field beside the feature map with its
pixel; ``filter_explorer`` wires the controls to it (a filter picked from the list fills the
nine kernel boxes; typing into a box switches the filter to "custom").
"""

from __future__ import annotations

import functools
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from nncourse.widgets import Explorer, make_explorer
from nnlib.conv import conv2d_forward, conv_output_size

__all__ = [
    "FILTERS",
    "photographs",
    "sample_images",
    "feature_map",
    "receptive_field",
    "draw_feature_map",
    "filter_explorer",
]

#: The hand-set 3x3 filters the explorer offers (and the notebook uses).
FILTERS: dict[str, np.ndarray] = {
    "identity": np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "blur (box)": np.full((3, 3), 1.0 / 9.0),
    "sharpen": np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    "vertical edges (Sobel x)": np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    "horizontal edges (Sobel y)": np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0],
                                            [1.0, 2.0, 1.0]]),
    "outline (Laplacian)": np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]),
}

CUSTOM = "custom"


def _shrink(gray: np.ndarray, factor: int) -> np.ndarray:
    H, W = (s // factor * factor for s in gray.shape)
    return gray[:H, :W].reshape(H // factor, factor, W // factor, factor).mean(axis=(1, 3))


@functools.lru_cache(maxsize=1)
def _photographs() -> tuple[tuple[str, np.ndarray], ...]:
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    out = []
    for path, rgb in zip(photos.filenames, photos.images, strict=True):
        name = "china" if "china" in path else "flower"
        image = rgb.astype(np.float64) / 255.0
        image.flags.writeable = False
        out.append((name, image))
    return tuple(sorted(out))


def photographs() -> dict[str, np.ndarray]:
    """``{"china": ..., "flower": ...}``: the two photographs of scikit-learn's
    ``load_sample_images`` (shipped with it, no download), RGB float64 arrays (427, 640, 3) in
    [0, 1]. Each call returns fresh copies."""
    return {name: image.copy() for name, image in _photographs()}


@functools.lru_cache(maxsize=4)
def _sample_images(factor: int) -> tuple[tuple[str, np.ndarray], ...]:
    from nnlib.data import load_digits

    out = []
    for name, rgb in _photographs():
        out.append((f"{name} (photo)", _shrink(rgb @ np.array([0.299, 0.587, 0.114]), factor)))
    X, y = load_digits()
    for label in (0, 3):
        index = int(np.flatnonzero(y == label)[0])
        out.append((f"digit {label} (8 x 8)", X[index].reshape(8, 8)))
    return tuple(out)


def sample_images(factor: int = 4) -> dict[str, np.ndarray]:
    """name -> grayscale image (H, W) in [0, 1]: the two photographs of ``photographs()``
    shrunk ``factor`` times by block averaging, and the first 0 and 3 of the 8x8 digits."""
    return {name: image.copy() for name, image in _sample_images(factor)}


def feature_map(image: np.ndarray, kernel: np.ndarray, *, stride: int = 1, padding: int = 0,
                layers: int = 1) -> tuple[np.ndarray | None, list[tuple[int, int]]]:
    """The kernel applied ``layers`` times (each with ``stride`` and ``padding``, no bias, no
    activation) to a grayscale ``image`` (H, W); and the shape after each layer. The map is
    None when a layer's padded input is smaller than the kernel (the shapes stop there)."""
    x = np.asarray(image, dtype=np.float64)[None, None]
    w = np.asarray(kernel, dtype=np.float64).reshape(1, 1, 3, 3)
    shapes: list[tuple[int, int]] = [x.shape[2:]]
    for _ in range(layers):
        H, W = x.shape[2:]
        if min(H, W) + 2 * padding < 3:
            return None, shapes
        x = conv2d_forward(x, w, None, stride, padding)[0]
        shapes.append((conv_output_size(H, 3, stride, padding),
                       conv_output_size(W, 3, stride, padding)))
    return np.asarray(x[0, 0]), shapes


def receptive_field(index: tuple[int, int], *, stride: int, padding: int, layers: int,
                    kernel_size: int = 3) -> tuple[tuple[int, int], tuple[int, int]]:
    """The input rows [r0, r1] and columns [c0, c1] (inclusive, in the coordinates of the
    unpadded input: negative or beyond the edge where they fall in padding) that output pixel
    ``index`` of the last of ``layers`` identical layers depends on."""
    (r0, r1), (c0, c1) = (index[0], index[0]), (index[1], index[1])
    for _ in range(layers):
        r0, r1 = r0 * stride - padding, r1 * stride - padding + kernel_size - 1
        c0, c1 = c0 * stride - padding, c1 * stride - padding + kernel_size - 1
    return (r0, r1), (c0, c1)


def draw_feature_map(fig: Figure, image: np.ndarray, kernel: np.ndarray, *, stride: int = 1,
                     padding: int = 0, layers: int = 1, title: str = "input") -> dict[str, Any]:
    """Draw the input with the receptive field of the feature map's centre pixel (left) and
    the feature map with that pixel (right). Returns what was drawn: the map, the shapes, the
    pixel and its receptive field."""
    fmap, shapes = feature_map(image, kernel, stride=stride, padding=padding, layers=layers)
    ax_in, ax_out = fig.subplots(1, 2)
    H, W = image.shape
    ax_in.imshow(image, cmap="gray", vmin=0, vmax=1)
    margin = padding * sum(stride ** i for i in range(layers)) + 0.5
    ax_in.set(xlim=(-margin, W - 1 + margin), ylim=(H - 1 + margin, -margin), xticks=[],
              yticks=[], title=f"{title}: (H, W) = ({H}, {W})")
    if padding:
        ax_in.add_patch(Rectangle((-0.5, -0.5), W, H, fill=False, ec="tab:blue", lw=1, ls=":"))
    info: dict[str, Any] = {"map": fmap, "shapes": shapes, "pixel": None, "field": None}
    ax_out.set(xticks=[], yticks=[])
    if fmap is None:
        ax_out.set_title(f"layer {len(shapes)}: the {shapes[-1][0]} x {shapes[-1][1]} map, padded,"
                         " is smaller than the kernel", fontsize=9)
        ax_out.axis("off")
        return info
    Ho, Wo = fmap.shape
    pixel = (Ho // 2, Wo // 2)
    (r0, r1), (c0, c1) = receptive_field(pixel, stride=stride, padding=padding, layers=layers)
    info.update(pixel=pixel, field=((r0, r1), (c0, c1)))
    ax_in.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                              ec="tab:red", lw=2))
    lim = float(np.max(np.abs(fmap))) or 1.0
    ax_out.imshow(fmap, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax_out.add_patch(Rectangle((pixel[1] - 0.5, pixel[0] - 0.5), 1, 1, fill=False,
                               ec="tab:red", lw=2))
    ax_out.set_title(f"feature map after {layers} layer{'s' if layers > 1 else ''}: "
                     f"(Ho, Wo) = ({Ho}, {Wo})", fontsize=10)
    ax_in.set_xlabel(f"red: the receptive field of the red output pixel, {r1 - r0 + 1} x "
                     f"{c1 - c0 + 1} pixels", fontsize=9)
    ax_out.set_xlabel(" → ".join(f"{h}x{w}" for h, w in shapes), fontsize=9)
    return info


def filter_explorer(*, image: str = "china (photo)", filter: str = "vertical edges (Sobel x)",
                    stride: int = 1, padding: int = 1, layers: int = 1,
                    images: dict[str, np.ndarray] | None = None) -> Explorer:
    """A filter list, a 3x3 grid of kernel boxes, stride, padding and layers sliders, and an
    image list; every change redraws the feature map, its shape and the receptive field."""
    images = dict(sample_images()) if images is None else dict(images)
    if image not in images:
        raise ValueError(f"filter_explorer: image must be one of {list(images)}, got {image!r}")
    if filter not in FILTERS and filter != CUSTOM:
        raise ValueError(f"filter_explorer: filter must be one of {list(FILTERS)} or "
                         f"'{CUSTOM}', got {filter!r}")
    start = FILTERS.get(filter, FILTERS["identity"])
    cells = {f"k{i}{j}": widgets.FloatText(value=float(start[i, j]), step=0.1,
                                           layout=widgets.Layout(width="70px"))
             for i in range(3) for j in range(3)}
    syncing = [False]

    def kernel_now(name: str) -> np.ndarray:
        if name in FILTERS:
            return FILTERS[name]
        return np.array([[cells[f"k{i}{j}"].value for j in range(3)] for i in range(3)])

    drawn: dict[str, Any] = {}

    def draw(fig: Figure, image: str, filter: str, stride: int, padding: int,
             layers: int) -> None:
        drawn.clear()
        drawn.update(draw_feature_map(fig, images[image], kernel_now(filter), stride=stride,
                                      padding=padding, layers=layers, title=image))

    style = {"description_width": "initial"}
    controls: dict[str, Any] = {
        "image": widgets.Dropdown(options=list(images), value=image, description="image"),
        "filter": widgets.Dropdown(options=[*FILTERS, CUSTOM], value=filter,
                                   description="filter"),
        "stride": widgets.IntSlider(value=stride, min=1, max=4, description="stride",
                                    continuous_update=False, style=style),
        "padding": widgets.IntSlider(value=padding, min=0, max=3, description="padding",
                                     continuous_update=False, style=style),
        "layers": widgets.IntSlider(value=layers, min=1, max=3, description="layers",
                                    continuous_update=False, style=style),
    }
    explorer = make_explorer(draw, controls, figsize=(9.0, 3.8))
    explorer.drawn = drawn  # type: ignore[attr-defined]

    def on_filter(change: Any) -> None:  # a listed filter fills the boxes, without redrawing
        if change["new"] in FILTERS:
            syncing[0] = True
            try:
                for (i, j), value in np.ndenumerate(FILTERS[change["new"]]):
                    cells[f"k{i}{j}"].value = float(value)
            finally:
                syncing[0] = False

    def on_cell(change: Any) -> None:  # a typed value makes the filter custom: one redraw
        if syncing[0]:
            return
        if controls["filter"].value != CUSTOM:
            controls["filter"].value = CUSTOM  # its observer redraws
        else:
            explorer.redraw()

    controls["filter"].observe(on_filter, names="value")
    for cell in cells.values():
        cell.observe(on_cell, names="value")
    explorer.controls = {**explorer.controls, **cells}  # make_explorer keeps its own dict
    grid = widgets.GridBox(list(cells.values()),
                           layout=widgets.Layout(grid_template_columns="repeat(3, 74px)"))
    explorer.widget = widgets.VBox([
        widgets.HTML("<b>Pick a filter or type a 3x3 kernel; the feature map, its shape and "
                     "the receptive field of the red pixel redraw</b>"),
        widgets.HBox([controls["image"], controls["filter"]]),
        widgets.HBox([widgets.VBox([widgets.Label("kernel w (3 x 3)"), grid]),
                      widgets.VBox([controls["stride"], controls["padding"],
                                    controls["layers"]])]),
        explorer.image,
    ])
    return explorer
