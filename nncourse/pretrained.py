"""The pretrained network that lesson 11 fine-tunes: where its weights are and their SHA-256.

``scripts/pretrain_lesson11.py`` makes ``nncourse/data/digits_0to4_cnn.npz`` from the 8x8 digits
0-4 (reproducible from its seed; rerun it and the file is byte for byte the same, see
tests/test_pretrained.py). The notebook reads the bytes, checks them against
:data:`WEIGHTS_SHA256`, loads them with ``np.load(..., allow_pickle=False)`` and hands the arrays
to ``Module.load_state_dict``. :func:`digits_cnn` builds the architecture the weights fit.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

import nnlib

__all__ = ["WEIGHTS_PATH", "WEIGHTS_SHA256", "SOURCE_CLASSES", "digits_cnn", "read_weights"]

#: The weights file (float32 arrays in an uncompressed .npz with fixed timestamps).
WEIGHTS_PATH: Path = Path(__file__).resolve().parent / "data" / "digits_0to4_cnn.npz"
#: Its SHA-256, pinned: a changed file fails to load.
WEIGHTS_SHA256 = "c153f7ead59287a46cc4d052ebae21fdec8a9d08a2000690590a4d269b9a9487"
#: The digits the source task classifies (the head's outputs 0..4).
SOURCE_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4)


def digits_cnn(
    num_classes: int, *, rng: np.random.Generator, dtype: DTypeLike = np.float32
) -> nnlib.Sequential:
    """(N, 1, 8, 8) -> (N, num_classes): two blocks of 3x3 convolution (padding 1), batch norm,
    ReLU and 2x2 max pooling (16 then 32 channels; 8x8 -> 4x4 -> 2x2), then Flatten and a
    Linear head on the 32 * 2 * 2 = 128 features."""
    return nnlib.Sequential(
        nnlib.Conv2d(1, 16, 3, padding=1, rng=rng, dtype=dtype),
        nnlib.BatchNorm2d(16, dtype=dtype),
        nnlib.ReLU(),
        nnlib.MaxPool2d(2),
        nnlib.Conv2d(16, 32, 3, padding=1, rng=rng, dtype=dtype),
        nnlib.BatchNorm2d(32, dtype=dtype),
        nnlib.ReLU(),
        nnlib.MaxPool2d(2),
        nnlib.Flatten(),
        nnlib.Linear(128, num_classes, rng=rng, dtype=dtype),
    )


def read_weights() -> dict[str, np.ndarray]:
    """The pretrained state dict, read from :data:`WEIGHTS_PATH` after checking that its bytes
    have the SHA-256 :data:`WEIGHTS_SHA256` (ValueError if not); nothing is unpickled."""
    return _read_weights(WEIGHTS_PATH, WEIGHTS_SHA256)


def _read_weights(path: Path, sha256: str) -> dict[str, np.ndarray]:
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"read_weights: {Path(path).name} has SHA-256 {digest}, expected {sha256}: the file "
            "is not the one scripts/pretrain_lesson11.py makes"
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
