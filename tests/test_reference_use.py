"""forbid_reference recognises copies of the reference like the reference itself: a fresh copy
of its module loaded from its file under another name, a function rebuilt from its code
object, and its source exec'd into a new namespace. A hand-copied function with renamed
variables is not a copy (on three lines, honest work looks the same)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
import textwrap
import types

import numpy as np
import pytest

import nnlib.activations
import nnlib.basics
from nncourse.testing import GradingError, _fingerprint, _is_copy, forbid_reference
from nnlib.basics import one_hot

ARGS = (np.array([0, 2, 1]), 3)
CELL_FILE = "/tmp/ipykernel_4242/3141592653.py"  # where IPython compiles a notebook cell


def fresh_copy(module: types.ModuleType, name: str = "my_helpers") -> types.ModuleType:
    """The module loaded again from its own file, under another name (the issue's one line)."""
    spec = importlib.util.spec_from_file_location(name, module.__file__)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    return copy


def compiled(source: str, filename: str, namespace: dict | None = None) -> dict:
    ns = {"np": np} if namespace is None else namespace
    exec(compile(textwrap.dedent(source), filename, "exec"), ns)
    return ns


def own_one_hot(y, num_classes):
    return (np.asarray(y)[:, None] == np.arange(num_classes)).astype(float)


class TestFreshModuleCopy:
    def test_the_copy_itself(self):
        copy = fresh_copy(nnlib.basics)
        assert copy.one_hot is not one_hot and copy.one_hot.__code__ is not one_hot.__code__
        with pytest.raises(GradingError, match="scores 0"):
            forbid_reference(copy.one_hot, one_hot, args=ARGS)

    def test_without_running_it(self):
        with pytest.raises(GradingError, match="scores 0"):
            forbid_reference(fresh_copy(nnlib.basics).one_hot, one_hot)

    def test_a_function_calling_the_copy_through_a_global_module(self):
        ns = {"np": np, "helpers": fresh_copy(nnlib.basics)}
        exec("def mine(y, k):\n    return helpers.one_hot(y, k)\n", ns)
        with pytest.raises(GradingError, match="my_helpers.one_hot"):
            forbid_reference(ns["mine"], one_hot)

    def test_a_copy_hidden_in_a_dict_is_caught_when_it_runs(self):
        table = {"f": fresh_copy(nnlib.basics).one_hot}

        def mine(y, k):
            return table["f"](y, k)

        forbid_reference(mine, one_hot)  # invisible without running it
        with pytest.raises(GradingError, match="calls a copy of the reference when it runs"):
            forbid_reference(mine, one_hot, args=ARGS)

    def test_a_copy_of_a_private_helper_is_caught_too(self):
        copy = fresh_copy(nnlib.activations)
        x = np.array([0.5, -2.0])
        with pytest.raises(GradingError):
            forbid_reference(copy.sigmoid_forward, nnlib.activations.sigmoid_forward,
                             nnlib.activations._sigmoid, args=(x,))

    def test_other_functions_of_the_copied_module_stay_allowed(self):
        copy = fresh_copy(nnlib.basics)

        def standardize_with_help(X, eps=1e-8):
            return copy.one_hot(np.zeros(1, int), 1)[0, 0] * (X - X.mean(0)) / (X.std(0) + eps)

        forbid_reference(standardize_with_help, nnlib.basics.standardize, args=(np.ones((3, 2)),))


class TestCodeObjectCopy:
    def test_same_code_object(self):
        clone = types.FunctionType(one_hot.__code__, {"np": np})
        with pytest.raises(GradingError):
            forbid_reference(clone, one_hot, args=ARGS)

    def test_replaced_code_object_under_another_name(self):
        code = one_hot.__code__.replace(co_name="mine", co_qualname="mine")
        assert code is not one_hot.__code__
        clone = types.FunctionType(code, one_hot.__globals__, "mine")
        with pytest.raises(GradingError, match="scores 0"):
            forbid_reference(clone, one_hot, args=ARGS)

    def test_code_object_rebuilt_field_by_field(self):
        c = one_hot.__code__
        rebuilt = types.CodeType(
            c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals,
            c.co_stacksize, c.co_flags, c.co_code, c.co_consts, c.co_names, c.co_varnames,
            c.co_filename, "mine", "mine", c.co_firstlineno, c.co_linetable,
            c.co_exceptiontable, c.co_freevars, c.co_cellvars)
        clone = types.FunctionType(rebuilt, one_hot.__globals__)
        with pytest.raises(GradingError):
            forbid_reference(clone, one_hot)


class TestExecutedSource:
    def test_the_function_source(self):
        ns = compiled(inspect.getsource(one_hot), "<string>")
        with pytest.raises(GradingError, match="scores 0"):
            forbid_reference(ns["one_hot"], one_hot, args=ARGS)

    def test_the_whole_module_source(self):
        source = open(nnlib.basics.__file__).read()
        ns = {"__name__": "not_nnlib"}
        exec(source, ns)
        with pytest.raises(GradingError):
            forbid_reference(ns["one_hot"], one_hot, args=ARGS)

    def test_the_source_exec_d_into_a_namespace_reached_at_run_time(self):
        ns = compiled(inspect.getsource(one_hot), "<string>")

        def mine(y, k):
            return ns["one_hot"](y, k)

        with pytest.raises(GradingError, match="copy of the reference when it runs"):
            forbid_reference(mine, one_hot, args=ARGS)


class TestHonestWorkIsNotACopy:
    RENAMED = '''
    def one_hot(labels, k):
        """Y[i, y[i]] = 1, every other entry 0."""
        labels = np.asarray(labels)
        return (labels[:, None] == np.arange(k)[None, :]).astype(float)
    '''

    def test_renamed_variables_typed_into_a_cell(self):
        ns = compiled(self.RENAMED, CELL_FILE)
        forbid_reference(ns["one_hot"], one_hot, args=ARGS)

    def test_renamed_variables_are_not_a_copy_even_as_exec_d_source(self):
        # the fingerprint, not the file, tells them apart
        source = inspect.getsource(one_hot)
        params = list(inspect.signature(one_hot).parameters)
        renamed = source
        for i, p in enumerate(params):
            renamed = renamed.replace(p, f"arg{i}")
        ns = compiled(renamed, "<string>")
        assert not _is_copy(ns["one_hot"].__code__, one_hot.__code__)
        forbid_reference(ns["one_hot"], one_hot, args=ARGS)

    def test_the_reference_text_typed_into_a_cell_is_left_to_a_person(self):
        # Identical text compiled from a notebook cell is indistinguishable from a careful
        # hand copy or from honest work on a short function: never zeroed automatically.
        ns = compiled(inspect.getsource(one_hot), CELL_FILE)
        assert _fingerprint(ns["one_hot"].__code__) == _fingerprint(one_hot.__code__)
        forbid_reference(ns["one_hot"], one_hot, args=ARGS)

    def test_own_code_passes_and_the_profiler_is_restored(self):
        def marker(frame, event, arg):
            return None

        sys.setprofile(marker)
        try:
            forbid_reference(own_one_hot, one_hot, args=ARGS)
            assert sys.getprofile() is marker
        finally:
            sys.setprofile(None)

    def test_one_changed_character_is_not_a_copy(self):
        source = inspect.getsource(one_hot)
        assert "num_classes" in source
        ns = compiled(source.replace("num_classes", "num_classez"), "<string>")
        assert not _is_copy(ns["one_hot"].__code__, one_hot.__code__)
        same = compiled(source, "<string>")
        assert _is_copy(same["one_hot"].__code__, one_hot.__code__)
