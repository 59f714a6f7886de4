"""nbgrader preprocessors of the course's autograder (wired in by ``nbgrader_config.py``).

- :class:`GradingExecute` replaces nbgrader's ``Execute``: every submission's kernel runs in
  the bubblewrap sandbox of :mod:`autograder.sandbox`, with the student's hidden-case salt in
  its environment, a total time limit per notebook, and a kernel that dies (``exit()``,
  ``os._exit``, a crash, the memory limit) costing only the cell that killed it. Before
  anything runs, the policy check of :mod:`nncourse.policy` reads the submitted code; a finding
  holds the notebook for manual review. Everything that happened is written to a run log,
  ``autograder/runs/<student>/<assignment>/<notebook>.json``, which the grading report and the
  CSV export read (the sandboxed code cannot reach it).
- :class:`RestoreHiddenTests` (sanitize step, before nbgrader's ``OverwriteCells``) puts the
  hidden tests back into test cells handed in exactly as released, so nbgrader's
  "checksum has changed" warning is left for cells that were really edited.
- :class:`RedactHiddenTests` (feedback) blanks any output that quotes a hidden-test line.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, Unicode

from autograder import sandbox

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs"
HIDDEN_RE = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)
REDACTED = "[output removed by the grader: it quoted the hidden tests]"
#: How many times a dead kernel is restarted within one notebook.
MAX_RESTARTS = 3


def run_log_path(student: str, assignment: str, notebook: str) -> Path:
    return RUNS / student / assignment / f"{notebook}.json"


def read_run_log(student: str, assignment: str, notebook: str) -> dict[str, Any] | None:
    path = run_log_path(student, assignment, notebook)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _nbg(cell: NotebookNode) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test(cell: NotebookNode) -> bool:
    m = _nbg(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.cell_type == "code"


def _label(cell: NotebookNode, index: int) -> str:
    return _nbg(cell).get("grade_id") or f"cell {index + 1}"


def _error(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                  traceback=[f"{ename}: {evalue}"])


def hidden_lines(db_url: str, assignment: str, notebook: str) -> list[str]:
    """Every non-trivial line of the hidden tests of a notebook, read from the gradebook."""
    lines: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            nb = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return lines
        for cell in nb.source_cells:
            for block in HIDDEN_RE.findall(cell.source or ""):
                lines += [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 12]
    return lines


def _redact(nb: NotebookNode, secrets: list[str]) -> list[str]:
    """Blank every output that quotes one of ``secrets``; return the cells touched."""
    if not secrets:
        return []
    flat = [re.sub(r"\s+", "", s) for s in secrets]
    touched = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = json.dumps(out, ensure_ascii=False)
            text = re.sub(r"\s+|\\n|\\t", "", text.replace('\\"', '"'))
            if not any(s in text for s in flat):
                continue
            touched.append(_label(cell, index))
            if out.output_type == "error":  # stays an error: a failed test keeps failing
                out.evalue, out.traceback = REDACTED, [f"{out.ename}: {REDACTED}"]
            elif out.output_type == "stream":
                out.text = REDACTED + "\n"
            else:
                out.data = {"text/plain": REDACTED}
                out.metadata = {}
    return sorted(set(touched))


def _load_policy(spec: str) -> Callable[[NotebookNode], list[Any]] | None:
    """``module:function``, imported on first use; None when the module does not exist yet."""
    import importlib

    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError:
        return None


class GradingExecute(Execute):
    """nbgrader's Execute, sandboxed, salted, time-bounded, logged."""

    isolation = Bool(
        True, help="Run each kernel in the bubblewrap sandbox. Without it the run log and the "
        "report say 'not isolated'; `python -m autograder.grade` refuses to grade without "
        "isolation unless given --no-isolation."
    ).tag(config=True)
    notebook_timeout = Integer(
        180, help="Seconds a whole notebook may run (the budget is 60 s); cells that would run "
        "after it fail with NotebookTimeLimit."
    ).tag(config=True)
    policy = Unicode(
        "nncourse.policy:scan_notebook",
        help="module:function run on each submitted notebook before it executes; a finding "
        "holds the notebook for manual review.",
    ).tag(config=True)

    def create_kernel_manager(self):  # type: ignore[override]
        self.kernel_manager_class = sandbox.SandboxedKernelManager
        km = super().create_kernel_manager()
        km.isolate = self.isolation
        km.submission = self._submission
        km.extra_env = {"NNCOURSE_HIDDEN_SALT": self._salt}
        return km

    # ---- the run --------------------------------------------------------------------------

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any], km: Any = None):
        info = resources["nbgrader"]
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        self._log: dict[str, Any] = {
            "student": student, "assignment": assignment, "notebook": notebook,
            "isolated": self.isolation, "notebook_timeout": self.notebook_timeout,
            "timeouts": [], "kernel_deaths": [], "not_run": [], "redacted": [],
            "policy": [], "held": False, "hit_notebook_limit": False,
        }
        if self.isolation:
            reason = sandbox.unavailable_reason()
            if reason is not None:
                raise sandbox.SandboxUnavailable(
                    f"{reason}. Refusing to run student code unisolated; grade with "
                    "`python -m autograder.grade ASSIGNMENT --no-isolation` to accept the risk.")
            self._log["sandbox"] = sandbox.describe()
        self._salt = sandbox.hidden_salt(student, assignment)
        self._log["hidden_salt_sha256"] = hashlib.sha256(self._salt.encode()).hexdigest()[:12]
        self._submission = str(Path(self._submitted_dir(resources, student, assignment)))
        self._scan_policy(nb)
        start = time.monotonic()
        self._deadline = start + self.notebook_timeout
        try:
            self._execute_all(nb, resources, km)
        except BaseException as exc:
            # nbgrader gives up on this notebook; the report still names why, and still holds
            # it when the policy objected (a crash must not hide the findings)
            self._log["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            raise
        finally:
            self._log["seconds"] = round(time.monotonic() - start, 3)
            secrets = hidden_lines(info["db_url"], assignment, notebook)
            self._log["redacted"] = _redact(nb, secrets)
            self._write_log()
        return nb, self.resources

    def _submitted_dir(self, resources: dict[str, Any], student: str, assignment: str) -> Path:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        return Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))

    def _scan_policy(self, nb: NotebookNode) -> None:
        scan = _load_policy(self.policy)
        if scan is None:
            self._log["policy_available"] = False
            return
        self._log["policy_available"] = True
        try:
            findings = scan(nb)
        except Exception as exc:  # noqa: BLE001 (a crash of the check must not pass silently)
            findings = [{"cell": -1, "grade_id": None, "line": 0, "rule": "policy-error",
                         "message": f"the policy check could not read this notebook "
                                    f"({type(exc).__name__}: {exc})"}]
        # Every finding counts, whatever the cell's metadata says: the submission wrote that
        # metadata (a cell it marks "locked" is not the course's). The course's own cells are
        # recognised by the policy itself, by their exact source.
        out = [f if isinstance(f, dict) else {k: getattr(f, k, None) for k in
                                              ("cell", "grade_id", "line", "rule", "message")}
               for f in findings]
        self._log["policy"] = out
        self._log["held"] = bool(out)

    def _write_log(self) -> None:
        log = self._log
        path = run_log_path(log["student"], log["assignment"], log["notebook"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(log, indent=1))

    def _execute_all(self, nb: NotebookNode, resources: dict[str, Any], km: Any) -> None:
        from nbclient.client import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        start, skip, restarts = 0, set(), 0
        while True:
            try:
                with self.setup_kernel():
                    assert self.kc
                    info = self.wait_for_reply(self.kc.kernel_info())
                    if info:
                        self.nb.metadata["language_info"] = info["content"]["language_info"]
                    self._replay(start, skip)
                    for index in range(start, len(self.nb.cells)):
                        self._current = index
                        self._run(index)
                break
            except _Stop:
                break
            except DeadKernelError as exc:
                index = self._current
                cell = self.nb.cells[index]
                asked = "asked the kernel to exit" in str(exc)
                self._log["kernel_deaths"].append({
                    "cell": index, "grade_id": _label(cell, index),
                    "cause": "exit() or quit()" if asked else "the process ended",
                    "kernel_log": getattr(self, "_death_log", "")[-800:]})
                why = ("exit() or quit() ends the Python process" if asked else
                       "the Python process stopped while this cell ran (os._exit(), "
                       "sys.exit() in a thread, a crash, or the memory limit)")
                cell.outputs.append(_error(
                    "KernelDied", f"{why}; the grader restarted it, ran the cells above again "
                    "(without this one) and went on"))
                skip.add(index)
                start, restarts = max(start, index + 1), restarts + 1
                self.km = self.kc = None
                if restarts > MAX_RESTARTS or time.monotonic() >= self._deadline:
                    self._not_run(start, "the grader stopped restarting a kernel that kept "
                                  "dying")
                    break
        self.set_widgets_metadata()

    def _replay(self, stop: int, skip: set[int]) -> None:
        """Run the cells above ``stop`` again (after a restart), keeping their first outputs."""
        for index in range(stop):
            cell = self.nb.cells[index]
            if index in skip or cell.cell_type != "code":
                continue
            self._current = index
            kept = (cell.get("outputs"), cell.get("execution_count"))
            self._run(index)
            cell.outputs, cell.execution_count = kept

    def _run(self, index: int) -> None:
        cell = self.nb.cells[index]
        if cell.cell_type != "code" or not cell.source.strip():
            return
        if time.monotonic() >= self._deadline:
            self._log["hit_notebook_limit"] = True
            self._not_run(index, f"the notebook's total time limit of {self.notebook_timeout} "
                          "s was reached before this cell ran")
            raise _Stop
        self._asked_exit = False
        try:
            self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            self._death_log = self.km.kernel_log() if hasattr(self.km, "kernel_log") else ""
            raise
        if self._asked_exit:
            raise DeadKernelError("the cell asked the kernel to exit")

    def on_cell_executed(self, **kwargs: Any) -> None:
        super().on_cell_executed(**kwargs)
        payload = kwargs["execute_reply"].get("content", {}).get("payload", [])
        if any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload):
            self._asked_exit = True  # exit()/quit(): ipykernel stops once the reply is sent

    def preprocess_cell(self, cell, resources, index):  # pragma: no cover (not used)
        raise NotImplementedError

    def _not_run(self, start: int, why: str) -> None:
        for index in range(start, len(self.nb.cells)):
            cell = self.nb.cells[index]
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [_error("NotebookTimeLimit" if "time limit" in why
                                       else "NotRun", why)]
                self._log["not_run"].append(_label(cell, index))

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        limit = super()._get_timeout(cell)
        remaining = max(1, math.ceil(self._deadline - time.monotonic()))
        if limit is None or remaining < limit:
            self._binding = "notebook"
            return remaining
        self._binding = "cell"
        return limit

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        index = getattr(self, "_current", -1)
        self._log["timeouts"].append({
            "cell": index, "grade_id": _label(cell, index) if cell is not None else None,
            "seconds": timeout, "limit": getattr(self, "_binding", "cell")})
        if getattr(self, "_binding", "cell") == "notebook":
            self._log["hit_notebook_limit"] = True
        return await super()._async_handle_timeout(timeout, cell)


class _Stop(Exception):
    """The notebook's time is up: leave the execution loop."""


class RestoreHiddenTests(NbGraderPreprocessor):
    """Give a test cell handed in exactly as released its hidden tests back, quietly.

    nbgrader stores the source of every locked cell, hidden tests included, and restores it
    when the submitted cell's checksum differs; since a released test cell has no hidden tests,
    every honest test cell differed and nbgrader warned "checksum has changed" for each of them.
    Cells whose source equals the release are restored here; the warning (and the run log's
    ``edited_locked_cells``) is then left for cells a student really edited.
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        info = resources["nbgrader"]
        released = self._released(info["assignment"], info["notebook"])
        edited = []
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                gid = _nbg(cell).get("grade_id")
                if not gid or not _nbg(cell).get("locked"):
                    continue
                try:
                    source = gb.find_source_cell(gid, info["notebook"], info["assignment"])
                except MissingEntry:
                    continue
                if not source.locked or cell.source == source.source:
                    continue
                if gid in released and cell.source == released[gid]:
                    cell.source = source.source
                else:
                    edited.append(gid)
        _record_sanitize(info, "edited_locked_cells", edited)
        return nb, resources

    def _released(self, assignment: str, notebook: str) -> dict[str, str]:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
        try:
            nb = nbformat.read(path / f"{notebook}.ipynb", as_version=4)
        except OSError:
            return {}
        return {_nbg(c)["grade_id"]: c.source for c in nb.cells if _nbg(c).get("grade_id")}


def _record_sanitize(info: dict[str, Any], key: str, value: Any, fresh: bool = False) -> None:
    """Note what the sanitize step changed, beside the run log (read by the report)."""
    path = run_log_path(info["student"], info["assignment"], info["notebook"])
    path = path.with_suffix(".sanitize.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {}
    if not fresh and path.exists():
        data = json.loads(path.read_text())
    data[key] = value
    path.write_text(json.dumps(data))


class SanitizeMarkdown(NbGraderPreprocessor):
    """Markdown and raw cells a student wrote or changed lose their scripts before grading.

    The autograded notebook is what the formgrader shows the instructor and what feedback is
    made from; the formgrader renders markdown without a sanitizer, so a ``<script>`` in a
    written answer would run in the instructor's session (a hostile student changed every
    classmate's grade that way). Cells whose source is the release's are left as they are.
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        from autograder.feedback_html import clean_markdown

        info = resources["nbgrader"]
        released = self._released_text(info["assignment"], info["notebook"])
        changed = []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type not in ("markdown", "raw") or cell.source in released:
                continue
            clean = clean_markdown(cell.source)
            if clean != cell.source:
                cell.source = clean
                changed.append(index + 1)
        _record_sanitize(info, "sanitized_markdown", changed)
        return nb, resources

    def _released_text(self, assignment: str, notebook: str) -> set[str]:
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
        try:
            nb = nbformat.read(path / f"{notebook}.ipynb", as_version=4)
        except OSError:
            return set()
        return {c.source for c in nb.cells if c.cell_type in ("markdown", "raw")}


class DeduplicateCells(NbGraderPreprocessor):
    """nbgrader's DeduplicateIds, without its crash, and saying what it did.

    A cell duplicated in JupyterLab keeps its nbgrader metadata, so two cells claim one grade
    id. nbgrader's own DeduplicateIds empties the metadata of all but the last copy, which
    then crashes OverwriteCells (``KeyError: 'grade_id'``) and the whole notebook scores 0.
    Here the extra copies become ordinary cells (they still run, in order: the last definition
    of a function wins, as in the learner's kernel); for a written answer the copy kept is the
    last one with an answer in it.
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        info = resources["nbgrader"]
        groups: dict[str, list[int]] = {}
        for index, cell in enumerate(nb.cells):
            gid = _nbg(cell).get("grade_id")
            if gid and (_nbg(cell).get("grade") or _nbg(cell).get("solution")
                        or _nbg(cell).get("locked") or _nbg(cell).get("task")):
                groups.setdefault(gid, []).append(index)
        # Cells claiming a grade id this notebook does not have (pasted from another notebook,
        # or forged) become ordinary cells: nbgrader would otherwise crash on them and the whole
        # notebook would score 0. They still run; the report names them.
        foreign: dict[str, list[int]] = {}
        known = self._known_ids(info)
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            flagged = isinstance(meta, dict) and any(
                meta.get(k) for k in ("grade", "solution", "locked", "task"))
            if flagged and (not gid or (known is not None and gid not in known)):
                foreign.setdefault(str(gid or "(no grade id)"), []).append(index + 1)
                for key in ("nbgrader", "editable", "deletable"):
                    cell.metadata.pop(key, None)
                if gid and index in groups.get(gid, []):
                    groups[gid].remove(index)
        groups = {g: w for g, w in groups.items() if w}
        duplicates = {}
        for gid, where in groups.items():
            if len(where) < 2:
                continue
            keep = where[-1]
            if nb.cells[keep].cell_type == "markdown":
                answered = [i for i in where
                            if nb.cells[i].source.strip() not in ("", "YOUR ANSWER HERE")]
                keep = answered[-1] if answered else keep
            for i in where:
                if i != keep:
                    nb.cells[i].metadata.pop("nbgrader", None)
                    nb.cells[i].metadata.pop("editable", None)
                    nb.cells[i].metadata.pop("deletable", None)
            duplicates[gid] = {"cells": [i + 1 for i in where], "graded": keep + 1}
        _record_sanitize(info, "duplicates", duplicates, fresh=True)
        _record_sanitize(info, "foreign_cells", foreign)
        return nb, resources

    @staticmethod
    def _known_ids(info: dict[str, Any]) -> set[str] | None:
        """The grade ids of this notebook in the gradebook; None if it cannot be read."""
        try:
            with Gradebook(info["db_url"]) as gb:
                nb = gb.find_notebook(info["notebook"], info["assignment"])
                return {c.name for c in nb.source_cells} | {c.name for c in nb.grade_cells}
        except Exception:  # noqa: BLE001 (no gradebook entry: leave the cells to nbgrader)
            return None


class RedactHiddenTests(Preprocessor):
    """Feedback: blank any output that quotes a hidden-test line (``In``, linecache, ...)."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]):
        info = resources.get("nbgrader", {})
        if "db_url" in info:
            _redact(nb, hidden_lines(info["db_url"], info["assignment"], info["notebook"]))
        return nb, resources


# ---- holds: notebooks kept for manual review -------------------------------------------------

REVIEWED = HERE / "reviewed.json"


def notebook_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def reviewed() -> dict[str, Any]:
    try:
        return json.loads(REVIEWED.read_text())
    except (OSError, ValueError):
        return {}


def mark_reviewed(student: str, assignment: str, notebook: str, digest: str) -> None:
    """The instructor reviewed this exact submitted file: its score may be exported."""
    data = reviewed()
    data.setdefault(assignment, {}).setdefault(student, {})[notebook] = digest
    REVIEWED.write_text(json.dumps(data, indent=1))


def held(student: str, assignment: str, notebook: str, submitted: Path) -> list[dict[str, Any]]:
    """The policy findings that hold this notebook, or [] (none, or reviewed since)."""
    log = read_run_log(student, assignment, notebook)
    if not log or not log.get("held"):
        return []
    ok = reviewed().get(assignment, {}).get(student, {}).get(notebook)
    if ok and ok == notebook_digest(submitted):
        return []
    return list(log.get("policy") or [{"rule": "held", "message": "held for review"}])
