"""nncourse.checks.convolution_and_pooling: lesson 10's checks, in process.

The notebook's own solution cells pass the visible and the hidden checks (and the checks pass
nnlib's reference, wrapped to the notebook's contract, when the reference guard is lifted);
each classic mistake (a slip of the size formula, a flipped kernel, a missing bias, padding on
one side, the stride ignored, dx returned padded or cut from one corner, overlapping windows
overwritten, db not reduced, the wrong return order, loops in the vectorised versions, ties
all receiving the gradient, dout left out, a missing 1/K^2) fails with the message naming its
cause; the reference is refused; hidden messages show no hidden value; no visible message or
docstring states a backward pass.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import convolution_and_pooling as checks
from nncourse.testing import GradingError, hidden_seed

NAME = "10_convolution_and_pooling"
EXERCISES = ["conv_output_size", "conv2d_forward_naive", "conv2d_backward_naive",
             "conv2d_forward_fast", "conv2d_backward_fast", "max_pool2d_forward",
             "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]
#: How a backward pass would read in a message or docstring: none of these may appear.
DERIVED = re.compile(r"dout\s*/\s*\(?k|tensordot\(dout|dout\[n, f, i, j\] \*|"
                     r"sum\(dout, axis=\(0, 2, 3\)\)|dx_pad\[", re.I)


def _sources() -> tuple[dict[str, str], dict[str, str]]:
    """fn -> the solution cell as a learner who solved it hands it in, and fn -> the lines
    between its solution markers."""
    out, bodies = {}, {}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            fn = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)
            out[fn] = solution_body(cell.source)
            bodies[fn] = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    return out, bodies


SOURCES, BODIES = _sources()


def _namespace() -> dict:
    from numpy.lib.stride_tricks import sliding_window_view

    return {"np": np, "nnlib": nnlib, "sliding_window_view": sliding_window_view}


@pytest.fixture(scope="module")
def sol() -> dict:
    """The setup imports and the solution cells of the source notebook, executed."""
    ns = _namespace()
    for source in SOURCES.values():
        exec(source, ns)
    return ns


def _variant(sol: dict, fn: str, old: str, new: str) -> object:
    """The solution of ``fn`` with ``old`` replaced by ``new`` (which must occur)."""
    source = SOURCES[fn]
    assert old in source, f"{old!r} not in the solution of {fn}"
    ns = dict(sol)
    exec(source.replace(old, new), ns)
    return ns[fn]


def _fails(check, fn, pattern: str) -> str:
    with pytest.raises(GradingError, match=pattern) as info:
        check(fn)
    message = str(info.value)
    assert not DERIVED.search(message), message
    return message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies_without_the_answer(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 3, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__
    assert not DERIVED.search(doc), doc


# The references, wrapped to the notebook's contract (int stride/padding, tuple caches).
def _ref_conv_forward(x, w, b, stride=1, padding=0):
    return np.ascontiguousarray(nnlib.conv2d_forward(x, w, b, stride, padding)[0]), (
        x, w, b, stride, padding)


def _ref_conv_backward(dout, cache):
    return checks._ref_conv_backward(dout, cache)


def _ref_pool_forward(kind):
    def run(x, kernel_size, stride=None):
        s = kernel_size if stride is None else stride
        return checks._ref_pool_forward(kind)(x, kernel_size, s), (x, kernel_size, s)
    return run


REFERENCES = {
    "conv2d_forward_naive": _ref_conv_forward, "conv2d_forward_fast": _ref_conv_forward,
    "conv2d_backward_naive": _ref_conv_backward, "conv2d_backward_fast": _ref_conv_backward,
    "max_pool2d_forward": _ref_pool_forward("max"), "avg_pool2d_forward": _ref_pool_forward("avg"),
    "max_pool2d_backward": checks._ref_pool_backward("max"),
    "avg_pool2d_backward": checks._ref_pool_backward("avg"),
}


@pytest.mark.parametrize("exercise", sorted(REFERENCES))
def test_calling_the_reference_is_refused(exercise):
    _fails(getattr(checks, exercise), REFERENCES[exercise], "reference implementation")
    _fails(getattr(checks, f"{exercise}_hidden"), REFERENCES[exercise], "reference")
    assert exercise in SOURCES


def test_conv_output_size_reference_is_refused():
    _fails(checks.conv_output_size, nnlib.conv_output_size, "reference implementation")


# ---------------------------------------------------------------------------------------------
# Targeted messages, one per classic mistake
# ---------------------------------------------------------------------------------------------

SIZE = "return (size + 2 * padding - kernel_size) // stride + 1"
MISTAKES = [
    ("conv_output_size", SIZE, "return (size + 2 * padding - kernel_size) // stride",
     r"`\+ 1` is missing"),
    ("conv_output_size", SIZE, "return (size + 2 * padding - kernel_size) / stride + 1",
     r"expected an int: use floor division"),
    ("conv_output_size", SIZE, "return (size + padding - kernel_size) // stride + 1",
     r"padding counted once"),
    ("conv_output_size", SIZE, "return (size - kernel_size) // stride + 1",
     r"padding was left out"),
    ("conv_output_size", SIZE, "return size + 2 * padding - kernel_size + 1",
     r"stride was left out"),
    ("conv_output_size", SIZE, "return -(-(size + 2 * padding - kernel_size) // stride) + 1",
     r"rounded up"),
    ("conv2d_forward_naive", "np.sum(w * patch", "np.sum(w[:, :, ::-1, ::-1] * patch",
     r"kernel was flipped"),
    ("conv2d_forward_naive", "axis=(1, 2, 3)) + b", "axis=(1, 2, 3))", r"bias is missing"),
    ("conv2d_forward_naive", "(padding, padding), (padding, padding)",
     "(0, 2 * padding), (0, 2 * padding)", r"one side only"),
    ("conv2d_forward_naive", "i * stride:i * stride + KH, j * stride:j * stride + KW",
     "i:i + KH, j:j + KW", r"instead of by the stride"),
    ("conv2d_forward_naive", "Ho = conv_output_size(H, KH, stride, padding)",
     "Ho = (H + 2 * padding - KH) // stride", r"Its Ho is \d+: the `\+ 1` is missing"),
    ("conv2d_forward_naive", "    x_pad = np.pad(", "    x[...] = 0.0\n    x_pad = np.pad(",
     r"modified its input `x` in place"),
    ("conv2d_forward_naive", "cache = (x, w, b, stride, padding)", "cache = (x, w, b)",
     r"the cache of .* should be the tuple \(x, w, b, stride, padding\)"),
    ("conv2d_forward_naive", "np.sum(w * patch, axis=(1, 2, 3))",
     "np.sum(w[:, 0] * patch[0], axis=(1, 2))", r"only the first input channel"),
    ("conv2d_backward_naive", "dw += g[:, None, None, None]", "dw = g[:, None, None, None]",
     r"only what the last output position contributes"),
    ("max_pool2d_forward", "[:, :, ::stride, ::stride]", "[:, :, ::k, ::k]",
     r"moved by the kernel size, not by the stride given"),
    ("conv2d_backward_naive", "return dx, dw, db", "return dw, dx, db", r"wrong order"),
    ("conv2d_backward_naive", "dx = dx_pad[:, :, padding:padding + H, padding:padding + W]",
     "dx = dx_pad", r"PADDED input"),
    ("conv2d_backward_naive", "dx = dx_pad[:, :, padding:padding + H, padding:padding + W]",
     "dx = dx_pad[:, :, :H, :W]", r"top-left corner"),
    ("conv2d_backward_naive", "dx_pad[n, :, rows, cols] +=", "dx_pad[n, :, rows, cols] =",
     r"accumulate with \+="),
    ("conv2d_backward_naive", "db = np.sum(dout, axis=(0, 2, 3))", "db = np.sum(dout, axis=0)",
     r"one number per filter"),
    ("conv2d_backward_naive", "db = np.sum(dout, axis=(0, 2, 3))",
     "db = np.mean(dout, axis=(0, 2, 3))", r"constant factor"),
    ("conv2d_backward_naive", "    return dx, dw, db", "    dout[...] = 0.0\n    return dx, dw, db",
     r"modified its input `dout` in place"),
    ("conv2d_backward_naive", "dw += g[:, None, None, None]", "dw -= g[:, None, None, None]",
     r"dw of .*wrong sign"),
    ("conv2d_forward_fast", "np.tensordot(windows, w,",
     "np.tensordot(windows, w[:, :, ::-1, ::-1],", r"kernel was flipped"),
    ("conv2d_forward_fast", "transpose(0, 3, 1, 2)", "transpose(0, 3, 2, 1)",
     r"spatial axes are swapped"),
    ("conv2d_forward_fast", "+ b[:, None, None]", "", r"bias is missing"),
    ("conv2d_backward_fast", "j:j + stride * Wo:stride] += (", "j:j + stride * Wo:stride] = (",
     r"accumulate with \+="),
    ("conv2d_backward_fast", "dx = dx_pad[:, :, padding:padding + H, padding:padding + W]",
     "dx = dx_pad", r"PADDED input"),
    ("conv2d_backward_fast", "return dx, dw, db", "return dx, db, dw", r"wrong order"),
    ("max_pool2d_forward", ".max(axis=(4, 5))", ".mean(axis=(4, 5))", r"took the mean"),
    ("max_pool2d_forward", "[:, :, ::stride, ::stride]", "", r"stride was left out"),
    ("avg_pool2d_forward", ".mean(axis=(4, 5))", ".sum(axis=(4, 5))", r"SUM of each window"),
    ("avg_pool2d_forward", ".mean(axis=(4, 5))", ".max(axis=(4, 5))", r"took the maximum"),
    ("max_pool2d_backward", "+= np.where(", "= np.where(", r"accumulate with \+="),
    ("max_pool2d_backward", "winner == i * k + j, dout, 0.0", "winner == i * k + j, 1.0, 0.0",
     r"does not depend on dout"),
    ("max_pool2d_backward",
     "winner = windows.reshape(N, C, Ho, Wo, k * k).argmax(axis=-1)",
     "top = windows == windows.max(axis=(4, 5), keepdims=True)",
     r"ties.*ONE input"),
    ("avg_pool2d_backward", "share = dout / (k * k)", "share = dout", r"off by the same factor"),
    ("avg_pool2d_backward", "+= share", "= share", r"accumulate with \+="),
    ("avg_pool2d_backward", "share = dout / (k * k)", "share = np.ones(dout.shape) / (k * k)",
     r"does not depend on dout"),
    # From the learner's report of 2026-12-07.
    ("max_pool2d_backward", "winner = windows.reshape(N, C, Ho, Wo, k * k).argmax(axis=-1)",
     "winner = windows.swapaxes(-1, -2).reshape(N, C, Ho, Wo, k * k).argmax(axis=-1)\n"
     "    winner = (winner % k) * k + winner // k",
     r"COLUMN-major order.*FIRST maximum in row-major order"),
    ("max_pool2d_backward", "winner = windows.reshape(N, C, Ho, Wo, k * k).argmax(axis=-1)",
     "winner = k * k - 1 - windows.reshape(N, C, Ho, Wo, k * k)[..., ::-1].argmax(axis=-1)",
     r"to the LAST maximum.*FIRST maximum in row-major order"),
    ("conv2d_forward_naive", "Wo = conv_output_size(W, KW, stride, padding)",
     "Wo = conv_output_size(H, KH, stride, padding)", r"the same as Ho.*Wo comes from W and KW"),
    ("max_pool2d_forward", "out = windows.max(axis=(4, 5))",
     "out = windows.max(axis=(4, 5))\n    out = out[:, :, :, :out.shape[2]]",
     r"the same as Ho.*Wo comes from W and KW"),
    ("conv2d_forward_fast", "out = out.transpose(0, 3, 1, 2) + b[:, None, None]",
     "out = out.reshape(out.shape[0], out.shape[3], out.shape[1], out.shape[2]) "
     "+ b[:, None, None]", r"axes are in the wrong order.*transpose"),
    ("conv2d_forward_fast", "out = out.transpose(0, 3, 1, 2) + b[:, None, None]",
     "out = out.transpose(0, 3, 1, 2) + b", r"bias was added along the last axis"),
    ("conv2d_backward_naive", "np.tensordot(g, w, axes=1)",
     "np.tensordot(g, w[:, :, ::-1, ::-1], axes=1)", r"used the kernel flipped"),
    ("conv2d_backward_naive", "dw += g[:, None, None, None]",
     "dw += (n == 0) * g[:, None, None, None]", r"only what the first image contributes"),
    ("conv2d_backward_fast", "            dx_pad[:, :, i:i + stride * Ho:stride, "
     "j:j + stride * Wo:stride] += (\n                dcols[:, i, j].transpose(1, 0, 2, 3))",
     "            pass\n    view = sliding_window_view(dx_pad, (KH, KW), axis=(2, 3), "
     "writeable=True)[:, :, ::stride, ::stride]\n    view += dcols.transpose(3, 0, 4, 5, 1, 2)",
     r"If you did write \+=.*buffered"),
    ("conv2d_forward_naive", "j * stride:j * stride + KW]", "j * stride:j * stride + KH]",
     r"kernel is not square .*KH rows by KW columns"),
    ("avg_pool2d_backward", "j:j + stride * Wo:stride] += share",
     "j:j + k * Wo:k] += share", r"steps by the STRIDE"),
]


@pytest.mark.parametrize("fn,old,new,pattern", MISTAKES,
                         ids=[f"{m[0]}:{m[3][:30]}" for m in MISTAKES])
def test_each_targeted_message_fires_for_its_mistake(sol, fn, old, new, pattern):
    if "top = windows ==" in new:   # every tie wins: a mask instead of one winner per window
        ns = dict(sol)
        exec(SOURCES[fn].replace(old, new).replace("winner == i * k + j", "top[..., i, j]"), ns)
        wrong = ns[fn]
    else:
        wrong = _variant(sol, fn, old, new)
    _fails(getattr(checks, fn), wrong, pattern)


@pytest.mark.parametrize("fast,naive", [("conv2d_forward_fast", "conv2d_forward_naive"),
                                        ("conv2d_backward_fast", "conv2d_backward_naive")])
def test_loops_over_pixels_are_refused_in_the_vectorised_versions(sol, fast, naive):
    message = _fails(getattr(checks, fast), sol[naive], r"loops in Python over the images")
    assert "lines of Python" in message
    # a loop over the kernel offsets is allowed (the solution of the backward has one), and a
    # helper function of the learner's own is counted too
    ns = dict(sol)
    exec(f"def helper(*args):\n    return {naive}(*args)\n"
         f"def {fast}(*args):\n    return helper(*args)", ns)
    _fails(getattr(checks, fast), ns[fast], r"loops in Python over the images")


def test_line_counting_leaves_the_previous_tracer_in_place(sol):
    import sys

    calls = []

    def tracer(frame, event, arg):
        calls.append(event)
        return None

    sys.settrace(tracer)
    try:
        checks._python_lines(sol["conv2d_forward_fast"], *checks._loop_inputs(
            np.random.default_rng(0), 1, 4))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)


def test_reference_passes_the_hidden_geometries_it_promises():
    """The hidden cases cover the issue's edges: a batch of one, odd and non-square sizes, a
    stride larger than the kernel, padding larger than half the kernel, one channel and many."""
    rng = np.random.default_rng(0)
    seen = set()
    for kind in checks.CONV_KINDS:
        x, w, b, s, p = checks._make_conv_case(rng, kind)
        N, C, H, W = x.shape
        F, _, KH, KW = w.shape
        if N == 1:
            seen.add("batch of one")
        if H % 2 and H != W:
            seen.add("odd, non-square")
        if s > max(KH, KW):
            seen.add("stride > kernel")
        if 2 * p > max(KH, KW):
            seen.add("padding > half kernel")
        seen.add("one channel" if C == 1 else "many channels" if C >= 5 else "")
    assert {"batch of one", "odd, non-square", "stride > kernel", "padding > half kernel",
            "one channel", "many channels"} <= seen
    ties = checks._make_pool_case(rng, "ties after a ReLU")[0]
    assert np.mean(ties == 0) > 0.3


HIDDEN = [
    ("conv2d_forward_naive", "conv2d_forward_fast", checks._make_conv_case, 0),
    ("conv2d_backward_fast", "conv2d_backward_naive", checks._make_conv_backward_case, None),
    ("max_pool2d_backward", "max_pool2d_backward", checks._make_pool_backward_case("max"),
     None),
]


@pytest.mark.parametrize("exercise,right,make,index", HIDDEN, ids=[h[0] for h in HIDDEN])
def test_hidden_messages_show_no_hidden_value(sol, exercise, right, make, index):
    def slightly_off(*args):
        out = sol[right](*args)
        if index is not None:
            return out[0] * (1 + 1e-3) + 1e-4, out[1]
        if isinstance(out, tuple):
            return tuple(o * (1 + 1e-3) + 1e-4 for o in out)
        return out * (1 + 1e-3) + 1e-4

    slightly_off.__name__ = exercise
    with pytest.raises(GradingError, match="hidden case") as info:
        getattr(checks, f"{exercise}_hidden")(slightly_off)
    message = str(info.value)
    kinds = checks.POOL_KINDS if "pool" in exercise else checks.CONV_KINDS
    rng = np.random.default_rng(hidden_seed(f"{checks.SLUG}/{exercise}"))
    args = make(rng, kinds[0])
    flat = []
    for a in args:
        for v in a if isinstance(a, tuple) else (a,):
            if isinstance(v, np.ndarray):
                flat.append(v.ravel())
    secret = np.concatenate(flat)
    shown = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", message)}
    assert not any(np.isclose(secret, s, rtol=1e-4).any() for s in shown if abs(s) > 1e-2), (
        message)


def test_no_solution_line_of_a_backward_pass_in_a_message():
    """Every string of the checks module is free of the backward passes' solution lines."""
    import ast

    tree = ast.parse(open(checks.__file__).read())
    strings = " ".join(n.value for n in ast.walk(tree)
                       if isinstance(n, ast.Constant) and isinstance(n.value, str))
    compact = re.sub(r"\s+", "", strings)
    for fn, body in BODIES.items():
        if "backward" not in fn:
            continue
        for line in body.splitlines():
            text = re.sub(r"\s+", "", line.split("#")[0])
            if len(text) >= 12 and re.search(r"[-+*/@]", text):
                assert text not in compact, f"{fn}: {line.strip()}"
