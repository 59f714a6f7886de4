"""The module base: ``Parameter``, ``Module`` and ``Sequential``.

A module's ``forward`` keeps whatever its ``backward`` needs; ``backward(dout)`` returns the
gradient with respect to the module's input and *adds* the gradients of its parameters into
their ``.grad`` (they accumulate until ``zero_grad()``, as in PyTorch). Running statistics, when
a module needs them, are buffers (plain ndarray attributes), not parameters: optimizers never
see them.

The modules themselves live beside their functional pairs, one concept per file
(``nnlib.layers.Linear``, ``nnlib.activations.ReLU``, ``nnlib.losses.CrossEntropyLoss``,
``nnlib.conv.Conv2d``, ...); ``nnlib.modules`` re-exports them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array

__all__ = ["Parameter", "Module", "Sequential"]


def _check_flag(value: Any, fn: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{fn}: {name} must be True or False, got {value!r}")
    return bool(value)


class Parameter:
    """A trainable array and its gradient.  Shapes: data (any), grad (same shape and dtype).

    ``data`` is a private copy of the input (integers become float64; float32 stays float32),
    so optimizer steps never write into the caller's array. ``grad`` starts at zero and
    backward passes add into it until ``zero_grad()``.

    ``requires_grad`` (True unless frozen with ``requires_grad_(False)``, as in torch): a frozen
    parameter keeps a zero gradient (modules do not add into it) and optimizers leave it as it
    is, whatever their momentum or weight decay.
    """

    def __init__(self, data: ArrayLike, requires_grad: bool = True) -> None:
        self.data: np.ndarray = np.array(as_array(data, "Parameter", "data"), copy=True)
        self.requires_grad: bool = _check_flag(requires_grad, "Parameter", "requires_grad")
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
        """grad += g, for a fresh array ``g`` that nobody else holds (it may be kept as grad).

        Nothing happens when the parameter is frozen (``requires_grad`` False)."""
        if not self.requires_grad:
            return
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

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Freeze (False) or unfreeze (True) this parameter; returns self (torch's method)."""
        self.requires_grad = _check_flag(requires_grad, "Parameter.requires_grad_", "requires_grad")
        return self

    def __repr__(self) -> str:
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{frozen})"


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
    #: Whether ``backward`` takes ``input_grad=False`` (skip dx when the input is data):
    #: Sequential passes it on to a first module that does.
    accepts_input_grad: ClassVar[bool] = False

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

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Freeze (False) or unfreeze (True) every parameter of this module and its submodules;
        returns self (torch's ``module.requires_grad_``). Frozen parameters get no gradient
        and optimizers skip them; ``Sequential.backward(..., input_grad=False)`` stops before
        a frozen first part of the network."""
        flag = _check_flag(requires_grad, f"{type(self).__name__}.requires_grad_", "requires_grad")
        for p in self.parameters():
            p.requires_grad = flag
        return self

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


class Sequential(Module):
    """out = f_L(... f_2(f_1(x))).  backward runs the modules in reverse and returns dx.

    Indexable (an int gives a module, a slice a Sequential sharing the modules), ``len()`` and
    iterable. Parameters are named "0.weight", "0.bias", "2.weight", ...
    """

    accepts_input_grad = True

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
        module that accepts it (``Linear``, ``Conv2d``, ...) then skips computing it (a third
        of its backward work) and None is returned. Modules before the first one with a
        trainable (not frozen) parameter are then not run backward at all.
        """
        first = 0
        if not input_grad:
            # Nobody needs the gradient below the first module with a trainable parameter (as
            # in torch, where frozen layers on data build no graph): stop there.
            first = next(
                (i for i, m in enumerate(self._layers)
                 if any(p.requires_grad for p in m.parameters())),
                len(self._layers),
            )
        for i in range(len(self._layers) - 1, first - 1, -1):
            module = self._layers[i]
            if i == first and not input_grad and module.accepts_input_grad:
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

