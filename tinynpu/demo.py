"""``tinynpu demo``: quantized models classify handwritten digits on the simulated NPU.

On the host: load scikit-learn's digits, train an MLP and a CNN in float, quantize them to int8
and compile them for a batch size. In the simulator (:mod:`tinynpu.demo_program`): the runtime
loads each model through the uAPI and runs the test images batch by batch on the RTL. Back on
the host: compare every output with the numpy int8 reference and report accuracy, throughput
at the SoC's clock, cycles per layer, array utilization and hardware counters.
"""

import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinynpu.rtl.config import NpuConfig
from tinynpu.runtime.compiler import compile_model
from tinynpu.runtime.digits import MODELS, load_split, trained
from tinynpu.runtime.quantize import quantize
from tinynpu.runtime.train import accuracy
from tinynpu.sim.build import config_dir, simulator_dir
from tinynpu.sim.runner import waves_requested

from .run import run_program

__all__ = ["DEFAULT_SAMPLES", "DemoResult", "run_demo"]

#: Test images the demo runs unless asked for the full split.
DEFAULT_SAMPLES = 192
#: Counters shown in the summary, in this order.
TOP_COUNTERS = (
    "cycles",
    "array_busy",
    "array_macs",
    "dma_busy",
    "dma_read_bytes",
    "dma_write_bytes",
    "dma_commands",
    "matrix_ops",
    "tlb_hits",
    "tlb_misses",
    "walker_reads",
)


class _Progress:
    """A progress bar on stderr, redrawn in place on a terminal, in steps of 25 % otherwise."""

    def __init__(self, total):
        self.total, self.shown = total, -1
        self.tty = sys.stderr.isatty()

    def __call__(self, directory):
        try:
            done, _, label = (directory / "progress").read_text().split()
        except (OSError, ValueError):
            return
        done = int(done)
        step = done * 4 // self.total
        if not self.tty and step == self.shown:
            return
        self.shown = step
        filled = done * 30 // self.total
        bar = "#" * filled + "-" * (30 - filled)
        end = "" if self.tty and done < self.total else "\n"
        print(f"\r  [{bar}] {done}/{self.total} images ({label})", end=end, file=sys.stderr)
        sys.stderr.flush()


def _prepare(names, samples, batch, out):
    """Train, quantize and compile; the job for the simulator and the host's expectations."""
    x_train, y_train, x_test, y_test = load_split()
    x, labels = x_test[:samples], y_test[:samples]
    out(
        f"Data: scikit-learn digits, 8x8 grey images; {len(x_train)} for training, "
        f"{len(x_test)} for testing; running {len(x)} test images"
        + ("" if len(x) == len(x_test) else " (--full runs all)")
    )
    job, expected = [], {}
    for name in names:
        start = time.perf_counter()
        model = trained(name, x_train, y_train)
        quantized = quantize(model, x_train)
        inputs = quantized.input.quantize(x)
        program = compile_model(quantized, batch)
        out(
            f"  {name}: trained and quantized in {time.perf_counter() - start:.1f} s; "
            + ", ".join(model.describe())
        )
        job.append((name, program, inputs))
        expected[name] = {
            "float": model.forward(x).argmax(axis=1),
            "reference": quantized.reference(inputs)[-1],
            "program": program,
        }
    return {"models": job}, expected, labels


def _layer_table(program, batch_result, array_size, out):
    """Cycles, utilization and traffic of each op in one batch."""
    out(
        f"    {'op':<9}{'output':>10}{'MACs/img':>10}{'cycles':>9}{'array busy':>12}"
        f"{'MAC util':>10}{'DMA bytes':>11}"
    )
    before = dict.fromkeys(batch_result["counters"][0], 0)
    for op, after in zip(program.ops, batch_result["counters"], strict=True):
        delta = {name: after[name] - before[name] for name in after}
        before = after
        cycles = max(delta["cycles"], 1)
        shape = "x".join(map(str, op.out_shape))
        out(
            f"    {op.name:<9}{shape:>10}{op.macs:>10}{delta['cycles']:>9}"
            f"{delta['array_busy'] / cycles:>11.0%} "
            f"{delta['array_macs'] / (cycles * array_size**2):>9.0%}"
            f"{delta['dma_read_bytes'] + delta['dma_write_bytes']:>11}"
        )


def _report(name, expected, result, labels, clock_ns, array_size, out):
    outputs, batches = result["outputs"], result["batches"]
    reference = expected["reference"]
    same = np.all(outputs.reshape(len(outputs), -1) == reference.reshape(len(reference), -1), 1)
    npu_pred = outputs.reshape(len(outputs), -1).argmax(axis=1)
    ref_pred = reference.reshape(len(reference), -1).argmax(axis=1)
    out(
        f"  {name}: accuracy float {accuracy(expected['float'], labels):.1%}, "
        f"int8 reference {accuracy(ref_pred, labels):.1%}, NPU {accuracy(npu_pred, labels):.1%}; "
        f"NPU output == int8 reference on {int(same.sum())}/{len(same)} samples"
    )
    samples = sum(b["samples"] for b in batches)
    wall_ns = sum(b["done_ns"] - b["submitted_ns"] for b in batches)
    cycles = sum(b["counters"][-1]["cycles"] for b in batches)
    mhz = 1000 / clock_ns
    out(
        f"    {samples / wall_ns * 1e9:,.0f} images/s end to end (SUBMIT to fence, "
        f"{len(batches)} job{'s' * (len(batches) != 1)} of {expected['program'].batch}), "
        f"{samples / (cycles * clock_ns) * 1e9:,.0f} images/s on the device "
        f"({cycles / samples:,.0f} cycles per image) at {mhz:.0f} MHz"
    )
    out(f"    per layer, first batch ({expected['program'].batch} images):")
    _layer_table(expected["program"], batches[0], array_size, out)
    return bool(same.all())


def _counter_totals(results, names):
    totals = dict.fromkeys(TOP_COUNTERS, 0)
    for name in names:
        for batch in results[name]["batches"]:
            for counter in TOP_COUNTERS:
                totals[counter] += batch["counters"][-1][counter]
    return totals


@dataclass(frozen=True)
class DemoResult:
    """What a demo run achieved; true when every output matched the int8 reference.

    Attributes
    ----------
    exact : bool
        Every output of every model equals the int8 reference.
    wall_s : float
        Wall-clock seconds of the simulation (building excluded).
    cycles : int
        Clock cycles simulated, from reset to the end of the program.
    """

    exact: bool
    wall_s: float
    cycles: int

    def __bool__(self):
        return self.exact


def run_demo(
    config: NpuConfig,
    *,
    models=None,
    samples=DEFAULT_SAMPLES,
    batch=64,
    trace=False,
    out=print,
    progress=True,
):
    """Run the demo on ``config`` and print its report.

    Parameters
    ----------
    config : NpuConfig
        The configuration to build and simulate.
    models : list of str, optional
        Names from :data:`tinynpu.runtime.digits.MODELS`; all by default.
    samples : int or None
        Test images to run; ``None`` for the whole test split.
    batch : int
        Images per job.
    trace : bool
        Write the decoded trace and the timeline.
    out : callable
        Where the report's lines go.
    progress : bool
        Draw a progress bar on stderr.

    Returns
    -------
    DemoResult
    """
    names = list(models or MODELS)
    cached = (simulator_dir(config, waves=waves_requested()) / ".built").exists()
    out(f"tinynpu demo: configuration {config.slug}")
    out(
        f"  build: {config_dir(config)}"
        + (" (cached)" if cached else " (building, about a minute)")
    )
    job, expected, labels = _prepare(names, samples, batch, out)
    directory = config_dir(config) / "demo"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "job.pkl").write_bytes(pickle.dumps(job))
    total = sum(len(inputs) for _, _, inputs in job["models"])
    out(f"Running on the NPU (Verilator), batches of {batch}:")
    start = time.perf_counter()
    run_program(
        config,
        Path(__file__).with_name("demo_program.py"),
        trace=trace,
        directory=directory,
        poll=_Progress(total) if progress else None,
    )
    wall = time.perf_counter() - start
    results = pickle.loads((directory / "results.pkl").read_bytes())
    clock_ns = results["clock_ns"]
    out(f"\nResults ({len(labels)} test images, {config.array_size}x{config.array_size} array):")
    exact = [
        _report(name, expected[name], results[name], labels, clock_ns, config.array_size, out)
        for name in names
    ]
    totals = _counter_totals(results, names)
    out("Hardware counters, all jobs: " + ", ".join(f"{k} {v:,}" for k, v in totals.items()))
    out(f"\nlog: {directory / 'sim.log'}   simulation wall time {wall:.1f} s")
    if trace:
        out(f"trace: {directory / 'trace.log'}")
        out(f"timeline: {directory / 'timeline.svg'}")
    if waves_requested():
        out(f"waveform: {directory / 'dump.fst'}")
    if not all(exact):
        out("error: the NPU's outputs differ from the int8 reference")
    return DemoResult(all(exact), wall, round(results["end_ns"] / clock_ns))
