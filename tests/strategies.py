"""Shared hypothesis strategies for the numerical tests (activations, losses, ...).

Import as ``from strategies import ...`` (pytest puts ``tests/`` on sys.path).
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: The range the library promises to handle without NaN, inf or RuntimeWarning.
BOUND = 1e4

#: Settings for the property tests: no per-example deadline (the first call may import torch or
#: warm caches), enough examples to hit the extremes, and fast enough for the 15 s budget.
PROPERTY = settings(deadline=None, max_examples=100)

float_dtypes = st.sampled_from([np.float32, np.float64])


def _elements(dtype: type, bound: float = BOUND) -> st.SearchStrategy[float]:
    width = 32 if np.dtype(dtype) == np.float32 else 64
    plain = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)
    # Mix in the extremes and exact ties explicitly: they are where naive formulas overflow.
    return st.one_of(plain, st.sampled_from([-bound, bound, 0.0, -1.0, 1.0, 700.0, -700.0]))


@st.composite
def bounded_arrays(
    draw: st.DrawFn,
    *,
    min_dims: int = 1,
    max_dims: int = 2,
    max_side: int = 6,
    bound: float = BOUND,
    dtype: type | None = None,
) -> np.ndarray:
    """Arrays of float32 or float64 entries in [-bound, bound] with 1 to 6 entries per axis."""
    dt = draw(float_dtypes) if dtype is None else dtype
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side))
    return draw(hnp.arrays(dt, shape, elements=_elements(dt, bound)))


@st.composite
def logits_and_targets(draw: st.DrawFn, *, bound: float = BOUND) -> tuple[np.ndarray, np.ndarray]:
    """(logits, y): logits in [-bound, bound] (float32 or float64), y in [0, 1], same shape."""
    z = draw(bounded_arrays(min_dims=1, max_dims=2, bound=bound))
    hard = draw(st.booleans())
    y_elements = st.sampled_from([0.0, 1.0]) if hard else st.floats(0.0, 1.0)
    y = draw(hnp.arrays(np.float64, z.shape, elements=y_elements))
    return z, y


@st.composite
def logits_and_labels(draw: st.DrawFn, *, bound: float = BOUND) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), y (N,) int class indices)."""
    z = draw(bounded_arrays(min_dims=2, max_dims=2, bound=bound))
    N, K = z.shape
    y = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1)))
    return z, y


@st.composite
def conv2d_geometry(draw: st.DrawFn, *, max_side: int = 9) -> dict[str, int]:
    """Shapes for a 2-D convolution: N, C, F, H, W, KH, KW, stride SH/SW, padding PH/PW.

    Batches of one, one channel and many, odd and non-square sizes, strides larger than the
    kernel and padding larger than half the kernel all occur; the kernel always fits the
    padded input (torch's requirement).
    """
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    PH, PW = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    H = draw(st.integers(max(1, KH - 2 * PH), max_side))
    W = draw(st.integers(max(1, KW - 2 * PW), max_side))
    return {
        "N": draw(st.integers(1, 3)), "C": draw(st.integers(1, 4)), "F": draw(st.integers(1, 4)),
        "H": H, "W": W, "KH": KH, "KW": KW,
        "SH": draw(st.integers(1, 5)), "SW": draw(st.integers(1, 5)), "PH": PH, "PW": PW,
    }


@st.composite
def pool2d_geometry(draw: st.DrawFn, *, max_side: int = 9) -> dict[str, int]:
    """Shapes for 2-D pooling: N, C, H, W, kernel KH/KW, stride SH/SW, padding PH/PW <= K/2
    (torch's limit); overlapping windows (stride < kernel) and gaps (stride > kernel) occur."""
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    return {
        "N": draw(st.integers(1, 3)), "C": draw(st.integers(1, 4)),
        "H": draw(st.integers(max(1, KH - 2 * PH), max_side)),
        "W": draw(st.integers(max(1, KW - 2 * PW), max_side)),
        "KH": KH, "KW": KW, "SH": draw(st.integers(1, 4)), "SW": draw(st.integers(1, 4)),
        "PH": PH, "PW": PW,
    }
