"""Run cocotb test modules on the cached Verilator build of a configuration."""

import contextlib
import json
import os
import pkgutil
import re
from pathlib import Path

import cocotbext.axi
from cocotb_tools.runner import get_results
from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.build import TOP_NAME

from .build import VerilatorRunner, build_simulator
from .soc import CONFIG_ENV

__all__ = ["STRICT_WARNINGS", "SimulationError", "run_cocotb", "waves_requested"]


def _strict_warnings():
    # Every warning is an error, except the cocotb 1.x idioms that cocotbext-axi still uses
    # (Task.kill, Event.data, setimmediatevalue, ...): DeprecationWarnings from its modules only.
    modules = [m.name for m in pkgutil.iter_modules(cocotbext.axi.__path__, "cocotbext.axi.")]
    return ",".join(["error", *(f"ignore::DeprecationWarning:{m}" for m in modules)])


#: ``PYTHONWARNINGS`` for simulations under test.
STRICT_WARNINGS = _strict_warnings()


class SimulationError(RuntimeError):
    """A simulation ran no test, or a test in it failed."""


def waves_requested():
    """Whether the user asked for waveforms (``WAVES=1``)."""
    return os.environ.get("WAVES", "0") not in ("", "0")


def run_cocotb(
    module, config: NpuConfig, *, test_dir, testcase=None, python_path=(), log_file=None, env=None
):
    """Run the cocotb tests of ``module`` on ``config`` in ``test_dir``.

    Parameters
    ----------
    module : str
        Importable name of the cocotb test module.
    config : NpuConfig
        The configuration to simulate; built (or taken from the cache) first.
    test_dir : path-like
        Directory of this run: results, logs and, with ``WAVES=1``, ``dump.fst``.
    testcase : str, optional
        Run only the cocotb test of this name.
    python_path : list of path-like
        Directories to search for ``module``.
    log_file : path-like, optional
        Send the simulator's output there instead of to the terminal.
    env : dict, optional
        Extra environment variables for the simulation.

    Returns
    -------
    int
        Number of cocotb tests that ran (all passed).

    Raises
    ------
    SimulationError
        If no test ran or any failed.
    """
    waves = waves_requested()
    build_dir = build_simulator(config, waves=waves)
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    runner = VerilatorRunner(waves=waves, python_path=[str(p) for p in python_path])
    # Under pytest the runner exits on a failed test; the results below say which.
    with contextlib.suppress(SystemExit):
        runner.test(
            test_module=module,
            hdl_toplevel=TOP_NAME,
            hdl_toplevel_lang="verilog",
            build_dir=build_dir,
            test_dir=test_dir,
            results_xml=str(results.resolve()),
            test_filter=None
            if testcase is None
            else rf"^{re.escape(module)}\.{re.escape(testcase)}$",
            extra_env={CONFIG_ENV: json.dumps(config.as_dict())} | (env or {}),
            log_file=log_file,
        )
    try:
        count, failed = get_results(results)
    except (RuntimeError, OSError) as error:
        raise SimulationError(f"{module}: simulation left no results in {test_dir}") from error
    if count == 0:
        raise SimulationError(f"{module}: no cocotb test matched {testcase!r}")
    if failed:
        raise SimulationError(f"{module}: {failed} of {count} tests failed, see {test_dir}")
    return count
