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
from .pte import INPUT_ADDR_WIDTH, OUTPUT_ADDR_WIDTH, PAGE_SHIFT

__all__ = [
    "ASID_WIDTH",
    "PPN_WIDTH",
    "VA_WIDTH",
    "VPN_WIDTH",
    "Access",
    "FaultKind",
    "PageSize",
    "TlbEntry",
    "TranslateSignature",
]

#: Width of a virtual address as requesters present it (the ``mem`` port's width). Addresses at
#: or above ``2 ** INPUT_ADDR_WIDTH`` fault at level 0.
VA_WIDTH = MEM_ADDR_WIDTH
#: Width of an address-space number: up to 16 address spaces.
ASID_WIDTH = 4
#: Widths of a virtual page number (input bits 38:12) and a physical one (output bits 39:12).
VPN_WIDTH = INPUT_ADDR_WIDTH - PAGE_SHIFT
PPN_WIDTH = OUTPUT_ADDR_WIDTH - PAGE_SHIFT


class Access(enum.Enum, shape=2):
    """What an access does, as fault records report it."""

    READ = 0
    WRITE = 1
    #: A read of a command stream: refused by execute-never descriptors.
    FETCH = 2


class FaultKind(enum.Enum, shape=3):
    """Why a translation faulted (the ``kind`` of an address space's ``fault_status``)."""

    NONE = 0
    #: An invalid descriptor, a reserved one (``table=0`` at level 3), or an input address
    #: beyond 39 bits (level 0).
    TRANSLATION = 1
    #: A block or page descriptor with the access flag clear.
    ACCESS_FLAG = 2
    #: A write through a read-only descriptor, or a fetch through an execute-never one.
    PERMISSION = 3
    #: A descriptor read answered SLVERR or DECERR.
    BUS_ERROR = 4
    #: A descriptor whose output address has bits above bit 39.
    ADDRESS_SIZE = 5
    #: The address space is not enabled (level 0).
    DISABLED = 6


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
