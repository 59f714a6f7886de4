"""The checks of lesson 04, forward propagation, MLPs and initialisation
(``solutions/04_forward_propagation_and_initialisation``).

Four exercises: the dense layer's ``linear_forward``, the MLP's ``mlp_forward``, and the
initialisers ``xavier_uniform`` and ``he_normal``. ``<exercise>(fn)`` runs the visible checks,
``<exercise>_hidden(fn)`` compares ``fn`` with ``nnlib`` on generated cases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import nnlib.init
import nnlib.layers
import nnlib.mlp
from nncourse.checks._contract import (
    call,
    exercise_check,
    expect_injected_rng,
    looks_like,
)
from nncourse.testing import (
    GradingError,
    assert_close,
    batch_size_for,
    check_against_reference,
    forbid_reference,
    hidden_seed,
    scale_for,
)

__all__ = [
    "linear_forward",
    "linear_forward_hidden",
    "mlp_forward",
    "mlp_forward_hidden",
    "xavier_uniform",
    "xavier_uniform_hidden",
    "he_normal",
    "he_normal_hidden",
]

Fn = Callable[..., Any]
SLUG = "forward_propagation_and_initialisation"
#: The names of the hidden-layer activations (the keys of the notebook's ACTIVATIONS).
ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "leaky_relu")

# The arrays of the notebook's worked examples.
X_SMALL = np.array([[1.0, 2.0], [0.0, -1.0]])
W_SMALL = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
B_SMALL = np.array([0.5, -1.0, 2.0])
X_HAND = np.array([[1.0, -1.0]])
W1_HAND, B1_HAND = np.array([[1.0, 2.0, -1.0], [0.0, 1.0, 1.0]]), np.array([0.0, -2.0, 0.5])
W2_HAND, B2_HAND = np.array([[1.0], [1.0], [1.0]]), np.array([0.25])
# Two hidden layers: params_hand's first layer, a middle layer, an output layer. With relu,
# z1 = (1, -1, -1.5), h1 = (1, 0, 0), z2 = (1, -1), h2 = (1, 0), scores = 1.25.
W_MID, B_MID = np.array([[1.0, -1.0], [1.0, 1.0], [1.0, 1.0]]), np.zeros(2)
W_TOP, B_TOP = np.array([[1.0], [1.0]]), np.array([0.25])
DEEP_TEXT = ("mlp_forward(X_hand, params3) with two hidden layers, params3 = [(W1, b1), "
             "(np.array([[1.0, -1.0], [1.0, 1.0], [1.0, 1.0]]), np.zeros(2)), "
             "(np.array([[1.0], [1.0]]), np.array([0.25]))] (W1, b1 of params_hand)")


def _seed(key: str) -> int:
    return hidden_seed(f"{SLUG}/{key}")


# ---------------------------------------------------------------------------------------------
# linear_forward
# ---------------------------------------------------------------------------------------------


def _lf_call(fn: Fn, X: np.ndarray, W: np.ndarray, b: np.ndarray, what: str) -> Any:
    __tracebackhide__ = True
    if not callable(fn):
        raise GradingError(f"linear_forward should be a function, got a {type(fn).__name__}.")
    try:
        return fn(X, W, b)
    except NotImplementedError:
        raise GradingError("linear_forward raised NotImplementedError: the function is not "
                           "written yet.") from None
    except GradingError:
        raise
    except Exception as e:  # noqa: BLE001 (the learner's error, in their words)
        text = str(e).strip().rstrip(".")
        if "broadcast" in text:
            hint = ("X @ W is (N, M) and b is (M,), which broadcasts over the N rows as it is: "
                    "don't reshape b")
        else:
            hint = "rows of X are examples and W is (D, M), so out = X @ W + b has shape (N, M)"
        raise GradingError(
            f"linear_forward({what}) raised {type(e).__name__}: {text}. Hint: {hint}.") from None


@exercise_check
def linear_forward(fn: Fn) -> None:
    """Visible checks of ``linear_forward(X, W, b) -> (out, cache)``:

    - it is your own code, not ``nnlib.layers.linear_forward``;
    - it returns a pair ``(out, cache)``;
    - zero inputs give ``b`` on every row (the bias is added, broadcast over the batch);
    - ``out`` of the worked example above (``X_small``, ``W_small``, ``b_small``);
    - the cache is ``(X, W, b)``, in that order;
    - a batch of one and a layer with more inputs than outputs (D = 4, M = 2).
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.layers.linear_forward,
                     args=(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)))
    result = _lf_call(fn, X_SMALL.copy(), W_SMALL.copy(), B_SMALL.copy(),
                      "X_small, W_small, b_small")
    if not (isinstance(result, tuple) and len(result) == 2):
        raise GradingError(
            f"linear_forward should return a pair (out, cache), but returned a "
            f"{type(result).__name__}"
            + (f" of {len(result)} items" if isinstance(result, tuple) else "")
            + ": end with `return out, cache`.")
    out0 = _lf_call(fn, np.zeros((3, 2)), W_SMALL.copy(), B_SMALL.copy(),
                    "np.zeros((3, 2)), W_small, b_small")[0]
    assert_close(out0, np.tile(B_SMALL, (3, 1)), layout="(N, M) = (3, 3)",
                 name="linear_forward(np.zeros((3, 2)), W_small, b_small)[0] (zero inputs give "
                      "b on every row: did you add b?)")
    out, cache = result
    assert_close(out, [[5.5, 1.0, 1.0], [-1.5, -2.0, 2.0]],
                 name="linear_forward(X_small, W_small, b_small)[0]", layout="(N, M) = (2, 3)")
    if not (isinstance(cache, tuple | list) and len(cache) == 3):
        raise GradingError("the cache should be the tuple (X, W, b) of the three inputs, in "
                           "that order")
    for i, (got, want, what) in enumerate(zip(cache, (X_SMALL, W_SMALL, B_SMALL), "XWb",
                                              strict=True)):
        if np.shape(got) != want.shape:
            raise GradingError(
                f"cache[{i}] should be {what}, of shape {want.shape} here, but has shape "
                f"{np.shape(got)}: return the cache (X, W, b) in that order")
        assert_close(got, want, name=f"cache[{i}], the {what} in linear_forward's cache")
    x1 = np.array([[1.0, 0.0, -2.0, 3.0]])
    W42 = np.arange(8.0).reshape(4, 2) / 4
    out1 = _lf_call(fn, x1, W42, np.array([1.0, -1.0]), "x (1, 4), W (4, 2), b (2,)")[0]
    assert_close(out1, [[3.5, 2.0]], name="linear_forward(x (1, 4), W (4, 2), b (2,))[0]",
                 layout="(N, M) = (1, 2)")
    print("✔ linear_forward passes the visible checks")


def _make_dense(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, ...]:
    N = batch_size_for(kind, rng)
    D, M = (int(k) for k in rng.integers(1, 9, size=2))
    if kind == "odd sizes":
        D, M = 2 * D + 1, 2 * M + 3
    X = rng.normal(size=(N, D)) * scale_for(kind)
    return (X, rng.normal(size=(D, M)), rng.normal(size=M))


@exercise_check
def linear_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``linear_forward``: ``out`` and the cache ``(X, W, b)`` equal
    ``nnlib.layers.linear_forward``'s on generated layers (a batch of one, odd sizes, extreme
    inputs)."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.layers.linear_forward, _make_dense,
                            compare=lambda r: r[0], name="linear_forward (out)", layout="(N, M)",
                            seed=_seed("linear_forward"))
    check_against_reference(fn, nnlib.layers.linear_forward, _make_dense,
                            compare=lambda r: tuple(r[1]),
                            name="linear_forward (its cache (X, W, b))",
                            seed=_seed("linear_forward/cache"))


# ---------------------------------------------------------------------------------------------
# mlp_forward
# ---------------------------------------------------------------------------------------------


def _mlp_call(fn: Fn, X: np.ndarray, params: list[Any], activation: str, what: str) -> Any:
    __tracebackhide__ = True
    if not callable(fn):
        raise GradingError(f"mlp_forward should be a function, got a {type(fn).__name__}.")
    try:
        return fn(X, params, activation)
    except NotImplementedError:
        raise GradingError("mlp_forward raised NotImplementedError: the function is not "
                           "written yet.") from None
    except GradingError:
        raise
    except Exception as e:  # noqa: BLE001 (the learner's error, in their words)
        raise GradingError(
            f"mlp_forward({what}) raised {type(e).__name__}: {str(e).strip().rstrip('.')}. "
            "Hint: each layer reads the output of the previous one (X only for the first "
            "layer), in the order of params.") from None


def _params_hand() -> list[tuple[np.ndarray, np.ndarray]]:
    return [(W1_HAND.copy(), B1_HAND.copy()), (W2_HAND.copy(), B2_HAND.copy())]


@exercise_check
def mlp_forward(fn: Fn) -> None:
    """Visible checks of ``mlp_forward(X, params, activation="relu") -> (scores, caches)``:

    - it is your own code, not ``nnlib.mlp.mlp_forward``;
    - it returns a pair ``(scores, caches)``, ``scores`` of shape ``(N, K)``: not the
      ``(out, cache)`` pair of an activation, not the last hidden layer;
    - the scores of the network computed by hand above (``X_hand``, ``params_hand``);
    - one cache per layer, each a pair ``(linear_cache, activation_cache)``: the layer's input
      in its linear cache, the activation's cache kept, ``None`` for the last layer;
    - the ``activation`` argument is used (tanh gives other scores);
    - a network of two hidden layers: every hidden layer (all but the last) applies the
      activation, not only the first or only the last one;
    - a network of one layer is a linear model, whatever the activation.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.mlp.mlp_forward,
                     args=(np.ones((2, 3)), [(np.ones((3, 4)), np.zeros(4)),
                                             (np.ones((4, 2)), np.zeros(2))]))
    result = _mlp_call(fn, X_HAND.copy(), _params_hand(), "relu", "X_hand, params_hand")
    if not (isinstance(result, tuple) and len(result) == 2):
        raise GradingError(f"mlp_forward should return a pair (scores, caches), but returned a "
                           f"{type(result).__name__}")
    scores, caches = result
    sshape = np.shape(scores)
    if len(sshape) == 3 and sshape[0] == 2:
        raise GradingError(
            f"mlp_forward(X_hand, params_hand)[0] has shape {sshape}, but the expected shape is "
            "(1, 1): the leading axis of 2 is the (out, cache) pair. Unpack what "
            "ACTIVATIONS[activation](z) returns: h, activation_cache = "
            "ACTIVATIONS[activation](z).")
    if sshape == (1, 3):
        raise GradingError(
            f"mlp_forward(X_hand, params_hand)[0] has shape {sshape}, the width of a hidden "
            "layer (3 here), not K = 1: return the last layer's z (the scores), not the last "
            "hidden h.")
    if looks_like(scores, [[-1.25]]):
        raise GradingError(
            "mlp_forward(X_hand, params_hand)[0] is [[-1.25]], the scores of the same network "
            "with no activation at all (the cell above printed 1.25). The hidden layer's output, "
            "the next layer's input, is what ACTIVATIONS[activation](z) returns: did you compute "
            "the activation but keep z?")
    assert_close(scores, [[1.25]], name="mlp_forward(X_hand, params_hand)[0]",
                 layout="(N, K) = (1, 1)", reveal=True)    # the cell above printed it
    if not (isinstance(caches, list | tuple) and len(caches) == 2):
        got = len(caches) if isinstance(caches, list | tuple) else type(caches).__name__
        raise GradingError("mlp_forward(X_hand, params_hand) should return one cache per layer "
                           f"(2 here), got {got}")
    if not all(isinstance(c, tuple | list) and len(c) == 2 for c in caches):
        raise GradingError("each entry of caches should be a pair (linear_cache, "
                           "activation_cache)")
    if caches[1][1] is not None:
        raise GradingError("the last layer has no activation, so its activation_cache should be "
                           "None (did you apply the activation to the scores too?)")
    assert_close(caches[0][0][0], X_HAND,
                 name="the input stored in the first layer's linear cache")
    assert_close(caches[1][0][0], [[1.0, 0.0, 0.0]],
                 name="the input stored in the second layer's linear cache (h1 = relu(z1))")
    if caches[0][1] is None:
        raise GradingError(
            "the hidden layer's activation_cache is None: keep the cache that "
            "ACTIVATIONS[activation](z) returns with its output (for relu, that cache is its "
            "input z)")
    assert_close(caches[0][1], [[1.0, -1.0, -1.5]],
                 name="the first layer's activation cache (relu_forward's cache is its input z1)")
    tanh_scores = _mlp_call(fn, X_HAND.copy(), _params_hand(), "tanh",
                            'X_hand, params_hand, "tanh"')[0]
    assert_close(tanh_scores, np.tanh([[1.0, -1.0, -1.5]]) @ W2_HAND + B2_HAND,
                 name='mlp_forward(X_hand, params_hand, "tanh")[0] (use the activation '
                      "argument)", layout="(N, K) = (1, 1)")
    _two_hidden_layers(fn)
    for act in ACTIVATION_NAMES:               # one layer: a linear model, no activation at all
        lin, lin_caches = _mlp_call(fn, X_SMALL.copy(), [(W_SMALL.copy(), B_SMALL.copy())], act,
                                    f'X_small, [(W_small, b_small)], "{act}"')
        assert_close(lin, X_SMALL @ W_SMALL + B_SMALL, layout="(N, K) = (2, 3)",
                     name=f'mlp_forward(X_small, [(W_small, b_small)], "{act}")[0] (one layer)')
        if not (len(lin_caches) == 1 and lin_caches[0][1] is None):
            raise GradingError("a one-layer network has one cache, whose activation_cache is "
                               "None")
    print("✔ mlp_forward passes the visible checks")


def _two_hidden_layers(fn: Fn) -> None:
    """Every hidden layer gets the activation, not only the first or only the last one."""
    __tracebackhide__ = True
    params3 = [(W1_HAND.copy(), B1_HAND.copy()), (W_MID.copy(), B_MID.copy()),
               (W_TOP.copy(), B_TOP.copy())]
    scores, caches = _mlp_call(fn, X_HAND.copy(), params3, "relu",
                               "X_hand, params3 with two hidden layers")
    text = DEEP_TEXT
    if not (isinstance(caches, list | tuple) and len(caches) == 3
            and all(isinstance(c, tuple | list) and len(c) == 2 for c in caches)):
        raise GradingError(f"{text} should return one cache per layer (3 here), each a pair "
                           "(linear_cache, activation_cache)")
    inputs = []
    for c in caches[1:]:
        try:
            inputs.append(c[0][0])
        except Exception:  # noqa: BLE001 (named just below)
            inputs.append(None)
    if looks_like(inputs[0], [[1.0, -1.0, -1.5]]):
        raise GradingError(
            f"{text}: the second layer's input (in its linear cache) is z of the first hidden "
            "layer, not the activation's output. Every hidden layer, all but the last layer, "
            "applies the activation, and its output h is the next layer's input.")
    if looks_like(inputs[1], [[1.0, -1.0]]):
        raise GradingError(
            f"{text}: the third layer's input (in its linear cache) is z of the second hidden "
            "layer, not the activation's output: the first hidden layer got its activation, the "
            "second did not. Every hidden layer, all but the last layer, applies the "
            "activation, not only the first.")
    assert_close(scores, [[1.25]], name=f"{text}[0]", layout="(N, K) = (1, 1)")
    assert_close(inputs[0], [[1.0, 0.0, 0.0]],
                 name=f"the input stored in the second layer's linear cache of {text}")
    assert_close(inputs[1], [[1.0, 0.0]],
                 name=f"the input stored in the third layer's linear cache of {text}")
    if caches[2][1] is not None or caches[1][1] is None:
        raise GradingError(f"{text}: the two hidden layers keep their activation caches, the "
                           "last layer's activation_cache is None")


def _make_mlp(rng: np.random.Generator, kind: str,
              activations: tuple[str, ...] = ACTIVATION_NAMES) -> tuple[Any, ...]:
    N = batch_size_for(kind, rng)
    L = 1 if kind == "batch of one" else int(rng.integers(2, 5))
    sizes = [int(s) for s in rng.integers(1, 9, size=L + 1)]
    if kind == "odd sizes":
        sizes = [2 * s + 1 for s in sizes]
    params = [(rng.normal(size=(a, b)) / np.sqrt(a), rng.normal(size=b))
              for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    X = rng.normal(size=(N, sizes[0])) * scale_for(kind)
    return (X, params, str(rng.choice(list(activations))))


@exercise_check
def mlp_forward_hidden(fn: Fn) -> None:
    """Hidden checks of ``mlp_forward``: the scores, the input of each layer in its linear
    cache and the hidden layers' activation caches equal ``nnlib.mlp.mlp_forward``'s on
    generated networks of one to four layers and every activation; the last layer's
    activation cache is ``None``."""
    __tracebackhide__ = True
    check_against_reference(fn, nnlib.mlp.mlp_forward, _make_mlp, compare=lambda r: r[0],
                            name="mlp_forward (scores)", layout="(N, K)",
                            seed=_seed("mlp_forward"))
    check_against_reference(fn, nnlib.mlp.mlp_forward, _make_mlp,
                            compare=lambda r: tuple(c[0][0] for c in r[1]),
                            name="mlp_forward (the input of each layer, in its linear cache)",
                            seed=_seed("mlp_forward/inputs"))
    check_against_reference(fn, nnlib.mlp.mlp_forward,
                            functools.partial(_make_mlp, activations=("relu", "tanh", "sigmoid")),
                            compare=lambda r: tuple(c[1] for c in r[1][:-1]),
                            name="mlp_forward (the activation caches of the hidden layers)",
                            seed=_seed("mlp_forward/activation caches"))
    args = _make_mlp(np.random.default_rng(_seed("mlp_forward/last cache")), "random")
    caches = _mlp_call(fn, *args, "a hidden case")[1]
    if caches[-1][1] is not None:
        raise GradingError("mlp_forward on a hidden case: the last layer's activation_cache "
                           "should be None")


# ---------------------------------------------------------------------------------------------
# xavier_uniform and he_normal
# ---------------------------------------------------------------------------------------------


def _init_array(fn: Fn, shape: tuple[int, int], rng: np.random.Generator, label: str,
                how: str) -> np.ndarray:
    __tracebackhide__ = True
    W = call(fn, shape, rng=rng, name=label)
    if not isinstance(W, np.ndarray):
        raise GradingError(f"{label} returned a {type(W).__name__}, not a NumPy array")
    if W.shape != shape:
        raise GradingError(f"{label} returned shape {W.shape}; expected {shape}, that is "
                           "(D_in, D_out)")
    if W.dtype != np.float64:
        raise GradingError(f"{label} returned dtype {W.dtype}; expected float64 (what {how} "
                           "returns)")
    return W


def _xu_spread(fn: Fn, shape: tuple[int, int], seed: int, label: str | None = None) -> None:
    __tracebackhide__ = True
    label = label or f"xavier_uniform({shape}, rng=np.random.default_rng({seed}))"
    W = _init_array(fn, shape, np.random.default_rng(seed), label, "rng.uniform")
    a = np.sqrt(6 / (shape[0] + shape[1]))
    if np.abs(W).max() > a * (1 + 1e-12):
        raise GradingError(f"{label} has values as large as {np.abs(W).max():.4g}, beyond the "
                           f"bound a = sqrt(6 / (fan_in + fan_out)) = {a:.4g}")
    if not (W.min() < -0.9 * a and W.max() > 0.9 * a):
        raise GradingError(
            f"{label} should fill the whole interval (-a, a) with a = {a:.4g}; its values run "
            f"from {W.min():.4g} to {W.max():.4g}. Check the bound and that the interval is "
            "centred on 0.")
    ratio = W.std() / (a / np.sqrt(3))
    if not abs(ratio - 1) < 0.03:
        raise GradingError(
            f"the standard deviation of {label} is {W.std():.4g}, {ratio:.3g} times the "
            f"{a / np.sqrt(3):.4g} of U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). Check the "
            "formula for a.")


def _same_numbers(fn: Fn, shape: tuple[int, int], expected: np.ndarray, how: str,
                  label: str) -> None:
    __tracebackhide__ = True
    try:
        assert_close(call(fn, shape, rng=np.random.default_rng(7), name=label), expected,
                     name=label, layout=str(shape))
    except GradingError as e:
        raise GradingError(f"{e} With the same generator, your numbers should be exactly those "
                           f"of {how}: draw the whole matrix with that one call.") from None


@exercise_check
def xavier_uniform(fn: Fn) -> None:
    """Visible checks of ``xavier_uniform(shape, *, rng) -> W``:

    - it is your own code, not ``nnlib.init.xavier_uniform``;
    - a float64 array of shape ``shape``, for a wide and a tall layer, within the bound ``a``,
      filling ``(-a, a)`` with the standard deviation of ``U(-a, a)``;
    - it draws from the ``rng`` it is given: NumPy's global generator is untouched, and two
      calls with one generator give different numbers;
    - with the same seed, exactly the numbers of ``rng.uniform(-a, a, size=shape)``;
    - ``shape = (1, 1)`` works.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.init.xavier_uniform)
    forbid_reference(functools.partial(fn, rng=np.random.default_rng(0)),
                     nnlib.init.xavier_uniform, args=((3, 4),), name="xavier_uniform")
    _xu_spread(fn, (400, 100), seed=1)
    _xu_spread(fn, (60, 500), seed=2)
    how = "rng.uniform(-a, a, size=shape)"
    expect_injected_rng(lambda g: call(fn, (4, 6), rng=g, name="xavier_uniform((4, 6), rng=rng)"),
                        name="xavier_uniform", how=how)
    a = np.sqrt(6 / 12)
    _same_numbers(fn, (5, 7), np.random.default_rng(7).uniform(-a, a, size=(5, 7)), how,
                  "xavier_uniform((5, 7), rng=np.random.default_rng(7))")
    W11 = call(fn, (1, 1), rng=np.random.default_rng(3), name="xavier_uniform((1, 1), rng=rng)")
    if not (np.shape(W11) == (1, 1) and abs(np.ravel(W11)[0]) <= np.sqrt(3)):
        raise GradingError("xavier_uniform((1, 1), ...) should work too")
    print("✔ xavier_uniform passes the visible checks")


def _student_init(fn: Fn) -> Fn:
    def draw(shape: tuple[int, int], seed: int) -> Any:
        return fn(shape, rng=np.random.default_rng(seed))

    draw.__name__ = getattr(fn, "__name__", "your function")
    return draw


def _reference_init(ref: Fn) -> Fn:
    return lambda shape, seed: ref(shape, rng=np.random.default_rng(seed))


def _make_init(rng: np.random.Generator, kind: str, extreme_wide: bool) -> tuple[Any, int]:
    if kind == "batch of one":
        shape = (1, int(rng.integers(1, 9)))
    elif kind == "odd sizes":
        shape = tuple(2 * int(k) + 1 for k in rng.integers(0, 20, size=2))
    elif kind == "extreme values":
        few, many = int(rng.integers(1, 4)), int(rng.integers(500, 1000))
        shape = (few, many) if extreme_wide else (many, few)
    else:
        shape = tuple(int(k) for k in rng.integers(2, 65, size=2))
    return (shape, int(rng.integers(0, 2**31)))


@exercise_check
def xavier_uniform_hidden(fn: Fn) -> None:
    """Hidden checks of ``xavier_uniform``: the numbers equal ``nnlib.init.xavier_uniform``'s
    for the same generator on generated shapes (one row, odd sizes, very tall), and the spread
    of a large draw is right."""
    __tracebackhide__ = True
    check_against_reference(_student_init(fn), _reference_init(nnlib.init.xavier_uniform),
                            functools.partial(_make_init, extreme_wide=False),
                            name="xavier_uniform", layout="(D_in, D_out)",
                            seed=_seed("xavier_uniform"))
    seed = int(np.random.default_rng(_seed("xavier_uniform/spread")).integers(0, 2**31))
    _xu_spread(fn, (37, 800), seed=seed,
               label="xavier_uniform((37, 800), rng=<a hidden generator>)")


def _hn_spread(fn: Fn, shape: tuple[int, int], seed: int, label: str | None = None) -> None:
    __tracebackhide__ = True
    label = label or f"he_normal({shape}, rng=np.random.default_rng({seed}))"
    W = _init_array(fn, shape, np.random.default_rng(seed), label, "rng.normal")
    std = np.sqrt(2 / shape[0])
    if not abs(W.mean()) < 5 * std / np.sqrt(W.size):
        raise GradingError(f"the values of {label} have mean {W.mean():.4g}: they should be "
                           "centred on 0")
    ratio = W.std() / std
    if not abs(ratio - 1) < 0.03:
        raise GradingError(
            f"the standard deviation of {label} is {W.std():.4g}, {ratio:.3g} times the "
            f"expected sqrt(2 / fan_in) = {std:.4g} with fan_in = D_in = {shape[0]}. Check the "
            "formula, which fan it uses, and that rng.normal gets the standard deviation (not "
            "the variance).")
    if not np.abs(W).max() > 3 * std:
        raise GradingError(f"the values of {label} never go beyond 3 standard deviations: they "
                           "should come from a normal distribution (rng.normal), not a uniform "
                           "one")


@exercise_check
def he_normal(fn: Fn) -> None:
    """Visible checks of ``he_normal(shape, *, rng) -> W``:

    - it is your own code, not ``nnlib.init.he_normal``;
    - a float64 array of shape ``shape``, for a tall and a wide layer, centred on 0, with the
      standard deviation ``sqrt(2 / fan_in)`` and the tails of a normal distribution;
    - it draws from the ``rng`` it is given: NumPy's global generator is untouched, and two
      calls with one generator give different numbers;
    - with the same seed, exactly the numbers of ``rng.normal(0.0, std, size=shape)``.
    """
    __tracebackhide__ = True
    forbid_reference(fn, nnlib.init.he_normal)
    forbid_reference(functools.partial(fn, rng=np.random.default_rng(0)),
                     nnlib.init.he_normal, args=((3, 4),), name="he_normal")
    _hn_spread(fn, (50, 400), seed=1)
    _hn_spread(fn, (400, 50), seed=2)
    how = "rng.normal(0.0, std, size=shape)"
    expect_injected_rng(lambda g: call(fn, (4, 6), rng=g, name="he_normal((4, 6), rng=rng)"),
                        name="he_normal", how=how)
    _same_numbers(fn, (6, 3), np.random.default_rng(7).normal(0.0, np.sqrt(2 / 6), size=(6, 3)),
                  how, "he_normal((6, 3), rng=np.random.default_rng(7))")
    print("✔ he_normal passes the visible checks")


@exercise_check
def he_normal_hidden(fn: Fn) -> None:
    """Hidden checks of ``he_normal``: the numbers equal ``nnlib.init.he_normal``'s for the same
    generator on generated shapes (one row, odd sizes, very wide), and the spread of a large
    draw is right."""
    __tracebackhide__ = True
    check_against_reference(_student_init(fn), _reference_init(nnlib.init.he_normal),
                            functools.partial(_make_init, extreme_wide=True),
                            name="he_normal", layout="(D_in, D_out)", seed=_seed("he_normal"))
    seed = int(np.random.default_rng(_seed("he_normal/spread")).integers(0, 2**31))
    _hn_spread(fn, (900, 23), seed=seed, label="he_normal((900, 23), rng=<a hidden generator>)")
