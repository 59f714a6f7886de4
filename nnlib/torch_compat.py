"""The one place where nnlib's parameters meet torch's ``state_dict``: the transposes live here
and nowhere else.

nnlib stores a dense weight as ``(D_in, D_out)`` so that ``out = x @ W + b``; torch stores the
transpose. Everything else already has torch's names, layout and order, so the conversion is
the identity for it:

=========================================  ======================================================
nnlib module (its torch twin)               what changes
=========================================  ======================================================
``Linear`` (``nn.Linear``)                  ``weight`` transposed: (D, M) here, (M, D) in torch
``RNN``, ``LSTM``, ``GRU`` (``nn.RNN``,     ``weight_ih_l{k}`` and ``weight_hh_l{k}`` transposed:
``nn.LSTM``, ``nn.GRU``)                    (D, G H) and (H, G H) here; the gate blocks are in
                                            torch's order already (LSTM i, f, g, o; GRU r, z,
                                            n) and the two biases ``bias_ih_l{k}``,
                                            ``bias_hh_l{k}`` are kept apart as in torch
``MultiheadAttention``                      ``in_proj_weight`` transposed: (E, 3E) here, (3E, E)
(``nn.MultiheadAttention``)                 in torch; ``out_proj`` is a ``Linear`` (above)
``Conv1d``, ``Conv2d``, ``BatchNorm1d``,    nothing: torch's layout and names (with the buffers
``BatchNorm2d``, ``LayerNorm``,             ``running_mean``, ``running_var``,
``Embedding``                               ``num_batches_tracked``)
=========================================  ======================================================

Containers (``Sequential``, ``TransformerBlock``, your own ``Module`` holding these) are walked:
a parameter is converted by the rule of the module that owns it, under the same dotted name as
in torch (``"0.weight"``, ``"self_attn.out_proj.weight"``), so that ``torch.nn.Sequential`` with
the same layers, or ``nn.TransformerEncoderLayer`` for ``TransformerBlock``, loads the result.
A parameter owned by a module with no known torch twin raises a ValueError rather than being
copied in a layout that might be wrong.

Arrays go in and out as NumPy arrays (nnlib never imports torch)::

    sd = to_torch_state_dict(net)                       # nnlib -> torch
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    load_torch_state_dict(net, {k: v.numpy() for k, v in twin.state_dict().items()})
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array
from nnlib.attention import MultiheadAttention
from nnlib.conv import Conv1d, Conv2d
from nnlib.layers import Linear
from nnlib.module import Module
from nnlib.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from nnlib.rnn import GRU, LSTM, RNN, Embedding

__all__ = [
    "to_torch_state_dict",
    "from_torch_state_dict",
    "load_torch_state_dict",
    "TORCH_TWINS",
]

_RECURRENT_WEIGHT = re.compile(r"weight_(ih|hh)_l\d+")

#: nnlib module type -> (the name of its torch twin, a predicate: is this local parameter name
#: stored transposed?).
TORCH_TWINS: dict[type, tuple[str, object]] = {
    Linear: ("torch.nn.Linear", lambda name: name == "weight"),
    RNN: ("torch.nn.RNN", lambda name: _RECURRENT_WEIGHT.fullmatch(name) is not None),
    LSTM: ("torch.nn.LSTM", lambda name: _RECURRENT_WEIGHT.fullmatch(name) is not None),
    GRU: ("torch.nn.GRU", lambda name: _RECURRENT_WEIGHT.fullmatch(name) is not None),
    Conv1d: ("torch.nn.Conv1d", lambda name: False),
    Conv2d: ("torch.nn.Conv2d", lambda name: False),
    BatchNorm1d: ("torch.nn.BatchNorm1d", lambda name: False),
    BatchNorm2d: ("torch.nn.BatchNorm2d", lambda name: False),
    LayerNorm: ("torch.nn.LayerNorm", lambda name: False),
    Embedding: ("torch.nn.Embedding", lambda name: False),
    MultiheadAttention: ("torch.nn.MultiheadAttention", lambda name: name == "in_proj_weight"),
}


def _twin_rule(owner: Module, local: str, full: str, fn: str) -> bool:
    """Whether ``local`` (a parameter or buffer name of ``owner``) is stored transposed."""
    for cls in type(owner).__mro__:
        if cls in TORCH_TWINS:
            return bool(TORCH_TWINS[cls][1](local))  # type: ignore[operator]
    raise ValueError(
        f"{fn}: {full!r} belongs to a {type(owner).__name__}, which has no known torch twin "
        f"(known: {', '.join(sorted(c.__name__ for c in TORCH_TWINS))})"
    )


def _slots(module: Module, fn: str) -> dict[str, tuple[bool, np.ndarray]]:
    """{torch name: (transposed?, nnlib array)} for every parameter and buffer of ``module``."""
    if not isinstance(module, Module):
        raise ValueError(f"{fn}: module must be an nnlib Module, got {type(module).__name__}")
    out = {}
    for full, owner, attr, p in module._state_slots():
        local = full.rsplit(".", 1)[-1]
        array = p.data if p is not None else np.asarray(getattr(owner, attr))
        transposed = p is not None and _twin_rule(owner, local, full, fn)
        if transposed and array.ndim != 2:
            raise ValueError(f"{fn}: {full!r} should be 2-D to be transposed, got {array.shape}")
        out[full] = (transposed, array)
    return out


def to_torch_state_dict(module: Module) -> dict[str, np.ndarray]:
    """{torch name: array in torch's layout}, fresh copies, ready for the torch twin's
    ``load_state_dict`` (after ``torch.from_numpy``). Dense weights are transposed (see the
    module docstring); every other parameter and buffer is copied as it is.
    """
    fn = "to_torch_state_dict"
    return {
        name: np.ascontiguousarray(array.T) if transposed else np.array(array, copy=True)
        for name, (transposed, array) in _slots(module, fn).items()
    }


def from_torch_state_dict(
    module: Module, state_dict: Mapping[str, ArrayLike]
) -> dict[str, np.ndarray]:
    """torch's state dict (NumPy arrays, e.g. ``{k: v.numpy() for k, v in twin.state_dict()
    .items()}``) -> nnlib's state dict for ``module`` (its ``load_state_dict`` takes it).

    The keys must be exactly the torch twin's; each array must have the shape torch gives it
    (the transpose of nnlib's for dense weights). A ValueError names the key and both shapes.
    """
    fn = "from_torch_state_dict"
    slots = _slots(module, fn)
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"{fn}: state_dict must be a mapping name -> array, got "
                         f"{type(state_dict).__name__}")
    missing = [k for k in slots if k not in state_dict]
    unexpected = [k for k in state_dict if k not in slots]
    if missing or unexpected:
        raise ValueError(
            f"{fn}: the state dict does not fit {type(module).__name__}: missing keys {missing}, "
            f"unexpected keys {unexpected}"
        )
    out = {}
    for name, (transposed, current) in slots.items():
        value = np.asarray(state_dict[name])
        if value.dtype.kind not in "iub":  # integer buffers (num_batches_tracked) stay integer
            value = as_array(value, fn, name)
        expected = current.T.shape if transposed else current.shape
        if value.shape != expected:
            layout = " (torch's layout: the transpose of nnlib's)" if transposed else ""
            raise ValueError(
                f"{fn}: {name} has shape {value.shape} but {type(module).__name__} expects "
                f"{expected}{layout}"
            )
        out[name] = np.array(value.T if transposed else value, dtype=current.dtype, copy=True)
    return out


def load_torch_state_dict(module: Module, state_dict: Mapping[str, ArrayLike]) -> Module:
    """Load torch's state dict (NumPy arrays) into ``module`` in place (optimizers keep their
    references); returns ``module``. Nothing changes when any check fails."""
    module.load_state_dict(from_torch_state_dict(module, state_dict))
    return module
