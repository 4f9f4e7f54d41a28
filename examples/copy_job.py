"""A user-space program for ``tinynpu run``: one COPY job through the uAPI.

    tinynpu run --trace examples/copy_job.py "Hello, NPU"

It creates a context and two buffers, maps them, writes a command stream that copies the
message from one buffer to the other, submits it, waits, and prints what arrived.
"""

from tinynpu.driver.uapi import PAGE_SIZE as PAGE
from tinynpu.driver.uapi import VmBindFlags
from tinynpu.runtime import commands

STREAM_VA, SRC_VA, DST_VA = 0x10_0000, 0x20_0000, 0x30_0000


async def main(system, args):
    """Copy ``args`` (joined by spaces) on the NPU and print the result."""
    message = " ".join(args or ["Hello from tinynpu"]).encode()
    client = system.open()
    context = await client.context_create()
    buffers = {}
    for name, va, flags in (
        ("stream", STREAM_VA, VmBindFlags.READ_ONLY),
        ("src", SRC_VA, VmBindFlags.READ_ONLY | VmBindFlags.NO_EXEC),
        ("dst", DST_VA, VmBindFlags.NO_EXEC),
    ):
        handle = await client.bo_create(PAGE)
        await client.vm_map(context, handle, va, PAGE, flags=flags)
        buffers[name] = (handle, await client.mmap(handle, PAGE))
    stream = commands.stream(commands.copy(SRC_VA, DST_VA, len(message)))
    await buffers["stream"][1].write(0, stream)
    await buffers["src"][1].write(0, message)
    seqno = await client.submit(
        context, STREAM_VA, len(stream), handles=[h for h, _ in buffers.values()]
    )
    result = await client.wait(context, seqno, int(system.now_ns()) + 1_000_000)
    copied = await buffers["dst"][1].read(0, len(message))
    print(f"job {seqno}: errno {result['job_errno']}, copied {copied.decode()!r}")
