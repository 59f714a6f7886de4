"""nnlib.basics: one_hot and standardize."""

import numpy as np
import pytest

from nnlib.basics import one_hot, standardize


def test_one_hot_hand_case():
    assert one_hot(np.array([2, 0, 1]), 3).tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_one_hot_batch_of_one_and_empty():
    assert one_hot(np.array([4]), 5).shape == (1, 5)
    assert one_hot(np.array([], dtype=int), 3).shape == (0, 3)


@pytest.mark.parametrize(
    "y, k, match",
    [
        (np.array([0, 3]), 3, r"one_hot: y must be class indices in \[0, 3\)"),
        (np.array([[0, 1]]), 3, r"one_hot: y must be a vector .* got shape \(1, 2\)"),
        (np.array([0.5]), 3, "integer class indices"),
        (np.array([0]), 0, "num_classes must be >= 1"),
        (np.array([0]), 2.0, "num_classes must be an int"),
    ],
)
def test_one_hot_errors(y, k, match):
    with pytest.raises(ValueError, match=match):
        one_hot(y, k)


def test_standardize_hand_case_and_constant_column():
    X = np.array([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    np.testing.assert_allclose(standardize(X), [[-1, -1, 0], [1, 1, 0]], rtol=1e-7)


def test_standardize_statistics_and_no_mutation():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 5, size=(50, 4))
    before = X.copy()
    Z = standardize(X)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1, rtol=1e-6)
    np.testing.assert_array_equal(X, before)


def test_standardize_with_given_statistics():
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(20, 3)), rng.normal(size=(5, 3))
    mu, sd = train.mean(0), train.std(0)
    np.testing.assert_allclose(standardize(test, mu, sd), (test - mu) / (sd + 1e-8))


def test_standardize_errors():
    with pytest.raises(ValueError, match=r"standardize: X must have shape \(N, D\)"):
        standardize(np.ones(3))
    with pytest.raises(ValueError, match=r"standardize: mean must have shape \(D,\) = \(3,\)"):
        standardize(np.ones((2, 3)), np.ones(2), np.ones(3))
