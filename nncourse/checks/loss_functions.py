"""The checks of lesson 03, loss functions (``solutions/03_loss_functions``).

Six exercises, each a loss returning ``(loss, gradient)``: ``mse_loss``, ``mae_loss``,
``huber_loss``, ``bce_with_logits_loss``, ``softmax_cross_entropy_loss`` and ``hinge_loss``.
``<exercise>(fn)`` runs the visible checks, ``<exercise>_hidden(fn)`` compares ``fn`` with
``nnlib.losses`` on generated cases. Messages never state a gradient: deriving it is the lesson.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nnlib.losses
from nncourse.checks._contract import call, exercise_check, expect_number, looks_like
from nncourse.testing import (
    GradingError,
    assert_close,
    batch_size_for,
    check_against_reference,
    forbid_reference,
    hidden_seed,
    scale_for,
)
from nnlib.gradcheck import numerical_gradient

__all__ = [
    "mse_loss",
    "mse_loss_hidden",
    "mae_loss",
    "mae_loss_hidden",
    "huber_loss",
    "huber_loss_hidden",
    "bce_with_logits_loss",
    "bce_with_logits_loss_hidden",
    "softmax_cross_entropy_loss",
    "softmax_cross_entropy_loss_hidden",
    "hinge_loss",
    "hinge_loss_hidden",
]

Fn = Callable[..., Any]


# ---------------------------------------------------------------------------------------------
# The contract every loss of this lesson shares
# ---------------------------------------------------------------------------------------------


def _loss_pair(
    fn: Fn,
    args: Sequence[Any],
    *,
    name: str,
    grad: str,
    in_place: Sequence[str],
    mean_of: str = "the mean",
    kwargs: dict[str, Any] | None = None,
) -> tuple[float, Any]:
    """``fn(*args, **kwargs)``: no argument modified (``in_place[i]`` is the message for
    argument i), a pair ``(loss, grad)`` with the loss one number. Returns the pair."""
    __tracebackhide__ = True
    fname = name.split("(")[0].split(" ")[0]
    kept = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    out = call(fn, *args, name=name, **(kwargs or {}))
    for before, after, message in zip(kept, args, in_place, strict=False):
        if isinstance(after, np.ndarray) and not np.array_equal(before, after):
            raise GradingError(message)
    if not (isinstance(out, tuple) and len(out) == 2):
        what = type(out).__name__ + (f" of {len(out)} items" if isinstance(out, tuple) else "")
        raise GradingError(f"{fname} must return a tuple (loss, {grad}); it returned a {what}.")
    if (isinstance(out[0], np.ndarray) and out[0].ndim > 0 and np.ndim(out[1]) == 0
            and isinstance(out[1], int | float | np.number | np.ndarray)):
        raise GradingError(
            f"{name} returned an array first and one number second: the pair comes in the order "
            f"(loss, {grad}), the loss (one number) first. Did you return ({grad}, loss)?")
    loss = expect_number(
        out[0], name=fname, what=f"the loss as one number ({mean_of})",
        advice="take the mean of the per-element (or per-example) losses",
    )
    return loss, out[1]


#: Within this relative error (of the largest entry) a derived gradient matches the exact one:
#: a formula is exact to about 1e-15, a central finite difference reaches 1e-10 at best.
EXACT_RTOL = 1e-12


def _names_used(fn: Any) -> set[str]:
    """The global and attribute names the code of ``fn`` uses, nested code included."""
    code = getattr(fn, "__code__", None)
    names: set[str] = set()
    todo = [code] if code is not None else []
    while todo:
        current = todo.pop()
        names.update(current.co_names)
        todo.extend(c for c in current.co_consts if hasattr(c, "co_names"))
    return names


def _no_numerical_gradient(fn: Fn, fname: str) -> None:
    __tracebackhide__ = True
    if {"numerical_gradient", "numerical_gradient_array"} & _names_used(fn):
        raise GradingError(
            f"{fname} calls numerical_gradient for its gradient: a finite difference is only "
            "approximately right (about 1e-10 relative at best). Derive the gradient by hand and "
            "write the formula; numerical_gradient is the tool to check it with, not to compute "
            "it.")


def _exactly(grad: Any, exact: np.ndarray, where: str) -> None:
    """A targeted message when ``grad`` is as close to the exact gradient as a finite
    difference gets, and no closer: the gradient was measured, not derived."""
    __tracebackhide__ = True
    try:
        arr = np.asarray(grad, dtype=float)
    except (TypeError, ValueError):
        return
    scale = float(np.max(np.abs(exact))) if exact.size else 0.0
    if arr.shape != exact.shape or scale == 0.0 or not np.isfinite(arr).all():
        return
    rel = float(np.max(np.abs(arr - exact))) / scale
    if EXACT_RTOL < rel <= 1e-3:  # beyond 1e-3, wrong in another way: the usual comparison says how
        raise GradingError(
            f"the gradient of {where} is only approximately right: it differs from the exact "
            f"gradient by up to {rel:.1e} (relative to its largest entry), as a finite difference "
            "(loss(x + h) - loss(x - h)) / 2h would, while a derived formula is exact to about "
            "1e-15. The exercise asks you to derive the gradient by hand and write the formula, "
            "not to measure it numerically.")


def _matches_numerical(fn: Fn, args: Sequence[Any], *, name: str, layout: str,
                       reference: Fn) -> None:
    """The gradient ``fn`` returns equals the numerical gradient of the loss it returns, and
    the exact gradient (``reference``'s) closer than a finite difference gets."""
    __tracebackhide__ = True
    first, rest = args[0], tuple(args[1:])
    analytic = call(fn, first.copy(), *rest, name=name)[1]
    numeric = numerical_gradient(lambda v: fn(v, *rest)[0], first.copy())
    assert_close(
        analytic, numeric, name=f"the gradient of {name} compared with the numerical gradient "
        "of its loss", layout=layout, rtol=1e-5, atol=1e-8,
    )
    _exactly(analytic, np.asarray(reference(first.copy(), *rest)[1]), name)


def _exact_on_hidden_case(fn: Fn, reference: Fn, make: Callable[..., Any], key: str) -> None:
    """The exactness check on two generated cases of moderate values (inputs not shown)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(hidden_seed(f"loss_functions/{key}/exact"))
    for kind in ("random", "odd sizes"):
        args = make(rng, kind)
        got = call(fn, *[np.copy(a) for a in args], name=f"{key} on a hidden case")
        if isinstance(got, tuple | list) and len(got) == 2:
            _exactly(got[1], np.asarray(reference(*args)[1]), f"{key} on a hidden case")


def _hidden(fn: Fn, reference: Fn, make: Callable[..., Any], *, key: str, grad_layout: str,
            rtol: float = 1e-6, atol: float = 1e-9) -> None:
    __tracebackhide__ = True
    seed = hidden_seed(f"loss_functions/{key}")
    _exact_on_hidden_case(fn, reference, make, key)
    check_against_reference(fn, reference, make, name=f"{key} (the loss)",
                            compare=lambda r: r[0], seed=seed, rtol=rtol, atol=atol)
    check_against_reference(fn, reference, make, name=f"{key} (the gradient)",
                            compare=lambda r: r[1], layout=grad_layout, seed=seed, rtol=rtol,
                            atol=atol)


def _regression_shape(rng: np.random.Generator, kind: str) -> tuple[int, ...]:
    N = batch_size_for(kind, rng)
    return (N,) if kind == "odd sizes" else (N, int(rng.integers(2, 6)))


# ---------------------------------------------------------------------------------------------
# mse_loss
# ---------------------------------------------------------------------------------------------


@exercise_check
def mse_loss(fn: Fn) -> None:
    """Visible checks of ``mse_loss(y_hat, y) -> (loss, dy_hat)``:

    - it is your own code, not ``nnlib.losses.mse_loss`` (nor a call to it);
    - neither ``y_hat`` nor ``y`` is modified in place;
    - it returns a pair ``(loss, dy_hat)``, the loss one number;
    - loss and gradient of ``mse_loss([1, 2, 3], [1, 0, 0])``, worked by hand;
    - loss and gradient on a ``(2, 2)`` batch: the mean runs over all 4 elements;
    - the gradient equals the numerical gradient of your loss on a random ``(4, 3)`` batch.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.mse_loss, args=(np.array([1.0, 2.0]), np.array([0.0, 0.5])))
    _no_numerical_gradient(fn, "mse_loss")
    loss, grad = _loss_pair(
        fn, (np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])),
        name="mse_loss([1, 2, 3], [1, 0, 0])", grad="dy_hat", in_place=(
            "mse_loss modified `y_hat` in place (for example with `y_hat -= y`): build the "
            "residuals as a new array, `y_hat - y`, and leave the inputs unchanged",
            "mse_loss modified `y` in place: build new arrays and leave the inputs unchanged",
        ))
    assert_close(loss, 13 / 3, name="the loss of mse_loss([1, 2, 3], [1, 0, 0])", what="a number")
    _exactly(grad, np.array([0.0, 4 / 3, 2.0]), "mse_loss([1, 2, 3], [1, 0, 0])")
    assert_close(grad, [0.0, 4 / 3, 2.0], layout="(3,)",
                 name="the gradient of mse_loss([1, 2, 3], [1, 0, 0])")
    loss, grad = _loss_pair(fn, (np.array([[1.0, 1.0], [1.0, 3.0]]), np.zeros((2, 2))),
                            name="mse_loss([[1, 1], [1, 3]], zeros)", grad="dy_hat", in_place=())
    assert_close(loss, 3.0, what="a number",
                 name="the loss of mse_loss([[1, 1], [1, 3]], zeros) (the mean over all 4 "
                      "elements)")
    assert_close(grad, [[0.5, 0.5], [0.5, 1.5]], layout="(N, D) = (2, 2)",
                 name="the gradient of mse_loss([[1, 1], [1, 3]], zeros) (n = 4 elements)")
    rng = np.random.default_rng(301)
    _matches_numerical(fn, (rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
                       name="mse_loss", layout="(N, D) = (4, 3)",
                       reference=nnlib.losses.mse_loss)
    print("✔ mse_loss passes the visible checks")


def _make_mse(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    shape = _regression_shape(rng, kind)
    return rng.normal(size=shape) * scale_for(kind), rng.normal(size=shape) * scale_for(kind)


@exercise_check
def mse_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``mse_loss``: loss and gradient equal ``nnlib.losses.mse_loss`` on
    generated cases (a batch of one, an odd-sized vector, random batches, extreme values)."""
    __tracebackhide__ = True
    _hidden(fn, nnlib.losses.mse_loss, _make_mse, key="mse_loss",
            grad_layout="the shape of y_hat")


# ---------------------------------------------------------------------------------------------
# mae_loss
# ---------------------------------------------------------------------------------------------


@exercise_check
def mae_loss(fn: Fn) -> None:
    """Visible checks of ``mae_loss(y_hat, y) -> (loss, dy_hat)``:

    - it is your own code, not ``nnlib.losses.mae_loss``;
    - neither input is modified in place; it returns a pair, the loss one number;
    - loss and gradient of ``mae_loss([1, 2, -3], [1, 0, 0])``: the first residual is exactly
      0, where the convention of the text applies;
    - loss and gradient on a ``(2, 2)`` batch (the mean runs over all 4 elements);
    - the gradient equals the numerical gradient of your loss, away from the kink.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.mae_loss, args=(np.array([1.0, 2.0]), np.array([0.0, 0.5])))
    _no_numerical_gradient(fn, "mae_loss")
    loss, grad = _loss_pair(
        fn, (np.array([1.0, 2.0, -3.0]), np.array([1.0, 0.0, 0.0])),
        name="mae_loss([1, 2, -3], [1, 0, 0])", grad="dy_hat", in_place=(
            "mae_loss modified `y_hat` in place (for example with `y_hat -= y` or "
            "`np.abs(..., out=...)`): build the residuals as a new array, `y_hat - y`, and "
            "leave the inputs unchanged",
            "mae_loss modified `y` in place: build new arrays and leave the inputs unchanged",
        ))
    assert_close(loss, 5 / 3, name="the loss of mae_loss([1, 2, -3], [1, 0, 0])", what="a number")
    _exactly(grad, np.array([0.0, 1 / 3, -1 / 3]), "mae_loss([1, 2, -3], [1, 0, 0])")
    assert_close(grad, [0.0, 1 / 3, -1 / 3], layout="(3,)",
                 name="the gradient of mae_loss([1, 2, -3], [1, 0, 0]) (the first residual is "
                      "exactly 0: its derivative must be 0, the convention of the text)")
    loss, grad = _loss_pair(fn, (np.array([[2.0, -1.0], [0.5, 4.0]]), np.ones((2, 2))),
                            name="mae_loss on a (2, 2) batch", grad="dy_hat", in_place=())
    assert_close(loss, 6.5 / 4, what="a number", name="the loss of mae_loss on a (2, 2) batch")
    assert_close(grad, [[0.25, -0.25], [-0.25, 0.25]], layout="(N, D) = (2, 2)",
                 name="the gradient of mae_loss on a (2, 2) batch (n = 4 elements)")
    rng = np.random.default_rng(302)
    y = rng.normal(size=(3, 4))
    y_hat = y + np.where(rng.random((3, 4)) < 0.5, -1, 1) * rng.uniform(0.1, 2.0, size=(3, 4))
    _matches_numerical(fn, (y_hat, y), name="mae_loss", layout="(N, D) = (3, 4)",
                       reference=nnlib.losses.mae_loss)
    print("✔ mae_loss passes the visible checks")


def _make_mae(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    shape = _regression_shape(rng, kind)
    y = rng.normal(size=shape) * scale_for(kind)
    y_hat = y + rng.normal(size=shape) * scale_for(kind)
    tie = rng.random(shape) < 0.3
    tie.flat[0] = True
    y_hat[tie] = y[tie]
    return y_hat, y


@exercise_check
def mae_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``mae_loss``: loss and gradient equal ``nnlib.losses.mae_loss`` on
    generated cases, each with residuals that are exactly 0."""
    __tracebackhide__ = True
    _hidden(fn, nnlib.losses.mae_loss, _make_mae, key="mae_loss",
            grad_layout="the shape of y_hat")


# ---------------------------------------------------------------------------------------------
# huber_loss
# ---------------------------------------------------------------------------------------------


@exercise_check
def huber_loss(fn: Fn) -> None:
    """Visible checks of ``huber_loss(y_hat, y, delta=1.0) -> (loss, dy_hat)``:

    - it is your own code, not ``nnlib.losses.huber_loss``;
    - neither input is modified in place; it returns a pair, the loss one number;
    - one residual at a time with ``delta = 2``: inside the band, exactly at ``|r| = delta``
      (the quadratic side), and just past it on both sides (the pieces meet);
    - residuals ``[0.5, -2, 3]`` with ``delta`` 1, 2 and 0.25, and the default ``delta``;
    - the gradient equals the numerical gradient of your loss with ``delta = 0.7``.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.huber_loss,
                     args=(np.array([1.0, 2.0]), np.array([0.0, 0.5]), 0.7))
    _no_numerical_gradient(fn, "huber_loss")
    y = np.array([1.0, 2.0, -1.0])
    y_hat = y + np.array([0.5, -2.0, 3.0])                 # residuals 0.5, -2, 3
    loss1, grad1 = _loss_pair(
        fn, (y_hat, y), kwargs={"delta": 1.0}, name="huber_loss(y_hat, y, delta=1.0)",
        grad="dy_hat", in_place=(
            "huber_loss modified `y_hat` in place (for example with `y_hat -= y`): build the "
            "residuals as a new array, `y_hat - y`, and leave the inputs unchanged",
            "huber_loss modified `y` in place: build new arrays and leave the inputs unchanged",
        ))
    # One residual at a time, with delta = 2 (not the default), on both sides of |r| = delta.
    loss, grad = _loss_pair(fn, (np.array([1.5]), np.zeros(1), 2.0), grad="dy_hat", in_place=(),
                            name="huber_loss(np.array([1.5]), np.zeros(1), 2.0)")
    one_case = "huber_loss(np.array([1.5]), np.zeros(1), 2.0) (|r| = 1.5 <= delta = 2)"
    if np.isclose(loss, 1.0 * (1.5 - 0.5)):
        raise GradingError(
            f"the loss of {one_case} is the linear piece for delta = 1: |r| = 1.5 lies inside "
            "the band of delta = 2, on the quadratic piece. Compare |r| with the `delta` "
            "argument, not with 1.")
    if np.isclose(loss, 0.5 * 1.5**2 / 2.0):
        raise GradingError(
            f"the loss of {one_case} is the quadratic piece divided by delta (PyTorch's "
            "SmoothL1Loss): Huber's quadratic piece is 0.5 * r**2, not divided by delta.")
    assert_close(loss, 0.5 * 1.5**2, what="a number", reveal=True,
                 name=f"the loss of {one_case}, on the quadratic piece 0.5 * r**2,")
    if looks_like(grad, [1.0]) or looks_like(grad, [1.5 / 2.0]):
        raise GradingError(
            f"the gradient of {one_case} is the slope of "
            + ("the linear piece for delta = 1: decide the piece with the `delta` argument, "
               "not with 1." if looks_like(grad, [1.0]) else
               "the quadratic piece divided by delta (SmoothL1): Huber's quadratic piece is "
               "0.5 * r**2."))
    assert_close(grad, [1.5], layout="(1,)", reveal=True,
                 name=f"the gradient of {one_case}, on the quadratic piece,")
    loss = _loss_pair(fn, (np.array([2.0]), np.zeros(1), 2.0), grad="dy_hat", in_place=(),
                      name="huber_loss(np.array([2.0]), np.zeros(1), 2.0)")[0]
    assert_close(loss, 2.0, what="a number",
                 name="the loss of huber_loss(np.array([2.0]), np.zeros(1), 2.0) (|r| = delta is "
                      "on the quadratic side: 0.5 * r**2 = 0.5 * delta**2)")
    loss, grad = _loss_pair(fn, (np.array([2.0 + 1e-9, -2.0 - 1e-9]), np.zeros(2), 2.0),
                            grad="dy_hat", in_place=(),
                            name="huber_loss(np.array([2 + 1e-9, -2 - 1e-9]), np.zeros(2), 2.0)")
    assert_close(loss, 2.0, what="a number",
                 name="the loss of huber_loss(np.array([2 + 1e-9, -2 - 1e-9]), np.zeros(2), 2.0) "
                      "(just past |r| = delta = 2, the linear piece must meet the quadratic one "
                      "at 0.5 * delta**2 = 2: check the -0.5*delta term (0.5 times delta, not "
                      "0.5) and the factor delta in delta * (|r| - 0.5*delta))")
    _exactly(grad, np.array([1.0, -1.0]),
             "huber_loss(np.array([2 + 1e-9, -2 - 1e-9]), np.zeros(2), 2.0)")
    assert_close(grad, [1.0, -1.0], layout="(2,)",
                 name="the gradient of huber_loss(np.array([2 + 1e-9, -2 - 1e-9]), np.zeros(2), "
                      "2.0) (the curve is smooth at |r| = delta: just past it, each slope must "
                      "continue the quadratic piece's slope at |r| = delta, with the sign of r, "
                      "then be divided by n)")
    assert_close(loss1, (0.125 + 1.5 + 2.5) / 3, what="a number",
                 name="the loss of huber_loss with residuals [0.5, -2, 3] and delta=1.0")
    assert_close(grad1, [0.5 / 3, -1 / 3, 1 / 3], layout="(3,)",
                 name="the gradient of huber_loss with residuals [0.5, -2, 3] and delta=1.0")
    loss, grad = _loss_pair(fn, (y_hat, y), kwargs={"delta": 2.0}, grad="dy_hat", in_place=(),
                            name="huber_loss(y_hat, y, delta=2.0)")
    assert_close(loss, (0.125 + 2.0 + 4.0) / 3, what="a number",
                 name="the loss of huber_loss with residuals [0.5, -2, 3] and delta=2.0 (a delta "
                      "other than 1: check that you use `delta` everywhere, including 0.5 * "
                      "delta in the linear piece)")
    assert_close(grad, [0.5 / 3, -2 / 3, 2 / 3], layout="(3,)",
                 name="the gradient of huber_loss with residuals [0.5, -2, 3] and delta=2.0 (a "
                      "delta other than 1: the slope of the linear piece depends on `delta`)")
    loss, grad = _loss_pair(fn, (y_hat, y, 0.25), grad="dy_hat", in_place=(),
                            name="huber_loss(y_hat, y, 0.25)")
    assert_close(loss, 0.25 * (0.375 + 1.875 + 2.875) / 3, what="a number",
                 name="the loss of huber_loss with residuals [0.5, -2, 3] and delta=0.25 (a "
                      "delta other than 1: check that you use `delta` everywhere)")
    assert_close(grad, [0.25 / 3, -0.25 / 3, 0.25 / 3], layout="(3,)",
                 name="the gradient of huber_loss with residuals [0.5, -2, 3] and delta=0.25")
    loss = _loss_pair(fn, (np.array([0.0, 1.5]), np.zeros(2)), grad="dy_hat", in_place=(),
                      name="huber_loss(np.array([0.0, 1.5]), np.zeros(2))")[0]
    assert_close(loss, (0.0 + 1.0) / 2, what="a number",
                 name="huber_loss(np.array([0.0, 1.5]), np.zeros(2)) (the default delta is 1.0)")
    rng = np.random.default_rng(303)
    y = rng.normal(size=(4, 3))
    r = np.array([-2.0, -0.4, 0.3, 1.9])[rng.integers(0, 4, size=(4, 3))] + rng.uniform(
        -0.1, 0.1, size=(4, 3))
    _matches_numerical(fn, (y + r, y, 0.7), name="huber_loss(y_hat, y, 0.7)",
                       layout="(N, D) = (4, 3)",
                       reference=nnlib.losses.huber_loss)
    print("✔ huber_loss passes the visible checks")


def _make_huber(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, float]:
    shape = _regression_shape(rng, kind)
    delta = float(rng.uniform(0.2, 3.0))
    y = rng.normal(size=shape)
    return y + rng.normal(size=shape) * 2 * delta * scale_for(kind), y, delta


@exercise_check
def huber_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``huber_loss``: loss and gradient equal ``nnlib.losses.huber_loss`` on
    generated cases, with a random ``delta`` and residuals on both pieces."""
    __tracebackhide__ = True
    _hidden(fn, nnlib.losses.huber_loss, _make_huber, key="huber_loss",
            grad_layout="the shape of y_hat")


# ---------------------------------------------------------------------------------------------
# bce_with_logits_loss
# ---------------------------------------------------------------------------------------------


@exercise_check
def bce_with_logits_loss(fn: Fn) -> None:
    """Visible checks of ``bce_with_logits_loss(logits, y) -> (loss, dlogits)``:

    - it is your own code, not ``nnlib.losses.bce_with_logits_loss``;
    - neither input is modified in place; it returns a pair, the loss one number;
    - ``np.max(z, 0)`` (a reduction) in place of the elementwise maximum is named;
    - loss and gradient for logits ``ln 3`` and 0 (``sigmoid(ln 3) = 3/4``), with a soft target;
    - logits of +-1000: finite, confidently wrong costs ``|z|``, confidently right costs 0;
    - the gradient equals the numerical gradient of your loss (soft targets).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.bce_with_logits_loss,
                     args=(np.array([0.5, -1.0]), np.array([1.0, 0.0])))
    _no_numerical_gradient(fn, "bce_with_logits_loss")
    z = np.array([math.log(3), math.log(3), 0.0, math.log(3)])  # sigmoid(ln 3) = 3/4
    y = np.array([1.0, 0.0, 1.0, 0.5])                           # the last target is soft
    loss, grad = _loss_pair(
        fn, (z, y), name="bce_with_logits_loss([ln 3, ln 3, 0, ln 3], [1, 0, 1, 0.5])",
        grad="dlogits", in_place=(
            "bce_with_logits_loss modified `logits` in place (with `-=`, `*=`, `[...] =` or "
            "`out=`): build new arrays and leave the inputs unchanged",
            "bce_with_logits_loss modified `y` in place: build new arrays and leave the inputs "
            "unchanged",
        ))
    expected = [-math.log(0.75), -math.log(0.25), math.log(2),
                -(math.log(0.75) + math.log(0.25)) / 2]
    if np.isclose(loss, np.mean(expected) + math.log(3) / 4, rtol=1e-9, atol=0):
        raise GradingError(
            "the loss of bce_with_logits_loss([ln 3, ln 3, 0, ln 3], [1, 0, 1, 0.5]) is what "
            "np.max(z, 0) gives: np.max reduces over an axis (0 here) and returns the largest "
            "logit; the elementwise maximum of z and 0 is np.maximum(z, 0)")
    assert_close(loss, np.mean(expected), what="a number",
                 name="the loss of bce_with_logits_loss([ln 3, ln 3, 0, ln 3], [1, 0, 1, 0.5])")
    _exactly(grad, np.array([-0.25, 0.75, -0.5, 0.25]) / 4,
             "bce_with_logits_loss([ln 3, ln 3, 0, ln 3], [1, 0, 1, 0.5])")
    assert_close(grad, np.array([-0.25, 0.75, -0.5, 0.25]) / 4, layout="(4,)",
                 name="the gradient of bce_with_logits_loss([ln 3, ln 3, 0, ln 3], "
                      "[1, 0, 1, 0.5])")
    # Extreme logits: a confident wrong answer costs |z|, a confident right one costs 0.
    loss, grad = _loss_pair(fn, (np.array([1000.0, -1000.0]), np.array([0.0, 1.0])),
                            name="bce_with_logits_loss([1000, -1000], [0, 1])", grad="dlogits",
                            in_place=())
    if not np.isfinite(loss):
        raise GradingError(
            f"the loss of bce_with_logits_loss([1000, -1000], [0, 1]) is {loss}: an unstable "
            "formula. log(sigmoid(z)) and log(1 - sigmoid(z)) take log(0) = -inf once sigmoid "
            "rounds to exactly 0 or 1, and log(1 + exp(z)) overflows in exp(1000). Use the "
            "stable form of the text and the docstring, in which np.exp only ever sees -|z|.")
    assert_close(loss, 1000.0, what="a number",
                 name="the loss of bce_with_logits_loss([1000, -1000], [0, 1]) (confidently "
                      "wrong)")
    assert_close(grad, [0.5, -0.5], layout="(2,)",
                 name="the gradient of bce_with_logits_loss([1000, -1000], [0, 1])")
    try:
        with np.errstate(over="raise"):
            fn(np.array([1000.0, -1000.0]), np.array([0.0, 1.0]))
    except FloatingPointError as exc:
        raise GradingError(
            f"bce_with_logits_loss([1000, -1000], [0, 1]) overflowed ({exc}), although its "
            "result came out finite: a sigmoid written as 1 / (1 + np.exp(-z)) (or an "
            "np.exp(z)) computes exp(1000) on the way. Use a stable sigmoid, such as lesson "
            "02's, which only exponentiates numbers <= 0.") from None
    except Exception:
        pass  # the calls above already reported any other failure
    loss, grad = _loss_pair(fn, (np.array([[1000.0], [-1000.0]]), np.array([[1.0], [0.0]])),
                            name="bce_with_logits_loss([[1000], [-1000]], [[1], [0]])",
                            grad="dlogits", in_place=())
    assert_close(loss, 0.0, what="a number",
                 name="the loss of bce_with_logits_loss([[1000], [-1000]], [[1], [0]]) "
                      "(confidently right)")
    assert_close(grad, [[0.0], [0.0]], layout="(N, 1) = (2, 1)",
                 name="the gradient of bce_with_logits_loss([[1000], [-1000]], [[1], [0]])")
    rng = np.random.default_rng(304)
    _matches_numerical(fn, (rng.normal(scale=3.0, size=(5, 3)), rng.random((5, 3))),
                       name="bce_with_logits_loss", layout="(N, D) = (5, 3)",
                       reference=nnlib.losses.bce_with_logits_loss)
    print("✔ bce_with_logits_loss passes the visible checks")


def _make_bce(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    N = batch_size_for(kind, rng)
    shape = (N,) if kind == "odd sizes" else (N, int(rng.integers(2, 5)))
    z = rng.normal(size=shape) * 3 * scale_for(kind)
    if kind == "extreme values":
        z.flat[0], z.flat[-1] = 1000.0, -1000.0
    y = rng.random(shape) if kind == "random" else (rng.random(shape) < 0.5).astype(float)
    return z, y


@exercise_check
def bce_with_logits_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``bce_with_logits_loss``: loss and gradient equal
    ``nnlib.losses.bce_with_logits_loss`` on generated cases (hard and soft targets, logits of
    +-1000)."""
    __tracebackhide__ = True
    _hidden(fn, nnlib.losses.bce_with_logits_loss, _make_bce, key="bce_with_logits_loss",
            grad_layout="the shape of logits")


# ---------------------------------------------------------------------------------------------
# softmax_cross_entropy_loss
# ---------------------------------------------------------------------------------------------


def _wrong_axis_ce(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss and gradient a softmax normalised over the batch axis (axis=0) gives."""
    shifted = z - z.max(axis=0, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    rows = np.arange(len(y))
    onehot = np.zeros_like(z)
    onehot[rows, y] = 1.0
    return float(-np.mean(log_p[rows, y])), (np.exp(log_p) - onehot) / len(y)


_WRONG_AXIS = (
    "{call}: the probabilities behind your result are normalised over the batch axis "
    "(axis=0): each column sums to 1. Softmax gives one distribution per example, over the K "
    "classes of its row: take the row maximum and the row sums with axis=1 (and "
    "keepdims=True)."
)


@exercise_check
def softmax_cross_entropy_loss(fn: Fn) -> None:
    """Visible checks of ``softmax_cross_entropy_loss(logits, y) -> (loss, dlogits)``:

    - it is your own code, not ``nnlib.losses.softmax_cross_entropy_loss``;
    - neither input is modified in place; it returns a pair, the loss one number;
    - a softmax taken over the batch axis (axis=0) instead of each row is named;
    - loss and gradient of a worked example (probabilities ``[1, 2, 5] / 8``, and uniform);
    - extreme logits (+-1000) in a batch of one; two rows far apart (a maximum per row);
    - adding a constant to every logit does not change the loss;
    - the gradient equals the numerical gradient of your loss.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.softmax_cross_entropy_loss,
                     args=(np.array([[0.5, -1.0, 2.0]]), np.array([1])))
    _no_numerical_gradient(fn, "softmax_cross_entropy_loss")
    # Row 0: probabilities [1, 2, 5] / 8 and y = 2. Row 1: uniform over 3 classes and y = 0.
    z, y = np.array([[0.0, math.log(2), math.log(5)], [4.0, 4.0, 4.0]]), np.array([2, 0])
    call_text = "softmax_cross_entropy_loss([[0, ln 2, ln 5], [4, 4, 4]], [2, 0])"
    loss, grad = _loss_pair(
        fn, (z, y), name=call_text, grad="dlogits", mean_of="the mean over the N examples",
        in_place=(
            "softmax_cross_entropy_loss modified `logits` in place (for example with "
            "`logits -= ...`): work on a new array",
            "softmax_cross_entropy_loss modified `y` in place: work on a new array",
        ))
    _check_wrong_axis(fn, call_text, loss, grad)
    # A batch where each column also has its own scale, so that axis=0 cannot pass by chance.
    z3, y3 = np.array([[0.0, 1.0, -2.0], [3.0, 0.5, 0.0], [-1.0, 2.0, 1.0]]), np.array([1, 0, 2])
    loss3, grad3 = _loss_pair(fn, (z3, y3), name="softmax_cross_entropy_loss on a (3, 3) batch",
                              grad="dlogits", in_place=())
    _check_wrong_axis(fn, "softmax_cross_entropy_loss on a (3, 3) batch", loss3, grad3,
                      z=z3, y=y3)
    ce_loss = (-math.log(5 / 8) + math.log(3)) / 2
    log_probs = np.log([[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]])
    if np.isclose(loss, -np.mean(log_probs[:, y]), rtol=1e-9):
        raise GradingError(
            f"the loss of {call_text} averages log_probs[:, y], which picks whole columns "
            "(every row's entries for both true classes): index one entry per row with "
            "log_probs[np.arange(N), y].")
    if np.isclose(loss, ce_loss / 3, rtol=1e-9):
        raise GradingError(
            f"the loss of {call_text} is a third of the expected one: it is averaged over all "
            "N * K = 6 entries. Average over the N = 2 examples (rows) only.")
    assert_close(loss, ce_loss, what="a number",
                 name=f"the loss of {call_text}")
    onehot_cols = np.full((2, 3), 0.0)
    onehot_cols[:, [2, 0]] = 1.0                      # what [:, y] does: whole columns
    probs = np.array([[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]])
    if looks_like(grad, (probs - onehot_cols) / 2) or looks_like(grad, probs - onehot_cols):
        raise GradingError(
            f"the gradient of {call_text}: entries outside the true classes changed, in whole "
            "columns. Index one entry per row with [np.arange(N), y]; [:, y] hits every row of "
            "the columns in y.")
    ce_grad = np.array([[1 / 8, 2 / 8, 5 / 8 - 1], [1 / 3 - 1, 1 / 3, 1 / 3]]) / 2
    if looks_like(grad, ce_grad / 3):
        raise GradingError(
            f"the gradient of {call_text} is a third of the expected one everywhere: it is "
            "divided by N * K = 6, the number of entries. The loss is a mean over the N = 2 "
            "examples (rows), so divide by N only.")
    _exactly(grad, ce_grad, call_text)
    assert_close(grad, ce_grad,
                 layout="(N, K) = (2, 3)", name=f"the gradient of {call_text}")
    # Extreme logits, a batch of one: the true class has the logit -1000.
    loss, grad = _loss_pair(fn, (np.array([[1000.0, -1000.0]]), np.array([1])), grad="dlogits",
                            name="softmax_cross_entropy_loss([[1000, -1000]], [1])", in_place=())
    if not np.isfinite(loss):
        raise GradingError(
            f"the loss of softmax_cross_entropy_loss([[1000, -1000]], [1]) is {loss}: an "
            "unstable formula. Without the shift, exp(1000) overflows; with it, taking "
            "np.log of softmax's output takes log(0) = -inf, because the probability of the "
            "true class, e^(-2000), rounds to 0. Compute the log-probabilities directly: the "
            "shifted logits minus the log of the sum of their exponentials.")
    assert_close(loss, 2000.0, what="a number",
                 name="the loss of softmax_cross_entropy_loss([[1000, -1000]], [1])")
    assert_close(grad, [[1.0, -1.0]], layout="(N, K) = (1, 2)",
                 name="the gradient of softmax_cross_entropy_loss([[1000, -1000]], [1])")
    # Two rows far apart: each row needs its own maximum.
    call_text = "softmax_cross_entropy_loss([[1000, 1000], [-1000, -1000]], [0, 1])"
    loss, grad = _loss_pair(fn, (np.array([[1000.0, 1000.0], [-1000.0, -1000.0]]),
                                 np.array([0, 1])), name=call_text, grad="dlogits", in_place=())
    if not np.isfinite(loss):
        raise GradingError(
            f"the loss of {call_text} is {loss}. Subtract each row's own maximum (axis=1, "
            "keepdims=True), not the whole array's: shifted by 1000, row 1 becomes "
            "exp(-2000), which underflows to 0, and log(0) is -inf.")
    assert_close(loss, math.log(2), what="a number", name=f"the loss of {call_text}")
    assert_close(grad, [[-0.25, 0.25], [0.25, -0.25]], layout="(N, K) = (2, 2)",
                 name=f"the gradient of {call_text}")
    rng = np.random.default_rng(305)
    z, y = rng.normal(scale=2.0, size=(5, 4)), rng.integers(0, 4, size=5)
    shifted = _loss_pair(fn, (z + 100.0, y), name="softmax_cross_entropy_loss(logits + 100, y)",
                         grad="dlogits", in_place=())[0]
    plain = _loss_pair(fn, (z, y), name="softmax_cross_entropy_loss(logits, y)", grad="dlogits",
                       in_place=("softmax_cross_entropy_loss modified `logits` in place: work "
                                 "on a new array",))[0]
    assert_close(shifted, plain, what="a number",
                 name="softmax_cross_entropy_loss(logits + 100, y) (adding a constant to every "
                      "logit must not change the loss)")
    _matches_numerical(fn, (z, y), name="softmax_cross_entropy_loss", layout="(N, K) = (5, 4)",
                       reference=nnlib.losses.softmax_cross_entropy_loss)
    print("✔ softmax_cross_entropy_loss passes the visible checks")


def _check_wrong_axis(fn: Fn, call_text: str, loss: float, grad: Any,
                      z: np.ndarray | None = None, y: np.ndarray | None = None) -> None:
    __tracebackhide__ = True
    if z is None:
        z, y = np.array([[0.0, math.log(2), math.log(5)], [4.0, 4.0, 4.0]]), np.array([2, 0])
    wrong_loss, wrong_grad = _wrong_axis_ce(z, y)
    if np.isclose(loss, wrong_loss, rtol=1e-6) and not np.isclose(
        loss, float(nnlib.losses.softmax_cross_entropy_loss(z, y)[0]), rtol=1e-6
    ) or looks_like(grad, wrong_grad):
        raise GradingError(_WRONG_AXIS.format(call=call_text))


def _make_ce(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    N = batch_size_for(kind, rng)
    K = int(rng.integers(2, 11))
    z = rng.normal(size=(N, K)) * 3 * scale_for(kind)
    y = rng.integers(0, K, size=N)
    if kind == "extreme values":
        z[0] -= 5000.0
        z[-1, y[-1]], z[-1, (y[-1] + 1) % K] = -1000.0, 1000.0
    return z, y


@exercise_check
def softmax_cross_entropy_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``softmax_cross_entropy_loss``: loss and gradient equal
    ``nnlib.losses.softmax_cross_entropy_loss`` on generated cases (up to 10 classes, rows
    shifted by -5000, logits of +-1000)."""
    __tracebackhide__ = True
    _hidden(fn, nnlib.losses.softmax_cross_entropy_loss, _make_ce,
            key="softmax_cross_entropy_loss", grad_layout="(N, K)")


# ---------------------------------------------------------------------------------------------
# hinge_loss
# ---------------------------------------------------------------------------------------------


@exercise_check
def hinge_loss(fn: Fn) -> None:
    """Visible checks of ``hinge_loss(scores, y, margin=1.0) -> (loss, dscores)``:

    - it is your own code, not ``nnlib.losses.hinge_loss``;
    - ``scores`` is not modified in place; it returns a pair, the loss one number;
    - a row whose correct class wins by more than the margin costs 0 and has a zero gradient
      (the correct class's own term ``j = y_i`` is not part of the sum);
    - loss and gradient of CS231n's three examples (losses 2.9, 0 and 12.9);
    - exact ties at the margin are inactive; ``margin=0`` and ``margin=2`` are used;
    - the gradient equals the numerical gradient of your loss, away from the kinks.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.losses.hinge_loss,
                     args=(np.array([[0.5, -1.0, 2.0]]), np.array([1])))
    _no_numerical_gradient(fn, "hinge_loss")
    # CS231n's three examples: losses 2.9, 0 and 12.9.
    s = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    out_loss, out_grad = _loss_pair(
        fn, (s, np.array([0, 1, 2])), name="hinge_loss(scores, [0, 1, 2])", grad="dscores",
        mean_of="the mean over the N examples", in_place=(
            "hinge_loss modified `scores` in place (for example with `scores -= ...`): build "
            "the terms as a new array and leave the inputs unchanged",
        ))
    # The correct class (0) leads every other score by more than the margin: nothing is active.
    loss, grad = _loss_pair(fn, (np.array([[5.0, 0.0, 1.0]]), np.array([0])), grad="dscores",
                            name="hinge_loss([[5, 0, 1]], [0])", in_place=())
    if np.isclose(loss, 1.0):
        raise GradingError(
            "the loss of hinge_loss([[5, 0, 1]], [0]) is exactly the margin, 1.0, but every "
            "wrong class is beaten by more than the margin, so it must be 0: did you exclude the "
            "correct class's own term (j = y_i)? It is always max(0, margin) = margin, once per "
            "example")
    assert_close(loss, 0.0, what="a number",
                 name="the loss of hinge_loss([[5, 0, 1]], [0]) (every wrong class is beaten by "
                      "more than the margin, so every term s_ij - s_i,y_i + margin, a wrong score "
                      "minus the correct one, is negative and the loss must be 0)")
    assert_close(grad, [[0.0, 0.0, 0.0]], layout="(N, K) = (1, 3)",
                 name="the gradient of hinge_loss([[5, 0, 1]], [0]) (no term is active, so the "
                      "loss stays 0 when any score moves a little: every entry must be 0, the "
                      "correct class's too; its own term j = y_i is not part of the sum)")
    cs231n = ("hinge_loss(scores, [0, 1, 2]) on CS231n's example, scores = [[3.2, 5.1, -1.7], "
              "[1.3, 4.9, 2.0], [2.2, 2.5, -3.1]] (default margin 1.0)")
    assert_close(out_loss, (2.9 + 0.0 + 12.9) / 3, what="a number", reveal=True,
                 name=f"the loss of {cs231n}")
    assert_close(out_grad, np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -2.0]]) / 3,
                 layout="(N, K) = (3, 3)", reveal=True, name=f"the gradient of {cs231n}")
    # Row 0 has a term that is exactly 0 (inactive); row 1 has a tie of all three scores.
    s = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    call_text = "hinge_loss([[1, 0, 0.5], [0, 0, 0]], [0, 2], margin={})"
    loss, grad = _loss_pair(fn, (s, np.array([0, 2])), kwargs={"margin": 1.0}, grad="dscores",
                            in_place=(), name=call_text.format(1.0))
    assert_close(loss, (0.5 + 2.0) / 2, what="a number",
                 name=f"the loss of {call_text.format(1.0)}")
    assert_close(grad, np.array([[-1.0, 0.0, 1.0], [1.0, 1.0, -2.0]]) / 2,
                 layout="(N, K) = (2, 3)", reveal=True,
                 name=f"the gradient of {call_text.format(1.0)} (a term exactly 0 is inactive)")
    loss, grad = _loss_pair(fn, (s, np.array([0, 2])), kwargs={"margin": 0.0}, grad="dscores",
                            in_place=(), name=call_text.format(0.0))
    assert_close(loss, 0.0, what="a number",
                 name=f"the loss of {call_text.format(0.0)} (with margin 0 no term is positive: "
                      "check that you use the `margin` argument, not 1)")
    assert_close(grad, np.zeros((2, 3)), layout="(N, K) = (2, 3)",
                 name=f"the gradient of {call_text.format(0.0)} (no term is positive: use the "
                      "`margin` argument, and a term exactly 0 is inactive)")
    loss = _loss_pair(fn, (np.array([[2.0, 0.0, 1.5]]), np.array([0]), 2.0), grad="dscores",
                      name="hinge_loss([[2, 0, 1.5]], [0], 2.0)", in_place=())[0]
    assert_close(loss, 1.5, what="a number",
                 name="the loss of hinge_loss([[2, 0, 1.5]], [0], 2.0) (check that you use "
                      "`margin`)")
    rng = np.random.default_rng(306)
    y = rng.integers(0, 4, size=5)
    s = rng.normal(scale=2.0, size=(5, 4))
    t = s - s[np.arange(5), y][:, None] + 0.5
    s[np.abs(t) < 0.05] += 0.1               # keep every term away from the kink
    _matches_numerical(fn, (s, y, 0.5), name="hinge_loss(scores, y, 0.5)",
                       layout="(N, K) = (5, 4)",
                       reference=nnlib.losses.hinge_loss)
    print("✔ hinge_loss passes the visible checks")


def _make_hinge(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, float]:
    N = batch_size_for(kind, rng)
    K = int(rng.integers(2, 8))
    y = rng.integers(0, K, size=N)
    if kind == "odd sizes":
        return rng.integers(-2, 3, size=(N, K)).astype(float), y, 1.0
    return rng.normal(size=(N, K)) * 2 * scale_for(kind), y, float(rng.uniform(0.2, 3.0))


@exercise_check
def hinge_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``hinge_loss``: loss and gradient equal ``nnlib.losses.hinge_loss`` on
    generated cases (integer scores full of exact ties, random margins)."""
    __tracebackhide__ = True
    _hidden(fn, nnlib.losses.hinge_loss, _make_hinge, key="hinge_loss", grad_layout="(N, K)")
