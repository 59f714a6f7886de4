"""What graded code may do: a static check of every code cell a learner hands in.

Why a policy. The checks of a notebook run in the same Python process as the learner's code,
so code in a solution cell can, in principle, reach them: replace ``assert_close`` or
``np.allclose`` (directly, or through ``sys.modules``), register an IPython input transformer
that rewrites every check cell when ``NBGRADER_EXECUTION == "autograde"``, read the expected
answer off the checker's stack frames, or load a fresh copy of the nnlib reference. The grader
runs each submission in a sandbox (see ``autograder/``), which protects the gradebook, the
other submissions and the machine, but not the checks that share the learner's kernel. Before a
submission runs, the grader therefore reads every code cell the learner could have written (the
instructor's own cells are recognised by their exact source and skipped) and holds any cell that
reaches for the machinery below for a person to review, its score withheld from the export.
``nnlib-check`` applies the same policy, so a learner hears about it first, with the cell and the
line named.

The design is an allow-list, so that what it does not know fails closed:

- **Imports** of a short list of modules only (NumPy, Matplotlib, nnlib, the course's
  ``nncourse.testing``/``checks``/``widgets``, scikit-learn, SciPy, the data packages, the pure
  parts of the standard library: math, random, itertools, functools, collections, ...; ``sys``
  for ``sys.stderr``/``sys.version`` and nothing else). Everything else is refused: ``os``,
  ``subprocess``, ``importlib``, ``inspect``, ``gc``, ``ctypes``, ``types``, ``builtins``,
  ``threading``, ``signal``, ``pickle``, ``pathlib``, ``IPython`` and ``ipywidgets`` (the course's
  widgets come from ``nncourse.widgets``)... Names starting with ``_`` cannot be imported, and
  a module's private attributes cannot be read. A new lesson that needs another module adds it
  to :data:`ALLOWED_MODULES` (``tests/test_policy.py`` scans every lesson and says so).
- **Attributes**: a double-underscore attribute (``__code__``, ``__dict__``, ``__globals__``,
  ``__class__``, ``__builtins__``, ``__traceback__``...) only from a short list (``__name__``,
  ``__qualname__``, ``__doc__``, ``__init__``); the same for dunder names and dunder strings;
  frame and code attributes (``f_back``, ``f_locals``, ``tb_frame``, ``gi_frame``, ``co_*``) and
  attributes named after a refused module (``np.ctypeslib``, ``x.os``, ``x.sys``) never.
  ``getattr``/``setattr``/``delattr`` only with a literal name, which is then checked as if it
  were written ``x.name``; ``vars``, ``globals``, ``locals``, ``exec``, ``eval``, ``compile``,
  ``breakpoint`` and ``__import__`` never; ``str.format`` only on a literal template without
  attribute or index lookups (``"{0.__class__}".format(x)`` walks attributes).
- **Nothing the checks use may change**: no assignment to (or ``del`` of) an attribute or an
  item of anything reached from an imported name (``np.allclose = ...``,
  ``nncourse.testing.assert_close = ...``, ``setattr(np, "isclose", f)``, aliases included), no
  mutating method on an imported container, no module passed around as a value, no
  module-level rebinding of a built-in name (``isinstance = ...``) or of an imported name other
  than by the same import (``np = Fake()``), no ``from m import *``, no attribute set on
  ``type(obj)``.
- **Classes** derive from ``object``, exceptions, or nnlib's and the course's classes only (an
  ``np.ndarray`` subclass can override ``.all()`` or ``.mean()`` and fool a check), define no
  special method outside a short list (``__eq__``, ``__bool__``, ``__array_ufunc__``,
  ``__getattr__``... can make a wrong answer compare equal), have no metaclass, and are not
  built with ``type(name, bases, dict)``.
- **No files, processes or raw memory**: no ``open``, no NumPy/Matplotlib file readers or writers
  (``np.save``, ``np.load``, ``np.fromfile``, ``savefig``, ``tofile``...), no
  ``allow_pickle``, no ``n_jobs`` other than 1, no ``as_strided`` (it reads memory outside the
  array: use ``sliding_window_view``), no ``np.ndarray(buffer=...)``, no ``.ctypes``.
- **No IPython machinery**: ``get_ipython``, ``In``, ``Out``, ``_ih``, ``_oh``, ``_i1``... and no
  magics or shell escapes (``!ls``, ``%%bash``, ``%run``, ``x?``) apart from ``%matplotlib``;
  no ``display`` and no rich-display hooks (``_repr_html_``...), which would put HTML or
  scripts into the outputs an instructor opens.

Every legitimate solution and demo cell of ``solutions/`` passes (``tests/test_policy.py`` keeps
it so); a learner's honest cell that trips a rule is told which line and why, by
``nnlib-check``, before handing in.

What a determined attacker could still do. The policy reads source; it does not prove what the
code does. Known gaps, each needing an unusual, visible construction a reviewer would notice:
a module or class reached at run time through an allowed library by a route the scanner
cannot resolve statically (a function of an allowed library that returns one), then patched;
side doors in allowed libraries not listed here (for example Matplotlib settings that start
external programs when a figure is saved, which the file rules only partly close); an object of
the learner's own class returned where an array is expected, whose methods answer a check that
calls them directly (``out.all()``) rather than converting with ``np.asarray`` as
``assert_close`` and the contract checks do; text outputs crafted to look like a check's
success line (the score comes from errors, not from text); and anything the checks' own design
leaks (a visible check that prints its expected values). The grading salt sits in the kernel's
environment, and a submission that read it could replay the hidden cases and tabulate nnlib's
answers in a cell of its own (``forbid_reference`` only watches the graded function): that is
closed only because every way to read the environment (``os``, ``open``, ``np.fromfile``,
``/proc``...) is refused. The sandbox bounds the damage of anything that slips through to the
learner's own submission.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import importlib.util
import re
import string
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Finding",
    "RULES",
    "scan_notebook",
    "scan_source",
    "trusted_sources",
    "explain",
    "tampered_helpers",
    "require_genuine_helpers",
]


@dataclass(frozen=True)
class Finding:
    """One construct the policy refuses, where it is and why."""

    cell: int  # index of the cell in the notebook (0-based)
    grade_id: str | None  # nbgrader grade_id when the cell has one
    line: int  # 1-based line within the cell
    rule: str  # short rule id, e.g. "frame-inspection"
    message: str  # for the learner/instructor: cell, line, what and why


#: Rule id -> why graded work may not do it (the sentence the learner reads).
RULES: dict[str, str] = {
    "patch": "it changes or replaces something the checks rely on (a module's function, a "
    "name or setting they use), so a check could pass without testing your code",
    "builtins": "it replaces a built-in name (isinstance, len, print...) that the checks use",
    "ipython": "it reaches into the notebook's machinery (executed cells, input transformers, "
    "events), through which the checks could be read or rewritten",
    "magic": "IPython magics and shell commands run code the grader cannot inspect",
    "frame-inspection": "it reads the call stack, where the checks keep their expected answers",
    "import": "graded work may import only the course's modules (numpy, matplotlib, nnlib, "
    "nncourse's checks, testing and widgets) and the pure parts of the standard library",
    "private": "private names (starting with _) belong to the module that defines them, and "
    "the checks' internals are among them",
    "code-object": "it inspects or builds functions from compiled code, which could disguise "
    "the reference as your own work",
    "module-dict": "it reaches a namespace dictionary, through which the checks could be read "
    "or rewritten",
    "dunder": "double-underscore attributes reach Python's internals",
    "dynamic-code": "it runs or looks up code built at run time (exec, eval, compile, attribute "
    "names computed from strings), which nobody could review",
    "class": "such a class can make a wrong answer compare equal or pass a check's test",
    "process": "it starts processes, threads or signal handlers, which could outlive your "
    "notebook or interfere with the grading",
    "file-access": "graded work computes and returns its results; it does not read or write "
    "files",
    "raw-memory": "it reads memory outside an array's bounds, where the checks keep their data",
    "unsafe-load": "unpickling runs arbitrary code",
    "hidden-cases": "it reaches the hidden checks or the seeds of their cases, which are drawn "
    "for the grader alone",
}

_HOLD = ("Graded notebooks may not do this: the grader holds such a submission for a person to "
         "review. Rewrite the line without it (your function needs none of this).")

# ------------------------------------------------------------------------------------------
# The lists
# ------------------------------------------------------------------------------------------

#: Modules (and everything below them) that graded code may import.
ALLOWED_MODULES: frozenset[str] = frozenset({
    "numpy", "matplotlib", "mpl_toolkits", "nnlib", "nncourse.testing", "nncourse.checks",
    "nncourse.widgets", "threadpoolctl", "sklearn.metrics", "sklearn.model_selection",
    "sklearn.preprocessing", "sklearn.linear_model", "math", "cmath", "random", "statistics",
    "fractions", "decimal", "numbers", "itertools", "functools", "collections", "dataclasses",
    "typing", "copy", "time", "datetime", "warnings", "heapq", "bisect", "textwrap", "re",
    "pprint", "json", "sys",
    "nncourse.pretrained",  # lesson 11: its pretrained weights, read after a SHA-256 check
})
#: Below an allowed module, these are refused all the same (what they lead to, in the message).
DENIED_MODULES: dict[str, str] = {
    "numpy.ctypeslib": "raw-memory", "numpy.f2py": "process", "numpy.distutils": "process",
    "numpy.testing.extbuild": "process", "matplotlib.testing": "process",
    "nncourse.check": "process", "matplotlib.sphinxext": "dynamic-code",
}
#: ``sys`` is allowed for these attributes only (printing to stderr, versions, float limits).
SYS_ALLOWED: frozenset[str] = frozenset({
    "stderr", "stdout", "version", "version_info", "float_info", "maxsize", "byteorder",
    "platform", "getsizeof", "getrecursionlimit", "float_repr_style", "int_info",
})
#: Allowed modules of which only some names may be used: module -> (test of the name, rule).
#: threadpoolctl's controllers hold ctypes handles on the BLAS library (and through it libc);
#: numpy.testing's ``measure`` and ``rundocs`` execute strings.
_RESTRICTED: dict[str, tuple[Any, str]] = {
    "sys": (SYS_ALLOWED.__contains__, "sys"),
    "threadpoolctl": ({"threadpool_limits", "threadpool_info"}.__contains__, "raw-memory"),
    "numpy.testing": (lambda name: name.startswith("assert"), "dynamic-code"),
}
#: Refused modules by what they would be used for (the rule a refused import reports).
_MODULE_RULES: dict[str, str] = {
    **dict.fromkeys(("os", "subprocess", "multiprocessing", "signal", "threading", "_thread",
                     "concurrent", "asyncio", "pty", "socket", "select", "selectors", "resource",
                     "posix", "nt", "atexit", "sched", "webbrowser", "joblib", "loky",
                     "ipyparallel"), "process"),
    **dict.fromkeys(("importlib", "pkgutil", "runpy", "zipimport", "site", "sysconfig",
                     "imp", "modulefinder"), "import"),
    **dict.fromkeys(("inspect", "traceback", "gc", "faulthandler", "tracemalloc", "pdb", "bdb",
                     "cProfile", "profile", "logging", "linecache", "weakref"),
                    "frame-inspection"),
    **dict.fromkeys(("types", "dis", "code", "codeop", "ast", "marshal", "py_compile",
                     "compileall", "opcode"), "code-object"),
    **dict.fromkeys(("builtins", "__builtin__", "copyreg"), "builtins"),
    **dict.fromkeys(("IPython", "ipykernel", "jupyter_client", "zmq", "tornado", "nbformat",
                     "nbclient", "nbconvert", "nbgrader", "traitlets"), "ipython"),
    **dict.fromkeys(("pickle", "cPickle", "dill", "cloudpickle", "shelve", "dbm"),
                    "unsafe-load"),
    **dict.fromkeys(("io", "pathlib", "shutil", "tempfile", "glob", "fileinput", "sqlite3",
                     "zipfile", "tarfile", "gzip", "bz2", "lzma", "csv", "filecmp", "mmap"),
                    "file-access"),
    **dict.fromkeys(("ctypes", "cffi"), "raw-memory"),
    **dict.fromkeys(("string", "timeit", "doctest", "unittest", "contextvars", "operator"),
                    "dynamic-code"),
    "trace": "frame-inspection",  # the module; `.trace` (np.trace) stays an allowed attribute
}
#: Attribute names refused on anything (they lead to a refused module or to its powers).
_DENIED_ATTRS: dict[str, str] = {
    **{m: r for m, r in _MODULE_RULES.items() if not m.startswith("_") and m != "trace"},
    "sys": "frame-inspection", "ctypeslib": "raw-memory", "f2py": "process",
    "distutils": "process", "extbuild": "process", "externals": "unsafe-load",
    "environ": "process", "system": "process", "popen": "process", "fork": "process",
    "spawn": "process", "kill": "process", "getenv": "process", "putenv": "process",
    "modules": None,  # legitimate on nnlib models (net.modules()); sys.modules needs sys
    "meta_path": "import", "path_hooks": "import", "path_importer_cache": "import",
    "spec_from_file_location": "import", "module_from_spec": "import", "exec_module": "import",
    "load_module": "import", "import_module": "import", "find_spec": "import",
    "get_ipython": "ipython", "input_transformers_post": "ipython",
    "input_transformers_cleanup": "ipython", "ast_transformers": "ipython",
    "events": None,  # matplotlib and widgets have harmless .events; IPython needs get_ipython
    "settrace": "frame-inspection", "setprofile": "frame-inspection",
    "excepthook": "frame-inspection", "displayhook": "frame-inspection",
    "currentframe": "frame-inspection", "getouterframes": "frame-inspection",
    "getinnerframes": "frame-inspection", "get_objects": "frame-inspection",
    "get_referrers": "frame-inspection", "get_referents": "frame-inspection",
    # library functions that set, get or evaluate by a name or a string they are given
    "update_wrapper": "code-object", "get_type_hints": "dynamic-code",
    "ForwardRef": "dynamic-code", "sphinxext": "dynamic-code", "plot_directive": "dynamic-code",
    "make_dataclass": "class", "new_class": "class", "ABCMeta": "class", "EnumMeta": "class",
    "EnumType": "class", "DummyArray": "raw-memory", "LowLevelCallable": "raw-memory",
    "dynlib": "raw-memory",
}
_DENIED_ATTRS = {k: v for k, v in _DENIED_ATTRS.items() if v is not None}
#: Chains whose last name collides with a refused module but which are harmless.
_SAFE_CHAINS: frozenset[str] = frozenset()
_FRAME_ATTRS: frozenset[str] = frozenset({
    "f_back", "f_locals", "f_globals", "f_builtins", "f_code", "f_lasti", "f_lineno",
    "f_trace", "f_trace_lines", "f_trace_opcodes", "tb_frame", "tb_next", "tb_lasti",
    "tb_lineno", "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "cr_frame", "cr_code",
    "cr_await", "cr_origin", "ag_frame", "ag_code", "ag_await", "_getframe",
})
#: Attribute names of file readers and writers (any object): the file rule.
_FILE_ATTRS: frozenset[str] = frozenset({
    "open", "save", "savez", "savez_compressed", "savetxt", "savefig", "imsave", "tofile",
    "dump", "load", "fromfile", "loadtxt", "genfromtxt", "fromregex", "memmap", "open_memmap",
    "write_text", "write_bytes", "read_text", "read_bytes", "write", "writelines", "unlink",
    "rmdir", "rmtree", "rename", "touch", "mkdir", "makedirs", "chmod", "chown", "symlink_to",
    "hardlink_to", "truncate", "to_csv", "to_pickle", "read_csv", "read_pickle", "imread",
    "dump_svmlight_file", "load_svmlight_file", "DataSource", "chdir",
})
_RAW_ATTRS: frozenset[str] = frozenset({"as_strided", "ctypes", "ctypeslib", "from_address"})
#: Dunder attributes and names graded code may use.
_DUNDER_OK: frozenset[str] = frozenset({"__name__", "__qualname__", "__doc__", "__init__"})
_DUNDER_STRINGS_OK: frozenset[str] = _DUNDER_OK | {"__main__"}
#: Special methods a learner's class may define (none of them changes how it compares).
_DUNDER_DEFS_OK: frozenset[str] = frozenset({
    "__init__", "__repr__", "__str__", "__call__", "__len__", "__iter__", "__next__",
    "__getitem__", "__contains__", "__enter__", "__exit__", "__post_init__",
})
_DUNDER_RULES: dict[str, str] = {
    **dict.fromkeys(("__code__", "__closure__", "__func__", "__defaults__", "__kwdefaults__",
                     "__wrapped__", "__self__", "__annotations__"), "code-object"),
    **dict.fromkeys(("__dict__", "__globals__", "__builtins__", "__vars__", "__slots__",
                     "__getattribute__", "__getattr__", "__setattr__", "__delattr__",
                     "__all__"), "module-dict"),
    **dict.fromkeys(("__import__", "__loader__", "__spec__", "__path__", "__package__",
                     "__file__", "__cached__", "__module__"), "import"),
    **dict.fromkeys(("__traceback__", "__context__", "__cause__", "__frame__"),
                    "frame-inspection"),
    **dict.fromkeys(("__class__", "__mro__", "__bases__", "__base__", "__subclasses__",
                     "__new__", "__init_subclass__", "__class_getitem__", "__reduce__",
                     "__reduce_ex__"), "class"),
}
_IPYTHON_NAMES: frozenset[str] = frozenset({
    "get_ipython", "In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "__", "___", "_sh",
    "_exit_code", "display",  # display(raw mimebundle) puts HTML and scripts in the outputs
})
#: Built-in functions refused outright, with their rule.
_BANNED_BUILTINS: dict[str, str] = {
    "exec": "dynamic-code", "eval": "dynamic-code", "compile": "dynamic-code",
    "breakpoint": "frame-inspection", "globals": "module-dict", "locals": "module-dict",
    "vars": "module-dict", "__import__": "import", "memoryview": "raw-memory",
}
#: Builtins that may receive a module (they only describe it).
_MODULE_CONSUMERS: frozenset[str] = frozenset({
    "help", "dir", "print", "repr", "str", "type", "isinstance", "hasattr", "id", "display",
})
_MUTATORS: frozenset[str] = frozenset({
    "append", "extend", "insert", "update", "clear", "pop", "popitem", "setdefault", "remove",
    "discard", "add", "sort", "reverse", "__setitem__", "__delitem__",
})
_BUILTIN_NAMES: frozenset[str] = frozenset(n for n in dir(builtins) if not n.startswith("_"))
_EXCEPTION_NAMES: frozenset[str] = frozenset(
    n for n in _BUILTIN_NAMES
    if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)
)
#: Where a learner's class may take its bases from (besides object and exceptions).
_CLASS_BASE_MODULES: tuple[str, ...] = ("nnlib", "nncourse", "typing")


def _module_rule(dotted: str) -> str | None:
    """None when graded code may import ``dotted``, else the rule refusing it."""
    parts = dotted.split(".")
    if any(p.startswith("_") for p in parts):
        return "private"
    for denied, rule in DENIED_MODULES.items():
        if dotted == denied or dotted.startswith(denied + "."):
            return rule
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in ALLOWED_MODULES:
            if parts[0] == "sys" and len(parts) > 1:
                return _sys_rule(parts[1])
            return None
    return _MODULE_RULES.get(parts[0], "import")


def _sys_rule(attr: str) -> str:
    """The rule of a refused attribute of ``sys``."""
    if attr in ("_getframe", "settrace", "setprofile", "gettrace", "getprofile", "exc_info",
                "exception", "last_traceback", "last_value", "excepthook", "displayhook",
                "_current_frames", "audit", "addaudithook"):
        return "frame-inspection"
    if attr in ("exit",):
        return "process"
    if attr.startswith("_"):
        return "private"
    return "import"  # sys.modules, sys.path, sys.meta_path and the rest of the machinery


def _hidden_member(name: str) -> bool:
    return name == "hidden_seed" or name.endswith("_hidden") or "HIDDEN_SALT" in name


def _restricted_rule(dotted: str) -> str | None:
    """The rule refusing ``dotted`` when it names a refused member of a restricted module."""
    if dotted.startswith("nncourse.") and any(_hidden_member(p) for p in dotted.split(".")):
        return "hidden-cases"  # the hidden checks and their seeds run for the grader only
    for module, (allowed, rule) in _RESTRICTED.items():
        if dotted.startswith(module + "."):
            name = dotted[len(module) + 1:].split(".")[0]
            if not allowed(name):
                return _sys_rule(name) if rule == "sys" else rule
    return None


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _dunder_rule(name: str) -> str:
    return _DUNDER_RULES.get(name, "dunder")


def _ipython_name(name: str) -> bool:
    if name in _IPYTHON_NAMES:
        return True
    return (name.startswith("_i") and name[2:].isdigit()) or (
        name.startswith("_") and name[1:].isdigit()
    )


# ------------------------------------------------------------------------------------------
# Resolving imported names (in the scanner's own process, never in the learner's kernel)
# ------------------------------------------------------------------------------------------

_MISSING = object()


@functools.lru_cache(maxsize=4096)
def _resolve(dotted: str) -> Any:
    """The object ``dotted`` names in an allowed module, imported here; _MISSING if unknown.

    Only modules of the allow-list are imported: they are installed packages the course
    trusts, and importing them in the grader runs none of the learner's code.
    """
    if _module_rule(dotted) is not None and dotted.split(".")[0] != "sys":
        return _MISSING
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(name)
        except Exception:  # noqa: BLE001 (not a module, or not installed)
            continue
        for attr in parts[i:]:
            try:
                obj = getattr(obj, attr)
            except Exception:  # noqa: BLE001
                return _MISSING
        return obj
    return _MISSING


def _is_module(dotted: str) -> bool:
    return isinstance(_resolve(dotted), types.ModuleType)


# ------------------------------------------------------------------------------------------
# The scanner
# ------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the notebook's cells import, shared by the scans of its cells."""

    imports: dict[str, str]  # name bound by a module-level import -> dotted target
    # names bound by an import anywhere (functions included), or assigned a chain rooted at
    # one (an alias) or a class (``type(obj)``) -> dotted target when known
    protected: dict[str, str | None]
    classes: set[str]  # classes defined by scanned cells (allowed as bases later)


@dataclass(frozen=True)
class _Raw:
    line: int
    rule: str
    what: str


def _snippet(node: ast.AST, limit: int = 70) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001
        return type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None when the root is not a plain name."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attrs[::-1]
    return None


def _root_name(node: ast.AST) -> str | None:
    """The name at the root of a chain of attributes, items and calls (``a.b[0].c`` -> a)."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call | ast.Starred):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.found: list[_Raw] = []
        # scope stack: ("function", declared globals) / ("class", None) / ("comp", None)
        self.scopes: list[tuple[str, set[str] | None]] = []
        self.parents: dict[int, ast.AST] = {}
        self.skip: set[int] = set()
        self.docstrings: set[int] = set()

    # -- helpers ---------------------------------------------------------------------------

    def flag(self, node: ast.AST, rule: str, what: str) -> None:
        self.found.append(_Raw(getattr(node, "lineno", 1), rule, what))

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def prepare(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
            body = getattr(node, "body", None)
            if (
                isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and body
                and isinstance(body[0], ast.Expr)
                and _literal_str(body[0].value) is not None
            ):
                self.docstrings.add(id(body[0].value))

    def protected(self, name: str) -> bool:
        return name in self.ctx.protected

    def dotted(self, root: str, attrs: list[str]) -> str | None:
        target = self.ctx.protected.get(root)
        return ".".join([target, *attrs]) if target else None

    def at_module_level(self, name: str) -> bool:
        """Whether binding ``name`` here binds it in the notebook's global namespace."""
        for kind, declared in reversed(self.scopes):
            if kind == "comp":
                return False
            if kind == "class":
                return False
            return name in (declared or set())
        return True

    def module_binding(self, node: ast.AST, name: str, import_target: str | None = None) -> None:
        if not self.at_module_level(name):
            return
        if name in _BUILTIN_NAMES:
            self.flag(node, "builtins", f"`{name}` is rebound (it is a built-in name the checks "
                      "use): choose another name")
            return
        if name in self.ctx.imports and import_target != self.ctx.imports[name]:
            target = self.ctx.imports[name]
            self.flag(node, "patch", f"`{name}` is rebound, but it names `{target}`, which the "
                      "checks use: choose another name")

    # -- names -----------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if id(node) in self.skip:
            return
        name, parent = node.id, self.parent(node)
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.module_binding(node, name)
        if _ipython_name(name):
            self.flag(node, "ipython", f"`{name}` is IPython's own")
        elif _dunder(name) and name not in _DUNDER_OK and name != "__debug__":
            rule = _BANNED_BUILTINS.get(name) or _dunder_rule(name)
            self.flag(node, "builtins" if name == "__builtins__" else rule, f"`{name}`")
        elif name in _BANNED_BUILTINS and isinstance(node.ctx, ast.Load):
            if not (name == "globals" and self.membership_test(node)):
                self.flag(node, _BANNED_BUILTINS[name], f"`{name}`")
        elif name in ("getattr", "setattr", "delattr", "type", "open") and isinstance(
            node.ctx, ast.Load
        ):
            if not (isinstance(parent, ast.Call) and parent.func is node):
                rule = {"open": "file-access", "type": "class"}.get(name, "dynamic-code")
                self.flag(node, rule, f"`{name}` is used as a value")
        if isinstance(node.ctx, ast.Load) and self.protected(name):
            self.module_as_value(node, name, [])

    def membership_test(self, node: ast.Name) -> bool:
        """``"name" in globals()``: whether a variable exists, which reveals nothing else."""
        call = self.parent(node)
        if not (isinstance(call, ast.Call) and call.func is node and not call.args
                and not call.keywords):
            return False
        test = self.parent(call)
        return (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.In | ast.NotIn)
            and test.comparators[0] is call
            and _literal_str(test.left) is not None
        )

    def module_as_value(self, node: ast.AST, root: str, attrs: list[str]) -> None:
        """A module handed around as a value can be patched out of the policy's sight."""
        parent = self.parent(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        if isinstance(parent, ast.Call) and parent.func is node:
            return
        if isinstance(parent, ast.Expr):
            return  # displayed
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and (
            parent.func.id in _MODULE_CONSUMERS
        ):
            return
        if isinstance(parent, ast.Assign) and parent.value is node and all(
            isinstance(t, ast.Name) for t in parent.targets
        ):
            return  # an alias: remembered and protected (see _collect_aliases)
        dotted = self.dotted(root, attrs)
        if dotted is not None and _is_module(dotted):
            self.flag(node, "patch", f"the module `{_snippet(node)}` is passed around as a value "
                      "(use its functions instead)")

    # -- attributes ------------------------------------------------------------------------

    def check_attr_name(self, node: ast.AST, base: ast.AST, attr: str) -> None:
        """Rules on the attribute name itself (also used for getattr's literal names)."""
        chain = _chain(base)
        dotted = self.dotted(chain[0], [*chain[1], attr]) if chain else None
        if _dunder(attr):
            if attr not in _DUNDER_OK:
                self.flag(node, _dunder_rule(attr), f"`.{attr}`")
            return
        if attr.startswith("_"):
            if not (isinstance(base, ast.Name) and base.id in ("self", "cls")):
                rule = "frame-inspection" if attr == "_getframe" else "private"
                self.flag(node, rule, f"`.{attr}`")
            return
        if attr in _FRAME_ATTRS:
            self.flag(node, "frame-inspection", f"`.{attr}`")
        elif attr.startswith("co_"):
            self.flag(node, "code-object", f"`.{attr}`")
        elif attr in _RAW_ATTRS:
            self.flag(node, "raw-memory", f"`.{attr}`" + (
                " (np.lib.stride_tricks.sliding_window_view is the safe way to build windows)"
                if attr == "as_strided" else ""))
        elif attr in _DENIED_ATTRS and not (dotted and dotted in _SAFE_CHAINS):
            self.flag(node, _DENIED_ATTRS[attr], f"`.{attr}`")
        elif attr in _FILE_ATTRS:
            if attr == "open" and isinstance(self.parent(node), ast.Call):
                return  # checked with its mode in visit_Call
            if dotted in ("sys.stderr.write", "sys.stdout.write"):
                return
            self.flag(node, "file-access", f"`.{attr}`")
        elif dotted is not None:
            rule = _restricted_rule(dotted)
            # reported once, at the name right after the module (sys.modules, not its .get)
            if rule is not None and _restricted_rule(dotted.rsplit(".", 1)[0]) is None:
                self.flag(node, rule, f"`{dotted}` (of this module, graded work may use only "
                          "a few names, such as sys.stderr or np.testing.assert_allclose)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) in self.skip:
            return
        self.check_attr_name(node, node.value, node.attr)
        if node.attr in ("format", "format_map"):
            self.check_format(node)
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.check_store(node, node.value, f"`{_snippet(node)}`")
        chain = _chain(node)
        if chain and isinstance(node.ctx, ast.Load) and self.protected(chain[0]):
            parent = self.parent(node)
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                self.module_as_value(node, chain[0], chain[1])
        self.generic_visit(node)

    def check_store(self, node: ast.AST, obj: ast.AST, what: str) -> None:
        """An attribute or item of ``obj`` is assigned or deleted."""
        root = _root_name(obj)
        if isinstance(obj, ast.Call) and isinstance(obj.func, ast.Name) and obj.func.id == "type":
            self.flag(node, "patch", f"{what} changes a class for every object of it")
        elif root is not None and self.protected(root):
            chain = _chain(obj)
            if chain is not None and isinstance(node, ast.Subscript):
                dotted = self.dotted(chain[0], chain[1])
                if dotted and type(_resolve(dotted)).__name__ == "RcParams":
                    return  # plt.rcParams["..."] = ...: Matplotlib's settings
            self.flag(node, "patch", f"{what} changes something imported")

    def check_format(self, node: ast.Attribute) -> None:
        parent = self.parent(node)
        template = _literal_str(node.value)
        if template is None or not (isinstance(parent, ast.Call) and parent.func is node):
            self.flag(node, "dynamic-code", f"`.{node.attr}` on a template that is not a literal "
                      "string (use an f-string)")
            return
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        except ValueError:
            return  # the call fails at run time
        for field in fields:
            if "." in field or "[" in field:
                self.flag(node, "dynamic-code", f"the format field `{{{field}}}` looks up "
                          "attributes or items (use an f-string)")
                return

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.check_store(node, node.value, f"`{_snippet(node)}`")
        self.generic_visit(node)

    # -- calls -----------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if id(node) in self.skip:
            return
        func = node.func
        fname = func.id if isinstance(func, ast.Name) else None
        if fname == "hasattr" and len(node.args) >= 2:
            self.skip.add(id(node.args[1]))  # a yes/no answer reveals nothing: any name will do
        elif fname in ("getattr", "setattr", "delattr"):
            name = _literal_str(node.args[1]) if len(node.args) >= 2 else None
            if name is None:
                self.flag(node, "dynamic-code", f"`{fname}` with a name that is not a literal "
                          "string")
            elif name in ("format", "format_map"):
                self.flag(node, "dynamic-code", f"`{fname}` of `{name}` (call it directly on a "
                          "literal template, or use an f-string)")
            elif node.args:
                self.check_attr_name(node, node.args[0], name)
                if fname in ("setattr", "delattr"):
                    self.check_store(node, node.args[0], f"`{_snippet(node)}`")
        elif fname == "type" and len(node.args) == 3:
            self.flag(node, "class", "`type(name, bases, namespace)` builds a class")
        elif (isinstance(func, ast.Call) and isinstance(func.func, ast.Name)
              and func.func.id == "type"):
            self.flag(node, "class", "`type(obj)(...)` calls the class of an object, which for a "
                      "class is `type` itself")
        if (isinstance(func, ast.Attribute | ast.Name)
                and (func.attr if isinstance(func, ast.Attribute) else func.id) == "wraps"
                and (len(node.args) > 1 or node.keywords)):
            self.flag(node, "code-object", "`wraps` with the attributes to copy")
        if fname == "open" or (isinstance(func, ast.Attribute) and func.attr == "open"):
            self.flag(node, "file-access", f"`{_snippet(node)}`")
        for kw in node.keywords:
            if kw.arg == "allow_pickle" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                self.flag(kw.value, "unsafe-load", "`allow_pickle`")
            elif kw.arg == "weights_only" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is True
            ):
                self.flag(kw.value, "unsafe-load", "`weights_only`")
            elif kw.arg == "n_jobs" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value in (None, 1)
            ):
                self.flag(kw.value, "process", "`n_jobs` (worker processes)")
            elif kw.arg is None:
                pass  # **kwargs: their keys are checked where the dict is built, if literal
        self.check_ndarray_buffer(node)
        self.check_mutator(node)
        self.generic_visit(node)

    def check_ndarray_buffer(self, node: ast.Call) -> None:
        func = node.func
        chain = _chain(func)
        if chain is None:
            return
        dotted = self.dotted(chain[0], chain[1])
        is_ndarray = (chain[1] or [chain[0]])[-1] == "ndarray" or dotted == "numpy.ndarray"
        if is_ndarray and (
            len(node.args) >= 3
            or any(kw.arg in ("buffer", "offset", "strides") for kw in node.keywords)
        ):
            self.flag(node, "raw-memory", "`np.ndarray(..., buffer=...)` views raw memory")

    def check_mutator(self, node: ast.Call) -> None:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in _MUTATORS):
            return
        chain = _chain(func.value)
        if chain is None or not self.protected(chain[0]):
            return
        dotted = self.dotted(chain[0], chain[1])
        obj = _resolve(dotted) if dotted else _MISSING
        if isinstance(obj, types.ModuleType) or type(obj).__name__ == "RcParams":
            return  # np.append, np.random.shuffle...: functions; rcParams.update: settings
        if isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType):
            return
        self.flag(node, "patch", f"`{_snippet(node)}` changes something imported")

    # -- imports ---------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            rule = _module_rule(alias.name)
            if rule is not None:
                self.flag(node, rule, f"`import {alias.name}`")
            bound = alias.asname or alias.name.split(".")[0]
            target = alias.name if alias.asname else alias.name.split(".")[0]
            self.module_binding(node, bound, target)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.flag(node, "import", f"the relative import `from {'.' * node.level}{module}`")
            return
        rule = _module_rule(module)
        if rule is not None:
            self.flag(node, rule, f"`from {module} import ...`")
            return
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, "patch", f"`from {module} import *` rebinds names the checks use "
                          "(import the names you need)")
                continue
            full = f"{module}.{alias.name}"
            sub_rule = _module_rule(full)
            if alias.name.startswith("_") or sub_rule == "private":
                self.flag(node, "private", f"`{alias.name}` from `{module}`")
            elif sub_rule is not None:
                self.flag(node, sub_rule, f"`{full}`")
            elif _restricted_rule(full) is not None:
                self.flag(node, _restricted_rule(full) or "import", f"`{full}`")
            elif alias.name in _DENIED_ATTRS and full not in _SAFE_CHAINS:
                self.flag(node, _DENIED_ATTRS[alias.name], f"`{full}`")
            elif alias.name in _RAW_ATTRS:
                self.flag(node, "raw-memory", f"`{full}`")
            elif alias.name in _FILE_ATTRS:
                self.flag(node, "file-access", f"`{full}`")
            self.module_binding(node, alias.asname or alias.name, full)

    # -- definitions -----------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        declared: set[str] = set()
        if not isinstance(node, ast.Lambda):
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.Global):
                    declared.update(stmt.names)
            for deco in node.decorator_list:
                self.visit(deco)
            if node.returns is not None:
                self.visit(node.returns)
        self.visit(node.args)
        self.scopes.append(("function", declared))
        try:
            body = node.body if isinstance(node.body, list) else [node.body]
            for stmt in body:
                self.visit(stmt)
        finally:
            self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        in_class = bool(self.scopes) and self.scopes[-1][0] == "class"
        if node.name.startswith(("_repr_", "_ipython_")):
            self.flag(node, "ipython", f"`def {node.name}` (IPython's rich display hook: it "
                      "puts HTML or scripts in the notebook's outputs)")
        elif _dunder(node.name) and not (in_class and node.name in _DUNDER_DEFS_OK):
            self.flag(node, "class", f"`def {node.name}` (a special method that changes how "
                      "objects behave)")
        self.module_binding(node, node.name)
        self._function(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            if not self.allowed_base(base):
                self.flag(base, "class", f"a class derived from `{_snippet(base)}` (derive from "
                          "object, or from an nnlib class)")
            self.visit(base)
        for kw in node.keywords:
            self.flag(kw.value, "class", f"`{kw.arg}=` in a class statement")
        for deco in node.decorator_list:
            self.visit(deco)
        self.module_binding(node, node.name)
        self.ctx.classes.add(node.name)
        self.scopes.append(("class", None))
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self.scopes.pop()

    def allowed_base(self, base: ast.AST) -> bool:
        if isinstance(base, ast.Name):
            if base.id == "object" or base.id in _EXCEPTION_NAMES or base.id in self.ctx.classes:
                return True
        chain = _chain(base)
        if chain is None:
            return False
        dotted = self.dotted(chain[0], chain[1])
        if dotted is None:
            return False
        if not dotted.startswith(_CLASS_BASE_MODULES):
            return False
        obj = _resolve(dotted)
        if not isinstance(obj, type):
            return dotted.startswith("typing.")  # typing.NamedTuple is a function
        return not any(
            getattr(k, "__module__", "").split(".")[0] in ("numpy", "builtins") and k is not object
            and not issubclass(k, BaseException)
            for k in obj.__mro__
        )

    def visit_ListComp(self, node: ast.AST) -> None:
        self.scopes.append(("comp", None))
        try:
            self.generic_visit(node)
        finally:
            self.scopes.pop()

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        # the target binds in the enclosing function (or module), past comprehensions
        comps = []
        while self.scopes and self.scopes[-1][0] == "comp":
            comps.append(self.scopes.pop())
        try:
            self.visit(node.target)
        finally:
            self.scopes.extend(reversed(comps))
        self.visit(node.value)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.module_binding(node, node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.module_binding(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.module_binding(node, node.name)

    def visit_Constant(self, node: ast.Constant) -> None:
        if id(node) in self.skip:
            return
        if (
            isinstance(node.value, str)
            and id(node) not in self.docstrings
            and _dunder(node.value)
            and node.value not in _DUNDER_STRINGS_OK
        ):
            self.flag(node, _dunder_rule(node.value), f"the string {node.value!r}")


# ------------------------------------------------------------------------------------------
# Parsing a cell as IPython does
# ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _transformer() -> Any:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # noqa: BLE001 (IPython missing: plain Python)
        return None
    return TransformerManager()


@functools.lru_cache(maxsize=2048)
def _parse(source: str) -> tuple[ast.Module | None, tuple[_Raw, ...], frozenset[int]]:
    """The cell's syntax tree as the kernel compiles it, magics found, nodes already reported.

    Valid Python is compiled as it is (IPython's transforms only rewrite what is not Python:
    magics, shell escapes, help, prompts); anything else goes through IPython's transformer
    first, as in the kernel. The tree is shared between callers and never modified.
    """
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        tree = compile(source, "<cell>", "exec", flags=flags, dont_inherit=True)
        return tree, (), frozenset()
    except (SyntaxError, ValueError):
        pass
    manager = _transformer()
    code = source
    if manager is not None:
        try:
            code = manager.transform_cell(source)
        except Exception:  # noqa: BLE001 (IPython cannot transform it: neither can the kernel)
            code = source
    try:
        tree = compile(code, "<cell>", "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None, (), frozenset()  # the kernel reports a SyntaxError and runs nothing
    magics: list[_Raw] = []
    skip: set[int] = set()
    raw_lines = source.splitlines()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "get_ipython"
        ):
            continue
        line = node.lineno
        raw = raw_lines[line - 1] if line - 1 < len(raw_lines) else ""
        if "get_ipython" in raw:
            continue  # written by hand: the ipython rule reports it
        skip.update(id(n) for n in ast.walk(node))  # reported once, as the magic it is
        first = _literal_str(node.args[0]) if node.args else None
        if node.func.attr == "run_line_magic" and first == "matplotlib":
            continue
        shown = raw.strip() or _snippet(node)
        magics.append(_Raw(line, "magic", f"`{shown[:60]}`"))
    return tree, tuple(magics), frozenset(skip)


def _scan_tree(source: str, ctx: _Context) -> list[_Raw]:
    tree, magics, skip = _parse(source)
    if tree is None:
        return []
    found = list(magics)
    scanner = _Scanner(ctx)
    scanner.skip = set(skip)
    scanner.prepare(tree)
    scanner.visit(tree)
    found += scanner.found
    return sorted(found, key=lambda r: r.line)


def _collect_aliases(sources: Iterable[str], ctx: _Context) -> None:
    """Protect every name assigned a chain rooted at a protected name (``m = np``,
    ``t = np.testing``) or a class (``cls = type(obj)``), anywhere in ``sources`` and in any
    order of definition, so that ``m.allclose = f`` is seen as the patch it is."""
    assigns: list[ast.Assign] = []
    for source in sources:
        tree, _, _ = _parse(source)
        if tree is not None:
            assigns += [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
    changed = True
    while changed:
        changed = False
        for node in assigns:
            value = node.value
            target: str | None
            if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                    and value.func.id == "type" and len(value.args) == 1):
                known, target = True, None
            else:
                chain = _chain(value)
                known = chain is not None and chain[0] in ctx.protected
                root = ctx.protected.get(chain[0]) if chain is not None and known else None
                target = ".".join([root, *chain[1]]) if chain is not None and root else None
            if not known:
                continue
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id not in ctx.protected:
                    ctx.protected[t.id] = target
                    changed = True


def _imports_of(source: str, everywhere: bool = False) -> Iterator[tuple[str, str]]:
    """(bound name, dotted target) for each module-level import of a cell (``everywhere``:
    each import, in functions too)."""
    tree, _, _ = _parse(source)
    if tree is None:
        return
    for node in (ast.walk(tree) if everywhere else tree.body):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    yield a.asname, a.name
                else:
                    yield a.name.split(".")[0], a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for a in node.names:
                if a.name != "*":
                    yield a.asname or a.name, f"{node.module}.{a.name}"


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------


def explain(rule: str, what: str, where: str, line: int) -> str:
    """The message of a finding: where, what, and why it is not allowed."""
    return f"{where}, line {line}: {what}. Not allowed because {RULES[rule]}. {_HOLD}"


def scan_source(
    source: str, *, cell: int = 0, grade_id: str | None = None, where: str | None = None
) -> list[Finding]:
    """The policy's findings for one cell's source, on its own (no other cell's imports)."""
    ctx = _Context(dict(_imports_of(source)), dict(_imports_of(source, everywhere=True)), set())
    _collect_aliases([source], ctx)
    where = where or (f"cell [{grade_id}]" if grade_id else "the cell")
    return [
        Finding(cell, grade_id, r.line, r.rule, explain(r.rule, r.what, where, r.line))
        for r in _scan_tree(source, ctx)
    ]


def _strip_hidden(source: str) -> str:
    import re

    return re.sub(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", "", source,
                  flags=re.S)


#: The note nbgrader puts before a test cell it adds back to a submission that deleted it
#: (OverwriteCells.missing_cell_notification, commented out in a code cell).
_RESTORED = re.compile(r"\A# This cell \(id:[^)\n]*\) was missing from the submission\. "
                       r"It was added back by nbgrader\.\n\n")


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


@functools.lru_cache(maxsize=4)
def _repository_trusted(root: str) -> frozenset[str]:
    import nbformat

    sources: set[str] = set()
    for folder in ("solutions", "course"):
        for path in sorted(Path(root, folder).glob("*/*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # noqa: BLE001 (a broken notebook trusts nothing)
                continue
            sources.update(trusted_sources(nb))
    return frozenset(sources)


def trusted_sources(nb: Any) -> set[str]:
    """The instructor's code cells of ``nb`` (a source or release notebook), as the policy
    compares them: every code cell that is not a solution cell, with and without its hidden
    tests. A submitted cell whose source is one of these is the instructor's and is not
    scanned (nbgrader restores test cells from the gradebook anyway)."""
    out: set[str] = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        out.add(_normal(cell.get("source", "")))
        out.add(_normal(_strip_hidden(cell.get("source", ""))))
    out.discard("")
    return out


def _default_trusted() -> frozenset[str]:
    root = Path(__file__).resolve().parent.parent
    if not (root / "solutions").is_dir():
        return frozenset()  # installed without the course: scan every cell (fails closed)
    return _repository_trusted(str(root))


def _where(index: int, cell: Any) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    first = next((ln.strip() for ln in cell.get("source", "").splitlines() if ln.strip()), "")
    if len(first) > 50:
        first = first[:49] + "…"
    label = f'[{grade_id}] ' if grade_id else ""
    return f"cell {index + 1} {label}(starting `{first}`)"


def scan_notebook(nb: Any, trusted: Iterable[str] | None = None) -> list[Finding]:
    """The policy's findings for every code cell of ``nb`` that the instructor did not write.

    ``trusted`` are the instructor's cell sources (see :func:`trusted_sources`); by default,
    those of every notebook in this repository's ``solutions/`` and ``course/``. Imports of
    every cell, trusted or not, count as imports (``np`` from the setup cell is protected in
    the cells that follow). Cell numbers in messages count from 1, as a reader counts;
    :attr:`Finding.cell` is the 0-based index.
    """
    trusted_set = {_normal(s) for s in trusted} if trusted is not None else _default_trusted()
    cells = list(nb.get("cells", []))
    sources = [c.get("source", "") for c in cells if c.get("cell_type") == "code"]
    imports: dict[str, str] = {}
    protected: dict[str, str | None] = {}
    for source in sources:
        for name, target in _imports_of(source):
            imports.setdefault(name, target)
        for name, target in _imports_of(source, everywhere=True):
            protected.setdefault(name, target)
    ctx = _Context(imports, protected, set())
    _collect_aliases(sources, ctx)
    findings: list[Finding] = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if _normal(source) in trusted_set or _normal(_RESTORED.sub("", source)) in trusted_set:
            continue  # the instructor's cell (or one nbgrader added back, with its note)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        where = _where(index, cell)
        for r in _scan_tree(source, ctx):
            findings.append(Finding(index, grade_id, r.line, r.rule,
                                    explain(r.rule, r.what, where, r.line)))
    return findings


# ------------------------------------------------------------------------------------------
# Defence in depth inside the kernel: are the grading helpers the genuine ones?
# ------------------------------------------------------------------------------------------

#: Functions the checks rely on, by module, verified before each check runs.
_GUARDED: dict[str, tuple[str, ...]] = {
    "numpy": ("allclose", "isclose", "array_equal", "array_equiv", "asarray", "all", "any",
              "isfinite", "isnan", "argwhere", "shape", "issubdtype"),
    "numpy.testing": ("assert_allclose", "assert_array_equal", "assert_equal"),
    "nncourse.testing": ("assert_close", "check_against_reference", "forbid_reference",
                         "hidden_seed", "explain_exception", "_as_numeric", "_same",
                         "_shape_message", "_static_use", "_is_ref", "_snapshot"),
    "nncourse.checks._contract": ("exercise_check", "call", "expect_arity", "expect_array",
                                  "expect_unchanged", "expect_keys"),
    "builtins": ("isinstance", "len", "print", "getattr", "hasattr", "callable", "repr", "abs",
                 "all", "any", "issubclass", "id"),
}


def _home(top: str) -> str | None:
    """Where the package ``top`` lives, found by the import system's finders (the path finder,
    then the others on ``sys.meta_path``, such as an editable install's), never by looking at
    ``sys.modules``, which a notebook could have changed."""
    from importlib.machinery import PathFinder

    if top == "nncourse":
        return str(Path(__file__).parent) + "/"  # this very package
    finders = [PathFinder, *(f for f in sys.meta_path if f is not PathFinder)]
    for finder in finders:
        try:
            spec = finder.find_spec(top, None)
        except Exception:  # noqa: BLE001 (a finder that cannot answer)
            continue
        if spec is not None and spec.submodule_search_locations:
            return str(Path(list(spec.submodule_search_locations)[0])) + "/"
    return None


#: Computed when the policy is imported, so that the check below calls no library code.
_HOMES: dict[str, str | None] = {top: _home(top) for top in ("numpy", "nncourse")}
_FUNCTION = types.FunctionType
_BUILTIN = types.BuiltinFunctionType
_MODULE = types.ModuleType


def _genuine(obj: Any, name: str, home: str | None) -> bool:
    # Only attribute lookups and comparisons: the built-in functions may be the fakes.
    cls = obj.__class__
    if cls.__name__ == "_ArrayFunctionDispatcher" and cls.__module__ == "numpy":
        obj = obj._implementation
        cls = obj.__class__
    if cls is _FUNCTION:
        code = obj.__code__
        return (home is not None and code.co_filename.startswith(home)
                and code.co_name == name and obj.__name__ == name)
    if cls is _BUILTIN or (cls.__name__ == "ufunc" and cls.__module__ == "numpy"):
        return obj.__name__ == name
    return False


class FrozenModule(types.ModuleType):
    """A module whose attributes cannot be set or deleted from outside once it is frozen.

    The checks a check cell calls (``checks.one_hot(one_hot)``) are attributes of a lesson's
    checks module; a notebook that replaced one (``module.one_hot = print``, through any alias
    the policy scan might miss) would turn the check cell into a no-op. Code inside the module
    still defines its names (a module body writes its globals directly, not through setattr),
    and the import system may still bind a submodule on its package.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}"
                or (name.startswith("__") and name.endswith("__"))):
            # the import system binding a submodule, or setting __spec__ and the like (reload);
            # a notebook cannot reach dunders (the policy refuses them)
            super().__setattr__(name, value)
            return
        raise AttributeError(
            f"{self.__name__}.{name} belongs to the course's checks and cannot be replaced")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(
            f"{self.__name__}.{name} belongs to the course's checks and cannot be deleted")


def freeze_module(name: str) -> None:
    """Make ``sys.modules[name]`` a :class:`FrozenModule` (idempotent)."""
    module = sys.modules.get(name)
    if module is not None and type(module) is types.ModuleType:
        module.__class__ = FrozenModule


def tampered_helpers() -> list[str]:
    """Names of grading helpers that are not the genuine ones in this process (cheap).

    A genuine Python function was compiled from a file of its own package (found on sys.path
    when this module was imported, not through ``sys.modules``) and carries its own name; a
    genuine C function is a builtin or a ufunc of that name. A replacement defined in a
    notebook, a sibling swapped in, or a ``__code__`` swap is not. It calls no built-in
    function, since those may be the ones replaced. Defence in depth: the policy refuses every
    way of doing any of this, and the sandbox confines what slips through.
    """
    problems: list[str] = []
    for modname, names in _GUARDED.items():
        module = sys.modules.get(modname)
        if module is None:
            continue
        if module.__class__ is not _MODULE and module.__class__ is not FrozenModule:
            problems.append(modname)
            continue
        home = None if modname == "builtins" else _HOMES.get(modname.split(".")[0])
        if home is not None and not (module.__dict__.get("__file__") or "").startswith(home):
            problems.append(f"{modname} (not loaded from its package)")
            continue
        for name in names:
            obj = module.__dict__.get(name)
            if obj is not None and not _genuine(obj, name, home):
                problems.append(f"{modname}.{name}")
    return problems


def require_genuine_helpers() -> None:
    """Raise :class:`~nncourse.testing.GradingError` when a grading helper was replaced.

    Called by every lesson check before it runs (``exercise_check``): a notebook that replaced
    ``np.allclose`` or ``assert_close`` scores what blank work scores on every check after it.
    """
    __tracebackhide__ = True
    try:
        problems = tampered_helpers()
    except Exception:  # noqa: BLE001 (a replaced builtin broke the inspection itself)
        problems = ["(the helpers could not even be inspected)"]
    if problems:
        from nncourse.testing import GradingError

        raise GradingError(
            "The grading helpers were changed in this notebook (" + ", ".join(problems[:4])
            + "), so this check cannot run and scores 0. Restart the kernel and run the "
            "notebook again without the cell that replaces them."
        )


freeze_module(__name__)
