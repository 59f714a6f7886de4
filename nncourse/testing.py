"""Grading helpers for the notebooks' test cells.

Three tools, used by the visible and the hidden tests alike:

- :func:`assert_close` compares a result with the expected one and, when they differ, says *how*
  (wrong shape, transposed, sign flipped, off by a constant factor, NaN or inf, first differing
  index with its relative error) without printing the inputs or the expected values, so a
  hidden test can fail loudly without giving its answer away.
- :func:`check_against_reference` runs a learner's function and the nnlib reference on freshly
  generated cases (a batch of one, odd sizes, extreme values, several seeds) and reports the
  first case that disagrees, and any input the learner's function modified in place.
- :func:`forbid_reference` fails an exercise whose function *is* the reference, an alias or a
  wrapper of it, or calls it at run time. Using nnlib for what earlier lessons taught stays
  allowed: only the references passed in are forbidden.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "GradingError",
    "explain_exception",
    "assert_close",
    "check_against_reference",
    "forbid_reference",
    "CASE_KINDS",
    "batch_size_for",
    "scale_for",
    "hidden_seed",
]


class GradingError(AssertionError):
    """A failed check. Its message is meant for the learner."""


# ---------------------------------------------------------------------------------------------
# assert_close
# ---------------------------------------------------------------------------------------------


def _fmt_index(idx: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(i)) for i in idx) + ("," if len(idx) == 1 else "") + ")"


def _as_numeric(value: Any, name: str, what: str) -> np.ndarray:
    __tracebackhide__ = True  # IPython hides this frame: the learner sees the message
    if value is None:
        raise GradingError(
            f"{name} returned None instead of {what}: did you forget the `return` statement?"
        )
    if value is Ellipsis:
        raise GradingError(
            f"{name} returned `...` (Ellipsis): a `...` placeholder from a hint is still in "
            "your code; replace it with the expression it stands for."
        )
    if isinstance(value, tuple | list) and any(isinstance(v, np.ndarray) for v in value):
        raise GradingError(
            f"{name} returned a {type(value).__name__} of {len(value)} items where {what} "
            "was expected: return the array itself."
        )
    if isinstance(value, list) and what == "an array":
        raise GradingError(
            f"{name} returned a Python list; return a NumPy array (for example build it with "
            "NumPy operations, or wrap it in np.array(...))."
        )
    try:
        arr = np.asarray(value)
    except Exception:  # ragged nested lists, exotic objects
        raise GradingError(
            f"{name} returned a {type(value).__name__}, which is not a NumPy array: "
            f"expected {what}."
        ) from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise GradingError(
            f"{name} returned a {type(value).__name__} of dtype {arr.dtype}; expected {what} "
            "holding numbers."
        )
    return arr


def _shape_message(a: np.ndarray, e: np.ndarray, name: str, layout: str | None) -> str:
    same = layout is not None and layout.replace(" ", "") == str(e.shape).replace(" ", "")
    want = f"{e.shape}" + (f", that is {layout}" if layout and not same else "")
    msg = f"{name} returned an array of shape {a.shape}, but the expected shape is {want}."
    if a.ndim >= 2 and a.shape == e.shape[::-1]:
        return msg + " It looks transposed: check for a missing or extra `.T`, or swapped axes."
    if a.size == e.size:
        return msg + (
            " It has the right number of entries: check `keepdims=True`, or reshape with "
            "`.reshape(...)`."
        )
    if a.ndim == 0 and e.size > 1:
        return msg + (
            " You returned a single number where one value per entry was expected: did you sum "
            "or average over every axis instead of one (`axis=`), or compute a constant where "
            "an elementwise expression belongs?"
        )
    if a.ndim == e.ndim + 1 and a.size > e.size:
        return msg + (
            " It has an extra axis: did broadcasting add one (a missing `keepdims=True`, or a "
            "(N, 1) array combined with an (N,) array)?"
        )
    if a.ndim + 1 == e.ndim or a.ndim == e.ndim:
        return msg + (
            " Did you reduce (sum, mean, max...) over the wrong axis, or over one too many?"
        )
    return msg


def _distinct(x: float, other: float) -> str:
    """x with 6 significant digits, or as many more as it takes to differ from ``other``."""
    for digits in (6, 9, 12, 17):
        text, other_text = f"{x:.{digits}g}", f"{other:.{digits}g}"
        if text != other_text:
            return text
    return text


def assert_close(
    actual: Any,
    expected: Any,
    *,
    name: str = "your function",
    what: str = "an array",
    layout: str | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    reveal: bool = False,
) -> None:
    """Raise :class:`GradingError` with a diagnosis unless ``actual`` matches ``expected``.

    ``name`` describes the call in the learner's words (``"relu_forward(x)"``), ``layout`` the
    expected shape in the glossary's letters (``"(N, K)"``). The message never contains the
    expected values: only shapes, positions, relative errors and a diagnosis, unless
    ``reveal=True``, meant for visible checks whose expected values are printed in the cell
    anyway: then it also says what came back and what was expected at the first difference.
    """
    __tracebackhide__ = True  # IPython hides this frame: the learner sees the message

    e = np.asarray(expected)
    if e.dtype == object:
        raise TypeError("assert_close: expected must be numeric")
    a = _as_numeric(actual, name, what)
    if a.shape != e.shape:
        raise GradingError(_shape_message(a, e, name, layout))
    a = a.astype(np.float64)
    e = e.astype(np.float64)

    bad_a = ~np.isfinite(a)
    bad_e = ~np.isfinite(e)
    if np.any(bad_a & ~bad_e):
        idx = np.argwhere(bad_a & ~bad_e)[0]
        kinds = "NaN" if np.isnan(a[tuple(idx)]) else "inf"
        count = int(np.sum(bad_a & ~bad_e))
        raise GradingError(
            f"{name} returned {kinds} at index {_fmt_index(idx)} ({count} non-finite "
            f"entr{'y' if count == 1 else 'ies'}) where a finite number was expected. "
            "Look for a numerically unstable step: np.exp of a large number overflows, log(0) "
            "is -inf, and 0/0 is NaN (a division by something that can be 0)."
        )

    close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if np.all(close):
        return

    finite = np.isfinite(a) & np.isfinite(e)
    af, ef = a[finite], e[finite]
    diagnosis = ""
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1 and np.allclose(
        a, e.T, rtol=rtol, atol=atol
    ):
        diagnosis = " The values are the transpose of the expected ones: check a `.T` or an axis."
    elif np.any(ef != 0) and np.allclose(af, -ef, rtol=rtol, atol=atol):
        diagnosis = " Every value has the wrong sign: check a `+`/`-` or the direction of a step."
    elif np.any(ef != 0) and ef.size > 1 and np.ptp(ef) > 0:
        # (A constant expected array fits any constant answer by a factor and by an offset
        # alike: no diagnosis then, rather than a misleading one.)
        denom = float(ef @ ef)
        factor = float(af @ ef) / denom if denom > 0 else 0.0
        if (
            factor != 0
            and not np.isclose(factor, 1.0, rtol=1e-3)
            and np.allclose(af, factor * ef, rtol=max(rtol, 1e-5), atol=atol)
        ):
            diagnosis = (
                f" Every value is off by the same factor (about {factor:.4g} times the expected "
                "one): a missing or extra constant, such as a 1/N, a 2, or a sum where a mean "
                "belongs."
            )
        elif ef.size > 1:
            offset = af - ef
            if np.allclose(offset, offset.flat[0], rtol=0, atol=max(atol, 1e-7)) and not np.isclose(
                offset.flat[0], 0.0, atol=atol
            ):
                diagnosis = (
                    " Every value is shifted by the same constant: check an added or "
                    "subtracted term."
                )
    idx = np.argwhere(~close)[0]
    ai, ei = a[tuple(idx)], e[tuple(idx)]
    rel = abs(ai - ei) / max(abs(ai), abs(ei), 1e-300)
    count = int(np.sum(~close))
    if reveal:
        diagnosis = f" Got {_distinct(ai, ei)}, expected {_distinct(ei, ai)} there." + diagnosis
    if a.size == 1:
        scalar = ""
        if ei != 0 and np.isfinite(ai) and ai != 0:
            ratio = float(ai / ei)
            scalar = f" It is {ratio:.4g} times the expected value"
            near = round(ratio) if abs(ratio) >= 1 else (1 / round(1 / ratio) if ratio else 0)
            if ratio >= 1.5 and np.isclose(ratio, round(ratio), rtol=1e-6) or (
                0 < ratio < 0.75 and np.isclose(ratio, near, rtol=1e-6)
            ):
                scalar += (": a missing or extra constant factor, such as a 1/N, a 2, or a sum "
                           "where a mean belongs?")
            elif ratio < 0:
                scalar = ""  # the sign diagnosis below says it
            else:
                scalar += "."
        raise GradingError(
            f"{name} is wrong: relative error {rel:.2e} from the expected value.{scalar}"
            + diagnosis
        )
    raise GradingError(
        f"{name} first differs at index {_fmt_index(idx)} (relative error {rel:.2e} there); "
        f"{count} of {a.size} entries {'differs' if count == 1 else 'differ'} from the "
        "expected result." + diagnosis
    )


# ---------------------------------------------------------------------------------------------
# check_against_reference
# ---------------------------------------------------------------------------------------------

#: The kinds of generated case every hidden test runs through, in order.
CASE_KINDS: tuple[str, ...] = ("batch of one", "odd sizes", "random", "random", "extreme values")


def batch_size_for(kind: str, rng: np.random.Generator) -> int:
    """A batch size that fits the case kind: 1, an odd size, or a random size."""
    if kind == "batch of one":
        return 1
    if kind == "odd sizes":
        return int(rng.integers(1, 8)) * 2 + 1
    return int(rng.integers(2, 17))


def scale_for(kind: str) -> float:
    """How far from zero generated inputs reach: 1e3 for extreme cases, 1 otherwise."""
    return 1e3 if kind == "extreme values" else 1.0


#: The environment variable through which the grader hands the salt to the grading kernel.
HIDDEN_SALT_VARIABLE = "NNCOURSE_HIDDEN_SALT"


def _initial_environment_value(name: str) -> str | None:
    """``name`` as the process was started with it (Linux), whatever was changed since."""
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return None
    prefix = name.encode() + b"="
    for entry in entries:
        if entry.startswith(prefix):
            return entry[len(prefix):].decode(errors="replace")
    return None


def hidden_seed(key: str) -> int:
    """The seed of the hidden cases named ``key`` (for example ``"optimizers/adagrad"``).

    Without ``NNCOURSE_HIDDEN_SALT`` (a learner, the test suite) it depends on ``key`` only:
    deterministic, and the learner's own checks run the same visible cases every time. When an
    instructor grades, the grader starts each grading kernel with ``NNCOURSE_HIDDEN_SALT`` set
    to an HMAC-SHA256, under a per-course secret kept outside the repository, of the
    assignment and the student's id (``autograder.sandbox.hidden_salt``), so the hidden cases
    come from seeds no file of the repository determines, different for each student and the
    same on a regrade: a table of precomputed answers is worthless. The salt the kernel was
    *started* with wins over any later change to ``os.environ`` (a submission cannot unset it
    to get the fixed seeds back).
    """
    import hashlib
    import os

    salt = _initial_environment_value(HIDDEN_SALT_VARIABLE)
    if not salt:
        salt = os.environ.get(HIDDEN_SALT_VARIABLE, "")
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _snapshot(args: Sequence[Any]) -> list[Any]:
    return [copy.deepcopy(a) for a in args]


def _param_names(fn: Callable[..., Any], n: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.random.Generator):
        return True  # drawing from the rng it was given is what a function should do
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        # Element by element, so that writing into one array of a list is seen.
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if callable(getattr(a, "parameters", None)):
        return True  # a model: running it (and its backward) changes its state by design
    try:
        return bool(a == b)
    except Exception:
        return True


_EXCEPTION_HINTS = (
    ("truth value of an array", "Python's `max`, `min`, `if` and `and` look at one number at a "
     "time; for arrays use the elementwise np.maximum, np.minimum, np.where or &."),
    ("only 0-dimensional arrays can be converted", "the `math` module works on single numbers; "
     "use the NumPy version (np.exp, np.log, ...) on arrays."),
    ("only length-1 arrays can be converted", "the `math` module works on single numbers; use "
     "the NumPy version (np.exp, np.log, ...) on arrays."),
    ("could not be broadcast together", "two arrays have shapes that do not line up: check "
     "the axis of a reduction and `keepdims=True`."),
    ("invalid index to scalar variable", "you indexed a single number: a reduction probably "
     "removed an axis you still need (`keepdims=True`)."),
    ("not implemented", "the exercise still raises NotImplementedError: write its body."),
)


def explain_exception(exc: BaseException) -> str:
    """The exception in one line, plus advice when it is a classic NumPy beginner error."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError):
        return "NotImplementedError: the function is not written yet."
    for pattern, hint in _EXCEPTION_HINTS:
        if pattern in str(exc):
            return f"{text}. Hint: {hint}"
    return text


def check_against_reference(
    student: Callable[..., Any],
    reference: Callable[..., Any],
    make_args: Callable[[np.random.Generator, str], Sequence[Any]],
    *,
    name: str,
    seed: int = 0,
    kinds: Iterable[str] = CASE_KINDS,
    compare: Callable[[Any], Any] | None = None,
    layout: str | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Compare ``student`` with ``reference`` on one generated case per entry of ``kinds``.

    ``make_args(rng, kind)`` returns the positional arguments for one case. ``compare`` maps a
    result to what is compared (for example ``lambda r: r[0]`` to ignore a cache); by default
    the whole result is compared, element by element when it is a tuple. Failure messages
    name the case kind and never its inputs or the expected result.

    Returns None on purpose: nbgrader reads a number displayed by a test cell as *partial
    credit*, and a count of cases larger than the cell's points makes it refuse the notebook.
    """
    __tracebackhide__ = True  # IPython hides this frame: the learner sees the message

    compare = compare or (lambda r: r)
    kinds = list(kinds)
    rng = np.random.default_rng(seed)
    for i, kind in enumerate(kinds):
        args = list(make_args(rng, kind))
        ref_out = compare(reference(*_snapshot(args)))
        student_args = _snapshot(args)
        where = f"{name} on hidden case {i + 1} of {len(kinds)} ({kind})"
        try:
            got = _call_without_reference(student, student_args, reference, name)
        except GradingError:
            raise
        except Exception as exc:  # the learner's error, reported in their words
            raise GradingError(f"{where} raised {explain_exception(exc)}") from None
        for pname, before, after in zip(
            _param_names(student, len(args)), args, student_args, strict=True
        ):
            if not _same(before, after):
                raise GradingError(
                    f"{where} modified its input `{pname}` in place. Work on a copy "
                    "(for example `x = x.copy()`) or build a new array instead."
                )
        try:
            got_out = compare(got)
        except Exception:
            raise GradingError(
                f"{where} returned a {type(got).__name__} that does not have the expected "
                "structure (check what your function returns)."
            ) from None
        if isinstance(ref_out, tuple):
            if not isinstance(got_out, tuple | list) or len(got_out) != len(ref_out):
                n = len(got_out) if isinstance(got_out, tuple | list) else 1
                raise GradingError(
                    f"{where} returned {n} value{'s' if n != 1 else ''}; expected a tuple of "
                    f"{len(ref_out)}."
                )
            for j, (g, r) in enumerate(zip(got_out, ref_out, strict=True)):
                assert_close(
                    g, r, name=f"{where}, returned value {j + 1},", rtol=rtol, atol=atol
                )
        else:
            assert_close(got_out, ref_out, name=where, layout=layout, rtol=rtol, atol=atol)


def _call_without_reference(
    student: Callable[..., Any], args: Sequence[Any], reference: Callable[..., Any], name: str
) -> Any:
    """``student(*args)`` with ``reference`` disabled when it is an nnlib function.

    forbid_reference's run-time probe uses one public input, which a function could special-
    case before handing every other input to the reference (through a dict, an object...). On
    the hidden cases the reference is switched off as well: reaching it fails the exercise with
    the reference-use message, whatever the route.
    """
    __tracebackhide__ = True
    guard = (isinstance(reference, types.FunctionType) and not reference.__code__.co_freevars
             and str(getattr(reference, "__module__", "")).split(".")[0] == "nnlib"
             and student is not reference)  # the course's own tests check the reference too
    if not guard:
        return student(*args)
    saved = reference.__code__
    _TRIPPED.clear()
    reference.__code__ = _tripwire.__code__
    try:
        try:
            result = student(*args)
        except ReferenceCalled:
            result = None
    finally:
        reference.__code__ = saved
    if _TRIPPED:
        _TRIPPED.clear()
        raise GradingError(
            f"{name} uses the course's reference implementation ({_qualname(reference)}) on the "
            "hidden cases. That is a fine way to get unstuck and carry on with the notebook, but "
            "this exercise scores 0 until you write your own version."
        )
    return result


# ---------------------------------------------------------------------------------------------
# forbid_reference
# ---------------------------------------------------------------------------------------------


class ReferenceCalled(BaseException):
    """Raised by a disabled reference. A BaseException, so `except Exception` cannot hide it."""


_TRIPPED: list[str] = []


def _tripwire(*args: Any, **kwargs: Any) -> Any:
    # This code object replaces the reference's while the guard runs. It is executed with the
    # reference's globals, so it must not use this module's globals: it imports what it needs.
    import nncourse.testing as _t

    _t._TRIPPED.append("called")
    raise _t.ReferenceCalled()


def _code_objects(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _unwrap(fn: Any) -> list[Any]:
    """fn and what it wraps: functools.partial, bound methods, __wrapped__ chains."""
    seen: list[Any] = []
    todo = [fn]
    while todo:
        f = todo.pop()
        if any(f is s for s in seen):
            continue
        seen.append(f)
        if isinstance(f, functools.partial):
            todo.append(f.func)
        if isinstance(f, types.MethodType):
            todo.append(f.__func__)
        wrapped = getattr(f, "__wrapped__", None)
        if wrapped is not None:
            todo.append(wrapped)
    return seen


@functools.lru_cache(maxsize=4096)
def _fingerprint(code: types.CodeType) -> tuple[Any, ...]:
    """What makes two code objects the same function text, wherever and under whatever name
    they were compiled: the instructions with their arguments (constants, nested code, global,
    attribute and local names, jump targets), the argument layout, and where each instruction
    sits relative to the first line. Renaming one variable changes it.

    Instructions rather than raw bytecode: the compiler emits ``LOAD_ATTR`` or ``LOAD_METHOD``
    for ``np.f(...)`` depending on whether ``np`` was imported in the same compilation, so the
    reference's source exec'd on its own differs from its module in those opcodes (and in the
    inline caches and jump offsets that follow) while being the same text.
    """
    import dis

    instrs = [i for i in dis.get_instructions(code) if i.opname != "EXTENDED_ARG"]
    index_at: dict[int, int] = {}
    for n, ins in enumerate(instrs):
        index_at[ins.offset] = n
    first = code.co_firstlineno
    body = []
    for ins in instrs:
        arg: Any = ins.argval
        if ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs:
            arg = index_at[arg] if arg in index_at else min(
                (n for o, n in index_at.items() if o >= arg), default=-1)
        elif isinstance(arg, types.CodeType):
            arg = _fingerprint(arg)
        elif ins.opcode in dis.hasconst:
            arg = (type(arg).__name__, repr(arg))
        pos = ins.positions
        where = (None, None, None, None) if pos is None else (
            None if pos.lineno is None else pos.lineno - first,
            None if pos.end_lineno is None else pos.end_lineno - first,
            pos.col_offset, pos.end_col_offset)
        body.append(("LOAD_ATTR" if ins.opname == "LOAD_METHOD" else ins.opname, arg, where))
    return (tuple(body), code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
            code.co_flags & 0xFFFF)  # without the __future__ flags of the compilation


def _is_copy(code: types.CodeType, ref_code: types.CodeType) -> bool:
    """``code`` is the reference's code compiled again: a fresh copy of its module loaded from
    the same file under another name, its code object rebuilt or ``replace``d, or its source
    ``exec``'d (a ``<string>`` file). A function typed into a notebook cell is never a copy,
    however close to the reference: on a three-line function, identical honest work and a
    careful hand copy cannot be told apart, so neither is zeroed automatically."""
    if code is ref_code:
        return True
    origin = code.co_filename
    if origin != ref_code.co_filename and not origin.startswith("<"):
        return False
    return _fingerprint(code) == _fingerprint(ref_code)


def _is_ref(obj: Any, refs: Sequence[Any]) -> bool:
    return any(obj is r for r in refs) or (
        isinstance(obj, types.FunctionType)
        and any(isinstance(r, types.FunctionType) and _is_copy(obj.__code__, r.__code__)
                for r in refs)
    )


def _static_use(student: Any, refs: Sequence[Any]) -> str | None:
    """Name through which the student's code reaches a reference, found without running it."""
    for f in _unwrap(student):
        if _is_ref(f, refs):
            return "is"
        if not isinstance(f, types.FunctionType):
            continue
        cells = [c.cell_contents for c in (f.__closure__ or ()) if _cell_filled(c)]
        defaults = list(f.__defaults__ or ()) + list((f.__kwdefaults__ or {}).values())
        if any(_is_ref(v, refs) for v in cells + defaults):
            return "captures"
        names: set[str] = set()
        for code in _code_objects(f.__code__):
            names.update(code.co_names)
        g = f.__globals__
        for n in names:
            if n in g and _is_ref(g[n], refs):
                return f"calls `{n}`"
        # attribute chains such as nnlib.losses.mse_loss: follow modules named in the code
        modules = [g[n] for n in names if n in g and isinstance(g[n], types.ModuleType)]
        for _ in range(3):
            found: list[types.ModuleType] = []
            for m in modules:
                for n in names:
                    attr = getattr(m, n, None)
                    if attr is not None and _is_ref(attr, refs):
                        return f"calls `{m.__name__}.{n}`"
                    if isinstance(attr, types.ModuleType):
                        found.append(attr)
            modules = found
    return None


def _cell_filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _qualname(ref: Any) -> str:
    mod = getattr(ref, "__module__", None) or "nnlib"
    return f"{mod}.{getattr(ref, '__qualname__', getattr(ref, '__name__', repr(ref)))}"


def forbid_reference(
    student: Callable[..., Any],
    *references: Callable[..., Any],
    args: Sequence[Any] | None = None,
    name: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Fail when ``student`` is, wraps or calls one of ``references``.

    Three checks: identity (the reference itself, an alias, a ``functools.partial``, a
    function sharing its code, or a copy of it: the same code compiled again from nnlib's file
    or from its ``exec``'d source, see :func:`_is_copy`); the names its code uses (globals,
    closures, defaults and module attribute chains, a fresh copy of an nnlib module included,
    that lead to a reference); and, when ``args`` is given, one run of
    ``student(*args, **kwargs)`` with every reference temporarily disabled and every Python
    call watched for a copy of one, which catches any other route to it. Exceptions other than
    reaching the reference are ignored here: the tests that follow report them.
    """
    __tracebackhide__ = True  # IPython hides this frame: the learner sees the message

    if not references:
        raise TypeError("forbid_reference needs at least one reference function")
    label = name or getattr(student, "__name__", "your function")
    public = [r for r in references if not getattr(r, "__name__", "x").startswith("_")]
    refnames = " / ".join(_qualname(r) for r in public or references)
    advice = (
        f"{label} uses the course's reference implementation ({refnames}). That is a fine "
        "way to get unstuck and carry on with the notebook, but this exercise scores 0 until "
        "you write your own version."
    )
    if not callable(student):
        raise GradingError(f"{label} should be a function, got a {type(student).__name__}.")
    how = _static_use(student, references)
    if how is not None:
        raise GradingError(advice if how == "is" else f"{advice} (Found: it {how}.)")
    if args is None:
        return

    originals: list[tuple[types.FunctionType, types.CodeType]] = []
    for r in references:
        if isinstance(r, types.FunctionType) and not r.__code__.co_freevars:
            originals.append((r, r.__code__))
    ref_codes = [r.__code__ for r in references if isinstance(r, types.FunctionType)]
    watch, copies = _copy_watcher(ref_codes)
    _TRIPPED.clear()
    previous = sys.getprofile()
    try:
        for r, _ in originals:
            r.__code__ = _tripwire.__code__
        try:
            sys.setprofile(watch)
            student(*_snapshot(args), **copy.deepcopy(dict(kwargs or {})))
        except ReferenceCalled:
            pass
        except Exception:  # noqa: BLE001 (reported by the tests that follow)
            pass
        finally:
            sys.setprofile(previous)
    finally:
        for r, code in originals:
            r.__code__ = code
    if _TRIPPED:
        _TRIPPED.clear()
        raise GradingError(advice + " (It calls the reference when it runs.)")
    if copies:
        raise GradingError(advice + " (It calls a copy of the reference when it runs.)")


def _copy_watcher(
    ref_codes: Sequence[types.CodeType],
) -> tuple[Callable[[Any, str, Any], None], list[types.CodeType]]:
    """A profile function that records each Python call of a reference or of a copy of it
    (however it was reached: a dict, an object, a fresh module), and the list it records in."""
    copies: list[types.CodeType] = []
    seen: dict[int, types.CodeType] = {}  # keeps each code alive, so its id is not reused

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if id(code) in seen:
            return
        seen[id(code)] = code
        try:
            if any(_is_copy(code, ref) for ref in ref_codes):
                copies.append(code)
        except Exception:  # noqa: BLE001 (never disturb the run being watched)
            pass

    return watch, copies


# ---------------------------------------------------------------------------------------------
# The course's checking modules cannot be patched from a notebook (nncourse.policy.FrozenModule)
# ---------------------------------------------------------------------------------------------

from nncourse.policy import freeze_module  # noqa: E402

freeze_module(__name__)

