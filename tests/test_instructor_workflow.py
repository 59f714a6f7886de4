"""The commands of autograder/README.md work as written, on a copy of the course."""

from __future__ import annotations

import csv
import os
import pwd
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from nbtools import ROOT, course_copy, solved, tool_env

pytestmark = pytest.mark.slow
A = "00_getting_started"


def documented_commands() -> list[str]:
    text = (ROOT / "autograder" / "README.md").read_text()
    workflow = text.split("<!-- workflow:", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", workflow, re.S)
    lines = [ln.strip() for block in blocks for ln in block.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_the_readme_documents_the_whole_workflow():
    cmds = " ".join(documented_commands())
    for step in ("generate_assignment", "db student add", "release_assignment", "collect",
                 "autograder.grade", "generate_feedback", "release_feedback", "export"):
        assert step in cmds, step


def sh(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"`{cmd}` exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def test_documented_commands_run_as_written(tmp_path):
    # nbgrader names an exchange submission after the OS user running `nbgrader submit`
    me = pwd.getpwuid(os.getuid()).pw_name
    root = course_copy(tmp_path / "course-repo")
    env = tool_env()
    student_home = tmp_path / "alice"
    student_home.mkdir()
    student_env = dict(env, HOME=str(student_home))
    exchange = f"--Exchange.root={root / 'autograder' / 'exchange'}"
    ran = []
    for cmd in documented_commands():
        if cmd.startswith("nbgrader collect"):
            # alice works through the exchange, as on a shared server ...
            sh(f"nbgrader fetch_assignment {A} --course=nn-from-scratch {exchange}",
               student_home, student_env)
            nbformat.write(solved(A), student_home / A / f"{A}.ipynb")
            sh(f"nbgrader submit {A} --course=nn-from-scratch {exchange}", student_home,
               student_env)
        ran.append(sh(cmd, root, env))
        if cmd.startswith("nbgrader collect"):
            # ... and bob's file comes from an LMS download
            bob = root / "autograder" / "submitted" / "bob" / A
            bob.mkdir(parents=True)
            nbformat.write(nbformat.read(root / "course" / A / f"{A}.ipynb", as_version=4),
                           bob / f"{A}.ipynb")
    assert len(ran) == len(documented_commands())

    with (root / "autograder" / "reports" / f"{A}.csv").open() as fh:
        report = {r["student"]: r for r in csv.DictReader(fh)}
    assert float(report[me]["score"]) == 5.0 and float(report["bob"]["score"]) == 0.0
    with (root / "autograder" / "grades.csv").open() as fh:
        grades = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(grades[me]["score"]) == 5.0
    assert (root / "autograder" / "feedback" / me / A / f"{A}.html").exists()
    # release_feedback put alice's feedback in the exchange for `nbgrader fetch_feedback`
    sh(f"nbgrader fetch_feedback {A} --course=nn-from-scratch {exchange}", student_home,
       student_env)
    assert list((student_home / A / "feedback").rglob("*.html"))
    assert (root / "course" / A / f"{A}.ipynb").exists()
