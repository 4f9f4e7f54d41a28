"""Firmware of the control processor: serves the command ring through the CP register window.

It never imports a simulator: it awaits a :class:`~firmware.bus.CpBus`.
"""

from .bus import CpBus, Registers
from .firmware import VERSION, Firmware

__all__ = ["VERSION", "CpBus", "Firmware", "Registers"]
