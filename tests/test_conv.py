"""Tests for nnlib.conv: convolution and pooling pairs against explicit loops and torch (float64,
forward and backward, random geometries), gradient checks, errors, and the modules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import require_torch

import nnlib
import nnlib.conv as conv
from nnlib.conv import (
    AvgPool2d,
    Conv1d,
    Conv2d,
    MaxPool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv_output_size,
    max_pool2d_backward,
    max_pool2d_forward,
)
from nnlib.gradcheck import check_gradients
from nnlib.layers import Flatten, Linear
from nnlib.module import Sequential
from strategies import conv2d_geometry, pool2d_geometry

PARITY = settings(deadline=None, max_examples=60)
RTOL = 1e-10  # float64 parity, relative to the largest entry of the reference


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def assert_rel(mine, ref, what: str, rtol: float = RTOL) -> None:
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape}, expected {ref.shape}"
    scale = max(float(np.abs(ref).max(initial=0.0)), 1e-300)
    err = float(np.abs(mine - ref).max(initial=0.0)) / scale
    assert err <= rtol, f"{what}: max error {err:.2e} of the largest entry (rtol {rtol})"


# ---------------------------------------------------------------------------------------------
# An independent oracle: the definitions as explicit loops
# ---------------------------------------------------------------------------------------------


def loop_conv2d(x, w, b, s, p):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    Ho, Wo = (H + 2 * p[0] - KH) // s[0] + 1, (W + 2 * p[1] - KW) // s[1] + 1
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    win = xp[n, :, i * s[0] : i * s[0] + KH, j * s[1] : j * s[1] + KW]
                    out[n, f, i, j] = np.sum(win * w[f]) + (0.0 if b is None else b[f])
    return out


def loop_conv2d_backward(dout, x, w, s, p):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows = slice(i * s[0], i * s[0] + KH)
                    cols = slice(j * s[1], j * s[1] + KW)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, p[0] : p[0] + H, p[1] : p[1] + W]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def loop_pool(x, k, s, p, kind):
    N, C, H, W = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    Ho, Wo = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            out[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return out


def geometry_arrays(g, rng):
    x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"]))
    w = rng.standard_normal((g["F"], g["C"], g["KH"], g["KW"]))
    b = rng.standard_normal(g["F"])
    return x, w, b, (g["SH"], g["SW"]), (g["PH"], g["PW"])


# ---------------------------------------------------------------------------------------------
# conv2d: hand case, loops, torch
# ---------------------------------------------------------------------------------------------


def test_conv2d_hand_case():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # x[i, j] - x[i + 1, j + 1] = -5 everywhere
    out, _ = conv2d_forward(x, w, np.array([0.5]), stride=2)
    np.testing.assert_array_equal(out, [[[[-4.5, -4.5], [-4.5, -4.5]]]])
    out, _ = conv2d_forward(x, w, None, stride=1, padding=1)  # a corner reads only padding
    assert out.shape == (1, 1, 5, 5)
    assert out[0, 0, 0, 0] == -x[0, 0, 0, 0] and out[0, 0, 4, 4] == x[0, 0, 3, 3]
    np.testing.assert_array_equal(out[0, 0, 1:4, 1:4], -5.0)


def test_conv2d_is_cross_correlation_not_convolution():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 0, 0] = 1.0
    w = np.arange(9.0).reshape(1, 1, 3, 3)
    out, _ = conv2d_forward(x, w, None, padding=2)
    # out[i, j] = w[a, b] where the window's offset (a, b) lands on x[0, 0]: (2 - i, 2 - j)
    np.testing.assert_array_equal(out[0, 0, :3, :3], w[0, 0, ::-1, ::-1])


@given(conv2d_geometry(max_side=7), st.integers(0, 2**32 - 1))
@PARITY
def test_conv2d_matches_loops(g, seed):
    rng = np.random.default_rng(seed)
    x, w, b, s, p = geometry_arrays(g, rng)
    out, cache = conv2d_forward(x, w, b, s, p)
    assert_rel(out, loop_conv2d(x, w, b, s, p), "out")
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    rdx, rdw, rdb = loop_conv2d_backward(dout, x, w, s, p)
    assert_rel(dx, rdx, "dx")
    assert_rel(dw, rdw, "dw")
    assert_rel(db, rdb, "db")


@given(conv2d_geometry(), st.integers(0, 2**32 - 1), st.booleans())
@PARITY
def test_conv2d_matches_torch(g, seed, bias):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x, w, b, s, p = geometry_arrays(g, rng)
    b = b if bias else None
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    ot = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
    out, cache = conv2d_forward(x, w, b, s, p)
    assert_rel(out, ot.detach().numpy(), "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout))
    dx, dw, db = conv2d_backward(dout, cache)
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(dw, wt.grad.numpy(), "dw")
    if bias:
        assert_rel(db, bt.grad.numpy(), "db")
    else:
        assert db is None


@given(conv2d_geometry(), st.integers(0, 2**32 - 1))
@PARITY
def test_conv2d_in_chunks_equals_one_chunk(g, seed):
    """The batch is processed in chunks of images when its columns are large; a tiny chunk
    budget (one image per chunk) must give the same numbers."""
    rng = np.random.default_rng(seed)
    x, w, b, s, p = geometry_arrays(g, rng)
    out1, cache1 = conv2d_forward(x, w, b, s, p)
    dout = rng.standard_normal(out1.shape)
    grads1 = conv2d_backward(dout, cache1)
    saved = conv.CHUNK_BYTES
    conv.CHUNK_BYTES = 1
    try:
        assert len(conv._chunks(g["N"], 8)) == g["N"]
        out2, cache2 = conv2d_forward(x, w, b, s, p)
        grads2 = conv2d_backward(dout, cache2)
    finally:
        conv.CHUNK_BYTES = saved
    assert len(cache2.cols) == g["N"] and len(cache1.cols) == 1
    np.testing.assert_allclose(out2, out1, rtol=1e-13, atol=1e-13)
    for a, c in zip(grads2, grads1, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-13)


def test_conv2d_input_grad_false_skips_dx_only(rng):
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), np.ones(4)
    out, cache = conv2d_forward(x, w, b, (2, 1), 1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    none, dw2, db2 = conv2d_backward(dout, cache, input_grad=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_conv2d_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, np.float32)
    out, cache = conv2d_forward(x, w, b, 1, 1)
    dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == np.float32


def test_conv2d_does_not_modify_its_inputs(rng):
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 2)), np.ones(3)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv2d_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    conv2d_backward(dout, cache)
    for a, c in zip((x, w, b, dout), (*copies, dout_copy), strict=True):
        np.testing.assert_array_equal(a, c)


def test_chained_layers_with_channel_major_arrays_match_torch(rng):
    """conv2d_forward returns channel-major arrays; the next conv and pool read them as they
    are. The chain conv -> max pool -> conv -> avg pool must still match torch."""
    torch = require_torch()
    tF = torch.nn.functional
    x = rng.standard_normal((5, 3, 11, 9))
    w1, w2 = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((6, 4, 2, 2))
    o1, c1 = conv2d_forward(x, w1, None, 1, 1)
    assert o1.strides[1] > o1.strides[0]  # channel-major, as documented
    o2, c2 = max_pool2d_forward(o1, 3, 2, 1)
    o3, c3 = conv2d_forward(o2, w2, None, 1, 0)
    o4, c4 = avg_pool2d_forward(o3, 2, 1)
    dout = rng.standard_normal(o4.shape)
    d3 = avg_pool2d_backward(dout, c4)
    d2, dw2, _ = conv2d_backward(d3, c3)
    d1 = max_pool2d_backward(d2, c2)
    dx, dw1, _ = conv2d_backward(d1, c1)
    xt = torch.tensor(x, requires_grad=True)
    w1t, w2t = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)
    ot = tF.avg_pool2d(tF.conv2d(tF.max_pool2d(tF.conv2d(xt, w1t, padding=1), 3, 2, 1), w2t), 2, 1)
    ot.backward(torch.tensor(dout))
    assert_rel(o4, ot.detach().numpy(), "out")
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(dw1, w1t.grad.numpy(), "dw1")
    assert_rel(dw2, w2t.grad.numpy(), "dw2")


# ---------------------------------------------------------------------------------------------
# conv1d
# ---------------------------------------------------------------------------------------------


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5),
       st.integers(1, 5), st.integers(0, 3), st.integers(0, 2**32 - 1))
@PARITY
def test_conv1d_matches_torch(N, C, F, K, stride, padding, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    L = int(rng.integers(max(1, K - 2 * padding), 13))
    x, w, b = rng.standard_normal((N, C, L)), rng.standard_normal((F, C, K)), rng.standard_normal(F)
    out, cache = conv1d_forward(x, w, b, stride, padding)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.conv1d(xt, wt, bt, stride=stride, padding=padding)
    assert_rel(out, ot.detach().numpy(), "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout))
    dx, dw, db = conv1d_backward(dout, cache)
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(dw, wt.grad.numpy(), "dw")
    assert_rel(db, bt.grad.numpy(), "db")


def test_conv1d_equals_conv2d_of_height_one(rng):
    x, w = rng.standard_normal((2, 3, 10)), rng.standard_normal((4, 3, 3))
    out1, _ = conv1d_forward(x, w, None, 2, 1)
    out2, _ = conv2d_forward(x[:, :, None, :], w[:, :, None, :], None, (1, 2), (0, 1))
    np.testing.assert_array_equal(out1, out2[:, :, 0, :])


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


@given(pool2d_geometry(), st.integers(0, 2**32 - 1), st.sampled_from(["max", "avg"]),
       st.booleans())
@PARITY
def test_pooling_matches_torch_and_loops(g, seed, kind, ties):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    shape = (g["N"], g["C"], g["H"], g["W"])
    # Small integers make ties in almost every window: torch sends the gradient to the first
    # maximum in row-major order, and so must we.
    x = rng.integers(-2, 3, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
    k, s, p = (g["KH"], g["KW"]), (g["SH"], g["SW"]), (g["PH"], g["PW"])
    fwd, bwd, tfn = {
        "max": (max_pool2d_forward, max_pool2d_backward, torch.nn.functional.max_pool2d),
        "avg": (avg_pool2d_forward, avg_pool2d_backward, torch.nn.functional.avg_pool2d),
    }[kind]
    out, cache = fwd(x, k, s, p)
    assert_rel(out, loop_pool(x, k, s, p, kind), "out (loops)")
    xt = torch.tensor(x, requires_grad=True)
    ot = tfn(xt, k, s, p)
    assert_rel(out, ot.detach().numpy(), "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout))
    assert_rel(bwd(dout, cache), xt.grad.numpy(), "dx")


def test_max_pool_tie_goes_to_the_first_maximum_only():
    x = np.ones((1, 1, 2, 2))
    out, cache = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.array([[[[3.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[3.0, 0.0], [0.0, 0.0]]]])


def test_max_pool_overlapping_windows_add_up():
    x = np.array([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]])
    out, cache = max_pool2d_forward(x, 2, 1)  # all four windows share the centre
    np.testing.assert_array_equal(out, 9.0)
    dx = max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    assert dx[0, 0, 1, 1] == 10.0 and dx.sum() == 10.0


def test_pool_stride_defaults_to_kernel_and_hand_values():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out, [[[[5.0, 7.0], [13.0, 15.0]]]])
    out, _ = avg_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out, [[[[2.5, 4.5], [10.5, 12.5]]]])
    out, _ = avg_pool2d_forward(x, 3, 3, 1)  # zero padding counts in the mean
    assert out[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 9


def test_pool_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    for fwd, bwd in [(max_pool2d_forward, max_pool2d_backward),
                     (avg_pool2d_forward, avg_pool2d_backward)]:
        out, cache = fwd(x, 2)
        assert out.dtype == np.float32 and bwd(np.ones_like(out), cache).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Gradient checks (central differences through nnlib.gradcheck)
# ---------------------------------------------------------------------------------------------


def test_conv2d_gradcheck(rng):
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), np.ones(3)
    errors = check_gradients(
        lambda x, w, b: conv2d_forward(x, w, b, (2, 1), (1, 2)),
        lambda dout, cache: conv2d_backward(dout, cache),
        [x, w, b], rng=rng, names=["x", "w", "b"],
    )
    assert max(errors) < 1e-7, errors


def test_conv1d_gradcheck(rng):
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 4)), np.ones(2)
    errors = check_gradients(
        lambda x, w, b: conv1d_forward(x, w, b, 2, 1),
        lambda dout, cache: conv1d_backward(dout, cache),
        [x, w, b], rng=rng, names=["x", "w", "b"],
    )
    assert max(errors) < 1e-7, errors


@pytest.mark.parametrize("fwd, bwd", [(max_pool2d_forward, max_pool2d_backward),
                                      (avg_pool2d_forward, avg_pool2d_backward)])
def test_pool_gradcheck(fwd, bwd, rng):
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0  # distinct: no ties
    errors = check_gradients(
        lambda x: fwd(x, (3, 2), (2, 3), (1, 1)), lambda dout, cache: (bwd(dout, cache),),
        [x], rng=rng,
    )
    assert max(errors) < 1e-7, errors


# ---------------------------------------------------------------------------------------------
# Errors: a ValueError naming the function and the shapes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, kwargs, match", [
    ((np.ones((2, 3, 5)), np.ones((4, 3, 3, 3)), None), {}, r"conv2d_forward: x .*\(2, 3, 5\)"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 2, 3, 3)), None), {},
     r"conv2d_forward: x has C=3 channels but w expects 2.*\(4, 2, 3, 3\)"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.ones(3)), {},
     r"conv2d_forward: b must have shape \(4,\).*\(3,\)"),
    ((np.ones((2, 3, 2, 5)), np.ones((4, 3, 5, 3)), None), {"padding": 1},
     r"conv2d_forward: the kernel \(5, 3\) is larger than the padded input \(4, 7\)"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None), {"stride": 0},
     r"conv2d_forward: stride must be a positive integer"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None), {"stride": (1, -2)},
     r"conv2d_forward: stride"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None), {"stride": (1, 1, 1)},
     r"conv2d_forward: stride"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None), {"stride": True},
     r"conv2d_forward: stride"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None), {"padding": -1},
     r"conv2d_forward: padding must be a non-negative integer"),
    ((np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None), {"stride": 1.5},
     r"conv2d_forward: stride"),
])
def test_conv2d_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv2d_forward(*args, **kwargs)


def test_conv1d_errors():
    with pytest.raises(ValueError, match=r"conv1d_forward: x must have shape \(N, C, L\)"):
        conv1d_forward(np.ones((2, 3, 4, 4)), np.ones((2, 3, 3)), None)
    with pytest.raises(ValueError, match=r"conv1d_forward: the kernel \(6,\) is larger"):
        conv1d_forward(np.ones((2, 3, 4)), np.ones((2, 3, 6)), None)
    with pytest.raises(ValueError, match=r"conv1d_forward: stride"):
        conv1d_forward(np.ones((2, 3, 4)), np.ones((2, 3, 3)), None, stride=(1, 1))


def test_backward_errors(rng):
    out, cache = conv2d_forward(np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), None)
    with pytest.raises(ValueError, match=r"conv2d_backward: dout has shape \(2, 4, 3\).*"
                                         r"\(2, 4, 3, 3\)"):
        conv2d_backward(np.ones((2, 4, 3)), cache)
    with pytest.raises(ValueError, match="conv2d_backward: cache"):
        conv2d_backward(out, (1, 2, 3))
    _, c1 = conv1d_forward(np.ones((2, 3, 6)), np.ones((4, 3, 3)), None)
    with pytest.raises(ValueError, match=r"conv1d_backward: dout has shape \(2, 4, 5\)"):
        conv1d_backward(np.ones((2, 4, 5)), c1)
    _, pc = max_pool2d_forward(np.ones((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"max_pool2d_backward: dout has shape \(1, 1, 3, 3\)"):
        max_pool2d_backward(np.ones((1, 1, 3, 3)), pc)
    _, ac = avg_pool2d_forward(np.ones((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="max_pool2d_backward: cache"):
        max_pool2d_backward(np.ones((1, 1, 2, 2)), ac)


@pytest.mark.parametrize("fwd", [max_pool2d_forward, avg_pool2d_forward])
def test_pool_errors(fwd):
    name = fwd.__name__
    with pytest.raises(ValueError, match=rf"{name}: x must have shape \(N, C, H, W\)"):
        fwd(np.ones((3, 4, 4)), 2)
    with pytest.raises(ValueError, match=rf"{name}: the kernel \(5, 5\) is larger"):
        fwd(np.ones((1, 1, 4, 4)), 5)
    with pytest.raises(ValueError, match=rf"{name}: padding .* at most half the kernel"):
        fwd(np.ones((1, 1, 4, 4)), 2, 1, 2)
    with pytest.raises(ValueError, match=rf"{name}: stride must be a positive integer"):
        fwd(np.ones((1, 1, 4, 4)), 2, 0)
    with pytest.raises(ValueError, match=rf"{name}: kernel_size"):
        fwd(np.ones((1, 1, 4, 4)), (2, 0))


def test_conv_output_size():
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(28, 3, 2, 1) == 14
    assert conv_output_size(7, 2, 3) == 2
    assert conv_output_size(5, 5) == 1
    with pytest.raises(ValueError, match="conv_output_size: kernel_size=6 is larger"):
        conv_output_size(4, 6)
    with pytest.raises(ValueError, match="conv_output_size: stride"):
        conv_output_size(4, 3, 0)


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


def test_conv2d_module_init_matches_torch_convention(rng):
    m = Conv2d(3, 8, (3, 2), rng=rng)
    bound = 1 / np.sqrt(3 * 3 * 2)
    assert m.weight.shape == (8, 3, 3, 2) and m.bias.shape == (8,)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.bias.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.8 * bound  # uniform over the whole range
    again = Conv2d(3, 8, (3, 2), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again.weight.data, m.weight.data)
    assert list(m.state_dict()) == ["weight", "bias"]
    assert Conv2d(3, 8, 3, bias=False, rng=rng).bias is None
    assert Conv2d(1, 2, 3, rng=rng, dtype=np.float32).weight.dtype == np.float32
    assert m.kernel_size == (3, 2) and m.stride == (1, 1) and m.padding == (0, 0)
    assert repr(m) == "Conv2d(3, 8, kernel_size=(3, 2), stride=(1, 1))"
    c1 = Conv1d(2, 4, 5, stride=2, padding=1, rng=rng)
    assert c1.weight.shape == (4, 2, 5) and np.abs(c1.weight.data).max() <= 1 / np.sqrt(10)
    assert repr(c1) == "Conv1d(2, 4, kernel_size=(5,), stride=(2,), padding=(1,))"


def test_module_argument_errors(rng):
    with pytest.raises(ValueError, match="Conv2d: in_channels"):
        Conv2d(0, 2, 3, rng=rng)
    with pytest.raises(ValueError, match="Conv2d: kernel_size"):
        Conv2d(1, 2, (3, 3, 3), rng=rng)
    with pytest.raises(ValueError, match="Conv1d: stride"):
        Conv1d(1, 2, 3, stride=0, rng=rng)
    with pytest.raises(ValueError, match="Conv2d: rng"):
        Conv2d(1, 2, 3, rng=np.random)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MaxPool2d: kernel_size"):
        MaxPool2d(0)
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        Conv2d(1, 2, 3, rng=rng).backward(np.ones((1, 2, 1, 1)))


def _copy_into_torch(torch, net, tnet):
    """Load nnlib's weights into the torch twin through torch's state dict names (Linear's
    weight is transposed: nnlib's W is (D_in, D_out))."""
    state = {}
    for name, value in net.state_dict().items():
        layer = net[int(name.split(".")[0])]
        if isinstance(layer, Linear) and name.endswith("weight"):
            value = value.T
        state[name] = torch.tensor(np.ascontiguousarray(value))
    tnet.load_state_dict(state)


def test_cnn_matches_torch_forward_backward_and_state_dict(rng):
    """conv - batchnorm - relu - maxpool - conv - relu - avgpool - flatten - linear, float64,
    weights loaded from torch's module through load_state_dict; the gradients of every
    parameter and of the input match torch's."""
    torch = require_torch()
    nn = torch.nn
    tnet = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, dtype=torch.float64), nn.BatchNorm2d(4, dtype=torch.float64),
        nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, (2, 3), stride=(1, 2), padding=(1, 0),
                                              dtype=torch.float64),
        nn.ReLU(), nn.AvgPool2d((2, 1), 1), nn.Flatten(), nn.Linear(20, 3, dtype=torch.float64),
    )
    net = Sequential(
        Conv2d(2, 4, 3, padding=1, rng=rng), nnlib.BatchNorm2d(4), nnlib.ReLU(), MaxPool2d(2),
        Conv2d(4, 5, (2, 3), stride=(1, 2), padding=(1, 0), rng=rng), nnlib.ReLU(),
        AvgPool2d((2, 1), 1), Flatten(), Linear(20, 3, rng=rng),
    )
    assert list(net.state_dict()) == list(tnet.state_dict())
    # nnlib's module loads torch's state dict (Linear's weight transposed)
    tstate = {k: v.detach().numpy().copy() for k, v in tnet.state_dict().items()}
    tstate["8.weight"] = tstate["8.weight"].T
    net.load_state_dict(tstate)
    x = rng.standard_normal((3, 2, 8, 7))
    xt = torch.tensor(x, requires_grad=True)
    out, ot = net(x), tnet(xt)
    assert_rel(out, ot.detach().numpy(), "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout))
    dx = net.backward(dout)
    assert_rel(dx, xt.grad.numpy(), "dx")
    tparams = dict(tnet.named_parameters())
    for name, p in net.named_parameters():
        ref = tparams[name].grad.numpy()
        if name == "0.bias":  # batch norm removes the mean: the bias's gradient is 0 (rounding)
            assert np.abs(p.grad).max() < 1e-12 and np.abs(ref).max() < 1e-12
            continue
        assert_rel(p.grad, ref.T if name == "8.weight" else ref, f"grad of {name}")
    for name, buf in net.named_buffers():
        assert_rel(buf, tnet.state_dict()[name].numpy(), name)
    # And back: torch loads nnlib's state dict.
    _copy_into_torch(torch, net, tnet)
    net.eval()
    tnet.eval()
    assert_rel(net(x), tnet(torch.tensor(x)).detach().numpy(), "eval out")


def test_conv_modules_match_torch_modules(rng):
    torch = require_torch()
    cases = [
        (Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(2, 0), rng=rng),
         torch.nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(2, 0), dtype=torch.float64),
         (2, 3, 7, 6)),
        (Conv2d(3, 4, 1, bias=False, rng=rng),
         torch.nn.Conv2d(3, 4, 1, bias=False, dtype=torch.float64), (1, 3, 5, 5)),
        (Conv1d(1, 25, 5, stride=2, padding=1, rng=rng),  # MNIST-1D's first layer
         torch.nn.Conv1d(1, 25, 5, stride=2, padding=1, dtype=torch.float64), (4, 1, 40)),
    ]
    for mine, theirs, shape in cases:
        mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        x = rng.standard_normal(shape)
        xt = torch.tensor(x, requires_grad=True)
        out, ot = mine(x), theirs(xt)
        assert_rel(out, ot.detach().numpy(), f"{mine!r} out")
        dout = rng.standard_normal(out.shape)
        ot.backward(torch.tensor(dout))
        assert_rel(mine.backward(dout), xt.grad.numpy(), f"{mine!r} dx")
        assert_rel(mine.weight.grad, theirs.weight.grad.numpy(), f"{mine!r} dw")


def test_first_conv_skips_dx_in_sequential(rng, monkeypatch):
    net = Sequential(Conv2d(1, 2, 3, rng=rng), nnlib.ReLU(), Flatten())
    calls = []
    original = conv.conv2d_backward

    def spy(dout, cache, *, input_grad=True):
        calls.append(input_grad)
        return original(dout, cache, input_grad=input_grad)

    monkeypatch.setattr(Conv2d, "_backward_fn", staticmethod(spy))
    out = net(rng.standard_normal((2, 1, 5, 5)))
    assert net.backward(np.ones_like(out), input_grad=False) is None
    assert calls == [False]
    assert net[0].weight.grad.any()


def test_flatten_module(rng):
    f = Flatten()
    x = rng.standard_normal((2, 3, 4, 5))
    out = f(x)
    assert out.shape == (2, 60)
    np.testing.assert_array_equal(out, x.reshape(2, -1))
    assert f.backward(out).shape == x.shape
    assert Flatten(0)(x).shape == (120,)
    assert Flatten(1, 2)(x).shape == (2, 12, 5)
    with pytest.raises(ValueError, match=r"Flatten: start_dim=1 and end_dim=-1 .* \(4,\)"):
        f(np.ones(4))
    with pytest.raises(ValueError, match=r"Flatten.backward: dout has shape \(3,\)"):
        f.backward(np.ones(3))


def test_small_cnn_trains_with_fit_and_adam(rng):
    """A conv net on 8x8 digits with nnlib.fit: the training loss falls well below its start."""
    X, y = _digits()
    X, y = X[:300], y[:300]
    net = Sequential(
        Conv2d(1, 8, 3, padding=1, rng=rng), nnlib.ReLU(), MaxPool2d(2), Flatten(),
        Linear(8 * 4 * 4, 10, rng=rng),
    )
    loss_fn = nnlib.CrossEntropyLoss()
    start = nnlib.evaluate(net, loss_fn, X, y)["loss"]
    hist = nnlib.fit(net, loss_fn, nnlib.Adam(net.parameters(), lr=1e-2), X, y, epochs=5,
                     batch_size=32, rng=rng, verbose=False)
    assert hist.history["loss"][-1] < 0.5 * start
    assert nnlib.evaluate(net, loss_fn, X, y)["accuracy"] > 0.8


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0)[:, None, :, :], d.target


# ---------------------------------------------------------------------------------------------
# Max pooling's fast paths (one contiguous buffer per kernel offset; tiled windows): parity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, s, p", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)),
                                     ((2, 3), (1, 2), (1, 1)), ((3, 2), (4, 3), (1, 0))])
@pytest.mark.parametrize("layout", ["nchw", "channel_major", "strided"])
def test_max_pool_layouts_ties_and_dtypes_match_torch(k, s, p, layout, rng):
    """Integer inputs (ties everywhere) in each memory layout, with float64 and float32 douts:
    out, the winners and dx are torch's."""
    torch = require_torch()
    x = rng.integers(-2, 3, size=(3, 4, 9, 8)).astype(np.float64)
    if layout == "channel_major":
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    elif layout == "strided":
        x = np.repeat(x, 2, axis=3)[:, :, :, ::2]
    out, cache = max_pool2d_forward(x, k, s, p)
    xt = torch.tensor(x, requires_grad=True)
    ot, it = torch.nn.functional.max_pool2d(xt, k, s, p, return_indices=True)
    np.testing.assert_array_equal(out, ot.detach().numpy())
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout))
    assert_rel(max_pool2d_backward(dout, cache), xt.grad.numpy(), "dx")
    dx32 = max_pool2d_backward(dout.astype(np.float32).T.copy().T, cache)  # other order
    assert dx32.dtype == np.float64
    assert_rel(dx32, xt.grad.numpy(), "dx (float32 dout)", rtol=1e-6)
    # torch's flat index of each window's winner, from the offset i * KW + j in the cache
    Ho, Wo = out.shape[2:]
    i, j = np.divmod(cache.argmax.astype(np.int64), k[1])
    rows = np.arange(Ho)[:, None] * s[0] - p[0] + i
    cols = np.arange(Wo)[None, :] * s[1] - p[1] + j
    np.testing.assert_array_equal(rows * x.shape[3] + cols, it.numpy())


def test_max_pool_windows_of_minus_inf_send_the_gradient_where_torch_does(rng):
    """A window holding only -inf (and padding) has its winner at the first offset inside x,
    as torch: never in the padding, where the gradient would be lost."""
    torch = require_torch()
    x = rng.standard_normal((2, 3, 7, 6))
    x[:, :, :3, :] = -np.inf
    x[:, 1] = -np.inf
    for k, s, p in [(3, 2, 1), (2, 1, 1), ((3, 2), (1, 2), (1, 1))]:
        out, cache = max_pool2d_forward(x, k, s, p)
        xt = torch.tensor(x, requires_grad=True)
        ot = torch.nn.functional.max_pool2d(xt, k, s, p)
        np.testing.assert_array_equal(out, ot.detach().numpy())
        dout = rng.standard_normal(out.shape)
        ot.backward(torch.tensor(dout))
        dx = max_pool2d_backward(dout, cache)
        assert_rel(dx, xt.grad.numpy(), f"dx (k={k}, s={s}, p={p})")
        assert abs(dx.sum() - dout.sum()) < 1e-9, "some window's gradient went to the padding"


def test_max_pool_tiled_path_equals_general_path(rng):
    """k == s, no padding and sizes that are multiples of k take the tiled path (dx written
    once per offset, never zeroed); one more row and column that no window reads take the
    general path. On the same windows both must give the same out and dx, and the extra row
    and column get zero."""
    x = rng.integers(-3, 4, size=(4, 5, 13, 13)).astype(np.float64)
    for k in (2, 3, (2, 3)):
        kk = (k, k) if isinstance(k, int) else k
        H, W = 4 * kk[0], 4 * kk[1]
        out_t, cache_t = max_pool2d_forward(x[:, :, :H, :W], k)
        out_g, cache_g = max_pool2d_forward(x[:, :, : H + 1, : W + 1], k)
        np.testing.assert_array_equal(out_t, out_g)
        np.testing.assert_array_equal(cache_t.argmax, cache_g.argmax)
        np.testing.assert_array_equal(out_t, loop_pool(x[:, :, :H, :W], kk, kk, (0, 0), "max"))
        dout = rng.standard_normal(out_t.shape)
        dx_t = max_pool2d_backward(dout, cache_t)
        dx_g = max_pool2d_backward(dout, cache_g)
        np.testing.assert_array_equal(dx_t, dx_g[:, :, :H, :W])
        assert not dx_g[:, :, H:].any() and not dx_g[:, :, :, W:].any()
        assert np.count_nonzero(dx_t) == np.count_nonzero(dout)  # one winner per window


def test_max_pool_kernel_of_more_than_256_offsets_matches_torch(rng):
    """17 x 17 windows: offsets up to 288 do not fit the uint8 winner index."""
    torch = require_torch()
    x = rng.integers(-2, 3, size=(2, 2, 19, 18)).astype(np.float64)
    x[:, :, 17:, 12:] += 5  # ties in the last rows of every window: winners past offset 255
    out, cache = max_pool2d_forward(x, 17, 1, 1)
    assert cache.argmax.max() > 255
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.nn.functional.max_pool2d(xt, 17, 1, 1)
    np.testing.assert_array_equal(out, ot.detach().numpy())
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout))
    assert_rel(max_pool2d_backward(dout, cache), xt.grad.numpy(), "dx")


# ---------------------------------------------------------------------------------------------
# Convolution's gather path (tiny images: im2col by np.take, dx by a transposed-conv product)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N, C, F, H, W, k, s, p", [
    (5, 3, 4, 4, 4, (3, 3), (1, 1), (0, 0)),   # gathered im2col and dx
    (2, 2, 8, 5, 3, (2, 3), (1, 1), (2, 0)),   # F > 4 C: gathered im2col, col2im dx
    (3, 4, 2, 6, 7, (3, 2), (2, 3), (1, 1)),   # stride > 1: col2im dx
    (1, 1, 1, 3, 5, (3, 1), (1, 1), (3, 0)),   # padding > half the kernel, batch of one
    (4, 6, 5, 1, 8, (1, 3), (1, 1), (0, 2)),   # height one
])
def test_conv2d_gather_path_equals_strided_path_and_torch(N, C, F, H, W, k, s, p, rng,
                                                           monkeypatch):
    """Images of at most GATHER_MAX_PIXELS pixels take the gather path; with the threshold
    at 0 the same input takes the strided im2col / col2im path. Both must match torch, and
    each other, in out, dx, dw, db and the cached columns."""
    torch = require_torch()
    assert H * W <= conv.GATHER_MAX_PIXELS
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, *k))
    b = rng.standard_normal(F)
    dout_shape = (N, F, (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1)
    dout = rng.standard_normal(dout_shape)
    calls = []
    real_take = np.take
    monkeypatch.setattr(conv.np, "take", lambda *a, **kw: calls.append(1) or real_take(*a, **kw))
    out_g, cache_g = conv2d_forward(x, w, b, s, p)
    grads_g = conv2d_backward(dout, cache_g)
    assert len(calls) == (2 if s == (1, 1) and F <= 4 * C else 1), "gather path not taken"
    monkeypatch.setattr(conv, "GATHER_MAX_PIXELS", 0)
    out_s, cache_s = conv2d_forward(x, w, b, s, p)
    grads_s = conv2d_backward(dout, cache_s)
    assert len(calls) == (2 if s == (1, 1) and F <= 4 * C else 1), "strided path took np.take"
    assert_rel(out_g, out_s, "out (gather vs strided)")
    for cg, cs in zip(cache_g.cols, cache_s.cols, strict=True):
        # the strided path folds the bias in: one more row of ones
        np.testing.assert_array_equal(cg, cs[:-1])
        np.testing.assert_array_equal(cs[-1], 1)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p)
    assert_rel(out_g, ot.detach().numpy(), "out")
    ot.backward(torch.tensor(dout))
    for name, g, gs, t in zip(("dx", "dw", "db"), grads_g, grads_s, (xt, wt, bt), strict=True):
        assert_rel(g, t.grad.numpy(), name)
        assert_rel(g, gs, f"{name} (gather vs strided)")


def test_conv2d_gather_path_in_chunks_and_float32(rng, monkeypatch):
    """Several chunks of images (two index tables: full chunks and the last, shorter one),
    float32 in and out, and channel-major input from a previous conv: still torch's."""
    torch = require_torch()
    monkeypatch.setattr(conv, "CHUNK_BYTES", 3 * 16 * 9 * 4 * 4)  # 3 images per chunk
    x0 = rng.standard_normal((7, 2, 4, 4)).astype(np.float32)
    w0 = rng.standard_normal((16, 2, 3, 3)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    x, _ = conv2d_forward(x0, w0, None, 1, 1)  # channel-major (16, 7, 4, 4) in memory
    out, cache = conv2d_forward(x, w, b, 1, 0)  # 4x4 -> 2x2: not "same", so gathered
    assert len(cache.cols) == 3 and out.dtype == np.float32
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    xt, wt, bt = (torch.tensor(np.array(a), dtype=torch.float64, requires_grad=True)
                  for a in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, padding=0)
    ot.backward(torch.tensor(dout, dtype=torch.float64))
    assert_rel(out, ot.detach().numpy(), "out", rtol=1e-5)
    for name, g, t in zip(("dx", "dw", "db"), (dx, dw, db), (xt, wt, bt), strict=True):
        assert_rel(g, t.grad.numpy(), name, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# stride 1, "same" padding: flat shifted copies and adds (the columns reading padding zeroed)
# ---------------------------------------------------------------------------------------------


def test_conv2d_same_padding_on_a_strided_view_matches_torch(rng):
    """An input whose rows are not back to back in memory (the left half of a wider array)
    cannot be flattened without a copy: the flat-shift im2col must not be used for it, and the
    result is still torch's."""
    torch = require_torch()
    wide = rng.standard_normal((3, 4, 9, 22))
    x = wide[..., :11]  # (3, 4, 9, 11), each row followed by 11 entries of another
    assert not x.transpose(1, 0, 2, 3)[0, 0].flags.c_contiguous
    w = rng.standard_normal((5, 4, 3, 3))
    b = rng.standard_normal(5)
    out, cache = conv2d_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    xt, wt, bt = (torch.tensor(np.ascontiguousarray(a), requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, padding=1)
    ot.backward(torch.tensor(dout))
    assert_rel(out, ot.detach().numpy(), "out")
    for name, g, t in zip(("dx", "dw", "db"), (dx, dw, db), (xt, wt, bt), strict=True):
        assert_rel(g, t.grad.numpy(), name)


class _NanEmpty:
    """numpy, except that np.empty fills floating arrays with NaN."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(*args, **kwargs):
        a = np.empty(*args, **kwargs)
        if a.dtype.kind == "f":
            a.fill(np.nan)
        return a


@pytest.mark.parametrize("path", ["col2im", "transposed"])
@pytest.mark.parametrize("N, C, F, H, W, k, p, chunk_images", [
    (3, 4, 5, 9, 11, (3, 3), (1, 1), 2),      # several chunks, odd non-square image
    (2, 3, 2, 10, 9, (5, 3), (2, 1), 0),      # non-square kernel
    (1, 2, 3, 9, 12, (1, 5), (0, 2), 0),      # 1 x 5: column shifts only, batch of one
    (2, 1, 4, 12, 8, (7, 7), (3, 3), 1),      # kernel almost the image
    (2, 3, 4, 1, 70, (3, 3), (1, 1), 0),      # height one: offsets that read only padding
    (3, 16, 16, 4, 4, (3, 3), (1, 1), 0),     # tiny images (the digits' second conv)
])
def test_conv2d_same_padding_by_flat_shifts_matches_torch(
        N, C, F, H, W, k, p, chunk_images, path, rng, monkeypatch):
    """Stride 1 and "same" padding: im2col by flat shifted copies (_im2col_same), and dx either
    by flat shifted adds of dcols (_col2im_same) or, when F <= TRANSPOSED_MAX_RATIO C, as a
    transposed convolution: dout's own flat-shifted columns times the flipped filters."""
    torch = require_torch()
    if chunk_images:
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_images * C * k[0] * k[1] * H * W * 8)
    monkeypatch.setattr(conv, "TRANSPOSED_MAX_RATIO", 0 if path == "col2im" else 10**6)
    calls = {"_im2col_same": 0, "_col2im_same": 0}
    for name in calls:
        real = getattr(conv, name)
        monkeypatch.setattr(conv, name, lambda *a, _n=name, _r=real: (
            calls.__setitem__(_n, calls[_n] + 1), _r(*a))[1])
    monkeypatch.setattr(conv, "np", _NanEmpty())  # every entry left unwritten shows up
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, *k))
    b = rng.standard_normal(F)
    out, cache = conv2d_forward(x, w, b, 1, p)
    assert out.shape[-2:] == (H, W)
    chunks = len(cache.cols)
    assert calls == {"_im2col_same": chunks, "_col2im_same": 0}
    assert chunks >= (2 if chunk_images and N > chunk_images else 1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    if path == "col2im":
        assert calls == {"_im2col_same": chunks, "_col2im_same": chunks}
    else:
        assert calls == {"_im2col_same": 2 * chunks, "_col2im_same": 0}
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, padding=p)
    ot.backward(torch.tensor(dout))
    assert_rel(out, ot.detach().numpy(), "out")
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(db, bt.grad.numpy(), "db")
    assert_rel(dw, wt.grad.numpy(), "dw")
