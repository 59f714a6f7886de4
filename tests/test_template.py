"""Exercise template v2: a check cell fits on a screen, and a derivation's answer is not given away.

- every check cell of a student notebook is short (median <= 10 non-blank lines over the
  course, none over 25) and calls into its lesson's checks module; its hidden block is at most
  three lines;
- the lesson's checks module exists, and each check function it exports says what it verifies;
- for every exercise where deriving is the lesson (backward passes, derivatives, gradients), no
  line of the reference solution appears in the student notebook outside its hints (the
  ``<details>`` blocks), nor in a string of the lesson's checks module (a visible message).
"""

from __future__ import annotations

import ast
import importlib
import re
import statistics

import pytest

from nbtools import (
    HIDDEN_RE,
    assignments,
    is_solution,
    is_test,
    read,
    release_path,
    source_path,
)

ALL = assignments()
MAX_LINES = 25
MEDIAN_LINES = 10
MAX_HIDDEN_LINES = 3

#: grade ids of the exercises whose answer the learner derives (issue 8: "every backward pass,
#: every gradient of a loss, later BPTT"). None of their solution lines may be shown.
DERIVED = re.compile(r"backward|derivative|jacobian|^two-layer$")
#: exercises that compute a given value (a loss's definition is given) and a derived gradient:
#: only the lines computing the gradient (assigned to d..., grad...) may not be shown.
GRADIENT_OF = re.compile(r"-loss$")
GRADIENT_TARGET = re.compile(r"^\s*(d\w*|grad\w*)\s*[-+*/]?=")


def _nonblank(text: str) -> int:
    return len([line for line in text.splitlines() if line.strip()])


def _slug(name: str) -> str:
    return name.split("_", 1)[1]


def _check_cells(name: str):
    return [c for c in read(release_path(name)).cells if c.cell_type == "code" and is_test(c)]


def test_check_cells_fit_on_a_screen():
    sizes = {}
    for name in ALL:
        for cell in _check_cells(name):
            sizes[f"{name}:{cell.metadata['nbgrader']['grade_id']}"] = _nonblank(cell.source)
    assert sizes
    too_long = {k: v for k, v in sizes.items() if v > MAX_LINES}
    assert not too_long, f"check cells longer than {MAX_LINES} non-blank lines: {too_long}"
    median = statistics.median(sizes.values())
    assert median <= MEDIAN_LINES, f"median check cell has {median} lines (goal <= {MEDIAN_LINES})"


@pytest.mark.parametrize("name", ALL)
def test_check_cells_call_the_lessons_checks(name):
    module = f"nncourse.checks.{_slug(name)}"
    mod = importlib.import_module(module)
    for cell in read(source_path(name)).cells:
        if cell.cell_type != "code" or not is_test(cell):
            continue
        gid = cell.metadata["nbgrader"]["grade_id"]
        assert f"from nncourse.checks import {_slug(name)} as checks" in cell.source, (
            f"{name}:{gid} does not import its lesson's checks ({module})"
        )
        calls = re.findall(r"checks\.(\w+)\(", cell.source)
        assert calls, f"{name}:{gid} calls no check"
        for fn in calls:
            f = getattr(mod, fn, None)
            assert callable(f), f"{module} has no check {fn}"
            assert (f.__doc__ or "").strip(), f"{module}.{fn} has no docstring listing its checks"
        hidden = HIDDEN_RE.findall(cell.source)
        for block in hidden:
            body = re.sub(r"### (BEGIN|END) HIDDEN TESTS", "", block)
            assert _nonblank(body) <= MAX_HIDDEN_LINES, (
                f"{name}:{gid}: hidden block of {_nonblank(body)} lines (at most "
                f"{MAX_HIDDEN_LINES}: the cases live in {module})"
            )


def _between_markers(source: str) -> list[str]:
    lines = source.splitlines()
    begin = next(i for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines) if "### END SOLUTION" in line)
    return lines[begin + 1 : end]


def _solution_expressions(source: str, gradients_only: bool = False) -> list[str]:
    """The non-trivial expressions of a solution body, without spaces."""
    out = []
    for line in _between_markers(source):
        if gradients_only and not GRADIENT_TARGET.match(line):
            continue
        if re.match(r"^\s*loss\s*=", line):  # the loss value is given, not derived
            continue
        text = line.split("#")[0].strip()
        if "=" in text and not re.match(r"^\w+\s*=\s*\w+$", text):
            text = text.split("=", 1)[1] if re.match(r"^[\w\s,\[\]\"']+=[^=]", text) else text
        text = text.removeprefix("return ").strip()
        compact = re.sub(r"\s+", "", text)
        # only lines that compute something: an operator and a few names
        if len(compact) >= 10 and re.search(r"[-+*/@]|\.T\b|np\.", compact):
            out.append(compact)
    return out


def _visible_text(name: str) -> str:
    """The student notebook without its hints, plus every string of the lesson's checks."""
    parts = []
    for cell in read(release_path(name)).cells:
        text = cell.source
        if cell.cell_type == "markdown":
            text = re.sub(r"<details>.*?</details>", "", text, flags=re.S)
        parts.append(text)
    try:
        mod = importlib.import_module(f"nncourse.checks.{_slug(name)}")
        tree = ast.parse(open(mod.__file__).read())
        parts += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str)]
    except ModuleNotFoundError:
        pass
    return re.sub(r"\s+", "", "\n".join(parts))


@pytest.mark.parametrize("name", ALL)
def test_derived_answers_are_not_given_away(name):
    haystack = _visible_text(name)
    leaks = []
    for cell in read(source_path(name)).cells:
        if cell.cell_type != "code" or not is_solution(cell):
            continue
        gid = cell.metadata["nbgrader"]["grade_id"]
        if not (DERIVED.search(gid) or GRADIENT_OF.search(gid)):
            continue
        gradients_only = not DERIVED.search(gid)
        for expr in _solution_expressions(cell.source, gradients_only):
            if expr in haystack:
                leaks.append(f"{gid}: {expr}")
    assert not leaks, (
        f"{name}: reference solution lines of derivation exercises are visible outside the "
        f"hints: {leaks}"
    )
