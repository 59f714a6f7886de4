"""Attention heatmaps (lesson 14): type an input, see where each output step looks.

The model is anything that can be wrapped in a function ``attend(text) -> (in_labels,
out_labels, weights)``: the labels of the input positions (the keys, columns), the labels of
the output steps (the queries, rows), and the attention weights ``(heads, T_out, T_in)``, each
row a distribution over the inputs. The explorer draws one heatmap, for one head or for the
heads' average; an input the model cannot read is reported in the title, not raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure, SubFigure

from nncourse.widgets import Explorer, make_explorer, one_blas_thread

__all__ = ["AVERAGE", "run_attend", "draw_attention", "attention_explorer"]

Attend = Callable[[str], tuple[Sequence[str], Sequence[str], np.ndarray]]
AVERAGE = "average of the heads"


def run_attend(attend: Attend, text: str) -> tuple[list[str], list[str], np.ndarray]:
    """``attend(text)`` with its result checked: (in_labels, out_labels, weights (heads,
    T_out, T_in)); a ValueError naming what is wrong otherwise."""
    with one_blas_thread():
        in_labels, out_labels, weights = attend(text)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1:] != (len(out_labels), len(in_labels)):
        raise ValueError(
            f"run_attend: weights of shape {w.shape} do not match {len(out_labels)} output and "
            f"{len(in_labels)} input labels; expected (heads, T_out, T_in)"
        )
    return list(in_labels), list(out_labels), w


def draw_attention(fig: Figure | SubFigure, in_labels: Sequence[str], out_labels: Sequence[str],
                   weights: np.ndarray, *, head: int | None = None, title: str = "") -> np.ndarray:
    """A heatmap of ``weights[head]`` (``head=None``: the mean over the heads): a row per
    output step, a column per input position, darker = more attention. Returns the map drawn."""
    w = np.asarray(weights, dtype=np.float64)
    shown = w.mean(axis=0) if head is None else w[head]
    ax = fig.subplots()
    ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(np.arange(len(in_labels)), list(in_labels))
    ax.set_yticks(np.arange(len(out_labels)), list(out_labels))
    ax.set_xlabel("input position (key)")
    ax.set_ylabel("output step (query)")
    ax.set_title(title, fontsize=9)
    return shown


def attention_explorer(attend: Attend, text: str, *, description: str = "input") -> Explorer:
    """Text and head -> the attention heatmap of every output step for that input."""
    _, _, w = run_attend(attend, text)
    options = [AVERAGE] + [f"head {h + 1}" for h in range(w.shape[0])] if w.shape[0] > 1 \
        else ["head 1"]
    controls = {
        "text": widgets.Text(value=text, description=description, continuous_update=False),
        "head": widgets.Dropdown(options=options, value=options[0], description="show"),
    }

    def draw(fig: Figure, text: str, head: str) -> None:
        try:
            in_labels, out_labels, weights = run_attend(attend, text)
        except ValueError as exc:
            ax = fig.subplots()
            ax.set_axis_off()
            ax.set_title(f"cannot read {text!r}: {exc}", fontsize=9)
            return
        h = None if head == AVERAGE else int(head.split()[1]) - 1
        h = min(h, weights.shape[0] - 1) if h is not None else None
        draw_attention(fig, in_labels, out_labels, weights, head=h,
                       title=f"{text!r} -> {''.join(out_labels)!r} ({head})")

    return make_explorer(draw, controls, figsize=(5.6, 4.2),
                         title="Where does each output step look?")
