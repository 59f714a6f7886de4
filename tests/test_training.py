"""Tests for nnlib.training: minibatches, accuracy, predict, evaluate, fit and History;
kfold_indices and cross_validate (against scikit-learn's KFold) and EarlyStopping."""

from __future__ import annotations

import numpy as np
import pytest

from nnlib.data import load_digits
from nnlib.modules import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Linear,
    Module,
    MSELoss,
    ReLU,
    Sequential,
    Tanh,
)
from nnlib.optim import SGD
from nnlib.training import (
    Callback,
    EarlyStopping,
    History,
    accuracy,
    cross_validate,
    evaluate,
    fit,
    kfold_indices,
    minibatches,
    predict,
)


class Identity(Module):
    """Returns its input and records the training flag of every forward call."""

    def __init__(self) -> None:
        self.modes: list[bool] = []

    def forward(self, x):
        self.modes.append(self.training)
        return x

    def backward(self, dout):
        return dout


def tiny_problem(seed: int = 0, n: int = 60):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def tiny_net(seed: int = 0) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(Linear(4, 8, rng=rng), Tanh(), Linear(8, 3, rng=rng))


# ---------------------------------------------------------------------------------------------
# minibatches
# ---------------------------------------------------------------------------------------------


def test_minibatches_cover_every_row_once_and_keep_pairs_aligned():
    X = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    batches = list(minibatches(X, y, 5, rng=np.random.default_rng(0)))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23))
    assert not np.array_equal(seen, np.arange(23)), "shuffle=True must permute the rows"
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)


def test_minibatches_determinism_and_no_shuffle():
    X, y = np.arange(10.0)[:, None], np.arange(10)
    a = [yb for _, yb in minibatches(X, y, 4, rng=np.random.default_rng(3))]
    b = [yb for _, yb in minibatches(X, y, 4, rng=np.random.default_rng(3))]
    c = [yb for _, yb in minibatches(X, y, 4, rng=np.random.default_rng(4))]
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c, strict=True))
    ordered = [yb.tolist() for _, yb in minibatches(X, y, 4, shuffle=False)]
    assert ordered == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_minibatches_bad_arguments():
    X, y = np.ones((5, 2)), np.zeros(5)
    with pytest.raises(ValueError, match="minibatches: shuffle=True needs rng"):
        minibatches(X, y, 2)
    with pytest.raises(ValueError, match="minibatches: batch_size"):
        minibatches(X, y, 0, shuffle=False)
    with pytest.raises(ValueError, match=r"minibatches: X and y must have the same number"):
        minibatches(X, np.zeros(4), 2, shuffle=False)


# ---------------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------------


def test_accuracy_hand_cases():
    scores = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert accuracy(scores, np.array([1, 0, 2, 2])) == 0.75
    assert accuracy(np.array([1, 2, 3]), np.array([1, 2, 0])) == pytest.approx(2 / 3)
    logits = np.array([2.0, -1.0, 0.5, -3.0])
    assert accuracy(logits, np.array([1, 0, 0, 0])) == 0.75
    assert accuracy(logits[:, None], np.array([[1.0], [0.0], [0.0], [0.0]])) == 0.75
    assert accuracy(logits[:, None], np.array([1.0, 0.0, 0.0, 0.0])) == 0.75
    assert accuracy(np.array([0.0]), np.array([0])) == 1.0, "a logit of exactly 0 predicts 0"
    assert isinstance(accuracy(scores, np.array([1, 0, 2, 2])), float)


def test_accuracy_bad_inputs():
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match="accuracy: y has 2 labels but the batch has N=3"):
        accuracy(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="one-hot"):
        accuracy(scores, np.eye(4)[[0, 1, 2]])
    with pytest.raises(ValueError, match="accuracy: y must be class indices in"):
        accuracy(scores, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="accuracy: y_pred must hold at least one"):
        accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int))


# ---------------------------------------------------------------------------------------------
# predict and evaluate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start_training", [True, False])
def test_predict_runs_in_eval_mode_and_restores_the_mode(start_training):
    net = Identity().train(start_training)
    X = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(predict(net, X), X)
    np.testing.assert_array_equal(predict(net, X, batch_size=4), X)
    assert net.modes == [False, False, False]
    assert net.training is start_training


def test_predict_batched_equals_full():
    net = tiny_net()
    X = np.random.default_rng(1).standard_normal((11, 4))
    np.testing.assert_allclose(predict(net, X, batch_size=3), predict(net, X))


def test_evaluate_hand_case_and_batching():
    logits = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    y = np.array([0, 0, 0, 1])
    net = Identity()
    result = evaluate(net, CrossEntropyLoss(), logits, y)
    lse = np.log(np.exp(logits).sum(axis=1))
    expected = np.mean(lse - logits[np.arange(4), y])
    assert result == {"loss": pytest.approx(expected), "accuracy": 0.5}
    batched = evaluate(net, CrossEntropyLoss(), logits, y, batch_size=3)
    assert batched["loss"] == pytest.approx(expected) and batched["accuracy"] == 0.5
    assert all(m is False for m in net.modes) and net.training


def test_evaluate_regression_has_no_accuracy():
    X = np.array([[1.0], [3.0]])
    result = evaluate(Identity(), MSELoss(), X, np.zeros((2, 1)))
    assert result == {"loss": pytest.approx(5.0)}


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------


def _fit_tiny(seed=0, **kwargs):
    X, y = tiny_problem()
    net = tiny_net(seed)
    opt = SGD(net.parameters(), lr=0.2, momentum=0.9)
    kwargs.setdefault("rng", np.random.default_rng(seed))
    history = fit(net, CrossEntropyLoss(), opt, X, y, epochs=kwargs.pop("epochs", 4),
                  batch_size=16, verbose=False, **kwargs)
    return net, history


def test_fit_history_keys_and_lengths():
    X, y = tiny_problem()
    _, history = _fit_tiny(epochs=5, validation_data=(X[:20], y[:20]))
    assert isinstance(history, History)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 5 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.params == {"epochs": 5, "batch_size": 16, "steps": 4, "num_samples": 60}
    assert all(0.0 <= a <= 1.0 for a in history.history["accuracy"])
    assert history.history["loss"][-1] < history.history["loss"][0]

    _, plain = _fit_tiny(epochs=2)
    assert list(plain.history) == ["loss", "accuracy"]


def test_fit_records_size_weighted_epoch_means():
    # With lr = 0 the weights never change, so the epoch means over batches of 16, 16, 16, 12
    # must equal the loss and accuracy of one pass over all 60 rows.
    X, y = tiny_problem()
    net = tiny_net()
    crit = CrossEntropyLoss()
    history = fit(net, crit, SGD(net.parameters(), lr=0.0), X, y, epochs=2, batch_size=16,
                  rng=np.random.default_rng(0), validation_data=(X[:25], y[:25]), verbose=False)
    full, val = evaluate(net, crit, X, y), evaluate(net, crit, X[:25], y[:25])
    assert history.history["loss"] == pytest.approx([full["loss"]] * 2, rel=1e-12)
    assert history.history["accuracy"] == pytest.approx([full["accuracy"]] * 2, rel=1e-12)
    assert history.history["val_loss"] == pytest.approx([val["loss"]] * 2, rel=1e-12)
    assert history.history["val_accuracy"] == pytest.approx([val["accuracy"]] * 2, rel=1e-12)


def test_fit_regression_records_loss_only():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    net = Sequential(Linear(3, 1, rng=rng))
    history = fit(net, MSELoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=30,
                  batch_size=8, rng=rng, validation_data=(X, y), verbose=False)
    assert list(history.history) == ["loss", "val_loss"]
    assert history.history["loss"][-1] < 1e-3


def test_fit_binary_classification_with_bce():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 2))
    y = (X[:, :1] > 0).astype(np.float64)
    net = Sequential(Linear(2, 1, rng=rng))
    history = fit(net, BCEWithLogitsLoss(), SGD(net.parameters(), lr=0.5), X, y, epochs=20,
                  batch_size=16, rng=rng, verbose=False)
    assert history.history["accuracy"][-1] > 0.95


def test_fit_is_deterministic_for_a_fixed_rng():
    net_a, hist_a = _fit_tiny(seed=0)
    net_b, hist_b = _fit_tiny(seed=0)
    assert hist_a.history == hist_b.history
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)
    _, hist_c = _fit_tiny(seed=0, rng=np.random.default_rng(1))
    assert hist_c.history["loss"] != hist_a.history["loss"], "the rng must drive the shuffling"


def test_fit_matches_a_hand_written_loop():
    X, y = tiny_problem()
    net, _ = _fit_tiny(seed=0, epochs=2)

    ref = tiny_net(0)
    opt = SGD(ref.parameters(), lr=0.2, momentum=0.9)
    crit = CrossEntropyLoss()
    rng = np.random.default_rng(0)
    for _ in range(2):
        for Xb, yb in minibatches(X, y, 16, rng=rng):
            crit(ref(Xb), yb)
            opt.zero_grad()
            ref.backward(crit.backward())
            opt.step()
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=0, atol=1e-12)


def test_fit_modes_train_during_epochs_eval_for_validation_and_restored():
    X, y = tiny_problem(n=10)
    spy = Identity()
    net = Sequential(Linear(4, 3, rng=np.random.default_rng(0)), spy).eval()
    fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=2,
        batch_size=5, rng=np.random.default_rng(0), validation_data=(X, y), verbose=False)
    assert spy.modes == [True, True, False, False] * 2  # 2 train and 2 validation batches
    assert net.training is False


def test_fit_reaches_90_percent_on_digits_in_five_epochs_of_work():
    """Quickly, counted rather than timed: 5 epochs are exactly ceil(1797 / 32) = 57 steps
    each, and the network sees each example once per epoch (no extra forward passes)."""
    X, y = load_digits()
    rng = np.random.default_rng(0)
    net = Sequential(Linear(64, 32, rng=rng, init="he_uniform"), ReLU(), Linear(32, 10, rng=rng))
    opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
    steps, rows_seen = [], []
    real_step, real_forward = opt.step, net[0].forward
    opt.step = lambda: steps.append(1) or real_step()
    net[0].forward = lambda x: rows_seen.append(len(x)) or real_forward(x)
    history = fit(net, CrossEntropyLoss(), opt, X, y, epochs=5, batch_size=32, rng=rng,
                  verbose=False)
    assert len(steps) == 5 * -(-len(X) // 32) == 285
    assert len(rows_seen) == 285 and sum(rows_seen) == 5 * len(X)
    final = evaluate(net, CrossEntropyLoss(), X, y)["accuracy"]
    assert history.history["accuracy"][-1] > 0.9 and final > 0.9, (history.history, final)


def test_fit_raises_on_nan_loss_naming_the_epoch():
    X, y = tiny_problem()
    X[7, 2] = np.nan
    net = tiny_net()
    before = [p.data.copy() for p in net.parameters()]
    with pytest.raises(FloatingPointError, match=r"fit: the training loss became nan in epoch 1 "):
        fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=3,
            batch_size=len(X), rng=np.random.default_rng(0), verbose=False)
    for p, b in zip(net.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b, err_msg="the NaN batch must not be applied")


class NaNAfter(Module):
    """Passes its input through until it has seen ``n`` forward calls, then returns NaN."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def forward(self, x):
        self.calls += 1
        return x if self.calls <= self.n else np.full_like(x, np.nan)

    def backward(self, dout):
        return dout


def test_fit_nan_error_names_a_later_epoch():
    X, y = tiny_problem(n=20)
    net = Sequential(Linear(4, 3, rng=np.random.default_rng(0)), NaNAfter(2 * 2 + 1))
    with pytest.raises(FloatingPointError, match=r"in epoch 3 of 4 \(batch 2\)"):
        fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=4,
            batch_size=10, rng=np.random.default_rng(0), verbose=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fit_raises_when_a_huge_learning_rate_diverges():
    X, y = tiny_problem()
    X = X * 1e3
    net = tiny_net()
    with pytest.raises(FloatingPointError, match="in epoch"):
        fit(net, MSELoss(), SGD(net.parameters(), lr=1e6), X, np.zeros((60, 3)), epochs=50,
            batch_size=10, rng=np.random.default_rng(0), verbose=False)


def test_fit_verbose_false_prints_nothing(capfd):
    _fit_tiny(epochs=2)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_fit_verbose_shows_a_progress_bar(capfd):
    X, y = tiny_problem()
    net = tiny_net()
    fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=2,
        rng=np.random.default_rng(0), validation_data=(X, y))
    out, err = capfd.readouterr()
    assert "2/2" in err and "loss=" in err and "val_acc=" in err, err


def test_fit_callbacks_can_stop_training():
    seen: list[tuple[int, list[str]]] = []

    class StopAfterTwo(Callback):
        def on_train_begin(self):
            self.began = self.model is not None and isinstance(self.history, History)

        def on_epoch_end(self, epoch, logs):
            return epoch == 1

        def on_train_end(self):
            self.ended = True

    cb = StopAfterTwo()
    _, history = _fit_tiny(epochs=10, callbacks=[cb, lambda e, logs: seen.append((e, list(logs)))])
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    assert cb.began and cb.ended
    assert seen == [(0, ["loss", "accuracy"]), (1, ["loss", "accuracy"])]


def test_fit_bad_arguments():
    X, y = tiny_problem()
    net = tiny_net()
    opt = SGD(net.parameters(), lr=0.1)
    crit = CrossEntropyLoss()
    with pytest.raises(ValueError, match="fit: rng"):
        fit(net, crit, opt, X, y, epochs=1, rng=None, verbose=False)
    with pytest.raises(ValueError, match="fit: X and y must have the same number of rows"):
        fit(net, crit, opt, X, y[:-1], epochs=1, rng=np.random.default_rng(0), verbose=False)
    with pytest.raises(ValueError, match="fit: epochs"):
        fit(net, crit, opt, X, y, epochs=0, rng=np.random.default_rng(0), verbose=False)
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        fit(net, crit, opt, X, y, epochs=1, rng=np.random.default_rng(0), verbose=False,
            validation_data=X)
    with pytest.raises(TypeError, match="fit: optimizer"):
        fit(net, crit, None, X, y, epochs=1, rng=np.random.default_rng(0), verbose=False)


# ---------------------------------------------------------------------------------------------
# kfold_indices and cross_validate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "k"), [(10, 3), (7, 7), (23, 5), (2, 2), (100, 10), (11, 4)])
def test_kfold_sizes_and_splits_match_sklearn(n, k):
    from sklearn.model_selection import KFold

    sk = list(KFold(n_splits=k).split(np.zeros((n, 1))))
    # without shuffling the folds are exactly scikit-learn's
    for (train, val), (sk_train, sk_val) in zip(kfold_indices(n, k, shuffle=False), sk,
                                                strict=True):
        np.testing.assert_array_equal(train, sk_train)
        np.testing.assert_array_equal(val, sk_val)
    sk_shuffled = KFold(n_splits=k, shuffle=True, random_state=0).split(np.zeros((n, 1)))
    folds = kfold_indices(n, k, rng=np.random.default_rng(0))
    assert [len(v) for _, v in folds] == [len(v) for _, v in sk_shuffled]
    assert [len(v) for _, v in folds] == [n // k + (i < n % k) for i in range(k)]
    # every index is validated exactly once; train is the sorted complement of val
    np.testing.assert_array_equal(np.sort(np.concatenate([v for _, v in folds])), np.arange(n))
    for train, val in folds:
        np.testing.assert_array_equal(train, np.setdiff1d(np.arange(n), val))
        assert train.dtype == val.dtype == np.int64


def test_kfold_val_blocks_follow_one_permutation_of_the_rng():
    order = np.random.default_rng(5).permutation(11)
    folds = kfold_indices(11, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(np.concatenate([v for _, v in folds]), order)
    again = kfold_indices(11, 3, rng=np.random.default_rng(5))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_kfold_bad_arguments():
    with pytest.raises(ValueError, match="kfold_indices: k must be at least 2"):
        kfold_indices(5, 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="k=6 folds need at least k samples"):
        kfold_indices(5, 6, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="kfold_indices: shuffle=True needs rng"):
        kfold_indices(5, 2)
    with pytest.raises(ValueError, match="kfold_indices: n_samples must be a positive integer"):
        kfold_indices(0, 2, rng=np.random.default_rng(0))


def test_cross_validate_passes_each_fold_and_returns_scores_in_fold_order():
    X = np.arange(13.0)[:, None]
    y = np.arange(13) % 3
    calls = []

    def train_and_score(X_train, y_train, X_val, y_val):
        calls.append((X_train[:, 0].astype(int), X_val[:, 0].astype(int)))
        np.testing.assert_array_equal(y_train, X_train[:, 0].astype(int) % 3)  # rows aligned
        np.testing.assert_array_equal(y_val, X_val[:, 0].astype(int) % 3)
        return float(X_val.sum())

    scores = cross_validate(train_and_score, X, y, k=4, rng=np.random.default_rng(2))
    folds = kfold_indices(13, 4, rng=np.random.default_rng(2))
    assert scores.shape == (4,) and scores.dtype == np.float64
    for (train, val), (seen_train, seen_val), score in zip(folds, calls, scores, strict=True):
        np.testing.assert_array_equal(seen_train, train)
        np.testing.assert_array_equal(seen_val, val)
        assert score == val.sum()


def test_cross_validate_on_digits_gives_sensible_scores():
    X, y = load_digits()
    X, y = X[:400], y[:400]

    def train_and_score(X_train, y_train, X_val, y_val):
        rng = np.random.default_rng(0)
        net = Sequential(Linear(64, 10, rng=rng))
        fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.5), X_train, y_train,
            epochs=5, rng=rng, verbose=False)
        return evaluate(net, CrossEntropyLoss(), X_val, y_val)["accuracy"]

    scores = cross_validate(train_and_score, X, y, k=4, rng=np.random.default_rng(0))
    assert np.all(scores > 0.8) and scores.std() < 0.1, scores


def test_cross_validate_bad_arguments():
    with pytest.raises(TypeError, match="train_and_score must be a function"):
        cross_validate(None, np.zeros((4, 1)), np.zeros(4), k=2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="cross_validate: X and y must have the same number"):
        cross_validate(lambda *a: 0.0, np.zeros((4, 1)), np.zeros(3), k=2,
                       rng=np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# EarlyStopping
# ---------------------------------------------------------------------------------------------


class WeightRecorder(Callback):
    """Records the weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs):
        self.weights.append(self.model.state_dict())
        return None


def run_scripted(values, epochs=None, **kwargs):
    """fit for len(values) epochs with val_loss replaced by `values`; returns (net, history,
    EarlyStopping, the weights after each epoch)."""
    X, y = tiny_problem()
    net = tiny_net()
    recorder = WeightRecorder()
    stopper = EarlyStopping(**kwargs)
    original = stopper.on_epoch_end

    def patched(epoch, logs):
        logs = dict(logs, val_loss=values[epoch])
        return original(epoch, logs)

    stopper.on_epoch_end = patched
    history = fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y,
                  epochs=epochs or len(values), batch_size=16, rng=np.random.default_rng(0),
                  validation_data=(X, y), verbose=False, callbacks=[recorder, stopper])
    return net, history, stopper, recorder.weights


def assert_weights(net, state):
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    values = [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.95, 0.5]
    net, history, es, weights = run_scripted(values, patience=3)
    # best at epoch 2; epochs 3, 4, 5 do not improve; stop after epoch 5 (Keras: wait >= 3)
    assert history.epoch == [0, 1, 2, 3, 4, 5]
    assert (es.best, es.best_epoch, es.stopped_epoch, es.wait) == (0.7, 2, 5, 3)
    assert_weights(net, weights[2])
    assert not np.array_equal(weights[2]["0.weight"], weights[5]["0.weight"])


def test_early_stopping_min_delta_and_patience_zero():
    # improvements smaller than min_delta do not count
    _, history, es, _ = run_scripted([1.0, 0.95, 0.91, 0.5], patience=2, min_delta=0.1)
    assert history.epoch == [0, 1, 2] and es.best_epoch == 0 and es.stopped_epoch == 2
    # an improvement of exactly min_delta does not count either (strict inequality)
    _, history, es, _ = run_scripted([1.0, 0.5, 0.25], patience=0, min_delta=0.5)
    assert history.epoch == [0, 1] and es.best_epoch == 0
    # patience=0 stops at the first epoch that does not improve; ties do not improve
    _, history, es, _ = run_scripted([1.0, 0.9, 0.9, 0.1], patience=0)
    assert history.epoch == [0, 1, 2] and es.best_epoch == 1


def test_early_stopping_restores_even_when_training_runs_out_of_epochs():
    values = [1.0, 0.5, 0.6, 0.7]
    net, history, es, weights = run_scripted(values, patience=10)
    assert history.epoch == [0, 1, 2, 3] and es.stopped_epoch is None
    assert_weights(net, weights[1])
    net, _, _, weights = run_scripted(values, patience=10, restore_best_weights=False)
    assert_weights(net, weights[3])


def test_early_stopping_with_real_validation_loss_keras_semantics():
    # val_loss is computed on the validation set; the restored weights give the best val_loss
    X, y = tiny_problem(seed=1, n=40)
    X_val, y_val = tiny_problem(seed=2, n=40)
    net = tiny_net(1)
    es = EarlyStopping(patience=2)
    history = fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=1.0), X, y, epochs=60,
                  batch_size=8, rng=np.random.default_rng(0), validation_data=(X_val, y_val),
                  verbose=False, callbacks=[es])
    val = history.history["val_loss"]
    assert es.best == min(val) and es.best_epoch == int(np.argmin(val))
    assert len(val) == es.best_epoch + 3 or len(val) == 60
    assert evaluate(net, CrossEntropyLoss(), X_val, y_val)["loss"] == pytest.approx(es.best,
                                                                                   rel=1e-12)


def test_early_stopping_max_mode_and_reuse():
    _, history, es, _ = run_scripted([0.1, 0.2, 0.3], monitor="val_loss", mode="max",
                                     patience=0)
    assert history.epoch == [0, 1, 2] and es.best == 0.3
    es2 = EarlyStopping(monitor="val_accuracy")
    assert es2.mode == "max" and EarlyStopping().mode == "min"
    # one callback, two runs: the state is reset by on_train_begin
    X, y = tiny_problem()
    stopper = EarlyStopping(patience=1)
    for _ in range(2):
        net = tiny_net()
        fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=3,
            rng=np.random.default_rng(0), validation_data=(X, y), verbose=False,
            callbacks=[stopper])
        assert stopper.best_epoch is not None and stopper.best_epoch <= 2


def test_early_stopping_bad_arguments():
    with pytest.raises(ValueError, match="EarlyStopping: patience must be an integer >= 0"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta must be a finite number >= 0"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")
    X, y = tiny_problem()
    net = tiny_net()
    with pytest.raises(KeyError, match="val_\\* needs validation_data"):
        fit(net, CrossEntropyLoss(), SGD(net.parameters(), lr=0.1), X, y, epochs=2,
            rng=np.random.default_rng(0), verbose=False, callbacks=[EarlyStopping()])


def test_references_accept_the_notebook_signatures():
    # Lesson 06 lets a stuck learner swap in the reference: minibatches(X, y, batch_size, rng),
    # kfold_indices(N, k, rng) and cross_validate(train_and_score, X, y, k, rng) positionally.
    X, y = np.arange(14.0)[:, None], np.arange(14)
    a = [yb for _, yb in minibatches(X, y, 4, np.random.default_rng(1))]
    b = [yb for _, yb in minibatches(X, y, 4, rng=np.random.default_rng(1))]
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    f1 = kfold_indices(14, 3, np.random.default_rng(2))
    f2 = kfold_indices(14, 3, rng=np.random.default_rng(2))
    assert all(np.array_equal(u[1], v[1]) for u, v in zip(f1, f2, strict=True))
    s1 = cross_validate(lambda a, b, c, d: float(c.sum()), X, y, 3, np.random.default_rng(3))
    s2 = cross_validate(lambda a, b, c, d: float(c.sum()), X, y, k=3, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(s1, s2)
    with pytest.raises(ValueError, match="cross_validate: rng must be a numpy.random.Generator"):
        cross_validate(lambda a, b, c, d: 0.0, X, y, 3)
