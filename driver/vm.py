"""A context's GPU-style virtual address space: VM_BIND's mappings over the page-table writer.

:class:`Vm` keeps the mappings (buffer ranges at virtual addresses) and asks the backend to
write and clear the descriptors. It enforces the rules of VM_BIND: page-aligned addresses,
sizes and buffer offsets, ranges inside ``va_start .. va_end`` and inside the buffer, no overlap
(``EEXIST``), and an unmap that finds nothing mapped is ``ENOENT``. An unmap may cover part of a
mapping: what stays mapped on either side remains, as its own mapping.

A map that fails part-way (``ENOMEM`` for a table page) unmaps what it wrote before it reports
the error, as Linux's ``iommu_map`` does: no descriptor outlives the request that the VM does not
track. Should that clean-up fail too, the range stays a mapping of the VM (holding its buffer,
whose pages are then never handed to anyone else) until an UNMAP of it succeeds.
"""

import errno
from bisect import insort
from dataclasses import dataclass

from . import tracepoints
from .bo import BufferObject
from .pgtable import Prot
from .uapi import PAGE_SIZE, UapiError

__all__ = ["Mapping", "Vm"]


@dataclass(order=True)
class Mapping:
    """``size`` bytes of ``bo`` from ``offset``, at ``va``."""

    va: int
    size: int
    bo: BufferObject
    offset: int
    prot: Prot

    @property
    def end(self):
        """First address past the mapping."""
        return self.va + self.size


class Vm:
    """The mappings of one context's address space.

    Parameters
    ----------
    backend : Backend
        Writes the descriptors (:meth:`~tinynpu.driver.backend.Backend.map` and ``unmap``).
    space : object
        The backend's address space.
    va_start, va_end : int
        The range VM_BIND may use.
    """

    def __init__(self, backend, space, va_start, va_end):
        self.backend = backend
        self.space = space
        self.va_start, self.va_end = va_start, va_end
        self.mappings = []  # sorted by va, disjoint

    def _check_range(self, va, size):
        if va % PAGE_SIZE or size % PAGE_SIZE or size == 0:
            raise UapiError(
                errno.EINVAL, f"Range {va:#x}+{size:#x} is not a non-empty set of whole pages"
            )
        if va < self.va_start or va + size > self.va_end:
            raise UapiError(
                errno.EINVAL,
                f"Range {va:#x}+{size:#x} is outside {self.va_start:#x}..{self.va_end:#x}",
            )

    def overlapping(self, va, size):
        """The mappings that share a byte with ``va .. va + size``."""
        return [m for m in self.mappings if m.va < va + size and va < m.end]

    async def map(self, va, bo, offset, size, prot):
        """Map ``size`` bytes of ``bo`` from ``offset`` at ``va``.

        Raises
        ------
        UapiError
            ``EINVAL`` for a misaligned or out-of-range request; ``EEXIST`` if part of the
            range is mapped.
        OSError
            What the backend raised (``ENOMEM``); the range is unmapped again first.
        """
        self._check_range(va, size)
        if offset % PAGE_SIZE or offset + size > bo.size:
            raise UapiError(
                errno.EINVAL,
                f"Buffer range {offset:#x}+{size:#x} is misaligned or past its {bo.size:#x} bytes",
            )
        if clash := self.overlapping(va, size):
            raise UapiError(
                errno.EEXIST, f"{va:#x}+{size:#x} overlaps the mapping at {clash[0].va:#x}"
            )
        tracepoints.trace(
            "vm_map", va=va, size=size, bo=bo.mmap_offset, offset=offset, prot=prot.name or ""
        )
        at = va
        try:
            for paddr, length in bo.pieces(offset, size):
                at += length  # first: a piece that fails may have written part of its descriptors
                await self.backend.map(self.space, at - length, paddr, length, prot)
        except BaseException:
            try:
                await self.backend.unmap(self.space, va, at - va)
            except BaseException:
                insort(self.mappings, Mapping(va, at - va, bo.get(), offset, prot))
            raise
        insort(self.mappings, Mapping(va, size, bo.get(), offset, prot))

    async def unmap(self, va, size):
        """Unmap whatever is mapped in ``va .. va + size``; keep the rest of cut mappings.

        Raises
        ------
        UapiError
            ``ENOENT`` if nothing in the range is mapped; ``EINVAL`` as for :meth:`map`.
        """
        self._check_range(va, size)
        hit = self.overlapping(va, size)
        if not hit:
            raise UapiError(errno.ENOENT, f"Nothing is mapped in {va:#x}+{size:#x}")
        lo, hi = max(va, hit[0].va), min(va + size, hit[-1].end)
        tracepoints.trace("vm_unmap", va=lo, size=hi - lo)
        await self.backend.unmap(self.space, lo, hi - lo)
        for m in hit:
            self.mappings.remove(m)
            if m.va < va:  # the part below the range stays mapped
                insort(self.mappings, Mapping(m.va, va - m.va, m.bo.get(), m.offset, m.prot))
            if m.end > va + size:  # and the part above
                cut = va + size - m.va
                insort(
                    self.mappings,
                    Mapping(va + size, m.end - va - size, m.bo.get(), m.offset + cut, m.prot),
                )
            m.bo.put()

    def lookup(self, va):
        """The mapping that holds ``va``, or ``None``."""
        return next((m for m in self.mappings if m.va <= va < m.end), None)

    def covers(self, va, size, *, exec_only=False):
        """Whether ``va .. va + size`` is wholly mapped (and executable, with ``exec_only``)."""
        while size > 0:
            m = self.lookup(va)
            if m is None or (exec_only and Prot.NOEXEC in m.prot):
                return False
            step = min(size, m.end - va)
            va, size = va + step, size - step
        return True

    def forget(self):
        """Drop every mapping's buffer reference, once the backend has destroyed the space."""
        for m in self.mappings:
            m.bo.put()
        self.mappings = []
