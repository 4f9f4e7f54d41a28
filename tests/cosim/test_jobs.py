"""The job path on the RTL, for two configurations."""

import pytest
from configs import config_params

CASES = ["nop"]


@pytest.mark.cosim
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("config", config_params())
def test_job(cosim, config, case):
    assert cosim("job_tb", config, case).count == 1
