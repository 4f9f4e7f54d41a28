import re
from pathlib import Path
from typing import NamedTuple

import pytest
from tinynpu.sim.build import config_dir
from tinynpu.sim.runner import STRICT_WARNINGS, SimulationError, run_cocotb


def _log_tail(log: Path, lines=40):
    if not log.exists():
        return "(no simulator log)"
    text = [line for line in log.read_text().splitlines() if "py.warnings" not in line]
    return "\n".join(text[-lines:])


class SimRun(NamedTuple):
    count: int  # cocotb tests that ran (all passed)
    directory: Path  # the run's directory: sim.log, results.xml, dump.fst with WAVES=1


@pytest.fixture
def cosim(request):
    """Run one cocotb test of a module next to the calling test file, on a configuration.

    Each pytest test gets its own directory, build/<config>/tests/<test name>/, with the
    simulator log and, with WAVES=1, dump.fst.
    """

    def run(module, config, testcase):
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        test_dir = config_dir(config) / "tests" / name
        log = test_dir / "sim.log"
        try:
            count = run_cocotb(
                module,
                config,
                test_dir=test_dir,
                testcase=testcase,
                python_path=[request.path.parent],
                log_file=log,
                env={"PYTHONWARNINGS": STRICT_WARNINGS},
            )
        except SimulationError as error:
            pytest.fail(f"{error}\n--- {log} (tail) ---\n{_log_tail(log)}", pytrace=False)
        return SimRun(count, test_dir)

    return run
