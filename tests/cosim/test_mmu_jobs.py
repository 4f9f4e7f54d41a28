"""The MMU under jobs on the RTL, for two configurations."""

import pytest
from configs import config_params

CASES = [
    "scattered_pages",
    "two_address_spaces",
    "fault_kinds",
    "stopped_address_space",
    "stale_tlb",
    "block_split_and_last_page",
    "address_space_lifecycle",
]


@pytest.mark.cosim
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("config", config_params())
def test_mmu_job(cosim, config, case):
    assert cosim("mmu_tb", config, case).count == 1
