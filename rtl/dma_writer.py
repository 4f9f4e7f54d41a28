"""The DMA engine's writer: destination beats to mem or to the local port, burst by burst."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature, Resp, channels
from .dma_command import beat_layout
from .dma_side import Side
from .fifo import StreamFifo

__all__ = ["MAX_WRITES", "Writer"]

#: Writes (AW issued, B not yet received) the engine keeps in flight at most.
MAX_WRITES = 16


class Writer(Side):
    """Writes destination beats to mem or to the SRAM, burst by burst.

    To mem: an AW is issued only once all of its beats are in the destination buffer and fewer
    than :data:`MAX_WRITES` writes are in flight, so W never waits for data after AW and the
    buffer (at least twice the longest burst) always drains: no deadlock, and no AW whose data
    could be cut short by an error. W beats follow their AW in order, back to back; ``bready`` is
    always high. To the SRAM: each beat is written as it arrives, byte enables from its strobes.
    ``stop`` prevents new AWs and SRAM writes; W still completes every issued AW. ``fault`` is the
    ``bresp`` of an error response, for one cycle. ``idle``: no AW presented and no write awaiting
    its B. ``finished``: every burst of the region written, and idle. ``start`` loads ``region``
    and empties the buffers.
    """

    def __init__(self, *, data_width, addr_width, id_width, sram_addr_width, max_burst, depth):
        axi = AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
        sram_wr = WritePort.Signature(
            addr_width=sram_addr_width, shape=unsigned(data_width), granularity=8
        )
        members = {
            "beats": In(stream.Signature(beat_layout(data_width))),
            "mem": Out(channels(axi, ("aw", "w", "b"))),
            "sram_wr": In(sram_wr),
            "finished": Out(1),
        }
        super().__init__(members, data_width=data_width, max_burst=max_burst, depth=depth)

    def elaborate(self, platform):
        """Build the AW issue, the W sequencer, B counting and the SRAM write sequencer."""
        m = Module()
        lg, mem = self._lg, self.mem
        bursts, xlate, buffer = self.pipeline(m, beat_layout(self._dw))
        # The awlen of each AW whose W is to come: at most MAX_WRITES of them.
        m.submodules.lens = lens = StreamFifo(8, depth=MAX_WRITES)
        burst = xlate.o.payload
        m.d.comb += lens.flush.eq(self.start)
        wiring.connect(m, wiring.flipped(self.beats), buffer.w)

        avail = Signal(range(self._depth + 2))  # buffered beats not yet claimed by an AW
        writes = Signal(range(MAX_WRITES + 1))  # AWs issued whose B is to come
        beat = Signal(8)  # beat of the current W burst, or of the current SRAM burst

        ready = (avail >= burst.beats) & (writes != MAX_WRITES)
        aw_go = self.issue(m, "aw", xlate, room=ready)
        m.d.comb += [
            lens.w.valid.eq(aw_go),
            lens.w.payload.eq(burst.beats - 1),
            mem.bready.eq(1),
            self.fault.eq(Mux(mem.bvalid, mem.bresp, Resp.OKAY)),
            self.idle.eq((writes == 0) & ~mem.awvalid & ~xlate.busy),
            self.finished.eq(~bursts.busy & ~xlate.o.valid & self.idle),
        ]
        m.d.sync += [
            avail.eq(avail + (buffer.w.valid & buffer.w.ready) - Mux(aw_go, burst.beats, 0)),
            writes.eq(writes + aw_go - (mem.bvalid & mem.bready)),
        ]

        # W: the head of lens is the burst being sent; its data is already buffered.
        w_last = beat == lens.r.payload
        with m.If(~self.sram):
            m.d.comb += [
                mem.wvalid.eq(lens.r.valid & buffer.r.valid),
                mem.wdata.eq(buffer.r.payload.data),
                mem.wstrb.eq(buffer.r.payload.strb),
                mem.wlast.eq(w_last),
                buffer.r.ready.eq(mem.wready & lens.r.valid),
                lens.r.ready.eq(mem.wvalid & mem.wready & w_last),
                xlate.o.ready.eq(aw_go),
            ]
            with m.If(mem.wvalid & mem.wready):
                m.d.sync += beat.eq(Mux(w_last, 0, beat + 1))

        # SRAM: write each beat as it arrives; pop the burst with its last beat.
        with m.Else():
            sram_go = xlate.o.valid & buffer.r.valid & ~self.stop
            sram_last = beat == burst.beats - 1
            m.d.comb += [
                self.sram_wr.addr.eq(burst.addr[lg:] + beat),
                self.sram_wr.data.eq(buffer.r.payload.data),
                self.sram_wr.en.eq(Mux(sram_go, buffer.r.payload.strb, 0)),
                buffer.r.ready.eq(sram_go),
                xlate.o.ready.eq(sram_go & sram_last),
            ]
            with m.If(sram_go):
                m.d.sync += beat.eq(Mux(sram_last, 0, beat + 1))

        with m.If(self.start):
            m.d.sync += [avail.eq(0), beat.eq(0)]
        return m
