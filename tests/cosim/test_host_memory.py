"""Host memory inside the simulator, for two configurations: every cocotb test of memory_tb.py."""

from cocotb_cases import cosim_test

test_memory = cosim_test("memory_tb")
