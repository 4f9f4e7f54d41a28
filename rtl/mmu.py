"""The MMU: address spaces, the TLB, the table walker, fault records and TLB invalidation.

Translation (see ``docs/page-tables.md``): a request on a port is answered in its first cycle
when the TLB holds the page, the access is allowed and the address space is enabled and running,
or when the address space is enabled, running and in bypass (the address is physical).
Anything else goes to one sequencer, which serves one request at a time, the ports in round
robin:

1. an address space number without a bank faults, recorded nowhere;
2. a stopped address space (a fault pending) refuses the access, counted as a further fault (the
   DMA engine's other side may have a request raised when its sibling faults);
3. a disabled address space faults (``DISABLED``, level 0), as does an input address of 40 bits
   (``TRANSLATION``, level 0);
4. a TLB hit that the access may not use faults (``PERMISSION``, at the entry's level);
5. otherwise the walker reads the tables; a valid, allowed page or block is put in the TLB and
   answered, anything else faults.

A fault is recorded in its address space's fault registers, raises ``event`` (the host's
``mmu_fault`` interrupt) and stops the address space until ``ack``. Every fault is recorded by the
sequencer, one at a time, so none is lost: a fault in a stopped address space adds to its count.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import MEM_ADDR_WIDTH
from .layouts import Access, FaultKind
from .pte import INPUT_ADDR_WIDTH, PAGE_SHIFT
from .round_robin import round_robin
from .tlb import Tlb, low_mask
from .translate import (
    ASID_WIDTH,
    VA_WIDTH,
    VPN_WIDTH,
    PageSize,
    TlbEntry,
    TranslateSignature,
    invalidation_members,
)
from .walker import Walker, memory_port

__all__ = ["AspaceSignature", "FaultRecord", "Mmu"]

#: The most further faults an address space's record counts.
MAX_COUNT = 0xFFFF


def _take(m, domain, index, sources, **targets):
    """Drive each of ``targets`` from the same-named member of the ``index``-th of ``sources``.

    Parameters
    ----------
    m : Module
        Where the multiplexer goes.
    domain : str
        ``"comb"`` or ``"sync"``.
    index : Value
        Which source; an index without a source drives nothing.
    sources : sequence of interface objects
        The candidates, by index.
    **targets : Signal
        By the name of the source member each one takes.
    """
    with m.Switch(index):
        for i, source in enumerate(sources):
            with m.Case(i):
                m.d[domain] += [t.eq(getattr(source, name)) for name, t in targets.items()]


class FaultRecord(data.Struct):
    """An address space's fault registers."""

    kind: FaultKind
    level: 2
    access: Access
    count: 16
    addr: VA_WIDTH


class AspaceSignature(wiring.Signature):
    """One address space's registers, from the MMU's side."""

    def __init__(self):
        super().__init__(
            {
                "ttbr": In(MEM_ADDR_WIDTH),
                "enable": In(1),
                "bypass": In(1),
                "ack": In(1),
                "fault": Out(FaultRecord),
            }
        )


def _level_of(size):
    """The table level of a TLB entry of ``size``."""
    return Mux(size == PageSize.BLOCK_1G, 1, Mux(size == PageSize.BLOCK_2M, 2, 3))


def _allowed(entry, access):
    """Whether ``access`` may use the translation of ``entry``."""
    return ~((access == Access.WRITE) & entry.read_only) & ~(
        (access == Access.FETCH) & entry.execute_never
    )


class Mmu(wiring.Component):
    """Translates requesters' virtual addresses in one of several address spaces.

    Parameters
    ----------
    addr_spaces : int
        Number of address spaces (banks of registers), 1 to 16.
    tlb_entries : int
        Entries of the TLB.
    ports : int
        Number of translation ports.
    data_width, id_width : int
        Of the walker's ``mem`` port.

    Attributes
    ----------
    t : In(TranslateSignature()).array(ports)
        Translation ports.
    aspace : Out(AspaceSignature()).array(addr_spaces)
    stopped : Out(addr_spaces)
        Address spaces with a fault pending.
    event : Out(1)
        High for one cycle when a fault is recorded.
    everything, by_asid, by_range : In(1)
        Invalidation commands (pulses), with ``inv_asid``, ``inv_first`` (page number) and
        ``inv_pages`` latched with them. A command while one is pending is ignored.
    inv_busy : Out(1)
    inv_done : Out(1)
        High for one cycle as an invalidation completes.
    inv_count : Out(16)
        Invalidations completed (wraps).
    hits, misses, reads : Out(32)
        Translations answered by the TLB (bypassed ones are not counted); walks started;
        descriptors read (all wrap).
    mem : Out(memory_port(...))
        The walker's reads (its :func:`~tinynpu.rtl.walker.memory_port`).
    """

    def __init__(self, *, addr_spaces, tlb_entries, ports, data_width, id_width):
        if not 1 <= addr_spaces <= 1 << ASID_WIDTH:
            raise ValueError(f"Address spaces must be 1 to 16, not {addr_spaces!r}")
        self.addr_spaces, self.tlb_entries, self.ports = addr_spaces, tlb_entries, ports
        self._walker = dict(data_width=data_width, id_width=id_width)
        super().__init__(
            {
                "t": In(TranslateSignature()).array(ports),
                "aspace": Out(AspaceSignature()).array(addr_spaces),
                "stopped": Out(addr_spaces),
                "event": Out(1),
                **invalidation_members(),
                "inv_busy": Out(1),
                "inv_done": Out(1),
                "inv_count": Out(16),
                "hits": Out(32),
                "misses": Out(32),
                "reads": Out(32),
                "mem": Out(memory_port(**self._walker)),
            }
        )

    def elaborate(self, platform):
        """Build the fast path, the sequencer, the fault records and the invalidation."""
        m = Module()
        n = self.addr_spaces
        m.submodules.tlb = tlb = Tlb(entries=self.tlb_entries, lookups=self.ports)
        m.submodules.walker = walker = Walker(**self._walker)
        wiring.connect(m, wiring.flipped(self.mem), walker.mem)
        ports, lookups = list(self.t), list(tlb.lookup)
        records = [a.fault for a in self.aspace]

        enabled = Signal(n)
        bypass = Signal(n)
        m.d.comb += [
            enabled.eq(Cat(a.enable for a in self.aspace)),
            bypass.eq(Cat(a.bypass for a in self.aspace)),
            self.stopped.eq(Cat(r.kind != FaultKind.NONE for r in records)),
        ]

        def running(asid):
            return (asid < n) & enabled.bit_select(asid, 1) & ~self.stopped.bit_select(asid, 1)

        # The sequencer's request: which port, and its latched request.
        serving = Signal()
        sel = Signal(range(self.ports))
        asid = Signal(ASID_WIDTH)
        va = Signal(VA_WIDTH)
        access = Signal(Access)
        respond = Signal()
        resp_fault = Signal()
        resp_pa = Signal(MEM_ADDR_WIDTH)

        # Fast path: TLB hits and bypass, answered combinationally; the rest need the sequencer.
        need = Signal(self.ports)
        fast = Signal(self.ports)
        hit = Signal(self.ports)
        for i, (port, lookup) in enumerate(zip(ports, lookups, strict=True)):
            mine = serving & (sel == i)
            through = bypass.bit_select(port.asid, 1)
            m.d.comb += [
                lookup.asid.eq(port.asid),
                lookup.va.eq(port.va),
                hit[i].eq(~through & lookup.hit & _allowed(lookup.entry, port.access)),
                fast[i].eq(port.valid & ~mine & running(port.asid) & (through | hit[i])),
                need[i].eq(port.valid & ~mine & ~fast[i]),
                port.done.eq(fast[i] | (respond & (sel == i))),
                port.fault.eq(respond & (sel == i) & resp_fault),
                port.pa.eq(Mux(respond & (sel == i), resp_pa, Mux(through, port.va, lookup.pa))),
            ]

        # Fault records: acknowledged, then the sequencer's new fault or further fault counted.
        m.d.sync += self.event.eq(0)
        for a, record in zip(self.aspace, records, strict=True):
            with m.If(a.ack):
                m.d.sync += record.eq(0)

        def refuse(kind=None, level=0):
            """Answer the request with a fault; record it (``kind``) or only count it."""
            m.d.sync += [resp_fault.eq(1), respond.eq(1)]
            for i, (a, record) in enumerate(zip(self.aspace, records, strict=True)):
                fresh = (record.kind == FaultKind.NONE) | a.ack
                with m.If((asid == i) & fresh):
                    if kind is not None:
                        m.d.sync += [
                            record.kind.eq(kind),
                            record.level.eq(level),
                            record.access.eq(access),
                            record.count.eq(0),
                            record.addr.eq(va),
                            self.event.eq(1),
                        ]
                with m.Elif((asid == i) & (record.count != MAX_COUNT)):
                    m.d.sync += record.count.eq(record.count + 1)

        # Invalidation: latched, performed when the sequencer is idle (no walk in progress).
        pending = Signal()
        op = Signal(3)  # everything, by_asid, by_range
        inv_asid = Signal(ASID_WIDTH)
        inv_first = Signal(VPN_WIDTH)
        inv_pages = Signal(VPN_WIDTH + 1)
        command = Cat(self.everything, self.by_asid, self.by_range)
        with m.If(~pending & command.any()):
            widest = Mux(
                self.everything, 0b001, Mux(self.by_asid, 0b010, 0b100)
            )  # with several bits, the widest
            m.d.sync += [
                pending.eq(1),
                op.eq(widest),
                inv_asid.eq(self.inv_asid),
                inv_first.eq(self.inv_first),
                inv_pages.eq(self.inv_pages),
            ]
        m.d.comb += [
            self.inv_busy.eq(pending),
            tlb.inv_asid.eq(inv_asid),
            tlb.inv_first.eq(inv_first),
            tlb.inv_pages.eq(inv_pages),
        ]
        m.d.sync += self.inv_done.eq(0)

        hits = Signal(32)
        misses = Signal(32)
        reads = Signal(32)
        late_hit = Signal()  # a hit answered by the sequencer (the space was stopped or disabled)
        m.d.sync += [hits.eq(hits + sum(fast & hit) + late_hit), reads.eq(reads + walker.read)]
        m.d.comb += [self.hits.eq(hits), self.misses.eq(misses), self.reads.eq(reads)]

        # Round robin: the first needy port after the last one served.
        last = Signal(range(self.ports))
        pick = round_robin(m, need, last)

        # The served port's TLB lookup (its request is held, so it matches the latched one).
        chosen = Signal(TlbEntry)
        chosen_hit = Signal()
        chosen_pa = Signal(MEM_ADDR_WIDTH)
        _take(m, "comb", sel, lookups, entry=chosen, hit=chosen_hit, pa=chosen_pa)
        walked = walker.entry
        m.d.comb += [
            walker.asid.eq(asid),
            walker.va.eq(va),
            tlb.fill_entry.eq(walked),
        ]
        _take(m, "comb", asid, self.aspace, ttbr=walker.ttbr)

        m.d.sync += respond.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(pending):
                    m.d.comb += [
                        tlb.everything.eq(op[0]),
                        tlb.by_asid.eq(op[1]),
                        tlb.by_range.eq(op[2]),
                        walker.flush.eq(1),
                    ]
                    m.d.sync += [
                        pending.eq(0),
                        self.inv_done.eq(1),
                        self.inv_count.eq(self.inv_count + 1),
                    ]
                with m.Elif(need.any()):
                    m.d.sync += [serving.eq(1), sel.eq(pick), last.eq(pick)]
                    _take(m, "sync", pick, ports, asid=asid, va=va, access=access)
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += resp_fault.eq(0)
                m.next = "RESPOND"
                with m.If(asid >= n):
                    m.d.sync += [resp_fault.eq(1), respond.eq(1)]  # no bank to record it in
                with m.Elif(self.stopped.bit_select(asid, 1)):
                    refuse()
                with m.Elif(~enabled.bit_select(asid, 1)):
                    refuse(FaultKind.DISABLED, 0)
                with m.Elif(bypass.bit_select(asid, 1)):
                    m.d.sync += [respond.eq(1), resp_pa.eq(va)]
                with m.Elif(va[INPUT_ADDR_WIDTH:] != 0):
                    refuse(FaultKind.TRANSLATION, 0)
                with m.Elif(chosen_hit & ~_allowed(chosen, access)):
                    refuse(FaultKind.PERMISSION, _level_of(chosen.size))
                with m.Elif(chosen_hit):
                    m.d.comb += late_hit.eq(1)
                    m.d.sync += [respond.eq(1), resp_pa.eq(chosen_pa)]
                with m.Else():
                    m.d.comb += walker.start.eq(1)
                    m.d.sync += misses.eq(misses + 1)
                    m.next = "WALK"
            with m.State("WALK"):
                with m.If(walker.done):
                    with m.If(walker.fault != FaultKind.NONE):
                        refuse(walker.fault, walker.level)
                    with m.Elif(~_allowed(walked, access)):
                        refuse(FaultKind.PERMISSION, walker.level)
                    with m.Else():
                        low = low_mask(walked.size, len(walked.ppn))
                        ppn = (walked.ppn & ~low) | (va[PAGE_SHIFT:INPUT_ADDR_WIDTH] & low)
                        m.d.comb += tlb.fill.eq(1)
                        m.d.sync += [respond.eq(1), resp_pa.eq(Cat(va[:PAGE_SHIFT], ppn))]
                    m.next = "RESPOND"
            with m.State("RESPOND"):
                # respond is high this cycle: the port takes the answer.
                m.d.sync += serving.eq(0)
                m.next = "IDLE"
        return m
