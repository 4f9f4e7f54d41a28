"""probe"""

from conformance_suite import DATA_VA, Stage, case

from driver import commands

MiB = 1 << 20


@case
async def probe_fill_time(system):
    client = system.open()
    stage = await Stage.create(client, size=4 * MiB)
    t0 = system.now_ns()
    seqno = await stage.submit(
        commands.fill(DATA_VA, 4096, 0xA5C3_0F1E, rows=1024), timeout_ns=500_000_000
    )
    reply = await stage.wait(seqno, system, within_ns=500_000_000)
    print("PROBE", reply, system.now_ns() - t0)
