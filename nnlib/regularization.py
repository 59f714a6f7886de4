"""Regularisation: weight penalties, inverted dropout (and its module ``Dropout``), and data
augmentation for small images.

Conventions (the same as PyTorch wherever PyTorch has the concept):

- ``l2_penalty`` is ``lam / 2 * sum(w**2)`` with gradient ``lam * w``: exactly what
  ``torch.optim.SGD(..., weight_decay=lam)`` (and ``nnlib.optim.SGD``) adds to the gradient.
  ``l1_penalty`` is ``lam * sum(|w|)`` with gradient ``lam * sign(w)`` (0 at w = 0). Both return
  ``(value, grad)``: add the value to the loss and the gradient to ``w``'s gradient.
- Dropout is *inverted* dropout with ``p`` the probability of **dropping** a unit (as in
  ``torch.nn.Dropout``): in training the kept units are scaled by ``1 / (1 - p)`` so that the
  expected output equals the input, and evaluation is the identity. The mask is drawn with one
  call ``rng.random(x.shape)``; a unit is dropped where that number is below ``p``.
- Augmentation works on image batches ``(N, H, W)`` or ``(N, C, H, W)`` (NCHW). ``random_shift``
  moves each image by its own integer offsets ``(dy, dx)`` (down and right are positive) and
  fills the uncovered pixels with 0; ``add_gaussian_noise`` adds ``std * N(0, 1)`` noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from nnlib._validate import as_array, check_positive, check_rng
from nnlib.module import Module

__all__ = [
    "l1_penalty",
    "l2_penalty",
    "dropout_forward",
    "dropout_backward",
    "random_shift",
    "add_gaussian_noise",
    "Dropout",
]


def _check_lam(lam: Any, fn: str) -> float:
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: lam must be a number >= 0, got {lam!r}") from None
    check_positive(value, fn, "lam", allow_zero=True)
    return value


# ---------------------------------------------------------------------------------------------
# Weight penalties
# ---------------------------------------------------------------------------------------------


def l2_penalty(w: ArrayLike, lam: float) -> tuple[float, np.ndarray]:
    """penalty = lam / 2 * sum(w**2), dw = lam * w.  Shapes: w (any) -> float, dw (same as w).

    The gradient is what ``SGD(..., weight_decay=lam)`` adds to ``w``'s gradient (PyTorch and
    nnlib): L2 regularisation with this penalty *is* SGD's weight decay. (With Adam it is not
    AdamW's decoupled decay: see lesson 07.)
    """
    fn = "l2_penalty"
    w = as_array(w, fn, "w")
    lam = _check_lam(lam, fn)
    return 0.5 * lam * float(np.sum(w * w)), lam * w


def l1_penalty(w: ArrayLike, lam: float) -> tuple[float, np.ndarray]:
    """penalty = lam * sum(|w|), dw = lam * sign(w) with sign(0) = 0.
    Shapes: w (any) -> float, dw (same as w).

    |w| has no derivative at 0; 0 is the subgradient that keeps a zero weight at zero.
    """
    fn = "l1_penalty"
    w = as_array(w, fn, "w")
    lam = _check_lam(lam, fn)
    return lam * float(np.sum(np.abs(w))), lam * np.sign(w)


# ---------------------------------------------------------------------------------------------
# Inverted dropout
# ---------------------------------------------------------------------------------------------


def _check_drop_p(p: Any, fn: str) -> float:
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: p must be a probability in [0, 1], got {p!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{fn}: p (the drop probability) must be in [0, 1], got {p!r}")
    return value


def dropout_forward(
    x: ArrayLike, p: float, *, training: bool, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """out = x * mask, mask = [u >= p] / (1 - p) with u = rng.random(x.shape), in training;
    out = x in evaluation.  Shapes: x (any) -> out (same), cache = mask (same) or None.

    ``p`` is the probability of dropping a unit (torch's convention). In training one call
    ``rng.random(x.shape)`` is made, also when ``p = 0``; ``p = 1`` drops everything (out = 0,
    as in torch). In evaluation nothing is drawn, ``x`` itself is returned and the cache is
    None. The mask has the dtype of ``x``.
    """
    fn = "dropout_forward"
    x = as_array(x, fn, "x")
    p = _check_drop_p(p, fn)
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"{fn}: training must be True or False, got {training!r}")
    if not training:
        return x, None
    if rng is None:
        raise ValueError(f"{fn}: training=True needs rng=np.random.default_rng(seed)")
    check_rng(rng, fn)
    keep = rng.random(x.shape) >= p
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)  # keep is all False; avoid 0 / 0
    else:
        mask = keep.astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * mask, mask


def dropout_backward(dout: ArrayLike, cache: np.ndarray | None) -> np.ndarray:
    """dx = dout * mask (the forward pass's mask, never a new one); dx = dout in evaluation.

    Shapes: dout (any), cache = mask (same as dout) or None -> dx (same as dout).
    """
    fn = "dropout_backward"
    dout = as_array(dout, fn, "dout")
    if cache is None:
        return dout.copy()
    mask = np.asarray(cache)
    if mask.shape != dout.shape:
        raise ValueError(
            f"{fn}: dout has shape {dout.shape} but the forward mask has shape {mask.shape}"
        )
    return dout * mask


# ---------------------------------------------------------------------------------------------
# Data augmentation for small images
# ---------------------------------------------------------------------------------------------


def _check_images(images: ArrayLike, fn: str) -> np.ndarray:
    images = as_array(images, fn, "images")
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{fn}: images must have shape (N, H, W) or (N, C, H, W), got {images.shape} "
            "(flattened 8x8 digits? reshape them with X.reshape(-1, 8, 8))"
        )
    return images


def random_shift(
    images: ArrayLike, max_shift: int, *, rng: np.random.Generator
) -> np.ndarray:
    """out[n, ..., r, c] = images[n, ..., r - dy_n, c - dx_n], or 0 where that pixel is outside.

    Shapes: images (N, H, W) or (N, C, H, W) -> out (same). The offsets come from one call
    ``rng.integers(-max_shift, max_shift + 1, size=(N, 2))``: column 0 is dy (positive moves
    the picture down), column 1 is dx (positive moves it right); every channel of an image
    moves together. ``max_shift = 0`` returns a copy (after drawing the zero offsets).
    """
    fn = "random_shift"
    images = _check_images(images, fn)
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"{fn}: max_shift must be an integer >= 0, got {max_shift!r}")
    check_rng(rng, fn)
    N, H, W = images.shape[0], images.shape[-2], images.shape[-1]
    offsets = rng.integers(-int(max_shift), int(max_shift) + 1, size=(N, 2))
    rows = np.arange(H)[None, :] - offsets[:, :1]  # (N, H): the source row of each target row
    cols = np.arange(W)[None, :] - offsets[:, 1:]  # (N, W)
    inside = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
    n = np.arange(N)[:, None, None]
    r = np.clip(rows, 0, H - 1)[:, :, None]
    c = np.clip(cols, 0, W - 1)[:, None, :]
    if images.ndim == 3:
        return np.where(inside, images[n, r, c], images.dtype.type(0))
    # (N, C, H, W): gather from (N, H, W, C), so that the channel axis rides along.
    moved = images.transpose(0, 2, 3, 1)[n, r, c]  # (N, H, W, C)
    out = np.where(inside[..., None], moved, images.dtype.type(0))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def add_gaussian_noise(
    images: ArrayLike, std: float, *, rng: np.random.Generator
) -> np.ndarray:
    """out = images + std * rng.standard_normal(images.shape).  Shapes: any -> same.

    One call ``rng.standard_normal(images.shape)``; the result keeps the dtype of ``images``
    (no clipping: the values may leave the pixel range).
    """
    fn = "add_gaussian_noise"
    images = as_array(images, fn, "images")
    try:
        std = float(std)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: std must be a number >= 0, got {std!r}") from None
    check_positive(std, fn, "std", allow_zero=True)
    check_rng(rng, fn)
    noise = rng.standard_normal(images.shape)
    return (images + std * noise).astype(images.dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# Modules
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
