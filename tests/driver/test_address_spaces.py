"""The driver's address-space management against a scripted register file, without a simulator.

The fake device answers ``tlb_inv_status`` as the hardware does (the count steps once per
command, unless told to hang) and records every MMIO write by register name, so the tests check
the exact sequences of docs/page-tables.md and each error path.
"""

import asyncio
import errno

import pytest
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.mmu import Fault, InvalidationTimeoutError, Mmu
from tinynpu.driver.pgtable import Prot
from tinynpu.rtl.layouts import Access, FaultKind
from tinynpu.rtl.regmap import HOST

PAGE = 4096
POOL = (0x10_0000, 64 * PAGE)


class FakeDevice:
    """MMIO registers as plain storage, plus the invalidation counter and memory writes."""

    def __init__(self, *, hang=False):
        self.regs = {}
        self.writes = []  # (register name, value)
        self.memory = {}
        self.hang = hang
        self.inv_count = 0

    async def mmio_read(self, offset):
        if offset == HOST.tlb_inv_status.offset:
            return HOST.tlb_inv_status.encode(busy=int(self.hang), count=self.inv_count)
        return self.regs.get(offset, 0)

    async def mmio_write(self, offset, value):
        name = HOST.at(offset).name
        self.writes.append((name, value))
        self.regs[offset] = value
        if name == "tlb_inv_command" and not self.hang:
            self.inv_count = (self.inv_count + 1) & 0xFFFF

    async def mem_write(self, address, data):
        self.memory[address] = bytes(data)

    async def mem_read(self, address, length):
        return self.memory.get(address, bytes(length))[:length]


def run(coroutine):
    return asyncio.run(coroutine)


def names(device):
    return [name for name, _ in device.writes]


def test_create_programs_base_then_invalidates_then_enables():
    device = FakeDevice()
    mmu = Mmu(device, PhysicalAllocator(*POOL), count=2)
    space = run(mmu.create())
    assert (space.asid, space.table.root) == (0, POOL[0])
    assert names(device) == [
        "aspace0_ttbr_lo",
        "aspace0_ttbr_hi",
        "tlb_inv_asid",
        "tlb_inv_command",
        "aspace0_control",
    ]
    assert dict(device.writes)["tlb_inv_command"] == HOST.tlb_inv_command.encode(by_asid=1)
    assert dict(device.writes)["aspace0_control"] == HOST.aspace0_control.encode(enable=1)
    assert dict(device.writes)["aspace0_ttbr_lo"] == POOL[0]


def test_bypass_space_enables_bypass():
    device = FakeDevice()
    space = run(Mmu(device, PhysicalAllocator(*POOL), count=1).create(bypass=True))
    assert device.writes[-1] == (
        "aspace0_control",
        HOST.aspace0_control.encode(enable=1, bypass=1),
    )
    assert space.bypass


def test_exhaustion_and_reuse():
    mmu = Mmu(FakeDevice(), PhysicalAllocator(*POOL), count=2)
    first, second = run(mmu.create()), run(mmu.create())
    with pytest.raises(DeviceError) as info:
        run(mmu.create())
    assert info.value.errno == errno.EBUSY
    run(mmu.destroy(first))
    assert run(mmu.create()).asid == 0
    assert second.asid == 1


def test_destroyed_space_is_refused_and_its_tables_freed():
    device = FakeDevice()
    allocator = PhysicalAllocator(*POOL)
    mmu = Mmu(device, allocator, count=1)
    free = allocator.free_bytes
    space = run(mmu.create())
    run(mmu.map(space, 0x4000_0000, 0x80_0000, PAGE, Prot.READ))
    assert allocator.free_bytes == free - 3 * PAGE
    device.writes.clear()
    run(mmu.destroy(space))
    assert names(device) == ["aspace0_control", "tlb_inv_asid", "tlb_inv_command"]
    assert device.writes[0][1] == 0
    assert allocator.free_bytes == free
    for call in (
        mmu.map(space, 0, 0x80_0000, PAGE, Prot.READ),
        mmu.unmap(space, 0, PAGE),
        mmu.destroy(space),
    ):
        with pytest.raises(DeviceError) as info:
            run(call)
        assert info.value.errno == errno.ENOENT


def test_unmap_invalidates_the_range_before_freeing_tables():
    device = FakeDevice()
    allocator = PhysicalAllocator(*POOL)
    mmu = Mmu(device, allocator, count=1)
    space = run(mmu.create())
    run(mmu.map(space, 0x4000_3000, 0x80_0000, 2 * PAGE, Prot.READ | Prot.WRITE))
    free = allocator.free_bytes
    device.writes.clear()
    assert run(mmu.unmap(space, 0x4000_3000, 2 * PAGE)) == 2 * PAGE
    assert names(device) == [
        "tlb_inv_asid",
        "tlb_inv_addr_lo",
        "tlb_inv_addr_hi",
        "tlb_inv_pages",
        "tlb_inv_command",
    ]
    written = dict(device.writes)
    assert written["tlb_inv_addr_lo"] == 0x4000_3000
    assert written["tlb_inv_addr_hi"] == 0
    assert written["tlb_inv_pages"] == HOST.tlb_inv_pages.encode(count=2)
    assert written["tlb_inv_command"] == HOST.tlb_inv_command.encode(by_range=1)
    assert allocator.free_bytes == free + 2 * PAGE  # the level-2 and level-3 tables


def test_invalidation_that_never_completes_times_out_with_the_unmap_done():
    device = FakeDevice()
    allocator = PhysicalAllocator(*POOL)
    mmu = Mmu(device, allocator, count=1)
    space = run(mmu.create())
    run(mmu.map(space, 0x4000_0000, 0x80_0000, PAGE, Prot.READ))
    free = allocator.free_bytes
    device.hang = True
    with pytest.raises(InvalidationTimeoutError) as info:
        run(mmu.unmap(space, 0x4000_0000, PAGE))
    assert info.value.errno == errno.ETIMEDOUT
    # Done but for the TLB, which the caller's reset empties before the space runs again: the
    # descriptor is cleared and the emptied level-2 and level-3 tables are free.
    assert space.iova_to_phys(0x4000_0000) is None
    assert allocator.free_bytes == free + 2 * PAGE


def test_faults_are_read_logged_held_and_acknowledged():
    device = FakeDevice()
    mmu = Mmu(device, PhysicalAllocator(*POOL), count=4)
    bank = HOST.bank("aspace", 2)
    device.regs[HOST.mmu_fault_pending.offset] = HOST.mmu_fault_pending.encode(aspaces=0b0100)
    device.regs[bank.fault_status.offset] = bank.fault_status.encode(
        kind=FaultKind.PERMISSION.value, table_level=3, access=Access.WRITE.value, count=5
    )
    device.regs[bank.fault_addr_lo.offset] = 0x3456_7008
    device.regs[bank.fault_addr_hi.offset] = 0x12
    found = run(mmu.read_faults())
    want = Fault(2, 0x12_3456_7008, FaultKind.PERMISSION, Access.WRITE, 3, 5)
    assert found == [want] and mmu.faults == [want]
    assert device.writes == []
    # Held until acknowledged: still pending in the hardware, but not read again.
    assert run(mmu.read_faults()) == [] and mmu.faults == [want]
    run(mmu.acknowledge(2))
    assert device.writes == [("aspace2_fault_ack", bank.fault_ack.encode(ack=1))]
    # Once acknowledged, the space's next fault is read (the fake still reports one).
    assert run(mmu.read_faults()) == [want] and mmu.faults == [want, want]


def test_no_pending_fault_reads_nothing_more():
    device = FakeDevice()
    mmu = Mmu(device, PhysicalAllocator(*POOL), count=4)
    assert run(mmu.read_faults()) == []
    assert device.writes == [] and mmu.faults == []


def test_sync_of_an_unmap_that_found_nothing_still_invalidates():
    device = FakeDevice()
    mmu = Mmu(device, PhysicalAllocator(*POOL), count=1)
    space = run(mmu.create())
    device.writes.clear()
    _, gather = run(space.table.unmap_pages(0x4000_0000, PAGE))
    run(mmu.sync(space, gather))
    assert gather.synced and gather.start == 0x4000_0000
    assert names(device)[-1] == "tlb_inv_command"
