"""``tinynpu model info|run``: a TFLite model's partition, and its steps on the simulated NPU.

``info`` reads and partitions the model on the host (:mod:`tinynpu.runtime.tflite_lower`) and
prints where each operator runs. ``run`` invokes it step by step inside the simulator
(:mod:`tinynpu.model_program`), prints a per-operator report of the last step (cycles, array
utilization, DMA bytes, unit) and with ``--compare`` holds every tensor of every step against
TFLite Micro's reference kernels (:mod:`tinynpu.tflm`).
"""

import pickle
import time
from pathlib import Path

import numpy as np

from tinynpu.runtime.tflite_file import ModelError, read_tflite
from tinynpu.runtime.tflite_lower import plan_model
from tinynpu.sim.build import config_dir

from . import wakeword
from .run import run_program

__all__ = ["load_model", "model_info", "model_run", "run_models"]

PROGRAM = Path(__file__).with_name("model_program.py")


def load_model(source):
    """``(name, bytes)`` of a ``.tflite`` path, or of a bundled microWakeWord model's name."""
    path = Path(source)
    if not path.is_file() and source in wakeword.MODELS:
        path = wakeword.model_path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"{source}: no such file (or a microWakeWord name: {', '.join(wakeword.MODELS)})"
        )
    return path.name.removesuffix(".tflite"), path.read_bytes()


def _shape(tensor):
    return "x".join(map(str, tensor.shape)) or "scalar"


def model_info(config, source, out=print):
    """Print the model's operators, where each runs, their MACs and output sizes."""
    name, data = load_model(source)
    model = read_tflite(data)
    plan = plan_model(model, config.array_size, max_stream=1 << 30)
    graph = model.main
    inputs = ", ".join(f"{graph.tensors[i].describe()}" for i in graph.inputs)
    outputs = ", ".join(f"{graph.tensors[i].describe()}" for i in graph.outputs)
    out(
        f"{name}: {len(data):,} bytes, {len(model.subgraphs)} subgraphs, "
        f"{len(graph.operators)} operators; inputs {inputs}; outputs {outputs}"
    )
    out(f"  {'#':>3} {'op':<20}{'unit':<6}{'MACs':>8}  {'output':<22}lowering")
    for op in plan.ops:
        tflite_op = graph.operators[op.index]
        shape = ", ".join(_shape(graph.tensors[i]) for i in tflite_op.outputs) or "-"
        out(f"  {op.index:>3} {op.opcode:<20}{op.unit:<6}{op.macs or '':>8}  {shape:<22}{op.note}")
    units = {u: sum(op.unit == u for op in plan.ops) for u in ("npu", "dma", "cpu", "none")}
    macs = sum(op.macs for op in plan.ops if op.unit == "npu")
    out(
        f"  {units['npu']} on the array ({macs:,} MACs), {units['dma']} DMA copies, "
        f"{units['cpu']} on the CPU, {units['none']} free; "
        f"{sum(s.unit == 'npu' for s in plan.segments)} NPU segments per step; "
        f"weights {len(plan.weights):,} B, activations and state {plan.sizes['activations']:,} B"
    )
    return plan


def _inputs(model, steps, input_file, seed, features=False):
    graph = model.main
    tensors = [graph.tensors[i] for i in graph.inputs]
    if features:
        if [(t.type, t.shape) for t in tensors] != [("INT8", wakeword.INPUT_SHAPE)]:
            raise ValueError(
                f"--features makes microWakeWord inputs, INT8{list(wakeword.INPUT_SHAPE)}; "
                f"the model takes {', '.join(t.describe() for t in tensors)}"
            )
        source = tensors[0]
        return wakeword.feature_steps(
            steps, float(source.scale[0]), int(source.zero_point[0]), seed
        )
    if input_file is not None:
        array = np.load(input_file)
        if len(tensors) != 1:
            raise ValueError("--input gives one array; the model has several inputs")
        shape = tensors[0].shape
        if array.shape == shape:
            array = array[None]
        if array.shape[1:] != shape or array.dtype != tensors[0].dtype:
            raise ValueError(
                f"--input holds {array.dtype} {array.shape}; the model takes "
                f"{tensors[0].describe()} (or a stack of them, one per step)"
            )
        return [[step] for step in array[:steps]]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        step = []
        for tensor in tensors:
            if tensor.type == "FLOAT32":
                step.append(rng.standard_normal(tensor.shape).astype(np.float32))
            else:
                info = np.iinfo(tensor.dtype)
                step.append(rng.integers(info.min, info.max + 1, tensor.shape, tensor.dtype))
        out.append(step)
    return out


def run_models(config, entries, directory):
    """Run ``entries`` (the program's job: name, data, steps, tensors) in one simulation.

    Returns
    -------
    results : list of dict
        Per entry, as :mod:`tinynpu.model_program` writes them.
    clock_ns : float
        The SoC clock period.
    wall_s : float
        Wall-clock seconds of the simulation.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "job.pkl").write_bytes(pickle.dumps({"models": entries}))
    start = time.perf_counter()
    run_program(config, PROGRAM, directory=directory)
    wall = time.perf_counter() - start
    results = pickle.loads((directory / "results.pkl").read_bytes())
    return results["models"], results["clock_ns"], wall


def model_run(
    config, source, *, steps=1, input_file=None, features=False, compare=False, seed=0, out=print
):
    """``tinynpu model run``: print the per-operator report; true unless a tensor differs."""
    name, data = load_model(source)
    model = read_tflite(data)
    plan_model(model, config.array_size, max_stream=1 << 30)  # refuse before simulating
    inputs = _inputs(model, steps, input_file, seed, features)
    entry = {"name": name, "data": data, "steps": inputs, "tensors": compare}
    directory = config_dir(config) / f"model-{name}"
    (result,), clock_ns, wall = run_models(config, [entry], directory)
    if result["error"]:
        raise ModelError(result["error"])
    mismatched = {}
    if compare:
        from .tflm import compare_steps

        mismatches, compared = compare_steps(data, inputs, [s["tensors"] for s in result["steps"]])
        for _, index, differ, _ in mismatches:
            mismatched[index] = mismatched.get(index, 0) + differ
    _report(model, result, config, clock_ns, out, mismatched if compare else None)
    ns = [s["ns"] for s in result["steps"]]
    out(
        f"{len(ns)} step{'s' * (len(ns) != 1)}: {np.mean(ns) / clock_ns:,.0f} cycles per step "
        f"on average (SUBMIT to the last result, CPU operators included), "
        f"{len(result['steps'][-1]['report'])} operators in {result['segments']} segments; "
        f"simulation wall time {wall:.1f} s ({wall / len(ns):.2f} s per step with boot)"
    )
    if compare:
        if mismatched:
            out(f"MISMATCH: {len(mismatched)} tensors differ from TFLite Micro's")
        else:
            out(
                f"every tensor of every step equals TFLite Micro's (reference kernels): "
                f"{compared:,} elements compared"
            )
    out(f"log: {directory / 'sim.log'}")
    return not mismatched


def _report(model, result, config, clock_ns, out, mismatched):
    graph = model.main
    report = result["steps"][-1]["report"]
    out(f"per operator, step {len(result['steps'])}:")
    header = f"  {'#':>3} {'op':<20}{'unit':<6}{'MACs':>8}{'cycles':>8}{'util':>7}{'DMA bytes':>11}"
    out(header + ("  match" if mismatched is not None else ""))
    pes = config.array_size**2
    for op in report:
        c = op.counters
        cycles = c.get("cycles", 0)
        util = f"{c['array_macs'] / (cycles * pes):.0%}" if cycles and op.unit == "npu" else ""
        dma = c.get("dma_read_bytes", 0) + c.get("dma_write_bytes", 0) if c else ""
        line = (
            f"  {op.index:>3} {op.opcode:<20}{op.unit:<6}{op.macs or '':>8}"
            f"{cycles or '':>8}{util:>7}{dma:>11}"
        )
        if mismatched is not None:
            outputs = [i for i in graph.operators[op.index].outputs if i in mismatched]
            line += "  " + ("NO" if outputs else "yes")
        out(line)
