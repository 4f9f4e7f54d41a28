"""Physical host memory, in whole pages: the rings, the page tables and the buffer objects."""

import errno
from bisect import insort

from .device import DeviceError
from .uapi import PAGE_SIZE

__all__ = ["PAGE_SIZE", "PhysicalAllocator"]


class PhysicalAllocator:
    """First-fit allocator of physically contiguous, page-granular ranges.

    Parameters
    ----------
    base : int
        First byte it manages; page aligned.
    size : int
        Bytes it manages; a multiple of the page size.
    """

    def __init__(self, base, size):
        if base % PAGE_SIZE or size <= 0 or size % PAGE_SIZE:
            raise ValueError(f"Region {base:#x}+{size:#x} is not a non-empty set of whole pages")
        self.base, self.size = base, size
        self._free = [(base, base + size)]  # sorted, disjoint, coalesced
        self._used = {}

    @property
    def free_bytes(self):
        """Bytes not allocated."""
        return sum(end - start for start, end in self._free)

    def alloc(self, size, *, align=PAGE_SIZE):
        """Allocate ``size`` bytes (rounded up to whole pages) at a multiple of ``align``.

        Raises
        ------
        DeviceError
            ``ENOMEM`` if no free range is large enough; ``EINVAL`` for a size that is not
            positive or an alignment that is not a power-of-two multiple of the page size.
        """
        if size <= 0 or align < PAGE_SIZE or align & (align - 1):
            raise DeviceError(errno.EINVAL, f"Cannot allocate {size} bytes aligned to {align}")
        size = -(-size // PAGE_SIZE) * PAGE_SIZE
        for i, (start, end) in enumerate(self._free):
            address = -(-start // align) * align
            if address + size <= end:
                del self._free[i]
                if start < address:
                    insort(self._free, (start, address))
                if address + size < end:
                    insort(self._free, (address + size, end))
                self._used[address] = size
                return address
        raise DeviceError(errno.ENOMEM, f"No {size} free bytes aligned to {align}")

    def free(self, address):
        """Return the range that :meth:`alloc` gave at ``address``.

        Raises
        ------
        DeviceError
            ``EINVAL`` if ``address`` is not the start of an allocated range.
        """
        try:
            size = self._used.pop(address)
        except KeyError:
            raise DeviceError(errno.EINVAL, f"{address:#x} is not an allocation") from None
        insort(self._free, (address, address + size))
        merged = []
        for start, end in self._free:
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        self._free = merged
