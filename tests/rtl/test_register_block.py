"""Unit tests of the generated AXI4-Lite register block, on the host register map.

Every test builds ``RegisterBlock(HOST, addr_width=16)`` and drives its subordinate port from an
Amaranth async testbench through small AXI4-Lite manager helpers (the ``omit`` tests leave some
registers out). Expected offsets and values are literals, so a change of the SystemRDL source or
of the generator shows up here. The sixteen address-space banks share one literal layout,
expanded below.
"""

import gc
import warnings

import pytest
from amaranth.hdl import Fragment, UnusedElaboratable
from amaranth.sim import Simulator
from tinynpu.rtl.regmap import HOST, Field, Kind, Register, RegisterMap
from tinynpu.rtl.regmap.block import RegisterBlock, fields_signature

#: Encoding of the AXI OKAY response.
OKAY = 0
#: Longest a single handshake may take before the bus is declared hung.
CYCLE_LIMIT = 16

#: The address-space banks (host.rdl: aspace[16] @ 0x400 += 0x20): offset of each register in a
#: bank, and the banks' base, stride and count.
ASPACE_LAYOUT = {
    "ttbr_lo": 0x00,
    "ttbr_hi": 0x04,
    "control": 0x08,
    "fault_status": 0x0C,
    "fault_addr_lo": 0x10,
    "fault_addr_hi": 0x14,
    "fault_ack": 0x18,
}
ASPACE_BASE = 0x400
ASPACE_STRIDE = 0x20
ASPACES = range(16)
#: The bank registers whose fields are all RO.
ASPACE_RO = ("fault_status", "fault_addr_lo", "fault_addr_hi")


def aspace(index, local):
    """The name of register ``local`` of address-space bank ``index``."""
    return f"aspace{index}_{local}"


#: Byte offset of every host register.
OFFSETS = {
    "id": 0x000,
    "version": 0x004,
    "scratch": 0x008,
    "cap_array": 0x010,
    "cap_mem": 0x014,
    "cap_mmu": 0x018,
    "cap_queue": 0x01C,
    "cap_spad_in": 0x020,
    "cap_spad_wt": 0x024,
    "cap_spad_acc": 0x028,
    "int_raw_status": 0x040,
    "int_mask": 0x044,
    "int_status": 0x048,
    "int_set": 0x04C,
    "fw_status": 0x060,
    "fw_version": 0x064,
    "ring_base_lo": 0x100,
    "ring_base_hi": 0x104,
    "ring_size": 0x108,
    "ring_tail": 0x10C,
    "ring_doorbell": 0x110,
    "ring_head": 0x114,
    "ring_done": 0x118,
    "ring_status": 0x11C,
    "ring_control": 0x120,
    "cq_base_lo": 0x130,
    "cq_base_hi": 0x134,
    "mmu_fault_pending": 0x200,
    "tlb_inv_asid": 0x210,
    "tlb_inv_addr_lo": 0x214,
    "tlb_inv_addr_hi": 0x218,
    "tlb_inv_pages": 0x21C,
    "tlb_inv_command": 0x220,
    "tlb_inv_status": 0x224,
    "mmu_tlb_hits": 0x230,
    "mmu_tlb_misses": 0x234,
    "mmu_walk_reads": 0x238,
    "perf_cycles": 0x300,
    "perf_array_busy": 0x304,
    "perf_array_macs": 0x308,
    "perf_array_bubbles": 0x30C,
    "perf_array_idle": 0x310,
    "perf_dma_busy": 0x314,
    "perf_dma_read_bytes": 0x318,
    "perf_dma_write_bytes": 0x31C,
    "perf_dma_mmu_wait": 0x320,
    "perf_dma_stall": 0x324,
    "perf_tlb_hits": 0x328,
    "perf_tlb_misses": 0x32C,
    "perf_walker_reads": 0x330,
    "perf_matrix_ops": 0x334,
    "perf_dma_commands": 0x338,
} | {
    aspace(i, local): ASPACE_BASE + i * ASPACE_STRIDE + offset
    for i in ASPACES
    for local, offset in ASPACE_LAYOUT.items()
}

#: Read value after reset of every register without hardware-driven fields.
RESET_READS = {
    "id": 0x544E5055,
    "version": 0x00000300,
    "scratch": 0x00000000,
    "int_raw_status": 0x00000000,
    "int_mask": 0x00000000,
    "int_set": 0x00000000,
    "ring_base_lo": 0x00000000,
    "ring_base_hi": 0x00000000,
    "ring_size": 0x00000001,
    "ring_tail": 0x00000000,
    "ring_doorbell": 0x00000000,
    "ring_control": 0x00000000,
    "cq_base_lo": 0x00000000,
    "cq_base_hi": 0x00000000,
    "tlb_inv_asid": 0x00000000,
    "tlb_inv_addr_lo": 0x00000000,
    "tlb_inv_addr_hi": 0x00000000,
    "tlb_inv_pages": 0x00000000,
    "tlb_inv_command": 0x00000000,
} | {
    aspace(i, local): 0x00000000
    for i in ASPACES
    for local in ("ttbr_lo", "ttbr_hi", "control", "fault_ack")
}

#: Registers whose fields are all RO: (register, {field: driven value}, expected read).
RO_CASES = [
    ("cap_array", {"n": 0x3F}, 0x0000003F),
    ("cap_array", {"n": 0x2A}, 0x0000002A),
    ("cap_mem", {"data_width": 0x1FF, "addr_width": 0x3F}, 0x003F01FF),
    ("cap_mem", {"data_width": 0x040, "addr_width": 0x28}, 0x00280040),
    ("cap_mmu", {"addr_spaces": 0x1F, "tlb_entries": 0x7F}, 0x00007F1F),
    ("cap_mmu", {"addr_spaces": 0x04, "tlb_entries": 0x10}, 0x00001004),
    ("cap_queue", {"depth": 0x7F}, 0x0000007F),
    ("cap_queue", {"depth": 0x10}, 0x00000010),
    ("cap_spad_in", {"bytes": 0xFFFFFFFF}, 0xFFFFFFFF),
    ("cap_spad_in", {"bytes": 0x00040000}, 0x00040000),
    ("cap_spad_wt", {"bytes": 0x12345678}, 0x12345678),
    ("cap_spad_acc", {"bytes": 0x80000001}, 0x80000001),
    ("int_status", {"job_done": 1, "job_error": 1, "mmu_fault": 1, "bus_error": 1}, 0xF),
    ("int_status", {"job_done": 1, "job_error": 0, "mmu_fault": 1, "bus_error": 0}, 0x5),
    ("int_status", {"job_done": 0, "job_error": 1, "mmu_fault": 0, "bus_error": 1}, 0xA),
    ("int_status", {"queue_error": 1}, 0x10),
    ("fw_status", {"ready": 1}, 0x00000001),
    ("fw_version", {"major": 0xAB, "minor": 0xCD, "patch": 0xEF}, 0x00ABCDEF),
    ("ring_head", {"index": 0xFFFFFFFF}, 0xFFFFFFFF),
    ("ring_done", {"index": 0x80000001}, 0x80000001),
    ("ring_status", {"error": 3, "fifo": 0xFF, "empty_doorbells": 0xFFFF}, 0xFFFFFF03),
    ("ring_status", {"error": 1, "fifo": 0x12, "empty_doorbells": 0x3456}, 0x34561201),
    ("int_status", {"tlb_inv_done": 1}, 0x20),
    ("mmu_fault_pending", {"aspaces": 0xFFFF}, 0x0000FFFF),
    ("mmu_fault_pending", {"aspaces": 0x8001}, 0x00008001),
    ("tlb_inv_status", {"busy": 1, "count": 0xFFFF}, 0xFFFF0001),
    ("tlb_inv_status", {"busy": 0, "count": 0x1234}, 0x12340000),
    ("mmu_tlb_hits", {"count": 0xFFFFFFFF}, 0xFFFFFFFF),
    ("mmu_tlb_misses", {"count": 0x80000001}, 0x80000001),
    ("mmu_walk_reads", {"count": 0x0BADCAFE}, 0x0BADCAFE),
    ("perf_cycles", {"count": 0x11111111}, 0x11111111),
    ("perf_array_busy", {"count": 0x22222223}, 0x22222223),
    ("perf_array_macs", {"count": 0x33333335}, 0x33333335),
    ("perf_array_bubbles", {"count": 0x44444447}, 0x44444447),
    ("perf_array_idle", {"count": 0x55555559}, 0x55555559),
    ("perf_dma_busy", {"count": 0x6666666B}, 0x6666666B),
    ("perf_dma_read_bytes", {"count": 0x7777777D}, 0x7777777D),
    ("perf_dma_write_bytes", {"count": 0x8888888F}, 0x8888888F),
    ("perf_dma_mmu_wait", {"count": 0x999999A1}, 0x999999A1),
    ("perf_dma_stall", {"count": 0xAAAAAAB3}, 0xAAAAAAB3),
    ("perf_tlb_hits", {"count": 0xBBBBBBC5}, 0xBBBBBBC5),
    ("perf_tlb_misses", {"count": 0xCCCCCCD7}, 0xCCCCCCD7),
    ("perf_walker_reads", {"count": 0xDDDDDDE9}, 0xDDDDDDE9),
    ("perf_matrix_ops", {"count": 0xEEEEEEFB}, 0xEEEEEEFB),
    ("perf_dma_commands", {"count": 0x0000000D}, 0x0000000D),
] + [
    # Every field kind of the banks, in the first and the last bank; test_ro_every_bank covers
    # the banks between.
    (aspace(i, local), drive, expected)
    for i in (0, 15)
    for local, drive, expected in [
        ("fault_status", {"kind": 7, "table_level": 3, "access": 3, "count": 0xFFFF}, 0xFFFF0337),
        ("fault_status", {"kind": 6, "table_level": 1, "access": 2, "count": 0x0001}, 0x00010216),
        ("fault_addr_lo", {"addr": 0xFFFFFFFF}, 0xFFFFFFFF),
        ("fault_addr_lo", {"addr": 0x89ABC123}, 0x89ABC123),
        ("fault_addr_hi", {"addr": 0xFF}, 0x000000FF),
        ("fault_addr_hi", {"addr": 0x5A}, 0x0000005A),
    ]
]
RO_PARAMS = [pytest.param(*case, id=f"{case[0]}-{case[2]:#010x}") for case in RO_CASES]

#: Bits of each RW register that hold storage.
RW_MASKS = {
    "scratch": 0xFFFFFFFF,
    "int_mask": 0x0000003F,
    "ring_base_lo": 0xFFFFFFE0,
    "ring_base_hi": 0x000000FF,
    "ring_size": 0x0000000F,
    "ring_tail": 0xFFFFFFFF,
    "cq_base_lo": 0xFFFFFFF0,
    "cq_base_hi": 0x000000FF,
    "tlb_inv_asid": 0x0000000F,
    "tlb_inv_addr_lo": 0xFFFFF000,
    "tlb_inv_addr_hi": 0x0000007F,
    "tlb_inv_pages": 0x0FFFFFFF,
} | {
    # The first and the last bank; test_rw_every_bank covers the banks between.
    aspace(i, local): mask
    for i in (0, 15)
    for local, mask in [("ttbr_lo", 0xFFFFF000), ("ttbr_hi", 0x000000FF), ("control", 0x00000003)]
}
#: Bit of each interrupt source in int_raw_status, int_mask, int_status and int_set.
IRQ_BITS = {
    "job_done": 0x1,
    "job_error": 0x2,
    "mmu_fault": 0x4,
    "bus_error": 0x8,
    "queue_error": 0x10,
    "tlb_inv_done": 0x20,
}

RW_PATTERNS = [0xFFFFFFFF, 0xA5A5A5A5, 0x5A5A5A5A, 0x12345678, 0x00000000]

#: Addresses with no register: gaps (between the MMU registers and in and after the banks), the
#: top word, and aliases with address bit 15 set.
UNMAPPED = [
    0x00C,
    0x02C,
    0x030,
    0x03C,
    0x050,
    0x068,
    0x0FC,
    0x124,
    0x138,
    0x1FC,
    0x204,
    0x20C,
    0x228,
    0x22C,
    0x23C,
    0x3FC,
    0x41C,
    0x4FC,
    0x5FC,
    0x600,
    0x7FFC,
    0xFFFC,
    0x8000,
    0x8004,
    0x8008,
    0x8010,
    0x8040,
    0x8044,
    0x804C,
    0x8220,
    0x8460,
    0x85F8,
]


# --- simulation and AXI4-Lite manager helpers -----------------------------------------------


def simulate(testbench, omit=frozenset()):
    """Run ``testbench(ctx, dut)`` on a fresh host register block without the ``omit`` registers."""
    dut = RegisterBlock(HOST, addr_width=16, omit=omit)
    finished = []

    async def bench(ctx):
        await testbench(ctx, dut)
        finished.append(True)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert finished, "testbench did not finish"


def port(dut, reg, field):
    """The hardware-side port group of ``reg.field``."""
    return getattr(getattr(dut.f, reg), field)


def drive_ro(ctx, dut, reg, values):
    """Drive the RO fields of ``reg`` with ``{field: value}``."""
    for field, value in values.items():
        ctx.set(port(dut, reg, field).value, value)


async def write(ctx, bus, addr, data, strb=0xF, *, aw_delay=0, w_delay=0):
    """One AXI4-Lite write; returns the raw bresp.

    AWVALID and WVALID rise after ``aw_delay`` and ``w_delay`` cycles and stay high until their
    handshake; BREADY is high only while waiting for the response.
    """
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, data)
    ctx.set(bus.wstrb, strb)
    aw_done = w_done = False
    for cycle in range(CYCLE_LIMIT + max(aw_delay, w_delay)):
        if not aw_done:
            ctx.set(bus.awvalid, cycle >= aw_delay)
        if not w_done:
            ctx.set(bus.wvalid, cycle >= w_delay)
        _, _, awvalid, awready, wvalid, wready, bvalid = await ctx.tick().sample(
            bus.awvalid, bus.awready, bus.wvalid, bus.wready, bus.bvalid
        )
        assert not bvalid, "BVALID before the write was accepted"
        if awvalid and awready:
            aw_done = True
            ctx.set(bus.awvalid, 0)
        if wvalid and wready:
            w_done = True
            ctx.set(bus.wvalid, 0)
        if aw_done and w_done:
            break
    else:
        pytest.fail(f"write to {addr:#06x} not accepted (aw={aw_done}, w={w_done})")
    ctx.set(bus.bready, 1)
    for _ in range(CYCLE_LIMIT):
        _, _, bvalid, bresp = await ctx.tick().sample(bus.bvalid, bus.bresp.as_value())
        if bvalid:
            ctx.set(bus.bready, 0)
            return bresp
    pytest.fail(f"no write response for {addr:#06x}")


async def read(ctx, bus, addr):
    """One AXI4-Lite read; returns ``(rdata, raw rresp)``."""
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    for _ in range(CYCLE_LIMIT):
        _, _, arready, rvalid = await ctx.tick().sample(bus.arready, bus.rvalid)
        assert not rvalid, "RVALID before the read was accepted"
        if arready:
            ctx.set(bus.arvalid, 0)
            break
    else:
        pytest.fail(f"read of {addr:#06x} not accepted")
    ctx.set(bus.rready, 1)
    for _ in range(CYCLE_LIMIT):
        _, _, rvalid, rdata, rresp = await ctx.tick().sample(
            bus.rvalid, bus.rdata, bus.rresp.as_value()
        )
        if rvalid:
            ctx.set(bus.rready, 0)
            return rdata, rresp
    pytest.fail(f"no read data for {addr:#06x}")


async def read_ok(ctx, bus, addr):
    """Read ``addr``, check the response is OKAY and return the data."""
    data, resp = await read(ctx, bus, addr)
    assert resp == OKAY, f"read of {addr:#06x}: rresp {resp}"
    return data


async def write_ok(ctx, bus, addr, data, strb=0xF):
    """Write ``addr`` and check the response is OKAY."""
    resp = await write(ctx, bus, addr, data, strb)
    assert resp == OKAY, f"write to {addr:#06x}: bresp {resp}"


async def raise_irqs(ctx, dut, bits):
    """Pulse the ``set`` inputs of int_raw_status for one cycle."""
    for name, bit in IRQ_BITS.items():
        ctx.set(port(dut, "int_raw_status", name).set, int(bool(bits & bit)))
    await ctx.tick()
    for name in IRQ_BITS:
        ctx.set(port(dut, "int_raw_status", name).set, 0)


def irq_outputs(ctx, dut, reg):
    """The ``value`` outputs of an interrupt register's fields, packed as in the register."""
    return sum(bit for name, bit in IRQ_BITS.items() if ctx.get(port(dut, reg, name).value))


# --- the register map under test --------------------------------------------------------------


def test_offsets_match_host_map():
    assert {reg.name: reg.offset for reg in HOST} == OFFSETS


def test_every_register_has_an_expectation():
    ro = {name for name, _, _ in RO_CASES} | {
        aspace(i, local) for i in ASPACES for local in ASPACE_RO
    }
    assert set(RESET_READS) | ro == set(OFFSETS)
    assert not set(RESET_READS) & ro
    for reg in HOST:
        kinds = {field.kind for field in reg.fields}
        assert (kinds == {Kind.RO}) == (reg.name in ro), reg.name


# --- 1. reset values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [reg.name for reg in HOST if not reg.bank and any(f.kind is not Kind.RO for f in reg.fields)],
)
def test_reset_value(name):
    """Every register with storage or constants reads its literal reset value."""
    assert name in RESET_READS, f"no expected reset value for {name}"

    async def bench(ctx, dut):
        assert await read_ok(ctx, dut.bus, OFFSETS[name]) == RESET_READS[name]

    simulate(bench)


def test_reset_value_every_bank():
    """The banks' registers with storage read their literal reset values (one simulation)."""
    names = [name for name in RESET_READS if name.startswith("aspace")]
    assert len(names) == 64

    async def bench(ctx, dut):
        for name in names:
            assert await read_ok(ctx, dut.bus, OFFSETS[name]) == RESET_READS[name], name

    simulate(bench)


def test_reset_outputs():
    """The hardware-side outputs start at the reset values (all zero in the host map)."""

    async def bench(ctx, dut):
        assert ctx.get(port(dut, "scratch", "value").value) == 0
        for reg in ("int_raw_status", "int_mask", "int_set"):
            assert irq_outputs(ctx, dut, reg) == 0, reg
        await ctx.tick().repeat(3)
        assert irq_outputs(ctx, dut, "int_set") == 0

    simulate(bench)


@pytest.mark.parametrize(("name", "drive", "expected"), RO_PARAMS)
def test_ro_reads_hardware_value(name, drive, expected):
    async def bench(ctx, dut):
        drive_ro(ctx, dut, name, drive)
        assert await read_ok(ctx, dut.bus, OFFSETS[name]) == expected

    simulate(bench)


def test_ro_every_bank():
    """Each bank's RO registers read that bank's hardware values, not another bank's."""

    async def bench(ctx, dut):
        for i in ASPACES:
            drive_ro(ctx, dut, aspace(i, "fault_status"), {"kind": i % 8, "count": 0x100 + i})
            drive_ro(ctx, dut, aspace(i, "fault_addr_lo"), {"addr": 0xF0000000 | i << 12})
            drive_ro(ctx, dut, aspace(i, "fault_addr_hi"), {"addr": 0x80 | i})
        for i in ASPACES:
            assert await read_ok(ctx, dut.bus, OFFSETS[aspace(i, "fault_status")]) == (
                (0x100 + i) << 16 | i % 8
            ), i
            assert await read_ok(ctx, dut.bus, OFFSETS[aspace(i, "fault_addr_lo")]) == (
                0xF0000000 | i << 12
            ), i
            assert await read_ok(ctx, dut.bus, OFFSETS[aspace(i, "fault_addr_hi")]) == 0x80 | i, i

    simulate(bench)


def test_ro_follows_hardware():
    """An RO read returns the value at the time of the read, not a stale one."""

    async def bench(ctx, dut):
        for value in (0x00001000, 0x00002000, 0xCAFEF00D):
            drive_ro(ctx, dut, "cap_spad_acc", {"bytes": value})
            assert await read_ok(ctx, dut.bus, OFFSETS["cap_spad_acc"]) == value

    simulate(bench)


# --- 2. RW storage --------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", RW_PATTERNS, ids=hex)
@pytest.mark.parametrize("name", list(RW_MASKS))
def test_rw_write_read_back(name, pattern):
    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS[name], pattern)
        assert await read_ok(ctx, dut.bus, OFFSETS[name]) == pattern & RW_MASKS[name]
        reg = getattr(HOST, name)
        for field in reg.fields:
            assert ctx.get(port(dut, name, field.name).value) == field.get(pattern), field.name

    simulate(bench)


def test_rw_every_bank():
    """Each bank keeps its own table base and control, on its own ports."""

    async def bench(ctx, dut):
        for i in ASPACES:
            await write_ok(ctx, dut.bus, OFFSETS[aspace(i, "ttbr_lo")], 0xA0000FFF | i << 12)
            await write_ok(ctx, dut.bus, OFFSETS[aspace(i, "ttbr_hi")], 0xFFFFFF00 | 0x40 + i)
            await write_ok(ctx, dut.bus, OFFSETS[aspace(i, "control")], 0xFFFFFFFC | i % 4)
        for i in ASPACES:
            assert (
                await read_ok(ctx, dut.bus, OFFSETS[aspace(i, "ttbr_lo")]) == 0xA0000000 | i << 12
            )
            assert await read_ok(ctx, dut.bus, OFFSETS[aspace(i, "ttbr_hi")]) == 0x40 + i
            assert await read_ok(ctx, dut.bus, OFFSETS[aspace(i, "control")]) == i % 4
            assert ctx.get(port(dut, aspace(i, "ttbr_lo"), "addr").value) == 0xA0000 | i
            assert ctx.get(port(dut, aspace(i, "ttbr_hi"), "addr").value) == 0x40 + i
            assert ctx.get(port(dut, aspace(i, "control"), "enable").value) == i % 2
            assert ctx.get(port(dut, aspace(i, "control"), "bypass").value) == i // 2 % 2

    simulate(bench)


def test_rw_values_are_independent():
    """Writing one RW register leaves the other alone."""

    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS["scratch"], 0xDEADBEEF)
        await write_ok(ctx, dut.bus, OFFSETS["int_mask"], 0x00000005)
        await write_ok(ctx, dut.bus, OFFSETS["scratch"], 0x0BADF00D)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_mask"]) == 0x5
        assert await read_ok(ctx, dut.bus, OFFSETS["scratch"]) == 0x0BADF00D
        assert irq_outputs(ctx, dut, "int_mask") == 0x5

    simulate(bench)


@pytest.mark.parametrize(
    ("strb", "expected"),
    [
        (0b0000, 0x11223344),
        (0b0001, 0x112233DD),
        (0b0010, 0x1122CC44),
        (0b0100, 0x11BB3344),
        (0b1000, 0xAA223344),
        (0b0101, 0x11BB33DD),
        (0b1010, 0xAA22CC44),
        (0b1100, 0xAABB3344),
        (0b1111, 0xAABBCCDD),
    ],
    ids=lambda v: f"{v:#06b}" if v < 16 else hex(v),
)
def test_rw_write_strobes(strb, expected):
    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS["scratch"], 0x11223344)
        await write_ok(ctx, dut.bus, OFFSETS["scratch"], 0xAABBCCDD, strb)
        assert await read_ok(ctx, dut.bus, OFFSETS["scratch"]) == expected
        assert ctx.get(port(dut, "scratch", "value").value) == expected

    simulate(bench)


def test_rw_strobe_outside_fields():
    """int_mask lives in byte 0: a write without byte 0's strobe changes nothing."""

    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS["int_mask"], 0x0000000A)
        await write_ok(ctx, dut.bus, OFFSETS["int_mask"], 0xFFFFFFF5, 0b1110)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_mask"]) == 0xA
        await write_ok(ctx, dut.bus, OFFSETS["int_mask"], 0xFFFFFFF5, 0b0001)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_mask"]) == 0x35

    simulate(bench)


def test_sub_word_address_selects_the_word():
    """The two low address bits are ignored."""

    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS["scratch"] + 3, 0x01020304)
        assert await read_ok(ctx, dut.bus, OFFSETS["scratch"] + 1) == 0x01020304
        assert await read_ok(ctx, dut.bus, OFFSETS["id"] + 2) == 0x544E5055

    simulate(bench)


# --- 3. RO and CONST ignore writes ----------------------------------------------------------------


@pytest.mark.parametrize("data", [0xFFFFFFFF, 0x00000000, 0x5A5A5A5A], ids=hex)
@pytest.mark.parametrize(("name", "drive", "expected"), RO_PARAMS[::2])
def test_ro_ignores_writes(name, drive, expected, data):
    async def bench(ctx, dut):
        drive_ro(ctx, dut, name, drive)
        await write_ok(ctx, dut.bus, OFFSETS[name], data)
        assert await read_ok(ctx, dut.bus, OFFSETS[name]) == expected

    simulate(bench)


@pytest.mark.parametrize("data", [0xFFFFFFFF, 0x00000000, 0x5A5A5A5A], ids=hex)
@pytest.mark.parametrize("name", ["id", "version"])
def test_const_ignores_writes(name, data):
    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS[name], data)
        assert await read_ok(ctx, dut.bus, OFFSETS[name]) == RESET_READS[name]

    simulate(bench)


# --- 4. W1C: int_raw_status -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(IRQ_BITS))
def test_w1c_set_is_sticky(name):
    async def bench(ctx, dut):
        await raise_irqs(ctx, dut, IRQ_BITS[name])
        assert irq_outputs(ctx, dut, "int_raw_status") == IRQ_BITS[name]
        await ctx.tick().repeat(5)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == IRQ_BITS[name]
        assert irq_outputs(ctx, dut, "int_raw_status") == IRQ_BITS[name]

    simulate(bench)


@pytest.mark.parametrize("name", list(IRQ_BITS))
def test_w1c_write_one_clears_only_that_bit(name):
    async def bench(ctx, dut):
        await raise_irqs(ctx, dut, 0x3F)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == 0x3F
        await write_ok(ctx, dut.bus, OFFSETS["int_raw_status"], IRQ_BITS[name])
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == 0x3F & ~IRQ_BITS[name]
        assert irq_outputs(ctx, dut, "int_raw_status") == 0x3F & ~IRQ_BITS[name]

    simulate(bench)


@pytest.mark.parametrize(
    ("data", "strb"),
    [(0x00000000, 0xF), (0xFFFFFFC0, 0xF), (0xFFFFFFFF, 0x0), (0xFFFFFFFF, 0b1110)],
    ids=["zero", "reserved-bits", "no-strobe", "other-bytes"],
)
def test_w1c_write_without_ones_has_no_effect(data, strb):
    async def bench(ctx, dut):
        await raise_irqs(ctx, dut, 0b1011)
        await write_ok(ctx, dut.bus, OFFSETS["int_raw_status"], data, strb)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == 0b1011

    simulate(bench)


def test_w1c_write_clears_several_bits():
    async def bench(ctx, dut):
        await raise_irqs(ctx, dut, 0x3F)
        await write_ok(ctx, dut.bus, OFFSETS["int_raw_status"], 0xFFFFFFF6)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == 0x9
        await write_ok(ctx, dut.bus, OFFSETS["int_raw_status"], 0xF)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == 0x0

    simulate(bench)


@pytest.mark.parametrize(
    ("set_bits", "expected"),
    [(0x0, 0x0), (0x1, 0x1), (0x2, 0x2)],
    ids=["clear-only", "set-wins", "set-other-bit"],
)
def test_w1c_set_in_clearing_cycle(set_bits, expected):
    """A ``set`` at the clock edge that accepts a write clearing job_done wins over the clear.

    With no set at that edge the clear must happen, so the construction is shown to hit the edge;
    a set of another bit at that edge does not protect job_done.
    """

    async def bench(ctx, dut):
        bus = dut.bus
        await raise_irqs(ctx, dut, 0x1)
        ctx.set(bus.awaddr, OFFSETS["int_raw_status"])
        ctx.set(bus.wdata, 0x1)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        for name, bit in IRQ_BITS.items():
            ctx.set(port(dut, "int_raw_status", name).set, int(bool(set_bits & bit)))
        _, _, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
        assert awready and wready, "the idle block must accept the write at the first edge"
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        for name in IRQ_BITS:
            ctx.set(port(dut, "int_raw_status", name).set, 0)
        assert irq_outputs(ctx, dut, "int_raw_status") == expected
        ctx.set(bus.bready, 1)
        _, _, bvalid = await ctx.tick().sample(bus.bvalid)
        assert bvalid
        ctx.set(bus.bready, 0)
        assert await read_ok(ctx, bus, OFFSETS["int_raw_status"]) == expected

    simulate(bench)


def test_w1c_waiting_write_clears_only_when_accepted():
    """A write held off by a pending response does not clear until it is accepted."""

    async def bench(ctx, dut):
        bus = dut.bus
        # First write leaves BVALID pending (BREADY low), so the second one waits.
        ctx.set(bus.awaddr, OFFSETS["scratch"])
        ctx.set(bus.wdata, 0)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        await ctx.tick()
        ctx.set(bus.awaddr, OFFSETS["int_raw_status"])
        ctx.set(bus.wdata, 0x1)
        await raise_irqs(ctx, dut, 0x1)
        assert not ctx.get(bus.awready)
        await ctx.tick().repeat(2)
        assert irq_outputs(ctx, dut, "int_raw_status") == 0x1
        ctx.set(bus.bready, 1)
        _, _, awready = await ctx.tick().sample(bus.awready)
        assert awready
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        assert irq_outputs(ctx, dut, "int_raw_status") == 0x0

    simulate(bench)


# --- 5. PULSE: int_set ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "strb", "pulse"),
    [
        (0x1, 0xF, 0x1),
        (0x2, 0xF, 0x2),
        (0x4, 0xF, 0x4),
        (0x8, 0xF, 0x8),
        (0x10, 0xF, 0x10),
        (0x20, 0xF, 0x20),
        (0xA, 0xF, 0xA),
        (0xFFFFFFFF, 0xF, 0x3F),
        (0xFFFFFFFF, 0b1110, 0x0),
        (0x0, 0xF, 0x0),
    ],
    ids=[
        "job_done",
        "job_error",
        "mmu_fault",
        "bus_error",
        "queue_error",
        "tlb_inv_done",
        "two",
        "all",
        "no-strobe",
        "zero",
    ],
)
def test_pulse_lasts_one_cycle(data, strb, pulse):
    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.awaddr, OFFSETS["int_set"])
        ctx.set(bus.wdata, data)
        ctx.set(bus.wstrb, strb)
        ctx.set(bus.bready, 1)
        await ctx.tick().repeat(2)
        # A delayed W channel: no pulse until both channels are accepted.
        ctx.set(bus.awvalid, 1)
        trace, accepted = [], []
        for cycle in range(6):
            if cycle == 2:
                ctx.set(bus.wvalid, 1)
            _, _, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
            if awready and wready:
                accepted.append(cycle)
                ctx.set(bus.awvalid, 0)
                ctx.set(bus.wvalid, 0)
            trace.append(irq_outputs(ctx, dut, "int_set"))
        assert accepted == [2]
        assert trace == [0, 0, pulse, 0, 0, 0]

    simulate(bench)


def test_pulse_back_to_back():
    """Writes to int_set on consecutive edges give consecutive pulses, each of its own bits."""

    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.awaddr, OFFSETS["int_set"])
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.bready, 1)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        trace = []
        for data in (0x1, 0x2, 0xC, None, None):
            if data is None:
                ctx.set(bus.awvalid, 0)
                ctx.set(bus.wvalid, 0)
            else:
                ctx.set(bus.wdata, data)
            await ctx.tick()
            trace.append(irq_outputs(ctx, dut, "int_set"))
        assert trace == [0x1, 0x2, 0xC, 0x0, 0x0]

    simulate(bench)


def test_pulse_reads_zero():
    async def bench(ctx, dut):
        bus = dut.bus
        await write_ok(ctx, bus, OFFSETS["int_set"], 0xF)
        assert await read_ok(ctx, bus, OFFSETS["int_set"]) == 0
        # Read while the pulse is high: write with BREADY high, read on the next edge.
        ctx.set(bus.bready, 1)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        await ctx.tick()
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        assert irq_outputs(ctx, dut, "int_set") == 0xF
        ctx.set(bus.araddr, OFFSETS["int_set"])
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        await ctx.tick()
        ctx.set(bus.arvalid, 0)
        _, _, rvalid, rdata = await ctx.tick().sample(bus.rvalid, bus.rdata)
        assert (rvalid, rdata) == (1, 0)

    simulate(bench)


def test_pulse_does_not_touch_raw_status():
    """int_set only drives its outputs; raising the raw bits is the hardware's job."""

    async def bench(ctx, dut):
        await write_ok(ctx, dut.bus, OFFSETS["int_set"], 0xF)
        assert await read_ok(ctx, dut.bus, OFFSETS["int_raw_status"]) == 0

    simulate(bench)


def pulse_outputs(ctx, dut):
    """The ``value`` outputs of every bank's fault_ack.ack, one bit per bank."""
    return sum(ctx.get(port(dut, aspace(i, "fault_ack"), "ack").value) << i for i in ASPACES)


@pytest.mark.parametrize("index", [0, 6, 15])
def test_fault_ack_pulses_only_its_bank(index):
    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.bready, 1)
        ctx.set(bus.awaddr, OFFSETS[aspace(index, "fault_ack")])
        ctx.set(bus.wdata, 0xFFFFFFFF)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        _, _, accepted = await ctx.tick().sample(bus.awready)
        assert accepted
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        trace = [pulse_outputs(ctx, dut)]
        await ctx.tick()
        trace.append(pulse_outputs(ctx, dut))
        assert trace == [1 << index, 0]
        assert await read_ok(ctx, bus, OFFSETS[aspace(index, "fault_ack")]) == 0

    simulate(bench)


@pytest.mark.parametrize(
    ("data", "pulse"),
    [(0x1, (1, 0, 0)), (0x2, (0, 1, 0)), (0x4, (0, 0, 1)), (0xFFFFFFFF, (1, 1, 1))],
    ids=["everything", "by_asid", "by_range", "all"],
)
def test_tlb_inv_command_pulses(data, pulse):
    fields = ("everything", "by_asid", "by_range")

    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.bready, 1)
        ctx.set(bus.awaddr, OFFSETS["tlb_inv_command"])
        ctx.set(bus.wdata, data)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        await ctx.tick()
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        values = [ctx.get(port(dut, "tlb_inv_command", f).value) for f in fields]
        assert tuple(values) == pulse
        await ctx.tick()
        assert [ctx.get(port(dut, "tlb_inv_command", f).value) for f in fields] == [0, 0, 0]
        assert await read_ok(ctx, bus, OFFSETS["tlb_inv_command"]) == 0

    simulate(bench)


# --- 6. unmapped addresses ------------------------------------------------------------------------


@pytest.mark.parametrize("addr", UNMAPPED, ids=lambda a: f"{a:#06x}")
def test_unmapped_reads_zero_and_ignores_writes(addr):
    async def bench(ctx, dut):
        bus = dut.bus
        data, resp = await read(ctx, bus, addr)
        assert (data, resp) == (0, OKAY)
        await write_ok(ctx, bus, OFFSETS["scratch"], 0x13579BDF)
        await write_ok(ctx, bus, OFFSETS["int_mask"], 0x00000006)
        await raise_irqs(ctx, dut, 0xF)
        assert await write(ctx, bus, addr, 0xFFFFFFFF) == OKAY
        data, resp = await read(ctx, bus, addr)
        assert (data, resp) == (0, OKAY)
        assert await read_ok(ctx, bus, OFFSETS["scratch"]) == 0x13579BDF
        assert await read_ok(ctx, bus, OFFSETS["int_mask"]) == 0x6
        assert await read_ok(ctx, bus, OFFSETS["int_raw_status"]) == 0xF

    simulate(bench)


@pytest.mark.parametrize(
    "addr", [0x804C, 0x004C | 0x4000, 0x005C, 0x85F8, 0x041C], ids=lambda a: f"{a:#06x}"
)
def test_unmapped_write_makes_no_pulse(addr):
    """int_set's and fault_ack's outputs stay low in the cycle after an unmapped write."""

    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.bready, 1)
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.wdata, 0xFFFFFFFF)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        _, _, accepted = await ctx.tick().sample(bus.awready)
        assert accepted
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        trace = [(irq_outputs(ctx, dut, "int_set"), pulse_outputs(ctx, dut))]
        await ctx.tick()
        trace.append((irq_outputs(ctx, dut, "int_set"), pulse_outputs(ctx, dut)))
        assert trace == [(0, 0), (0, 0)]

    simulate(bench)


def test_mixed_traffic_never_hangs():
    """Every access in a long mix of mapped and unmapped addresses completes with OKAY."""

    async def bench(ctx, dut):
        addrs = [*OFFSETS.values(), *UNMAPPED]
        for i, addr in enumerate(addrs):
            assert await write(ctx, dut.bus, addr, 0x01010101 * i, strb=i & 0xF) == OKAY
            _, resp = await read(ctx, dut.bus, addr)
            assert resp == OKAY

    simulate(bench)


# --- 7. throughput and handshakes -----------------------------------------------------------------


def test_back_to_back_reads():
    """With ARVALID and RREADY held high, one read completes per cycle after the first."""

    addrs = [0x000, 0x004, 0x008, 0x00C, 0x010, 0x8000, 0x000, 0x048]
    expected = [0x544E5055, 0x00000300, 0xFEEDC0DE, 0, 0x20, 0, 0x544E5055, 0x3]

    async def bench(ctx, dut):
        bus = dut.bus
        await write_ok(ctx, bus, OFFSETS["scratch"], 0xFEEDC0DE)
        drive_ro(ctx, dut, "cap_array", {"n": 0x20})
        drive_ro(ctx, dut, "int_status", {"job_done": 1, "job_error": 1})
        ctx.set(bus.rready, 1)
        ctx.set(bus.arvalid, 1)
        data = []
        for i in range(len(addrs) + 1):
            if i < len(addrs):
                ctx.set(bus.araddr, addrs[i])
            else:
                ctx.set(bus.arvalid, 0)
            _, _, arready, rvalid, rdata = await ctx.tick().sample(
                bus.arready, bus.rvalid, bus.rdata
            )
            if i < len(addrs):
                assert arready, f"read {i} not accepted at once"
            assert rvalid == (i > 0), f"cycle {i}"
            if rvalid:
                data.append(rdata)
        assert data == expected
        _, _, rvalid = await ctx.tick().sample(bus.rvalid)
        assert not rvalid

    simulate(bench)


def test_back_to_back_writes():
    """With AWVALID, WVALID and BREADY held high, one write completes per cycle after the first."""

    writes = [(0x008, 0x11111111), (0x044, 0x3), (0x008, 0x22222222), (0x00C, 0xFFFFFFFF)]

    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.bready, 1)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.wstrb, 0xF)
        seen = []
        for i in range(len(writes) + 1):
            if i < len(writes):
                ctx.set(bus.awaddr, writes[i][0])
                ctx.set(bus.wdata, writes[i][1])
            else:
                ctx.set(bus.awvalid, 0)
                ctx.set(bus.wvalid, 0)
            _, _, awready, wready, bvalid = await ctx.tick().sample(
                bus.awready, bus.wready, bus.bvalid
            )
            if i < len(writes):
                assert awready and wready, f"write {i} not accepted at once"
            assert bvalid == (i > 0), f"cycle {i}"
            seen.append(ctx.get(port(dut, "scratch", "value").value))
        assert seen == [0x11111111, 0x11111111, 0x22222222, 0x22222222, 0x22222222]
        assert await read_ok(ctx, bus, OFFSETS["int_mask"]) == 0x3

    simulate(bench)


def test_rvalid_held_until_rready():
    async def bench(ctx, dut):
        bus = dut.bus
        drive_ro(ctx, dut, "cap_spad_in", {"bytes": 0x00010000})
        ctx.set(bus.araddr, OFFSETS["cap_spad_in"])
        ctx.set(bus.arvalid, 1)
        _, _, arready = await ctx.tick().sample(bus.arready)
        assert arready
        # A second read is presented at once; it must wait behind the untaken data.
        ctx.set(bus.araddr, OFFSETS["id"])
        drive_ro(ctx, dut, "cap_spad_in", {"bytes": 0x00020000})
        for cycle in range(6):
            _, _, rvalid, rdata, arready = await ctx.tick().sample(
                bus.rvalid, bus.rdata, bus.arready
            )
            assert (rvalid, rdata, arready) == (1, 0x00010000, 0), f"cycle {cycle}"
        ctx.set(bus.rready, 1)
        _, _, rvalid, rdata, arready = await ctx.tick().sample(bus.rvalid, bus.rdata, bus.arready)
        assert (rvalid, rdata, arready) == (1, 0x00010000, 1)
        ctx.set(bus.arvalid, 0)
        _, _, rvalid, rdata = await ctx.tick().sample(bus.rvalid, bus.rdata)
        assert (rvalid, rdata) == (1, 0x544E5055)
        _, _, rvalid = await ctx.tick().sample(bus.rvalid)
        assert not rvalid

    simulate(bench)


def test_bvalid_held_until_bready():
    async def bench(ctx, dut):
        bus = dut.bus
        ctx.set(bus.awaddr, OFFSETS["scratch"])
        ctx.set(bus.wdata, 0xA0A0A0A0)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        _, _, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
        assert awready and wready
        # A second write is presented at once; it must wait behind the untaken response.
        ctx.set(bus.wdata, 0x0B0B0B0B)
        for cycle in range(6):
            _, _, bvalid, bresp, awready, wready = await ctx.tick().sample(
                bus.bvalid, bus.bresp.as_value(), bus.awready, bus.wready
            )
            assert (bvalid, bresp, awready, wready) == (1, OKAY, 0, 0), f"cycle {cycle}"
            assert ctx.get(port(dut, "scratch", "value").value) == 0xA0A0A0A0
        ctx.set(bus.bready, 1)
        _, _, bvalid, awready, wready = await ctx.tick().sample(bus.bvalid, bus.awready, bus.wready)
        assert (bvalid, awready, wready) == (1, 1, 1)
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        assert ctx.get(port(dut, "scratch", "value").value) == 0x0B0B0B0B
        _, _, bvalid = await ctx.tick().sample(bus.bvalid)
        assert bvalid
        _, _, bvalid = await ctx.tick().sample(bus.bvalid)
        assert not bvalid

    simulate(bench)


@pytest.mark.parametrize(("aw_delay", "w_delay"), [(0, 3), (3, 0), (2, 2)])
def test_write_with_late_channel(aw_delay, w_delay):
    """AW and W may arrive in different cycles; the write lands once both are there."""

    async def bench(ctx, dut):
        bus = dut.bus
        resp = await write(
            ctx, bus, OFFSETS["scratch"], 0x76543210, aw_delay=aw_delay, w_delay=w_delay
        )
        assert resp == OKAY
        assert await read_ok(ctx, bus, OFFSETS["scratch"]) == 0x76543210

    simulate(bench)


def test_read_and_write_together():
    """A read and a write presented in the same cycle both complete; the read sees old data."""

    async def bench(ctx, dut):
        bus = dut.bus
        await write_ok(ctx, bus, OFFSETS["scratch"], 0x000000AA)
        for sig, value in [
            (bus.awaddr, OFFSETS["scratch"]),
            (bus.wdata, 0x000000BB),
            (bus.wstrb, 0xF),
            (bus.araddr, OFFSETS["scratch"]),
            (bus.awvalid, 1),
            (bus.wvalid, 1),
            (bus.arvalid, 1),
            (bus.bready, 1),
            (bus.rready, 1),
        ]:
            ctx.set(sig, value)
        _, _, awready, arready = await ctx.tick().sample(bus.awready, bus.arready)
        assert awready and arready
        for sig in (bus.awvalid, bus.wvalid, bus.arvalid):
            ctx.set(sig, 0)
        _, _, bvalid, rvalid, rdata = await ctx.tick().sample(bus.bvalid, bus.rvalid, bus.rdata)
        assert (bvalid, rvalid, rdata) == (1, 1, 0x000000AA)
        assert await read_ok(ctx, bus, OFFSETS["scratch"]) == 0x000000BB

    simulate(bench)


# --- 8. constructor -------------------------------------------------------------------------------


def construction_error(regmap, addr_width, **kwargs):
    """The message of the ValueError ``RegisterBlock(regmap, addr_width=..., **kwargs)`` raises.

    The half-built block is never elaborated; its UnusedElaboratable warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        try:
            RegisterBlock(regmap, addr_width=addr_width, **kwargs)
        except ValueError as error:
            message = str(error)
        else:
            pytest.fail(f"RegisterBlock({regmap.name}, addr_width={addr_width}) did not raise")
        gc.collect()
    return message


@pytest.mark.parametrize(("addr_width", "window"), [(4, 16), (8, 256), (10, 1024)])
def test_map_larger_than_window(addr_width, window):
    assert construction_error(HOST, addr_width) == (
        f"Register map npu_host spans 1532 bytes, more than the {window}-byte window of a "
        f"{addr_width}-bit address"
    )


def test_map_fits_window():
    """HOST spans 0x5FC bytes: an 11-bit (2048-byte) window is enough."""
    block = RegisterBlock(HOST, addr_width=11)
    assert len(block.bus.awaddr) == 11
    Fragment.get(block, None)  # elaborates, and marks the block as used


def test_exact_fit_and_one_byte_short():
    reg = Register("last", 0xC, (Field("value", 0, 32, Kind.RW, 0),))
    tiny = RegisterMap("tiny_map", (reg,))
    Fragment.get(RegisterBlock(tiny, addr_width=4), None)
    assert "tiny_map" in construction_error(tiny, 3)


# --- 9. omitted registers -------------------------------------------------------------------------

#: The banks of a four-address-space configuration: banks 4 to 15 are not implemented.
ABSENT_BANKS = {aspace(i, local) for i in range(4, 16) for local in ASPACE_LAYOUT}


def test_omitted_registers_have_no_ports():
    block = RegisterBlock(HOST, addr_width=16, omit=ABSENT_BANKS)
    assert block.omit == ABSENT_BANKS
    members = block.signature.members["f"].signature.members
    assert sorted(name for name in members if name.startswith("aspace")) == sorted(
        aspace(i, local) for i in range(4) for local in ASPACE_LAYOUT
    )
    assert not hasattr(block.f, "aspace4_ttbr_lo")
    assert not hasattr(block.f, "aspace15_fault_status")
    assert hasattr(block.f, "aspace3_ttbr_lo")
    assert "scratch" in members
    Fragment.get(block, None)  # elaborates, and marks the block as used


def test_fields_signature_omit():
    members = fields_signature(HOST, {"scratch", "int_set"}).members
    assert "scratch" not in members
    assert "int_set" not in members
    assert "int_mask" in members
    assert "scratch" in fields_signature(HOST).members
    assert (
        len(fields_signature(HOST, ABSENT_BANKS).members)
        == len(fields_signature(HOST).members) - 84
    )


def test_no_omit_has_every_bank_port():
    block = RegisterBlock(HOST, addr_width=16)
    members = block.signature.members["f"].signature.members
    assert all(aspace(i, local) in members for i in ASPACES for local in ASPACE_LAYOUT)
    Fragment.get(block, None)  # elaborates, and marks the block as used


def test_omitted_registers_read_zero_and_ignore_writes():
    """Every register of banks 4 to 15 reads zero, before and after a write of all ones."""

    async def bench(ctx, dut):
        for name in sorted(ABSENT_BANKS, key=OFFSETS.get):
            assert await read_ok(ctx, dut.bus, OFFSETS[name]) == 0, name
            await write_ok(ctx, dut.bus, OFFSETS[name], 0xFFFFFFFF)
            assert await read_ok(ctx, dut.bus, OFFSETS[name]) == 0, name

    simulate(bench, omit=ABSENT_BANKS)


def test_present_banks_work_beside_omitted_ones():
    """Bank 3 (the last present one) keeps its storage, ports and pulses; bank 4 is not there."""

    async def bench(ctx, dut):
        bus = dut.bus
        await write_ok(ctx, bus, OFFSETS["aspace3_ttbr_lo"], 0x12345678)
        await write_ok(ctx, bus, OFFSETS["aspace3_control"], 0x3)
        await write_ok(ctx, bus, OFFSETS["aspace4_ttbr_lo"], 0x87654321)
        await write_ok(ctx, bus, OFFSETS["aspace4_control"], 0x3)
        assert await read_ok(ctx, bus, OFFSETS["aspace3_ttbr_lo"]) == 0x12345000
        assert await read_ok(ctx, bus, OFFSETS["aspace3_control"]) == 0x3
        assert await read_ok(ctx, bus, OFFSETS["aspace4_ttbr_lo"]) == 0
        assert await read_ok(ctx, bus, OFFSETS["aspace4_control"]) == 0
        assert ctx.get(port(dut, "aspace3_ttbr_lo", "addr").value) == 0x12345
        assert ctx.get(port(dut, "aspace3_control", "bypass").value) == 1
        drive_ro(ctx, dut, "aspace3_fault_addr_lo", {"addr": 0xCAFEF00D})
        assert await read_ok(ctx, bus, OFFSETS["aspace3_fault_addr_lo"]) == 0xCAFEF00D
        assert await read_ok(ctx, bus, OFFSETS["aspace4_fault_addr_lo"]) == 0
        await write_ok(ctx, bus, OFFSETS["scratch"], 0x0F0F0F0F)
        assert await read_ok(ctx, bus, OFFSETS["scratch"]) == 0x0F0F0F0F

    simulate(bench, omit=ABSENT_BANKS)


def test_omitted_plain_register():
    """A register outside the banks can be left out too: scratch reads zero, int_mask works."""

    async def bench(ctx, dut):
        assert not hasattr(dut.f, "scratch")
        await write_ok(ctx, dut.bus, OFFSETS["scratch"], 0xDEADBEEF)
        await write_ok(ctx, dut.bus, OFFSETS["int_mask"], 0x00000021)
        assert await read_ok(ctx, dut.bus, OFFSETS["scratch"]) == 0
        assert await read_ok(ctx, dut.bus, OFFSETS["int_mask"]) == 0x21
        assert await read_ok(ctx, dut.bus, OFFSETS["id"]) == 0x544E5055

    simulate(bench, omit={"scratch"})


@pytest.mark.parametrize(
    ("omit", "message"),
    [
        ({"bogus"}, "Register map npu_host has no registers ['bogus']"),
        (
            {"aspace16_ttbr_lo", "scratch", "bogus"},
            "Register map npu_host has no registers ['aspace16_ttbr_lo', 'bogus']",
        ),
        ({"ttbr_lo"}, "Register map npu_host has no registers ['ttbr_lo']"),
        ({"aspace"}, "Register map npu_host has no registers ['aspace']"),
    ],
    ids=["bogus", "sorted", "local-name", "bank-name"],
)
def test_omit_unknown_register(omit, message):
    assert construction_error(HOST, 16, omit=omit) == message
