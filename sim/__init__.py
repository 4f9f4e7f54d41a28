"""The simulated machine: Verilator build, cocotb SoC harness, CP model, booted system, trace."""

# One module, one name: imported as a top-level ``sim`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.sim":
    raise ImportError(f"{__name__!r} is tinynpu.sim: import it by that name")
