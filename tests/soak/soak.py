"""Run the soak (soak_tb.py) outside pytest: ``make soak``, or ``python tests/soak/soak.py``.

Prints the soak's summary line; exits non-zero if it failed (mismatches, lost completions, leaked
bytes, or resets that do not match the hangs). The simulator's log is under the build
directory (``TINYNPU_BUILD_DIR``), in ``tests/soak-<seed>-<jobs>``.
"""

import argparse
import os
import sys
from pathlib import Path

from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.build import config_dir
from tinynpu.sim.runner import STRICT_WARNINGS, SimulationError, case_log, run_cocotb_cases

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / "cosim"  # driver_idle.py, the Ledger
#: Wall-clock seconds allowed per job (the whole run's limit is this times the jobs, plus start-up).
WALL_S_PER_JOB = 0.5


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs to run (10,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    args = parser.parse_args(argv)
    config = NpuConfig()
    directory = config_dir(config) / "tests" / f"soak-{args.seed}-{args.jobs}"
    log = directory / "sim.log"
    os.environ.setdefault("TINYNPU_CASE_WALL_S", str(60 + WALL_S_PER_JOB * args.jobs))
    env = {
        "SOAK_JOBS": str(args.jobs),
        "SOAK_SEED": str(args.seed),
        "PYTHONWARNINGS": STRICT_WARNINGS,
    }
    try:
        results = run_cocotb_cases(
            "soak_tb",
            config,
            ["soak"],
            test_dir=directory,
            python_path=[HERE, SHARED],
            log_file=log,
            env=env,
        )
    except SimulationError as error:
        print(error, file=sys.stderr)
        return 1
    lines = case_log(log, "soak_tb", "soak")
    for line in lines:
        if "MISMATCH" in line or "LOST" in line or "soak seed" in line:
            print(line.split("cocotb.soak", 1)[-1].strip())
    result = results.get("soak")
    if result is None or not result.passed:
        print(f"soak failed: {result.message if result else 'it did not run'}; see {log}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
