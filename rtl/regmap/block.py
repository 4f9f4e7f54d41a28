"""Generate an Amaranth register block from a :class:`~tinynpu.rtl.regmap.model.RegisterMap`.

The block is an AXI4-Lite subordinate with one 32-bit register per map entry. Each field that the
hardware sees becomes a port under ``f.<register>.<field>``:

========  ==========================  ========================================================
kind      ports                       behaviour
========  ==========================  ========================================================
RW        ``value``: Out              storage; writes honour ``wstrb``
RO        ``value``: In               read returns the hardware's value; writes are ignored
CONST     (none)                      read returns the reset value; writes are ignored
W1C       ``value``: Out, ``set``: In  sticky: ``set`` bits latch; writing 1 clears; a set in the
                                      same cycle as a clear wins, so no event is lost
PULSE     ``value``: Out              the written bits for one cycle after the write; reads 0
========  ==========================  ========================================================

Addresses are decoded on 32-bit words (the two low address bits are ignored). An address with no
register reads as zero and ignores writes. Every access gets an OKAY response, so no access can
hang the bus or fault the host. Reads and writes are each accepted at one per cycle.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..axi import AXI4LiteSignature
from ..lite import lite_handshakes
from .model import Kind, RegisterMap

__all__ = ["RegisterBlock", "fields_signature"]

_PORTS = {
    Kind.RW: {"value": Out},
    Kind.RO: {"value": In},
    Kind.W1C: {"value": Out, "set": In},
    Kind.PULSE: {"value": Out},
    Kind.CONST: {},
}


def fields_signature(regmap: RegisterMap, omit=frozenset()):
    """The signature of a register block's hardware-side ports, ``f.<register>.<field>``.

    Registers named in ``omit`` have no ports.
    """
    registers = {}
    for reg in regmap:
        if reg.name in omit:
            continue
        fields = {
            field.name: Out(
                wiring.Signature({port: d(field.width) for port, d in _PORTS[field.kind].items()})
            )
            for field in reg.fields
            if _PORTS[field.kind]
        }
        if fields:
            registers[reg.name] = Out(wiring.Signature(fields))
    return wiring.Signature(registers)


class RegisterBlock(wiring.Component):
    """The registers of a register map behind an AXI4-Lite subordinate port.

    Parameters
    ----------
    regmap : RegisterMap
        The registers to implement.
    addr_width : int
        Address width of the bus: the block decodes a window of ``2 ** addr_width`` bytes.
    omit : collection of str
        Registers the hardware does not implement (the banks beyond a configured count): they
        read as zero, ignore writes and have no ports.

    Attributes
    ----------
    bus : In(AXI4LiteSignature(addr_width=addr_width, data_width=32))
        The subordinate port.
    f : Out(fields_signature(regmap))
        Hardware-side field ports, ``f.<register>.<field>.value`` (and ``.set`` for W1C fields).

    Raises
    ------
    ValueError
        If the register map does not fit in the address window.
    """

    def __init__(self, regmap: RegisterMap, *, addr_width, omit=frozenset()):
        if regmap.span > 1 << addr_width:
            raise ValueError(
                f"Register map {regmap.name} spans {regmap.span} bytes, more than the "
                f"{1 << addr_width}-byte window of a {addr_width}-bit address"
            )
        unknown = set(omit) - {reg.name for reg in regmap}
        if unknown:
            raise ValueError(f"Register map {regmap.name} has no registers {sorted(unknown)}")
        self.regmap = regmap
        self.omit = frozenset(omit)
        super().__init__(
            {
                "bus": In(AXI4LiteSignature(addr_width=addr_width, data_width=32)),
                "f": Out(fields_signature(regmap, self.omit)),
            }
        )

    def port(self, register, field):
        """The hardware-side ports of ``field`` of ``register``, by name: ``f.<reg>.<field>``."""
        return getattr(getattr(self.f, register), field)

    def elaborate(self, platform):
        """Build the register file and its AXI4-Lite channels."""
        m = Module()
        bus = self.bus

        write, read = lite_handshakes(m, bus)
        byte_enable = Cat(bus.wstrb[i].replicate(8) for i in range(4))
        write_word = bus.awaddr[2:]
        # Read data: registered when the address is taken, held until the data is.
        rdata = Signal(32)
        m.d.comb += bus.rdata.eq(rdata)

        read_values = {}
        for reg in self.regmap:
            if reg.name in self.omit:
                continue
            hit = Signal(name=f"{reg.name}_write")
            m.d.comb += hit.eq(write & (write_word == reg.offset >> 2))
            read_value = Signal(32, name=f"{reg.name}_read")
            for field in reg.fields:
                bits = slice(field.lsb, field.msb + 1)
                value = self._field(m, reg, field, hit, bus.wdata[bits], byte_enable[bits])
                m.d.comb += read_value[bits].eq(value)
            read_values[reg.offset >> 2] = read_value

        with m.If(read), m.Switch(bus.araddr[2:]):
            for word, value in read_values.items():
                with m.Case(word):
                    m.d.sync += rdata.eq(value)
            with m.Default():
                m.d.sync += rdata.eq(0)
        return m

    def _field(self, m, reg, field, hit, wdata, enable):
        """Implement one field; return what a read of it returns.

        ``hit`` is high in the cycle a write to the register is accepted; ``wdata`` are the
        field's bits of the write data and ``enable`` those of the byte enables.
        """
        name = f"{reg.name}_{field.name}"
        if field.kind is Kind.CONST:
            return Const(field.reset, field.width)
        port = self.port(reg.name, field.name)
        if field.kind is Kind.RO:
            return port.value
        if field.kind is Kind.PULSE:
            m.d.sync += port.value.eq(0)
            with m.If(hit):
                m.d.sync += port.value.eq(wdata & enable)
            return Const(0, field.width)
        storage = Signal(field.width, init=field.reset, name=name)
        m.d.comb += port.value.eq(storage)
        if field.kind is Kind.RW:
            with m.If(hit):
                m.d.sync += storage.eq((storage & ~enable) | (wdata & enable))
        else:  # Kind.W1C
            cleared = Signal(field.width, name=f"{name}_clear")
            m.d.comb += cleared.eq(wdata & enable & hit.replicate(field.width))
            m.d.sync += storage.eq((storage & ~cleared) | port.set)
        return storage
