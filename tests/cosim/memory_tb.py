"""Host memory inside the simulator: its statistics, fault rules and timing, seen through jobs.

The jobs run through the driver in address space FLAT, as in ``job_tb.py``; what is checked is
what the memory model answers and counts.
"""

import re

import cocotb
import pytest
from job_tb import ERROR, bring_up, pattern, run
from tinynpu.rtl.axi import Resp
from tinynpu.rtl.layouts import ErrorCode
from tinynpu.rtl.top import MemId
from tinynpu.runtime import commands
from tinynpu.sim.memory import MemoryTiming

SRC, DST = 0x0100_0000, 0x0180_0000
PAGE = 4096


async def copy_page(soc, rig):
    """A 4 KiB aligned copy of a fresh pattern; its result and whether it copied exactly."""
    data = pattern(PAGE, SRC)
    await soc.mem_write(SRC, data)
    await soc.mem_write(DST, bytes(PAGE))
    result = await run(rig, commands.copy(SRC, DST, PAGE))
    return result, await soc.mem_read(DST, PAGE) == data


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def stats_count_beats(dut):
    """A 4 KiB copy on a 64-bit bus writes exactly 512 beats more than a NOP job does."""
    soc, rig = await bring_up(dut)
    await copy_page(soc, rig)  # the TLB and the ring warm
    before = soc.memory.stats
    assert (await run(rig, commands.nop())).ok
    nop = soc.memory.stats
    result, exact = await copy_page(soc, rig)
    after = soc.memory.stats
    assert result.ok and exact
    lanes = soc.config.mem_data_width // 8
    assert (after.write_beats - nop.write_beats) - (nop.write_beats - before.write_beats) == (
        PAGE // lanes
    )
    assert after.read_beats - nop.read_beats >= PAGE // lanes
    assert (after.refused_reads, after.refused_writes, after.protocol_errors) == (0, 0, 0)
    await rig.ledger.finish()


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def fault_rules_match_one_manager(dut):
    """A DECERR rule for the DMA engine's reads fails the copy with BUS_ERROR; the same rule for
    the table walker leaves the DMA engine's reads of that range alone."""
    soc, rig = await bring_up(dut)
    beat = soc.config.mem_data_width // 8  # one beat's bytes: the rule matches one read
    soc.memory.add_fault(SRC + 0x800, beat, write=False, resp=Resp.DECERR, manager=MemId.DMA)
    result, _ = await copy_page(soc, rig)
    assert (result.status, result.error) == (ERROR, ErrorCode.BUS_ERROR), result
    assert soc.memory.stats.refused_reads == 1
    soc.memory.clear_errors()
    soc.memory.add_fault(SRC, PAGE, write=False, manager=MemId.WALKER)
    result, exact = await copy_page(soc, rig)
    assert result.ok and exact, result
    assert soc.memory.faults_answered == 1  # only the first rule's beat
    soc.memory.clear_errors()
    await rig.ledger.finish()


@cocotb.test(timeout_time=3, timeout_unit="ms")
async def fault_rule_refuses_the_nth_beat_once(dut):
    """skip=1, shots=1: the first matching beat passes, the second is refused, later ones pass."""
    soc, rig = await bring_up(dut)
    soc.memory.add_fault(SRC, soc.config.mem_data_width // 8, write=False, skip=1, shots=1)
    first, exact = await copy_page(soc, rig)
    assert first.ok and exact, first
    second, _ = await copy_page(soc, rig)
    assert second.error == ErrorCode.BUS_ERROR, second
    third, exact = await copy_page(soc, rig)
    assert third.ok and exact, third
    assert soc.memory.faults_answered == 1
    soc.memory.clear_errors()
    await rig.ledger.finish()


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def timing_adds_cycles(dut):
    """Read latency and beat spacing lengthen a copy; the default timing gives its cycles back."""
    soc, rig = await bring_up(dut)
    await copy_page(soc, rig)  # the TLB and the ring warm
    fast, _ = await copy_page(soc, rig)
    soc.memory.set_timing(MemoryTiming(read_latency=20))
    late, exact = await copy_page(soc, rig)
    assert late.ok and exact and late.cycles > fast.cycles + 20, (fast.cycles, late.cycles)
    soc.memory.set_timing(MemoryTiming(beat_interval=2))
    spaced, exact = await copy_page(soc, rig)
    lanes = soc.config.mem_data_width // 8
    assert spaced.ok and exact and spaced.cycles >= 2 * PAGE // lanes, spaced.cycles
    soc.memory.set_timing(MemoryTiming())
    again, _ = await copy_page(soc, rig)
    assert again.cycles == fast.cycles
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def fault_rules_refuse_bad_arguments(dut):
    """A rule outside memory, with an answer that is no refusal, or a negative count is refused
    before it is armed; the NPU's next job is untouched."""
    soc, rig = await bring_up(dut)
    size = soc.memory.size
    outside = re.escape(f"range {size - 8:#x}+0x10 is outside 0..{size:#x}")
    with pytest.raises(ValueError, match=outside):
        soc.memory.add_fault(size - 8, 16, write=False)
    no_refusal = re.escape(f"answered SLVERR or DECERR, not {Resp.OKAY!r}")
    with pytest.raises(ValueError, match=no_refusal):
        soc.memory.add_fault(SRC, 8, write=False, resp=Resp.OKAY)
    with pytest.raises(ValueError, match="must not be negative, not -1, None"):
        soc.memory.add_fault(SRC, 8, write=False, skip=-1)
    with pytest.raises(ValueError, match="must not be negative, not 0, -2"):
        soc.memory.add_fault(SRC, 8, write=True, shots=-2)
    result, exact = await copy_page(soc, rig)
    assert result.ok and exact and soc.memory.faults_answered == 0
    await rig.ledger.finish()
