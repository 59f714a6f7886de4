"""Evaluation pictures for lesson 06: confusion matrices, and a decision-threshold explorer.

``plot_confusion_matrix`` draws a K x K matrix on one Axes. ``draw_threshold`` fills a figure
for a binary scorer at one threshold: the score histograms of both classes with the threshold,
the 2 x 2 confusion matrix, and the precision-recall curve with the current point marked.
``threshold_explorer`` puts a slider on the threshold. The positive class is predicted when
``score >= threshold`` (scikit-learn's convention for precision-recall curves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from nncourse.widgets import Explorer, make_explorer
from nnlib.metrics import confusion_matrix, precision_recall_curve, precision_recall_f1

__all__ = [
    "plot_confusion_matrix",
    "binary_scores",
    "threshold_metrics",
    "draw_threshold",
    "threshold_explorer",
]


def plot_confusion_matrix(
    ax: Axes,
    C: Any,
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
    cmap: str = "Blues",
) -> AxesImage:
    """Draw confusion matrix C (K, K) (rows = true class, columns = predicted) with its counts.

    ``normalize=True`` colours and labels each row by its fraction of the true class (the
    diagonal is then each class's recall). Returns the image, whose array is what was drawn.
    """
    C = np.asarray(C)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: C must be a square (K, K) matrix, got {C.shape}")
    K = C.shape[0]
    names = [str(k) for k in range(K)] if class_names is None else [str(n) for n in class_names]
    if len(names) != K:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for K={K} classes")
    if normalize:
        rows = C.sum(axis=1, keepdims=True)
        shown = np.divide(C, rows, out=np.zeros(C.shape), where=rows != 0)
        vmax = 1.0
    else:
        shown = C.astype(np.float64)
        vmax = max(float(shown.max()), 1.0)
    image = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    small = K > 6
    for i in range(K):
        for j in range(K):
            text = f"{shown[i, j]:.2f}".lstrip("0") if normalize else str(int(C[i, j]))
            if normalize and shown[i, j] == 0:
                text = "0"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if small else 10,
                    color="white" if shown[i, j] > 0.6 * vmax else "black")
    ax.set_xticks(range(K), names)
    ax.set_yticks(range(K), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return image


def binary_scores(y_true: Any, scores: Any, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """Check and return (y_true (N,) int64 in {0, 1}, scores (N,) float64)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y_true)
    if s.ndim != 1 or s.shape[0] == 0:
        raise ValueError(f"{fn}: scores must have shape (N,) with N >= 1, got {s.shape}")
    if y.shape != s.shape:
        raise ValueError(f"{fn}: y_true must have the shape of scores {s.shape}, got {y.shape}")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError(f"{fn}: y_true must hold 0 (negative) and 1 (positive) only")
    if not y.any():
        raise ValueError(f"{fn}: y_true has no positive example")
    return y.astype(np.int64), s


def threshold_metrics(y_true: Any, scores: Any, threshold: float) -> dict[str, Any]:
    """The binary rule ``score >= threshold``: {"confusion": (2, 2) int (rows = truth:
    negative, positive), "precision", "recall", "f1", "accuracy"} of the positive class."""
    y, s = binary_scores(y_true, scores, "threshold_metrics")
    y_pred = (s >= threshold).astype(np.int64)
    C = confusion_matrix(y, y_pred, 2)
    p, r, f = precision_recall_f1(y, y_pred, 2)
    return {"confusion": C, "precision": float(p[1]), "recall": float(r[1]), "f1": float(f[1]),
            "accuracy": float(np.trace(C) / C.sum())}


def draw_threshold(
    fig: Figure,
    y_true: Any,
    scores: Any,
    threshold: float,
    *,
    positive_name: str = "positive",
    negative_name: str = "negative",
) -> dict[str, Any]:
    """Three panels for the rule ``score >= threshold``: the scores of each class with the
    threshold line, the 2 x 2 confusion matrix, and the precision-recall curve with the current
    point. Shapes: y_true (N,) in {0, 1}, scores (N,). Returns ``threshold_metrics``."""
    y, s = binary_scores(y_true, scores, "draw_threshold")
    m = threshold_metrics(y, s, threshold)
    ax_hist, ax_cm, ax_pr = fig.subplots(1, 3, width_ratios=[1.3, 0.9, 1.1])

    lo, hi = float(min(s.min(), 0.0)), float(max(s.max(), 1.0))
    edges = np.linspace(lo, hi, 41)
    for label, name, color in ((0, negative_name, "tab:blue"), (1, positive_name, "tab:orange")):
        counts, _ = np.histogram(s[y == label], bins=edges)
        # each class as a fraction of its own size, so that a rare class stays visible
        ax_hist.stairs(counts / max(counts.sum(), 1), edges, fill=True, alpha=0.5, color=color,
                       label=f"{name} ({int(np.sum(y == label))})")
    ax_hist.axvline(threshold, color="k", lw=1.5, ls="--", label="threshold")
    ax_hist.set(xlabel="score", ylabel="fraction of the class",
                title=f"scores by true class; threshold {threshold:.2f}")
    ax_hist.legend(fontsize=8, loc="upper center")

    plot_confusion_matrix(ax_cm, m["confusion"], class_names=[negative_name, positive_name],
                          title=f"accuracy {m['accuracy']:.1%}")

    precision, recall, _ = precision_recall_curve(y, s)
    ax_pr.plot(recall, precision, drawstyle="steps-post", color="tab:gray", lw=1.2)
    ax_pr.plot([m["recall"]], [m["precision"]], "o", color="tab:red", ms=8)
    ax_pr.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.05), xlabel="recall", ylabel="precision",
              title=f"P {m['precision']:.2f}  R {m['recall']:.2f}  F1 {m['f1']:.2f}")
    ax_pr.axhline(float(y.mean()), color="tab:gray", ls=":", lw=1)
    ax_pr.text(0.02, float(y.mean()) + 0.02, "guessing", fontsize=8, color="tab:gray")
    return m


def threshold_explorer(
    y_true: Any,
    scores: Any,
    *,
    threshold: float = 0.5,
    positive_name: str = "positive",
    negative_name: str = "negative",
) -> Explorer:
    """A slider on the decision threshold of a binary scorer; every move redraws the counts,
    the confusion matrix and the point on the precision-recall curve."""
    y, s = binary_scores(y_true, scores, "threshold_explorer")
    lo, hi = float(min(s.min(), 0.0)), float(max(s.max(), 1.0))
    slider = widgets.FloatSlider(
        value=float(np.clip(threshold, lo, hi)), min=lo, max=hi, step=(hi - lo) / 100,
        description="threshold", continuous_update=True, readout_format=".2f",
    )
    return make_explorer(
        lambda fig, threshold: draw_threshold(
            fig, y, s, threshold, positive_name=positive_name, negative_name=negative_name
        ),
        {"threshold": slider},
        figsize=(10.0, 3.3),
        title="Move the threshold: predict positive when score >= threshold",
    )
