"""Conformance: buffer objects and CPU access."""

from conformance_suite import PAGE, case


@case
async def bo_create_zeroed(system):
    client = system.open()
    handle = await client.bo_create(3 * PAGE + 1)
    cpu = await client.mmap(handle, 4 * PAGE)
    assert await cpu.read(0, 4 * PAGE) == bytes(4 * PAGE)
    await cpu.write(4 * PAGE - 3, b"end")
    assert await cpu.read(4 * PAGE - 4, 4) == b"\0end"
