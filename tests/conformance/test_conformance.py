"""The conformance suite (cases_*.py) on the RTL: one simulation per case."""

import pytest
from cases_buffers import *  # noqa: F403 (registers the cases)
from cases_isolation import *  # noqa: F403
from cases_sched import *  # noqa: F403
from cases_submit import *  # noqa: F403
from cases_vm import *  # noqa: F403
from conformance_suite import CASES
from tinynpu.rtl.config import NpuConfig


@pytest.mark.cosim
@pytest.mark.xdist_group("n8")
@pytest.mark.parametrize("case", list(CASES))
def test_conformance(cosim, case):
    assert cosim("rtl_tb", NpuConfig(), case).count == 1
