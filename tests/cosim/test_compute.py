"""GEMM and CONV2D on the RTL, for two array sizes: every cocotb test of compute_tb.py."""

from cocotb_cases import cosim_test

test_compute = cosim_test("compute_tb")
