"""The long-memory lab of lesson 13: a plain RNN, an LSTM and a GRU on the adding problem
(Hochreiter and Schmidhuber, 1997), as the sequence grows.

``make_adding_problem`` draws the task: at each of T steps a random value in [0, 1) and a marker
(0 or 1); exactly two steps are marked, one in each half of the sequence, and the target is the
sum of the two marked values. Predicting the mean, 1, scores a mean squared error of 1/6; a
model that only remembers the recent (second) value scores about 1/12; only a model that keeps
the first value across the gap gets close to 0. ``train_memory_model`` trains one cell type
(nnlib's ``RNN``, ``LSTM`` or ``GRU`` modules, a linear head on the last hidden state) with
Adam on fresh batches, and records its test error; ``gate_trace`` reads the gates of a trained
model along one sequence. ``memory_explorer`` draws the learning curves of the three cells at a
chosen length beside the gates of the chosen cell over time; it keeps every run it trained (or
was given, such as those the notebook's experiment trained), so returning to a setting redraws
without retraining.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

import nnlib.rnn
from nncourse.widgets import Explorer, make_explorer, one_blas_thread
from nnlib.modules import Linear, Module
from nnlib.optim import Adam

__all__ = [
    "CELLS",
    "LENGTHS",
    "BASELINE_MSE",
    "make_adding_problem",
    "MemoryModel",
    "train_memory_model",
    "gate_trace",
    "draw_memory",
    "memory_explorer",
]

#: The cell types, in the order of the plots.
CELLS: tuple[str, ...] = ("RNN", "LSTM", "GRU")
#: The sequence lengths the explorer offers.
LENGTHS: tuple[int, ...] = (5, 10, 20, 40)
#: The mean squared error of always predicting 1, the mean of the target.
BASELINE_MSE = 1.0 / 6.0
COLORS = {"RNN": "tab:gray", "LSTM": "tab:blue", "GRU": "tab:orange"}


def make_adding_problem(
    N: int, T: int, rng: np.random.Generator, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """x (N, T, 2): channel 0 the values, uniform in [0, 1), channel 1 the markers, 1 at one
    step of the first half and one step of the second half; y (N,) the sum of the two marked
    values."""
    if T < 2:
        raise ValueError(f"make_adding_problem: T must be at least 2, got {T}")
    values = rng.random((N, T))
    half = T // 2
    first = rng.integers(0, half, N)
    second = rng.integers(half, T, N)
    rows = np.arange(N)
    marks = np.zeros((N, T))
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([values, marks], axis=2).astype(dtype)
    y = (values[rows, first] + values[rows, second]).astype(dtype)
    return x, y


class MemoryModel(Module):
    """A recurrent layer (nnlib's ``RNN``, ``LSTM`` or ``GRU``, batch-first) and a linear head
    on its last hidden state.  Shapes: x (N, T, D) -> (N, 1)."""

    def __init__(self, cell: str, input_size: int, num_hiddens: int, *,
                 rng: np.random.Generator, max_gap: int | None = None,
                 dtype: Any = np.float32) -> None:
        if cell not in CELLS:
            raise ValueError(f"MemoryModel: cell must be one of {CELLS}, got {cell!r}")
        self.cell = cell
        kind = {"RNN": nnlib.rnn.RNN, "LSTM": nnlib.rnn.LSTM, "GRU": nnlib.rnn.GRU}[cell]
        self.rnn = kind(input_size, num_hiddens, rng=rng, dtype=dtype)
        H = num_hiddens
        if cell != "RNN" and max_gap is not None:
            # Chrono initialisation (Tallec and Ollivier, 2018): the "keep" gate's bias is
            # log(u), u uniform in [1, max_gap - 1], so that the units start with memory time
            # scales 1 / (1 - sigma(log u)) = 1 + u spread up to the gap to bridge; the LSTM's
            # input gate gets the opposite bias. Block 1 is the LSTM's f and the GRU's z.
            keep = np.log(rng.uniform(1.0, max(max_gap - 1.0, 2.0), H)).astype(dtype)
            self.rnn.bias_ih_l0.data[H:2 * H] = keep
            self.rnn.bias_hh_l0.data[H:2 * H] = 0
            if cell == "LSTM":
                self.rnn.bias_ih_l0.data[:H] = -keep
                self.rnn.bias_hh_l0.data[:H] = 0
        self.head = Linear(num_hiddens, 1, rng=rng)
        for p in self.head.parameters():
            p.data = p.data.astype(dtype)
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, _ = self.rnn(x)
        self._shape = out.shape
        return self.head(out[:, -1])

    def backward(self, dout: np.ndarray) -> None:
        dlast = self.head.backward(dout)
        dh = np.zeros(self._shape, dtype=dlast.dtype)
        dh[:, -1] = dlast
        self.rnn.backward(dh)


def train_memory_model(
    cell: str,
    T: int,
    *,
    num_hiddens: int = 16,
    steps: int = 400,
    batch_size: int = 64,
    lr: float = 0.02,
    chrono: bool = True,
    record_every: int = 20,
    num_test: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Adam on the mean squared error, a fresh batch of the adding problem of length T at each
    of ``steps`` steps; returns {"cell", "T", "model", "steps": [0, record_every, ...],
    "test_mse": the test error after each of those steps, "final_mse"}. Gated cells start
    with the chrono initialisation of their "keep" gate (``chrono``, see ``MemoryModel``). The
    model and the batches come from ``default_rng(seed)``, the test set (``num_test``
    sequences) from ``default_rng(seed + 1)``."""
    rng = np.random.default_rng(seed)
    model = MemoryModel(cell, 2, num_hiddens, rng=rng, max_gap=T if chrono else None)
    x_test, y_test = make_adding_problem(num_test, T, np.random.default_rng(seed + 1))
    opt = Adam(model.parameters(), lr=lr)
    recorded, errors = [], []

    def test_mse() -> float:
        return float(np.mean((model(x_test)[:, 0] - y_test) ** 2))

    with one_blas_thread():
        for step in range(steps + 1):
            if step % record_every == 0 or step == steps:
                recorded.append(step)
                errors.append(test_mse())
            if step == steps:
                break
            x, y = make_adding_problem(batch_size, T, rng)
            pred = model(x)[:, 0]
            dpred = (2.0 / batch_size) * (pred - y)
            opt.zero_grad()
            model.backward(dpred[:, None])
            opt.step()
    return {"cell": cell, "T": int(T), "model": model, "steps": recorded, "test_mse": errors,
            "final_mse": errors[-1]}


def gate_trace(model: MemoryModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """The gates of ``model`` along the sequences x (N, T, 2), averaged over the hidden units and
    the sequences: {"i", "f"} (LSTM: input and forget gates), {"z"} (GRU: the update gate, the
    share of the old state kept), {"|h|"} (RNN: the mean size of the hidden state), each (T,)."""
    rnn = model.rnn
    Wx, Wh = rnn.weight_ih_l0.data, rnn.weight_hh_l0.data
    H = rnn.hidden_size
    with one_blas_thread():
        if model.cell == "LSTM":
            b = rnn.bias_ih_l0.data + rnn.bias_hh_l0.data
            gates = nnlib.rnn.lstm_forward(x, None, None, Wx, Wh, b)[1].gates  # (T, N, 4H)
            return {"i": gates[..., :H].mean(axis=(1, 2)),
                    "f": gates[..., H:2 * H].mean(axis=(1, 2))}
        if model.cell == "GRU":
            h = None
            zs = []
            for t in range(x.shape[1]):
                h, cache = nnlib.rnn.gru_step_forward(x[:, t], h, Wx, Wh, rnn.bias_ih_l0.data,
                                                      rnn.bias_hh_l0.data)
                zs.append(cache.z.mean())
            return {"z": np.array(zs)}
        b = rnn.bias_ih_l0.data + rnn.bias_hh_l0.data
        h = nnlib.rnn.rnn_forward(x, None, Wx, Wh, b)[0]
        return {"|h|": np.abs(h).mean(axis=(0, 2))}


def draw_memory(fig: Figure, runs: dict[tuple[str, int], dict[str, Any]], cell: str,
                T: int, *, seed: int = 0) -> None:
    """Left: the test error of every cell trained at length T found in ``runs`` (``cell``
    drawn bold), against training steps, with the baseline 1/6. Right: the gates of ``cell``
    along one sequence, the two marked steps shaded."""
    fig.set_layout_engine("none")
    grid = fig.add_gridspec(1, 2, left=0.08, right=0.98, bottom=0.15, top=0.88, wspace=0.28)
    ax_l, ax_g = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    for name in CELLS:
        run = runs.get((name, T))
        if run is None:
            continue
        bold = name == cell
        ax_l.plot(run["steps"], run["test_mse"], color=COLORS[name], lw=2.2 if bold else 1.0,
                  alpha=1.0 if bold else 0.5, label=f"{name} ({run['final_mse']:.3f})")
    ax_l.axhline(BASELINE_MSE, color="k", ls=":", lw=1, label="predict 1 (1/6)")
    ax_l.set_ylim(0, 0.3)
    ax_l.set(xlabel="training step", ylabel="test mean squared error",
             title=f"adding problem, T = {T}")
    ax_l.legend(loc="upper right", fontsize=8)
    x, _ = make_adding_problem(1, T, np.random.default_rng(seed + 2))
    trace = gate_trace(runs[(cell, T)]["model"], x)
    steps = np.arange(T)
    for t in np.flatnonzero(x[0, :, 1]):
        ax_g.axvspan(t - 0.5, t + 0.5, color="gold", alpha=0.4, lw=0)
    for name, values in trace.items():
        ax_g.plot(steps, values, marker=".", label=name)
    ax_g.set_ylim(0, 1.05)
    ax_g.set_xlim(-0.5, T - 0.5)
    ax_g.set(xlabel="time step t (marked steps shaded)", ylabel="mean over the hidden units",
             title=f"{cell}: gates along one sequence")
    ax_g.legend(loc="center right", fontsize=8)


def memory_explorer(
    runs: dict[tuple[str, int], dict[str, Any]] | None = None,
    *,
    cell: str = "LSTM",
    T: int = 20,
    lengths: tuple[int, ...] = LENGTHS,
    **train_kwargs: Any,
) -> Explorer:
    """A dropdown for the cell type and a slider for the sequence length T: the learning curves
    of the cells trained at T beside the chosen cell's gates over time. A setting not in
    ``runs`` is trained once (``train_memory_model(cell, T, **train_kwargs)``) and kept."""
    if cell not in CELLS:
        raise ValueError(f"memory_explorer: cell must be one of {CELLS}, got {cell!r}")
    if T not in lengths:
        raise ValueError(f"memory_explorer: T must be one of {lengths}, got {T!r}")
    runs = {} if runs is None else runs

    def draw(fig: Figure, cell: str, T: int) -> None:
        key = (cell, int(T))
        if key not in runs:
            runs[key] = train_memory_model(cell, int(T), **train_kwargs)
        draw_memory(fig, runs, cell, int(T))

    controls: dict[str, widgets.ValueWidget] = {
        "cell": widgets.Dropdown(options=list(CELLS), value=cell, description="cell"),
        "T": widgets.SelectionSlider(options=list(lengths), value=T,
                                     description="sequence length T",
                                     continuous_update=False,
                                     style={"description_width": "initial"}),
    }
    explorer = make_explorer(draw, controls, figsize=(9.5, 3.6),
                             title="Pick a cell and a length: a new setting trains once")
    explorer.runs = runs  # type: ignore[attr-defined]
    return explorer
