"""The course's checking modules cannot be patched from a notebook (fast, in process).

A hostile student stored a checks module as a class attribute (the one aliasing form the policy
scan missed) and replaced its check functions with ``print``: the check cells became no-ops and
blank work scored full marks. The modules the checks rely on are FrozenModules: attributes
cannot be set or deleted from outside, whatever the alias.
"""

from __future__ import annotations

import importlib

import pytest

import nncourse.checks._contract as contract
import nncourse.checks.getting_started as lesson
import nncourse.policy as policy
import nncourse.testing as testing
from nncourse.policy import FrozenModule, require_genuine_helpers


@pytest.mark.parametrize(("module", "name"), [
    (lesson, "one_hot"), (lesson, "standardize_hidden"), (testing, "assert_close"),
    (testing, "hidden_seed"), (contract, "call"), (contract, "exercise_check"),
    (policy, "require_genuine_helpers"), (policy, "scan_notebook"),
])
def test_no_attribute_can_be_replaced_or_deleted(module, name):
    assert isinstance(module, FrozenModule)
    genuine = getattr(module, name)
    with pytest.raises(AttributeError, match="belongs to the course's checks"):
        setattr(module, name, print)
    with pytest.raises(AttributeError, match="belongs to the course's checks"):
        delattr(module, name)
    assert getattr(module, name) is genuine


def test_not_through_a_class_attribute_either():
    class Holder:
        checks_module = lesson

    with pytest.raises(AttributeError):
        Holder.checks_module.one_hot = print
    assert lesson.one_hot is not print


def test_every_lesson_checks_module_is_frozen():
    from pathlib import Path

    folder = Path(contract.__file__).parent
    names = [p.stem for p in folder.glob("*.py") if not p.stem.startswith("__")]
    assert len(names) >= 15
    for name in names:
        module = importlib.import_module(f"nncourse.checks.{name}")
        assert isinstance(module, FrozenModule), name


def test_frozen_modules_still_reload_and_pass_the_genuineness_guard():
    importlib.reload(lesson)
    assert isinstance(lesson, FrozenModule)
    require_genuine_helpers()  # a frozen module is a genuine one
