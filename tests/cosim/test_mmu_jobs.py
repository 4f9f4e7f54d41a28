"""The MMU under jobs on the RTL, for two configurations: every cocotb test of mmu_tb.py."""

from cocotb_cases import cosim_test

test_mmu_job = cosim_test("mmu_tb")
