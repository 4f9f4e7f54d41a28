"""The simulated SoC: Verilator build, cocotb harness, demo, benchmark and command line."""
