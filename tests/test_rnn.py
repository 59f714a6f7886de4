"""Tests for nnlib.rnn: RNN, LSTM and GRU (one step and whole sequences) against torch in float64
(outputs and every gradient: inputs, initial states, weights and both biases), gradient checks
of every functional pair (embedding with repeated indices, the masked temporal loss), errors,
and the modules trained a few steps with an nnlib optimizer."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import require_torch

import nnlib.rnn as rnn
from nnlib.gradcheck import check_gradients, numerical_gradient
from nnlib.layers import Linear
from nnlib.losses import CrossEntropyLoss
from nnlib.optim import SGD, Adam
from nnlib.rnn import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    embedding_backward,
    embedding_forward,
    gru_backward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_linear_backward,
    temporal_linear_forward,
    temporal_softmax_cross_entropy_loss,
)

RTOL = 1e-10  # float64 parity, relative to the largest entry of torch's result
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
MODULES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
#: (N, T, D, H, num_layers): T = 1, a batch of one, odd sizes, a stack of layers
SIZES = [(1, 1, 1, 1, 1), (1, 1, 3, 5, 1), (3, 1, 2, 4, 1), (1, 7, 3, 5, 1), (3, 5, 4, 7, 1),
         (5, 4, 3, 2, 2), (2, 3, 5, 3, 3)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def assert_rel(mine, ref, what: str, rtol: float = RTOL) -> None:
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape}, expected {ref.shape}"
    scale = max(float(np.abs(ref).max(initial=0.0)), 1e-300)
    err = float(np.abs(mine - ref).max(initial=0.0)) / scale
    assert err <= rtol, f"{what}: max error {err:.2e} of the largest entry (rtol {rtol})"


def _t(torch, a):
    return torch.from_numpy(np.array(a, dtype=np.float64)).requires_grad_()


def torch_twin(torch, module, kind: str):
    """torch's module with the weights of ``module`` copied across (the transposes by hand here,
    independently of nnlib.torch_compat)."""
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    twin = cls(module.input_size, module.hidden_size, num_layers=module.num_layers,
               bias=module.bias, batch_first=module.batch_first, dtype=torch.float64)
    with torch.no_grad():
        for name, p in module.named_parameters():
            data = p.data.T if name.startswith("weight") else p.data
            getattr(twin, name).copy_(torch.from_numpy(np.ascontiguousarray(data)))
    return twin


# ---------------------------------------------------------------------------------------------
# Modules and sequence pairs against torch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("N,T,D,H,L", SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_module_matches_torch_outputs_and_every_gradient(kind, N, T, D, H, L, bias):
    torch = require_torch()
    rng = np.random.default_rng(N * 1000 + T * 100 + D * 10 + H + L)
    net = MODULES[kind](D, H, num_layers=L, bias=bias, rng=rng)
    # Weights larger than torch's default, so that the nonlinearities are exercised.
    for p in net.parameters():
        p.data[...] = rng.uniform(-1, 1, size=p.shape)
    twin = torch_twin(torch, net, kind)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((L, N, H))
    c0 = rng.standard_normal((L, N, H))
    dout = rng.standard_normal((N, T, H))
    dhn = rng.standard_normal((L, N, H))
    dcn = rng.standard_normal((L, N, H))

    xt, h0t, c0t = _t(torch, x), _t(torch, h0), _t(torch, c0)
    if kind == "lstm":
        out_t, (hn_t, cn_t) = twin(xt, (h0t, c0t))
        out, (hn, cn) = net(x, (h0, c0))
        assert_rel(cn, cn_t.detach().numpy(), "c_n")
        loss = (out_t * torch.from_numpy(dout)).sum() + (hn_t * torch.from_numpy(dhn)).sum() + \
            (cn_t * torch.from_numpy(dcn)).sum()
        dx, (dh0, dc0) = net.backward(dout, (dhn, dcn))
    else:
        out_t, hn_t = twin(xt, h0t)
        out, hn = net(x, h0)
        loss = (out_t * torch.from_numpy(dout)).sum() + (hn_t * torch.from_numpy(dhn)).sum()
        dx, dh0 = net.backward(dout, dhn)
    assert_rel(out, out_t.detach().numpy(), "output")
    assert_rel(hn, hn_t.detach().numpy(), "h_n")
    loss.backward()
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(dh0, h0t.grad.numpy(), "dh0")
    if kind == "lstm":
        assert_rel(dc0, c0t.grad.numpy(), "dc0")
    names = [name for name, _ in net.named_parameters()]
    assert names == [name for name, _ in twin.named_parameters()]
    for name, p in net.named_parameters():
        ref = getattr(twin, name).grad.numpy()
        assert_rel(p.grad, ref.T if name.startswith("weight") else ref, f"grad of {name}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_module_time_major_and_zero_initial_states_match_torch(kind, rng):
    """batch_first=False (torch's default layout), hx=None (zeros), no gradient of h_n given."""
    torch = require_torch()
    N, T, D, H = 3, 4, 2, 5
    net = MODULES[kind](D, H, batch_first=False, rng=rng)
    twin = torch_twin(torch, net, kind)
    x = rng.standard_normal((T, N, D))
    dout = rng.standard_normal((T, N, H))
    xt = _t(torch, x)
    out_t = twin(xt)[0]
    out = net(x)[0]
    assert_rel(out, out_t.detach().numpy(), "output")
    (out_t * torch.from_numpy(dout)).sum().backward()
    dx = net.backward(dout)[0]
    assert_rel(dx, xt.grad.numpy(), "dx")
    for name, p in net.named_parameters():
        ref = getattr(twin, name).grad.numpy()
        assert_rel(p.grad, ref.T if name.startswith("weight") else ref, f"grad of {name}")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_module_init_and_names_follow_torch(kind, rng):
    H, G = 6, GATES[kind]
    net = MODULES[kind](4, H, num_layers=2, rng=rng)
    shapes = {name: p.shape for name, p in net.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (4, G * H), "weight_hh_l0": (H, G * H), "bias_ih_l0": (G * H,),
        "bias_hh_l0": (G * H,), "weight_ih_l1": (H, G * H), "weight_hh_l1": (H, G * H),
        "bias_ih_l1": (G * H,), "bias_hh_l1": (G * H,),
    }
    bound = 1 / np.sqrt(H)
    for p in net.parameters():
        assert p.dtype == np.float64 and np.abs(p.data).max() <= bound
        assert np.abs(p.data).max() > 0.5 * bound  # uniform in +-1/sqrt(H), not tiny
    assert repr(net).startswith(f"{type(net).__name__}(4, 6, num_layers=2")
    again = MODULES[kind](4, H, num_layers=2, rng=np.random.default_rng(0))
    for p, q in zip(net.parameters(), again.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)  # the injected rng decides everything


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_sequence_pair_equals_its_steps(kind, rng):
    """The fast sequence forward (hoisted projection, halved sigmoid weights, in-place buffers)
    equals the step function applied T times."""
    N, T, D, H = 2, 5, 3, 4
    G = GATES[kind]
    x = rng.standard_normal((N, T, D))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh = rng.standard_normal((D, G * H)), rng.standard_normal((H, G * H))
    b, b2 = rng.standard_normal(G * H), rng.standard_normal(G * H)
    h, c = h0, c0
    steps = []
    for t in range(T):
        if kind == "rnn":
            h, _ = rnn_step_forward(x[:, t], h, Wx, Wh, b)
        elif kind == "lstm":
            h, c, _ = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        else:
            h, _ = gru_step_forward(x[:, t], h, Wx, Wh, b, b2)
        steps.append(h)
    if kind == "rnn":
        seq, _ = rnn_forward(x, h0, Wx, Wh, b)
    elif kind == "lstm":
        seq, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
        assert_rel(cache.c_n, c, "c_n", 1e-13)
    else:
        seq, _ = gru_forward(x, h0, Wx, Wh, b, b2)
    assert_rel(seq, np.stack(steps, axis=1), "h", 1e-13)


# ---------------------------------------------------------------------------------------------
# Step pairs against torch's cells
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("N,D,H", [(1, 1, 1), (1, 3, 5), (4, 5, 3)])
def test_step_pairs_match_torch_cells(kind, N, D, H):
    torch = require_torch()
    rng = np.random.default_rng(N + 10 * D + 100 * H)
    G = GATES[kind]
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    c = rng.standard_normal((N, H))
    Wx, Wh = rng.standard_normal((D, G * H)), rng.standard_normal((H, G * H))
    bx, bh = rng.standard_normal(G * H), rng.standard_normal(G * H)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    cell = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](
        D, H, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(Wx.T.copy()))
        cell.weight_hh.copy_(torch.from_numpy(Wh.T.copy()))
        cell.bias_ih.copy_(torch.from_numpy(bx))
        cell.bias_hh.copy_(torch.from_numpy(bh))
    xt, ht, ct = _t(torch, x), _t(torch, h), _t(torch, c)
    if kind == "lstm":
        h_t, c_t = cell(xt, (ht, ct))
        h_n, c_n, cache = lstm_step_forward(x, h, c, Wx, Wh, bx + bh)
        assert_rel(c_n, c_t.detach().numpy(), "c_next")
        ((h_t * torch.from_numpy(dh)).sum() + (c_t * torch.from_numpy(dc)).sum()).backward()
        dx, dhp, dcp, dWx, dWh, db = lstm_step_backward(dh, dc, cache)
        assert_rel(dcp, ct.grad.numpy(), "dc_prev")
        dbx = dbh = db
    else:
        h_t = cell(xt, ht)
        if kind == "rnn":
            h_n, cache = rnn_step_forward(x, h, Wx, Wh, bx + bh)
        else:
            h_n, cache = gru_step_forward(x, h, Wx, Wh, bx, bh)
        (h_t * torch.from_numpy(dh)).sum().backward()
        if kind == "rnn":
            dx, dhp, dWx, dWh, db = rnn_step_backward(dh, cache)
            dbx = dbh = db
        else:
            dx, dhp, dWx, dWh, dbx, dbh = gru_step_backward(dh, cache)
    assert_rel(h_n, h_t.detach().numpy(), "h_next")
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(dhp, ht.grad.numpy(), "dh_prev")
    assert_rel(dWx, cell.weight_ih.grad.numpy().T, "dWx")
    assert_rel(dWh, cell.weight_hh.grad.numpy().T, "dWh")
    assert_rel(dbx, cell.bias_ih.grad.numpy(), "dbx")
    assert_rel(dbh, cell.bias_hh.grad.numpy(), "dbh")


@pytest.mark.parametrize("chunk_rows", [1, 4, 6, 256])
def test_lstm_backward_with_dc_n_matches_torch(rng, monkeypatch, chunk_rows):
    """The functional lstm_backward with the gradient of the last cell state; lstm_backward
    goes back in chunks of steps (one step per chunk, chunks of 2 and 3 steps of which the last
    is shorter, one chunk for all 7 steps)."""
    torch = require_torch()
    import nnlib.rnn

    monkeypatch.setattr(nnlib.rnn, "_LSTM_CHUNK_ROWS", chunk_rows)
    N, T, D, H = 2, 7, 3, 4
    x, h0, c0 = (rng.standard_normal(s) for s in [(N, T, D), (N, H), (N, H)])
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), \
        rng.standard_normal(4 * H)
    dh, dcn = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    twin = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        twin.weight_ih_l0.copy_(torch.from_numpy(Wx.T.copy()))
        twin.weight_hh_l0.copy_(torch.from_numpy(Wh.T.copy()))
        twin.bias_ih_l0.copy_(torch.from_numpy(b))
        twin.bias_hh_l0.zero_()
    xt, h0t, c0t = _t(torch, x), _t(torch, h0[None]), _t(torch, c0[None])
    out_t, (_, cn_t) = twin(xt, (h0t, c0t))
    ((out_t * torch.from_numpy(dh)).sum() + (cn_t[0] * torch.from_numpy(dcn)).sum()).backward()
    _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward(dh, cache, dcn)
    assert_rel(dx, xt.grad.numpy(), "dx")
    assert_rel(dh0, h0t.grad.numpy()[0], "dh0")
    assert_rel(dc0, c0t.grad.numpy()[0], "dc0")
    assert_rel(dWx, twin.weight_ih_l0.grad.numpy().T, "dWx")
    assert_rel(dWh, twin.weight_hh_l0.grad.numpy().T, "dWh")
    assert_rel(db, twin.bias_ih_l0.grad.numpy(), "db")


# ---------------------------------------------------------------------------------------------
# Gradient checks of every functional pair (small cases, float64)
# ---------------------------------------------------------------------------------------------

TOL = 1e-6


def _weights(rng, D, H, G, scale=0.7):
    return (rng.standard_normal((D, G * H)) * scale, rng.standard_normal((H, G * H)) * scale,
            rng.standard_normal(G * H) * scale)


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 2, 3), (2, 3, 3, 2)])
def test_rnn_gradcheck(N, T, D, H, rng):
    Wx, Wh, b = _weights(rng, D, H, 1)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    check_gradients(rnn_forward, rnn_backward, [x, h0, Wx, Wh, b], rng=rng, tol=TOL,
                    names=["x", "h0", "Wx", "Wh", "b"])
    check_gradients(rnn_step_forward, rnn_step_backward, [x[:, 0], h0, Wx, Wh, b], rng=rng,
                    tol=TOL, names=["x", "h_prev", "Wx", "Wh", "b"])


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 2, 3), (2, 3, 3, 2)])
def test_lstm_gradcheck(N, T, D, H, rng):
    Wx, Wh, b = _weights(rng, D, H, 4)
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), \
        rng.standard_normal((N, H))

    def seq_forward(x, h0, c0, Wx, Wh, b):  # out = h and the last cell state
        h, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
        return np.concatenate([h.reshape(-1), cache.c_n.reshape(-1)]), cache

    def seq_backward(d, cache):
        n = N * T * H
        return lstm_backward(d[:n].reshape(N, T, H), cache, d[n:].reshape(N, H))

    check_gradients(seq_forward, seq_backward, [x, h0, c0, Wx, Wh, b], rng=rng, tol=TOL,
                    names=["x", "h0", "c0", "Wx", "Wh", "b"])

    def step_forward(x, h, c, Wx, Wh, b):
        h_next, c_next, cache = lstm_step_forward(x, h, c, Wx, Wh, b)
        return np.stack([h_next, c_next]), cache

    def step_backward(d, cache):
        return lstm_step_backward(d[0], d[1], cache)

    check_gradients(step_forward, step_backward, [x[:, 0], h0, c0, Wx, Wh, b], rng=rng,
                    tol=TOL, names=["x", "h_prev", "c_prev", "Wx", "Wh", "b"])


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 2, 3), (2, 3, 3, 2)])
def test_gru_gradcheck(N, T, D, H, rng):
    Wx, Wh, bx = _weights(rng, D, H, 3)
    bh = rng.standard_normal(3 * H) * 0.7
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    check_gradients(gru_forward, gru_backward, [x, h0, Wx, Wh, bx, bh], rng=rng, tol=TOL,
                    names=["x", "h0", "Wx", "Wh", "bx", "bh"])
    check_gradients(gru_step_forward, gru_step_backward, [x[:, 0], h0, Wx, Wh, bx, bh],
                    rng=rng, tol=TOL, names=["x", "h_prev", "Wx", "Wh", "bx", "bh"])


def test_embedding_gradcheck_with_repeated_indices(rng):
    idx = np.array([[0, 2, 2], [4, 0, 2]])  # 2 three times, 0 twice, 1 and 3 never
    W = rng.standard_normal((5, 3))
    out, cache = embedding_forward(idx, W)
    np.testing.assert_array_equal(out, W[idx])
    check_gradients(lambda W: embedding_forward(idx, W), embedding_backward, [W], rng=rng,
                    tol=TOL)
    dW = embedding_backward(np.ones((2, 3, 3)), cache)
    np.testing.assert_array_equal(dW[:, 0], [2, 0, 3, 0, 1])  # the repeats add up
    out1, _ = embedding_forward(np.array(3), W)  # any integer shape, even a scalar
    np.testing.assert_array_equal(out1, W[3])


def test_temporal_linear_gradcheck_and_values(rng):
    x, W, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, _ = temporal_linear_forward(x, W, b)
    for t in range(3):
        assert_rel(out[:, t], x[:, t] @ W + b, "out", 1e-13)
    check_gradients(temporal_linear_forward, temporal_linear_backward, [x, W, b], rng=rng,
                    tol=TOL, names=["x", "W", "b"])
    _, cache = temporal_linear_forward(x, W, None)
    assert temporal_linear_backward(np.ones((2, 3, 5)), cache)[2] is None


def test_temporal_loss_with_mask_gradcheck_and_definition(rng):
    N, T, V = 3, 4, 5
    scores = rng.standard_normal((N, T, V)) * 3
    y = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) < 0.6
    mask[0, 0], mask[1, 1] = True, False
    y[1, 1] = -100  # a masked position may hold anything
    loss, dscores = temporal_softmax_cross_entropy_loss(scores, y, mask)
    # the definition: the sum over the unmasked positions of -log p[y], divided by N
    p = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)
    expected = -sum(np.log(p[n, t, y[n, t]]) for n in range(N) for t in range(T) if mask[n, t])
    assert abs(loss - expected / N) <= 1e-12 * abs(expected)
    num = numerical_gradient(lambda s: temporal_softmax_cross_entropy_loss(s, y, mask)[0],
                             scores.copy())
    assert_rel(dscores, num, "dscores", 1e-7)
    np.testing.assert_array_equal(dscores[~mask], 0.0)
    full, dfull = temporal_softmax_cross_entropy_loss(scores, np.where(mask, y, 0))
    assert full > loss and np.abs(dfull[~mask]).max() > 0  # without a mask, every position counts
    # extreme logits: no overflow, no NaN
    big, dbig = temporal_softmax_cross_entropy_loss(scores * 1e4, np.where(mask, y, 0), mask)
    assert np.isfinite(big) and np.isfinite(dbig).all()


def test_temporal_loss_matches_torch_sum_over_n(rng):
    torch = require_torch()
    N, T, V = 4, 3, 6
    scores = rng.standard_normal((N, T, V))
    y = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) < 0.7
    st = _t(torch, scores)
    ref = torch.nn.functional.cross_entropy(
        st.reshape(-1, V), torch.from_numpy(np.where(mask, y, -100).reshape(-1)),
        ignore_index=-100, reduction="sum") / N
    ref.backward()
    loss, d = temporal_softmax_cross_entropy_loss(scores, y, mask)
    assert abs(loss - ref.item()) <= 1e-12 * abs(ref.item())
    assert_rel(d, st.grad.numpy(), "dscores")


# ---------------------------------------------------------------------------------------------
# Dtypes and inputs left alone
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_float32_stays_float32_and_inputs_are_not_modified(kind, rng):
    net = MODULES[kind](3, 4, rng=rng, dtype=np.float32)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    x_copy = x.copy()
    out = net(x)[0]
    assert out.dtype == np.float32
    dout = np.ones_like(out)
    dx = net.backward(dout)[0]
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, 1.0)
    for p in net.parameters():
        assert p.grad.dtype == np.float32


def test_module_gradients_accumulate_until_zero_grad(rng):
    net = GRU(2, 3, rng=rng)
    x = rng.standard_normal((2, 4, 2))
    out, _ = net(x)
    net.backward(np.ones_like(out))
    first = [p.grad.copy() for p in net.parameters()]
    net(x)
    net.backward(np.ones_like(out))
    for g, p in zip(first, net.parameters(), strict=True):
        assert_rel(p.grad, 2 * g, "accumulated grad", 1e-14)
    net.zero_grad()
    assert all(not p.grad.any() for p in net.parameters())


# ---------------------------------------------------------------------------------------------
# Errors: a ValueError naming the function and the shapes
# ---------------------------------------------------------------------------------------------


def test_pair_errors_name_function_and_shapes(rng):
    x, h = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5))
    Wx, Wh, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 5)), rng.standard_normal(5)
    with pytest.raises(ValueError, match=r"rnn_forward: x must have shape \(N, T, D\).*\(2, 4\)"):
        rnn_forward(x[:, 0], h, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn_forward: Wx must have shape \(D, H\) = \(4, 5\)"):
        rnn_forward(x, h, Wx[:3], Wh, b)
    with pytest.raises(ValueError, match=r"rnn_forward: h0 must have shape \(N, H\) = \(2, 5\)"):
        rnn_forward(x, h[:1], Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn_step_forward: b must have shape \(H,\) = \(5,\)"):
        rnn_step_forward(x[:, 0], h, Wx, Wh, b[:4])
    with pytest.raises(ValueError, match=r"lstm_forward: Wh must have shape \(H, 4H\)"):
        lstm_forward(x, h, h, np.zeros((4, 20)), np.zeros((5, 15)), np.zeros(20))
    with pytest.raises(ValueError, match=r"lstm_step_forward: c_prev must have shape"):
        lstm_step_forward(x[:, 0], h, h[:, :2], np.zeros((4, 20)), np.zeros((5, 20)),
                          np.zeros(20))
    with pytest.raises(ValueError, match=r"gru_forward: bh must have shape \(3H,\) = \(15,\)"):
        gru_forward(x, h, np.zeros((4, 15)), np.zeros((5, 15)), np.zeros(15), np.zeros(5))
    with pytest.raises(ValueError, match=r"gru_step_forward: Wx must have shape \(D, 3H\)"):
        gru_step_forward(x[:, 0], h, np.zeros((3, 15)), np.zeros((5, 15)), np.zeros(15),
                         np.zeros(15))
    with pytest.raises(ValueError, match="x has an empty axis"):
        rnn_forward(np.zeros((2, 0, 4)), None, Wx, Wh, b)
    _, cache = rnn_forward(x, h, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn_backward: dh has shape \(2, 3, 4\) but the "
                                         r"forward output had shape \(2, 3, 5\)"):
        rnn_backward(np.zeros((2, 3, 4)), cache)
    with pytest.raises(ValueError, match="lstm_backward: cache must be the cache lstm_forward"):
        lstm_backward(np.zeros((2, 3, 5)), cache)
    _, lcache = lstm_forward(x, None, None, np.zeros((4, 20)), np.zeros((5, 20)), np.zeros(20))
    with pytest.raises(ValueError, match=r"lstm_backward: dc_n has shape \(5,\)"):
        lstm_backward(np.zeros((2, 3, 5)), lcache, np.zeros(5))
    with pytest.raises(ValueError, match="gru_step_backward: dh_next has shape"):
        _, gcache = gru_step_forward(x[:, 0], h, np.zeros((4, 15)), np.zeros((5, 15)),
                                     np.zeros(15), np.zeros(15))
        gru_step_backward(np.zeros((2, 4)), gcache)


def test_embedding_and_loss_errors(rng):
    W = rng.standard_normal((5, 3))
    with pytest.raises(ValueError, match=r"embedding_forward: idx must be in \[0, V\) = "
                                         r"\[0, 5\) for W \(5, 3\), got values from 0 to 5"):
        embedding_forward(np.array([[0, 5]]), W)
    with pytest.raises(ValueError, match="embedding_forward: idx must be in"):
        embedding_forward(np.array([-1]), W)
    with pytest.raises(ValueError, match="embedding_forward: idx must hold integer indices"):
        embedding_forward(np.array([0.0, 1.0]), W)
    with pytest.raises(ValueError, match=r"embedding_forward: W must have shape \(V, D\)"):
        embedding_forward(np.array([0]), W[0])
    _, cache = embedding_forward(np.array([[0, 1]]), W)
    with pytest.raises(ValueError, match=r"embedding_backward: dout has shape \(1, 2, 4\)"):
        embedding_backward(np.zeros((1, 2, 4)), cache)
    s, y = rng.standard_normal((2, 3, 4)), np.zeros((2, 3), dtype=int)
    fn = "temporal_softmax_cross_entropy_loss"
    with pytest.raises(ValueError, match=rf"{fn}: y must have shape \(N, T\) = \(2, 3\)"):
        temporal_softmax_cross_entropy_loss(s, y[:, :2])
    with pytest.raises(ValueError, match=rf"{fn}: y must be in \[0, V\) = \[0, 4\)"):
        temporal_softmax_cross_entropy_loss(s, y + 4)
    with pytest.raises(ValueError, match=rf"{fn}: mask must be boolean"):
        temporal_softmax_cross_entropy_loss(s, y, np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{fn}: mask must have shape \(N, T\)"):
        temporal_softmax_cross_entropy_loss(s, y, np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match=rf"{fn}: scores must have shape \(N, T, V\)"):
        temporal_softmax_cross_entropy_loss(s[0], y)
    with pytest.raises(ValueError, match=r"temporal_linear_forward: x has 4 features but W "
                                         r"expects 3 \(W is \(3, 2\)\)"):
        temporal_linear_forward(s, np.zeros((3, 2)), None)


def test_module_errors(rng):
    with pytest.raises(ValueError, match="LSTM: hidden_size must be a positive integer"):
        LSTM(3, 0, rng=rng)
    with pytest.raises(ValueError, match="GRU: bidirectional=True is not implemented"):
        GRU(3, 4, bidirectional=True, rng=rng)
    with pytest.raises(ValueError, match="RNN: dropout between layers is not implemented"):
        RNN(3, 4, num_layers=2, dropout=0.5, rng=rng)
    with pytest.raises(ValueError, match="RNN: only nonlinearity='tanh'"):
        RNN(3, 4, nonlinearity="relu", rng=rng)
    with pytest.raises(ValueError, match="LSTM: proj_size is not implemented"):
        LSTM(3, 4, proj_size=2, rng=rng)
    with pytest.raises(ValueError, match="GRU: rng must be a numpy.random.Generator"):
        GRU(3, 4, rng=0)
    net = LSTM(3, 4, num_layers=2, rng=rng)
    with pytest.raises(ValueError, match=r"LSTM.forward: x must have shape \(N, T, D\) with "
                                         r"D = input_size = 3 .*got shape \(2, 5, 4\)"):
        net(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"LSTM.forward: h0 must have shape \(num_layers, N, H\) "
                                         r"= \(2, 2, 4\), got \(1, 2, 4\)"):
        net(np.zeros((2, 5, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="LSTM.forward: hx must be a pair"):
        net(np.zeros((2, 5, 3)), np.zeros((2, 2, 4)))
    with pytest.raises(RuntimeError, match="LSTM.backward called before forward"):
        net.backward(np.zeros((2, 5, 4)))
    net(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"LSTM.backward: doutput has shape \(2, 4, 4\) but the "
                                         r"output had shape \(2, 5, 4\)"):
        net.backward(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"LSTM.backward: dc_n must have shape"):
        net.backward(np.zeros((2, 5, 4)), (None, np.zeros((2, 4))))
    with pytest.raises(ValueError, match="Embedding: padding_idx must be an index"):
        Embedding(5, 3, padding_idx=5, rng=rng)


# ---------------------------------------------------------------------------------------------
# Embedding module, and training the modules with nnlib optimizers
# ---------------------------------------------------------------------------------------------


def test_embedding_module_matches_torch_with_padding_idx(rng):
    torch = require_torch()
    emb = Embedding(6, 3, padding_idx=-1, rng=rng)
    assert emb.padding_idx == 5 and not emb.weight.data[5].any()
    idx = np.array([[1, 5, 1], [0, 5, 2]])
    twin = torch.nn.Embedding(6, 3, padding_idx=5, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(emb.weight.data))
    dout = rng.standard_normal((2, 3, 3))
    out_t = twin(torch.from_numpy(idx))
    (out_t * torch.from_numpy(dout)).sum().backward()
    assert_rel(emb(idx), out_t.detach().numpy(), "out")
    assert emb.backward(dout) is None
    assert_rel(emb.weight.grad, twin.weight.grad.numpy(), "dW")
    assert repr(emb) == "Embedding(6, 3, padding_idx=5)"


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_sequence_classifier_trains_with_adam(kind, rng):
    """Embedding -> recurrent module -> Linear on the last state: 60 Adam steps fit a small
    task that needs memory (the class is the first token of the sequence)."""
    N, T, V, E, H = 24, 6, 4, 5, 12
    idx = rng.integers(0, V, size=(N, T))
    y = idx[:, 0]
    emb = Embedding(V, E, rng=rng)
    cell = MODULES[kind](E, H, rng=rng)
    head = Linear(H, V, rng=rng)
    crit = CrossEntropyLoss()
    params = emb.parameters() + cell.parameters() + head.parameters()
    opt = Adam(params, lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        out = cell(emb(idx))[0]
        losses.append(crit(head(out[:, -1]), y))
        dlast = head.backward(crit.backward())
        dout = np.zeros_like(out)
        dout[:, -1] = dlast
        emb.backward(cell.backward(dout)[0])
        opt.step()
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    scores = head(cell(emb(idx))[0][:, -1])
    assert (scores.argmax(axis=1) == y).mean() == 1.0


def test_stacked_lstm_with_temporal_loss_decreases_with_sgd(rng):
    """A two-layer LSTM language model step by step: temporal linear + masked temporal loss."""
    N, T, V, H = 8, 7, 5, 10
    idx = (rng.integers(0, V, size=(N, 1)) + 2 * np.arange(T + 1)) % V  # next = prev + 2 mod V
    mask = np.ones((N, T), dtype=bool)
    mask[:3, 5:] = False  # padded ends
    emb = Embedding(V, 6, rng=rng)
    net = LSTM(6, H, num_layers=2, rng=rng)
    W = Linear(H, V, rng=rng)
    opt = SGD(emb.parameters() + net.parameters() + W.parameters(), lr=0.5, momentum=0.9)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        h = net(emb(idx[:, :-1]))[0]
        scores, cache = temporal_linear_forward(h, W.weight.data, W.bias.data)
        loss, dscores = temporal_softmax_cross_entropy_loss(scores, idx[:, 1:], mask)
        losses.append(loss)
        dh, dW, db = temporal_linear_backward(dscores, cache)
        W.weight.accumulate_grad(dW)
        W.bias.accumulate_grad(db)
        emb.backward(net.backward(dh)[0])
        opt.step()
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_module_docstrings_point_to_torch_compat():
    assert "nnlib.torch_compat" in rnn.__doc__
