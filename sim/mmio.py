"""32-bit register accesses to the host's AXI4-Lite port of the NPU (the CP's: ``cp_port``)."""

from cocotb.triggers import Lock, RisingEdge
from cocotb.utils import get_sim_time

from .soc_top import LITE_TAG_WIDTH
from .trace import MmioAccess, Trace

__all__ = ["Mmio"]

#: Sequence numbers of the managers' requests wrap at this.
_SEQ_MOD = 1 << LITE_TAG_WIDTH


class _Channel:
    """The request ports of one direction (``rd`` or ``wr``) of a manager, by member name."""

    def __init__(self, dut, prefix, kind, names):
        for name in names:
            setattr(self, name, getattr(dut, f"{prefix}__{kind}_{name}"))
        self.last = 0  # the latest sequence number asked for
        self.lock = Lock()


class Mmio:
    """32-bit register accesses over an AXI4-Lite subordinate port of the NPU.

    The AXI4-Lite manager is inside the simulated SoC (``hdl/lite_master.sv``): an access writes
    its request and waits for one rise of the manager's ``done``, a single wake, while the
    manager drives the handshakes. The timing is AXI4-Lite at its fastest for a manager that
    starts on a clock edge: a read asked for at any time after edge 0 drives ``arvalid`` from
    edge 1 and returns at the edge whose response it takes (edge 3 against the NPU's front end: 3
    cycles back to back). Reads and writes are independent, as the channels are; accesses of one
    direction are issued one after another, in the order they were asked for. An access given up
    (its task cancelled) before its edge never reaches the bus; one already on the bus completes,
    unseen.

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
        self._read = _Channel(
            dut, prefix, "rd", ("seq", "addr", "delay", "done", "tag", "data", "resp")
        )
        self._write = _Channel(
            dut, prefix, "wr", ("seq", "addr", "data", "strb", "delay", "done", "tag", "resp")
        )
        # A new Mmio on a running SoC (after a firmware restart) continues the numbering.
        for channel in (self._read, self._write):
            channel.last = int(channel.tag.value)
            channel.seq.value = channel.last
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

    @staticmethod
    async def _issue(channel):
        """Ask ``channel``'s manager for the access whose operands are written; await its end."""
        seq = channel.last = (channel.last + 1) % _SEQ_MOD
        channel.seq.value = seq
        done = False
        try:
            while True:
                await RisingEdge(channel.done)
                if int(channel.tag.value) == seq:
                    done = True
                    return int(channel.resp.value)
        finally:
            if not done:
                # Given up: withdraw the request if its edge has not come (no-op if it has).
                channel.seq.value = channel.last = int(channel.tag.value)

    async def _read_word(self, address, delay=0):
        channel = self._read
        async with channel.lock:
            channel.addr.value = address
            channel.delay.value = delay
            self.last_resp = await self._issue(channel)
            return int(channel.data.value)

    async def _write_word(self, address, data, strobe, delay=0):
        channel = self._write
        async with channel.lock:
            channel.addr.value = address
            channel.delay.value = delay
            channel.data.value = data
            channel.strb.value = strobe
            self.last_resp = await self._issue(channel)

    async def read(self, offset, *, delay=0):
        """Read the 32-bit register at byte ``offset``.

        ``delay`` rising edges pass before the one that drives the request (see
        ``hdl/lite_master.sv``): the same timing as awaiting ``ClockCycles(clk, delay)`` first,
        without its wakes.
        """
        self._check(offset)
        value = await self._read_word(offset, delay)
        self._record(False, offset, value)
        return value

    async def write(self, offset, value, *, delay=0):
        """Write the 32-bit ``value`` to the register at byte ``offset``.

        ``delay``: as for :meth:`read`.
        """
        self._check(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"MMIO value {value!r} does not fit 32 bits")
        await self._write_word(offset, value, 0xF, delay)
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
