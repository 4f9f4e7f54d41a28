"""What the firmware needs from the control processor it runs on, and named register access."""

from typing import Protocol, runtime_checkable

from tinynpu.rtl.regmap import CP, Kind, RegisterMap

__all__ = ["CpBus", "Registers"]


@runtime_checkable
class CpBus(Protocol):
    """The control processor's view of the NPU: its register window, its interrupt, its clock.

    The firmware never touches a simulator; it awaits one of these. ``tinynpu.sim.cp`` implements it
    on the RTL's ``cp`` port.
    """

    async def read(self, offset: int) -> int:
        """Load the 32-bit word at byte ``offset`` of the CP window."""
        ...

    async def write(self, offset: int, value: int) -> None:
        """Store a 32-bit word at byte ``offset`` of the CP window."""
        ...

    async def wait_irq(self) -> None:
        """Sleep until ``cp_irq`` is high (at once if it already is).

        May return early (a stop request wakes the core): callers check why they woke.
        """
        ...

    async def execute(self, instructions: int) -> None:
        """Account for ``instructions`` of work between bus accesses (the cost model's input)."""
        ...


class Registers:
    """Read and write CP registers by name and field.

    Writes to registers that software can read back are cached: writing the value a register
    already holds costs no bus access, as firmware keeps shadow copies of its configuration.
    Write-pulse and write-1-to-clear registers are always written.

    Parameters
    ----------
    bus : CpBus
    regmap : RegisterMap
        The CP register map (``tinynpu.rtl.regmap.CP``).
    """

    def __init__(self, bus: CpBus, regmap: RegisterMap = CP):
        self.bus = bus
        self.map = regmap
        self._shadow = {}
        self._cacheable = {
            reg.name for reg in regmap if all(field.kind is Kind.RW for field in reg.fields)
        }

    async def read(self, name):
        """The raw value of register ``name``."""
        return await self.bus.read(getattr(self.map, name).offset)

    async def fields(self, name):
        """Register ``name`` decoded into ``{field: value}``."""
        reg = getattr(self.map, name)
        return reg.decode(await self.bus.read(reg.offset))

    async def write(self, name, **fields):
        """Write register ``name`` with ``fields`` (the others zero)."""
        await self.write_raw(name, getattr(self.map, name).encode(**fields))

    async def write_raw(self, name, value):
        """Write the raw ``value`` to register ``name`` (shadowed like :meth:`write`)."""
        reg = getattr(self.map, name)
        if name in self._cacheable and self._shadow.get(name) == value:
            return
        await self.bus.write(reg.offset, value)
        if name in self._cacheable:
            self._shadow[name] = value  # only once the store is done: a failed one is retried

    def forget(self):
        """Drop the shadow copies (after the hardware was reset)."""
        self._shadow.clear()
