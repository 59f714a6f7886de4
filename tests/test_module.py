"""Tests for nnlib.module (the module base) and the layout around it: every module importable from
nnlib.modules and nnlib as before, no import cycle, and freezing (requires_grad_) honoured by
the modules, Sequential, the optimizers and fit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nnlib
import nnlib.modules
from nnlib.conv import Conv2d, MaxPool2d
from nnlib.layers import Flatten, Linear
from nnlib.module import Module, Parameter, Sequential
from nnlib.optim import SGD, Adam, AdamW, RMSprop

OLD_NAMES = [
    "Parameter", "Module", "Linear", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax",
    "LogSoftmax", "Sequential", "Dropout", "BatchNorm1d", "LayerNorm", "MSELoss", "L1Loss",
    "HuberLoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MultiClassHingeLoss",
]
HOMES = {
    "Parameter": "nnlib.module", "Module": "nnlib.module", "Sequential": "nnlib.module",
    "Linear": "nnlib.layers", "Flatten": "nnlib.layers", "ReLU": "nnlib.activations",
    "Sigmoid": "nnlib.activations", "Tanh": "nnlib.activations",
    "LeakyReLU": "nnlib.activations", "Softmax": "nnlib.activations",
    "LogSoftmax": "nnlib.activations", "Dropout": "nnlib.regularization",
    "BatchNorm1d": "nnlib.normalization", "BatchNorm2d": "nnlib.normalization",
    "LayerNorm": "nnlib.normalization", "MSELoss": "nnlib.losses", "L1Loss": "nnlib.losses",
    "HuberLoss": "nnlib.losses", "BCEWithLogitsLoss": "nnlib.losses",
    "CrossEntropyLoss": "nnlib.losses", "MultiClassHingeLoss": "nnlib.losses",
    "Conv1d": "nnlib.conv", "Conv2d": "nnlib.conv", "MaxPool2d": "nnlib.conv",
    "AvgPool2d": "nnlib.conv", "RNN": "nnlib.rnn", "LSTM": "nnlib.rnn", "GRU": "nnlib.rnn",
    "Embedding": "nnlib.rnn", "MultiheadAttention": "nnlib.attention",
    "TransformerBlock": "nnlib.attention",
}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------
# Layout: one concept, one file; the old imports unchanged
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HOMES))
def test_each_module_lives_beside_its_functional_pairs(name):
    cls = getattr(nnlib.modules, name)
    assert cls.__module__ == HOMES[name]
    assert getattr(nnlib, name) is cls
    assert name in nnlib.modules.__all__


def test_every_old_name_still_imports_from_nnlib_modules():
    for name in OLD_NAMES:
        assert getattr(nnlib.modules, name) is getattr(nnlib, name)
    from nnlib.modules import _Loss  # noqa: F401 (nnlib.training imported it from here)


@pytest.mark.parametrize("first", [
    "nnlib.modules", "nnlib.module", "nnlib.layers", "nnlib.conv", "nnlib.normalization",
    "nnlib.losses", "nnlib.optim", "nnlib.training", "nnlib.rnn", "nnlib.attention",
    "nnlib.torch_compat",
])
def test_no_import_cycle_whatever_is_imported_first(first):
    """A fresh interpreter imports one file first (as rnn.py's ``from nnlib.modules import
    Module, Parameter`` will): no partially initialised module on the way."""
    code = f"import {first}; from nnlib.modules import Module, Parameter; import nnlib"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# Freezing
# ---------------------------------------------------------------------------------------------


def test_parameter_requires_grad_flag():
    p = Parameter(np.ones(3))
    assert p.requires_grad is True
    assert p.requires_grad_(False) is p and p.requires_grad is False
    assert "requires_grad=False" in repr(p)
    p.accumulate_grad(np.ones(3))
    np.testing.assert_array_equal(p.grad, 0.0)  # a frozen parameter gets no gradient
    p.requires_grad_()
    p.accumulate_grad(np.ones(3))
    np.testing.assert_array_equal(p.grad, 1.0)
    with pytest.raises(ValueError, match="Parameter.requires_grad_: requires_grad must be True"):
        p.requires_grad_(0)
    with pytest.raises(ValueError, match="Parameter: requires_grad"):
        Parameter(np.ones(2), requires_grad="no")


def test_module_requires_grad_freezes_every_parameter(rng):
    net = Sequential(Linear(3, 4, rng=rng), nnlib.BatchNorm1d(4), Linear(4, 2, rng=rng))
    assert net[:2].requires_grad_(False) is not None
    assert [p.requires_grad for p in net.parameters()] == [False] * 4 + [True] * 2
    with pytest.raises(ValueError, match="Sequential.requires_grad_"):
        net.requires_grad_(None)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: Adam(ps, lr=0.1), lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1),
    lambda ps: RMSprop(ps, lr=0.1),
])
def test_optimizers_leave_frozen_parameters_alone(make):
    frozen, free = Parameter(np.ones(3)), Parameter(np.ones(3))
    opt = make([frozen, free])
    frozen.requires_grad_(False)
    for _ in range(2):
        frozen.grad = np.ones(3)  # even a gradient set by hand does not move it
        free.grad = np.ones(3)
        opt.step()
    np.testing.assert_array_equal(frozen.data, 1.0)
    assert not np.allclose(free.data, 1.0)


class CountingModule(Module):
    """Identity with a counter of backward calls."""

    def __init__(self) -> None:
        self.calls = 0

    def forward(self, x):
        return x

    def backward(self, dout):
        self.calls += 1
        return dout


def test_sequential_stops_before_a_frozen_first_part(rng):
    """With input_grad=False, the modules before the first trainable parameter are not run
    backward (torch builds no graph through frozen layers applied to data)."""
    counter = CountingModule()
    base = Sequential(Conv2d(1, 2, 3, padding=1, rng=rng), counter, MaxPool2d(2), Flatten())
    head = Linear(2 * 2 * 2, 3, rng=rng)
    net = Sequential(*base, head)
    base.requires_grad_(False)
    x = rng.standard_normal((5, 1, 4, 4))
    out = net(x)
    assert net.backward(np.ones_like(out), input_grad=False) is None
    assert counter.calls == 0
    assert not net[0].weight.grad.any() and head.weight.grad.any()
    # With the input's gradient requested, everything runs (the frozen conv gives dx, no dw).
    dx = net.backward(np.ones_like(out))
    assert dx.shape == x.shape and counter.calls == 1
    assert not net[0].weight.grad.any()
    # Unfrozen: the conv gets its gradient again.
    net.requires_grad_(True)
    net.backward(np.ones_like(out), input_grad=False)
    assert counter.calls == 2 and net[0].weight.grad.any()


def test_sequential_without_trainable_parameters_runs_nothing_backward(rng):
    counter = CountingModule()
    net = Sequential(counter, Linear(2, 2, rng=rng)).requires_grad_(False)
    assert net.backward(np.ones((1, 2)), input_grad=False) is None
    assert counter.calls == 0


def test_fit_trains_only_the_unfrozen_head(rng):
    X = rng.standard_normal((64, 1, 4, 4))
    y = (X.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    base = Sequential(Conv2d(1, 3, 3, padding=1, rng=rng), nnlib.ReLU(), Flatten())
    head = Linear(48, 2, rng=rng)
    net = Sequential(*base, head)
    base.requires_grad_(False)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    nnlib.fit(net, nnlib.CrossEntropyLoss(), Adam(net.parameters(), lr=0.05), X, y, epochs=2,
              batch_size=16, rng=rng, verbose=False)
    after = net.state_dict()
    np.testing.assert_array_equal(after["0.weight"], before["0.weight"])
    np.testing.assert_array_equal(after["0.bias"], before["0.bias"])
    assert not np.array_equal(after["3.weight"], before["3.weight"])
