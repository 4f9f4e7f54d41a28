"""32-bit register accesses to an AXI4-Lite port of the NPU: the host's, or the CP's."""

from cocotb.triggers import Lock, RisingEdge
from cocotb.utils import get_sim_time

from .trace import MmioAccess, Trace

__all__ = ["Mmio"]

#: AxPROT of every access: unprivileged, non-secure, data (AXI's ``NONSECURE`` bit alone).
PROT = 0b010


class _Port:
    """The signals of one AXI4-Lite channel group of the NPU, by member name."""

    def __init__(self, dut, prefix, names):
        for name in names:
            setattr(self, name, getattr(dut, f"{prefix}__{name}"))


class Mmio:
    """32-bit register accesses over an AXI4-Lite subordinate port of the NPU.

    The master drives the port directly, a few clock edges per access rather than a coroutine
    per channel: a transaction asks for the next rising edge, drives its address (and data)
    there, and watches each later edge for the handshakes, then for the response, with
    ``rready`` and ``bready`` held high. The timing is AXI4-Lite at its fastest for a master
    that starts on a clock edge: a read issued at any time after edge 0 drives ``arvalid`` from
    edge 1 and returns at the edge that takes the response (edge 3 against the NPU's front end:
    3 cycles back to back). Reads and writes are independent, as the channels are; accesses of
    one direction are issued one after another, in the order they were asked for.

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

    Attributes
    ----------
    last_resp : int
        ``RRESP`` or ``BRESP`` of the latest access to complete (0 is OKAY).
    """

    def __init__(self, dut, *, prefix="host", window, trace: Trace | None = None):
        self._clk = dut.clk
        self._read = _Port(dut, prefix, ("araddr", "arprot", "arvalid", "arready", "rdata"))
        self._read.rvalid, self._read.rresp = (
            getattr(dut, f"{prefix}__rvalid"),
            getattr(dut, f"{prefix}__rresp"),
        )
        self._write = _Port(
            dut,
            prefix,
            ("awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready"),
        )
        self._write.bvalid, self._write.bresp = (
            getattr(dut, f"{prefix}__bvalid"),
            getattr(dut, f"{prefix}__bresp"),
        )
        getattr(dut, f"{prefix}__rready").value = 1
        getattr(dut, f"{prefix}__bready").value = 1
        self._read.arvalid.value = 0
        self._write.awvalid.value = 0
        self._write.wvalid.value = 0
        self._read_lock, self._write_lock = Lock(), Lock()
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

    async def _read_word(self, address):
        port = self._read
        async with self._read_lock:
            try:
                await RisingEdge(self._clk)
                port.araddr.value = address
                port.arprot.value = PROT
                port.arvalid.value = 1
                pending = True
                while True:
                    await RisingEdge(self._clk)
                    if pending and port.arready.value:
                        pending = False
                        port.arvalid.value = 0
                    if not pending and port.rvalid.value:
                        self.last_resp = int(port.rresp.value)
                        return int(port.rdata.value)
            finally:
                # A cancelled access (a crashed firmware) leaves no request on the bus.
                port.arvalid.value = 0

    async def _write_word(self, address, data, strobe):
        port = self._write
        async with self._write_lock:
            try:
                await RisingEdge(self._clk)
                port.awaddr.value = address
                port.awprot.value = PROT
                port.awvalid.value = 1
                port.wdata.value = data
                port.wstrb.value = strobe
                port.wvalid.value = 1
                address_pending = data_pending = True
                while True:
                    await RisingEdge(self._clk)
                    if address_pending and port.awready.value:
                        address_pending = False
                        port.awvalid.value = 0
                    if data_pending and port.wready.value:
                        data_pending = False
                        port.wvalid.value = 0
                    if not (address_pending or data_pending) and port.bvalid.value:
                        self.last_resp = int(port.bresp.value)
                        return
            finally:
                port.awvalid.value = 0
                port.wvalid.value = 0

    async def read(self, offset):
        """Read the 32-bit register at byte ``offset``."""
        self._check(offset)
        value = await self._read_word(offset)
        self._record(False, offset, value)
        return value

    async def write(self, offset, value):
        """Write the 32-bit ``value`` to the register at byte ``offset``."""
        self._check(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"MMIO value {value!r} does not fit 32 bits")
        await self._write_word(offset, value, 0xF)
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
            await self._write_word(address, word, strobe)
            position += len(chunk)
