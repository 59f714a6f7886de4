"""Tests for nnlib.attention: scaled dot-product attention against
torch.nn.functional.scaled_dot_product_attention (boolean masks, any leading dimensions, a fully
masked row), MultiheadAttention against torch.nn.MultiheadAttention and TransformerBlock against
torch.nn.TransformerEncoderLayer (weights loaded through nnlib.torch_compat; outputs, weights and
every gradient, float64, 1e-10), gradient checks, positional encoding, errors, training."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from oracles import require_torch

import nnlib
from nnlib.attention import (
    MultiheadAttention,
    TransformerBlock,
    positional_encoding,
    scaled_dot_product_attention_backward,
    scaled_dot_product_attention_forward,
)
from nnlib.gradcheck import check_gradients, numerical_gradient
from nnlib.layers import Linear
from nnlib.losses import CrossEntropyLoss
from nnlib.optim import Adam
from nnlib.rnn import Embedding
from nnlib.torch_compat import to_torch_state_dict

RTOL = 1e-10


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def assert_rel(mine, ref, what: str, rtol: float = RTOL) -> None:
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape}, expected {ref.shape}"
    scale = max(float(np.abs(ref).max(initial=0.0)), 1e-300)
    err = float(np.abs(mine - ref).max(initial=0.0)) / scale
    assert err <= rtol, f"{what}: max error {err:.2e} of the largest entry (rtol {rtol})"


def _t(torch, a, grad=True):
    t = torch.from_numpy(np.array(a))
    return t.requires_grad_() if grad else t


# ---------------------------------------------------------------------------------------------
# Scaled dot-product attention
# ---------------------------------------------------------------------------------------------

#: (leading dims, Tq, Tk, E, Ev, mask kind)
SDPA_CASES = [
    ((), 1, 1, 1, 1, None),
    ((), 4, 6, 3, 5, "full"),
    ((1,), 1, 3, 2, 2, "2d"),
    ((3,), 5, 5, 4, 4, "causal"),
    ((2, 3), 4, 7, 5, 3, "2d"),
    ((2, 3), 4, 7, 5, 3, "broadcast"),
    ((2, 3), 4, 6, 3, 2, "full"),
    ((2, 1, 2), 3, 3, 4, 5, None),
    ((2, 2), 5, 4, 3, 3, "empty row"),
]


def _mask(kind, lead, Tq, Tk, rng):
    if kind is None:
        return None
    if kind == "causal":
        return np.tril(np.ones((Tq, Tk), dtype=bool))
    if kind == "2d":
        m = rng.random((Tq, Tk)) < 0.6
    elif kind == "broadcast":
        m = rng.random(lead[:1] + (1, Tq, Tk)) < 0.6
    else:
        m = rng.random(lead + (Tq, Tk)) < 0.6
    m[..., 0] = True  # every row attends somewhere ...
    if kind == "empty row":
        m[..., 1, :] = False  # ... except here: a fully masked row
    return m


@pytest.mark.parametrize("lead,Tq,Tk,E,Ev,kind", SDPA_CASES)
def test_sdpa_matches_torch_outputs_and_gradients(lead, Tq, Tk, E, Ev, kind):
    torch = require_torch()
    F = torch.nn.functional
    rng = np.random.default_rng(len(lead) + Tq + 10 * Tk + 100 * E)
    q = rng.standard_normal(lead + (Tq, E)) * 2
    k = rng.standard_normal(lead + (Tk, E)) * 2
    v = rng.standard_normal(lead + (Tk, Ev))
    mask = _mask(kind, lead, Tq, Tk, rng)
    dout = rng.standard_normal(lead + (Tq, Ev))
    qt, kt, vt = _t(torch, q), _t(torch, k), _t(torch, v)
    # torch wants at least 3-D for 2-D masks to broadcast; add and drop a batch axis
    squeeze = not lead
    args = [a[None] if squeeze else a for a in (qt, kt, vt)]
    ref = F.scaled_dot_product_attention(
        *args, attn_mask=None if mask is None else torch.from_numpy(mask))
    ref = ref[0] if squeeze else ref
    (ref * torch.from_numpy(dout)).sum().backward()
    out, cache = scaled_dot_product_attention_forward(q, k, v, mask)
    assert_rel(out, ref.detach().numpy(), "out")
    dq, dk, dv = scaled_dot_product_attention_backward(dout, cache)
    assert_rel(dq, qt.grad.numpy(), "dq")
    assert_rel(dk, kt.grad.numpy(), "dk")
    assert_rel(dv, vt.grad.numpy(), "dv")
    w = cache.weights
    assert w.shape == lead + (Tq, Tk)
    if mask is not None:
        assert not w[~np.broadcast_to(mask, w.shape)].any()  # masked weights are exactly 0


def test_sdpa_custom_scale_matches_torch(rng):
    torch = require_torch()
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(a) for a in (q, k, v)), scale=0.3)
    assert_rel(scaled_dot_product_attention_forward(q, k, v, scale=0.3)[0], ref.numpy(), "out")


def test_sdpa_definition_by_hand_and_fully_masked_row(rng):
    """The formula written out, and the documented choice: a query with every key masked gets
    zero weights, a zero output and zero gradients (no NaN, no warning)."""
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
    mask = np.ones((3, 4), dtype=bool)
    mask[0, 2:] = False
    mask[1] = False
    s = q @ k.T / np.sqrt(2)
    e = np.exp(s) * mask
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = scaled_dot_product_attention_forward(q, k, v, mask)
        dq, dk, dv = scaled_dot_product_attention_backward(np.ones((3, 3)), cache)
    w = np.divide(e, e.sum(axis=1, keepdims=True), out=np.zeros_like(e),
                  where=e.sum(axis=1, keepdims=True) > 0)
    assert_rel(cache.weights, w, "weights", 1e-14)
    assert_rel(out, w @ v, "out", 1e-14)
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_array_equal(dq[1], 0.0)
    np.testing.assert_allclose(cache.weights.sum(axis=1), [1, 0, 1], rtol=1e-14)


def test_sdpa_softmax_is_stable_for_huge_scores(rng):
    q = rng.standard_normal((2, 3, 4)) * 1e3
    k = rng.standard_normal((2, 5, 4)) * 1e3
    v = rng.standard_normal((2, 5, 2))
    for mask in (None, rng.random((3, 5)) < 0.5):
        out, cache = scaled_dot_product_attention_forward(q, k, v, mask)
        dq, dk, dv = scaled_dot_product_attention_backward(np.ones((2, 3, 2)), cache)
        for a in (out, cache.weights, dq, dk, dv):
            assert np.isfinite(a).all()


def test_sdpa_float32_stays_float32(rng):
    q, k, v = (rng.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(3))
    out, cache = scaled_dot_product_attention_forward(q, k, v, np.ones((3, 3), dtype=bool))
    assert out.dtype == np.float32 and cache.weights.dtype == np.float32
    grads = scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert all(g.dtype == np.float32 for g in grads)


@pytest.mark.parametrize("kind", [None, "2d", "empty row"])
def test_sdpa_gradcheck(kind, rng):
    lead = (2,)
    q, k = rng.standard_normal(lead + (3, 4)), rng.standard_normal(lead + (5, 4))
    v = rng.standard_normal(lead + (5, 2))
    mask = _mask(kind, lead, 3, 5, rng)
    check_gradients(
        lambda q, k, v: scaled_dot_product_attention_forward(q, k, v, mask),
        scaled_dot_product_attention_backward, [q, k, v], rng=rng, tol=1e-7,
        names=["q", "k", "v"])


def test_sdpa_errors(rng):
    fn = "scaled_dot_product_attention_forward"
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
        rng.standard_normal((2, 5, 6))
    with pytest.raises(ValueError, match=rf"{fn}: q and k must have the same last dimension E, "
                                         r"got q \(2, 3, 4\) and k \(2, 5, 3\)"):
        scaled_dot_product_attention_forward(q, k[..., :3], v)
    with pytest.raises(ValueError, match=rf"{fn}: k and v must have the same number of keys"):
        scaled_dot_product_attention_forward(q, k, v[:, :4])
    with pytest.raises(ValueError, match=rf"{fn}: q, k and v must have the same leading "
                                         r"dimensions, got q \(1, 3, 4\)"):
        scaled_dot_product_attention_forward(q[:1], k, v)
    with pytest.raises(ValueError, match=rf"{fn}: q must have shape \(..., T, E\)"):
        scaled_dot_product_attention_forward(q[0, 0], k, v)
    with pytest.raises(ValueError, match=rf"{fn}: mask must be boolean \(True: attending is "
                                         r"allowed\), got dtype float64"):
        scaled_dot_product_attention_forward(q, k, v, np.ones((3, 5)))
    with pytest.raises(ValueError, match=rf"{fn}: mask of shape \(5, 3\) does not broadcast to "
                                         r"the scores' shape \(..., Tq, Tk\) = \(2, 3, 5\)"):
        scaled_dot_product_attention_forward(q, k, v, np.ones((5, 3), dtype=bool))
    with pytest.raises(ValueError, match=rf"{fn}: mask of shape \(1, 2, 3, 5\)"):
        scaled_dot_product_attention_forward(q, k, v, np.ones((1, 2, 3, 5), dtype=bool))
    with pytest.raises(ValueError, match=rf"{fn}: scale must be a positive number"):
        scaled_dot_product_attention_forward(q, k, v, scale=-1.0)
    _, cache = scaled_dot_product_attention_forward(q, k, v)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention_backward: dout has shape "
                                         r"\(2, 3, 4\) but the forward output had shape "
                                         r"\(2, 3, 6\)"):
        scaled_dot_product_attention_backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(ValueError, match="scaled_dot_product_attention_backward: cache must be"):
        scaled_dot_product_attention_backward(np.ones((2, 3, 6)), (q, k, v))


# ---------------------------------------------------------------------------------------------
# Positional encoding
# ---------------------------------------------------------------------------------------------


def test_positional_encoding_formula_and_shapes():
    pe = positional_encoding(7, 6)
    assert pe.shape == (7, 6) and pe.dtype == np.float64
    for t in range(7):
        for i in range(3):
            angle = t / 10000 ** (2 * i / 6)
            assert pe[t, 2 * i] == pytest.approx(np.sin(angle), abs=1e-15)
            assert pe[t, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-15)
    np.testing.assert_array_equal(pe[0], [0, 1, 0, 1, 0, 1])
    odd = positional_encoding(4, 5, dtype=np.float32)
    assert odd.shape == (4, 5) and odd.dtype == np.float32
    np.testing.assert_allclose(odd[:, :4], positional_encoding(4, 5)[:, :4], rtol=1e-6)
    assert odd[1, 4] == pytest.approx(np.sin(1 / 10000 ** (4 / 5)), rel=1e-6)
    # each (sin, cos) pair lies on the unit circle; positions are distinct
    assert_rel(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, np.ones((7, 3)), "sin^2 + cos^2", 1e-14)
    assert len({tuple(row) for row in positional_encoding(50, 8).round(6)}) == 50
    with pytest.raises(ValueError, match="positional_encoding: T must be a positive integer"):
        positional_encoding(0, 4)
    with pytest.raises(ValueError, match="positional_encoding: E must be a positive integer"):
        positional_encoding(3, 2.0)


# ---------------------------------------------------------------------------------------------
# MultiheadAttention against torch.nn.MultiheadAttention
# ---------------------------------------------------------------------------------------------


def _twin_mha(torch, mha):
    twin = torch.nn.MultiheadAttention(mha.embed_dim, mha.num_heads,
                                       bias=mha.in_proj_bias is not None,
                                       batch_first=mha.batch_first, dtype=torch.float64)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(mha).items()})
    return twin


def _compare_param_grads(net, twin):
    tparams = dict(twin.named_parameters())
    names = [n for n, _ in net.named_parameters()]
    assert sorted(names) == sorted(tparams)
    for name, p in net.named_parameters():
        ref = tparams[name].grad.numpy()
        assert_rel(p.grad, ref.T if p.data.ndim == 2 else ref, f"grad of {name}")


#: (N, L, S, E, heads, self-attention?, attn_mask kind, key padding?, bias, batch_first)
MHA_CASES = [
    (1, 1, 1, 2, 1, True, None, False, True, True),
    (3, 5, 5, 8, 2, True, None, False, True, True),
    (2, 6, 6, 6, 3, True, "causal", True, True, True),
    (2, 4, 7, 8, 4, False, "2d", False, True, True),
    (3, 4, 5, 6, 2, False, "3d", True, True, True),
    (2, 3, 3, 4, 2, True, "2d", False, False, True),
    (2, 5, 4, 6, 3, False, None, True, True, False),
]


@pytest.mark.parametrize("N,L,S,E,h,selfattn,kind,pad,bias,bf", MHA_CASES)
@pytest.mark.parametrize("average", [True, False])
def test_mha_matches_torch_outputs_weights_and_every_gradient(N, L, S, E, h, selfattn, kind, pad,
                                                              bias, bf, average):
    torch = require_torch()
    rng = np.random.default_rng(N + 10 * L + 100 * S + E)
    mha = MultiheadAttention(E, h, bias=bias, batch_first=bf, rng=rng)
    for p in mha.parameters():  # non-zero biases, so that their gradients are exercised
        p.data[...] = rng.uniform(-0.6, 0.6, size=p.shape)
    twin = _twin_mha(torch, mha)
    layout = (lambda n, t: (n, t, E)) if bf else (lambda n, t: (t, n, E))
    xq = rng.standard_normal(layout(N, L))
    xk = xq if selfattn else rng.standard_normal(layout(N, S))
    xv = xq if selfattn else rng.standard_normal(layout(N, S))
    attn_mask = None
    if kind == "causal":
        attn_mask = ~np.tril(np.ones((L, S), dtype=bool))  # torch's module: True = not allowed
    elif kind == "2d":
        attn_mask = rng.random((L, S)) < 0.4
        attn_mask[:, 0] = False
    elif kind == "3d":
        attn_mask = rng.random((N * h, L, S)) < 0.4
        attn_mask[..., 0] = False
    kpm = None
    if pad:
        kpm = np.zeros((N, S), dtype=bool)
        kpm[0, -2:] = True  # padding at the end of the first sequence
    dout = rng.standard_normal(layout(N, L))

    ts = [_t(torch, x) for x in ((xq,) if selfattn else (xq, xk, xv))]
    tq, tk, tv = (ts[0], ts[0], ts[0]) if selfattn else ts
    out_t, w_t = twin(tq, tk, tv, key_padding_mask=None if kpm is None else torch.from_numpy(kpm),
                      need_weights=True,
                      attn_mask=None if attn_mask is None else torch.from_numpy(attn_mask),
                      average_attn_weights=average)
    (out_t * torch.from_numpy(dout)).sum().backward()
    out, w = mha(xq, xk, xv, kpm, True, attn_mask, average)
    assert_rel(out, out_t.detach().numpy(), "out")
    assert_rel(w, w_t.detach().numpy(), "weights")
    dq, dk, dv = mha.backward(dout)
    if selfattn:
        assert_rel(dq + dk + dv, ts[0].grad.numpy(), "dx")
    else:
        for d, t, what in zip((dq, dk, dv), ts, ("dquery", "dkey", "dvalue"), strict=True):
            assert_rel(d, t.grad.numpy(), what)
    _compare_param_grads(mha, twin)


def test_mha_need_weights_false_and_float32(rng):
    mha = MultiheadAttention(4, 2, rng=rng, dtype=np.float32)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    out, w = mha(x, x, x, need_weights=False)
    assert w is None and out.dtype == np.float32
    grads = mha.backward(np.ones_like(out))
    assert all(g.dtype == np.float32 for g in grads)
    assert all(p.grad.dtype == np.float32 for p in mha.parameters())


def test_mha_init_names_and_torch_layout(rng):
    torch = require_torch()
    mha = MultiheadAttention(8, 2, rng=rng)
    shapes = {n: p.shape for n, p in mha.named_parameters()}
    assert shapes == {"in_proj_weight": (8, 24), "in_proj_bias": (24,),
                      "out_proj.weight": (8, 8), "out_proj.bias": (8,)}
    twin = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    sd = to_torch_state_dict(mha)
    assert {k: v.shape for k, v in sd.items()} == \
        {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert not mha.in_proj_bias.data.any() and not mha.out_proj.bias.data.any()
    bound = np.sqrt(6 / 32)
    assert 0.7 * bound < np.abs(mha.in_proj_weight.data).max() <= bound
    assert np.abs(mha.out_proj.weight.data).max() <= 1 / np.sqrt(8)
    assert repr(mha).startswith("MultiheadAttention(")


def test_mha_fully_masked_query_gives_zero_attention(rng):
    """torch's module returns NaN for a query with every key masked; nnlib returns the zero
    attention (out = out_proj.bias) and zero weights, and gradients stay finite."""
    mha = MultiheadAttention(4, 2, rng=rng)
    mha.out_proj.bias.data[...] = rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 4))
    am = np.zeros((3, 3), dtype=bool)
    am[1] = True
    out, w = mha(x, x, x, attn_mask=am)
    assert_rel(out[:, 1], np.broadcast_to(mha.out_proj.bias.data, (2, 4)), "out row 1", 1e-15)
    np.testing.assert_array_equal(w[:, 1], 0.0)
    assert all(np.isfinite(g).all() for g in mha.backward(np.ones((2, 3, 4))))


def test_mha_gradcheck_inputs_and_a_weight(rng):
    mha = MultiheadAttention(4, 2, rng=rng)
    for p in mha.parameters():
        p.data[...] = rng.uniform(-0.7, 0.7, size=p.shape)
    am = rng.random((3, 5)) < 0.3
    am[:, 0] = False

    def forward(q, k, v):
        return mha(q, k, v, attn_mask=am)[0], None

    def backward(d, _):
        return mha.backward(d)

    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
        rng.standard_normal((2, 5, 4))
    check_gradients(forward, backward, [q, k, v], rng=rng, tol=1e-7,
                    names=["query", "key", "value"])
    dout = rng.standard_normal((2, 3, 4))
    mha.zero_grad()
    mha(q, k, v, attn_mask=am)
    mha.backward(dout)
    W = mha.in_proj_weight.data
    num = numerical_gradient(lambda _: float(np.sum(mha(q, k, v, attn_mask=am)[0] * dout)), W)
    assert_rel(mha.in_proj_weight.grad, num, "d in_proj_weight", 1e-7)


def test_mha_errors(rng):
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(6\) must be divisible "
                                         r"by num_heads \(4\)"):
        MultiheadAttention(6, 4, rng=rng)
    with pytest.raises(ValueError, match="MultiheadAttention: dropout is not implemented"):
        MultiheadAttention(4, 2, dropout=0.1, rng=rng)
    with pytest.raises(ValueError, match="MultiheadAttention: kdim other than embed_dim"):
        MultiheadAttention(4, 2, kdim=3, rng=rng)
    with pytest.raises(ValueError, match="MultiheadAttention: rng must be"):
        MultiheadAttention(4, 2, rng=None)
    mha = MultiheadAttention(4, 2, rng=rng)
    x = np.zeros((2, 3, 4))
    with pytest.raises(RuntimeError, match="MultiheadAttention.backward called before forward"):
        mha.backward(x)
    with pytest.raises(ValueError, match=r"MultiheadAttention.forward: query must have shape "
                                         r"\(N, T, E\) with E = embed_dim = 4"):
        mha(np.zeros((2, 3, 5)), x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention.forward: key and value must have "
                                         r"shape \(N, S, E\) with the query's N = 2"):
        mha(x, np.zeros((1, 3, 4)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(3, 3\) or "
                                         r"\(N num_heads, L, S\) = \(4, 3, 3\), got \(2, 3, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((2, 3, 3), dtype=bool))
    with pytest.raises(ValueError, match="attn_mask must be boolean"):
        mha(x, x, x, attn_mask=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, S\) = \(2, 3\)"):
        mha(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    mha(x, x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention.backward: dout has shape "
                                         r"\(2, 3, 5\) but the output had shape \(2, 3, 4\)"):
        mha.backward(np.zeros((2, 3, 5)))


# ---------------------------------------------------------------------------------------------
# TransformerBlock against torch.nn.TransformerEncoderLayer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masks", [False, True])
def test_transformer_block_matches_torch_encoder_layer(norm_first, masks, rng):
    torch = require_torch()
    N, T, E, h, F = 3, 5, 6, 2, 7
    block = TransformerBlock(E, h, dim_feedforward=F, norm_first=norm_first, rng=rng)
    for p in block.parameters():
        p.data[...] += rng.uniform(-0.3, 0.3, size=p.shape)  # LayerNorm weights not all 1
    twin = torch.nn.TransformerEncoderLayer(E, h, dim_feedforward=F, dropout=0.0,
                                            batch_first=True, norm_first=norm_first,
                                            dtype=torch.float64)
    sd = to_torch_state_dict(block)
    assert list(sd) == list(twin.state_dict())
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    x = rng.standard_normal((N, T, E))
    src_mask = ~np.tril(np.ones((T, T), dtype=bool)) if masks else None
    pad = None
    if masks:
        pad = np.zeros((N, T), dtype=bool)
        pad[1, -2:] = True
    dout = rng.standard_normal((N, T, E))
    xt = _t(torch, x)
    ref = twin(xt, src_mask=None if src_mask is None else torch.from_numpy(src_mask),
               src_key_padding_mask=None if pad is None else torch.from_numpy(pad))
    (ref * torch.from_numpy(dout)).sum().backward()
    out = block(x, src_mask, pad)
    assert_rel(out, ref.detach().numpy(), "out")
    assert_rel(block.backward(dout), xt.grad.numpy(), "dx")
    _compare_param_grads(block, twin)


def test_transformer_block_gradcheck_and_errors(rng):
    block = TransformerBlock(4, 2, dim_feedforward=5, norm_first=True, rng=rng)
    check_gradients(lambda x: (block(x), None), lambda d, _: block.backward(d),
                    [rng.standard_normal((2, 3, 4))], rng=rng, tol=1e-7)
    with pytest.raises(ValueError, match="TransformerBlock: dropout is not implemented"):
        TransformerBlock(4, 2, dropout=0.1, rng=rng)
    with pytest.raises(ValueError, match="TransformerBlock: only activation='relu'"):
        TransformerBlock(4, 2, activation="gelu", rng=rng)
    with pytest.raises(ValueError, match=r"TransformerBlock.forward: src must have shape "
                                         r"\(N, T, E\) with E = d_model = 4, got \(2, 3\)"):
        block(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="TransformerBlock.backward called before forward"):
        TransformerBlock(4, 2, rng=rng).backward(np.zeros((1, 2, 4)))


def test_exports():
    for name in ["scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward",
                 "positional_encoding", "MultiheadAttention", "TransformerBlock", "RNN", "LSTM",
                 "GRU", "Embedding", "lstm_forward", "gru_backward", "embedding_forward",
                 "temporal_softmax_cross_entropy_loss"]:
        assert hasattr(nnlib, name), name
        assert name in nnlib.__all__


def test_toy_transformer_learns_to_reverse_sequences(rng):
    """Embedding + positional encoding -> TransformerBlock -> Linear, 150 Adam steps on a fixed
    batch: reversing a sequence needs every position to look at another one (attention)."""
    N, T, V, E = 32, 5, 6, 16
    idx = rng.integers(0, V, size=(N, T))
    y = idx[:, ::-1]
    emb = Embedding(V, E, rng=rng)
    block = TransformerBlock(E, 2, dim_feedforward=32, norm_first=True, rng=rng)
    head = Linear(E, V, rng=rng)
    crit = CrossEntropyLoss()
    pe = positional_encoding(T, E)
    opt = Adam(emb.parameters() + block.parameters() + head.parameters(), lr=0.01)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        h = block(emb(idx) + pe)
        losses.append(crit(head(h.reshape(N * T, E)), y.reshape(-1)))
        dh = head.backward(crit.backward()).reshape(N, T, E)
        emb.backward(block.backward(dh))
        opt.step()
    pred = head(block(emb(idx) + pe).reshape(N * T, E)).argmax(axis=1).reshape(N, T)
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    assert (pred == y).mean() >= 0.95


# ---------------------------------------------------------------------------------------------
# Decoder attention (lesson 14's encoder-decoder)
# ---------------------------------------------------------------------------------------------


def _src_mask(rng, N, T_in):
    lengths = rng.integers(1, T_in + 1, size=N)
    return np.arange(T_in)[None, :] >= (T_in - lengths)[:, None]  # left padding


@pytest.mark.parametrize(("N", "T_out", "T_in", "H"), [(1, 1, 1, 1), (3, 3, 5, 4), (2, 4, 7, 3)])
def test_decoder_attention_matches_torch(N, T_out, T_in, H, rng):
    torch = require_torch()
    F = torch.nn.functional
    from nnlib.attention import decoder_attention_backward, decoder_attention_forward
    h, enc = rng.standard_normal((N, T_out, H)), rng.standard_normal((N, T_in, H))
    mask = _src_mask(rng, N, T_in)
    dout = rng.standard_normal((N, T_out, H))
    ht, et = _t(torch, h), _t(torch, enc)
    ref = F.scaled_dot_product_attention(ht, et, et, attn_mask=torch.from_numpy(mask[:, None]))
    (ref * torch.from_numpy(dout)).sum().backward()
    out, cache = decoder_attention_forward(h, enc, mask)
    assert_rel(out, ref.detach().numpy(), "context")
    assert not cache.weights[~np.broadcast_to(mask[:, None], cache.weights.shape)].any()
    dh, denc = decoder_attention_backward(dout, cache)
    assert_rel(dh, ht.grad.numpy(), "dh_dec")
    assert_rel(denc, et.grad.numpy(), "denc")  # the key path and the value path, summed


def test_decoder_attention_gradcheck_and_errors(rng):
    from nnlib.attention import decoder_attention_backward, decoder_attention_forward
    mask = _src_mask(rng, 3, 5)
    check_gradients(lambda h, e: decoder_attention_forward(h, e, mask), decoder_attention_backward,
                    [rng.standard_normal((3, 3, 4)), rng.standard_normal((3, 5, 4))], rng=rng,
                    tol=1e-7, h=1e-5, names=["h_dec", "enc"])
    h, enc = np.zeros((2, 3, 4)), np.zeros((2, 5, 4))
    for args, words in [
        ((h[0], enc, mask[:2]), r"decoder_attention_forward: h_dec must be .*\(3, 4\)"),
        ((h, enc[:1], mask[:1]), r"decoder_attention_forward: h_dec \(2, 3, 4\) and enc \(1, 5"),
        ((h, enc, mask), r"decoder_attention_forward: src_mask .*\(2, 5\).*\(3, 5\)"),
        ((h, enc, mask[:2].astype(int)), r"src_mask must be boolean .* dtype int"),
        ((h, enc, np.zeros((2, 5), dtype=bool)), r"src_mask \(2, 5\) has a sequence without"),
    ]:
        with pytest.raises(ValueError, match=words):
            decoder_attention_forward(*args)
    with pytest.raises(ValueError, match="decoder_attention_backward: cache"):
        decoder_attention_backward(h, (h, enc, enc, None, 1.0))
