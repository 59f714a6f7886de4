"""The digits viewer of lesson 00: a slider over the examples of scikit-learn's 8x8 digits."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from nncourse.widgets import Explorer, make_explorer

__all__ = ["draw_digit", "digit_explorer"]


def draw_digit(fig: Figure, X: np.ndarray, y: np.ndarray, index: int) -> None:
    """Draw example ``index`` of 8x8 digits ``X`` (N, 64): the pixels, and their histogram."""
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"draw_digit: X must have shape (N, 64), got {X.shape}")
    if not 0 <= index < X.shape[0]:
        raise ValueError(f"draw_digit: index must be in [0, {X.shape[0]}), got {index}")
    ax_img, ax_hist = fig.subplots(1, 2, width_ratios=[1, 1.6])
    ax_img.imshow(X[index].reshape(8, 8), cmap="gray_r")
    ax_img.set_title(f"example {index}: label {int(y[index])}")
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    ax_hist.hist(X[index], bins=16, color="tab:blue")
    ax_hist.set_xlabel("pixel value")
    ax_hist.set_ylabel("number of pixels")
    ax_hist.set_title("the 64 numbers the network sees")


def digit_explorer(X: np.ndarray, y: np.ndarray, *, index: int = 0) -> Explorer:
    """A slider over the examples of an 8x8 digits set, redrawing the digit and its pixels."""
    slider = widgets.IntSlider(
        value=index, min=0, max=X.shape[0] - 1, step=1, description="example",
        continuous_update=True,
    )
    return make_explorer(
        lambda fig, index: draw_digit(fig, X, y, index),
        {"index": slider},
        title="Move the slider to look at another digit",
    )
