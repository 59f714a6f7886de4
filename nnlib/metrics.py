"""Classification metrics: the confusion matrix, precision, recall and F1 (per class, macro,
micro, weighted) and the precision-recall curve of a binary scorer.

Conventions are scikit-learn's, so that results can be checked against it:

- ``C[i, j]`` counts the examples of true class ``i`` predicted as class ``j`` (rows = truth);
- a ratio whose denominator is 0 is 0 (``zero_division=0``): the precision of a class that is
  never predicted, the recall of a class that never occurs, and their F1;
- ``F1 = 2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall;
- ``average="macro"`` is the unweighted mean over all K classes, including classes absent from
  both ``y_true`` and ``y_pred`` (as scikit-learn with ``labels=range(K)``);
- a binary scorer predicts the positive class when ``score >= threshold``.

Accuracy lives in :mod:`nnlib.training` (``accuracy``); it equals ``trace(C) / C.sum()``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import check_labels, check_positive_int

__all__ = ["confusion_matrix", "precision_recall_f1", "f1_score", "precision_recall_curve"]

_AVERAGES = (None, "macro", "micro", "weighted")


def _check_pair(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None, fn: str
) -> tuple[np.ndarray, np.ndarray, int]:
    y_pred_arr = np.asarray(y_pred)
    if y_pred_arr.ndim == 2 and y_pred_arr.shape[1] > 1:
        raise ValueError(
            f"{fn}: y_pred must hold predicted class labels with shape (N,), got shape "
            f"{y_pred_arr.shape} (scores? use y_pred.argmax(axis=1))"
        )
    t = np.asarray(y_true)
    if t.ndim != 1:
        raise ValueError(
            f"{fn}: y_true must be a vector of class labels with shape (N,), got shape {t.shape}"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{fn}: y_true holds no labels (N = 0)")
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, fn, "num_classes")
    true = check_labels(t, t.shape[0], num_classes, fn, "y_true")
    pred = check_labels(y_pred_arr, t.shape[0], num_classes, fn, "y_pred")
    if true.min() < 0 or pred.min() < 0:
        raise ValueError(f"{fn}: class labels must be >= 0")
    K = num_classes if num_classes is not None else int(max(true.max(), pred.max())) + 1
    return true, pred, K


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None
) -> np.ndarray:
    """C[i, j] = number of examples with true class i predicted as class j.

    Shapes: y_true (N,), y_pred (N,) integer labels in [0, K) -> C (K, K) int64, rows = true
    class, columns = predicted class (as scikit-learn). K = ``num_classes``, or the largest
    label + 1 when it is None. ``C.sum() == N`` and ``trace(C) / N`` is the accuracy.
    """
    true, pred, K = _check_pair(y_true, y_pred, num_classes, "confusion_matrix")
    # bincount counts repeated (i, j) pairs; fancy-index assignment C[true, pred] += 1 would not
    return np.bincount(true * K + pred, minlength=K * K).reshape(K, K).astype(np.int64)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    num_classes: int | None = None,
    *,
    average: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[float, float, float]:
    """Precision tp / (tp + fp), recall tp / (tp + fn) and F1 2 tp / (2 tp + fp + fn) per class.

    Shapes: y_true (N,), y_pred (N,) integer labels in [0, K) -> (precision, recall, f1), each
    (K,) float64 when ``average`` is None; floats for ``"macro"`` (unweighted mean over all K
    classes), ``"micro"`` (from the counts summed over classes: equals the accuracy) and
    ``"weighted"`` (mean weighted by each class's number of true examples). A 0/0 ratio is 0,
    as scikit-learn's ``precision_recall_fscore_support(..., labels=range(K),
    zero_division=0)``.
    """
    fn = "precision_recall_f1"
    if average not in _AVERAGES:
        raise ValueError(
            f"{fn}: average must be None, 'macro', 'micro' or 'weighted', got {average!r}"
        )
    C = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(C).astype(np.float64)
    predicted = C.sum(axis=0)  # tp + fp: column sums
    actual = C.sum(axis=1)  # tp + fn: row sums (the support)
    if average == "micro":
        tp, predicted, actual = tp.sum(), predicted.sum(), actual.sum()
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, actual)
    f1 = _safe_divide(2 * tp, predicted + actual)
    if average is None:
        return precision, recall, f1
    if average == "micro":
        return float(precision), float(recall), float(f1)
    weights = actual / actual.sum() if average == "weighted" else np.full(tp.size, 1 / tp.size)
    return float(precision @ weights), float(recall @ weights), float(f1 @ weights)


def f1_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    num_classes: int | None = None,
    *,
    average: str | None = "macro",
) -> float | np.ndarray:
    """The F1 part of :func:`precision_recall_f1`: a float, or (K,) when ``average`` is None."""
    return precision_recall_f1(y_true, y_pred, num_classes, average=average)[2]


def precision_recall_curve(
    y_true: ArrayLike, scores: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall of the rule ``score >= t`` for every distinct score t.

    Shapes: y_true (N,) in {0, 1} with at least one 1, scores (N,) float -> (precision (T+1,),
    recall (T+1,), thresholds (T,)) with the T distinct scores in increasing order, so recall
    decreases; the last point (precision 1, recall 0) has no threshold. Same output as
    scikit-learn's ``precision_recall_curve``.
    """
    fn = "precision_recall_curve"
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] == 0:
        raise ValueError(f"{fn}: scores must have shape (N,) with N >= 1, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{fn}: scores must be finite")
    y = check_labels(y_true, s.shape[0], 2, fn, "y_true")
    if not y.any():
        raise ValueError(f"{fn}: y_true has no positive example, so recall is undefined")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # the last position of each run of equal scores: everything up to it is predicted positive
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[ends].astype(np.float64)
    fps = (ends + 1) - tps
    precision = _safe_divide(tps, tps + fps)
    recall = tps / tps[-1]
    return (
        np.r_[precision[::-1], 1.0],
        np.r_[recall[::-1], 0.0],
        s[ends][::-1].copy(),
    )
