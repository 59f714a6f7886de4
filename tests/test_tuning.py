"""Tests for nnlib.tuning: log-uniform sampling, grid and random search, architecture search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnlib.tuning import (
    LogUniform,
    Uniform,
    architecture_search,
    grid_search,
    log_uniform,
    random_search,
)
from strategies import PROPERTY


def bowl(lr, weight_decay):
    return (np.log10(lr) + 2) ** 2 + 0.01 * (np.log10(weight_decay) + 4) ** 2


def test_log_uniform_spreads_evenly_over_decades():
    draws = log_uniform(1e-4, 1.0, size=40_000, rng=np.random.default_rng(0))
    assert draws.shape == (40_000,) and draws.min() >= 1e-4 and draws.max() < 1.0
    counts, _ = np.histogram(np.log10(draws), bins=4, range=(-4, 0))
    np.testing.assert_allclose(counts / draws.size, 0.25, atol=0.01)
    # the same draws as exp(uniform(log low, log high)), one per value
    u = np.random.default_rng(0).uniform(np.log(1e-4), np.log(1.0), size=40_000)
    np.testing.assert_allclose(draws, np.exp(u), rtol=1e-15)
    one = log_uniform(1e-3, 1e-1, rng=np.random.default_rng(1))
    assert isinstance(one, float)


def test_distributions_sample_with_the_rng():
    rng = np.random.default_rng(2)
    assert LogUniform(1e-3, 1.0).sample(rng) == pytest.approx(
        math.exp(np.random.default_rng(2).uniform(math.log(1e-3), 0.0)))
    rng = np.random.default_rng(3)
    assert Uniform(-1.0, 2.0).sample(rng) == np.random.default_rng(3).uniform(-1.0, 2.0)


def test_random_search_draws_trial_by_trial_and_ranks():
    space = {"lr": LogUniform(1e-4, 1.0), "weight_decay": LogUniform(1e-6, 1e-1)}
    result = random_search(bowl, space, 9, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    expected = []
    for _ in range(9):
        lr = math.exp(rng.uniform(math.log(1e-4), math.log(1.0)))
        wd = math.exp(rng.uniform(math.log(1e-6), math.log(1e-1)))
        expected.append((lr, wd))
    got = [(t.params["lr"], t.params["weight_decay"]) for t in result.in_order]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    scores = [t.score for t in result.trials]
    assert scores == sorted(scores)
    assert result.best is result.trials[0] and result.best_score == min(scores)
    assert result.best_params == result.trials[0].params
    np.testing.assert_allclose(result.scores(), [bowl(*p) for p in expected])
    assert [t.index for t in result.in_order] == list(range(9))


def test_random_search_choices_ties_and_maximize():
    space = {"activation": ["relu", "tanh"], "width": [8, 16, 32]}
    result = random_search(lambda activation, width: 1.0, space, 6, rng=np.random.default_rng(0))
    assert [t.index for t in result.trials] == list(range(6))  # ties keep the run order
    assert all(t.params["activation"] in ("relu", "tanh") for t in result.trials)
    best = random_search(lambda x: x, {"x": Uniform(0, 1)}, 20, rng=np.random.default_rng(1),
                         minimize=False)
    assert best.best_score == max(t.score for t in best.trials)


def test_nan_scores_rank_last():
    values = iter([np.nan, 2.0, 1.0])
    result = grid_search(lambda a: next(values), {"a": [1, 2, 3]})
    assert [t.params["a"] for t in result.trials] == [3, 2, 1]


def test_grid_search_order_and_best():
    grid = {"lr": [1e-3, 1e-2, 1e-1], "weight_decay": [1e-5, 1e-4]}
    calls = []

    def objective(lr, weight_decay):
        calls.append((lr, weight_decay))
        return bowl(lr, weight_decay)

    result = grid_search(objective, grid)
    assert calls == [(a, b) for a in grid["lr"] for b in grid["weight_decay"]]
    assert result.best_params == {"lr": 1e-2, "weight_decay": 1e-4}
    assert len(result.trials) == 6


def test_random_search_beats_a_grid_of_the_same_budget_most_of_the_time():
    grid = grid_search(bowl, {"lr": list(np.geomspace(1e-4, 1, 3) * 3),
                              "weight_decay": list(np.geomspace(1e-6, 1e-1, 3))})
    space = {"lr": LogUniform(1e-4, 1.0), "weight_decay": LogUniform(1e-6, 1e-1)}
    wins = [random_search(bowl, space, 9, rng=np.random.default_rng(s)).best_score
            < grid.best_score for s in range(200)]
    assert np.mean(wins) > 0.7


@PROPERTY
@given(st.integers(1, 12), st.integers(0, 2**31))
def test_random_search_is_reproducible_and_in_range(num_trials, seed):
    space = {"lr": LogUniform(1e-5, 1e-1), "momentum": Uniform(0.5, 0.99), "k": [1, 2, 3]}

    def objective(lr, momentum, k):
        return lr * momentum * k

    a = random_search(objective, space, num_trials, rng=np.random.default_rng(seed))
    b = random_search(objective, space, num_trials, rng=np.random.default_rng(seed))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    for t in a.trials:
        assert 1e-5 <= t.params["lr"] < 1e-1 and 0.5 <= t.params["momentum"] < 0.99
        assert t.params["k"] in (1, 2, 3)


def test_architecture_search():
    def score(depth, width):
        return 1.0 - 0.1 * (depth - 2) ** 2 - 0.05 * (np.log2(width) - 5) ** 2

    d, w, scores = architecture_search(score, [1, 2, 4, 8], [8, 32, 128])
    assert (d, w) == (2, 32) and isinstance(d, int) and isinstance(w, int)
    assert scores.shape == (4, 3)
    assert scores[2, 0] == score(4, 8)
    assert architecture_search(lambda d, w: 0.5, [3, 1], [16, 4])[:2] == (3, 16)
    assert architecture_search(lambda d, w: np.nan if d == 1 else d, [1, 2], [4])[:2] == (2, 4)


def test_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^log_uniform: a log-uniform range needs 0 < low"):
        log_uniform(0.0, 1.0, rng=rng)
    with pytest.raises(ValueError, match="^log_uniform: need low < high"):
        log_uniform(1.0, 0.1, rng=rng)
    with pytest.raises(ValueError, match="^log_uniform: rng must be"):
        log_uniform(0.1, 1.0, rng=0)
    with pytest.raises(ValueError, match="^LogUniform: need low < high"):
        LogUniform(1.0, 1.0)
    with pytest.raises(ValueError, match="^Uniform: high must be finite"):
        Uniform(0.0, math.inf)
    with pytest.raises(ValueError, match="^random_search: num_trials must be a positive"):
        random_search(bowl, {"lr": LogUniform(1e-3, 1)}, 0, rng=rng)
    with pytest.raises(ValueError, match=r"^random_search: space\['lr'\] must be"):
        random_search(bowl, {"lr": (1e-3, 1.0, 2.0)[:0]}, 2, rng=rng)
    with pytest.raises(ValueError, match="^random_search: space must be a non-empty dict"):
        random_search(bowl, {}, 2, rng=rng)
    with pytest.raises(ValueError, match="^random_search: the objective must return a number"):
        random_search(lambda lr: "x", {"lr": LogUniform(1e-3, 1)}, 2, rng=rng)
    with pytest.raises(ValueError, match=r"^grid_search: grid\['a'\] must be a non-empty list"):
        grid_search(lambda a: 0.0, {"a": []})
    with pytest.raises(ValueError, match="^grid_search: objective must be a function"):
        grid_search(3, {"a": [1]})
    with pytest.raises(ValueError, match="^architecture_search: widths is empty"):
        architecture_search(lambda d, w: 0.0, [1], [])
    with pytest.raises(ValueError, match="^architecture_search: every score is NaN"):
        architecture_search(lambda d, w: np.nan, [1], [2])
