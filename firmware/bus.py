"""What the firmware needs from the control processor it runs on, and named register access."""

from typing import Protocol, runtime_checkable

from tinynpu.rtl.regmap import CP, RegisterMap
from tinynpu.rtl.regmap.access import RegisterFile

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

    async def read_many(self, offsets: list[int]) -> list[int]:
        """Load the 32-bit words at byte ``offsets``, in order: as many :meth:`read` calls."""
        ...

    async def write(self, offset: int, value: int) -> None:
        """Store a 32-bit word at byte ``offset`` of the CP window."""
        ...

    async def wait_irq(self, *, stoppable: bool = True) -> None:
        """Sleep until ``cp_irq`` is high (at once if it already is).

        If ``stoppable``, may return early (a stop request wakes the core): callers check why
        they woke. The firmware sleeps stoppable only while it waits for work; within a job it
        finishes what it started.
        """
        ...

    async def wait_irq_and_read(self, offset: int) -> int:
        """``wait_irq(stoppable=False)``, then ``read(offset)``: the core reading why it woke."""
        ...

    async def execute(self, instructions: int) -> None:
        """Account for ``instructions`` of work between bus accesses (the cost model's input)."""
        ...


class Registers(RegisterFile):
    """Read and write CP registers by name and field, with shadow copies.

    A :class:`~tinynpu.rtl.regmap.access.RegisterFile` over the CP bus with ``shadow`` on:
    writes to registers that software can read back are cached, so writing the value a register
    already holds costs no bus access, as firmware keeps shadow copies of its configuration.
    Write-pulse and write-1-to-clear registers are always written.

    Parameters
    ----------
    bus : CpBus
    regmap : RegisterMap
        The CP register map (``tinynpu.rtl.regmap.CP``).
    """

    def __init__(self, bus: CpBus, regmap: RegisterMap = CP):
        super().__init__(regmap, bus.read, bus.write, shadow=True)
        self.bus = bus
