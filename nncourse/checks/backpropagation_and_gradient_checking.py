"""The checks of lesson 05, backpropagation and gradient checking
(``solutions/05_backpropagation_and_gradient_checking``).

Eight exercises: ``numerical_gradient``, ``rel_error``, the backward passes ``linear_backward``,
``relu_backward``, ``sigmoid_backward`` and ``softmax_cross_entropy_backward``, backpropagation
through ``two_layer_loss_and_grads``, and the update rule ``sgd_step``. ``<exercise>(fn)`` runs
the visible checks, ``<exercise>_hidden(fn)`` compares ``fn`` with ``nnlib`` on generated cases.
Deriving the backward passes is the lesson: no message states one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nnlib.activations
import nnlib.backprop
import nnlib.gradcheck
import nnlib.layers
import nnlib.losses
import nnlib.modules
import nnlib.optim
from nncourse.checks._contract import (
    call,
    call_advised,
    exercise_check,
    expect_arity,
    expect_keys,
    expect_number,
    expect_order,
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

__all__ = [
    "numerical_gradient",
    "numerical_gradient_hidden",
    "rel_error",
    "rel_error_hidden",
    "linear_backward",
    "linear_backward_hidden",
    "relu_backward",
    "relu_backward_hidden",
    "sigmoid_backward",
    "sigmoid_backward_hidden",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_backward_hidden",
    "two_layer_loss_and_grads",
    "two_layer_loss_and_grads_hidden",
    "sgd_step",
    "sgd_step_hidden",
]

Fn = Callable[..., Any]
SLUG = "backpropagation_and_gradient_checking"
#: A backward pass whose gradient check scores above this is wrong: the notebook's table says
#: "below 1e-7: the gradient is right" (correct code scores about 1e-8 to 1e-11 here).
GRADCHECK_TOL = 1e-7


def _seed(exercise: str) -> int:
    return hidden_seed(f"{SLUG}/{exercise}")


def _gradcheck(forward: Fn, backward: Fn, inputs: Any, *, names: Sequence[str], name: str,
               rng: np.random.Generator) -> None:
    """nnlib's gradient check of ``backward`` against ``forward``, as a learner's message."""
    __tracebackhide__ = True
    shapes = " and ".join(f"{n} {np.shape(x)}" for n, x in zip(
        names, inputs if isinstance(inputs, tuple) else (inputs,), strict=True))
    try:
        nnlib.gradcheck.check_gradients(forward, backward, inputs, rng=rng, tol=GRADCHECK_TOL,
                                        names=tuple(names))
    except GradingError:
        raise
    except AssertionError as exc:
        raise GradingError(
            f"{name} fails the gradient check on random inputs ({shapes}): {exc}. Above 1e-2 "
            "the formula is wrong, not merely inaccurate."
        ) from None
    except Exception as exc:  # noqa: BLE001 (the learner's error, in their words)
        raise GradingError(f"{name} on random inputs ({shapes}) raised "
                           f"{type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# numerical_gradient
# ---------------------------------------------------------------------------------------------


@exercise_check
def numerical_gradient(fn: Fn) -> None:
    """Visible checks of ``numerical_gradient(f, x, h=1e-5) -> grad``:

    - it is your own code, not ``nnlib.gradcheck.numerical_gradient`` (nor the array version);
    - ``x`` comes back exactly as it went in (restored, not nudged back by arithmetic);
    - the ``h`` passed in is used, and the central difference, not a one-sided one;
    - ``f(x) = sum(x**3)`` with ``h = 0.5`` and ``h = 1e-2``: the exact central differences;
    - a matrix ``x``: the gradient of ``sum(A * M)`` is ``A``;
    - a float32 ``x`` is evaluated in float32.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.gradcheck.numerical_gradient,
                     nnlib.gradcheck.numerical_gradient_array,
                     args=(lambda v: np.sum(v ** 2), np.array([1.0, 2.0])))
    x_keep = np.random.default_rng(3).normal(size=(20, 10))
    x_before = x_keep.copy()
    call(fn, lambda v: np.sum(np.sin(v)), x_keep, h=1e-2,
         name="numerical_gradient(lambda v: np.sum(np.sin(v)), x, h=1e-2)")
    if not np.array_equal(x_keep, x_before):
        raise GradingError(
            "numerical_gradient changed its input x: after the call some entries differ from "
            "before. Save the old value and put it back with x[ix] = old (not by adding or "
            "subtracting h), or work on a copy made with x.copy().")
    cube = "numerical_gradient(lambda v: np.sum(v ** 3), np.array([1.0, -2.0, 0.5]), h={})"
    x_cube = np.array([1.0, -2.0, 0.5])
    g_cube = call(fn, lambda v: np.sum(v ** 3), x_cube.copy(), h=0.5, name=cube.format(0.5))
    if looks_like(g_cube, 3 * x_cube ** 2):
        raise GradingError(
            f"{cube.format(0.5)} returned 3 x**2 almost exactly, but with h = 0.5 central "
            "differences give 3 x**2 + h**2 = 3 x**2 + 0.25: are you using the h passed in (not "
            "a fixed 1e-5)?")
    forward = 3 * x_cube ** 2 + 3 * x_cube * 0.5 + 0.25    # (f(x + h) - f(x)) / h for x**3
    if looks_like(g_cube, forward) or looks_like(g_cube, forward / 2):
        raise GradingError(
            f"{cube.format(0.5)} matches a one-sided difference that uses f(x) itself. Use the "
            "central difference (f(x + h) - f(x - h)) / (2h): nudge x[ix] up, then down, never "
            "evaluate f at x.")
    assert_close(g_cube, 3 * x_cube ** 2 + 0.25, name=cube.format(0.5), layout="(3,)",
                 rtol=1e-8, reveal=True)
    assert_close(call(fn, lambda v: np.sum(v ** 3), x_cube.copy(), h=1e-2,
                      name=cube.format(0.01)),
                 3 * x_cube ** 2 + 1e-4, name=cube.format(0.01), layout="(3,)", rtol=1e-8,
                 reveal=True)
    A = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.5]])
    M = np.array([[0.3, -0.1, 2.0], [1.0, -4.0, 0.7]])
    what = "numerical_gradient(lambda M: np.sum(A * M), M) for a (2, 3) matrix M"
    g_mat = call(fn, lambda m: np.sum(A * m), M, name=what)
    if looks_like(g_mat, np.repeat(A.sum(axis=1, keepdims=True), 3, axis=1)):
        raise GradingError(
            f"{what}: every entry of a row holds the same value, the sum of that row's "
            "derivatives. Your loop nudged a whole row x[i] at once (a loop over len(x) visits "
            "rows, not entries): nudge one entry at a time, over every index of x, for example "
            "with np.ndindex(x.shape).")
    assert_close(g_mat, A, name=what, layout="(2, 3)", rtol=1e-6)
    seen: list[Any] = []
    call(fn, lambda v: seen.append(np.asarray(v).dtype) or float(np.sum(v)),
         np.array([1.0, 2.0], dtype=np.float32), h=1e-2,
         name="numerical_gradient(f, x) with a float32 x")
    if not (seen and all(d == np.float32 for d in seen)):
        raise GradingError(
            "numerical_gradient(f, x) with a float32 x called f with arrays of dtype "
            f"{sorted(set(str(d) for d in seen))}, expected float32 only. If you work on a copy, "
            "make it with x.copy(), which keeps the dtype; x.astype(float) or np.array(x, "
            "dtype=float) turn it into float64 and the float32 curve of section 3 would be "
            "wrong.")
    print("✔ numerical_gradient passes the visible checks")


def _make_numgrad_case(rng: np.random.Generator, kind: str) -> tuple[Fn, np.ndarray, float]:
    N = batch_size_for(kind, rng)
    D = 8 if kind == "odd sizes" else int(rng.integers(1, 6))   # many entries: any drift shows
    c = rng.normal(size=(N, D))
    d = rng.normal(size=(N, D))

    def f(v: np.ndarray) -> float:
        return np.sum(c * np.sin(v)) + 0.1 * np.sum(d * v) ** 2 + 0.05 * np.sum(v ** 3)

    x = rng.normal(size=(N, D)) * (1.0 if kind != "extreme values" else 30.0)
    h = 1e-2 if kind == "odd sizes" else float(rng.choice([1e-2, 1e-3, 1e-4]))
    return (f, x, h)


@exercise_check
def numerical_gradient_hidden(fn: Fn) -> None:
    """Hidden checks of ``numerical_gradient``: equal to ``nnlib.gradcheck.numerical_gradient``
    on generated smooth functions of matrices, with several values of ``h``."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.gradcheck.numerical_gradient, _make_numgrad_case,
                            name="numerical_gradient", layout="(N, D)",
                            seed=_seed("numerical_gradient"), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# rel_error
# ---------------------------------------------------------------------------------------------


def _rel_number(fn: Fn, a: np.ndarray, b: np.ndarray, call_text: str) -> float:
    __tracebackhide__ = True
    return expect_number(
        call(fn, a, b, name=call_text), name=call_text, what="one number",
        advice="rel_error reports the error of the worst entry, one float: reduce the "
               "entries' errors with np.max over all of them",
    )


def _one_ratio(text: str, value: float) -> GradingError:
    return GradingError(
        f"{text} returned {value:.4g}: one ratio for the whole array, the difference divided by "
        "a denominator taken over all entries (large entries swamp the error of a small one). "
        "rel_error is per entry: each entry's difference over that entry's own |a| + |b|, then "
        "the worst of those ratios.")


@exercise_check
def rel_error(fn: Fn) -> None:
    """Visible checks of ``rel_error(a, b, eps=1e-8) -> float``:

    - it is your own code, not ``nnlib.gradcheck.rel_error``;
    - it returns one number (an array of per-entry errors is named), as a Python float;
    - the worst entry counts: not the mean, not the sum of the entries' errors;
    - the denominator is ``|a| + |b|`` (not ``|a + b|``) with the floor ``max(..., eps)``
      per entry (not ``+ eps``);
    - equal inputs give 0, zeros give 0 (the floor avoids 0/0), tiny ones are floored.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.gradcheck.rel_error, args=(np.array([1.0]), np.array([1.5])))
    # One bad entry among four: 1 / 3 there, 0 elsewhere; the worst entry counts.
    text = "rel_error(np.array([1.0, 1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 2.0]))"
    worst = _rel_number(fn, np.ones(4), np.array([1.0, 1.0, 1.0, 2.0]), text)
    if np.isclose(worst, 1 / 12):
        raise GradingError(
            f"{text} returned 1/12, the average of the entries' errors. rel_error reports the "
            "WORST entry (max), not an average: one bad entry must not hide among good ones.")
    if np.isclose(worst, 1 / 9):
        raise _one_ratio(text, worst)
    if np.isclose(worst, 1 / 2):
        raise GradingError(
            f"{text} returned 0.5 = 1 / 2: at the last entry your denominator is 2, max(|a|, |b|) "
            "or one of them alone. The denominator is |a| + |b| = 1 + 2 = 3 there (floored at "
            "eps): both values count, so rel_error is symmetric and at most 1.")
    assert_close(worst, 1 / 3, name=text, what="a float", reveal=True)
    # Opposite signs: |1 - (-1)| / (|1| + |-1|) = 1.
    signs = _rel_number(fn, np.array([1.0]), np.array([-1.0]),
                        "rel_error(np.array([1.0]), np.array([-1.0]))")
    if not np.isclose(signs, 1.0):
        raise GradingError(
            f"rel_error(np.array([1.0]), np.array([-1.0])) returned {signs:.3g}, expected "
            "1.0 = 2 / 2. The denominator is |a| + |b| (the absolute value of each), not "
            "|a + b|, which is 0 here.")
    text = "rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0]))"
    assert_close(_rel_number(fn, np.array([1.0, 2.0]), np.array([1.0, 2.0]), text), 0.0,
                 name=text, what="a float")
    # entry 0: 0.1 / 2.1; entry 1: 0; the worst entry counts
    text = "rel_error(np.array([1.0, 100.0]), np.array([1.1, 100.0]))"
    per_entry = _rel_number(fn, np.array([1.0, 100.0]), np.array([1.1, 100.0]), text)
    if any(np.isclose(per_entry, 0.1 / d) for d in (202.1, 200.0, 2 * 202.1)):
        raise _one_ratio(text, per_entry)
    assert_close(per_entry, 0.1 / 2.1, name=text, what="a float", reveal=True)
    # two entries differ: 2 / 4 and 1 / 3; the larger one is the answer
    text = "rel_error(np.array([[-3.0, 1.0]]), np.array([[-1.0, 2.0]]))"
    two = _rel_number(fn, np.array([[-3.0, 1.0]]), np.array([[-1.0, 2.0]]), text)
    if np.isclose(two, 0.5 + 1 / 3):
        raise GradingError(
            f"{text} returned 2/4 + 1/3, the sum of the entries' errors. rel_error reports the "
            "WORST entry (max), not a sum or an average.")
    assert_close(two, 0.5, name=text, what="a float", reveal=True)
    text = "rel_error(np.zeros(3), np.zeros(3))"
    assert_close(_rel_number(fn, np.zeros(3), np.zeros(3), text), 0.0, what="a float",
                 name=f"{text} (both zero: the eps floor avoids 0/0)")
    text = "rel_error(np.array([0.0]), np.array([1e-12]))"
    tiny = _rel_number(fn, np.array([0.0]), np.array([1e-12]), text)
    if np.isclose(tiny, 1e-12 / (1e-12 + 1e-8), rtol=1e-9, atol=0):
        raise GradingError(
            f"{text} returned 1e-12 / (1e-12 + 1e-8): your denominator adds eps to |a| + |b|. "
            "The floor replaces a denominator smaller than eps by eps and leaves larger ones "
            "alone: it is the elementwise maximum of |a| + |b| and eps (np.maximum), not a sum.")
    assert_close(tiny, 1e-12 / 1e-8, what="a float",
                 name=f"{text} (below the floor eps=1e-8)", reveal=True)
    result = call(fn, np.array([2.0, 3.0]), np.array([2.5, 3.0]),
                  name="rel_error(np.array([2.0, 3.0]), np.array([2.5, 3.0]))")
    expect_number(result, name="rel_error(np.array([2.0, 3.0]), np.array([2.5, 3.0]))",
                  what="one number", python_float=True)
    print("✔ rel_error passes the visible checks")


def _make_relerr_case(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 6))
    a = rng.normal(size=(N, D)) * 10.0 ** rng.integers(-3, 4, size=(N, D)) * scale_for(kind)
    b = a * (1 + rng.normal(size=(N, D)) * 10.0 ** rng.integers(-9, -1, size=(N, D)))
    if kind == "odd sizes":
        b = np.where(rng.random((N, D)) < 0.2, -b, b)   # some entries with the wrong sign
    zero = rng.random((N, D)) < 0.2
    a[zero] = 0.0
    b[zero] = 0.0
    return (a, b)


@exercise_check
def rel_error_hidden(fn: Fn) -> None:
    """Hidden checks of ``rel_error``: equal to ``nnlib.gradcheck.rel_error`` on generated pairs
    spanning many orders of magnitude, with zeros and wrong signs."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.gradcheck.rel_error, _make_relerr_case, name="rel_error",
                            seed=_seed("rel_error"), rtol=1e-9, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# linear_backward
# ---------------------------------------------------------------------------------------------


@exercise_check
def linear_backward(fn: Fn) -> None:
    """Visible checks of ``linear_backward(dout, cache) -> (dx, dW, db)``:

    - it is your own code, not ``nnlib.layers.linear_backward``;
    - it returns three arrays, in the order ``(dx, dW, db)`` (another order is named);
    - ``dout`` and the arrays of the cache are not modified in place;
    - ``dx``, ``dW`` and ``db`` of a worked 2x2 example (x (2, 2), W (2, 3));
    - gradient checks against central differences (``rel_error`` below 1e-7) for a square
      ``W`` and for a batch of one.
    """
    __tracebackhide__ = True
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    b = np.array([0.5, -1.0, 2.0])
    dout = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 3.0]])
    forbid_reference(fn, nnlib.layers.linear_backward, args=(dout, (x, W, b)))
    kept = [a.copy() for a in (dout, x, W, b)]
    text = "linear_backward(dout, (x, W, b))"
    grads = expect_arity(call_advised(fn, dout, (x, W, b), name=text, advice=MATMUL_ADVICE),
                         ("dx", "dW", "db"), name=text)
    for pname, before, after in zip(("dout", "x", "W", "b"), kept, (dout, x, W, b), strict=True):
        if not np.array_equal(before, after):
            raise GradingError(f"{text} modified `{pname}` in place: compute new arrays and "
                               "leave dout and the cache unchanged.")
    expected = (np.array([[1.0, 2.0], [-3.0, 2.0]]),
                np.array([[1.0, 0.0, 0.0], [2.0, -2.0, -3.0]]), np.array([1.0, 2.0, 3.0]))
    expect_order(grads, expected, ("dx", "dW", "db"), name=text)
    for value, want, gname, layout in zip(grads, expected, ("dx", "dW", "db"),
                                          ("(N, D) = (2, 2)", "(D, M) = (2, 3)", "(M,) = (3,)"),
                                          strict=True):
        assert_close(value, want, name=f"{gname} of {text}", layout=layout)
    rng = np.random.default_rng(5)
    for N, D, M in [(5, 3, 3), (1, 4, 2)]:
        inputs = (rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M))
        _gradcheck(nnlib.layers.linear_forward, fn, inputs, names=("x", "W", "b"),
                   name="linear_backward", rng=rng)
    print("✔ linear_backward passes the visible checks")


#: A matrix product whose shapes do not line up, in the learner's words.
MATMUL_ADVICE = ((ValueError, "matmul", (
    "The two factors of one of your matrix products do not line up: here x is (2, 2), W "
    "(2, 3) and dout (2, 3). Each gradient has the shape of its variable (dx like x, dW like "
    "W): write the shapes of your two factors under each product; where the inner sizes "
    "differ, one factor needs a transpose (.T).")),)


def _make_linear_back(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 7))
    M = D if kind == "random" else int(rng.integers(1, 7))
    s = scale_for(kind)
    x = rng.normal(size=(N, D)) * s
    W = rng.normal(size=(D, M))
    b = rng.normal(size=M)
    dout = rng.normal(size=(N, M)) * s
    return (dout, (x, W, b))


@exercise_check
def linear_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``linear_backward``: equal to ``nnlib.layers.linear_backward`` on
    generated layers (a batch of one, square ``W``, odd sizes, extreme values)."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.layers.linear_backward, _make_linear_back,
                            name="linear_backward", seed=_seed("linear_backward"))


# ---------------------------------------------------------------------------------------------
# relu_backward and sigmoid_backward
# ---------------------------------------------------------------------------------------------


def _no_dout(text: str) -> GradingError:
    return GradingError(
        f"{text} does not depend on dout: your dx is the local derivative alone. A backward "
        "pass sends the loss's gradient on, so the upstream gradient dout must enter dx "
        "(section 1: downstream = upstream x local).")


@exercise_check
def relu_backward(fn: Fn) -> None:
    """Visible checks of ``relu_backward(dout, cache) -> dx`` (``cache`` is the input ``x``):

    - it is your own code, not ``nnlib.activations.relu_backward``;
    - a worked example with an input exactly 0 (the convention ``relu'(0) = 0``);
    - ``dout`` is used, and ``dout`` and the cache are not modified in place;
    - a gradient check against central differences (``rel_error`` below 1e-7), away from 0.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.activations.relu_backward,
                     args=(np.array([1.0, 2.0]), np.array([-1.0, 1.0])))
    dout = np.array([[1.0, 2.0, 3.0, -4.0]])
    x = np.array([[-1.0, 0.0, 2.0, 0.5]])
    text = "relu_backward(dout=[[1, 2, 3, -4]], cache=x=[[-1, 0, 2, 0.5]])"
    kept = dout.copy(), x.copy()
    dx = call(fn, dout, x, name=text)
    if not np.array_equal(dout, kept[0]):
        raise GradingError("relu_backward modified dout in place: build a new array instead")
    if not np.array_equal(x, kept[1]):
        raise GradingError("relu_backward modified its cache (the input x) in place: build a "
                           "new array instead")
    if looks_like(dx, [[0.0, 2.0, 3.0, -4.0]]):
        raise GradingError(
            f"{text}: dx is not 0 at the input that is exactly 0 (entry (0, 1)). The convention "
            "is relu'(0) = 0: an input of exactly 0 passes no gradient, so the comparison with "
            "0 must be strict.")
    if looks_like(dx, [[0.0, 0.0, 1.0, 1.0]]) or looks_like(dx, [[0.0, 1.0, 1.0, 1.0]]):
        raise _no_dout(text)
    assert_close(dx, [[0.0, 0.0, 3.0, -4.0]], name=f"{text} (relu'(0) = 0)", layout="(1, 4)",
                 reveal=True)
    rng = np.random.default_rng(6)
    xr = rng.normal(size=(4, 5))
    xr[np.abs(xr) < 0.05] = 0.5                       # stay away from the kink
    _gradcheck(nnlib.activations.relu_forward, fn, xr, names=("x",), name="relu_backward",
               rng=rng)
    print("✔ relu_backward passes the visible checks")


def _make_relu_back(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 9))
    x = rng.normal(size=(N, D)) * scale_for(kind)
    x[rng.random((N, D)) < 0.2] = 0.0
    dout = rng.normal(size=(N, D)) * scale_for(kind)
    return (dout, x)


@exercise_check
def relu_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``relu_backward``: equal to ``nnlib.activations.relu_backward`` on
    generated inputs, a fifth of them exactly 0."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.activations.relu_backward, _make_relu_back,
                            name="relu_backward", layout="(N, D)", seed=_seed("relu_backward"))


@exercise_check
def sigmoid_backward(fn: Fn) -> None:
    """Visible checks of ``sigmoid_backward(dout, cache) -> dx`` (``cache`` is the output
    ``out = sigmoid(x)``):

    - it is your own code, not ``nnlib.activations.sigmoid_backward``;
    - a worked example with outputs 0.5, 0.9, 0.2 and 0;
    - the cache is used as the output it is (not passed through sigmoid again), and ``dout``
      is used;
    - ``dout`` and the cache are not modified in place;
    - a gradient check against central differences (``rel_error`` below 1e-7).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.activations.sigmoid_backward,
                     args=(np.array([1.0, 2.0]), np.array([0.5, 0.25])))
    dout = np.array([[2.0, 1.0, -1.0, 5.0]])
    out = np.array([[0.5, 0.9, 0.2, 0.0]])
    text = "sigmoid_backward(dout=[[2, 1, -1, 5]], cache=out=[[0.5, 0.9, 0.2, 0.0]])"
    kept = dout.copy(), out.copy()
    dx = call(fn, dout, out, name=text)
    if not (np.array_equal(dout, kept[0]) and np.array_equal(out, kept[1])):
        raise GradingError("sigmoid_backward modified dout or its cache in place: build a new "
                           "array instead")
    twice = nnlib.activations.sigmoid(out)
    if looks_like(dx, dout * twice * (1 - twice)) or looks_like(dx, twice * (1 - twice)):
        raise GradingError(
            f"{text}: your dx is what you get after applying sigmoid to the cache again. The "
            "cache already is sigmoid(x), the output of the forward pass: use it as it is.")
    if looks_like(dx, out * (1 - out)):
        raise _no_dout(text)
    if looks_like(dx, dout * (1 - out ** 2)):
        raise GradingError(
            f"{text}: your dx uses the derivative of tanh (written with its output), not that "
            "of sigmoid. Derive sigmoid's derivative from 1/(1 + e^(-x)) (lesson 02) and write "
            "it with the output out that the cache holds.")
    assert_close(dx, [[0.5, 0.09, -0.16, 0.0]], name=text, layout="(1, 4)", reveal=True)
    rng = np.random.default_rng(7)
    _gradcheck(nnlib.activations.sigmoid_forward, fn, rng.normal(size=(3, 4)) * 3, names=("x",),
               name="sigmoid_backward", rng=rng)
    print("✔ sigmoid_backward passes the visible checks")


def _make_sigmoid_back(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 9))
    out = nnlib.activations.sigmoid(rng.normal(size=(N, D)) * 3 * scale_for(kind))
    dout = rng.normal(size=(N, D)) * scale_for(kind)
    return (dout, out)


@exercise_check
def sigmoid_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``sigmoid_backward``: equal to ``nnlib.activations.sigmoid_backward`` on
    generated outputs, saturated ones (0 and 1) included."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.activations.sigmoid_backward, _make_sigmoid_back,
                            name="sigmoid_backward", layout="(N, D)",
                            seed=_seed("sigmoid_backward"))


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy_backward
# ---------------------------------------------------------------------------------------------


def _mean_ce(y: np.ndarray) -> Fn:
    rows = np.arange(len(y))
    return lambda z: float(np.mean(-nnlib.activations.log_softmax(z)[rows, y]))


@exercise_check
def softmax_cross_entropy_backward(fn: Fn) -> None:
    """Visible checks of ``softmax_cross_entropy_backward(logits, y) -> dlogits``:

    - it is your own code, not ``nnlib.losses.softmax_cross_entropy_loss``;
    - a softmax taken over the batch axis (axis=0) instead of each row is named;
    - one entry per row is changed for the true class, not whole columns ``[:, y]``;
    - equal logits (a worked example) and extreme logits (+-1000) in a batch of one;
    - two rows 2000 apart: a single shift for the whole batch (not one per row) is named;
    - ``logits`` is not modified in place;
    - the result equals the numerical gradient of the mean cross-entropy.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.softmax_cross_entropy_loss,
                     args=(np.zeros((2, 3)), np.array([0, 2])))
    text = "softmax_cross_entropy_backward(np.zeros((2, 3)), np.array([0, 2]))"
    d_eq = call(fn, np.zeros((2, 3)), np.array([0, 2]), name=text)
    cols = np.full((2, 3), 1 / 3)
    cols[:, [0, 2]] -= 1                   # what [:, y] does: whole columns
    if looks_like(d_eq, cols / 2) or looks_like(d_eq, cols):
        raise GradingError(
            f"{text}: entries outside the true class changed (1 was subtracted in whole "
            "columns). Index with [np.arange(N), y], one entry per row; [:, y] hits every row "
            "of the columns in y.")
    column_softmax = np.full((2, 3), 1 / 2)                # softmax over axis=0 of zeros
    if any(looks_like(d_eq, (column_softmax - onehot) / k)
           for onehot in (np.array([[1.0, 0, 0], [0, 0, 1.0]]), np.where(cols < 0, 1.0, 0.0))
           for k in (1, 2)):
        raise GradingError(
            f"{text}: the probabilities behind your result are normalised over the batch axis "
            "(axis=0): each column sums to 1. Softmax gives one distribution per example, over "
            "the K classes of its row: use nnlib's softmax, or take the row maximum and the row "
            "sums with axis=1 (and keepdims=True).")
    onehot_eq = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    if looks_like(d_eq, -onehot_eq / 2) or looks_like(d_eq, -onehot_eq):
        raise GradingError(
            f"{text}: only the true class's entry of each row is nonzero, so your result is the "
            "gradient of the first term -z[n, y_n] alone. The second term, the log of the sum "
            "of e^z over the row, depends on every logit of the row: its gradient is nonzero "
            "for every class (section 6, second bullet).")
    assert_close(d_eq, np.array([[-2.0, 1.0, 1.0], [1.0, 1.0, -2.0]]) / 6, name=text,
                 layout="(N, K) = (2, 3)")
    text = "softmax_cross_entropy_backward(np.array([[1000.0, -1000.0, 0.0]]), np.array([1]))"
    assert_close(call(fn, np.array([[1000.0, -1000.0, 0.0]]), np.array([1]), name=text),
                 [[1.0, -1.0, 0.0]], name=text, layout="(N, K) = (1, 3)")
    far = np.array([[1000.0, 0.0, 0.0], [-1000.0, -1000.0, -999.0]])
    text = ("softmax_cross_entropy_backward(np.array([[1000.0, 0.0, 0.0], "
            "[-1000.0, -1000.0, -999.0]]), np.array([0, 2]))")
    d_far = np.asarray(call(fn, far.copy(), np.array([0, 2]), name=text), dtype=float)
    if d_far.shape == (2, 3) and np.isfinite(d_far[0]).all() and not np.isfinite(d_far[1]).any():
        raise GradingError(
            f"{text}: the first row is finite but the second is NaN. The rows lie 2000 apart: "
            "shifting the logits by one maximum for the whole batch (logits.max()) leaves the "
            "second row's exponentials all 0, and 0/0 is NaN. Each row needs its own shift, its "
            "own maximum (axis=1, keepdims=True), or use nnlib's softmax.")
    p_far = np.exp(far[1] - far[1].max())
    p_far /= p_far.sum()
    assert_close(d_far, np.array([[0.0, 0.0, 0.0], [*p_far[:2], p_far[2] - 1]]) / 2, name=text,
                 layout="(N, K) = (2, 3)")
    rng = np.random.default_rng(8)
    z = rng.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    z_before = z.copy()
    text = "softmax_cross_entropy_backward(z, y)"
    dz = call(fn, z, y, name=text)
    if not np.array_equal(z, z_before):
        raise GradingError("softmax_cross_entropy_backward modified logits in place: work on "
                           "a copy")
    wrong_axis = np.exp(z - np.log(np.exp(z).sum(axis=0, keepdims=True)))
    wrong_axis[np.arange(5), y] -= 1
    if looks_like(dz, wrong_axis / 5):
        raise GradingError(
            f"{text}: the probabilities behind your result are normalised over the batch axis "
            "(axis=0). Softmax gives one distribution per example: normalise each row, over "
            "the K classes (axis=1).")
    assert_close(dz, nnlib.gradcheck.numerical_gradient(_mean_ce(y), z.copy()),
                 name=f"{text} against the numerical gradient of the mean loss",
                 layout="(N, K) = (5, 4)", rtol=1e-5, atol=1e-9)
    print("✔ softmax_cross_entropy_backward passes the visible checks")


def _make_ce_back(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    N = batch_size_for(kind, rng)
    K = int(rng.integers(2, 8))
    logits = rng.normal(size=(N, K)) * 3 * scale_for(kind)
    return (logits, rng.integers(0, K, size=N))


def _ce_gradient(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return nnlib.losses.softmax_cross_entropy_loss(z, y)[1]


@exercise_check
def softmax_cross_entropy_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``softmax_cross_entropy_backward``: equal to the gradient
    ``nnlib.losses.softmax_cross_entropy_loss`` returns, on generated logits up to +-3000."""
    __tracebackhide__ = True
    check_against_reference(fn, _ce_gradient, _make_ce_back,
                            name="softmax_cross_entropy_backward", layout="(N, K)",
                            seed=_seed("softmax_cross_entropy_backward"), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# two_layer_loss_and_grads
# ---------------------------------------------------------------------------------------------

KEYS = ("W1", "b1", "W2", "b2")


def _two_layer_problem(rng: np.random.Generator, N: int, D: int, H: int, K: int):
    X = rng.normal(size=(N, D))
    y = rng.integers(0, K, size=N)
    params = {"W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H) * 0.1,
              "W2": rng.normal(size=(H, K)), "b2": rng.normal(size=K) * 0.1}
    return X, y, params


def _two_layer_call(fn: Fn, X: Any, y: Any, params: dict[str, Any], text: str):
    __tracebackhide__ = True
    result = expect_arity(call(fn, X, y, params, name=text), ("loss", "grads"), name=text)
    loss = expect_number(result[0], name=f"the loss of {text}", what="one number (the mean)",
                         advice="average the examples' losses with np.mean")
    expect_keys(result[1], KEYS, name=text)
    _expect_grad_shapes(result[1], params, text)
    return loss, result[1]


def _expect_grad_shapes(grads: Any, params: dict[str, Any], text: str) -> None:
    """Two gradients returned under each other's keys are named (not blamed on a reduction)."""
    __tracebackhide__ = True
    shape = {k: np.shape(grads[k]) for k in KEYS}
    for key in KEYS:
        if shape[key] == np.shape(params[key]):
            continue
        for other in KEYS:
            if (other != key and shape[key] == np.shape(params[other])
                    and shape[other] == np.shape(params[key])):
                raise GradingError(
                    f'{text}: grads["{key}"] has the shape {shape[key]} of params["{other}"], '
                    f'and grads["{other}"] the shape {shape[other]} of params["{key}"]: the two '
                    "gradients look swapped. Each key of grads holds the gradient of the "
                    "parameter with the same key, and has its shape: check which backward call "
                    "returns which gradient, and the keys of the dict you return.")


@exercise_check
def two_layer_loss_and_grads(fn: Fn) -> None:
    """Visible checks of ``two_layer_loss_and_grads(X, y, params) -> (loss, grads)``:

    - it is your own code: neither ``nnlib.backprop.two_layer_loss_and_grads`` nor nnlib's
      modules' ``backward``;
    - it returns ``(loss, grads)``, the loss one number and ``grads`` a dict with the keys of
      ``params``;
    - a network of one example, one hidden unit and two classes, worked by hand, and the same
      network with scores of +-999.5: the loss stays finite (stable for large scores);
    - each gradient has the shape of its parameter (two gradients under swapped keys are named);
    - ``params`` is not modified; the loss is the mean over N = 6 examples, as
      ``nnlib.CrossEntropyLoss`` computes it for the same network;
    - every gradient agrees with the numerical gradient of your loss (``rel_error`` below
      1e-7) and with the gradients ``nnlib.Sequential`` computes for the same network.
    """
    __tracebackhide__ = True
    X, y, params = _two_layer_problem(np.random.default_rng(9), 6, 4, 5, 3)
    forbid_reference(fn, nnlib.backprop.two_layer_loss_and_grads,
                     nnlib.modules.Sequential.backward, nnlib.modules.Linear.backward,
                     args=(X, y, params))
    # One example, one hidden unit, two classes, by hand: z1 = h = 1.5, scores = (1.5, -1.5).
    p0 = 1 / (1 + np.exp(-3.0))
    text = "two_layer_loss_and_grads on the one-example network"
    loss, g = _two_layer_call(fn, np.array([[2.0]]), np.array([0]),
                              {"W1": np.array([[1.0]]), "b1": np.array([-0.5]),
                               "W2": np.array([[1.0, -1.0]]), "b2": np.zeros(2)}, text)
    assert_close(loss, -np.log(p0), name="the loss of the one-example network", what="a float")
    for key, want, layout in (("b2", [p0 - 1, 1 - p0], "(K,) = (2,)"),
                              ("W2", [[1.5 * (p0 - 1), 1.5 * (1 - p0)]], "(H, K) = (1, 2)"),
                              ("b1", [2 * (p0 - 1)], "(H,) = (1,)"),
                              ("W1", [[4 * (p0 - 1)]], "(D, H) = (1, 1)")):
        assert_close(g[key], want, name=f'grads["{key}"] of the one-example network',
                     layout=layout)
    # Large scores: the same network with X = 1000 gives scores (999.5, -999.5); y = [1] is
    # the low one, so the loss is 1999 (to 1e-300) and p = (1, 0) exactly in float64.
    text = "two_layer_loss_and_grads on the one-example network with X = [[1000.0]], y = [1]"
    loss, g = _two_layer_call(fn, np.array([[1000.0]]), np.array([1]),
                              {"W1": np.array([[1.0]]), "b1": np.array([-0.5]),
                               "W2": np.array([[1.0, -1.0]]), "b2": np.zeros(2)}, text)
    if not np.isfinite(loss):
        raise GradingError(
            f"the loss of {text} (scores (999.5, -999.5)) is {loss}, expected 1999.0 (finite). "
            "np.exp of a large score overflows to inf, and the log of a probability that "
            "underflowed to 0 is -inf: compute the loss from log_softmax(scores), which is "
            "stable for large scores, not from np.exp or np.log(softmax(...)).")
    assert_close(loss, 1999.0, name=f"the loss of {text}", what="a float")
    assert_close(g["b2"], [1.0, -1.0], name=f'grads["b2"] of {text}', layout="(K,) = (2,)")
    # The same network as nnlib modules, with the same weights (N = 6 examples).
    net = nnlib.modules.Sequential(
        nnlib.modules.Linear(4, 5, rng=np.random.default_rng(0)), nnlib.modules.ReLU(),
        nnlib.modules.Linear(5, 3, rng=np.random.default_rng(0)))
    net.load_state_dict({"0.weight": params["W1"], "0.bias": params["b1"],
                         "2.weight": params["W2"], "2.bias": params["b2"]})
    criterion = nnlib.modules.CrossEntropyLoss()
    expected_loss = criterion(net(X), y)
    before = {k: v.copy() for k, v in params.items()}
    text = "two_layer_loss_and_grads(X, y, params)"
    loss, g = _two_layer_call(fn, X, y, params, text)
    for key in KEYS:
        if not np.array_equal(params[key], before[key]):
            raise GradingError(f'two_layer_loss_and_grads modified params["{key}"] in place')
    if np.isclose(loss, 6 * expected_loss, rtol=1e-6):
        raise GradingError(
            "the loss of two_layer_loss_and_grads(X, y, params) for N = 6 examples is 6 times "
            "the expected one: is your loss the mean over N (np.mean), not the sum?")
    assert_close(loss, expected_loss, name=f"the loss of {text} (N = 6)", what="a float")
    # The gradients of a backward pass that goes from the second dense layer straight to the
    # first, without relu_backward in between.
    h = np.maximum(X @ params["W1"] + params["b1"], 0)
    dscores = _ce_gradient(h @ params["W2"] + params["b2"], y)
    dh, dW2, _ = nnlib.layers.linear_backward(dscores, (h, params["W2"], params["b2"]))
    dW1_skipped = nnlib.layers.linear_backward(dh, (X, params["W1"], params["b1"]))[1]
    if looks_like(g["W2"], dW2) and looks_like(g["W1"], dW1_skipped):
        raise GradingError(
            f"{text}: grads[\"W2\"] is right, but grads[\"W1\"] is what you get when the "
            "gradient skips the ReLU: it went from the second dense layer straight to the "
            "first. Backpropagation visits every node of the forward pass in reverse: call "
            "relu_backward, with the cache relu_forward left, between the two linear_backward "
            "calls.")
    for key in KEYS:
        p = {k: v.copy() for k, v in params.items()}

        def f(v: np.ndarray, key: str = key, p: dict[str, Any] = p) -> float:
            p[key] = v
            return fn(X, y, p)[0]

        numeric = nnlib.gradcheck.numerical_gradient(f, params[key].copy())
        assert_close(g[key], numeric, rtol=1e-5, atol=1e-9, layout=str(params[key].shape),
                     name=f'grads["{key}"] compared with the numerical gradient of your loss')
        err = nnlib.gradcheck.rel_error(g[key], numeric)
        if not err < GRADCHECK_TOL:
            raise GradingError(f'grads["{key}"] disagrees with the numerical gradient of your '
                               f"loss: rel_error {err:.1e} (a right gradient scores below 1e-7)")
    net.backward(criterion.backward())
    for key, param in (("W1", net[0].weight), ("b1", net[0].bias), ("W2", net[2].weight),
                       ("b2", net[2].bias)):
        assert_close(g[key], param.grad, name=f'grads["{key}"] compared with nnlib.Sequential',
                     layout=f"{param.shape}")
    print("✔ two_layer_loss_and_grads passes the visible checks")


def _make_two_layer(rng: np.random.Generator, kind: str):
    N = batch_size_for(kind, rng)
    D, H, K = int(rng.integers(1, 6)), int(rng.integers(1, 9)), int(rng.integers(2, 6))
    X, y, params = _two_layer_problem(rng, N, D, H, K)
    return (X * scale_for(kind), y, params)


@exercise_check
def two_layer_loss_and_grads_hidden(fn: Fn) -> None:
    """Hidden checks of ``two_layer_loss_and_grads``: the loss and every gradient equal
    ``nnlib.backprop.two_layer_loss_and_grads`` on generated networks (a batch of one, odd and
    random sizes, extreme inputs), and ``params`` is left unchanged."""
    __tracebackhide__ = True

    def kept_pure(X: Any, y: Any, params: dict[str, Any]) -> Any:
        kept = {k: v.copy() for k, v in params.items()}
        result = fn(X, y, params)
        for k, v in kept.items():
            if not np.array_equal(params[k], v):
                raise GradingError(f"two_layer_loss_and_grads changed params[{k!r}] in place on "
                                   "a hidden case; leave params as they are")
        if (isinstance(result, tuple | list) and len(result) == 2
                and isinstance(result[1], dict) and all(k in result[1] for k in KEYS)):
            _expect_grad_shapes(result[1], params, "two_layer_loss_and_grads on a hidden case")
        return result

    kept_pure.__name__ = "two_layer_loss_and_grads"
    check_against_reference(kept_pure, nnlib.backprop.two_layer_loss_and_grads, _make_two_layer,
                            name="two_layer_loss_and_grads", seed=_seed("two_layer_loss_and_grads"),
                            compare=lambda r: (r[0], *(r[1][k] for k in KEYS)),
                            rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# sgd_step
# ---------------------------------------------------------------------------------------------


@exercise_check
def sgd_step(fn: Fn) -> None:
    """Visible checks of ``sgd_step(params, grads, lr) -> new_params``:

    - it is your own code, not ``nnlib.backprop.sgd_step`` nor ``nnlib.optim.sgd``;
    - it returns a new dict with the keys of ``params``;
    - the update of a worked example with ``lr = 0.1``, and ``lr = 0`` changes nothing;
    - neither the caller's dict nor its arrays are changed in place.
    """
    __tracebackhide__ = True
    params = {"w": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    grads = {"w": np.array([[0.5, -1.0]]), "b": np.array([2.0])}
    forbid_reference(fn, nnlib.backprop.sgd_step, nnlib.optim.sgd, args=(params, grads, 0.1))
    before = {k: v.copy() for k, v in params.items()}
    arrays_before = dict(params)          # the array objects themselves
    new = call(fn, params, grads, 0.1, name="sgd_step(params, grads, 0.1)")
    if not isinstance(new, dict):
        raise GradingError(f"sgd_step should return a dict, got {type(new).__name__}")
    if sorted(new) != ["b", "w"]:
        raise GradingError(f"sgd_step should return the keys of params ['b', 'w'], got "
                           f"{sorted(new)}")
    if looks_like(new["w"], [[1.05, 1.9]]):
        raise GradingError(
            'sgd_step(params, grads, 0.1)["w"] moved up the gradient (Got [[1.05, 1.9]], '
            "expected [[0.95, 2.1]]): the gradient points to where the loss grows, and a step "
            "of gradient descent goes the other way. Check the sign of the update.")
    assert_close(new["w"], [[0.95, 2.1]], name='sgd_step(params, grads, 0.1)["w"]',
                 layout="(1, 2)", reveal=True)
    assert_close(new["b"], [0.3], name='sgd_step(params, grads, 0.1)["b"]', layout="(1,)",
                 reveal=True)
    for k in params:
        if params[k] is not arrays_before[k]:
            raise GradingError(f'sgd_step replaced params["{k}"] in the caller\'s dict: build '
                               "and return a new dict, don't assign into params")
        if not np.array_equal(params[k], before[k]):
            raise GradingError(f'sgd_step changed the array params["{k}"] in place (-= or '
                               "[...] =): compute params[k] - lr * grads[k], which makes a new "
                               "array, and put it in a new dict")
    if new is params:
        raise GradingError("sgd_step returned the dict params itself: build and return a new "
                           "dict")
    zero = call(fn, params, grads, 0.0, name="sgd_step(params, grads, 0.0)")
    assert_close(zero["w"] if isinstance(zero, dict) else zero, params["w"],
                 name='sgd_step(params, grads, 0.0)["w"] (lr = 0 changes nothing)')
    print("✔ sgd_step passes the visible checks")


def _make_sgd_case(rng: np.random.Generator, kind: str):
    N = batch_size_for(kind, rng)
    D, K = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    shapes = {"W1": (N, D), "b1": (D,), "W2": (D, K), "b2": (K,)}
    params = {k: rng.normal(size=s) * scale_for(kind) for k, s in shapes.items()}
    grads = {k: rng.normal(size=s) for k, s in shapes.items()}
    return (params, grads, float(rng.uniform(0.001, 2.0)))


@exercise_check
def sgd_step_hidden(fn: Fn) -> None:
    """Hidden checks of ``sgd_step``: equal to ``nnlib.backprop.sgd_step`` on generated
    parameter dicts and learning rates, the caller's dict and arrays left unchanged."""
    __tracebackhide__ = True

    def kept_pure(params: dict[str, Any], grads: dict[str, Any], lr: float) -> Any:
        kept = {k: v.copy() for k, v in params.items()}
        arrays = dict(params)
        new = fn(params, grads, lr)
        for k, v in kept.items():
            if params[k] is not arrays[k]:
                raise GradingError(f"sgd_step replaced params[{k!r}] in the caller's dict on a "
                                   "hidden case: build and return a new dict, don't assign into "
                                   "params")
            if not np.array_equal(params[k], v):
                raise GradingError(f"sgd_step changed the array params[{k!r}] in place on a "
                                   "hidden case: compute params[k] - lr * grads[k] into a new "
                                   "dict")
        return new

    kept_pure.__name__ = "sgd_step"
    check_against_reference(kept_pure, nnlib.backprop.sgd_step, _make_sgd_case, name="sgd_step",
                            seed=_seed("sgd_step"), compare=lambda p: tuple(p[k] for k in KEYS))
