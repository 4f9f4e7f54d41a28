"""The driver core's pure parts: user memory, the mutex, VM_BIND's bookkeeping, uAPI sizes."""

import asyncio
import errno

import pytest
from tinynpu.driver.bo import BufferObject
from tinynpu.driver.pgtable import Prot
from tinynpu.driver.sync import Mutex
from tinynpu.driver.uapi import MIN_SIZES, Ioctl, UapiError
from tinynpu.driver.usermem import UserMemory
from tinynpu.driver.vm import Vm

PAGE = 4096


class AsyncioPlatform:
    """Events and tasks from asyncio: all the mutex needs."""

    def event(self):
        event = asyncio.Event()

        class _Event:
            set, clear, is_set = event.set, event.clear, event.is_set

            async def wait(self, timeout_ns=None):
                await event.wait()
                return True

        return _Event()


def test_user_memory_copies_and_faults():
    user = UserMemory()
    ptr = user.alloc(b"abcdefgh")
    assert user.copy_from_user(ptr + 2, 4) == b"cdef"
    assert user.copy_from_user(0, 0) == b""
    for address, length in ((0, 1), (ptr, 9), (ptr - 1, 2), (ptr + 8, 1)):
        with pytest.raises(UapiError) as error:
            user.copy_from_user(address, length)
        assert error.value.errno == errno.EFAULT
    user.free(ptr)
    with pytest.raises(UapiError):
        user.copy_from_user(ptr, 1)


def test_mutex_serialises_and_survives_a_cancelled_waiter():
    async def main():
        mutex, order = Mutex(AsyncioPlatform()), []

        async def worker(name):
            async with mutex:
                order.append(f"{name}+")
                await asyncio.sleep(0)
                order.append(f"{name}-")

        async with mutex:
            tasks = [asyncio.ensure_future(worker(n)) for n in "abc"]
            await asyncio.sleep(0)
            tasks[0].cancel()  # a waiter cancelled before its turn
            await asyncio.sleep(0)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert order == ["b+", "b-", "c+", "c-"]
        assert not mutex.locked

    asyncio.run(main())


class RecordingBackend:
    def __init__(self):
        self.calls = []

    async def map(self, space, va, paddr, size, prot):
        self.calls.append(("map", va, paddr, size))

    async def unmap(self, space, va, size):
        self.calls.append(("unmap", va, size))


class FakeBo:
    def __init__(self, size, segments):
        self.size, self.segments, self.refs = size, segments, 1
        self.mmap_offset = 0x10_0000_0000

    def get(self):
        self.refs += 1
        return self

    def put(self):
        self.refs -= 1

    pieces = BufferObject.pieces  # the real split of a range over the segments


def test_vm_maps_each_piece_and_splits_on_unmap():
    async def main():
        backend = RecordingBackend()
        vm = Vm(backend, None, PAGE, 1 << 39)
        bo = FakeBo(3 * PAGE, [(0x10000, PAGE), (0x50000, 2 * PAGE)])
        await vm.map(0x100000, bo, 0, 3 * PAGE, Prot.READ)
        assert backend.calls == [("map", 0x100000, 0x10000, PAGE), ("map", 0x101000, 0x50000, 8192)]
        assert bo.refs == 2
        await vm.unmap(0x101000, PAGE)  # the middle page
        assert backend.calls[-1] == ("unmap", 0x101000, PAGE)
        assert [(m.va, m.size, m.offset) for m in vm.mappings] == [
            (0x100000, PAGE, 0),
            (0x102000, PAGE, 2 * PAGE),
        ]
        assert bo.refs == 3  # two mappings and the handle
        assert vm.covers(0x100000, PAGE) and not vm.covers(0x100000, 2 * PAGE)
        codes = []
        for call in (
            vm.unmap(0x101000, PAGE),  # nothing mapped
            vm.map(0x102000, bo, 0, PAGE, Prot.READ),  # overlap
            vm.map(0x200000, bo, PAGE, 3 * PAGE, Prot.READ),  # past the buffer
            vm.map(0, bo, 0, PAGE, Prot.READ),  # below va_start
            vm.map(0x200800, bo, 0, PAGE, Prot.READ),  # misaligned
        ):
            with pytest.raises(UapiError) as error:
                await call
            codes.append(error.value.errno)
        assert codes == [errno.ENOENT, errno.EEXIST, errno.EINVAL, errno.EINVAL, errno.EINVAL]
        await vm.unmap(0x100000, 3 * PAGE)  # covers the hole: only the mapped span is cleared
        assert backend.calls[-1] == ("unmap", 0x100000, 3 * PAGE)
        assert vm.mappings == [] and bo.refs == 1

    asyncio.run(main())


def test_uapi_structure_sizes():
    assert {request.name: size for request, size in MIN_SIZES.items()} == {
        "DEV_QUERY": 96,
        "CONTEXT_CREATE": 16,
        "CONTEXT_DESTROY": 16,
        "BO_CREATE": 24,
        "BO_MMAP": 24,
        "BO_CLOSE": 16,
        "VM_BIND": 40,
        "SUBMIT": 64,
        "WAIT": 56,
        "GET_RESET_STATUS": 32,
    }
    assert [int(r) for r in Ioctl] == list(range(10))
