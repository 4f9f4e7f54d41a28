"""AXI4-Lite subordinate plumbing shared by the register blocks and the CP SRAM window."""

from amaranth.hdl import Signal
from amaranth.lib import wiring

from .axi import Resp

__all__ = ["connect_lite", "lite_handshakes"]


def lite_handshakes(m, bus):
    """Drive the handshakes of a subordinate that takes one read and one write per cycle.

    A write is taken with its AW and W together, once the previous response is delivered or is
    being delivered; a read likewise. Each gets an OKAY response in the next cycle, held until
    taken. The caller decodes the accesses and drives ``bus.rdata``: from the cycle after a read
    is taken, until the cycle its data is taken (``rvalid & rready``).

    Returns
    -------
    write, read : Signal
        High in the cycle a write or a read address is taken.
    """
    bvalid, rvalid = Signal(), Signal()
    write, read = Signal(), Signal()
    m.d.comb += [
        write.eq(bus.awvalid & bus.wvalid & (~bvalid | bus.bready)),
        bus.awready.eq(write),
        bus.wready.eq(write),
        bus.bvalid.eq(bvalid),
        bus.bresp.eq(Resp.OKAY),
        read.eq(bus.arvalid & (~rvalid | bus.rready)),
        bus.arready.eq(read),
        bus.rvalid.eq(rvalid),
        bus.rresp.eq(Resp.OKAY),
    ]
    for valid, taken, ready in ((bvalid, write, bus.bready), (rvalid, read, bus.rready)):
        with m.If(taken):
            m.d.sync += valid.eq(1)
        with m.Elif(ready):
            m.d.sync += valid.eq(0)
    return write, read


def connect_lite(m, manager, subordinate):
    """Connect an AXI4-Lite manager port to a subordinate that decodes fewer address bits.

    ``manager`` is a manager-side interface (a decoder's output), ``subordinate`` a
    subordinate's port; addresses are cut to the subordinate's width.
    """
    for name, member in manager.signature.members.items():
        out, into = getattr(manager, name), getattr(subordinate, name)
        if member.flow == wiring.Out:
            m.d.comb += into.eq(out[: len(into)] if name.endswith("addr") else out)
        else:
            m.d.comb += out.eq(into)
