"""Conformance: scheduling, timeouts and resets, bans, faults, contexts and concurrent clients."""

import errno

from conformance_suite import DATA_VA, PAGE, Stage, case, expect, run_job
from tinynpu.runtime import commands

#: A job that runs far longer than the timeouts below: a FILL of 8 MiB (about a million cycles).
HANG_BYTES = 8 << 20
HANG_TIMEOUT_NS = 50_000
#: A job long enough to still be running when the next request comes: a FILL of 256 KiB.
LONG_BYTES = 256 << 10
MS = 1_000_000


def fill_all(size, pattern):
    return commands.fill(DATA_VA, PAGE, pattern, rows=size // PAGE)


async def submit_hang(stage):
    return await stage.submit(fill_all(HANG_BYTES, 0xDEADBEEF), timeout_ns=HANG_TIMEOUT_NS)


def copy_job(src, dst, length):
    return commands.copy(DATA_VA + src, DATA_VA + dst, length)


@case
async def hung_job_resets_device_innocent_jobs_run(system):
    a, b = system.open(), system.open()
    depth = (await a.query())["queue_depth"]
    hang = await Stage.create(a, HANG_BYTES)
    other = await Stage.create(b)
    await other.write(0, bytes(range(256)))
    guilty = await submit_hang(hang)
    jobs = [await other.submit(copy_job(0, 512 + 256 * i, 256)) for i in range(depth + 2)]
    reply = await hang.wait(guilty, system, within_ns=10 * MS)
    assert reply["job_errno"] == errno.ETIMEDOUT
    lost = depth - 1  # the jobs on the hardware with the guilty one
    for i, seqno in enumerate(jobs):
        reply = await other.wait(seqno, system)
        expected = errno.ECANCELED if i < lost else 0
        assert reply["job_errno"] == expected, (i, reply)
        copied = await other.read(512 + 256 * i, 256)
        assert copied == (bytes(256) if i < lost else bytes(range(256))), i
    assert await a.reset_status(hang.context) == {
        "resets": 1,
        "hangs": 1,
        "canceled": 0,
        "banned": 0,
    }
    assert await b.reset_status(other.context) == {
        "resets": 1,
        "hangs": 0,
        "canceled": lost,
        "banned": 0,
    }
    # The guilty context is not banned after one hang: its next job runs.
    reply = await run_job(hang, system, commands.write_value(DATA_VA, 0x1122334455667788))
    assert reply["job_errno"] == 0
    assert await hang.read(0, 8) == (0x1122334455667788).to_bytes(8, "little")


@case
async def repeated_hangs_ban_the_context_only(system):
    a, b = system.open(), system.open()
    query = await a.query()
    hang = await Stage.create(a, HANG_BYTES)
    other = await Stage.create(b)
    for _ in range(query["ban_hangs"]):
        reply = await hang.wait(await submit_hang(hang), system, within_ns=10 * MS)
        assert reply["job_errno"] == errno.ETIMEDOUT
    with expect(errno.ECANCELED):
        await hang.submit(commands.nop())
    status = await a.reset_status(hang.context)
    assert status == {"resets": 2, "hangs": 2, "canceled": 0, "banned": 1}
    # Other contexts, of this client and of others, go on.
    await other.write(0, b"innocent")
    assert (await run_job(other, system, copy_job(0, 64, 8)))["job_errno"] == 0
    assert await other.read(64, 8) == b"innocent"
    fresh = await Stage.create(a)
    assert (await run_job(fresh, system, commands.write_value(DATA_VA, 7)))["job_errno"] == 0
    assert (await a.reset_status(fresh.context))["banned"] == 0


@case
async def queued_jobs_of_a_banned_context_are_canceled(system):
    a = system.open()
    query = await a.query()
    hang = await Stage.create(a, HANG_BYTES)
    for _ in range(query["ban_hangs"] - 1):
        reply = await hang.wait(await submit_hang(hang), system, within_ns=10 * MS)
        assert reply["job_errno"] == errno.ETIMEDOUT
    last = await submit_hang(hang)
    queued = [
        await hang.submit(commands.write_value(DATA_VA + 8 * i, i + 1))
        for i in range(query["queue_depth"] + 1)
    ]
    assert (await hang.wait(last, system, within_ns=10 * MS))["job_errno"] == errno.ETIMEDOUT
    for seqno in queued:
        assert (await hang.wait(seqno, system))["job_errno"] == errno.ECANCELED
    status = await a.reset_status(hang.context)
    assert status["banned"] == 1 and status["canceled"] == len(queued)


@case
async def mmu_fault_fails_only_its_job(system):
    a, b = system.open(), system.open()
    stage, other = await Stage.create(a), await Stage.create(b)
    await stage.write(0, bytes(range(100)))
    await other.write(0, bytes(range(100, 200)))
    hole = DATA_VA + stage.size + 5 * PAGE  # nothing is mapped there
    faulty = await stage.submit(commands.copy(hole, DATA_VA, 16))
    after = [await stage.submit(copy_job(0, 1024 * (i + 1), 100)) for i in range(3)]
    theirs = await other.submit(copy_job(0, 1024, 100))
    reply = await stage.wait(faulty, system)
    assert reply["job_errno"] == errno.EFAULT
    assert reply["fault_va"] == hole
    for i, seqno in enumerate(after):
        assert (await stage.wait(seqno, system))["job_errno"] == 0
        assert await stage.read(1024 * (i + 1), 100) == bytes(range(100))
    assert (await other.wait(theirs, system))["job_errno"] == 0
    assert await other.read(1024, 100) == bytes(range(100, 200))
    assert await stage.read(0, 16) == bytes(range(16))  # the faulting COPY wrote nothing
    assert (await a.reset_status(stage.context))["resets"] == 0


@case
async def faults_in_two_contexts_at_once(system):
    a = system.open()
    one, two = await Stage.create(a), await Stage.create(a)
    bad = [await s.submit(commands.write_value(DATA_VA + s.size + PAGE, 1)) for s in (one, two)]
    good = [await s.submit(commands.write_value(DATA_VA, 2)) for s in (one, two)]
    for s, seqno in zip((one, two), bad, strict=True):
        reply = await s.wait(seqno, system)
        assert (reply["job_errno"], reply["fault_va"]) == (errno.EFAULT, DATA_VA + s.size + PAGE)
    for s, seqno in zip((one, two), good, strict=True):
        assert (await s.wait(seqno, system))["job_errno"] == 0
        assert await s.read(0, 8) == (2).to_bytes(8, "little")


@case
async def close_client_with_jobs_in_flight(system):
    a, b = system.open(), system.open()
    doomed = await Stage.create(a, LONG_BYTES)
    other = await Stage.create(b)
    await other.write(0, bytes(range(64)))
    for i in range(4):
        await doomed.submit(fill_all(LONG_BYTES, i))
    theirs = [await other.submit(copy_job(0, 256 * (i + 1), 64)) for i in range(4)]
    await a.close()
    with expect(errno.EBADF):
        await a.query()
    for i, seqno in enumerate(theirs):
        assert (await other.wait(seqno, system))["job_errno"] == 0
        assert await other.read(256 * (i + 1), 64) == bytes(range(64))
    assert (await b.reset_status(other.context))["resets"] == 0


@case
async def destroy_context_cancels_queued_jobs(system):
    a = system.open()
    stage = await Stage.create(a, LONG_BYTES)
    depth = (await a.query())["queue_depth"]
    jobs = [await stage.submit(fill_all(LONG_BYTES, 0x01010101 * (i + 1))) for i in range(depth)]
    late = await stage.submit(commands.write_value(DATA_VA, 0xBAD))
    await a.context_destroy(stage.context)
    with expect(errno.ENOENT):
        await a.wait(stage.context, late, 0)
    with expect(errno.ENOENT):
        await a.submit(stage.context, 0x10_0000, 8)
    # The jobs on the device ran to their end; the queued one never ran.
    assert jobs and await stage.read(0, 8) == bytes([depth]) * 8
    await a.wait_bo(stage.data, system.now_ns())


@case
async def exhausting_contexts(system):
    a, b = system.open(), system.open()
    limit = (await a.query())["max_contexts"]
    contexts = [await (a if i % 2 else b).context_create() for i in range(limit)]
    for client in (a, b):
        with expect(errno.EBUSY):
            await client.context_create()
    await b.context_destroy(contexts[0])
    stage = await Stage.create(b)
    assert (await run_job(stage, system, commands.write_value(DATA_VA, 5)))["job_errno"] == 0
    with expect(errno.EBUSY):
        await a.context_create()
    await b.close()
    assert await a.context_create() > max(contexts[1::2])


@case
async def concurrent_clients(system):
    async def client_work(index):
        client = system.open()
        stage = await Stage.create(client)
        pattern = bytes((index * 37 + i) % 256 for i in range(512))
        await stage.write(0, pattern)
        seqnos = [await stage.submit(copy_job(0, 1024 * (i + 1), 512)) for i in range(8)]
        replies = [await stage.wait(s, system) for s in seqnos]
        copies = [await stage.read(1024 * (i + 1), 512) for i in range(8)]
        return [r["job_errno"] for r in replies], copies, pattern

    results = await system.gather(*(client_work(i) for i in range(3)))
    for errnos, copies, pattern in results:
        assert errnos == [0] * 8
        assert copies == [pattern] * 8


@case
async def reset_status_of_a_new_context(system):
    a = system.open()
    context = await a.context_create()
    assert await a.reset_status(context) == {"resets": 0, "hangs": 0, "canceled": 0, "banned": 0}
    with expect(errno.ENOENT):
        await a.reset_status(context + 1)
