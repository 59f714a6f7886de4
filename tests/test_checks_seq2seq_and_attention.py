"""nncourse.checks.seq2seq_and_attention: lesson 14's checks, in process.

The notebook's own solution cells pass the visible and the hidden checks; the nnlib references
(and wrappers of them) score nothing; each classic mistake fails with the message that names
its cause (no scale, 1/E, softmax over the queries, the mask ignored, inverted or set to 0,
overflow, k.T with leading dimensions, the cache order; dv transposed, the softmax Jacobian's
diagonal only, the scale missing or twice, dq and dk swapped; sine and cosine swapped or in
halves, i / E, positions from 1; a missing output projection or bias, q and k swapped, heads
scaled by 1/sqrt(E), time steps mixed between heads, the mask ignored); no message states the
backward pass; hidden messages show no hidden value.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib.attention as att
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import seq2seq_and_attention as checks
from nncourse.testing import GradingError, hidden_seed

NAME = "14_seq2seq_and_attention"
EXERCISES = ["scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
             "positional_encoding", "multihead_self_attention", "greedy_decode",
             "decoder_attention_forward", "decoder_attention_backward", "teacher_forcing_batch"]
#: How the backward pass would read in a message or docstring: none of these may appear.
DERIVED = re.compile(r"dP - |g_m - g|sum\(P \* dP|\(dP - |dS @ k|dS\^T @ q|P\^T @ dout|"
                     r"p_m\s*\(g", re.I)


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed."""
    ns: dict = {"np": np}
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


def _mha_ref(x, W_qkv, b_qkv, W_o, b_o, num_heads, mask=None):
    mha = att.MultiheadAttention(x.shape[-1], num_heads, rng=np.random.default_rng(0))
    mha.in_proj_weight.data[...] = W_qkv
    mha.in_proj_bias.data[...] = b_qkv
    mha.out_proj.weight.data[...] = W_o
    mha.out_proj.bias.data[...] = b_o
    return mha(x, x, x, attn_mask=None if mask is None else ~mask, average_attn_weights=False)


REFS = {
    "scaled_dot_product_attention_forward": att.scaled_dot_product_attention_forward,
    "scaled_dot_product_attention_backward": att.scaled_dot_product_attention_backward,
    "positional_encoding": att.positional_encoding,
    "multihead_self_attention": _mha_ref,
    "greedy_decode": checks._ref_greedy,
    "decoder_attention_forward": att.decoder_attention_forward,
    "decoder_attention_backward": att.decoder_attention_backward,
    "teacher_forcing_batch": checks._ref_teacher_forcing,
}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_references_score_nothing(exercise):
    ref = REFS[exercise]

    def wrapper(*args):
        return ref(*args)

    if exercise not in ("multihead_self_attention", "greedy_decode"):
        _fails(getattr(checks, exercise), ref, "reference implementation")
    _fails(getattr(checks, exercise), wrapper, "reference implementation")


# --- scaled_dot_product_attention_forward -------------------------------------------------


def _sdpa(scale_fn=lambda E: 1 / np.sqrt(E), axis=-1, fill=-np.inf, invert=False,
          stable=True, transpose_all=False, cache_order=(0, 1, 2, 3, 4), use_mask=True,
          softmax=True):
    def fn(q, k, v, mask=None):
        c = scale_fn(q.shape[-1])
        kt = k.T if transpose_all else np.swapaxes(k, -1, -2)
        s = q @ kt * c
        if mask is not None and use_mask:
            s = np.where(~mask if invert else mask, s, fill)
        if softmax:
            if stable:
                s = s - s.max(axis=axis, keepdims=True)
            e = np.exp(s)
            w = e / e.sum(axis=axis, keepdims=True)
        else:
            w = s
        parts = (q, k, v, w, c)
        return w @ v, tuple(parts[i] for i in cache_order)
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_sdpa(scale_fn=lambda E: 1.0), "without the scale"),
    (_sdpa(scale_fn=lambda E: 1 / E), "scaled by 1/E"),
    (None, r"scaled by 1/sqrt\(Tk\)"),
    (_sdpa(scale_fn=lambda E: np.sqrt(E)), "multiplied by sqrt"),
    (_sdpa(axis=-2), "softmax over the queries"),
    (_sdpa(softmax=False), "without the softmax"),
    (_sdpa(use_mask=False), "without the mask"),
    (_sdpa(fill=0.0), "set to 0"),
    (_sdpa(invert=True), "masked the wrong keys"),
    (_sdpa(stable=False), "overflows"),
    (_sdpa(transpose_all=True), "swapaxes"),
    (_sdpa(cache_order=(0, 1, 2, 4, 3)), r"cache\[3\]"),
])
def test_sdpa_forward_mistakes_are_named(fn, pattern):
    import warnings

    if fn is None:  # the scale from the number of keys: 1/sqrt(Tk), told apart from 1/E
        base = _sdpa()

        def fn(q, k, v, mask=None):
            return base(q * np.sqrt(q.shape[-1] / k.shape[-2]), k, v, mask)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fails(checks.scaled_dot_product_attention_forward, fn, pattern)


def _sdpa_boolean_indexing(q, k, v, mask=None):
    """Right with a mask of the scores' full shape only: scores[~mask] = -inf."""
    c = 1 / np.sqrt(q.shape[-1])
    s = q @ np.swapaxes(k, -1, -2) * c
    if mask is not None:
        s = s.copy()
        s[~mask] = -np.inf
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, (q, k, v, w, c)


def test_sdpa_forward_boolean_indexing_fails_on_a_broadcast_mask_visibly_and_hidden():
    message = _fails(checks.scaled_dot_product_attention_forward, _sdpa_boolean_indexing,
                     r"mask \(4, 5\) has fewer axes than the scores \(2, 3, 4, 5\).*broadcast")
    assert "IndexError" in message and "scores[~mask]" in message
    with pytest.raises(GradingError, match="hidden case"):
        checks.scaled_dot_product_attention_forward_hidden(_sdpa_boolean_indexing)


def test_sdpa_forward_a_length_one_mask_axis_is_named():
    def full_shape_for_leading_dims_only(q, k, v, mask=None):
        if mask is not None and mask.ndim < q.ndim:  # a (1, Tk) mask stays as it is
            mask = np.broadcast_to(mask, q.shape[:-1] + (k.shape[-2],))
        return _sdpa_boolean_indexing(q, k, v, mask)

    _fails(checks.scaled_dot_product_attention_forward, full_shape_for_leading_dims_only,
           r"mask \(1, 5\) has length-1 axes, unlike the scores \(3, 5\).*broadcast")


def test_sdpa_forward_hidden_always_has_a_broadcast_mask():
    for seed in range(40):
        q, k, v, mask = checks._make_forward_case(np.random.default_rng(seed), "odd sizes")
        assert mask is not None and mask.shape in ((q.shape[-2], k.shape[-2]),
                                                   (1, k.shape[-2]))
        assert q.ndim == 3  # broadcast against a leading dimension, or over the queries


def test_sdpa_forward_return_order_is_named(sol):
    right = sol["scaled_dot_product_attention_forward"]

    def cache_first(q, k, v, mask=None):
        out, cache = right(q, k, v, mask)
        return cache, out

    _fails(checks.scaled_dot_product_attention_forward, cache_first,
           r"return order is \(out, cache\)")


def test_sdpa_forward_in_place_and_arity_are_named(sol):
    right = sol["scaled_dot_product_attention_forward"]

    def scales_q_in_place(q, k, v, mask=None):
        q /= 1.0 + 1e-3
        return right(q, k, v, mask)

    _fails(checks.scaled_dot_product_attention_forward, scales_q_in_place, "in place")
    _fails(checks.scaled_dot_product_attention_forward,
           lambda q, k, v, mask=None: right(q, k, v, mask)[0], "single ndarray")


# --- scaled_dot_product_attention_backward -------------------------------------------------


def _back(dv_t=True, full_jacobian=True, scale_power=1, swap=False, diagonal=False):
    def fn(dout, cache):
        q, k, v, P, c = cache
        dv = (np.swapaxes(P, -1, -2) if dv_t else P) @ dout
        dP = dout @ np.swapaxes(v, -1, -2)
        dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True)) if full_jacobian else P * dP
        if diagonal:
            dS = P * (1 - P) * dP
        dq = c ** scale_power * dS @ k
        dk = c ** scale_power * np.swapaxes(dS, -1, -2) @ q
        return (dk, dq, dv) if swap else (dq, dk, dv)
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_back(dv_t=False), "raised|shape"),
    (_back(full_jacobian=False), "as if it were an elementwise function"),
    (_back(diagonal=True), "only the diagonal of the softmax Jacobian.*off-diagonal"),
    (_back(scale_power=0), "missing the scale"),
    (_back(scale_power=2), "scale twice"),
    (_back(swap=True), "shape"),
])
def test_sdpa_backward_mistakes_are_named(fn, pattern):
    _fails(checks.scaled_dot_product_attention_backward, fn, pattern)


def test_sdpa_backward_gradient_check_catches_a_wrong_mask_case(sol):
    right = sol["scaled_dot_product_attention_backward"]

    def forgets_the_leading_axes(dout, cache):
        q, k, v, P, c = cache
        if q.ndim > 2:
            return right(dout, cache)[0] * 0, right(dout, cache)[1], right(dout, cache)[2]
        return right(dout, cache)

    _fails(checks.scaled_dot_product_attention_backward, forgets_the_leading_axes,
           "gradient check")


def test_sdpa_backward_in_place_is_named(sol):
    right = sol["scaled_dot_product_attention_backward"]

    def scales_dout(dout, cache):
        dout *= 1.0
        dout += 0.0
        cache[3][...] = cache[3] * 1.0001
        return right(dout, cache)

    _fails(checks.scaled_dot_product_attention_backward, scales_dout, "in place")


# --- positional_encoding -------------------------------------------------------------------


def _pe(swap=False, halves=False, exponent=2, start=0, odd_ok=True):
    def fn(T, E):
        t = np.arange(T)[:, None] + start
        ang = t / 10000 ** (exponent * np.arange((E + 1) // 2) / E)
        if halves:
            return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)[:, :E]
        pe = np.zeros((T, E if odd_ok else E + E % 2))
        first, second = (np.cos, np.sin) if swap else (np.sin, np.cos)
        pe[:, 0::2] = first(ang)
        pe[:, 1::2] = second(ang)[:, : pe.shape[1] // 2]
        return pe
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_pe(swap=True), "sin 0, cos 0|swapped"),
    (_pe(halves=True), "first half"),
    (_pe(exponent=1), "i / E"),
    (_pe(start=1), "from 1|sin 0"),
    (_pe(odd_ok=False), "odd E"),
])
def test_positional_encoding_mistakes_are_named(fn, pattern):
    _fails(checks.positional_encoding, fn, pattern)


def test_positional_encoding_swap_is_named_when_the_first_row_is_right():
    base = _pe()

    def swapped_after_first(T, E):
        pe = base(T, E)
        if T > 1:
            pe = _pe(swap=True)(T, E)
        return pe

    _fails(checks.positional_encoding, swapped_after_first, "swapped")


# --- multihead_self_attention ----------------------------------------------------------------


def _mhsa(sol, out_bias=True, out_proj=True, swap_qk=False, in_bias=True, head_scale=True,
          bad_split=False, use_mask=True):
    sdpa = sol["scaled_dot_product_attention_forward"]

    def fn(x, W_qkv, b_qkv, W_o, b_o, num_heads, mask=None):
        N, T, E = x.shape
        d = E // num_heads
        qkv = x @ W_qkv + (b_qkv if in_bias else 0)
        blocks = [qkv[..., i * E:(i + 1) * E] for i in range(3)]
        if swap_qk:
            blocks[0], blocks[1] = blocks[1], blocks[0]

        def split(a):
            if bad_split:
                return a.reshape(N, num_heads, T, d)
            return a.reshape(N, T, num_heads, d).transpose(0, 2, 1, 3)

        q, k, v = (split(b) for b in blocks)
        if not head_scale:
            q = q * np.sqrt(d) / np.sqrt(E)
        o, cache = sdpa(q, k, v, mask if use_mask else None)
        o = (o.reshape(N, T, E) if bad_split else o.transpose(0, 2, 1, 3).reshape(N, T, E))
        out = (o @ W_o if out_proj else o) + (b_o if out_bias and out_proj else 0)
        return out, cache[3]
    return fn


@pytest.mark.parametrize(("options", "pattern"), [
    (dict(out_bias=False), "output bias"),
    (dict(out_proj=False), "output projection"),
    (dict(swap_qk=True), "q and k swapped"),
    (dict(in_bias=False), "without the bias b_qkv"),
    (dict(head_scale=False), r"1/sqrt\(E / heads\)"),
    (dict(bad_split=True), "mix the time steps"),
    (dict(use_mask=False), "ignores the mask"),
])
def test_multihead_mistakes_are_named(sol, options, pattern):
    _fails(checks.multihead_self_attention, _mhsa(sol, **options), pattern)


def test_multihead_with_a_section_1_attention_that_cannot_broadcast_blames_section_1():
    ns = {"np": np, "scaled_dot_product_attention_forward": _sdpa_boolean_indexing}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell) and "def multihead_self_attention" in cell.source:
            exec(solution_body(cell.source), ns)
    _fails(checks.multihead_self_attention, ns["multihead_self_attention"],
           r"causal mask \(3, 3\).*IndexError.*Your scaled_dot_product_attention_forward of "
           "section 1 fails too.*cause is in section 1")


def test_multihead_weights_averaged_over_heads_is_named(sol):
    right = sol["multihead_self_attention"]

    def averaged(*args, **kwargs):
        out, w = right(*args, **kwargs)
        return out, w.mean(axis=1)

    _fails(checks.multihead_self_attention, averaged, r"\(N, heads, T, T\)")


# --- hidden checks ----------------------------------------------------------------------------


def _fwd_ref(q, k, v, mask):
    out, cache = att.scaled_dot_product_attention_forward(q, k, v, mask)
    return out, cache


HIDDEN = [
    ("scaled_dot_product_attention_forward", _fwd_ref, checks._make_forward_case),
    ("scaled_dot_product_attention_backward", att.scaled_dot_product_attention_backward,
     checks._make_backward_case),
    ("positional_encoding", att.positional_encoding, checks._make_pe_case),
    ("multihead_self_attention", _mha_ref, checks._make_mhsa_case),
    ("greedy_decode", checks._ref_greedy, checks._make_greedy_case),
]


@pytest.mark.parametrize(("exercise", "ref", "make"), HIDDEN, ids=[h[0] for h in HIDDEN])
def test_hidden_messages_show_no_hidden_value(exercise, ref, make):
    def slightly_off(*args):
        out = ref(*args)
        if exercise == "scaled_dot_product_attention_forward":
            return out[0] * (1 + 1e-3) + 1e-4, out[1]
        if isinstance(out, tuple):
            return tuple(o * (1 + 1e-3) + 1e-4 for o in out)
        return out * (1 + 1e-3) + 1e-4

    if exercise == "greedy_decode":
        def slightly_off(step, h0, start, num_steps):  # noqa: F811 (tokens: integers)
            out = checks._ref_greedy(step, h0, start, num_steps)
            return (out + 1) % 2

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
            return np.zeros(0)
        return np.ravel(arr)

    secret = np.concatenate([flat(args), flat(out)])
    # a relative error is not a hidden value (1.00e+00 would match a cos 0 of the encoding)
    message = re.sub(r"relative error \S+", "", message)
    shown = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", message)}
    assert not any(np.isclose(secret, s, rtol=1e-3, atol=0).any() for s in shown if s != 0)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_hidden_checks_catch_a_small_error(sol, exercise):
    """Every hidden check fails a function that is right except for one entry of one output."""
    right = sol[exercise]

    def off(*args):
        out = right(*args)
        first = out[0] if isinstance(out, tuple) else out
        first = np.array(first, dtype=float, copy=True)
        first.flat[-1] += 0.1 if exercise != "greedy_decode" else 1
        return (first, *out[1:]) if isinstance(out, tuple) else first

    with pytest.raises(GradingError, match="hidden case"):
        getattr(checks, f"{exercise}_hidden")(off)


def test_hidden_forward_checks_the_weights_too(sol):
    right = sol["scaled_dot_product_attention_forward"]

    def unnormalised_cache(q, k, v, mask=None):
        out, cache = right(q, k, v, mask)
        return out, cache[:3] + (cache[3] * 2, cache[4])

    with pytest.raises(GradingError, match="returned value 2"):
        checks.scaled_dot_product_attention_forward_hidden(unnormalised_cache)


def test_no_visible_string_of_the_checks_states_the_backward_pass():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(checks))
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and isinstance(n.value, str)]
    leaks = [s for s in strings if DERIVED.search(s)]
    assert not leaks, leaks


# --- greedy_decode -----------------------------------------------------------------------------


def _greedy(feed_back=True, carry=True, with_start=False, time_major=False, axis=1,
            extra_call=False, as_float=False):
    def fn(step, h0, start, num_steps):
        h, prev, out = h0, start, ([start] if with_start else [])
        for _ in range(num_steps + (1 if extra_call else 0)):
            scores, h_new = step(prev, h)
            h = h_new if carry else h0
            nxt = scores.argmax(axis=axis)
            prev = nxt if feed_back else start
            out.append(nxt)
        out = out[:num_steps + (1 if with_start else 0)]
        tokens = np.stack(out, axis=0 if time_major else 1)
        return tokens.astype(float) if as_float else tokens
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_greedy(feed_back=False), "feeds the start tokens"),
    (_greedy(carry=False), "starts every step from h0"),
    (_greedy(with_start=True), "leave the start tokens out"),
    (_greedy(time_major=True), r"one row per sequence"),
    (_greedy(axis=0), "raised|differs|shape"),
    (_greedy(extra_call=True), "called step 7 times"),
    (_greedy(as_float=True), "integer indices"),
])
def test_greedy_decode_mistakes_are_named(fn, pattern):
    _fails(checks.greedy_decode, fn, pattern)


def test_greedy_decode_lagging_one_step_is_named():
    def lagging(step, h0, start, num_steps):
        h, chosen = h0, [start, start]
        for _ in range(num_steps):
            scores, h = step(chosen[-2], h)
            chosen.append(scores.argmax(axis=1))
        return np.stack(chosen[2:], axis=1)

    message = _fails(checks.greedy_decode, lagging, "lags one step behind.*t - 2")
    assert "at every step" not in message


def test_greedy_decode_feeding_something_else_is_named():
    def feeds_argmin_returns_argmax(step, h0, start, num_steps):
        h, prev, out = h0, start, []
        for _ in range(num_steps):
            scores, h = step(prev, h)
            prev = scores.argmin(axis=1)
            out.append(scores.argmax(axis=1))
        return np.stack(out, axis=1)

    _fails(checks.greedy_decode, feeds_argmin_returns_argmax,
           "feeds step 1 something other than the token it returned for step 0")


def test_the_visible_greedy_case_tells_the_mistakes_apart():
    def toy():
        return checks._ToyDecoder(np.random.default_rng(1415), 7, 5)

    rng = np.random.default_rng(1415)
    checks._ToyDecoder(rng, 7, 5)
    h0, start = rng.normal(size=(3, 5)), np.array([0, 3, 6])
    right = checks._ref_greedy(toy(), h0, start, 6)
    for options in (dict(feed_back=False), dict(carry=False)):
        assert not np.array_equal(checks._wrong_greedy(toy(), h0, start, 6, **options), right)


# --- decoder_attention_forward / decoder_attention_backward ----------------------------------


def _dec_fwd(sol, expand=lambda m: m[:, None, :], keys_values=True, axis=-1, scale=True,
             swap_roles=False):
    """decoder attention written out (not through the learner's sdpa), with one mistake."""
    def fn(h_dec, enc, src_mask):
        q, kv = (enc, h_dec) if swap_roles else (h_dec, enc)
        if swap_roles:
            m = np.ones((q.shape[0], q.shape[1], kv.shape[1]), dtype=bool)
        else:
            m = expand(src_mask)
        s = q @ np.swapaxes(kv, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale else 1.0)
        if m is not None:
            s = np.where(m, s, -np.inf)
        e = np.exp(s - s.max(axis=axis, keepdims=True))
        w = e / e.sum(axis=axis, keepdims=True)
        return w @ (kv if keys_values else q), (q, kv, kv, w, 1 / np.sqrt(q.shape[-1]))
    return fn


@pytest.mark.parametrize(("options", "pattern"), [
    (dict(expand=lambda m: None), "without the padding mask"),
    (dict(expand=lambda m: m), "another sequence.*sequence axis of src_mask on the sequence "
     "axis of the scores"),
    (dict(expand=lambda m: m[:, :, None]), "broadcast.*an axis for the decoder steps"),
    (dict(expand=lambda m: ~m[:, None, :]), "mask inverted: it masks the real tokens"),
    (dict(axis=-2), "NaN.*decoder steps \\(axis -2"),
    (dict(scale=False), "without the scale"),
    (dict(swap_roles=True), "decoder states are the queries"),
])
def test_decoder_attention_forward_mistakes_are_named(sol, options, pattern):
    with np.errstate(all="ignore"):
        _fails(checks.decoder_attention_forward, _dec_fwd(sol, **options), pattern)


def _with_sdpa(sdpa, body):
    """A decoder_attention_forward defined in a notebook-like namespace holding `sdpa`."""
    ns = {"np": np, "scaled_dot_product_attention_forward": sdpa}
    exec("def decoder_attention_forward(h_dec, enc, src_mask):\n    return " + body, ns)
    return ns["decoder_attention_forward"]


RIGHT_CALL = "scaled_dot_product_attention_forward(h_dec, enc, enc, np.expand_dims(src_mask, 1))"


def test_a_section_1_attention_that_cannot_broadcast_is_blamed_not_the_mask():
    fn = _with_sdpa(_sdpa_boolean_indexing, RIGHT_CALL)
    message = _fails(checks.decoder_attention_forward, fn,
                     "Your scaled_dot_product_attention_forward of section 1 fails too.*the "
                     "cause is in section 1")
    assert "an axis for the decoder steps" not in message


def test_the_mask_hint_fires_only_when_the_mask_is_the_cause(sol):
    sdpa = sol["scaled_dot_product_attention_forward"]
    wrong_axis = _with_sdpa(sdpa, "scaled_dot_product_attention_forward(h_dec, enc, enc, "
                                  "src_mask[:, :, None])")
    _fails(checks.decoder_attention_forward, wrong_axis,
           "does not broadcast to the scores.*an axis for the decoder steps")
    values_h = _with_sdpa(sdpa, "scaled_dot_product_attention_forward(h_dec, enc, h_dec, "
                                "np.expand_dims(src_mask, 1))")
    message = _fails(checks.decoder_attention_forward, values_h,
                     "shapes do not fit: the queries are the decoder states h_dec.*the keys and "
                     "the values are both the encoder states")
    assert "mask" not in message.split("raised", 1)[1]
    values_h_ref = _with_sdpa(att.scaled_dot_product_attention_forward,
                              "scaled_dot_product_attention_forward(h_dec, enc, h_dec, "
                              "np.expand_dims(src_mask, 1))")
    _fails(checks.decoder_attention_forward, values_h_ref, "keys and the values are both")
    assert checks.decoder_attention_forward(_with_sdpa(sdpa, RIGHT_CALL)) is None


def test_decoder_attention_forward_return_order_is_named(sol):
    sdpa = sol["scaled_dot_product_attention_forward"]
    fn = _with_sdpa(sdpa, RIGHT_CALL + "[::-1]")
    _fails(checks.decoder_attention_forward, fn, r"return order is \(context, cache\)")


def test_the_mask_axis_is_not_spelled_out_before_the_hints(sol):
    """help() and the messages state the contract (a mask that broadcasts), not the code."""
    answer = re.compile(r"\[:, None, :\]|\[:, np\.newaxis|\(N, 1, T_in\)|expand_dims")
    assert not answer.search(checks.decoder_attention_forward.__doc__)
    for expand in (lambda m: m, lambda m: m[:, :, None], lambda m: None,
                   lambda m: ~m[:, None, :]):
        with np.errstate(all="ignore"), pytest.raises(GradingError) as info:
            checks.decoder_attention_forward(_dec_fwd(sol, expand=expand))
        assert not answer.search(str(info.value)), str(info.value)


def test_decoder_attention_forward_with_the_learners_sdpa_passes_and_a_misaligned_mask_fails_hidden(
        sol):
    sdpa = sol["scaled_dot_product_attention_forward"]

    def aligned_with_steps(h_dec, enc, src_mask):  # passes when N != T_out only by luck
        if h_dec.shape[0] == h_dec.shape[1]:
            return sdpa(h_dec, enc, enc, src_mask[None, :, :])
        return sdpa(h_dec, enc, enc, src_mask[:, None, :])

    with pytest.raises(GradingError, match="hidden case"):
        checks.decoder_attention_forward_hidden(aligned_with_steps)


def _dec_back(sol, which="both", swap=False):
    back = sol["scaled_dot_product_attention_backward"]

    def fn(dcontext, cache):
        dq, dk, dv = back(dcontext, cache)
        denc = {"both": dk + dv, "keys": dk, "values": dv}[which]
        return (denc, dq) if swap else (dq, denc)
    return fn


@pytest.mark.parametrize(("options", "pattern"), [
    (dict(which="keys"), "only the gradient through the keys"),
    (dict(which="values"), "only the gradient through the values"),
    (dict(swap=True), "has shape"),
])
def test_decoder_attention_backward_mistakes_are_named(sol, options, pattern):
    _fails(checks.decoder_attention_backward, _dec_back(sol, **options), pattern)


def test_decoder_attention_backward_gradient_check_catches_a_wrong_h_gradient(sol):
    right = _dec_back(sol)

    def half_dq(dcontext, cache):
        dq, denc = right(dcontext, cache)
        return dq * (0.5 if dq.shape[0] == 3 else 1.0), denc  # only the gradient check's case

    _fails(checks.decoder_attention_backward, half_dq, "gradient check")


def test_decoder_attention_backward_hidden_catches_one_path(sol):
    keys_only = _dec_back(sol, which="keys")
    with pytest.raises(GradingError, match="hidden case"):
        checks.decoder_attention_backward_hidden(keys_only)


# --- teacher_forcing_batch ---------------------------------------------------------------------


def _tf(shift="right", start=True, extra=False, mask_from="targets", invert=False,
        as_float=False, in_place=False):
    def fn(targets, start_id, pad_id):
        t = targets
        if in_place:
            t[:, 1:] = t[:, :-1].copy()
            t[:, 0] = start_id
            inputs = t.copy()
        elif extra:
            inputs = np.concatenate([np.full((len(t), 1), start_id), t], axis=1)
        elif not start:
            inputs = t.copy()
        elif shift == "left":
            inputs = np.concatenate([t[:, 1:], np.full((len(t), 1), start_id)], axis=1)
        elif shift == "end":
            inputs = np.concatenate([t[:, 1:], np.full((len(t), 1), start_id)], axis=1)
            inputs[:, 0] = start_id
        else:
            inputs = np.concatenate([np.full((len(t), 1), start_id), t[:, :-1]], axis=1)
        source = inputs if mask_from == "inputs" else targets
        mask = (source == pad_id) if invert else (source != pad_id)
        return (inputs.astype(float) if as_float else inputs), mask
    return fn


def _tf_pad(mask_rule="pad", order="inputs first", pad_inputs=False):
    def fn(targets, start_id, pad_id):
        inputs = np.concatenate([np.full((len(targets), 1), start_id), targets[:, :-1]], axis=1)
        if pad_inputs:
            inputs = np.where(targets == pad_id, pad_id, inputs)
        mask = {"pad": targets != pad_id, "zero": targets != 0, "above": targets > pad_id}[
            mask_rule]
        return (inputs, mask) if order == "inputs first" else (mask, inputs)
    return fn


@pytest.mark.parametrize(("fn", "pattern"), [
    (_tf_pad(mask_rule="zero"), "pad_id=3.*treats the token 0 as the padding"),
    (_tf_pad(mask_rule="above"), "pad_id=3.*flags only the tokens above pad_id"),
    (_tf_pad(order="mask first"), r"return order is \(inputs, loss_mask\)"),
    (_tf_pad(pad_inputs=True), "pad token at the steps whose target is padding.*same at every "
     "step"),
])
def test_teacher_forcing_pad_and_order_mistakes_are_named(fn, pattern):
    _fails(checks.teacher_forcing_batch, fn, pattern)
    with pytest.raises(GradingError, match="hidden case"):
        checks.teacher_forcing_batch_hidden(fn)


def test_teacher_forcing_hidden_odd_case_has_a_pad_that_is_not_the_smallest():
    for seed in range(40):
        targets, start_id, pad_id = checks._make_tf_case(np.random.default_rng(seed),
                                                         "odd sizes")
        real = targets[targets != pad_id]
        assert pad_id != 0 and start_id != pad_id and (real < pad_id).any()
        assert not np.array_equal(targets != 0, targets != pad_id)


@pytest.mark.parametrize(("fn", "pattern"), [
    (_tf(start=False), "targets themselves"),
    (_tf(shift="left"), "start token|shifted the wrong way"),
    (_tf(shift="end"), "shifted the wrong way"),
    (_tf(extra=True), "one more than the targets"),
    (_tf(invert=True), "True at the padding"),
    (_tf(mask_from="inputs"), "computed from the inputs"),
    (_tf(as_float=True), "integer token indices"),
    (_tf(in_place=True), "in place"),
])
def test_teacher_forcing_mistakes_are_named(fn, pattern):
    _fails(checks.teacher_forcing_batch, fn, pattern)


def test_teacher_forcing_hidden_cases_have_padding_and_one_token(sol):
    rng = np.random.default_rng(3)
    kinds = {}
    for kind in ("batch of one", "odd sizes", "random"):
        targets, start_id, pad_id = checks._make_tf_case(rng, kind)
        assert start_id != pad_id
        kinds[kind] = targets
        ref_in, ref_mask = checks._ref_teacher_forcing(targets, start_id, pad_id)
        got_in, got_mask = sol["teacher_forcing_batch"](targets, start_id, pad_id)
        assert np.array_equal(got_in, ref_in) and np.array_equal(got_mask, ref_mask)
        real = targets != pad_id
        assert real[:, 0].all()  # every row has a token, padding only at the end
        assert (np.diff(real.astype(int), axis=1) <= 0).all()
    assert kinds["batch of one"].shape == (1, 1)
    with pytest.raises(GradingError, match="hidden case"):
        checks.teacher_forcing_batch_hidden(_tf(mask_from="inputs"))
