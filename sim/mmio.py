"""32-bit register accesses to an AXI4-Lite port of the NPU: the host's, or the CP's."""

import ctypes

from cocotb.utils import get_sim_time

from .native import model
from .soc_top import MASTER_PORTS
from .trace import MmioAccess, Trace

__all__ = ["Mmio"]

#: AxPROT of every access: unprivileged, non-secure, data (AXI's ``NONSECURE`` bit alone).
PROT = 0b010


class Mmio:
    """32-bit register accesses over an AXI4-Lite subordinate port of the NPU.

    The bus master is inside the simulator (``csrc/axil_master.cpp``): an access is posted to it
    and its caller sleeps until the port's completion counter changes, one Python wake per access
    whatever its bus cycles. The timing is AXI4-Lite at its fastest for a master that starts on a
    clock edge: a read posted at any time after edge 0 drives ``arvalid`` from edge 1 and
    returns at the edge that takes the response (edge 3 against the NPU's front end: 3 cycles
    back to back). Reads and writes are independent, as the channels are; accesses of one
    direction are issued one after another, in the order they were asked for.

    Parameters
    ----------
    dut : cocotb handle
        The SoC top level.
    prefix : str
        The port: ``"host"`` or ``"cp"``.
    window : int
        Size of the MMIO window in bytes; accesses outside it are refused before reaching the bus.
    trace : Trace, optional
        Where to record every access.

    Attributes
    ----------
    last_resp : int
        ``RRESP`` or ``BRESP`` of the latest access to complete (0 is OKAY).
    """

    def __init__(self, dut, *, prefix="host", window, trace: Trace | None = None):
        self._port = {name: index for name, index, _ in MASTER_PORTS}[prefix]
        self._done = (
            getattr(dut, f"{prefix}_reads_done"),
            getattr(dut, f"{prefix}_writes_done"),
        )
        self._model = model()
        self.window = window
        self.trace = trace
        self.last_resp = 0

    def _check(self, offset, length=4):
        if offset % 4:
            raise ValueError(f"MMIO offset {offset:#x} is not 32-bit aligned")
        if not (offset >= 0 and offset + length <= self.window):
            raise ValueError(f"MMIO offset {offset:#x} is outside the {self.window:#x}-byte window")

    def _record(self, write, offset, value):
        if self.trace is not None:
            self.trace.record(MmioAccess(get_sim_time("ns"), write, offset, value))

    async def _access(self, write, address, data=0, strobe=0, delay=0):
        """Post one access, sleep until the master completes it; ``(data, resp)``."""
        model, port = self._model, self._port
        ticket = model.tinynpu_axil_post(
            port, write, address, data, strobe, PROT, get_sim_time("step"), delay
        )
        value, resp = ctypes.c_uint32(), ctypes.c_uint32()
        done = self._done[write]
        try:
            while not model.tinynpu_axil_take(port, write, ticket, value, resp):
                await done.value_change
        except BaseException:
            # A cancelled access (a crashed firmware) leaves the bus at the next edge.
            model.tinynpu_axil_cancel(port, write, ticket)
            raise
        self.last_resp = resp.value
        return value.value

    async def read(self, offset, *, delay=0):
        """Read the 32-bit register at byte ``offset``.

        ``delay`` is clock edges to let pass before the access starts (a core's issue cycles).
        """
        self._check(offset)
        value = await self._access(0, offset, delay=delay)
        self._record(False, offset, value)
        return value

    async def write(self, offset, value, *, delay=0):
        """Write the 32-bit ``value`` to the register at byte ``offset`` (``delay``: see read)."""
        self._check(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"MMIO value {value!r} does not fit 32 bits")
        await self._access(1, offset, value, 0xF, delay)
        self._record(True, offset, value)

    async def write_bytes(self, offset, data: bytes):
        """Write ``data`` at byte ``offset`` with byte strobes (a narrow or unaligned store).

        One write per 32-bit word touched, in address order; ``AWADDR`` is the first byte's
        address. Not traced as a register access: it is for bus-level tests.
        """
        if not (offset >= 0 and offset + len(data) <= self.window):
            raise ValueError(f"MMIO range {offset:#x}+{len(data)} is outside the window")
        position = 0
        while position < len(data):
            address = offset + position
            lane = address % 4
            chunk = bytes(data[position : position + 4 - lane])
            word = int.from_bytes(bytes(lane) + chunk + bytes(4 - lane - len(chunk)), "little")
            strobe = ((1 << len(chunk)) - 1) << lane
            await self._access(1, address, word, strobe)
            position += len(chunk)
