"""The page-table writer, after Linux's io-pgtable self-tests, against a memory model."""

import asyncio
import errno

import pytest
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.pgtable import Gather, PageTable, Prot

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
RW = Prot.READ | Prot.WRITE
#: Table pages come from here; mapped physical addresses are elsewhere.
POOL_BASE, POOL_SIZE = 0x100_0000, 256 * KiB


class Memory:
    """Host memory as the CPU sees it: the tables' bytes, for comparison with the shadow."""

    def __init__(self):
        self.data = bytearray(POOL_BASE + POOL_SIZE)

    async def mem_read(self, address, length):
        return bytes(self.data[address : address + length])

    async def mem_write(self, address, data):
        self.data[address : address + len(data)] = data

    def word(self, address):
        return int.from_bytes(self.data[address : address + 8], "little")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def pt():
    table = PageTable(Memory(), PhysicalAllocator(POOL_BASE, POOL_SIZE))
    run(table.init())
    return table


def errno_of(coro):
    with pytest.raises(DeviceError) as info:
        run(coro)
    return info.value.errno


def test_empty_table_translates_nothing(pt):
    for iova in (0, 42, 0x1000, 2 * MiB, GiB + 5, (1 << 39) - 1):
        assert pt.iova_to_phys(iova) is None
    assert pt.table_pages == 1
    assert pt.memory.data[pt.root : pt.root + 4096] == bytes(4096)


@pytest.mark.parametrize("size", [4 * KiB, 2 * MiB, GiB], ids=["4K", "2M", "1G"])
def test_each_block_size_maps_in_one_descriptor(pt, size):
    iova, paddr = 3 * size, 5 * size
    assert run(pt.map_pages(iova, paddr, size, RW)) == size
    assert pt.iova_to_phys(iova + 42) == paddr + 42
    assert pt.iova_to_phys(iova + size - 1) == paddr + size - 1
    assert pt.iova_to_phys(iova - 1) is None
    assert pt.iova_to_phys(iova + size) is None
    leaves = [w for w in pt.writes if w.value & 1 and w.value & ~0xFFF == paddr]
    assert len(leaves) == 1
    levels = {4 * KiB: 3, 2 * MiB: 2, GiB: 1}
    assert leaves[0].level == levels[size]


def test_overlapping_map_fails_and_changes_nothing(pt):
    run(pt.map_pages(2 * MiB, 8 * MiB, 2 * MiB, RW))
    writes = list(pt.writes)
    assert errno_of(pt.map_pages(3 * MiB, 0x4000_0000, 4 * KiB, RW)) == errno.EEXIST
    assert errno_of(pt.map_pages(0, 0x4000_0000, 4 * MiB, RW)) == errno.EEXIST
    assert pt.writes == writes
    assert pt.iova_to_phys(0) is None


def test_full_unmap_then_remap(pt):
    size = 4 * MiB + 12 * KiB
    run(pt.map_pages(2 * MiB - 4 * KiB, 0x800_0000 - 4 * KiB, size, RW))
    assert pt.iova_to_phys(2 * MiB + 42) == 0x800_0000 + 42
    unmapped, gather = run(pt.unmap_pages(2 * MiB - 4 * KiB, size))
    assert unmapped == size
    assert pt.iova_to_phys(2 * MiB + 42) is None
    assert (gather.start, gather.end) == (2 * MiB - 4 * KiB, 6 * MiB + 8 * KiB)
    gather.synced = True  # the TLB invalidation of the range completed
    pt.release(gather)
    assert pt.table_pages == 1
    assert pt.allocator.free_bytes == POOL_SIZE - 4096
    run(pt.map_pages(2 * MiB - 4 * KiB, 0x900_0000 - 4 * KiB, size, Prot.READ))
    assert pt.iova_to_phys(2 * MiB + 42) == 0x900_0000 + 42


def test_last_page_of_the_address_space_maps(pt):
    last = (1 << 39) - 4096
    run(pt.map_pages(last, 0xFF_FFFF_F000, 4096, RW))
    assert pt.iova_to_phys(last + 42) == 0xFF_FFFF_F000 + 42
    assert errno_of(pt.map_pages(last + 4096, 0, 4096, RW)) == errno.EINVAL
    assert errno_of(pt.map_pages(0, 1 << 40, 4096, RW)) == errno.EINVAL


@pytest.mark.parametrize(
    ("prot", "value"),
    [
        (RW, 0x0000_0000_1234_5703),
        (Prot.READ, 0x0000_0000_1234_5783),
        (RW | Prot.NOEXEC, 0x0040_0000_1234_5703),
        (Prot.WRITE, 0x0000_0000_1234_5703),
    ],
    ids=["rw", "ro", "rw-xn", "wo"],
)
def test_page_descriptor_bits(pt, prot, value):
    """valid, page, SH=3, AF, AP[2] for read-only, XN (bit 54), address bits 39:12."""
    run(pt.map_pages(0x7000, 0x1234_5000, 4096, prot))
    l2 = pt.memory.word(pt.root) & ~0xFFF
    l3 = pt.memory.word(l2) & ~0xFFF
    assert pt.memory.word(pt.root) & 0xFFF == 0x3  # table descriptor
    assert pt.memory.word(l3 + 7 * 8) == value


def test_block_descriptor_bits(pt):
    run(pt.map_pages(2 * MiB, 0x20_0000_0000 - 2 * MiB, 2 * MiB, Prot.READ))
    l2 = pt.memory.word(pt.root) & ~0xFFF
    assert pt.memory.word(l2 + 8) == 0x0000_001F_FFE0_0781  # block: valid, table=0, AP[2], AF


def test_partial_unmap_splits_a_block(pt):
    run(pt.map_pages(2 * MiB, 16 * MiB, 2 * MiB, Prot.READ | Prot.NOEXEC))
    unmapped, gather = run(pt.unmap_pages(2 * MiB + 8 * KiB, 4 * KiB))
    assert unmapped == 4 * KiB and gather.tables == []
    assert pt.iova_to_phys(2 * MiB + 8 * KiB) is None
    assert pt.iova_to_phys(2 * MiB + 4 * KiB + 1) == 16 * MiB + 4 * KiB + 1
    assert pt.iova_to_phys(2 * MiB + 12 * KiB) == 16 * MiB + 12 * KiB
    assert pt.iova_to_phys(4 * MiB - 1) == 18 * MiB - 1
    # The split pages keep the block's rights: read-only, execute-never.
    l2 = pt.memory.word(pt.root) & ~0xFFF
    l3 = pt.memory.word(l2 + 8) & ~0xFFF
    assert pt.memory.word(l3) == 0x0040_0000_0100_0783
    assert pt.memory.word(l3 + 2 * 8) == 0


def test_unmapping_nothing_unmaps_nothing(pt):
    unmapped, gather = run(pt.unmap_pages(GiB, 2 * MiB))
    assert (unmapped, gather.tables) == (0, [])


def test_tables_are_freed_only_on_release(pt):
    run(pt.map_pages(0x1000, 0x20_0000, 4096, RW))
    assert pt.table_pages == 3
    free = pt.allocator.free_bytes
    _, gather = run(pt.unmap_pages(0x1000, 4096))
    assert len(gather.tables) == 2 and pt.allocator.free_bytes == free
    assert pt.memory.word(pt.root) == 0
    with pytest.raises(RuntimeError, match="before the TLB invalidation"):
        pt.release(gather)
    assert pt.allocator.free_bytes == free and pt.table_pages == 3
    gather.synced = True
    pt.release(gather)
    assert pt.allocator.free_bytes == free + 2 * 4096 and pt.table_pages == 1


def test_gather_widens_and_needs_a_new_sync():
    gather = Gather()
    gather.add_range(0x5000, 0x6000)
    gather.synced = True
    gather.add_range(0x1000, 0x2000)
    assert (gather.start, gather.end, gather.synced) == (0x1000, 0x6000, False)


def test_memory_matches_the_shadow(pt):
    run(pt.map_pages(0, 0x4000_0000, 3 * MiB, RW))
    run(pt.map_pages(GiB, 0x80_0000_0000 - GiB, GiB, RW))
    run(pt.unmap_pages(MiB, 8 * KiB))
    for write in pt.writes[-3:]:
        assert pt.memory.word(write.table + 8 * write.index) == pt._tables[write.table][write.index]


@pytest.mark.parametrize(
    ("iova", "paddr", "size"),
    [(0x800, 0, 4096), (0, 0x800, 4096), (0, 0, 100), (0, 0, 0), ((1 << 39) - 4096, 0, 8192)],
)
def test_bad_requests_are_einval(pt, iova, paddr, size):
    assert errno_of(pt.map_pages(iova, paddr, size, RW)) == errno.EINVAL


def test_no_rights_is_einval(pt):
    assert errno_of(pt.map_pages(0, 0, 4096, Prot.NOEXEC)) == errno.EINVAL


def test_out_of_table_pages_is_enomem():
    table = PageTable(Memory(), PhysicalAllocator(POOL_BASE, 2 * 4096))
    run(table.init())
    assert errno_of(table.map_pages(0, 0, 4096, RW)) == errno.ENOMEM
