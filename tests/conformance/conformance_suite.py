"""The conformance suite's registry and helpers: cases see only the uAPI and a clock.

A case is ``async def case(system)``, registered with :func:`case`. The ``system`` a backend's
harness passes offers what a test program has on a real machine and nothing more:

* ``system.open()``: open the device node, a :class:`~tinynpu.runtime.libtinynpu.Client`;
* ``system.now_ns()`` and ``system.sleep_ns(ns)``: the clock WAIT's deadlines are on;
* ``system.gather(*coroutines)``: run coroutines concurrently (threads), return their results.

Each case asserts exact errnos and data; the harness then closes every client and checks that
all memory came back, and that a fresh client still runs a job.
"""

import errno

from tinynpu.driver.uapi import UapiError
from tinynpu.runtime import commands

__all__ = ["CASES", "Stage", "case", "expect", "healthy", "run_job"]

#: Every registered case, by name, in registration order.
CASES = {}

#: Virtual addresses the cases put things at.
STREAM_VA, DATA_VA = 0x10_0000, 0x20_0000
PAGE = 4096


def expect(code):
    """``with expect(errno.EINVAL):`` asserts that the block raises that :class:`UapiError`."""
    return _Expect(code)


def case(function):
    """Register ``function`` as a conformance case."""
    if function.__name__ in CASES:
        raise ValueError(f"Two cases named {function.__name__}")
    CASES[function.__name__] = function
    return function


class _Expect:
    def __init__(self, code):
        self.code = code

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            raise AssertionError(f"Expected {errno.errorcode[self.code]}, nothing was raised")
        if not isinstance(error, UapiError):
            return False
        if error.errno != self.code:
            raise AssertionError(
                f"Expected {errno.errorcode[self.code]}, got {errno.errorcode[error.errno]}: "
                f"{error}"
            ) from error
        self.error = error
        return True


class Stage:
    """A context with a command-stream buffer at :data:`STREAM_VA` and a data buffer at
    :data:`DATA_VA`, both mapped: the set-up most cases start from."""

    def __init__(self, client, context, stream, data, size):
        self.client, self.context, self.stream, self.data, self.size = (
            client,
            context,
            stream,
            data,
            size,
        )

    @classmethod
    async def create(cls, client, size=4 * PAGE, stream_size=PAGE):
        context = await client.context_create()
        stream = await client.bo_create(stream_size)
        data = await client.bo_create(size)
        await client.vm_map(context, stream, STREAM_VA, stream_size)
        await client.vm_map(context, data, DATA_VA, size)
        stage = cls(client, context, stream, data, size)
        stage.stream_size, stage._cursor = stream_size, 0
        stage.stream_map = await client.mmap(stream, stream_size)
        stage.data_map = await client.mmap(data, size)
        return stage

    async def submit(self, *cmds, offset=None, **kwargs):
        """Write ``cmds`` as a stream at ``offset`` of the stream buffer and submit it.

        Without ``offset``, each stream goes to the next free 256 bytes of the buffer (in a
        ring), so a stream is not overwritten before its job has read it.
        """
        data = commands.stream(*cmds)
        if offset is None:
            slot = -(-len(data) // 256) * 256
            if self._cursor + slot > self.stream_size:
                self._cursor = 0
            offset, self._cursor = self._cursor, self._cursor + slot
        await self.stream_map.write(offset, data)
        return await self.client.submit(
            self.context,
            STREAM_VA + offset,
            len(data),
            handles=kwargs.pop("handles", (self.stream, self.data)),
            **kwargs,
        )

    async def wait(self, seqno, system, within_ns=5_000_000):
        return await self.client.wait(self.context, seqno, system.now_ns() + within_ns)

    async def read(self, offset, length):
        return await self.data_map.read(offset, length)

    async def write(self, offset, data):
        await self.data_map.write(offset, data)


async def run_job(stage, system, *cmds, **kwargs):
    """Submit ``cmds`` and wait; return the WAIT reply."""
    return await stage.wait(await stage.submit(*cmds, **kwargs), system)


async def healthy(system):
    """A fresh client's COPY job runs and copies exactly; then it closes."""
    client = system.open()
    stage = await Stage.create(client)
    await stage.write(0, bytes(range(64)))
    reply = await run_job(stage, system, commands.copy(DATA_VA, DATA_VA + 128, 64))
    assert reply["job_errno"] == 0, reply
    assert await stage.read(128, 64) == bytes(range(64))
    await client.close()
