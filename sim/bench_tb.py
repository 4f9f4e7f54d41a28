"""Benchmarks inside the simulator: simulation speed, job overheads and DMA throughput."""

import json
import os
import time

import cocotb
from cocotb.triggers import Timer

from driver import commands
from driver.memory import PhysicalAllocator
from driver.npu import Npu
from firmware import Firmware
from rtl.regmap import HOST

from .soc import Soc

REPORT = "bench.json"
JOBS_REPORT = "jobs.json"


@cocotb.test()
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


async def _one_job(soc, npu, stream, scratch):
    """Submit ``stream``, wait; return (result, doorbell-to-interrupt cycles, wall seconds)."""
    await soc.mem_write(scratch, stream)
    start, wall = soc.cycles, time.perf_counter()
    seqno = await npu.submit(scratch, len(stream))
    result = await npu.wait(seqno, timeout_ns=1e9)
    return result, soc.cycles - start, time.perf_counter() - wall


@cocotb.test()
async def jobs(dut):
    """The job path: NOP overhead, large-copy DMA throughput, simulation speed meanwhile."""
    nops = int(os.environ.get("BENCH_NOP_JOBS", "200"))
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(0x10_0000, 16 << 20), ring_log2=6)
    await npu.init()
    scratch = npu.memory.alloc(4096)

    # One NOP alone: its latency. Then a stream of them: the cost of each in a busy queue.
    single, latency, _ = await _one_job(soc, npu, commands.nop(), scratch)
    start, wall, pending = soc.cycles, time.perf_counter(), []
    for _ in range(nops):
        if not npu.free_slots:
            await npu.wait(pending.pop(0), timeout_ns=1e9)
        pending.append(await npu.submit(scratch, 8))
    for seqno in pending:
        await npu.wait(seqno, timeout_ns=1e9)
    nop_stream = (soc.cycles - start, time.perf_counter() - wall)

    copies = {}
    size = 1 << 20
    await soc.mem_write(0x0200_0000, bytes(range(256)) * (size // 256))
    for name, src, dst in (
        ("aligned", 0x0200_0000, 0x0300_0000),
        ("unaligned", 0x0200_0003, 0x0300_0005),
    ):
        result, cycles, seconds = await _one_job(
            soc, npu, commands.copy(src, dst, size - 8), scratch
        )
        assert result.ok, result
        copies[name] = {
            "bytes": size - 8,
            "job_cycles": result.cycles,
            "cycles": cycles,
            "wall_s": seconds,
        }

    report = {
        "nop_latency_cycles": latency,
        "nop_firmware_cycles": single.cycles,
        "nop_jobs": nops,
        "nop_stream": nop_stream,
        "copies": copies,
        "mem_bytes_per_cycle": soc.config.mem_data_width // 8,
        "cp_accesses": soc.cp.accesses,
        "cp_cycles_charged": soc.cp.cycles_charged,
    }
    with open(JOBS_REPORT, "w") as f:
        json.dump(report, f)
