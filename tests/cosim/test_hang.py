"""A hung cocotb test fails at its limit, of wall-clock or simulated time; the simulation's
other tests still run."""

import time

import pytest
from configs import CONFIGS
from tinynpu.sim.build import config_dir
from tinynpu.sim.runner import run_cocotb_cases, start_failures

LIMIT_S = 5


@pytest.mark.cosim
def test_a_test_that_never_yields_is_stopped_at_the_limit(monkeypatch, request):
    monkeypatch.setenv("TINYNPU_CASE_WALL_S", str(LIMIT_S))
    config = CONFIGS["n4"]
    directory = config_dir(config) / "tests" / "hang"
    run = dict(
        test_dir=directory, python_path=[request.path.parent], log_file=directory / "sim.log"
    )
    start = time.monotonic()
    results = run_cocotb_cases("hang_tb", config, ["spins", "passes"], **run)
    took = time.monotonic() - start
    assert list(results) == ["spins"]  # the simulation stopped before "passes"
    assert not results["spins"].passed
    assert results["spins"].message.startswith(
        f"still running after the wall-clock limit of {LIMIT_S} s (TINYNPU_CASE_WALL_S)"
    )
    assert LIMIT_S < took < 60
    log = (directory / "sim.log").read_text()
    assert "in spins" in log  # the fault handler's traceback names the hung test's frame
    again = run_cocotb_cases("hang_tb", config, ["passes"], **run)
    assert [(r.name, r.passed) for r in again.values()] == [("passes", True)]


@pytest.mark.cosim
def test_a_test_past_its_simulated_time_limit_fails_with_cocotbs_timeout(request):
    config = CONFIGS["n4"]
    directory = config_dir(config) / "tests" / "hang-simulated"
    start = time.monotonic()
    results = run_cocotb_cases(
        "hang_tb",
        config,
        ["polls_forever", "passes"],
        test_dir=directory,
        python_path=[request.path.parent],
        log_file=directory / "sim.log",
    )
    took = time.monotonic() - start
    assert [(r.name, r.passed) for r in results.values()] == [
        ("polls_forever", False),
        ("passes", True),  # the next test of the simulation runs
    ]
    hung = results["polls_forever"]
    assert hung.sim_ns == 1_000_000  # its timeout_time of 1 ms, to the nanosecond
    assert hung.message == "failure: cocotb.triggers.SimTimeoutError"
    assert took < 60


@pytest.mark.cosim
def test_a_simulator_that_dies_before_its_first_test_is_started_again(request, tmp_path):
    # A sitecustomize on the simulation's path ends the embedded interpreter's start, once, with
    # status 0 and nothing logged: the way a failed start has been seen to end.
    marker = tmp_path / "died-once"
    (tmp_path / "sitecustomize.py").write_text(
        "import os, pathlib\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    os._exit(0)\n"
    )
    config = CONFIGS["n4"]
    directory = config_dir(config) / "tests" / "hang-start"
    log = directory / "sim.log"
    results = run_cocotb_cases(
        "hang_tb",
        config,
        ["passes"],
        test_dir=directory,
        python_path=[request.path.parent, tmp_path],
        log_file=log,
    )
    assert [(r.name, r.passed) for r in results.values()] == [("passes", True)]
    assert marker.exists()
    [kept] = start_failures(log)
    assert kept.name == "sim.start-failure-1.log"
    assert " cocotb.regression " not in kept.read_text()
    assert " cocotb.regression " in log.read_text()
