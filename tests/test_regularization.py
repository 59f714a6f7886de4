"""Tests for nnlib.regularization: L1/L2 penalties (and SGD's weight decay), inverted dropout
(against torch's scaling and modes), random shifts and Gaussian noise for image batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracles import require_torch

from nnlib.gradcheck import numerical_gradient
from nnlib.optim import sgd
from nnlib.regularization import (
    add_gaussian_noise,
    dropout_backward,
    dropout_forward,
    l1_penalty,
    l2_penalty,
    random_shift,
)
from strategies import PROPERTY, bounded_arrays


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------
# Penalties
# ---------------------------------------------------------------------------------------------


def test_penalty_hand_values():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    value, dw = l2_penalty(w, 0.1)
    assert value == pytest.approx(0.05 * 14)
    np.testing.assert_allclose(dw, 0.1 * w)
    value, dw = l1_penalty(w, 0.1)
    assert value == pytest.approx(0.1 * 6)
    np.testing.assert_allclose(dw, [[0.1, -0.1], [0.0, 0.1]])  # sign(0) = 0
    assert isinstance(value, float)
    assert l2_penalty(w, 0.0)[0] == 0.0 and not np.any(l2_penalty(w, 0.0)[1])


@PROPERTY
@given(w=bounded_arrays(bound=1e3, dtype=np.float64), lam=st.floats(0, 10))
def test_penalty_gradients_match_central_differences(w, lam):
    w = w + np.where(np.abs(w) < 1e-3, 0.5, 0.0)  # stay away from the kink of |w|
    h = 1e-4
    for penalty in (l1_penalty, l2_penalty):
        value, dw = penalty(w, lam)
        num = numerical_gradient(lambda v, penalty=penalty: penalty(v, lam)[0], w.copy(), h)
        # central differences lose about eps * |f| / h to rounding
        np.testing.assert_allclose(dw, num, rtol=1e-5, atol=1e-8 + 1e-14 * abs(value) / h)


def test_l2_gradient_is_sgd_weight_decay(rng):
    w, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    lam, lr = 0.3, 0.1
    decayed, _ = sgd(w, dw, {}, lr=lr, weight_decay=lam)
    penalised, _ = sgd(w, dw + l2_penalty(w, lam)[1], {}, lr=lr)
    np.testing.assert_allclose(decayed, penalised, rtol=1e-14)


def test_penalties_match_torch(rng):
    torch = require_torch()
    w = rng.standard_normal((4, 3))
    w[0, 0] = 0.0  # torch's abs'(0) = 0, like sign(0)
    lam = 0.7
    for penalty, tfn in ((l2_penalty, lambda t: lam / 2 * (t ** 2).sum()),
                         (l1_penalty, lambda t: lam * t.abs().sum())):
        tw = torch.from_numpy(w.copy()).requires_grad_(True)
        tval = tfn(tw)
        tval.backward()
        value, dw = penalty(w, lam)
        assert value == pytest.approx(tval.item(), rel=1e-12)
        np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-12)
    # torch.optim.SGD's weight_decay adds exactly the L2 penalty's gradient
    p = torch.nn.Parameter(torch.from_numpy(w.copy()))
    opt = torch.optim.SGD([p], lr=0.5, weight_decay=lam)
    p.grad = torch.zeros_like(p)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), w - 0.5 * l2_penalty(w, lam)[1], rtol=1e-12)


def test_penalty_bad_inputs():
    with pytest.raises(ValueError, match="lam must be >= 0"):
        l2_penalty(np.ones(2), -0.1)
    with pytest.raises(ValueError, match="lam must be a number"):
        l1_penalty(np.ones(2), "big")
    with pytest.raises(ValueError, match="w must be numeric"):
        l2_penalty(np.array(["a"]), 0.1)


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------


def test_dropout_mask_convention_and_scaling():
    x = np.arange(1.0, 9.0).reshape(2, 4)
    u = np.random.default_rng(7).random(x.shape)
    out, mask = dropout_forward(x, 0.4, training=True, rng=np.random.default_rng(7))
    keep = u >= 0.4
    np.testing.assert_allclose(out, np.where(keep, x / 0.6, 0.0))
    np.testing.assert_allclose(mask, keep / 0.6)
    dout = np.arange(8.0).reshape(2, 4) - 3
    np.testing.assert_allclose(dropout_backward(dout, mask), dout * keep / 0.6)


def test_dropout_eval_is_identity_and_draws_nothing(rng):
    x = rng.standard_normal((3, 5))
    r = np.random.default_rng(1)
    state = r.bit_generator.state
    out, cache = dropout_forward(x, 0.9, training=False, rng=r)
    assert out is x and cache is None
    assert r.bit_generator.state == state, "evaluation must not consume random numbers"
    np.testing.assert_array_equal(dropout_backward(x, None), x)
    out, _ = dropout_forward(x, 0.5, training=False)  # rng is optional in evaluation
    assert out is x


def test_dropout_edges(rng):
    x = rng.standard_normal((4, 6))
    out, mask = dropout_forward(x, 0.0, training=True, rng=rng)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(mask, 1.0)
    out, mask = dropout_forward(x, 1.0, training=True, rng=rng)  # torch: all zeros
    np.testing.assert_array_equal(out, 0.0)
    assert np.all(np.isfinite(mask))
    out, _ = dropout_forward(x, 0.99, training=True, rng=np.random.default_rng(3))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] * 100, rtol=1e-12)


def test_dropout_keeps_the_expected_value():
    x = np.full((200, 500), 2.0)
    for p in (0.1, 0.5, 0.8):
        out, _ = dropout_forward(x, p, training=True, rng=np.random.default_rng(int(p * 10)))
        assert out.mean() == pytest.approx(2.0, rel=0.02)
        assert (out == 0).mean() == pytest.approx(p, abs=0.01)


def test_dropout_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out, mask = dropout_forward(x, 0.3, training=True, rng=rng)
    assert out.dtype == mask.dtype == np.float32


def test_dropout_matches_torch_scaling_and_modes(rng):
    torch = require_torch()
    x = rng.uniform(1, 2, (50, 40))
    for p in (0.0, 0.2, 0.7, 1.0):
        t = torch.nn.functional.dropout(torch.from_numpy(x), p=p, training=True).numpy()
        out, _ = dropout_forward(x, p, training=True, rng=rng)
        # Different masks, the same rule: a kept unit is x / (1 - p), a dropped one 0.
        for y in (t, out):
            kept = y != 0
            np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-12)
        if p == 1.0:
            assert not t.any() and not out.any()
        t_eval = torch.nn.functional.dropout(torch.from_numpy(x), p=p, training=False).numpy()
        np.testing.assert_array_equal(dropout_forward(x, p, training=False)[0], t_eval)
    # torch's backward multiplies by the same scaled mask
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.nn.functional.dropout(tx, p=0.3, training=True)
    ty.backward(torch.ones_like(ty))
    scaled_mask = (ty.detach().numpy() != 0) / 0.7
    np.testing.assert_allclose(tx.grad.numpy(), scaled_mask, rtol=1e-12)


def test_dropout_bad_inputs(rng):
    x = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"p \(the drop probability\) must be in \[0, 1\]"):
        dropout_forward(x, 1.5, training=True, rng=rng)
    with pytest.raises(ValueError, match="must be a probability"):
        dropout_forward(x, "half", training=True, rng=rng)
    with pytest.raises(ValueError, match="training=True needs rng"):
        dropout_forward(x, 0.5, training=True)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        dropout_forward(x, 0.5, training=True, rng=0)
    with pytest.raises(ValueError, match="training must be True or False"):
        dropout_forward(x, 0.5, training=None, rng=rng)
    with pytest.raises(ValueError, match="forward mask has shape"):
        dropout_backward(np.ones((3, 2)), np.ones((2, 2)))


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------


def _shift_loop(images, offsets):
    """An independent oracle: copy the overlapping window of each image."""
    out = np.zeros_like(images)
    H, W = images.shape[-2:]
    for n, (dy, dx) in enumerate(offsets):
        r0, r1 = max(0, dy), min(H, H + dy)
        c0, c1 = max(0, dx), min(W, W + dx)
        if r0 < r1 and c0 < c1:
            out[n, ..., r0:r1, c0:c1] = images[n, ..., r0 - dy:r1 - dy, c0 - dx:c1 - dx]
    return out


def test_random_shift_hand_case():
    img = np.arange(1.0, 10.0).reshape(1, 3, 3)
    # find a seed whose single offset pair is (1, -1): down one row, left one column
    seed = next(s for s in range(100)
                if np.array_equal(np.random.default_rng(s).integers(-1, 2, size=(1, 2)),
                                  [[1, -1]]))
    out = random_shift(img, 1, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [2, 3, 0], [5, 6, 0]])


@pytest.mark.parametrize("shape", [(7, 8, 8), (1, 5, 3), (4, 3, 6, 5)])
@pytest.mark.parametrize("max_shift", [0, 1, 2, 9])
def test_random_shift_matches_a_loop(shape, max_shift):
    images = np.random.default_rng(1).standard_normal(shape)
    out = random_shift(images, max_shift, rng=np.random.default_rng(2))
    offsets = np.random.default_rng(2).integers(-max_shift, max_shift + 1, size=(shape[0], 2))
    np.testing.assert_array_equal(out, _shift_loop(images, offsets))
    assert out.shape == images.shape and out.flags.c_contiguous
    if max_shift == 0:
        np.testing.assert_array_equal(out, images)
        assert out is not images


@PROPERTY
@given(images=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6),
                                               st.integers(1, 6)),
                         elements=st.floats(0, 1)),
       max_shift=st.integers(0, 3), seed=st.integers(0, 1000))
def test_random_shift_moves_pixels_never_invents_them(images, max_shift, seed):
    out = random_shift(images, max_shift, rng=np.random.default_rng(seed))
    assert out.sum() <= images.sum() + 1e-9  # pixels only leave the frame
    assert set(np.unique(out)) <= set(np.unique(images)) | {0.0}


def test_random_shift_channels_move_together(rng):
    images = rng.standard_normal((5, 3, 6, 6))
    out = random_shift(images, 2, rng=np.random.default_rng(4))
    single = random_shift(images[:, 0], 2, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(out[:, 0], single)
    assert images.dtype == out.dtype


def test_random_shift_bad_inputs(rng):
    with pytest.raises(ValueError, match=r"reshape them with X.reshape\(-1, 8, 8\)"):
        random_shift(np.ones((3, 64)), 1, rng=rng)
    with pytest.raises(ValueError, match="max_shift must be an integer >= 0"):
        random_shift(np.ones((3, 8, 8)), -1, rng=rng)
    with pytest.raises(ValueError, match="max_shift must be an integer >= 0"):
        random_shift(np.ones((3, 8, 8)), 1.5, rng=rng)
    with pytest.raises(ValueError, match="rng must be"):
        random_shift(np.ones((3, 8, 8)), 1, rng=None)


def test_add_gaussian_noise(rng):
    images = rng.uniform(0, 1, (4, 8, 8))
    images0 = images.copy()
    out = add_gaussian_noise(images, 0.3, rng=np.random.default_rng(5))
    expected = images + 0.3 * np.random.default_rng(5).standard_normal(images.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    np.testing.assert_array_equal(images, images0)
    np.testing.assert_array_equal(add_gaussian_noise(images, 0.0, rng=rng), images)
    f32 = add_gaussian_noise(images.astype(np.float32), 0.1, rng=rng)
    assert f32.dtype == np.float32
    big = add_gaussian_noise(np.zeros((200, 200)), 2.0, rng=rng)
    assert big.std() == pytest.approx(2.0, rel=0.02)
    with pytest.raises(ValueError, match="std must be >= 0"):
        add_gaussian_noise(images, -1.0, rng=rng)
    with pytest.raises(ValueError, match="rng must be"):
        add_gaussian_noise(images, 0.1, rng=3)
