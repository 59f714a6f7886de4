"""nncourse.checks.recurrent_networks_and_bptt: lesson 12's checks, in process.

The notebook's own solution cells pass the visible and the hidden checks; the nnlib references
score nothing; each classic mistake fails with the message that names its cause (a missing
tanh or tanh slope, Wh transposed, h_next where h_prev belongs, nothing flowing back from step
t + 1, the shared weights' gradient of one step only, the loop run forwards, the buffered
fancy-index ``+=`` of an embedding, a sum over one axis only, padding counted, the wrong
divisor, overflow); no message states a backward pass; hidden messages show no hidden value.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib
import nnlib.rnn
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import recurrent_networks_and_bptt as checks
from nncourse.testing import GradingError, hidden_seed

NAME = "12_recurrent_networks_and_bptt"
EXERCISES = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
             "embedding_forward", "embedding_backward", "temporal_linear_forward",
             "temporal_linear_backward", "temporal_softmax_cross_entropy_loss"]
#: How a backward pass would read in a message or docstring: none of these may appear.
DERIVED = re.compile(r"1 - h_next \*\* 2|1 - h_next\*\*2|\(1 - h\^2\)\s*\*\s*dh|da @ W[xh]\.T|"
                     r"x\.T @ da|h_prev\.T @ da|dh\[:, t\] \+ dh_prev|p - one_hot\(y\)\) \* "
                     r"mask|np\.add\.at\(dW, idx, dout\)", re.I)


@pytest.fixture(scope="module")
def sol() -> dict:
    """The setup imports and the solution cells of the source notebook, executed."""
    from nnlib.activations import log_softmax, softmax

    ns: dict = {"np": np, "nnlib": nnlib, "softmax": softmax, "log_softmax": log_softmax}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell) and cell.cell_type == "code":
            exec(solution_body(cell.source), ns)
    return ns


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies_without_the_answer(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 4, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__
    assert not DERIVED.search(doc), doc


def _fails(check, fn, pattern):
    with pytest.raises(GradingError, match=pattern) as info:
        check(fn)
    message = str(info.value)
    assert not DERIVED.search(message), message
    return message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_references_score_nothing(exercise):
    def wrapper(*args):
        return getattr(nnlib.rnn, exercise)(*args)

    _fails(getattr(checks, exercise), getattr(nnlib.rnn, exercise), "reference implementation")
    _fails(getattr(checks, exercise), wrapper, "reference implementation")


# --- rnn_step_forward ----------------------------------------------------------------------


def _step(pre):
    def fn(x, h_prev, Wx, Wh, b):
        h = pre(x, h_prev, Wx, Wh, b)
        return h, (x, h_prev, h, Wx, Wh)
    return fn


@pytest.mark.parametrize(("pre", "pattern"), [
    (lambda x, h, Wx, Wh, b: x @ Wx + h @ Wh + b, r"pre-activation a = .* itself"),
    (lambda x, h, Wx, Wh, b: np.tanh(x @ Wx + h @ Wh.T + b), r"Wh transposed"),
    (lambda x, h, Wx, Wh, b: np.tanh(x @ Wx + h @ Wh), r"without the bias"),
    (lambda x, h, Wx, Wh, b: 1 / (1 + np.exp(-(x @ Wx + h @ Wh + b))), r"sigmoid"),
    (lambda x, h, Wx, Wh, b: np.tanh(x @ Wx + b), r"without h_prev"),
])
def test_rnn_step_forward_mistakes_are_named(pre, pattern):
    msg = _fails(checks.rnn_step_forward, _step(pre), pattern)
    if "scalar" not in pattern:
        assert "Got" not in msg or "expected" in msg


def test_rnn_step_forward_cache_and_order_are_named():
    def cache_order(x, h_prev, Wx, Wh, b):
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        return h, (x, h, h_prev, Wx, Wh)

    _fails(checks.rnn_step_forward, cache_order, r"cache\[1\] .* should be h_prev")

    def cache_first(x, h_prev, Wx, Wh, b):
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        return (x, h_prev, h, Wx, Wh), h

    _fails(checks.rnn_step_forward, cache_first, r"cache first|has shape")

    def in_place(x, h_prev, Wx, Wh, b):
        h_prev += 0
        x *= 2
        return _step(lambda x, h, Wx, Wh, b: np.tanh(x @ Wx + h @ Wh + b))(x, h_prev, Wx, Wh, b)

    _fails(checks.rnn_step_forward, in_place, r"modified its input `x` in place")


# --- rnn_step_backward ---------------------------------------------------------------------


def _step_back(local, h_in="prev", db_axis=0):
    def fn(dh_next, cache):
        x, h_prev, h_next, Wx, Wh = cache
        da = dh_next * local(h_next)
        hh = h_prev if h_in == "prev" else h_next
        return da @ Wx.T, da @ Wh.T, x.T @ da, hh.T @ da, da.sum(axis=db_axis)
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_step_back(lambda h: 1.0), r"straight through the tanh"),
    (_step_back(lambda h: 1 - h), r"check the power of h_next"),
    (_step_back(lambda h: 1 - np.tanh(h) ** 2), r"already IS tanh"),
    (_step_back(lambda h: 1 - h ** 2, h_in="next"), r"h_prev, not h_next"),
])
def test_rnn_step_backward_mistakes_are_named(fn, pattern):
    _fails(checks.rnn_step_backward, fn, pattern)


def test_rnn_step_backward_shapes_order_and_transposes():
    right = _step_back(lambda h: 1 - h ** 2)

    def per_example_db(dh_next, cache):
        *rest, _ = right(dh_next, cache)
        x, h_prev, h_next, Wx, Wh = cache
        return (*rest, dh_next * (1 - h_next ** 2))

    def swapped(dh_next, cache):
        dx, dhp, dWx, dWh, db = right(dh_next, cache)
        return dhp, dx, dWx, dWh, db

    def transposed_dWh(dh_next, cache):
        dx, dhp, dWx, dWh, db = right(dh_next, cache)
        return dx, dhp, dWx, dWh.T, db

    _fails(checks.rnn_step_backward, per_example_db, r"one row per example")
    _fails(checks.rnn_step_backward, swapped, r"wrong order: they look like \(dh_prev, dx")
    _fails(checks.rnn_step_backward, transposed_dWh, r"dWh of .*transpose")
    _fails(checks.rnn_step_backward, lambda dh, c: right(dh, c)[:4], r"returned 4 values")


# --- rnn_forward -------------------------------------------------------------------------


def test_rnn_forward_mistakes_are_named(sol):
    step = sol["rnn_step_forward"]

    def run(x, h0, Wx, Wh, b, *, start="h0", carry=True, time_first=False):
        N, T, _ = x.shape
        h = np.zeros((N, 0 + T, Wh.shape[0]))
        caches = []
        state = h0 if start == "h0" else np.zeros_like(h0)
        for t in range(T):
            new, c = step(x[:, t], state, Wx, Wh, b)
            if carry:
                state = new
            h[:, t] = new
            caches.append(c)
        return (h.transpose(1, 0, 2) if time_first else h), caches

    _fails(checks.rnn_forward, lambda *a: run(*a, start="zeros"), r"starts from zeros|by hand")
    _fails(checks.rnn_forward, lambda *a: run(*a, carry=False), r"starts from h0|by hand")
    _fails(checks.rnn_forward, lambda *a: run(*a, time_first=True), r"time first|has shape")
    _fails(checks.rnn_forward, lambda *a: (run(*a)[0], tuple(run(*a)[1][:1])),
           r"list of the T = 5 step caches")


def test_rnn_forward_zero_start_is_named_when_the_worked_case_cannot_tell(sol):
    """The scalar worked example starts from h0 = 0, so a zero start passes it: the (2, 5, 4)
    case names the cause."""
    step = sol["rnn_step_forward"]

    def zeros_start(x, h0, Wx, Wh, b):
        state, hs, caches = np.zeros_like(h0), [], []
        for t in range(x.shape[1]):
            state, c = step(x[:, t], state, Wx, Wh, b)
            hs.append(state)
            caches.append(c)
        return np.stack(hs, axis=1), caches

    _fails(checks.rnn_forward, zeros_start, r"starts from zeros: start from the h0")


# --- rnn_backward ------------------------------------------------------------------------


def _bptt(sol, *, flow=True, accumulate=True, backwards=True):
    step = sol["rnn_step_backward"]

    def fn(dh, cache):
        N, T, H = dh.shape
        D = cache[0][0].shape[1]
        dx = np.zeros((N, T, D))
        grads = [np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)]
        carry = np.zeros((N, H))
        for t in (range(T - 1, -1, -1) if backwards else range(T)):
            g = step(dh[:, t] + (carry if flow else 0), cache[t])
            dx[:, t] = g[0]
            carry = g[1] if flow or t == 0 else carry
            if accumulate:
                grads = [a + b for a, b in zip(grads, g[2:], strict=True)]
            elif t == 0:
                grads = list(g[2:])
        return dx, (carry if flow else step(dh[:, 0], cache[0])[1]), *grads
    return fn


def test_rnn_backward_mistakes_are_named(sol):
    _fails(checks.rnn_backward, _bptt(sol, flow=False), r"two sources|flows back from step 2")
    _fails(checks.rnn_backward, _bptt(sol, accumulate=False), r"accumulates over all T")
    _fails(checks.rnn_backward, _bptt(sol, backwards=False), r"runs forwards in time|first")


def test_rnn_backward_shapes_and_in_place(sol):
    right = sol["rnn_backward"]

    def time_first_dx(dh, cache):
        dx, *rest = right(dh, cache)
        return (dx.transpose(1, 0, 2), *rest)

    def writes_dh(dh, cache):
        out = right(dh, cache)
        dh[:] = 0
        return out

    _fails(checks.rnn_backward, time_first_dx, r"dx of .* has shape|first differs")
    _fails(checks.rnn_backward, writes_dh, r"modified its input `dh` in place")


# --- embedding ---------------------------------------------------------------------------


def test_embedding_mistakes_are_named():
    def buffered(dout, cache):
        idx, shape = cache
        dW = np.zeros(shape)
        dW[idx] += dout
        return dW

    def from_idx(dout, cache):
        idx, shape = cache
        dW = np.zeros((idx.max() + 1, shape[1]))
        np.add.at(dW, idx, dout)
        return dW

    _fails(checks.embedding_backward, buffered, r"repeated indices do not add up")
    _fails(checks.embedding_backward, from_idx, r"even though row 4 of W is never used")
    _fails(checks.embedding_forward, lambda idx, W: (W.T[idx], (idx, W.shape)), r"IndexError")
    _fails(checks.embedding_forward, lambda idx, W: (W[idx], idx), r"cache .* should be the pair")


# --- temporal linear -----------------------------------------------------------------------


def test_temporal_linear_mistakes_are_named(sol):
    _fails(checks.temporal_linear_forward, lambda x, W, b: (x @ W, (x, W, b)), r"without the bias")
    _fails(checks.temporal_linear_forward, lambda x, W, b: (x @ W + b, (x, W)),
           r"tuple \(x, W, b\)")

    right = sol["temporal_linear_backward"]

    def db_batch_only(dout, cache):
        dx, dW, _ = right(dout, cache)
        return dx, dW, dout.sum(axis=0)

    def dW_per_step(dout, cache):
        x, W, b = cache
        dx, _, db = right(dout, cache)
        return dx, np.einsum("ntd,ntm->tdm", x, dout), db

    _fails(checks.temporal_linear_backward, db_batch_only, r"db of .* summed over one axis only")
    _fails(checks.temporal_linear_backward, dW_per_step, r"dW of .* summed over one axis only")
    _fails(checks.temporal_linear_backward,
           lambda d, c: (lambda r: (r[1], r[0], r[2]))(right(d, c)), r"wrong order")


# --- the loss ------------------------------------------------------------------------------


def _loss(*, mask_loss=True, mask_grad=True, divisor="N", stable=True):
    def fn(scores, y, mask):
        N, T, V = scores.shape
        flat = scores.reshape(N * T, V)
        if stable:
            logp = nnlib.activations.log_softmax(flat)
        else:
            e = np.exp(flat)
            logp = np.log(e / e.sum(axis=1, keepdims=True))
        rows = np.arange(N * T)
        m = mask.reshape(-1).astype(float)
        div = {"N": N, "real": m.sum(), "NT": N * T, "none": 1.0}[divisor]
        loss = -np.sum(logp[rows, y.reshape(-1)] * (m if mask_loss else 1.0)) / div
        d = np.exp(logp)
        d[rows, y.reshape(-1)] -= 1
        d = d * ((m if mask_grad else np.ones_like(m))[:, None]) / div
        return float(loss), d.reshape(N, T, V)
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_loss(mask_loss=False, mask_grad=False), r"counts the padded positions"),
    (_loss(divisor="real"), r"divided by the number of real positions"),
    (_loss(divisor="NT"), r"divided by N \* T"),
    (_loss(divisor="none"), r"not divided by N|times the expected value"),
    (_loss(mask_grad=False), r"not 0 at the padded positions"),
    (_loss(stable=False), r"not finite|NaN|inf"),
])
def test_loss_mistakes_are_named(fn, pattern):
    with np.errstate(all="ignore"):
        _fails(checks.temporal_softmax_cross_entropy_loss, fn, pattern)


def test_loss_as_an_array_is_named():
    def per_position(scores, y, mask):
        loss, d = _loss()(scores, y, mask)
        return np.full(scores.shape[:2], loss), d

    _fails(checks.temporal_softmax_cross_entropy_loss, per_position,
           r"returned an array of shape \(1, 2\) where the loss, one number")


# --- hidden checks -----------------------------------------------------------------------


def _seq_ref(dh, caches):
    return checks._reference_backward(dh, caches)


HIDDEN = [
    ("rnn_step_backward", nnlib.rnn.rnn_step_backward, checks._make_step_back_case),
    ("rnn_backward", _seq_ref, checks._make_seq_back_case),
    ("temporal_linear_backward", nnlib.rnn.temporal_linear_backward,
     checks._make_tl_back_case),
    ("temporal_softmax_cross_entropy_loss", nnlib.rnn.temporal_softmax_cross_entropy_loss,
     checks._make_loss_case),
    ("embedding_backward", checks._embed_reference, checks._make_embed_back_case),
]


@pytest.mark.parametrize(("exercise", "ref", "make"), HIDDEN, ids=[h[0] for h in HIDDEN])
def test_hidden_messages_show_no_hidden_value(exercise, ref, make):
    def slightly_off(*args):
        out = ref(*args)
        if isinstance(out, tuple):
            return tuple(o * (1 + 1e-3) + 1e-4 for o in out)
        return out * (1 + 1e-3) + 1e-4

    with pytest.raises(GradingError, match="hidden case") as info:
        getattr(checks, f"{exercise}_hidden")(slightly_off)
    message = str(info.value)
    rng = np.random.default_rng(hidden_seed(f"{checks.SLUG}/{exercise}"))
    args = make(rng, "batch of one")
    out = ref(*args)

    def flat(v):
        if isinstance(v, tuple | list):
            return np.concatenate([flat(u) for u in v] or [np.zeros(0)])
        arr = np.asarray(v)
        if not np.issubdtype(arr.dtype, np.floating):
            return np.zeros(0)   # labels, masks, shapes: small integers any message may show
        return np.ravel(arr)

    secret = np.concatenate([flat(args), flat(out)])
    shown = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", message)}
    assert not any(np.isclose(secret, s, rtol=1e-3, atol=0).any() for s in shown if s != 0)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_hidden_checks_catch_a_small_error(sol, exercise):
    """Every hidden check fails a function that is right except for one entry of one output."""
    right = sol[exercise]

    def off(*args):
        out = right(*args)
        first = out[0] if isinstance(out, tuple) else out
        if np.ndim(first) == 0:
            return (first * 1.01, *out[1:])
        first = np.array(first, dtype=float, copy=True)
        first.flat[-1] += 0.1
        return (first, *out[1:]) if isinstance(out, tuple) else first

    with pytest.raises(GradingError, match="hidden case"):
        getattr(checks, f"{exercise}_hidden")(off)


def test_no_visible_string_of_the_checks_states_a_backward_pass():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(checks))
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and isinstance(n.value, str)]
    leaks = [s for s in strings if DERIVED.search(s)]
    assert not leaks, leaks


# --- from the learner's report of 2026-12-07 -----------------------------------------------


def test_dh_prev_slips_in_the_step_backward_are_named():
    right = _step_back(lambda h: 1 - h ** 2)

    def no_transpose(dh_next, cache):
        x, h_prev, h_next, Wx, Wh = cache
        dx, _, dWx, dWh, db = right(dh_next, cache)
        return dx, (dh_next * (1 - h_next ** 2)) @ Wh, dWx, dWh, db

    def no_slope(dh_next, cache):
        x, h_prev, h_next, Wx, Wh = cache
        dx, _, dWx, dWh, db = right(dh_next, cache)
        return dx, dh_next @ Wh.T, dWx, dWh, db

    _fails(checks.rnn_step_backward, no_transpose, r"dh_prev was computed with Wh where its "
                                                   r"transpose belongs")
    _fails(checks.rnn_step_backward, no_slope, r"dh_prev skipped the slope of tanh")


def test_rnn_forward_reading_x_t_is_named(sol):
    step = sol["rnn_step_forward"]

    def batch_axis(x, h0, Wx, Wh, b):
        state, hs, caches = h0, [], []
        for t in range(x.shape[1]):
            state, c = step(x[t], state, Wx, Wh, b)
            hs.append(state)
            caches.append(c)
        return np.stack(hs, axis=1), caches

    _fails(checks.rnn_forward, batch_axis, r"x\[t\] indexes axis 0, the batch.*x\[:, t\]")


def test_rnn_backward_in_place_through_a_view_is_named(sol):
    step = sol["rnn_step_backward"]

    def through_view(dh, cache):
        N, T, H = dh.shape
        D = cache[0][0].shape[1]
        dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
        carry = np.zeros((N, H))
        for t in reversed(range(T)):
            g = dh[:, t]
            g += carry
            dx[:, t], carry, a, b_, c = step(g, cache[t])
            dWx, dWh, db = dWx + a, dWh + b_, db + c
        return dx, carry, dWx, dWh, db

    _fails(checks.rnn_backward, through_view, r"in place.*dh\[:, t\] is a VIEW of dh")


def test_embedding_cache_holding_w_is_named():
    _fails(checks.embedding_forward, lambda idx, W: (W[idx], (idx, W)),
           r"cache\[1\] of .* W itself: it should be W\.shape")


def test_temporal_linear_backward_3d_transpose_and_last_step_are_named(sol):
    right = sol["temporal_linear_backward"]

    def three_d_T(dout, cache):
        x, W, b = cache
        return dout @ W.T, x.T @ dout, dout.sum(axis=(0, 1))

    def last_step(dout, cache):
        x, W, b = cache
        dx, _, db = right(dout, cache)
        return dx, x[:, -1].T @ dout[:, -1], db

    _fails(checks.temporal_linear_backward, three_d_T, r"\.T reverses ALL the axes.*Reshape x")
    _fails(checks.temporal_linear_backward, last_step, r"only the last time step's contribution")


def test_loss_with_one_global_maximum_names_the_underflow():
    def global_max(scores, y, mask):
        z = scores - scores.max()
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        N = scores.shape[0]
        picked = np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
        loss = -(picked * mask).sum() / N
        p = np.exp(logp)
        p[np.arange(N)[:, None], np.arange(y.shape[1])[None, :], y] -= 1
        return float(loss), p * mask[..., None] / N

    _fails(checks.temporal_softmax_cross_entropy_loss, global_max, r"exp\(-2000\) = 0")
