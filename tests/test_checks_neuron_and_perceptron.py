"""nncourse.checks.neuron_and_perceptron: lesson 01's checks, in process, on right and wrong code.

The notebook's own solution cells pass the visible and the hidden checks; each classic mistake
fails with the message that names its cause; check cells fit on a screen.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from nbtools import is_solution, is_test, read, release_path, solution_body, source_path
from nncourse.checks import neuron_and_perceptron as checks
from nncourse.testing import GradingError

NAME = "01_neuron_and_perceptron"
EXERCISES = ["weighted_sum", "step", "sigmoid_unit", "perceptron_update", "train_perceptron"]


def _solutions() -> dict:
    ns: dict = {"np": np}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    return _solutions()


def _with(**replaced: str) -> dict:
    """A fresh namespace of the solutions where some functions are replaced (by source)."""
    ns = _solutions()
    for source in replaced.values():
        exec(source, ns)
    return ns


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies(exercise):
    assert getattr(checks, exercise).__doc__.count("\n    - ") >= 4
    assert getattr(checks, f"{exercise}_hidden").__doc__


def test_the_checks_see_the_notebooks_data_set():
    import nnlib.perceptron

    X, y = nnlib.perceptron.make_separable(100, margin=0.1, rng=np.random.default_rng(0))
    X_c, y_c = checks._separable()
    assert np.array_equal(X, X_c) and np.array_equal(y, y_c)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_exercise_refuses_its_reference(exercise):
    import nnlib.perceptron

    with pytest.raises(GradingError, match="reference implementation"):
        getattr(checks, exercise)(getattr(nnlib.perceptron, exercise))


# --- weighted_sum -----------------------------------------------------------------------------


def _ws_in_place(x, w, b):
    x *= w
    return x.sum(axis=-1) + b


def _ws_no_bias(x, w, b):
    return x @ w


def _ws_bias_twice(x, w, b):
    return x @ w + 2 * b


def _ws_axis0(x, w, b):
    return np.sum(x * w, axis=0) + b


@pytest.mark.parametrize(("wrong", "message"), [
    (_ws_in_place, r"modified its input x in place \(as `x \*= w` does\)"),
    (_ws_no_bias, r"with w = 0 the weighted sum is just b"),
    (_ws_bias_twice, r"add the bias b, once"),
    (_ws_axis0, r"over the examples \(axis 0\) instead of over the features"),
])
def test_weighted_sum_messages(wrong, message):
    with pytest.raises(GradingError, match=message):
        checks.weighted_sum(wrong)


# --- step -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda z: (np.asarray(z) > 0).astype(float), r"convention is step\(0\) = 1"),
    (lambda z: np.asarray(z) >= 0, r"should return floats"),
    (lambda z: np.where(np.asarray(z) >= 0, 1.0, 0.0)[:len(z)], r"must also accept a single"),
])
def test_step_messages(wrong, message):
    with pytest.raises(GradingError, match=message):
        checks.step(wrong)


def test_step_in_place():
    def overwrite(z):
        z[...] = (z >= 0)
        return z.astype(float)

    with pytest.raises(GradingError, match="modified its input z in place"):
        checks.step(overwrite)


# --- sigmoid_unit -----------------------------------------------------------------------------


def test_sigmoid_unit_sign_inside_exp_is_named(sol):
    ns = _with(f="def sigmoid_unit(x, w, b):\n"
                 "    return 1 / (1 + np.exp(weighted_sum(x, w, b)))\n")
    with pytest.raises(GradingError, match="sign inside np.exp"):
        checks.sigmoid_unit(ns["sigmoid_unit"])


def test_sigmoid_unit_inf_over_inf_is_named(sol):
    ns = _with(f="def sigmoid_unit(x, w, b):\n    e = np.exp(weighted_sum(x, w, b))\n"
                      "    return e / (1 + e)\n")
    with pytest.raises(GradingError, match=r"NaN .* inf / inf"), np.errstate(all="ignore"):
        checks.sigmoid_unit(ns["sigmoid_unit"])


def test_sigmoid_unit_refuses_nnlibs_sigmoid(sol):
    ns = _with(f="import nnlib.activations\ndef sigmoid_unit(x, w, b):\n"
                      "    return nnlib.activations.sigmoid(weighted_sum(x, w, b))\n")
    with pytest.raises(GradingError, match="reference implementation"):
        checks.sigmoid_unit(ns["sigmoid_unit"])


# --- perceptron_update ------------------------------------------------------------------------

UPDATE_IN_PLACE = """
def perceptron_update(w, b, x, y, lr):
    error = y - step(weighted_sum(x, w, b))
    w += lr * error * x
    return w, b + lr * error
"""
UPDATE_STRICT = """
def perceptron_update(w, b, x, y, lr):
    error = y - (weighted_sum(x, w, b) > 0)
    return w + lr * error * x, b + lr * error
"""
UPDATE_NO_B = """
def perceptron_update(w, b, x, y, lr):
    error = y - step(weighted_sum(x, w, b))
    return w + lr * error * x, b
"""
UPDATE_LIST = """
def perceptron_update(w, b, x, y, lr):
    error = y - step(weighted_sum(x, w, b))
    return [w + lr * error * x, b + lr * error]
"""
UPDATE_SIGN = """
def perceptron_update(w, b, x, y, lr):
    error = step(weighted_sum(x, w, b)) - y
    return w + lr * error * x, b + lr * error
"""


@pytest.mark.parametrize(("source", "message"), [
    (UPDATE_IN_PLACE, r"modified its input w in place \(as `w \+= \.\.\.` does"),
    (UPDATE_STRICT, r"left w and b unchanged on the worked example.*step\(0\) = 1"),
    (UPDATE_NO_B, r"was b updated"),
    (UPDATE_LIST, r"should return a tuple \(w_new, b_new\), got list"),
    (UPDATE_SIGN, r"wrong sign"),
])
def test_perceptron_update_messages(sol, source, message):
    ns = _with(f=source)
    with pytest.raises(GradingError, match=message):
        checks.perceptron_update(ns["perceptron_update"])


# --- train_perceptron -------------------------------------------------------------------------

TRAIN_SHUFFLE_X = """
def train_perceptron(X, y, *, epochs, lr, rng):
    w, b = np.zeros(X.shape[1]), 0.0
    errors = np.zeros(epochs, dtype=int)
    for epoch in range(epochs):
        rng.shuffle(X)
        for i in range(len(X)):
            if step(weighted_sum(X[i], w, b)) != y[i]:
                errors[epoch] += 1
            w, b = perceptron_update(w, b, X[i], y[i], lr)
    return w, b, errors
"""
TRAIN_ONE_ORDER = """
def train_perceptron(X, y, *, epochs, lr, rng):
    w, b = np.zeros(X.shape[1]), 0.0
    errors = np.zeros(epochs, dtype=int)
    order = rng.permutation(len(X))
    for epoch in range(epochs):
        for i in order:
            if step(weighted_sum(X[i], w, b)) != y[i]:
                errors[epoch] += 1
            w, b = perceptron_update(w, b, X[i], y[i], lr)
    return w, b, errors
"""
TRAIN_GLOBAL_RNG = """
def train_perceptron(X, y, *, epochs, lr, rng):
    w, b = np.zeros(X.shape[1]), 0.0
    errors = np.zeros(epochs, dtype=int)
    for epoch in range(epochs):
        for i in np.random.permutation(len(X)):
            if step(weighted_sum(X[i], w, b)) != y[i]:
                errors[epoch] += 1
            w, b = perceptron_update(w, b, X[i], y[i], lr)
    return w, b, errors
"""
TRAIN_FLOAT_ERRORS = """
def train_perceptron(X, y, *, epochs, lr, rng):
    w, b = np.zeros(X.shape[1]), 0.0
    errors = np.zeros(epochs)
    for epoch in range(epochs):
        for i in rng.permutation(len(X)):
            if step(weighted_sum(X[i], w, b)) != y[i]:
                errors[epoch] += 1
            w, b = perceptron_update(w, b, X[i], y[i], lr)
    return w, b, errors
"""
TRAIN_TWO_VALUES = """
def train_perceptron(X, y, *, epochs, lr, rng):
    w, b = np.zeros(X.shape[1]), 0.0
    for epoch in range(epochs):
        for i in rng.permutation(len(X)):
            w, b = perceptron_update(w, b, X[i], y[i], lr)
    return w, b
"""


@pytest.mark.parametrize(("source", "message"), [
    (TRAIN_SHUFFLE_X, r"modified X in place \(rng.shuffle\(X\) does\)"),
    (TRAIN_ONE_ORDER, r"drew rng.permutation\(N\) 1 time in 4 epochs \(once before the loop\?\)"),
    (TRAIN_GLOBAL_RNG, r"never drew from its `rng` argument"),
    (TRAIN_FLOAT_ERRORS, r"errors should hold integers"),
    (TRAIN_TWO_VALUES, r"returned 2 values; expected 3: \(w, b, errors\)"),
])
def test_train_perceptron_messages(sol, source, message):
    ns = _with(f=source)
    with pytest.raises(GradingError, match=message):
        checks.train_perceptron(ns["train_perceptron"])


def test_train_perceptron_hidden_replays_the_rng(sol):
    ns = _with(f=TRAIN_ONE_ORDER)
    with pytest.raises(GradingError, match="on a hidden case drew rng.permutation"):
        checks.train_perceptron_hidden(ns["train_perceptron"])


# --- the notebook -----------------------------------------------------------------------------


def test_check_cells_fit_on_a_screen_and_call_the_lesson_checks():
    for cell in read(release_path(NAME)).cells:
        if is_test(cell):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= 10, (cell.id, len(lines))
            assert "from nncourse.checks import neuron_and_perceptron as checks" in cell.source
            assert re.search(r"^checks\.\w+\(\w+\)$", cell.source, re.M), cell.id


# --- the learner's report of lesson 01 --------------------------------------------------------

EARLY_STOP = '''
def train_perceptron(X, y, *, epochs, lr, rng):
    N, D = X.shape
    w, b = np.zeros(D), 0.0
    errors = []
    for epoch in range(epochs):
        count = 0
        for i in rng.permutation(N):
            if step(weighted_sum(X[i], w, b)) != y[i]:
                count += 1
            w, b = perceptron_update(w, b, X[i], y[i], lr)
        errors.append(count)
        if count == 0:
            break
    return w, b, np.array(errors)
'''


@pytest.mark.parametrize(("exercise", "source", "message", "absent"), [
    ("weighted_sum", "def weighted_sum(x, w, b):\n    return w @ x + b\n",
     r"X_check = \[\[1, 2, 3\].*computes w @ x: the operands are swapped", None),
    ("step", "def step(z):\n    return float(z >= 0)\n",
     r"float\(\.\.\.\), int\(\.\.\.\) and the `math` functions take a single number.*astype",
     r"Hint: the `math` module"),
    ("step", "def step(z):\n    z = np.asarray(z)\n    out = np.zeros_like(z)\n"
     "    out[z >= 0] = 1.0\n    return out\n",
     r"an integer z, returned dtype int64.*zeros_like", None),
    ("sigmoid_unit", "def sigmoid_unit(x, w, b):\n    return step(weighted_sum(x, w, b))\n",
     r"returned 1\.0 for the weighted sum 0.*threshold \(step\) in place of the sigmoid",
     r"factor"),
    ("perceptron_update", "def perceptron_update(w, b, x, y, lr):\n"
     "    err = y - step(weighted_sum(x, w, b))\n    return b + lr * err, w + lr * err * x\n",
     r"Did you return \(b_new, w_new\)\?", r"axis"),
    ("perceptron_update", "def perceptron_update(w, b, x, y, lr):\n"
     "    err = y - 1 / (1 + np.exp(-weighted_sum(x, w, b)))\n"
     "    return w + lr * err * x, b + lr * err\n",
     r"half as far.*as the sigmoid gives.*predicts with step", r"1/N"),
    ("train_perceptron", EARLY_STOP,
     r"has 2 entries, one per epoch that ran: did you stop early.*no early stop", r"reduce"),
])
def test_report_mistakes_are_named(exercise, source, message, absent):
    fn = _with(x=source)[exercise]
    with pytest.raises(GradingError) as info:
        getattr(checks, exercise)(fn)
    text = str(info.value)
    assert re.search(message, text, re.S), text
    if absent:
        assert not re.search(absent, text), text
