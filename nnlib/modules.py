"""Modules with PyTorch names on top of the functional pairs: ``Parameter``, ``Module``,
``Linear``, activations, ``Sequential`` and loss criteria.

A module's ``forward`` keeps whatever its ``backward`` needs; ``backward(dout)`` returns the
gradient with respect to the module's input and *adds* the gradients of its parameters into
their ``.grad`` (they accumulate until ``zero_grad()``, as in PyTorch). Running statistics, when
a module needs them, are buffers (plain ndarray attributes), not parameters: optimizers never
see them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from nnlib._validate import as_array, check_positive_int, check_rng
from nnlib.activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    log_softmax_backward,
    log_softmax_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)
from nnlib.init import get_initializer
from nnlib.layers import linear_backward, linear_forward
from nnlib.losses import (
    bce_with_logits_loss,
    hinge_loss,
    huber_loss,
    mae_loss,
    mse_loss,
    softmax_cross_entropy_loss,
)
from nnlib.normalization import (
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from nnlib.regularization import dropout_backward, dropout_forward

__all__ = [
    "Parameter",
    "Module",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "LeakyReLU",
    "Softmax",
    "LogSoftmax",
    "Sequential",
    "Dropout",
    "BatchNorm1d",
    "LayerNorm",
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "MultiClassHingeLoss",
]




# ---------------------------------------------------------------------------------------------
# Parameter and Module
# ---------------------------------------------------------------------------------------------


class Parameter:
    """A trainable array and its gradient.  Shapes: data (any), grad (same shape and dtype).

    ``data`` is a private copy of the input (integers become float64; float32 stays float32),
    so optimizer steps never write into the caller's array. ``grad`` starts at zero and
    backward passes add into it until ``zero_grad()``.
    """

    def __init__(self, data: ArrayLike) -> None:
        self.data: np.ndarray = np.array(as_array(data, "Parameter", "data"), copy=True)
        # None stands for an all-zero gradient (as torch's grad=None after zero_grad): the
        # first backward then stores its fresh array instead of adding it to zeros.
        self._grad: np.ndarray | None = None

    @property
    def grad(self) -> np.ndarray:
        """The accumulated gradient (same shape and dtype as ``data``; zeros until a backward)."""
        if self._grad is None:
            self._grad = np.zeros_like(self.data)
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        self._grad = value

    def accumulate_grad(self, g: np.ndarray) -> None:
        """grad += g, for a fresh array ``g`` that nobody else holds (it may be kept as grad)."""
        if self._grad is None and g.shape == self.data.shape and g.dtype == self.data.dtype:
            self._grad = g
        else:
            self.grad += g

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        """grad = 0, with the shape and dtype of the current ``data`` (allocated when read)."""
        self._grad = None

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: ``forward(*inputs) -> out`` and ``backward(dout) -> dx``.

    Parameters and submodules are found through attributes: a ``Parameter``, a ``Module``, or a
    list/tuple of them. ``parameters()`` walks them recursively in the order the attributes
    were assigned, listing each Parameter once even when it is shared.
    """

    # A class-level default, so subclasses that skip super().__init__() still work.
    training: bool = True
    #: Names of the ndarray attributes that are buffers (running statistics): state_dict saves
    #: them and load_state_dict restores them, but parameters() never lists them.
    _buffer_names: ClassVar[tuple[str, ...]] = ()

    def forward(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, dout: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.forward(*inputs, **kwargs)

    # -- traversal -----------------------------------------------------------------------------

    def _named_members(self) -> Iterator[tuple[str, Parameter | Module]]:
        """Direct Parameters and submodules with their attribute names, in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their names."""
        for name, member in self._named_members():
            if isinstance(member, Module):
                yield name, member

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, child in self.named_children():
            yield child

    def modules(self) -> Iterator[Module]:
        """This module and all its submodules, depth first, each once."""
        seen: set[int] = set()

        def walk(module: Module) -> Iterator[Module]:
            if id(module) in seen:
                return
            seen.add(id(module))
            yield module
            for child in module.children():
                yield from walk(child)

        yield from walk(self)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """("0.weight", p)-style names: attribute paths joined by dots; each Parameter once."""
        seen: set[int] = set()

        def walk(module: Module, prefix: str) -> Iterator[tuple[str, Parameter]]:
            for name, member in module._named_members():
                full = f"{prefix}{name}"
                if isinstance(member, Parameter):
                    if id(member) not in seen:
                        seen.add(id(member))
                        yield full, member
                else:
                    yield from walk(member, full + ".")

        yield from walk(self, f"{prefix}." if prefix else "")

    def parameters(self) -> list[Parameter]:
        """All Parameters, in the order of ``named_parameters()``."""
        return [p for _, p in self.named_parameters()]

    def _state_slots(self) -> Iterator[tuple[str, Module, str | None, Parameter | None]]:
        """(full name, owner, buffer attribute or None, Parameter or None) for every entry of
        the state dict: each module's parameters and submodules in assignment order, then its
        buffers (as torch orders a leaf module: parameters, then buffers)."""
        seen: set[int] = set()

        def walk(module: Module, prefix: str) -> Iterator[tuple[str, Module, Any, Any]]:
            for name, member in module._named_members():
                if isinstance(member, Parameter):
                    if id(member) not in seen:
                        seen.add(id(member))
                        yield f"{prefix}{name}", module, None, member
                else:
                    yield from walk(member, f"{prefix}{name}.")
            for name in module._buffer_names:
                if getattr(module, name, None) is not None:
                    yield f"{prefix}{name}", module, name, None

        yield from walk(self, "")

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """("1.running_mean", array)-style names and the buffer arrays themselves."""
        for full, module, attr, _ in self._state_slots():
            if attr is not None:
                yield full, getattr(module, attr)

    # -- state ----------------------------------------------------------------------------------

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero."""
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Self:
        """Set ``training`` on this module and every submodule; returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(
                f"{type(self).__name__}.train: mode must be True or False, got {mode!r}"
            )
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Self:
        """Same as ``train(False)``."""
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """{name: copy of parameter data or buffer}: the parameters in the order of
        ``named_parameters()``, each module's buffers (e.g. "1.running_mean") after its
        parameters, as in torch."""
        return {
            name: (p.data.copy() if p is not None else np.array(getattr(m, attr), copy=True))
            for name, m, attr, p in self._state_slots()
        }

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike]) -> None:
        """Copy arrays into the parameters in place (optimizers keep their references) and
        into the buffers.

        The keys must be exactly those of ``state_dict()`` and each array must have the
        parameter's (or buffer's) shape; nothing is changed when any check fails.
        """
        fn = f"{type(self).__name__}.load_state_dict"
        slots = {name: (m, attr, p) for name, m, attr, p in self._state_slots()}
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict if k not in slots]
        if missing or unexpected:
            raise ValueError(f"{fn}: missing keys {missing}, unexpected keys {unexpected}")
        arrays = {}
        for name, (m, attr, p) in slots.items():
            value = as_array(state_dict[name], fn, name)
            current = p.data if p is not None else np.asarray(getattr(m, attr))
            if value.shape != current.shape:
                kind = "parameter" if p is not None else "buffer"
                raise ValueError(
                    f"{fn}: {name} has shape {value.shape} but the {kind} is {current.shape}"
                )
            arrays[name] = value
        for name, (m, attr, p) in slots.items():
            if p is not None:
                p.data[...] = arrays[name]
            else:
                dtype = np.asarray(getattr(m, attr)).dtype
                setattr(m, attr, np.array(arrays[name], dtype=dtype, copy=True))

    # -- display --------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text between the parentheses of ``repr(module)``."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)


def _require_cache(module: Module, cache: Any) -> Any:
    if cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward called before forward")
    return cache


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------


class Linear(Module):
    """out = x @ W + b.  Shapes: x (N, D) or (D,), weight (D, M), bias (M,) -> out (N, M) or (M,).

    ``weight`` is initialised by ``nnlib.init`` (``init`` names the scheme, default
    "xavier_uniform") with the injected ``rng``; ``bias`` starts at zero; both have ``dtype``
    (float32 trains faster, float64 is for gradient checks). The weight layout is the
    transpose of ``torch.nn.Linear.weight``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        init: str = "xavier_uniform",
        bias: bool = True,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.in_features = check_positive_int(in_features, "Linear", "in_features")
        self.out_features = check_positive_int(out_features, "Linear", "out_features")
        check_rng(rng, "Linear")
        initializer = get_initializer(init)
        W = initializer((self.in_features, self.out_features), rng=rng, dtype=dtype)
        self.weight = Parameter(W)
        self.bias = (
            Parameter(np.zeros(self.out_features, dtype=self.weight.dtype)) if bias else None
        )
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        b = self.bias.data if self.bias is not None else None
        out, self._cache = linear_forward(x, self.weight.data, b)
        return out

    def backward(self, dout: ArrayLike, *, input_grad: bool = True) -> np.ndarray | None:
        """dx = dout @ W.T; adds dW = x.T @ dout and db = dout summed over N into the grads.

        ``input_grad=False`` skips dx and returns None (for a first layer, whose input is data).
        """
        dx, dW, db = linear_backward(
            dout, _require_cache(self, self._cache), input_grad=input_grad
        )
        # linear_backward returns fresh arrays, so the first backward after zero_grad can keep them.
        self.weight.accumulate_grad(dW)
        if self.bias is not None and db is not None:
            self.bias.accumulate_grad(db)
        return dx

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class _Activation(Module):
    """A parameter-free module over a ``*_forward`` / ``*_backward`` pair."""

    def __init__(self) -> None:
        self._cache: Any = None

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        return self._backward(dout, _require_cache(self, self._cache))


class ReLU(_Activation):
    """out = max(x, 0), relu'(0) = 0.  Shapes: x (any) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return relu_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return relu_backward(dout, cache)


class Sigmoid(_Activation):
    """out = 1 / (1 + exp(-x)).  Shapes: x (any) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return sigmoid_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return sigmoid_backward(dout, cache)


class Tanh(_Activation):
    """out = tanh(x).  Shapes: x (any) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return tanh_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return tanh_backward(dout, cache)


class LeakyReLU(_Activation):
    """out = x if x > 0 else negative_slope * x.  Shapes: x (any) -> out (same)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return leaky_relu_forward(x, self.negative_slope)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return leaky_relu_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(_Activation):
    """out = exp(x) / sum(exp(x)) over the last axis.  Shapes: x (N, K) or (K,) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return softmax_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return softmax_backward(dout, cache)


class LogSoftmax(_Activation):
    """out = x - logsumexp(x) over the last axis.  Shapes: x (N, K) or (K,) -> out (same)."""

    def _forward(self, x: ArrayLike) -> tuple[np.ndarray, Any]:
        return log_softmax_forward(x)

    def _backward(self, dout: ArrayLike, cache: Any) -> np.ndarray:
        return log_softmax_backward(dout, cache)


class Sequential(Module):
    """out = f_L(... f_2(f_1(x))).  backward runs the modules in reverse and returns dx.

    Indexable (an int gives a module, a slice a Sequential sharing the modules), ``len()`` and
    iterable. Parameters are named "0.weight", "0.bias", "2.weight", ...
    """

    def __init__(self, *modules: Module) -> None:
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: argument {i} must be a Module, got {type(module).__name__}"
                )
        self._layers: list[Module] = list(modules)

    def _named_members(self) -> Iterator[tuple[str, Parameter | Module]]:
        for i, module in enumerate(self._layers):
            yield str(i), module

    def forward(self, x: Any) -> Any:
        for module in self._layers:
            x = module(x)
        return x

    def backward(self, dout: Any, *, input_grad: bool = True) -> Any:
        """Backward through the modules in reverse; returns dx.

        ``input_grad=False`` says the input was data whose gradient nobody needs: a first
        ``Linear`` then skips computing it (a third of its backward work) and None is returned.
        """
        last = len(self._layers) - 1
        for i, module in enumerate(reversed(self._layers)):
            if i == last and not input_grad and isinstance(module, (Linear, Sequential)):
                return module.backward(dout, input_grad=False)
            dout = module.backward(dout)
        return None if not input_grad else dout

    def append(self, module: Module) -> Self:
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self._layers.append(module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)


# ---------------------------------------------------------------------------------------------
# Regularisation and normalisation layers (lesson 08)
# ---------------------------------------------------------------------------------------------


class Dropout(Module):
    """Inverted dropout: in training out = x * [u >= p] / (1 - p) with u = rng.random(x.shape)
    drawn anew on every forward; in evaluation out = x.  Shapes: x (any) -> out (same).

    ``p`` is the probability of dropping a unit (torch.nn.Dropout's convention); ``rng`` is the
    injected generator the masks are drawn from. backward reuses the mask of the last forward.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p (the drop probability) must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = check_rng(rng, "Dropout")
        self._cache: Any = None
        self._called = False

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache = dropout_forward(x, self.p, training=self.training, rng=self.rng)
        self._called = True
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        if not self._called:
            raise RuntimeError("Dropout.backward called before forward")
        return dropout_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm1d(Module):
    """out = weight * (x - mean) / sqrt(var + eps) + bias per feature.  Shapes: x (N, D) ->
    out (N, D), with D = num_features.

    Training: the batch's statistics (N >= 2), and the buffers ``running_mean`` /
    ``running_var`` move towards them by ``momentum`` (torch's convention, unbiased variance);
    ``num_batches_tracked`` counts the updates. Evaluation: the running statistics. ``weight``
    (gamma, starts at 1) and ``bias`` (beta, starts at 0) are Parameters; the buffers are not,
    but ``state_dict()`` saves them under torch's names.
    """

    _buffer_names = ("running_mean", "running_var", "num_batches_tracked")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        *,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.num_features = check_positive_int(num_features, "BatchNorm1d", "num_features")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm1d: eps must be > 0, got {eps!r}")
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        self.running_mean: np.ndarray = np.zeros(self.num_features, dtype=dtype)
        self.running_var: np.ndarray = np.ones(self.num_features, dtype=dtype)
        self.num_batches_tracked: np.ndarray = np.array(0, dtype=np.int64)
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache, mean, var = batchnorm_forward(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            training=self.training, momentum=self.momentum, eps=self.eps,
        )
        if self.training:
            self.running_mean, self.running_var = mean, var
            self.num_batches_tracked = self.num_batches_tracked + 1
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        """dx; adds dgamma and dbeta into weight.grad and bias.grad."""
        dx, dgamma, dbeta = batchnorm_backward(dout, _require_cache(self, self._cache))
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class LayerNorm(Module):
    """out = weight * (x - mean) / sqrt(var + eps) + bias over the last axis of each example.
    Shapes: x (..., D) -> out (same), with (D,) = normalized_shape.

    The same in training and evaluation (no running statistics). ``weight`` starts at 1 and
    ``bias`` at 0. Only a normalised shape of one axis is supported (an int or a 1-tuple).
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int],
        eps: float = 1e-5,
        *,
        dtype: DTypeLike = np.float64,
    ) -> None:
        shape = normalized_shape
        if isinstance(shape, (tuple, list)) and len(shape) == 1:
            shape = shape[0]
        D = check_positive_int(shape, "LayerNorm", "normalized_shape")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be > 0, got {eps!r}")
        self.normalized_shape = (D,)
        self.eps = float(eps)
        self.weight = Parameter(np.ones(D, dtype=dtype))
        self.bias = Parameter(np.zeros(D, dtype=dtype))
        self._cache: Any = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        out, self._cache = layernorm_forward(x, self.weight.data, self.bias.data, self.eps)
        return out

    def backward(self, dout: ArrayLike) -> np.ndarray:
        """dx; adds dgamma and dbeta into weight.grad and bias.grad."""
        dx, dgamma, dbeta = layernorm_backward(dout, _require_cache(self, self._cache))
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


# ---------------------------------------------------------------------------------------------
# Loss criteria
# ---------------------------------------------------------------------------------------------


class _Loss(Module):
    """``loss = crit(y_hat, y)`` returns a float and keeps d loss / d y_hat for ``backward()``."""

    # Whether fit/evaluate report accuracy alongside this loss.
    classification: ClassVar[bool] = False

    def __init__(self) -> None:
        self._grad: np.ndarray | None = None

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def forward(self, y_hat: ArrayLike, y: ArrayLike) -> float:
        loss, self._grad = self._loss(y_hat, y)
        return float(loss)

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """d loss / d y_hat, scaled by the upstream scalar ``dout``.  Shape: that of y_hat."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss")
        return self._grad * dout


class MSELoss(_Loss):
    """loss = mean((y_hat - y)^2) over all elements.  Shapes: y_hat, y (same) -> float."""

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return mse_loss(y_hat, y)


class L1Loss(_Loss):
    """loss = mean(|y_hat - y|) over all elements.  Shapes: y_hat, y (same) -> float."""

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return mae_loss(y_hat, y)


class HuberLoss(_Loss):
    """loss = mean(0.5 r^2 if |r| <= delta else delta (|r| - delta / 2)), r = y_hat - y.
    Shapes: y_hat, y (same) -> float."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = delta

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return huber_loss(y_hat, y, self.delta)

    def extra_repr(self) -> str:
        return f"delta={self.delta}"


class BCEWithLogitsLoss(_Loss):
    """loss = mean(max(z, 0) - z y + log(1 + exp(-|z|))).  Shapes: logits z, targets y in [0, 1]
    (same) -> float."""

    classification = True

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return bce_with_logits_loss(y_hat, y)


class CrossEntropyLoss(_Loss):
    """loss = mean over N of logsumexp(z_i) - z_i[y_i].  Shapes: logits z (N, K), y (N,) int
    -> float."""

    classification = True

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return softmax_cross_entropy_loss(y_hat, y)


class MultiClassHingeLoss(_Loss):
    """loss = mean over N of sum_{j != y_i} max(0, s_j - s_{y_i} + margin).  Shapes: scores s
    (N, K), y (N,) int -> float.  (torch.nn.MultiMarginLoss also divides by K.)"""

    classification = True

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def _loss(self, y_hat: ArrayLike, y: ArrayLike) -> tuple[float, np.ndarray]:
        return hinge_loss(y_hat, y, self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
