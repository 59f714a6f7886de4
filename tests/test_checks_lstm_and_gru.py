"""nncourse.checks.lstm_and_gru: lesson 13's checks, run in process.

The notebook's own solution cells pass the visible and the hidden checks; the nnlib reference
is refused; each classic mistake fails with the message that names its cause (one case per
targeted message); the hidden messages show no values; no visible message of a backward pass
states the derived result.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

import nnlib.rnn
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import lstm_and_gru as checks
from nncourse.testing import GradingError

NAME = "13_lstm_and_gru"
EXERCISES = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
             "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]
REFERENCES = {name: getattr(nnlib.rnn, name) for name in EXERCISES}


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    from nnlib.activations import sigmoid

    ns: dict = {"np": np, "sigmoid": sigmoid}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


def message_of(check, fn) -> str:
    with pytest.raises(GradingError) as info:
        check(fn)
    return str(info.value)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 3, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_reference_is_refused(exercise):
    ref = REFERENCES[exercise]
    assert "reference implementation" in message_of(getattr(checks, exercise), ref)

    def wrapper(*args, **kwargs):
        return ref(*args, **kwargs)

    assert "reference implementation" in message_of(getattr(checks, exercise), wrapper)


@pytest.mark.parametrize("exercise", ["lstm_forward", "lstm_backward", "gru_forward",
                                      "gru_backward"])
def test_a_sequence_built_on_nnlibs_step_is_refused(exercise):
    """The sequence exercises build on the learner's own step, not on nnlib's."""
    if exercise == "lstm_forward":
        def fn(x, h0, c0, Wx, Wh, b):
            h, c, hs, caches = h0, c0, [], []
            for t in range(x.shape[1]):
                h, c, cache = nnlib.rnn.lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
                hs.append(h)
                caches.append(cache)
            return np.stack(hs, axis=1), caches
    elif exercise == "gru_forward":
        def fn(x, h0, Wx, Wh, bx, bh):
            h, hs, caches = h0, [], []
            for t in range(x.shape[1]):
                h, cache = nnlib.rnn.gru_step_forward(x[:, t], h, Wx, Wh, bx, bh)
                hs.append(h)
                caches.append(cache)
            return np.stack(hs, axis=1), caches
    else:
        step = getattr(nnlib.rnn, exercise.replace("_backward", "_step_backward"))

        def fn(dh, cache):
            return step(dh[:, -1], *([np.zeros_like(dh[:, -1])] if "lstm" in exercise else []),
                        cache[-1])
    assert "reference implementation" in message_of(getattr(checks, exercise), fn)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_stub_is_reported_as_not_written(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert "not written yet" in message_of(getattr(checks, exercise), stub)


def _nudged(out):
    """The first array of a result, its last entry off by 1."""
    first = np.array(out[0], dtype=float, copy=True)
    first.flat[-1] += 1.0
    return (first, *out[1:])


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_hidden_checks_fail_a_wrong_answer_without_showing_values(sol, exercise):
    right = sol[exercise]

    def wrong(*args, **kwargs):
        return _nudged(right(*args, **kwargs))

    text = message_of(getattr(checks, f"{exercise}_hidden"), wrong)
    assert "hidden case" in text
    assert "Got" not in text and "expected " not in text.split("(relative error")[0]
    assert not re.search(r"\d\.\d{5,}", text), text


@pytest.mark.parametrize("exercise", ["lstm_backward", "gru_backward"])
def test_the_sequence_backward_hidden_checks_name_the_value_and_case(sol, exercise):
    right = sol[exercise]

    def wrong(dh, cache):
        out = list(right(dh, cache))
        k = 4 if exercise == "lstm_backward" else 3  # dWh
        out[k] = out[k] * 2.0
        return tuple(out)

    text = message_of(getattr(checks, f"{exercise}_hidden"), wrong)
    assert text.startswith(f"dWh of {exercise} on hidden case 1 of 5 (T = 1)"), text
    assert "same factor" in text


def test_the_hidden_sequence_cases_start_with_one_step():
    rng = np.random.default_rng(0)
    x = checks._lstm_seq_case(rng, "T = 1")[0]
    assert x.shape[1] == 1
    dh, caches, seq_cache = checks._gru_bptt_case(rng, "batch of one")
    assert dh.shape[0] == 1 and len(caches) == dh.shape[1]


# --- the LSTM step ----------------------------------------------------------------------------


def _lstm_fwd_variant(**kw):
    def f(x, h, c, Wx, Wh, b):
        h2, c2 = checks._lstm_variant(x, h, c, Wx, Wh, b, **kw)
        return h2, c2, (x, h, c, np.zeros((len(x), Wx.shape[1])), np.tanh(c2), Wx, Wh)
    return f


def _lstm_fwd_with(sol_fn, change):
    def f(x, h, c, Wx, Wh, b):
        return change(sol_fn(x, h, c, Wx, Wh, b), (x, h, c, Wx, Wh, b))
    return f


def _pre_gates(out, args):
    x, h, c, Wx, Wh, b = args
    cache = list(out[2])
    cache[3] = x @ Wx + h @ Wh + b
    return out[0], out[1], tuple(cache)


LSTM_FORWARD_CASES = [
    (dict(order="ifog"), r"order i, f, o, g \(CS231n's\)"),
    (dict(order="figo"), r"first two blocks were swapped"),
    (dict(acts="ssss"), r"candidate g went through a sigmoid"),
    (dict(acts="tttt"), r"gates i, f and o went through tanh"),
    (dict(tanh_out=False), r"goes through tanh first"),
]


@pytest.mark.parametrize(("kw", "message"), LSTM_FORWARD_CASES)
def test_lstm_step_forward_mistakes(kw, message):
    assert re.search(message, message_of(checks.lstm_step_forward, _lstm_fwd_variant(**kw)))


@pytest.mark.parametrize(("change", "message"), [
    (_pre_gates, r"gates in the cache are the pre-activations"),
    (lambda out, args: (out[0], out[1], out[2][:6]), r"the contract is the tuple \(x, h_prev"),
    (lambda out, args: (out[0], out[1]), r"returned 2 values; expected 3"),
    (lambda out, args: (out[1], out[0], out[2]), r"c_next of lstm_step_forward"),
])
def test_lstm_step_forward_contract(sol, change, message):
    text = message_of(checks.lstm_step_forward, _lstm_fwd_with(sol["lstm_step_forward"], change))
    assert re.search(message, text), text


def test_lstm_step_forward_in_place(sol):
    def f(x, h, c, Wx, Wh, b):
        out = sol["lstm_step_forward"](x, h, c, Wx, Wh, b)
        c *= 0
        return out
    assert "modified its input `c_prev` in place" in message_of(checks.lstm_step_forward, f)


def _lstm_bwd_variant(**kw):
    def f(dh, dc, cache):
        return checks._lstm_step_grad_variant(dh, dc, cache, **kw)
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda dh, dc, cache: checks._lstm_step_grad_variant(dh, 0 * dc, cache),
     r"dc_prev does not depend on dc_next"),
    (_lstm_bwd_variant(tanh_prime=False), r"lost the slope of tanh"),
    (_lstm_bwd_variant(keep_f=False), r"dc_prev is the whole gradient reaching c_next"),
    (_lstm_bwd_variant(order="ifog"), r"stacked in the order i, f, o, g"),
])
def test_lstm_step_backward_mistakes(wrong, message):
    text = message_of(checks.lstm_step_backward, wrong)
    assert re.search(message, text), text


@pytest.mark.parametrize(("change", "message"), [
    (lambda out: (out[0], out[2], out[1], *out[3:]), r"wrong order: they look like \(dx, "
                                                     r"dc_prev, dh_prev"),
    (lambda out: (*out[:5], out[5][None, :].repeat(3, axis=0)),
     r"db of .* has shape \(3, 8\).*sum the bias gradient over the batch"),
    (lambda out: (out[0], out[1], out[2], out[3].T, out[4], out[5]),
     r"dWx of .* has shape \(8, 4\).*missing \.T"),
    (lambda out: out[:5], r"returned 5 values; expected 6"),
    (lambda out: (*out[:3], out[3] * 2, *out[4:]),
     r"dWx of .* compared with the numerical gradient.*same factor"),
])
def test_lstm_step_backward_contract(sol, change, message):
    own = sol["lstm_step_backward"]
    text = message_of(checks.lstm_step_backward, lambda dh, dc, cache: change(own(dh, dc, cache)))
    assert re.search(message, text), text


def test_lstm_step_backward_in_place(sol):
    own = sol["lstm_step_backward"]

    def f(dh, dc, cache):
        out = own(dh, dc, cache)
        cache[3][:] = 0
        return out
    assert "modified its input `cache` in place" in message_of(checks.lstm_step_backward, f)


# --- sequences -------------------------------------------------------------------------------


def _seq_forward_variant(step, mode, lstm):
    def f(x, *rest):
        states = list(rest[:2] if lstm else rest[:1])
        weights = rest[2:] if lstm else rest[1:]
        hs, caches = [], []
        for t in range(x.shape[1]):
            out = step(x[:, t], *states, *weights)
            if mode != "unchained":
                states = list(out[:-1])
            hs.append(out[0])
            caches.append(out[-1])
        if mode == "time-major":
            return np.stack(hs, axis=0), caches
        if mode == "last":
            return hs[-1], caches
        if mode == "one cache":
            return np.stack(hs, axis=1), caches[-1]
        return np.stack(hs, axis=1), caches
    return f


SEQ_FORWARD_CASES = [
    ("time-major", r"time-major \(T, N, H\)"),
    ("last", r"not only the last one"),
    ("unchained", r"every step started from the initial state"),
    ("one cache", r"should be the list of the 1 step caches|should be the list of the 5 step"),
]


@pytest.mark.parametrize(("mode", "message"), SEQ_FORWARD_CASES)
def test_lstm_forward_mistakes(sol, mode, message):
    text = message_of(checks.lstm_forward,
                      _seq_forward_variant(sol["lstm_step_forward"], mode, lstm=True))
    assert re.search(message, text), text


@pytest.mark.parametrize(("mode", "message"), SEQ_FORWARD_CASES)
def test_gru_forward_mistakes(sol, mode, message):
    text = message_of(checks.gru_forward,
                      _seq_forward_variant(sol["gru_step_forward"], mode, lstm=False))
    assert re.search(message, text), text


def _bptt(step, mode, lstm):
    """BPTT over the learner's step backward with one classic slip."""
    def f(dh, cache):
        N, T, H = dh.shape
        dxs = [None] * T
        carry = [np.zeros((N, H))] * (2 if lstm else 1)
        sums = None
        for t in range(T - 1, -1, -1):
            upstream = dh[:, t] if (mode != "last" or t == T - 1) else 0.0
            first = upstream + (carry[0] if mode != "nocarry" else 0.0)
            if mode == "nocarry_c":  # the cell state's gradient restarts from 0 at every step
                carry[1:] = [np.zeros((N, H))]
            out = step(first, *carry[1:], cache[t])
            n_states = 3 if lstm else 2
            dxs[t], carry = out[0], list(out[1:n_states])
            grads = out[n_states:]
            sums = list(grads) if (sums is None or mode == "single") else [
                s + g for s, g in zip(sums, grads, strict=True)]
        return (np.stack(dxs, axis=1), *carry, *sums)
    return f


BPTT_CASES = [
    ("last", r"only the last step received the upstream gradient"),
    ("nocarry", r"each step's backward pass started from dh\[:, t\] alone"),
    ("single", r"the weights' gradients come from a single step"),
]


@pytest.mark.parametrize(("mode", "message"), BPTT_CASES)
def test_lstm_backward_mistakes(sol, mode, message):
    text = message_of(checks.lstm_backward, _bptt(sol["lstm_step_backward"], mode, lstm=True))
    assert re.search(message, text), text


def test_lstm_backward_names_the_cell_state_not_carried(sol):
    """The lesson's two carries: dh carried but dc restarted from 0 at each step."""
    text = message_of(checks.lstm_backward,
                      _bptt(sol["lstm_step_backward"], "nocarry_c", lstm=True))
    assert "started from dc_next = 0" in text and "cell state" in text, text


@pytest.mark.parametrize(("mode", "message"), BPTT_CASES)
def test_gru_backward_mistakes(sol, mode, message):
    text = message_of(checks.gru_backward, _bptt(sol["gru_step_backward"], mode, lstm=False))
    assert re.search(message, text), text


def test_sequence_backward_contract(sol):
    own = sol["lstm_backward"]
    text = message_of(checks.lstm_backward, lambda dh, cache: own(dh, cache)[:5])
    assert "returned 5 values; expected 6" in text

    def inplace(dh, cache):
        out = own(dh, cache)
        dh *= 2
        return out
    assert "modified its input `dh` in place" in message_of(checks.lstm_backward, inplace)
    gru = sol["gru_backward"]
    text = message_of(checks.gru_backward,
                      lambda dh, cache: (*gru(dh, cache)[:4], gru(dh, cache)[5],
                                         gru(dh, cache)[4]))
    assert "wrong order" in text and "(dx, dh0, dWx, dWh, dbh, dbx)" in text


# --- the GRU step ------------------------------------------------------------------------------


def _gru_fwd_variant(**kw):
    def f(x, h, Wx, Wh, bx, bh):
        z = np.zeros_like(h)
        return checks._gru_variant(x, h, Wx, Wh, bx, bh, **kw), (x, h, z, z, z, z, Wx, Wh)
    return f


@pytest.mark.parametrize(("kw", "message"), [
    (dict(blend="swapped"), r"z is the share of the OLD state kept"),
    (dict(order="zrn"), r"first two blocks were swapped: the order is r, z, n"),
])
def test_gru_step_forward_mistakes(kw, message):
    text = message_of(checks.gru_step_forward, _gru_fwd_variant(**kw))
    assert re.search(message, text), text


@pytest.mark.parametrize(("reset", "message"), [
    ("before", r"N=3, D=4, H=2\): the reset gate multiplied h_prev before the product"),
    ("bias outside", r"N=3, D=4, H=2\): bh_n was added outside the reset gate"),
])
def test_gru_reset_slips_are_told_apart_with_two_units(sol, reset, message):
    own = sol["gru_step_forward"]

    def f(x, h, Wx, Wh, bx, bh):
        if h.shape[1] == 1:  # right where both slips give the same number
            return own(x, h, Wx, Wh, bx, bh)
        return _gru_fwd_variant(reset=reset)(x, h, Wx, Wh, bx, bh)
    text = message_of(checks.gru_step_forward, f)
    assert re.search(message, text), text


@pytest.mark.parametrize("reset", ["before", "bias outside"])
def test_gru_reset_slips_are_named_on_the_one_unit_example_too(sol, reset):
    """With H = 1 both reset-gate slips give the same h_next: the message covers both."""
    own = sol["gru_step_forward"]

    def f(x, h, Wx, Wh, bx, bh):
        if h.shape[1] == 1:
            return _gru_fwd_variant(reset=reset)(x, h, Wx, Wh, bx, bh)
        return own(x, h, Wx, Wh, bx, bh)
    assert "reset gate was not applied to the whole h_prev Wh_n + bh_n" in message_of(
        checks.gru_step_forward, f)


def test_gru_step_forward_cache_contract(sol):
    own = sol["gru_step_forward"]

    def no_hn(*args):
        h, cache = own(*args)
        return h, cache[:5] + cache[6:]
    assert "the contract is the tuple (x, h_prev, r, z, n, hn, Wx, Wh)" in message_of(
        checks.gru_step_forward, no_hn)

    def hn_after_reset(*args):
        h, cache = own(*args)
        return h, (*cache[:5], cache[2] * cache[5], *cache[6:])
    assert "cache item 5 (hn)" in message_of(checks.gru_step_forward, hn_after_reset)


@pytest.mark.parametrize(("slip", "on_the_example", "on_the_batch"), [
    ("after", "after the reset gate, r * (h_prev Wh_n + bh_n), or like h_prev Wh_n without",
     "it looks like the product after the reset gate, r * (h_prev Wh_n + bh_n). The"),
    ("no bias", "after the reset gate, r * (h_prev Wh_n + bh_n), or like h_prev Wh_n without",
     "it looks like h_prev Wh_n without its bias bh_n. The"),
])
def test_gru_cache_hn_slips_are_named(sol, slip, on_the_example, on_the_batch):
    """The learner's report: hn cached after the reset gate or without bh_n got the generic
    '0.5 times the expected value ... 1/N' message (a coincidence of r = 0.5)."""
    own = sol["gru_step_forward"]

    def wrong(x, h, Wx, Wh, bx, bh):
        out, cache = own(x, h, Wx, Wh, bx, bh)
        H = h.shape[1]
        hn = cache[2] * cache[5] if slip == "after" else h @ Wh[:, 2 * H:]
        return out, (*cache[:5], hn, *cache[6:])
    text = message_of(checks.gru_step_forward, wrong)
    assert "cache item 5 (hn)" in text and on_the_example in text, text
    assert "1/N" not in text and "BEFORE the reset gate" in text

    def wrong_on_the_batch(x, h, Wx, Wh, bx, bh):
        return (own if h.shape[1] == 1 else wrong)(x, h, Wx, Wh, bx, bh)
    text = message_of(checks.gru_step_forward, wrong_on_the_batch)
    assert "N=3, D=4, H=2): " + on_the_batch in text, text


def _lstm_gate_slip(gate):
    """lstm_step_backward with one gate-local slip: only that gate's block of db is wrong."""
    def f(dh, dc, cache):
        x, h_prev, c_prev, gates, tanh_c, Wx, Wh = cache
        H = h_prev.shape[1]
        i, f_, g, o = (gates[:, k * H:(k + 1) * H] for k in range(4))
        dcell = dc + dh * o * (1 - tanh_c**2)
        parts = [dcell * g * i * (1 - i), dcell * c_prev * f_ * (1 - f_),
                 dcell * i * (1 - g * g), dh * tanh_c * o * (1 - o)]
        if gate == "g":  # a sigmoid slope on the tanh candidate
            parts[2] = dcell * i * g * (1 - g)
        else:  # the output gate's gradient taken from c_prev instead of tanh(c_next)
            parts[3] = dh * c_prev * o * (1 - o)
        da = np.concatenate(parts, axis=1)
        return (da @ Wx.T, da @ Wh.T, dcell * f_, x.T @ da, h_prev.T @ da, da.sum(axis=0))
    return f


@pytest.mark.parametrize(("gate", "message"), [
    ("g", r"the g block of db differs from the numerical gradient, while the i, f, o blocks "
          r"are right"),
    ("o", r"the o block of db differs .* the i, f, g blocks are right"),
])
def test_lstm_step_backward_names_the_gate_of_a_local_slip(gate, message):
    text = message_of(checks.lstm_step_backward, _lstm_gate_slip(gate))
    assert re.search(message, text), text
    assert "dx of" not in text


def _gru_gate_slip(slip):
    def f(dh, cache):
        x, h_prev, r, z, n, hn, Wx, Wh = cache
        dan = dh * (1 - z) * (1 - n * n)
        daz = dh * (h_prev - n) * z * (1 - z)
        dar = dan * hn * r * (1 - r)
        if slip == "tanh slope on r":
            dar = dan * hn * (1 - r * r)
        elif slip == "dz sign":
            daz = -daz
        elif slip == "dr from h_prev":
            dar = dan * h_prev * r * (1 - r)
        dax = np.concatenate([dar, daz, dan], axis=1)
        dah = np.concatenate([dar, daz, dan * r], axis=1)
        return (dax @ Wx.T, dah @ Wh.T + dh * z, x.T @ dax, h_prev.T @ dah, dax.sum(axis=0),
                dah.sum(axis=0))
    return f


@pytest.mark.parametrize(("slip", "message"), [
    ("tanh slope on r", r"the r block of dbx differs .* the z, n blocks are right"),
    ("dz sign", r"the z block of dbx differs .* the r, n blocks are right"),
    ("dr from h_prev", r"the r block of dbx differs"),
])
def test_gru_step_backward_names_the_gate_of_a_local_slip(slip, message):
    text = message_of(checks.gru_step_backward, _gru_gate_slip(slip))
    assert re.search(message, text), text
    assert "dx of" not in text


def test_gru_step_backward_names_a_slip_of_the_hidden_side_n_block(sol):
    """dbx right, dbh wrong in the n block only (r squared on the hidden side)."""
    own = sol["gru_step_backward"]

    def f(dh, cache):
        out = list(own(dh, cache))
        r, H = cache[2], cache[1].shape[1]
        dbh = out[5].copy()
        dbh[2 * H:] = (dh * (1 - cache[3]) * (1 - cache[4] ** 2) * r * r).sum(axis=0)
        out[5] = dbh
        return tuple(out)
    text = message_of(checks.gru_step_backward, f)
    assert "the n block of dbh differs" in text and "the r, z blocks are right" in text, text


def test_a_wrong_factor_on_every_block_keeps_the_generic_message(sol):
    """All blocks wrong (db averaged over the batch): the constant-factor diagnosis stays."""
    own = sol["lstm_step_backward"]
    text = message_of(checks.lstm_step_backward,
                      lambda dh, dc, cache: (*own(dh, dc, cache)[:5], own(dh, dc, cache)[5] / 3))
    assert "block" not in text and "db of" in text, text


def _gru_bwd_variant(**kw):
    def f(dh, cache):
        return checks._gru_step_grad_variant(dh, cache, **kw)
    return f


@pytest.mark.parametrize(("kw", "message"), [
    (dict(direct=False), r"dh_prev misses the direct path"),
    (dict(same_n=True), r"the n block of the h side got the same gradient as the x side"),
    (dict(reset_on_bias=False), r"dbh's n block equals dbx's"),
])
def test_gru_step_backward_mistakes(kw, message):
    text = message_of(checks.gru_step_backward, _gru_bwd_variant(**kw))
    assert re.search(message, text), text


def test_gru_step_backward_contract(sol):
    own = sol["gru_step_backward"]
    text = message_of(checks.gru_step_backward,
                      lambda dh, cache: (*own(dh, cache)[:4], own(dh, cache)[5],
                                         own(dh, cache)[4]))
    assert "wrong order" in text
    text = message_of(checks.gru_step_backward,
                      lambda dh, cache: (own(dh, cache)[0] * -1, *own(dh, cache)[1:]))
    assert "dx of gru_step_backward" in text and "wrong sign" in text


# --- no derived result in a message ------------------------------------------------------------

DERIVED_FORMS = [
    r"o\s*\*\s*\(1\s*-\s*tanh", r"dc\s*\*\s*f\b", r"g\s*\*\s*i\s*\*\s*\(1", r"i\s*\(1\s*-\s*i\)",
    r"\(h_prev\s*-\s*n\)", r"dh_next\s*\*\s*z", r"\(1\s*-\s*n\s*\*\*?\s*2?", r"1 - n\^2",
    r"r\s*\*\s*da_n", r"da_n\s*\*\s*r",
]

BACKWARD_MISTAKES = [
    *[(checks.lstm_step_backward, _lstm_bwd_variant(**kw)) for kw in (
        {"tanh_prime": False}, {"keep_f": False}, {"order": "ifog"})],
    *[(checks.gru_step_backward, _gru_bwd_variant(**kw)) for kw in (
        {"direct": False}, {"same_n": True}, {"reset_on_bias": False})],
    *[(checks.lstm_step_backward, _lstm_gate_slip(gate)) for gate in "go"],
    *[(checks.gru_step_backward, _gru_gate_slip(slip)) for slip in (
        "tanh slope on r", "dz sign", "dr from h_prev")],
]


@pytest.mark.parametrize(("check", "wrong"), BACKWARD_MISTAKES)
def test_messages_of_derivations_do_not_state_the_result(check, wrong):
    text = message_of(check, wrong)
    for form in DERIVED_FORMS:
        assert not re.search(form, text), f"{form!r} in: {text}"


@pytest.mark.parametrize("exercise", ["lstm_step_backward", "lstm_backward",
                                      "gru_step_backward", "gru_backward"])
def test_check_docstrings_do_not_state_the_result(exercise):
    doc = getattr(checks, exercise).__doc__ + getattr(checks, f"{exercise}_hidden").__doc__
    for form in DERIVED_FORMS:
        assert not re.search(form, doc), f"{form!r} in help(checks.{exercise})"


def test_checks_do_not_change_the_callers_arrays(sol):
    """The visible checks copy what they hand over: a solution that writes into its inputs is
    named, and the module's worked examples stay as they were."""
    before = copy.deepcopy((checks._LX, checks._LC, checks._GX, checks._GBH))
    for exercise in EXERCISES:
        getattr(checks, exercise)(sol[exercise])
    after = (checks._LX, checks._LC, checks._GX, checks._GBH)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
