"""Conformance: isolation between clients (no job, mapping or handle reaches another's data)."""

import errno
import random

from conformance_suite import DATA_VA, PAGE, STREAM_VA, Stage, case, expect, run_job
from tinynpu.driver.uapi import Ioctl
from tinynpu.runtime import commands

#: Where each tenant maps its secret and a scratch buffer (B leaves them unmapped unless said).
SECRET_VA, SCRATCH_VA, OTHER_VA = 0x80_0000, 0x90_0000, 0x100_0000
SECRET_SIZE = 2 * PAGE
_WITHIN_NS = 5_000_000


def _pattern(seed, size):
    return random.Random(seed).randbytes(size)


def _fault(reply, va):
    assert reply["job_errno"] == errno.EFAULT, reply
    assert reply["hw_error"] != 0, reply
    assert reply["fault_va"] == va, f"fault_va {reply['fault_va']:#x}, expected {va:#x}: {reply}"


def _ok(reply):
    assert reply["job_errno"] == 0 and reply["hw_error"] == 0, reply


class _Tenant:
    """A client with a context (a :class:`Stage`), its data buffer holding a pattern, and a
    secret buffer at SECRET_VA and a scratch buffer at SCRATCH_VA, both of SECRET_SIZE."""

    @classmethod
    async def create(cls, system, seed, *, secret=True):
        self = cls()
        self.client = client = system.open()
        self.stage = stage = await Stage.create(client)
        self.data = _pattern(seed, stage.size)
        await stage.write(0, self.data)
        self.secret = self.scratch = None
        if secret:
            self.secret = await client.bo_create(SECRET_SIZE)
            self.scratch = await client.bo_create(SECRET_SIZE)
            await client.vm_map(stage.context, self.secret, SECRET_VA, SECRET_SIZE)
            await client.vm_map(stage.context, self.scratch, SCRATCH_VA, SECRET_SIZE)
            self.secret_map = await client.mmap(self.secret, SECRET_SIZE)
            self.scratch_map = await client.mmap(self.scratch, SECRET_SIZE)
            self.secret_data = _pattern(seed + 1, SECRET_SIZE)
            await self.secret_map.write(0, self.secret_data)
        return self

    @property
    def handles(self):
        mine = (self.stage.stream, self.stage.data, self.secret, self.scratch)
        return tuple(handle for handle in mine if handle is not None)

    async def run(self, system, *cmds):
        """Run ``cmds`` in the tenant's context; the WAIT reply."""
        return await run_job(self.stage, system, *cmds, handles=self.handles)

    async def check(self, system):
        """Its buffers hold exactly what it put there, and its jobs still run exactly."""
        assert await self.stage.read(0, self.stage.size) == self.data
        if self.secret is None:
            return
        assert await self.secret_map.read(0, SECRET_SIZE) == self.secret_data
        await self.scratch_map.write(0, bytes(SECRET_SIZE))
        _ok(await self.run(system, commands.copy(SECRET_VA, SCRATCH_VA, SECRET_SIZE)))
        assert await self.scratch_map.read(0, SECRET_SIZE) == self.secret_data
        # The data buffer, through the device.
        _ok(await self.run(system, commands.copy(DATA_VA + PAGE, SCRATCH_VA, SECRET_SIZE)))
        assert await self.scratch_map.read(0, SECRET_SIZE) == self.data[PAGE : PAGE + SECRET_SIZE]


async def _pair(system):
    a = await _Tenant.create(system, 1000)
    b = await _Tenant.create(system, 2000, secret=False)
    return a, b


@case
async def iso_foreign_va_efault(system):
    a, b = await _pair(system)
    # B's address space has nothing at A's SECRET_VA and SCRATCH_VA: reads and writes fault.
    attempts = [
        (commands.copy(SECRET_VA, DATA_VA, 64), SECRET_VA),
        (commands.copy(SECRET_VA + PAGE + 16, DATA_VA, 64), SECRET_VA + PAGE + 16),
        (commands.fill(SECRET_VA, SECRET_SIZE, 0xBAD0BAD0), SECRET_VA),
        (commands.write_value(SCRATCH_VA + 8, 0xBAD), SCRATCH_VA + 8),
        (commands.copy(DATA_VA, SECRET_VA + PAGE, 256), SECRET_VA + PAGE),
    ]
    for cmd, va in attempts:
        _fault(await run_job(b.stage, system, cmd), va)
        await a.check(system)
    # B's data buffer is not where A's is: B's copy of A's secret range never got A's bytes.
    assert await b.stage.read(0, b.stage.size) == b.data
    # Nor can B run a stream from A's addresses: they are no executable mapping of B's.
    await a.secret_map.write(0, commands.stream(commands.fill(SECRET_VA, 64, 0xBAD0BAD0)))
    a.secret_data = await a.secret_map.read(0, SECRET_SIZE)
    with expect(errno.EINVAL):
        await b.client.submit(b.stage.context, SECRET_VA, 32, handles=(b.stage.data,))
    await a.check(system)
    # B's context works on.
    _ok(await run_job(b.stage, system, commands.copy(DATA_VA, DATA_VA + PAGE, 64)))
    assert await b.stage.read(PAGE, 64) == b.data[:64]


@case
async def iso_same_va_private(system):
    a, b = await _pair(system)
    # Both have their data buffer at DATA_VA: B's writes there land in B's buffer only.
    _ok(await run_job(b.stage, system, commands.fill(DATA_VA, b.stage.size, 0x0B0B0B0B)))
    assert await b.stage.read(0, b.stage.size) == b"\x0b" * b.stage.size
    b.data = b"\x0b" * b.stage.size
    await a.check(system)
    # B maps a buffer of its own at A's SECRET_VA: it sees its own bytes there.
    mine = await b.client.bo_create(SECRET_SIZE)
    mine_map = await b.client.mmap(mine, SECRET_SIZE)
    mine_data = _pattern(3000, SECRET_SIZE)
    await mine_map.write(0, mine_data)
    await b.client.vm_map(b.stage.context, mine, SECRET_VA, SECRET_SIZE)
    handles = (b.stage.stream, b.stage.data, mine)
    _ok(
        await run_job(
            b.stage, system, commands.copy(SECRET_VA, DATA_VA, SECRET_SIZE), handles=handles
        )
    )
    assert await b.stage.read(0, SECRET_SIZE) == mine_data
    b.data = mine_data + b.data[SECRET_SIZE:]
    _ok(
        await run_job(
            b.stage, system, commands.fill(SECRET_VA, SECRET_SIZE, 0x0C0C0C0C), handles=handles
        )
    )
    assert await mine_map.read(0, SECRET_SIZE) == b"\x0c" * SECRET_SIZE
    await a.check(system)
    # Unmapping in B's context leaves A's mappings: A's jobs still reach DATA_VA and SECRET_VA.
    await b.client.vm_unmap(b.stage.context, DATA_VA, b.stage.size)
    await b.client.vm_unmap(b.stage.context, SECRET_VA, SECRET_SIZE)
    with expect(errno.ENOENT):  # and B cannot unmap A's SCRATCH_VA: it is not B's
        await b.client.vm_unmap(b.stage.context, SCRATCH_VA, SECRET_SIZE)
    _fault(await run_job(b.stage, system, commands.copy(SECRET_VA, STREAM_VA + 512, 8)), SECRET_VA)
    await a.check(system)
    # Nor does destroying B's context.
    await b.client.context_destroy(b.stage.context)
    await a.check(system)


@case
async def iso_unowned_addresses_efault(system):
    a, b = await _pair(system)
    query = await b.client.query()
    end = query["va_end"]
    # The NULL page, the page past each of B's mappings, addresses in the range of host memory
    # the driver allocates from (A's pages are there), and addresses past the address space.
    reads = [
        0,
        8,
        query["va_start"],
        STREAM_VA + PAGE,
        DATA_VA + b.stage.size,
        0x30_0000,
        0x100_0000,
        0x200_0000,
        0x390_0000 - 8,
        1 << 38,
        end - 8,
    ]
    for va in reads:
        _fault(await run_job(b.stage, system, commands.copy(va, DATA_VA, 8)), va)
    await a.check(system)
    writes = [0, 0x40_0000, 0x180_0000, 0x300_0000, end - 8]
    for va in writes:
        _fault(await run_job(b.stage, system, commands.write_value(va, 0xBAD)), va)
        _fault(await run_job(b.stage, system, commands.fill(va, 64, 0xBAD0BAD0)), va)
    await a.check(system)
    # Past the MMU's input range the walk itself faults...
    for va in (end, end + PAGE, (1 << 40) - 8):
        _fault(await run_job(b.stage, system, commands.copy(va, DATA_VA, 8)), va)
        _fault(await run_job(b.stage, system, commands.write_value(va, 0xBAD)), va)
    # ... and regions past the device's 40-bit addresses are refused as commands (EINVAL),
    # before any access.
    for va in (1 << 40, 1 << 63, (1 << 64) - 8):
        for cmd in (commands.copy(va, DATA_VA, 8), commands.write_value(va, 0xBAD)):
            reply = await run_job(b.stage, system, cmd)
            assert reply["job_errno"] == errno.EINVAL and reply["hw_error"] != 0, reply
            assert reply["fault_va"] == 0 and reply["hw_offset"] == 0, reply
    assert await b.stage.read(0, b.stage.size) == b.data
    await a.check(system)
    _ok(await run_job(b.stage, system, commands.copy(DATA_VA, DATA_VA + PAGE, 64)))


@case
async def iso_foreign_bo_handles_enoent(system):
    a, b = await _pair(system)
    # A holds handles 1 to 4 (stream, data, secret, scratch) and two more; B only 1 and 2.
    extra_data = _pattern(1100, PAGE)
    extras = [await a.client.bo_create(PAGE) for _ in range(2)]
    for handle in extras:
        cpu = await a.client.mmap(handle, PAGE)
        await cpu.write(0, extra_data)
    assert (b.stage.stream, b.stage.data) == (1, 2)
    assert a.handles == (1, 2, 3, 4) and extras == [5, 6]
    ctx = b.stage.context
    for handle in (a.secret, a.scratch, *extras):
        with expect(errno.ENOENT):
            await b.client.vm_map(ctx, handle, OTHER_VA, PAGE)
        with expect(errno.ENOENT):
            await b.client.ioctl(Ioctl.BO_MMAP, handle=handle)
        with expect(errno.ENOENT):
            await b.client.bo_close(handle)
        with expect(errno.ENOENT):
            await b.client.wait_bo(handle, system.now_ns() + _WITHIN_NS)
        with expect(errno.ENOENT):
            await b.stage.submit(commands.nop(), handles=(b.stage.stream, handle))
        with expect(errno.ENOENT):
            await b.client.submit(ctx, STREAM_VA, 8, handles=(b.stage.data, handle))
    # Nothing got mapped in B's context, and B's stream never ran.
    _fault(await run_job(b.stage, system, commands.copy(OTHER_VA, DATA_VA, 8)), OTHER_VA)
    # The numbers B shares with A name B's own buffers.
    a_offset = (await a.client.ioctl(Ioctl.BO_MMAP, handle=a.stage.data))["offset"]
    b_offset = (await b.client.ioctl(Ioctl.BO_MMAP, handle=b.stage.data))["offset"]
    assert a_offset != b_offset
    await b.client.vm_map(ctx, b.stage.data, OTHER_VA, PAGE, bo_offset=PAGE)
    _ok(await run_job(b.stage, system, commands.copy(OTHER_VA, DATA_VA, 64)))
    assert await b.stage.read(0, 64) == b.data[PAGE : PAGE + 64]
    b.data = b.data[PAGE : PAGE + 64] + b.data[64:]
    # A's handles all still work.
    for handle in extras:
        await a.client.vm_map(a.stage.context, handle, OTHER_VA + (handle - 5) * PAGE, PAGE)
    _ok(
        await run_job(
            a.stage,
            system,
            commands.copy(OTHER_VA, SCRATCH_VA, 2 * PAGE),
            handles=(*a.handles, *extras),
        )
    )
    assert await a.scratch_map.read(0, 2 * PAGE) == extra_data * 2
    await a.client.wait_bo(a.secret, system.now_ns() + _WITHIN_NS)
    await a.check(system)
    assert await b.stage.read(0, b.stage.size) == b.data


@case
async def iso_foreign_context_enoent(system):
    a, b = await _pair(system)
    a_ctx2 = await a.client.context_create()
    assert (a.stage.context, a_ctx2, b.stage.context) == (1, 2, 1)
    await a.client.vm_map(a_ctx2, a.secret, SECRET_VA, SECRET_SIZE)
    await a.client.vm_map(a_ctx2, a.stage.stream, STREAM_VA, PAGE)
    await a.client.vm_map(a_ctx2, a.scratch, SCRATCH_VA, SECRET_SIZE)
    bc = b.client
    for ctx in (a_ctx2, 3, 0):
        with expect(errno.ENOENT):
            await bc.vm_map(ctx, b.stage.data, OTHER_VA, PAGE)
        with expect(errno.ENOENT):
            await bc.vm_unmap(ctx, SECRET_VA, SECRET_SIZE)
        with expect(errno.ENOENT):
            await bc.submit(ctx, STREAM_VA, 8, handles=(b.stage.stream,))
        with expect(errno.ENOENT):
            await bc.wait(ctx, 1, system.now_ns() + _WITHIN_NS)
        with expect(errno.ENOENT):
            await bc.reset_status(ctx)
        with expect(errno.ENOENT):
            await bc.context_destroy(ctx)
    # B's context 1 is B's own: A's mappings are not in it.
    with expect(errno.ENOENT):
        await bc.vm_unmap(b.stage.context, SECRET_VA, SECRET_SIZE)
    # A's second context is intact: its mappings and jobs work.
    await a.scratch_map.write(0, bytes(SECRET_SIZE))
    await a.stage.stream_map.write(0, commands.copy(SECRET_VA, SCRATCH_VA, SECRET_SIZE))
    seqno = await a.client.submit(a_ctx2, STREAM_VA, 40, handles=a.handles)
    _ok(await a.client.wait(a_ctx2, seqno, system.now_ns() + _WITHIN_NS))
    assert await a.scratch_map.read(0, SECRET_SIZE) == a.secret_data
    status = await a.client.reset_status(a_ctx2)
    assert status == {"resets": 0, "hangs": 0, "canceled": 0, "banned": 0}
    await a.client.vm_unmap(a_ctx2, SECRET_VA, SECRET_SIZE)
    await a.client.context_destroy(a_ctx2)
    await a.check(system)
    _ok(await run_job(b.stage, system, commands.copy(DATA_VA, DATA_VA + PAGE, 64)))


@case
async def iso_in_sync_foreign_context(system):
    a, b = await _pair(system)
    a_ctx2 = await a.client.context_create()
    await a.client.vm_map(a_ctx2, a.stage.stream, STREAM_VA, PAGE)
    await a.stage.stream_map.write(0, commands.nop())
    a2_seqno = await a.client.submit(a_ctx2, STREAM_VA, 8, handles=(a.stage.stream,))
    for _ in range(3):  # A's context 1 is at fence 3
        _ok(await a.run(system, commands.nop()))
    b_seqno = await b.stage.submit(commands.nop())
    _ok(await b.stage.wait(b_seqno, system))
    ctx = b.stage.context
    bad = [
        ([(a_ctx2, a2_seqno)], errno.ENOENT),  # A's second context: no such context in B
        ([(ctx, b_seqno), (a_ctx2, 1)], errno.ENOENT),
        ([(ctx, 3)], errno.EINVAL),  # B's context 1 issued fence 1, not A's 3
        ([(ctx, 2)], errno.EINVAL),
    ]
    for syncs, code in bad:
        with expect(code):
            await b.stage.submit(commands.fill(DATA_VA, 64, 0xBAD0BAD0), in_syncs=syncs)
    with expect(errno.EINVAL):  # B cannot wait for A's fences either
        await b.client.wait(ctx, 3, system.now_ns() + _WITHIN_NS)
    with expect(errno.ENOENT):
        await b.client.wait(a_ctx2, a2_seqno, system.now_ns() + _WITHIN_NS)
    # None of the refused jobs ran; B's own in-sync works.
    seqno = await b.stage.submit(commands.copy(DATA_VA, DATA_VA + PAGE, 64), in_syncs=[(ctx, 1)])
    assert seqno == b_seqno + 1
    _ok(await b.stage.wait(seqno, system))
    assert await b.stage.read(0, b.stage.size) == b.data[:PAGE] + b.data[:64] + b.data[PAGE + 64 :]
    _ok(await a.client.wait(a_ctx2, a2_seqno, system.now_ns() + _WITHIN_NS))
    await a.check(system)


@case
async def iso_mmap_foreign_offset_eacces(system):
    a, b = await _pair(system)
    a_offset = (await a.client.ioctl(Ioctl.BO_MMAP, handle=a.secret))["offset"]
    bf = b.client.file
    for offset, length in (
        (a_offset, PAGE),
        (a_offset, SECRET_SIZE),
        (a_offset, 1),
        (a_offset + PAGE, PAGE),  # inside A's buffer
        (a_offset - PAGE, PAGE),
    ):
        with expect(errno.EACCES):
            await bf.mmap(offset, length)
    # A's data-buffer offset too (A has a CPU mapping of it open).
    a_data_offset = (await a.client.ioctl(Ioctl.BO_MMAP, handle=a.stage.data))["offset"]
    with expect(errno.EACCES):
        await bf.mmap(a_data_offset, PAGE)
    # B's own offsets work, and are not A's.
    b_offset = (await b.client.ioctl(Ioctl.BO_MMAP, handle=b.stage.data))["offset"]
    assert b_offset not in (a_offset, a_data_offset)
    mine = await bf.mmap(b_offset, PAGE)
    try:
        assert await mine.read(0, PAGE) == b.data[:PAGE]
    finally:
        mine.close()
    # A buffer A closed: its offset is dead for everyone, and never handed out again.
    spare = await a.client.bo_create(PAGE)
    spare_offset = (await a.client.ioctl(Ioctl.BO_MMAP, handle=spare))["offset"]
    await a.client.bo_close(spare)
    with expect(errno.EACCES):
        await bf.mmap(spare_offset, PAGE)
    with expect(errno.EACCES):
        await a.client.file.mmap(spare_offset, PAGE)
    fresh = await b.client.bo_create(PAGE)
    fresh_offset = (await b.client.ioctl(Ioctl.BO_MMAP, handle=fresh))["offset"]
    assert fresh_offset not in (spare_offset, a_offset, a_data_offset)
    with expect(errno.EACCES):
        await bf.mmap(spare_offset, PAGE)
    # A's buffer whose handle A closed while A still maps it: still not B's.
    await a.client.bo_close(a.scratch)
    with expect(errno.EACCES):
        await bf.mmap(a_offset + SECRET_SIZE, PAGE)
    a.scratch = None  # still mapped at SCRATCH_VA and on the CPU, through A's mappings
    await a.check(system)
    assert await a.secret_map.read(0, SECRET_SIZE) == a.secret_data
    _ok(await run_job(a.stage, system, commands.copy(SECRET_VA, SCRATCH_VA, 64)))
    assert await a.scratch_map.read(0, 64) == a.secret_data[:64]


@case
async def iso_copy_past_mapping_end(system):
    a = await _Tenant.create(system, 1000)
    b = await _Tenant.create(system, 2000, secret=False)
    # B's buffer, then A's right after it in host memory.
    edge = await b.client.bo_create(2 * PAGE)
    neighbour = await a.client.bo_create(2 * PAGE)
    edge_map = await b.client.mmap(edge, 2 * PAGE)
    neighbour_map = await a.client.mmap(neighbour, 2 * PAGE)
    edge_data, neighbour_data = _pattern(2100, 2 * PAGE), _pattern(1200, 2 * PAGE)
    await edge_map.write(0, edge_data)
    await neighbour_map.write(0, neighbour_data)
    await a.client.vm_map(a.stage.context, neighbour, OTHER_VA, 2 * PAGE)
    ctx, x = b.stage.context, OTHER_VA
    # No mapping of B's buffer reaches past its end.
    for offset, size in ((0, 3 * PAGE), (PAGE, 2 * PAGE), (2 * PAGE, PAGE)):
        with expect(errno.EINVAL):
            await b.client.vm_map(ctx, edge, x, size, bo_offset=offset)
    await b.client.vm_map(ctx, edge, x, 2 * PAGE)
    handles = (b.stage.stream, b.stage.data, edge)
    end = x + 2 * PAGE
    attempts = [
        (commands.copy(x, end, 64), end),
        (commands.copy(x, end - 32, 64), end),  # a copy straddling the end
        (commands.fill(x + PAGE, 2 * PAGE, 0xBAD0BAD0), end),
        (commands.fill(end, 64, 0xBAD0BAD0), end),
        (commands.write_value(end, 0xBAD), end),
        (commands.copy(end - 32, DATA_VA, 64), end),  # and reads
        (commands.copy(end, DATA_VA, 2 * PAGE), end),
    ]
    for cmd, va in attempts:
        _fault(await run_job(b.stage, system, cmd, handles=handles), va)
        assert await neighbour_map.read(0, 2 * PAGE) == neighbour_data
    # B's own buffer took the writes below its end and nothing else.
    got = await edge_map.read(0, 2 * PAGE)
    assert got[:PAGE] == edge_data[:PAGE]
    # A's neighbour is intact, through the device too.
    _ok(
        await run_job(
            a.stage,
            system,
            commands.copy(OTHER_VA, SCRATCH_VA, 2 * PAGE),
            handles=(*a.handles, neighbour),
        )
    )
    assert await a.scratch_map.read(0, 2 * PAGE) == neighbour_data
    await a.check(system)
    # Mapping only the first page of B's buffer: the second is as out of reach.
    await b.client.vm_unmap(ctx, x, 2 * PAGE)
    await b.client.vm_map(ctx, edge, x, PAGE)
    before = await edge_map.read(PAGE, PAGE)
    _fault(
        await run_job(b.stage, system, commands.fill(x, 2 * PAGE, 0x11111111), handles=handles),
        x + PAGE,
    )
    assert await edge_map.read(PAGE, PAGE) == before
    assert await neighbour_map.read(0, 2 * PAGE) == neighbour_data
    await a.check(system)


async def _run_in(client, context, stream_map, system, *cmds, handles):
    """Write ``cmds`` at the start of ``stream_map`` (mapped at STREAM_VA) and run them."""
    data = commands.stream(*cmds)
    await stream_map.write(0, data)
    seqno = await client.submit(context, STREAM_VA, len(data), handles=handles)
    return await client.wait(context, seqno, system.now_ns() + _WITHIN_NS)


@case
async def iso_freed_pages_unreachable(system):
    a, b = await _pair(system)
    ctx = b.stage.context
    # B reads its buffer at OTHER_VA (the translation is now in the TLB), unmaps and frees it.
    old = await b.client.bo_create(2 * PAGE)
    old_map = await b.client.mmap(old, 2 * PAGE)
    await old_map.write(0, _pattern(2200, 2 * PAGE))
    await b.client.vm_map(ctx, old, OTHER_VA, 2 * PAGE)
    _ok(await run_job(b.stage, system, commands.copy(OTHER_VA, DATA_VA, 64)))
    assert await b.stage.read(0, 64) == _pattern(2200, 2 * PAGE)[:64]
    b.data = _pattern(2200, 64) + b.data[64:]
    await b.client.vm_unmap(ctx, OTHER_VA, 2 * PAGE)
    old_map.close()
    await b.client.bo_close(old)
    # A's new buffers (the freed pages among them) start zeroed, then hold A's secrets.
    secrets = []
    for i in range(4):
        handle = await a.client.bo_create(2 * PAGE)
        cpu = await a.client.mmap(handle, 2 * PAGE)
        assert await cpu.read(0, 2 * PAGE) == bytes(2 * PAGE)
        secret = _pattern(1300 + i, 2 * PAGE)
        await cpu.write(0, secret)
        await a.client.vm_map(a.stage.context, handle, OTHER_VA + 2 * i * PAGE, 2 * PAGE)
        secrets.append((handle, cpu, secret))
    # B's old address reaches nothing.
    for va in (OTHER_VA, OTHER_VA + PAGE + 64):
        _fault(await run_job(b.stage, system, commands.copy(va, DATA_VA, 64)), va)
        _fault(await run_job(b.stage, system, commands.write_value(va, 0xBAD)), va)
    assert await b.stage.read(0, b.stage.size) == b.data
    for _handle, cpu, secret in secrets:
        assert await cpu.read(0, 2 * PAGE) == secret
    _ok(await a.run(system, commands.copy(OTHER_VA + 6 * PAGE, SCRATCH_VA, 2 * PAGE)))
    assert await a.scratch_map.read(0, 2 * PAGE) == secrets[3][2]
    await a.check(system)


@case
async def iso_context_reuse_no_stale_mappings(system):
    a, b = await _pair(system)
    # B reads through its mappings (the TLB holds them), then destroys its context; A's new
    # context takes its place in the hardware.
    _ok(await run_job(b.stage, system, commands.copy(DATA_VA, DATA_VA + PAGE, 64)))
    b.data = b.data[:PAGE] + b.data[:64] + b.data[PAGE + 64 :]
    await b.client.context_destroy(b.stage.context)
    a_ctx = await a.client.context_create()
    await a.client.vm_map(a_ctx, a.stage.stream, STREAM_VA, PAGE)
    await a.client.vm_map(a_ctx, a.scratch, SCRATCH_VA, SECRET_SIZE)
    await a.scratch_map.write(0, bytes(SECRET_SIZE))
    for va in (DATA_VA, DATA_VA + PAGE, SECRET_VA):  # B's mappings, and A's of the other context
        reply = await _run_in(
            a.client,
            a_ctx,
            a.stage.stream_map,
            system,
            commands.copy(va, SCRATCH_VA, 64),
            handles=a.handles,
        )
        _fault(reply, va)
    assert await a.scratch_map.read(0, SECRET_SIZE) == bytes(SECRET_SIZE)
    assert await b.stage.read(0, b.stage.size) == b.data
    # The other way round: A reads its secret in the new context, destroys it; B's new context
    # cannot reach the secret's address.
    await a.client.vm_map(a_ctx, a.secret, SECRET_VA, SECRET_SIZE)
    reply = await _run_in(
        a.client,
        a_ctx,
        a.stage.stream_map,
        system,
        commands.copy(SECRET_VA, SCRATCH_VA, SECRET_SIZE),
        handles=a.handles,
    )
    _ok(reply)
    assert await a.scratch_map.read(0, SECRET_SIZE) == a.secret_data
    await a.client.context_destroy(a_ctx)
    b_ctx = await b.client.context_create()
    await b.client.vm_map(b_ctx, b.stage.stream, STREAM_VA, PAGE)
    await b.client.vm_map(b_ctx, b.stage.data, DATA_VA, b.stage.size)
    b_handles = (b.stage.stream, b.stage.data)
    for va in (SECRET_VA, SECRET_VA + PAGE, SCRATCH_VA):
        reply = await _run_in(
            b.client,
            b_ctx,
            b.stage.stream_map,
            system,
            commands.copy(va, DATA_VA, 64),
            handles=b_handles,
        )
        _fault(reply, va)
    assert await b.stage.read(0, b.stage.size) == b.data
    await a.check(system)


@case
async def iso_foreign_user_pointers_efault(system):
    a, b = await _pair(system)
    # A's process memory holds a handle array and an in-sync; B's pointers are its own.
    _ok(await a.run(system, commands.nop()))
    a_handles = a.client.user.alloc(b"".join(h.to_bytes(4, "little") for h in a.handles))
    sync = a.stage.context.to_bytes(4, "little") + bytes(4) + (1).to_bytes(8, "little")
    a_syncs = a.client.user.alloc(sync)  # a SyncPoint: context, reserved, seqno
    await b.stage.stream_map.write(0, commands.fill(DATA_VA, 64, 0xBAD0BAD0))
    ctx = b.stage.context
    for fields in (
        {"handles": a_handles, "handle_count": 2},
        {"handles": a_handles, "handle_count": 1},
        {"in_syncs": a_syncs, "in_sync_count": 1},
    ):
        with expect(errno.EFAULT):
            await b.client.ioctl(Ioctl.SUBMIT, context=ctx, cmd_va=STREAM_VA, cmd_size=32, **fields)
    a.client.user.free(a_handles)
    a.client.user.free(a_syncs)
    # Nothing ran in B's context: its next fence is 1.
    assert await b.stage.read(0, b.stage.size) == b.data
    seqno = await b.stage.submit(commands.copy(DATA_VA, DATA_VA + PAGE, 64))
    assert seqno == 1
    _ok(await b.stage.wait(seqno, system))
    assert await b.stage.read(PAGE, 64) == b.data[:64]
    await a.check(system)
