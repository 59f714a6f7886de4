"""Convolution and pooling: ``*_forward`` / ``*_backward`` pairs and their modules (``Conv1d``,
``Conv2d``, ``MaxPool2d``, ``AvgPool2d``).

Conventions (those of ``torch.nn.functional``): images are ``(N, C, H, W)``, sequences
``(N, C, L)``; a filter bank ``w`` is ``(F, C, KH, KW)`` (``(F, C, K)`` in 1-D); a convolution is
a cross-correlation (the kernel is not flipped) with symmetric zero padding; ``kernel_size``,
``stride`` and ``padding`` are an int or a pair (height, width). Output sizes, with P the
padding, K the kernel and S the stride: ``Ho = (H + 2 P - K) // S + 1``, likewise ``Wo``.

Speed, in pure NumPy: the forward copies the windows into a matrix ``cols`` of shape
``(C KH KW, N Ho Wo)`` (im2col, one strided copy per kernel offset, each contiguous along
``Wo``), and the three products are one 2-D matrix product each:
``out = w (F, C KH KW) @ cols``, ``dw = dout @ cols.T`` and ``dcols = w.T @ dout``; the
backward adds ``dcols`` back one kernel offset at a time (col2im), never one pixel at a time.
The outputs ``out`` and ``dx`` are ``(N, C, H, W)`` arrays whose memory is channel-major
(``(C, N, H, W)``, a transposed view): that is the order the products produce, and the next
layer reads it without a copy. They behave like any other ndarray of that shape. With
stride 1 and "same" padding (the output as large as the input), each kernel offset of im2col
is one long copy of the flattened images shifted by a constant (the entries that read padding
zeroed after it), and when there are no more filters than input channels (F <= C) dx is a
transposed convolution: dout's own shifted columns times the flipped filters, one product and
no col2im. A bias is folded into the products (a row of ones in ``cols``). Other
geometries on images of at most ``GATHER_MAX_PIXELS`` pixels (8x8 and smaller) take a gather
path instead: im2col is one ``np.take`` from a cached index table and, with stride 1, dx is
one product with dout gathered the same way (a transposed convolution), no col2im. Max
pooling copies each kernel offset's strided slice into one contiguous buffer and keeps a
running maximum and the winner's offset with whole-array operations.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_positive_int, check_rng
from nnlib.module import Module, Parameter, _require_cache

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "conv1d_forward",
    "conv1d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "conv_output_size",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
]

IntOrPair = int | tuple[int, int]


class Conv2dCache(NamedTuple):
    """What ``conv2d_backward`` needs from the forward pass."""

    x_shape: tuple[int, int, int, int]  # (N, C, H, W)
    x_dtype: np.dtype
    # the im2col matrix (C KH KW, n Ho Wo) of each chunk of n images; with a bias, outside the
    # gather path, one more row of ones (C KH KW + 1, n Ho Wo)
    cols: list[np.ndarray]
    w: np.ndarray  # (F, C, KH, KW)
    b: np.ndarray | None  # (F,) or None (no bias)
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_hw: tuple[int, int]  # (Ho, Wo)


class PoolCache(NamedTuple):
    """What ``max_pool2d_backward`` / ``avg_pool2d_backward`` need from the forward pass."""

    argmax: np.ndarray | None  # (N, C, Ho, Wo): the winning kernel offset i * KW + j (max only)
    x_shape: tuple[int, int, int, int]
    x_dtype: np.dtype
    channel_major: bool  # whether x's memory was (C, N, H, W): dx is laid out the same way
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Argument checks and geometry
# ---------------------------------------------------------------------------------------------


def _pair(value: Any, fn: str, name: str, *, minimum: int, n: int = 2) -> tuple[int, ...]:
    """An int or an n-tuple of ints, each >= minimum, as an n-tuple (torch's int-or-pair)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    ok = len(items) == n and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= minimum
        for v in items
    )
    if not ok:
        what = "a positive integer" if minimum == 1 else "a non-negative integer"
        form = f"an int or a {n}-tuple of ints" if n > 1 else "an int"
        raise ValueError(f"{fn}: {name} must be {what} ({form}), got {value!r}")
    return tuple(int(v) for v in items)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """(size + 2 padding - kernel_size) // stride + 1: the output length of one spatial axis.

    Raises ValueError when the kernel is larger than the padded input or an argument is not a
    positive (padding: non-negative) integer.
    """
    fn = "conv_output_size"
    size = check_positive_int(size, fn, "size")
    (kernel_size,) = _pair(kernel_size, fn, "kernel_size", minimum=1, n=1)
    (stride,) = _pair(stride, fn, "stride", minimum=1, n=1)
    (padding,) = _pair(padding, fn, "padding", minimum=0, n=1)
    if kernel_size > size + 2 * padding:
        raise ValueError(
            f"{fn}: kernel_size={kernel_size} is larger than the padded input "
            f"size + 2 * padding = {size + 2 * padding}"
        )
    return (size + 2 * padding - kernel_size) // stride + 1


def _window_range(k: int, stride: int, pad: int, size: int, out_size: int) -> tuple[int, int, int]:
    """For kernel offset k: the outputs [lo, hi) whose input index o * stride + k - pad falls
    inside [0, size), and the input index of output lo (the rest read zero padding)."""
    lo = max(0, -((k - pad) // stride))  # ceil((pad - k) / stride)
    hi = min(out_size, (size - 1 + pad - k) // stride + 1)
    hi = max(hi, lo)
    return lo, hi, lo * stride + k - pad


def _ranges(
    kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
    in_hw: tuple[int, int], out_hw: tuple[int, int],
) -> list[tuple[int, int, slice, slice, slice, slice]]:
    """For every kernel offset (i, j), row-major: (i, j, output rows, output columns, input rows,
    input columns) as slices; an offset that only ever reads padding is left out."""
    (KH, KW), (sh, sw), (ph, pw), (H, W), (Ho, Wo) = kernel, stride, padding, in_hw, out_hw
    rows = [_window_range(i, sh, ph, H, Ho) for i in range(KH)]
    cols = [_window_range(j, sw, pw, W, Wo) for j in range(KW)]
    out = []
    for i, (hlo, hhi, r0) in enumerate(rows):
        if hhi == hlo:
            continue
        for j, (wlo, whi, c0) in enumerate(cols):
            if whi == wlo:
                continue
            out.append((
                i, j, slice(hlo, hhi), slice(wlo, whi),
                slice(r0, r0 + sh * (hhi - hlo - 1) + 1, sh),
                slice(c0, c0 + sw * (whi - wlo - 1) + 1, sw),
            ))
    return out


def _check_image(x: ArrayLike, fn: str, name: str = "x") -> np.ndarray:
    x = as_array(x, fn, name)
    if x.ndim != 4:
        raise ValueError(f"{fn}: {name} must have shape (N, C, H, W) (4-D), got shape {x.shape}")
    if 0 in x.shape[1:]:
        raise ValueError(f"{fn}: {name} has an empty channel or spatial axis, shape {x.shape}")
    return x


def _channel_major(x: np.ndarray) -> bool:
    """Whether x (N, C, ...) is laid out in memory as (C, N, ...), as conv2d_forward's output."""
    return x.shape[0] > 1 and x.shape[1] > 1 and x.strides[1] > x.strides[0]


def _empty(shape: tuple[int, ...], dtype: DTypeLike, channel_major: bool) -> np.ndarray:
    """An uninitialised (N, C, ...) array, laid out as (C, N, ...) when channel_major."""
    if not channel_major:
        return np.empty(shape, dtype)
    N, C, *rest = shape
    return np.empty((C, N, *rest), dtype).swapaxes(0, 1)


# ---------------------------------------------------------------------------------------------
# 2-D convolution
# ---------------------------------------------------------------------------------------------


def _check_conv2d(
    fn: str, x: ArrayLike, w: ArrayLike, b: ArrayLike | None, stride: Any, padding: Any,
    *, layout: tuple[str, str] = ("(N, C, H, W)", "(F, C, KH, KW)"), ndim: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int], tuple[int, int]]:
    x = as_array(x, fn, "x")
    w = as_array(w, fn, "w")
    if x.ndim != ndim:
        raise ValueError(f"{fn}: x must have shape {layout[0]} ({ndim}-D), got shape {x.shape}")
    if w.ndim != ndim:
        raise ValueError(f"{fn}: w must have shape {layout[1]} ({ndim}-D), got shape {w.shape}")
    if 0 in x.shape[1:] or 0 in w.shape:
        raise ValueError(f"{fn}: empty axis in x {x.shape} or w {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{fn}: x has C={x.shape[1]} channels but w expects {w.shape[1]} "
            f"(x is {x.shape}, w is {layout[1]} = {w.shape})"
        )
    if b is not None:
        b = as_array(b, fn, "b")
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"{fn}: b must have shape ({w.shape[0]},), one bias per filter of w {w.shape}, "
                f"got {b.shape}"
            )
    n = ndim - 2
    s = _pair(stride, fn, "stride", minimum=1, n=n)
    p = _pair(padding, fn, "padding", minimum=0, n=n)
    spatial, kernel = x.shape[2:], w.shape[2:]
    if any(k > d + 2 * q for k, d, q in zip(kernel, spatial, p, strict=True)):
        padded = tuple(d + 2 * q for d, q in zip(spatial, p, strict=True))
        raise ValueError(
            f"{fn}: the kernel {kernel} is larger than the padded input {padded} "
            f"(x {x.shape}, w {w.shape}, padding {p if n > 1 else p[0]})"
        )
    if n == 1:
        return x, w, b, (1, s[0]), (0, p[0])
    return x, w, b, s, p  # type: ignore[return-value]


#: Bytes of im2col columns per chunk of images: a chunk's columns are still in the CPU's cache
#: when its product reads them, and its gradient dcols when col2im reads it; smaller arrays
#: also avoid the page faults of fresh multi-MB allocations.
CHUNK_BYTES = 4 * 2**20


def _im2col(
    xT: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
    out_hw: tuple[int, int], cols: np.ndarray,
) -> np.ndarray:
    """cols[c, i, j, n, ho, wo] = x_pad[n, c, ho * sh + i, wo * sw + j] for xT (C, n, H, W);
    cols (C, KH, KW, n, Ho, Wo) is overwritten. Each kernel offset is one strided copy,
    contiguous along wo; only the padding strips are zeroed."""
    C, _, H, W = xT.shape
    KH, KW = kernel
    Ho, Wo = out_hw
    if _same(stride, (H, W), out_hw) and xT[0, 0].flags.c_contiguous:
        _im2col_same(xT, padding, cols)
        return cols
    covered = np.zeros((KH, KW), dtype=bool)
    for i, j, ro, co, ri, ci in _ranges(kernel, stride, padding, (H, W), out_hw):
        dst = cols[:, i, j]
        if ro.start > 0:
            dst[:, :, : ro.start] = 0
        if ro.stop < Ho:
            dst[:, :, ro.stop :] = 0
        if co.start > 0:
            dst[:, :, ro, : co.start] = 0
        if co.stop < Wo:
            dst[:, :, ro, co.stop :] = 0
        dst[:, :, ro, co] = xT[:, :, ri, ci]
        covered[i, j] = True
    for i, j in zip(*np.nonzero(~covered), strict=True):
        cols[:, i, j] = 0  # an offset that only ever reads padding
    return cols


def _im2col_same(xT: np.ndarray, padding: tuple[int, int], cols: np.ndarray) -> None:
    """_im2col for stride 1 and an output as large as the input ("same" padding), with long
    contiguous copies: in x's flattened H W, offset (i, j) of the kernel reads position
    q + (i - ph) W + (j - pw) for output position q (the mirror of _col2im_same). Positions
    that read a padding row fall outside the copy and are zeroed; those that read a padding
    column got the neighbouring row's pixel and are zeroed after the copy."""
    C, KH, KW, n, H, W = cols.shape
    ph, pw = padding
    HW = H * W
    src = np.reshape(xT, (C, n, HW), copy=False)  # a view: raises rather than copy
    flat = cols.reshape(C, KH, KW, n, HW)
    for i in range(KH):
        for j in range(KW):
            shift = (i - ph) * W + (j - pw)
            dst = flat[:, i, j]
            lo, hi = max(0, -shift), min(HW, HW - shift)
            if lo >= hi:
                dst[...] = 0
                continue
            dst[..., lo:hi] = src[..., lo + shift : hi + shift]
            dst[..., :lo] = 0
            dst[..., hi:] = 0
            if j < pw:
                cols[:, i, j, :, :, : pw - j] = 0
            elif j > pw:
                cols[:, i, j, :, :, W - (j - pw) :] = 0


def _col2im(
    dcols: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
    padding: tuple[int, int], dxT: np.ndarray,
) -> None:
    """dxT (C, n, H, W) = the sum of each kernel offset's block of dcols (C, KH, KW, n, Ho, Wo)
    put back where im2col read it from (padding dropped)."""
    _, _, H, W = dxT.shape
    if stride == (1, 1) and dcols.shape[-2:] == (H, W) and dxT[0, 0].flags.c_contiguous:
        _col2im_same(dcols, padding, dxT)
        return
    ranges = _ranges(kernel, stride, padding, (H, W), dcols.shape[-2:])
    for r in ranges:  # an offset that covers the whole input initialises dx (saves a pass)
        i, j, ro, co, ri, ci = r
        if (ri.step == 1 and ri.start == 0 and ro.stop - ro.start == H
                and ci.step == 1 and ci.start == 0 and co.stop - co.start == W):
            dxT[...] = dcols[:, i, j, :, ro, co]
            ranges = [q for q in ranges if q is not r]
            break
    else:
        dxT[...] = 0
    for i, j, ro, co, ri, ci in ranges:
        dxT[:, :, ri, ci] += dcols[:, i, j, :, ro, co]


def _col2im_same(dcols: np.ndarray, padding: tuple[int, int], dxT: np.ndarray) -> None:
    """_col2im for stride 1 and an output as large as the input ("same" padding), with long
    contiguous adds: in x's flattened H W, offset (i, j) of the kernel reads position
    q + (i - ph) W + (j - pw) for output position q. Its entries that read a padding column
    would land in the neighbouring row: they are zeroed first (dcols is scratch); those that
    read a padding row fall outside and are cut by the slice."""
    C, KH, KW, n, H, W = dcols.shape
    ph, pw = padding
    HW = H * W
    for j in range(KW):
        if j < pw:
            dcols[:, :, j, :, :, : pw - j] = 0
        elif j > pw:
            dcols[:, :, j, :, :, W - (j - pw) :] = 0
    flat = dcols.reshape(C, KH, KW, n, HW)
    dx = np.reshape(dxT, (C, n, HW), copy=False)  # a view: raises rather than copy
    dx[...] = flat[:, ph, pw]
    for i in range(KH):
        for j in range(KW):
            if (i, j) == (ph, pw):
                continue
            shift = (i - ph) * W + (j - pw)
            if abs(shift) >= HW:
                continue  # an offset that only ever reads padding
            if shift >= 0:
                dx[..., shift:] += flat[:, i, j, :, : HW - shift]
            else:
                dx[..., : HW + shift] += flat[:, i, j, :, -shift:]


#: Images of at most this many pixels (H W) take the gather path (unless stride 1 and "same"
#: padding, see _gather_path): im2col is one ``np.take``
#: from a precomputed index (the strided copies of tiny images are all loop overhead), and
#: with stride 1, dx is one product with the gathered dout (no col2im; see _conv2d_backward).
GATHER_MAX_PIXELS = 64


#: With stride 1 and "same" padding, dx is a transposed convolution (dout's flat shifted
#: columns times the flipped filters, no col2im) when F <= TRANSPOSED_MAX_RATIO C.
TRANSPOSED_MAX_RATIO = 1


def _same(stride: tuple[int, int], in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """Stride 1 and "same" padding: the output as large as the input (the flat-shift paths)."""
    return stride == (1, 1) and tuple(out_hw) == tuple(in_hw)


def _gather_path(in_hw: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """Tiny images, except with stride 1 and "same" padding, whose flat shifted copies
    (_im2col_same) are faster still."""
    return in_hw[0] * in_hw[1] <= GATHER_MAX_PIXELS and not _same(stride, in_hw, out_hw)


@functools.lru_cache(maxsize=16)
def _gather_index(
    n: int, in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
    padding: tuple[int, int], out_hw: tuple[int, int], transposed: bool,
) -> np.ndarray:
    """The read-only index (KH KW, n Ho Wo) of im2col by np.take along axis 1 of xz
    (C, n H W + 1), x's n images flattened with one zero column at the end: entry
    [i KW + j, (m, ho, wo)] is the column m H W + h W + w of x_pad[m, :, ho S + i, wo S + j],
    or n H W (the zero) where that reads padding.

    ``transposed``: the index (KH KW, n H W) into dz (F, n Ho Wo + 1), dout flattened likewise,
    whose product with w gives dx: entry [i KW + j, (m, h, w)] is the column of
    dout[m, :, ho, wo] with ho S + i - P = h, wo S + j - P = w, or the zero where there is none.
    """
    (H, W), (KH, KW), (sh, sw), (ph, pw), (Ho, Wo) = in_hw, kernel, stride, padding, out_hw
    i = np.arange(KH)[:, None, None, None, None]
    j = np.arange(KW)[None, :, None, None, None]
    m = np.arange(n)[None, None, :, None, None]
    if not transposed:
        h = np.arange(Ho)[None, None, None, :, None] * sh + i - ph
        w = np.arange(Wo)[None, None, None, None, :] * sw + j - pw
        inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
        idx = np.where(inside, m * (H * W) + h * W + w, n * H * W)
    else:
        ho, rh = np.divmod(np.arange(H)[None, None, None, :, None] + ph - i, sh)
        wo, rw = np.divmod(np.arange(W)[None, None, None, None, :] + pw - j, sw)
        inside = (rh == 0) & (ho >= 0) & (ho < Ho) & (rw == 0) & (wo >= 0) & (wo < Wo)
        idx = np.where(inside, m * (Ho * Wo) + ho * Wo + wo, n * Ho * Wo)
    idx = np.ascontiguousarray(idx.reshape(KH * KW, -1), dtype=np.intp)
    idx.flags.writeable = False
    return idx


def _chunks(N: int, per_image: int) -> list[tuple[int, int]]:
    step = max(1, min(N, CHUNK_BYTES // max(per_image, 1)))
    return [(n0, min(N, n0 + step)) for n0 in range(0, N, step)] or [(0, 0)]


def _conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
    stride: tuple[int, int], padding: tuple[int, int],
) -> tuple[np.ndarray, Conv2dCache]:
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * padding[0] - KH) // stride[0] + 1
    Wo = (W + 2 * padding[1] - KW) // stride[1] + 1
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    K, P = C * KH * KW, Ho * Wo
    xT = x.transpose(1, 0, 2, 3)  # (C, N, H, W): free, and contiguous after a previous conv
    w2 = w.reshape(F, K).astype(dtype, copy=False)
    gather = _gather_path((H, W), stride, (Ho, Wo))
    # The bias folded into the products: cols gets one more row, all ones, and w one more
    # column, b; the forward product then adds b and the backward's dw product yields db (two
    # passes over the output saved). Not on the gather path, whose np.take makes cols itself.
    fold = b is not None and not gather
    if fold:
        assert b is not None
        w2 = np.concatenate([w2, b.astype(dtype, copy=False)[:, None]], axis=1)
    K1 = w2.shape[1]
    chunks = _chunks(N, K1 * P * np.dtype(dtype).itemsize)
    out2 = np.empty((F, N * P), dtype)
    kept = []
    # every chunk's columns are kept for the backward pass: one allocation for all of them
    # (large enough for NumPy to ask for huge pages; a fresh 4 MB block per chunk cost 3x the
    # copy itself in page faults)
    store = None if gather else np.empty(K1 * N * P, dtype)
    for n0, n1 in chunks:
        if gather:
            xz = np.empty((C, (n1 - n0) * H * W + 1), dtype)
            xz[:, :-1].reshape(C, n1 - n0, H, W)[...] = xT[:, n0:n1]
            xz[:, -1] = 0
            idx = _gather_index(n1 - n0, (H, W), (KH, KW), stride, padding, (Ho, Wo), False)
            cols2 = np.take(xz, idx, axis=1).reshape(K, -1)
        else:
            assert store is not None
            cols2 = store[K1 * n0 * P : K1 * n1 * P].reshape(K1, -1)
            cols = cols2[:K].reshape(C, KH, KW, n1 - n0, Ho, Wo)
            _im2col(xT[:, n0:n1], (KH, KW), stride, padding, (Ho, Wo), cols)
            if fold:
                cols2[K] = 1
        np.matmul(w2, cols2, out=out2[:, n0 * P : n1 * P])
        kept.append(cols2)
    if b is not None and not fold:
        out2 += b.astype(dtype, copy=False)[:, None]
    out = out2.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)
    return out, Conv2dCache(x.shape, x.dtype, kept, w, b, stride, padding, (Ho, Wo))


def _conv2d_backward(
    dout: np.ndarray, cache: Conv2dCache, input_grad: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    (N, C, H, W), x_dtype, kept, w, b, stride, padding, (Ho, Wo) = cache
    F, _, KH, KW = w.shape
    K, P = C * KH * KW, Ho * Wo
    dtype = kept[0].dtype if kept else np.result_type(x_dtype, w.dtype)
    # (F, N Ho Wo): free when dout has the channel-major layout of conv2d_forward's output.
    dout2 = dout.transpose(1, 0, 2, 3).astype(dtype, copy=False).reshape(F, N * P)
    # cols with one more row of ones (the bias folded in, see _conv2d): dw's product gives db
    K1 = kept[0].shape[0] if kept else K
    fold = b is not None and K1 == K + 1
    w2 = w.reshape(F, K).astype(dtype, copy=False)
    dxT = np.empty((C, N, H, W), dtype=x_dtype) if input_grad else None
    # dw as (cols @ dout.T).T when cols has at least as many rows as dout: the same sums, but
    # OpenBLAS spreads that product over both threads better (16->32 channels, 3x3: 1.7x on 2
    # threads, where dout @ cols.T gets 1.1x); with few rows (one input channel) the other way
    # is faster
    dw_t = K >= F
    dw2T = np.zeros((K1, F), dtype)
    # stride 1 on tiny images: dx = (w as (C, F KH KW)) @ (dout gathered as the columns of a
    # transposed convolution), one product and one np.take instead of the col2im adds; the
    # gathered dout has F KH KW rows where dcols has C KH KW: worth it while F <= 4 C
    gather = (dxT is not None and _gather_path((H, W), stride, (Ho, Wo)) and stride == (1, 1)
              and F <= 4 * C)
    if gather:
        wt2 = w.transpose(1, 0, 2, 3).reshape(C, F * KH * KW).astype(dtype)
    same = (dxT is not None and not gather and _same(stride, (H, W), (Ho, Wo))
            and F <= TRANSPOSED_MAX_RATIO * C)
    if same:
        wt2 = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * KH * KW).astype(dtype)
    n0 = 0
    scratch: np.ndarray | None = None
    for cols2 in kept:
        n1 = n0 + cols2.shape[1] // P
        d = dout2[:, n0 * P : n1 * P]
        if dw_t:
            dw2T += np.matmul(cols2, d.T)
        else:
            dw2T += np.matmul(d, cols2.T).T
        if gather:
            assert dxT is not None
            dz = np.empty((F, (n1 - n0) * P + 1), dtype)
            dz[:, :-1] = d
            dz[:, -1] = 0
            idx = _gather_index(n1 - n0, (H, W), (KH, KW), stride, padding, (Ho, Wo), True)
            dcolsT = np.take(dz, idx, axis=1).reshape(F * KH * KW, -1)
            np.matmul(wt2, dcolsT, out=dxT.reshape(C, -1)[:, n0 * H * W : n1 * H * W])
        elif same:
            assert dxT is not None
            if scratch is None or scratch.size < F * KH * KW * d.shape[1]:
                scratch = np.empty(F * KH * KW * d.shape[1], dtype)
            colsT = scratch[: F * KH * KW * d.shape[1]].reshape(F, KH, KW, n1 - n0, H, W)
            _im2col_same(d.reshape(F, n1 - n0, H, W), padding, colsT)
            np.matmul(wt2, colsT.reshape(F * KH * KW, -1),
                      out=dxT.reshape(C, -1)[:, n0 * H * W : n1 * H * W])
        elif dxT is not None:
            if scratch is None or scratch.size < K * d.shape[1]:
                scratch = np.empty(K * d.shape[1], dtype)  # one buffer for every chunk
            dcols = np.matmul(w2.T, d, out=scratch[: K * d.shape[1]].reshape(K, -1))
            _col2im(dcols.reshape(C, KH, KW, n1 - n0, Ho, Wo), (KH, KW), stride, padding,
                    dxT[:, n0:n1])
        n0 = n1
    dw = np.ascontiguousarray(dw2T[:K].T, dtype=w.dtype).reshape(w.shape)
    db = None
    if b is not None:
        db = (dw2T[K] if fold else dout2.sum(axis=1)).astype(b.dtype)
    return (None if dxT is None else dxT.transpose(1, 0, 2, 3)), dw, db


def conv2d_forward(
    x: ArrayLike, w: ArrayLike, b: ArrayLike | None, stride: IntOrPair = 1,
    padding: IntOrPair = 0,
) -> tuple[np.ndarray, Conv2dCache]:
    """out[n, f, ho, wo] = b[f] + sum_{c, i, j} w[f, c, i, j] x_pad[n, c, ho S + i, wo S + j].

    Shapes: x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, Ho, Wo) with
    Ho = (H + 2 PH - KH) // SH + 1 and Wo = (W + 2 PW - KW) // SW + 1; x_pad is x with PH zero
    rows above and below and PW zero columns left and right. ``stride`` (S) and ``padding``
    (P) are an int or a pair (height, width), as in torch.nn.functional.conv2d. cache is a
    ``Conv2dCache`` (the im2col matrix, w, b and the geometry). ``out`` is channel-major in
    memory (see the module docstring).
    """
    x, w, b, s, p = _check_conv2d("conv2d_forward", x, w, b, stride, padding)
    return _conv2d(x, w, b, s, p)


def conv2d_backward(
    dout: ArrayLike, cache: Conv2dCache, *, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """dx, dw, db of the convolution: dw[f, c, i, j] = sum_{n, ho, wo} dout[n, f, ho, wo]
    x_pad[n, c, ho S + i, wo S + j], db[f] = sum_{n, ho, wo} dout[n, f, ho, wo], and dx the
    sum over every output that read x[n, c, h, w] of dout times the weight it was read with.

    Shapes: dout (N, F, Ho, Wo) -> dx (N, C, H, W), dw (F, C, KH, KW), db (F,) (None when the
    forward had no bias). ``input_grad=False`` skips dx (returned as None), for a first layer
    whose input is data. Each gradient has the dtype of the array it is the gradient of.
    """
    fn = "conv2d_backward"
    if not isinstance(cache, Conv2dCache):
        raise ValueError(f"{fn}: cache must be the cache conv2d_forward returned")
    dout = as_array(dout, fn, "dout")
    expected = (cache.x_shape[0], cache.w.shape[0], *cache.out_hw)
    if dout.shape != expected:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {expected}"
        )
    return _conv2d_backward(dout, cache, input_grad)


# ---------------------------------------------------------------------------------------------
# 1-D convolution (a 2-D convolution over an image of height 1)
# ---------------------------------------------------------------------------------------------


def conv1d_forward(
    x: ArrayLike, w: ArrayLike, b: ArrayLike | None, stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
) -> tuple[np.ndarray, Conv2dCache]:
    """out[n, f, lo] = b[f] + sum_{c, k} w[f, c, k] x_pad[n, c, lo S + k].

    Shapes: x (N, C, L), w (F, C, K), b (F,) or None -> out (N, F, Lo) with
    Lo = (L + 2 P - K) // S + 1; x_pad has P zeros at each end. ``stride`` and ``padding`` are
    ints (or 1-tuples), as in torch.nn.functional.conv1d. cache is that of the equivalent
    conv2d_forward on (N, C, 1, L).
    """
    x, w, b, s, p = _check_conv2d(
        "conv1d_forward", x, w, b, stride, padding,
        layout=("(N, C, L)", "(F, C, K)"), ndim=3,
    )
    out, cache = _conv2d(x[:, :, None, :], w[:, :, None, :], b, s, p)
    return out[:, :, 0, :], cache


def conv1d_backward(
    dout: ArrayLike, cache: Conv2dCache, *, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """dx, dw, db of conv1d_forward.  Shapes: dout (N, F, Lo) -> dx (N, C, L), dw (F, C, K),
    db (F,) (None without bias). ``input_grad=False`` skips dx (returned as None)."""
    fn = "conv1d_backward"
    if not isinstance(cache, Conv2dCache) or cache.x_shape[2] != 1:
        raise ValueError(f"{fn}: cache must be the cache conv1d_forward returned")
    dout = as_array(dout, fn, "dout")
    expected = (cache.x_shape[0], cache.w.shape[0], cache.out_hw[1])
    if dout.shape != expected:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {expected}"
        )
    dx, dw, db = _conv2d_backward(dout[:, :, None, :], cache, input_grad)
    return (None if dx is None else dx[:, :, 0, :]), dw[:, :, 0, :], db


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


def _check_pool(
    fn: str, x: ArrayLike, kernel_size: Any, stride: Any, padding: Any
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    x = _check_image(x, fn)
    k = _pair(kernel_size, fn, "kernel_size", minimum=1)
    s = k if stride is None else _pair(stride, fn, "stride", minimum=1)
    p = _pair(padding, fn, "padding", minimum=0)
    if any(2 * q > kk for q, kk in zip(p, k, strict=True)):
        raise ValueError(
            f"{fn}: padding {p} must be at most half the kernel {k} (as in torch), got it larger"
        )
    H, W = x.shape[2:]
    if k[0] > H + 2 * p[0] or k[1] > W + 2 * p[1]:
        raise ValueError(
            f"{fn}: the kernel {k} is larger than the padded input "
            f"{(H + 2 * p[0], W + 2 * p[1])} (x {x.shape}, padding {p})"
        )
    Ho = (H + 2 * p[0] - k[0]) // s[0] + 1
    Wo = (W + 2 * p[1] - k[1]) // s[1] + 1
    return x, k, s, p, (Ho, Wo)


def _first_inside(kernel: int, stride: int, pad: int, size: int, out_size: int) -> np.ndarray:
    """(out_size,): for each output position, the first kernel offset that reads the input
    rather than the padding."""
    first = np.empty(out_size, np.intp)
    for o in range(out_size):
        first[o] = next(q for q in range(kernel) if 0 <= o * stride + q - pad < size)
    return first


def max_pool2d_forward(
    x: ArrayLike, kernel_size: IntOrPair, stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> tuple[np.ndarray, PoolCache]:
    """out[n, c, ho, wo] = max_{i, j} x_pad[n, c, ho S + i, wo S + j] over the KH x KW window.

    Shapes: x (N, C, H, W) -> out (N, C, Ho, Wo) with Ho = (H + 2 PH - KH) // SH + 1, likewise
    Wo. ``stride`` defaults to ``kernel_size`` (torch.nn.functional.max_pool2d); ``padding``
    pads with -inf and must be at most half the kernel. cache keeps the winner of each window
    (``argmax``, the offset i * KW + j): on a tie, the first in row-major order, as torch.

    Speed: one kernel offset at a time, its strided slice of x is copied into a contiguous
    buffer (-inf where it reads padding), and the running maximum, the comparison and the
    winner's offset are updated by whole-array operations on contiguous arrays.
    """
    fn = "max_pool2d_forward"
    x, k, s, p, (Ho, Wo) = _check_pool(fn, x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    cm = _channel_major(x)
    shape = (N, C, Ho, Wo)
    it = np.uint8 if k[0] * k[1] <= 256 else np.int32
    out, idx = _empty(shape, x.dtype, cm), _empty(shape, it, cm)
    ranges = _ranges(k, s, p, (H, W), (Ho, Wo))

    def load(r: tuple[int, int, slice, slice, slice, slice], dst: np.ndarray) -> None:
        """dst = what kernel offset r reads of every window (-inf for the padding)."""
        _, _, ro, co, ri, ci = r
        if ro.start > 0:
            dst[:, :, : ro.start] = -np.inf
        if ro.stop < Ho:
            dst[:, :, ro.stop :] = -np.inf
        if co.start > 0:
            dst[:, :, ro, : co.start] = -np.inf
        if co.stop < Wo:
            dst[:, :, ro, co.stop :] = -np.inf
        dst[:, :, ro, co] = x[:, :, ri, ci]

    load(ranges[0], out)
    if p == (0, 0):
        idx[...] = 0
    else:  # torch's winner of a window of -inf: its first offset inside x, not the padding
        fi = _first_inside(k[0], s[0], p[0], H, Ho)
        fj = _first_inside(k[1], s[1], p[1], W, Wo)
        idx[...] = (fi[:, None] * k[1] + fj[None, :]).astype(it)
    if len(ranges) > 1:
        buf = _empty(shape, x.dtype, cm)
        better = _empty(shape, bool, cm)
        won = better.view(np.uint8)  # 0 / 1
    for r in ranges[1:]:
        load(r, buf)
        np.greater(buf, out, out=better)  # strict: an earlier offset keeps a tie
        np.maximum(out, buf, out=out)
        # offsets come in increasing order: the new winner's offset is larger than the old
        # one's, so idx = max(idx, better * offset) sets it where `better` and only there
        offset = r[0] * k[1] + r[1]
        if it is np.uint8:
            np.maximum(idx, np.multiply(won, offset, out=won), out=idx)
        else:
            np.maximum(idx, won.astype(np.int32) * offset, out=idx)
    return out, PoolCache(idx, x.shape, x.dtype, cm, k, s, p)


def max_pool2d_backward(dout: ArrayLike, cache: PoolCache) -> np.ndarray:
    """dx: each window's dout goes to its maximum (one winner per window), and the
    contributions of overlapping windows add up.  Shapes: dout (N, C, Ho, Wo) -> dx (N, C, H, W).
    """
    fn = "max_pool2d_backward"
    dout = _check_pool_dout(fn, dout, cache, need_argmax=True)
    idx = cache.argmax
    assert idx is not None
    (N, C, H, W), k, s, p = cache.x_shape, cache.kernel_size, cache.stride, cache.padding
    Ho, Wo = idx.shape[2:]
    cm = cache.channel_major
    ranges = _ranges(k, s, p, (H, W), (Ho, Wo))
    dx = _empty((N, C, H, W), cache.x_dtype, cm)
    # windows side by side, tiling x exactly: every dx entry is written once, by one offset
    tiled = s == k and p == (0, 0) and H == Ho * k[0] and W == Wo * k[1]
    disjoint = s[0] >= k[0] and s[1] >= k[1]
    if not tiled:
        dx[...] = 0
    if dout.dtype != cache.x_dtype or not (dout.swapaxes(0, 1) if cm else dout).flags.c_contiguous:
        d = _empty(dout.shape, cache.x_dtype, cm)  # dout in dx's dtype and memory order
        np.copyto(d, dout)
        dout = d
    hit = _empty((N, C, Ho, Wo), bool, cm)
    part = None if tiled else _empty((N, C, Ho, Wo), cache.x_dtype, cm)
    for i, j, ro, co, ri, ci in ranges:
        np.equal(idx, i * k[1] + j, out=hit)
        if part is None:
            np.multiply(dout, hit, out=dx[:, :, ri, ci])
        else:
            np.multiply(dout, hit, out=part)
            if disjoint:  # every input is in at most one window: copy instead of add
                dx[:, :, ri, ci] = part[:, :, ro, co]
            else:
                dx[:, :, ri, ci] += part[:, :, ro, co]
    return dx


def avg_pool2d_forward(
    x: ArrayLike, kernel_size: IntOrPair, stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
) -> tuple[np.ndarray, PoolCache]:
    """out[n, c, ho, wo] = mean_{i, j} x_pad[n, c, ho S + i, wo S + j] over the KH x KW window.

    Shapes: x (N, C, H, W) -> out (N, C, Ho, Wo), sizes as in max_pool2d_forward. Zero padding
    counts in the mean (torch's default count_include_pad=True): the divisor is always KH KW.
    """
    fn = "avg_pool2d_forward"
    x, k, s, p, (Ho, Wo) = _check_pool(fn, x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    cm = _channel_major(x)
    out = _empty((N, C, Ho, Wo), x.dtype, cm)
    out[...] = 0
    for _, _, ro, co, ri, ci in _ranges(k, s, p, (H, W), (Ho, Wo)):
        out[:, :, ro, co] += x[:, :, ri, ci]
    out *= x.dtype.type(1.0 / (k[0] * k[1]))
    return out, PoolCache(None, x.shape, x.dtype, cm, k, s, p)


def avg_pool2d_backward(dout: ArrayLike, cache: PoolCache) -> np.ndarray:
    """dx: each window's dout / (KH KW) goes to every input of the window; overlapping windows
    add up.  Shapes: dout (N, C, Ho, Wo) -> dx (N, C, H, W)."""
    fn = "avg_pool2d_backward"
    dout = _check_pool_dout(fn, dout, cache, need_argmax=False)
    (N, C, H, W), k, s, p = cache.x_shape, cache.kernel_size, cache.stride, cache.padding
    Ho, Wo = dout.shape[2:]
    g = dout * cache.x_dtype.type(1.0 / (k[0] * k[1]))
    dx = _empty((N, C, H, W), cache.x_dtype, cache.channel_major)
    dx[...] = 0
    for _, _, ro, co, ri, ci in _ranges(k, s, p, (H, W), (Ho, Wo)):
        dx[:, :, ri, ci] += g[:, :, ro, co]
    return dx


def _check_pool_dout(fn: str, dout: ArrayLike, cache: PoolCache, need_argmax: bool) -> np.ndarray:
    if not isinstance(cache, PoolCache) or (need_argmax and cache.argmax is None):
        source = "max_pool2d_forward" if need_argmax else "avg_pool2d_forward"
        raise ValueError(f"{fn}: cache must be the cache {source} returned")
    dout = as_array(dout, fn, "dout")
    (N, C, H, W), k, s, p = cache.x_shape, cache.kernel_size, cache.stride, cache.padding
    expected = (N, C, (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1)
    if dout.shape != expected:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {expected}"
        )
    return dout


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d: torch's arguments, parameters and default initialisation."""

    accepts_input_grad = True
    _n: int = 2
    _forward_fn: Any = None
    _backward_fn: Any = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        bias: bool = True,
        *,
        rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
    ) -> None:
        name = type(self).__name__
        n = self._n
        self.in_channels = check_positive_int(in_channels, name, "in_channels")
        self.out_channels = check_positive_int(out_channels, name, "out_channels")
        self.kernel_size = _pair(kernel_size, name, "kernel_size", minimum=1, n=n)
        self.stride = _pair(stride, name, "stride", minimum=1, n=n)
        self.padding = _pair(padding, name, "padding", minimum=0, n=n)
        check_rng(rng, name)
        # torch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
        # the weight, and the same bound for the bias; fan_in = C * prod(kernel).
        fan_in = self.in_channels * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype))
        self.bias = (
            Parameter(rng.uniform(-bound, bound, size=self.out_channels).astype(dtype))
            if bias else None
        )
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        b = None if self.bias is None else self.bias.data
        stride = self.stride if self._n == 2 else self.stride[0]
        padding = self.padding if self._n == 2 else self.padding[0]
        out, self._cache = type(self)._forward_fn(x, self.weight.data, b, stride, padding)
        return out

    def backward(self, dout: ArrayLike, *, input_grad: bool = True) -> np.ndarray | None:
        """dx (None when ``input_grad=False``); adds dw and db into weight.grad and bias.grad."""
        dx, dw, db = type(self)._backward_fn(
            dout, _require_cache(self, self._cache), input_grad=input_grad
        )
        self.weight.accumulate_grad(dw)
        if self.bias is not None and db is not None:
            self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        k, s, p = (v if self._n == 2 else (v[0],) for v in
                   (self.kernel_size, self.stride, self.padding))
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={k}, stride={s}"
        if any(self.padding):
            text += f", padding={p}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """out = conv2d(x, weight, bias, stride, padding).  Shapes: x (N, C, H, W) -> out
    (N, F, Ho, Wo), with C = in_channels, F = out_channels; weight (F, C, KH, KW), bias (F,).

    torch.nn.Conv2d's arguments (kernel_size, stride, padding: an int or a pair) and default
    initialisation (weight and bias uniform in +-1/sqrt(C KH KW)), drawn from the injected
    ``rng``; the weight layout is torch's, so ``load_state_dict`` takes torch's state dict.
    """

    _n = 2
    _forward_fn = staticmethod(conv2d_forward)
    _backward_fn = staticmethod(conv2d_backward)


class Conv1d(_ConvNd):
    """out = conv1d(x, weight, bias, stride, padding).  Shapes: x (N, C, L) -> out (N, F, Lo),
    with C = in_channels, F = out_channels; weight (F, C, K), bias (F,).

    torch.nn.Conv1d's arguments and default initialisation (uniform in +-1/sqrt(C K)), drawn
    from the injected ``rng``.
    """

    _n = 1
    _forward_fn = staticmethod(conv1d_forward)
    _backward_fn = staticmethod(conv1d_backward)


class _Pool2d(Module):
    _forward_fn: Any = None
    _backward_fn: Any = None

    def __init__(
        self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
    ) -> None:
        name = type(self).__name__
        self.kernel_size = _pair(kernel_size, name, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else _pair(
            stride, name, "stride", minimum=1
        )
        self.padding = _pair(padding, name, "padding", minimum=0)
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache = type(self)._forward_fn(x, self.kernel_size, self.stride, self.padding)
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        return type(self)._backward_fn(dout, _require_cache(self, self._cache))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """out = max over each window.  Shapes: x (N, C, H, W) -> out (N, C, Ho, Wo).

    torch.nn.MaxPool2d's arguments: ``stride`` defaults to ``kernel_size``; ``padding`` (at
    most half the kernel) pads with -inf. backward sends each window's gradient to its maximum.
    """

    _forward_fn = staticmethod(max_pool2d_forward)
    _backward_fn = staticmethod(max_pool2d_backward)


class AvgPool2d(_Pool2d):
    """out = mean over each window (zero padding included).  Shapes: x (N, C, H, W) -> out
    (N, C, Ho, Wo).  torch.nn.AvgPool2d's arguments; ``stride`` defaults to ``kernel_size``."""

    _forward_fn = staticmethod(avg_pool2d_forward)
    _backward_fn = staticmethod(avg_pool2d_backward)
