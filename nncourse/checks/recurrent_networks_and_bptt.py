"""The checks of lesson 12, recurrent networks and backpropagation through time
(``solutions/12_recurrent_networks_and_bptt``; ``course/`` for learners).

Nine exercises: the tanh RNN step ``rnn_step_forward`` / ``rnn_step_backward``, the whole
sequence ``rnn_forward`` / ``rnn_backward`` (backpropagation through time), ``embedding_forward``
/ ``embedding_backward``, the time-distributed ``temporal_linear_forward`` /
``temporal_linear_backward`` and the masked ``temporal_softmax_cross_entropy_loss``.
``<exercise>(fn)`` runs the visible checks (worked examples, gradient checks against central
differences, targeted messages for classic mistakes); ``<exercise>_hidden(fn)`` compares ``fn``
with ``nnlib.rnn`` on cases drawn from :func:`nncourse.testing.hidden_seed` (T = 1, a batch of
one, odd sizes, given initial states, extreme values). Deriving the backward passes is the
lesson: no message states one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nnlib.rnn
from nncourse.checks._contract import (
    call,
    call_advised,
    exercise_check,
    expect_arity,
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
)
from nnlib.gradcheck import check_gradients, numerical_gradient

__all__ = [
    "rnn_step_forward", "rnn_step_forward_hidden", "rnn_step_backward",
    "rnn_step_backward_hidden", "rnn_forward", "rnn_forward_hidden", "rnn_backward",
    "rnn_backward_hidden", "embedding_forward", "embedding_forward_hidden",
    "embedding_backward", "embedding_backward_hidden", "temporal_linear_forward",
    "temporal_linear_forward_hidden", "temporal_linear_backward",
    "temporal_linear_backward_hidden", "temporal_softmax_cross_entropy_loss",
    "temporal_softmax_cross_entropy_loss_hidden",
]

Fn = Callable[..., Any]
SLUG = "recurrent_networks_and_bptt"
#: A backward pass whose gradient check scores above this is wrong (correct code: 1e-8..1e-11).
GRADCHECK_TOL = 1e-7
_STEP_CACHE = ("x", "h_prev", "h_next", "Wx", "Wh")


def _seed(exercise: str) -> int:
    return hidden_seed(f"{SLUG}/{exercise}")


def _require(ok: Any, message: str) -> None:
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


def _unchanged(name: str, pairs: Sequence[tuple[str, Any, Any]], extra: str = "") -> None:
    """Every (argument name, value after the call, copy from before) is unchanged; ``extra``
    is added to the message for the first argument."""
    __tracebackhide__ = True
    for i, (pname, after, before) in enumerate(pairs):
        _require(
            np.array_equal(np.asarray(after), np.asarray(before)),
            f"{name} modified its input `{pname}` in place: compute new arrays instead (with "
            "`+=` or `[...] =` on an input, the caller's array changes too)."
            + (f" {extra}" if extra and i == 0 else ""),
        )


def _gradcheck(forward: Fn, backward: Fn, inputs: tuple[np.ndarray, ...], *,
               names: Sequence[str], name: str, rng: np.random.Generator) -> None:
    """nnlib's gradient check of ``backward`` against ``forward``, as a learner's message."""
    __tracebackhide__ = True
    shapes = " and ".join(f"{n} {np.shape(x)}" for n, x in zip(names, inputs, strict=True))
    try:
        check_gradients(forward, backward, inputs, rng=rng, tol=GRADCHECK_TOL, h=1e-5,
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


def _weights(rng: np.random.Generator, D: int, H: int, scale: float = 1.0) -> tuple[Any, ...]:
    return (rng.normal(size=(D, H)) * scale / np.sqrt(D), rng.normal(size=(H, H)) * scale
            / np.sqrt(H), rng.normal(size=H) * 0.1)


# ---------------------------------------------------------------------------------------------
# rnn_step_forward
# ---------------------------------------------------------------------------------------------


@exercise_check
def rnn_step_forward(fn: Fn) -> None:
    """Visible checks of ``rnn_step_forward(x, h_prev, Wx, Wh, b) -> (h_next, cache)``:

    - it is your own code, not ``nnlib.rnn.rnn_step_forward``;
    - it returns the pair ``(h_next, cache)`` and modifies none of its inputs;
    - the scalar RNN of section 1 (D = H = 1), worked by hand;
    - a batch of 3 with D = 2 and H = 4: ``h_next`` has shape (N, H), the tanh is applied, the
      bias is added, ``h_prev @ Wh`` (not ``Wh`` transposed), tanh rather than sigmoid;
    - the cache is the tuple ``(x, h_prev, h_next, Wx, Wh)``, in that order.
    """
    __tracebackhide__ = True
    ref = nnlib.rnn.rnn_step_forward
    rng = np.random.default_rng(12)
    x, h_prev = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
    Wx, Wh, b = rng.normal(size=(2, 4)), rng.normal(size=(4, 4)) * 0.5, rng.normal(size=4)
    forbid_reference(fn, ref, args=(x, h_prev, Wx, Wh, b), name="rnn_step_forward")

    text = "rnn_step_forward(x=[[1.0]], h_prev=[[0.5]], Wx=[[0.5]], Wh=[[2.0]], b=[-0.5])"
    res = expect_arity(call(fn, np.array([[1.0]]), np.array([[0.5]]), np.array([[0.5]]),
                            np.array([[2.0]]), np.array([-0.5]), name=text),
                       ("h_next", "cache"), name=text)
    _require(not looks_like(res[0], [[1.0]]),
             f"{text} returned the pre-activation a = x Wx + h_prev Wh + b = 1.0 itself: the "
             "new state is tanh(a).")
    scalar_text, scalar_h = text, res[0]

    text = "rnn_step_forward(x, h_prev, Wx, Wh, b) with x (3, 2), h_prev (3, 4), Wh (4, 4)"
    kept = [a.copy() for a in (x, h_prev, Wx, Wh, b)]
    res = expect_arity(call(fn, x, h_prev, Wx, Wh, b, name=text), ("h_next", "cache"),
                       name=text)
    _unchanged("rnn_step_forward", list(zip(("x", "h_prev", "Wx", "Wh", "b"),
                                            (x, h_prev, Wx, Wh, b), kept, strict=True)))
    h_next, cache = res
    _require(not isinstance(h_next, tuple | list),
             f"{text} returned the cache first: return (h_next, cache), in this order.")
    a = x @ Wx + h_prev @ Wh + b
    _require(np.shape(h_next) == (3, 4),
             f"h_next of {text} has shape {np.shape(h_next)}; expected (N, H) = (3, 4): one new "
             "state of H units for each of the N sequences.")
    for wrong, why in [
        (a, "the pre-activation itself: apply np.tanh to it"),
        (np.tanh(x @ Wx + h_prev @ Wh.T + b), "computed with Wh transposed: the convention "
         "is h_prev @ Wh, as x @ Wx (row h of Wh holds the weights out of unit h)"),
        (np.tanh(a - b), "computed without the bias b"),
        (1 / (1 + np.exp(-a)), "the sigmoid of the pre-activation: this RNN uses tanh"),
        (np.tanh(x @ Wx + b), "computed without h_prev: the previous state is what makes the "
         "network recurrent"),
    ]:
        _require(not looks_like(h_next, wrong), f"h_next of {text} is {why}.")
    assert_close(scalar_h, [[np.tanh(1.0)]], name=f"h_next of {scalar_text} (by hand: "
                 "tanh(0.5 + 1.0 - 0.5))", layout="(N, H) = (1, 1)", reveal=True)
    assert_close(h_next, np.tanh(a), name=f"h_next of {text}", layout="(N, H) = (3, 4)")
    _require(isinstance(cache, tuple | list) and len(cache) == 5,
             f"the cache returned by {text} should be the tuple (x, h_prev, h_next, Wx, Wh), "
             f"got a {type(cache).__name__}"
             + (f" of length {len(cache)}" if isinstance(cache, tuple | list) else "") + ".")
    for i, (pname, want) in enumerate(zip(_STEP_CACHE, (x, h_prev, np.tanh(a), Wx, Wh),
                                          strict=True)):
        _require(np.shape(cache[i]) == want.shape and np.allclose(cache[i], want),
                 f"cache[{i}] of {text} should be {pname} (the cache is (x, h_prev, h_next, Wx, "
                 "Wh), in this order): the backward pass unpacks it in that order.")
    _done("rnn_step_forward")


def _make_step_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D = int(rng.integers(1, 7))
    H = int(rng.integers(1, 7)) if kind != "odd sizes" else int(rng.integers(1, 4)) * 2 + 1
    scale = 10.0 if kind == "extreme values" else 1.0   # saturated units, tanh near +-1
    Wx, Wh, b = _weights(rng, D, H, scale)
    return (rng.normal(size=(N, D)), rng.normal(size=(N, H)), Wx, Wh, b)


@exercise_check
def rnn_step_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``rnn_step_forward``: h_next and the five entries of the cache equal
    ``nnlib.rnn.rnn_step_forward``'s on generated steps (a batch of one, odd sizes, random,
    saturated units), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.rnn_step_forward, _make_step_case,
                            name="rnn_step_forward", seed=_seed("rnn_step_forward"),
                            compare=lambda r: (r[0], *r[1]))


# ---------------------------------------------------------------------------------------------
# rnn_step_backward
# ---------------------------------------------------------------------------------------------

_STEP_GRADS = ("dx", "dh_prev", "dWx", "dWh", "db")


def _step_variants(dh: np.ndarray, c: Any) -> dict[str, tuple[np.ndarray, ...]]:
    """Plausible wrong step backward passes, by the mistake that makes them."""
    x, h_prev, h_next, Wx, Wh = c

    def grads(da: np.ndarray, h_in: np.ndarray = h_prev) -> tuple[np.ndarray, ...]:
        return (da @ Wx.T, da @ Wh.T, x.T @ da, h_in.T @ da, da.sum(axis=0))

    right = grads(dh * (1 - h_next ** 2))
    da = dh * (1 - h_next ** 2)
    return {
        "dh_prev with Wh": (right[0], da @ Wh, *right[2:]),
        "dh_prev without tanh": (right[0], dh @ Wh.T, *right[2:]),
        "no tanh": grads(dh),
        "tanh' as 1 - h": grads(dh * (1 - h_next)),
        "tanh applied again": grads(dh * (1 - np.tanh(h_next) ** 2)),
        "h_next for h_prev": grads(dh * (1 - h_next ** 2), h_next),
    }


_STEP_ADVICE = {
    "dh_prev with Wh": "dh_prev was computed with Wh where its transpose belongs: in the "
                       "forward pass h_prev (N, H) is multiplied by Wh on the right, so lesson "
                       "05's linear_backward sends the gradient back through Wh.T (Wh is "
                       "square, so both have the right shape)",
    "dh_prev without tanh": "dh_prev skipped the slope of tanh: the gradient reaching h_prev "
                            "passes through the same tanh as the one reaching x and the "
                            "weights (every other gradient has it)",
    "no tanh": "the gradient went straight through the tanh: on its way back, dh_next is "
               "multiplied by the slope of tanh at this step first (lesson 02's derivative, "
               "written with the output you cached)",
    "tanh' as 1 - h": "the slope of tanh is written with h_next, but not as lesson 02 has it: "
                      "check the power of h_next",
    "tanh applied again": "the cache holds h_next, which already IS tanh(a): use it as it is, "
                          "do not pass it through tanh again",
    "h_next for h_prev": "the weight Wh multiplies h_prev in the forward pass, so the state "
                         "that enters its gradient is h_prev, not h_next",
}


@exercise_check
def rnn_step_backward(fn: Fn) -> None:
    """Visible checks of ``rnn_step_backward(dh_next, cache) -> (dx, dh_prev, dWx, dWh, db)``:

    - it is your own code, not ``nnlib.rnn.rnn_step_backward``;
    - it returns five arrays in this order (another order is named) and modifies neither
      ``dh_next`` nor the cache;
    - the scalar step of section 2 (D = H = 1), whose five derivatives you can work by hand;
    - each gradient has the shape of its variable (``db`` is summed over the batch);
    - targeted messages: the tanh slope missing, written wrongly or applied twice, h_next used
      where h_prev belongs;
    - gradient checks against central differences (``rel_error`` below 1e-7) with N != H and a
      batch of one.
    """
    __tracebackhide__ = True
    fwd, ref = nnlib.rnn.rnn_step_forward, nnlib.rnn.rnn_step_backward
    rng = np.random.default_rng(13)
    x, h_prev = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    Wx, Wh, b = _weights(rng, 3, 4)
    h_next, c = fwd(x, h_prev, Wx, Wh, b)
    dh = rng.normal(size=(5, 4))
    forbid_reference(fn, ref, args=(dh, c), name="rnn_step_backward")

    # the scalar step: a = 0.5 * 1 + 2 * 0.5 - 0.5 = 1, h_next = tanh(1)
    c1 = fwd(np.array([[1.0]]), np.array([[0.5]]), np.array([[0.5]]), np.array([[2.0]]),
             np.array([-0.5]))[1]
    text = "rnn_step_backward(dh_next=[[1.0]], cache) for the scalar step of section 2"
    res1 = expect_arity(call(fn, np.array([[1.0]]), c1, name=text), _STEP_GRADS, name=text)
    scalar_text = text

    text = "rnn_step_backward(dh_next, cache) with x (5, 3), h_prev (5, 4), Wh (4, 4)"
    kept = dh.copy(), [np.copy(a) for a in c]
    res = expect_arity(call(fn, dh, c, name=text), _STEP_GRADS, name=text)
    _unchanged("rnn_step_backward", [("dh_next", dh, kept[0])] + [
        (f"cache ({p})", a, k) for p, a, k in zip(_STEP_CACHE, c, kept[1], strict=True)])
    want = ref(dh, c)
    expect_order(res, want, _STEP_GRADS, name=text)
    layouts = ("(N, D) = (5, 3)", "(N, H) = (5, 4)", "(D, H) = (3, 4)", "(H, H) = (4, 4)",
               "(H,) = (4,)")
    for value, w, gname, layout in zip(res, want, _STEP_GRADS, layouts, strict=True):
        if gname == "db" and np.shape(value) == (5, 4):
            raise GradingError(
                f"db of {text} has shape (5, 4), one row per example; expected (H,) = (4,). "
                "The bias is added to every row of the batch: its gradient collects all of "
                "them.")
        _require(np.shape(value) == w.shape,
                 f"{gname} of {text} has shape {np.shape(value)}; expected {layout}: a gradient "
                 "has the shape of its variable.")
    for mistake, wrong in _step_variants(dh, c).items():
        _require(not all(looks_like(v, w) for v, w in zip(res, wrong, strict=True)),
                 f"{text}: {_STEP_ADVICE[mistake]}.")
    s = 1 - np.tanh(1.0) ** 2
    want1 = (np.array([[s * 0.5]]), np.array([[s * 2.0]]), np.array([[s * 1.0]]),
             np.array([[s * 0.5]]), np.array([s]))
    for value, w1, gname in zip(res1, want1, _STEP_GRADS, strict=True):
        assert_close(value, w1, name=f"{gname} of {scalar_text}",
                     layout="(1, 1)" if gname != "db" else "(H,) = (1,)")
    for value, w, gname, layout in zip(res, want, _STEP_GRADS, layouts, strict=True):
        assert_close(value, w, name=f"{gname} of {text}", layout=layout)
    for N, D, H in [(2, 3, 5), (1, 2, 2)]:
        inputs = (rng.normal(size=(N, D)), rng.normal(size=(N, H)), *_weights(rng, D, H))
        _gradcheck(fwd, fn, inputs, names=("x", "h_prev", "Wx", "Wh", "b"),
                   name="rnn_step_backward", rng=rng)
    _done("rnn_step_backward")


def _make_step_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    args = _make_step_case(rng, kind)
    cache = nnlib.rnn.rnn_step_forward(*args)[1]
    dh = rng.normal(size=args[1].shape) * (1e3 if kind == "extreme values" else 1.0)
    return (dh, cache)


@exercise_check
def rnn_step_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``rnn_step_backward``: the five gradients equal
    ``nnlib.rnn.rnn_step_backward``'s on generated steps (a batch of one, odd sizes, random,
    saturated units with upstream gradients up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.rnn_step_backward, _make_step_back_case,
                            name="rnn_step_backward", seed=_seed("rnn_step_backward"),
                            rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# rnn_forward
# ---------------------------------------------------------------------------------------------


def _step_caches(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                 b: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """nnlib's step forward over the sequence: (h (N, T, H), the list of T step caches)."""
    hs, caches, h = [], [], h0
    for t in range(x.shape[1]):
        h, c = nnlib.rnn.rnn_step_forward(x[:, t], h, Wx, Wh, b)
        hs.append(h)
        caches.append(c)
    return np.stack(hs, axis=1), caches


_X_T_ADVICE = [(IndexError, "out of bounds for axis 0",
                "x[t] indexes axis 0, the batch (N sequences); step t of every sequence is "
                "x[:, t], since time is axis 1 (batch-first).")]


@exercise_check
def rnn_forward(fn: Fn) -> None:
    """Visible checks of ``rnn_forward(x, h0, Wx, Wh, b) -> (h, cache)``:

    - it is your own code, not ``nnlib.rnn.rnn_forward``;
    - it returns the pair ``(h, cache)`` and modifies none of its inputs;
    - the scalar sequence of section 3 (N = D = H = 1, T = 3), worked by hand;
    - N = 2 sequences of T = 5 steps, D = 3, H = 4: ``h`` is batch-first ``(N, T, H)``, starts
      from the given ``h0`` (not zeros), feeds each state into the next step (not ``h0`` every
      time), reads ``x[:, t]`` (time is axis 1);
    - ``cache`` is the list of the T step caches, ``cache[t]`` what ``rnn_step_forward``
      returned at step t;
    - T = 1.
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(14)
    x, h0 = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4))
    Wx, Wh, b = _weights(rng, 3, 4)
    forbid_reference(fn, nnlib.rnn.rnn_forward, args=(x, h0, Wx, Wh, b), name="rnn_forward")

    # the scalar sequence: x = 1, 0, -1; h0 = 0; Wx = 1, Wh = 0.5, b = 0
    xs = np.array([[[1.0], [0.0], [-1.0]]])
    one = np.array([[1.0]])
    text = "rnn_forward(x=[[[1], [0], [-1]]], h0=[[0]], Wx=[[1]], Wh=[[0.5]], b=[0])"
    res = expect_arity(call_advised(fn, xs, np.zeros((1, 1)), one, 0.5 * one, np.zeros(1),
                                    name=text, advice=_X_T_ADVICE), ("h", "cache"), name=text)
    scalar_text, scalar_h = text, res[0]

    text = "rnn_forward(x, h0, Wx, Wh, b) with x (2, 5, 3), h0 (2, 4), Wh (4, 4)"
    kept = [a.copy() for a in (x, h0, Wx, Wh, b)]
    h, cache = expect_arity(call_advised(fn, x, h0, Wx, Wh, b, name=text, advice=_X_T_ADVICE),
                            ("h", "cache"), name=text)
    _unchanged("rnn_forward", list(zip(("x", "h0", "Wx", "Wh", "b"), (x, h0, Wx, Wh, b), kept,
                                       strict=True)))
    want, caches = _step_caches(x, h0, Wx, Wh, b)
    _require(np.shape(h) != (5, 2, 4),
             f"h of {text} has shape (5, 2, 4), time first; sequences are batch-first here: "
             "h[:, t] is the state after step t, so h is (N, T, H) = (2, 5, 4).")
    _require(np.shape(h) == (2, 5, 4),
             f"h of {text} has shape {np.shape(h)}; expected (N, T, H) = (2, 5, 4): the hidden "
             "state after every step, for every sequence.")
    zeros = _step_caches(x, np.zeros((2, 4)), Wx, Wh, b)[0]
    _require(not looks_like(h, zeros),
             f"h of {text} starts from zeros: start from the h0 you are given.")
    stuck = np.stack([nnlib.rnn.rnn_step_forward(x[:, t], h0, Wx, Wh, b)[0] for t in range(5)],
                     axis=1)
    _require(not looks_like(h, stuck),
             f"every step of {text} starts from h0: each step must start from the state the "
             "previous step produced (h_prev = the new state, inside the loop).")
    h1 = np.tanh(1.0)
    h2 = np.tanh(0.5 * h1)
    h3 = np.tanh(-1.0 + 0.5 * h2)
    assert_close(scalar_h, [[[h1], [h2], [h3]]], name=f"h of {scalar_text} (by hand: h1 = "
                 "tanh(1), h2 = tanh(0.5 h1), h3 = tanh(-1 + 0.5 h2))",
                 layout="(N, T, H) = (1, 3, 1)", reveal=True)
    assert_close(h, want, name=f"h of {text}", layout="(N, T, H) = (2, 5, 4)")
    _require(isinstance(cache, list | tuple) and len(cache) == 5,
             f"the cache of {text} should be a list of the T = 5 step caches, got a "
             f"{type(cache).__name__}"
             + (f" of length {len(cache)}" if isinstance(cache, list | tuple) else "") + ".")
    for t in (0, 4):
        _require(isinstance(cache[t], tuple | list) and len(cache[t]) == 5 and all(
            np.shape(a) == np.shape(w) and np.allclose(a, w)
            for a, w in zip(cache[t], caches[t], strict=True)),
            f"cache[{t}] of {text} should be what rnn_step_forward returned as its cache at step "
            f"{t}: (x[:, {t}], the state before step {t}, the state after it, Wx, Wh).")
    text = "rnn_forward(x, h0, Wx, Wh, b) with T = 1"
    res = expect_arity(call(fn, x[:, :1], h0, Wx, Wh, b, name=text), ("h", "cache"), name=text)
    assert_close(res[0], want[:, :1], name=f"h of {text}", layout="(N, T, H) = (2, 1, 4)")
    _done("rnn_forward")


def _make_seq_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    T = 1 if kind == "T = 1" else int(rng.integers(2, 9))
    D = int(rng.integers(1, 6))
    H = int(rng.integers(1, 4)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(1, 7))
    scale = 3.0 if kind == "extreme values" else 1.0
    Wx, Wh, b = _weights(rng, D, H, scale)
    h0 = rng.uniform(-1, 1, size=(N, H))
    return (rng.normal(size=(N, T, D)) * scale, h0, Wx, Wh, b)


_SEQ_KINDS = ("batch of one", "T = 1", "odd sizes", "random", "given initial state",
              "extreme values")


@exercise_check
def rnn_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``rnn_forward``: h equals ``nnlib.rnn.rnn_forward``'s on generated
    sequences (a batch of one, T = 1, odd sizes, random, given initial states, saturating
    inputs), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.rnn_forward, _make_seq_case, name="rnn_forward",
                            seed=_seed("rnn_forward"), compare=lambda r: r[0],
                            layout="(N, T, H)", kinds=_SEQ_KINDS)


# ---------------------------------------------------------------------------------------------
# rnn_backward
# ---------------------------------------------------------------------------------------------

_SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")


def _reference_backward(dh: np.ndarray, caches: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """nnlib.rnn.rnn_backward on the list of step caches (rebuilt as nnlib's sequence cache)."""
    x = np.stack([np.asarray(c[0], dtype=np.float64) for c in caches])  # (T, N, D)
    T, N, D = x.shape
    hs = np.stack([np.asarray(caches[0][1], dtype=np.float64)]
                  + [np.asarray(c[2], dtype=np.float64) for c in caches])
    cache = nnlib.rnn.RNNCache(x.reshape(T * N, D), hs, np.asarray(caches[0][3], np.float64),
                               np.asarray(caches[0][4], np.float64), (N, T, D))
    return nnlib.rnn.rnn_backward(dh, cache)


def _seq_variants(dh: np.ndarray, caches: Sequence[Any]) -> dict[str, tuple[np.ndarray, ...]]:
    """Plausible wrong BPTT results, by the mistake that makes them."""
    step = nnlib.rnn.rnn_step_backward
    T = len(caches)
    N, H = dh.shape[0], dh.shape[2]
    out: dict[str, tuple[np.ndarray, ...]] = {}
    # each step sees only its own upstream gradient (nothing flows back from step t + 1)
    parts = [step(dh[:, t], caches[t]) for t in range(T)]
    out["no flow"] = (np.stack([p[0] for p in parts], axis=1), parts[0][1],
                      sum(p[2] for p in parts), sum(p[3] for p in parts),
                      sum(p[4] for p in parts))
    # the right recursion, but the weights' gradients of one step only
    dnext = np.zeros((N, H))
    parts = [None] * T
    for t in range(T - 1, -1, -1):
        parts[t] = step(dh[:, t] + dnext, caches[t])
        dnext = parts[t][1]
    dx = np.stack([p[0] for p in parts], axis=1)
    for label, k in (("first step only", 0), ("last step only", T - 1)):
        out[label] = (dx, dnext, parts[k][2], parts[k][3], parts[k][4])
    # the loop run forwards in time
    dnext = np.zeros((N, H))
    fparts = [None] * T
    for t in range(T):
        fparts[t] = step(dh[:, t] + dnext, caches[t])
        dnext = fparts[t][1]
    out["forwards"] = (np.stack([p[0] for p in fparts], axis=1), dnext,
                       sum(p[2] for p in fparts), sum(p[3] for p in fparts),
                       sum(p[4] for p in fparts))
    return out


_SEQ_ADVICE = {
    "no flow": "every step received only its own dh[:, t]. The state h_t is used twice in the "
               "forward pass, by the output at step t AND by step t + 1, so the gradient "
               "reaching h_t has two sources, which add up (lesson 05: a value that feeds "
               "several nodes)",
    "first step only": "dWx, dWh and db hold the contribution of one step only. The same "
                       "weights are used at every step: their gradient accumulates over all T "
                       "steps (+=), as a parameter's .grad does",
    "last step only": "dWx, dWh and db hold the contribution of one step only. The same "
                      "weights are used at every step: their gradient accumulates over all T "
                      "steps (+=), as a parameter's .grad does",
    "forwards": "the loop runs forwards in time. The gradient of h_t needs what flows back "
                "from step t + 1, so BPTT starts at the LAST step and walks back to the first",
}


def _seq_backward_forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                          b: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    return _step_caches(x, h0, Wx, Wh, b)


@exercise_check
def rnn_backward(fn: Fn) -> None:
    """Visible checks of ``rnn_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)`` (``cache`` is
    the list of step caches ``rnn_forward`` returns):

    - it is your own code, not ``nnlib.rnn.rnn_backward``;
    - it returns five arrays in this order and modifies neither ``dh`` nor the cache;
    - the scalar sequence of section 4 (T = 2), whose gradients you can follow by hand;
    - N = 2, T = 5, D = 3, H = 4: every gradient has the shape of its variable;
    - targeted messages: nothing flowing back from step t + 1, the weights' gradients of one
      step only (not accumulated over time), the loop run forwards in time;
    - a gradient check of the whole sequence against central differences (``rel_error``
      below 1e-7), and T = 1.

    It calls your ``rnn_step_backward``: pass that one's checks first.
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(15)
    x, h0 = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4))
    Wx, Wh, b = _weights(rng, 3, 4)
    _, caches = _step_caches(x, h0, Wx, Wh, b)
    dh = rng.normal(size=(2, 5, 4))
    forbid_reference(fn, nnlib.rnn.rnn_backward, args=(dh, caches), name="rnn_backward")

    # the scalar sequence of section 4: T = 2, the loss sees only h_2 (dh = [0, 1])
    one = np.array([[1.0]])
    _, c2 = _step_caches(np.array([[[1.0], [0.5]]]), np.zeros((1, 1)), one, 0.5 * one,
                         np.zeros(1))
    text = "rnn_backward(dh=[[[0.0], [1.0]]], cache) for the scalar sequence of section 4"
    res = expect_arity(call(fn, np.array([[[0.0], [1.0]]]), c2, name=text), _SEQ_GRADS,
                       name=text)
    scalar = (text, res, _reference_backward(np.array([[[0.0], [1.0]]]), c2))

    text = "rnn_backward(dh, cache) with N = 2, T = 5, D = 3, H = 4"
    kept = dh.copy(), [[np.copy(a) for a in c] for c in caches]
    res = expect_arity(call(fn, dh, caches, name=text), _SEQ_GRADS, name=text)
    _unchanged("rnn_backward", [("dh", dh, kept[0])] + [
        (f"cache[{t}]", a, k) for t in range(5) for a, k in zip(caches[t], kept[1][t],
                                                                strict=True)],
               extra="A slice such as dh[:, t] is a VIEW of dh, not a copy: after "
                     "`g = dh[:, t]`, `g += ...` writes into dh. Write `g = dh[:, t] + ...` "
                     "(a new array) instead.")
    want = _reference_backward(dh, caches)
    expect_order(res, want, _SEQ_GRADS, name=text)
    layouts = ("(N, T, D) = (2, 5, 3)", "(N, H) = (2, 4)", "(D, H) = (3, 4)",
               "(H, H) = (4, 4)", "(H,) = (4,)")
    for value, w, gname, layout in zip(res, want, _SEQ_GRADS, layouts, strict=True):
        _require(np.shape(value) == w.shape,
                 f"{gname} of {text} has shape {np.shape(value)}; expected {layout}: a gradient "
                 "has the shape of its variable.")
    for mistake, wrong in _seq_variants(dh, caches).items():
        _require(not all(looks_like(v, w) for v, w in zip(res, wrong, strict=True)),
                 f"{text}: {_SEQ_ADVICE[mistake]}.")
    _require(not looks_like(scalar[1][0], [[[0.0], [float(scalar[2][0][0, 1, 0])]]]),
             f"dx of {scalar[0]} is 0 at the first step, although the loss depends on x_1 "
             "through h_1 -> h_2: the gradient reaching h_1 must include what flows back from "
             "step 2 (through Wh).")
    for value, w, gname in zip(scalar[1], scalar[2], _SEQ_GRADS, strict=True):
        assert_close(value, w, name=f"{gname} of {scalar[0]}")
    for value, w, gname, layout in zip(res, want, _SEQ_GRADS, layouts, strict=True):
        assert_close(value, w, name=f"{gname} of {text}", layout=layout)
    inputs = (rng.normal(size=(3, 4, 2)), rng.uniform(-1, 1, size=(3, 3)), *_weights(rng, 2, 3))
    _gradcheck(_seq_backward_forward, fn, inputs, names=("x", "h0", "Wx", "Wh", "b"),
               name="rnn_backward", rng=rng)
    text = "rnn_backward(dh, cache) with T = 1"
    _, c1 = _step_caches(x[:, :1], h0, Wx, Wh, b)
    res = expect_arity(call(fn, dh[:, :1], c1, name=text), _SEQ_GRADS, name=text)
    for value, w, gname in zip(res, _reference_backward(dh[:, :1], c1), _SEQ_GRADS, strict=True):
        assert_close(value, w, name=f"{gname} of {text}")
    _done("rnn_backward")


def _make_seq_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    args = _make_seq_case(rng, kind)
    h, caches = _step_caches(*args)
    dh = rng.normal(size=h.shape) * (1e3 if kind == "extreme values" else 1.0)
    if kind == "loss at the last step only":
        dh[:, :-1] = 0.0
    return (dh, caches)


@exercise_check
def rnn_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``rnn_backward``: the five gradients equal ``nnlib.rnn.rnn_backward``'s
    on generated sequences (a batch of one, T = 1, odd sizes, random, given initial states,
    a loss at the last step only, upstream gradients up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _reference_backward, _make_seq_back_case, name="rnn_backward",
                            seed=_seed("rnn_backward"), rtol=1e-6, atol=1e-8,
                            kinds=(*_SEQ_KINDS, "loss at the last step only"))


# ---------------------------------------------------------------------------------------------
# embedding_forward / embedding_backward
# ---------------------------------------------------------------------------------------------


@exercise_check
def embedding_forward(fn: Fn) -> None:
    """Visible checks of ``embedding_forward(idx, W) -> (out, cache)``:

    - it is your own code, not ``nnlib.rnn.embedding_forward``;
    - it returns the pair ``(out, cache)`` and modifies neither ``idx`` nor ``W``;
    - the worked example of section 5: W (4, 2), idx (2, 3) with a repeated index -> out
      (2, 3, 2), each entry a row of W (not a column: W is not transposed);
    - a new array, not a view of W (changing out must not change W);
    - ``cache`` is the pair ``(idx, W.shape)``.
    """
    __tracebackhide__ = True
    W = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    idx = np.array([[1, 3, 1], [0, 2, 3]])
    forbid_reference(fn, nnlib.rnn.embedding_forward, args=(idx, W), name="embedding_forward")
    text = "embedding_forward(idx=[[1, 3, 1], [0, 2, 3]], W) with W (4, 2) = [[0, 1], [2, 3], " \
           "[4, 5], [6, 7]]"
    kept = idx.copy(), W.copy()
    out, cache = expect_arity(call(fn, idx, W, name=text), ("out", "cache"), name=text)
    _unchanged("embedding_forward", [("idx", idx, kept[0]), ("W", W, kept[1])])
    _require(np.shape(out) == (2, 3, 2),
             f"out of {text} has shape {np.shape(out)}; expected (N, T, D) = (2, 3, 2): one "
             "row of W (D numbers) for every index.")
    assert_close(out, W[idx], name=f"out of {text}", layout="(N, T, D) = (2, 3, 2)", reveal=True)
    _require(not np.shares_memory(np.asarray(out), W),
             f"out of {text} shares its memory with W: return a new array (indexing W with an "
             "integer array makes one).")
    _require(not (isinstance(cache, tuple | list) and len(cache) == 2
                  and np.shape(cache[1]) == W.shape),
             f"cache[1] of {text} is an array of shape {W.shape}, W itself: it should be "
             "W.shape, the tuple (4, 2). The backward pass needs only the shape of W.")
    _require(isinstance(cache, tuple | list) and len(cache) == 2
             and np.array_equal(np.asarray(cache[0]), idx) and np.shape(cache[1]) == (2,)
             and tuple(cache[1]) == (4, 2),
             f"the cache of {text} should be the pair (idx, W.shape) = (idx, (4, 2)): the "
             "backward pass needs the indices and the shape of W.")
    _done("embedding_forward")


def _make_embed_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    T = 1 if kind == "T = 1" else int(rng.integers(1, 9))
    V = int(rng.integers(1, 4)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(2, 12))
    D = int(rng.integers(1, 6))
    idx = rng.integers(0, V, size=(N, T))
    if kind == "repeated indices":
        idx = rng.integers(0, 2, size=(N, T))
    return (idx, rng.normal(size=(V, D)))


_EMBED_KINDS = ("batch of one", "T = 1", "odd sizes", "random", "repeated indices")


@exercise_check
def embedding_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``embedding_forward``: out equals ``nnlib.rnn.embedding_forward``'s on
    generated tables and indices (a batch of one, T = 1, odd sizes, random, many repeated
    indices), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.embedding_forward, _make_embed_case,
                            name="embedding_forward", seed=_seed("embedding_forward"),
                            compare=lambda r: r[0], layout="(N, T, D)", kinds=_EMBED_KINDS)


def _embed_reference(dout: np.ndarray, cache: Any) -> np.ndarray:
    idx, shape = cache
    return nnlib.rnn.embedding_backward(
        dout, nnlib.rnn.EmbeddingCache(np.asarray(idx), tuple(shape), np.dtype(np.float64)))


@exercise_check
def embedding_backward(fn: Fn) -> None:
    """Visible checks of ``embedding_backward(dout, cache) -> dW`` (``cache = (idx, W.shape)``):

    - it is your own code, not ``nnlib.rnn.embedding_backward``;
    - it modifies neither ``dout`` nor the cache;
    - dW has the shape of W, (V, D), also when the last rows of W are never used;
    - a row used twice gets both gradients (a targeted message for fancy-index ``+=``, which
      keeps only one of them); an unused row gets 0;
    - a gradient check against central differences.
    """
    __tracebackhide__ = True
    idx = np.array([[1, 3, 1], [0, 1, 3]])
    dout = np.arange(12.0).reshape(2, 3, 2) - 5.0
    forbid_reference(fn, nnlib.rnn.embedding_backward, args=(dout, (idx, (5, 2))),
                     name="embedding_backward")
    text = "embedding_backward(dout, (idx, (5, 2))) with idx = [[1, 3, 1], [0, 1, 3]]"
    kept = dout.copy(), idx.copy()
    dW = call(fn, dout, (idx, (5, 2)), name=text)
    _unchanged("embedding_backward", [("dout", dout, kept[0]), ("idx (cache[0])", idx, kept[1])])
    _require(dW is not None, f"{text} returned None: did you forget the `return`?")
    _require(np.shape(dW) == (5, 2),
             f"dW of {text} has shape {np.shape(dW)}; expected (V, D) = (5, 2), the shape of W "
             "(from the cache), even though row 4 of W is never used.")
    want = _embed_reference(dout, (idx, (5, 2)))
    once = np.zeros((5, 2))
    once[idx] += dout    # numpy's buffered fancy-index +=: one write per repeated row
    _require(not looks_like(dW, once),
             f"dW of {text} holds, for row 1 (used three times), only one of its gradients. "
             "With an index array, `a[idx] += v` reads all the rows first and writes each one "
             "once, so repeated indices do not add up: use np.add.at (section 5), or a loop "
             "over the positions.")
    assert_close(dW, want, name=f"dW of {text}", layout="(V, D) = (5, 2)")
    rng = np.random.default_rng(16)
    idx_r = rng.integers(0, 4, size=(3, 5))
    W = rng.normal(size=(4, 3))
    d = rng.normal(size=(3, 5, 3))
    num = numerical_gradient(lambda w: float(np.sum(w[idx_r] * d)), W.copy())
    assert_close(call(fn, d, (idx_r, (4, 3)), name="embedding_backward on random indices"),
                 num, name="dW of embedding_backward compared with the numerical gradient",
                 layout="(V, D) = (4, 3)", rtol=1e-6, atol=1e-8)
    _done("embedding_backward")


def _make_embed_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    idx, W = _make_embed_case(rng, kind)
    return (rng.normal(size=idx.shape + (W.shape[1],)), (idx, W.shape))


@exercise_check
def embedding_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``embedding_backward``: dW equals ``nnlib.rnn.embedding_backward``'s on
    generated indices (a batch of one, T = 1, odd sizes, random, many repeated indices),
    inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _embed_reference, _make_embed_back_case,
                            name="embedding_backward", seed=_seed("embedding_backward"),
                            layout="(V, D)", kinds=_EMBED_KINDS)


# ---------------------------------------------------------------------------------------------
# temporal_linear_forward / temporal_linear_backward
# ---------------------------------------------------------------------------------------------


@exercise_check
def temporal_linear_forward(fn: Fn) -> None:
    """Visible checks of ``temporal_linear_forward(x, W, b) -> (out, cache)``:

    - it is your own code, not ``nnlib.rnn.temporal_linear_forward``;
    - it returns the pair ``(out, cache)`` and modifies none of its inputs;
    - x (2, 3, 4), W (4, 5): out (N, T, M) = (2, 3, 5), at every step ``x[:, t] @ W + b``
      (the bias added, the same weights at every step);
    - T = 1 and a batch of one;
    - ``cache`` is the tuple ``(x, W, b)``.
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(17)
    x, W, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    forbid_reference(fn, nnlib.rnn.temporal_linear_forward, args=(x, W, b),
                     name="temporal_linear_forward")
    text = "temporal_linear_forward(x, W, b) with x (2, 3, 4), W (4, 5)"
    kept = [a.copy() for a in (x, W, b)]
    out, cache = expect_arity(call(fn, x, W, b, name=text), ("out", "cache"), name=text)
    _unchanged("temporal_linear_forward", list(zip(("x", "W", "b"), (x, W, b), kept,
                                                   strict=True)))
    want = np.stack([x[:, t] @ W + b for t in range(3)], axis=1)
    _require(np.shape(out) == (2, 3, 5),
             f"out of {text} has shape {np.shape(out)}; expected (N, T, M) = (2, 3, 5): the "
             "same Linear layer applied at every time step of every sequence.")
    _require(not looks_like(out, want - b), f"out of {text} is computed without the bias b.")
    assert_close(out, want, name=f"out of {text}", layout="(N, T, M) = (2, 3, 5)")
    _require(isinstance(cache, tuple | list) and len(cache) == 3 and all(
        np.shape(c) == np.shape(a) and np.allclose(c, a) for c, a in zip(cache, (x, W, b),
                                                                         strict=True)),
        f"the cache of {text} should be the tuple (x, W, b), in this order.")
    for shape in [(1, 1, 4), (3, 1, 4)]:
        xs = rng.normal(size=shape)
        label = f"temporal_linear_forward(x, W, b) with x {shape}"
        got = expect_arity(call(fn, xs, W, b, name=label), ("out", "cache"), name=label)[0]
        assert_close(got, xs @ W + b, name=f"out of {label}", layout=f"{shape[:2] + (5,)}")
    _done("temporal_linear_forward")


def _make_tl_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    T = 1 if kind == "T = 1" else int(rng.integers(1, 9))
    D = int(rng.integers(1, 7))
    M = int(rng.integers(1, 4)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(1, 7))
    s = 1e3 if kind == "extreme values" else 1.0
    return (rng.normal(size=(N, T, D)) * s, rng.normal(size=(D, M)), rng.normal(size=M))


_TL_KINDS = ("batch of one", "T = 1", "odd sizes", "random", "extreme values")


@exercise_check
def temporal_linear_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``temporal_linear_forward``: out equals
    ``nnlib.rnn.temporal_linear_forward``'s on generated inputs (a batch of one, T = 1, odd
    sizes, random, values up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.temporal_linear_forward, _make_tl_case,
                            name="temporal_linear_forward", layout="(N, T, M)",
                            seed=_seed("temporal_linear_forward"), compare=lambda r: r[0],
                            kinds=_TL_KINDS)


_TL_GRADS = ("dx", "dW", "db")


@exercise_check
def temporal_linear_backward(fn: Fn) -> None:
    """Visible checks of ``temporal_linear_backward(dout, cache) -> (dx, dW, db)``:

    - it is your own code, not ``nnlib.rnn.temporal_linear_backward``;
    - it returns three arrays in this order and modifies neither ``dout`` nor the cache;
    - x (2, 3, 4), W (4, 5): dx (N, T, D), dW (D, M), db (M,): the weights' gradients are
      summed over the batch AND over time (a targeted message for a sum over one axis only);
    - a gradient check against central differences (``rel_error`` below 1e-7), T = 1 included.
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(18)
    x, W, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    dout = rng.normal(size=(2, 3, 5))
    ref = nnlib.rnn.temporal_linear_backward
    forbid_reference(fn, ref, args=(dout, (x, W, b)), name="temporal_linear_backward")
    text = "temporal_linear_backward(dout, (x, W, b)) with x (2, 3, 4), W (4, 5)"
    kept = [a.copy() for a in (dout, x, W, b)]
    res = expect_arity(call_advised(fn, dout, (x, W, b), name=text, advice=[
        (ValueError, "matmul", "If you wrote x.T or dout.T on the 3-D arrays: .T reverses ALL "
         "the axes of an array, (N, T, D) becomes (D, T, N), not (N, D, T). Reshape x to "
         "(N T, D) and dout to (N T, M) first: then lesson 05's formulas apply as they are."),
    ]), _TL_GRADS, name=text)
    _unchanged("temporal_linear_backward", list(zip(("dout", "x", "W", "b"), (dout, x, W, b),
                                                    kept, strict=True)))
    want = ref(dout, (x, W, b))
    expect_order(res, want, _TL_GRADS, name=text)
    dx, dW, db = res
    for gname, value, shape, partial in [
        ("db", db, (5,), [(3, 5), (2, 5)]), ("dW", dW, (4, 5), [(3, 4, 5), (2, 4, 5)])]:
        _require(np.shape(value) not in partial,
                 f"{gname} of {text} has shape {np.shape(value)}: it is summed over one axis "
                 f"only. The same W and b serve every sequence AND every time step, so {gname} "
                 f"collects all N * T of them; expected {shape}.")
        _require(np.shape(value) == shape,
                 f"{gname} of {text} has shape {np.shape(value)}; expected {shape}: a gradient "
                 "has the shape of its variable.")
    for t, which in ((-1, "last"), (0, "first")):
        _require(not looks_like(dW, x[:, t].T @ dout[:, t]),
                 f"dW of {text} holds only the {which} time step's contribution: the same W "
                 "serves every time step, so every step adds its contribution to dW.")
    for value, w, gname, layout in zip(res, want, _TL_GRADS,
                                       ("(N, T, D) = (2, 3, 4)", "(D, M) = (4, 5)",
                                        "(M,) = (5,)"), strict=True):
        assert_close(value, w, name=f"{gname} of {text}", layout=layout)
    for shape in [(3, 4, 2), (2, 1, 3)]:
        inputs = (rng.normal(size=shape), rng.normal(size=(shape[2], 3)), rng.normal(size=3))
        _gradcheck(nnlib.rnn.temporal_linear_forward, fn, inputs, names=("x", "W", "b"),
                   name="temporal_linear_backward", rng=rng)
    _done("temporal_linear_backward")


def _make_tl_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x, W, b = _make_tl_case(rng, kind)
    return (rng.normal(size=x.shape[:2] + (W.shape[1],)), (x, W, b))


@exercise_check
def temporal_linear_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``temporal_linear_backward``: (dx, dW, db) equal
    ``nnlib.rnn.temporal_linear_backward``'s on generated inputs (a batch of one, T = 1, odd
    sizes, random, values up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.temporal_linear_backward, _make_tl_back_case,
                            name="temporal_linear_backward",
                            seed=_seed("temporal_linear_backward"), kinds=_TL_KINDS,
                            rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# temporal_softmax_cross_entropy_loss
# ---------------------------------------------------------------------------------------------


def _loss_pair(fn: Fn, scores: np.ndarray, y: np.ndarray, mask: np.ndarray,
               text: str) -> tuple[float, Any]:
    __tracebackhide__ = True
    kept = scores.copy(), y.copy(), mask.copy()
    res = expect_arity(call(fn, scores, y, mask, name=text), ("loss", "dscores"), name=text)
    _unchanged("temporal_softmax_cross_entropy_loss", [
        ("scores", scores, kept[0]), ("y", y, kept[1]), ("mask", mask, kept[2])])
    loss = expect_number(res[0], name=text, what="the loss, one number",
                         advice="sum the log-probabilities of every sequence and time step, "
                                "then divide by N")
    return loss, res[1]


@exercise_check
def temporal_softmax_cross_entropy_loss(fn: Fn) -> None:
    """Visible checks of ``temporal_softmax_cross_entropy_loss(scores, y, mask) -> (loss,
    dscores)``:

    - it is your own code, not ``nnlib.rnn.temporal_softmax_cross_entropy_loss``;
    - it returns ``(loss, dscores)``, loss one number, and modifies none of its inputs;
    - the worked example of section 7 (N = 1, T = 2, V = 2, equal scores): loss = 2 log 2;
    - N = 3, T = 4, V = 5 with padding: masked positions add nothing to the loss and get a
      zero gradient, even with huge scores there; the sum is divided by N, the batch size
      (targeted messages for a division by the number of real positions, by N * T, or none);
    - scores of +-1000 give a finite loss and gradient;
    - dscores equals the numerical gradient of the loss.
    """
    __tracebackhide__ = True
    ref = nnlib.rnn.temporal_softmax_cross_entropy_loss
    rng = np.random.default_rng(19)
    scores = rng.normal(size=(3, 4, 5))
    y = rng.integers(0, 5, size=(3, 4))
    mask = np.array([[True, True, True, True], [True, True, False, False],
                     [True, False, False, False]])
    forbid_reference(fn, ref, args=(scores, y, mask), name="temporal_softmax_cross_entropy_loss")

    text = ("temporal_softmax_cross_entropy_loss(scores=np.zeros((1, 2, 2)), y=[[0, 1]], "
            "mask=[[True, True]])")
    scalar_loss, _ = _loss_pair(fn, np.zeros((1, 2, 2)), np.array([[0, 1]]),
                                np.ones((1, 2), bool), text)
    scalar_text = text

    text = "temporal_softmax_cross_entropy_loss(scores, y, mask) with N = 3, T = 4, V = 5"
    padded = scores.copy()
    padded[~mask] = 50.0 * np.where(rng.random(((~mask).sum(), 5)) < 0.5, 1, -1)
    loss, dscores = _loss_pair(fn, padded, y, mask, text)
    want_loss, want_d = ref(padded, y, mask)
    every = ref(padded, y, None)[0]
    total = want_loss * 3
    _require(not np.isclose(loss, every, rtol=1e-6),
             f"the loss of {text} counts the padded positions (mask False): multiply each "
             "position's term by the mask, so that only the real ones count.")
    for value, cause in [(total, "not divided by N = 3: the loss is the mean over the batch"),
                         (total / mask.sum(), "divided by the number of real positions (7); "
                          "this course's loss (as CS231n's) divides by N, the batch size: a "
                          "long name weighs more than a short one"),
                         (total / 12, "divided by N * T = 12: divide by N, the batch size")]:
        _require(not np.isclose(loss, value, rtol=1e-6), f"the loss of {text} is {cause}.")
    assert_close(scalar_loss, 2 * np.log(2), name=f"the loss of {scalar_text} (by hand: two "
                 "positions, each -log(1/2), summed over time, divided by N = 1)", what="a float",
                 reveal=True)
    assert_close(loss, want_loss, name=f"the loss of {text}", what="a float")
    dscores = np.asarray(dscores, dtype=float) if dscores is not None else dscores
    _require(np.shape(dscores) == (3, 4, 5),
             f"dscores of {text} has shape {np.shape(dscores)}; expected (N, T, V) = (3, 4, 5), "
             "the shape of scores.")
    _require(np.allclose(dscores[~mask], 0),
             f"dscores of {text} is not 0 at the padded positions: they are not in the loss, so "
             "their scores get no gradient (multiply by the mask here too).")
    for factor, cause in [(3.0, "is N = 3 times too large: the loss divides by N, and so does "
                           "its gradient"), (3.0 / mask.sum(), "is divided by the number of "
                           "real positions: divide by N, as the loss does"),
                          (3.0 / 12, "is divided by N * T: divide by N, as the loss does")]:
        _require(not looks_like(dscores, want_d * factor), f"dscores of {text} {cause}.")
    assert_close(dscores, want_d, name=f"dscores of {text}", layout="(N, T, V) = (3, 4, 5)")

    text = "temporal_softmax_cross_entropy_loss with scores of +-1000"
    extreme = rng.normal(size=(2, 3, 4)) * 1000.0
    y2 = rng.integers(0, 4, size=(2, 3))
    m2 = np.ones((2, 3), bool)
    with np.errstate(all="ignore"):
        loss2, d2 = _loss_pair(fn, extreme, y2, m2, text)
    _require(np.isfinite(loss2) and np.all(np.isfinite(np.asarray(d2, dtype=float))),
             f"{text} returned a loss or a gradient that is not finite: np.exp(1000) overflows "
             "(and a shift by one maximum for the whole array, not each row's own, leaves "
             "rows at exp(-2000) = 0, whose log is -inf). "
             "Subtract each row's maximum before exponentiating, or use log_softmax (lesson 02).")
    want2 = ref(extreme, y2, m2)
    assert_close(loss2, want2[0], name=f"the loss of {text}", what="a float")
    assert_close(d2, want2[1], name=f"dscores of {text}", layout="(N, T, V) = (2, 3, 4)")

    s3 = rng.normal(size=(2, 3, 4))
    m3 = np.array([[True, True, False], [True, True, True]])
    num = numerical_gradient(lambda s: float(ref(s, y2, m3)[0]), s3.copy())
    got = _loss_pair(fn, s3, y2, m3, "temporal_softmax_cross_entropy_loss on random scores")[1]
    assert_close(got, num, name="dscores compared with the numerical gradient of the loss",
                 layout="(N, T, V) = (2, 3, 4)", rtol=1e-5, atol=1e-8)
    _done("temporal_softmax_cross_entropy_loss")


def _make_loss_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    T = 1 if kind == "T = 1" else int(rng.integers(1, 9))
    V = int(rng.integers(1, 4)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(2, 9))
    scores = rng.normal(size=(N, T, V)) * (1e3 if kind == "extreme values" else 2.0)
    y = rng.integers(0, V, size=(N, T))
    lengths = rng.integers(1, T + 1, size=N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    return (scores, y, mask)


@exercise_check
def temporal_softmax_cross_entropy_loss_hidden(fn: Fn) -> None:
    """Hidden checks of ``temporal_softmax_cross_entropy_loss``: loss and dscores equal
    ``nnlib.rnn.temporal_softmax_cross_entropy_loss``'s on generated padded batches (a batch of
    one, T = 1, odd sizes, random, scores up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    with np.errstate(all="ignore"):
        check_against_reference(fn, nnlib.rnn.temporal_softmax_cross_entropy_loss,
                                _make_loss_case, name="temporal_softmax_cross_entropy_loss",
                                seed=_seed("temporal_softmax_cross_entropy_loss"),
                                kinds=("batch of one", "T = 1", "odd sizes", "random",
                                       "extreme values"), rtol=1e-6, atol=1e-9)
