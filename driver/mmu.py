"""Address spaces on the NPU's MMU: assignment, table bases, TLB invalidation and faults.

The register-aware half of the page-table story; :mod:`tinynpu.driver.pgtable` writes the tables.

* :meth:`Mmu.create` takes a free address space, gives it a level-1 table, programs the table
  base, invalidates whatever the TLB holds for it and enables it.
* :meth:`Mmu.map` writes descriptors (new mappings need no invalidation: the TLB never caches
  a fault).
* :meth:`Mmu.unmap` clears descriptors, invalidates the TLB for the range and waits for the
  invalidation to complete, and only then frees the table pages the unmap emptied (the ordering
  of Linux's ``iommu_iotlb_sync``).
* :meth:`Mmu.read_faults` is the ``mmu_fault`` interrupt's bottom half: it reads each stopped
  address space's fault record into :attr:`Mmu.faults`; the space stays stopped until
  :meth:`Mmu.acknowledge` (the scheduler's call, once none of its jobs is on the hardware).
"""

import errno
from dataclasses import dataclass

from tinynpu.rtl.layouts import Access, FaultKind
from tinynpu.rtl.pte import GRANULE

from .device import DeviceError, host_registers
from .memory import PhysicalAllocator
from .pgtable import Gather, PageTable, Prot
from .platform import Platform

__all__ = ["AddressSpace", "Fault", "InvalidationTimeoutError", "Mmu"]

#: MMIO polls of tlb_inv_status an invalidation may take before it is declared hung.
INVALIDATE_POLLS = 1000


class InvalidationTimeoutError(DeviceError):
    """A TLB invalidation did not complete: the TLB may still hold what it should have dropped.

    The operation that raised it has otherwise completed (descriptors written, tables freed);
    nothing may run in the address space until a reset has emptied the TLB.
    """

    def __init__(self, message):
        super().__init__(errno.ETIMEDOUT, message)


@dataclass(frozen=True)
class Fault:
    """One fault record, as the hardware reported it.

    Attributes
    ----------
    asid : int
    address : int
        The faulting virtual address.
    kind : FaultKind
    access : Access
    level : int
        Table level of the fault (0 for a disabled address space or an address beyond 39 bits).
    count : int
        Further faults in the address space while this one was pending.
    """

    asid: int
    address: int
    kind: FaultKind
    access: Access
    level: int
    count: int


@dataclass(eq=False)
class AddressSpace:
    """One address space in use: its hardware number and its tables.

    In ``bypass``, its jobs' addresses are physical and the tables are not used.
    """

    asid: int
    table: PageTable
    bypass: bool = False

    def iova_to_phys(self, iova):
        """The physical address ``iova`` maps to, or ``None``."""
        return self.table.iova_to_phys(iova)


class Mmu:
    """The MMU's address spaces, on behalf of the :class:`~tinynpu.driver.npu.NpuBackend`.

    Parameters
    ----------
    platform : Platform
    allocator : PhysicalAllocator
        Where table pages come from.
    count : int
        Address spaces the hardware has (``cap_mmu.addr_spaces``).

    Attributes
    ----------
    faults : list of Fault
        Every fault handled, oldest first.
    """

    def __init__(self, platform: Platform, allocator: PhysicalAllocator, count: int):
        self.platform = platform
        self.regs = host_registers(platform)
        self.allocator = allocator
        self.count = count
        self.faults = []
        self._spaces = {}  # asid -> AddressSpace
        self._held = set()  # address spaces whose fault was read and not yet acknowledged

    async def create(self, *, bypass=False):
        """Assign a free address space, with empty tables, and enable it.

        With ``bypass``, its addresses are physical: for the driver's own jobs, never a
        client's.

        Raises
        ------
        DeviceError
            ``EBUSY`` if every address space is in use; ``ENOMEM`` if no page is left for the
            level-1 table.
        """
        free = [asid for asid in range(self.count) if asid not in self._spaces]
        if not free:
            raise DeviceError(errno.EBUSY, f"All {self.count} address spaces are in use")
        table = PageTable(self.platform, self.allocator)
        await table.init()
        space = AddressSpace(free[0], table, bypass)
        self._spaces[space.asid] = space
        await self._program(space)
        return space

    async def _program(self, space):
        """Table base, a clean TLB, then enable."""
        bank = self.regs.bank("aspace", space.asid)
        await bank.write_address("ttbr", space.table.root)
        await self.invalidate(space.asid)
        await bank.write("control", enable=1, bypass=int(space.bypass))

    @property
    def spaces(self):
        """The address spaces in use."""
        return list(self._spaces.values())

    async def restore(self):
        """Program every address space in use again, after a device reset."""
        self._held.clear()
        for space in self._spaces.values():
            await self._program(space)

    async def destroy(self, space):
        """Disable the address space, forget its TLB entries and free all its tables.

        Its mappings are gone; the pages they mapped are the caller's again.
        """
        self._check(space)
        await self.regs.bank("aspace", space.asid).write("control", enable=0)
        try:
            await self.invalidate(space.asid)
        finally:  # disabled, it can walk nothing: its tables may go even if the TLB is stale
            space.table.destroy()
            del self._spaces[space.asid]

    def _check(self, space):
        if self._spaces.get(space.asid) is not space:
            raise DeviceError(errno.ENOENT, f"Address space {space.asid} is not in use")

    async def map(self, space, iova, paddr, size, prot=Prot.READ | Prot.WRITE):
        """Map ``size`` bytes at ``iova`` to ``paddr`` (see :meth:`PageTable.map_pages`)."""
        self._check(space)
        await space.table.map_pages(iova, paddr, size, prot)

    async def unmap(self, space, iova, size):
        """Unmap, invalidate the TLB for the range, then free emptied table pages.

        Returns
        -------
        int
            Bytes that were mapped.
        """
        self._check(space)
        unmapped, gather = await space.table.unmap_pages(iova, size)
        try:
            await self.sync(space, gather)
        except InvalidationTimeoutError:
            # The caller resets before the space runs again: then nothing walks the freed tables.
            gather.synced = True
            raise
        finally:
            space.table.release(gather)
        return unmapped

    async def sync(self, space, gather: Gather):
        """Invalidate the TLB for the range ``gather`` covers; mark it synced."""
        if gather.start is not None:
            first = gather.start // GRANULE
            pages = -(-gather.end // GRANULE) - first
            await self.invalidate(space.asid, gather.start - gather.start % GRANULE, pages)
        gather.synced = True

    async def invalidate(self, asid=None, iova=None, pages=None):
        """Invalidate TLB entries and wait until the hardware reports it done.

        Everything with no arguments; an address space's entries with ``asid``; those of
        ``pages`` pages from the page-aligned ``iova`` with all three.

        Raises
        ------
        InvalidationTimeoutError
            If the invalidation does not complete.
        """
        regs = self.regs
        before = (await regs.fields("tlb_inv_status"))["count"]
        if asid is None:
            command = {"everything": 1}
        else:
            await regs.write("tlb_inv_asid", asid=asid)
            command = {"by_asid": 1}
        if iova is not None:
            await regs.write_address("tlb_inv_addr", iova)
            await regs.write("tlb_inv_pages", count=pages)
            command = {"by_range": 1}
        await regs.write("tlb_inv_command", **command)
        for _ in range(INVALIDATE_POLLS):
            status = await regs.fields("tlb_inv_status")
            if status["count"] != before and not status["busy"]:
                return
        raise InvalidationTimeoutError(
            f"TLB invalidation {command} did not complete in {INVALIDATE_POLLS} polls"
        )

    async def read_faults(self):
        """Read the fault records not read since their address space last restarted.

        The address spaces stay stopped (their later accesses fault too) until
        :meth:`acknowledge`.
        """
        pending = (await self.regs.fields("mmu_fault_pending"))["aspaces"]
        found = []
        for asid in range(self.count):
            if not pending >> asid & 1 or asid in self._held:
                continue
            bank = self.regs.bank("aspace", asid)
            status = await bank.fields("fault_status")
            address = await bank.read_address("fault_addr")
            self._held.add(asid)
            found.append(
                Fault(
                    asid=asid,
                    address=address,
                    kind=FaultKind(status["kind"]),
                    access=Access(status["access"]),
                    level=status["table_level"],
                    count=status["count"],
                )
            )
        self.faults += found
        return found

    async def acknowledge(self, asid):
        """Clear ``asid``'s fault record, which restarts the address space."""
        await self.regs.bank("aspace", asid).write("fault_ack", ack=1)
        self._held.discard(asid)
