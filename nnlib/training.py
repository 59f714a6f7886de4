"""The training loop, Keras-style: ``fit(...) -> History``, ``evaluate``, ``predict``,
``minibatches`` and ``accuracy``; model selection: ``kfold_indices``, ``cross_validate`` and
the ``EarlyStopping`` callback.

``fit`` runs, per epoch: shuffle with the injected rng, then for every mini-batch forward, loss,
``zero_grad``, backward, ``step``. It records the epoch-mean training loss (and accuracy for
classification losses) and, when given validation data, the validation loss and accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from tqdm.auto import tqdm

from nnlib._validate import as_array, check_labels, check_positive_int, check_rng
from nnlib.modules import Module, _Loss
from nnlib.optim import Optimizer

__all__ = [
    "History",
    "Callback",
    "minibatches",
    "accuracy",
    "predict",
    "evaluate",
    "fit",
    "kfold_indices",
    "cross_validate",
    "EarlyStopping",
]


class History:
    """What ``fit`` recorded: ``history`` {"loss": [...], "accuracy": [...], "val_loss": [...],
    "val_accuracy": [...]} (one value per epoch, accuracy only for classification losses,
    val_* only with validation data), ``epoch`` [0, 1, ...] and ``params`` (the fit settings).
    """

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = dict(params or {})

    def _record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class Callback:
    """Hooks ``fit`` calls. ``on_epoch_end`` returning True stops training after that epoch.

    ``fit`` sets ``self.model`` and ``self.history`` before ``on_train_begin``. A plain function
    ``f(epoch, logs)`` may be passed instead of a Callback; it acts as ``on_epoch_end``.
    """

    model: Module | None = None
    history: History | None = None

    def on_train_begin(self) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after each epoch with the values just recorded; return True to stop."""
        return None

    def on_train_end(self) -> None:
        """Called once after the last epoch (also after an early stop)."""


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[int, dict[str, float]], bool | None]) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return self.fn(epoch, logs)


def _check_xy(X: ArrayLike, y: ArrayLike, fn: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"{fn}: X and y need a batch axis, got shapes {X.shape} and {y.shape}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{fn}: X and y must have the same number of rows N, got X {X.shape} and y {y.shape}"
        )
    return X, y


def minibatches(
    X: ArrayLike,
    y: ArrayLike,
    batch_size: int,
    rng: np.random.Generator | None = None,
    *,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (X[idx], y[idx]) for consecutive blocks idx of a permutation of range(N).

    Shapes: X (N, ...), y (N, ...) -> batches (B, ...) with B = batch_size, the last batch
    possibly smaller. ``shuffle=True`` permutes with ``rng`` (required); ``shuffle=False`` keeps
    the order. Arguments are checked when called, before the first batch is requested.
    """
    fn = "minibatches"
    X, y = _check_xy(X, y, fn)
    batch_size = check_positive_int(batch_size, fn, "batch_size")
    if shuffle:
        if rng is None:
            raise ValueError(f"{fn}: shuffle=True needs rng=np.random.default_rng(seed)")
        check_rng(rng, fn)
    order = rng.permutation(X.shape[0]) if shuffle else None
    return _batches(X, y, batch_size, order)


def _batches(
    X: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, X.shape[0], batch_size):
        if order is None:
            yield X[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield X[idx], y[idx]


def accuracy(y_pred: ArrayLike, y: ArrayLike) -> float:
    """Fraction of correct predictions, in [0, 1].

    Shapes: y_pred (N, K) scores (prediction = argmax over K), y (N,) int; or y_pred (N,)
    integer labels, y (N,); or y_pred (N,) / (N, 1) float logits of a binary task (prediction =
    logit > 0), y of the same length with values 0/1.
    """
    fn = "accuracy"
    y_pred = np.asarray(y_pred)
    y = np.asarray(y)
    if y_pred.ndim == 0 or y_pred.shape[0] == 0:
        raise ValueError(
            f"{fn}: y_pred must hold at least one prediction, got shape {y_pred.shape}"
        )
    n = y_pred.shape[0]
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        as_array(y_pred, fn, "y_pred")
        if y.shape == y_pred.shape:
            raise ValueError(
                f"{fn}: y must be integer class indices (N,), got the shape of y_pred "
                f"{y.shape} (one-hot? use y.argmax(axis=1))"
            )
        labels = check_labels(y, n, y_pred.shape[1], fn)
        return float(np.mean(np.argmax(y_pred, axis=1) == labels))
    if y_pred.ndim == 1 and np.issubdtype(y_pred.dtype, np.integer):
        labels = check_labels(y, n, None, fn)
        return float(np.mean(y_pred == labels))
    if y_pred.ndim in (1, 2):
        logits = as_array(y_pred, fn, "y_pred").reshape(-1)
        # (N, 1) targets pair with (N, 1) logits, as BCEWithLogitsLoss wants them.
        target = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        labels = check_labels(target, n, 2, fn)
        return float(np.mean((logits > 0) == labels))
    raise ValueError(
        f"{fn}: y_pred must have shape (N, K), (N,) or (N, 1), got shape {y_pred.shape}"
    )


def _is_classification(loss_fn: Any, y: np.ndarray) -> bool:
    if isinstance(loss_fn, _Loss):
        return type(loss_fn).classification
    # Custom criteria: integer targets mean class labels.
    return bool(np.issubdtype(y.dtype, np.integer))


def _forward_batches(model: Module, X: np.ndarray, batch_size: int | None) -> Iterator[Any]:
    if batch_size is None or X.shape[0] == 0:
        yield X, model(X)
        return
    for start in range(0, X.shape[0], batch_size):
        Xb = X[start : start + batch_size]
        yield Xb, model(Xb)


def predict(model: Module, X: ArrayLike, batch_size: int | None = None) -> np.ndarray:
    """y_hat = model(X) in eval mode, then the previous mode is restored.

    Shapes: X (N, ...) -> y_hat (N, ...). With ``batch_size`` the forward runs in chunks and the
    outputs are concatenated.
    """
    fn = "predict"
    X = np.asarray(X)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, fn, "batch_size")
    was_training = model.training
    model.eval()
    try:
        outs = [out for _, out in _forward_batches(model, X, batch_size)]
    finally:
        model.train(was_training)
    return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)


def evaluate(
    model: Module, loss_fn: Any, X: ArrayLike, y: ArrayLike, *, batch_size: int | None = None
) -> dict[str, float]:
    """{"loss": mean loss over all N, "accuracy": ...} in eval mode (previous mode restored).

    Shapes: X (N, ...), y (N, ...). Accuracy is included for classification losses only.
    With ``batch_size`` the loss is averaged over chunks weighted by their size.
    """
    fn = "evaluate"
    X, y = _check_xy(X, y, fn)
    if X.shape[0] == 0:
        raise ValueError(f"{fn}: X has no rows (shape {X.shape})")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, fn, "batch_size")
    classify = _is_classification(loss_fn, y)
    was_training = model.training
    model.eval()
    total_loss = 0.0
    total_correct = 0.0
    try:
        start = 0
        for Xb, out in _forward_batches(model, X, batch_size):
            n = Xb.shape[0]
            yb = y[start : start + n]
            start += n
            total_loss += float(loss_fn(out, yb)) * n
            if classify:
                total_correct += accuracy(out, yb) * n
    finally:
        model.train(was_training)
    N = X.shape[0]
    result = {"loss": total_loss / N}
    if classify:
        result["accuracy"] = total_correct / N
    return result


def fit(
    model: Module,
    loss_fn: Any,
    optimizer: Optimizer,
    X: ArrayLike,
    y: ArrayLike,
    *,
    epochs: int,
    batch_size: int = 32,
    rng: np.random.Generator,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    verbose: bool = True,
    callbacks: Sequence[Callback | Callable[[int, dict[str, float]], bool | None]] | None = None,
) -> History:
    """Train ``model`` by mini-batch gradient descent; returns the per-epoch History.

    Shapes: X (N, ...), y (N,) int labels or (N, ...) targets. Per epoch: shuffle with ``rng``;
    per batch: y_hat = model(X_b), loss_fn(y_hat, y_b), optimizer.zero_grad(),
    model.backward(loss_fn.backward()), optimizer.step(). The model is in train mode during
    the epoch and in eval mode for validation; its mode on entry is restored at the end. One
    tqdm progress bar over epochs shows the latest values (nothing is printed when
    ``verbose=False``). As in Keras, the training loss and accuracy are means over the epoch's
    batches (weighted by batch size) taken as the weights change, not a re-evaluation at the
    end of the epoch. A NaN or infinite loss raises FloatingPointError naming the epoch.
    """
    fn = "fit"
    X, y = _check_xy(X, y, fn)
    if X.shape[0] == 0:
        raise ValueError(f"{fn}: X has no rows (shape {X.shape})")
    epochs = check_positive_int(epochs, fn, "epochs")
    batch_size = check_positive_int(batch_size, fn, "batch_size")
    check_rng(rng, fn)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{fn}: optimizer must be an nnlib Optimizer, got {type(optimizer).__name__}"
        )
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(f"{fn}: validation_data must be a pair (X_val, y_val)")
        X_val, y_val = _check_xy(*validation_data, f"{fn} (validation_data)")
    cbs: list[Callback] = []
    for cb in callbacks or ():
        if isinstance(cb, Callback):
            cbs.append(cb)
        elif callable(cb):
            cbs.append(_FunctionCallback(cb))
        else:
            raise TypeError(f"{fn}: callbacks must be Callbacks or functions, got {cb!r}")

    N = X.shape[0]
    classify = _is_classification(loss_fn, y)
    history = History(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "steps": math.ceil(N / batch_size),
            "num_samples": N,
        }
    )
    for cb in cbs:
        cb.model, cb.history = model, history
        cb.on_train_begin()

    was_training = model.training
    bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not verbose, leave=True)
    try:
        for epoch in bar:
            model.train()
            total_loss = 0.0
            total_correct = 0.0
            for batch, (Xb, yb) in enumerate(minibatches(X, y, batch_size, rng=rng)):
                y_hat = model(Xb)
                loss = float(loss_fn(y_hat, yb))
                if not math.isfinite(loss):
                    raise FloatingPointError(
                        f"{fn}: the training loss became {loss} in epoch {epoch + 1} of "
                        f"{epochs} (batch {batch + 1}); try a smaller learning rate or check "
                        "the data for NaN/inf"
                    )
                optimizer.zero_grad()
                if model.accepts_input_grad:
                    model.backward(loss_fn.backward(), input_grad=False)  # X needs no gradient
                else:
                    model.backward(loss_fn.backward())
                optimizer.step()
                n = Xb.shape[0]
                total_loss += loss * n
                if classify:
                    total_correct += accuracy(y_hat, yb) * n
            logs = {"loss": total_loss / N}
            if classify:
                logs["accuracy"] = total_correct / N
            if validation_data is not None:
                val = evaluate(model, loss_fn, X_val, y_val, batch_size=batch_size)
                if not math.isfinite(val["loss"]):
                    raise FloatingPointError(
                        f"{fn}: the validation loss became {val['loss']} after epoch "
                        f"{epoch + 1} of {epochs}; the weights are no longer finite"
                    )
                logs.update({f"val_{k}": v for k, v in val.items()})
            history._record(epoch, logs)
            bar.set_postfix({k.replace("accuracy", "acc"): f"{v:.4f}" for k, v in logs.items()})
            stop = False
            for cb in cbs:
                stop = bool(cb.on_epoch_end(epoch, dict(logs))) or stop
            if stop:
                break
    finally:
        bar.close()
        model.train(was_training)
    for cb in cbs:
        cb.on_train_end()
    return history


# ---------------------------------------------------------------------------------------------
# Model selection: k-fold cross-validation and early stopping
# ---------------------------------------------------------------------------------------------


def kfold_indices(
    n_samples: int, k: int, rng: np.random.Generator | None = None, *, shuffle: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split range(n_samples) into k folds; return [(train_idx, val_idx), ...], one per fold.

    ``order = rng.permutation(N)`` (``shuffle=False``: ``arange(N)``) is cut into k consecutive
    folds whose sizes are those of scikit-learn's ``KFold``: the first ``N % k`` folds hold
    ``N // k + 1`` indices, the others ``N // k``. Fold i's ``val_idx`` is its block of
    ``order`` (in that order); its ``train_idx`` holds every other index, sorted ascending.
    Every index is validated exactly once. Shapes: val_idx (N_i,), train_idx (N - N_i,) int64.
    """
    fn = "kfold_indices"
    n_samples = check_positive_int(n_samples, fn, "n_samples")
    k = check_positive_int(k, fn, "k")
    if k < 2:
        raise ValueError(f"{fn}: k must be at least 2 (one fold to validate, one to train)")
    if k > n_samples:
        raise ValueError(f"{fn}: k={k} folds need at least k samples, got n_samples={n_samples}")
    if shuffle:
        if rng is None:
            raise ValueError(f"{fn}: shuffle=True needs rng=np.random.default_rng(seed)")
        check_rng(rng, fn)
        order = rng.permutation(n_samples)
    else:
        order = np.arange(n_samples)
    sizes = np.full(k, n_samples // k, dtype=np.int64)
    sizes[: n_samples % k] += 1
    folds = []
    start = 0
    for size in sizes:
        val = order[start : start + size].astype(np.int64)
        in_val = np.zeros(n_samples, dtype=bool)
        in_val[val] = True
        folds.append((np.flatnonzero(~in_val).astype(np.int64), val))
        start += size
    return folds


def cross_validate(
    train_and_score: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float],
    X: ArrayLike,
    y: ArrayLike,
    k: int = 5,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """scores[i] = train_and_score(X[train_i], y[train_i], X[val_i], y[val_i]) for the k folds
    of ``kfold_indices(N, k, rng=rng)``, in fold order.

    Shapes: X (N, ...), y (N, ...) -> scores (k,) float64. ``train_and_score`` trains a fresh
    model on the training part and returns its score (e.g. accuracy) on the validation part;
    report ``scores.mean()`` and ``scores.std()``.
    """
    fn = "cross_validate"
    if not callable(train_and_score):
        raise TypeError(f"{fn}: train_and_score must be a function, got {train_and_score!r}")
    X, y = _check_xy(X, y, fn)
    check_rng(rng, fn)
    folds = kfold_indices(X.shape[0], k, rng=rng)
    scores = np.empty(len(folds))
    for i, (train, val) in enumerate(folds):
        scores[i] = float(train_and_score(X[train], y[train], X[val], y[val]))
    return scores


class EarlyStopping(Callback):
    """Stop ``fit`` when ``monitor`` has not improved for ``patience`` epochs (Keras semantics).

    An epoch improves when its value beats the best so far by more than ``min_delta``
    (mode "min": ``current < best - min_delta``; mode "max": ``current > best + min_delta``;
    mode "auto" is "max" for names containing "acc", else "min"). Then ``best``,
    ``best_epoch`` and, with ``restore_best_weights``, a copy of the weights
    (``model.state_dict()``) are kept and ``wait`` goes back to 0; otherwise ``wait`` grows by
    one, and training stops once ``wait >= patience``. At the end of training, stopped early or
    not, ``restore_best_weights=True`` loads the best epoch's weights back into the model
    (``load_state_dict``), as Keras 3 does. ``stopped_epoch`` is the epoch (0-based) after
    which training stopped, or None.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        fn = "EarlyStopping"
        if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 0:
            raise ValueError(f"{fn}: patience must be an integer >= 0, got {patience!r}")
        if not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"{fn}: min_delta must be a finite number >= 0, got {min_delta!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{fn}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)
        self.on_train_begin()

    def on_train_begin(self) -> None:
        """Reset the state, so that one callback can serve several runs."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def _improved(self, current: float) -> bool:
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        """Record an improvement, or count one more epoch without; True means stop now."""
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping: monitor={self.monitor!r} is not among the values fit recorded "
                f"{sorted(logs)} (val_* needs validation_data)"
            )
        current = float(logs[self.monitor])
        if self._improved(current):
            self.best = current
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights and self.model is not None:
                self.best_weights = self.model.state_dict()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self) -> None:
        """Load the best epoch's weights back (``restore_best_weights=True``)."""
        if self.restore_best_weights and self.best_weights is not None and self.model is not None:
            self.model.load_state_dict(self.best_weights)
