"""The grading helpers: diagnoses that help, messages that never reveal, a guard that holds."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

import nnlib.basics
from nncourse.testing import (
    CASE_KINDS,
    GradingError,
    assert_close,
    batch_size_for,
    check_against_reference,
    forbid_reference,
    scale_for,
)
from nnlib.basics import one_hot, standardize

rng = np.random.default_rng(0)
E = rng.normal(size=(4, 3)) + 0.5


def message(actual, expected=E, **kw) -> str:
    with pytest.raises(GradingError) as info:
        assert_close(actual, expected, name="f(x)", **kw)
    return str(info.value)


def assert_no_values_leak(msg: str, *arrays: np.ndarray) -> None:
    """No printed number of the message equals (to 3 significant digits) an expected value."""
    printed = {float(m) for m in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", msg)}
    for arr in arrays:
        for v in np.asarray(arr, dtype=float).ravel():
            for p in printed:
                assert not np.isclose(p, v, rtol=1e-3, atol=0), f"value {v} leaked in: {msg}"


class TestAssertClose:
    def test_passes_when_close(self):
        assert_close(E + 1e-12, E, name="f(x)")
        assert_close(np.array([1, 2]), [1.0, 2.0])  # expected values may be a list

    def test_none_means_missing_return(self):
        assert "forget the `return`" in message(None)

    def test_tuple_instead_of_array(self):
        assert "return the array itself" in message((E, {}))

    def test_non_numeric(self):
        assert "not a NumPy array" in message({"a": 1}) or "dtype" in message({"a": 1})

    def test_transposed_shape(self):
        msg = message(E.T, layout="(N, M)")
        assert "transposed" in msg and "(3, 4)" in msg and "(N, M)" in msg

    def test_transposed_square_values(self):
        S = rng.normal(size=(3, 3))
        assert "transpose" in message(S.T, S)

    def test_missing_keepdims(self):
        assert "keepdims" in message(E.reshape(12), E)

    def test_extra_axis_from_broadcasting(self):
        v = rng.normal(size=4)
        assert "extra axis" in message(v[:, None] - v, v)

    def test_reduced_over_everything(self):
        assert "single number" in message(np.float64(E.sum()), E.sum(axis=0))

    def test_wrong_axis(self):
        assert "wrong axis" in message(E.sum(axis=1), E.sum(axis=0))

    def test_sign(self):
        msg = message(-E)
        assert "wrong sign" in msg
        assert_no_values_leak(msg, E)

    def test_missing_one_over_n(self):
        msg = message(E * 4)
        assert "same factor" in msg and "4" in msg and "1/N" in msg
        assert_no_values_leak(msg.replace("about 4 times", ""), E)

    def test_constant_offset(self):
        assert "shifted by the same constant" in message(E + 0.3)

    def test_nan_points_to_instability(self):
        bad = E.copy()
        bad[2, 1] = np.nan
        msg = message(bad)
        assert "NaN" in msg and "(2, 1)" in msg and "unstable" in msg and "0/0" in msg

    def test_inf(self):
        bad = E.copy()
        bad[0, 0] = np.inf
        assert "inf" in message(bad)

    def test_nan_expected_nan_is_fine(self):
        assert_close(np.array([np.nan, 1.0]), [np.nan, 1.0])

    def test_list_returned(self):
        assert "returned a Python list; return a NumPy array" in message([1.0, 2.0], [1.0, 2.0])

    def test_reveal_for_visible_checks(self):
        assert "Got 3, expected 3.5 there." in message(np.array([1.0, 3.0]), np.array([1.0, 3.5]),
                                                        reveal=True)
        assert "3.5" not in message(np.array([1.0, 3.0]), np.array([1.0, 3.5]))

    def test_reveal_shows_enough_digits_to_see_the_difference(self):
        msg = message(np.array([1.100004]), np.array([1.1]), reveal=True)
        assert "Got 1.100004, expected 1.1 there." in msg

    def test_constant_expected_array_gets_no_factor_or_offset_guess(self):
        msg = message(np.full(4, 3.0), np.full(4, 1.5))
        assert "factor" not in msg and "shifted" not in msg

    def test_a_hint_placeholder_left_in_is_named(self):
        assert "placeholder" in message(Ellipsis, np.zeros(2))

    def test_layout_equal_to_the_shape_is_not_repeated(self):
        msg = message(np.zeros((1, 2)), np.zeros(1), layout="(1,)")
        assert "expected shape is (1,)." in msg and "that is" not in msg
        assert "that is (N, K)" in message(np.zeros(3), np.zeros((3, 2)), layout="(N, K)")

    def test_batch_of_one_is_not_called_a_single_number(self):
        assert "single number" not in message(np.array([2.0]), np.array([[2.0, 1.0]]))

    def test_scalar_ratio(self):
        msg = message(5.0, 5.0 / 3)
        assert "3 times the expected value" in msg and "sum where a mean belongs" in msg
        assert "wrong sign" in message(-2.0, 2.0)

    def test_single_entry_gets_no_factor_guess(self):
        msg = message(np.array([3.0]), np.array([3.5]))
        assert "is wrong: relative error" in msg and "factor" not in msg

    def test_first_bad_index_and_count(self):
        bad = E.copy()
        bad[1, 2] += 1.0
        bad[3, 0] += 1.0
        msg = message(bad)
        assert "first differs at index (1, 2)" in msg and "2 of 12 entries differ" in msg
        assert "1 of 12 entries differs" in message(np.where(np.arange(12).reshape(4, 3) == 0,
                                                             E + 1, E))
        assert_no_values_leak(msg, E, bad)

    def test_scalar(self):
        msg = message(1.5, 1.0)
        assert "relative error" in msg and "index" not in msg and "there" not in msg

    def test_tolerances(self):
        assert_close(E * (1 + 1e-7), E, rtol=1e-6)
        with pytest.raises(GradingError):
            assert_close(E * (1 + 1e-4), E, rtol=1e-6)


def _make_labels(rng, kind):
    K = int(rng.integers(2, 9))
    return (rng.integers(0, K, size=batch_size_for(kind, rng)), K)


def _one_hot_copy(y, k):
    """The reference seen from outside nnlib (not switched off on the hidden cases)."""
    return one_hot(y, k)


class TestCheckAgainstReference:
    def test_the_nnlib_reference_is_switched_off_on_the_hidden_cases(self):
        helpers = {"oh": one_hot}

        def looks_up(y, k):  # special-cases forbid_reference's public probe, then delegates
            if k == 3 and list(y) == [0, 2]:
                return np.zeros((2, 3))
            return helpers["oh"](y, k)

        with pytest.raises(GradingError, match="reference implementation .* hidden cases"):
            check_against_reference(looks_up, one_hot, _make_labels, name="one_hot")

        def swallows(y, k):  # and catching what the disabled reference raises does not help
            try:
                return helpers["oh"](y, k)
            except BaseException:
                return np.eye(k)[y]

        with pytest.raises(GradingError, match="reference implementation"):
            check_against_reference(swallows, one_hot, _make_labels, name="one_hot")
        check_against_reference(one_hot, one_hot, _make_labels, name="one_hot")  # itself: fine
        assert one_hot(np.array([1]), 2).tolist() == [[0.0, 1.0]]  # and restored afterwards

    def test_reference_passes_itself(self):
        calls = []

        def counting(y, k):
            calls.append(1)
            return one_hot(y, k)

        # None, not a count: nbgrader would read a displayed number as partial credit
        assert check_against_reference(counting, _one_hot_copy, _make_labels,
                                       name="one_hot") is None
        assert len(calls) == len(CASE_KINDS)

    def test_case_kinds(self):
        g = np.random.default_rng(1)
        assert batch_size_for("batch of one", g) == 1
        assert all(batch_size_for("odd sizes", g) % 2 == 1 for _ in range(20))
        assert scale_for("extreme values") > 100 and scale_for("random") == 1

    def test_names_the_case_and_hides_inputs(self):
        def off_by_one(y, k):
            Y = one_hot(y, k)
            Y[0] = 0
            return Y

        with pytest.raises(GradingError) as info:
            check_against_reference(off_by_one, _one_hot_copy, _make_labels, name="one_hot")
        msg = str(info.value)
        assert msg.startswith("one_hot on hidden case 1 of 5 (batch of one)")
        assert "first differs at index (0," in msg

    def test_student_exception_is_reported(self):
        def broken(y, k):
            raise IndexError("index 7 is out of bounds")

        with pytest.raises(GradingError, match="raised IndexError: index 7 is out of bounds"):
            check_against_reference(broken, one_hot, _make_labels, name="one_hot")

    def test_in_place_modification(self):
        def sloppy(X, eps=1e-8):
            X -= X.mean(axis=0)
            X /= X.std(axis=0) + eps
            return X

        def make(rng, kind):
            return (rng.normal(size=(batch_size_for(kind, rng) + 1, 3)),)

        with pytest.raises(GradingError, match="modified its input `X` in place"):
            check_against_reference(sloppy, standardize, make, name="standardize")

    def test_in_place_modification_of_an_array_inside_a_list(self):
        def sloppy(grads, c):
            for g in grads:
                np.clip(g, -c, c, out=g)
            return grads

        def ref(grads, c):
            return [np.clip(g, -c, c) for g in grads]

        def make(rng, kind):
            return ([rng.normal(size=(3, 2)) * 5, rng.normal(size=4) * 5], 1.0)

        with pytest.raises(GradingError, match="modified its input `grads` in place"):
            check_against_reference(sloppy, ref, make, name="clip", compare=tuple)
        check_against_reference(ref, ref, make, name="clip", compare=tuple)

    def test_a_model_argument_may_change_its_state(self):
        import nnlib

        def norms(model, X):
            model.zero_grad()
            model(X)
            model.backward(np.ones((X.shape[0], 2)))
            return np.array([np.linalg.norm(p.grad) for p in model.parameters()])

        def make(rng, kind):
            net = nnlib.Linear(3, 2, rng=rng)
            return (net, rng.normal(size=(batch_size_for(kind, rng), 3)))

        check_against_reference(norms, norms, make, name="norms")

    def test_tuple_results(self):
        def ref(x):
            return x * 2, x.sum()

        def student(x):
            return x * 2, x.sum() * 2

        def make(rng, kind):
            return (rng.normal(size=3),)

        check_against_reference(ref, ref, make, name="pair")
        with pytest.raises(GradingError, match="returned value 2"):
            check_against_reference(student, ref, make, name="pair")
        with pytest.raises(GradingError, match="expected a tuple of 2"):
            check_against_reference(lambda x: x * 2, ref, make, name="pair")

    def test_an_rng_argument_may_be_used(self):
        def ref(n, rng):
            return rng.normal(size=n)

        def make(rng, kind):
            return (3, np.random.default_rng(int(rng.integers(100))))

        check_against_reference(ref, ref, make, name="sample")

    def test_compare_selects_part_of_the_result(self):
        def ref(x):
            return x + 1, {"cache": x}

        def student(x):
            return x + 1, ("anything", "goes")

        def make(rng, kind):
            return (rng.normal(size=2),)

        check_against_reference(student, ref, make, name="f", compare=lambda r: r[0])


# ---- the delegation guard -------------------------------------------------------------------


def own_one_hot(y, num_classes):
    return (np.asarray(y)[:, None] == np.arange(num_classes)).astype(float)


def calls_module_attribute(y, num_classes):
    return nnlib.basics.one_hot(y, num_classes)


def calls_via_getattr(y, num_classes):
    return getattr(nnlib.basics, "one_" + "hot")(y, num_classes)


def swallows_everything(y, num_classes):
    try:
        return getattr(nnlib.basics, "one_" + "hot")(y, num_classes)
    except BaseException:  # noqa: BLE001
        return own_one_hot(y, num_classes)


def uses_allowed_nnlib(X, eps=1e-8):
    # standardize built on an earlier lesson's function is fine; only the graded one is banned
    return nnlib.basics.one_hot(np.zeros(1, int), 1)[0, 0] * (X - X.mean(0)) / (X.std(0) + eps)


ARGS = (np.array([0, 2, 1]), 3)


class TestForbidReference:
    def test_own_code_passes(self):
        forbid_reference(own_one_hot, one_hot, args=ARGS)

    def test_alias(self):
        alias = nnlib.basics.one_hot
        with pytest.raises(GradingError, match="scores 0"):
            forbid_reference(alias, one_hot, args=ARGS)

    def test_wrapped_in_lambda(self):
        wrapper = lambda y, k: one_hot(y, k)  # noqa: E731
        with pytest.raises(GradingError, match="reference"):
            forbid_reference(wrapper, one_hot, args=ARGS)

    def test_partial(self):
        with pytest.raises(GradingError):
            forbid_reference(functools.partial(one_hot), one_hot, args=ARGS)

    def test_same_code_object(self):
        import types

        clone = types.FunctionType(one_hot.__code__, one_hot.__globals__)
        with pytest.raises(GradingError):
            forbid_reference(clone, one_hot)

    def test_keyword_only_arguments_reach_the_run(self):
        import importlib

        def sneaky(y, *, num_classes):
            return getattr(importlib.import_module("nnlib.basics"), "one" + "_hot")(y, num_classes)

        with pytest.raises(GradingError, match="when it runs"):
            forbid_reference(sneaky, one_hot, args=(ARGS[0],), kwargs={"num_classes": ARGS[1]})

    def test_module_attribute_chain(self):
        with pytest.raises(GradingError, match="nnlib.basics.one_hot"):
            forbid_reference(calls_module_attribute, one_hot)

    def test_dynamic_route_found_by_running(self):
        forbid_reference(calls_via_getattr, one_hot)  # statically invisible
        with pytest.raises(GradingError, match="when it runs"):
            forbid_reference(calls_via_getattr, one_hot, args=ARGS)

    def test_cannot_be_swallowed(self):
        with pytest.raises(GradingError, match="when it runs"):
            forbid_reference(swallows_everything, one_hot, args=ARGS)

    def test_closure(self):
        def make():
            ref = nnlib.basics.one_hot

            def inner(y, k):
                return ref(y, k)

            return inner

        with pytest.raises(GradingError, match="captures"):
            forbid_reference(make(), one_hot)

    def test_default_argument(self):
        def sneaky(y, k, _f=nnlib.basics.one_hot):
            return _f(y, k)

        with pytest.raises(GradingError):
            forbid_reference(sneaky, one_hot)

    def test_other_nnlib_functions_allowed(self):
        forbid_reference(uses_allowed_nnlib, standardize, args=(np.ones((3, 2)),))

    def test_reference_restored_after_guard(self):
        before = one_hot.__code__
        with pytest.raises(GradingError):
            forbid_reference(calls_via_getattr, one_hot, args=ARGS)
        assert one_hot.__code__ is before
        assert one_hot(np.array([1]), 2).tolist() == [[0.0, 1.0]]

    def test_student_errors_are_left_to_the_tests(self):
        def not_implemented(y, k):
            raise NotImplementedError()

        forbid_reference(not_implemented, one_hot, args=ARGS)

    def test_not_callable(self):
        with pytest.raises(GradingError, match="should be a function"):
            forbid_reference(np.zeros(3), one_hot)
