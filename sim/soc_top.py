"""The simulated SoC's top level: the NPU with host memory on its ``mem`` port, in Verilog.

The model Verilator builds is ``tinynpu_soc``: the NPU (``tinynpu_top``) and the host memory of
``hdl/host_memory.sv`` joined inside the simulator, so the memory's beats cost no Python. Every
other port of the NPU is a port of ``tinynpu_soc`` under the same name, so a testbench drives the
host and CP buses, the clock and the reset as it would the bare NPU.
"""

from amaranth.hdl import Shape
from amaranth.lib import wiring
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.top import MEM_ADDR_WIDTH, MEM_ID_WIDTH, npu_signature

__all__ = ["MEMORY_PORT", "SOC_NAME", "soc_ports", "soc_verilog"]

#: Verilog module name of the simulated SoC.
SOC_NAME = "tinynpu_soc"

#: The NPU port the host memory serves, inside the SoC.
MEMORY_PORT = "mem"

#: The memory's channel signals, by the name of the shell's port (``hdl/host_memory.sv``).
_MEMORY_SIGNALS = (
    *("arid", "araddr", "arlen", "arsize", "arburst", "arvalid", "arready"),
    *("rid", "rdata", "rresp", "rlast", "rvalid", "rready"),
    *("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "awready"),
    *("wdata", "wstrb", "wlast", "wvalid", "wready"),
    *("bid", "bresp", "bvalid", "bready"),
)


def _npu_ports(config: NpuConfig):
    """``(name, flow, width)`` of every port of the NPU, in the order of its signature."""
    ports = [("clk", wiring.In, 1), ("rst", wiring.In, 1)]
    for path, member in npu_signature(config).members.flatten():
        if member.is_port:
            name = "__".join(map(str, path))
            ports.append((name, member.flow, Shape.cast(member.shape).width))
    return ports


def _served(name):
    """Whether an NPU port is served inside the SoC (by the host memory)."""
    return name.startswith(f"{MEMORY_PORT}__")


def soc_ports(config: NpuConfig):
    """The SoC's ports, ``[(name, flow, width)]``: the NPU's, less its memory port."""
    return [port for port in _npu_ports(config) if not _served(port[0])]


def _declaration(kind, width, name):
    return f"{kind} {f'[{width - 1}:0] ' if width > 1 else ''}{name}"


def soc_verilog(config: NpuConfig):
    """The Verilog text of ``tinynpu_soc`` for ``config``."""
    ports = soc_ports(config)
    internal = [port for port in _npu_ports(config) if _served(port[0])]
    lines = [f"// The simulated SoC of {config.slug}: written by tinynpu.sim.soc_top.", ""]
    lines.append(f"module {SOC_NAME} (")
    lines += [
        f"    {_declaration('input' if flow == wiring.In else 'output', width, name)},"
        for name, flow, width in ports
    ]
    lines[-1] = lines[-1].rstrip(",")
    lines.append(");")
    lines += [f"  {_declaration('wire', width, name)};" for name, _, width in internal]
    lines.append("")
    connections = [name for name, _, _ in _npu_ports(config)]
    lines.append("  tinynpu_top npu (")
    lines += [f"      .{name}({name})," for name in connections]
    lines[-1] = lines[-1].rstrip(",")
    lines.append("  );")
    lines.append("")
    lines.append(
        f"  tinynpu_host_memory #(.ADDR_W({MEM_ADDR_WIDTH}), "
        f".DATA_W({config.mem_data_width}), .ID_W({MEM_ID_WIDTH})) host_memory ("
    )
    lines.append("      .clk(clk),")
    lines.append("      .rst(rst),")
    lines += [f"      .{signal}({MEMORY_PORT}__{signal})," for signal in _MEMORY_SIGNALS]
    lines[-1] = lines[-1].rstrip(",")
    lines.append("  );")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
