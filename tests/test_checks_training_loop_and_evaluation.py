"""nncourse.checks.training_loop_and_evaluation: lesson 06's checks, run in process.

The notebook's solution cells and the nnlib references pass the visible and the hidden checks;
each classic mistake fails with the message that names its cause (the wrong functions are
written inline, most as one correct implementation with a ``bug`` switch); hidden messages
give away neither the inputs nor the expected values.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import nnlib
import nnlib.data
import nnlib.metrics
import nnlib.training
from nbtools import is_solution, read, solution_body, source_path
from nncourse.checks import training_loop_and_evaluation as checks
from nncourse.testing import GradingError

NAME = "06_training_loop_and_evaluation"
EXERCISES = ["minibatches", "train_val_test_split", "train_with_validation", "confusion_matrix",
             "precision_recall_f1", "kfold_indices", "cross_validate", "early_stopping_step"]


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution cells of the source notebook, executed: the reference solutions."""
    ns: dict = {"np": np, "nnlib": nnlib}
    for cell in read(source_path(NAME)).cells:
        if is_solution(cell):
            exec(solution_body(cell.source), ns)
    return ns


def _extra(name: str, ns: dict) -> tuple:
    return (ns["kfold_indices"],) if name == "cross_validate" else ()


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes_visible_and_hidden_checks(sol, exercise, capsys):
    getattr(checks, exercise)(sol[exercise], *_extra(exercise, sol))
    getattr(checks, f"{exercise}_hidden")(sol[exercise])
    assert f"✔ {exercise} passes the visible checks" in capsys.readouterr().out


def _es_from_nnlib(state, epoch, current, model, patience, min_delta=0.0):
    es = nnlib.training.EarlyStopping(patience=patience, min_delta=min_delta)
    es.model = model
    es.best, es.best_epoch = state["best"], state["best_epoch"]
    es.wait, es.best_weights = state["wait"], state["best_weights"]
    stop = es.on_epoch_end(epoch, {"val_loss": current})
    state.update(best=es.best, best_epoch=es.best_epoch, wait=es.wait,
                 best_weights=es.best_weights)
    return bool(stop)


def _loop_from_fit(model, loss_fn, optimizer, X, y, X_val, y_val, epochs, batch_size, rng):
    return {k: [float(v) for v in vs] for k, vs in nnlib.fit(
        model, loss_fn, optimizer, X, y, epochs=epochs, batch_size=batch_size, rng=rng,
        validation_data=(X_val, y_val), verbose=False).history.items()}


# nnlib's own functions, wrapped so that forbid_reference does not refuse them: they must pass
# the hidden checks too (the checks are consistent with the reference).
REFERENCES = {
    "minibatches": lambda X, y, b, rng: list(nnlib.training.minibatches(X, y, b, rng=rng)),
    "train_val_test_split": lambda X, y, v, t, rng: nnlib.data.train_val_test_split(
        X, y, val_fraction=v, test_fraction=t, rng=rng),
    "confusion_matrix": nnlib.metrics.confusion_matrix,
    "precision_recall_f1": lambda t, p, K, average=None: nnlib.metrics.precision_recall_f1(
        t, p, K, average=average),
    "kfold_indices": lambda N, k, rng: nnlib.training.kfold_indices(N, k, rng=rng),
    "cross_validate": lambda f, X, y, k, rng: nnlib.training.cross_validate(f, X, y, k=k, rng=rng),
}


@pytest.mark.parametrize("exercise", sorted(REFERENCES))
def test_the_reference_passes_the_hidden_checks_and_is_refused_by_the_visible_ones(exercise):
    getattr(checks, f"{exercise}_hidden")(REFERENCES[exercise])
    with pytest.raises(GradingError, match="reference implementation"):
        getattr(checks, exercise)(REFERENCES[exercise], *(
            (REFERENCES["kfold_indices"],) if exercise == "cross_validate" else ()))


def test_nnlib_fit_and_early_stopping_pass_the_hidden_checks():
    checks.train_with_validation_hidden(_loop_from_fit)
    checks.early_stopping_step_hidden(_es_from_nnlib)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_each_check_lists_what_it_verifies(exercise):
    doc = getattr(checks, exercise).__doc__
    assert doc.count("\n    - ") >= 3, "one bullet per check"
    assert getattr(checks, f"{exercise}_hidden").__doc__


def test_the_check_cells_call_the_module_and_fit_on_a_screen():
    for cell in read(source_path(NAME)).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= 6, cell.id
            assert "from nncourse.checks import training_loop_and_evaluation as checks" in lines


# --- minibatches ------------------------------------------------------------------------------


def _minibatches(bug=None):
    def minibatches(X, y, batch_size, rng):
        N = X.size if bug == "size" else X.shape[0]
        if bug == "shuffle_in_place":
            rng.shuffle(X)
        order = {"no_shuffle": np.arange(N), "choice": rng.choice(N, N, replace=False) if
                 bug == "choice" else None}.get(bug, rng.permutation(N) if bug not in (
                     "new_rng",) else np.random.default_rng(0).permutation(N))
        if bug == "replace":
            order = rng.integers(0, N, size=N)
        out = []
        stop = N - batch_size + 1 if bug == "drop_last" else N
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            if bug == "none":
                print(idx)
                continue
            if bug == "return_in_loop":
                return [X[idx], y[idx]]
            if bug == "swapped":
                out.append((y[idx], X[idx]))
            elif bug == "two_perms":
                out.append((X[idx], y[rng.permutation(N)[:len(idx)]]))
            else:
                out.append((X[idx], y[idx]))
        return None if bug == "none" else out
    return minibatches


@pytest.mark.parametrize(("bug", "message"), [
    ("size", r"N is the number of rows, X\.shape\[0\]"),
    ("none", r"returned None: `yield`"),
    ("shuffle_in_place", r"changed X or y in place \(rng\.shuffle\(X\)"),
    ("return_in_loop", r"`return` inside the loop instead of `yield`"),
    ("swapped", r"\(X_batch, y_batch\), in that order"),
    ("drop_last", r"keep the last, smaller batch"),
    ("two_perms", r"the SAME index array"),
    ("replace", r"every row exactly once"),
    ("no_shuffle", r"original row order: shuffle them"),
    ("choice", r"should follow rng\.permutation\(10\)"),
    ("new_rng", r"two calls with the same rng gave the same order"),
])
def test_minibatches_messages(bug, message):
    checks.minibatches(_minibatches())                       # the switchable version is right
    with pytest.raises(GradingError, match=message):
        checks.minibatches(_minibatches(bug))


def test_minibatches_not_written_and_reference():
    def stub(X, y, batch_size, rng):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        checks.minibatches(stub)

    def wrapper(X, y, batch_size, rng):
        return nnlib.training.minibatches(X, y, batch_size, rng=rng)

    with pytest.raises(GradingError, match="reference implementation"):
        checks.minibatches(wrapper)


# --- train_val_test_split -----------------------------------------------------------------------


def _split(bug=None):
    def train_val_test_split(X, y, val_fraction, test_fraction, rng):
        N = X.shape[0]
        if bug == "np_floor":
            n_val, n_test = np.floor(val_fraction * N + 0.5), np.floor(test_fraction * N + 0.5)
        elif bug == "round":
            n_val, n_test = round(val_fraction * N), round(test_fraction * N)
        else:
            n_val = math.floor(val_fraction * N + 0.5)
            n_test = math.floor(test_fraction * N + 0.5)
        if bug == "shuffle_in_place":
            rng.shuffle(X)
        order = rng.permutation(N)
        val, test, train = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
        if bug == "test_first":
            test, val = order[:n_test], order[n_test:n_test + n_val]
        if bug == "overlap":
            train = order[:N - n_val - n_test]
        if bug == "two_perms":
            return X[train], y[rng.permutation(N)[n_val + n_test:]], X[val], y[val], X[test], \
                y[test]
        if bug == "three":
            return X[train], X[val], X[test]
        if bug == "xs_then_ys":
            return X[train], X[val], X[test], y[train], y[val], y[test]
        if bug == "val_first":
            return X[val], y[val], X[test], y[test], X[train], y[train]
        return X[train], y[train], X[val], y[val], X[test], y[test]
    return train_val_test_split


@pytest.mark.parametrize(("bug", "message"), [
    ("np_floor", r"must be Python ints to slice with: math\.floor"),
    ("round", r"rounded half up"),
    ("shuffle_in_place", r"changed X or y in place"),
    ("three", r"tuple of six arrays"),
    ("xs_then_ys", r"an X, then its y, for each set"),
    ("val_first", r"the sets come back in the wrong order"),
    ("two_perms", r"in the train set, the rows of X and y do not match"),
    ("overlap", r"disjoint"),
    ("test_first", r"validation first, then test, then training"),
])
def test_train_val_test_split_messages(bug, message):
    checks.train_val_test_split(_split())
    with pytest.raises(GradingError, match=message):
        checks.train_val_test_split(_split(bug))


# --- train_with_validation ----------------------------------------------------------------------


def _loop(bug=None):
    mb = nnlib.training.minibatches

    def train_with_validation(model, loss_fn, optimizer, X, y, X_val, y_val, epochs, batch_size,
                              rng):
        history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        N = X.shape[0]
        once = list(mb(X, y, batch_size, rng=rng)) if bug == "generator_once" else None
        loss_sum, acc_sum = 0.0, 0.0
        for _ in range(epochs):
            if bug != "no_reset":
                loss_sum, acc_sum = 0.0, 0.0
            batches = once if once is not None else mb(X, y, batch_size, rng=rng)
            if bug == "generator_once":
                once = []
            n_batches = 0
            for X_b, y_b in batches:
                n_batches += 1
                scores = model(X_b)
                loss = loss_fn(scores, y_b)
                if bug == "zero_grad_late":
                    model.backward(loss_fn.backward())
                    optimizer.zero_grad()
                else:
                    optimizer.zero_grad()
                    model.backward(loss_fn.backward())
                optimizer.step()
                if bug == "loss_after_step":
                    loss = loss_fn(model(X_b), y_b)
                weight = {"unweighted": 1, "batch_size": batch_size, "summed": N}.get(
                    bug, len(y_b))
                acc_weight = batch_size if bug == "acc_batch_size" else len(y_b)
                loss_sum += loss * weight
                acc_sum += nnlib.accuracy(scores, y_b) * acc_weight
                if bug == "reuse_n":
                    N = len(y_b)
            divisor = {"unweighted": n_batches, "no_divide": 1}.get(bug, N)
            val = nnlib.evaluate(model, loss_fn, X if bug == "val_on_train" else X_val,
                                 y if bug == "val_on_train" else y_val)
            if bug == "floor_div":
                history["loss"].append(float(loss_sum // divisor))
            else:
                history["loss"].append(float(loss_sum / divisor))
            if bug == "acc_floor_div":
                history["accuracy"].append(float(acc_sum // N))
            else:
                history["accuracy"].append(float(acc_sum / N))
            history["val_loss"].append(np.float32(val["loss"]) if bug == "float32"
                                       else float(val["loss"]))
            history["val_accuracy"].append(float(val["accuracy"]))
        if bug == "keys":
            history["train_loss"] = history.pop("loss")
        return history
    return train_with_validation


@pytest.mark.parametrize(("bug", "message"), [
    ("keys", r'should return a dict with the keys "loss"'),
    ("float32", r'history\["val_loss"\] should be Python floats'),
    ("no_divide", r"N = 10 times the mean loss"),
    ("unweighted", r"plain mean of the batch losses"),
    ("summed", r"your epoch loss is the SUM of the 3 batch losses"),
    ("batch_size", r"your epoch loss weights every batch by batch_size = 4"),
    ("acc_batch_size", r"your epoch accuracy weights every batch by batch_size = 4"),
    ("reuse_n", r"divided by 2, the size of the LAST batch"),
    ("floor_div", r'history\["loss"\]\[0\] = .* rounded down: did you divide with //'),
    ("acc_floor_div", r'history\["accuracy"\]\[0\] = .* rounded down'),
    ("generator_once", r"the second epoch saw no batch"),
    ("no_reset", r"set the running sums back to 0"),
    ("val_on_train", r"is the loss on the TRAINING set"),
    ("zero_grad_late", r"the weights have not changed"),
    ("loss_after_step", r"each batch's loss taken in its forward pass, before its update"),
])
def test_train_with_validation_messages(bug, message):
    checks.train_with_validation(_loop())
    with pytest.raises(GradingError, match=message):
        checks.train_with_validation(_loop(bug))


def test_train_with_validation_refuses_fit():
    with pytest.raises(GradingError, match="reference implementation"):
        checks.train_with_validation(_loop_from_fit)


# --- confusion_matrix ---------------------------------------------------------------------------


def _cm(bug=None):
    def confusion_matrix(y_true, y_pred, num_classes):
        K = int(max(y_true.max(), y_pred.max())) + 1 if bug == "k_from_labels" else num_classes
        if bug == "sort_in_place":
            y_pred.sort()
        if bug == "no_minlength":
            return np.bincount(y_true * K + y_pred).reshape(K, K)
        C = np.zeros((K, K), dtype=float if bug == "float" else int)
        if bug == "fancy":
            C[y_true, y_pred] += 1
            return C
        np.add.at(C, (y_pred, y_true) if bug == "transposed" else (y_true, y_pred), 1)
        return C
    return confusion_matrix


@pytest.mark.parametrize(("bug", "message"), [
    ("no_minlength", r"pass minlength=K \* K"),
    ("sort_in_place", r"changed y_true or y_pred in place"),
    ("transposed", r"is the transpose of the expected matrix"),
    ("fancy", r"counted the pair \(true 1, predicted 0\) once"),
    ("float", r"return an integer array \(got dtype float64\)"),
    ("k_from_labels", r"the size comes from num_classes"),
])
def test_confusion_matrix_messages(bug, message):
    checks.confusion_matrix(_cm())
    with pytest.raises(GradingError, match=message):
        checks.confusion_matrix(_cm(bug))


def test_scikit_learn_is_refused_once_loaded():
    sk = pytest.importorskip("sklearn.metrics")

    def confusion_matrix(y_true, y_pred, num_classes):
        return sk.confusion_matrix(y_true, y_pred, labels=range(num_classes))

    with pytest.raises(GradingError, match="calls scikit-learn's confusion_matrix"):
        checks.confusion_matrix(confusion_matrix)

    def precision_recall_f1(y_true, y_pred, num_classes, average=None):
        p, r, f, _ = sk.precision_recall_fscore_support(
            y_true, y_pred, labels=range(num_classes), zero_division=0, average=average)
        return p, r, f

    with pytest.raises(GradingError, match="scikit-learn's precision/recall/F1"):
        checks.precision_recall_f1(precision_recall_f1)
    skm = pytest.importorskip("sklearn.model_selection")

    def kfold_indices(N, k, rng):
        kf = skm.KFold(k, shuffle=True, random_state=int(rng.integers(1000)))
        return [(tr, va) for tr, va in kf.split(np.zeros(N))]

    with pytest.raises(GradingError, match="uses scikit-learn's KFold"):
        checks.kfold_indices(kfold_indices)


# --- precision_recall_f1 ------------------------------------------------------------------------


def _prf(bug=None):
    cm = nnlib.metrics.confusion_matrix

    def safe(num, den, K):
        if bug == "nan":
            with np.errstate(all="ignore"):
                return num / den
        if bug == "no_out":
            return np.divide(num, den, where=den > 0)
        out = np.zeros_like(num) if bug == "int_out" else np.zeros(K)
        return np.divide(num, den, out=out, where=den > 0)

    def precision_recall_f1(y_true, y_pred, num_classes, average=None):
        K = (int(max(y_true.max(), y_pred.max())) + 1 if bug == "k_from_labels"
             else num_classes)
        C = cm(y_true, y_pred, K)
        tp = np.diag(C) if bug == "int_out" else np.diag(C).astype(float)
        p = safe(tp, C.sum(axis=0), K)
        r = safe(tp, C.sum(axis=1), K)
        if bug == "tp_twice":         # fp taken as the whole column, which holds tp already
            p = safe(tp, tp + C.sum(axis=0), K)
        if bug == "swapped":
            p, r = r, p
        if bug == "f1_arithmetic":
            f = (p + r) / 2
        elif bug == "f1_guard":       # guards the counts, not the denominator it divides by
            both = (C.sum(axis=0) > 0) & (C.sum(axis=1) > 0)
            with np.errstate(all="ignore"):
                f = np.where(both, 2 * p * r / (p + r), 0.0)
        else:
            f = safe(2 * p * r, p + r, K)
        if average == "macro":
            if bug == "macro_present":
                seen = (C.sum(axis=0) + C.sum(axis=1)) > 0
                return float(p[seen].mean()), float(r[seen].mean()), float(f[seen].mean())
            if bug == "macro_harmonic":
                mp, mr = p.mean(), r.mean()
                return float(mp), float(mr), float(2 * mp * mr / (mp + mr))
            if bug == "macro_weighted":
                w = C.sum(axis=1) / C.sum()
                return float(p @ w), float(r @ w), float(f @ w)
            if bug == "macro_arrays":
                return p.mean(keepdims=True), r.mean(keepdims=True), f.mean(keepdims=True)
            return float(p.mean()), float(r.mean()), float(f.mean())
        if bug == "lists":
            return p.tolist(), r.tolist(), f.tolist()
        if bug == "list":
            return [p, r, f]
        return p, r, f
    return precision_recall_f1


@pytest.mark.parametrize(("bug", "message"), [
    ("int_out", r"out= array of np\.divide must be a float array"),
    ("list", r"should return a tuple \(precision, recall, f1\)"),
    ("lists", r"three NumPy arrays of shape \(K,\) = \(3,\), not lists"),
    ("swapped", r"precision and recall are swapped"),
    ("nan", r"returned NaN: class 2 is never predicted"),
    ("f1_arithmetic", r"F1 is their harmonic mean"),
    ("f1_guard", r"both classes are predicted, but never correctly"),
    ("no_out", r"without out="),
    ("k_from_labels", r"take K from num_classes"),
    ("macro_present", r"averages only over the classes that occur"),
    ("macro_harmonic", r"harmonic mean of macro precision and macro recall"),
    ("macro_arrays", r"tuple of three Python floats"),
    ("tp_twice", r"counts the correct\s+predictions twice"),          # numbers only before
    ("macro_weighted", r"average=\"weighted\"\)\. Macro is the plain mean"),  # numbers only
])
def test_precision_recall_f1_messages(bug, message):
    checks.precision_recall_f1(_prf())
    with pytest.raises(GradingError, match=message):
        checks.precision_recall_f1(_prf(bug))


# --- kfold_indices ------------------------------------------------------------------------------


def _kfold(bug=None):
    def kfold_indices(N, k, rng):
        order = np.arange(N) if bug == "no_shuffle" else rng.permutation(N)
        if bug == "true_div":
            size = N / k
            return [(order[: int(i * size)], order[int(i * size): (i + 1) * size])
                    for i in range(k)]
        if bug == "np_split":
            blocks = np.split(order, k)
        else:
            blocks = np.array_split(order, k)
        if bug == "extra_last":
            blocks = blocks[::-1]
            blocks = [b for b in blocks]
        folds = []
        for i, block in enumerate(blocks):
            if bug == "new_perm":
                block = rng.permutation(N)[: len(block)]
            train = np.concatenate([b for j, b in enumerate(blocks) if j != i])
            if bug != "unsorted":
                train = np.sort(train)
            if bug == "float":
                train, block = train.astype(float), block.astype(float)
            if bug == "sorted_val":
                block = np.sort(block)
            folds.append((block, train) if bug == "swapped" else (train, block))
        return folds
    return kfold_indices


@pytest.mark.parametrize(("bug", "message"), [
    ("true_div", r"N // k \(integer division\), not N / k"),
    ("np_split", r"np\.split only cuts equal blocks"),
    ("extra_last", r"the first N % k folds get one extra index"),
    ("swapped", r"Each fold is the pair \(train_idx, val_idx\), in that order"),
    ("new_perm", r"every index must be in exactly one validation fold"),
    ("float", r"should be integer arrays"),
    ("unsorted", r"train_idx should be sorted ascending"),
    ("no_shuffle", r"should be rng\.permutation\(10\)"),
    ("sorted_val", r"val_idx is not in the order of `order`"),
])
def test_kfold_indices_messages(bug, message):
    checks.kfold_indices(_kfold())
    with pytest.raises(GradingError, match=message):
        checks.kfold_indices(_kfold(bug))


# --- cross_validate -----------------------------------------------------------------------------


def _cv(bug=None):
    kfold = _kfold()

    def cross_validate(train_and_score, X, y, k, rng):
        N = X.size if bug == "size" else X.shape[0]
        if bug == "new_rng":
            rng = np.random.default_rng(12345)
        scores = []
        folds = kfold(N, k, rng)
        for i in range(k):
            tr, va = kfold(N, k, rng)[i] if bug == "redrawn" else folds[i]
            if bug == "swapped":
                tr, va = va, tr
            if bug == "sklearn_order":
                scores.append(train_and_score(X[tr], X[va], y[tr], y[va]))
            elif bug == "misaligned":
                scores.append(train_and_score(X[tr], y[np.sort(tr)[::-1]], X[va], y[va]))
            else:
                scores.append(train_and_score(X[tr], y[tr], X[va], y[va]))
        if bug == "mean":
            return float(np.mean(scores))
        return np.array(scores, dtype=float)
    return cross_validate


@pytest.mark.parametrize(("bug", "message"), [
    ("size", r"N is the number of rows, X\.shape\[0\]"),
    ("sklearn_order", r"not scikit-learn's X_train, X_test, y_train, y_test"),
    ("mean", r"as an array of shape \(4,\)"),
    ("misaligned", r"the rows of y do not match the rows of X"),
    ("new_rng", r"did not receive the validation rows of fold 1.*with the rng\s+passed in"),
    ("redrawn", r"repeat or miss rows.*call kfold_indices again inside the loop"),
    ("swapped", r"validation rows as its training data.*\(train_idx, val_idx\), in that order"),
])
def test_cross_validate_messages(bug, message):
    checks.cross_validate(_cv(), _kfold())
    with pytest.raises(GradingError, match=message):
        checks.cross_validate(_cv(bug), _kfold())


# --- early_stopping_step ------------------------------------------------------------------------


def _es(bug=None):
    def early_stopping_step(state, epoch, current, model, patience, min_delta=0.0):
        threshold = state["best"] * (1 - min_delta) if bug == "relative" else \
            state["best"] - min_delta
        improved = {"greater": current > threshold, "le": current <= threshold}.get(
            bug, current < threshold)
        if bug == "first_stops" and epoch == 0:
            return True
        if improved:
            if bug == "rebind":
                state = {"best": current, "best_epoch": epoch, "wait": 0,
                         "best_weights": model.state_dict()}
                return False
            state["best"] = current - min_delta if bug == "best_minus_delta" else current
            state["best_epoch"] = epoch
            if bug != "no_reset":
                state["wait"] = 0
            state["best_weights"] = ({name: p.data for name, p in
                                      zip(model.state_dict(), model.parameters(), strict=True)}
                                     if bug == "references" else model.state_dict())
            return 0 if bug == "int" else False
        state["wait"] += 1
        if bug == "gt_patience":
            return bool(state["wait"] > patience)
        if bug == "int_later":
            return int(state["wait"] >= patience)
        return bool(state["wait"] >= patience)
    return early_stopping_step


@pytest.mark.parametrize(("bug", "message"), [
    ("int", r"should return a bool, got int"),
    ("first_stops", r"stopped after the first epoch"),
    ("rebind", r"Update `state` in place"),
    ("greater", r"the first epoch always improves on best = inf.*the wrong way round"),
    ("references", r"store copies of the weights"),
    ("gt_patience", r"Stop when wait >= patience"),
    ("int_later", r"should return a bool \(True or False\) on every call"),
    ("no_reset", r"an improvement \(0\.9\) resets the wait to 0"),
    ("best_minus_delta", r"min_delta only enters the comparison"),
    ("relative", r"an absolute amount, not a fraction of best"),
    ("le", r"strictly smaller is needed"),
])
def test_early_stopping_step_messages(bug, message):
    checks.early_stopping_step(_es())
    with pytest.raises(GradingError, match=message):
        checks.early_stopping_step(_es(bug))


# --- what a hidden check says -------------------------------------------------------------------

HIDDEN_CASES = [
    ("minibatches", lambda X, y, b, rng: [(X[i:i + b], y[i:i + b]) for i in range(0, len(y), b)]),
    ("confusion_matrix", lambda t, p, K: _cm("transposed")(t, p, K)),
    ("precision_recall_f1", _prf("swapped")),
    ("kfold_indices", _kfold("no_shuffle")),
]


@pytest.mark.parametrize(("exercise", "wrong"), HIDDEN_CASES)
def test_hidden_messages_show_no_expected_values(exercise, wrong):
    with pytest.raises(GradingError) as info:
        getattr(checks, f"{exercise}_hidden")(wrong)
    message = str(info.value)
    assert "hidden case" in message
    # no list of numbers and no number with many digits: neither inputs nor expected values
    assert not re.search(r"\[[\d\s.,-]{6,}\]", message), message
    assert not re.search(r"\d\.\d{5,}", message), message
