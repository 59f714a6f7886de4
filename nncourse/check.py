"""Check one notebook: run it and print a verdict per graded exercise.

``nbgrader validate`` always exits 0; this command exits 1 when any check fails, so it can be
used in scripts too::

    nnlib-check course/00_getting_started/00_getting_started.ipynb
    python -m nncourse.check course/00_getting_started          # the folder works too

It runs a copy of the saved notebook (save first!) in a fresh kernel, with the same per-cell
time limits as the autograder, and reports every test cell: PASS, or FAIL with the first line
of its message. Written answers are listed as graded by hand. Cells outside the tests that
raise an error are reported too, since the tests after them cannot pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["cell_timeout", "CellVerdict", "check_notebook", "main"]

#: Seconds a test cell may run (the budget is 5 s; twice that before it is interrupted).
TEST_CELL_SECONDS = 10
#: Seconds any other cell may run, unless its source grants more via ``metadata.nnlib.timeout``.
OTHER_CELL_SECONDS = 20
#: No cell may ask for more than this, whatever its metadata says.
MAX_CELL_SECONDS = 60


def cell_timeout(cell: Any) -> int:
    """Seconds to wait for one cell before interrupting it (used by the autograder too)."""
    meta = cell.get("metadata", {})
    nbg = meta.get("nbgrader", {})
    if nbg.get("grade") and not nbg.get("solution"):
        return TEST_CELL_SECONDS
    requested = meta.get("nnlib", {}).get("timeout")
    if isinstance(requested, int | float) and not isinstance(requested, bool) and requested > 0:
        return int(min(requested, MAX_CELL_SECONDS))
    return OTHER_CELL_SECONDS


@dataclass
class CellVerdict:
    """What happened to one cell that matters for grading."""

    grade_id: str
    kind: str  # "test", "written", or "cell"
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

    verdicts: list[CellVerdict] = []
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
        else:
            verdict = "PASS" if v.passed else f"FAIL   {v.message}"
        points = f"{v.points:g}" if v.kind != "cell" else "-"
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
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnlib-check", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="a notebook, its folder, or a prefix such as 00")
    args = parser.parse_args(argv)
    path = _resolve(args.notebook)
    verdicts, seconds = check_notebook(path)
    print(render(verdicts, seconds, path))
    ok = all(v.passed for v in verdicts if v.kind in ("test", "cell"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
