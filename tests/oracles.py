"""PyTorch as a test oracle: skipped when absent, a failure when CI requires it."""

import os

import pytest


def require_torch():
    """torch, or skip; with NNLIB_REQUIRE_TORCH=1 (as .ci/run sets) a missing torch fails."""
    try:
        import torch
    except ImportError:
        if os.environ.get("NNLIB_REQUIRE_TORCH") == "1":
            pytest.fail("NNLIB_REQUIRE_TORCH=1 but torch is not installed: pip install torch")
        pytest.skip("torch is not installed")
    return torch
