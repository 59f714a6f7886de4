"""`make bench`: every budget of the course, each figure printed against its budget.

Parts (all by default; ``--only`` picks some, ``make bench BENCH_ARGS="--only widgets"``):

- ``widgets``   every explorer in nncourse/widgets/ redraws in <= 0.5 s of CPU (budget_widgets.py)
- ``notebooks`` every source notebook top to bottom in a real kernel: <= 60 s, every check cell
                <= 5 s, every cell's autograder limit >= 4x its CPU time (budget_notebooks.py)
- ``grading``   real ``nbgrader autograde`` of each solved notebook for one student, at full
                marks, within the notebook's budget plus nbgrader's own (budget_grading.py)
- ``torch``     nnlib against PyTorch: every ``bench/bench_*.py`` (bench_mlp.py: one MLP
                training step; others add their own), each row's ratio nnlib / torch against
                the row's ``budget_ratio``

Each line reads: what, the figure, the budget, PASS or FAIL. The exit status is 1 when any
budget is missed (measure on an idle machine: the load average is printed and recorded). Each
part rewrites its own section of bench/RESULTS.md with the date, the machine and the load.

    python bench/run.py                          # everything (15-30 min on 2 cores)
    python bench/run.py --only widgets           # one part (comma-separated or repeated)
    python bench/run.py --only notebooks,grading --notebooks 00 07
    python bench/run.py --only torch --threads 1 # BLAS and torch on one thread
    python bench/run.py --no-write               # print only, leave RESULTS.md alone

A ``bench/bench_*.py`` module exposes ``run() -> list[dict]`` (``run(threads=N)`` if it takes
``threads``), one dict per row with the keys ``name``, ``nnlib_ms``, ``torch_ms``, ``ratio``,
``budget_ratio`` (None: no budget) and any extras; a row that passes on another criterion too
sets ``passed`` (bool) and says which in ``budget_note``. It runs alone with
``python bench/bench_<name>.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import (  # noqa: E402
    Line,
    load_average,
    machine,
    md_table,
    now,
    print_lines,
    section_header,
    write_section,
)

PARTS = ("widgets", "notebooks", "grading", "torch")
TITLES = {
    "widgets": "Widgets: a redraw in at most 0.5 s of CPU",
    "notebooks": "Notebooks, check cells and per-cell time limits",
    "grading": "Grading: nbgrader autograde, one student per notebook",
    "torch": "nnlib against PyTorch on the CPU",
}


def bench_modules() -> list[Path]:
    """Every bench/bench_*.py, bench_mlp.py first."""
    return sorted(HERE.glob("bench_*.py"), key=lambda p: (p.name != "bench_mlp.py", p.name))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run_torch(threads: int | None, profile: int | None) -> tuple[list[Line], str]:
    lines: list[Line] = []
    rows = []
    for path in bench_modules():
        try:
            module = _load(path)
            takes_threads = "threads" in inspect.signature(module.run).parameters
            if threads is not None and not takes_threads:
                from threadpoolctl import threadpool_limits

                threadpool_limits(limits=threads, user_api="blas")
            results = module.run(threads=threads) if threads is not None and takes_threads \
                else module.run()
        except Exception as exc:  # noqa: BLE001 (a parity failure, say: named, then go on)
            traceback.print_exc()
            line = Line("torch", f"{path.stem}: runs and matches torch", float("nan"), 0.0,
                        unit="ratio", ok=False, note=f"{type(exc).__name__}: {exc}"[:300])
            print_lines([line])
            lines.append(line)
            rows.append([path.stem, "—", "—", "—", "—", "—", "FAIL", line.note])
            continue
        for row in results:
            extras = {k: v for k, v in row.items() if v is not None and k not in (
                "name", "nnlib_ms", "torch_ms", "ratio", "budget_ratio", "passed")}
            extra_text = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in extras.items())
            budget = row.get("budget_ratio")
            # A row may decide itself ("passed": another criterion, stated in its "budget_note")
            ok = bool(row["passed"]) if row.get("passed") is not None else (
                True if budget is None else None)
            line = Line("torch", f"{path.stem}: {row['name']}, ratio nnlib / torch",
                        float(row["ratio"]), float(budget) if budget is not None else float("inf"),
                        unit="ratio", ok=ok,
                        note=f"nnlib {row['nnlib_ms']:.3f} ms, torch {row['torch_ms']:.3f} ms"
                             + ("" if budget is not None else "; no budget")
                             + (f"; {row['budget_note']}" if row.get("budget_note") else ""))
            print_lines([line])
            lines.append(line)
            rows.append([path.stem, row["name"], f"{row['nnlib_ms']:.3f}",
                         f"{row['torch_ms']:.3f}", f"{row['ratio']:.2f}",
                         "—" if budget is None else f"{budget:g}", line.verdict(), extra_text])
        if path.stem == "bench_mlp" and profile is not None:
            batch_size, widths = module.SIZES[profile]
            module.profile_nnlib(batch_size, widths, module.np.float32)
    report = "\n".join([
        "Ratio = nnlib ms / torch ms, both measured in this run (alternating timed runs, so "
        "that other load falls on both alike); above 1 nnlib is slower. A row passes when its "
        "ratio is at most its budget. Every row first checks that both libraries compute the "
        "same result.",
        "",
        md_table(["bench", "row", "nnlib ms", "torch ms", "ratio", "budget", "verdict",
                  "details"], rows, "llrrrrll"),
    ])
    return lines, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:16]))
    parser.add_argument("--only", action="append", default=None, metavar="PART",
                        help=f"run only these parts ({', '.join(PARTS)}); comma-separated or "
                             "repeated")
    parser.add_argument("--notebooks", nargs="+", metavar="PREFIX", default=None,
                        help="notebooks and grading: only the notebooks whose names start so")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch: limit NumPy's BLAS (and torch) to this many threads")
    parser.add_argument("--profile", type=int, metavar="I", default=None,
                        help="torch: also cProfile the nnlib MLP step of SIZES[I] (float32)")
    parser.add_argument("--verbose", action="store_true",
                        help="a line for every widget setting and every notebook cell")
    parser.add_argument("--no-write", action="store_true", help="leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)

    parts = [p for item in (args.only or list(PARTS)) for p in item.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; the parts are {', '.join(PARTS)}")
    parts = [p for p in PARTS if p in parts]

    print(f"make bench, {now()}: {', '.join(parts)}")
    print(f"machine: {machine()}")
    print(f"load average (1, 5, 15 min): {load_average()} (budgets assume an idle machine)\n")
    all_lines: list[Line] = []
    for part in parts:
        started, load_before, t0 = now(), load_average(), time.perf_counter()
        print(f"== {part} ==", flush=True)
        if part == "widgets":
            import budget_widgets

            lines, report = budget_widgets.run(verbose=args.verbose)
        elif part == "notebooks":
            import budget_notebooks

            lines, report = budget_notebooks.run(args.notebooks, verbose=args.verbose)
        elif part == "grading":
            import budget_grading

            lines, report = budget_grading.run_all(args.notebooks)
        else:
            lines, report = run_torch(args.threads, args.profile)
        failed = [ln for ln in lines if not ln.passed]
        print(f"-- {part}: {len(lines) - len(failed)} of {len(lines)} budget lines pass "
              f"({time.perf_counter() - t0:.0f} s)\n", flush=True)
        all_lines += lines
        if not args.no_write:
            command = "python bench/run.py --only " + part + (
                " --notebooks " + " ".join(args.notebooks)
                if args.notebooks and part in ("notebooks", "grading") else "") + (
                f" --threads {args.threads}" if args.threads and part == "torch" else "")
            verdict = (f"**{len(lines) - len(failed)} of {len(lines)} budget lines pass**"
                       + (": " + "; ".join(f"{ln.name} {ln.figure_text()}" for ln in failed)
                          if failed else "."))
            write_section(part, "\n".join([
                section_header(TITLES[part], started, load_before, command), verdict, "",
                report]))
    failed = [ln for ln in all_lines if not ln.passed]
    print(f"{len(all_lines) - len(failed)} of {len(all_lines)} budget lines pass.")
    for line in failed:
        print("FAIL " + line.text(0))
    if not args.no_write:
        print("results written to bench/RESULTS.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
