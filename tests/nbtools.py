"""Reading course notebooks and writing simulated submissions for the pipeline tests."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
COURSE = ROOT / "course"

SOLUTION_RE = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
HIDDEN_RE = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def assignments() -> list[str]:
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb"))


def source_path(name: str) -> Path:
    return SOLUTIONS / name / f"{name}.ipynb"


def release_path(name: str) -> Path:
    return COURSE / name / f"{name}.ipynb"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    m = nbg(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.cell_type == "code"


def is_solution(cell) -> bool:
    m = nbg(cell)
    return bool(m.get("solution")) and cell.cell_type == "code"


def is_written(cell) -> bool:
    m = nbg(cell)
    return bool(m.get("solution")) and bool(m.get("grade")) and cell.cell_type == "markdown"


def cells_by_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {nbg(c)["grade_id"]: c for c in nb.cells if nbg(c).get("grade_id")}


def solution_body(source: str) -> str:
    """The source of a solution cell as a learner who solved it would hand it in."""
    return "\n".join(line for line in source.splitlines() if not SOLUTION_RE.match(line))


def hidden_lines(name: str) -> list[str]:
    """Every non-trivial line of the hidden tests of an assignment."""
    out: list[str] = []
    for cell in read(source_path(name)).cells:
        for block in HIDDEN_RE.findall(cell.source):
            out += [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12]
    return out


def solved(name: str) -> nbformat.NotebookNode:
    """The release notebook with every solution and written answer filled in from the source."""
    release, source = read(release_path(name)), cells_by_id(read(source_path(name)))
    for cell in release.cells:
        gid = nbg(cell).get("grade_id")
        if is_solution(cell):
            cell.source = solution_body(source[gid].source)
        elif is_written(cell):
            cell.source = source[gid].source
    return release


def replace_solution(nb, grade_id: str, code: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    cells = cells_by_id(nb)
    assert is_solution(cells[grade_id]), grade_id
    cells[grade_id].source = code
    return nb


def tamper_tests(nb, how: str, only: str | None = None) -> nbformat.NotebookNode:
    """Edit, delete, unlock or re-weight the test cells (all, or only the one named)."""
    nb = copy.deepcopy(nb)
    kept = []
    for cell in nb.cells:
        target = is_test(cell) and (only is None or nbg(cell)["grade_id"] == only)
        if target and how == "delete":
            continue
        if target and how == "edit":
            cell.source = "print('all tests pass')"
        if target and how == "unlock":
            cell.metadata["nbgrader"]["locked"] = False
            cell.metadata["editable"] = True
            cell.metadata["deletable"] = True
            cell.source = "pass"
        if target and how == "points":
            cell.metadata["nbgrader"]["points"] = 100
            cell.source = "pass"
        if target and how == "demote":  # no longer a grade cell at all
            cell.metadata["nbgrader"]["grade"] = False
            cell.source = "pass"
        kept.append(cell)
    nb.cells = kept
    return nb


def tool_env() -> dict[str, str]:
    """The environment for running nbgrader: the venv's bin/ (alembic) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("JUPYTER_CONFIG_DIR", None)
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: float = 3600):
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def course_copy(dest: Path) -> Path:
    """A throw-away copy of the course: sources, releases and the grading configuration."""
    for sub in ("solutions", "course"):
        shutil.copytree(ROOT / sub, dest / sub, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (dest / "autograder").mkdir()
    for f in (ROOT / "autograder").glob("*.py"):
        shutil.copy(f, dest / "autograder" / f.name)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    return dest


def code_cells(nb) -> Iterator[nbformat.NotebookNode]:
    return (c for c in nb.cells if c.cell_type == "code")


# ---- a JupyterLab server for the lab and browser tests ---------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env(tmp: Path, token: str) -> dict[str, str]:
    """Throw-away Jupyter config, runtime, settings and workspaces, and no news toast."""
    import json

    config = tmp / "config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    return dict(tool_env(), JUPYTER_TOKEN=token, JUPYTER_CONFIG_DIR=str(config),
                JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
                JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
                JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))


@contextlib.contextmanager
def running_server(cmd: list[str], env: dict[str, str], port: int, token: str, log: Path,
                   cwd: Path | None = None):
    """Start a Jupyter server in its own session, wait for /api/status, stop it by its PID."""
    import signal
    import time
    import urllib.request

    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=3):
                    break
            except OSError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "the Jupyter server did not start within 60 s"
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
