"""Every testbench runs, each with all its cocotb tests: the case lists are read from the source."""

import ast
from pathlib import Path

import pytest
from cocotb_cases import cocotb_tests, cosim_params, untimed_tests
from configs import CONFIGS

TESTS = Path(__file__).parents[1]
#: Every testbench: the co-simulation cases, the conformance suite's and the applications'.
TESTBENCHES = sorted(
    path
    for folder in (TESTS / "cosim", TESTS / "conformance", TESTS.parent / "tinynpu")
    for path in folder.glob("*_tb.py")
)
#: Each folder of testbenches (*_tb.py), and the calls that run one by name in its test files.
RUNNERS = {
    TESTS / "cosim": {"cosim_test", "cosim_params", "run_cocotb_cases"},
    TESTS / "conformance": {"cosim"},  # test_conformance.py runs rtl_tb.py over its registry
}


def _run_by_name(folder, functions):
    """First arguments (string literals) of calls to ``functions`` in the folder's test files."""
    names = set()
    for path in folder.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in functions
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_every_testbench_is_run():
    for folder, functions in RUNNERS.items():
        testbenches = {path.stem for path in folder.glob("*_tb.py")}
        assert testbenches, f"no testbench in {folder}"
        missing = testbenches - _run_by_name(folder, functions)
        calls = " or ".join(f"{function}(...)" for function in sorted(functions))
        assert not missing, f"{sorted(missing)}: no test file in {folder} runs them by {calls}"


@pytest.mark.parametrize("path", sorted((TESTS / "cosim").glob("*_tb.py")), ids=lambda p: p.stem)
def test_every_case_list_is_not_empty(path):
    assert cocotb_tests(path.read_text(), path.name)


def test_the_testbenches_are_found():
    assert {p.parent.name for p in TESTBENCHES} == {"cosim", "conformance", "tinynpu"}


@pytest.mark.parametrize("path", TESTBENCHES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_cocotb_test_has_a_simulated_time_limit(path):
    where = untimed_tests(path.read_text(), str(path.relative_to(TESTS.parent)))
    assert not where, f"cocotb tests without a literal timeout_time and timeout_unit: {where}"


def test_a_test_without_a_literal_limit_is_named_by_line():
    source = """
import cocotb
from cocotb import test as ctest

@cocotb.test
async def bare(dut): ...

@cocotb.test()
async def unlimited(dut): ...

@cocotb.test(timeout_time=2, timeout_unit="ms")
async def limited(dut): ...

@ctest(timeout_time=LIMIT, timeout_unit="ms")
async def computed(dut): ...

@cocotb.test(timeout_time=2)
async def no_unit(dut): ...

def generate(name, run):
    cocotb.test(name=name, timeout_time=5, timeout_unit="ms")(run)
    return cocotb.test(name=name)(run)
"""
    assert untimed_tests(source, "tb.py") == [
        "tb.py:5",
        "tb.py:8",
        "tb.py:14",
        "tb.py:17",
        "tb.py:22",
    ]


def test_every_decorator_form_is_a_test():
    source = """
import cocotb
import cocotb as cb
from cocotb import test as ctest
from cocotb.triggers import Timer

@cocotb.test
async def bare(dut): ...

@cocotb.test()
async def called(dut): ...

async def helper(dut): ...

@cb.test(timeout_time=10, timeout_unit="us")
async def aliased_module(dut): ...

@ctest(expect_fail=True)
def aliased_function(dut): ...

@cocotb.test(name="renamed")
async def original(dut): ...

@other.test()
async def not_cocotb(dut): ...

class Suite:
    @cocotb.test()
    async def nested(dut): ...
"""
    assert cocotb_tests(source) == [
        "bare",
        "called",
        "aliased_module",
        "aliased_function",
        "renamed",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "import cocotb\n@cocotb.test()\n@cocotb.parametrize(x=[1, 2])\nasync def t(dut): ...\n",
            "<testbench>:4: t is parametrized; list its variants as tests",
        ),
        (
            "import cocotb\n@cocotb.test(name=NAME)\nasync def t(dut): ...\n",
            "<testbench>:3: t has a name= that is not a literal",
        ),
        (
            "import cocotb\n@cocotb.test\nasync def t(dut): ...\n"
            "@cocotb.test(name='t')\nasync def u(dut): ...\n",
            "<testbench>:5: a second cocotb test named t",
        ),
    ],
    ids=["parametrized", "computed_name", "duplicate"],
)
def test_tests_cocotb_would_name_otherwise_are_refused(source, message):
    with pytest.raises(ValueError) as error:
        cocotb_tests(source)
    assert str(error.value) == message


HOST_REGS_CASES = cocotb_tests((TESTS / "cosim" / "host_regs_tb.py").read_text())


def test_a_case_runs_only_on_the_configurations_named_for_it():
    first, *others = HOST_REGS_CASES
    params = cosim_params("host_regs_tb", only_on={first: ("n8",)})
    assert [p.id for p in params] == [
        *(f"n4-{case}" for case in others),
        f"n8-{first}",
        *(f"n8-{case}" for case in others),
    ]
    assert all(p.values == (CONFIGS[p.id[:2]], p.id[3:]) for p in params)


@pytest.mark.parametrize(
    ("only_on", "message"),
    [
        (
            {"no_such_case": ("n8",)},
            "only_on names cases host_regs_tb.py does not define: ['no_such_case']",
        ),
        ({HOST_REGS_CASES[0]: ("n16",)}, "only_on names unknown configurations: ['n16']"),
    ],
    ids=["unknown_case", "unknown_configuration"],
)
def test_a_restriction_must_name_a_case_and_configurations_that_exist(only_on, message):
    with pytest.raises(ValueError) as error:
        cosim_params("host_regs_tb", only_on=only_on)
    assert str(error.value) == message
