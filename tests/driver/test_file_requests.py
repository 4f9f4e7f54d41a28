"""The file layer's checks of each request, on the scripted backend: handles, SUBMIT's command
stream, arrays and in-syncs, WAIT's flags, VM_BIND's operations, CPU mappings and close."""

import errno

from fakes import CMD_VA, Behaviour, make_device, refused, stage
from tinynpu.driver.uapi import PAGE_SIZE, Ioctl, VmBindFlags, WaitFlags
from tinynpu.rtl.layouts import pack
from tinynpu.runtime.libtinynpu import Client

PAGE = PAGE_SIZE
FAR = 1 << 40
NOP = 8


def run(main, **options):
    platform, backend, device = make_device(**options)

    async def started():
        await device.start()
        await main(platform, backend, device)

    platform.run(started())


def test_handles_are_per_file_and_never_reused():
    async def main(platform, backend, device):
        a, b = Client(device.open()), Client(device.open())
        first = await a.bo_create(PAGE)
        assert first == 1 and await b.bo_create(PAGE) == 1
        await a.bo_close(first)
        assert await a.bo_create(PAGE) == 2
        await refused(errno.ENOENT, a.bo_close(first))
        await refused(errno.ENOENT, a.mmap(first, PAGE))
        await refused(errno.ENOENT, a.bo_close(3))
        context = await a.context_create()
        await a.context_destroy(context)
        await refused(errno.ENOENT, a.context_destroy(context))
        assert await a.context_create() == context + 1
        await refused(errno.ENOENT, a.reset_status(context))
        await refused(errno.ENOENT, b.reset_status(context + 1))  # a's, not b's

    run(main)


def test_unknown_flags_are_einval_for_every_request():
    async def main(platform, backend, device):
        client, context, bo = await stage(device)
        seqno = await client.submit(context, CMD_VA, NOP)
        valid = {
            Ioctl.DEV_QUERY: {},
            Ioctl.CONTEXT_CREATE: {},
            Ioctl.CONTEXT_DESTROY: {"handle": context},
            Ioctl.BO_CREATE: {"bo_size": PAGE},
            Ioctl.BO_MMAP: {"handle": bo},
            Ioctl.BO_CLOSE: {"handle": bo},
            Ioctl.SUBMIT: {"context": context, "cmd_va": CMD_VA, "cmd_size": 8},
            Ioctl.GET_RESET_STATUS: {"context": context},
        }
        for request, fields in valid.items():
            for flags in (1, 1 << 31):
                await refused(errno.EINVAL, client.ioctl(request, flags=flags, **fields))
        wait = {"handle": context, "seqno": seqno, "deadline_ns": FAR}
        await refused(errno.EINVAL, client.ioctl(Ioctl.WAIT, flags=WaitFlags.FENCE | 4, **wait))
        assert client.file.contexts[context].last_seqno == 1 and bo in client.file.bos
        assert len(client.file.contexts) == 1

    run(main)


def test_submit_checks_the_command_stream():
    async def main(platform, backend, device):
        client, context, _ = await stage(device, pages=2)
        limit = (await client.query())["max_cmd_size"]
        assert limit == 8192
        for va, size in ((CMD_VA, 0), (CMD_VA, 12), (CMD_VA + 4, 8), (CMD_VA, limit + 8)):
            await refused(errno.EINVAL, client.submit(context, va, size))
        await refused(errno.EINVAL, client.submit(context, CMD_VA + 2 * PAGE - 8, 16))  # past
        await refused(errno.EINVAL, client.submit(context, CMD_VA + 4 * PAGE, 8))  # unmapped
        noexec = await client.bo_create(PAGE)
        await client.vm_map(context, noexec, 0x80_0000, PAGE, flags=VmBindFlags.NO_EXEC)
        await refused(errno.EINVAL, client.submit(context, 0x80_0000, 8))
        seqno = await client.submit(context, CMD_VA + 2 * PAGE - 8, 8)
        await client.submit(context, CMD_VA, limit)  # exactly the limit
        assert seqno == 1
        assert (await client.wait(context, 2, FAR))["job_errno"] == 0
        await refused(errno.ENOENT, client.submit(99, CMD_VA, 8))

    run(main)


def test_submit_checks_its_arrays():
    async def main(platform, backend, device):
        client, context, bo = await stage(device)
        await refused(errno.ENOENT, client.submit(context, CMD_VA, NOP, handles=[bo, 7]))
        await refused(errno.EINVAL, client.submit(context, CMD_VA, NOP, handles=[bo] * 65))
        await client.submit(context, CMD_VA, NOP, handles=[bo] * 64)  # duplicates: one buffer
        await refused(
            errno.EINVAL, client.submit(context, CMD_VA, NOP, in_syncs=[(context, 1)] * 17)
        )
        await client.submit(context, CMD_VA, NOP, in_syncs=[(context, 1)] * 16)
        await refused(errno.EINVAL, client.submit(context, CMD_VA, NOP, in_syncs=[(context, 3)]))
        await refused(errno.EINVAL, client.submit(context, CMD_VA, NOP, in_syncs=[(context, 0)]))
        await refused(errno.ENOENT, client.submit(context, CMD_VA, NOP, in_syncs=[(9, 1)]))
        await refused(  # a bad pointer
            errno.EFAULT,
            client.ioctl(Ioctl.SUBMIT, context=context, cmd_va=CMD_VA, cmd_size=8, handle_count=1),
        )
        sync = bytearray(pack_sync(context, 1))
        sync[4] = 1  # its reserved word
        ptr = client.user.alloc(bytes(sync))
        await refused(
            errno.EINVAL,
            client.ioctl(
                Ioctl.SUBMIT, context=context, cmd_va=CMD_VA, cmd_size=8, in_syncs=ptr,
                in_sync_count=1,
            ),
        )  # fmt: skip
        assert client.file.contexts[context].last_seqno == 2
        assert bo in client.file.bos and client.file.bos[bo].refs >= 1

    run(main)


def pack_sync(context, seqno):
    from tinynpu.driver.uapi import SyncPoint

    return pack(SyncPoint, {"context": context, "seqno": seqno})


def test_a_job_holds_its_buffers_until_it_ends():
    async def main(platform, backend, device):
        backend.script[CMD_VA] = Behaviour(ns=4_000)
        client, context, bo = await stage(device)
        extra = await client.bo_create(3 * PAGE)
        buffer = client.file.bos[extra]
        seqno = await client.submit(context, CMD_VA, NOP, handles=[extra, bo])
        await client.bo_close(extra)
        assert buffer.refs == 1 and buffer.segments  # the job's reference
        await refused(errno.ETIMEDOUT, client.wait_bo(bo, 1_000))
        await client.wait(context, seqno, FAR)
        assert (buffer.refs, buffer.segments, platform.now) == (0, [], 4_000)

    run(main)


def test_wait_checks_its_flags():
    async def main(platform, backend, device):
        client, context, bo = await stage(device)
        seqno = await client.submit(context, CMD_VA, NOP)
        for flags in (0, WaitFlags.FENCE | WaitFlags.BO, 4):
            await refused(
                errno.EINVAL,
                client.ioctl(Ioctl.WAIT, flags=flags, handle=context, seqno=seqno, deadline_ns=FAR),
            )
        await refused(
            errno.EINVAL,
            client.ioctl(Ioctl.WAIT, flags=WaitFlags.BO, handle=bo, seqno=1, deadline_ns=FAR),
        )
        await refused(errno.EINVAL, client.wait(context, seqno + 1, FAR))
        await refused(errno.ETIMEDOUT, client.wait(context, seqno, 999))
        assert platform.now == 999
        await refused(errno.ETIMEDOUT, client.wait(context, seqno, 0))  # a deadline passed
        assert (await client.wait(context, seqno, 1_000))["job_errno"] == 0
        assert platform.now == 1_000
        assert (await client.wait(context, seqno, 0))["job_errno"] == 0  # signaled: no wait
        await client.wait_bo(bo, 0)

    run(main)


def test_vm_bind_checks_its_operation():
    async def main(platform, backend, device):
        client, context, bo = await stage(device)
        bind = {"context": context, "va": 0x20_0000, "range": PAGE}
        for flags, extra in (
            (0, {}),
            (VmBindFlags.MAP | VmBindFlags.UNMAP, {}),
            (VmBindFlags.UNMAP | VmBindFlags.READ_ONLY, {}),
            (VmBindFlags.UNMAP, {"handle": bo}),
            (VmBindFlags.UNMAP, {"bo_offset": PAGE}),
            (1 << 4 | VmBindFlags.MAP, {"handle": bo}),
        ):
            await refused(errno.EINVAL, client.ioctl(Ioctl.VM_BIND, flags=flags, **bind, **extra))
        await refused(errno.ENOENT, client.vm_map(context, 42, 0x20_0000, PAGE))
        await refused(errno.ENOENT, client.vm_map(42, bo, 0x20_0000, PAGE))
        await client.vm_map(context, bo, 0x20_0000, PAGE, flags=VmBindFlags.READ_ONLY)
        space = client.file.contexts[context].entity.space
        level, _, value = space.table.locate(0x20_0000)
        assert level == 3 and value >> 7 & 1  # ap_ro: read-only for the device
        mapping = client.file.contexts[context].vm.lookup(0x20_0000)
        assert mapping.prot.name == "READ"
        await client.vm_map(context, bo, 0x30_0000, PAGE)
        assert client.file.contexts[context].vm.lookup(0x30_0000).prot.name == "READ|WRITE"
        await client.vm_unmap(context, 0x20_0000, PAGE)
        assert space.table.iova_to_phys(0x20_0000) is None
        query = await client.query()
        top = query["va_end"] - PAGE
        await refused(errno.EINVAL, client.vm_map(context, bo, top + PAGE, PAGE))
        await refused(errno.EINVAL, client.vm_map(context, bo, query["va_start"] - PAGE, PAGE))
        await client.vm_map(context, bo, top, PAGE)  # the last page, and the first
        await client.vm_map(context, bo, query["va_start"], PAGE)
        assert space.table.iova_to_phys(top) == space.table.iova_to_phys(query["va_start"])

    run(main)


def test_cpu_mappings_belong_to_the_file():
    async def main(platform, backend, device):
        a, b = Client(device.open()), Client(device.open())
        mine = await a.bo_create(2 * PAGE)
        offset = (await a.ioctl(Ioctl.BO_MMAP, handle=mine))["offset"]
        await refused(errno.EACCES, b.file.mmap(offset, PAGE))
        await refused(errno.EACCES, a.file.mmap(offset + 2 * PAGE, PAGE))
        await refused(errno.EINVAL, a.file.mmap(offset, 0))
        await refused(errno.EINVAL, a.file.mmap(offset, 2 * PAGE + 1))
        cpu = await a.file.mmap(offset, 2 * PAGE)
        await cpu.write(PAGE - 2, b"abcd")
        assert await cpu.read(PAGE - 2, 4) == b"abcd"
        cpu.close()
        await a.close()
        await refused(errno.EBADF, a.file.mmap(offset, PAGE))
        await refused(errno.EBADF, a.query())
        assert device.memory.free_bytes == device.memory.size

    run(main)


def test_close_releases_contexts_after_their_jobs_and_every_buffer():
    async def main(platform, backend, device):
        backend.script[CMD_VA] = Behaviour(ns=7_000)
        client, context, bo = await stage(device, pages=3)
        await client.bo_create(5 * PAGE)
        await client.submit(context, CMD_VA, NOP, handles=[bo])
        queued = await client.submit(context, CMD_VA + 8, NOP)
        fence = client.file.contexts[context].fences[queued]
        await client.close()
        assert platform.now == 7_000 and fence.error == errno.ECANCELED
        assert backend.spaces == {} and device.files == []
        assert device.memory.free_bytes == device.memory.size
        await client.close()  # twice is harmless

    run(main, queue_depth=1)


def test_bo_create_checks_its_size():
    async def main(platform, backend, device):
        client = Client(device.open())
        await refused(errno.EINVAL, client.bo_create(0))
        await refused(errno.ENOMEM, client.bo_create(device.memory.size + 1))
        await refused(errno.EOVERFLOW, client.bo_create((1 << 64) - 1))
        handle = await client.bo_create(device.memory.size)  # the whole pool, exactly
        assert client.file.bos[handle].size == device.memory.size
        await refused(errno.ENOMEM, client.bo_create(1))
        await client.bo_close(handle)
        assert client.file.bos == {} and device.memory.free_bytes == device.memory.size
        one = await client.bo_create(1)
        assert client.file.bos[one].size == PAGE

    run(main, pages=16)
