"""nncourse.checks.getting_started: lesson 00's checks, run in process on right and wrong code.

The notebook's own solution cells pass the visible and the hidden checks; each classic mistake
fails with the message that names its cause; check cells fit on a screen.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from nbtools import is_solution, is_test, read, release_path, solution_body, source_path
from nncourse.checks import getting_started as checks
from nncourse.testing import GradingError

NAME = "00_getting_started"


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


@pytest.mark.parametrize("exercise", ["one_hot", "standardize"])
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", ["one_hot", "standardize"])
def test_each_check_lists_what_it_verifies(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 3, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__


# --- one_hot ----------------------------------------------------------------------------------


def test_one_hot_refuses_the_reference():
    import nnlib.basics

    with pytest.raises(GradingError, match="reference implementation"):
        checks.one_hot(nnlib.basics.one_hot)

    def wrapper(y, num_classes):
        return nnlib.basics.one_hot(y, num_classes)

    with pytest.raises(GradingError, match="reference implementation"):
        checks.one_hot(wrapper)


def test_one_hot_not_written():
    def stub(y, num_classes):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        checks.one_hot(stub)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda y, K: (np.asarray(y)[:, None] == np.arange(K)).tolist(), "should return a NumPy"),
    (lambda y, K: np.asarray(y)[:, None] == np.arange(K), r"dtype bool.*floats \(0\.0 and 1\.0\)"),
    (lambda y, K: (np.asarray(y)[:, None] == np.arange(K)).astype(int), "dtype int"),
    (lambda y, K: (np.asarray(y)[None, :] == np.arange(K)[:, None]).astype(float),
     "looks transposed"),
    (lambda y, K: (np.asarray(y)[:, None] == np.arange(np.max(y) + 1)).astype(float),
     r"never occur: still K = 4 columns"),
])
def test_one_hot_messages(wrong, message):
    with pytest.raises(GradingError, match=message):
        checks.one_hot(wrong)


def test_one_hot_in_place_labels():
    def scribble(y, num_classes):
        out = (y[:, None] == np.arange(num_classes)).astype(float)
        y[:] = 0
        return out

    with pytest.raises(GradingError, match="modified its input `y` in place"):
        checks.one_hot(scribble)


def test_one_hot_hidden_catches_a_fixed_number_of_classes():
    def three(y, num_classes):
        return (np.asarray(y)[:, None] == np.arange(3)).astype(float)

    with pytest.raises(GradingError, match="hidden case"):
        checks.one_hot_hidden(three)


# --- standardize ------------------------------------------------------------------------------


def _wrong_axis(X, eps=1e-8):
    return (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + eps)


def _in_place(X, eps=1e-8):
    X -= X.mean(axis=0)
    X /= X.std(axis=0) + eps
    return X


def _no_eps(X, eps=1e-8):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _eps_in_sqrt(X, eps=1e-8):
    return (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0) + eps)


def _sample_std(X, eps=1e-8):
    return (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + eps)


def _returns_none(X, eps=1e-8):
    (X - X.mean(axis=0)) / (X.std(axis=0) + eps)


@pytest.mark.parametrize(("wrong", "message"), [
    (_wrong_axis, r"per row \(axis=1\) instead of per column \(axis=0\)"),
    (_in_place, "modified its input X in place"),
    (_no_eps, r"NaN in column 2, a constant column.*add eps"),
    (_eps_in_sqrt, r"tiny spread.*eps inside the square root"),
    (_sample_std, r"ddof"),
    (_returns_none, "forget the `return`"),
])
def test_standardize_messages(wrong, message):
    with pytest.raises(GradingError, match=message):
        with np.errstate(divide="ignore", invalid="ignore"):
            checks.standardize(wrong)


def test_standardize_hidden_catches_the_wrong_axis_without_printing_values():
    with pytest.raises(GradingError, match="hidden case") as info:
        checks.standardize_hidden(_wrong_axis)
    assert "Got" not in str(info.value) and "expected [" not in str(info.value)


# --- the notebook -----------------------------------------------------------------------------


def test_check_cells_fit_on_a_screen_and_call_the_lesson_checks():
    for cell in read(release_path(NAME)).cells:
        if is_test(cell):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= 10, (cell.id, len(lines))
            assert "from nncourse.checks import getting_started as checks" in cell.source
            assert re.search(r"^checks\.\w+\(\w+\)$", cell.source, re.M), cell.id


# --- the learner's report of lesson 00 --------------------------------------------------------


def _columns(y, num_classes):
    Y = np.zeros((len(y), num_classes))
    Y[:, y] = 1.0
    return Y


def _k_from_labels(y, num_classes):
    Y = np.zeros((len(y), np.max(y) + 1))
    Y[np.arange(len(y)), y] = 1.0
    return Y


def _no_return(y, num_classes):
    Y = np.zeros((len(y), num_classes))
    Y[np.arange(len(y)), y] = 1.0


@pytest.mark.parametrize(("wrong", "message", "absent"), [
    (_columns, r"`Y\[:, y\] = 1` sets whole columns.*np\.arange\(N\)", None),
    (_k_from_labels, r"returned shape \(2, 1\): 1 column,.*`num_classes` argument",
     r"reduce|axis"),
    (_no_return, r"returned None: did you forget the `return`\?", None),
])
def test_one_hot_report_messages(wrong, message, absent):
    with pytest.raises(GradingError, match=message) as info:
        checks.one_hot(wrong)
    if absent:
        assert not re.search(absent, str(info.value)), str(info.value)


def _hard_coded_eps(X, eps=1e-8):
    return (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)


def _global_stats(X, eps=1e-8):
    return (X - X.mean()) / (X.std() + eps)


def _variance(X, eps=1e-8):
    return (X - X.mean(axis=0)) / (X.var(axis=0) + eps)


def _centred_only(X, eps=1e-8):
    return X - X.mean(axis=0)


@pytest.mark.parametrize(("wrong", "message", "absent"), [
    (_hard_coded_eps, r"ignores its `eps` argument", None),
    (_global_stats, r"whole array.*axis=0", r"axis=1"),
    (_variance, r"X_check = \[\[1, 10, 5\].*divides by the variance", None),
    (_centred_only, r"X_check = \[\[1, 10, 5\].*centres each column but does not scale", None),
])
def test_standardize_report_messages(wrong, message, absent):
    with pytest.raises(GradingError, match=message) as info:
        checks.standardize(wrong)
    if absent:
        assert not re.search(absent, str(info.value)), str(info.value)


def test_standardize_hidden_catches_a_hard_coded_eps():
    with pytest.raises(GradingError, match="with a given eps on hidden case"):
        checks.standardize_hidden(_hard_coded_eps)
