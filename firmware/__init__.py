"""Firmware of the control processor: serves the command ring through the CP register window.

It never imports a simulator: it awaits a :class:`~tinynpu.firmware.bus.CpBus`.
"""

# One module, one name: imported as a top-level ``firmware`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.firmware":
    raise ImportError(f"{__name__!r} is tinynpu.firmware: import it by that name")


from .bus import CpBus, Registers
from .firmware import VERSION, Firmware

__all__ = ["VERSION", "CpBus", "Firmware", "Registers"]
