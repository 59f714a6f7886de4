"""Notebook budgets: each source notebook run top to bottom in a real kernel, as
tests/test_pipeline.py runs it, with the CPU time and wall time of every cell.

Three budgets per notebook:

- the whole notebook in at most 60 s (``common.NOTEBOOK_SECONDS``), kernel start included;
- every check (autograded test) cell in at most 5 s (``common.CHECK_CELL_SECONDS``);
- every code cell's margin under the autograder's per-cell limit: the limit
  (``nncourse.check.cell_timeout``, read from the release) must be at least
  ``nncourse.check.MARGIN`` (4) times the cell's CPU time, so that a grader on a loaded
  machine never turns an honest cell into a zero.

The figures are CPU seconds of the kernel process and everything it starts (threads included:
a BLAS on two threads counts twice), which other jobs on the machine barely change; wall
seconds are given beside them. One line per notebook and budget reports the worst cell; every
cell over a budget gets its own FAIL line (``--verbose``: every cell).

    python bench/budget_notebooks.py [NAME-PREFIX ...] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CHECK_CELL_SECONDS,
    NOTEBOOK_SECONDS,
    ROOT,
    Line,
    md_table,
    print_lines,
    process_tree_cpu_seconds,
)

from nncourse.check import MARGIN, cell_timeout  # noqa: E402

SOLUTIONS = ROOT / "solutions"
#: A hang guard only (the budgets are judged afterwards): a cell stuck this long is an error.
HANG_SECONDS = 600


def assignments(prefixes: list[str] | None = None) -> list[str]:
    names = sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb"))
    if prefixes:
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return names


def is_check(cell) -> bool:
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


@dataclass
class CellTime:
    id: str
    check: bool
    cpu: float
    wall: float
    limit: int

    @property
    def margin(self) -> float:
        return self.limit / max(self.cpu, 1e-3)


@dataclass
class NotebookRun:
    name: str
    wall: float
    cpu: float
    cells: list[CellTime] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Timed(NotebookClient):
    """nbclient's client, recording the kernel's CPU time and the wall time of every cell."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_times: dict[int, tuple[float, float]] = {}
        self.kernel_cpu = 0.0

    def _kernel_cpu(self) -> float:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None) or getattr(
            getattr(provisioner, "process", None), "pid", None)
        return process_tree_cpu_seconds(pid) if pid else float("nan")

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        cpu0, wall0 = self._kernel_cpu(), time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        finally:
            cpu1 = self._kernel_cpu()
            self.kernel_cpu = cpu1
            self.cell_times[cell_index] = (cpu1 - cpu0, time.perf_counter() - wall0)


def run_notebook(path: Path) -> NotebookRun:
    """Execute ``path`` in a fresh python3 kernel in its own folder; time every cell."""
    nb = nbformat.read(path, as_version=4)
    client = _Timed(nb, timeout=HANG_SECONDS, allow_errors=True, kernel_name="python3",
                    resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    result = NotebookRun(path.stem, wall, client.kernel_cpu)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cpu, cell_wall = client.cell_times.get(index, (float("nan"), float("nan")))
        cid = cell.get("id", f"cell {index}")
        result.cells.append(CellTime(cid, is_check(cell), cpu, cell_wall, cell_timeout(cell)))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                result.errors.append(f"{cid}: {out.get('ename')}: {out.get('evalue', '')[:200]}")
    return result


def lines_for(run: NotebookRun, verbose: bool = False) -> list[Line]:
    part, nb = "notebooks", run.name[:2]
    lines = [Line(part, f"{run.name}: whole notebook, CPU", run.cpu, NOTEBOOK_SECONDS,
                  note=f"wall {run.wall:.1f} s")]
    if run.errors:
        lines.append(Line(part, f"{nb}: runs without an error", len(run.errors), 0, unit="",
                          note="; ".join(run.errors)[:300]))
    checks = [c for c in run.cells if c.check]
    if checks:
        slow = max(checks, key=lambda c: c.cpu)
        lines.append(Line(part, f"{nb}: slowest of {len(checks)} check cells ({slow.id})",
                          slow.cpu, CHECK_CELL_SECONDS, note=f"wall {slow.wall:.2f} s"))
        for c in checks:
            if c is not slow and (verbose or c.cpu > CHECK_CELL_SECONDS):
                lines.append(Line(part, f"{nb}: check cell {c.id}", c.cpu, CHECK_CELL_SECONDS,
                                  note=f"wall {c.wall:.2f} s"))
    if run.cells:
        worst = min(run.cells, key=lambda c: c.margin)
        lines.append(Line(part, f"{nb}: smallest margin of {len(run.cells)} cells ({worst.id})",
                          worst.margin, MARGIN, unit="x", at_least=True,
                          note=f"limit {worst.limit} s, CPU {worst.cpu:.2f} s, "
                               f"wall {worst.wall:.2f} s"))
        for c in run.cells:
            if c is not worst and (verbose or c.margin < MARGIN):
                lines.append(Line(part, f"{nb}: margin of cell {c.id}", c.margin, MARGIN,
                                  unit="x", at_least=True,
                                  note=f"limit {c.limit} s, CPU {c.cpu:.2f} s"))
    return lines


def run(prefixes: list[str] | None = None, verbose: bool = False) -> tuple[list[Line], str]:
    """Run the notebooks; return the budget lines (printed as they come) and a Markdown report."""
    lines: list[Line] = []
    rows = []
    slowest_cells: list[tuple[str, CellTime]] = []
    for name in assignments(prefixes):
        result = run_notebook(SOLUTIONS / name / f"{name}.ipynb")
        new = lines_for(result, verbose)
        print_lines(new)
        lines += new
        checks = [c for c in result.cells if c.check]
        slow = max(checks, key=lambda c: c.cpu) if checks else None
        worst = min(result.cells, key=lambda c: c.margin)
        ok = all(ln.passed for ln in new)
        rows.append([name, f"{result.cpu:.1f}", f"{result.wall:.1f}",
                     f"{slow.cpu:.2f} ({slow.id})" if slow else "—",
                     f"{worst.margin:.1f}x ({worst.id}: {worst.limit} s / {worst.cpu:.2f} s)",
                     "PASS" if ok else "FAIL"])
        slowest_cells += [(name, c) for c in result.cells]
    slowest_cells.sort(key=lambda nc: -nc[1].cpu)
    report = [
        f"Budgets: notebook ≤ {NOTEBOOK_SECONDS:g} s, check cell ≤ {CHECK_CELL_SECONDS:g} s, "
        f"every cell's limit ≥ {MARGIN}x its CPU time (limits from `nncourse.check.cell_timeout`,"
        " read from the release). Figures are CPU seconds of the kernel.",
        "",
        md_table(["notebook", "CPU s", "wall s", "slowest check cell, CPU s",
                  "smallest margin (cell: limit / CPU)", "verdict"], rows, "lrrlll"),
        "",
        "The ten slowest cells of the course:",
        "",
        md_table(["notebook", "cell", "CPU s", "wall s", "limit s", "margin"],
                 [[n, c.id, f"{c.cpu:.2f}", f"{c.wall:.2f}", str(c.limit), f"{c.margin:.1f}x"]
                  for n, c in slowest_cells[:10]], "llrrrr"),
    ]
    return lines, "\n".join(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="notebook name prefixes, e.g. 00 07")
    parser.add_argument("--verbose", action="store_true", help="a line for every cell")
    args = parser.parse_args(argv)
    lines, _ = run(args.prefixes or None, args.verbose)
    return 0 if all(line.passed for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
