"""The DMA engine's reader: the source region into the source buffer, from mem or the local port."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature, Resp, channels
from .dma_side import Side

__all__ = ["Reader"]


class Reader(Side):
    """Fetches the source region into the source buffer, from mem or from the SRAM.

    An AR is issued only when the buffer has room for all of its beats (``used`` counts beats
    buffered or in flight), so ``rready`` is always high. From the SRAM, one beat is read per cycle
    under the same rule and pushed into the buffer ``latency`` cycles later (a fixed read latency).
    ``stop`` prevents new ARs and SRAM reads; an AR already presented stays valid until accepted
    (AXI does not allow withdrawing it). ``fault`` is the ``rresp`` of an R beat taken with an
    error, for one cycle. ``idle`` is high when no AR is presented or awaiting data and no SRAM
    read is in flight. ``start`` loads ``region`` and empties the buffer.
    """

    def __init__(
        self, *, data_width, addr_width, id_width, sram_addr_width, max_burst, depth, latency=1
    ):
        self._latency = latency
        axi = AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
        sram_rd = ReadPort.Signature(addr_width=sram_addr_width, shape=unsigned(data_width))
        members = {
            "mem": Out(channels(axi, ("ar", "r"))),
            "sram_rd": In(sram_rd),
            "beats": Out(stream.Signature(data_width)),
        }
        super().__init__(members, data_width=data_width, max_burst=max_burst, depth=depth)

    def elaborate(self, platform):
        """Build the AR issue, the SRAM read sequencer and the buffer."""
        m = Module()
        lg, mem = self._lg, self.mem
        _, xlate, buffer = self.pipeline(m, self._dw)
        burst = xlate.o.payload
        wiring.connect(m, wiring.flipped(self.beats), buffer.r)

        used = Signal(range(self._depth + 1))  # buffer slots taken or promised to a read
        reads = Signal(range(self._depth + 1))  # ARs accepted whose last R beat is to come
        # SRAM reads issued 1 .. latency cycles ago; the oldest returns its data this cycle.
        sram_pending = Signal(self._latency)
        sram_beat = Signal(9)  # beat of the current burst to read from the SRAM next

        ar_go = self.issue(m, "ar", xlate, room=used + burst.beats <= self._depth)
        m.d.comb += [
            mem.rready.eq(1),
            self.fault.eq(Mux(mem.rvalid, mem.rresp, Resp.OKAY)),
            self.idle.eq((reads == 0) & ~mem.arvalid & ~sram_pending.any() & ~xlate.busy),
        ]

        # SRAM source: one beat per cycle while a slot is free, the burst popped with its last.
        sram_go = xlate.o.valid & self.sram & ~self.stop & (used != self._depth)
        m.d.comb += [
            self.sram_rd.en.eq(sram_go),
            self.sram_rd.addr.eq(burst.addr[lg:] + sram_beat),
            xlate.o.ready.eq(ar_go | (sram_go & (sram_beat == burst.beats - 1))),
        ]
        m.d.sync += sram_pending.eq(Cat(sram_go, sram_pending[:-1]))
        with m.If(sram_go):
            m.d.sync += sram_beat.eq(Mux(sram_beat == burst.beats - 1, 0, sram_beat + 1))

        # Both sources push into the buffer; the credit check means it always has room.
        r_go = mem.rvalid & mem.rready
        m.d.comb += [
            buffer.w.valid.eq(r_go | sram_pending[-1]),
            buffer.w.payload.eq(Mux(sram_pending[-1], self.sram_rd.data, mem.rdata)),
        ]
        taken = self.beats.valid & self.beats.ready
        m.d.sync += [
            used.eq(used + Mux(ar_go, burst.beats, 0) + sram_go - taken),
            reads.eq(reads + ar_go - (r_go & mem.rlast)),
        ]
        with m.If(self.start):
            m.d.sync += [used.eq(0), sram_beat.eq(0)]
        return m
