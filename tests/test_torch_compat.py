"""Tests for nnlib.torch_compat: state dicts round-trip through real torch modules (nnlib ->
torch -> nnlib), and each twin computes the same outputs in float64 afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import require_torch

import nnlib
from nnlib.conv import Conv1d, Conv2d, MaxPool2d
from nnlib.layers import Flatten, Linear
from nnlib.module import Module, Parameter, Sequential
from nnlib.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from nnlib.rnn import GRU, LSTM, RNN, Embedding
from nnlib.torch_compat import from_torch_state_dict, load_torch_state_dict, to_torch_state_dict

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


def _tensors(torch, sd):
    return {k: torch.from_numpy(v) for k, v in sd.items()}


def _numpy(twin):
    return {k: v.detach().numpy().copy() for k, v in twin.state_dict().items()}


def _randomise_torch(torch, twin, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in twin.state_dict().items():
            if t.is_floating_point():
                pos = "running_var" in name or name.endswith("norm1.weight")
                t.copy_(torch.rand(t.shape, generator=gen, dtype=t.dtype) + 0.5 if pos
                        else torch.randn(t.shape, generator=gen, dtype=t.dtype))


def _randomise_nnlib(module, rng) -> None:
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape)


# name -> (nnlib factory, torch factory, input factory)
CASES = {
    "Linear": (lambda r: Linear(4, 3, rng=r), lambda t: t.nn.Linear(4, 3),
               lambda r: r.standard_normal((5, 4))),
    "Linear no bias": (lambda r: Linear(4, 3, rng=r, bias=False),
                       lambda t: t.nn.Linear(4, 3, bias=False),
                       lambda r: r.standard_normal((5, 4))),
    "Conv1d": (lambda r: Conv1d(2, 3, 3, stride=2, padding=1, rng=r),
               lambda t: t.nn.Conv1d(2, 3, 3, stride=2, padding=1),
               lambda r: r.standard_normal((2, 2, 9))),
    "Conv2d": (lambda r: Conv2d(2, 3, 3, padding=1, rng=r),
               lambda t: t.nn.Conv2d(2, 3, 3, padding=1),
               lambda r: r.standard_normal((2, 2, 5, 4))),
    "BatchNorm1d": (lambda r: BatchNorm1d(4), lambda t: t.nn.BatchNorm1d(4),
                    lambda r: r.standard_normal((6, 4))),
    "BatchNorm2d": (lambda r: BatchNorm2d(3), lambda t: t.nn.BatchNorm2d(3),
                    lambda r: r.standard_normal((2, 3, 4, 4))),
    "LayerNorm": (lambda r: LayerNorm(4), lambda t: t.nn.LayerNorm(4),
                  lambda r: r.standard_normal((2, 3, 4))),
    "Embedding": (lambda r: Embedding(7, 3, rng=r), lambda t: t.nn.Embedding(7, 3),
                  lambda r: r.integers(0, 7, size=(2, 5))),
    "RNN": (lambda r: RNN(3, 4, num_layers=2, rng=r),
            lambda t: t.nn.RNN(3, 4, num_layers=2, batch_first=True),
            lambda r: r.standard_normal((2, 5, 3))),
    "LSTM": (lambda r: LSTM(3, 4, num_layers=2, rng=r),
             lambda t: t.nn.LSTM(3, 4, num_layers=2, batch_first=True),
             lambda r: r.standard_normal((2, 5, 3))),
    "LSTM no bias": (lambda r: LSTM(3, 4, bias=False, rng=r),
                     lambda t: t.nn.LSTM(3, 4, bias=False, batch_first=True),
                     lambda r: r.standard_normal((2, 5, 3))),
    "GRU": (lambda r: GRU(3, 4, num_layers=2, rng=r),
            lambda t: t.nn.GRU(3, 4, num_layers=2, batch_first=True),
            lambda r: r.standard_normal((2, 5, 3))),
    "CNN": (lambda r: Sequential(Conv2d(1, 4, 3, padding=1, rng=r), BatchNorm2d(4), nnlib.ReLU(),
                                 MaxPool2d(2), Flatten(), Linear(4 * 3 * 3, 5, rng=r)),
            lambda t: t.nn.Sequential(t.nn.Conv2d(1, 4, 3, padding=1), t.nn.BatchNorm2d(4),
                                      t.nn.ReLU(), t.nn.MaxPool2d(2), t.nn.Flatten(),
                                      t.nn.Linear(4 * 3 * 3, 5)),
            lambda r: r.standard_normal((3, 1, 6, 6))),
}


def _out(y):
    return y[0] if isinstance(y, tuple) else y


def _forward_both(torch, net, twin, x):
    net.eval()
    twin.eval()
    xt = torch.from_numpy(x)
    with torch.no_grad():
        ref = _out(twin(xt)).numpy()
    return _out(net(x)), ref


@pytest.mark.parametrize("case", sorted(CASES))
def test_nnlib_to_torch_to_nnlib_round_trip_and_same_outputs(case, rng):
    torch = require_torch()
    make, make_twin, make_x = CASES[case]
    net = make(rng)
    _randomise_nnlib(net, rng)
    for m in net.modules():  # non-trivial running statistics
        if isinstance(m, BatchNorm1d):
            m.running_mean = rng.standard_normal(m.running_mean.shape)
            m.running_var = rng.uniform(0.5, 2, m.running_var.shape)
            m.num_batches_tracked = np.array(7)
    twin = make_twin(torch).double()
    sd = to_torch_state_dict(net)
    assert list(sd) == list(twin.state_dict())
    twin.load_state_dict(_tensors(torch, sd), strict=True)
    out, ref = _forward_both(torch, net, twin, make_x(rng))
    assert_rel(out, ref, f"{case}: output after nnlib -> torch")
    # and back, into a fresh nnlib module: the same state dict as the original
    fresh = make(np.random.default_rng(99))
    load_torch_state_dict(fresh, _numpy(twin))
    for (k, a), (k2, b) in zip(net.state_dict().items(), fresh.state_dict().items(), strict=True):
        assert k == k2
        np.testing.assert_array_equal(a, b, err_msg=k)
        assert a.dtype == b.dtype, k


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_weights_loaded_into_nnlib_give_torchs_outputs(case, rng):
    torch = require_torch()
    make, make_twin, make_x = CASES[case]
    twin = make_twin(torch).double()
    _randomise_torch(torch, twin, seed=3)
    net = make(rng)
    assert load_torch_state_dict(net, _numpy(twin)) is net
    out, ref = _forward_both(torch, net, twin, make_x(rng))
    assert_rel(out, ref, f"{case}: output after torch -> nnlib")
    sd = to_torch_state_dict(net)
    for k, v in twin.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy(), err_msg=k)


def test_only_dense_weights_are_transposed(rng):
    net = Sequential(Linear(4, 3, rng=rng), LSTM(3, 5, rng=rng), Conv1d(2, 3, 2, rng=rng))
    sd = to_torch_state_dict(net)
    assert sd["0.weight"].shape == (3, 4) and sd["0.bias"].shape == (3,)
    assert sd["1.weight_ih_l0"].shape == (20, 3) and sd["1.weight_hh_l0"].shape == (20, 5)
    assert sd["2.weight"].shape == (3, 2, 2)
    np.testing.assert_array_equal(sd["0.weight"], net[0].weight.data.T)
    assert sd["0.weight"].flags.c_contiguous
    sd["0.weight"][...] = 0  # copies: the module is untouched
    assert net[0].weight.data.any()


def test_float32_modules_keep_their_dtype(rng):
    net = GRU(2, 3, rng=rng, dtype=np.float32)
    sd64 = {k: v.astype(np.float64) for k, v in to_torch_state_dict(net).items()}
    nsd = from_torch_state_dict(net, sd64)
    assert all(v.dtype == np.float32 for v in nsd.values())


class Custom(Module):
    def __init__(self) -> None:
        self.scale = Parameter(np.ones(3))
        self.lin = Linear(3, 2, rng=np.random.default_rng(0))


def test_errors_name_function_keys_and_shapes(rng):
    with pytest.raises(ValueError, match=r"to_torch_state_dict: 'scale' belongs to a Custom, "
                                         r"which has no known torch twin \(known: .*Linear"):
        to_torch_state_dict(Custom())
    with pytest.raises(ValueError, match="to_torch_state_dict: module must be an nnlib Module"):
        to_torch_state_dict({"weight": np.ones(2)})
    net = Sequential(Linear(4, 3, rng=rng), nnlib.ReLU(), Linear(3, 2, rng=rng))
    sd = to_torch_state_dict(net)
    before = net.state_dict()
    bad = dict(sd)
    del bad["2.bias"]
    bad["2.b"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"from_torch_state_dict: the state dict does not fit "
                                         r"Sequential: missing keys \['2.bias'\], unexpected "
                                         r"keys \['2.b'\]"):
        load_torch_state_dict(net, bad)
    bad = dict(sd, **{"0.weight": np.zeros((4, 3))})  # nnlib's layout given where torch's is due
    with pytest.raises(ValueError, match=r"from_torch_state_dict: 0.weight has shape \(4, 3\) but "
                                         r"Sequential expects \(3, 4\) \(torch's layout"):
        load_torch_state_dict(net, bad)
    with pytest.raises(ValueError, match="from_torch_state_dict: 0.bias must be numeric"):
        load_torch_state_dict(net, dict(sd, **{"0.bias": np.array(["a", "b", "c"])}))
    for k, v in net.state_dict().items():  # nothing changed by the failed loads
        np.testing.assert_array_equal(v, before[k])
