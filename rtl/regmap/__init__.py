"""Register maps: SystemRDL sources, their Python description and the RTL generator.

``HOST`` is the host MMIO map, compiled from ``host.rdl``; ``CP`` the control processor's, from
``cp.rdl``.
"""

from .model import Field, Kind, Register, RegisterMap, join_address, load, split_address

__all__ = [
    "CP",
    "HOST",
    "Field",
    "Kind",
    "Register",
    "RegisterMap",
    "join_address",
    "load",
    "split_address",
]

HOST = load("host")
CP = load("cp")
