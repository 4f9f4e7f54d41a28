"""Per-client limits through the uAPI: memory and context quotas, bans that outlive contexts,
the timeout cap, and how DEV_QUERY reports them."""

import errno

import pytest
from fakes import CMD_VA, Behaviour, make_device, refused, stage
from tinynpu.driver.uapi import MIN_SIZES, PAGE_SIZE, REQUESTS, Ioctl
from tinynpu.rtl.layouts import nbytes, pack, unpack
from tinynpu.runtime.libtinynpu import Client

PAGE = PAGE_SIZE
FAR = 1 << 40
NOP = 8


def test_memory_quota_counts_buffers_and_page_tables():
    platform, _, device = make_device(max_client_bytes=8 * PAGE)

    async def main():
        await device.start()
        a, b = Client(device.open()), Client(device.open())
        context = await a.context_create()  # its level-1 table: one page
        tenant = a.file.tenant
        assert tenant.bytes == PAGE
        five = await a.bo_create(5 * PAGE)
        two = await a.bo_create(2 * PAGE)
        assert tenant.bytes == 8 * PAGE
        await refused(errno.EDQUOT, a.bo_create(1))
        await b.bo_create(8 * PAGE)  # another client's quota is its own
        # A mapping needs a level-2 and a level-3 table: past the quota, and undone.
        await refused(errno.EDQUOT, a.vm_map(context, two, CMD_VA, PAGE))
        assert tenant.bytes == 8 * PAGE
        space = a.file.contexts[context].entity.space
        assert space.table.iova_to_phys(CMD_VA) is None
        await a.bo_close(five)
        await a.vm_map(context, two, CMD_VA, 2 * PAGE)
        assert tenant.bytes == 5 * PAGE  # three table pages, the two of the buffer
        await a.bo_create(3 * PAGE)
        await a.bo_close(two)  # still mapped: still held
        await refused(errno.EDQUOT, a.bo_create(PAGE))
        await a.vm_unmap(context, CMD_VA, 2 * PAGE)  # frees the buffer and two tables
        assert tenant.bytes == 4 * PAGE
        await a.context_destroy(context)
        assert tenant.bytes == 3 * PAGE
        await a.close()
        assert tenant.bytes == 0
        query = await b.query()
        assert query["max_client_bytes"] == 8 * PAGE

    platform.run(main())


def test_destroying_a_context_returns_its_page_tables_to_the_quota():
    platform, _, device = make_device(max_client_bytes=6 * PAGE)

    async def main():
        await device.start()
        client, context, bo = await stage(device)  # a level-1, -2 and -3 table, one page
        tenant = client.file.tenant
        assert tenant.bytes == 4 * PAGE
        await client.vm_map(context, bo, 1 << 30, PAGE)  # a second level-2 and level-3 table
        assert tenant.bytes == 6 * PAGE
        await client.context_destroy(context)  # with its mappings
        assert tenant.bytes == PAGE
        await client.bo_create(5 * PAGE)

    platform.run(main())


def test_context_quota_is_per_client():
    platform, _, device = make_device(max_client_contexts=2)

    async def main():
        await device.start()
        a, b = Client(device.open()), Client(device.open())
        first = await a.context_create()
        await a.context_create()
        await refused(errno.EDQUOT, a.context_create())
        await b.context_create()
        await b.context_create()  # the device's fourth address space
        await refused(errno.EDQUOT, b.context_create())
        await a.context_destroy(first)
        assert await a.context_create() == 3
        await refused(errno.EDQUOT, a.context_create())
        assert (await a.query())["max_client_contexts"] == 2

    platform.run(main())


def test_device_limit_on_contexts_is_ebusy():
    platform, _, device = make_device(max_contexts=2)

    async def main():
        await device.start()
        a, b = Client(device.open()), Client(device.open())
        await a.context_create()
        await b.context_create()
        await refused(errno.EBUSY, a.context_create())
        assert (await a.query())["max_client_contexts"] == 2  # the device's, by default

    platform.run(main())


def test_client_ban_survives_recreating_contexts():
    platform, backend, device = make_device(ban_hangs=2, client_ban_hangs=3)
    backend.script[CMD_VA] = Behaviour(ns=None)  # hangs

    async def hang(client, context):
        seqno = await client.submit(context, CMD_VA, NOP, timeout_ns=10_000)
        assert (await client.wait(context, seqno, FAR))["job_errno"] == errno.ETIMEDOUT

    async def main():
        await device.start()
        a, first, _ = await stage(device)
        other, theirs, _ = await stage(device)
        await hang(a, first)
        await hang(a, first)
        await refused(errno.ECANCELED, a.submit(first, CMD_VA, NOP))  # the context is banned
        await a.context_destroy(first)
        second = await a.context_create()
        bo = await a.bo_create(PAGE)
        await a.vm_map(second, bo, CMD_VA, PAGE)
        status = await a.ioctl(Ioctl.GET_RESET_STATUS, context=second)
        assert (status["hangs"], status["client_hangs"], status["banned"]) == (0, 2, 0)
        await hang(a, second)  # the client's third
        status = await a.ioctl(Ioctl.GET_RESET_STATUS, context=second)
        assert (status["hangs"], status["client_hangs"], status["banned"]) == (1, 3, 1)
        await refused(errno.ECANCELED, a.submit(second, CMD_VA + 8, NOP))
        await refused(errno.EPERM, a.context_create())
        # Another client goes on.
        seqno = await other.submit(theirs, CMD_VA + 8, NOP)
        assert (await other.wait(theirs, seqno, FAR))["job_errno"] == 0
        assert (await other.ioctl(Ioctl.GET_RESET_STATUS, context=theirs))["client_hangs"] == 0
        assert (await a.query())["client_ban_hangs"] == 3

    platform.run(main())


def test_client_ban_cancels_the_queued_jobs_of_all_its_contexts():
    platform, backend, device = make_device(ban_hangs=5, client_ban_hangs=1, queue_depth=1)
    backend.script[CMD_VA] = Behaviour(ns=None)

    async def main():
        await device.start()
        a, first, bo = await stage(device)
        second = await a.context_create()
        await a.vm_map(second, bo, CMD_VA, PAGE)
        guilty = await a.submit(first, CMD_VA, NOP, timeout_ns=10_000)
        queued = await a.submit(second, CMD_VA + 8, NOP)
        assert (await a.wait(first, guilty, FAR))["job_errno"] == errno.ETIMEDOUT
        assert (await a.wait(second, queued, FAR))["job_errno"] == errno.ECANCELED
        assert platform.now == 10_000
        assert await a.reset_status(second) == {
            "resets": 1,
            "hangs": 0,
            "canceled": 1,
            "banned": 1,
        }

    platform.run(main())


def test_timeout_cap():
    platform, backend, device = make_device(default_timeout_ns=3_000, max_timeout_ns=50_000)
    backend.script[CMD_VA] = Behaviour(ns=None)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        await refused(errno.EINVAL, client.submit(context, CMD_VA, NOP, timeout_ns=50_001))
        await refused(errno.EINVAL, client.submit(context, CMD_VA, NOP, timeout_ns=1 << 63))
        capped = await client.submit(context, CMD_VA, NOP, timeout_ns=50_000)
        assert (await client.wait(context, capped, FAR))["job_errno"] == errno.ETIMEDOUT
        assert platform.now == 50_000
        default = await client.submit(context, CMD_VA, NOP)
        assert (await client.wait(context, default, FAR))["job_errno"] == errno.ETIMEDOUT
        assert platform.now == 53_000
        query = await client.query()
        assert (query["default_timeout_ns"], query["max_timeout_ns"]) == (3_000, 50_000)

    platform.run(main())


@pytest.mark.parametrize(
    "options",
    [
        {"max_timeout_ns": 1 << 33},  # past what the driver ever asks a platform to wait
        {"default_timeout_ns": 0},
        {"default_timeout_ns": 2_000, "max_timeout_ns": 1_000},
    ],
)
def test_timeouts_the_device_refuses(options):
    with pytest.raises(ValueError):
        make_device(**options)


def test_dev_query_of_the_first_version_gets_its_96_bytes():
    platform, _, device = make_device(max_client_bytes=12 * PAGE)

    async def main():
        await device.start()
        file = device.open()
        layout = REQUESTS[Ioctl.DEV_QUERY]
        old = MIN_SIZES[Ioctl.DEV_QUERY]
        assert (old, nbytes(layout)) == (96, 112)
        arg = bytearray(pack(layout, {"size": old})[:old]) + b"\xee" * 16
        await file.ioctl(Ioctl.DEV_QUERY, arg)
        assert arg[old:] == b"\xee" * 16  # past its size: not written
        reply = unpack(layout, bytes(arg[:old]).ljust(nbytes(layout), b"\0"))
        assert (reply["uapi_version"], reply["max_contexts"]) == (1 << 16 | 1, 4)
        full = await Client(file).query()
        limits = ("max_client_bytes", "max_client_contexts", "client_ban_hangs")
        assert tuple(full[k] for k in limits) == (12 * PAGE, 4, 4)

    platform.run(main())
