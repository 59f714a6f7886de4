"""Checks of lesson 09, deep-network pathologies and tuning.

The notebook is solutions/09_pathologies_and_tuning (course/ for learners). One pair of checks
per graded exercise: ``<exercise>(fn)`` runs the visible checks (small cases worked by hand,
properties, targeted messages for classic mistakes); ``<exercise>_hidden(fn)`` compares ``fn``
with the ``nnlib`` reference on generated cases whose seed comes from
:func:`nncourse.testing.hidden_seed`. ``help(checks.<exercise>)`` lists what is verified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.diagnostics
import nnlib.tuning
from nncourse.checks._contract import call, call_advised, exercise_check, looks_like
from nncourse.testing import (
    CASE_KINDS,
    GradingError,
    assert_close,
    batch_size_for,
    check_against_reference,
    explain_exception,
    forbid_reference,
    hidden_seed,
    scale_for,
)
from nnlib.modules import CrossEntropyLoss, Linear, Sequential

SLUG = "pathologies_and_tuning"

__all__ = [
    "layer_grad_norms", "layer_grad_norms_hidden", "diagnose_gradients",
    "diagnose_gradients_hidden", "clip_by_value", "clip_by_value_hidden", "clip_by_norm",
    "clip_by_norm_hidden", "random_search", "random_search_hidden", "architecture_search",
    "architecture_search_hidden",
]


def _seed(key: str) -> int:
    return hidden_seed(f"{SLUG}/{key}")


def _require(ok: Any, message: str) -> None:
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def _done(name: str) -> None:
    print(f"✔ {name} passes the visible checks")


def _untouched(grads: list[Any], entries: list[Any], kept: list[np.ndarray]) -> bool:
    """The caller's list holds the same array objects, with the same values."""
    return (len(grads) == len(entries) and all(a is b for a, b in zip(grads, entries, strict=True))
            and all(np.array_equal(a, b) for a, b in zip(grads, kept, strict=True)))


# ---------------------------------------------------------------------------------------------
# layer_grad_norms
# ---------------------------------------------------------------------------------------------


def _lgn_tiny() -> Sequential:
    # one Linear layer 2 -> 3 with zero weights: every class gets probability 1/3
    return Sequential(Linear(2, 3, rng=np.random.default_rng(0), init="zeros"))


_LGN_ADVICE = [
    (TypeError, "Parameter", "layer.weight is a Parameter object, not an array: use "
     "layer.weight.grad, the array that holds its gradient."),
    (ValueError, "dout has shape ()", "model.backward takes loss_fn.backward() (the gradient "
     "with respect to the logits), not the loss value."),
    (AttributeError, "no attribute 'weight'", "Only the Linear layers have weights: skip the "
     "activations with isinstance(layer, Linear)."),
]


def _batch() -> tuple[np.ndarray, np.ndarray]:
    """A fixed batch shaped like the lesson's digits: 128 examples, 64 features, 10 classes."""
    gen = np.random.default_rng(2)
    return gen.normal(size=(128, 64)), gen.integers(0, 10, size=128)


@exercise_check
def layer_grad_norms(fn: Callable[..., Any]) -> None:
    """Visible checks of ``layer_grad_norms(model, X, y, loss_fn) -> norms``:

    - it is your own code, not ``nnlib.diagnostics.layer_grad_norms`` or ``grad_norms``;
    - one Linear(2, 3) with zero weights, X = [[1, 0], [0, 1]], y = [0, 1]: a float array of
      shape (1,) holding 0.57735 (worked by hand), with targeted messages for the bias included,
      the spectral norm, the squared norm, a sum of column or row norms, integer storage,
      weights instead of gradients, the model's backward never called, and a list shared
      between calls;
    - a 6-Linear-layer sigmoid network: shape (6,), first layer first (the first norm is the
      smallest in that network);
    - a second call on a model that still holds gradients gives the same norms (zero_grad).
    """
    __tracebackhide__ = True
    X_tiny, y_tiny = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
    forbid_reference(fn, nnlib.diagnostics.layer_grad_norms, nnlib.diagnostics.grad_norms,
                     args=(_lgn_tiny(), X_tiny, y_tiny, CrossEntropyLoss()),
                     name="layer_grad_norms")
    tiny_name = ("layer_grad_norms(one Linear(2, 3) with zero weights, X = [[1, 0], [0, 1]], "
                 "y = [0, 1])")
    # By hand: dlogits = (1/3 - one_hot) / 2 and dW = X.T @ dlogits = [[-1/3, 1/6, 1/6],
    # [1/6, -1/3, 1/6]], whose norm is sqrt(1/3).
    tiny_model = _lgn_tiny()
    g_tiny = call_advised(fn, tiny_model, X_tiny, y_tiny, CrossEntropyLoss(), name=tiny_name,
                          advice=_LGN_ADVICE)
    _require(g_tiny is not None, "layer_grad_norms returned None: did you forget the `return`?")
    g_again = call(fn, _lgn_tiny(), X_tiny, y_tiny, CrossEntropyLoss(), name=tiny_name)
    _require(
        np.shape(g_again) == np.shape(g_tiny),
        f"two identical calls of layer_grad_norms returned shapes {np.shape(g_tiny)} and "
        f"{np.shape(g_again)}: the list of norms grows from call to call. A list made once, in "
        "the signature (norms=[]) or outside the function, is shared by every call: create it "
        "inside the function.",
    )
    _require(
        np.ndim(g_tiny) == 1,
        f"layer_grad_norms on a model with ONE Linear layer returned shape {np.shape(g_tiny)}, "
        "expected (1,): a 1-D array with one norm per Linear layer.",
    )
    _require(
        np.shape(g_tiny) == (1,),
        f"layer_grad_norms on a model with ONE Linear layer returned shape {np.shape(g_tiny)}, "
        "expected (1,): one norm per Linear layer (weights only, not the biases).",
    )
    _require(
        not np.issubdtype(np.asarray(g_tiny).dtype, np.integer),
        f"layer_grad_norms returned an integer array (dtype {np.asarray(g_tiny).dtype}): the "
        "norms were stored in an integer array (np.zeros(L, dtype=int), np.array([0] * L)), "
        "which truncates 0.577 to 0. Use a float array, or collect the norms in a list and "
        "convert it at the end.",
    )
    first = float(np.ravel(g_tiny)[0])
    tiny_grad = tiny_model[0].weight.grad
    _require(
        not (first == 0 and (tiny_grad is None or not np.any(tiny_grad))),
        f"{tiny_name} returned 0, expected 0.57735, and after the call the layer's weight.grad "
        "is still all zeros: the model's backward pass never ran (or a zero_grad() came after "
        "it). loss_fn.backward() only returns dL/dscores; pass it on with "
        "model.backward(...), which fills every layer's weight.grad.",
    )
    _require(
        first != 0,
        f"{tiny_name} returned 0, expected 0.57735: read layer.weight.grad after the backward "
        "pass (not layer.weight.data, which is all zeros here, and not after a zero_grad() "
        "that comes after the backward).",
    )
    _require(
        not np.isclose(first, np.sqrt(0.5)),
        "layer_grad_norms returned sqrt(||dW||^2 + ||db||^2) = 0.7071: the norm of the WEIGHT "
        "gradient only is expected; leave layer.bias.grad out.",
    )
    _require(
        not np.isclose(first, 1 / 3),
        f"{tiny_name} returned 0.33333, expected 0.57735: that is the SQUARED norm, the sum of "
        "the squared entries of dW. The Frobenius norm is its square root (np.linalg.norm(G)).",
    )
    _require(
        not (np.isclose(first, 2 * np.sqrt(5 / 36) + np.sqrt(2 / 36))
             or np.isclose(first, 2 * np.sqrt(6 / 36))),
        f"{tiny_name} returned {first:.5g}, expected 0.57735: a sum of the norms of the columns "
        "(or rows) of dW. The Frobenius norm is ONE norm of the whole matrix: the square root "
        "of the sum of all its squared entries (np.linalg.norm(G) without axis=).",
    )
    _require(
        not np.isclose(first, 0.5),
        "layer_grad_norms returned 0.5, the largest singular value of dW: np.linalg.norm(G, 2) "
        "of a matrix is the spectral norm. Use np.linalg.norm(G) (the Frobenius norm, sqrt of "
        "the sum of all squared entries).",
    )
    assert_close(g_tiny, [np.sqrt(1 / 3)], name=tiny_name, layout="(1,)", reveal=True)

    # One norm per Linear layer, first layer first.
    X, y = _batch()
    net6 = nnlib.diagnostics.deep_mlp(64, 32, 5, 10, activation="sigmoid", init="xavier_normal",
                                      rng=np.random.default_rng(1))
    name6 = "layer_grad_norms on deep_mlp(64, 32, 5, 10) (6 Linear layers)"
    g6 = np.asarray(call_advised(fn, net6, X, y, CrossEntropyLoss(), name=name6,
                                 advice=_LGN_ADVICE), dtype=float)
    _require(
        g6.shape == (6,),
        f"{name6} returned shape {g6.shape}, expected (6,): one norm per Linear layer, weights "
        "only.",
    )
    _require(
        g6[0] < g6[-1],
        "layer_grad_norms on a 6-layer sigmoid network returned a first norm LARGER than the "
        "last: in this network the gradient vanishes towards the input, so the first layer's "
        "is the smallest. Return the layers in the order of the model (first layer first), not "
        "in backward order.",
    )
    # Gradients accumulate: a second call on the same model must give the same norms, even
    # when the model still holds the gradients of an earlier backward pass.
    stale = CrossEntropyLoss()
    stale(net6(X[:7]), y[:7])
    net6.backward(stale.backward())
    g6_again = np.asarray(call(fn, net6, X, y, CrossEntropyLoss(), name=name6), dtype=float)
    _require(
        np.allclose(g6_again, g6, rtol=1e-9, atol=0),
        "layer_grad_norms gave different norms when called twice on the same model and batch "
        f"(about {np.max(g6_again / g6):.3g} times larger the second time): gradients "
        "accumulate until zero_grad(). Call model.zero_grad() before the backward pass.",
    )
    _done("layer_grad_norms")


def _lgn_make(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    D, K = int(rng.integers(1, 9)), int(rng.integers(2, 6))
    depth = 0 if kind == "batch of one" else int(rng.integers(1, 6))
    width = int(rng.integers(1, 6)) * 2 + 1 if kind == "odd sizes" else int(rng.integers(2, 16))
    act = str(rng.choice(["relu", "tanh", "sigmoid"]))
    init = [0.01, "xavier_normal", "he_normal", 1.0][int(rng.integers(4))]
    X = rng.normal(size=(N, D)) * scale_for(kind)
    y = rng.integers(0, K, size=N)
    net = nnlib.diagnostics.deep_mlp(D, width, depth, K, activation=act, init=init,
                                     rng=np.random.default_rng(int(rng.integers(1000))))
    for p in net.parameters():
        p.grad = np.full_like(p.data, 0.5)      # stale gradients of an earlier step
    return (net, X, y, CrossEntropyLoss())


@exercise_check
def layer_grad_norms_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``layer_grad_norms``: equal to ``nnlib.diagnostics.layer_grad_norms`` on
    generated networks (0 to 5 hidden layers, relu/tanh/sigmoid, four initialisations, odd
    widths, a batch of one, inputs up to 1e3) that hold stale gradients."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.diagnostics.layer_grad_norms, _lgn_make,
                            name="layer_grad_norms", layout="(L,)",
                            seed=_seed("layer_grad_norms"), kinds=CASE_KINDS * 2)


# ---------------------------------------------------------------------------------------------
# diagnose_gradients
# ---------------------------------------------------------------------------------------------

_DG_CASES: list[tuple[list[float], str, str, float | None]] = [
    ([1e-6, 1e-3, 1.0], "vanishing",
     "the first layer's norm is a million times smaller than the last's (r = 1e-6 < 1/100). "
     "norms are listed first layer first.", None),
    ([1e4, 1e2, 1.0], "exploding",
     "the first layer's norm is 10 000 times the last's (r = 1e4 > 100).", None),
    ([0.5, 2.0, 1.0], "healthy", "r = 0.5 lies between 1/100 and 100.", None),
    ([1.0, 1e-6, 1.0], "healthy",
     "r = norms[0] / norms[-1] = 1: compare the first and the LAST norm, not the largest and the "
     "smallest (a dip in the middle is not what this rule measures).", None),
    ([100.0, 1.0], "healthy", "r = 100 exactly is not > 100: the boundary is healthy.", None),
    ([0.01, 1.0], "healthy",
     "r = 0.01 exactly is not < 1/100: the boundary is healthy (compare with <, not <=).", None),
    ([0.05, 1.0], "vanishing",
     "with threshold=10, r = 0.05 < 1/10: use the threshold passed in.", 10.0),
    ([20.0, 1.0], "exploding", "with threshold=10, r = 20 > 10: use the threshold passed in.",
     10.0),
    ([np.nan, 1.0, 1.0], "exploding", "a NaN norm means the gradient overflowed (rule 1).", None),
    ([1.0, np.inf, 1.0], "exploding",
     "any infinite norm, wherever it is, means the gradient overflowed (rule 1).", None),
    ([0.0, np.nan, 1.0], "exploding",
     "rule 1 (any NaN or inf) comes first, before the test of norms[0] == 0 (rule 2).", None),
    ([0.0, 0.0, 0.0], "vanishing",
     "norms[0] == 0 comes before the ratio (rule 2); 0 / 0 would be NaN.", None),
    ([0.0, 1.0], "vanishing", "norms[0] == 0: nothing reaches the first layer (rule 2).", None),
    ([1.0, 0.0, 1.0], "healthy",
     "rule 2 looks at norms[0] only; a zero in the middle does not matter, and r = 1.", None),
    ([1e-12, 1e-12, 1e-12], "healthy",
     "r = 1: a uniformly tiny profile is balanced (like the weight gradients of section 3). "
     "Test norms[0] for exactly 0, not with np.isclose (its atol=1e-8 calls every norm below "
     "1e-8 zero).", None),
    ([1e-200, 1e-100, 1e0], "vanishing",
     "r = 1e-200 is far below 1/100 (do not let a tiny value trip a `== 0` test or a NaN).", None),
]


@exercise_check
def diagnose_gradients(fn: Callable[..., Any]) -> None:
    """Visible checks of ``diagnose_gradients(norms, threshold=100.0) -> str``:

    - it is your own code, not ``nnlib.diagnostics.diagnose_gradients``;
    - it returns one of the strings 'vanishing', 'exploding', 'healthy';
    - sixteen profiles worked by hand, each with the rule it exercises: the ratio of the first
      norm to the last, both boundaries healthy, the threshold passed in, NaN and inf
      anywhere (rule 1 first), norms[0] == 0 (rule 2, before the ratio), zeros in the middle,
      uniformly tiny profiles, and ratios as small as 1e-200.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.diagnostics.diagnose_gradients, args=(np.array([1e-6, 1.0]),),
                     name="diagnose_gradients")
    for norms, expected, why, threshold in _DG_CASES:
        text = f"diagnose_gradients(np.array({list(norms)})" + (
            "" if threshold is None else f", threshold={threshold}") + ")"
        args = (np.array(norms, dtype=float),) + (() if threshold is None else (threshold,))
        got = call(fn, *args, name=text)
        _require(
            isinstance(got, str) and got in ("vanishing", "exploding", "healthy"),
            f"{text} returned {got!r}; expected one of the strings 'vanishing', 'exploding', "
            "'healthy'.",
        )
        _require(got == expected, f"{text} returned {got!r}, expected {expected!r}: {why}")
    _done("diagnose_gradients")


def _dg_make(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, float]:
    if kind == "batch of one":
        L = 2
    elif kind == "odd sizes":
        L = int(rng.integers(1, 9)) * 2 + 1
    else:
        L = int(rng.integers(2, 21))
    threshold = float(np.exp(rng.uniform(np.log(2.0), np.log(1e4))))
    growth = float(np.exp(rng.uniform(-2.5, 2.5)))
    norms = (float(np.exp(rng.uniform(-15, 8))) * growth ** np.arange(L)[::-1]
             * np.exp(rng.normal(0, 0.5, size=L)))
    if kind == "extreme values":
        norms = norms * 10.0 ** float(rng.choice([-190, 190]))
        if rng.random() < 0.7:                    # never a zero last norm (documented)
            pos = 0 if rng.random() < 0.5 else int(rng.integers(L - 1))
            norms[pos] = float(rng.choice([np.nan, np.inf, 0.0]))
        elif rng.random() < 0.5:
            norms = np.zeros(L)                   # nothing flows at all
    if rng.random() < 0.15:                       # a ratio exactly at the boundary
        norms[-1] = 2.0 ** int(rng.integers(-20, 20))
        threshold = float(2 ** int(rng.integers(1, 12)))
        norms[0] = norms[-1] * (threshold if rng.random() < 0.5 else 1 / threshold)
    return norms, threshold


def _dg_special(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    # tiny but balanced or growing profiles (no norm is 0), a zero after a NaN, zeros inside
    L = int(rng.integers(3, 12))
    threshold = float(rng.choice([10.0, 100.0, 1000.0]))
    norms = float(10.0 ** rng.uniform(-40, -9)) * np.exp(rng.normal(0, 0.3, size=L))
    pick = int(rng.integers(4))
    if pick == 1:
        norms[0] = norms[-1] * threshold * float(rng.uniform(2, 50))     # tiny, yet exploding
    elif pick == 2:
        norms = np.exp(rng.normal(0, 1, size=L))
        norms[int(rng.integers(1, L - 1))] = 0.0                          # a dead layer inside
    elif pick == 3:
        norms[0] = 0.0
        norms[int(rng.integers(1, L))] = float(rng.choice([np.nan, np.inf]))
    return norms, threshold


@exercise_check
def diagnose_gradients_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``diagnose_gradients``: the diagnosis of
    ``nnlib.diagnostics.diagnose_gradients`` on 72 generated profiles (2 to 20 layers, any
    threshold from 2 to 1e4, norms from 1e-200 to 1e200, NaN, inf and zeros, ratios exactly at
    the boundary, tiny balanced profiles, dead layers inside), ``norms`` unchanged."""
    __tracebackhide__ = True
    rng = np.random.default_rng(_seed("diagnose_gradients"))
    kinds = [k for k in ("batch of one", "odd sizes", "random", "random", "extreme values",
                         "edge case") for _ in range(12)]
    for i, kind in enumerate(kinds):
        norms, t = _dg_special(rng) if kind == "edge case" else _dg_make(rng, kind)
        want = nnlib.diagnostics.diagnose_gradients(norms.copy(), t)
        arg = norms.copy()
        where = f"diagnose_gradients on hidden case {i + 1} of {len(kinds)} ({kind})"
        try:
            got = fn(arg, t)
        except GradingError:
            raise
        except Exception as exc:  # the learner's error, in their words
            raise GradingError(f"{where} raised {explain_exception(exc)}") from None
        _require(np.array_equal(arg, norms, equal_nan=True),
                 f"{where} modified its input `norms` in place. Work on a copy instead.")
        _require(
            got == want,
            f"diagnose_gradients gave the wrong diagnosis on hidden case {i + 1} of "
            f"{len(kinds)} ({kind}, L = {len(norms)}). Check the order of the rules, that you "
            "compare the first norm with the last, the threshold passed in, and that the "
            "boundaries are healthy.",
        )


# ---------------------------------------------------------------------------------------------
# Clipping
# ---------------------------------------------------------------------------------------------

_LIST_OF_SHAPES = ("grads is a list of arrays of different shapes, which NumPy cannot turn into "
                   "one array")


@exercise_check
def clip_by_value(fn: Callable[..., Any]) -> None:
    """Visible checks of ``clip_by_value(grads, clip_value) -> list``:

    - it is your own code, not ``nnlib.diagnostics.clip_by_value`` or ``clip_grad_value_``;
    - a list of two arrays of different shapes: it leaves the caller's list and arrays
      unchanged, returns a list of two arrays, each entry clipped to [-1, 1] (values shown;
      a targeted message for [0, 1]);
    - clip_value 0.25 on [0.3, -0.2];
    - arrays already within range come back as new arrays, not the inputs or views of them.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.diagnostics.clip_by_value, nnlib.diagnostics.clip_grad_value_,
                     args=([np.array([2.0, -3.0])], 1.0), name="clip_by_value")
    grads = [np.array([-3.0, 0.5, 2.0]), np.array([[10.0, -0.1], [-0.7, 1.5]])]
    kept, entries = [g.copy() for g in grads], list(grads)
    out = call_advised(
        fn, grads, 1.0, name="clip_by_value(grads, 1.0)",
        advice=[(ValueError, "inhomogeneous", f"{_LIST_OF_SHAPES}: loop over the list and clip "
                 "each array on its own.")])
    _require(
        _untouched(grads, entries, kept),
        "clip_by_value changed the list or the arrays it was given: build a NEW list "
        "([np.clip(g, ...) for g in grads]); grads[i] = ... replaces the caller's entries, "
        "np.clip(..., out=g) and g[:] = ... overwrite the caller's arrays, and grads.copy() / "
        "list(grads) copies the list, not the arrays.",
    )
    _require(
        isinstance(out, list | tuple) and len(out) == 2,
        f"clip_by_value on a list of 2 arrays returned {type(out).__name__}"
        f"{' of length ' + str(len(out)) if isinstance(out, list | tuple) else ''}; expected a "
        "list of 2 arrays, one per input array.",
    )
    _require(
        not looks_like(out[0], [0.0, 0.5, 1.0]),
        "clip_by_value(grads, 1.0)[0] for grads[0] = [-3, 0.5, 2] came back [0, 0.5, 1]: it "
        "clipped to [0, clip_value], so every negative gradient became 0. The range is "
        "symmetric, [-clip_value, clip_value]: a negative gradient keeps its sign.",
    )
    assert_close(out[0], [-1.0, 0.5, 1.0],
                 name="clip_by_value(grads, 1.0)[0] for grads[0] = [-3, 0.5, 2]",
                 layout="(3,)", reveal=True)
    assert_close(out[1], [[1.0, -0.1], [-0.7, 1.0]],
                 name="clip_by_value(grads, 1.0)[1] for grads[1] = [[10, -0.1], [-0.7, 1.5]]",
                 layout="(2, 2)", reveal=True)
    small = call(fn, [np.array([0.3, -0.2])], 0.25,
                 name="clip_by_value([np.array([0.3, -0.2])], 0.25)")
    assert_close(small[0], [0.25, -0.2], name="clip_by_value([np.array([0.3, -0.2])], 0.25)[0]",
                 layout="(2,)", reveal=True)
    ok = [np.array([0.3, -0.2]), np.array([[0.1], [-0.5]])]     # already within [-1, 1]
    _require(
        not any(np.shares_memory(c, g) for c, g in zip(
            call(fn, ok, 1.0, name="clip_by_value(grads, 1.0)"), ok, strict=False)),
        "clip_by_value returned the input array (or a view) for an array already within range: "
        "return new arrays.",
    )
    _done("clip_by_value")


def _cv_make(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    count = 1 if kind == "batch of one" else int(rng.integers(2, 5))
    shapes = [tuple(int(rng.integers(1, 5)) * 2 + 1 for _ in range(int(rng.integers(1, 3))))
              if kind == "odd sizes"
              else tuple(int(rng.integers(1, 6)) for _ in range(int(rng.integers(1, 4))))
              for _ in range(count)]
    grads = [rng.normal(size=s) * scale_for(kind) * float(rng.choice([0.1, 1.0, 3.0]))
             for s in shapes]
    clip = float(rng.uniform(0.05, 2.0))
    return grads, clip * scale_for(kind) / 10 if kind == "extreme values" else clip


@exercise_check
def clip_by_value_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``clip_by_value``: equal to ``nnlib.diagnostics.clip_by_value`` on
    generated lists (one array, odd shapes, random, values up to 3e3), inputs unchanged, and
    new arrays (never views of the inputs) for lists already within range."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.diagnostics.clip_by_value, _cv_make, compare=tuple,
                            name="clip_by_value", seed=_seed("clip_by_value"))
    rng = np.random.default_rng(_seed("clip_by_value/views"))
    for kind in CASE_KINDS:
        grads, m = _cv_make(rng, kind)
        grads = [np.clip(g, -m, m) * 0.5 for g in grads]      # every entry already within range
        out = call(fn, grads, m, name=f"clip_by_value on a hidden case ({kind})")
        _require(
            not any(np.shares_memory(c, g) for c, g in zip(out, grads, strict=False)),
            f"clip_by_value returned an input array, or a view of it, on a hidden case "
            f"({kind}): return new arrays.",
        )


@exercise_check
def clip_by_norm(fn: Callable[..., Any]) -> None:
    """Visible checks of ``clip_by_norm(grads, max_norm) -> (clipped, total)``:

    - it is your own code, not ``nnlib.diagnostics.clip_by_norm`` or ``clip_grad_norm_``;
    - on [[3, 0], [[0], [4]]] with max_norm 1: the caller's list and arrays unchanged, a tuple
      (list, float) in that order, total 5 (targeted messages for 7, 25 and the total after
      clipping), and the clipped arrays;
    - a full matrix: the total uses all its entries (not the spectral norm);
    - max_norm 4: the norm is global (both arrays shrink although each alone is within 4);
    - below the limit: the values unchanged (never scaled up), as copies;
    - the 1e-6 in the denominator, on tiny gradients; all zeros give total 0, a Python float.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.diagnostics.clip_by_norm, nnlib.diagnostics.clip_grad_norm_,
                     args=([np.array([3.0, 4.0])], 1.0), name="clip_by_norm")
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]      # global norm 5
    kept, entries = [g.copy() for g in grads], list(grads)
    text = "clip_by_norm([[3, 0], [[0], [4]]], 1.0)"
    advice = f"{_LIST_OF_SHAPES} or concatenate as they are: loop over the list and add up the " \
             "squares of each array's entries."
    res = call_advised(fn, grads, 1.0, name=text,
                       advice=[(ValueError, "inhomogeneous", advice),
                               (ValueError, "same number of dimensions", advice)])
    _require(
        _untouched(grads, entries, kept),
        "clip_by_norm changed the list or the arrays it was given: multiply into new arrays "
        "(g * s, not g *= s) collected in a NEW list, and leave the caller's list and arrays as "
        "they were (grads[i] = ... replaces the caller's entries).",
    )
    if isinstance(res, list) and len(res) == 2 and np.ndim(res[1]) == 0:
        raise GradingError(
            "clip_by_norm returned a list [clipped, total]; return a tuple (clipped, total): "
            "two values separated by a comma after `return`, without square brackets."
        )
    _require(
        isinstance(res, tuple) and len(res) == 2,
        "clip_by_norm should return a pair (clipped, total): a list of arrays and the total "
        "norm.",
    )
    out, total = res
    _require(
        isinstance(out, list | tuple) and len(out) == 2,
        "clip_by_norm(grads, max_norm)[0] should be a list with one array per input array: "
        "return (clipped, total) in that order, the list first.",
    )
    _require(
        np.ndim(total) == 0,
        "clip_by_norm(grads, max_norm)[1] should be the total, one number; got shape "
        f"{np.shape(total)}.",
    )
    _require(
        not np.isclose(float(total), 7.0),
        f"{text} returned total = 7 = 3 + 4, the sum of the arrays' norms (or of the absolute "
        "values). The global norm is sqrt(sum of ALL squared entries) = sqrt(9 + 16) = 5.",
    )
    _require(
        not np.isclose(float(total), 1.0, rtol=1e-4),
        f"{text} returned total = 1 = max_norm, the norm AFTER clipping: measure the total "
        "BEFORE clipping (it is 5 here), and return that.",
    )
    _require(
        not np.isclose(float(total), 25.0),
        f"{text} returned total = 25 = 9 + 16, the sum of the squares: total is the square "
        "ROOT of the sum of squares, sqrt(25) = 5.",
    )
    assert_close(total, 5.0,
                 name="clip_by_norm([np.array([3., 0.]), np.array([[0.], [4.]])], 1.0)[1] "
                      "(the total)", what="a float", reveal=True)
    # A full matrix: the global norm uses all its entries (sqrt(9 + 16) = 5).
    mat_text = "clip_by_norm([np.array([[3., 0.], [0., 4.]])], 1.0)"
    mat_total = call(fn, [np.array([[3.0, 0.0], [0.0, 4.0]])], 1.0, name=mat_text)[1]
    _require(
        not np.isclose(float(mat_total), 4.0),
        f"{mat_text} returned total = 4, the largest singular value of the matrix: "
        "np.linalg.norm(G, 2) of a matrix is its spectral norm. The global norm uses ALL "
        "entries: sqrt(9 + 16) = 5.",
    )
    assert_close(mat_total, 5.0, name=f"{mat_text}[1] (the total)", what="a float", reveal=True)
    # Global, not per array: with max_norm = 4 each array alone (norms 3 and 4) is within the
    # limit, but together (norm 5) they are not, so both shrink by 4 / 5.
    out4 = call(fn, [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])], 4.0,
                name="clip_by_norm([[3, 0], [[0], [4]]], 4.0)")[0]
    _require(
        not np.allclose(out4[0], [3.0, 0.0]),
        "clip_by_norm([[3, 0], [[0], [4]]], 4.0) left [3, 0] unchanged: each array alone is "
        "within the limit, but the rule uses the GLOBAL norm of all arrays together (5 > 4), so "
        "every array is multiplied by 4 / (5 + 1e-6).",
    )
    assert_close(out4[0], [2.4, 0.0],
                 name="clip_by_norm(grads, 4.0)[0][0] for grads = [[3, 0], [[0], [4]]]",
                 layout="(2,)", reveal=True, rtol=1e-5)
    assert_close(out[0], [0.6, 0.0],
                 name="clip_by_norm(grads, 1.0)[0][0] for grads = [[3, 0], [[0], [4]]]",
                 layout="(2,)", reveal=True, rtol=1e-5)
    assert_close(out[1], [[0.0], [0.8]],
                 name="clip_by_norm(grads, 1.0)[0][1] for grads = [[3, 0], [[0], [4]]]",
                 layout="(2, 1)", reveal=True, rtol=1e-5)
    # Never scale up: below the limit the gradients come back unchanged (as copies).
    small = [np.array([0.3, -0.4])]
    up = call(fn, small, 10.0, name="clip_by_norm([np.array([0.3, -0.4])], 10.0)")[0]
    _require(
        np.allclose(up[0], [0.3, -0.4], rtol=1e-12, atol=0),
        f"clip_by_norm([np.array([0.3, -0.4])], 10.0) returned {np.round(up[0], 6)}, expected "
        "[0.3, -0.4] unchanged: the total norm 0.5 is below max_norm, and gradients are never "
        "scaled UP (only when s < 1).",
    )
    _require(
        not np.shares_memory(up[0], small[0]),
        "clip_by_norm returned the input array, or a view of it (g[:], g.reshape(...)), when "
        "nothing was clipped: return a copy (g.copy()), so that changing the result cannot "
        "change the caller's gradients.",
    )
    # The 1e-6 in the denominator matters when the gradients are tiny.
    tiny = call(fn, [np.array([3e-6, 4e-6])], 1e-6,
                name="clip_by_norm([np.array([3e-6, 4e-6])], 1e-6)")[0]
    _require(
        not looks_like(tiny[0], [3e-6 / 5, 4e-6 / 5]),
        "clip_by_norm([np.array([3e-6, 4e-6])], 1e-6)[0][0] came back [6e-07, 8e-07], scaled by "
        "max_norm / total = 1e-6 / 5e-6: the 1e-6 is missing from the denominator. The rule is "
        "s = max_norm / (total + 1e-6) = 1e-6 / 6e-6 here, which matters when the gradients "
        "are as tiny as 1e-6 itself.",
    )
    assert_close(tiny[0], [3e-6 / 6, 4e-6 / 6],
                 name="clip_by_norm([np.array([3e-6, 4e-6])], 1e-6)[0][0] (s = 1e-6 / (5e-6 + "
                      "1e-6): did you add 1e-6 to the total in the denominator?)",
                 layout="(2,)", atol=1e-15, reveal=True)
    # All zeros: total 0, nothing to clip, no division by zero.
    z, zt = call(fn, [np.zeros(3)], 1.0, name="clip_by_norm([np.zeros(3)], 1.0)")
    assert_close(z[0], np.zeros(3), name="clip_by_norm([np.zeros(3)], 1.0)[0][0]", layout="(3,)")
    _require(
        isinstance(zt, float),
        f"the total should be a Python float, got {type(zt).__name__}; convert it with "
        "float(total)",
    )
    _done("clip_by_norm")


def _cn_make(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    count = 1 if kind == "batch of one" else int(rng.integers(2, 5))
    shapes = [tuple(int(rng.integers(1, 5)) * 2 + 1 for _ in range(int(rng.integers(1, 3))))
              if kind == "odd sizes"
              else tuple(int(rng.integers(1, 6)) for _ in range(int(rng.integers(1, 4))))
              for _ in range(count)]
    size = {"extreme values": float(rng.choice([1e-7, 1e3]))}.get(kind, 1.0)
    grads = [rng.normal(size=s) * size for s in shapes]
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    return grads, float(total * rng.uniform(0.2, 2.0))


@exercise_check
def clip_by_norm_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``clip_by_norm``: the clipped arrays and the total equal
    ``nnlib.diagnostics.clip_by_norm``'s on generated lists (one array, odd shapes, random,
    norms from 1e-7 to 1e3, max_norm below and above the total), inputs unchanged, and copies
    (never views of the inputs)."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.diagnostics.clip_by_norm, _cn_make,
                            compare=lambda r: tuple([*list(r[0]), r[1]]), name="clip_by_norm",
                            seed=_seed("clip_by_norm"), kinds=CASE_KINDS * 2, rtol=1e-7,
                            atol=1e-15)
    rng = np.random.default_rng(_seed("clip_by_norm/views"))
    for kind in CASE_KINDS:
        grads, m = _cn_make(rng, kind)
        res = call(fn, grads, m, name=f"clip_by_norm on a hidden case ({kind})")
        _require(
            not any(np.shares_memory(c, g) for c, g in zip(res[0], grads, strict=False)),
            f"clip_by_norm returned an input array, or a view of it, on a hidden case ({kind}): "
            "return copies.",
        )


# ---------------------------------------------------------------------------------------------
# Random search
# ---------------------------------------------------------------------------------------------


def _rs_objective(*, lr: Any, weight_decay: Any) -> Any:
    # keyword arguments only, like a real training function
    return (np.log10(lr) + 2.0) ** 2 + 0.1 * (np.log10(weight_decay) + 4.0) ** 2


_RS_SPACE = {"lr": (1e-4, 1.0), "weight_decay": (1e-6, 1e-1)}
_RS_ADVICE = [
    (TypeError, "not supported between",
     "Sorting (params, score) pairs as they are compares the params dicts, which Python cannot "
     "order: sort by the score only, with sorted(..., key=...) and a key function that returns "
     "a trial's score."),
    (TypeError, "positional argument",
     "This objective takes keyword arguments only, like a training function with named "
     "settings: call objective(**params), which passes lr=..., weight_decay=...."),
    (TypeError, "0-dimensional",
     "Draw ONE number per call: rng.uniform(a, b) without size=... returns a float; with "
     "size=1 it returns an array."),
    (TypeError, "size-1",
     "Draw ONE number per call: rng.uniform(a, b) without size=... returns a float; with "
     "size=1 it returns an array."),
    (ValueError, "high - low",
     "rng.uniform(a, b) takes the lower bound first: a = np.log(low), b = np.log(high)."),
]


@exercise_check
def random_search(fn: Callable[..., Any]) -> None:
    """Visible checks of ``random_search(objective, space, num_trials, rng) -> trials``:

    - it is your own code, not ``nnlib.tuning.random_search``, ``log_uniform`` or
      ``LogUniform.sample``;
    - 6 trials over lr and weight_decay: a list of 6 (params, score) pairs, a new dict per
      trial with the keys of space in order and Python floats inside the ranges, each score
      objective(**params), sorted lowest first;
    - with ranges (1, e) and keys 'b' before 'a': the logarithms of the values are the rng's
      uniform draws, trial by trial, in the order of space's keys (targeted messages for
      sorted keys, draws by hyperparameter, uniform instead of log-uniform, log10 with exp,
      exp of the plain bounds, another generator);
    - ties keep the order of the draws (a stable sort), also among 40 trials with mixed
      ties (where np.argsort's default is not stable);
    - 2000 draws of lr in (1e-4, 1): about half below 1e-2 (log-uniform).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.tuning.random_search, nnlib.tuning.log_uniform,
                     nnlib.tuning.LogUniform.sample,
                     args=(_rs_objective, _RS_SPACE, 3, np.random.default_rng(0)),
                     name="random_search")
    rs = call_advised(fn, _rs_objective, dict(_RS_SPACE), 6, np.random.default_rng(5),
                      name="random_search(objective, space, 6, rng)", advice=_RS_ADVICE)
    _require(
        isinstance(rs, list) and len(rs) == 6,
        f"random_search(objective, space, 6, rng) returned {type(rs).__name__}"
        f"{' of length ' + str(len(rs)) if hasattr(rs, '__len__') else ''}; expected a list of "
        "6 (params, score) pairs.",
    )
    _require(
        all(isinstance(t, tuple | list) and len(t) == 2 for t in rs),
        f"each trial should be a pair (params, score); the first trial returned is {rs[0]!r}.",
    )
    _require(
        len({id(p) for p, _ in rs}) == len(rs),
        "several trials returned by random_search hold the SAME dict object, so they all show "
        "the values of the last draw: create params = {} inside the trial loop, a new dict for "
        "every trial.",
    )
    for p, _ in rs:
        _require(
            isinstance(p, dict) and list(p) == ["lr", "weight_decay"],
            "each trial should be a pair (params, score), params first: a dict with the keys of "
            f"space in order, ['lr', 'weight_decay']; got {p!r} as the first item of a trial.",
        )
        for k, v in p.items():
            _require(
                isinstance(v, float | int) and not isinstance(v, bool),
                f"a trial has params[{k!r}] = {v!r}, a {type(v).__name__}; expected one number, "
                "a Python float: draw ONE value per call (rng.uniform(a, b) without size=...) "
                "and convert it with float(...).",
            )
    # The draws come from the rng given, trial by trial, in the order of space's keys (here "b"
    # before "a", not alphabetical): with ranges (1, e) the logarithms of the values are exactly
    # the rng's uniform draws in [0, 1).
    log_text = "random_search(objective, {'b': (1, e), 'a': (1, e)}, 4, rng)"
    rs_log = call_advised(fn, lambda b, a: 0.0, {"b": (1.0, np.e), "a": (1.0, np.e)}, 4,
                          np.random.default_rng(3), name=log_text, advice=_RS_ADVICE)
    u = np.random.default_rng(3).random(8)
    keys = [list(p) for p, _ in rs_log]
    _require(
        all(k == ["b", "a"] for k in keys),
        f"{log_text} returned params with the keys {keys[0]}, expected ['b', 'a']: draw in the "
        "order of space's keys, not sorted.",
    )
    vals = np.array(sorted([[p["b"], p["a"]] for p, _ in rs_log]))   # order-free comparison
    by_trial = np.array(sorted(u.reshape(4, 2).tolist()))
    _require(
        not np.allclose(np.log(vals[:, ::-1]), by_trial),
        f"{log_text} drew the value of 'a' before the value of 'b' in every trial: draw in the "
        "order of space's keys ('b' first here), not sorted.",
    )
    _require(
        not np.allclose(np.log(vals), np.array(sorted(u.reshape(2, 4).T.tolist()))),
        "random_search drew all the values of the first hyperparameter, then all of the second. "
        "Draw trial by trial: for each trial, one value per hyperparameter in the order of "
        "space's keys.",
    )
    _require(
        not np.allclose((vals - 1) / (np.e - 1), by_trial),
        "random_search drew the values uniformly between low and high; they should be "
        "log-uniform. Draw the LOGARITHM uniformly, rng.uniform(np.log(low), np.log(high)), "
        "then take np.exp of it.",
    )
    _require(
        not np.allclose(np.log(vals) / np.log10(np.e), by_trial),
        "random_search drew the logarithm between np.log10(low) and np.log10(high), then took "
        "np.exp: the two do not match. Use np.log with np.exp (or np.log10 with 10 ** ...).",
    )
    _require(
        not np.allclose((np.log(vals) - 1) / (np.e - 1), by_trial),
        "random_search drew rng.uniform(low, high) and took np.exp of it: the bounds must be "
        "logarithms too, rng.uniform(np.log(low), np.log(high)), so that np.exp brings the "
        "value back into (low, high).",
    )
    _require(
        np.allclose(np.log(vals), by_trial, rtol=1e-9),
        "random_search with ranges (1, e) and np.random.default_rng(3) should give values whose "
        "logarithms are that generator's uniform draws, in order: use the rng passed in (not "
        "np.random, and no new generator such as np.random.default_rng(0) inside the function), "
        "one call rng.uniform(np.log(low), np.log(high)) per value, and np.exp of it.",
    )
    # Ties keep the order of the draws: a constant objective leaves the trials in drawing order.
    _require(
        np.allclose([np.log(p["b"]) for p, _ in rs_log], u.reshape(4, 2)[:, 0]),
        "with a constant objective (all scores tied) the trials should stay in the order they "
        "were drawn: sort by the score only, with a stable sort "
        "(sorted(..., key=lambda trial: trial[1])).",
    )
    for p, s in rs:
        _require(
            1e-4 <= p["lr"] <= 1.0 and 1e-6 <= p["weight_decay"] <= 1e-1,
            f"a trial has params {p}, outside the ranges of space {_RS_SPACE}: np.log10 with "
            "np.exp, or a forgotten np.log, gives values outside the range.",
        )
        _require(
            np.isclose(s, _rs_objective(**p)),
            f"the score of params {p} should be objective(**params) = "
            f"{_rs_objective(**p):.6g}, got {s!r}.",
        )
    scores = [s for _, s in rs]
    _require(
        scores == sorted(scores),
        f"random_search returned the scores in the order {np.round(scores, 3).tolist()}: sort "
        "the trials by score, lowest (best) first.",
    )
    # Ties among more than 16 trials: np.argsort's default (quicksort) is not stable there,
    # while it happens to be for 16 entries or fewer.
    tie_text = "random_search(objective, {'lr': (1e-4, 1.0)}, 40, rng) with scores 0 or 1"
    rs_ties = call(fn, lambda lr: float(lr > 1e-2), {"lr": (1e-4, 1.0)}, 40,
                   np.random.default_rng(11), name=tie_text)
    drawn = np.exp(np.random.default_rng(11).uniform(np.log(1e-4), np.log(1.0), size=40))
    stable = sorted(drawn, key=lambda v: float(v > 1e-2))
    got_lr = np.array([p["lr"] for p, _ in rs_ties], dtype=float)
    _require(
        not (np.allclose(np.sort(got_lr), np.sort(drawn))
             and [s for _, s in rs_ties] == sorted(s for _, s in rs_ties)
             and not np.allclose(got_lr, stable)),
        f"{tie_text}: the trials are sorted by score, but trials with equal scores are no "
        "longer in the order they were drawn. np.argsort's default (quicksort) is not stable "
        "beyond 16 entries: use sorted(..., key=lambda trial: trial[1]) or "
        "np.argsort(scores, kind='stable').",
    )
    # Log-uniform: about half the draws of lr in (1e-4, 1) should fall below 1e-2.
    many = call(fn, lambda lr: 0.0, {"lr": (1e-4, 1.0)}, 2000, np.random.default_rng(1),
                name="random_search(objective, {'lr': (1e-4, 1.0)}, 2000, rng)")
    below = np.mean([p["lr"] < 1e-2 for p, _ in many])
    _require(
        0.4 < below < 0.6,
        f"{below:.1%} of 2000 draws of lr in (1e-4, 1) fell below 1e-2; log-uniform sampling "
        "puts about 50% there (two of the four decades). Draw the LOGARITHM uniformly: "
        "np.exp(rng.uniform(np.log(low), np.log(high))).",
    )
    _done("random_search")


_RS_NAMES = ["lr", "weight_decay", "eps"]


def _rs_make(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    P = 1 if kind == "batch of one" else int(rng.integers(1, 4))
    if kind == "batch of one":
        T = 1
    elif kind == "odd sizes":
        T = int(rng.choice([5, 7, 9]))
    elif kind == "extreme values":     # more than 16 trials with ties: a stable sort matters
        T = int(rng.integers(17, 41))
    else:
        T = int(rng.integers(2, 10))
    space = {}
    for name in [_RS_NAMES[k] for k in rng.permutation(len(_RS_NAMES))][:P]:  # keys in any order
        extreme = kind == "extreme values"
        lo = float(rng.uniform(-12, 0)) if extreme else float(rng.uniform(-6, -1))
        hi = lo + (float(rng.uniform(4, 6)) if extreme else float(rng.uniform(0.5, 3)))
        space[name] = (10.0 ** lo, 10.0 ** hi)
    centres = {name: float(rng.uniform(np.log10(a), np.log10(b))) for name, (a, b) in space.items()}
    weights = {name: float(rng.choice([1.0, 0.1, 0.01])) for name in space}
    coarse = kind == "extreme values" or (kind == "random" and rng.random() < 0.5)

    def objective(**params: float) -> float:
        value = sum(weights[k] * (np.log10(v) - centres[k]) ** 2 for k, v in params.items())
        return float(np.round(value, 0)) if coarse else float(value)   # coarse: many ties

    return objective, space, T, np.random.default_rng(int(rng.integers(10_000)))


def _rs_reference(objective: Any, space: dict[str, Any], num_trials: int, rng: Any) -> Any:
    result = nnlib.tuning.random_search(
        objective, {k: nnlib.tuning.LogUniform(*v) for k, v in space.items()}, num_trials,
        rng=rng)
    return [(t.params, t.score) for t in result.trials]


def _rs_compare(trials: Any) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([[params[k] for k in sorted(params)] for params, _ in trials]),
            np.array([float(score) for _, score in trials]))


@exercise_check
def random_search_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``random_search``: the trials (values and scores, in order) equal
    ``nnlib.tuning.random_search``'s on generated searches (1 to 40 trials, one to three
    hyperparameters with keys in any order, ranges as wide as 1e-12 to 1e6, objectives with
    ties, among more than 16 trials too)."""
    __tracebackhide__ = True
    check_against_reference(fn, _rs_reference, _rs_make, compare=_rs_compare,
                            name="random_search", seed=_seed("random_search"),
                            kinds=CASE_KINDS * 2, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Architecture search
# ---------------------------------------------------------------------------------------------


def _as_score(depth: int, width: int) -> float:                  # best at depth 2, width 32
    return float(1.0 - 0.1 * (depth - 2) ** 2 - 0.05 * (np.log2(width) - 5) ** 2)


@exercise_check
def architecture_search(fn: Callable[..., Any]) -> None:
    """Visible checks of ``architecture_search(score, depths, widths) -> (depth, width,
    scores)``:

    - it is your own code, not ``nnlib.tuning.architecture_search`` or ``grid_search``;
    - depths [1, 2, 4, 8] and widths [8, 32, 128]: a tuple of three, scores of shape (4, 3)
      with scores[i, j] = score(depths[i], widths[j]) as floats, and the best (2, 32) as values
      (targeted messages for the items in another order, indices, the lowest score, a flat
      argmax, integer scores, rows that share one list);
    - a tie: score is called once per pair, row by row, and the first best in row-by-row order
      wins.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.tuning.architecture_search, nnlib.tuning.grid_search,
                     args=(_as_score, [1, 2], [8, 32]), name="architecture_search")
    text = "architecture_search(score, [1, 2, 4, 8], [8, 32, 128])"
    res = call_advised(fn, _as_score, [1, 2, 4, 8], [8, 32, 128], name=text, advice=[
        (IndexError, "", "np.argmax of a 2-D array returns a FLAT index k (0 to 11 here), too "
         "large for depths or widths: turn it into (i, j) with np.unravel_index(k, "
         "scores.shape)."),
        (TypeError, "integer scalar arrays", "An index came out as an ARRAY (np.where returns "
         "arrays of positions, one entry per best score): use the first best only, as "
         "np.argmax does."),
    ])
    _require(isinstance(res, tuple) and len(res) == 3,
             "architecture_search should return a tuple (best_depth, best_width, scores).")
    at = [k + 1 for k, r in enumerate(res) if np.shape(r) == (4, 3)]
    _require(
        np.shape(res[2]) == (4, 3) or not at,
        f"{text} returned the (4, 3) array of scores as item {at[0] if at else '?'} of 3, and "
        f"{res[2]!r} ({type(res[2]).__name__}) as the third: return (best_depth, best_width, "
        "scores) in this order.",
    )
    d, w, scores = res
    expected = np.array([[_as_score(dd, ww) for ww in [8, 32, 128]] for dd in [1, 2, 4, 8]])
    _require(
        not np.issubdtype(np.asarray(scores).dtype, np.integer),
        f"architecture_search returned scores as an integer array (dtype "
        f"{np.asarray(scores).dtype}), so accuracies such as 0.7 were truncated to 0: use "
        "np.zeros((A, B)) without dtype=int (and not an array made from integer zeros such as "
        "[[0] * B] * A).",
    )
    if np.shape(scores) == (4, 3):
        arr = np.asarray(scores, dtype=float)
        if np.all(arr == arr[-1]):
            raise GradingError(
                f"every row of the scores returned by {text} is the same (the last depth's): "
                "[[0.0] * B] * A repeats ONE list A times, so writing row i writes them all. "
                "Use a NumPy array, np.zeros((A, B))."
            )
    assert_close(scores, expected,
                 name=f"{text}[2] (scores[i, j] = score(depths[i], widths[j]))",
                 layout="(len(depths), len(widths)) = (4, 3)", reveal=True)
    _require((d, w) != (1, 1),
             "architecture_search returned (1, 1): the INDICES of the best entry. Return the "
             "values depths[i] and widths[j].")
    _require(
        (d, w) not in ((8, 128), (8, 8)),
        f"architecture_search returned depth {d} and width {w}, a setting with one of the "
        "LOWEST scores: a higher score (accuracy) is better, so take the argmax.",
    )
    _require(
        (d, w) == (2, 32),
        f"{text} returned depth {d} and width {w}; the best score is at depth 2 and width 32 "
        "(scores[1, 1]). Turn the flat argmax into (i, j) with np.unravel_index(k, "
        "scores.shape).",
    )
    # Ties: the first best in row-by-row order wins. Here scores = [[0, 1], [1, 0]]: two best
    # entries, at (depth 3, width 4) and (depth 1, width 16). Every call is recorded.
    calls: list[tuple[int, int]] = []

    def tie_score(depth: int, width: int) -> float:
        calls.append((depth, width))
        return float((depth, width) in [(3, 4), (1, 16)])

    tie = call(fn, tie_score, [3, 1], [16, 4], name="architecture_search(score, [3, 1], [16, 4])")
    row_order = [(3, 16), (3, 4), (1, 16), (1, 4)]
    _require(
        sorted(calls) == sorted(row_order),
        f"architecture_search(score, [3, 1], [16, 4]) called score with {calls}; expected each "
        "of the 4 pairs (depth, width) exactly once (every call trains a network: reuse the "
        "scores you computed).",
    )
    _require(
        calls == row_order,
        f"architecture_search(score, [3, 1], [16, 4]) called score in the order {calls}; "
        f"evaluate row by row, for each depth every width: {row_order}.",
    )
    _require(
        (tie[0], tie[1]) == (3, 4),
        f"with scores [[0, 1], [1, 0]] (depths [3, 1], widths [16, 4]), architecture_search "
        f"returned depth {tie[0]} and width {tie[1]}; the two best entries are (3, 4) and "
        "(1, 16), and a tie goes to the first in row-by-row order: (3, 4). Take the argmax of "
        "the whole array, not of each axis separately; or, in a loop, replace the best only on "
        "a strictly greater score (`>`, not `>=`).",
    )
    _done("architecture_search")


def _as_make(rng: np.random.Generator, kind: str) -> tuple[Any, ...]:
    def size() -> int:
        if kind == "batch of one":
            return 1
        if kind == "odd sizes":
            return int(rng.integers(1, 3)) * 2 + 1
        return int(rng.integers(2, 5))

    A, B = size(), size()
    depths = sorted(int(v) for v in rng.choice(np.arange(1, 12), size=A, replace=False))
    widths = sorted(int(v) for v in rng.choice([4, 8, 16, 32, 64, 128, 256], size=B,
                                                replace=False))
    if rng.random() < 0.5:
        depths = depths[::-1]
    table = {(d, w): float(rng.uniform(0, 1)) for d in depths for w in widths}
    if kind in ("random", "extreme values"):       # coarse accuracies: ties
        table = {k: round(v, 1) for k, v in table.items()}

    def score(depth: int, width: int) -> float:
        return table[int(depth), int(width)]

    return score, depths, widths


@exercise_check
def architecture_search_hidden(fn: Callable[..., Any]) -> None:
    """Hidden checks of ``architecture_search``: (depth, width, scores) equal
    ``nnlib.tuning.architecture_search``'s on generated grids (1 x 1, odd sizes, random, with
    coarse scores and ties, depths in either order), and on 8 grids with tied best scores the
    calls go once per pair, row by row, and the first best wins."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.tuning.architecture_search, _as_make,
                            name="architecture_search", seed=_seed("architecture_search"),
                            kinds=CASE_KINDS * 2)
    rng = np.random.default_rng(_seed("architecture_search/ties"))
    for i in range(8):
        A, B = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        ds = [int(v) for v in rng.choice(np.arange(1, 12), size=A, replace=False)]
        ws = [int(v) for v in rng.choice([4, 8, 16, 32, 64, 128, 256], size=B, replace=False)]
        table = rng.integers(0, 3, size=(A, B)).astype(float)
        table[int(rng.integers(A)), int(rng.integers(B))] = 3.0
        table[int(rng.integers(A)), int(rng.integers(B))] = 3.0
        calls: list[tuple[int, int]] = []

        def score(depth: int, width: int, _t: Any = table, _d: Any = ds, _w: Any = ws,
                  _c: Any = calls) -> float:
            _c.append((depth, width))
            return float(_t[_d.index(depth), _w.index(width)])

        where = f"architecture_search on hidden case {i + 1} of 8"
        got = call(fn, score, list(ds), list(ws), name=where)
        want = nnlib.tuning.architecture_search(
            lambda d, w, _t=table, _d=ds, _w=ws: float(_t[_d.index(d), _w.index(w)]), ds, ws)
        _require(
            calls == [(d, w) for d in ds for w in ws],
            f"{where} did not call score exactly once per pair, row by row (for each depth, "
            "every width).",
        )
        _require(
            (got[0], got[1]) == (want[0], want[1]),
            f"{where} (with tied best scores) chose the wrong (depth, width): a tie goes to the "
            "first best entry in row-by-row order.",
        )
