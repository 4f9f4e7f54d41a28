"""Unit tests of the scratchpads (``tinynpu.rtl.scratchpad``) in amaranth.sim.

Both take DMA writes of one bus word per cycle, addressed in bus words of their local region,
with byte enables. The model of each is the region as a ``bytearray``, written byte by byte where
the enables are set; the expected read data is sliced from it by the documented layout:

* InputBuffer: byte ``c`` of row slot ``q`` is region byte ``q * 256 + c``; slot ``q`` is in bank
  ``q % n`` at bank slot ``q // n``, so bank ``i`` at ``rd_addr = (s << log2(256 // W)) | word``
  holds bytes ``word * W ..`` of slot ``s * n + i``.
* WideBuffer: bus word ``a`` is lane ``a % r`` of memory word ``a // r``, which makes memory word
  ``m`` region bytes ``m * word_bytes ..`` (little-endian, lane 0 lowest).

Reads are pipelined: a new address every cycle, its data one cycle later.
"""

import random

import pytest
from rtl_kit import simulate
from tinynpu.rtl.scratchpad import InputBuffer, WideBuffer

K_SLOT = 256  # bytes of an input row slot (literal: the layout under test)


def random_writes(rng, words, bus_bytes, count, *, full=False):
    """``(addr, data, en)`` DMA writes: random words, full or random (often partial) strobes."""
    writes = []
    for _ in range(count):
        addr = rng.randrange(words)
        data = rng.getrandbits(8 * bus_bytes)
        if full:
            en = (1 << bus_bytes) - 1
        else:
            en = rng.choice([0, 1, 1 << (bus_bytes - 1), rng.getrandbits(bus_bytes)])
        writes.append((addr, data, en))
    return writes


def apply(model, writes, bus_bytes):
    for addr, data, en in writes:
        raw = data.to_bytes(bus_bytes, "little")
        for byte in range(bus_bytes):
            if en >> byte & 1:
                model[addr * bus_bytes + byte] = raw[byte]


def filled(rng, size_bytes, bus_bytes):
    """Writes filling the region in a random order, then random partial overwrites of half its
    words; and the region's bytes after them."""
    words = size_bytes // bus_bytes
    fill = [(a, rng.getrandbits(8 * bus_bytes), (1 << bus_bytes) - 1) for a in range(words)]
    rng.shuffle(fill)
    partial = random_writes(rng, words, bus_bytes, words // 2)
    model = bytearray(size_bytes)
    apply(model, fill, bus_bytes)
    apply(model, partial, bus_bytes)
    return [fill, partial], model


async def dma_write(ctx, port, writes):
    for addr, data, en in writes:
        ctx.set(port.addr, addr)
        ctx.set(port.data, data)
        ctx.set(port.en, en)
        await ctx.tick()
    ctx.set(port.en, 0)


# --- InputBuffer ------------------------------------------------------------------------------


def input_expected(model, n, bus_bytes, rd_addr):
    """Each bank's word at ``rd_addr``, from the documented slot layout."""
    per_slot = K_SLOT // bus_bytes
    bank_slot, word = rd_addr // per_slot, rd_addr % per_slot
    out = []
    for bank in range(n):
        q = bank_slot * n + bank
        start = q * K_SLOT + word * bus_bytes
        out.append(int.from_bytes(model[start : start + bus_bytes], "little"))
    return out


def write_then_read(dut, phases, reads, address, data, enable=None):
    """Apply the write ``phases`` one after the other, then read ``reads``, one per cycle.

    ``address`` is the read port's address (``enable``, if any, its enable, held high);
    ``data(ctx)`` records its data one cycle later. Returns the records.
    """
    got = []

    async def bench(ctx):
        for writes in phases:
            await dma_write(ctx, dut.dma, writes)
        if enable is not None:
            ctx.set(enable, 1)
        previous = None
        for addr in [*reads, None]:
            if addr is not None:
                ctx.set(address, addr)
            if previous is not None:
                got.append(data(ctx))
            previous = addr
            await ctx.tick()

    simulate(dut, bench)
    return got


def run_input(n, bus_bytes, size_bytes, phases, reads):
    """Write ``phases``, then read the bank addresses ``reads``: each bank's word."""
    dut = InputBuffer(n=n, bus_bytes=bus_bytes, size_bytes=size_bytes)

    def banks(ctx):
        return [ctx.get(dut.rd_data[i]) for i in range(n)]

    return write_then_read(dut, phases, reads, dut.rd_addr, banks)


@pytest.mark.parametrize(
    ("n", "bus_bytes", "size_bytes"), [(2, 4, 1024), (4, 8, 2048), (8, 32, 4096), (2, 32, 1024)]
)
def test_input_buffer_layout(n, bus_bytes, size_bytes):
    """Fill the region, overwrite random words with partial strobes, read every bank word."""
    rng = random.Random(n * 1000 + bus_bytes)
    phases, model = filled(rng, size_bytes, bus_bytes)
    reads = list(range(size_bytes // n // bus_bytes))
    rng.shuffle(reads)
    got = run_input(n, bus_bytes, size_bytes, phases, reads)
    assert got == [input_expected(model, n, bus_bytes, r) for r in reads]


def test_input_buffer_literal_slots():
    """n = 2, W = 4, 1 KiB: 4 slots of 64 words; slots 0, 2 in bank 0, slots 1, 3 in bank 1.

    Region byte 0x104 (slot 1, byte 4) is bus word 0x41: bank 1, rd_addr 1. Byte 0x208 (slot 2,
    byte 8) is word 0x82: bank 0, rd_addr (1 << 6) | 2 = 0x42. Byte 0x3FC (slot 3, last word) is
    word 0xFF: bank 1, rd_addr 0x7F. Word 0x41 is then rewritten in its bytes 1 and 3 only.
    """
    writes = [
        (0x41, 0x4433_2211, 0xF),
        (0x82, 0x8877_6655, 0xF),
        (0xFF, 0xCCBB_AA99, 0xF),
        (0x00, 0x0D0C_0B0A, 0xF),
        (0x41, 0xEEFF_EEFF, 0b1010),
    ]
    got = run_input(2, 4, 1024, [writes], [0x01, 0x42, 0x7F, 0x00, 0x40, 0x02])
    assert got == [
        [0, 0xEE33_EE11],  # rd_addr 1: slot 0 word 1 (bank 0), slot 1 word 1 (bank 1)
        [0x8877_6655, 0],  # rd_addr 0x42: slot 2 word 2, slot 3 word 2
        [0, 0xCCBB_AA99],  # rd_addr 0x7F: slot 2 word 63, slot 3 word 63
        [0x0D0C_0B0A, 0],  # rd_addr 0: slot 0 word 0, slot 1 word 0
        [0, 0],
        [0, 0],
    ]


def test_input_buffer_reads_while_writing():
    """Reads of one bank are not disturbed by writes to the other in the same cycles."""
    n, bus_bytes, size_bytes = 4, 8, 2048
    dut = InputBuffer(n=n, bus_bytes=bus_bytes, size_bytes=size_bytes)
    rng = random.Random(5)
    per_slot = K_SLOT // bus_bytes
    # bank 0 holds slots 0, 4; fill them first; then write slots 1..3 while reading bank 0
    fill = [(q * per_slot + w, rng.getrandbits(64), 0xFF) for q in (0, 4) for w in range(per_slot)]
    later = [(q * per_slot + w, rng.getrandbits(64), 0xFF) for q in (1, 2, 3) for w in range(4)]
    model = bytearray(size_bytes)
    apply(model, fill, bus_bytes)
    got = []

    async def bench(ctx):
        await dma_write(ctx, dut.dma, fill)
        reads = [rng.randrange(2 * per_slot) for _ in range(len(later))]
        for cycle, write in enumerate([*later, None]):
            if write is not None:
                ctx.set(dut.dma.addr, write[0])
                ctx.set(dut.dma.data, write[1])
                ctx.set(dut.dma.en, write[2])
                ctx.set(dut.rd_addr, reads[cycle])
            else:
                ctx.set(dut.dma.en, 0)
            if cycle:
                got.append((reads[cycle - 1], ctx.get(dut.rd_data[0])))
            await ctx.tick()

    simulate(dut, bench)
    for rd_addr, value in got:
        assert value == input_expected(model, n, bus_bytes, rd_addr)[0]


# --- WideBuffer -------------------------------------------------------------------------------


def run_wide(word_bytes, bus_bytes, size_bytes, phases, reads):
    """Write ``phases``, then read the words ``reads`` (read port enabled throughout)."""
    dut = WideBuffer(word_bytes=word_bytes, bus_bytes=bus_bytes, size_bytes=size_bytes)
    rd = dut.rd
    return write_then_read(dut, phases, reads, rd.addr, lambda ctx: ctx.get(rd.data), rd.en)


def wide_expected(model, word_bytes, addr):
    return int.from_bytes(model[addr * word_bytes : (addr + 1) * word_bytes], "little")


@pytest.mark.parametrize(
    ("word_bytes", "bus_bytes", "size_bytes"),
    [
        (16, 4, 512),  # 4 lanes (weights of N = 16 on a 32-bit bus)
        (32, 8, 1024),  # 4 lanes
        (128, 8, 2048),  # 16 lanes (parameters: 8 channels of 16 bytes)
        (64, 32, 1024),  # 2 lanes
        (8, 8, 256),  # one lane: a plain memory
    ],
)
def test_wide_buffer_lanes(word_bytes, bus_bytes, size_bytes):
    """Fill, then partial strobes (other bytes and lanes keep their values); read every word."""
    rng = random.Random(word_bytes * 100 + bus_bytes)
    phases, model = filled(rng, size_bytes, bus_bytes)
    reads = list(range(size_bytes // word_bytes))
    rng.shuffle(reads)
    reads += reads[:3]
    got = run_wide(word_bytes, bus_bytes, size_bytes, phases, reads)
    assert got == [wide_expected(model, word_bytes, a) for a in reads]


def test_wide_buffer_literal_lanes():
    """word_bytes 16, W 4 (r = 4): bus word 6 is lane 2 of word 1; bus word 3 lane 3 of word 0.

    Word 1 after writing bus words 4..7 with 0x11111111 .. 0x44444444, then bus word 6 with
    0xAABBCCDD under strobes 0b0110 (bytes 1, 2): lane 2 becomes 0x33BBCC33.
    """
    writes = [(4 + i, 0x1111_1111 * (i + 1), 0xF) for i in range(4)]
    writes += [(6, 0xAABB_CCDD, 0b0110), (3, 0x1234_5678, 0b1000)]
    got = run_wide(16, 4, 512, [writes], [1, 0, 1])
    word1 = 0x4444_4444_33BB_CC33_2222_2222_1111_1111
    assert got == [word1, 0x12 << 120, word1]
