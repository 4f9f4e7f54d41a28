"""Host register semantics on the RTL, for two configurations.

Every cocotb test of host_regs_tb.py runs; the tables of expectations.py cover the register map.
"""

import dataclasses

from cocotb_cases import cosim_test
from expectations import BANK_STATUS_AFTER_RESET, CAPABILITIES, STATUS_AFTER_RESET
from tinynpu.rtl.config import PARAMETERS, NpuConfig
from tinynpu.rtl.regmap import HOST, Kind

test_host_registers = cosim_test("host_regs_tb")


# A valid value other than the default, for every parameter.
OTHER_VALUES = {
    "array_size": 16,
    "mem_data_width": 128,
    "addr_spaces": 7,
    "tlb_entries": 33,
    "spad_in_bytes": 65536,
    "spad_wt_bytes": 131072,
    "spad_acc_bytes": 131072,
    "queue_depth": 32,
    "dma_queue_depth": 5,
}


def test_every_parameter_has_a_capability():
    assert set(OTHER_VALUES) == set(PARAMETERS)
    default = NpuConfig()
    for name, value in OTHER_VALUES.items():
        changed = dataclasses.replace(default, **{name: value})
        reporting = [k for k, f in CAPABILITIES.items() if f(changed) == value != f(default)]
        assert reporting, f"no capability field reports {name}"


def test_capability_table_covers_the_register_map():
    hardware_driven = {
        (reg.name, field.name)
        for reg in HOST
        for field in reg.fields
        if field.kind is Kind.RO and reg.name != "int_status" and reg.bank is None
    }
    assert hardware_driven == set(CAPABILITIES) | set(STATUS_AFTER_RESET)
    assert not set(CAPABILITIES) & set(STATUS_AFTER_RESET)
    in_banks = {
        (reg.local, field.name)
        for reg in HOST
        for field in reg.fields
        if field.kind is Kind.RO and reg.bank is not None
    }
    assert in_banks == set(BANK_STATUS_AFTER_RESET)
