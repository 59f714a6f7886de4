"""``nbgrader export`` that withholds the score of a submission held for manual review.

Selected in ``nbgrader_config.py`` (``ExportApp.plugin_class``), so the documented command
``nbgrader export --to=...`` uses it. It writes nbgrader's CSV, then blanks ``raw_score`` and
``score`` of every (assignment, student) with a notebook the grading policy held and the
instructor has not reviewed yet (``python -m autograder.grade A --student X --reviewed``), and
says why in an extra ``withheld`` column.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins import CsvExportPlugin

from autograder.preprocessors import held


class WithheldCsvExport(CsvExportPlugin):
    def export(self, gradebook: Gradebook) -> None:
        super().export(gradebook)
        dest = Path(self.to or "grades.csv")
        coursedir = CourseDirectory(config=self.config)
        with dest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            return
        for row in rows:
            reasons = []
            assignment = gradebook.find_assignment(row["assignment"])
            for nb in assignment.notebooks:
                folder = Path(coursedir.format_path(coursedir.submitted_directory,
                                                    row["student_id"], row["assignment"]))
                for finding in held(row["student_id"], row["assignment"], nb.name,
                                    folder / f"{nb.name}.ipynb"):
                    reasons.append(f"{nb.name}: {finding.get('rule')}")
            row["withheld"] = ""
            if reasons:
                row["raw_score"] = row["score"] = ""
                row["withheld"] = "held for manual review (" + "; ".join(reasons) + ")"
        with dest.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
