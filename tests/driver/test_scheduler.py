"""The scheduler through the uAPI on the scripted backend, to the nanosecond of the virtual clock.

Timeouts (neither early nor late, from the time a job reaches the head of the hardware queue),
bans at exactly their threshold, retry order after an address-space stop, cancel on destroy, a
device that does not come back from a reset, lost and spurious interrupts, in-fences, and the
turns contexts take.
"""

import errno

import pytest
from fakes import CMD_VA, Behaviour, make_device, stage
from tinynpu.driver.backend import Outcome
from tinynpu.driver.uapi import UapiError

PAGE = 4096
FAR = 1 << 40
NOP = 8
A, B, C = CMD_VA, CMD_VA + 8, CMD_VA + 16  # three command streams, told apart by the script


async def refused(code, call):
    with pytest.raises(UapiError) as info:
        await call
    assert info.value.errno == code, info.value


async def wait(client, context, seqno, deadline=FAR):
    return (await client.wait(context, seqno, deadline))["job_errno"]


def test_timeout_fires_at_its_time_not_before():
    platform, backend, device = make_device()
    backend.script[A] = Behaviour(ns=None)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqno = await client.submit(context, A, NOP, timeout_ns=10_000)
        await refused(errno.ETIMEDOUT, client.wait(context, seqno, 9_999))
        assert (platform.now, backend.resets) == (9_999, 0)
        assert await wait(client, context, seqno) == errno.ETIMEDOUT
        assert (platform.now, backend.resets, device.sched.resets) == (10_000, 1, 1)
        assert await client.reset_status(context) == {
            "resets": 1,
            "hangs": 1,
            "canceled": 0,
            "banned": 0,
        }

    platform.run(main())


def test_a_job_just_inside_its_timeout_completes():
    platform, backend, device = make_device()
    backend.script[A] = Behaviour(ns=9_999)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqno = await client.submit(context, A, NOP, timeout_ns=10_000)
        assert await wait(client, context, seqno) == 0
        assert platform.now == 9_999
        await platform.sleep_ns(100_000)
        assert backend.resets == 0  # the watchdog was stopped

    platform.run(main())


def test_timeout_counts_from_the_head_of_the_hardware_queue():
    platform, backend, device = make_device(queue_depth=2)
    backend.script[A] = Behaviour(ns=5_000)
    backend.script[B] = Behaviour(ns=None)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        first = await client.submit(context, A, NOP, timeout_ns=6_000)
        second = await client.submit(context, B, NOP, timeout_ns=10_000)
        assert [cmd for _, _, cmd in backend.runs] == [A, B]  # both on the hardware at once
        assert await wait(client, context, first) == 0
        assert await wait(client, context, second) == errno.ETIMEDOUT
        assert platform.now == 15_000

    platform.run(main())


def test_reset_cancels_the_other_jobs_on_the_hardware_and_runs_the_queued():
    platform, backend, device = make_device(queue_depth=2)
    backend.script[A] = Behaviour(ns=None)

    async def main():
        await device.start()
        a, guilty_ctx, _ = await stage(device)
        b, ctx, _ = await stage(device)
        guilty = await a.submit(guilty_ctx, A, NOP, timeout_ns=10_000)
        lost = await b.submit(ctx, B, NOP)
        queued = await b.submit(ctx, C, NOP)
        assert await wait(a, guilty_ctx, guilty) == errno.ETIMEDOUT
        assert await wait(b, ctx, lost) == errno.ECANCELED
        assert await wait(b, ctx, queued) == 0
        assert platform.now == 11_000
        assert [cmd for _, _, cmd in backend.runs] == [A, B, C]
        assert await b.reset_status(ctx) == {"resets": 1, "hangs": 0, "canceled": 1, "banned": 0}

    platform.run(main())


@pytest.mark.parametrize("threshold", [1, 3])
def test_ban_at_exactly_the_threshold(threshold):
    platform, backend, device = make_device(ban_hangs=threshold, client_ban_hangs=10)
    backend.script[A] = Behaviour(ns=None)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        for hang in range(1, threshold + 1):
            assert (await client.reset_status(context))["banned"] == 0
            seqno = await client.submit(context, A, NOP, timeout_ns=1_000)
            assert await wait(client, context, seqno) == errno.ETIMEDOUT
            assert (await client.reset_status(context))["hangs"] == hang
        assert (await client.reset_status(context))["banned"] == 1
        await refused(errno.ECANCELED, client.submit(context, B, NOP))
        fresh = await client.context_create()  # the client is below its own threshold
        assert (await client.reset_status(fresh))["banned"] == 0

    platform.run(main())


def test_a_submit_that_waited_for_the_reset_of_a_ban_is_refused():
    platform, backend, device = make_device(ban_hangs=1)
    backend.script[A] = Behaviour(ns=None)
    backend.reset_ns = 500

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        guilty = await client.submit(context, A, NOP, timeout_ns=10_000)
        await platform.sleep_ns(10_100)  # the reset holds the lock until 10 500 ns
        await refused(errno.ECANCELED, client.submit(context, B, NOP))
        assert platform.now == 10_500
        assert await wait(client, context, guilty) == errno.ETIMEDOUT
        assert client.file.contexts[context].last_seqno == 1

    platform.run(main())


def test_retry_order_after_an_address_space_stop():
    platform, backend, device = make_device(queue_depth=3)
    backend.script[A] = Behaviour(ns=1_000, outcome=Outcome(error=errno.EFAULT, fault_va=0x4000))

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        other, theirs, _ = await stage(device)
        faulty = await client.submit(context, A, NOP)
        after = [await client.submit(context, cmd, NOP) for cmd in (B, C)]
        reply = await client.wait(context, faulty, FAR)
        assert (reply["job_errno"], reply["fault_va"]) == (errno.EFAULT, 0x4000)
        assert [await wait(client, context, seqno) for seqno in after] == [0, 0]
        mine = [cmd for _, asid, cmd in backend.runs if asid == 0]
        assert mine == [A, B, C, B, C]  # both ended without running, then ran in order
        resumes = [entry for entry in backend.log if entry[1] == "resume"]
        assert len(resumes) == 1
        ends = [entry for entry in backend.log if entry[1] == "end"]
        assert resumes[0][0] >= max(t for t, _, _, _, retry in ends if retry)
        theirs_seqno = await other.submit(theirs, A + 24, NOP)
        assert await wait(other, theirs, theirs_seqno) == 0
        assert (await client.reset_status(context))["resets"] == 0

    platform.run(main())


def test_a_lone_faulting_job_resumes_its_space_at_once():
    platform, backend, device = make_device()
    backend.script[A] = Behaviour(ns=1_000, outcome=Outcome(error=errno.EFAULT))

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqno = await client.submit(context, A, NOP)
        assert await wait(client, context, seqno) == errno.EFAULT
        await platform.sleep_ns(1)
        assert backend.log[-2:] == [(1_000, "end", 1, errno.EFAULT, False), (1_000, "resume", 0)]
        again = await client.submit(context, B, NOP)
        assert await wait(client, context, again) == 0
        assert [cmd for _, _, cmd in backend.runs] == [A, B]  # ran at once, no retry

    platform.run(main())


def test_destroy_cancels_the_jobs_a_fault_held_back():
    platform, backend, device = make_device(queue_depth=2)
    backend.script[A] = Behaviour(ns=1_000, outcome=Outcome(error=errno.EFAULT))

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqnos = [await client.submit(context, cmd, NOP) for cmd in (A, B)]
        fences = [client.file.contexts[context].fences[s] for s in seqnos]
        await client.context_destroy(context)
        assert [f.error for f in fences] == [errno.EFAULT, errno.ECANCELED]
        assert [cmd for _, _, cmd in backend.runs] == [A, B]  # B ended unrun and stayed so
        assert backend.log[-1][1:] == ("destroy", 0)

    platform.run(main())


def test_destroy_cancels_the_jobs_a_reset_puts_back():
    platform, backend, device = make_device(queue_depth=4)
    backend.script[A] = Behaviour(ns=1_000, outcome=Outcome(error=errno.EFAULT))
    backend.script[C] = Behaviour(ns=None)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        other, theirs, _ = await stage(device)
        mine = [await client.submit(context, A, NOP), await client.submit(context, B, NOP)]
        hang = await other.submit(theirs, C, NOP, timeout_ns=10_000)
        mine.append(await client.submit(context, B, NOP))  # behind the hang
        assert [asid for _, asid, _ in backend.runs] == [0, 0, 1, 0]
        fences = [client.file.contexts[context].fences[s] for s in mine]
        # B ends unrun on the stopped space and is held; the reset at the hang's timeout puts
        # it back in the queue of a context that is going away.
        await client.context_destroy(context)
        assert platform.now == 11_000
        assert [f.error for f in fences] == [errno.EFAULT, errno.ECANCELED, errno.ECANCELED]
        assert await wait(other, theirs, hang) == errno.ETIMEDOUT
        assert [cmd for _, _, cmd in backend.runs] == [A, B, C, B]

    platform.run(main())


def test_destroy_cancels_queued_jobs_and_waits_for_the_running_one():
    platform, backend, device = make_device(queue_depth=1)
    backend.script[A] = Behaviour(ns=5_000)

    async def main():
        await device.start()
        client, context, bo = await stage(device)
        seqnos = [await client.submit(context, cmd, NOP, handles=[bo]) for cmd in (A, B, C)]
        fences = [client.file.contexts[context].fences[s] for s in seqnos]
        destroy = platform.spawn(client.context_destroy(context))
        await platform.sleep_ns(1)
        assert [f.error for f in fences] == [None, errno.ECANCELED, errno.ECANCELED]
        await destroy
        assert [f.error for f in fences] == [0, errno.ECANCELED, errno.ECANCELED]
        assert platform.now == 5_000
        assert backend.log[-1] == (5_000, "destroy", 0)
        assert [cmd for _, _, cmd in backend.runs] == [A]
        await client.wait_bo(bo, 0)
        await refused(errno.ENOENT, client.wait(context, seqnos[0], FAR))

    platform.run(main())


def test_a_device_that_does_not_come_back_is_dead():
    platform, backend, device = make_device(queue_depth=1)
    backend.script[A] = Behaviour(ns=None)
    backend.reset_fails = True

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        other, theirs, _ = await stage(device)
        guilty = await client.submit(context, A, NOP, timeout_ns=10_000)
        queued = await other.submit(theirs, B, NOP)
        assert await wait(client, context, guilty) == errno.ETIMEDOUT
        assert await wait(other, theirs, queued) == errno.ECANCELED
        assert platform.now == 10_000
        await refused(errno.EIO, other.submit(theirs, B, NOP))
        assert await other.reset_status(theirs) == {
            "resets": 1,
            "hangs": 0,
            "canceled": 1,
            "banned": 0,
        }

    platform.run(main())


def test_a_lost_interrupt_is_found_at_the_timeout_without_a_reset():
    platform, backend, device = make_device()
    backend.lose_irqs = 1

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqno = await client.submit(context, A, NOP, timeout_ns=10_000)
        assert await wait(client, context, seqno) == 0
        assert (platform.now, backend.resets) == (10_000, 0)
        again = await client.submit(context, B, NOP)
        assert await wait(client, context, again) == 0
        assert platform.now == 11_000  # the interrupt works again

    platform.run(main())


def test_spurious_interrupts_change_nothing():
    platform, backend, device = make_device()
    backend.script[A] = Behaviour(ns=5_000)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        platform.raise_irq()  # nothing on the device yet
        seqno = await client.submit(context, A, NOP)
        for _ in range(3):
            await platform.sleep_ns(1_000)
            platform.raise_irq()
        assert not client.file.contexts[context].fences[seqno].signaled
        assert await wait(client, context, seqno) == 0
        assert (platform.now, backend.resets, platform.irqs) == (5_000, 0, 5)
        assert device.sched.irq_errors == []

    platform.run(main())


def test_a_failed_in_fence_cancels_its_dependants():
    platform, backend, device = make_device()
    backend.script[A] = Behaviour(ns=2_000, outcome=Outcome(error=errno.EINVAL, hw_error=3))
    backend.script[B] = Behaviour(ns=1_000)

    async def main():
        await device.start()
        a, ctx_a, _ = await stage(device)
        second = await a.context_create()
        bo = await a.bo_create(PAGE)
        await a.vm_map(second, bo, CMD_VA, PAGE)
        failing = await a.submit(ctx_a, A, NOP)
        good = await a.submit(ctx_a, C, NOP)
        blocked = await a.submit(second, B, NOP, in_syncs=[(ctx_a, failing)])
        after_good = await a.submit(second, B, NOP, in_syncs=[(ctx_a, good)])
        reply = await a.wait(ctx_a, failing, FAR)
        assert (reply["job_errno"], reply["hw_error"]) == (errno.EINVAL, 3)
        assert await wait(a, second, blocked) == errno.ECANCELED
        assert await wait(a, second, after_good) == 0
        assert [cmd for _, _, cmd in backend.runs] == [A, C, B]  # the blocked one never ran
        assert platform.now == 4_000

    platform.run(main())


def test_contexts_take_turns_on_the_hardware():
    platform, backend, device = make_device(queue_depth=1)

    async def main():
        await device.start()
        clients = [await stage(device) for _ in range(3)]
        counts = (3, 1, 2)
        seqnos = [
            [await client.submit(context, A, NOP) for _ in range(count)]
            for (client, context, _), count in zip(clients, counts, strict=True)
        ]
        for (client, context, _), mine in zip(clients, seqnos, strict=True):
            for seqno in mine:
                assert await wait(client, context, seqno) == 0
        assert [asid for _, asid, _ in backend.runs] == [0, 1, 2, 0, 2, 0]
        assert platform.now == 6_000

    platform.run(main())


def test_hardware_queue_holds_queue_depth_jobs():
    platform, backend, device = make_device(queue_depth=2, hw_depth=8)
    backend.default = Behaviour(ns=1_000)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqnos = [await client.submit(context, A, NOP) for _ in range(5)]
        assert len(backend.runs) == 2
        assert (await client.query())["queue_depth"] == 2
        await wait(client, context, seqnos[-1])
        assert platform.now == 5_000

    platform.run(main())


def test_unmap_with_a_job_on_the_hardware_is_ebusy():
    platform, backend, device = make_device()
    backend.script[A] = Behaviour(ns=3_000)

    async def main():
        await device.start()
        client, context, _ = await stage(device)
        seqno = await client.submit(context, A, NOP)
        await refused(errno.EBUSY, client.vm_unmap(context, CMD_VA, PAGE))
        await wait(client, context, seqno)
        await client.vm_unmap(context, CMD_VA, PAGE)
        await refused(errno.EINVAL, client.submit(context, A, NOP))  # no longer mapped

    platform.run(main())
