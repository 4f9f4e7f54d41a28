"""The NPU hardware, in Amaranth: configuration, register maps, blocks and the top level."""

# One module, one name: imported as a top-level ``rtl`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.rtl":
    raise ImportError(f"{__name__!r} is tinynpu.rtl: import it by that name")
