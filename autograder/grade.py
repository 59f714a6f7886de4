"""Autograde an assignment and write a grading report that explains every score.

    python -m autograder.grade 00_getting_started            # all submitted students
    python -m autograder.grade 00_getting_started --student alice

This runs ``nbgrader autograde`` (every submission in ``autograder/submitted/``), then reads the
gradebook and the autograded notebooks and writes ``autograder/reports/<assignment>.csv`` with
one row per student and notebook: the score, and what explains a low one:

- ``unreadable``: the submitted file is not a valid notebook (for example broken JSON). nbgrader
  logs it and moves on, and its CSV export shows a plain 0, indistinguishable from a real 0;
  the report names it so the instructor can ask for a new file;
- ``missing``: the notebook was not handed in;
- ``graded``, with notes for grading metadata that was tampered with and restored (nbgrader
  itself refuses a notebook whose test cell was turned into an ordinary cell, and that student
  would lose every point), cells that hit their time limit (an infinite loop, say), tests
  that failed because the exercise used the nnlib reference, and written answers still waiting
  for a human.

The exit status is 0 when every submission was graded and 1 when any was unreadable or failed,
so scripts can notice; the grades of every other student are stored either way.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.release import ROOT, nbgrader_env

SUBMITTED = ROOT / "autograder" / "submitted"
TAMPERED = ROOT / "autograder" / "tampered"
RELEASE = ROOT / "course"
AUTOGRADED = ROOT / "autograder" / "autograded"
REPORTS = ROOT / "autograder" / "reports"
REFERENCE_MARK = "uses the course's reference implementation"


@dataclass
class Row:
    student: str
    assignment: str
    notebook: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    needs_manual_grade: bool = False
    notes: list[str] = field(default_factory=list)


def _readable(path: Path) -> str | None:
    """None when ``path`` is a notebook nbformat can read, else the reason in plain words."""
    import nbformat

    try:
        json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return "not a text file (not UTF-8)"
    except json.JSONDecodeError as exc:
        return f"not valid JSON (line {exc.lineno}, column {exc.colno})"
    try:
        nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 (any reason to refuse the file is reported)
        return f"not a readable notebook ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def _cell_notes(path: Path) -> list[str]:
    """Timeouts, reference use and errors outside test cells, read off an autograded notebook."""
    import nbformat

    notes: list[str] = []
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        label = nbg.get("grade_id") or f"cell {index + 1}"
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            ename, evalue = out.get("ename", ""), out.get("evalue", "")
            if ename == "CellTimeoutError" or ename == "KeyboardInterrupt":
                notes.append(f"{label}: stopped at its time limit (infinite or very slow loop?)")
            elif REFERENCE_MARK in evalue:
                notes.append(f"{label}: used the nnlib reference (scores 0)")
            break
    return notes


def restore_grading_metadata(
    assignment: str, students: list[str]
) -> dict[tuple[str, str], list[str]]:
    """Put back the nbgrader metadata of every released grade/locked cell in each submission.

    Cells are matched by their id (kept by JupyterLab when a cell is edited) or grade_id. The
    source of test cells is restored by nbgrader itself (from the gradebook); this restores the
    flags nbgrader needs to recognise them, which a submission may have edited. The original
    file is kept in ``autograder/tampered/``. Returns notes per (student, notebook).
    """
    import shutil

    import nbformat

    notes: dict[tuple[str, str], list[str]] = {}
    for release_nb in sorted((RELEASE / assignment).glob("*.ipynb")):
        name = release_nb.stem
        released = nbformat.read(release_nb, as_version=4)
        by_id = {}
        for cell in released.cells:
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta and (meta.get("grade") or meta.get("locked") or meta.get("solution")):
                by_id[cell.get("id")] = cell
                by_id[meta.get("grade_id")] = cell
        for student in students:
            path = SUBMITTED / student / assignment / f"{name}.ipynb"
            if not path.exists() or _readable(path) is not None:
                continue
            nb = nbformat.read(path, as_version=4)
            restored = []
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                ref = by_id.get(meta.get("grade_id")) or by_id.get(cell.get("id"))
                if ref is None or ref.cell_type != cell.cell_type:
                    continue
                want = ref.metadata["nbgrader"]
                if {k: v for k, v in meta.items() if k != "checksum"} != {
                    k: v for k, v in want.items() if k != "checksum"
                }:
                    restored.append(want["grade_id"])
                    cell.metadata["nbgrader"] = dict(want)
                    for flag in ("editable", "deletable"):
                        if flag in ref.metadata:
                            cell.metadata[flag] = ref.metadata[flag]
            if restored:
                backup = TAMPERED / student / assignment / f"{name}.ipynb"
                backup.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, backup)
                nbformat.write(nb, path)
                notes[(student, name)] = [
                    f"grading metadata of {', '.join(restored)} was changed and has been "
                    f"restored (original kept in {backup.relative_to(ROOT)})"
                ]
    return notes


def add_missing_submission_files(assignment: str, students: list[str]) -> None:
    """Give a submission copied in by hand the two files ``nbgrader submit`` would have added.

    ``timestamp.txt`` (used for late penalties; here the newest notebook's modification time)
    and ``submission_secret.txt``: ``nbgrader release_feedback`` stops at the first graded
    submission that lacks either, so a class mixing exchange and LMS submissions needs them.
    """
    import secrets
    from datetime import UTC, datetime

    for student in students:
        folder = SUBMITTED / student / assignment
        stamp = folder / "timestamp.txt"
        secret = folder / "submission_secret.txt"
        notebooks = list(folder.glob("*.ipynb"))
        if not notebooks:
            continue
        if not stamp.exists():
            mtime = max(p.stat().st_mtime for p in notebooks)
            stamp.write_text(
                datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
            )
        if not secret.exists():
            secret.write_text(secrets.token_hex(64))


def _run_autograde(assignment: str, student: str | None) -> int:
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
           "--log-level=WARN"]
    if student:
        cmd.append(f"--student={student}")
    return subprocess.run(cmd, cwd=ROOT, env=nbgrader_env()).returncode


def collect_rows(
    assignment: str, students: list[str], notes: dict[tuple[str, str], list[str]] | None = None
) -> list[Row]:
    """One row per (student, notebook of the assignment), from the gradebook and the files."""
    from nbgrader.api import Gradebook, MissingEntry
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    rows: list[Row] = []
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        try:
            notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            raise SystemExit(
                f"grade: assignment {assignment!r} is not in the gradebook: run "
                f"`nbgrader generate_assignment {assignment}` first"
            ) from None
        for student in students:
            for name in notebooks:
                row = Row(student, assignment, name, "graded")
                row.notes += (notes or {}).get((student, name), [])
                submitted = SUBMITTED / student / assignment / f"{name}.ipynb"
                graded = AUTOGRADED / student / assignment / f"{name}.ipynb"
                try:
                    nb = gb.find_submission_notebook(name, assignment, student)
                    row.score, row.max_score = nb.score, nb.max_score
                    row.needs_manual_grade = bool(nb.needs_manual_grade)
                except MissingEntry:
                    row.max_score = gb.find_notebook(name, assignment).max_score
                    row.status = "not graded"
                if not submitted.exists():
                    row.status = "missing"
                    row.notes.append(f"{name}.ipynb was not handed in")
                elif (reason := _readable(submitted)) is not None:
                    row.status, row.score = "unreadable", 0.0
                    row.notes.append(f"{name}.ipynb is {reason}: ask for a new file")
                elif not graded.exists():
                    row.status = "failed"
                    row.notes.append("nbgrader could not grade it: see its log")
                else:
                    row.notes += _cell_notes(graded)
                if row.needs_manual_grade and row.status == "graded":
                    row.notes.append("written answers wait for manual grading (formgrader)")
                rows.append(row)
    return rows


def write_report(rows: list[Row], assignment: str) -> Path:
    """Write the CSV report and return its path."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{assignment}.csv"
    with path.open("w", newline="") as fh:
        fields = list(asdict(rows[0]).keys()) if rows else ["student"]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            data = asdict(row)
            data["notes"] = "; ".join(row.notes)
            writer.writerow(data)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--student", help="grade only this student")
    parser.add_argument("--no-autograde", action="store_true",
                        help="only rebuild the report from the existing gradebook")
    args = parser.parse_args(argv)
    students = [args.student] if args.student else sorted(
        p.name for p in SUBMITTED.glob("*") if (p / args.assignment).is_dir()
    )
    notes: dict[tuple[str, str], list[str]] = {}
    if not args.no_autograde:
        notes = restore_grading_metadata(args.assignment, students)
        add_missing_submission_files(args.assignment, students)
        _run_autograde(args.assignment, args.student)
    rows = collect_rows(args.assignment, students, notes)
    path = write_report(rows, args.assignment)
    width = max([len(r.student) for r in rows] + [7])
    print(f"{'student':<{width}}  {'notebook':<24} {'score':>11}  status      notes")
    for r in rows:
        score = f"{r.score:g}/{r.max_score:g}"
        print(f"{r.student:<{width}}  {r.notebook:<24} {score:>11}  {r.status:<10}  "
              f"{'; '.join(r.notes)}")
    print(f"\nreport written to {path.relative_to(ROOT)}")
    bad = [r for r in rows if r.status in ("unreadable", "failed", "not graded")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
