"""Checks of lesson 13, LSTM and GRU (``solutions/13_lstm_and_gru``; ``course/`` for learners).

Eight exercises, in torch's equations and gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``, the
reset gate applied to ``h W_hn + b_hn``): ``lstm_step_forward``, ``lstm_step_backward``,
``lstm_forward``, ``lstm_backward``, ``gru_step_forward``, ``gru_step_backward``,
``gru_forward`` and ``gru_backward``. ``<exercise>(fn)`` runs the visible checks (a small case
worked by hand, the cache contract, numerical gradients, targeted messages for classic
mistakes); ``<exercise>_hidden(fn)`` compares ``fn`` with ``nnlib.rnn`` on generated cases
(``T = 1``, a batch of one, odd sizes, random, saturating inputs or large upstream gradients)
whose seeds come from :func:`nncourse.testing.hidden_seed`. ``help(checks.<exercise>)`` lists
what is verified.

The caches are part of the contract, so that each backward pass can be checked on caches made
by ``nnlib`` (a wrong forward pass never fails a backward check):

- LSTM step: ``(x, h_prev, c_prev, gates, tanh_c, Wx, Wh)``, ``gates`` (N, 4H) holding
  ``i, f, g, o`` after their nonlinearities and ``tanh_c = tanh(c_next)``;
- GRU step: ``(x, h_prev, r, z, n, hn, Wx, Wh)`` with ``hn = h_prev @ Wh_n + bh_n``;
- a sequence: the list of its T step caches, in time order.

Deriving the backward passes is the lesson: no message states a derived formula.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import nnlib.rnn
from nncourse.checks._contract import (
    call,
    exercise_check,
    expect_arity,
    expect_order,
    looks_like,
)
from nncourse.testing import (
    GradingError,
    _same,
    assert_close,
    batch_size_for,
    check_against_reference,
    explain_exception,
    forbid_reference,
    hidden_seed,
)
from nnlib.gradcheck import numerical_gradient

Fn = Callable[..., Any]
SLUG = "lstm_and_gru"

__all__ = [
    "lstm_step_forward", "lstm_step_forward_hidden",
    "lstm_step_backward", "lstm_step_backward_hidden",
    "lstm_forward", "lstm_forward_hidden",
    "lstm_backward", "lstm_backward_hidden",
    "gru_step_forward", "gru_step_forward_hidden",
    "gru_step_backward", "gru_step_backward_hidden",
    "gru_forward", "gru_forward_hidden",
    "gru_backward", "gru_backward_hidden",
]

LSTM_CACHE = ("x", "h_prev", "c_prev", "gates", "tanh_c", "Wx", "Wh")
GRU_CACHE = ("x", "h_prev", "r", "z", "n", "hn", "Wx", "Wh")
LSTM_STEP_GRADS = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
LSTM_GRADS = ("dx", "dh0", "dc0", "dWx", "dWh", "db")
GRU_STEP_GRADS = ("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh")
GRU_GRADS = ("dx", "dh0", "dWx", "dWh", "dbx", "dbh")
#: Hidden case kinds of the sequence exercises: T = 1 first, then the usual kinds.
SEQ_KINDS = ("T = 1", "batch of one", "odd sizes", "random", "extreme values")


def _seed(key: str) -> int:
    return hidden_seed(f"{SLUG}/{key}")


def _require(ok: Any, message: str) -> None:
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5


# ---------------------------------------------------------------------------------------------
# Generated cases
# ---------------------------------------------------------------------------------------------


def _params(rng: np.random.Generator, N: int, T: int | None, D: int, H: int, G: int,
            scale: float = 1.0, two_biases: bool = False) -> dict[str, np.ndarray]:
    """Inputs and weights of one case: x (N, D) or (N, T, D), h (N, H), c (N, H), Wx (D, G H),
    Wh (H, G H), b (G H,) (and bh for the GRU)."""
    shape = (N, D) if T is None else (N, T, D)
    p = {
        "x": rng.normal(size=shape) * scale,
        "h": rng.uniform(-1, 1, size=(N, H)),
        "c": rng.normal(size=(N, H)),
        "Wx": rng.normal(size=(D, G * H)) / np.sqrt(D),
        "Wh": rng.normal(size=(H, G * H)) / np.sqrt(H),
        "b": rng.normal(size=G * H) * 0.5,
    }
    if two_biases:
        p["bh"] = rng.normal(size=G * H) * 0.5
    return p


def _sizes(rng: np.random.Generator, kind: str) -> tuple[int, int, int, int]:
    """N, T, D, H of a hidden case."""
    N = batch_size_for("random" if kind == "T = 1" else kind, rng)
    T = 1 if kind == "T = 1" else int(rng.integers(2, 7))
    if kind == "odd sizes":
        return N, int(rng.choice([3, 5, 7])), int(rng.choice([1, 3, 5])), int(rng.choice([1, 3]))
    return N, T, int(rng.integers(1, 6)), int(rng.integers(1, 6))


def _lstm_steps(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                b: np.ndarray) -> list[Any]:
    """nnlib's step caches of an LSTM sequence, in time order."""
    caches, h, c = [], h0, c0
    for t in range(x.shape[1]):
        h, c, cache = nnlib.rnn.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        caches.append(cache)
    return caches


def _gru_steps(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, bx: np.ndarray,
               bh: np.ndarray) -> list[Any]:
    caches, h = [], h0
    for t in range(x.shape[1]):
        h, cache = nnlib.rnn.gru_step_forward(x[:, t], h, Wx, Wh, bx, bh)
        caches.append(cache)
    return caches


def _snapshot(values: Sequence[Any]) -> list[Any]:
    return [copy.deepcopy(v) for v in values]


def _unchanged(label: str, names: Sequence[str], before: Sequence[Any],
               after: Sequence[Any]) -> None:
    __tracebackhide__ = True
    for pname, b, a in zip(names, before, after, strict=True):
        _require(
            _same(b, a),
            f"{label} modified its input `{pname}` in place (an `+=`, `*=` or `[...] =` on an "
            "array it was given, or on an array of the cache). The caller still uses it: "
            "compute new arrays instead.",
        )


def _expect_cache(cache: Any, names: Sequence[str], label: str) -> tuple[Any, ...]:
    """The cache is a tuple (or list) of ``len(names)`` items in the contract's order."""
    __tracebackhide__ = True
    want = "(" + ", ".join(names) + ")"
    _require(
        isinstance(cache, tuple | list) and len(cache) == len(names),
        f"the cache returned by {label} is "
        + (f"a {type(cache).__name__} of {len(cache)} items"
           if isinstance(cache, tuple | list) else f"a {type(cache).__name__}")
        + f"; the contract is the tuple {want}, in this order (the backward pass and its "
        "checks read it by position).",
    )
    return tuple(cache)


def _grads(fn: Fn, args: Sequence[Any], names: Sequence[str], call_text: str,
           expected: Sequence[np.ndarray], arg_names: Sequence[str]) -> tuple[Any, ...]:
    """Call a backward pass; its results after the contract checks (inputs unchanged, arity,
    order, shapes)."""
    __tracebackhide__ = True
    label = call_text.split("(")[0]
    before = _snapshot(args)
    res = call(fn, *args, name=call_text)
    _unchanged(label, arg_names, before, args)
    values = expect_arity(res, names, name=call_text)
    expect_order(values, expected, names, name=call_text)
    for pname, v, e in zip(names, values, expected, strict=True):
        _require(
            np.shape(v) == np.shape(e),
            f"{pname} of {call_text} has shape {np.shape(v)}, expected {np.shape(e)}: a "
            "gradient has the shape of its variable"
            + (" (sum the bias gradient over the batch)" if pname.startswith("db") else "")
            + (" (check the order of the factors of a matrix product, or a missing .T)"
               if pname.startswith("dW") else "") + ".",
        )
    return values


def _numeric_check(values: Sequence[Any], numeric: dict[str, np.ndarray], call_text: str,
                   names: Sequence[str]) -> None:
    __tracebackhide__ = True
    for pname, v in zip(names, values, strict=True):
        if pname in numeric:
            assert_close(v, numeric[pname],
                         name=f"{pname} of {call_text} compared with the numerical gradient",
                         rtol=1e-5, atol=1e-8)


def _gate_blocks(value: Any, want: np.ndarray, gates: str, pname: str, text: str,
                 hint: str) -> None:
    """Name the gate whose block of a bias gradient is wrong, when only some blocks are: the
    other gradients mix every gate, a bias gradient keeps them apart. All blocks wrong (a
    constant factor, a wrong upstream gradient) is left to the generic comparisons."""
    __tracebackhide__ = True
    H = want.shape[0] // len(gates)
    v = np.asarray(value, dtype=float)
    bad = [name for k, name in enumerate(gates)
           if not np.allclose(v[k * H:(k + 1) * H], want[k * H:(k + 1) * H],
                              rtol=1e-5, atol=1e-8)]
    good = [name for name in gates if name not in bad]
    _require(
        not bad or not good,
        f"{text}: the {', '.join(bad)} block{'s' if len(bad) > 1 else ''} of {pname} "
        f"differ{'' if len(bad) > 1 else 's'} from the numerical gradient, while the "
        f"{', '.join(good)} block{'s' if len(good) > 1 else ''} "
        f"{'are' if len(good) > 1 else 'is'} right: {pname} is the batch sum of the gradient "
        "of the pre-activations, one block per gate, so the slip is in the gradient of the "
        f"pre-activation of {'those gates' if len(bad) > 1 else 'that gate'} ({hint}).",
    )


# ---------------------------------------------------------------------------------------------
# LSTM step forward
# ---------------------------------------------------------------------------------------------

#: The worked example of the notebook: N = 1, D = 1, H = 1.
_LX, _LH, _LC = np.array([[1.0]]), np.array([[0.5]]), np.array([[2.0]])
_LWX, _LWH = np.array([[1.0, 0.0, -1.0, 2.0]]), np.array([[0.0, 2.0, 1.0, -2.0]])
_LB = np.array([0.0, -1.0, 0.5, 0.5])
_LTEXT = ("lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b) with x = [[1.0]], h_prev = [[0.5]], "
          "c_prev = [[2.0]], Wx = [[1, 0, -1, 2]], Wh = [[0, 2, 1, -2]], b = [0, -1, 0.5, 0.5]")


def _lstm_variant(x: np.ndarray, h: np.ndarray, c: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                  b: np.ndarray, *, order: str = "ifgo", acts: str = "sstS",
                  tanh_out: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(h_next, c_next) of an LSTM step whose column blocks are read in ``order`` with the
    nonlinearities ``acts`` (s sigmoid, t tanh, per block of ``ifgo``), used to recognise a
    mistake by the answer it gives."""
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    blocks = {name: a[:, k * H:(k + 1) * H] for k, name in enumerate(order)}
    act = {"s": _sigmoid, "t": np.tanh, "S": _sigmoid}
    i, f, g, o = (act[acts[k]](blocks[name]) for k, name in enumerate("ifgo"))
    c_next = f * c + i * g
    return o * (np.tanh(c_next) if tanh_out else c_next), c_next


_LSTM_FORWARD_MISTAKES = (
    (dict(order="ifog"),
     "the gate blocks were read in the order i, f, o, g (CS231n's). torch's order, and this "
     "course's, is i, f, g, o: the columns [2H:3H] are the candidate g, the last H the output "
     "gate o."),
    (dict(order="figo"), "the first two blocks were swapped: the order is i, f, g, o."),
    (dict(acts="ssss"),
     "the candidate g went through a sigmoid: g = tanh(.), only i, f and o are sigmoids."),
    (dict(acts="tttt"), "the gates i, f and o went through tanh: they are sigmoids (in (0, 1))."),
    (dict(tanh_out=False), "h_next = o * c_next: the cell state goes through tanh first."),
)


@exercise_check
def lstm_step_forward(fn: Fn) -> None:
    """Visible checks of ``lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b) ->
    (h_next, c_next, cache)``:

    - it is your own code, not ``nnlib.rnn.lstm_step_forward``, and changes none of its inputs;
    - it returns three values, ``h_next`` and ``c_next`` of shape (N, H);
    - on the worked example of the notebook (N = D = H = 1) ``c_next`` and ``h_next`` are the
      values computed by hand; targeted messages for CS231n's gate order i, f, o, g, swapped
      i and f, a sigmoid on g, tanh on the gates, and a missing tanh on the cell state;
    - the cache is ``(x, h_prev, c_prev, gates, tanh_c, Wx, Wh)`` with the gates after their
      nonlinearities (a message for pre-activations);
    - on a random batch (N = 3, D = 4, H = 2) every output and the cache equal nnlib's.
    """
    __tracebackhide__ = True
    ref = nnlib.rnn.lstm_step_forward
    forbid_reference(fn, ref, args=(_LX, _LH, _LC, _LWX, _LWH, _LB), name="lstm_step_forward")
    args = [_LX.copy(), _LH.copy(), _LC.copy(), _LWX.copy(), _LWH.copy(), _LB.copy()]
    before = _snapshot(args)
    res = call(fn, *args, name=_LTEXT)
    _unchanged("lstm_step_forward", ("x", "h_prev", "c_prev", "Wx", "Wh", "b"), before, args)
    h_next, c_next, cache = expect_arity(res, ["h_next", "c_next", "cache"], name=_LTEXT)
    for wrong_args, why in _LSTM_FORWARD_MISTAKES:
        wh, wc = _lstm_variant(*before, **wrong_args)
        _require(not (looks_like(h_next, wh) and looks_like(c_next, wc)), f"{_LTEXT}: {why}")
    want_h, want_c, want_cache = ref(*before)
    # a = [1, -1 + 1, -1 + 0.5 + 0.5, 2 - 1 + 0.5]: i = sigma(1), f = sigma(0) = 0.5,
    # g = tanh(0) = 0, o = sigma(1.5); c_next = 0.5 * 2 + 0 = 1, h_next = sigma(1.5) tanh(1)
    assert_close(c_next, want_c, name=f"c_next of {_LTEXT}", layout="(1, 1)", reveal=True)
    assert_close(h_next, want_h, name=f"h_next of {_LTEXT}", layout="(1, 1)", reveal=True)
    items = _expect_cache(cache, LSTM_CACHE, "lstm_step_forward")
    a = before[0] @ before[3] + before[1] @ before[4] + before[5]
    _require(
        not looks_like(items[3], a),
        "the gates in the cache are the pre-activations x Wx + h_prev Wh + b; store them after "
        "their nonlinearities (i, f, o sigmoids, g tanh), as the backward pass needs them.",
    )
    for k, pname in enumerate(LSTM_CACHE):
        assert_close(items[k], want_cache[k], name=f"cache item {k} ({pname}) of {_LTEXT}",
                     reveal=True)
    rng = np.random.default_rng(13)
    p = _params(rng, 3, None, 4, 2, 4)
    args = (p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"])
    got = call(fn, *_snapshot(args), name="lstm_step_forward on a random batch (N=3, D=4, H=2)")
    want = ref(*args)
    got = expect_arity(got, ["h_next", "c_next", "cache"], name="lstm_step_forward")
    label = "lstm_step_forward on a random batch (N=3, D=4, H=2)"
    assert_close(got[0], want[0], name=f"h_next of {label}", layout="(N, H) = (3, 2)")
    assert_close(got[1], want[1], name=f"c_next of {label}", layout="(N, H) = (3, 2)")
    items = _expect_cache(got[2], LSTM_CACHE, "lstm_step_forward")
    for k, pname in enumerate(LSTM_CACHE):
        assert_close(items[k], want[2][k], name=f"cache item {k} ({pname}) of {label}")
    _done("lstm_step_forward")


def _lstm_step_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D, H = (3, 5) if kind == "odd sizes" else (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    p = _params(rng, N, None, D, H, 4, scale=30.0 if kind == "extreme values" else 1.0)
    return p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"]


def _step_forward_view(n_states: int) -> Fn:
    def view(result: Any) -> tuple[Any, ...]:
        return (*result[:n_states], *result[n_states])
    return view


@exercise_check
def lstm_step_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``lstm_step_forward``: ``h_next``, ``c_next`` and every item of the cache
    equal ``nnlib.rnn.lstm_step_forward``'s on generated cases (a batch of one, odd sizes,
    random, inputs large enough to saturate the gates), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.lstm_step_forward, _lstm_step_case,
                            name="lstm_step_forward", seed=_seed("lstm_step_forward"),
                            compare=_step_forward_view(2))


# ---------------------------------------------------------------------------------------------
# LSTM step backward
# ---------------------------------------------------------------------------------------------


def _lstm_step_grad_variant(dh: np.ndarray, dc: np.ndarray, cache: Any, *,
                            tanh_prime: bool = True, keep_f: bool = True,
                            order: str = "ifgo") -> tuple[np.ndarray, ...]:
    """The six gradients of one LSTM step with one classic slip, to recognise it."""
    x, h_prev, c_prev, gates, tanh_c, Wx, Wh = cache
    H = h_prev.shape[1]
    i, f, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
    dcell = dc + dh * o * ((1 - tanh_c**2) if tanh_prime else 1.0)
    parts = {"i": dcell * g * i * (1 - i), "f": dcell * c_prev * f * (1 - f),
             "g": dcell * i * (1 - g * g), "o": dh * tanh_c * o * (1 - o)}
    da = np.concatenate([parts[name] for name in order], axis=1)
    return (da @ Wx.T, da @ Wh.T, dcell * f if keep_f else dcell, x.T @ da, h_prev.T @ da,
            da.sum(axis=0))


_LSTM_BACKWARD_MISTAKES = (
    (dict(tanh_prime=False),
     "the gradient reaching c_next from h_next = o * tanh(c_next) lost the slope of tanh: "
     "the chain rule goes through tanh, not past it."),
    (dict(keep_f=False),
     "dc_prev is the whole gradient reaching c_next: c_next = f * c_prev + i * g, so what "
     "reaches c_prev is multiplied by the local derivative of c_next with respect to c_prev."),
    (dict(order="ifog"),
     "the gate gradients were stacked in the order i, f, o, g: stack them as the gates are "
     "stacked in Wx, i, f, g, o."),
)


def _lstm_step_backward_case(seed: int, N: int, D: int, H: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    p = _params(rng, N, None, D, H, 4)
    cache = nnlib.rnn.lstm_step_forward(p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"])[2]
    return p, cache, rng.normal(size=(N, H)), rng.normal(size=(N, H))


@exercise_check
def lstm_step_backward(fn: Fn) -> None:
    """Visible checks of ``lstm_step_backward(dh_next, dc_next, cache) ->
    (dx, dh_prev, dc_prev, dWx, dWh, db)`` on a cache made by ``nnlib.rnn.lstm_step_forward``:

    - it is your own code, not ``nnlib.rnn.lstm_step_backward``;
    - it changes neither ``dh_next``, ``dc_next`` nor the cache, returns six values in this
      order (a message for a permutation) with the shapes of their variables;
    - targeted messages for ``dc_next`` ignored, the slope of tanh left out on the way from
      ``h_next`` to ``c_next``, ``dc_prev`` without its local factor, and gate gradients stacked
      in the order i, f, o, g;
    - a gradient wrong in some gates only is named by its gate: the blocks i, f, g, o of ``db``
      are compared first;
    - every gradient equals the numerical gradient of ``sum(h_next * dh_next) +
      sum(c_next * dc_next)`` (N = 3, D = 4, H = 2).
    """
    __tracebackhide__ = True
    ref = nnlib.rnn.lstm_step_backward
    p, cache, dh, dc = _lstm_step_backward_case(7, 3, 4, 2)
    forbid_reference(fn, ref, args=(dh, dc, cache), name="lstm_step_backward")
    text = "lstm_step_backward(dh_next, dc_next, cache) with N=3, D=4, H=2"
    expected = ref(dh, dc, cache)
    got = _grads(fn, (dh.copy(), dc.copy(), copy.deepcopy(cache)), LSTM_STEP_GRADS, text,
                 expected, ("dh_next", "dc_next", "cache"))
    if not looks_like(got[1:3], expected[1:3]):
        _require(
            not looks_like(got[2], ref(dh, np.zeros_like(dc), cache)[2]),
            f"{text}: dc_prev does not depend on dc_next. The cell state of the next step "
            "also carries a gradient: add dc_next to what reaches c_next through h_next.",
        )
    for wrong_args, why in _LSTM_BACKWARD_MISTAKES:
        wrong = _lstm_step_grad_variant(dh, dc, cache, **wrong_args)
        _require(not all(looks_like(a, b) for a, b in zip(got, wrong, strict=True)),
                 f"{text}: {why}")
    _gate_blocks(got[5], expected[5], "ifgo", "db", text,
                 "what reaches the gate's output, times the slope of its own nonlinearity")

    def loss(**change: np.ndarray) -> float:
        q = {"x": p["x"], "h": p["h"], "c": p["c"], "Wx": p["Wx"], "Wh": p["Wh"], "b": p["b"]}
        q.update(change)
        h, c, _ = nnlib.rnn.lstm_step_forward(q["x"], q["h"], q["c"], q["Wx"], q["Wh"], q["b"])
        return float(np.sum(h * dh) + np.sum(c * dc))

    numeric = {
        "dx": numerical_gradient(lambda v: loss(x=v), p["x"].copy()),
        "dh_prev": numerical_gradient(lambda v: loss(h=v), p["h"].copy()),
        "dc_prev": numerical_gradient(lambda v: loss(c=v), p["c"].copy()),
        "dWx": numerical_gradient(lambda v: loss(Wx=v), p["Wx"].copy()),
        "dWh": numerical_gradient(lambda v: loss(Wh=v), p["Wh"].copy()),
        "db": numerical_gradient(lambda v: loss(b=v), p["b"].copy()),
    }
    _numeric_check(got, numeric, text, LSTM_STEP_GRADS)
    _done("lstm_step_backward")


def _lstm_step_backward_hidden_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x, h, c, Wx, Wh, b = _lstm_step_case(rng, "random" if kind == "extreme values" else kind)
    cache = nnlib.rnn.lstm_step_forward(x, h, c, Wx, Wh, b)[2]
    scale = 1e3 if kind == "extreme values" else 1.0
    return (rng.normal(size=h.shape) * scale, rng.normal(size=h.shape) * scale, cache)


@exercise_check
def lstm_step_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``lstm_step_backward``: the six gradients equal
    ``nnlib.rnn.lstm_step_backward``'s on caches made by ``nnlib.rnn.lstm_step_forward`` (a
    batch of one, odd sizes, random, upstream gradients up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.lstm_step_backward, _lstm_step_backward_hidden_case,
                            name="lstm_step_backward", seed=_seed("lstm_step_backward"),
                            rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Sequences: shared checks of the forward passes
# ---------------------------------------------------------------------------------------------


def _check_sequence_forward(fn: Fn, args: Sequence[Any], want_h: np.ndarray,
                            want_caches: Sequence[Any], *, label: str, text: str,
                            cache_names: Sequence[str], arg_names: Sequence[str],
                            not_chained: np.ndarray) -> None:
    """h (N, T, H) and the list of step caches of a sequence forward pass."""
    __tracebackhide__ = True
    N, T, H = want_h.shape
    before = _snapshot(args)
    res = call(fn, *args, name=text)
    _unchanged(label, arg_names, before, args)
    h, caches = expect_arity(res, ["h", "cache"], name=text)
    shape = np.shape(h)
    _require(
        shape != (T, N, H) or T == N,
        f"h of {text} has shape {shape}, time-major (T, N, H): the course's sequences are "
        f"batch-first, h[:, t] is the state after step t, (N, T, H) = {(N, T, H)}.",
    )
    _require(
        shape != (N, H),
        f"h of {text} has shape {shape}: return the hidden state of every step, (N, T, H) = "
        f"{(N, T, H)}, not only the last one.",
    )
    _require(
        not looks_like(h, not_chained),
        f"h of {text}: every step started from the initial state. Each step must start from "
        "the state the previous step returned.",
    )
    assert_close(h, want_h, name=f"h of {text}", layout=f"(N, T, H) = {(N, T, H)}")
    _require(
        isinstance(caches, list | tuple) and len(caches) == T,
        f"the cache of {text} should be the list of the {T} step caches, in time order; got "
        + (f"a {type(caches).__name__} of {len(caches)} items"
           if isinstance(caches, list | tuple) else f"a {type(caches).__name__}") + ".",
    )
    for t, (got, want) in enumerate(zip(caches, want_caches, strict=True)):
        items = _expect_cache(got, cache_names, f"{label} at step {t}")
        for k, pname in enumerate(cache_names):
            assert_close(items[k], want[k], name=f"item {k} ({pname}) of the cache of step {t} "
                         f"of {text}")


def _seq_forward_view(result: Any) -> tuple[Any, ...]:
    h, caches = result
    return (h, *[np.asarray(a) for step in caches for a in step])


# ---------------------------------------------------------------------------------------------
# LSTM sequence forward
# ---------------------------------------------------------------------------------------------


def _lstm_seq_params(seed: int, N: int, T: int, D: int, H: int) -> dict[str, np.ndarray]:
    return _params(np.random.default_rng(seed), N, T, D, H, 4)


def _lstm_seq_reference(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, Wx: np.ndarray,
                        Wh: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    h = nnlib.rnn.lstm_forward(x, h0, c0, Wx, Wh, b)[0]
    return h, _lstm_steps(x, h0, c0, Wx, Wh, b)


@exercise_check
def lstm_forward(fn: Fn) -> None:
    """Visible checks of ``lstm_forward(x, h0, c0, Wx, Wh, b) -> (h, cache)``:

    - it is your own code, calling neither ``nnlib.rnn.lstm_forward`` nor
      ``nnlib.rnn.lstm_step_forward``, and changes none of its inputs;
    - with T = 1 it equals one step;
    - on a sequence (N = 2, T = 5, D = 3, H = 4): h is batch-first (N, T, H), holds every
      step's state (messages for a time-major h, the last state only, and steps that all
      start from h0 and c0), and equals nnlib's;
    - the cache is the list of the T step caches, in time order, each equal to nnlib's.
    """
    __tracebackhide__ = True
    p = _lstm_seq_params(3, 2, 5, 3, 4)
    args = (p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"])
    forbid_reference(fn, nnlib.rnn.lstm_forward, nnlib.rnn.lstm_step_forward, args=args,
                     name="lstm_forward")
    names = ("x", "h0", "c0", "Wx", "Wh", "b")
    one = tuple(a[:, :1] if k == 0 else a for k, a in enumerate(args))
    want_h, want_caches = _lstm_seq_reference(*one)
    # one step: every step from h0, c0 is the same as chaining
    _check_sequence_forward(fn, _snapshot(one), want_h, want_caches, label="lstm_forward",
                            text="lstm_forward with T = 1", cache_names=LSTM_CACHE,
                            arg_names=names, not_chained=np.full(want_h.shape, np.nan))
    want_h, want_caches = _lstm_seq_reference(*args)
    unchained = np.stack([nnlib.rnn.lstm_step_forward(p["x"][:, t], p["h"], p["c"], p["Wx"],
                                                      p["Wh"], p["b"])[0] for t in range(5)],
                         axis=1)
    _check_sequence_forward(fn, _snapshot(args), want_h, want_caches, label="lstm_forward",
                            text="lstm_forward(x, h0, c0, Wx, Wh, b) with N=2, T=5, D=3, H=4",
                            cache_names=LSTM_CACHE, arg_names=names, not_chained=unchained)
    _done("lstm_forward")


def _lstm_seq_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N, T, D, H = _sizes(rng, kind)
    p = _params(rng, N, T, D, H, 4, scale=30.0 if kind == "extreme values" else 1.0)
    return p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"]


@exercise_check
def lstm_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``lstm_forward``: h equals ``nnlib.rnn.lstm_forward``'s and the cache is
    nnlib's list of step caches, on generated sequences (T = 1, a batch of one, odd sizes,
    random, saturating inputs), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _lstm_seq_reference, _lstm_seq_case, name="lstm_forward",
                            seed=_seed("lstm_forward"), kinds=SEQ_KINDS,
                            compare=_seq_forward_view)


# ---------------------------------------------------------------------------------------------
# Sequences: shared checks of the backward passes
# ---------------------------------------------------------------------------------------------


def _bptt_mistakes(got: Sequence[Any], variants: Sequence[tuple[Sequence[Any], str]],
                   text: str) -> None:
    __tracebackhide__ = True
    for wrong, why in variants:
        _require(not all(looks_like(a, b) for a, b in zip(got, wrong, strict=True)),
                 f"{text}: {why}")


_ONLY_LAST = ("only the last step received the upstream gradient: dh[:, t] is the gradient "
              "reaching h_t from the loss at every step t, so add it to what flows back from "
              "step t + 1 before each step's backward pass.")
_NO_CARRY = ("each step's backward pass started from dh[:, t] alone: the gradient that the "
             "backward pass of step t + 1 returns for its previous state must be added to it.")
_NO_CARRY_C = ("each step's backward pass started from dc_next = 0: the hidden state is carried "
               "back, but the cell state is a second state that the next step reads. The "
               "gradient that the backward pass of step t + 1 returns for its previous cell "
               "state must be handed to step t as its dc_next (it is 0 only after the last "
               "step).")
_NOT_ACCUMULATED = ("the weights' gradients come from a single step: Wx, Wh and the biases are "
                    "shared by every step, so their gradients add up over all steps.")


def _seq_backward_hidden(fn: Fn, ref: Fn, make: Fn, *, name: str, names: Sequence[str]) -> None:
    """Compare fn(dh, caches) with ref(dh, nnlib's cache) on the SEQ_KINDS cases."""
    __tracebackhide__ = True
    rng = np.random.default_rng(_seed(name))
    for k, kind in enumerate(SEQ_KINDS):
        dh, caches, seq_cache = make(rng, kind)
        want = ref(dh, seq_cache)
        where = f"{name} on hidden case {k + 1} of {len(SEQ_KINDS)} ({kind})"
        args = (dh.copy(), copy.deepcopy(caches))
        try:
            got = fn(*args)
        except GradingError:
            raise
        except Exception as exc:  # the learner's error, in their words
            raise GradingError(f"{where} raised {explain_exception(exc)}") from None
        _unchanged(where, ("dh", "cache"), (dh, caches), args)
        _require(isinstance(got, tuple | list) and len(got) == len(names),
                 f"{where} should return the {len(names)} values ({', '.join(names)}).")
        for pname, g, w in zip(names, got, want, strict=True):
            assert_close(g, w, name=f"{pname} of {where}", rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# LSTM sequence backward
# ---------------------------------------------------------------------------------------------


def _lstm_bptt_variants(dh: np.ndarray, caches: Sequence[Any]) -> list[tuple[Any, str]]:
    """Wrong results of three classic BPTT slips, built from nnlib's step backward."""
    step = nnlib.rnn.lstm_step_backward
    N, T, H = dh.shape
    out = []
    for mode, why in (("last", _ONLY_LAST), ("nocarry", _NO_CARRY), ("nocarry_c", _NO_CARRY_C),
                      ("single", _NOT_ACCUMULATED)):
        dx = np.zeros((N, T, caches[0][0].shape[1]))
        dWx, dWh = np.zeros_like(caches[0][5]), np.zeros_like(caches[0][6])
        db = np.zeros(caches[0][5].shape[1])
        dnext, dcnext = np.zeros((N, H)), np.zeros((N, H))
        for t in range(T - 1, -1, -1):
            upstream = dh[:, t] if mode != "last" or t == T - 1 else 0.0
            carried = dnext if mode != "nocarry" else 0.0
            dcarried = dcnext if mode != "nocarry_c" else np.zeros((N, H))
            dx[:, t], dnext, dcnext, gWx, gWh, gb = step(upstream + carried, dcarried,
                                                         caches[t])
            if mode == "single":
                dWx, dWh, db = gWx, gWh, gb
            else:
                dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
        out.append(((dx, dnext, dcnext, dWx, dWh, db), why))
    return out


@exercise_check
def lstm_backward(fn: Fn) -> None:
    """Visible checks of ``lstm_backward(dh, cache) -> (dx, dh0, dc0, dWx, dWh, db)`` on the
    list of step caches made by ``nnlib.rnn.lstm_step_forward``:

    - it is your own code, calling neither ``nnlib.rnn.lstm_backward`` nor
      ``nnlib.rnn.lstm_step_backward``, and changes neither ``dh`` nor the caches;
    - it returns six values in this order with the shapes of their variables;
    - targeted messages for an upstream gradient given to the last step only, the gradient of
      the previous hidden state not carried back, the gradient of the previous cell state not
      carried back (dc_next = 0 at every step), and weight gradients not summed over the steps;
    - every gradient equals the numerical gradient of ``sum(h * dh)`` (N = 2, T = 4, D = 3,
      H = 2).
    """
    __tracebackhide__ = True
    N, T, D, H = 2, 4, 3, 2
    p = _lstm_seq_params(5, N, T, D, H)
    caches = _lstm_steps(p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"])
    dh = np.random.default_rng(6).normal(size=(N, T, H))
    forbid_reference(fn, nnlib.rnn.lstm_backward, nnlib.rnn.lstm_step_backward,
                     args=(dh, caches), name="lstm_backward")
    text = f"lstm_backward(dh, cache) with N={N}, T={T}, D={D}, H={H}"
    seq_cache = nnlib.rnn.lstm_forward(p["x"], p["h"], p["c"], p["Wx"], p["Wh"], p["b"])[1]
    expected = nnlib.rnn.lstm_backward(dh, seq_cache)
    got = _grads(fn, (dh.copy(), copy.deepcopy(caches)), LSTM_GRADS, text, expected,
                 ("dh", "cache"))
    _bptt_mistakes(got, _lstm_bptt_variants(dh, caches), text)

    def loss(**change: np.ndarray) -> float:
        q = {"x": p["x"], "h": p["h"], "c": p["c"], "Wx": p["Wx"], "Wh": p["Wh"], "b": p["b"]}
        q.update(change)
        h = nnlib.rnn.lstm_forward(q["x"], q["h"], q["c"], q["Wx"], q["Wh"], q["b"])[0]
        return float(np.sum(h * dh))

    numeric = {
        "dx": numerical_gradient(lambda v: loss(x=v), p["x"].copy()),
        "dh0": numerical_gradient(lambda v: loss(h=v), p["h"].copy()),
        "dc0": numerical_gradient(lambda v: loss(c=v), p["c"].copy()),
        "dWx": numerical_gradient(lambda v: loss(Wx=v), p["Wx"].copy()),
        "dWh": numerical_gradient(lambda v: loss(Wh=v), p["Wh"].copy()),
        "db": numerical_gradient(lambda v: loss(b=v), p["b"].copy()),
    }
    _numeric_check(got, numeric, text, LSTM_GRADS)
    _done("lstm_backward")


def _lstm_bptt_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x, h0, c0, Wx, Wh, b = _lstm_seq_case(rng, "random" if kind == "extreme values" else kind)
    dh = rng.normal(size=(*x.shape[:2], h0.shape[1])) * (1e3 if kind == "extreme values" else 1)
    return (dh, _lstm_steps(x, h0, c0, Wx, Wh, b),
            nnlib.rnn.lstm_forward(x, h0, c0, Wx, Wh, b)[1])


@exercise_check
def lstm_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``lstm_backward``: the six gradients equal ``nnlib.rnn.lstm_backward``'s
    for the same sequences (T = 1, a batch of one, odd sizes, random, upstream gradients up to
    1e3), given nnlib's step caches; inputs unchanged."""
    __tracebackhide__ = True
    _seq_backward_hidden(fn, nnlib.rnn.lstm_backward, _lstm_bptt_case, name="lstm_backward",
                         names=LSTM_GRADS)


# ---------------------------------------------------------------------------------------------
# GRU step forward
# ---------------------------------------------------------------------------------------------

_GX, _GH = np.array([[1.0]]), np.array([[0.5]])
_GWX, _GWH = np.array([[1.0, -1.0, 0.5]]), np.array([[2.0, 0.0, 2.0]])
_GBX, _GBH = np.array([0.0, 2.0, 0.0]), np.array([-2.0, 0.0, 1.0])
_GTEXT = ("gru_step_forward(x, h_prev, Wx, Wh, bx, bh) with x = [[1.0]], h_prev = [[0.5]], "
          "Wx = [[1, -1, 0.5]], Wh = [[2, 0, 2]], bx = [0, 2, 0], bh = [-2, 0, 1]")


def _gru_variant(x: np.ndarray, h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, bx: np.ndarray,
                 bh: np.ndarray, *, order: str = "rzn", reset: str = "torch",
                 blend: str = "torch") -> np.ndarray:
    """h_next of a GRU step with one classic slip, to recognise it."""
    H = h.shape[1]
    ax, ah = x @ Wx + bx, h @ Wh + bh
    sl = {name: slice(k * H, (k + 1) * H) for k, name in enumerate(order)}
    r = _sigmoid(ax[:, sl["r"]] + ah[:, sl["r"]])
    z = _sigmoid(ax[:, sl["z"]] + ah[:, sl["z"]])
    if reset == "before":  # r * h_prev before the product (Cho et al.'s first version)
        hn = (r * h) @ Wh[:, sl["n"]] + bh[sl["n"]]
        n = np.tanh(ax[:, sl["n"]] + hn)
    elif reset == "bias outside":
        n = np.tanh(ax[:, sl["n"]] + r * (h @ Wh[:, sl["n"]]) + bh[sl["n"]])
    else:
        n = np.tanh(ax[:, sl["n"]] + r * ah[:, sl["n"]])
    return z * n + (1 - z) * h if blend == "swapped" else (1 - z) * n + z * h


_GRU_FORWARD_MISTAKES = (
    (dict(reset="before"),
     "the reset gate multiplied h_prev before the product with Wh_n. In torch's GRU (and this "
     "course's) r multiplies the whole h_prev Wh_n + bh_n."),
    (dict(reset="bias outside"),
     "bh_n was added outside the reset gate: r multiplies h_prev Wh_n + bh_n, bias included "
     "(that is why torch keeps the two biases apart)."),
    (dict(blend="swapped"),
     "h_next = z * n + (1 - z) * h_prev is the other convention: in torch's GRU z is the share "
     "of the OLD state kept, h_next = (1 - z) * n + z * h_prev."),
    (dict(order="zrn"), "the first two blocks were swapped: the order is r, z, n."),
)


def _check_hn(items: Sequence[Any], args: Sequence[Any], want_cache: Sequence[Any],
              text: str) -> None:
    """Targeted messages for the cache's ``hn`` taken after the reset gate or without bh_n (on
    the worked example the two give the same number, 1)."""
    __tracebackhide__ = True
    h_prev, Wh = args[1], args[3]
    H = h_prev.shape[1]
    hn, r = want_cache[5], want_cache[2]
    after = looks_like(items[5], r * hn)
    no_bias = looks_like(items[5], h_prev @ Wh[:, 2 * H:])
    why = {
        (True, True): "it looks like the product after the reset gate, r * (h_prev Wh_n + "
                      "bh_n), or like h_prev Wh_n without its bias (on this case both give "
                      "the same number)",
        (True, False): "it looks like the product after the reset gate, r * (h_prev Wh_n + "
                       "bh_n)",
        (False, True): "it looks like h_prev Wh_n without its bias bh_n",
    }.get((after, no_bias))
    _require(
        why is None or looks_like(items[5], hn),
        f"cache item 5 (hn) of {text}: {why}. The contract's hn is the h-side pre-activation "
        "of the n block, h_prev Wh_n + bh_n, BEFORE the reset gate multiplies it (the backward "
        "pass needs it to find what reaches r).",
    )


@exercise_check
def gru_step_forward(fn: Fn) -> None:
    """Visible checks of ``gru_step_forward(x, h_prev, Wx, Wh, bx, bh) -> (h_next, cache)``:

    - it is your own code, not ``nnlib.rnn.gru_step_forward``, and changes none of its inputs;
    - on the worked example of the notebook (N = D = H = 1) ``h_next`` is the value computed by
      hand; targeted messages for the reset gate applied to h_prev before the product, bh_n
      outside the reset gate, z and 1 - z swapped, and the blocks r and z swapped;
    - the cache is ``(x, h_prev, r, z, n, hn, Wx, Wh)`` with ``hn = h_prev Wh_n + bh_n``
      (messages for ``hn`` taken after the reset gate or without ``bh_n``);
    - on a random batch (N = 3, D = 4, H = 2) h_next and the cache equal nnlib's.
    """
    __tracebackhide__ = True
    ref = nnlib.rnn.gru_step_forward
    forbid_reference(fn, ref, args=(_GX, _GH, _GWX, _GWH, _GBX, _GBH), name="gru_step_forward")
    args = [_GX.copy(), _GH.copy(), _GWX.copy(), _GWH.copy(), _GBX.copy(), _GBH.copy()]
    before = _snapshot(args)
    res = call(fn, *args, name=_GTEXT)
    _unchanged("gru_step_forward", ("x", "h_prev", "Wx", "Wh", "bx", "bh"), before, args)
    h_next, cache = expect_arity(res, ["h_next", "cache"], name=_GTEXT)
    # With H = 1 the two reset-gate slips give the same number: they are told apart on the
    # random batch (H = 2) below.
    for wrong_args, why in _GRU_FORWARD_MISTAKES[2:]:
        _require(not looks_like(h_next, _gru_variant(*before, **wrong_args)), f"{_GTEXT}: {why}")
    _require(
        not looks_like(h_next, _gru_variant(*before, reset="before")),
        f"{_GTEXT}: the reset gate was not applied to the whole h_prev Wh_n + bh_n: in torch's "
        "GRU (and this course's) r multiplies h_prev Wh_n + bh_n, after the product and with "
        "the bias.",
    )
    want_h, want_cache = ref(*before)
    # ax = [1, 1, 0.5], ah = [-1, 0, 2]: r = sigma(0) = 0.5, z = sigma(1), hn = 2,
    # n = tanh(0.5 + 0.5 * 2) = tanh(1.5), h_next = (1 - sigma(1)) n + sigma(1) * 0.5
    assert_close(h_next, want_h, name=f"h_next of {_GTEXT}", layout="(1, 1)", reveal=True)
    items = _expect_cache(cache, GRU_CACHE, "gru_step_forward")
    _check_hn(items, before, want_cache, _GTEXT)
    for k, pname in enumerate(GRU_CACHE):
        assert_close(items[k], want_cache[k], name=f"cache item {k} ({pname}) of {_GTEXT}",
                     reveal=True)
    rng = np.random.default_rng(17)
    p = _params(rng, 3, None, 4, 2, 3, two_biases=True)
    args = (p["x"], p["h"], p["Wx"], p["Wh"], p["b"], p["bh"])
    label = "gru_step_forward on a random batch (N=3, D=4, H=2)"
    got = expect_arity(call(fn, *_snapshot(args), name=label), ["h_next", "cache"], name=label)
    want = ref(*args)
    for wrong_args, why in _GRU_FORWARD_MISTAKES[:2]:
        _require(not looks_like(got[0], _gru_variant(*args, **wrong_args)), f"{label}: {why}")
    assert_close(got[0], want[0], name=f"h_next of {label}", layout="(N, H) = (3, 2)")
    items = _expect_cache(got[1], GRU_CACHE, "gru_step_forward")
    _check_hn(items, args, want[1], label)
    for k, pname in enumerate(GRU_CACHE):
        assert_close(items[k], want[1][k], name=f"cache item {k} ({pname}) of {label}")
    _done("gru_step_forward")


def _gru_step_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D, H = (3, 5) if kind == "odd sizes" else (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    p = _params(rng, N, None, D, H, 3, scale=30.0 if kind == "extreme values" else 1.0,
                two_biases=True)
    return p["x"], p["h"], p["Wx"], p["Wh"], p["b"], p["bh"]


@exercise_check
def gru_step_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``gru_step_forward``: ``h_next`` and every item of the cache equal
    ``nnlib.rnn.gru_step_forward``'s on generated cases (a batch of one, odd sizes, random,
    saturating inputs), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.gru_step_forward, _gru_step_case,
                            name="gru_step_forward", seed=_seed("gru_step_forward"),
                            compare=_step_forward_view(1))


# ---------------------------------------------------------------------------------------------
# GRU step backward
# ---------------------------------------------------------------------------------------------


def _gru_step_grad_variant(dh: np.ndarray, cache: Any, *, direct: bool = True,
                           reset_on_bias: bool = True, same_n: bool = False
                           ) -> tuple[np.ndarray, ...]:
    """The six gradients of one GRU step with one classic slip, to recognise it."""
    x, h_prev, r, z, n, hn, Wx, Wh = cache
    dan = dh * (1 - z) * (1 - n * n)
    daz = dh * (h_prev - n) * z * (1 - z)
    dar = dan * hn * r * (1 - r)
    dax = np.concatenate([dar, daz, dan], axis=1)
    dah = np.concatenate([dar, daz, dan if same_n else dan * r], axis=1)
    dh_prev = dah @ Wh.T + (dh * z if direct else 0.0)
    dbh = dah.sum(axis=0) if reset_on_bias else np.concatenate(
        [dar.sum(axis=0), daz.sum(axis=0), dan.sum(axis=0)])
    return dax @ Wx.T, dh_prev, x.T @ dax, h_prev.T @ dah, dax.sum(axis=0), dbh


_GRU_BACKWARD_MISTAKES = (
    (dict(direct=False),
     "dh_prev misses the direct path: h_next = (1 - z) * n + z * h_prev uses h_prev itself, "
     "not only through the gates' products with Wh."),
    (dict(same_n=True),
     "the n block of the h side got the same gradient as the x side: in the n block the "
     "h-side pre-activation h_prev Wh_n + bh_n was multiplied by r, so its gradient carries "
     "that factor too (the gradients of Wh_n, bh_n and the n path of dh_prev)."),
    (dict(reset_on_bias=False),
     "dbh's n block equals dbx's: bh_n sits inside the reset gate, r * (h_prev Wh_n + bh_n), "
     "so its gradient is not the same as bx_n's."),
)


def _gru_step_backward_case(seed: int, N: int, D: int, H: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    p = _params(rng, N, None, D, H, 3, two_biases=True)
    cache = nnlib.rnn.gru_step_forward(p["x"], p["h"], p["Wx"], p["Wh"], p["b"], p["bh"])[1]
    return p, cache, rng.normal(size=(N, H))


@exercise_check
def gru_step_backward(fn: Fn) -> None:
    """Visible checks of ``gru_step_backward(dh_next, cache) -> (dx, dh_prev, dWx, dWh, dbx,
    dbh)`` on a cache made by ``nnlib.rnn.gru_step_forward``:

    - it is your own code, not ``nnlib.rnn.gru_step_backward``;
    - it changes neither ``dh_next`` nor the cache, returns six values in this order (a message
      for a permutation) with the shapes of their variables;
    - targeted messages for the direct path h_prev -> h_next forgotten, the reset gate's
      factor left out of the h side of the n block, and bh_n treated like bx_n;
    - a gradient wrong in some gates only is named by its gate: the blocks r, z, n of ``dbx``,
      then of ``dbh``, are compared first;
    - every gradient equals the numerical gradient of ``sum(h_next * dh_next)`` (N = 3, D = 4,
      H = 2).
    """
    __tracebackhide__ = True
    ref = nnlib.rnn.gru_step_backward
    p, cache, dh = _gru_step_backward_case(11, 3, 4, 2)
    forbid_reference(fn, ref, args=(dh, cache), name="gru_step_backward")
    text = "gru_step_backward(dh_next, cache) with N=3, D=4, H=2"
    expected = ref(dh, cache)
    got = _grads(fn, (dh.copy(), copy.deepcopy(cache)), GRU_STEP_GRADS, text, expected,
                 ("dh_next", "cache"))
    for wrong_args, why in _GRU_BACKWARD_MISTAKES:
        wrong = _gru_step_grad_variant(dh, cache, **wrong_args)
        _require(not all(looks_like(a, b) for a, b in zip(got, wrong, strict=True)),
                 f"{text}: {why}")
    _gate_blocks(got[4], expected[4], "rzn", "dbx", text,
                 "what reaches the gate's output, times the slope of its own nonlinearity")
    _gate_blocks(got[5], expected[5], "rzn", "dbh", text,
                 "on the hidden side; in the n block, remember where r sits")

    def loss(**change: np.ndarray) -> float:
        q = {"x": p["x"], "h": p["h"], "Wx": p["Wx"], "Wh": p["Wh"], "bx": p["b"], "bh": p["bh"]}
        q.update(change)
        h, _ = nnlib.rnn.gru_step_forward(q["x"], q["h"], q["Wx"], q["Wh"], q["bx"], q["bh"])
        return float(np.sum(h * dh))

    numeric = {
        "dx": numerical_gradient(lambda v: loss(x=v), p["x"].copy()),
        "dh_prev": numerical_gradient(lambda v: loss(h=v), p["h"].copy()),
        "dWx": numerical_gradient(lambda v: loss(Wx=v), p["Wx"].copy()),
        "dWh": numerical_gradient(lambda v: loss(Wh=v), p["Wh"].copy()),
        "dbx": numerical_gradient(lambda v: loss(bx=v), p["b"].copy()),
        "dbh": numerical_gradient(lambda v: loss(bh=v), p["bh"].copy()),
    }
    _numeric_check(got, numeric, text, GRU_STEP_GRADS)
    _done("gru_step_backward")


def _gru_step_backward_hidden_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x, h, Wx, Wh, bx, bh = _gru_step_case(rng, "random" if kind == "extreme values" else kind)
    cache = nnlib.rnn.gru_step_forward(x, h, Wx, Wh, bx, bh)[1]
    return (rng.normal(size=h.shape) * (1e3 if kind == "extreme values" else 1.0), cache)


@exercise_check
def gru_step_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``gru_step_backward``: the six gradients equal
    ``nnlib.rnn.gru_step_backward``'s on caches made by ``nnlib.rnn.gru_step_forward`` (a batch
    of one, odd sizes, random, upstream gradients up to 1e3), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.rnn.gru_step_backward, _gru_step_backward_hidden_case,
                            name="gru_step_backward", seed=_seed("gru_step_backward"),
                            rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# GRU sequences
# ---------------------------------------------------------------------------------------------


def _gru_seq_reference(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                       bx: np.ndarray, bh: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    h = nnlib.rnn.gru_forward(x, h0, Wx, Wh, bx, bh)[0]
    return h, _gru_steps(x, h0, Wx, Wh, bx, bh)


@exercise_check
def gru_forward(fn: Fn) -> None:
    """Visible checks of ``gru_forward(x, h0, Wx, Wh, bx, bh) -> (h, cache)``:

    - it is your own code, calling neither ``nnlib.rnn.gru_forward`` nor
      ``nnlib.rnn.gru_step_forward``, and changes none of its inputs;
    - with T = 1 it equals one step;
    - on a sequence (N = 2, T = 5, D = 3, H = 4): h is batch-first (N, T, H), holds every
      step's state (messages for a time-major h, the last state only, and steps that all start
      from h0), and equals nnlib's;
    - the cache is the list of the T step caches, in time order, each equal to nnlib's.
    """
    __tracebackhide__ = True
    p = _params(np.random.default_rng(19), 2, 5, 3, 4, 3, two_biases=True)
    args = (p["x"], p["h"], p["Wx"], p["Wh"], p["b"], p["bh"])
    forbid_reference(fn, nnlib.rnn.gru_forward, nnlib.rnn.gru_step_forward, args=args,
                     name="gru_forward")
    names = ("x", "h0", "Wx", "Wh", "bx", "bh")
    one = tuple(a[:, :1] if k == 0 else a for k, a in enumerate(args))
    want_h, want_caches = _gru_seq_reference(*one)
    _check_sequence_forward(fn, _snapshot(one), want_h, want_caches, label="gru_forward",
                            text="gru_forward with T = 1", cache_names=GRU_CACHE,
                            arg_names=names, not_chained=np.full(want_h.shape, np.nan))
    want_h, want_caches = _gru_seq_reference(*args)
    unchained = np.stack([nnlib.rnn.gru_step_forward(p["x"][:, t], *args[1:])[0]
                          for t in range(5)], axis=1)
    _check_sequence_forward(fn, _snapshot(args), want_h, want_caches, label="gru_forward",
                            text="gru_forward(x, h0, Wx, Wh, bx, bh) with N=2, T=5, D=3, H=4",
                            cache_names=GRU_CACHE, arg_names=names, not_chained=unchained)
    _done("gru_forward")


def _gru_seq_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N, T, D, H = _sizes(rng, kind)
    p = _params(rng, N, T, D, H, 3, scale=30.0 if kind == "extreme values" else 1.0,
                two_biases=True)
    return p["x"], p["h"], p["Wx"], p["Wh"], p["b"], p["bh"]


@exercise_check
def gru_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``gru_forward``: h equals ``nnlib.rnn.gru_forward``'s and the cache is
    nnlib's list of step caches, on generated sequences (T = 1, a batch of one, odd sizes,
    random, saturating inputs), inputs unchanged."""
    __tracebackhide__ = True
    check_against_reference(fn, _gru_seq_reference, _gru_seq_case, name="gru_forward",
                            seed=_seed("gru_forward"), kinds=SEQ_KINDS,
                            compare=_seq_forward_view)


def _gru_bptt_variants(dh: np.ndarray, caches: Sequence[Any]) -> list[tuple[Any, str]]:
    step = nnlib.rnn.gru_step_backward
    N, T, H = dh.shape
    out = []
    for mode, why in (("last", _ONLY_LAST), ("nocarry", _NO_CARRY), ("single", _NOT_ACCUMULATED)):
        dx = np.zeros((N, T, caches[0][0].shape[1]))
        sums = [np.zeros_like(caches[0][6]), np.zeros_like(caches[0][7]),
                np.zeros(caches[0][6].shape[1]), np.zeros(caches[0][6].shape[1])]
        dnext = np.zeros((N, H))
        for t in range(T - 1, -1, -1):
            upstream = dh[:, t] if mode != "last" or t == T - 1 else 0.0
            carried = dnext if mode != "nocarry" else 0.0
            dx[:, t], dnext, *grads = step(upstream + carried, caches[t])
            sums = list(grads) if mode == "single" else [s + g for s, g in zip(sums, grads,
                                                                                 strict=True)]
        out.append(((dx, dnext, *sums), why))
    return out


@exercise_check
def gru_backward(fn: Fn) -> None:
    """Visible checks of ``gru_backward(dh, cache) -> (dx, dh0, dWx, dWh, dbx, dbh)`` on the
    list of step caches made by ``nnlib.rnn.gru_step_forward``:

    - it is your own code, calling neither ``nnlib.rnn.gru_backward`` nor
      ``nnlib.rnn.gru_step_backward``, and changes neither ``dh`` nor the caches;
    - it returns six values in this order with the shapes of their variables;
    - targeted messages for an upstream gradient given to the last step only, a gradient of
      the previous state not carried back, and weight gradients not summed over the steps;
    - every gradient equals the numerical gradient of ``sum(h * dh)`` (N = 2, T = 4, D = 3,
      H = 2).
    """
    __tracebackhide__ = True
    N, T, D, H = 2, 4, 3, 2
    p = _params(np.random.default_rng(23), N, T, D, H, 3, two_biases=True)
    args = (p["x"], p["h"], p["Wx"], p["Wh"], p["b"], p["bh"])
    caches = _gru_steps(*args)
    dh = np.random.default_rng(29).normal(size=(N, T, H))
    forbid_reference(fn, nnlib.rnn.gru_backward, nnlib.rnn.gru_step_backward,
                     args=(dh, caches), name="gru_backward")
    text = f"gru_backward(dh, cache) with N={N}, T={T}, D={D}, H={H}"
    expected = nnlib.rnn.gru_backward(dh, nnlib.rnn.gru_forward(*args)[1])
    got = _grads(fn, (dh.copy(), copy.deepcopy(caches)), GRU_GRADS, text, expected,
                 ("dh", "cache"))
    _bptt_mistakes(got, _gru_bptt_variants(dh, caches), text)

    def loss(k: int, v: np.ndarray) -> float:
        q = list(args)
        q[k] = v
        return float(np.sum(nnlib.rnn.gru_forward(*q)[0] * dh))

    numeric = {pname: numerical_gradient(lambda v, k=k: loss(k, v), args[k].copy())
               for k, pname in enumerate(("dx", "dh0", "dWx", "dWh", "dbx", "dbh"))}
    _numeric_check(got, numeric, text, GRU_GRADS)
    _done("gru_backward")


def _gru_bptt_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    args = _gru_seq_case(rng, "random" if kind == "extreme values" else kind)
    x, h0 = args[0], args[1]
    dh = rng.normal(size=(*x.shape[:2], h0.shape[1])) * (1e3 if kind == "extreme values" else 1)
    return dh, _gru_steps(*args), nnlib.rnn.gru_forward(*args)[1]


@exercise_check
def gru_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``gru_backward``: the six gradients equal ``nnlib.rnn.gru_backward``'s
    for the same sequences (T = 1, a batch of one, odd sizes, random, upstream gradients up to
    1e3), given nnlib's step caches; inputs unchanged."""
    __tracebackhide__ = True
    _seq_backward_hidden(fn, nnlib.rnn.gru_backward, _gru_bptt_case, name="gru_backward",
                         names=GRU_GRADS)
