"""Checks of lesson 06, the training loop and model evaluation.

``solutions/06_training_loop_and_evaluation``: mini-batches, the train/validation/test split,
the training loop, the confusion matrix, precision/recall/F1, k-fold cross-validation and early
stopping. Each exercise has its visible checks, ``<name>(fn)``, and its hidden checks,
``<name>_hidden(fn)``, which compare ``fn`` with ``nnlib`` on generated cases.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nnlib
import nnlib.data
import nnlib.metrics
import nnlib.training
from nncourse.checks._contract import GradingError, ensure, exercise_check
from nncourse.testing import (
    assert_close,
    batch_size_for,
    check_against_reference,
    explain_exception,
    forbid_reference,
    hidden_seed,
    scale_for,
)

SLUG = "training_loop_and_evaluation"

__all__ = [
    "minibatches", "minibatches_hidden",
    "train_val_test_split", "train_val_test_split_hidden",
    "train_with_validation", "train_with_validation_hidden",
    "confusion_matrix", "confusion_matrix_hidden",
    "precision_recall_f1", "precision_recall_f1_hidden",
    "kfold_indices", "kfold_indices_hidden",
    "cross_validate", "cross_validate_hidden",
    "early_stopping_step", "early_stopping_step_hidden",
]


def _forbid_sklearn(fn: Callable[..., Any], module: str, attrs: Sequence[str], message: str,
                    args: Sequence[Any]) -> None:
    """When scikit-learn's ``module`` is loaded, fail if ``fn`` uses one of its ``attrs``."""
    __tracebackhide__ = True
    if module not in sys.modules:
        return
    refs: list[Any] = []
    for attr in attrs:
        obj: Any = sys.modules[module]
        for part in attr.split("."):
            obj = getattr(obj, part)
        refs += [obj, getattr(obj, "__wrapped__", obj)]
    try:
        forbid_reference(fn, *refs, args=args)
    except GradingError:
        raise GradingError(message) from None


# ---------------------------------------------------------------------------------------------
# minibatches
# ---------------------------------------------------------------------------------------------


@exercise_check
def minibatches(fn: Callable[..., Any]) -> None:
    """Visible checks of ``minibatches(X, y, batch_size, rng)``:

    - it is not ``nnlib.training.minibatches`` and does not call it;
    - it gives something (a generator or a list), and leaves ``X`` and ``y`` unchanged;
    - every item is a pair ``(X_batch, y_batch)``, in that order;
    - N = 10, batch_size = 4 gives batches of 4, 4 and 2 rows (the last, smaller one kept);
    - each row of ``X_batch`` still goes with its label in ``y_batch``;
    - one epoch visits every row exactly once, shuffled, in the order ``rng.permutation(N)``
      drawn from the ``rng`` passed in;
    - two calls with the same generator give two different orders (a new epoch, a new order);
    - images ``(N, 8, 8)``, a batch larger than N, and batches of one.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.training.minibatches,
                     args=(np.zeros((5, 2)), np.arange(5), 2, np.random.default_rng(0)))
    forbid_reference(lambda *a: list(fn(*a)), nnlib.training.minibatches, name="minibatches",
                     args=(np.zeros((5, 2)), np.arange(5), 2, np.random.default_rng(0)))

    # Rows of X carry their label: X[n] = [10 y[n], 10 y[n] + 1, 10 y[n] + 2].
    y = np.arange(10)
    X = 10 * y[:, None] + np.arange(3)
    X_before, y_before = X.copy(), y.copy()
    try:
        result = fn(X, y, 4, np.random.default_rng(0))
        ensure(result is not None,
                "minibatches returned None: `yield` (or `return` a list of) the pairs, don't "
                "print them")
        batches = list(result)
    except IndexError as err:
        raise GradingError(
            f"minibatches(X, y, 4, rng) with X of shape (10, 3) raised IndexError: {err}. The "
            "permutation orders the N rows of X: N is the number of rows, X.shape[0] (X.size "
            "counts every entry, N * 3 here).") from None
    except GradingError:
        raise
    except Exception as err:
        raise GradingError(
            f"minibatches(X, y, 4, rng) raised {explain_exception(err)}") from None
    ensure(np.array_equal(X, X_before) and np.array_equal(y, y_before),
            "minibatches changed X or y in place (rng.shuffle(X) shuffles the caller's array): "
            "index with a permutation instead, X[idx] and y[idx] make new arrays.")
    ensure(all(isinstance(b, (tuple, list)) and len(b) == 2 for b in batches),
            "minibatches should give pairs (X_batch, y_batch); yours gave "
            f"{type(batches[0]).__name__ if batches else 'nothing'} items" + (
                ": did you `return` inside the loop instead of `yield`?"
                if batches and isinstance(batches[0], np.ndarray) else ""))
    ensure(all(np.ndim(b[0]) == 2 and np.ndim(b[1]) == 1 for b in batches),
            "each pair should be (X_batch, y_batch), in that order: with X of shape (10, 3) and "
            "y of shape (10,) the first batch came as a pair of shapes "
            f"({np.shape(batches[0][0])}, {np.shape(batches[0][1])}); expected ((4, 3), (4,))")
    sizes = [len(b[1]) for b in batches]
    ensure(sizes == [4, 4, 2],
            f"minibatches(X, y, batch_size=4, rng) with N = 10 gave batches of sizes {sizes}; "
            "expected [4, 4, 2]: blocks of batch_size rows, and keep the last, smaller batch.")
    for Xb, yb in batches:
        ensure(np.array_equal(Xb[:, 0], 10 * yb),
                "the rows of X_batch and y_batch do not match any more: select both with the "
                "SAME index array (one permutation for X and y, not one each).")
    seen = np.concatenate([b[1] for b in batches])
    ensure(sorted(seen.tolist()) == list(range(10)),
            f"one epoch must visit every row exactly once; the labels seen were {seen.tolist()}. "
            "Draw ONE permutation per call, rng.permutation(N), before the loop over the "
            "batches, and slice it (not draws with replacement, nor a new permutation for every "
            "batch).")
    ensure(not np.array_equal(seen, np.arange(10)),
            "the batches come in the original row order: shuffle them with rng.permutation(N).")
    assert_close(seen, np.random.default_rng(0).permutation(10),
                 name="the rows visited by minibatches(X, y, 4, np.random.default_rng(0)), in "
                      "order (they should follow rng.permutation(10), drawn from the rng passed "
                      "in)",
                 layout="(N,) = (10,)", reveal=True)
    # A new order on every call with the same generator: every epoch is shuffled again.
    gen = np.random.default_rng(1)
    epoch1 = np.concatenate([b[1] for b in fn(X, y, 3, gen)])
    epoch2 = np.concatenate([b[1] for b in fn(X, y, 3, gen)])
    ensure(not np.array_equal(epoch1, epoch2),
            "two calls with the same rng gave the same order: draw a new rng.permutation(N) "
            "inside the function, on every call (every epoch), and use the `rng` passed in, not "
            "a new generator.")
    # Images (N, 8, 8), a batch larger than N, and batches of one.
    imgs = np.arange(5 * 64.0).reshape(5, 8, 8)
    big = list(fn(imgs, np.arange(5), 32, np.random.default_rng(2)))
    ensure(len(big) == 1 and big[0][0].shape == (5, 8, 8),
            "with batch_size = 32 > N = 5 there should be one batch holding all 5 images "
            "(5, 8, 8)")
    ones = list(fn(imgs, np.arange(5), 1, np.random.default_rng(2)))
    ensure([b[0].shape for b in ones] == [(1, 8, 8)] * 5,
            "with batch_size = 1 there should be 5 batches of shape (1, 8, 8)")
    print("✔ minibatches passes the visible checks")


def _mb_collect(result: Any, N: int, batch_size: int) -> tuple[np.ndarray, ...]:
    batches = list(result)
    if len(batches) != -(-N // batch_size):
        raise GradingError(f"minibatches gave {len(batches)} batches on a hidden case; there "
                           "should be ceil(N / batch_size), the last one holding the leftovers")
    sizes = np.array([len(b[1]) for b in batches])
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]),
            sizes)


def _make_mb(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    shape = (N, int(rng.integers(1, 6))) if kind != "extreme values" else (N, 3, 4)
    X = rng.normal(size=shape) * scale_for(kind)
    y = rng.integers(0, 10, size=N)
    batch_size = int(rng.integers(1, N + 3)) if kind != "odd sizes" else 2
    return (X, y, batch_size, np.random.default_rng(int(rng.integers(0, 2**31))))


@exercise_check
def minibatches_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``minibatches``: the same batches as ``nnlib.training.minibatches`` (all
    X batches, all y batches, the batch sizes) on generated cases: a batch of one, odd sizes,
    random sizes, and images with extreme values."""
    __tracebackhide__ = True
    check_against_reference(
        lambda X, y, b, rng: _mb_collect(fn(X, y, b, rng), X.shape[0], b),
        lambda X, y, b, rng: _mb_collect(nnlib.training.minibatches(X, y, b, rng=rng),
                                         X.shape[0], b),
        _make_mb, name="minibatches (all X batches, all y batches, then the batch sizes)",
        seed=hidden_seed(f"{SLUG}/minibatches"))


# ---------------------------------------------------------------------------------------------
# train_val_test_split
# ---------------------------------------------------------------------------------------------


@exercise_check
def train_val_test_split(fn: Callable[..., Any]) -> None:
    """Visible checks of ``train_val_test_split(X, y, val_fraction, test_fraction, rng)``:

    - it is not ``nnlib.data.train_val_test_split`` and does not call it;
    - the set sizes are ints that can slice (``math.floor``, not ``np.floor`` alone);
    - ``X`` and ``y`` are left unchanged;
    - it returns six arrays in the order ``(X_train, y_train, X_val, y_val, X_test, y_test)``;
    - N = 10 with fractions 0.25 and 0.15 gives sizes (5, 3, 2): rounded half up;
    - in each set the rows of X still go with their labels; the sets are disjoint and cover
      every row;
    - the rows follow ``rng.permutation(N)``: validation first, then test, then training;
    - a fraction of 0 gives an empty set with the right number of columns.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.data.train_val_test_split,
                     args=(np.zeros((10, 2)), np.arange(10), 0.2, 0.2, np.random.default_rng(0)))

    # Each row of X carries its row number in column 0, and y = 100 + row number.
    X = np.column_stack([np.arange(10.0), np.ones(10)])
    y = 100 + np.arange(10)
    X_before, y_before = X.copy(), y.copy()
    try:
        parts = fn(X, y, 0.25, 0.15, np.random.default_rng(3))
    except TypeError as err:
        if "slice indices must be integers" not in str(err):
            raise
        raise GradingError(
            f"train_val_test_split(X, y, 0.25, 0.15, rng) raised TypeError: {err}. The set sizes "
            "must be Python ints to slice with: math.floor(...) returns an int, np.floor(...) "
            "returns a float (wrap it in int(...)).") from None
    ensure(np.array_equal(X, X_before) and np.array_equal(y, y_before),
            "train_val_test_split changed X or y in place: index them with the permutation "
            "instead of shuffling them.")
    ensure(isinstance(parts, (tuple, list)) and len(parts) == 6,
            "train_val_test_split should return a tuple of six arrays: "
            "(X_train, y_train, X_val, y_val, X_test, y_test)")
    ensure([np.ndim(p) for p in parts] == [2, 1, 2, 1, 2, 1],
            "the six arrays come in the order (X_train, y_train, X_val, y_val, X_test, y_test): "
            "an X, then its y, for each set. With X of shape (10, 2) and y of shape (10,) yours "
            f"had {[np.ndim(p) for p in parts]} axes; expected [2, 1, 2, 1, 2, 1]")
    sizes = [len(p) for p in parts[::2]]
    order = np.random.default_rng(3).permutation(10)
    want_sets = sorted(sorted(r.tolist()) for r in (order[5:], order[:3], order[3:5]))
    got_sets = sorted(sorted(np.asarray(p)[:, 0].astype(int).tolist()) for p in parts[::2])
    ensure(sizes == [5, 3, 2] or got_sets != want_sets,
            f"the sets come back in the wrong order (sizes {tuple(sizes)}, expected (5, 3, 2) "
            "for (train, val, test)): validation is cut first from `order`, but return "
            "(X_train, y_train, X_val, y_val, X_test, y_test)")
    ensure(sizes == [5, 3, 2],
            f"train_val_test_split with N = 10, val_fraction = 0.25, test_fraction = 0.15 gave "
            f"(train, val, test) sizes {tuple(sizes)}; expected (5, 3, 2). Each held-out set "
            "gets its own fraction of N rounded half up, floor(fraction * N + 0.5): 0.25 * 10 = "
            "2.5 -> 3 rows for validation, 0.15 * 10 = 1.5 -> 2 for test, and the training set "
            "takes all the rows left over. (Python's round() rounds half to even, 2.5 -> 2, and "
            "int() truncates, 2.5 -> 2.)")
    for Xp, yp, which in zip(parts[::2], parts[1::2], ["train", "val", "test"], strict=True):
        ensure(np.array_equal(yp, 100 + Xp[:, 0]),
                f"in the {which} set, the rows of X and y do not match any more: select X and y "
                "with the same indices (one permutation for both).")
    rows = np.concatenate([p[:, 0] for p in parts[::2]])
    ensure(sorted(rows.tolist()) == list(range(10)),
            "the three sets must be disjoint and together hold every row exactly once.")
    assert_close(np.concatenate([parts[2][:, 0], parts[4][:, 0], parts[0][:, 0]]), order,
                 name="the rows of (X_val, X_test, X_train) from train_val_test_split(X, y, 0.25, "
                      "0.15, np.random.default_rng(3)), one after the other (should be "
                      "rng.permutation(10): validation first, then test, then training)",
                 layout="(10,)", reveal=True)
    # A fraction of 0 gives an empty set, with the right number of columns.
    X0, _, Xv0, _, Xt0, _ = fn(np.ones((7, 3)), np.arange(7), 0.3, 0.0, np.random.default_rng(0))
    ensure(Xt0.shape == (0, 3) and Xv0.shape == (2, 3) and X0.shape == (5, 3),
            "with N = 7, val_fraction = 0.3, test_fraction = 0.0 the shapes should be train "
            f"(5, 3), val (2, 3), test (0, 3); got {X0.shape}, {Xv0.shape}, {Xt0.shape}")
    print("✔ train_val_test_split passes the visible checks")


def _rounded(count: float) -> int:
    """Half up, as the split's contract rounds its counts."""
    return math.floor(count + 0.5)


def _make_split(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng) + 3 if kind != "batch of one" else 2
    N = 30 if kind == "random" and rng.random() < 0.5 else N      # 0.15 * 30 = 4.5: a tie
    D = int(rng.integers(1, 5))
    X = rng.normal(size=(N, D)) * scale_for(kind)
    y = rng.integers(0, 5, size=N)
    fractions = [(0.0, 0.5), (0.25, 0.25), (0.15, 0.15), (0.1, 0.3), (0.05, 0.0)]
    val_fraction, test_fraction = fractions[int(rng.integers(0, len(fractions)))]
    while N - _rounded(val_fraction * N) - _rounded(test_fraction * N) < 1:
        # no row left for training: the reference refuses such a case, and so may the learner
        val_fraction, test_fraction = fractions[int(rng.integers(0, len(fractions)))]
    return (X, y, val_fraction, test_fraction, np.random.default_rng(int(rng.integers(0, 2**31))))


@exercise_check
def train_val_test_split_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``train_val_test_split``: the same six arrays as
    ``nnlib.data.train_val_test_split`` on generated cases (N = 2, odd sizes, ties at .5,
    fractions of 0, extreme values)."""
    __tracebackhide__ = True
    check_against_reference(
        fn, lambda X, y, v, t, rng: nnlib.data.train_val_test_split(
            X, y, val_fraction=v, test_fraction=t, rng=rng),
        _make_split, name="train_val_test_split",
        seed=hidden_seed(f"{SLUG}/train_val_test_split"))


# ---------------------------------------------------------------------------------------------
# train_with_validation
# ---------------------------------------------------------------------------------------------


def _tiny_setup(seed: int, lr: float, D: int = 4, K: int = 3) -> tuple[Any, Any, Any]:
    r = np.random.default_rng(seed)
    net = nnlib.Sequential(nnlib.Linear(D, 6, rng=r), nnlib.ReLU(), nnlib.Linear(6, K, rng=r))
    return net, nnlib.CrossEntropyLoss(), nnlib.SGD(net.parameters(), lr=lr)


@exercise_check
def train_with_validation(fn: Callable[..., Any]) -> None:
    """Visible checks of ``train_with_validation(model, loss_fn, optimizer, X, y, X_val, y_val,
    epochs, batch_size, rng)`` on a tiny network (N = 10, batches of 4, 4 and 2):

    - it does not call ``nnlib.fit``;
    - ``X``, ``y``, ``X_val``, ``y_val`` are left unchanged;
    - it returns a dict with the four keys, each a list of one Python float per epoch;
    - with lr = 0 (the weights never change) each epoch's loss and accuracy equal those of the
      whole training set: the batch values weighted by each batch's own size and divided by N,
      with true division, sums reset every epoch and a fresh ``minibatches`` call per epoch;
    - with lr = 0 the validation values are ``nnlib.evaluate`` on ``(X_val, y_val)``;
    - with lr = 0.5 the weights change, and three epochs give the same history, number for
      number, as ``nnlib.fit`` from the same weights and generator.
    """
    __tracebackhide__ = True
    r = np.random.default_rng(60)
    X, y = r.normal(size=(10, 4)), r.integers(0, 3, size=10)
    Xv, yv = r.normal(size=(5, 4)), r.integers(0, 3, size=5)
    forbid_reference(fn, nnlib.training.fit,
                     args=(*_tiny_setup(0, 0.1), X, y, Xv, yv, 1, 4, np.random.default_rng(0)))

    inputs_before = [a.copy() for a in (X, y, Xv, yv)]
    logs = fn(*_tiny_setup(0, 0.0), X, y, Xv, yv, 2, 4, np.random.default_rng(0))
    ensure(all(np.array_equal(a, b) for a, b in zip((X, y, Xv, yv), inputs_before,
                                                     strict=True)),
            "train_with_validation changed X, y, X_val or y_val in place")
    ensure(isinstance(logs, dict)
            and sorted(logs) == ["accuracy", "loss", "val_accuracy", "val_loss"],
            'train_with_validation should return a dict with the keys "loss", "accuracy", '
            '"val_loss" and "val_accuracy"; got '
            f"{sorted(logs) if isinstance(logs, dict) else type(logs).__name__}")
    for key, values in logs.items():
        ensure(len(values) == 2,
                f'with epochs = 2, history["{key}"] should hold 2 values, got {len(values)}')
        ensure(all(isinstance(v, float) for v in values),
                f'the values of history["{key}"] should be Python floats (wrap them in '
                f"float(...)); got {[type(v).__name__ for v in values]}")

    # lr = 0: the weights never change, so each epoch's mean of the batch losses (batches of 4,
    # 4 and 2, weighted by size) equals the loss of the whole training set.
    net0, crit0, _ = _tiny_setup(0, 0.0)
    full, val = nnlib.evaluate(net0, crit0, X, y), nnlib.evaluate(net0, crit0, Xv, yv)
    batches = list(nnlib.minibatches(X, y, 4, rng=np.random.default_rng(0)))
    unweighted = np.mean([crit0(net0(Xb), yb) for Xb, yb in batches])
    loss0, loss1 = logs["loss"]
    ensure(not np.isclose(loss0, 10 * full["loss"]),
            "with lr = 0, your epoch loss is N = 10 times the mean loss: divide the "
            "size-weighted sum by N (is your loss the mean over the N examples?)")
    ensure(not (np.isclose(loss0, unweighted) and not np.isclose(unweighted, full["loss"])),
            "with lr = 0 (batches of 4, 4 and 2), your epoch loss is the plain mean of the batch "
            "losses: weight each batch's loss by its size, len(y_b), then divide by N.")
    summed = sum(crit0(net0(Xb), yb) for Xb, yb in batches)
    ensure(not np.isclose(loss0, summed),
           "with lr = 0 (batches of 4, 4 and 2), your epoch loss is the SUM of the 3 batch "
           "losses: each batch's loss is already a mean over its examples. Weight each one by "
           "its size, len(y_b), and divide the total by N.")
    by_batch_size = sum(4 * crit0(net0(Xb), yb) for Xb, yb in batches) / 10
    ensure(not (np.isclose(loss0, by_batch_size) and not np.isclose(by_batch_size, full["loss"])),
            "with lr = 0 (N = 10, batches of 4, 4 and 2), your epoch loss weights every batch by "
            "batch_size = 4, but the last batch holds only 2 examples: weight each batch's loss "
            "by its own size, len(y_b).")
    acc_by_batch_size = sum(4 * nnlib.accuracy(net0(Xb), yb) for Xb, yb in batches) / 10
    ensure(not (np.isclose(logs["accuracy"][0], acc_by_batch_size)
                 and not np.isclose(acc_by_batch_size, full["accuracy"])),
            "with lr = 0 (N = 10, batches of 4, 4 and 2), your epoch accuracy weights every "
            "batch by batch_size = 4, but the last batch holds only 2 examples: weight each "
            "batch's accuracy by its own size, len(y_b).")
    ensure(not np.isclose(loss0, 5 * full["loss"]),
            "with lr = 0 (N = 10, batches of 4, 4 and 2), your epoch loss is 5 times the loss of "
            "the whole training set: the sums were divided by 2, the size of the LAST batch, not "
            "by N = 10. Don't reuse the name N inside the loop.")
    ensure(not (loss0 == np.floor(full["loss"]) != full["loss"]),
            f'with lr = 0, history["loss"][0] = {loss0!r}, the loss of the whole training set '
            f'({full["loss"]:.6g}) rounded down: did you divide with // (integer division, it '
            "rounds down)? Divide by N with /.")
    ensure(not (logs["accuracy"][0] == np.floor(full["accuracy"]) != full["accuracy"]),
            f'with lr = 0, history["accuracy"][0] = {logs["accuracy"][0]!r}, the accuracy on the '
            f'whole training set ({full["accuracy"]:.6g}) rounded down: did you divide with // '
            "(integer division, it rounds down)? Divide by N with /.")
    ensure(not (loss0 != 0 and loss1 == 0),
            f'with lr = 0, history["loss"] is [{loss0:.6g}, 0.0]: the second epoch saw no batch. '
            "Call minibatches(X, y, batch_size, rng) anew inside the epoch loop: a generator is "
            "used up after one pass.")
    ensure(not (np.isclose(loss0, full["loss"]) and np.isclose(loss1, 2 * full["loss"])),
            "with lr = 0, epoch 2's loss is twice epoch 1's: set the running sums back to 0 at "
            "the start of every epoch.")
    assert_close(np.array(logs["loss"]), [full["loss"]] * 2,
                 name='history["loss"] with lr = 0 (the loss of the whole training set, every '
                      "epoch)", layout="(epochs,) = (2,)", reveal=True)
    assert_close(np.array(logs["accuracy"]), [full["accuracy"]] * 2,
                 name='history["accuracy"] with lr = 0 (the accuracy on the whole training set)',
                 layout="(epochs,) = (2,)", reveal=True)
    ensure(not (np.isclose(logs["val_loss"][0], full["loss"])
                 and not np.isclose(val["loss"], full["loss"])),
            f'with lr = 0, history["val_loss"][0] = {logs["val_loss"][0]:.6g} is the loss on the '
            "TRAINING set (X, y): the validation metrics are measured on X_val and y_val.")
    assert_close(np.array(logs["val_loss"]), [val["loss"]] * 2,
                 name='history["val_loss"] with lr = 0 (nnlib.evaluate on X_val, y_val)',
                 layout="(epochs,) = (2,)", reveal=True)
    assert_close(np.array(logs["val_accuracy"]), [val["accuracy"]] * 2,
                 name='history["val_accuracy"] with lr = 0', layout="(epochs,) = (2,)",
                 reveal=True)

    # lr = 0.5, 3 epochs: the same run as nnlib.fit from the same weights and generator.
    net_a, crit_a, opt_a = _tiny_setup(1, 0.5)
    logs_a = fn(net_a, crit_a, opt_a, X, y, Xv, yv, 3, 4, np.random.default_rng(7))
    net_b, crit_b, opt_b = _tiny_setup(1, 0.5)
    logs_b = nnlib.fit(net_b, crit_b, opt_b, X, y, epochs=3, batch_size=4,
                       rng=np.random.default_rng(7), validation_data=(Xv, yv),
                       verbose=False).history
    ensure(not np.allclose(net_a[0].weight.data, _tiny_setup(1, 0.5)[0][0].weight.data),
            "after train_with_validation with lr = 0.5 the weights have not changed: for every "
            "batch call optimizer.zero_grad(), then model.backward(...), then optimizer.step(), "
            "in that order (zero_grad between backward and step would wipe the gradients before "
            "the update)")
    assert_close(logs_a["loss"][0], logs_b["loss"][0],
                 name='history["loss"][0] of a 3-epoch run with lr = 0.5 (epoch 1, compared with '
                      "nnlib.fit; check: batches from minibatches(X, y, batch_size, rng) with the "
                      "rng passed in, zero_grad before every backward, and each batch's loss "
                      "taken in its forward pass, before its update)",
                 what="a float", reveal=True)
    assert_close(np.array(logs_a["loss"]), logs_b["loss"],
                 name='history["loss"] of a 3-epoch run with lr = 0.5, compared with nnlib.fit '
                      "(epoch 1 matches: if later epochs differ, call minibatches(X, y, "
                      "batch_size, rng) anew every epoch with the rng passed in, and zero the "
                      "gradients before each backward)",
                 layout="(epochs,) = (3,)", reveal=True)
    for key in ["accuracy", "val_loss", "val_accuracy"]:
        assert_close(np.array(logs_a[key]), logs_b[key],
                     name=f'history["{key}"] of a 3-epoch run, compared with nnlib.fit (training '
                          "accuracy: each batch's accuracy before its update, weighted by its "
                          "size; val_*: nnlib.evaluate(model, loss_fn, X_val, y_val) after the "
                          "epoch)",
                     layout="(epochs,) = (3,)", reveal=True)
    assert_close(logs_a["val_loss"][-1], nnlib.evaluate(net_a, crit_a, Xv, yv)["loss"],
                 name='history["val_loss"][-1] (the validation loss of the trained model)',
                 what="a float")
    print("✔ train_with_validation passes the visible checks")


_LOOP_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _loop_run(train: Callable[..., Any], X: np.ndarray, y: np.ndarray, X_val: np.ndarray,
              y_val: np.ndarray, epochs: int, batch_size: int, seed: int) -> tuple[Any, ...]:
    net, crit, opt = _tiny_setup(seed, 0.3, D=X.shape[1], K=4)
    logs = train(net, crit, opt, X, y, X_val, y_val, epochs, batch_size,
                 np.random.default_rng(seed + 1))
    if not isinstance(logs, dict) or any(k not in logs for k in _LOOP_KEYS):
        raise GradingError("train_with_validation did not return the dict of four lists on a "
                           "hidden case")
    return tuple(np.asarray(logs[k], dtype=float) for k in _LOOP_KEYS) + tuple(
        p.data.copy() for p in net.parameters())


def _fit_history(net: Any, crit: Any, opt: Any, X: np.ndarray, y: np.ndarray, X_val: np.ndarray,
                 y_val: np.ndarray, epochs: int, batch_size: int,
                 rng: np.random.Generator) -> dict[str, list[float]]:
    run = nnlib.training.fit(net, crit, opt, X, y, epochs=epochs, batch_size=batch_size,
                             rng=rng, verbose=False, validation_data=(X_val, y_val))
    return run.history


def _make_loop(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 6))
    X = rng.normal(size=(N, D)) * (5.0 if kind == "extreme values" else 1.0)
    y = rng.integers(0, 4, size=N)
    N_val = int(rng.integers(1, 9))
    X_val, y_val = rng.normal(size=(N_val, D)), rng.integers(0, 4, size=N_val)
    batch_size = N + 3 if kind == "extreme values" else int(rng.integers(1, N + 1))
    return (X, y, X_val, y_val, int(rng.integers(1, 4)), batch_size, int(rng.integers(0, 1000)))


@exercise_check
def train_with_validation_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``train_with_validation``: the same history and the same final weights
    as ``nnlib.fit`` on generated problems (a batch of one, odd sizes, a batch larger than N,
    1 to 3 epochs)."""
    __tracebackhide__ = True
    check_against_reference(
        lambda *a: _loop_run(fn, *a), lambda *a: _loop_run(_fit_history, *a), _make_loop,
        seed=hidden_seed(f"{SLUG}/train_with_validation"),
        name="train_with_validation (values 1-4: loss, accuracy, val_loss, val_accuracy per "
             "epoch; then the final weights)")


# ---------------------------------------------------------------------------------------------
# confusion_matrix
# ---------------------------------------------------------------------------------------------


def _cm_call(fn: Callable[..., Any], shown: str, *args: Any) -> Any:
    """fn(*args); a failed reshape (np.bincount without minlength) gets advice."""
    __tracebackhide__ = True
    try:
        return fn(*args)
    except ValueError as err:
        if "reshape" not in str(err):
            raise
        raise GradingError(
            f"confusion_matrix({shown}) raised ValueError: {err}. If you count with np.bincount, "
            "pass minlength=K * K: without it the counts stop at the largest pair that occurs, "
            "and the pairs that never occur (here the last ones) get no count.") from None


@exercise_check
def confusion_matrix(fn: Callable[..., Any]) -> None:
    """Visible checks of ``confusion_matrix(y_true, y_pred, num_classes)``:

    - it is neither ``nnlib.metrics.confusion_matrix`` nor scikit-learn's, and calls neither;
    - the labels are left unchanged;
    - rows are the true class, columns the predicted class (not the transpose);
    - a pair that repeats is counted every time;
    - the 3-class example of the text, as an integer matrix;
    - the size comes from ``num_classes``, also when some classes never appear; N = 1.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.metrics.confusion_matrix,
                     args=(np.array([0, 1, 1]), np.array([0, 1, 0]), 2))
    _forbid_sklearn(fn, "sklearn.metrics", ["confusion_matrix"],
                    "confusion_matrix calls scikit-learn's confusion_matrix: this exercise scores "
                    "0 until you count the pairs yourself (the notebook uses scikit-learn only "
                    "to compare).", args=(np.array([0, 1, 1]), np.array([0, 1, 0]), 2))

    t = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 0, 2])
    t_before, p_before = t.copy(), p.copy()
    C = _cm_call(fn, "[0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3", t, p, 3)
    ensure(np.array_equal(t, t_before) and np.array_equal(p, p_before),
            "confusion_matrix changed y_true or y_pred in place")
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    ensure(not (np.shape(C) == (3, 3) and np.array_equal(C, expected.T)),
            "confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3) is the transpose of the "
            "expected matrix: rows are the TRUE class, columns the PREDICTED class "
            "(C[y_true[n], y_pred[n]]).")
    # A pair that repeats must be counted every time.
    C_rep = _cm_call(fn, "[1, 1, 1, 0], [0, 0, 0, 0], 2", np.array([1, 1, 1, 0]),
                     np.array([0, 0, 0, 0]), 2)
    ensure(not np.array_equal(C_rep, [[1, 0], [1, 0]]),
            "confusion_matrix([1, 1, 1, 0], [0, 0, 0, 0], 2) counted the pair (true 1, predicted "
            "0) once, but it occurs 3 times: C[y_true, y_pred] += 1 adds 1 once per distinct "
            "pair. Use a loop, np.add.at(C, (y_true, y_pred), 1) or np.bincount.")
    assert_close(C, expected, name="confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)",
                 layout="(K, K) = (3, 3)", reveal=True)
    ensure(np.issubdtype(np.asarray(C).dtype, np.integer),
            "a confusion matrix holds counts: return an integer array (got dtype "
            f"{np.asarray(C).dtype}); e.g. np.zeros((K, K), dtype=int)")
    assert_close(C_rep, [[1, 0], [3, 0]], name="confusion_matrix([1, 1, 1, 0], [0, 0, 0, 0], 2)",
                 layout="(2, 2)", reveal=True)
    # K comes from num_classes, also when some classes never appear.
    C_wide = _cm_call(fn, "[0, 1], [1, 1], 4", np.array([0, 1]), np.array([1, 1]), 4)
    ensure(np.shape(C_wide) == (4, 4),
            f"confusion_matrix([0, 1], [1, 1], 4) has shape {np.shape(C_wide)}; expected (4, 4): "
            "the size comes from num_classes, not from the labels that happen to appear")
    assert_close(C_wide, [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
                 name="confusion_matrix([0, 1], [1, 1], 4)", layout="(4, 4)", reveal=True)
    C_one = _cm_call(fn, "[2], [0], 3", np.array([2]), np.array([0]), 3)
    assert_close(C_one, [[0, 0, 0], [0, 0, 0], [1, 0, 0]],
                 name="confusion_matrix([2], [0], 3) (N = 1)", layout="(3, 3)", reveal=True)
    print("✔ confusion_matrix passes the visible checks")


def _make_cm(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng) if kind != "extreme values" else 500
    K = int(rng.integers(2, 9)) if kind != "extreme values" else 30
    y_true = rng.integers(0, K, size=N)
    y_pred = np.where(rng.random(N) < 0.5, y_true, rng.integers(0, K, size=N))
    y_pred = np.where(y_pred == K - 1, 0, y_pred)          # the last class is never predicted
    return (y_true, y_pred, K)


@exercise_check
def confusion_matrix_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``confusion_matrix``: the same matrix as
    ``nnlib.metrics.confusion_matrix`` on generated labels (N = 1, odd sizes, 500 labels of 30
    classes, a class never predicted)."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.metrics.confusion_matrix, _make_cm, name="confusion_matrix",
                            layout="(K, K)", seed=hidden_seed(f"{SLUG}/confusion_matrix"))


# ---------------------------------------------------------------------------------------------
# precision_recall_f1
# ---------------------------------------------------------------------------------------------


def _prf_watched(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) right after NumPy has freed small blocks of memory full of NaN, so
    that entries a division leaves unwritten show up; NumPy's warnings are recorded."""
    __tracebackhide__ = True
    junk = [np.full(n, np.nan) for n in range(1, 33) for _ in range(8)]
    del junk
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    if any("without 'out'" in str(w.message) for w in caught):
        raise GradingError(
            "precision_recall_f1 called np.divide(..., where=...) without out=: where the "
            "condition is False, NumPy leaves whatever happened to be in memory (NumPy warns "
            "about it). Pass out=np.zeros(K) so that those entries are 0.")
    return out


@exercise_check
def precision_recall_f1(fn: Callable[..., Any]) -> None:
    """Visible checks of ``precision_recall_f1(y_true, y_pred, num_classes, average=None)``:

    - it is neither ``nnlib.metrics.precision_recall_f1``/``f1_score`` nor scikit-learn's, and
      calls none of them;
    - the ``out=`` array of ``np.divide`` is a float array, and ``out=`` is given whenever
      ``where=`` is;
    - the labels are left unchanged;
    - with ``average=None`` it returns a tuple of three NumPy arrays of shape (K,);
    - precision divides by the column sums, recall by the row sums (not swapped);
    - the 3-class example of the text: precision, recall and F1;
    - a 0/0 ratio counts as 0 (never NaN), also F1 when precision = recall = 0, and K comes from
      ``num_classes``;
    - ``average="macro"`` returns three Python floats, the means over all K classes, macro F1
      being the mean of the per-class F1 values.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.metrics.precision_recall_f1, nnlib.metrics.f1_score,
                     args=(np.array([0, 1, 1]), np.array([0, 1, 0]), 2))
    _forbid_sklearn(fn, "sklearn.metrics", ["precision_recall_fscore_support"],
                    "precision_recall_f1 calls scikit-learn's precision/recall/F1 functions: this "
                    "exercise scores 0 until you compute them yourself from your confusion matrix "
                    "(the notebook uses scikit-learn only to compare).",
                    args=(np.array([0, 1, 1]), np.array([0, 1, 0]), 2))

    # The example of the confusion-matrix section: C = [[1, 1, 0], [0, 1, 0], [1, 0, 2]],
    # column sums (predicted) 2, 2, 2 and row sums (true) 2, 1, 3.
    t = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 0, 2])
    t_before, p_before = t.copy(), p.copy()
    try:
        out = fn(t, p, 3)
    except TypeError as err:
        if "Cannot cast ufunc" not in str(err):
            raise
        raise GradingError(
            f"precision_recall_f1 raised {type(err).__name__}: {err}. The out= array of np.divide "
            "must be a float array, e.g. np.zeros(K): np.zeros_like(tp) is an integer array when "
            "tp holds counts, and NumPy refuses to write the quotients into it.") from None
    ensure(np.array_equal(t, t_before) and np.array_equal(p, p_before),
            "precision_recall_f1 changed y_true or y_pred in place")
    ensure(isinstance(out, tuple) and len(out) == 3,
            "precision_recall_f1 should return a tuple (precision, recall, f1)")
    got = [type(v).__name__ + (str(v.shape) if isinstance(v, np.ndarray) else "") for v in out]
    ensure(all(isinstance(v, np.ndarray) and v.shape == (3,) for v in out),
            "with average=None, precision_recall_f1(y_true, y_pred, 3) should return three NumPy "
            f"arrays of shape (K,) = (3,), not lists; got {got}")
    P, R, F = (np.array(v, dtype=float) for v in out)
    exp_P, exp_R = np.array([1 / 2, 1 / 2, 2 / 2]), np.array([1 / 2, 1 / 1, 2 / 3])
    ensure(not (np.allclose(P, exp_R) and np.allclose(R, exp_P)),
            "precision and recall are swapped: precision divides by the number of PREDICTED "
            "examples of the class (the column sums of C), recall by the number of TRUE examples "
            "(the row sums).")
    call = "precision_recall_f1([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)"
    tp, predicted, true = np.array([1.0, 1.0, 2.0]), np.full(3, 2.0), np.array([2.0, 1.0, 3.0])
    for what, got, total, errors in (("precision", P, predicted, "false positives"),
                                     ("recall", R, true, "false negatives")):
        ensure(not np.allclose(got, tp / (tp + total)),
               f"the {what} of {call} is {np.round(got, 4).tolist()}: it counts the correct "
               f"predictions twice, tp / (tp + {errors}) with the {errors} taken as the whole "
               f"{'column' if what == 'precision' else 'row'} of C, which already holds tp (its "
               "diagonal entry). The errors of class k are its column (or row) minus C[k, k].")
    assert_close(P, exp_P, name=f"the precision of {call}", layout="(K,) = (3,)", reveal=True)
    assert_close(R, exp_R, name=f"the recall of {call}", layout="(K,) = (3,)", reveal=True)
    ensure(not np.allclose(F, (exp_P + exp_R) / 2),
           f"the F1 of {call} is the arithmetic mean (precision + recall) / 2; F1 is their "
           "harmonic mean, 2 * precision * recall / (precision + recall), which is pulled "
           "towards the smaller of the two.")
    assert_close(F, [1 / 2, 2 / 3, 4 / 5], name=f"the F1 of {call}", layout="(K,) = (3,)",
                 reveal=True)

    # Class 2 is never predicted (precision 0/0); class 3 never occurs nor is predicted.
    P0, R0, F0 = (np.array(v, dtype=float) for v in _prf_watched(
        fn, np.array([0, 1, 2, 2]), np.array([0, 1, 1, 0]), 4))
    ensure(not np.any(np.isnan(np.concatenate([P0, R0, F0]))),
            "precision_recall_f1([0, 1, 2, 2], [0, 1, 1, 0], 4) returned NaN: class 2 is never "
            "predicted and class 3 never occurs, so some denominators are 0. Such a ratio counts "
            "as 0 (zero_division=0): np.divide(num, den, out=np.zeros(K), where=den > 0); and for "
            "F1, precision + recall is 0 for those classes: guard that denominator too.")
    ensure(P0.shape == R0.shape == F0.shape == (4,),
            f"precision_recall_f1([0, 1, 2, 2], [0, 1, 1, 0], 4) returned arrays of shape "
            f"{P0.shape}, expected (4,): take K from num_classes, not from the labels: classes "
            "that never occur still get an entry.")
    call = "precision_recall_f1([0, 1, 2, 2], [0, 1, 1, 0], 4)"
    assert_close(P0, [1 / 2, 1 / 2, 0, 0], name=f"the precision of {call}", layout="(4,)",
                 reveal=True)
    assert_close(R0, [1, 1, 0, 0], name=f"the recall of {call}", layout="(4,)", reveal=True)
    assert_close(F0, [2 / 3, 2 / 3, 0, 0], name=f"the F1 of {call}", layout="(4,)", reveal=True)
    # Both classes predicted but never right: precision = recall = 0, F1's 2PR / (P + R) is 0/0.
    P1, R1, F1 = (np.array(v, dtype=float) for v in _prf_watched(
        fn, np.array([0, 0, 1]), np.array([1, 1, 0]), 2))
    ensure(not np.any(np.isnan(np.concatenate([P1, R1, F1]))),
            "precision_recall_f1([0, 0, 1], [1, 1, 0], 2) returned NaN (precision "
            f"{P1}, recall {R1}, F1 {F1}): both classes are predicted, but never correctly, so "
            "precision and recall are 0 and F1 = 2PR / (P + R) is 0/0. That counts as 0 too: "
            "guard the denominator you actually divide by.")
    assert_close(np.concatenate([P1, R1, F1]), np.zeros(6),
                 name="precision, recall and F1 of precision_recall_f1([0, 0, 1], [1, 1, 0], 2), "
                      "one after the other", layout="(3K,) = (6,)", reveal=True)

    # Macro averages: plain means over all K classes, each returned as a float.
    macro = _prf_watched(fn, np.array([0, 1, 2, 2]), np.array([0, 1, 1, 0]), 4, average="macro")
    ensure(isinstance(macro, tuple) and len(macro) == 3
            and all(isinstance(v, float) for v in macro),
            'precision_recall_f1(..., average="macro") should return a tuple of three Python '
            "floats")
    ensure(not (np.isclose(macro[2], 2 / 3) or np.isclose(macro[2], 4 / 9)),
            f'the macro F1 of precision_recall_f1([0, 1, 2, 2], [0, 1, 1, 0], 4, average="macro") '
            f"is {macro[2]:.4g}: it averages only over the classes that occur or are predicted: "
            "macro means over ALL K = 4 classes, the 0s of absent classes included.")
    macro3 = fn(t, p, 3, average="macro")
    mP, mR = np.mean(exp_P), np.mean(exp_R)
    ensure(not np.isclose(macro3[2], 2 * mP * mR / (mP + mR)),
            'the macro F1 of precision_recall_f1([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3, '
            'average="macro") is the harmonic mean of macro precision and macro recall; macro F1 '
            "is the mean of the per-class F1 values (here (1/2 + 2/3 + 4/5) / 3).")
    ensure(not np.isclose(macro3[0], np.average(exp_P, weights=true)),
           'the macro precision of precision_recall_f1([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], '
           f'3, average="macro") is {macro3[0]:.4g}, the mean weighted by each class\'s number '
           'of true examples (scikit-learn\'s average="weighted"). Macro is the plain mean over '
           "the K classes: every class counts the same, however many examples it has.")
    assert_close(macro3, (2 / 3, 13 / 18, (1 / 2 + 2 / 3 + 4 / 5) / 3),
                 name='precision_recall_f1([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3, '
                      'average="macro")', reveal=True)
    assert_close(macro, (1 / 4, 1 / 2, 1 / 3),
                 name='precision_recall_f1([0, 1, 2, 2], [0, 1, 1, 0], 4, average="macro")',
                 reveal=True)
    print("✔ precision_recall_f1 passes the visible checks")


def _make_prf(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng) if kind != "extreme values" else 300
    K = int(rng.integers(2, 8)) if kind != "extreme values" else 25
    y_true = rng.integers(1, K, size=N)                     # class 0 never occurs
    y_pred = np.where(rng.random(N) < 0.6, y_true, rng.integers(0, K, size=N))
    y_pred = np.where(y_pred == K - 1, 1, y_pred)          # the last class is never predicted
    return (y_true, y_pred, K)


@exercise_check
def precision_recall_f1_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``precision_recall_f1``: the same values as
    ``nnlib.metrics.precision_recall_f1``, with ``average=None`` and ``"macro"``, on generated
    labels where one class never occurs and another is never predicted."""
    __tracebackhide__ = True
    seed = hidden_seed(f"{SLUG}/precision_recall_f1")
    for offset, average in enumerate([None, "macro"]):
        check_against_reference(
            lambda t, p, K, a=average: _prf_watched(fn, t, p, K, average=a),
            lambda t, p, K, a=average: nnlib.metrics.precision_recall_f1(t, p, K, average=a),
            _make_prf, name=f"precision_recall_f1(..., average={average!r})", seed=seed + offset)


# ---------------------------------------------------------------------------------------------
# kfold_indices
# ---------------------------------------------------------------------------------------------


@exercise_check
def kfold_indices(fn: Callable[..., Any]) -> None:
    """Visible checks of ``kfold_indices(N, k, rng)`` with N = 10, k = 3:

    - it is neither ``nnlib.training.kfold_indices`` nor scikit-learn's ``KFold``;
    - block sizes are ints (``N // k``), and unequal blocks are cut (not ``np.split``);
    - it returns a list of k pairs ``(train_idx, val_idx)``;
    - the validation folds have sizes 4, 3, 3 and together hold every index once;
    - in each fold: integer arrays, disjoint, together every index, ``train_idx`` sorted;
    - the validation folds, one after the other, are ``rng.permutation(N)``;
    - leave-one-out (k = N) works.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.training.kfold_indices, args=(6, 3, np.random.default_rng(0)))
    _forbid_sklearn(fn, "sklearn.model_selection", ["KFold", "KFold._iter_test_indices"],
                    "kfold_indices uses scikit-learn's KFold: this exercise scores 0 until you "
                    "cut the folds yourself.", args=(6, 3, np.random.default_rng(0)))
    try:
        folds = fn(10, 3, np.random.default_rng(4))
    except TypeError as err:
        if "slice indices must be integers" not in str(err):
            raise
        raise GradingError(
            f"kfold_indices(10, 3, rng) raised TypeError: {err}. Block sizes and positions must "
            "be Python ints to slice with: N // k (integer division), not N / k (a float)."
        ) from None
    except ValueError as err:
        if "equal division" not in str(err):
            raise
        raise GradingError(
            f"kfold_indices(10, 3, rng) raised ValueError: {err}. np.split only cuts equal "
            "blocks; here k = 3 does not divide N = 10, and the first N % k blocks get one extra "
            "index (np.array_split cuts them that way).") from None
    ensure(isinstance(folds, (list, tuple)) and len(folds) == 3,
            "kfold_indices(10, 3, rng) should return a list of 3 pairs (train_idx, val_idx)")
    ensure(all(len(f) == 2 for f in folds), "each fold should be a pair (train_idx, val_idx)")
    val_sizes = [len(v) for _, v in folds]
    ensure(val_sizes == [4, 3, 3],
            f"kfold_indices(10, 3, rng) gave validation folds of sizes {val_sizes}; expected "
            "[4, 3, 3]: the first N % k folds get one extra index (as scikit-learn's KFold), and "
            "no index is left out. Each fold is the pair (train_idx, val_idx), in that order.")
    all_val = np.concatenate([np.asarray(v) for _, v in folds])
    ensure(sorted(all_val.tolist()) == list(range(10)),
            "every index must be in exactly one validation fold; the folds hold "
            f"{sorted(all_val.tolist())}: draw `order` once, before the loop, and cut "
            "consecutive blocks from it (each block starts where the previous one ended)")
    for i, (tr, va) in enumerate(folds):
        tr, va = np.asarray(tr), np.asarray(va)
        ensure(np.issubdtype(tr.dtype, np.integer) and np.issubdtype(va.dtype, np.integer),
                f"fold {i}: train_idx and val_idx should be integer arrays (they index rows)")
        ensure(not set(tr.tolist()) & set(va.tolist()),
                f"fold {i}: an index is both in train_idx and in val_idx; training must not see "
                "the validation examples")
        ensure(sorted(tr.tolist() + va.tolist()) == list(range(10)),
                f"fold {i}: train_idx and val_idx together must hold every index 0..N-1 once")
        ensure(np.array_equal(tr, np.sort(tr)),
                f"fold {i}: train_idx should be sorted ascending (np.sort)")
    order = np.random.default_rng(4).permutation(10)
    blocks = [order[:4], order[4:7], order[7:]]
    ensure(not (all(np.array_equal(np.sort(v), np.sort(b)) for (_, v), b in
                    zip(folds, blocks, strict=True)) and not np.array_equal(all_val, order)),
           "kfold_indices(10, 3, rng) cut the right blocks of `order`, but val_idx is not in the "
           "order of `order`: keep each block as it comes from the permutation (only train_idx "
           "is sorted).")
    assert_close(all_val, np.random.default_rng(4).permutation(10),
                 name="the validation folds of kfold_indices(10, 3, np.random.default_rng(4)), "
                      "one after the other (should be rng.permutation(10), cut into blocks in "
                      "order)",
                 layout="(N,) = (10,)", reveal=True)
    loo = fn(4, 4, np.random.default_rng(0))
    ensure([len(v) for _, v in loo] == [1, 1, 1, 1] and all(len(t) == 3 for t, _ in loo),
            "kfold_indices(4, 4, rng) (leave-one-out) should give 4 folds with 1 validation and "
            "3 training indices each")
    print("✔ kfold_indices passes the visible checks")


def _kfold_flat(folds: Any, k: int) -> tuple[np.ndarray, ...]:
    folds = list(folds)
    if len(folds) != k:
        raise GradingError(f"kfold_indices returned {len(folds)} folds on a hidden case; "
                           "expected k")
    return tuple(np.asarray(a) for fold in folds for a in fold)


def _make_kfold(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = {"batch of one": 2, "odd sizes": 23, "extreme values": 1000}.get(
        kind, int(rng.integers(5, 40)))
    k = {"batch of one": 2, "odd sizes": 5, "extreme values": 7}.get(
        kind, int(rng.integers(2, 6)))
    return (N, k, np.random.default_rng(int(rng.integers(0, 2**31))))


@exercise_check
def kfold_indices_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``kfold_indices``: the same folds as ``nnlib.training.kfold_indices``
    (train_idx and val_idx of every fold) for N = 2, 23, 1000 and random sizes."""
    __tracebackhide__ = True
    check_against_reference(
        lambda N, k, rng: _kfold_flat(fn(N, k, rng), k),
        lambda N, k, rng: _kfold_flat(nnlib.training.kfold_indices(N, k, rng=rng), k),
        _make_kfold, name="kfold_indices (train_idx, val_idx of fold 1, then of fold 2, ...)",
        seed=hidden_seed(f"{SLUG}/kfold_indices"))


# ---------------------------------------------------------------------------------------------
# cross_validate
# ---------------------------------------------------------------------------------------------


@exercise_check
def cross_validate(fn: Callable[..., Any], kfold_indices: Callable[..., Any]) -> None:
    """Visible checks of ``cross_validate(train_and_score, X, y, k, rng)``, with a scorer that
    records what it receives (N = 11, k = 4); ``kfold_indices`` is yours:

    - it does not call ``nnlib.training.cross_validate``;
    - it indexes the N = ``X.shape[0]`` rows, and calls ``train_and_score(X_train, y_train,
      X_val, y_val)`` in that order;
    - one call per fold, and the k scores returned in order as an array of shape (k,);
    - in every call the rows of X and y match, training and validation rows are disjoint and
      together are all N rows;
    - call i receives the validation rows of fold i of your ``kfold_indices(N, k, rng)``.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.training.cross_validate,
                     args=(lambda a, b, c, d: 0.0, np.zeros((6, 1)), np.zeros(6), 3,
                           np.random.default_rng(0)))

    # Row n of X is [n, 0] (N = 11, D = 2), y[n] = 10 n: the scorer records what it receives.
    X = np.column_stack([np.arange(11.0), np.zeros(11)])
    y = 10 * np.arange(11)
    calls: list[tuple[np.ndarray, ...]] = []

    def recorder(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                 y_val: np.ndarray) -> float:
        calls.append((X_train[:, 0].astype(int), y_train, X_val[:, 0].astype(int), y_val))
        return float(len(calls))

    try:
        scores = fn(recorder, X, y, 4, np.random.default_rng(8))
    except IndexError as err:
        if "out of bounds" in str(err):
            raise GradingError(
                "cross_validate(train_and_score, X, y, 4, rng) with X of shape (11, 2) raised "
                f"IndexError: {err}. The folds index the N rows of X: N is the number of rows, "
                "X.shape[0] (X.size counts every entry, N * D).") from None
        raise GradingError(
            f"cross_validate(train_and_score, X, y, 4, rng) raised IndexError: {err}. "
            "train_and_score takes (X_train, y_train, X_val, y_val), in that order (not "
            "scikit-learn's X_train, X_test, y_train, y_test).") from None
    ensure(len(calls) == 4,
            f"cross_validate(..., k=4, ...) called train_and_score {len(calls)} times; expected "
            "once per fold, 4")
    ensure(np.shape(scores) == (4,),
            "cross_validate should return the 4 scores as an array of shape (4,), got shape "
            f"{np.shape(scores)}")
    assert_close(scores, [1.0, 2.0, 3.0, 4.0],
                 name="cross_validate (its k scores, one per call, in order)",
                 layout="(k,) = (4,)", reveal=True)
    for i, (xt, yt, xv, yv) in enumerate(calls):
        ensure(np.array_equal(yt, 10 * xt) and np.array_equal(yv, 10 * xv),
                f"call {i + 1}: the rows of y do not match the rows of X: index X and y with the "
                "same fold indices")
        ensure(not set(xt.tolist()) & set(xv.tolist()),
                f"call {i + 1}: a validation row was also in the training data")
        ensure(len(xt) + len(xv) == 11,
                f"call {i + 1}: training and validation rows together should be all 11 rows")
    folds = kfold_indices(11, 4, np.random.default_rng(8))
    for i, ((tr, va), (xt, _, xv, _)) in enumerate(zip(folds, calls, strict=False)):
        ensure(not (np.array_equal(np.sort(xt), np.sort(va))
                    and np.array_equal(np.sort(xv), np.sort(tr))),
               f"call {i + 1} received fold {i + 1}'s validation rows as its training data, and "
               "its training rows as validation data: each fold of kfold_indices is the pair "
               "(train_idx, val_idx), in that order.")
    seen = np.sort(np.concatenate([c[2] for c in calls]))
    ensure(np.array_equal(seen, np.arange(11)),
           "the validation rows of the 4 calls should cover each of the 11 rows exactly once, "
           "as the folds of ONE call of kfold_indices do; yours repeat or miss rows (validated "
           f"rows: {seen.tolist()}). Did you call kfold_indices again inside the loop? Call it "
           "once, before the loop, and go through its folds.")
    for i, ((_, va), (_, _, xv, _)) in enumerate(zip(folds, calls, strict=False)):
        ensure(np.array_equal(np.sort(xv), np.sort(va)),
                f"call {i + 1} did not receive the validation rows of fold {i + 1} of "
                "kfold_indices(N, k, rng), although the folds cover every row once: they come "
                "from another permutation. Call kfold_indices(X.shape[0], k, rng) with the rng "
                "passed in (no generator of your own, no other draw from rng before it).")
    print("✔ cross_validate passes the visible checks")


def _cv_score(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
              y_val: np.ndarray) -> float:
    # depends on which rows land where (in any order), and on X and y staying aligned
    return float(np.sum(X_val[:, 0] ** 2 * (1 + y_val)) + 0.001 * np.sum(X_train[:, 0] * y_train))


def _make_cv(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = {"batch of one": 2, "odd sizes": 13, "extreme values": 200}.get(
        kind, int(rng.integers(4, 30)))
    k = 2 if kind == "batch of one" else int(rng.integers(2, min(N, 6) + 1))
    X = rng.normal(size=(N, 3)) * scale_for(kind)
    y = rng.integers(0, 3, size=N)
    return (X, y, k, np.random.default_rng(int(rng.integers(0, 2**31))))


@exercise_check
def cross_validate_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``cross_validate``: the same scores as
    ``nnlib.training.cross_validate`` with a scorer that depends on which rows land where."""
    __tracebackhide__ = True
    check_against_reference(
        lambda X, y, k, rng: fn(_cv_score, X, y, k, rng),
        lambda X, y, k, rng: nnlib.training.cross_validate(_cv_score, X, y, k=k, rng=rng),
        _make_cv, name="cross_validate", layout="(k,)", rtol=1e-9,
        seed=hidden_seed(f"{SLUG}/cross_validate"))


# ---------------------------------------------------------------------------------------------
# early_stopping_step
# ---------------------------------------------------------------------------------------------


def _fresh_state() -> dict[str, Any]:
    return {"best": np.inf, "best_epoch": None, "wait": 0, "best_weights": None}


def _marked_model() -> Any:
    return nnlib.Sequential(nnlib.Linear(2, 2, rng=np.random.default_rng(0)))


class _StepCallback(nnlib.Callback):
    """The notebook's MyEarlyStopping, built here so that a check depends on no notebook cell:
    nnlib.fit's early stopping with the decisions of ``step``."""

    def __init__(self, step: Callable[..., Any], patience: int) -> None:
        self.step, self.patience = step, patience

    def on_train_begin(self) -> None:
        self.state = _fresh_state()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        return self.step(self.state, epoch, logs["val_loss"], self.model, self.patience, 0.0)

    def on_train_end(self) -> None:
        if self.state["best_weights"] is not None:
            self.model.load_state_dict(self.state["best_weights"])  # type: ignore[union-attr]


def _trace(step: Callable[..., Any], values: Sequence[float], patience: int,
           min_delta: float) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """Feed ``values`` epoch by epoch; the model's weights hold the epoch number."""
    model, state = _marked_model(), _fresh_state()
    stops: list[Any] = []
    waits: list[Any] = []
    for epoch, value in enumerate(values):
        model[0].weight.data[...] = epoch
        stop = step(state, epoch, value, model, patience, min_delta)
        stops.append(stop)
        waits.append(state["wait"])
        if stop:
            break
    return stops, waits, state


def _es_fit(callback: Any, seed: int = 3) -> tuple[Any, Any]:
    r = np.random.default_rng(seed)
    X, y = r.normal(size=(24, 3)), r.integers(0, 3, size=24)
    X_val, y_val = r.normal(size=(20, 3)), r.integers(0, 3, size=20)
    net = nnlib.Sequential(nnlib.Linear(3, 16, rng=r), nnlib.ReLU(), nnlib.Linear(16, 3, rng=r))
    history = nnlib.fit(net, nnlib.CrossEntropyLoss(), nnlib.SGD(net.parameters(), lr=0.5), X, y,
                        epochs=40, batch_size=8, rng=r, validation_data=(X_val, y_val),
                        verbose=False, callbacks=[callback])
    return net, history


@exercise_check
def early_stopping_step(fn: Callable[..., Any]) -> None:
    """Visible checks of ``early_stopping_step(state, epoch, current, model, patience,
    min_delta=0.0)``:

    - it does not use ``nnlib.training.EarlyStopping``;
    - it returns a bool; the first epoch improves on ``best = inf`` and does not stop;
    - ``state`` is updated in place (its keys assigned), with ``best``, ``best_epoch``, ``wait``;
    - ``best_weights`` is ``model.state_dict()``, a copy that later updates do not change;
    - lower is better; ``wait`` resets on an improvement, grows by 1 otherwise, and training
      stops when ``wait >= patience`` (also ``patience = 0``), keeping the best epoch's weights;
    - ``min_delta`` is an absolute amount in the comparison only; an equal value does not
      improve;
    - inside ``nnlib.fit`` it runs as many epochs as ``nnlib.training.EarlyStopping`` and the
      same weights are restored.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.training.EarlyStopping, nnlib.training.EarlyStopping.on_epoch_end,
                     args=(_fresh_state(), 0, 1.0, _marked_model(), 2))

    # The first epoch always improves on best = inf, and keeps a copy of the weights.
    state = _fresh_state()
    model = _marked_model()
    model[0].weight.data[...] = 7.0
    stop = fn(state, 0, 0.9, model, 3)
    ensure(isinstance(stop, (bool, np.bool_)),
            f"early_stopping_step should return a bool, got {type(stop).__name__}")
    ensure(not stop,
            "early_stopping_step stopped after the first epoch, which always improves on "
            "best = inf")
    ensure(not (state["best"] == np.inf and state["wait"] == 1),
           "after a first epoch with value 0.9, state[\"wait\"] is 1 and state[\"best\"] is still "
           "inf: your function saw no improvement, but the first epoch always improves on "
           "best = inf. Is the comparison the wrong way round? Lower is better: an improvement "
           'is current < state["best"] - min_delta.')
    ensure(state["best"] == 0.9 and state["best_epoch"] == 0 and state["wait"] == 0,
            'after a first epoch with value 0.9 the state should be best = 0.9, best_epoch = 0, '
            f'wait = 0; got best = {state["best"]}, best_epoch = {state["best_epoch"]}, '
            f'wait = {state["wait"]}' + (
                '. Update `state` in place, by assigning to its keys (state["best"] = ..., and '
                "so on); assigning a new dict to `state` inside the function does not change the "
                "caller's" if state["best"] == np.inf else ""))
    ensure(isinstance(state["best_weights"], dict) and "0.weight" in state["best_weights"],
            'state["best_weights"] should be the dict model.state_dict() of the best epoch')
    model[0].weight.data += 1.0                  # what the next optimizer step does to the weights
    ensure(np.all(np.asarray(state["best_weights"]["0.weight"]) == 7.0),
            'state["best_weights"] changed when the model\'s weights were updated in place '
            "afterwards: store copies of the weights (model.state_dict() returns copies), not "
            "the parameter arrays themselves.")

    # patience = 3: best at epoch 2 (0.7), then 3 epochs without improvement -> stop after 5.
    stops, waits, state = _trace(fn, [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9], 3, 0.0)
    ensure(not (stops[-1] and len(stops) < 6 and state["best"] > 0.7),
            f"values [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9] with patience = 3: your function "
            f'asked to stop after epoch {len(stops) - 1} with state["best"] = {state["best"]}, '
            "although 0.7 came at epoch 2. Lower is better: an improvement is "
            'current < state["best"] - min_delta.')
    ensure(len(stops) == 6 and stops[-1],
            "values [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9] with patience = 3: training should "
            "stop after epoch 5 (epochs 3, 4 and 5 do not improve on 0.7), but your function " + (
                f"asked to stop after epoch {len(stops) - 1}" if stops[-1] else
                "never asked to stop") + ". Stop when wait >= patience.")
    ensure(all(isinstance(s, (bool, np.bool_)) for s in stops),
            "early_stopping_step should return a bool (True or False) on every call; with "
            f"patience = 3 it returned {[type(s).__name__ for s in stops]}: return the "
            "comparison itself (or bool(...)), not an int")
    ensure(waits == [0, 0, 0, 1, 2, 3],
            f'state["wait"] after each epoch was {waits}; expected [0, 0, 0, 1, 2, 3]: reset it '
            "to 0 on an improvement, add 1 otherwise")
    ensure(state["best"] == 0.7 and state["best_epoch"] == 2,
            f'expected best = 0.7 at epoch 2, got best = {state["best"]} at epoch '
            f'{state["best_epoch"]}')
    ensure(np.all(np.asarray(state["best_weights"]["0.weight"]) == 2),
            'state["best_weights"] should hold the weights of the best epoch (2)')
    # min_delta: 1.0 -> 0.95 -> 0.91 are improvements of less than 0.1, so they do not count.
    stops, waits, state = _trace(fn, [1.0, 0.95, 0.91, 0.5], 2, 0.1)
    ensure(len(stops) == 3 and state["best_epoch"] == 0,
            "values [1.0, 0.95, 0.91, 0.5] with patience = 2 and min_delta = 0.1: neither 0.95 "
            "nor 0.91 is below best - min_delta = 0.9, so training should stop after epoch 2 "
            f'with best_epoch 0; got best_epoch {state["best_epoch"]}, and ' + (
                f"a stop after epoch {len(stops) - 1}" if stops[-1] else "no stop") +
            '. An improvement needs current < state["best"] - min_delta.')
    ensure(state["best"] == 1.0,
            'state["best"] should be the best monitored value itself (1.0 here), got '
            f'{state["best"]}: min_delta only enters the comparison')
    # min_delta is an absolute amount: from best = 2.0, 1.85 improves by 0.15 > 0.1 and counts.
    stops, waits, state = _trace(fn, [2.0, 1.85, 1.8, 1.78, 1.0], 2, 0.1)
    ensure(len(stops) == 4 and stops[-1] and state["best_epoch"] == 1 and state["best"] == 1.85,
            "values [2.0, 1.85, 1.8, 1.78, 1.0] with patience = 2 and min_delta = 0.1: 1.85 is "
            "below 2.0 - 0.1 = 1.9, an improvement; then 1.8 and 1.78 are not below "
            "1.85 - 0.1 = 1.75, so training should stop after epoch 3 with best = 1.85 at epoch "
            "1. Got " + (f"a stop after epoch {len(stops) - 1}" if stops[-1] else "no stop") +
            f' with best = {state["best"]} at epoch {state["best_epoch"]}. min_delta is '
            "subtracted from best as it is (an absolute amount, not a fraction of best).")
    # An improvement after a bad epoch resets the wait: 1.1 does not improve, 0.9 does.
    stops, waits, state = _trace(fn, [1.0, 1.1, 0.9, 1.0, 1.0, 0.5], 2, 0.0)
    ensure(waits[:3] == [0, 1, 0],
            'values [1.0, 1.1, 0.9, ...] with patience = 2: state["wait"] after the first three '
            f"epochs was {waits[:3]}; expected [0, 1, 0]: an improvement (0.9) resets the wait "
            "to 0")
    ensure(len(stops) == 5 and stops[-1] and state["best_epoch"] == 2,
            "values [1.0, 1.1, 0.9, 1.0, 1.0, 0.5] with patience = 2 should stop after epoch 4 "
            "(two epochs without improving on 0.9), with best_epoch 2")
    # An equal value is not an improvement; patience = 0 stops at the first that does not improve.
    stops, waits, state = _trace(fn, [1.0, 0.9, 0.9, 0.1], 0, 0.0)
    ensure(len(stops) == 3 and state["best_epoch"] == 1,
            "values [1.0, 0.9, 0.9, 0.1] with patience = 0: epoch 2 repeats 0.9 without "
            "improving (strictly smaller is needed), so training should stop right after it, "
            "with best_epoch 1")

    # Inside nnlib.fit: the same run as nnlib's EarlyStopping, the same weights restored.
    net_a, hist_a = _es_fit(_StepCallback(fn, patience=3))
    net_b, hist_b = _es_fit(nnlib.training.EarlyStopping(patience=3))
    ensure(len(hist_a.epoch) == len(hist_b.epoch),
            f"with your step as the early-stopping decision (patience=3) nnlib.fit ran "
            f"{len(hist_a.epoch)} epochs; Keras' rule (nnlib.training.EarlyStopping) runs "
            f"{len(hist_b.epoch)} on the same problem")
    for (name, pa), pb in zip(net_a.state_dict().items(), net_b.state_dict().values(),
                              strict=True):
        assert_close(pa, pb, name=f"the weights {name} restored at the end of training (those of "
                     "the best epoch, as nnlib.training.EarlyStopping restores them)",
                     layout=str(pb.shape))
    print("✔ early_stopping_step passes the visible checks")


def _es_reference_step(state: dict[str, Any], epoch: int, current: float, model: Any,
                       patience: int, min_delta: float) -> bool:
    es = nnlib.training.EarlyStopping(patience=patience, min_delta=min_delta, mode="min")
    es.model = model
    es.best, es.best_epoch = state["best"], state["best_epoch"]
    es.wait, es.best_weights = state["wait"], state["best_weights"]
    stop = es.on_epoch_end(epoch, {"val_loss": current})
    state.update(best=es.best, best_epoch=es.best_epoch, wait=es.wait,
                 best_weights=es.best_weights)
    return stop


def _es_summary(step: Callable[..., Any], values: list[float], patience: int,
                min_delta: float) -> tuple[np.ndarray, ...]:
    n = len(values)
    stops, waits, state = _trace(step, values, patience, min_delta)
    if not all(isinstance(s, (bool, np.bool_)) for s in stops):
        raise GradingError("early_stopping_step returned something other than a bool (True or "
                           "False) on a hidden case")
    padded_stops = np.full(n, -1.0)
    padded_stops[:len(stops)] = [float(s) for s in stops]
    padded_waits = np.full(n, -1.0)
    padded_waits[:len(waits)] = waits
    best_weights = state["best_weights"]
    restored = np.asarray(best_weights["0.weight"])[0, 0] if best_weights is not None else -1.0
    best_epoch = -1 if state["best_epoch"] is None else state["best_epoch"]
    return (padded_stops, padded_waits,
            np.array([state["best"], best_epoch, restored], dtype=float))


def _make_es(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    n = 1 if kind == "batch of one" else int(rng.integers(4, 25))
    values = np.round(rng.random(n) * 2 + np.linspace(1, 0, n), 1)      # noisy decrease
    for i in range(1, n):
        if rng.random() < 0.3:
            values[i] = values[:i].min()                                    # a tie with the best
    patience = 0 if kind == "odd sizes" else int(rng.integers(1, 5))
    min_delta = float(rng.choice([0.0, 0.2])) if kind == "random" else 0.0
    if kind == "extreme values":
        values, min_delta = values * 1e6, 0.2e6
    return ([float(v) for v in values], patience, min_delta)


def _make_es_fit(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    return (int(rng.integers(0, 10_000)), int(rng.integers(0, 4)))


def _es_fit_summary(callback: Any, seed: int) -> tuple[np.ndarray, ...]:
    net, history = _es_fit(callback, seed=seed)
    return (np.array([len(history.epoch)], dtype=float),) + tuple(net.state_dict().values())


@exercise_check
def early_stopping_step_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``early_stopping_step``: on generated sequences of monitored values
    (one epoch, patience 0, ties with the best, min_delta, values around 1e6) the same stop
    decisions, waits, best value, best epoch and kept weights as
    ``nnlib.training.EarlyStopping``; then, inside ``nnlib.fit``, the same number of epochs and
    the same restored weights."""
    __tracebackhide__ = True
    seed = hidden_seed(f"{SLUG}/early_stopping_step")
    for part, what in enumerate(["the stop decision after each epoch (1 = stop, -1 = no epoch)",
                                 'state["wait"] after each epoch (-1 = no epoch)',
                                 "(best, best_epoch, the epoch whose weights are kept)"]):
        check_against_reference(lambda v, p, d: _es_summary(fn, v, p, d),
                                lambda v, p, d: _es_summary(_es_reference_step, v, p, d),
                                _make_es, name=f"early_stopping_step: {what}", seed=seed,
                                compare=lambda r, part=part: r[part])
    check_against_reference(
        lambda s, p: _es_fit_summary(_StepCallback(fn, patience=p), s),
        lambda s, p: _es_fit_summary(nnlib.training.EarlyStopping(patience=p), s),
        _make_es_fit, name="early_stopping_step in nnlib.fit (value 1: epochs run; then the "
                           "restored weights)",
        seed=seed + 1, kinds=("random", "random", "random"))
