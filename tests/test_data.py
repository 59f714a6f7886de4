"""Tests for nnlib.data: offline data sets, their determinism, the MNIST-1D fingerprint and
the train/validation/test split. No test may touch the network."""

from __future__ import annotations

import hashlib
import random
import socket

import numpy as np
import pytest

import nnlib.data
from nnlib.data import (
    load_digits,
    load_mnist1d,
    make_circles,
    make_moons,
    make_spirals,
    train_val_test_split,
)

# Published MNIST-1D (4000 train / 1000 test): fingerprints of the *training* split x, y.
MNIST1D_Y_HEAD = [2, 6, 4, 5, 6, 6, 6, 0, 3, 1]
MNIST1D_X0_HEAD = [-0.332005667369, -0.471910365656, -0.778697076293, -1.009740826537,
                   -0.882352565405]
MNIST1D_Y_SHA256_PREFIX = "d97dc7ae"


def _no_network(*args, **kwargs):
    raise AssertionError("a data function tried to use the network")


def _block_network(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(socket.socket, "connect", _no_network)
    mp.setattr(socket.socket, "connect_ex", _no_network)
    mp.setattr(socket, "getaddrinfo", _no_network)
    mp.setattr(socket, "create_connection", _no_network)


@pytest.fixture(scope="module")
def mnist1d():
    """The default MNIST-1D, generated once for this module with the network blocked and the
    in-process cache cleared, so the generation itself is what runs offline."""
    nnlib.data._mnist1d.cache_clear()
    with pytest.MonkeyPatch.context() as mp:
        _block_network(mp)
        return load_mnist1d()


# ---------------------------------------------------------------------------------------------
# Offline guarantee
# ---------------------------------------------------------------------------------------------


def test_data_functions_never_open_a_socket(monkeypatch, mnist1d):
    _block_network(monkeypatch)
    rng = np.random.default_rng(0)
    load_digits()
    make_moons(20, rng=rng)
    make_circles(20, rng=rng)
    make_spirals(30, rng=rng)
    small = load_mnist1d(num_samples=100, seed=7)  # not cached: generated under the block
    assert small["x"].shape == (80, 40)
    train_val_test_split(np.ones((10, 2)), np.arange(10), rng=rng)
    with pytest.raises(AssertionError, match="network"):
        socket.create_connection(("127.0.0.1", 9))  # the block itself works


# ---------------------------------------------------------------------------------------------
# Digits and toy generators
# ---------------------------------------------------------------------------------------------


def test_load_digits():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    X2, _ = load_digits()
    X2[0, 0] = 99.0
    assert load_digits()[0][0, 0] != 99.0


GENERATORS = {
    "moons": (make_moons, {}, 2),
    "circles": (make_circles, {}, 2),
    "spirals": (make_spirals, {}, 3),
    "spirals5": (make_spirals, {"n_classes": 5}, 5),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generators_shapes_dtypes_and_balance(name):
    make, kwargs, K = GENERATORS[name]
    X, y = make(101, rng=np.random.default_rng(0), **kwargs)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == K and counts.max() - counts.min() <= 1, counts
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generators_are_deterministic_per_rng(name):
    make, kwargs, _ = GENERATORS[name]
    Xa, ya = make(50, rng=np.random.default_rng(1), **kwargs)
    Xb, yb = make(50, rng=np.random.default_rng(1), **kwargs)
    Xc, _ = make(50, rng=np.random.default_rng(2), **kwargs)
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)
    # Sorting each column compares the point sets, so a new order alone does not count.
    assert not np.allclose(np.sort(Xa, axis=0), np.sort(Xc, axis=0)), (
        "different rngs must give different points"
    )
    rng = np.random.default_rng(3)
    Xd, Xe = make(50, rng=rng, **kwargs)[0], make(50, rng=rng, **kwargs)[0]
    assert not np.allclose(np.sort(Xd, axis=0), np.sort(Xe, axis=0)), (
        "two draws from the same generator must differ (the rng must advance)"
    )


def test_spirals_geometry():
    X, y = make_spirals(300, noise=0.0, rng=np.random.default_rng(0))
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() == pytest.approx(1.0) and r.min() == pytest.approx(0.0)
    for k in range(3):
        rk = np.sort(r[y == k])
        np.testing.assert_allclose(rk, np.linspace(0, 1, 100), atol=1e-12)
        angle = np.arctan2(X[y == k, 0], X[y == k, 1])  # x = r sin t, y = r cos t
        end = X[y == k][np.argmax(r[y == k])]
        assert np.arctan2(end[0], end[1]) == pytest.approx(np.angle(np.exp(1j * 4 * (k + 1))))
        assert angle.size == 100
    assert not np.array_equal(y, np.sort(y)), "make_spirals shuffles the rows"


def test_moons_and_circles_geometry():
    X, y = make_circles(200, noise=0.0, factor=0.3, rng=np.random.default_rng(0))
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)
    X, y = make_moons(200, noise=0.0, rng=np.random.default_rng(0))
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0)


def test_generator_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="make_moons: n_samples"):
        make_moons(0, rng=rng)
    with pytest.raises(ValueError, match="make_moons: noise"):
        make_moons(10, noise=-0.1, rng=rng)
    with pytest.raises(ValueError, match="make_circles: factor"):
        make_circles(10, factor=1.5, rng=rng)
    with pytest.raises(ValueError, match="make_spirals: rng"):
        make_spirals(10, rng=42)
    with pytest.raises(ValueError, match="make_spirals: n_samples=2 is less than n_classes=3"):
        make_spirals(2, rng=rng)


# ---------------------------------------------------------------------------------------------
# MNIST-1D
# ---------------------------------------------------------------------------------------------


def test_mnist1d_shapes_and_dtypes(mnist1d):
    assert mnist1d["x"].shape == (4000, 40) and mnist1d["x_test"].shape == (1000, 40)
    assert mnist1d["y"].shape == (4000,) and mnist1d["y_test"].shape == (1000,)
    assert mnist1d["x"].dtype == mnist1d["x_test"].dtype == np.float64
    assert mnist1d["y"].dtype == mnist1d["y_test"].dtype == np.int64
    assert mnist1d["t"].shape == (40,)
    assert mnist1d["templates"]["x"].shape == (10, 12)
    assert set(np.unique(mnist1d["y"])) == set(range(10))


def test_mnist1d_fingerprint(mnist1d):
    assert mnist1d["y"][:10].tolist() == MNIST1D_Y_HEAD
    np.testing.assert_allclose(mnist1d["x"][0, :5], MNIST1D_X0_HEAD, rtol=0, atol=1e-11)
    digest = hashlib.sha256(mnist1d["y"].astype("<i8").tobytes()).hexdigest()
    assert digest.startswith(MNIST1D_Y_SHA256_PREFIX), digest
    # Whole data set centred and scaled to unit std by mnist1d.
    both = np.concatenate([mnist1d["x"], mnist1d["x_test"]])
    assert abs(both.mean()) < 1e-12 and both.std() == pytest.approx(1.0)


def test_mnist1d_cache_returns_copies(mnist1d):
    first = load_mnist1d()
    first["x"][0, 0] = 1e6
    first["templates"]["x"][0, 0] = 1e6
    second = load_mnist1d()
    assert second["x"][0, 0] == mnist1d["x"][0, 0]
    assert second["templates"]["x"][0, 0] == mnist1d["templates"]["x"][0, 0]
    assert second["x"] is not mnist1d["x"]


def test_mnist1d_leaves_the_global_random_state_alone():
    np.random.seed(123)  # noqa: NPY002 - the global state is what is being protected
    random.seed(123)
    expected_np = np.random.random()  # noqa: NPY002
    expected_py = random.random()
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    load_mnist1d(num_samples=20, seed=3)
    assert np.random.random() == expected_np  # noqa: NPY002
    assert random.random() == expected_py


def test_mnist1d_other_arguments():
    data = load_mnist1d(num_samples=50, train_split=0.6, seed=1)
    assert data["x"].shape == (30, 40) and data["x_test"].shape == (20, 40)
    other = load_mnist1d(num_samples=50, train_split=0.6, seed=2)
    assert not np.allclose(data["x"], other["x"])
    with pytest.raises(ValueError, match="load_mnist1d: num_samples must be a multiple of 10"):
        load_mnist1d(num_samples=55)
    with pytest.raises(ValueError, match="load_mnist1d: train_split"):
        load_mnist1d(train_split=1.0)
    with pytest.raises(ValueError, match="load_mnist1d: seed"):
        load_mnist1d(seed=-1)


# ---------------------------------------------------------------------------------------------
# train_val_test_split
# ---------------------------------------------------------------------------------------------


def _split(n=100, **kwargs):
    X = np.arange(n * 3).reshape(n, 3)  # row i starts with 3 i: identifies the row
    y = np.arange(n) % 4
    kwargs.setdefault("rng", np.random.default_rng(0))
    return X, y, train_val_test_split(X, y, **kwargs)


def test_split_is_disjoint_covering_and_aligned():
    X, y, (Xtr, ytr, Xv, yv, Xte, yte) = _split(101)
    rows = [part[:, 0] // 3 for part in (Xtr, Xv, Xte)]
    assert [len(r) for r in rows] == [71, 15, 15]
    allrows = np.concatenate(rows)
    assert sorted(allrows.tolist()) == list(range(101)), "the sets must cover every row once"
    for part_X, part_y in ((Xtr, ytr), (Xv, yv), (Xte, yte)):
        np.testing.assert_array_equal(part_y, y[part_X[:, 0] // 3])
    assert not np.array_equal(allrows, np.arange(101)), "the rows must be shuffled"


def test_split_determinism_and_rng_dependence():
    _, _, a = _split(rng=np.random.default_rng(5))
    _, _, b = _split(rng=np.random.default_rng(5))
    _, _, c = _split(rng=np.random.default_rng(6))
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_split_fractions_and_stratify():
    X, y, parts = _split(200, val_fraction=0.1, test_fraction=0.25)
    assert [len(parts[i]) for i in (1, 3, 5)] == [130, 20, 50]
    _, _, parts = _split(19, val_fraction=0.15, test_fraction=0.1)  # 2.85 and 1.9 rows
    assert [len(parts[i]) for i in (1, 3, 5)] == [14, 3, 2], "sizes are rounded to nearest"
    _, _, parts = _split(200, val_fraction=0.0, test_fraction=0.2)
    assert len(parts[3]) == 0 and len(parts[5]) == 40

    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(100)[:, None]
    Xtr, ytr, Xv, yv, Xte, yte = train_val_test_split(
        X, y, val_fraction=0.2, test_fraction=0.1, rng=np.random.default_rng(0), stratify=True
    )
    assert np.bincount(yv).tolist() == [16, 4] and np.bincount(yte).tolist() == [8, 2]
    assert np.bincount(ytr).tolist() == [56, 14]
    assert sorted(np.concatenate([Xtr, Xv, Xte])[:, 0].tolist()) == list(range(100))
    np.testing.assert_array_equal(y[Xv[:, 0]], yv)
    assert not np.array_equal(ytr, np.sort(ytr)), "stratified sets are shuffled too"


def test_split_bad_arguments():
    X, y = np.ones((10, 2)), np.zeros(10)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="train_val_test_split: X and y must have the same"):
        train_val_test_split(X, y[:9], rng=rng)
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        train_val_test_split(X, y, val_fraction=0.5, test_fraction=0.5, rng=rng)
    with pytest.raises(ValueError, match="train_val_test_split: val_fraction"):
        train_val_test_split(X, y, val_fraction=-0.1, rng=rng)
    with pytest.raises(ValueError, match="train_val_test_split: rng"):
        train_val_test_split(X, y, rng=None)
    with pytest.raises(ValueError, match="integer class indices"):
        train_val_test_split(X, y + 0.5, rng=rng, stratify=True)
