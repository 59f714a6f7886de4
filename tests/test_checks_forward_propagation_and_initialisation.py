"""nncourse.checks.forward_propagation_and_initialisation: lesson 04's checks, in process.

The notebook's own solution cells pass the visible and the hidden checks; each classic mistake
fails with the message that names its cause; hidden messages show no hidden seed or value.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib.init
import nnlib.layers
import nnlib.mlp
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import forward_propagation_and_initialisation as checks
from nncourse.testing import GradingError, hidden_seed
from nnlib.activations import leaky_relu_forward, relu_forward, sigmoid_forward, tanh_forward

NAME = "04_forward_propagation_and_initialisation"
EXERCISES = ["linear_forward", "mlp_forward", "xavier_uniform", "he_normal"]
ACTIVATIONS = {"relu": relu_forward, "tanh": tanh_forward, "sigmoid": sigmoid_forward,
               "leaky_relu": leaky_relu_forward}


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed with the setup cell's names."""
    ns: dict = {"np": np, "ACTIVATIONS": ACTIVATIONS}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


def test_the_setup_cell_defines_activations():
    setup = next(c for c in read(source_path(NAME)).cells if c.id == "setup")
    ns: dict = {}
    exec(setup.source.replace("from nnlib.data import load_digits", ""), ns)
    assert sorted(ns["ACTIVATIONS"]) == sorted(checks.ACTIVATION_NAMES)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies(exercise):
    assert getattr(checks, exercise).__doc__.count("\n    - ") >= 4
    assert getattr(checks, f"{exercise}_hidden").__doc__


@pytest.mark.parametrize(("exercise", "ref"), [
    ("linear_forward", nnlib.layers.linear_forward), ("mlp_forward", nnlib.mlp.mlp_forward),
    ("xavier_uniform", nnlib.init.xavier_uniform), ("he_normal", nnlib.init.he_normal)])
def test_the_reference_scores_nothing(exercise, ref):
    def wrapper(*args, **kwargs):
        return ref(*args, **kwargs)

    for fn in (ref, wrapper):
        with pytest.raises(GradingError, match="reference implementation"):
            getattr(checks, exercise)(fn)


def _fails(check, fn, pattern):
    with pytest.raises(GradingError, match=pattern) as info:
        check(fn)
    return str(info.value)


# --- linear_forward ----------------------------------------------------------------------


def test_linear_forward_messages():
    _fails(checks.linear_forward, lambda X, W, b: X @ W + b[:, None], r"don't reshape b")
    _fails(checks.linear_forward, lambda X, W, b: W @ X + b, r"rows of X are examples")
    _fails(checks.linear_forward, lambda X, W, b: X @ W + b, r"should return a pair")
    _fails(checks.linear_forward, lambda X, W, b: (X @ W, (X, W, b)), r"did you add b\?")
    _fails(checks.linear_forward, lambda X, W, b: (X @ W + b, (W, X, b)),
           r"cache\[0\] should be X.*in that order")

    def stub(X, W, b):
        raise NotImplementedError

    _fails(checks.linear_forward, stub, r"not\s+written yet")


# --- mlp_forward -------------------------------------------------------------------------


def _mlp(*, unpack=True, last_hidden=False, act_on_last=False, hard_relu=False,
         drop_act_cache=False):
    def mlp_forward(X, params, activation="relu"):
        caches, h = [], X
        for i, (W, b) in enumerate(params):
            z, lin = h @ W + b, (h, W, b)
            act = None
            if i < len(params) - 1 or act_on_last:
                f = ACTIVATIONS["relu" if hard_relu else activation]
                if unpack:
                    out, act = f(z)
                else:
                    out = f(z)
                if last_hidden and i == len(params) - 1:
                    break
                z = out
            if drop_act_cache:
                act = None
            h = z
            caches.append((lin, act))
        return h, caches
    return mlp_forward


def test_mlp_forward_messages():
    # linear_forward is the learner's own in the notebook; nnlib's is allowed for lesson 04's
    # mlp_forward (only nnlib.mlp.mlp_forward is the reference).
    _fails(checks.mlp_forward, _mlp(unpack=False), r"leading axis of 2 is the \(out, cache\)")
    _fails(checks.mlp_forward, _mlp(act_on_last=True), r"activation_cache should be\s+None")
    _fails(checks.mlp_forward, _mlp(hard_relu=True), r"use the activation\s+argument")
    _fails(checks.mlp_forward, _mlp(drop_act_cache=True), r"activation_cache is None: keep")


def test_mlp_forward_returning_the_last_hidden_layer_is_named():
    def mlp_forward(X, params, activation="relu"):
        h, caches = X, []
        for W, b in params[:-1]:
            z, lin = h @ W + b, (h, W, b)
            h, act = ACTIVATIONS[activation](z)
            caches.append((lin, act))
        caches.append((None, None))
        return h, caches

    _fails(checks.mlp_forward, mlp_forward, r"the width of a hidden\s+layer")


def _mlp_activating(which):
    """An MLP that applies the activation only after the hidden layers for which
    ``which(i, L)`` holds (``None``: computes it but keeps z)."""
    def mlp_forward(X, params, activation="relu"):
        caches, h = [], X
        for i, (W, b) in enumerate(params):
            z, lin = h @ W + b, (h, W, b)
            act = None
            if i < len(params) - 1:
                out, act = ACTIVATIONS[activation](z)
                if which is not None and which(i, len(params)):
                    z = out
            h = z
            caches.append((lin, act))
        return h, caches
    return mlp_forward


def test_mlp_forward_activating_only_one_hidden_layer_is_named():
    """Both passed the visible checks, whose networks had at most one hidden layer."""
    _fails(checks.mlp_forward, _mlp_activating(lambda i, L: i == 0),
           r"two hidden layers.*the second did not.*not only the first")
    _fails(checks.mlp_forward, _mlp_activating(lambda i, L: i == L - 2),
           r"two hidden layers.*second layer's input.*is z of the first hidden layer")


def test_mlp_forward_keeping_z_is_named_not_blamed_on_a_sign():
    """It read "Every value has the wrong sign"; the activation's output was discarded."""
    message = _fails(checks.mlp_forward, _mlp_activating(None),
                     r"no activation at all.*compute\s+the activation but keep z")
    assert "sign" not in message


# --- initialisers ------------------------------------------------------------------------


def test_xavier_uniform_messages():
    def global_rng(shape, *, rng):
        a = np.sqrt(6 / (shape[0] + shape[1]))
        return np.random.uniform(-a, a, size=shape)  # noqa: NPY002 (the mistake under test)

    def new_rng(shape, *, rng):
        a = np.sqrt(6 / (shape[0] + shape[1]))
        return np.random.default_rng(0).uniform(-a, a, size=shape)

    def other_call(shape, *, rng):           # the right distribution, drawn column by column
        a = np.sqrt(6 / (shape[0] + shape[1]))
        return rng.uniform(-a, a, size=shape[::-1]).T.copy()

    def wrong_bound(shape, *, rng):
        a = np.sqrt(3 / (shape[0] + shape[1]))
        return rng.uniform(-a, a, size=shape)

    _fails(checks.xavier_uniform, global_rng, r"NumPy's global generator")
    _fails(checks.xavier_uniform, new_rng, r"same numbers.*creating a new generator")
    _fails(checks.xavier_uniform, other_call, r"exactly those of rng\.uniform\(-a, a")
    _fails(checks.xavier_uniform, wrong_bound, r"should fill the whole interval")
    _fails(checks.xavier_uniform, lambda shape, *, rng: rng.uniform(-1, 1, size=shape).tolist(),
           r"not a NumPy array")


def test_he_normal_messages():
    def variance(shape, *, rng):
        return rng.normal(0.0, 2 / shape[0], size=shape)

    def fan_out(shape, *, rng):
        return rng.normal(0.0, np.sqrt(2 / shape[1]), size=shape)

    def uniform(shape, *, rng):
        a = np.sqrt(3) * np.sqrt(2 / shape[0])
        return rng.uniform(-a, a, size=shape)

    _fails(checks.he_normal, variance, r"standard deviation \(not\s+the variance\)")
    _fails(checks.he_normal, fan_out, r"which fan it uses")
    _fails(checks.he_normal, uniform, r"not a uniform")
    _fails(checks.he_normal, lambda shape, *, rng: rng.normal(0.0, np.sqrt(2 / shape[0]),
                                                              size=shape).astype(np.float32),
           r"dtype float32; expected float64")


def test_hidden_messages_name_no_hidden_seed(sol):
    def almost(shape, *, rng):
        return sol["xavier_uniform"](shape, rng=rng) * (1 + 1e-3)

    with pytest.raises(GradingError, match="hidden case") as info:
        checks.xavier_uniform_hidden(almost)
    seed = hidden_seed(f"{checks.SLUG}/xavier_uniform")
    assert str(seed) not in str(info.value)

    def too_narrow(shape, *, rng):
        if shape == (37, 800):
            return sol["xavier_uniform"](shape, rng=rng) * 0.5
        return sol["xavier_uniform"](shape, rng=rng)

    message = _fails(checks.xavier_uniform_hidden, too_narrow, r"<a hidden generator>")
    assert not re.search(r"default_rng\(\d+\)", message)


def test_mlp_forward_hand_scores_show_got_and_expected():
    """The (1, 1) scores of the hand example (printed by the notebook) are shown when wrong."""
    def doubled(X, params, activation="relu"):
        caches, h = [], X
        for i, (W, b) in enumerate(params):
            z, act = h @ W + b, None
            if i < len(params) - 1:
                z, act = ACTIVATIONS[activation](z)
                z = 2 * z
            caches.append(((h, W, b), act))
            h = z
        return h, caches

    _fails(checks.mlp_forward, doubled, r"Got 2\.25, expected 1\.25")
