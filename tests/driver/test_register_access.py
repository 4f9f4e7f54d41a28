"""Named register access over the host window (the mechanism the firmware shares): banks,
address pairs, decoding, unshadowed writes and error paths, against a recording bus."""

import asyncio

import pytest
from test_probe import FakePlatform
from tinynpu.driver.device import host_registers
from tinynpu.rtl.regmap import HOST
from tinynpu.rtl.regmap.access import RegisterFile


def run(*coroutines):
    """Await ``coroutines`` in order; their results."""
    return [asyncio.run(coroutine) for coroutine in coroutines]


@pytest.fixture
def device():
    """A recording register file and the host registers over it."""
    platform = FakePlatform()
    return platform, host_registers(platform)


def test_host_registers_are_the_host_map_unshadowed(device):
    bus, regs = device
    assert isinstance(regs, RegisterFile) and regs.map is HOST
    # The host's registers are shared with the hardware: every write reaches the bus.
    run(regs.write("ring_size", log2=4), regs.write("ring_size", log2=4))
    assert bus.accesses == [("write", HOST.ring_size.offset, 4 << HOST.ring_size.log2.lsb)] * 2


def test_write_encodes_fields_and_read_is_raw(device):
    bus, regs = device
    run(regs.write("tlb_inv_command", by_range=1), regs.write("tlb_inv_asid", asid=3))
    command, asid, status = HOST.tlb_inv_command, HOST.tlb_inv_asid, HOST.tlb_inv_status
    assert bus.accesses == [
        ("write", command.offset, command.by_range.mask),
        ("write", asid.offset, 3 << asid.asid.lsb),
    ]
    bus.registers[status.offset] = 0xABCD << status.count.lsb | 1 << status.busy.lsb
    assert run(regs.read("tlb_inv_status"), regs.fields("tlb_inv_status")) == [
        bus.registers[status.offset],
        {"busy": 1, "count": 0xABCD},
    ]


def test_bank_views_address_one_element_by_local_names(device):
    bus, regs = device
    two = regs.bank("aspace", 2)
    offset = HOST.aspace2_control.offset
    assert two.register("control") is HOST.aspace2_control
    run(two.write("control", enable=1, bypass=1))
    assert bus.accesses == [("write", offset, HOST.aspace2_control.encode(enable=1, bypass=1))]
    assert offset != HOST.aspace0_control.offset
    bus.registers[HOST.aspace2_fault_status.offset] = HOST.aspace2_fault_status.encode(count=7)
    assert run(two.fields("fault_status"))[0]["count"] == 7


def test_address_pairs_split_and_join(device):
    bus, regs = device
    run(regs.write_address("ring_base", 0x12_3456_7000))
    assert bus.accesses == [
        ("write", HOST.ring_base_lo.offset, 0x3456_7000),  # bits 31:12 in place
        ("write", HOST.ring_base_hi.offset, 0x12 << HOST.ring_base_hi.addr.lsb),
    ]
    lo, hi = HOST.aspace1_fault_addr_lo, HOST.aspace1_fault_addr_hi
    bus.registers |= {lo.offset: 0x89AB_CDEF, hi.offset: 0x7F}
    assert run(regs.bank("aspace", 1).read_address("fault_addr")) == [0x7F_89AB_CDEF]
    assert bus.accesses[2:] == [("read", lo.offset), ("read", hi.offset)]


def test_bad_names_values_and_addresses_access_nothing(device):
    bus, regs = device
    with pytest.raises(AttributeError, match=r"^Register map npu_host has no register 'bogus'$"):
        run(regs.read("bogus"))
    with pytest.raises(AttributeError, match=r"^Register ring_size has no field 'size'$"):
        run(regs.write("ring_size", size=1))
    with pytest.raises(ValueError, match=r"^Value 16 does not fit field log2 of 4 bits$"):
        run(regs.write("ring_size", log2=16))
    with pytest.raises(ValueError, match=r"does not fit registers ring_base_lo/ring_base_hi$"):
        run(regs.write_address("ring_base", 0x1234))  # not 4 KiB aligned
    with pytest.raises(AttributeError, match=r"^Bank aspace has no register 'ring_size'$"):
        run(regs.bank("aspace", 0).read("ring_size"))
    count = HOST.bank_count("aspace")
    with pytest.raises(IndexError, match=rf"^Bank aspace has elements 0 to {count - 1}, not"):
        regs.bank("aspace", count)
    with pytest.raises(AttributeError, match=r"^Register map npu_host has no bank 'queue'$"):
        regs.bank("queue", 0)
    assert bus.accesses == []
