"""Translates a stream of bursts, one MMU request per burst, for the DMA engine."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import Access
from .translate import ASID_WIDTH, TranslateSignature

__all__ = ["BurstTranslator"]


class BurstTranslator(wiring.Component):
    """Replaces each burst's virtual address with its physical address, or stops on a fault.

    A burst never crosses a 4 KiB boundary, so one translation covers all of it. With
    ``enable`` low, bursts pass unchanged (physical addresses, or an SRAM side). The output is
    a register: a burst whose translation hits in the TLB is taken in the cycle it is offered
    and appears on ``o`` in the next; the stage sustains one burst per cycle.

    A request, once raised on ``mmu``, is held until answered. No request is raised while
    ``stop`` is high or after a fault; ``fault`` is high for one cycle when the MMU refuses a
    burst, which then stays in ``i``. ``busy`` is high while a request is unanswered. ``start``
    empties the output register and forgets a fault (only while not ``busy``).

    Parameters
    ----------
    layout : StructLayout
        Of a burst: an ``addr`` field (virtual in, physical out) and whatever else travels with
        it.
    """

    def __init__(self, layout):
        super().__init__(
            {
                "i": In(stream.Signature(layout)),
                "o": Out(stream.Signature(layout)),
                "enable": In(1),
                "asid": In(ASID_WIDTH),
                "access": In(Access),
                "stop": In(1),
                "start": In(1),
                "fault": Out(1),
                "busy": Out(1),
                "mmu": Out(TranslateSignature()),
            }
        )

    def elaborate(self, platform):
        """Build the request hold, the output register and the fault flag."""
        m = Module()
        mmu = self.mmu
        asking = Signal()  # a request is raised and not yet answered
        faulted = Signal()
        space = ~self.o.valid | self.o.ready
        want = self.i.valid & space & ~self.stop & ~faulted
        answered = mmu.valid & mmu.done
        take = Mux(self.enable, answered & ~mmu.fault & space, self.i.valid & space)
        m.d.comb += [
            mmu.valid.eq(self.enable & (asking | want)),
            mmu.va.eq(self.i.payload.addr),
            mmu.asid.eq(self.asid),
            mmu.access.eq(self.access),
            self.i.ready.eq(take),
            self.fault.eq(answered & mmu.fault),
            self.busy.eq(mmu.valid & ~mmu.done),
        ]
        m.d.sync += asking.eq(mmu.valid & ~mmu.done)
        with m.If(answered & mmu.fault):
            m.d.sync += faulted.eq(1)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(take):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.eq(self.i.payload),
                self.o.payload.addr.eq(Mux(self.enable, mmu.pa, self.i.payload.addr)),
            ]
        with m.If(self.start):
            m.d.sync += [self.o.valid.eq(0), faulted.eq(0)]
        return m
