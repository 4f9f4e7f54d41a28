"""A record of what crossed the SoC's buses, decoded for people.

Events are stored raw (time, bus, address, value) and decoded with the register description
only when printed, so tracing costs little during simulation.
"""

from dataclasses import dataclass

from rtl.regmap import RegisterMap

__all__ = ["IrqEvent", "MmioAccess", "Trace"]


@dataclass(frozen=True)
class MmioAccess:
    """One host MMIO access.

    Attributes
    ----------
    time_ns : float
        Simulated time at which the access completed.
    write : bool
        Write or read.
    offset : int
        Byte offset in the host window.
    value : int
        The value written or read.
    """

    time_ns: float
    write: bool
    offset: int
    value: int

    def format(self, regmap: RegisterMap):
        """One line: time, direction, offset, register and fields."""
        op = "W" if self.write else "R"
        return f"{self.time_ns:12.1f} ns  mmio {op} {self.offset:#06x}  " + regmap.format_access(
            self.offset, self.value
        )


@dataclass(frozen=True)
class IrqEvent:
    """The interrupt line seen high by a waiter.

    Attributes
    ----------
    time_ns : float
        Simulated time at which the line was seen high.
    line : str
        Name of the interrupt line.
    """

    time_ns: float
    line: str

    def format(self, regmap: RegisterMap):
        """One line: time and line name."""
        return f"{self.time_ns:12.1f} ns  irq  {self.line} asserted"


class Trace:
    """An ordered list of bus events.

    Parameters
    ----------
    regmap : RegisterMap
        The register description used to decode MMIO accesses.
    enabled : bool
        Record events; a disabled trace drops them.
    """

    def __init__(self, regmap: RegisterMap, *, enabled=True):
        self.regmap = regmap
        self.enabled = enabled
        self.events = []

    def record(self, event):
        """Append ``event`` (if enabled)."""
        if self.enabled:
            self.events.append(event)

    def lines(self):
        """The events, one decoded line each."""
        return [event.format(self.regmap) for event in self.events]
