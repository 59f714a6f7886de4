"""nncourse.checks.cnns_and_transfer_learning: lesson 11's checks, run in process.

The notebook's own solution cells pass the visible and the hidden checks; the nnlib references
are refused; each classic mistake fails with the message that names its cause (one case per
targeted message); hidden messages show no values; no visible message of the backward pass
states its result.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

import nnlib
import nnlib.normalization
import nnlib.transfer
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import cnns_and_transfer_learning as checks
from nncourse.testing import GradingError

NAME = "11_cnns_and_transfer_learning"
EXERCISES = ["batchnorm2d_forward", "batchnorm2d_backward", "replace_head", "extract_features"]


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np, "nnlib": nnlib}
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


def _bn2d_ref(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    return nnlib.normalization.batchnorm2d_forward(
        x, gamma, beta, running_mean, running_var, training=training, momentum=momentum, eps=eps)


def _bn2d_module(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1,
                 eps=1e-5):
    bn = nnlib.normalization.BatchNorm2d(x.shape[1], eps=eps, momentum=momentum)
    bn.train(training)
    return bn(x), None, bn.running_mean, bn.running_var


def _features_by_predict(base, X, *, batch_size=256):
    return nnlib.predict(base, X, batch_size=batch_size).reshape(len(X), -1)


REFERENCES = {
    "batchnorm2d_forward": [_bn2d_ref, _bn2d_module],
    "batchnorm2d_backward": [nnlib.normalization.batchnorm2d_backward],
    "replace_head": [nnlib.transfer.replace_head],
    "extract_features": [nnlib.transfer.extract_features, _features_by_predict],
}


@pytest.mark.parametrize(("exercise", "ref"), [(e, r) for e, refs in REFERENCES.items()
                                               for r in refs])
def test_the_reference_is_refused(exercise, ref):
    assert "reference implementation" in message_of(getattr(checks, exercise), ref)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_an_unwritten_exercise_says_so(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    assert "NotImplementedError" in message_of(getattr(checks, exercise), stub)


# --- batchnorm2d_forward -----------------------------------------------------------------------


def _bnf(mode=None):
    """batchnorm2d_forward with one classic mistake."""

    def f(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
        N, C, H, W = x.shape
        kw = {"training": training, "momentum": momentum, "eps": eps}
        if mode == "eps":
            kw["eps"] = 1e-5
        if mode == "momentum":
            kw["momentum"] = 0.1
        if mode == "always-train":
            kw["training"] = True
        rows = x.reshape(-1, C) if mode == "no-transpose" else x.transpose(0, 2, 3, 1).reshape(
            -1, C)
        out_rows, bn_cache, rm, rv = nnlib.batchnorm_forward(
            rows, gamma, beta, running_mean, running_var, **kw)
        if mode == "no-transpose":
            out = out_rows.reshape(N, C, H, W)
        elif mode == "back-straight":
            out = out_rows.reshape(N, C, H, W)
        elif mode == "hw-swapped":
            out = out_rows.reshape(N, W, H, C).transpose(0, 3, 2, 1)
        else:
            out = out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        if mode == "per-image":
            mean = x.mean(axis=(1, 2, 3), keepdims=True)
            var = x.var(axis=(1, 2, 3), keepdims=True)
            out = gamma[:, None, None] * (x - mean) / np.sqrt(var + eps) + beta[:, None, None]
        if mode == "per-pixel":
            out = gamma[:, None, None] * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + (
                beta[:, None, None])
        if mode == "swap-stats":
            return out, (bn_cache, x.shape), rv, rm
        if mode == "cache-only":
            return out, bn_cache, rm, rv
        if mode == "in-place":
            running_mean[...] = rm
        if mode == "three":
            return out, (bn_cache, x.shape), rm
        if mode == "cache-swapped":
            return out, (x.shape, bn_cache), rm, rv
        return out, (bn_cache, x.shape), rm, rv

    return f


@pytest.mark.parametrize(("mode", "cause"), [
    ("no-transpose", "without moving the channel axis last"),
    ("back-straight", "reshaped straight back"),
    ("hw-swapped", "swapped H and W"),
    ("per-image", "per image"),
    ("per-pixel", "over the batch only"),
    ("eps", "eps = 1e-5, the default"),
    ("momentum", "momentum 0.1, the default"),
    ("always-train", "pass training on to batchnorm_forward"),
    ("swap-stats", "swapped places"),
    ("cache-only", "(bn_cache, x.shape)"),
    ("in-place", "modified its input `running_mean`"),
    ("three", "expected 4"),
    ("cache-swapped", "got a tuple of 4 items (array (12, 3), array (3,), array (3,), bool)"),
])
def test_batchnorm2d_forward_mistakes_are_named(mode, cause):
    assert cause in message_of(checks.batchnorm2d_forward, _bnf(mode))


def test_the_cache_message_summarises_instead_of_printing_arrays():
    text = message_of(checks.batchnorm2d_forward, _bnf("cache-swapped"))
    assert "array(" not in text and "batchnorm_forward's cache" in text, text


def test_batchnorm2d_forward_per_channel_running_variance_uses_all_pixels():
    def images_as_examples(x, gamma, beta, running_mean, running_var, *, training,
                           momentum=0.1, eps=1e-5):
        out, cache, rm, rv = _bnf()(x, gamma, beta, running_mean, running_var,
                                    training=training, momentum=momentum, eps=eps)
        if training:
            N = x.shape[0]
            var = x.var(axis=(0, 2, 3))
            rv = (1 - momentum) * running_var + momentum * var * N / max(N - 1, 1)
        return out, cache, rm, rv

    assert "M = N H W" in message_of(checks.batchnorm2d_forward, images_as_examples)


# --- batchnorm2d_backward ----------------------------------------------------------------------


def _bnb(mode=None):
    def f(dout, cache):
        bn_cache, (N, C, H, W) = cache
        rows = dout.reshape(-1, C) if mode == "no-transpose" else dout.transpose(
            0, 2, 3, 1).reshape(-1, C)
        dx_rows, dgamma, dbeta = nnlib.batchnorm_backward(rows, bn_cache)
        if mode == "rows":
            return dx_rows, dgamma, dbeta
        if mode == "back-straight":
            return dx_rows.reshape(N, C, H, W), dgamma, dbeta
        if mode == "hw-swapped":
            return dx_rows.reshape(N, W, H, C).transpose(0, 3, 2, 1), dgamma, dbeta
        dx = dx_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        if mode == "swap":
            return dx, dbeta, dgamma
        if mode == "in-place":
            dout *= 1.0
            dout[0, 0, 0, 0] += 1.0
        if mode == "no-transpose":
            return dx_rows.reshape(N, C, H, W), dgamma, dbeta
        return dx, dgamma, dbeta

    return f


@pytest.mark.parametrize(("mode", "cause"), [
    ("no-transpose", "dout.reshape(-1, C) without moving the channel axis"),
    ("back-straight", "reshaped straight back"),
    ("hw-swapped", "swapped H and W"),
    ("rows", "still need to go back into images"),
    ("swap", "swapped places"),
    ("in-place", "modified dout or the cache"),
])
def test_batchnorm2d_backward_mistakes_are_named(mode, cause):
    assert cause in message_of(checks.batchnorm2d_backward, _bnb(mode))


def test_backward_messages_do_not_state_the_result():
    forms = [r"transpose\(0, 3, 1, 2\)", r"dout\.transpose", r"reshape\(N, H, W, C\)"]
    for mode in ("no-transpose", "back-straight", "hw-swapped", "rows", "swap"):
        text = message_of(checks.batchnorm2d_backward, _bnb(mode))
        for form in forms:
            assert not re.search(form, text), f"{form!r} in: {text}"
    doc = checks.batchnorm2d_backward.__doc__ + checks.batchnorm2d_backward_hidden.__doc__
    assert not any(re.search(form, doc) for form in forms)


# --- replace_head ------------------------------------------------------------------------------


def _rh(mode=None):
    def f(net, num_classes, *, rng, freeze=True):
        head = net[len(net) - 1]
        body = list(net)[:-1]
        if mode == "copies":
            body = [copy.deepcopy(m) for m in body]
        if mode == "linear-only":
            for m in body:
                if isinstance(m, nnlib.Linear):
                    m.requires_grad_(not freeze)
        elif mode == "whole-net":
            net.requires_grad_(not freeze)
        elif mode != "no-unfreeze" or freeze:
            for m in body:
                m.requires_grad_(not freeze)
        d_in = head.out_features if mode == "out-features" else head.in_features
        r = np.random.default_rng(0) if mode == "new-rng" else rng
        dtype = np.float64 if mode == "float64" else head.weight.dtype
        new_head = nnlib.Linear(d_in, num_classes, rng=r, dtype=dtype)
        if mode == "head-frozen":
            new_head.requires_grad_(False)
        if mode == "keep-old":
            return nnlib.Sequential(*body, head, new_head)
        if mode == "in-place":
            net._layers[-1] = new_head
            return net
        if mode == "none":
            return None
        if mode == "hidden-only" and len(net) > 4:
            body[0].requires_grad_(True)
        return nnlib.Sequential(*body, new_head)

    return f


@pytest.mark.parametrize(("mode", "cause"), [
    ("copies", "not net's module 0 itself"),
    ("linear-only", "batch norm's weight and bias"),
    ("no-unfreeze", "still frozen"),
    ("out-features", "OUTPUT size"),
    ("new-rng", "with the rng you were given"),
    ("float64", "dtype=net[-1].weight.dtype"),
    ("head-frozen", "head of replace_head(net, 3, rng=rng, freeze=True) is frozen"),
    ("keep-old", "Sequential of 5 modules"),
    ("in-place", "changed net itself"),
    ("none", "returned None"),
])
def test_replace_head_mistakes_are_named(mode, cause):
    assert cause in message_of(checks.replace_head, _rh(mode))


def test_replace_head_setting_the_flags_of_the_whole_input_net_is_named():
    # net.requires_grad_(not freeze) also freezes (or unfreezes) net's own, dropped head.
    assert "froze net's old head" in message_of(checks.replace_head, _rh("whole-net"))
    assert "net[:-1]" in message_of(checks.replace_head, _rh("whole-net"))
    text = message_of(checks.replace_head_hidden, _rh("whole-net"))
    assert "hidden case" in text and "flags of net's old head" in text


def test_replace_head_unfreezing_the_old_head_is_named():
    def unfreezes_all(net, num_classes, *, rng, freeze=True):
        return _rh()(net.requires_grad_(True), num_classes, rng=rng, freeze=freeze)

    assert "unfroze net's old head" in message_of(checks.replace_head, unfreezes_all)


def test_replace_head_hidden_catches_what_the_visible_net_does_not_show():
    checks.replace_head(_rh("hidden-only"))
    text = message_of(checks.replace_head_hidden, _rh("hidden-only"))
    assert "hidden case" in text and "requires_grad" in text


# --- extract_features --------------------------------------------------------------------------


def _ef(mode=None):
    def f(base, X, *, batch_size=256):
        was = base.training
        if mode != "no-eval":
            base.eval()
        step = len(X) if mode == "one-chunk" else 1 if mode == "ones" else batch_size
        stop = len(X) - len(X) % step if mode == "drop-last" and len(X) % step else len(X)
        chunks = []
        for start in range(0, stop, step):
            out = base(X[start:start + step])
            chunks.append(out if mode == "no-flatten" else out.reshape(len(out), -1))
        if mode == "always-train":
            base.train()
        elif mode != "no-restore":
            base.train(was)
        if mode == "backward":
            base.backward(np.ones_like(base(X[:1])))
        if mode == "none":
            return None
        if mode == "hidden-only" and batch_size == 1:
            return np.concatenate(chunks)[::-1]
        return np.concatenate(chunks)

    return f


@pytest.mark.parametrize(("mode", "cause"), [
    ("no-eval", "in training mode"),
    ("one-chunk", "chunks of [7] examples"),
    ("ones", "only the last one shorter"),
    ("drop-last", "the last, shorter chunk"),
    ("no-flatten", "flattened"),
    ("no-restore", "left in evaluation mode"),
    ("always-train", "restore the mode it had"),
    ("backward", "forward pass only"),
    ("none", "returned None"),
])
def test_extract_features_mistakes_are_named(mode, cause):
    assert cause in message_of(checks.extract_features, _ef(mode))


def test_extract_features_hidden_catches_what_the_visible_case_does_not_show():
    checks.extract_features(_ef("hidden-only"))
    assert "hidden case" in message_of(checks.extract_features_hidden, _ef("hidden-only"))


# --- hidden messages -------------------------------------------------------------------------


def _nudged(fn):
    """fn, with its first array output changed in its last entry."""

    def f(*args, **kwargs):
        out = fn(*args, **kwargs)
        first = np.array(out[0], copy=True)
        first.flat[-1] += 1.0
        return (first, *out[1:])

    return f


@pytest.mark.parametrize("exercise", ["batchnorm2d_forward", "batchnorm2d_backward"])
def test_hidden_messages_name_the_case_and_show_no_values(sol, exercise):
    text = message_of(getattr(checks, f"{exercise}_hidden"), _nudged(sol[exercise]))
    assert "hidden case" in text
    assert "Got" not in text and "expected [" not in text and "array(" not in text
