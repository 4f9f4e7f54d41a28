"""GEMM and CONV2D on the RTL, for two array sizes."""

import pytest
from configs import config_params

CASES = [
    "gemm_shapes",
    "gemm_int32_and_pitches",
    "quantization_edges",
    "bad_operands",
    "operand_faults",
    "convolutions",
    "job_counters",
]


@pytest.mark.cosim
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("config", config_params())
def test_compute(cosim, config, case):
    assert cosim("compute_tb", config, case).count == 1
