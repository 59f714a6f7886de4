"""nncourse.checks.pathologies_and_tuning: lesson 09's checks, run in process.

The notebook's own solution cells pass the visible and the hidden checks; the nnlib reference
is refused; each classic mistake fails with the message that names its cause (one test per
targeted message); the checks use no notebook global (the old cells read X_batch).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnlib.diagnostics
import nnlib.tuning
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import pathologies_and_tuning as checks
from nncourse.testing import GradingError
from nnlib.modules import Linear

NAME = "09_pathologies_and_tuning"
EXERCISES = ["layer_grad_norms", "diagnose_gradients", "clip_by_value", "clip_by_norm",
             "random_search", "architecture_search"]


def _random_search_reference(objective, space, num_trials, rng):
    result = nnlib.tuning.random_search(
        objective, {k: nnlib.tuning.LogUniform(*v) for k, v in space.items()}, num_trials,
        rng=rng)
    return [(t.params, t.score) for t in result.trials]


REFERENCES = {
    "layer_grad_norms": [nnlib.diagnostics.layer_grad_norms, nnlib.diagnostics.grad_norms],
    "diagnose_gradients": [nnlib.diagnostics.diagnose_gradients],
    "clip_by_value": [nnlib.diagnostics.clip_by_value],
    "clip_by_norm": [nnlib.diagnostics.clip_by_norm],
    "random_search": [_random_search_reference],
    "architecture_search": [nnlib.tuning.architecture_search],
}


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np, "Linear": Linear}
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
    for ref in REFERENCES[exercise]:
        if ref is _random_search_reference:
            def wrapper(objective, space, num_trials, rng):
                return nnlib.tuning.random_search(objective, space, num_trials, rng=rng)
        else:
            def wrapper(*args, _ref=ref, **kwargs):
                return _ref(*args, **kwargs)
        assert "reference implementation" in message_of(getattr(checks, exercise), wrapper)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_stub_is_reported_as_not_written(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert "not written yet" in message_of(getattr(checks, exercise), stub)


def test_checks_read_no_notebook_global():
    """The old layer_grad_norms cell read X_batch and y_batch from the notebook."""
    import inspect

    source = inspect.getsource(checks)
    assert "X_batch" not in source and "y_batch" not in source


# --- layer_grad_norms --------------------------------------------------------------------------


def _lgn(norm=lambda layer: np.linalg.norm(layer.weight.grad), zero=True, backward="dout",
         keep=lambda layer: isinstance(layer, Linear), order=1, wrap=np.array, shared=None):
    def f(model, X, y, loss_fn):
        if zero:
            model.zero_grad()
        loss = loss_fn(model(X), y)
        dscores = loss_fn.backward()
        if backward != "none":
            model.backward(loss if backward == "loss" else dscores)
        norms = shared if shared is not None else []
        for layer in model:
            if keep(layer):
                norms.append(norm(layer))
        return wrap(norms[::order])
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_lgn(norm=lambda layer: np.linalg.norm(layer.weight)), r"layer\.weight is a Parameter"),
    (_lgn(backward="loss"), r"not the loss value"),
    (_lgn(keep=lambda layer: True), r"Only the Linear layers have weights"),
    (_lgn(wrap=lambda n: None), r"returned None"),
    (_lgn(shared=[]), r"the list of norms grows from call to call"),
    (_lgn(wrap=lambda n: np.array([n])), r"expected \(1,\): a 1-D array"),
    (_lgn(norm=lambda layer: [np.linalg.norm(layer.weight.grad), np.linalg.norm(layer.bias.grad)],
          wrap=lambda n: np.array(n).ravel()), r"weights only, not the biases"),
    (_lgn(wrap=lambda n: np.array(n).astype(int)), r"integer array"),
    (_lgn(norm=lambda layer: np.linalg.norm(layer.weight.data)), r"returned 0, expected 0\.57735"),
    (_lgn(norm=lambda layer: np.sqrt(np.sum(layer.weight.grad ** 2)
                                     + np.sum(layer.bias.grad ** 2))),
     r"leave layer\.bias\.grad out"),
    (_lgn(norm=lambda layer: np.linalg.norm(layer.weight.grad, 2)), r"spectral norm"),
    (_lgn(order=-1), r"first layer first"),
    (_lgn(zero=False), r"Call model\.zero_grad\(\)"),
    (_lgn(backward="none"), r"the model's backward pass never ran.*model\.backward\(\.\.\.\)"),
    (_lgn(norm=lambda layer: np.sum(layer.weight.grad ** 2)), r"that is the SQUARED norm"),
    (_lgn(norm=lambda layer: np.linalg.norm(layer.weight.grad, axis=0).sum()),
     r"a sum of the norms of the columns \(or rows\)"),
    (_lgn(norm=lambda layer: np.linalg.norm(layer.weight.grad, axis=1).sum()),
     r"a sum of the norms of the columns \(or rows\)"),
])
def test_layer_grad_norms_messages(wrong, message):
    text = message_of(checks.layer_grad_norms, wrong)
    assert re.search(message, text), text


# --- diagnose_gradients ------------------------------------------------------------------------


def _dg(nan_first=True, zero_test=lambda n0: n0 == 0, ratio=lambda n: n[0] / n[-1],
        strict=True, fixed=None, words=("vanishing", "exploding", "healthy")):
    def f(norms, threshold=100.0):
        t = fixed or threshold
        finite = bool(np.all(np.isfinite(norms)))
        if nan_first and not finite:
            return words[1]
        if zero_test is not None and zero_test(norms[0]):
            return words[0]
        if not nan_first and not finite:
            return words[1]
        r = ratio(norms)
        if (r < 1 / t) if strict else (r <= 1 / t):
            return words[0]
        if (r > t) if strict else (r >= t):
            return words[1]
        return words[2]
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_dg(words=("vanish", "explode", "healthy")), r"expected one of the strings"),
    (_dg(ratio=lambda n: np.min(n) / np.max(n) if n[0] < n[-1] else np.max(n) / np.min(n)),
     r"compare the first and the LAST norm"),
    (_dg(strict=False), r"exactly is not > 100: the boundary is healthy"),
    (_dg(fixed=100.0), r"use the threshold passed in"),
    (_dg(nan_first=False), r"rule 1 \(any NaN or inf\) comes first"),
    (_dg(zero_test=lambda n0: np.isclose(n0, 0)), r"not with np\.isclose"),
    (_dg(zero_test=None), r"norms\[0\] == 0 comes before the ratio"),
])
def test_diagnose_gradients_messages(wrong, message):
    with np.errstate(all="ignore"):
        text = message_of(checks.diagnose_gradients, wrong)
    assert re.search(message, text), text


def test_diagnose_gradients_hidden_catches_the_last_norm_compared_with_the_largest(sol):
    def wrong(norms, threshold=100.0):
        norms = np.asarray(norms, dtype=float)
        if not np.all(np.isfinite(norms)):
            return "exploding"
        if norms[0] == 0:
            return "vanishing"
        r = norms[0] / norms[-2] if len(norms) > 3 else norms[0] / norms[-1]
        return "vanishing" if r < 1 / threshold else "exploding" if r > threshold else "healthy"

    assert "wrong diagnosis on hidden case" in message_of(checks.diagnose_gradients_hidden, wrong)


# --- clipping ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda grads, c: list(np.clip(np.array(grads), -c, c)), r"loop over the list and clip"),
    (lambda grads, c: [np.clip(g, -c, c, out=g) for g in grads], r"changed the list or the arrays"),
    (lambda grads, c: np.clip(grads[0], -c, c), r"expected a list of 2 arrays"),
    (lambda grads, c: [g if np.all(np.abs(g) <= c) else np.clip(g, -c, c) for g in grads],
     r"returned the input array \(or a view\)"),
    (lambda grads, c: [np.clip(g, -2 * c, c) for g in grads], r"Got -2, expected -1 there"),
    (lambda grads, c: [np.clip(g, 0, c) for g in grads], r"clipped to \[0, clip_value\]"),
])
def test_clip_by_value_messages(wrong, message):
    text = message_of(checks.clip_by_value, wrong)
    assert re.search(message, text), text


def _cn(total=lambda gs: float(np.sqrt(sum(np.sum(g ** 2) for g in gs))), eps=1e-6,
        per_array=False, always=False, copy=True, as_list=False, after=False, inplace=False,
        wrap=float):
    def f(grads, max_norm):
        t = total(grads)
        if per_array:
            out = [g * min(1.0, max_norm / (np.linalg.norm(g) + eps)) for g in grads]
        else:
            s = max_norm / (t + eps)
            if inplace and s < 1:
                for g in grads:
                    g *= s
                out = list(grads)
            elif s < 1 or always:
                out = [g * s for g in grads]
            else:
                out = [g.copy() if copy else g for g in grads]
        if after:
            t = float(np.sqrt(sum(np.sum(g ** 2) for g in out)))
        res = (out, wrap(t))
        return list(res) if as_list else res
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_cn(total=lambda gs: float(np.linalg.norm(np.concatenate(gs)))),
     r"same number of dimensions.*add up the squares"),
    (_cn(total=lambda gs: float(sum(np.linalg.norm(g) for g in gs))), r"total = 7 = 3 \+ 4"),
    (_cn(after=True), r"the norm AFTER clipping"),
    (_cn(total=lambda gs: float(sum(np.sum(g ** 2) for g in gs))), r"total = 25 = 9 \+ 16"),
    (_cn(total=lambda gs: float(np.sqrt(sum(np.linalg.norm(g, 2) ** 2 for g in gs)))),
     r"spectral norm"),
    (_cn(per_array=True), r"GLOBAL norm of all arrays together"),
    (_cn(as_list=True), r"return a tuple \(clipped, total\)"),
    (_cn(inplace=True), r"changed the list or the arrays it was given"),
    (_cn(always=True), r"never scaled UP"),
    (_cn(copy=False), r"return a copy \(g\.copy\(\)\)"),
    (_cn(eps=0.0), r"the 1e-6 is missing from the denominator"),
    (_cn(wrap=np.array), r"a Python float"),
])
def test_clip_by_norm_messages(wrong, message):
    text = message_of(checks.clip_by_norm, wrong)
    assert re.search(message, text, re.S), text


# --- random_search -----------------------------------------------------------------------------


def _rs(draw=lambda rng, lo, hi: float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
        key=lambda t: t[1], keys=lambda space: list(space), by_trial=True, shared=False,
        call=lambda objective, params: objective(**params), sort=True, reverse=False):
    def f(objective, space, num_trials, rng):
        names = keys(space)
        if by_trial:
            draws = [{n: draw(rng, *space[n]) for n in names} for _ in range(num_trials)]
        else:
            cols = {n: [draw(rng, *space[n]) for _ in range(num_trials)] for n in names}
            draws = [{n: cols[n][t] for n in names} for t in range(num_trials)]
        trials, params = [], {}
        for d in draws:
            if shared:
                params.update(d)
            else:
                params = d
            trials.append((params, call(objective, params)))
        if not sort:
            return trials
        return sorted(trials, key=key, reverse=reverse) if key else sorted(trials)
    return f


@pytest.mark.parametrize(("wrong", "message"), [
    (_rs(key=None), r"sort by the score only"),
    (_rs(call=lambda objective, params: objective(*params.values())), r"objective\(\*\*params\)"),
    (_rs(draw=lambda rng, lo, hi: float(np.exp(rng.uniform(np.log(lo), np.log(hi), size=1)))),
     r"Draw ONE number per call"),
    (_rs(draw=lambda rng, lo, hi: np.exp(rng.uniform(np.log(lo), np.log(hi), size=1))),
     r"a ndarray; expected one number"),
    (_rs(draw=lambda rng, lo, hi: float(np.exp(rng.uniform(np.log(hi), np.log(lo))))),
     r"takes the lower bound first"),
    (_rs(shared=True), r"the SAME dict object"),
    (_rs(keys=sorted), r"expected \['b', 'a'\]: draw in the order of space's keys"),
    (_rs(by_trial=False), r"Draw trial by trial"),
    (_rs(draw=lambda rng, lo, hi: float(rng.uniform(lo, hi))), r"should be log-uniform"),
    (_rs(draw=lambda rng, lo, hi: float(np.exp(rng.uniform(np.log10(lo), np.log10(hi))))),
     r"np\.log10\(low\) and np\.log10\(high\)"),
    (_rs(draw=lambda rng, lo, hi: float(np.exp(rng.uniform(lo, hi)))),
     r"the bounds must be logarithms too"),
    (_rs(draw=lambda rng, lo, hi: float(np.exp(np.random.default_rng(0).uniform(np.log(lo),
                                                                                 np.log(hi))))),
     r"use the rng passed in"),
    (_rs(key=lambda t: (t[1], -list(t[0].values())[0])), r"stay in the order they were drawn"),
    (_rs(call=lambda objective, params: 2 * objective(**params)), r"should be objective"),
    (_rs(sort=False), r"sort the trials by score, lowest \(best\) first"),
    (_rs(reverse=True), r"sort the trials by score, lowest \(best\) first"),
])
def test_random_search_messages(wrong, message):
    text = message_of(checks.random_search, wrong)
    assert re.search(message, text), text


def _rs_argsort(objective, space, num_trials, rng):
    trials = _rs(sort=False)(objective, space, num_trials, rng)
    return [trials[i] for i in np.argsort([score for _, score in trials])]


def test_an_unstable_argsort_fails_the_visible_and_the_hidden_checks():
    """np.argsort's default is stable up to 16 entries only: 40 trials with mixed ties."""
    text = message_of(checks.random_search, _rs_argsort)
    assert re.search(r"np\.argsort's default \(quicksort\) is not stable", text), text
    with pytest.raises(GradingError, match="extreme values"):
        checks.random_search_hidden(_rs_argsort)
    checks.random_search(_rs(key=lambda t: t[1]))     # sorted(...) is stable: it passes




# --- architecture_search -----------------------------------------------------------------------


def _as(table=lambda score, ds, ws: np.array([[score(d, w) for w in ws] for d in ds],
                                             dtype=float),
        pick=lambda s: np.unravel_index(np.argmax(s), s.shape), values=True, wrap=tuple):
    def f(score, depths, widths):
        scores = table(score, depths, widths)
        i, j = pick(scores)
        best = (depths[i], widths[j]) if values else (i, j)
        return wrap((*best, scores))
    return f


def _tie_last(score, depths, widths):
    scores = np.array([[score(d, w) for w in widths] for d in depths], dtype=float)
    best, bi, bj = -np.inf, 0, 0
    for i in range(len(depths)):
        for j in range(len(widths)):
            if scores[i, j] >= best:
                best, bi, bj = scores[i, j], i, j
    return depths[bi], widths[bj], scores


def _shared_rows(score, depths, widths):
    rows = [[0.0] * len(widths)] * len(depths)
    for i, d in enumerate(depths):
        for j, w in enumerate(widths):
            rows[i][j] = score(d, w)
    scores = np.array(rows)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    return depths[i], widths[j], scores


@pytest.mark.parametrize(("wrong", "message"), [
    (_as(pick=lambda s: (np.argmax(s), 0)), r"np\.argmax of a 2-D array returns a FLAT index"),
    (_as(pick=lambda s: np.where(s == s.max())), r"np\.where returns arrays of positions"),
    (_as(wrap=list), r"should return a tuple"),
    (_as(table=lambda score, ds, ws: np.array([[score(d, w) for w in ws] for d in ds]).astype(int)),
     r"integer array"),
    (_shared_rows, r"repeats ONE list A times"),
    (_as(values=False), r"the INDICES of the best entry"),
    (_as(pick=lambda s: np.unravel_index(np.argmin(s), s.shape)), r"LOWEST scores"),
    (_as(pick=lambda s: divmod(int(np.argmax(s)), len(s))),
     r"np\.unravel_index\(k, scores\.shape\)"),
    (_as(table=lambda score, ds, ws: np.array([[score(d, w) for d in ds] for w in ws]).T),
     r"evaluate row by row"),
    (_as(table=lambda score, ds, ws: np.array([[score(d, w) + 0 * score(d, w) for w in ws]
                                               for d in ds])),
     r"exactly once"),
    (_tie_last, r"a tie goes to the first in row-by-row order"),
    (lambda score, ds, ws: _as()(score, ds, ws)[::-1][:1] + _as()(score, ds, ws)[:2],
     r"returned the \(4, 3\) array of scores as item 1 of 3.*in this order"),
])
def test_architecture_search_messages(wrong, message):
    text = message_of(checks.architecture_search, wrong)
    assert re.search(message, text), text
