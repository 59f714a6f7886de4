"""Loss functions: each returns ``(loss, d_loss / d_first_argument)``; the criteria modules
(``MSELoss``, ``CrossEntropyLoss``, ...) keep that gradient for ``backward()``.

The loss is the mean (over all elements for the elementwise losses, over the batch for the
classification losses), and the gradient includes that 1/N, matching PyTorch's
``reduction="mean"``. The loss is a Python float; the gradient has the shape and dtype of the
first argument. Elementwise losses never broadcast: ``(N, 1)`` against ``(N,)`` is a ValueError.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array, check_labels, check_ndim, check_positive, check_same_shape
from nnlib.activations import _log_softmax, _sigmoid
from nnlib.module import Module

__all__ = [
    "mse_loss",
    "mae_loss",
    "huber_loss",
    "bce_with_logits_loss",
    "softmax_cross_entropy_loss",
    "hinge_loss",
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "MultiClassHingeLoss",
]


def _pair(a: ArrayLike, b: ArrayLike, fn: str, names: tuple[str, str]):
    a = as_array(a, fn, names[0])
    b = as_array(b, fn, names[1])
    check_same_shape(a, b, fn, names)
    if a.size == 0:
        raise ValueError(f"{fn}: {names[0]} is empty (shape {a.shape}); the mean is undefined")
    return a, b


def _real(value: Any, fn: str, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: {name} must be a real number, got {value!r}") from None
    # A Python float keeps float32 arrays float32 (a NumPy float64 scalar would upcast them).
    return v


def _scores(scores: ArrayLike, y: ArrayLike, fn: str, name: str):
    scores = as_array(scores, fn, name)
    check_ndim(scores, 2, fn, name, "(N, K)")
    N, K = scores.shape
    if N == 0:
        raise ValueError(f"{fn}: {name} has an empty batch (shape {scores.shape})")
    y = check_labels(y, N, K, fn)
    return scores, y


def mse_loss(y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
    """loss = mean((y_hat - y)**2), dy_hat = 2 (y_hat - y) / n over all n elements.

    Shapes: y_hat (any), y (same shape) -> loss (), dy_hat (same as y_hat).
    Same as torch.nn.MSELoss(reduction="mean").
    """
    y_hat, y = _pair(y_hat, y, "mse_loss", ("y_hat", "y"))
    diff = y_hat - y
    loss = np.mean(diff * diff)
    dy_hat = 2 * diff / diff.size
    return float(loss), np.asarray(dy_hat, dtype=y_hat.dtype)


def mae_loss(y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
    """loss = mean(|y_hat - y|), dy_hat = sign(y_hat - y) / n over all n elements (sign(0) = 0).

    Shapes: y_hat (any), y (same shape) -> loss (), dy_hat (same as y_hat).
    Same as torch.nn.L1Loss(reduction="mean"), including the subgradient 0 at y_hat == y.
    """
    y_hat, y = _pair(y_hat, y, "mae_loss", ("y_hat", "y"))
    diff = y_hat - y
    loss = np.mean(np.abs(diff))
    dy_hat = np.sign(diff) / diff.size
    return float(loss), np.asarray(dy_hat, dtype=y_hat.dtype)


def huber_loss(y_hat: ArrayLike, y: ArrayLike, delta: float = 1.0) -> tuple[float, np.ndarray]:
    """loss = mean(0.5 r**2 if |r| <= delta else delta (|r| - 0.5 delta)), r = y_hat - y.

    dy_hat = clip(r, -delta, delta) / n over all n elements.
    Shapes: y_hat (any), y (same shape), delta > 0 -> loss (), dy_hat (same as y_hat).
    Same as torch.nn.HuberLoss(reduction="mean", delta=delta); with delta = 1 it equals
    torch.nn.SmoothL1Loss.
    """
    fn = "huber_loss"
    delta = _real(delta, fn, "delta")
    check_positive(delta, fn, "delta")
    y_hat, y = _pair(y_hat, y, fn, ("y_hat", "y"))
    r = y_hat - y
    abs_r = np.abs(r)
    quadratic = abs_r <= delta
    loss = np.mean(np.where(quadratic, 0.5 * r * r, delta * (abs_r - 0.5 * delta)))
    dy_hat = np.clip(r, -delta, delta) / r.size
    return float(loss), np.asarray(dy_hat, dtype=y_hat.dtype)


def bce_with_logits_loss(logits: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
    """loss = mean(max(z, 0) - z y + log(1 + exp(-|z|))), dz = (sigmoid(z) - y) / n.

    That is the mean binary cross-entropy -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] of
    logits z against targets y in [0, 1] (soft targets allowed), written so that no exp
    overflows and no log sees 0: finite for any finite z.
    Shapes: logits (any), y (same shape) -> loss (), dlogits (same as logits).
    Same as torch.nn.BCEWithLogitsLoss(reduction="mean").
    """
    fn = "bce_with_logits_loss"
    z, y = _pair(logits, y, fn, ("logits", "y"))
    if not np.all((y >= 0) & (y <= 1)):
        bad = y[~((y >= 0) & (y <= 1))]
        raise ValueError(
            f"{fn}: y must hold targets in [0, 1] (for example 0/1 labels), "
            f"got values such as {bad.flat[0]!r}"
        )
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    dz = (_sigmoid(z) - y) / z.size
    return float(loss), np.asarray(dz, dtype=z.dtype)


def softmax_cross_entropy_loss(logits: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
    """loss = mean_i(logsumexp(z_i) - z_i[y_i]), dz = (softmax(z) - onehot(y)) / N.

    Shapes: logits (N, K), y (N,) integer class indices in [0, K) -> loss (), dlogits (N, K).
    Same as torch.nn.CrossEntropyLoss(reduction="mean") with integer targets.
    """
    fn = "softmax_cross_entropy_loss"
    z, y = _scores(logits, y, fn, "logits")
    N = z.shape[0]
    log_probs = _log_softmax(z)
    rows = np.arange(N)
    loss = -np.mean(log_probs[rows, y])
    dz = np.exp(log_probs)
    dz[rows, y] -= 1
    dz /= N
    return float(loss), np.asarray(dz, dtype=z.dtype)


def hinge_loss(
    scores: ArrayLike, y: ArrayLike, margin: float = 1.0
) -> tuple[float, np.ndarray]:
    """loss = mean_i sum_{j != y_i} max(0, s_ij - s_i,y_i + margin)  (multiclass SVM, CS231n).

    dscores_ij = [s_ij - s_i,y_i + margin > 0] / N for j != y_i, and
    dscores_i,y_i = -(number of such j) / N. At the kink (exactly 0) the subgradient is 0.
    Shapes: scores (N, K), y (N,) integer class indices in [0, K), margin >= 0 -> loss (),
    dscores (N, K).
    torch.nn.MultiMarginLoss (p=1) additionally divides each example's sum by K: this loss is
    K times MultiMarginLoss(margin=margin).
    """
    fn = "hinge_loss"
    margin = _real(margin, fn, "margin")
    check_positive(margin, fn, "margin", allow_zero=True)
    s, y = _scores(scores, y, fn, "scores")
    N = s.shape[0]
    rows = np.arange(N)
    margins = s - s[rows, y][:, None] + margin
    active = margins > 0
    active[rows, y] = False
    loss = np.sum(np.where(active, margins, 0)) / N
    ds = active.astype(s.dtype)
    ds[rows, y] = -np.sum(active, axis=1)
    ds /= N
    return float(loss), ds


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class _Loss(Module):
    """``loss = crit(y_hat, y)`` returns a float and keeps d loss / d y_hat for ``backward()``."""

    # Whether fit/evaluate report accuracy alongside this loss.
    classification: ClassVar[bool] = False

    def __init__(self) -> None:
        self._grad: np.ndarray | None = None

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def forward(self, y_hat: ArrayLike, y: ArrayLike) -> float:
        loss, self._grad = self._loss(y_hat, y)
        return float(loss)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """d loss / d y_hat, scaled by the upstream scalar ``dout``.  Shape: that of y_hat."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss")
        return self._grad * dout


class MSELoss(_Loss):
    """loss = mean((y_hat - y)^2) over all elements.  Shapes: y_hat, y (same) -> float."""

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return mse_loss(y_hat, y)


class L1Loss(_Loss):
    """loss = mean(|y_hat - y|) over all elements.  Shapes: y_hat, y (same) -> float."""

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return mae_loss(y_hat, y)


class HuberLoss(_Loss):
    """loss = mean(0.5 r^2 if |r| <= delta else delta (|r| - delta / 2)), r = y_hat - y.
    Shapes: y_hat, y (same) -> float."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = delta

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return huber_loss(y_hat, y, self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}"


class BCEWithLogitsLoss(_Loss):
    """loss = mean(max(z, 0) - z y + log(1 + exp(-|z|))).  Shapes: logits z, targets y in [0, 1]
    (same) -> float."""

    classification = True

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return bce_with_logits_loss(y_hat, y)


class CrossEntropyLoss(_Loss):
    """loss = mean over N of logsumexp(z_i) - z_i[y_i].  Shapes: logits z (N, K), y (N,) int
    -> float."""

    classification = True

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return softmax_cross_entropy_loss(y_hat, y)


class MultiClassHingeLoss(_Loss):
    """loss = mean over N of sum_{j != y_i} max(0, s_j - s_{y_i} + margin).  Shapes: scores s
    (N, K), y (N,) int -> float.  (torch.nn.MultiMarginLoss also divides by K.)"""

    classification = True

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return hinge_loss(y_hat, y, self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
