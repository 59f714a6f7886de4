"""What the parts of ``bench/run.py`` share: a budget line, the machine, and RESULTS.md.

A :class:`Line` is one figure measured against one budget (``figure <= budget``, or for a
margin ``figure >= budget``). Each part of the bench returns its lines; ``run.py`` prints them,
exits 1 when one fails, and rewrites that part's section of RESULTS.md (between
``<!-- BEGIN part -->`` and ``<!-- END part -->``), leaving the other parts' sections and the
hand-written analysis as they are.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import resource
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"

# The budgets of the course's design brief (COURSE.md, "Budgets"); the per-cell margin is
# nncourse.check.MARGIN, the widget budget lives in budget_widgets.py.
NOTEBOOK_SECONDS = 60.0
CHECK_CELL_SECONDS = 5.0


@dataclass
class Line:
    """One figure against one budget. ``at_least``: the figure must reach the budget (a margin)
    rather than stay under it (a time)."""

    part: str
    name: str
    figure: float
    budget: float
    unit: str = "s"
    at_least: bool = False
    note: str = ""
    ok: bool | None = None  # set to override the comparison (an error, a missing scenario)
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        if self.ok is not None:
            return self.ok
        if self.figure != self.figure:  # NaN: nothing was measured
            return False
        return self.figure >= self.budget if self.at_least else self.figure <= self.budget

    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def figure_text(self) -> str:
        return _fmt(self.figure, self.unit)

    def budget_text(self) -> str:
        return ("≥ " if self.at_least else "≤ ") + _fmt(self.budget, self.unit)

    def text(self, width: int = 58) -> str:
        note = f"  ({self.note})" if self.note else ""
        return (f"{self.name:<{width}} {self.figure_text():>9}  {self.budget_text():<9} "
                f"{self.verdict()}{note}")


def _fmt(value: float, unit: str) -> str:
    if value != value:
        return "—"
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"


def print_lines(lines: list[Line]) -> None:
    width = max([len(line.name) for line in lines] + [64])
    for line in lines:
        print(line.text(width), flush=True)


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of every child process this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid``, its threads, and its live and reaped descendants."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return float("nan")
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
                 timeout: float = 900, poll: float = 0.1) -> tuple[subprocess.CompletedProcess,
                                                                    float, float]:
    """Run ``cmd``; return (the completed process, CPU seconds of its whole tree, wall seconds).

    The tree is polled every ``poll`` seconds and each process's last-seen CPU time is summed:
    a kernel in a sandbox (its own PID namespace, killed rather than waited for) is counted
    too, which getrusage(RUSAGE_CHILDREN) would miss. A process shorter than ``poll`` is missed.
    """
    import tempfile
    import time

    import psutil

    seen: dict[tuple[int, float], float] = {}
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        root = psutil.Process(proc.pid)
        while True:
            try:
                tree = [root] + root.children(recursive=True)
            except psutil.Error:
                tree = []
            for p in tree:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        seen[(p.pid, p.create_time())] = t.user + t.system
                except psutil.Error:
                    continue
            try:
                proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                if time.perf_counter() - start > timeout:
                    proc.kill()
                    proc.wait()
                    break
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    return done, sum(seen.values()), wall


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    """One line: cores, CPU model, Python, numpy and torch versions, OS."""
    return (f"{os.cpu_count()} cores, {cpu_model()}; Python {platform.python_version()}, "
            f"numpy {_version('numpy')}, torch {_version('torch')}; "
            f"{platform.system()} {platform.release()}")


def now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def md_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" * len(header)
    marks = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def lines_table(lines: list[Line]) -> str:
    return md_table(["budget", "figure", "budget", "verdict", "note"],
                    [[ln.name, ln.figure_text(), ln.budget_text(), ln.verdict(), ln.note]
                     for ln in lines], "lrrll")


def section_header(title: str, started: str, load_before: str, command: str) -> str:
    return (f"## {title}\n\n"
            f"Measured {started} with `{command}` at commit {git_commit()}.\n"
            f"Machine: {machine()}.\n"
            f"Load average (1, 5, 15 min) before: {load_before}; after: {load_average()}.\n")


PREAMBLE = """# Latest benchmark results

Written by `make bench` (`bench/run.py`): each section below is replaced when its part runs
(`make bench BENCH_ARGS="--only widgets"` rewrites the widgets section only) and says when, on
what machine and under what load it was measured. Budgets are CPU seconds of the process that
does the work, so other jobs on a shared machine inflate them much less than wall time (which is
given beside them). The hand-written analysis at the end is not regenerated.
"""


def write_section(part: str, text: str, path: Path = RESULTS) -> None:
    """Replace the section of ``part`` in RESULTS.md (or add it before the hand-written end)."""
    begin, end = f"<!-- BEGIN {part} -->", f"<!-- END {part} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else PREAMBLE
    if begin in old and end in old:
        new = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, old,
                     flags=re.S)
    else:
        marker = "<!-- END GENERATED -->"
        if marker not in old:
            old = old.rstrip() + f"\n\n{marker}\n"
        new = old.replace(marker, f"{block}\n\n{marker}")
    path.write_text(new, encoding="utf-8")


def python() -> str:
    return sys.executable
