"""The simulated SoC's top level: the NPU with host memory on its ``mem`` port, in Verilog.

The model Verilator builds is ``tinynpu_soc``: the NPU (``tinynpu_top``), the host memory of
``hdl/host_memory.sv`` on its ``mem`` port, an AXI4-Lite manager of ``hdl/lite_master.sv`` on its
``host`` register port and one of ``hdl/lite_queue.sv`` on its ``cp`` port, joined inside the
simulator, so memory beats and bus handshakes cost no Python. The SoC's ports are the NPU's clock,
reset, interrupts and activity, the host manager's request ports (``host__rd_seq``,
``host__wr_data``...) and the CP manager's completion ports (``cp__done``, ``cp__data``...); the
CP's accesses reach its manager through the queue's C++ (``csrc/lite_queue.cpp``).
"""

from amaranth.hdl import Shape
from amaranth.lib import wiring
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.top import MEM_ADDR_WIDTH, MEM_ID_WIDTH, npu_signature

__all__ = [
    "LITE_PORTS",
    "LITE_TAG_WIDTH",
    "MEMORY_PORT",
    "QUEUED_PORTS",
    "SOC_NAME",
    "soc_ports",
    "soc_verilog",
]

#: Verilog module name of the simulated SoC.
SOC_NAME = "tinynpu_soc"

#: The NPU port the host memory serves, inside the SoC.
MEMORY_PORT = "mem"

#: The NPU's AXI4-Lite register ports, each served by a manager inside the SoC.
LITE_PORTS = ("host", "cp")

#: The register ports whose manager takes its accesses from a queue (``hdl/lite_queue.sv``), with
#: the index of each one's queue in ``csrc/lite_queue.cpp``: a processor's stores cost no wake.
QUEUED_PORTS = {"cp": 0}

#: The AXI4-Lite signals of a manager (``hdl/lite_master.sv``), all joined to the NPU port's.
_LITE_SIGNALS = (
    *("araddr", "arprot", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"),
    *("awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready"),
    *("bresp", "bvalid", "bready"),
)

#: Width of the managers' sequence numbers.
LITE_TAG_WIDTH = 8

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
    """Whether an NPU port is served inside the SoC (by the host memory or a manager)."""
    return name.partition("__")[0] in (MEMORY_PORT, *LITE_PORTS)


def _lite_requests(bus, address_width):
    """``(name, flow, width)`` of the harness's ports of ``bus``'s manager."""
    if bus in QUEUED_PORTS:
        return [
            *((f"{bus}__done", wiring.Out, 1), (f"{bus}__tag", wiring.Out, 32)),
            *((f"{bus}__data", wiring.Out, 32), (f"{bus}__resp", wiring.Out, 2)),
        ]
    tag = LITE_TAG_WIDTH
    return [
        *((f"{bus}__rd_seq", wiring.In, tag), (f"{bus}__rd_addr", wiring.In, address_width)),
        (f"{bus}__rd_delay", wiring.In, 32),
        *((f"{bus}__rd_done", wiring.Out, 1), (f"{bus}__rd_tag", wiring.Out, tag)),
        *((f"{bus}__rd_data", wiring.Out, 32), (f"{bus}__rd_resp", wiring.Out, 2)),
        *((f"{bus}__wr_seq", wiring.In, tag), (f"{bus}__wr_addr", wiring.In, address_width)),
        *((f"{bus}__wr_data", wiring.In, 32), (f"{bus}__wr_strb", wiring.In, 4)),
        (f"{bus}__wr_delay", wiring.In, 32),
        *((f"{bus}__wr_done", wiring.Out, 1), (f"{bus}__wr_tag", wiring.Out, tag)),
        (f"{bus}__wr_resp", wiring.Out, 2),
    ]


def _address_width(config, bus):
    return dict((name, width) for name, _, width in _npu_ports(config))[f"{bus}__araddr"]


def soc_ports(config: NpuConfig):
    """The SoC's ports, ``[(name, flow, width)]``.

    The NPU's ports not served inside the SoC, then the managers' ports for the harness.
    """
    ports = [port for port in _npu_ports(config) if not _served(port[0])]
    for bus in LITE_PORTS:
        ports += _lite_requests(bus, _address_width(config, bus))
    return ports


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
    for bus in LITE_PORTS:
        lines.append("")
        width = _address_width(config, bus)
        if bus in QUEUED_PORTS:
            module = f"tinynpu_lite_queue #(.ADDR_W({width}), .PORT({QUEUED_PORTS[bus]}))"
        else:
            module = f"tinynpu_lite_master #(.ADDR_W({width}), .TAG_W({LITE_TAG_WIDTH}))"
        lines.append(f"  {module} {bus}_master (")
        lines.append("      .clk(clk),")
        if bus in QUEUED_PORTS:
            lines.append(f"      .irq({bus}_irq),")
        requests = [name for name, _, _ in _lite_requests(bus, 0)]
        lines += [f"      .{name.partition('__')[2]}({name})," for name in requests]
        lines += [f"      .{signal}({bus}__{signal})," for signal in _LITE_SIGNALS]
        lines[-1] = lines[-1].rstrip(",")
        lines.append("  );")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
