"""The tinynpu driver: it talks to the NPU only through a :class:`~.platform.Platform`.

What exists today: :func:`~tinynpu.driver.device.probe` (identity, version check, capabilities).
"""

# One module, one name: imported as a top-level ``driver`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.driver":
    raise ImportError(f"{__name__!r} is tinynpu.driver: import it by that name")
