"""``tinynpu run SCRIPT``: run a user-space program on the simulated system.

The program is a Python file with ``async def main(system, args)`` (see :mod:`tinynpu.sim.system`
for what ``system`` offers). It runs inside the simulator on the cached build of the configuration;
what it prints, and with tracing the decoded trace and the timeline, land in its run directory.
"""

import json
import threading
import time
from pathlib import Path

from tinynpu.sim.build import config_dir
from tinynpu.sim.runner import run_cocotb

from .run_tb import ARGS_ENV, SCRIPT_ENV, TRACE_ENV

__all__ = ["run_program", "run_script"]


def run_program(config, script, *, args=(), trace=False, directory=None, poll=None):
    """Run ``script`` on ``config`` in ``directory``; return the directory.

    Parameters
    ----------
    config : NpuConfig
        The configuration to build and simulate.
    script : path-like
        The program: a Python file defining ``async def main(system, args)``.
    args : list of str
        Passed to ``main``.
    trace : bool
        Record the trace; write ``trace.log`` and ``timeline.svg``.
    directory : path-like, optional
        The run's directory; by default ``run-<script name>`` in the configuration's build.
    poll : callable, optional
        Called with the run directory about four times a second while the simulation runs
        (the demo draws its progress bar with it).
    """
    script = Path(script).resolve()
    directory = Path(directory or config_dir(config) / f"run-{script.stem}")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("trace.log", "timeline.svg", "stdout.txt", "progress"):
        (directory / stale).unlink(missing_ok=True)
    env = {SCRIPT_ENV: str(script), ARGS_ENV: json.dumps(list(args)), TRACE_ENV: str(int(trace))}
    failure = []

    def simulate():
        try:
            run_cocotb(
                "tinynpu.run_tb",
                config,
                test_dir=directory,
                log_file=directory / "sim.log",
                env=env,
                # A program runs as long as it needs: run_tb bounds its simulated time, and the
                # demo on the whole split or a model's hundred steps take minutes of wall time.
                wall_limit=None,
            )
        except Exception as error:  # reported by the caller's thread
            failure.append(error)

    thread = threading.Thread(target=simulate)
    thread.start()
    while thread.is_alive():
        thread.join(0.25)
        if poll is not None:
            poll(directory)
    if failure:
        raise failure[0]
    return directory


def run_script(config, script, args, *, trace, out=print):
    """``tinynpu run``: run ``script``, echo what it printed, say where the trace went."""
    start = time.perf_counter()
    directory = run_program(config, script, args=args, trace=trace)
    output = directory / "stdout.txt"
    if output.exists():
        for line in output.read_text().splitlines():
            out(line)
    out(f"\nlog: {directory / 'sim.log'}   wall time {time.perf_counter() - start:.1f} s")
    if trace:
        out(f"trace: {directory / 'trace.log'}")
        out(f"timeline: {directory / 'timeline.svg'}")
    return directory
