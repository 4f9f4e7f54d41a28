"""Register maps: SystemRDL sources, their Python description and the RTL generator.

``HOST`` is the host MMIO map, compiled from ``host.rdl``; ``CP`` the control processor's, from
``cp.rdl``.
"""

from .model import Field, Kind, Register, RegisterMap, load

__all__ = ["CP", "HOST", "Field", "Kind", "Register", "RegisterMap", "load"]

HOST = load("host")
CP = load("cp")
