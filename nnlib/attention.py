"""Attention: the scaled dot-product attention pair, multi-head attention, sinusoidal positional
encoding and a transformer block (``MultiheadAttention``, ``TransformerBlock``), as torch.

Conventions:

- batch-first: a sequence is ``(N, T, E)``; attention works on any leading dimensions
  ``(..., T, E)`` (batch, heads, ...);
- ``scaled_dot_product_attention_forward``'s ``mask`` is **True where attending is allowed**,
  as the boolean ``attn_mask`` of ``torch.nn.functional.scaled_dot_product_attention``;
  ``MultiheadAttention``'s and ``TransformerBlock``'s ``attn_mask`` / ``key_padding_mask`` are
  **True where attending is not allowed**, as in ``torch.nn.MultiheadAttention`` (torch's two
  conventions are opposite; nnlib follows each);
- a query whose keys are all masked gets all-zero attention weights, hence a zero output and
  zero gradients (as torch's ``scaled_dot_product_attention`` does; ``nn.MultiheadAttention``
  returns NaN there);
- weights are ``(D_in, D_out)`` as everywhere in nnlib: ``in_proj_weight`` is ``(E, 3E)``, the
  transpose of torch's; ``nnlib.torch_compat`` converts.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_positive_int, check_rng
from nnlib.activations import ReLU
from nnlib.layers import Linear
from nnlib.module import Module, Parameter, _require_cache
from nnlib.normalization import LayerNorm

__all__ = [
    "scaled_dot_product_attention_forward",
    "scaled_dot_product_attention_backward",
    "positional_encoding",
    "decoder_attention_forward",
    "decoder_attention_backward",
    "MultiheadAttention",
    "TransformerBlock",
]


# ---------------------------------------------------------------------------------------------
# Scaled dot-product attention
# ---------------------------------------------------------------------------------------------


class AttentionCache(NamedTuple):
    """What ``scaled_dot_product_attention_backward`` needs; ``weights`` are the attention
    probabilities (..., Tq, Tk), each row summing to 1 (0 for a fully masked row)."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    weights: np.ndarray
    scale: float


def _masked_softmax(s: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """softmax over the last axis of ``s`` in place (s is a fresh array), masked entries 0."""
    if mask is None:
        s -= s.max(axis=-1, keepdims=True)  # exp cannot overflow
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        return s
    s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    m[m == -np.inf] = 0  # a fully masked row: exp(-inf - 0) = 0 everywhere, no NaN
    s -= m
    np.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    s /= total
    return s


def _check_mask(fn: str, mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != bool:
        raise ValueError(
            f"{fn}: mask must be boolean (True: attending is allowed), got dtype {m.dtype}"
        )
    try:
        np.broadcast_shapes(m.shape, shape)
        ok = len(m.shape) <= len(shape) and np.broadcast_shapes(m.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: mask of shape {m.shape} does not broadcast to the scores' shape "
            f"(..., Tq, Tk) = {shape}"
        )
    return m


def scaled_dot_product_attention_forward(
    q: ArrayLike, k: ArrayLike, v: ArrayLike, mask: ArrayLike | None = None, *,
    scale: float | None = None,
) -> tuple[np.ndarray, AttentionCache]:
    """out = softmax(q @ k^T * scale, masked) @ v, with scale = 1 / sqrt(E) by default.

    Shapes: q (..., Tq, E), k (..., Tk, E), v (..., Tk, Ev), the same leading dimensions ``...``
    (batch, heads, any number or none); mask boolean, broadcastable to (..., Tq, Tk), **True
    where query i may attend to key j** (torch's boolean ``attn_mask`` of
    ``F.scaled_dot_product_attention``), None: everything -> out (..., Tq, Ev). The attention
    weights are ``cache.weights`` (..., Tq, Tk). A query row with every key masked gets zero
    weights, so a zero output (torch's ``scaled_dot_product_attention`` does the same).
    """
    fn = "scaled_dot_product_attention_forward"
    q, k, v = as_array(q, fn, "q"), as_array(k, fn, "k"), as_array(v, fn, "v")
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim < 2 or 0 in a.shape:
            raise ValueError(
                f"{fn}: {name} must have shape (..., T, E) (at least 2-D, not empty), "
                f"got {a.shape}"
            )
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(
            f"{fn}: q, k and v must have the same leading dimensions, got q {q.shape}, "
            f"k {k.shape}, v {v.shape}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"{fn}: q and k must have the same last dimension E, got q {q.shape} and k {k.shape}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{fn}: k and v must have the same number of keys Tk, got k {k.shape} and "
            f"v {v.shape}"
        )
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    elif not (isinstance(scale, (int, float, np.floating)) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"{fn}: scale must be a positive number or None, got {scale!r}")
    scale = float(scale)
    dtype = np.result_type(q, k, v)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    s = q @ k.swapaxes(-1, -2)
    s *= scale
    m = None if mask is None else _check_mask(fn, mask, s.shape)
    w = _masked_softmax(s, m)
    return w @ v, AttentionCache(q, k, v, w, scale)


def scaled_dot_product_attention_backward(
    dout: ArrayLike, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """With P the attention weights and dP = dout @ v^T: dv = P^T @ dout,
    dS = P * (dP - sum_j dP * P) (the softmax backward), dq = scale dS @ k, dk = scale dS^T @ q.

    Shapes: dout (..., Tq, Ev) -> dq (..., Tq, E), dk (..., Tk, E), dv (..., Tk, Ev). Masked
    weights are 0, so no gradient flows through a masked score.
    """
    fn = "scaled_dot_product_attention_backward"
    if not isinstance(cache, AttentionCache):
        raise ValueError(f"{fn}: cache must be the cache scaled_dot_product_attention_forward "
                         "returned")
    q, k, v, w, scale = cache
    out_shape = w.shape[:-1] + (v.shape[-1],)
    dout = as_array(dout, fn, "dout")
    if dout.shape != out_shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward output had shape {out_shape}"
        )
    dout = dout.astype(w.dtype, copy=False)
    dv = w.swapaxes(-1, -2) @ dout
    ds = dout @ v.swapaxes(-1, -2)  # dP
    ds -= np.sum(ds * w, axis=-1, keepdims=True)
    ds *= w
    dq = ds @ k
    dq *= scale  # on (.., Tq, E), not on the larger (..., Tq, Tk)
    dk = ds.swapaxes(-1, -2) @ q
    dk *= scale
    return dq, dk, dv


# ---------------------------------------------------------------------------------------------
# Positional encoding
# ---------------------------------------------------------------------------------------------


def positional_encoding(T: int, E: int, *, base: float = 10000.0,
                        dtype: DTypeLike = np.float64) -> np.ndarray:
    """PE[t, 2i] = sin(t / base^(2i / E)), PE[t, 2i + 1] = cos(t / base^(2i / E)), the
    sinusoidal encoding of "Attention is all you need" (base 10000).

    Shapes: -> PE (T, E), added to embeddings (N, T, E) by broadcasting. An odd E ends with a
    sine column.
    """
    fn = "positional_encoding"
    T = check_positive_int(T, fn, "T")
    E = check_positive_int(E, fn, "E")
    if not (isinstance(base, (int, float)) and base > 1):
        raise ValueError(f"{fn}: base must be a number > 1, got {base!r}")
    t = np.arange(T, dtype=np.float64)[:, None]
    freq = float(base) ** (-np.arange(0, E, 2, dtype=np.float64) / E)  # (ceil(E / 2),)
    angle = t * freq
    pe = np.empty((T, E), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : E // 2])
    return pe.astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


def _check_flag(value: Any, fn: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{fn}: {name} must be True or False, got {value!r}")
    return bool(value)


class _MHACache(NamedTuple):
    xs: tuple[np.ndarray, ...]  # (query,) for self-attention, else (query, key, value), (N L, E)
    attn: AttentionCache
    shapes: tuple[tuple[int, int], tuple[int, int]]  # (N, L), (N, S)


class MultiheadAttention(Module):
    """out = concat_h(attention(x_q W_q^h, x_k W_k^h, x_v W_v^h)) W_o + b_o, torch's
    ``nn.MultiheadAttention``: ``num_heads`` heads of size E / num_heads, queries, keys and
    values projected by the columns of ``in_proj_weight`` (E, 3E) (q, k, v blocks, nnlib's
    layout: the transpose of torch's) plus ``in_proj_bias`` (3E,), scaled by 1/sqrt(E/heads),
    then ``out_proj`` (a Linear (E, E)).

    Shapes (batch_first=True, the default here; torch's default is False): query (N, L, E),
    key and value (N, S, E) -> out (N, L, E) and the attention weights (N, L, S) averaged over
    the heads (``average_attn_weights=False``: (N, num_heads, L, S); ``need_weights=False``:
    None).

    Masks, as torch's module (**True: not allowed to attend**, the opposite of
    ``scaled_dot_product_attention_forward``): ``attn_mask`` (L, S) or (N num_heads, L, S)
    boolean, ``key_padding_mask`` (N, S) boolean (True: that key is padding). A query with every
    key masked gets zero weights and a zero attention output (torch's module gives NaN).

    ``backward(dout) -> (dquery, dkey, dvalue)``: the gradients of the three inputs (for
    self-attention, ``mha(x, x, x)``, the gradient of x is their sum), and every parameter's
    gradient added into its ``.grad``. The gradient of the returned weights is not propagated.

    Initialisation as torch: ``in_proj_weight`` Xavier-uniform over (3E, E), biases zero,
    ``out_proj.weight`` uniform in +-1/sqrt(E), from the injected ``rng``. Implemented:
    ``bias``, ``batch_first``; not implemented (ValueError): dropout, add_bias_kv,
    add_zero_attn, kdim/vdim other than embed_dim.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
        add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
        vdim: int | None = None, batch_first: bool = True, *, rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
    ) -> None:
        name = "MultiheadAttention"
        self.embed_dim = check_positive_int(embed_dim, name, "embed_dim")
        self.num_heads = check_positive_int(num_heads, name, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"{name}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.head_dim = self.embed_dim // self.num_heads
        if dropout != 0:
            raise ValueError(f"{name}: dropout is not implemented (got {dropout!r})")
        if add_bias_kv or add_zero_attn:
            raise ValueError(f"{name}: add_bias_kv and add_zero_attn are not implemented")
        for what, dim in (("kdim", kdim), ("vdim", vdim)):
            if dim is not None and dim != embed_dim:
                raise ValueError(f"{name}: {what} other than embed_dim is not implemented "
                                 f"(got {what}={dim!r}, embed_dim={embed_dim})")
        self.batch_first = _check_flag(batch_first, name, "batch_first")
        has_bias = _check_flag(bias, name, "bias")
        check_rng(rng, name)
        E = self.embed_dim
        bound = math.sqrt(6.0 / (E + 3 * E))  # xavier_uniform_ of torch's (3E, E) weight
        self.in_proj_weight = Parameter(rng.uniform(-bound, bound, size=(E, 3 * E)).astype(dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dtype)) if has_bias else None
        self.out_proj = Linear(E, E, rng=rng, bias=has_bias, dtype=dtype)
        k = 1.0 / math.sqrt(E)
        self.out_proj.weight.data[...] = rng.uniform(-k, k, size=(E, E))
        self._cache: _MHACache | None = None

    # -- helpers ------------------------------------------------------------------------------

    def _seq(self, x: ArrayLike, what: str) -> np.ndarray:
        x = as_array(x, "MultiheadAttention.forward", what)
        layout = "(N, T, E)" if self.batch_first else "(T, N, E)"
        if x.ndim != 3 or x.shape[-1] != self.embed_dim or 0 in x.shape:
            raise ValueError(
                f"MultiheadAttention.forward: {what} must have shape {layout} with E = "
                f"embed_dim = {self.embed_dim} (batch_first={self.batch_first}), got {x.shape}"
            )
        return x if self.batch_first else x.swapaxes(0, 1)

    def _mask(self, attn_mask: Any, key_padding_mask: Any, N: int, L: int,
              S: int) -> np.ndarray | None:
        """The *allowed* mask (N, heads, L, S) or a broadcastable shape, or None."""
        fn, h = "MultiheadAttention.forward", self.num_heads
        allowed = None
        if attn_mask is not None:
            m = np.asarray(attn_mask)
            if m.dtype != bool:
                raise ValueError(f"{fn}: attn_mask must be boolean (True: not allowed to "
                                 f"attend, as torch), got dtype {m.dtype}")
            if m.shape == (L, S):
                allowed = ~m
            elif m.shape == (N * h, L, S):
                allowed = ~m.reshape(N, h, L, S)
            else:
                raise ValueError(f"{fn}: attn_mask must have shape (L, S) = {(L, S)} or "
                                 f"(N num_heads, L, S) = {(N * h, L, S)}, got {m.shape}")
        if key_padding_mask is not None:
            m = np.asarray(key_padding_mask)
            if m.dtype != bool:
                raise ValueError(f"{fn}: key_padding_mask must be boolean (True: padding, "
                                 f"ignored), got dtype {m.dtype}")
            if m.shape != (N, S):
                raise ValueError(f"{fn}: key_padding_mask must have shape (N, S) = {(N, S)}, "
                                 f"got {m.shape}")
            keep = ~m[:, None, None, :]
            allowed = keep if allowed is None else allowed & keep
        return allowed

    def _heads(self, a: np.ndarray, N: int, T: int) -> np.ndarray:
        """(N T, E) -> (N, heads, T, head_dim)."""
        return a.reshape(N, T, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    # -- forward / backward -------------------------------------------------------------------

    def forward(
        self, query: ArrayLike, key: ArrayLike, value: ArrayLike,
        key_padding_mask: ArrayLike | None = None, need_weights: bool = True,
        attn_mask: ArrayLike | None = None, average_attn_weights: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(out, weights), as torch.nn.MultiheadAttention.forward (same argument order)."""
        self_attn = query is key and key is value
        xq = self._seq(query, "query")
        xk = xq if self_attn else self._seq(key, "key")
        xv = xq if self_attn else self._seq(value, "value")
        N, L, E = xq.shape
        S = xk.shape[1]
        if xk.shape[0] != N or xv.shape[:2] != (N, S):
            raise ValueError(
                f"MultiheadAttention.forward: key and value must have shape (N, S, E) with the "
                f"query's N = {N}, got key {xk.shape} and value {xv.shape} (batch-first)"
            )
        allowed = self._mask(attn_mask, key_padding_mask, N, L, S)
        W = self.in_proj_weight.data
        b = None if self.in_proj_bias is None else self.in_proj_bias.data
        dtype = np.result_type(xq, W)
        if self_attn:
            x2 = np.ascontiguousarray(xq, dtype=dtype).reshape(N * L, E)
            qkv = x2 @ W.astype(dtype, copy=False)
            if b is not None:
                qkv += b
            q, k, v = qkv[:, :E], qkv[:, E : 2 * E], qkv[:, 2 * E :]
            xs: tuple[np.ndarray, ...] = (x2,)
        else:
            xs = tuple(np.ascontiguousarray(x, dtype=dtype).reshape(-1, E) for x in (xq, xk, xv))
            q, k, v = (x @ W[:, i * E : (i + 1) * E].astype(dtype, copy=False)
                       for i, x in enumerate(xs))
            if b is not None:
                q += b[:E]
                k += b[E : 2 * E]
                v += b[2 * E :]
        o, acache = scaled_dot_product_attention_forward(
            self._heads(q, N, L), self._heads(k, N, S), self._heads(v, N, S), allowed
        )
        o2 = o.transpose(0, 2, 1, 3).reshape(N * L, E)
        out = self.out_proj(o2).reshape(N, L, E)
        self._cache = _MHACache(xs, acache, ((N, L), (N, S)))
        if not self.batch_first:
            out = np.ascontiguousarray(out.swapaxes(0, 1))
        if not need_weights:
            return out, None
        weights = acache.weights
        return out, (weights.mean(axis=1) if average_attn_weights else weights.copy())

    def backward(self, dout: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dquery, dkey, dvalue), each the shape of its input; adds the gradients of
        in_proj_weight, in_proj_bias and out_proj into their .grad."""
        c = _require_cache(self, self._cache)
        (N, L), (_, S) = c.shapes
        E = self.embed_dim
        dout = as_array(dout, "MultiheadAttention.backward", "dout")
        shape = (N, L, E) if self.batch_first else (L, N, E)
        if dout.shape != shape:
            raise ValueError(f"MultiheadAttention.backward: dout has shape {dout.shape} but the "
                             f"output had shape {shape}")
        if not self.batch_first:
            dout = dout.swapaxes(0, 1)
        do2 = self.out_proj.backward(dout.reshape(N * L, E))
        dq, dk, dv = scaled_dot_product_attention_backward(
            do2.reshape(N, L, self.num_heads, self.head_dim).transpose(0, 2, 1, 3), c.attn
        )
        W = self.in_proj_weight.data
        dtype = c.xs[0].dtype
        if len(c.xs) == 1:
            # the three gradients side by side, (N L, 3E), written in place from the heads
            d_all = np.empty((N, L, 3, self.num_heads, self.head_dim), dtype=dq.dtype)
            for i, d in enumerate((dq, dk, dv)):
                d_all[:, :, i] = d.transpose(0, 2, 1, 3)
            d_all = d_all.reshape(N * L, 3 * E)
            dqkv = [d_all[:, i * E : (i + 1) * E] for i in range(3)]
            dW = c.xs[0].T @ d_all
            db = d_all.sum(axis=0)
        else:
            dqkv = [np.ascontiguousarray(d.transpose(0, 2, 1, 3)).reshape(-1, E)
                    for d in (dq, dk, dv)]
            dW = np.concatenate([x.T @ d for x, d in zip(c.xs, dqkv, strict=True)], axis=1)
            db = np.concatenate([d.sum(axis=0) for d in dqkv])
        self.in_proj_weight.accumulate_grad(dW.astype(W.dtype, copy=False))
        if self.in_proj_bias is not None:
            self.in_proj_bias.accumulate_grad(db.astype(W.dtype, copy=False))
        Wd = W.astype(dtype, copy=False)
        dxs = []
        for i, (d, T) in enumerate(zip(dqkv, (L, S, S), strict=True)):
            dx = (d @ Wd[:, i * E : (i + 1) * E].T).reshape(N, T, E)
            dxs.append(dx if self.batch_first else np.ascontiguousarray(dx.swapaxes(0, 1)))
        return dxs[0], dxs[1], dxs[2]

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"bias={self.in_proj_bias is not None}, batch_first={self.batch_first}")


class TransformerBlock(Module):
    """A transformer encoder block, torch's ``nn.TransformerEncoderLayer`` (batch_first=True,
    activation ReLU, no dropout), with its submodule names (``self_attn``, ``linear1``,
    ``linear2``, ``norm1``, ``norm2``), so ``nnlib.torch_compat`` converts its state dict.

    Post-norm (``norm_first=False``, torch's default, the original transformer):
        x = norm1(x + self_attn(x, x, x)); out = norm2(x + linear2(relu(linear1(x)))).
    Pre-norm (``norm_first=True``, easier to train deep):
        x = x + self_attn(norm1(x)); out = x + linear2(relu(linear1(norm2(x)))).

    Shapes: x (N, T, E) (d_model = E) -> out (N, T, E); linear1 (E, dim_feedforward),
    linear2 (dim_feedforward, E). ``src_mask`` (T, T) and ``src_key_padding_mask`` (N, T) are
    boolean with torch's module convention (True: not allowed to attend).
    ``backward(dout) -> dx``, adding every parameter's gradient into its ``.grad``.
    Not implemented (ValueError): dropout (torch's default is 0.1: pass ``dropout=0.0`` to torch
    to compare), activations other than ReLU.
    """

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.0,
        activation: str = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = True,
        norm_first: bool = False, bias: bool = True, *, rng: np.random.Generator,
        dtype: DTypeLike = np.float64,
    ) -> None:
        name = "TransformerBlock"
        d_model = check_positive_int(d_model, name, "d_model")
        dim_feedforward = check_positive_int(dim_feedforward, name, "dim_feedforward")
        if dropout != 0:
            raise ValueError(f"{name}: dropout is not implemented (got {dropout!r})")
        if activation != "relu":
            raise ValueError(f"{name}: only activation='relu' is implemented, got {activation!r}")
        if not _check_flag(batch_first, name, "batch_first"):
            raise ValueError(f"{name}: only batch_first=True is implemented")
        if not _check_flag(bias, name, "bias"):
            raise ValueError(f"{name}: bias=False is not implemented (LayerNorm keeps its bias)")
        self.norm_first = _check_flag(norm_first, name, "norm_first")
        check_rng(rng, name)
        self.d_model = d_model
        self.self_attn = MultiheadAttention(d_model, nhead, rng=rng, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, rng=rng, dtype=dtype)
        self.linear2 = Linear(dim_feedforward, d_model, rng=rng, dtype=dtype)
        for lin in (self.linear1, self.linear2):  # torch's Linear default: U(+-1/sqrt(fan_in))
            k = 1.0 / math.sqrt(lin.in_features)
            lin.weight.data[...] = rng.uniform(-k, k, size=lin.weight.shape)
            lin.bias.data[...] = rng.uniform(-k, k, size=lin.bias.shape)  # type: ignore[union-attr]
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.activation = ReLU()
        self._shape: tuple[int, int, int] | None = None

    def _attend(self, x: np.ndarray, src_mask: Any, pad: Any) -> np.ndarray:
        return self.self_attn(x, x, x, key_padding_mask=pad, need_weights=False,
                              attn_mask=src_mask)[0]

    def _ff(self, x: np.ndarray) -> np.ndarray:
        N, T, E = x.shape
        h = self.activation(self.linear1(x.reshape(N * T, E)))
        return self.linear2(h).reshape(N, T, E)

    def _ff_backward(self, d: np.ndarray) -> np.ndarray:
        N, T, E = d.shape
        dh = self.activation.backward(self.linear2.backward(d.reshape(N * T, E)))
        return self.linear1.backward(dh).reshape(N, T, E)

    def _attend_backward(self, d: np.ndarray) -> np.ndarray:
        dq, dk, dv = self.self_attn.backward(d)
        return dq + dk + dv

    def forward(self, src: ArrayLike, src_mask: ArrayLike | None = None,
                src_key_padding_mask: ArrayLike | None = None) -> np.ndarray:
        """out, as torch.nn.TransformerEncoderLayer(batch_first=True, dropout=0.0)."""
        x = as_array(src, "TransformerBlock.forward", "src")
        if x.ndim != 3 or x.shape[-1] != self.d_model or 0 in x.shape:
            raise ValueError(f"TransformerBlock.forward: src must have shape (N, T, E) with E = "
                             f"d_model = {self.d_model}, got {x.shape}")
        self._shape = x.shape
        if self.norm_first:
            x = x + self._attend(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._attend(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self._ff(x))

    def backward(self, dout: ArrayLike) -> np.ndarray:
        """dx; adds every parameter's gradient into its .grad."""
        shape = _require_cache(self, self._shape)
        d = as_array(dout, "TransformerBlock.backward", "dout")
        if d.shape != shape:
            raise ValueError(f"TransformerBlock.backward: dout has shape {d.shape} but the "
                             f"output had shape {shape}")
        if self.norm_first:
            d = d + self.norm2.backward(self._ff_backward(d))
            return d + self.norm1.backward(self._attend_backward(d))
        d = self.norm2.backward(d)
        d = d + self._ff_backward(d)
        d = self.norm1.backward(d)
        return d + self._attend_backward(d)

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"


# ---------------------------------------------------------------------------------------------
# Attention of a decoder over its encoder's states (Luong's dot-product "global attention")
# ---------------------------------------------------------------------------------------------


def decoder_attention_forward(
    h_dec: ArrayLike, enc: ArrayLike, src_mask: ArrayLike
) -> tuple[np.ndarray, AttentionCache]:
    """context = softmax(h_dec @ enc^T / sqrt(H), padding masked) @ enc, the softmax over the
    source positions: every decoder state is a query, the encoder states are the keys and the
    values (Luong et al., 2015, scaled).

    Shapes: h_dec (N, T_out, H), enc (N, T_in, H), src_mask (N, T_in) boolean, **True at a real
    source token** (False at padding), at least one per sequence -> context (N, T_out, H) and
    the cache of ``scaled_dot_product_attention_forward`` (weights (N, T_out, T_in)).
    """
    fn = "decoder_attention_forward"
    h_dec, enc = as_array(h_dec, fn, "h_dec"), as_array(enc, fn, "enc")
    m = np.asarray(src_mask)
    if h_dec.ndim != 3 or enc.ndim != 3 or 0 in h_dec.shape or 0 in enc.shape:
        raise ValueError(f"{fn}: h_dec must be (N, T_out, H) and enc (N, T_in, H), not empty, "
                         f"got h_dec {h_dec.shape} and enc {enc.shape}")
    if h_dec.shape[0] != enc.shape[0] or h_dec.shape[2] != enc.shape[2]:
        raise ValueError(f"{fn}: h_dec {h_dec.shape} and enc {enc.shape} must share N and H")
    if m.dtype != bool or m.shape != enc.shape[:2]:
        raise ValueError(f"{fn}: src_mask must be boolean (N, T_in) = {enc.shape[:2]} (True at "
                         f"a real token), got dtype {m.dtype} and shape {m.shape}")
    if not m.any(axis=1).all():
        raise ValueError(f"{fn}: src_mask {m.shape} has a sequence without any real token")
    return scaled_dot_product_attention_forward(h_dec, enc, enc, m[:, None, :])


def decoder_attention_backward(
    dcontext: ArrayLike, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``decoder_attention_forward``: dh_dec = dq, denc = dk + dv (the encoder
    states are both the keys and the values, so both paths reach them).

    Shapes: dcontext (N, T_out, H) -> dh_dec (N, T_out, H), denc (N, T_in, H).
    """
    fn = "decoder_attention_backward"
    if not isinstance(cache, AttentionCache) or cache.q.ndim != 3:
        raise ValueError(f"{fn}: cache must be the cache decoder_attention_forward returned")
    dq, dk, dv = scaled_dot_product_attention_backward(dcontext, cache)
    return dq, dk + dv
