"""nncourse.checks.loss_functions: lesson 03's checks, run in process on right and wrong code.

The notebook's own solution cells pass the visible and the hidden checks; each classic mistake
fails with the message that names its cause; no message states a derived gradient or a hidden
expected value.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib
import nnlib.losses
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import loss_functions as checks
from nncourse.testing import GradingError, hidden_seed

NAME = "03_loss_functions"
EXERCISES = ["mse_loss", "mae_loss", "huber_loss", "bce_with_logits_loss",
             "softmax_cross_entropy_loss", "hinge_loss"]
#: How a derived gradient would read in a message: none of these may appear in one.
DERIVED = re.compile(
    r"2 \* \(?y_hat - y|2 \(y_hat|sign\(r|sign\(y_hat|clip\(r|sigmoid\(z\) - y|"
    r"softmax\(z\) - one_hot|minus the NUMBER|delta \* sign", re.I)


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np, "nnlib": nnlib}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies_without_the_gradient(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 4, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__
    assert not DERIVED.search(doc)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_reference_scores_nothing(exercise):
    ref = getattr(nnlib.losses, exercise)

    def wrapper(*args, **kwargs):
        return ref(*args, **kwargs)

    for fn in (ref, wrapper):
        with pytest.raises(GradingError, match="reference implementation"):
            getattr(checks, exercise)(fn)


def _fails(check, fn, pattern):
    with pytest.raises(GradingError, match=pattern) as info:
        check(fn)
    assert not DERIVED.search(str(info.value)), str(info.value)
    return str(info.value)


# --- shared contract ---------------------------------------------------------------------


def test_a_loss_modifying_its_input_is_named():
    def mse(y_hat, y):
        y_hat -= y
        return float(np.mean(y_hat ** 2)), 2 * y_hat / y_hat.size

    _fails(checks.mse_loss, mse, r"modified `y_hat` in place")


def test_a_loss_returning_one_value_or_an_array_loss_is_named():
    _fails(checks.mse_loss, lambda y_hat, y: float(np.mean((y_hat - y) ** 2)),
           r"must return a tuple \(loss, dy_hat\); it returned a float")
    _fails(checks.mae_loss, lambda y_hat, y: (np.abs(y_hat - y), np.sign(y_hat - y)),
           r"mae_loss returned an array of shape \(3,\) where the loss as one number \(the mean\)")
    _fails(checks.mse_loss, lambda y_hat, y: None, "returned a NoneType|returned None")


def test_an_unfinished_stub_says_so():
    def stub(y_hat, y):
        raise NotImplementedError

    _fails(checks.mse_loss, stub, "not written yet")


# --- per exercise ------------------------------------------------------------------------


def test_mse_sum_instead_of_mean_is_a_factor():
    def mse(y_hat, y):
        d = y_hat - y
        return float(np.mean(d ** 2)), 2 * d / len(d) if d.ndim == 1 else 2 * d / len(d)

    _fails(checks.mse_loss, mse, r"n = 4 elements.*off by the same factor \(about 2 times")


def test_mae_sign_by_division_gives_nan():
    def mae(y_hat, y):
        d = y_hat - y
        with np.errstate(invalid="ignore"):
            return float(np.mean(np.abs(d))), d / np.abs(d) / d.size

    _fails(checks.mae_loss, mae, r"NaN.*0/0")


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda r, d: np.where(np.abs(r) <= 1.0, 0.5 * r**2, d * (np.abs(r) - 0.5 * d)),
     r"Compare \|r\| with the `delta` argument, not with 1"),
    (lambda r, d: np.where(np.abs(r) <= d, 0.5 * r**2, d * (np.abs(r) - 0.5)),
     r"check the -0.5\*delta term"),
])
def test_huber_loss_messages(sol, wrong, message):
    def huber(y_hat, y, delta=1.0):
        return float(np.mean(wrong(y_hat - y, delta))), sol["huber_loss"](y_hat, y, delta)[1]

    _fails(checks.huber_loss, huber, message)


def test_huber_gradient_clipped_at_one_names_delta(sol):
    def huber(y_hat, y, delta=1.0):
        r = y_hat - y
        return sol["huber_loss"](y_hat, y, delta)[0], np.clip(r, -1, 1) / r.size

    _fails(checks.huber_loss, huber, r"decide the piece with the `delta` argument, not with 1")


def test_huber_linear_slope_without_delta_names_the_smooth_join(sol):
    def huber(y_hat, y, delta=1.0):
        r = y_hat - y
        g = np.where(np.abs(r) <= delta, r, np.sign(r))
        return sol["huber_loss"](y_hat, y, delta)[0], g / r.size

    _fails(checks.huber_loss, huber, r"the curve is smooth at \|r\| = delta")


def test_bce_np_max_is_named(sol):
    def bce(logits, y):
        z = logits
        loss = float(np.mean(np.max(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        return loss, sol["bce_with_logits_loss"](logits, y)[1]

    _fails(checks.bce_with_logits_loss, bce, r"np\.max\(z, 0\).*np\.maximum\(z, 0\)")


def test_bce_naive_formula_overflows_with_a_message(sol):
    def bce(logits, y):
        p = nnlib.sigmoid(logits)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        return loss, (p - y) / logits.size

    _fails(checks.bce_with_logits_loss, bce, r"NaN|inf|relative error")


def _ce(logits, y, axis=1, columns=False):
    N = logits.shape[0]
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    loss = float(-np.mean(log_probs[np.arange(N), y]))
    d = np.exp(log_probs)
    if columns:
        d[:, y] -= 1
    else:
        d[np.arange(N), y] -= 1
    return loss, d / N


def test_ce_softmax_over_the_batch_axis_is_named():
    """issue 8: softmax over axis=0 read "Every value is shifted by the same constant"."""
    msg = _fails(checks.softmax_cross_entropy_loss, lambda z, y: _ce(z, y, axis=0),
                 r"normalised over the batch axis \(axis=0\).*axis=1")
    assert "shifted by the same constant" not in msg


def test_ce_whole_columns_are_named():
    _fails(checks.softmax_cross_entropy_loss, lambda z, y: _ce(z, y, columns=True),
           r"whole columns.*\[np\.arange\(N\), y\]")


def test_ce_without_the_shift_overflows_with_a_message():
    def ce(logits, y):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            N = len(y)
            loss = float(-np.mean(np.log(p[np.arange(N), y])))
            p[np.arange(N), y] -= 1
            return loss, p / N

    _fails(checks.softmax_cross_entropy_loss, ce, r"NaN|inf")


def _hinge(sol, *, include_correct=False, margin_one=False, count_ties=False):
    def hinge(scores, y, margin=1.0):
        m = 1.0 if margin_one else margin
        N = scores.shape[0]
        rows = np.arange(N)
        terms = scores - scores[rows, y][:, None] + m
        active = terms >= 0 if count_ties else terms > 0
        if not include_correct:
            active[rows, y] = False
        loss = float(np.sum(np.where(active, terms, 0.0)) / N)
        d = active.astype(float)
        d[rows, y] = -np.sum(active, axis=1) + (1 if include_correct else 0)
        return loss, d / N
    return hinge


def test_hinge_messages(sol):
    _fails(checks.hinge_loss, _hinge(sol, include_correct=True), r"exactly the margin.*j = y_i")
    _fails(checks.hinge_loss, _hinge(sol, margin_one=True), r"`margin`")
    _fails(checks.hinge_loss, _hinge(sol, count_ties=True), r"exactly 0 is inactive")


# --- hidden checks -----------------------------------------------------------------------


@pytest.mark.parametrize(("exercise", "make"), [
    ("mse_loss", checks._make_mse), ("huber_loss", checks._make_huber),
    ("softmax_cross_entropy_loss", checks._make_ce), ("hinge_loss", checks._make_hinge),
])
def test_hidden_messages_show_no_hidden_value(exercise, make):
    ref = getattr(nnlib.losses, exercise)

    def slightly_off(*args):
        loss, grad = ref(*args)
        return loss, grad * (1 + 1e-3) + 1e-4

    with pytest.raises(GradingError, match="hidden case") as info:
        getattr(checks, f"{exercise}_hidden")(slightly_off)
    message = str(info.value)
    rng = np.random.default_rng(hidden_seed(f"loss_functions/{exercise}"))
    args = make(rng, "batch of one")
    shown = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", message)}
    secret = np.concatenate([np.ravel(a) for a in (*args, ref(*args)[1]) if np.ndim(a) > 0])
    assert not any(np.isclose(secret, s, rtol=1e-3, atol=0).any() for s in shown if s != 0)


# --- measured instead of derived, and the learner's report of lesson 03 -----------------------


def _difference(loss_of, x, h, central):
    """The central (or forward) finite difference of ``loss_of`` at ``x``, entry by entry."""
    grad = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h if central else 0.0
        grad[idx] = (loss_of(up) - loss_of(down)) / ((2 if central else 1) * h)
    return grad


def _measured(sol, exercise, h, central=True):
    """The solution's loss with a finite-difference gradient of it (step h)."""
    ref = sol[exercise]

    def fn(first, *rest, **kwargs):
        loss = ref(first, *rest, **kwargs)[0]
        grad = _difference(lambda v: float(ref(v, *rest, **kwargs)[0]), first, h, central)
        return float(loss), grad
    return fn


@pytest.mark.parametrize("exercise", ["mse_loss", "mae_loss", "huber_loss",
                                      "bce_with_logits_loss", "softmax_cross_entropy_loss"])
@pytest.mark.parametrize(("h", "central"), [(1e-5, True), (1e-4, True), (1e-7, False)])
def test_a_finite_difference_gradient_is_only_approximately_right(sol, exercise, h, central):
    fn = _measured(sol, exercise, h, central)
    for check in (getattr(checks, exercise), getattr(checks, f"{exercise}_hidden")):
        with pytest.raises(GradingError) as info:
            check(fn)
        text = str(info.value)
        assert not DERIVED.search(text), text
        if exercise == "mae_loss" and not central:  # a forward step at r = 0 slopes up:
            continue  # plainly wrong at the kink, and told so like any other wrong value
        assert "only approximately right" in text and "finite difference" in text, text


@pytest.mark.parametrize("exercise", ["mse_loss", "bce_with_logits_loss",
                                      "softmax_cross_entropy_loss"])
def test_calling_numerical_gradient_is_refused(sol, exercise):
    ns = {"np": np, "nnlib": nnlib, "solution": sol[exercise]}
    exec("from nnlib.gradcheck import numerical_gradient\n"
         "def loss_of(a, b):\n    return solution(a, b)[0]\n"
         "def fn(a, b):\n"
         "    return loss_of(a, b), numerical_gradient(lambda v: loss_of(v, b), a.copy())\n", ns)
    _fails(getattr(checks, exercise), ns["fn"], r"calls numerical_gradient.*only approximately")


def test_the_exactness_check_leaves_honest_variants_alone(capsys):
    def mse(y_hat, y):
        r = y_hat - y
        return float(np.sum(r * r) / r.size), r * (2.0 / r.size)

    def bce(logits, y):
        z = logits
        loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        e = np.exp(-np.abs(z))
        p = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return loss, (p - y) / z.size

    for name, fn in (("mse_loss", mse), ("bce_with_logits_loss", bce)):
        getattr(checks, name)(fn)
        getattr(checks, f"{name}_hidden")(fn)
    assert "Note:" not in capsys.readouterr().out


def test_a_swapped_return_order_is_named(sol):
    for exercise in ("mse_loss", "huber_loss", "softmax_cross_entropy_loss"):
        right = sol[exercise]
        text = _fails(getattr(checks, exercise), lambda *a, _f=right, **k: _f(*a, **k)[::-1],
                      r"in the order \(loss, d\w+\).*Did you return \(d\w+, loss\)\?")
        assert "take the mean" not in text


@pytest.mark.parametrize(("wrong_grad", "message", "absent"), [
    (lambda r, d: -np.clip(r, -d, d), r"wrong sign", r"decide the piece|not with 1"),
    (lambda r, d: np.clip(r, -d, d) * 2, r"Got 3, expected 1\.5", r"decide the piece|not with 1"),
    (lambda r, d: np.where(np.abs(r) <= d, r / d, np.sign(r)),
     r"divided by delta \(SmoothL1\)", r"not with 1"),
])
def test_huber_case_labels_describe_the_case_not_a_cause(sol, wrong_grad, message, absent):
    def huber(y_hat, y, delta=1.0):
        r = y_hat - y
        return sol["huber_loss"](y_hat, y, delta)[0], wrong_grad(r, delta) / r.size

    text = _fails(checks.huber_loss, huber, message)
    assert not re.search(absent, text), text


def test_huber_quadratic_piece_divided_by_delta_is_named(sol):
    def huber(y_hat, y, delta=1.0):
        r = y_hat - y
        per = np.where(np.abs(r) <= delta, 0.5 * r**2 / delta, np.abs(r) - 0.5 * delta)
        return float(np.mean(per)), sol["huber_loss"](y_hat, y, delta)[1]

    text = _fails(checks.huber_loss, huber, r"divided by delta \(PyTorch's SmoothL1Loss\)")
    assert "not with 1" not in text


@pytest.mark.parametrize("source", [
    "def bce(z, y):\n    p = nnlib.sigmoid(z)\n"
    "    with np.errstate(divide='ignore', invalid='ignore'):\n"
    "        loss = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))\n"
    "    return loss, (p - y) / z.size\n",
    "def bce(z, y):\n    with np.errstate(over='ignore'):\n"
    "        loss = float(np.mean(np.log(1 + np.exp(z)) - z * y))\n"
    "    return loss, (nnlib.sigmoid(z) - y) / z.size\n",
])
def test_bce_unstable_losses_are_named(source):
    ns = {"np": np, "nnlib": nnlib}
    exec(source, ns)
    _fails(checks.bce_with_logits_loss, ns["bce"],
           r"an unstable formula\. log\(sigmoid\(z\)\).*log\(1 \+ exp\(z\)\) overflows")


def test_bce_naive_sigmoid_in_the_gradient_overflows_with_a_message(sol):
    def bce(logits, y):
        p = 1 / (1 + np.exp(-logits))
        return sol["bce_with_logits_loss"](logits, y)[0], (p - y) / logits.size

    _fails(checks.bce_with_logits_loss, bce, r"overflowed .*came out finite.*stable sigmoid")


def test_ce_log_of_softmax_and_the_global_maximum_are_named():
    def log_of_softmax(logits, y):
        N = len(y)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            loss = float(-np.mean(np.log(p[np.arange(N), y])))
        p[np.arange(N), y] -= 1
        return loss, p / N

    _fails(checks.softmax_cross_entropy_loss, log_of_softmax,
           r"an unstable formula.*log\(0\) = -inf.*log-probabilities directly")

    def global_max(logits, y):
        N = len(y)
        shifted = logits - logits.max()
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = float(-np.mean(log_p[np.arange(N), y]))
            d = np.exp(log_p)
        d[np.arange(N), y] -= 1
        return loss, d / N

    _fails(checks.softmax_cross_entropy_loss, global_max,
           r"each row's own maximum.*not the whole array's")


def test_ce_columns_in_the_loss_and_a_mean_over_every_entry_are_named():
    def columns(logits, y):
        loss, grad = _ce(logits, y)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.mean(log_p[:, y])), grad

    _fails(checks.softmax_cross_entropy_loss, columns, r"log_probs\[:, y\].*whole columns")

    def over_entries(logits, y):
        loss, grad = _ce(logits, y)
        return loss / logits.shape[1], grad

    _fails(checks.softmax_cross_entropy_loss, over_entries, r"all N \* K = 6 entries")

    def grad_over_entries(logits, y):
        loss, grad = _ce(logits, y)
        return loss, grad / logits.shape[1]

    _fails(checks.softmax_cross_entropy_loss, grad_over_entries,
           r"divided by N \* K = 6.*divide by N only")


def test_hinge_messages_show_the_example_and_the_values(sol):
    def minus_one(scores, y, margin=1.0):
        loss, grad = _hinge(sol)(scores, y, margin)
        N = scores.shape[0]
        grad = grad * N
        grad[np.arange(N), y] = np.where(grad[np.arange(N), y] < 0, -1.0, 0.0)
        return loss, grad / N

    text = _fails(checks.hinge_loss, minus_one, r"scores = \[\[3\.2, 5\.1, -1\.7\]")
    assert re.search(r"Got -0\.333333, expected -0\.666667 there", text), text
