"""Grading budget: real ``nbgrader autograde`` of each solution notebook for one student.

In a throw-away copy of the course (tests/nbtools.py's ``course_copy``), the assignment is
generated into the gradebook, the release with every solution filled in (``solved``) is handed
in for one student, and ``nbgrader autograde NAME --student bench --force`` runs with the
course's configuration: the per-cell limits, and whatever isolation autograder/ sets up. The
figure is the CPU time of that command and of every process it starts (the grading kernel
included, sandboxed or not); wall time is given beside it. The budget is the notebook's own
60 s (COURSE.md: "the same run for the learner as for the grader") plus ``OVERHEAD_SECONDS``
for nbgrader itself (its start, the gradebook, the sandbox, restoring the test cells: about
8 s of CPU here). A grade below full automatic marks fails the line too: an honest notebook
must not lose a point.

The isolation cost is measured the same way: each notebook is graded again with
``--GradingExecute.isolation=False`` (the kernel outside bubblewrap) in the same run, and the
ratio of the two CPU times must stay within ``ISOLATION_RATIO`` (issue 10: isolation costs at
most 10 % of grading time per notebook). Without bubblewrap the line cannot be measured and
fails.

    python bench/budget_grading.py [NAME-PREFIX ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    NOTEBOOK_SECONDS,
    ROOT,
    Line,
    md_table,
    print_lines,
    run_measured,
)

sys.path.insert(0, str(ROOT / "tests"))
from nbtools import course_copy, run, solved, tool_env  # noqa: E402

OVERHEAD_SECONDS = 15.0
GRADING_SECONDS = NOTEBOOK_SECONDS + OVERHEAD_SECONDS
STUDENT = "bench"
ISOLATION_RATIO = 1.10


def assignments(prefixes: list[str] | None = None) -> list[str]:
    names = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb"))
    if prefixes:
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return names


def _scores(root: Path, name: str) -> tuple[float, float]:
    """(automatic score, its maximum) of the bench student's notebook, from the gradebook."""
    from nbgrader.api import Gradebook

    url = "sqlite:///" + str(root / "autograder" / "gradebook.db")
    with Gradebook(url, "nn-from-scratch") as gb:
        nb = gb.find_submission_notebook(name, name, STUDENT)
        auto = [g for g in nb.grades if g.auto_score is not None]
        return float(sum(g.auto_score for g in auto)), float(sum(g.max_score for g in auto))


def grade_one(root: Path, name: str, isolated: bool = True) -> tuple[float, float, float, float]:
    """Hand in the solved notebook and autograde it: (CPU s, wall s, score, max score)."""
    import nbformat

    run([sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"], cwd=root)
    folder = root / "autograder" / "submitted" / STUDENT / name
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(solved(name), folder / f"{name}.ipynb")
    cmd = [sys.executable, "-m", "nbgrader", "autograde", name, f"--student={STUDENT}",
           "--force"] + ([] if isolated else ["--GradingExecute.isolation=False"])
    proc, cpu, wall = run_measured(cmd, cwd=root, env=tool_env())
    if proc.returncode != 0:
        raise AssertionError(f"nbgrader autograde exited {proc.returncode}: "
                             f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    score, max_score = _scores(root, name)
    return cpu, wall, score, max_score


def run_all(prefixes: list[str] | None = None) -> tuple[list[Line], str]:
    lines: list[Line] = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        root = course_copy(Path(tmp))
        for name in assignments(prefixes):
            try:
                cpu, wall, score, max_score = grade_one(root, name)
            except AssertionError as exc:  # nbgrader failed: name it, go on
                line = Line("grading", f"{name}: autograde one student, CPU", float("nan"),
                            GRADING_SECONDS, ok=False, note=str(exc).splitlines()[0][:200])
                print_lines([line])
                lines.append(line)
                rows.append([name, "—", "—", "—", "—", "—", "FAIL"])
                continue
            full = score == max_score and max_score > 0
            line = Line("grading", f"{name}: autograde one student, CPU", cpu, GRADING_SECONDS,
                        ok=None if full else False,
                        note=f"wall {wall:.1f} s; score {score:g} of {max_score:g}")
            print_lines([line])
            lines.append(line)
            try:
                bare_cpu, bare_wall, *_ = grade_one(root, name, isolated=False)
                ratio = cpu / bare_cpu
            except AssertionError as exc:
                bare_cpu, bare_wall, ratio = float("nan"), float("nan"), float("nan")
                print(f"  {name}: grading without isolation failed: {exc}")
            iso = Line("grading", f"{name}: isolation cost, CPU isolated / not", ratio,
                       ISOLATION_RATIO, unit="x",
                       note=f"{cpu:.1f} s vs {bare_cpu:.1f} s CPU; wall {wall:.1f} vs "
                            f"{bare_wall:.1f} s")
            print_lines([iso])
            lines.append(iso)
            rows.append([name, f"{cpu:.1f}", f"{wall:.1f}", f"{score:g} / {max_score:g}",
                         f"{bare_cpu:.1f}", f"{ratio:.2f}",
                         "PASS" if line.passed and iso.passed else "FAIL"])
    report = "\n".join([
        f"Budget: `nbgrader autograde` of the solved notebook for one student in at most "
        f"{GRADING_SECONDS:g} s of CPU time (the notebook's {NOTEBOOK_SECONDS:g} s and "
        f"{OVERHEAD_SECONDS:g} s for nbgrader), at full automatic marks; isolation (the "
        f"bubblewrap sandbox) at most {ISOLATION_RATIO:g}x the CPU time of the same grading "
        f"without it.",
        "",
        md_table(["notebook", "CPU s", "wall s", "automatic score", "CPU s not isolated",
                  "isolation ratio", "verdict"], rows, "lrrrrrl"),
    ])
    return lines, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 00 07")
    args = parser.parse_args(argv)
    lines, _ = run_all(args.prefixes or None)
    return 0 if all(line.passed for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
