"""The command ring: entries the driver writes, completion records the firmware writes back.

The protocol (see ``docs/job-path.md``):

* the driver writes a :class:`~tinynpu.rtl.layouts.RingEntry` in slot ``tail % size`` of the ring,
  then publishes ``tail + 1`` with ``ring_tail`` and a write to ``ring_doorbell``;
* the firmware writes a :class:`~tinynpu.rtl.layouts.Completion` in the same slot of the completion
  ring and ends the job, which counts ``ring_done`` up and raises ``job_done`` or ``job_error``;
* the interrupt handler reads ``ring_done`` and collects the records below it, in order.

A slot is free again once its completion has been collected. With every slot taken,
:meth:`Ring.push` reports ``EBUSY`` instead of overwriting an entry the hardware may still fetch.
"""

import errno
from collections import deque

from tinynpu.rtl.layouts import (
    Completion,
    CompletionStatus,
    ErrorCode,
    RingEntry,
    nbytes,
    pack,
    unpack,
)

from . import tracepoints
from .device import DeviceError, host_registers

__all__ = ["Ring"]

ENTRY_BYTES = nbytes(RingEntry)
COMPLETION_BYTES = nbytes(Completion)
_SEQNO_MOD = 1 << RingEntry.as_shape()["seqno"].width  # sequence numbers wrap with the field


class Ring:
    """A ring of ``1 << log2`` entries and its completion ring, in host memory.

    Parameters
    ----------
    platform : Platform
    memory : PhysicalAllocator
        Where both rings are allocated.
    log2 : int
        log2 of the entries (already checked against ``cap_queue``).

    Attributes
    ----------
    size : int
    entries, completions : int
        Physical addresses of the ring and of the completion ring.
    tail, done : int
        Entries written and completions collected since the last :meth:`program`.
    """

    def __init__(self, platform, memory, log2):
        self.platform = platform
        self.regs = host_registers(platform)
        self.log2, self.size = log2, 1 << log2
        self.entries = memory.alloc(self.size * ENTRY_BYTES)
        self.completions = memory.alloc(self.size * COMPLETION_BYTES)
        self._next_seqno = 1
        self._restart()

    def _restart(self):
        self.tail = self.done = 0
        self._in_flight = deque()  # (seqno, asid) of the entries done .. tail - 1

    async def program(self):
        """Point the hardware at an empty ring (at bring-up and after a reset).

        Returns
        -------
        list of int
            The sequence numbers of the entries that had no completion: they are lost.
        """
        lost = [seqno for seqno, _ in self._in_flight]
        self._restart()
        regs = self.regs
        await regs.write("ring_control", clear=1)
        await regs.write_address("ring_base", self.entries)
        await regs.write_address("cq_base", self.completions)
        await regs.write("ring_size", log2=self.log2)
        await regs.write("ring_tail", index=0)
        return lost

    @property
    def free_slots(self):
        """Slots a :meth:`push` may fill now."""
        return self.size - (self.tail - self.done)

    async def push(self, cmd_addr, cmd_size, asid):
        """Write an entry for a command stream in ``asid`` and ring the doorbell.

        Returns
        -------
        int
            The entry's sequence number (its completion carries it).

        Raises
        ------
        DeviceError
            ``EBUSY`` if every slot holds an entry whose completion has not been collected
            (nothing is written).
        ValueError
            If a field does not fit the entry.
        """
        if not self.free_slots:
            raise DeviceError(errno.EBUSY, f"Ring full: {self.size} jobs in flight")
        seqno = self._next_seqno
        entry = pack(
            RingEntry,
            {"seqno": seqno, "asid": asid, "cmd_size": cmd_size, "cmd_addr": cmd_addr},
        )
        slot = self.tail % self.size
        await self.platform.mem_write(self.entries + slot * ENTRY_BYTES, entry)
        self._next_seqno = (seqno + 1) % _SEQNO_MOD
        self.tail += 1
        self._in_flight.append((seqno, asid))
        width = self.regs.register("ring_tail").index.width
        await self.regs.write("ring_tail", index=self.tail % (1 << width))
        await self.regs.write("ring_doorbell", ring=1)
        return seqno

    def handle_at(self, index):
        """The sequence number of the entry in flight at ring ``index``.

        ``None`` if there is none: ``index`` is ``tail``, every entry was fetched.
        """
        position = self.regs.register("ring_head").index.get(index - self.done)
        if position >= len(self._in_flight):
            return None
        return self._in_flight[position][0]

    async def collect(self):
        """Read the completion records written since the last collection.

        Returns
        -------
        list of (int, int, Completion or None)
            For each job ended, in ring order: its entry's sequence number and address space,
            and its record; ``None`` for a record that is missing or does not match the job (the
            firmware could not write it, or it was corrupted on the way).

        Raises
        ------
        DeviceError
            ``EIO`` if ``ring_done`` counts more completions than entries in flight.
        """
        index = self.regs.register("ring_done").index
        hw_done = await self.regs.read("ring_done")
        count = index.get(hw_done - self.done)  # indices wrap at 32 bits
        if count > len(self._in_flight):
            raise DeviceError(
                errno.EIO, f"ring_done {hw_done} is ahead of the {self.tail} jobs submitted"
            )
        records = []
        for _ in range(count):
            slot = self.done % self.size
            raw = await self.platform.mem_read(
                self.completions + slot * COMPLETION_BYTES, COMPLETION_BYTES
            )
            expected, asid = self._in_flight.popleft()
            self.done += 1
            record = _record_of(raw, expected)
            if record is None:
                tracepoints.trace("completion_lost", seqno=expected, slot=slot, raw=raw.hex())
            else:
                tracepoints.trace(
                    "completion",
                    seqno=record.seqno,
                    status=record.status.name,
                    error=record.error.name,
                    offset=record.offset,
                    cycles=record.cycles,
                )
            records.append((expected, asid, record))
        return records


#: The status each error code ends a job with (the firmware's rule, ``docs/job-path.md``).
_FAULT_CODES = frozenset({ErrorCode.PAGE_FAULT, ErrorCode.AS_STOPPED})


def _record_of(raw, seqno):
    """The :class:`Completion` in ``raw`` if it is a well-formed record of job ``seqno``.

    Well-formed: its sequence number, a known status and error code that agree with each other
    (OK with no error, FAULT with an MMU code, ERROR with any other), an 8-byte aligned offset
    that is 0 on success, reserved bytes zero. Anything else is a record the firmware did not
    write for this job.
    """
    try:
        record = unpack(Completion, raw)
        status, error = record.status, record.error
    except ValueError:  # not a status or error code
        return None
    if record.seqno != seqno or record["_reserved0"] or record.offset % 8:
        return None
    if error is ErrorCode.NONE:
        consistent = status is CompletionStatus.OK and record.offset == 0
    else:
        faulted = error in _FAULT_CODES
        consistent = status is (CompletionStatus.FAULT if faulted else CompletionStatus.ERROR)
    return record if consistent else None
