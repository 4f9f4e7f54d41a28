"""The NPU backend: the core's :class:`~.backend.Backend` on tinynpu's registers.

It is the only register-aware code of the driver, in modules named for what they do:

* :mod:`~tinynpu.driver.device`: probe, identity and capabilities;
* :mod:`~tinynpu.driver.ring`: the command ring and its completion records;
* :mod:`~tinynpu.driver.mmu` (over :mod:`~tinynpu.driver.pgtable`): address spaces, their
  tables, TLB invalidation and fault records;
* :mod:`~tinynpu.driver.interrupts`: enabling and acknowledging interrupt sources;
* this module: bring-up (the firmware handshake), the interrupt handler, reset, and the errno
  policy of completions: a translation fault is ``EFAULT``, a bus error ``EIO``, a command the
  firmware refused ``EINVAL``; a job that found its address space stopped did not run and is
  retried. What only broken hardware or memory can cause is ``EIO``: a malformed ring entry (the
  driver writes none), a missing or inconsistent completion record, a fault the tables as the
  driver wrote them do not explain (it repairs them from its own copy), a walker bus error.

A job runs in an address space: its command stream and every address in it are virtual. A
translation fault stops the space and ends the job with a ``FAULT`` completion; the handler reads
the fault records before the completions, so a faulted job's :class:`~.backend.Outcome` carries
its faulting address. The space stays stopped until :meth:`NpuBackend.resume_space`.

Every limit comes from the hardware: the capability registers bound the ring size (checked at
:meth:`NpuBackend.init`) and the virtual address range reported in :attr:`NpuBackend.limits`.
"""

import errno
from contextlib import contextmanager

from tinynpu.rtl.layouts import Access, CompletionStatus, ErrorCode, FaultKind, QueueError
from tinynpu.rtl.pte import GRANULE
from tinynpu.rtl.regmap import CP

from .backend import Outcome
from .device import DeviceError, DeviceInfo, host_registers, probe
from .interrupts import acknowledge, set_enabled
from .memory import PhysicalAllocator
from .mmu import InvalidationTimeoutError, Mmu
from .platform import Platform
from .ring import Ring

__all__ = ["FIRMWARE_MAJOR", "MAX_CMD_SIZE", "NpuBackend", "outcome"]

#: The firmware major version this driver speaks (2: job addresses are virtual).
FIRMWARE_MAJOR = 2
#: Bytes of command stream per job: firmware 2.x holds a stream in its SRAM and guarantees half
#: of it (the rest is its own).
MAX_CMD_SIZE = 1 << (CP.cp_info.sram_log2.reset - 1)
_SOURCES = ("job_done", "job_error", "queue_error", "mmu_fault", "bus_error")
_ERRNOS = {
    ErrorCode.NONE: 0,
    ErrorCode.PAGE_FAULT: errno.EFAULT,
    ErrorCode.BUS_ERROR: errno.EIO,
    ErrorCode.BAD_ENTRY: errno.EIO,  # the driver writes well-formed entries only
}
#: The Outcome of a job whose completion record is missing or does not match it.
LOST = Outcome(error=errno.EIO, hw_status=CompletionStatus.ERROR.value)


def outcome(record, fault=None, *, hardware_fault=False):
    """The :class:`~.backend.Outcome` of a :class:`~tinynpu.rtl.layouts.Completion` record.

    Parameters
    ----------
    record : Completion
        The firmware's record of the job.
    fault : Fault, optional
        The fault record of the job's address space, for a ``PAGE_FAULT``.
    hardware_fault : bool
        The fault is not the job's: its tables allowed the access (``EIO``, not ``EFAULT``).
    """
    error = record.error
    if error is ErrorCode.AS_STOPPED:
        return Outcome(retry=True, hw_status=record.status.value, hw_error=error.value)
    code = errno.EIO if hardware_fault else _ERRNOS.get(error, errno.EINVAL)
    return Outcome(
        error=code,
        hw_status=record.status.value,
        hw_error=error.value,
        hw_offset=record.offset,
        fault_va=fault.address if fault is not None else 0,
        cycles=record.cycles,
    )


class NpuBackend:
    """tinynpu behind the :class:`~tinynpu.driver.backend.Backend` interface.

    Parameters
    ----------
    platform : Platform
    memory : PhysicalAllocator
        Where the rings and the page tables come from.
    ring_log2 : int
        log2 of the ring's entries, within what ``cap_queue`` reports (checked by :meth:`init`).
    boot_timeout_ns : float
        How long the firmware may take to report ready after a reset.

    Attributes
    ----------
    limits : dict of str to int
        See :class:`~tinynpu.driver.backend.Backend` (after :meth:`init`).
    info : DeviceInfo
        Identity and capabilities (after :meth:`init`).
    firmware_version : tuple of int
    mmu : Mmu
        The address spaces and their fault records (after :meth:`init`).
    ring : Ring
        The command ring (after :meth:`init`).
    queue_error : QueueError
        Why the command queue stopped, until the next reset (``NONE`` while it runs).
    stopped_at : int or None
        While the queue is stopped by an error: the handle of the first job it did not fetch
        (``None`` if it fetched them all). The jobs before it run to their end; it and those
        after it never reach the firmware.
    reset_pending : bool
        A TLB invalidation did not complete: the TLB may hold stale entries until a reset.
    repaired : int
        Page-table descriptors found corrupted in memory and rewritten.
    lost_records : int
        Completion records found missing or corrupted.
    """

    def __init__(
        self,
        platform: Platform,
        memory: PhysicalAllocator,
        *,
        ring_log2=6,
        boot_timeout_ns=200_000.0,
    ):
        self.platform, self.memory = platform, memory
        self.regs = host_registers(platform)
        self.ring_log2, self.boot_timeout_ns = ring_log2, boot_timeout_ns
        self.info: DeviceInfo | None = None
        self.mmu: Mmu | None = None
        self.ring: Ring | None = None
        self.firmware_version = None
        self.queue_error = QueueError.NONE
        self.stopped_at = None
        self.reset_pending = False
        self.repaired = self.lost_records = 0
        self._hardware_faults = set()  # asids whose pending fault the tables do not explain
        self.limits = {}

    # --- bring-up ---------------------------------------------------------------------------

    async def init(self):
        """Probe the device, check the ring size, wait for the firmware, start the ring.

        Raises
        ------
        DeviceError
            ``ENODEV`` as :func:`~tinynpu.driver.device.probe` does, or for a firmware of another
            major version; ``EINVAL`` for a ring size outside the range ``cap_queue`` reports;
            ``ETIMEDOUT`` if the firmware does not report ready in time.
        """
        info = self.info = await probe(self.platform)
        low, high = info.ring_log2_min, info.ring_log2_max
        if not (isinstance(self.ring_log2, int) and low <= self.ring_log2 <= high):
            raise DeviceError(
                errno.EINVAL,
                f"Ring size log2 must be between {low} and {high} (cap_queue), "
                f"not {self.ring_log2!r}",
            )
        self.mmu = Mmu(self.platform, self.memory, info.addr_spaces)
        self.ring = Ring(self.platform, self.memory, self.ring_log2)
        await self._bring_up()
        major, minor, patch = info.version
        self.limits = {
            "array_size": info.array_size,
            "hw_version": major << 16 | minor << 8 | patch,
            "max_contexts": info.addr_spaces,
            "max_cmd_size": MAX_CMD_SIZE,
            "queue_depth": self.ring.size,
            "va_end": 1 << info.va_width,
        }

    async def _bring_up(self):
        await self._wait_firmware()
        await self.ring.program()
        self.queue_error, self.stopped_at = QueueError.NONE, None
        await set_enabled(self.regs, _SOURCES)

    async def _wait_firmware(self):
        """Poll ``fw_status.ready``, then check the firmware's version."""
        deadline = self.platform.now_ns() + self.boot_timeout_ns
        while not (await self.regs.fields("fw_status"))["ready"]:
            if self.platform.now_ns() >= deadline:
                raise DeviceError(
                    errno.ETIMEDOUT,
                    f"Firmware not ready {self.boot_timeout_ns:.0f} ns after reset",
                )
            await self.platform.sleep_ns(1_000)
        fields = await self.regs.fields("fw_version")
        self.firmware_version = (fields["major"], fields["minor"], fields["patch"])
        if fields["major"] != FIRMWARE_MAJOR:
            raise DeviceError(
                errno.ENODEV,
                f"Unsupported firmware {'.'.join(map(str, self.firmware_version))}: this driver "
                f"supports major version {FIRMWARE_MAJOR}",
            )

    async def reset(self):
        """Reset the NPU and bring it up again; every job not yet completed is lost.

        The address spaces in use are programmed again, their tables intact.
        """
        await self.platform.reset()
        self.reset_pending = False
        self._hardware_faults.clear()
        await self._bring_up()
        await self.mmu.restore()

    # --- address spaces ---------------------------------------------------------------------

    async def create_space(self, *, bypass=False):
        """An address space of the MMU, enabled, with empty tables.

        With ``bypass`` (tinynpu's own option, never for a client) its addresses are physical.
        """
        with self._invalidation():
            return await self.mmu.create(bypass=bypass)

    async def destroy_space(self, space):
        """Disable the address space and free its tables."""
        with self._invalidation():
            await self.mmu.destroy(space)

    def space_bytes(self, space):
        """Bytes of host memory the address space's tables hold."""
        return space.table.table_pages * GRANULE

    async def map(self, space, va, paddr, size, prot):
        """Write the descriptors of a mapping."""
        await self.mmu.map(space, va, paddr, size, prot)

    async def unmap(self, space, va, size):
        """Clear descriptors, invalidate the TLB range, free emptied tables."""
        with self._invalidation():
            await self.mmu.unmap(space, va, size)

    @contextmanager
    def _invalidation(self):
        """Turn a hung TLB invalidation into :attr:`reset_pending`.

        The operation has completed but for the TLB; the reset the scheduler brings before any
        job runs empties it.
        """
        try:
            yield
        except InvalidationTimeoutError:
            self.reset_pending = True

    async def resume_space(self, space):
        """Acknowledge the address space's fault: it restarts."""
        await self.mmu.acknowledge(space.asid)

    # --- jobs -------------------------------------------------------------------------------

    async def run_job(self, space, cmd_va, cmd_size):
        """Write a ring entry and ring the doorbell; the handle is the entry's seqno.

        On a queue stopped by an error the entry waits, unfetched, for the reset that the
        scheduler's timeout brings.

        Raises
        ------
        DeviceError
            ``EBUSY`` if every ring slot holds a job not yet completed (the core never keeps
            more than ``limits["queue_depth"]`` jobs on the hardware).
        """
        return await self.ring.push(cmd_va, cmd_size, space.asid)

    async def handle_irq(self):
        """Acknowledge; read the fault records (held), the queue's error, the completions.

        A fault the tables as written do not explain (the access was mapped and allowed) is the
        memory's or the walker's: the tables are repaired from the driver's copy and the job
        ends with ``EIO``. A stopped queue sets :attr:`stopped_at`.

        Returns
        -------
        tuple of (list, list)
            ``(handle, Outcome)`` of each completion in ring order, and the address spaces that
            faulted (stopped until :meth:`resume_space`).
        """
        sources = await acknowledge(self.regs)
        faults = await self.mmu.read_faults() if "mmu_fault" in sources else []
        for fault in faults:
            await self._blame(fault)
        if "queue_error" in sources:
            self.queue_error = QueueError((await self.regs.fields("ring_status"))["error"])
            self.stopped_at = self.ring.handle_at((await self.regs.fields("ring_head"))["index"])
            # Stopped with every entry taken (no driver writes a bad tail): reset before the next.
            self.reset_pending = self.stopped_at is None
        done = []
        if sources:  # a lost interrupt is found here too, at the scheduler's timeout
            for seqno, asid, record in await self.ring.collect():
                done.append((seqno, self._outcome(asid, record)))
        spaces = {space.asid: space for space in self.mmu.spaces}
        return done, [spaces[f.asid] for f in faults if f.asid in spaces]

    def _outcome(self, asid, record):
        if record is None:
            self.lost_records += 1
            return LOST
        if record.error is not ErrorCode.PAGE_FAULT:
            return outcome(record)
        return outcome(record, self._fault_of(asid), hardware_fault=asid in self._hardware_faults)

    async def _blame(self, fault):
        """Whether ``fault`` is the hardware's; if its tables were corrupted, repair them."""
        space = next((s for s in self.mmu.spaces if s.asid == fault.asid), None)
        if space is None or space.bypass:
            return
        table = space.table
        walk_failed = fault.kind is FaultKind.BUS_ERROR
        allowed = table.allows(
            fault.address, write=fault.access is Access.WRITE, fetch=fault.access is Access.FETCH
        )
        if walk_failed or allowed:
            self._hardware_faults.add(fault.asid)
            repaired = await table.repair()
            if repaired:  # what the corrupted descriptors translated must not stay cached
                self.repaired += repaired
                await self.mmu.invalidate(fault.asid)
        else:
            self._hardware_faults.discard(fault.asid)

    def _fault_of(self, asid):
        """The latest fault read in ``asid``."""
        return next((f for f in reversed(self.mmu.faults) if f.asid == asid), None)
