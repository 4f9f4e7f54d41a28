"""A user process's memory, as far as the uAPI sees it: where ioctl arrays live.

A request passes arrays (a submit's handles and in-syncs) by pointer; the driver copies them in
with :meth:`UserMemory.copy_from_user`, which fails with ``EFAULT`` on an address the process
has not allocated, as ``copy_from_user`` does on an unmapped one.
"""

import errno
from bisect import bisect_right

from .uapi import UapiError

__all__ = ["UserMemory"]

#: Where the first allocation starts: page 0 stays unmapped, so a NULL pointer faults.
_BASE = 0x1000_0000
_ALIGN = 64


class UserMemory:
    """A process's heap: :meth:`alloc` returns pointers, the driver copies from them."""

    def __init__(self):
        self._starts = []
        self._blocks = {}  # start -> bytearray
        self._next = _BASE

    def alloc(self, data: bytes) -> int:
        """Copy ``data`` into a new allocation; return its address."""
        address = self._next
        self._blocks[address] = bytearray(data)
        self._starts.append(address)
        self._next = address + -(-max(len(data), 1) // _ALIGN) * _ALIGN + _ALIGN  # a gap
        return address

    def free(self, address: int):
        """Release the allocation at ``address``; later copies from it fault."""
        del self._blocks[address]
        self._starts.remove(address)

    def copy_from_user(self, address: int, length: int) -> bytes:
        """The ``length`` bytes at ``address``.

        Raises
        ------
        UapiError
            ``EFAULT`` unless the whole range lies in one allocation.
        """
        if length == 0:
            return b""
        i = bisect_right(self._starts, address) - 1
        if i >= 0:
            start = self._starts[i]
            block = self._blocks[start]
            if address + length <= start + len(block):
                return bytes(block[address - start : address - start + length])
        raise UapiError(errno.EFAULT, f"{length} bytes at {address:#x} are not user memory")
