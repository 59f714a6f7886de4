"""nncourse.checks.regularisation_and_normalisation: lesson 08's checks, run in process.

The notebook's own solution cells pass the visible and the hidden checks; the nnlib reference
is refused; each classic mistake fails with the message that names its cause (one test per
targeted message); no visible message of a backward pass states the derived result; the
batch-of-one rule of batch norm's training mode is stated where the learner reads the task.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib.normalization
import nnlib.regularization
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import regularisation_and_normalisation as checks
from nncourse.testing import GradingError

NAME = "08_regularisation_and_normalisation"
EXERCISES = ["l2_penalty", "l1_penalty", "dropout_forward", "dropout_backward", "random_shift",
             "add_gaussian_noise", "batchnorm_forward", "batchnorm_backward",
             "layernorm_forward", "layernorm_backward"]
REFERENCES = {
    "l2_penalty": nnlib.regularization.l2_penalty,
    "l1_penalty": nnlib.regularization.l1_penalty,
    "dropout_forward": nnlib.regularization.dropout_forward,
    "dropout_backward": nnlib.regularization.dropout_backward,
    "random_shift": nnlib.regularization.random_shift,
    "add_gaussian_noise": nnlib.regularization.add_gaussian_noise,
    "batchnorm_forward": nnlib.normalization.batchnorm_forward,
    "batchnorm_backward": nnlib.normalization.batchnorm_backward,
    "layernorm_forward": nnlib.normalization.layernorm_forward,
    "layernorm_backward": nnlib.normalization.layernorm_backward,
}


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


def message_of(check, fn) -> str:
    with pytest.raises(GradingError) as info:
        check(fn)
    return str(info.value)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise])
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 3, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_reference_is_refused(exercise):
    ref = REFERENCES[exercise]
    assert "reference implementation" in message_of(getattr(checks, exercise), ref)

    def wrapper(*args, **kwargs):
        return ref(*args, **kwargs)

    assert "reference implementation" in message_of(getattr(checks, exercise), wrapper)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_stub_is_reported_as_not_written(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert "not written yet" in message_of(getattr(checks, exercise), stub)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_hidden_checks_fail_a_wrong_answer(sol, exercise):
    """A function that is right on the visible cases only is caught by the hidden ones."""
    right = sol[exercise]
    calls = []

    def wrong_after_visible(*args, **kwargs):
        calls.append(1)
        out = right(*args, **kwargs)
        first = out[0] if isinstance(out, tuple) else out
        if isinstance(first, np.ndarray) and first.size > 1:
            first = first.copy()
            first.flat[-1] += 1.0
            return (first, *out[1:]) if isinstance(out, tuple) else first
        if isinstance(first, float):
            return (first + 1.0, *out[1:])
        return out

    with pytest.raises(GradingError, match="hidden case"):
        getattr(checks, f"{exercise}_hidden")(wrong_after_visible)


# --- penalties ---------------------------------------------------------------------------------


def _l2(pen=None, dw=None, order=False, inplace=False, none=False):
    def f(w, lam):
        if inplace:
            w *= 2
        if none:
            return None
        p = 0.5 * lam * float(np.sum(w ** 2)) if pen is None else pen(w, lam)
        d = lam * w if dw is None else dw(w, lam)
        return (d, p) if order else (p, d)
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_l2(inplace=True), r"modified its input `w` in place"),
    (_l2(none=True), r"returned None"),
    (_l2(order=True), r"dw first and the number second"),
    (_l2(pen=lambda w, lam: lam / 2 * w ** 2), r"should be one number"),
    (_l2(pen=lambda w, lam: lam * float(np.sum(w ** 2))), r"factor 1/2"),
    (_l2(dw=lambda w, lam: lam * w.ravel()), r"has shape \(4,\); dw must have the shape of w"),
    (_l2(dw=lambda w, lam: 2 * lam * w), r"dw of l2_penalty.*Got .* expected .*same factor"),
])
def test_l2_penalty_messages(wrong, message):
    assert re.search(message, message_of(checks.l2_penalty, wrong), re.S)


def _l1(pen=None, dw=None):
    def f(w, lam):
        p = lam * float(np.sum(np.abs(w))) if pen is None else pen(w, lam)
        return p, (lam * np.sign(w) if dw is None else dw(w, lam))
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_l1(pen=lambda w, lam: lam * float(np.sum(w))), r"cancelled"),
    (_l1(dw=lambda w, lam: lam * w), r"gradient of the L2 penalty"),
    (_l1(dw=lambda w, lam: lam * np.where(w >= 0, 1.0, -1.0)), r"at the weight 0\.0"),
    (_l1(dw=lambda w, lam: lam * np.sign(w).ravel()), r"has shape \(4,\)"),
])
def test_l1_penalty_messages(wrong, message):
    text = message_of(checks.l1_penalty, wrong)
    assert re.search(message, text)
    assert "sign(w)" not in text, "a visible message gives the derivative away"


# --- dropout -----------------------------------------------------------------------------------


def _drop(keep=lambda u, p: u >= p, scale=lambda k, p: k / (1 - p), eval_out=lambda x, p: x,
          eval_cache=None, draw=lambda rng, x: rng.random(x.shape), skip_p0=False,
          eval_draws=False, inplace=False, eval_none=False, cache_bool=False):
    def f(x, p, *, training, rng):
        if not training:
            if eval_draws:
                rng.random(x.shape)
            if eval_none:
                return None
            return eval_out(x, p), eval_cache
        if skip_p0 and p == 0:
            return x.copy(), np.ones_like(x)
        k = keep(draw(rng, x), p)
        mask = scale(k, p)
        out = x * mask
        if inplace:
            x *= mask
        return out, (k if cache_bool else mask)
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_drop(draw=lambda rng, x: rng.binomial(1, 0.5, x.shape)),
     r"called rng\.binomial\(\.\.\.\).*u = rng\.random\(x\.shape\)"),
    (_drop(draw=lambda rng, x: np.random.default_rng(0).random(x.shape)),
     r"it drew 0\. \(np\.random\.\* does not use the rng"),
    (_drop(draw=lambda rng, x: rng.random(x.shape) + 0 * rng.random(x.shape)),
     r"drew more random numbers than it needs"),
    (_drop(inplace=True), r"modified its input `x` in place"),
    (_drop(keep=lambda u, p: u < p), r"kept the units where u < p"),
    (_drop(keep=lambda u, p: u > p), r"equals p = 0\.4 .* was dropped"),
    (_drop(keep=lambda u, p: u < 1 - p), r"kept the units where u < 1 - p"),
    (_drop(scale=lambda k, p: k * 1.0), r"were not scaled"),
    (_drop(scale=lambda k, p: k / p), r"divided by p"),
    (_drop(scale=lambda k, p: k / 1 - p), r"\(keep / 1\) - p"),
    (_drop(cache_bool=True), r"boolean"),
    (_drop(eval_none=True), r"training=False, rng\) returned None"),
    (_drop(eval_draws=True), r"must not draw random numbers"),
    (_drop(eval_out=lambda x, p: x * (1 - p)), r"non-inverted"),
    (_drop(eval_cache=1.0), r"cache in evaluation mode should be None"),
    (_drop(skip_p0=True), r"drew 0 random numbers, expected 8"),
])
def test_dropout_forward_messages(wrong, message):
    text = message_of(checks.dropout_forward, wrong)
    assert re.search(message, text, re.S), text


def test_the_fake_generator_is_never_named():
    """Issue 8: a test's internal class name (_FixedUniforms) was shown to the learner."""
    text = message_of(checks.dropout_forward,
                      _drop(draw=lambda rng, x: rng.binomial(1, 0.5, x.shape)))
    assert not re.search(r"Fixed|Scripted|object has no attribute", text)
    text = message_of(checks.random_shift,
                      lambda images, s, *, rng: images + rng.choice([0, 1]))
    assert "rng.choice" in text and "Scripted" not in text


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda dout, cache: dout, r"Got 1, expected 0 there"),
    (lambda dout, cache: dout * cache, r"In evaluation mode the cache is None"),
    (lambda dout, cache: None if cache is None else dout * cache,
     r"dropout_backward\(dout, None\) returned None"),
])
def test_dropout_backward_messages(wrong, message):
    text = message_of(checks.dropout_backward, wrong)
    assert re.search(message, text), text


def test_dropout_backward_with_a_zero_one_mask_names_the_lost_scale():
    text = message_of(checks.dropout_backward,
                      lambda dout, cache: dout if cache is None else dout * (cache > 0))
    assert re.search(r"lost the 1 / \(1 - p\) = 2\.5 of the mask", text), text


def test_dropout_backward_in_place():
    def wrong(dout, cache):
        if cache is not None:
            dout *= cache
        return dout

    assert "modified its input `dout` in place" in message_of(checks.dropout_backward, wrong)


# --- augmentation ------------------------------------------------------------------------------


def _shift(order=1, swap=False, roll=False, dtype=None, cols=True, guard=True, hw=False,
           high=1):
    def f(images, max_shift, *, rng):
        N, H, W = images.shape
        offsets = rng.integers(-max_shift, max_shift + high, size=(N, 2))
        out = np.zeros(images.shape, dtype=dtype) if dtype else np.zeros_like(images)
        for n in range(N):
            dy, dx = offsets[n] * order
            if swap:
                dy, dx = dx, dy
            if roll:
                out[n] = np.roll(images[n], (dy, dx), axis=(0, 1))
                continue
            r0, r1 = max(0, dy), min(H, H + dy)
            c0, c1 = max(0, dx), (min(H, H + dx) if hw else min(W, W + dx))
            if guard and (r0 >= r1 or c0 >= c1):
                continue
            if cols:
                out[n, r0:r1, c0:c1] = images[n, r0 - dy:r1 - dy, c0 - dx:c1 - dx]
            else:
                out[n, r0:r1, c0:c1] = images[n, r0 - dy:r1 - dy]
        return out
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_shift(roll=True), r"np\.roll wraps around"),
    (_shift(order=-1), r"moved the opposite way"),
    (_shift(swap=True), r"dy and dx are swapped"),
    (_shift(dtype=int), r"returned an integer array"),
    (_shift(cols=False), r"slice the columns of images too"),
    (_shift(guard=False), r"negative slice bound"),
    (_shift(hw=True), r"rows \(dy\) use H, columns \(dx\) use W"),
    (lambda images, s, *, rng: _shift()(images, s, rng=rng) + 0 * rng.integers(0, 2, size=2),
     r"drew more random numbers than it needs"),
])
def test_random_shift_messages(wrong, message):
    text = message_of(checks.random_shift, wrong)
    assert re.search(message, text), text


def test_random_shift_bounds_and_in_place():
    assert "excludes high" in message_of(checks.random_shift, _shift(high=0))

    def in_place(images, max_shift, *, rng):
        rng.integers(-max_shift, max_shift + 1, size=(len(images), 2))
        images[:] = 0
        return images

    assert "modified its input `images` in place" in message_of(checks.random_shift, in_place)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda images, std, *, rng: images + std * np.random.default_rng(0).standard_normal(
        images.shape), r"made 0 call\(s\)"),
    (lambda images, std, *, rng: images + std ** 2 * rng.standard_normal(images.shape),
     r"std \*\* 2"),
    (lambda images, std, *, rng: np.clip(images + std * rng.standard_normal(images.shape), 0, 1),
     r"clipped to the range of the pixels.*without clipping"),
    (lambda images, std, *, rng: np.minimum(images + std * rng.standard_normal(images.shape), 1),
     r"clipped"),
    (lambda images, std, *, rng: images + std * rng.uniform(-1, 1, images.shape),
     r"called rng\.uniform"),
])
def test_add_gaussian_noise_messages(wrong, message):
    text = message_of(checks.add_gaussian_noise, wrong)
    assert re.search(message, text, re.S), text
    assert "Got 1, expected 1.05" not in text


def test_add_gaussian_noise_with_one_value_per_image_is_named():
    def wrong(images, std, *, rng):
        return images + std * rng.standard_normal((len(images),) + (1,) * (images.ndim - 1))

    text = message_of(checks.add_gaussian_noise, wrong)
    assert re.search(r"one noise value per image.*one number per pixel", text, re.S), text


def test_add_gaussian_noise_in_place():
    def wrong(images, std, *, rng):
        images += std * rng.standard_normal(images.shape)
        return images

    assert "modified its input `images` in place" in message_of(checks.add_gaussian_noise, wrong)


# --- batch norm --------------------------------------------------------------------------------


def _bn(norm_ddof=0, train_stats="batch", eps_out=False, no_eps=False, naive_var=False,
        gamma_beta=True, momentum_rev=False, momentum_rev_var=False, run_ddof=1, eps_run=False,
        corr="N", intdiv=False, cache_std=False, flag=None, order="normal", inplace=False,
        three=False):
    def f(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
        N, D = x.shape
        if training:
            mean = x.mean(axis=0)
            var = (x ** 2).mean(axis=0) - mean ** 2 if naive_var else x.var(axis=0)
            n = N if corr == "N" else D
            factor = n // (n - 1) if intdiv else n / (n - 1)
            unb = var * factor if run_ddof == 1 else var
            m = 1 - momentum if momentum_rev else momentum
            mv = 1 - momentum if momentum_rev_var else momentum
            new_mean = (1 - m) * running_mean + m * mean
            new_var = (1 - mv) * running_var + mv * unb + (eps if eps_run else 0.0)
            norm_var = var if naive_var else x.var(axis=0, ddof=norm_ddof)
            if train_stats == "running":
                mean, norm_var = running_mean, running_var
        else:
            mean, norm_var, new_mean, new_var = (running_mean, running_var, running_mean,
                                                 running_var)
        if no_eps:
            inv_std = 1 / np.sqrt(norm_var)
        elif eps_out:
            inv_std = 1 / (np.sqrt(norm_var) + eps)
        else:
            inv_std = 1 / np.sqrt(norm_var + eps)
        x_hat = (x - mean) * inv_std
        out = gamma * x_hat + beta if gamma_beta else beta + 0 * x
        cache = (x_hat, gamma, 1 / inv_std if cache_std else inv_std,
                 training if flag is None else flag)
        if inplace:
            running_mean *= 1 - momentum
        if three:
            return out, cache, new_mean
        if order == "swap-running":
            return out, cache, new_var, new_mean
        if order == "cache-first":
            return cache, out, new_mean, new_var
        return out, cache, new_mean, new_var
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_bn(inplace=True), r"modified its input running_mean in place.*new arrays"),
    (_bn(three=True), r"returned 3 values; expected 4"),
    (_bn(order="cache-first"), r"returned the cache \(the tuple\) as value 1 of 4"),
    (_bn(norm_ddof=1), r"normalised with the unbiased variance"),
    (_bn(train_stats="running"), r"normalised with the running statistics"),
    (_bn(gamma_beta=False), r"came back constant"),
    (_bn(eps_out=True), r"eps belongs inside the square root"),
    (_bn(no_eps=True), r"as if eps were missing"),
    (_bn(naive_var=True), r"E\[x\^2\] - E\[x\]\^2"),
    (_bn(order="swap-running"), r"swapped places"),
    (_bn(momentum_rev=True), r"weight of the NEW batch"),
    (_bn(run_ddof=0), r"UNBIASED"),
    (_bn(momentum_rev_var=True), r"new_running_var .* 0\.1 \* running_var \+ 0\.9"),
    (_bn(eps_run=True), r"a tiny amount like eps"),
    (_bn(corr="D"), r"raised ZeroDivisionError.*uses N, the number of examples"),
    (_bn(intdiv=True), r"integer division"),
    (_bn(cache_std=True), r"store inv_std = 1 / sqrt\(var \+ eps\)"),
    (_bn(flag=False), r"cache\[3\] should be the training flag"),
    (_bn(flag=True), r"last entry is the training flag"),
])
def test_batchnorm_forward_messages(wrong, message):
    text = message_of(checks.batchnorm_forward, wrong)
    assert re.search(message, text, re.S), text


def test_batch_statistics_computed_in_evaluation_mode_are_named():
    """A hurried eval mode computes N / (N - 1) before branching: ZeroDivisionError at N = 1."""
    def wrong(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
        N = x.shape[0]
        correction = N / (N - 1)
        mean, var = x.mean(axis=0), x.var(axis=0)
        new_mean = (1 - momentum) * running_mean + momentum * mean
        new_var = (1 - momentum) * running_var + momentum * var * correction
        if not training:
            mean, var, new_mean, new_var = running_mean, running_var, running_mean, running_var
        inv_std = 1 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        return gamma * x_hat + beta, (x_hat, gamma, inv_std, training), new_mean, new_var

    text = message_of(checks.batchnorm_forward, wrong)
    assert re.search(r"training=False: evaluation mode must not compute batch statistics", text)
    assert "not D, the number of features" not in text


def test_batch_of_one_rule_is_stated_where_the_task_is():
    """Issue 8: the batch-of-one rule of batchnorm_forward in training mode was unclear."""
    cells = {c.id: c.source for c in read(source_path(NAME)).cells}
    task = cells["bn-task"]
    assert "A batch of one in training mode" in task
    assert "never call your function with `training=True` and $N = 1$" in task
    assert "need not" in task and "ValueError" in task
    assert "Training needs N >= 2" in cells["batchnorm-forward"]


def _bnb(mode="right", order="normal", dgamma_gamma=False, swap_gb=False, inplace=False):
    def f(dout, cache):
        x_hat, gamma, inv_std, training = cache
        dbeta = dout.sum(axis=0)
        dgamma = (dout * x_hat).sum(axis=0) * (gamma if dgamma_gamma else 1)
        g = dout * (1.0 if mode in ("no-gamma", "eval-no-gamma") else gamma)
        N = dout.shape[1] if mode == "D" else dout.shape[0]
        use_train = training if mode not in ("frozen", "always-train") else mode == "always-train"
        if use_train:
            mean_term = 0 if mode == "no-mean" else g.sum(axis=0)
            var_term = 0 if mode == "no-var" else x_hat * (g * x_hat).sum(axis=0)
            dx = inv_std / N * (N * g - mean_term - var_term)
        else:
            dx = g * inv_std
        if mode == "eval-no-inv-std" and not training:
            dx = g
        if mode == "eval-no-gamma" and training:
            dx = inv_std / N * (N * g * gamma - (g * gamma).sum(axis=0)
                                - x_hat * (g * gamma * x_hat).sum(axis=0))
        if inplace:
            dout *= 2
        if swap_gb:
            dgamma, dbeta = dbeta, dgamma
        if order == "dgamma-first":
            return dgamma, dx, dbeta
        return dx, dgamma, dbeta
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_bnb(inplace=True), r"modified dout or the arrays of the cache in place"),
    (_bnb(order="dgamma-first"), r"returned dx, the \(N, D\) = \(5, 3\) array, as value 2"),
    (_bnb(swap_gb=True), r"dgamma and dbeta .* swapped places"),
    (_bnb(dgamma_gamma=True), r"extra factor gamma"),
    (_bnb(mode="frozen"), r"treats the batch mean and variance as constants"),
    (_bnb(mode="no-gamma"), r"with gamma left out"),
    (_bnb(mode="no-mean"), r"should sum to 0 over the batch.*path through the mean"),
    (_bnb(mode="D"), r"should sum to 0 over the batch.*N is the batch size"),
    (_bnb(mode="no-var"), r"path through the variance"),
    (_bnb(mode="always-train"), r"is the training-mode result"),
    (_bnb(mode="eval-no-gamma"), r"evaluation-mode result with gamma left out"),
    (_bnb(mode="eval-no-inv-std"), r"evaluation-mode result with inv_std left out"),
])
def test_batchnorm_backward_messages(wrong, message):
    text = message_of(checks.batchnorm_backward, wrong)
    assert re.search(message, text, re.S), text


# --- layer norm --------------------------------------------------------------------------------


def _ln(keep_mean=True, keep_var=True, axis=1, ddof=0, eps_out=False, no_eps=False,
        cache_flat=False, four=False):
    def f(x, gamma, beta, eps=1e-5):
        mean = x.mean(axis=axis, keepdims=keep_mean)
        var = x.var(axis=axis, keepdims=keep_var, ddof=ddof)
        if no_eps:
            inv_std = 1 / np.sqrt(var)
        elif eps_out:
            inv_std = 1 / (np.sqrt(var) + eps)
        else:
            inv_std = 1 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        out = gamma * x_hat + beta
        if cache_flat:
            inv_std = inv_std.ravel()
        if four:
            return out, (x_hat, gamma, inv_std), mean, var
        return out, (x_hat, gamma, inv_std)
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_ln(keep_mean=False), r"raised ValueError.*keepdims=True"),
    (_ln(keep_mean=False, keep_var=False), r"raised ValueError.*keepdims=True"),
    (_ln(keep_var=False), r"raised ValueError.*keepdims=True"),
    (_ln(axis=0), r"that is batch norm"),
    (_ln(ddof=1), r"unbiased variance"),
    (_ln(eps_out=True), r"eps belongs inside the square root"),
    (_ln(no_eps=True), r"as if eps were missing"),
    (_ln(cache_flat=True), r"one per row, as a column of shape \(N, 1\)"),
    (_ln(four=True), r"no running statistics"),
])
def test_layernorm_forward_messages(wrong, message):
    text = message_of(checks.layernorm_forward, wrong)
    assert re.search(message, text, re.S), text


def test_layernorm_forward_without_keepdims_on_a_square_batch_is_named():
    """Issue 8: without keepdims, N = D = 2 broadcast silently and got a bare "first differs".

    A square example alone (as the old visible case was) still gets the keepdims message."""
    def square_only(x, gamma, beta, eps=1e-5):
        if x.shape[0] != x.shape[1]:
            return _ln()(x, gamma, beta, eps)
        return _ln(keep_mean=False)(x, gamma, beta, eps)

    text = message_of(checks.layernorm_forward, square_only)
    assert "keepdims=True" in text and "first differs" not in text


def _lnb(mode="right", sums_keep=True, dg_axis=0, swap_gb=False, order="normal",
         dg_keepdims=False):
    def f(dout, cache):
        x_hat, gamma, inv_std = cache
        D = dout.shape[0] if mode == "N" else dout.shape[1]
        g = dout * (1.0 if mode == "no-gamma" else gamma)
        if mode == "frozen":
            dx = g * inv_std
        else:
            s1 = g.sum(axis=1, keepdims=sums_keep)
            s2 = 0 if mode == "no-var" else x_hat * (g * x_hat).sum(axis=1, keepdims=sums_keep)
            dx = inv_std / D * (D * g - s1 - s2)
        dgamma = (dout * x_hat).sum(axis=dg_axis, keepdims=dg_keepdims)
        dbeta = dout.sum(axis=dg_axis, keepdims=dg_keepdims)
        if swap_gb:
            dgamma, dbeta = dbeta, dgamma
        if order == "dx-last":
            return dgamma, dbeta, dx
        return dx, dgamma, dbeta
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_lnb(sums_keep=False), r"raised ValueError.*keep it as a column of shape \(N, 1\)"),
    (_lnb(dg_axis=1), r"should have shape \(D,\) = \(5,\)"),
    (_lnb(dg_keepdims=True), r"got \(1, 5\) and \(1, 5\): a sum over the batch \(axis=0\) "
                             r"with keepdims=True"),
    (_lnb(swap_gb=True), r"swapped places"),
    (_lnb(order="dx-last"), r"as value 3 of 3"),
    (_lnb(mode="frozen"), r"treats the mean and variance of each row as constants"),
    (_lnb(mode="no-gamma"), r"with gamma left out"),
    (_lnb(mode="N"), r"each row of dx .* should sum to 0.*D, the number of features"),
    (_lnb(mode="no-var"), r"path through the variance"),
])
def test_layernorm_backward_messages(wrong, message):
    text = message_of(checks.layernorm_backward, wrong)
    assert re.search(message, text, re.S), text


# --- no visible message gives a derived result away -------------------------------------------

DERIVED_FORMS = [
    r"dout\s*\*\s*(cache|mask)", r"(cache|mask)\s*\*\s*dout", r"dout\s*\*\s*gamma",
    r"gamma\s*\*\s*dout", r"N\s*\*\s*g\b", r"D\s*\*\s*g\b", r"\bg\s*\*\s*x_hat",
    r"sum_n\s*\(?g", r"dout\s*\*\s*x_hat", r"lam\s*\*\s*sign", r"sign\(w\)", r"\* inv_std",
]

BACKWARD_MISTAKES = [
    (checks.dropout_backward, lambda dout, cache: dout),
    (checks.dropout_backward, lambda dout, cache: dout * cache),
    (checks.dropout_backward, lambda dout, cache: None if cache is None else dout * cache),
    (checks.dropout_backward, lambda dout, cache: dout if cache is None else dout * (cache > 0)),
    *[(checks.batchnorm_backward, _bnb(**kw)) for kw in (
        {"dgamma_gamma": True}, {"mode": "frozen"}, {"mode": "no-gamma"}, {"mode": "no-mean"},
        {"mode": "D"}, {"mode": "no-var"}, {"mode": "always-train"}, {"mode": "eval-no-gamma"},
        {"swap_gb": True}, {"mode": "eval-no-inv-std"})],
    *[(checks.layernorm_backward, _lnb(**kw)) for kw in (
        {"sums_keep": False}, {"dg_axis": 1}, {"mode": "frozen"}, {"mode": "no-gamma"},
        {"mode": "N"}, {"mode": "no-var"}, {"dg_keepdims": True})],
    (checks.l1_penalty, _l1(dw=lambda w, lam: lam * w)),
    (checks.l1_penalty, _l1(dw=lambda w, lam: lam * np.where(w >= 0, 1.0, -1.0))),
    (checks.l2_penalty, _l2(dw=lambda w, lam: lam * w.ravel())),
]


@pytest.mark.parametrize(("check", "wrong"), BACKWARD_MISTAKES)
def test_messages_of_derivations_do_not_state_the_result(check, wrong):
    text = message_of(check, wrong)
    for form in DERIVED_FORMS:
        assert not re.search(form, text), f"{form!r} in: {text}"


@pytest.mark.parametrize("exercise", ["dropout_backward", "batchnorm_backward",
                                      "layernorm_backward", "l2_penalty", "l1_penalty"])
def test_check_docstrings_do_not_state_the_result(exercise):
    doc = getattr(checks, exercise).__doc__ + getattr(checks, f"{exercise}_hidden").__doc__
    for form in DERIVED_FORMS:
        assert not re.search(form, doc), f"{form!r} in help(checks.{exercise})"
