"""The page-table format: AArch64 stage-1 LPAE descriptors, 4 KiB granule, 39-bit input addresses.

Shared by the MMU's page-table walker and the driver's page-table writer. Input addresses are 39
bits, translated by three levels (1, 2, 3) of 512-entry tables; output addresses are 40 bits.

====== ================ ==================================================================
level  input bits       a valid descriptor is
====== ================ ==================================================================
1      38:30 (1 GiB)    a table (``table=1``) or a 1 GiB block (``table=0``)
2      29:21 (2 MiB)    a table or a 2 MiB block
3      20:12 (4 KiB)    a page (``table=1``); ``table=0`` is reserved and invalid
====== ================ ==================================================================

The hardware honours ``valid``, ``table``, ``address``, ``af`` (access flag), ``ap_ro`` (AP[2],
read-only) and ``xn`` (execute-never). It ignores the memory attributes and shareability
(``attr_index``, ``ns``, ``sh``, ``ng``, ``contiguous``, ``pxn``, ``ap_user``), the software bits
and the table attributes; bits of ``address`` above the 40-bit output address must be zero.
"""

from amaranth.lib import data

from .config import MEM_ADDR_WIDTH

__all__ = [
    "ENTRIES_PER_TABLE",
    "GRANULE",
    "INDEX_BITS",
    "INPUT_ADDR_WIDTH",
    "LEVELS",
    "OUTPUT_ADDR_WIDTH",
    "PAGE_SHIFT",
    "Descriptor",
    "block_size",
    "level_index",
    "level_shift",
]

#: Bytes of a page, and of a table.
GRANULE = 4096
PAGE_SHIFT = 12
ENTRIES_PER_TABLE = 512
#: Input-address bits that index one table.
INDEX_BITS = 9
#: Virtual (input) and physical (output) address widths.
INPUT_ADDR_WIDTH = 39
OUTPUT_ADDR_WIDTH = MEM_ADDR_WIDTH
#: Translation levels, first to last.
LEVELS = (1, 2, 3)


class Descriptor(data.Struct):
    """One 64-bit translation-table descriptor (little-endian in memory).

    Attributes
    ----------
    valid : 1 bit
    table : 1 bit
        Levels 1-2: 1 for a table, 0 for a block. Level 3: must be 1 (a page).
    attr_index, ns, ap_user, sh, ng : ignored by the hardware
    ap_ro : 1 bit
        AP[2]: writes fault with a permission fault.
    af : 1 bit
        Access flag: an access through a descriptor with ``af=0`` faults.
    address : 36 bits
        Bits 47:12 of the next table, the block or the page (blocks: the low bits are zero).
    contiguous, pxn : ignored by the hardware
    xn : 1 bit
        Execute-never.
    """

    valid: 1
    table: 1
    attr_index: 3
    ns: 1
    ap_user: 1
    ap_ro: 1
    sh: 2
    af: 1
    ng: 1
    address: 36
    _reserved0: 4
    contiguous: 1
    pxn: 1
    xn: 1
    software: 4
    table_attrs: 5


def level_shift(level):
    """The lowest input-address bit that indexes the table of ``level`` (30, 21, 12)."""
    return PAGE_SHIFT + INDEX_BITS * (3 - level)


def block_size(level):
    """Bytes one descriptor of ``level`` maps: 1 GiB, 2 MiB or 4 KiB."""
    return GRANULE << (9 * (3 - level))


def level_index(iova, level):
    """Index of ``iova``'s descriptor in its table of ``level``."""
    return (iova // block_size(level)) % ENTRIES_PER_TABLE
