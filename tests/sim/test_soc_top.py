"""The simulated SoC's top level and the host memory's timing parameters (no simulator)."""

import pytest
from amaranth.lib import wiring
from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.memory import MemoryTiming
from tinynpu.sim.soc_top import soc_ports, soc_verilog

CONFIG = NpuConfig(array_size=4, mem_data_width=128)


def test_the_soc_exposes_what_the_harness_drives_and_waits_on():
    ports = {name: (flow, width) for name, flow, width in soc_ports(CONFIG)}
    assert ports == {
        "clk": (wiring.In, 1),
        "rst": (wiring.In, 1),
        "irq": (wiring.Out, 1),
        "cp_irq": (wiring.Out, 1),
        "activity": (wiring.Out, 4),
        "host_reads_done": (wiring.Out, 32),
        "host_writes_done": (wiring.Out, 32),
        "cp_reads_done": (wiring.Out, 32),
        "cp_writes_done": (wiring.Out, 32),
    }


def test_the_soc_joins_the_npu_to_its_transactors():
    text = soc_verilog(CONFIG)
    assert "module tinynpu_soc (" in text
    assert "  wire [127:0] mem__rdata;" in text and "  wire [15:0] host__araddr;" in text
    assert "tinynpu_host_memory #(.ADDR_W(40), .DATA_W(128), .ID_W(4)) host_memory (" in text
    assert "tinynpu_axil_master #(.PORT(0), .ADDR_W(16)) host_master (" in text
    assert "tinynpu_axil_master #(.PORT(1), .ADDR_W(16)) cp_master (" in text
    assert "      .mem__rdata(mem__rdata)," in text and "      .rdata(mem__rdata)," in text
    assert "      .writes_done(cp_writes_done)\n  );" in text


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"read_latency": -1}, "read_latency must be 0..65535 cycles, not -1"),
        ({"write_latency": 1 << 16}, "write_latency must be 0..65535 cycles, not 65536"),
        ({"beat_interval": 0}, "beat_interval must be 1..65535 cycles, not 0"),
    ],
)
def test_memory_timing_refuses_what_the_model_cannot_do(fields, message):
    with pytest.raises(ValueError, match=message):
        MemoryTiming(**fields)
