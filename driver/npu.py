"""The NPU backend, first cut: bring-up, the command ring, completions, faults and reset.

Everything register-aware about running a job lives here; the generic buffer, address-space
and scheduler core will sit on top of :class:`Npu` and call :meth:`Npu.submit`,
:meth:`Npu.handle_irq` and :meth:`Npu.reset`.

The ring protocol (see ``docs/job-path.md``):

* the driver writes a :class:`~tinynpu.rtl.layouts.RingEntry` in slot ``tail % size`` of the ring,
  then publishes ``tail + 1`` with ``ring_tail`` and a write to ``ring_doorbell``;
* the firmware writes a :class:`~tinynpu.rtl.layouts.Completion` in the same slot of the completion
  ring and ends the job, which counts ``ring_done`` up and raises ``job_done`` or ``job_error``;
* the handler reads ``ring_done`` and collects the records below it, in order.

A job runs in an address space of :attr:`Npu.mmu` (:mod:`tinynpu.driver.mmu`): its command stream
and every address in it are virtual. A translation fault ends the job with a ``FAULT`` completion;
the handler first takes the fault records (:meth:`~tinynpu.driver.mmu.Mmu.handle_faults`), so a
faulted job's :class:`JobResult` carries its fault.

A slot is free again once its completion has been collected. With every slot taken,
:meth:`Npu.submit` reports ``EBUSY`` instead of overwriting an entry the hardware may still
fetch; the caller waits for a completion and tries again.
"""

import errno
from collections import deque
from dataclasses import dataclass

from tinynpu.rtl.layouts import (
    Completion,
    CompletionStatus,
    ErrorCode,
    QueueError,
    RingEntry,
    nbytes,
    pack,
    unpack,
)
from tinynpu.rtl.queue import MAX_SIZE_LOG2, MIN_SIZE_LOG2
from tinynpu.rtl.regmap import HOST, split_address

from . import tracepoints
from .device import DeviceError, DeviceInfo, probe
from .interrupts import acknowledge, set_enabled
from .memory import PhysicalAllocator
from .mmu import Fault, Mmu
from .platform import Platform

__all__ = ["FIRMWARE_MAJOR", "JobResult", "Npu"]

#: The firmware major version this driver speaks (2: job addresses are virtual).
FIRMWARE_MAJOR = 2
ENTRY_BYTES = nbytes(RingEntry)
COMPLETION_BYTES = nbytes(Completion)
_SOURCES = ("job_done", "job_error", "queue_error", "mmu_fault")


@dataclass(frozen=True)
class JobResult:
    """How a job ended, from its completion record.

    Attributes
    ----------
    seqno : int
    status : CompletionStatus
    error : ErrorCode
    offset : int
        Byte offset of the failing command in the stream (0 on success).
    cycles : int
        NPU cycles from the firmware's pop of the entry to its completion.
    fault : Fault or None
        For a ``PAGE_FAULT``: the fault record of the job's address space.
    """

    seqno: int
    status: CompletionStatus
    error: ErrorCode
    offset: int
    cycles: int
    fault: Fault | None = None

    @property
    def ok(self):
        """Whether the job succeeded."""
        return self.status is CompletionStatus.OK


class Npu:
    """One NPU, driven through a :class:`~tinynpu.driver.platform.Platform`.

    Parameters
    ----------
    platform : Platform
    memory : PhysicalAllocator
        Host memory the driver may use for the ring and the completion records.
    ring_log2 : int
        log2 of the ring's entries (1 to 12).
    boot_timeout_ns : float
        How long the firmware may take to report ready after a reset.

    Attributes
    ----------
    info : DeviceInfo
        Identity and capabilities (after :meth:`init`).
    firmware_version : tuple of int
    mmu : Mmu
        The address spaces (after :meth:`init`).
    """

    def __init__(
        self,
        platform: Platform,
        memory: PhysicalAllocator,
        *,
        ring_log2=6,
        boot_timeout_ns=200_000.0,
    ):
        if not MIN_SIZE_LOG2 <= ring_log2 <= MAX_SIZE_LOG2:
            raise ValueError(
                f"Ring size log2 must be between {MIN_SIZE_LOG2} and {MAX_SIZE_LOG2}, "
                f"not {ring_log2!r}"
            )
        self.platform = platform
        self.memory = memory
        self.ring_size = 1 << ring_log2
        self._ring_log2 = ring_log2
        self.boot_timeout_ns = boot_timeout_ns
        self.info: DeviceInfo | None = None
        self.mmu: Mmu | None = None
        self.firmware_version = None
        self.ring = self.completions = None
        self._next_seqno = 1
        self._reset_state()

    def _reset_state(self):
        self.tail = 0  # entries written
        self.done = 0  # completions collected
        self._in_flight = deque()  # (seqno, asid) of entries tail - done .. tail - 1
        self.results = {}
        self.new_faults = []
        self.queue_error = QueueError.NONE

    # --- bring-up ---------------------------------------------------------------------------------

    async def init(self):
        """Probe the device, wait for its firmware, set up the ring and enable interrupts.

        Raises
        ------
        DeviceError
            ``ENODEV`` as :func:`~tinynpu.driver.device.probe` does, or for a firmware of another
            major version; ``ETIMEDOUT`` if the firmware does not report ready in time.
        """
        self.info = await probe(self.platform)
        self.mmu = Mmu(self.platform, self.memory, self.info.addr_spaces)
        self.ring = self.memory.alloc(self.ring_size * ENTRY_BYTES)
        self.completions = self.memory.alloc(self.ring_size * COMPLETION_BYTES)
        await self._bring_up()

    async def _bring_up(self):
        await self._wait_firmware()
        platform = self.platform
        await platform.mmio_write(HOST.ring_control.offset, HOST.ring_control.encode(clear=1))
        for lo, hi, address in (
            (HOST.ring_base_lo, HOST.ring_base_hi, self.ring),
            (HOST.cq_base_lo, HOST.cq_base_hi, self.completions),
        ):
            low, high = split_address(lo, hi, address)
            await platform.mmio_write(lo.offset, low)
            await platform.mmio_write(hi.offset, high)
        await platform.mmio_write(
            HOST.ring_size.offset, HOST.ring_size.encode(log2=self._ring_log2)
        )
        await platform.mmio_write(HOST.ring_tail.offset, 0)
        await set_enabled(platform, _SOURCES)

    async def _wait_firmware(self):
        """Poll ``fw_status.ready``, then check the firmware's version."""
        deadline = self.platform.now_ns() + self.boot_timeout_ns
        while not HOST.fw_status.ready.get(await self.platform.mmio_read(HOST.fw_status.offset)):
            if self.platform.now_ns() >= deadline:
                raise DeviceError(
                    errno.ETIMEDOUT,
                    f"Firmware not ready {self.boot_timeout_ns:.0f} ns after reset",
                )
            await self.platform.sleep_ns(1_000)
        fields = HOST.fw_version.decode(await self.platform.mmio_read(HOST.fw_version.offset))
        self.firmware_version = (fields["major"], fields["minor"], fields["patch"])
        if fields["major"] != FIRMWARE_MAJOR:
            raise DeviceError(
                errno.ENODEV,
                f"Unsupported firmware {'.'.join(map(str, self.firmware_version))}: this driver "
                f"supports major version {FIRMWARE_MAJOR}",
            )

    async def reset(self):
        """Reset the NPU and bring it up again.

        Every job not yet completed is lost: the returned list names their sequence numbers
        (the scheduler fails them with ``ECANCELED``). Completions already collected stay in
        :attr:`results`; the address spaces in use are programmed again, their tables intact.
        """
        lost = [seqno for seqno, _ in self._in_flight]
        results = self.results
        await self.platform.reset()
        self._reset_state()
        self.results = results
        await self._bring_up()
        await self.mmu.restore()
        return lost

    # --- submission -------------------------------------------------------------------------------

    @property
    def free_slots(self):
        """Ring slots a submit may fill now."""
        return self.ring_size - (self.tail - self.done)

    async def submit(self, cmd_addr, cmd_size, *, asid):
        """Queue a job: a command stream of ``cmd_size`` bytes at ``cmd_addr`` in ``asid``.

        Returns
        -------
        int
            The job's sequence number.

        Raises
        ------
        DeviceError
            ``EBUSY`` if every ring slot holds a job whose completion has not been collected
            (nothing is written); ``EIO`` if the command queue has stopped on an error (reset
            the device).
        ValueError
            If a field does not fit the ring entry.
        """
        if self.queue_error is not QueueError.NONE:
            raise DeviceError(errno.EIO, f"Command queue stopped: {self.queue_error.name}")
        if not self.free_slots:
            await self._collect()
            if not self.free_slots:
                raise DeviceError(errno.EBUSY, f"Ring full: {self.ring_size} jobs in flight")
        seqno = self._next_seqno
        entry = pack(
            RingEntry,
            {"seqno": seqno, "asid": asid, "cmd_size": cmd_size, "cmd_addr": cmd_addr},
        )
        slot = self.tail % self.ring_size
        await self.platform.mem_write(self.ring + slot * ENTRY_BYTES, entry)
        self._next_seqno = (seqno + 1) % (1 << 32)  # RingEntry.seqno is 32 bits
        self.tail += 1
        self._in_flight.append((seqno, asid))
        await self.platform.mmio_write(
            HOST.ring_tail.offset, HOST.ring_tail.index.put(self.tail & HOST.ring_tail.index.mask)
        )
        await self.platform.mmio_write(HOST.ring_doorbell.offset, HOST.ring_doorbell.encode(ring=1))
        return seqno

    # --- completion -------------------------------------------------------------------------------

    async def handle_irq(self, *, hold_faults=False):
        """The interrupt handler: acknowledge, then collect completions and queue errors.

        MMU faults are read first (so a faulted job's result carries its fault) and
        acknowledged, which restarts the address space; with ``hold_faults`` they are only
        read, and the address space stays stopped until :meth:`Mmu.acknowledge
        <driver.mmu.Mmu.acknowledge>`. :attr:`new_faults` lists them.

        Returns
        -------
        list of str
            The interrupt sources that were pending.
        """
        sources = await acknowledge(self.platform)
        self.new_faults = []
        if "mmu_fault" in sources:
            mmu = self.mmu
            self.new_faults = await (mmu.read_faults() if hold_faults else mmu.handle_faults())
        if "queue_error" in sources:
            status = HOST.ring_status.decode(await self.platform.mmio_read(HOST.ring_status.offset))
            self.queue_error = QueueError(status["error"])
        if "job_done" in sources or "job_error" in sources:
            await self._collect()
        return sources

    async def _collect(self):
        """Read the completion records the hardware has written since the last collection."""
        hw_done = await self.platform.mmio_read(HOST.ring_done.offset)
        count = HOST.ring_done.index.get(hw_done - self.done)  # indices wrap at 32 bits
        if count > len(self._in_flight):
            raise DeviceError(
                errno.EIO, f"ring_done {hw_done} is ahead of the {self.tail} jobs submitted"
            )
        for _ in range(count):
            slot = self.done % self.ring_size
            raw = await self.platform.mem_read(
                self.completions + slot * COMPLETION_BYTES, COMPLETION_BYTES
            )
            record = unpack(Completion, raw)
            expected, asid = self._in_flight.popleft()
            self.done += 1
            if record.seqno != expected:
                raise DeviceError(
                    errno.EIO,
                    f"Completion in slot {slot} carries seqno {record.seqno}, expected {expected}",
                )
            tracepoints.trace(
                "completion",
                seqno=record.seqno,
                status=record.status.name,
                error=record.error.name,
                offset=record.offset,
                cycles=record.cycles,
            )
            self.results[expected] = JobResult(
                seqno=record.seqno,
                status=record.status,
                error=record.error,
                offset=record.offset,
                cycles=record.cycles,
                fault=self._fault_of(asid) if record.error is ErrorCode.PAGE_FAULT else None,
            )

    def _fault_of(self, asid):
        """The latest fault handled in ``asid``."""
        return next((f for f in reversed(self.mmu.faults) if f.asid == asid), None)

    async def wait(self, seqno, *, timeout_ns):
        """Wait for job ``seqno`` to complete, serving interrupts meanwhile.

        Returns
        -------
        JobResult

        Raises
        ------
        DeviceError
            ``ETIMEDOUT`` if it has not completed within ``timeout_ns`` of simulated time;
            ``EIO`` if the command queue stopped on an error first; ``ENOENT`` for a sequence
            number that was never submitted or whose job was lost in a reset.
        """
        if seqno not in self.results and all(s != seqno for s, _ in self._in_flight):
            raise DeviceError(errno.ENOENT, f"No job {seqno} in flight or completed")
        deadline = self.platform.now_ns() + timeout_ns
        while seqno not in self.results:
            if self.queue_error is not QueueError.NONE:
                raise DeviceError(errno.EIO, f"Command queue stopped: {self.queue_error.name}")
            remaining = deadline - self.platform.now_ns()
            if remaining <= 0 or not await self.platform.wait_irq(timeout_ns=remaining):
                raise DeviceError(errno.ETIMEDOUT, f"Job {seqno} not done after {timeout_ns} ns")
            await self.handle_irq()
        return self.results[seqno]
