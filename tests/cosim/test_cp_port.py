"""The CP's queued AXI4-Lite manager, for two configurations: every cocotb test of cp_port_tb.py."""

from cocotb_cases import cosim_test

test_cp_port = cosim_test("cp_port_tb")
