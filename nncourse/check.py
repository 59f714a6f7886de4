"""Check one notebook: run it and print a verdict per graded exercise.

``nbgrader validate`` always exits 0; this command exits 1 when any check fails, so it can be
used in scripts too::

    nnlib-check course/00_getting_started/00_getting_started.ipynb
    python -m nncourse.check course/00_getting_started          # the folder works too

It runs a copy of the saved notebook (save first!) in a fresh kernel, with the same per-cell
time limits as the autograder, and reports every test cell: PASS, or FAIL with the first line
of its message. Written answers are listed as graded by hand. Cells outside the tests that
raise an error are reported too, since the tests after them cannot pass. Before running, it
applies the grader's policy for graded code (:mod:`nncourse.policy`) and lists each refused
line as REFUSED, with its cell, line and reason: the grader would hold such a notebook for
review.

Per-cell time limits (the autograder uses the same function, :func:`cell_timeout`)
-----------------------------------------------------------------------------------
A grader on a loaded machine must never turn an honest cell into a zero, so every limit is at
least ``MARGIN`` (4) times the CPU time the honest cell needs, as measured by ``make bench``
(``bench/RESULTS.md``; the bench fails when a cell's margin drops below 4):

- a check (autograded test) cell: ``TEST_CELL_SECONDS`` = 20 s, four times its 5 s budget;
- any other cell: ``OTHER_CELL_SECONDS`` = 20 s, unless the release grants it more in its
  ``metadata.nnlib.timeout`` (a training cell, say), at most ``MAX_CELL_SECONDS`` = 120 s.

The limits come from the *release*, the student notebooks in ``course/`` (generated from
``solutions/`` by ``make release``), matched by the cell's nbgrader ``grade_id`` or else by its
cell id: never from the metadata of the notebook being run, which a student can edit. A cell
the release does not know (one the student added) gets ``OTHER_CELL_SECONDS``. Whatever a
submission does to its ids, it can only pick a limit the release grants to some cell, never
more than ``MAX_CELL_SECONDS``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["cell_timeout", "release_limits", "release_timeouts", "CellVerdict",
           "check_notebook", "main"]

#: Seconds a check cell may run: 4x its 5 s budget (bench/ measures the honest cells).
TEST_CELL_SECONDS = 20
#: Seconds any other cell may run, unless the release grants it more (``metadata.nnlib.timeout``).
OTHER_CELL_SECONDS = 20
#: No cell is granted more than this, whatever the release says.
MAX_CELL_SECONDS = 120
#: Every limit must be at least this many times the honest cell's CPU time (``make bench``).
MARGIN = 4

#: The release the limits are read from: course/ beside this package (the repository).
COURSE_DIR = Path(__file__).resolve().parent.parent / "course"


@dataclass(frozen=True)
class ReleaseLimits:
    """What the release says about time limits: its check cells, and the seconds it grants."""

    tests: frozenset[str]  # grade ids of the release's check cells
    granted: dict[str, int]  # "grade_id:<id>", "id:<cell id>" or "source:<sha256>" -> seconds


def _has_text(source: Any) -> bool:
    return bool(("".join(source) if isinstance(source, list) else str(source or "")).strip())


def _source_key(source: Any) -> str:
    """A cell's source as a key: a file saved by an old Jupyter (nbformat 3) has no cell ids,
    and its cells are the release's when their source is."""
    import hashlib

    text = "".join(source) if isinstance(source, list) else str(source or "")
    return "source:" + hashlib.sha256(text.encode()).hexdigest()


def _granted(meta: Any) -> int | None:
    requested = meta.get("nnlib", {}).get("timeout") if isinstance(meta, dict) else None
    if isinstance(requested, int | float) and not isinstance(requested, bool) and requested > 0:
        return int(min(requested, MAX_CELL_SECONDS))
    return None


@functools.lru_cache(maxsize=8)
def _load_release(course_dir: str, stamp: tuple[tuple[str, int], ...]) -> ReleaseLimits:
    tests: set[str] = set()
    granted: dict[str, int] = {}
    for path, _ in stamp:
        try:
            cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a notebook being edited: its cells keep the default limits
        for cell in cells if isinstance(cells, list) else []:
            meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
            nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
            grade_id = nbg.get("grade_id") if isinstance(nbg, dict) else None
            if grade_id and nbg.get("grade") and not nbg.get("solution"):
                tests.add(str(grade_id))
            seconds = _granted(meta)
            if seconds is None:
                continue
            # An id granted different limits in two notebooks keeps the larger one: the
            # function cannot tell the notebooks apart, and must not cut an honest cell short.
            for key in ([f"grade_id:{grade_id}"] if grade_id else []) + (
                    [f"id:{cell['id']}"] if cell.get("id") else []) + (
                    [_source_key(cell.get("source"))] if _has_text(cell.get("source")) else []):
                granted[key] = max(granted.get(key, 0), seconds)
    return ReleaseLimits(frozenset(tests), granted)


def release_limits(course_dir: str | Path | None = None) -> ReleaseLimits:
    """The limits of the release in ``course_dir`` (default :data:`COURSE_DIR`), re-read
    whenever one of its notebooks changes."""
    root = Path(course_dir) if course_dir is not None else COURSE_DIR
    stamp = []
    for path in sorted(root.glob("*/*.ipynb")):
        try:
            stamp.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            continue
    return _load_release(str(root), tuple(stamp))


def cell_timeout(cell: Any, release: str | Path | None = None) -> int:
    """Seconds to wait for one cell before interrupting it (the autograder uses it too).

    The limit comes from the release in ``release`` (default :data:`COURSE_DIR`), looked up by
    the cell's nbgrader grade id, else by its cell id, else by its exact source (a file saved
    as nbformat 3 has no cell ids); the cell's own ``metadata.nnlib`` is never read. See the
    module docstring for the values and why.
    """
    meta = cell.get("metadata", {}) or {}
    nbg = meta.get("nbgrader", {}) or {}
    grade_id = nbg.get("grade_id")
    limits = release_limits(release)
    is_test = bool(nbg.get("grade") and not nbg.get("solution")) or grade_id in limits.tests
    base = TEST_CELL_SECONDS if is_test else OTHER_CELL_SECONDS
    for key in (f"grade_id:{grade_id}" if grade_id else None,
                f"id:{cell.get('id')}" if cell.get("id") else None,
                _source_key(cell.get("source")) if _has_text(cell.get("source")) else None):
        if key in limits.granted:
            return max(base, limits.granted[key])
    return base


def release_timeouts(course_dir: str | Path) -> Callable[[Any], int]:
    """:func:`cell_timeout` bound to the release in ``course_dir``: nbgrader's
    ``Execute.timeout_func`` for a course whose release is not :data:`COURSE_DIR`."""
    return functools.partial(cell_timeout, release=os.fspath(course_dir))


@dataclass
class CellVerdict:
    """What happened to one cell that matters for grading."""

    grade_id: str
    kind: str  # "test", "written", "cell", or "policy" (a line the grader would refuse)
    points: float
    passed: bool | None  # None: graded by hand
    message: str = ""


def _first_line(text: str, limit: int = 1000) -> str:
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_notebook(path: str | Path) -> tuple[list[CellVerdict], float]:
    """Execute ``path`` and return a verdict for each graded cell, and the run time in seconds."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    from nncourse.policy import scan_notebook

    refused = scan_notebook(nb)  # what the grader would hold for review, said first
    client = NotebookClient(
        nb,
        timeout=OTHER_CELL_SECONDS,
        timeout_func=cell_timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start

    verdicts = [CellVerdict(f"policy: {f.rule}", "policy", 0.0, False, f.message)
                for f in refused]
    section = "the top of the notebook"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            import re

            heading = re.search(r"^#+\s+(.+)$", cell.source, re.M)
            if heading:
                section = f"section '{heading.group(1).strip()}'"
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        message = ""
        if errors:
            err = errors[0]
            message = f"{err.get('ename', 'Error')}: {_first_line(err.get('evalue', ''))}"
            from nncourse.testing import _EXCEPTION_HINTS

            for pattern, hint in _EXCEPTION_HINTS:
                if pattern in message and "Hint:" not in message:
                    message += f". Hint: {hint}"
                    break
            if err.get("ename") == "NotImplementedError":
                message = "not written yet (the function still raises NotImplementedError)"
            if err.get("ename") == "CellTimeoutError" or "Interrupt" in err.get("ename", ""):
                message = (f"took longer than {cell_timeout(cell)} s and was stopped (an "
                           "infinite loop, or a slow Python loop over the entries?)")
        if nbg.get("grade") and not nbg.get("solution") and cell.cell_type == "code":
            verdicts.append(CellVerdict(nbg.get("grade_id", f"cell {index}"), "test",
                                        float(nbg.get("points", 0)), not errors, message))
        elif nbg.get("grade") and nbg.get("solution"):
            answered = cell.source.strip() not in ("", "YOUR ANSWER HERE")
            verdicts.append(CellVerdict(nbg.get("grade_id", f"cell {index}"), "written",
                                        float(nbg.get("points", 0)), None,
                                        "" if answered else "not answered yet"))
        elif errors:
            label = f"a cell in {section}"
            verdicts.append(CellVerdict(label, "cell", 0.0, False, message))
    return verdicts, seconds


def _resolve(arg: str) -> Path:
    path = Path(arg)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
        if len(found) != 1:
            raise SystemExit(f"nnlib-check: expected one notebook in {path}, found {len(found)}")
        return found[0]
    if not path.exists():
        # allow "00" or "00_getting_started" as a shorthand for course/<that>/
        matches = sorted(Path("course").glob(f"{arg}*/*.ipynb"))
        if len(matches) == 1:
            return matches[0]
        raise SystemExit(f"nnlib-check: no notebook at {path}")
    return path


def render(verdicts: list[CellVerdict], seconds: float, path: Path) -> str:
    """The verdict table printed by the command."""
    lines = [f"Checked {path} in {seconds:.1f} s", ""]
    width = max([len(v.grade_id) for v in verdicts] + [8])
    lines.append(f"  {'check':<{width}}  {'points':>6}  verdict")
    for v in verdicts:
        if v.kind == "written":
            verdict = "graded by hand" + (f": {v.message}" if v.message else " (answered)")
        elif v.kind == "cell":
            verdict = (f"ERROR  {v.message}  (this cell may run a function you wrote above: "
                       "fix that first; later cells may depend on it)")
        elif v.kind == "policy":
            verdict = f"REFUSED  {v.message}"
        else:
            verdict = "PASS" if v.passed else f"FAIL   {v.message}"
        points = f"{v.points:g}" if v.kind not in ("cell", "policy") else "-"
        lines.append(f"  {v.grade_id:<{width}}  {points:>6}  {verdict}")
    tests = [v for v in verdicts if v.kind == "test"]
    passed = [v for v in tests if v.passed]
    earned = sum(v.points for v in passed)
    total = sum(v.points for v in tests)
    lines += [
        "",
        f"{len(passed)} of {len(tests)} visible checks pass ({earned:g} of {total:g} points). "
        "The grader also runs hidden tests, so a pass here is necessary, not sufficient.",
    ]
    refused = [v for v in verdicts if v.kind == "policy"]
    if refused:
        lines.append(f"{len(refused)} line{'s' if len(refused) != 1 else ''} of this notebook "
                     "use what graded work may not (REFUSED above): the grader would hold it "
                     "for review and withhold its score.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnlib-check", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="a notebook, its folder, or a prefix such as 00")
    args = parser.parse_args(argv)
    path = _resolve(args.notebook)
    verdicts, seconds = check_notebook(path)
    print(render(verdicts, seconds, path))
    ok = all(v.passed for v in verdicts if v.kind in ("test", "cell", "policy"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
