"""Tests for nnlib.surfaces: the 2-D test functions, their analytic gradients (against central
differences and torch autograd) and ``trajectory`` (against closed forms and torch.optim)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import require_torch

from nnlib.gradcheck import numerical_gradient
from nnlib.optim import adam, sgd
from nnlib.surfaces import (
    SURFACES,
    beale,
    beale_grad,
    bowl,
    bowl_grad,
    rosenbrock,
    rosenbrock_grad,
    saddle,
    saddle_grad,
    trajectory,
)

PAIRS = {
    "rosenbrock": (rosenbrock, rosenbrock_grad),
    "beale": (beale, beale_grad),
    "saddle": (saddle, saddle_grad),
    "bowl": (bowl, bowl_grad),
}


@pytest.mark.parametrize("name", list(PAIRS))
@settings(max_examples=25, deadline=None)
@given(x=st.floats(-3, 3), y=st.floats(-3, 3))
def test_gradient_matches_central_differences(name, x, y):
    f, grad = PAIRS[name]
    p = np.array([x, y])
    numeric = numerical_gradient(lambda q: float(f(q)), p.copy(), h=1e-6)
    analytic = grad(p)
    assert analytic.shape == (2,)
    # an absolute floor: near a stationary point both gradients are ~0
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4 * max(1.0, abs(f(p))))


def test_gradients_match_torch_autograd():
    torch = require_torch()
    formulas = {
        "rosenbrock": lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        "beale": lambda x, y: ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
                               + (2.625 - x + x * y**3) ** 2),
        "saddle": lambda x, y: x**2 / 2 + y**4 / 4 - y**2 / 2,
        "bowl": lambda x, y: (x**2 + 100 * y**2) / 2,
    }
    P = np.random.default_rng(0).uniform(-3, 3, size=(7, 2))
    for name, (f, grad) in PAIRS.items():
        t = torch.tensor(P, requires_grad=True)
        value = formulas[name](t[:, 0], t[:, 1])
        value.sum().backward()
        np.testing.assert_allclose(f(P), value.detach().numpy(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(grad(P), t.grad.numpy(), rtol=1e-12, atol=1e-9, err_msg=name)


def test_shapes_one_point_and_grids():
    grid = np.random.default_rng(1).normal(size=(4, 5, 2))
    for name, (f, grad) in PAIRS.items():
        assert f(np.array([0.5, -0.5])).shape == (), name
        assert f(grid).shape == (4, 5) and grad(grid).shape == (4, 5, 2), name
        for i in range(4):  # a grid is many points at once
            np.testing.assert_allclose(grad(grid)[i, 2], grad(grid[i, 2]), err_msg=name)
    assert rosenbrock([1, 1]) == 0.0  # lists and integers are accepted
    assert rosenbrock_grad(np.array([1.0, 1.0], dtype=np.float32)).dtype == np.float32


def test_hand_values():
    assert rosenbrock(np.array([0.0, 0.0])) == 1.0
    assert rosenbrock(np.array([2.0, 3.0]), a=2.0, b=1.0) == 1.0
    np.testing.assert_allclose(rosenbrock_grad(np.array([0.0, 1.0])), [-2.0, 200.0])
    assert beale(np.array([0.0, 0.0])) == pytest.approx(1.5**2 + 2.25**2 + 2.625**2)
    assert saddle(np.array([0.0, 0.0])) == 0.0
    np.testing.assert_allclose(saddle_grad(np.array([2.0, 2.0])), [2.0, 6.0])
    assert bowl(np.array([1.0, 1.0]), condition=4.0) == 2.5
    np.testing.assert_allclose(bowl_grad(np.array([3.0, -1.0]), condition=4.0), [3.0, -4.0])


def test_saddle_is_a_saddle():
    eps = 1e-3
    assert saddle(np.array([eps, 0.0])) > 0 > saddle(np.array([0.0, eps]))
    np.testing.assert_array_equal(saddle_grad(np.zeros(2)), [0.0, 0.0])
    for y in (1.0, -1.0):
        assert saddle(np.array([0.0, y])) == -0.25


@pytest.mark.parametrize("name", list(SURFACES))
def test_surfaces_are_consistent(name):
    s = SURFACES[name]
    assert s.name == name
    np.testing.assert_allclose(s.f(np.array(s.minimum)), s.f_min, atol=1e-14)
    np.testing.assert_allclose(s.grad(np.array(s.minimum)), [0.0, 0.0], atol=1e-12)
    assert s.f(np.array(s.start)) > s.f_min + 0.1
    # the minimum is the lowest point of the box drawn
    gx, gy = np.meshgrid(np.linspace(*s.xlim, 101), np.linspace(*s.ylim, 101))
    assert s.f(np.stack([gx, gy], axis=-1)).min() >= s.f_min - 1e-12
    for point in (s.start, s.minimum):
        assert s.xlim[0] < point[0] < s.xlim[1] and s.ylim[0] < point[1] < s.ylim[1]


def test_bad_points():
    with pytest.raises(ValueError, match=r"rosenbrock: p must hold 2-D points with shape \(\.\.\."):
        rosenbrock(np.zeros(3))
    with pytest.raises(ValueError, match="beale_grad: p must hold 2-D points"):
        beale_grad(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="saddle: p must hold"):
        saddle(1.0)
    with pytest.raises(ValueError, match="bowl: condition"):
        bowl(np.zeros(2), condition=-1.0)
    with pytest.raises(ValueError, match="p must be numeric"):
        bowl_grad(np.array(["a", "b"]))


def test_trajectory_of_sgd_on_the_bowl_is_the_closed_form():
    # w_k = (1 - lr * curvature)**k * w_0, coordinate by coordinate
    lr, k = 0.015, 40
    points = trajectory(sgd, bowl_grad, [-4.0, 0.5], k, lr=lr)
    assert points.shape == (k + 1, 2)
    steps = np.arange(k + 1)
    np.testing.assert_allclose(points[:, 0], -4.0 * (1 - lr) ** steps, rtol=1e-12)
    np.testing.assert_allclose(points[:, 1], 0.5 * (1 - 100 * lr) ** steps, rtol=1e-12)


def test_trajectory_matches_torch_adam_on_rosenbrock():
    torch = require_torch()
    start, k = np.array([-1.2, 1.0]), 60
    w = torch.tensor(start, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    expected = [start]
    for _ in range(k):
        opt.zero_grad()
        ((1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2).backward()
        opt.step()
        expected.append(w.detach().numpy().copy())
    points = trajectory(adam, rosenbrock_grad, start, k, lr=0.05)
    np.testing.assert_allclose(points, np.array(expected), rtol=0, atol=1e-10)


def test_trajectory_keeps_its_inputs_and_stops_when_diverging():
    start = np.array([-1.2, 1.0])
    points = trajectory(sgd, rosenbrock_grad, start, 50, lr=0.05)  # far too large for SGD
    np.testing.assert_array_equal(start, [-1.2, 1.0])
    assert 1 < len(points) < 51
    assert np.all(np.isfinite(points)) and np.abs(points).max() <= 1e6
    # zero steps: the start alone
    np.testing.assert_array_equal(trajectory(sgd, rosenbrock_grad, start, 0, lr=0.1), [start])
    # a small box stops a convergent run too
    assert len(trajectory(sgd, bowl_grad, [4.0, 0.0], 10, lr=0.1, bound=3.0)) == 1


def test_trajectory_protects_its_points_from_a_rule_that_writes_in_place():
    def in_place_sgd(w, dw, state, *, lr):
        w -= lr * dw
        return w, state

    points = trajectory(in_place_sgd, bowl_grad, [-4.0, 0.5], 5, lr=0.01)
    np.testing.assert_allclose(points, trajectory(sgd, bowl_grad, [-4.0, 0.5], 5, lr=0.01))


def test_trajectory_threads_the_state():
    seen = []

    def counting(w, dw, state, *, lr):
        seen.append(state.get("n", 0))
        return w - lr * dw, {"n": state.get("n", 0) + 1}

    trajectory(counting, saddle_grad, [1.0, 1.0], 4, lr=0.1)
    assert seen == [0, 1, 2, 3]


def test_trajectory_bad_arguments():
    with pytest.raises(ValueError, match="trajectory: num_steps must be an integer >= 0"):
        trajectory(sgd, bowl_grad, [1.0, 1.0], -1, lr=0.1)
    with pytest.raises(ValueError, match="trajectory: num_steps"):
        trajectory(sgd, bowl_grad, [1.0, 1.0], 2.5, lr=0.1)
    with pytest.raises(ValueError, match="trajectory: start must be finite"):
        trajectory(sgd, bowl_grad, [np.nan, 1.0], 3, lr=0.1)
    with pytest.raises(TypeError, match="trajectory: rule and grad must be functions"):
        trajectory("sgd", bowl_grad, [1.0, 1.0], 3, lr=0.1)
    with pytest.raises(ValueError, match=r"trajectory: the rule returned a point of shape \(3,\)"):
        trajectory(lambda w, dw, s, **h: (np.zeros(3), s), bowl_grad, [1.0, 1.0], 3)
    with pytest.raises(ValueError, match="trajectory: bound"):
        trajectory(sgd, bowl_grad, [1.0, 1.0], 3, lr=0.1, bound=-1.0)
