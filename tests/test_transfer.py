"""nnlib.transfer: replace_head and extract_features."""

from __future__ import annotations

import numpy as np
import pytest

import nnlib
from nnlib.transfer import extract_features, replace_head


def small_cnn(rng, dtype=np.float64):
    return nnlib.Sequential(
        nnlib.Conv2d(1, 3, 3, padding=1, rng=rng, dtype=dtype), nnlib.BatchNorm2d(3, dtype=dtype),
        nnlib.ReLU(), nnlib.MaxPool2d(2), nnlib.Flatten(),
        nnlib.Linear(12, 5, rng=rng, dtype=dtype))


def test_replace_head_shares_the_body_freezes_it_and_draws_the_head_from_rng():
    net = small_cnn(np.random.default_rng(0), np.float32)
    old = list(net)
    new = replace_head(net, 2, rng=np.random.default_rng(1))
    assert list(net) == old and len(new) == len(net)
    assert all(a is b for a, b in zip(list(new)[:-1], old[:-1], strict=True))
    want = nnlib.Linear(12, 2, rng=np.random.default_rng(1), dtype=np.float32)
    assert np.array_equal(new[-1].weight.data, want.weight.data)
    assert new[-1].weight.dtype == np.float32
    flags = [p.requires_grad for p in new.parameters()]
    assert flags == [False] * 4 + [True, True]
    new.eval()
    assert new(np.zeros((3, 1, 4, 4), np.float32)).shape == (3, 2)
    again = replace_head(net, 4, rng=np.random.default_rng(2), freeze=False)
    assert all(p.requires_grad for p in again.parameters())


def test_replace_head_trains_only_the_head_when_frozen():
    rng = np.random.default_rng(3)
    new = replace_head(small_cnn(rng), 2, rng=rng)
    body = [p.data.copy() for p in new.parameters()][:4]
    X, y = rng.normal(size=(8, 1, 4, 4)), rng.integers(0, 2, 8)
    head_before = new[-1].weight.data.copy()
    nnlib.fit(new, nnlib.CrossEntropyLoss(), nnlib.SGD(new.parameters(), lr=0.1), X, y,
              epochs=2, batch_size=4, rng=rng, verbose=False)
    assert all(np.array_equal(a, p.data) for a, p in zip(body, new.parameters(), strict=False))
    assert not np.array_equal(head_before, new[-1].weight.data)


@pytest.mark.parametrize("bad", [nnlib.Linear(2, 2, rng=np.random.default_rng(0)),
                                 nnlib.Sequential(nnlib.ReLU(), nnlib.ReLU())])
def test_replace_head_errors(bad):
    with pytest.raises(ValueError, match="replace_head"):
        replace_head(bad, 2, rng=np.random.default_rng(0))


def test_extract_features_is_eval_mode_in_chunks_and_restores_the_mode():
    rng = np.random.default_rng(4)
    base = small_cnn(rng)[:-1]
    base[1].running_mean = rng.normal(size=3)
    X = rng.normal(size=(7, 1, 4, 4))
    state = base.state_dict()
    base.eval()
    want = base(X)
    base.train()
    for batch_size in (1, 3, 7, 100):
        got = extract_features(base, X, batch_size=batch_size)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert base.training
    assert all(np.array_equal(v, state[k]) for k, v in base.state_dict().items())
    base.eval()
    extract_features(base, X[:1])
    assert not base.training
    assert extract_features(nnlib.Sequential(nnlib.ReLU()), X).shape == (7, 16)


def test_extract_features_errors():
    with pytest.raises(ValueError, match="extract_features"):
        extract_features(nnlib.ReLU(), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="extract_features"):
        extract_features(nnlib.ReLU(), np.zeros((2, 3)), batch_size=0)
