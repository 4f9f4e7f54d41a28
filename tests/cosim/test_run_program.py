"""``tinynpu run``: a program's output is echoed; a failing program still leaves its trace."""

from pathlib import Path

import pytest
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.regmap import HOST
from tinynpu.sim.build import config_dir
from tinynpu.sim.runner import SimulationError

from tinynpu.run import run_program, run_script

ROOT = Path(__file__).parents[2]


@pytest.mark.cosim
def test_example_program_output_and_trace():
    lines = []
    directory = run_script(
        NpuConfig(),
        ROOT / "examples" / "copy_job.py",
        ["Hello,", "NPU"],
        trace=True,
        out=lines.append,
    )
    assert lines[0] == "job 1: errno 0, copied 'Hello, NPU'"
    assert lines[-2:] == [
        f"trace: {directory / 'trace.log'}",
        f"timeline: {directory / 'timeline.svg'}",
    ]
    trace = (directory / "trace.log").read_text()
    assert "uapi  SUBMIT = 0 {seqno=1}" in trace
    assert "done  ring seqno 1 OK" in trace
    assert "ring seqno 1: OK" in (directory / "timeline.svg").read_text()


@pytest.mark.cosim
def test_failing_program_still_writes_its_trace(request):
    directory = config_dir(NpuConfig()) / "tests" / request.node.name
    with pytest.raises(SimulationError, match="1 of 1 tests failed"):
        run_program(
            NpuConfig(),
            Path(__file__).with_name("failing_program.py"),
            trace=True,
            directory=directory,
        )
    assert (directory / "stdout.txt").read_text() == "context created\n"
    assert "the program failed on purpose" in (directory / "sim.log").read_text()
    trace = (directory / "trace.log").read_text().splitlines()
    # The context was created, and shutdown still closed the client: CONTEXT_DESTROY ran.
    assert any(line.endswith("uapi  CONTEXT_CREATE = 0 {handle=1}") for line in trace)
    disable = f"mmio W {HOST.aspace0_control.offset:#06x}  aspace0_control = 0x00000000"
    assert any(disable in line for line in trace)


@pytest.mark.cosim
def test_a_program_may_run_past_the_wall_clock_limit_of_a_test(request, tmp_path, monkeypatch):
    # The per-test limit catches hung tests; a program (the demo on the whole split, a model's
    # hundred steps) runs as long as it needs.
    monkeypatch.setenv("TINYNPU_CASE_WALL_S", "1")
    program = tmp_path / "slow.py"
    program.write_text(
        "import time\n\n\nasync def main(system, args):\n    time.sleep(2)\n    print('done')\n"
    )
    directory = config_dir(NpuConfig()) / "tests" / request.node.name
    run_program(NpuConfig(), program, directory=directory)
    assert (directory / "stdout.txt").read_text() == "done\n"
