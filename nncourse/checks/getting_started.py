"""Checks of lesson 00, getting started.

``solutions/00_getting_started``: one-hot labels and feature standardisation. Each exercise has
its visible checks, ``<name>(fn)``, and its hidden checks, ``<name>_hidden(fn)``, which compare
``fn`` with ``nnlib.basics`` on generated cases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.basics
from nncourse.checks._contract import (
    call,
    ensure,
    exercise_check,
    expect_array,
    expect_floating,
    expect_unchanged,
    looks_like,
)
from nncourse.testing import (
    GradingError,
    assert_close,
    batch_size_for,
    check_against_reference,
    forbid_reference,
    hidden_seed,
    scale_for,
)

SLUG = "getting_started"

__all__ = ["one_hot", "one_hot_hidden", "standardize", "standardize_hidden"]


# ---------------------------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------------------------


@exercise_check
def one_hot(fn: Callable[..., Any]) -> None:
    """Visible checks of ``one_hot(y, num_classes)``:

    - it is your own code: it neither is, nor calls, ``nnlib.basics.one_hot``;
    - ``one_hot(np.array([2, 0, 1, 2]), 3)`` returns a NumPy array of floats (0.0 and 1.0)
      holding the one-hot rows of the example in the text, shape (N, K) = (4, 3);
    - the labels ``y`` are left unchanged;
    - ``Y[:, y] = 1`` (whole columns instead of one entry per row) is named;
    - a batch of one: ``one_hot(np.array([4]), 5)``;
    - exactly ``num_classes`` columns even when some class never occurs:
      ``one_hot(np.array([0, 0]), 4)`` has K = 4 columns.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.basics.one_hot, args=(np.array([0, 2]), 3))

    y = np.array([2, 0, 1, 2])
    Y = call(fn, y, 3, name="one_hot(np.array([2, 0, 1, 2]), 3)")
    expect_unchanged([np.array([2, 0, 1, 2])], [y], ["y"], name="one_hot")
    ensure(Y is not None,
           "one_hot(np.array([2, 0, 1, 2]), 3) returned None: did you forget the `return`? "
           "one_hot should return a NumPy array.")
    ensure(isinstance(Y, np.ndarray),
           f"one_hot should return a NumPy array, got a {type(Y).__name__}")
    expect_floating(Y, name="one_hot(np.array([2, 0, 1, 2]), 3)",
                    what="floats (0.0 and 1.0)")
    ensure(not (Y.shape == (4, 3) and np.array_equal(Y, np.ones((4, 3)))),
           "one_hot(np.array([2, 0, 1, 2]), 3) has a 1 in every column of every row: `Y[:, y] = "
           "1` sets whole columns (every row of the columns in y). Pair one row index with each "
           "label instead: rows 0, 1, ..., N-1 (np.arange(N)) in place of `:`.")
    assert_close(Y, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                 name="one_hot(np.array([2, 0, 1, 2]), 3)", layout="(N, K) = (4, 3)", reveal=True)
    assert_close(call(fn, np.array([4]), 5, name="one_hot(np.array([4]), 5)"),
                 [[0, 0, 0, 0, 1]],
                 name="one_hot(np.array([4]), 5) (a batch of one)", layout="(N, K) = (1, 5)",
                 reveal=True)
    Y_k = call(fn, np.array([0, 0]), 4, name="one_hot(np.array([0, 0]), 4)")
    if isinstance(Y_k, np.ndarray) and Y_k.ndim == 2 and Y_k.shape[0] == 2 and Y_k.shape[1] < 4:
        raise GradingError(
            "one_hot(np.array([0, 0]), 4) (classes 1-3 never occur: still K = 4 columns) "
            f"returned shape {Y_k.shape}: {Y_k.shape[1]} "
            f"column{'s' if Y_k.shape[1] != 1 else ''}, as many as the labels that occur "
            "(y.max() + 1?), where num_classes = 4 asks for 4. Take K from the `num_classes` "
            "argument, not from the labels: classes 1-3 simply do not occur in this y.")
    assert_close(Y_k,
                 [[1, 0, 0, 0], [1, 0, 0, 0]],
                 name="one_hot(np.array([0, 0]), 4) (classes 1-3 never occur: still K = 4 "
                      "columns)",
                 layout="(N, K) = (2, 4)", reveal=True)
    print("✔ one_hot passes the visible checks")


def _make_labels(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    K = int(rng.integers(2, 12))
    return (rng.integers(0, K, size=batch_size_for(kind, rng)), K)


@exercise_check
def one_hot_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``one_hot``: the same result as ``nnlib.basics.one_hot`` on generated
    labels (a batch of one, odd sizes, random sizes and numbers of classes), labels unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.basics.one_hot, _make_labels, name="one_hot",
                            layout="(N, K)", seed=hidden_seed(f"{SLUG}/one_hot"))


# ---------------------------------------------------------------------------------------------
# standardize
# ---------------------------------------------------------------------------------------------


@functools.cache
def _digits() -> np.ndarray:
    from nnlib.data import load_digits

    X, _ = load_digits()
    X.setflags(write=False)
    return X


@exercise_check
def standardize(fn: Callable[..., Any]) -> None:
    """Visible checks of ``standardize(X, eps=1e-8)``:

    - it is your own code: it neither is, nor calls, ``nnlib.basics.standardize``;
    - ``X`` is left unchanged (a new array is returned);
    - on a 3 x 3 example, ``X_check = [[1, 10, 5], [3, 30, 5], [2, 20, 5]]``, it returns shape
      (N, D) = (3, 3), every column has mean 0 (statistics
      per column, over the examples), and the values match the ones worked out by hand,
      including a constant column, which becomes 0 rather than NaN;
    - a constant column gives 0, not NaN; the standard deviation is the population one
      (``ddof=0``); on a column with a tiny spread, eps is added to the standard deviation,
      not inside the square root;
    - the ``eps`` argument is used: ``standardize(X_check, eps=1.0)`` divides by sigma + 1;
    - on the 1,797 digits of this notebook (``load_digits()``), every column of the result has
      standard deviation 1, except the always-blank pixels, which stay at 0.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.basics.standardize, args=(np.ones((3, 2)),))

    X_check = np.array([[1.0, 10.0, 5.0],
                        [3.0, 30.0, 5.0],
                        [2.0, 20.0, 5.0]])
    X_before = X_check.copy()
    named = ("standardize(X_check) with X_check = [[1, 10, 5], [3, 30, 5], [2, 20, 5]] "
             "(3 examples, 3 features)")
    Z = call(fn, X_check, name="standardize(X_check)")
    ensure(np.array_equal(X_check, X_before),
           "standardize modified its input X in place: build a new array instead (X - mean does)")
    Z = expect_array(Z, (3, 3), name="standardize(X_check)", layout="(N, D)").astype(float)
    ensure(not (np.isnan(Z[:, 2]).all() and np.isfinite(Z[:, :2]).all()),
           "standardize(X_check) returned NaN in column 2, a constant column: its standard "
           "deviation is 0, and 0 / 0 is NaN. That is what eps is for: add eps to the standard "
           "deviation before dividing.")
    ensure(not looks_like(Z, (X_check - X_check.mean()) / (X_check.std() + 1e-8)),
           f"{named} uses one mean and one standard deviation for the whole array: np.mean and "
           "np.std without an axis reduce over every entry. Compute them per column (feature), "
           "over the examples: axis=0.")
    ensure(not np.isfinite(Z).all() or np.allclose(Z.mean(axis=0), 0, atol=1e-8),
           "each column (feature) of standardize(X_check) should have mean 0, and yours do not: "
           "are the statistics computed per row (axis=1) instead of per column (axis=0)?")
    centred = X_check - X_check.mean(axis=0)
    ensure(not looks_like(Z, centred / (X_check.std(axis=0, ddof=1) + 1e-8)),
           "standardize(X_check) divides by the sample standard deviation (ddof=1, dividing by "
           "N - 1); the text asks for the population one, which divides by N: np.std's default, "
           "ddof=0.")
    ensure(not looks_like(Z, centred),
           f"{named} centres each column but does not scale it: divide by the column's standard "
           "deviation (plus eps) too, so that every column ends with standard deviation 1.")
    ensure(not looks_like(Z, centred / (X_check.var(axis=0) + 1e-8)),
           f"{named} divides by the variance, sigma**2; divide by the standard deviation, "
           "sigma (its square root, np.std), plus eps.")
    assert_close(Z, [[-1.224744871, -1.224744871, 0], [1.224744871, 1.224744871, 0], [0, 0, 0]],
                 name=named, layout="(N, D) = (3, 3)", rtol=1e-6, reveal=True)
    X_tiny = np.array([[0.0, 1.0], [1e-4, 3.0], [2e-4, 2.0]])
    Z_tiny = call(fn, X_tiny, name="standardize(X_tiny)")
    sigma = X_tiny.std(axis=0)
    ensure(not looks_like(Z_tiny, (X_tiny - X_tiny.mean(axis=0)) / np.sqrt(sigma**2 + 1e-8)),
           "standardize(X_tiny), where column 0 has a tiny spread (standard deviation 8.2e-05), "
           "is off in that column: is eps inside the square root? The text adds eps to the "
           "standard deviation itself, sigma + eps, after the square root.")
    assert_close(Z_tiny, (X_tiny - X_tiny.mean(axis=0)) / (sigma + 1e-8),
                 name="standardize(X_tiny) with X_tiny = [[0, 1], [1e-4, 3], [2e-4, 2]] (column 0 "
                      "has a tiny spread)", layout="(N, D) = (3, 2)", rtol=1e-6, reveal=True)

    Z_eps = call(fn, X_check, eps=1.0, name="standardize(X_check, eps=1.0)")
    ensure(not looks_like(Z_eps, Z),
           "standardize(X_check, eps=1.0) returns the same result as with the default eps=1e-8: "
           "your function ignores its `eps` argument (a hard-coded 1e-8?). Add the `eps` it is "
           "given to the standard deviation.")
    assert_close(Z_eps, centred / (X_check.std(axis=0) + 1.0),
                 name="standardize(X_check, eps=1.0) (eps = 1 is added to each column's standard "
                      "deviation)", layout="(N, D) = (3, 3)", rtol=1e-6, reveal=True)

    X = _digits().copy()
    X_std = call(fn, X, name="standardize(X) on the digits")
    varying = X.std(axis=0) > 0
    assert_close(np.asarray(X_std).std(axis=0), varying.astype(float),
                 name="the column standard deviations of standardize(X) on the digits (1 for "
                      "every pixel that varies, 0 for the always-blank ones)",
                 layout="(D,) = (64,)", rtol=1e-5, reveal=True)
    print("✔ standardize passes the visible checks")


def _make_X_eps(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    return (*_make_X(rng, kind), float(rng.uniform(0.05, 2.0)))


def _make_X(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = max(batch_size_for(kind, rng), 2)
    D = int(rng.integers(1, 9)) * 2 + 1
    X = rng.normal(loc=rng.normal(size=D) * 5, scale=rng.uniform(0.1, 3, size=D), size=(N, D))
    X[:, 0] = 2.5  # a constant feature
    return (X * scale_for(kind),)


@exercise_check
def standardize_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``standardize``: the same result as ``nnlib.basics.standardize`` on
    generated data (two rows, odd sizes, random sizes, values far from 0, a constant column),
    with the default ``eps`` and with a random one, ``X`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.basics.standardize, _make_X, name="standardize",
                            layout="(N, D)", seed=hidden_seed(f"{SLUG}/standardize"),
                            rtol=1e-6, atol=1e-7)
    check_against_reference(fn, lambda X, eps: nnlib.basics.standardize(X, eps=eps), _make_X_eps,
                            name="standardize with a given eps", layout="(N, D)",
                            kinds=("random", "odd sizes"),
                            seed=hidden_seed(f"{SLUG}/standardize/eps"), rtol=1e-6, atol=1e-7)
