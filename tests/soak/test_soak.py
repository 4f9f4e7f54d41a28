"""The soak (soak_tb.py) on the RTL: 1,000 random jobs from a fixed seed, faults included."""

import pytest
from tinynpu.rtl.config import NpuConfig

#: The jobs and the seed of the soak run under pytest (``make soak`` runs 10,000).
JOBS, SEED = 1000, 1
#: Its wall-clock limit: the 1,000 jobs take about 50 s alone, more beside other simulations.
WALL_S = 240


@pytest.mark.cosim
def test_soak(cosim, monkeypatch):
    monkeypatch.setenv("SOAK_JOBS", str(JOBS))
    monkeypatch.setenv("SOAK_SEED", str(SEED))
    monkeypatch.setenv("TINYNPU_CASE_WALL_S", str(WALL_S))
    assert cosim("soak_tb", NpuConfig(), "soak").count == 1
