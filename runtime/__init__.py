"""User space: models, quantization, the compiler and its command streams, sessions over the uAPI.

It speaks to the driver only through the uAPI (:mod:`tinynpu.driver.uapi`, wrapped by
:mod:`.libtinynpu`) and builds its memory contents from the shared layouts
(:mod:`tinynpu.rtl.layouts`).
"""

# One module, one name: imported as a top-level ``runtime`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.runtime":
    raise ImportError(f"{__name__!r} is tinynpu.runtime: import it by that name")
