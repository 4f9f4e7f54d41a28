"""The simulated SoC's top level and the host memory's timing parameters (no simulator)."""

import pytest
from amaranth.lib import wiring
from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.memory import MemoryTiming
from tinynpu.sim.soc_top import soc_ports, soc_verilog

CONFIG = NpuConfig(array_size=4, mem_data_width=128)


#: The AXI4-Lite signals of the host's and the CP's ports, which stay ports of the SoC.
AXIL = (
    *("awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready"),
    *("bresp", "bvalid", "bready", "araddr", "arprot", "arvalid", "arready"),
    *("rdata", "rresp", "rvalid", "rready"),
)


def test_the_soc_exposes_everything_but_the_memory_port():
    ports = {name: (flow, width) for name, flow, width in soc_ports(CONFIG)}
    assert ports == {
        "clk": (wiring.In, 1),
        "rst": (wiring.In, 1),
        "irq": (wiring.Out, 1),
        "cp_irq": (wiring.Out, 1),
        "activity": (wiring.Out, 4),
    } | {f"{bus}__{signal}": ports[f"{bus}__{signal}"] for bus in ("host", "cp") for signal in AXIL}
    assert ports["host__rdata"] == (wiring.Out, 32) and ports["cp__awaddr"] == (wiring.In, 16)


def test_the_soc_joins_the_npu_to_its_memory():
    text = soc_verilog(CONFIG)
    assert "module tinynpu_soc (" in text
    assert "  wire [127:0] mem__rdata;" in text and "    input [15:0] host__araddr," in text
    assert "tinynpu_host_memory #(.ADDR_W(40), .DATA_W(128), .ID_W(4)) host_memory (" in text
    assert "      .mem__rdata(mem__rdata)," in text and "      .rdata(mem__rdata)," in text
    assert "      .bready(mem__bready)\n  );\nendmodule\n" in text


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
