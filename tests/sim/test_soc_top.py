"""The simulated SoC's top level and the host memory's timing parameters (no simulator)."""

import pytest
from amaranth.lib import wiring
from tinynpu.rtl.config import NpuConfig
from tinynpu.sim.memory import MemoryTiming
from tinynpu.sim.soc_top import soc_ports, soc_verilog

CONFIG = NpuConfig(array_size=4, mem_data_width=128)


#: The request ports of the host's AXI4-Lite manager (hdl/lite_master.sv).
REQUESTS = {
    "rd_seq": (wiring.In, 8),
    "rd_addr": (wiring.In, 16),
    "rd_delay": (wiring.In, 32),
    "rd_done": (wiring.Out, 1),
    "rd_tag": (wiring.Out, 8),
    "rd_data": (wiring.Out, 32),
    "rd_resp": (wiring.Out, 2),
    "wr_seq": (wiring.In, 8),
    "wr_addr": (wiring.In, 16),
    "wr_data": (wiring.In, 32),
    "wr_strb": (wiring.In, 4),
    "wr_delay": (wiring.In, 32),
    "wr_done": (wiring.Out, 1),
    "wr_tag": (wiring.Out, 8),
    "wr_resp": (wiring.Out, 2),
}

#: The completion ports of the CP's manager (hdl/lite_queue.sv); its requests come through C++.
COMPLETIONS = {
    "done": (wiring.Out, 1),
    "tag": (wiring.Out, 32),
    "data": (wiring.Out, 32),
    "resp": (wiring.Out, 2),
}


def test_the_soc_exposes_the_npu_less_its_buses_and_the_managers_ports():
    ports = {name: (flow, width) for name, flow, width in soc_ports(CONFIG)}
    assert ports == {
        "clk": (wiring.In, 1),
        "rst": (wiring.In, 1),
        "irq": (wiring.Out, 1),
        "cp_irq": (wiring.Out, 1),
        "activity": (wiring.Out, 4),
    } | {f"host__{name}": port for name, port in REQUESTS.items()} | {
        f"cp__{name}": port for name, port in COMPLETIONS.items()
    }


def test_the_soc_joins_the_npu_to_its_memory():
    text = soc_verilog(CONFIG)
    assert "module tinynpu_soc (" in text
    assert "  wire [127:0] mem__rdata;" in text and "  wire [15:0] host__araddr;" in text
    assert "tinynpu_host_memory #(.ADDR_W(40), .DATA_W(128), .ID_W(4)) host_memory (" in text
    assert "      .mem__rdata(mem__rdata)," in text and "      .rdata(mem__rdata)," in text
    assert "      .bready(mem__bready)\n  );\n" in text


def test_the_soc_joins_a_manager_to_each_register_port():
    text = soc_verilog(CONFIG)
    assert "  tinynpu_lite_master #(.ADDR_W(16), .TAG_W(8)) host_master (" in text
    assert "      .rd_seq(host__rd_seq)," in text and "      .araddr(host__araddr)," in text
    assert "  tinynpu_lite_queue #(.ADDR_W(16), .PORT(0)) cp_master (" in text
    assert "      .done(cp__done)," in text and "      .araddr(cp__araddr)," in text
    assert text.count("_master (") == 2
    assert "      .bready(cp__bready)\n  );\nendmodule\n" in text


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
