"""``tinynpu bench``: how fast the design builds and simulates, and what a job costs.

Figures: elaboration + Verilog emission, Verilator build cold (empty cache, and a configuration
not built before) and warm (cached), simulated clock cycles per wall-clock second (idle,
back-to-back MMIO reads, during jobs), the firmware and queue overhead of a NOP job, the DMA
throughput of 1 MiB copies against the memory bus's peak (one bus width per cycle in each
direction), and the MMU's cost: the same copies through 4 KiB pages on shuffled frames against
physical addresses (an address space in bypass), with TLB hit rates, walker reads and extra
cycles per TLB miss, for sequential copies and for a strided one that misses on every row.
"""

import json
import os
import shutil
import time

from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.build import build_root, build_simulator, config_dir, emit_verilog, simulator_dir
from tinynpu.sim.runner import run_cocotb

__all__ = ["run_bench", "speed_summary"]


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _speed(cycles_per_s, idle):
    """A simulation speed, and its ratio to the idle rate of the same build."""
    return f"{cycles_per_s:10.0f} cycles/s = {cycles_per_s / idle:.2f} of idle"


def _job_rows(jobs, figures):
    """Table rows (and figures) of the job-path benchmark."""
    idle = figures["idle_cycles_per_s"]
    nop_cycles, nop_s = jobs["nop_stream"]
    n = jobs["nop_jobs"]
    figures |= {
        "nop_latency_cycles": jobs["nop_latency_cycles"],
        "nop_firmware_cycles": jobs["nop_firmware_cycles"],
        "nop_cycles_per_job": nop_cycles / n,
        "nop_cycles_per_s": nop_cycles / nop_s,
    }
    rows = [
        ("NOP job, submit to completion collected", f"{jobs['nop_latency_cycles']:10d} cycles"),
        ("  of which firmware, entry pop to job end", f"{jobs['nop_firmware_cycles']:10d} cycles"),
        (f"NOP jobs back to back ({n})", f"{nop_cycles / n:10.1f} cycles/job"),
        ("  simulation speed meanwhile", _speed(nop_cycles / nop_s, idle)),
    ]
    peak = jobs["mem_bytes_per_cycle"]
    copies = jobs["copies"]
    for name in ("sequential", "sequential_unaligned", "strided"):
        physical, mmu = copies[f"{name}_physical"], copies[f"{name}_mmu"]
        label = {
            "sequential": "1 MiB COPY",
            "sequential_unaligned": "1 MiB COPY, unaligned",
            "strided": f"{mmu['rows']} rows of 64 B, one per source page",
        }[name]
        rates = {
            k: run["bytes"] / run["job_cycles"] for k, run in (("physical", physical), ("mmu", mmu))
        }
        lookups = mmu["tlb_hits"] + mmu["tlb_misses"]
        extra = mmu["job_cycles"] - physical["job_cycles"]
        figures |= {
            f"copy_{name}_physical_bytes_per_cycle": rates["physical"],
            f"copy_{name}_mmu_bytes_per_cycle": rates["mmu"],
            f"copy_{name}_mmu_fraction": rates["mmu"] / rates["physical"],
            f"copy_{name}_tlb_hit_rate": mmu["tlb_hits"] / lookups,
            f"copy_{name}_walk_reads": mmu["walk_reads"],
            f"copy_{name}_cycles_per_miss": extra / max(mmu["tlb_misses"], 1),
            f"copy_{name}_mmu_cycles_per_s": mmu["cycles"] / mmu["wall_s"],
        }
        rows += [
            (
                f"{label}, physical (bypass)",
                f"{rates['physical']:10.2f} B/cycle = {100 * rates['physical'] / peak:.1f}% of "
                f"{peak} B/cycle",
            ),
            (
                "  through the MMU, 4 KiB pages, shuffled frames",
                f"{rates['mmu']:10.2f} B/cycle = {100 * rates['mmu'] / rates['physical']:.1f}% "
                "of physical",
            ),
            (
                "  TLB hits / misses, walker reads",
                f"{mmu['tlb_hits']:10d} / {mmu['tlb_misses']} "
                f"({100 * mmu['tlb_hits'] / lookups:.1f}% hits), {mmu['walk_reads']} reads",
            ),
            (
                "  extra cycles per TLB miss",
                f"{extra / max(mmu['tlb_misses'], 1):10.1f}",
            ),
            ("  simulation speed meanwhile", _speed(mmu["cycles"] / mmu["wall_s"], idle)),
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
        # Again from nothing but the Verilator runtime library, which every configuration of
        # the toolchain shares: what a configuration not built before costs.
        shutil.rmtree(config_dir(config))
        _, new_config_s = _timed(build_simulator, config)
        _, warm_s = _timed(build_simulator, config)
        directory = config_dir(config)
        verilate_s = float((simulator_dir(config) / ".built").read_text())
        test_dir = directory / "bench"
        run_cocotb("tinynpu.bench_tb", config, test_dir=test_dir, log_file=test_dir / "sim.log")
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
        "build_new_config_s": new_config_s,
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
        ("Verilator build, cold: empty cache (elaborate, verilate, C++)", f"{cold_s:8.2f} s"),
        ("  a configuration not built before (runtime library built)", f"{new_config_s:8.2f} s"),
        ("    of which verilate + C++ compile", f"{verilate_s:8.2f} s"),
        ("Verilator build, warm (cached)", f"{warm_s * 1000:8.2f} ms"),
        (
            f"idle simulation ({idle_cycles} cycles)",
            f"{figures['idle_cycles_per_s']:10.0f} cycles/s",
        ),
        (
            f"back-to-back MMIO reads ({speed['reads']})",
            _speed(figures["mmio_cycles_per_s"], figures["idle_cycles_per_s"]),
        ),
        ("  reads per wall second", f"{figures['mmio_reads_per_s']:10.0f} reads/s"),
        ("  clock cycles per read", f"{figures['mmio_cycles_per_read']:10.1f}"),
    ]
    rows += _job_rows(jobs, figures)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out(f"  {name:<{width}}  {value}")
    return figures


def speed_summary(figures, compute_rows=(), demo=None, *, out=print):
    """Print every phase's simulation speed as a ratio to the idle rate of its build.

    Parameters
    ----------
    figures : dict
        What :func:`run_bench` returned (its idle rate is the yardstick of the job phases).
    compute_rows : list of dict
        What :func:`tinynpu.bench_compute.run_compute_bench` returned; each row carries the idle
        rate of its own build.
    demo : tinynpu.demo.DemoResult, optional
        The demo's run, on the configuration of ``figures``.
    out : callable
        Where the lines go.
    """
    idle = figures["idle_cycles_per_s"]
    rows = [
        ("idle simulation", idle, idle),
        ("back-to-back host MMIO reads", figures["mmio_cycles_per_s"], idle),
        ("NOP jobs back to back", figures["nop_cycles_per_s"], idle),
        ("1 MiB COPY through the MMU", figures["copy_sequential_mmu_cycles_per_s"], idle),
    ]
    rows += [
        (
            f"{row['name']} on {row['array']} x {row['array']}",
            row["cycles_per_s"],
            row["idle_cycles_per_s"],
        )
        for row in compute_rows
    ]
    if demo is not None:
        rows.append(
            (
                f"demo: {demo.cycles:,} cycles in {demo.wall_s:.1f} s",
                demo.cycles / demo.wall_s,
                idle,
            )
        )
    width = max(len(name) for name, _, _ in rows)
    out("simulation speed, as a ratio to the idle rate of the same build:")
    for name, rate, base in rows:
        out(f"  {name:<{width}}  {rate:10.0f} cycles/s  {rate / base:5.2f}")
