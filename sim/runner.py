"""Run cocotb test modules on the cached Verilator build of a configuration."""

import contextlib
import json
import logging
import os
import pkgutil
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cocotbext.axi
from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.soc_top import SOC_NAME

from .build import VerilatorRunner, build_simulator
from .soc import CONFIG_ENV

__all__ = [
    "STRICT_WARNINGS",
    "CaseResult",
    "SimulationError",
    "case_log",
    "run_cocotb",
    "run_cocotb_cases",
    "start_failures",
    "waves_requested",
]


def _strict_warnings():
    # Every warning is an error, except the cocotb 1.x idioms that cocotbext-axi still uses
    # (Task.kill, Event.data, setimmediatevalue, ...): DeprecationWarnings from its modules only.
    modules = [m.name for m in pkgutil.iter_modules(cocotbext.axi.__path__, "cocotbext.axi.")]
    return ",".join(["error", *(f"ignore::DeprecationWarning:{m}" for m in modules)])


_log = logging.getLogger(__name__)

#: ``PYTHONWARNINGS`` for simulations under test.
STRICT_WARNINGS = _strict_warnings()


class SimulationError(RuntimeError):
    """A simulation ran no test, or a test in it failed."""


#: Starts of a simulation that ends before cocotb begins its regression (see
#: :func:`_never_started`).
START_ATTEMPTS = 2


def waves_requested():
    """Whether the user asked for waveforms (``WAVES=1``)."""
    return os.environ.get("WAVES", "0") not in ("", "0")


#: Wall-clock seconds one cocotb test may take before its simulation is stopped
#: (``TINYNPU_CASE_WALL_S`` overrides it; 0 disables the limit).
CASE_WALL_S = 90.0

_RUNNING = re.compile(r" cocotb\.regression +running (\S+)\.(\S+) \(\d+/\d+\)")
_ENDED = re.compile(r" cocotb\.regression +(\S+)\.(\S+) (passed|failed|skipped)\b")


def case_wall_limit():
    """The wall-clock limit of one cocotb test, in seconds (``None``: no limit)."""
    limit = float(os.environ.get("TINYNPU_CASE_WALL_S", CASE_WALL_S))
    return limit if limit > 0 else None


class _WatchedRunner(VerilatorRunner):
    """The Verilator runner, stopping a simulation whose current test overruns its time.

    The simulator's log says when each cocotb test starts; a test still running ``limit``
    seconds later is taken to hang (a Python loop that never yields stops simulated time too, so
    no simulated-time limit can catch it). The simulation then gets SIGABRT, on which Python's
    fault handler writes every thread's traceback to the log, and :attr:`overrun` names the test.
    """

    def __init__(self, *, limit, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self.overrun = None

    def _execute_cmds(self, cmds, cwd, stdout=None):
        if self.limit is None or self.log_file is None:
            return super()._execute_cmds(cmds, cwd, stdout)
        self.env["PYTHONFAULTHANDLER"] = "1"
        for cmd in cmds:
            process = subprocess.Popen(
                cmd, cwd=cwd, env=self.env, stdout=stdout, stderr=subprocess.STDOUT
            )
            current, since, seen = None, time.monotonic(), 0
            while process.poll() is None:
                time.sleep(0.5)
                with open(self.log_file, errors="replace") as log:
                    log.seek(seen)
                    text = log.read()
                # Only whole lines: a test's start may be half written.
                text = text[: text.rfind("\n") + 1]
                seen += len(text.encode(errors="replace"))
                for line in text.splitlines():
                    if match := _RUNNING.search(line):
                        current, since = match.group(2), time.monotonic()
                    elif _ENDED.search(line):
                        current = None
                if current is not None and time.monotonic() - since > self.limit:
                    self.overrun = current
                    process.send_signal(signal.SIGABRT)
                    process.wait()
                    return
            if process.returncode != 0:
                raise RuntimeError(f"Command failed with return code: {process.returncode}")


def _results_from_log(log: Path, module):
    """``{test name: CaseResult}`` of the tests a log says ended (when no report was written)."""
    results = {}
    for line in Path(log).read_text(errors="replace").splitlines():
        match = _ENDED.search(line)
        if match and match.group(1) == module:
            name, outcome = match.group(2), match.group(3)
            message = "" if outcome == "passed" else f"{outcome}: see the log"
            results[name] = CaseResult(name, outcome == "passed", message, 0.0, 0.0)
    return results


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one cocotb test of a simulation.

    Attributes
    ----------
    name : str
        The cocotb test's name.
    passed : bool
    message : str
        Why it failed or was skipped (empty if it passed).
    wall_s : float
        Wall-clock seconds the test took inside the simulation.
    sim_ns : float
        Simulated nanoseconds it took.
    """

    name: str
    passed: bool
    message: str
    wall_s: float
    sim_ns: float


def _results(path: Path, module):
    """``{test name: CaseResult}`` from cocotb's JUnit report of ``module``."""
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("classname") != module:
            continue
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        problem = next(
            (
                case.find(tag)
                for tag in ("failure", "error", "skipped")
                if case.find(tag) is not None
            ),
            None,
        )
        message = (
            ""
            if problem is None
            else f"{problem.tag}: {problem.get('message') or problem.text or ''}"
        )
        results[case.get("name")] = CaseResult(
            name=case.get("name"),
            passed=problem is None,
            message=message.strip(),
            wall_s=float(case.get("time", 0)),
            sim_ns=float(properties.get("sim_time_duration", 0)),
        )
    return results


#: ``wall_limit`` default: the per-test limit of :func:`case_wall_limit`.
TEST_LIMIT = "test"


def run_cocotb_cases(
    module,
    config: NpuConfig,
    cases=None,
    *,
    test_dir,
    python_path=(),
    log_file=None,
    env=None,
    wall_limit=TEST_LIMIT,
):
    """Run cocotb tests of ``module`` on ``config`` in one simulation; report each.

    One simulation for many tests pays the simulator's start-up (the Python interpreter, cocotb,
    the design's imports) once. Each test starts its SoC from reset, as a board is reset between
    runs; what the hardware does not reset (scratchpad contents) carries over, as it would.

    Parameters
    ----------
    module : str
        Importable name of the cocotb test module.
    config : NpuConfig
        The configuration to simulate; built (or taken from the cache) first.
    cases : list of str, optional
        The cocotb tests to run, by name; all of the module's by default.
    test_dir : path-like
        Directory of this run: results, logs and, with ``WAVES=1``, ``dump.fst``.
    python_path : list of path-like
        Directories to search for ``module``.
    log_file : path-like, optional
        Send the simulator's output there instead of to the terminal.
    env : dict, optional
        Extra environment variables for the simulation.
    wall_limit : float, None or TEST_LIMIT
        Wall-clock seconds one cocotb test may run before the simulation is stopped (only with
        ``log_file``, which the watch reads); ``None`` for no limit. By default the limit of a
        test, :func:`case_wall_limit`: a program that runs for minutes by design (the demo
        on the whole split, a model for a hundred steps) passes ``None``.

    Returns
    -------
    dict
        ``{name: CaseResult}`` for every test that ran, in the order they ran. A requested test
        missing from it did not run (the simulation ended first).

    Raises
    ------
    SimulationError
        If the simulation left no results (it crashed or could not start).
    """
    waves = waves_requested()
    build_dir = build_simulator(config, waves=waves)
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    results.unlink(missing_ok=True)
    for kept in start_failures(log_file) if log_file is not None else ():
        kept.unlink()
    limit = case_wall_limit() if wall_limit == TEST_LIMIT else wall_limit
    limit = limit if log_file is not None else None
    names = None if cases is None else "|".join(re.escape(c) for c in cases)
    for attempt in range(START_ATTEMPTS):
        runner = _WatchedRunner(limit=limit, waves=waves, python_path=[str(p) for p in python_path])
        # Under pytest the runner exits on a failed test; the results below say which.
        with contextlib.suppress(SystemExit):
            runner.test(
                test_module=module,
                hdl_toplevel=SOC_NAME,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=test_dir,
                results_xml=str(results.resolve()),
                test_filter=None if names is None else rf"^{re.escape(module)}\.({names})$",
                extra_env={CONFIG_ENV: json.dumps(config.as_dict())} | (env or {}),
                log_file=log_file,
            )
        if runner.overrun is not None or results.exists() or not _never_started(log_file):
            break
        if attempt + 1 < START_ATTEMPTS:
            # Keep the failed start's log beside the next attempt's.
            kept = Path(log_file).with_suffix(f".start-failure-{attempt + 1}.log")
            Path(log_file).replace(kept)
            _log.warning(
                "%s: the simulator exited before cocotb started a test (log kept in %s); "
                "starting it again",
                module,
                kept,
            )
    if runner.overrun is not None:
        found = _results_from_log(log_file, module)
        found[runner.overrun] = CaseResult(
            runner.overrun,
            False,
            f"still running after the wall-clock limit of {limit:g} s (TINYNPU_CASE_WALL_S): "
            "the simulation was stopped; every thread's traceback is in the log",
            limit,
            0.0,
        )
        return found
    try:
        return _results(results, module)
    except (ET.ParseError, OSError) as error:
        raise SimulationError(f"{module}: simulation left no results in {test_dir}") from error


def start_failures(log_file):
    """The kept logs of the starts of a simulation that ended before its first test."""
    log = Path(log_file)
    return sorted(log.parent.glob(f"{log.stem}.start-failure-*.log"))


def _never_started(log_file):
    """Whether a simulation's log shows it ended before cocotb began its regression.

    Such a run died while the simulator embedded Python (seen, rarely, under load: exit status
    0, nothing logged after the interpreter's start). Nothing of the design ran, so running it
    again changes no result.
    """
    if log_file is None or not Path(log_file).exists():
        return False
    return " cocotb.regression " not in Path(log_file).read_text(errors="replace")


def case_log(log: Path, module, case):
    """The lines of a simulation log that cocotb wrote while running test ``case``."""
    if not Path(log).exists():
        return []
    lines, inside = [], False
    start = f"running {module}.{case} ("
    for line in Path(log).read_text(errors="replace").splitlines():
        if " cocotb.regression " in line and " running " in line:
            inside = start in line
        if inside:
            lines.append(line)
    return lines


def run_cocotb(
    module,
    config: NpuConfig,
    *,
    test_dir,
    testcase=None,
    python_path=(),
    log_file=None,
    env=None,
    wall_limit=TEST_LIMIT,
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
    wall_limit : float, None or TEST_LIMIT
        As in :func:`run_cocotb_cases`.

    Returns
    -------
    int
        Number of cocotb tests that ran (all passed).

    Raises
    ------
    SimulationError
        If no test ran or any failed.
    """
    results = run_cocotb_cases(
        module,
        config,
        None if testcase is None else [testcase],
        test_dir=test_dir,
        python_path=python_path,
        log_file=log_file,
        env=env,
        wall_limit=wall_limit,
    )
    if not results:
        raise SimulationError(f"{module}: no cocotb test matched {testcase!r}")
    if failed := [r for r in results.values() if not r.passed]:
        reasons = "; ".join(f"{r.name}: {r.message}" if r.message else r.name for r in failed)
        raise SimulationError(
            f"{module}: {len(failed)} of {len(results)} tests failed ({reasons}), see {test_dir}"
        )
    return len(results)
