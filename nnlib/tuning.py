"""Hyperparameter search with a fixed budget of trials: grid search, random search, and a tiny
search over a network's depth and width.

An objective ``objective(**params) -> float`` trains and scores one setting (for example the
validation loss). ``grid_search`` tries every combination of given values; ``random_search``
draws each setting at random from a ``space`` with the injected ``rng``. With the same budget,
random search tries as many distinct values of every hyperparameter as it has trials, where a
grid tries only a few per axis, which wins when few hyperparameters matter (Bergstra & Bengio,
2012). Scale parameters such as a learning rate or a weight decay are drawn log-uniformly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnlib._validate import check_positive_int, check_rng

__all__ = [
    "log_uniform",
    "LogUniform",
    "Uniform",
    "Trial",
    "SearchResult",
    "grid_search",
    "random_search",
    "architecture_search",
]


def _check_range(low: float, high: float, fn: str, log: bool) -> tuple[float, float]:
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise ValueError(f"{fn}: {name} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{fn}: {name} must be finite, got {v!r}")
    if log and low <= 0:
        raise ValueError(f"{fn}: a log-uniform range needs 0 < low, got low={low!r}")
    if not low < high:
        raise ValueError(f"{fn}: need low < high, got low={low!r}, high={high!r}")
    return float(low), float(high)


def log_uniform(
    low: float, high: float, size: int | tuple[int, ...] | None = None, *,
    rng: np.random.Generator,
) -> float | np.ndarray:
    """exp(u) with u ~ U(log low, log high): every decade between low and high equally likely.

    Shapes: size None -> a float; an int or a tuple -> an array of that shape. One draw of
    ``rng.uniform`` per value.
    """
    fn = "log_uniform"
    low, high = _check_range(low, high, fn, log=True)
    check_rng(rng, fn)
    u = rng.uniform(math.log(low), math.log(high), size=size)
    return float(np.exp(u)) if size is None else np.exp(u)


@dataclass(frozen=True)
class LogUniform:
    """A range [low, high) sampled log-uniformly (``log_uniform``); for scale parameters."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range(self.low, self.high, "LogUniform", log=True)

    def sample(self, rng: np.random.Generator) -> float:
        return float(log_uniform(self.low, self.high, rng=rng))


@dataclass(frozen=True)
class Uniform:
    """A range [low, high) sampled uniformly: ``rng.uniform(low, high)``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range(self.low, self.high, "Uniform", log=False)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Trial:
    """One evaluated setting: ``params`` {name: value}, its ``score``, and ``index``, its place
    in the order the trials ran (0 first)."""

    params: dict[str, Any]
    score: float
    index: int


@dataclass
class SearchResult:
    """All trials, best first (ties keep the order they ran in); ``minimize`` says which way
    is better. ``best``, ``best_params`` and ``best_score`` read the first trial."""

    trials: list[Trial]
    minimize: bool = True
    in_order: list[Trial] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.in_order = sorted(self.trials, key=lambda t: t.index)

    @property
    def best(self) -> Trial:
        return self.trials[0]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.trials[0].params)

    @property
    def best_score(self) -> float:
        return self.trials[0].score

    def scores(self) -> np.ndarray:
        """The scores in the order the trials ran.  Shape (T,)."""
        return np.array([t.score for t in self.in_order])


def _score(objective: Callable[..., float], params: dict[str, Any], fn: str) -> float:
    value = objective(**params)
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: the objective must return a number, got {value!r}") from None
    return score


def _ranked(trials: list[Trial], minimize: bool) -> SearchResult:
    # NaN (a diverged run) ranks last either way; sorted() is stable, so ties keep run order.
    def key(t: Trial) -> tuple[bool, float]:
        return (math.isnan(t.score), t.score if minimize else -t.score)

    return SearchResult(sorted(trials, key=key), minimize=minimize)


def grid_search(
    objective: Callable[..., float],
    grid: Mapping[str, Sequence[Any]],
    *,
    minimize: bool = True,
) -> SearchResult:
    """Evaluate ``objective(**params)`` on every combination of the values in ``grid``.

    The combinations run in the order of ``itertools.product`` over the grid's values, in the
    grid's key order (the last key changes fastest): prod(len(values)) trials in all.
    """
    fn = "grid_search"
    if not callable(objective):
        raise ValueError(f"{fn}: objective must be a function, got {objective!r}")
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"{fn}: grid must be a non-empty dict {{name: [values]}}, got {grid!r}")
    names = list(grid)
    values = []
    for name in names:
        options = grid[name]
        if isinstance(options, str) or not isinstance(options, Sequence) or len(options) == 0:
            raise ValueError(f"{fn}: grid[{name!r}] must be a non-empty list of values")
        values.append(list(options))
    trials = []
    for i, combo in enumerate(itertools.product(*values)):
        params = dict(zip(names, combo, strict=True))
        trials.append(Trial(params, _score(objective, params, fn), i))
    return _ranked(trials, minimize)


def _sample(dist: Any, rng: np.random.Generator, name: str, fn: str) -> Any:
    if hasattr(dist, "sample"):
        return dist.sample(rng)
    if isinstance(dist, list | tuple) and len(dist) > 0:
        return dist[int(rng.integers(len(dist)))]
    raise ValueError(
        f"{fn}: space[{name!r}] must be LogUniform(low, high), Uniform(low, high) or a "
        f"non-empty list of choices, got {dist!r}"
    )


def random_search(
    objective: Callable[..., float],
    space: Mapping[str, Any],
    num_trials: int,
    *,
    rng: np.random.Generator,
    minimize: bool = True,
) -> SearchResult:
    """Evaluate ``objective(**params)`` on ``num_trials`` settings drawn at random from ``space``.

    ``space`` maps each name to ``LogUniform(low, high)``, ``Uniform(low, high)`` or a list of
    choices (one drawn with ``rng.integers``). The draws go trial by trial and, within a trial,
    in the space's key order, each hyperparameter with its own call to ``rng``; each trial is
    evaluated as soon as it is drawn.
    """
    fn = "random_search"
    if not callable(objective):
        raise ValueError(f"{fn}: objective must be a function, got {objective!r}")
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"{fn}: space must be a non-empty dict {{name: distribution}}")
    num_trials = check_positive_int(num_trials, fn, "num_trials")
    check_rng(rng, fn)
    trials = []
    for i in range(num_trials):
        params = {name: _sample(dist, rng, name, fn) for name, dist in space.items()}
        trials.append(Trial(params, _score(objective, params, fn), i))
    return _ranked(trials, minimize)


def architecture_search(
    score: Callable[[int, int], float],
    depths: Sequence[int],
    widths: Sequence[int],
) -> tuple[int, int, np.ndarray]:
    """Evaluate ``score(depth, width)`` (higher is better, e.g. a validation accuracy) for every
    depth and width; return (best depth, best width, scores).

    Shapes: depths (A,), widths (B,) -> scores (A, B) with scores[i, j] =
    score(depths[i], widths[j]), evaluated row by row. A tie goes to the first best in that
    order (the smaller index of depths, then of widths), as ``np.argmax`` picks it.
    """
    fn = "architecture_search"
    if not callable(score):
        raise ValueError(f"{fn}: score must be a function, got {score!r}")
    for name, values in (("depths", depths), ("widths", widths)):
        if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"{fn}: {name} must be a list of integers, got {values!r}")
        if len(values) == 0:
            raise ValueError(f"{fn}: {name} is empty")
    scores = np.array([[float(score(int(d), int(w))) for w in widths] for d in depths])
    if np.all(np.isnan(scores)):
        raise ValueError(f"{fn}: every score is NaN")
    i, j = np.unravel_index(int(np.nanargmax(scores)), scores.shape)
    return int(depths[i]), int(widths[j]), scores
