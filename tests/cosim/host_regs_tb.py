"""Host register semantics, for every register of the RDL model, on the Verilator build."""

import itertools

import cocotb
import pytest
from cocotb.triggers import ClockCycles, Timer
from expectations import (
    ALL_SOURCES,
    RUNNING,
    constant_bits,
    expected_reset,
    implemented,
    rw_mask,
)
from tinynpu.rtl.regmap import HOST, Kind
from tinynpu.sim.soc import Soc

PATTERNS = (0xFFFF_FFFF, 0xA5A5_A5A5, 0x5A5A_5A5A, 0x0000_0001, 0x8000_0000, 0)


async def booted(dut):
    soc = Soc(dut)
    await soc.start()
    return soc


async def snapshot(soc):
    """Every register but the :data:`RUNNING` counters, which move on their own."""
    return {reg.name: await soc.mmio_read(reg.offset) for reg in HOST if reg.name not in RUNNING}


async def check_running(soc):
    """The RUNNING counters count up, by at least the cycles between two reads."""
    for name in sorted(RUNNING):
        offset = getattr(HOST, name).offset
        first, start = await soc.mmio_read(offset), soc.cycles
        second = await soc.mmio_read(offset)
        assert second - first >= soc.cycles - start - 2, (name, first, second)
        assert first <= start, f"{name} read {first} at cycle {start} after reset"


def kinds(reg):
    return {field.kind for field in reg.fields}


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def reset_values(dut):
    """Every register reads its reset value; capabilities report the configuration."""
    soc = await booted(dut)
    for reg in HOST:
        got = await soc.mmio_read(reg.offset)
        want = expected_reset(reg, soc.config)
        if want is not None:
            assert got == want, f"{reg.name}: read {got:#010x} after reset, expected {want:#010x}"
    await check_running(soc)


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def read_write_fields(dut):
    """RW fields read back what was written; other bits and other registers do not move.

    Address-space banks the configuration lacks read as zero whatever is written.
    """
    soc = await booted(dut)
    for reg in HOST:
        if Kind.RW not in kinds(reg):
            continue
        # The banks repeat one layout: two patterns each keep the test short.
        for pattern in PATTERNS if reg.bank is None else PATTERNS[:2]:
            before = await snapshot(soc)
            await soc.mmio_write(reg.offset, pattern)
            after = await snapshot(soc)
            want = (pattern & rw_mask(reg)) | constant_bits(reg)
            if not implemented(reg, soc.config):
                want = 0
            assert after[reg.name] == want, (
                f"{reg.name}: wrote {pattern:#010x}, read {after[reg.name]:#010x}, "
                f"expected {want:#010x}"
            )
            # int_status depends on int_mask, but nothing is pending, so it stays zero.
            before.pop(reg.name), after.pop(reg.name)
            assert after == before, f"writing {reg.name} changed other registers"


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def read_only_fields_ignore_writes(dut):
    """Registers of constant and hardware-driven fields ignore every write."""
    soc = await booted(dut)
    await soc.mmio_write(HOST.int_set.offset, ALL_SOURCES)  # something pending for int_status
    await soc.mmio_write(HOST.int_mask.offset, ALL_SOURCES)
    for reg in HOST:
        if not kinds(reg) <= {Kind.RO, Kind.CONST} or reg.name in RUNNING:
            continue
        before = await snapshot(soc)
        for pattern in (~before[reg.name] & 0xFFFF_FFFF, 0xFFFF_FFFF, 0):
            await soc.mmio_write(reg.offset, pattern)
            assert await snapshot(soc) == before, f"writing {pattern:#x} to {reg.name} had effect"


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def write_one_to_clear(dut):
    """int_raw_status bits clear on a written 1, only that bit, and ignore written 0s."""
    soc = await booted(dut)
    raw = HOST.int_raw_status
    for field in raw.fields:
        await soc.mmio_write(HOST.int_set.offset, ALL_SOURCES)
        assert await soc.mmio_read(raw.offset) == ALL_SOURCES
        await soc.mmio_write(raw.offset, 0)
        assert await soc.mmio_read(raw.offset) == ALL_SOURCES, "writing 0 cleared a bit"
        await soc.mmio_write(raw.offset, field.mask)
        got = await soc.mmio_read(raw.offset)
        assert got == ALL_SOURCES & ~field.mask, f"clearing {field.name} left {got:#x}"
        await soc.mmio_write(raw.offset, 0xFFFF_FFFF)
        assert await soc.mmio_read(raw.offset) == 0


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def write_pulse_fields(dut):
    """int_set bits act once (raise their source) and read as zero."""
    soc = await booted(dut)
    raw = HOST.int_raw_status
    for field in HOST.int_set.fields:
        await soc.mmio_write(HOST.int_set.offset, field.mask)
        assert await soc.mmio_read(HOST.int_set.offset) == 0, "a pulse field read back non-zero"
        assert await soc.mmio_read(raw.offset) == getattr(raw, field.name).mask
        # Cleared for good: a pulse that stayed high would set the bit again at once.
        await soc.mmio_write(raw.offset, ALL_SOURCES)
        await Timer(10 * soc.clock_ns, unit="ns")
        assert await soc.mmio_read(raw.offset) == 0, f"int_set.{field.name} did not end"


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def unmapped_addresses(dut):
    """Every unmapped word reads zero and ignores writes; mapped registers do not alias."""
    soc = await booted(dut)
    await soc.mmio_write(HOST.scratch.offset, 0x1234_5678)
    mapped = {reg.offset for reg in HOST}
    window = soc.mmio.window
    holes = [a for a in range(0, HOST.span + 0x40, 4) if a not in mapped]
    # The same low bits as mapped registers, with high address bits set: full decode.
    aliases = [
        offset | high
        for offset in sorted(mapped)
        for high in (0x800, 0x8000)
        if offset | high not in mapped
    ]
    far = [0x1000, window // 2, window - 4]
    before = await snapshot(soc)
    for address in holes + aliases + far:
        assert await soc.mmio_read(address) == 0, f"unmapped {address:#06x} read non-zero"
        await soc.mmio_write(address, 0xFFFF_FFFF)
        assert await soc.mmio_read(address) == 0, f"unmapped {address:#06x} kept a write"
    assert await snapshot(soc) == before, "a write to an unmapped address changed a register"


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def byte_strobes(dut):
    """Narrow writes change only the bytes their strobes select."""
    soc = await booted(dut)
    scratch = HOST.scratch.offset
    await soc.mmio_write(scratch, 0x1122_3344)
    await soc.mmio.write_bytes(scratch + 1, b"\xab")
    assert await soc.mmio_read(scratch) == 0x1122_AB44
    await soc.mmio.write_bytes(scratch + 2, b"\xcd\xef")
    assert await soc.mmio_read(scratch) == 0xEFCD_AB44
    # Interrupt bits live in byte 0: a write that strobes only byte 1 touches none of them.
    await soc.mmio_write(HOST.int_set.offset, ALL_SOURCES)
    await soc.mmio.write_bytes(HOST.int_raw_status.offset + 1, b"\xff")
    assert await soc.mmio_read(HOST.int_raw_status.offset) == ALL_SOURCES
    await soc.mmio.write_bytes(HOST.int_mask.offset + 1, b"\xff")
    assert await soc.mmio_read(HOST.int_mask.offset) == 0


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def interrupt_line(dut):
    """irq follows int_raw_status AND int_mask; the waiter wakes on the edge or times out."""
    soc = await booted(dut)
    raw, mask, status = HOST.int_raw_status, HOST.int_mask, HOST.int_status
    await soc.mmio_write(HOST.int_set.offset, ALL_SOURCES)
    assert not soc.irq.asserted, "irq high with every source masked"
    assert await soc.mmio_read(status.offset) == 0

    await soc.mmio_write(mask.offset, mask.job_error.mask)
    assert soc.irq.asserted
    assert await soc.mmio_read(status.offset) == status.job_error.mask
    assert await soc.wait_irq(timeout_ns=0.001), "waiter missed a line that is already high"

    await soc.mmio_write(raw.offset, raw.job_error.mask)
    assert not soc.irq.asserted, "irq still high once the write response arrived"
    assert await soc.mmio_read(raw.offset) == ALL_SOURCES & ~raw.job_error.mask

    start = soc.now_ns()
    assert not await soc.wait_irq(timeout_ns=500)
    assert soc.now_ns() - start == 500

    # A waiter that starts before the event wakes when the line rises, not before.
    await soc.mmio_write(raw.offset, ALL_SOURCES)
    await soc.mmio_write(mask.offset, ALL_SOURCES)
    waiter = cocotb.start_soon(soc.wait_irq())
    await Timer(1000, unit="ns")
    assert not waiter.done()
    await soc.mmio_write(HOST.int_set.offset, HOST.int_set.mmu_fault.mask)
    raised = soc.now_ns()
    assert await waiter is True
    assert await soc.mmio_read(status.offset) == status.mmu_fault.mask
    assert soc.now_ns() - raised < 100


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def reset_restores_state(dut):
    """A reset returns every register to its reset value and drops irq."""
    soc = await booted(dut)
    await soc.mmio_write(HOST.scratch.offset, 0xDEAD_BEEF)
    await soc.mmio_write(HOST.int_mask.offset, ALL_SOURCES)
    await soc.mmio_write(HOST.int_set.offset, ALL_SOURCES)
    assert await soc.wait_irq(timeout_ns=100)
    await soc.reset()
    assert not soc.irq.asserted
    for reg in HOST:
        want = expected_reset(reg, soc.config)
        if want is not None:
            assert await soc.mmio_read(reg.offset) == want, reg.name
    await check_running(soc)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def harness_rejects_bad_accesses(dut):
    """The SoC refuses unaligned or out-of-range accesses before they reach a bus."""
    soc = await booted(dut)
    window, size = soc.mmio.window, soc.memory.size
    for offset in (2, window, window + 4, -4):
        with pytest.raises(ValueError, match="MMIO offset"):
            await soc.mmio_read(offset)
    with pytest.raises(ValueError, match="outside"):
        await soc.mmio_write(window, 0)
    with pytest.raises(ValueError, match="does not fit 32 bits"):
        await soc.mmio_write(HOST.scratch.offset, 1 << 32)
    with pytest.raises(ValueError, match="outside the window"):
        await soc.mmio.write_bytes(window - 1, b"ab")
    for address, length in ((size - 4, 8), (size, 1), (-1, 1)):
        with pytest.raises(ValueError, match="Host memory range"):
            await soc.mem_read(address, length)
        with pytest.raises(ValueError, match="Host memory range"):
            await soc.mem_write(address, bytes(length))
    # Accesses at the very edges still work, and nothing above disturbed the device.
    await soc.mem_write(size - 4, b"edge")
    assert await soc.mem_read(size - 4, 4) == b"edge"
    assert await soc.mmio_read(window - 4) == 0
    assert await soc.mmio_read(HOST.scratch.offset) == 0


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def reads_take_three_cycles_back_to_back(dut):
    """The SoC's manager answers a register read 3 cycles after the last, one after another."""
    soc = await booted(dut)
    await soc.mmio_read(HOST.scratch.offset)
    ends = []
    for _ in range(4):
        await soc.mmio_read(HOST.scratch.offset)
        ends.append(soc.cycles)
    assert [b - a for a, b in itertools.pairwise(ends)] == [3, 3, 3]


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def a_delayed_access_ends_where_waiting_first_would(dut):
    """``delay=n`` ends a read or write at the cycle that ``ClockCycles(clk, n)`` then the
    access would, for the spans the control processor's cost model asks for."""
    soc = await booted(dut)
    offset = HOST.scratch.offset
    for delay in (0, 1, 2, 3, 7):
        await soc.mmio_read(offset)  # start each pair at the same phase
        start = soc.cycles
        await ClockCycles(dut.clk, delay)
        await soc.mmio.write(offset, delay)
        waited = soc.cycles - start
        await soc.mmio_read(offset)
        start = soc.cycles
        await soc.mmio.write(offset, delay + 1, delay=delay)
        assert soc.cycles - start == waited, delay
        start = soc.cycles
        await ClockCycles(dut.clk, delay)
        assert await soc.mmio_read(offset) == delay + 1
        waited = soc.cycles - start
        start = soc.cycles
        await soc.mmio.read(offset, delay=delay)
        assert soc.cycles - start == waited, delay


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def an_access_given_up_before_its_edge_never_reaches_the_bus(dut):
    """A store cancelled while its delay runs is withdrawn; the next store still lands."""
    soc = await booted(dut)
    offset = HOST.scratch.offset
    await soc.mmio.write(offset, 0x1111_1111)
    store = cocotb.start_soon(soc.mmio.write(offset, 0x2222_2222, delay=10))
    await ClockCycles(dut.clk, 3)
    store.cancel()
    await ClockCycles(dut.clk, 20)
    assert await soc.mmio_read(offset) == 0x1111_1111
    await soc.mmio.write(offset, 0x3333_3333)
    assert await soc.mmio_read(offset) == 0x3333_3333
