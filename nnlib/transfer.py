"""Transfer learning: a pretrained network's body reused under a new head.

``replace_head(net, num_classes, rng=..., freeze=True)`` keeps every module of a ``Sequential``
but its last (the head, an ``nnlib.Linear``), frozen or trainable, and puts a freshly
initialised ``Linear`` with ``num_classes`` outputs on top. ``extract_features(base, X,
batch_size=...)`` runs a (frozen) body over a data set once, in evaluation mode and in chunks,
and returns one feature row per example: a head is then trained on those rows instead of
running the body in every epoch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import check_positive_int, check_rng
from nnlib.layers import Linear
from nnlib.module import Module, Sequential

__all__ = ["replace_head", "extract_features"]


def replace_head(
    net: Sequential, num_classes: int, *, rng: np.random.Generator, freeze: bool = True
) -> Sequential:
    """Sequential(body, Linear(D, num_classes)): the body is ``net`` without its last module.

    Shapes: net maps x (N, ...) to (N, K_old) and its last module is a ``Linear(D, K_old)``
    -> the result maps x (N, ...) to (N, num_classes).

    The body's modules are ``net``'s own (the same objects: its weights are shared, not
    copied); every parameter of the body gets ``requires_grad = not freeze``. The new head is
    ``Linear(D, num_classes, rng=rng)`` with its default initialisation and the old head's
    dtype; it is trainable. ``net`` itself keeps its modules (its head included).
    """
    fn = "replace_head"
    if not isinstance(net, Sequential) or len(net) < 2:
        raise ValueError(f"{fn}: net must be a Sequential of at least two modules, got {net!r}")
    head = net[len(net) - 1]
    if not isinstance(head, Linear):
        raise ValueError(
            f"{fn}: the last module of net must be a Linear (the head), got "
            f"{type(head).__name__}"
        )
    num_classes = check_positive_int(num_classes, fn, "num_classes")
    check_rng(rng, fn)
    if not isinstance(freeze, (bool, np.bool_)):
        raise ValueError(f"{fn}: freeze must be True or False, got {freeze!r}")
    body = net[: len(net) - 1]
    body.requires_grad_(not freeze)
    new_head = Linear(head.in_features, num_classes, rng=rng, dtype=head.weight.dtype)
    return Sequential(*body, new_head)


def extract_features(base: Module, X: ArrayLike, *, batch_size: int = 256) -> np.ndarray:
    """features = base(X) in evaluation mode, flattened to one row per example.

    Shapes: X (N, ...) -> features (N, D), D the number of values base gives per example.
    The forward runs on chunks of at most ``batch_size`` examples, in order; no backward.
    ``base``'s mode (training or evaluation) is restored afterwards, so batch-norm running
    statistics never move and dropout is off.
    """
    fn = "extract_features"
    if not isinstance(base, Module):
        raise ValueError(f"{fn}: base must be an nnlib Module, got {type(base).__name__}")
    X = np.asarray(X)
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"{fn}: X must hold at least one example, got shape {X.shape}")
    batch_size = check_positive_int(batch_size, fn, "batch_size")
    was_training = base.training
    base.eval()
    try:
        chunks = [
            np.asarray(base(X[start : start + batch_size])).reshape(
                min(batch_size, X.shape[0] - start), -1)
            for start in range(0, X.shape[0], batch_size)
        ]
    finally:
        base.train(was_training)
    return np.concatenate(chunks, axis=0)
