"""``tinynpu bench``, compute part: GEMM and CONV2D jobs on several array sizes, table and plot.

For each configuration of :data:`CONFIGS` (or the one configuration that ``tinynpu bench`` is
given with configuration flags) the simulator runs the workloads of
``tinynpu.bench_compute_tb`` and reports, per job: cycles from doorbell to completion interrupt,
array utilization ``M*K*N / (N**2 * cycles)`` (the fraction of the array's peak the whole job
achieved), DMA bytes per cycle, and simulated cycles per wall second. The plot of utilization
against array size and shape is written to ``<build root>/bench/utilization.svg``.
"""

import json

from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.build import build_root, config_dir
from tinynpu.sim.runner import run_cocotb

__all__ = ["CONFIGS", "run_compute_bench", "utilization_svg"]

#: The array sizes benchmarked, each with a memory bus as wide as one row of the array needs.
CONFIGS = [
    NpuConfig(array_size=4, mem_data_width=64),
    NpuConfig(array_size=8, mem_data_width=64),
    NpuConfig(array_size=16, mem_data_width=128),
]


def _rows(report):
    n = report["array_size"]
    idle_cycles, idle_s = report["idle"]
    idle = idle_cycles / idle_s
    rows = []
    for run in report["runs"]:
        counters = run["counters"]
        dma = counters["dma_read_bytes"] + counters["dma_write_bytes"]
        rows.append(
            {
                "array": n,
                "name": run["name"],
                "cycles": run["cycles"],
                "utilization": run["macs"] / (n * n * run["cycles"]),
                "busy": counters["array_busy"] / run["job_cycles"],
                "dma_bytes_per_cycle": dma / run["cycles"],
                "cycles_per_s": run["cycles"] / run["wall_s"],
                "idle_cycles_per_s": idle,
                "of_idle": run["cycles"] / run["wall_s"] / idle,
                "exact": run["exact"],
            }
        )
    return rows


def utilization_svg(rows):
    """A grouped bar chart (SVG text) of utilization per workload, one bar per array size."""
    names = list(dict.fromkeys(row["name"] for row in rows))
    sizes = sorted({row["array"] for row in rows})
    colours = ["#4C72B0", "#DD8452", "#55A868", "#C44E52"]
    width, height, left, bottom, top = 760, 360, 60, 60, 30
    group = (width - left - 20) / len(names)
    bar = group * 0.8 / len(sizes)
    plot_h = height - bottom - top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">'
        "Array utilization, doorbell to interrupt</text>",
    ]
    for tick in range(0, 101, 20):
        y = top + plot_h * (1 - tick / 100)
        parts.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}%</text>'
        )
    for g, name in enumerate(names):
        x0 = left + g * group + group * 0.1
        for s, size in enumerate(sizes):
            row = next((r for r in rows if r["name"] == name and r["array"] == size), None)
            if row is None:
                continue
            h = plot_h * row["utilization"]
            x = x0 + s * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                f'height="{h:.1f}" fill="{colours[s % len(colours)]}"/>'
                f'<text x="{x + bar / 2 - 1:.1f}" y="{top + plot_h - h - 3:.1f}" '
                f'text-anchor="middle" font-size="10">{100 * row["utilization"]:.0f}</text>'
            )
        parts.append(
            f'<text x="{x0 + group * 0.4:.1f}" y="{height - bottom + 18}" '
            f'text-anchor="middle">{name}</text>'
        )
    for s, size in enumerate(sizes):
        parts.append(
            f'<rect x="{left + s * 90}" y="{height - 22}" width="12" height="12" '
            f'fill="{colours[s % len(colours)]}"/><text x="{left + s * 90 + 16}" '
            f'y="{height - 12}">{size} x {size}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def run_compute_bench(configs=CONFIGS, *, out=print):
    """Run the compute workloads on ``configs``; print a table per run; write the plot."""
    rows = []
    for config in configs:
        test_dir = config_dir(config) / "bench-compute"
        run_cocotb(
            "tinynpu.bench_compute_tb", config, test_dir=test_dir, log_file=test_dir / "sim.log"
        )
        report = json.loads((test_dir / "compute.json").read_text())
        these = _rows(report)
        rows += these
        n = report["array_size"]
        idle = these[0]["idle_cycles_per_s"] if these else 0
        out(f"compute on {n} x {n} ({config.slug}), idle simulation {idle:,.0f} cycles/s:")
        out(
            f"  {'workload':<26} {'cycles':>9} {'utilization':>12} {'array busy':>11} "
            f"{'DMA B/cycle':>12} {'cycles/s':>10} {'of idle':>8}  bit-exact"
        )
        for row in these:
            out(
                f"  {row['name']:<26} {row['cycles']:>9} {100 * row['utilization']:>11.1f}% "
                f"{100 * row['busy']:>10.1f}% {row['dma_bytes_per_cycle']:>12.2f} "
                f"{row['cycles_per_s']:>10.0f} {row['of_idle']:>8.2f}  "
                f"{'yes' if row['exact'] else 'NO'}"
            )
    directory = build_root() / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "utilization.svg").write_text(utilization_svg(rows))
    (directory / "compute.json").write_text(json.dumps(rows, indent=1))
    out(f"plot: {directory / 'utilization.svg'}")
    return rows
