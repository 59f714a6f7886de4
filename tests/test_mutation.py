"""The check cells kill mechanically generated wrong answers (issue 8's mutation score).

Over every lesson from 01 on (issue 8 asked it of 01-09; the lessons written since follow the
same template and the same bar), at least 97 % of the mutants of the solution cells (see
tests/mutation.py) must fail their exercise's checks, and every survivor must be an equivalent
rewrite listed, with its reason, in tests/mutation_equivalent.txt.
"""

from __future__ import annotations

from pathlib import Path

import mutation
import pytest

LESSONS = sorted(p.name[:2] for p in (Path(__file__).parents[1] / "solutions").iterdir()
                 if p.is_dir() and p.name[:2].isdigit() and p.name[:2] != "00")
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.txt")
MIN_SCORE = 0.97


def _equivalent() -> set[str]:
    keys = set()
    for line in EQUIVALENT.read_text().splitlines():
        line = line.split("  # ")[0].strip()
        if line and not line.startswith("#"):
            keys.add(line)
    return keys


@pytest.fixture(scope="module")
def results():
    return {lesson: mutation.score(lesson) for lesson in LESSONS}


@pytest.mark.slow
def test_every_exercise_passes_its_own_checks_in_process(results):
    errors = [f"{lesson}:{r.exercise}: {r.error}" for lesson, rs in results.items()
              for r in rs if r.error]
    assert not errors, errors


@pytest.mark.slow
def test_mutation_score(results):
    total = sum(r.total for rs in results.values() for r in rs)
    killed = sum(r.killed for rs in results.values() for r in rs)
    assert total > 500, f"only {total} mutants generated: is the harness still finding cells?"
    assert killed / total >= MIN_SCORE, f"{killed}/{total} mutants killed ({killed / total:.1%})"


@pytest.mark.slow
def test_every_survivor_is_a_listed_equivalent_rewrite(results):
    known = _equivalent()
    new = [m.key for rs in results.values() for r in rs for m in r.survivors
           if m.key not in known]
    assert not new, (
        "mutants that pass every check (make a check catch them, or, if they compute the same "
        "thing, list them in tests/mutation_equivalent.txt with the reason):\n" + "\n".join(new)
    )
