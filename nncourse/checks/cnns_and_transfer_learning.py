"""Checks of lesson 11, CNNs in practice and transfer learning.

The notebook is solutions/11_cnns_and_transfer_learning (course/ for learners).

One pair of checks per graded exercise: ``<exercise>(fn)`` runs the visible checks (small cases,
properties, targeted messages for classic mistakes); ``<exercise>_hidden(fn)`` compares ``fn``
with the ``nnlib`` reference on generated cases whose seed comes from
:func:`nncourse.testing.hidden_seed`. ``help(checks.<exercise>)`` lists what is verified.

Messages name the likely cause of a wrong answer; the backward pass's result is never stated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib
import nnlib.normalization
import nnlib.training
import nnlib.transfer
from nncourse.checks._contract import (
    call,
    call_advised,
    exercise_check,
    expect_arity,
    looks_like,
)
from nncourse.testing import (
    GradingError,
    assert_close,
    check_against_reference,
    forbid_reference,
    hidden_seed,
)
from nnlib.gradcheck import numerical_gradient

SLUG = "cnns_and_transfer_learning"

__all__ = [
    "batchnorm2d_forward", "batchnorm2d_forward_hidden",
    "batchnorm2d_backward", "batchnorm2d_backward_hidden",
    "replace_head", "replace_head_hidden",
    "extract_features", "extract_features_hidden",
]


def _seed(key: str) -> int:
    return hidden_seed(f"{SLUG}/{key}")


def _require(ok: Any, message: str) -> None:
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


# ---------------------------------------------------------------------------------------------
# Spatial batch normalisation: the reshape around lesson 08's batchnorm_forward/backward
# ---------------------------------------------------------------------------------------------


def _rows(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N H W, C): one row per pixel of each image, one column per channel."""
    return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])


def _images(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`_rows`."""
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def _bn2d_forward_ref(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any,
                      training: bool, momentum: float, eps: float) -> tuple[Any, ...]:
    """The exercise's contract, values from ``nnlib.normalization.batchnorm2d_forward``."""
    out, _, new_mean, new_var = nnlib.normalization.batchnorm2d_forward(
        x, gamma, beta, running_mean, running_var, training=training, momentum=momentum,
        eps=eps)
    if training:
        bn_cache = nnlib.normalization.batchnorm_forward(
            _rows(x), gamma, beta, running_mean, running_var, training=True, momentum=momentum,
            eps=eps)[1]
    else:
        bn_cache = nnlib.normalization.batchnorm_forward(
            _rows(x), gamma, beta, running_mean, running_var, training=False, eps=eps)[1]
    return out, (bn_cache, tuple(x.shape)), new_mean, new_var


def _bn2d_backward_ref(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, ...]:
    """The exercise's contract, values from ``nnlib.normalization.batchnorm2d_backward``."""
    (x_hat, gamma, inv_std, training), shape = cache
    return nnlib.normalization.batchnorm2d_backward(
        dout, (_images(x_hat, shape), gamma, inv_std, training))


def _as_shape(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError):
        return None


def _summary(value: Any) -> str:
    """A one-line description of a value for a message (never a whole array)."""
    shape = _as_shape(value) if not isinstance(value, np.ndarray) or value.ndim == 1 else None
    if shape is not None and len(shape) <= 8:
        return repr(shape)
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, tuple | list):
        parts = ", ".join(f"array {np.shape(v)}" if isinstance(v, np.ndarray)
                          else type(v).__name__ for v in value[:6])
        more = ", ..." if len(value) > 6 else ""
        hint = (" (it looks like batchnorm_forward's cache: the cache is (bn_cache, x.shape), "
                "in that order)" if len(value) == 4 else "")
        return f"a {type(value).__name__} of {len(value)} items ({parts}{more}){hint}"
    text = repr(value)
    return text if len(text) <= 60 else f"a {type(value).__name__}"


def _bn2d_call(
    fn: Callable[..., Any], args: list[Any], name: str, **kwargs: Any
) -> tuple[Any, ...]:
    __tracebackhide__ = True
    before = [np.copy(a) for a in args]
    res = call_advised(fn, *args, name=name, advice=[(
        ValueError, "gamma",
        "nnlib's batchnorm_forward wants one column per channel: a matrix of shape (N H W, C), "
        "so that gamma (C,) lines up with its columns.")], **kwargs)
    for pname, a, b in zip(("x", "gamma", "beta", "running_mean", "running_var"), args, before,
                           strict=True):
        _require(np.array_equal(a, b), f"{name} modified its input `{pname}` in place: build new "
                 "arrays (a reshape of a transpose is a new array; running statistics are "
                 "returned, not written into).")
    return expect_arity(res, ["out", "cache", "new_running_mean", "new_running_var"], name=name)


def _bn2d_mistakes(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, rm: np.ndarray,
                   rv: np.ndarray, momentum: float, eps: float) -> list[tuple[np.ndarray, str]]:
    """Wrong outputs of classic mistakes, each with its cause."""
    N, C, H, W = x.shape
    bnf = nnlib.normalization.batchnorm_forward
    kw = {"training": True, "momentum": momentum, "eps": eps}
    wrong = []
    # channels not moved last: the reshape mixes pixels of different channels in one column
    flat = bnf(x.reshape(-1, C), gamma, beta, rm, rv, **kw)[0]
    wrong.append((flat.reshape(N, C, H, W),
                  "x.reshape(-1, C) without moving the channel axis last first: each row then "
                  "holds C neighbouring numbers of one channel, not the C channels of one pixel. "
                  "Move the channels to the last axis (x.transpose(0, 2, 3, 1)) before the "
                  "reshape to (N H W, C)."))
    good_rows = bnf(_rows(x), gamma, beta, rm, rv, **kw)[0]
    wrong.append((good_rows.reshape(N, C, H, W),
                  "the rows were reshaped straight back to (N, C, H, W): they are in the order "
                  "(N, H, W, C), so reshape to (N, H, W, C) first and then move the channels "
                  "back to axis 1 (transpose(0, 3, 1, 2))."))
    wrong.append((good_rows.reshape(N, W, H, C).transpose(0, 3, 2, 1),
                  "the way back swapped H and W: reshape the rows to (N, H, W, C), in that "
                  "order, then transpose(0, 3, 1, 2)."))
    per_image = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / np.sqrt(
        x.var(axis=(1, 2, 3), keepdims=True) + eps)
    wrong.append((gamma[:, None, None] * per_image + beta[:, None, None],
                  "the statistics were taken per image (over C, H, W): batch norm takes them "
                  "per channel, over the batch and every pixel (N, H, W)."))
    per_pixel = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    wrong.append((gamma[:, None, None] * per_pixel + beta[:, None, None],
                  "the statistics were taken over the batch only (one mean per channel and "
                  "pixel): a convolutional batch norm shares one mean and variance per channel "
                  "over the batch and every pixel (N, H, W), since every pixel of a feature map "
                  "is the same filter's output."))
    return wrong


@exercise_check
def batchnorm2d_forward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``batchnorm2d_forward(x, gamma, beta, running_mean, running_var, *,
    training, momentum=0.1, eps=1e-5) -> (out, cache, new_running_mean, new_running_var)``:

    - it is your own code, not ``nnlib.normalization.batchnorm2d_forward`` or ``BatchNorm2d``
      (lesson 08's ``nnlib.batchnorm_forward`` is allowed, and meant);
    - it modifies none of its inputs and returns the four values in this order;
    - training mode on a (2, 3, 2, 3) batch (H != W): out of shape (N, C, H, W), each channel
      normalised over (N, H, W) (mean 0, std 1 with gamma = 1, beta = 0), then the values with
      gamma and beta; targeted messages for the reshape without the transpose, the way back
      without the transpose, H and W swapped, statistics per image or per pixel;
    - momentum and eps are passed on (momentum 0.3, eps 1e-3 here), and the running variance
      uses the unbiased correction with M = N H W values per channel;
    - the cache is (the cache of batchnorm_forward on the (N H W, C) rows, x.shape);
    - evaluation mode (a batch of one): normalised with the running statistics, which come back
      unchanged, and the training flag False in the cache.
    """
    __tracebackhide__ = True
    x0 = np.random.default_rng(11).normal(size=(2, 3, 2, 3)) * [[[1.0]], [[3.0]], [[0.5]]] + [
        [[0.0]], [[2.0]], [[-1.0]]]
    forbid_reference(
        fn, nnlib.normalization.batchnorm2d_forward, nnlib.normalization.BatchNorm2d,
        args=(x0, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)),
        kwargs={"training": True}, name="batchnorm2d_forward")
    call_1 = ("batchnorm2d_forward(x, gamma=np.ones(3), beta=np.zeros(3), running_mean, "
              "running_var, training=True) on x of shape (N, C, H, W) = (2, 3, 2, 3)")
    out1 = _bn2d_call(fn, [x0.copy(), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)], call_1,
                      training=True)[0]
    _require(np.shape(out1) == x0.shape,
             f"out of {call_1} has shape {np.shape(out1)}; expected (2, 3, 2, 3), the shape of x: "
             "reshape the normalised rows back into images.")
    for wrong, cause in _bn2d_mistakes(x0, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3),
                                       0.1, 1e-5):
        _require(not looks_like(out1, wrong), f"out of {call_1} is wrong: {cause}")
    o = np.asarray(out1, dtype=float)
    _require(
        np.allclose(o.mean(axis=(0, 2, 3)), 0, atol=1e-7)
        and np.allclose(o.std(axis=(0, 2, 3)), 1, atol=1e-3),
        f"with gamma = 1 and beta = 0, each channel of out ({call_1}) should have mean 0 and "
        "standard deviation 1 over the batch and the pixels (axes 0, 2, 3); got means "
        f"{np.round(o.mean(axis=(0, 2, 3)), 4)} and standard deviations "
        f"{np.round(o.std(axis=(0, 2, 3)), 4)}.",
    )
    # gamma, beta, momentum and eps that are not the defaults
    g, b = np.array([2.0, -1.0, 0.5]), np.array([0.5, 0.0, -2.0])
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.0, 2.0, 0.5])
    call_2 = ("batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training=True, "
              "momentum=0.3, eps=1e-3) on the same x")
    out2, cache2, rm2, rv2 = _bn2d_call(fn, [x0.copy(), g.copy(), b.copy(), rm.copy(), rv.copy()],
                                        call_2, training=True, momentum=0.3, eps=1e-3)
    want = _bn2d_forward_ref(x0, g, b, rm, rv, True, 0.3, 1e-3)
    default_eps = _bn2d_forward_ref(x0, g, b, rm, rv, True, 0.3, 1e-5)
    _require(not looks_like(out2, default_eps[0]),
             f"out of {call_2} was normalised with eps = 1e-5, the default: pass eps on to "
             "batchnorm_forward (eps=eps).")
    assert_close(out2, want[0], name=f"out of {call_2}", layout="(N, C, H, W) = (2, 3, 2, 3)")
    _require(not (looks_like(rm2, want[3]) and looks_like(rv2, want[2])),
             f"new_running_mean and new_running_var of {call_2} came back in swapped places: "
             "return (out, cache, new_running_mean, new_running_var) in this order.")
    _require(not looks_like(rm2, 0.9 * rm + 0.1 * x0.mean(axis=(0, 2, 3))),
             f"new_running_mean of {call_2} moved with momentum 0.1, the default: pass momentum "
             "on to batchnorm_forward (momentum=momentum).")
    assert_close(rm2, want[2], name=f"new_running_mean of {call_2}", layout="(C,) = (3,)")
    M, N = 12, 2
    v = x0.var(axis=(0, 2, 3))
    _require(not looks_like(rv2, 0.7 * rv + 0.3 * v * N / (N - 1)),
             f"new_running_var of {call_2} used the correction N / (N - 1) with N = 2 images: "
             "every pixel counts as an example, so the unbiased correction uses M = N H W = 12 "
             "values per channel.")
    _require(not looks_like(rv2, 0.7 * rv + 0.3 * v),
             f"new_running_var of {call_2} used the biased variance: the running variance is "
             f"updated with the unbiased one (M / (M - 1), M = N H W = {M}).")
    assert_close(rv2, want[3], name=f"new_running_var of {call_2}", layout="(C,) = (3,)")
    # the cache
    _require(isinstance(cache2, tuple | list) and len(cache2) == 2,
             f"the cache of {call_2} should be the pair (bn_cache, x.shape): the cache "
             "batchnorm_forward returned for the (N H W, C) rows, and the shape of x; got "
             f"{type(cache2).__name__}"
             + (f" of length {len(cache2)}" if isinstance(cache2, tuple | list) else ""))
    _require(_as_shape(cache2[1]) == x0.shape,
             f"cache[1] of {call_2} should be x.shape, (2, 3, 2, 3); got {_summary(cache2[1])}")
    bn_cache = cache2[0]
    _require(isinstance(bn_cache, tuple | list) and len(bn_cache) == 4,
             f"cache[0] of {call_2} should be the cache batchnorm_forward returned, (x_hat, "
             "gamma, inv_std, training)")
    _require(np.shape(bn_cache[0]) == (M, 3),
             f"x_hat in cache[0] of {call_2} has shape {np.shape(bn_cache[0])}; expected the rows "
             "(N H W, C) = (12, 3) that batchnorm_forward normalised.")
    for i, part in enumerate(("x_hat", "gamma", "inv_std")):
        assert_close(bn_cache[i], want[1][0][i], name=f"{part} in cache[0] of {call_2}")
    _require(bool(bn_cache[3]) is True, f"the training flag in cache[0] of {call_2} should be True")
    # evaluation mode: a batch of one
    x1 = np.array([[[[1.0, 2.0]], [[0.0, -1.0]], [[3.0, 3.0]]]])   # (1, 3, 1, 2)
    call_e = ("batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training=False, "
              "eps=1e-3) on x of shape (1, 3, 1, 2)")
    res_e = _bn2d_call(fn, [x1.copy(), g.copy(), b.copy(), rm.copy(), rv.copy()], call_e,
                       training=False, eps=1e-3)
    want_e = _bn2d_forward_ref(x1, g, b, rm, rv, False, 0.1, 1e-3)
    _require(not looks_like(res_e[0], _bn2d_forward_ref(x1, g, b, rm, rv, True, 0.1, 1e-3)[0]),
             f"out of {call_e} was normalised with the batch's own statistics, as in training "
             "mode: pass training on to batchnorm_forward (training=training), so that "
             "evaluation mode uses the running statistics.")
    assert_close(res_e[0], want_e[0], name=f"out of {call_e} (evaluation: normalise with the "
                 "running statistics, whatever the batch)", layout="(1, 3, 1, 2)", reveal=True)
    assert_close(res_e[2], rm, name=f"new_running_mean of {call_e} (unchanged in evaluation)")
    assert_close(res_e[3], rv, name=f"new_running_var of {call_e} (unchanged in evaluation)")
    _require(isinstance(res_e[1], tuple | list) and len(res_e[1]) == 2
             and isinstance(res_e[1][0], tuple | list) and not res_e[1][0][3],
             f"the cache of {call_e} should hold batchnorm_forward's evaluation-mode cache, whose "
             "training flag is False: pass training on (training=training).")
    _done("batchnorm2d_forward")


def _bn_kw(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any,
            training: bool, momentum: float, eps: float) -> Any:
        return fn(x, gamma, beta, running_mean, running_var, training=training,
                  momentum=momentum, eps=eps)
    return run


def _make_bn2d_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    training = kind != "evaluation mode, batch of one"
    N = 1 if kind in ("batch of one", "evaluation mode, batch of one") else int(rng.integers(2, 6))
    C = 1 if kind == "one channel" else int(rng.integers(2, 7))
    H, W = (int(rng.integers(1, 6)) * 2 + 1, int(rng.integers(1, 4)) * 2 + 1) if kind == (
        "odd sizes") else (int(rng.integers(1, 6)), int(rng.integers(2, 6)))
    x = rng.normal(size=(N, C, H, W)) * rng.uniform(0.5, 3.0, (C, 1, 1)) + rng.normal(
        size=(C, 1, 1))
    if kind == "extreme values":
        x = x * 1e3 + 1e4
    gamma, beta = rng.normal(size=C) + 1.0, rng.normal(size=C)
    running_mean, running_var = rng.normal(size=C), rng.uniform(0.5, 2.0, C)
    momentum = float(rng.choice([0.1, 0.01, 0.5, 1.0]))
    eps = float(rng.choice([1e-5, 1e-3]))
    return (x, gamma, beta, running_mean, running_var, training, momentum, eps)


_BN2D_KINDS = ("batch of one", "odd sizes", "one channel", "random",
               "evaluation mode, batch of one", "extreme values")


@exercise_check
def batchnorm2d_forward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``batchnorm2d_forward``: out, both running statistics, x_hat and inv_std
    of the cache and x.shape equal the references' (``nnlib.normalization.batchnorm2d_forward``
    and lesson 08's ``batchnorm_forward`` on the rows) on generated cases: a batch of one image
    (several pixels), odd sizes, one channel, random, evaluation mode with a batch of one,
    values around 1e4; non-square images, momentum 0.01 to 1, eps 1e-5 or 1e-3."""
    __tracebackhide__ = True
    parts: list[tuple[str, Callable[[Any], Any]]] = [
        ("out", lambda r: r[0]), ("new_running_mean", lambda r: r[2]),
        ("new_running_var", lambda r: r[3]), ("x_hat (cache[0][0])", lambda r: r[1][0][0]),
        ("inv_std (cache[0][2])", lambda r: r[1][0][2]),
        ("x.shape (cache[1])", lambda r: np.asarray(r[1][1], dtype=float)),
    ]
    for part, pick in parts:
        check_against_reference(
            _bn_kw(fn), _bn_kw(_bn2d_forward_ref), _make_bn2d_case,
            name=f"{part} of batchnorm2d_forward", seed=_seed("batchnorm2d_forward"),
            kinds=_BN2D_KINDS, compare=pick)


@exercise_check
def batchnorm2d_backward(fn: Callable[..., Any]) -> None:
    """Visible checks of ``batchnorm2d_backward(dout, cache) -> (dx, dgamma, dbeta)``:

    - it is your own code, not ``nnlib.normalization.batchnorm2d_backward`` or ``BatchNorm2d``
      (lesson 08's ``nnlib.batchnorm_backward`` is allowed, and meant);
    - it modifies neither dout nor the cache and returns three values, dx of shape (N, C, H, W)
      first;
    - on a training-mode cache of a (2, 3, 2, 3) batch (H != W): dbeta, dgamma and dx equal the
      numerical gradients of sum(out * dout); targeted messages for dout reshaped without the
      transpose, dx reshaped back without the transpose, H and W swapped on the way back, and
      gamma / beta gradients swapped;
    - on an evaluation-mode cache: dx equals the numerical gradient with the running statistics
      held constant.
    """
    __tracebackhide__ = True
    bnb = nnlib.normalization.batchnorm_backward
    x = np.random.default_rng(12).normal(size=(2, 3, 2, 3)) * [[[1.0]], [[2.0]], [[0.5]]]
    gamma, beta = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    rm, rv = np.zeros(3), np.ones(3)
    dout = np.random.default_rng(13).normal(size=x.shape)
    cache = _bn2d_forward_ref(x, gamma, beta, rm, rv, True, 0.1, 1e-5)[1]
    forbid_reference(fn, nnlib.normalization.batchnorm2d_backward,
                     nnlib.normalization.BatchNorm2d, args=(dout, cache),
                     name="batchnorm2d_backward")
    call_text = ("batchnorm2d_backward(dout, cache) for a training-mode batch of shape "
                 "(N, C, H, W) = (2, 3, 2, 3)")
    dout_before, xhat_before = dout.copy(), cache[0][0].copy()
    res = call_advised(fn, dout, cache, name=call_text, advice=[(
        ValueError, "dout has shape",
        "batchnorm_backward wants dout in the layout of the forward's rows, (N H W, C): "
        "rearrange dout the same way the forward rearranged x.")])
    _require(np.array_equal(dout, dout_before) and np.array_equal(cache[0][0], xhat_before),
             f"{call_text} modified dout or the cache in place: build new arrays.")
    dx, dgamma, dbeta = expect_arity(res, ["dx", "dgamma", "dbeta"], name=call_text)
    _require(np.shape(dx) == x.shape,
             f"dx of {call_text} has shape {np.shape(dx)}; expected (2, 3, 2, 3), the shape of x"
             + (": the rows (N H W, C) still need to go back into images." if np.shape(dx) == (
                 12, 3) else "."))
    want_dx, want_dgamma, want_dbeta = _bn2d_backward_ref(dout, cache)
    _require(not (looks_like(dgamma, want_dbeta) and looks_like(dbeta, want_dgamma)),
             f"dgamma and dbeta of {call_text} came back in swapped places: return (dx, dgamma, "
             "dbeta) in this order.")
    N, C, H, W = x.shape
    wrong_in = bnb(dout.reshape(-1, C), cache[0])
    _require(not looks_like(dbeta, wrong_in[2]) or looks_like(dbeta, want_dbeta),
             f"dbeta of {call_text} is wrong: dout.reshape(-1, C) without moving the channel axis "
             "last puts numbers of one channel into different columns. dout must be rearranged "
             "exactly as x was in the forward pass.")
    rows_dx = bnb(_rows(dout), cache[0])[0]
    _require(not looks_like(dx, rows_dx.reshape(N, C, H, W)),
             f"dx of {call_text} is wrong: the rows of dx were reshaped straight back to "
             "(N, C, H, W), but they are in the order (N, H, W, C). Undo the forward's "
             "rearrangement step by step, in reverse.")
    _require(not looks_like(dx, rows_dx.reshape(N, W, H, C).transpose(0, 3, 2, 1)),
             f"dx of {call_text} is wrong: the way back swapped H and W. Undo the forward's "
             "rearrangement step by step, in reverse.")

    def loss_of(v: np.ndarray, which: str) -> float:
        args = {"x": x, "gamma": gamma, "beta": beta}
        args[which] = v
        out = nnlib.normalization.batchnorm2d_forward(
            args["x"], args["gamma"], args["beta"], rm, rv, training=True)[0]
        return float(np.sum(out * dout))

    assert_close(dbeta, numerical_gradient(lambda v: loss_of(v, "beta"), beta.copy()),
                 name=f"dbeta of {call_text} compared with the numerical gradient",
                 layout="(C,) = (3,)", rtol=1e-5, atol=1e-8)
    assert_close(dgamma, numerical_gradient(lambda v: loss_of(v, "gamma"), gamma.copy()),
                 name=f"dgamma of {call_text} compared with the numerical gradient",
                 layout="(C,) = (3,)", rtol=1e-5, atol=1e-8)
    assert_close(dx, numerical_gradient(lambda v: loss_of(v, "x"), x.copy()),
                 name=f"dx of {call_text} compared with the numerical gradient",
                 layout="(2, 3, 2, 3)", rtol=1e-5, atol=1e-8)
    # evaluation mode
    rm_e, rv_e = np.array([0.5, 0.0, 1.0]), np.array([2.0, 1.0, 0.5])
    cache_e = _bn2d_forward_ref(x[:1], gamma, beta, rm_e, rv_e, False, 0.1, 1e-5)[1]
    call_e = "batchnorm2d_backward(dout, cache) for an evaluation-mode cache of one image"
    dx_e = expect_arity(call(fn, dout[:1].copy(), cache_e, name=call_e),
                        ["dx", "dgamma", "dbeta"], name=call_e)[0]
    num_e = numerical_gradient(lambda v: float(np.sum(nnlib.normalization.batchnorm2d_forward(
        v, gamma, beta, rm_e, rv_e, training=False)[0] * dout[:1])), x[:1].copy())
    assert_close(dx_e, num_e, name=f"dx of {call_e} compared with the numerical gradient",
                 layout="(1, 3, 2, 3)", rtol=1e-5, atol=1e-8)
    _done("batchnorm2d_backward")


def _make_bn2d_back_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    x, gamma, beta, rm, rv, training, momentum, eps = _make_bn2d_case(rng, kind)
    cache = _bn2d_forward_ref(x, gamma, beta, rm, rv, training, momentum, eps)[1]
    dout = rng.normal(size=x.shape) * (1e3 if kind == "extreme values" else 1.0)
    return (dout, cache)


@exercise_check
def batchnorm2d_backward_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``batchnorm2d_backward``: (dx, dgamma, dbeta) equal
    ``nnlib.normalization.batchnorm2d_backward``'s on generated caches (a batch of one image,
    odd sizes, one channel, random, evaluation mode with a batch of one, upstream gradients up
    to 1e3; non-square images)."""
    __tracebackhide__ = True
    check_against_reference(
        fn, _bn2d_backward_ref, _make_bn2d_back_case, name="batchnorm2d_backward",
        seed=_seed("batchnorm2d_backward"), rtol=1e-6, atol=1e-8, kinds=_BN2D_KINDS)


# ---------------------------------------------------------------------------------------------
# Transfer learning: a new head on a pretrained body, and the body's features
# ---------------------------------------------------------------------------------------------


def _small_net(rng: np.random.Generator, dtype: Any = np.float64) -> nnlib.Sequential:
    """(N, 6) -> (N, 7): Linear(6, 4), BatchNorm1d(4), ReLU, Linear(4, 7)."""
    return nnlib.Sequential(
        nnlib.Linear(6, 4, rng=rng, dtype=dtype), nnlib.modules.BatchNorm1d(4, dtype=dtype),
        nnlib.ReLU(), nnlib.Linear(4, 7, rng=rng, dtype=dtype))


_OLD_HEAD_HINT = (" set the flags of the body's modules (net[:-1]), not of the whole of net: "
                  "net's own head is not part of the new network, and net must stay as it was.")


def _flags(net: Any) -> list[bool]:
    return [bool(p.requires_grad) for p in net.parameters()]


def _run_replace(fn: Callable[..., Any], net: Any, num_classes: int, rng: Any, freeze: bool,
                 name: str) -> Any:
    __tracebackhide__ = True
    result = call(fn, net, num_classes, rng=rng, freeze=freeze, name=name)
    _require(result is not None,
             f"{name} returned None: return the new network (an nnlib.Sequential).")
    _require(isinstance(result, nnlib.Sequential),
             f"{name} returned a {type(result).__name__}; expected an nnlib.Sequential: the "
             "body's modules followed by the new head.")
    return result


@exercise_check
def replace_head(fn: Callable[..., Any]) -> None:
    """Visible checks of ``replace_head(net, num_classes, *, rng, freeze=True) -> new_net``
    on ``Sequential(Linear(6, 4), BatchNorm1d(4), ReLU(), Linear(4, 7))`` and 3 classes:

    - it is your own code, not ``nnlib.transfer.replace_head``;
    - it returns an ``nnlib.Sequential`` of four modules whose output has shape (N, 3); ``net``
      keeps its four modules and its old head (weights and requires_grad flags unchanged);
    - the first three modules are ``net``'s own objects (the pretrained weights shared, not
      copied, nor re-initialised);
    - the new head is a new ``nnlib.Linear`` with the old head's number of inputs (4, not its
      7 outputs) and ``num_classes`` outputs, drawn from the ``rng`` you were given exactly as
      ``nnlib.Linear(4, 3, rng=rng)`` draws it, with the old head's dtype (float32 here);
    - freeze=True: every parameter of the body frozen (the batch norm's too), the head
      trainable; freeze=False on a frozen net: every parameter trainable again.
    """
    __tracebackhide__ = True
    net = _small_net(np.random.default_rng(21), np.float32)
    forbid_reference(fn, nnlib.transfer.replace_head, args=(net, 3),
                     kwargs={"rng": np.random.default_rng(0)}, name="replace_head")
    net = _small_net(np.random.default_rng(21), np.float32)
    old = list(net)
    old_w = old[3].weight.data.copy()
    rng = np.random.default_rng(22)
    want_head = nnlib.Linear(4, 3, rng=copy.deepcopy(rng), dtype=np.float32)
    name = "replace_head(net, 3, rng=rng, freeze=True)"
    new = _run_replace(fn, net, 3, rng, True, name)
    _require(len(net) == 4 and all(a is b for a, b in zip(net, old, strict=True)),
             f"{name} changed net itself (it now has {len(net)} modules): build a new "
             "Sequential and leave net as it was.")
    _require(np.array_equal(old[3].weight.data, old_w),
             f"{name} changed the old head's weights: leave net's head as it was.")
    _require(all(_flags(old[3])),
             f"{name} froze net's old head (its requires_grad flags are now False):"
             + _OLD_HEAD_HINT)
    _require(len(new) == 4,
             f"{name} returned a Sequential of {len(new)} modules; expected 4: net's first three "
             "modules, then the new head (the old head is dropped, not kept under the new one).")
    for i in range(3):
        _require(new[i] is old[i],
                 f"module {i} of the result of {name} is not net's module {i} itself: the body "
                 "should be the pretrained modules (the same objects), so that their trained "
                 "weights are used, not copies or new layers.")
    head = new[3]
    _require(isinstance(head, nnlib.Linear),
             f"the last module of the result of {name} is a {type(head).__name__}; expected a "
             "new nnlib.Linear.")
    _require(head is not old[3], f"the head of the result of {name} is the old head itself: "
             "create a new nnlib.Linear.")
    _require(head.in_features == 4,
             f"the new head of {name} is Linear({head.in_features}, {head.out_features}); its "
             "input size must be the old head's input size (4, net[-1].in_features): it reads "
             "the same body features." + (" 7 is the old head's OUTPUT size." if (
                 head.in_features == 7) else ""))
    _require(head.out_features == 3,
             f"the new head of {name} has {head.out_features} outputs; expected num_classes = 3.")
    _require(head.weight.dtype == np.float32,
             f"the new head of {name} holds {head.weight.dtype} weights but the network is "
             "float32: create it with dtype=net[-1].weight.dtype.")
    _require(np.array_equal(head.weight.data, want_head.weight.data)
             and np.array_equal(head.bias.data, want_head.bias.data),
             f"the new head of {name} is not initialised as nnlib.Linear(4, 3, rng=rng) "
             "initialises it: create it with the rng you were given (and nothing else drawn "
             "from it before), not a new generator.")
    X = np.random.default_rng(23).normal(size=(5, 6)).astype(np.float32)
    new.eval()
    out = call(new, X, name=f"the network returned by {name}, called on X of shape (5, 6)")
    _require(np.shape(out) == (5, 3), f"the network returned by {name} gives an output of shape "
             f"{np.shape(out)} for X of shape (5, 6); expected (5, 3).")
    flags = _flags(new)
    body_flags, head_flags = flags[:4], flags[4:]
    _require(all(head_flags), f"the new head of {name} is frozen: only the body is frozen; the "
             "head is what we train.")
    _require(not any(body_flags[:2]),
             f"with freeze=True, the first Linear of the body is still trainable after {name}.")
    _require(not any(body_flags),
             f"with freeze=True, the batch norm's weight and bias (module 1) are still "
             f"trainable after {name}: freeze every parameter of the body, not only the "
             "Linear and Conv layers' (Module.requires_grad_(False) does it for a whole module).")
    # freeze=False on a frozen net: everything trainable again
    net2 = _small_net(np.random.default_rng(24), np.float32).requires_grad_(False)
    name2 = "replace_head(net, 3, rng=rng, freeze=False) on a net whose parameters were frozen"
    new2 = _run_replace(fn, net2, 3, np.random.default_rng(25), False, name2)
    _require(all(_flags(new2)), f"after {name2}, some parameters are still frozen: "
             "freeze=False means every parameter of the body is trainable (requires_grad "
             "True), whatever it was before.")
    _require(not any(_flags(net2[-1])),
             f"{name2} unfroze net's old head (its requires_grad flags are now True):"
             + _OLD_HEAD_HINT)
    _done("replace_head")


_HEAD_KINDS = ("one class", "conv body", "random", "float64, not frozen", "already frozen")


def _make_head_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    init = np.random.default_rng(int(rng.integers(2**32)))
    dtype = np.float64 if kind == "float64, not frozen" else np.float32
    if kind == "conv body":
        C = int(rng.integers(1, 4))
        layers: list[Any] = [nnlib.Conv2d(1, C, 3, padding=1, rng=init, dtype=dtype),
                             nnlib.BatchNorm2d(C, dtype=dtype), nnlib.ReLU(), nnlib.MaxPool2d(2),
                             nnlib.Flatten(), nnlib.Linear(C * 4, 5, rng=init, dtype=dtype)]
        X = rng.normal(size=(3, 1, 4, 4))
    else:
        sizes = [int(s) for s in rng.integers(1, 9, size=int(rng.integers(2, 4)))]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=False):
            layers += [nnlib.Linear(a, b, rng=init, dtype=dtype), nnlib.ReLU()]
        layers.append(nnlib.Linear(sizes[-1], int(rng.integers(2, 9)), rng=init, dtype=dtype))
        X = rng.normal(size=(int(rng.integers(1, 5)), sizes[0]))
    net = nnlib.Sequential(*layers)
    if kind == "already frozen":
        net.requires_grad_(False)
    K = 1 if kind == "one class" else int(rng.integers(2, 11))
    freeze = {"conv body": True, "float64, not frozen": False, "already frozen": False}.get(
        kind, bool(rng.integers(2)))
    return net, K, np.random.default_rng(int(rng.integers(2**32))), freeze, X.astype(dtype)


@exercise_check
def replace_head_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``replace_head``: on generated networks (MLPs of 1 to 3 layers, a small
    CNN with batch norm, pooling and Flatten, frozen; float32 and float64; one class up to ten;
    frozen and trainable; a net frozen beforehand and unfrozen) the result equals
    ``nnlib.transfer.replace_head``'s: the same number of modules, the body's modules the
    net's own, the new head's weights, bias and dtype, every requires_grad flag, and the outputs
    in evaluation mode."""
    __tracebackhide__ = True
    rng = np.random.default_rng(_seed("replace_head"))
    for i, kind in enumerate(_HEAD_KINDS):
        net, K, r, freeze, X = _make_head_case(rng, kind)
        ref_net = copy.deepcopy(net)
        want = nnlib.transfer.replace_head(ref_net, K, rng=copy.deepcopy(r), freeze=freeze)
        where = f"replace_head on hidden case {i + 1} of {len(_HEAD_KINDS)} ({kind})"
        old_head, old_flags = net[len(net) - 1], _flags(net[len(net) - 1])
        got = _run_replace(fn, net, K, r, freeze, where)
        _require(_flags(old_head) == old_flags,
                 f"{where} changed the requires_grad flags of net's old head:" + _OLD_HEAD_HINT)
        _require(len(got) == len(want), f"{where} returned {len(got)} modules; expected "
                 f"{len(want)}: the body (every module of net but the last), then the new head.")
        _require(all(got[j] is net[j] for j in range(len(net) - 1)),
                 f"{where}: the body's modules are not net's own objects.")
        head, ref_head = got[len(got) - 1], want[len(want) - 1]
        _require(isinstance(head, nnlib.Linear) and head.weight.shape == ref_head.weight.shape,
                 f"{where}: the new head is not a Linear of the right size (the old head's input "
                 "size, num_classes outputs).")
        _require(head.weight.dtype == ref_head.weight.dtype,
                 f"{where}: the new head's dtype is not the old head's.")
        _require(np.array_equal(head.weight.data, ref_head.weight.data)
                 and np.array_equal(head.bias.data, ref_head.bias.data),
                 f"{where}: the new head is not initialised as nnlib.Linear(D, num_classes, "
                 "rng=rng) with the given rng.")
        _require(_flags(got) == _flags(want),
                 f"{where}: the requires_grad flags differ from the expected ones (the body "
                 "frozen exactly when freeze is True, the head trainable).")
        got.eval()
        want.eval()
        assert_close(got(X), want(X), name=f"the outputs of the network of {where}",
                     rtol=1e-5, atol=1e-6)


class _Probe(nnlib.Module):
    """The identity, recording the batch size and the training flag of every forward call;
    a backward through it is an error."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def forward(self, x: Any) -> Any:
        self.calls.append((int(np.shape(x)[0]), bool(self.training)))
        return x

    def backward(self, dout: Any) -> Any:
        raise RuntimeError("extract_features ran a backward pass: features need no gradient")


def _probe_base(rng: np.random.Generator, C: int = 2, dropout: bool = False,
                dtype: Any = np.float64) -> nnlib.Sequential:
    """(N, 1, 4, 4) -> (N, C, 2, 2): probe, Conv2d(1, C, 3), BatchNorm2d with non-trivial
    running statistics, ReLU (and Dropout(0.5))."""
    bn = nnlib.BatchNorm2d(C, dtype=dtype)
    bn.running_mean = rng.normal(size=C).astype(dtype)
    bn.running_var = rng.uniform(0.5, 2.0, C).astype(dtype)
    layers: list[Any] = [_Probe(), nnlib.Conv2d(1, C, 3, rng=rng, dtype=dtype), bn, nnlib.ReLU()]
    if dropout:
        layers.append(nnlib.modules.Dropout(0.5, rng=rng))
    return nnlib.Sequential(*layers)


def _run_features(fn: Callable[..., Any], base: Any, X: np.ndarray, batch_size: int,
                  name: str) -> np.ndarray:
    __tracebackhide__ = True
    X_before = X.copy()
    out = call_advised(fn, base, X, batch_size=batch_size, name=name, advice=[(
        RuntimeError, "backward", "Features are a forward pass only.")])
    _require(np.array_equal(X, X_before), f"{name} modified X in place.")
    _require(out is not None, f"{name} returned None: return the (N, D) array of features.")
    return np.asarray(out)


@exercise_check
def extract_features(fn: Callable[..., Any]) -> None:
    """Visible checks of ``extract_features(base, X, *, batch_size=256) -> features``, with a
    base of Conv2d(1, 2, 3), BatchNorm2d(2) (running statistics not 0 and 1) and ReLU on
    X of shape (7, 1, 4, 4), in training mode when it is handed over:

    - it is your own code, not ``nnlib.transfer.extract_features`` or ``nnlib.predict``;
    - the features have shape (N, D) = (7, 8), one row per example (flattened);
    - they equal the base's outputs in evaluation mode (not the batch statistics of training
      mode), and the batch norm's running statistics do not move;
    - the base runs on chunks of batch_size = 3 examples (the last one shorter), in order
      (3, 3, 1), all in evaluation mode, and never backward;
    - the base's mode is restored: back in training mode here, and still in evaluation mode when
      it came in evaluation mode;
    - a batch of one, and batch_size larger than N (one chunk).
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(31)
    base = _probe_base(rng)
    X = rng.normal(size=(7, 1, 4, 4))
    forbid_reference(fn, nnlib.transfer.extract_features, nnlib.training.predict,
                     nnlib.training.evaluate, args=(copy.deepcopy(base), X),
                     kwargs={"batch_size": 3}, name="extract_features")
    saved = base.state_dict()
    base.eval()
    want = base(X).reshape(7, -1)
    want_train = np.concatenate([base.train()(X[i:i + 3]).reshape(-1, 8) for i in (0, 3)]
                                + [np.zeros((1, 8))])
    base.load_state_dict(saved)
    base[0].calls.clear()
    name = "extract_features(base, X, batch_size=3) with X of shape (7, 1, 4, 4)"
    got = _run_features(fn, base, X, 3, name)
    calls = base[0].calls
    _require(got.shape == (7, 8) or got.shape[:1] != (7,) or got.size != 56,
             f"{name} returned an array of shape {got.shape}; expected (N, D) = (7, 8): one "
             "row per example, its feature maps flattened (reshape(n, -1) per chunk).")
    _require(got.shape != (6, 8), f"{name} returned 6 rows for 7 examples: the last, shorter "
             "chunk (7 = 3 + 3 + 1) was dropped. range(0, N, batch_size) covers it.")
    _require(got.shape == (7, 8), f"{name} returned an array of shape {got.shape}; expected "
             "(N, D) = (7, 8).")
    _require(not any(training for _, training in calls) or not calls,
             f"{name} ran the base in training mode: switch it to evaluation mode first "
             "(base.eval()), so that batch norm uses its running statistics (and dropout is off).")
    _require(not looks_like(got[:6], want_train[:6]),
             f"the features of {name} come from training mode (batch statistics).")
    assert_close(got, want, name=f"the features of {name}", layout="(7, 8)")
    _require(all(np.array_equal(v, saved[k]) for k, v in base.state_dict().items()),
             f"{name} changed the base's state (its running statistics or weights): in "
             "evaluation mode nothing moves.")
    sizes = [n for n, _ in calls]
    _require(sizes == [3, 3, 1],
             f"{name} ran the base on chunks of {sizes} examples; expected [3, 3, 1]: chunks of "
             "batch_size examples (only the last one shorter, with what is left), in order.")
    _require(base.training, f"after {name} the base is left in evaluation mode, but it came in "
             "training mode: remember its mode (base.training) and restore it (base.train(...)).")
    base.eval()
    got_e = _run_features(fn, base, X[:1], 256, "extract_features(base, X[:1]) on a base in "
                          "evaluation mode")
    assert_close(got_e, want[:1], name="the features of extract_features(base, X[:1])",
                 layout="(1, 8)")
    _require(not base.training, "extract_features(base, X[:1]) left in training mode a base that "
             "came in evaluation mode: restore the mode it had, do not always switch to training.")
    _done("extract_features")


_FEAT_KINDS = ("batch of one", "batch_size 1", "batch_size larger than N", "random",
               "with dropout, float32")


def _make_feat_case(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    dtype = np.float32 if kind == "with dropout, float32" else np.float64
    base = _probe_base(rng, int(rng.integers(1, 4)), dropout="dropout" in kind, dtype=dtype)
    N = 1 if kind == "batch of one" else int(rng.integers(2, 12))
    batch_size = {"batch_size 1": 1, "batch_size larger than N": N + int(rng.integers(1, 9))}.get(
        kind, int(rng.integers(1, N + 1)))
    base.train(bool(rng.integers(2)))
    return base, rng.normal(size=(N, 1, 4, 4)).astype(dtype), batch_size


@exercise_check
def extract_features_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``extract_features``: on generated bases (convolution, batch norm with
    running statistics, ReLU, sometimes dropout; float64 and float32) in either mode, the
    features equal ``nnlib.transfer.extract_features``'s, the chunk sizes are those of
    batch_size, the base's state and mode are as the reference leaves them (a batch of one,
    batch_size 1, batch_size larger than N, random)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(_seed("extract_features"))
    for i, kind in enumerate(_FEAT_KINDS):
        base, X, batch_size = _make_feat_case(rng, kind)
        ref_base = copy.deepcopy(base)
        want = nnlib.transfer.extract_features(ref_base, X, batch_size=batch_size)
        where = f"extract_features on hidden case {i + 1} of {len(_FEAT_KINDS)} ({kind})"
        got = _run_features(fn, base, X, batch_size, where)
        assert_close(got, want, name=f"the features of {where}", layout="(N, D)",
                     rtol=1e-5, atol=1e-6)
        _require([n for n, _ in base[0].calls] == [n for n, _ in ref_base[0].calls],
                 f"{where}: the base did not run on chunks of batch_size examples (only the "
                 "last one shorter), in order.")
        _require(base.training == ref_base.training,
                 f"{where}: the base's mode was not restored.")
        _require(all(np.array_equal(v, ref_base.state_dict()[k])
                     for k, v in base.state_dict().items()),
                 f"{where}: the base's running statistics or weights changed.")
