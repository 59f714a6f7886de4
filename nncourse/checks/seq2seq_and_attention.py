"""The checks of lesson 14, sequence-to-sequence and attention
(``solutions/14_seq2seq_and_attention``; ``course/`` for learners).

Eight exercises: ``scaled_dot_product_attention_forward`` / ``_backward`` (with a boolean mask,
True where attending is allowed), ``positional_encoding`` (sinusoidal),
``multihead_self_attention``, and the encoder-decoder's ``decoder_attention_forward`` /
``_backward`` (the decoder states attend over the encoder states, padding masked),
``teacher_forcing_batch`` and ``greedy_decode``.
``<exercise>(fn)`` runs the visible checks (worked examples, a gradient check against central
differences, targeted messages for classic mistakes); ``<exercise>_hidden(fn)`` compares ``fn``
with ``nnlib.attention`` (``greedy_decode``: with a reference loop on toy decoders) on cases
drawn from
:func:`nncourse.testing.hidden_seed` (no leading dimension or two, one query or one key,
Tq != Tk, odd sizes, masks, extreme scores). Deriving the backward pass is the lesson: no
message states it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.attention
from nncourse.checks._contract import call, exercise_check, expect_arity, looks_like
from nncourse.testing import (
    GradingError,
    assert_close,
    check_against_reference,
    forbid_reference,
    hidden_seed,
)
from nnlib.gradcheck import check_gradients

__all__ = [
    "scaled_dot_product_attention_forward", "scaled_dot_product_attention_forward_hidden",
    "scaled_dot_product_attention_backward", "scaled_dot_product_attention_backward_hidden",
    "positional_encoding", "positional_encoding_hidden",
    "multihead_self_attention", "multihead_self_attention_hidden",
    "greedy_decode", "greedy_decode_hidden",
    "decoder_attention_forward", "decoder_attention_forward_hidden",
    "decoder_attention_backward", "decoder_attention_backward_hidden",
    "teacher_forcing_batch", "teacher_forcing_batch_hidden",
]

Fn = Callable[..., Any]
SLUG = "seq2seq_and_attention"
GRADCHECK_TOL = 1e-7
_CACHE = ("q", "k", "v", "weights", "scale")


def _seed(exercise: str) -> int:
    return hidden_seed(f"{SLUG}/{exercise}")


def _require(ok: Any, message: str) -> None:
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


def _unchanged(name: str, pairs: list[tuple[str, Any, Any]]) -> None:
    __tracebackhide__ = True
    for pname, after, before in pairs:
        _require(
            after is None or np.array_equal(np.asarray(after), np.asarray(before)),
            f"{name} modified its input `{pname}` in place: compute new arrays instead (with "
            "`+=` or `[...] =` on an input, the caller's array changes too).",
        )


def _cache_first(res: tuple[Any, ...], names: tuple[str, str], text: str) -> None:
    """A pair returned as (cache, array) instead of (array, cache): say it is the order."""
    __tracebackhide__ = True
    first, second = res
    _require(not (isinstance(first, tuple | list) and isinstance(second, np.ndarray)),
             f"{text} returned a tuple first and an array second: the return order is "
             f"({names[0]}, {names[1]}), the {names[1]} last.")


def _softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ref_forward(q: Any, k: Any, v: Any, mask: Any = None) -> Any:
    return nnlib.attention.scaled_dot_product_attention_forward(q, k, v, mask)


def _random_mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean mask in which every query row allows at least one key."""
    m = rng.random(shape) < 0.6
    first = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(m, first[..., None], True, axis=-1)
    return m


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention_forward
# ---------------------------------------------------------------------------------------------


@exercise_check
def scaled_dot_product_attention_forward(fn: Fn) -> None:
    """Visible checks of ``scaled_dot_product_attention_forward(q, k, v, mask=None) ->
    (out, cache)``:

    - it is your own code, not ``nnlib.attention.scaled_dot_product_attention_forward``;
    - it returns the pair ``(out, cache)`` and modifies none of its inputs;
    - the worked example of section 1 (one query, two keys), by hand;
    - Tq = 3 queries, Tk = 5 keys of size E = 2 and values of another size Ev = 6: the shape
      (Tq, Ev), the scale 1/sqrt(E) (not 1, not 1/E, not 1/sqrt(Tk)), the softmax over the
      keys (the last axis), each row of the weights summing to 1;
    - a causal mask (True where attending is allowed): masked keys get weight exactly 0, the
      mask is not inverted, masked scores are not merely set to 0;
    - scores of several hundreds do not overflow (no NaN);
    - leading dimensions (batch, heads): q (2, 3, Tq, E) works as four separate attentions;
    - masks that broadcast to the scores (the contract: broadcastable to (..., Tq, Tk)): one
      (Tq, Tk) mask shared by the leading dimensions, a (1, Tk) mask shared by every query;
    - the cache is the tuple ``(q, k, v, weights, scale)``, in that order.
    """
    __tracebackhide__ = True
    ref = nnlib.attention.scaled_dot_product_attention_forward
    rng = np.random.default_rng(14)
    q, k, v = rng.normal(size=(3, 2)), rng.normal(size=(5, 2)), rng.normal(size=(5, 6))
    forbid_reference(fn, ref, nnlib.attention._masked_softmax, args=(q, k, v),
                     name="scaled_dot_product_attention_forward")

    text = ("scaled_dot_product_attention_forward(q=[[1, 0]], k=[[1, 0], [0, 1]], "
            "v=[[1, 2], [3, 4]])")
    q1, k1, v1 = np.array([[1.0, 0.0]]), np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])
    res = expect_arity(call(fn, q1, k1, v1, name=text), ("out", "cache"), name=text)
    _cache_first(res, ("out", "cache"), text)
    hand_text, hand_out = text, res[0]

    text = "scaled_dot_product_attention_forward(q, k, v) with q (3, 2), k (5, 2), v (5, 6)"
    kept = [a.copy() for a in (q, k, v)]
    out, cache = expect_arity(call(fn, q, k, v, name=text), ("out", "cache"), name=text)
    _unchanged("scaled_dot_product_attention_forward",
               list(zip(("q", "k", "v"), (q, k, v), kept, strict=True)))
    _require(np.shape(out) == (3, 6),
             f"out of {text} has shape {np.shape(out)}; expected (Tq, Ev) = (3, 6): one output "
             "per query, each a weighted average of the value rows.")
    s = q @ k.T
    for wrong, why in [
        (_softmax(s) @ v, "computed without the scale: the scores are q k^T / sqrt(E)"),
        (_softmax(s / 2) @ v, "scaled by 1/E: the scale is 1/sqrt(E), E = q.shape[-1]"),
        (_softmax(s * np.sqrt(2)) @ v, "scores multiplied by sqrt(E) instead of divided"),
        (_softmax(s / np.sqrt(5)) @ v, "scaled by 1/sqrt(Tk), the number of keys: the scale is "
         "1/sqrt(E), E = q.shape[-1], the size of each query and key vector"),
        (_softmax(s / np.sqrt(2), axis=0) @ v, "a softmax over the queries (axis -2): each "
         "query's weights are a distribution over the keys, the last axis"),
        ((s / np.sqrt(2)) @ v, "computed without the softmax"),
    ]:
        _require(not looks_like(out, wrong), f"out of {text} is {why}.")
    p = _softmax(np.array([1.0, 0.0]) / np.sqrt(2.0))
    assert_close(hand_out, (p @ v1)[None], name=f"out of {hand_text} (by hand: weights "
                 "softmax([1, 0] / sqrt(2)) = [0.670, 0.330])", layout="(Tq, Ev) = (1, 2)",
                 reveal=True)
    w_ref = _softmax(s / np.sqrt(2))
    assert_close(out, w_ref @ v, name=f"out of {text}", layout="(Tq, Ev) = (3, 6)")
    _require(isinstance(cache, tuple | list) and len(cache) == 5,
             f"the cache returned by {text} should be the tuple (q, k, v, weights, scale), got "
             f"a {type(cache).__name__}"
             + (f" of length {len(cache)}" if isinstance(cache, tuple | list) else "") + ".")
    for i, (pname, want) in enumerate(zip(_CACHE, (q, k, v, w_ref, 1 / np.sqrt(2)),
                                          strict=True)):
        _require(np.shape(cache[i]) == np.shape(want) and np.allclose(cache[i], want),
                 f"cache[{i}] of {text} should be {pname} (the cache is (q, k, v, weights, "
                 "scale), in this order): the backward pass unpacks it in that order.")

    causal = np.tril(np.ones((3, 5), dtype=bool))
    text = ("scaled_dot_product_attention_forward(q, k, v, mask) with a causal mask (3, 5), "
            "True where attending is allowed")
    kept_mask = causal.copy()
    out, cache = expect_arity(call(fn, q, k, v, causal, name=text), ("out", "cache"), name=text)
    _unchanged("scaled_dot_product_attention_forward", [("mask", causal, kept_mask)])
    sm = s / np.sqrt(2)
    inverted = np.where(causal, -np.inf, sm)  # no row is fully masked: Tk > Tq
    for wrong, why in [
        (w_ref @ v, "the result without the mask: masked keys must get weight 0"),
        (_softmax(np.where(causal, sm, 0.0)) @ v, "computed with the masked scores set to 0: "
         "exp(0) = 1 still gives them weight; a masked score must become -inf (exp(-inf) = 0)"),
        (_softmax(inverted) @ v, "masked the wrong keys: True in the mask means attending IS "
         "allowed"),
    ]:
        _require(not looks_like(out, wrong), f"out of {text} is {why}.")
    w_mask = _softmax(np.where(causal, sm, -np.inf))
    assert_close(out, w_mask @ v, name=f"out of {text}", layout="(Tq, Ev) = (3, 6)")
    _require(isinstance(cache, tuple | list) and len(cache) == 5
             and np.shape(cache[3]) == (3, 5) and np.all(np.asarray(cache[3])[~causal] == 0),
             f"the weights in the cache of {text} must be exactly 0 where the mask is False.")

    text = "scaled_dot_product_attention_forward(q, k, v) with scores of several hundreds"
    big = expect_arity(call(fn, q * 300, k * 300, v, name=text), ("out", "cache"), name=text)[0]
    _require(np.all(np.isfinite(np.asarray(big, dtype=float))),
             f"{text} returned NaN or inf: exp overflows. Subtract each row's largest score "
             "before np.exp (lesson 02's stable softmax).")

    text = "scaled_dot_product_attention_forward(q, k, v) with q (2, 3, 4, 6), k and v (2, 3, 5, 6)"
    q4, k4, v4 = rng.normal(size=(2, 3, 4, 6)), rng.normal(size=(2, 3, 5, 6)), \
        rng.normal(size=(2, 3, 5, 6))
    try:
        res4 = call(fn, q4, k4, v4, name=text)
    except GradingError as err:
        raise GradingError(f"{err} With leading dimensions, transpose only the last two axes "
                           "of k (np.swapaxes(k, -1, -2)): k.T reverses all of them.") from None
    out4 = expect_arity(res4, ("out", "cache"), name=text)[0]
    _require(np.shape(out4) == (2, 3, 4, 6),
             f"out of {text} has shape {np.shape(out4)}; expected (2, 3, 4, 6). With leading "
             "dimensions, transpose only the last two axes of k (k.swapaxes(-1, -2)), not k.T.")
    assert_close(out4, ref(q4, k4, v4)[0], name=f"out of {text}", layout="(..., Tq, Ev)")

    for qb, kb, vb, mb, what in [
        (q4, k4, v4, np.tril(np.ones((4, 5), dtype=bool)), "one (Tq, Tk) = (4, 5) mask shared "
         "by the leading dimensions (2, 3)"),
        (q, k, v, np.array([[True, True, False, True, False]]), "a (1, Tk) = (1, 5) mask of "
         "keys shared by every query"),
    ]:
        text = (f"scaled_dot_product_attention_forward(q, k, v, mask) with q {qb.shape} and "
                f"{what}")
        kept_mask = mb.copy()
        try:
            res_b = call(fn, qb, kb, vb, mb, name=text)
        except GradingError as err:
            scores = qb.shape[:-1] + (kb.shape[-2],)
            how = "fewer axes than" if mb.ndim < len(scores) else "length-1 axes, unlike"
            raise GradingError(
                f"{str(err).rstrip('.')}. The mask {mb.shape} has {how} the scores {scores}: "
                "the contract says broadcastable to (..., Tq, Tk), so it must be broadcast "
                "against the scores, not matched to them entry by entry. Boolean indexing "
                "(scores[~mask]) needs a mask of the scores' full shape; a function that "
                "broadcasts its arguments does not.") from None
        out_b = expect_arity(res_b, ("out", "cache"), name=text)[0]
        _unchanged("scaled_dot_product_attention_forward", [("mask", mb, kept_mask)])
        assert_close(out_b, ref(qb, kb, vb, mb)[0], name=f"out of {text}",
                     layout="(..., Tq, Ev)")
    _done("scaled_dot_product_attention_forward")


def _make_forward_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    lead: tuple[int, ...] = {"batch of one": (1,), "odd sizes": (3,), "random": (2, 3),
                             "extreme values": ()}.get(kind, (2,))
    Tq = 1 if kind == "batch of one" else int(rng.integers(1, 7))
    Tk = int(rng.integers(1, 7)) if kind != "odd sizes" else 5
    E, Ev = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    scale = 30.0 if kind == "extreme values" else 1.0
    q = rng.normal(size=lead + (Tq, E)) * scale
    k = rng.normal(size=lead + (Tk, E)) * scale
    v = rng.normal(size=lead + (Tk, Ev))
    mask = None if rng.random() < 0.3 else _random_mask(
        rng, (Tq, Tk) if rng.random() < 0.5 else lead + (Tq, Tk))
    if kind == "odd sizes":  # a mask that broadcasts: over the leading axis, or every query
        mask = _random_mask(rng, (Tq, Tk) if rng.random() < 0.5 else (1, Tk))
    return q, k, v, mask


@exercise_check
def scaled_dot_product_attention_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``scaled_dot_product_attention_forward``: the output, and the weights
    in the cache, equal nnlib's on generated cases (no leading dimension, one or two, a single
    query, Tq != Tk, E != Ev, masks of shape (Tq, Tk), (1, Tk) or with the leading dimensions,
    scores in the thousands), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _ref_forward, _make_forward_case,
                            name="scaled_dot_product_attention_forward",
                            seed=_seed("scaled_dot_product_attention_forward"),
                            compare=lambda r: (r[0], r[1][3]))


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention_backward
# ---------------------------------------------------------------------------------------------


def _gradcheck(fn: Fn, mask: np.ndarray | None, shapes: tuple[tuple[int, ...], ...], *,
               rng: np.random.Generator, text: str) -> None:
    __tracebackhide__ = True
    inputs = tuple(rng.normal(size=s) for s in shapes)

    def forward(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> Any:
        return _ref_forward(q, k, v, mask)

    def backward(dout: np.ndarray, cache: Any) -> Any:
        return fn(dout, cache)

    try:
        check_gradients(forward, backward, inputs, rng=rng, tol=GRADCHECK_TOL, h=1e-5,
                        names=("q", "k", "v"))
    except GradingError:
        raise
    except AssertionError as exc:
        raise GradingError(f"{text} fails the gradient check: {exc}. Above 1e-2 the formula is "
                           "wrong, not merely inaccurate.") from None
    except Exception as exc:  # noqa: BLE001 (the learner's error, in their words)
        raise GradingError(f"{text} raised {type(exc).__name__}: {exc}") from None


@exercise_check
def scaled_dot_product_attention_backward(fn: Fn) -> None:
    """Visible checks of ``scaled_dot_product_attention_backward(dout, cache) -> (dq, dk, dv)``
    (the cache made by nnlib's forward, the tuple (q, k, v, weights, scale)):

    - it is your own code, not ``nnlib.attention.scaled_dot_product_attention_backward``;
    - it returns three arrays, the shapes of q, k and v (Tq = 2 queries, Tk = 3 keys), and does
      not modify ``dout`` or the cache;
    - dv is right (the weights, transposed where needed);
    - the gradient through the softmax uses its whole Jacobian (not only its diagonal);
    - the scale appears in dq and dk, once;
    - dq and dk are not swapped;
    - a gradient check against central differences, without a mask, with a causal mask, and
      with leading dimensions (2, 3, ...).
    """
    __tracebackhide__ = True
    ref = nnlib.attention.scaled_dot_product_attention_backward
    rng = np.random.default_rng(141)
    q, k, v = rng.normal(size=(2, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 5))
    out, cache = _ref_forward(q, k, v)
    dout = rng.normal(size=out.shape)
    forbid_reference(fn, ref, args=(dout, cache), name="scaled_dot_product_attention_backward")

    text = "scaled_dot_product_attention_backward(dout, cache) with q (2, 4), k (3, 4), v (3, 5)"
    kept = (dout.copy(), [a.copy() if isinstance(a, np.ndarray) else a for a in cache])
    res = expect_arity(call(fn, dout, cache, name=text), ("dq", "dk", "dv"), name=text)
    _unchanged("scaled_dot_product_attention_backward", [("dout", dout, kept[0])] + [
        (f"cache[{i}]", a, b) for i, (a, b) in enumerate(zip(cache, kept[1], strict=True))])
    dq, dk, dv = res
    for pname, got, want in (("dq", dq, q), ("dk", dk, k), ("dv", dv, v)):
        _require(np.shape(got) == want.shape,
                 f"{pname} of {text} has shape {np.shape(got)}; expected {want.shape}, the "
                 f"shape of {pname[1:]}: a gradient has the shape of its variable.")
    rdq, rdk, rdv = ref(dout, cache)
    P, scale = cache.weights, cache.scale
    assert_close(dv, rdv, name=f"dv of {text}", layout="(Tk, Ev) = (3, 5)")
    dP = dout @ v.T
    no_row_term = P * dP
    diag_only = P * (1 - P) * dP
    for wrong, why in [
        (scale * no_row_term @ k, "goes through the softmax as if it were an elementwise "
         "function (P * dP): each weight of a row depends on every score of that row, so a term "
         "shared by the row is missing"),
        (scale * diag_only @ k, "uses only the diagonal of the softmax Jacobian (P * (1 - P) * "
         "dP, the derivative of each weight with respect to its own score): each weight of a row "
         "also depends on the other scores of that row, so the off-diagonal terms are missing"),
        (rdq / scale, "missing the scale: the scores are scale * q k^T"),
        (rdq * scale, "has the scale twice"),
    ]:
        _require(not looks_like(dq, wrong), f"dq of {text} {why}.")
    _require(not (looks_like(dq, rdk[:2]) and looks_like(dk[:2], rdq)),
             f"dq and dk of {text} are swapped.")
    for wrong, why in [(rdk / scale, "is missing the scale"), (rdk * scale, "has the scale "
                       "twice"), (scale * no_row_term.T @ q, "goes through the softmax "
                       "as if it were elementwise (P * dP): a term shared by the row is missing"),
                      (scale * diag_only.T @ q, "uses only the diagonal of the softmax Jacobian "
                       "(P * (1 - P) * dP): the off-diagonal terms are missing")]:
        _require(not looks_like(dk, wrong), f"dk of {text} {why}.")
    assert_close(dq, rdq, name=f"dq of {text}", layout="(Tq, E) = (2, 4)")
    assert_close(dk, rdk, name=f"dk of {text}", layout="(Tk, E) = (3, 4)")

    _gradcheck(fn, None, ((3, 4), (5, 4), (5, 2)), rng=rng,
               text="scaled_dot_product_attention_backward on random q (3, 4), k (5, 4), v (5, 2)")
    _gradcheck(fn, np.tril(np.ones((4, 4), dtype=bool)), ((4, 3), (4, 3), (4, 3)), rng=rng,
               text="scaled_dot_product_attention_backward with a causal mask (4, 4)")
    _gradcheck(fn, None, ((2, 3, 2, 4), (2, 3, 3, 4), (2, 3, 3, 2)), rng=rng,
               text="scaled_dot_product_attention_backward with q (2, 3, 2, 4), k (2, 3, 3, 4)")
    _done("scaled_dot_product_attention_backward")


def _make_backward_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    q, k, v, mask = _make_forward_case(rng, kind)
    out, cache = _ref_forward(q, k, v, mask)
    return rng.normal(size=out.shape), cache


@exercise_check
def scaled_dot_product_attention_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``scaled_dot_product_attention_backward``: dq, dk and dv equal nnlib's
    on generated cases (the forward's cases: leading dimensions or none, one query, Tq != Tk,
    masks, saturated softmax rows), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.attention.scaled_dot_product_attention_backward,
                            _make_backward_case, name="scaled_dot_product_attention_backward",
                            seed=_seed("scaled_dot_product_attention_backward"),
                            compare=lambda r: tuple(r))


# ---------------------------------------------------------------------------------------------
# positional_encoding
# ---------------------------------------------------------------------------------------------


@exercise_check
def positional_encoding(fn: Fn) -> None:
    """Visible checks of ``positional_encoding(T, E) -> PE``:

    - it is your own code, not ``nnlib.attention.positional_encoding``;
    - T = 1, E = 2 gives [[0, 1]] (sin 0, cos 0), by hand;
    - T = 5, E = 6: shape (T, E), sines in the even columns and cosines in the odd ones (not
      swapped, not in two halves), the frequencies 1 / 10000^(2i / E) (not i / E), position t
      counted from 0;
    - an odd E = 5 ends with a sine column.
    """
    __tracebackhide__ = True
    ref = nnlib.attention.positional_encoding
    forbid_reference(fn, ref, args=(4, 6), name="positional_encoding")
    text = "positional_encoding(1, 2)"
    pe = call(fn, 1, 2, name=text)
    assert_close(pe, [[0.0, 1.0]], name=f"{text} (by hand: sin 0, cos 0)",
                 layout="(T, E) = (1, 2)", reveal=True)

    text = "positional_encoding(5, 6)"
    pe = call(fn, 5, 6, name=text)
    _require(np.shape(pe) == (5, 6), f"{text} has shape {np.shape(pe)}; expected (T, E) = "
             "(5, 6): one row per position.")
    t = np.arange(5.0)[:, None]
    i = np.arange(3.0)
    good = ref(5, 6)
    angle = t / 10000 ** (2 * i / 6)
    swapped = np.empty((5, 6))
    swapped[:, 0::2], swapped[:, 1::2] = np.cos(angle), np.sin(angle)
    halves = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
    slow = np.empty((5, 6))
    slow[:, 0::2], slow[:, 1::2] = np.sin(t / 10000 ** (i / 6)), np.cos(t / 10000 ** (i / 6))
    from_one = np.empty((5, 6))
    from_one[:, 0::2], from_one[:, 1::2] = np.sin((t + 1) * 10000 ** (-2 * i / 6)), \
        np.cos((t + 1) * 10000 ** (-2 * i / 6))
    for wrong, why in [
        (swapped, "has sine and cosine swapped: the even columns 0, 2, 4 hold the sines"),
        (halves, "puts the sines in the first half and the cosines in the second: they "
         "alternate, column 2i a sine and 2i + 1 its cosine"),
        (slow, "uses the exponent i / E: it is 2i / E, where 2i is the even column index"),
        (from_one, "counts positions from 1: the first position is t = 0"),
    ]:
        _require(not looks_like(pe, wrong), f"{text} {why}.")
    assert_close(pe, good, name=text, layout="(T, E) = (5, 6)")
    text = "positional_encoding(3, 5)"
    pe = call(fn, 3, 5, name=text)
    _require(np.shape(pe) == (3, 5), f"{text} has shape {np.shape(pe)}; expected (3, 5): with "
             "an odd E the last column is a sine whose cosine partner does not exist.")
    assert_close(pe, ref(3, 5), name=text, layout="(T, E) = (3, 5)")
    _done("positional_encoding")


def _make_pe_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    if kind == "batch of one":
        return 1, int(rng.integers(1, 9))
    if kind == "odd sizes":
        return int(rng.integers(1, 20)) * 2 + 1, int(rng.integers(0, 10)) * 2 + 1
    if kind == "extreme values":
        return 500, 64
    return int(rng.integers(2, 40)), int(rng.integers(1, 33)) * 2


@exercise_check
def positional_encoding_hidden(fn: Fn) -> None:
    """Hidden checks of ``positional_encoding``: equal to nnlib's for T = 1, odd T and E
    (E = 1 included in the draws), random even sizes, and T = 500, E = 64."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.attention.positional_encoding, _make_pe_case,
                            name="positional_encoding", seed=_seed("positional_encoding"),
                            layout="(T, E)")


# ---------------------------------------------------------------------------------------------
# multihead_self_attention
# ---------------------------------------------------------------------------------------------


def _ref_mhsa(x: np.ndarray, W_qkv: np.ndarray, b_qkv: np.ndarray, W_o: np.ndarray,
              b_o: np.ndarray, num_heads: int, mask: np.ndarray | None = None) -> Any:
    E = x.shape[-1]
    mha = nnlib.attention.MultiheadAttention(E, num_heads, rng=np.random.default_rng(0))
    mha.in_proj_weight.data[...] = W_qkv
    mha.in_proj_bias.data[...] = b_qkv  # type: ignore[union-attr]
    mha.out_proj.weight.data[...] = W_o
    mha.out_proj.bias.data[...] = b_o  # type: ignore[union-attr]
    return mha(x, x, x, attn_mask=None if mask is None else ~mask, average_attn_weights=False)


def _mhsa_args(rng: np.random.Generator, N: int, T: int, E: int) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(N, T, E)), rng.normal(size=(E, 3 * E)) / np.sqrt(E),
            rng.normal(size=3 * E) * 0.1, rng.normal(size=(E, E)) / np.sqrt(E),
            rng.normal(size=E) * 0.1)


@exercise_check
def multihead_self_attention(fn: Fn) -> None:
    """Visible checks of ``multihead_self_attention(x, W_qkv, b_qkv, W_o, b_o, num_heads,
    mask=None) -> (out, weights)``:

    - it is your own code, not ``nnlib.attention.MultiheadAttention``;
    - it returns the pair ``(out, weights)``, modifies none of its inputs;
    - one head (num_heads = 1), N = 2, T = 3, E = 4: the projections are the three column
      blocks of W_qkv in the order q, k, v, the biases are added, the output projection W_o,
      b_o is applied;
    - two heads: weights (N, heads, T, T); each head's scale is 1/sqrt(E / heads), the head
      size; the heads are the consecutive blocks of E / heads columns (split the last axis,
      then move the head axis before the time axis);
    - a causal mask (T, T), True where attending is allowed, applied to every head (if your
      section 1 attention cannot take a mask that broadcasts, the message says so).
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(1414)
    args = _mhsa_args(rng, 2, 3, 4)
    forbid_reference(fn, nnlib.attention.MultiheadAttention.forward, _ref_mhsa,
                     args=args + (2,), name="multihead_self_attention")
    x, W_qkv, b_qkv, W_o, b_o = args
    text = "multihead_self_attention(x, W_qkv, b_qkv, W_o, b_o, num_heads=1), x (2, 3, 4)"
    kept = [a.copy() for a in args]
    out, w = expect_arity(call(fn, *args, 1, name=text), ("out", "weights"), name=text)
    _unchanged("multihead_self_attention", list(zip(("x", "W_qkv", "b_qkv", "W_o", "b_o"),
                                                    args, kept, strict=True)))
    _require(np.shape(out) == (2, 3, 4), f"out of {text} has shape {np.shape(out)}; expected "
             "(N, T, E) = (2, 3, 4).")
    ref_out, ref_w = _ref_mhsa(*args, 1)
    qkv = x @ W_qkv + b_qkv
    qq, kk, vv = qkv[..., :4], qkv[..., 4:8], qkv[..., 8:]
    for wrong, why in [
        (ref_out - b_o, "missing the output bias b_o"),
        ((_softmax(qq @ kk.swapaxes(1, 2) / 2) @ vv), "missing the output projection W_o, b_o"),
        (_softmax(kk @ qq.swapaxes(1, 2) / 2) @ vv @ W_o + b_o, "computed with q "
         "and k swapped: the first E columns of W_qkv project the queries, the next E the keys"),
        (_softmax((x @ W_qkv[:, :4]) @ (x @ W_qkv[:, 4:8]).swapaxes(1, 2) / 2)
         @ (x @ W_qkv[:, 8:]) @ W_o + b_o, "computed without the bias b_qkv"),
    ]:
        _require(not looks_like(out, wrong), f"out of {text} is {why}.")
    assert_close(out, ref_out, name=f"out of {text}", layout="(N, T, E) = (2, 3, 4)")

    text = "multihead_self_attention(x, W_qkv, b_qkv, W_o, b_o, num_heads=2), x (2, 3, 4)"
    out, w = expect_arity(call(fn, *args, 2, name=text), ("out", "weights"), name=text)
    ref_out, ref_w = _ref_mhsa(*args, 2)
    _require(np.shape(w) == (2, 2, 3, 3), f"weights of {text} have shape {np.shape(w)}; "
             "expected (N, heads, T, T) = (2, 2, 3, 3): one (T, T) map per head.")
    heads = [a.reshape(2, 3, 2, 2).transpose(0, 2, 1, 3) for a in (qq, kk, vv)]
    _require(not looks_like(w, _softmax(heads[0] @ heads[1].swapaxes(-1, -2) / 2)),
             f"weights of {text} are scaled by 1/sqrt(E): each head's scores are scaled by "
             "1/sqrt(E / heads), the size of its own queries.")
    bad = [a.reshape(2, 2, 3, 2) for a in (qq, kk, vv)]
    _require(not looks_like(w, _softmax(bad[0] @ bad[1].swapaxes(-1, -2) / np.sqrt(2))),
             f"weights of {text} mix the time steps between heads: reshape (N, T, E) to (N, T, "
             "heads, E / heads) first, then move the heads axis before the time axis.")
    assert_close(w, ref_w, name=f"weights of {text}", layout="(N, heads, T, T)")
    assert_close(out, ref_out, name=f"out of {text}", layout="(N, T, E) = (2, 3, 4)")

    causal = np.tril(np.ones((3, 3), dtype=bool))
    text = ("multihead_self_attention(x, W_qkv, b_qkv, W_o, b_o, 2, mask) with a causal mask "
            "(3, 3), True where attending is allowed")
    try:
        res = call(fn, *args, 2, causal, name=text)
    except GradingError as err:
        heads = [a.reshape(2, 3, 2, 2).transpose(0, 2, 1, 3) for a in (qq, kk, vv)]
        if _own_attention_fails(fn, *heads, causal):
            raise GradingError(
                f"{str(err).rstrip('.')}. Your scaled_dot_product_attention_forward of section 1 "
                "fails too on the heads (N, heads, T, d) with this (T, T) mask, which must "
                f"broadcast over the batch and the heads (its docstring allows that): {_SECTION_1}"
            ) from None
        raise
    out, w = expect_arity(res, ("out", "weights"), name=text)
    _require(not looks_like(out, ref_out), f"out of {text} ignores the mask.")
    ref_out, ref_w = _ref_mhsa(*args, 2, causal)
    assert_close(w, ref_w, name=f"weights of {text}", layout="(N, heads, T, T)")
    assert_close(out, ref_out, name=f"out of {text}", layout="(N, T, E) = (2, 3, 4)")
    _done("multihead_self_attention")


def _make_mhsa_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    heads = int(rng.integers(1, 4))
    N = 1 if kind == "batch of one" else int(rng.integers(2, 5))
    T = 1 if kind == "batch of one" else int(rng.integers(2, 7))
    E = heads * (int(rng.integers(1, 3)) * 2 + (1 if kind == "odd sizes" else 0))
    args = _mhsa_args(rng, N, T, E)
    if kind == "extreme values":
        args = (args[0] * 10,) + args[1:]
    mask = None if rng.random() < 0.4 else _random_mask(rng, (T, T))
    return args + (heads, mask)


@exercise_check
def multihead_self_attention_hidden(fn: Fn) -> None:
    """Hidden checks of ``multihead_self_attention``: the output and every head's weights equal
    nnlib's ``MultiheadAttention`` (same weights) on generated cases (one, two or three heads,
    a batch of one with T = 1, odd head sizes, masks, large inputs), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _ref_mhsa, _make_mhsa_case, name="multihead_self_attention",
                            seed=_seed("multihead_self_attention"), compare=lambda r: tuple(r))


# ---------------------------------------------------------------------------------------------
# greedy_decode
# ---------------------------------------------------------------------------------------------


class _ToyDecoder:
    """A deterministic stand-in for a decoder step: h' = tanh(2 h + E[prev]), scores = h' U;
    it counts its calls and records the tokens it was fed."""

    def __init__(self, rng: np.random.Generator, V: int, H: int) -> None:
        self.E = rng.normal(size=(V, H))
        self.U = rng.normal(size=(H, V))
        self.calls = 0
        self.fed: list[np.ndarray] = []

    def __call__(self, prev: Any, h: Any) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        prev = np.asarray(prev)
        self.fed.append(prev.copy())
        h_new = np.tanh(2.0 * np.asarray(h) + self.E[prev])
        return h_new @ self.U, h_new


def _ref_greedy(step: Fn, h0: np.ndarray, start: np.ndarray, num_steps: int) -> np.ndarray:
    h, prev, out = h0, start, []
    for _ in range(num_steps):
        scores, h = step(prev, h)
        prev = scores.argmax(axis=1)
        out.append(prev)
    return np.stack(out, axis=1)


def _wrong_greedy(step: Fn, h0: np.ndarray, start: np.ndarray, num_steps: int, *,
                  feed_back: bool = True, carry: bool = True) -> np.ndarray:
    h, prev, out = h0, start, []
    for _ in range(num_steps):
        scores, h_new = step(prev, h)
        h = h_new if carry else h0
        nxt = scores.argmax(axis=1)
        prev = nxt if feed_back else start
        out.append(nxt)
    return np.stack(out, axis=1)


def _fed_back(fed: list[np.ndarray], tokens: np.ndarray, start: np.ndarray, text: str) -> None:
    """Step t must be fed the token the function itself returned for step t - 1."""
    __tracebackhide__ = True
    late = [t for t in range(1, len(fed)) if not np.array_equal(fed[t], tokens[:, t - 1])]
    if not late:
        return
    _require(not all(np.array_equal(f, start) for f in fed),
             f"{text} feeds the start tokens at every step: each step must read the token "
             "chosen at the step before (that is what decoding is).")
    _require(not (np.array_equal(fed[1], start) and all(
        np.array_equal(fed[t], tokens[:, t - 2]) for t in range(2, len(fed)))),
             f"{text} lags one step behind: it feeds the start tokens to steps 0 and 1, then "
             "at step t the token chosen at step t - 2. Step t reads the token chosen at step "
             "t - 1, the one just chosen.")
    _require(False, f"{text} feeds step {late[0]} something other than the token it returned "
             f"for step {late[0] - 1}: each step reads the token chosen at the step before.")


@exercise_check
def greedy_decode(fn: Fn) -> None:
    """Visible checks of ``greedy_decode(step, h0, start, num_steps) -> tokens``:

    - it is your own loop, not the checks' reference;
    - it returns an integer array (N, num_steps), the start tokens not included;
    - it calls ``step`` exactly ``num_steps`` times, first with the start tokens;
    - each step is fed the token chosen at the step before (not the start token again, not
      the token of two steps before);
    - the state returned by a step is passed to the next (not h0 every time);
    - the token chosen is the argmax over the vocabulary (axis 1 of the scores), for each
      sequence;
    - num_steps = 1 and a batch of one work.
    """
    __tracebackhide__ = True
    forbid_reference(fn, _ref_greedy, name="greedy_decode")
    rng = np.random.default_rng(1415)
    N, V, H, T = 3, 7, 5, 6
    model = _ToyDecoder(rng, V, H)
    h0, start = rng.normal(size=(N, H)), np.array([0, 3, 6])
    text = f"greedy_decode(step, h0, start, num_steps={T}) with N = {N} sequences, V = {V}"
    kept = (h0.copy(), start.copy())
    tokens = call(fn, model, h0, start, T, name=text)
    _unchanged("greedy_decode", [("h0", h0, kept[0]), ("start", start, kept[1])])
    _require(model.calls == T, f"{text} called step {model.calls} times; expected {T}: one call "
             "per output token.")
    _require(np.shape(tokens) != (N, T + 1),
             f"{text} returned shape (N, num_steps + 1) = {(N, T + 1)}: leave the start tokens "
             "out, return only the num_steps tokens the decoder chose.")
    _require(np.shape(tokens) != (T, N),
             f"{text} returned shape (num_steps, N) = {(T, N)}: one row per sequence, (N, "
             "num_steps) (stack the steps along axis 1).")
    _require(np.shape(tokens) == (N, T), f"{text} returned shape {np.shape(tokens)}; expected "
             f"(N, num_steps) = {(N, T)}.")
    _require(np.array_equal(model.fed[0], start),
             f"{text} did not feed the start tokens to the first step.")
    _fed_back(model.fed, np.asarray(tokens), start, text)
    want = _ref_greedy(_ToyDecoder(np.random.default_rng(1415), V, H), h0, start, T)
    for wrong, why in [
        (_wrong_greedy(_ToyDecoder(np.random.default_rng(1415), V, H), h0, start, T,
                       feed_back=False), "feeds the start tokens at every step: each step must "
         "read the token chosen at the step before (that is what decoding is)"),
        (_wrong_greedy(_ToyDecoder(np.random.default_rng(1415), V, H), h0, start, T,
                       carry=False), "starts every step from h0: pass on the state each step "
         "returns"),
    ]:
        _require(not np.array_equal(tokens, wrong), f"{text} {why}.")
    assert_close(tokens, want, name=text, layout="(N, num_steps)", reveal=True)
    _require(np.issubdtype(np.asarray(tokens).dtype, np.integer),
             f"{text} returned {np.asarray(tokens).dtype} values; expected integer indices.")

    text = "greedy_decode(step, h0, start, num_steps=1) with a batch of one"
    model = _ToyDecoder(np.random.default_rng(7), 4, 3)
    h1, s1 = np.random.default_rng(8).normal(size=(1, 3)), np.array([2])
    one = call(fn, model, h1, s1, 1, name=text)
    assert_close(one, _ref_greedy(_ToyDecoder(np.random.default_rng(7), 4, 3), h1, s1, 1),
                 name=text, layout="(N, num_steps) = (1, 1)", reveal=True)
    _done("greedy_decode")


def _make_greedy_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = 1 if kind == "batch of one" else int(rng.integers(2, 9))
    V = int(rng.integers(2, 12)) if kind != "odd sizes" else 9
    H = int(rng.integers(1, 7))
    T = 1 if kind == "batch of one" else int(rng.integers(2, 12))
    seed = int(rng.integers(0, 2**31))
    h0 = rng.normal(size=(N, H)) * (10.0 if kind == "extreme values" else 1.0)
    return _SeededDecoder(seed, V, H), h0, rng.integers(0, V, size=N), T


class _SeededDecoder(_ToyDecoder):
    """A toy decoder rebuilt from its seed, so the reference and the learner get equal ones."""

    def __init__(self, seed: int, V: int, H: int) -> None:
        super().__init__(np.random.default_rng(seed), V, H)
        self.seed, self.V, self.H = seed, V, H

    def __deepcopy__(self, memo: dict[int, Any]) -> _SeededDecoder:
        return _SeededDecoder(self.seed, self.V, self.H)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SeededDecoder) and other.seed == self.seed

    __hash__ = None  # type: ignore[assignment]


@exercise_check
def greedy_decode_hidden(fn: Fn) -> None:
    """Hidden checks of ``greedy_decode``: the tokens equal the reference's on generated toy
    decoders (a batch of one with one step, odd vocabularies, random sizes, saturated states),
    inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _ref_greedy, _make_greedy_case, name="greedy_decode",
                            seed=_seed("greedy_decode"), layout="(N, num_steps)")


# ---------------------------------------------------------------------------------------------
# decoder_attention_forward / decoder_attention_backward (section 6's decoder)
# ---------------------------------------------------------------------------------------------


def _left_padded_mask(rng: np.random.Generator, N: int, T_in: int) -> np.ndarray:
    """(N, T_in), True at the real tokens, each sequence 1..T_in long, padded on the left."""
    lengths = rng.integers(1, T_in + 1, size=N)
    return np.arange(T_in)[None, :] >= (T_in - lengths)[:, None]


def _dec_case(rng: np.random.Generator, N: int, T_out: int, T_in: int, H: int,
              size: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (rng.normal(size=(N, T_out, H)) * size, rng.normal(size=(N, T_in, H)) * size,
            _left_padded_mask(rng, N, T_in))


@exercise_check
def decoder_attention_forward(fn: Fn) -> None:
    """Visible checks of ``decoder_attention_forward(h_dec, enc, src_mask) -> (context,
    cache)``:

    - it is your own code, not ``nnlib.attention.decoder_attention_forward`` (calling your own
      ``scaled_dot_product_attention_forward`` is the intended way);
    - it returns the pair ``(context, cache)`` and modifies none of its inputs;
    - N = 3 sequences, T_out = 3 decoder states, T_in = 5 encoder states of size H = 4, with
      left padding: context has shape (N, T_out, H);
    - the decoder states are the queries, the encoder states the keys and the values (not the
      other way round);
    - the scale is 1/sqrt(H); each decoder state's weights are a softmax over the source
      positions (the last axis), not over the decoder steps;
    - the padding mask (N, T_in) is used, True at real tokens, and each sequence's mask reaches
      that sequence's own rows of the scores (N, T_out, T_in), for every decoder step (what you
      pass to your attention must broadcast to the scores that way); the weights in the cache
      are exactly 0 at padding;
    - the cache is what ``scaled_dot_product_attention_forward`` returns,
      (h_dec, enc, enc, weights, scale): the backward pass unpacks it;
    - when it raises, the message names the likely cause: your section 1 attention failing on a
      mask that broadcasts, a mask that does not broadcast to the scores, or queries, keys and
      values whose shapes do not fit.
    """
    __tracebackhide__ = True
    ref = nnlib.attention.decoder_attention_forward
    rng = np.random.default_rng(1416)
    h, enc, mask = _dec_case(rng, 3, 3, 5, 4)
    mask[:, 0] = False  # every sequence has padding
    mask[2] = [False, False, False, True, True]
    forbid_reference(fn, ref, args=(h, enc, mask), name="decoder_attention_forward")
    text = "decoder_attention_forward(h_dec, enc, src_mask) with h_dec (3, 3, 4), enc (3, 5, 4)"
    kept = [a.copy() for a in (h, enc, mask)]
    try:
        res = call(fn, h, enc, mask, name=text)
    except GradingError as err:
        raise GradingError(_dec_forward_failure(fn, str(err), h, enc, mask)) from None
    res = expect_arity(res, ("context", "cache"), name=text)
    _cache_first(res, ("context", "cache"), text)
    context, cache = res
    _unchanged("decoder_attention_forward", list(zip(("h_dec", "enc", "src_mask"),
                                                     (h, enc, mask), kept, strict=True)))
    _require(np.shape(context) != (3, 5, 4),
             f"context of {text} has shape (3, 5, 4), one row per encoder state: the decoder "
             "states are the queries (they ask), the encoder states the keys and the values.")
    _require(np.shape(context) == (3, 3, 4),
             f"context of {text} has shape {np.shape(context)}; expected (N, T_out, H) = "
             "(3, 3, 4): one weighted average of the encoder states per decoder state.")
    s = h @ enc.swapaxes(1, 2) / 2.0
    good = _softmax(np.where(mask[:, None, :], s, -np.inf)) @ enc
    _require(not np.isnan(np.asarray(context, dtype=float)).any(),
             f"context of {text} holds NaN: a softmax met a line of scores that are all -inf. "
             "Likely causes: a softmax over the decoder steps (axis -2; a padded source "
             "position is -inf for every decoder step) instead of over the source positions "
             "(the last axis), or a mask that hides every position of a sequence.")
    for wrong, why in [
        (_softmax(s) @ enc, "computed without the padding mask: padded source positions must "
         "get weight 0"),
        (_softmax(np.where(mask[None, :, :], s, -np.inf)) @ enc, "masked with the mask of "
         "another sequence: src_mask (N, T_in) broadcast against the scores (N, T_out, T_in) "
         "lines up its rows with the decoder steps, not with the sequences (with T_out = N "
         "that is no error, only wrong numbers); what you pass must broadcast to the scores "
         "with the sequence axis of src_mask on the sequence axis of the scores"),
        (_softmax(np.where(mask[:, None, :], s, -1e9), axis=-2) @ enc, "a softmax over "
         "the decoder steps (axis -2): each decoder state's weights are a distribution over "
         "the source positions, the last axis"),
        (_softmax(np.where(mask[:, None, :], s * 2.0, -np.inf)) @ enc, "computed without the "
         "scale 1/sqrt(H)"),
        (_softmax(np.where(mask[:, None, :], s / 2.0, -np.inf)) @ enc, "scaled by 1/H: the "
         "scale is 1/sqrt(H)"),
        (_softmax(np.where(~mask[:, None, :], s, -np.inf)) @ enc, "masked with the mask "
         "inverted: it masks the real tokens instead of the padding; src_mask is True at a "
         "real token"),
    ]:
        _require(not looks_like(context, wrong), f"context of {text} is {why}.")
    assert_close(context, good, name=f"context of {text}", layout="(N, T_out, H) = (3, 3, 4)")
    _require(isinstance(cache, tuple | list) and len(cache) == 5,
             f"the cache returned by {text} should be the cache of your "
             "scaled_dot_product_attention_forward, (h_dec, enc, enc, weights, scale).")
    w = np.asarray(cache[3])
    _require(w.shape == (3, 3, 5) and np.all(w[~np.broadcast_to(mask[:, None, :], w.shape)] == 0),
             f"the weights (cache[3]) of {text} must be (N, T_out, T_in) = (3, 3, 5), exactly 0 "
             "at the padding.")
    for i, (pname, want) in enumerate(zip(_CACHE, (h, enc, enc), strict=False)):
        _require(np.shape(cache[i]) == np.shape(want) and np.allclose(cache[i], want),
                 f"cache[{i}] of {text} should be {pname} = "
                 f"{('h_dec', 'enc', 'enc')[i]}: the cache is (queries, keys, values, weights, "
                 "scale).")

    text = "decoder_attention_forward with one sequence, one decoder step and no padding"
    h1, e1, m1 = _dec_case(rng, 1, 1, 3, 2)
    m1[:] = True
    out1 = expect_arity(call(fn, h1, e1, m1, name=text), ("context", "cache"), name=text)[0]
    assert_close(out1, ref(h1, e1, m1)[0], name=f"context of {text}",
                 layout="(N, T_out, H) = (1, 1, 2)")
    _done("decoder_attention_forward")


_SECTION_1 = ("the cause is in section 1, not here. Boolean indexing (scores[~mask]) needs a mask "
              "of the scores' full shape; a function that broadcasts does not.")


def _own_attention_fails(fn: Fn, *args: np.ndarray) -> bool:
    """True when ``fn`` calls the learner's own scaled_dot_product_attention_forward (a global
    of its notebook) and that raises on ``args``, a correct call with a mask that broadcasts."""
    name = "scaled_dot_product_attention_forward"
    own = getattr(fn, "__globals__", {}).get(name)
    code = getattr(fn, "__code__", None)
    if not (callable(own) and code is not None and name in code.co_names
            and own is not nnlib.attention.scaled_dot_product_attention_forward):
        return False
    try:
        with np.errstate(all="ignore"):
            own(*(a.copy() for a in args))
    except Exception:  # noqa: BLE001 (the learner's section 1 code fails: that is the cause)
        return True
    return False


def _dec_forward_failure(fn: Fn, err: str, h: np.ndarray, enc: np.ndarray,
                         mask: np.ndarray) -> str:
    """The message for a decoder_attention_forward that raised: the likely cause, when known."""
    err = err.rstrip(".") + "."
    if _own_attention_fails(fn, h, enc, enc, np.expand_dims(mask, 1)):
        return (f"{err} Your scaled_dot_product_attention_forward of section 1 fails too when "
                "it is given a correct mask for this layer, one that broadcasts to the "
                f"scores without having their full shape (its docstring allows that): {_SECTION_1}")
    low = err.lower()
    if "boolean index" in low:
        return (f"{err} Boolean indexing needs a mask of the indexed array's full shape: the "
                "scores are (N, T_out, T_in) and src_mask is (N, T_in).")
    if "broadcast" in low:
        return (f"{err} The mask does not broadcast to the scores: src_mask is (N, T_in) and "
                "the scores are (N, T_out, T_in); the mask needs an axis for the decoder steps, "
                "in the right place.")
    if any(word in low for word in ("matmul", "core dimension", "number of keys", "aligned")):
        return (f"{err} A product of the attention got arrays whose shapes do not fit: the "
                "queries are the decoder states h_dec (N, T_out, H), and the keys and the "
                "values are both the encoder states enc (N, T_in, H).")
    return err


def _make_dec_forward_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    if kind == "batch of one":
        return _dec_case(rng, 1, 1, int(rng.integers(1, 6)), int(rng.integers(1, 5)))
    N = int(rng.integers(2, 6))
    if kind == "odd sizes":
        return _dec_case(rng, N, N, 7, 5)  # T_out = N: a mask lined up with the steps broadcasts
    size = 10.0 if kind == "extreme values" else 1.0
    return _dec_case(rng, N, int(rng.integers(1, 8)), int(rng.integers(2, 9)),
                     int(rng.integers(1, 7)), size)


@exercise_check
def decoder_attention_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``decoder_attention_forward``: the context and the weights in the cache
    equal nnlib's on generated cases (one sequence with one step, T_out = N with odd sizes,
    random sizes with left padding, large states), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.attention.decoder_attention_forward,
                            _make_dec_forward_case, name="decoder_attention_forward",
                            seed=_seed("decoder_attention_forward"),
                            compare=lambda r: (r[0], r[1][3]))


@exercise_check
def decoder_attention_backward(fn: Fn) -> None:
    """Visible checks of ``decoder_attention_backward(dcontext, cache) -> (dh_dec, denc)`` (the
    cache made by nnlib's ``decoder_attention_forward``, the tuple (h_dec, enc, enc, weights,
    scale)):

    - it is your own code, not ``nnlib.attention.decoder_attention_backward`` (calling your own
      ``scaled_dot_product_attention_backward`` is the intended way);
    - it returns two arrays, the shapes of h_dec (N, T_out, H) and enc (N, T_in, H), and does
      not modify ``dcontext`` or the cache;
    - the gradient of the encoder states has every path the encoder states take (they are used
      twice in the forward pass), not only one of them;
    - the two gradients are not swapped;
    - a gradient check against central differences with left padding, for h_dec and enc.
    """
    __tracebackhide__ = True
    ref_fwd = nnlib.attention.decoder_attention_forward
    ref = nnlib.attention.decoder_attention_backward
    rng = np.random.default_rng(1417)
    h, enc, mask = _dec_case(rng, 2, 3, 4, 3)
    mask[:, 0] = False
    out, cache = ref_fwd(h, enc, mask)
    dout = rng.normal(size=out.shape)
    forbid_reference(fn, ref, args=(dout, cache), name="decoder_attention_backward")
    text = "decoder_attention_backward(dcontext, cache) with h_dec (2, 3, 3), enc (2, 4, 3)"
    kept = (dout.copy(), [np.copy(a) for a in cache])
    res = expect_arity(call(fn, dout, cache, name=text), ("dh_dec", "denc"), name=text)
    _unchanged("decoder_attention_backward", [("dcontext", dout, kept[0])] + [
        (f"cache[{i}]", a, b) for i, (a, b) in enumerate(zip(cache, kept[1], strict=True))])
    dh, denc = res
    for pname, got, want in (("dh_dec", dh, h), ("denc", denc, enc)):
        _require(np.shape(got) == np.shape(want),
                 f"{pname} of {text} has shape {np.shape(got)}; expected {np.shape(want)}, the "
                 f"shape of {pname[1:]}.")
    rdh, rdenc = ref(dout, cache)
    _, rdk, rdv = nnlib.attention.scaled_dot_product_attention_backward(dout, cache)
    for wrong, why in [
        (rdv, "only the gradient through the values: the encoder states are the keys too"),
        (rdk, "only the gradient through the keys: the encoder states are the values too"),
    ]:
        _require(not looks_like(denc, wrong), f"denc of {text} is {why}; every path from enc "
                 "to the loss contributes.")
    assert_close(dh, rdh, name=f"dh_dec of {text}", layout="(N, T_out, H) = (2, 3, 3)")
    assert_close(denc, rdenc, name=f"denc of {text}", layout="(N, T_in, H) = (2, 4, 3)")

    text = "decoder_attention_backward on random h_dec (3, 2, 4), enc (3, 5, 4) with padding"
    grad_mask = _left_padded_mask(rng, 3, 5)
    try:
        check_gradients(lambda a, b: ref_fwd(a, b, grad_mask), lambda d, c: fn(d, c),
                        (rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 5, 4))), rng=rng,
                        tol=GRADCHECK_TOL, h=1e-5, names=("h_dec", "enc"))
    except GradingError:
        raise
    except AssertionError as exc:
        raise GradingError(f"{text} fails the gradient check: {exc}.") from None
    except Exception as exc:  # noqa: BLE001 (the learner's error, in their words)
        raise GradingError(f"{text} raised {type(exc).__name__}: {exc}") from None
    _done("decoder_attention_backward")


def _make_dec_backward_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    out, cache = nnlib.attention.decoder_attention_forward(*_make_dec_forward_case(rng, kind))
    return rng.normal(size=out.shape), cache


@exercise_check
def decoder_attention_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``decoder_attention_backward``: dh_dec and denc equal nnlib's on the
    forward's generated cases (one step, T_out = N, padding, saturated weights), inputs
    unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.attention.decoder_attention_backward,
                            _make_dec_backward_case, name="decoder_attention_backward",
                            seed=_seed("decoder_attention_backward"), compare=lambda r: tuple(r))


# ---------------------------------------------------------------------------------------------
# teacher_forcing_batch
# ---------------------------------------------------------------------------------------------


def _ref_teacher_forcing(targets: np.ndarray, start_id: int,
                         pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    targets = np.asarray(targets)
    inputs = np.empty_like(targets)
    inputs[:, 0] = start_id
    inputs[:, 1:] = targets[:, :-1]
    return inputs, targets != pad_id


def _padded_targets(rng: np.random.Generator, N: int, T: int, V: int,
                    pad_id: int) -> np.ndarray:
    """(N, T) tokens in 0..V-1 other than pad_id, each row padded at its end with pad_id."""
    tokens = rng.integers(0, V - 1, size=(N, T))
    tokens[tokens >= pad_id] += 1
    lengths = rng.integers(1, T + 1, size=N)
    tokens[np.arange(T)[None, :] >= lengths[:, None]] = pad_id
    return tokens


@exercise_check
def teacher_forcing_batch(fn: Fn) -> None:
    """Visible checks of ``teacher_forcing_batch(targets, start_id, pad_id) -> (inputs,
    loss_mask)``:

    - it is your own code, not the checks' reference;
    - it returns the pair ``(inputs, loss_mask)`` and does not modify ``targets``;
    - inputs has the shape of targets (N, T), integer tokens: as many decoder inputs as targets;
    - step 0 is fed the start token, for every sequence;
    - step t > 0 is fed the true token of step t - 1 (the targets shifted right by one, the
      last target never fed), not the token of step t + 1;
    - loss_mask is boolean (N, T), True where the target is a real token and False where it
      is padding (the targets' padding, not the inputs');
    - pad_id = 3, start_id = 0: the padding is the token pad_id whatever its index (not 0, not
      every token at or below it);
    - the order of the pair: (inputs, loss_mask);
    - a batch of one sequence of length T = 1.
    """
    __tracebackhide__ = True
    forbid_reference(fn, _ref_teacher_forcing, name="teacher_forcing_batch")
    targets = np.array([[5, 6, 7, 8, 0], [3, 4, 0, 0, 0], [9, 8, 7, 6, 5]])
    text = ("teacher_forcing_batch(targets, start_id=1, pad_id=0) with targets "
            "[[5, 6, 7, 8, 0], [3, 4, 0, 0, 0], [9, 8, 7, 6, 5]]")
    kept = targets.copy()
    inputs, loss_mask = _tf_pair(call(fn, targets, 1, 0, name=text), text)
    _unchanged("teacher_forcing_batch", [("targets", targets, kept)])
    _require(np.shape(inputs) != (3, 6),
             f"inputs of {text} have shape (3, 6), one more than the targets: the decoder "
             "writes T tokens, so it reads T inputs; the last target is never fed.")
    _require(np.shape(inputs) == (3, 5), f"inputs of {text} have shape {np.shape(inputs)}; "
             "expected (N, T) = (3, 5), the shape of targets.")
    got = np.asarray(inputs)
    _require(not np.array_equal(got, targets),
             f"inputs of {text} are the targets themselves: the decoder would be shown, at "
             "each step, the very token it must predict. Feed the start token first, then the "
             "token of the step before.")
    _require(np.all(got[:, 0] == 1),
             f"inputs of {text} do not start with the start token (1) in every row: step 0 has "
             "no previous token, it is fed the start token.")
    _require(not np.array_equal(got[:, 1:-1], targets[:, 2:]),
             f"inputs of {text} are shifted the wrong way (to the left): step t is fed the "
             "token of step t - 1, the one before it, not the one after.")
    right = _ref_teacher_forcing(targets, 1, 0)[0]
    _require(not np.array_equal(got, np.where(targets == 0, 0, right)),
             f"inputs of {text} hold the pad token at the steps whose target is padding: the "
             "rule is the same at every step, step t is fed the token of step t - 1. Those "
             "steps do not count in the loss, but the contract fixes their inputs too.")
    assert_close(got, right, name=f"inputs of {text}", layout="(N, T) = (3, 5)", reveal=True)
    _require(np.issubdtype(got.dtype, np.integer),
             f"inputs of {text} hold {got.dtype} values; expected integer token indices.")
    lm = np.asarray(loss_mask)
    _require(lm.shape == (3, 5), f"loss_mask of {text} has shape {lm.shape}; expected (N, T) = "
             "(3, 5), one flag per target.")
    _require(lm.dtype == bool, f"loss_mask of {text} holds {lm.dtype} values; expected booleans "
             "(True where the target counts in the loss).")
    _require(not np.array_equal(lm, targets == 0),
             f"loss_mask of {text} is True at the padding: it is True where the target is a "
             "real token.")
    _require(not np.array_equal(lm, got != 0),
             f"loss_mask of {text} is computed from the inputs: it flags the targets (what the "
             "loss compares with), and the inputs are shifted by one.")
    assert_close(lm, targets != 0, name=f"loss_mask of {text}", layout="(N, T) = (3, 5)",
                 reveal=True)

    targets = np.array([[4, 1, 2, 3], [5, 2, 3, 3]])
    text = ("teacher_forcing_batch(targets, start_id=0, pad_id=3) with targets "
            "[[4, 1, 2, 3], [5, 2, 3, 3]]")
    inputs, loss_mask = _tf_pair(call(fn, targets, 0, 3, name=text), text)
    assert_close(inputs, _ref_teacher_forcing(targets, 0, 3)[0], name=f"inputs of {text}",
                 layout="(N, T) = (2, 4)", reveal=True)
    lm = np.asarray(loss_mask)
    _require(lm.shape != (2, 4) or not np.array_equal(lm, targets != 0),
             f"loss_mask of {text} treats the token 0 as the padding: the padding is the token "
             "pad_id, here 3 (0 is only the pad of the first example and of the dates).")
    _require(lm.shape != (2, 4) or not np.array_equal(lm, targets > 3),
             f"loss_mask of {text} flags only the tokens above pad_id: 1 and 2 are real tokens "
             "too; pad_id can be any index, and every token other than pad_id is real.")
    assert_close(lm, targets != 3, name=f"loss_mask of {text}", layout="(N, T) = (2, 4)",
                 reveal=True)

    text = "teacher_forcing_batch([[4]], start_id=2, pad_id=0)"
    one = expect_arity(call(fn, np.array([[4]]), 2, 0, name=text), ("inputs", "loss_mask"),
                       name=text)
    assert_close(one[0], [[2]], name=f"inputs of {text}", layout="(N, T) = (1, 1)", reveal=True)
    assert_close(one[1], [[True]], name=f"loss_mask of {text}", layout="(N, T) = (1, 1)",
                 reveal=True)
    _done("teacher_forcing_batch")


def _tf_pair(res: Any, text: str) -> tuple[Any, Any]:
    """The pair (inputs, loss_mask); a boolean array first and integers second is the order."""
    __tracebackhide__ = True
    inputs, loss_mask = expect_arity(res, ("inputs", "loss_mask"), name=text)
    first, second = np.asarray(inputs), np.asarray(loss_mask)
    _require(not (first.dtype == bool and np.issubdtype(second.dtype, np.integer)),
             f"{text} returned a boolean array first and integer tokens second: the return "
             "order is (inputs, loss_mask), the mask last.")
    return inputs, loss_mask


def _make_tf_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    V = int(rng.integers(4, 40))
    start_id, pad_id = (int(i) for i in rng.choice(V, size=2, replace=False))
    if kind == "odd sizes":  # a pad that is neither 0 nor the smallest token
        pad_id = int(rng.integers(2, V))
        start_id = int(rng.choice([i for i in range(V) if i != pad_id]))
    N = 1 if kind == "batch of one" else int(rng.integers(2, 9))
    T = 1 if kind == "batch of one" else int(rng.integers(2, 13))
    if kind == "odd sizes":
        N, T = 7, 9
    targets = _padded_targets(rng, N, T, V, pad_id)
    if kind == "odd sizes":
        targets[0, 0] = 0  # a real token below the pad (a row's first token is never padding)
    return targets, start_id, pad_id


@exercise_check
def teacher_forcing_batch_hidden(fn: Fn) -> None:
    """Hidden checks of ``teacher_forcing_batch``: the inputs and the loss mask equal the
    reference's on generated batches (one sequence of one token, odd sizes with a pad token
    that is neither 0 nor the smallest, random start and pad tokens, rows with and without
    padding), targets unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _ref_teacher_forcing, _make_tf_case,
                            name="teacher_forcing_batch", seed=_seed("teacher_forcing_batch"),
                            layout="(N, T)")
