"""Checks of lesson 01, the neuron and the perceptron.

``solutions/01_neuron_and_perceptron``: the weighted sum, the step unit, the sigmoid unit, the
perceptron learning rule and its training loop. Each exercise has its visible checks,
``<name>(fn)``, and its hidden checks, ``<name>_hidden(fn)``, which compare ``fn`` with
``nnlib.perceptron`` on generated cases.

``X_sep`` in the messages is the notebook's data set, regenerated here the same way
(``make_separable(100, margin=0.1, rng=np.random.default_rng(0))``), so that the checks depend
on their arguments only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.activations
import nnlib.perceptron
from nncourse.checks._contract import (
    GradingError,
    call,
    ensure,
    exercise_check,
    expect_arity,
    looks_like,
)
from nncourse.testing import (
    assert_close,
    batch_size_for,
    check_against_reference,
    explain_exception,
    forbid_reference,
    hidden_seed,
    scale_for,
)

SLUG = "neuron_and_perceptron"

__all__ = [
    "weighted_sum", "weighted_sum_hidden",
    "step", "step_hidden",
    "sigmoid_unit", "sigmoid_unit_hidden",
    "perceptron_update", "perceptron_update_hidden",
    "train_perceptron", "train_perceptron_hidden",
]


@functools.cache
def _separable() -> tuple[np.ndarray, np.ndarray]:
    X, y = nnlib.perceptron.make_separable(100, margin=0.1, rng=np.random.default_rng(0))
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _one_number(v: Any) -> float | None:
    """A returned value as a float, or None when it is not a single number."""
    try:
        return np.asarray(v, dtype=float).item() if v is not None and np.size(v) == 1 else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# weighted_sum
# ---------------------------------------------------------------------------------------------


@exercise_check
def weighted_sum(fn: Callable[..., Any]) -> None:
    """Visible checks of ``weighted_sum(x, w, b)``:

    - it is your own code: it neither is, nor calls, ``nnlib.perceptron.weighted_sum``;
    - neither ``x`` (a batch or a single example) nor ``w`` is modified in place;
    - with ``w = 0`` the result is just ``b`` (the bias is added once, with a + sign);
    - one example ``x = (1, 2, 3)``, ``w = (0.5, -1, 2)``, ``b = 0.5`` gives the single number 5.0;
    - a batch of three examples gives ``z`` of shape (N,) = (3,) with the values worked out by
      hand, and a batch of one gives shape (1,);
    - on ``X_sep`` (100 examples) the batch result equals one call per row.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.perceptron.weighted_sum,
                     args=(np.ones((2, 3)), np.ones(3), 0.5))

    X_in, x_in = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 2.0])
    w_in = np.array([0.5, -1.0])
    call(fn, X_in, w_in, 0.5, name="weighted_sum(X, w, 0.5)")
    call(fn, x_in, w_in, 0.5, name="weighted_sum(x, w, 0.5)")
    ensure(np.array_equal(X_in, [[1.0, 2.0], [3.0, 4.0]]) and np.array_equal(x_in, [1.0, 2.0]),
           "weighted_sum modified its input x in place (as `x *= w` does), which would silently "
           "corrupt the caller's data, X_sep for example: compute `x @ w` or `x * w`, which "
           "build new arrays")
    ensure(np.array_equal(w_in, [0.5, -1.0]),
           "weighted_sum modified its input w in place: compute with `x @ w`, which builds a new "
           "array")

    z_bias = call(fn, np.array([1.0, 2.0]), np.zeros(2), 0.7,
                  name="weighted_sum(np.array([1.0, 2.0]), np.zeros(2), 0.7)")
    got = _one_number(z_bias)
    ensure(got is None or np.isclose(got, 0.7),
           f"weighted_sum(np.array([1.0, 2.0]), np.zeros(2), 0.7) returned {got:.6g}, expected "
           "0.7: with w = 0 the weighted sum is just b. Did you add the bias b, once, with a + "
           "sign, after the dot product?" if got is not None else "")

    w_check = np.array([0.5, -1.0, 2.0])
    assert_close(call(fn, np.array([1.0, 2.0, 3.0]), w_check, 0.5,
                      name="weighted_sum(np.array([1.0, 2.0, 3.0]), w_check, 0.5)"), 5.0,
                 name="weighted_sum(np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 0.5)",
                 layout="() (one number for one example)", reveal=True)
    X_check = np.array([[1.0, 2.0, 3.0],
                        [0.0, 0.0, 0.0],
                        [-1.0, 0.0, 1.0]])
    z_check = call(fn, X_check, w_check, 0.5, name="weighted_sum(X_check, w_check, 0.5)")
    ensure(not looks_like(z_check, w_check @ X_check + 0.5),
           "weighted_sum(X_check, w_check, 0.5), with X_check = [[1, 2, 3], [0, 0, 0], [-1, 0, "
           "1]], computes w @ x: the operands are swapped. A batch x of shape (N, D) pairs each "
           "example's row with w, x @ w (x first); w @ x only runs here because X_check is "
           "square.")
    ensure(not looks_like(z_check, (X_check * w_check).sum(axis=0) + 0.5),
           "weighted_sum(X_check, w_check, 0.5) adds up the products over the examples (axis 0) "
           "instead of over the features: each example's z is the sum of its own D products "
           "x[n, d] * w[d]. Sum over the last axis (axis=-1), or use x @ w, which works for one "
           "example and for a batch alike.")
    assert_close(z_check, [5.0, 0.5, 2.0],
                 name="weighted_sum(X_check, w_check, 0.5) with X_check = [[1, 2, 3], [0, 0, 0], "
                      "[-1, 0, 1]], w_check = [0.5, -1, 2]",
                 layout="(N,) = (3,)", reveal=True)
    assert_close(call(fn, X_check[:1], w_check, -1.0,
                      name="weighted_sum(X_check[:1], w_check, -1.0)"), [3.5],
                 name="weighted_sum(X_check[:1], w_check, -1.0) (a batch of one)",
                 layout="(N,) = (1,)", reveal=True)
    X_sep = _separable()[0].copy()
    w_sep = np.array([1.0, -2.0])
    rows = [call(fn, x, w_sep, 0.3, name="weighted_sum(x, w, b) for one row of X_sep")
            for x in X_sep]
    assert_close(call(fn, X_sep, w_sep, 0.3, name="weighted_sum(X_sep, w, b)"),
                 np.asarray(rows, dtype=float),
                 name="weighted_sum(X_sep, w, b) compared with one call per row",
                 layout="(N,) = (100,)", reveal=True)
    print("✔ weighted_sum passes the visible checks")


def _make_ws_batch(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N, D = batch_size_for(kind, rng), int(rng.integers(1, 9))
    s = scale_for(kind)
    return rng.normal(size=(N, D)) * s, rng.normal(size=D) * s, float(rng.normal()) * s


def _make_ws_single(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    D = int(rng.integers(1, 9))
    s = scale_for(kind)
    return rng.normal(size=D) * s, rng.normal(size=D) * s, float(rng.normal()) * s


@exercise_check
def weighted_sum_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``weighted_sum``: the same result as ``nnlib.perceptron.weighted_sum``
    on generated batches (a batch of one, odd sizes, random, values far from 0) and on single
    examples of shape (D,); inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.perceptron.weighted_sum, _make_ws_batch,
                            name="weighted_sum on a batch", layout="(N,)",
                            seed=hidden_seed(f"{SLUG}/weighted_sum"))
    check_against_reference(fn, nnlib.perceptron.weighted_sum, _make_ws_single,
                            name="weighted_sum on a single example", layout="()",
                            seed=hidden_seed(f"{SLUG}/weighted_sum/single"),
                            kinds=("random", "odd sizes", "extreme values"))


# ---------------------------------------------------------------------------------------------
# step
# ---------------------------------------------------------------------------------------------


@exercise_check
def step(fn: Callable[..., Any]) -> None:
    """Visible checks of ``step(z)``:

    - it is your own code: it neither is, nor calls, ``nnlib.perceptron.step``;
    - ``step(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]))`` gives 0, 0, 1, 1, 1: the course's
      convention ``step(0) = 1``;
    - the result holds floats (0.0 and 1.0), not booleans, also for an integer ``z``;
    - ``z`` is left unchanged;
    - a 2-D ``z`` gives a result of the same shape, and ``-1e-12`` is still negative;
    - a single number (``np.float64(0.0)``, ``np.array(-2.0)``, ``np.float64(3.0)``: what
      ``weighted_sum`` returns for one example) is accepted and gives a single number.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.perceptron.step, args=(np.array([-1.0, 0.0, 1.0]),))

    z_check = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    try:
        fn(z_check.copy())
    except TypeError as exc:
        if "convert" in str(exc):
            raise GradingError(
                f"step(np.array([-2.0, -0.5, 0.0, 0.5, 3.0])) raised TypeError ({exc}): "
                "float(...), int(...) and the `math` functions take a single number, not an "
                "array. Convert "
                "the whole comparison z >= 0 at once with .astype(float) (or np.where).") from None
    except Exception:
        pass  # the call below reports it
    out = call(fn, z_check, name="step(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]))")
    if (out is not None and np.shape(out) == (5,) and np.asarray(out)[2] != 1
            and np.array_equal(np.asarray(out)[[0, 1, 3, 4]], [0, 0, 1, 1])):
        raise GradingError(
            f"step(np.array([-2.0, -0.5, 0.0, 0.5, 3.0])) gives {np.asarray(out)[2]} at index 2, "
            "where z = 0.0: the course's convention is step(0) = 1 (compare with z >= 0, not "
            "z > 0)")
    assert_close(out, [0, 0, 1, 1, 1], name="step(np.array([-2.0, -0.5, 0.0, 0.5, 3.0]))",
                 layout="(5,)", reveal=True)
    ensure(np.asarray(out).dtype.kind == "f",
           f"step should return floats (0.0 and 1.0), but its result has dtype "
           f"{np.asarray(out).dtype}: convert with .astype(float)")
    ensure(np.array_equal(z_check, [-2.0, -0.5, 0.0, 0.5, 3.0]),
           "step modified its input z in place: build a new array instead of writing into z")
    out_int = call(fn, np.array([-1, 0, 2]), name="step(np.array([-1, 0, 2]))")
    assert_close(out_int, [0, 1, 1], name="step(np.array([-1, 0, 2])) (an integer z)",
                 layout="(3,)", reveal=True)
    ensure(np.asarray(out_int).dtype.kind == "f",
           f"step(np.array([-1, 0, 2])), an integer z, returned dtype {np.asarray(out_int).dtype}: "
           "step should return floats (0.0 and 1.0) whatever the dtype of z. np.zeros_like(z) and "
           "np.where(..., z, ...) keep z's integer dtype; build floats instead (np.zeros(z.shape), "
           "or .astype(float) on the comparison).")
    assert_close(call(fn, np.array([[-1.0, 1.0], [0.0, -1e-12]]),
                      name="step(np.array([[-1.0, 1.0], [0.0, -1e-12]]))"),
                 [[0, 1], [1, 0]], name="step(np.array([[-1.0, 1.0], [0.0, -1e-12]]))",
                 layout="(2, 2): the shape of z", reveal=True)
    for z_one, z_text in ((np.float64(0.0), "np.float64(0.0)"), (np.array(-2.0), "np.array(-2.0)"),
                          (np.float64(3.0), "np.float64(3.0)")):
        try:
            out_one = fn(z_one)
        except GradingError:
            raise
        except Exception as exc:
            raise GradingError(
                f"step({z_text}) raised {explain_exception(exc)}. step must also accept a single "
                "number (shape ()), which is what weighted_sum returns for one example: "
                "np.asarray(z) makes it an array you can compare") from None
        assert_close(out_one, float(z_one >= 0), name=f"step({z_text}) (a single number)",
                     layout="(): the shape of z", reveal=True)
    print("✔ step passes the visible checks")


def _make_step(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    shape = (N,) if rng.random() < 0.5 else (N, int(rng.integers(1, 6)))
    z = rng.normal(size=shape) * scale_for(kind)
    z[rng.random(size=shape) < 0.3] = 0.0  # exact zeros: the convention step(0) = 1
    if kind == "batch of one" and rng.random() < 0.5:
        return (np.float64(z.flat[0]),)  # a single number, as weighted_sum gives
    return (z,)


@exercise_check
def step_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``step``: the same result as ``nnlib.perceptron.step`` on generated
    vectors and matrices with exact zeros, large values and single numbers; ``z`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.perceptron.step, _make_step, name="step",
                            seed=hidden_seed(f"{SLUG}/step"))


# ---------------------------------------------------------------------------------------------
# sigmoid_unit
# ---------------------------------------------------------------------------------------------


@exercise_check
def sigmoid_unit(fn: Callable[..., Any]) -> None:
    """Visible checks of ``sigmoid_unit(x, w, b)``:

    - it is your own code: it neither is, nor calls, ``nnlib.perceptron.sigmoid_unit`` or the
      sigmoid of ``nnlib.activations`` (lesson 02 has you write that one);
    - one example with weighted sum 0 gives the single number 0.5;
    - a batch of two gives the values sigmoid(1) and sigmoid(-1), and a batch of one has
      shape (1,);
    - weighted sums of +-10^6 give 1 and 0 (an overflow warning is fine here, NaN is not);
    - on ``X_sep``, ``sigmoid_unit(x) >= 0.5`` exactly where the weighted sum is >= 0: the
      same decision as the step unit.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.perceptron.sigmoid_unit, nnlib.activations.sigmoid,
                     nnlib.activations.sigmoid_forward, args=(np.zeros((2, 3)), np.ones(3), 0.0))

    a0 = call(fn, np.zeros(3), np.ones(3), 0.0, name="sigmoid_unit(np.zeros(3), np.ones(3), 0.0)")
    ensure(not (_one_number(a0) == 1.0),
           "sigmoid_unit(np.zeros(3), np.ones(3), 0.0) returned 1.0 for the weighted sum 0, "
           "where the sigmoid gives 1 / (1 + exp(0)) = 0.5: a threshold (step) in place of the "
           "sigmoid? The sigmoid unit passes z through the smooth sigmoid, not the step.")
    assert_close(a0, 0.5,
                 name="sigmoid_unit(np.zeros(3), np.ones(3), 0.0)", layout="() (one example)",
                 reveal=True)
    a = call(fn, np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([1.0, 0.0]), 0.0,
             name="sigmoid_unit(np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([1.0, 0.0]), 0.0)")
    ensure(not looks_like(a, [0.2689414213699951, 0.7310585786300049]),
           "sigmoid_unit(np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([1.0, 0.0]), 0.0) gives "
           "1 - sigmoid(z): a weighted sum of +1 should give more than 0.5, and yours gives less. "
           "Check the sign inside np.exp: sigmoid(z) = 1 / (1 + exp(-z)).")
    assert_close(a, [0.7310585786300049, 0.2689414213699951],
                 name="sigmoid_unit(np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([1.0, 0.0]), "
                      "0.0)",
                 layout="(N,) = (2,)", reveal=True)
    assert_close(call(fn, np.array([[2.0]]), np.array([1.0]), -2.0,
                      name="sigmoid_unit(np.array([[2.0]]), np.array([1.0]), -2.0)"), [0.5],
                 name="sigmoid_unit(np.array([[2.0]]), np.array([1.0]), -2.0) (a batch of one)",
                 layout="(N,) = (1,)", reveal=True)
    with np.errstate(over="ignore"):
        big = call(fn, np.array([[1000.0], [-1000.0]]), np.array([1000.0]), 0.0,
                   name="sigmoid_unit(np.array([[1000.0], [-1000.0]]), np.array([1000.0]), 0.0)")
    ensure(not (np.shape(big) == (2,) and np.isnan(np.asarray(big, dtype=float)[0])),
           "sigmoid_unit(np.array([[1000.0], [-1000.0]]), np.array([1000.0]), 0.0) returned NaN "
           "for the weighted sum +10^6: the form exp(z) / (1 + exp(z)) computes inf / inf there. "
           "Use 1 / (1 + exp(-z)), which gives 1 / (1 + 0) = 1.")
    assert_close(big, [1.0, 0.0],
                 name="sigmoid_unit(np.array([[1000.0], [-1000.0]]), np.array([1000.0]), 0.0)",
                 layout="(N,) = (2,)", reveal=True)
    X_sep = _separable()[0].copy()
    w_sep = np.array([1.0, -2.0])
    a_sep = call(fn, X_sep, w_sep, 0.3, name="sigmoid_unit(X_sep, w, b)")
    same_side = (np.asarray(a_sep) >= 0.5) == (X_sep @ w_sep + 0.3 >= 0)
    ensure(np.all(same_side),
           f"sigmoid_unit and step disagree on which side of the line {np.sum(~same_side)} "
           "points of X_sep lie: sigmoid(z) >= 0.5 should hold exactly when z >= 0 (check the "
           "sign inside np.exp)")
    print("✔ sigmoid_unit passes the visible checks")


def _make_sig(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N, D = batch_size_for(kind, rng), int(rng.integers(1, 9))
    s = scale_for(kind)
    X = rng.normal(size=(N, D)) * s
    if kind == "batch of one" and rng.random() < 0.5:
        X = X[0]  # a single example (D,)
    return X, rng.normal(size=D) * s, float(rng.normal()) * s


@exercise_check
def sigmoid_unit_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``sigmoid_unit``: the same result as ``nnlib.perceptron.sigmoid_unit``
    on generated batches and single examples, including weighted sums far from 0."""
    __tracebackhide__ = True
    with np.errstate(over="ignore", under="ignore"):
        check_against_reference(fn, nnlib.perceptron.sigmoid_unit, _make_sig,
                                name="sigmoid_unit", seed=hidden_seed(f"{SLUG}/sigmoid_unit"),
                                atol=1e-12)


# ---------------------------------------------------------------------------------------------
# perceptron_update
# ---------------------------------------------------------------------------------------------


@exercise_check
def perceptron_update(fn: Callable[..., Any]) -> None:
    """Visible checks of ``perceptron_update(w, b, x, y, lr)``:

    - it is your own code: it neither is, nor calls, ``nnlib.perceptron.perceptron_update``;
    - neither ``w`` nor ``x`` is modified in place;
    - it returns a tuple ``(w_new, b_new)``, ``b_new`` a single number;
    - the worked example of the text (w = 0, b = 0, x = (1, 2), y = 0, lr = 0.5, where
      z = 0 and so y_hat = step(0) = 1) updates to w = (-0.5, -1), b = -0.5;
    - a correctly classified example changes nothing;
    - a missed class-1 example and a wrongly accepted class-0 example move w and b by the
      rule of the text, in opposite directions.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.perceptron.perceptron_update,
                     args=(np.zeros(2), 0.0, np.ones(2), 0, 1.0))

    w_ex, x_ex = np.zeros(2), np.array([1.0, 2.0])
    result = call(fn, w_ex, 0.0, x_ex, 0, 0.5, name="perceptron_update(w, 0.0, x, 0, 0.5)")
    ensure(np.array_equal(w_ex, [0.0, 0.0]),
           "perceptron_update modified its input w in place (as `w += ...` does, which writes "
           "into the caller's array): write `w_new = w + ...`, which builds a new array")
    ensure(np.array_equal(x_ex, [1.0, 2.0]),
           "perceptron_update modified its input x in place: build new arrays "
           "(`lr * error * x`) instead of writing into x")
    ensure(isinstance(result, tuple) and len(result) == 2,
           "perceptron_update should return a tuple (w_new, b_new), got "
           f"{type(result).__name__}"
           + (f" of length {len(result)}" if isinstance(result, tuple | list) else ""))
    w_ex_new, b_ex_new = result
    if np.ndim(w_ex_new) == 0 and np.shape(b_ex_new) == (2,):
        raise GradingError(
            "perceptron_update(w, 0.0, x, 0, 0.5) returned a single number first and an array "
            "of shape (2,) second: the order is (w_new, b_new), the weights first. Did you "
            "return (b_new, w_new)?")
    if np.shape(w_ex_new) == (2,) and looks_like(w_ex_new, [-0.25, -0.5]):
        raise GradingError(
            "perceptron_update moved w half as far as it should on the worked example (w = 0, "
            "b = 0, x = (1, 2), y = 0, lr = 0.5): at z = 0 your prediction is 0.5, as the "
            "sigmoid gives. The perceptron predicts with step: y_hat = step(z) = 1 there.")
    if (np.shape(w_ex_new) == (2,) and np.allclose(np.asarray(w_ex_new, dtype=float), 0.0)
            and _one_number(b_ex_new) == 0.0):
        raise GradingError(
            "perceptron_update left w and b unchanged on the worked example (w = 0, b = 0, "
            "x = (1, 2), y = 0, lr = 0.5). There z = 0, so y_hat = step(0) = 1 differs from "
            "y = 0 and the rule must update: predict with your step (step(0) = 1, i.e. z >= 0, "
            "not z > 0), then add lr * (y - y_hat) * x to w and lr * (y - y_hat) to b")
    assert_close(w_ex_new, [-0.5, -1.0],
                 name="w_new of the worked example (w = 0, b = 0, x = (1, 2), y = 0, lr = 0.5)",
                 layout="(D,) = (2,)", reveal=True)
    b_num = _one_number(b_ex_new)
    ensure(b_num is not None,
           f"b_new should be a single number, got a {type(b_ex_new).__name__} of shape "
           f"{np.shape(b_ex_new)}")
    ensure(np.isclose(b_num, -0.5),  # type: ignore[arg-type]
           f"b_new of the worked example: got {b_num:.6g}, expected -0.5 = 0 + 0.5 * (0 - 1) "
           "(was b updated, with the same lr * (y - y_hat) as w?)")

    w0, x0 = np.array([1.0, -1.0]), np.array([2.0, 1.0])
    name = "perceptron_update(w, b, x, y, lr)"
    # z = 1.5: correctly predicted 1
    w_new, b_new = expect_arity(call(fn, w0, 0.5, x0, 1, 0.1, name=name), ["w_new", "b_new"],
                                name=name)
    assert_close(w_new, w0, reveal=True,
                 name="w_new for a correctly classified example (it should not change)")
    assert_close(b_new, 0.5, reveal=True,
                 name="b_new for a correctly classified example (it should not change)")
    # z = -1: predicted 0, label 1
    w_new, b_new = expect_arity(call(fn, w0, -2.0, x0, 1, 0.5, name=name), ["w_new", "b_new"],
                                name=name)
    assert_close(w_new, [2.0, -0.5], name="w_new after missing a class-1 example (y = 1, "
                 "y_hat = 0)", reveal=True)
    assert_close(b_new, -1.5, name="b_new after missing a class-1 example", reveal=True)
    # z = 3: predicted 1, label 0
    w_new, b_new = expect_arity(call(fn, w0, 2.0, x0, 0, 0.5, name=name), ["w_new", "b_new"],
                                name=name)
    assert_close(w_new, [0.0, -1.5], name="w_new after accepting a class-0 example (y = 0, "
                 "y_hat = 1)", reveal=True)
    assert_close(b_new, 1.5, name="b_new after accepting a class-0 example", reveal=True)
    ensure(np.array_equal(w0, [1.0, -1.0]) and np.array_equal(x0, [2.0, 1.0]),
           "perceptron_update modified w or x in place: write w = w + ... (a new array), not "
           "w += ...")
    print("✔ perceptron_update passes the visible checks")


def _make_update(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    D = 1 if kind == "batch of one" else int(rng.integers(1, 9))
    s = scale_for(kind)
    w, x = rng.normal(size=D) * s, rng.normal(size=D) * s
    b = 0.0 if rng.random() < 0.2 else float(rng.normal()) * s
    if rng.random() < 0.2:
        w = np.zeros(D)  # z = 0 when b = 0: step(0) = 1
    return w, b, x, int(rng.integers(0, 2)), float(rng.choice([0.01, 0.1, 0.5, 1.0, 2.0]))


@exercise_check
def perceptron_update_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``perceptron_update``: the same ``(w_new, b_new)`` as
    ``nnlib.perceptron.perceptron_update`` on three series of generated examples (one feature,
    odd and random sizes, large values, w = 0 and b = 0 where z = 0, both labels, several
    learning rates); inputs unchanged."""
    __tracebackhide__ = True
    for series in ("", "/2", "/3"):
        check_against_reference(fn, nnlib.perceptron.perceptron_update, _make_update,
                                name="perceptron_update",
                                seed=hidden_seed(f"{SLUG}/perceptron_update{series}"))


# ---------------------------------------------------------------------------------------------
# train_perceptron
# ---------------------------------------------------------------------------------------------


def _rng_use(rng_after: np.random.Generator, seed: int, N: int, epochs: int) -> str | None:
    """None if rng_after is default_rng(seed) after exactly `epochs` draws of rng.permutation(N);
    otherwise what the learner's function did with it, in words."""
    replay = np.random.default_rng(seed)
    states = [replay.bit_generator.state]
    for _ in range(2 * epochs + 2):
        replay.permutation(N)
        states.append(replay.bit_generator.state)
    if rng_after.bit_generator.state == states[epochs]:
        return None
    if rng_after.bit_generator.state == states[0]:
        return ("never drew from its `rng` argument (a fixed order, or np.random.permutation, "
                "which uses NumPy's global generator instead of the one passed in)")
    if rng_after.bit_generator.state in states:
        k = states.index(rng_after.bit_generator.state)
        return (f"drew rng.permutation(N) {k} time{'s' if k != 1 else ''} in {epochs} epochs"
                + (" (once before the loop?)" if k == 1 else ""))
    return ("used its `rng` in some other way than rng.permutation(N) (rng.integers, "
            "rng.choice, rng.shuffle(X), a random start...)")


def _train(fn: Callable[..., Any], X: Any, y: Any, *, epochs: int, lr: float,
           rng: np.random.Generator, text: str) -> tuple[Any, ...]:
    __tracebackhide__ = True
    name = f"train_perceptron({text})"
    return expect_arity(call(fn, X, y, epochs=epochs, lr=lr, rng=rng, name=name),
                        ["w", "b", "errors"], name=name)


@exercise_check
def train_perceptron(fn: Callable[..., Any]) -> None:
    """Visible checks of ``train_perceptron(X, y, *, epochs, lr, rng)``:

    - it is your own code: it neither is, nor calls, ``nnlib.perceptron.train_perceptron`` (or
      ``perceptron_history``);
    - it returns a tuple ``(w, b, errors)``;
    - on the single example x = (1, 2), y = 0 with lr = 0.5 for 3 epochs it ends at
      w = (-0.5, -1), b = -0.5, with errors (1, 0, 0): it starts from w = 0, b = 0.0;
    - ``X`` is left unchanged (no ``rng.shuffle(X)``);
    - it draws ``rng.permutation(N)`` from the ``rng`` passed in, once at the start of every
      epoch, for all ``epochs`` epochs: the checks replay your run with the same generator, on
      20 points with three flipped labels, and compare errors, w and b;
    - on ``X_sep`` for 30 epochs: ``errors`` is an integer array of shape (30,), the last epoch
      makes no mistake, and the returned (w, b) classify every point correctly.
    """
    __tracebackhide__ = True
    refs = (nnlib.perceptron.train_perceptron, nnlib.perceptron.perceptron_history)
    forbid_reference(fn, *refs)
    forbid_reference(
        lambda X, y: fn(X, y, epochs=2, lr=1.0, rng=np.random.default_rng(0)),
        *refs, args=(np.eye(2), np.array([0, 1])), name="train_perceptron")

    w_t, b_t, errors_t = _train(fn, np.array([[1.0, 2.0]]), np.array([0]), epochs=3, lr=0.5,
                                rng=np.random.default_rng(0),
                                text="X = [[1, 2]], y = [0], epochs=3, lr=0.5, rng")
    assert_close(w_t, [-0.5, -1.0],
                 name="w after training on the single example x = (1, 2), y = 0, lr = 0.5",
                 layout="(D,) = (2,)", reveal=True)
    b_num = _one_number(b_t)
    ensure(b_num is not None,
           f"b should be a single number, got a {type(b_t).__name__} of shape {np.shape(b_t)}")
    ensure(np.isclose(b_num, -0.5),  # type: ignore[arg-type]
           f"b after training on that single example: got {b_num:.6g}, expected -0.5 (b starts "
           "at 0.0 and the only mistake, in epoch 1, adds lr * (y - y_hat) = 0.5 * (0 - 1))")
    if isinstance(errors_t, np.ndarray | list) and 0 < len(errors_t) < 3:
        raise GradingError(
            f"errors for that single example over 3 epochs has {len(errors_t)} entr"
            f"{'y' if len(errors_t) == 1 else 'ies'}, one per epoch that ran: did you stop early "
            "once an epoch made no mistake? The text asks for all `epochs` epochs (no early "
            "stop), one count each: later epochs simply count 0.")
    assert_close(errors_t, [1, 0, 0], name="errors for that single example over 3 epochs",
                 layout="(epochs,) = (3,)", reveal=True)

    X_sep, y_sep = (a.copy() for a in _separable())
    X_r, y_r = X_sep[:20].copy(), y_sep[:20].copy()
    y_r[:3] = 1 - y_r[:3]  # three flipped labels: not separable, so every epoch counts
    rng_r = np.random.default_rng(7)
    w_r, b_r, errors_r = _train(fn, X_r, y_r, epochs=4, lr=1.0, rng=rng_r,
                                text="X_r, y_r, epochs=4, lr=1.0, rng")
    ensure(np.array_equal(X_r, X_sep[:20]),
           "train_perceptron modified X in place (rng.shuffle(X) does): index with the order "
           "instead")
    misuse = _rng_use(rng_r, 7, 20, 4)
    ensure(misuse is None,
           f"train_perceptron(X_r, y_r, epochs=4, lr=1.0, rng=np.random.default_rng(7)) {misuse}. "
           "The checks replay your run: draw order = rng.permutation(N) from the rng argument, "
           "once at the start of every epoch, for all `epochs` epochs (no early stop)")
    w_ref, b_ref, errors_ref = nnlib.perceptron.train_perceptron(
        X_r, y_r, epochs=4, lr=1.0, rng=np.random.default_rng(7))
    assert_close(errors_r, errors_ref,
                 name="errors of train_perceptron(X_r, y_r, epochs=4, lr=1.0, "
                      "rng=np.random.default_rng(7)), replayed with the same generator",
                 layout="(epochs,) = (4,)", reveal=True)
    assert_close(w_r, w_ref, name="w of that replayed run", layout="(D,) = (2,)", reveal=True)
    assert_close(b_r, b_ref, name="b of that replayed run", layout="() (a number)", reveal=True)

    X_before = X_sep.copy()
    rng_s = np.random.default_rng(1)
    w_s, b_s, errors_s = _train(fn, X_sep, y_sep, epochs=30, lr=1.0, rng=rng_s,
                                text="X_sep, y_sep, epochs=30, lr=1.0, rng")
    ensure(np.array_equal(X_sep, X_before),
           "train_perceptron modified X in place: index with the order instead")
    misuse = _rng_use(rng_s, 1, len(X_sep), 30)
    ensure(misuse is None,
           f"train_perceptron(X_sep, y_sep, epochs=30, lr=1.0, rng=np.random.default_rng(1)) "
           f"{misuse}. Draw order = rng.permutation(N) from the rng argument once at the start "
           "of every epoch, for all `epochs` epochs (no early stop: later epochs simply make no "
           "mistakes)")
    ensure(np.shape(errors_s) == (30,),
           f"errors should have shape (epochs,) = (30,), got {np.shape(errors_s)}")
    ensure(np.issubdtype(np.asarray(errors_s).dtype, np.integer),
           f"errors should hold integers (counts of mistakes), got dtype "
           f"{np.asarray(errors_s).dtype}")
    ensure(errors_s[-1] == 0,
           f"on the separable set X_sep the last of 30 epochs still made {errors_s[-1]} "
           "mistakes; the perceptron should have converged (check the update and the mistake "
           "count)")
    still_wrong = int(np.sum((X_sep @ np.asarray(w_s, dtype=float) + float(b_s) >= 0) != y_sep))
    ensure(still_wrong == 0,
           f"after training on X_sep the returned (w, b) still misclassify {still_wrong} points: "
           "return the final w and b")
    print("✔ train_perceptron passes the visible checks")


def _make_train(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    if kind == "random" and rng.random() < 0.5:
        X, y = nnlib.perceptron.make_separable(N, margin=0.05, rng=rng)
    else:
        X = rng.normal(size=(N, int(rng.integers(1, 5)))) * scale_for(kind)
        y = rng.integers(0, 2, size=N)
    return (X, y, int(rng.integers(1, 8)), float(rng.choice([0.1, 0.5, 1.0, 2.0])),
            int(rng.integers(0, 2**31)))


@exercise_check
def train_perceptron_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``train_perceptron``: the same ``(w, b, errors)`` as
    ``nnlib.perceptron.train_perceptron`` with the same generator, on two series of generated
    data sets (one example, odd sizes, separable and random labels, large values, 1 to 7
    epochs, several learning rates), drawing ``rng.permutation(N)`` once per epoch."""
    __tracebackhide__ = True

    def learner(X: Any, y: Any, epochs: int, lr: float, seed: int) -> Any:
        __tracebackhide__ = True
        rng_h = np.random.default_rng(seed)
        out = fn(X, y, epochs=epochs, lr=lr, rng=rng_h)
        misuse = _rng_use(rng_h, seed, len(X), epochs)
        if misuse is not None:
            raise GradingError(
                f"train_perceptron on a hidden case {misuse}: draw order = rng.permutation(N) "
                "from the rng argument, once at the start of every epoch, for all `epochs` "
                "epochs")
        return out

    def reference(X: Any, y: Any, epochs: int, lr: float, seed: int) -> Any:
        return nnlib.perceptron.train_perceptron(X, y, epochs=epochs, lr=lr,
                                                 rng=np.random.default_rng(seed))

    for series in ("", "/2"):
        check_against_reference(learner, reference, _make_train, name="train_perceptron",
                                seed=hidden_seed(f"{SLUG}/train_perceptron{series}"))
