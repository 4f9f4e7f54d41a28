"""Register maps: SystemRDL sources, their Python description and the RTL generator.

``HOST`` is the host MMIO map, compiled from ``host.rdl``.
"""

from .model import Field, Kind, Register, RegisterMap, load

__all__ = ["HOST", "Field", "Kind", "Register", "RegisterMap", "load"]

HOST = load("host")
