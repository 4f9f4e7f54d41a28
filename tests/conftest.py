import os
import re
from pathlib import Path
from typing import NamedTuple

import pytest
from tinynpu.sim.build import config_dir
from tinynpu.sim.runner import (
    STRICT_WARNINGS,
    SimulationError,
    case_log,
    run_cocotb_cases,
    start_failures,
)

#: Helpers every simulation may import (tests/cosim/driver_idle.py, the end-of-case check).
SHARED = Path(__file__).parent / "cosim"
#: The slowest tests listed at the end of a run.
SLOWEST = 15


class SimRun(NamedTuple):
    count: int  # cocotb tests that ran for this case (1: it passed)
    directory: Path  # the simulation's directory: sim.log, results.xml, dump.fst with WAVES=1


class _Batch(NamedTuple):
    results: dict  # cocotb test name -> CaseResult
    directory: Path
    log: Path
    error: str = ""  # why the simulation left no results


#: Simulations run by this process: (module, folder, config digest, waves) -> _Batch.
_BATCHES = {}


def _batch_cases(request, config, testcase):
    """The cocotb tests to simulate together with ``testcase``.

    Those of every collected test of the same function and configuration (the parametrized
    ``case`` and ``config`` arguments): one simulation runs them all, in collection order, and
    each pytest test reports its own. Tests of one function and configuration share an xdist
    group, so they run on one worker.
    """
    cases = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "function", None) is not request.function or callspec is None:
            continue
        params = callspec.params
        if "case" in params and params.get("config", config) == config:
            cases.append(params["case"])
    return cases if testcase in cases else [testcase]


def _fail_message(module, batch, testcase):
    result = batch.results.get(testcase)
    if result is None:
        why = batch.error or f"{module}.{testcase} did not run: the simulation ended before it"
        lines = batch.log.read_text(errors="replace").splitlines() if batch.log.exists() else []
    else:
        why = f"{module}.{testcase}: {result.message}"
        lines = case_log(batch.log, module, testcase)
    lines = [line for line in lines if "py.warnings" not in line][-40:]
    return f"{why}\n--- {batch.log} ---\n" + ("\n".join(lines) or "(no simulator log)")


@pytest.fixture
def cosim(request):
    """Run one cocotb test of a module next to the calling test file, on a configuration.

    The cocotb tests of every collected test of the same function and configuration run in one
    simulation, started by the first of them to need it, in
    build/<config>/tests/<module>-<function>/ (simulator log, results and, with WAVES=1,
    dump.fst).
    """

    def run(module, config, testcase):
        key = (module, str(request.path.parent), config.digest(), os.environ.get("WAVES", ""))
        batch = _BATCHES.get(key)
        if batch is None or testcase not in batch.results:
            cases = _batch_cases(request, config, testcase)
            if batch is not None:  # the simulation stopped before these: run them again
                cases = [case for case in cases if case not in batch.results]
            name = f"{module}-{request.node.originalname}"
            if cases == [testcase]:
                name = request.node.name
            elif batch is not None:
                name += f"-from-{testcase}"  # keep the first simulation's log
            name = re.sub(r"[^\w.-]+", "_", name)
            directory = config_dir(config) / "tests" / name
            log = directory / "sim.log"
            error = ""
            try:
                results = run_cocotb_cases(
                    module,
                    config,
                    cases,
                    test_dir=directory,
                    python_path=list(dict.fromkeys([request.path.parent, SHARED])),
                    log_file=log,
                    env={"PYTHONWARNINGS": STRICT_WARNINGS},
                )
            except SimulationError as failure:
                results, error = {}, str(failure)
            if restarts := start_failures(log):
                request.node.user_properties.append(("sim_restarts", [str(p) for p in restarts]))
            merged = dict(batch.results) if batch is not None else {}
            merged.update(results)
            batch = _BATCHES[key] = _Batch(merged, directory, log, error)
        result = batch.results.get(testcase)
        if result is not None:
            request.node.user_properties.append(("simulated_s", result.wall_s))
        if result is None or not result.passed:
            pytest.fail(_fail_message(module, batch, testcase), pytrace=False)
        return SimRun(1, batch.directory)

    return run


def pytest_collection_modifyitems(items):
    """Co-simulation tests have their wall-clock limit per cocotb test, inside the runner.

    Every other test has pytest-timeout's (``timeout`` in pyproject.toml). A test that runs a
    shared simulation takes as long as all its cases, so the per-case limit of
    :func:`tinynpu.sim.runner.case_wall_limit` replaces it.
    """
    for item in items:
        if "cosim" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(0))


def pytest_terminal_summary(terminalreporter):
    """List the slowest tests: a co-simulation case by its own time inside its simulation."""
    times = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            own = dict(getattr(report, "user_properties", ())).get("simulated_s")
            times.append((own if own is not None else report.duration, report.nodeid))
    if not times:
        return
    restarts = [
        (report.nodeid, logs)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for logs in [dict(getattr(report, "user_properties", ())).get("sim_restarts")]
        if logs
    ]
    if restarts:
        terminalreporter.write_sep("=", "simulations started again after a failed start")
        for nodeid, logs in restarts:
            terminalreporter.write_line(f"{nodeid}: {', '.join(logs)}")
    times.sort(reverse=True)
    terminalreporter.write_sep("=", f"slowest {min(SLOWEST, len(times))} tests")
    for seconds, nodeid in times[:SLOWEST]:
        terminalreporter.write_line(f"{seconds:8.2f}s  {nodeid}")
