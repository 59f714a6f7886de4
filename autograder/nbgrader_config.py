"""nbgrader configuration for the course (loaded by the root ``nbgrader_config.py``).

Layout: source notebooks in ``solutions/``, student notebooks in ``course/``, and nbgrader's
working directories (which hold hidden tests and student work, so they are git-ignored) here
in ``autograder/``. Every path is computed from this file, so nbgrader works from any directory.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# `nbgrader` (the console script) does not put the working directory on sys.path; the course's
# preprocessors live in autograder/ beside this file.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "nn-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
c.CourseDirectory.submitted_directory = "autograder/submitted"
c.CourseDirectory.autograded_directory = "autograder/autograded"
c.CourseDirectory.feedback_directory = "autograder/feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# Only the notebook (and its images) is released: data and helpers come from the installed
# nnlib package, so no other file from solutions/ reaches course/. The two .txt files are what
# `nbgrader submit` adds to a submission; collect and feedback need them.
c.CourseDirectory.include = ["*.ipynb", "*.png", "*.svg", "timestamp.txt", "submission_secret.txt"]
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Students fetch and submit through a local exchange (single machine or shared filesystem).
c.Exchange.root = os.path.join(HERE, "exchange")

# A deleted test cell comes back from the gradebook and is graded, instead of silently
# becoming "needs manual grading" (nbgrader PR #1770).
c.OverwriteCells.add_missing_cells = True

# ---- Executing submissions ------------------------------------------------------------------
# Each submission's kernel runs in a bubblewrap sandbox (autograder/sandbox.py): it reads only
# its own folder and the installed environment, writes only a scratch copy, has no network, is
# bounded in memory, processes and time, and takes everything it started down with it. Its
# hidden cases are salted with a per-course secret and the student id; a policy check reads the
# submitted code first; each notebook has a total time limit (GradingExecute.notebook_timeout);
# a kernel killed by exit() or os._exit costs only that cell. See autograder/preprocessors.py.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.preprocessors import (  # noqa: E402
    DeduplicateCells,
    GradingExecute,
    RestoreHiddenTests,
    SanitizeMarkdown,
)

c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateCells, OverwriteKernelspec,
                                      RestoreHiddenTests, OverwriteCells, SanitizeMarkdown,
                                      CheckCellMetadata]
c.Autograde.autograde_preprocessors = [GradingExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
c.GradingExecute.notebook_timeout = 180
# Per-cell time limits, the same function `nnlib-check` uses: a check cell gets 20 s (4x its 5 s
# budget), other cells 20 s unless the release (course/) grants more in metadata.nnlib.timeout,
# at most 120 s; a submission's own metadata is never read. `make bench` checks that every
# limit is at least 4x the honest cell's CPU time. See nncourse/check.py.
from nncourse.check import release_timeouts  # noqa: E402

c.Execute.timeout_func = release_timeouts(os.path.join(ROOT, "course"))
c.Execute.interrupt_on_timeout = True
# Minimal tracebacks: a failing hidden test shows its message, never the hidden source line.
c.Execute.extra_arguments = [
    "--HistoryManager.hist_file=:memory:",
    "--InteractiveShell.xmode=Minimal",
]

# `nbgrader export` withholds the score of a notebook held for manual review (autograder/export.py)
c.ExportApp.plugin_class = "autograder.export.WithheldCsvExport"

# ---- Feedback -------------------------------------------------------------------------------
# Feedback is made from the autograded notebook, which holds the hidden tests: strip them.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.preprocessors.RedactHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Feedback HTML (and the formgrader's view) is sanitized: a submission's markdown or HTML output
# cannot put a <script>, an event handler or a javascript: link in front of the student or
# the instructor (nbconvert's HTMLExporter does not sanitize by default, and its own sanitizer
# escapes the paragraphs and tables of every markdown cell): autograder/feedback_html.py.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "autograder.feedback_html.clean_html"}
