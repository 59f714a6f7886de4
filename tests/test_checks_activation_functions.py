"""nncourse.checks.activation_functions: lesson 02's checks, in process, on right and wrong code.

The notebook's own solution cells pass the visible and the hidden checks; each classic mistake
fails with the message that names its cause; no visible message, check docstring, stub or text
before an exercise states a derivative the learner is meant to derive; check cells fit on a
screen.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from nbtools import is_solution, is_test, read, release_path, solution_body, source_path
from nncourse.checks import activation_functions as checks
from nncourse.testing import GradingError

NAME = "02_activation_functions"
EXERCISES = ["sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "relu",
             "relu_derivative", "leaky_relu", "leaky_relu_derivative", "softmax",
             "softmax_jacobian"]
DERIVATIVES = ["sigmoid_derivative", "tanh_derivative", "relu_derivative",
               "leaky_relu_derivative", "softmax_jacobian"]

#: How the derived results read when written out (code or text); none may reach a learner
#: before the exercise, in the stub, the prose, a demo, a check's docstring or message.
ANSWERS = [
    r"s\s*\*\s*\(\s*1\s*-\s*s\s*\)", r"sigmoid\(x\)\s*\*\s*\(\s*1\s*-\s*sigmoid",
    r"\\sigma\(x\)\s*\\?,?\s*\\bigl?\(\s*1\s*-\s*\\sigma", r"\\sigma\s*\(\s*1\s*-\s*\\sigma",
    r"σ\s*\(\s*1\s*-\s*σ", r"sigma\s*\*\s*\(1\s*-\s*sigma", r"e\^\{-x\}\}\{\(1 \+ e\^\{-x\}\)\^2",
    r"1\s*-\s*\\tanh\^2", r"1\s*-\s*tanh\(x\)\s*\*\*\s*2", r"1\s*-\s*t\s*\*\s*t", r"1 - t\*\*2",
    r"\(1 \+ t\)\(1 - t\)", r"1\s*-\s*tanh\^2",
    r"diag\(p\)\s*-", r"\\operatorname\{diag\}\(\\mathbf\{p\}\)\s*-", r"np\.outer\(p,\s*p\)",
    r"p_k\s*\\?,?\s*\(\s*\\delta", r"p\[k\]\s*\*\s*\(\s*delta", r"p_k\(1 - p_k\)",
    r"p \* \(1 - p\)",
    r"\(x > 0\)\.astype", r"np\.where\(x > 0, 1\.0, negative_slope\)",
    r"\\operatorname\{relu\}'\(x\) =", r"leaky\\_relu\}'\(x\) =", r"1\.0`? where \$?x > 0",
]


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


def _with(source: str) -> dict:
    ns = _solutions()
    exec(source, ns)
    return ns


def _message(check, fn) -> str:
    with pytest.raises(GradingError) as info, np.errstate(all="ignore"):
        check(fn)
    return str(info.value)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies(exercise):
    assert getattr(checks, exercise).__doc__.count("\n    - ") >= 3
    assert getattr(checks, f"{exercise}_hidden").__doc__


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_exercise_refuses_its_reference(exercise):
    import nnlib.activations as act

    ref = {"sigmoid_derivative": act.sigmoid_backward, "tanh_derivative": act.tanh_backward,
           "relu_derivative": act.relu_backward,
           "leaky_relu_derivative": act.leaky_relu_backward}.get(exercise)
    if ref is None:
        ref = getattr(act, exercise)
        assert "reference implementation" in _message(getattr(checks, exercise), ref)
    else:  # a derivative through the backward pass of the reference
        wrapper = {"sigmoid_derivative": lambda x: act.sigmoid_backward(
            np.ones_like(x), act.sigmoid_forward(x)[1])}.get(exercise, lambda *a: ref(*a))
        assert "reference implementation" in _message(getattr(checks, exercise), wrapper)


# --- sigmoid and tanh -------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "fn", "message"), [
    ("def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n", "sigmoid",
     r"overflowed .*np.where computes both branches"),
    ("def sigmoid(x):\n    with np.errstate(over='ignore'):\n        return 1 / (1 + np.exp(-x))\n",
     "sigmoid", r"calls np.errstate"),
    ("def sigmoid(x):\n    x *= -1\n    return 1 / (1 + np.exp(x))\n", "sigmoid",
     r"modified its input x in place"),
    ("def tanh(x):\n    return 2 * sigmoid(x) - 1\n", "tanh", r"1/3: the identity feeds sigmoid"),
    ("def tanh(x):\n    return np.tanh(x)\n", "tanh", r"calls a function named tanh"),
    ("def tanh(x):\n    e, f = np.exp(x), np.exp(-x)\n    return (e - f) / (e + f)\n", "tanh",
     r"returned NaN: the exponential formula computes inf / inf"),
])
def test_forward_messages(source, fn, message):
    assert re.search(message, _message(getattr(checks, fn), _with(source)[fn]))


# --- derivatives ------------------------------------------------------------------------------

MISTAKES = {
    "sigmoid_derivative": [
        ("def sigmoid_derivative(x):\n    return sigmoid(x)\n", r"returned the values of sigmoid "
         r"itself: that is the function, not its slope"),
        ("def sigmoid_derivative(x):\n    s = sigmoid(sigmoid(x))\n    return s * (1 - s)\n",
         r"sigmoid is applied twice"),
        ("def sigmoid_derivative(x):\n    return np.exp(-x) / (1 + np.exp(-x)) ** 2\n",
         r"returned NaN: a formula with np.exp\(-x\).*in terms of sigmoid\(x\) itself"),
        ("def sigmoid_derivative(x):\n    s = sigmoid(x)\n    return s * (s - 1)\n",
         r"wrong sign"),
        ("def sigmoid_derivative(x):\n    s = sigmoid(x)\n    return s * (1 - s) * 2\n",
         r"Got 0\.5, expected 0\.25 there.*same factor \(about 2 times"),
    ],
    "tanh_derivative": [
        ("def tanh_derivative(x):\n    return tanh(x)\n", r"values of tanh itself"),
        ("def tanh_derivative(x):\n    s = sigmoid(2 * x)\n    return 2 * s * (1 - s)\n",
         r"half the right slope everywhere.*inner 2x"),
        ("def tanh_derivative(x):\n    e, f = np.exp(x), np.exp(-x)\n"
         "    return 4 * e * f / (e + f) ** 2\n", r"returned NaN.*in terms of tanh\(x\)"),
        ("def tanh_derivative(x):\n    return 1 - tanh(x)\n", r"Got 0\.4, expected 0\.64 there"),
    ],
    "relu_derivative": [
        ("def relu_derivative(x):\n    return (x >= 0).astype(float)\n",
         r"gives 1\.0 at x = 0\.0.*relu'\(0\) = 0.*> 0, not >= 0"),
        ("def relu_derivative(x):\n    return np.maximum(x, 0.0)\n",
         r"returned relu\(x\) itself"),
        ("def relu_derivative(x):\n    return x > 0\n", r"dtype bool; expected floats"),
        ("def relu_derivative(x):\n    return np.sign(x)\n", r"Got -1, expected 0 there"),
    ],
    "leaky_relu_derivative": [
        ("def leaky_relu_derivative(x, negative_slope=0.01):\n"
         "    return np.where(x >= 0, 1.0, negative_slope)\n",
         r"gives 1\.0 at x = 0\.0.*left-hand piece.*> 0, not >= 0"),
        ("def leaky_relu_derivative(x, negative_slope=0.01):\n"
         "    return np.where(x > 0, 1.0, 0.01)\n", r"use the argument negative_slope"),
        ("def leaky_relu_derivative(x, negative_slope=0.01):\n"
         "    return leaky_relu(x, negative_slope)\n", r"returned leaky_relu\(x\) itself"),
        ("def leaky_relu_derivative(x, negative_slope=0.01):\n"
         "    return np.where(x > 0, 1.0, negative_slope * x)\n",
         r"returns negative_slope \* x for x <= 0.*slope of that straight piece"),
        ("def leaky_relu_derivative(x, negative_slope=0.01):\n"
         "    return np.where(x > 0, 1, 0) + 0 * negative_slope\n", r"Got 0, expected 0\.2"),
    ],
    "softmax_jacobian": [
        ("def softmax_jacobian(x):\n    p = softmax(x)\n    return p * (1 - p)\n",
         r"shape \(3,\)\. J needs one row per output.*leaves out how"),
        ("def softmax_jacobian(x):\n    p = softmax(x)\n    return np.diag(p * (1 - p))\n",
         r"zero off the diagonal.*quotient rule"),
        ("def softmax_jacobian(x):\n    p = softmax(x)\n    return -np.outer(p, p)\n",
         r"right off the diagonal but wrong on it"),
        ("def softmax_jacobian(x):\n    p = softmax(x)\n    return np.outer(p, p) - np.diag(p)\n",
         r"wrong sign"),
    ],
}


@pytest.mark.parametrize(("exercise", "source", "message"), [
    (ex, src, msg) for ex, cases in MISTAKES.items() for src, msg in cases
])
def test_derivative_messages_name_the_cause(exercise, source, message):
    text = _message(getattr(checks, exercise), _with(source)[exercise])
    assert re.search(message, text, re.S), text
    for answer in ANSWERS:
        assert not re.search(answer, text), (answer, text)


@pytest.mark.parametrize("exercise", DERIVATIVES)
def test_no_derivative_in_a_check_docstring(exercise):
    for fn in (getattr(checks, exercise), getattr(checks, f"{exercise}_hidden")):
        for answer in ANSWERS:
            assert not re.search(answer, fn.__doc__), (exercise, answer)


# --- leaky_relu and softmax -------------------------------------------------------------------


@pytest.mark.parametrize(("source", "fn", "message"), [
    ("def leaky_relu(x, negative_slope=0.01):\n    return np.where(x > 0, x, 0.01 * x)\n",
     "leaky_relu", r"gives the values for the slope 0\.01"),
    ("def relu(x):\n    x[x < 0] = 0\n    return x\n", "relu", r"modified its input x in place"),
    ("def softmax(x):\n    e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
     "    return e / e.sum(axis=0, keepdims=True)\n", "softmax", r"you normalised over axis 0"),
    ("def softmax(x):\n    e = np.exp(x - x.max(axis=-1, keepdims=True))\n    return e / e.sum()\n",
     "softmax", r"you divided by the sum over every entry"),
    ("def softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum(axis=-1, keepdims=True)\n",
     "softmax", r"NaN in row 0.*not the whole array's"),
    ("def softmax(x):\n    e = np.exp(x)\n    return e / e.sum(axis=-1, keepdims=True)\n",
     "softmax", r"overflowed.*Subtract each row's maximum"),
    ("def softmax(x):\n    e = np.exp(x - x.max(axis=1, keepdims=True))\n"
     "    return e / e.sum(axis=1, keepdims=True)\n", "softmax", r"axis=1 does not exist there"),
])
def test_other_messages(source, fn, message):
    assert re.search(message, _message(getattr(checks, fn), _with(source)[fn]), re.S)


def test_hidden_messages_print_no_values():
    wrong = _with("def softmax_jacobian(x):\n    p = softmax(x)\n"
                  "    return np.diag(p) - 0.5 * np.outer(p, p)\n")["softmax_jacobian"]
    text = _message(checks.softmax_jacobian_hidden, wrong)
    assert "hidden case" in text and "Got" not in text and "expected [" not in text


# --- the notebook -----------------------------------------------------------------------------


def _hint(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("<details>")


def test_no_derived_result_before_its_exercise_outside_the_hints():
    """Stubs, prose, demo code and comments up to each derivative's check cell state no answer.

    (The summary and the sections after an exercise may; the hints after the check cell may.)
    """
    cells = read(release_path(NAME)).cells
    last_check = max(i for i, c in enumerate(cells)
                     if is_test(c) and "softmax_jacobian" in c.source)
    for cell in cells[: last_check + 1]:
        if _hint(cell):
            continue
        for answer in ANSWERS:
            assert not re.search(answer, cell.source), (cell.id, answer)


def test_derivative_solution_lines_appear_only_in_hints():
    source = {c.id: c for c in read(source_path(NAME)).cells}
    release = read(release_path(NAME)).cells
    outside = "\n".join(c.source for c in release if not _hint(c))
    for exercise in DERIVATIVES:
        cell = source[exercise.replace("_", "-")]
        body = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S)
        for line in body.group(1).splitlines():
            line = line.split("#")[0].strip()
            if len(line) > 8 and not line.startswith("return "):
                assert line not in outside, (exercise, line)
            elif line.startswith("return "):
                assert line[len("return "):] not in outside, (exercise, line)


def test_check_cells_fit_on_a_screen_and_call_the_lesson_checks():
    for cell in read(release_path(NAME)).cells:
        if is_test(cell):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= 10, (cell.id, len(lines))
            assert "from nncourse.checks import activation_functions as checks" in cell.source
            assert re.search(r"^checks\.\w+\(\w+\)$", cell.source, re.M), cell.id


# --- measured instead of derived, and the learner's report of lesson 02 -----------------------

FINITE_DIFFERENCES = {
    "sigmoid_derivative": [
        "def sigmoid_derivative(x):\n    h = 1e-5\n"
        "    return (sigmoid(x + h) - sigmoid(x - h)) / (2 * h)\n",
        "def sigmoid_derivative(x):\n    h = 1e-3\n"
        "    return (sigmoid(x + h) - sigmoid(x - h)) / (2 * h)\n",
        "def sigmoid_derivative(x):\n    h = 1e-4\n    return (-sigmoid(x + 2 * h) + 8 * "
        "sigmoid(x + h) - 8 * sigmoid(x - h) + sigmoid(x - 2 * h)) / (12 * h)\n",
    ],
    "tanh_derivative": [
        "def tanh_derivative(x):\n    h = 1e-6\n    return (tanh(x + h) - tanh(x - h)) / (2 * h)\n",
        "def tanh_derivative(x):\n    h = 1e-4\n    return (tanh(x + h) - tanh(x - h)) / (2 * h)\n",
    ],
    "softmax_jacobian": [
        "def softmax_jacobian(x):\n    h = 1e-5\n    cols = [(softmax(x + h * e) - "
        "softmax(x - h * e))"
        " / (2 * h) for e in np.eye(len(x))]\n    return np.stack(cols, axis=1)\n",
        "def softmax_jacobian(x):\n    h = 1e-4\n    cols = [(softmax(x + h * e) - "
        "softmax(x - h * e))"
        " / (2 * h) for e in np.eye(len(x))]\n    return np.stack(cols, axis=1)\n",
    ],
}


@pytest.mark.parametrize(("exercise", "source"), [
    (ex, src) for ex, cases in FINITE_DIFFERENCES.items() for src in cases
])
def test_a_finite_difference_is_only_approximately_right(exercise, source):
    fn = _with(source)[exercise]
    for check in (getattr(checks, exercise), getattr(checks, f"{exercise}_hidden")):
        text = _message(check, fn)
        assert "only approximately right" in text and "finite difference" in text, text
        for answer in ANSWERS:
            assert not re.search(answer, text), (answer, text)


@pytest.mark.parametrize("exercise", ["sigmoid_derivative", "tanh_derivative",
                                      "softmax_jacobian"])
def test_calling_numerical_gradient_is_refused(exercise):
    of = {"sigmoid_derivative": "sigmoid", "tanh_derivative": "tanh"}.get(exercise)
    if of:
        source = (f"from nnlib.gradcheck import numerical_gradient\n"
                  f"def {exercise}(x):\n"
                  f"    return numerical_gradient(lambda v: {of}(v).sum(), x.copy())\n")
    else:
        source = ("from nnlib.gradcheck import numerical_gradient_array\n"
                  "def softmax_jacobian(x):\n    return np.stack([numerical_gradient_array("
                  "softmax, x.copy(), r) for r in np.eye(len(x))])\n")
    text = _message(getattr(checks, exercise), _with(source)[exercise])
    assert "calls numerical_gradient" in text and "only approximately right" in text, text


def test_the_exactness_check_leaves_honest_variants_alone(capsys):
    """Other correct formulas (another stable sigmoid, the exponential form of the slope on
    moderate inputs, a loop over the Jacobian's entries) agree to well within 1e-12."""
    ns = _with(
        "def sigmoid(x):\n    z = np.exp(-np.abs(x))\n"
        "    return np.where(x >= 0, 1, z) / (1 + z)\n"
        "def tanh(x):\n    return 2 * sigmoid(2 * x) - 1\n"
        "def sigmoid_derivative(x):\n    return sigmoid(x) * sigmoid(-x)\n"
        "def tanh_derivative(x):\n    t = tanh(x)\n    return (1 - t) * (1 + t)\n"
        "def softmax_jacobian(x):\n    p = softmax(x)\n    J = np.empty((len(p), len(p)))\n"
        "    for k in range(len(p)):\n        for j in range(len(p)):\n"
        "            J[k, j] = p[k] * ((k == j) - p[j])\n    return J\n")
    for exercise in ("sigmoid_derivative", "tanh_derivative", "softmax_jacobian"):
        getattr(checks, exercise)(ns[exercise])
        getattr(checks, f"{exercise}_hidden")(ns[exercise])
    assert "Note:" not in capsys.readouterr().out


@pytest.mark.parametrize(("exercise", "source", "message"), [
    ("sigmoid_derivative", "def sigmoid_derivative(x):\n    x *= -1\n"
     "    s = sigmoid(-x)\n    return s * (1 - s)\n", r"sigmoid_derivative modified its input x"),
    ("tanh_derivative", "def tanh_derivative(x):\n    x *= 1.0 + 0 * x\n    x[...] = tanh(x)\n"
     "    return 1 - x * x\n", r"tanh_derivative modified its input x in place"),
    ("sigmoid_derivative", "def sigmoid_derivative(x):\n    s = 1 / (1 + np.exp(-x))\n"
     "    return s * (1 - s)\n", r"overflowed .*Call your stable sigmoid"),
    ("tanh_derivative", "def tanh_derivative(x):\n    return 1 / np.cosh(x) ** 2\n",
     r"overflowed .*in terms of tanh\(x\) alone"),
    ("tanh_derivative", "def tanh_derivative(x):\n    e, f = np.exp(x), np.exp(-x)\n"
     "    return 4 / (e + f) ** 2\n", r"overflowed .*np\.exp or np\.cosh"),
    ("tanh_derivative", "def tanh_derivative(x):\n    s = sigmoid(2 * x)\n    return s * (1 - s)\n",
     r"a quarter of the right slope.*inner 2x"),
])
def test_report_mistakes_of_the_derivatives(exercise, source, message):
    text = _message(getattr(checks, exercise), _with(source)[exercise])
    assert re.search(message, text, re.S), text
    for answer in ANSWERS:
        assert not re.search(answer, text), (answer, text)


def test_an_overflowing_derivative_fails_its_hidden_check_too():
    fn = _with("def sigmoid_derivative(x):\n    s = 1 / (1 + np.exp(-x))\n"
               "    return s * (1 - s)\n")["sigmoid_derivative"]
    assert "overflow" in _message(checks.sigmoid_derivative_hidden, fn)
    fn = _with("def tanh_derivative(x):\n    return 1 / np.cosh(x) ** 2\n")["tanh_derivative"]
    assert "overflow" in _message(checks.tanh_derivative_hidden, fn)


def test_scipy_expit_is_refused():
    special = pytest.importorskip("scipy.special")
    assert "scipy.special.expit" in _message(checks.sigmoid, special.expit)
    fn = _with("import scipy.special\ndef sigmoid(x):\n    return scipy.special.expit(x)\n")
    assert "ready-made sigmoid" in _message(checks.sigmoid, fn["sigmoid"])
