"""The MMU on the RTL: jobs through page tables the driver wrote, every fault kind, the TLB.

Expected bytes are slices of Python byte strings placed frame by frame; fault records are
literals (addresses, kinds, levels), not values derived from the driver's tables.
"""

import dataclasses
import errno
import random

import cocotb
from job_tb import bring_up as start_rig
from job_tb import raises, serve, start_backend
from tinynpu.driver.mmu import Fault
from tinynpu.driver.pgtable import Prot
from tinynpu.rtl.layouts import Access, CompletionStatus, ErrorCode, FaultKind, pack, unpack
from tinynpu.rtl.pte import OUTPUT_ADDR_WIDTH, Descriptor
from tinynpu.rtl.regmap import HOST, join_address
from tinynpu.runtime import commands
from tinynpu.sim.system import KernelContext

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB
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
    """A started driver (jobs complete on its interrupt task); the SoC and the ``Rig``."""
    return await start_rig(dut, pool=POOL, flat=False)


async def contexts(rig, count):
    """``count`` new kernel contexts, each with its own address space."""
    return [await KernelContext.create(rig.device) for _ in range(count)]


async def map_scattered(ctx, va, frames, prot=RW):
    """Map consecutive pages from ``va`` to ``frames``, one page each."""
    for i, frame in enumerate(frames):
        await ctx.map(va + i * PAGE, frame, PAGE, prot)


async def write_virtual(soc, frames, data, offset=0):
    """Write ``data`` at byte ``offset`` of the virtual range backed by ``frames``."""
    for i, frame in enumerate(frames):
        lo, hi = max(offset, i * PAGE), min(offset + len(data), (i + 1) * PAGE)
        if lo < hi:
            await soc.mem_write(frame + lo - i * PAGE, data[lo - offset : hi - offset])


async def read_virtual(soc, frames):
    return b"".join([await soc.mem_read(frame, PAGE) for frame in frames])


async def stream_space(ctx, frames, prot=RW):
    """Map one page at STREAM_VA for command streams; return its frame."""
    (frame,) = frames.take(1)
    await ctx.map(STREAM_VA, frame, PAGE, prot)
    return frame


async def run(rig, ctx, stream_frame, *cmds, va=STREAM_VA):
    """Write a stream into the stream page (mapped at ``va``), run it in ``ctx``; the result."""
    data = commands.stream(*cmds)
    await rig.soc.mem_write(stream_frame, data)
    return await rig.result(await rig.submit(va, len(data), context=ctx), context=ctx)


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


async def good_copy(rig, ctx, stream_frame, frames, seed):
    """A small COPY inside ``ctx`` works: the device and the address space are usable."""
    soc = rig.soc
    src, dst = frames.take(1)[0], frames.take(1)[0]
    await ctx.map(0x1000_0000, src, PAGE, RO)
    await ctx.map(0x1000_1000, dst, PAGE, RW)
    data = pattern(100, seed)
    await soc.mem_write(src, data)
    result = await run(rig, ctx, stream_frame, commands.copy(0x1000_0000, 0x1000_1005, 100))
    assert (result.errno, result.status, result.error) == (0, OK, ErrorCode.NONE), result
    assert await soc.mem_read(dst + 5, 100) == data
    await ctx.unmap(0x1000_0000, 2 * PAGE)


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def scattered_pages(dut):
    """COPYs over 48 pages mapped to shuffled frames are bit-exact; the walker agrees with
    iova_to_phys; a 2-D copy crosses pages in both directions."""
    soc, rig = await bring_up(dut)
    frames = Frames(seed=1)
    (ctx,) = await contexts(rig, 1)
    stream = await stream_space(ctx, frames)
    src, dst = frames.take(48), frames.take(48)
    await map_scattered(ctx, SRC_VA, src, RO)
    await map_scattered(ctx, DST_VA, dst, RW)
    for i in range(48):
        assert ctx.space.iova_to_phys(SRC_VA + i * PAGE + 42) == src[i] + 42
    data = pattern(48 * PAGE, 2)
    await write_virtual(soc, src, data)
    await write_virtual(soc, dst, bytes(48 * PAGE))

    size = 47 * PAGE - 11
    result = await run(rig, ctx, stream, commands.copy(SRC_VA + 3, DST_VA + 8, size))
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    want = bytes(8) + data[3 : 3 + size] + bytes(48 * PAGE - 8 - size)
    assert await read_virtual(soc, dst) == want

    # 2-D: 40 rows of 300 bytes, one page apart in the source, 301 bytes apart in the target.
    await write_virtual(soc, dst, bytes(48 * PAGE))
    rows = commands.copy(SRC_VA + 4000, DST_VA + 1, 300, rows=40, src_pitch=PAGE, dst_pitch=301)
    result = await run(rig, ctx, stream, rows)
    assert result.ok, result
    want = bytearray(48 * PAGE)
    for r in range(40):
        start = 4000 + r * PAGE
        want[1 + r * 301 : 1 + r * 301 + 300] = data[start : start + 300]
    assert await read_virtual(soc, dst) == bytes(want)
    await rig.ledger.finish(spaces=1)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def two_address_spaces(dut):
    """The same stream at the same virtual addresses, in two address spaces, moves each
    space's own frames and nothing of the other's."""
    soc, rig = await bring_up(dut)
    frames = Frames(seed=3)
    ctxs = await contexts(rig, 2)
    assert [c.space.asid for c in ctxs] == [0, 1]
    layout = []
    for n, ctx in enumerate(ctxs):
        stream = await stream_space(ctx, frames)
        src, dst = frames.take(3), frames.take(3)
        await map_scattered(ctx, SRC_VA, src, RO)
        await map_scattered(ctx, DST_VA, dst, RW)
        await write_virtual(soc, src, pattern(3 * PAGE, 10 + n))
        await write_virtual(soc, dst, bytes(3 * PAGE))
        layout.append((stream, src, dst))
    copy = commands.copy(SRC_VA + 100, DST_VA + 7, 2 * PAGE + 5)
    for n, ctx in enumerate(ctxs):
        result = await run(rig, ctx, layout[n][0], copy)
        assert result.ok, result
        src_data = pattern(3 * PAGE, 10 + n)
        want = bytes(7) + src_data[100 : 100 + 2 * PAGE + 5]
        want += bytes(3 * PAGE - len(want))
        assert await read_virtual(soc, layout[n][2]) == want, n
        if n == 0:  # the other space's destination is still untouched
            assert await read_virtual(soc, layout[1][2]) == bytes(3 * PAGE)
    await rig.ledger.finish(spaces=2)


async def expect_fault(rig, ctx, stream, cmds, offset, fault, code=errno.EFAULT):
    """Run ``cmds``: ``code`` (EFAULT; EIO for a fault the driver's tables do not explain), a
    FAULT completion at ``offset`` carrying exactly ``fault``, and the address space restarted.

    The record's count may be 1: the DMA engine's other side (reads or writes) may have a
    translation request raised when the fault stops the address space, which is then refused
    and counted.
    """
    faults = rig.backend.mmu.faults
    before = len(faults)
    result = await run(rig, ctx, stream, *cmds)
    assert (result.errno, result.status, result.error, result.offset) == (
        code,
        FAULT,
        ErrorCode.PAGE_FAULT,
        offset,
    ), result
    assert result.fault.count in (0, 1), result.fault
    assert dataclasses.replace(result.fault, count=0) == fault, (result.fault, fault)
    assert faults[before:] == [result.fault]
    assert await rig.soc.mmio_read(HOST.mmu_fault_pending.offset) == 0


async def invalidate(rig, asid):
    """Invalidate the TLB's entries of ``asid`` (between the driver's own register sequences)."""
    async with rig.device.sched.lock:
        await rig.backend.mmu.invalidate(asid)


async def rewrite(rig, space, va, **fields):
    """Replace fields of the descriptor that maps ``va`` in memory, behind the driver's back,
    and forget the TLB's copy."""
    _, address, value = space.table.locate(va)
    descriptor = unpack(Descriptor, value.to_bytes(8, "little"))
    values = {name: getattr(descriptor, name) for name in ("valid", "table", "af", "ap_ro", "xn")}
    values |= {"address": descriptor.address, "sh": descriptor.sh} | fields
    await rig.soc.mem_write(address, pack(Descriptor, values))
    await invalidate(rig, space.asid)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def fault_kinds(dut):
    """Every fault kind, with its exact record; each followed by good jobs in the same and in
    another address space."""
    soc, rig = await bring_up(dut)
    frames = Frames(seed=5)
    ctx, other = await contexts(rig, 2)
    space, faults = ctx.space, rig.backend.mmu.faults
    stream = await stream_space(ctx, frames)
    other_stream = await stream_space(other, frames)
    src, dst = frames.take(2), frames.take(2)
    await map_scattered(ctx, SRC_VA, src, RO)
    await map_scattered(ctx, DST_VA, dst, RW)
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
        await expect_fault(rig, ctx, stream, cmds, offset, want)
        await good_copy(rig, ctx, stream, frames, seed=len(faults))
        await good_copy(rig, other, other_stream, frames, seed=100 + len(faults))

    # Permission: a command fetch from an execute-never page (it is still readable as data).
    xn_frame = frames.take(1)[0]
    await ctx.map(STREAM_VA + PAGE, xn_frame, PAGE, RW | Prot.NOEXEC)
    result = await run(rig, ctx, xn_frame, nop, va=STREAM_VA + PAGE)
    assert (result.status, result.error, result.offset) == (FAULT, ErrorCode.PAGE_FAULT, 0)
    assert result.fault == fault(STREAM_VA + PAGE, FaultKind.PERMISSION, FETCH, 3)
    result = await run(rig, ctx, stream, commands.copy(STREAM_VA + PAGE, DST_VA, 8))
    assert result.ok, result

    # Access flag, output address size: descriptors the driver never writes, crafted here. The
    # driver's tables allow the access: EIO, and it writes its own descriptor back.
    copy = (commands.copy(SRC_VA, DST_VA, 64),)
    _, src_descriptor, written = space.table.locate(SRC_VA)
    await rewrite(rig, space, SRC_VA, af=0)
    want = fault(SRC_VA, FaultKind.ACCESS_FLAG, READ, 3)
    await expect_fault(rig, ctx, stream, copy, 0, want, errno.EIO)
    assert await soc.mem_read(src_descriptor, 8) == written.to_bytes(8, "little")
    beyond = src[0] | 1 << OUTPUT_ADDR_WIDTH  # an output address of 41 bits
    await rewrite(rig, space, SRC_VA, address=beyond // PAGE)
    want = fault(SRC_VA, FaultKind.ADDRESS_SIZE, READ, 3)
    await expect_fault(rig, ctx, stream, copy, 0, want, errno.EIO)
    assert await soc.mem_read(src_descriptor, 8) == written.to_bytes(8, "little")
    await good_copy(rig, ctx, stream, frames, seed=7)

    # A bus error reading the level-3 descriptor of the destination.
    level, address, _ = space.table.locate(DST_VA)
    assert level == 3
    await invalidate(rig, asid)
    soc.memory.inject_error(address, 8, write=False)
    await expect_fault(
        rig,
        ctx,
        stream,
        (commands.fill(DST_VA, 16, 1),),
        0,
        fault(DST_VA, FaultKind.BUS_ERROR, WRITE, 3),
        errno.EIO,  # the walk's bus error, not the job's
    )
    soc.memory.clear_errors()
    await good_copy(rig, ctx, stream, frames, seed=8)

    # A disabled address space: every access faults at level 0, the stream fetch first.
    bank = HOST.bank("aspace", asid)
    await soc.mmio_write(bank.control.offset, bank.control.encode(enable=0))
    # Disabled behind the driver's back, its tables allowing the fetch: the hardware's fault, EIO.
    want = fault(STREAM_VA, FaultKind.DISABLED, FETCH, 0)
    await expect_fault(rig, ctx, stream, (nop,), 0, want, errno.EIO)
    await soc.mmio_write(bank.control.offset, bank.control.encode(enable=1))
    await good_copy(rig, ctx, stream, frames, seed=9)
    await good_copy(rig, other, other_stream, frames, seed=10)
    assert [f.asid for f in faults] == [asid] * 10
    await rig.ledger.finish(spaces=2)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def stopped_address_space(dut):
    """A fault stops its address space: a fault racing it is counted, the space's next job does
    not run (AS_STOPPED: retried) while another space's job does, and the space stays stopped
    until the core resumes it.

    On the backend alone: the jobs all end before the test serves the interrupt as the core's
    interrupt task does, which the scheduler would not wait for.
    """
    soc, backend = await start_backend(dut, pool=POOL)
    frames = Frames(seed=11)
    space, other = await backend.create_space(), await backend.create_space()
    stream, other_stream, second_stream, fence = frames.take(4)
    await backend.map(space, STREAM_VA, stream, PAGE, RW)
    await backend.map(space, STREAM_VA + PAGE, second_stream, PAGE, RW)
    await backend.map(other, STREAM_VA, other_stream, PAGE, RW)
    await backend.map(space, DST_VA, fence, PAGE, RW)
    await backend.map(other, DST_VA, fence, PAGE, RW)
    await soc.mem_write(fence, bytes(16))

    # Both the source and the destination are unmapped: the reader and the writer fault
    # together; one is recorded, the other counted.
    bad = commands.stream(commands.copy(0x30_0000_0000, 0x31_0000_0000, 64))
    await soc.mem_write(stream, bad)
    later = commands.stream(commands.write_value(DST_VA, 1))
    await soc.mem_write(second_stream, later)
    fine = commands.stream(commands.write_value(DST_VA + 8, 2))
    await soc.mem_write(other_stream, fine)
    handles = [
        await backend.run_job(space, STREAM_VA, len(bad)),
        await backend.run_job(space, STREAM_VA + PAGE, len(later)),
        await backend.run_job(other, STREAM_VA, len(fine)),
    ]
    await soc.sleep_ns(100_000)  # all three end before the driver looks at any interrupt
    done, faulted = await serve(soc, backend, 3)
    assert [handle for handle, _ in done] == handles and faulted == [space]
    (record,) = backend.mmu.faults
    assert [(o.error, o.retry, o.hw_status, o.hw_error, o.fault_va) for _, o in done] == [
        (errno.EFAULT, False, FAULT.value, ErrorCode.PAGE_FAULT.value, record.address),
        (0, True, FAULT.value, ErrorCode.AS_STOPPED.value, 0),
        (0, False, OK.value, ErrorCode.NONE.value, 0),
    ]
    assert (record.asid, record.kind, record.level, record.count) == (
        space.asid,
        FaultKind.TRANSLATION,
        1,
        1,
    )
    assert (record.address, record.access) in ((0x30_0000_0000, READ), (0x31_0000_0000, WRITE))
    assert await soc.mem_read(fence, 16) == bytes(8) + (2).to_bytes(8, "little")
    # Held until the core resumes the space, then it runs again.
    assert await soc.mmio_read(HOST.mmu_fault_pending.offset) == 1 << space.asid
    await backend.resume_space(space)
    assert await soc.mmio_read(HOST.mmu_fault_pending.offset) == 0
    again = commands.stream(commands.write_value(DST_VA, 3))
    await soc.mem_write(stream, again)
    handle = await backend.run_job(space, STREAM_VA, len(again))
    ((last, outcome),), _ = await serve(soc, backend, 1)
    assert (last, outcome.error, outcome.hw_status) == (handle, 0, OK.value), outcome
    assert await soc.mem_read(fence, 8) == (3).to_bytes(8, "little")


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def stale_tlb(dut):
    """An unmap without invalidation leaves the TLB's copy working, and the driver refuses to
    free the tables; after the invalidation the access faults."""
    soc, rig = await bring_up(dut)
    frames = Frames(seed=13)
    (ctx,) = await contexts(rig, 1)
    space = ctx.space
    stream = await stream_space(ctx, frames)
    src, dst = frames.take(2), frames.take(1)
    await map_scattered(ctx, SRC_VA, src, RO)
    await ctx.map(DST_VA, dst[0], PAGE, RW)
    await soc.mem_write(src[1], pattern(64, 14))
    copy = commands.copy(SRC_VA + PAGE, DST_VA, 64)
    assert (await run(rig, ctx, stream, copy)).ok

    unmapped, gather = await space.table.unmap_pages(SRC_VA + PAGE, PAGE)
    assert unmapped == PAGE and space.iova_to_phys(SRC_VA + PAGE) is None
    try:
        space.table.release(gather)
    except RuntimeError as error:
        assert "before the TLB invalidation" in str(error)
    else:
        raise AssertionError("tables released before the invalidation")
    await soc.mem_write(dst[0], bytes(64))
    assert (await run(rig, ctx, stream, copy)).ok  # the stale entry still translates
    assert await soc.mem_read(dst[0], 64) == pattern(64, 14)

    count = HOST.tlb_inv_status.count.get(await soc.mmio_read(HOST.tlb_inv_status.offset))
    async with rig.device.sched.lock:
        await rig.backend.mmu.sync(space, gather)
    status = HOST.tlb_inv_status.decode(await soc.mmio_read(HOST.tlb_inv_status.offset))
    assert status == {"busy": 0, "count": count + 1}
    space.table.release(gather)
    await expect_fault(
        rig,
        ctx,
        stream,
        (copy,),
        0,
        Fault(space.asid, SRC_VA + PAGE, FaultKind.TRANSLATION, READ, 3, 0),
    )
    # The other source page, in the same table, still translates.
    assert (await run(rig, ctx, stream, commands.copy(SRC_VA, DST_VA, 64))).ok
    await rig.ledger.finish(spaces=1)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def block_split_and_last_page(dut):
    """A 2 MiB block maps; unmapping one page of it splits it, the walker follows the new
    table; the last page of the address space maps."""
    soc, rig = await bring_up(dut)
    frames = Frames(seed=15)
    (ctx,) = await contexts(rig, 1)
    space = ctx.space
    stream = await stream_space(ctx, frames)
    block = rig.memory.alloc(2 * MiB, align=2 * MiB)
    dst = frames.take(1)[0]
    await ctx.map(BLOCK_VA, block, 2 * MiB, RO)
    await ctx.map(DST_VA, dst, PAGE, RW)
    assert space.table.locate(BLOCK_VA + 5 * PAGE)[0] == 2
    data = pattern(2 * MiB, 16)
    await soc.mem_write(block, data)
    copy = commands.copy(BLOCK_VA + 5 * PAGE - 32, DST_VA, 64)
    assert (await run(rig, ctx, stream, copy)).ok
    assert await soc.mem_read(dst, 64) == data[5 * PAGE - 32 : 5 * PAGE + 32]

    async with rig.device.sched.lock:
        assert await rig.backend.mmu.unmap(space, BLOCK_VA + 5 * PAGE, PAGE) == PAGE
    assert space.table.locate(BLOCK_VA + 4 * PAGE)[0] == 3
    await expect_fault(
        rig,
        ctx,
        stream,
        (copy,),
        0,
        Fault(space.asid, BLOCK_VA + 5 * PAGE, FaultKind.TRANSLATION, READ, 3, 0),
    )
    copy = commands.copy(BLOCK_VA + 4 * PAGE + 7, DST_VA, 100)
    assert (await run(rig, ctx, stream, copy)).ok
    assert await soc.mem_read(dst, 100) == data[4 * PAGE + 7 : 4 * PAGE + 107]

    last = rig.backend.limits["va_end"] - PAGE
    assert last == (1 << 39) - PAGE
    await ctx.map(last, dst, PAGE, RW)
    result = await run(rig, ctx, stream, commands.fill(last + PAGE - 16, 16, 0xA1B2C3D4))
    assert result.ok, result
    assert await soc.mem_read(dst + PAGE - 16, 16) == bytes.fromhex("d4c3b2a1") * 4
    await rig.ledger.finish(kept=2 * MiB, spaces=1)  # the block


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def address_space_lifecycle(dut):
    """Address spaces run out (EBUSY), come back on destroy, and survive a device reset."""
    soc, rig = await bring_up(dut)
    backend, frames = rig.backend, Frames(seed=17)
    count = backend.info.addr_spaces
    spaces = [await backend.create_space() for _ in range(count)]
    assert [s.asid for s in spaces] == list(range(count))
    with raises(errno.EBUSY, "an address space more than the hardware has"):
        await backend.create_space()
    tables = rig.memory.free_bytes
    await backend.destroy_space(spaces[1])
    assert rig.memory.free_bytes == tables + PAGE  # its level-1 table
    bank = HOST.bank("aspace", 1)
    assert await soc.mmio_read(bank.control.offset) == 0
    again = KernelContext(rig.device, await backend.create_space())
    assert again.space.asid == 1

    stream = await stream_space(again, frames)
    async with rig.device.sched.lock:
        await backend.reset()
    ttbr = await soc.mmio_read(bank.ttbr_lo.offset), await soc.mmio_read(bank.ttbr_hi.offset)
    assert join_address(bank.ttbr_lo, bank.ttbr_hi, *ttbr) == again.space.table.root
    await good_copy(rig, again, stream, frames, seed=18)
    await rig.ledger.finish(spaces=count)
