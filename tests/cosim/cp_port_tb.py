"""The CP's queued manager: stores posted, loads waited for, the timing of awaiting each."""

import cocotb
from cocotb.triggers import ClockCycles
from cocotb.utils import get_sim_time
from tinynpu.firmware.bus import Registers
from tinynpu.firmware.compute import push_dma
from tinynpu.firmware.tiling import Dma
from tinynpu.rtl.layouts import DmaKind
from tinynpu.rtl.regmap import CP
from tinynpu.rtl.top import CP_ADDR_WIDTH
from tinynpu.sim.cp import ControlProcessor
from tinynpu.sim.cp_port import CpPort
from tinynpu.sim.soc import Soc
from tinynpu.sim.trace import MmioAccess, Trace

WORDS = 8


async def booted(dut, trace=None):
    """A SoC without firmware, the CP port, and the byte offset of the CP's SRAM."""
    soc = Soc(dut)
    await soc.start()
    port = CpPort(dut, window=1 << CP_ADDR_WIDTH, trace=trace)
    sram = CP.cp_info.sram_base.get(await port.read(CP.cp_info.offset))
    return soc, port, sram


async def timed(soc, operation):
    """Cycles from now (an edge that completed an access) to the end of ``operation``."""
    start = soc.cycles
    result = await operation
    return soc.cycles - start, result


async def costs(soc, port, sram):
    """Cycles of one store (posted, then drained) and of one load, each after an access."""
    port.post(sram, 1)
    store, _ = await timed(soc, port.drain())
    load, _ = await timed(soc, port.read(sram))
    store_again, _ = await timed(soc, _posted(port, sram, 2))
    assert store_again == store
    return store, load


async def _posted(port, offset, value, delay=0):
    port.post(offset, value, delay=delay)
    await port.drain()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def stores_are_posted_and_land_in_order(dut):
    """Posting takes no simulated time; the stores land in order, then the loads read them."""
    soc, port, sram = await booted(dut)
    store, load = await costs(soc, port, sram)
    assert (store, load) == (3, 3)
    start, now = soc.cycles, get_sim_time("ns")
    for i in range(WORDS):
        port.post(sram + 4 * i, 0x1000 + i)
        port.post(sram + 4 * i, 0xA000 + i)  # the later store to a word wins
    assert (soc.cycles, get_sim_time("ns")) == (start, now)
    values = await port.read_many(range(sram, sram + 4 * WORDS, 4))
    assert values == [0xA000 + i for i in range(WORDS)]
    assert (int(dut.cp__data.value), int(dut.cp__resp.value)) == (values[-1], 0)  # as the queue
    assert soc.cycles - start == 2 * WORDS * store + WORDS * load


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def delays_count_from_the_edge_the_manager_is_free(dut):
    """A delay adds its edges to the access it precedes, wherever in the queue it stands."""
    soc, port, sram = await booted(dut)
    store, load = await costs(soc, port, sram)
    delays = [0, 1, 2, 7, 0, 30]
    for i, delay in enumerate(delays):
        port.post(sram + 4 * i, i, delay=delay)
    cycles, _ = await timed(soc, port.drain())
    assert cycles == len(delays) * store + sum(delays)
    cycles, value = await timed(soc, port.read(sram + 4 * 5, delay=4))
    assert (cycles, value) == (load + 4, 5)
    cycles, values = await timed(soc, port.read_many([sram, sram + 4], delay=2, between=5))
    assert (cycles, values) == (2 * load + 2 + 5, [0, 1])


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def a_discarded_store_never_reaches_the_bus(dut):
    """Stores dropped in the queue or during their delay never land; the next store does."""
    _, port, sram = await booted(dut)
    await _posted(port, sram, 0x1111_1111)
    port.post(sram, 0x2222_2222, delay=10)  # taken at the next edge, then waits
    port.post(sram + 4, 0x4444_4444)  # still queued
    await ClockCycles(dut.clk, 3)
    port.discard()
    await ClockCycles(dut.clk, 20)
    assert await port.read_many([sram, sram + 4]) == [0x1111_1111, 1]  # word 1 from costs()
    await _posted(port, sram, 0x3333_3333)
    assert await port.read(sram) == 0x3333_3333


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def a_load_given_up_before_its_edge_is_withdrawn(dut):
    """A load cancelled during its delay never goes out; the next load is not delayed by it."""
    soc, port, sram = await booted(dut)
    _, load = await costs(soc, port, sram)
    await _posted(port, sram, 0x5555_5555)
    await ClockCycles(dut.clk, 5)
    # Asked for on waking at an edge (before that edge's evaluation), a load waits for the next
    # edge, as it does when asked for at an access's end (after the evaluation).
    after_an_edge, _ = await timed(soc, port.read(sram))
    assert after_an_edge == load
    reading = cocotb.start_soon(port.read(sram, delay=50))
    await ClockCycles(dut.clk, 3)
    reading.cancel()
    await ClockCycles(dut.clk, 2)
    cycles, value = await timed(soc, port.read(sram))
    assert (cycles, value) == (after_an_edge, 0x5555_5555)
    assert cycles < 50


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def the_trace_has_every_access_at_its_completion(dut):
    """Stores are recorded when they complete, in order with the loads."""
    trace = Trace(CP)
    soc, port, sram = await booted(dut, trace)
    trace.events.clear()
    start = get_sim_time("ns")
    port.post(sram, 7)
    port.post(sram + 4, 8)
    assert trace.events == []
    assert await port.read(sram + 4) == 8
    end = get_sim_time("ns")
    period = soc.clock_ns
    assert trace.events == [
        MmioAccess(start + 3 * period, True, sram, 7),
        MmioAccess(start + 6 * period, True, sram + 4, 8),
        MmioAccess(end, False, sram + 4, 8),
    ]
    assert end == start + 9 * period


class _Core:
    """What push_dma needs of the firmware: the CP's registers."""

    def __init__(self, cp):
        self.regs = Registers(cp)


async def _sleep_and_read(cp, core, rows, owed, queued):
    """Start a FILL of ``rows`` rows, compute ``owed`` cycles, sleep until dma_done, read why.

    ``queued``: the sleep and the load go to the queue behind the DMA's stores; otherwise the
    core first waits for its stores, then sleeps and loads as the processor model does.
    Returns the raw status read.
    """
    await push_dma(core, Dma(DmaKind.FILL_LOCAL, dst=0x100, row_bytes=8, rows=rows), None)
    await cp.execute(owed)
    offset = CP.cp_int_raw_status.offset
    if queued:
        assert cp.mmio.pending
        raw = await cp.wait_irq_and_read(offset)
    else:
        await cp.mmio.drain()
        assert not cp.mmio.pending
        raw = await cp.wait_irq_and_read(offset)  # the processor model's own sleep
    return raw


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def a_sleep_in_the_queue_ends_where_the_processor_model_would(dut):
    """Sleep and load from the queue, against drain, delay, sleep and load in the model: the same
    cycle, the same value, for the interrupt raised before, at and after the delay's end."""
    soc = Soc(dut)
    await soc.start()
    cp = ControlProcessor(dut, lambda bus: None, clock_ns=soc.clock_ns)
    core = _Core(cp)
    await core.regs.write("cp_int_mask", dma_done=1)
    raw_status = CP.cp_int_raw_status
    extra = {}  # (rows, owed): cycles beyond the delay, the same either way
    for rows in range(1, 7):
        for owed in (0, 1, 2, 3, 4, 6, 9, 14, 40):
            ends = []
            for queued in (False, True):
                await core.regs.write("cp_int_raw_status", dma_done=1)  # cleared
                await cp.read(raw_status.offset)  # start at the end of an access
                core.regs.forget()  # both runs store every register
                start = soc.cycles
                raw = await _sleep_and_read(cp, core, rows, owed, queued)
                ends.append((raw_status.decode(raw)["dma_done"], soc.cycles - start))
            assert ends[0] == ends[1], (rows, owed, ends)
            assert ends[0][0] == 1
            extra[rows, owed] = ends[0][1] - owed
    # The interrupt came long after a short delay, and before a long one ended.
    least = min(extra.values())
    assert all(extra[rows, 40] == least for rows in range(1, 7))
    assert all(extra[rows, 0] > least for rows in range(1, 7))


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def a_long_run_of_loads_is_the_loads_one_after_another(dut):
    """More loads than the queue keeps the data of: in runs, at the timing of single loads."""
    soc, port, sram = await booted(dut)
    _, load = await costs(soc, port, sram)
    words = 1500
    for i in range(words):
        port.post(sram + 4 * i, i * 0x0101)
    await port.drain()
    start = soc.cycles
    values = await port.read_many(range(sram, sram + 4 * words, 4), between=1)
    assert values == [i * 0x0101 for i in range(words)]
    assert soc.cycles - start == words * load + (words - 1)
    assert await port.read_many([]) == []
