"""TFLite models on the RTL: every tensor of every step equal to TFLite Micro's.

The generated models cover the op and attribute table (``tests/runtime/tflite_models.py``); the
microWakeWord models are real streaming models, run for several steps from audio features.
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from tinynpu.rtl.config import NpuConfig
from tinynpu.runtime.tflite_file import read_tflite
from tinynpu.runtime.tflite_lower import plan_model
from tinynpu.sim.build import config_dir

from tinynpu.cli import main
from tinynpu.model_cmd import run_models
from tinynpu.tflm import compare_steps
from tinynpu.wakeword import MODELS, feature_steps, model_path

sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
from tflite_models import edge_cases, generate

CONFIG = NpuConfig()
#: Generated models per simulation; two simulations (they run in parallel under xdist).
PER_RUN = 110
WAKEWORD_STEPS = 2


def _directory(request):
    return config_dir(CONFIG) / "tests" / request.node.name.replace("[", "-").strip("]")


def _run_and_compare(request, entries):
    results, clock_ns, _ = run_models(CONFIG, entries, _directory(request))
    compared = 0
    for entry, result in zip(entries, results, strict=True):
        assert result["error"] is None, (entry["name"], result["error"])
        ours = [step["tensors"] for step in result["steps"]]
        mismatches, count = compare_steps(entry["data"], entry["steps"], ours)
        assert mismatches == [], entry["name"]
        compared += count
    return results, compared, clock_ns


@pytest.mark.cosim
@pytest.mark.parametrize("seed", [11, 12])
def test_generated_models_are_bit_exact_on_every_tensor(request, seed):
    models = generate(seed, PER_RUN) + edge_cases(seed)
    entries = [
        {"name": label, "data": data, "steps": [inputs], "tensors": True}
        for label, data, inputs in models
    ]
    results, compared, _ = _run_and_compare(request, entries)
    assert compared > 20_000
    # The table is covered: every family, and each lowering path of the ops that have several.
    families = {label.split()[0] for label, _, _ in models[:PER_RUN]}
    assert families == {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "CONCATENATION",
        "STRIDED_SLICE",
        "SPLIT",
        "SPLIT_V",
        "PAD",
        "TRANSPOSE",
        "PACK",
        "UNPACK",
        "RESHAPE",
        "LOGISTIC",
        "SOFTMAX",
        "ADD",
        "MUL",
        "RELU",
        "RELU6",
        "QUANTIZE",
        "DEQUANTIZE",
        "network",
    }
    units = Counter()
    for _, data, _ in models:
        plan = plan_model(read_tflite(data), CONFIG.array_size, 1 << 20)
        for op in plan.ops:
            units[op.opcode, op.unit] += 1
            if op.opcode == "DEPTHWISE_CONV_2D" and not op.note.startswith("1 group"):
                units["grouped depthwise"] += 1
    assert units["AVERAGE_POOL_2D", "npu"] and units["AVERAGE_POOL_2D", "cpu"]
    assert units["grouped depthwise"]
    for opcode in ("CONV_2D", "FULLY_CONNECTED"):
        assert units[opcode, "npu"] >= 10
    movement = ("CONCATENATION", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PAD", "TRANSPOSE", "PACK")
    for opcode in (*movement, "UNPACK"):
        assert units[opcode, "dma"] >= 3
    for opcode in ("LOGISTIC", "SOFTMAX", "ADD", "MUL", "MAX_POOL_2D", "QUANTIZE", "DEQUANTIZE"):
        assert units[opcode, "cpu"] >= 3
    # The NPU did the NPU operators' work: their jobs counted MACs.
    macs = [
        op.counters["array_macs"]
        for r in results
        for op in r["steps"][0]["report"]
        if op.unit == "npu"
    ]
    assert len(macs) > 45 and all(macs)


@pytest.mark.cosim
def test_the_wakeword_models_stream_bit_exact_on_every_tensor(request):
    entries = []
    for name in MODELS:
        data = model_path(name).read_bytes()
        source = read_tflite(data).main
        tensor = source.tensors[source.inputs[0]]
        steps = feature_steps(WAKEWORD_STEPS, float(tensor.scale[0]), int(tensor.zero_point[0]))
        entries.append({"name": name, "data": data, "steps": steps, "tensors": True})
    results, compared, clock_ns = _run_and_compare(request, entries)
    assert compared > 4 * WAKEWORD_STEPS * 10_000
    for entry, result in zip(entries, results, strict=True):
        # The state moves: the same operator's inputs differ from step to step.
        first, last = (step["tensors"] for step in (result["steps"][0], result["steps"][-1]))
        assert any(not np.array_equal(first[i], last[i]) for i in first)
        cycles = [step["ns"] / clock_ns for step in result["steps"]]
        assert all(20_000 < c < 200_000 for c in cycles), (entry["name"], cycles)
        report = result["steps"][-1]["report"]
        assert {op.unit for op in report} == {"npu", "dma", "cpu", "none"}


@pytest.mark.cosim
def test_model_run_prints_the_per_operator_report(tmp_path, capsys):
    ((_, data, inputs),) = [m for m in generate(3, 27) if m[0].startswith("network")]
    path = tmp_path / "net.tflite"
    path.write_bytes(data)
    np.save(tmp_path / "x.npy", np.stack([inputs[0]] * 2))
    main(
        ["model", "run", str(path), "--steps", "2", "--input", str(tmp_path / "x.npy"), "--compare"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "per operator, step 2:"
    assert lines[1].split() == [
        "#",
        "op",
        "unit",
        "MACs",
        "cycles",
        "util",
        "DMA",
        "bytes",
        "match",
    ]
    rows = [line.split() for line in lines[2:7]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("0", "CONV_2D", "npu"),
        ("1", "DEPTHWISE_CONV_2D", "npu"),
        ("2", "AVERAGE_POOL_2D", "npu"),
        ("3", "FULLY_CONNECTED", "npu"),
        ("4", "SOFTMAX", "cpu"),
    ]
    assert all(r[-1] == "yes" for r in rows)
    assert all(int(r[4]) > 0 and r[5].endswith("%") for r in rows[:4])
    assert lines[7].startswith("2 steps: ")
    assert lines[8].startswith("every tensor of every step equals TFLite Micro's")
