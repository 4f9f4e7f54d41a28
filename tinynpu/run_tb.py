"""``tinynpu run``, inside the simulator: boot the system and run a program's ``main``.

The program is a Python file defining ``async def main(system, args)``; the runner passes its
path, arguments and options in the environment. Its standard output goes to ``stdout.txt``; with
tracing, the decoded trace goes to ``trace.log`` and the timeline to ``timeline.svg``, all in
the run's directory.
"""

import contextlib
import importlib.util
import json
import os
from pathlib import Path

import cocotb

from tinynpu.sim.system import boot

#: Environment variables the runner sets.
SCRIPT_ENV, ARGS_ENV, TRACE_ENV = "TINYNPU_SCRIPT", "TINYNPU_ARGS", "TINYNPU_TRACE"


def _load(path):
    spec = importlib.util.spec_from_file_location("tinynpu_program", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "main"):
        raise AttributeError(f"{path} defines no `async def main(system, args)`")
    return module


# A program is the user's: the limit only catches one stuck in simulated time. 1 s is over
# 300 times the demo's default run (2.9 ms).
@cocotb.test(timeout_time=1, timeout_unit="sec")
async def run(dut):
    """Boot, run the program, shut down, write the trace."""
    module = _load(os.environ[SCRIPT_ENV])
    args = json.loads(os.environ.get(ARGS_ENV, "[]"))
    trace = os.environ.get(TRACE_ENV) == "1"
    system = await boot(dut, trace=trace)
    try:
        with open("stdout.txt", "w") as out, contextlib.redirect_stdout(out):
            await module.main(system, args)
    finally:
        # Even after a failure: the trace up to it is what explains it.
        await system.shutdown()
        if trace:
            system.write_trace(Path("trace.log"), Path("timeline.svg"))
