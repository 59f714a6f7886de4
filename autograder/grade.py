"""Autograde an assignment and write a grading report that explains every score.

    python -m autograder.grade 00_getting_started            # all submitted students
    python -m autograder.grade 00_getting_started --student alice
    python -m autograder.grade 00_getting_started --student alice --reviewed   # release a hold

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

Every submission runs in a bubblewrap sandbox (``autograder/sandbox.py``); without bubblewrap
the command refuses, unless given ``--no-isolation``, and every row then says "not isolated".
Before each run the gradebook is backed up to ``autograder/backups/`` (the last
``KEEP_BACKUPS``). A notebook the grading policy (``nncourse.policy``) objects to is graded but
``held``: its score is withheld from this report and from ``nbgrader export`` until you have
looked at it and run the command again with ``--student X --reviewed``. ``--student X`` updates
only that student's rows of the report.

The exit status is 0 when every submission was graded and 1 when any was unreadable, failed or
held, so scripts can notice; the grades of every other student are stored either way.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder import preprocessors as pp
from autograder import sandbox
from autograder.release import ROOT, nbgrader_env

SUBMITTED = ROOT / "autograder" / "submitted"
TAMPERED = ROOT / "autograder" / "tampered"
RELEASE = ROOT / "course"
AUTOGRADED = ROOT / "autograder" / "autograded"
REPORTS = ROOT / "autograder" / "reports"
BACKUPS = ROOT / "autograder" / "backups"
ORIGINALS = ROOT / "autograder" / "originals"
GRADEBOOK = ROOT / "autograder" / "gradebook.db"
KEEP_BACKUPS = 10
NOT_ISOLATED = "not isolated (graded with --no-isolation: the code could reach the course)"
REFERENCE_MARK = "uses the course's reference implementation"


@dataclass
class Row:
    student: str
    assignment: str
    notebook: str
    status: str
    score: float | str = 0.0
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


def _cell_notes(path: Path, log: dict | None) -> list[str]:
    """What the autograded notebook and its run log say about single cells."""
    import nbformat

    log = log or {}
    timed_out = {t["cell"]: t for t in log.get("timeouts", [])}
    died = {d["cell"]: d for d in log.get("kernel_deaths", [])}
    notes: list[str] = []
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        label = nbg.get("grade_id") or f"cell {index + 1}"
        if index in timed_out:
            t = timed_out[index]
            if t.get("limit") == "notebook":
                notes.append(f"{label}: stopped when the notebook's total time limit "
                             f"({log.get('notebook_timeout')} s) ran out")
            else:
                notes.append(f"{label}: stopped at its time limit of {t['seconds']} s "
                             "(infinite or very slow loop?)")
        if index in died:
            cause = died[index].get("cause", "the process ended")
            notes.append(f"{label}: the kernel died here ({cause}); restarted, the cells above "
                         "re-run, graded on without this cell")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") == "KeyboardInterrupt" for o in errors) and index not in timed_out:
            notes.append(f"{label}: the student's own code raised KeyboardInterrupt (not a time "
                         "limit)")
        if any(REFERENCE_MARK in o.get("evalue", "") for o in errors):
            notes.append(f"{label}: used the nnlib reference (scores 0)")
    return notes


def _run_notes(log: dict | None, sanitize: dict | None) -> list[str]:
    """Notebook-wide notes from the run log and the sanitize step."""
    notes: list[str] = []
    if log:
        if log.get("not_run"):
            why = ("the notebook's total time limit was reached" if log.get("hit_notebook_limit")
                   else "the kernel kept dying")
            notes.append(f"{len(log['not_run'])} cells not run ({why}), the first "
                         f"{log['not_run'][0]}; their tests score 0")
        if log.get("redacted"):
            notes.append("outputs quoting the hidden tests removed from "
                         + ", ".join(log["redacted"]) + " (look at the autograded notebook)")
        if log.get("policy_available") is False:
            notes.append("policy check unavailable (nncourse.policy missing)")
    for gid, dup in ((sanitize or {}).get("duplicates") or {}).items():
        cells = ", ".join(str(c) for c in dup["cells"])
        notes.append(f"{gid} appears {len(dup['cells'])} times (cells {cells}): all ran in order; "
                     f"cell {dup['graded']} is graded as {gid}")
    for gid, cells in ((sanitize or {}).get("foreign_cells") or {}).items():
        where = ", ".join(str(c) for c in cells)
        notes.append(f"cell {where} claims grade id {gid}, which this notebook does not have "
                     f"(pasted from another notebook?): run as an ordinary cell, not graded")
    cleaned = (sanitize or {}).get("sanitized_markdown") or []
    if cleaned:
        notes.append("scripts or unsafe HTML removed from markdown cell "
                     + ", ".join(str(c) for c in cleaned) + " before grading")
    edited = (sanitize or {}).get("edited_locked_cells") or []
    if edited:
        notes.append("locked cells edited and restored from the gradebook: " + ", ".join(edited))
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
            asked = _asked_time(nb, released)
            if asked:
                notes.setdefault((student, name), []).extend(asked)
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
                notes.setdefault((student, name), []).append(
                    f"grading metadata of {', '.join(restored)} was changed and has been "
                    f"restored (original kept in {backup.relative_to(ROOT)})"
                )
    return notes


def _asked_time(nb, released) -> list[str]:
    """Cells whose metadata asks for another time limit than the release grants."""
    by_id = {c.get("id"): c for c in released.cells}
    by_gid = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c
              for c in released.cells}
    # a file saved by an old Jupyter (nbformat 3) has no cell ids: its cells are the release's
    # when their source is, or when they stand where the release's cell stands
    by_source = {c.get("source"): c for c in released.cells}

    def granted(cell: Any) -> Any:
        return cell.get("metadata", {}).get("nnlib", {}).get("timeout") if cell else None

    out = []
    for index, cell in enumerate(nb.cells):
        asked = cell.get("metadata", {}).get("nnlib", {}).get("timeout")
        if asked is None:
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        ref = by_gid.get(gid) if gid else by_id.get(cell.get("id"))
        if ref is None and not gid:
            same_place = released.cells[index] if index < len(released.cells) else None
            candidates = [by_source.get(cell.get("source")), same_place]
            ref = next((c for c in candidates if granted(c) == asked), None)
        if asked != granted(ref):
            label = gid or f"cell {index + 1}"
            out.append(f"{label} asks for {asked} s in its metadata: ignored, the release's "
                       "limit applies")
    return out


NEAR_MISS = [r"\s*\(\d+\)$", r"[-_ ]?copy\d*$", r"[-_ ]\d+$", r"\s+$"]


def _normal(stem: str) -> str:
    stem = stem.lower().strip()
    for _ in range(3):
        for pattern in NEAR_MISS:
            stem = re.sub(pattern, "", stem)
    return re.sub(r"[\s\-]+", "_", stem)


def fix_near_miss_names(assignment: str, students: list[str]) -> dict[tuple[str, str], list[str]]:
    """Grade ``00_getting_started (1).ipynb`` as ``00_getting_started.ipynb``, and say so.

    Only when the expected file is missing and exactly one notebook of the folder has the same
    name up to case, spaces, dashes and a copy suffix (`` (1)``, ``-Copy1``, ``_2``). The
    original is kept in ``autograder/originals/`` and stays in the submission folder.
    """
    notes: dict[tuple[str, str], list[str]] = {}
    expected = [p.stem for p in sorted((RELEASE / assignment).glob("*.ipynb"))]
    for student in students:
        folder = SUBMITTED / student / assignment
        for name in expected:
            target = folder / f"{name}.ipynb"
            marker = pp.RUNS / student / assignment / f"{name}.renamed.json"
            if target.exists():
                if marker.exists():
                    done = json.loads(marker.read_text())
                    if done.get("sha256") == pp.notebook_digest(target):
                        notes[(student, name)] = [done["note"]]
                continue
            found = [p for p in folder.glob("*.ipynb")
                     if p.stem not in expected and _normal(p.stem) == _normal(name)]
            if len(found) != 1:
                continue
            keep = ORIGINALS / student / assignment / found[0].name
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(found[0], keep)
            shutil.copy(found[0], target)
            note = (f"handed in as '{found[0].name}', graded as '{name}.ipynb' (original kept "
                    f"in {keep.relative_to(ROOT)})")
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"note": note, "sha256": pp.notebook_digest(target)}))
            notes[(student, name)] = [note]
    return notes


def backup_gradebook(keep: int = KEEP_BACKUPS) -> Path | None:
    """Copy the gradebook (consistently, with sqlite's backup API); keep the last ``keep``."""
    if not GRADEBOOK.exists():
        return None
    BACKUPS.mkdir(parents=True, exist_ok=True)
    dest = BACKUPS / f"gradebook-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}.db"
    with sqlite3.connect(GRADEBOOK) as src, sqlite3.connect(dest) as out:
        src.backup(out)
    for old in sorted(BACKUPS.glob("gradebook-*.db"))[:-keep]:
        old.unlink()
    return dest


def _missing_gradebook_message() -> str:
    backups = sorted(BACKUPS.glob("gradebook-*.db"))
    if backups:
        return (f"grade: the gradebook {GRADEBOOK.relative_to(ROOT)} is missing, but backups "
                f"exist: restore the latest with `cp {backups[-1].relative_to(ROOT)} "
                f"{GRADEBOOK.relative_to(ROOT)}` and run this command again")
    return (f"grade: the gradebook {GRADEBOOK.relative_to(ROOT)} is missing and there is no "
            "backup: run `nbgrader generate_assignment` for every assignment (the grades "
            "stored in it are lost)")


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


def _run_autograde(assignment: str, student: str | None, isolate: bool = True) -> int:
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
           "--log-level=WARN"]
    if student:
        cmd.append(f"--student={student}")
    if not isolate:
        cmd.append("--GradingExecute.isolation=False")
    return subprocess.run(cmd, cwd=ROOT, env=nbgrader_env()).returncode


def collect_rows(
    assignment: str, students: list[str], notes: dict[tuple[str, str], list[str]] | None = None,
    unisolated: bool = False,
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
            if list(BACKUPS.glob("gradebook-*.db")):
                raise SystemExit(
                    f"grade: assignment {assignment!r} is not in the gradebook. If it was "
                    f"registered before, the gradebook was replaced: the backups are in "
                    f"{BACKUPS.relative_to(ROOT)}/. Otherwise run `nbgrader "
                    f"generate_assignment {assignment}` first"
                ) from None
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
                    log = pp.read_run_log(student, assignment, name)
                    why = f" ({log['error']})" if log and log.get("error") else ""
                    row.notes.append(f"nbgrader could not grade it{why}: see its log")
                    findings = pp.held(student, assignment, name, submitted)
                    if findings:
                        # the policy objected before it ran: held, named, whatever happened next
                        row.status, row.score = "held", ""
                        row.notes.insert(0, _held_note(assignment, student, findings))
                else:
                    log = pp.read_run_log(student, assignment, name)
                    sanitize = None
                    side = pp.run_log_path(student, assignment, name).with_suffix(".sanitize.json")
                    if side.exists():
                        sanitize = json.loads(side.read_text())
                    row.notes += _cell_notes(graded, log)
                    row.notes += _run_notes(log, sanitize)
                    if (log and not log.get("isolated")) or (unisolated and log is None):
                        row.notes.insert(0, NOT_ISOLATED)
                    findings = pp.held(student, assignment, name, submitted)
                    if findings:
                        row.status, row.score = "held", ""
                        row.notes.insert(0, _held_note(assignment, student, findings))
                if row.needs_manual_grade and row.status == "graded":
                    row.notes.append("written answers wait for manual grading (formgrader)")
                rows.append(row)
    return rows


def _held_note(assignment: str, student: str, findings: list[dict]) -> str:
    return ("held for manual review, score withheld (after review: `python -m autograder.grade "
            f"{assignment} --student {student} --reviewed`): "
            + "; ".join(_finding(f) for f in findings))


def _finding(f: dict) -> str:
    where = f"cell {f.get('cell', -1) + 1}" if isinstance(f.get("cell"), int) else "a cell"
    if f.get("grade_id"):
        where += f" ({f['grade_id']})"
    return f"{where}, line {f.get('line')}: {f.get('rule')}: {f.get('message')}"


def write_report(rows: list[Row], assignment: str, only: str | None = None) -> Path:
    """Write the CSV report and return its path.

    With ``only`` (one student), the other students' rows of the existing report are kept.
    """
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{assignment}.csv"
    fields = list(asdict(Row("", "", "", "")).keys())
    out = [{**asdict(r), "notes": "; ".join(r.notes)} for r in rows]
    if only is not None and path.exists():
        with path.open(newline="") as fh:
            kept = [r for r in csv.DictReader(fh) if r.get("student") != only]
        out = sorted(kept + out, key=lambda r: (r["student"], r["notebook"]))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for data in out:
            writer.writerow({k: data.get(k, "") for k in fields})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--student", help="grade only this student")
    parser.add_argument("--no-autograde", action="store_true",
                        help="only rebuild the report from the existing gradebook")
    parser.add_argument("--no-isolation", action="store_true",
                        help="grade without the bubblewrap sandbox (the students' code can then "
                             "read and change the course, the gradebook and each other's work)")
    parser.add_argument("--reviewed", action="store_true",
                        help="with --student: you reviewed this student's held notebooks as they "
                             "are now; release their scores")
    args = parser.parse_args(argv)
    students = [args.student] if args.student else sorted(
        p.name for p in SUBMITTED.glob("*") if (p / args.assignment).is_dir()
    )
    if args.reviewed:
        if not args.student:
            parser.error("--reviewed needs --student")
        for path in sorted((SUBMITTED / args.student / args.assignment).glob("*.ipynb")):
            pp.mark_reviewed(args.student, args.assignment, path.stem, pp.notebook_digest(path))
        args.no_autograde = True
    notes: dict[tuple[str, str], list[str]] = {}
    if not GRADEBOOK.exists():
        print(_missing_gradebook_message(), file=sys.stderr)
        return 2
    if not args.no_autograde:
        if not args.no_isolation and (why := sandbox.unavailable_reason()) is not None:
            print(f"grade: {why}.\nRefusing to run students' code without isolation. Install "
                  "bubblewrap, or pass --no-isolation to accept the risk (every row of the "
                  "report will say 'not isolated').", file=sys.stderr)
            return 2
        backup = backup_gradebook()
        if backup is not None:
            print(f"gradebook backed up to {backup.relative_to(ROOT)}")
        for key, value in fix_near_miss_names(args.assignment, students).items():
            notes.setdefault(key, []).extend(value)
        for key, value in restore_grading_metadata(args.assignment, students).items():
            notes.setdefault(key, []).extend(value)
        add_missing_submission_files(args.assignment, students)
        for student in students:  # this run's logs only: a stale one must not speak for it
            shutil.rmtree(pp.RUNS / student / args.assignment, ignore_errors=True)
        _run_autograde(args.assignment, args.student, isolate=not args.no_isolation)
        if not GRADEBOOK.exists():
            print(_missing_gradebook_message(), file=sys.stderr)
            return 2
    else:
        for key, value in fix_near_miss_names(args.assignment, students).items():
            notes.setdefault(key, []).extend(value)
    rows = collect_rows(args.assignment, students, notes,
                        unisolated=args.no_isolation and not args.no_autograde)
    path = write_report(rows, args.assignment, only=args.student)
    width = max([len(r.student) for r in rows] + [7])
    print(f"{'student':<{width}}  {'notebook':<24} {'score':>11}  status      notes")
    for r in rows:
        score = f"{r.score:g}/{r.max_score:g}" if r.score != "" else f"—/{r.max_score:g}"
        print(f"{r.student:<{width}}  {r.notebook:<24} {score:>11}  {r.status:<10}  "
              f"{'; '.join(r.notes)}")
    print(f"\nreport written to {path.relative_to(ROOT)}")
    bad = [r for r in rows if r.status in ("unreadable", "failed", "not graded", "held")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
