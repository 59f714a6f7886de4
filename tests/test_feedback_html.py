"""Feedback HTML is sanitized (fast: nbconvert with the course's nbgrader configuration).

A submission's markdown cells and HTML outputs reach the feedback page and the formgrader;
with the course's configuration, scripts, event handlers and javascript: links are removed.
"""

from __future__ import annotations

import re

import nbformat
from nbconvert import HTMLExporter
from traitlets.config.loader import PyFileConfigLoader

from nbtools import ROOT

HONEST_MD = ("# A heading\n\nAn honest **answer** with `a < b` and $x^2 < 1$.\n\n"
             "| a | b |\n|---|---|\n| 1 | 2 |\n\n<details><summary>Hint 1</summary>text</details>")
HOSTILE_MD = ('<script>document.title = "pwned"; fetch("/api/contents")</script>\n\n'
              '<a href="javascript:alert(1)">click</a> <img src=x onerror="alert(2)">\n\n'
              'An honest **answer** with `code` and $x^2$.')


def _html(nb: nbformat.NotebookNode) -> str:
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "autograder")).load_config()
    body, _ = HTMLExporter(config=config).from_notebook_node(nb)
    return body


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("display_data", data={
        "text/html": '<b>table</b><script>alert(3)</script><div onclick="alert(4)">x</div>',
        "text/plain": "table"})
    nb.cells = [nbformat.v4.new_markdown_cell(HONEST_MD), nbformat.v4.new_markdown_cell(HOSTILE_MD),
                nbformat.v4.new_code_cell("display(...)", outputs=[out])]
    return nb


def test_the_course_configuration_sanitizes_feedback_html():
    html = _html(_notebook())
    cells = html[html.index('<main'):] if '<main' in html else html
    assert "<script" not in cells.lower(), "a script element reached the feedback"
    assert not re.search(r"<[a-z][^<>]*\son\w+\s*=", cells, re.I), "an event handler survived"
    assert not re.search(r"href\s*=\s*[\"']?\s*javascript:", cells, re.I), "a javascript: link"
    # honest markup stays markup (nbconvert's own sanitizer escapes <p>, headings and tables)
    for tag in ("<h1", "<p>", "<strong>answer</strong>", "<table>", "<td>1</td>",
                "<details><summary>Hint 1</summary>", "<code>a &lt; b</code>", "<b>table</b>"):
        assert tag in cells, f"{tag} lost"
    assert "&lt;p&gt;" not in cells


def test_without_it_the_scripts_would_reach_the_page():
    body, _ = HTMLExporter().from_notebook_node(_notebook())
    assert "pwned" in body  # the default exporter copies them: the setting is what protects


def test_written_answers_lose_their_scripts_before_grading():
    """The formgrader renders markdown without a sanitizer: the grader cleans the cells a
    student wrote (a script in a written answer changed every classmate's grade)."""
    from autograder.feedback_html import clean_markdown

    answer = ("XOR is **not** linearly separable: $w_1 + b \\geq 0$.\n\n"
              "<script>fetch('/formgrader/api/grade/1', {method: 'PUT'})</script>\n"
              "[see](javascript:alert(1)) <img src=x onerror=\"alert(2)\"> "
              "<a href=\"javascript:alert(3)\">x</a>\n\n"
              "<details><summary>why</summary>four inequalities</details>")
    clean = clean_markdown(answer)
    assert "<script" not in clean and "javascript:" not in clean and "onerror" not in clean
    assert "**not** linearly separable" in clean and "<details><summary>why</summary>" in clean
    assert clean_markdown(clean) == clean


def test_the_grader_cleans_markdown_after_restoring_the_course_cells():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "autograder")).load_config()
    names = [getattr(p, "__name__", p) for p in config.Autograde.sanitize_preprocessors]
    assert names.index("SanitizeMarkdown") > names.index("OverwriteCells")
