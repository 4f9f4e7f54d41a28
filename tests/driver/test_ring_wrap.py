"""The driver's ring across the 32-bit wrap of its indices and of its sequence numbers.

Four billion jobs are not run: the ring is put in the state they leave (its counts, or its next
sequence number, just below 2**32) and a few jobs go through it, the hardware's side played by
a register file and a host memory that the test fills with completion records.
"""

import asyncio
import errno

import pytest
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.ring import Ring
from tinynpu.rtl.layouts import Completion, CompletionStatus, RingEntry, nbytes, pack, unpack
from tinynpu.rtl.regmap import HOST

WRAP = 1 << 32  # ring_tail, ring_done and RingEntry.seqno are 32 bits wide
ENTRY, COMPLETION = nbytes(RingEntry), nbytes(Completion)


class Machine:
    """Registers by offset and a sparse host memory: the hardware a :class:`Ring` talks to."""

    def __init__(self):
        self.registers, self.memory = {}, {}
        self.tails = []  # every value written to ring_tail

    async def mmio_read(self, offset):
        return self.registers.get(offset, 0)

    async def mmio_write(self, offset, value):
        self.registers[offset] = value
        if offset == HOST.ring_tail.offset:
            self.tails.append(value)

    async def mem_write(self, address, data):
        for i, byte in enumerate(data):
            self.memory[address + i] = byte

    async def mem_read(self, address, length):
        return bytes(self.memory.get(address + i, 0) for i in range(length))

    def complete(self, ring, index, seqno, cycles):
        """The firmware's side: the record of entry ``index`` in its slot; ring_done counts it."""
        slot = index % ring.size
        record = pack(Completion, {"seqno": seqno, "status": CompletionStatus.OK, "cycles": cycles})
        for i, byte in enumerate(record):
            self.memory[ring.completions + slot * COMPLETION + i] = byte
        self.registers[HOST.ring_done.offset] = (index + 1) % WRAP


def ring_of(machine, log2=2):
    ring = Ring(machine, PhysicalAllocator(0x10_0000, 1 << 20), log2)
    asyncio.run(ring.program())
    return ring


def entry(machine, ring, slot):
    raw = asyncio.run(machine.mem_read(ring.entries + slot * ENTRY, ENTRY))
    return unpack(RingEntry, raw)


def test_indices_wrap_at_32_bits():
    machine = Machine()
    ring = ring_of(machine)
    ring.tail = ring.done = WRAP - 2  # after 2**32 - 2 jobs, all collected
    seqnos = [asyncio.run(ring.push(0x4000 + 64 * i, 64, asid=1)) for i in range(4)]
    assert seqnos == [1, 2, 3, 4]
    # The register carries the count modulo 2**32; the slot is the count modulo the size.
    assert machine.tails[-4:] == [WRAP - 1, 0, 1, 2]
    assert [entry(machine, ring, slot).seqno for slot in (2, 3, 0, 1)] == [1, 2, 3, 4]
    assert entry(machine, ring, 0).cmd_addr == 0x4000 + 64 * 2
    assert ring.free_slots == 0
    for i, seqno in enumerate(seqnos):
        machine.complete(ring, WRAP - 2 + i, seqno, cycles=100 + i)
    assert machine.registers[HOST.ring_done.offset] == 2  # wrapped: 2**32 + 2 jobs ended
    records = asyncio.run(ring.collect())
    assert [(asid, r.seqno, r.cycles) for _, asid, r in records] == [
        (1, 1, 100),
        (1, 2, 101),
        (1, 3, 102),
        (1, 4, 103),
    ]
    assert (ring.done, ring.tail, ring.free_slots) == (WRAP + 2, WRAP + 2, 4)
    assert asyncio.run(ring.collect()) == []  # ring_done unchanged: nothing new


def test_collect_refuses_a_wrapped_done_ahead_of_the_jobs():
    machine = Machine()
    ring = ring_of(machine)
    ring.tail = ring.done = WRAP - 1
    asyncio.run(ring.push(0x4000, 64, asid=0))
    machine.registers[HOST.ring_done.offset] = 1  # two ended after 2**32 - 1, one was queued
    with pytest.raises(DeviceError) as refused:
        asyncio.run(ring.collect())
    assert refused.value.errno == errno.EIO
    assert ring.done == WRAP - 1  # nothing collected


def test_sequence_numbers_wrap_with_the_entry_field():
    machine = Machine()
    ring = ring_of(machine)
    assert RingEntry.as_shape()["seqno"].width == 32
    ring._next_seqno = WRAP - 2  # the state after 2**32 - 3 jobs since bring-up
    seqnos = [asyncio.run(ring.push(0x4000, 64, asid=2)) for _ in range(3)]
    assert seqnos == [WRAP - 2, WRAP - 1, 0]
    assert [entry(machine, ring, slot).seqno for slot in range(3)] == seqnos
    for index, seqno in enumerate(seqnos):
        machine.complete(ring, index, seqno, cycles=7)
    records = asyncio.run(ring.collect())
    assert [r.seqno for _, _, r in records] == seqnos


def test_after_the_wrap_a_record_must_carry_seqno_0():
    machine = Machine()
    ring = ring_of(machine)
    ring._next_seqno = WRAP - 1
    asyncio.run(ring.push(0x4000, 64, asid=0))
    asyncio.run(ring.push(0x4000, 64, asid=0))  # seqno 0
    machine.complete(ring, 0, WRAP - 1, cycles=1)
    machine.complete(ring, 1, 1, cycles=1)  # not the entry's seqno, 0
    records = asyncio.run(ring.collect())
    # The second is no record of the job: the job is named by its entry's seqno, without one.
    assert [(seqno, None if r is None else r.seqno) for seqno, _, r in records] == [
        (WRAP - 1, WRAP - 1),
        (0, None),
    ]
