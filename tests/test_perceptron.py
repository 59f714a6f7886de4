"""nnlib.perceptron: the weighted sum, the step and sigmoid units, the perceptron rule, the data."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnlib.perceptron import (
    make_separable,
    perceptron_history,
    perceptron_predict,
    perceptron_update,
    sigmoid_unit,
    step,
    train_perceptron,
    weighted_sum,
    xor_data,
)
from strategies import PROPERTY, bounded_arrays

# ---------------------------------------------------------------------------------------------
# weighted_sum
# ---------------------------------------------------------------------------------------------


def test_weighted_sum_hand_cases():
    w = np.array([0.5, -1.0, 2.0])
    assert weighted_sum(np.array([1.0, 2.0, 3.0]), w, 0.5) == pytest.approx(5.0)
    X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(weighted_sum(X, w, 0.5), [5.0, 0.5])


def test_weighted_sum_shapes():
    rng = np.random.default_rng(0)
    w = rng.normal(size=4)
    assert weighted_sum(rng.normal(size=4), w, 1.0).shape == ()
    assert weighted_sum(rng.normal(size=(1, 4)), w, 1.0).shape == (1,)
    assert weighted_sum(rng.normal(size=(7, 4)), w, 1.0).shape == (7,)


@PROPERTY
@given(st.data())
def test_weighted_sum_is_a_batch_of_single_sums(data):
    X = data.draw(bounded_arrays(min_dims=2, max_dims=2, dtype=np.float64, bound=1e3))
    w = data.draw(hnp.arrays(np.float64, X.shape[1], elements=st.floats(-10, 10)))
    b = data.draw(st.floats(-10, 10))
    z = weighted_sum(X, w, b)
    singles = np.array([weighted_sum(x, w, b) for x in X])
    np.testing.assert_allclose(z, singles, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    "x, w, b, match",
    [
        (np.ones((2, 3)), np.ones(4), 0.0, r"weighted_sum: x has 3 features but w has 4 weights"),
        (np.ones((2, 3)), np.ones((3, 1)), 0.0, r"weighted_sum: w must have shape \(D,\)"),
        (np.ones((2, 3, 1)), np.ones(1), 0.0, r"weighted_sum: x must have shape \(N, D\) or"),
        (np.ones((2, 3)), np.ones(3), np.ones(2), r"weighted_sum: b must be a single number"),
    ],
)
def test_weighted_sum_errors(x, w, b, match):
    with pytest.raises(ValueError, match=match):
        weighted_sum(x, w, b)


# ---------------------------------------------------------------------------------------------
# step, sigmoid_unit, predict
# ---------------------------------------------------------------------------------------------


def test_step_convention_at_zero_and_dtype():
    z = np.array([-2.0, -1e-300, 0.0, -0.0, 1e-300, 3.0])
    out = step(z)
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 1, 1])
    assert out.dtype == np.float64
    assert step(np.float32([1.0])).dtype == np.float32
    assert step(np.array([1, -1])).dtype == np.float64  # integers become floats
    assert step(np.zeros((2, 3))).shape == (2, 3)
    assert step(0.0) == 1.0


def test_step_does_not_modify_its_input():
    z = np.array([-1.0, 2.0])
    step(z)
    np.testing.assert_array_equal(z, [-1.0, 2.0])


@PROPERTY
@given(bounded_arrays(bound=1e4))
def test_sigmoid_unit_is_finite_in_range_and_agrees_with_the_step(z):
    x = z.reshape(-1, 1).astype(np.float64)
    a = sigmoid_unit(x, np.array([1.0]), 0.0)
    assert np.all((a >= 0) & (a <= 1))
    decided = a != 0.5  # sigmoid rounds to exactly 0.5 for tiny |z|; the step still decides
    np.testing.assert_array_equal((a > 0.5)[decided], (step(x[:, 0]) == 1)[decided])


def test_sigmoid_unit_hand_cases():
    assert sigmoid_unit(np.array([0.0, 0.0]), np.array([1.0, 1.0]), 0.0) == pytest.approx(0.5)
    a = sigmoid_unit(np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([1.0, 0.0]), 0.0)
    np.testing.assert_allclose(a, [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))])
    np.testing.assert_allclose(a.sum(), 1.0)
    np.testing.assert_array_equal(
        sigmoid_unit(np.array([[1e3], [-1e3]]), np.array([10.0]), 0.0), [1.0, 0.0]
    )


def test_perceptron_predict():
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(perceptron_predict(X, np.array([1.0, 0.0]), 0.0), [1, 0, 1])


# ---------------------------------------------------------------------------------------------
# perceptron_update
# ---------------------------------------------------------------------------------------------


def test_update_leaves_a_correct_example_alone():
    w, b = np.array([1.0, -1.0]), 0.5
    w_new, b_new = perceptron_update(w, b, np.array([2.0, 1.0]), 1, lr=0.1)
    np.testing.assert_array_equal(w_new, w)
    assert b_new == b


def test_update_false_negative_and_false_positive():
    w, b, x = np.array([1.0, -1.0]), -2.0, np.array([2.0, 1.0])  # z = -1: predicts 0
    w_new, b_new = perceptron_update(w, b, x, 1, lr=0.5)
    np.testing.assert_allclose(w_new, [2.0, -0.5])
    assert b_new == pytest.approx(-1.5)
    w_new, b_new = perceptron_update(w, 2.0, x, 0, lr=0.5)  # z = 3: predicts 1
    np.testing.assert_allclose(w_new, [0.0, -1.5])
    assert b_new == pytest.approx(1.5)


def test_update_at_the_boundary_uses_step_of_zero_equals_one():
    w_new, b_new = perceptron_update(np.zeros(2), 0.0, np.array([1.0, 2.0]), 0, lr=1.0)
    np.testing.assert_allclose(w_new, [-1.0, -2.0])
    assert b_new == -1.0


def test_update_returns_new_arrays():
    w, x = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    w_new, _ = perceptron_update(w, 0.0, x, 0, lr=1.0)
    assert w_new is not w
    np.testing.assert_array_equal(w, [0.0, 0.0])
    np.testing.assert_array_equal(x, [1.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=2), r"perceptron_update: y must hold the labels 0 and 1"),
        (dict(y=np.array([1, 0])), r"perceptron_update: y must be one label"),
        (dict(lr=0.0), r"perceptron_update: lr must be > 0"),
        (dict(x=np.ones((1, 2))), r"perceptron_update: x must have shape \(D,\)"),
        (dict(x=np.ones(3)), r"perceptron_update: x has 3 features but w has 2 weights"),
    ],
)
def test_update_errors(kwargs, match):
    args = dict(w=np.zeros(2), b=0.0, x=np.ones(2), y=1, lr=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        perceptron_update(**args)


# ---------------------------------------------------------------------------------------------
# train_perceptron
# ---------------------------------------------------------------------------------------------


def test_train_hand_case():
    w, b, errors = train_perceptron(np.array([[1.0, 2.0]]), np.array([0]), epochs=3, lr=0.5,
                                    rng=np.random.default_rng(0))
    np.testing.assert_allclose(w, [-0.5, -1.0])
    assert b == -0.5
    np.testing.assert_array_equal(errors, [1, 0, 0])
    assert errors.dtype == np.int64


def test_train_is_the_update_rule_in_permutation_order():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 2, size=9)
    w, b, errors = train_perceptron(X, y, epochs=4, lr=0.3, rng=np.random.default_rng(7))
    order_rng = np.random.default_rng(7)
    w_ref, b_ref, mistakes = np.zeros(3), 0.0, []
    for _ in range(4):
        count = 0
        for i in order_rng.permutation(9):
            count += int(perceptron_predict(X[i], w_ref, b_ref) != y[i])
            w_ref, b_ref = perceptron_update(w_ref, b_ref, X[i], int(y[i]), lr=0.3)
        mistakes.append(count)
    np.testing.assert_allclose(w, w_ref)
    assert b == pytest.approx(b_ref)
    np.testing.assert_array_equal(errors, mistakes)


@pytest.mark.parametrize("seed", range(5))
def test_train_converges_on_separable_data(seed):
    rng = np.random.default_rng(seed)
    X, y = make_separable(80, margin=0.1, rng=rng)
    w, b, errors = train_perceptron(X, y, epochs=60, lr=1.0, rng=rng)
    assert errors[-1] == 0
    np.testing.assert_array_equal(perceptron_predict(X, w, b), y)


def test_train_never_converges_on_xor():
    X, y = xor_data()
    w, b, errors = train_perceptron(X, y, epochs=50, lr=1.0, rng=np.random.default_rng(0))
    assert np.all(errors > 0)
    assert np.sum(perceptron_predict(X, w, b) != y) >= 1


def test_history_starts_at_zero_and_ends_at_train():
    X, y = make_separable(30, rng=np.random.default_rng(1))
    ws, bs, errors = perceptron_history(X, y, epochs=5, rng=np.random.default_rng(2))
    assert ws.shape == (6, 2) and bs.shape == (6,) and errors.shape == (5,)
    np.testing.assert_array_equal(ws[0], 0)
    w, b, errors2 = train_perceptron(X, y, epochs=5, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(ws[-1], w)
    assert bs[-1] == b
    np.testing.assert_array_equal(errors, errors2)


def test_train_does_not_modify_its_inputs():
    X, y = make_separable(20, rng=np.random.default_rng(0))
    X0, y0 = X.copy(), y.copy()
    train_perceptron(X, y, epochs=3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=np.array([0, 1])), r"train_perceptron: y must have shape \(N,\) = \(3,\)"),
        (dict(y=np.array([0, 1, 2])), r"train_perceptron: y must hold the labels 0 and 1"),
        (dict(epochs=0), r"train_perceptron: epochs must be a positive integer"),
        (dict(lr=-1.0), r"train_perceptron: lr must be > 0"),
        (dict(rng=0), r"train_perceptron: rng must be a numpy.random.Generator"),
        (dict(X=np.ones(3)), r"train_perceptron: X must have shape \(N, D\)"),
    ],
)
def test_train_errors(kwargs, match):
    args = dict(X=np.ones((3, 2)), y=np.array([0, 1, 1]), epochs=2, lr=1.0,
                rng=np.random.default_rng(0)) | kwargs
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        train_perceptron(X, y, **args)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_make_separable_is_separable_with_its_margin(seed):
    X, y = make_separable(200, margin=0.1, rng=np.random.default_rng(seed))
    assert X.shape == (200, 2) and y.shape == (200,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}
    assert np.all(np.abs(X) <= 1)
    # Recover the generating line from the rng and check the gap.
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    w = np.array([np.cos(angle), np.sin(angle)])
    b = rng.uniform(-0.3, 0.3)
    z = X @ w + b
    assert np.all(np.abs(z) >= 0.1)
    np.testing.assert_array_equal(y, (z >= 0).astype(int))


def test_make_separable_is_deterministic_and_small_sizes_work():
    a = make_separable(5, rng=np.random.default_rng(4))
    b = make_separable(5, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert make_separable(1, rng=np.random.default_rng(0))[0].shape == (1, 2)


def test_make_separable_errors():
    with pytest.raises(ValueError, match="make_separable: margin must be < 0.5"):
        make_separable(10, margin=0.6, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="make_separable: n_samples must be a positive integer"):
        make_separable(0, rng=np.random.default_rng(0))


def test_xor_data_truth_table():
    X, y = xor_data()
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(int))
