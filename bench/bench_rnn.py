"""Recurrent layers and multi-head attention, forward + backward: nnlib against PyTorch on the
CPU, float32.

One step is a module's forward and its whole backward: for LSTM, GRU and RNN (one layer,
batch-first) the output for a batch of sequences, then the gradients of the input and of every
weight and bias for a given gradient of the output; for MultiheadAttention, self-attention
``mha(x, x, x)`` then the gradients of x and of every parameter. nnlib: ``zero_grad()``,
``forward``, ``backward``; torch: the module's forward and ``torch.autograd.grad`` of the output
with respect to the input and every parameter (the same gradients, nothing accumulated). Both
libraries get the same weights (copied through ``nnlib.torch_compat``), the same arrays and the
same number of threads (2 by default: threadpoolctl for NumPy's BLAS, ``torch.set_num_threads``).
Before timing, each row checks that nnlib and torch agree (float32: rtol 1e-4 of the largest
entry of each result).

The attention rows come twice: ``need_weights=False`` (torch then runs its fused
``scaled_dot_product_attention`` kernel, what training uses) and ``need_weights=True`` (torch's
default: the weights averaged over the heads are returned too).

Budgets (issue 12): LSTM and GRU <= 2x torch at N=64, T=50, D=32, H=128; MultiheadAttention
<= 1.5x torch at N=32, T=64, E=64, 4 heads. The RNN row has no budget (for reference).

    python bench/bench_rnn.py               # the table (about a minute on 2 idle cores)
    python bench/bench_rnn.py --threads 1   # both libraries on one thread
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from nnlib.attention import MultiheadAttention
from nnlib.rnn import GRU, LSTM, RNN
from nnlib.torch_compat import to_torch_state_dict

#: (name, kind, N, T, D, H, budget ratio)
RNN_CASES: list[tuple[str, str, int, int, int, int, float | None]] = [
    ("LSTM seq fwd+bwd N=64 T=50 D=32 H=128", "lstm", 64, 50, 32, 128, 2.0),
    ("GRU seq fwd+bwd N=64 T=50 D=32 H=128", "gru", 64, 50, 32, 128, 2.0),
    ("RNN seq fwd+bwd N=64 T=50 D=32 H=128", "rnn", 64, 50, 32, 128, None),
]
#: (name, N, T, E, heads, need_weights, budget ratio)
MHA_CASES: list[tuple[str, int, int, int, int, bool, float | None]] = [
    ("MHA self-attn fwd+bwd N=32 T=64 E=64 h=4", 32, 64, 64, 4, False, 1.5),
    ("MHA self-attn fwd+bwd N=32 T=64 E=64 h=4 need_weights", 32, 64, 64, 4, True, 1.5),
]
RUNS = 7  # timed runs per measurement; the median is reported
RUN_SECONDS = 0.15  # target length of one timed run
# Pause before each timed run: an idle OpenBLAS or OpenMP pool keeps its threads spinning for a
# while and would steal the cores from the other library's run (see bench/README.md).
SETTLE_SECONDS = 0.3
RTOL = 1e-4  # float32 parity, relative to the largest entry of torch's result
_MODULES = {"lstm": (LSTM, torch.nn.LSTM), "gru": (GRU, torch.nn.GRU), "rnn": (RNN, torch.nn.RNN)}


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


def time_alternating(steps: list[Callable[[], object]]) -> tuple[list[float], list[float]]:
    """Median wall seconds and median CPU seconds (this process, all its threads) per call of
    each step, over RUNS timed runs after warm-up; the runs of the steps alternate, so that
    load from other processes falls on all of them alike. On a loaded machine the CPU times
    move less than the wall times (but count the BLAS threads' spinning too)."""
    counts = [_steps_per_run(step) for step in steps]
    walls: list[list[float]] = [[] for _ in steps]
    cpus: list[list[float]] = [[] for _ in steps]
    for _ in range(RUNS):
        for step, n, wall, cpu in zip(steps, counts, walls, cpus, strict=True):
            time.sleep(SETTLE_SECONDS)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                step()
            wall.append((time.perf_counter() - t0) / n)
            cpu.append((time.process_time() - c0) / n)
    return [statistics.median(w) for w in walls], [statistics.median(c) for c in cpus]


def _row(name: str, budget: float | None, steps: list[Callable[[], object]]) -> dict[str, Any]:
    (t_nn, t_t), (c_nn, c_t) = time_alternating(steps)
    return {"name": name, "nnlib_ms": t_nn * 1e3, "torch_ms": t_t * 1e3, "ratio": t_nn / t_t,
            "budget_ratio": budget, "cpu_ratio": c_nn / c_t}


def _assert_close(name: str, what: str, mine: np.ndarray, theirs: np.ndarray) -> None:
    scale = float(np.abs(theirs).max()) or 1.0
    err = float(np.abs(np.asarray(mine, np.float64) - theirs).max()) / scale
    assert mine.shape == theirs.shape and err < RTOL, (
        f"{name}: {what} differs from torch (max error {err:.2e} of the largest entry, "
        f"shapes {mine.shape} and {theirs.shape})"
    )


def _load_twin(net: Any, twin: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(net).items()})
    return list(twin.named_parameters())


def _check_grads(name: str, net: Any, named: list[tuple[str, torch.Tensor]],
                 grads: tuple[torch.Tensor, ...]) -> None:
    mine = dict(net.named_parameters())
    for (pname, _), g in zip(named, grads, strict=True):
        ref = g.numpy()
        _assert_close(name, f"grad of {pname}", mine[pname].grad,
                      ref.T if mine[pname].data.ndim == 2 else ref)


def rnn_row(case: tuple[str, str, int, int, int, int, float | None]) -> dict[str, Any]:
    name, kind, N, T, D, H, budget = case
    rng = np.random.default_rng(0)
    ours, theirs = _MODULES[kind]
    net = ours(D, H, rng=rng, dtype=np.float32)
    twin = theirs(D, H, batch_first=True)
    named = _load_twin(net, twin)
    params = [p for _, p in named]
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    dout = rng.standard_normal((N, T, H)).astype(np.float32)
    xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def nnlib_step() -> object:
        net.zero_grad()
        out = net(x)[0]
        return out, net.backward(dout)[0]

    def torch_step() -> object:
        out = twin(xt)[0]
        return out, torch.autograd.grad(out, [xt, *params], dt)

    out, dx = nnlib_step()
    out_t, grads = torch_step()
    _assert_close(name, "output", out, out_t.detach().numpy())
    _assert_close(name, "dx", dx, grads[0].numpy())
    _check_grads(name, net, named, grads[1:])
    return _row(name, budget, [nnlib_step, torch_step])


def mha_row(case: tuple[str, int, int, int, int, bool, float | None]) -> dict[str, Any]:
    name, N, T, E, heads, need_weights, budget = case
    rng = np.random.default_rng(0)
    mha = MultiheadAttention(E, heads, rng=rng, dtype=np.float32)
    for p in mha.parameters():  # non-zero biases, so that the parity check covers them
        p.data[...] = rng.uniform(-0.2, 0.2, size=p.shape)
    twin = torch.nn.MultiheadAttention(E, heads, batch_first=True)
    named = _load_twin(mha, twin)
    params = [p for _, p in named]
    x = rng.standard_normal((N, T, E)).astype(np.float32)
    dout = rng.standard_normal((N, T, E)).astype(np.float32)
    xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def nnlib_step() -> object:
        mha.zero_grad()
        out, w = mha(x, x, x, need_weights=need_weights)
        dq, dk, dv = mha.backward(dout)
        return out, w, dq + dk + dv

    def torch_step() -> object:
        out, w = twin(xt, xt, xt, need_weights=need_weights)
        return out, w, torch.autograd.grad(out, [xt, *params], dt)

    out, w, dx = nnlib_step()
    out_t, w_t, grads = torch_step()
    _assert_close(name, "output", out, out_t.detach().numpy())
    if need_weights:
        _assert_close(name, "weights", w, w_t.detach().numpy())
    _assert_close(name, "dx", dx, grads[0].numpy())
    _check_grads(name, mha, named, grads[1:])
    return _row(name, budget, [nnlib_step, torch_step])


def run(threads: int = 2) -> list[dict[str, Any]]:
    """One row per case: {name, nnlib_ms, torch_ms, ratio, budget_ratio, cpu_ratio}
    (budget_ratio None: no budget; cpu_ratio: the same ratio in CPU time), both libraries at
    ``threads`` threads, float32."""
    with threadpool_limits(limits=threads, user_api="blas"):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            rows = [rnn_row(case) for case in RNN_CASES]
            rows += [mha_row(case) for case in MHA_CASES]
        finally:
            torch.set_num_threads(previous)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for NumPy's BLAS and for torch (default 2)")
    args = parser.parse_args(argv)
    _, blas = blas_threads()
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")
    print(f"numpy BLAS: {blas}; both libraries at {args.threads} threads; float32")
    print(f"timing: median of {RUNS} alternating runs of ~{RUN_SECONDS}s each after warm-up; "
          f"ratio in wall time (the budget), cpu ratio in process CPU time")
    print(f"load average (1, 5, 15 min) before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    header = (f"{'case':<56} {'nnlib ms':>9} {'torch ms':>9} {'ratio':>6} {'budget':>6} "
              f"{'cpu ratio':>9}")
    print(header)
    print("-" * len(header))
    for row in run(args.threads):
        budget = row["budget_ratio"]
        flag = "" if budget is None or row["ratio"] <= budget else "  over budget"
        print(f"{row['name']:<56} {row['nnlib_ms']:>9.3f} {row['torch_ms']:>9.3f} "
              f"{row['ratio']:>6.2f} {'-' if budget is None else f'{budget:.1f}':>6} "
              f"{row['cpu_ratio']:>9.2f}{flag}", flush=True)
    print(f"\nparity: every row matched torch (rtol {RTOL} of the largest entry) before timing")
    print(f"load average (1, 5, 15 min) after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
