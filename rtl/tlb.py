"""The TLB: fully associative, tagged by address space, pages and blocks in the same entries."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import MEM_ADDR_WIDTH
from .pte import INDEX_BITS, INPUT_ADDR_WIDTH, PAGE_SHIFT
from .translate import ASID_WIDTH, VA_WIDTH, VPN_WIDTH, PageSize, TlbEntry, invalidation_members

__all__ = ["LookupSignature", "Tlb", "low_mask"]

#: Bits of the page number below the block, per page size.
_LOW_BITS = {PageSize.PAGE_4K: 0, PageSize.BLOCK_2M: INDEX_BITS, PageSize.BLOCK_1G: 2 * INDEX_BITS}


class LookupSignature(wiring.Signature):
    """A lookup port, from the TLB's side: ``asid`` and ``va`` in, the matching entry out."""

    def __init__(self):
        super().__init__(
            {
                "asid": In(ASID_WIDTH),
                "va": In(VA_WIDTH),
                "hit": Out(1),
                "entry": Out(TlbEntry),
                "pa": Out(MEM_ADDR_WIDTH),
            }
        )


def low_mask(size, width):
    """The page-number bits an entry of ``size`` ignores, as a ``width``-bit mask.

    The width matters: ``~mask`` must cover every bit of the page number it is applied to.
    """
    return Mux(
        size == PageSize.BLOCK_1G,
        Const((1 << _LOW_BITS[PageSize.BLOCK_1G]) - 1, width),
        Mux(
            size == PageSize.BLOCK_2M,
            Const((1 << _LOW_BITS[PageSize.BLOCK_2M]) - 1, width),
            Const(0, width),
        ),
    )


class Tlb(wiring.Component):
    """A fully associative TLB in flip-flops.

    Every lookup port compares all entries in parallel, combinationally: ``hit`` is high when a
    valid entry of ``asid`` maps ``va`` (an address of 39 bits or fewer), ``entry`` is that entry
    and ``pa`` the physical address. Should two entries match (two walks of the same page), the
    lowest-numbered one answers; they hold the same translation.

    ``fill`` writes ``fill_entry`` at the next edge into the lowest-numbered invalid entry; when
    every entry is valid, into the entry after the one the previous such replacement took, round
    robin (first in, first out while the TLB stays full; an entry refilled after an invalidation
    does not move the pointer).

    ``invalidate`` removes, at the next edge, every entry (``everything``), the entries of
    ``inv_asid`` (``by_asid``) or the entries of ``inv_asid`` that map any page from
    ``inv_first`` (a page number, address bits 38:12) to ``inv_first + inv_pages - 1``
    (``by_range``; none if ``inv_pages`` is 0).

    Parameters
    ----------
    entries : int
        Number of entries.
    lookups : int
        Number of lookup ports.

    Attributes
    ----------
    lookup : Out(LookupSignature()).array(lookups)
    fill : In(1)
    fill_entry : In(TlbEntry)
    everything, by_asid, by_range : In(1)
    inv_asid : In(ASID_WIDTH)
    inv_first : In(VPN_WIDTH)
    inv_pages : In(VPN_WIDTH + 1)
    """

    def __init__(self, *, entries, lookups):
        self.entries, self.lookups = entries, lookups
        super().__init__(
            {
                "lookup": Out(LookupSignature()).array(lookups),
                "fill": In(1),
                "fill_entry": In(TlbEntry),
                **invalidation_members(),
            }
        )

    def elaborate(self, platform):
        """Build the entries, the comparators, the victim choice and the invalidation."""
        m = Module()
        entries = [Signal(TlbEntry, name=f"entry{i}") for i in range(self.entries)]

        for port in self.lookup:
            vpn = port.va[PAGE_SHIFT:INPUT_ADDR_WIDTH]
            in_range = port.va[INPUT_ADDR_WIDTH:] == 0
            hits = []
            for entry in entries:
                low = low_mask(entry.size, len(vpn))
                hits.append(
                    entry.valid
                    & in_range
                    & (entry.asid == port.asid)
                    & ((entry.vpn & ~low) == (vpn & ~low))
                )
            m.d.comb += port.hit.eq(Cat(hits).any())
            for hit, entry in reversed(list(zip(hits, entries, strict=True))):
                with m.If(hit):
                    m.d.comb += port.entry.eq(entry)
            low = low_mask(port.entry.size, len(port.entry.ppn))
            ppn = (port.entry.ppn & ~low) | (vpn & low)
            m.d.comb += port.pa.eq(Cat(port.va[:PAGE_SHIFT], ppn))

        # Victim: the first invalid entry, else round robin.
        rr = Signal(range(self.entries))
        victim = Signal(range(self.entries))
        full = Cat(e.valid for e in entries).all()
        m.d.comb += victim.eq(rr)
        for i, entry in reversed(list(enumerate(entries))):
            with m.If(~entry.valid):
                m.d.comb += victim.eq(i)
        with m.If(self.fill):
            for i, entry in enumerate(entries):
                with m.If(victim == i):
                    m.d.sync += entry.eq(self.fill_entry)
            with m.If(full):
                m.d.sync += rr.eq(Mux(rr == self.entries - 1, 0, rr + 1))

        # Invalidation: an entry covers page numbers lo..hi; the range first..last.
        first = self.inv_first
        last = Signal(VPN_WIDTH + 2)  # first + pages - 1 may run past the space: must not wrap
        m.d.comb += last.eq(first + self.inv_pages - 1)
        for entry in entries:
            low = low_mask(entry.size, len(entry.vpn))
            lo = entry.vpn & ~low
            hi = entry.vpn | low
            mine = entry.asid == self.inv_asid
            overlaps = (self.inv_pages != 0) & (lo <= last) & (first <= hi)
            with m.If(self.everything | (self.by_asid & mine) | (self.by_range & mine & overlaps)):
                m.d.sync += entry.valid.eq(0)
        return m
