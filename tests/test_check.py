"""The learner's self-check command: a verdict per exercise and a non-zero exit on failure."""

import sys

import pytest

from nbtools import ROOT, release_path, run, source_path

pytestmark = pytest.mark.slow


def test_blank_release_fails_with_a_verdict_per_exercise():
    proc = run([sys.executable, "-m", "nncourse.check", str(release_path("00_getting_started"))],
               cwd=ROOT, check=False)
    assert proc.returncode == 1
    out = proc.stdout
    assert "test-one-hot" in out and "test-standardize" in out
    assert out.count("FAIL") == 2 and "not written yet" in out
    assert "graded by hand: not answered yet" in out
    assert "0 of 2 visible checks pass" in out


def test_solved_notebook_passes_and_accepts_a_short_name(tmp_path):
    proc = run([sys.executable, "-m", "nncourse.check", str(source_path("00_getting_started"))],
               cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "2 of 2 visible checks pass (5 of 5 points)" in proc.stdout
    short = run([sys.executable, "-m", "nncourse.check", "00"], cwd=ROOT, check=False)
    assert "course/00_getting_started/00_getting_started.ipynb" in short.stdout
