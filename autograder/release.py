"""Regenerate the student notebooks in ``course/`` from the sources in ``solutions/``.

    python -m autograder.release            # rebuild course/ (what `make release` runs)
    python -m autograder.release --check    # exit 1 if course/ differs from a fresh build

nbgrader's ``generate_assignment`` runs with ``--no-db`` into a temporary directory, and the
result replaces ``course/<assignment>/``. The build is byte-for-byte reproducible because every
source cell has an explicit id (tests/test_pipeline.py checks both).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "course"


def assignments() -> list[str]:
    """Names of the lessons: the folders of solutions/ that hold a notebook."""
    return sorted(p.parent.name for p in SOURCE.glob("*/*.ipynb"))


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader needs: the venv's bin/ (for alembic) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def build(target: Path, names: list[str] | None = None) -> None:
    """Generate the student version of every (or the named) assignment into ``target``."""
    for name in names or assignments():
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
             "--no-db", f"--CourseDirectory.release_directory={target}", "--log-level=WARN"],
            cwd=ROOT, env=nbgrader_env(), check=True,
        )


def differences(a: Path, b: Path) -> list[str]:
    """Files that differ between two trees, or exist in only one of them."""
    out: list[str] = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        out.extend(f"{prefix}{n} (only in {cmp.left})" for n in cmp.left_only)
        out.extend(f"{prefix}{n} (only in {cmp.right})" for n in cmp.right_only)
        for n in cmp.common_files:
            if (Path(cmp.left) / n).read_bytes() != (Path(cmp.right) / n).read_bytes():
                out.append(f"{prefix}{n} (content differs)")
        for n, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{n}/")

    walk(filecmp.dircmp(a, b, ignore=[".ipynb_checkpoints", "__pycache__"]), "")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="rebuild (or check) only these assignments")
    args = parser.parse_args(argv)
    names = args.only or assignments()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "course"
        build(fresh, names)
        if args.only:
            for name in names:
                if not (fresh / name).exists():
                    raise SystemExit(f"release: no notebook solutions/{name}/{name}.ipynb")
        if args.check:
            diff = []
            for name in names:
                if not (RELEASE / name).exists():
                    diff.append(f"{name} (missing from course/)")
                else:
                    diff += [f"{name}/{d}" for d in differences(fresh / name, RELEASE / name)]
            if not args.only:
                extra = {p.name for p in RELEASE.iterdir() if p.is_dir()} - set(names)
                diff += [f"{name} (in course/ but not in solutions/)" for name in sorted(extra)]
            for line in diff:
                print(f"course/ is out of date: {line}")
            if diff:
                print("Run `make release` and commit course/.")
            return 1 if diff else 0
        RELEASE.mkdir(exist_ok=True)
        for old in RELEASE.iterdir():
            if not args.only and old.is_dir() and not (fresh / old.name).exists():
                shutil.rmtree(old)
        for new in fresh.iterdir():
            dest = RELEASE / new.name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(new, dest)
        print(f"course/ regenerated: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
