"""The conformance suite (cases_*.py) on the RTL: every case a pytest test, all in one simulation.

Every ``cases_*.py`` of this folder is imported, so every case it registers runs: a new case
module needs no listing here.
"""

import ast
import importlib
from pathlib import Path

import pytest
from conformance_suite import CASES
from tinynpu.rtl.config import NpuConfig

HERE = Path(__file__).parent
CASE_MODULES = sorted(path.stem for path in HERE.glob("cases_*.py"))
for _module in CASE_MODULES:
    importlib.import_module(_module)  # registers its cases in CASES


@pytest.mark.cosim
@pytest.mark.xdist_group("conformance")  # one worker, one simulation (the cosim fixture)
@pytest.mark.parametrize("case", list(CASES))
def test_conformance(cosim, case):
    assert cosim("rtl_tb", NpuConfig(), case).count == 1


def test_every_case_module_registers_cases():
    assert CASE_MODULES
    assert {function.__module__ for function in CASES.values()} == set(CASE_MODULES)


def test_the_testbench_defines_every_case():
    # rtl_tb.py makes a cocotb test of each case it has imported: a case module it does not
    # import would leave its cases failing with "no cocotb test matched".
    tree = ast.parse((HERE / "rtl_tb.py").read_text())
    imported = {
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cases_")
    } | {
        alias.name
        for node in tree.body
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("cases_")
    }
    assert imported == set(CASE_MODULES)
