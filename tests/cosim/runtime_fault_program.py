"""A program for test_runtime: a job faults on unmapped weights; the session recovers."""

import pickle
from pathlib import Path

from tinynpu.driver.uapi import UapiError, VmBindFlags
from tinynpu.runtime.compiler import WEIGHTS_VA
from tinynpu.runtime.session import Session


async def main(system, args):
    ((_, program, inputs),) = pickle.loads(Path("job.pkl").read_bytes())["models"]
    client = system.open()
    session = await Session(client, program, system.now_ns).open()
    before = await session.run(inputs)
    size = program.sizes["weights"]
    await client.vm_unmap(session.context, WEIGHTS_VA, size)
    try:
        await session.run(inputs)
        failure = None
    except UapiError as error:
        failure = (error.errno, str(error))
    await client.vm_map(
        session.context,
        session.handles["weights"],
        WEIGHTS_VA,
        size,
        flags=VmBindFlags.READ_ONLY | VmBindFlags.NO_EXEC,
    )
    after = await session.run(inputs)
    status = await client.reset_status(session.context)
    await session.close()
    result = {"before": before.output, "after": after.output, "failure": failure, "status": status}
    Path("results.pkl").write_bytes(pickle.dumps(result))
