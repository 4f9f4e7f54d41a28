"""docs/tutorial.md quotes the trace and the report of one demo command: they must be current."""

import re
from pathlib import Path

import pytest
from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.build import config_dir

from tinynpu.demo import run_demo

TUTORIAL = Path(__file__).parents[2] / "docs" / "tutorial.md"
COMMAND = ".venv/bin/tinynpu demo --trace --model mlp --samples 8 --batch 8"
BLOCK = re.compile(r"^```(trace|demo)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _runs(block):
    """The block's runs of consecutive lines, split at ``...`` lines."""
    runs = [[]]
    for line in block.splitlines():
        if line.strip() == "...":
            runs.append([])
        else:
            runs[-1].append(line.strip())
    return [run for run in runs if run]


def _find_in_order(runs, lines, what):
    """Each run appears as consecutive lines, after the previous run."""
    position = 0
    for run in runs:
        for start in range(position, len(lines) - len(run) + 1):
            if lines[start : start + len(run)] == run:
                position = start + len(run)
                break
        else:
            raise AssertionError(f"{what}: not found in order:\n" + "\n".join(run))


@pytest.mark.cosim
def test_tutorial_quotes_current_output(capsys):
    text = TUTORIAL.read_text()
    assert COMMAND in text
    assert run_demo(NpuConfig(), models=["mlp"], samples=8, batch=8, trace=True)
    printed = [line.strip() for line in capsys.readouterr().out.splitlines()]
    trace = (config_dir(NpuConfig()) / "demo" / "trace.log").read_text()
    trace = [line.strip() for line in trace.splitlines()]
    blocks = BLOCK.findall(text)
    assert [kind for kind, _ in blocks].count("trace") >= 6
    quoted = {"trace": [], "demo": []}
    for kind, body in blocks:
        quoted[kind] += _runs(body)
    _find_in_order(quoted["trace"], trace, "trace.log")
    for run in quoted["demo"]:
        _find_in_order([run], printed, "the demo's report")
