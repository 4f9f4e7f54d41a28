"""``tinynpu bench``: how fast the design builds and simulates.

Figures: elaboration + Verilog emission, Verilator build cold (empty cache) and warm (cached),
and simulated clock cycles per wall-clock second, idle and during back-to-back MMIO reads.
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
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out(f"  {name:<{width}}  {value}")
    return figures
