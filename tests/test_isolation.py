"""Grading isolation, with real nbgrader and bubblewrap: hostile submissions cannot harm.

A throw-away copy of the course is graded with the documented command. Hostile students hand in
the blank release plus one attack cell each (the attacks of issue 10); the policy check is
switched off for this class, so what is tested is the sandbox alone. Each attack must fail to
harm: the victim (graded after them) keeps full marks, the gradebook survives with honest
scores, nothing they started outlives grading, and their feedback quotes neither the solutions
nor the hidden tests. Probe students report what their code can see.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from nbtools import SOLUTIONS, course_copy, hidden_lines, nbg, run, solved

pytestmark = pytest.mark.slow
A = "00_getting_started"
FULL = 5.0
TAG = "nncourse-isolation-test-detached"
SOLUTION_RE = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)

HAVE_BWRAP = subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode == 0
if not HAVE_BWRAP and os.environ.get("NNCOURSE_REQUIRE_BWRAP"):
    raise RuntimeError("NNCOURSE_REQUIRE_BWRAP is set but bubblewrap is not installed")
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP,
                                 reason="bubblewrap is not installed (.ci/run installs it)")


def with_cell(nb, code: str, after: str | None = "setup") -> nbformat.NotebookNode:
    """A copy of ``nb`` with a code cell added after the cell ``after`` (None: at the end)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cell = nbformat.v4.new_code_cell(code)
    cell.id = "attack"
    where = len(nb.cells)
    if after is not None:
        where = 1 + next(i for i, c in enumerate(nb.cells) if nbg(c).get("grade_id") == after)
    nb.cells.insert(where, cell)
    return nb


def attacks(root: Path, port: int) -> dict[str, tuple[nbformat.NotebookNode, dict[str, str]]]:
    """Student id -> (notebook, extra files of the submission folder)."""
    blank = nbformat.read(root / "course" / A / f"{A}.ipynb", as_version=4)
    ag = root / "autograder"
    victim = ag / "submitted" / "z_victim" / A / f"{A}.ipynb"
    release = root / "course" / A / f"{A}.ipynb"
    db = ag / "gradebook.db"
    overwrite = f"""
import os, shutil
for target in [{str(victim)!r}, {str(ag / "autograded" / "z_victim" / A / f"{A}.ipynb")!r}]:
    try:
        shutil.copy({str(release)!r}, target)
        print("overwrote", target)
    except Exception as exc:
        print("blocked:", type(exc).__name__)
"""
    detached = f"""
import subprocess, sys
code = ("import sqlite3, time; time.sleep(3); "
        "con = sqlite3.connect({str(db)!r}); con.execute('update grade set auto_score = 100'); "
        "con.commit(); open({str(root / 'pwned')!r}, 'w').write('x')")
subprocess.Popen([sys.executable, "-c", code, {TAG!r}], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("started a detached process")
"""
    delete = f"""
import os
for victim in [{str(db)!r}, {str(root / "solutions")!r}]:
    try:
        os.remove(victim) if victim.endswith(".db") else __import__("shutil").rmtree(victim)
        print("deleted", victim)
    except Exception as exc:
        print("blocked:", type(exc).__name__)
"""
    leak = f"""
import glob
for path in glob.glob({str(root / "solutions")!r} + "/**/*.ipynb", recursive=True):
    print(open(path).read())
print(In)
"""
    probe = f"""
import json, os, socket, threading, time
import numpy as np
import nncourse, nncourse.testing
root = {str(root)!r}
seen = {{p: os.path.exists(os.path.join(root, p)) for p in
        ["solutions", "autograder", "autograder/gradebook.db", "autograder/course_secret",
         "course", "autograder/submitted/z_victim", "nbgrader_config.py"]}}
seen["home"] = os.path.exists(os.path.expanduser("~root/.bashrc"))
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    net = "connected"
except OSError as exc:
    net = type(exc).__name__
try:
    big = np.ones(int(1e9))
    memory = "allocated 8 GB"
except MemoryError:
    memory = "MemoryError"
started = []
try:
    for _ in range(400):
        started.append(threading.Thread(target=time.sleep, args=(1,), daemon=True))
        started[-1].start()
except RuntimeError:
    started.pop()
threads = len(started)
for thread in started:
    thread.join()
try:
    open("/usr/pwned", "w")
    rofs = "wrote"
except OSError as exc:
    rofs = type(exc).__name__
open("scratch.txt", "w").write("mine")
from ipykernel.kernelapp import IPKernelApp
private = os.path.dirname(IPKernelApp.instance().abs_connection_file)
writes = {{}}
for folder in ["/", "/dev", "/usr", private]:
    try:
        with open(os.path.join(folder, "pwned"), "w") as fh:
            fh.write("x")
        writes[folder] = "wrote"
    except OSError as exc:
        writes[folder] = type(exc).__name__
rw = []
for line in open("/proc/self/mountinfo"):
    pre, post = line.split(" - ")
    fstype, _, options = post.split()[:3]
    if "rw" in pre.split()[5].split(","):
        rw.append([pre.split()[4], fstype, options])
print("PROBE", json.dumps({{"seen": seen, "cwd": os.getcwd(), "files": sorted(os.listdir(".")),
                            "writes": writes, "rw": rw, "private": private,
                            "net": net, "memory": memory, "threads": threads,
                            "rofs": rofs, "numpy": np.__file__, "nncourse": nncourse.__file__,
                            "seed": nncourse.testing.hidden_seed("probe"),
                            "salted": bool(os.environ.get("NNCOURSE_HIDDEN_SALT"))}}))
"""
    shadow_pkg = ("class _Any:\n    def __getattr__(self, name):\n        return _Any()\n"
                  "    def __call__(self, *args, **kwargs):\n        return None\n\n"
                  "def __getattr__(name):\n    return _Any()\n")
    shadow = """
import os, sys
sys.path.insert(0, os.getcwd())
import numpy, nncourse, nncourse.checks
print("SHADOW", numpy.__file__, nncourse.__file__)
"""
    files = {"numpy.py": "raise SystemExit('the shadow numpy was imported')\n",
             "nncourse/__init__.py": shadow_pkg, "nncourse/checks/__init__.py": shadow_pkg,
             "nncourse/testing.py": shadow_pkg}
    return {
        "a_overwrite": (with_cell(blank, overwrite), {}),
        "a_detached": (with_cell(blank, detached), {}),
        "a_delete": (with_cell(blank, delete), {}),
        "a_leak": (with_cell(blank, leak, after=None), {}),
        "a_shadow": (with_cell(blank, shadow), files),
        "probe_a": (with_cell(blank, probe), {}),
        "probe_b": (with_cell(blank, probe), {}),
        "z_victim": (solved(A), {}),
    }


def hand_in(root: Path, subs) -> None:
    for student, (nb, files) in subs.items():
        folder = root / "autograder" / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{A}.ipynb")
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)


def gradebook_scores(root: Path) -> dict[str, float]:
    con = sqlite3.connect(root / "autograder" / "gradebook.db")
    rows = con.execute(
        "select student.id, sum(coalesce(grade.manual_score, grade.auto_score, 0)) from grade "
        "join submitted_notebook on grade.notebook_id = submitted_notebook.id "
        "join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id "
        "join student on submitted_assignment.student_id = student.id group by student.id"
    ).fetchall()
    con.close()
    return {sid: float(score) for sid, score in rows}


def survivors() -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if TAG in cmd and "pytest" not in cmd:
                found.append(f"{pid}: {cmd[:200]}")
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = course_copy(tmp_path_factory.mktemp("hostile"))
    # the policy check is off for this class: what is tested is the sandbox alone
    with (root / "nbgrader_config.py").open("a") as fh:
        fh.write('\nc.GradingExecute.policy = "no_such_module_policy_off:scan_notebook"\n')
    run([sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"], cwd=root)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    hand_in(root, attacks(root, server.getsockname()[1]))
    proc = run([sys.executable, "-m", "autograder.grade", A], cwd=root, check=False)
    time.sleep(6)  # the detached process would have struck by now
    try:
        server.accept()
        connected = True
    except BlockingIOError:
        connected = False
    server.close()
    feedback = run([sys.executable, "-m", "nbgrader", "generate_feedback", A, "--force"],
                   cwd=root, check=False)
    with (root / "autograder" / "reports" / f"{A}.csv").open() as fh:
        report = {r["student"]: r for r in csv.DictReader(fh)}
    return {"root": root, "proc": proc, "report": report, "connected": connected,
            "feedback": feedback, "survivors": survivors()}


def cell_text(root: Path, student: str) -> str:
    nb = nbformat.read(root / "autograder" / "autograded" / student / A / f"{A}.ipynb",
                       as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "attack")
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


def probe(root: Path, student: str) -> dict:
    line = next(ln for ln in cell_text(root, student).splitlines() if ln.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


@needs_bwrap
def test_every_row_is_graded_in_isolation(hostile):
    out = hostile["proc"].stdout + hostile["proc"].stderr
    assert hostile["proc"].returncode == 0, out[-3000:]
    for student, row in hostile["report"].items():
        assert row["status"] == "graded", (student, row)
        assert "not isolated" not in row["notes"], row


@needs_bwrap
def test_the_victim_keeps_full_marks(hostile):
    assert float(hostile["report"]["z_victim"]["score"]) == FULL, hostile["report"]["z_victim"]
    assert "blocked" in cell_text(hostile["root"], "a_overwrite")
    assert "overwrote" not in cell_text(hostile["root"], "a_overwrite")


@needs_bwrap
def test_the_gradebook_survives_and_nothing_outlives_the_notebook(hostile):
    root = hostile["root"]
    assert (root / "autograder" / "gradebook.db").exists()
    assert "blocked" in cell_text(root, "a_delete")
    assert (root / "solutions" / A / f"{A}.ipynb").exists()
    scores = gradebook_scores(root)
    assert scores["z_victim"] == FULL
    for student in ("a_overwrite", "a_detached", "a_delete", "a_leak", "a_shadow"):
        assert scores[student] == 0.0, (student, scores)
    assert not (root / "pwned").exists(), "the detached process ran after its notebook"
    assert hostile["survivors"] == []
    assert list((root / "autograder" / "backups").glob("gradebook-*.db"))


@needs_bwrap
def test_the_sandbox_sees_only_its_own_folder_and_the_environment(hostile):
    seen = probe(hostile["root"], "probe_a")
    assert not any(seen["seen"].values()), seen["seen"]
    assert str(hostile["root"]) not in seen["cwd"]
    assert f"{A}.ipynb" in seen["files"] and "submission_secret.txt" not in seen["files"]
    assert seen["net"] != "connected" and not hostile["connected"]
    assert seen["memory"] == "MemoryError"
    assert 0 < seen["threads"] < 300, seen["threads"]
    assert seen["rofs"] == "OSError" or seen["rofs"].endswith("Error"), seen["rofs"]
    assert "/site-packages/numpy/" in seen["numpy"]
    assert not seen["nncourse"].startswith(str(hostile["root"]))


@needs_bwrap
def test_nothing_the_sandbox_writes_reaches_the_host_disk_and_every_write_is_bounded(hostile):
    """The grader's private folder (connection file, log) is read-only inside, the root and /dev
    too; every writable mount is a size-limited tmpfs (or proc, devpts, a device node)."""
    seen = probe(hostile["root"], "probe_a")
    assert set(seen["writes"].values()) <= {"OSError", "PermissionError"}, seen["writes"]
    assert not os.path.exists(os.path.join(seen["private"], "pwned"))
    devices = {f"/dev/{name}" for name in ("null", "zero", "full", "random", "urandom", "tty")}
    for mountpoint, fstype, options in seen["rw"]:
        bounded = (fstype in ("proc", "devpts")
                   or (fstype == "devtmpfs" and mountpoint in devices)
                   or (fstype == "tmpfs" and "size=" in options))
        assert bounded, (mountpoint, fstype, options)
    assert {"/tmp", "/dev/shm", seen["cwd"]} <= {m for m, _, _ in seen["rw"]}


@needs_bwrap
def test_shipped_modules_never_replace_the_course_s(hostile):
    text = cell_text(hostile["root"], "a_shadow")
    assert "SHADOW" in text, text
    assert "/site-packages/numpy/" in text
    assert str(hostile["root"] / "autograder") not in text
    assert float(hostile["report"]["a_shadow"]["score"]) == 0.0


@needs_bwrap
def test_hidden_cases_are_salted_per_student(hostile):
    from nncourse.testing import hidden_seed

    a, b = probe(hostile["root"], "probe_a"), probe(hostile["root"], "probe_b")
    assert a["salted"] and b["salted"]
    assert a["seed"] != b["seed"]
    # no file of the repository fixes them: the unsalted seed is not what the grader used
    assert hidden_seed("probe") not in (a["seed"], b["seed"])
    secret = hostile["root"] / "autograder" / "course_secret"
    assert secret.exists() and secret.stat().st_mode & 0o077 == 0
    ignored = subprocess.run(["git", "check-ignore", "-q", "autograder/course_secret"],
                             cwd=Path(__file__).resolve().parent.parent)
    assert ignored.returncode == 0, "autograder/course_secret must be git-ignored"


@needs_bwrap
def test_feedback_quotes_neither_solutions_nor_hidden_tests(hostile):
    assert hostile["feedback"].returncode == 0, hostile["feedback"].stderr[-2000:]
    page = hostile["root"] / "autograder" / "feedback" / "a_leak" / A / f"{A}.html"
    flat = re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", page.read_text())))
    secrets = [re.sub(r"\s+", "", ln) for ln in hidden_lines(A)]
    source = nbformat.read(SOLUTIONS / A / f"{A}.ipynb", as_version=4)
    answers = [re.sub(r"\s+", "", ln) for c in source.cells if nbg(c).get("solution")
               for block in SOLUTION_RE.findall(c.source)
               for ln in block.splitlines() if len(ln.strip()) > 25]
    assert secrets and answers
    assert not [s for s in secrets if s in flat], "hidden tests in the feedback"
    assert not [s for s in answers if s in flat], "model answers in the feedback"
    notes = hostile["report"]["a_leak"]["notes"]
    assert "quoting the hidden tests removed" in notes, notes


# ---- without bubblewrap ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_bwrap(tmp_path_factory):
    root = course_copy(tmp_path_factory.mktemp("nobwrap"))
    run([sys.executable, "-m", "nbgrader", "generate_assignment", A, "--force"], cwd=root)
    hand_in(root, {"alice": (solved(A), {})})
    env = dict(os.environ, NNCOURSE_BWRAP=str(root / "no-such-bwrap"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]

    def grade(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "autograder.grade", A, *extra], cwd=root,
                              env=env, capture_output=True, text=True, timeout=3600)

    refused = grade()
    graded = grade("--no-isolation")
    with (root / "autograder" / "reports" / f"{A}.csv").open() as fh:
        report = {r["student"]: r for r in csv.DictReader(fh)}
    return {"root": root, "refused": refused, "graded": graded, "report": report}


def test_without_a_sandbox_grading_refuses(no_bwrap):
    assert no_bwrap["refused"].returncode == 2
    assert "--no-isolation" in no_bwrap["refused"].stderr
    assert "bubblewrap" in no_bwrap["refused"].stderr


def test_no_isolation_grades_and_says_so_on_every_row(no_bwrap):
    assert no_bwrap["graded"].returncode == 0, no_bwrap["graded"].stderr[-3000:]
    row = no_bwrap["report"]["alice"]
    assert float(row["score"]) == FULL
    assert row["notes"].startswith("not isolated"), row


def test_the_grader_never_reconnects_to_a_sandboxed_kernel():
    """The grader reaches the kernel's sockets through /proc/<pid>/root, where a symbolic link
    the submission puts in place of a socket would resolve against the host's root: its sockets
    connect once, before any cell runs, and never again."""
    import zmq

    from autograder.sandbox import SandboxedKernelManager

    km = SandboxedKernelManager()
    kc = km.client()
    try:
        sock = kc.context.socket(zmq.DEALER)
        assert sock.getsockopt(zmq.RECONNECT_IVL) == -1
        sock.close(linger=0)
    finally:
        kc.context.destroy(linger=0)
    plain = SandboxedKernelManager(isolate=False).client()
    sock = plain.context.socket(zmq.DEALER)
    assert sock.getsockopt(zmq.RECONNECT_IVL) != -1
    sock.close(linger=0)
