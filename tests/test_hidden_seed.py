"""Hidden cases: fixed for a learner, drawn from the grader's salt when an instructor grades."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from nncourse.testing import GradingError, check_against_reference, hidden_seed

VAR = "NNCOURSE_HIDDEN_SALT"


@pytest.fixture(autouse=True)
def _no_salt(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)


def test_deterministic_without_a_salt_and_distinct_per_key():
    keys = [f"lesson/{name}" for name in ("relu", "sigmoid", "adam", "adamw", "one_hot")]
    seeds = [hidden_seed(k) for k in keys]
    assert seeds == [hidden_seed(k) for k in keys]
    assert len(set(seeds)) == len(keys)
    assert all(0 <= s < 2**64 for s in seeds)


def test_a_salt_changes_every_seed_and_two_salts_differ(monkeypatch):
    keys = [f"optimizers/{name}" for name in ("sgd", "momentum", "adagrad", "rmsprop", "adam")]
    plain = [hidden_seed(k) for k in keys]
    monkeypatch.setenv(VAR, "a" * 64)
    first = [hidden_seed(k) for k in keys]
    assert first == [hidden_seed(k) for k in keys]  # the same student on a regrade
    monkeypatch.setenv(VAR, "b" * 64)
    second = [hidden_seed(k) for k in keys]
    assert all(p != f and f != s and p != s for p, f, s in zip(plain, first, second, strict=True))


def test_a_lookup_table_of_the_unsalted_answers_is_worthless(monkeypatch):
    def reference(x):
        return np.tanh(x) * 2

    def make(rng, kind):
        return (rng.normal(size=(3, 2)),)

    table: dict[bytes, np.ndarray] = {}
    rng = np.random.default_rng(hidden_seed("demo/f"))
    for kind in ("random",) * 5:  # what a learner could precompute from the repository
        (x,) = make(rng, kind)
        table[x.tobytes()] = reference(x)

    def lookup(x):
        return table.get(x.tobytes(), np.zeros_like(x))

    kinds = ("random",) * 5
    check_against_reference(lookup, reference, make, name="f", seed=hidden_seed("demo/f"),
                            kinds=kinds)
    monkeypatch.setenv(VAR, "course-secret-derived")
    with pytest.raises(GradingError):
        check_against_reference(lookup, reference, make, name="f", seed=hidden_seed("demo/f"),
                                kinds=kinds)


def test_the_salt_the_kernel_started_with_cannot_be_unset_or_replaced():
    code = (
        "import os\n"
        "from nncourse.testing import hidden_seed\n"
        "a = hidden_seed('x/y')\n"
        f"del os.environ['{VAR}']\n"
        "b = hidden_seed('x/y')\n"
        f"os.environ['{VAR}'] = 'chosen by the submission'\n"
        "c = hidden_seed('x/y')\n"
        "print(a, b, c)\n"
    )
    env = {**os.environ, VAR: "salt-from-the-grader"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert len(set(out)) == 1
    plain = subprocess.run([sys.executable, "-c", "from nncourse.testing import hidden_seed;"
                            "print(hidden_seed('x/y'))"],
                           env={k: v for k, v in os.environ.items() if k != VAR},
                           capture_output=True, text=True, check=True).stdout.split()
    assert out[0] != plain[0]
    assert int(plain[0]) == hidden_seed("x/y")
