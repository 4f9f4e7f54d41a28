"""Failures part-way through a request, through the uAPI on the scripted backend.

A failed VM_BIND leaves no descriptor behind; a job the backend refuses, and an interrupt whose
completion records cannot be read, end their jobs with ``EIO`` at once and reset the device;
a WAIT with a far deadline waits.
"""

import errno

import pytest
from fakes import CMD_VA, Behaviour, make_device, stage
from tinynpu.driver.uapi import PAGE_SIZE, UapiError
from tinynpu.runtime.libtinynpu import Client

INT64_MAX = (1 << 63) - 1
FAR = 1 << 40  # a deadline no test reaches
NOP = 8  # bytes of a command stream: the scripted device does not read it


def test_failed_bind_leaves_no_translation_for_another_clients_page():
    platform, backend, device = make_device(pages=64)

    async def main():
        await device.start()
        a = Client(device.open())
        context = await a.context_create()
        kept = await a.bo_create(PAGE_SIZE)
        await (await a.mmap(kept, PAGE_SIZE)).write(0, b"kept")
        await a.vm_map(context, kept, 4 << 20, PAGE_SIZE)  # a level-2 and a level-3 table
        victim = await a.bo_create(2 * PAGE_SIZE)
        await a.bo_create(device.memory.free_bytes - PAGE_SIZE)  # leave one page
        # Either page of the range needs a level-3 table of its own: the second finds none.
        boundary = 2 << 20
        with pytest.raises(UapiError) as info:
            await a.vm_map(context, victim, boundary - PAGE_SIZE, 2 * PAGE_SIZE)
        assert str(info.value) == "[Errno 12] ENOMEM: No 4096 free bytes aligned to 4096"
        with pytest.raises(UapiError) as info:
            await a.vm_unmap(context, boundary - PAGE_SIZE, 2 * PAGE_SIZE)
        assert info.value.errno == errno.ENOENT  # nothing is mapped: nothing is left either
        await a.bo_close(victim)
        b = Client(device.open())
        theirs = await b.bo_create(2 * PAGE_SIZE)
        await (await b.mmap(theirs, PAGE_SIZE)).write(0, b"secret of b")
        space = a.file.contexts[context].entity.space
        assert await backend.read(space, boundary - PAGE_SIZE, 11) is None
        assert await backend.read(space, 4 << 20, 4) == b"kept"  # the clean-up spared it
        await b.close()
        # The page left before the bind and the victim's two: no table page stayed behind.
        assert device.memory.free_bytes == 3 * PAGE_SIZE

    platform.run(main())


def test_job_refused_at_submit_fails_with_eio_and_resets():
    platform, backend, device = make_device()

    async def main():
        await device.start()
        client, context, bo = await stage(device)
        backend.refuse = errno.EIO
        seqno = await client.submit(context, CMD_VA, NOP, handles=[bo])
        reply = await client.wait(context, seqno, FAR)
        assert (reply["job_errno"], platform.now) == (errno.EIO, 0)
        assert backend.resets == 1
        await client.wait_bo(bo, 0)  # idle: the job let go of it
        backend.refuse = None
        again = await client.submit(context, CMD_VA, NOP)
        assert (await client.wait(context, again, FAR))["job_errno"] == 0
        assert platform.now == 1_000
        assert await client.reset_status(context) == {
            "resets": 1,
            "hangs": 0,
            "canceled": 0,
            "banned": 0,
        }
        await client.close()
        assert device.memory.free_bytes == device.memory.size  # every reference dropped

    platform.run(main())


def test_job_refused_when_the_queue_refills_does_not_hang_its_waiters():
    platform, backend, device = make_device(queue_depth=1)

    async def main():
        await device.start()
        client, context, bo = await stage(device, pages=2)
        backend.script[CMD_VA] = Behaviour(ns=5_000)
        first = await client.submit(context, CMD_VA, NOP)
        second = await client.submit(context, CMD_VA + PAGE_SIZE, NOP, handles=[bo])
        backend.refuse = errno.EIO  # the queue stops while the first job runs
        assert (await client.wait(context, first, FAR))["job_errno"] == 0
        reply = await client.wait(context, second, FAR)
        assert (reply["job_errno"], platform.now) == (errno.EIO, 5_000)
        await client.wait_bo(bo, platform.now)
        assert backend.resets == 1
        backend.refuse = None
        third = await client.submit(context, CMD_VA, NOP)
        assert (await client.wait(context, third, FAR))["job_errno"] == 0
        assert platform.now == 10_000

    platform.run(main())


def test_unreadable_completions_end_the_job_at_once_and_the_next_completes_by_interrupt():
    platform, backend, device = make_device()

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        backend.bad_irqs = 1
        seqno = await client.submit(context, CMD_VA, NOP)
        reply = await client.wait(context, seqno, FAR)
        assert (reply["job_errno"], platform.now) == (errno.EIO, 1_000)  # not at its timeout
        assert backend.resets == 1
        assert [error.errno for error in device.sched.irq_errors] == [errno.EIO]
        again = await client.submit(context, CMD_VA, NOP)
        assert (await client.wait(context, again, FAR))["job_errno"] == 0
        assert platform.now == 2_000  # by its interrupt, not by the watchdog
        assert (await client.reset_status(context))["resets"] == 1

    platform.run(main())


@pytest.mark.parametrize("deadline", [INT64_MAX, (1 << 64) - 1])
def test_wait_with_a_far_deadline_waits(deadline):
    platform, backend, device = make_device()

    async def main():
        await device.start()
        client, context, bo = await stage(device)
        backend.script[CMD_VA] = Behaviour(ns=30_000)
        seqno = await client.submit(context, CMD_VA, NOP, handles=[bo])
        await client.wait_bo(bo, deadline)
        assert platform.now == 30_000
        assert (await client.wait(context, seqno, deadline))["job_errno"] == 0

    platform.run(main())
