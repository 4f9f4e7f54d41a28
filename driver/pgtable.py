"""The page-table writer: LPAE stage-1 tables in host memory, with io-pgtable semantics.

One :class:`PageTable` is one address space. Its tables are pages from a
:class:`~tinynpu.driver.memory.PhysicalAllocator`; every descriptor it changes is written to host
memory through the platform at once (the CPU's view; the walker reads memory). A shadow copy of each
table stands in for the CPU reading its own stores back.

Ordering, as in Linux: after :meth:`PageTable.unmap_pages` the caller invalidates the TLB for the
range, and only then calls :meth:`PageTable.release` with the returned :class:`Gather`, which
frees the table pages the unmap emptied: the walker can never read a page after it was reused.
"""

import enum
import errno
from dataclasses import dataclass, field

from tinynpu.rtl.layouts import pack, unpack
from tinynpu.rtl.pte import (
    ENTRIES_PER_TABLE,
    GRANULE,
    INPUT_ADDR_WIDTH,
    LEVELS,
    OUTPUT_ADDR_WIDTH,
    Descriptor,
    block_size,
    level_index,
)

from . import tracepoints
from .device import DeviceError

__all__ = ["BLOCK_SIZES", "Gather", "PageTable", "Prot", "PteWrite"]

#: Sizes a single descriptor can map, largest first.
BLOCK_SIZES = tuple(block_size(level) for level in LEVELS)
_DESCRIPTOR_BYTES = 8


class Prot(enum.Flag):
    """Access rights of a mapping (the ``IOMMU_*`` flags)."""

    READ = 1
    WRITE = 2
    NOEXEC = 4


@dataclass(frozen=True)
class PteWrite:
    """One descriptor written to memory: where, and what (for traces and tests)."""

    level: int
    table: int
    index: int
    value: int


@dataclass
class Gather:
    """What an unmap leaves for the TLB invalidation, and for after it.

    Attributes
    ----------
    start, end : int or None
        The virtual range unmapped (``end`` exclusive): what the TLB must forget.
    tables : list of int
        Table pages the unmap emptied, to free once it has.
    synced : bool
        Set by whoever completed the TLB invalidation of the range; :meth:`PageTable.release`
        refuses a gather without it.
    """

    start: int | None = None
    end: int | None = None
    tables: list = field(default_factory=list)
    synced: bool = False

    def add_range(self, start, end):
        """Widen the range to cover ``start .. end``."""
        self.start = start if self.start is None else min(self.start, start)
        self.end = end if self.end is None else max(self.end, end)
        self.synced = False


def _descriptor(**fields):
    return int.from_bytes(pack(Descriptor, fields), "little")


def _decode(value):
    return unpack(Descriptor, value.to_bytes(_DESCRIPTOR_BYTES, "little"))


class PageTable:
    """The translation tables of one address space.

    Parameters
    ----------
    memory : object
        Host memory with the :class:`~tinynpu.driver.platform.Platform` methods ``mem_read`` and
        ``mem_write``.
    allocator : PhysicalAllocator
        Where table pages come from.

    Attributes
    ----------
    root : int
        Physical address of the level-1 table (the translation-table base).
    writes : list of PteWrite
        Every descriptor written, in order.
    """

    def __init__(self, memory, allocator):
        self.memory = memory
        self.allocator = allocator
        self.root = None
        self.writes = []
        self._tables = {}  # physical address -> list of 512 descriptor values

    async def init(self):
        """Allocate and clear the level-1 table."""
        self.root = await self._new_table()

    async def _new_table(self, entries=None):
        address = self.allocator.alloc(GRANULE)
        table = list(entries) if entries is not None else [0] * ENTRIES_PER_TABLE
        self._tables[address] = table
        raw = b"".join(v.to_bytes(_DESCRIPTOR_BYTES, "little") for v in table)
        await self.memory.mem_write(address, raw)
        return address

    async def _set(self, level, table, index, value):
        self._tables[table][index] = value
        self.writes.append(PteWrite(level, table, index, value))
        tracepoints.trace("pte", level=level, table=table, index=index, value=value)
        await self.memory.mem_write(
            table + index * _DESCRIPTOR_BYTES, value.to_bytes(_DESCRIPTOR_BYTES, "little")
        )

    @staticmethod
    def _leaf(level, paddr, prot):
        return _descriptor(
            valid=1,
            table=1 if level == 3 else 0,
            af=1,
            ap_ro=0 if Prot.WRITE in prot else 1,
            xn=1 if Prot.NOEXEC in prot else 0,
            sh=3,
            address=paddr // GRANULE,
        )

    @staticmethod
    def _is_table(level, value):
        d = _decode(value)
        return bool(d.valid and d.table and level < 3)

    @staticmethod
    def _next(value):
        return _decode(value).address * GRANULE

    # --- map ----------------------------------------------------------------------------------

    def _check_range(self, iova, size, paddr=0):
        if size <= 0 or (iova | size | paddr) % GRANULE:
            raise DeviceError(
                errno.EINVAL, f"Range {iova:#x}+{size:#x} -> {paddr:#x} is not page aligned"
            )
        if iova + size > 1 << INPUT_ADDR_WIDTH or paddr + size > 1 << OUTPUT_ADDR_WIDTH:
            raise DeviceError(errno.EINVAL, f"Range {iova:#x}+{size:#x} is out of range")

    def _chunks(self, iova, paddr, size):
        """Split a mapping into the largest blocks alignment allows: (iova, paddr, level)."""
        while size:
            for level in LEVELS:
                step = block_size(level)
                if (iova | paddr) % step == 0 and size >= step:
                    yield iova, paddr, level
                    iova, paddr, size = iova + step, paddr + step, size - step
                    break

    async def map_pages(self, iova, paddr, size, prot):
        """Map ``size`` bytes at ``iova`` to ``paddr`` with ``prot``, in the largest blocks.

        If any page of the range is already mapped, nothing changes. On ``ENOMEM`` the pages
        mapped so far stay mapped: as in Linux, the caller unmaps the range
        (:meth:`tinynpu.driver.vm.Vm.map` does).

        Raises
        ------
        DeviceError
            ``EEXIST`` if part of the range is mapped; ``EINVAL`` for an unaligned or
            out-of-range request or no ``Prot.READ``/``Prot.WRITE`` right; ``ENOMEM`` if no page
            is left for a table.
        """
        self._check_range(iova, size, paddr)
        if not prot & (Prot.READ | Prot.WRITE):
            raise DeviceError(errno.EINVAL, f"Protection {prot!r} grants no access")
        if self._mapped_in(iova, size):
            raise DeviceError(errno.EEXIST, f"Range {iova:#x}+{size:#x} is already mapped")
        for va, pa, level in self._chunks(iova, paddr, size):
            table = self.root
            for upper in LEVELS[: level - 1]:
                index = level_index(va, upper)
                value = self._tables[table][index]
                if not _decode(value).valid:
                    child = await self._new_table()
                    await self._set(
                        upper, table, index, _descriptor(valid=1, table=1, address=child // GRANULE)
                    )
                    table = child
                else:
                    table = self._next(value)
            await self._set(level, table, level_index(va, level), self._leaf(level, pa, prot))
        return size

    def _mapped_in(self, iova, size):
        """Whether any page of the range has a valid leaf descriptor."""
        end = iova + size
        while iova < end:
            leaf = self._lookup(iova)
            if leaf is not None:
                return True
            # Skip to the next boundary of the level where the walk stopped.
            step = self._hole_size(iova)
            iova = (iova // step + 1) * step
        return False

    def _walk(self, iova):
        """(level, table, index, value) of the descriptor where the walk for ``iova`` ends."""
        table = self.root
        for level in LEVELS:
            index = level_index(iova, level)
            value = self._tables[table][index]
            if not self._is_table(level, value):
                return level, table, index, value
            table = self._next(value)
        raise AssertionError("a level-3 descriptor is never a table")

    def locate(self, iova):
        """Where the walk for ``iova`` ends: ``(level, descriptor address, descriptor value)``.

        The descriptor is the leaf that maps ``iova``, or the invalid one that stops the walk:
        what the hardware walker reads last.
        """
        self._check_range(iova - iova % GRANULE, GRANULE)
        level, table, index, value = self._walk(iova)
        return level, table + index * _DESCRIPTOR_BYTES, value

    def _lookup(self, iova):
        level, _, _, value = self._walk(iova)
        d = _decode(value)
        if not d.valid or (level == 3 and not d.table):
            return None
        return level, value

    def _hole_size(self, iova):
        return block_size(self._walk(iova)[0])

    def iova_to_phys(self, iova):
        """The physical address ``iova`` translates to, or ``None`` if it is not mapped."""
        if not 0 <= iova < 1 << INPUT_ADDR_WIDTH:
            return None
        found = self._lookup(iova)
        if found is None:
            return None
        level, value = found
        return self._next(value) + iova % block_size(level)

    def allows(self, iova, write=False, fetch=False):
        """Whether the tables as written map ``iova`` for this access (a write, a fetch)."""
        found = self._lookup(iova) if 0 <= iova < 1 << INPUT_ADDR_WIDTH else None
        if found is None:
            return False
        d = _decode(found[1])
        return not (write and d.ap_ro) and not (fetch and d.xn)

    async def repair(self):
        """Compare every table in memory with what was written; rewrite what differs.

        Returns
        -------
        int
            Descriptors rewritten: what corrupted memory had changed.
        """
        repaired = 0
        for address, table in self._tables.items():
            raw = await self.memory.mem_read(address, GRANULE)
            for index, value in enumerate(table):
                at = index * _DESCRIPTOR_BYTES
                if int.from_bytes(raw[at : at + _DESCRIPTOR_BYTES], "little") != value:
                    tracepoints.trace("pte_repair", table=address, index=index, value=value)
                    await self.memory.mem_write(
                        address + at, value.to_bytes(_DESCRIPTOR_BYTES, "little")
                    )
                    repaired += 1
        return repaired

    # --- unmap --------------------------------------------------------------------------------

    async def unmap_pages(self, iova, size, gather=None):
        """Unmap ``size`` bytes at ``iova``; blocks partly inside the range are split.

        Returns
        -------
        (int, Gather)
            Bytes that were mapped and are now unmapped, and the table pages to free with
            :meth:`release` once the TLB has been invalidated.
        """
        self._check_range(iova, size)
        gather = gather if gather is not None else Gather()
        gather.add_range(iova, iova + size)
        unmapped, end = 0, iova + size
        while iova < end:
            level, table, index, value = self._walk(iova)
            step = block_size(level)
            start = iova // step * step
            if not _decode(value).valid:
                iova = start + step
                continue
            if iova == start and start + step <= end:
                await self._set(level, table, index, 0)
                unmapped += step
                iova += step
                continue
            # A block reaching outside the range: split it into a table of the next level.
            child_size = block_size(level + 1)
            base = self._next(value)
            prot = Prot.READ | (Prot.NOEXEC if _decode(value).xn else Prot(0))
            if not _decode(value).ap_ro:
                prot |= Prot.WRITE
            entries = [
                self._leaf(level + 1, base + i * child_size, prot) for i in range(ENTRIES_PER_TABLE)
            ]
            child = await self._new_table(entries)
            await self._set(
                level, table, index, _descriptor(valid=1, table=1, address=child // GRANULE)
            )
        await self._prune(self.root, 1, gather)
        return unmapped, gather

    async def _prune(self, table, level, gather):
        """Clear table descriptors whose tables hold nothing valid; gather those pages."""
        empty = True
        for index, value in enumerate(self._tables[table]):
            if self._is_table(level, value):
                child = self._next(value)
                if await self._prune(child, level + 1, gather):
                    await self._set(level, table, index, 0)
                    gather.tables.append(child)
                    continue
                empty = False
            elif _decode(value).valid:
                empty = False
        return empty

    def release(self, gather):
        """Free the table pages of ``gather``: only after the TLB invalidation of the unmap.

        Raises
        ------
        RuntimeError
            If ``gather.synced`` is not set: the walker or the TLB may still use the pages.
        """
        if not gather.synced:
            raise RuntimeError(
                "Table pages released before the TLB invalidation of the unmapped range"
            )
        for table in gather.tables:
            del self._tables[table]
            self.allocator.free(table)
        gather.tables.clear()

    def destroy(self):
        """Free every table page: only once the address space is disabled and invalidated."""
        for table in self._tables:
            self.allocator.free(table)
        self._tables.clear()
        self.root = None

    @property
    def table_pages(self):
        """Table pages in use, the level-1 table included."""
        return len(self._tables)
