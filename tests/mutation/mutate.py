"""Mutation testing of the driver core with the pure-Python driver tests (``make mutate``).

A small AST mutator: it lists every place in ``driver/sched.py``, ``driver/file.py`` and
``driver/vm.py`` where one of these mutations applies,

* a comparison flipped or shifted (``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=``,
  ``in`` and ``not in``, ``is`` and ``is not``);
* an integer constant off by one (``n`` to ``n + 1``), ``True`` and ``False`` swapped;
* ``and`` and ``or`` swapped, a ``not`` dropped, ``+`` and ``-`` swapped;
* a statement dropped (an assignment, an expression, a ``raise``, a ``return`` or a
  ``continue`` becomes ``pass``);

except in docstrings and tracepoint calls (which no test reads) and for the ``return None``
that ends a function (dropping it changes nothing), draws ``--count`` of them with a
fixed seed, as evenly as it can from each file, and runs the tests against each mutant. A
mutant is killed when a test fails (or errors, or runs past ``--timeout`` seconds). Each mutant
runs in a forked process that loads the mutated module under its own name before the tests
import the driver; the files on disk are never changed, so others may use the tree meanwhile.

Usage: ``python tests/mutation/mutate.py [--count 30] [--seed 17] [--jobs 2] [--all] [-v]``.
Exit status 1 if fewer than ``--kill`` mutants were killed.
"""

import argparse
import ast
import copy
import os
import random
import signal
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("sched", "file", "vm")
TESTS = [
    "tests/driver/test_scheduler.py",
    "tests/driver/test_failure_recovery.py",
    "tests/driver/test_file_requests.py",
    "tests/driver/test_tenant_limits.py",
    "tests/driver/test_core_units.py",
    "tests/driver/test_ioctl_tracepoints.py",
]
_FLIP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_DROPPABLE = (ast.Assign, ast.AugAssign, ast.Expr, ast.Raise, ast.Return, ast.Continue)


@dataclass(frozen=True)
class Mutant:
    module: str  # "sched"
    index: int  # the index-th mutation point of the module, in walk order
    line: int
    what: str


def _docstrings(tree):
    """The ids of docstring expression statements."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            found.add(id(first))
    return found


def _is_trace(node):
    call = node.value if isinstance(node, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "tracepoints"
    )


def _final_returns(tree):
    """The ids of ``return None`` statements that end a function: dropping one changes nothing."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            last = node.body[-1]
            if isinstance(last, ast.Return) and (
                last.value is None
                or (isinstance(last.value, ast.Constant) and last.value.value is None)
            ):
                found.add(id(last))
    return found


def _points(tree):
    """Every mutation point: (node, kind, description), in a fixed walk order."""
    skip = _docstrings(tree) | _final_returns(tree)
    traced = set()
    for node in ast.walk(tree):
        if _is_trace(node):
            traced.update(id(inner) for inner in ast.walk(node))
    points = []
    for node in ast.walk(tree):
        if id(node) in traced or id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _FLIP:
                    flipped = _FLIP[type(op)].__name__
                    points.append((node, ("compare", i), f"{type(op).__name__} -> {flipped}"))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            points.append((node, ("int",), f"{node.value} -> {node.value + 1}"))
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            points.append((node, ("bool",), f"{node.value} -> {not node.value}"))
        elif isinstance(node, ast.BoolOp):
            other = "Or" if isinstance(node.op, ast.And) else "And"
            points.append((node, ("boolop",), f"{type(node.op).__name__} -> {other}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            points.append((node, ("not",), "not x -> x"))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            other = "Sub" if isinstance(node.op, ast.Add) else "Add"
            points.append((node, ("binop",), f"{type(node.op).__name__} -> {other}"))
        if isinstance(node, _DROPPABLE) and id(node) not in skip:
            points.append((node, ("drop",), f"drop {type(node).__name__}"))
    return points


class _Replace(ast.NodeTransformer):
    """Replace one node (by identity) with another, or with ``pass``."""

    def __init__(self, target, replacement):
        self.target, self.replacement = target, replacement

    def visit(self, node):
        if node is self.target:
            return self.replacement
        return self.generic_visit(node)


def mutated_tree(module, index):
    """The AST of ``driver/<module>.py`` with its ``index``-th mutation applied."""
    tree = ast.parse((ROOT / "driver" / f"{module}.py").read_text())
    node, kind, _ = _points(tree)[index]
    new = copy.copy(node)
    if kind[0] == "compare":
        new.ops = list(node.ops)
        new.ops[kind[1]] = _FLIP[type(node.ops[kind[1]])]()
    elif kind[0] == "int":
        new.value = node.value + 1
    elif kind[0] == "bool":
        new.value = not node.value
    elif kind[0] == "boolop":
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind[0] == "not":
        new = node.operand
    elif kind[0] == "binop":
        new.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
    elif kind[0] == "drop":
        new = ast.copy_location(ast.Pass(), node)
    tree = _Replace(node, new).visit(tree)
    return ast.fix_missing_locations(tree)


def all_mutants():
    mutants = []
    for module in TARGETS:
        tree = ast.parse((ROOT / "driver" / f"{module}.py").read_text())
        for index, (node, _, what) in enumerate(_points(tree)):
            mutants.append(Mutant(module, index, node.lineno, what))
    return mutants


def sample(mutants, count, seed):
    """``count`` mutants drawn with ``seed``, as evenly as possible from each module."""
    rng = random.Random(seed)
    by_module = {m: [x for x in mutants if x.module == m] for m in TARGETS}
    for pool in by_module.values():
        rng.shuffle(pool)
    chosen = []
    while len(chosen) < count and any(by_module.values()):
        for module in TARGETS:
            if by_module[module] and len(chosen) < count:
                chosen.append(by_module[module].pop())
    return sorted(chosen, key=lambda m: (TARGETS.index(m.module), m.line, m.index))


def _run_child(mutant):
    """In the forked child: load the mutant, run the tests; never returns."""
    import pytest
    import tinynpu.driver as package

    name = f"tinynpu.driver.{mutant.module}"
    path = str(ROOT / "driver" / f"{mutant.module}.py")
    module = types.ModuleType(name)
    module.__file__, module.__package__ = path, "tinynpu.driver"
    sys.modules[name] = module
    setattr(package, mutant.module, module)
    exec(compile(mutated_tree(mutant.module, mutant.index), path, "exec"), module.__dict__)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    code = pytest.main(
        ["-x", "-q", "-n", "0", "--noconftest", "-p", "no:cacheprovider", *TESTS],
    )
    os._exit(int(code))


def run(mutants, jobs, timeout):
    """``{mutant: "killed" | "survived" | "timeout"}``, running ``jobs`` at once."""
    todo, running, results = list(mutants), {}, {}
    while todo or running:
        while todo and len(running) < jobs:
            mutant = todo.pop(0)
            pid = os.fork()
            if pid == 0:
                try:
                    _run_child(mutant)
                finally:
                    os._exit(3)
            running[pid] = (mutant, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for other, (mutant, started) in list(running.items()):
                if time.monotonic() - started > timeout:
                    os.kill(other, signal.SIGKILL)
                    os.waitpid(other, 0)
                    results[mutant] = "timeout"
                    del running[other]
            time.sleep(0.02)
            continue
        mutant, _ = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        results[mutant] = "survived" if code == 0 else "killed"
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=30, help="mutants to run (default 30)")
    parser.add_argument("--seed", type=int, default=17, help="draw seed (default 17)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants at once (default 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per mutant")
    parser.add_argument("--kill", type=int, default=27, help="kills required (default 27)")
    parser.add_argument("--all", action="store_true", help="every mutant, not a draw")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every mutant")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    # Heavy imports once, before forking; the driver itself is imported by each mutant.
    import amaranth  # noqa: F401
    import pytest  # noqa: F401
    import tinynpu.rtl.layouts
    import tinynpu.rtl.pte
    import tinynpu.rtl.regmap  # noqa: F401

    everything = all_mutants()
    chosen = everything if args.all else sample(everything, args.count, args.seed)
    start = time.monotonic()
    results = run(chosen, args.jobs, args.timeout)
    elapsed = time.monotonic() - start
    killed = sum(result != "survived" for result in results.values())
    for mutant in chosen:
        result = results[mutant]
        if args.verbose or result == "survived":
            print(f"{result:8}  driver/{mutant.module}.py:{mutant.line}  {mutant.what}")
    counts = {m: sum(x.module == m for x in everything) for m in TARGETS}
    print(
        f"mutation points: {len(everything)} "
        f"({', '.join(f'{m}.py {n}' for m, n in counts.items())}); "
        f"killed {killed} of {len(chosen)} in {elapsed:.1f} s"
        + ("" if args.all else f" (seed {args.seed})")
    )
    return 0 if killed >= min(args.kill, len(chosen)) else 1


if __name__ == "__main__":
    sys.exit(main())
