"""32-bit register accesses to an AXI4-Lite port of the NPU: the host's, or the CP's."""

from cocotb.utils import get_sim_time
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from .trace import MmioAccess, Trace

__all__ = ["Mmio"]


class Mmio:
    """32-bit register accesses over cocotbext-axi's AXI4-Lite master.

    Parameters
    ----------
    dut : cocotb handle
        The NPU top level.
    prefix : str
        The port: ``"host"`` or ``"cp"``.
    window : int
        Size of the MMIO window in bytes; accesses outside it are refused before reaching the bus.
    trace : Trace, optional
        Where to record every access.
    """

    def __init__(self, dut, *, prefix="host", window, trace: Trace | None = None):
        bus = AxiLiteBus.from_prefix(dut, prefix, bus_separator="__")
        self._master = AxiLiteMaster(bus, dut.clk, dut.rst)
        self._master.write_if.log.setLevel("WARNING")
        self._master.read_if.log.setLevel("WARNING")
        self.window = window
        self.trace = trace

    def _check(self, offset, length=4):
        if offset % 4:
            raise ValueError(f"MMIO offset {offset:#x} is not 32-bit aligned")
        if not (offset >= 0 and offset + length <= self.window):
            raise ValueError(f"MMIO offset {offset:#x} is outside the {self.window:#x}-byte window")

    def _record(self, write, offset, value):
        if self.trace is not None:
            self.trace.record(MmioAccess(get_sim_time("ns"), write, offset, value))

    async def read(self, offset):
        """Read the 32-bit register at byte ``offset``."""
        self._check(offset)
        value = await self._master.read_dword(offset)
        self._record(False, offset, value)
        return value

    async def write(self, offset, value):
        """Write the 32-bit ``value`` to the register at byte ``offset``."""
        self._check(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"MMIO value {value!r} does not fit 32 bits")
        await self._master.write_dword(offset, value)
        self._record(True, offset, value)

    async def write_bytes(self, offset, data: bytes):
        """Write ``data`` at byte ``offset`` with byte strobes (a narrow or unaligned store).

        Not traced as a register access: it is for bus-level tests.
        """
        if not (offset >= 0 and offset + len(data) <= self.window):
            raise ValueError(f"MMIO range {offset:#x}+{len(data)} is outside the window")
        await self._master.write(offset, data)
