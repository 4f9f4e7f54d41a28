"""The DMA engine's local port, routed to the regions of ``tinynpu.rtl.localmap``.

Reads have a fixed latency of :data:`~tinynpu.rtl.ppu.LATENCY` cycles whatever the region (the
post-processor sets it; the SRAM's and the counters' data wait in a delay line), so the DMA
engine sees one pipelined port. Writes reach the region's memory in the cycle they are offered.
The DMA engine has already checked that each command stays inside one region that allows its
direction; a read of a write-only region returns zero, a write to a read-only region is dropped.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .localmap import LOCAL_ADDR_WIDTH, PERF_BYTES, REGION_SHIFT, Geometry, Region
from .ppu import LATENCY
from .scratchpad import dma_write_port

__all__ = ["LocalBus"]


class LocalBus(wiring.Component):
    """Decode of the DMA engine's local reads and writes.

    Parameters
    ----------
    geometry : Geometry

    Attributes
    ----------
    dma_rd : Out(ReadPort.Signature(...)), dma_wr : Out(WritePort.Signature(...))
        The DMA engine's local port, in bus words of the 24-bit local space.
    sram_rd, sram_wr : In(ReadPort.Signature(...)), In(WritePort.Signature(...))
        The CP SRAM's ports.
    input_wr, weight_wr, params_wr : In(WritePort.Signature(...))
        The scratchpads' DMA ports.
    ppu_addr, ppu_wide, ppu_en : Out; ppu_data : In
        The post-processor's read (``ppu_wide`` for ACC32).
    perf_addr, perf_en : Out; perf_data : In
        The job counters' read.
    """

    def __init__(self, geometry: Geometry):
        self.geometry = g = geometry
        w = g.bus_bytes
        shape = unsigned(w * 8)
        aw = LOCAL_ADDR_WIDTH - exact_log2(w)
        super().__init__(
            {
                "dma_rd": Out(ReadPort.Signature(addr_width=aw, shape=shape)),
                "dma_wr": Out(WritePort.Signature(addr_width=aw, shape=shape, granularity=8)),
                "sram_rd": In(
                    ReadPort.Signature(addr_width=exact_log2(g.sram_bytes // w), shape=shape)
                ),
                "sram_wr": In(dma_write_port(g.sram_bytes, w)),
                "input_wr": In(dma_write_port(g.input_bytes, w)),
                "weight_wr": In(dma_write_port(g.weight_bytes, w)),
                "params_wr": In(dma_write_port(g.params_bytes, w)),
                "ppu_addr": Out(exact_log2(g.acc_bytes // w)),
                "ppu_wide": Out(1),
                "ppu_en": Out(1),
                "ppu_data": In(w * 8),
                "perf_addr": Out(exact_log2(PERF_BYTES // w)),
                "perf_en": Out(1),
                "perf_data": In(w * 8),
            }
        )

    def elaborate(self, platform):
        """Build the region decode and the read delay lines."""
        m = Module()
        lg = exact_log2(self.geometry.bus_bytes)
        split = REGION_SHIFT - lg  # word-address bit where the region number starts

        # Reads: route the address, then pick the region's data LATENCY cycles later.
        rd = self.dma_rd
        region = rd.addr[split:]
        offset = rd.addr[:split]
        m.d.comb += [
            self.sram_rd.addr.eq(offset),
            self.sram_rd.en.eq(rd.en & (region == Region.SRAM.value)),
            self.perf_addr.eq(offset),
            self.perf_en.eq(rd.en & (region == Region.PERF.value)),
            self.ppu_addr.eq(offset),
            self.ppu_wide.eq(region == Region.ACC32.value),
            self.ppu_en.eq(
                rd.en & ((region == Region.ACC8.value) | (region == Region.ACC32.value))
            ),
        ]
        delayed = [region]
        for stage in range(LATENCY):
            reg = Signal.like(region, name=f"region_d{stage + 1}")
            m.d.sync += reg.eq(delayed[-1])
            delayed.append(reg)
        memory_data = Mux(delayed[1] == Region.SRAM.value, self.sram_rd.data, self.perf_data)
        for stage in range(LATENCY - 1):  # memories answer after one cycle: wait for the PPU
            reg = Signal.like(memory_data, name=f"data_d{stage + 2}")
            m.d.sync += reg.eq(memory_data)
            memory_data = reg
        at_ppu = (delayed[-1] == Region.ACC8.value) | (delayed[-1] == Region.ACC32.value)
        m.d.comb += rd.data.eq(Mux(at_ppu, self.ppu_data, memory_data))

        # Writes: each region's port sees the offset; only the addressed one is enabled.
        wr = self.dma_wr
        region = wr.addr[split:]
        for target, which in (
            (self.sram_wr, Region.SRAM),
            (self.input_wr, Region.INPUT),
            (self.weight_wr, Region.WEIGHT),
            (self.params_wr, Region.PARAMS),
        ):
            m.d.comb += [
                target.addr.eq(wr.addr[: len(target.addr)]),
                target.data.eq(wr.data),
                target.en.eq(Mux(region == which.value, wr.en, 0)),
            ]
        return m
