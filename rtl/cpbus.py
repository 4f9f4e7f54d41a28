"""The control processor's bus: its registers in the low half of the window, its SRAM above."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from .axi import AXI4LiteSignature
from .lite import lite_handshakes

__all__ = ["LiteDecoder", "SramWindow"]


def _route(m, kind, targets, high_bit, *, request, accepted, response, delivered):
    """One transaction at a time to ``targets[high_bit]``, its response from the same target.

    Parameters
    ----------
    m : Module
        Where the routing goes.
    kind : str
        ``"read"`` or ``"write"``, to name the state.
    targets : (low, high)
        The two halves' interfaces.
    high_bit : Value
        The request's top address bit.
    request, response : callable
        A target to the assignments that connect it to the bus for the request (address
        channels) or for the response.
    accepted, delivered : Value
        The request has been taken, the response has been taken.
    """
    busy = Signal(name=f"{kind}_busy")
    to_high = Signal(name=f"{kind}_high")
    with m.If(~busy):
        for high, target in enumerate(targets):
            with m.If(high_bit == high):
                m.d.comb += request(target)
        with m.If(accepted):
            m.d.sync += [busy.eq(1), to_high.eq(high_bit)]
    with m.Else():
        for high, target in enumerate(targets):
            with m.If(to_high == high):
                m.d.comb += response(target)
        with m.If(delivered):
            m.d.sync += busy.eq(0)


class LiteDecoder(wiring.Component):
    """Split an AXI4-Lite window in two halves by its top address bit.

    Addresses with the top bit clear go to ``low``, the others to ``high``; both see the full
    address. One read and one write are in flight at a time: a new address is taken only after
    the previous response has been delivered, so responses can never be misrouted. A write is
    routed once both AW and W are valid (the subordinates take them together).

    Parameters
    ----------
    addr_width : int
        Address width of the window.

    Attributes
    ----------
    bus : In(AXI4LiteSignature(addr_width=addr_width))
    low, high : Out(AXI4LiteSignature(addr_width=addr_width))
    """

    def __init__(self, *, addr_width):
        lite = AXI4LiteSignature(addr_width=addr_width, data_width=32)
        self.addr_width = addr_width
        super().__init__({"bus": In(lite), "low": Out(lite), "high": Out(lite)})

    def elaborate(self, platform):
        """Build the read and write routing."""
        m = Module()
        bus, targets = self.bus, (self.low, self.high)
        top = self.addr_width - 1
        for target in targets:
            m.d.comb += [
                target.araddr.eq(bus.araddr),
                target.arprot.eq(bus.arprot),
                target.awaddr.eq(bus.awaddr),
                target.awprot.eq(bus.awprot),
                target.wdata.eq(bus.wdata),
                target.wstrb.eq(bus.wstrb),
            ]

        # Reads: the target is chosen by the address, then held until the response is taken.
        _route(
            m,
            "read",
            targets,
            bus.araddr[top],
            request=lambda t: [t.arvalid.eq(bus.arvalid), bus.arready.eq(t.arready)],
            accepted=bus.arvalid & bus.arready,
            response=lambda t: [
                bus.rvalid.eq(t.rvalid),
                bus.rdata.eq(t.rdata),
                bus.rresp.eq(t.rresp),
                t.rready.eq(bus.rready),
            ],
            delivered=bus.rvalid & bus.rready,
        )

        # Writes: the same, with AW and W offered together.
        both = bus.awvalid & bus.wvalid
        _route(
            m,
            "write",
            targets,
            bus.awaddr[top],
            request=lambda t: [
                t.awvalid.eq(both),
                t.wvalid.eq(both),
                bus.awready.eq(t.awready & both),
                bus.wready.eq(t.wready & both),
            ],
            accepted=bus.awvalid & bus.awready,
            response=lambda t: [
                bus.bvalid.eq(t.bvalid),
                bus.bresp.eq(t.bresp),
                t.bready.eq(bus.bready),
            ],
            delivered=bus.bvalid & bus.bready,
        )
        return m


class SramWindow(wiring.Component):
    """32-bit AXI4-Lite access to an SRAM whose words are wider.

    The window's low address bits, up to the SRAM's size, select the byte; 32-bit lanes of a wide
    word are written with byte strobes. Addresses of the window beyond the SRAM read as zero and
    ignore writes. Every access gets an OKAY response; one of each kind is taken per cycle.

    Parameters
    ----------
    addr_width : int
        Address width of the bus.
    sram_bytes : int
        Size of the SRAM, a power of two no larger than the window.
    data_width : int
        Width of an SRAM word: 32, 64, 128 or 256.

    Attributes
    ----------
    bus : In(AXI4LiteSignature(addr_width=addr_width))
    rd : In(ReadPort.Signature(...))
        Connects to a synchronous read port of the SRAM.
    wr : In(WritePort.Signature(..., granularity=8))
        Connects to a write port of the SRAM.
    """

    def __init__(self, *, addr_width, sram_bytes, data_width):
        self.sram_log2 = exact_log2(sram_bytes)
        self.word_log2 = exact_log2(data_width // 8)
        self.data_width = data_width
        words = ceil_log2(sram_bytes * 8 // data_width)
        shape = unsigned(data_width)
        super().__init__(
            {
                "bus": In(AXI4LiteSignature(addr_width=addr_width, data_width=32)),
                "rd": In(ReadPort.Signature(addr_width=words, shape=shape)),
                "wr": In(WritePort.Signature(addr_width=words, shape=shape, granularity=8)),
            }
        )

    def _split(self, address):
        """(inside the SRAM, word address, 32-bit lane) of a byte address."""
        inside = address[self.sram_log2 : len(address) - 1] == 0
        word = address[self.word_log2 : self.sram_log2]
        lane = address[2 : self.word_log2]
        return inside, word, lane

    def elaborate(self, platform):
        """Build the read and write channels."""
        m = Module()
        bus, lanes = self.bus, self.data_width // 32
        write, read = lite_handshakes(m, bus)

        inside, word, lane = self._split(bus.awaddr)
        m.d.comb += [self.wr.addr.eq(word), self.wr.data.eq(bus.wdata.replicate(lanes))]
        with m.If(write & inside):
            m.d.comb += self.wr.en.eq(bus.wstrb << (4 * lane) if lanes > 1 else bus.wstrb)

        # The read port's data follows its address one cycle later and holds while not enabled.
        read_lane = Signal(max(self.word_log2 - 2, 1))
        read_inside = Signal()
        inside, word, lane = self._split(bus.araddr)
        m.d.comb += [self.rd.addr.eq(word), self.rd.en.eq(read)]
        data = self.rd.data.word_select(read_lane, 32) if lanes > 1 else self.rd.data
        m.d.comb += bus.rdata.eq(data & read_inside.replicate(32))
        with m.If(read):
            m.d.sync += [read_lane.eq(lane), read_inside.eq(inside)]
        return m
