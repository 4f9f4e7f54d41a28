"""Userspace: the quantized reference and (later) the runtime over the uAPI."""

# One module, one name: imported as a top-level ``runtime`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.runtime":
    raise ImportError(f"{__name__!r} is tinynpu.runtime: import it by that name")
