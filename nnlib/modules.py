"""All the PyTorch-named modules in one namespace (a re-export; nothing is defined here).

Each module lives beside its functional pairs, one concept per file: the base ``Parameter``,
``Module`` and ``Sequential`` in ``nnlib.module``; ``Linear`` in ``nnlib.layers``; the
activations in ``nnlib.activations``; the criteria in ``nnlib.losses``; ``Dropout`` in
``nnlib.regularization``; ``BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm`` in
``nnlib.normalization``; ``Flatten`` in ``nnlib.layers``; ``Conv1d``, ``Conv2d``, ``MaxPool2d``
and ``AvgPool2d`` in ``nnlib.conv``; ``RNN``, ``LSTM``, ``GRU`` and ``Embedding`` in ``nnlib.rnn``;
``MultiheadAttention`` and ``TransformerBlock`` in ``nnlib.attention``.
``from nnlib.modules import Linear`` keeps working for every name listed below.

A library file that defines modules imports the base from ``nnlib.module`` (not from here), so
that this file can import it back without a cycle.
"""

from __future__ import annotations

from nnlib.activations import (
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    _Activation,
)
from nnlib.attention import MultiheadAttention, TransformerBlock
from nnlib.conv import AvgPool2d, Conv1d, Conv2d, MaxPool2d
from nnlib.layers import Flatten, Linear
from nnlib.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    MultiClassHingeLoss,
    _Loss,
)
from nnlib.module import Module, Parameter, Sequential, _require_cache
from nnlib.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from nnlib.regularization import Dropout
from nnlib.rnn import GRU, LSTM, RNN, Embedding

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
    "Flatten",
    "Conv1d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "BatchNorm2d",
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "MultiheadAttention",
    "TransformerBlock",
    # private, imported by nnlib.training and older code
    "_Activation",
    "_Loss",
    "_require_cache",
]
