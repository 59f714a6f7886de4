"""The overfitting lab of lesson 08: set a control, check what was drawn, and the work a move
costs (its time is measured by `make bench`)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.regularization as lab
from nncourse.widgets.regularization import (
    L2_STRENGTHS,
    LOSS_AXIS_TOP,
    draw_overfitting,
    overfitting_explorer,
    probability_grid,
    regularized_mlp_scores,
    train_regularized_mlp,
)
from nnlib.data import make_moons
from nnlib.modules import CrossEntropyLoss, Linear, ReLU, Sequential
from nnlib.optim import adam
from nnlib.regularization import l2_penalty


@pytest.fixture(scope="module")
def moons():
    rng = np.random.default_rng(0)
    X, y = make_moons(120, noise=0.3, rng=rng)
    X_val, y_val = make_moons(200, noise=0.3, rng=rng)
    return X, y, X_val, y_val


def probability_image(explorer):
    return np.asarray(explorer.figure.axes[0].images[0].get_array()).copy()


def val_curve(explorer):
    return np.asarray(explorer.figure.axes[1].lines[1].get_ydata()).copy()


def render_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_explorer_draws_the_default_run():
    ex = overfitting_explorer()
    assert ex.redraws == 1
    assert set(ex.controls) == {"n_train", "lam", "p"}
    assert not any(c.continuous_update for c in ex.controls.values())
    ax_b, ax_l = ex.figure.axes
    assert probability_image(ex).shape == (80, 80)
    assert len(ax_b.collections[1].get_offsets()) == 30, "the 30 training points, drawn large"
    assert "N = 30, L2 λ = 0, dropout p = 0" in ax_l.get_title()
    assert [line.get_label() for line in ax_l.lines] == ["training", "validation"]
    assert ax_l.get_ylim() == (0, LOSS_AXIS_TOP)
    run = ex.runs[(30, 0.0, 0.0)]
    np.testing.assert_allclose(val_curve(ex), run["val_loss"])
    # overfitting, by construction of the default: the training loss goes to 0 while the
    # validation loss climbs well above its best value
    assert run["loss"][-1] < 0.01 and run["accuracy"] == 1.0
    assert run["val_loss"][-1] > 2 * min(run["val_loss"])


def test_each_control_changes_what_is_drawn():
    ex = overfitting_explorer()
    image0, val0 = probability_image(ex), val_curve(ex)

    ex.controls["lam"].value = 0.01
    assert ex.redraws == 2
    image1, val1 = probability_image(ex), val_curve(ex)
    assert not np.array_equal(image1, image0)
    assert val1[-1] < 0.5 * val0[-1], "L2 should stop the validation loss from climbing"
    # less confident far from the data: more of the plane is neither sure red nor sure blue
    unsure = lambda img: np.mean((img > 0.05) & (img < 0.95))  # noqa: E731
    assert unsure(image1) > unsure(image0)
    assert "L2 λ = 0.01" in ex.figure.axes[1].get_title()

    ex.controls["lam"].value = 0.0
    ex.controls["p"].value = 0.5
    image2, val2 = probability_image(ex), val_curve(ex)
    assert not np.array_equal(image2, image0)
    assert val2[-1] < val0[-1], "dropout should lower the final validation loss"
    assert "dropout p = 0.5" in ex.figure.axes[1].get_title()

    ex.controls["n_train"].value = 150
    assert len(ex.figure.axes[0].collections[1].get_offsets()) == 150
    assert "N = 150" in ex.figure.axes[1].get_title()
    assert not np.array_equal(probability_image(ex), image2)
    assert ex.redraws == 5
    assert len(ex.figure.axes) == 2, "a redraw must replace the axes, not stack new ones"


def test_runs_are_cached_by_slider_values(monkeypatch):
    ex = overfitting_explorer()
    ex.controls["lam"].value = 0.001
    calls = []
    real = lab.train_regularized_mlp

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(lab, "train_regularized_mlp", counting)
    ex.controls["lam"].value = 0.0  # seen before: no training
    ex.controls["lam"].value = 0.001  # seen before
    assert calls == []
    ex.controls["p"].value = 0.2
    assert len(calls) == 1 and calls[0]["p"] == pytest.approx(0.2)


def test_a_new_setting_trains_once_for_a_fixed_number_of_epochs():
    """Up to the most expensive settings the sliders allow, a move trains one network for
    num_epochs (200) full-batch epochs, evaluates an 80 x 80 probability grid, and draws once."""
    ex = overfitting_explorer()
    watch = [(lab, "train_regularized_mlp"), (lab, "probability_grid")]
    settings = [("n_train", ex.controls["n_train"].max), ("p", ex.controls["p"].max),
                ("lam", L2_STRENGTHS[-1]), ("n_train", 30), ("lam", 1e-4), ("lam", 3e-4),
                ("lam", 3e-3)]
    for control, value in settings:
        work = redraw_work(ex, control, value, watch)
        assert_one_cheap_redraw(work, train_regularized_mlp=1, probability_grid=1)
        key = (ex.controls["n_train"].value, ex.controls["lam"].value,
               round(ex.controls["p"].value, 6))
        assert ex.runs[key]["epochs"][-1] == 200, ex.runs[key]["epochs"][-3:]
        assert probability_image(ex).shape == (80, 80)
    # back to a setting seen before: drawn again, not retrained
    work = redraw_work(ex, "lam", 1e-4, watch)
    assert_one_cheap_redraw(work, train_regularized_mlp=0, probability_grid=1)


def test_training_step_is_adam_on_the_penalised_loss(moons):
    """One epoch equals one Adam step on cross-entropy + l2_penalty of the weights, with the
    gradients computed by nnlib's modules."""
    X, y, X_val, y_val = moons
    lam, lr = 0.03, 0.01
    start = train_regularized_mlp(X, y, X_val, y_val, num_epochs=0, num_hiddens=8)["params"]
    net = Sequential(Linear(2, 8, rng=np.random.default_rng(0)), ReLU(),
                     Linear(8, 8, rng=np.random.default_rng(0)), ReLU(),
                     Linear(8, 2, rng=np.random.default_rng(0)))
    names = [("W1", "b1"), ("W2", "b2"), ("W3", "b3")]
    for layer, (w, b) in zip((net[0], net[2], net[4]), names, strict=True):
        layer.weight.data[...] = start[w]
        layer.bias.data[...] = start[b]
    np.testing.assert_allclose(net(X), regularized_mlp_scores(X, start))
    crit = CrossEntropyLoss()
    crit(net(X), y)
    net.zero_grad()
    net.backward(crit.backward())
    expected = {}
    for layer, (w, b) in zip((net[0], net[2], net[4]), names, strict=True):
        expected[w], _ = adam(start[w], layer.weight.grad + l2_penalty(start[w], lam)[1], {},
                              lr=lr)
        expected[b], _ = adam(start[b], layer.bias.grad, {}, lr=lr)
    run = train_regularized_mlp(X, y, X_val, y_val, lam=lam, lr=lr, num_epochs=1,
                                num_hiddens=8, record_every=1)
    for k, v in expected.items():
        np.testing.assert_allclose(run["params"][k], v, rtol=1e-9, atol=1e-12)
    assert run["epochs"] == [1]


def test_training_records_and_dropout(moons):
    X, y, X_val, y_val = moons
    run = train_regularized_mlp(X, y, X_val, y_val, num_epochs=20, record_every=4)
    assert run["epochs"] == [4, 8, 12, 16, 20]
    assert len(run["loss"]) == len(run["val_loss"]) == 5
    assert run["loss"][-1] < run["loss"][0]
    drop = train_regularized_mlp(X, y, X_val, y_val, num_epochs=20, p=0.5)
    assert not np.allclose(drop["params"]["W2"], run["params"]["W2"])
    again = train_regularized_mlp(X, y, X_val, y_val, num_epochs=20, p=0.5)
    np.testing.assert_array_equal(again["params"]["W2"], drop["params"]["W2"])  # seeded
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        train_regularized_mlp(X, y, X_val, y_val, p=1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        train_regularized_mlp(X, y, X_val, y_val, lam=-1.0)


def test_probability_grid_and_draw(moons):
    X, y, X_val, y_val = moons
    run = train_regularized_mlp(X, y, X_val, y_val, num_epochs=30)
    prob, extent = probability_grid(run["params"], X_val, resolution=20)
    assert prob.shape == (20, 20) and np.all((prob >= 0) & (prob <= 1))
    assert extent[0] < X_val[:, 0].min() and extent[3] > X_val[:, 1].max()
    huge = {k: v * 1e3 for k, v in run["params"].items()}  # saturated scores: no overflow
    with np.errstate(all="raise"):
        probability_grid(huge, X_val, resolution=10)

    fig = Figure()
    out = draw_overfitting(fig, X, y, X_val, y_val, n_train=40, lam=0.0, p=0.0, run=None,
                           resolution=20, num_epochs=30)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), out["loss"])
    with pytest.raises(ValueError, match=r"n_train must be in \[1, 120\]"):
        draw_overfitting(Figure(), X, y, X_val, y_val, n_train=121, lam=0.0, p=0.0)
    with pytest.raises(ValueError, match="lam must be one of"):
        overfitting_explorer(lam=0.5)
