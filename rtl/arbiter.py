"""Share the read half of the ``mem`` master between engines."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4Signature, channels
from .round_robin import round_robin

__all__ = ["ReadArbiter"]

_AR_PAYLOAD = ("araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot")


class ReadArbiter(wiring.Component):
    """Round-robin arbiter of AXI4 read channels, routing read data back by ID.

    Each manager's AR is issued with ``arid`` set to the manager's index, whatever the manager
    drove; R beats go to the manager whose index ``rid`` carries. Managers therefore see their
    own responses in order, and R bursts of different managers may interleave beat by beat.

    Once an AR is offered to the subordinate it stays offered, unchanged, until accepted (AXI
    requires it): the grant changes only at an AR handshake. After a handshake the next grant
    goes to the first requesting manager after the one just served; after reset, ``m0`` comes
    first. Managers see ``rid`` as 0: each is expected to use a single ID.

    Parameters
    ----------
    managers : int
        Number of manager ports, 2 or more; ``1 << id_width`` at most.
    data_width, addr_width, id_width : int
        Of the subordinate-side port (see :class:`~tinynpu.rtl.axi.AXI4Signature`).

    Attributes
    ----------
    m : In(channels(AXI4Signature(...), ("ar", "r"))).array(managers)
        Manager ports: ``m[i]``'s reads carry ID ``i``.
    mem : Out(channels(AXI4Signature(...), ("ar", "r")))
        The shared port.
    """

    def __init__(self, *, managers, data_width, addr_width, id_width):
        if not isinstance(managers, int) or not 2 <= managers <= 1 << id_width:
            raise ValueError(
                f"Number of managers must be an integer between 2 and {1 << id_width}, "
                f"not {managers!r}"
            )
        self.managers = managers
        read = channels(
            AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width),
            ("ar", "r"),
        )
        super().__init__({"m": In(read).array(managers), "mem": Out(read)})

    def elaborate(self, platform):
        """Build the grant logic and the read-data router."""
        m = Module()
        ports, mem = list(self.m), self.mem

        # Round robin: scan from the manager after the last one served.
        last = Signal(range(self.managers), init=self.managers - 1)
        locked = Signal()
        held = Signal(range(self.managers))
        requests = Cat(port.arvalid for port in ports)
        pick = round_robin(m, requests, last)
        requesting = requests.any()
        grant = Signal(range(self.managers))
        m.d.comb += grant.eq(Mux(locked, held, pick))

        with m.Switch(grant):
            for i, port in enumerate(ports):
                with m.Case(i):
                    m.d.comb += [getattr(mem, n).eq(getattr(port, n)) for n in _AR_PAYLOAD]
                    m.d.comb += [
                        mem.arvalid.eq(port.arvalid),
                        mem.arid.eq(i),
                        port.arready.eq(mem.arready),
                    ]
        offered = mem.arvalid & (locked | requesting)
        with m.If(offered & mem.arready):
            m.d.sync += [locked.eq(0), last.eq(grant)]
        with m.Elif(offered):
            m.d.sync += [locked.eq(1), held.eq(grant)]

        # Read data: every manager sees the beat; only the one named by rid is told it is valid.
        for i, port in enumerate(ports):
            mine = mem.rid == i
            m.d.comb += [
                port.rid.eq(0),
                port.rdata.eq(mem.rdata),
                port.rresp.eq(mem.rresp),
                port.rlast.eq(mem.rlast),
                port.rvalid.eq(mem.rvalid & mine),
            ]
            with m.If(mine):
                m.d.comb += mem.rready.eq(port.rready)
        return m
