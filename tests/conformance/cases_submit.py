"""Conformance: the rules of every request's structure, buffer objects, SUBMIT and WAIT.

The structure rules (``size``, ``flags``, ``_reserved*``, unknown requests) are those of
:mod:`tinynpu.driver.uapi`; SUBMIT's and WAIT's errnos those of :mod:`tinynpu.driver.file`. After
each refused SUBMIT the context must still run a job exactly.
"""

import errno

from conformance_suite import DATA_VA, PAGE, STREAM_VA, Stage, case, expect
from tinynpu.driver.uapi import (
    MIN_SIZES,
    REQUESTS,
    BoCreate,
    ContextCreate,
    DevQuery,
    Ioctl,
    Submit,
    SyncPoint,
    VmBindFlags,
    Wait,
    WaitFlags,
)
from tinynpu.rtl.layouts import CommandHeader, ErrorCode, Opcode, nbytes, pack, unpack
from tinynpu.runtime import commands

MiB = 1 << 20
#: A job of about 330 us of device time: FILL 256 KiB (64 rows of 4 KiB).
LONG_ROWS, LONG_ROW_BYTES = 64, 4096
LONG_BYTES = LONG_ROWS * LONG_ROW_BYTES
#: Enough for the long job (the default timeout, 2 ms, is not).
LONG_TIMEOUT_NS = 50_000_000
#: Where a second context maps another context's buffer.
SHARED_VA = 0x100_0000
#: Mapped nowhere.
UNMAPPED_VA = 0x4000_0000


def _arg(request, *, size=None, tail=b"", **fields):
    """The bytes of ``request``'s structure with ``fields``, ``size`` (default: the full
    structure) and ``tail`` appended after it."""
    layout = REQUESTS[request]
    known = nbytes(layout)
    return bytearray(pack(layout, {"size": known if size is None else size} | fields)) + tail


def _fields(request, raw):
    """The fields of the first ``nbytes`` of ``raw``."""
    layout = REQUESTS[request]
    const = unpack(layout, bytes(raw[: nbytes(layout)]))
    return {name: const[name] for name, _ in const.shape()}


def _pattern_bytes(pattern, length):
    return (pattern.to_bytes(4, "little") * (length // 4 + 1))[:length]


async def _works(stage, system, pattern, *, offset=2 * PAGE):
    """The stage's context still runs a FILL job, exactly (256 bytes at ``offset`` of data)."""
    before = await stage.read(offset, 264)
    reply = await stage.wait(
        await stage.submit(commands.fill(DATA_VA + offset, 256, pattern)), system
    )
    assert reply == {"job_errno": 0, "hw_error": 0, "hw_offset": 0, "fault_va": 0}, reply
    assert await stage.read(offset, 256) == _pattern_bytes(pattern, 256)
    assert await stage.read(offset + 256, 8) == before[256:], "FILL wrote past its row"


async def _submit_raw(client, *, handles=(), syncs=(), **fields):
    """SUBMIT through ``client.ioctl`` with the arrays in user memory; ``fields`` override."""
    handles_ptr = client.user.alloc(b"".join(h.to_bytes(4, "little") for h in handles))
    syncs_ptr = client.user.alloc(b"".join(syncs))
    try:
        values = {
            "handles": handles_ptr,
            "handle_count": len(handles),
            "in_syncs": syncs_ptr,
            "in_sync_count": len(syncs),
        } | fields
        return (await client.ioctl(Ioctl.SUBMIT, **values))["seqno"]
    finally:
        client.user.free(handles_ptr)
        client.user.free(syncs_ptr)


def _sync(context, seqno, reserved=0):
    return pack(SyncPoint, {"context": context, "seqno": seqno, "_reserved0": reserved})


async def _foreign_context(other, above):
    """A context of ``other`` whose handle is above ``above`` (handles are never reused)."""
    while True:
        handle = await other.context_create()
        if handle > above:
            return handle
        await other.context_destroy(handle)


async def _foreign_bo(other, above):
    """A buffer of ``other`` whose handle is above ``above``."""
    while True:
        handle = await other.bo_create(PAGE)
        if handle > above:
            return handle
        await other.bo_close(handle)


async def _nop_stream(stage, offset=0):
    """A one-NOP stream at ``offset`` of the stage's stream buffer; its (va, size)."""
    await stage.stream_map.write(offset, commands.nop())
    return STREAM_VA + offset, 8


async def _long_fill(stage, pattern, *, offset=0):
    """Submit the long FILL over the whole of the stage's (256 KiB) data buffer."""
    assert stage.size == LONG_BYTES
    return await stage.submit(
        commands.fill(DATA_VA, LONG_ROW_BYTES, pattern, rows=LONG_ROWS),
        offset=offset,
        timeout_ns=LONG_TIMEOUT_NS,
    )


# --- structure versioning -------------------------------------------------------------------


@case
async def uapi_size_below_struct_or_past_arg(system):
    client = system.open()
    for request, layout in REQUESTS.items():
        known, first = nbytes(layout), MIN_SIZES[request]  # the first version's size
        for size in (0, 4, 8, first - 8, first - 1):
            with expect(errno.EINVAL):
                await client.file.ioctl(request, _arg(request, size=size))
        # size is larger than the buffer the caller passed
        for size in (known + 1, known + 8, 0xFFFF_FFFF):
            arg = _arg(request, size=size)
            with expect(errno.EFAULT):
                await client.file.ioctl(request, arg)
            assert arg == _arg(request, size=size), "a refused request wrote its argument"
        # no room even for the size field
        for length in (0, 2):
            with expect(errno.EFAULT):
                await client.file.ioctl(request, bytearray(length))
    # nothing was created by the refused requests: a context and a buffer still work
    stage = await Stage.create(client)
    await _works(stage, system, 0x0102_0304)


@case
async def uapi_future_struct_with_zero_tail(system):
    client = system.open()
    # DEV_QUERY, 16 bytes longer, then 8 bytes the driver must not touch (past size)
    known = nbytes(DevQuery)
    arg = _arg(Ioctl.DEV_QUERY, size=known + 16, tail=bytes(16) + b"\xee" * 8)
    await client.file.ioctl(Ioctl.DEV_QUERY, arg)
    reply = _fields(Ioctl.DEV_QUERY, arg)
    assert reply["size"] == known + 16 and reply["flags"] == 0
    assert reply["page_size"] == PAGE and reply["uapi_version"] == 1 << 16 | 1
    assert arg[known:] == bytes(16) + b"\xee" * 8, "bytes past the known structure were written"
    # CONTEXT_CREATE and BO_CREATE, 8 bytes longer: the handle comes back
    known = nbytes(ContextCreate)
    arg = _arg(Ioctl.CONTEXT_CREATE, size=known + 8, tail=bytes(8) + b"\xee" * 4)
    await client.file.ioctl(Ioctl.CONTEXT_CREATE, arg)
    context = _fields(Ioctl.CONTEXT_CREATE, arg)["handle"]
    assert context != 0 and arg[known:] == bytes(8) + b"\xee" * 4
    known = nbytes(BoCreate)
    handles = []
    for size in (PAGE, 4 * PAGE):
        arg = _arg(Ioctl.BO_CREATE, size=known + 8, tail=bytes(8) + b"\xee", bo_size=size)
        await client.file.ioctl(Ioctl.BO_CREATE, arg)
        reply = _fields(Ioctl.BO_CREATE, arg)
        assert reply["handle"] != 0 and reply["bo_size"] == size
        assert arg[known:] == bytes(8) + b"\xee"
        handles.append(reply["handle"])
    stream, data = handles
    assert stream != data
    await client.vm_map(context, stream, STREAM_VA, PAGE)
    await client.vm_map(context, data, DATA_VA, 4 * PAGE)
    stream_map = await client.mmap(stream, PAGE)
    data_map = await client.mmap(data, 4 * PAGE)
    cmds = commands.fill(DATA_VA, 64, 0x1234_5678)
    await stream_map.write(0, cmds)
    # SUBMIT, 24 bytes longer: the seqno comes back
    known = nbytes(Submit)
    ptr = client.user.alloc(b"".join(h.to_bytes(4, "little") for h in handles))
    arg = _arg(
        Ioctl.SUBMIT,
        size=known + 24,
        tail=bytes(24) + b"\xee" * 8,
        context=context,
        cmd_va=STREAM_VA,
        cmd_size=len(cmds),
        handles=ptr,
        handle_count=2,
    )
    await client.file.ioctl(Ioctl.SUBMIT, arg)
    client.user.free(ptr)
    seqno = _fields(Ioctl.SUBMIT, arg)["seqno"]
    assert seqno != 0 and arg[known:] == bytes(24) + b"\xee" * 8
    # WAIT, 8 bytes longer: the job's outcome comes back
    known = nbytes(Wait)
    arg = _arg(
        Ioctl.WAIT,
        size=known + 8,
        tail=bytes(8) + b"\xee" * 8,
        flags=WaitFlags.FENCE,
        handle=context,
        seqno=seqno,
        deadline_ns=system.now_ns() + 5_000_000,
        job_errno=0x77,
        hw_error=0x77,
    )
    await client.file.ioctl(Ioctl.WAIT, arg)
    reply = _fields(Ioctl.WAIT, arg)
    assert (reply["job_errno"], reply["hw_error"], reply["hw_offset"]) == (0, 0, 0), reply
    assert arg[known:] == bytes(8) + b"\xee" * 8
    assert await data_map.read(0, 68) == _pattern_bytes(0x1234_5678, 64) + bytes(4)
    # BO_MMAP and BO_CLOSE, longer
    arg = _arg(Ioctl.BO_MMAP, size=nbytes(REQUESTS[Ioctl.BO_MMAP]) + 8, tail=bytes(8), handle=data)
    await client.file.ioctl(Ioctl.BO_MMAP, arg)
    offset = _fields(Ioctl.BO_MMAP, arg)["offset"]
    cpu = await client.file.mmap(offset, PAGE)
    assert await cpu.read(0, 4) == b"\x78\x56\x34\x12"
    cpu.close()
    arg = _arg(
        Ioctl.BO_CLOSE, size=nbytes(REQUESTS[Ioctl.BO_CLOSE]) + 8, tail=bytes(8), handle=data
    )
    await client.file.ioctl(Ioctl.BO_CLOSE, arg)
    with expect(errno.ENOENT):
        await client.ioctl(Ioctl.BO_MMAP, handle=data)


@case
async def uapi_future_struct_with_nonzero_tail(system):
    client = system.open()
    stage = await Stage.create(client)
    va, size = await _nop_stream(stage)
    ptr = client.user.alloc(stage.stream.to_bytes(4, "little"))
    valid = {
        Ioctl.DEV_QUERY: {},
        Ioctl.CONTEXT_CREATE: {},
        Ioctl.CONTEXT_DESTROY: {"handle": stage.context},
        Ioctl.BO_CREATE: {"bo_size": PAGE},
        Ioctl.BO_MMAP: {"handle": stage.data},
        Ioctl.BO_CLOSE: {"handle": stage.data},
        Ioctl.VM_BIND: {
            "flags": VmBindFlags.MAP,
            "context": stage.context,
            "handle": stage.data,
            "va": 0x80_0000,
            "range": PAGE,
        },
        Ioctl.SUBMIT: {
            "context": stage.context,
            "cmd_va": va,
            "cmd_size": size,
            "handles": ptr,
            "handle_count": 1,
        },
        Ioctl.WAIT: {"flags": WaitFlags.BO, "handle": stage.data},
        Ioctl.GET_RESET_STATUS: {"context": stage.context},
    }
    for request, fields in valid.items():
        for extra, at, value in ((8, 0, 1), (8, 7, 0x80), (64, 40, 0xFF)):
            tail = bytearray(extra)
            tail[at] = value
            known = nbytes(REQUESTS[request])
            arg = _arg(request, size=known + extra, tail=tail, **fields)
            with expect(errno.EINVAL):
                await client.file.ioctl(request, arg)
    client.user.free(ptr)
    # nothing happened: the context and buffers are there, the page is not mapped, no job ran
    with expect(errno.EINVAL):
        await client.wait(stage.context, 1, 0)
    with expect(errno.ENOENT):
        await client.vm_unmap(stage.context, 0x80_0000, PAGE)
    await _works(stage, system, 0x0A0B_0C0D)
    query = await client.query()
    for _ in range(query["max_contexts"] - 1):  # no context was created
        await client.context_create()


@case
async def uapi_reserved_fields_must_be_zero(system):
    client = system.open()
    stage = await Stage.create(client)
    seqno = await stage.submit(commands.nop())
    await stage.wait(seqno, system)
    valid = {
        Ioctl.DEV_QUERY: ({}, (1, 1 << 63)),
        Ioctl.CONTEXT_CREATE: ({}, (1, 1 << 31)),
        Ioctl.CONTEXT_DESTROY: ({"handle": stage.context}, (1, 1 << 31)),
        Ioctl.BO_CREATE: ({"bo_size": PAGE}, (1, 1 << 31)),
        Ioctl.BO_MMAP: ({"handle": stage.data}, (1, 1 << 31)),
        Ioctl.BO_CLOSE: ({"handle": stage.data}, (1, 1 << 31)),
        Ioctl.GET_RESET_STATUS: ({"context": stage.context}, (1, 1 << 31)),
    }
    for request, (fields, values) in valid.items():
        for value in values:
            with expect(errno.EINVAL):
                await client.file.ioctl(request, _arg(request, _reserved0=value, **fields))
    wait = {"flags": WaitFlags.FENCE, "handle": stage.context, "seqno": seqno}
    for name in ("_reserved0", "_reserved1"):
        for value in (1, 1 << 31):
            with expect(errno.EINVAL):
                await client.file.ioctl(Ioctl.WAIT, _arg(Ioctl.WAIT, **wait, **{name: value}))
    # the context and the data buffer survived CONTEXT_DESTROY and BO_CLOSE
    await client.ioctl(Ioctl.BO_MMAP, handle=stage.data)
    await _works(stage, system, 0x5566_7788)
    assert (await client.reset_status(stage.context))["banned"] == 0


@case
async def uapi_unknown_request(system):
    client = system.open()
    for request in (len(Ioctl), 0x0A, 0x0B, 0x10, 0x7F, 0x100, 0xFFFF_FFFF, -1):
        with expect(errno.EINVAL):
            await client.file.ioctl(request, _arg(Ioctl.DEV_QUERY))
        with expect(errno.EINVAL):
            await client.file.ioctl(request, bytearray(256))
    assert (await client.query())["page_size"] == PAGE


@case
async def uapi_unknown_flags(system):
    client = system.open()
    stage = await Stage.create(client)
    va, size = await _nop_stream(stage)
    for flags in (1, 1 << 7, 1 << 31):
        for request, fields in (
            (Ioctl.DEV_QUERY, {}),
            (Ioctl.CONTEXT_CREATE, {}),
            (Ioctl.BO_CREATE, {"bo_size": PAGE}),
            (Ioctl.BO_MMAP, {"handle": stage.data}),
            (Ioctl.BO_CLOSE, {"handle": stage.data}),
            (Ioctl.CONTEXT_DESTROY, {"handle": stage.context}),
            (Ioctl.GET_RESET_STATUS, {"context": stage.context}),
        ):
            with expect(errno.EINVAL):
                await client.ioctl(request, flags=flags, **fields)
        with expect(errno.EINVAL):
            await _submit_raw(
                client,
                handles=(stage.stream,),
                flags=flags,
                context=stage.context,
                cmd_va=va,
                cmd_size=size,
            )
    with expect(errno.EINVAL):
        await client.vm_map(stage.context, stage.data, 0x80_0000, PAGE, flags=1 << 4)
    # nothing happened: no job, the buffer is open, four contexts can still be made
    with expect(errno.EINVAL):
        await client.wait(stage.context, 1, 0)
    await client.ioctl(Ioctl.BO_MMAP, handle=stage.data)
    await _works(stage, system, 0x1357_9BDF)
    query = await client.query()
    for _ in range(query["max_contexts"] - 1):
        await client.context_create()


@case
async def uapi_dev_query_values(system):
    client = system.open()
    query = await client.query()
    expected = {
        "size": nbytes(DevQuery),
        "flags": 0,
        "page_size": 4096,
        "uapi_version": 1 << 16 | 1,
        "max_contexts": 4,
        "array_size": 8,
        "queue_depth": 2,
        "ban_hangs": 2,
        "max_cmd_size": 8192,
        "max_handles": 64,
        "max_in_syncs": 16,
        "_reserved0": 0,
        "max_client_contexts": 4,
        "client_ban_hangs": 4,
    }
    assert {k: query[k] for k in expected} == expected, query
    assert query["hw_version"] != 0
    assert query["va_start"] >= PAGE and query["va_start"] % PAGE == 0
    assert query["va_end"] % PAGE == 0 and query["va_end"] - query["va_start"] >= 1 << 30
    assert query["max_bo_size"] >= 16 * MiB and query["max_bo_size"] % PAGE == 0
    assert 0 < query["default_timeout_ns"] <= query["max_timeout_ns"]
    assert query["max_client_bytes"] == query["max_bo_size"]
    # a second client sees the same
    assert await system.open().query() == query


# --- buffer objects -------------------------------------------------------------------------


@case
async def bo_create_invalid_sizes(system):
    client = system.open()
    query = await client.query()
    with expect(errno.EINVAL):
        await client.bo_create(0)
    for size in (query["max_bo_size"] + 1, query["max_bo_size"] + PAGE, 1 << 40, (1 << 64) - PAGE):
        with expect(errno.ENOMEM):
            await client.bo_create(size)
    for size in ((1 << 64) - 1, (1 << 64) - PAGE + 1):
        with expect(errno.EOVERFLOW):
            await client.bo_create(size)
    # a buffer of 1 byte is a page
    handle = await client.bo_create(1)
    cpu = await client.mmap(handle, PAGE)
    assert await cpu.read(0, PAGE) == bytes(PAGE)


@case
async def bo_create_until_memory_runs_out(system):
    client = system.open()
    big = []
    while True:  # 1 MiB buffers until they no longer fit
        try:
            big.append(await client.bo_create(MiB))
        except OSError as error:
            assert error.errno == errno.ENOMEM, error
            break
        assert len(big) <= 1024, "memory never ran out"
    assert len(big) >= 8
    small = []
    while True:  # then pages
        try:
            small.append(await client.bo_create(PAGE))
        except OSError as error:
            assert error.errno == errno.ENOMEM, error
            break
        assert len(small) <= 256, "pages did not run out"
    with expect(errno.ENOMEM):
        await client.bo_create(PAGE)
    # dirty a page buffer, close it: a page fits again, and it is zeroed
    victim = small[len(small) // 2] if small else big[-1]
    size = PAGE if small else MiB
    cpu = await client.mmap(victim, size)
    await cpu.write(0, b"\xaa" * size)
    cpu.close()
    await client.bo_close(victim)
    with expect(errno.ENOMEM):
        await client.bo_create(size + PAGE)
    again = await client.bo_create(size)
    assert again != victim
    cpu = await client.mmap(again, size)
    assert await cpu.read(0, size) == bytes(size), "a new buffer holds old data"
    with expect(errno.ENOMEM):
        await client.bo_create(PAGE)
    # closing a 1 MiB buffer makes room for 1 MiB
    await client.bo_close(big.pop())
    handle = await client.bo_create(MiB)
    cpu = await client.mmap(handle, MiB)
    assert await cpu.read(MiB - 16, 16) == bytes(16)


@case
async def bo_invalid_and_closed_handles(system):
    client = system.open()
    other = system.open()
    mine = await client.bo_create(PAGE)
    closed = await client.bo_create(PAGE)
    await client.bo_close(closed)
    theirs = await _foreign_bo(other, closed)
    for handle in (0, closed, mine + 1000, 0xFFFF_FFFF):
        with expect(errno.ENOENT):
            await client.ioctl(Ioctl.BO_MMAP, handle=handle)
        with expect(errno.ENOENT):
            await client.bo_close(handle)
    with expect(errno.ENOENT):  # double close
        await client.bo_close(closed)
    with expect(errno.ENOENT):  # another file's handle is not a handle here
        await client.bo_close(theirs)
    # the other client's buffer and this client's open one are still there
    assert await (await other.mmap(theirs, PAGE)).read(0, 8) == bytes(8)
    assert await (await client.mmap(mine, PAGE)).read(0, 8) == bytes(8)
    await client.bo_close(mine)
    with expect(errno.ENOENT):
        await client.bo_close(mine)
    assert await (await other.mmap(theirs, PAGE)).read(0, 8) == bytes(8)


@case
async def bo_cpu_access_past_the_mapping(system):
    client = system.open()
    handle = await client.bo_create(2 * PAGE)
    for length in (2 * PAGE + 1, 3 * PAGE, 0):
        with expect(errno.EINVAL):
            await client.mmap(handle, length)
    cpu = await client.mmap(handle, 2 * PAGE)
    await cpu.write(2 * PAGE - 4, b"tail")
    assert await cpu.read(2 * PAGE - 4, 4) == b"tail"
    for offset, length in ((2 * PAGE - 4, 5), (2 * PAGE, 1), (0, 2 * PAGE + 1), (-1, 1)):
        with expect(errno.EFAULT):
            await cpu.read(offset, length)
        with expect(errno.EFAULT):
            await cpu.write(offset, bytes(length))
    assert await cpu.read(2 * PAGE - 8, 8) == b"\0\0\0\0tail", "a refused write wrote"
    # a mapping of the first page only
    first = await client.mmap(handle, PAGE)
    assert await first.read(PAGE - 1, 1) == b"\0"
    with expect(errno.EFAULT):
        await first.read(PAGE, 1)
    with expect(errno.EFAULT):
        await first.write(PAGE - 1, b"xy")
    # another file's buffer, and an offset that is no buffer
    other = system.open()
    theirs = (await other.ioctl(Ioctl.BO_MMAP, handle=await other.bo_create(PAGE)))["offset"]
    with expect(errno.EACCES):
        await client.file.mmap(theirs, PAGE)
    with expect(errno.EACCES):
        await client.file.mmap(0, PAGE)
    # a mapping outlives the handle; a closed mapping faults
    await client.bo_close(handle)
    assert await cpu.read(2 * PAGE - 4, 4) == b"tail"
    cpu.close()
    with expect(errno.EFAULT):
        await cpu.read(0, 1)


# --- SUBMIT ---------------------------------------------------------------------------------


@case
async def submit_bad_command_stream_range(system):
    client = system.open()
    stage = await Stage.create(client, stream_size=2 * PAGE)
    await stage.stream_map.write(0, commands.nop() * (2 * PAGE // 8))
    query = await client.query()
    pattern = 0x1000_0001

    async def refused(cmd_va, cmd_size):
        nonlocal pattern
        with expect(errno.EINVAL):
            await client.submit(stage.context, cmd_va, cmd_size, handles=(stage.stream,))
        pattern += 1
        await _works(stage, system, pattern)

    await refused(STREAM_VA, 0)
    for size in (4, 12, 9, 7):
        await refused(STREAM_VA, size)
    for va in (STREAM_VA + 4, STREAM_VA + 1, STREAM_VA + 7):
        await refused(va, 8)
    await refused(STREAM_VA, query["max_cmd_size"] + 8)
    await refused(STREAM_VA, 1 << 31)
    await refused(0x50_0000, 8)  # nothing mapped there
    await refused(0, 8)
    await refused(STREAM_VA + 2 * PAGE - 8, 16)  # runs past the stream mapping
    await refused(STREAM_VA + 2 * PAGE, 8)
    await refused((1 << 64) - 8, 8)
    # a mapping that may not hold streams
    await client.vm_map(stage.context, stage.stream, 0x80_0000, PAGE, flags=VmBindFlags.NO_EXEC)
    await refused(0x80_0000, 8)
    # the largest stream is accepted and runs to its end
    last = commands.write_value(DATA_VA + 8, 0x600D_CAFE)
    stream = commands.nop() * ((query["max_cmd_size"] - len(last)) // 8) + last
    assert len(stream) == query["max_cmd_size"]
    await stage.stream_map.write(0, stream)
    seqno = await client.submit(
        stage.context, STREAM_VA, len(stream), handles=(stage.stream, stage.data)
    )
    assert (await stage.wait(seqno, system))["job_errno"] == 0
    assert await stage.read(8, 8) == (0x600D_CAFE).to_bytes(8, "little")


@case
async def submit_unknown_flags_and_contexts(system):
    client = system.open()
    stage = await Stage.create(client)
    va, size = await _nop_stream(stage, offset=PAGE - 8)
    gone = await client.context_create()
    await client.context_destroy(gone)
    other = system.open()
    theirs = await _foreign_context(other, gone)
    pattern = 0x2000_0001
    for flags in (1, 2, 1 << 31):
        with expect(errno.EINVAL):
            await _submit_raw(client, flags=flags, context=stage.context, cmd_va=va, cmd_size=size)
        pattern += 1
        await _works(stage, system, pattern)
    for context in (0, gone, gone + 100, 0xFFFF_FFFF, theirs):
        with expect(errno.ENOENT):
            await client.submit(context, va, size)
        pattern += 1
        await _works(stage, system, pattern)


@case
async def submit_bad_handle_lists(system):
    client = system.open()
    stage = await Stage.create(client)
    va, size = await _nop_stream(stage, offset=PAGE - 8)
    query = await client.query()
    closed = await client.bo_create(PAGE)
    await client.bo_close(closed)
    theirs = await _foreign_bo(system.open(), closed)
    pattern = 0x3000_0001
    fields = {"context": stage.context, "cmd_va": va, "cmd_size": size}

    async def check():
        nonlocal pattern
        pattern += 1
        await _works(stage, system, pattern)

    # too many handles (all valid)
    with expect(errno.EINVAL):
        await _submit_raw(client, handles=(stage.stream,) * (query["max_handles"] + 1), **fields)
    await check()
    with expect(errno.EINVAL):
        await _submit_raw(client, handles=(stage.stream,), handle_count=1 << 31, **fields)
    await check()
    # exactly max_handles is fine
    seqno = await _submit_raw(
        client, handles=(stage.stream, stage.data) * (query["max_handles"] // 2), **fields
    )
    assert (await stage.wait(seqno, system))["job_errno"] == 0
    # a handle that is not one of this file's buffers
    for bad in (0, closed, closed + 1000, theirs):
        with expect(errno.ENOENT):
            await _submit_raw(client, handles=(stage.stream, bad, stage.data), **fields)
        await check()
    # a bad pointer
    with expect(errno.EFAULT):
        await client.ioctl(Ioctl.SUBMIT, handles=0, handle_count=1, **fields)
    await check()
    ptr = client.user.alloc(stage.stream.to_bytes(4, "little"))
    with expect(errno.EFAULT):  # the array is shorter than handle_count
        await client.ioctl(Ioctl.SUBMIT, handles=ptr, handle_count=2, **fields)
    await check()
    with expect(errno.EFAULT):  # the array does not start at an allocation
        await client.ioctl(Ioctl.SUBMIT, handles=ptr - 4, handle_count=1, **fields)
    await check()
    client.user.free(ptr)
    with expect(errno.EFAULT):  # freed
        await client.ioctl(Ioctl.SUBMIT, handles=ptr, handle_count=1, **fields)
    await check()
    # and a bad pointer with no handles is never read
    seqno = await client.ioctl(Ioctl.SUBMIT, handles=0, handle_count=0, **fields)
    assert (await stage.wait(seqno["seqno"], system))["job_errno"] == 0


@case
async def submit_bad_in_syncs(system):
    client = system.open()
    stage = await Stage.create(client)
    side = await client.context_create()
    va, size = await _nop_stream(stage, offset=PAGE - 8)
    query = await client.query()
    done = await client.submit(stage.context, va, size)
    await stage.wait(done, system)
    pattern = 0x4000_0001
    fields = {"context": stage.context, "cmd_va": va, "cmd_size": size}

    async def check():
        nonlocal pattern
        pattern += 1
        await _works(stage, system, pattern)

    # an in-sync naming a context that does not exist
    theirs = await _foreign_context(system.open(), side)
    for context in (0, side + 100, theirs):
        with expect(errno.ENOENT):
            await _submit_raw(client, syncs=(_sync(context, 1),), **fields)
        await check()
    # a fence that was never issued
    for context, seqno in ((stage.context, 0), (side, 0), (side, 1), (stage.context, 1 << 40)):
        with expect(errno.EINVAL):
            await _submit_raw(client, syncs=(_sync(context, seqno),), **fields)
        await check()
    # the fence the submit itself would get
    last = await client.submit(stage.context, va, size)
    await stage.wait(last, system)
    with expect(errno.EINVAL):
        await _submit_raw(client, syncs=(_sync(stage.context, last + 1),), **fields)
    await check()
    # the reserved field of a sync point, in the second entry
    for reserved in (1, 1 << 31):
        with expect(errno.EINVAL):
            await _submit_raw(
                client,
                syncs=(_sync(stage.context, done), _sync(stage.context, done, reserved)),
                **fields,
            )
        await check()
    # too many in-syncs (all valid)
    with expect(errno.EINVAL):
        await _submit_raw(
            client, syncs=(_sync(stage.context, done),) * (query["max_in_syncs"] + 1), **fields
        )
    await check()
    # a bad pointer
    with expect(errno.EFAULT):
        await client.ioctl(Ioctl.SUBMIT, in_syncs=0, in_sync_count=1, **fields)
    await check()
    ptr = client.user.alloc(_sync(stage.context, done))
    with expect(errno.EFAULT):
        await client.ioctl(Ioctl.SUBMIT, in_syncs=ptr, in_sync_count=2, **fields)
    client.user.free(ptr)
    await check()
    # max_in_syncs valid in-syncs on signaled fences: the job runs
    seqno = await _submit_raw(
        client, syncs=(_sync(stage.context, done),) * query["max_in_syncs"], **fields
    )
    assert (await stage.wait(seqno, system))["job_errno"] == 0


@case
async def submit_timeout_limits(system):
    client = system.open()
    stage = await Stage.create(client)
    query = await client.query()
    pattern = 0x5000_0001
    for timeout in (query["max_timeout_ns"] + 1, 1 << 63, (1 << 64) - 1):
        with expect(errno.EINVAL):
            await stage.submit(commands.fill(DATA_VA, 64, 0xDEAD_BEEF), timeout_ns=timeout)
        pattern += 1
        await _works(stage, system, pattern)
    assert await stage.read(0, 64) == bytes(64), "a refused job ran"
    # the largest timeout is accepted
    seqno = await stage.submit(
        commands.fill(DATA_VA, 64, 0x0BAD_F00D), timeout_ns=query["max_timeout_ns"]
    )
    assert (await stage.wait(seqno, system))["job_errno"] == 0
    assert await stage.read(0, 64) == _pattern_bytes(0x0BAD_F00D, 64)


@case
async def submit_malformed_stream_bad_opcode(system):
    client = system.open()
    stage = await Stage.create(client)
    bad = bytes([0xEE, 0, 8, 0, 0, 0, 0, 0])
    before = commands.write_value(DATA_VA, 0x1111)
    after = commands.write_value(DATA_VA + 8, 0x2222)
    seqno = await stage.submit(before, bad, after)  # SUBMIT does not parse the stream
    reply = await stage.wait(seqno, system)
    assert reply["job_errno"] == errno.EINVAL, reply
    assert reply["hw_error"] == ErrorCode.BAD_OPCODE.value, reply
    assert reply["hw_offset"] == len(before), reply
    assert reply["fault_va"] == 0, reply
    # the command before ran, the one after did not
    assert await stage.read(0, 16) == (0x1111).to_bytes(8, "little") + bytes(8)
    # the next job in the context runs
    await _works(stage, system, 0x6000_0001)
    assert await stage.read(0, 16) == (0x1111).to_bytes(8, "little") + bytes(8)


@case
async def submit_malformed_stream_variants(system):
    client = system.open()
    stage = await Stage.create(client)
    nop = commands.nop()
    flagged = pack(CommandHeader, {"opcode": Opcode.NOP, "flags": 1, "length": 8})
    reserved = pack(CommandHeader, {"opcode": Opcode.NOP, "length": 8, "_reserved0": 1})
    long_nop = pack(CommandHeader, {"opcode": Opcode.NOP, "length": 16}) + bytes(8)
    fill = commands.fill(DATA_VA, 64, 0x7777_7777)
    cases = [
        ((nop, nop, flagged), ErrorCode.RESERVED, 16),
        ((nop, reserved), ErrorCode.RESERVED, 8),
        ((long_nop,), ErrorCode.OVERSIZED, 0),
        ((nop, fill[:16]), ErrorCode.TRUNCATED, 8),  # the stream ends inside the FILL
        ((bytes([len(Opcode), 0, 8, 0, 0, 0, 0, 0]),), ErrorCode.BAD_OPCODE, 0),
        ((nop, bytes([0xFF, 0, 8, 0, 0, 0, 0, 0]), fill), ErrorCode.BAD_OPCODE, 8),
    ]
    pattern = 0x7000_0001
    for cmds, code, offset in cases:
        reply = await stage.wait(await stage.submit(*cmds), system)
        expected = {"job_errno": errno.EINVAL, "hw_error": code.value, "hw_offset": offset}
        assert {k: reply[k] for k in expected} == expected, (cmds, reply)
        pattern += 1
        await _works(stage, system, pattern)
    assert await stage.read(0, 64) == bytes(64), "a command after a broken one ran"


# --- WAIT -----------------------------------------------------------------------------------


@case
async def wait_invalid_requests(system):
    client = system.open()
    stage = await Stage.create(client)
    seqno = await stage.submit(commands.nop())
    assert (await stage.wait(seqno, system))["job_errno"] == 0
    closed = await client.bo_create(PAGE)
    await client.bo_close(closed)
    deadline = system.now_ns() + 1_000_000

    async def wait(**fields):
        return await client.ioctl(Ioctl.WAIT, deadline_ns=deadline, **fields)

    for flags in (0, WaitFlags.FENCE | WaitFlags.BO, 4, WaitFlags.FENCE | 4, WaitFlags.BO | 8):
        with expect(errno.EINVAL):
            await wait(flags=flags, handle=stage.context, seqno=seqno)
        with expect(errno.EINVAL):
            await wait(flags=flags, handle=stage.data)
    for bad in (0, seqno + 1, seqno + 100, (1 << 64) - 1):
        with expect(errno.EINVAL):
            await wait(flags=WaitFlags.FENCE, handle=stage.context, seqno=bad)
    fresh = await client.context_create()
    with expect(errno.EINVAL):  # no fence issued at all
        await wait(flags=WaitFlags.FENCE, handle=fresh, seqno=1)
    theirs = await _foreign_context(system.open(), fresh)
    for context in (0, fresh + 100, theirs):
        with expect(errno.ENOENT):
            await wait(flags=WaitFlags.FENCE, handle=context, seqno=1)
    for handle in (0, closed, stage.data + 100):
        with expect(errno.ENOENT):
            await wait(flags=WaitFlags.BO, handle=handle)
    for bad in (1, seqno):
        with expect(errno.EINVAL):
            await wait(flags=WaitFlags.BO, handle=stage.data, seqno=bad)
    # the valid forms
    reply = await wait(flags=WaitFlags.FENCE, handle=stage.context, seqno=seqno)
    assert reply["job_errno"] == 0
    await wait(flags=WaitFlags.BO, handle=stage.data)
    assert system.now_ns() < deadline


@case
async def wait_poll_and_deadlines_on_a_long_job(system):
    client = system.open()
    stage = await Stage.create(client, size=LONG_BYTES)
    idle = await client.bo_create(PAGE)
    pattern = 0xC0DE_F00D
    seqno = await _long_fill(stage, pattern)
    start = system.now_ns()
    # polls: an idle buffer is idle, the busy buffer and the fence are not
    await client.wait_bo(idle, 0)
    await client.wait_bo(idle, start)  # a deadline already reached, still idle
    with expect(errno.ETIMEDOUT):
        await client.wait_bo(stage.data, 0)
    with expect(errno.ETIMEDOUT):
        await client.wait_bo(stage.stream, 0)
    with expect(errno.ETIMEDOUT):
        await client.wait(stage.context, seqno, 0)
    assert system.now_ns() - start < 1_000, "a poll slept"
    # a tiny deadline passes before the job ends
    with expect(errno.ETIMEDOUT):
        await client.wait(stage.context, seqno, system.now_ns() + 100)
    assert system.now_ns() - start < 50_000
    with expect(errno.ETIMEDOUT):
        await client.wait_bo(stage.data, system.now_ns() + 1_000)
    # a generous one does not
    reply = await client.wait(stage.context, seqno, start + LONG_TIMEOUT_NS)
    assert reply == {"job_errno": 0, "hw_error": 0, "hw_offset": 0, "fault_va": 0}, reply
    assert system.now_ns() - start > 100_000, "a 256 KiB FILL took no time"
    assert await stage.read(0, LONG_BYTES) == _pattern_bytes(pattern, LONG_BYTES)
    # once signaled: every form returns at once
    now = system.now_ns()
    assert (await client.wait(stage.context, seqno, 0))["job_errno"] == 0
    assert (await client.wait(stage.context, seqno, now + 10**9))["job_errno"] == 0
    await client.wait_bo(stage.data, 0)
    await client.wait_bo(stage.stream, now + 10**9)
    assert system.now_ns() - now < 1_000, "a WAIT on a signaled fence slept"


@case
async def wait_on_a_signaled_fence_returns_at_once(system):
    client = system.open()
    stage = await Stage.create(client)
    seqno = await stage.submit(commands.fill(DATA_VA, 128, 0x0F0F_0F0F))
    assert (await stage.wait(seqno, system))["job_errno"] == 0
    await system.sleep_ns(10_000)
    for deadline in (0, 1, system.now_ns(), system.now_ns() + 10**9, (1 << 64) - 1):
        now = system.now_ns()
        reply = await client.wait(stage.context, seqno, deadline)
        assert reply == {"job_errno": 0, "hw_error": 0, "hw_offset": 0, "fault_va": 0}
        await client.wait_bo(stage.data, deadline)
        assert system.now_ns() - now < 1_000, f"WAIT with deadline {deadline} slept"
    assert await stage.read(0, 128) == _pattern_bytes(0x0F0F_0F0F, 128)


@case
async def submit_in_order_completion(system):
    client = system.open()
    stage = await Stage.create(client)
    count = 20
    shared = DATA_VA + PAGE
    seqnos = []
    for i in range(count):
        stream = commands.stream(
            commands.write_value(shared, 1000 + i), commands.write_value(DATA_VA + 8 * i, 1000 + i)
        )
        await stage.stream_map.write(64 * i, stream)
        seqnos.append(
            await client.submit(
                stage.context, STREAM_VA + 64 * i, len(stream), handles=(stage.stream, stage.data)
            )
        )
    assert seqnos == sorted(seqnos) and len(set(seqnos)) == count
    reply = await stage.wait(seqnos[-1], system, within_ns=20_000_000)
    assert reply["job_errno"] == 0, reply
    for seqno in seqnos:
        assert (await client.wait(stage.context, seqno, 0))["job_errno"] == 0
    await client.wait_bo(stage.data, 0)
    assert await stage.read(PAGE, 8) == (1000 + count - 1).to_bytes(8, "little")
    slots = await stage.read(0, 8 * count + 8)
    assert slots == b"".join((1000 + i).to_bytes(8, "little") for i in range(count)) + bytes(8)


@case
async def submit_in_sync_across_contexts(system):
    client = system.open()
    first = await Stage.create(client, size=LONG_BYTES)
    second = await Stage.create(client, size=2 * PAGE)
    await client.vm_map(
        second.context, first.data, SHARED_VA, LONG_BYTES, flags=VmBindFlags.READ_ONLY
    )
    pattern = 0x5A5A_1234
    a = await _long_fill(first, pattern)
    b = await second.submit(
        commands.copy(SHARED_VA, DATA_VA, PAGE),  # the first row A writes
        commands.copy(SHARED_VA + LONG_BYTES - PAGE, DATA_VA + PAGE, PAGE),  # and the last
        handles=(second.stream, second.data, first.data),
        in_syncs=[(first.context, a)],
    )
    # B waits for A, which takes milliseconds
    await system.sleep_ns(200_000)
    with expect(errno.ETIMEDOUT):
        await client.wait(second.context, b, 0)
    with expect(errno.ETIMEDOUT):
        await client.wait(first.context, a, 0)
    assert await second.read(0, 2 * PAGE) == bytes(2 * PAGE)
    reply = await client.wait(second.context, b, system.now_ns() + LONG_TIMEOUT_NS)
    assert reply["job_errno"] == 0, reply
    assert (await client.wait(first.context, a, 0))["job_errno"] == 0
    assert await second.read(0, 2 * PAGE) == _pattern_bytes(pattern, 2 * PAGE)
    # an in-sync on a signaled fence does not hold a job back
    c = await second.submit(commands.copy(SHARED_VA + 8, DATA_VA, 8), in_syncs=[(first.context, a)])
    assert (await second.wait(c, system))["job_errno"] == 0


@case
async def submit_in_sync_on_a_failed_fence(system):
    client = system.open()
    first = await Stage.create(client)
    second = await Stage.create(client)
    a = await first.submit(commands.copy(UNMAPPED_VA, DATA_VA, 64))  # faults
    b = await second.submit(
        commands.fill(DATA_VA, 64, 0xBAD0_BAD0),
        commands.write_value(DATA_VA + 64, 0xBAD),
        in_syncs=[(first.context, a)],
    )
    reply = await client.wait(second.context, b, system.now_ns() + 5_000_000)
    assert reply == {"job_errno": errno.ECANCELED, "hw_error": 0, "hw_offset": 0, "fault_va": 0}
    reply = await client.wait(first.context, a, 0)
    assert reply["job_errno"] == errno.EFAULT, reply
    assert reply["hw_error"] == ErrorCode.PAGE_FAULT.value, reply
    assert reply["fault_va"] == UNMAPPED_VA, reply
    assert await second.read(0, 128) == bytes(128), "a canceled job wrote"
    # an in-sync on a fence that has already failed
    c = await second.submit(
        commands.write_value(DATA_VA + 64, 0xBAD), in_syncs=[(second.context, b)]
    )
    reply = await second.wait(c, system)
    assert reply["job_errno"] == errno.ECANCELED, reply
    d = await second.submit(
        commands.write_value(DATA_VA + 64, 0xBAD), in_syncs=[(first.context, a)]
    )
    assert (await second.wait(d, system))["job_errno"] == errno.ECANCELED
    assert await second.read(0, 128) == bytes(128), "a canceled job wrote"
    # both contexts go on
    await _works(first, system, 0x8000_0001)
    await _works(second, system, 0x8000_0002)
    assert (await client.reset_status(second.context))["resets"] == 0
