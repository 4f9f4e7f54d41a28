"""The MMU on the RTL: jobs through page tables the driver wrote, every fault kind, the TLB.

Expected bytes are slices of Python byte strings placed frame by frame; fault records are
literals (addresses, kinds, levels), not values derived from the driver's tables.
"""

import dataclasses
import errno
import random

import cocotb
from tinynpu.driver import commands
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.mmu import Fault
from tinynpu.driver.npu import Npu
from tinynpu.driver.pgtable import Prot
from tinynpu.firmware import Firmware
from tinynpu.rtl.layouts import Access, CompletionStatus, ErrorCode, FaultKind, pack, unpack
from tinynpu.rtl.pte import OUTPUT_ADDR_WIDTH, Descriptor
from tinynpu.rtl.regmap import HOST, join_address
from tinynpu.sim.soc import Soc

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB
TIMEOUT_NS = 5_000_000
#: The driver's structures, tables and streams come from here; frames from FRAMES.
POOL = (0x10_0000, 8 * MiB)
FRAMES = (0x100_0000, 32 * MiB)
RW, RO = Prot.READ | Prot.WRITE, Prot.READ
OK, FAULT = CompletionStatus.OK, CompletionStatus.FAULT
READ, WRITE, FETCH = Access.READ, Access.WRITE, Access.FETCH
#: Virtual addresses of the tests: a stream page, sources and destinations far apart.
STREAM_VA = 0x7F_0000_0000
SRC_VA = 0x12_3450_0000
DST_VA = 0x40_0000_0000
BLOCK_VA = 0x12_3460_0000  # 2 MiB aligned


class Frames:
    """Physical pages handed out in a shuffled order, so that mappings scatter."""

    def __init__(self, seed):
        base, size = FRAMES
        self.free = [base + i * PAGE for i in range(size // PAGE)]
        random.Random(seed).shuffle(self.free)

    def take(self, n):
        taken, self.free = self.free[:n], self.free[n:]
        return taken


async def bring_up(dut):
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(*POOL))
    await npu.init()
    return soc, npu


async def map_scattered(npu, space, va, frames, prot=RW):
    """Map consecutive pages from ``va`` to ``frames``, one page each."""
    for i, frame in enumerate(frames):
        await npu.mmu.map(space, va + i * PAGE, frame, PAGE, prot)


async def write_virtual(soc, frames, data, offset=0):
    """Write ``data`` at byte ``offset`` of the virtual range backed by ``frames``."""
    for i, frame in enumerate(frames):
        lo, hi = max(offset, i * PAGE), min(offset + len(data), (i + 1) * PAGE)
        if lo < hi:
            await soc.mem_write(frame + lo - i * PAGE, data[lo - offset : hi - offset])


async def read_virtual(soc, frames):
    return b"".join([await soc.mem_read(frame, PAGE) for frame in frames])


async def stream_space(npu, space, frames, prot=RW):
    """Map one page at STREAM_VA for command streams; return its frame."""
    (frame,) = frames.take(1)
    await npu.mmu.map(space, STREAM_VA, frame, PAGE, prot)
    return frame


async def run(soc, npu, space, stream_frame, *cmds):
    """Write a stream into the stream page, run it in ``space``, return the result."""
    data = commands.stream(*cmds)
    await soc.mem_write(stream_frame, data)
    seqno = await npu.submit(STREAM_VA, len(data), asid=space.asid)
    return await npu.wait(seqno, timeout_ns=TIMEOUT_NS)


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


async def good_copy(soc, npu, space, stream_frame, frames, seed):
    """A small COPY inside ``space`` works: the device and the address space are usable."""
    src, dst = frames.take(1)[0], frames.take(1)[0]
    await npu.mmu.map(space, 0x1000_0000, src, PAGE, RO)
    await npu.mmu.map(space, 0x1000_1000, dst, PAGE, RW)
    data = pattern(100, seed)
    await soc.mem_write(src, data)
    result = await run(soc, npu, space, stream_frame, commands.copy(0x1000_0000, 0x1000_1005, 100))
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    assert await soc.mem_read(dst + 5, 100) == data
    await npu.mmu.unmap(space, 0x1000_0000, 2 * PAGE)


@cocotb.test()
async def scattered_pages(dut):
    """COPYs over 48 pages mapped to shuffled frames are bit-exact; the walker agrees with
    iova_to_phys; a 2-D copy crosses pages in both directions."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=1)
    space = await npu.mmu.create()
    stream = await stream_space(npu, space, frames)
    src, dst = frames.take(48), frames.take(48)
    await map_scattered(npu, space, SRC_VA, src, RO)
    await map_scattered(npu, space, DST_VA, dst, RW)
    for i in range(48):
        assert space.iova_to_phys(SRC_VA + i * PAGE + 42) == src[i] + 42
    data = pattern(48 * PAGE, 2)
    await write_virtual(soc, src, data)
    await write_virtual(soc, dst, bytes(48 * PAGE))

    size = 47 * PAGE - 11
    result = await run(soc, npu, space, stream, commands.copy(SRC_VA + 3, DST_VA + 8, size))
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    want = bytes(8) + data[3 : 3 + size] + bytes(48 * PAGE - 8 - size)
    assert await read_virtual(soc, dst) == want

    # 2-D: 40 rows of 300 bytes, one page apart in the source, 301 bytes apart in the target.
    await write_virtual(soc, dst, bytes(48 * PAGE))
    rows = commands.copy(SRC_VA + 4000, DST_VA + 1, 300, rows=40, src_pitch=PAGE, dst_pitch=301)
    result = await run(soc, npu, space, stream, rows)
    assert result.ok, result
    want = bytearray(48 * PAGE)
    for r in range(40):
        start = 4000 + r * PAGE
        want[1 + r * 301 : 1 + r * 301 + 300] = data[start : start + 300]
    assert await read_virtual(soc, dst) == bytes(want)


@cocotb.test()
async def two_address_spaces(dut):
    """The same stream at the same virtual addresses, in two address spaces, moves each
    space's own frames and nothing of the other's."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=3)
    spaces = [await npu.mmu.create(), await npu.mmu.create()]
    assert [s.asid for s in spaces] == [0, 1]
    layout = []
    for n, space in enumerate(spaces):
        stream = await stream_space(npu, space, frames)
        src, dst = frames.take(3), frames.take(3)
        await map_scattered(npu, space, SRC_VA, src, RO)
        await map_scattered(npu, space, DST_VA, dst, RW)
        await write_virtual(soc, src, pattern(3 * PAGE, 10 + n))
        await write_virtual(soc, dst, bytes(3 * PAGE))
        layout.append((stream, src, dst))
    copy = commands.copy(SRC_VA + 100, DST_VA + 7, 2 * PAGE + 5)
    for n, space in enumerate(spaces):
        result = await run(soc, npu, space, layout[n][0], copy)
        assert result.ok, result
        src_data = pattern(3 * PAGE, 10 + n)
        want = bytes(7) + src_data[100 : 100 + 2 * PAGE + 5]
        want += bytes(3 * PAGE - len(want))
        assert await read_virtual(soc, layout[n][2]) == want, n
        if n == 0:  # the other space's destination is still untouched
            assert await read_virtual(soc, layout[1][2]) == bytes(3 * PAGE)


async def expect_fault(soc, npu, space, stream, cmds, offset, fault):
    """Run ``cmds``: a FAULT completion at ``offset`` carrying exactly ``fault``.

    The record's count may be 1: the DMA engine's other side (reads or writes) may have a
    translation request raised when the fault stops the address space, which is then refused
    and counted.
    """
    before = len(npu.mmu.faults)
    result = await run(soc, npu, space, stream, *cmds)
    assert (result.status, result.error, result.offset) == (FAULT, ErrorCode.PAGE_FAULT, offset), (
        result
    )
    assert result.fault.count in (0, 1), result.fault
    assert dataclasses.replace(result.fault, count=0) == fault, (result.fault, fault)
    assert npu.mmu.faults[before:] == [result.fault]
    assert await soc.mmio_read(HOST.mmu_fault_pending.offset) == 0


async def rewrite(soc, npu, space, va, **fields):
    """Replace fields of the descriptor that maps ``va`` in memory, behind the driver's back,
    and forget the TLB's copy."""
    _, address, value = space.table.locate(va)
    descriptor = unpack(Descriptor, value.to_bytes(8, "little"))
    values = {name: getattr(descriptor, name) for name in ("valid", "table", "af", "ap_ro", "xn")}
    values |= {"address": descriptor.address, "sh": descriptor.sh} | fields
    await soc.mem_write(address, pack(Descriptor, values))
    await npu.mmu.invalidate(space.asid)


@cocotb.test()
async def fault_kinds(dut):
    """Every fault kind, with its exact record; each followed by good jobs in the same and in
    another address space."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=5)
    space, other = await npu.mmu.create(), await npu.mmu.create()
    stream = await stream_space(npu, space, frames)
    other_stream = await stream_space(npu, other, frames)
    src, dst = frames.take(2), frames.take(2)
    await map_scattered(npu, space, SRC_VA, src, RO)
    await map_scattered(npu, space, DST_VA, dst, RW)
    nop = commands.nop()
    asid = space.asid

    def fault(address, kind, access, level):
        return Fault(asid, address, kind, access, level, 0)

    cases = [
        # Level 1: nothing in the 1 GiB region at 0x20_0000_0000.
        (
            (nop, commands.copy(0x20_0000_0000, DST_VA, 64)),
            8,
            fault(0x20_0000_0000, FaultKind.TRANSLATION, READ, 1),
        ),
        # Level 2: the source's 1 GiB region has a table, its 2 MiB region 0x12_3480_0000 none.
        (
            (commands.copy(SRC_VA, 0x12_3480_0000, 64),),
            0,
            fault(0x12_3480_0000, FaultKind.TRANSLATION, WRITE, 2),
        ),
        # Level 3: the page after the two source pages. The copy starts in a mapped page.
        (
            (commands.copy(SRC_VA + PAGE, DST_VA, 2 * PAGE),),
            0,
            fault(SRC_VA + 2 * PAGE, FaultKind.TRANSLATION, READ, 3),
        ),
        # Level 0: an input address of 40 bits.
        (
            (commands.fill(0x80_0000_0000, 64, 0x55),),
            0,
            fault(0x80_0000_0000, FaultKind.TRANSLATION, WRITE, 0),
        ),
        # Permission: a write to the read-only source.
        (
            (nop, nop, commands.write_value(SRC_VA + 8, 1)),
            16,
            fault(SRC_VA + 8, FaultKind.PERMISSION, WRITE, 3),
        ),
    ]
    for cmds, offset, want in cases:
        await expect_fault(soc, npu, space, stream, cmds, offset, want)
        await good_copy(soc, npu, space, stream, frames, seed=len(npu.mmu.faults))
        await good_copy(soc, npu, other, other_stream, frames, seed=100 + len(npu.mmu.faults))

    # Permission: a command fetch from an execute-never page (it is still readable as data).
    xn_frame = frames.take(1)[0]
    await npu.mmu.map(space, STREAM_VA + PAGE, xn_frame, PAGE, RW | Prot.NOEXEC)
    data = commands.stream(nop)
    await soc.mem_write(xn_frame, data)
    seqno = await npu.submit(STREAM_VA + PAGE, len(data), asid=asid)
    result = await npu.wait(seqno, timeout_ns=TIMEOUT_NS)
    assert (result.status, result.error, result.offset) == (FAULT, ErrorCode.PAGE_FAULT, 0)
    assert result.fault == fault(STREAM_VA + PAGE, FaultKind.PERMISSION, FETCH, 3)
    result = await run(soc, npu, space, stream, commands.copy(STREAM_VA + PAGE, DST_VA, 8))
    assert result.ok, result

    # Access flag, output address size: descriptors the driver never writes, crafted here.
    await rewrite(soc, npu, space, SRC_VA, af=0)
    await expect_fault(
        soc,
        npu,
        space,
        stream,
        (commands.copy(SRC_VA, DST_VA, 64),),
        0,
        fault(SRC_VA, FaultKind.ACCESS_FLAG, READ, 3),
    )
    beyond = src[0] | 1 << OUTPUT_ADDR_WIDTH  # an output address of 41 bits
    await rewrite(soc, npu, space, SRC_VA, af=1, address=beyond // PAGE)
    await expect_fault(
        soc,
        npu,
        space,
        stream,
        (commands.copy(SRC_VA, DST_VA, 64),),
        0,
        fault(SRC_VA, FaultKind.ADDRESS_SIZE, READ, 3),
    )
    await rewrite(soc, npu, space, SRC_VA, address=src[0] // PAGE)
    await good_copy(soc, npu, space, stream, frames, seed=7)

    # A bus error reading the level-3 descriptor of the destination.
    level, address, _ = space.table.locate(DST_VA)
    assert level == 3
    await npu.mmu.invalidate(asid)
    soc.memory.inject_error(address, 8, write=False)
    await expect_fault(
        soc,
        npu,
        space,
        stream,
        (commands.fill(DST_VA, 16, 1),),
        0,
        fault(DST_VA, FaultKind.BUS_ERROR, WRITE, 3),
    )
    soc.memory.clear_errors()
    await good_copy(soc, npu, space, stream, frames, seed=8)

    # A disabled address space: every access faults at level 0, the stream fetch first.
    bank = HOST.bank("aspace", asid)
    await soc.mmio_write(bank.control.offset, bank.control.encode(enable=0))
    await expect_fault(
        soc, npu, space, stream, (nop,), 0, fault(STREAM_VA, FaultKind.DISABLED, FETCH, 0)
    )
    await soc.mmio_write(bank.control.offset, bank.control.encode(enable=1))
    await good_copy(soc, npu, space, stream, frames, seed=9)
    await good_copy(soc, npu, other, other_stream, frames, seed=10)
    assert [f.asid for f in npu.mmu.faults] == [asid] * 10


@cocotb.test()
async def stopped_address_space(dut):
    """A fault stops its address space: a fault racing it is counted, the space's next job does
    not run (AS_STOPPED) while another space's job does, and the acknowledge restarts it."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=11)
    space, other = await npu.mmu.create(), await npu.mmu.create()
    stream = await stream_space(npu, space, frames)
    other_stream = await stream_space(npu, other, frames)
    second_stream = frames.take(1)[0]
    await npu.mmu.map(space, STREAM_VA + PAGE, second_stream, PAGE, RW)
    fence = frames.take(1)[0]
    await npu.mmu.map(space, DST_VA, fence, PAGE, RW)
    await npu.mmu.map(other, DST_VA, fence, PAGE, RW)
    await soc.mem_write(fence, bytes(16))

    # Both the source and the destination are unmapped: the reader and the writer fault
    # together; one is recorded, the other counted.
    bad = commands.stream(commands.copy(0x30_0000_0000, 0x31_0000_0000, 64))
    await soc.mem_write(stream, bad)
    later = commands.stream(commands.write_value(DST_VA, 1))
    await soc.mem_write(second_stream, later)
    fine = commands.stream(commands.write_value(DST_VA + 8, 2))
    await soc.mem_write(other_stream, fine)
    first = await npu.submit(STREAM_VA, len(bad), asid=space.asid)
    stopped = await npu.submit(STREAM_VA + PAGE, len(later), asid=space.asid)
    elsewhere = await npu.submit(STREAM_VA, len(fine), asid=other.asid)
    await soc.sleep_ns(100_000)  # all three end before the driver looks at any interrupt
    results = [await npu.wait(s, timeout_ns=TIMEOUT_NS) for s in (first, stopped, elsewhere)]
    assert [(r.status, r.error) for r in results] == [
        (FAULT, ErrorCode.PAGE_FAULT),
        (FAULT, ErrorCode.AS_STOPPED),
        (OK, ErrorCode.NONE),
    ]
    (record,) = npu.mmu.faults
    assert (record.asid, record.kind, record.level, record.count) == (
        space.asid,
        FaultKind.TRANSLATION,
        1,
        1,
    )
    assert (record.address, record.access) in ((0x30_0000_0000, READ), (0x31_0000_0000, WRITE))
    assert await soc.mem_read(fence, 16) == bytes(8) + (2).to_bytes(8, "little")
    # Acknowledged by the handler: the space runs again.
    result = await run(soc, npu, space, stream, commands.write_value(DST_VA, 3))
    assert result.ok, result
    assert await soc.mem_read(fence, 8) == (3).to_bytes(8, "little")


@cocotb.test()
async def stale_tlb(dut):
    """An unmap without invalidation leaves the TLB's copy working, and the driver refuses to
    free the tables; after the invalidation the access faults."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=13)
    space = await npu.mmu.create()
    stream = await stream_space(npu, space, frames)
    src, dst = frames.take(2), frames.take(1)
    await map_scattered(npu, space, SRC_VA, src, RO)
    await npu.mmu.map(space, DST_VA, dst[0], PAGE, RW)
    await soc.mem_write(src[1], pattern(64, 14))
    copy = commands.copy(SRC_VA + PAGE, DST_VA, 64)
    assert (await run(soc, npu, space, stream, copy)).ok

    unmapped, gather = await space.table.unmap_pages(SRC_VA + PAGE, PAGE)
    assert unmapped == PAGE and space.iova_to_phys(SRC_VA + PAGE) is None
    try:
        space.table.release(gather)
    except RuntimeError as error:
        assert "before the TLB invalidation" in str(error)
    else:
        raise AssertionError("tables released before the invalidation")
    await soc.mem_write(dst[0], bytes(64))
    assert (await run(soc, npu, space, stream, copy)).ok  # the stale entry still translates
    assert await soc.mem_read(dst[0], 64) == pattern(64, 14)

    count = HOST.tlb_inv_status.count.get(await soc.mmio_read(HOST.tlb_inv_status.offset))
    await npu.mmu.sync(space, gather)
    status = HOST.tlb_inv_status.decode(await soc.mmio_read(HOST.tlb_inv_status.offset))
    assert status == {"busy": 0, "count": count + 1}
    space.table.release(gather)
    await expect_fault(
        soc,
        npu,
        space,
        stream,
        (copy,),
        0,
        Fault(space.asid, SRC_VA + PAGE, FaultKind.TRANSLATION, READ, 3, 0),
    )
    # The other source page, in the same table, still translates.
    assert (await run(soc, npu, space, stream, commands.copy(SRC_VA, DST_VA, 64))).ok


@cocotb.test()
async def block_split_and_last_page(dut):
    """A 2 MiB block maps; unmapping one page of it splits it, the walker follows the new
    table; the last page of the address space maps."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=15)
    space = await npu.mmu.create()
    stream = await stream_space(npu, space, frames)
    block = npu.memory.alloc(2 * MiB, align=2 * MiB)
    dst = frames.take(1)[0]
    await npu.mmu.map(space, BLOCK_VA, block, 2 * MiB, RO)
    await npu.mmu.map(space, DST_VA, dst, PAGE, RW)
    assert space.table.locate(BLOCK_VA + 5 * PAGE)[0] == 2
    data = pattern(2 * MiB, 16)
    await soc.mem_write(block, data)
    copy = commands.copy(BLOCK_VA + 5 * PAGE - 32, DST_VA, 64)
    assert (await run(soc, npu, space, stream, copy)).ok
    assert await soc.mem_read(dst, 64) == data[5 * PAGE - 32 : 5 * PAGE + 32]

    assert await npu.mmu.unmap(space, BLOCK_VA + 5 * PAGE, PAGE) == PAGE
    assert space.table.locate(BLOCK_VA + 4 * PAGE)[0] == 3
    await expect_fault(
        soc,
        npu,
        space,
        stream,
        (copy,),
        0,
        Fault(space.asid, BLOCK_VA + 5 * PAGE, FaultKind.TRANSLATION, READ, 3, 0),
    )
    copy = commands.copy(BLOCK_VA + 4 * PAGE + 7, DST_VA, 100)
    assert (await run(soc, npu, space, stream, copy)).ok
    assert await soc.mem_read(dst, 100) == data[4 * PAGE + 7 : 4 * PAGE + 107]

    last = (1 << 39) - PAGE
    await npu.mmu.map(space, last, dst, PAGE, RW)
    result = await run(soc, npu, space, stream, commands.fill(last + PAGE - 16, 16, 0xA1B2C3D4))
    assert result.ok, result
    assert await soc.mem_read(dst + PAGE - 16, 16) == bytes.fromhex("d4c3b2a1") * 4


@cocotb.test()
async def address_space_lifecycle(dut):
    """Address spaces run out (EBUSY), come back on destroy, and survive a device reset."""
    soc, npu = await bring_up(dut)
    frames = Frames(seed=17)
    spaces = [await npu.mmu.create() for _ in range(npu.info.addr_spaces)]
    assert [s.asid for s in spaces] == list(range(npu.info.addr_spaces))
    try:
        await npu.mmu.create()
    except DeviceError as error:
        assert error.errno == errno.EBUSY, error
    else:
        raise AssertionError("more address spaces than the hardware has")
    tables = npu.memory.free_bytes
    await npu.mmu.destroy(spaces[1])
    assert npu.memory.free_bytes == tables + PAGE  # its level-1 table
    bank = HOST.bank("aspace", 1)
    assert await soc.mmio_read(bank.control.offset) == 0
    again = await npu.mmu.create()
    assert again.asid == 1

    stream = await stream_space(npu, again, frames)
    await npu.reset()
    ttbr = await soc.mmio_read(bank.ttbr_lo.offset), await soc.mmio_read(bank.ttbr_hi.offset)
    assert join_address(bank.ttbr_lo, bank.ttbr_hi, *ttbr) == again.table.root
    await good_copy(soc, npu, again, stream, frames, seed=18)
