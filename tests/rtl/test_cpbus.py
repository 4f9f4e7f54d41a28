"""Unit tests of the CP bus: the decoder against two scripted subordinates that record what they
see, the SRAM window on an Amaranth ``Memory`` whose words are also checked directly."""

import pytest
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from rtl_kit import OKAY, axil_read, axil_reads, axil_write, simulate
from tinynpu.rtl.axi import Resp
from tinynpu.rtl.cpbus import LiteDecoder, SramWindow
from tinynpu.rtl.lite import connect_lite
from tinynpu.rtl.regmap import CP
from tinynpu.rtl.regmap.block import RegisterBlock

SLVERR = Resp.SLVERR.value
SRAM_BYTES = 256


# --- LiteDecoder ----------------------------------------------------------------------------------


class Subordinate:
    """A scripted AXI4-Lite subordinate: ``rdata = tag | addr``, fixed responses and latency."""

    def __init__(self, port, tag, resp, latency):
        self.port, self.tag, self.resp, self.latency = port, tag, resp, latency
        self.reads, self.writes = [], []

    async def respond(self, ctx, valid, ready, **payload):
        """Offer a response ``latency`` cycles after the request, until it is taken."""
        for _ in range(self.latency - 1):
            await ctx.tick()
        for name, value in payload.items():
            ctx.set(getattr(self.port, name), value)
        ctx.set(valid, 1)
        while not (await ctx.tick().sample(ready))[-1]:
            pass
        ctx.set(valid, 0)

    async def serve_reads(self, ctx):
        port = self.port
        while True:
            ctx.set(port.arready, 1)
            *_, valid, addr = await ctx.tick().sample(port.arvalid, port.araddr)
            if valid:
                self.reads.append(addr)
                ctx.set(port.arready, 0)
                await self.respond(
                    ctx, port.rvalid, port.rready, rdata=self.tag | addr, rresp=self.resp
                )

    async def serve_writes(self, ctx):
        port = self.port
        while True:
            ctx.set(port.awready, 1)
            ctx.set(port.wready, 1)
            *_, aw, w, addr, data, strb = await ctx.tick().sample(
                port.awvalid, port.wvalid, port.awaddr, port.wdata, port.wstrb
            )
            assert aw == w, "AW and W not offered together"
            if aw:
                self.writes.append((addr, data, strb))
                ctx.set(port.awready, 0)
                ctx.set(port.wready, 0)
                await self.respond(ctx, port.bvalid, port.bready, bresp=self.resp)


def lo(addr):  # what the low subordinate answers to a read of addr
    return 0x1110_0000 | addr, OKAY


def hi(addr):
    return 0x2220_0000 | addr, SLVERR


def decoder_bench(bench, *, low_latency=1, high_latency=1):
    dut = LiteDecoder(addr_width=16)
    low = Subordinate(dut.low, 0x1110_0000, OKAY, low_latency)
    high = Subordinate(dut.high, 0x2220_0000, SLVERR, high_latency)
    processes = [low.serve_reads, low.serve_writes, high.serve_reads, high.serve_writes]

    async def testbench(ctx):
        await bench(ctx, dut, low, high)

    simulate(dut, testbench, processes=processes)


def test_decoder_routes_reads_by_the_top_bit():
    async def bench(ctx, dut, low, high):
        addrs = (0x0004, 0x8004, 0x7FFC, 0xFFFC, 0x8000)
        results = [await axil_read(ctx, dut.bus, a) for a in addrs]
        assert results == [lo(0x0004), hi(0x8004), lo(0x7FFC), hi(0xFFFC), hi(0x8000)]
        assert (low.reads, high.reads) == ([0x0004, 0x7FFC], [0x8004, 0xFFFC, 0x8000])

    decoder_bench(bench)


def test_decoder_routes_writes_with_aw_and_w_together():
    async def bench(ctx, dut, low, high):
        assert await axil_write(ctx, dut.bus, 0x8010, 0xDEADBEEF, 0x5, w_delay=3) == SLVERR
        assert await axil_write(ctx, dut.bus, 0x0010, 0x01234567, 0xF) == OKAY
        assert await axil_write(ctx, dut.bus, 0xC000, 0x89ABCDEF, 0x8, w_delay=1) == SLVERR
        assert await axil_write(ctx, dut.bus, 0x7FF8, 0x00000000, 0x1) == OKAY
        assert low.writes == [(0x0010, 0x01234567, 0xF), (0x7FF8, 0x00000000, 0x1)]
        assert high.writes == [(0x8010, 0xDEADBEEF, 0x5), (0xC000, 0x89ABCDEF, 0x8)]

    decoder_bench(bench)


@pytest.mark.parametrize(("low_latency", "high_latency"), [(5, 1), (1, 5), (3, 3)])
def test_decoder_back_to_back_reads_are_not_misrouted(low_latency, high_latency):
    """The next AR is offered the cycle after the previous one is accepted, across halves."""

    async def bench(ctx, dut, low, high):
        addrs = [0x0100, 0x8200, 0x0300, 0x0304, 0x8400, 0x8404]
        results = await axil_reads(ctx, dut.bus, addrs)
        assert results == [lo(0x100), hi(0x8200), lo(0x300), lo(0x304), hi(0x8400), hi(0x8404)]
        assert (low.reads, high.reads) == ([0x0100, 0x0300, 0x0304], [0x8200, 0x8400, 0x8404])

    decoder_bench(bench, low_latency=low_latency, high_latency=high_latency)


# --- SramWindow -----------------------------------------------------------------------------------


class SramSystem(Elaboratable):
    """The SRAM window on a ``Memory``; with ``regs``, behind the decoder with the CP registers
    on the low half (their address cut to 15 bits), as in the top level."""

    def __init__(self, data_width, init=(), *, regs=False):
        self.window = SramWindow(addr_width=16, sram_bytes=SRAM_BYTES, data_width=data_width)
        depth = SRAM_BYTES * 8 // data_width
        self.memory = Memory(shape=unsigned(data_width), depth=depth, init=list(init))
        self.decoder = LiteDecoder(addr_width=16) if regs else None
        self.regs = RegisterBlock(CP, addr_width=15) if regs else None
        self.bus = self.decoder.bus if regs else self.window.bus

    def elaborate(self, platform):
        m = Module()
        m.submodules += [self.window, self.memory]
        wiring.connect(m, self.window.rd, self.memory.read_port())
        wiring.connect(m, self.window.wr, self.memory.write_port(granularity=8))
        if self.decoder is not None:
            m.submodules += [self.decoder, self.regs]
            wiring.connect(m, self.decoder.high, self.window.bus)
            connect_lite(m, self.decoder.low, self.regs.bus)
        return m


def test_decoder_with_registers_and_sram():
    dut = SramSystem(64, regs=True)

    async def bench(ctx):
        bus = dut.bus
        assert await axil_write(ctx, bus, 0x0008, 0xFFFFFFFF) == OKAY  # fw_version: 24 bits
        assert await axil_write(ctx, bus, 0x8008, 0xCAFEF00D) == OKAY
        results = await axil_reads(ctx, bus, [0x0000, 0x0008, 0x8008, 0x8000, 0x0008, 0x800C])
        # cp_info (16 KiB SRAM at 0x8000), fw_version, SRAM, SRAM, fw_version, SRAM.
        assert [data for data, _ in results] == [0xE8000, 0xFFFFFF, 0xCAFEF00D, 0, 0xFFFFFF, 0]
        assert [resp for _, resp in results] == [OKAY] * 6
        assert ctx.get(dut.memory.data[1]) == 0x00000000_CAFEF00D

    simulate(dut, bench)


#: Initial words 0 and 1 for each width: lane k of word w holds 0x<w+1><k+1> repeated.
INIT = {
    32: [0x11111111, 0x21212121],
    64: [0x12121212_11111111, 0x22222222_21212121],
    128: [
        0x14141414_13131313_12121212_11111111,
        0x24242424_23232323_22222222_21212121,
    ],
}
WIDTHS = [32, 64, 128]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("base", [0x0000, 0x8000])
def test_sram_reads_every_lane(width, base):
    """Back-to-back reads of every 32-bit lane of the first two words, in and out of order."""
    dut = SramSystem(width, INIT[width])
    lanes = width // 32
    order = list(range(2 * lanes)) + list(reversed(range(2 * lanes)))
    expected = [int(f"{i // lanes + 1}{i % lanes + 1}" * 4, 16) for i in order]

    async def bench(ctx):
        results = await axil_reads(ctx, dut.bus, [base + 4 * i for i in order])
        assert results == [(value, OKAY) for value in expected]

    simulate(dut, bench)


@pytest.mark.parametrize("width", [64, 128])
def test_sram_write_every_lane(width):
    dut = SramSystem(width)
    lanes = width // 32
    values = [0xA0B0C0D0 + i for i in range(2 * lanes)]
    words = {
        64: [0xA0B0C0D1_A0B0C0D0, 0xA0B0C0D3_A0B0C0D2],
        128: [
            0xA0B0C0D3_A0B0C0D2_A0B0C0D1_A0B0C0D0,
            0xA0B0C0D7_A0B0C0D6_A0B0C0D5_A0B0C0D4,
        ],
    }

    async def bench(ctx):
        for i, value in enumerate(values):
            assert await axil_write(ctx, dut.bus, 0x8000 + 4 * i, value) == OKAY
        assert [ctx.get(dut.memory.data[w]) for w in range(3)] == [*words[width], 0]
        results = await axil_reads(ctx, dut.bus, [0x8000 + 4 * i for i in range(2 * lanes)])
        assert results == [(value, OKAY) for value in values]

    simulate(dut, bench)


STROBE_CASES = [  # (width, address, wstrb, lane read back, word 0 afterwards)
    (32, 0x8000, 0b1001, 0xAA1111DD, 0xAA1111DD),
    (64, 0x8004, 0b0010, 0x1212CC12, 0x1212CC12_11111111),
    (64, 0x8000, 0b0100, 0x11BB1111, 0x12121212_11BB1111),
    (128, 0x8004, 0b1000, 0xAA121212, 0x14141414_13131313_AA121212_11111111),
    (128, 0x8008, 0b0110, 0x13BBCC13, 0x14141414_13BBCC13_12121212_11111111),
    (128, 0x800C, 0b0001, 0x141414DD, 0x141414DD_13131313_12121212_11111111),
    (128, 0x800C, 0b0000, 0x14141414, 0x14141414_13131313_12121212_11111111),
]


@pytest.mark.parametrize(("width", "addr", "strb", "lane", "word"), STROBE_CASES)
def test_sram_byte_strobes(width, addr, strb, lane, word):
    """Writes of 0xAABBCCDD change only the strobed bytes; word 1 is untouched."""
    dut = SramSystem(width, INIT[width])

    async def bench(ctx):
        assert await axil_write(ctx, dut.bus, addr, 0xAABBCCDD, strb) == OKAY
        assert await axil_read(ctx, dut.bus, addr) == (lane, OKAY)
        assert ctx.get(dut.memory.data[0]) == word
        assert ctx.get(dut.memory.data[1]) == INIT[width][1]

    simulate(dut, bench)


@pytest.mark.parametrize("width", WIDTHS)
def test_sram_outside_reads_zero_and_ignores_writes(width):
    """The SRAM is 256 bytes: 0x8100 and up (and its aliases below 0x8000) are empty."""
    dut = SramSystem(width, INIT[width])
    outside = [0x8100, 0x8104, 0x8200, 0xC000, 0xFFFC, 0x0100, 0x7F00]

    async def bench(ctx):
        for addr in outside:
            assert await axil_write(ctx, dut.bus, addr, 0xFFFFFFFF) == OKAY
        assert await axil_reads(ctx, dut.bus, outside) == [(0, OKAY)] * len(outside)
        assert [ctx.get(dut.memory.data[w]) for w in range(3)] == [*INIT[width], 0]
        # In and out of the SRAM, back to back: the zeroing follows each read.
        results = await axil_reads(ctx, dut.bus, [0x8000, 0x8100, 0x8000, 0xFFFC, 0x80FC])
        assert results == [(0x11111111, OKAY), (0, OKAY), (0x11111111, OKAY), (0, OKAY), (0, OKAY)]

    simulate(dut, bench)


@pytest.mark.parametrize("width", [32, 128])
def test_sram_read_data_held_while_rready_low(width):
    """A pending R beat keeps its data through a write to its address and a waiting AR."""
    dut = SramSystem(width, INIT[width])
    first = {32: 0x21212121, 128: 0x12121212}[width]  # 0x8004

    async def bench(ctx):
        bus = dut.bus
        ctx.set(bus.araddr, 0x8004)
        ctx.set(bus.arvalid, 1)
        *_, arready = await ctx.tick().sample(bus.arready)
        assert arready
        ctx.set(bus.araddr, 0x8000)  # offered, but must wait for the R beat to be taken
        assert await axil_write(ctx, bus, 0x8004, 0x5A5A5A5A) == OKAY
        for _ in range(4):
            *_, arready, rvalid, rdata = await ctx.tick().sample(bus.arready, bus.rvalid, bus.rdata)
            assert (arready, rvalid, rdata) == (0, 1, first)
        ctx.set(bus.rready, 1)
        *_, arready, rvalid, rdata = await ctx.tick().sample(bus.arready, bus.rvalid, bus.rdata)
        assert (arready, rvalid, rdata) == (1, 1, first)  # taken; 0x8000 accepted
        ctx.set(bus.arvalid, 0)
        *_, rvalid, rdata = await ctx.tick().sample(bus.rvalid, bus.rdata)
        assert (rvalid, rdata) == (1, 0x11111111)
        ctx.set(bus.rready, 0)
        await ctx.tick()
        assert await axil_read(ctx, bus, 0x8004) == (0x5A5A5A5A, OKAY)

    simulate(dut, bench)
