"""Interactive explorers for the notebooks: ipywidgets controls that redraw a matplotlib figure.

Each builder returns an :class:`Explorer`. Display ``explorer.widget`` in a notebook; tests set
``explorer.controls[name].value`` and read ``explorer.redraws`` and ``explorer.figure``. The
drawing functions (``draw_*``) take a figure and plain values, so the same code also makes the
static figure that stands beside each widget.

Building an explorer draws once and does nothing slow at import time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

__all__ = ["Explorer", "make_explorer", "draw_digit", "digit_explorer"]


@dataclass
class Explorer:
    """A widget, its named controls, the figure it redraws, and how often it has redrawn."""

    widget: widgets.Widget
    controls: dict[str, widgets.ValueWidget]
    figure: Figure
    output: widgets.Output
    redraws: int = 0
    last_redraw_seconds: float = 0.0
    _redraw: Callable[[], None] = field(default=lambda: None, repr=False)

    def redraw(self) -> None:
        """Draw the figure again from the controls' current values."""
        self._redraw()

    def _ipython_display_(self) -> None:  # display(explorer) shows the widget
        from IPython.display import display

        display(self.widget)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_explorer(
    draw: Callable[..., None],
    controls: dict[str, widgets.ValueWidget],
    *,
    figsize: tuple[float, float] = (7.0, 3.2),
    title: str | None = None,
) -> Explorer:
    """Wire ``controls`` to ``draw(fig, **values)``: any change clears the figure and redraws.

    The figure is a plain :class:`matplotlib.figure.Figure` (not a pyplot figure), so it is
    never shown twice by the inline backend and is reused across redraws.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    out = widgets.Output()
    boxes: list[widgets.Widget] = []
    if title:
        boxes.append(widgets.HTML(f"<b>{title}</b>"))
    boxes.append(widgets.HBox(list(controls.values())))
    boxes.append(out)
    explorer = Explorer(widget=widgets.VBox(boxes), controls=controls, figure=fig, output=out)

    def redraw(change: Any = None) -> None:
        start = time.perf_counter()
        fig.clear()
        draw(fig, **{key: control.value for key, control in controls.items()})
        explorer.redraws += 1
        explorer.last_redraw_seconds = time.perf_counter() - start
        if _in_kernel():
            from IPython.display import display

            with out:
                out.clear_output(wait=True)
                display(fig)

    explorer._redraw = redraw
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return explorer


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
