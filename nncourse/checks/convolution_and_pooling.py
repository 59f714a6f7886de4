"""Checks of lesson 10, convolution and pooling.

The notebook is solutions/10_convolution_and_pooling (course/ for learners).

One pair of checks per graded exercise: ``<exercise>(fn)`` runs the visible checks (small cases
worked by hand, gradient checks, targeted messages for classic mistakes);
``<exercise>_hidden(fn)`` compares ``fn`` with the ``nnlib`` reference (``nnlib.conv``) on
generated geometries whose seed comes from :func:`nncourse.testing.hidden_seed`: a batch of one,
odd and non-square sizes, a stride larger than the kernel, padding larger than half the kernel,
one channel and many, extreme values. ``help(checks.<exercise>)`` lists what is verified.

The learner's functions take ints for ``stride``, ``padding`` and ``kernel_size`` (square pooling
windows), a bias ``b`` of shape (F,), and caches whose layout the notebook fixes:
``(x, w, b, stride, padding)`` for the convolutions, ``(x, kernel_size, stride)`` for pooling.

Messages name the likely cause of a wrong answer; for the backward passes they never state the
derived result.
"""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import nnlib
import nnlib.conv
import nnlib.gradcheck
from nncourse.checks._contract import (
    call,
    call_advised,
    ensure,
    exercise_check,
    expect_arity,
    expect_order,
    looks_like,
)
from nncourse.testing import (
    GradingError,
    assert_close,
    check_against_reference,
    forbid_reference,
    hidden_seed,
)

SLUG = "convolution_and_pooling"
Fn = Callable[..., Any]

__all__ = [
    "conv_output_size", "conv_output_size_hidden",
    "conv2d_forward_naive", "conv2d_forward_naive_hidden",
    "conv2d_backward_naive", "conv2d_backward_naive_hidden",
    "conv2d_forward_fast", "conv2d_forward_fast_hidden",
    "conv2d_backward_fast", "conv2d_backward_fast_hidden",
    "max_pool2d_forward", "max_pool2d_forward_hidden",
    "max_pool2d_backward", "max_pool2d_backward_hidden",
    "avg_pool2d_forward", "avg_pool2d_forward_hidden",
    "avg_pool2d_backward", "avg_pool2d_backward_hidden",
]

#: A correct backward pass scores 1e-10 to 1e-8 here; a wrong formula above 1e-2.
GRADCHECK_TOL = 1e-7

#: The kinds of hidden case, in order (the issue's edges).
CONV_KINDS = ("batch of one", "odd and non-square sizes", "stride larger than the kernel",
              "padding larger than half the kernel", "one channel", "many channels",
              "extreme values")
POOL_KINDS = ("batch of one", "odd and non-square sizes", "overlapping windows",
              "stride larger than the kernel", "ties after a ReLU", "many channels",
              "extreme values")


def _seed(exercise: str) -> int:
    return hidden_seed(f"{SLUG}/{exercise}")


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


# ---------------------------------------------------------------------------------------------
# References, as plain arrays, with the learner's argument conventions
# ---------------------------------------------------------------------------------------------


def _conv(x: Any, w: Any, b: Any, stride: int = 1, padding: int = 0) -> np.ndarray:
    return np.ascontiguousarray(nnlib.conv.conv2d_forward(x, w, b, stride, padding)[0])


def _ref_conv_forward(x: Any, w: Any, b: Any, stride: int = 1, padding: int = 0) -> tuple[Any, ...]:
    """The reference's (out, cache) with out as a plain array (the cache is not compared)."""
    return _conv(x, w, b, stride, padding), None


def _ref_conv_backward(dout: Any, cache: Sequence[Any]) -> tuple[np.ndarray, ...]:
    x, w, b, stride, padding = cache
    _, ref_cache = nnlib.conv.conv2d_forward(x, w, b, stride, padding)
    dx, dw, db = nnlib.conv.conv2d_backward(dout, ref_cache)
    return np.ascontiguousarray(dx), dw, db


def _ref_pool_forward(kind: str) -> Fn:
    forward = nnlib.conv.max_pool2d_forward if kind == "max" else nnlib.conv.avg_pool2d_forward

    def run(x: Any, kernel_size: int, stride: int | None = None) -> np.ndarray:
        return np.ascontiguousarray(forward(x, kernel_size, stride)[0])

    return run


def _ref_pool_backward(kind: str) -> Fn:
    forward = nnlib.conv.max_pool2d_forward if kind == "max" else nnlib.conv.avg_pool2d_forward
    backward = nnlib.conv.max_pool2d_backward if kind == "max" else nnlib.conv.avg_pool2d_backward

    def run(dout: Any, cache: Sequence[Any]) -> np.ndarray:
        x, kernel_size, stride = cache
        return np.ascontiguousarray(backward(dout, forward(x, kernel_size, stride)[1]))

    return run


def _coverage(shape: tuple[int, ...], k: tuple[int, int], stride: int, padding: int) -> Any:
    """How many windows read each input pixel (N, C, H, W)."""
    N, C, H, W = shape
    ones = np.ones((1, 1, H, W))
    _, cache = nnlib.conv.conv2d_forward(ones, np.ones((1, 1, *k)), None, stride, padding)
    Ho, Wo = cache.out_hw
    dx = nnlib.conv.conv2d_backward(np.ones((1, 1, Ho, Wo)), cache)[0]
    return np.broadcast_to(np.asarray(dx), shape)


# ---------------------------------------------------------------------------------------------
# Shared diagnoses
# ---------------------------------------------------------------------------------------------


def _size_mistakes(H: int, K: int, S: int, P: int) -> list[tuple[int, str]]:
    """Output lengths that classic slips of the size formula give, with their cause."""
    right = (H + 2 * P - K) // S + 1
    cands = [
        ((H + P - K) // S + 1, "the padding counted once: P zeros go on BOTH sides"),
        ((H + 2 * P - K) // S, "the `+ 1` is missing: the first window starts at 0, and "
         "each stride step adds one more position"),
        ((H - K) // S + 1, "the padding was left out of the size"),
        (H + 2 * P - K + 1, "the stride was left out: a window moves by S pixels"),
        (-(-(H + 2 * P - K) // S) + 1, "the size was rounded up: a window that would stick out "
         "of the padded input is not computed, so round down (//)"),
        ((H + 2 * P - K) // K + 1, "the windows moved by the kernel size, not by the stride "
         "given (the kernel size is only the default, when stride is None)"),
    ]
    return [(n, why) for n, why in cands if n != right]


def _expect_shape(value: Any, want: tuple[int, ...], *, name: str, layout: str,
                  spatial: tuple[tuple[int, int, int, int], ...] = ()) -> np.ndarray:
    """value is an array of shape ``want``; a wrong Ho or Wo is explained by the formula slip
    that gives it (``spatial`` holds (H, K, S, P) for the height, then the width)."""
    __tracebackhide__ = True
    if value is None:
        raise GradingError(f"{name} is None: did you forget to return it?")
    if isinstance(value, tuple | list):
        raise GradingError(f"{name} is a {type(value).__name__}; expected one array of shape "
                           f"{want}, that is {layout}.")
    arr = np.asarray(value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise GradingError(f"{name} is not an array of numbers (dtype {arr.dtype}).")
    if arr.shape == want:
        return arr
    msg = f"{name} has shape {arr.shape}, expected {want}, that is {layout}."
    if arr.ndim == 4 and arr.shape[:2] == want[:2] and arr.shape[2:] == want[2:][::-1]:
        raise GradingError(msg + " The two spatial axes are swapped: height comes before "
                                 "width (Ho from H and KH, Wo from W and KW).")
    if arr.ndim == 4 and arr.shape[:2] == want[:2] and want[2] != want[3]:
        if arr.shape[2] == want[2] and arr.shape[3] == want[2]:
            raise GradingError(msg + f" Its Wo is {want[2]}, the same as Ho: was Wo computed "
                                     "from the height (H, KH)? Wo comes from W and KW, not "
                                     "from H: the input need not be square.")
        if arr.shape[3] == want[3] and arr.shape[2] == want[3]:
            raise GradingError(msg + f" Its Ho is {want[3]}, the same as Wo: was Ho computed "
                                     "from the width (W, KW)? Ho comes from H and KH, not "
                                     "from W: the input need not be square.")
    if arr.ndim == 4 and len(spatial) == 2 and arr.shape[:2] == want[:2]:
        for axis, (H, K, S, P) in zip((2, 3), spatial, strict=True):
            if arr.shape[axis] == want[axis]:
                continue
            for n, why in _size_mistakes(H, K, S, P):
                if arr.shape[axis] == n:
                    label = "Ho" if axis == 2 else "Wo"
                    raise GradingError(f"{msg} Its {label} is {n}: {why}.")
    if arr.ndim == 4 and arr.shape[0] == want[0] and arr.shape[1] != want[1]:
        raise GradingError(msg + " The channel axis is wrong: the output has one channel per "
                                 "filter (F = w.shape[0]) for a convolution, and keeps the "
                                 "input's channels for pooling.")
    if arr.ndim == 4 and arr.shape[:2] == want[:2] and arr.shape[2:] == (
            want[2] + 2 * spatial[0][3] if spatial else -1,
            want[3] + 2 * spatial[1][3] if spatial else -1):
        raise GradingError(msg + " That is the shape of the PADDED input: the padding is not "
                                 "part of x, so cut it off dx before returning.")
    raise GradingError(msg)


def _overlap_message(got: np.ndarray, want: np.ndarray, coverage: Any, name: str) -> None:
    """Fail with a targeted message when ``got`` is right at the pixels one window reads and
    wrong only where windows overlap."""
    __tracebackhide__ = True
    if got.shape != want.shape:
        return
    close = np.isclose(got, want, rtol=1e-6, atol=1e-9)
    many = np.asarray(coverage) > 1
    if np.all(close[~many]) and not np.all(close[many]):
        raise GradingError(
            f"{name} is right at the input pixels that one window reads, and wrong only where "
            "windows overlap (there, several outputs read the same pixel). Their contributions "
            "must all add up: accumulate with +=, do not overwrite with =. (If you did "
            "write +=: an in-place add through a view whose windows overlap, such as a "
            "writeable sliding_window_view or a fancy index that repeats a pixel, is buffered "
            "and keeps one contribution per pixel. Add one strided slice per kernel offset "
            "instead, or use np.add.at.)"
        )


def _gradcheck(forward: Fn, backward: Fn, inputs: tuple[np.ndarray, ...], *,
               names: Sequence[str], name: str, geometry: str, rng: np.random.Generator) -> None:
    """nnlib's gradient check of ``backward`` against ``forward``, as a learner's message."""
    __tracebackhide__ = True
    shapes = ", ".join(f"{n} {np.shape(x)}" for n, x in zip(names, inputs, strict=True))
    try:
        nnlib.gradcheck.check_gradients(forward, backward, inputs, rng=rng, tol=GRADCHECK_TOL,
                                        names=tuple(names))
    except GradingError:
        raise
    except AssertionError as exc:
        raise GradingError(
            f"{name} fails the gradient check on random inputs ({shapes}; {geometry}): {exc}. "
            "Above 1e-2 the formula is wrong, not merely inaccurate."
        ) from None
    except Exception as exc:  # noqa: BLE001 (the learner's error, in their words)
        raise GradingError(f"{name} on random inputs ({shapes}; {geometry}) raised "
                           f"{type(exc).__name__}: {exc}") from None


def _unchanged(pairs: Sequence[tuple[str, Any, Any]], *, name: str) -> None:
    __tracebackhide__ = True
    for pname, after, before in pairs:
        ensure(np.array_equal(np.asarray(after), np.asarray(before)),
               f"{name} modified its input `{pname}` in place: build new arrays (a padded copy, "
               "np.zeros for the gradients) and leave the inputs and the cache unchanged.")


# ---------------------------------------------------------------------------------------------
# Counting Python work: the vectorised exercises may not loop over images or output pixels
# ---------------------------------------------------------------------------------------------


def _library_dirs() -> tuple[str, ...]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(path)
    dirs.add(str(Path(nnlib.__file__).resolve().parent))
    dirs.add(str(Path(__file__).resolve().parent.parent))
    return tuple(sorted(d.rstrip("/") + "/" for d in dirs))


_LIBRARY_DIRS = _library_dirs()


def _python_lines(fn: Fn, *args: Any) -> int:
    """How many lines of the learner's own Python code ``fn(*args)`` executes (a loop's line
    counts once per pass); library code (NumPy, nnlib, the standard library) is not counted."""
    count = [0]
    own: dict[Any, bool] = {}

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        mine = own.get(code)
        if mine is None:
            path = code.co_filename
            mine = own[code] = not path.startswith(_LIBRARY_DIRS)
        return local if mine else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(previous)
    return count[0]


def _expect_no_python_loops(fn: Fn, small: tuple[Any, ...], big: tuple[Any, ...], *,
                            name: str, what: str) -> None:
    """The learner's code runs as many lines on ``big`` as on ``small`` (same kernel, more
    images and more output pixels)."""
    __tracebackhide__ = True
    try:
        n_small = _python_lines(fn, *small)
        n_big = _python_lines(fn, *big)
    except Exception as exc:  # noqa: BLE001 (the learner's error, in their words)
        raise GradingError(f"{name} raised {type(exc).__name__}: {exc}") from None
    ensure(
        n_big <= n_small,
        f"{name} ran {n_small} lines of Python on {what[0]}, but {n_big} on {what[1]} (same "
        "kernel): it loops in Python over the images or the output pixels. Here the windows "
        "come from sliding_window_view and one matrix product (np.tensordot, np.einsum or @) "
        "does the multiply-and-sum for all of them at once; a loop over the KH x KW kernel "
        "offsets is fine.",
    )


# ---------------------------------------------------------------------------------------------
# conv_output_size
# ---------------------------------------------------------------------------------------------

#: (size, kernel_size, stride, padding) -> output length.
_SIZE_CASES = [(5, 3, 1, 0), (28, 3, 1, 1), (7, 3, 2, 0), (8, 3, 2, 0), (6, 3, 2, 1),
               (4, 5, 1, 1), (5, 1, 3, 0), (10, 4, 3, 2)]


@exercise_check
def conv_output_size(fn: Fn) -> None:
    """Visible checks of ``conv_output_size(size, kernel_size, stride, padding) -> int``:

    - it is your own code, not ``nnlib.conv.conv_output_size``;
    - it returns a whole number (an int), not a float;
    - eight worked cases: no padding, "same" padding, stride 2 with and without a window that
      would stick out, a kernel larger than the unpadded input, a stride larger than the
      kernel;
    - targeted messages for the padding counted once, the missing ``+ 1``, the padding or the
      stride left out, and rounding up.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv_output_size, args=(5, 3, 1, 0), name="conv_output_size")
    got = []
    for size, k, s, p in _SIZE_CASES:
        text = f"conv_output_size({size}, {k}, stride={s}, padding={p})"
        value = call(fn, size, k, s, p, name=text)
        ensure(not isinstance(value, bool) and isinstance(value, int | np.integer),
               f"{text} returned {value!r} of type {type(value).__name__}; expected an int: "
               "use floor division // (a size is a whole number of positions).")
        got.append(int(value))
    for (size, k, s, p), n in zip(_SIZE_CASES, got, strict=True):
        want = (size + 2 * p - k) // s + 1
        if n != want:
            text = f"conv_output_size({size}, {k}, stride={s}, padding={p})"
            for wrong, why in _size_mistakes(size, k, s, p):
                if n == wrong:
                    raise GradingError(f"{text} returned {n}, expected {want}: {why}.")
            raise GradingError(f"{text} returned {n}, expected {want}.")
    _done("conv_output_size")


def _make_size_case(rng: np.random.Generator, kind: str) -> tuple[int, ...]:
    k = int(rng.integers(1, 8))
    s = int(rng.integers(1, 5))
    p = int(rng.integers(0, k + 2)) if kind != "batch of one" else 0
    if kind == "extreme values":
        size = int(rng.integers(500, 5000))
    else:
        size = int(rng.integers(max(1, k - 2 * p), 40))
    return size, k, s, p


@exercise_check
def conv_output_size_hidden(fn: Fn) -> None:
    """Hidden checks of ``conv_output_size``: equal to ``nnlib.conv.conv_output_size`` on
    generated sizes, kernels from 1 to 7, strides from 1 to 4 and paddings up to the kernel
    size plus one, sizes up to 5000."""
    __tracebackhide__ = True
    rng = np.random.default_rng(_seed("conv_output_size"))
    for i in range(20):
        args = _make_size_case(rng, ("batch of one", "random", "extreme values")[i % 3])
        value = call(fn, *args, name=f"conv_output_size on hidden case {i + 1} of 20")
        ensure(value == nnlib.conv.conv_output_size(*args),
               f"conv_output_size is wrong on hidden case {i + 1} of 20 (a size, a kernel, a "
               "stride and a padding the visible checks did not try).")


# ---------------------------------------------------------------------------------------------
# conv2d forward (loops, then vectorised)
# ---------------------------------------------------------------------------------------------

_X_WORKED = np.arange(12.0).reshape(1, 1, 3, 4)
_W_WORKED = np.array([[[[1.0, 2.0], [0.0, -1.0]]]])
_B_WORKED = np.array([0.5])
_WORKED_TEXT = ("x = np.arange(12.0).reshape(1, 1, 3, 4), w = [[[[1, 2], [0, -1]]]], "
                "b = [0.5], stride 1, padding 0")


def _forward_out(fn: Fn, x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, p: int, *,
                 name: str) -> np.ndarray:
    """Call a learner's conv forward; check the pair, the cache and that nothing changed."""
    __tracebackhide__ = True
    kept = (x.copy(), w.copy(), b.copy())
    text = f"{name}(x, w, b, stride={s}, padding={p})"
    advice = [] if w.shape[2] == w.shape[3] else [
        (ValueError, "could not be broadcast",
         f"Here the kernel is not square (KH = {w.shape[2]}, KW = {w.shape[3]}): a window must "
         "be KH rows by KW columns to line up with w. Was the width of a window (or Wo) taken "
         "from KH or H?")]
    res = call_advised(fn, x, w, b, s, p, name=text, advice=advice)
    _unchanged(list(zip(("x", "w", "b"), (x, w, b), kept, strict=True)), name=name)
    out, cache = expect_arity(res, ("out", "cache"), name=text)
    ensure(
        isinstance(cache, tuple | list) and len(cache) == 5
        and all(np.array_equal(np.asarray(c), np.asarray(v))
                for c, v in zip(cache[:3], (x, w, b), strict=True))
        and cache[3] == s and cache[4] == p,
        f"the cache of {text} should be the tuple (x, w, b, stride, padding) the stub builds: "
        "the backward pass of this notebook reads exactly that.",
    )
    return out


def _check_forward_values(out: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                          s: int, p: int, *, text: str, reveal: bool = False) -> None:
    """Compare a conv output with the reference, naming the classic mistakes first."""
    __tracebackhide__ = True
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    want = _conv(x, w, b, s, p)
    out = _expect_shape(out, want.shape, name=text, layout="(N, F, Ho, Wo)",
                        spatial=((H, KH, s, p), (W, KW, s, p)))
    Ho, Wo = want.shape[2:]
    mistakes = [
        (_conv(x, w[:, :, ::-1, ::-1], b, s, p),
         "the kernel was flipped. A convolution layer computes a cross-correlation: w[f, c, i, "
         "j] multiplies the pixel i rows below and j columns right of the window's corner, "
         "with no flip"),
        (want - b[None, :, None, None], "the bias is missing: add b[f] to every output of "
         "filter f"),
    ]
    if C > 1:
        mistakes.append((_conv(x[:, :1], w[:, :1], b, s, p), "only the first input channel was "
                         "used: each filter's kernel has one slice per input channel, and the "
                         "sum runs over all C channels"))
    if p > 0:
        one_side = _conv(np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p))), w, b, s, 0)
        mistakes.append((one_side, "the padding went on one side only (all 2P rows below and "
                                   "2P columns to the right): pad P on each side, top and "
                                   "bottom, left and right"))
    nob = want - b[None, :, None, None]
    if F > 1:
        for wrong in (nob.transpose(0, 2, 3, 1).reshape(want.shape) + b[None, :, None, None],
                      want.transpose(0, 2, 3, 1).reshape(want.shape)):
            mistakes.append((wrong, "the axes are in the wrong order: an array of shape (N, Ho, "
                                    "Wo, F) was reshaped to (N, F, Ho, Wo). reshape keeps the "
                                    "entries in memory order and only relabels the axes; moving "
                                    "an axis needs a transpose (or np.moveaxis)"))
    if Wo == F and F > 1:
        mistakes.append((nob + b[None, None, None, :], "the bias was added along the last axis "
                         "(Wo): b has one entry per filter, so reshape it to (1, F, 1, 1) "
                         "before adding"))
    if s > 1:
        dense = _conv(x, w, b, 1, p)[:, :, :Ho, :Wo]
        mistakes.append((dense, "each output moved the window by one pixel instead of by the "
                                "stride: output (i, j) reads the window whose corner is at "
                                "(i * stride, j * stride) of the padded input"))
    for wrong, why in mistakes:
        if not np.allclose(wrong, want):
            ensure(not looks_like(out, wrong), f"{text}: {why}.")
    assert_close(out, want, name=text, layout="(N, F, Ho, Wo)", reveal=reveal)


#: Geometries of the visible checks: (N, C, H, W), (F, KH, KW), stride, padding, description.
_GEOMETRIES = [
    ((2, 3, 5, 6), (4, 3, 2), 2, 1, "3 channels, 4 filters, a 3 x 2 kernel, stride 2, "
     "padding 1"),
    ((1, 1, 6, 5), (2, 2, 2), 3, 2, "a batch of one, one channel, stride 3 > kernel 2, "
     "padding 2 > half the kernel"),
    ((3, 2, 4, 4), (3, 1, 1), 1, 0, "a 1 x 1 convolution"),
]


def _geometry(rng: np.random.Generator, spec: tuple[Any, ...]) -> tuple[Any, ...]:
    (N, C, H, W), (F, KH, KW), s, p, _ = spec
    return (rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, KH, KW)), rng.normal(size=F),
            s, p)


def _worked_forward_args() -> tuple[Any, ...]:
    return (_X_WORKED.copy(), _W_WORKED.copy(), _B_WORKED.copy(), 1, 0)


def _forward_checks(fn: Fn, name: str) -> None:
    """Everything the visible checks of a conv forward verify, after the reference guard."""
    __tracebackhide__ = True
    out = _forward_out(fn, _X_WORKED.copy(), _W_WORKED.copy(), _B_WORKED.copy(), 1, 0, name=name)
    _check_forward_values(out, _X_WORKED, _W_WORKED, _B_WORKED, 1, 0,
                          text=f"out of {name}({_WORKED_TEXT})", reveal=True)
    rng = np.random.default_rng(10)
    for spec in _GEOMETRIES:
        x, w, b, s, p = _geometry(rng, spec)
        out = _forward_out(fn, x, w, b, s, p, name=name)
        _check_forward_values(out, x, w, b, s, p, text=f"out of {name} with {spec[-1]}")


@exercise_check
def conv2d_forward_naive(fn: Fn) -> None:
    """Visible checks of ``conv2d_forward_naive(x, w, b, stride, padding) -> (out, cache)``:

    - it is your own code, not ``nnlib.conv2d_forward`` (nor ``nnlib.Conv2d``);
    - it returns the pair ``(out, cache)``, the cache being ``(x, w, b, stride, padding)``,
      and leaves ``x``, ``w`` and ``b`` unchanged;
    - the worked example ``x = np.arange(12.0).reshape(1, 1, 3, 4)``, ``w = [[[[1, 2], [0,
      -1]]]]``, ``b = [0.5]``: out = [[[[-2.5, -0.5, 1.5], [5.5, 7.5, 9.5]]]];
    - three random geometries: several channels and filters with a non-square kernel, stride 2
      and padding 1; a batch of one with stride 3 > kernel 2 and padding 2; a 1 x 1 convolution;
    - targeted messages for a wrong output size (each slip of the formula), a flipped kernel, a
      missing bias, padding on one side only, and windows moved by one pixel instead of the
      stride.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv2d_forward, nnlib.conv._conv2d,
                     args=_worked_forward_args(), name="conv2d_forward_naive")
    _forward_checks(fn, "conv2d_forward_naive")
    _done("conv2d_forward_naive")


def _make_conv_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = 1 if kind == "batch of one" else int(rng.integers(2, 4))
    C = 1 if kind == "one channel" else int(rng.integers(5, 9) if kind == "many channels"
                                             else rng.integers(1, 4))
    F = int(rng.integers(1, 5))
    KH, KW = (int(v) for v in rng.integers(1, 5, size=2))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, 2))
    if kind == "stride larger than the kernel":
        KH, KW = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        s = max(KH, KW) + int(rng.integers(1, 3))
    if kind == "padding larger than half the kernel":
        p = max(KH, KW) // 2 + int(rng.integers(1, 3))
    if kind == "odd and non-square sizes":
        KH, KW = 3, 2
    H = int(rng.integers(max(1, KH - 2 * p), 10)) | 1
    W = H + 2 if kind == "odd and non-square sizes" else int(rng.integers(max(1, KW - 2 * p), 10))
    scale = 1e3 if kind == "extreme values" else 1.0
    x = rng.normal(size=(N, C, H, W)) * scale
    w = rng.normal(size=(F, C, KH, KW))
    b = rng.normal(size=F) * scale
    return x, w, b, s, p


def _hidden_forward(fn: Fn, name: str) -> None:
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv2d_forward, nnlib.conv._conv2d,
                     args=_worked_forward_args(), name=name)
    check_against_reference(fn, _ref_conv_forward, _make_conv_case, name=name,
                            seed=_seed(name), kinds=CONV_KINDS, compare=lambda r: r[0],
                            layout="(N, F, Ho, Wo)", rtol=1e-6, atol=1e-6)


@exercise_check
def conv2d_forward_naive_hidden(fn: Fn) -> None:
    """Hidden checks of ``conv2d_forward_naive``: ``out`` equal to ``nnlib.conv2d_forward`` on
    generated geometries (a batch of one, odd and non-square sizes, a stride larger than the
    kernel, padding larger than half the kernel, one channel, many channels, extreme values),
    the inputs left unchanged."""
    __tracebackhide__ = True
    _hidden_forward(fn, "conv2d_forward_naive")


def _loop_inputs(rng: np.random.Generator, N: int, H: int) -> tuple[Any, ...]:
    return (rng.normal(size=(N, 2, H, H)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3),
            1, 1)


@exercise_check
def conv2d_forward_fast(fn: Fn) -> None:
    """Visible checks of ``conv2d_forward_fast(x, w, b, stride, padding) -> (out, cache)``:

    - it is your own code, not ``nnlib.conv2d_forward`` (nor ``nnlib.Conv2d``);
    - everything ``conv2d_forward_naive``'s visible checks verify (the pair and its cache, the
      worked example, three random geometries, the targeted messages);
    - no Python loop over the images or the output pixels: it runs no more lines of Python on
      3 images of 9 x 9 than on 1 image of 4 x 4 with the same 3 x 3 kernel (a loop over the
      kernel offsets is allowed).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv2d_forward, nnlib.conv._conv2d,
                     args=_worked_forward_args(), name="conv2d_forward_fast")
    _forward_checks(fn, "conv2d_forward_fast")
    rng = np.random.default_rng(11)
    _expect_no_python_loops(fn, _loop_inputs(rng, 1, 4), _loop_inputs(rng, 3, 9),
                            name="conv2d_forward_fast",
                            what=("1 image of 4 x 4", "3 images of 9 x 9"))
    _done("conv2d_forward_fast")


@exercise_check
def conv2d_forward_fast_hidden(fn: Fn) -> None:
    """Hidden checks of ``conv2d_forward_fast``: ``out`` equal to ``nnlib.conv2d_forward`` on
    the generated geometries of ``conv2d_forward_naive_hidden``, inputs left unchanged."""
    __tracebackhide__ = True
    _hidden_forward(fn, "conv2d_forward_fast")


# ---------------------------------------------------------------------------------------------
# conv2d backward (loops, then vectorised)
# ---------------------------------------------------------------------------------------------

_DOUT_WORKED = np.array([[[[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]]])


def _backward_grads(fn: Fn, dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                    s: int, p: int, *, name: str) -> tuple[Any, Any, Any]:
    __tracebackhide__ = True
    kept = [a.copy() for a in (dout, x, w, b)]
    text = f"{name}(dout, cache)"
    res = call(fn, dout, (x, w, b, s, p), name=text)
    _unchanged(list(zip(("dout", "cache's x", "cache's w", "cache's b"), (dout, x, w, b), kept,
                        strict=True)), name=name)
    return expect_arity(res, ("dx", "dw", "db"), name=text)  # type: ignore[return-value]


def _check_backward_values(grads: tuple[Any, Any, Any], dout: np.ndarray, x: np.ndarray,
                           w: np.ndarray, b: np.ndarray, s: int, p: int, *, text: str,
                           reveal: bool = False) -> None:
    __tracebackhide__ = True
    want = _ref_conv_backward(dout, (x, w, b, s, p))
    expect_order(grads, want, ("dx", "dw", "db"), name=text)
    dx, dw, db = grads
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    ensure(np.shape(db) != (F, *dout.shape[2:]) and np.shape(db) != (N, F),
           f"db of {text} has shape {np.shape(db)}; expected ({F},), one number per filter: "
           "the bias b[f] was added to how many entries of out? Every one of them passes its "
           "gradient to b[f].")
    db = _expect_shape(db, (F,), name=f"db of {text}", layout="(F,)")
    dw = _expect_shape(dw, w.shape, name=f"dw of {text}", layout="(F, C, KH, KW), like w")
    if np.shape(dx) == (N, C, H + 2 * p, W + 2 * p) and p > 0:
        raise GradingError(
            f"dx of {text} has shape {np.shape(dx)}, that of the PADDED input; expected "
            f"{x.shape}, like x. The padding zeros are not part of x: cut them off (P rows at "
            "the top and at the bottom, P columns on each side) before returning.")
    dx = _expect_shape(dx, x.shape, name=f"dx of {text}", layout="(N, C, H, W), like x")
    if p > 0:
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        dx_pad = _ref_conv_backward(dout, (xp, w, b, s, 0))[0]
        ensure(not (looks_like(dx, dx_pad[:, :, :H, :W]) and not np.allclose(want[0],
                                                                            dx_pad[:, :, :H, :W])),
               f"dx of {text} was cut from the top-left corner of the padded gradient: the "
               "padding is P rows and columns on EACH side, so x sits P rows down and P columns "
               "right inside it.")
    assert_close(db, want[2], name=f"db of {text}", layout="(F,)", reveal=reveal)
    flipped = _ref_conv_backward(dout, (x, w[:, :, ::-1, ::-1], b, s, p))[0]
    if not np.allclose(flipped, want[0]):
        ensure(not looks_like(dx, flipped),
               f"dx of {text} used the kernel flipped: the forward pass multiplied the pixel a "
               "rows below and d columns right of the window's corner by w[f, c, a, d], with no "
               "flip, and that same weight is what this pixel's gradient is multiplied by.")
    _overlap_message(np.asarray(dx, dtype=float), want[0], _coverage(x.shape, (KH, KW), s, p),
                     f"dx of {text}")
    assert_close(dx, want[0], name=f"dx of {text}", layout="(N, C, H, W)", reveal=reveal)
    last = np.zeros_like(dout)
    last[-1, :, -1, -1] = dout[-1, :, -1, -1]
    dw_last = _ref_conv_backward(last, (x, w, b, s, p))[1]
    if not np.allclose(dw_last, want[1]):
        ensure(not looks_like(dw, dw_last),
               f"dw of {text} holds only what the last output position contributes: every "
               "image and every output position adds its contribution to dw. Accumulate with "
               "+=, do not overwrite with =.")
    if N > 1:
        first = np.zeros_like(dout)
        first[0] = dout[0]
        dw_first = _ref_conv_backward(first, (x, w, b, s, p))[1]
        ensure(not looks_like(dw, dw_first),
               f"dw of {text} holds only what the first image contributes: the same weights "
               "were used on every image of the batch, so every image adds its contribution "
               "to dw.")
    assert_close(dw, want[1], name=f"dw of {text}", layout="(F, C, KH, KW)", reveal=reveal)


def _worked_backward_args() -> tuple[Any, ...]:
    return (_DOUT_WORKED.copy(), (_X_WORKED.copy(), _W_WORKED.copy(), _B_WORKED.copy(), 1, 0))


def _backward_checks(fn: Fn, name: str) -> None:
    """Everything the visible checks of a conv backward verify, after the reference guard."""
    __tracebackhide__ = True
    grads = _backward_grads(fn, _DOUT_WORKED.copy(), _X_WORKED.copy(), _W_WORKED.copy(),
                            _B_WORKED.copy(), 1, 0, name=name)
    _check_backward_values(grads, _DOUT_WORKED, _X_WORKED, _W_WORKED, _B_WORKED, 1, 0,
                           text=f"{name}(dout, cache) with {_WORKED_TEXT} and dout = "
                                "[[[[1, 0, -1], [2, 1, 0]]]]", reveal=True)
    rng = np.random.default_rng(12)
    for spec in _GEOMETRIES:
        x, w, b, s, p = _geometry(rng, spec)
        dout = rng.normal(size=_conv(x, w, b, s, p).shape)
        grads = _backward_grads(fn, dout, x, w, b, s, p, name=name)
        _check_backward_values(grads, dout, x, w, b, s, p, text=f"{name} with {spec[-1]}")

        def forward(xv: Any, wv: Any, bv: Any, s: int = s, p: int = p) -> tuple[Any, Any]:
            return _conv(xv, wv, bv, s, p), (xv, wv, bv, s, p)

        _gradcheck(forward, fn, (x, w, b), names=("x", "w", "b"), name=name,
                   geometry=spec[-1], rng=rng)


@exercise_check
def conv2d_backward_naive(fn: Fn) -> None:
    """Visible checks of ``conv2d_backward_naive(dout, cache) -> (dx, dw, db)``:

    - it is your own code, not ``nnlib.conv2d_backward``;
    - it returns three arrays, in the order ``(dx, dw, db)`` (another order is named), shaped
      like ``x``, ``w`` and ``b``, and modifies neither ``dout`` nor the cache;
    - the worked example of the forward checks with ``dout = [[[[1, 0, -1], [2, 1, 0]]]]``;
    - three random geometries (stride 2 with padding 1 and a non-square kernel; a batch of one
      with stride 3 > kernel 2 and padding 2; a 1 x 1 convolution), each also gradient-checked
      against central differences (``rel_error`` below 1e-7 for ``x``, ``w`` and ``b``);
    - targeted messages for ``dx`` returned with the padding, the padding cut from one side
      only, overlapping windows overwritten instead of accumulated, and a ``db`` not reduced to
      one number per filter.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv2d_backward, nnlib.conv._conv2d_backward,
                     args=_worked_backward_args(), name="conv2d_backward_naive")
    _backward_checks(fn, "conv2d_backward_naive")
    _done("conv2d_backward_naive")


def _make_conv_backward_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x, w, b, s, p = _make_conv_case(rng, kind)
    dout = rng.normal(size=_conv(x, w, b, s, p).shape) * (1e3 if kind == "extreme values" else 1)
    return dout, (x, w, b, s, p)


def _hidden_backward(fn: Fn, name: str) -> None:
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv2d_backward, nnlib.conv._conv2d_backward,
                     args=_worked_backward_args(), name=name)
    check_against_reference(fn, _ref_conv_backward, _make_conv_backward_case, name=name,
                            seed=_seed(name), kinds=CONV_KINDS, rtol=1e-6, atol=1e-6)


@exercise_check
def conv2d_backward_naive_hidden(fn: Fn) -> None:
    """Hidden checks of ``conv2d_backward_naive``: ``(dx, dw, db)`` equal to
    ``nnlib.conv2d_backward`` on the generated geometries of the forward's hidden checks, with
    ``dout`` and the cache left unchanged."""
    __tracebackhide__ = True
    _hidden_backward(fn, "conv2d_backward_naive")


@exercise_check
def conv2d_backward_fast(fn: Fn) -> None:
    """Visible checks of ``conv2d_backward_fast(dout, cache) -> (dx, dw, db)``:

    - it is your own code, not ``nnlib.conv2d_backward``;
    - everything ``conv2d_backward_naive``'s visible checks verify (order, shapes, nothing
      modified, the worked example, three gradient-checked geometries, the targeted messages);
    - no Python loop over the images or the output pixels: it runs no more lines of Python on
      3 images of 9 x 9 than on 1 image of 4 x 4 with the same 3 x 3 kernel (a loop over the
      kernel offsets is allowed).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.conv2d_backward, nnlib.conv._conv2d_backward,
                     args=_worked_backward_args(), name="conv2d_backward_fast")
    _backward_checks(fn, "conv2d_backward_fast")
    rng = np.random.default_rng(13)
    cases = []
    for N, H in ((1, 4), (3, 9)):
        x, w, b, s, p = _loop_inputs(rng, N, H)
        cases.append((rng.normal(size=(N, 3, H, H)), (x, w, b, s, p)))
    _expect_no_python_loops(fn, cases[0], cases[1], name="conv2d_backward_fast",
                            what=("1 image of 4 x 4", "3 images of 9 x 9"))
    _done("conv2d_backward_fast")


@exercise_check
def conv2d_backward_fast_hidden(fn: Fn) -> None:
    """Hidden checks of ``conv2d_backward_fast``: ``(dx, dw, db)`` equal to
    ``nnlib.conv2d_backward`` on the generated geometries of the forward's hidden checks, with
    ``dout`` and the cache left unchanged."""
    __tracebackhide__ = True
    _hidden_backward(fn, "conv2d_backward_fast")


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

_X_POOL = np.array([[[[1.0, 3.0, 2.0, 0.0],
                      [4.0, -1.0, 5.0, 6.0],
                      [0.0, 2.0, -3.0, 1.0],
                      [7.0, 1.0, 2.0, 8.0]]]])
_X_POOL_TEXT = "x = [[[[1, 3, 2, 0], [4, -1, 5, 6], [0, 2, -3, 1], [7, 1, 2, 8]]]]"
_POOL_GEOMETRIES = [
    ((2, 3, 5, 6), 3, 1, "3 x 3 windows overlapping, stride 1"),
    ((1, 2, 7, 5), 3, 2, "3 x 3 windows, stride 2 (overlapping by one)"),
    ((2, 1, 7, 8), 2, 3, "2 x 2 windows, stride 3 (gaps between them)"),
]


def _pool_forward_out(fn: Fn, x: np.ndarray, k: int, s: int | None, *, name: str) -> np.ndarray:
    __tracebackhide__ = True
    kept = x.copy()
    text = f"{name}(x, {k})" if s is None else f"{name}(x, {k}, stride={s})"
    res = call(fn, x, k, name=text) if s is None else call(fn, x, k, s, name=text)
    _unchanged([("x", x, kept)], name=name)
    out, cache = expect_arity(res, ("out", "cache"), name=text)
    stride = k if s is None else s
    ensure(
        isinstance(cache, tuple | list) and len(cache) == 3
        and np.array_equal(np.asarray(cache[0]), x) and cache[1] == k and cache[2] == stride,
        f"the cache of {text} should be the tuple (x, kernel_size, stride) the stub builds, with "
        "the stride actually used (the kernel size when stride is None).",
    )
    return out


def _check_pool_values(out: Any, x: np.ndarray, k: int, s: int, kind: str, *, text: str,
                       reveal: bool = False) -> None:
    __tracebackhide__ = True
    N, C, H, W = x.shape
    want = _ref_pool_forward(kind)(x, k, s)
    out = _expect_shape(out, want.shape, name=text, layout="(N, C, Ho, Wo)",
                        spatial=((H, k, s, 0), (W, k, s, 0)))
    other = _ref_pool_forward("avg" if kind == "max" else "max")(x, k, s)
    ensure(not looks_like(out, other),
           f"{text} took the {'mean' if kind == 'max' else 'maximum'} of each window; this "
           f"function takes the {'maximum' if kind == 'max' else 'mean'}.")
    if kind == "avg":
        ensure(not looks_like(out, want * k * k),
               f"{text} is the SUM of each window; the mean divides it by the number of pixels "
               "in the window (K x K).")
    if s != 1:
        dense = _ref_pool_forward(kind)(x, k, 1)[:, :, :want.shape[2], :want.shape[3]]
        if not np.allclose(dense, want):
            ensure(not looks_like(out, dense),
                   f"{text}: each output moved the window by one pixel instead of by the "
                   "stride.")
    assert_close(out, want, name=text, layout="(N, C, Ho, Wo)", reveal=reveal)


def _pool_forward_checks(fn: Fn, kind: str) -> None:
    __tracebackhide__ = True
    name = f"{kind}_pool2d_forward"
    out = _pool_forward_out(fn, _X_POOL.copy(), 2, None, name=name)
    _check_pool_values(out, _X_POOL, 2, 2, kind, reveal=True,
                       text=f"out of {name}(x, 2) with {_X_POOL_TEXT} (stride defaults to 2)")
    rng = np.random.default_rng(14)
    for shape, k, s, what in _POOL_GEOMETRIES:
        x = rng.normal(size=shape)
        out = _pool_forward_out(fn, x, k, s, name=name)
        _check_pool_values(out, x, k, s, kind, text=f"out of {name} with {what}")


@exercise_check
def max_pool2d_forward(fn: Fn) -> None:
    """Visible checks of ``max_pool2d_forward(x, kernel_size, stride=None) -> (out, cache)``:

    - it is your own code, not ``nnlib.max_pool2d_forward``;
    - it returns ``(out, cache)``, the cache being ``(x, kernel_size, stride)`` with the stride
      used, and leaves ``x`` unchanged;
    - the worked example ``x = [[[[1, 3, 2, 0], [4, -1, 5, 6], [0, 2, -3, 1], [7, 1, 2, 8]]]]``
      with 2 x 2 windows and the default stride: out = [[[[4, 6], [7, 8]]]];
    - overlapping windows (3 x 3, stride 1 and stride 2) and a stride larger than the window
      (2 x 2, stride 3), with several images and channels;
    - targeted messages for a wrong output size, the mean instead of the maximum, and windows
      moved by one pixel instead of the stride.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.max_pool2d_forward, args=(_X_POOL.copy(), 2),
                     name="max_pool2d_forward")
    _pool_forward_checks(fn, "max")
    _done("max_pool2d_forward")


@exercise_check
def avg_pool2d_forward(fn: Fn) -> None:
    """Visible checks of ``avg_pool2d_forward(x, kernel_size, stride=None) -> (out, cache)``:

    - it is your own code, not ``nnlib.avg_pool2d_forward``;
    - it returns ``(out, cache)``, the cache being ``(x, kernel_size, stride)`` with the stride
      used, and leaves ``x`` unchanged;
    - the worked example of ``max_pool2d_forward``'s checks: out = [[[[1.75, 3.25], [2.5,
      2.0]]]];
    - overlapping windows (3 x 3, stride 1 and stride 2) and a stride larger than the window
      (2 x 2, stride 3), with several images and channels;
    - targeted messages for a wrong output size, the maximum or the sum instead of the mean,
      and windows moved by one pixel instead of the stride.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.avg_pool2d_forward, args=(_X_POOL.copy(), 2),
                     name="avg_pool2d_forward")
    _pool_forward_checks(fn, "avg")
    _done("avg_pool2d_forward")


def _make_pool_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = 1 if kind == "batch of one" else int(rng.integers(2, 4))
    C = int(rng.integers(4, 8)) if kind == "many channels" else int(rng.integers(1, 3))
    k = int(rng.integers(1, 4))
    s = int(rng.integers(1, 4))
    if kind == "overlapping windows":
        k, s = int(rng.integers(2, 4)), 1
    if kind == "stride larger than the kernel":
        k = int(rng.integers(1, 3))
        s = k + int(rng.integers(1, 3))
    H = int(rng.integers(k, 10))
    W = H + 2 if kind == "odd and non-square sizes" else int(rng.integers(k, 10))
    if kind == "odd and non-square sizes":
        H |= 1
    x = rng.normal(size=(N, C, H, W)) * (1e3 if kind == "extreme values" else 1.0)
    if kind == "ties after a ReLU":
        x = np.maximum(x, 0.0)
    if kind == "ties at a positive value":
        x = rng.integers(0, 3, size=x.shape).astype(float)
    return x, k, s


def _pool_hidden(fn: Fn, kind: str) -> None:
    __tracebackhide__ = True
    name = f"{kind}_pool2d_forward"
    forbid_reference(fn, getattr(nnlib.conv, name), args=(_X_POOL.copy(), 2), name=name)
    forward = _ref_pool_forward(kind)
    check_against_reference(fn, lambda *a: (forward(*a), None), _make_pool_case, name=name,
                            seed=_seed(name), kinds=POOL_KINDS, compare=lambda r: r[0],
                            layout="(N, C, Ho, Wo)")


@exercise_check
def max_pool2d_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``max_pool2d_forward``: ``out`` equal to ``nnlib.max_pool2d_forward``
    on generated inputs (a batch of one, odd and non-square sizes, overlapping windows, a
    stride larger than the window, ties after a ReLU, many channels, extreme values)."""
    __tracebackhide__ = True
    _pool_hidden(fn, "max")


@exercise_check
def avg_pool2d_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``avg_pool2d_forward``: ``out`` equal to ``nnlib.avg_pool2d_forward``
    on the generated inputs of ``max_pool2d_forward_hidden``."""
    __tracebackhide__ = True
    _pool_hidden(fn, "avg")


_DOUT_POOL = np.array([[[[1.0, -2.0], [3.0, 0.5]]]])


def _pool_backward_dx(fn: Fn, dout: np.ndarray, x: np.ndarray, k: int, s: int, *,
                      name: str) -> np.ndarray:
    __tracebackhide__ = True
    kept = dout.copy(), x.copy()
    dx = call_advised(fn, dout, (x, k, s), name=f"{name}(dout, cache)", advice=[
        (ValueError, "could not be broadcast",
         "A block you add into dx does not have the shape of the slice it goes to. If you loop "
         "over the window offsets: the slice for offset (a, d) steps by the STRIDE (not the "
         "kernel size) and holds Ho rows and Wo columns, like the windows' corners it follows. "
         "Otherwise, check which axes your arrays keep.")])
    _unchanged([("dout", dout, kept[0]), ("cache's x", x, kept[1])], name=name)
    return dx


def _max_pool_tie_variant(dout: np.ndarray, x: np.ndarray, k: int, s: int, *,
                           column_major: bool, last: bool) -> np.ndarray:
    """dx of max pooling with each window's gradient sent to another of its tied maxima (the
    first or the last, in row- or column-major order)."""
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    if column_major:
        win = win.swapaxes(-1, -2)
    flat = win.reshape(*win.shape[:4], k * k)
    if last:
        flat = flat[..., ::-1]
    pos = flat.argmax(axis=-1)
    if last:
        pos = k * k - 1 - pos
    a, d = np.divmod(pos, k)
    if column_major:
        a, d = d, a
    dx = np.zeros_like(x, dtype=float)
    N, C, Ho, Wo = dout.shape
    n, c, i, j = np.indices((N, C, Ho, Wo))
    np.add.at(dx, (n, c, i * s + a, j * s + d), dout)
    return dx


def _check_pool_backward_values(dx: Any, dout: np.ndarray, x: np.ndarray, k: int, s: int,
                                kind: str, *, text: str, reveal: bool = False) -> None:
    __tracebackhide__ = True
    want = _ref_pool_backward(kind)(dout, (x, k, s))
    dx = _expect_shape(dx, x.shape, name=text, layout="(N, C, H, W), like x")
    dx = np.asarray(dx, dtype=float)
    ones = _ref_pool_backward(kind)(np.ones_like(dout), (x, k, s))
    if not np.allclose(ones, want):
        ensure(not looks_like(dx, ones),
               f"{text} does not depend on dout: the local gradient alone. A backward pass "
               "sends the loss's gradient on: downstream = upstream x local.")
    if kind == "max":
        windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
        windows = windows[:, :, ::s, ::s]
        top = windows.max(axis=(4, 5), keepdims=True)
        ties = (windows == top).sum(axis=(4, 5)) > 1
        if np.any(ties):
            ensure(np.count_nonzero(dx) <= np.count_nonzero(want) or np.allclose(dx, want),
                   f"{text}: some windows hold their maximum twice (ties), and your dx sends "
                   "that window's gradient to more than one input. The convention (torch's): "
                   "the gradient goes to ONE input, the first maximum in row-major order "
                   "(np.argmax over the flattened window finds it).")
            for col, last, why in ((True, False, "the first maximum in COLUMN-major order "
                                    "(down the first column, then the next): were the window's "
                                    "axes swapped to (..., KW, KH) before the argmax?"),
                                   (False, True, "the LAST maximum"),
                                   (True, True, "the last maximum in column-major order")):
                other = _max_pool_tie_variant(dout, x, k, s, column_major=col, last=last)
                if not np.allclose(other, want):
                    ensure(not looks_like(dx, other),
                           f"{text}: some windows hold their maximum more than once (ties), "
                           f"and your dx sends that window's gradient to {why}. The "
                           "convention (torch's): the FIRST maximum in row-major order, "
                           "that is along the window's first row left to right, then the "
                           "next row (np.argmax over the window flattened to KH * KW "
                           "entries finds it).")
    _overlap_message(dx, want, _coverage(x.shape, (k, k), s, 0), text)
    assert_close(dx, want, name=text, layout="(N, C, H, W)", reveal=reveal)


def _pool_backward_checks(fn: Fn, kind: str) -> None:
    __tracebackhide__ = True
    name = f"{kind}_pool2d_backward"
    dx = _pool_backward_dx(fn, _DOUT_POOL.copy(), _X_POOL.copy(), 2, 2, name=name)
    _check_pool_backward_values(dx, _DOUT_POOL, _X_POOL, 2, 2, kind, reveal=True,
                                text=f"dx of {name}(dout, cache) with {_X_POOL_TEXT}, 2 x 2 "
                                     "windows, stride 2 and dout = [[[[1, -2], [3, 0.5]]]]")
    if kind == "max":
        x_tie = np.array([[[[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [3.0, 0.0, 0.0]]]])
        dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
        dx = _pool_backward_dx(fn, dout.copy(), x_tie.copy(), 2, 1, name=name)
        _check_pool_backward_values(dx, dout, x_tie, 2, 1, kind, reveal=True,
                                    text=f"dx of {name} with x = [[[[0, 0, 1], [0, 0, 2], "
                                         "[3, 0, 0]]]] (zeros tie, as after a ReLU), 2 x 2 "
                                         "windows, stride 1, dout = [[[[1, 2], [3, 4]]]]")
        x_tie = np.array([[[[0.0, 2.0], [2.0, 1.0]]]])
        dout = np.array([[[[5.0]]]])
        dx = _pool_backward_dx(fn, dout.copy(), x_tie.copy(), 2, 2, name=name)
        _check_pool_backward_values(dx, dout, x_tie, 2, 2, kind, reveal=True,
                                    text=f"dx of {name} with x = [[[[0, 2], [2, 1]]]] (the "
                                         "maximum 2 twice), one 2 x 2 window, dout = [[[[5]]]]")
    rng = np.random.default_rng(15)
    forward_ref = getattr(nnlib.conv, f"{kind}_pool2d_forward")
    for shape, k, s, what in _POOL_GEOMETRIES:
        x = rng.normal(size=shape)
        dout = rng.normal(size=forward_ref(x, k, s)[0].shape)
        dx = _pool_backward_dx(fn, dout.copy(), x.copy(), k, s, name=name)
        _check_pool_backward_values(dx, dout, x, k, s, kind, text=f"dx of {name} with {what}")

        def forward(xv: Any, k: int = k, s: int = s) -> tuple[Any, Any]:
            return np.asarray(forward_ref(xv, k, s)[0]), (xv, k, s)

        _gradcheck(forward, fn, (x,), names=("x",), name=name, geometry=what, rng=rng)


@exercise_check
def max_pool2d_backward(fn: Fn) -> None:
    """Visible checks of ``max_pool2d_backward(dout, cache) -> dx`` (``cache`` is
    ``(x, kernel_size, stride)``):

    - it is your own code, not ``nnlib.max_pool2d_backward``;
    - ``dx`` has the shape of ``x``; ``dout`` and the cache are not modified;
    - the worked example of the forward checks with ``dout = [[[[1, -2], [3, 0.5]]]]``;
    - ties (a window of zeros, as after a ReLU, and a window ``[[0, 2], [2, 1]]``): each
      window's gradient goes to one input, its first maximum in row-major order;
    - overlapping windows (3 x 3, stride 1 and 2) and gaps (2 x 2, stride 3), each also
      gradient-checked against central differences (``rel_error`` below 1e-7);
    - targeted messages for ``dout`` left out, ties all receiving the gradient, ties sent to
      another maximum than the first in row-major order, and overlapping windows overwritten
      instead of accumulated.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.max_pool2d_backward,
                     args=(_DOUT_POOL.copy(), (_X_POOL.copy(), 2, 2)), name="max_pool2d_backward")
    _pool_backward_checks(fn, "max")
    _done("max_pool2d_backward")


@exercise_check
def avg_pool2d_backward(fn: Fn) -> None:
    """Visible checks of ``avg_pool2d_backward(dout, cache) -> dx`` (``cache`` is
    ``(x, kernel_size, stride)``):

    - it is your own code, not ``nnlib.avg_pool2d_backward``;
    - ``dx`` has the shape of ``x``; ``dout`` and the cache are not modified;
    - the worked example of the forward checks with ``dout = [[[[1, -2], [3, 0.5]]]]``;
    - overlapping windows (3 x 3, stride 1 and 2) and gaps (2 x 2, stride 3), each also
      gradient-checked against central differences (``rel_error`` below 1e-7);
    - targeted messages for ``dout`` left out and overlapping windows overwritten instead of
      accumulated (a missing factor is named by the comparison).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.conv.avg_pool2d_backward,
                     args=(_DOUT_POOL.copy(), (_X_POOL.copy(), 2, 2)), name="avg_pool2d_backward")
    _pool_backward_checks(fn, "avg")
    _done("avg_pool2d_backward")


def _make_pool_backward_case(kind: str) -> Fn:
    def make(rng: np.random.Generator, case: str) -> tuple[Any, ...]:
        x, k, s = _make_pool_case(rng, case)
        shape = _ref_pool_forward(kind)(x, k, s).shape
        return rng.normal(size=shape), (x, k, s)

    return make


def _pool_backward_hidden(fn: Fn, kind: str) -> None:
    __tracebackhide__ = True
    name = f"{kind}_pool2d_backward"
    forbid_reference(fn, getattr(nnlib.conv, name),
                     args=(_DOUT_POOL.copy(), (_X_POOL.copy(), 2, 2)), name=name)
    kinds = (*POOL_KINDS, "ties at a positive value") if kind == "max" else POOL_KINDS
    check_against_reference(fn, _ref_pool_backward(kind), _make_pool_backward_case(kind),
                            name=name, seed=_seed(name), kinds=kinds,
                            layout="(N, C, H, W)")


@exercise_check
def max_pool2d_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``max_pool2d_backward``: ``dx`` equal to ``nnlib.max_pool2d_backward``
    on the generated inputs of the forward's hidden checks (ties included), plus integer inputs
    whose maxima tie at a positive value, ``dout`` and the cache left unchanged."""
    __tracebackhide__ = True
    _pool_backward_hidden(fn, "max")


@exercise_check
def avg_pool2d_backward_hidden(fn: Fn) -> None:
    """Hidden checks of ``avg_pool2d_backward``: ``dx`` equal to ``nnlib.avg_pool2d_backward``
    on the generated inputs of the forward's hidden checks, ``dout`` and the cache left
    unchanged."""
    __tracebackhide__ = True
    _pool_backward_hidden(fn, "avg")
