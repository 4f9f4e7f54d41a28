"""What the MMU's parts share: access and fault kinds, the translation port, the TLB entry.

A requester (the DMA engine's reader or writer) asks for one translation at a time on a
:class:`TranslateSignature` port: it raises ``valid`` with ``va``, ``asid`` and ``access`` and
holds them until ``done``, which is high for one cycle, combinationally in the request's first
cycle on a TLB hit, later after a table walk. In the ``done`` cycle ``fault`` tells whether the
access is refused; if not, ``pa`` is the physical address of ``va``.
"""

from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from .config import MEM_ADDR_WIDTH
from .layouts import Access
from .pte import INPUT_ADDR_WIDTH, OUTPUT_ADDR_WIDTH, PAGE_SHIFT

__all__ = [
    "ASID_WIDTH",
    "PPN_WIDTH",
    "VA_WIDTH",
    "VPN_WIDTH",
    "PageSize",
    "TlbEntry",
    "TranslateSignature",
    "invalidation_members",
]

#: Width of a virtual address as requesters present it (the ``mem`` port's width). Addresses at
#: or above ``2 ** INPUT_ADDR_WIDTH`` fault at level 0.
VA_WIDTH = MEM_ADDR_WIDTH
#: Width of an address-space number: up to 16 address spaces.
ASID_WIDTH = 4
#: Widths of a virtual page number (input bits 38:12) and a physical one (output bits 39:12).
VPN_WIDTH = INPUT_ADDR_WIDTH - PAGE_SHIFT
PPN_WIDTH = OUTPUT_ADDR_WIDTH - PAGE_SHIFT


class PageSize(enum.Enum, shape=2):
    """The size a TLB entry maps: a level-3 page, a level-2 block or a level-1 block."""

    PAGE_4K = 0
    BLOCK_2M = 1
    BLOCK_1G = 2


class TlbEntry(data.Struct):
    """One TLB entry: an address space's virtual page (or block) and where it maps.

    ``vpn`` and ``ppn`` are address bits from 12 up; for blocks, their bits below the block size
    are ignored.
    """

    valid: 1
    asid: ASID_WIDTH
    size: PageSize
    vpn: VPN_WIDTH
    ppn: PPN_WIDTH
    read_only: 1
    execute_never: 1


class TranslateSignature(wiring.Signature):
    """A translation port, from the requester's side (see the module's description)."""

    def __init__(self):
        super().__init__(
            {
                "valid": Out(1),
                "va": Out(VA_WIDTH),
                "asid": Out(ASID_WIDTH),
                "access": Out(Access),
                "done": In(1),
                "fault": In(1),
                "pa": In(MEM_ADDR_WIDTH),
            }
        )


def invalidation_members():
    """The ports of a TLB invalidation command, as the MMU takes them and passes them to the TLB.

    ``everything``, ``by_asid`` and ``by_range`` are the commands (one-cycle pulses);
    ``inv_asid``, ``inv_first`` (a page number) and ``inv_pages`` their operands.
    """
    return {
        "everything": In(1),
        "by_asid": In(1),
        "by_range": In(1),
        "inv_asid": In(ASID_WIDTH),
        "inv_first": In(VPN_WIDTH),
        "inv_pages": In(VPN_WIDTH + 1),
    }
