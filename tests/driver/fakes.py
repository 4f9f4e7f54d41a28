"""Test doubles for the driver core: a virtual-clock platform and a scripted backend.

:class:`VirtualPlatform` implements :class:`tinynpu.driver.platform.Platform` over pure asyncio.
Its clock moves only when every task waits: :meth:`VirtualPlatform.run` lets the ready tasks
settle, then jumps to the earliest timer. Nothing depends on wall time, so a test says exactly
when (in device nanoseconds) each thing happens. Like cocotb's ``Timer``, a wait whose length in
1 ps steps does not fit 64 bits raises ``OverflowError``.

:class:`ScriptedBackend` implements :class:`tinynpu.driver.backend.Backend`: a device that runs
the jobs on it one at a time, each for the time its script says, with real page tables
(:class:`tinynpu.driver.pgtable.PageTable`) from the same pool as the buffers. Faults, hangs,
refused jobs, lost, spurious and unreadable interrupts and failed resets are switches on it.
"""

import asyncio
import errno
import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, field

import pytest
from tinynpu.driver.accel import Accel
from tinynpu.driver.backend import Outcome
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.pgtable import PageTable
from tinynpu.driver.uapi import PAGE_SIZE, UapiError
from tinynpu.runtime.libtinynpu import Client

__all__ = ["Behaviour", "DeadlockError", "ScriptedBackend", "VirtualPlatform", "make_device"]

#: Simulator steps per nanosecond (cocotb's 1 ps precision in sim/build.py).
STEPS_PER_NS = 1000
#: Ready-task passes before the clock may move: every wake-up chain in the driver is shorter.
SETTLE = 64


class DeadlockError(AssertionError):
    """Every task waits and no timer is set: the test would hang."""


class _Timer:
    __slots__ = ("alive", "callback", "when")

    def __init__(self, when, callback):
        self.when, self.callback, self.alive = when, callback, True


class VirtualEvent:
    """:class:`tinynpu.driver.platform.Event` on the virtual clock."""

    def __init__(self, platform):
        self._platform = platform
        self._flag = False
        self._waiters = []

    def set(self):
        self._flag = True
        for future in self._waiters:
            if not future.done():
                future.set_result(True)
        self._waiters.clear()

    def clear(self):
        self._flag = False

    def is_set(self):
        return self._flag

    async def wait(self, timeout_ns=None):
        if self._flag:
            return True
        if timeout_ns is not None:
            self._platform.check_timeout(timeout_ns)
            if timeout_ns <= 0:
                return False
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        timer = None
        if timeout_ns is not None:
            timer = self._platform.call_at(
                self._platform.now + timeout_ns,
                lambda: future.done() or future.set_result(False),
            )
        try:
            return await future
        finally:
            if timer is not None:
                timer.alive = False
            if future in self._waiters:
                self._waiters.remove(future)


class VirtualPlatform:
    """A platform whose clock is virtual, with sparse host memory and an interrupt line.

    Attributes
    ----------
    now : float
        The device clock, in nanoseconds.
    irqs : int
        Times the interrupt line was raised.
    """

    def __init__(self):
        self.now = 0
        self.irqs = 0
        self._timers = []  # heap of (when, order, _Timer)
        self._order = itertools.count()
        self._memory = {}  # page address -> bytearray
        self._irq = VirtualEvent(self)

    # --- the clock --------------------------------------------------------------------------

    def check_timeout(self, timeout_ns):
        """Refuse a wait cocotb's Timer could not schedule (its steps fit 64 bits)."""
        if math.ceil(timeout_ns) * STEPS_PER_NS >= 1 << 64:
            raise OverflowError(f"A wait of {timeout_ns} ns does not fit the simulator's time")

    def call_at(self, when, callback):
        """Call ``callback`` once the clock reaches ``when``; a handle with ``alive``."""
        timer = _Timer(when, callback)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def now_ns(self):
        return self.now

    async def sleep_ns(self, duration):
        self.check_timeout(duration)
        future = asyncio.get_running_loop().create_future()
        timer = self.call_at(self.now + duration, lambda: future.done() or future.set_result(None))
        try:
            await future
        finally:
            timer.alive = False

    def run(self, main, *, limit_ns=10**12):
        """Run coroutine ``main`` to its end on the virtual clock; its result.

        Raises
        ------
        DeadlockError
            If every task waits with no timer set, or the clock would pass ``limit_ns``.
        """

        async def clock():
            task = asyncio.ensure_future(main)
            while True:
                for _ in range(SETTLE):
                    await asyncio.sleep(0)
                if task.done():
                    return task.result()
                while self._timers and not self._timers[0][2].alive:
                    heapq.heappop(self._timers)
                if not self._timers:
                    task.cancel()
                    raise DeadlockError(f"Every task waits and no timer is set at {self.now} ns")
                when, _, timer = heapq.heappop(self._timers)
                if when > limit_ns:
                    task.cancel()
                    raise DeadlockError(f"Still waiting at {limit_ns} ns")
                self.now = max(self.now, when)
                timer.alive = False
                timer.callback()

        return asyncio.run(clock())

    # --- kernel services --------------------------------------------------------------------

    def spawn(self, coroutine):
        return asyncio.ensure_future(coroutine)

    def event(self):
        return VirtualEvent(self)

    # --- the device's lines -----------------------------------------------------------------

    def raise_irq(self):
        """Assert the interrupt line (an edge: one wake-up of the interrupt task)."""
        self.irqs += 1
        self._irq.set()

    async def wait_irq(self, timeout_ns=None):
        fired = await self._irq.wait(timeout_ns)
        self._irq.clear()
        return fired

    async def reset(self):
        pass

    async def mmio_read(self, offset):
        raise AssertionError("the core never touches registers")

    async def mmio_write(self, offset, value):
        raise AssertionError("the core never touches registers")

    async def mem_write(self, address, data):
        for i, byte in enumerate(bytes(data)):
            at = address + i
            page = self._memory.setdefault(at - at % PAGE_SIZE, bytearray(PAGE_SIZE))
            page[at % PAGE_SIZE] = byte

    async def mem_read(self, address, length):
        out = bytearray()
        for at in range(address, address + length):
            page = self._memory.get(at - at % PAGE_SIZE)
            out.append(page[at % PAGE_SIZE] if page is not None else 0)
        return bytes(out)


@dataclass
class Behaviour:
    """What a job does on the scripted device: run ``ns`` (``None``: hang), end with ``outcome``."""

    ns: float | None = 1_000
    outcome: Outcome = field(default_factory=Outcome)


@dataclass(eq=False)
class FakeSpace:
    asid: int
    table: PageTable
    stopped: bool = False


@dataclass(eq=False)
class HwJob:
    handle: int
    space: FakeSpace
    cmd_va: int


class ScriptedBackend:
    """A device that runs its jobs one at a time, as its script says.

    Attributes
    ----------
    script : dict
        ``cmd_va -> Behaviour``; other jobs take ``default``.
    runs : list of (int, int, int)
        ``(handle, asid, cmd_va)`` of every job :meth:`run_job` accepted, in order.
    log : list of tuple
        ``(time, what, ...)``: jobs started and ended, resets, resumes.
    refuse : int or None
        The errno :meth:`run_job` raises (a stopped command queue), while set.
    lose_irqs, bad_irqs : int
        The next completions raise no interrupt; the next interrupts' records cannot be read.
    reset_fails : bool
        :meth:`reset` fails: the device does not come back.
    reset_ns : float
        How long a reset takes.
    """

    def __init__(self, platform, memory, *, max_contexts=4, queue_depth=8, default=None):
        self.platform, self.memory = platform, memory
        self.limits = {
            "array_size": 8,
            "hw_version": 0x000100,
            "max_contexts": max_contexts,
            "max_cmd_size": 8192,
            "queue_depth": queue_depth,
            "va_end": 1 << 39,
        }
        self.default = default or Behaviour()
        self.script = {}
        self.runs, self.log = [], []
        self.refuse = None
        self.lose_irqs = self.bad_irqs = 0
        self.reset_fails = False
        self.stopped_at, self.reset_pending = None, False
        self.reset_ns = 0
        self.resets = 0
        self.spaces = {}
        self._queue = deque()
        self._done, self._faulted = [], []
        self._handles = itertools.count(1)
        self._device = None

    def _record(self, *what):
        self.log.append((self.platform.now, *what))

    # --- the device -------------------------------------------------------------------------

    async def init(self):
        self._kick = self.platform.event()
        self._device = self.platform.spawn(self._run_device())

    async def _run_device(self):
        while True:
            if not self._queue:
                await self._kick.wait()
                self._kick.clear()
                continue
            job = self._queue[0]
            if job.space.stopped:  # ends without running, as AS_STOPPED
                outcome = Outcome(retry=True)
            else:
                behaviour = self.script.get(job.cmd_va, self.default)
                self._record("start", job.handle)
                if behaviour.ns is None:
                    await self.platform.event().wait()  # until a reset cancels the device
                else:
                    await self.platform.sleep_ns(behaviour.ns)
                outcome = behaviour.outcome
                if outcome.error == errno.EFAULT:
                    job.space.stopped = True
                    self._faulted.append(job.space)
            self._queue.popleft()
            self._record("end", job.handle, outcome.error, outcome.retry)
            self._done.append((job.handle, outcome))
            if self.lose_irqs:
                self.lose_irqs -= 1
            else:
                self.platform.raise_irq()

    async def reset(self):
        self.resets += 1
        self._record("reset")
        self._device.cancel()
        self._queue.clear()
        self._done.clear()
        self._faulted.clear()
        for space in self.spaces.values():
            space.stopped = False
        if self.reset_ns:
            await self.platform.sleep_ns(self.reset_ns)
        if self.reset_fails:
            raise DeviceError(errno.ETIMEDOUT, "The firmware did not come back")
        self._device = self.platform.spawn(self._run_device())

    # --- address spaces ---------------------------------------------------------------------

    async def create_space(self):
        free = [a for a in range(self.limits["max_contexts"]) if a not in self.spaces]
        if not free:
            raise DeviceError(errno.EBUSY, "No address space left")
        table = PageTable(self.platform, self.memory)
        await table.init()
        space = self.spaces[free[0]] = FakeSpace(free[0], table)
        return space

    async def destroy_space(self, space):
        space.table.destroy()
        del self.spaces[space.asid]
        self._record("destroy", space.asid)

    def space_bytes(self, space):
        return space.table.table_pages * PAGE_SIZE

    async def map(self, space, va, paddr, size, prot):
        await space.table.map_pages(va, paddr, size, prot)

    async def unmap(self, space, va, size):
        _, gather = await space.table.unmap_pages(va, size)
        gather.synced = True  # no TLB to invalidate
        space.table.release(gather)

    async def resume_space(self, space):
        space.stopped = False
        self._record("resume", space.asid)
        self._kick.set()

    async def read(self, space, va, length):
        """What a job of ``space`` reads at ``va`` (through its page tables); ``None``: a fault."""
        paddr = space.table.iova_to_phys(va)
        if paddr is None:
            return None
        return await self.platform.mem_read(paddr, length)

    # --- jobs -------------------------------------------------------------------------------

    async def run_job(self, space, cmd_va, cmd_size):
        if self.refuse is not None:
            raise DeviceError(self.refuse, "The command queue is stopped")
        handle = next(self._handles)
        self.runs.append((handle, space.asid, cmd_va))
        self._queue.append(HwJob(handle, space, cmd_va))
        self._kick.set()
        return handle

    async def handle_irq(self):
        if self.bad_irqs:
            self.bad_irqs -= 1
            self._done.clear()
            raise DeviceError(errno.EIO, "Completion record unreadable")
        done, faulted = self._done, self._faulted
        self._done, self._faulted = [], []
        return done, faulted


#: Where the tests map command streams and data.
CMD_VA = 0x10_0000
POOL_BASE = 0x10_0000


def make_device(pages=256, *, max_contexts=4, hw_depth=8, **options):
    """An :class:`Accel` over a :class:`ScriptedBackend` on a :class:`VirtualPlatform`.

    Returns
    -------
    (VirtualPlatform, ScriptedBackend, Accel)
        The device is started by :func:`open_client`'s callers with ``await device.start()``.
    """
    platform = VirtualPlatform()
    memory = PhysicalAllocator(POOL_BASE, pages * PAGE_SIZE)
    backend = ScriptedBackend(platform, memory, max_contexts=max_contexts, queue_depth=hw_depth)
    return platform, backend, Accel(platform, backend, memory, **options)


async def stage(device, *, pages=1):
    """A client with a context and a buffer of ``pages`` mapped at :data:`CMD_VA`."""
    client = Client(device.open())
    context = await client.context_create()
    bo = await client.bo_create(pages * PAGE_SIZE)
    await client.vm_map(context, bo, CMD_VA, pages * PAGE_SIZE)
    return client, context, bo


async def refused(code, call):
    """Await ``call`` and check that it fails with errno ``code``."""
    with pytest.raises(UapiError) as info:
        await call
    assert info.value.errno == code, info.value
