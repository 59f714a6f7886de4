"""The policy for graded code: every attack of issue 10 is refused with the right rule, every
solution and demo cell of the course passes, and the messages name the cell and the line."""

from __future__ import annotations

import textwrap

import nbformat
import pytest

from nbtools import SOLUTIONS, assignments, is_solution, is_test, read, release_path, source_path
from nncourse import policy
from nncourse.policy import RULES, Finding, scan_notebook, scan_source, trusted_sources

SETUP = "import numpy as np\nimport matplotlib.pyplot as plt\nimport nnlib\n"


def rules(src: str) -> set[str]:
    src = textwrap.dedent(src)
    if not src.startswith("%%"):  # a cell magic must open its cell
        src = SETUP + src
    return {f.rule for f in scan_source(src)}


# (snippet, the rule it must trip). Each is a line or three that an attacker would write.
ATTACKS: list[tuple[str, str]] = [
    # the hidden checks and the seeds of their cases are the grader's (a table of answers
    # built from hidden_seed scored full marks)
    ("from nncourse.testing import hidden_seed\nseed = hidden_seed('getting_started/one_hot')",
     "hidden-cases"),
    ("import nncourse.testing as t\nseed = t.hidden_seed('x')", "hidden-cases"),
    ("from nncourse.checks import getting_started as c\nc.one_hot_hidden(one_hot)",
     "hidden-cases"),
    # -- replacing the grading helpers, directly or through sys.modules -----------------------
    ("import nncourse.testing\nnncourse.testing.assert_close = lambda *a, **k: None", "patch"),
    ("from nncourse import testing\ntesting.assert_close = print", "patch"),
    ("np.allclose = lambda *a, **k: True", "patch"),
    ("np.testing.assert_allclose = print", "patch"),
    ("setattr(np, 'isclose', lambda *a, **k: True)", "patch"),
    ("delattr(np, 'isclose')", "patch"),
    ("m = np\nm.allclose = print", "patch"),
    ("t = np.testing\nt.assert_allclose = print", "patch"),
    ("def f(m):\n    m.allclose = print\nf(np)", "patch"),
    ("[np][0].allclose = print", "patch"),
    ("from nncourse.checks import optimizers as checks\nchecks.adagrad = print", "patch"),
    ("from nncourse.testing import CASE_KINDS\nimport nncourse.testing as T\nT.CASE_KINDS = ()",
     "patch"),
    ("np = None", "patch"),
    ("def np(): pass", "patch"),
    ("from nncourse.testing import assert_close\nassert_close = print", "patch"),
    ("from numpy import *", "patch"),
    ("import sys\nsys.modules['nncourse.testing'] = None", "import"),
    ("import sys\nsys.modules['numpy'].allclose = print", "import"),
    ("import warnings\nwarnings.showwarning = print", "patch"),
    ("type(nnlib.Linear(2, 2, rng=None)).forward = print", "patch"),
    ("cls = type(nnlib.Linear(2, 2, rng=None))\ncls.forward = print", "patch"),
    ("def f():\n    import numpy as n\n    n.allclose = print\nf()", "patch"),
    ("def f():\n    return m\nm = np\nf().allclose = print", "patch"),
    ("def f():\n    m.allclose = print\nm = np.testing", "patch"),
    ("from nnlib.surfaces import SURFACES\nSURFACES.clear()", "patch"),
    ("from nnlib.surfaces import SURFACES\nSURFACES['bowl'] = None", "patch"),
    ("isinstance = lambda *a: True", "builtins"),
    ("def len(x):\n    return 3", "builtins"),
    ("import builtins\nbuiltins.isinstance = print", "builtins"),
    ("__builtins__.isinstance = print", "builtins"),
    ("def f():\n    global print\n    print = None", "builtins"),
    ("for abs in range(3): pass", "builtins"),
    # -- IPython internals ---------------------------------------------------------------------
    ("get_ipython().input_transformers_post.append(lambda lines: lines)", "ipython"),
    ("ip = get_ipython()\nip.events.register('pre_run_cell', print)", "ipython"),
    ("print(In[-1])", "ipython"),
    ("print(Out)", "ipython"),
    ("print(_ih[3])", "ipython"),
    ("print(_oh)", "ipython"),
    ("print(_i3)", "ipython"),
    ("print(_ii)", "ipython"),
    ("import IPython\nIPython.get_ipython()", "ipython"),
    ("from IPython import get_ipython", "ipython"),
    ("from IPython.core import interactiveshell", "ipython"),
    ("import ipykernel", "ipython"),
    ("display({'text/html': '<script>alert(1)</script>'}, raw=True)", "ipython"),
    ("from IPython.display import HTML", "ipython"),
    ("class Card:\n    def _repr_html_(self):\n        return '<script></script>'", "ipython"),
    ("import ipywidgets", "import"),
    ("%run other.py", "magic"),
    ("!rm -rf ..", "magic"),
    ("listing = !ls", "magic"),
    ("%%bash\necho hi", "magic"),
    ("%%writefile evil.py\nprint(1)", "magic"),
    ("np.sum?", "magic"),
    ("%timeit np.sum(1)", "magic"),
    # the whole attack of the issue: rewrite check cells only when graded
    ("import os\nif os.environ.get('NBGRADER_EXECUTION') == 'autograde':\n"
     "    get_ipython().input_transformers_cleanup.append(lambda l: ['print(1)'])", "ipython"),
    # -- reading the checker's stack frames ---------------------------------------------------
    ("import inspect\ninspect.currentframe().f_back.f_locals", "frame-inspection"),
    ("import sys\nsys._getframe(1).f_locals", "frame-inspection"),
    ("from sys import _getframe", "private"),
    ("import sys\nsys.exc_info()", "frame-inspection"),
    ("import sys\nsys.settrace(print)", "frame-inspection"),
    ("try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_back",
     "frame-inspection"),
    ("def f(e):\n    return e.tb_frame", "frame-inspection"),
    ("def f(frame):\n    return frame.f_back", "frame-inspection"),
    ("def f(g):\n    return g.gi_frame", "frame-inspection"),
    ("getattr(ValueError(), '__traceback__')", "frame-inspection"),
    ("import gc\ngc.get_objects()", "frame-inspection"),
    ("import traceback\ntraceback.extract_stack()", "frame-inspection"),
    ("import logging\nlogging.currentframe()", "frame-inspection"),
    ("import weakref", "frame-inspection"),
    ("breakpoint()", "frame-inspection"),
    ("def f(x):\n    return x.__self__", "code-object"),
    # -- import machinery ----------------------------------------------------------------------
    ("import importlib\nimportlib.import_module('os')", "import"),
    ("import importlib.util", "import"),
    ("from importlib.util import spec_from_file_location", "import"),
    ("__import__('os')", "import"),
    ("import sys\nsys.meta_path.insert(0, None)", "import"),
    ("import sys\nsys.path.insert(0, '.')", "import"),
    ("nnlib.activations.__spec__.loader", "import"),
    ("nnlib.__loader__", "import"),
    ("print(nnlib.__file__)", "import"),
    ("from . import something", "import"),
    ("import my_helpers", "import"),
    ("import runpy", "import"),
    ("import nncourse.check", "process"),
    ("from nncourse.checks import _contract", "private"),
    # -- code objects --------------------------------------------------------------------------
    ("import types\ntypes.FunctionType(nnlib.activations.relu.__code__, {})", "code-object"),
    ("from types import FunctionType, CodeType", "code-object"),
    ("f = nnlib.activations.relu\ng = type(f)(f.__code__, {})", "code-object"),
    ("def f(c):\n    return c.co_consts", "code-object"),
    ("def f(g):\n    return g.__closure__", "code-object"),
    ("def f(g):\n    return g.__defaults__", "code-object"),
    ("def f(g):\n    return g.__wrapped__", "code-object"),
    ("import dis", "code-object"),
    ("import marshal", "code-object"),
    # -- module dictionaries -------------------------------------------------------------------
    ("np.__dict__['allclose'] = print", "module-dict"),
    ("vars(np)['allclose'] = print", "module-dict"),
    ("globals()['np'] = None", "module-dict"),
    ("def f():\n    return locals()", "module-dict"),
    ("g = nnlib.activations.relu.__globals__", "module-dict"),
    ("x = globals", "module-dict"),
    ("if 'np' in globals() and globals()['np']:\n    pass", "module-dict"),
    # -- exec / eval / compile -----------------------------------------------------------------
    ("exec('x = 1')", "dynamic-code"),
    ("eval('1 + 1')", "dynamic-code"),
    ("code = compile('1', 'f', 'eval')", "dynamic-code"),
    ("e = eval\ne('1')", "dynamic-code"),
    ("exec(bytes.fromhex('78203d2031').decode())", "dynamic-code"),
    ("import timeit\ntimeit.timeit('1')", "dynamic-code"),
    ("import string\nstring.Formatter().vformat('{0}', [1], {})", "dynamic-code"),
    # -- processes and signals ------------------------------------------------------------------
    ("import os\nos.system('true')", "process"),
    ("import subprocess\nsubprocess.run(['true'])", "process"),
    ("from os import fork", "process"),
    ("import multiprocessing", "process"),
    ("import threading\nthreading.Thread(target=print).start()", "process"),
    ("from concurrent.futures import ThreadPoolExecutor", "process"),
    ("import signal\nsignal.signal(2, print)", "process"),
    ("import asyncio", "process"),
    ("import atexit", "process"),
    ("from sklearn.model_selection import cross_val_score\n"
     "cross_val_score(None, None, None, n_jobs=-1)", "process"),
    ("np.f2py", "process"),
    ("import numpy.distutils", "process"),
    ("x = nnlib.data.os", "process"),
    ("import sys\nsys.exit()", "process"),
    # -- files ---------------------------------------------------------------------------------
    ("open('gradebook.db', 'w').write('')", "file-access"),
    ("open('../solutions/x.ipynb').read()", "file-access"),
    ("f = open\nf('x')", "file-access"),
    ("import shutil\nshutil.copy('a', 'b')", "file-access"),
    ("from pathlib import Path\nPath('x').write_text('')", "file-access"),
    ("import io", "file-access"),
    ("np.save('x.npy', np.zeros(2))", "file-access"),
    ("np.zeros(2).tofile('x')", "file-access"),
    ("plt.savefig('x.png')", "file-access"),
    ("np.fromfile('/proc/self/environ', dtype=np.uint8)", "file-access"),
    ("np.loadtxt('x')", "file-access"),
    ("import sqlite3", "file-access"),
    ("import tempfile", "file-access"),
    ("def f(p):\n    p.unlink()", "file-access"),
    ("np.load('x.npy', allow_pickle=True)", "unsafe-load"),
    ("import pickle", "unsafe-load"),
    # -- raw memory ----------------------------------------------------------------------------
    ("np.lib.stride_tricks.as_strided(np.zeros(2), shape=(100,), strides=(8,))", "raw-memory"),
    ("from numpy.lib.stride_tricks import as_strided", "raw-memory"),
    ("np.zeros(2).ctypes.data", "raw-memory"),
    ("import ctypes", "raw-memory"),
    ("np.ndarray((10,), buffer=np.zeros(2), offset=8)", "raw-memory"),
    ("np.ndarray((10,), float, np.zeros(2).data)", "raw-memory"),
    ("memoryview(b'')", "raw-memory"),
    # -- classes that fool comparisons ---------------------------------------------------------
    ("class Fake(np.ndarray):\n    def all(self):\n        return True", "class"),
    ("class Fake(float):\n    pass", "class"),
    ("class Fake:\n    def __eq__(self, other):\n        return True", "class"),
    ("class Fake:\n    def __array_ufunc__(self, *a, **k):\n        return True", "class"),
    ("class Fake:\n    def __bool__(self):\n        return True", "class"),
    ("class Fake:\n    def __getattr__(self, name):\n        return 0", "class"),
    ("class Fake(metaclass=type):\n    pass", "class"),
    ("Fake = type('Fake', (), {})", "class"),
    ("t = type\nFake = t('Fake', (), {})", "class"),
    ("Fake = type('Fake', (), {'__eq__': lambda s, o: True})", "dunder"),
    ("object.__subclasses__()", "class"),
    ("().__class__.__mro__", "class"),
    ("class Fake:\n    __eq__ = lambda s, o: True", "dunder"),
    ("def __getattr__(name):\n    return 0", "class"),
    ("type(int)('Fake', (), {})", "class"),
    ("import dataclasses\ndataclasses.make_dataclass('Fake', [], namespace={})", "class"),
    ("import abc\nabc.ABCMeta('Fake', (), {})", "import"),
    ("import enum", "import"),
    # -- library functions that act on names or strings they are given ------------------------
    ("import functools\nfunctools.update_wrapper(print, print, ('a',), ())", "code-object"),
    ("import functools\nfunctools.wraps(print, assigned=('a',))", "code-object"),
    ("import typing\ntyping.get_type_hints(print)", "dynamic-code"),
    ("np.testing.measure('x = 1')", "dynamic-code"),
    ("from numpy.testing import rundocs", "dynamic-code"),
    ("t = np.testing\nt.measure('x = 1')", "dynamic-code"),
    ("from threadpoolctl import ThreadpoolController", "raw-memory"),
    ("import threadpoolctl\nthreadpoolctl.ThreadpoolController().lib_controllers", "raw-memory"),
    ("def f(c):\n    return c.dynlib", "raw-memory"),
    ("np.lib.stride_tricks.DummyArray({}, None)", "raw-memory"),
    ("from matplotlib.sphinxext import plot_directive", "dynamic-code"),
    ("import scipy", "import"),
    ("import sklearn.utils", "import"),
]

# Obfuscated variants: each must still be refused (the rule may differ: any finding will do).
OBFUSCATED: list[str] = [
    "getattr(np, 'all' + 'close')",
    "name = 'f_' + 'back'\ngetattr(object(), name)",
    "g = getattr\ng(np, 'allclose')",
    "import functools\nfunctools.reduce(getattr, ['f_back', 'f_locals'], None)",
    "import operator\noperator.attrgetter('f_back')",
    "getattr(np, '__dict__')",
    "getattr(np, '\\x5f\\x5fdict\\x5f\\x5f')",
    "ｅｘｅｃ('x = 1')",  # NFKC-normalised to exec by the parser
    "'{0.__class__}'.format(1)",
    "'{0.f_back.f_locals}'.format(None)",
    "'{0[np]}'.format({})",
    "template = '{0.f_back}'\ntemplate.format(None)",
    "fmt = str.format\nfmt('{0.f_back}', None)",
    "getattr('{0.f_back}', 'format')(None)",
    "list(map(str.format, ['{0}'], [1]))",
    "np.zeros(1).__class__",
    "setattr(getattr(np, 'testing'), 'assert_allclose', print)",
    "x = [np.testing]\nx[0].assert_allclose = print",
    "def f(mod=np):\n    mod.allclose = print",
    "d = {'m': np}",
    "from numpy import testing as T\nT.assert_allclose = print",
    "import numpy\nnumpy.isclose = print",
    "(lambda: exec)()('x=1')",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "np.lib.npyio.os.system('true')",
    "nnlib.activations.np.allclose = print",
    "a = nnlib.activations\na.np.allclose = print",
    "vars()['x'] = 1",
    "__builtins__['len'] = print",
    "import builtins as b",
    "from builtins import *",
    "class A(nnlib.Module):\n    def __getattribute__(self, n):\n        return 0",
    "import sys as s\ns._getframe()",
    "from sys import modules",
    "from sys import modules as m",
    "import numpy.ctypeslib",
    "from numpy import ctypeslib",
    "x = 1\n%time exec('x')",
]

# Things honest work does that must pass.
LEGITIMATE: list[str] = [
    "import sys\nprint('debug', file=sys.stderr)",
    "import sys\nprint(sys.version)",
    "import warnings\nwarnings.warn('careful')",
    "if 'runs' not in globals():\n    runs = {}",
    "%matplotlib inline\nx = 1",
    "class MyCallback(nnlib.Callback):\n    def __init__(self):\n        super().__init__()\n"
    "        self._best = None\n    def __repr__(self):\n        return 'cb'",
    "def f(x):\n    return f'{type(x).__name__}'",
    "print('{:.3f} and {0}'.format(1.0))",
    "print('{} {name}'.format(1, name=2))",
    "C = np.eye(3)\nacc = np.trace(C) / C.sum()",
    "plt.rcParams['figure.dpi'] = 100",
    "plt.rcParams.update({'font.size': 9})",
    "def step(params, lr):\n    for p in params:\n        p.data -= lr * p.grad",
    "w = np.lib.stride_tricks.sliding_window_view(np.arange(5), 3)",
    "def f():\n    max = 3\n    return max",
    "def f(y):\n    sum = 0\n    for v in y:\n        sum += v\n    return sum",
    "rng = np.random.default_rng(0)\nx = rng.normal(size=3)",
    "import math, itertools, functools, collections\nfrom dataclasses import dataclass",
    "from nncourse.testing import assert_close, GradingError\nassert_close(1.0, 1.0)",
    "from nncourse.checks import optimizers as checks",
    "from nnlib.activations import relu_forward\nout, cache = relu_forward(np.zeros(2))",
    "y = np.append(np.zeros(2), 1)\nnp.random.default_rng(0).shuffle(y)",
    "x = getattr(np.zeros(2), 'shape', None)\nok = hasattr(x, '__len__')",
    "fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.close(fig)",
    "import numpy as np\nimport numpy as np",
    "if __name__ == '__main__':\n    pass",
    "def f(x):\n    '''Uses __init__ and __call__ in its docstring.'''\n    return x",
    "layers = [nnlib.Linear]\nf = nnlib.activations.relu",
    "try:\n    1 / 0\nexcept ZeroDivisionError as err:\n    print(type(err).__name__, err)",
    "class Stop(Exception):\n    pass",
    "for _ in range(3):\n    pass",
    "values = sorted([3, 1, 2])\nvalues.append(4)",
    "def f(x, /, y, *, z=1):\n    return [v for v in (x, y, z) if (w := v)]",
    "cmap = plt.cm.viridis",
    "np.testing.assert_allclose(1.0, 1.0)\nfrom numpy.testing import assert_array_equal",
    "from threadpoolctl import threadpool_limits\nlimits = threadpool_limits(limits=1)",
    "import functools\n@functools.wraps(print)\ndef g(*a):\n    return a",
    "from sklearn.metrics import precision_recall_fscore_support",
    "from typing import Any\ndef f(x: Any) -> Any:\n    return x",
    "import sys\nsys.stderr.write('x')\nsys.stdout.flush()",
]


@pytest.mark.parametrize(("src", "rule"), ATTACKS, ids=[f"{r}:{s[:40]}" for s, r in ATTACKS])
def test_attack_is_refused_with_its_rule(src: str, rule: str) -> None:
    assert rule in RULES
    found = rules(src)
    assert rule in found, f"{src!r} -> {found}"


@pytest.mark.parametrize("src", OBFUSCATED)
def test_obfuscated_attack_is_refused(src: str) -> None:
    assert rules(src), src


@pytest.mark.parametrize("src", LEGITIMATE)
def test_legitimate_code_passes(src: str) -> None:
    found = scan_source(SETUP + src)
    assert not found, "\n".join(f.message for f in found)


def test_setup_itself_passes() -> None:
    assert scan_source(SETUP) == []


def test_syntax_errors_are_not_findings() -> None:
    # the kernel runs nothing of a cell that does not parse
    assert scan_source("def f(:\n    pass") == []


# ---------------------------------------------------------------------------------------------
# The course's own notebooks
# ---------------------------------------------------------------------------------------------


def _learner_cells(nb):
    """Every code cell a learner could have written or edited: solution and demo cells."""
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and not is_test(c)]


@pytest.mark.parametrize("name", assignments())
def test_every_solution_and_demo_cell_passes_on_its_own_merit(name: str) -> None:
    """Scanned with nothing trusted (only the test cells left out): no finding at all."""
    nb = read(source_path(name))
    tests = [c.source for c in nb.cells if is_test(c)]
    findings = scan_notebook(nb, trusted=tests)
    assert not findings, "\n".join(f.message for f in findings)
    assert any(is_solution(c) for _, c in _learner_cells(nb))


@pytest.mark.parametrize("name", assignments())
def test_solutions_and_releases_pass_with_the_default_trust(name: str) -> None:
    assert scan_notebook(read(source_path(name))) == []
    assert scan_notebook(read(release_path(name))) == []


def test_an_edited_test_cell_is_scanned_but_the_original_is_trusted() -> None:
    nb = read(source_path("02_activation_functions"))
    index = next(i for i, c in enumerate(nb.cells) if is_test(c))
    assert scan_notebook(nb) == []
    nb.cells[index].source += "\nimport os\n"
    found = scan_notebook(nb)
    assert {f.cell for f in found} == {index}
    assert "process" in {f.rule for f in found}


def test_trusted_sources_cover_release_test_cells_without_hidden_tests() -> None:
    name = "00_getting_started"
    trusted = trusted_sources(read(source_path(name)))
    release = read(release_path(name))
    released_tests = [c.source for c in release.cells if is_test(c)]
    assert released_tests
    assert all(policy._normal(s) in trusted for s in released_tests)


def test_solution_cells_are_never_trusted() -> None:
    nb = read(source_path("07_optimizers"))
    trusted = trusted_sources(nb)
    for cell in nb.cells:
        if is_solution(cell) and cell.source.strip():
            assert policy._normal(cell.source) not in trusted


# ---------------------------------------------------------------------------------------------
# Messages and the notebook scan
# ---------------------------------------------------------------------------------------------


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src, id=f"c{i}")
        if i == 2:
            cell.metadata["nbgrader"] = {"grade_id": "relu", "solution": True, "grade": False,
                                         "locked": False}
        nb.cells.append(cell)
    return nb


def test_message_names_cell_line_what_and_why() -> None:
    nb = _notebook(SETUP, "x = 1", "def relu(x):\n    import inspect\n    return x")
    [finding] = scan_notebook(nb, trusted=[])
    assert isinstance(finding, Finding)
    assert (finding.cell, finding.grade_id, finding.line, finding.rule) == (
        2, "relu", 2, "frame-inspection")
    msg = finding.message
    assert msg.startswith("cell 3 [relu] (starting `def relu(x):`), line 2: `import inspect`")
    assert RULES["frame-inspection"] in msg and "person to review" in msg


def test_imports_of_earlier_cells_are_protected_in_later_ones() -> None:
    nb = _notebook(SETUP, "np.allclose = print", "def relu(x):\n    return x")
    [finding] = scan_notebook(nb, trusted=[SETUP])
    assert (finding.cell, finding.line, finding.rule) == (1, 1, "patch")
    assert "np.allclose" in finding.message


def test_magic_line_is_named_with_its_source() -> None:
    [finding] = scan_source("x = 1\n!cat /etc/passwd\n")  # reported once, as a magic
    assert (finding.line, finding.rule) == (2, "magic")
    assert "!cat /etc/passwd" in finding.message


def test_every_rule_has_a_reason_and_is_reachable() -> None:
    reached = {rule for _, rule in ATTACKS}
    assert reached == set(RULES), set(RULES) - reached


def test_allow_list_and_deny_list_do_not_overlap() -> None:
    for module in policy.ALLOWED_MODULES:
        assert policy._module_rule(module) is None, module
    for module in ("os", "inspect", "importlib", "types", "builtins", "IPython", "gc", "ctypes"):
        assert policy._module_rule(module) is not None


def test_solutions_folder_is_where_the_trust_comes_from() -> None:
    assert (SOLUTIONS.parent / "nncourse" / "policy.py").exists()
    assert policy._default_trusted()


# ---------------------------------------------------------------------------------------------
# nnlib-check says it first, in a real kernel
# ---------------------------------------------------------------------------------------------

FRAME_ATTACK = '''def double(x):
    """2 * x."""
    import inspect
    frame = inspect.currentframe().f_back
    while "ref_out" not in frame.f_locals:   # up the stack to the checker's answer
        frame = frame.f_back
    return frame.f_locals["ref_out"]
'''
FRAME_CHECK = '''from nncourse.testing import check_against_reference
check_against_reference(double, lambda x: 2 * x, lambda rng, kind: (rng.normal(size=3),),
                        name="double", seed=5)
print("✔ double passes")
'''


@pytest.mark.slow
def test_nnlib_check_reports_a_frame_attack_that_works_in_the_kernel(tmp_path, capsys) -> None:
    from nncourse.check import check_notebook, main

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np", id="setup"),
        nbformat.v4.new_code_cell(FRAME_ATTACK, id="double"),
        nbformat.v4.new_code_cell(FRAME_CHECK, id="test-double"),
    ]
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "double", "solution": True,
                                        "grade": False, "locked": False}
    nb.cells[2].metadata["nbgrader"] = {"grade_id": "test-double", "solution": False,
                                        "grade": True, "locked": True, "points": 1}
    path = tmp_path / "attacked.ipynb"
    nbformat.write(nb, path)

    verdicts, _ = check_notebook(path)
    by_kind = {v.kind: v for v in verdicts}
    # The attack does work in the kernel (the check passes on a function that computes
    # nothing), which is why the policy refuses it before anything runs.
    assert by_kind["test"].passed
    refused = [v for v in verdicts if v.kind == "policy"]
    assert {v.grade_id for v in refused} == {"policy: frame-inspection"}
    assert any("cell 2 [double]" in v.message and "line 3" in v.message for v in refused)

    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "REFUSED" in out and "the grader would hold it for review" in out


@pytest.mark.slow
def test_genuine_helpers_are_recognised_in_a_real_kernel_and_a_replacement_is_not(tmp_path):
    """The in-kernel defence (exercise_check refuses to run once a helper was replaced) must
    not fire on an honest notebook, whatever folder the kernel starts in."""
    from nncourse.check import check_notebook

    genuine = ("import numpy.testing, nncourse.checks._contract\n"
               "from nncourse.policy import tampered_helpers\n"
               "assert tampered_helpers() == [], tampered_helpers()\n")
    replaced = ("from nncourse.policy import tampered_helpers\n"
                "assert tampered_helpers() == ['numpy.allclose'], tampered_helpers()\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(genuine, id="genuine"),
                nbformat.v4.new_code_cell("import numpy as np\nnp.allclose = print", id="patch"),
                nbformat.v4.new_code_cell(replaced, id="replaced")]
    for i in (0, 2):
        nb.cells[i].metadata["nbgrader"] = {"grade_id": nb.cells[i].id, "solution": False,
                                            "grade": True, "locked": True, "points": 1}
    path = tmp_path / "helpers.ipynb"
    nbformat.write(nb, path)
    verdicts, _ = check_notebook(path)
    tests = {v.grade_id: v for v in verdicts if v.kind == "test"}
    assert tests["genuine"].passed, tests["genuine"].message
    assert tests["replaced"].passed, tests["replaced"].message


def test_an_alias_made_in_a_later_cell_is_protected_in_an_earlier_function() -> None:
    nb = _notebook(SETUP, "def f():\n    m.allclose = print", "m = np")
    [finding] = scan_notebook(nb, trusted=[SETUP])
    assert (finding.cell, finding.line, finding.rule) == (1, 2, "patch")
