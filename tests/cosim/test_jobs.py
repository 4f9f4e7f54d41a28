"""The job path on the RTL, for two configurations: every cocotb test of job_tb.py."""

from cocotb_cases import cosim_test

test_job = cosim_test("job_tb")
