"""The end-of-case check (driver_idle.py) fails on each thing a case can leave behind."""

import asyncio
from collections import deque
from types import SimpleNamespace

import pytest
from driver_idle import Ledger
from tinynpu.driver import tracepoints
from tinynpu.driver.memory import PAGE_SIZE, PhysicalAllocator
from tinynpu.rtl.regmap import HOST


class Device:
    """What the check reads of an Accel: scheduler, ring, MMU spaces, pool and registers."""

    def __init__(self):
        self.memory = PhysicalAllocator(0x10_0000, 16 * PAGE_SIZE)
        self.memory.alloc(PAGE_SIZE)  # the ring, before the case
        self.sched = SimpleNamespace(pending=deque(), entities=[], dead=None)
        ring = SimpleNamespace(tail=5, done=5, size=4, free_slots=4)
        self.spaces = []
        self.backend = SimpleNamespace(
            ring=ring,
            mmu=SimpleNamespace(spaces=self.spaces),
            space_bytes=lambda space: space.tables * PAGE_SIZE,
        )
        self.registers = {HOST.ring_tail.offset: 5, HOST.ring_head.offset: 5}
        self.registers[HOST.ring_done.offset] = 5
        self.platform = SimpleNamespace(mmio_read=self._read)

    async def _read(self, offset):
        return self.registers.get(offset, 0)


def check(ledger, **kept):
    asyncio.run(ledger.check(**kept))


@pytest.fixture
def ledger():
    device = Device()
    ledger = Ledger(device)
    yield ledger
    tracepoints.unregister(ledger._probe)


def test_an_idle_device_with_what_the_case_keeps_passes(ledger):
    device = ledger.device
    device.memory.alloc(3 * PAGE_SIZE)  # a stream the case keeps
    device.memory.alloc(2 * PAGE_SIZE)  # the tables of a space it keeps
    device.spaces.append(SimpleNamespace(tables=2))
    tracepoints.trace("job_queued", seqno=1)
    tracepoints.trace("fence", seqno=1, errno=0)
    check(ledger, kept=3 * PAGE_SIZE, spaces=1)


def test_a_leaked_page_fails(ledger):
    ledger.device.memory.alloc(1)
    with pytest.raises(AssertionError, match="4096 bytes of the pool leaked"):
        check(ledger)


def test_a_space_not_destroyed_fails(ledger):
    ledger.device.memory.alloc(PAGE_SIZE)
    ledger.device.spaces.append(SimpleNamespace(tables=1))
    with pytest.raises(AssertionError, match="1 address spaces created and alive, 0 expected"):
        check(ledger)


def test_a_fence_never_signaled_fails(ledger):
    tracepoints.trace("job_queued", seqno=1)
    with pytest.raises(AssertionError, match="1 jobs queued, 0 fences signaled"):
        check(ledger)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda d: d.sched.pending.append("job"), "1 jobs still on the hardware"),
        (
            lambda d: d.sched.entities.append(SimpleNamespace(queue=[1], held=[], on_hw=0)),
            r"a context holds \(queued, held, on hw\) jobs \(1, 0, 0\)",
        ),
        (
            lambda d: setattr(d.backend.ring, "free_slots", 3),
            r"ring \(uncollected, free slots\) \(0, 3\)",
        ),
        (
            lambda d: d.registers.update({HOST.ring_head.offset: 4}),
            r"ring_tail, ring_head, ring_done \[5, 4, 5\]",
        ),
        (lambda d: d.registers.update({HOST.int_status.offset: 1}), "int_status 0x1 pending"),
        (lambda d: d.registers.update({HOST.ring_status.offset: 3}), "stopped on error 3"),
    ],
    ids=["on_hardware", "queued", "ring_slot", "hardware_head", "interrupt", "queue_error"],
)
def test_a_device_not_idle_fails(ledger, spoil, message):
    spoil(ledger.device)
    with pytest.raises(AssertionError, match=message):
        check(ledger)


def test_finish_stops_counting():
    ledger = Ledger(Device())
    asyncio.run(ledger.finish())
    tracepoints.trace("job_queued", seqno=1)
    assert ledger.queued == 0
