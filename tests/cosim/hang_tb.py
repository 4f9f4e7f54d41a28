"""Tests that hang, for the runner's wall-clock limit (run by test_hang.py, not as cases)."""

import cocotb
from cocotb.triggers import Timer


@cocotb.test()
async def spins(dut):
    """A Python loop that never yields: simulated time stops with it."""
    await Timer(10, unit="ns")
    while True:
        pass


@cocotb.test()
async def passes(dut):
    """A test after the hung one."""
    await Timer(10, unit="ns")
