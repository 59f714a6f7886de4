"""Contract checks shared by many exercises, written once.

Every public check function of a lesson module is decorated with :func:`exercise_check`, and
calls the learner's function through :func:`call`. Messages speak to the learner: what was
expected, what came back, the likely cause; never a hidden input or a hidden answer.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from nncourse.policy import freeze_module, require_genuine_helpers
from nncourse.testing import GradingError, _same, explain_exception

__all__ = [
    "GradingError",
    "exercise_check",
    "call",
    "expect_arity",
    "expect_unchanged",
    "expect_keys",
    "expect_array",
]

F = TypeVar("F", bound=Callable[..., Any])


class _Captured:
    """What the learner's code wrote to stderr or warned while a check ran."""

    def __init__(self) -> None:
        self.stderr = io.StringIO()
        self.warnings: list[str] = []


_ACTIVE: list[_Captured] = []


def exercise_check(check: F) -> F:
    """Decorate a lesson's public check function.

    - Anything the learner's code writes to ``sys.stderr`` or any warning it raises while the
      check runs is captured and shown on stdout as a note: nbgrader scores a test cell that
      writes to stderr as failed, and a correct function that prints a warning must not lose
      its points.
    - The check's own frames are hidden from IPython's traceback, so the learner sees the
      message, not the checking code: a failure is raised afresh from this wrapper (whose frame
      IPython hides), with no chained traceback through the check's lines.
    - Before it runs, the grading helpers it relies on (``nncourse.testing``, this module,
      NumPy's comparison functions, the builtins) are verified to be the genuine ones
      (:func:`nncourse.policy.require_genuine_helpers`): a notebook that replaced them scores 0.
    """

    # The lesson's checks module cannot be patched from a notebook once loaded (its body keeps
    # defining its names: a module body writes its globals directly).
    freeze_module(check.__module__)

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        __tracebackhide__ = True
        require_genuine_helpers()
        captured = _Captured()
        _ACTIVE.append(captured)
        try:
            with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(
                captured.stderr
            ):
                warnings.simplefilter("always")
                try:
                    result = check(*args, **kwargs)
                except GradingError as err:
                    # A fresh error, raised here: the traceback the learner sees then holds no
                    # line of the checking code (a line like `looks_like(dx, <formula>)` would
                    # show the answer), only the check cell's call.
                    raise type(err)(*err.args) from None
                except Exception as exc:  # noqa: BLE001 (an error on the learner's result)
                    raise GradingError(
                        f"checking what your function returned raised {explain_exception(exc)}"
                    ) from None
                finally:
                    captured.warnings = [
                        f"{w.category.__name__}: {w.message}" for w in caught
                    ]
        finally:
            _ACTIVE.pop()
        notes = captured.stderr.getvalue().strip().splitlines()
        notes += captured.warnings
        if notes:
            shown = notes[:3] + ([f"... ({len(notes) - 3} more lines)"] if len(notes) > 3 else [])
            print(
                "Note: your code wrote to stderr or warned while it was checked (this costs no "
                "points):\n    " + "\n    ".join(shown)
            )
        return result  # type: ignore[no-any-return]

    return wrapper  # type: ignore[return-value]


def call(fn: Callable[..., Any], *args: Any, name: str, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; an exception from it becomes a message naming the call.

    ``name`` is the call in the learner's words, for example ``"linear_backward(dout, cache)"``.
    """
    __tracebackhide__ = True
    if not callable(fn):
        label = name.split("(")[0]
        raise GradingError(f"{label} should be a function, got a {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except GradingError:
        raise
    except Exception as exc:  # the learner's error, in their words
        raise GradingError(f"{name} raised {explain_exception(exc)}") from None


def expect_arity(result: Any, names: Sequence[str], *, name: str) -> tuple[Any, ...]:
    """``result`` must be a tuple (or list) of ``len(names)`` values, named in the message."""
    __tracebackhide__ = True
    want = "(" + ", ".join(names) + ")"
    if result is None:
        raise GradingError(
            f"{name} returned None; expected the tuple {want}: did you forget the `return`?"
        )
    if not isinstance(result, tuple | list):
        raise GradingError(
            f"{name} returned a single {type(result).__name__}; expected the tuple {want} "
            f"({len(names)} values, in this order)."
        )
    if len(result) != len(names):
        raise GradingError(
            f"{name} returned {len(result)} value{'s' if len(result) != 1 else ''}; expected "
            f"{len(names)}: {want}, in this order."
        )
    return tuple(result)


def expect_array(
    value: Any, shape: tuple[int, ...], *, name: str, layout: str | None = None
) -> np.ndarray:
    """``value`` must be a numeric NumPy array of ``shape`` (``layout`` in glossary letters)."""
    __tracebackhide__ = True
    from nncourse.testing import _as_numeric, _shape_message

    arr = _as_numeric(value, name, "an array")
    if arr.shape != tuple(shape):
        raise GradingError(_shape_message(arr, np.zeros(shape), name, layout))
    return arr


def expect_unchanged(
    before: Sequence[Any], after: Sequence[Any], names: Sequence[str], *, name: str
) -> None:
    """No input was modified in place: ``after`` (what the function got) equals ``before``."""
    __tracebackhide__ = True
    for pname, b, a in zip(names, before, after, strict=True):
        if not _same(b, a):
            raise GradingError(
                f"{name} modified its input `{pname}` in place. Work on a copy (for example "
                "`x = x.copy()`) or build a new array instead."
            )


def expect_keys(state: Any, keys: Sequence[str], *, name: str) -> None:
    """``state`` is a dict holding exactly ``keys``."""
    __tracebackhide__ = True
    if not isinstance(state, dict):
        raise GradingError(
            f"{name} returned a state of type {type(state).__name__}; expected a dict."
        )
    missing = [k for k in keys if k not in state]
    extra = [k for k in state if k not in keys]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"'{k}'" for k in missing))
        if extra:
            parts.append("unexpected " + ", ".join(f"'{k}'" for k in extra))
        raise GradingError(
            f"{name} returned a state dict with the wrong keys ({'; '.join(parts)}); expected "
            "exactly " + ", ".join(f"'{k}'" for k in keys) + "."
        )


def _stderr() -> Any:  # for tests
    return sys.stderr


def looks_like(value: Any, target: Any) -> bool:
    """True when ``value`` has the shape of ``target`` and (nearly) its values.

    Used to recognise a classic mistake by the wrong answer it produces; never raises.
    """
    try:
        return np.shape(value) == np.shape(target) and bool(
            np.allclose(np.asarray(value, dtype=float), np.asarray(target, dtype=float))
        )
    except Exception:  # noqa: BLE001 (anything that is not an array of numbers does not match)
        return False


def call_advised(
    fn: Callable[..., Any],
    *args: Any,
    name: str,
    advice: Sequence[tuple[type[BaseException], str, str]] = (),
    **kwargs: Any,
) -> Any:
    """:func:`call`, with targeted advice for known exceptions.

    ``advice`` holds ``(exception type, substring of its message, advice)``: the first entry
    that matches the learner's exception is appended to the message, instead of the generic
    explanation.
    """
    __tracebackhide__ = True
    if not callable(fn):
        label = name.split("(")[0]
        raise GradingError(f"{label} should be a function, got a {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except GradingError:
        raise
    except Exception as exc:  # the learner's error, in their words
        for kind, pattern, text in advice:
            if isinstance(exc, kind) and pattern in str(exc):
                raise GradingError(
                    f"{name} raised {type(exc).__name__}: {str(exc).rstrip('.')}. {text}"
                ) from None
        raise GradingError(f"{name} raised {explain_exception(exc)}") from None


class ScriptedRng:
    """Stands in for the injected ``np.random.Generator`` and hands out given numbers.

    A real generator hands out one stream; this one replays ``stream`` (in order) through the
    methods named in ``methods``, so a check knows exactly which numbers the learner's function
    drew, and counts them in :attr:`drawn`. Families: ``"random"`` serves ``random(size)`` and
    ``uniform(low, high, size)`` (as ``low + (high - low) * u``); ``"integers"`` serves
    ``integers(low, high, size)``; ``"standard_normal"`` serves ``standard_normal(size)`` and
    ``normal(loc, scale, size)``. Any other method, or drawing more numbers than the stream
    holds, fails with a message naming the learner's function and ``how`` it should draw;
    the learner never sees this class's name.
    """

    _FAMILY = {
        "random": "random",
        "uniform": "random",
        "integers": "integers",
        "standard_normal": "standard_normal",
        "normal": "standard_normal",
    }

    def __init__(self, stream: Any, *, family: str, name: str, how: str) -> None:
        self._stream = np.asarray(stream).ravel()
        self._family = family
        self._name = name
        self._how = how
        self.drawn = 0
        self.calls = 0

    def __repr__(self) -> str:
        return "rng"

    def _take(self, size: Any) -> Any:
        __tracebackhide__ = True
        n = 1 if size is None else int(np.prod(size))
        block = self._stream[self.drawn : self.drawn + n]
        self.drawn += n
        self.calls += 1
        if block.size < n:
            raise GradingError(
                f"{self._name} drew more random numbers than it needs ({self.drawn} so far, "
                f"{self._stream.size} expected in all): {self._how}."
            )
        if size is None:
            return block[0].item()
        return block.reshape(size)

    def __getattr__(self, attr: str) -> Any:
        __tracebackhide__ = True
        if attr.startswith("_"):
            raise AttributeError(attr)
        if self._FAMILY.get(attr) != self._family:
            raise GradingError(
                f"{self._name} called rng.{attr}(...); this exercise draws its numbers in one "
                f"way only, so that the checks can replay them: {self._how}."
            )
        return getattr(self, f"_draw_{attr}")

    def _draw_random(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        return self._take(size)

    def _draw_uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        return low + (high - low) * np.asarray(self._take(size))

    def _draw_integers(
        self, low: Any, high: Any = None, size: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return self._take(size)

    def _draw_standard_normal(self, size: Any = None, *args: Any, **kwargs: Any) -> Any:
        return self._take(size)

    def _draw_normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None) -> Any:
        return loc + scale * np.asarray(self._take(size))


def ensure(ok: Any, message: str) -> None:
    """Fail with ``message`` unless ``ok``: an ``assert`` that survives ``python -O``."""
    __tracebackhide__ = True
    if not ok:
        raise GradingError(message)


def expect_floating(value: Any, *, name: str, what: str = "floats") -> None:
    """``value`` is an array (or number) of a floating dtype, not booleans or integers.

    ``what`` names the values expected, for example ``"floats (0.0 and 1.0)"``.
    """
    __tracebackhide__ = True
    dtype = np.asarray(value).dtype
    if not np.issubdtype(dtype, np.floating):
        raise GradingError(
            f"{name} returned an array of dtype {dtype}; expected {what}: convert with "
            "`.astype(float)` (booleans and integers do not behave like numbers everywhere, "
            "and `True - False` is an error)."
        )


__all__ += ["ensure", "expect_floating"]


def call_update_rule(
    rule: Callable[..., Any],
    w: np.ndarray,
    dw: np.ndarray,
    state: dict[str, Any],
    hyper: dict[str, Any],
    *,
    name: str,
    state_keys: Sequence[str] = (),
    step_key: str | None = None,
    rebuild: str = "next_w = w - lr * ...",
) -> tuple[Any, dict[str, Any]]:
    """``rule(w, dw, state, **hyper)`` held to the update-rule contract; returns its pair.

    The contract (CS231n's, with PyTorch's names): ``rule(w, dw, state, *, lr, ...) ->
    (next_w, next_state)``, changing nothing it was given. Fails, naming ``name``, when the rule

    - raises (with advice for ``if state.get(...)`` on an array, and for a state shaped
      ``(len(w),)`` that cannot broadcast against a 2-D ``w``);
    - does not return the pair ``(next_w, next_state)``, in that order, ``next_state`` a dict;
    - returns a ``next_w`` not shaped like ``w``;
    - modifies ``w``, ``dw``, the state dict or one of its arrays in place, or returns the very
      dict it was given;
    - leaves out a key of ``state_keys`` (PyTorch's names), stores an array not shaped like
      ``w``, or stores ``w`` or ``dw`` itself instead of a copy;
    - stores under ``step_key`` something other than one whole number.

    ``rebuild`` shows how to build a new array instead of writing into one, for example
    ``"s = s + g * g, not s += g * g"``.
    """
    __tracebackhide__ = True
    if not callable(rule):
        raise GradingError(f"{name} should be a function, got a {type(rule).__name__}.")
    kept = (w.copy(), dw.copy(), {k: np.copy(v) for k, v in state.items()})
    try:
        result = rule(w, dw, state, **hyper)
    except GradingError:
        raise
    except ValueError as exc:
        if "truth value of an array" in str(exc):
            raise GradingError(
                f"{name} raised ValueError: {exc}. To test whether the state has an entry yet, "
                "write `if previous is None:` after previous = state.get(key) (not `== None` "
                "or `not previous`, which fail on arrays)."
            ) from None
        if "broadcast" in str(exc) and np.ndim(w) >= 2:
            raise GradingError(
                f"{name} failed on a 2-D weight matrix w with ValueError: {str(exc).strip()}. "
                "Is a state array shaped (len(w),)? The state must be shaped like w "
                "(np.zeros_like(w)), not np.zeros(len(w))."
            ) from None
        raise GradingError(f"{name} raised {explain_exception(exc)}") from None
    except Exception as exc:  # the learner's error, in their words
        raise GradingError(f"{name} raised {explain_exception(exc)}") from None
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        if result is None:
            got = "None: did you forget `return`?"
        elif isinstance(result, tuple | list):
            got = (
                f"a {type(result).__name__} of length {len(result)} "
                f"({', '.join(type(r).__name__ for r in result)})"
            )
            if len(result) == 2 and isinstance(result[0], dict):
                got += ": put next_w first, then next_state"
            elif len(result) == 2 and isinstance(result[1], dict):
                got += ": return a tuple, `return next_w, next_state`"
        else:
            got = f"a {type(result).__name__}"
            if isinstance(result, np.ndarray):
                got += " (next_w alone?): `return next_w, next_state`"
        raise GradingError(
            f"{name} should return the pair (next_w, next_state), with next_state a dict; it "
            f"returned {got}" + ("" if got.endswith("?") else ".")
        )
    next_w, next_state = result
    if np.shape(next_w) != np.shape(w):
        raise GradingError(
            f"next_w returned by {name} has shape {np.shape(next_w)}, but w has shape "
            f"{np.shape(w)}: next_w must be shaped like w."
        )
    for pname, before, after in (("w", kept[0], w), ("dw", kept[1], dw)):
        if not np.array_equal(before, after):
            raise GradingError(
                f"{name} modified its input {pname} in place (with -=, +=, *= or [...] =). The "
                "caller still uses it: compute a new array instead, e.g. next_w = w - lr * ..."
            )
    if set(state) != set(kept[2]) or any(
        not np.array_equal(state[k], v) for k, v in kept[2].items()
    ):
        raise GradingError(
            f"{name} changed the state dict it was given (it assigned a key, or changed one of "
            "its arrays with +=, *= or [...] =). The caller keeps that dict: make a new one "
            f"with next_state = dict(state), and new arrays ({rebuild})."
        )
    if next_state is state:
        raise GradingError(
            f"{name} returned the very dict it was given as next_state. Return a new dict, e.g. "
            "dict(state), so that the caller's state and the next one stay separate objects."
        )
    for key in state_keys:
        if key not in next_state:
            raise GradingError(
                f"the state returned by {name} has no key {key!r}: store it under "
                f"next_state[{key!r}], the name torch.optim uses."
            )
        if key == step_key:
            continue
        if np.shape(next_state[key]) != np.shape(w):
            raise GradingError(
                f"next_state[{key!r}] returned by {name} has shape "
                f"{np.shape(next_state[key])}, but w has shape {np.shape(w)}: the state must "
                "be shaped like w (np.zeros_like(w)), not np.zeros(len(w))."
            )
        if np.shares_memory(next_state[key], dw) or np.shares_memory(next_state[key], w):
            raise GradingError(
                f"next_state[{key!r}] returned by {name} is the array dw (or w) itself: store a "
                "copy, e.g. g.copy(), or your state changes whenever the caller changes its "
                "gradient array."
            )
    if step_key is not None:
        t = next_state[step_key]
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float | np.integer | np.floating | np.ndarray)
            or np.ndim(t) != 0
            or not float(t).is_integer()
        ):
            raise GradingError(
                f"next_state[{step_key!r}] returned by {name} is {t!r}, not a single whole "
                "number: store t, the number of steps taken so far, as a Python int or a 0-d "
                "number (not an array of shape (1,))."
            )
    return next_w, next_state


__all__ += ["call_update_rule"]


def expect_number(
    value: Any, *, name: str, what: str = "one number", advice: str = "",
    python_float: bool = False,
) -> float:
    """``value`` is one number (0-d), not an array; returned as a float.

    ``what`` says which number (``"the loss, one number (the mean)"``), ``advice`` the likely
    cause when an array came back. With ``python_float``, a NumPy scalar or 0-d array is refused
    too: the contract asks for a Python ``float`` (``float(...)``).
    """
    __tracebackhide__ = True
    if value is None:
        raise GradingError(
            f"{name} returned None where {what} was expected: did you forget the `return`?"
        )
    if isinstance(value, tuple | list):
        raise GradingError(
            f"{name} returned a {type(value).__name__} of {len(value)} items where {what} was "
            "expected."
        )
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise GradingError(
            f"{name} returned an array of shape {value.shape} where {what} was expected"
            + (f": {advice.rstrip('.')}." if advice else ".")
            + " Wrap the final number in float(...) once it is a single number."
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GradingError(
            f"{name} returned a {type(value).__name__} where {what} was expected."
        ) from None
    if python_float and not isinstance(value, float):
        raise GradingError(
            f"{name} returned a {type(value).__name__} where {what} was expected as a Python "
            "float: wrap the result in float(...)."
        )
    return number


def expect_order(
    values: Sequence[Any], expected: Sequence[Any], names: Sequence[str], *, name: str
) -> None:
    """The returned ``values`` are ``expected`` in the order ``names``, not a permutation.

    Fails with a message naming the order that came back when the values, matched by shape
    (or by value, when the shapes cannot tell them apart), are the expected ones permuted.
    Does nothing otherwise: the value checks that follow report any other difference.
    """
    __tracebackhide__ = True
    import itertools

    n = len(expected)
    if len(values) != n:
        return
    want = "(" + ", ".join(names) + ")"

    def fail(perm: tuple[int, ...]) -> None:
        got = "(" + ", ".join(names[j] for j in perm) + ")"
        raise GradingError(
            f"{name} returned its values in the wrong order: they look like {got}, but the "
            f"contract is {want}. Return them in that order."
        )

    shapes = [np.shape(v) for v in values]
    wanted = [np.shape(e) for e in expected]
    if shapes != wanted:
        for perm in itertools.permutations(range(n)):
            if perm != tuple(range(n)) and all(shapes[i] == wanted[j] for i, j in enumerate(perm)):
                fail(perm)
        return
    if all(looks_like(v, e) for v, e in zip(values, expected, strict=True)):
        return
    for perm in itertools.permutations(range(n)):
        if perm != tuple(range(n)) and all(
            looks_like(values[i], expected[j]) for i, j in enumerate(perm)
        ):
            fail(perm)


def expect_injected_rng(
    draw: Callable[[np.random.Generator], Any], *, name: str, how: str
) -> None:
    """``draw(rng)`` draws from the generator it is given, and only from it.

    Calls ``draw`` twice with one fresh generator and fails when NumPy's hidden global
    generator moved (``np.random.normal``, ``np.random.rand``...), or when both calls returned
    the same numbers (a new generator made inside the function). ``how`` names the draw the
    exercise asks for, for example ``"rng.uniform(-a, a, size=shape)"``.
    """
    __tracebackhide__ = True
    state = np.random.get_state()  # noqa: NPY002 (watching the legacy global generator)
    try:
        g = np.random.default_rng(0)
        first, second = draw(g), draw(g)
        moved = any(
            not np.array_equal(now, then)
            for now, then in zip(np.random.get_state()[1:3], state[1:3], strict=True)  # noqa: NPY002
        )
    finally:
        np.random.set_state(state)  # noqa: NPY002
    if moved:
        raise GradingError(
            f"{name} used NumPy's global generator (np.random.normal, np.random.uniform, "
            f"np.random.rand, ...): draw from the generator passed as rng instead, with {how}."
        )
    if looks_like(first, second):
        raise GradingError(
            f"two calls of {name} with the same generator returned the same numbers: draw from "
            f"the rng you are given ({how}) instead of creating a new generator inside the "
            "function."
        )


__all__ += ["expect_number", "expect_order", "expect_injected_rng"]


freeze_module(__name__)
