"""The grader's policy hold trusts no metadata of the submission (fast: no kernel, no nbgrader run).

A submitted cell may claim to be the course's own (``locked``, no ``solution``) in its nbgrader
metadata; only its exact source makes it the course's, so its findings still hold the notebook.
"""

from __future__ import annotations

import nbformat
import pytest

from autograder.preprocessors import GradingExecute
from nbtools import COURSE

A = "00_getting_started"


def _scan(nb: nbformat.NotebookNode) -> dict:
    g = GradingExecute()
    g._log = {}
    g._scan_policy(nb)
    return g._log


def _release() -> nbformat.NotebookNode:
    return nbformat.read(COURSE / A / f"{A}.ipynb", as_version=4)


def test_the_blank_release_is_not_held():
    log = _scan(_release())
    assert log["policy_available"] and log["policy"] == [] and not log["held"]


@pytest.mark.parametrize("meta", [
    {"locked": True, "solution": False, "grade": False},
    {"locked": True, "solution": False, "grade": True, "points": 1},
    {},
], ids=["claims-locked", "claims-locked-test", "no-metadata"])
def test_a_cell_claiming_to_be_locked_is_scanned_all_the_same(meta):
    nb = _release()
    nbg = {**meta, "grade_id": "mine", "schema_version": 3} if meta else None
    cell = nbformat.v4.new_code_cell("import ctypes\n",
                                     metadata={"nbgrader": nbg} if nbg else {})
    nb.cells.append(cell)
    log = _scan(nb)
    assert log["held"], "a hostile cell escaped the policy by its own metadata"
    assert [f["rule"] for f in log["policy"]] == ["raw-memory"]
    assert log["policy"][0]["cell"] == len(nb.cells) - 1


def test_a_locked_cell_of_the_course_with_its_source_changed_is_scanned():
    nb = _release()
    locked = next(c for c in nb.cells if c.cell_type == "code"
                  and c.metadata.get("nbgrader", {}).get("locked")
                  and not c.metadata["nbgrader"].get("solution"))
    locked.source += "\nimport ctypes\n"
    log = _scan(nb)
    assert log["held"] and log["policy"][0]["rule"] == "raw-memory"
