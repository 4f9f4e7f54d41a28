"""Conformance: VM_BIND (mapping rules, errnos, splits, rights, aliases, lifetimes, EBUSY)."""

import errno
import random

from conformance_suite import DATA_VA, PAGE, STREAM_VA, Stage, case, expect, run_job
from tinynpu.driver.uapi import Ioctl, VmBindFlags
from tinynpu.runtime import commands

#: Where the cases put their extra mappings (clear of STREAM_VA and DATA_VA).
X_VA, Y_VA, Z_VA = 0x100_0000, 0x200_0000, 0x300_0000
_U64 = 1 << 64


def _pattern(seed, size):
    return random.Random(seed).randbytes(size)


async def _bo(client, size, data=None):
    """A buffer of ``size`` bytes and its CPU mapping, holding ``data`` if given."""
    handle = await client.bo_create(size)
    cpu = await client.mmap(handle, size)
    if data is not None:
        await cpu.write(0, data)
    return handle, cpu


async def _job(stage, system, *cmds, extra=(), **kwargs):
    """Run ``cmds`` in ``stage``'s context, listing its buffers and ``extra`` ones."""
    handles = (stage.stream, stage.data, *extra)
    return await run_job(stage, system, *cmds, handles=handles, **kwargs)


def _ok(reply):
    assert reply["job_errno"] == 0, reply
    assert reply["hw_error"] == 0 and reply["fault_va"] == 0, reply


def _fault(reply, va):
    assert reply["job_errno"] == errno.EFAULT, reply
    assert reply["hw_error"] != 0, reply
    assert reply["fault_va"] == va, f"fault_va {reply['fault_va']:#x}, expected {va:#x}: {reply}"


async def _read_via_job(stage, system, va, length, extra=()):
    """COPY ``length`` bytes at ``va`` into the stage's data buffer; return them."""
    await stage.write(0, bytes(length))
    _ok(await _job(stage, system, commands.copy(va, DATA_VA, length), extra=extra))
    return await stage.read(0, length)


async def _still_works(stage, system):
    """The context still runs a COPY exactly."""
    data = _pattern(0x5EED, 256)
    await stage.write(0, data)
    await stage.write(PAGE, bytes(256))
    _ok(await _job(stage, system, commands.copy(DATA_VA, DATA_VA + PAGE, 256)))
    assert await stage.read(PAGE, 256) == data


async def _bind(client, flags, context, *, handle=0, bo_offset=0, va=0, size=0):
    await client.ioctl(
        Ioctl.VM_BIND,
        flags=flags,
        context=context,
        handle=handle,
        bo_offset=bo_offset,
        va=va,
        range=size,
    )


# --- alignment, sizes and ranges -------------------------------------------------------------


@case
async def vm_bind_unaligned_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    data = _pattern(1, 2 * PAGE)
    bo, _ = await _bo(client, 2 * PAGE, data)
    ctx = stage.context
    for va in (X_VA + 1, X_VA + 8, X_VA + PAGE // 2, X_VA + PAGE - 1):
        with expect(errno.EINVAL):
            await client.vm_map(ctx, bo, va, PAGE)
    for size in (1, PAGE - 1, PAGE + 1, PAGE + PAGE // 2, 2 * PAGE - 8):
        with expect(errno.EINVAL):
            await client.vm_map(ctx, bo, X_VA, size)
    for offset in (1, 8, PAGE // 2, PAGE + 8):
        with expect(errno.EINVAL):
            await client.vm_map(ctx, bo, X_VA, PAGE, bo_offset=offset)
    # Nothing of the refused binds was mapped: the device faults on the range...
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 64), extra=(bo,)), X_VA)
    # ... and the whole range can be mapped.
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, (bo,)) == data
    # An unaligned unmap is refused too, and leaves the mapping whole.
    for va, size in ((X_VA + 8, PAGE), (X_VA + PAGE // 2, PAGE), (X_VA, PAGE + 1), (X_VA, 8)):
        with expect(errno.EINVAL):
            await client.vm_unmap(ctx, va, size)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, (bo,)) == data
    await client.vm_unmap(ctx, X_VA, 2 * PAGE)
    await _still_works(stage, system)


@case
async def vm_bind_zero_size_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    bo, _ = await _bo(client, PAGE)
    with expect(errno.EINVAL):
        await client.vm_map(stage.context, bo, X_VA, 0)
    with expect(errno.EINVAL):
        await client.vm_map(stage.context, bo, X_VA, 0, bo_offset=PAGE)
    # An empty unmap, even of a mapped address, is refused and unmaps nothing.
    with expect(errno.EINVAL):
        await client.vm_unmap(stage.context, DATA_VA, 0)
    with expect(errno.EINVAL):
        await client.vm_unmap(stage.context, X_VA, 0)
    await _still_works(stage, system)
    # The page at X_VA is still free.
    await client.vm_map(stage.context, bo, X_VA, PAGE)
    _ok(await _job(stage, system, commands.write_value(X_VA, 0x1234), extra=(bo,)))


@case
async def vm_bind_outside_va_range_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    query = await client.query()
    start, end = query["va_start"], query["va_end"]
    assert query["page_size"] == PAGE
    assert 0 < start < STREAM_VA and end >= DATA_VA + 4 * PAGE
    assert start % PAGE == 0 and end % PAGE == 0
    bo, cpu = await _bo(client, 2 * PAGE)
    ctx = stage.context
    refused = [
        (0, PAGE),  # the NULL page
        (0, 2 * PAGE),  # starts at NULL, ends inside the range
        (start - PAGE, PAGE),
        (start - PAGE, 2 * PAGE),
        (end, PAGE),
        (end - PAGE, 2 * PAGE),  # straddles va_end
        (end + PAGE, PAGE),
        (1 << 63, PAGE),
        (_U64 - PAGE, PAGE),
        (_U64 - PAGE, 2 * PAGE),  # would wrap to 0 in 64 bits
    ]
    for va, size in refused:
        with expect(errno.EINVAL):
            await client.vm_map(ctx, bo, va, size)
        with expect(errno.EINVAL):
            await client.vm_unmap(ctx, va, size)
    with expect(errno.EINVAL):  # a size that wraps around from va_start
        await client.vm_map(ctx, bo, start, _U64 - PAGE)
    # The first and the last page of the range may be mapped, and jobs reach them.
    await client.vm_map(ctx, bo, start, PAGE)
    await client.vm_map(ctx, bo, end - PAGE, PAGE, bo_offset=PAGE)
    cmds = (
        commands.write_value(start, 0x0123_4567_89AB_CDEF),
        commands.write_value(end - 8, 0xFEDC_BA98_7654_3210),
    )
    _ok(await _job(stage, system, *cmds, extra=(bo,)))
    assert await cpu.read(0, 8) == (0x0123_4567_89AB_CDEF).to_bytes(8, "little")
    assert await cpu.read(2 * PAGE - 8, 8) == (0xFEDC_BA98_7654_3210).to_bytes(8, "little")
    assert await cpu.read(8, 2 * PAGE - 16) == bytes(2 * PAGE - 16)
    # The page below va_start was never mapped: a job touching it faults.
    _fault(await _job(stage, system, commands.copy(0, DATA_VA, 8)), 0)
    await _still_works(stage, system)


@case
async def vm_bind_past_bo_end_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    data = _pattern(2, 2 * PAGE)
    bo = await client.bo_create(2 * PAGE - 100)  # rounded up to 2 pages
    cpu = await client.mmap(bo, 2 * PAGE)
    await cpu.write(0, data)
    ctx = stage.context
    refused = [
        (0, 3 * PAGE),
        (PAGE, 2 * PAGE),
        (2 * PAGE, PAGE),
        (3 * PAGE, PAGE),
        (1 << 63, PAGE),
        (_U64 - PAGE, PAGE),
        (_U64 - PAGE, 2 * PAGE),  # would wrap to page 0 in 64 bits
    ]
    for offset, size in refused:
        with expect(errno.EINVAL):
            await client.vm_map(ctx, bo, X_VA, size, bo_offset=offset)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=(bo,)), X_VA)
    # The whole rounded-up buffer, and its second page alone, map.
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE)
    await client.vm_map(ctx, bo, Y_VA, PAGE, bo_offset=PAGE)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, (bo,)) == data
    assert await _read_via_job(stage, system, Y_VA, PAGE, (bo,)) == data[PAGE:]
    # Past the one-page mapping at Y_VA is nothing.
    _fault(
        await _job(stage, system, commands.copy(Y_VA, DATA_VA, PAGE + 8), extra=(bo,)), Y_VA + PAGE
    )
    await _still_works(stage, system)


# --- overlaps and unmaps ---------------------------------------------------------------------


@case
async def vm_bind_overlap_eexist(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    first_data, other_data = _pattern(3, 4 * PAGE), _pattern(4, 6 * PAGE)
    first, _ = await _bo(client, 4 * PAGE, first_data)
    other, _ = await _bo(client, 6 * PAGE, other_data)
    await client.vm_map(ctx, first, X_VA, 4 * PAGE)
    clashes = [
        (X_VA, 4 * PAGE),  # the same range
        (X_VA, PAGE),  # its first page
        (X_VA + PAGE, PAGE),  # a page inside
        (X_VA + 3 * PAGE, PAGE),  # its last page
        (X_VA - 2 * PAGE, 3 * PAGE),  # partial overlap at its start
        (X_VA + 3 * PAGE, 2 * PAGE),  # partial overlap at its end
        (X_VA - PAGE, 6 * PAGE),  # covering it
        (X_VA + PAGE, 2 * PAGE),  # inside it
    ]
    for va, size in clashes:
        with expect(errno.EEXIST):
            await client.vm_map(ctx, other, va, size)
        with expect(errno.EEXIST):  # the same buffer again is no different
            await client.vm_map(ctx, first, va, min(size, 4 * PAGE))
    # The mapping is unchanged, and the refused binds mapped nothing on either side.
    extra = (first, other)
    assert await _read_via_job(stage, system, X_VA, 4 * PAGE, extra) == first_data
    _fault(
        await _job(stage, system, commands.copy(X_VA - PAGE, DATA_VA, 8), extra=extra), X_VA - PAGE
    )
    _fault(
        await _job(stage, system, commands.copy(X_VA + 4 * PAGE, DATA_VA, 8), extra=extra),
        X_VA + 4 * PAGE,
    )
    # Mappings that only touch it are fine.
    await client.vm_map(ctx, other, X_VA - 2 * PAGE, 2 * PAGE)
    await client.vm_map(ctx, other, X_VA + 4 * PAGE, 2 * PAGE, bo_offset=4 * PAGE)
    got = await _read_via_job(stage, system, X_VA - 2 * PAGE, 4 * PAGE, extra)
    assert got == other_data[: 2 * PAGE] + first_data[: 2 * PAGE]
    got = await _read_via_job(stage, system, X_VA + 2 * PAGE, 4 * PAGE, extra)
    assert got == first_data[2 * PAGE :] + other_data[4 * PAGE :]
    # With both neighbours in place, a bind overlapping all three is still EEXIST.
    with expect(errno.EEXIST):
        await client.vm_map(ctx, other, X_VA - 3 * PAGE, 6 * PAGE)
    await _still_works(stage, system)


@case
async def vm_unmap_unmapped_enoent(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    bo, _ = await _bo(client, 2 * PAGE, _pattern(5, 2 * PAGE))
    with expect(errno.ENOENT):  # never mapped anything there
        await client.vm_unmap(ctx, X_VA, PAGE)
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE)
    with expect(errno.ENOENT):  # just below the mapping
        await client.vm_unmap(ctx, X_VA - 2 * PAGE, 2 * PAGE)
    with expect(errno.ENOENT):  # just past it
        await client.vm_unmap(ctx, X_VA + 2 * PAGE, PAGE)
    with expect(errno.ENOENT):  # far away
        await client.vm_unmap(ctx, Y_VA, 16 * PAGE)
    # A fresh context has nothing mapped where this one has.
    other = await client.context_create()
    with expect(errno.ENOENT):
        await client.vm_unmap(other, X_VA, 2 * PAGE)
    with expect(errno.ENOENT):
        await client.vm_unmap(other, DATA_VA, PAGE)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, (bo,)) == _pattern(5, 2 * PAGE)
    await client.vm_unmap(ctx, X_VA, 2 * PAGE)
    with expect(errno.ENOENT):  # unmapped twice
        await client.vm_unmap(ctx, X_VA, 2 * PAGE)
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, X_VA + PAGE, PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=(bo,)), X_VA)
    await _still_works(stage, system)


@case
async def vm_unmap_split_middle(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    data = _pattern(6, 8 * PAGE)
    bo, cpu = await _bo(client, 8 * PAGE, data)
    extra = (bo,)
    await client.vm_map(ctx, bo, X_VA, 8 * PAGE)
    hole, hole_end = X_VA + 3 * PAGE, X_VA + 5 * PAGE
    # Touch every page first, so that the TLB holds translations of the hole.
    await stage.write(0, bytes(4 * PAGE))
    _ok(await _job(stage, system, commands.copy(X_VA, DATA_VA, 4 * PAGE), extra=extra))
    _ok(await _job(stage, system, commands.copy(X_VA + 4 * PAGE, DATA_VA, 4 * PAGE), extra=extra))
    assert await stage.read(0, 4 * PAGE) == data[4 * PAGE :]
    await client.vm_unmap(ctx, hole, 2 * PAGE)
    # The parts on either side stay mapped, to the same pages of the buffer.
    assert await _read_via_job(stage, system, X_VA, 3 * PAGE, extra) == data[: 3 * PAGE]
    assert await _read_via_job(stage, system, hole_end, 3 * PAGE, extra) == data[5 * PAGE :]
    got = await _read_via_job(stage, system, hole - 100, 100, extra)
    assert got == data[3 * PAGE - 100 : 3 * PAGE]
    got = await _read_via_job(stage, system, hole_end, 100, extra)
    assert got == data[5 * PAGE : 5 * PAGE + 100]
    # Reading from the left part into the hole faults at the hole's first page.
    for src, length in ((X_VA, 4 * PAGE), (hole - 64, 128), (X_VA + 2 * PAGE, 3 * PAGE)):
        _fault(await _job(stage, system, commands.copy(src, DATA_VA, length), extra=extra), hole)
    # So does a read that starts there, and a write into the hole.
    _fault(await _job(stage, system, commands.copy(hole, DATA_VA, 64), extra=extra), hole)
    _fault(await _job(stage, system, commands.fill(hole, PAGE, 0xDEADBEEF), extra=extra), hole)
    assert await cpu.read(0, 8 * PAGE) == data
    # A write through the left part into the hole faults at the hole too. It may have written
    # a prefix of the page before the hole; the buffer's pages behind the hole are untouched.
    reply = await _job(stage, system, commands.fill(hole - PAGE, 2 * PAGE, 0x5A5A5A5A), extra=extra)
    _fault(reply, hole)
    before = await cpu.read(2 * PAGE, PAGE)
    done = len(before) - len(before.lstrip(b"Z"))
    assert before[done:] == data[2 * PAGE + done : 3 * PAGE], "not a prefix of the fill"
    data = data[: 2 * PAGE] + before + data[3 * PAGE :]
    assert await cpu.read(0, 8 * PAGE) == data
    assert await _read_via_job(stage, system, hole_end, PAGE, extra) == data[5 * PAGE : 6 * PAGE]
    # The three pieces are separate: each unmaps on its own, the hole is ENOENT.
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, hole, 2 * PAGE)
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, hole + PAGE, PAGE)
    # The hole takes a new mapping.
    new_data = _pattern(7, 2 * PAGE)
    new, _ = await _bo(client, 2 * PAGE, new_data)
    await client.vm_map(ctx, new, hole, 2 * PAGE)
    got = await _read_via_job(stage, system, hole - PAGE, 4 * PAGE, (bo, new))
    assert got == data[2 * PAGE : 3 * PAGE] + new_data + data[5 * PAGE : 6 * PAGE]
    await client.vm_unmap(ctx, X_VA, 3 * PAGE)
    await client.vm_unmap(ctx, hole_end, 3 * PAGE)
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, X_VA, 3 * PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=extra), X_VA)
    _fault(await _job(stage, system, commands.copy(hole_end, DATA_VA, 8), extra=extra), hole_end)
    assert await _read_via_job(stage, system, hole, 2 * PAGE, (new,)) == new_data
    await _still_works(stage, system)


@case
async def vm_unmap_across_hole(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    a_data, b_data, c_data = _pattern(8, 2 * PAGE), _pattern(9, 2 * PAGE), _pattern(10, 2 * PAGE)
    a, _ = await _bo(client, 2 * PAGE, a_data)
    b, _ = await _bo(client, 2 * PAGE, b_data)
    c, _ = await _bo(client, 2 * PAGE, c_data)
    extra = (a, b, c)
    # a at X_VA, a one-page hole, b, then c after a two-page hole.
    await client.vm_map(ctx, a, X_VA, 2 * PAGE)
    await client.vm_map(ctx, b, X_VA + 3 * PAGE, 2 * PAGE)
    await client.vm_map(ctx, c, X_VA + 7 * PAGE, 2 * PAGE)
    # One unmap from a hole below a, over a, the hole and b, ending in the hole after b.
    await client.vm_unmap(ctx, X_VA - PAGE, 7 * PAGE)
    for va in (X_VA, X_VA + PAGE, X_VA + 3 * PAGE, X_VA + 4 * PAGE):
        _fault(await _job(stage, system, commands.copy(va, DATA_VA, 8), extra=extra), va)
    assert await _read_via_job(stage, system, X_VA + 7 * PAGE, 2 * PAGE, extra) == c_data
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, X_VA, 5 * PAGE)
    # An unmap that cuts into two mappings keeps their outer parts.
    await client.vm_map(ctx, a, X_VA, 2 * PAGE)
    await client.vm_map(ctx, b, X_VA + 3 * PAGE, 2 * PAGE)
    await client.vm_unmap(ctx, X_VA + PAGE, 3 * PAGE)
    assert await _read_via_job(stage, system, X_VA, PAGE, extra) == a_data[:PAGE]
    assert await _read_via_job(stage, system, X_VA + 4 * PAGE, PAGE, extra) == b_data[PAGE:]
    for va in (X_VA + PAGE, X_VA + 2 * PAGE, X_VA + 3 * PAGE):
        _fault(await _job(stage, system, commands.copy(va, DATA_VA, 8), extra=extra), va)
    _fault(
        await _job(stage, system, commands.copy(X_VA, DATA_VA, 2 * PAGE), extra=extra), X_VA + PAGE
    )
    # The whole area, holes and all, unmaps in one go; then all of it is free.
    await client.vm_unmap(ctx, X_VA, 16 * PAGE)
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, X_VA, 16 * PAGE)
    whole_data = _pattern(11, 9 * PAGE)
    whole, _ = await _bo(client, 9 * PAGE, whole_data)
    await client.vm_map(ctx, whole, X_VA, 9 * PAGE)
    got = await _read_via_job(stage, system, X_VA + PAGE, 4 * PAGE, (whole,))
    assert got == whole_data[PAGE : 5 * PAGE]
    await _still_works(stage, system)


@case
async def vm_remap_sees_new_buffer(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    old_data, new_data = _pattern(12, 2 * PAGE), _pattern(13, 2 * PAGE)
    old, _ = await _bo(client, 2 * PAGE, old_data)
    new, _ = await _bo(client, 2 * PAGE, new_data)
    await client.vm_map(ctx, old, X_VA, 2 * PAGE)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, (old,)) == old_data
    await client.vm_unmap(ctx, X_VA, 2 * PAGE)
    # No stale translation: the unmapped range faults...
    _fault(await _job(stage, system, commands.copy(X_VA + PAGE, DATA_VA, 8)), X_VA + PAGE)
    # ... and a new buffer at the same address is what jobs see (in reverse page order).
    await client.vm_map(ctx, new, X_VA, PAGE, bo_offset=PAGE)
    await client.vm_map(ctx, new, X_VA + PAGE, PAGE)
    got = await _read_via_job(stage, system, X_VA, 2 * PAGE, (new,))
    assert got == new_data[PAGE:] + new_data[:PAGE]
    await _still_works(stage, system)


# --- flags ----------------------------------------------------------------------------------


@case
async def vm_bind_op_flags_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    data = _pattern(14, PAGE)
    bo, _ = await _bo(client, PAGE, data)
    both = VmBindFlags.MAP | VmBindFlags.UNMAP
    ops = [
        both,
        both | VmBindFlags.READ_ONLY,
        0,
        VmBindFlags.READ_ONLY,
        VmBindFlags.NO_EXEC,
        VmBindFlags.READ_ONLY | VmBindFlags.NO_EXEC,
    ]
    for flags in ops:  # on an unmapped range: nothing gets mapped
        with expect(errno.EINVAL):
            await _bind(client, flags, ctx, handle=bo, va=X_VA, size=PAGE)
        with expect(errno.EINVAL):
            await _bind(client, flags, ctx, va=X_VA, size=PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=(bo,)), X_VA)
    await client.vm_map(ctx, bo, X_VA, PAGE)
    for flags in ops:  # on a mapped range: nothing gets unmapped
        with expect(errno.EINVAL):
            await _bind(client, flags, ctx, handle=bo, va=X_VA, size=PAGE)
        with expect(errno.EINVAL):
            await _bind(client, flags, ctx, va=X_VA, size=PAGE)
    assert await _read_via_job(stage, system, X_VA, PAGE, (bo,)) == data
    await _still_works(stage, system)


@case
async def vm_bind_unknown_flags_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    data = _pattern(15, PAGE)
    bo, _ = await _bo(client, PAGE, data)
    known = sum(flag.value for flag in VmBindFlags)
    assert known == 0xF
    for bit in range(4, 32):
        for op in (VmBindFlags.MAP, VmBindFlags.MAP | VmBindFlags.READ_ONLY):
            with expect(errno.EINVAL):
                await _bind(client, op | 1 << bit, ctx, handle=bo, va=X_VA, size=PAGE)
    with expect(errno.EINVAL):
        await _bind(client, 0xFFFF_FFFF, ctx, handle=bo, va=X_VA, size=PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=(bo,)), X_VA)
    await client.vm_map(ctx, bo, X_VA, PAGE)
    for bit in (4, 5, 16, 31):
        with expect(errno.EINVAL):
            await _bind(client, VmBindFlags.UNMAP | 1 << bit, ctx, va=X_VA, size=PAGE)
    assert await _read_via_job(stage, system, X_VA, PAGE, (bo,)) == data
    await _still_works(stage, system)


@case
async def vm_unmap_rights_or_handle_einval(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    data = _pattern(16, 2 * PAGE)
    bo, _ = await _bo(client, 2 * PAGE, data)
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE)
    unmap = VmBindFlags.UNMAP
    for flags in (
        unmap | VmBindFlags.READ_ONLY,
        unmap | VmBindFlags.NO_EXEC,
        unmap | VmBindFlags.READ_ONLY | VmBindFlags.NO_EXEC,
    ):
        with expect(errno.EINVAL):
            await _bind(client, flags, ctx, va=X_VA, size=2 * PAGE)
    with expect(errno.EINVAL):  # the buffer's own handle
        await _bind(client, unmap, ctx, handle=bo, va=X_VA, size=2 * PAGE)
    with expect(errno.EINVAL):  # a handle that does not exist
        await _bind(client, unmap, ctx, handle=999, va=X_VA, size=2 * PAGE)
    with expect(errno.EINVAL):  # a buffer offset
        await _bind(client, unmap, ctx, bo_offset=PAGE, va=X_VA, size=PAGE)
    with expect(errno.EINVAL):
        await _bind(client, unmap, ctx, handle=bo, bo_offset=PAGE, va=X_VA + PAGE, size=PAGE)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, (bo,)) == data
    await _bind(client, unmap, ctx, va=X_VA, size=2 * PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=(bo,)), X_VA)
    await _still_works(stage, system)


@case
async def vm_bind_bad_handles_enoent(system):
    client = system.open()
    stage = await Stage.create(client)
    bo, _ = await _bo(client, PAGE, _pattern(17, PAGE))
    for handle in (0, bo + 1, 0xFFFF_FFFF):
        with expect(errno.ENOENT):
            await client.vm_map(stage.context, handle, X_VA, PAGE)
    for context in (0, stage.context + 1, 0xFFFF_FFFF):
        with expect(errno.ENOENT):
            await client.vm_map(context, bo, X_VA, PAGE)
        with expect(errno.ENOENT):
            await client.vm_unmap(context, DATA_VA, PAGE)
    # A destroyed context is gone for VM_BIND.
    other = await client.context_create()
    await client.vm_map(other, bo, X_VA, PAGE)
    await client.context_destroy(other)
    with expect(errno.ENOENT):
        await client.vm_unmap(other, X_VA, PAGE)
    with expect(errno.ENOENT):
        await client.vm_map(other, bo, Y_VA, PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=(bo,)), X_VA)
    await client.vm_map(stage.context, bo, X_VA, PAGE)
    assert await _read_via_job(stage, system, X_VA, PAGE, (bo,)) == _pattern(17, PAGE)
    await _still_works(stage, system)


# --- rights ---------------------------------------------------------------------------------


@case
async def vm_read_only_mapping(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    data = _pattern(18, 2 * PAGE)
    bo, cpu = await _bo(client, 2 * PAGE, data)
    extra = (bo,)
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE, flags=VmBindFlags.READ_ONLY)
    # Jobs read it.
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, extra) == data
    # Every kind of write faults, at the first byte written, and changes nothing.
    await stage.write(0, _pattern(19, PAGE))
    writes = [
        (commands.fill(X_VA, 64, 0xDEADBEEF), X_VA),
        (commands.fill(X_VA + PAGE, PAGE, 0xDEADBEEF), X_VA + PAGE),
        (commands.write_value(X_VA + PAGE + 8, 0xDEAD), X_VA + PAGE + 8),
        (commands.copy(DATA_VA, X_VA + 256, 512), X_VA + 256),
    ]
    for cmd, va in writes:
        _fault(await _job(stage, system, cmd, extra=extra), va)
        assert await cpu.read(0, 2 * PAGE) == data
    # A job that writes its own buffer first, then the read-only one, did the first write.
    await stage.write(PAGE, bytes(64))
    reply = await _job(
        stage,
        system,
        commands.fill(DATA_VA + PAGE, 64, 0x11223344),
        commands.write_value(X_VA, 0xDEAD),
        extra=extra,
    )
    _fault(reply, X_VA)
    assert await stage.read(PAGE, 64) == bytes.fromhex("44332211") * 16
    assert await cpu.read(0, 2 * PAGE) == data
    # The rights belong to the mapping: the same pages mapped writable elsewhere take writes,
    # and the read-only mapping shows them.
    await client.vm_map(ctx, bo, Y_VA, 2 * PAGE)
    _ok(await _job(stage, system, commands.fill(Y_VA + PAGE, 32, 0xA5A5A5A5), extra=extra))
    expected = data[:PAGE] + b"\xa5" * 32 + data[PAGE + 32 :]
    assert await cpu.read(0, 2 * PAGE) == expected
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, extra) == expected
    # The CPU can still write it; jobs read what it wrote.
    await cpu.write(0, b"cpu")
    assert await _read_via_job(stage, system, X_VA, 3, extra) == b"cpu"
    await _still_works(stage, system)


@case
async def vm_no_exec_mapping(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    nx, nx_cpu = await _bo(client, PAGE)
    ex, ex_cpu = await _bo(client, PAGE)
    extra = (nx, ex)
    src = _pattern(20, 256)
    await stage.write(0, src)
    job = commands.stream(
        commands.copy(DATA_VA, DATA_VA + PAGE, 256), commands.write_value(DATA_VA + 2 * PAGE, 7)
    )
    await nx_cpu.write(0, job)
    await client.vm_map(ctx, nx, X_VA, PAGE, flags=VmBindFlags.NO_EXEC)
    await client.vm_map(ctx, ex, X_VA - PAGE, PAGE)
    # A stream inside the NO_EXEC mapping, or reaching into it, is refused.
    for va, size in ((X_VA, len(job)), (X_VA + 40, 24), (X_VA + PAGE - 8, 8)):
        with expect(errno.EINVAL):
            await client.submit(ctx, va, size, handles=(stage.data, nx))
    await ex_cpu.write(PAGE - 40, job[:40])
    with expect(errno.EINVAL):
        await client.submit(ctx, X_VA - 40, len(job), handles=(stage.data, nx, ex))
    # So is one in no mapping at all (before, after, and running past a mapping's end).
    for va, size in ((X_VA + PAGE, 64), (Y_VA, len(job)), (STREAM_VA + PAGE - 8, 16)):
        with expect(errno.EINVAL):
            await client.submit(ctx, va, size, handles=(stage.data,))
    assert await stage.read(PAGE, 256) == bytes(256)  # nothing ran
    # NO_EXEC data is still data: jobs read and write it.
    await nx_cpu.write(PAGE // 2, src)
    _ok(
        await _job(stage, system, commands.copy(X_VA + PAGE // 2, DATA_VA + PAGE, 256), extra=extra)
    )
    assert await stage.read(PAGE, 256) == src
    _ok(await _job(stage, system, commands.fill(X_VA + PAGE - 64, 64, 0x01020304), extra=extra))
    assert await nx_cpu.read(PAGE - 64, 64) == bytes([4, 3, 2, 1]) * 16
    assert await nx_cpu.read(0, len(job)) == job
    # The same pages mapped without NO_EXEC run.
    await client.vm_map(ctx, nx, Y_VA, PAGE)
    await stage.write(PAGE, bytes(256))
    seqno = await client.submit(ctx, Y_VA, len(job), handles=(stage.data, nx))
    _ok(await client.wait(ctx, seqno, system.now_ns() + 5_000_000))
    assert await stage.read(PAGE, 256) == src
    assert await stage.read(2 * PAGE, 8) == (7).to_bytes(8, "little")
    await _still_works(stage, system)


# --- aliases and lifetimes -------------------------------------------------------------------


@case
async def vm_alias_two_vas(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    bo, cpu = await _bo(client, 2 * PAGE)
    extra = (bo,)
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE)
    await client.vm_map(ctx, bo, Y_VA, 2 * PAGE)
    # A job writes through X; the CPU sees it; a job reading through Y sees it.
    _ok(await _job(stage, system, commands.fill(X_VA + PAGE, 128, 0xCAFEF00D), extra=extra))
    written = bytes.fromhex("0df0feca") * 32
    assert await cpu.read(PAGE, 128) == written
    assert await cpu.read(0, PAGE) == bytes(PAGE)
    assert await _read_via_job(stage, system, Y_VA + PAGE, 128, extra) == written
    # And the other way round, in a single job: write through Y, copy out through X.
    await stage.write(PAGE, bytes(8))
    reply = await _job(
        stage,
        system,
        commands.write_value(Y_VA + 16, 0x1122_3344_5566_7788),
        commands.copy(X_VA + 16, DATA_VA + PAGE, 8),
        extra=extra,
    )
    _ok(reply)
    assert await stage.read(PAGE, 8) == (0x1122_3344_5566_7788).to_bytes(8, "little")
    # A CPU write shows through both.
    cpu_data = _pattern(21, 2 * PAGE)
    await cpu.write(0, cpu_data)
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE, extra) == cpu_data
    assert await _read_via_job(stage, system, Y_VA, 2 * PAGE, extra) == cpu_data
    # Unmapping one alias leaves the other.
    await client.vm_unmap(ctx, X_VA, 2 * PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA, DATA_VA, 8), extra=extra), X_VA)
    assert await _read_via_job(stage, system, Y_VA, 2 * PAGE, extra) == cpu_data
    await _still_works(stage, system)


@case
async def vm_bo_close_while_mapped(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    bo = await client.bo_create(2 * PAGE)  # no CPU mapping: only the handle and the VM hold it
    await client.vm_map(ctx, bo, X_VA, 2 * PAGE)
    _ok(await _job(stage, system, commands.fill(X_VA, 2 * PAGE, 0x0BADC0DE), extra=(bo,)))
    await client.bo_close(bo)
    # The handle is gone...
    with expect(errno.ENOENT):
        await client.bo_close(bo)
    with expect(errno.ENOENT):
        await client.ioctl(Ioctl.BO_MMAP, handle=bo)
    with expect(errno.ENOENT):
        await client.vm_map(ctx, bo, Y_VA, PAGE)
    with expect(errno.ENOENT):
        await client.wait_bo(bo, system.now_ns() + 1_000_000)
    with expect(errno.ENOENT):
        await stage.submit(commands.nop(), handles=(stage.stream, bo))
    # ... the memory is not: what the job wrote is there, and jobs still write it.
    assert await _read_via_job(stage, system, X_VA, 2 * PAGE) == bytes.fromhex("dec0ad0b") * 2048
    _ok(await _job(stage, system, commands.fill(X_VA + PAGE, 64, 0x600DF00D)))
    got = await _read_via_job(stage, system, X_VA + PAGE - 4, 72)
    assert got == bytes.fromhex("dec0ad0b") + bytes.fromhex("0df00d60") * 16 + bytes.fromhex(
        "dec0ad0b"
    )
    # Its pages go back only when the last mapping of them does (the harness checks for leaks).
    await client.vm_unmap(ctx, X_VA, PAGE)
    got = await _read_via_job(stage, system, X_VA + PAGE, 64)
    assert got == bytes.fromhex("0df00d60") * 16
    await client.vm_unmap(ctx, X_VA + PAGE, PAGE)
    _fault(await _job(stage, system, commands.copy(X_VA + PAGE, DATA_VA, 8)), X_VA + PAGE)
    await _still_works(stage, system)


@case
async def vm_unmap_busy_ebusy(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    size = 256 * 1024  # a FILL of about 330 us of device time
    big, big_cpu = await _bo(client, size)
    await client.vm_map(ctx, big, Z_VA, size)
    other = system.open()
    other_stage = await Stage.create(other)
    deadline = system.now_ns() + 50_000_000
    seqno = await stage.submit(
        commands.fill(Z_VA, 4096, 0x76543210, rows=size // 4096),
        handles=(stage.stream, big),
        timeout_ns=20_000_000,
    )
    with expect(errno.EBUSY):
        await client.vm_unmap(ctx, Z_VA, size)
    with expect(errno.EBUSY):  # any mapping of the context, not only the job's
        await client.vm_unmap(ctx, DATA_VA, PAGE)
    # Another context's unmaps are not held up by it.
    await other.vm_unmap(other_stage.context, DATA_VA, PAGE)
    # The failed unmaps unmapped nothing: the job runs to its end and fills all of it.
    reply = await client.wait(ctx, seqno, deadline)
    _ok(reply)
    assert await big_cpu.read(0, size) == bytes.fromhex("10325476") * (size // 4)
    await client.vm_unmap(ctx, Z_VA, size)
    _fault(await _job(stage, system, commands.copy(Z_VA + size - 8, DATA_VA, 8)), Z_VA + size - 8)
    await _still_works(stage, system)


@case
async def vm_unmap_under_queued_job(system):
    """A job waiting for an in-sync is not on the device: its context may unmap and remap.

    The job then runs against the new mappings: a stream address that was unmapped, or that is
    now a NO_EXEC mapping, faults when the job fetches it (the rights are the mapping's at run
    time, not at SUBMIT), and nothing of the NO_EXEC stream runs.
    """
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    # A second context with a long job: 256 KiB of FILL.
    blocker_ctx = await client.context_create()
    blocker_size = 256 * 1024
    blocker, blocker_cpu = await _bo(client, blocker_size)
    blocker_stream, blocker_stream_cpu = await _bo(client, PAGE)
    await client.vm_map(blocker_ctx, blocker, Z_VA, blocker_size)
    await client.vm_map(blocker_ctx, blocker_stream, STREAM_VA, PAGE)
    # The job's stream at X_VA, and a NO_EXEC buffer holding another stream.
    good, good_cpu = await _bo(client, PAGE)
    evil, evil_cpu = await _bo(client, PAGE)
    await client.vm_map(ctx, good, X_VA, PAGE)
    good_job = commands.write_value(DATA_VA, 0x600D)
    evil_job = commands.write_value(DATA_VA + 8, 0xE71)
    await good_cpu.write(0, good_job)
    await evil_cpu.write(0, evil_job)
    await stage.write(0, bytes(16))

    async def blocked_submit(cmd_va, size):
        fill = commands.fill(Z_VA, 4096, 0x11111111, rows=blocker_size // 4096)
        await blocker_stream_cpu.write(0, fill)
        first = await client.submit(
            blocker_ctx,
            STREAM_VA,
            len(fill),
            handles=(blocker_stream, blocker),
            timeout_ns=100_000_000,
        )
        seqno = await client.submit(
            ctx, cmd_va, size, handles=(stage.data, good, evil), in_syncs=[(blocker_ctx, first)]
        )
        return first, seqno

    # Unmapped under the queued job: it faults at its stream.
    first, seqno = await blocked_submit(X_VA, len(good_job))
    await client.vm_unmap(ctx, X_VA, PAGE)
    reply = await client.wait(ctx, seqno, system.now_ns() + 200_000_000)
    _fault(reply, X_VA)
    _ok(await client.wait(blocker_ctx, first, system.now_ns() + 5_000_000))
    assert await stage.read(0, 16) == bytes(16)
    # Remapped NO_EXEC under the queued job: it faults at its stream, the NO_EXEC one never runs.
    await client.vm_map(ctx, good, X_VA, PAGE)
    first, seqno = await blocked_submit(X_VA, len(good_job))
    await client.vm_unmap(ctx, X_VA, PAGE)
    await client.vm_map(ctx, evil, X_VA, PAGE, flags=VmBindFlags.NO_EXEC)
    reply = await client.wait(ctx, seqno, system.now_ns() + 200_000_000)
    _fault(reply, X_VA)
    _ok(await client.wait(blocker_ctx, first, system.now_ns() + 5_000_000))
    assert await stage.read(0, 16) == bytes(16)
    assert await blocker_cpu.read(0, blocker_size) == b"\x11" * blocker_size
    # Remapped executable: the job runs what is there when it runs.
    await client.vm_unmap(ctx, X_VA, PAGE)
    await client.vm_map(ctx, good, X_VA, PAGE)
    first, seqno = await blocked_submit(X_VA, len(good_job))
    await client.vm_unmap(ctx, X_VA, PAGE)
    await client.vm_map(ctx, evil, X_VA, PAGE)
    _ok(await client.wait(ctx, seqno, system.now_ns() + 200_000_000))
    assert await stage.read(0, 16) == bytes(8) + (0xE71).to_bytes(8, "little")
    await _still_works(stage, system)


@case
async def vm_unmap_entire_range(system):
    client = system.open()
    stage = await Stage.create(client)
    ctx = stage.context
    query = await client.query()
    start, end = query["va_start"], query["va_end"]
    data = _pattern(22, 3 * PAGE)
    bo, _ = await _bo(client, 3 * PAGE, data)
    extra = (bo,)
    places = (start, X_VA, end - PAGE)
    for i, va in enumerate(places):
        await client.vm_map(ctx, bo, va, PAGE, bo_offset=i * PAGE)
    for i, va in enumerate(places):  # every translation is in the TLB
        assert (
            await _read_via_job(stage, system, va, PAGE, extra) == data[i * PAGE : (i + 1) * PAGE]
        )
    # One unmap of the whole address space takes everything, the stream and data too.
    await client.vm_unmap(ctx, start, end - start)
    with expect(errno.EINVAL):  # no stream mapping left
        await stage.submit(commands.nop())
    with expect(errno.ENOENT):
        await client.vm_unmap(ctx, start, end - start)
    # With only a stream mapped again, every old address faults.
    await client.vm_map(ctx, stage.stream, STREAM_VA, PAGE)
    for va in (*places, DATA_VA):
        reply = await _job(stage, system, commands.copy(va, STREAM_VA + PAGE // 2, 8), extra=extra)
        _fault(reply, va)
    await client.vm_unmap(ctx, start, end - start)
    # Then it all maps again.
    await client.vm_map(ctx, stage.stream, STREAM_VA, PAGE)
    await client.vm_map(ctx, stage.data, DATA_VA, stage.size)
    await client.vm_map(ctx, bo, end - PAGE, PAGE)
    assert await _read_via_job(stage, system, end - PAGE, PAGE, extra) == data[:PAGE]
    await _still_works(stage, system)
