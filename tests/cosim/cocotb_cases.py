"""The cocotb tests of a testbench module, read from its source, and the pytest test running them.

A testbench (``job_tb.py``) is never imported here: it imports the parts of cocotb that exist
only inside a simulator. Its ``@cocotb.test`` functions are found by parsing it, in definition
order, so a new cocotb test runs without being listed anywhere.
"""

import ast
from pathlib import Path

import pytest
from configs import CONFIGS

HERE = Path(__file__).parent


def cocotb_tests(source, filename="<testbench>"):
    """Names of the cocotb tests ``source`` defines, in definition order.

    A test is a module-level function decorated with ``cocotb.test`` in any form
    (``@cocotb.test``, ``@cocotb.test()``, ``@cocotb.test(timeout_time=...)``, or ``test`` imported
    from cocotb, under any alias); ``name=`` renames it, as it does for cocotb.

    Raises
    ------
    ValueError
        For a test cocotb would name otherwise (``@cocotb.parametrize`` adds ``/arg=value``, the
        runner selects a test by its exact name), a non-literal ``name=``, or two tests of one
        name.
    """
    tree = ast.parse(source, filename)
    called = _cocotb_calls(tree)
    names = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        tests = [d for d in node.decorator_list if called(d, "test")]
        if not tests:
            continue
        where = f"{filename}:{node.lineno}"
        if any(called(d, "parametrize") for d in node.decorator_list):
            raise ValueError(f"{where}: {node.name} is parametrized; list its variants as tests")
        name = node.name
        for keyword in getattr(tests[0], "keywords", ()):
            if keyword.arg == "name":
                if not isinstance(keyword.value, ast.Constant):
                    raise ValueError(f"{where}: {node.name} has a name= that is not a literal")
                name = keyword.value.value
        if name in names:
            raise ValueError(f"{where}: a second cocotb test named {name}")
        names.append(name)
    return names


def untimed_tests(source, filename="<testbench>"):
    """``file:line`` of each ``cocotb.test`` in ``source`` without a literal simulated-time limit.

    Every use of cocotb's ``test`` counts, as a decorator or called (``cocotb.test(name=n)(f)``,
    as a testbench generating its tests does); each must pass ``timeout_time`` and
    ``timeout_unit`` as literals, so that a case stuck in simulated time fails with cocotb's
    ``SimTimeoutError`` at a limit the source states.
    """
    tree = ast.parse(source, filename)
    called = _cocotb_calls(tree)
    found = []
    for node in ast.walk(tree):
        # A bare ``@cocotb.test`` sets no limit; a call of ``test`` must pass both.
        bare = [d for d in getattr(node, "decorator_list", ()) if not isinstance(d, ast.Call)]
        found += [d.lineno for d in bare if called(d, "test")]
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Call):
            keywords = {k.arg: k.value for k in node.keywords}
            limits = [keywords.get(arg) for arg in ("timeout_time", "timeout_unit")]
            if called(node, "test") and not all(isinstance(v, ast.Constant) for v in limits):
                found.append(node.lineno)
    return [f"{filename}:{line}" for line in sorted(found)]


def _cocotb_calls(tree):
    """``called(node, function)``: whether ``node`` is cocotb's ``function`` or a call of it."""
    modules, functions = set(), {}  # names bound to cocotb, and to its decorators
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:  # import cocotb [as c], import cocotb.triggers
                if alias.name.partition(".")[0] == "cocotb" and (
                    alias.asname is None or alias.name == "cocotb"
                ):
                    modules.add(alias.asname or "cocotb")
        elif isinstance(node, ast.ImportFrom) and node.module == "cocotb" and not node.level:
            functions |= {a.asname or a.name: a.name for a in node.names}

    def called(decorator, function):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            return target.value.id in modules and target.attr == function
        return isinstance(target, ast.Name) and functions.get(target.id) == function

    return called


def cosim_params(module, only_on=None):
    """``pytest.param(config, case)`` for each cocotb test of ``module`` on each configuration.

    Parameters
    ----------
    module : str
        A testbench next to this file (``"job_tb"``).
    only_on : dict, optional
        Case name -> the names of the configurations (keys of ``configs.CONFIGS``) it runs on;
        every other case runs on all of them.

    Raises
    ------
    ValueError
        If ``module`` defines no cocotb test, or ``only_on`` names a case it does not define or an
        unknown configuration.
    """
    path = HERE / f"{module}.py"
    cases = cocotb_tests(path.read_text(), path.name)
    if not cases:
        raise ValueError(f"{path.name} defines no cocotb test")
    only_on = only_on or {}
    if unknown := set(only_on) - set(cases):
        raise ValueError(f"only_on names cases {path.name} does not define: {sorted(unknown)}")
    if unknown := {c for names in only_on.values() for c in names} - set(CONFIGS):
        raise ValueError(f"only_on names unknown configurations: {sorted(unknown)}")
    return [
        # One xdist group per testbench and configuration: one worker runs the cases of each in
        # one simulation (see the cosim fixture).
        pytest.param(
            config, case, id=f"{name}-{case}", marks=pytest.mark.xdist_group(f"{module}-{name}")
        )
        for name, config in CONFIGS.items()
        for case in cases
        if name in only_on.get(case, CONFIGS)
    ]


def cosim_test(module, only_on=None):
    """A pytest test running each cocotb test of ``module``, alone, on each configuration."""

    @pytest.mark.cosim
    @pytest.mark.parametrize(("config", "case"), cosim_params(module, only_on))
    def test(cosim, config, case):
        assert cosim(module, config, case).count == 1

    return test
