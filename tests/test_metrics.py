"""Tests for nnlib.metrics, cross-checked against scikit-learn on random cases (including classes
that are never predicted, or never occur) and on hand-worked examples."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnlib.metrics import confusion_matrix, f1_score, precision_recall_curve, precision_recall_f1
from nnlib.training import accuracy
from strategies import PROPERTY


def random_labels(rng, N, K, *, missing_pred=0, missing_true=0):
    """y_true, y_pred in [0, K); the last `missing_pred` classes are never predicted and the
    first `missing_true` classes never occur."""
    y_true = rng.integers(missing_true, K, size=N)
    y_pred = np.where(rng.random(N) < 0.6, y_true, rng.integers(0, K, size=N))
    y_pred = np.where(y_pred >= K - missing_pred, 0, y_pred)
    return y_true, y_pred


def sklearn_prf(y_true, y_pred, K, average):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about ill-defined ratios
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=np.arange(K), average=average, zero_division=0
        )
    return p, r, f


# ---------------------------------------------------------------------------------------------
# confusion_matrix
# ---------------------------------------------------------------------------------------------


def test_confusion_matrix_hand_case_rows_are_truth():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    C = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(C, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert C.dtype == np.int64
    # repeated (true, pred) pairs are all counted
    np.testing.assert_array_equal(confusion_matrix([1, 1, 1], [0, 0, 0], 2), [[0, 0], [3, 0]])


@pytest.mark.parametrize("seed", range(12))
def test_confusion_matrix_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    N, K = int(rng.integers(1, 60)), int(rng.integers(2, 9))
    y_true, y_pred = random_labels(rng, N, K, missing_pred=seed % 3, missing_true=seed % 2)
    C = confusion_matrix(y_true, y_pred, K)
    np.testing.assert_array_equal(C, skm.confusion_matrix(y_true, y_pred, labels=np.arange(K)))
    assert C.sum() == N
    assert np.trace(C) / N == pytest.approx(accuracy(y_pred, y_true))


def test_confusion_matrix_infers_k_and_keeps_unseen_classes():
    C = confusion_matrix([0, 3], [3, 3])
    assert C.shape == (4, 4) and C[0, 3] == 1 and C[3, 3] == 1 and C.sum() == 2
    assert confusion_matrix([0], [0], 5).shape == (5, 5)


def test_confusion_matrix_bad_inputs():
    with pytest.raises(ValueError, match="confusion_matrix: y_pred has 2 labels but the batch"):
        confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"y_true must be class indices in \[0, 2\)"):
        confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="argmax"):
        confusion_matrix([0, 1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no labels"):
        confusion_matrix([], [])
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        confusion_matrix([0], [0], 0)
    with pytest.raises(ValueError, match=">= 0"):
        confusion_matrix([-1, 0], [0, 0])
    with pytest.raises(ValueError, match="integer class indices"):
        confusion_matrix([0.5, 1.0], [0, 1])


# ---------------------------------------------------------------------------------------------
# precision, recall, F1
# ---------------------------------------------------------------------------------------------


def test_precision_recall_f1_hand_case():
    # C = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]: column sums 2, 2, 2; row sums 2, 1, 3
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    p, r, f = precision_recall_f1(y_true, y_pred, 3)
    np.testing.assert_allclose(p, [1 / 2, 1 / 2, 2 / 2])
    np.testing.assert_allclose(r, [1 / 2, 1 / 1, 2 / 3])
    np.testing.assert_allclose(f, 2 * p * r / (p + r))
    mp, mr, mf = precision_recall_f1(y_true, y_pred, 3, average="macro")
    assert (mp, mr, mf) == pytest.approx((p.mean(), r.mean(), f.mean()))
    assert mf != pytest.approx(2 * mp * mr / (mp + mr)), "macro F1 is the mean of the F1s"
    assert all(isinstance(v, float) for v in (mp, mr, mf))


def test_zero_division_is_zero_and_counts_in_the_macro_mean():
    # class 2 is never predicted (precision 0/0) and class 3 never occurs nor is predicted
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 0])
    p, r, f = precision_recall_f1(y_true, y_pred, 4)
    np.testing.assert_array_equal(p[2:], [0.0, 0.0])
    np.testing.assert_array_equal(r[2:], [0.0, 0.0])
    np.testing.assert_array_equal(f[2:], [0.0, 0.0])
    assert not np.any(np.isnan(np.concatenate([p, r, f])))
    assert precision_recall_f1(y_true, y_pred, 4, average="macro")[2] == pytest.approx(f.sum() / 4)


@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
@pytest.mark.parametrize("seed", range(10))
def test_precision_recall_f1_matches_sklearn(seed, average):
    rng = np.random.default_rng(100 + seed)
    N, K = int(rng.integers(1, 50)), int(rng.integers(2, 8))
    y_true, y_pred = random_labels(rng, N, K, missing_pred=seed % 3, missing_true=(seed // 3) % 2)
    ours = precision_recall_f1(y_true, y_pred, K, average=average)
    theirs = sklearn_prf(y_true, y_pred, K, average)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    if average == "micro":
        assert ours[2] == pytest.approx(accuracy(y_pred, y_true))


@PROPERTY
@given(
    pairs=hnp.arrays(np.int64, st.tuples(st.integers(1, 40), st.just(2)),
                     elements=st.integers(0, 5)),
    K=st.integers(6, 8),
)
def test_property_metrics_agree_with_sklearn_and_stay_in_range(pairs, K):
    y_true, y_pred = pairs[:, 0], pairs[:, 1]
    p, r, f = precision_recall_f1(y_true, y_pred, K)
    for ours, theirs in zip((p, r, f), sklearn_prf(y_true, y_pred, K, None), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert np.all((0 <= f) & (f <= 1))
    assert np.all(f <= np.maximum(p, r) + 1e-12) and np.all(f >= np.minimum(p, r) - 1e-12)
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, K),
        skm.confusion_matrix(y_true, y_pred, labels=np.arange(K)),
    )


def test_f1_score_and_bad_average():
    y_true, y_pred = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    assert f1_score(y_true, y_pred, 3) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )
    np.testing.assert_allclose(f1_score(y_true, y_pred, 3, average=None),
                               skm.f1_score(y_true, y_pred, average=None))
    with pytest.raises(ValueError, match="precision_recall_f1: average must be None, 'macro'"):
        precision_recall_f1(y_true, y_pred, average="binary")


# ---------------------------------------------------------------------------------------------
# precision_recall_curve
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_precision_recall_curve_matches_sklearn(seed):
    rng = np.random.default_rng(200 + seed)
    N = int(rng.integers(1, 40))
    y = rng.integers(0, 2, size=N)
    y[0] = 1
    scores = rng.random(N)
    if seed % 2:
        scores = np.round(scores, 1)  # ties
    ours = precision_recall_curve(y, scores)
    theirs = skm.precision_recall_curve(y, scores)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_precision_recall_curve_points_are_the_threshold_rule():
    y = np.array([0, 1, 1, 0, 1])
    s = np.array([0.1, 0.9, 0.4, 0.4, 0.8])
    precision, recall, thresholds = precision_recall_curve(y, s)
    np.testing.assert_array_equal(thresholds, [0.1, 0.4, 0.8, 0.9])
    for i, t in enumerate(thresholds):
        p, r, _ = precision_recall_f1(y, (s >= t).astype(int), 2)
        assert (precision[i], recall[i]) == pytest.approx((p[1], r[1]))
    assert (precision[-1], recall[-1]) == (1.0, 0.0)


def test_precision_recall_curve_bad_inputs():
    with pytest.raises(ValueError, match="no positive example"):
        precision_recall_curve([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        precision_recall_curve([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"y_true must be class indices in \[0, 2\)"):
        precision_recall_curve([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\)"):
        precision_recall_curve([0, 1], np.zeros((2, 2)))
