"""Tests for nnlib.init: fans, bounds and spreads of the initialisers, rng discipline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracles import require_torch

from nnlib import init as I

RANDOM = ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal"]


# --------------------------------------------------------------------------------------------
# Fans
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((3, 5), (3, 5)),  # dense (D_in, D_out)
        ((1, 1), (1, 1)),
        ((8, 3, 5, 5), (75, 200)),  # conv (F, C, HH, WW): C*HH*WW, F*HH*WW
        ((16, 1, 3, 2), (6, 96)),
        ((4, 2, 3), (6, 12)),  # conv1d (F, C, K)
        ([6, 2], (6, 2)),
        (np.array([6, 2]), (6, 2)),
    ],
)
def test_fans(shape, fans):
    assert I.calculate_fan_in_and_fan_out(shape) == fans


def test_fans_match_torch_after_transpose():
    torch = require_torch()
    fans = torch.nn.init._calculate_fan_in_and_fan_out
    # torch Linear weights are (D_out, D_in): the transpose of ours.
    assert I.calculate_fan_in_and_fan_out((7, 3)) == fans(torch.empty(3, 7))
    # Conv weights share the (F, C, HH, WW) layout.
    assert I.calculate_fan_in_and_fan_out((8, 3, 5, 2)) == fans(torch.empty(8, 3, 5, 2))


@pytest.mark.parametrize("shape", [(5,), (), 5, (0, 3), (3, 0), (4, 0, 3, 3)])
def test_fans_reject_shapes_without_fans(shape):
    with pytest.raises(ValueError, match="^calculate_fan_in_and_fan_out: "):
        I.calculate_fan_in_and_fan_out(shape)


@pytest.mark.parametrize("shape", [(2.0, 3), ("a", 3), (True, 3), (-1, 3), None, "ab"])
def test_fans_reject_non_int_shapes(shape):
    with pytest.raises(ValueError, match="^calculate_fan_in_and_fan_out: shape"):
        I.calculate_fan_in_and_fan_out(shape)


# --------------------------------------------------------------------------------------------
# Bounds and spreads (non-square shapes, so swapping fan_in and fan_out fails)
# --------------------------------------------------------------------------------------------


def expected_scale(name, shape, gain=1.0):
    """The bound a (uniform) or standard deviation (normal) from the formulas in the spec."""
    fan_in, fan_out = I.calculate_fan_in_and_fan_out(shape)
    return {
        "xavier_uniform": gain * math.sqrt(6 / (fan_in + fan_out)),
        "xavier_normal": gain * math.sqrt(2 / (fan_in + fan_out)),
        "he_uniform": math.sqrt(6 / fan_in),
        "he_normal": math.sqrt(2 / fan_in),
    }[name]


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("shape", [(100, 400), (400, 100), (32, 8, 3, 3)])
def test_scale(name, shape):
    W = getattr(I, name)(shape, rng=np.random.default_rng(0))
    assert W.shape == shape and W.dtype == np.float64
    scale = expected_scale(name, shape)
    n = W.size
    assert abs(W.mean()) < 5 * W.std() / math.sqrt(n)
    if name.endswith("uniform"):
        # U(-a, a): within the bound, reaching close to it, variance a^2 / 3.
        assert np.abs(W).max() <= scale
        assert np.abs(W).max() >= 0.99 * scale
        assert W.std() == pytest.approx(scale / math.sqrt(3), rel=0.03)
    else:
        assert W.std() == pytest.approx(scale, rel=0.03)
        assert np.abs(W).max() > 3 * scale  # normal, not truncated


@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal"])
def test_xavier_gain_scales(name):
    fn = getattr(I, name)
    base = fn((50, 70), rng=np.random.default_rng(1))
    scaled = fn((50, 70), rng=np.random.default_rng(1), gain=2.5)
    # uniform computes low + (high - low) * u: cancellation near 0 costs a few ulps.
    np.testing.assert_allclose(scaled, 2.5 * base, rtol=1e-12, atol=1e-15)


def test_bounds_match_torch():
    torch = require_torch()
    torch.manual_seed(0)
    # torch draws for a (D_out, D_in) weight; ours for (D_in, D_out) = (30, 500).
    t = torch.empty(500, 30, dtype=torch.float64)
    torch_uniform = {
        "xavier_uniform": torch.nn.init.xavier_uniform_(t.clone()).abs().max().item(),
        "he_uniform": torch.nn.init.kaiming_uniform_(t.clone(), nonlinearity="relu").abs().max(),
    }
    for name, torch_max in torch_uniform.items():
        ours = getattr(I, name)((30, 500), rng=np.random.default_rng(2))
        assert np.abs(ours).max() == pytest.approx(float(torch_max), rel=0.01), name
    torch_normal = {
        "xavier_normal": torch.nn.init.xavier_normal_(t.clone()).std().item(),
        "he_normal": torch.nn.init.kaiming_normal_(t.clone(), nonlinearity="relu").std().item(),
    }
    for name, torch_std in torch_normal.items():
        ours = getattr(I, name)((30, 500), rng=np.random.default_rng(3))
        assert ours.std() == pytest.approx(torch_std, rel=0.05), name


# --------------------------------------------------------------------------------------------
# Randomness is injected, never global
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RANDOM)
def test_rng_determinism_and_no_global_state(name):
    fn = getattr(I, name)
    # The legacy global RNG is read only to prove the initialisers never touch it.
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    a = fn((4, 6), rng=np.random.default_rng(42))
    b = fn((4, 6), rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(42)
    c, d = fn((4, 6), rng=rng), fn((4, 6), rng=rng)
    assert not np.array_equal(c, d)  # the generator advances
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0)])
def test_rejects_non_generator_rng(name, rng):
    with pytest.raises(ValueError, match=rf"^{name}: rng must be a numpy.random.Generator"):
        getattr(I, name)((3, 4), rng=rng)


def test_rng_is_keyword_only():
    with pytest.raises(TypeError):
        I.xavier_uniform((3, 4), np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# dtype, zeros, get_initializer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RANDOM)
def test_dtype_option_draws_the_same_numbers(name):
    fn = getattr(I, name)
    W64 = fn((5, 7), rng=np.random.default_rng(4))
    W32 = fn((5, 7), rng=np.random.default_rng(4), dtype=np.float32)
    assert W32.dtype == np.float32
    np.testing.assert_array_equal(W32, W64.astype(np.float32))
    with pytest.raises(ValueError, match=rf"^{name}: dtype must be a floating-point dtype"):
        fn((5, 7), rng=np.random.default_rng(4), dtype=np.int64)


def test_zeros():
    np.testing.assert_array_equal(I.zeros((3, 2)), np.zeros((3, 2)))
    assert I.zeros((3,)).dtype == np.float64 and I.zeros(4).shape == (4,)
    assert I.zeros((2, 2), dtype=np.float32).dtype == np.float32
    # Same call signature as the random initialisers.
    np.testing.assert_array_equal(I.zeros((2, 5), rng=np.random.default_rng(0)), np.zeros((2, 5)))


@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan")])
def test_rejects_bad_gain(gain):
    with pytest.raises(ValueError, match="^xavier_uniform: gain must be > 0"):
        I.xavier_uniform((3, 4), rng=np.random.default_rng(0), gain=gain)


def test_get_initializer():
    for name in [*RANDOM, "zeros"]:
        fn = I.get_initializer(name)
        assert fn is getattr(I, name)
        assert fn((3, 4), rng=np.random.default_rng(0)).shape == (3, 4)


@pytest.mark.parametrize("name", ["glorot", "Xavier_Uniform", "", None, 3])
def test_get_initializer_lists_valid_names(name):
    with pytest.raises(ValueError, match=r"^get_initializer: unknown initializer") as info:
        I.get_initializer(name)
    for valid in [*RANDOM, "zeros"]:
        assert repr(valid) in str(info.value)
