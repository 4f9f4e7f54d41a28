"""The NPU top level: host registers, the memory master and the interrupt line."""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4LiteSignature, AXI4Signature
from .config import MEM_ADDR_WIDTH, NpuConfig
from .regmap import HOST
from .regmap.block import RegisterBlock

__all__ = ["HOST_ADDR_WIDTH", "MEM_ID_WIDTH", "NpuTop", "npu_signature"]

#: The host MMIO window is 64 KiB.
HOST_ADDR_WIDTH = 16
#: AXI ID width of the mem master: enough to tell the fetcher, DMA and walker apart.
MEM_ID_WIDTH = 4


def npu_signature(config: NpuConfig):
    """The NPU's ports for ``config``: ``host``, ``mem`` and ``irq`` (see :class:`NpuTop`)."""
    return wiring.Signature(
        {
            "host": In(AXI4LiteSignature(addr_width=HOST_ADDR_WIDTH, data_width=32)),
            "mem": Out(
                AXI4Signature(
                    addr_width=MEM_ADDR_WIDTH,
                    data_width=config.mem_data_width,
                    id_width=MEM_ID_WIDTH,
                )
            ),
            "irq": Out(1),
        }
    )


class NpuTop(wiring.Component):
    """The NPU, as the SoC sees it.

    Parameters
    ----------
    config : NpuConfig
        Elaboration parameters; the capability registers report them.

    Attributes
    ----------
    host : In(AXI4LiteSignature(addr_width=16, data_width=32))
        The host CPU's MMIO window, laid out by ``rtl/regmap/host.rdl``.
    mem : Out(AXI4Signature(addr_width=40, data_width=config.mem_data_width, id_width=4))
        Master port to host memory. Idle: no engine issues transactions yet.
    irq : Out(1)
        Level interrupt to the host: high while ``int_status`` is non-zero.
    """

    def __init__(self, config: NpuConfig):
        if not isinstance(config, NpuConfig):
            raise TypeError(f"Configuration must be an NpuConfig, not {config!r}")
        self.config = config
        super().__init__(npu_signature(config))

    def capability_values(self):
        """Map each capability parameter name to the value the hardware reports."""
        return self.config.as_dict() | {"mem_addr_width": MEM_ADDR_WIDTH}

    def elaborate(self, platform):
        """Wire the host registers, capabilities and interrupts."""
        m = Module()
        m.submodules.regs = regs = RegisterBlock(HOST, addr_width=HOST_ADDR_WIDTH)
        wiring.connect(m, wiring.flipped(self.host), regs.bus)

        # Capability fields name the parameter they report (the RDL `param` property).
        values = self.capability_values()
        for reg in HOST:
            for field in reg.fields:
                if field.param is not None:
                    port = getattr(getattr(regs.f, reg.name), field.name)
                    m.d.comb += port.value.eq(values[field.param])

        # Interrupts: int_set (and, later, the engines) raise int_raw_status bits; the mask
        # selects which of them drive irq. irq comes straight from the status flops, so it falls
        # in the cycle a clearing write is accepted, before the write's response: a handler that
        # returns after its acknowledge never sees a stale level and re-enters.
        pending = []
        for name in HOST.int_raw_status.field_names():
            raw = getattr(regs.f.int_raw_status, name)
            enabled = raw.value & getattr(regs.f.int_mask, name).value
            m.d.comb += [
                raw.set.eq(getattr(regs.f.int_set, name).value),
                getattr(regs.f.int_status, name).value.eq(enabled),
            ]
            pending.append(enabled)
        m.d.comb += self.irq.eq(Cat(pending).any())
        return m
