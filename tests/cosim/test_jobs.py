"""The job path on the RTL, for two configurations."""

import pytest
from configs import config_params

CASES = [
    "nop",
    "copy_small",
    "copy_large",
    "copy_2d",
    "fill_and_write_value",
    "thousand_jobs",
    "full_ring",
    "malformed_commands",
    "bad_entries",
    "bus_errors",
    "ring_fetch_error",
    "firmware_crash",
    "bring_up_failures",
]


@pytest.mark.cosim
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("config", config_params())
def test_job(cosim, config, case):
    assert cosim("job_tb", config, case).count == 1
