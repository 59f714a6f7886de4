"""One MLP training step (forward, loss, backward, SGD update): nnlib against PyTorch on the CPU.

Both libraries get the same sizes, the same initial weights (copied across; torch stores the
transpose of nnlib's W), the same batch and the same number of threads. Before timing, one step
of each is checked to give the same loss and the same updated weights. The table reports the
median ms/step of several timed runs and the ratio nnlib / torch measured in this same run.

``run()`` returns the rows for ``bench/run.py`` (``make bench`` prints them against their budget,
``BUDGET_RATIO``); alone:

    python bench/bench_mlp.py              # the table (about 30 s on 2 cores)
    python bench/bench_mlp.py --threads 1  # NumPy's BLAS and torch both on one thread
    python bench/bench_mlp.py --profile 1  # also cProfile the nnlib step of SIZES[1] (float32)
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import nnlib

# (batch_size, layer widths): input, hidden..., classes
SIZES: list[tuple[int, tuple[int, ...]]] = [
    (32, (64, 128, 10)),
    (128, (784, 256, 256, 10)),
    (512, (784, 1024, 1024, 10)),
]
DTYPES = [np.float32, np.float64]
LR = 0.01
RUNS = 7  # timed runs per measurement; the median is reported
RUN_SECONDS = 0.15  # target length of one timed run (sets the steps per run)
# Pause before each timed run: an idle OpenBLAS or OpenMP pool keeps its threads spinning for
# a while (OpenBLAS: about 0.1 s) and would steal the cores from the other library's run.
SETTLE_SECONDS = 0.3
# nnlib may take at most this many times torch's time per step. Measured 0.41-1.30 (2026-11-22,
# RESULTS.md): about half at the small size, the BLAS gap (1.15-1.25) at the largest.
BUDGET_RATIO = 1.5
# (rtol, atol) for the parity check of loss and updated weights
TOLERANCE = {np.float32: (1e-4, 1e-5), np.float64: (1e-10, 1e-12)}


def blas_threads() -> tuple[int, str]:
    """Threads of the BLAS that NumPy uses, and its name (threadpoolctl)."""
    for info in threadpool_info():
        if info["user_api"] == "blas" and "numpy" in info["filepath"]:
            return info["num_threads"], f"{info['internal_api']} {info.get('version', '')}"
    for info in threadpool_info():
        if info["user_api"] == "blas":
            return info["num_threads"], f"{info['internal_api']} {info.get('version', '')}"
    return 1, "unknown"


def make_batch(batch_size: int, widths: tuple[int, ...], dtype, rng: np.random.Generator):
    X = rng.standard_normal((batch_size, widths[0])).astype(dtype)
    y = rng.integers(0, widths[-1], size=batch_size)
    return X, y


def make_nnlib(widths: tuple[int, ...], dtype, rng: np.random.Generator):
    layers: list[nnlib.Module] = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nnlib.Linear(d_in, d_out, rng=rng, init="he_uniform", dtype=dtype))
        if i < len(widths) - 2:
            layers.append(nnlib.ReLU())
    net = nnlib.Sequential(*layers)
    # Random biases, so that the parity check also covers them.
    for layer in layers:
        if isinstance(layer, nnlib.Linear):
            layer.bias.data[...] = rng.uniform(-0.1, 0.1, size=layer.bias.shape)
    return net, nnlib.CrossEntropyLoss(), nnlib.SGD(net.parameters(), lr=LR)


def make_torch(net: nnlib.Sequential, dtype):
    """The same model in torch, with nnlib's current weights copied across (W transposed)."""
    layers: list[torch.nn.Module] = []
    for layer in net:
        if isinstance(layer, nnlib.Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=_torch_dtype(dtype))
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
            layers.append(lin)
        else:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    return model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=LR)


def _torch_dtype(dtype) -> torch.dtype:
    return torch.float32 if dtype == np.float32 else torch.float64


def nnlib_step(net, crit, opt, X, y) -> float:
    opt.zero_grad()
    loss = crit(net(X), y)
    net.backward(crit.backward(), input_grad=False)  # X is data: no dX, as in torch
    opt.step()
    return loss


def torch_step(model, crit, opt, X, y) -> float:
    opt.zero_grad()
    loss = crit(model(X), y)
    loss.backward()
    opt.step()
    return loss.detach()


def check_parity(net, model, nn_parts, t_parts, X, y, Xt, yt, dtype) -> None:
    """One step each from the same weights: same loss, same updated weights and biases."""
    rtol, atol = TOLERANCE[dtype]
    loss_nn = nnlib_step(*nn_parts, X, y)
    loss_t = float(torch_step(*t_parts, Xt, yt))
    assert np.isclose(loss_nn, loss_t, rtol=rtol, atol=atol), (
        f"loss differs: nnlib {loss_nn!r}, torch {loss_t!r} (rtol={rtol}, atol={atol})"
    )
    t_linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    nn_linears = [m for m in net if isinstance(m, nnlib.Linear)]
    for i, (a, b) in enumerate(zip(nn_linears, t_linears, strict=True)):
        assert a.weight.dtype == dtype, f"layer {i}: nnlib weight became {a.weight.dtype}"
        for name, mine, theirs in [
            ("weight", a.weight.data, b.weight.detach().numpy().T),
            ("bias", a.bias.data, b.bias.detach().numpy()),
        ]:
            bad = ~np.isclose(mine, theirs, rtol=rtol, atol=atol)
            assert not bad.any(), (
                f"layer {i} {name} after one step differs at {np.argwhere(bad)[0].tolist()}: "
                f"nnlib {mine[bad][0]!r}, torch {theirs[bad][0]!r} (rtol={rtol}, atol={atol})"
            )


def _steps_per_run(step: Callable[[], object]) -> int:
    """Warm up ``step`` and return how many steps make one timed run of ~RUN_SECONDS."""
    t0 = time.perf_counter()
    warm = 0
    while warm < 3 or time.perf_counter() - t0 < 0.05:
        step()
        warm += 1
    return max(1, int(RUN_SECONDS * warm / (time.perf_counter() - t0)))


def time_pair(step_a: Callable[[], object], step_b: Callable[[], object]) -> tuple[float, float]:
    """Median seconds per step of each, over RUNS timed runs after warm-up.

    The runs of a and b alternate, so that load from other processes on the machine falls on
    both alike and the ratio stays meaningful even when the absolute times drift.
    """
    n_a, n_b = _steps_per_run(step_a), _steps_per_run(step_b)
    times_a, times_b = [], []
    for _ in range(RUNS):
        for step, n, times in [(step_a, n_a, times_a), (step_b, n_b, times_b)]:
            time.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            times.append((time.perf_counter() - t0) / n)
    return statistics.median(times_a), statistics.median(times_b)


def setup(batch_size: int, widths: tuple[int, ...], dtype):
    rng = np.random.default_rng(0)
    X, y = make_batch(batch_size, widths, dtype, rng)
    net, crit, opt = make_nnlib(widths, dtype, rng)
    model, tcrit, topt = make_torch(net, dtype)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    return X, y, Xt, yt, (net, crit, opt), (model, tcrit, topt)


def profile_nnlib(batch_size: int, widths: tuple[int, ...], dtype, steps: int = 50) -> None:
    X, y, _, _, nn_parts, _ = setup(batch_size, widths, dtype)
    for _ in range(5):
        nnlib_step(*nn_parts, X, y)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        nnlib_step(*nn_parts, X, y)
    prof.disable()
    label = f"{batch_size} x {'-'.join(map(str, widths))} {np.dtype(dtype).name}"
    print(f"\ncProfile of {steps} nnlib steps, {label} (tottime = own time)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def run(threads: int | None = None) -> list[dict]:
    """Check parity, then time every size and dtype: one row each, for bench/run.py."""
    if threads is not None:
        threadpool_limits(limits=threads, user_api="blas")
    n_threads, blas = blas_threads()
    torch.set_num_threads(n_threads)
    setting = f"{blas}, {n_threads} BLAS threads, torch {torch.get_num_threads()} threads"
    rows = []
    for batch_size, widths in SIZES:
        for dtype in DTYPES:
            X, y, Xt, yt, nn_parts, t_parts = setup(batch_size, widths, dtype)
            check_parity(nn_parts[0], t_parts[0], nn_parts, t_parts, X, y, Xt, yt, dtype)
            t_nn, t_t = time_pair(
                lambda nn_parts=nn_parts, X=X, y=y: nnlib_step(*nn_parts, X, y),
                lambda t_parts=t_parts, Xt=Xt, yt=yt: torch_step(*t_parts, Xt, yt),
            )
            rows.append({
                "name": f"MLP step {batch_size} x {'-'.join(map(str, widths))} "
                        f"{np.dtype(dtype).name}",
                "nnlib_ms": t_nn * 1e3,
                "torch_ms": t_t * 1e3,
                "ratio": t_nn / t_t,
                "budget_ratio": BUDGET_RATIO,
                "parity": "loss and updated weights match",
                "threads": setting,
            })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=int, metavar="I", default=None,
                        help="also cProfile the nnlib step of SIZES[I] (float32)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS to this many threads (default: as loaded)")
    args = parser.parse_args(argv)

    if args.threads is not None:
        threadpool_limits(limits=args.threads, user_api="blas")
    n_threads, blas = blas_threads()
    torch.set_num_threads(n_threads)
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")
    print(f"cpu: {platform.processor() or platform.machine()}, os.cpu_count() = {os.cpu_count()}")
    print(f"numpy BLAS: {blas}, {n_threads} threads; "
          f"torch.get_num_threads() = {torch.get_num_threads()}")
    print(f"timing: median of {RUNS} runs of ~{RUN_SECONDS}s each after warm-up; lr={LR}\n")

    header = f"{'row':<40} {'nnlib ms/step':>14} {'torch ms/step':>14} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    ok = True
    for row in run():
        ok &= row["ratio"] <= row["budget_ratio"]
        print(f"{row['name']:<40} {row['nnlib_ms']:>14.3f} {row['torch_ms']:>14.3f} "
              f"{row['ratio']:>7.2f}", flush=True)
    print("\nparity: loss and updated weights matched torch for every row before timing")

    if args.profile is not None:
        batch_size, widths = SIZES[args.profile]
        profile_nnlib(batch_size, widths, np.float32)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
