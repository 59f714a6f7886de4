"""Checks of lesson 08, regularisation and normalisation.

The notebook is solutions/08_regularisation_and_normalisation (course/ for learners).

One pair of checks per graded exercise: ``<exercise>(fn)`` runs the visible checks (small cases
worked by hand, properties, targeted messages for classic mistakes); ``<exercise>_hidden(fn)``
compares ``fn`` with the ``nnlib`` reference on generated cases whose seed comes from
:func:`nncourse.testing.hidden_seed`. ``help(checks.<exercise>)`` lists what is verified.

Messages name the likely cause of a wrong answer; for the backward passes they never state the
derived result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.normalization
import nnlib.regularization
from nncourse.checks._contract import (
    ScriptedRng,
    call,
    call_advised,
    exercise_check,
    expect_arity,
    looks_like,
)
from nncourse.testing import (
    CASE_KINDS,
    GradingError,
    assert_close,
    batch_size_for,
    check_against_reference,
    forbid_reference,
    hidden_seed,
    scale_for,
)
from nnlib.gradcheck import numerical_gradient

SLUG = "regularisation_and_normalisation"

__all__ = [
    "l2_penalty", "l2_penalty_hidden", "l1_penalty", "l1_penalty_hidden",
    "dropout_forward", "dropout_forward_hidden", "dropout_backward", "dropout_backward_hidden",
    "random_shift", "random_shift_hidden", "add_gaussian_noise", "add_gaussian_noise_hidden",
    "batchnorm_forward", "batchnorm_forward_hidden", "batchnorm_backward",
    "batchnorm_backward_hidden", "layernorm_forward", "layernorm_forward_hidden",
    "layernorm_backward", "layernorm_backward_hidden",
]

_BROADCAST = (ValueError, "broadcast")


def _seed(key: str) -> int:
    return hidden_seed(f"{SLUG}/{key}")


def _require(ok: Any, message: str) -> None:
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def _unchanged(pairs: list[tuple[str, Any, Any]], advice: str, *, name: str) -> None:
    """Every (name, argument after the call, copy from before) is unchanged."""
    __tracebackhide__ = True
    for pname, after, before in pairs:
        _require(
            np.array_equal(np.asarray(after), np.asarray(before)),
            f"{name} modified its input `{pname}` in place: {advice}",
        )


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


# ---------------------------------------------------------------------------------------------
# Weight penalties
# ---------------------------------------------------------------------------------------------

_W = [[1.0, -2.0], [0.0, 3.0]]
_W_TEXT = "np.array([[1.0, -2.0], [0.0, 3.0]])"


def _penalty_pair(fn: Callable[..., Any], label: str) -> tuple[Any, Any]:
    """Run fn on the worked example; the (penalty, dw) pair after the contract checks."""
    __tracebackhide__ = True
    w = np.array(_W)
    res = call(fn, w, 0.1, name=f"{label}({_W_TEXT}, 0.1)")
    _unchanged([("w", w, np.array(_W))], "compute new arrays instead of writing into w.",
               name=label)
    if (
        isinstance(res, tuple | list) and len(res) == 2
        and np.ndim(res[1]) == 0 and np.shape(res[0]) == (2, 2)
    ):
        raise GradingError(
            f"{label}({_W_TEXT}, 0.1) returned the array dw first and the number second: return "
            "the pair in the order (penalty, dw)."
        )
    value, dw = expect_arity(res, ["penalty", "dw"], name=label)
    _require(
        np.ndim(value) == 0,
        f"the penalty of {label} should be one number, got an array of shape "
        f"{np.shape(value)}: sum over every entry of w (np.sum without an axis).",
    )
    return value, dw


@exercise_check
def l2_penalty(fn: Callable[..., Any]) -> None:
    """Visible checks of ``l2_penalty(w, lam) -> (penalty, dw)``:

    - it is your own code, not ``nnlib.regularization.l2_penalty``;
    - it leaves ``w`` unchanged and returns the pair ``(penalty, dw)``, in that order, with the
      penalty a single number;
    - on ``w = [[1, -2], [0, 3]]``, ``lam = 0.1``: the penalty is 0.7 (the factor 1/2 of the
      course's convention), and ``dw`` has the shape of ``w`` and the expected values;
    - ``dw`` equals the numerical gradient of your penalty on a random (3, 4) ``w``;
    - ``lam = 0`` gives a penalty of 0.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.regularization.l2_penalty, args=(np.array([1.0, -2.0]), 0.1),
                     name="l2_penalty")
    value, dw = _penalty_pair(fn, "l2_penalty")
    call_text = f"l2_penalty({_W_TEXT}, 0.1)"
    # sum(w ** 2) = 1 + 4 + 0 + 9 = 14, so the penalty is 0.1 / 2 * 14 = 0.7
    _require(
        not np.isclose(float(value), 1.4),
        f"{call_text} returned 1.4 = lam * sum(w ** 2); this course's convention has the factor "
        "1/2: lam / 2 * sum(w ** 2).",
    )
    assert_close(value, 0.7, name=f"the penalty of {call_text}", what="a float", reveal=True)
    _require(
        np.shape(dw) == (2, 2),
        f"dw of {call_text} has shape {np.shape(dw)}; dw must have the shape of w, one entry "
        "per weight (the derivative of the penalty with respect to that weight).",
    )
    assert_close(dw, 0.1 * np.array(_W), name=f"dw of {call_text}", layout="(2, 2)",
                 reveal=True)
    w2 = np.random.default_rng(1).normal(size=(3, 4))
    assert_close(
        call(fn, w2.copy(), 0.3, name="l2_penalty(w, 0.3)")[1],
        numerical_gradient(lambda v: float(fn(v, 0.3)[0]), w2.copy()),
        name="dw of l2_penalty(w, 0.3) compared with the numerical gradient of its penalty",
        layout="(3, 4)", rtol=1e-6, atol=1e-8,
    )
    assert_close(call(fn, w2.copy(), 0.0, name="l2_penalty(w, 0.0)")[0], 0.0,
                 name="the penalty of l2_penalty(w, 0.0)", what="a float")
    _done("l2_penalty")


def _make_l2_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    w = rng.normal(size=(N, int(rng.integers(1, 9)))) * scale_for(kind)
    return (w, float(rng.choice([0.0, 1e-3, 0.1, 2.5])))


@exercise_check
def l2_penalty_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``l2_penalty``: equal to ``nnlib.regularization.l2_penalty`` (penalty and
    ``dw``) on generated weights (a single row, odd sizes, random, values up to 1e3) and
    strengths 0 to 2.5, with ``w`` left unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.regularization.l2_penalty, _make_l2_case,
                            name="l2_penalty", seed=_seed("l2_penalty"))


@exercise_check
def l1_penalty(fn: Callable[..., Any]) -> None:
    """Visible checks of ``l1_penalty(w, lam) -> (penalty, dw)``:

    - it is your own code, not ``nnlib.regularization.l1_penalty``;
    - it leaves ``w`` unchanged and returns the pair ``(penalty, dw)``, in that order, with the
      penalty a single number;
    - on ``w = [[1, -2], [0, 3]]``, ``lam = 0.1``: the penalty is 0.6 (sizes of the weights,
      whatever their sign), and ``dw`` has the shape of ``w`` and the expected values, with 0
      at the weight that is exactly 0;
    - away from 0, ``dw`` equals the numerical gradient of your penalty.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.regularization.l1_penalty, args=(np.array([1.0, -2.0]), 0.1),
                     name="l1_penalty")
    value, dw = _penalty_pair(fn, "l1_penalty")
    call_text = f"l1_penalty({_W_TEXT}, 0.1)"
    # sum(|w|) = 1 + 2 + 0 + 3 = 6, so the penalty is 0.1 * 6 = 0.6
    _require(
        not np.isclose(float(value), 0.1 * (1.0 - 2.0 + 0.0 + 3.0)),
        f"the penalty of {call_text} is {float(value):g} = lam * (1 - 2 + 0 + 3): the positive "
        "and negative weights cancelled. The L1 penalty adds up the size of every weight, |w|, "
        "whatever its sign (expected 0.1 * 6 = 0.6).",
    )
    assert_close(value, 0.6, name=f"the penalty of {call_text}", what="a float", reveal=True)
    _require(
        not looks_like(dw, 0.1 * np.array(_W)),
        f"dw of {call_text} equals lam * w, the gradient of the L2 penalty, not of lam * |w|. "
        "How does |w| change when a positive weight grows a little? And a negative one?",
    )
    _require(
        np.shape(dw) == (2, 2),
        f"dw of {call_text} has shape {np.shape(dw)}; dw must have the shape of w, one entry "
        "per weight.",
    )
    _require(
        np.asarray(dw)[1, 0] == 0,
        f"dw of {call_text} at the weight 0.0 is {np.asarray(dw)[1, 0]}; |w| has no derivative "
        "at 0, and the convention is a gradient of exactly 0 there.",
    )
    assert_close(dw, [[0.1, -0.1], [0.0, 0.1]], name=f"dw of {call_text}", layout="(2, 2)",
                 reveal=True)
    w2 = np.random.default_rng(2).normal(size=(3, 4))
    w2 += np.where(w2 >= 0, 0.1, -0.1)          # every entry away from the kink at 0
    assert_close(
        call(fn, w2.copy(), 0.3, name="l1_penalty(w, 0.3)")[1],
        numerical_gradient(lambda v: float(fn(v, 0.3)[0]), w2.copy()),
        name="dw of l1_penalty(w, 0.3) compared with the numerical gradient of its penalty",
        layout="(3, 4)", rtol=1e-6, atol=1e-8,
    )
    _done("l1_penalty")


def _make_l1_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    w = rng.normal(size=(N, int(rng.integers(1, 9)))) * scale_for(kind)
    w[rng.random(w.shape) < 0.25] = 0.0       # exact zeros: the gradient there is 0
    return (w, float(rng.choice([0.0, 1e-3, 0.1, 2.5])))


@exercise_check
def l1_penalty_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``l1_penalty``: equal to ``nnlib.regularization.l1_penalty`` (penalty and
    ``dw``) on generated weights holding exact zeros, strengths 0 to 2.5, ``w`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.regularization.l1_penalty, _make_l1_case,
                            name="l1_penalty", seed=_seed("l1_penalty"))


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

_DROP_HOW = "draw them with exactly one call u = rng.random(x.shape) in training mode"
_U = [[0.1, 0.5, 0.9, 0.3], [0.7, 0.4, 0.2, 0.95]]     # one u is exactly p = 0.4: kept


def _uniforms(name: str) -> ScriptedRng:
    return ScriptedRng(_U, family="random", name=name, how=_DROP_HOW)


@exercise_check
def dropout_forward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``dropout_forward(x, p, *, training, rng) -> (out, cache)``:

    - it is your own code, not ``nnlib.regularization.dropout_forward``;
    - training mode draws exactly one ``u = rng.random(x.shape)`` from the rng it is given (the
      checks replay given numbers), also with ``p = 0``, and leaves ``x`` unchanged;
    - on x = [[1, 2, 3, 4], [5, 6, 7, 8]], p = 0.4 and given u: a unit is kept where u >= p
      (also where u equals p), kept units are divided by 1 - p, and the cache is that scaled
      float mask; targeted messages for u < p, u > p, u < 1 - p, no scaling, a division by p,
      and a missing pair of parentheses;
    - evaluation mode draws nothing and returns ``(x, None)``;
    - with p = 0.7 on 100 000 units, about 70 % are dropped and the mean stays about 1.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.regularization.dropout_forward, args=(np.ones((2, 3)), 0.5),
                     kwargs={"training": True, "rng": np.random.default_rng(0)},
                     name="dropout_forward")
    x0 = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    x = x0.copy()
    fake = _uniforms("dropout_forward")
    res = call(fn, x, 0.4, training=True, rng=fake,
               name="dropout_forward(x, 0.4, training=True, rng)")
    _unchanged([("x", x, x0)], "compute out = x * mask as a new array.", name="dropout_forward")
    _require(
        fake.drawn == 8,
        "in training mode dropout_forward should draw one number per entry of x with "
        f"u = rng.random(x.shape): 8 numbers for x of shape (2, 4); it drew {fake.drawn}."
        + (" (np.random.* does not use the rng you were given; or did training=True return "
           "early?)" if fake.drawn == 0 else ""),
    )
    out, mask = expect_arity(res, ["out", "cache"], name="dropout_forward")
    u = np.array(_U)
    keep = u >= 0.4
    name = ("out of dropout_forward(x, 0.4, training=True, rng) with x = [[1, 2, 3, 4], "
            "[5, 6, 7, 8]] and u = rng.random(x.shape) = [[0.1, 0.5, 0.9, 0.3], "
            "[0.7, 0.4, 0.2, 0.95]]")
    _require(np.shape(out) == (2, 4), f"{name} has shape {np.shape(out)}, expected (2, 4)")
    mistakes = [
        (np.where(u < 0.4, x0 / 0.6, 0.0),
         "you kept the units where u < p, so each one is kept with probability p. p is the "
         "probability to DROP a unit: keep where u >= p."),
        (np.where(u > 0.4, x0 / 0.6, 0.0),
         "the unit whose u equals p = 0.4 (row 1, column 1) was dropped. The rule is keep "
         "where u >= p: only u < p drops a unit."),
        (np.where(u < 0.6, x0 / 0.6, 0.0),
         "you kept the units where u < 1 - p. Keep them where u >= p (drop where u < p): the "
         "same probability, but the checks replay exactly this rule."),
        (np.where(keep, x0, 0.0),
         "the kept units were not scaled. Inverted dropout divides them by 1 - p, so that the "
         "expected output equals x and evaluation can be the identity."),
        (np.where(keep, x0 / 0.4, 0.0),
         "the kept units were divided by p; divide them by 1 - p, the keep probability."),
        (x0 * (keep - 0.4), "keep / 1 - p is (keep / 1) - p: write keep / (1 - p)."),
        (x0 * keep - 0.4, "keep / 1 - p is (keep / 1) - p: write keep / (1 - p)."),
    ]
    for wrong, why in mistakes:
        _require(not looks_like(out, wrong), f"{name}: {why}")
    assert_close(out, np.where(keep, x0 / 0.6, 0.0), name=name, layout="(2, 4)", reveal=True)
    _require(
        not (looks_like(mask, keep) or np.asarray(mask).dtype == np.bool_),
        "the cache of the same call is the boolean (or 0/1) keep array: cache the scaled mask "
        "keep / (1 - p), not the boolean keep (the backward pass will need the scaled one).",
    )
    assert_close(mask, keep / 0.6, name="the cache of the same call (the mask keep / (1 - p))",
                 layout="(2, 4)", reveal=True)

    # evaluation: the identity, and no random numbers
    fake_eval = _uniforms("dropout_forward")
    res_eval = call(fn, x0.copy(), 0.4, training=False, rng=fake_eval,
                    name="dropout_forward(x, 0.4, training=False, rng)")
    _require(
        res_eval is not None,
        "dropout_forward(x, 0.4, training=False, rng) returned None: in evaluation mode return "
        "the pair (out, cache) too, with out = x and cache = None.",
    )
    out_eval, cache_eval = expect_arity(res_eval, ["out", "cache"],
                                        name="dropout_forward(x, p, training=False, rng)")
    _require(
        fake_eval.drawn == 0,
        "in evaluation mode dropout_forward must not draw random numbers (it called rng.random).",
    )
    _require(
        not looks_like(out_eval, 0.6 * x0),
        "out of dropout_forward(x, 0.4, training=False, rng) is x * (1 - p). Inverted dropout is "
        "the identity in evaluation: it already divided by 1 - p in training. Scaling by 1 - p "
        "at test time is the original, non-inverted dropout.",
    )
    assert_close(out_eval, x0, name="out of dropout_forward(x, 0.4, training=False, rng)",
                 layout="(2, 4)", reveal=True)
    _require(
        cache_eval is None,
        f"the cache in evaluation mode should be None, got {type(cache_eval).__name__}",
    )

    # p = 0 keeps everything, and still draws its numbers
    fake0 = _uniforms("dropout_forward")
    res0 = call(fn, x0.copy(), 0.0, training=True, rng=fake0,
                name="dropout_forward(x, 0.0, training=True, rng)")
    _require(
        fake0.drawn == 8,
        f"dropout_forward(x, 0.0, training=True, rng) with x of shape (2, 4) drew {fake0.drawn} "
        "random numbers, expected 8. Draw u = rng.random(x.shape) in training mode also when "
        "p = 0: nothing is dropped then, but the checks replay the generator's stream, and "
        "whatever draws from rng next must see the same numbers.",
    )
    out0, _ = expect_arity(res0, ["out", "cache"], name="dropout_forward")
    assert_close(out0, x0, name="out of dropout_forward(x, 0.0, training=True, rng)",
                 layout="(2, 4)")
    big = np.asarray(
        call(fn, np.ones((200, 500)), 0.7, training=True, rng=np.random.default_rng(2),
             name="dropout_forward(np.ones((200, 500)), 0.7, training=True, rng)")[0],
        dtype=float,
    )
    _require(
        abs(np.mean(big == 0) - 0.7) < 0.01,
        f"with p = 0.7, {np.mean(big == 0):.1%} of the units were dropped, expected about 70 %",
    )
    _require(
        abs(np.mean(big) - 1.0) < 0.03,
        "the mean of dropout_forward(np.ones((200, 500)), 0.7, training=True, rng) is "
        f"{np.mean(big):.3f}; inverted dropout keeps the expected value: about 1.",
    )
    _done("dropout_forward")


def _drop_train(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, p: float, rng: Any) -> Any:
        return fn(x, p, training=True, rng=rng)
    return run


def _drop_eval(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, p: float, rng: Any) -> Any:
        return fn(x, p, training=False, rng=rng)
    return run


def _drop_twice(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, p: float, rng: Any) -> Any:
        first = fn(x, 0.0, training=True, rng=rng)[0]
        fn(x, p, training=False, rng=rng)             # evaluation draws nothing
        return first, fn(x, p, training=True, rng=rng)[0]
    return run


def _make_drop_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    x = rng.normal(size=(N, int(rng.integers(1, 12)))) * scale_for(kind)
    p = {"p = 0": 0.0, "p close to 1": 0.97}.get(kind, float(rng.uniform(0.05, 0.9)))
    seed = int(rng.integers(1 << 30))
    if kind == "a draw equal to p":
        u = np.random.default_rng(seed).random(x.shape)
        p = float(u.flat[int(np.argmin(np.abs(u.ravel() - 0.5)))])   # the draw closest to 0.5
    return (x, p, np.random.default_rng(seed))


@exercise_check
def dropout_forward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``dropout_forward``: equal to ``nnlib.regularization.dropout_forward``
    (out and cache) in training mode on generated cases (a single row, odd sizes, random,
    p = 0, p close to 1, a draw exactly equal to p, values up to 1e3), in evaluation mode, and
    over three calls sharing one generator (p = 0, evaluation, then p)."""
    __tracebackhide__ = True
    ref = nnlib.regularization.dropout_forward
    check_against_reference(
        _drop_train(fn), _drop_train(ref), _make_drop_case,
        name="dropout_forward (training mode)", seed=_seed("dropout_forward"),
        kinds=("batch of one", "odd sizes", "random", "p = 0", "p close to 1",
               "a draw equal to p", "extreme values"))
    check_against_reference(
        _drop_twice(fn), _drop_twice(ref), _make_drop_case,
        name="dropout_forward (called with p = 0, in evaluation, then with p)",
        seed=_seed("dropout_forward/twice"), kinds=("odd sizes", "random"))
    check_against_reference(
        _drop_eval(fn), _drop_eval(ref), _make_drop_case,
        name="dropout_forward (evaluation mode)", seed=_seed("dropout_forward/eval"),
        compare=lambda r: (r[0], float(r[1] is None)))


@exercise_check
def dropout_backward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``dropout_backward(dout, cache) -> dx``:

    - it is your own code, not ``nnlib.regularization.dropout_backward``;
    - it leaves ``dout`` and the cache unchanged and returns an array;
    - on the mask [[0, 2.5, 2.5, 0]] (p = 0.6) and dout = [[1, 2, 3, 4]]: the expected dx, with
      a targeted message for a 0/1 mask that lost its 1 / (1 - p);
    - with the evaluation-mode cache ``None``: the expected dx, without an error;
    - dx equals the numerical gradient of dropout (with a fixed mask) on a random (4, 5) x.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.regularization.dropout_backward,
                     args=(np.ones((1, 4)), np.array([[0.0, 2.5, 2.5, 0.0]])),
                     name="dropout_backward")
    mask0 = np.array([[0.0, 2.5, 2.5, 0.0]])       # units 0 and 3 were dropped, p = 0.6
    dout0 = np.array([[1.0, 2.0, 3.0, 4.0]])
    mask, dout = mask0.copy(), dout0.copy()
    name = ("dropout_backward(np.array([[1.0, 2.0, 3.0, 4.0]]), "
            "np.array([[0.0, 2.5, 2.5, 0.0]]))")
    dx = call(fn, dout, mask, name=name)
    _unchanged([("dout", dout, dout0), ("cache", mask, mask0)], "compute a new array instead.",
               name="dropout_backward")
    _require(
        not looks_like(dx, [[0.0, 2.0, 3.0, 0.0]]),
        f"{name} came back [[0, 2, 3, 0]]: the kept units lost the 1 / (1 - p) = 2.5 of the "
        "mask, as if it were 0/1 (mask > 0), so every kept value is (1 - p) = 0.4 times too "
        "small. The forward pass scaled the kept units by 1 / (1 - p): their gradients carry "
        "that factor too.",
    )
    assert_close(dx, [[0.0, 5.0, 7.5, 0.0]], name=name, layout="(1, 4)", reveal=True)
    dx_eval = call_advised(
        fn, dout0.copy(), None, name="dropout_backward(dout, None)",
        advice=[(TypeError, "", "In evaluation mode the cache is None (dropout_forward "
                 "returned out = x): handle that case too.")])
    _require(
        dx_eval is not None,
        "dropout_backward(dout, None) returned None. In evaluation mode the cache is None "
        "(dropout_forward returned out = x): return dx in that case too.",
    )
    assert_close(dx_eval, dout0,
                 name="dropout_backward(np.array([[1.0, 2.0, 3.0, 4.0]]), None) (evaluation "
                      "mode, where the forward pass returned x itself)",
                 layout="(1, 4)", reveal=True)
    x = np.random.default_rng(3).normal(size=(4, 5))
    g = np.random.default_rng(4).normal(size=(4, 5))

    def fwd(v: np.ndarray) -> Any:
        return nnlib.regularization.dropout_forward(v, 0.3, training=True,
                                                    rng=np.random.default_rng(5))

    num = numerical_gradient(lambda v: float(np.sum(fwd(v)[0] * g)), x.copy())
    assert_close(
        call(fn, g.copy(), fwd(x)[1], name="dropout_backward(dout, mask)"), num,
        name="dropout_backward(dout, mask) compared with the numerical gradient of dropout "
             "with that mask",
        layout="(4, 5)", rtol=1e-6, atol=1e-8,
    )
    _done("dropout_backward")


def _make_drop_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    x = rng.normal(size=(N, int(rng.integers(1, 12))))
    dout = rng.normal(size=x.shape) * scale_for(kind)
    if kind == "evaluation mode":
        return (dout, None)
    p = 0.97 if kind == "extreme values" else float(rng.uniform(0.0, 0.9))
    _, mask = nnlib.regularization.dropout_forward(x, p, training=True, rng=rng)
    return (dout, mask)


@exercise_check
def dropout_backward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``dropout_backward``: equal to ``nnlib.regularization.dropout_backward``
    on generated masks (a single row, odd sizes, random, p up to 0.97, upstream gradients up to
    1e3) and on evaluation-mode caches (None), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(
        fn, nnlib.regularization.dropout_backward, _make_drop_back_case,
        name="dropout_backward", seed=_seed("dropout_backward"),
        kinds=("batch of one", "odd sizes", "random", "evaluation mode", "extreme values"))


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------

_SHIFT_HOW = ("draw all the offsets with one call "
              "offsets = rng.integers(-max_shift, max_shift + 1, size=(N, 2))")


def _offsets(offsets: Any) -> ScriptedRng:
    return ScriptedRng(offsets, family="integers", name="random_shift", how=_SHIFT_HOW)


@exercise_check
def random_shift(fn: Callable[..., Any]) -> None:
    """Visible checks of ``random_shift(images, max_shift, *, rng) -> out``:

    - it is your own code, not ``nnlib.regularization.random_shift``;
    - it draws one (dy, dx) pair per image with one call ``rng.integers(-max_shift,
      max_shift + 1, size=(N, 2))`` (the checks replay given offsets), leaves ``images``
      unchanged, and returns a float array of shape (N, H, W);
    - two 4 x 4 images moved by (1, -2) and (0, 1): the expected pixels, with targeted
      messages for wrapping around (np.roll), moving the wrong way, and swapping dy and dx;
    - a 3 x 5 image (H and W differ), and shifts as large as the image or larger (all zeros);
    - ``max_shift = 0`` changes nothing; a real generator gives the offsets of the rule.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.regularization.random_shift, args=(np.ones((2, 3, 3)), 1),
                     kwargs={"rng": np.random.default_rng(0)}, name="random_shift")
    img0 = np.arange(1.0, 33.0).reshape(2, 4, 4)
    img = img0.copy()
    fake = _offsets([[1, -2], [0, 1]])          # image 0: down 1, left 2; image 1: right 1
    out = call_advised(
        fn, img, 2, rng=fake,
        name="random_shift(images, 2, rng) on 4 x 4 images with offsets [[1, -2], [0, 1]]",
        advice=[(*_BROADCAST,
                 "The block of images you copy from must have the shape of the block of out "
                 "you write into: slice the columns of images too, the range c0:c1 moved by "
                 "-dx (a bare ... or : takes every column).")])
    _unchanged([("images", img, img0)],
               "write into a new array (for example out = np.zeros_like(images)).",
               name="random_shift")
    _require(
        fake.drawn == 4,
        "random_shift should draw one (dy, dx) pair per image, all with one call "
        f"rng.integers(-max_shift, max_shift + 1, size=(N, 2)); it drew {fake.drawn} numbers "
        "for N = 2 images (expected 4).",
    )
    name = ("random_shift(images, 2, rng) with images = np.arange(1.0, 33.0).reshape(2, 4, 4) "
            "and offsets [[1, -2], [0, 1]]")
    _require(out is not None,
             "random_shift returned None: did you forget `return` (print only shows the value)?")
    _require(np.shape(out) == (2, 4, 4), f"{name} has shape {np.shape(out)}, expected (2, 4, 4)")
    _require(
        not np.issubdtype(np.asarray(out).dtype, np.integer),
        f"random_shift returned an integer array (dtype {np.asarray(out).dtype}) for float "
        "images: the pixel values were truncated; create out with the dtype of images "
        "(e.g. np.zeros_like(images)).",
    )
    expected = np.zeros((2, 4, 4))
    expected[0, 1:, :2] = img0[0, :3, 2:]
    expected[1, :, 1:] = img0[1, :, :3]
    rolled = np.stack([np.roll(img0[0], (1, -2), axis=(0, 1)),
                       np.roll(img0[1], (0, 1), axis=(0, 1))])
    _require(
        not looks_like(out, rolled),
        f"{name}: the pixels that leave one side come back on the other (np.roll wraps "
        "around). They must be lost, and the uncovered pixels set to 0.",
    )
    flipped = np.zeros((2, 4, 4))
    flipped[0, :3, 2:] = img0[0, 1:, :2]
    flipped[1, :, :3] = img0[1, :, 1:]
    _require(
        not looks_like(out, flipped),
        f"{name}: the images moved the opposite way. Positive dy moves the picture DOWN and "
        "positive dx moves it RIGHT: out[n, r, c] = images[n, r - dy, c - dx].",
    )
    swapped = np.zeros((2, 4, 4))
    swapped[0, :2, 1:] = img0[0, 2:, :3]
    swapped[1, 1:, :] = img0[1, :3, :]
    _require(
        not looks_like(out, swapped),
        f"{name}: dy and dx are swapped. Column 0 of the offsets is dy (rows: down), column 1 "
        "is dx (columns: right).",
    )
    assert_close(out, expected, name=name, layout="(2, 4, 4)", reveal=True)

    # a non-square image: rows (dy) are bounded by H, columns (dx) by W
    r = np.arange(1.0, 16.0).reshape(1, 3, 5)
    name_r = ("random_shift(np.arange(1.0, 16.0).reshape(1, 3, 5), 2, rng) with offsets "
              "[[1, -2]] (down 1, left 2)")
    hw = "images here are H x W = 3 x 5: rows (dy) use H, columns (dx) use W."
    out_r = call_advised(fn, r.copy(), 2, rng=_offsets([[1, -2]]), name=name_r,
                         advice=[(*_BROADCAST, f"The {hw}")])
    expected_r = np.zeros((1, 3, 5))
    expected_r[0, 1:, :3] = r[0, :2, 2:]
    _require(
        np.shape(out_r) != (1, 3, 5) or np.allclose(out_r, expected_r),
        f"{name_r} returned\n{np.asarray(out_r)[0]}\nexpected\n{expected_r[0]}\nThe {hw}",
    )
    assert_close(out_r, expected_r, name=name_r, layout="(1, 3, 5)", reveal=True)

    # a shift as large as the image or larger moves the whole picture out of the frame
    img3 = np.arange(1.0, 37.0).reshape(4, 3, 3)
    name_far = ("random_shift(np.arange(1.0, 37.0).reshape(4, 3, 3), 5, rng) with offsets "
                "[[5, 0], [-4, 1], [0, 4], [1, -5]] (every shift leaves the 3 x 3 frame)")
    far_advice = ("Each of these images moves entirely out of the frame, so the result is all "
                  "zeros. Beware: Python reads a negative slice bound from the end (a[0:-2] "
                  "is not empty).")
    far = call_advised(fn, img3, 5, rng=_offsets([[5, 0], [-4, 1], [0, 4], [1, -5]]),
                       name=name_far,
                       advice=[(ValueError, "", far_advice), (IndexError, "", far_advice)])
    assert_close(far, np.zeros((4, 3, 3)), name=name_far, layout="(4, 3, 3)", reveal=True)

    # max_shift = 0 changes nothing; a real generator gives the offsets of the rule above
    digits = np.random.default_rng(6).uniform(size=(5, 8, 8))
    got0 = call_advised(
        fn, digits.copy(), 0, rng=np.random.default_rng(7), name="random_shift(images, 0, rng)",
        advice=[(ValueError, "", "With max_shift = 0 every offset is 0; rng.integers(low, high) "
                 "excludes high, so the call is rng.integers(-max_shift, max_shift + 1, "
                 "size=(N, 2)).")])
    assert_close(got0, digits, name="random_shift(images, 0, rng) (no shift)",
                 layout="(5, 8, 8)")
    got = call(fn, digits.copy(), 2, rng=np.random.default_rng(8),
               name="random_shift(images, 2, rng=np.random.default_rng(8))")
    want = nnlib.regularization.random_shift(digits, 2, rng=np.random.default_rng(8))
    _require(
        np.shape(got) == (5, 8, 8) and np.allclose(got, want),
        "random_shift(images, 2, rng=np.random.default_rng(8)) on five 8 x 8 images does not "
        "shift by the offsets of offsets = rng.integers(-max_shift, max_shift + 1, size=(N, 2)) "
        "(both bounds included, one call, row n for image n).",
    )
    _done("random_shift")


def _shift_kw(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(images: Any, max_shift: int, rng: Any) -> Any:
        return fn(images, max_shift, rng=rng)
    return run


def _make_shift_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    # never square: a mix-up of H and W must show
    if kind == "random":
        H, W = (8, 7) if rng.random() < 0.5 else (7, 8)
    else:
        H, W = int(rng.integers(1, 10)), int(rng.integers(1, 9))
    W += int(W >= H)
    max_shift = 12 if kind == "extreme values" else int(rng.integers(0, 4))
    if kind.startswith("shifts beyond"):          # many shifts leave the image on one side
        N, H, W, max_shift = 16, *((6, 2) if "tall" in kind else (2, 6)), 3
    images = rng.uniform(size=(N, H, W)) * scale_for(kind)
    return (images, max_shift, np.random.default_rng(int(rng.integers(1 << 30))))


@exercise_check
def random_shift_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``random_shift``: equal to ``nnlib.regularization.random_shift`` on
    generated non-square images (one image, odd sizes, random, shifts up to 12, and batches
    where many shifts leave a tall or a wide image), ``images`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(
        _shift_kw(fn), _shift_kw(nnlib.regularization.random_shift), _make_shift_case,
        name="random_shift", layout="(N, H, W)", seed=_seed("random_shift"),
        kinds=("batch of one", "odd sizes", "random", "random", "extreme values",
               "shifts beyond a tall image", "shifts beyond a wide image"))


_NOISE_HOW = "draw the noise with one call z = rng.standard_normal(images.shape)"


@exercise_check
def add_gaussian_noise(fn: Callable[..., Any]) -> None:
    """Visible checks of ``add_gaussian_noise(images, std, *, rng) -> out``:

    - it is your own code, not ``nnlib.regularization.add_gaussian_noise``;
    - it draws the noise with one call ``rng.standard_normal(images.shape)`` from the rng it is
      given (the checks replay given numbers) and leaves ``images`` unchanged;
    - on a 2 x 2 image with given z: ``images + std * z``, with targeted messages for a noise
      scaled by std ** 2, for one noise value per image and for a result clipped to [0, 1];
    - std = 0 changes nothing; a real generator gives the noise of the rule.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.regularization.add_gaussian_noise, name="add_gaussian_noise")
    forbid_reference(
        lambda images, std: fn(images, std, rng=np.random.default_rng(0)),
        nnlib.regularization.add_gaussian_noise, args=(np.ones((1, 2, 2)), 0.1),
        name="add_gaussian_noise")
    img0 = np.array([[[0.0, 0.5], [1.0, 0.25]]])
    img = img0.copy()
    z = np.array([[[1.0, -2.0], [0.5, 0.0]]])
    fake = ScriptedRng(z, family="standard_normal", name="add_gaussian_noise", how=_NOISE_HOW)
    name = ("add_gaussian_noise(np.array([[[0.0, 0.5], [1.0, 0.25]]]), 0.1, rng) with "
            "rng.standard_normal(images.shape) = [[[1, -2], [0.5, 0]]]")
    out = call(fn, img, 0.1, rng=fake, name=name)
    _unchanged([("images", img, img0)],
               "return images + noise as a new array (images += ... writes into the caller's "
               "array).", name="add_gaussian_noise")
    _require(
        fake.calls == 1,
        "add_gaussian_noise should draw the noise from the rng argument with one call; it made "
        f"{fake.calls} call(s) (np.random.* functions do not use the rng you were given).",
    )
    expected = img0 + 0.1 * z
    _require(
        not looks_like(out, img0 + 0.01 * z),
        f"{name}: the noise was scaled by std ** 2 = 0.01; std is the standard deviation: "
        "scale standard normal numbers by std itself.",
    )
    try:
        diff = np.asarray(out, dtype=float) - img0
    except (TypeError, ValueError):
        diff = None
    _require(
        not (diff is not None and np.shape(diff) == (1, 2, 2) and np.ptp(diff) < 1e-12
             and abs(float(diff.flat[0])) > 0),
        f"{name}: every pixel of the image moved by the same amount, one noise value per image. "
        "Each pixel gets its own noise: draw rng.standard_normal(images.shape), one number per "
        "pixel.",
    )
    for hi in (1.0, np.max(img0)):
        if looks_like(out, np.clip(expected, None, hi)) and not looks_like(out, expected):
            raise GradingError(
                f"{name}: the result was clipped to the range of the pixels (its largest value "
                "is 1, where images + std * z reaches 1.05). This function adds the noise "
                "without clipping: return images + std * z as it is."
            )
    assert_close(out, expected, name=name, layout="(1, 2, 2)", reveal=True)
    digits = np.random.default_rng(6).uniform(size=(3, 8, 8))
    assert_close(
        call(fn, digits.copy(), 0.0, rng=np.random.default_rng(1),
             name="add_gaussian_noise(images, 0.0, rng)"),
        digits, name="add_gaussian_noise(images, 0.0, rng) (no noise)", layout="(3, 8, 8)")
    assert_close(
        call(fn, digits.copy(), 0.3, rng=np.random.default_rng(2),
             name="add_gaussian_noise(images, 0.3, rng=np.random.default_rng(2))"),
        digits + 0.3 * np.random.default_rng(2).standard_normal((3, 8, 8)),
        name="add_gaussian_noise(images, 0.3, rng=np.random.default_rng(2))",
        layout="(3, 8, 8)")
    _done("add_gaussian_noise")


def _noise_kw(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(images: Any, std: float, rng: Any) -> Any:
        return fn(images, std, rng=rng)
    return run


def _make_noise_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    images = rng.uniform(size=(N, int(rng.integers(1, 9)), int(rng.integers(1, 9))))
    std = float(rng.choice([0.0, 0.05, 0.3, 2.0]))
    return (images * scale_for(kind), std, np.random.default_rng(int(rng.integers(1 << 30))))


@exercise_check
def add_gaussian_noise_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``add_gaussian_noise``: equal to
    ``nnlib.regularization.add_gaussian_noise`` on generated images (one image, odd sizes,
    random, values up to 1e3) and standard deviations 0 to 2, ``images`` unchanged."""
    __tracebackhide__ = True
    check_against_reference(
        _noise_kw(fn), _noise_kw(nnlib.regularization.add_gaussian_noise), _make_noise_case,
        name="add_gaussian_noise", layout="(N, H, W)", seed=_seed("add_gaussian_noise"))


# ---------------------------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------------------------

_BN_OUT = ("out", "cache", "new_running_mean", "new_running_var")


def _bn_call(fn: Callable[..., Any], args: list[Any], name: str, **kwargs: Any) -> tuple[Any, ...]:
    """batchnorm_forward(*args, **kwargs): inputs unchanged, four values in the right order."""
    __tracebackhide__ = True
    before = [np.copy(a) for a in args]
    zero_division = (
        f"x has shape {np.shape(args[0])} and training=False: evaluation mode must not compute "
        "batch statistics (nor N / (N - 1), which divides by 0 for a batch of one). Branch on "
        "training first, and in evaluation mode use running_mean and running_var as they are."
        if kwargs.get("training") is False else
        f"x has shape {np.shape(args[0])}: the unbiased correction N / (N - 1) uses N, "
        "the number of examples (x.shape[0]), not D, the number of features.")
    res = call_advised(
        fn, *args, name=name, **kwargs, advice=[(ZeroDivisionError, "", zero_division)])
    for pname, a, b in zip(("x", "gamma", "beta", "running_mean", "running_var"), args, before,
                           strict=True):
        _require(
            np.array_equal(a, b),
            f"batchnorm_forward modified its input {pname} in place. "
            + ("Return the new running statistics as new arrays, e.g. (1 - momentum) * "
               "running_mean + momentum * mean, instead of updating the arrays you were given."
               if pname.startswith("running") else "Compute new arrays instead."),
        )
    values = expect_arity(res, _BN_OUT, name="batchnorm_forward")
    at = [i + 1 for i, r in enumerate(values) if isinstance(r, tuple | list)]
    _require(
        at in ([], [2]),
        f"batchnorm_forward returned the cache (the tuple) as value {at[0] if at else '?'} of "
        "4: return (out, cache, new_running_mean, new_running_var) in this order.",
    )
    return values


@exercise_check
def batchnorm_forward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``batchnorm_forward(x, gamma, beta, running_mean, running_var, *,
    training, momentum=0.1, eps=1e-5) -> (out, cache, new_running_mean, new_running_var)``:

    - it is your own code, not ``nnlib.normalization.batchnorm_forward``;
    - it modifies none of its inputs (the running statistics are returned, not updated in
      place) and returns the four values in this order;
    - training mode on the lesson's worked example (N = 2): ``out``, the running statistics
      (momentum is the weight of the new batch; the running variance uses the unbiased batch
      variance, N / (N - 1) with a true division), and the cache (x_hat, gamma, inv_std, True);
    - training mode on a (6, 3) batch, one feature with a mean of 1e6: every column normalised
      over the batch (mean 0, std 1 with gamma = 1, beta = 0), the biased variance computed
      from the deviations, the running statistics with N = 6;
    - eps inside the square root, on a feature whose variance is tiny compared with eps;
    - evaluation mode: normalised with the running statistics (batches of 1 and 3), which
      come back unchanged, and the training flag False in the cache;
    - targeted messages: unbiased variance in the normalisation, running statistics used in
      training, gamma and beta missing, momentum reversed, biased running variance, eps added
      to the running variance, D instead of N, integer division, swapped outputs, inv_std
      stored as a standard deviation.
    """
    __tracebackhide__ = True
    forbid_reference(
        fn, nnlib.normalization.batchnorm_forward,
        args=(np.array([[1.0, 2.0], [3.0, 5.0]]), np.ones(2), np.zeros(2), np.zeros(2),
              np.ones(2)),
        kwargs={"training": True}, name="batchnorm_forward")
    # the worked example: x = [[1, 4], [3, 8]], gamma = [2, 0.5], beta = [0, 1], momentum 0.1
    x0 = np.array([[1.0, 4.0], [3.0, 8.0]])
    g0, b0 = np.array([2.0, 0.5]), np.array([0.0, 1.0])
    call_text = ("batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True) "
                 "on the worked example")
    out, cache, rm, rv = _bn_call(fn, [x0.copy(), g0.copy(), b0.copy(), np.zeros(2), np.ones(2)],
                                  call_text, training=True, momentum=0.1, eps=1e-5)
    xh = (x0 - [2.0, 6.0]) / np.sqrt(np.array([1.0, 4.0]) + 1e-5)
    _require(
        not looks_like(out, g0 * (x0 - [2.0, 6.0]) / np.sqrt(np.array([2.0, 8.0]) + 1e-5) + b0),
        f"out of {call_text} is normalised with the unbiased variance (divided by N - 1). "
        "Normalise with the biased one (divided by N, np.var's default); only the running "
        "variance uses N - 1.",
    )

    # every feature (column) is normalised over the batch (the third has a mean of 1e6)
    xr = np.random.default_rng(3).normal(size=(6, 3)) * [1.0, 5.0, 0.2] + [0.0, -3.0, 1e6]
    res_r = _bn_call(fn, [xr.copy(), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)],
                     "batchnorm_forward(x, ..., training=True) on a (6, 3) batch",
                     training=True)
    o = res_r[0]
    _require(np.shape(o) == (6, 3), f"out has shape {np.shape(o)} for x of shape (6, 3)")
    _require(
        not np.allclose(np.std(o, axis=0), 0),
        "with gamma = 1 and beta = 0 every column of out came back constant: out = gamma * "
        "x_hat + beta (gamma scales the normalised x, beta shifts it).",
    )
    rv_r = 0.9 + 0.1 * xr.var(axis=0) * 6 / 5      # the running variance after this batch
    _require(
        not any(looks_like(o[:, :2], ((xr - m) / np.sqrt(v + 1e-5))[:, :2]) for m, v in (
            (np.zeros(3), np.ones(3)), (0.1 * xr.mean(axis=0), rv_r))),
        "in training mode out was normalised with the running statistics. Training mode "
        "normalises with the batch's own mean and variance (over the batch, axis=0); it only "
        "returns the updated running statistics, which evaluation mode uses.",
    )
    _require(
        np.allclose(np.mean(o[:, :2], axis=0), 0, atol=1e-7)
        and np.allclose(np.std(o[:, :2], axis=0), 1, atol=1e-4),
        "with gamma = 1 and beta = 0 in training mode, every column of out should have mean 0 "
        "and standard deviation 1: training mode normalises with the batch's own statistics, "
        "over the batch, axis=0 (one mean and one variance per feature).",
    )

    # eps goes inside the square root: a feature whose variance is tiny compared with eps
    tiny_name = ("out of batchnorm_forward(np.array([[0.0], [0.002]]), ..., training=True, "
                 "eps=1e-4)")
    o_tiny = _bn_call(fn, [np.array([[0.0], [0.002]]), np.ones(1), np.zeros(1), np.zeros(1),
                           np.ones(1)], tiny_name, training=True, eps=1e-4)[0]
    _require(
        not looks_like(o_tiny, [[-0.001 / (0.001 + 1e-4)], [0.001 / (0.001 + 1e-4)]]),
        "eps belongs inside the square root: (x - mean) / np.sqrt(var + eps), not "
        "/ (np.sqrt(var) + eps).",
    )
    _require(
        not looks_like(o_tiny, [[-1.0], [1.0]]),
        f"{tiny_name} is [[-1], [1]], as if eps were missing: add it to the variance inside "
        "the square root, np.sqrt(var + eps).",
    )
    assert_close(o_tiny, [[-0.001 / np.sqrt(1e-6 + 1e-4)], [0.001 / np.sqrt(1e-6 + 1e-4)]],
                 name=tiny_name, layout="(2, 1)", reveal=True)

    # a large mean must not spoil the variance
    xc = xr - xr.mean(axis=0)
    assert_close(o, xc / np.sqrt(np.mean(xc ** 2, axis=0) + 1e-5),
                 name="out of batchnorm_forward on features with means 0, -3 and 1e6 (the last "
                      "one is where E[x^2] - E[x]^2 loses every digit: use np.var or the mean "
                      "of (x - mean)**2)",
                 layout="(6, 3)", rtol=1e-6)

    # the values of the worked example
    assert_close(out, g0 * xh + b0, name=f"out of {call_text}", layout="(2, 2)", reveal=True)
    _require(
        not (looks_like(rm, [1.1, 1.7]) and looks_like(rv, [0.2, 0.6])),
        f"new_running_mean and new_running_var of {call_text} came back in swapped places: "
        "return (out, cache, new_running_mean, new_running_var) in this order.",
    )
    _require(
        not looks_like(rm, [1.8, 5.4]),
        f"new_running_mean of {call_text} is 0.1 * running_mean + 0.9 * mean: the momentum is "
        "the weight of the NEW batch (torch's convention): (1 - momentum) * running_mean + "
        "momentum * mean.",
    )
    assert_close(rm, [0.2, 0.6], name=f"new_running_mean of {call_text}", layout="(2,)",
                 reveal=True)
    _require(
        not looks_like(rv, [1.0, 1.3]),
        f"new_running_var of {call_text} used the biased batch variance [1, 4]. The running "
        "variance is updated with the UNBIASED one, var * N / (N - 1) = [2, 8] (normalising "
        "uses the biased one).",
    )
    _require(
        not looks_like(rv, [1.9, 7.3]),
        f"new_running_var of {call_text} is 0.1 * running_var + 0.9 * (batch variance): the "
        "momentum is the weight of the NEW batch: (1 - momentum) * running_var + momentum * "
        "unbiased_var.",
    )
    try:
        excess = np.asarray(rv, dtype=float) - [1.1, 1.7]
    except (TypeError, ValueError):
        excess = np.zeros(2)
    _require(
        not (np.shape(excess) == (2,) and np.all((excess > 1e-9) & (excess < 1e-4))),
        f"new_running_var of {call_text} is larger than [1.1, 1.7] by about "
        f"{np.max(excess):.1e}, a tiny amount like eps (1e-5): eps goes only inside the square "
        "root of the normalisation. The running variance is updated with the unbiased batch "
        "variance itself.",
    )
    assert_close(rv, [1.1, 1.7], name=f"new_running_var of {call_text}", layout="(2,)",
                 reveal=True)

    # the running statistics of a batch of N = 6 examples with D = 3 features (xr above)
    call_r = ("batchnorm_forward(x, ..., running_mean=np.zeros(3), running_var=np.ones(3), "
              "training=True) on a batch x of shape (6, 3)")
    _require(
        not looks_like(res_r[3], 0.9 + 0.1 * xr.var(axis=0) * 3 / 2),
        f"new_running_var of {call_r} used the correction D / (D - 1) = 3 / 2: the unbiased "
        "correction uses N, the number of examples (x.shape[0]), not D, the number of "
        "features.",
    )
    assert_close(res_r[2], 0.1 * xr.mean(axis=0), name=f"new_running_mean of {call_r}",
                 layout="(D,) = (3,)")
    _require(
        not looks_like(res_r[3], 0.9 + 0.1 * xr.var(axis=0)),
        f"new_running_var of {call_r} used the biased variance here (N = 6) but the unbiased "
        "one for N = 2 above: N // (N - 1) is integer division (6 // 5 = 1): use a true "
        "division.",
    )
    assert_close(res_r[3], rv_r, name=f"new_running_var of {call_r} (var * N / (N - 1) with "
                 "N = 6)", layout="(D,) = (3,)")

    # the cache the backward pass will need
    _require(
        isinstance(cache, tuple | list) and len(cache) == 4,
        "the cache should be the tuple (x_hat, gamma, inv_std, training), got "
        f"{type(cache).__name__}"
        + (f" of length {len(cache)}" if isinstance(cache, tuple | list) else ""),
    )
    assert_close(cache[0], xh, name=f"x_hat (cache[0]) of {call_text}", layout="(2, 2)")
    assert_close(cache[1], g0, name=f"gamma (cache[1]) of {call_text}", layout="(2,)")
    _require(
        not any(looks_like(cache[2], f(np.array([1.0, 4.0]))) for f in (
            lambda v: np.sqrt(v + 1e-5), np.sqrt, lambda v: v + 1e-5, lambda v: v)),
        f"cache[2] of {call_text} is "
        f"{np.round(np.asarray(cache[2], dtype=float), 5)}, the standard deviation (or the "
        "variance) of the batch [1, 4]: store inv_std = 1 / sqrt(var + eps), the number the "
        "normalisation multiplies by.",
    )
    assert_close(cache[2], 1 / np.sqrt(np.array([1.0, 4.0]) + 1e-5),
                 name=f"inv_std (cache[2]) of {call_text}", layout="(D,) = (2,)")
    _require(cache[3] is True or cache[3] == True,  # noqa: E712 (np.True_ too)
             "cache[3] should be the training flag you were given")

    # evaluation mode: the running statistics, a batch of one, nothing updated
    rm_e, rv_e = np.array([1.0, -1.0]), np.array([4.0, 0.25])
    x1 = np.array([[3.0, 0.0]])
    call_e = ("batchnorm_forward(np.array([[3.0, 0.0]]), gamma, beta, running_mean=[1, -1], "
              "running_var=[4, 0.25], training=False)")
    res_e = _bn_call(fn, [x1.copy(), g0.copy(), b0.copy(), rm_e.copy(), rv_e.copy()], call_e,
                     training=False)
    assert_close(res_e[0], g0 * (x1 - rm_e) / np.sqrt(rv_e + 1e-5) + b0,
                 name=f"out of {call_e} (evaluation: normalise with the running statistics)",
                 layout="(1, 2)", reveal=True)
    x3 = np.array([[3.0, 0.0], [1.0, 2.0], [-1.0, 0.5]])
    res_3 = _bn_call(fn, [x3.copy(), g0.copy(), b0.copy(), rm_e.copy(), rv_e.copy()],
                     "batchnorm_forward(..., training=False) on a batch of three", training=False)
    assert_close(res_3[0], g0 * (x3 - rm_e) / np.sqrt(rv_e + 1e-5) + b0,
                 name="out of the same call on a batch of three examples, [[3, 0], [1, 2], "
                      "[-1, 0.5]] (evaluation uses running_mean and running_var as they are, "
                      "whatever N)",
                 layout="(3, 2)", reveal=True)
    assert_close(res_e[2], rm_e, name=f"new_running_mean of {call_e} (unchanged in evaluation)",
                 layout="(2,)")
    assert_close(res_e[3], rv_e, name=f"new_running_var of {call_e} (unchanged in evaluation)",
                 layout="(2,)")
    _require(
        isinstance(res_e[1], tuple | list) and len(res_e[1]) == 4 and not res_e[1][3],
        f"the cache of {call_e} should be (x_hat, gamma, inv_std, False): its last entry is "
        "the training flag you were given, which tells the backward pass which mode it is in.",
    )
    _done("batchnorm_forward")


def _bn_kw(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any,
            training: bool, momentum: float, eps: float) -> Any:
        return fn(x, gamma, beta, running_mean, running_var, training=training,
                  momentum=momentum, eps=eps)
    return run


def _make_bn_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    training = kind not in ("batch of one", "evaluation mode")
    N = batch_size_for(kind, rng) if kind != "random" else int(rng.integers(2, 17))
    D = int(rng.integers(1, 8)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(1, 9))
    spread = 1e-3 if kind == "tiny variance" else 1.0
    x = rng.normal(size=(N, D)) * spread * rng.uniform(0.5, 3.0, D) + rng.normal(size=D)
    if kind == "extreme values":
        x = x * 1e3
    if kind == "large mean":
        x = x + 1e6
    gamma, beta = rng.normal(size=D) + 1.0, rng.normal(size=D)
    running_mean, running_var = rng.normal(size=D), rng.uniform(0.5, 2.0, D)
    momentum = float(rng.choice([0.1, 0.01, 0.5, 1.0]))
    eps = float(rng.choice([1e-5, 1e-3]))
    return (x, gamma, beta, running_mean, running_var, training, momentum, eps)


_BN_KINDS = ("batch of one", "odd sizes", "random", "evaluation mode", "tiny variance",
             "large mean", "extreme values")


@exercise_check
def batchnorm_forward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``batchnorm_forward``: out, both running statistics, x_hat, inv_std and
    the training flag equal ``nnlib.normalization.batchnorm_forward``'s on generated cases
    (evaluation with a batch of one, odd sizes, random, tiny variances, means of 1e6, values
    up to 1e3, momentum 0.01 to 1, eps 1e-5 or 1e-3), inputs unchanged."""
    __tracebackhide__ = True
    parts: list[tuple[str, Callable[[Any], Any]]] = [
        ("out", lambda r: r[0]), ("new_running_mean", lambda r: r[2]),
        ("new_running_var", lambda r: r[3]), ("x_hat (cache[0])", lambda r: r[1][0]),
        ("inv_std (cache[2])", lambda r: r[1][2]),
        ("the training flag (cache[3])", lambda r: float(bool(r[1][3]))),
    ]
    for part, pick in parts:
        check_against_reference(
            _bn_kw(fn), _bn_kw(nnlib.normalization.batchnorm_forward), _make_bn_case,
            name=f"{part} of batchnorm_forward", seed=_seed("batchnorm_forward"),
            kinds=_BN_KINDS, compare=pick)


def _backward_three(
    fn: Callable[..., Any], dout: np.ndarray, cache: tuple[Any, ...], *, label: str,
    call_text: str, nd: tuple[int, int], advice: Any = (),
) -> tuple[Any, Any, Any]:
    """(dx, dgamma, dbeta) of a normalisation backward pass, after the contract checks."""
    __tracebackhide__ = True
    dout_before = dout.copy()
    cache_before = [np.copy(c) for c in cache[:3]]
    res = call_advised(fn, dout, cache, name=call_text, advice=advice)
    _require(
        np.array_equal(dout, dout_before)
        and all(np.array_equal(a, b) for a, b in zip(cache[:3], cache_before, strict=True)),
        f"{label} modified dout or the arrays of the cache in place: compute new arrays.",
    )
    values = expect_arity(res, ["dx", "dgamma", "dbeta"], name=label)
    shapes = [np.shape(r) for r in values]
    _require(
        shapes[0] == nd or nd not in shapes,
        f"{call_text} returned dx, the (N, D) = {nd} array, as value "
        f"{shapes.index(nd) + 1 if nd in shapes else '?'} of 3: return (dx, dgamma, dbeta) in "
        "this order.",
    )
    return values  # type: ignore[return-value]


@exercise_check
def batchnorm_backward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``:

    - it is your own code, not ``nnlib.normalization.batchnorm_backward``;
    - it modifies neither ``dout`` nor the cache and returns three arrays in this order;
    - on a training-mode batch of shape (5, 3): dbeta and dgamma (a message for an extra factor
      gamma), and dx: each column of dx sums to 0 and is orthogonal to x_hat (the two
      invariances of the normalisation), and dx and dgamma equal the numerical gradients;
      targeted messages for statistics treated as constants and for gamma left out;
    - on an evaluation-mode cache: dx equals the numerical gradient with the running statistics
      held constant; targeted messages for using the training-mode computation and for gamma
      or inv_std left out.
    """
    __tracebackhide__ = True
    bnf, bnb = nnlib.normalization.batchnorm_forward, nnlib.normalization.batchnorm_backward
    x = np.random.default_rng(4).normal(size=(5, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -2.0]
    gamma, beta = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    rm, rv = np.zeros(3), np.ones(3)
    dout = np.random.default_rng(5).normal(size=(5, 3))
    cache = bnf(x, gamma, beta, rm, rv, training=True)[1]
    forbid_reference(fn, bnb, args=(dout, cache), name="batchnorm_backward")

    call_text = "batchnorm_backward(dout, cache) for a training-mode batch of shape (5, 3)"
    dx, dgamma, dbeta = _backward_three(fn, dout.copy(), cache, label="batchnorm_backward",
                                        call_text=call_text, nd=(5, 3))
    want_dx, want_dgamma, want_dbeta = bnb(dout, cache)
    _require(
        not (looks_like(dgamma, want_dbeta) and looks_like(dbeta, want_dgamma)),
        f"dgamma and dbeta of {call_text} came back in swapped places: return (dx, dgamma, "
        "dbeta) in this order.",
    )
    assert_close(dbeta, want_dbeta, name=f"dbeta of {call_text}", layout="(D,) = (3,)")
    _require(
        not looks_like(dgamma, want_dgamma * gamma),
        f"dgamma of {call_text} carries an extra factor gamma: out = gamma * x_hat + beta is "
        "linear in gamma, so its derivative with respect to gamma has no gamma left in it.",
    )
    assert_close(dgamma, want_dgamma, name=f"dgamma of {call_text}", layout="(D,) = (3,)")
    _require(np.shape(dx) == (5, 3), f"dx of {call_text} has shape {np.shape(dx)}, expected (5, 3)")
    frozen = bnb(dout, (*cache[:3], False))[0]
    _require(
        not looks_like(dx, frozen),
        f"dx of {call_text} treats the batch mean and variance as constants, as evaluation mode "
        "may. In training mode they are computed from x, so every x_nj also reaches the output "
        "through them: the chain rule has two more paths.",
    )
    _require(
        not looks_like(dx, bnb(dout, (cache[0], np.ones(3), cache[2], True))[0]),
        f"dx of {call_text} matches the right computation with gamma left out: the forward pass "
        "multiplied x_hat by gamma, so the gradient reaching x_hat carries that factor.",
    )
    _require(
        np.allclose(np.sum(dx, axis=0), 0, atol=1e-9),
        f"each column of dx of {call_text} should sum to 0 over the batch (adding a constant to "
        "a column of x changes nothing after normalisation); yours sum to "
        f"{np.round(np.sum(dx, axis=0), 4)}: check the path through the mean, and that N is "
        "the batch size (x.shape[0], the number of rows).",
    )
    _require(
        np.allclose(np.sum(dx * cache[0], axis=0), 0, atol=1e-2),
        f"scaling a column of x changes nothing after normalisation (up to eps), so for "
        f"{call_text} sum_n dx * x_hat should be about 0 in every column; yours is "
        f"{np.round(np.sum(dx * cache[0], axis=0), 4)}: check the path through the variance.",
    )

    def loss_of(v: np.ndarray, which: str) -> float:
        args = {"x": x, "gamma": gamma, "beta": beta}
        args[which] = v
        out = bnf(args["x"], args["gamma"], args["beta"], rm, rv, training=True)[0]
        return float(np.sum(out * dout))

    assert_close(dx, numerical_gradient(lambda v: loss_of(v, "x"), x.copy()),
                 name=f"dx of {call_text} compared with the numerical gradient",
                 layout="(5, 3)", rtol=1e-5, atol=1e-8)
    assert_close(dgamma, numerical_gradient(lambda v: loss_of(v, "gamma"), gamma.copy()),
                 name=f"dgamma of {call_text} compared with the numerical gradient",
                 layout="(3,)", rtol=1e-5, atol=1e-8)

    # evaluation mode: the statistics are constants
    rm_e, rv_e = np.array([0.5, 0.0, 1.0]), np.array([2.0, 1.0, 0.5])
    cache_e = bnf(x[:2], gamma, beta, rm_e, rv_e, training=False)[1]
    call_e = "batchnorm_backward(dout, cache) for an evaluation-mode cache"
    res_e = call(fn, dout[:2].copy(), cache_e, name=call_e)
    _require(
        res_e is not None,
        "batchnorm_backward returned None for an evaluation-mode cache: return (dx, dgamma, "
        "dbeta) in both modes.",
    )
    dx_e = expect_arity(res_e, ["dx", "dgamma", "dbeta"], name=call_e)[0]
    _require(
        not looks_like(dx_e, bnb(dout[:2], (*cache_e[:3], True))[0]),
        f"dx of {call_e} is the training-mode result. In evaluation mode the statistics are "
        "constants (the running averages): choose the computation with cache[3], the training "
        "flag.",
    )
    _require(
        not looks_like(dx_e, bnb(dout[:2], (cache_e[0], np.ones(3), cache_e[2], False))[0]),
        f"dx of {call_e} matches the evaluation-mode result with gamma left out: the forward "
        "pass multiplied x_hat by gamma, so the gradient reaching x_hat carries that factor.",
    )
    _require(
        not looks_like(dx_e, gamma * dout[:2]),
        f"dx of {call_e} matches the evaluation-mode result with inv_std left out: the forward "
        "pass multiplied (x - running_mean) by inv_std (cache[2]), so the gradient reaching x "
        "carries that factor too.",
    )
    num_e = numerical_gradient(
        lambda v: float(np.sum(bnf(v, gamma, beta, rm_e, rv_e, training=False)[0] * dout[:2])),
        x[:2].copy())
    assert_close(dx_e, num_e, name=f"dx of {call_e} compared with the numerical gradient",
                 layout="(2, 3)", rtol=1e-5, atol=1e-8)
    _done("batchnorm_backward")


def _make_bn_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    training = not kind.startswith("evaluation mode")
    N = {"batch of two": 2, "evaluation mode, batch of one": 1}.get(kind) or max(
        2, batch_size_for(kind, rng))
    D = int(rng.integers(1, 9))
    x = rng.normal(size=(N, D)) * rng.uniform(0.5, 3.0, D) + rng.normal(size=D)
    gamma, beta = rng.normal(size=D) + 1.0, rng.normal(size=D)
    cache = nnlib.normalization.batchnorm_forward(
        x, gamma, beta, rng.normal(size=D), rng.uniform(0.5, 2.0, D), training=training)[1]
    dout = rng.normal(size=(N, D)) * scale_for(kind)
    return (dout, cache)


@exercise_check
def batchnorm_backward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``batchnorm_backward``: (dx, dgamma, dbeta) equal
    ``nnlib.normalization.batchnorm_backward``'s on generated caches (a batch of two, odd
    sizes, random, evaluation mode with a batch of one, upstream gradients up to 1e3), inputs
    unchanged."""
    __tracebackhide__ = True
    check_against_reference(
        fn, nnlib.normalization.batchnorm_backward, _make_bn_back_case,
        name="batchnorm_backward", seed=_seed("batchnorm_backward"), rtol=1e-6, atol=1e-8,
        kinds=("batch of two", "odd sizes", "random", "evaluation mode, batch of one",
               "extreme values"))


# ---------------------------------------------------------------------------------------------
# Layer normalisation
# ---------------------------------------------------------------------------------------------

_LN_KEEPDIMS = (
    "A per-row statistic (the mean, the variance or inv_std of each row) of shape (N,) does "
    "not line up with the (N, D) array: keep it as a column of shape (N, 1) with "
    "keepdims=True, so that it broadcasts along each row."
)


@exercise_check
def layernorm_forward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``layernorm_forward(x, gamma, beta, eps=1e-5) -> (out, cache)``:

    - it is your own code, not ``nnlib.normalization.layernorm_forward``;
    - it modifies none of its inputs and returns the pair ``(out, cache)``;
    - a (2, 3) batch (rows and columns differ): the per-row statistics keep their axis
      (keepdims=True), or a targeted message says so;
    - the worked example [[1, 3], [0, 8]]: out, x_hat and inv_std of shape (N, 1); targeted
      messages for normalising columns (batch norm), the unbiased variance, and a row
      statistic of shape (N,) broadcast across the columns;
    - eps inside the square root;
    - rows with means up to 1e6 come out with mean 0 (variance from the deviations), and a
      row alone gives the same result as inside the batch.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.normalization.layernorm_forward,
                     args=(np.array([[1.0, 2.0, 4.0]]), np.ones(3), np.zeros(3)),
                     name="layernorm_forward")
    # rows and columns differ: a statistic that lost its axis cannot broadcast by accident
    x23 = np.array([[1.0, 2.0, 6.0], [0.0, -1.0, 4.0]])
    g3, b3 = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    name23 = ("layernorm_forward(np.array([[1.0, 2.0, 6.0], [0.0, -1.0, 4.0]]), "
              "gamma=[1, 2, 0.5], beta=[0, 1, -1])")
    res23 = call_advised(fn, x23.copy(), g3.copy(), b3.copy(), name=name23,
                         advice=[(*_BROADCAST, _LN_KEEPDIMS)])
    if isinstance(res23, tuple | list) and len(res23) == 4:
        raise GradingError(
            "layernorm_forward should return a pair (out, cache), got a tuple of length 4: "
            "layer norm has no running statistics to return."
        )
    out23, cache23 = expect_arity(res23, ["out", "cache"], name="layernorm_forward")
    _require(np.shape(out23) == (2, 3),
             f"out of {name23} has shape {np.shape(out23)}, expected (2, 3)")
    _require(
        not (isinstance(cache23, tuple | list) and len(cache23) == 3
             and np.shape(cache23[2]) in ((2,), (1, 2))),
        f"inv_std (cache[2]) of {name23} has shape {np.shape(cache23[2])}: one per row, as a "
        "column of shape (N, 1) = (2, 1) (keepdims=True).",
    )

    # row 0: mean 2, variance 1; row 1: mean 4, variance 16
    x0 = np.array([[1.0, 3.0], [0.0, 8.0]])
    g0, b0 = np.array([2.0, 0.5]), np.array([0.0, 1.0])
    x, g, b = x0.copy(), g0.copy(), b0.copy()
    call_text = "layernorm_forward(np.array([[1.0, 3.0], [0.0, 8.0]]), gamma=[2, 0.5], beta=[0, 1])"
    res = call_advised(fn, x, g, b, name=call_text, advice=[(*_BROADCAST, _LN_KEEPDIMS)])
    _require(
        all(np.array_equal(a, c) for a, c in ((x, x0), (g, g0), (b, b0))),
        "layernorm_forward modified one of its inputs in place: compute new arrays.",
    )
    out, cache = expect_arity(res, ["out", "cache"], name="layernorm_forward")
    xh = np.array([[-1.0, 1.0], [-1.0, 1.0]]) * np.array(
        [[1.0 / np.sqrt(1 + 1e-5)], [4.0 / np.sqrt(16 + 1e-5)]])
    _require(np.shape(out) == (2, 2),
             f"out of {call_text} has shape {np.shape(out)}, expected (2, 2)")
    by_column = (x0 - x0.mean(axis=0)) / np.sqrt(x0.var(axis=0) + 1e-5) * g0 + b0
    _require(
        not looks_like(out, by_column),
        f"out of {call_text} normalises each feature (column) over the batch: that is batch "
        "norm. Layer norm normalises each example (row) over its D features: axis=-1 with "
        "keepdims=True.",
    )
    _require(
        not looks_like(out, g0 * (x0 - x0.mean(axis=1, keepdims=True))
                       / np.sqrt(x0.var(axis=1, keepdims=True, ddof=1) + 1e-5) + b0),
        f"out of {call_text} is normalised with the unbiased variance (divided by D - 1): "
        "divide by D (np.var's default).",
    )
    m1, v1 = x0.mean(axis=1, keepdims=True), x0.var(axis=1, keepdims=True)
    _require(
        not any(looks_like(out, g0 * (x0 - m) / np.sqrt(v + 1e-5) + b0) for m, v in (
            (m1.ravel(), v1.ravel()), (m1, v1.ravel()), (m1.ravel(), v1))),
        f"out of {call_text}: a row statistic (the mean or the variance) has shape (N,) and "
        "broadcast across the columns, so row n's statistic was applied to column n. Keep the "
        "statistics as columns of shape (N, 1) with keepdims=True, so that they broadcast "
        "along each row.",
    )

    # eps inside the square root, on a row whose variance is tiny compared with eps
    tiny_name = ("out of layernorm_forward(np.array([[0.0, 0.002]]), np.ones(2), np.zeros(2), "
                 "eps=1e-4)")
    o_tiny = expect_arity(
        call(fn, np.array([[0.0, 0.002]]), np.ones(2), np.zeros(2), eps=1e-4, name=tiny_name),
        ["out", "cache"], name="layernorm_forward")[0]
    _require(
        not looks_like(o_tiny, [[-0.001 / (0.001 + 1e-4), 0.001 / (0.001 + 1e-4)]]),
        "eps belongs inside the square root: (x - mean) / np.sqrt(var + eps).",
    )
    _require(
        not looks_like(o_tiny, [[-1.0, 1.0]]),
        f"{tiny_name} is [[-1, 1]], as if eps were missing: add it to the variance inside the "
        "square root, np.sqrt(var + eps).",
    )
    assert_close(o_tiny, [[-0.001 / np.sqrt(1e-6 + 1e-4), 0.001 / np.sqrt(1e-6 + 1e-4)]],
                 name=tiny_name, layout="(1, 2)", reveal=True)
    assert_close(out, g0 * xh + b0, name=f"out of {call_text}", layout="(2, 2)", reveal=True)
    _require(
        isinstance(cache, tuple | list) and len(cache) == 3,
        "the cache should be the tuple (x_hat, gamma, inv_std), got "
        f"{type(cache).__name__}"
        + (f" of length {len(cache)}" if isinstance(cache, tuple | list) else ""),
    )
    assert_close(cache[0], xh, name=f"x_hat (cache[0]) of {call_text}", layout="(2, 2)")
    assert_close(cache[2], [[1 / np.sqrt(1 + 1e-5)], [1 / np.sqrt(16 + 1e-5)]],
                 name=f"inv_std (cache[2]) of {call_text}: one per row, keepdims=True",
                 layout="(N, 1) = (2, 1)")

    # each example on its own: rows of mean 0 and variance 1, whatever the batch holds
    xr = np.random.default_rng(7).normal(size=(5, 4)) * 3 + np.array(
        [[0.0], [5.0], [-2.0], [1e6], [1.0]])
    name_r = "layernorm_forward(x, np.ones(4), np.zeros(4)) for x of shape (5, 4)"
    o = expect_arity(call_advised(fn, xr.copy(), np.ones(4), np.zeros(4), name=name_r,
                                  advice=[(*_BROADCAST, _LN_KEEPDIMS)]),
                     ["out", "cache"], name="layernorm_forward")[0]
    _require(
        np.shape(o) == (5, 4) and np.allclose(np.mean(o, axis=1), 0, atol=1e-7),
        "with gamma = 1 and beta = 0 every row of out should have mean 0: subtract each row's "
        "own mean (axis=-1, keepdims=True).",
    )
    xc = xr - xr.mean(axis=1, keepdims=True)
    assert_close(o, xc / np.sqrt(np.mean(xc ** 2, axis=1, keepdims=True) + 1e-5),
                 name="out of layernorm_forward on rows with means up to 1e6 (use np.var or the "
                      "mean of (x - mean)**2, not E[x^2] - E[x]^2)",
                 layout="(5, 4)", rtol=1e-6)
    alone = expect_arity(call(fn, xr[1:2].copy(), np.ones(4), np.zeros(4), name=name_r),
                         ["out", "cache"], name="layernorm_forward")[0]
    assert_close(alone, o[1:2],
                 name="layernorm_forward of row 1 alone (a batch of one must give the same row)",
                 layout="(1, 4)")
    m23, v23 = x23.mean(axis=1, keepdims=True), x23.var(axis=1, keepdims=True)
    assert_close(out23, g3 * (x23 - m23) / np.sqrt(v23 + 1e-5) + b3, name=f"out of {name23}",
                 layout="(2, 3)", reveal=True)
    _done("layernorm_forward")


def _make_ln_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 8)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(1, 10))
    x = rng.normal(size=(N, D)) * rng.uniform(0.5, 3.0, (N, 1)) + rng.normal(size=(N, 1))
    if kind == "extreme values":
        x = x * 1e3
    if kind == "large mean":
        x = x + 1e6
    gamma, beta = rng.normal(size=D) + 1.0, rng.normal(size=D)
    return (x, gamma, beta, float(rng.choice([1e-5, 1e-3])))


@exercise_check
def layernorm_forward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``layernorm_forward``: out, x_hat and inv_std equal
    ``nnlib.normalization.layernorm_forward``'s on generated cases (a batch of one, odd sizes,
    random, means of 1e6, values up to 1e3, eps 1e-5 or 1e-3), inputs unchanged."""
    __tracebackhide__ = True
    for part, pick in (("out", lambda r: r[0]), ("x_hat (cache[0])", lambda r: r[1][0]),
                       ("inv_std (cache[2])", lambda r: r[1][2])):
        check_against_reference(
            fn, nnlib.normalization.layernorm_forward, _make_ln_case,
            name=f"{part} of layernorm_forward", seed=_seed("layernorm_forward"), compare=pick,
            kinds=("batch of one", "odd sizes", "random", "large mean", "extreme values"))


@exercise_check
def layernorm_backward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``layernorm_backward(dout, cache) -> (dx, dgamma, dbeta)``:

    - it is your own code, not ``nnlib.normalization.layernorm_backward``;
    - it modifies neither ``dout`` nor the cache and returns three arrays in this order, with
      dgamma and dbeta of shape (D,);
    - on x of shape (4, 5): dbeta and dgamma; each row of dx sums to 0 and is orthogonal to its
      x_hat (the two invariances of the normalisation); dx equals the numerical gradient;
      targeted messages for statistics treated as constants, gamma left out, and per-row
      quantities that lost their axis.
    """
    __tracebackhide__ = True
    lnf, lnb = nnlib.normalization.layernorm_forward, nnlib.normalization.layernorm_backward
    x = np.random.default_rng(8).normal(size=(4, 5)) * 2 + 1
    gamma = np.random.default_rng(9).normal(size=5) + 1
    beta = np.random.default_rng(10).normal(size=5)
    dout = np.random.default_rng(11).normal(size=(4, 5))
    cache = lnf(x, gamma, beta)[1]
    forbid_reference(fn, lnb, args=(dout, cache), name="layernorm_backward")
    call_text = "layernorm_backward(dout, cache) for x of shape (4, 5)"
    dx, dgamma, dbeta = _backward_three(
        fn, dout.copy(), cache, label="layernorm_backward", call_text=call_text, nd=(4, 5),
        advice=[(*_BROADCAST,
                 "A per-row quantity (a sum over the features of each row, or inv_std) of "
                 "shape (N,) = (4,) does not line up with the (4, 5) arrays: keep it as a "
                 "column of shape (N, 1) (keepdims=True for the sums; inv_std comes from the "
                 "cache with that shape already).")])
    want_dx, want_dgamma, want_dbeta = lnb(dout, cache)
    _require(
        not (looks_like(dgamma, want_dbeta) and looks_like(dbeta, want_dgamma)),
        f"dgamma and dbeta of {call_text} came back in swapped places: return (dx, dgamma, "
        "dbeta) in this order.",
    )
    _require(
        not (np.shape(dgamma) == (1, 5) or np.shape(dbeta) == (1, 5)),
        f"dgamma and dbeta of {call_text} should have shape (D,) = (5,), got "
        f"{np.shape(dgamma)} and {np.shape(dbeta)}: a sum over the batch (axis=0) with "
        "keepdims=True. keepdims belongs to the per-row sums of dx; gamma and beta have shape "
        "(D,), so their gradients do too: sum over axis 0 without keepdims.",
    )
    _require(
        np.shape(dgamma) == (5,) and np.shape(dbeta) == (5,),
        f"dgamma and dbeta of {call_text} should have shape (D,) = (5,), got "
        f"{np.shape(dgamma)} and {np.shape(dbeta)}: gamma and beta are shared by all the "
        "examples, so every row contributes to their gradients.",
    )
    assert_close(dbeta, want_dbeta, name=f"dbeta of {call_text}", layout="(5,)")
    assert_close(dgamma, want_dgamma, name=f"dgamma of {call_text}", layout="(5,)")
    _require(np.shape(dx) == (4, 5), f"dx of {call_text} has shape {np.shape(dx)}, expected (4, 5)")
    x_hat, _, inv_std = cache
    _require(
        not looks_like(dx, dout * gamma * inv_std),
        f"dx of {call_text} treats the mean and variance of each row as constants. They are "
        "computed from the row's x, so every x_nj also reaches the output through them: the "
        "chain rule has two more paths.",
    )
    _require(
        not looks_like(dx, lnb(dout, (x_hat, np.ones(5), inv_std))[0]),
        f"dx of {call_text} matches the right computation with gamma left out: the forward pass "
        "multiplied x_hat by gamma, so the gradient reaching x_hat carries that factor.",
    )
    _require(
        np.allclose(np.sum(dx, axis=1), 0, atol=1e-9),
        f"each row of dx of {call_text} should sum to 0 (adding a constant to a row of x "
        f"changes nothing after normalisation); yours sum to {np.round(np.sum(dx, axis=1), 4)}: "
        "check the path through the mean: its sum runs over the features of each row, and the "
        "count is D, the number of features.",
    )
    _require(
        np.allclose(np.sum(dx * x_hat, axis=1), 0, atol=1e-2),
        f"scaling a row of x changes nothing after normalisation (up to eps), so for "
        f"{call_text} sum_j dx * x_hat should be about 0 in every row; yours is "
        f"{np.round(np.sum(dx * x_hat, axis=1), 4)}: check the path through the variance.",
    )
    assert_close(
        dx, numerical_gradient(lambda v: float(np.sum(lnf(v, gamma, beta)[0] * dout)), x.copy()),
        name=f"dx of {call_text} compared with the numerical gradient", layout="(4, 5)",
        rtol=1e-5, atol=1e-8)
    _done("layernorm_backward")


def _make_ln_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 10))
    x = rng.normal(size=(N, D)) * rng.uniform(0.5, 3.0, (N, 1)) + rng.normal(size=(N, 1))
    cache = nnlib.normalization.layernorm_forward(
        x, rng.normal(size=D) + 1.0, rng.normal(size=D))[1]
    return (rng.normal(size=(N, D)) * scale_for(kind), cache)


@exercise_check
def layernorm_backward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``layernorm_backward``: (dx, dgamma, dbeta) equal
    ``nnlib.normalization.layernorm_backward``'s on generated caches (a batch of one, odd
    sizes, random, upstream gradients up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(
        fn, nnlib.normalization.layernorm_backward, _make_ln_back_case,
        name="layernorm_backward", seed=_seed("layernorm_backward"), rtol=1e-6, atol=1e-8,
        kinds=CASE_KINDS)
