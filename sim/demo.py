"""``tinynpu demo``: boot the NPU, run one job through the MMU, show what crossed the bus."""

import json
import time

from rtl.build import config_dir
from rtl.config import PARAMETERS, NpuConfig

from .runner import run_cocotb, waves_requested
from .toolchain import simulator_dir

__all__ = ["run_demo"]


def run_demo(config: NpuConfig, *, out=print):
    """Run the demo on ``config`` and print its report; return the report dictionary."""
    directory = config_dir(config)
    cached = (simulator_dir(config, waves=waves_requested()) / ".built").exists()
    out(f"tinynpu demo: configuration {config.slug}")
    out(f"  build: {directory}" + (" (cached)" if cached else " (building, about a minute)"))
    test_dir = directory / "demo"
    start = time.perf_counter()
    run_cocotb("sim.demo_tb", config, test_dir=test_dir, log_file=test_dir / "sim.log")
    wall = time.perf_counter() - start
    report = json.loads((test_dir / "demo.json").read_text())

    major, minor, patch = report["version"]
    out(f"\nIdentity: tinynpu, hardware version {major}.{minor}.{patch}")
    out("Capabilities, read over MMIO:")
    for name, value in report["caps"].items():
        what = PARAMETERS[name][1] if name in PARAMETERS else "physical address bits"
        out(f"  {name:<16} {value:>8}   {what}")
    fw = ".".join(map(str, report["firmware"]))
    job = report["job"]
    out(f"Firmware {fw} ready.")
    out(
        f"Job {job['seqno']} (COPY of {len(job['copied'])} bytes, then a fence): {job['status']}, "
        f"{job['cycles']} NPU cycles in the firmware, {job['latency_ns']:.0f} ns from submit to "
        f"collected completion"
    )
    out(f"  copied: {job['copied']!r}")
    out("\nAddress space 0 (virtual -> physical, one 4 KiB page each):")
    for name, where in report["mappings"].items():
        out(f"  {name:<7} {where['va']:#014x} -> {where['pa']:#012x}")
    out("Descriptors the driver wrote (level, table, index, value):")
    for line in report["pte_writes"]:
        out("  " + line)
    out("\nHost MMIO trace (simulated time, offset, register {fields}):")
    for line in report["trace"]:
        out("  " + line)
    out(f"\nlog: {test_dir / 'sim.log'}   wall time {wall:.1f} s")
    if waves_requested():
        out(f"waveform: {test_dir / 'dump.fst'}")
    return report
