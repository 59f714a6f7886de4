"""Checks of lesson 02, activation functions.

``solutions/02_activation_functions``: sigmoid, tanh, ReLU, leaky ReLU and softmax, and their
derivatives (the softmax Jacobian). Each exercise has its visible checks, ``<name>(fn)``, and its
hidden checks, ``<name>_hidden(fn)``, which compare ``fn`` with ``nnlib.activations`` on
generated cases.

The derivatives are derived by the learner: no docstring or message here states one. Their
checks compare with hand-computed values, with finite differences of the functions themselves,
and with the reference on hidden cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.activations as act
from nncourse.checks._contract import (
    GradingError,
    call,
    ensure,
    exercise_check,
    expect_floating,
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

SLUG = "activation_functions"

__all__ = [
    "sigmoid", "sigmoid_hidden",
    "sigmoid_derivative", "sigmoid_derivative_hidden",
    "tanh", "tanh_hidden",
    "tanh_derivative", "tanh_derivative_hidden",
    "relu", "relu_hidden",
    "relu_derivative", "relu_derivative_hidden",
    "leaky_relu", "leaky_relu_hidden",
    "leaky_relu_derivative", "leaky_relu_derivative_hidden",
    "softmax", "softmax_hidden",
    "softmax_jacobian", "softmax_jacobian_hidden",
]

LN2, LN3, LN5 = np.log(2.0), np.log(3.0), np.log(5.0)


def _names_used(fn: Any) -> set[str]:
    """The global and attribute names the code of ``fn`` uses, nested functions, lambdas and
    comprehensions included (empty for a non-function)."""
    code = getattr(fn, "__code__", None)
    names: set[str] = set()
    todo = [code] if code is not None else []
    while todo:
        current = todo.pop()
        names.update(current.co_names)
        todo.extend(c for c in current.co_consts if hasattr(c, "co_names"))
    return names


def _unchanged(x_in: np.ndarray, before: Any, fname: str, advice: str) -> None:
    __tracebackhide__ = True
    ensure(np.array_equal(x_in, before), f"{fname} modified its input x in place: {advice}")


def _nonfinite_at_extremes(value: Any, fname: str, call_text: str, advice: str) -> None:
    """A targeted message when the result at inputs of +-1000 holds NaN or inf."""
    __tracebackhide__ = True
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return
    if arr.size and not np.isfinite(arr).all():
        raise GradingError(
            f"{call_text} returned {'NaN' if np.isnan(arr).any() else 'inf'}: {advice}")


def _the_function_itself(value: Any, function_value: Any, fname: str, of: str) -> None:
    """A targeted message when a derivative returns the function's own values."""
    __tracebackhide__ = True
    ensure(not looks_like(value, function_value),
           f"{fname} returned the values of {of} itself: that is the function, not its slope. "
           f"The derivative says how fast {of} changes when x changes a little.")


#: Relative error within which a derived formula matches the exact slope (a formula is exact
#: to about 1e-15; a central finite difference (f(x+h) - f(x-h)) / 2h reaches 1e-10 at best).
EXACT_RTOL = 1e-12


def _exactly(value: Any, exact: np.ndarray, fname: str, call_text: str, of: str) -> None:
    """A targeted message when ``value`` is close to ``exact`` but only as close as a finite
    difference gets: the slope was measured, not derived."""
    __tracebackhide__ = True
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return
    if arr.shape != exact.shape or not np.allclose(arr, exact, rtol=1e-6, atol=1e-9):
        return  # wrong in another way: the usual comparison says how
    rel = float(np.max(np.abs(arr - exact) / np.maximum(np.abs(exact), 1e-300)))
    ensure(rel <= EXACT_RTOL,
           f"{call_text} is only approximately right: it differs from the exact derivative by "
           f"up to {rel:.1e} relative, as a finite difference ({of}(x + h) - {of}(x - h)) / 2h "
           "would, while a derived formula is exact to about 1e-15. The exercise asks you to "
           "derive the derivative by hand and write the formula, not to measure the slope "
           "numerically.")


def _no_numerical_gradient(fn: Any, fname: str) -> None:
    __tracebackhide__ = True
    ensure(not {"numerical_gradient", "numerical_gradient_array"} & _names_used(fn),
           f"{fname} calls numerical_gradient: a finite difference is only approximately right "
           "(about 1e-10 relative at best). Derive the derivative by hand and write the formula; "
           "numerical_gradient is the tool to check it with, not to compute it.")


def _no_overflow(fn: Callable[..., Any], x: np.ndarray, call_text: str, advice: str) -> None:
    """A targeted message when ``fn(x)`` overflows, even where the overflow is then hidden
    (1 / inf = 0 gives the right number with an overflow warning)."""
    __tracebackhide__ = True
    try:
        with np.errstate(over="raise"):
            fn(x)
    except FloatingPointError as exc:
        raise GradingError(f"{call_text} overflowed ({exc}): {advice}") from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(f"{call_text} raised {explain_exception(exc)}") from None


def _exact_on_hidden_case(fn: Callable[..., Any], exact: Callable[[np.ndarray], np.ndarray],
                          fname: str, of: str, seed: int) -> None:
    """The exactness check on a generated (N, D) array of moderate inputs (where the formula
    has no cancellation): the inputs are not shown."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6))))
    got = call(fn, x.copy(), name=f"{fname} on a hidden case")
    _exactly(got, exact(x), fname, f"{fname} on a hidden case", of)


# ---------------------------------------------------------------------------------------------
# sigmoid
# ---------------------------------------------------------------------------------------------


@exercise_check
def sigmoid(fn: Callable[..., Any]) -> None:
    """Visible checks of ``sigmoid(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.sigmoid`` (or
      ``sigmoid_forward``);
    - it does not call ``np.errstate`` or ``np.seterr``, which only hide an overflow, nor
      ``scipy.special.expit``, a ready-made sigmoid;
    - ``x`` is left unchanged;
    - sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4 and sigmoid(-ln 3) = 1/4;
    - sigmoid(x) + sigmoid(-x) = 1 on a 2 x 2 array (the result keeps the shape of ``x``);
    - inputs of -1000 and 1000 give exactly 0 and 1, with no overflow, even in a branch that
      ``np.where`` throws away (the check runs under ``np.errstate(over='raise')``).
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.sigmoid, act.sigmoid_forward, act._sigmoid,
                     args=(np.array([0.5, -2.0]),))
    ensure(getattr(fn, "__name__", "") != "expit" and "expit" not in _names_used(fn),
           "sigmoid calls scipy.special.expit, a ready-made sigmoid. In this lesson you build "
           "every activation function from NumPy: write the stable formula yourself.")
    ensure(not {"errstate", "seterr"} & _names_used(fn),
           "sigmoid calls np.errstate (or np.seterr), which only hides the overflow warning. "
           "Make the formula itself safe: exponentiate only numbers <= 0, such as -|x|.")
    x_in = np.array([[-3.0, -0.5], [0.5, 3.0]])
    call(fn, x_in, name="sigmoid(np.array([[-3.0, -0.5], [0.5, 3.0]]))")
    _unchanged(x_in, [[-3.0, -0.5], [0.5, 3.0]], "sigmoid",
               "write into a new array (np.empty_like(x)) instead.")
    assert_close(call(fn, np.array([0.0, LN3, -LN3]), name="sigmoid(np.array([0.0, ln 3, -ln 3]))"),
                 [0.5, 0.75, 0.25], name="sigmoid(np.array([0.0, ln 3, -ln 3]))", layout="(3,)",
                 reveal=True)
    x_sym = np.array([[-3.0, -0.5], [0.5, 3.0]])
    s_plus = call(fn, x_sym, name="sigmoid(x)")
    s_minus = call(fn, -x_sym, name="sigmoid(-x)")
    assert_close(np.asarray(s_plus) + np.asarray(s_minus), np.ones((2, 2)),
                 name="sigmoid(x) + sigmoid(-x) for x = [[-3, -0.5], [0.5, 3]]", layout="(2, 2)")
    try:
        with np.errstate(over="raise"):
            extreme = fn(np.array([-1000.0, 1000.0]))
    except FloatingPointError as exc:
        raise GradingError(
            f"sigmoid(np.array([-1000.0, 1000.0])) overflowed ({exc}): exp(1000) is larger "
            "than any float64. Exponentiate only numbers <= 0 (such as -|x|), and remember "
            "that np.where computes both branches on every entry, so a branch it throws away "
            "can still overflow.") from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(
            f"sigmoid(np.array([-1000.0, 1000.0])) raised {explain_exception(exc)}") from None
    assert_close(extreme, [0.0, 1.0], name="sigmoid(np.array([-1000.0, 1000.0]))",
                 layout="(2,)", reveal=True)
    print("✔ sigmoid passes the visible checks")


def _make_sigmoid_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x = rng.normal(size=(batch_size_for(kind, rng), int(rng.integers(1, 9)))) * 4 * scale_for(kind)
    if kind == "extreme values":
        x.flat[0], x.flat[-1] = 1000.0, -1000.0
    return (x,)


@exercise_check
def sigmoid_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``sigmoid``: the same values as ``nnlib.activations.sigmoid`` on
    generated (N, D) arrays (a batch of one, odd sizes, random, inputs of +-1000), with no
    overflow; ``x`` unchanged."""
    __tracebackhide__ = True
    with np.errstate(over="raise", under="ignore"):
        check_against_reference(fn, act.sigmoid, _make_sigmoid_args, name="sigmoid",
                                layout="(N, D)", seed=hidden_seed(f"{SLUG}/sigmoid"))


# ---------------------------------------------------------------------------------------------
# sigmoid_derivative
# ---------------------------------------------------------------------------------------------


def _sigmoid_slope(x: np.ndarray) -> np.ndarray:
    return act.sigmoid_backward(np.ones_like(x), act.sigmoid_forward(x)[1])


def _numerical_slope(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    from nnlib.gradcheck import numerical_gradient

    return numerical_gradient(lambda v: f(v).sum(), x.copy())


@exercise_check
def sigmoid_derivative(fn: Callable[..., Any]) -> None:
    """Visible checks of ``sigmoid_derivative(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.sigmoid_backward``,
      nor ``numerical_gradient``;
    - ``x`` is left unchanged;
    - at x = 0, ln 3 and -ln 3 it gives 1/4, 3/16 and 3/16;
    - it is the derivative, not the sigmoid itself, and sigmoid is applied once, not twice;
    - on a 2 x 2 array it matches the numerical slope (sigmoid(x + h) - sigmoid(x - h)) / 2h,
      and the exact derivative to 1e-12 relative, closer than a finite difference gets;
    - at x = -1000 and 1000 it gives 0, not NaN, with no overflow on the way (the check runs
      under ``np.errstate(over='raise')``).
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.sigmoid_backward, args=(np.array([0.5, -2.0]),))
    _no_numerical_gradient(fn, "sigmoid_derivative")
    x_in = np.array([[-1.0, 0.5]])
    call(fn, x_in, name="sigmoid_derivative(np.array([[-1.0, 0.5]]))")
    _unchanged(x_in, [[-1.0, 0.5]], "sigmoid_derivative",
               "compute into new arrays (s = sigmoid(x), then expressions of s) instead.")
    x_hand = np.array([0.0, LN3, -LN3])
    d_hand = call(fn, x_hand, name="sigmoid_derivative(np.array([0.0, ln 3, -ln 3]))")
    _the_function_itself(d_hand, act.sigmoid(x_hand), "sigmoid_derivative", "sigmoid")
    ensure(not looks_like(d_hand, _sigmoid_slope(act.sigmoid(x_hand))),
           "sigmoid_derivative(np.array([0.0, ln 3, -ln 3])) gives the slope of sigmoid at "
           "sigmoid(x), not at x: sigmoid is applied twice (for example your formula applies "
           "sigmoid to a value that is already sigmoid(x)).")
    assert_close(d_hand, [0.25, 3 / 16, 3 / 16],
                 name="sigmoid_derivative(np.array([0.0, ln 3, -ln 3]))", layout="(3,)",
                 reveal=True)
    x_slope = np.array([[-4.0, -1.0], [0.3, 2.5]])
    d_slope = call(fn, x_slope, name="sigmoid_derivative(x)")
    assert_close(d_slope,
                 _numerical_slope(act.sigmoid, x_slope),
                 name="sigmoid_derivative(x) against the numerical slope (sigmoid(x+h) - "
                      "sigmoid(x-h)) / 2h",
                 layout="(2, 2)", rtol=1e-6)
    _exactly(d_slope, _sigmoid_slope(x_slope), "sigmoid_derivative",
             "sigmoid_derivative(np.array([[-4.0, -1.0], [0.3, 2.5]]))", "sigmoid")
    far = call(fn, np.array([-1000.0, 1000.0]),
               name="sigmoid_derivative(np.array([-1000.0, 1000.0]))")
    _nonfinite_at_extremes(
        far, "sigmoid_derivative", "sigmoid_derivative(np.array([-1000.0, 1000.0]))",
        "a formula with np.exp(-x) or np.exp(x) in it overflows there (inf / inf is NaN). "
        "Rewrite your result in terms of sigmoid(x) itself, which your stable sigmoid computes "
        "safely for every x.")
    assert_close(far, [0.0, 0.0], name="sigmoid_derivative(np.array([-1000.0, 1000.0]))",
                 layout="(2,)", reveal=True)
    _no_overflow(fn, np.array([-1000.0, 1000.0]),
                 "sigmoid_derivative(np.array([-1000.0, 1000.0]))",
                 "a formula with np.exp in it (a sigmoid of your own written inline, or "
                 "np.exp(-x)) overflows there, even if the result comes out 0. Call your stable "
                 "sigmoid instead and write the result in terms of sigmoid(x).")
    print("✔ sigmoid_derivative passes the visible checks")


def _make_sigmoid_d_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x = rng.normal(size=(batch_size_for(kind, rng), int(rng.integers(1, 9)))) * 4 * scale_for(kind)
    if kind == "extreme values":
        x.flat[0], x.flat[-1] = -1000.0, 1000.0
    return (x,)


@exercise_check
def sigmoid_derivative_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``sigmoid_derivative``: the same values as the slope of
    ``nnlib.activations.sigmoid`` on generated (N, D) arrays (a batch of one, odd sizes,
    random, inputs of +-1000), with no overflow; ``x`` unchanged; exact to 1e-12 relative on
    a generated array of moderate inputs, closer than a finite difference gets."""
    __tracebackhide__ = True
    with np.errstate(over="raise", under="ignore"):
        check_against_reference(fn, _sigmoid_slope, _make_sigmoid_d_args,
                                name="sigmoid_derivative", layout="(N, D)",
                                seed=hidden_seed(f"{SLUG}/sigmoid_derivative"))
    _exact_on_hidden_case(fn, _sigmoid_slope, "sigmoid_derivative", "sigmoid",
                          hidden_seed(f"{SLUG}/sigmoid_derivative/exact"))


# ---------------------------------------------------------------------------------------------
# tanh
# ---------------------------------------------------------------------------------------------


@exercise_check
def tanh(fn: Callable[..., Any]) -> None:
    """Visible checks of ``tanh(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.tanh`` (or
      ``tanh_forward``), and it calls no function named ``tanh`` (``np.tanh``);
    - ``x`` is left unchanged;
    - tanh(ln 2) = 2 sigmoid(2 ln 2) - 1 = 0.6, by hand, with a targeted message when the
      inner 2 is missing;
    - tanh(0) = 0 and tanh(-ln 2) = -0.6;
    - inputs of +-20 and +-1000 give +-1, not NaN (the result keeps the shape of ``x``).
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.tanh, act.tanh_forward, args=(np.array([0.5, -2.0]),))
    ensure("tanh" not in _names_used(fn),
           "tanh calls a function named tanh (np.tanh?). In this exercise build it from your "
           "sigmoid with tanh(x) = 2 sigmoid(2x) - 1.")
    x_in = np.array([[-1.0, 0.5]])
    call(fn, x_in, name="tanh(np.array([[-1.0, 0.5]]))")
    _unchanged(x_in, [[-1.0, 0.5]], "tanh",
               "compute 2 * x into a new array instead of x *= 2.")
    t_ln2 = call(fn, np.array([LN2]), name="tanh(np.array([ln 2]))")
    if isinstance(t_ln2, np.ndarray) and t_ln2.shape == (1,) and not np.isclose(t_ln2[0], 0.6):
        raise GradingError(
            f"tanh(np.array([ln 2])) returned {t_ln2}; by hand, tanh(ln 2) = 2 sigmoid(2 ln 2) "
            "- 1 = 2 * 4/5 - 1 = 0.6." + (
                " You computed 2 sigmoid(x) - 1 = 1/3: the identity feeds sigmoid the input "
                "doubled, 2x, not x." if np.isclose(t_ln2[0], 1 / 3) else
                " Check the three parts of 2 sigmoid(2x) - 1: the input of sigmoid is doubled "
                "(2x), its output is doubled, then 1 is subtracted."))
    assert_close(call(fn, np.array([0.0, LN2, -LN2]), name="tanh(np.array([0.0, ln 2, -ln 2]))"),
                 [0.0, 0.6, -0.6], name="tanh(np.array([0.0, ln 2, -ln 2]))", layout="(3,)",
                 reveal=True)
    x_far = np.array([[-1000.0, -20.0], [20.0, 1000.0]])
    far = call(fn, x_far, name="tanh(np.array([[-1000.0, -20.0], [20.0, 1000.0]]))")
    _nonfinite_at_extremes(
        far, "tanh", "tanh(np.array([[-1000.0, -20.0], [20.0, 1000.0]]))",
        "the exponential formula computes inf / inf at +-1000. Build tanh from your stable "
        "sigmoid instead: tanh(x) = 2 sigmoid(2x) - 1.")
    assert_close(far, [[-1.0, -1.0], [1.0, 1.0]],
                 name="tanh(np.array([[-1000.0, -20.0], [20.0, 1000.0]]))", layout="(2, 2)",
                 reveal=True)
    print("✔ tanh passes the visible checks")


def _make_tanh_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x = rng.normal(size=(batch_size_for(kind, rng), int(rng.integers(1, 9)))) * 3 * scale_for(kind)
    if kind == "extreme values":
        x.flat[0], x.flat[-1] = 1000.0, -1000.0
    return (x,)


@exercise_check
def tanh_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``tanh``: the same values as ``nnlib.activations.tanh`` on generated
    (N, D) arrays (a batch of one, odd sizes, random, inputs of +-1000); ``x`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, act.tanh, _make_tanh_args, name="tanh", layout="(N, D)",
                            seed=hidden_seed(f"{SLUG}/tanh"))


# ---------------------------------------------------------------------------------------------
# tanh_derivative
# ---------------------------------------------------------------------------------------------


def _tanh_slope(x: np.ndarray) -> np.ndarray:
    return act.tanh_backward(np.ones_like(x), act.tanh_forward(x)[1])


@exercise_check
def tanh_derivative(fn: Callable[..., Any]) -> None:
    """Visible checks of ``tanh_derivative(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.tanh_backward``,
      nor ``numerical_gradient``;
    - ``x`` is left unchanged;
    - it is the derivative, not tanh itself;
    - at x = 0, ln 2 and -ln 2 it gives 1, 16/25 and 16/25 (tanh(ln 2) = 0.6), with targeted
      messages when every value is half or a quarter of the right one;
    - on a 2 x 2 array it matches the numerical slope (tanh(x + h) - tanh(x - h)) / 2h,
      and the exact derivative to 1e-12 relative, closer than a finite difference gets;
    - at x = -1000 and 1000 it gives 0, not NaN, with no overflow on the way (the check runs
      under ``np.errstate(over='raise')``).
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.tanh_backward, args=(np.array([0.5, -2.0]),))
    _no_numerical_gradient(fn, "tanh_derivative")
    x_in = np.array([[-1.0, 0.5]])
    call(fn, x_in, name="tanh_derivative(np.array([[-1.0, 0.5]]))")
    _unchanged(x_in, [[-1.0, 0.5]], "tanh_derivative",
               "compute into new arrays (t = tanh(x), then expressions of t) instead.")
    x_hand = np.array([0.0, LN2, -LN2])
    d_hand = call(fn, x_hand, name="tanh_derivative(np.array([0.0, ln 2, -ln 2]))")
    _the_function_itself(d_hand, act.tanh(x_hand), "tanh_derivative", "tanh")
    ensure(not looks_like(d_hand, 0.5 * _tanh_slope(x_hand)),
           "tanh_derivative(np.array([0.0, ln 2, -ln 2])) is half the right slope everywhere "
           "(tanh_derivative(0) should be 1). If you differentiated 2 sigmoid(2x) - 1, the "
           "chain rule also multiplies by the derivative of the inner 2x.")
    ensure(not looks_like(d_hand, 0.25 * _tanh_slope(x_hand)),
           "tanh_derivative(np.array([0.0, ln 2, -ln 2])) is a quarter of the right slope "
           "everywhere (tanh_derivative(0) should be 1). If you differentiated 2 sigmoid(2x) - 1, "
           "keep the factor 2 in front of sigmoid, and the chain rule also multiplies by the "
           "derivative of the inner 2x.")
    assert_close(d_hand, [1.0, 16 / 25, 16 / 25],
                 name="tanh_derivative(np.array([0.0, ln 2, -ln 2]))", layout="(3,)",
                 reveal=True)
    x_slope = np.array([[-2.0, -0.4], [0.7, 1.5]])
    d_slope = call(fn, x_slope, name="tanh_derivative(x)")
    assert_close(d_slope,
                 _numerical_slope(act.tanh, x_slope),
                 name="tanh_derivative(x) against the numerical slope (tanh(x+h) - tanh(x-h)) "
                      "/ 2h",
                 layout="(2, 2)", rtol=1e-6)
    _exactly(d_slope, _tanh_slope(x_slope), "tanh_derivative",
             "tanh_derivative(np.array([[-2.0, -0.4], [0.7, 1.5]]))", "tanh")
    far = call(fn, np.array([-1000.0, 1000.0]),
               name="tanh_derivative(np.array([-1000.0, 1000.0]))")
    _nonfinite_at_extremes(
        far, "tanh_derivative", "tanh_derivative(np.array([-1000.0, 1000.0]))",
        "a formula with np.exp in it overflows there. Rewrite your result in terms of tanh(x) "
        "itself, which your tanh computes safely for every x.")
    assert_close(far, [0.0, 0.0], name="tanh_derivative(np.array([-1000.0, 1000.0]))",
                 layout="(2,)", reveal=True)
    _no_overflow(fn, np.array([-1000.0, 1000.0]), "tanh_derivative(np.array([-1000.0, 1000.0]))",
                 "a formula with np.exp or np.cosh in it overflows there, even if 1 / inf then "
                 "comes out 0. Write the result in terms of tanh(x) alone, which your tanh "
                 "computes safely.")
    print("✔ tanh_derivative passes the visible checks")


def _make_tanh_d_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x = rng.normal(size=(batch_size_for(kind, rng), int(rng.integers(1, 9)))) * 2 * scale_for(kind)
    if kind == "extreme values":
        x.flat[0], x.flat[-1] = -1000.0, 1000.0
    return (x,)


@exercise_check
def tanh_derivative_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``tanh_derivative``: the same values as the slope of
    ``nnlib.activations.tanh`` on generated (N, D) arrays (a batch of one, odd sizes, random,
    inputs of +-1000), with no overflow; ``x`` unchanged; exact to 1e-12 relative on a
    generated array of moderate inputs, closer than a finite difference gets."""
    __tracebackhide__ = True
    with np.errstate(over="raise", under="ignore"):
        check_against_reference(fn, _tanh_slope, _make_tanh_d_args, name="tanh_derivative",
                                layout="(N, D)", seed=hidden_seed(f"{SLUG}/tanh_derivative"))
    _exact_on_hidden_case(fn, _tanh_slope, "tanh_derivative", "tanh",
                          hidden_seed(f"{SLUG}/tanh_derivative/exact"))


# ---------------------------------------------------------------------------------------------
# relu
# ---------------------------------------------------------------------------------------------


@exercise_check
def relu(fn: Callable[..., Any]) -> None:
    """Visible checks of ``relu(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.relu`` (or
      ``relu_forward``);
    - on a 2 x 3 array with negative, zero, tiny negative and positive entries it keeps the
      positive entries and zeroes the rest, in the shape of ``x``;
    - ``x`` is left unchanged.
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.relu, act.relu_forward, args=(np.array([0.5, -2.0]),))
    x_relu = np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-3]])
    x_copy = x_relu.copy()
    out = call(fn, x_relu, name="relu(np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-3]]))")
    _unchanged(x_relu, x_copy, "relu",
               "build a new array (for example with np.maximum) instead.")
    assert_close(out, [[0.0, 0.0, 0.0], [0.5, 3.0, 0.0]],
                 name="relu(np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-3]]))", layout="(2, 3)",
                 reveal=True)
    print("✔ relu passes the visible checks")


def _make_relu_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x = rng.normal(size=(batch_size_for(kind, rng), int(rng.integers(1, 9)))) * scale_for(kind)
    x[rng.random(x.shape) < 0.25] = 0.0
    return (x,)


@exercise_check
def relu_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``relu``: the same values as ``nnlib.activations.relu`` on generated
    (N, D) arrays with exact zeros (a batch of one, odd sizes, random, large values)."""
    __tracebackhide__ = True
    check_against_reference(fn, act.relu, _make_relu_args, name="relu", layout="(N, D)",
                            seed=hidden_seed(f"{SLUG}/relu"))


# ---------------------------------------------------------------------------------------------
# relu_derivative
# ---------------------------------------------------------------------------------------------


def _relu_slope(x: np.ndarray) -> np.ndarray:
    return act.relu_backward(np.ones_like(x), act.relu_forward(x)[1])


@exercise_check
def relu_derivative(fn: Callable[..., Any]) -> None:
    """Visible checks of ``relu_derivative(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.relu_backward``;
    - ``x`` is left unchanged;
    - it is the derivative, not relu itself;
    - at x = 0 it follows the course's convention at the kink (see the text);
    - its values at -1, 0 and 2, as a float array (not booleans or integers);
    - tiny inputs of +-1e-6 and a 2 x 2 shape.
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.relu_backward, args=(np.array([0.5, -2.0]),))
    x_in = np.array([-1.0, 0.0, 2.0])
    d = call(fn, x_in, name="relu_derivative(np.array([-1.0, 0.0, 2.0]))")
    _unchanged(x_in, [-1.0, 0.0, 2.0], "relu_derivative", "build a new array instead.")
    ensure(not (np.shape(d) == (3,) and looks_like(d, [0.0, 0.0, 2.0])),
           "relu_derivative(np.array([-1.0, 0.0, 2.0])) returned relu(x) itself: that is the "
           "function, not its slope. The derivative says how fast relu changes when x changes "
           "a little.")
    ensure(not (np.shape(d) == (3,) and looks_like(d, [0.0, 1.0, 1.0])),
           "relu_derivative(np.array([-1.0, 0.0, 2.0])) gives 1.0 at x = 0.0, where the "
           "course's convention at the kink is relu'(0) = 0 (as in PyTorch): compare with > 0, "
           "not >= 0.")
    assert_close(d, [0.0, 0.0, 1.0], name="relu_derivative(np.array([-1.0, 0.0, 2.0]))",
                 layout="(3,)", reveal=True)
    expect_floating(d, name="relu_derivative(np.array([-1.0, 0.0, 2.0]))",
                    what="floats (0.0 and 1.0)")
    assert_close(call(fn, np.array([[1e-6, -1e-6], [-5.0, 5.0]]),
                      name="relu_derivative(np.array([[1e-6, -1e-6], [-5.0, 5.0]]))"),
                 [[1.0, 0.0], [0.0, 1.0]],
                 name="relu_derivative(np.array([[1e-6, -1e-6], [-5.0, 5.0]]))", layout="(2, 2)",
                 reveal=True)
    print("✔ relu_derivative passes the visible checks")


@exercise_check
def relu_derivative_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``relu_derivative``: the same values as the slope of
    ``nnlib.activations.relu`` (with its convention at 0) on generated (N, D) arrays with exact
    zeros; ``x`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _relu_slope, _make_relu_args, name="relu_derivative",
                            layout="(N, D)", seed=hidden_seed(f"{SLUG}/relu_derivative"))


# ---------------------------------------------------------------------------------------------
# leaky_relu
# ---------------------------------------------------------------------------------------------


@exercise_check
def leaky_relu(fn: Callable[..., Any]) -> None:
    """Visible checks of ``leaky_relu(x, negative_slope=0.01)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.leaky_relu`` (or
      ``leaky_relu_forward``);
    - ``x`` is left unchanged;
    - it uses its ``negative_slope`` argument (slopes 0.1 and 0.25), and 0.01 by default;
    - its values on the examples by hand, in the shape of ``x``.
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.leaky_relu, act.leaky_relu_forward,
                     args=(np.array([0.5, -2.0]), 0.1))
    x_leaky = np.array([-2.0, -0.5, 0.0, 3.0])
    out = call(fn, x_leaky, 0.1, name="leaky_relu(np.array([-2.0, -0.5, 0.0, 3.0]), 0.1)")
    _unchanged(x_leaky, [-2.0, -0.5, 0.0, 3.0], "leaky_relu",
               "build a new array (for example with np.where) instead.")
    ensure(not looks_like(out, [-0.02, -0.005, 0.0, 3.0]),
           "leaky_relu(np.array([-2.0, -0.5, 0.0, 3.0]), 0.1) gives the values for the slope "
           "0.01: use the argument negative_slope rather than the number 0.01 (the default "
           "lives in the signature).")
    assert_close(out, [-0.2, -0.05, 0.0, 3.0],
                 name="leaky_relu(np.array([-2.0, -0.5, 0.0, 3.0]), 0.1)", layout="(4,)",
                 reveal=True)
    assert_close(call(fn, x_leaky, name="leaky_relu(np.array([-2.0, -0.5, 0.0, 3.0]))"),
                 [-0.02, -0.005, 0.0, 3.0],
                 name="leaky_relu(np.array([-2.0, -0.5, 0.0, 3.0])) (the default slope 0.01)",
                 layout="(4,)", reveal=True)
    assert_close(call(fn, np.array([[-4.0, 4.0]]), 0.25,
                      name="leaky_relu(np.array([[-4.0, 4.0]]), 0.25)"),
                 [[-1.0, 4.0]], name="leaky_relu(np.array([[-4.0, 4.0]]), 0.25)",
                 layout="(1, 2)", reveal=True)
    print("✔ leaky_relu passes the visible checks")


def _make_leaky_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x = rng.normal(size=(batch_size_for(kind, rng), int(rng.integers(1, 9)))) * 2 * scale_for(kind)
    x[rng.random(x.shape) < 0.2] = 0.0
    return (x, 0.01 if kind == "batch of one" else float(rng.uniform(0.02, 0.6)))


@exercise_check
def leaky_relu_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``leaky_relu``: the same values as ``nnlib.activations.leaky_relu`` on
    generated (N, D) arrays with exact zeros and slopes between 0.01 and 0.6."""
    __tracebackhide__ = True
    check_against_reference(fn, act.leaky_relu, _make_leaky_args, name="leaky_relu",
                            layout="(N, D)", seed=hidden_seed(f"{SLUG}/leaky_relu"))


# ---------------------------------------------------------------------------------------------
# leaky_relu_derivative
# ---------------------------------------------------------------------------------------------


def _leaky_slope(x: np.ndarray, a: float) -> np.ndarray:
    return act.leaky_relu_backward(np.ones_like(x), act.leaky_relu_forward(x, a)[1])


@exercise_check
def leaky_relu_derivative(fn: Callable[..., Any]) -> None:
    """Visible checks of ``leaky_relu_derivative(x, negative_slope=0.01)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.leaky_relu_backward``;
    - ``x`` is left unchanged;
    - it is the derivative, not leaky_relu itself;
    - at x = 0 it follows the course's convention at the kink (see the text);
    - it uses its ``negative_slope`` argument (0.2 here), and 0.01 by default;
    - its values at -1, 0 and 2, as a float array (not booleans or integers), and on a 2 x 2
      array with tiny inputs.
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.leaky_relu_backward, args=(np.array([0.5, -2.0]), 0.1))
    x_in = np.array([-1.0, 0.0, 2.0])
    d = call(fn, x_in, 0.2, name="leaky_relu_derivative(np.array([-1.0, 0.0, 2.0]), 0.2)")
    _unchanged(x_in, [-1.0, 0.0, 2.0], "leaky_relu_derivative", "build a new array instead.")
    fname = "leaky_relu_derivative(np.array([-1.0, 0.0, 2.0]), 0.2)"
    ensure(not looks_like(d, [-0.2, 0.0, 2.0]),
           f"{fname} returned leaky_relu(x) itself: that is the function, not its slope. The "
           "derivative says how fast leaky_relu changes when x changes a little.")
    ensure(not looks_like(d, [-0.2, 0.0, 1.0]),
           f"{fname} returns negative_slope * x for x <= 0, the function's value there; the "
           "derivative is the slope of that straight piece, the same number for every x <= 0.")
    ensure(not looks_like(d, [0.2, 1.0, 1.0]),
           f"{fname} gives 1.0 at x = 0.0; at the kink the course takes the slope of the "
           "left-hand piece (as PyTorch does): compare with > 0, not >= 0.")
    ensure(not looks_like(d, [0.01, 0.01, 1.0]),
           f"{fname} gives the values for the slope 0.01: use the argument negative_slope "
           "rather than the number 0.01 (the default lives in the signature).")
    assert_close(d, [0.2, 0.2, 1.0], name=fname, layout="(3,)", reveal=True)
    expect_floating(d, name=fname, what="floats (1.0 and the slope)")
    assert_close(call(fn, np.array([[-3.0, 0.0], [1e-6, 7.0]]),
                      name="leaky_relu_derivative(np.array([[-3.0, 0.0], [1e-6, 7.0]]))"),
                 [[0.01, 0.01], [1.0, 1.0]],
                 name="leaky_relu_derivative(np.array([[-3.0, 0.0], [1e-6, 7.0]])) (the default "
                      "slope)",
                 layout="(2, 2)", reveal=True)
    print("✔ leaky_relu_derivative passes the visible checks")


@exercise_check
def leaky_relu_derivative_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``leaky_relu_derivative``: the same values as the slope of
    ``nnlib.activations.leaky_relu`` (with its convention at 0) on generated (N, D) arrays with
    exact zeros and slopes between 0.01 and 0.6; ``x`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _leaky_slope, _make_leaky_args, name="leaky_relu_derivative",
                            layout="(N, D)", seed=hidden_seed(f"{SLUG}/leaky_relu_derivative"))


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------

OVERFLOW_ADVICE = "Subtract each row's maximum before np.exp (softmax is shift-invariant)."


@exercise_check
def softmax(fn: Callable[..., Any]) -> None:
    """Visible checks of ``softmax(x)``:

    - it is your own code: it neither is, nor calls, the softmax or log-softmax of
      ``nnlib.activations``;
    - it does not call ``np.errstate`` or ``np.seterr``, which only hide an overflow;
    - ``x`` is left unchanged;
    - on two independent rows, [0, ln 2, ln 5] and [7, 7, 7], each row sums to 1 on its own
      (targeted messages for a sum over the whole array and for axis 0) and the values are
      [1, 2, 5] / 8 and [1, 1, 1] / 3;
    - one example of shape (K,) works too, and the rows of a (4, 6) array each sum to 1;
    - softmax([z, 0])[0] equals sigmoid(z);
    - rows far apart ([0, 1] and [2000, 2001]) and scores of +-1000 give no overflow and no
      NaN: each row's own maximum is subtracted (runs under ``np.errstate(over='raise')``).
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.softmax, act.softmax_forward, act._softmax, act.log_softmax,
                     act.log_softmax_forward, act._log_softmax,
                     args=(np.array([[1.0, 2.0, 3.0]]),))
    ensure(not {"errstate", "seterr"} & _names_used(fn),
           "softmax calls np.errstate (or np.seterr), which only hides the overflow warning. "
           "Make the formula itself safe: subtract each row's maximum before np.exp.")
    x_rows = np.array([[0.0, LN2, LN5], [7.0, 7.0, 7.0]])
    try:
        soft_rows = fn(x_rows)
    except (ValueError, IndexError) as exc:
        raise GradingError(
            f"softmax(np.array([[0, ln 2, ln 5], [7, 7, 7]])) raised {type(exc).__name__} "
            f"({exc}). An (N, K) array and a max or sum of shape (N,) do not broadcast: reduce "
            "over axis=-1 with keepdims=True.") from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(
            f"softmax(np.array([[0, ln 2, ln 5], [7, 7, 7]])) raised {explain_exception(exc)}"
        ) from None
    ensure(np.array_equal(x_rows, [[0.0, LN2, LN5], [7.0, 7.0, 7.0]]),
           "softmax modified its input x in place (x -= ... or out=x): write into a new array, "
           "for example shifted = x - x.max(axis=-1, keepdims=True).")
    if isinstance(soft_rows, np.ndarray) and soft_rows.shape == (2, 3):
        ensure(np.allclose(soft_rows.sum(axis=-1), 1.0),
               "softmax(np.array([[0, ln 2, ln 5], [7, 7, 7]])): your rows don't sum to 1 (row "
               f"sums {soft_rows.sum(axis=-1)}). " + (
                   "The whole array sums to 1: you divided by the sum over every entry. "
                   if np.isclose(soft_rows.sum(), 1.0) else
                   "Its columns sum to 1: you normalised over axis 0. "
                   if np.allclose(soft_rows.sum(axis=0), 1.0) else "")
               + "Normalise over the last axis: divide each row's exponentials by that row's "
               "own sum of the same exponentials (axis=-1, keepdims=True).")
    assert_close(soft_rows, [[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]],
                 name="softmax(np.array([[0, ln 2, ln 5], [7, 7, 7]]))", layout="(N, K) = (2, 3)",
                 reveal=True)
    try:
        soft_single = fn(np.array([0.0, LN2, LN5]))
    except (ValueError, IndexError) as exc:
        raise GradingError(
            f"softmax(np.array([0, ln 2, ln 5])) raised {type(exc).__name__} ({exc}). One "
            "example has shape (K,), with a single axis (axis 0, also called axis -1)" + (
                ": axis=1 does not exist there." if type(exc).__name__ == "AxisError" else
                ": a reduction over it without keepdims gives a single number, which cannot be "
                "indexed ([:, None]) or reshaped per row.")
            + " Use axis=-1 with keepdims=True, which works for (N, K) too.") from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(
            f"softmax(np.array([0, ln 2, ln 5])) raised {explain_exception(exc)}") from None
    assert_close(soft_single, [1 / 8, 2 / 8, 5 / 8],
                 name="softmax(np.array([0, ln 2, ln 5])) (one example, shape (K,))",
                 layout="(K,) = (3,)", reveal=True)
    x_wide = np.arange(24.0).reshape(4, 6) % 5 - 2
    assert_close(np.asarray(call(fn, x_wide, name="softmax(x) for an x of shape (4, 6)")).sum(
                     axis=-1), np.ones(4),
                 name="the row sums of softmax(x) for an x of shape (4, 6)", layout="(N,) = (4,)")
    two = call(fn, np.array([[1.5, 0.0], [-2.0, 0.0]]),
               name="softmax(np.array([[1.5, 0.0], [-2.0, 0.0]]))")
    assert_close(np.asarray(two)[:, 0], act.sigmoid([1.5, -2.0]),
                 name="softmax([[z, 0]])[:, 0] for z = 1.5 and -2 (it should equal sigmoid(z))",
                 layout="(2,)")
    x_apart = np.array([[0.0, 1.0], [2000.0, 2001.0]])
    try:
        with np.errstate(over="raise", invalid="ignore"):
            soft_apart = fn(x_apart)
    except FloatingPointError as exc:
        raise GradingError(
            f"softmax(np.array([[0, 1], [2000, 2001]])) overflowed ({exc}). {OVERFLOW_ADVICE}"
        ) from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(
            f"softmax(np.array([[0, 1], [2000, 2001]])) raised {explain_exception(exc)}"
        ) from None
    if (isinstance(soft_apart, np.ndarray) and soft_apart.shape == (2, 2)
            and np.isnan(soft_apart[0]).all() and not np.isnan(soft_apart[1]).any()):
        raise GradingError(
            "softmax(np.array([[0, 1], [2000, 2001]])) returned NaN in row 0. Subtract each "
            "row's own maximum (axis=-1, keepdims=True), not the whole array's: shifted by 2001, "
            "row 0 becomes exp(-2001) and exp(-2000), which underflow to 0, and 0/0 is NaN.")
    assert_close(soft_apart, [[1 / (1 + np.e), np.e / (1 + np.e)]] * 2,
                 name="softmax(np.array([[0, 1], [2000, 2001]]))", layout="(N, K) = (2, 2)")
    x_far = np.array([[1000.0, 999.0, -1000.0, -1000.0],
                      [-1000.0, -1000.0, -1001.0, -1002.0]])
    try:
        with np.errstate(over="raise"):
            soft_extreme = fn(x_far)
    except FloatingPointError as exc:
        raise GradingError(
            f"softmax(x) for x = [[1000, 999, -1000, -1000], [-1000, -1000, -1001, -1002]] "
            f"overflowed ({exc}). {OVERFLOW_ADVICE}") from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(
            f"softmax(x) for x = [[1000, 999, -1000, -1000], [-1000, -1000, -1001, -1002]] "
            f"raised {explain_exception(exc)}") from None
    assert_close(soft_extreme, act.softmax(x_far),
                 name="softmax(x) for x = [[1000, 999, -1000, -1000], [-1000, -1000, -1001, "
                      "-1002]]",
                 layout="(N, K) = (2, 4)")
    print("✔ softmax passes the visible checks")


def _make_softmax_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N, K = batch_size_for(kind, rng), int(rng.integers(2, 11))
    x = rng.normal(size=(N, K)) * 3 * scale_for(kind)
    if kind == "extreme values":
        x = x + np.where(np.arange(N) % 2 == 0, 1500.0, -1500.0)[:, None]
    return (x,)


def _make_softmax_single(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    return (rng.normal(size=int(rng.integers(1, 12))) * 3 * scale_for(kind),)


@exercise_check
def softmax_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``softmax``: the same values as ``nnlib.activations.softmax`` on
    generated (N, K) batches (a batch of one, odd sizes, random, rows around +1500 and -1500)
    and single examples (K,), with no overflow; ``x`` unchanged."""
    __tracebackhide__ = True
    with np.errstate(over="raise", under="ignore"):
        check_against_reference(fn, act.softmax, _make_softmax_args, name="softmax",
                                layout="(N, K)", seed=hidden_seed(f"{SLUG}/softmax"))
        check_against_reference(fn, act.softmax, _make_softmax_single,
                                name="softmax on one example", layout="(K,)",
                                seed=hidden_seed(f"{SLUG}/softmax/single"))


# ---------------------------------------------------------------------------------------------
# softmax_jacobian
# ---------------------------------------------------------------------------------------------


@exercise_check
def softmax_jacobian(fn: Callable[..., Any]) -> None:
    """Visible checks of ``softmax_jacobian(x)``:

    - it is your own code: it neither is, nor calls, ``nnlib.activations.softmax_jacobian``
      (or ``softmax_backward``);
    - for x = [0, ln 2, ln 5] it returns a (K, K) = (3, 3) matrix equal to 1/64 times the
      integer matrix you can work out by hand from p = [1, 2, 5] / 8, with targeted messages
      when only the diagonal is filled in and when the diagonal alone is wrong;
    - on x = [0.3, -1.2, 2.0, 0.7] it matches finite differences of softmax, column by column,
      and the exact Jacobian to 1e-12 relative, closer than a finite difference gets (nor may
      it call ``numerical_gradient``);
    - scores of +-1000 give finite values (your stable softmax inside).
    """
    __tracebackhide__ = True
    forbid_reference(fn, act.softmax_jacobian, act.softmax_backward,
                     args=(np.array([0.5, -1.0, 2.0]),))
    _no_numerical_gradient(fn, "softmax_jacobian")
    x_hand = np.array([0.0, LN2, LN5])
    name = "softmax_jacobian(np.array([0, ln 2, ln 5]))"
    jac = call(fn, x_hand, name=name)
    if isinstance(jac, np.ndarray) and jac.shape != (3, 3):
        raise GradingError(
            f"{name} returned an array of shape {jac.shape}. J needs one row per output and one "
            "column per input: shape (K, K) = (3, 3)."
            + (" A vector of shape (K,) holds only K numbers, one per output: it leaves out how "
               "each output depends on the other inputs." if jac.shape == (3,) else ""))
    want = act.softmax_jacobian(x_hand)
    off = ~np.eye(3, dtype=bool)
    if isinstance(jac, np.ndarray) and jac.shape == (3, 3) and np.isfinite(jac).all():
        ensure(not (np.allclose(jac[off], 0.0) and not np.allclose(jac, want)),
               f"{name} is zero off the diagonal. Every output p_k depends on every score x_j "
               "through the sum S in its denominator, so J[k, j] for k != j is not 0: apply the "
               "quotient rule with only S depending on x_j.")
        ensure(not (np.allclose(jac[off], want[off]) and not np.allclose(jac, want)),
               f"{name} is right off the diagonal but wrong on it. For k = j the score x_k "
               "appears in the numerator e^(x_k) as well as in the sum S, so the quotient rule "
               "has one more term on the diagonal than off it.")
    assert_close(jac, np.array([[7, -2, -5], [-2, 12, -10], [-5, -10, 15]]) / 64,
                 name=name, layout="(K, K) = (3, 3)", reveal=True)
    from nnlib.gradcheck import numerical_gradient_array

    x_jac = np.array([0.3, -1.2, 2.0, 0.7])
    measured = np.stack([numerical_gradient_array(act.softmax, x_jac.copy(), row)
                         for row in np.eye(4)])
    jac_fd = call(fn, x_jac, name="softmax_jacobian(x)")
    assert_close(jac_fd, measured,
                 name="softmax_jacobian(x) against finite differences, x = [0.3, -1.2, 2.0, 0.7]",
                 layout="(K, K) = (4, 4)", rtol=1e-5, atol=1e-9)
    _exactly(jac_fd, act.softmax_jacobian(x_jac), "softmax_jacobian",
             "softmax_jacobian(np.array([0.3, -1.2, 2.0, 0.7]))", "softmax")
    x_far = np.array([1000.0, 999.0, -1000.0])
    assert_close(call(fn, x_far, name="softmax_jacobian(np.array([1000.0, 999.0, -1000.0]))"),
                 act.softmax_jacobian(x_far),
                 name="softmax_jacobian(np.array([1000.0, 999.0, -1000.0]))",
                 layout="(K, K) = (3, 3)")
    print("✔ softmax_jacobian passes the visible checks")


def _make_jacobian_args(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    K = batch_size_for(kind, rng) + (kind == "batch of one")  # 2 classes, odd, random
    x = rng.normal(size=K) * 2 * scale_for(kind)
    if kind == "extreme values":
        x[0] = 1000.0
    return (x,)


@exercise_check
def softmax_jacobian_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``softmax_jacobian``: the same matrix as
    ``nnlib.activations.softmax_jacobian`` on generated score vectors (two classes, odd and
    random numbers of classes, a score of 1000); ``x`` unchanged; exact to 1e-12 relative on
    a generated score vector of moderate size, closer than a finite difference gets."""
    __tracebackhide__ = True
    check_against_reference(fn, act.softmax_jacobian, _make_jacobian_args,
                            name="softmax_jacobian", layout="(K, K)",
                            seed=hidden_seed(f"{SLUG}/softmax_jacobian"))
    rng = np.random.default_rng(hidden_seed(f"{SLUG}/softmax_jacobian/exact"))
    x = rng.uniform(-2.0, 2.0, size=int(rng.integers(3, 8)))
    got = call(fn, x.copy(), name="softmax_jacobian on a hidden case")
    _exactly(got, act.softmax_jacobian(x), "softmax_jacobian",
             "softmax_jacobian on a hidden case", "softmax")
