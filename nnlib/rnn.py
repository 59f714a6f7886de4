"""Recurrent networks: ``*_forward`` / ``*_backward`` pairs (vanilla RNN, LSTM and GRU, one step
and a whole sequence; embedding; a time-distributed linear layer; the masked temporal softmax
cross-entropy) and their modules (``RNN``, ``LSTM``, ``GRU``, ``Embedding``).

Conventions:

- sequences are batch-first: ``x`` is ``(N, T, D)``, the hidden states ``h`` are ``(N, T, H)``;
- weights are ``(D_in, D_out)`` as everywhere in nnlib (``x @ Wx``), the transpose of torch's
  ``weight_ih_l0``; the gates are stacked along the columns in **torch's order**:
  LSTM ``i, f, g, o`` (``Wx`` is ``(D, 4H)``), GRU ``r, z, n`` (``Wx`` is ``(D, 3H)``);
- the equations are torch's (``torch.nn.RNN``, ``LSTM``, ``GRU``)::

      RNN   h_t = tanh(x_t Wx + h_{t-1} Wh + b)
      LSTM  i, f, g, o = sigma(.), sigma(.), tanh(.), sigma(.) of x_t Wx + h_{t-1} Wh + b
            c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
      GRU   r = sigma(x_t Wx_r + bx_r + h_{t-1} Wh_r + bh_r)
            z = sigma(x_t Wx_z + bx_z + h_{t-1} Wh_z + bh_z)
            n = tanh(x_t Wx_n + bx_n + r * (h_{t-1} Wh_n + bh_n))
            h_t = (1 - z) * n + z * h_{t-1}

  torch keeps two biases, ``b_ih`` and ``b_hh``: the RNN and LSTM pairs take their sum ``b``
  (CS231n's signature; the gradient of each is ``db``), the GRU pairs keep ``bx`` and ``bh`` apart
  because the reset gate multiplies ``h Wh_n + bh_n`` only;
- backpropagation through time accumulates the gradients of the shared weights over all time
  steps, and flows into the given initial states (``dh0``, ``dc0``).

Speed, in pure NumPy: the input projection of all time steps is one matrix product before the
loop; each step does one ``(N, H) x (H, G H)`` product and a few in-place elementwise operations
on preallocated, time-major buffers; the backward loop likewise does one ``(N, G H) x (G H, H)``
product per step, and ``dWx``, ``dWh``, ``db`` and ``dx`` are one product (or sum) each over all
steps after the loop. The sigmoid gates are computed as ``0.5 tanh(a / 2) + 0.5`` (no overflow,
one transcendental call for all gates), with the halving folded exactly into copies of the
weights.

Converting modules to and from torch's ``state_dict`` (the transposes) lives in
``nnlib.torch_compat`` and nowhere else.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_positive_int, check_rng
from nnlib.module import Module, Parameter, _require_cache

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "embedding_forward",
    "embedding_backward",
    "temporal_linear_forward",
    "temporal_linear_backward",
    "temporal_softmax_cross_entropy_loss",
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
]


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def _weights(
    fn: str, D: int, Wx: ArrayLike, Wh: ArrayLike, biases: dict[str, ArrayLike | None], G: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], int]:
    """Wx (D, G H), Wh (H, G H) and each bias (G H,) checked; returns them and H."""
    Wx = as_array(Wx, fn, "Wx")
    Wh = as_array(Wh, fn, "Wh")
    cols = "H" if G == 1 else f"{G}H"
    if Wh.ndim != 2 or Wh.shape[0] == 0 or Wh.shape[1] != G * Wh.shape[0]:
        raise ValueError(f"{fn}: Wh must have shape (H, {cols}), got {Wh.shape}")
    H = Wh.shape[0]
    if Wx.shape != (D, G * H):
        raise ValueError(
            f"{fn}: Wx must have shape (D, {cols}) = ({D}, {G * H}) for x with D={D} features "
            f"and Wh {Wh.shape} (H={H}), got {Wx.shape}"
        )
    out = {}
    for name, b in biases.items():
        if b is None:
            out[name] = np.zeros(G * H, dtype=Wh.dtype)
            continue
        b = as_array(b, fn, name)
        if b.shape != (G * H,):
            raise ValueError(
                f"{fn}: {name} must have shape ({cols},) = ({G * H},) for Wh {Wh.shape}, "
                f"got {b.shape}"
            )
        out[name] = b
    return Wx, Wh, out, H


def _state(fn: str, name: str, h: ArrayLike | None, N: int, H: int, dtype: Any) -> np.ndarray:
    if h is None:
        return np.zeros((N, H), dtype=dtype)
    h = as_array(h, fn, name)
    if h.shape != (N, H):
        raise ValueError(f"{fn}: {name} must have shape (N, H) = ({N}, {H}), got {h.shape}")
    return h


def _x(fn: str, x: ArrayLike, ndim: int) -> np.ndarray:
    x = as_array(x, fn, "x")
    layout = "(N, T, D)" if ndim == 3 else "(N, D)"
    if x.ndim != ndim:
        raise ValueError(f"{fn}: x must have shape {layout} ({ndim}-D), got shape {x.shape}")
    if 0 in x.shape:
        raise ValueError(f"{fn}: x has an empty axis, shape {x.shape}")
    return x


def _dout(fn: str, name: str, d: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    d = as_array(d, fn, name)
    if d.shape != shape:
        raise ValueError(
            f"{fn}: {name} has shape {d.shape} but the forward output had shape {shape}"
        )
    return d


def _cache(fn: str, cache: Any, kind: type, source: str) -> Any:
    if not isinstance(cache, kind):
        raise ValueError(f"{fn}: cache must be the cache {source} returned")
    return cache


def _dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*arrays)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5  # = 1 / (1 + exp(-a)), and exp cannot overflow


def _time_major(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """x (N, T, D) -> rows (T N, D), time-major and contiguous, in ``dtype``."""
    N, T, D = x.shape
    return np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dtype).reshape(T * N, D)


def _batch_first(a: np.ndarray) -> np.ndarray:
    """(T, N, ...) time-major -> a fresh contiguous (N, T, ...)."""
    return np.ascontiguousarray(a.swapaxes(0, 1))


# ---------------------------------------------------------------------------------------------
# Vanilla RNN (tanh)
# ---------------------------------------------------------------------------------------------


class RNNStepCache(NamedTuple):
    """What ``rnn_step_backward`` needs."""

    x: np.ndarray  # (N, D)
    h_prev: np.ndarray  # (N, H)
    h_next: np.ndarray  # (N, H)
    Wx: np.ndarray
    Wh: np.ndarray


def rnn_step_forward(
    x: ArrayLike, h_prev: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike
) -> tuple[np.ndarray, RNNStepCache]:
    """h_next = tanh(x @ Wx + h_prev @ Wh + b).

    Shapes: x (N, D), h_prev (N, H), Wx (D, H), Wh (H, H), b (H,) -> h_next (N, H).
    """
    fn = "rnn_step_forward"
    x = _x(fn, x, 2)
    Wx, Wh, bs, H = _weights(fn, x.shape[1], Wx, Wh, {"b": b}, 1)
    h_prev = _state(fn, "h_prev", h_prev, x.shape[0], H, x.dtype)
    h_next = np.tanh(x @ Wx + h_prev @ Wh + bs["b"])
    return h_next, RNNStepCache(x, h_prev, h_next, Wx, Wh)


def rnn_step_backward(
    dh_next: ArrayLike, cache: RNNStepCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """With da = dh_next * (1 - h_next**2): dx = da @ Wx.T, dh_prev = da @ Wh.T,
    dWx = x.T @ da, dWh = h_prev.T @ da, db = sum_n da.

    Shapes: dh_next (N, H) -> dx (N, D), dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    fn = "rnn_step_backward"
    c = _cache(fn, cache, RNNStepCache, "rnn_step_forward")
    dh_next = _dout(fn, "dh_next", dh_next, c.h_next.shape)
    da = dh_next * (1 - c.h_next * c.h_next)
    return da @ c.Wx.T, da @ c.Wh.T, c.x.T @ da, c.h_prev.T @ da, da.sum(axis=0)


class RNNCache(NamedTuple):
    """What ``rnn_backward`` needs (time-major buffers)."""

    x: np.ndarray  # (T N, D): the input rows, time-major
    hs: np.ndarray  # (T + 1, N, H): h0, h1, ..., hT
    Wx: np.ndarray
    Wh: np.ndarray
    shape: tuple[int, int, int]  # (N, T, D)


def rnn_forward(
    x: ArrayLike, h0: ArrayLike | None, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike
) -> tuple[np.ndarray, RNNCache]:
    """h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b) for t = 1..T, from the initial state h0.

    Shapes: x (N, T, D), h0 (N, H) (None: zeros), Wx (D, H), Wh (H, H), b (H,) -> h (N, T, H),
    the hidden state after every step (the last one, h[:, -1], is torch's h_n).
    """
    fn = "rnn_forward"
    x = _x(fn, x, 3)
    N, T, D = x.shape
    Wx, Wh, bs, H = _weights(fn, D, Wx, Wh, {"b": b}, 1)
    h0 = _state(fn, "h0", h0, N, H, x.dtype)
    dtype = _dtype(x, h0, Wx, Wh, bs["b"])
    Wx, Wh = Wx.astype(dtype, copy=False), Wh.astype(dtype, copy=False)
    xr = _time_major(x, dtype)
    a = (xr @ Wx).reshape(T, N, H)
    a += bs["b"]
    hs = np.empty((T + 1, N, H), dtype)
    hs[0] = h0
    for t in range(T):
        h = hs[t + 1]
        np.matmul(hs[t], Wh, out=h)
        h += a[t]
        np.tanh(h, out=h)
    return _batch_first(hs[1:]), RNNCache(xr, hs, Wx, Wh, (N, T, D))


def rnn_backward(
    dh: ArrayLike, cache: RNNCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time: from the last step to the first, the gradient reaching
    h_t is dh[:, t] plus what flows back from step t + 1; the weights' gradients are summed
    over all steps.

    Shapes: dh (N, T, H), the upstream gradient of every hidden state -> dx (N, T, D),
    dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    fn = "rnn_backward"
    c = _cache(fn, cache, RNNCache, "rnn_forward")
    N, T, D = c.shape
    H = c.Wh.shape[0]
    dh = _dout(fn, "dh", dh, (N, T, H))
    dht = dh.transpose(1, 0, 2)
    hs = c.hs
    da = 1 - hs[1:] * hs[1:]  # (T, N, H): tanh', times the incoming gradient in the loop
    dnext = np.zeros((N, H), dtype=da.dtype)
    WhT = c.Wh.T
    for t in range(T - 1, -1, -1):
        dnext += dht[t]
        g = da[t]
        g *= dnext
        np.matmul(g, WhT, out=dnext)
    da2 = da.reshape(T * N, H)
    dWh = hs[:-1].reshape(T * N, H).T @ da2
    dWx = c.x.T @ da2
    dx = _batch_first((da2 @ c.Wx.T).reshape(T, N, D))
    return dx, dnext, dWx, dWh, da2.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# LSTM (gates i, f, g, o, as torch)
# ---------------------------------------------------------------------------------------------


class LSTMStepCache(NamedTuple):
    """What ``lstm_step_backward`` needs."""

    x: np.ndarray  # (N, D)
    h_prev: np.ndarray  # (N, H)
    c_prev: np.ndarray  # (N, H)
    gates: np.ndarray  # (N, 4H): i, f, g, o after their nonlinearities
    tanh_c: np.ndarray  # (N, H)
    Wx: np.ndarray
    Wh: np.ndarray


def lstm_step_forward(
    x: ArrayLike, h_prev: ArrayLike, c_prev: ArrayLike, Wx: ArrayLike, Wh: ArrayLike,
    b: ArrayLike,
) -> tuple[np.ndarray, np.ndarray, LSTMStepCache]:
    """a = x @ Wx + h_prev @ Wh + b, split into four (N, H) blocks in torch's order i, f, g, o;
    i, f, o = sigmoid(.), g = tanh(.); c_next = f * c_prev + i * g; h_next = o * tanh(c_next).

    Shapes: x (N, D), h_prev (N, H), c_prev (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) ->
    h_next (N, H), c_next (N, H), cache.
    """
    fn = "lstm_step_forward"
    x = _x(fn, x, 2)
    Wx, Wh, bs, H = _weights(fn, x.shape[1], Wx, Wh, {"b": b}, 4)
    h_prev = _state(fn, "h_prev", h_prev, x.shape[0], H, x.dtype)
    c_prev = _state(fn, "c_prev", c_prev, x.shape[0], H, x.dtype)
    a = x @ Wx + h_prev @ Wh + bs["b"]
    gates = np.concatenate(
        [_sigmoid(a[:, : 2 * H]), np.tanh(a[:, 2 * H : 3 * H]), _sigmoid(a[:, 3 * H :])], axis=1
    )
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    c_next = f * c_prev + i * g
    tanh_c = np.tanh(c_next)
    h_next = o * tanh_c
    return h_next, c_next, LSTMStepCache(x, h_prev, c_prev, gates, tanh_c, Wx, Wh)


def lstm_step_backward(
    dh_next: ArrayLike, dc_next: ArrayLike, cache: LSTMStepCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward of one LSTM step through c_next = f * c_prev + i * g and h_next = o * tanh(c_next)
    (dc_next is the gradient reaching c_next from later steps, zeros at the last one).

    Shapes: dh_next (N, H), dc_next (N, H) -> dx (N, D), dh_prev (N, H), dc_prev (N, H),
    dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    fn = "lstm_step_backward"
    c = _cache(fn, cache, LSTMStepCache, "lstm_step_forward")
    dh_next = _dout(fn, "dh_next", dh_next, c.h_prev.shape)
    dc_next = _dout(fn, "dc_next", dc_next, c.c_prev.shape)
    H = c.h_prev.shape[1]
    i, f, g, o = (c.gates[:, k * H : (k + 1) * H] for k in range(4))
    dc = dc_next + dh_next * o * (1 - c.tanh_c * c.tanh_c)
    da = np.concatenate(
        [dc * g * i * (1 - i), dc * c.c_prev * f * (1 - f), dc * i * (1 - g * g),
         dh_next * c.tanh_c * o * (1 - o)],
        axis=1,
    )
    return (da @ c.Wx.T, da @ c.Wh.T, dc * f, c.x.T @ da, c.h_prev.T @ da, da.sum(axis=0))


class LSTMCache(NamedTuple):
    """What ``lstm_backward`` needs (time-major buffers). ``c[1:]`` are the cell states."""

    x: np.ndarray  # (T N, D)
    hs: np.ndarray  # (T + 1, N, H): h0, h1, ..., hT
    cs: np.ndarray  # (T + 1, N, H): c0, c1, ..., cT
    gates: np.ndarray  # (T, N, 4H): i, f, g, o after their nonlinearities
    tanh_c: np.ndarray  # (T, N, H)
    Wx: np.ndarray
    Wh: np.ndarray
    shape: tuple[int, int, int]  # (N, T, D)

    @property
    def c_n(self) -> np.ndarray:
        """The last cell state (N, H): torch's c_n."""
        return self.cs[-1]


def _gate_scale(H: int, sigmoid_blocks: tuple[int, ...], G: int, dtype: Any) -> np.ndarray:
    s = np.ones(G * H, dtype=dtype)
    for k in sigmoid_blocks:
        s[k * H : (k + 1) * H] = 0.5
    return s


#: Rows (chunk steps x batch) per chunk of lstm_backward's backward pass.
_LSTM_CHUNK_ROWS = 256


def lstm_forward(
    x: ArrayLike, h0: ArrayLike | None, c0: ArrayLike | None, Wx: ArrayLike, Wh: ArrayLike,
    b: ArrayLike,
) -> tuple[np.ndarray, LSTMCache]:
    """lstm_step_forward over t = 1..T from the initial states h0 and c0, the same weights at
    every step.

    Shapes: x (N, T, D), h0 (N, H) and c0 (N, H) (None: zeros), Wx (D, 4H), Wh (H, 4H), b (4H,)
    -> h (N, T, H). The last cell state (torch's c_n) is ``cache.c_n``; the last hidden state
    is h[:, -1].
    """
    fn = "lstm_forward"
    x = _x(fn, x, 3)
    N, T, D = x.shape
    Wx, Wh, bs, H = _weights(fn, D, Wx, Wh, {"b": b}, 4)
    h0 = _state(fn, "h0", h0, N, H, x.dtype)
    c0 = _state(fn, "c0", c0, N, H, x.dtype)
    dtype = _dtype(x, h0, c0, Wx, Wh, bs["b"])
    Wx, Wh = Wx.astype(dtype, copy=False), Wh.astype(dtype, copy=False)
    # sigmoid(a) = 0.5 tanh(a / 2) + 0.5: halve the i, f, o columns once (exact in binary
    # floating point), then one tanh per step covers all four gates.
    s = _gate_scale(H, (0, 1, 3), 4, dtype)
    mul, add = s, np.where(s == 0.5, s, 0).astype(dtype)
    xr = _time_major(x, dtype)
    A = (xr @ (Wx * s)).reshape(T, N, 4 * H)
    A += bs["b"] * s
    Whs = Wh * s
    hs = np.empty((T + 1, N, H), dtype)
    cs = np.empty((T + 1, N, H), dtype)
    tc = np.empty((T, N, H), dtype)
    hs[0], cs[0] = h0, c0
    tmp = np.empty((N, 4 * H), dtype)
    ig = np.empty((N, H), dtype)
    H2, H3 = 2 * H, 3 * H
    for t in range(T):
        a = A[t]
        np.matmul(hs[t], Whs, out=tmp)
        a += tmp
        np.tanh(a, out=a)
        a *= mul
        a += add
        c = cs[t + 1]
        np.multiply(a[:, H:H2], cs[t], out=c)
        np.multiply(a[:, :H], a[:, H2:H3], out=ig)
        c += ig
        np.tanh(c, out=tc[t])
        np.multiply(a[:, H3:], tc[t], out=hs[t + 1])
    return _batch_first(hs[1:]), LSTMCache(xr, hs, cs, A, tc, Wx, Wh, (N, T, D))


def lstm_backward(
    dh: ArrayLike, cache: LSTMCache, dc_n: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time for lstm_forward: the gradients reaching h_t (dh[:, t] plus
    what flows back from step t + 1) and c_t (from step t + 1; ``dc_n`` at the last step, zeros
    when None) go through lstm_step_backward's formulas; the weights' gradients are summed over
    all steps.

    Shapes: dh (N, T, H), dc_n (N, H) or None -> dx (N, T, D), dh0 (N, H), dc0 (N, H),
    dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    fn = "lstm_backward"
    c = _cache(fn, cache, LSTMCache, "lstm_forward")
    N, T, D = c.shape
    H = c.Wh.shape[0]
    dh = _dout(fn, "dh", dh, (N, T, H))
    dht = dh.transpose(1, 0, 2)
    A, tc, cs, hs = c.gates, c.tanh_c, c.cs, c.hs
    dtype = A.dtype
    H2, H3 = 2 * H, 3 * H
    # The steps go back in chunks of a few hundred rows (chunk steps x N): each chunk's local
    # derivatives, its step loop and its share of the weight gradients all work on the same
    # small buffers, which stay in the cache (fresh arrays of all T steps cost more here
    # than the arithmetic on them).
    CH = max(1, min(T, _LSTM_CHUNK_ROWS // N))
    dA = np.empty((CH, N, 4, H), dtype)
    P = np.empty((CH, N, H), dtype)
    dWx, dWh = np.zeros((D, 4 * H), dtype), np.zeros((H, 4 * H), dtype)
    gx, gh = np.empty((D, 4 * H), dtype), np.empty((H, 4 * H), dtype)
    db = np.zeros(4 * H, dtype)
    dx = np.empty((N, T, D), dtype)
    dhn = np.zeros((N, H), dtype)
    dc = np.zeros((N, H), dtype)
    if dc_n is not None:
        dc += _dout(fn, "dc_n", dc_n, (N, H))
    tmp = np.empty((N, H), dtype)
    WhT, WxT = c.Wh.T, c.Wx.T
    for t1 in range(T, 0, -CH):
        t0 = max(0, t1 - CH)
        n = t1 - t0
        a = A[t0:t1]
        i, f, g, o = a[..., :H], a[..., H:H2], a[..., H2:H3], a[..., H3:]
        # What does not depend on the incoming gradients, for the chunk's steps at once:
        # da_i = dc g i(1-i), da_f = dc c_prev f(1-f), da_g = dc i (1-g^2),
        # da_o = dh_t tanh(c) o(1-o), and dc_t = dc_{t+1} f_{t+1} + dh_t o (1 - tanh(c)^2).
        d = dA[:n]
        d2 = d.reshape(n, N, 4 * H)
        np.subtract(1, a, out=d2)
        d2 *= a  # s(1 - s) for the sigmoid gates (the g block is overwritten below)
        d[:, :, 0] *= g
        d[:, :, 1] *= cs[t0:t1]
        dg = d[:, :, 2]
        np.multiply(g, g, out=dg)
        np.subtract(1, dg, out=dg)
        dg *= i
        d[:, :, 3] *= tc[t0:t1]
        p = P[:n]
        np.multiply(tc[t0:t1], tc[t0:t1], out=p)
        np.subtract(1, p, out=p)
        p *= o
        for s in range(n - 1, -1, -1):
            dhn += dht[t0 + s]
            np.multiply(dhn, p[s], out=tmp)
            dc += tmp
            ds = d[s]
            ds[:, :3] *= dc[:, None, :]
            ds[:, 3] *= dhn
            dc *= f[s]
            np.matmul(ds.reshape(N, 4 * H), WhT, out=dhn)
        rows = d2.reshape(n * N, 4 * H)
        np.matmul(hs[t0:t1].reshape(n * N, H).T, rows, out=gh)
        dWh += gh
        np.matmul(c.x[t0 * N : t1 * N].T, rows, out=gx)
        dWx += gx
        db += rows.sum(axis=0)
        dx[:, t0:t1] = (rows @ WxT).reshape(n, N, D).swapaxes(0, 1)
    return dx, dhn, dc, dWx, dWh, db


# ---------------------------------------------------------------------------------------------
# GRU (gates r, z, n, as torch)
# ---------------------------------------------------------------------------------------------


class GRUStepCache(NamedTuple):
    """What ``gru_step_backward`` needs."""

    x: np.ndarray  # (N, D)
    h_prev: np.ndarray  # (N, H)
    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    hn: np.ndarray  # (N, H): h_prev @ Wh_n + bh_n, before the reset gate
    Wx: np.ndarray
    Wh: np.ndarray


def gru_step_forward(
    x: ArrayLike, h_prev: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, bx: ArrayLike, bh: ArrayLike,
) -> tuple[np.ndarray, GRUStepCache]:
    """With ax = x @ Wx + bx and ah = h_prev @ Wh + bh, each split into blocks r, z, n:
    r = sigmoid(ax_r + ah_r), z = sigmoid(ax_z + ah_z), n = tanh(ax_n + r * ah_n),
    h_next = (1 - z) * n + z * h_prev (torch.nn.GRUCell).

    Shapes: x (N, D), h_prev (N, H), Wx (D, 3H), Wh (H, 3H), bx (3H,), bh (3H,) -> h_next (N, H).
    """
    fn = "gru_step_forward"
    x = _x(fn, x, 2)
    Wx, Wh, bs, H = _weights(fn, x.shape[1], Wx, Wh, {"bx": bx, "bh": bh}, 3)
    h_prev = _state(fn, "h_prev", h_prev, x.shape[0], H, x.dtype)
    ax = x @ Wx + bs["bx"]
    ah = h_prev @ Wh + bs["bh"]
    rz = _sigmoid(ax[:, : 2 * H] + ah[:, : 2 * H])
    r, z = rz[:, :H], rz[:, H:]
    hn = ah[:, 2 * H :]
    n = np.tanh(ax[:, 2 * H :] + r * hn)
    h_next = (1 - z) * n + z * h_prev
    return h_next, GRUStepCache(x, h_prev, r, z, n, hn, Wx, Wh)


def gru_step_backward(
    dh_next: ArrayLike, cache: GRUStepCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward of one GRU step (gru_step_forward's equations).

    Shapes: dh_next (N, H) -> dx (N, D), dh_prev (N, H), dWx (D, 3H), dWh (H, 3H), dbx (3H,),
    dbh (3H,).
    """
    fn = "gru_step_backward"
    c = _cache(fn, cache, GRUStepCache, "gru_step_forward")
    dh_next = _dout(fn, "dh_next", dh_next, c.h_prev.shape)
    r, z, n = c.r, c.z, c.n
    dan = dh_next * (1 - z) * (1 - n * n)
    daz = dh_next * (c.h_prev - n) * z * (1 - z)
    dar = dan * c.hn * r * (1 - r)
    dax = np.concatenate([dar, daz, dan], axis=1)
    dah = np.concatenate([dar, daz, dan * r], axis=1)
    dh_prev = dh_next * z + dah @ c.Wh.T
    return (dax @ c.Wx.T, dh_prev, c.x.T @ dax, c.h_prev.T @ dah, dax.sum(axis=0),
            dah.sum(axis=0))


class GRUCache(NamedTuple):
    """What ``gru_backward`` needs (time-major buffers)."""

    x: np.ndarray  # (T N, D)
    hs: np.ndarray  # (T + 1, N, H): h0, h1, ..., hT
    rz: np.ndarray  # (T, N, 3H): r and z in the first 2H columns (the last H: scratch)
    ah: np.ndarray  # (T, N, 3H): h_{t-1} @ Wh' + bh' (only the n block, ah_n, is used)
    n: np.ndarray  # (T, N, H)
    Wx: np.ndarray
    Wh: np.ndarray
    shape: tuple[int, int, int]  # (N, T, D)


def gru_forward(
    x: ArrayLike, h0: ArrayLike | None, Wx: ArrayLike, Wh: ArrayLike, bx: ArrayLike,
    bh: ArrayLike,
) -> tuple[np.ndarray, GRUCache]:
    """gru_step_forward over t = 1..T from the initial state h0, the same weights at every step.

    Shapes: x (N, T, D), h0 (N, H) (None: zeros), Wx (D, 3H), Wh (H, 3H), bx (3H,), bh (3H,) ->
    h (N, T, H) (h[:, -1] is torch's h_n).
    """
    fn = "gru_forward"
    x = _x(fn, x, 3)
    N, T, D = x.shape
    Wx, Wh, bs, H = _weights(fn, D, Wx, Wh, {"bx": bx, "bh": bh}, 3)
    h0 = _state(fn, "h0", h0, N, H, x.dtype)
    dtype = _dtype(x, h0, Wx, Wh, bs["bx"], bs["bh"])
    Wx, Wh = Wx.astype(dtype, copy=False), Wh.astype(dtype, copy=False)
    s = _gate_scale(H, (0, 1), 3, dtype)  # r and z halved: sigmoid(a) = 0.5 tanh(a/2) + 0.5
    H2 = 2 * H
    xr = _time_major(x, dtype)
    AX = (xr @ (Wx * s)).reshape(T, N, 3 * H)
    AX += bs["bx"] * s
    Whs, bhs = Wh * s, (bs["bh"] * s).astype(dtype)
    AH = np.empty((T, N, 3 * H), dtype)
    hs = np.empty((T + 1, N, H), dtype)
    ns = np.empty((T, N, H), dtype)
    hs[0] = h0
    tmp = np.empty((N, H), dtype)
    for t in range(T):
        ah, ax = AH[t], AX[t]
        np.matmul(hs[t], Whs, out=ah)
        ah += bhs
        rz = ax[:, :H2]  # r and z overwrite their own pre-activations
        rz += ah[:, :H2]
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        n = ns[t]
        np.multiply(rz[:, :H], ah[:, H2:], out=n)
        n += ax[:, H2:]
        np.tanh(n, out=n)
        np.subtract(hs[t], n, out=tmp)  # h = n + z (h_prev - n)
        tmp *= rz[:, H:]
        np.add(n, tmp, out=hs[t + 1])
    return _batch_first(hs[1:]), GRUCache(xr, hs, AX, AH, ns, Wx, Wh, (N, T, D))


def gru_backward(
    dh: ArrayLike, cache: GRUCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time for gru_forward; the weights' gradients are summed over
    all steps.

    Shapes: dh (N, T, H), the upstream gradient of every hidden state -> dx (N, T, D),
    dh0 (N, H), dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,).
    """
    fn = "gru_backward"
    c = _cache(fn, cache, GRUCache, "gru_forward")
    N, T, D = c.shape
    H = c.Wh.shape[0]
    H2 = 2 * H
    dh = _dout(fn, "dh", dh, (N, T, H))
    dht = dh.transpose(1, 0, 2)
    dtype = c.hs.dtype
    r, z, n, ahn = c.rz[..., :H], c.rz[..., H:H2], c.n, c.ah[..., H2:]
    # For all steps at once: da_n = dh_t (1 - z)(1 - n^2), da_z = dh_t (h_prev - n) z (1 - z),
    # da_r = da_n ah_n r (1 - r); the h-side gradient of the n block is da_n r.
    Kn = 1 - n * n
    Kn *= 1 - z
    Kz = c.hs[:-1] - n
    Kz *= z
    Kz *= 1 - z
    Kr = r * (1 - r)
    Kr *= ahn
    dAH = np.empty((T, N, 3 * H), dtype)  # [da_r, da_z, da_n r]: the h side
    dN = np.empty((T, N, H), dtype)  # da_n: the x side of the n block
    dhn = np.zeros((N, H), dtype)
    tmp = np.empty((N, H), dtype)
    WhT = c.Wh.T
    for t in range(T - 1, -1, -1):
        dhn += dht[t]
        d = dAH[t]
        np.multiply(dhn, Kz[t], out=d[:, H:H2])
        np.multiply(dhn, Kn[t], out=dN[t])
        np.multiply(dN[t], Kr[t], out=d[:, :H])
        np.multiply(dN[t], r[t], out=d[:, H2:])
        np.multiply(dhn, z[t], out=tmp)
        np.matmul(d, WhT, out=dhn)
        dhn += tmp
    dAH2 = dAH.reshape(T * N, 3 * H)
    dAX = dAH.copy()
    dAX[..., H2:] = dN
    dAX2 = dAX.reshape(T * N, 3 * H)
    dWh = c.hs[:-1].reshape(T * N, H).T @ dAH2
    dWx = c.x.T @ dAX2
    dx = _batch_first((dAX2 @ c.Wx.T).reshape(T, N, D))
    return dx, dhn, dWx, dWh, dAX2.sum(axis=0), dAH2.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# Embedding, time-distributed linear layer, temporal softmax cross-entropy
# ---------------------------------------------------------------------------------------------


def _indices(fn: str, name: str, idx: Any) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{fn}: {name} must hold integer indices, got dtype {arr.dtype} (shape {arr.shape})"
        )
    return arr


class EmbeddingCache(NamedTuple):
    """What ``embedding_backward`` needs."""

    idx: np.ndarray  # any integer shape
    W_shape: tuple[int, int]  # (V, D)
    W_dtype: np.dtype


def embedding_forward(idx: ArrayLike, W: ArrayLike) -> tuple[np.ndarray, EmbeddingCache]:
    """out[..., :] = W[idx[...]]: each index picks a row of W.

    Shapes: idx (N, T) (any shape of integers in [0, V)), W (V, D) -> out (N, T, D)
    (idx.shape + (D,)).
    """
    fn = "embedding_forward"
    idx = _indices(fn, "idx", idx)
    W = as_array(W, fn, "W")
    if W.ndim != 2 or 0 in W.shape:
        raise ValueError(f"{fn}: W must have shape (V, D) (2-D, not empty), got {W.shape}")
    V = W.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        raise ValueError(
            f"{fn}: idx must be in [0, V) = [0, {V}) for W {W.shape}, got values from "
            f"{idx.min()} to {idx.max()} (idx shape {idx.shape})"
        )
    return W[idx], EmbeddingCache(idx, W.shape, W.dtype)


def embedding_backward(dout: ArrayLike, cache: EmbeddingCache) -> np.ndarray:
    """dW[v] = sum of dout[...] over every position whose index is v (repeated indices add up).

    Shapes: dout (N, T, D) (idx.shape + (D,)) -> dW (V, D). The indices have no gradient.
    """
    fn = "embedding_backward"
    c = _cache(fn, cache, EmbeddingCache, "embedding_forward")
    V, D = c.W_shape
    dout = _dout(fn, "dout", dout, c.idx.shape + (D,))
    dW = np.zeros((V, D), dtype=c.W_dtype)
    np.add.at(dW, c.idx.reshape(-1), dout.reshape(-1, D))
    return dW


TemporalLinearCache = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def temporal_linear_forward(
    x: ArrayLike, W: ArrayLike, b: ArrayLike | None
) -> tuple[np.ndarray, TemporalLinearCache]:
    """out[:, t] = x[:, t] @ W + b at every time step (one product over all N T rows).

    Shapes: x (N, T, D), W (D, M), b (M,) or None -> out (N, T, M). cache is (x, W, b).
    """
    fn = "temporal_linear_forward"
    x = _x(fn, x, 3)
    W = as_array(W, fn, "W")
    if W.ndim != 2:
        raise ValueError(f"{fn}: W must have shape (D, M) (2-D), got shape {W.shape}")
    N, T, D = x.shape
    if W.shape[0] != D:
        raise ValueError(f"{fn}: x has {D} features but W expects {W.shape[0]} (W is {W.shape})")
    out = (x.reshape(N * T, D) @ W).reshape(N, T, W.shape[1])
    if b is not None:
        b = as_array(b, fn, "b")
        if b.shape != (W.shape[1],):
            raise ValueError(
                f"{fn}: b must have shape ({W.shape[1]},) to match W {W.shape}, got {b.shape}"
            )
        out = out + b
    return out, (x, W, b)


def temporal_linear_backward(
    dout: ArrayLike, cache: TemporalLinearCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """dx = dout @ W.T, dW = sum over n, t of x[n, t] outer dout[n, t], db = sum over n, t of dout.

    Shapes: dout (N, T, M) -> dx (N, T, D), dW (D, M), db (M,) (None when b was None).
    """
    fn = "temporal_linear_backward"
    x, W, b = cache
    N, T, D = x.shape
    M = W.shape[1]
    dout = _dout(fn, "dout", dout, (N, T, M))
    d2 = dout.reshape(N * T, M)
    dx = (d2 @ W.T).reshape(N, T, D)
    dW = x.reshape(N * T, D).T @ d2
    db = None if b is None else d2.sum(axis=0)
    return dx, dW, db


def temporal_softmax_cross_entropy_loss(
    scores: ArrayLike, y: ArrayLike, mask: ArrayLike | None = None
) -> tuple[float, np.ndarray]:
    """loss = -(1/N) sum over n, t with mask[n, t] of log softmax(scores[n, t])[y[n, t]].

    Shapes: scores (N, T, V), y (N, T) integer indices in [0, V), mask (N, T) boolean (True:
    the position counts; None: all count) -> loss (), dscores (N, T, V).

    The sum over the unmasked positions is divided by **N, the batch size** (CS231n's
    temporal_softmax_loss), not by the number of unmasked positions (torch's
    ``CrossEntropyLoss(ignore_index=...)``): dscores = mask (softmax - onehot(y)) / N. At a
    masked position y may hold anything (a padding index, -100, ...); it is never read.
    """
    fn = "temporal_softmax_cross_entropy_loss"
    s = as_array(scores, fn, "scores")
    if s.ndim != 3 or 0 in s.shape:
        raise ValueError(f"{fn}: scores must have shape (N, T, V) (3-D), got shape {s.shape}")
    N, T, V = s.shape
    y = _indices(fn, "y", y)
    if y.shape != (N, T):
        raise ValueError(f"{fn}: y must have shape (N, T) = ({N}, {T}) for scores {s.shape}, "
                         f"got {y.shape}")
    if mask is None:
        m = np.ones((N, T), dtype=bool)
    else:
        m = np.asarray(mask)
        if m.dtype != bool:
            raise ValueError(f"{fn}: mask must be boolean (True: counts), got dtype {m.dtype}")
        if m.shape != (N, T):
            raise ValueError(f"{fn}: mask must have shape (N, T) = ({N}, {T}), got {m.shape}")
    yc = np.where(m, y, 0)
    if m.any() and (y[m].min() < 0 or y[m].max() >= V):
        raise ValueError(
            f"{fn}: y must be in [0, V) = [0, {V}) where mask is True, got values from "
            f"{y[m].min()} to {y[m].max()}"
        )
    z = s - s.max(axis=2, keepdims=True)  # exp cannot overflow
    log_probs = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
    picked = np.take_along_axis(log_probs, yc[..., None], axis=2)[..., 0]
    loss = -np.sum(picked * m) / N
    d = np.exp(log_probs)
    np.put_along_axis(d, yc[..., None], np.take_along_axis(d, yc[..., None], axis=2) - 1, axis=2)
    d *= m[..., None]
    d /= N
    return float(loss), np.asarray(d, dtype=s.dtype)


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


def _check_flag(value: Any, fn: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{fn}: {name} must be True or False, got {value!r}")
    return bool(value)


class _RNNBase(Module):
    """Shared by RNN, LSTM and GRU: torch's arguments, parameter names and initialisation."""

    _G: ClassVar[int] = 1  # gate blocks: 1 (RNN), 4 (LSTM), 3 (GRU)

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
        dropout: float, bidirectional: bool, rng: np.random.Generator, dtype: DTypeLike,
    ) -> None:
        name = type(self).__name__
        self.input_size = check_positive_int(input_size, name, "input_size")
        self.hidden_size = check_positive_int(hidden_size, name, "hidden_size")
        self.num_layers = check_positive_int(num_layers, name, "num_layers")
        self.bias = _check_flag(bias, name, "bias")
        self.batch_first = _check_flag(batch_first, name, "batch_first")
        if dropout != 0:
            raise ValueError(f"{name}: dropout between layers is not implemented (got {dropout!r})")
        if bidirectional:
            raise ValueError(f"{name}: bidirectional=True is not implemented")
        check_rng(rng, name)
        H, G = self.hidden_size, self._G
        # torch's default: every weight and bias uniform in +-1/sqrt(hidden_size).
        k = 1.0 / math.sqrt(H)
        for layer in range(self.num_layers):
            D = self.input_size if layer == 0 else H
            setattr(self, f"weight_ih_l{layer}",
                    Parameter(rng.uniform(-k, k, size=(D, G * H)).astype(dtype)))
            setattr(self, f"weight_hh_l{layer}",
                    Parameter(rng.uniform(-k, k, size=(H, G * H)).astype(dtype)))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}",
                        Parameter(rng.uniform(-k, k, size=G * H).astype(dtype)))
                setattr(self, f"bias_hh_l{layer}",
                        Parameter(rng.uniform(-k, k, size=G * H).astype(dtype)))
        self._caches: list[Any] | None = None

    # -- helpers ------------------------------------------------------------------------------

    def _layer(self, layer: int) -> tuple[Parameter, Parameter, Parameter | None, Parameter | None]:
        if not self.bias:
            return getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}"), \
                None, None
        return (getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}"),
                getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}"))

    def _bias(self, p: Parameter | None, like: Parameter) -> np.ndarray:
        return np.zeros(like.shape[1], like.dtype) if p is None else p.data

    def _input(self, x: ArrayLike) -> np.ndarray:
        name = type(self).__name__
        x = as_array(x, f"{name}.forward", "x")
        layout = "(N, T, D)" if self.batch_first else "(T, N, D)"
        if x.ndim != 3 or x.shape[-1] != self.input_size or 0 in x.shape:
            raise ValueError(
                f"{name}.forward: x must have shape {layout} with D = input_size = "
                f"{self.input_size} (batch_first={self.batch_first}), got shape {x.shape}"
            )
        return x if self.batch_first else x.swapaxes(0, 1)

    def _states(self, h: ArrayLike | None, what: str, N: int, dtype: Any) -> np.ndarray:
        name = type(self).__name__
        shape = (self.num_layers, N, self.hidden_size)
        if h is None:
            return np.zeros(shape, dtype)
        h = as_array(h, f"{name}.forward", what)
        if h.shape != shape:
            raise ValueError(
                f"{name}.forward: {what} must have shape (num_layers, N, H) = {shape}, "
                f"got {h.shape}"
            )
        return h

    def _dstates(self, d: ArrayLike | None, what: str, N: int) -> np.ndarray | None:
        if d is None:
            return None
        name = type(self).__name__
        shape = (self.num_layers, N, self.hidden_size)
        d = as_array(d, f"{name}.backward", what)
        if d.shape != shape:
            raise ValueError(
                f"{name}.backward: {what} must have shape (num_layers, N, H) = {shape}, "
                f"got {d.shape}"
            )
        return d

    def _doutput(self, dout: ArrayLike, N: int, T: int) -> np.ndarray:
        name = type(self).__name__
        dout = as_array(dout, f"{name}.backward", "doutput")
        H = self.hidden_size
        shape = (N, T, H) if self.batch_first else (T, N, H)
        if dout.shape != shape:
            raise ValueError(
                f"{name}.backward: doutput has shape {dout.shape} but the output had shape "
                f"{shape}"
            )
        return dout if self.batch_first else dout.swapaxes(0, 1)

    def _accumulate(self, layer: int, dWx: np.ndarray, dWh: np.ndarray, dbx: np.ndarray,
                    dbh: np.ndarray) -> None:
        wi, wh, bi, bh = self._layer(layer)
        wi.accumulate_grad(np.asarray(dWx, wi.dtype))
        wh.accumulate_grad(np.asarray(dWh, wh.dtype))
        if bi is not None and bh is not None:
            bi.accumulate_grad(np.array(dbx, bi.dtype))
            bh.accumulate_grad(np.array(dbh, bh.dtype))

    def _output(self, h: np.ndarray) -> np.ndarray:
        return h if self.batch_first else np.ascontiguousarray(h.swapaxes(0, 1))

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        return text + f", batch_first={self.batch_first}"


class RNN(_RNNBase):
    """A stack of ``num_layers`` tanh RNNs, torch.nn.RNN's equations and parameters:
    h_t = tanh(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh), each layer reading the hidden states of
    the one below.

    Shapes (batch_first=True, the default here; torch's default is False): x (N, T, D),
    hx (num_layers, N, H) or None (zeros) -> output (N, T, H), the last layer's states, and
    h_n (num_layers, N, H), the last state of every layer.

    Parameters ``weight_ih_l{k}`` (D, H) (H, H for k > 0), ``weight_hh_l{k}`` (H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,): torch's names, with the weights in nnlib's layout
    (the transposes of torch's; ``nnlib.torch_compat`` converts), all initialised uniform in
    +-1/sqrt(H) from the injected ``rng`` as torch does. Implemented: any ``num_layers``,
    ``bias``, ``batch_first``; not implemented (ValueError): nonlinearity "relu", dropout
    between layers, bidirectional.
    """

    _G = 1

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1,
        nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = True,
        dropout: float = 0.0, bidirectional: bool = False, *, rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
    ) -> None:
        if nonlinearity != "tanh":
            raise ValueError(f"RNN: only nonlinearity='tanh' is implemented, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)

    def forward(self, x: ArrayLike, hx: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(output, h_n), as torch.nn.RNN(batch_first=True)."""
        seq = self._input(x)
        N = seq.shape[0]
        h0 = self._states(hx, "hx", N, seq.dtype)
        caches, h_n = [], []
        for layer in range(self.num_layers):
            wi, wh, bi, bh = self._layer(layer)
            b = self._bias(bi, wi) + self._bias(bh, wi)
            seq, cache = rnn_forward(seq, h0[layer], wi.data, wh.data, b)
            caches.append(cache)
            h_n.append(seq[:, -1])
        self._caches = caches
        return self._output(seq), np.stack(h_n)

    def backward(
        self, doutput: ArrayLike, dh_n: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dhx): the gradients of the input and of the initial states, given those of
        output and (optionally) h_n; adds every parameter's gradient into its .grad."""
        caches = _require_cache(self, self._caches)
        N, T, _ = caches[0].shape
        d = self._doutput(doutput, N, T)
        dhn = self._dstates(dh_n, "dh_n", N)
        dh0 = []
        for layer in range(self.num_layers - 1, -1, -1):
            if dhn is not None:
                d = np.array(d, dtype=np.result_type(d, dhn), copy=True)
                d[:, -1] += dhn[layer]
            d, dh0_l, dWx, dWh, db = rnn_backward(d, caches[layer])
            self._accumulate(layer, dWx, dWh, db, db)
            dh0.append(dh0_l)
        return self._output(d), np.stack(dh0[::-1])


class LSTM(_RNNBase):
    """A stack of ``num_layers`` LSTMs, torch.nn.LSTM's equations, gate order (i, f, g, o) and
    parameters; see ``lstm_step_forward``.

    Shapes (batch_first=True): x (N, T, D), hx = (h0, c0), each (num_layers, N, H), or None
    (zeros) -> output (N, T, H), (h_n, c_n), each (num_layers, N, H).

    Parameters ``weight_ih_l{k}`` (D, 4H), ``weight_hh_l{k}`` (H, 4H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (4H,), torch's names in nnlib's layout (``nnlib.torch_compat`` converts),
    initialised uniform in +-1/sqrt(H) from ``rng``. Implemented: any ``num_layers``, ``bias``,
    ``batch_first``; not implemented (ValueError): dropout, bidirectional, proj_size.
    """

    _G = 4

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
        proj_size: int = 0, *, rng: np.random.Generator, dtype: DTypeLike = np.float64,
    ) -> None:
        if proj_size != 0:
            raise ValueError(f"LSTM: proj_size is not implemented (got {proj_size!r})")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)

    def forward(
        self, x: ArrayLike, hx: tuple[ArrayLike, ArrayLike] | None = None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(output, (h_n, c_n)), as torch.nn.LSTM(batch_first=True)."""
        seq = self._input(x)
        N = seq.shape[0]
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTM.forward: hx must be a pair (h0, c0) or None")
        h0 = self._states(None if hx is None else hx[0], "h0", N, seq.dtype)
        c0 = self._states(None if hx is None else hx[1], "c0", N, seq.dtype)
        caches, h_n, c_n = [], [], []
        for layer in range(self.num_layers):
            wi, wh, bi, bh = self._layer(layer)
            b = self._bias(bi, wi) + self._bias(bh, wi)
            seq, cache = lstm_forward(seq, h0[layer], c0[layer], wi.data, wh.data, b)
            caches.append(cache)
            h_n.append(seq[:, -1])
            c_n.append(cache.c_n)
        self._caches = caches
        return self._output(seq), (np.stack(h_n), np.stack(c_n))

    def backward(
        self, doutput: ArrayLike,
        dhx: tuple[ArrayLike | None, ArrayLike | None] | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(dx, (dh0, dc0)) given the gradients of output and (optionally) of (h_n, c_n), either
        of which may be None; adds every parameter's gradient into its .grad."""
        caches = _require_cache(self, self._caches)
        N, T, _ = caches[0].shape
        d = self._doutput(doutput, N, T)
        if dhx is not None and (not isinstance(dhx, (tuple, list)) or len(dhx) != 2):
            raise ValueError("LSTM.backward: dhx must be a pair (dh_n, dc_n) or None")
        dhn = self._dstates(None if dhx is None else dhx[0], "dh_n", N)
        dcn = self._dstates(None if dhx is None else dhx[1], "dc_n", N)
        dh0, dc0 = [], []
        for layer in range(self.num_layers - 1, -1, -1):
            if dhn is not None:
                d = np.array(d, dtype=np.result_type(d, dhn), copy=True)
                d[:, -1] += dhn[layer]
            d, dh0_l, dc0_l, dWx, dWh, db = lstm_backward(
                d, caches[layer], None if dcn is None else dcn[layer]
            )
            self._accumulate(layer, dWx, dWh, db, db)
            dh0.append(dh0_l)
            dc0.append(dc0_l)
        return self._output(d), (np.stack(dh0[::-1]), np.stack(dc0[::-1]))


class GRU(_RNNBase):
    """A stack of ``num_layers`` GRUs, torch.nn.GRU's equations, gate order (r, z, n) and
    parameters; see ``gru_step_forward`` (the reset gate multiplies ``h W_hn + b_hn``).

    Shapes (batch_first=True): x (N, T, D), hx (num_layers, N, H) or None (zeros) ->
    output (N, T, H), h_n (num_layers, N, H).

    Parameters ``weight_ih_l{k}`` (D, 3H), ``weight_hh_l{k}`` (H, 3H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (3H,), torch's names in nnlib's layout (``nnlib.torch_compat`` converts),
    initialised uniform in +-1/sqrt(H) from ``rng``. Implemented: any ``num_layers``, ``bias``,
    ``batch_first``; not implemented (ValueError): dropout, bidirectional.
    """

    _G = 3

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False, *,
        rng: np.random.Generator, dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)

    def forward(self, x: ArrayLike, hx: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(output, h_n), as torch.nn.GRU(batch_first=True)."""
        seq = self._input(x)
        N = seq.shape[0]
        h0 = self._states(hx, "hx", N, seq.dtype)
        caches, h_n = [], []
        for layer in range(self.num_layers):
            wi, wh, bi, bh = self._layer(layer)
            seq, cache = gru_forward(seq, h0[layer], wi.data, wh.data, self._bias(bi, wi),
                                     self._bias(bh, wi))
            caches.append(cache)
            h_n.append(seq[:, -1])
        self._caches = caches
        return self._output(seq), np.stack(h_n)

    def backward(
        self, doutput: ArrayLike, dh_n: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dhx) given the gradients of output and (optionally) h_n; adds every parameter's
        gradient into its .grad."""
        caches = _require_cache(self, self._caches)
        N, T, _ = caches[0].shape
        d = self._doutput(doutput, N, T)
        dhn = self._dstates(dh_n, "dh_n", N)
        dh0 = []
        for layer in range(self.num_layers - 1, -1, -1):
            if dhn is not None:
                d = np.array(d, dtype=np.result_type(d, dhn), copy=True)
                d[:, -1] += dhn[layer]
            d, dh0_l, dWx, dWh, dbx, dbh = gru_backward(d, caches[layer])
            self._accumulate(layer, dWx, dWh, dbx, dbh)
            dh0.append(dh0_l)
        return self._output(d), np.stack(dh0[::-1])


class Embedding(Module):
    """out = weight[idx]: a lookup table of ``num_embeddings`` vectors of size
    ``embedding_dim``.  Shapes: idx (N, T) (any integer shape) -> out (N, T, D); weight (V, D).

    torch.nn.Embedding's arguments, layout and initialisation (N(0, 1), from the injected
    ``rng``). ``padding_idx``: that row starts at zero and gets no gradient, as in torch.
    ``backward(dout)`` adds dW into weight.grad and returns None (indices have no gradient).
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *,
        rng: np.random.Generator, dtype: DTypeLike = np.float64,
    ) -> None:
        self.num_embeddings = check_positive_int(num_embeddings, "Embedding", "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "Embedding", "embedding_dim")
        check_rng(rng, "Embedding")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer) or \
                    not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be an index into the {self.num_embeddings} "
                    f"embeddings or None, got {padding_idx!r}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        W = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype)
        if padding_idx is not None:
            W[padding_idx] = 0
        self.weight = Parameter(W)
        self._cache: Any = None

    def forward(self, idx: ArrayLike) -> np.ndarray:
        out, self._cache = embedding_forward(idx, self.weight.data)
        return out

    def backward(self, dout: ArrayLike) -> None:
        dW = embedding_backward(dout, _require_cache(self, self._cache))
        if self.padding_idx is not None:
            dW[self.padding_idx] = 0
        self.weight.accumulate_grad(dW)
        return None

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + ("" if self.padding_idx is None else f", padding_idx={self.padding_idx}")
