"""The long-memory lab of lesson 13 (nncourse.widgets.memory): the adding problem, the trainer,
the gates it reads, and the explorer, whose trainings are cached per setting (counted with
redraw_work, never timed)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.memory as lab
from nncourse.widgets.memory import (
    BASELINE_MSE,
    CELLS,
    MemoryModel,
    draw_memory,
    gate_trace,
    make_adding_problem,
    memory_explorer,
    train_memory_model,
)
from nnlib.modules import MSELoss

FAST = {"steps": 6, "record_every": 3, "num_test": 50}


def test_adding_problem_marks_one_step_in_each_half_and_sums_their_values():
    rng = np.random.default_rng(0)
    x, y = make_adding_problem(200, 9, rng)
    assert x.shape == (200, 9, 2) and y.shape == (200,) and x.dtype == np.float32
    marks = x[:, :, 1]
    assert np.all(marks.sum(axis=1) == 2)
    assert np.all(marks[:, :4].sum(axis=1) == 1) and np.all(marks[:, 4:].sum(axis=1) == 1)
    np.testing.assert_allclose(y, (x[:, :, 0] * marks).sum(axis=1), rtol=1e-6)
    assert np.all((x[:, :, 0] >= 0) & (x[:, :, 0] < 1))
    # the baseline: predicting the mean 1 scores about 1/6
    big_y = make_adding_problem(20000, 10, rng)[1]
    assert abs(np.mean((big_y - 1.0) ** 2) - BASELINE_MSE) < 0.01
    with pytest.raises(ValueError, match="T must be at least 2"):
        make_adding_problem(3, 1, rng)


def test_chrono_initialisation_biases_the_keep_gate():
    T, H = 20, 16
    lstm = MemoryModel("LSTM", 2, H, rng=np.random.default_rng(0), max_gap=T)
    keep = lstm.rnn.bias_ih_l0.data[H:2 * H]
    assert np.all(keep >= 0) and np.all(keep <= np.log(T - 1) + 1e-6)
    np.testing.assert_array_equal(lstm.rnn.bias_ih_l0.data[:H], -keep)
    assert np.all(lstm.rnn.bias_hh_l0.data[:2 * H] == 0)
    gru = MemoryModel("GRU", 2, H, rng=np.random.default_rng(0), max_gap=T)
    assert np.all(gru.rnn.bias_ih_l0.data[H:2 * H] >= 0)
    assert np.all(gru.rnn.bias_hh_l0.data[H:2 * H] == 0)
    plain = MemoryModel("LSTM", 2, H, rng=np.random.default_rng(0))
    assert np.all(np.abs(plain.rnn.bias_ih_l0.data) <= 1 / np.sqrt(H))  # torch's default
    with pytest.raises(ValueError, match="cell must be one of"):
        MemoryModel("ESN", 2, H, rng=np.random.default_rng(0))


def test_the_training_step_minimises_the_mean_squared_error():
    """The gradient the trainer sends into the model is nnlib's MSELoss gradient."""
    rng = np.random.default_rng(1)
    pred, y = rng.normal(size=8), rng.normal(size=8)
    crit = MSELoss()
    crit(pred, y)
    np.testing.assert_allclose(crit.backward(), (2.0 / 8) * (pred - y))


def test_training_records_its_test_error_and_is_seeded():
    run = train_memory_model("GRU", 6, **FAST)
    assert run["steps"] == [0, 3, 6] and len(run["test_mse"]) == 3
    assert run["final_mse"] == run["test_mse"][-1] and run["cell"] == "GRU" and run["T"] == 6
    again = train_memory_model("GRU", 6, **FAST)
    assert again["test_mse"] == run["test_mse"]
    other = train_memory_model("GRU", 6, seed=1, **FAST)
    assert other["test_mse"] != run["test_mse"]


def test_gated_cells_remember_where_the_plain_rnn_fails():
    """The notebook's claim at T = 20, with its settings: the RNN stays near the baseline, the
    LSTM and the GRU get close to 0."""
    final = {cell: train_memory_model(cell, 20)["final_mse"] for cell in CELLS}
    assert final["RNN"] > 0.5 * BASELINE_MSE, final
    assert final["LSTM"] < 0.02 and final["GRU"] < 0.02, final


def test_gate_trace_reads_each_cells_gates():
    x, _ = make_adding_problem(3, 7, np.random.default_rng(0))
    for cell, keys in (("LSTM", {"i", "f"}), ("GRU", {"z"}), ("RNN", {"|h|"})):
        model = train_memory_model(cell, 7, **FAST)["model"]
        trace = gate_trace(model, x)
        assert set(trace) == keys
        for values in trace.values():
            assert values.shape == (7,) and np.all((values >= 0) & (values <= 1))
    # the LSTM's gates are those of its module's forward pass
    model = train_memory_model("LSTM", 7, **FAST)["model"]
    model(x)
    H = model.rnn.hidden_size
    gates = model.rnn._caches[0].gates
    np.testing.assert_allclose(gate_trace(model, x)["f"], gates[..., H:2 * H].mean(axis=(1, 2)),
                               rtol=1e-5)


@pytest.fixture(scope="module")
def small_runs():
    return {(cell, T): train_memory_model(cell, T, **FAST) for cell in CELLS for T in (5, 10)}


def test_draw_memory(small_runs):
    fig = Figure()
    draw_memory(fig, small_runs, "GRU", 10)
    ax_l, ax_g = fig.axes
    labels = [line.get_label() for line in ax_l.lines]
    assert [lb.split(" ")[0] for lb in labels[:3]] == list(CELLS)
    assert labels[3].startswith("predict 1")
    widths = {lb.split(" ")[0]: line.get_linewidth() for lb, line in zip(labels, ax_l.lines,
                                                                         strict=False)}
    assert widths["GRU"] > widths["LSTM"], "the chosen cell is drawn bold"
    assert "T = 10" in ax_l.get_title()
    assert [line.get_label() for line in ax_g.lines] == ["z"]
    assert len(ax_g.patches) == 2, "the two marked steps are shaded"


def test_explorer_starts_from_given_runs_without_training(small_runs, monkeypatch):
    calls = []
    monkeypatch.setattr(lab, "train_memory_model", lambda *a, **k: calls.append(a))
    ex = memory_explorer(dict(small_runs), cell="LSTM", T=10, lengths=(5, 10, 20))
    assert calls == [] and ex.redraws == 1
    assert set(ex.controls) == {"cell", "T"}
    assert not ex.controls["T"].continuous_update
    assert "T = 10" in ex.figure.axes[0].get_title()
    assert [line.get_label() for line in ex.figure.axes[1].lines] == ["i", "f"]


def test_a_new_setting_trains_once_and_a_revisited_one_never(small_runs):
    ex = memory_explorer(dict(small_runs), cell="LSTM", T=10, lengths=(5, 10, 20), **FAST)
    watch = [(lab, "train_memory_model"), (lab, "gate_trace")]
    # settings the explorer was given: drawn, not trained
    for control, value in (("cell", "GRU"), ("T", 5), ("cell", "RNN")):
        assert_one_cheap_redraw(redraw_work(ex, control, value, watch), train_memory_model=0,
                                gate_trace=1)
    # a new length: the chosen cell trains once
    assert_one_cheap_redraw(redraw_work(ex, "T", 20, watch), train_memory_model=1, gate_trace=1)
    assert ("RNN", 20) in ex.runs and ex.runs[("RNN", 20)]["steps"][-1] == FAST["steps"]
    assert_one_cheap_redraw(redraw_work(ex, "cell", "LSTM", watch), train_memory_model=1,
                            gate_trace=1)
    # back to settings seen before: drawn again, not retrained
    for control, value in (("cell", "RNN"), ("T", 5), ("T", 20), ("cell", "LSTM")):
        assert_one_cheap_redraw(redraw_work(ex, control, value, watch), train_memory_model=0,
                                gate_trace=1)
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"


def test_explorer_errors():
    with pytest.raises(ValueError, match="cell must be one of"):
        memory_explorer({}, cell="ESN")
    with pytest.raises(ValueError, match="T must be one of"):
        memory_explorer({}, T=7)
