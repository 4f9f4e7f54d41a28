"""The runtime on the RTL: quantized digits models, bit-exact against the numpy reference."""

import errno
import itertools
import pickle
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from tinynpu.driver.uapi import PAGE_SIZE
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.regmap import HOST
from tinynpu.runtime.compiler import WEIGHTS_VA, compile_model
from tinynpu.runtime.digits import load_split, trained
from tinynpu.runtime.quantize import quantize
from tinynpu.sim.build import config_dir

from tinynpu.run import run_program

DEMO_PROGRAM = Path(__file__).parents[2] / "tinynpu" / "demo_program.py"
FAULT_PROGRAM = Path(__file__).with_name("runtime_fault_program.py")


@pytest.fixture(scope="module")
def digits():
    return load_split()


def _job(digits, name, samples, batch):
    x_train, y_train, x_test, _ = digits
    quantized = quantize(trained(name, x_train, y_train), x_train)
    inputs = quantized.input.quantize(x_test[:samples])
    program = compile_model(quantized, batch)
    return quantized, program, inputs


def _run(request, program_file, models, *, trace=False):
    config = NpuConfig()
    directory = config_dir(config) / "tests" / request.node.name.replace("[", "-").strip("]")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "job.pkl").write_bytes(pickle.dumps({"models": models}))
    run_program(config, program_file, trace=trace, directory=directory)
    return directory, pickle.loads((directory / "results.pkl").read_bytes())


@pytest.mark.cosim
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_model_matches_reference(request, digits, name):
    """Two batches, the second partial: every output byte equals the int8 reference."""
    quantized, program, inputs = _job(digits, name, samples=20, batch=16)
    directory, results = _run(request, DEMO_PROGRAM, [(name, program, inputs)], trace=True)
    result = results[name]
    expected = quantized.reference(inputs)[-1]
    assert result["outputs"].shape == expected.shape == (20, 10)
    assert np.array_equal(result["outputs"], expected)
    assert [b["samples"] for b in result["batches"]] == [16, 4]
    for batch in result["batches"]:
        records = batch["counters"]
        assert len(records) == len(quantized.ops)
        # Counters are cumulative within a job: every op adds cycles and matrix operations.
        assert all(a["cycles"] < b["cycles"] for a, b in itertools.pairwise(records))
        assert all(a["matrix_ops"] < b["matrix_ops"] for a, b in itertools.pairwise(records))
    assert (directory / "progress").read_text() == f"20 20 {name}\n"

    trace = (directory / "trace.log").read_text().splitlines()
    body = [line.split("ns  ", 1)[1] for line in trace]
    doorbell = f"mmio W {HOST.ring_doorbell.offset:#06x}  ring_doorbell"
    doorbells = [line for line in body if line.startswith(doorbell)]
    completions = [line for line in body if line.startswith("done  ring seqno")]
    assert len(doorbells) == 2
    assert [line.split(",")[0] for line in completions] == [
        "done  ring seqno 1 OK",
        "done  ring seqno 2 OK",
    ]
    assert body.count("uapi  SUBMIT = 0 {seqno=1}") == 1
    assert body.count("uapi  SUBMIT = 0 {seqno=2}") == 1
    # The weights are mapped read-only and execute-never: every leaf PTE of theirs says so.
    leaves = [line for line in body if line.startswith("pte   L3") and "xn" in line]
    assert leaves and all(
        "ap_ro" in line for line in leaves[: program.sizes["weights"] // PAGE_SIZE]
    )

    svg = ET.parse(directory / "timeline.svg").getroot()
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text") if t.get("font-weight")]
    assert [t.split(":")[0] for t in titles] == ["ring seqno 1", "ring seqno 2"]


@pytest.mark.cosim
def test_fault_on_unmapped_weights_then_recover(request, digits):
    """A job reading unmapped weights fails with EFAULT at their address; the next one runs."""
    quantized, program, inputs = _job(digits, "mlp", samples=8, batch=8)
    _, results = _run(request, FAULT_PROGRAM, [("mlp", program, inputs)])
    expected = quantized.reference(inputs)[-1]
    assert np.array_equal(results["before"], expected)
    assert np.array_equal(results["after"], expected)
    code, message = results["failure"]
    assert code == errno.EFAULT
    assert f"fault_va {WEIGHTS_VA:#x}" in message
    assert results["status"] == {"resets": 0, "hangs": 0, "canceled": 0, "banned": 0}
