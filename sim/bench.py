"""``tinynpu bench``: how fast the design builds and simulates, and what a job costs.

Figures: elaboration + Verilog emission, Verilator build cold (empty cache) and warm (cached),
simulated clock cycles per wall-clock second (idle, back-to-back MMIO reads, during jobs), the
firmware and queue overhead of a NOP job, and the DMA throughput of 1 MiB copies against the
memory bus's peak (one bus width per cycle in each direction).
"""

import json
import os
import shutil
import time

from rtl.build import build_root, config_dir, emit_verilog
from rtl.config import NpuConfig

from .runner import run_cocotb
from .toolchain import build_simulator, simulator_dir

__all__ = ["run_bench"]


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _job_rows(jobs, figures):
    """Table rows (and figures) of the job-path benchmark."""
    nop_cycles, nop_s = jobs["nop_stream"]
    n = jobs["nop_jobs"]
    figures |= {
        "nop_latency_cycles": jobs["nop_latency_cycles"],
        "nop_firmware_cycles": jobs["nop_firmware_cycles"],
        "nop_cycles_per_job": nop_cycles / n,
        "nop_cycles_per_s": nop_cycles / nop_s,
    }
    rows = [
        ("NOP job, doorbell to completion interrupt", f"{jobs['nop_latency_cycles']:10d} cycles"),
        ("  of which firmware, entry pop to job end", f"{jobs['nop_firmware_cycles']:10d} cycles"),
        (f"NOP jobs back to back ({n})", f"{nop_cycles / n:10.1f} cycles/job"),
        ("  simulation speed meanwhile", f"{nop_cycles / nop_s:10.0f} cycles/s"),
    ]
    peak = jobs["mem_bytes_per_cycle"]
    for name, copy in jobs["copies"].items():
        rate = copy["bytes"] / copy["job_cycles"]
        figures[f"copy_{name}_bytes_per_cycle"] = rate
        figures[f"copy_{name}_peak_fraction"] = rate / peak
        rows += [
            (
                f"1 MiB COPY, {name} ({copy['bytes']} bytes)",
                f"{rate:10.2f} B/cycle = {100 * rate / peak:.1f}% of {peak} B/cycle",
            ),
            ("  simulation speed meanwhile", f"{copy['cycles'] / copy['wall_s']:10.0f} cycles/s"),
        ]
    return rows


def run_bench(config: NpuConfig, *, out=print):
    """Measure and print the build and simulation figures for ``config``; return them."""
    _, elaborate_s = _timed(emit_verilog, config)

    # A cold build in a private, empty cache, so the figure is not a cache hit.
    scratch = build_root() / "bench-cache"
    shutil.rmtree(scratch, ignore_errors=True)
    previous = os.environ.get("TINYNPU_BUILD_DIR")
    os.environ["TINYNPU_BUILD_DIR"] = str(scratch)
    try:
        _, cold_s = _timed(build_simulator, config)
        _, warm_s = _timed(build_simulator, config)
        directory = config_dir(config)
        verilate_s = float((simulator_dir(config) / ".built").read_text())
        test_dir = directory / "bench"
        run_cocotb("sim.bench_tb", config, test_dir=test_dir, log_file=test_dir / "sim.log")
        speed = json.loads((test_dir / "bench.json").read_text())
        jobs = json.loads((test_dir / "jobs.json").read_text())
    finally:
        if previous is None:
            del os.environ["TINYNPU_BUILD_DIR"]
        else:
            os.environ["TINYNPU_BUILD_DIR"] = previous
        shutil.rmtree(scratch, ignore_errors=True)

    idle_cycles, idle_s = speed["idle"]
    mmio_cycles, mmio_s = speed["mmio"]
    figures = {
        "elaborate_s": elaborate_s,
        "build_cold_s": cold_s,
        "verilator_s": verilate_s,
        "build_warm_s": warm_s,
        "idle_cycles_per_s": idle_cycles / idle_s,
        "mmio_cycles_per_s": mmio_cycles / mmio_s,
        "mmio_reads_per_s": speed["reads"] / mmio_s,
        "mmio_cycles_per_read": mmio_cycles / speed["reads"],
    }
    out(f"tinynpu bench: configuration {config.slug}")
    rows = [
        ("elaboration + Verilog emission", f"{elaborate_s:8.2f} s"),
        ("Verilator build, cold (elaborate + verilate + C++)", f"{cold_s:8.2f} s"),
        ("  of which verilate + C++ compile", f"{verilate_s:8.2f} s"),
        ("Verilator build, warm (cached)", f"{warm_s * 1000:8.2f} ms"),
        (
            f"idle simulation ({idle_cycles} cycles)",
            f"{figures['idle_cycles_per_s']:10.0f} cycles/s",
        ),
        (
            f"back-to-back MMIO reads ({speed['reads']})",
            f"{figures['mmio_cycles_per_s']:10.0f} cycles/s",
        ),
        ("  reads per wall second", f"{figures['mmio_reads_per_s']:10.0f} reads/s"),
        ("  clock cycles per read", f"{figures['mmio_cycles_per_read']:10.1f}"),
    ]
    rows += _job_rows(jobs, figures)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out(f"  {name:<{width}}  {value}")
    return figures
