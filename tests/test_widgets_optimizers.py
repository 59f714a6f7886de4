"""The optimizer race of lesson 07: its paths are nnlib.optim's, its controls change what is
drawn, and a redraw reruns only what changed (its time is measured by `make bench`)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from redraw_work import assert_one_cheap_redraw, redraw_work

import nncourse.widgets.optimizers as optimizers_widgets
from nncourse.widgets.optimizers import (
    _SCALAR_GRADS,
    OPTIMIZERS,
    TUNED_LR,
    draw_paths,
    draw_race,
    optimizer_explorer,
    race_paths,
)
from nnlib.optim import adagrad, adam, rmsprop, sgd
from nnlib.surfaces import SURFACES, trajectory

RULES = {
    "SGD": (sgd, {}),
    "momentum": (sgd, {"momentum": None}),
    "Nesterov": (sgd, {"momentum": None, "nesterov": True}),
    "Adagrad": (adagrad, {}),
    "RMSprop": (rmsprop, {}),
    "Adam": (adam, {}),
}


def reference_path(surface, name, lr_scale, momentum, num_steps):
    rule, hyper = RULES[name]
    hyper = {k: (momentum if v is None else v) for k, v in hyper.items()}
    s = SURFACES[surface]
    return trajectory(rule, s.grad, s.start, num_steps,
                      lr=lr_scale * TUNED_LR[surface][name], **hyper)


@pytest.mark.parametrize("surface", list(SURFACES))
def test_race_paths_are_nnlib_optim_trajectories(surface):
    for lr_scale, momentum in [(1.0, 0.9), (0.3, 0.5), (4.0, 0.95)]:
        paths = race_paths(surface, lr_scale=lr_scale, momentum=momentum, num_steps=120)
        assert list(paths) == list(OPTIMIZERS)
        for name, path in paths.items():
            expected = reference_path(surface, name, lr_scale, momentum, 120)
            assert path.shape == expected.shape, (surface, name, lr_scale)
            np.testing.assert_allclose(path, expected, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{surface}, {name}, lr x {lr_scale}")


def test_scalar_gradients_are_the_surfaces_gradients():
    P = np.random.default_rng(0).uniform(-3, 3, size=(20, 2))
    for surface, grad in _SCALAR_GRADS.items():
        expected = SURFACES[surface].grad(P)
        got = np.array([grad(x, y) for x, y in P])
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=surface)


def test_tuned_learning_rates_behave_and_large_ones_diverge():
    for surface in SURFACES:
        for name, path in race_paths(surface, num_steps=1000).items():
            assert len(path) == 1001, f"{name} diverges on {surface} at lr scale 1"
    # what the notebook tells the learner to watch: on the bowl SGD blows up at lr x 1.6, the
    # slider's 10 ** 0.2 (lr > 2 / 100), but not one step lower, at 10 ** 0.1, while momentum
    # does not; at lr x 10 every SGD variant blows up on Rosenbrock, and the adaptive
    # optimizers, whose steps are about lr, never do
    bowl = race_paths("ill-conditioned bowl", lr_scale=10**0.2, num_steps=300)
    assert len(bowl["SGD"]) < 301 and len(bowl["momentum"]) == 301
    assert len(race_paths("ill-conditioned bowl", lr_scale=10**0.1, num_steps=300)["SGD"]) == 301
    for surface in SURFACES:
        paths = race_paths(surface, lr_scale=10.0, num_steps=300)
        for name in ("Adagrad", "RMSprop", "Adam"):
            assert len(paths[name]) == 301, (surface, name)
        if surface == "Rosenbrock":
            assert all(len(paths[name]) < 301 for name in ("SGD", "momentum", "Nesterov"))


def path_line(fig, name, ax=0):
    lines = [line for line in fig.axes[ax].lines if line.get_gid() == name]
    assert len(lines) == 1, f"expected one line for {name}, found {len(lines)}"
    return lines[0]


def test_draw_race_draws_every_path_and_its_loss():
    fig = Figure()
    paths = draw_race(fig, "Beale", lr_scale=0.5, num_steps=80)
    assert len(fig.axes) == 2
    s = SURFACES["Beale"]
    for name, path in paths.items():
        line = path_line(fig, name)
        np.testing.assert_array_equal(line.get_xdata(), path[:, 0])
        np.testing.assert_array_equal(line.get_ydata(), path[:, 1])
        loss = path_line(fig, name, ax=1).get_ydata()
        np.testing.assert_allclose(loss, np.log10(np.maximum(s.f(path) - s.f_min, 1e-12)))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == f"SGD (lr {0.5 * TUNED_LR['Beale']['SGD']:.2g})"
    assert fig.axes[0].get_xlim() == s.xlim
    assert "lr x 0.5" in fig.axes[1].get_title()


def test_a_diverging_run_is_marked():
    fig = Figure()
    paths = draw_race(fig, "Rosenbrock", lr_scale=10.0, num_steps=100, optimizers=("SGD",))
    steps = len(paths["SGD"]) - 1
    assert steps < 100
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [f"SGD (lr 0.02): diverged at step {steps + 1}"]
    assert any(line.get_marker() == "x" for line in fig.axes[0].lines)
    fig.savefig(io.BytesIO(), format="png")  # huge values still render


def test_explorer_draws_the_default_race():
    ex = optimizer_explorer()
    assert ex.redraws == 1
    assert set(ex.controls) == {"surface", "lr_scale", "momentum", "num_steps", "optimizers"}
    assert ex.controls["surface"].value == "Rosenbrock"
    assert ex.controls["optimizers"].value == OPTIMIZERS
    assert len(ex.figure.axes) == 2
    for name in OPTIMIZERS:
        assert len(path_line(ex.figure, name, ax=1).get_ydata()) == 301
    assert not any(getattr(c, "continuous_update", False) for c in ex.controls.values())


def test_each_control_changes_what_is_drawn():
    ex = optimizer_explorer()
    fig = ex.figure
    adam0 = path_line(fig, "Adam").get_xydata().copy()
    sgd0 = path_line(fig, "SGD").get_xydata().copy()

    ex.controls["lr_scale"].value = 0.1
    assert ex.redraws == 2
    adam1 = path_line(fig, "Adam").get_xydata()
    assert not np.allclose(adam1, adam0), "a 10x smaller lr must change Adam's path"
    # Adam's first step moves each coordinate by about lr: 10x less now
    np.testing.assert_allclose(adam1[1] - adam1[0], (adam0[1] - adam0[0]) / 10, rtol=1e-6)
    assert "lr x 0.1" in fig.axes[1].get_title()

    momentum_before = path_line(fig, "momentum").get_xydata().copy()
    sgd_before = path_line(fig, "SGD").get_xydata().copy()
    ex.controls["momentum"].value = 0.5
    assert not np.allclose(path_line(fig, "momentum").get_xydata(), momentum_before)
    np.testing.assert_array_equal(path_line(fig, "SGD").get_xydata(), sgd_before)
    assert "momentum 0.50" in fig.axes[1].get_title()

    ex.controls["num_steps"].value = 50
    assert len(path_line(fig, "SGD", ax=1).get_ydata()) == 51
    assert fig.axes[1].get_xlim() == (0, 50)

    ex.controls["optimizers"].value = ("SGD", "Adam")
    gids = [line.get_gid() for line in fig.axes[1].lines]
    assert gids == ["SGD", "Adam"]

    ex.controls["surface"].value = "ill-conditioned bowl"
    assert fig.axes[0].get_xlim() == SURFACES["ill-conditioned bowl"].xlim
    sgd_bowl = path_line(fig, "SGD").get_xydata()
    np.testing.assert_allclose(sgd_bowl[0], SURFACES["ill-conditioned bowl"].start)
    assert not np.array_equal(sgd_bowl[:10], sgd0[:10])
    assert "ill-conditioned bowl" in fig.axes[0].get_title()
    assert ex.redraws == 6
    assert len(fig.axes) == 2, "a redraw must replace the axes, not stack new ones"


def test_a_redraw_runs_each_shown_optimizer_once_and_revisits_run_none():
    """At the most expensive settings (every optimizer, the most steps) a new setting runs one
    path of at most num_steps steps per optimizer shown; the contour grid of a surface is
    computed once; a setting seen before runs nothing."""
    optimizers_widgets._cached_path.cache_clear()
    optimizers_widgets._contour_grid.cache_clear()
    ex = optimizer_explorer()
    most = ex.controls["num_steps"].max
    steps = []
    real = optimizers_widgets._path

    def path(*args, **kwargs):
        out = real(*args, **kwargs)
        steps.append(len(out) - 1)
        return out

    def move(control, value, paths, grids):
        steps.clear()
        grids_before = optimizers_widgets._contour_grid.cache_info().misses
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(optimizers_widgets, "_path", path)
            work = redraw_work(ex, control, value)
        assert_one_cheap_redraw(work)
        assert len(steps) == paths, (control, value, steps)
        assert all(n <= ex.controls["num_steps"].value for n in steps), steps
        assert optimizers_widgets._contour_grid.cache_info().misses - grids_before == grids

    move("num_steps", most, len(OPTIMIZERS), 0)
    assert max(steps) == most  # the longest race the slider allows is drawn in full
    for surface, lr_scale in [("Beale", 0.71), ("Rosenbrock", 0.83), ("saddle", 1.17)]:
        move("surface", surface, len(OPTIMIZERS), 0 if surface == "Rosenbrock" else 1)
        move("lr_scale", lr_scale, len(OPTIMIZERS), 0)
    move("optimizers", ("SGD", "Adam"), 0, 0)  # both paths are cached already
    move("lr_scale", 0.5, 2, 0)  # only the two shown optimizers run
    move("surface", "Beale", 2, 0)  # a new (surface, lr) pair: the grid is cached
    move("lr_scale", 0.71, 0, 0)  # Beale at 0.71 was raced above


def test_bad_arguments():
    with pytest.raises(ValueError, match="race_paths: unknown surface 'Himmelblau'"):
        race_paths("Himmelblau")
    with pytest.raises(ValueError, match="race_paths: lr_scale must be a positive number"):
        race_paths("Beale", lr_scale=0.0)
    with pytest.raises(ValueError, match=r"race_paths: momentum must be in \[0, 1\)"):
        race_paths("Beale", momentum=1.0)
    with pytest.raises(ValueError, match="race_paths: num_steps must be a positive integer"):
        race_paths("Beale", num_steps=0)
    with pytest.raises(ValueError, match=r"draw_race: unknown optimizers \['LBFGS'\]"):
        draw_race(Figure(), "Beale", optimizers=("SGD", "LBFGS"))
    with pytest.raises(ValueError, match="optimizer_explorer: unknown surface"):
        optimizer_explorer(surface="nope")


def test_draw_paths_draws_any_paths():
    fig = Figure()
    s = SURFACES["saddle"]
    mine = trajectory(sgd, s.grad, [1.0, 0.5], 30, lr=0.1)
    short = mine[:10]
    draw_paths(fig, "saddle", {"mine": mine, "short": short}, labels={"mine": "my sgd"},
               title="t")
    np.testing.assert_array_equal(path_line(fig, "mine").get_xydata(), mine)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["my sgd", "short: diverged at step 10"]
    assert fig.axes[1].get_title() == "t" and fig.axes[1].get_xlim() == (0, 30)
    with pytest.raises(ValueError, match=r"draw_paths: paths\['bad'\] must have shape"):
        draw_paths(Figure(), "saddle", {"bad": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="draw_paths: unknown surface"):
        draw_paths(Figure(), "flat", {})
