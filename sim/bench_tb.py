"""Simulation speed, inside the simulator: an idle run and back-to-back MMIO reads."""

import json
import os
import time

import cocotb
from cocotb.triggers import Timer

from rtl.regmap import HOST

from .soc import Soc

REPORT = "bench.json"


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
