"""Buffer objects: zeroed host-memory pages that jobs, mappings and the CPU share.

A buffer's pages come from the device's :class:`~tinynpu.driver.memory.PhysicalAllocator`: in one
contiguous range when there is one, else page by page (the device sees them through its page
tables either way). A buffer lives while anything references it: a file's handle, a mapping in
an address space, an unfinished job or a CPU mapping. The last reference returns its pages.
"""

import errno

from . import tracepoints
from .uapi import PAGE_SIZE, UapiError

__all__ = ["BufferObject", "CpuMapping"]

#: Bytes zeroed per host-memory write when a buffer is created.
_ZERO_CHUNK = 1 << 20


class BufferObject:
    """Pages of host memory, reference-counted.

    Attributes
    ----------
    size : int
        Bytes, a multiple of the page size.
    segments : list of (int, int)
        The physical ranges ``(address, bytes)`` that back it, in order.
    mmap_offset : int
        Its key for :meth:`tinynpu.driver.file.File.mmap`.
    jobs : set
        Unfinished jobs that use it (what a WAIT on the buffer waits for).
    tenant : Tenant or None
        The client whose quota its bytes count against, until they are freed.
    """

    def __init__(self, device, size, segments, mmap_offset, tenant=None):
        self.device, self.tenant = device, tenant
        self.size = size
        self.segments = segments
        self.mmap_offset = mmap_offset
        self.jobs = set()
        self.refs = 1

    @classmethod
    async def create(cls, device, size, tenant=None):
        """Allocate and zero ``size`` bytes (a page multiple) of host memory.

        The bytes count against ``tenant``'s quota until the buffer is freed.

        Raises
        ------
        UapiError
            ``ENOMEM`` if the memory is not there (the device's shortage is told first);
            ``EDQUOT`` if ``tenant`` has no room for it.
        """
        if size > device.memory.free_bytes:
            raise UapiError(errno.ENOMEM, f"{size} bytes asked, {device.memory.free_bytes} free")
        if tenant is not None:
            tenant.charge(size)
        try:
            return await cls._allocate(device, size, tenant)
        except BaseException:
            if tenant is not None:
                tenant.uncharge(size)
            raise

    @classmethod
    async def _allocate(cls, device, size, tenant):
        allocator = device.memory
        try:
            segments = [(allocator.alloc(size), size)]
        except OSError:
            segments = []
            try:
                for _ in range(size // PAGE_SIZE):
                    segments.append((allocator.alloc(PAGE_SIZE), PAGE_SIZE))
            except OSError:
                for address, _ in segments:
                    allocator.free(address)
                raise UapiError(errno.ENOMEM, f"No {size} bytes of pages left") from None
        for address, length in segments:
            for offset in range(0, length, _ZERO_CHUNK):
                chunk = min(_ZERO_CHUNK, length - offset)
                await device.platform.mem_write(address + offset, bytes(chunk))
        bo = cls(device, size, segments, device.next_mmap_offset(size), tenant)
        tracepoints.trace("bo_create", bo=bo.mmap_offset, size=size, pieces=tuple(segments))
        return bo

    def get(self):
        """Take a reference."""
        self.refs += 1
        return self

    def put(self):
        """Drop a reference; the last one frees the pages."""
        self.refs -= 1
        if self.refs == 0:
            tracepoints.trace("bo_free", bo=self.mmap_offset)
            self.device.bos_by_offset.pop(self.mmap_offset, None)
            for address, _ in self.segments:
                self.device.memory.free(address)
            self.segments = []
            if self.tenant is not None:
                self.tenant.uncharge(self.size)

    def pieces(self, offset, length):
        """The physical ranges ``(address, bytes)`` behind ``offset .. offset + length``."""
        start = 0
        for address, size in self.segments:
            lo, hi = max(offset, start), min(offset + length, start + size)
            if lo < hi:
                yield address + lo - start, hi - lo
            start += size


class CpuMapping:
    """The CPU's view of a buffer (what ``mmap`` returns); holds a reference until closed."""

    def __init__(self, bo, length):
        self._bo = bo.get()
        self.length = length

    def _pieces(self, offset, length):
        if self._bo is None:
            raise UapiError(errno.EFAULT, "Access through a closed CPU mapping")
        if offset < 0 or length < 0 or offset + length > self.length:
            raise UapiError(
                errno.EFAULT,
                f"Access to {length} bytes at {offset} of a {self.length}-byte mapping",
            )
        return self._bo.pieces(offset, length)

    async def read(self, offset, length):
        """``length`` bytes from ``offset`` of the buffer.

        Raises
        ------
        UapiError
            ``EFAULT`` for bytes outside the mapping, or a closed mapping.
        """
        pieces = list(self._pieces(offset, length))
        platform = self._bo.device.platform
        return b"".join([await platform.mem_read(a, n) for a, n in pieces])

    async def write(self, offset, data):
        """Store ``data`` at ``offset`` of the buffer (``EFAULT`` as :meth:`read`)."""
        data = bytes(data)
        pieces = list(self._pieces(offset, len(data)))
        done = 0
        for address, length in pieces:
            await self._bo.device.platform.mem_write(address, data[done : done + length])
            done += length

    def close(self):
        """Unmap: drop the reference."""
        if self._bo is not None:
            self._bo.put()
            self._bo = None
