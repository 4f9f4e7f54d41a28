"""The page-table walker: reads LPAE descriptors from host memory, level by level."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .axi import AXI4Signature, Burst, Resp, channels
from .config import MEM_ADDR_WIDTH
from .layouts import FaultKind
from .pte import INPUT_ADDR_WIDTH, PAGE_SHIFT, Descriptor, level_shift
from .translate import ASID_WIDTH, PPN_WIDTH, VA_WIDTH, PageSize, TlbEntry

__all__ = ["TABLE_CACHE_WAYS", "Walker", "memory_port"]

#: Cached table descriptors per level (levels 1 and 2, naming level-2 and level-3 tables).
TABLE_CACHE_WAYS = 4


def memory_port(*, data_width, id_width):
    """The walker's memory port, which the MMU passes on: the read half of AXI4.

    Parameters
    ----------
    data_width, id_width : int
        As for :class:`~tinynpu.rtl.axi.AXI4Signature`.

    Returns
    -------
    wiring.Signature
    """
    axi = AXI4Signature(addr_width=MEM_ADDR_WIDTH, data_width=data_width, id_width=id_width)
    return channels(axi, ("ar", "r"))


class Walker(wiring.Component):
    """Walks an address space's tables for one virtual address.

    ``start`` (a one-cycle pulse while ``busy`` is low) begins a walk of ``va`` (below 2^39) in
    ``asid`` from the level-1 table at ``ttbr``. Each level's descriptor is one 8-byte read on
    ``mem``: one full-width beat holding it, or two beats on a 32-bit bus. The walk ends with
    ``done`` high for one cycle and ``fault``:

    * ``NONE``: ``entry`` is the valid TLB entry of the page or block;
    * ``TRANSLATION``: a descriptor with ``valid=0``, or ``table=0`` at level 3;
    * ``ADDRESS_SIZE``: a table, block or page address with bits above bit 39;
    * ``ACCESS_FLAG``: a block or page with ``af=0``;
    * ``BUS_ERROR``: the read was answered SLVERR or DECERR;

    and ``level``, the level of the descriptor that ended the walk. Permissions are the caller's
    to check, with ``entry.read_only`` and ``entry.execute_never``.

    Table descriptors read at levels 1 and 2 are cached (:data:`TABLE_CACHE_WAYS` entries per
    level, tagged by address space and the address bits the table covers, replaced in turn), so
    a walk near a recent one starts at level 3 and reads one descriptor. ``flush`` empties the
    cache at the next edge.

    Parameters
    ----------
    data_width, id_width : int
        Of the ``mem`` port.

    Attributes
    ----------
    start, busy, done : 1 bit
    asid, va, ttbr : In
    fault : Out(FaultKind)
    level : Out(2)
    entry : Out(TlbEntry)
    flush : In(1)
    read : Out(1)
        High in the cycle a descriptor read completes (for the walker-reads counter).
    mem : Out(memory_port(...))
    """

    def __init__(self, *, data_width, id_width):
        self._dw = data_width
        super().__init__(
            {
                "start": In(1),
                "asid": In(ASID_WIDTH),
                "va": In(VA_WIDTH),
                "ttbr": In(MEM_ADDR_WIDTH),
                "busy": Out(1),
                "done": Out(1),
                "fault": Out(FaultKind),
                "level": Out(2),
                "entry": Out(TlbEntry),
                "flush": In(1),
                "read": Out(1),
                "mem": Out(memory_port(data_width=data_width, id_width=id_width)),
            }
        )

    def elaborate(self, platform):
        """Build the walk state machine, the descriptor reads and the table cache."""
        m = Module()
        mem = self.mem
        lg = exact_log2(self._dw // 8)
        beats = max(1, 8 >> lg)
        align = max(lg, 3)

        asid = Signal(ASID_WIDTH)
        va = Signal(INPUT_ADDR_WIDTH)
        level = Signal(2)
        table = Signal(MEM_ADDR_WIDTH)  # the table being read
        lsb = {lvl: level_shift(lvl) for lvl in (1, 2, 3)}
        index = Mux(
            level == 1,
            va[lsb[1] : INPUT_ADDR_WIDTH],
            Mux(level == 2, va[lsb[2] : lsb[1]], va[lsb[3] : lsb[2]]),
        )
        addr = Cat(Const(0, 3), index, table[PAGE_SHIFT:])
        desc = Signal(Descriptor)
        beat = Signal(range(beats))
        bad = Signal()  # a beat of this read carried an error

        # The table cache: level-2 tables by va[38:30], level-3 tables by va[38:21], a few of
        # each (the DMA's reader and writer walk in two regions at once), replaced in turn.
        caches = []
        for lvl in (2, 3):
            tag_lsb = level_shift(lvl - 1)  # the input bits the table covers
            for way in range(TABLE_CACHE_WAYS):
                valid = Signal(name=f"cache{lvl}_{way}_valid")
                tag = Signal(ASID_WIDTH + INPUT_ADDR_WIDTH - tag_lsb, name=f"cache{lvl}_{way}_tag")
                where = Signal(PPN_WIDTH, name=f"cache{lvl}_{way}_table")
                caches.append((lvl, tag_lsb, way, valid, tag, where))
        next_way = {lvl: Signal(range(TABLE_CACHE_WAYS), name=f"cache{lvl}_next") for lvl in (2, 3)}

        def tag_of(lsb):
            return Cat(self.va[lsb:INPUT_ADDR_WIDTH], self.asid)

        m.d.comb += [
            mem.araddr.eq(Cat(Const(0, align), addr[align:])),
            mem.arlen.eq(beats - 1),
            mem.arsize.eq(lg),
            mem.arburst.eq(Burst.INCR),
            mem.arcache.eq(0b0011),
            mem.rready.eq(1),
            self.level.eq(level),
        ]
        word = mem.rdata.word_select(addr[3:lg], 64) if lg > 3 else mem.rdata
        last = Signal(64)  # the descriptor, assembled from this read's beats
        if beats == 1:
            m.d.comb += last.eq(word)
        else:
            low = Signal(32)
            with m.If(mem.rvalid):
                m.d.sync += low.eq(word)
            m.d.comb += last.eq(Cat(low, word))

        m.d.sync += self.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        asid.eq(self.asid),
                        va.eq(self.va),
                        level.eq(1),
                        table.eq(self.ttbr),
                        self.fault.eq(FaultKind.NONE),
                    ]
                    # The deepest cached table that covers va.
                    for lvl, lsb, _, valid, tag, where in caches:
                        with m.If(valid & (tag == tag_of(lsb))):
                            m.d.sync += [level.eq(lvl), table.eq(Cat(Const(0, PAGE_SHIFT), where))]
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += [self.busy.eq(1), mem.arvalid.eq(1)]
                with m.If(mem.arready):
                    m.d.sync += [beat.eq(0), bad.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(mem.rvalid):
                    error = bad | (mem.rresp == Resp.SLVERR) | (mem.rresp == Resp.DECERR)
                    m.d.sync += [bad.eq(error), beat.eq(beat + 1)]
                    with m.If(mem.rlast):
                        m.d.comb += self.read.eq(1)
                        m.d.sync += desc.eq(last)
                        with m.If(error):
                            m.d.sync += [self.fault.eq(FaultKind.BUS_ERROR), self.done.eq(1)]
                            m.next = "IDLE"
                        with m.Else():
                            m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += self.busy.eq(1)
                too_wide = desc.address[PPN_WIDTH:] != 0
                is_table = desc.table & (level != 3)
                with m.If(~desc.valid | (~desc.table & (level == 3))):
                    m.d.sync += [self.fault.eq(FaultKind.TRANSLATION), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Elif(too_wide):
                    m.d.sync += [self.fault.eq(FaultKind.ADDRESS_SIZE), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Elif(is_table):
                    next_table = desc.address[:PPN_WIDTH]
                    m.d.sync += [
                        table.eq(Cat(Const(0, PAGE_SHIFT), next_table)),
                        level.eq(level + 1),
                    ]
                    for lvl, lsb, way, valid, tag, where in caches:
                        with m.If((level + 1 == lvl) & (next_way[lvl] == way)):
                            m.d.sync += [
                                valid.eq(1),
                                tag.eq(Cat(va[lsb:], asid)),
                                where.eq(next_table),
                            ]
                    for lvl, way in next_way.items():
                        with m.If(level + 1 == lvl):
                            m.d.sync += way.eq(way + 1)
                    m.next = "READ"
                with m.Elif(~desc.af):
                    m.d.sync += [self.fault.eq(FaultKind.ACCESS_FLAG), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [
                        self.entry.valid.eq(1),
                        self.entry.asid.eq(asid),
                        self.entry.size.eq(
                            Mux(
                                level == 1,
                                PageSize.BLOCK_1G,
                                Mux(level == 2, PageSize.BLOCK_2M, PageSize.PAGE_4K),
                            )
                        ),
                        self.entry.vpn.eq(va[PAGE_SHIFT:]),
                        self.entry.ppn.eq(desc.address[:PPN_WIDTH]),
                        self.entry.read_only.eq(desc.ap_ro),
                        self.entry.execute_never.eq(desc.xn),
                        self.done.eq(1),
                    ]
                    m.next = "IDLE"

        with m.If(self.flush):
            for _, _, _, valid, _, _ in caches:
                m.d.sync += valid.eq(0)
        return m
