"""Benchmarks inside the simulator: simulation speed, job overheads and DMA throughput."""

import json
import os
import random
import time

import cocotb
from cocotb.triggers import Timer

from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.pgtable import Prot
from tinynpu.firmware import Firmware
from tinynpu.rtl.layouts import CopyCommand, unpack
from tinynpu.rtl.regmap import HOST
from tinynpu.runtime import commands
from tinynpu.sim.soc import Soc
from tinynpu.sim.system import KernelContext, start_driver

REPORT = "bench.json"
JOBS_REPORT = "jobs.json"


# Simulated-time limits: ten times what a run with the default sizes takes, rounded up.
@cocotb.test(timeout_time=500, timeout_unit="ms")
async def speed(dut):
    """Measure simulated cycles per wall second, idle and under MMIO load."""
    idle_cycles = int(os.environ.get("BENCH_IDLE_CYCLES", "2000000"))
    reads = int(os.environ.get("BENCH_MMIO_READS", "3000"))
    soc = Soc(dut)
    await soc.start()

    start_cycles, start = soc.cycles, time.perf_counter()
    await Timer(idle_cycles * soc.clock_ns, unit="ns")
    idle = (soc.cycles - start_cycles, time.perf_counter() - start)

    start_cycles, start = soc.cycles, time.perf_counter()
    for _ in range(reads):
        await soc.mmio_read(HOST.scratch.offset)
    mmio = (soc.cycles - start_cycles, time.perf_counter() - start)

    with open(REPORT, "w") as f:
        json.dump({"idle": idle, "mmio": mmio, "reads": reads}, f)


#: A job's timeout (simulated): far beyond any job here.
TIMEOUT_NS = 1e9


async def _one_job(soc, context, stream, frame, scratch):
    """Run ``stream`` (written to ``frame``, submitted at ``scratch`` in ``context``).

    Returns (its fence, submit-to-completion cycles, wall seconds, MMU counter deltas).
    """
    await soc.mem_write(frame, stream)
    before = await _mmu_counters(soc)
    start, wall = soc.cycles, time.perf_counter()
    fence = await context.run(scratch, len(stream), timeout_ns=TIMEOUT_NS)
    cycles, seconds = soc.cycles - start, time.perf_counter() - wall
    after = await _mmu_counters(soc)
    deltas = {name: (after[name] - before[name]) % (1 << 32) for name in after}
    return fence, cycles, seconds, deltas


async def _mmu_counters(soc):
    return {
        name: await soc.mmio_read(getattr(HOST, f"mmu_{name}").offset)
        for name in ("tlb_hits", "tlb_misses", "walk_reads")
    }


#: Virtual addresses of the MMU runs: the command stream, the source and the destination.
STREAM_VA, SRC_VA, DST_VA = 0x7F_0000_0000, 0x10_0000_0000, 0x20_0000_0000
PAGE = 4096


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def jobs(dut):
    """The job path: NOP overhead, copies with and without translation, simulation speed."""
    nops = int(os.environ.get("BENCH_NOP_JOBS", "200"))
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    memory = PhysicalAllocator(0x10_0000, 16 << 20)
    # The scheduler keeps the whole ring busy.
    device = await start_driver(soc, memory, ring_log2=6, queue_depth=1 << 6)
    physical = await KernelContext.create(device, bypass=True)
    virtual = await KernelContext.create(device)
    # One stream page, at the same physical address in both spaces.
    frame = memory.alloc(PAGE)
    await virtual.map(STREAM_VA, frame, PAGE, Prot.READ)

    # One NOP alone: its latency. Then a stream of them: the cost of each in a busy queue.
    single, latency, _, _ = await _one_job(soc, virtual, commands.nop(), frame, STREAM_VA)
    assert single.error == 0, single.outcome
    start, wall = soc.cycles, time.perf_counter()
    fences = [await virtual.submit(STREAM_VA, 8, timeout_ns=TIMEOUT_NS) for _ in range(nops)]
    for fence in fences:
        await virtual.wait(fence)
        assert fence.error == 0, fence.outcome
    nop_stream = (soc.cycles - start, time.perf_counter() - wall)

    # 1 MiB sources and destinations: physically contiguous for the bypass runs, and mapped
    # page by page to shuffled frames of the same regions for the translated runs.
    size = 1 << 20
    src, dst = 0x0200_0000, 0x0300_0000
    pages = size // PAGE
    order = random.Random(1).sample(range(pages), pages)
    for i, page in enumerate(order):
        await virtual.map(SRC_VA + i * PAGE, src + page * PAGE, PAGE, Prot.READ)
        await virtual.map(DST_VA + i * PAGE, dst + page * PAGE, PAGE, Prot.READ | Prot.WRITE)
    await soc.mem_write(src, bytes(range(256)) * (size // 256))

    rows = size // PAGE
    runs = {
        "sequential": lambda s, d: commands.copy(s, d, size - 8),
        "sequential_unaligned": lambda s, d: commands.copy(s + 3, d + 5, size - 8),
        # One 64-byte row per source page: a TLB miss for every row.
        "strided": lambda s, d: commands.copy(s, d, 64, rows=rows, src_pitch=PAGE, dst_pitch=64),
    }
    copies = {}
    for name, make in runs.items():
        for space, s, d in ((physical, src, dst), (virtual, SRC_VA, DST_VA)):
            stream = commands.stream(make(s, d))
            fence, cycles, seconds, counters = await _one_job(
                soc, space, stream, frame, STREAM_VA if space is virtual else frame
            )
            assert fence.error == 0, fence.outcome
            command = unpack(CopyCommand, stream)
            copies[f"{name}_{'mmu' if space is virtual else 'physical'}"] = {
                "bytes": command.row_bytes * command.rows,
                "rows": command.rows,
                "job_cycles": fence.outcome.cycles,
                "cycles": cycles,
                "wall_s": seconds,
                **counters,
            }

    report = {
        "nop_latency_cycles": latency,
        "nop_firmware_cycles": single.outcome.cycles,
        "nop_jobs": nops,
        "nop_stream": nop_stream,
        "copies": copies,
        "mem_bytes_per_cycle": soc.config.mem_data_width // 8,
        "cp_accesses": soc.cp.accesses,
        "cp_cycles_charged": soc.cp.cycles_charged,
    }
    with open(JOBS_REPORT, "w") as f:
        json.dump(report, f)
