"""Tests for nnlib.modules: Parameter, Module traversal and state, Linear, activations,
Sequential and the loss criteria."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import require_torch

from nnlib.modules import (
    BatchNorm1d,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dropout,
    HuberLoss,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    MSELoss,
    MultiClassHingeLoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

# ---------------------------------------------------------------------------------------------
# An independent central-difference oracle (float64), so these tests do not trust gradcheck.py
# ---------------------------------------------------------------------------------------------


def numerical_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f() / d x by central differences, perturbing x in place and restoring it."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    # The 1e-8 floor (as in CS231n) keeps entries that are zero up to round-off from dominating.
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def check_module_gradients(module: Module, x: np.ndarray, rng: np.random.Generator) -> None:
    """Compare module.backward with central differences of sum(module(x) * dout), for x and
    every parameter."""
    out = module(x)
    dout = rng.standard_normal(out.shape)
    module.zero_grad()
    dx = module.backward(dout)

    def objective() -> float:
        return float(np.sum(module(x) * dout))

    err = rel_err(dx, numerical_grad(objective, x))
    assert err < 1e-6, f"dx of {type(module).__name__}: relative error {err:.2e}"
    for name, p in module.named_parameters():
        num = numerical_grad(objective, p.data)
        err = rel_err(p.grad, num)
        assert err < 1e-6, f"grad of {name}: relative error {err:.2e}"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def mlp(rng: np.random.Generator, sizes=(4, 5, 3), act=Tanh) -> Sequential:
    layers: list[Module] = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Linear(d_in, d_out, rng=rng))
        if i < len(sizes) - 2:
            layers.append(act())
    return Sequential(*layers)


# ---------------------------------------------------------------------------------------------
# Parameter
# ---------------------------------------------------------------------------------------------


def test_parameter_copies_data_and_starts_with_zero_grad():
    w = np.arange(6.0).reshape(2, 3)
    p = Parameter(w)
    assert p.data is not w and np.array_equal(p.data, w)
    p.data += 1
    assert w[0, 0] == 0.0, "Parameter must own a copy of its data"
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float64 and not p.grad.any()
    assert p.shape == (2, 3)


def test_parameter_dtypes():
    assert Parameter([1, 2, 3]).data.dtype == np.float64
    p32 = Parameter(np.ones(3, dtype=np.float32))
    assert p32.data.dtype == np.float32 and p32.grad.dtype == np.float32


def test_parameter_zero_grad_follows_reassigned_data():
    p = Parameter(np.ones(3))
    p.grad += 5
    p.data = np.ones((2, 2))
    p.zero_grad()
    assert p.grad.shape == (2, 2) and not p.grad.any()


def test_parameter_rejects_non_numeric():
    with pytest.raises(ValueError, match="Parameter"):
        Parameter(["a", "b"])


# ---------------------------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------------------------


def test_linear_shapes_and_init(rng):
    lin = Linear(4, 3, rng=rng)
    assert lin.weight.shape == (4, 3) and lin.bias.shape == (3,)
    assert not lin.bias.data.any()
    a = np.sqrt(6 / (4 + 3))
    assert np.all(np.abs(lin.weight.data) <= a) and lin.weight.data.std() > 0
    x = rng.standard_normal((7, 4))
    out = lin(x)
    assert out.shape == (7, 3)
    np.testing.assert_allclose(out, x @ lin.weight.data + lin.bias.data)
    assert lin(x[0]).shape == (3,)


def test_linear_init_is_deterministic_and_uses_the_named_scheme():
    a = Linear(6, 5, rng=np.random.default_rng(1)).weight.data
    b = Linear(6, 5, rng=np.random.default_rng(1)).weight.data
    c = Linear(6, 5, rng=np.random.default_rng(2)).weight.data
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not Linear(6, 5, rng=np.random.default_rng(1), init="zeros").weight.data.any()
    he = Linear(600, 500, rng=np.random.default_rng(1), init="he_normal").weight.data
    assert abs(he.std() - np.sqrt(2 / 600)) < 0.02 * np.sqrt(2 / 600)


def test_linear_without_bias(rng):
    lin = Linear(3, 2, rng=rng, bias=False)
    assert lin.bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(lin(x), x @ lin.weight.data)
    check_module_gradients(lin, x, rng)


def test_linear_float32_stays_float32(rng):
    lin = Linear(3, 2, rng=rng, dtype=np.float32)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    out = lin(x)
    dx = lin.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == lin.weight.grad.dtype == lin.bias.grad.dtype == np.float32


def test_linear_bad_arguments(rng):
    with pytest.raises(ValueError, match="Linear: in_features"):
        Linear(0, 3, rng=rng)
    with pytest.raises(ValueError, match="Linear: out_features"):
        Linear(3, 2.5, rng=rng)
    with pytest.raises(ValueError, match="rng"):
        Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match="get_initializer"):
        Linear(3, 2, rng=rng, init="glorot")
    with pytest.raises(ValueError, match=r"linear_forward: x has 5 features but W expects 4"):
        Linear(4, 3, rng=rng)(np.ones((2, 5)))


def test_backward_before_forward_raises(rng):
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        Linear(2, 2, rng=rng).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="ReLU"):
        ReLU().backward(np.ones(2))
    with pytest.raises(RuntimeError, match="MSELoss"):
        MSELoss().backward()


def test_linear_gradients_match_central_differences(rng):
    check_module_gradients(Linear(4, 3, rng=rng), rng.standard_normal((5, 4)), rng)


def test_linear_gradients_single_example(rng):
    check_module_gradients(Linear(4, 3, rng=rng), rng.standard_normal(4), rng)


def test_linear_backward_hand_case():
    lin = Linear(2, 2, rng=np.random.default_rng(0))
    lin.weight.data[...] = [[1.0, 2.0], [3.0, 4.0]]
    lin(np.array([[1.0, -1.0]]))
    dx = lin.backward(np.array([[1.0, 10.0]]))
    np.testing.assert_allclose(dx, [[21.0, 43.0]])
    np.testing.assert_allclose(lin.weight.grad, [[1.0, 10.0], [-1.0, -10.0]])
    np.testing.assert_allclose(lin.bias.grad, [1.0, 10.0])


# ---------------------------------------------------------------------------------------------
# Activations and Sequential
# ---------------------------------------------------------------------------------------------

ACTIVATIONS = [ReLU, Sigmoid, Tanh, lambda: LeakyReLU(0.1), Softmax, LogSoftmax]
ACT_IDS = ["ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax", "LogSoftmax"]


@pytest.mark.parametrize("make", ACTIVATIONS, ids=ACT_IDS)
def test_activation_module_gradients(make, rng):
    check_module_gradients(make(), rng.standard_normal((3, 4)), rng)


def test_activation_values(rng):
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(ReLU()(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(LeakyReLU(0.5)(x), [[-1.0, 0.0, 3.0]])
    np.testing.assert_allclose(Tanh()(x), np.tanh(x))
    np.testing.assert_allclose(Sigmoid()(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(Softmax()(x).sum(axis=1), [1.0])
    np.testing.assert_allclose(np.exp(LogSoftmax()(x)), Softmax()(x))
    assert LeakyReLU().negative_slope == 0.01


@pytest.mark.parametrize("act", [Tanh, ReLU, Sigmoid], ids=["Tanh", "ReLU", "Sigmoid"])
def test_sequential_gradients_match_central_differences(act, rng):
    net = mlp(rng, sizes=(4, 6, 5, 3), act=act)
    check_module_gradients(net, rng.standard_normal((5, 4)), rng)


def test_sequential_with_loss_gradients(rng):
    net = mlp(rng, sizes=(4, 6, 3))
    crit = CrossEntropyLoss()
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    crit(net(X), y)
    net.zero_grad()
    dx = net.backward(crit.backward())

    def objective() -> float:
        return crit(net(X), y)

    assert rel_err(dx, numerical_grad(objective, X)) < 1e-6
    for name, p in net.named_parameters():
        assert rel_err(p.grad, numerical_grad(objective, p.data)) < 1e-6, name


def test_sequential_container_protocol(rng):
    a, b, c = Linear(2, 3, rng=rng), ReLU(), Linear(3, 1, rng=rng)
    net = Sequential(a, b, c)
    assert len(net) == 3 and net[0] is a and net[-1] is c and list(net) == [a, b, c]
    head = net[:2]
    assert isinstance(head, Sequential) and list(head) == [a, b]
    x = rng.standard_normal((4, 2))
    np.testing.assert_allclose(net(x), c(b(a(x))))
    assert net.append(Sigmoid()) is net and len(net) == 4
    assert Sequential()(x) is x
    with pytest.raises(TypeError, match="Sequential: argument 1"):
        Sequential(a, lambda v: v)


def test_repr(rng):
    text = repr(Sequential(Linear(2, 3, rng=rng), LeakyReLU(0.2)))
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(1): LeakyReLU(negative_slope=0.2)" in text


# ---------------------------------------------------------------------------------------------
# Accumulation, zero_grad, train/eval, parameters, state_dict
# ---------------------------------------------------------------------------------------------


def test_gradients_accumulate_and_zero_grad_clears(rng):
    net = mlp(rng)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 3))
    net(x)
    net.backward(dout)
    first = [p.grad.copy() for p in net.parameters()]
    assert all(g.any() for g in first)
    net.backward(dout)
    for g1, p in zip(first, net.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, 2 * g1, err_msg="a second backward must double .grad")
    net.zero_grad()
    assert all(not p.grad.any() for p in net.parameters())


def test_backward_does_not_alias_dout_into_grad(rng):
    lin = Linear(3, 2, rng=rng)
    lin(rng.standard_normal(3))
    dout = np.ones(2)
    lin.backward(dout)
    lin.backward(dout)
    np.testing.assert_array_equal(dout, np.ones(2))
    np.testing.assert_array_equal(lin.bias.grad, 2 * np.ones(2))


class Block(Module):
    """A custom module: a list of submodules, a direct Parameter, and a nested Sequential."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.layers = [Linear(2, 2, rng=rng), Tanh()]
        self.scale = Parameter(np.ones(2))
        self.head = Sequential(Linear(2, 1, rng=rng))
        self.not_a_param = np.zeros(3)  # plain arrays (buffers) are not parameters

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x * self.scale.data)


def test_parameters_order_names_and_uniqueness(rng):
    net = Sequential(Linear(4, 5, rng=rng), ReLU(), Linear(5, 3, rng=rng))
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [p.shape for p in net.parameters()] == [(4, 5), (5,), (5, 3), (3,)]
    assert net.parameters()[2] is net[2].weight

    block = Block(rng)
    assert [n for n, _ in block.named_parameters()] == [
        "layers.0.weight",
        "layers.0.bias",
        "scale",
        "head.0.weight",
        "head.0.bias",
    ]
    assert [n for n, _ in block.named_parameters(prefix="enc")][0] == "enc.layers.0.weight"

    shared = Linear(3, 3, rng=rng)
    tied = Sequential(shared, Tanh(), shared)
    assert len(tied.parameters()) == 2
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(tied.modules())) == 3  # the Sequential, the Linear (once) and the Tanh


def test_train_eval_propagate_recursively(rng):
    block = Block(rng)
    net = Sequential(block, Sequential(ReLU(), Linear(1, 1, rng=rng)))
    all_modules = list(net.modules())
    assert len(all_modules) == 9
    assert all(m.training for m in all_modules)
    assert net.eval() is net
    assert not any(m.training for m in all_modules)
    assert net.train() is net
    assert all(m.training for m in all_modules)
    net.train(False)
    assert not block.layers[1].training and not block.head[0].training
    with pytest.raises(ValueError, match="mode must be True or False"):
        net.train("no")


def test_state_dict_round_trip(rng):
    net = mlp(rng)
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = rng.standard_normal((3, 4))
    before = net(x)

    edited = net.state_dict()
    edited["0.weight"] += 100.0  # a copy: editing it must not touch the model
    np.testing.assert_array_equal(net(x), before)

    other = mlp(np.random.default_rng(123))
    arrays = [p.data for p in other.parameters()]
    assert not np.allclose(other(x), before)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other(x), before)
    assert all(p.data is a for p, a in zip(other.parameters(), arrays, strict=True)), (
        "load_state_dict must copy in place so optimizers keep their references"
    )
    sd["0.bias"][:] = 7.0
    assert not np.any(other[0].bias.data == 7.0), "load_state_dict must copy the arrays"


def test_load_state_dict_rejects_bad_keys_and_shapes_atomically(rng):
    net = mlp(rng)
    good = net.state_dict()
    missing = {k: v for k, v in good.items() if k != "2.bias"}
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        net.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        net.load_state_dict({**good, "extra": np.ones(1)})
    bad = {k: v + 1 for k, v in good.items()}
    bad["2.weight"] = np.ones((3, 5))
    with pytest.raises(ValueError, match=r"2.weight has shape \(3, 5\)"):
        net.load_state_dict(bad)
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p.data, good[name], err_msg="a failed load changed " + name)


# ---------------------------------------------------------------------------------------------
# Loss criteria
# ---------------------------------------------------------------------------------------------


def _loss_case(name: str, rng: np.random.Generator):
    z = rng.standard_normal((5, 3))
    labels = rng.integers(0, 3, 5)
    cases = {
        "mse": (MSELoss(), z, rng.standard_normal((5, 3))),
        "l1": (L1Loss(), z, rng.standard_normal((5, 3))),
        "huber": (HuberLoss(delta=0.7), 2 * z, rng.standard_normal((5, 3))),
        "bce": (BCEWithLogitsLoss(), z, rng.uniform(0, 1, (5, 3))),
        "ce": (CrossEntropyLoss(), z, labels),
        "hinge": (MultiClassHingeLoss(margin=0.5), z, labels),
    }
    return cases[name]


@pytest.mark.parametrize("name", ["mse", "l1", "huber", "bce", "ce", "hinge"])
def test_loss_modules_value_and_gradient(name, rng):
    crit, y_hat, y = _loss_case(name, rng)
    loss = crit(y_hat, y)
    assert isinstance(loss, float)
    grad = crit.backward()
    assert grad.shape == y_hat.shape
    np.testing.assert_allclose(crit.backward(2.0), 2 * grad)
    num = numerical_grad(lambda: crit(y_hat, y), y_hat)
    assert rel_err(grad, num) < 1e-6, f"{name}: backward disagrees with central differences"


def test_loss_module_hand_values():
    assert MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 0.0])) == pytest.approx(5.0)
    assert L1Loss()(np.array([1.0, -3.0]), np.array([0.0, 0.0])) == pytest.approx(2.0)
    ce = CrossEntropyLoss()(np.zeros((2, 4)), np.array([0, 3]))
    assert ce == pytest.approx(np.log(4))
    hinge = MultiClassHingeLoss()(np.array([[1.0, 2.0, 0.0]]), np.array([0]))
    assert hinge == pytest.approx(2.0 + 0.0)  # max(0, 2-1+1) + max(0, 0-1+1)


def test_loss_classification_flags():
    assert CrossEntropyLoss.classification and BCEWithLogitsLoss.classification
    assert MultiClassHingeLoss.classification
    assert not (MSELoss.classification or L1Loss.classification or HuberLoss.classification)
    assert MSELoss().parameters() == []


# ---------------------------------------------------------------------------------------------
# PyTorch as an oracle
# ---------------------------------------------------------------------------------------------


def test_mlp_matches_torch(rng):
    torch = require_torch()
    net = mlp(rng, sizes=(4, 6, 5, 3), act=ReLU)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    crit = CrossEntropyLoss()
    loss = crit(net(X), y)
    net.zero_grad()
    net.backward(crit.backward())

    tnet = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.ReLU(),
        torch.nn.Linear(5, 3),
    ).double()
    with torch.no_grad():
        for i in (0, 2, 4):
            tnet[i].weight.copy_(torch.from_numpy(net[i].weight.data.T.copy()))
            tnet[i].bias.copy_(torch.from_numpy(net[i].bias.data))
    tloss = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(X)), torch.from_numpy(y))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    for i in (0, 2, 4):
        np.testing.assert_allclose(net[i].weight.grad, tnet[i].weight.grad.numpy().T, rtol=1e-10)
        np.testing.assert_allclose(net[i].bias.grad, tnet[i].bias.grad.numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Dropout, BatchNorm1d and LayerNorm (lesson 08): modes, buffers, torch parity
# ---------------------------------------------------------------------------------------------


def test_dropout_module_modes_and_backward(rng):
    drop = Dropout(0.25, rng=np.random.default_rng(3))
    x = rng.standard_normal((6, 10))
    out = drop(x)
    u = np.random.default_rng(3).random(x.shape)
    np.testing.assert_allclose(out, np.where(u >= 0.25, x / 0.75, 0.0))
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(drop.backward(dout), np.where(u >= 0.25, dout / 0.75, 0.0))
    out2 = drop(x)
    assert not np.array_equal(out, out2), "every forward draws a new mask"
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    np.testing.assert_array_equal(drop.backward(dout), dout)
    assert drop.parameters() == [] and drop.state_dict() == {}
    assert repr(drop) == "Dropout(p=0.25)"
    with pytest.raises(RuntimeError, match="before forward"):
        Dropout(0.5, rng=rng).backward(dout)
    with pytest.raises(ValueError, match="drop probability"):
        Dropout(1.5, rng=rng)
    with pytest.raises(ValueError, match="rng must be"):
        Dropout(0.5, rng=None)


def test_batchnorm_module_buffers_are_not_parameters(rng):
    bn = BatchNorm1d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    net = Sequential(Linear(4, 3, rng=rng), bn, ReLU(), Linear(3, 2, rng=rng), LayerNorm(2))
    assert list(net.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "3.weight", "3.bias", "4.weight", "4.bias",
    ]
    assert len(net.parameters()) == 8
    x = rng.standard_normal((5, 4))
    net(x)
    net(x)
    assert int(bn.num_batches_tracked) == 2
    net.eval()
    before = bn.running_mean.copy()
    net(x[:1])  # a batch of one in evaluation: fine, and the buffers do not move
    np.testing.assert_array_equal(bn.running_mean, before)
    assert int(bn.num_batches_tracked) == 2


def test_batchnorm_state_dict_round_trip_restores_buffers(rng):
    net = Sequential(Linear(4, 3, rng=rng), BatchNorm1d(3, momentum=0.5))
    for _ in range(3):
        net(rng.standard_normal((8, 4)) * 2 + 1)
    sd = net.state_dict()
    sd["1.running_mean"] += 0.0  # a copy: the model keeps its own
    other = Sequential(Linear(4, 3, rng=np.random.default_rng(9)), BatchNorm1d(3))
    other.load_state_dict(sd)
    net.eval()
    other.eval()
    x = rng.standard_normal((2, 4))
    np.testing.assert_array_equal(other(x), net(x))
    assert other[1].num_batches_tracked.dtype == np.int64 and int(other[1].num_batches_tracked) == 3
    sd["1.running_var"][:] = 123.0
    assert not np.any(other[1].running_var == 123.0), "load_state_dict must copy buffers"
    bad = dict(sd)
    bad["1.running_var"] = np.ones(4)
    with pytest.raises(ValueError, match=r"1.running_var has shape \(4,\) but the buffer is"):
        other.load_state_dict(bad)
    missing = {k: v for k, v in sd.items() if k != "1.running_mean"}
    with pytest.raises(ValueError, match=r"missing keys \['1.running_mean'\]"):
        other.load_state_dict(missing)


def test_normalisation_modules_gradients(rng):
    check_module_gradients(BatchNorm1d(4), rng.standard_normal((6, 4)) * 2 + 1, rng)
    bn = BatchNorm1d(3)
    bn(rng.standard_normal((5, 3)))
    bn.eval()
    check_module_gradients(bn, rng.standard_normal((2, 3)), rng)
    check_module_gradients(LayerNorm(5), rng.standard_normal((3, 5)), rng)
    check_module_gradients(LayerNorm((4,)), rng.standard_normal((2, 3, 4)), rng)


def test_normalisation_module_arguments():
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum must be in"):
        BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        LayerNorm(3, eps=0.0)
    with pytest.raises(ValueError, match="normalized_shape must be a positive integer"):
        LayerNorm((2, 3))
    with pytest.raises(ValueError, match="N >= 2"):
        BatchNorm1d(3)(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        LayerNorm(3).backward(np.ones((1, 3)))
    assert repr(BatchNorm1d(3)) == "BatchNorm1d(3, eps=1e-05, momentum=0.1)"
    assert repr(LayerNorm(4)) == "LayerNorm((4,), eps=1e-05)"


def test_batchnorm_and_layernorm_modules_match_torch(rng):
    torch = require_torch()
    net = Sequential(Linear(4, 5, rng=rng), BatchNorm1d(5, momentum=0.2), ReLU(),
                     Linear(5, 3, rng=rng), LayerNorm(3))
    tnet = torch.nn.Sequential(
        torch.nn.Linear(4, 5), torch.nn.BatchNorm1d(5, momentum=0.2), torch.nn.ReLU(),
        torch.nn.Linear(5, 3), torch.nn.LayerNorm(3),
    ).double()
    with torch.no_grad():
        for i in (0, 3):
            tnet[i].weight.copy_(torch.from_numpy(net[i].weight.data.T.copy()))
            tnet[i].bias.copy_(torch.from_numpy(net[i].bias.data))
        for i in (1, 4):
            net[i].weight.data[...] = rng.uniform(0.5, 1.5, net[i].weight.shape)
            net[i].bias.data[...] = rng.standard_normal(net[i].bias.shape)
            tnet[i].weight.copy_(torch.from_numpy(net[i].weight.data))
            tnet[i].bias.copy_(torch.from_numpy(net[i].bias.data))
    for N in (6, 2, 9):  # several training steps: the running statistics must agree
        X = rng.standard_normal((N, 4))
        dout = rng.standard_normal((N, 3))
        net.zero_grad()
        net(X)
        dx = net.backward(dout)
        tX = torch.from_numpy(X).requires_grad_(True)
        tnet.zero_grad()
        tnet(tX).backward(torch.from_numpy(dout))
        np.testing.assert_allclose(dx, tX.grad.numpy(), rtol=1e-8, atol=1e-10)
        for i in (1, 4):
            np.testing.assert_allclose(net[i].weight.grad, tnet[i].weight.grad.numpy(),
                                       rtol=1e-8, atol=1e-12)
    sd_t = {k: v.numpy() for k, v in tnet.state_dict().items()}
    assert list(net.state_dict()) == list(sd_t), "the same keys, in the same order, as torch"
    for k, v in net.state_dict().items():
        if "running" in k or "num_batches" in k:
            np.testing.assert_allclose(v, sd_t[k], rtol=1e-12)
    # eval mode, and a model restored from torch's own state dict
    fresh = Sequential(Linear(4, 5, rng=rng), BatchNorm1d(5), ReLU(), Linear(5, 3, rng=rng),
                       LayerNorm(3))
    fresh.load_state_dict({k: (v.T if k.endswith("weight") and v.ndim == 2 else v)
                           for k, v in sd_t.items()})
    tnet.eval()
    fresh.eval()
    X = rng.standard_normal((1, 4))
    np.testing.assert_allclose(fresh(X), tnet(torch.from_numpy(X)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)

