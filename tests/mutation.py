"""Mutation testing of the notebooks' check cells: does a plausible wrong answer fail a check?

For each exercise of a lesson, the body of its solution cell (between ``### BEGIN SOLUTION`` and
``### END SOLUTION``) is mutated mechanically with the AST, one small change per mutant:

- an arithmetic operator swapped (``+``/``-``, ``*``/``/``, ``**``/``*``, ``@``/``*``), a term
  dropped (``a + b`` -> ``a``, ``a - b`` -> ``a``), a unary minus removed;
- a comparison flipped (``<``/``<=``, ``>``/``>=``, ``==``/``!=``), ``and``/``or`` swapped, a
  ``not`` removed, ``True``/``False`` swapped;
- a number changed (``n`` -> ``n + 1``);
- ``axis=`` changed, ``keepdims=True`` removed, a ``.T`` dropped;
- a reduction or elementwise function swapped (``sum``/``mean``, ``max``/``min``,
  ``maximum``/``minimum``);
- a statement removed (an assignment that updates a value, ``x += ...``, a call on its own line);
- the first two arguments of a call swapped (not for symmetric callees such as ``np.maximum``,
  where the swap is equivalent by construction), the first two values of a returned tuple swapped.

Each mutant runs in process (no kernel): the setup cell and every solution cell of the lesson are
executed once into a namespace; for each mutant the mutated cell is executed into a copy of that
namespace, then the exercise's test cell (visible and hidden blocks) runs there. A mutant is
*killed* when the test cell raises (or runs over ``TIMEOUT`` seconds), *survives* otherwise.

    python tests/mutation.py 05            # one lesson: score per exercise, survivors listed
    python tests/mutation.py 01 02 --quiet # several, totals only
    python tests/mutation.py all

Survivors that are equivalent rewrites (they compute the same thing) are listed with a reason in
``tests/mutation_equivalent.txt``; ``tests/test_mutation.py`` fails when a lesson's score drops
below 97 % or a survivor is not on that list.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import json
import re
import signal
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
TIMEOUT = 20.0

BINOP_SWAPS: dict[type, list[type]] = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div],
    ast.Div: [ast.Mult],
    ast.FloorDiv: [ast.Div],
    ast.Pow: [ast.Mult],
    ast.MatMult: [ast.Mult],
    ast.Mod: [ast.FloorDiv],
}
CMP_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
FUNC_SWAPS = {
    "sum": "mean",
    "mean": "sum",
    "max": "min",
    "min": "max",
    "maximum": "minimum",
    "minimum": "maximum",
    "argmax": "argmin",
    "argmin": "argmax",
}


@dataclass
class Mutant:
    exercise: str
    line: int  # line within the solution cell (1-based)
    kind: str
    before: str
    after: str
    source: str

    @property
    def key(self) -> str:
        """A stable name for the survivor list: exercise, kind and the changed line's text."""
        return f"{self.exercise} | {self.kind} | {self.before.strip()} -> {self.after.strip()}"


@dataclass
class Result:
    exercise: str
    total: int = 0
    killed: int = 0
    survivors: list[Mutant] = field(default_factory=list)
    error: str | None = None


def _solution_range(source: str) -> tuple[int, int] | None:
    lines = source.splitlines()
    begin = next((i for i, l in enumerate(lines) if "### BEGIN SOLUTION" in l), None)
    end = next((i for i, l in enumerate(lines) if "### END SOLUTION" in l), None)
    if begin is None or end is None:
        return None
    return begin + 2, end  # 1-based lines strictly inside the markers


def _sites(tree: ast.AST, lo: int, hi: int) -> Iterator[tuple[int, str]]:
    """(index of the node in ast.walk order, mutation kind) for every mutation site in range."""
    for i, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", None)
        if line is None or not lo <= line <= hi:
            continue
        if isinstance(node, ast.BinOp):
            for new in BINOP_SWAPS.get(type(node.op), []):
                yield i, f"binop:{new.__name__}"
            if isinstance(node.op, ast.Add | ast.Sub):
                yield i, "drop-right"
        elif isinstance(node, ast.AugAssign):
            for new in BINOP_SWAPS.get(type(node.op), []):
                yield i, f"augop:{new.__name__}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            yield i, "drop-unary"
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            if type(node.ops[0]) in CMP_SWAPS:
                yield i, "cmp"
        elif isinstance(node, ast.BoolOp):
            yield i, "boolop"
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                yield i, "bool"
            elif isinstance(node.value, int | float) and not isinstance(node.value, bool):
                yield i, "number"
        elif isinstance(node, ast.keyword):
            if node.arg == "axis":
                yield i, "axis"
            elif node.arg == "keepdims":
                yield i, "drop-keepdims"
        elif isinstance(node, ast.Attribute):
            if node.attr == "T":
                yield i, "drop-T"
            elif node.attr in FUNC_SWAPS:
                yield i, "func"
        elif isinstance(node, ast.Name) and node.id in FUNC_SWAPS and isinstance(
            getattr(node, "ctx", None), ast.Load
        ):
            yield i, "func"
        if isinstance(node, ast.Call) and len(node.args) >= 2 and not any(
            isinstance(a, ast.Starred) for a in node.args[:2]
        ) and _callee(node) not in SYMMETRIC:
            yield i, "swap-args"
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(
            node.value.elts
        ) >= 2:
            yield i, "swap-returned"
        if isinstance(node, ast.FunctionDef | ast.For | ast.While | ast.If | ast.With):
            body = node.body
            for j, stmt in enumerate(body):
                if not lo <= stmt.lineno <= hi or len(body) == 1:
                    continue
                if isinstance(stmt, ast.AugAssign) or (
                    isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                ) or (
                    isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Subscript | ast.Attribute) for t in stmt.targets)
                ):
                    yield i, f"drop-stmt:{j}"


#: Callees whose first two arguments commute, so swapping them is equivalent by construction
#: (``clip(lo, a, hi)`` is ``minimum(maximum(lo, a), hi)``, the same as ``clip(a, lo, hi)``).
SYMMETRIC = {"maximum", "minimum", "max", "min", "fmax", "fmin", "clip", "add", "multiply",
             "logaddexp", "hypot"}


def _callee(node: ast.Call) -> str | None:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _apply(tree: ast.AST, index: int, kind: str) -> ast.AST | None:
    tree = copy.deepcopy(tree)
    node = next(n for k, n in enumerate(ast.walk(tree)) if k == index)
    if kind.startswith("binop:"):
        node.op = getattr(ast, kind.split(":")[1])()
    elif kind.startswith("augop:"):
        node.op = getattr(ast, kind.split(":")[1])()
    elif kind == "drop-right":
        return _replace(tree, node, node.left)
    elif kind == "drop-unary":
        return _replace(tree, node, node.operand)
    elif kind == "cmp":
        node.ops = [CMP_SWAPS[type(node.ops[0])]()]
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "bool":
        node.value = not node.value
    elif kind == "number":
        node.value = node.value + 1
    elif kind == "axis":
        v = node.value
        if isinstance(v, ast.Constant) and isinstance(v.value, int):
            node.value = ast.Constant(0 if v.value != 0 else 1)
        elif isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
            node.value = ast.Constant(0)
        else:
            node.value = ast.Constant(None)
    elif kind == "drop-keepdims":
        node.value = ast.Constant(False)
    elif kind == "drop-T":
        return _replace(tree, node, node.value)
    elif kind == "func":
        if isinstance(node, ast.Attribute):
            node.attr = FUNC_SWAPS[node.attr]
        else:
            node.id = FUNC_SWAPS[node.id]
    elif kind == "swap-args":
        node.args[0], node.args[1] = node.args[1], node.args[0]
    elif kind == "swap-returned":
        elts = node.value.elts
        elts[0], elts[1] = elts[1], elts[0]
    elif kind.startswith("drop-stmt:"):
        j = int(kind.split(":")[1])
        stmt = node.body[j]
        node.body = node.body[:j] + node.body[j + 1 :]
        del stmt
    return tree


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return tree
            if isinstance(value, list):
                for k, item in enumerate(value):
                    if item is old:
                        value[k] = new
                        return tree
    return tree


def mutants(exercise: str, source: str) -> list[Mutant]:
    """Every mutant of the solution body of one solution cell, deduplicated by source."""
    rng = _solution_range(source)
    if rng is None:
        return []
    lo, hi = rng
    tree = ast.parse(source)
    original = ast.unparse(tree)
    seen = {original}
    out: list[Mutant] = []
    orig_lines = source.splitlines()
    for index, kind in list(_sites(tree, lo, hi)):
        new = _apply(tree, index, kind)
        if new is None:
            continue
        try:
            text = ast.unparse(ast.fix_missing_locations(new))
            compile(text, "<mutant>", "exec")
        except Exception:
            continue
        if text in seen:
            continue
        seen.add(text)
        node = next(n for k, n in enumerate(ast.walk(tree)) if k == index)
        line = node.lineno
        new_lines = text.splitlines()
        before = orig_lines[line - 1]
        after = _changed_line(original.splitlines(), new_lines)
        out.append(Mutant(exercise, line, kind.split(":")[0], before, after, text))
    return out


def _changed_line(a: list[str], b: list[str]) -> str:
    for x, y in zip(a, b, strict=False):
        if x != y:
            return y
    return b[len(a)] if len(b) > len(a) else "(statement removed)"


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _Timeout()


def _run(code: str, ns: dict) -> BaseException | None:
    """Execute ``code`` in ``ns``; the exception it raised, or None."""
    out = io.StringIO()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, "<cell>", "exec"), ns)
    except (Exception, _Timeout, SystemExit, AssertionError) as exc:  # noqa: B014
        return exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return None


def _cells(lesson: str):
    path = next(SOLUTIONS.glob(f"{lesson}*/*.ipynb"))
    nb = json.loads(path.read_text())
    return path, nb["cells"]


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises(lesson: str) -> list[tuple[str, str, str]]:
    """(grade_id, solution source, test source) for every code exercise of a lesson."""
    _, cells = _cells(lesson)
    out = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not _nbg(cell).get("solution"):
            continue
        tests = []
        for nxt in cells[i + 1 :]:
            if nxt["cell_type"] == "code" and _nbg(nxt).get("solution"):
                break
            if nxt["cell_type"] == "code" and _nbg(nxt).get("grade"):
                tests.append("".join(nxt["source"]))
        if tests:
            out.append((_nbg(cell)["grade_id"], "".join(cell["source"]), "\n".join(tests)))
    return out


def _definitions_only(source: str) -> bool:
    """True for a cell that only imports, defines functions/classes or binds constants."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
            continue
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None and not any(
            isinstance(n, ast.Call) for n in ast.walk(stmt.value)
        ):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        return False
    return bool(tree.body)


def base_namespace(lesson: str) -> dict:
    """The setup cell, every definition-only cell and every solution cell, executed once."""
    import matplotlib

    matplotlib.use("Agg")
    _, cells = _cells(lesson)
    ns: dict = {"__name__": "__main__"}
    setup = [c for c in cells if c["cell_type"] == "code" and _nbg(c).get("locked")
             and not _nbg(c).get("grade")]
    for c in setup[:1]:
        err = _run("".join(c["source"]), ns)
        if err is not None:
            raise RuntimeError(f"{lesson}: setup cell raised {err!r}")
    for c in cells:
        if c["cell_type"] != "code" or _nbg(c).get("grade") and not _nbg(c).get("solution"):
            continue
        if _nbg(c).get("solution") or _definitions_only("".join(c["source"])):
            _run("".join(c["source"]), ns)
    return ns


def score(lesson: str, only: str | None = None) -> list[Result]:
    ns0 = base_namespace(lesson)
    results = []
    for grade_id, solution, test in exercises(lesson):
        if only and only != grade_id:
            continue
        res = Result(grade_id)
        ns = dict(ns0)
        _run(solution, ns)
        err = _run(test, ns)
        if err is not None:
            res.error = f"the unmutated solution fails its own checks: {err!r}"[:300]
            results.append(res)
            continue
        for m in mutants(grade_id, solution):
            ns = dict(ns0)
            err = _run(m.source, ns)
            res.total += 1
            if err is None:
                err = _run(test, ns)
            if err is None:
                res.survivors.append(m)
            else:
                res.killed += 1
        results.append(res)
    return results


def lessons(args: list[str]) -> list[str]:
    names = sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb"))
    if args == ["all"]:
        return [n[:2] for n in names]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="+", help="lesson numbers (05) or 'all'")
    parser.add_argument("--exercise", help="one grade_id only")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    grand_total = grand_killed = 0
    for lesson in lessons(args.lessons):
        results = score(lesson, args.exercise)
        total = sum(r.total for r in results)
        killed = sum(r.killed for r in results)
        grand_total += total
        grand_killed += killed
        pct = 100 * killed / total if total else 100.0
        print(f"== lesson {lesson}: {killed}/{total} mutants killed ({pct:.1f} %)")
        for r in results:
            if r.error:
                print(f"  {r.exercise}: ERROR {r.error}")
                continue
            if not args.quiet:
                print(f"  {r.exercise}: {r.killed}/{r.total}")
                for m in r.survivors:
                    print(f"    survivor line {m.line} [{m.kind}]: {m.before.strip()!r} -> "
                          f"{m.after.strip()!r}")
    if grand_total:
        print(f"== all: {grand_killed}/{grand_total} "
              f"({100 * grand_killed / grand_total:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    re.compile("")  # keep the import used (patterns are read by test_mutation)
    sys.exit(main())
