"""Count what a widget redraw does, so that tests can keep it cheap without timing it.

Tests never time a redraw (a busy machine would turn them red): they count work instead —
redraws, Agg draws, PNG encodings, layout passes, trainings, cache misses. The time a redraw
takes is measured against its 0.5 s budget by ``make bench`` (bench/budget_widgets.py).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PIL import Image

#: What every redraw is counted for.
BASE = ("redraws", "agg_draws", "png_encodes", "layouts")
#: A cheap redraw: one draw, rendered once to one PNG, the layout computed once and reused.
ONE_REDRAW = {"redraws": 1, "agg_draws": 1, "png_encodes": 1, "layouts": 0}


def _count(mp: pytest.MonkeyPatch, owner: Any, name: str, counts: Counter, key: str) -> None:
    real = getattr(owner, name)

    @functools.wraps(real)
    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[key] += 1
        return real(*args, **kwargs)

    mp.setattr(owner, name, counted)


def redraw_work(explorer: Any, control: str, value: Any,
                watch: Iterable[tuple[Any, str]] = ()) -> dict[str, int]:
    """Set ``explorer.controls[control].value = value`` and count what followed: the BASE
    counts, and calls of each ``getattr(owner, name)`` in ``watch`` (counted by ``name``).

    Module functions are counted where the widget looks them up (pass the widget's module).
    """
    counts: Counter = Counter()
    watch = list(watch)
    with pytest.MonkeyPatch.context() as mp:
        _count(mp, FigureCanvasAgg, "draw", counts, "agg_draws")
        _count(mp, ConstrainedLayoutEngine, "execute", counts, "layouts")
        _count(mp, Image.Image, "save", counts, "png_encodes")
        for owner, name in watch:
            _count(mp, owner, name, counts, name)
        before = explorer.redraws
        explorer.controls[control].value = value
        counts["redraws"] = explorer.redraws - before
    return {key: counts[key] for key in BASE + tuple(name for _, name in watch)}


def assert_one_cheap_redraw(work: dict[str, int], **expected: int) -> None:
    """One redraw, one draw, one PNG, no layout pass; and the watched counts ``expected``."""
    want = dict(ONE_REDRAW, **expected)
    got = {key: work.get(key, 0) for key in want}
    assert got == want, f"a control move did {got}, expected {want}"
