"""Tests that hang, for the wall-clock and simulated-time limits (run by test_hang.py, not as
cases)."""

import cocotb
from cocotb.triggers import Timer


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def spins(dut):
    """A Python loop that never yields: simulated time stops with it."""
    await Timer(10, unit="ns")
    while True:
        pass


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def polls_forever(dut):
    """A wait for a condition that never holds: simulated time runs on to the test's limit."""
    while True:
        await Timer(1, unit="us")


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def passes(dut):
    """A test after the hung one."""
    await Timer(10, unit="ns")
