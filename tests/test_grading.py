"""Grading integrity, with real nbgrader on a simulated class.

A throw-away copy of the course is released, a class of students hands in honest, careless and
dishonest versions of the pilot notebook, and the documented instructor command
(`python -m autograder.grade`) grades them all in one batch. The tests then read the gradebook,
the grading report and the feedback.
"""

from __future__ import annotations

import copy
import csv
import html
import json
import re
import shutil
import sys
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
OWN_INTERRUPT = '''
def one_hot(y, num_classes):
    raise KeyboardInterrupt
'''


def with_cell(nb, after: str, code: str, metadata: dict | None = None):
    """A copy of ``nb`` with an ordinary code cell added after the cell ``after``."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(code)
    cell.id = f"added-after-{after}"
    cell.metadata.update(metadata or {})
    where = 1 + next(i for i, c in enumerate(nb.cells) if nbg(c).get("grade_id") == after)
    nb.cells.insert(where, cell)
    return nb


def duplicated(nb, grade_id: str, first_try: str):
    """The learner duplicated a solution cell in JupyterLab (metadata copied, new cell id) and
    kept a first attempt in the upper copy."""
    nb = copy.deepcopy(nb)
    where = next(i for i, c in enumerate(nb.cells) if nbg(c).get("grade_id") == grade_id)
    twin = copy.deepcopy(nb.cells[where])
    twin.id = "duplicated-cell"
    nb.cells[where].source = first_try
    nb.cells.insert(where + 1, twin)
    return nb


def with_foreign_cell(nb, cell_type: str, grade_id: str, source: str, points: float):
    """A copy of ``nb`` with a graded cell whose grade id belongs to no cell of this notebook
    (pasted from another notebook, or forged to claim points)."""
    nb = copy.deepcopy(nb)
    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    cell.id = f"foreign-{grade_id}"
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": False,
                                 "points": points, "schema_version": 3,
                                 "solution": cell_type == "markdown", "task": False}
    nb.cells.append(cell)
    return nb


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
        # honest accidents: graded as far as possible, named in the report
        "duplicated_cell": duplicated(right, "one-hot", "def one_hot(y, num_classes):\n"
                                      "    return None  # first attempt\n"),
        "typed_exit": with_cell(right, "test-one-hot", "exit()"),
        "os_exit": with_cell(right, "test-one-hot", "import os\nos._exit(0)"),
        "own_interrupt": replace_solution(right, "one-hot", OWN_INTERRUPT),
        "asks_more_time": with_cell(right, "test-standardize", "import time\ntime.sleep(45)",
                                    {"nnlib": {"timeout": 60}}),
        "renamed_file": ("00_getting_started (1).ipynb", right),
        # saved by a Jupyter from before 2021: nbformat 3, no cell ids
        "old_jupyter": (f"{A}.ipynb", nbformat.convert(copy.deepcopy(right), 3)),
        "pasted_answer": with_foreign_cell(right, "markdown", "why-xor-fails",
                                           "XOR is not linearly separable.", 3),
        "forged_test": with_foreign_cell(release, "code", "extra-credit",
                                         "print('extra credit')", 10),
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
    "duplicated_cell": FULL,
    "typed_exit": FULL,
    "os_exit": FULL,  # in the gradebook; the report holds it (the policy refuses os._exit)
    "own_interrupt": 3.0,
    "asks_more_time": FULL,
    "renamed_file": FULL,
    "old_jupyter": FULL,
    "pasted_answer": FULL,  # a graded cell from another notebook costs nothing
    "forged_test": 0.0,  # and gains nothing
}
HELD = {"os_exit"}


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
        if isinstance(nb, tuple):
            target, nb = folder / nb[0], nb[1]
        if isinstance(nb, str):
            target.write_text(nb)
        else:
            nbformat.write(nb, target)
    proc = run([sys.executable, "-m", "autograder.grade", A], cwd=root, check=False)
    report_before = report_rows(root)
    # One honest and one tampering student again, alone, with nbgrader's own log: only the
    # tampering one may make nbgrader warn that a test cell's checksum changed.
    alone = {student: run([sys.executable, "-m", "nbgrader", "autograde", A,
                           f"--student={student}", "--force"], cwd=root)
             for student in ("reference", "edited_tests")}
    # --student rewrites that student's rows only
    single = run([sys.executable, "-m", "autograder.grade", A, "--student=half_right"], cwd=root,
                 check=False)
    feedback = run([sys.executable, "-m", "nbgrader", "generate_feedback", A, "--force"],
                   cwd=root, check=False)
    export = run([sys.executable, "-m", "nbgrader", "export", "--to=grades.csv"], cwd=root,
                 check=False)
    return {"root": root, "proc": proc, "alone": alone, "single": single,
            "report_before": report_before, "feedback": feedback,
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
    assert all(r["status"] == "graded" for s, r in rows.items()
               if s not in {"malformed"} | HELD), rows


def test_every_other_grade_is_stored(graded):
    scores = gradebook_scores(graded["root"])
    assert set(graded["students"]) - {"malformed"} <= set(scores)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_scores(graded, student):
    rows = report_rows(graded["root"])
    if student in HELD:
        assert rows[student]["status"] == "held" and rows[student]["score"] == ""
        got = gradebook_scores(graded["root"])[student]["_auto"]
        assert got == EXPECTED[student], (student, got)
        return
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


def test_infinite_loop_costs_one_cell_limit(graded):
    rows = report_rows(graded["root"])
    assert "stopped at its time limit" in rows["infinite_loop"]["notes"]
    log = json.loads((graded["root"] / "autograder" / "runs" / "infinite_loop" / A
                      / f"{A}.json").read_text())
    # one interruption, of the check cell that called the loop, at that cell's own limit
    assert [(t["grade_id"], t["limit"]) for t in log["timeouts"]] == [("test-one-hot", "cell")]
    assert not log["hit_notebook_limit"] and not log["not_run"]


def test_honest_accidents_are_named_in_the_report(graded):
    rows = report_rows(graded["root"])
    assert "one-hot appears 2 times" in rows["duplicated_cell"]["notes"]
    assert "the kernel died here (exit() or quit())" in rows["typed_exit"]["notes"]
    assert "the kernel died here (the process ended)" in rows["os_exit"]["notes"]
    assert "held for manual review" in rows["os_exit"]["notes"]
    assert "private" in rows["os_exit"]["notes"] or "process" in rows["os_exit"]["notes"]
    notes = rows["own_interrupt"]["notes"]
    assert "raised KeyboardInterrupt (not a time limit)" in notes
    assert "stopped at its time limit" not in notes
    assert "asks for 60 s in its metadata: ignored" in rows["asks_more_time"]["notes"]
    # the release's own cells, saved without cell ids, ask for nothing
    assert "asks for" not in rows["old_jupyter"]["notes"], rows["old_jupyter"]["notes"]
    assert "handed in as '00_getting_started (1).ipynb'" in rows["renamed_file"]["notes"]
    assert "claims grade id why-xor-fails, which this notebook does not have" in (
        rows["pasted_answer"]["notes"])
    assert "claims grade id extra-credit" in rows["forged_test"]["notes"]


def test_held_scores_are_withheld_from_the_export(graded):
    with (graded["root"] / "grades.csv").open() as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert rows["os_exit"]["score"] == "" and "held" in rows["os_exit"]["withheld"]
    assert float(rows["reference"]["score"]) == FULL and rows["reference"]["withheld"] == ""


def test_honest_submissions_raise_no_checksum_warning(graded):
    honest = graded["alone"]["reference"]
    tampered = graded["alone"]["edited_tests"]
    assert "checksum" not in (honest.stdout + honest.stderr).lower()
    assert "checksum" in (tampered.stdout + tampered.stderr).lower()


def test_one_student_regraded_leaves_the_other_rows(graded):
    assert graded["single"].returncode == 0, graded["single"].stderr[-2000:]
    after = report_rows(graded["root"])
    assert set(after) == set(graded["report_before"])
    for student, row in after.items():
        if student != "half_right":
            assert row == graded["report_before"][student], student
    assert float(after["half_right"]["score"]) == EXPECTED["half_right"]


def test_the_gradebook_is_backed_up_before_each_run(graded):
    backups = list((graded["root"] / "autograder" / "backups").glob("gradebook-*.db"))
    assert len(backups) >= 2  # the class run and the --student run


def test_feedback_has_no_hidden_tests(graded):
    assert graded["feedback"].returncode == 0, graded["feedback"].stderr[-2000:]
    pages = list((graded["root"] / "autograder" / "feedback").rglob("*.html"))
    assert len(pages) == len(graded["students"]) - 1, sorted(str(p) for p in pages)
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


def test_a_notebook_nbgrader_gave_up_on_is_named_and_still_held(graded, tmp_path):
    """When nbgrader cannot finish a notebook (a fork bomb's children garbled the kernel's
    messages: "Invalid Signature"), the row says why, and the policy's findings still hold it."""
    root = tmp_path / "course"
    shutil.copytree(graded["root"], root, symlinks=True)
    for student in ("os_exit", "reference"):
        (root / "autograder" / "autograded" / student / A / f"{A}.ipynb").unlink()
        log_path = root / "autograder" / "runs" / student / A / f"{A}.json"
        log = json.loads(log_path.read_text())
        log["error"] = "ValueError: Invalid Signature: b'00ff'"
        log_path.write_text(json.dumps(log))
        proc = run([sys.executable, "-m", "autograder.grade", A, f"--student={student}",
                    "--no-autograde"], cwd=root, check=False)
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = report_rows(root)
    held, failed = rows["os_exit"], rows["reference"]
    assert held["status"] == "held" and held["score"] == "", held
    assert "held for manual review" in held["notes"]
    assert "private" in held["notes"] or "process" in held["notes"], held["notes"]
    assert "nbgrader could not grade it (ValueError: Invalid Signature" in held["notes"]
    assert failed["status"] == "failed", failed
    assert "nbgrader could not grade it (ValueError: Invalid Signature" in failed["notes"]
