"""Grading integrity, with real nbgrader on a simulated class.

A throw-away copy of the course is released, a class of students hands in honest, careless and
dishonest versions of the pilot notebook, and the documented instructor command
(`python -m autograder.grade`) grades them all in one batch. The tests then read the gradebook,
the grading report and the feedback.
"""

from __future__ import annotations

import csv
import html
import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

from nbtools import (
    course_copy,
    hidden_lines,
    nbg,
    replace_solution,
    run,
    solved,
    tamper_tests,
)

pytestmark = pytest.mark.slow

A = "00_getting_started"
FULL = 5.0  # automatic points of the pilot: one_hot 2 + standardize 3

INFINITE = '''
def one_hot(y, num_classes):
    while True:
        pass
'''
ALIAS = "from nnlib.basics import one_hot\n"
WRAPPER = '''
import nnlib.basics

def one_hot(y, num_classes):
    """My own one-hot, honest."""
    return nnlib.basics.one_hot(y, num_classes)
'''
WRONG_AXIS = '''
def standardize(X, eps=1e-8):
    return (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + eps)
'''
NO_EPS = '''
def standardize(X, eps=1e-8):
    return (X - X.mean(axis=0)) / X.std(axis=0)
'''
SAMPLE_STD = '''
def standardize(X, eps=1e-8):
    return (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + eps)
'''
def class_submissions(root: Path) -> dict[str, object]:
    """Student id -> notebook, or raw text for a damaged file (expected scores: EXPECTED)."""
    release = nbformat.read(root / "course" / A / f"{A}.ipynb", as_version=4)
    right = solved(A)
    half = replace_solution(right, "standardize", WRONG_AXIS)
    return {
        "reference": right,
        "untouched": release,
        "edited_tests": tamper_tests(release, "edit"),
        "deleted_tests": tamper_tests(release, "delete"),
        "unlocked_tests": tamper_tests(release, "unlock"),
        "points_changed": tamper_tests(release, "points"),
        "demoted_tests": tamper_tests(release, "demote"),
        "half_right": half,
        "half_right_edited": tamper_tests(half, "edit", only="test-standardize"),
        "half_right_deleted": tamper_tests(half, "delete", only="test-standardize"),
        "half_right_demoted": tamper_tests(half, "demote", only="test-one-hot"),
        "no_eps": replace_solution(right, "standardize", NO_EPS),
        "sample_std": replace_solution(right, "standardize", SAMPLE_STD),
        "alias": replace_solution(right, "one-hot", ALIAS),
        "wrapper": replace_solution(right, "one-hot", WRAPPER),
        "infinite_loop": replace_solution(right, "one-hot", INFINITE),
        "malformed": '{"cells": [ this is not json',
    }


EXPECTED = {
    "reference": FULL,
    "untouched": 0.0,
    "edited_tests": 0.0,
    "deleted_tests": 0.0,
    "unlocked_tests": 0.0,
    "points_changed": 0.0,
    "demoted_tests": 0.0,
    "half_right": 2.0,
    "half_right_edited": 2.0,
    "half_right_deleted": 2.0,
    "half_right_demoted": 2.0,
    "no_eps": 2.0,
    "sample_std": 2.0,
    "alias": 3.0,
    "wrapper": 3.0,
    "infinite_loop": 3.0,
    "malformed": 0.0,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release, hand in, autograde, report and make feedback in a copy of the course."""
    root = course_copy(tmp_path_factory.mktemp("class"))
    run([sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"], cwd=root)
    subs = class_submissions(root)
    for student, nb in subs.items():
        folder = root / "autograder" / "submitted" / student / A
        folder.mkdir(parents=True)
        target = folder / f"{A}.ipynb"
        if isinstance(nb, str):
            target.write_text(nb)
        else:
            nbformat.write(nb, target)
    start = time.perf_counter()
    proc = run([sys.executable, "-m", "autograder.grade", A], cwd=root, check=False)
    seconds = time.perf_counter() - start
    # The student with the infinite loop alone, against an honest student alone: the loop
    # should cost one test cell's 10 s limit more, whatever the machine's load.
    alone = {}
    for student in ("reference", "infinite_loop"):
        start = time.perf_counter()
        run([sys.executable, "-m", "nbgrader", "autograde", A, f"--student={student}",
             "--force"], cwd=root)
        alone[student] = time.perf_counter() - start
    loop_seconds = alone["infinite_loop"] - alone["reference"]
    feedback = run([sys.executable, "-m", "nbgrader", "generate_feedback", A, "--force"],
                   cwd=root, check=False)
    export = run([sys.executable, "-m", "nbgrader", "export", "--to=grades.csv"], cwd=root,
                 check=False)
    return {"root": root, "proc": proc, "seconds": seconds, "loop_seconds": loop_seconds,
            "feedback": feedback,
            "export": export, "students": sorted(subs)}


def gradebook_scores(root: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook, MissingEntry

    url = "sqlite:///" + str(root / "autograder" / "gradebook.db")
    out: dict[str, dict[str, float]] = {}
    with Gradebook(url, "nn-from-scratch") as gb:
        for student in gb.students:
            try:
                nb = gb.find_submission_notebook(A, A, student.id)
            except MissingEntry:
                continue
            out[student.id] = {g.name: g.score for g in nb.grades}
            out[student.id]["_auto"] = sum(g.score for g in nb.grades if g.auto_score is not None
                                           or g.name.startswith("test-"))
            out[student.id]["_max"] = nb.max_score
    return out


def report_rows(root: Path) -> dict[str, dict[str, str]]:
    with (root / "autograder" / "reports" / f"{A}.csv").open() as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def test_batch_finishes_and_reports_the_damaged_file(graded):
    out = graded["proc"].stdout
    assert graded["proc"].returncode == 1, "the unreadable submission should make the exit 1"
    assert "malformed" in out and "unreadable" in out, out
    rows = report_rows(graded["root"])
    assert set(rows) == set(graded["students"])
    assert rows["malformed"]["status"] == "unreadable"
    assert "not valid JSON" in rows["malformed"]["notes"]
    assert all(r["status"] == "graded" for s, r in rows.items() if s != "malformed"), rows


def test_every_other_grade_is_stored(graded):
    scores = gradebook_scores(graded["root"])
    assert set(graded["students"]) - {"malformed"} <= set(scores)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_scores(graded, student):
    rows = report_rows(graded["root"])
    got = float(rows[student]["score"])
    assert got == EXPECTED[student], (
        f"{student}: scored {got}, expected {EXPECTED[student]} ({rows[student]['notes']})"
    )
    # max_score counts the 2-point written answer too; it never changes with tampering
    assert float(rows[student]["max_score"]) == FULL + 2


def test_tampered_cells_are_graded_like_untouched(graded):
    scores = gradebook_scores(graded["root"])
    for student in ("edited_tests", "deleted_tests", "unlocked_tests", "points_changed",
                    "demoted_tests"):
        assert scores[student]["test-one-hot"] == 0, student
        assert scores[student]["test-standardize"] == 0, student
        assert scores[student]["_max"] == scores["untouched"]["_max"]


def test_restored_metadata_is_named_in_the_report(graded):
    rows = report_rows(graded["root"])
    for student in ("demoted_tests", "half_right_demoted", "unlocked_tests", "points_changed"):
        assert "has been restored" in rows[student]["notes"], rows[student]
    assert "restored" not in rows["reference"]["notes"]
    assert (graded["root"] / "autograder" / "tampered" / "demoted_tests").is_dir()


def test_reference_use_is_named_in_the_report(graded):
    rows = report_rows(graded["root"])
    for student in ("alias", "wrapper"):
        assert "test-one-hot: used the nnlib reference" in rows[student]["notes"], rows[student]


def test_infinite_loop_costs_one_cell_budget(graded):
    rows = report_rows(graded["root"])
    assert "stopped at its time limit" in rows["infinite_loop"]["notes"]
    per_notebook = graded["seconds"] / len(graded["students"])
    print(f"\nautograde: {graded['seconds']:.1f} s for {len(graded['students'])} submissions "
          f"({per_notebook:.2f} s per notebook); the infinite loop costs "
          f"{graded['loop_seconds']:.1f} s more than an honest notebook")
    # One test cell's 10 s limit. With nbgrader's default 30 s per cell it would be 30 s.
    assert 5 < graded["loop_seconds"] < 22


def test_feedback_has_no_hidden_tests(graded):
    assert graded["feedback"].returncode == 0, graded["feedback"].stderr[-2000:]
    pages = list((graded["root"] / "autograder" / "feedback").rglob("*.html"))
    assert len(pages) == len(graded["students"]) - 1
    secrets = [re.sub(r"\s+", "", line) for line in hidden_lines(A)]
    assert secrets, "the pilot should have hidden tests"
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        flat = re.sub(r"\s+", "", text)
        assert "BEGINHIDDENTESTS" not in flat, page
        leaked = [s for s in secrets if s in flat]
        assert not leaked, f"{page}: hidden test lines in feedback: {leaked[:3]}"


def test_feedback_explains_failures(graded):
    page = graded["root"] / "autograder" / "feedback" / "half_right" / A / f"{A}.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
    assert "standardize" in text and "AssertionError" in text


def test_csv_export_alone_cannot_tell_a_damaged_file(graded):
    """Why the report exists: nbgrader's CSV shows the unreadable notebook as a plain 0."""
    assert graded["export"].returncode == 0, graded["export"].stderr[-2000:]
    with (graded["root"] / "grades.csv").open() as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["malformed"]["score"]) == 0.0
    assert float(rows["reference"]["score"]) == FULL


def test_autograded_notebooks_are_valid(graded):
    for student in set(graded["students"]) - {"malformed"}:
        path = graded["root"] / "autograder" / "autograded" / student / A / f"{A}.ipynb"
        nb = json.loads(path.read_text())
        tests = [c for c in nb["cells"] if nbg(c).get("grade") and not nbg(c).get("solution")]
        assert len(tests) == 2, (student, len(tests))
