"""Convolution and pooling, forward + backward: nnlib against PyTorch on the CPU, float32.

One step is the forward and the whole backward of one layer: for a convolution, out =
conv2d(x, w, b) and then dx, dw and db for a given dout (torch: ``torch.autograd.grad`` of the
output with respect to x, w and b, so that both compute the same three gradients and neither
accumulates); for pooling, out and dx. Both libraries get the same arrays and the same number
of threads (2 by default: threadpoolctl for NumPy's BLAS, ``torch.set_num_threads``). Before
timing, each row checks that nnlib and torch agree (float32: rtol 1e-4 of the largest entry).

The convolution rows also time ``gemm``: the three matrix products of the same shapes alone
(``w @ cols``, ``dout @ cols.T``, ``w.T @ dout`` with NumPy), the floor of any im2col
convolution on this BLAS. ``gemm_ratio`` = nnlib / gemm is the overhead of everything else
(the copies into and out of columns, the bias, the transposes); ``ratio`` = nnlib / torch.
Budgets (issue 11): ratio <= 2, or, where torch's oneDNN kernels are simply faster than
OpenBLAS's products, gemm_ratio <= 1.2.

    python bench/bench_conv.py               # the table (about a minute on 2 cores)
    python bench/bench_conv.py --threads 1   # both libraries on one thread
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as tF
from threadpoolctl import threadpool_info, threadpool_limits

from nnlib.conv import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    conv2d_backward,
    conv2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

#: (name, N, C, F, H, W, kernel, stride, padding)
CONV_CASES: list[tuple[str, int, int, int, int, int, int, int, int]] = [
    ("conv 1->16 28x28 k3 s1 p1, N=64", 64, 1, 16, 28, 28, 3, 1, 1),
    ("conv 1->16 28x28 k3 s2 p1, N=64", 64, 1, 16, 28, 28, 3, 2, 1),
    ("conv 16->32 28x28 k3 s1 p1, N=64", 64, 16, 32, 28, 28, 3, 1, 1),
    ("conv 16->32 28x28 k3 s2 p1, N=64", 64, 16, 32, 28, 28, 3, 2, 1),
    ("conv digits 1->16 8x8 k3 s1 p1, N=128", 128, 1, 16, 8, 8, 3, 1, 1),
    ("conv digits 16->32 4x4 k3 s1 p1, N=128", 128, 16, 32, 4, 4, 3, 1, 1),
]
#: (name, kind, N, C, H, W, kernel, stride, padding)
POOL_CASES: list[tuple[str, str, int, int, int, int, int, int, int]] = [
    ("max_pool 2x2 s2, 16x28x28, N=64", "max", 64, 16, 28, 28, 2, 2, 0),
    ("max_pool 3x3 s2 p1, 16x28x28, N=64", "max", 64, 16, 28, 28, 3, 2, 1),
    ("max_pool 2x2 s2, 16x8x8, N=128", "max", 128, 16, 8, 8, 2, 2, 0),
    ("avg_pool 2x2 s2, 16x28x28, N=64", "avg", 64, 16, 28, 28, 2, 2, 0),
]
BUDGET_RATIO = 2.0  # nnlib / torch
BUDGET_GEMM_RATIO = 1.2  # nnlib / the three products alone
RUNS = 7  # timed runs per measurement; the median is reported
RUN_SECONDS = 0.1  # target length of one timed run
# Pause before each timed run: an idle OpenBLAS or OpenMP pool keeps its threads spinning for a
# while and would steal the cores from the other library's run (see bench/README.md).
SETTLE_SECONDS = 0.3
RTOL = 1e-4  # float32 parity, relative to the largest entry of torch's result


def blas_threads() -> tuple[int, str]:
    """Threads of the BLAS that NumPy uses, and its name (threadpoolctl)."""
    for info in threadpool_info():
        if info["user_api"] == "blas":
            return info["num_threads"], f"{info['internal_api']} {info.get('version', '')}"
    return 1, "unknown"


def _steps_per_run(step: Callable[[], object]) -> int:
    t0 = time.perf_counter()
    warm = 0
    while warm < 3 or time.perf_counter() - t0 < 0.05:
        step()
        warm += 1
    return max(1, int(RUN_SECONDS * warm / (time.perf_counter() - t0)))


def time_alternating(steps: list[Callable[[], object]]) -> list[float]:
    """Median seconds per call of each step, over RUNS timed runs after warm-up; the runs of
    the steps alternate, so that load from other processes falls on all of them alike."""
    counts = [_steps_per_run(step) for step in steps]
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(RUNS):
        for step, n, ts in zip(steps, counts, times, strict=True):
            time.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            ts.append((time.perf_counter() - t0) / n)
    return [statistics.median(ts) for ts in times]


def _assert_close(name: str, what: str, mine: np.ndarray, theirs: np.ndarray) -> None:
    scale = float(np.abs(theirs).max()) or 1.0
    err = float(np.abs(np.asarray(mine, np.float64) - theirs).max()) / scale
    assert mine.shape == theirs.shape and err < RTOL, (
        f"{name}: {what} differs from torch (max error {err:.2e} of the largest entry, "
        f"shapes {mine.shape} and {theirs.shape})"
    )


def conv_row(case: tuple[str, int, int, int, int, int, int, int, int]) -> dict[str, Any]:
    name, N, C, F, H, W, k, s, p = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((F, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    out, cache = conv2d_forward(x, w, b, s, p)
    dout = rng.standard_normal(out.shape).astype(np.float32)  # C-contiguous: the slower case
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def nnlib_step() -> object:
        out, cache = conv2d_forward(x, w, b, s, p)
        return conv2d_backward(dout, cache)

    def torch_step() -> object:
        out = tF.conv2d(xt, wt, bt, stride=s, padding=p)
        return torch.autograd.grad(out, (xt, wt, bt), dt)

    # The three products alone, on arrays of the shapes nnlib multiplies.
    # (C KH KW, N Ho Wo): the forward's chunks of im2col columns side by side
    cols = np.ascontiguousarray(np.concatenate(cache.cols, axis=1))
    w2 = np.ascontiguousarray(w.reshape(F, -1))
    d2 = np.ascontiguousarray(dout.transpose(1, 0, 2, 3).reshape(F, -1))
    # where nnlib folds the bias in (cols with a row of ones), w with b as one more column
    w2b = np.concatenate([w2, b[:, None]], axis=1) if len(cols) == w2.shape[1] + 1 else w2

    def gemm_step() -> object:
        return w2b @ cols, d2 @ cols.T, w2.T @ d2

    mine = nnlib_step()
    theirs = torch_step()
    _assert_close(name, "out", out, tF.conv2d(xt, wt, bt, stride=s, padding=p).detach().numpy())
    for what, a, t in zip(("dx", "dw", "db"), mine, theirs, strict=True):
        _assert_close(name, what, a, t.numpy())
    t_nn, t_t, t_g = time_alternating([nnlib_step, torch_step, gemm_step])
    return {
        "name": name, "nnlib_ms": t_nn * 1e3, "torch_ms": t_t * 1e3, "ratio": t_nn / t_t,
        "budget_ratio": BUDGET_RATIO, "gemm_ms": t_g * 1e3, "gemm_ratio": t_nn / t_g,
    }


def pool_row(case: tuple[str, str, int, int, int, int, int, int, int]) -> dict[str, Any]:
    name, kind, N, C, H, W, k, s, p = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    fwd, bwd, tfn = {
        "max": (max_pool2d_forward, max_pool2d_backward, tF.max_pool2d),
        "avg": (avg_pool2d_forward, avg_pool2d_backward, tF.avg_pool2d),
    }[kind]
    out, _ = fwd(x, k, s, p)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def nnlib_step() -> object:
        out, cache = fwd(x, k, s, p)
        return bwd(dout, cache)

    def torch_step() -> object:
        out = tfn(xt, k, s, p)
        return torch.autograd.grad(out, (xt,), dt)

    _assert_close(name, "out", out, tfn(xt, k, s, p).detach().numpy())
    _assert_close(name, "dx", nnlib_step(), torch_step()[0].numpy())
    t_nn, t_t = time_alternating([nnlib_step, torch_step])
    return {
        "name": name, "nnlib_ms": t_nn * 1e3, "torch_ms": t_t * 1e3, "ratio": t_nn / t_t,
        "budget_ratio": BUDGET_RATIO, "gemm_ms": None, "gemm_ratio": None,
    }


def run(threads: int = 2) -> list[dict[str, Any]]:
    """One row per case: {name, nnlib_ms, torch_ms, ratio, budget_ratio, gemm_ms, gemm_ratio}
    (gemm_* are None for pooling), both libraries at ``threads`` threads, float32."""
    with threadpool_limits(limits=threads, user_api="blas"):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            rows = [conv_row(case) for case in CONV_CASES]
            rows += [pool_row(case) for case in POOL_CASES]
        finally:
            torch.set_num_threads(previous)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for NumPy's BLAS and for torch (default 2)")
    args = parser.parse_args(argv)
    _, blas = blas_threads()
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")
    print(f"numpy BLAS: {blas}; both libraries at {args.threads} threads; float32")
    print(f"timing: median of {RUNS} alternating runs of ~{RUN_SECONDS}s each after warm-up\n")
    header = (f"{'case':<40} {'nnlib ms':>9} {'torch ms':>9} {'ratio':>6} {'budget':>6} "
              f"{'gemm ms':>8} {'nnlib/gemm':>10}")
    print(header)
    print("-" * len(header))
    for row in run(args.threads):
        flag = "" if row["ratio"] <= row["budget_ratio"] or (
            row["gemm_ratio"] is not None and row["gemm_ratio"] <= BUDGET_GEMM_RATIO
        ) else "  over budget"
        print(f"{row['name']:<40} {row['nnlib_ms']:>9.3f} {row['torch_ms']:>9.3f} "
              f"{row['ratio']:>6.2f} {row['budget_ratio']:>6.1f} {_fmt(row['gemm_ms'], '8.3f')} "
              f"{_fmt(row['gemm_ratio'], '10.2f')}{flag}", flush=True)
    print(f"\nparity: every row matched torch (rtol {RTOL} of the largest entry) before timing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
