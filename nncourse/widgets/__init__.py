"""Interactive explorers for the notebooks: ipywidgets controls that redraw a matplotlib figure.

One module per lesson topic (``nncourse.widgets.digits``, ...) holds its ``draw_*`` functions and
its ``*_explorer`` builder; this module holds what they share.

Each builder returns an :class:`Explorer`. Display ``explorer.widget`` in a notebook; tests set
``explorer.controls[name].value`` and read ``explorer.redraws`` and ``explorer.figure``. The
drawing functions (``draw_*``) take a figure and plain values, so the same code also makes the
static figure that stands beside each widget.

Building an explorer draws once and does nothing slow at import time.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PIL import Image as PILImage
from threadpoolctl import threadpool_limits

__all__ = ["Explorer", "make_explorer", "one_blas_thread", "draw_digit", "digit_explorer"]


@dataclass
class Explorer:
    """A widget, its named controls, the figure it redraws, and how often it has redrawn."""

    widget: widgets.Widget
    controls: dict[str, widgets.ValueWidget]
    figure: Figure
    image: widgets.Image
    redraws: int = 0
    #: CPU seconds of the last redraw (draw + PNG render): what a learner waits for on an idle
    #: machine, and not inflated by other jobs sharing the cores.
    last_redraw_seconds: float = 0.0
    _redraw: Callable[[], None] = field(default=lambda: None, repr=False)

    def redraw(self) -> None:
        """Draw the figure again from the controls' current values."""
        self._redraw()

    def _ipython_display_(self) -> None:  # display(explorer) shows the widget
        from IPython.display import display

        display(self.widget)


def one_blas_thread() -> Any:
    """Context manager: NumPy's BLAS on one thread while a widget computes.

    A widget's matrices are small; with a second BLAS thread on a busy 2-core machine the
    same products were 7-50x slower (the worker spins waiting for a core).
    """
    return threadpool_limits(limits=1, user_api="blas")


def make_explorer(
    draw: Callable[..., None],
    controls: dict[str, widgets.ValueWidget],
    *,
    figsize: tuple[float, float] = (7.0, 3.2),
    title: str | None = None,
) -> Explorer:
    """Wire ``controls`` to ``draw(fig, **values)``: any change clears the figure and redraws.

    The figure is a plain :class:`matplotlib.figure.Figure` (not a pyplot figure), so it is
    never shown twice by the inline backend and is reused across redraws. Each redraw renders
    it to PNG into an ``ipywidgets.Image``: one widget-state update, rather than an ``Output``
    widget capturing a display (which makes nbclient, and so the autograder, stall now and
    then: jupyter/nbclient#312).
    """
    fig = Figure(figsize=figsize, layout="constrained")
    image = widgets.Image(format="png")
    boxes: list[widgets.Widget] = []
    if title:
        boxes.append(widgets.HTML(f"<b>{title}</b>"))
    boxes.append(widgets.HBox(list(controls.values())))
    boxes.append(image)
    explorer = Explorer(widget=widgets.VBox(boxes), controls=controls, figure=fig, image=image)

    # Constrained layout costs about as much as drawing itself. The controls rarely change the
    # figure's structure, so the layout is computed once per number of axes and reused.
    layouts: dict[int, list[Any]] = {}
    canvas = FigureCanvasAgg(fig)
    engine = fig.get_layout_engine()

    def redraw(change: Any = None) -> None:
        start = time.process_time()
        fig.clear()
        fig.set_layout_engine(engine)
        draw(fig, **{key: control.value for key, control in controls.items()})
        reuse = isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
        cached = layouts.get(len(fig.axes)) if reuse else None
        if cached is not None:
            fig.set_layout_engine("none")
            for ax, position in zip(fig.axes, cached, strict=True):
                ax.set_position(position)
        # One Agg draw, encoded by PIL: savefig would draw twice whenever the figure has any
        # layout engine (even the placeholder left by "none"), and compress harder than needed.
        canvas.draw()
        buffer = io.BytesIO()
        PILImage.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw",
                            "RGBA", 0, 1).save(buffer, format="png", compress_level=1)
        if reuse and cached is None:
            layouts[len(fig.axes)] = [ax.get_position() for ax in fig.axes]
        image.value = buffer.getvalue()
        explorer.redraws += 1
        explorer.last_redraw_seconds = time.process_time() - start

    explorer._redraw = redraw
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return explorer


from nncourse.widgets.digits import digit_explorer, draw_digit  # noqa: E402
