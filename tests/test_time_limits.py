"""Per-cell time limits: read from the release, never from the notebook being run.

``nncourse.check.cell_timeout`` is used by both ``nnlib-check`` and the autograder
(``autograder/nbgrader_config.py``). The limits themselves are sized by ``make bench``
(bench/budget_notebooks.py: every cell's limit >= 4x its CPU time); here only the rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

import nncourse.check as check
from nbtools import COURSE, ROOT, code_cells, read, release_path
from nncourse.check import (
    MARGIN,
    MAX_CELL_SECONDS,
    OTHER_CELL_SECONDS,
    TEST_CELL_SECONDS,
    cell_timeout,
    release_limits,
    release_timeouts,
)


def write_release(root: Path, name: str, cells: list[dict]) -> Path:
    nb = nbformat.v4.new_notebook()
    for spec in cells:
        cell = nbformat.v4.new_code_cell("pass", id=spec["id"])
        cell.metadata.update(spec.get("metadata", {}))
        nb.cells.append(cell)
    path = root / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_check_cell_limit_is_four_times_its_budget():
    assert TEST_CELL_SECONDS >= MARGIN * 5  # COURSE.md: a check cell in under 5 s
    assert OTHER_CELL_SECONDS <= MAX_CELL_SECONDS


def test_the_cells_own_metadata_is_ignored(tmp_path):
    write_release(tmp_path, "a", [{"id": "train", "metadata": {"nnlib": {"timeout": 60}}}])
    asks = {"id": "mine", "metadata": {"nnlib": {"timeout": 100}}}
    assert cell_timeout(asks, release=tmp_path) == OTHER_CELL_SECONDS
    # ... also when it is a cell the release knows: the release's grant, not the cell's
    tampered = {"id": "train", "metadata": {"nnlib": {"timeout": 100}}}
    assert cell_timeout(tampered, release=tmp_path) == 60
    lowered = {"id": "train", "metadata": {"nnlib": {"timeout": 1}}}
    assert cell_timeout(lowered, release=tmp_path) == 60


def test_limits_come_from_the_release_by_grade_id_then_cell_id(tmp_path):
    write_release(tmp_path, "a", [
        {"id": "train", "metadata": {"nnlib": {"timeout": 45}}},
        {"id": "huge", "metadata": {"nnlib": {"timeout": 10**6}}},
        {"id": "flag", "metadata": {"nnlib": {"timeout": True}}},
        {"id": "graded-cell", "metadata": {"nbgrader": {"grade": True, "solution": False,
                                                        "grade_id": "test-f", "points": 1}}},
        {"id": "slow-solution", "metadata": {
            "nbgrader": {"grade": False, "solution": True, "grade_id": "f"},
            "nnlib": {"timeout": 50}}},
    ])
    at = {"release": tmp_path}
    assert cell_timeout({"id": "train", "metadata": {}}, **at) == 45
    assert cell_timeout({"id": "huge", "metadata": {}}, **at) == MAX_CELL_SECONDS
    assert cell_timeout({"id": "flag", "metadata": {}}, **at) == OTHER_CELL_SECONDS
    # a check cell is recognised by its grade id even with its nbgrader metadata stripped
    assert cell_timeout({"id": "x", "metadata": {"nbgrader": {"grade_id": "test-f"}}},
                        **at) == TEST_CELL_SECONDS
    assert cell_timeout({"id": "x", "metadata": {"nbgrader": {
        "grade": True, "solution": False, "grade_id": "test-new"}}}, **at) == TEST_CELL_SECONDS
    # the grade id wins over a renamed cell id
    assert cell_timeout({"id": "renamed", "metadata": {"nbgrader": {"grade_id": "f"}}},
                        **at) == 50
    assert cell_timeout({"id": "unknown", "metadata": {}}, **at) == OTHER_CELL_SECONDS
    assert cell_timeout({"metadata": {}}, **at) == OTHER_CELL_SECONDS


def test_a_file_without_cell_ids_keeps_the_release_s_limits_by_source(tmp_path):
    """Jupyter before 2021 (nbformat 3) saves no cell ids: the release's own cell, unchanged,
    keeps its grant; an edited copy of it does not."""
    path = write_release(tmp_path, "a", [{"id": "train", "metadata": {"nnlib": {"timeout": 45}}}])
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = "history = train(model, epochs=30)\n"
    path.write_text(json.dumps(nb))
    v3 = nbformat.v4.upgrade(nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(
        cells=[nbformat.v3.new_code_cell(input="history = train(model, epochs=30)\n")])]))
    cell = v3.cells[0]
    assert cell.get("id") != "train"
    assert cell_timeout(cell, release=tmp_path) == 45
    assert cell_timeout({"source": "history = train(model, epochs=300)\n", "metadata": {}},
                        release=tmp_path) == OTHER_CELL_SECONDS
    assert cell_timeout({"source": "", "metadata": {}}, release=tmp_path) == OTHER_CELL_SECONDS


def test_an_unreadable_release_notebook_leaves_the_defaults(tmp_path):
    write_release(tmp_path, "a", [{"id": "train", "metadata": {"nnlib": {"timeout": 45}}}])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "b.ipynb").write_text('{"cells": [ not json')
    assert cell_timeout({"id": "train", "metadata": {}}, release=tmp_path) == 45
    assert cell_timeout({"id": "x", "metadata": {}}, release=tmp_path / "missing") == 20


def test_a_changed_release_is_read_again(tmp_path):
    path = write_release(tmp_path, "a", [{"id": "train", "metadata": {"nnlib": {"timeout": 45}}}])
    assert cell_timeout({"id": "train", "metadata": {}}, release=tmp_path) == 45
    nb = json.loads(path.read_text())
    nb["cells"][0]["metadata"]["nnlib"]["timeout"] = 70
    path.write_text(json.dumps(nb))
    import os

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert cell_timeout({"id": "train", "metadata": {}}, release=tmp_path) == 70


def test_the_course_release_grants_each_id_one_limit():
    """cell_timeout sees a cell, not its notebook: an id granted time in one notebook must not
    mean another limit elsewhere (it would get the larger one)."""
    seen: dict[str, tuple[str, int]] = {}
    for path in sorted(COURSE.glob("*/*.ipynb")):
        for cell in read(path).cells:
            granted = cell.metadata.get("nnlib", {}).get("timeout")
            if granted is not None:
                key = cell.get("id")
                assert key not in seen or seen[key][1] == granted, (
                    f"cell id {key!r} is granted {granted} s in {path.name} and "
                    f"{seen[key][1]} s in {seen[key][0]}: give one of them another id")
                seen[key] = (path.name, granted)
    assert seen, "the release grants no cell extra time: is course/ there?"
    limits = release_limits(COURSE)
    assert limits.tests, "no check cell found in the release"


def test_the_default_release_is_the_repositorys_course():
    assert check.COURSE_DIR == COURSE
    cell = next(c for c in code_cells(read(release_path("06_training_loop_and_evaluation")))
                if c.metadata.get("nnlib", {}).get("timeout"))
    stripped = {"id": cell.id, "metadata": {}}
    assert cell_timeout(stripped) == max(OTHER_CELL_SECONDS, cell.metadata["nnlib"]["timeout"])


def load_grader_config(root: Path) -> Config:
    config = Config()
    path = root / "autograder" / "nbgrader_config.py"
    code = compile(path.read_text(), str(path), "exec")
    exec(code, {"get_config": lambda: config, "__file__": str(path)})  # noqa: S102
    return config


def test_the_autograder_uses_cell_timeout_on_its_own_release(tmp_path):
    config = load_grader_config(ROOT)
    limit = config.Execute.timeout_func
    assert limit.func is cell_timeout
    assert Path(limit.keywords["release"]) == COURSE
    assert config.Execute.interrupt_on_timeout is True
    cell = {"id": "anything", "metadata": {"nnlib": {"timeout": 100}}}
    assert limit(cell) == OTHER_CELL_SECONDS  # the submission's metadata is not read
    # A copy of the course elsewhere grades with its own release.
    (tmp_path / "autograder").mkdir()
    for source in (ROOT / "autograder").glob("*.py"):
        (tmp_path / "autograder" / source.name).write_text(source.read_text())
    write_release(tmp_path / "course", "a", [{"id": "anything",
                                              "metadata": {"nnlib": {"timeout": 33}}}])
    assert load_grader_config(tmp_path).Execute.timeout_func(cell) == 33
    assert release_timeouts(tmp_path / "course")(cell) == 33


@pytest.mark.slow
def test_nnlib_check_stops_a_cell_at_the_release_limit_not_its_own(tmp_path, monkeypatch):
    """A cell that grants itself 100 s in its metadata is still stopped at the default."""
    monkeypatch.setattr(check, "OTHER_CELL_SECONDS", 2)
    nb = nbformat.v4.new_notebook()
    slow = nbformat.v4.new_code_cell("import time\ntime.sleep(30)", id="sleeper")
    slow.metadata["nnlib"] = {"timeout": 100}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", id="first"), slow]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    verdicts, _ = check.check_notebook(path)
    assert [v.passed for v in verdicts] == [False]
    assert "took longer than 2 s" in verdicts[0].message, verdicts[0].message
